/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The WarpDrive driver interface: what warpdrive.ko (wd_core.c, wd_ring.c)
 * exports to the modules that drive engines (warpdrive_soft.ko, the test
 * driver warpdrive_test.ko, a hardware driver). The contract is in
 * docs/kmod.md ("Writing a driver").
 */
#ifndef _WD_INTERNAL_H
#define _WD_INTERNAL_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/wait.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>
#include <linux/version.h>
#include <uapi/warpdrive.h>

#define WD_DRV_NAME		"warpdrive"
#define WD_MAX_DEVICES		64
/* Buffer N is mapped at WD_MMAP_BUFFER_BASE + N * WD_BUF_SPAN. */
#define WD_BUF_SPAN		(1ULL << 30)
#define WD_MAX_BUFFER_BYTES	(256ULL << 20)
#define WD_ALL_ALGS		(GENMASK_ULL(WD_ALG_MAX, 1))
/*
 * The flags this framework's engines serve. Not FULL_FLUSH or SEGMENT: no
 * engine here offers WD_FEAT_SEGMENTS, and descriptors carrying either fail
 * with WD_STATUS_INVALID_FLAGS.
 */
#define WD_DESC_F_KNOWN		(WD_DESC_F_STREAM | WD_DESC_F_FIRST | \
				 WD_DESC_F_LAST | WD_DESC_F_SYNC_FLUSH | \
				 WD_DESC_F_NO_PADDING)

struct wd_queue;
struct wd_req;

/*
 * What an engine plugs into the framework. The framework owns the char
 * device, contexts, rings, buffers, mmap and validation; the engine owns
 * execution. A hardware driver would implement start/stop/doorbell against
 * its queues and leave ->execute NULL.
 */
struct wd_engine_ops {
	struct module *owner;		/* THIS_MODULE: pinned by every open file */
	const char *driver;
	u64 algorithms;		/* 1 << WD_ALG_* */
	u32 features;		/* WD_FEAT_* the engine can offer */
	/* A queue was bound: allocate engine state, start consuming. */
	int (*queue_start)(struct wd_queue *q);
	/* Stop consuming; after return nothing touches the rings. Idempotent. */
	void (*queue_stop)(struct wd_queue *q);
	/* Free what queue_start allocated; the queue is stopped. */
	void (*queue_release)(struct wd_queue *q);
	/* User space rang the doorbell of a polled (non-validated) queue. */
	void (*doorbell)(struct wd_queue *q);
	/*
	 * Run one descriptor that the framework already validated. Optional for
	 * a driver that consumes the rings itself (then ->doorbell is required
	 * and the device cannot be validated). May sleep; long work must be cut
	 * into pieces with cond_resched() and wd_queue_should_stop() between
	 * them (then complete with WD_STATUS_CANCELLED).
	 */
	void (*execute)(struct wd_queue *q, struct wd_req *req, struct wd_cqe *cqe);
};

/* Bound queues per user id, for the per-user limit. */
struct wd_user_slot {
	kuid_t uid;
	u32 n;
};

struct wd_device {
	struct device dev;
	struct cdev cdev;
	const struct wd_engine_ops *ops;
	void *priv;
	/* No address isolation: the kernel validates and runs on the doorbell. */
	bool validated;
	u32 queues_total;
	u32 ring_entries_max;

	struct mutex lock;		/* ctxs, removed */
	struct list_head ctxs;
	bool removed;

	spinlock_t users_lock;
	struct wd_user_slot *users;	/* queues_total entries */

	atomic_t queues_used;
	atomic_t open_contexts;
	atomic_t inflight;
	atomic_t next_qid;
	atomic64_t requests, bytes_in, bytes_out, errors, rejected;
};

struct wd_buf {
	refcount_t ref;
	u32 handle;
	void *vaddr;			/* wd_vmalloc_user */
	u64 size;
	unsigned long charged;		/* pages counted in locked_vm */
	atomic_t mapped;		/* live VMAs */
};

enum wd_qstate { WD_Q_INIT, WD_Q_BOUND, WD_Q_ZOMBIE };

/* One per open file: the context and (once bound) its queue. */
struct wd_queue {
	struct wd_device *wd;
	refcount_t ref;			/* the file, and a removal in progress */
	struct list_head node;		/* in wd->ctxs, or a removal's list */
	struct mutex mutex;		/* state, bind, buffer create/free */
	enum wd_qstate state;
	bool released;			/* file closed: nothing left to kill */
	bool holds_slot;		/* counted in wd->queues_used */
	bool holds_user;		/* counted in wd->users for uid */
	kuid_t uid;
	struct mm_struct *mm;		/* mmgrab()ed opener's mm */
	struct mem_cgroup *memcg;	/* the opener's: engine allocations go there */
	unsigned long ring_charged;	/* ring pages counted in locked_vm */
	struct address_space *mapping;
	u32 qid;
	u32 features;
	bool sva;

	/* Ring: one wd_vmalloc_user area, layout in wd_ring.c. */
	void *ring;
	size_t ring_size;
	u32 sq_entries, cq_entries;
	u32 *sq_head, *sq_tail, *sq_flags, *sq_dropped;
	u32 *cq_head, *cq_tail, *cq_flags, *cq_dropped;
	struct wd_desc *sqes;
	struct wd_cqe *cqes;
	atomic_t ring_mapped;

	/*
	 * Serialises consumers of the SQ (engine thread, doorbell, submit_sync).
	 * The kernel is the only writer of sq head and cq tail; it keeps the true
	 * values here and only ever stores them to the shared page.
	 */
	struct mutex consume_lock;
	u32 sq_head_k, cq_tail_k, sq_flags_k, sq_dropped_k;
	u32 cq_reserved;		/* taken by an async driver, not yet completed */
	bool broken;			/* protocol error or device gone */
	bool stopping;			/* close or removal: take nothing more */
	bool cq_stalled;		/* stopped because the CQ was full */

	wait_queue_head_t poll_wq;
	/*
	 * Zombie only: what a zapped mapping faults in instead of SIGBUS, a
	 * zeroed page whose ring flags say WD_RING_DEAD, so user space learns
	 * the device is gone from the ring it already polls.
	 */
	struct page *dead_page;
	struct xarray bufs;		/* handle -> wd_buf */
	void *engine;			/* engine private */
};

/* A reference from a descriptor, resolved and checked. */
struct wd_span {
	u64 addr;			/* user VA (SVA) or offset in buf */
	u32 len;
	struct wd_buf *buf;		/* NULL: SVA user address */
};

struct wd_req {
	struct wd_desc d;		/* the kernel's only copy */
	struct wd_span src, dst, aux;
	u32 aux_need;			/* key + iv + aad + tag */
};

/* wd_core.c: exported */
struct wd_device *wd_device_create(const struct wd_engine_ops *ops,
				   const char *name, bool validated,
				   u32 queues, void *priv);
void wd_device_remove(struct wd_device *wd);
void wd_device_put(struct wd_device *wd);

/* wd_ring.c */
/* wd_ring.c: framework only */
int wd_ring_alloc(struct wd_queue *q, u32 sq, u32 cq,
		  struct wd_queue_bind *bind);
void wd_ring_free(struct wd_queue *q);
void wd_queue_break(struct wd_queue *q);
void wd_queue_cancel_pending(struct wd_queue *q);
void wd_buf_put(struct wd_buf *b);
void *wd_vmalloc_user(size_t size);

/* wd_ring.c: exported. Synchronous drivers (->execute): */
int wd_queue_process(struct wd_queue *q, unsigned int budget);
bool wd_sq_pending(struct wd_queue *q);
void wd_sq_set_flags(struct wd_queue *q, u32 set, u32 clear);
bool wd_queue_should_stop(struct wd_queue *q);
/* Asynchronous drivers (no ->execute): take, run elsewhere, complete. */
int wd_queue_take(struct wd_queue *q, struct wd_req *r);
void wd_queue_complete(struct wd_queue *q, struct wd_req *r, struct wd_cqe *c);
int wd_span_read(struct wd_queue *q, const struct wd_span *s, u32 off,
		 void *dst, u32 len);
int wd_span_write(struct wd_queue *q, const struct wd_span *s, u32 off,
		  const void *src, u32 len);


#endif
