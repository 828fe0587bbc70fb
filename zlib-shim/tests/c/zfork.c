/* Differential fork test: a stream used before fork() is continued in the
 * child (zlib's streams are plain memory, so this works with zlib). Run with
 * and without the drop-in; both runs must print the same lines. alarm() in
 * the child turns a hang into a failure ("signal 14"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <zlib.h>

static unsigned char *data; static size_t dlen = 600000;

static void make_data(void) {
    data = malloc(dlen); unsigned x = 777;
    for (size_t i = 0; i < dlen; i++) { x = x * 1103515245 + 12345;
        data[i] = (i % 6000 < 4000) ? "pack my box with five dozen liquor jugs "[i % 40] : (unsigned char)(x >> 16); }
}

/* Decodes `c` (any framing: windowBits given) and compares with data[..n]. */
static int check(const unsigned char *c, size_t clen, int wbits, size_t n) {
    z_stream s; memset(&s, 0, sizeof s);
    if (inflateInit2(&s, wbits) != Z_OK) return 0;
    unsigned char *u = malloc(dlen + 1);
    s.next_in = (unsigned char *)c; s.avail_in = (uInt)clen; s.next_out = u; s.avail_out = (uInt)dlen + 1;
    int r = inflate(&s, Z_FINISH);
    int ok = (r == Z_STREAM_END || (wbits < 0 && r == Z_BUF_ERROR)) && s.total_out == n && memcmp(u, data, n) == 0;
    inflateEnd(&s); free(u); return ok;
}

static void report(const char *name, pid_t pid) {
    int st = 0; waitpid(pid, &st, 0);
    if (WIFEXITED(st)) printf("fork %s child exit=%d\n", name, WEXITSTATUS(st));
    else printf("fork %s child signal %d\n", name, WTERMSIG(st));
}

/* deflate: `first` bytes with `flush1` (and `more` with Z_NO_FLUSH after it),
 * fork, the child finishes the stream; both parent and child check it. */
static void deflate_fork(const char *name, int level, int wbits, size_t first, int flush1, size_t more) {
    size_t cap = compressBound(dlen) + 4096; unsigned char *c = malloc(cap);
    z_stream s; memset(&s, 0, sizeof s);
    deflateInit2(&s, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    s.next_in = data; s.avail_in = (uInt)first; s.next_out = c; s.avail_out = (uInt)cap;
    int r1 = deflate(&s, flush1);
    int r2 = Z_OK;
    if (more) { s.avail_in = (uInt)more; r2 = deflate(&s, Z_NO_FLUSH); }
    fflush(stdout);
    pid_t pid = fork();
    /* Both sides finish the same stream from the same state. */
    if (pid == 0) alarm(20);
    s.avail_in = (uInt)(dlen - s.total_in);
    int r3 = deflate(&s, Z_FINISH);
    int ok = r3 == Z_STREAM_END && check(c, s.total_out, wbits, dlen);
    int e = deflateEnd(&s);
    if (pid == 0) _exit(ok && e == Z_OK ? 0 : 10 + (r3 < 0 ? -r3 : r3));
    printf("deflate %s r=%d %d %d ok=%d end=%d\n", name, r1, r2, r3, ok, e);
    report(name, pid); free(c);
}

/* inflate: `first` bytes of a stream go in, fork, the child decodes the rest. */
static void inflate_fork(const char *name, int level, int wbits, size_t first, unsigned ochunk) {
    size_t cap = compressBound(dlen) + 4096; unsigned char *c = malloc(cap);
    z_stream d; memset(&d, 0, sizeof d);
    deflateInit2(&d, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    d.next_in = data; d.avail_in = (uInt)dlen; d.next_out = c; d.avail_out = (uInt)cap;
    deflate(&d, Z_FINISH); size_t clen = d.total_out; deflateEnd(&d);
    unsigned char *u = malloc(dlen + 1);
    z_stream s; memset(&s, 0, sizeof s); inflateInit2(&s, wbits);
    s.next_in = c; s.avail_in = (uInt)first; s.next_out = u; s.avail_out = ochunk;
    int r1 = inflate(&s, Z_NO_FLUSH);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) alarm(20);
    int r = Z_OK;
    while (r == Z_OK) {
        s.avail_in = (uInt)(clen - s.total_in);
        size_t room = dlen + 1 - s.total_out;
        s.avail_out = ochunk < room ? ochunk : (uInt)room;
        r = inflate(&s, Z_NO_FLUSH);
    }
    int ok = r == Z_STREAM_END && s.total_out == dlen && memcmp(u, data, dlen) == 0;
    inflateEnd(&s);
    if (pid == 0) _exit(ok ? 0 : 10 + (r < 0 ? -r : r));
    printf("inflate %s r=%d %d ok=%d\n", name, r1, r, ok);
    report(name, pid); free(c); free(u);
}

int main(void) {
    make_data();
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* engine-held streams (zlib, gzip; level 1 and 6), segments (raw >= 2),
     * raw level 1, buffered input (no flush yet), input after a flush. */
    deflate_fork("zlib-6-sync", 6, 15, 100000, Z_SYNC_FLUSH, 0);
    deflate_fork("zlib-1-sync", 1, 15, 100000, Z_SYNC_FLUSH, 0);
    deflate_fork("gzip-6-sync", 6, 31, 100000, Z_SYNC_FLUSH, 0);
    deflate_fork("gzip-1-full", 1, 31, 100000, Z_FULL_FLUSH, 0);
    deflate_fork("raw-6-sync", 6, -15, 100000, Z_SYNC_FLUSH, 0);
    deflate_fork("raw-1-sync", 1, -15, 100000, Z_SYNC_FLUSH, 0);
    deflate_fork("zlib-6-none", 6, 15, 100000, Z_NO_FLUSH, 0);
    deflate_fork("zlib-6-sync-then-none", 6, 15, 100000, Z_SYNC_FLUSH, 150000);
    deflate_fork("zlib-1-sync-then-none", 1, 15, 100000, Z_SYNC_FLUSH, 150000);
    deflate_fork("raw-6-sync-then-none", 6, -15, 100000, Z_SYNC_FLUSH, 150000);
    inflate_fork("zlib-6", 6, 15, 100000, 1 << 20);
    inflate_fork("zlib-6-small-out", 6, 15, 100000, 4096);
    inflate_fork("gzip-1", 1, 31, 60000, 1 << 20);
    inflate_fork("raw-6", 6, -15, 100000, 1 << 20);
    return 0;
}
