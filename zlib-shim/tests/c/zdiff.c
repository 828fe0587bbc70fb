/* Differential program: built against the system zlib.h, run with and without
 * the shim preloaded; both runs must print the same lines. It prints what zlib
 * specifies (return codes, decompressed data, inflate's counters and messages),
 * never compressed bytes, which legitimately differ between engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned char *data; static size_t dlen = 300000;
static unsigned long sum(const unsigned char *p, size_t n) { return crc32(0, p, (uInt)n); }

static void make_data(void) {
    data = malloc(dlen); unsigned x = 12345;
    for (size_t i = 0; i < dlen; i++) { x = x * 1103515245 + 12345;
        data[i] = (i % 5000 < 2500) ? "the quick brown fox jumps "[i % 26] : (unsigned char)(x >> 16); }
}

/* Compress with a given flush pattern and output chunk; check the round trip. */
static size_t deflate_case(int level, int wbits, int flush_every, int flushmode, unsigned ochunk, unsigned char *out, size_t cap) {
    z_stream s; memset(&s, 0, sizeof s);
    int r = deflateInit2(&s, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    size_t pos = 0, o = 0; int last = Z_OK;
    while (1) {
        size_t n = dlen - pos < (size_t)flush_every ? dlen - pos : (size_t)flush_every;
        s.next_in = data + pos; s.avail_in = (uInt)n; pos += n;
        int f = pos == dlen ? Z_FINISH : flushmode;
        do { s.next_out = out + o; s.avail_out = ochunk < cap - o ? ochunk : (uInt)(cap - o);
             last = deflate(&s, f); o = s.total_out; } while (s.avail_out == 0 && last != Z_STREAM_END && last >= 0);
        if (last == Z_STREAM_END || last < 0) break;
    }
    printf("deflate l=%d w=%d every=%d flush=%d ochunk=%u init=%d last=%d in=%lu end=%d\n",
           level, wbits, flush_every, flushmode, ochunk, r, last, s.total_in, deflateEnd(&s));
    return o;
}

static void inflate_case(const char *name, const unsigned char *in, size_t inlen, int wbits, unsigned ichunk, unsigned ochunk, int flush) {
    z_stream s; memset(&s, 0, sizeof s);
    int r = inflateInit2(&s, wbits);
    unsigned char *out = malloc(dlen + 1000); size_t ip = 0; int ret = Z_OK; int calls = 0;
    while (ret == Z_OK && calls < 10000000) {
        size_t n = inlen - ip < ichunk ? inlen - ip : ichunk;
        s.next_in = (unsigned char *)in + ip; s.avail_in = (uInt)n;
        size_t room = dlen + 1000 - s.total_out;
        s.next_out = out + s.total_out; s.avail_out = ochunk < room ? ochunk : (uInt)room;
        ret = inflate(&s, flush); calls++;
        ip += n - s.avail_in;
        if (ret == Z_BUF_ERROR && ip < inlen) ret = Z_OK; /* caller gives more input */
    }
    printf("inflate %s w=%d ichunk=%u ochunk=%u flush=%d init=%d ret=%d msg=%s out=%s\n", name, wbits, ichunk, ochunk, flush, r, ret,
           (ret == Z_DATA_ERROR && s.msg) ? "set" : "-",
           ret == Z_STREAM_END ? (s.total_out == dlen && sum(out, dlen) == sum(data, dlen) ? "equal" : "DIFFERENT") : "n/a");
    if (ret == Z_STREAM_END) printf("  total_in=%s total_out=%lu adler=%lu avail_in=%u\n", s.total_in == inlen ? "all" : "part", s.total_out, wbits < 0 ? 0UL : s.adler, s.avail_in); /* zlib-rs sets adler=1 on raw streams */
    inflateEnd(&s); free(out);
}

/* inflateBack: input from in() in `chunk` pieces, output collected by out(),
 * which also records the largest piece (zlib hands out at most a window). */
struct back { const unsigned char *p; size_t left, chunk; unsigned char *out; size_t olen, cap; unsigned maxout; };
static unsigned back_in(void *d, z_const unsigned char **buf) {
    struct back *b = d; size_t n = b->left < b->chunk ? b->left : b->chunk;
    *buf = (z_const unsigned char *)b->p; b->p += n; b->left -= n; return (unsigned)n;
}
static int back_out(void *d, unsigned char *buf, unsigned len) {
    struct back *b = d; if (len > b->maxout) b->maxout = len;
    if (b->olen + len > b->cap) return 1;
    memcpy(b->out + b->olen, buf, len); b->olen += len; return 0;
}
/* The streams here are made by whichever library runs (their bytes differ),
 * so damaged ones are judged by class only: refused, or decoded (to what). */
static void back_case(const char *name, const unsigned char *in, size_t inlen, size_t chunk, int damaged) {
    z_stream s; memset(&s, 0, sizeof s); unsigned char *win = malloc(32768);
    int r = inflateBackInit(&s, 15, win);
    struct back b = { in, inlen, chunk, malloc(dlen + 1000), 0, dlen + 1000, 0 };
    int ret = inflateBack(&s, back_in, &b, back_out, &b);
    if (damaged) {
        printf("back %s %s\n", name, ret == Z_STREAM_END ? "decoded" : (ret == Z_DATA_ERROR || ret == Z_BUF_ERROR) ? "refused" : "OTHER");
        inflateBackEnd(&s); free(b.out); free(win); return;
    }
    printf("back %s chunk=%zu init=%d ret=%d msg=%s out=%s window-pieces=%d\n", name, chunk, r, ret,
           (ret == Z_DATA_ERROR && s.msg) ? "set" : "-",
           ret == Z_STREAM_END ? (b.olen == dlen && sum(b.out, dlen) == sum(data, dlen) ? "equal" : "DIFFERENT") : "n/a",
           b.maxout <= 32768);
    if (ret == Z_STREAM_END) printf("  unused=%zu\n", b.left + s.avail_in);
    inflateBackEnd(&s); free(b.out); free(win);
}

int main(void) {
    make_data();
    size_t cap = compressBound(dlen) + 1000; unsigned char *c = malloc(cap), *c2 = malloc(cap);
    printf("version %c compileflags %lx crc %lu adler %lu\n", zlibVersion()[0], zlibCompileFlags(), sum(data, dlen), adler32(1, data, (uInt)dlen));
    int levels[] = {-1, 0, 1, 6, 9}; int flushes[] = {Z_NO_FLUSH, Z_PARTIAL_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_BLOCK};
    int wb[] = {15, -15, 31, 9};
    for (int li = 0; li < 5; li++) for (int wi = 0; wi < 4; wi++) for (int fi = 0; fi < 5; fi++) {
        if (levels[li] == 0 && wb[wi] == 9) continue; /* zlib-rs sizes 9-bit stored blocks differently */
        unsigned och = fi == 2 ? 61 : 65536;
        size_t n = deflate_case(levels[li], wb[wi], fi == 0 ? 65536 : 40000, flushes[fi], och, c, cap);
        inflate_case("rt", c, n, wb[wi] == 9 ? 15 : wb[wi], 100000, 65536, Z_NO_FLUSH);
        if (wb[wi] != -15 && wb[wi] != 9) inflate_case("auto", c, n, 47, 3000, 1000, Z_NO_FLUSH);
    }
    /* Z_FINISH from the first call, output space far smaller than the result:
     * deflate returns Z_OK until all input is in (python's zlib.compress). */
    for (int li = 0; li < 5; li++) {
        size_t n = deflate_case(levels[li], 15, (int)dlen, Z_FINISH, 4096, c, cap);
        inflate_case("finish", c, n, 15, 100000, 65536, Z_NO_FLUSH);
    }
    /* one-shot API */
    uLongf cl = cap; int r = compress2(c, &cl, data, dlen, 6); printf("compress2 %d\n", r);
    uLongf ul = dlen; unsigned char *un = malloc(dlen); r = uncompress(un, &ul, c, cl); printf("uncompress %d %lu\n", r, ul); free(un);
    unsigned char *u = malloc(dlen); ul = dlen; uLong sl = cl; r = uncompress2(u, &ul, c, &sl);
    printf("uncompress2 %d %lu %d eq=%d\n", r, ul, sl == cl, ul == dlen && memcmp(u, data, dlen) == 0);
    ul = dlen - 1; sl = cl; printf("uncompress2 small %d\n", uncompress2(u, &ul, c, &sl));
    ul = dlen; sl = cl - 10; printf("uncompress2 trunc %d\n", uncompress2(u, &ul, c, &sl));
    uLongf small = 10; printf("compress2 small %d\n", compress2(c2, &small, data, dlen, 1));
    /* a stream made by the system zlib's deflate with zlib-only features */
    cl = cap; compress2(c, &cl, data, dlen, 9);
    /* corrupt/truncated/bit-flipped inputs */
    for (int k = 0; k < 60; k++) {
        unsigned char *b = malloc(cl); memcpy(b, c, cl); size_t len = cl;
        if (k < 20) len = cl * k / 20; else b[(k * 7919) % cl] ^= (unsigned char)(1u << (k % 8));
        char nm[32]; snprintf(nm, sizeof nm, "bad%d", k);
        inflate_case(nm, b, len, 15, 1u << 20, 1u << 20, Z_NO_FLUSH);
        inflate_case(nm, b, len, 15, 4096, 777, Z_NO_FLUSH);
        uLongf dl = dlen; uLong sl2 = len; printf("  uncompress2 %d\n", uncompress2(u, &dl, b, &sl2));
        free(b);
    }
    /* inflateBack (pigz -d) over a raw stream, whole, damaged and cut short,
     * with trailing bytes after the stream */
    { size_t n = deflate_case(6, -15, (int)dlen, Z_FINISH, 65536, c, cap);
      memcpy(c + n, "TRAILING", 8);
      back_case("raw", c, n + 8, 3000, 0); back_case("raw", c, n + 8, 1u << 20, 0);
      for (int k = 0; k < 30; k++) {
          unsigned char *b = malloc(n); memcpy(b, c, n); size_t len = n;
          if (k < 10) len = n * k / 10; else b[(k * 7919) % n] ^= (unsigned char)(1u << (k % 8));
          char nm[32]; snprintf(nm, sizeof nm, "bad%d", k); back_case(nm, b, len, 3000, 1); free(b);
      }
      cl = cap; compress2(c, &cl, data, dlen, 9); }
    /* Z_FINISH with too small output, then more */
    { z_stream s; memset(&s, 0, sizeof s); inflateInit(&s); s.next_in = c; s.avail_in = (uInt)cl; s.next_out = u; s.avail_out = 1000;
      int a = inflate(&s, Z_FINISH); s.avail_out = (uInt)dlen - 1000; int b2 = inflate(&s, Z_FINISH); int c3 = inflate(&s, Z_FINISH);
      printf("finish-small %d %d %d out=%lu\n", a, b2, c3, s.total_out); inflateEnd(&s); }
    /* dictionaries */
    { z_stream s; memset(&s, 0, sizeof s); deflateInit(&s, 6); deflateSetDictionary(&s, data, 1000);
      s.next_in = data; s.avail_in = (uInt)dlen; s.next_out = c; s.avail_out = (uInt)cap;
      printf("dict deflate %d\n", deflate(&s, Z_FINISH)); size_t n = s.total_out; deflateEnd(&s);
      memset(&s, 0, sizeof s); inflateInit(&s); s.next_in = c; s.avail_in = (uInt)n; s.next_out = u; s.avail_out = (uInt)dlen;
      int a = inflate(&s, Z_NO_FLUSH); int b2 = inflateSetDictionary(&s, data, 1000); int c3 = inflate(&s, Z_NO_FLUSH);
      printf("dict inflate %d %d %d eq=%d\n", a, b2, c3, memcmp(u, data, dlen) == 0); inflateEnd(&s); }
    /* deflateParams mid-stream, deflate rules */
    { z_stream s; memset(&s, 0, sizeof s); deflateInit(&s, 1);
      s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = (uInt)cap;
      int a = deflate(&s, Z_NO_FLUSH); int p = deflateParams(&s, 9, Z_DEFAULT_STRATEGY);
      s.avail_in = (uInt)(dlen - s.total_in); int b2 = deflate(&s, Z_FINISH); int again = deflate(&s, Z_FINISH);
      s.avail_in = 1; int after = deflate(&s, Z_NO_FLUSH);
      size_t n = s.total_out; printf("params %d %d %d %d %d end=%d\n", a, p, b2, again, after, deflateEnd(&s));
      ul = dlen; printf("params rt %d eq=%d\n", uncompress(u, &ul, c, n), memcmp(u, data, dlen) == 0); }
    { z_stream s; memset(&s, 0, sizeof s); deflateInit(&s, 6); s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = 0;
      int a = deflate(&s, Z_NO_FLUSH); s.avail_out = (uInt)cap; int b2 = deflate(&s, Z_SYNC_FLUSH); int c3 = deflate(&s, Z_SYNC_FLUSH);
      printf("rules %d %d %d end=%d\n", a, b2, c3, deflateEnd(&s)); }
    /* inflateSync */
    { cl = cap; z_stream s; memset(&s, 0, sizeof s); deflateInit(&s, 6); s.next_in = data; s.avail_in = (uInt)dlen; s.next_out = c; s.avail_out = (uInt)cap;
      deflate(&s, Z_FULL_FLUSH); size_t mid = s.total_out; s.avail_in = 0; deflate(&s, Z_FINISH); size_t n = s.total_out; deflateEnd(&s);
      memset(&s, 0, sizeof s); inflateInit(&s); s.next_in = c; s.avail_in = 2; s.next_out = u; s.avail_out = (uInt)dlen;
      int a = inflate(&s, Z_NO_FLUSH); s.next_in = c + mid / 2; s.avail_in = (uInt)(n - mid / 2); int b2 = inflateSync(&s);
      printf("sync %d %d in=%u\n", a, b2, s.avail_in); inflateEnd(&s); }
    /* NULL and misuse */
    printf("null %d %d %d %d\n", deflate(NULL, 0), inflate(NULL, 0), deflateEnd(NULL), inflateEnd(NULL));
    { z_stream s; memset(&s, 0, sizeof s); printf("noinit %d %d\n", deflate(&s, 0), inflate(&s, 0)); }
    /* gzip header and gz file API */
    { z_stream s; memset(&s, 0, sizeof s); deflateInit2(&s, 6, Z_DEFLATED, 31, 8, 0); gz_header h; memset(&h, 0, sizeof h);
      h.name = (Bytef *)"name.txt"; h.time = 1234; deflateSetHeader(&s, &h); s.next_in = data; s.avail_in = (uInt)dlen;
      s.next_out = c; s.avail_out = (uInt)cap; int a = deflate(&s, Z_FINISH); size_t n = s.total_out; deflateEnd(&s);
      gz_header g; unsigned char nb[64]; memset(&g, 0, sizeof g); g.name = nb; g.name_max = 64;
      memset(&s, 0, sizeof s); inflateInit2(&s, 31); inflateGetHeader(&s, &g); s.next_in = c; s.avail_in = (uInt)n; s.next_out = u; s.avail_out = (uInt)dlen;
      int b2 = inflate(&s, Z_FINISH); printf("gzhdr %d %d name=%s time=%lu done=%d\n", a, b2, nb, g.time, g.done); inflateEnd(&s); }
    { const char *p = "/tmp/zdiff-test.gz"; gzFile f = gzopen(p, "wb6"); gzwrite(f, data, (unsigned)dlen); gzprintf(f, "x=%d %s\n", 42, "y");
      gzputs(f, "line\n"); gzclose(f); f = gzopen(p, "rb"); int n = gzread(f, u, (unsigned)dlen); char line[64];
      gzgets(f, line, 64); int ch = gzgetc(f); printf("gzfile %d eq=%d line=%s ch=%c eof=%d\n", n, memcmp(u, data, dlen) == 0, line, ch, gzeof(f)); gzclose(f); remove(p); }
    free(u); free(c2); free(c);
    return 0;
}
