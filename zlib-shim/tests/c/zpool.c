/* Differential: memory through the caller's zalloc stays within zlib's own
 * footprint for the windowBits and memLevel asked for. Each stream gets a
 * pool sized as nginx's gzip filter sizes it from zlib's formula (8 KiB for
 * the state, 4 << windowBits for window and prev, 512 << memLevel for head
 * and the pending buffer); zalloc refuses whatever would not fit, as a pool
 * would. Streams are fed as nginx feeds them (32 KiB in, 4 KiB out per
 * call, then Z_FINISH), copied with deflateCopy midway, and must decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct pool { size_t left, used, refused; };

static voidpf pool_alloc(voidpf opaque, uInt items, uInt size) {
    struct pool *p = opaque;
    size_t n = (size_t)items * size;
    if (n > p->left) { p->refused++; return Z_NULL; }
    p->left -= n; p->used += n;
    return calloc(1, n);
}

static void pool_free(voidpf opaque, voidpf addr) { (void)opaque; free(addr); }

static size_t budget(int wbits, int memlevel) {
    int w = wbits < 0 ? -wbits : wbits > 15 ? wbits - 16 : wbits;
    if (w == 8) w = 9; /* zlib runs a raw 8 as 9 */
    return 8192 + ((size_t)1 << (w + 2)) + ((size_t)1 << (memlevel + 9));
}

static unsigned char *data; static size_t dlen = 256 << 10;

static void make_data(void) {
    data = malloc(dlen); unsigned x = 4242;
    const char *words[] = {"gzip ", "filter ", "pool ", "nginx ", "window ", "hash ", "zlib ", "memory "};
    for (size_t i = 0; i < dlen;) { x = x * 1103515245 + 12345;
        const char *w = words[(x >> 16) & 7]; size_t k = strlen(w);
        for (size_t j = 0; j < k && i < dlen; j++) data[i++] = (x >> 24) < 8 ? (unsigned char)(x >> 8) : w[j]; }
}

static int decodes(const unsigned char *c, size_t n, int wbits) {
    z_stream s; memset(&s, 0, sizeof s);
    if (inflateInit2(&s, wbits < 0 ? -15 : wbits > 15 ? 31 : 15) != Z_OK) return 0;
    unsigned char *u = malloc(dlen + 1); s.next_in = (unsigned char *)c; s.avail_in = (uInt)n;
    s.next_out = u; s.avail_out = (uInt)dlen + 1; int r = inflate(&s, Z_FINISH);
    int ok = r == Z_STREAM_END && s.total_out == dlen && memcmp(u, data, dlen) == 0;
    inflateEnd(&s); free(u); return ok;
}

/* Feeds data[from..] in 32 KiB pieces with 4 KiB of output room each call. */
static int feed(z_stream *s, unsigned char *c, size_t cap, size_t from, size_t to, int last) {
    int r = Z_OK;
    for (size_t at = from; at < to || (last && r != Z_STREAM_END);) {
        size_t n = to - at < 32768 ? to - at : 32768;
        s->next_in = data + at; s->avail_in = (uInt)n;
        int flush = last && at + n == to ? Z_FINISH : Z_NO_FLUSH;
        do {
            size_t room = cap - s->total_out < 4096 ? cap - s->total_out : 4096;
            s->next_out = c + s->total_out; s->avail_out = (uInt)room;
            r = deflate(s, flush);
            if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) return r;
        } while (s->avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
        at += n - s->avail_in;
        if (flush == Z_FINISH) break;
    }
    return r;
}

int main(void) {
    make_data();
    size_t cap = compressBound(dlen) + 4096;
    unsigned char *c = malloc(cap), *c2 = malloc(cap);
    int wbs[] = {9, 12, 15, -15, 31, -9}, mls[] = {1, 4, 8, 9}, lvs[] = {1, 6, 9};
    for (int wi = 0; wi < 6; wi++) for (int mi = 0; mi < 4; mi++) for (int li = 0; li < 3; li++) {
        int wb = wbs[wi], ml = mls[mi], lv = lvs[li];
        struct pool p = {budget(wb, ml), 0, 0}, q = {budget(wb, ml), 0, 0};
        z_stream s, t; memset(&s, 0, sizeof s); memset(&t, 0, sizeof t);
        s.zalloc = pool_alloc; s.zfree = pool_free; s.opaque = &p;
        int i = deflateInit2(&s, lv, Z_DEFLATED, wb, ml, Z_DEFAULT_STRATEGY);
        if (i != Z_OK) {
            printf("w=%d m=%d l=%d init=%d refused=%d\n", wb, ml, lv, i, p.refused > 0);
            continue;
        }
        int a = feed(&s, c, cap, 0, dlen / 2, 0);
        /* The copy draws on a pool of its own, sized the same way. */
        s.opaque = &q;
        int cp = deflateCopy(&t, &s);
        s.opaque = &p;
        if (cp == Z_OK) memcpy(c2, c, s.total_out);
        int f1 = feed(&s, c, cap, dlen / 2, dlen, 1);
        int f2 = cp == Z_OK ? feed(&t, c2, cap, dlen / 2, dlen, 1) : -99;
        int ok1 = decodes(c, s.total_out, wb), ok2 = cp == Z_OK ? decodes(c2, t.total_out, wb) : -1;
        int e1 = deflateEnd(&s), e2 = cp == Z_OK ? deflateEnd(&t) : -99;
        printf("w=%d m=%d l=%d init=%d feed=%d copy=%d finish=%d,%d decodes=%d,%d end=%d,%d refused=%d\n",
               wb, ml, lv, i, a, cp, f1, f2, ok1, ok2, e1, e2, p.refused + q.refused > 0);
    }
    free(c); free(c2); free(data);
    return 0;
}
