// SPDX-License-Identifier: GPL-2.0
/*
 * "async-test": a second, minimal driver that proves the framework's driver
 * contract on the paths the soft engine does not take. It has no ->execute:
 * the doorbell queues work that takes descriptors with wd_queue_take(), and
 * a delayed work item completes them a jiffy later with wd_queue_complete(),
 * out of the submitter's context, as a hardware interrupt handler's bottom
 * half would. It runs NOPs only (algorithms 0): the framework refuses
 * everything else before the driver sees it. Guest tests only; device
 * "async0".
 */
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "wd_internal.h"

#define WD_TQ_HELD	16

static unsigned int stop_ms;
module_param(stop_ms, uint, 0644);
MODULE_PARM_DESC(stop_ms, "how long stopping a bound queue takes (a device slow to quiesce)");

struct wd_tq {
	struct wd_queue *q;
	struct mutex lock;		/* held[], n, stopping */
	struct work_struct take;
	struct delayed_work finish;
	bool stopping;
	unsigned int n;
	struct wd_req held[WD_TQ_HELD];
};

static void wd_tq_take(struct work_struct *w)
{
	struct wd_tq *tq = container_of(w, struct wd_tq, take);

	mutex_lock(&tq->lock);
	while (!tq->stopping && tq->n < WD_TQ_HELD &&
	       wd_queue_take(tq->q, &tq->held[tq->n]) == 1)
		tq->n++;
	if (tq->n && !tq->stopping)
		schedule_delayed_work(&tq->finish, 1);
	mutex_unlock(&tq->lock);
}

/* Complete everything held with @status. tq->lock held. */
static void wd_tq_complete_all(struct wd_tq *tq, u32 status)
{
	unsigned int i;

	for (i = 0; i < tq->n; i++) {
		struct wd_cqe c = { .status = status };

		wd_queue_complete(tq->q, &tq->held[i], &c);
	}
	tq->n = 0;
}

static void wd_tq_finish(struct work_struct *w)
{
	struct wd_tq *tq = container_of(to_delayed_work(w), struct wd_tq, finish);

	mutex_lock(&tq->lock);
	if (!tq->stopping) {
		wd_tq_complete_all(tq, WD_STATUS_OK);
		/* more may have come, or waited for CQ room */
		if (wd_sq_pending(tq->q))
			schedule_work(&tq->take);
	}
	mutex_unlock(&tq->lock);
}

static int wd_tq_start(struct wd_queue *q)
{
	struct wd_tq *tq = kzalloc(sizeof(*tq), GFP_KERNEL_ACCOUNT);

	if (!tq)
		return -ENOMEM;
	tq->q = q;
	mutex_init(&tq->lock);
	INIT_WORK(&tq->take, wd_tq_take);
	INIT_DELAYED_WORK(&tq->finish, wd_tq_finish);
	q->engine = tq;
	return 0;
}

/* After this returns no work item runs and every taken request completed. */
static void wd_tq_stop(struct wd_queue *q)
{
	struct wd_tq *tq = q->engine;

	if (!tq)
		return;
	mutex_lock(&tq->lock);
	tq->stopping = true;		/* nothing schedules anything from here */
	mutex_unlock(&tq->lock);
	cancel_work_sync(&tq->take);
	cancel_delayed_work_sync(&tq->finish);
	mutex_lock(&tq->lock);
	wd_tq_complete_all(tq, WD_STATUS_CANCELLED);
	mutex_unlock(&tq->lock);
	if (READ_ONCE(stop_ms))
		msleep(READ_ONCE(stop_ms));
}

static void wd_tq_release(struct wd_queue *q)
{
	kfree(q->engine);
	q->engine = NULL;
}

static void wd_tq_doorbell(struct wd_queue *q)
{
	struct wd_tq *tq = q->engine;

	mutex_lock(&tq->lock);
	if (!tq->stopping)
		schedule_work(&tq->take);
	mutex_unlock(&tq->lock);
}

static const struct wd_engine_ops wd_tq_ops = {
	.owner = THIS_MODULE,
	.driver = "async-test",
	.algorithms = 0,
	.features = 0,
	.queue_start = wd_tq_start,
	.queue_stop = wd_tq_stop,
	.queue_release = wd_tq_release,
	.doorbell = wd_tq_doorbell,
	/* no .execute: this driver consumes its rings itself */
};

static struct wd_device *wd_tq_dev;

static int __init wd_tq_init(void)
{
	wd_tq_dev = wd_device_create(&wd_tq_ops, "async0", false, 8, NULL);
	return PTR_ERR_OR_ZERO(wd_tq_dev);
}

static void __exit wd_tq_exit(void)
{
	wd_device_remove(wd_tq_dev);
	wd_device_put(wd_tq_dev);
}

module_init(wd_tq_init);
module_exit(wd_tq_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("WarpDrive async-test: a driver without ->execute that completes from a workqueue (tests only)");
