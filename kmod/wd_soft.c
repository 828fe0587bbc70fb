// SPDX-License-Identifier: GPL-2.0
/*
 * "soft": the reference engine. One kernel thread per polled queue consumes
 * the mapped SQ without a syscall from the submitter while there is work (it
 * spins for poll_us after the last descriptor, then sets NEED_WAKEUP and
 * sleeps until the doorbell). A validated device has no thread: the doorbell
 * runs the queue in the caller.
 *
 * Data always goes through kernel bounce buffers: the engine never pins or
 * trusts user pages, a fault is just WD_STATUS_BAD_ADDRESS, and what it
 * checks (a GCM tag, a gzip trailer) is what it then writes out.
 */
#include <linux/module.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/zlib.h>
#include <linux/zutil.h>
#include <linux/crc32.h>
#include <linux/scatterlist.h>
#include <crypto/aead.h>
#include <crypto/skcipher.h>
#include <crypto/hash.h>
#include "wd_internal.h"

static unsigned int devices = 2;
module_param(devices, uint, 0444);
MODULE_PARM_DESC(devices, "soft devices: soft0 isolated (SVA), soft1.. validated (default 2)");
static bool validated;
module_param(validated, bool, 0444);
MODULE_PARM_DESC(validated, "declare every device without isolation (no SVA, kernel-validated doorbell)");
static unsigned int queues = 64;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "queues per device");
static unsigned int poll_us = 200;
module_param(poll_us, uint, 0644);
MODULE_PARM_DESC(poll_us, "how long an idle engine thread keeps polling before it sleeps");
static unsigned int max_streams = 32;
module_param(max_streams, uint, 0644);
MODULE_PARM_DESC(max_streams, "live streams per context");
static unsigned int max_desc_ms;
module_param(max_desc_ms, uint, 0644);
MODULE_PARM_DESC(max_desc_ms, "CPU time one zlib descriptor may take before it is cancelled (ms, 0: no limit)");

#define WD_SCRATCH	(64 * 1024)
#define WD_BATCH	64
/*
 * zlib work per call: level 9 over hostile input runs ~1 MB/s on a slow CPU
 * (and 20x slower under emulation), so a whole 64 MiB descriptor in one
 * call would hold the CPU for a minute. Between pieces: cond_resched() and
 * a look at whether the queue is stopping or the caller dying.
 */
#define WD_ZIN_CHUNK	(16 * 1024)
#define WD_ZOUT_CHUNK	(64 * 1024)

struct wd_zs {
	z_stream zs;
	struct wd_queue *q;		/* whose stop/kill ends a long step */
	u64 deadline;			/* ktime_get_ns() limit, 0: none */
	void *work;
	bool own_work;
	bool deflate;
	u8 alg;
	bool zdone, finished;
	u32 crc, isize;
	/* gzip framing: header to emit / trailer to emit or collect */
	u8 hbuf[10], hpos, hlen;
	u8 tbuf[8], tpos, tlen;
	/* gzip header parser */
	u8 gstate, gflg;
	u16 gcount, xlen, hcrc_in;
	u32 hcrc;
};

struct wd_stream {
	u8 op, alg;
	struct wd_zs *z;
	struct crypto_shash *own_tfm;	/* HMAC: the key lives in the tfm */
	struct shash_desc *desc;
};

struct wd_soft_q {
	struct wd_queue *q;
	struct task_struct *thread;
	wait_queue_head_t wq;
	bool kick;
	/* below: used only under q->consume_lock */
	u8 *scratch;
	void *dwork, *iwork;
	struct crypto_aead *gcm, *chacha;
	struct crypto_skcipher *ctr, *cbc;
	struct crypto_shash *sh[WD_ALG_MAX + 1];
	struct xarray streams;
	unsigned int nstreams;
};

static const char *const wd_hash_names[WD_ALG_MAX + 1] = {
	[WD_ALG_SHA1] = "sha1", [WD_ALG_SHA224] = "sha224",
	[WD_ALG_SHA256] = "sha256", [WD_ALG_SHA384] = "sha384",
	[WD_ALG_SHA512] = "sha512", [WD_ALG_HMAC_SHA1] = "hmac(sha1)",
	[WD_ALG_HMAC_SHA224] = "hmac(sha224)", [WD_ALG_HMAC_SHA256] = "hmac(sha256)",
	[WD_ALG_HMAC_SHA384] = "hmac(sha384)", [WD_ALG_HMAC_SHA512] = "hmac(sha512)",
};

static inline bool wd_is_hmac(u8 alg)
{
	return alg >= WD_ALG_HMAC_SHA1 && alg <= WD_ALG_HMAC_SHA512;
}

static inline u32 wd_crc32(u32 crc, const void *p, size_t len)
{
	return crc32_le(crc ^ ~0U, p, len) ^ ~0U;
}

/* ---- bounce buffers ---- */

static void *wd_alloc(size_t len)
{
	return kvmalloc(max_t(size_t, len, 1), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

/* Read a whole span into kernel memory. */
static u32 wd_fetch(struct wd_queue *q, const struct wd_span *s, void **out)
{
	void *p = wd_alloc(s->len);
	u32 st;

	if (!p)
		return WD_STATUS_NO_MEMORY;
	st = wd_span_read(q, s, 0, p, s->len);
	if (st) {
		kvfree(p);
		return st;
	}
	*out = p;
	return 0;
}

/* An sg table over kvmalloc memory, which may be vmalloc (not contiguous). */
static int wd_sg_build(struct sg_table *sgt, void *buf, size_t len)
{
	struct scatterlist *sg;
	unsigned int n, i;
	size_t off, left = len;
	u8 *p = buf;
	int ret;

	if (!is_vmalloc_addr(buf)) {
		ret = sg_alloc_table(sgt, 1, GFP_KERNEL);
		if (!ret)
			sg_set_buf(sgt->sgl, buf, len);
		return ret;
	}
	n = DIV_ROUND_UP(offset_in_page(buf) + len, PAGE_SIZE);
	ret = sg_alloc_table(sgt, n, GFP_KERNEL);
	if (ret)
		return ret;
	for_each_sg(sgt->sgl, sg, n, i) {
		size_t chunk;

		off = offset_in_page(p);
		chunk = min_t(size_t, PAGE_SIZE - off, left);
		sg_set_page(sg, vmalloc_to_page(p), chunk, off);
		p += chunk;
		left -= chunk;
	}
	return 0;
}

/* ---- streams ---- */

static void wd_zs_free(struct wd_zs *z)
{
	if (!z)
		return;
	if (z->own_work)
		kvfree(z->work);
	kfree(z);
}

static void wd_stream_free(struct wd_stream *s)
{
	if (!s)
		return;
	wd_zs_free(s->z);
	if (s->desc) {
		shash_desc_zero(s->desc);
		kfree(s->desc);
	}
	if (s->own_tfm)
		crypto_free_shash(s->own_tfm);
	kfree(s);
}

static void wd_stream_drop(struct wd_soft_q *sq, u32 id)
{
	struct wd_stream *s = xa_erase(&sq->streams, id);

	if (s) {
		sq->nstreams--;
		wd_stream_free(s);
	}
}

/* ---- zlib: one step of a (possibly one-shot) stream ---- */

enum { GZ_FIXED, GZ_XLEN, GZ_EXTRA, GZ_NAME, GZ_COMMENT, GZ_HCRC, GZ_DONE };

static u8 gz_after(u8 flg, u8 st)
{
	if (st < GZ_XLEN && (flg & 4))
		return GZ_XLEN;
	if (st < GZ_NAME && (flg & 8))
		return GZ_NAME;
	if (st < GZ_COMMENT && (flg & 16))
		return GZ_COMMENT;
	if (st < GZ_HCRC && (flg & 2))
		return GZ_HCRC;
	return GZ_DONE;
}

/* Consume gzip header bytes; works across pieces. */
static u32 gz_header(struct wd_zs *z, const u8 *in, u32 len, u32 *used)
{
	u32 i = 0;

	while (i < len && z->gstate != GZ_DONE) {
		u8 c = in[i++];

		if (z->gstate != GZ_HCRC)
			z->hcrc = wd_crc32(z->hcrc, &c, 1);
		switch (z->gstate) {
		case GZ_FIXED:
			z->hbuf[z->gcount++] = c;
			if (z->gcount < 10)
				break;
			if (z->hbuf[0] != 0x1f || z->hbuf[1] != 0x8b ||
			    z->hbuf[2] != 8 || (z->hbuf[3] & 0xe0))
				return WD_STATUS_DATA_ERROR;
			z->gflg = z->hbuf[3];
			z->gcount = 0;
			z->gstate = gz_after(z->gflg, GZ_FIXED);
			break;
		case GZ_XLEN:
			z->xlen |= (u16)c << (8 * z->gcount);
			if (++z->gcount == 2) {
				z->gcount = 0;
				z->gstate = z->xlen ? GZ_EXTRA : gz_after(z->gflg, GZ_EXTRA);
			}
			break;
		case GZ_EXTRA:
			if (--z->xlen == 0)
				z->gstate = gz_after(z->gflg, GZ_EXTRA);
			break;
		case GZ_NAME:
		case GZ_COMMENT:
			if (!c)
				z->gstate = gz_after(z->gflg, z->gstate);
			break;
		case GZ_HCRC:
			z->hcrc_in |= (u16)c << (8 * z->gcount);
			if (++z->gcount == 2) {
				if (z->hcrc_in != (z->hcrc & 0xffff))
					return WD_STATUS_CHECKSUM_MISMATCH;
				z->gstate = GZ_DONE;
			}
			break;
		}
	}
	*used = i;
	return 0;
}

static u32 wd_zs_init(struct wd_zs *z, bool deflate, u8 alg, u8 level, void *work)
{
	int wbits = alg == WD_ALG_ZLIB ? MAX_WBITS : -MAX_WBITS;

	z->deflate = deflate;
	z->alg = alg;
	z->zs.workspace = work;
	z->work = work;
	if (deflate) {
		if (zlib_deflateInit2(&z->zs, level, Z_DEFLATED, wbits,
				      DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
			return WD_STATUS_INTERNAL;
		if (alg == WD_ALG_GZIP) {
			static const u8 h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
						  0, 3 /* unix */ };
			memcpy(z->hbuf, h, sizeof(h));
			z->hbuf[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
			z->hlen = 10;
		}
	} else {
		if (zlib_inflateInit2(&z->zs, wbits) != Z_OK)
			return WD_STATUS_INTERNAL;
	}
	return 0;
}

static void put_le32(u8 *p, u32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static u32 get_le32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

/* Between two pieces of one step: give the CPU away, and give up if asked. */
static u32 wd_zs_pause(struct wd_zs *z)
{
	if (wd_queue_should_stop(z->q))
		return WD_STATUS_CANCELLED;
	if (z->deadline && ktime_get_ns() > z->deadline)
		return WD_STATUS_CANCELLED;
	cond_resched();
	return 0;
}

static u32 wd_deflate_step(struct wd_zs *z, const u8 *in, u32 in_len, u8 *out,
			   u32 out_len, int flush, u32 *iu, u32 *ou)
{
	u32 i = 0, o = 0, st;
	int ret;

	while (z->hpos < z->hlen && o < out_len)
		out[o++] = z->hbuf[z->hpos++];
	if (z->hpos == z->hlen && !z->zdone) {
		z->zs.next_out = out + o;
		z->zs.avail_out = out_len - o;
		/*
		 * The input in pieces, all but the last with Z_NO_FLUSH: zlib
		 * buffers across calls, so the stream is the one a single call
		 * with @flush would have made.
		 */
		for (;;) {
			u32 piece = min_t(u32, in_len - i, WD_ZIN_CHUNK);
			bool last = i + piece == in_len;
			u32 used;

			z->zs.next_in = in + i;
			z->zs.avail_in = piece;
			ret = zlib_deflate(&z->zs, last ? flush : Z_NO_FLUSH);
			used = piece - z->zs.avail_in;
			if (z->alg != WD_ALG_ZLIB && used)
				z->crc = wd_crc32(z->crc, in + i, used);
			z->isize += used;
			i += used;
			if (ret != Z_OK || last || !z->zs.avail_out)
				break;
			st = wd_zs_pause(z);
			if (st)
				return st;
		}
		o = out_len - z->zs.avail_out;
		if (ret == Z_STREAM_END) {
			z->zdone = true;
			if (z->alg == WD_ALG_GZIP) {
				put_le32(z->tbuf, z->crc);
				put_le32(z->tbuf + 4, z->isize);
				z->tlen = 8;
			}
		} else if (ret == Z_STREAM_ERROR) {
			return WD_STATUS_BAD_STREAM;
		} else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			return WD_STATUS_INTERNAL;
		}
	}
	if (z->zdone) {
		while (z->tpos < z->tlen && o < out_len)
			out[o++] = z->tbuf[z->tpos++];
		z->finished = z->tpos == z->tlen;
	}
	*iu = i;
	*ou = o;
	return 0;
}

static u32 wd_inflate_step(struct wd_zs *z, const u8 *in, u32 in_len, u8 *out,
			   u32 out_len, u32 *iu, u32 *ou)
{
	u32 i = 0, o = 0, used, st;
	int ret;

	if (z->alg == WD_ALG_GZIP && z->gstate != GZ_DONE) {
		st = gz_header(z, in, in_len, &used);
		i += used;
		if (st)
			return st;
	}
	if ((z->alg != WD_ALG_GZIP || z->gstate == GZ_DONE) && !z->zdone) {
		z->zs.next_in = in + i;
		z->zs.avail_in = in_len - i;
		z->zs.next_out = out;
		/*
		 * Keep going while zlib makes progress: with the output exactly
		 * full it still has to read the end-of-block code and trailer.
		 * The output in pieces, with a pause between them.
		 */
		for (;;) {
			u32 room = out_len - (u32)(z->zs.next_out - out);
			u32 ai = z->zs.avail_in, ao;

			z->zs.avail_out = min_t(u32, room, WD_ZOUT_CHUNK);
			ao = z->zs.avail_out;
			ret = zlib_inflate(&z->zs, Z_SYNC_FLUSH);
			if (ret != Z_OK || (ai == z->zs.avail_in && ao == z->zs.avail_out))
				break;
			st = wd_zs_pause(z);
			if (st)
				return st;
		}
		i = in_len - z->zs.avail_in;
		o = (u32)(z->zs.next_out - out);
		if (z->alg != WD_ALG_ZLIB && o)
			z->crc = wd_crc32(z->crc, out, o);
		z->isize += o;
		switch (ret) {
		case Z_STREAM_END:
			z->zdone = true;
			break;
		case Z_OK:
		case Z_BUF_ERROR:
			break;
		case Z_DATA_ERROR:
			*iu = i;
			*ou = o;
			if (z->zs.msg && !strcmp(z->zs.msg, "incorrect data check"))
				return WD_STATUS_CHECKSUM_MISMATCH;
			return WD_STATUS_DATA_ERROR;
		case Z_NEED_DICT:
			return WD_STATUS_DATA_ERROR;
		case Z_MEM_ERROR:
			return WD_STATUS_NO_MEMORY;
		default:
			return WD_STATUS_INTERNAL;
		}
	}
	if (z->zdone) {
		if (z->alg == WD_ALG_GZIP) {
			while (z->tpos < 8 && i < in_len)
				z->tbuf[z->tpos++] = in[i++];
			if (z->tpos == 8) {
				*iu = i;
				*ou = o;
				if (get_le32(z->tbuf) != z->crc ||
				    get_le32(z->tbuf + 4) != z->isize)
					return WD_STATUS_CHECKSUM_MISMATCH;
				z->finished = true;
			}
		} else {
			z->finished = true;
		}
	}
	*iu = i;
	*ou = o;
	return 0;
}

static u32 wd_zbound(u32 n, u8 alg)
{
	u64 b = (u64)n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 18;

	return min_t(u64, b, WD_MAX_REQUEST_BYTES);
}

static void *wd_workspace(struct wd_soft_q *sq, bool deflate)
{
	void **slot = deflate ? &sq->dwork : &sq->iwork;

	if (!*slot)
		*slot = kvmalloc(deflate ?
				 zlib_deflate_workspacesize(MAX_WBITS, DEF_MEM_LEVEL) :
				 zlib_inflate_workspacesize(), GFP_KERNEL_ACCOUNT);
	return *slot;
}

static u32 wd_new_stream(struct wd_soft_q *sq, const struct wd_desc *d,
			 struct wd_stream **out)
{
	struct wd_stream *s;

	wd_stream_drop(sq, d->stream_id);
	if (sq->nstreams >= max_streams)
		return WD_STATUS_NO_MEMORY;
	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return WD_STATUS_NO_MEMORY;
	s->op = d->opcode;
	s->alg = d->alg;
	if (xa_err(xa_store(&sq->streams, d->stream_id, s, GFP_KERNEL_ACCOUNT))) {
		kfree(s);
		return WD_STATUS_NO_MEMORY;
	}
	sq->nstreams++;
	*out = s;
	return 0;
}

static u32 wd_get_stream(struct wd_soft_q *sq, const struct wd_desc *d,
			 struct wd_stream **out)
{
	struct wd_stream *s = xa_load(&sq->streams, d->stream_id);

	if (!s || s->op != d->opcode || s->alg != d->alg)
		return WD_STATUS_BAD_STREAM;
	*out = s;
	return 0;
}

static void wd_soft_zlib(struct wd_soft_q *sq, struct wd_req *r, struct wd_cqe *c)
{
	struct wd_queue *q = sq->q;
	const struct wd_desc *d = &r->d;
	bool deflate = d->opcode == WD_OP_COMPRESS;
	bool stream = d->flags & WD_DESC_F_STREAM;
	bool last = !stream || (d->flags & WD_DESC_F_LAST);
	struct wd_stream *s = NULL;
	struct wd_zs *z, oneshot;
	void *in = NULL, *out = NULL;
	u32 iu = 0, ou = 0, st;

	if (stream) {
		if (d->flags & WD_DESC_F_FIRST) {
			st = wd_new_stream(sq, d, &s);
			if (st)
				goto done;
			s->z = kzalloc(sizeof(*s->z), GFP_KERNEL_ACCOUNT);
			if (s->z)
				s->z->work = kvmalloc(deflate ?
					zlib_deflate_workspacesize(MAX_WBITS, DEF_MEM_LEVEL) :
					zlib_inflate_workspacesize(), GFP_KERNEL_ACCOUNT);
			if (!s->z || !s->z->work) {
				st = WD_STATUS_NO_MEMORY;
				goto done;
			}
			s->z->own_work = true;
			st = wd_zs_init(s->z, deflate, d->alg, d->level, s->z->work);
			if (st)
				goto done;
		} else {
			st = wd_get_stream(sq, d, &s);
			if (st) {
				s = NULL;	/* not ours to drop */
				c->status = st;
				return;
			}
		}
		z = s->z;
	} else {
		void *work = wd_workspace(sq, deflate);

		if (!work) {
			st = WD_STATUS_NO_MEMORY;
			goto done;
		}
		memset(&oneshot, 0, sizeof(oneshot));
		z = &oneshot;
		st = wd_zs_init(z, deflate, d->alg, d->level, work);
		if (st)
			goto done;
	}

	z->q = q;
	z->deadline = max_desc_ms ?
		ktime_get_ns() + (u64)READ_ONCE(max_desc_ms) * NSEC_PER_MSEC : 0;
	st = wd_fetch(q, &r->src, &in);
	if (st)
		goto done;
	out = wd_alloc(d->dst_len);
	if (!out) {
		st = WD_STATUS_NO_MEMORY;
		goto done;
	}
	if (deflate)
		st = wd_deflate_step(z, in, d->src_len, out, d->dst_len,
				     last ? Z_FINISH : (d->flags & WD_DESC_F_SYNC_FLUSH) ?
				     Z_SYNC_FLUSH : Z_NO_FLUSH, &iu, &ou);
	else
		st = wd_inflate_step(z, in, d->src_len, out, d->dst_len, &iu, &ou);
	if (st)
		goto done;

	if (!stream) {
		if (!z->finished) {
			/* one-shot: all or nothing */
			if (deflate) {
				st = WD_STATUS_DST_TOO_SMALL;
				c->needed = wd_zbound(d->src_len, d->alg);
			} else if (ou == d->dst_len) {
				st = WD_STATUS_DST_TOO_SMALL;
			} else {
				st = WD_STATUS_DATA_ERROR;
			}
			iu = ou = 0;
			goto done;
		}
	} else if (!z->finished) {
		if (ou == d->dst_len || iu < d->src_len)
			c->flags |= WD_CQE_F_MORE_OUTPUT;
		else if (last && !deflate) {
			st = WD_STATUS_DATA_ERROR;	/* truncated */
			goto done;
		}
	}
	st = wd_span_write(q, &r->dst, 0, out, ou);
	if (st)
		goto done;
	if (z->finished && (!deflate || stream))
		c->flags |= WD_CQE_F_STREAM_END;
	c->consumed = iu;
	c->produced = ou;
	c->checksum = z->alg == WD_ALG_ZLIB ? (u32)z->zs.adler : z->crc;
done:
	kvfree(in);
	kvfree(out);
	c->status = st;
	if (stream && s && (st || z->finished))
		wd_stream_drop(sq, d->stream_id);
}

/* ---- hashes ---- */

static struct crypto_shash *wd_shash(struct wd_soft_q *sq, u8 alg)
{
	struct crypto_shash *t;

	if (!sq->sh[alg]) {
		t = crypto_alloc_shash(wd_hash_names[alg], 0, 0);
		if (IS_ERR(t))
			return NULL;
		sq->sh[alg] = t;
	}
	return sq->sh[alg];
}

/* Feed a span to a hash in scratch-sized pieces: no big allocation. */
static u32 wd_hash_update(struct wd_soft_q *sq, struct wd_req *r, struct shash_desc *desc)
{
	u32 off, n, st;

	for (off = 0; off < r->src.len; off += n) {
		if (off) {
			if (wd_queue_should_stop(sq->q))
				return WD_STATUS_CANCELLED;
			cond_resched();
		}
		n = min_t(u32, r->src.len - off, WD_SCRATCH);
		st = wd_span_read(sq->q, &r->src, off, sq->scratch, n);
		if (st)
			return st;
		if (crypto_shash_update(desc, sq->scratch, n))
			return WD_STATUS_INTERNAL;
	}
	return 0;
}

static u32 wd_hash_setkey(struct wd_soft_q *sq, struct wd_req *r, struct crypto_shash *tfm)
{
	u8 key[WD_MAX_KEY_BYTES + 1];
	u32 st;

	st = wd_span_read(sq->q, &r->aux, 0, key, r->d.key_len);
	if (!st && crypto_shash_setkey(tfm, key, r->d.key_len))
		st = WD_STATUS_INVALID_LENGTH;
	memzero_explicit(key, sizeof(key));
	return st;
}

static void wd_soft_hash(struct wd_soft_q *sq, struct wd_req *r, struct wd_cqe *c)
{
	const struct wd_desc *d = &r->d;
	bool stream = d->flags & WD_DESC_F_STREAM;
	bool last = !stream || (d->flags & WD_DESC_F_LAST);
	struct wd_stream *s = NULL;
	struct crypto_shash *tfm;
	struct shash_desc *desc;
	u8 digest[64];
	u32 ds, st;

	if (!wd_is_hmac(d->alg) && d->key_len) {
		c->status = WD_STATUS_INVALID_LENGTH;
		return;
	}
	if (stream && !(d->flags & WD_DESC_F_FIRST)) {
		st = wd_get_stream(sq, d, &s);
		if (st) {
			c->status = st;
			return;
		}
		tfm = s->desc->tfm;
	} else {
		tfm = wd_shash(sq, d->alg);
		if (!tfm) {
			c->status = WD_STATUS_INTERNAL;
			return;
		}
	}
	ds = crypto_shash_digestsize(tfm);
	if (last && d->dst_len < ds) {
		/* nothing consumed: the stream, if any, is untouched */
		c->status = WD_STATUS_DST_TOO_SMALL;
		c->needed = ds;
		return;
	}

	if (!stream) {
		SHASH_DESC_ON_STACK(sdesc, tfm);

		sdesc->tfm = tfm;
		st = wd_is_hmac(d->alg) ? wd_hash_setkey(sq, r, tfm) : 0;
		if (!st && crypto_shash_init(sdesc))
			st = WD_STATUS_INTERNAL;
		if (!st)
			st = wd_hash_update(sq, r, sdesc);
		if (!st && crypto_shash_final(sdesc, digest))
			st = WD_STATUS_INTERNAL;
		shash_desc_zero(sdesc);
		goto out;
	}

	if (d->flags & WD_DESC_F_FIRST) {
		st = wd_new_stream(sq, d, &s);
		if (st)
			goto out;
		if (wd_is_hmac(d->alg)) {
			/* the tfm holds the key, so each HMAC stream owns one */
			tfm = crypto_alloc_shash(wd_hash_names[d->alg], 0, 0);
			if (IS_ERR(tfm)) {
				st = WD_STATUS_INTERNAL;
				goto out;
			}
			s->own_tfm = tfm;
			st = wd_hash_setkey(sq, r, tfm);
			if (st)
				goto out;
		}
		s->desc = kzalloc(sizeof(*desc) + crypto_shash_descsize(tfm), GFP_KERNEL_ACCOUNT);
		if (!s->desc) {
			st = WD_STATUS_NO_MEMORY;
			goto out;
		}
		s->desc->tfm = tfm;
		if (crypto_shash_init(s->desc)) {
			st = WD_STATUS_INTERNAL;
			goto out;
		}
	}
	desc = s->desc;
	st = wd_hash_update(sq, r, desc);
	if (!st && last && crypto_shash_final(desc, digest))
		st = WD_STATUS_INTERNAL;
out:
	if (!st && last) {
		st = wd_span_write(sq->q, &r->dst, 0, digest, ds);
		c->produced = ds;
	}
	if (!st)
		c->consumed = d->src_len;
	else
		c->produced = 0;
	if (stream && (st || last))
		wd_stream_drop(sq, d->stream_id);
	memzero_explicit(digest, sizeof(digest));
	c->status = st;
}

/* ---- ciphers ---- */

static bool wd_aes_keylen(u8 n)
{
	return n == 16 || n == 24 || n == 32;
}

/*
 * AES-GCM ("gcm(aes)": key 16/24/32, iv 12, tag 4..16) and ChaCha20-Poly1305
 * ("rfc7539(chacha20,poly1305)", RFC 8439: key 32, iv 12, tag 16): the same
 * request shape, AAD || data || tag in one buffer with the tag appended.
 */
static void wd_soft_aead(struct wd_soft_q *sq, struct wd_req *r, struct wd_cqe *c, bool enc)
{
	const struct wd_desc *d = &r->d;
	bool chacha = d->alg == WD_ALG_CHACHA20_POLY1305;
	struct crypto_aead **tp = chacha ? &sq->chacha : &sq->gcm;
	u32 aad = d->aad_len, len = d->src_len, tag = d->tag_len;
	u32 kiv = d->key_len + d->iv_len;
	size_t total = (size_t)aad + len + tag;
	struct aead_request *req = NULL;
	struct sg_table sgt = {};
	u8 key[32], iv[12];
	u8 *buf = NULL;
	DECLARE_CRYPTO_WAIT(wait);
	u32 st;
	int err;

	if (chacha ? d->key_len != 32 || tag != 16 : !wd_aes_keylen(d->key_len) || tag < 4) {
		c->status = WD_STATUS_INVALID_LENGTH;
		return;
	}
	if (d->iv_len != 12) {
		c->status = WD_STATUS_INVALID_LENGTH;
		return;
	}
	if (d->dst_len < len) {
		c->status = WD_STATUS_DST_TOO_SMALL;
		c->needed = len;
		return;
	}
	if (!*tp) {
		struct crypto_aead *t = crypto_alloc_aead(chacha ? "rfc7539(chacha20,poly1305)" :
							  "gcm(aes)", 0, CRYPTO_ALG_ASYNC);

		if (IS_ERR(t)) {
			c->status = WD_STATUS_INTERNAL;
			return;
		}
		*tp = t;
	}
	st = wd_span_read(sq->q, &r->aux, 0, key, d->key_len);
	if (!st)
		st = wd_span_read(sq->q, &r->aux, d->key_len, iv, 12);
	if (st)
		goto out;
	if (crypto_aead_setkey(*tp, key, d->key_len) ||
	    crypto_aead_setauthsize(*tp, tag)) {
		st = WD_STATUS_INVALID_LENGTH;
		goto out;
	}
	buf = wd_alloc(total);
	if (!buf) {
		st = WD_STATUS_NO_MEMORY;
		goto out;
	}
	/* one buffer AAD || data || tag, processed in place */
	st = wd_span_read(sq->q, &r->aux, kiv, buf, aad);
	if (!st)
		st = wd_span_read(sq->q, &r->src, 0, buf + aad, len);
	if (!st && !enc)
		st = wd_span_read(sq->q, &r->aux, kiv + aad, buf + aad + len, tag);
	if (st)
		goto out;
	req = aead_request_alloc(*tp, GFP_KERNEL);
	if (!req || wd_sg_build(&sgt, buf, total)) {
		st = WD_STATUS_NO_MEMORY;
		goto out;
	}
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG | CRYPTO_TFM_REQ_MAY_SLEEP,
				  crypto_req_done, &wait);
	aead_request_set_crypt(req, sgt.sgl, sgt.sgl, enc ? len : len + tag, iv);
	aead_request_set_ad(req, aad);
	err = crypto_wait_req(enc ? crypto_aead_encrypt(req) : crypto_aead_decrypt(req), &wait);
	if (err == -EBADMSG) {
		st = WD_STATUS_AUTH_FAILED;
		goto out;
	} else if (err) {
		st = WD_STATUS_INTERNAL;
		goto out;
	}
	st = wd_span_write(sq->q, &r->dst, 0, buf + aad, len);
	if (!st && enc)
		st = wd_span_write(sq->q, &r->aux, kiv + aad, buf + aad + len, tag);
	if (!st) {
		c->consumed = len;
		c->produced = len;
	}
out:
	aead_request_free(req);
	sg_free_table(&sgt);
	if (buf)
		kvfree_sensitive(buf, max_t(size_t, total, 1));
	memzero_explicit(key, sizeof(key));
	c->status = st;
}

static void wd_soft_skcipher(struct wd_soft_q *sq, struct wd_req *r, struct wd_cqe *c, bool enc)
{
	const struct wd_desc *d = &r->d;
	bool cbc = d->alg == WD_ALG_AES_CBC;
	bool pad = cbc && !(d->flags & WD_DESC_F_NO_PADDING);
	struct crypto_skcipher **tp = cbc ? &sq->cbc : &sq->ctr;
	u32 len = d->src_len, out_len = len, alloc_len;
	struct skcipher_request *req = NULL;
	struct sg_table sgt = {};
	u8 key[32], iv[16];
	u8 *buf = NULL;
	DECLARE_CRYPTO_WAIT(wait);
	u32 st;
	int err;

	if (!wd_aes_keylen(d->key_len) || d->iv_len != 16 || d->aad_len || d->tag_len) {
		c->status = WD_STATUS_INVALID_LENGTH;
		return;
	}
	if (cbc) {
		if (enc && pad)
			out_len = (len / 16 + 1) * 16;
		else if (len % 16 || (pad && !len)) {
			c->status = WD_STATUS_INVALID_LENGTH;
			return;
		}
	}
	if ((enc || !pad) && d->dst_len < out_len) {
		c->status = WD_STATUS_DST_TOO_SMALL;
		c->needed = out_len;
		return;
	}
	if (!*tp) {
		struct crypto_skcipher *t = crypto_alloc_skcipher(cbc ? "cbc(aes)" : "ctr(aes)",
								  0, CRYPTO_ALG_ASYNC);
		if (IS_ERR(t)) {
			c->status = WD_STATUS_INTERNAL;
			return;
		}
		*tp = t;
	}
	st = wd_span_read(sq->q, &r->aux, 0, key, d->key_len);
	if (!st)
		st = wd_span_read(sq->q, &r->aux, d->key_len, iv, 16);
	if (st)
		goto out;
	if (crypto_skcipher_setkey(*tp, key, d->key_len)) {
		st = WD_STATUS_INVALID_LENGTH;
		goto out;
	}
	alloc_len = max(out_len, len);
	buf = wd_alloc(alloc_len);
	if (!buf) {
		st = WD_STATUS_NO_MEMORY;
		goto out;
	}
	st = wd_span_read(sq->q, &r->src, 0, buf, len);
	if (st)
		goto out;
	if (enc && pad)
		memset(buf + len, out_len - len, out_len - len);	/* PKCS#7 */
	if (out_len) {
		req = skcipher_request_alloc(*tp, GFP_KERNEL);
		if (!req || wd_sg_build(&sgt, buf, out_len)) {
			st = WD_STATUS_NO_MEMORY;
			goto out;
		}
		skcipher_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
					      CRYPTO_TFM_REQ_MAY_SLEEP, crypto_req_done, &wait);
		skcipher_request_set_crypt(req, sgt.sgl, sgt.sgl, out_len, iv);
		err = crypto_wait_req(enc ? crypto_skcipher_encrypt(req) :
				      crypto_skcipher_decrypt(req), &wait);
		if (err) {
			st = WD_STATUS_INTERNAL;
			goto out;
		}
	}
	if (!enc && pad) {
		u8 p = buf[len - 1];
		u32 k;

		if (!p || p > 16) {
			st = WD_STATUS_DATA_ERROR;
			goto out;
		}
		for (k = 0; k < p; k++)
			if (buf[len - 1 - k] != p) {
				st = WD_STATUS_DATA_ERROR;
				goto out;
			}
		out_len = len - p;
		if (d->dst_len < out_len) {
			st = WD_STATUS_DST_TOO_SMALL;
			c->needed = out_len;
			goto out;
		}
	}
	st = wd_span_write(sq->q, &r->dst, 0, buf, out_len);
	if (!st) {
		c->consumed = len;
		c->produced = out_len;
	}
out:
	skcipher_request_free(req);
	sg_free_table(&sgt);
	if (buf)
		kvfree_sensitive(buf, max_t(size_t, alloc_len, 1));
	memzero_explicit(key, sizeof(key));
	c->status = st;
}

/* ---- dispatch ---- */

static void wd_soft_execute(struct wd_queue *q, struct wd_req *r, struct wd_cqe *c)
{
	struct wd_soft_q *sq = q->engine;
	const struct wd_desc *d = &r->d;

	switch (d->opcode) {
	case WD_OP_NOP:
		c->status = WD_STATUS_OK;
		return;
	case WD_OP_COMPRESS:
	case WD_OP_DECOMPRESS:
		wd_soft_zlib(sq, r, c);
		return;
	case WD_OP_ENCRYPT:
	case WD_OP_DECRYPT:
		if (d->flags & WD_DESC_F_STREAM) {
			/* cipher streams are not implemented by this engine */
			c->status = WD_STATUS_INVALID_FLAGS;
			return;
		}
		if (d->alg == WD_ALG_AES_GCM || d->alg == WD_ALG_CHACHA20_POLY1305)
			wd_soft_aead(sq, r, c, d->opcode == WD_OP_ENCRYPT);
		else
			wd_soft_skcipher(sq, r, c, d->opcode == WD_OP_ENCRYPT);
		return;
	case WD_OP_HASH:
		wd_soft_hash(sq, r, c);
		return;
	case WD_OP_STREAM_FREE:
		if (!xa_load(&sq->streams, d->stream_id)) {
			c->status = WD_STATUS_BAD_STREAM;
			return;
		}
		wd_stream_drop(sq, d->stream_id);
		c->status = WD_STATUS_OK;
		return;
	}
	c->status = WD_STATUS_INVALID_OPCODE;
}

/* ---- the polling thread ---- */

/* Run a batch with the submitter's address space, taken only for the batch:
 * holding mm_users across sleeps would keep a dead process's mappings (and
 * through them this file) alive forever. */
static int wd_soft_run(struct wd_soft_q *sq)
{
	struct wd_queue *q = sq->q;
	struct mm_struct *mm = q->mm;
	int n;

	if (!wd_sq_pending(q))
		return 0;
	if (!q->sva)
		return wd_queue_process(q, WD_BATCH);
	if (!mmget_not_zero(mm))
		return -ESRCH;
	kthread_use_mm(mm);
	n = wd_queue_process(q, WD_BATCH);
	kthread_unuse_mm(mm);
	mmput_async(mm);
	return n;
}

static void wd_soft_flags(struct wd_queue *q, u32 set, u32 clear)
{
	mutex_lock(&q->consume_lock);
	wd_sq_set_flags(q, set, clear);
	mutex_unlock(&q->consume_lock);
}

static int wd_soft_thread(void *arg)
{
	struct wd_soft_q *sq = arg;
	struct wd_queue *q = sq->q;
	long stall = 1;

	/*
	 * Stop sends SIGKILL: it ends a wait in a user page fault (a
	 * userfaultfd range nobody serves) that kthread_stop() alone cannot.
	 */
	allow_signal(SIGKILL);
	while (!kthread_should_stop()) {
		u64 idle_since;

		wait_event_idle(sq->wq, READ_ONCE(sq->kick) || kthread_should_stop());
		if (kthread_should_stop())
			break;
		WRITE_ONCE(sq->kick, false);
		wd_soft_flags(q, 0, WD_RING_NEED_WAKEUP);
		idle_since = ktime_get_ns();

		while (!kthread_should_stop()) {
			int n = wd_soft_run(sq);

			if (n < 0)
				break;		/* broken queue or dead process */
			if (n > 0) {
				idle_since = ktime_get_ns();
				stall = 1;
				cond_resched();
				continue;
			}
			if (READ_ONCE(q->cq_stalled)) {
				/*
				 * Nobody rings for CQ space: look again, less
				 * often the longer it stays full (up to 10/s).
				 */
				schedule_timeout_idle(stall);
				stall = min_t(long, stall * 2, max_t(long, HZ / 10, 1));
				continue;
			}
			if (ktime_get_ns() - idle_since < (u64)READ_ONCE(poll_us) * 1000) {
				cond_resched();
				cpu_relax();
				continue;
			}
			wd_soft_flags(q, WD_RING_NEED_WAKEUP, 0);
			/* pairs with the producer's barrier between tail and flags */
			smp_mb();
			if (wd_sq_pending(q) && !READ_ONCE(q->broken)) {
				wd_soft_flags(q, 0, WD_RING_NEED_WAKEUP);
				continue;
			}
			break;
		}
		if (READ_ONCE(q->broken))
			wd_soft_flags(q, WD_RING_NEED_WAKEUP, 0);
	}
	return 0;
}

static void wd_soft_release(struct wd_queue *q)
{
	struct wd_soft_q *sq = q->engine;
	struct wd_stream *s;
	unsigned long id;
	int i;

	if (!sq)
		return;
	xa_for_each(&sq->streams, id, s)
		wd_stream_free(s);
	xa_destroy(&sq->streams);
	for (i = 0; i <= WD_ALG_MAX; i++)
		if (sq->sh[i])
			crypto_free_shash(sq->sh[i]);
	if (sq->gcm)
		crypto_free_aead(sq->gcm);
	if (sq->chacha)
		crypto_free_aead(sq->chacha);
	if (sq->ctr)
		crypto_free_skcipher(sq->ctr);
	if (sq->cbc)
		crypto_free_skcipher(sq->cbc);
	kvfree(sq->dwork);
	kvfree(sq->iwork);
	kfree_sensitive(sq->scratch);
	kfree(sq);
	q->engine = NULL;
}

static int wd_soft_start(struct wd_queue *q)
{
	struct wd_soft_q *sq;

	sq = kzalloc(sizeof(*sq), GFP_KERNEL_ACCOUNT);
	if (!sq)
		return -ENOMEM;
	sq->q = q;
	init_waitqueue_head(&sq->wq);
	xa_init(&sq->streams);
	sq->scratch = kmalloc(WD_SCRATCH, GFP_KERNEL_ACCOUNT);
	q->engine = sq;
	if (!sq->scratch) {
		wd_soft_release(q);
		return -ENOMEM;
	}
	if (q->wd->validated)
		return 0;
	sq->thread = kthread_run(wd_soft_thread, sq, "wd-%s-q%u",
				 dev_name(&q->wd->dev), q->qid);
	if (IS_ERR(sq->thread)) {
		int ret = PTR_ERR(sq->thread);

		sq->thread = NULL;
		wd_soft_release(q);
		return ret;
	}
	return 0;
}

static void wd_soft_stop(struct wd_queue *q)
{
	struct wd_soft_q *sq = q->engine;

	if (sq && sq->thread) {
		/* the thread lives until kthread_stop(), so the task is valid */
		send_sig(SIGKILL, sq->thread, 1);
		kthread_stop(sq->thread);
		sq->thread = NULL;
	}
}

static void wd_soft_doorbell(struct wd_queue *q)
{
	struct wd_soft_q *sq = q->engine;

	WRITE_ONCE(sq->kick, true);
	wake_up(&sq->wq);
}

static const struct wd_engine_ops wd_soft_ops = {
	.owner = THIS_MODULE,
	.driver = "soft",
	.algorithms = WD_ALL_ALGS,
	.features = WD_FEAT_SVA | WD_FEAT_STREAMS,
	.queue_start = wd_soft_start,
	.queue_stop = wd_soft_stop,
	.queue_release = wd_soft_release,
	.doorbell = wd_soft_doorbell,
	.execute = wd_soft_execute,
};

static struct wd_device *wd_soft_devs[16];

static void wd_soft_exit(void);

static int __init wd_soft_init(void)
{
	unsigned int i, n = min_t(unsigned int, devices, ARRAY_SIZE(wd_soft_devs));
	char name[16];

	if (!queues || queues > 4096)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct wd_device *wd;

		snprintf(name, sizeof(name), "soft%u", i);
		wd = wd_device_create(&wd_soft_ops, name, validated || i > 0, queues, NULL);
		if (IS_ERR(wd)) {
			wd_soft_exit();
			return PTR_ERR(wd);
		}
		wd_soft_devs[i] = wd;
	}
	return 0;
}

static void wd_soft_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(wd_soft_devs); i++) {
		if (!wd_soft_devs[i])
			continue;
		wd_device_remove(wd_soft_devs[i]);
		wd_device_put(wd_soft_devs[i]);
		wd_soft_devs[i] = NULL;
	}
}

static void __exit wd_soft_unload(void)
{
	wd_soft_exit();
}

module_init(wd_soft_init);
module_exit(wd_soft_unload);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("WarpDrive soft: the reference engine (zlib, AES, SHA) on the warpdrive framework");
