/* SPDX-License-Identifier: MIT */
/*
 * Many processes and threads at once; fork (the child must not see the
 * rings); SIGKILL with requests in flight, in a loop, with counters and
 * memory checked afterwards.
 */
#include "wdt.h"
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <zlib.h>
#include <openssl/evp.h>

static const char *const DEVS[] = { "/dev/warpdrive/soft0", "/dev/warpdrive/soft0", "/dev/warpdrive/soft1" };
static const uint32_t FLAGS[] = { WD_BIND_SVA, WD_BIND_BUFFERS, WD_BIND_BUFFERS };

static void *worker(void *arg)
{
	long id = (long)arg;
	struct wdq q;
	struct wmem m;
	int mode = id % 3;
	if (wdq_open(&q, DEVS[mode], FLAGS[mode], 16) || wmem_init(&m, &q, mode == 0, 1 << 20)) {
		CHECK(0, "worker %ld open", id);
		return NULL;
	}
	for (int i = 0; i < 60; i++) {
		size_t n = 100 + (i * 997 + id * 31) % 20000;
		struct wref src = wmem_get(&m, n), dig = wmem_get(&m, 64), z = wmem_get(&m, n + 1024),
			    back = wmem_get(&m, n);
		fill_text(src.p, n, id * 1000 + i);
		/* three requests in flight at once, reaped in order */
		struct wd_desc d[2] = {
			{ .opcode = WD_OP_HASH, .alg = WD_ALG_SHA256, .user_data = 1 },
			{ .opcode = WD_OP_COMPRESS, .alg = WD_ALG_GZIP, .level = 1, .user_data = 2 },
		};
		d_src(&d[0], src, n); d_dst(&d[0], dig, 64);
		d_src(&d[1], src, n); d_dst(&d[1], z, n + 1024);
		for (int k = 0; k < 2; k++) { *wdq_sqe(&q) = d[k]; wdq_publish(&q); }
		struct wd_cqe c[2];
		int bad = wdq_reap(&q, &c[0], 30000) || wdq_reap(&q, &c[1], 30000);
		CHECK(!bad && c[0].status == 0 && c[1].status == 0, "worker %ld req %d", id, i);
		if (bad) break;
		uint8_t ref[32];
		EVP_Digest(src.p, n, ref, NULL, EVP_sha256(), NULL);
		CHECK(!memcmp(ref, dig.p, 32), "worker %ld sha mismatch", id);
		struct wd_desc e = { .opcode = WD_OP_DECOMPRESS, .alg = WD_ALG_GZIP };
		d_src(&e, z, c[1].produced); d_dst(&e, back, n);
		struct wd_cqe ce;
		CHECK(!wdq_run(&q, &e, &ce) && ce.status == 0 && ce.produced == n && !memcmp(back.p, src.p, n),
		      "worker %ld roundtrip st %u", id, ce.status);
		wmem_reset(&m);
	}
	wdq_close(&q);
	return NULL;
}

static void multi(void)
{
	enum { PROCS = 4, THREADS = 3 };
	pid_t pids[PROCS];
	double t0 = now_s();
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			pthread_t th[THREADS];
			for (long t = 0; t < THREADS; t++)
				pthread_create(&th[t], NULL, worker, (void *)(p * THREADS + t));
			for (int t = 0; t < THREADS; t++)
				pthread_join(th[t], NULL);
			_exit(wdt_fail ? 1 : 0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		waitpid(pids[p], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d status %x", p, st);
	}
	printf("procs: %d processes x %d threads done in %.1fs\n", PROCS, THREADS, now_s() - t0);
}

static sigjmp_buf jb;
static void on_fault(int sig) { siglongjmp(jb, sig); }

static void forked(void)
{
	struct wdq q;
	if (wdq_open(&q, "/dev/warpdrive/soft0", WD_BIND_SVA, 16)) { CHECK(0, "open"); return; }
	struct wd_desc d = { .opcode = WD_OP_NOP };
	struct wd_cqe c;
	CHECK(!wdq_run(&q, &d, &c) && c.status == 0, "before fork");
	pid_t pid = fork();
	if (pid == 0) {
		unsigned char vec[1];
		volatile int code = 0;
		if (mincore(q.ring, 4096, vec) == 0 || errno != ENOMEM) code |= 1;
		signal(SIGSEGV, on_fault);
		signal(SIGBUS, on_fault);
		int sig = sigsetjmp(jb, 1);
		if (!sig) {
			(void)*(volatile uint32_t *)q.sq_tail;
			code |= 2;	/* readable: the mapping leaked into the child */
		}
		if (ioctl(q.fd, WD_IOCTL_DOORBELL) == 0 || errno != EPERM) code |= 4;
		if (ioctl(q.fd, WD_IOCTL_SUBMIT_SYNC) == 0 || errno != EPERM) code |= 8;
		_exit(code);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child code %d", WEXITSTATUS(st));
	for (int i = 0; i < 20; i++)
		CHECK(!wdq_run(&q, &d, &c) && c.status == 0, "parent after fork");
	wdq_close(&q);
}

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	if (f) fclose(f);
	return v;
}

static void settle(void)
{
	double end = now_s() + 20;
	while (now_s() < end && (sysfs_num("soft0", "inflight") || sysfs_num("soft0", "open_contexts") ||
				 sysfs_num("soft1", "inflight") || sysfs_num("soft1", "open_contexts")))
		usleep(10000);
	sync();
	FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
	if (f) { fputs("3\n", f); fclose(f); }
	usleep(200000);
}

static void kill_one(int it)
{
	int pfd[2];
	pipe(pfd);
	pid_t pid = fork();
	if (pid == 0) {
		struct wdq q;
		struct wmem m;
		int mode = it % 3;
		if (wdq_open(&q, DEVS[mode], FLAGS[mode], 32) || wmem_init(&m, &q, mode == 0, 2 << 20)) _exit(1);
		size_t n = 32 << 10;
		for (int i = 0; i < 16; i++) {
			struct wref src = wmem_get(&m, n), dst = wmem_get(&m, n + 1024);
			fill_text(src.p, n, i);
			struct wd_desc d = { .opcode = WD_OP_COMPRESS, .alg = WD_ALG_ZLIB, .level = 6, .user_data = i };
			d_src(&d, src, n); d_dst(&d, dst, n + 1024);
			*wdq_sqe(&q) = d;
			q.tail++;
		}
		__atomic_store_n(q.sq_tail, q.tail, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (mode == 0)
			ioctl(q.fd, WD_IOCTL_DOORBELL);
		char ch = 1;
		write(pfd[1], &ch, 1);
		if (mode != 0)
			ioctl(q.fd, WD_IOCTL_DOORBELL);	/* validated/buffer: killed mid-doorbell */
		pause();
		_exit(0);
	}
	char ch;
	read(pfd[0], &ch, 1);
	usleep((it % 5) * 3000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "iteration %d child status %x", it, st);
	close(pfd[0]); close(pfd[1]);
}

struct mem { long free, slab, vm, req; };
static struct mem snap(void)
{
	struct mem m = { meminfo("MemFree"), meminfo("Slab"), meminfo("VmallocUsed"),
			 sysfs_num("soft0", "requests") + sysfs_num("soft1", "requests") };
	return m;
}

/*
 * Two loops of kills: the first warms every cache the kernel grows once
 * (page tables, percpu lists, crypto and slab caches); a leak shows as drift
 * across the second one.
 */
static void kills(void)
{
	enum { ITER = 20 };
	for (int i = 0; i < 3; i++)
		kill_one(i);
	settle();
	struct mem m0 = snap();
	for (int i = 0; i < ITER; i++)
		kill_one(i);
	settle();
	struct mem m1 = snap();
	for (int i = 0; i < ITER; i++)
		kill_one(i);
	settle();
	struct mem m2 = snap();
	CHECK(sysfs_num("soft0", "inflight") == 0 && sysfs_num("soft1", "inflight") == 0, "inflight not 0");
	CHECK(sysfs_num("soft0", "open_contexts") == 0 && sysfs_num("soft1", "open_contexts") == 0,
	      "open_contexts not 0");
	CHECK(sysfs_num("soft0", "queues_free") == sysfs_num("soft0", "queues_total"), "queues not returned");
	printf("procs: SIGKILL loop 1 (x%d): %ld requests ran; MemFree %+ld kB, Slab %+ld kB, VmallocUsed %+ld kB\n",
	       ITER, m1.req - m0.req, m1.free - m0.free, m1.slab - m0.slab, m1.vm - m0.vm);
	printf("procs: SIGKILL loop 2 (x%d): %ld requests ran; MemFree %+ld kB, Slab %+ld kB, VmallocUsed %+ld kB "
	       "(bounds for loop 2: MemFree -8192, Slab +2048, VmallocUsed +1024)\n",
	       ITER, m2.req - m1.req, m2.free - m1.free, m2.slab - m1.slab, m2.vm - m1.vm);
	CHECK(m1.free - m2.free < 8192, "MemFree dropped %ld kB", m1.free - m2.free);
	CHECK(m2.slab - m1.slab < 2048, "Slab grew %ld kB", m2.slab - m1.slab);
	CHECK(m2.vm - m1.vm < 1024, "VmallocUsed grew %ld kB", m2.vm - m1.vm);
}

int main(int argc, char **argv)
{
	wdt_ctx = "multi"; multi();
	wdt_ctx = "fork"; forked();
	double t0 = now_s();
	wdt_ctx = "sigkill"; kills();
	printf("procs: SIGKILL loops took %.1fs\n", now_s() - t0);
	(void)argc; (void)argv;
	return wdt_finish();
}
