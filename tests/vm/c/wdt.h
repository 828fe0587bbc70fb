/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the guest tests: a queue, buffers, checks. */
#ifndef WDT_H
#define WDT_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "../../../include/uapi/warpdrive.h"

static int wdt_pass __attribute__((unused)), wdt_fail __attribute__((unused));
static const char *wdt_ctx __attribute__((unused)) = "";

#define CHECK(cond, ...) do {						\
	if (cond) { __atomic_add_fetch(&wdt_pass, 1, __ATOMIC_RELAXED); } \
	else {								\
		__atomic_add_fetch(&wdt_fail, 1, __ATOMIC_RELAXED);	\
		fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, wdt_ctx, #cond); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr);	\
	}								\
} while (0)

static inline int wdt_finish(void)
{
	printf("%d passed, %d failed\n", wdt_pass, wdt_fail);
	fflush(stdout);
	return wdt_fail ? 1 : 0;
}

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct wdq {
	int fd;
	struct wd_queue_bind b;
	uint8_t *ring;
	volatile uint32_t *sq_head, *sq_tail, *sq_flags, *cq_head, *cq_tail, *cq_flags;
	struct wd_desc *sqes;
	struct wd_cqe *cqes;
	uint32_t tail, chead;		/* our own indices */
	unsigned long doorbells, syncs;
	int use_sync;			/* submit with WD_IOCTL_SUBMIT_SYNC */
};

static inline int wdq_open(struct wdq *q, const char *dev, uint32_t flags, uint32_t entries)
{
	memset(q, 0, sizeof(*q));
	q->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (q->fd < 0)
		return -errno;
	q->b.flags = flags;
	q->b.sq_entries = entries;
	if (ioctl(q->fd, WD_IOCTL_BIND_QUEUE, &q->b)) {
		int e = -errno;
		close(q->fd);
		return e;
	}
	q->ring = mmap(NULL, q->b.ring_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       q->fd, q->b.ring_mmap_offset);
	if (q->ring == MAP_FAILED) {
		int e = -errno;
		close(q->fd);
		return e;
	}
	q->sq_head = (uint32_t *)(q->ring + q->b.sq_off.head);
	q->sq_tail = (uint32_t *)(q->ring + q->b.sq_off.tail);
	q->sq_flags = (uint32_t *)(q->ring + q->b.sq_off.flags);
	q->cq_head = (uint32_t *)(q->ring + q->b.cq_off.head);
	q->cq_tail = (uint32_t *)(q->ring + q->b.cq_off.tail);
	q->cq_flags = (uint32_t *)(q->ring + q->b.cq_off.flags);
	q->sqes = (struct wd_desc *)(q->ring + q->b.sq_off.entries);
	q->cqes = (struct wd_cqe *)(q->ring + q->b.cq_off.entries);
	return 0;
}

static inline void wdq_close(struct wdq *q)
{
	if (q->ring && q->ring != MAP_FAILED)
		munmap(q->ring, q->b.ring_mmap_size);
	close(q->fd);
	q->ring = NULL;
}

/* Slot for the next descriptor, or NULL when the SQ is full. */
static inline struct wd_desc *wdq_sqe(struct wdq *q)
{
	uint32_t head = __atomic_load_n(q->sq_head, __ATOMIC_ACQUIRE);

	if (q->tail - head >= q->b.sq_entries)
		return NULL;
	return &q->sqes[q->tail & (q->b.sq_entries - 1)];
}

/* Publish everything written so far; ring only if the engine sleeps. */
static inline int wdq_publish(struct wdq *q)
{
	q->tail++;
	__atomic_store_n(q->sq_tail, q->tail, __ATOMIC_RELEASE);
	if (q->use_sync) {
		q->syncs++;
		return ioctl(q->fd, WD_IOCTL_SUBMIT_SYNC) < 0 ? -errno : 0;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(q->sq_flags, __ATOMIC_RELAXED) & WD_RING_NEED_WAKEUP) {
		q->doorbells++;
		if (ioctl(q->fd, WD_IOCTL_DOORBELL) < 0)
			return -errno;
	}
	return 0;
}

/* Next completion; waits up to timeout_ms (spins, then poll()). */
static inline int wdq_reap(struct wdq *q, struct wd_cqe *out, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	int spins = 0;

	for (;;) {
		uint32_t tail = __atomic_load_n(q->cq_tail, __ATOMIC_ACQUIRE);

		if (tail != q->chead) {
			struct wd_cqe *c = &q->cqes[q->chead & (q->b.cq_entries - 1)];
			out->status = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
			out->user_data = c->user_data;
			out->produced = c->produced;
			out->consumed = c->consumed;
			out->checksum = c->checksum;
			out->needed = c->needed;
			out->flags = c->flags;
			q->chead++;
			__atomic_store_n(q->cq_head, q->chead, __ATOMIC_RELEASE);
			return 0;
		}
		if (__atomic_load_n(q->sq_flags, __ATOMIC_RELAXED) & WD_RING_DEAD)
			return -EIO;
		if (now_s() > end)
			return -ETIMEDOUT;
		if (++spins > 2000) {
			struct pollfd p = { .fd = q->fd, .events = POLLIN };
			poll(&p, 1, 10);
			if (p.revents & (POLLERR | POLLHUP))
				return -EIO;
		}
	}
}

/* One request, start to finish. */
static inline int wdq_run(struct wdq *q, const struct wd_desc *d, struct wd_cqe *c)
{
	struct wd_desc *s = wdq_sqe(q);
	int r;

	if (!s)
		return -EAGAIN;
	*s = *d;
	r = wdq_publish(q);
	if (r)
		return r;
	return wdq_reap(q, c, 20000);
}

/* Memory a descriptor can name: malloc in SVA mode, a mapped buffer otherwise. */
struct wmem {
	int sva;
	uint8_t *base;
	uint16_t handle;
	uint64_t size, used;
	uint8_t *heap[64];
	int nheap;
};

struct wref {
	uint8_t *p;
	uint16_t buf;
	uint64_t addr;
};

static inline int wmem_init(struct wmem *m, struct wdq *q, int sva, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->sva = sva;
	if (sva)
		return 0;
	struct wd_buffer_create bc = { .size = size };
	if (ioctl(q->fd, WD_IOCTL_CREATE_BUFFER, &bc))
		return -errno;
	m->base = mmap(NULL, bc.size, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, bc.mmap_offset);
	if (m->base == MAP_FAILED)
		return -errno;
	m->handle = bc.handle;
	m->size = bc.size;
	return 0;
}

static inline struct wref wmem_get(struct wmem *m, size_t len)
{
	struct wref r = { 0 };
	if (m->sva) {
		r.p = malloc(len + 64);
		if (m->nheap < 64)
			m->heap[m->nheap++] = r.p;
		r.addr = (uintptr_t)r.p;
		return r;
	}
	m->used = (m->used + 63) & ~63ULL;
	if (m->used + len > m->size) {
		fprintf(stderr, "wmem: out of buffer space\n");
		abort();
	}
	r.p = m->base + m->used;
	r.buf = m->handle;
	r.addr = m->used;
	m->used += len;
	return r;
}

static inline void wmem_reset(struct wmem *m)
{
	for (int i = 0; i < m->nheap; i++)
		free(m->heap[i]);
	m->nheap = 0;
	m->used = 0;
}

static inline void d_src(struct wd_desc *d, struct wref r, uint32_t len)
{ d->src_addr = r.addr; d->src_buf = r.buf; d->src_len = len; }
static inline void d_dst(struct wd_desc *d, struct wref r, uint32_t len)
{ d->dst_addr = r.addr; d->dst_buf = r.buf; d->dst_len = len; }
static inline void d_aux(struct wd_desc *d, struct wref r)
{ d->aux_addr = r.addr; d->aux_buf = r.buf; }

static inline long sysfs_num(const char *dev, const char *attr)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "/sys/class/warpdrive/%s/%s", dev, attr);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) { fclose(f); return -1; }
	fclose(f);
	return strtol(buf, NULL, 10);
}

static inline void fill_text(uint8_t *p, size_t n, unsigned seed)
{
	static const char *w[] = { "warp ", "drive ", "queue ", "ring ", "engine ", "zlib ",
				   "cipher ", "\n", "0123 ", "kernel " };
	size_t i = 0;
	while (i < n) {
		seed = seed * 1103515245 + 12345;
		const char *s = w[(seed >> 16) % 10];
		while (*s && i < n)
			p[i++] = *s++;
		if ((seed & 0xff) < 20 && i < n)
			p[i++] = (uint8_t)(seed >> 8);
	}
}
#endif
