//! Rust mirror of `include/uapi/warpdrive.h`, the one kernel/user ABI.
//!
//! Every struct is `#[repr(C)]` with the header's field order; the `const`
//! block at the bottom fails the build if a size or offset drifts, and
//! `tests/abi` compares these numbers with what a C compiler computes from the
//! header itself.

#![allow(missing_docs)]

use std::mem::{offset_of, size_of};

pub const WD_ABI_VERSION: u32 = 1;

pub const WD_FEAT_SVA: u32 = 1 << 0;
pub const WD_FEAT_BUFFERS: u32 = 1 << 1;
pub const WD_FEAT_VALIDATED: u32 = 1 << 2;
pub const WD_FEAT_POLL: u32 = 1 << 3;
pub const WD_FEAT_STREAMS: u32 = 1 << 4;
pub const WD_FEAT_SEGMENTS: u32 = 1 << 5;

pub const WD_BIND_SVA: u32 = 1 << 0;
pub const WD_BIND_BUFFERS: u32 = 1 << 1;

pub const WD_MMAP_RING_OFFSET: u64 = 0;
pub const WD_MMAP_BUFFER_BASE: u64 = 1 << 32;

pub const WD_MAX_RING_ENTRIES: u32 = 4096;
pub const WD_DEFAULT_RING_ENTRIES: u32 = 256;
pub const WD_MAX_BUFFERS: u32 = 1024;
pub const WD_MAX_STREAMS: u32 = 256;
pub const WD_MAX_REQUEST_BYTES: u32 = 64 << 20;

pub const WD_RING_NEED_WAKEUP: u32 = 1 << 0;
pub const WD_RING_DEAD: u32 = 1 << 1;

pub const WD_OP_NOP: u8 = 0;
pub const WD_OP_COMPRESS: u8 = 1;
pub const WD_OP_DECOMPRESS: u8 = 2;
pub const WD_OP_ENCRYPT: u8 = 3;
pub const WD_OP_DECRYPT: u8 = 4;
pub const WD_OP_HASH: u8 = 5;
pub const WD_OP_STREAM_FREE: u8 = 6;
pub const WD_OP_MAX: u8 = 6;

pub const WD_ALG_NONE: u8 = 0;
pub const WD_ALG_DEFLATE_RAW: u8 = 1;
pub const WD_ALG_ZLIB: u8 = 2;
pub const WD_ALG_GZIP: u8 = 3;
pub const WD_ALG_AES_GCM: u8 = 4;
pub const WD_ALG_AES_CTR: u8 = 5;
pub const WD_ALG_AES_CBC: u8 = 6;
pub const WD_ALG_SHA1: u8 = 7;
pub const WD_ALG_SHA224: u8 = 8;
pub const WD_ALG_SHA256: u8 = 9;
pub const WD_ALG_SHA384: u8 = 10;
pub const WD_ALG_SHA512: u8 = 11;
pub const WD_ALG_HMAC_SHA1: u8 = 12;
pub const WD_ALG_HMAC_SHA224: u8 = 13;
pub const WD_ALG_HMAC_SHA256: u8 = 14;
pub const WD_ALG_HMAC_SHA384: u8 = 15;
pub const WD_ALG_HMAC_SHA512: u8 = 16;
pub const WD_ALG_CHACHA20_POLY1305: u8 = 17;
pub const WD_ALG_MAX: u8 = 17;

pub const WD_MAX_KEY_BYTES: u32 = 255;
pub const WD_MAX_IV_BYTES: u32 = 64;
pub const WD_MAX_TAG_BYTES: u32 = 16;
pub const WD_MAX_AAD_BYTES: u32 = 1 << 20;
pub const WD_MAX_HISTORY_BYTES: u32 = 32 << 10;

pub const WD_DESC_F_STREAM: u8 = 1 << 0;
pub const WD_DESC_F_FIRST: u8 = 1 << 1;
pub const WD_DESC_F_LAST: u8 = 1 << 2;
pub const WD_DESC_F_SYNC_FLUSH: u8 = 1 << 3;
pub const WD_DESC_F_NO_PADDING: u8 = 1 << 4;
pub const WD_DESC_F_FULL_FLUSH: u8 = 1 << 5;
pub const WD_DESC_F_SEGMENT: u8 = 1 << 6;
pub const WD_DESC_F_ALL: u8 = 0x7f;

pub const WD_STATUS_OK: u32 = 0;
pub const WD_STATUS_INVALID_OPCODE: u32 = 1;
pub const WD_STATUS_INVALID_ALG: u32 = 2;
pub const WD_STATUS_INVALID_LENGTH: u32 = 3;
pub const WD_STATUS_BAD_ADDRESS: u32 = 4;
pub const WD_STATUS_DST_TOO_SMALL: u32 = 5;
pub const WD_STATUS_DATA_ERROR: u32 = 6;
pub const WD_STATUS_CHECKSUM_MISMATCH: u32 = 7;
pub const WD_STATUS_AUTH_FAILED: u32 = 8;
pub const WD_STATUS_BAD_STREAM: u32 = 9;
pub const WD_STATUS_NO_MEMORY: u32 = 10;
pub const WD_STATUS_CANCELLED: u32 = 11;
pub const WD_STATUS_DEVICE_GONE: u32 = 12;
pub const WD_STATUS_INVALID_FLAGS: u32 = 13;
pub const WD_STATUS_INTERNAL: u32 = 14;

pub const WD_CQE_F_MORE_OUTPUT: u32 = 1 << 0;
pub const WD_CQE_F_STREAM_END: u32 = 1 << 1;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdRingOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub entries: u32,
    pub resv: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdQueueBind {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub features: u32,
    pub queue_id: u32,
    pub abi_version: u32,
    pub ring_mmap_offset: u64,
    pub ring_mmap_size: u64,
    pub sq_off: WdRingOffsets,
    pub cq_off: WdRingOffsets,
    pub algorithms: u64,
    pub resv: [u64; 2],
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdBufferCreate {
    pub size: u64,
    pub mmap_offset: u64,
    pub handle: u32,
    pub flags: u32,
    pub resv: [u64; 2],
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdBufferFree {
    pub handle: u32,
    pub resv: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdDeviceInfo {
    pub name: [u8; 32],
    pub driver: [u8; 32],
    pub algorithms: u64,
    pub features: u32,
    pub abi_version: u32,
    pub queues_total: u32,
    pub queues_free: u32,
    pub max_ring_entries: u32,
    pub resv0: u32,
    pub resv: [u64; 4],
}

/// A submission descriptor: one cache line.
#[repr(C, align(8))]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdDesc {
    pub opcode: u8,
    pub alg: u8,
    pub flags: u8,
    pub level: u8,
    pub key_len: u8,
    pub iv_len: u8,
    pub tag_len: u8,
    pub resv0: u8,
    pub aad_len: u32,
    pub stream_id: u32,
    pub user_data: u64,
    pub src_addr: u64,
    pub dst_addr: u64,
    pub aux_addr: u64,
    pub src_len: u32,
    pub dst_len: u32,
    pub src_buf: u16,
    pub dst_buf: u16,
    pub aux_buf: u16,
    pub resv1: u16,
}

/// A completion entry. `status` is written last.
#[repr(C, align(8))]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WdCqe {
    pub user_data: u64,
    pub produced: u32,
    pub consumed: u32,
    pub checksum: u32,
    pub needed: u32,
    pub flags: u32,
    pub status: u32,
}

// ioctl numbers, computed exactly as <asm-generic/ioctl.h> does.
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << IOC_SIZEBITS));
    (dir << IOC_DIRSHIFT)
        | ((WD_IOCTL_MAGIC as u32) << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

pub const WD_IOCTL_MAGIC: u8 = 0xD7;
pub const WD_IOCTL_INFO: u32 = ioc(IOC_READ, 0x00, size_of::<WdDeviceInfo>());
pub const WD_IOCTL_BIND_QUEUE: u32 = ioc(IOC_READ | IOC_WRITE, 0x01, size_of::<WdQueueBind>());
pub const WD_IOCTL_CREATE_BUFFER: u32 =
    ioc(IOC_READ | IOC_WRITE, 0x02, size_of::<WdBufferCreate>());
pub const WD_IOCTL_FREE_BUFFER: u32 = ioc(IOC_WRITE, 0x03, size_of::<WdBufferFree>());
pub const WD_IOCTL_DOORBELL: u32 = ioc(IOC_NONE, 0x04, 0);
pub const WD_IOCTL_SUBMIT_SYNC: u32 = ioc(IOC_NONE, 0x05, 0);

/// Every layout fact the header fixes, as (name, value); `tests/abi` compares
/// this table against the same table computed by a C compiler from the header.
pub const LAYOUT: &[(&str, usize)] = &[
    ("sizeof(wd_ring_offsets)", size_of::<WdRingOffsets>()),
    ("sizeof(wd_queue_bind)", size_of::<WdQueueBind>()),
    ("sizeof(wd_buffer_create)", size_of::<WdBufferCreate>()),
    ("sizeof(wd_buffer_free)", size_of::<WdBufferFree>()),
    ("sizeof(wd_device_info)", size_of::<WdDeviceInfo>()),
    ("sizeof(wd_desc)", size_of::<WdDesc>()),
    ("sizeof(wd_cqe)", size_of::<WdCqe>()),
    ("wd_ring_offsets.head", offset_of!(WdRingOffsets, head)),
    ("wd_ring_offsets.tail", offset_of!(WdRingOffsets, tail)),
    (
        "wd_ring_offsets.ring_mask",
        offset_of!(WdRingOffsets, ring_mask),
    ),
    (
        "wd_ring_offsets.ring_entries",
        offset_of!(WdRingOffsets, ring_entries),
    ),
    ("wd_ring_offsets.flags", offset_of!(WdRingOffsets, flags)),
    (
        "wd_ring_offsets.dropped",
        offset_of!(WdRingOffsets, dropped),
    ),
    (
        "wd_ring_offsets.entries",
        offset_of!(WdRingOffsets, entries),
    ),
    (
        "wd_queue_bind.sq_entries",
        offset_of!(WdQueueBind, sq_entries),
    ),
    (
        "wd_queue_bind.cq_entries",
        offset_of!(WdQueueBind, cq_entries),
    ),
    ("wd_queue_bind.flags", offset_of!(WdQueueBind, flags)),
    ("wd_queue_bind.features", offset_of!(WdQueueBind, features)),
    ("wd_queue_bind.queue_id", offset_of!(WdQueueBind, queue_id)),
    (
        "wd_queue_bind.abi_version",
        offset_of!(WdQueueBind, abi_version),
    ),
    (
        "wd_queue_bind.ring_mmap_offset",
        offset_of!(WdQueueBind, ring_mmap_offset),
    ),
    (
        "wd_queue_bind.ring_mmap_size",
        offset_of!(WdQueueBind, ring_mmap_size),
    ),
    ("wd_queue_bind.sq_off", offset_of!(WdQueueBind, sq_off)),
    ("wd_queue_bind.cq_off", offset_of!(WdQueueBind, cq_off)),
    (
        "wd_queue_bind.algorithms",
        offset_of!(WdQueueBind, algorithms),
    ),
    ("wd_queue_bind.resv", offset_of!(WdQueueBind, resv)),
    ("wd_buffer_create.size", offset_of!(WdBufferCreate, size)),
    (
        "wd_buffer_create.mmap_offset",
        offset_of!(WdBufferCreate, mmap_offset),
    ),
    (
        "wd_buffer_create.handle",
        offset_of!(WdBufferCreate, handle),
    ),
    ("wd_buffer_create.flags", offset_of!(WdBufferCreate, flags)),
    ("wd_device_info.driver", offset_of!(WdDeviceInfo, driver)),
    (
        "wd_device_info.algorithms",
        offset_of!(WdDeviceInfo, algorithms),
    ),
    (
        "wd_device_info.features",
        offset_of!(WdDeviceInfo, features),
    ),
    (
        "wd_device_info.queues_total",
        offset_of!(WdDeviceInfo, queues_total),
    ),
    (
        "wd_device_info.max_ring_entries",
        offset_of!(WdDeviceInfo, max_ring_entries),
    ),
    ("wd_desc.opcode", offset_of!(WdDesc, opcode)),
    ("wd_desc.alg", offset_of!(WdDesc, alg)),
    ("wd_desc.flags", offset_of!(WdDesc, flags)),
    ("wd_desc.level", offset_of!(WdDesc, level)),
    ("wd_desc.key_len", offset_of!(WdDesc, key_len)),
    ("wd_desc.iv_len", offset_of!(WdDesc, iv_len)),
    ("wd_desc.tag_len", offset_of!(WdDesc, tag_len)),
    ("wd_desc.aad_len", offset_of!(WdDesc, aad_len)),
    ("wd_desc.stream_id", offset_of!(WdDesc, stream_id)),
    ("wd_desc.user_data", offset_of!(WdDesc, user_data)),
    ("wd_desc.src_addr", offset_of!(WdDesc, src_addr)),
    ("wd_desc.dst_addr", offset_of!(WdDesc, dst_addr)),
    ("wd_desc.aux_addr", offset_of!(WdDesc, aux_addr)),
    ("wd_desc.src_len", offset_of!(WdDesc, src_len)),
    ("wd_desc.dst_len", offset_of!(WdDesc, dst_len)),
    ("wd_desc.src_buf", offset_of!(WdDesc, src_buf)),
    ("wd_desc.dst_buf", offset_of!(WdDesc, dst_buf)),
    ("wd_desc.aux_buf", offset_of!(WdDesc, aux_buf)),
    ("wd_desc.resv1", offset_of!(WdDesc, resv1)),
    ("wd_cqe.user_data", offset_of!(WdCqe, user_data)),
    ("wd_cqe.produced", offset_of!(WdCqe, produced)),
    ("wd_cqe.consumed", offset_of!(WdCqe, consumed)),
    ("wd_cqe.checksum", offset_of!(WdCqe, checksum)),
    ("wd_cqe.needed", offset_of!(WdCqe, needed)),
    ("wd_cqe.flags", offset_of!(WdCqe, flags)),
    ("wd_cqe.status", offset_of!(WdCqe, status)),
    ("WD_IOCTL_INFO", WD_IOCTL_INFO as usize),
    ("WD_IOCTL_BIND_QUEUE", WD_IOCTL_BIND_QUEUE as usize),
    ("WD_IOCTL_CREATE_BUFFER", WD_IOCTL_CREATE_BUFFER as usize),
    ("WD_IOCTL_FREE_BUFFER", WD_IOCTL_FREE_BUFFER as usize),
    ("WD_IOCTL_DOORBELL", WD_IOCTL_DOORBELL as usize),
    ("WD_IOCTL_SUBMIT_SYNC", WD_IOCTL_SUBMIT_SYNC as usize),
    ("WD_ALG_AES_GCM", WD_ALG_AES_GCM as usize),
    (
        "WD_ALG_CHACHA20_POLY1305",
        WD_ALG_CHACHA20_POLY1305 as usize,
    ),
    ("WD_ALG_MAX", WD_ALG_MAX as usize),
];

// The header's layout, pinned at compile time.
const _: () = {
    assert!(size_of::<WdRingOffsets>() == 32);
    assert!(size_of::<WdQueueBind>() == 128);
    assert!(offset_of!(WdQueueBind, ring_mmap_offset) == 24);
    assert!(offset_of!(WdQueueBind, sq_off) == 40);
    assert!(offset_of!(WdQueueBind, cq_off) == 72);
    assert!(offset_of!(WdQueueBind, algorithms) == 104);
    assert!(size_of::<WdBufferCreate>() == 40);
    assert!(offset_of!(WdBufferCreate, handle) == 16);
    assert!(size_of::<WdBufferFree>() == 8);
    assert!(size_of::<WdDeviceInfo>() == 128);
    assert!(offset_of!(WdDeviceInfo, algorithms) == 64);
    assert!(size_of::<WdDesc>() == 64);
    assert!(offset_of!(WdDesc, aad_len) == 8);
    assert!(offset_of!(WdDesc, stream_id) == 12);
    assert!(offset_of!(WdDesc, user_data) == 16);
    assert!(offset_of!(WdDesc, src_addr) == 24);
    assert!(offset_of!(WdDesc, dst_addr) == 32);
    assert!(offset_of!(WdDesc, aux_addr) == 40);
    assert!(offset_of!(WdDesc, src_len) == 48);
    assert!(offset_of!(WdDesc, dst_len) == 52);
    assert!(offset_of!(WdDesc, src_buf) == 56);
    assert!(offset_of!(WdDesc, aux_buf) == 60);
    assert!(offset_of!(WdDesc, resv1) == 62);
    assert!(size_of::<WdCqe>() == 32);
    assert!(offset_of!(WdCqe, produced) == 8);
    assert!(offset_of!(WdCqe, checksum) == 16);
    assert!(offset_of!(WdCqe, flags) == 24);
    assert!(offset_of!(WdCqe, status) == 28);
    // The ioctl numbers user space and the module agree on.
    assert!(WD_IOCTL_INFO == 0x8080_D700);
    assert!(WD_IOCTL_BIND_QUEUE == 0xC080_D701);
    assert!(WD_IOCTL_CREATE_BUFFER == 0xC028_D702);
    assert!(WD_IOCTL_FREE_BUFFER == 0x4008_D703);
    assert!(WD_IOCTL_DOORBELL == 0x0000_D704);
    assert!(WD_IOCTL_SUBMIT_SYNC == 0x0000_D705);
    // Algorithm numbers are bits of the u64 `algorithms` masks.
    assert!(WD_ALG_CHACHA20_POLY1305 == 17);
    assert!(WD_ALG_MAX == WD_ALG_CHACHA20_POLY1305);
    assert!(WD_ALG_MAX < 64);
};
