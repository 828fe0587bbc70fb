/* Inflate throughput as programs feed it: pieces of `piece` bytes, `ochunk`
 * bytes of output room, Pillow's loop (while avail_in > 0) plus a final drain
 * (which a correct zlib never needs). Prints MB/s of output over all files,
 * best of 3 each; CPUTIME=1 times by process CPU time (all threads), steadier
 * on a loaded machine than wall time.
 *   cc -O2 -o zinflate-rows benches/zinflate-rows.c -lz
 *   CPUTIME=1 LD_PRELOAD=target/release/libz.so ./zinflate-rows 65536 3001 FILES... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
static double now(void) { struct timespec t; clock_gettime(getenv("CPUTIME") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    size_t piece = atol(argv[1]); unsigned och = atoi(argv[2]);
    double tot = 0, tt = 0;
    for (int a = 3; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb"); fseek(f, 0, SEEK_END); size_t n = ftell(f); rewind(f);
        unsigned char *d = malloc(n); fread(d, 1, n, f); fclose(f);
        uLong cap = compressBound(n); unsigned char *c = malloc(cap); compress2(c, &cap, d, n, 6);
        unsigned char *row = malloc(och); double best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now(); z_stream s; memset(&s, 0, sizeof s); inflateInit(&s);
            size_t out = 0; int r = Z_OK;
            for (size_t p = 0; p < cap && r != Z_STREAM_END; p += piece) {
                s.next_in = c + p; s.avail_in = (uInt)(cap - p < piece ? cap - p : piece);
                while (s.avail_in > 0 && r != Z_STREAM_END) { s.next_out = row; s.avail_out = och; r = inflate(&s, 0); out += och - s.avail_out; }
            }
            while (r == Z_OK) { s.next_out = row; s.avail_out = och; r = inflate(&s, 0); out += och - s.avail_out; }
            inflateEnd(&s); double dt = now() - t0;
            if (out != n) { fprintf(stderr, "%s: %zu of %zu\n", argv[a], out, n); }
            if (dt < best) best = dt;
        }
        tot += n; tt += best;
    }
    printf("%.1f\n", tot / tt / 1e6);
    return 0;
}
