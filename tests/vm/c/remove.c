/* SPDX-License-Identifier: MIT */
/*
 * Hot removal while in use (soft0 through its sysfs "remove"), or with
 * --smoke a quick check that both devices work (used between reloads), or
 * with --race N mmap racing removal, N times (reloads the module).
 */
#include "wdt.h"
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

static int smoke(void)
{
	for (int i = 0; i < 2; i++) {
		struct wdq q;
		const char *dev = i ? "/dev/warpdrive/soft1" : "/dev/warpdrive/soft0";
		int r = wdq_open(&q, dev, i ? WD_BIND_BUFFERS : WD_BIND_SVA, 8);
		CHECK(r == 0, "open %s %d", dev, r);
		if (r) continue;
		struct wd_desc d = { .opcode = WD_OP_NOP };
		struct wd_cqe c;
		CHECK(!wdq_run(&q, &d, &c) && c.status == 0, "nop %s", dev);
		wdq_close(&q);
	}
	return wdt_finish();
}

/*
 * mmap racing hot removal: one thread maps and unmaps a buffer of soft0 in a
 * loop while another removes soft0; afterwards no mapping may still show the
 * buffer's real contents. Reloads the module (WD_KO, WD_MODPARAMS) per try.
 */
struct racer { int fd; uint64_t off, size; volatile uint32_t *dead; uint8_t *last; };
static void *map_loop(void *arg)
{
	struct racer *r = arg;
	for (;;) {
		uint8_t *p = mmap(NULL, r->size, PROT_READ, MAP_SHARED, r->fd, r->off);
		if (p == MAP_FAILED) {
			if (errno == ENODEV) break;
			continue;
		}
		/* removal has begun (the ring says DEAD before anything is unmapped) */
		if (__atomic_load_n(r->dead, __ATOMIC_ACQUIRE) & WD_RING_DEAD) { r->last = p; break; }
		munmap(p, r->size);
	}
	return NULL;
}

static int race(int tries)
{
	wdt_ctx = "mmap-vs-remove";
	int live = 0;
	for (int t = 0; t < tries; t++) {
		struct wdq q;
		if (wdq_open(&q, "/dev/warpdrive/soft0", WD_BIND_BUFFERS, 8)) { CHECK(0, "open try %d", t); break; }
		struct wd_buffer_create bc = { .size = 4096 };
		CHECK(ioctl(q.fd, WD_IOCTL_CREATE_BUFFER, &bc) == 0, "buffer");
		uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, bc.mmap_offset);
		memset(p, 0xEE, 4096);
		munmap(p, 4096);
		struct racer r = { q.fd, bc.mmap_offset, 4096, q.sq_flags, NULL };
		pthread_t th;
		pthread_create(&th, NULL, map_loop, &r);
		usleep(1000 * (t % 5));
		FILE *f = fopen("/sys/class/warpdrive/soft0/remove", "w");
		if (f) { fputs("1\n", f); fclose(f); }
		pthread_join(th, NULL);
		/* read through whatever mapping the racer kept: zeros, or the real buffer */
		if (r.last) {
			if (r.last[0] == 0xEE) live++;
			munmap(r.last, 4096);
		}
		wdq_close(&q);
		if (system("sh \"$WD_PROJ/tests/vm/reload.sh\"")) { CHECK(0, "reload"); break; }
	}
	printf("remove: mmap racing removal left %d live mappings of the real buffer in %d tries\n", live, tries);
	CHECK(live == 0, "%d of %d tries kept a live mapping after removal", live, tries);
	return wdt_finish();
}

static __thread sigjmp_buf *cur_jb;
static void on_fault(int sig) { siglongjmp(*cur_jb, sig); }

struct load { struct wdq *q; volatile int stop; long ok, err; uint8_t *buf; int faulted; };
static void *loader(void *arg)
{
	struct load *l = arg;
	static __thread sigjmp_buf my;
	/* the ring vanishes under this thread on removal: a fault is expected */
	if (sigsetjmp(my, 1)) { l->faulted = 1; return NULL; }
	cur_jb = &my;
	while (!l->stop) {
		struct wd_desc *s = wdq_sqe(l->q);
		if (!s) { usleep(100); continue; }
		struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA512, .src_addr = (uintptr_t)l->buf,
				     .src_len = 65536, .dst_addr = (uintptr_t)(l->buf + 65536), .dst_len = 64 };
		*s = d;
		if (wdq_publish(l->q)) { l->err++; break; }
		struct wd_cqe c;
		if (wdq_reap(l->q, &c, 5000)) { l->err++; break; }
		if (c.status == 0) l->ok++; else l->err++;
	}
	return NULL;
}

static sigjmp_buf jb;

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--smoke"))
		return smoke();
	if (argc > 2 && !strcmp(argv[1], "--race"))
		return race(atoi(argv[2]));
	wdt_ctx = "remove";
	struct wdq a, b, idle;
	CHECK(wdq_open(&a, "/dev/warpdrive/soft0", WD_BIND_SVA, 16) == 0, "open a");
	CHECK(wdq_open(&b, "/dev/warpdrive/soft1", WD_BIND_BUFFERS, 16) == 0, "open b");
	int unbound = open("/dev/warpdrive/soft0", O_RDWR);
	/* a buffer of a context that never binds, mapped before the removal */
	struct wd_buffer_create ubc = { .size = 4096 };
	CHECK(ioctl(unbound, WD_IOCTL_CREATE_BUFFER, &ubc) == 0, "unbound buffer errno %d", errno);
	uint8_t *ubuf = mmap(NULL, ubc.size, PROT_READ | PROT_WRITE, MAP_SHARED, unbound, ubc.mmap_offset);
	CHECK(ubuf != MAP_FAILED, "unbound buffer map errno %d", errno);
	if (ubuf != MAP_FAILED) memset(ubuf, 0xCD, ubc.size);
	CHECK(wdq_open(&idle, "/dev/warpdrive/soft0", WD_BIND_BUFFERS, 16) == 0, "open idle");
	struct wd_buffer_create bc = { .size = 8192 };
	CHECK(ioctl(idle.fd, WD_IOCTL_CREATE_BUFFER, &bc) == 0, "buffer");
	uint8_t *ibuf = mmap(NULL, bc.size, PROT_READ | PROT_WRITE, MAP_SHARED, idle.fd, bc.mmap_offset);
	CHECK(ibuf != MAP_FAILED, "buffer map");
	memset(ibuf, 0xAB, bc.size);

	signal(SIGSEGV, on_fault);
	signal(SIGBUS, on_fault);
	struct load l = { &a, 0, 0, 0, calloc(1, 65536 + 64), 0 };
	pthread_t th;
	pthread_create(&th, NULL, loader, &l);
	usleep(300000);

	FILE *f = fopen("/sys/class/warpdrive/soft0/remove", "w");
	CHECK(f != NULL, "open remove attribute");
	if (f) { fputs("1\n", f); CHECK(fclose(f) == 0, "remove write"); }
	usleep(200000);
	l.stop = 1;
	pthread_join(th, NULL);
	printf("remove: %ld requests completed before removal, %ld failed after it, loader %s\n", l.ok, l.err,
	       l.faulted ? "faulted on the zapped ring" : "saw the error");
	CHECK(l.ok > 0, "no load before removal");

	struct wd_device_info info;
	CHECK(ioctl(a.fd, WD_IOCTL_INFO, &info) < 0 && errno == ENODEV, "INFO after remove errno %d", errno);
	CHECK(ioctl(a.fd, WD_IOCTL_DOORBELL) < 0 && errno == ENODEV, "DOORBELL errno %d", errno);
	CHECK(ioctl(a.fd, WD_IOCTL_SUBMIT_SYNC) < 0 && errno == ENODEV, "SUBMIT_SYNC errno %d", errno);
	CHECK(ioctl(unbound, WD_IOCTL_BIND_QUEUE, &(struct wd_queue_bind){ 0 }) < 0 && errno == ENODEV,
	      "BIND on zombie errno %d", errno);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, idle.fd, bc.mmap_offset) == MAP_FAILED, "mmap on zombie");
	struct pollfd p = { .fd = a.fd, .events = POLLIN };
	CHECK(poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)), "poll revents %x", p.revents);

	/*
	 * The real ring and buffers are zapped and freed; touching the old
	 * addresses faults in a dead page instead of SIGBUS: the ring flags say
	 * WD_RING_DEAD and nothing of the old contents is reachable.
	 */
	volatile int faulted = 0;
	volatile uint32_t sq_flags = 0, cq_flags = 0;
	volatile uint8_t old_byte = 0xAB, uold = 0xCD;
	cur_jb = &jb;
	if (!sigsetjmp(jb, 1)) {
		sq_flags = *(volatile uint32_t *)a.sq_flags;
		cq_flags = *(volatile uint32_t *)a.cq_flags;
		old_byte = *(volatile uint8_t *)ibuf;
	} else {
		faulted = 1;
	}
	CHECK(!faulted, "touching a zombie's mapping raised a signal");
	faulted = 0;
	if (ubuf != MAP_FAILED) {
		if (!sigsetjmp(jb, 1))
			uold = *(volatile uint8_t *)ubuf;
		else
			faulted = 1;
		CHECK(!faulted, "touching a buffer of a context removed before bind raised a signal");
		CHECK(uold == 0, "an unbound context's buffer is still reachable (%#x)", uold);
	}
	CHECK((sq_flags & WD_RING_DEAD) && (cq_flags & WD_RING_DEAD), "dead page flags sq %x cq %x", sq_flags, cq_flags);
	CHECK(old_byte == 0, "a removed buffer's contents are still reachable (%#x)", old_byte);

	CHECK(access("/dev/warpdrive/soft0", F_OK) != 0, "device node still there");
	CHECK(access("/sys/class/warpdrive/soft0", F_OK) != 0, "sysfs dir still there");
	CHECK(open("/dev/warpdrive/soft0", O_RDWR) < 0, "open after removal");

	/* the other device is untouched */
	struct wd_desc d = { .opcode = WD_OP_NOP };
	struct wd_cqe c;
	CHECK(!wdq_run(&b, &d, &c) && c.status == 0, "soft1 after soft0 removal");
	CHECK(sysfs_num("soft1", "open_contexts") == 1, "soft1 contexts");

	/* zombies close cleanly (munmap of zapped VMAs included) */
	wdq_close(&a);
	munmap(ibuf, bc.size);
	if (ubuf != MAP_FAILED) munmap(ubuf, ubc.size);
	wdq_close(&idle);
	close(unbound);
	wdq_close(&b);
	CHECK(sysfs_num("soft1", "open_contexts") == 0, "soft1 contexts after close");
	return wdt_finish();
}
