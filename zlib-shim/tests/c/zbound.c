/* Differential bounds test: compressBound and deflateBound return zlib
 * 1.2.13's values, and compressing into a buffer of that size succeeds
 * wherever zlib succeeds (compress2, one deflate(Z_FINISH) call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned char *make(size_t n, int kind) {
    unsigned char *p = malloc(n ? n : 1); unsigned x = 99 + (unsigned)n;
    for (size_t i = 0; i < n; i++) { x = x * 1103515245 + 12345;
        p[i] = kind == 0 ? (unsigned char)(x >> 16) : kind == 1 ? "all work and no play makes jack "[i % 32]
             : (i % 3000 < 1500 ? (unsigned char)(x >> 16) : 'a'); }
    return p;
}

int main(void) {
    size_t sizes[] = {0, 1, 100, 4096, 20000, 65536, 100000, 1 << 20, 3000000, 12345678};
    for (int i = 0; i < 10; i++) printf("compressBound %zu = %lu\n", sizes[i], compressBound(sizes[i]));
    printf("deflateBound NULL %lu\n", deflateBound(NULL, 100000));
    int levels[] = {-1, 0, 1, 2, 6, 9}, wbs[] = {15, -15, 31, 9, -9, 25}, mems[] = {8, 9, 1};
    for (int li = 0; li < 6; li++) for (int wi = 0; wi < 6; wi++) for (int mi = 0; mi < 3; mi++) {
        z_stream s; memset(&s, 0, sizeof s);
        if (deflateInit2(&s, levels[li], Z_DEFLATED, wbs[wi], mems[mi], Z_DEFAULT_STRATEGY) != Z_OK) continue;
        printf("deflateBound l=%d w=%d m=%d:", levels[li], wbs[wi], mems[mi]);
        for (int i = 0; i < 10; i++) printf(" %lu", deflateBound(&s, sizes[i]));
        /* after data: zlib counts a dictionary id for zlib streams */
        unsigned char *d = make(100000, 1), out[200000];
        s.next_in = d; s.avail_in = 100000; s.next_out = out; s.avail_out = sizeof out;
        deflate(&s, Z_NO_FLUSH);
        printf(" | after %lu", deflateBound(&s, 100000));
        deflateParams(&s, levels[li] == 9 ? 1 : 9, Z_DEFAULT_STRATEGY);
        printf(" | params %lu\n", deflateBound(&s, 100000));
        deflateEnd(&s); free(d);
    }
    { z_stream s; memset(&s, 0, sizeof s); deflateInit2(&s, 6, Z_DEFLATED, 31, 8, 0);
      gz_header h; memset(&h, 0, sizeof h); h.name = (Bytef *)"file.txt"; h.comment = (Bytef *)"a comment";
      unsigned char extra[7] = "abcdefg"; h.extra = extra; h.extra_len = 7; h.hcrc = 1;
      deflateSetHeader(&s, &h); printf("deflateBound gzip header %lu\n", deflateBound(&s, 100000)); deflateEnd(&s); }
    { z_stream s; memset(&s, 0, sizeof s); deflateInit(&s, 6); deflateSetDictionary(&s, (const Bytef *)"dictionary", 10);
      printf("deflateBound dict %lu\n", deflateBound(&s, 100000)); deflateEnd(&s); }
    /* compress2 into compressBound, deflate into deflateBound: never fails where zlib succeeds */
    size_t csizes[] = {4096, 20000, 65536, 300000, 1 << 20, 2100000};
    for (int k = 0; k < 3; k++) for (int i = 0; i < 6; i++) {
        unsigned char *d = make(csizes[i], k);
        printf("fit kind=%d n=%zu:", k, csizes[i]);
        for (int l = -1; l <= 9; l++) {
            uLongf cl = compressBound(csizes[i]); unsigned char *c = malloc(cl);
            int r = compress2(c, &cl, d, csizes[i], l);
            uLongf ul = csizes[i]; unsigned char *u = malloc(csizes[i]);
            int ok = r == Z_OK && uncompress(u, &ul, c, cl) == Z_OK && ul == csizes[i] && memcmp(u, d, ul) == 0;
            free(c);
            int wb[] = {15, -15, 31}, fits = 0;
            for (int w = 0; w < 3; w++) {
                z_stream s; memset(&s, 0, sizeof s); deflateInit2(&s, l, Z_DEFLATED, wb[w], 8, 0);
                uLong b = deflateBound(&s, csizes[i]); c = malloc(b);
                s.next_in = d; s.avail_in = (uInt)csizes[i]; s.next_out = c; s.avail_out = (uInt)b;
                fits += deflate(&s, Z_FINISH) == Z_STREAM_END; deflateEnd(&s); free(c);
            }
            printf(" %d%d", ok, fits); free(u);
        }
        printf("\n"); free(d);
    }
    return 0;
}
