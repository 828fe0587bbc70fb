/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * WarpDrive: user-space submission queues for compression and crypto engines.
 *
 * This is the one kernel/user ABI. The kernel module (kmod/) includes it, the
 * Rust core mirrors it (core/src/uapi.rs) with compile-time layout checks, and
 * tests/abi compares the two. Change it only by adding: new fields come out of
 * reserved space, new values out of unused numbers.
 *
 * A process uses a device in six steps:
 *   1. open("/dev/warpdrive/NAME")     a context private to this open file
 *   2. ioctl(WD_IOCTL_BIND_QUEUE)      acquire a queue; the reply gives the
 *                                      features (SVA or not) and ring offsets
 *   3. ioctl(WD_IOCTL_CREATE_BUFFER)   without SVA: DMA buffers, mmapped at the
 *                                      offset in the reply
 *   4. mmap(WD_MMAP_RING_OFFSET)       the rings, laid out by wd_queue_bind
 *   5. write descriptors, publish the SQ tail, ring the doorbell only if the
 *      engine set WD_RING_NEED_WAKEUP
 *   6. close()                         everything is released
 *
 * Ring memory-ordering contract (both sides follow it; see also
 * core/src/ring.rs and kmod/wd_ring.c):
 *   - Each index (head, tail) has exactly one writer. Indices are free-running
 *     __u32 counters; an entry's slot is index & ring_mask.
 *   - A producer fills an entry, then stores the tail with release semantics
 *     (smp_store_release). A consumer loads the tail with acquire semantics
 *     (smp_load_acquire) before it reads any entry below that tail.
 *   - A consumer finishes reading an entry (copies it), then stores the head
 *     with release semantics. A producer loads the head with acquire before it
 *     reuses a slot.
 *   - Completions: the engine writes every other field of wd_cqe, then stores
 *     status with release, then publishes the CQ tail with release.
 *   - Sleeping: a consumer that wants to sleep sets WD_RING_NEED_WAKEUP in its
 *     ring's flags, issues a full barrier (smp_mb), re-checks the tail, and only
 *     then sleeps. A producer publishes its tail, issues a full barrier, then
 *     reads flags; it wakes the consumer (doorbell for the SQ, the engine's wake
 *     for the CQ) only when NEED_WAKEUP is set. The pair of full barriers means
 *     one of the two always sees the other's store: no lost wakeup.
 *   - Consumers never trust what they read: a kernel engine copies each
 *     descriptor once (READ_ONCE) and validates the copy; indices that claim
 *     more than ring_entries outstanding are a protocol error.
 *   - Claims (the software device only; not part of this ABI): an SQ slot
 *     also has a claim word in process-private memory. The producer stores
 *     SUBMITTED before it publishes the tail; the engine, having copied the
 *     descriptor, CASes SUBMITTED -> TAKEN and runs it only if that
 *     succeeds; a submitter that saw no engine take its request in time
 *     CASes SUBMITTED -> CLAIMED and runs it itself. Exactly one wins; a
 *     claimed slot gets no completion, the engine only moves its head past
 *     it. Kernel queues have no claim words and the module's engines never
 *     see one: a submitter on a kernel queue always waits for its completion.
 */
#ifndef _UAPI_LINUX_WARPDRIVE_H
#define _UAPI_LINUX_WARPDRIVE_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define WD_ABI_VERSION		1

/* ---- Features reported by WD_IOCTL_BIND_QUEUE (wd_queue_bind.features) ---- */
/* Descriptors may carry the process's own virtual addresses. */
#define WD_FEAT_SVA		(1U << 0)
/* Descriptors may refer to buffers made by WD_IOCTL_CREATE_BUFFER. */
#define WD_FEAT_BUFFERS		(1U << 1)
/*
 * The device has no address isolation: the ring user space sees is a shadow
 * that the kernel validates on every doorbell. The engine never polls it, so
 * WD_RING_NEED_WAKEUP stays set and every submission needs a doorbell.
 */
#define WD_FEAT_VALIDATED	(1U << 2)
/* poll()/epoll on the file report POLLIN when the CQ has entries. */
#define WD_FEAT_POLL		(1U << 3)
/* The engine keeps per-stream state (WD_DESC_F_STREAM). */
#define WD_FEAT_STREAMS		(1U << 4)
/* The engine compresses raw deflate segments with history (WD_DESC_F_SEGMENT). */
#define WD_FEAT_SEGMENTS	(1U << 5)

/* ---- Bind flags (wd_queue_bind.flags, in) ---- */
/* Ask for SVA; refused with EOPNOTSUPP if the device cannot do it. */
#define WD_BIND_SVA		(1U << 0)
/* Ask for buffer mode (the only choice without SVA). */
#define WD_BIND_BUFFERS		(1U << 1)

/* ---- mmap offsets (bytes; page aligned) ---- */
#define WD_MMAP_RING_OFFSET	0ULL
/* Buffer regions start here; the exact offset is in wd_buffer_create. */
#define WD_MMAP_BUFFER_BASE	(1ULL << 32)

/* Limits every implementation accepts; bind may be asked for less. */
#define WD_MAX_RING_ENTRIES	4096
#define WD_DEFAULT_RING_ENTRIES	256
#define WD_MAX_BUFFERS		1024
#define WD_MAX_STREAMS		256
/* One request moves at most this many bytes in and out. */
#define WD_MAX_REQUEST_BYTES	(64U << 20)

/*
 * Where each field of one ring lives, as a byte offset from the start of the
 * ring mapping (io_uring style: user space computes every pointer from these
 * and assumes no layout).
 */
struct wd_ring_offsets {
	__u32 head;		/* __u32, written by the consumer */
	__u32 tail;		/* __u32, written by the producer */
	__u32 ring_mask;	/* __u32, read only: ring_entries - 1 */
	__u32 ring_entries;	/* __u32, read only: a power of two */
	__u32 flags;		/* __u32, WD_RING_* bits, written by the consumer */
	__u32 dropped;		/* __u32, SQ: invalid descriptors; CQ: overflows */
	__u32 entries;		/* the entry array (wd_desc or wd_cqe) */
	__u32 resv;
};

/* wd_ring_offsets.flags bits */
#define WD_RING_NEED_WAKEUP	(1U << 0)	/* the consumer sleeps: wake it */
#define WD_RING_DEAD		(1U << 1)	/* the queue is gone (device removed) */

/* WD_IOCTL_BIND_QUEUE: in and out. */
struct wd_queue_bind {
	__u32 sq_entries;	/* in: power of two, 0 for the default; out: granted */
	__u32 cq_entries;	/* in: >= sq_entries, 0 for 2 * sq; out: granted */
	__u32 flags;		/* in: WD_BIND_* */
	__u32 features;		/* out: WD_FEAT_* */
	__u32 queue_id;		/* out: device-wide id, for sysfs and stats */
	__u32 abi_version;	/* out: WD_ABI_VERSION */
	__u64 ring_mmap_offset;	/* out: pass to mmap */
	__u64 ring_mmap_size;	/* out: bytes to map */
	struct wd_ring_offsets sq_off;	/* out */
	struct wd_ring_offsets cq_off;	/* out */
	__u64 algorithms;	/* out: bit (1 << WD_ALG_*) for each one served */
	__u64 resv[2];
};

/* WD_IOCTL_CREATE_BUFFER: in and out. */
struct wd_buffer_create {
	__u64 size;		/* in: bytes, rounded up to pages; out: granted */
	__u64 mmap_offset;	/* out: pass to mmap */
	__u32 handle;		/* out: 1..WD_MAX_BUFFERS, used in descriptors */
	__u32 flags;		/* in: 0 */
	__u64 resv[2];
};

/* WD_IOCTL_FREE_BUFFER: in. Fails with EBUSY while the buffer is mapped. */
struct wd_buffer_free {
	__u32 handle;
	__u32 resv;
};

/* WD_IOCTL_INFO: out. Static facts about the device. */
struct wd_device_info {
	char name[32];		/* NUL terminated */
	char driver[32];	/* NUL terminated */
	__u64 algorithms;	/* bit (1 << WD_ALG_*) */
	__u32 features;		/* WD_FEAT_* the device can offer */
	__u32 abi_version;
	__u32 queues_total;
	__u32 queues_free;
	__u32 max_ring_entries;
	__u32 resv0;
	__u64 resv[4];
};

#define WD_IOCTL_MAGIC		0xD7
#define WD_IOCTL_INFO		_IOR(WD_IOCTL_MAGIC, 0x00, struct wd_device_info)
#define WD_IOCTL_BIND_QUEUE	_IOWR(WD_IOCTL_MAGIC, 0x01, struct wd_queue_bind)
#define WD_IOCTL_CREATE_BUFFER	_IOWR(WD_IOCTL_MAGIC, 0x02, struct wd_buffer_create)
#define WD_IOCTL_FREE_BUFFER	_IOW(WD_IOCTL_MAGIC, 0x03, struct wd_buffer_free)
/* Doorbell: the engine consumes the SQ. Returns the number of entries taken. */
#define WD_IOCTL_DOORBELL	_IO(WD_IOCTL_MAGIC, 0x04)
/* Runs the engine on the next submission in this thread and waits for it
 * (one syscall per request; the baseline the mapped ring is measured against). */
#define WD_IOCTL_SUBMIT_SYNC	_IO(WD_IOCTL_MAGIC, 0x05)

/* ---- Opcodes (wd_desc.opcode) ---- */
#define WD_OP_NOP		0
#define WD_OP_COMPRESS		1
#define WD_OP_DECOMPRESS	2
#define WD_OP_ENCRYPT		3
#define WD_OP_DECRYPT		4
#define WD_OP_HASH		5	/* digests and HMAC */
#define WD_OP_STREAM_FREE	6	/* drop a stream's state */
#define WD_OP_MAX		6

/* ---- Algorithms (wd_desc.alg) ---- */
#define WD_ALG_NONE		0
#define WD_ALG_DEFLATE_RAW	1
#define WD_ALG_ZLIB		2
#define WD_ALG_GZIP		3
#define WD_ALG_AES_GCM		4	/* key 16/24/32, iv 1..64 (12 usual), tag 4..16 */
#define WD_ALG_AES_CTR		5	/* key 16/24/32, iv 16 */
#define WD_ALG_AES_CBC		6	/* key 16/24/32, iv 16 */
#define WD_ALG_SHA1		7
#define WD_ALG_SHA224		8
#define WD_ALG_SHA256		9
#define WD_ALG_SHA384		10
#define WD_ALG_SHA512		11
#define WD_ALG_HMAC_SHA1	12	/* key 0..WD_MAX_KEY_BYTES in the aux area */
#define WD_ALG_HMAC_SHA224	13
#define WD_ALG_HMAC_SHA256	14
#define WD_ALG_HMAC_SHA384	15
#define WD_ALG_HMAC_SHA512	16
#define WD_ALG_CHACHA20_POLY1305 17	/* RFC 8439: key 32, iv 12, tag 16 */
#define WD_ALG_MAX		17

#define WD_MAX_KEY_BYTES	255
#define WD_MAX_IV_BYTES		64
#define WD_MAX_TAG_BYTES	16
#define WD_MAX_AAD_BYTES	(1U << 20)
#define WD_MAX_HISTORY_BYTES	(32U << 10)	/* deflate's window */

/* ---- Descriptor flags (wd_desc.flags) ---- */
/*
 * The request is one piece of a stream identified by stream_id: the engine
 * keeps state between pieces (compression, decompression, hashing). A piece
 * without WD_DESC_F_STREAM is a whole one-shot request.
 */
#define WD_DESC_F_STREAM	(1U << 0)
/* First piece of a stream: reset its state (and parameters: level, key). */
#define WD_DESC_F_FIRST		(1U << 1)
/* Last piece: finish (Z_FINISH, digest final). */
#define WD_DESC_F_LAST		(1U << 2)
/* Compression: end the piece on a byte boundary (Z_SYNC_FLUSH). */
#define WD_DESC_F_SYNC_FLUSH	(1U << 3)
/* AES-CBC: no PKCS#7 padding; lengths must be whole blocks. */
#define WD_DESC_F_NO_PADDING	(1U << 4)
/* Compression: like SYNC_FLUSH, and reset the history (Z_FULL_FLUSH). */
#define WD_DESC_F_FULL_FLUSH	(1U << 5)
/*
 * One-shot raw deflate (WD_ALG_DEFLATE_RAW, not a stream): src is one segment
 * of a longer stream, as pigz cuts one. The aux area holds aad_len bytes
 * (at most WD_MAX_HISTORY_BYTES, key/iv/tag lengths 0) of the data just
 * before src, which matches may refer to. The output ends on a byte boundary
 * with an empty stored block, so segments compressed on any engines, in any
 * order, concatenate into one valid stream; with WD_DESC_F_LAST the segment
 * ends the stream instead. Needs WD_FEAT_SEGMENTS.
 */
#define WD_DESC_F_SEGMENT	(1U << 6)
#define WD_DESC_F_ALL		0x7fU

/*
 * A submission descriptor. 64 bytes, one cache line.
 *
 * Addresses: with SVA, *_addr is a pointer in the submitter's address space and
 * *_buf is 0. In buffer mode, *_buf is a handle from WD_IOCTL_CREATE_BUFFER and
 * *_addr is a byte offset into that buffer; [addr, addr + len) must lie inside
 * it. The aux area holds, in this order: key (key_len), iv (iv_len), aad
 * (aad_len), tag (tag_len). Encryption writes the tag there; decryption reads it.
 * For hashing, dst receives the digest and dst_len must hold it.
 */
struct wd_desc {
	__u8  opcode;		/* WD_OP_* */
	__u8  alg;		/* WD_ALG_* */
	__u8  flags;		/* WD_DESC_F_* */
	__u8  level;		/* compression level 0..9 */
	__u8  key_len;
	__u8  iv_len;
	__u8  tag_len;
	__u8  resv0;		/* must be 0 */
	__u32 aad_len;
	__u32 stream_id;	/* with WD_DESC_F_STREAM: 0..WD_MAX_STREAMS-1 */
	__u64 user_data;	/* echoed in the completion */
	__u64 src_addr;
	__u64 dst_addr;
	__u64 aux_addr;
	__u32 src_len;
	__u32 dst_len;
	__u16 src_buf;
	__u16 dst_buf;
	__u16 aux_buf;
	__u16 resv1;		/* must be 0 */
};

/* ---- Completion status (wd_cqe.status) ---- */
#define WD_STATUS_OK			0
#define WD_STATUS_INVALID_OPCODE	1
#define WD_STATUS_INVALID_ALG		2
#define WD_STATUS_INVALID_LENGTH	3	/* key, iv, tag, aad or data length */
#define WD_STATUS_BAD_ADDRESS		4	/* outside the caller's memory/buffers */
#define WD_STATUS_DST_TOO_SMALL		5	/* wd_cqe.needed says how much, if known */
#define WD_STATUS_DATA_ERROR		6	/* corrupt or truncated compressed data */
#define WD_STATUS_CHECKSUM_MISMATCH	7	/* adler32/crc32/isize trailer */
#define WD_STATUS_AUTH_FAILED		8	/* tag check failed; dst holds nothing */
#define WD_STATUS_BAD_STREAM		9	/* unknown stream, or wrong algorithm */
#define WD_STATUS_NO_MEMORY		10
#define WD_STATUS_CANCELLED		11	/* queue torn down before it ran */
#define WD_STATUS_DEVICE_GONE		12
#define WD_STATUS_INVALID_FLAGS		13	/* unknown flag bits, nonzero resv */
#define WD_STATUS_INTERNAL		14

/* wd_cqe.flags */
/* Stream: the engine holds more output; submit another piece to drain it. */
#define WD_CQE_F_MORE_OUTPUT	(1U << 0)
/* Decompression: the end of the compressed stream was reached. */
#define WD_CQE_F_STREAM_END	(1U << 1)

/* A completion. 32 bytes. status is written last (see the contract above). */
struct wd_cqe {
	__u64 user_data;
	__u32 produced;		/* bytes written to dst */
	__u32 consumed;		/* bytes of src used */
	__u32 checksum;		/* crc32 (raw, gzip) or adler32 (zlib) so far */
	__u32 needed;		/* WD_STATUS_DST_TOO_SMALL: bytes needed, 0 if unknown */
	__u32 flags;		/* WD_CQE_F_* */
	__u32 status;		/* WD_STATUS_* */
};

#endif /* _UAPI_LINUX_WARPDRIVE_H */
