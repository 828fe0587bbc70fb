/* Differential test of inflate fed the way Pillow's PNG decoder (ZipDecode.c)
 * and many other programs feed it: input in pieces, a small output buffer
 * (one row), and the loop runs only while avail_in > 0. When avail_in reaches
 * 0 the program fetches the next piece, and after the last piece it stops. So
 * an inflate that consumes all its input while still holding decoded output
 * loses that output. zlib never does: it writes straight into next_out and
 * stops reading input when avail_out is full; what it keeps back at most is
 * a symbol it decoded but could not write (a literal or a match, <= 258
 * bytes).
 *
 * At every return the caller's view is checked against what zlib defines,
 * using the system zlib loaded in a namespace of its own (dlmopen), so that
 * the reference is the same with or without the drop-in preloaded:
 *   - the return code is Z_OK or Z_STREAM_END (the stream is valid);
 *   - Z_OK with room left in both buffers never happens;
 *   - with avail_in == 0 short of the end, the output handed out is at most
 *     258 bytes behind what zlib decodes from the input consumed so far;
 *   - total_in/total_out are the bytes next_in/next_out moved;
 *   - adler is the checksum of the output handed out (zlib, gzip framing),
 *     on a line of its own: zlib-rs (the drop-in's software path) still
 *     reports it one call late, and gzip's only at the end.
 * One line per case with the figures and the violation counts; the run with
 * the drop-in must print the same lines as the run with system zlib. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DLEN (1 << 20)
#define TRAILER "TRAILER"

static unsigned char *data;

/* The system zlib, apart from any preloaded one. */
static struct {
    int (*inflateInit2_)(z_streamp, int, const char *, int);
    int (*inflate)(z_streamp, int);
    int (*inflateEnd)(z_streamp);
    int (*deflateInit2_)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*deflateEnd)(z_streamp);
    uLong (*adler32)(uLong, const Bytef *, uInt);
    uLong (*crc32)(uLong, const Bytef *, uInt);
} ref;

static void load_ref(void) {
    void *h = dlmopen(LM_ID_NEWLM, "libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlmopen: %s\n", dlerror()); exit(2); }
#define SYM(n) *(void **)&ref.n = dlsym(h, #n); if (!ref.n) { fprintf(stderr, "no %s\n", #n); exit(2); }
    SYM(inflateInit2_) SYM(inflate) SYM(inflateEnd) SYM(deflateInit2_) SYM(deflate) SYM(deflateEnd)
    SYM(adler32) SYM(crc32)
}

static void make_data(void) {
    data = malloc(DLEN); unsigned x = 2026;
    for (size_t i = 0; i < DLEN; i++) {
        x = x * 1103515245 + 12345;
        /* text, then noise (stored blocks at level 1), then long runs (matches of 258) */
        size_t k = i % 90000;
        data[i] = k < 50000 ? "pack my box with five dozen liquor jugs. "[(i / 3 + i) % 41]
                : k < 70000 ? (unsigned char)(x >> 16) : (unsigned char)('a' + (i / 4000) % 26);
    }
}

/* A stream of the first `len` bytes of data, by the reference zlib, with
 * TRAILER after it (bytes a correct inflate leaves unconsumed). */
static size_t make(unsigned char *c, size_t cap, size_t len, int wbits, int level) {
    z_stream s; memset(&s, 0, sizeof s);
    ref.deflateInit2_(&s, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof s);
    s.next_in = data; s.avail_in = (uInt)len; s.next_out = c; s.avail_out = (uInt)cap;
    if (ref.deflate(&s, Z_FINISH) != Z_STREAM_END) { fprintf(stderr, "deflate\n"); exit(2); }
    size_t n = s.total_out; ref.deflateEnd(&s);
    memcpy(c + n, TRAILER, strlen(TRAILER));
    return n;
}

/* at[t]: the output zlib decodes from the stream's first t bytes, given
 * room for all of it (fed one byte at a time). */
static size_t *decodable(const unsigned char *c, size_t n, int wbits, size_t len) {
    size_t *at = malloc((n + 1) * sizeof *at);
    unsigned char *u = malloc(len + 1);
    z_stream s; memset(&s, 0, sizeof s);
    ref.inflateInit2_(&s, wbits, ZLIB_VERSION, (int)sizeof s);
    s.next_out = u; s.avail_out = (uInt)len + 1;
    at[0] = 0;
    for (size_t t = 1; t <= n; t++) {
        s.next_in = (unsigned char *)c + t - 1; s.avail_in = 1;
        int r = ref.inflate(&s, Z_NO_FLUSH);
        if ((r != Z_OK && r != Z_STREAM_END) || s.avail_in) { fprintf(stderr, "reference inflate %d\n", r); exit(2); }
        at[t] = s.total_out;
    }
    ref.inflateEnd(&s); free(u);
    return at;
}

struct checks { long bad_ret, early, held, totals, adler; size_t worst_held; };

static void run(const char *name, const unsigned char *c, size_t n, size_t len, int wbits, int framing,
                size_t piece, unsigned ochunk, const size_t *at, size_t label) {
    z_stream s; memset(&s, 0, sizeof s);
    inflateInit2(&s, wbits);
    unsigned char *u = malloc(len + ochunk), *row = malloc(ochunk);
    size_t in = 0, out = 0, total = n + strlen(TRAILER), left = 0;
    uLong check = framing == 1 ? ref.adler32(0, NULL, 0) : ref.crc32(0, NULL, 0);
    struct checks k = {0};
    int r = Z_OK, end = 0;
    for (size_t p = 0; p < total && !end; p += piece) {
        size_t m = total - p < piece ? total - p : piece;
        s.next_in = (unsigned char *)c + p; s.avail_in = (uInt)m;
        while (s.avail_in > 0) {   /* Pillow's loop */
            const unsigned char *ni = s.next_in; uInt ai = s.avail_in;
            s.next_out = row; s.avail_out = ochunk;
            r = inflate(&s, Z_NO_FLUSH);
            size_t got = ochunk - s.avail_out, took = ai - s.avail_in;
            if (s.next_in != ni + took || s.next_out != row + got) k.totals++;
            if (out + got <= len) memcpy(u + out, row, got);
            out += got; in += took;
            if (s.total_in != in || s.total_out != out) k.totals++;
            if (framing && out > 0) {
                check = framing == 1 ? ref.adler32(check, row, (uInt)got) : ref.crc32(check, row, (uInt)got);
                if (s.adler != check) k.adler++;
            }
            if (r != Z_OK && r != Z_STREAM_END) { k.bad_ret++; end = 1; break; }
            if (r == Z_STREAM_END) { end = 1; left = s.avail_in; break; }
            if (s.avail_in > 0 && s.avail_out > 0) k.early++;
            if (s.avail_in == 0 && in <= n && at[in] > out + 258) {
                k.held++;
                if (at[in] - out > k.worst_held) k.worst_held = at[in] - out;
            }
        }
    }
    printf("%s piece=%zu ochunk=%u ret=%d out=%zu/%zu in=%zu/%zu unused=%zu same=%d"
           " bad_ret=%ld early=%ld held=%ld worst_held=%zu totals=%ld\n  adler%s mismatches=%ld\n",
           name, label, ochunk, r, out, len, in, n, left,
           out == len && memcmp(u, data, len) == 0, k.bad_ret, k.early, k.held, k.worst_held,
           k.totals,
           /* a first call with one byte cannot tell the header: zlib-rs's */
           piece == 1 ? "-software" : "", k.adler);
    inflateEnd(&s); free(u); free(row);
}

int main(void) {
    load_ref(); make_data();
    static const struct { const char *name; int wbits, inflate_wbits, framing, level; size_t len; } fmts[] = {
        {"zlib-6", 15, 15, 1, 6, DLEN}, {"gzip-6", 31, 31, 2, 6, DLEN}, {"raw-6", -15, -15, 0, 6, DLEN},
        {"auto-gzip-1", 31, 47, 2, 1, DLEN}, {"zlib-1-small", 15, 15, 1, 1, 200000},
    };
    /* piece 0: the whole stream in one piece (its end arrives with output pending) */
    static const struct { size_t piece; unsigned ochunk; } shapes[] = {
        {0, 3001}, {0, 1}, {65536, 3001}, {65536, 1}, {65536, 65536}, {16385, 7}, {8192, 4001},
        {4096, 3001}, {4096, 1 << 17}, {100, 257}, {7, 3001}, {1, 3001}, {1, 1},
    };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        size_t cap = fmts[f].len + fmts[f].len / 100 + 1000;
        unsigned char *c = malloc(cap);
        size_t n = make(c, cap, fmts[f].len, fmts[f].wbits, fmts[f].level);
        size_t *at = decodable(c, n, fmts[f].inflate_wbits, fmts[f].len);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            size_t piece = shapes[i].piece ? shapes[i].piece : n + 100;
            unsigned och = shapes[i].ochunk;
            /* one-byte rows only on the small stream: a million calls each otherwise */
            if (och == 1 && fmts[f].len > 200000 && !(shapes[i].piece == 0 && f == 0)) continue;
            if (piece == 1 && fmts[f].len > 200000) continue;
            run(fmts[f].name, c, n, fmts[f].len, fmts[f].inflate_wbits, fmts[f].framing, piece, och, at, shapes[i].piece);
        }
        free(at); free(c);
    }
    return 0;
}
