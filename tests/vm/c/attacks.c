/* SPDX-License-Identifier: MIT */
/*
 * Hostile descriptors and rings, in buffer mode (soft0), on the validated
 * device (soft1) and in SVA mode: each must be refused with an error
 * completion (or the queue marked dead), nothing executed, no splat.
 */
#include "wdt.h"
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static const char *DEV;

struct target {
	struct wdq q;
	uint8_t *buf;
	uint16_t h;
	uint64_t size;
};

static int setup(struct target *t, const char *dev, uint32_t flags, uint64_t size)
{
	int r = wdq_open(&t->q, dev, flags, 32);
	if (r) return r;
	struct wd_buffer_create bc = { .size = size };
	if (ioctl(t->q.fd, WD_IOCTL_CREATE_BUFFER, &bc)) return -errno;
	t->buf = mmap(NULL, bc.size, PROT_READ | PROT_WRITE, MAP_SHARED, t->q.fd, bc.mmap_offset);
	if (t->buf == MAP_FAILED) return -errno;
	t->h = bc.handle;
	t->size = bc.size;
	return 0;
}

/* A valid SHA-256 of 100 bytes at 0 into 4096; the canary sits around dst. */
static struct wd_desc good(struct target *t)
{
	struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA256,
			     .src_buf = t->h, .src_addr = 0, .src_len = 100,
			     .dst_buf = t->h, .dst_addr = 4096, .dst_len = 64 };
	return d;
}

static void expect_reject(struct target *t, struct wd_desc d, uint32_t want, const char *what)
{
	struct wd_cqe c;
	memset(t->buf + 4096, 0xa5, 4096);
	long rej0 = sysfs_num(DEV, "rejected"), req0 = sysfs_num(DEV, "requests");
	int r = wdq_run(&t->q, &d, &c);
	CHECK(r == 0, "%s: run %d", what, r);
	if (r) return;
	CHECK(c.status == want, "%s: status %u want %u", what, c.status, want);
	int intact = 1;
	for (int i = 0; i < 4096; i++) if (t->buf[4096 + i] != 0xa5) intact = 0;
	CHECK(intact, "%s: dst written", what);
	long rej1 = sysfs_num(DEV, "rejected"), req1 = sysfs_num(DEV, "requests");
	CHECK(rej1 == rej0 + 1, "%s: rejected %ld -> %ld", what, rej0, rej1);
	CHECK(req1 == req0 + 1, "%s: requests %ld -> %ld", what, req0, req1);
}

static void descriptor_attacks(const char *dev, uint32_t flags)
{
	struct target t;
	int r = setup(&t, dev, flags, 64 << 10);
	CHECK(r == 0, "setup %d", r);
	if (r) return;
	struct wd_desc d;
	struct wd_cqe c;

	d = good(&t);
	r = wdq_run(&t.q, &d, &c);
	CHECK(r == 0 && c.status == 0 && c.produced == 32, "good request st %u", c.status);

	d = good(&t); d.src_addr = t.size - 10;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "src past end of buffer");
	d = good(&t); d.dst_addr = t.size - 8;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "dst past end of buffer");
	d = good(&t); d.src_addr = 0xffffffffffffff00ULL; d.src_len = 0x200;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "offset+len overflow");
	d = good(&t); d.dst_addr = UINT64_MAX; d.dst_len = 64;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "offset UINT64_MAX");
	d = good(&t); d.src_buf = t.h + 5;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "unknown handle");
	d = good(&t); d.src_buf = 0; d.src_addr = (uintptr_t)t.buf;
	expect_reject(&t, d, (t.q.b.features & WD_FEAT_SVA) ? 0 : WD_STATUS_BAD_ADDRESS, "raw address in buffer mode");
	d = good(&t); d.src_len = 0xffffffff;
	expect_reject(&t, d, WD_STATUS_INVALID_LENGTH, "src_len 0xffffffff");
	d = good(&t); d.dst_len = 0xffffffff;
	expect_reject(&t, d, WD_STATUS_INVALID_LENGTH, "dst_len 0xffffffff");
	d = good(&t); d.opcode = 7;
	expect_reject(&t, d, WD_STATUS_INVALID_OPCODE, "opcode 7");
	d = good(&t); d.opcode = 255;
	expect_reject(&t, d, WD_STATUS_INVALID_OPCODE, "opcode 255");
	d = good(&t); d.alg = WD_ALG_MAX + 1;
	expect_reject(&t, d, WD_STATUS_INVALID_ALG, "alg past WD_ALG_MAX");
	d = good(&t); d.alg = WD_ALG_CHACHA20_POLY1305;
	expect_reject(&t, d, WD_STATUS_INVALID_ALG, "hash with chacha20-poly1305 alg");
	d = good(&t); d.alg = WD_ALG_AES_GCM;
	expect_reject(&t, d, WD_STATUS_INVALID_ALG, "hash with aes alg");
	d = good(&t); d.flags = 0x80;
	expect_reject(&t, d, WD_STATUS_INVALID_FLAGS, "unknown flag");
	/* A flag the ABI knows but this engine does not offer. */
	CHECK(!(t.q.b.features & WD_FEAT_SEGMENTS), "segments offered: %x", t.q.b.features);
	d = good(&t); d.flags = WD_DESC_F_SEGMENT;
	expect_reject(&t, d, WD_STATUS_INVALID_FLAGS, "segment flag unoffered");
	d = good(&t); d.resv0 = 1;
	expect_reject(&t, d, WD_STATUS_INVALID_FLAGS, "resv0");
	d = good(&t); d.resv1 = 0x100;
	expect_reject(&t, d, WD_STATUS_INVALID_FLAGS, "resv1");
	d = good(&t); d.iv_len = 65; d.aux_buf = t.h;
	expect_reject(&t, d, WD_STATUS_INVALID_LENGTH, "iv_len 65");
	d = good(&t); d.aad_len = 0xffffffff; d.aux_buf = t.h;
	expect_reject(&t, d, WD_STATUS_INVALID_LENGTH, "aad_len huge");
	d = good(&t); d.opcode = WD_OP_HASH; d.alg = WD_ALG_HMAC_SHA256; d.key_len = 255;
	d.aux_buf = t.h; d.aux_addr = t.size - 100;
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "aux past end");
	d = good(&t); d.flags = WD_DESC_F_STREAM; d.stream_id = 4096;
	expect_reject(&t, d, WD_STATUS_BAD_STREAM, "stream id 4096");

	/* length 0: a well-defined empty hash, not an error */
	d = good(&t); d.src_len = 0; d.src_buf = 0; d.src_addr = 0xdead;
	r = wdq_run(&t.q, &d, &c);
	CHECK(r == 0 && c.status == 0 && c.produced == 32 && t.buf[4096] == 0xe3, "empty sha256 st %u", c.status);

	/* another process's handles name nothing here */
	int pfd[2], done[2];
	pipe(pfd); pipe(done);
	pid_t pid = fork();
	if (pid == 0) {
		struct target o;
		if (setup(&o, dev, WD_BIND_BUFFERS, 8192)) _exit(1);
		for (int i = 0; i < 4; i++) {
			struct wd_buffer_create bc = { .size = 4096 };
			ioctl(o.q.fd, WD_IOCTL_CREATE_BUFFER, &bc);
		}
		memset(o.buf, 0x77, 8192);
		char ch = 1;
		write(pfd[1], &ch, 1);
		read(done[0], &ch, 1);
		for (int i = 0; i < 8192; i++) if (o.buf[i] != 0x77) _exit(3);
		_exit(0);
	}
	char ch;
	read(pfd[0], &ch, 1);
	d = good(&t); d.dst_buf = 4;	/* exists only in the child */
	expect_reject(&t, d, WD_STATUS_BAD_ADDRESS, "other process handle");
	write(done[1], &ch, 1);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "other process buffer changed: %x", st);
	close(pfd[0]); close(pfd[1]); close(done[0]); close(done[1]);
	wdq_close(&t.q);
}

static void sva_attacks(void)
{
	struct wdq q;
	if (wdq_open(&q, "/dev/warpdrive/soft0", WD_BIND_SVA, 32)) { CHECK(0, "open sva"); return; }
	uint8_t *dst = malloc(64);
	struct wd_cqe c;
	struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA256, .src_addr = 0xffff888000000000ULL,
			     .src_len = 64, .dst_addr = (uintptr_t)dst, .dst_len = 64 };
	CHECK(!wdq_run(&q, &d, &c) && c.status == WD_STATUS_BAD_ADDRESS, "kernel address st %u", c.status);
	d.src_addr = 0x10000;	/* unmapped user page */
	CHECK(!wdq_run(&q, &d, &c) && c.status == WD_STATUS_BAD_ADDRESS, "unmapped st %u", c.status);
	uint8_t *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d.src_addr = (uintptr_t)dst; d.dst_addr = (uintptr_t)ro;
	CHECK(!wdq_run(&q, &d, &c) && c.status == WD_STATUS_BAD_ADDRESS, "read-only dst st %u", c.status);
	d.dst_addr = UINT64_MAX - 10;
	CHECK(!wdq_run(&q, &d, &c) && c.status == WD_STATUS_BAD_ADDRESS, "wrapping dst st %u", c.status);
	munmap(ro, 4096);
	free(dst);
	wdq_close(&q);
}

/* Indices that claim more than the ring holds are a protocol error. */
static void index_attacks(const char *dev, uint32_t flags)
{
	for (int which = 0; which < 2; which++) {
		struct wdq q;
		if (wdq_open(&q, dev, flags, 16)) { CHECK(0, "open"); return; }
		struct wd_cqe c;
		struct wd_desc d = { .opcode = WD_OP_NOP };
		CHECK(!wdq_run(&q, &d, &c) && c.status == 0, "nop before");
		if (which == 0) {
			__atomic_store_n(q.sq_tail, q.tail + 1000, __ATOMIC_RELEASE);
		} else {
			*q.cq_head = q.chead + 500;	/* "consumed" completions that never existed */
			struct wd_desc *s = wdq_sqe(&q);
			*s = d;
			q.tail++;
			__atomic_store_n(q.sq_tail, q.tail, __ATOMIC_RELEASE);
		}
		int r = ioctl(q.fd, WD_IOCTL_DOORBELL);
		double end = now_s() + 10;
		while (!(__atomic_load_n(q.sq_flags, __ATOMIC_ACQUIRE) & WD_RING_DEAD) && now_s() < end)
			usleep(1000);
		CHECK(*q.sq_flags & WD_RING_DEAD, "%s idx attack %d: not dead", dev, which);
		if (flags == WD_BIND_BUFFERS && strstr(dev, "soft1"))
			CHECK(r < 0 && errno == EIO, "validated doorbell r %d errno %d", r, errno);
		r = ioctl(q.fd, WD_IOCTL_DOORBELL);
		CHECK(r < 0 && errno == EIO, "doorbell after break r %d errno %d", r, errno);
		struct pollfd p = { .fd = q.fd, .events = POLLIN };
		poll(&p, 1, 0);
		CHECK(p.revents & POLLERR, "poll revents %x", p.revents);
		wdq_close(&q);
	}
}

/* One thread flips a descriptor between valid and hostile while the kernel takes it. */
struct flip { volatile struct wd_desc *slotbase; uint32_t n; volatile int stop; uint16_t h; uint64_t size; };
static void *flipper(void *arg)
{
	struct flip *f = arg;
	uint64_t x = 1;
	while (!f->stop) {
		for (uint32_t i = 0; i < f->n; i++) {
			volatile struct wd_desc *s = &f->slotbase[i];
			x = x * 6364136223846793005ULL + 1;
			switch (x >> 61) {
			case 0: s->src_addr = f->size - 8; break;
			case 1: s->src_addr = 0; break;
			case 2: s->opcode = 9; break;
			case 3: s->opcode = WD_OP_HASH; break;
			case 4: s->dst_len = 0xffffffff; break;
			case 5: s->dst_len = 64; break;
			case 6: s->src_buf = 77; break;
			default: s->src_buf = f->h; break;
			}
		}
	}
	return NULL;
}

static void race_attack(const char *dev, uint32_t flags)
{
	struct target t;
	if (setup(&t, dev, flags, 64 << 10)) { CHECK(0, "setup"); return; }
	memset(t.buf, 'r', 100);
	memset(t.buf + 8192, 0xa5, 8192);
	struct flip f = { (struct wd_desc *)t.q.sqes, t.q.b.sq_entries, 0, t.h, t.size };
	pthread_t th;
	pthread_create(&th, NULL, flipper, &f);
	int ok = 0, err = 0, bad = 0;
	for (int i = 0; i < 3000; i++) {
		struct wd_desc *s = wdq_sqe(&t.q);
		struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA256, .src_buf = t.h, .src_len = 100,
				     .dst_buf = t.h, .dst_addr = 4096, .dst_len = 64, .user_data = i };
		*s = d;
		wdq_publish(&t.q);
		struct wd_cqe c;
		if (wdq_reap(&t.q, &c, 20000)) { bad++; break; }
		if (c.status == 0) ok++; else err++;
	}
	f.stop = 1;
	pthread_join(th, NULL);
	int intact = 1;
	for (int i = 0; i < 8192; i++) if (t.buf[8192 + i] != 0xa5) intact = 0;
	CHECK(!bad && ok + err == 3000, "race: ok %d err %d lost %d", ok, err, bad);
	CHECK(intact, "race: memory beyond dst written");
	printf("attacks: %s race: %d ran, %d refused\n", dev, ok, err);
	wdq_close(&t.q);
}

static void api_attacks(void)
{
	struct wdq q;
	int r = wdq_open(&q, "/dev/warpdrive/soft1", WD_BIND_SVA, 16);
	CHECK(r == -EOPNOTSUPP, "SVA on validated device: %d", r);
	r = wdq_open(&q, "/dev/warpdrive/soft0", WD_BIND_SVA, 16);
	CHECK(r == 0, "open %d", r);
	if (r) return;
	struct wd_queue_bind b = { 0 };
	CHECK(ioctl(q.fd, WD_IOCTL_BIND_QUEUE, &b) < 0 && errno == EBUSY, "second bind errno %d", errno);
	CHECK(mmap(NULL, q.b.ring_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, 0) == MAP_FAILED &&
	      errno == EBUSY, "second ring mmap errno %d", errno);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, q.fd, 0) == MAP_FAILED, "private mmap");
	struct wd_buffer_create bc = { .size = 10000 };
	CHECK(ioctl(q.fd, WD_IOCTL_CREATE_BUFFER, &bc) == 0 && bc.size == 12288, "create buffer size %llu",
	      (unsigned long long)bc.size);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, bc.mmap_offset) == MAP_FAILED &&
	      errno == EINVAL, "short buffer mmap");
	CHECK(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, bc.mmap_offset + 4096) == MAP_FAILED,
	      "offset buffer mmap");
	void *p = mmap(NULL, bc.size, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, bc.mmap_offset);
	CHECK(p != MAP_FAILED, "buffer mmap errno %d", errno);
	struct wd_buffer_free bf = { .handle = bc.handle };
	CHECK(ioctl(q.fd, WD_IOCTL_FREE_BUFFER, &bf) < 0 && errno == EBUSY, "free while mapped errno %d", errno);
	munmap(p, bc.size);
	CHECK(ioctl(q.fd, WD_IOCTL_FREE_BUFFER, &bf) == 0, "free errno %d", errno);
	CHECK(ioctl(q.fd, WD_IOCTL_FREE_BUFFER, &bf) < 0 && errno == ENOENT, "double free errno %d", errno);
	struct wd_buffer_create bad = { .size = 4096, .flags = 1 };
	CHECK(ioctl(q.fd, WD_IOCTL_CREATE_BUFFER, &bad) < 0 && errno == EINVAL, "flags");
	bad.flags = 0; bad.size = 1ULL << 40;
	CHECK(ioctl(q.fd, WD_IOCTL_CREATE_BUFFER, &bad) < 0, "huge buffer");
	CHECK(ioctl(q.fd, _IO(WD_IOCTL_MAGIC, 0x40)) < 0 && errno == ENOTTY, "unknown ioctl");
	struct wd_device_info info;
	CHECK(ioctl(q.fd, WD_IOCTL_INFO, &info) == 0 && !strcmp(info.name, "soft0") &&
	      !strcmp(info.driver, "soft") && info.abi_version == WD_ABI_VERSION, "info");
	wdq_close(&q);

	/* bind argument checks */
	int fd = open("/dev/warpdrive/soft0", O_RDWR);
	struct wd_queue_bind bb = { .sq_entries = 3 };
	CHECK(ioctl(fd, WD_IOCTL_BIND_QUEUE, &bb) < 0 && errno == EINVAL, "non power of two");
	bb = (struct wd_queue_bind){ .sq_entries = 8192 };
	CHECK(ioctl(fd, WD_IOCTL_BIND_QUEUE, &bb) < 0 && errno == EINVAL, "too many entries");
	bb = (struct wd_queue_bind){ .flags = 0x80 };
	CHECK(ioctl(fd, WD_IOCTL_BIND_QUEUE, &bb) < 0 && errno == EINVAL, "bad bind flag");
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED, "mmap before bind");
	CHECK(ioctl(fd, WD_IOCTL_DOORBELL) < 0 && errno == EINVAL, "doorbell before bind");
	close(fd);

	/* RLIMIT_MEMLOCK is enforced for an unprivileged owner */
	pid_t pid = fork();
	if (pid == 0) {
		int fd2 = open("/dev/warpdrive/soft0", O_RDWR);
		struct wd_queue_bind b2 = { .flags = WD_BIND_BUFFERS };
		if (fd2 < 0 || ioctl(fd2, WD_IOCTL_BIND_QUEUE, &b2)) _exit(10);
		/* the ring counts against the limit too, as pinned memory the user maps */
		struct rlimit rl = { (64 << 10) + b2.ring_mmap_size, (64 << 10) + b2.ring_mmap_size };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) || setuid(65534)) _exit(11);
		struct wd_buffer_create c1 = { .size = 32 << 10 }, c2 = { .size = 1 << 20 }, c3 = { .size = 32 << 10 };
		if (ioctl(fd2, WD_IOCTL_CREATE_BUFFER, &c1)) _exit(12);
		if (ioctl(fd2, WD_IOCTL_CREATE_BUFFER, &c2) == 0) _exit(13);
		if (ioctl(fd2, WD_IOCTL_CREATE_BUFFER, &c3)) _exit(14);
		struct wd_buffer_create c4 = { .size = 4096 };
		if (ioctl(fd2, WD_IOCTL_CREATE_BUFFER, &c4) == 0) _exit(15);
		struct wd_buffer_free f1 = { .handle = c1.handle };
		if (ioctl(fd2, WD_IOCTL_FREE_BUFFER, &f1)) _exit(16);
		if (ioctl(fd2, WD_IOCTL_CREATE_BUFFER, &c4)) _exit(17);	/* uncharged on free */
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "memlock child status %d", WEXITSTATUS(st));
}

int main(void)
{
	DEV = "soft0"; wdt_ctx = "soft0-buffers";
	descriptor_attacks("/dev/warpdrive/soft0", WD_BIND_BUFFERS);
	index_attacks("/dev/warpdrive/soft0", WD_BIND_BUFFERS);
	race_attack("/dev/warpdrive/soft0", WD_BIND_BUFFERS);
	wdt_ctx = "soft0-sva";
	sva_attacks();
	index_attacks("/dev/warpdrive/soft0", WD_BIND_SVA);
	DEV = "soft1"; wdt_ctx = "soft1-validated";
	descriptor_attacks("/dev/warpdrive/soft1", WD_BIND_BUFFERS);
	index_attacks("/dev/warpdrive/soft1", WD_BIND_BUFFERS);
	race_attack("/dev/warpdrive/soft1", WD_BIND_BUFFERS);
	wdt_ctx = "api";
	api_attacks();
	return wdt_finish();
}
