// SPDX-License-Identifier: GPL-2.0
/*
 * WarpDrive framework: the "warpdrive" class, one char device per engine
 * (/dev/warpdrive/<name>), per-open contexts, queues, buffers and mmap.
 *
 * Why a context needs isolation at all: a queue lets user space hand the
 * engine addresses without a syscall. With SVA the engine reaches them through
 * the submitter's own page tables, so it can touch nothing the process could
 * not touch itself. Without isolation (a device that would DMA to physical
 * addresses) the ring is only a shadow: the kernel copies and checks every
 * descriptor on the doorbell against the context's own buffers before it runs
 * it (WD_FEAT_VALIDATED).
 *
 * Context life cycle, under q->mutex: INIT (open) -> BOUND (BIND_QUEUE) ->
 * ZOMBIE (device removed; everything but close fails with ENODEV). Release
 * frees the context whatever its state.
 */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/uaccess.h>
#include <linux/sched/mm.h>
#include <linux/idr.h>
#include <linux/memcontrol.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include "wd_internal.h"

static unsigned int user_queues = 16;
module_param(user_queues, uint, 0644);
MODULE_PARM_DESC(user_queues, "queues one user may bind per device without CAP_SYS_RESOURCE (0: no limit)");

static dev_t wd_devt;
static DEFINE_IDA(wd_minor_ida);

#define to_wd(d) container_of(d, struct wd_device, dev)

/* ---- sysfs: one value per file ---- */

static const char *const wd_alg_names[WD_ALG_MAX + 1] = {
	[WD_ALG_DEFLATE_RAW] = "deflate-raw", [WD_ALG_ZLIB] = "zlib",
	[WD_ALG_GZIP] = "gzip", [WD_ALG_AES_GCM] = "aes-gcm",
	[WD_ALG_AES_CTR] = "aes-ctr", [WD_ALG_AES_CBC] = "aes-cbc",
	[WD_ALG_SHA1] = "sha1", [WD_ALG_SHA224] = "sha224",
	[WD_ALG_SHA256] = "sha256", [WD_ALG_SHA384] = "sha384",
	[WD_ALG_SHA512] = "sha512", [WD_ALG_HMAC_SHA1] = "hmac-sha1",
	[WD_ALG_HMAC_SHA224] = "hmac-sha224", [WD_ALG_HMAC_SHA256] = "hmac-sha256",
	[WD_ALG_HMAC_SHA384] = "hmac-sha384", [WD_ALG_HMAC_SHA512] = "hmac-sha512",
	[WD_ALG_CHACHA20_POLY1305] = "chacha20-poly1305",
};

static u32 wd_dev_features(struct wd_device *wd)
{
	u32 f = wd->ops->features | WD_FEAT_BUFFERS | WD_FEAT_POLL;

	if (wd->validated)
		f = (f & ~WD_FEAT_SVA) | WD_FEAT_VALIDATED;
	return f;
}

static ssize_t driver_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_wd(dev)->ops->driver);
}
static DEVICE_ATTR_RO(driver);

static ssize_t algorithms_show(struct device *dev, struct device_attribute *a, char *buf)
{
	u64 algs = to_wd(dev)->ops->algorithms;
	int i, n = 0;

	for (i = 1; i <= WD_ALG_MAX; i++)
		if (algs & BIT_ULL(i))
			n += sysfs_emit_at(buf, n, "%s%s", n ? " " : "", wd_alg_names[i]);
	n += sysfs_emit_at(buf, n, "\n");
	return n;
}
static DEVICE_ATTR_RO(algorithms);

static ssize_t flags_show(struct device *dev, struct device_attribute *a, char *buf)
{
	static const char *const names[] = { "sva", "buffers", "validated", "poll", "streams" };
	u32 f = wd_dev_features(to_wd(dev));
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (f & BIT(i))
			n += sysfs_emit_at(buf, n, "%s%s", n ? " " : "", names[i]);
	n += sysfs_emit_at(buf, n, "\n");
	return n;
}
static DEVICE_ATTR_RO(flags);

static ssize_t isolation_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%d\n", !to_wd(dev)->validated);
}
static DEVICE_ATTR_RO(isolation);

#define WD_ATTR_U(name, expr)						\
static ssize_t name##_show(struct device *dev, struct device_attribute *a, char *buf) \
{									\
	struct wd_device *wd = to_wd(dev);				\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static DEVICE_ATTR_RO(name)

WD_ATTR_U(queues_total, wd->queues_total);
WD_ATTR_U(queues_free, wd->queues_total - atomic_read(&wd->queues_used));
WD_ATTR_U(ring_entries_max, wd->ring_entries_max);
/* Traffic counters tell one user about another's requests: root only. */
#define WD_ATTR_ADMIN(name, expr)					\
static ssize_t name##_show(struct device *dev, struct device_attribute *a, char *buf) \
{									\
	struct wd_device *wd = to_wd(dev);				\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static DEVICE_ATTR_ADMIN_RO(name)

WD_ATTR_ADMIN(requests, atomic64_read(&wd->requests));
WD_ATTR_ADMIN(bytes_in, atomic64_read(&wd->bytes_in));
WD_ATTR_ADMIN(bytes_out, atomic64_read(&wd->bytes_out));
WD_ATTR_ADMIN(errors, atomic64_read(&wd->errors));
WD_ATTR_ADMIN(rejected, atomic64_read(&wd->rejected));
WD_ATTR_ADMIN(inflight, atomic_read(&wd->inflight));
WD_ATTR_U(open_contexts, atomic_read(&wd->open_contexts));

static ssize_t abi_version_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%d\n", WD_ABI_VERSION);
}
static DEVICE_ATTR_RO(abi_version);

/* Hot removal, as a hardware driver's unbind would do it. */
static ssize_t remove_store(struct device *dev, struct device_attribute *a,
			    const char *buf, size_t count)
{
	bool v;

	if (kstrtobool(buf, &v) || !v)
		return -EINVAL;
	struct wd_device *wd = to_wd(dev);
	struct module *owner = wd->ops->owner;

	/*
	 * Once the file removed itself nothing waits for this call: hold the
	 * device, the framework and the driver until it is done. Without the
	 * driver's reference, an rmmod of the driver meanwhile would find
	 * wd->removed set, return from its own wd_device_remove() at once and
	 * unload the code this call is still running through wd->ops.
	 */
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
	if (!try_module_get(owner)) {
		module_put(THIS_MODULE);
		return -ENODEV;
	}
	get_device(dev);
	if (device_remove_file_self(dev, a))
		wd_device_remove(wd);
	put_device(dev);
	module_put(owner);
	module_put(THIS_MODULE);
	return count;
}
static DEVICE_ATTR_WO(remove);

static struct attribute *wd_attrs[] = {
	&dev_attr_driver.attr, &dev_attr_algorithms.attr, &dev_attr_flags.attr,
	&dev_attr_isolation.attr, &dev_attr_queues_total.attr,
	&dev_attr_queues_free.attr, &dev_attr_ring_entries_max.attr,
	&dev_attr_abi_version.attr, &dev_attr_requests.attr,
	&dev_attr_bytes_in.attr, &dev_attr_bytes_out.attr, &dev_attr_errors.attr,
	&dev_attr_rejected.attr, &dev_attr_inflight.attr,
	&dev_attr_open_contexts.attr, &dev_attr_remove.attr, NULL,
};
ATTRIBUTE_GROUPS(wd);

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *wd_devnode(const struct device *dev, umode_t *mode)
#else
static char *wd_devnode(struct device *dev, umode_t *mode)
#endif
{
	return kasprintf(GFP_KERNEL, "warpdrive/%s", dev_name(dev));
}

static struct class wd_class = {
	.name = WD_DRV_NAME,
	.devnode = wd_devnode,
	.dev_groups = wd_groups,
};

/* ---- buffers ---- */

static void wd_uncharge(struct wd_queue *q, unsigned long *pages)
{
	/* the opener's mm may be gone already; then nothing is left to fix */
	if (*pages && mmget_not_zero(q->mm)) {
		account_locked_vm(q->mm, *pages, false);
		mmput_async(q->mm);
	}
	*pages = 0;
}

static void wd_buf_uncharge(struct wd_queue *q, struct wd_buf *b)
{
	wd_uncharge(q, &b->charged);
}

static long wd_create_buffer(struct wd_queue *q, struct wd_buffer_create *bc)
{
	struct wd_buf *b;
	u64 size;
	u32 id;
	int ret;

	if (bc->flags || bc->resv[0] || bc->resv[1])
		return -EINVAL;
	if (!bc->size || bc->size > WD_MAX_BUFFER_BYTES)
		return -EINVAL;
	size = PAGE_ALIGN(bc->size);
	b = kzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	refcount_set(&b->ref, 1);
	b->size = size;
	ret = account_locked_vm(q->mm, size >> PAGE_SHIFT, true);
	if (ret)
		goto err_free;
	b->charged = size >> PAGE_SHIFT;
	b->vaddr = wd_vmalloc_user(size);
	if (!b->vaddr) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	ret = xa_alloc(&q->bufs, &id, b, XA_LIMIT(1, WD_MAX_BUFFERS), GFP_KERNEL);
	if (ret)
		goto err_uncharge;
	b->handle = id;
	bc->size = size;
	bc->handle = id;
	bc->mmap_offset = WD_MMAP_BUFFER_BASE + (u64)id * WD_BUF_SPAN;
	return 0;

err_uncharge:
	wd_buf_uncharge(q, b);
err_free:
	vfree(b->vaddr);
	kfree(b);
	return ret == -EBUSY ? -ENOSPC : ret;
}

static long wd_free_buffer(struct wd_queue *q, struct wd_buffer_free *bf)
{
	struct wd_buf *b;

	if (bf->resv)
		return -EINVAL;
	xa_lock(&q->bufs);
	b = xa_load(&q->bufs, bf->handle);
	if (!b) {
		xa_unlock(&q->bufs);
		return -ENOENT;
	}
	if (atomic_read(&b->mapped)) {
		xa_unlock(&q->bufs);
		return -EBUSY;
	}
	__xa_erase(&q->bufs, bf->handle);
	xa_unlock(&q->bufs);
	wd_buf_uncharge(q, b);
	/* a request running right now keeps its own reference */
	wd_buf_put(b);
	return 0;
}

static void wd_free_all_buffers(struct wd_queue *q)
{
	struct wd_buf *b;
	unsigned long i;

	xa_for_each(&q->bufs, i, b) {
		xa_erase(&q->bufs, i);
		wd_buf_uncharge(q, b);
		wd_buf_put(b);
	}
	xa_destroy(&q->bufs);
}

/* ---- bind ---- */

/* Count a bound queue against its user; false when the user has its share. */
static bool wd_user_get(struct wd_device *wd, kuid_t uid)
{
	unsigned int limit = READ_ONCE(user_queues);
	int i, slot = -1;
	bool ok = false;

	spin_lock(&wd->users_lock);
	for (i = 0; i < wd->queues_total; i++) {
		if (wd->users[i].n && uid_eq(wd->users[i].uid, uid)) {
			slot = i;
			break;
		}
		if (!wd->users[i].n && slot < 0)
			slot = i;
	}
	/* a free entry exists: bound queues never outnumber queues_total */
	if (slot >= 0 && (!limit || wd->users[slot].n < limit)) {
		wd->users[slot].uid = uid;
		wd->users[slot].n++;
		ok = true;
	}
	spin_unlock(&wd->users_lock);
	return ok;
}

static void wd_user_put(struct wd_device *wd, kuid_t uid)
{
	int i;

	spin_lock(&wd->users_lock);
	for (i = 0; i < wd->queues_total; i++) {
		if (wd->users[i].n && uid_eq(wd->users[i].uid, uid)) {
			wd->users[i].n--;
			break;
		}
	}
	spin_unlock(&wd->users_lock);
}

static long wd_bind(struct wd_queue *q, struct wd_queue_bind *b)
{
	struct wd_device *wd = q->wd;
	u32 devfeat = wd_dev_features(wd);
	u32 sq = b->sq_entries, cq = b->cq_entries;
	bool sva;
	int ret, i;

	if (b->flags & ~(WD_BIND_SVA | WD_BIND_BUFFERS))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(b->resv); i++)
		if (b->resv[i])
			return -EINVAL;
	if ((b->flags & WD_BIND_SVA) && (b->flags & WD_BIND_BUFFERS))
		return -EINVAL;
	if ((b->flags & WD_BIND_SVA) && !(devfeat & WD_FEAT_SVA))
		return -EOPNOTSUPP;
	sva = (b->flags & WD_BIND_SVA) ||
	      (!(b->flags & WD_BIND_BUFFERS) && (devfeat & WD_FEAT_SVA));

	if (!sq)
		sq = WD_DEFAULT_RING_ENTRIES;
	if (!cq)
		cq = 2 * sq;
	if (!is_power_of_2(sq) || sq > wd->ring_entries_max ||
	    cq < sq || cq > 2 * wd->ring_entries_max)
		return -EINVAL;
	cq = roundup_pow_of_two(cq);

	if (q->state != WD_Q_INIT)
		return q->state == WD_Q_ZOMBIE ? -ENODEV : -EBUSY;
	if (atomic_inc_return(&wd->queues_used) > wd->queues_total) {
		atomic_dec(&wd->queues_used);
		return -EBUSY;
	}
	q->holds_slot = true;
	if (!capable(CAP_SYS_RESOURCE)) {
		q->uid = current_euid();
		if (!wd_user_get(wd, q->uid)) {
			ret = -EBUSY;
			goto err_slot;
		}
		q->holds_user = true;
	}

	memset(b, 0, sizeof(*b));
	ret = wd_ring_alloc(q, sq, cq, b);
	if (ret)
		goto err_slot;
	/* the ring is pinned memory the user maps, as buffers are */
	ret = account_locked_vm(q->mm, q->ring_size >> PAGE_SHIFT, true);
	if (ret)
		goto err_ring;
	q->ring_charged = q->ring_size >> PAGE_SHIFT;
	q->sva = sva;
	q->features = devfeat & ~(sva ? 0 : WD_FEAT_SVA);
	q->qid = atomic_inc_return(&wd->next_qid);
	ret = wd->ops->queue_start(q);
	if (ret)
		goto err_ring;
	b->flags = sva ? WD_BIND_SVA : WD_BIND_BUFFERS;
	b->features = q->features;
	b->queue_id = q->qid;
	b->abi_version = WD_ABI_VERSION;
	b->algorithms = wd->ops->algorithms;
	/* mmap() reads the ring geometry after seeing BOUND */
	smp_store_release(&q->state, WD_Q_BOUND);
	return 0;

err_ring:
	wd_uncharge(q, &q->ring_charged);
	wd_ring_free(q);
err_slot:
	atomic_dec(&wd->queues_used);
	q->holds_slot = false;
	if (q->holds_user) {
		wd_user_put(wd, q->uid);
		q->holds_user = false;
	}
	return ret;
}

/* ---- file operations ---- */

static int wd_open(struct inode *inode, struct file *file)
{
	struct wd_device *wd = container_of(inode->i_cdev, struct wd_device, cdev);
	struct wd_queue *q;

	q = kzalloc(sizeof(*q), GFP_KERNEL_ACCOUNT);
	if (!q)
		return -ENOMEM;
	refcount_set(&q->ref, 1);
	mutex_init(&q->mutex);
	mutex_init(&q->consume_lock);
	init_waitqueue_head(&q->poll_wq);
	xa_init_flags(&q->bufs, XA_FLAGS_ALLOC1);
	q->wd = wd;
	q->mm = current->mm;
	mmgrab(q->mm);
	q->memcg = get_mem_cgroup_from_mm(q->mm);
	q->mapping = file->f_mapping;

	mutex_lock(&wd->lock);
	/* the driver's code runs for this file until release: pin its module */
	if (wd->removed || !try_module_get(wd->ops->owner)) {
		mutex_unlock(&wd->lock);
		mem_cgroup_put(q->memcg);
		mmdrop(q->mm);
		kfree(q);
		return -ENODEV;
	}
	get_device(&wd->dev);
	list_add(&q->node, &wd->ctxs);
	atomic_inc(&wd->open_contexts);
	mutex_unlock(&wd->lock);

	file->private_data = q;
	return nonseekable_open(inode, file);
}

/* Stop the engine and give the queue slot back. q->mutex held. */
static void wd_queue_stop(struct wd_queue *q)
{
	WRITE_ONCE(q->stopping, true);
	if (q->state == WD_Q_BOUND)
		q->wd->ops->queue_stop(q);
	if (q->holds_slot) {
		atomic_dec(&q->wd->queues_used);
		q->holds_slot = false;
	}
	if (q->holds_user) {
		wd_user_put(q->wd, q->uid);
		q->holds_user = false;
	}
}

/*
 * Turn a live context into a zombie: the engine stops, what is still queued
 * completes as cancelled, the ring says DEAD, and the user mappings go away.
 * Memory stays until release because the VMAs that were zapped still point
 * at our vm_ops. Called with wd->lock held.
 */
static struct page *wd_dead_page(struct wd_queue *q)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	u8 *base;

	if (!page || !q->ring)
		return page;
	base = page_address(page);
	/* The flags words sit in the ring's first page (see wd_ring.c). */
	if ((u8 *)q->sq_flags - (u8 *)q->ring + sizeof(u32) <= PAGE_SIZE)
		*(u32 *)(base + ((u8 *)q->sq_flags - (u8 *)q->ring)) = WD_RING_DEAD;
	if ((u8 *)q->cq_flags - (u8 *)q->ring + sizeof(u32) <= PAGE_SIZE)
		*(u32 *)(base + ((u8 *)q->cq_flags - (u8 *)q->ring)) = WD_RING_DEAD;
	return page;
}

static void wd_queue_kill(struct wd_queue *q)
{
	bool bound, locked;

	mutex_lock(&q->mutex);
	if (q->released) {
		mutex_unlock(&q->mutex);
		return;
	}
	bound = q->state == WD_Q_BOUND;
	/* buffers can be mapped before bind: they need it too */
	if (!q->dead_page)
		q->dead_page = wd_dead_page(q);
	wd_queue_stop(q);
	if (bound) {
		mutex_lock(&q->consume_lock);
		wd_queue_cancel_pending(q);
		wd_queue_break(q);
		mutex_unlock(&q->consume_lock);
	}
	/*
	 * Only the opener's mm can map the context (see wd_mmap), and mmap()
	 * runs under its mmap_lock: with that lock held here, a racing mmap
	 * either sees ZOMBIE or is fully linked before the unmap below.
	 */
	locked = mmget_not_zero(q->mm);
	if (locked)
		mmap_write_lock(q->mm);
	WRITE_ONCE(q->state, WD_Q_ZOMBIE);
	if (locked) {
		mmap_write_unlock(q->mm);
		mmput_async(q->mm);
	}
	mutex_unlock(&q->mutex);
	wake_up_all(&q->poll_wq);
	unmap_mapping_range(q->mapping, 0, 0, 1);
}

static void wd_queue_put(struct wd_queue *q)
{
	if (refcount_dec_and_test(&q->ref))
		kfree(q);
}

static int wd_release(struct inode *inode, struct file *file)
{
	struct wd_queue *q = file->private_data;
	struct wd_device *wd = q->wd;
	struct module *owner = wd->ops->owner;

	mutex_lock(&wd->lock);
	list_del_init(&q->node);
	mutex_unlock(&wd->lock);

	mutex_lock(&q->mutex);
	q->released = true;
	wd_queue_stop(q);
	if (q->engine)
		wd->ops->queue_release(q);
	wd_free_all_buffers(q);
	wd_uncharge(q, &q->ring_charged);
	wd_ring_free(q);
	mutex_unlock(&q->mutex);
	if (q->dead_page)
		put_page(q->dead_page);

	mem_cgroup_put(q->memcg);
	mmdrop(q->mm);
	atomic_dec(&wd->open_contexts);
	/* a removal may still hold the context, never the device */
	wd_queue_put(q);
	put_device(&wd->dev);
	module_put(owner);
	return 0;
}

static long wd_info(struct wd_device *wd, struct wd_device_info *i)
{
	memset(i, 0, sizeof(*i));
	strscpy(i->name, dev_name(&wd->dev), sizeof(i->name));
	strscpy(i->driver, wd->ops->driver, sizeof(i->driver));
	i->algorithms = wd->ops->algorithms;
	i->features = wd_dev_features(wd);
	i->abi_version = WD_ABI_VERSION;
	i->queues_total = wd->queues_total;
	i->queues_free = wd->queues_total - atomic_read(&wd->queues_used);
	i->max_ring_entries = wd->ring_entries_max;
	return 0;
}

/* Doorbell and submit_sync: take the SQ in the calling thread. */
static long wd_run_here(struct wd_queue *q)
{
	if (q->sva && current->mm != q->mm)
		return -EPERM;
	if (!q->wd->ops->execute)
		return -EOPNOTSUPP;	/* the driver consumes the rings itself */
	return wd_queue_process(q, q->sq_entries);
}

static long wd_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct wd_queue *q = file->private_data;
	void __user *uarg = (void __user *)arg;
	union {
		struct wd_device_info info;
		struct wd_queue_bind bind;
		struct wd_buffer_create bc;
		struct wd_buffer_free bf;
	} u;
	long ret;

	/*
	 * Copies happen outside q->mutex: a fault under it would take
	 * mmap_lock, which mmap() holds before it looks at the context.
	 */
	switch (cmd) {
	case WD_IOCTL_BIND_QUEUE:
		if (copy_from_user(&u.bind, uarg, sizeof(u.bind)))
			return -EFAULT;
		break;
	case WD_IOCTL_CREATE_BUFFER:
		if (copy_from_user(&u.bc, uarg, sizeof(u.bc)))
			return -EFAULT;
		break;
	case WD_IOCTL_FREE_BUFFER:
		if (copy_from_user(&u.bf, uarg, sizeof(u.bf)))
			return -EFAULT;
		break;
	case WD_IOCTL_INFO:
	case WD_IOCTL_DOORBELL:
	case WD_IOCTL_SUBMIT_SYNC:
		break;
	default:
		return -ENOTTY;
	}

	mutex_lock(&q->mutex);
	if (q->state == WD_Q_ZOMBIE) {
		ret = -ENODEV;
		goto out;
	}
	if (cmd != WD_IOCTL_INFO && current->mm != q->mm) {
		/* a context belongs to the address space that opened it */
		ret = -EPERM;
		goto out;
	}
	switch (cmd) {
	case WD_IOCTL_INFO:
		ret = wd_info(q->wd, &u.info);
		break;
	case WD_IOCTL_BIND_QUEUE:
		ret = wd_bind(q, &u.bind);
		break;
	case WD_IOCTL_CREATE_BUFFER:
		ret = wd_create_buffer(q, &u.bc);
		break;
	case WD_IOCTL_FREE_BUFFER:
		ret = wd_free_buffer(q, &u.bf);
		break;
	case WD_IOCTL_DOORBELL:
		if (q->state != WD_Q_BOUND) {
			ret = -EINVAL;
		} else if (q->broken) {
			ret = -EIO;
		} else if (q->wd->validated || !q->wd->ops->doorbell) {
			ret = wd_run_here(q);
		} else {
			q->wd->ops->doorbell(q);
			ret = 0;
		}
		break;
	case WD_IOCTL_SUBMIT_SYNC:
		if (q->state != WD_Q_BOUND)
			ret = -EINVAL;
		else
			ret = wd_run_here(q);
		break;
	default:
		ret = -ENOTTY;
	}
out:
	mutex_unlock(&q->mutex);
	if (ret < 0)
		return ret;

	switch (cmd) {
	case WD_IOCTL_INFO:
		if (copy_to_user(uarg, &u.info, sizeof(u.info)))
			return -EFAULT;
		break;
	case WD_IOCTL_BIND_QUEUE:
		if (copy_to_user(uarg, &u.bind, sizeof(u.bind)))
			return -EFAULT;
		break;
	case WD_IOCTL_CREATE_BUFFER:
		/* the buffer stays; the caller can still free it by handle */
		if (copy_to_user(uarg, &u.bc, sizeof(u.bc)))
			return -EFAULT;
		break;
	}
	return ret;
}

static __poll_t wd_poll(struct file *file, poll_table *wait)
{
	struct wd_queue *q = file->private_data;

	poll_wait(file, &q->poll_wq, wait);
	if (READ_ONCE(q->state) == WD_Q_ZOMBIE || READ_ONCE(q->broken))
		return EPOLLERR | EPOLLHUP;
	if (READ_ONCE(q->state) != WD_Q_BOUND)
		return 0;
	if (READ_ONCE(q->cq_tail_k) != READ_ONCE(*q->cq_head))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

/* ---- mmap: the ring at 0, buffer N at BASE + N * SPAN, exact sizes ---- */

static void wd_vm_open(struct vm_area_struct *vma)
{
	atomic_inc((atomic_t *)vma->vm_private_data);
}

static void wd_vm_close(struct vm_area_struct *vma)
{
	atomic_dec((atomic_t *)vma->vm_private_data);
}

/*
 * Only reached after removal zapped the mappings (live mappings are fully
 * populated at mmap time). Every page of a zombie's mapping then reads as the
 * dead page: the ring header says WD_RING_DEAD, everything else is zero, and
 * nothing of the freed ring or buffers is reachable.
 */
static vm_fault_t wd_vm_fault(struct vm_fault *vmf)
{
	struct wd_queue *q = vmf->vma->vm_file->private_data;

	if (READ_ONCE(q->state) != WD_Q_ZOMBIE || !q->dead_page)
		return VM_FAULT_SIGBUS;
	return vmf_insert_page(vmf->vma, vmf->address, q->dead_page);
}

static const struct vm_operations_struct wd_vm_ops = {
	.open = wd_vm_open,
	.close = wd_vm_close,
	.fault = wd_vm_fault,
};

/* What remap_vmalloc_range() does, for memory that is not VM_USERMAP. */
static int wd_map_pages(struct vm_area_struct *vma, void *vaddr, unsigned long size)
{
	unsigned long off;
	int ret;

	for (off = 0; off < size; off += PAGE_SIZE) {
		ret = vm_insert_page(vma, vma->vm_start + off,
				     vmalloc_to_page((u8 *)vaddr + off));
		if (ret)
			return ret;
		if (!(off & (511 * PAGE_SIZE)))
			cond_resched();
	}
	return 0;
}

static int wd_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct wd_queue *q = file->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	atomic_t *mapped;
	struct wd_buf *b = NULL;
	void *vaddr;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/*
	 * Like the ioctls: a context's memory belongs to the address space
	 * that opened it, not to a forked child or an SCM_RIGHTS receiver.
	 */
	if (current->mm != q->mm)
		return -EPERM;
	if (READ_ONCE(q->state) == WD_Q_ZOMBIE)
		return -ENODEV;

	if (off == WD_MMAP_RING_OFFSET) {
		/* ring and its size are set once at bind and live until release */
		if (smp_load_acquire(&q->state) != WD_Q_BOUND)
			return -EINVAL;
		if (size != q->ring_size)
			return -EINVAL;
		mapped = &q->ring_mapped;
		if (atomic_cmpxchg(mapped, 0, 1) != 0)
			return -EBUSY;
		vaddr = q->ring;
	} else {
		u64 rel, handle;

		if (off < WD_MMAP_BUFFER_BASE)
			return -EINVAL;
		rel = off - WD_MMAP_BUFFER_BASE;
		if (rel % WD_BUF_SPAN)
			return -EINVAL;
		handle = rel / WD_BUF_SPAN;
		if (!handle || handle > WD_MAX_BUFFERS)
			return -EINVAL;
		xa_lock(&q->bufs);
		b = xa_load(&q->bufs, handle);
		if (!b)
			ret = -ENOENT;
		else if (size != b->size)
			ret = -EINVAL;
		else if (atomic_cmpxchg(&b->mapped, 0, 1) != 0)
			ret = -EBUSY;
		else
			ret = 0;
		if (ret)
			b = NULL;
		else
			refcount_inc(&b->ref);
		xa_unlock(&q->bufs);
		if (ret)
			return ret;
		mapped = &b->mapped;
		vaddr = b->vaddr;
	}

	vma->vm_private_data = mapped;
	vma->vm_ops = &wd_vm_ops;
	/*
	 * VM_DONTCOPY: a fork never shares the mapping. VM_IO makes that
	 * stick: madvise(MADV_DOFORK) refuses VM_IO mappings.
	 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_IO | VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_IO | VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	ret = wd_map_pages(vma, vaddr, size);
	if (ret)
		atomic_dec(mapped);
	/*
	 * The buffer reference only bridged the lookup; from here the VMA pins
	 * the file, and the file owns the buffer until FREE (refused while
	 * mapped) or release.
	 */
	wd_buf_put(b);
	return ret;
}

static const struct file_operations wd_fops = {
	.owner = THIS_MODULE,
	.open = wd_open,
	.release = wd_release,
	.unlocked_ioctl = wd_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = wd_mmap,
	.poll = wd_poll,
};

/* ---- device registration ---- */

static void wd_dev_release(struct device *dev)
{
	struct wd_device *wd = to_wd(dev);

	ida_free(&wd_minor_ida, MINOR(dev->devt));
	kfree(wd->users);
	kfree(wd);
}

struct wd_device *wd_device_create(const struct wd_engine_ops *ops,
				   const char *name, bool validated,
				   u32 queues, void *priv)
{
	struct wd_device *wd;
	int minor, ret;

	/* a device without ->execute consumes its rings itself */
	if (!ops->execute && (validated || !ops->doorbell))
		return ERR_PTR(-EINVAL);
	if (!queues)
		return ERR_PTR(-EINVAL);
	wd = kzalloc(sizeof(*wd), GFP_KERNEL);
	if (!wd)
		return ERR_PTR(-ENOMEM);
	wd->users = kcalloc(queues, sizeof(*wd->users), GFP_KERNEL);
	if (!wd->users) {
		kfree(wd);
		return ERR_PTR(-ENOMEM);
	}
	spin_lock_init(&wd->users_lock);
	minor = ida_alloc_max(&wd_minor_ida, WD_MAX_DEVICES - 1, GFP_KERNEL);
	if (minor < 0) {
		kfree(wd->users);
		kfree(wd);
		return ERR_PTR(minor);
	}
	wd->ops = ops;
	wd->priv = priv;
	wd->validated = validated;
	wd->queues_total = queues;
	wd->ring_entries_max = WD_MAX_RING_ENTRIES;
	mutex_init(&wd->lock);
	INIT_LIST_HEAD(&wd->ctxs);

	device_initialize(&wd->dev);
	wd->dev.class = &wd_class;
	wd->dev.devt = MKDEV(MAJOR(wd_devt), minor);
	wd->dev.release = wd_dev_release;
	ret = dev_set_name(&wd->dev, "%s", name);
	if (ret)
		goto err_put;
	cdev_init(&wd->cdev, &wd_fops);
	wd->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&wd->cdev, &wd->dev);
	if (ret)
		goto err_put;
	return wd;

err_put:
	put_device(&wd->dev);	/* frees through wd_dev_release */
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(wd_device_create);

/*
 * Remove while in use: no new opens, every context becomes a zombie. Safe
 * to call more than once (sysfs remove, then module exit).
 */
void wd_device_remove(struct wd_device *wd)
{
	struct wd_queue *q;
	LIST_HEAD(dying);

	mutex_lock(&wd->lock);
	if (wd->removed) {
		mutex_unlock(&wd->lock);
		return;
	}
	wd->removed = true;
	cdev_device_del(&wd->cdev, &wd->dev);
	/* everyone stops at once: each engine gives up at its next piece */
	list_for_each_entry(q, &wd->ctxs, node) {
		WRITE_ONCE(q->stopping, true);
		refcount_inc(&q->ref);
	}
	list_splice_init(&wd->ctxs, &dying);
	mutex_unlock(&wd->lock);

	/*
	 * Kill one by one without wd->lock: stopping an engine waits for it,
	 * and a close() of another context must not wait behind that. A
	 * release meanwhile unlinks its context from @dying under wd->lock.
	 */
	for (;;) {
		mutex_lock(&wd->lock);
		q = list_first_entry_or_null(&dying, struct wd_queue, node);
		if (q)
			list_del_init(&q->node);
		mutex_unlock(&wd->lock);
		if (!q)
			break;
		wd_queue_kill(q);
		wd_queue_put(q);
	}
}
EXPORT_SYMBOL_GPL(wd_device_remove);

void wd_device_put(struct wd_device *wd)
{
	put_device(&wd->dev);
}
EXPORT_SYMBOL_GPL(wd_device_put);

static void wd_abi_checks(void)
{
	BUILD_BUG_ON(sizeof(struct wd_desc) != 64);
	BUILD_BUG_ON(sizeof(struct wd_cqe) != 32);
	BUILD_BUG_ON(sizeof(struct wd_ring_offsets) != 32);
	BUILD_BUG_ON(sizeof(struct wd_queue_bind) != 128);
	BUILD_BUG_ON(sizeof(struct wd_buffer_create) != 40);
	BUILD_BUG_ON(sizeof(struct wd_buffer_free) != 8);
	BUILD_BUG_ON(sizeof(struct wd_device_info) != 128);

	BUILD_BUG_ON(offsetof(struct wd_desc, opcode) != 0);
	BUILD_BUG_ON(offsetof(struct wd_desc, alg) != 1);
	BUILD_BUG_ON(offsetof(struct wd_desc, flags) != 2);
	BUILD_BUG_ON(offsetof(struct wd_desc, level) != 3);
	BUILD_BUG_ON(offsetof(struct wd_desc, key_len) != 4);
	BUILD_BUG_ON(offsetof(struct wd_desc, iv_len) != 5);
	BUILD_BUG_ON(offsetof(struct wd_desc, tag_len) != 6);
	BUILD_BUG_ON(offsetof(struct wd_desc, resv0) != 7);
	BUILD_BUG_ON(offsetof(struct wd_desc, aad_len) != 8);
	BUILD_BUG_ON(offsetof(struct wd_desc, stream_id) != 12);
	BUILD_BUG_ON(offsetof(struct wd_desc, user_data) != 16);
	BUILD_BUG_ON(offsetof(struct wd_desc, src_addr) != 24);
	BUILD_BUG_ON(offsetof(struct wd_desc, dst_addr) != 32);
	BUILD_BUG_ON(offsetof(struct wd_desc, aux_addr) != 40);
	BUILD_BUG_ON(offsetof(struct wd_desc, src_len) != 48);
	BUILD_BUG_ON(offsetof(struct wd_desc, dst_len) != 52);
	BUILD_BUG_ON(offsetof(struct wd_desc, src_buf) != 56);
	BUILD_BUG_ON(offsetof(struct wd_desc, dst_buf) != 58);
	BUILD_BUG_ON(offsetof(struct wd_desc, aux_buf) != 60);
	BUILD_BUG_ON(offsetof(struct wd_desc, resv1) != 62);

	BUILD_BUG_ON(offsetof(struct wd_cqe, user_data) != 0);
	BUILD_BUG_ON(offsetof(struct wd_cqe, produced) != 8);
	BUILD_BUG_ON(offsetof(struct wd_cqe, consumed) != 12);
	BUILD_BUG_ON(offsetof(struct wd_cqe, checksum) != 16);
	BUILD_BUG_ON(offsetof(struct wd_cqe, needed) != 20);
	BUILD_BUG_ON(offsetof(struct wd_cqe, flags) != 24);
	BUILD_BUG_ON(offsetof(struct wd_cqe, status) != 28);

	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, head) != 0);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, tail) != 4);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, ring_mask) != 8);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, ring_entries) != 12);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, flags) != 16);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, dropped) != 20);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, entries) != 24);
	BUILD_BUG_ON(offsetof(struct wd_ring_offsets, resv) != 28);

	BUILD_BUG_ON(offsetof(struct wd_queue_bind, sq_entries) != 0);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, cq_entries) != 4);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, flags) != 8);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, features) != 12);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, queue_id) != 16);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, abi_version) != 20);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, ring_mmap_offset) != 24);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, ring_mmap_size) != 32);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, sq_off) != 40);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, cq_off) != 72);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, algorithms) != 104);
	BUILD_BUG_ON(offsetof(struct wd_queue_bind, resv) != 112);

	BUILD_BUG_ON(offsetof(struct wd_buffer_create, size) != 0);
	BUILD_BUG_ON(offsetof(struct wd_buffer_create, mmap_offset) != 8);
	BUILD_BUG_ON(offsetof(struct wd_buffer_create, handle) != 16);
	BUILD_BUG_ON(offsetof(struct wd_buffer_create, flags) != 20);
	BUILD_BUG_ON(offsetof(struct wd_buffer_create, resv) != 24);

	BUILD_BUG_ON(offsetof(struct wd_buffer_free, handle) != 0);
	BUILD_BUG_ON(offsetof(struct wd_buffer_free, resv) != 4);

	BUILD_BUG_ON(offsetof(struct wd_device_info, name) != 0);
	BUILD_BUG_ON(offsetof(struct wd_device_info, driver) != 32);
	BUILD_BUG_ON(offsetof(struct wd_device_info, algorithms) != 64);
	BUILD_BUG_ON(offsetof(struct wd_device_info, features) != 72);
	BUILD_BUG_ON(offsetof(struct wd_device_info, abi_version) != 76);
	BUILD_BUG_ON(offsetof(struct wd_device_info, queues_total) != 80);
	BUILD_BUG_ON(offsetof(struct wd_device_info, queues_free) != 84);
	BUILD_BUG_ON(offsetof(struct wd_device_info, max_ring_entries) != 88);
	BUILD_BUG_ON(offsetof(struct wd_device_info, resv0) != 92);
	BUILD_BUG_ON(offsetof(struct wd_device_info, resv) != 96);

	/* the copy-once loop reads the descriptor as whole u64 words */
	BUILD_BUG_ON(sizeof(struct wd_desc) % sizeof(u64));
	/* every algorithm is a bit of the u64 algorithms masks */
	BUILD_BUG_ON(WD_ALG_MAX >= 64);
	BUILD_BUG_ON(WD_ALG_CHACHA20_POLY1305 != 17);
	/* a buffer's mmap window must hold the largest buffer */
	BUILD_BUG_ON(WD_MAX_BUFFER_BYTES > WD_BUF_SPAN);
}

static int wd_class_init(void)
{
	int ret;

	wd_abi_checks();
	ret = alloc_chrdev_region(&wd_devt, 0, WD_MAX_DEVICES, WD_DRV_NAME);
	if (ret)
		return ret;
	ret = class_register(&wd_class);
	if (ret)
		unregister_chrdev_region(wd_devt, WD_MAX_DEVICES);
	return ret;
}

static void wd_class_exit(void)
{
	class_unregister(&wd_class);
	unregister_chrdev_region(wd_devt, WD_MAX_DEVICES);
}

static int __init wd_init(void)
{
	return wd_class_init();
}

static void __exit wd_exit(void)
{
	wd_class_exit();
}

module_init(wd_init);
module_exit(wd_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("WarpDrive: user-space queues for compression and crypto engines (framework; engines are separate modules)");
