/* SPDX-License-Identifier: MIT */
/*
 * The second driver (kmod/wd_test.c, device async0): no ->execute, requests
 * taken by a work item and completed a jiffy later from another. Proves the
 * framework's asynchronous driver API: every request completes once, with its
 * own user_data, CQ room is respected, refused descriptors never reach the
 * driver, close and kill with requests held by the driver are clean.
 */
#include "wdt.h"
#include <signal.h>
#include <sys/wait.h>

static const char *DEV = "/dev/warpdrive/async0";

static void batches(void)
{
	struct wdq q;
	int r = wdq_open(&q, DEV, WD_BIND_BUFFERS, 16);
	CHECK(r == 0, "open %d", r);
	if (r) return;
	CHECK(!(q.b.features & WD_FEAT_SVA) && (q.b.features & WD_FEAT_BUFFERS), "features %x", q.b.features);
	long req0 = sysfs_num("async0", "requests");
	int seen[64] = { 0 }, bad = 0, lost = 0;
	/* 4 rounds of 16 at once: the driver holds them, completes them later */
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 16; k++) {
			struct wd_desc *s = wdq_sqe(&q);
			if (!s) { bad++; break; }
			*s = (struct wd_desc){ .opcode = WD_OP_NOP, .user_data = round * 16 + k };
			q.tail++;
		}
		__atomic_store_n(q.sq_tail, q.tail, __ATOMIC_RELEASE);
		CHECK(ioctl(q.fd, WD_IOCTL_DOORBELL) == 0, "doorbell errno %d", errno);
		for (int k = 0; k < 16; k++) {
			struct wd_cqe c;
			if (wdq_reap(&q, &c, 5000)) { lost++; break; }
			if (c.status || c.user_data >= 64) bad++;
			else seen[c.user_data]++;
		}
	}
	int once = 1;
	for (int i = 0; i < 64; i++) if (seen[i] != 1) once = 0;
	CHECK(!bad && !lost && once, "bad %d lost %d each-once %d", bad, lost, once);
	CHECK(sysfs_num("async0", "requests") == req0 + 64, "requests %ld -> %ld", req0,
	      sysfs_num("async0", "requests"));

	/* refused by the framework: the driver offers no algorithm */
	struct wd_cqe c;
	struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA256, .user_data = 99 };
	CHECK(!wdq_run(&q, &d, &c) && c.status == WD_STATUS_INVALID_ALG && c.user_data == 99,
	      "hash on async0 st %u", c.status);
	/* nothing runs in the caller: there is no ->execute */
	CHECK(ioctl(q.fd, WD_IOCTL_SUBMIT_SYNC) < 0 && errno == EOPNOTSUPP, "SUBMIT_SYNC errno %d", errno);

	/* more outstanding than the CQ holds (cq = 32): nothing is dropped */
	int sent = 0, got = 0;
	while (got < 100) {
		struct wd_desc *s;
		while (sent < 100 && (s = wdq_sqe(&q))) {
			*s = (struct wd_desc){ .opcode = WD_OP_NOP, .user_data = 1000 + sent };
			q.tail++; sent++;
		}
		__atomic_store_n(q.sq_tail, q.tail, __ATOMIC_RELEASE);
		ioctl(q.fd, WD_IOCTL_DOORBELL);
		if (got == 40) usleep(100000);	/* let the CQ fill up */
		if (wdq_reap(&q, &c, 5000)) break;
		if (c.status == 0) got++;
		/* a full CQ needs a doorbell to resume, as for any polled queue */
		ioctl(q.fd, WD_IOCTL_DOORBELL);
	}
	CHECK(got == 100 && *(volatile uint32_t *)(q.ring + q.b.cq_off.dropped) == 0,
	      "overcommit: %d of 100 completed", got);
	wdq_close(&q);
}

/* close and SIGKILL while the driver holds requests */
static void teardown(void)
{
	for (int i = 0; i < 20; i++) {
		struct wdq q;
		if (wdq_open(&q, DEV, WD_BIND_BUFFERS, 16)) { CHECK(0, "open"); return; }
		for (int k = 0; k < 16; k++) {
			*wdq_sqe(&q) = (struct wd_desc){ .opcode = WD_OP_NOP };
			q.tail++;
		}
		__atomic_store_n(q.sq_tail, q.tail, __ATOMIC_RELEASE);
		ioctl(q.fd, WD_IOCTL_DOORBELL);
		if (i & 1) usleep(1000 * (i % 5));
		wdq_close(&q);
	}
	for (int i = 0; i < 10; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct wdq q;
			if (wdq_open(&q, DEV, WD_BIND_BUFFERS, 16)) _exit(1);
			for (;;) {
				struct wd_desc *s = wdq_sqe(&q);
				if (s) { *s = (struct wd_desc){ .opcode = WD_OP_NOP }; wdq_publish(&q); }
				struct wd_cqe c;
				wdq_reap(&q, &c, 0);
			}
		}
		usleep(20000 + 5000 * i);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	double t0 = now_s();
	while (sysfs_num("async0", "open_contexts") != 0 && now_s() - t0 < 5) usleep(10000);
	CHECK(sysfs_num("async0", "open_contexts") == 0, "contexts left %ld", sysfs_num("async0", "open_contexts"));
	CHECK(sysfs_num("async0", "inflight") == 0, "inflight %ld", sysfs_num("async0", "inflight"));
}

/*
 * Hot removal while stopping a queue takes long (module parameter stop_ms):
 * another context's close() must not wait behind it. Removes async0.
 */
static int remove_lock(void)
{
	wdt_ctx = "remove-lock";
	/* a is unbound (its close stops nothing); b, opened later, is killed first */
	int a = open(DEV, O_RDWR | O_CLOEXEC);
	struct wdq b;
	CHECK(a >= 0, "open a");
	CHECK(wdq_open(&b, DEV, WD_BIND_BUFFERS, 8) == 0, "open b");
	double t0 = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		close(a);
		close(b.fd);	/* the parent's close must be the last */
		FILE *f = fopen("/sys/class/warpdrive/async0/remove", "w");
		_exit(f && fputs("1\n", f) >= 0 && fclose(f) == 0 ? 0 : 1);
	}
	usleep(500000);		/* the removal is now stopping b */
	double c0 = now_s();
	close(a);
	double closed = now_s() - c0;
	int st;
	waitpid(pid, &st, 0);
	double removal = now_s() - t0;
	printf("async: removal took %.2fs; another context's close() meanwhile %.2fs\n", removal, closed);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "remove write");
	CHECK(removal > 1, "the removal was not slow (%.2fs): stop_ms not set?", removal);
	CHECK(closed < 0.5, "close() waited %.2fs behind the removal", closed);
	wdq_close(&b);
	return wdt_finish();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--remove-lock"))
		return remove_lock();
	wdt_ctx = "async";
	batches();
	teardown();
	return wdt_finish();
}
