// SPDX-License-Identifier: GPL-2.0
/*
 * The shared rings: layout, the consumer loop, descriptor validation, and
 * access to the memory a descriptor names.
 *
 * Layout of the one ring mapping (offsets are reported through
 * wd_queue_bind, so user space assumes none of this):
 *   page 0: every index and flag word on its own 64-byte line, so the
 *           producer's and consumer's stores never share a cache line;
 *   then the wd_desc array (page aligned), then the wd_cqe array.
 *
 * Ordering follows include/uapi/warpdrive.h. The kernel never reads back an
 * index it owns (sq head, cq tail, sq flags): user space may scribble on the
 * shared copies, so the truth lives in struct wd_queue and is only stored.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/uaccess.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/memcontrol.h>
#include "wd_internal.h"

#define WD_L(n)		((n) * 64)
#define OFF_SQ_HEAD	WD_L(0)
#define OFF_SQ_TAIL	WD_L(1)
#define OFF_SQ_FLAGS	WD_L(2)
#define OFF_SQ_DROPPED	WD_L(3)
#define OFF_CQ_HEAD	WD_L(4)
#define OFF_CQ_TAIL	WD_L(5)
#define OFF_CQ_FLAGS	WD_L(6)
#define OFF_CQ_DROPPED	WD_L(7)
/* Read-only geometry, for user space's convenience only. */
#define OFF_SQ_MASK	WD_L(8)
#define OFF_SQ_ENTRIES	(WD_L(8) + 4)
#define OFF_CQ_MASK	(WD_L(8) + 8)
#define OFF_CQ_ENTRIES	(WD_L(8) + 12)

static inline u32 *ring_u32(struct wd_queue *q, size_t off)
{
	return (u32 *)((u8 *)q->ring + off);
}

int wd_ring_alloc(struct wd_queue *q, u32 sq, u32 cq, struct wd_queue_bind *b)
{
	size_t sqe_off = PAGE_SIZE;
	size_t cqe_off = sqe_off + PAGE_ALIGN((size_t)sq * sizeof(struct wd_desc));
	size_t size = cqe_off + PAGE_ALIGN((size_t)cq * sizeof(struct wd_cqe));

	q->ring = wd_vmalloc_user(size);
	if (!q->ring)
		return -ENOMEM;
	q->ring_size = size;
	q->sq_entries = sq;
	q->cq_entries = cq;
	q->sq_head = ring_u32(q, OFF_SQ_HEAD);
	q->sq_tail = ring_u32(q, OFF_SQ_TAIL);
	q->sq_flags = ring_u32(q, OFF_SQ_FLAGS);
	q->sq_dropped = ring_u32(q, OFF_SQ_DROPPED);
	q->cq_head = ring_u32(q, OFF_CQ_HEAD);
	q->cq_tail = ring_u32(q, OFF_CQ_TAIL);
	q->cq_flags = ring_u32(q, OFF_CQ_FLAGS);
	q->cq_dropped = ring_u32(q, OFF_CQ_DROPPED);
	q->sqes = (struct wd_desc *)((u8 *)q->ring + sqe_off);
	q->cqes = (struct wd_cqe *)((u8 *)q->ring + cqe_off);
	*ring_u32(q, OFF_SQ_MASK) = sq - 1;
	*ring_u32(q, OFF_SQ_ENTRIES) = sq;
	*ring_u32(q, OFF_CQ_MASK) = cq - 1;
	*ring_u32(q, OFF_CQ_ENTRIES) = cq;
	/*
	 * Start asleep: the engine wakes on the first doorbell, so a process
	 * that only uses WD_IOCTL_SUBMIT_SYNC never races a polling thread.
	 */
	q->sq_flags_k = WD_RING_NEED_WAKEUP;
	WRITE_ONCE(*q->sq_flags, q->sq_flags_k);

	b->sq_entries = sq;
	b->cq_entries = cq;
	b->ring_mmap_offset = WD_MMAP_RING_OFFSET;
	b->ring_mmap_size = size;
	b->sq_off = (struct wd_ring_offsets){
		.head = OFF_SQ_HEAD, .tail = OFF_SQ_TAIL,
		.ring_mask = OFF_SQ_MASK, .ring_entries = OFF_SQ_ENTRIES,
		.flags = OFF_SQ_FLAGS, .dropped = OFF_SQ_DROPPED,
		.entries = sqe_off,
	};
	b->cq_off = (struct wd_ring_offsets){
		.head = OFF_CQ_HEAD, .tail = OFF_CQ_TAIL,
		.ring_mask = OFF_CQ_MASK, .ring_entries = OFF_CQ_ENTRIES,
		.flags = OFF_CQ_FLAGS, .dropped = OFF_CQ_DROPPED,
		.entries = cqe_off,
	};
	return 0;
}

void wd_ring_free(struct wd_queue *q)
{
	vfree(q->ring);
	q->ring = NULL;
}

/*
 * Zeroed, and charged to the caller's memory cgroup: rings and buffers are
 * user memory in all but name. Not vmalloc_user(), which cannot account;
 * mmap inserts the pages one by one instead of remap_vmalloc_range().
 */
void *wd_vmalloc_user(size_t size)
{
	return __vmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN);
}

/*
 * Whether work in progress for @q should give up now: the queue is closing
 * or being removed, the calling process is dying, or (an engine thread
 * working in the submitter's address space) every user of that address
 * space but us is gone. Engines check it between pieces of a descriptor.
 */
bool wd_queue_should_stop(struct wd_queue *q)
{
	if (READ_ONCE(q->stopping) || fatal_signal_pending(current))
		return true;
	return (current->flags & PF_KTHREAD) && current->mm == q->mm &&
	       atomic_read(&q->mm->mm_users) <= 1;
}
EXPORT_SYMBOL_GPL(wd_queue_should_stop);

void wd_sq_set_flags(struct wd_queue *q, u32 set, u32 clear)
{
	q->sq_flags_k = (q->sq_flags_k | set) & ~clear;
	WRITE_ONCE(*q->sq_flags, q->sq_flags_k);
}
EXPORT_SYMBOL_GPL(wd_sq_set_flags);

/* Called with consume_lock held. */
void wd_queue_break(struct wd_queue *q)
{
	if (!q->broken)
		atomic64_inc(&q->wd->errors);
	q->broken = true;
	wd_sq_set_flags(q, WD_RING_DEAD | WD_RING_NEED_WAKEUP, 0);
	/* cq flags belong to user space, but DEAD must be visible on both. */
	WRITE_ONCE(*q->cq_flags, READ_ONCE(*q->cq_flags) | WD_RING_DEAD);
	wake_up_all(&q->poll_wq);
}

/* True when the SQ holds work (an unlocked hint for the polling thread). */
bool wd_sq_pending(struct wd_queue *q)
{
	return READ_ONCE(*q->sq_tail) != READ_ONCE(q->sq_head_k);
}
EXPORT_SYMBOL_GPL(wd_sq_pending);

/* One READ_ONCE per word: whatever user space does meanwhile, we act on
 * exactly one snapshot and never look at the shared slot again. */
static void wd_desc_copy(struct wd_desc *d, const struct wd_desc *slot)
{
	const u64 *s = (const u64 *)slot;
	u64 *k = (u64 *)d;
	int i;

	for (i = 0; i < sizeof(*d) / sizeof(u64); i++)
		k[i] = READ_ONCE(s[i]);
}

static void wd_cq_post(struct wd_queue *q, const struct wd_cqe *c)
{
	struct wd_cqe *slot = &q->cqes[q->cq_tail_k & (q->cq_entries - 1)];

	WRITE_ONCE(slot->user_data, c->user_data);
	WRITE_ONCE(slot->produced, c->produced);
	WRITE_ONCE(slot->consumed, c->consumed);
	WRITE_ONCE(slot->checksum, c->checksum);
	WRITE_ONCE(slot->needed, c->needed);
	WRITE_ONCE(slot->flags, c->flags);
	/* status last: a poller that sees it sees the whole record */
	smp_store_release(&slot->status, c->status);
	q->cq_tail_k++;
	smp_store_release(q->cq_tail, q->cq_tail_k);
}

void wd_buf_put(struct wd_buf *b)
{
	if (b && refcount_dec_and_test(&b->ref)) {
		vfree(b->vaddr);
		kfree(b);
	}
}

static u32 wd_span_resolve(struct wd_queue *q, struct wd_span *s, u16 handle,
			   u64 addr, u32 len)
{
	struct wd_buf *b;

	s->addr = addr;
	s->len = len;
	s->buf = NULL;
	if (handle) {
		xa_lock(&q->bufs);
		b = xa_load(&q->bufs, handle);
		if (b)
			refcount_inc(&b->ref);
		xa_unlock(&q->bufs);
		if (!b)
			return WD_STATUS_BAD_ADDRESS;
		s->buf = b;
		/* overflow-safe: addr + len <= size */
		if (addr > b->size || len > b->size - addr)
			return WD_STATUS_BAD_ADDRESS;
		return WD_STATUS_OK;
	}
	if (!len)
		return WD_STATUS_OK;
	if (!q->sva)
		return WD_STATUS_BAD_ADDRESS;
	if (addr + len < addr || !access_ok((void __user *)(uintptr_t)addr, len))
		return WD_STATUS_BAD_ADDRESS;
	return WD_STATUS_OK;
}

static void wd_req_release(struct wd_req *r)
{
	wd_buf_put(r->src.buf);
	wd_buf_put(r->dst.buf);
	wd_buf_put(r->aux.buf);
	r->src.buf = r->dst.buf = r->aux.buf = NULL;
}

static bool wd_alg_ok(u8 op, u8 alg)
{
	switch (op) {
	case WD_OP_NOP:
	case WD_OP_STREAM_FREE:
		return true;
	case WD_OP_COMPRESS:
	case WD_OP_DECOMPRESS:
		return alg >= WD_ALG_DEFLATE_RAW && alg <= WD_ALG_GZIP;
	case WD_OP_ENCRYPT:
	case WD_OP_DECRYPT:
		return (alg >= WD_ALG_AES_GCM && alg <= WD_ALG_AES_CBC) ||
		       alg == WD_ALG_CHACHA20_POLY1305;
	case WD_OP_HASH:
		return alg >= WD_ALG_SHA1 && alg <= WD_ALG_HMAC_SHA512;
	}
	return false;
}

/*
 * Everything about a descriptor that does not need the engine: the same rules
 * for every mode, so a validated device and a polled one reject alike.
 */
static u32 wd_req_validate(struct wd_queue *q, struct wd_req *r)
{
	const struct wd_desc *d = &r->d;
	u32 st;

	if (d->resv0 || d->resv1 || (d->flags & ~WD_DESC_F_KNOWN))
		return WD_STATUS_INVALID_FLAGS;
	if (d->opcode > WD_OP_MAX)
		return WD_STATUS_INVALID_OPCODE;
	/* before BIT_ULL(alg): a shift past 63 is undefined */
	if (d->alg > WD_ALG_MAX || !wd_alg_ok(d->opcode, d->alg))
		return WD_STATUS_INVALID_ALG;
	if (!(q->wd->ops->algorithms & BIT_ULL(d->alg)) && d->alg != WD_ALG_NONE)
		return WD_STATUS_INVALID_ALG;
	if (d->opcode == WD_OP_COMPRESS && d->level > 9)
		return WD_STATUS_INVALID_FLAGS;
	if (((d->flags & WD_DESC_F_STREAM) || d->opcode == WD_OP_STREAM_FREE) &&
	    d->stream_id >= WD_MAX_STREAMS)
		return WD_STATUS_BAD_STREAM;
	if (d->src_len > WD_MAX_REQUEST_BYTES || d->dst_len > WD_MAX_REQUEST_BYTES ||
	    d->iv_len > WD_MAX_IV_BYTES || d->tag_len > WD_MAX_TAG_BYTES ||
	    d->aad_len > WD_MAX_AAD_BYTES)
		return WD_STATUS_INVALID_LENGTH;
	/* u32 is enough: 255 + 64 + 1 MiB + 16 */
	r->aux_need = (u32)d->key_len + d->iv_len + d->aad_len + d->tag_len;

	st = wd_span_resolve(q, &r->src, d->src_buf, d->src_addr, d->src_len);
	if (!st)
		st = wd_span_resolve(q, &r->dst, d->dst_buf, d->dst_addr, d->dst_len);
	if (!st)
		st = wd_span_resolve(q, &r->aux, d->aux_buf, d->aux_addr, r->aux_need);
	return st;
}

/* Copies go in pieces, so a 64 MiB span neither hogs the CPU nor outlives a kill. */
#define WD_COPY_CHUNK	(1U << 20)

int wd_span_read(struct wd_queue *q, const struct wd_span *s, u32 off,
		 void *dst, u32 len)
{
	u32 done, n;

	if (!len)
		return 0;
	if (off > s->len || len > s->len - off)
		return WD_STATUS_INTERNAL;
	for (done = 0; done < len; done += n) {
		n = min(len - done, WD_COPY_CHUNK);
		if (done) {
			if (wd_queue_should_stop(q))
				return WD_STATUS_CANCELLED;
			cond_resched();
		}
		if (s->buf)
			memcpy((u8 *)dst + done, (u8 *)s->buf->vaddr + s->addr + off + done, n);
		else if (copy_from_user((u8 *)dst + done,
					(const void __user *)(uintptr_t)(s->addr + off + done), n))
			return WD_STATUS_BAD_ADDRESS;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(wd_span_read);

int wd_span_write(struct wd_queue *q, const struct wd_span *s, u32 off,
		  const void *src, u32 len)
{
	u32 done, n;

	if (!len)
		return 0;
	if (off > s->len || len > s->len - off)
		return WD_STATUS_INTERNAL;
	for (done = 0; done < len; done += n) {
		n = min(len - done, WD_COPY_CHUNK);
		if (done) {
			if (wd_queue_should_stop(q))
				return WD_STATUS_CANCELLED;
			cond_resched();
		}
		if (s->buf)
			memcpy((u8 *)s->buf->vaddr + s->addr + off + done, (const u8 *)src + done, n);
		else if (copy_to_user((void __user *)(uintptr_t)(s->addr + off + done),
				      (const u8 *)src + done, n))
			return WD_STATUS_BAD_ADDRESS;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(wd_span_write);

/*
 * Take up to @budget descriptors and complete each one. Returns how many were
 * taken, or -EIO when the queue is broken. The caller provides the address
 * space for SVA (the submitting thread, or the engine under kthread_use_mm).
 */
int wd_queue_process(struct wd_queue *q, unsigned int budget)
{
	struct wd_device *wd = q->wd;
	u32 smask = q->sq_entries - 1;
	struct mem_cgroup *old_memcg;
	unsigned int done = 0;
	int ret = 0;

	mutex_lock(&q->consume_lock);
	/* what the engine allocates for this queue is the opener's */
	old_memcg = set_active_memcg(q->memcg);
	q->cq_stalled = false;
	while (done < budget) {
		struct wd_req r = {};
		struct wd_cqe c = {};
		u32 tail, cq_head;

		if (q->broken) {
			ret = -EIO;
			break;
		}
		/*
		 * Closing or killed: leave the rest in the SQ rather than make
		 * exit wait for a whole batch of large requests.
		 */
		if (wd_queue_should_stop(q))
			break;
		tail = smp_load_acquire(q->sq_tail);
		if (tail - q->sq_head_k > q->sq_entries) {
			wd_queue_break(q);
			ret = -EIO;
			break;
		}
		if (tail == q->sq_head_k)
			break;
		cq_head = smp_load_acquire(q->cq_head);
		if (q->cq_tail_k - cq_head > q->cq_entries) {
			wd_queue_break(q);
			ret = -EIO;
			break;
		}
		if (q->cq_tail_k + q->cq_reserved - cq_head >= q->cq_entries) {
			/* never drop a completion: wait for user space */
			q->cq_stalled = true;
			break;
		}
		wd_desc_copy(&r.d, &q->sqes[q->sq_head_k & smask]);
		q->sq_head_k++;
		smp_store_release(q->sq_head, q->sq_head_k);
		atomic_inc(&wd->inflight);

		c.user_data = r.d.user_data;
		c.status = wd_req_validate(q, &r);
		if (c.status) {
			atomic64_inc(&wd->rejected);
			WRITE_ONCE(*q->sq_dropped, ++q->sq_dropped_k);
		} else if (wd->ops->execute) {
			wd->ops->execute(q, &r, &c);
		} else {
			c.status = WD_STATUS_INTERNAL;	/* refused at create */
		}
		wd_req_release(&r);

		atomic64_inc(&wd->requests);
		if (c.status)
			atomic64_inc(&wd->errors);
		atomic64_add(c.consumed, &wd->bytes_in);
		atomic64_add(c.produced, &wd->bytes_out);
		wd_cq_post(q, &c);
		atomic_dec(&wd->inflight);
		done++;
		if (!(done & 15))
			cond_resched();
	}
	set_active_memcg(old_memcg);
	mutex_unlock(&q->consume_lock);
	/* pairs with the barrier of a poller that sets CQ NEED_WAKEUP */
	if (done && wq_has_sleeper(&q->poll_wq))
		wake_up_interruptible(&q->poll_wq);
	return ret ? ret : done;
}
EXPORT_SYMBOL_GPL(wd_queue_process);

/* Count and post one completion; consume_lock held. */
static void wd_finish(struct wd_queue *q, struct wd_req *r, struct wd_cqe *c)
{
	struct wd_device *wd = q->wd;

	wd_req_release(r);
	atomic64_inc(&wd->requests);
	if (c->status)
		atomic64_inc(&wd->errors);
	atomic64_add(c->consumed, &wd->bytes_in);
	atomic64_add(c->produced, &wd->bytes_out);
	wd_cq_post(q, c);
}

/*
 * For a driver without ->execute: take the next descriptor, copied once and
 * validated, into @r (r->d.user_data identifies it). Returns 1 with a
 * request the driver now owns and must hand back through
 * wd_queue_complete(), exactly once, before its ->queue_stop returns; 0
 * when the SQ is empty, the queue is stopping, or the CQ has no room for
 * one more completion (each request taken reserves one); -EIO when the
 * queue is broken. Refused descriptors complete here and are skipped.
 * Process context (takes consume_lock).
 */
int wd_queue_take(struct wd_queue *q, struct wd_req *r)
{
	u32 smask = q->sq_entries - 1;
	int ret = 0;

	mutex_lock(&q->consume_lock);
	for (;;) {
		struct wd_cqe c = {};
		u32 tail, cq_head;

		memset(r, 0, sizeof(*r));
		if (q->broken) {
			ret = -EIO;
			break;
		}
		if (READ_ONCE(q->stopping))
			break;
		tail = smp_load_acquire(q->sq_tail);
		cq_head = smp_load_acquire(q->cq_head);
		if (tail - q->sq_head_k > q->sq_entries ||
		    q->cq_tail_k - cq_head > q->cq_entries) {
			wd_queue_break(q);
			ret = -EIO;
			break;
		}
		if (tail == q->sq_head_k)
			break;
		if (q->cq_tail_k + q->cq_reserved - cq_head >= q->cq_entries) {
			q->cq_stalled = true;
			break;
		}
		wd_desc_copy(&r->d, &q->sqes[q->sq_head_k & smask]);
		q->sq_head_k++;
		smp_store_release(q->sq_head, q->sq_head_k);
		c.user_data = r->d.user_data;
		c.status = wd_req_validate(q, r);
		if (c.status) {
			atomic64_inc(&q->wd->rejected);
			WRITE_ONCE(*q->sq_dropped, ++q->sq_dropped_k);
			wd_finish(q, r, &c);
			continue;
		}
		q->cq_reserved++;
		atomic_inc(&q->wd->inflight);
		ret = 1;
		break;
	}
	mutex_unlock(&q->consume_lock);
	if (!ret && wq_has_sleeper(&q->poll_wq))
		wake_up_interruptible(&q->poll_wq);
	return ret;
}
EXPORT_SYMBOL_GPL(wd_queue_take);

/*
 * Hand back a request wd_queue_take() gave out, with its completion (status,
 * produced, consumed, ...; user_data is filled in here). Process context.
 */
void wd_queue_complete(struct wd_queue *q, struct wd_req *r, struct wd_cqe *c)
{
	mutex_lock(&q->consume_lock);
	c->user_data = r->d.user_data;
	q->cq_reserved--;
	atomic_dec(&q->wd->inflight);
	wd_finish(q, r, c);
	mutex_unlock(&q->consume_lock);
	wake_up_interruptible(&q->poll_wq);
}
EXPORT_SYMBOL_GPL(wd_queue_complete);

/*
 * The device is going away under a live process: complete what is still in
 * the SQ as cancelled, as far as the CQ has room, so a waiter is not left
 * hanging on requests that will never run. Called with consume_lock held.
 */
void wd_queue_cancel_pending(struct wd_queue *q)
{
	u32 tail = smp_load_acquire(q->sq_tail);
	u32 n = tail - q->sq_head_k;

	if (q->broken || n > q->sq_entries)
		return;
	while (n--) {
		struct wd_cqe c = {};
		u32 cq_head = smp_load_acquire(q->cq_head);

		if (q->cq_tail_k - cq_head >= q->cq_entries)
			break;
		c.user_data = READ_ONCE(q->sqes[q->sq_head_k & (q->sq_entries - 1)].user_data);
		c.status = WD_STATUS_CANCELLED;
		q->sq_head_k++;
		smp_store_release(q->sq_head, q->sq_head_k);
		wd_cq_post(q, &c);
	}
}
