/* Differential mid-stream calls after a first, large (offloaded) call:
 * deflateCopy, raw deflateSetDictionary, deflateParams with no output room;
 * zlib's return codes, and the streams still decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned char *data; static size_t dlen = 400000;

static void make_data(void) {
    data = malloc(dlen); unsigned x = 31337;
    for (size_t i = 0; i < dlen; i++) { x = x * 1103515245 + 12345;
        data[i] = (i % 5000 < 3500) ? "how vexingly quick daft zebras jump "[i % 36] : (unsigned char)(x >> 16); }
}

static int check(const unsigned char *c, size_t n, int wbits, size_t want) {
    z_stream s; memset(&s, 0, sizeof s); inflateInit2(&s, wbits);
    unsigned char *u = malloc(dlen + 1); s.next_in = (unsigned char *)c; s.avail_in = (uInt)n;
    s.next_out = u; s.avail_out = (uInt)dlen + 1; int r = inflate(&s, Z_FINISH);
    int ok = r == Z_STREAM_END && s.total_out == want && memcmp(u, data, want) == 0;
    inflateEnd(&s); free(u); return ok;
}

static int finish(z_stream *s, size_t upto) {
    s->avail_in = (uInt)(upto - s->total_in); return deflate(s, Z_FINISH);
}

int main(void) {
    make_data();
    size_t cap = compressBound(dlen) + 4096;
    int wbs[] = {15, -15, 31}, levels[] = {1, 6};
    for (int wi = 0; wi < 3; wi++) for (int li = 0; li < 2; li++) {
        int wb = wbs[wi], lv = levels[li];
        unsigned char *c = malloc(cap), *c2 = malloc(cap);
        /* deflateCopy after a sync flush; both finish independently */
        z_stream s, t; memset(&s, 0, sizeof s); memset(&t, 0, sizeof t);
        deflateInit2(&s, lv, Z_DEFLATED, wb, 8, 0);
        s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = (uInt)cap;
        int a = deflate(&s, Z_SYNC_FLUSH);
        int cp = deflateCopy(&t, &s);
        if (cp == Z_OK) { memcpy(c2, c, s.total_out); t.next_out = c2 + s.total_out; }
        int f1 = finish(&s, dlen), f2 = cp == Z_OK ? finish(&t, 250000) : -99;
        printf("copy w=%d l=%d %d %d %d %d ok=%d %d\n", wb, lv, a, cp, f1, f2, check(c, s.total_out, wb, dlen),
               cp == Z_OK ? check(c2, t.total_out, wb, 250000) : -1);
        deflateEnd(&s); if (cp == Z_OK) deflateEnd(&t);
        /* deflateParams with no output room, data not flushed yet */
        memset(&s, 0, sizeof s); deflateInit2(&s, lv, Z_DEFLATED, wb, 8, 0);
        s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = (uInt)cap;
        a = deflate(&s, Z_NO_FLUSH);
        uInt room = s.avail_out; s.avail_out = 0;
        int p = deflateParams(&s, lv == 1 ? 9 : 1, Z_DEFAULT_STRATEGY);
        s.avail_out = room;
        int p2 = deflateParams(&s, lv == 1 ? 9 : 1, Z_DEFAULT_STRATEGY);
        int f = finish(&s, dlen);
        printf("params w=%d l=%d %d %d %d %d ok=%d\n", wb, lv, a, p, p2, f, check(c, s.total_out, wb, dlen));
        deflateEnd(&s);
        /* after a sync flush, the same with nothing left to flush */
        memset(&s, 0, sizeof s); deflateInit2(&s, lv, Z_DEFLATED, wb, 8, 0);
        s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = (uInt)cap;
        a = deflate(&s, Z_SYNC_FLUSH); room = s.avail_out; s.avail_out = 0;
        p = deflateParams(&s, lv == 1 ? 9 : 1, Z_DEFAULT_STRATEGY); s.avail_out = room;
        f = finish(&s, dlen);
        printf("params-flushed w=%d l=%d %d %d %d ok=%d\n", wb, lv, a, p, f, check(c, s.total_out, wb, dlen));
        deflateEnd(&s); free(c); free(c2);
    }
    /* gzip header fields zlib writes: XFL by level, OS 3 (Unix) */
    for (int lv = 1; lv <= 9; lv += 4) for (int fl = 0; fl < 2; fl++) {
        unsigned char *c = malloc(cap); z_stream s; memset(&s, 0, sizeof s);
        deflateInit2(&s, lv, Z_DEFLATED, 31, 8, 0);
        s.next_in = data; s.avail_in = 100000; s.next_out = c; s.avail_out = (uInt)cap;
        deflate(&s, fl ? Z_SYNC_FLUSH : Z_FINISH);
        printf("gzip header l=%d flush=%d xfl=%d os=%d\n", lv, fl, c[8], c[9]); deflateEnd(&s); free(c);
    }
    return 0;
}
