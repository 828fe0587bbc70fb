/* Differential damaged-input test: zlib hands out everything it decoded
 * before the damage, then Z_DATA_ERROR with its message. The streams are
 * made by whichever library runs, damaged at places whose effect does not
 * depend on the compressed bytes: the trailer, or an invalid block appended
 * after full flushes. Run with and without the drop-in; same lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned char *data; static size_t dlen = 300000;

static void make_data(void) {
    data = malloc(dlen); unsigned x = 4242;
    for (size_t i = 0; i < dlen; i++) { x = x * 1103515245 + 12345;
        data[i] = (i % 7000 < 5000) ? "sphinx of black quartz, judge my vow "[i % 37] : (unsigned char)(x >> 16); }
}

/* A stream of all data (flush_every > 0: full flushes, and the stream stops
 * after `blocks` of them with an invalid block type instead of its end). */
static size_t make(unsigned char *c, size_t cap, int wbits, size_t flush_every, int blocks) {
    z_stream s; memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    s.next_out = c; s.avail_out = (uInt)cap;
    if (!flush_every) { s.next_in = data; s.avail_in = (uInt)dlen; deflate(&s, Z_FINISH); }
    else for (int b = 0; b < blocks; b++) {
        s.next_in = data + b * flush_every; s.avail_in = (uInt)flush_every; deflate(&s, Z_FULL_FLUSH); }
    size_t n = s.total_out; deflateEnd(&s);
    if (flush_every) c[n++] = 0x07; /* BFINAL=1, BTYPE=11: invalid */
    return n;
}

static void inflate_case(const char *name, const unsigned char *c, size_t n, int wbits, size_t ichunk, unsigned ochunk) {
    z_stream s; memset(&s, 0, sizeof s); inflateInit2(&s, wbits);
    unsigned char *u = malloc(dlen + 1000); int r = Z_OK; size_t ip = 0;
    while (r == Z_OK) {
        size_t k = n - ip < ichunk ? n - ip : ichunk;
        s.next_in = (unsigned char *)c + ip; s.avail_in = (uInt)k;
        size_t room = dlen + 1000 - s.total_out;
        s.next_out = u + s.total_out; s.avail_out = ochunk < room ? ochunk : (uInt)room;
        r = inflate(&s, Z_NO_FLUSH); ip += k - s.avail_in;
        if (r == Z_BUF_ERROR && ip < n) r = Z_OK;
    }
    printf("inflate %s ichunk=%zu ochunk=%u ret=%d msg=%s out=%lu prefix=%d\n", name, ichunk >= n ? 0 : ichunk, ochunk, r,
           s.msg ? s.msg : "-", s.total_out, s.total_out <= dlen && memcmp(u, data, s.total_out) == 0);
    /* and again: a stream in error stays in error */
    s.avail_in = 0; printf("  again %d\n", inflate(&s, Z_NO_FLUSH));
    inflateEnd(&s); free(u);
}

struct back { const unsigned char *p; size_t left, chunk; unsigned char *out; size_t olen; };
static unsigned back_in(void *d, z_const unsigned char **buf) {
    struct back *b = d; size_t n = b->left < b->chunk ? b->left : b->chunk;
    *buf = (z_const unsigned char *)b->p; b->p += n; b->left -= n; return (unsigned)n;
}
static int back_out(void *d, unsigned char *buf, unsigned len) {
    struct back *b = d; if (b->olen + len > dlen + 1000) return 1;
    memcpy(b->out + b->olen, buf, len); b->olen += len; return 0;
}

static void back_case(const char *name, const unsigned char *c, size_t n, size_t chunk) {
    z_stream s; memset(&s, 0, sizeof s); unsigned char *win = malloc(32768);
    inflateBackInit(&s, 15, win);
    struct back b = { c, n, chunk, malloc(dlen + 1000), 0 };
    int r = inflateBack(&s, back_in, &b, back_out, &b);
    printf("back %s chunk=%zu ret=%d msg=%s out=%zu prefix=%d\n", name, chunk, r, s.msg ? s.msg : "-", b.olen,
           b.olen <= dlen && memcmp(b.out, data, b.olen) == 0);
    inflateBackEnd(&s); free(b.out); free(win);
}

int main(void) {
    make_data();
    size_t cap = compressBound(dlen) + 1000; unsigned char *c = malloc(cap);
    size_t n = make(c, cap, 15, 0, 0); c[n - 1] ^= 1;
    for (int k = 0; k < 2; k++) inflate_case("zlib-bad-adler", c, n, 15, k ? 4096 : n, k ? 3000 : 1 << 20);
    n = make(c, cap, 31, 0, 0); c[n - 6] ^= 1;
    for (int k = 0; k < 2; k++) inflate_case("gzip-bad-crc", c, n, 31, k ? 4096 : n, k ? 3000 : 1 << 20);
    n = make(c, cap, 31, 0, 0); c[n - 2] ^= 1;
    inflate_case("gzip-bad-length", c, n, 31, n, 1 << 20);
    n = make(c, cap, 15, 50000, 3);
    for (int k = 0; k < 2; k++) inflate_case("zlib-bad-block", c, n, 15, k ? 4096 : n, k ? 3000 : 1 << 20);
    inflate_case("auto-bad-block", c, n, 47, n, 1 << 20);
    n = make(c, cap, -15, 50000, 5);
    for (int k = 0; k < 2; k++) inflate_case("raw-bad-block", c, n, -15, k ? 4096 : n, k ? 3000 : 1 << 20);
    back_case("raw-bad-block", c, n, 32768); back_case("raw-bad-block", c, n, 1 << 20);
    return 0;
}
