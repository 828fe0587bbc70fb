/* Differential: zlib's streaming contract for unflushed deflate streams.
 * 6 MiB of text go in as 16 KiB Z_NO_FLUSH writes with 16 KiB of output
 * room per call (as nginx, python's gzip and pg_dump feed zlib). zlib's
 * output starts within its first 16 Ki symbols and then flows; a drop-in
 * may hold more, but never more than 1 MiB of input without output (the
 * first compressed byte after the header, and each later one), and the
 * stream must decode. Printed: whether each bound held, not the sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HOLD_LIMIT (1u << 20)

static unsigned char *data; static size_t dlen = 6u << 20;

static void make_data(void) {
    data = malloc(dlen); unsigned x = 777;
    const char *w[] = {"time ", "to ", "first ", "byte ", "stream ", "output ", "flows ", "as ",
                       "input ", "goes ", "in ", "bounded ", "buffer ", "per ", "call ", "zlib\n"};
    for (size_t i = 0; i < dlen;) { x = x * 1103515245 + 12345;
        const char *s = w[(x >> 16) & 15]; size_t k = strlen(s);
        for (size_t j = 0; j < k && i < dlen; j++) data[i++] = (x >> 27) == 0 ? (unsigned char)('0' + (x >> 8) % 10) : s[j]; }
}

static int decodes(const unsigned char *c, size_t n, int wbits) {
    z_stream s; memset(&s, 0, sizeof s);
    if (inflateInit2(&s, wbits) != Z_OK) return 0;
    unsigned char *u = malloc(dlen + 1); s.next_in = (unsigned char *)c; s.avail_in = (uInt)n;
    s.next_out = u; s.avail_out = (uInt)dlen + 1; int r = inflate(&s, Z_FINISH);
    int ok = r == Z_STREAM_END && s.total_out == dlen && memcmp(u, data, dlen) == 0;
    inflateEnd(&s); free(u); return ok;
}

int main(void) {
    make_data();
    size_t cap = compressBound(dlen) + 65536;
    unsigned char *c = malloc(cap);
    int wbs[] = {15, -15, 31}, lvs[] = {1, 6, 9};
    for (int wi = 0; wi < 3; wi++) for (int li = 0; li < 3; li++) {
        int wb = wbs[wi], lv = lvs[li];
        size_t header = wb == 31 ? 10 : wb == 15 ? 2 : 0;
        z_stream s; memset(&s, 0, sizeof s);
        deflateInit2(&s, lv, Z_DEFLATED, wb, 8, Z_DEFAULT_STRATEGY);
        size_t first = 0, gap = 0, last_in = 0, last_out = header;
        int r = Z_OK, bad = 0;
        for (size_t at = 0; at < dlen && !bad;) {
            size_t n = dlen - at < 16384 ? dlen - at : 16384;
            s.next_in = data + at; s.avail_in = (uInt)n;
            do {
                s.next_out = c + s.total_out; s.avail_out = 16384;
                r = deflate(&s, Z_NO_FLUSH);
                if (r != Z_OK) { bad = 1; break; }
                if (s.total_out > last_out) {
                    if (!first) first = s.total_in;
                    /* The input taken before this output, beyond the last. */
                    size_t g = s.total_in - last_in;
                    if (last_in && g > gap) gap = g;
                    last_in = s.total_in; last_out = s.total_out;
                }
            } while (s.avail_out == 0);
            at += n - s.avail_in;
        }
        size_t tail = s.total_in - last_in;
        s.next_in = NULL; s.avail_in = 0;
        do {
            s.next_out = c + s.total_out; s.avail_out = 16384;
            r = deflate(&s, Z_FINISH);
        } while (r == Z_OK);
        printf("w=%d l=%d stream_end=%d first_output_within_limit=%d gaps_within_limit=%d held_at_end_within_limit=%d decodes=%d\n",
               wb, lv, r == Z_STREAM_END, first > 0 && first <= HOLD_LIMIT, gap <= HOLD_LIMIT,
               tail <= HOLD_LIMIT, decodes(c, s.total_out, wb));
        deflateEnd(&s);
    }
    /* Small pieces gathered before the decision, then the end with one byte
     * of output room per call: the gathered input goes into software first
     * (total_in and adler as zlib's all along). */
    for (int wi = 0; wi < 3; wi++) {
        int wb = wbs[wi], rs[3];
        z_stream s; memset(&s, 0, sizeof s);
        deflateInit2(&s, 6, Z_DEFLATED, wb, 8, Z_DEFAULT_STRATEGY);
        for (int i = 0; i < 3; i++) {
            s.next_in = data + i * 4096; s.avail_in = 4096;
            s.next_out = c + s.total_out; s.avail_out = 65536;
            rs[i] = deflate(&s, Z_NO_FLUSH);
        }
        unsigned long in = s.total_in, adler = s.adler;
        int r, calls = 0;
        do {
            s.next_out = c + s.total_out; s.avail_out = 1;
            r = deflate(&s, Z_FINISH); calls++;
        } while (r == Z_OK && calls < 100000);
        z_stream t; memset(&t, 0, sizeof t); inflateInit2(&t, wb);
        unsigned char *u = malloc(12289); t.next_in = c; t.avail_in = (uInt)s.total_out;
        t.next_out = u; t.avail_out = 12289; int ir = inflate(&t, Z_FINISH);
        printf("gather w=%d %d %d %d in=%lu adler=%lu end=%d total_in=%lu decodes=%d\n", wb, rs[0], rs[1], rs[2],
               in, adler, r, (unsigned long)s.total_in,
               ir == Z_STREAM_END && t.total_out == 12288 && memcmp(u, data, 12288) == 0);
        inflateEnd(&t); free(u); deflateEnd(&s);
    }
    free(c); free(data);
    return 0;
}
