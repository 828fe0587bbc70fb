/* Thread and fork soak, differential: worker threads each drive their own
 * deflate and inflate streams in pieces while the main thread forks.
 *
 * - "active" forks happen while the workers are inside zlib calls: the child
 *   (only the forking thread survives) finishes the main thread's own streams
 *   and runs fresh round trips, so a lock some worker held at fork() time
 *   would hang it.
 * - A "quiescent" fork happens with every worker parked between calls: the
 *   child finishes every thread's streams on its own, as a single-threaded
 *   program that inherited them.
 * The parent finishes everything too and checks every output. Run with and
 * without the drop-in; both runs must print the same lines. alarm() turns a
 * hang into a failure ("signal 14"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <zlib.h>

#define WORKERS 4
#define PER_THREAD 4
#define OWNERS (WORKERS + 1) /* owner WORKERS is the main thread */
#define DLEN (1536 * 1024)

struct strm {
    z_stream s;
    int inflating, level, wbits, flush_every, steps, done, failed;
    size_t piece, fed;
    const unsigned char *in; size_t inlen;   /* what this stream consumes */
    unsigned char *out; size_t cap;          /* what it produces */
    const unsigned char *want;               /* inflate: the original data */
};

static struct strm streams[OWNERS][PER_THREAD];
static unsigned char *data[OWNERS][PER_THREAD];
static unsigned char *packed[OWNERS][PER_THREAD];
static size_t packed_len[OWNERS][PER_THREAD];
static pthread_barrier_t parked, resumed;

static void make_data(unsigned char *d, unsigned seed) {
    unsigned x = seed;
    for (size_t i = 0; i < DLEN; i++) {
        x = x * 1103515245 + 12345;
        d[i] = (i % 5000 < 3500) ? "sphinx of black quartz, judge my vow. "[(i + seed) % 38]
                                 : (unsigned char)(x >> 16);
    }
}

/* One piece: feed up to `piece` bytes, the last one with Z_FINISH. */
static void step(struct strm *t) {
    if (t->done || t->failed) return;
    size_t n = t->inlen - t->fed < t->piece ? t->inlen - t->fed : t->piece;
    int last = t->fed + n == t->inlen;
    t->s.next_in = (unsigned char *)t->in + t->fed; t->s.avail_in = (uInt)n;
    int flush = last ? Z_FINISH : (++t->steps % t->flush_every == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
    int r = Z_OK;
    for (int guard = 0; guard < 1000; guard++) {
        t->s.next_out = t->out + t->s.total_out; t->s.avail_out = (uInt)(t->cap - t->s.total_out);
        r = t->inflating ? inflate(&t->s, Z_NO_FLUSH) : deflate(&t->s, flush);
        if (r == Z_STREAM_END) break;
        if (r != Z_OK && r != Z_BUF_ERROR) { t->failed = 1; return; }
        if (t->s.avail_in == 0 && (!last || t->inflating) && t->s.avail_out > 0) break;
    }
    t->fed += n - t->s.avail_in;
    if (r == Z_STREAM_END) t->done = 1;
    else if (last && t->s.avail_in == 0 && !t->inflating) t->failed = 1;
}

static int verify(struct strm *t, const unsigned char *orig) {
    if (!t->done || t->failed) return 0;
    if (t->inflating) return t->s.total_out == DLEN && memcmp(t->out, orig, DLEN) == 0;
    z_stream u; memset(&u, 0, sizeof u);
    if (inflateInit2(&u, t->wbits) != Z_OK) return 0;
    unsigned char *back = malloc(DLEN + 1);
    u.next_in = t->out; u.avail_in = (uInt)t->s.total_out; u.next_out = back; u.avail_out = DLEN + 1;
    int r = inflate(&u, Z_FINISH);
    int ok = (r == Z_STREAM_END || (t->wbits < 0 && r == Z_BUF_ERROR)) && u.total_out == DLEN &&
             memcmp(back, orig, DLEN) == 0;
    inflateEnd(&u); free(back); return ok;
}

static int owner_ok(int o) {
    int ok = 0;
    for (int k = 0; k < PER_THREAD; k++) ok += verify(&streams[o][k], data[o][k]);
    return ok;
}

static void finish_owner(int o) {
    for (int k = 0; k < PER_THREAD; k++)
        for (int i = 0; i < 100000 && !streams[o][k].done && !streams[o][k].failed; i++)
            step(&streams[o][k]);
}

static void end_owner(int o) {
    for (int k = 0; k < PER_THREAD; k++) {
        struct strm *t = &streams[o][k];
        if (t->inflating) inflateEnd(&t->s); else deflateEnd(&t->s);
    }
}

static void setup(int o) {
    static const int levels[] = {1, 6, 9, 6};
    static const int wbits[] = {15, 31, -15, 15};
    static const size_t pieces[] = {65536, 8192, 200000, 1024};
    for (int k = 0; k < PER_THREAD; k++) {
        struct strm *t = &streams[o][k];
        memset(t, 0, sizeof *t);
        t->inflating = k % 2 == 1;
        t->level = levels[k]; t->wbits = wbits[k]; t->piece = pieces[(k + o) % 4];
        t->flush_every = 3 + o;
        if (t->inflating) {
            inflateInit2(&t->s, t->wbits);
            t->in = packed[o][k]; t->inlen = packed_len[o][k];
            t->cap = DLEN; t->out = malloc(t->cap);
        } else {
            deflateInit2(&t->s, t->level, Z_DEFLATED, t->wbits, 8, Z_DEFAULT_STRATEGY);
            t->in = data[o][k]; t->inlen = DLEN;
            t->cap = deflateBound(&t->s, DLEN) + 65536; t->out = malloc(t->cap);
        }
    }
}

/* A fresh round trip in the child: a global lock held at fork() hangs here. */
static int fresh_round_trip(size_t n) {
    uLong cap = compressBound(n); unsigned char *c = malloc(cap), *u = malloc(n);
    uLongf clen = cap, ulen = n;
    int ok = compress2(c, &clen, data[0][0], n, 6) == Z_OK &&
             uncompress(u, &ulen, c, clen) == Z_OK && ulen == n && memcmp(u, data[0][0], n) == 0;
    free(c); free(u); return ok;
}

static void *worker(void *arg) {
    int o = (int)(long)arg;
    for (int round = 0; round < 40; round++) {
        if (round == 20) { pthread_barrier_wait(&parked); pthread_barrier_wait(&resumed); }
        for (int k = 0; k < PER_THREAD; k++) step(&streams[o][k]);
    }
    finish_owner(o);
    return NULL;
}

static void wait_child(const char *what, int i, pid_t pid) {
    int st = 0; waitpid(pid, &st, 0);
    if (WIFEXITED(st)) printf("fork %s %d child exit=%d\n", what, i, WEXITSTATUS(st));
    else printf("fork %s %d child signal %d\n", what, i, WTERMSIG(st));
}

int main(void) {
    alarm(120);
    for (int o = 0; o < OWNERS; o++)
        for (int k = 0; k < PER_THREAD; k++) {
            data[o][k] = malloc(DLEN); make_data(data[o][k], 1000u * o + 7u * k + 1u);
            uLong cap = compressBound(DLEN); packed[o][k] = malloc(cap);
            /* The inflate streams' input, in the framing they are opened with. */
            z_stream s; memset(&s, 0, sizeof s);
            deflateInit2(&s, 6, Z_DEFLATED, k == 1 ? 31 : 15, 8, Z_DEFAULT_STRATEGY);
            s.next_in = data[o][k]; s.avail_in = DLEN; s.next_out = packed[o][k]; s.avail_out = (uInt)cap;
            if (deflate(&s, Z_FINISH) != Z_STREAM_END) { printf("setup failed\n"); return 1; }
            packed_len[o][k] = s.total_out; deflateEnd(&s);
        }
    for (int o = 0; o < OWNERS; o++) setup(o);
    pthread_barrier_init(&parked, NULL, WORKERS + 1);
    pthread_barrier_init(&resumed, NULL, WORKERS + 1);
    pthread_t th[WORKERS];
    for (long o = 0; o < WORKERS; o++) pthread_create(&th[o], NULL, worker, (void *)o);
    fflush(stdout);

    int me = WORKERS;
    for (int i = 0; i < 3; i++) {
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < PER_THREAD; k++) step(&streams[me][k]);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30);
            finish_owner(me);
            int ok = owner_ok(me) == PER_THREAD && fresh_round_trip(100000) && fresh_round_trip(DLEN);
            _exit(ok ? 0 : 1);
        }
        wait_child("active", i, pid);
    }

    pthread_barrier_wait(&parked);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        int ok = 0;
        for (int o = 0; o < OWNERS; o++) { finish_owner(o); ok += owner_ok(o); }
        for (int o = 0; o < OWNERS; o++) end_owner(o);
        _exit(ok == OWNERS * PER_THREAD ? 0 : 1);
    }
    wait_child("quiescent", 0, pid);
    pthread_barrier_wait(&resumed);

    finish_owner(me);
    for (int o = 0; o < WORKERS; o++) pthread_join(th[o], NULL);
    for (int o = 0; o < OWNERS; o++) printf("owner %d streams ok=%d/%d\n", o, owner_ok(o), PER_THREAD);
    for (int o = 0; o < OWNERS; o++) end_owner(o);
    return 0;
}
