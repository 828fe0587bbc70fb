//! What a software engine does with one descriptor: validate a copy of it,
//! resolve its addresses, run the operation, and fill a completion.
//!
//! `decode` is the trust boundary. It never dereferences anything; it only
//! checks numbers (opcode, algorithm, flags, lengths, buffer references with
//! overflow-safe arithmetic) and returns regions that `execute` may touch. The
//! fuzz target `descriptor` drives it with arbitrary bytes.

use warpdrive_engines as eng;

use crate::uapi::*;

/// A byte range an engine may read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub ptr: usize,
    pub len: usize,
}

impl Region {
    const EMPTY: Region = Region { ptr: 0, len: 0 };

    fn end(&self) -> usize {
        self.ptr + self.len
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.len != 0 && other.len != 0 && self.ptr < other.end() && other.ptr < self.end()
    }
}

/// One DMA-style buffer a queue's descriptors may refer to in buffer mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufferWindow {
    pub handle: u16,
    pub base: usize,
    pub len: usize,
}

/// How descriptor addresses are interpreted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AddressMode<'a> {
    /// Addresses are pointers in this process (shared virtual addressing).
    Sva,
    /// Addresses are offsets into these buffers, and nothing else. The
    /// software device serves SVA queues only; this mode's checks (the same
    /// rules the kernel module applies) are exercised by the unit tests and
    /// the `descriptor` fuzz target.
    #[allow(dead_code)]
    Buffers(&'a [BufferWindow]),
}

/// Lowest and highest user addresses an SVA descriptor may name (x86-64 and
/// aarch64 user halves); the first page is never valid.
const SVA_MIN: u64 = 4096;
const SVA_MAX: u64 = 1 << 47;

fn resolve(mode: AddressMode<'_>, buf: u16, addr: u64, len: u32) -> Result<Region, u32> {
    if len > WD_MAX_REQUEST_BYTES {
        return Err(WD_STATUS_INVALID_LENGTH);
    }
    match mode {
        AddressMode::Sva => {
            if buf != 0 {
                return Err(WD_STATUS_BAD_ADDRESS);
            }
            if len == 0 {
                return Ok(Region::EMPTY);
            }
            let end = addr.checked_add(len as u64).ok_or(WD_STATUS_BAD_ADDRESS)?;
            if addr < SVA_MIN || end > SVA_MAX {
                return Err(WD_STATUS_BAD_ADDRESS);
            }
            Ok(Region {
                ptr: addr as usize,
                len: len as usize,
            })
        }
        AddressMode::Buffers(windows) => {
            if len == 0 {
                return Ok(Region::EMPTY);
            }
            let w = windows
                .iter()
                .find(|w| w.handle == buf && buf != 0)
                .ok_or(WD_STATUS_BAD_ADDRESS)?;
            let end = addr.checked_add(len as u64).ok_or(WD_STATUS_BAD_ADDRESS)?;
            if end > w.len as u64 {
                return Err(WD_STATUS_BAD_ADDRESS);
            }
            Ok(Region {
                ptr: w.base + addr as usize,
                len: len as usize,
            })
        }
    }
}

/// The operation a validated descriptor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Nop,
    Compress(eng::Format, u32),
    /// Raw deflate segment at a level; `true` if it ends the stream.
    CompressSegment(u32, bool),
    Decompress(eng::Format),
    Seal(CipherKind),
    Open(CipherKind),
    Hash(eng::HashAlg, bool),
    StreamFree,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherKind {
    Gcm,
    ChaCha,
    Ctr,
    Cbc { padding: bool },
}

/// A descriptor that passed validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoded {
    pub op: Op,
    pub flags: u8,
    pub stream: Option<u32>,
    pub src: Region,
    pub dst: Region,
    pub key: Region,
    pub iv: Region,
    pub aad: Region,
    pub tag: Region,
}

fn format_of(alg: u8) -> Option<eng::Format> {
    match alg {
        WD_ALG_DEFLATE_RAW => Some(eng::Format::Raw),
        WD_ALG_ZLIB => Some(eng::Format::Zlib),
        WD_ALG_GZIP => Some(eng::Format::Gzip),
        _ => None,
    }
}

pub(crate) fn hash_of(alg: u8) -> Option<(eng::HashAlg, bool)> {
    use eng::HashAlg::*;
    Some(match alg {
        WD_ALG_SHA1 => (Sha1, false),
        WD_ALG_SHA224 => (Sha224, false),
        WD_ALG_SHA256 => (Sha256, false),
        WD_ALG_SHA384 => (Sha384, false),
        WD_ALG_SHA512 => (Sha512, false),
        WD_ALG_HMAC_SHA1 => (Sha1, true),
        WD_ALG_HMAC_SHA224 => (Sha224, true),
        WD_ALG_HMAC_SHA256 => (Sha256, true),
        WD_ALG_HMAC_SHA384 => (Sha384, true),
        WD_ALG_HMAC_SHA512 => (Sha512, true),
        _ => return None,
    })
}

/// Validates a copy of a descriptor. Every reference it returns lies inside
/// memory `mode` allows; nothing is dereferenced here.
pub(crate) fn decode(d: &WdDesc, mode: AddressMode<'_>) -> Result<Decoded, u32> {
    if d.resv0 != 0 || d.resv1 != 0 || d.flags & !WD_DESC_F_ALL != 0 {
        return Err(WD_STATUS_INVALID_FLAGS);
    }
    let segment = d.flags & WD_DESC_F_SEGMENT != 0;
    // A segment takes only LAST beside its own flag.
    if segment && d.flags & !(WD_DESC_F_SEGMENT | WD_DESC_F_LAST) != 0 {
        return Err(WD_STATUS_INVALID_FLAGS);
    }
    let stream = if d.flags & WD_DESC_F_STREAM != 0 {
        if d.stream_id >= WD_MAX_STREAMS {
            return Err(WD_STATUS_BAD_STREAM);
        }
        Some(d.stream_id)
    } else {
        if d.flags & (WD_DESC_F_FIRST | WD_DESC_F_LAST) != 0 && !segment {
            return Err(WD_STATUS_INVALID_FLAGS);
        }
        None
    };
    let (kl, il, tl, al) = (
        d.key_len as u32,
        d.iv_len as u32,
        d.tag_len as u32,
        d.aad_len,
    );
    let no_aux = kl == 0 && il == 0 && tl == 0 && al == 0;
    let op = match d.opcode {
        WD_OP_NOP => Op::Nop,
        WD_OP_COMPRESS if segment => {
            if format_of(d.alg) != Some(eng::Format::Raw) {
                return Err(WD_STATUS_INVALID_ALG);
            }
            if kl != 0 || il != 0 || tl != 0 || al > WD_MAX_HISTORY_BYTES || d.level > 9 {
                return Err(WD_STATUS_INVALID_LENGTH);
            }
            Op::CompressSegment(d.level as u32, d.flags & WD_DESC_F_LAST != 0)
        }
        _ if segment => return Err(WD_STATUS_INVALID_FLAGS),
        WD_OP_COMPRESS | WD_OP_DECOMPRESS => {
            let format = format_of(d.alg).ok_or(WD_STATUS_INVALID_ALG)?;
            if !no_aux {
                return Err(WD_STATUS_INVALID_LENGTH);
            }
            if d.opcode == WD_OP_COMPRESS {
                if d.level > 9 {
                    return Err(WD_STATUS_INVALID_LENGTH);
                }
                Op::Compress(format, d.level as u32)
            } else {
                Op::Decompress(format)
            }
        }
        WD_OP_ENCRYPT | WD_OP_DECRYPT => {
            let aes_key = matches!(kl, 16 | 24 | 32);
            let kind = match d.alg {
                WD_ALG_CHACHA20_POLY1305 => {
                    if kl != 32 || il != 12 || tl != 16 || al > WD_MAX_AAD_BYTES {
                        return Err(WD_STATUS_INVALID_LENGTH);
                    }
                    CipherKind::ChaCha
                }
                WD_ALG_AES_GCM | WD_ALG_AES_CTR | WD_ALG_AES_CBC if !aes_key => {
                    return Err(WD_STATUS_INVALID_LENGTH)
                }
                WD_ALG_AES_GCM => {
                    if il == 0
                        || il > WD_MAX_IV_BYTES
                        || !(4..=16).contains(&tl)
                        || al > WD_MAX_AAD_BYTES
                    {
                        return Err(WD_STATUS_INVALID_LENGTH);
                    }
                    CipherKind::Gcm
                }
                WD_ALG_AES_CTR | WD_ALG_AES_CBC => {
                    if il != 16 || tl != 0 || al != 0 {
                        return Err(WD_STATUS_INVALID_LENGTH);
                    }
                    if d.alg == WD_ALG_AES_CTR {
                        CipherKind::Ctr
                    } else {
                        CipherKind::Cbc {
                            padding: d.flags & WD_DESC_F_NO_PADDING == 0,
                        }
                    }
                }
                _ => return Err(WD_STATUS_INVALID_ALG),
            };
            // ChaCha20-Poly1305 is one-shot on every engine.
            if kind == CipherKind::ChaCha && stream.is_some() {
                return Err(WD_STATUS_INVALID_FLAGS);
            }
            if d.opcode == WD_OP_ENCRYPT {
                Op::Seal(kind)
            } else {
                Op::Open(kind)
            }
        }
        WD_OP_HASH => {
            let (alg, keyed) = hash_of(d.alg).ok_or(WD_STATUS_INVALID_ALG)?;
            if il != 0 || tl != 0 || al != 0 || (!keyed && kl != 0) {
                return Err(WD_STATUS_INVALID_LENGTH);
            }
            let finishes = stream.is_none() || d.flags & WD_DESC_F_LAST != 0;
            if finishes && (d.dst_len as usize) < alg.digest_len() {
                return Err(WD_STATUS_DST_TOO_SMALL);
            }
            Op::Hash(alg, keyed)
        }
        WD_OP_STREAM_FREE => {
            if stream.is_none() {
                return Err(WD_STATUS_BAD_STREAM);
            }
            Op::StreamFree
        }
        _ => return Err(WD_STATUS_INVALID_OPCODE),
    };
    if matches!(op, Op::Nop | Op::StreamFree) {
        return Ok(Decoded {
            op,
            flags: d.flags,
            stream,
            src: Region::EMPTY,
            dst: Region::EMPTY,
            key: Region::EMPTY,
            iv: Region::EMPTY,
            aad: Region::EMPTY,
            tag: Region::EMPTY,
        });
    }
    let src = resolve(mode, d.src_buf, d.src_addr, d.src_len)?;
    let dst = resolve(mode, d.dst_buf, d.dst_addr, d.dst_len)?;
    let aux_len = kl + il + tl + al; // at most 255 * 3 + 2^20: no overflow
    let aux = resolve(mode, d.aux_buf, d.aux_addr, aux_len)?;
    let part = |start: u32, len: u32| Region {
        ptr: if len == 0 {
            0
        } else {
            aux.ptr + start as usize
        },
        len: len as usize,
    };
    let key = part(0, kl);
    let iv = part(kl, il);
    let aad = part(kl + il, al);
    let tag = part(kl + il + al, tl);
    // In place means the same start; any other overlap is refused, and only
    // ciphers may work in place. The engine writes dst and the tag, so neither
    // may overlap the inputs it still reads.
    let in_place = src.len != 0 && src.ptr == dst.ptr;
    let cipher = matches!(op, Op::Seal(_) | Op::Open(_));
    if (src.overlaps(&dst) && !(in_place && cipher))
        || dst.overlaps(&aux)
        || (tag.len != 0
            && (tag.overlaps(&src)
                || tag.overlaps(&key)
                || tag.overlaps(&iv)
                || tag.overlaps(&aad)))
    {
        return Err(WD_STATUS_BAD_ADDRESS);
    }
    Ok(Decoded {
        op,
        flags: d.flags,
        stream,
        src,
        dst,
        key,
        iv,
        aad,
        tag,
    })
}

/// Per-stream engine state, kept per queue.
pub(crate) enum StreamState {
    Deflate(eng::DeflateStream),
    Inflate(eng::InflateStream),
    Hash(eng::HashStream),
    Cipher(eng::CipherStream),
}

pub(crate) struct Streams {
    slots: Vec<Option<StreamState>>,
}

impl Streams {
    pub fn new() -> Self {
        Streams { slots: Vec::new() }
    }

    fn slot(&mut self, id: u32) -> &mut Option<StreamState> {
        let id = id as usize;
        if self.slots.len() <= id {
            self.slots.resize_with(id + 1, || None);
        }
        &mut self.slots[id]
    }
}

/// The outcome of one descriptor, before it becomes a completion.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Done {
    pub status: u32,
    pub produced: u32,
    pub consumed: u32,
    pub checksum: u32,
    pub needed: u32,
    pub flags: u32,
}

impl Done {
    fn err(status: u32) -> Done {
        Done {
            status,
            ..Default::default()
        }
    }

    fn from_outcome(o: &eng::Outcome) -> Done {
        let mut flags = 0;
        if o.more_output {
            flags |= WD_CQE_F_MORE_OUTPUT;
        }
        if o.stream_end {
            flags |= WD_CQE_F_STREAM_END;
        }
        Done {
            status: WD_STATUS_OK,
            produced: o.produced as u32,
            consumed: o.consumed as u32,
            checksum: o.checksum,
            needed: o.needed.min(u32::MAX as usize) as u32,
            flags,
        }
    }

    pub fn cqe(&self, user_data: u64) -> WdCqe {
        WdCqe {
            user_data,
            produced: self.produced,
            consumed: self.consumed,
            checksum: self.checksum,
            needed: self.needed,
            flags: self.flags,
            status: self.status,
        }
    }
}

fn status_of(s: eng::Status) -> u32 {
    s.code()
}

/// # Safety
/// `r` must be valid for reads for `'a` and not written meanwhile.
unsafe fn ro<'a>(r: Region) -> &'a [u8] {
    if r.len == 0 {
        &[]
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts(r.ptr as *const u8, r.len) }
    }
}

/// # Safety
/// `r` must be valid for writes for `'a` and not touched by anyone else.
#[allow(clippy::mut_from_ref)]
unsafe fn rw<'a>(r: Region) -> &'a mut [u8] {
    if r.len == 0 {
        &mut []
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts_mut(r.ptr as *mut u8, r.len) }
    }
}

/// Runs a validated descriptor.
///
/// # Safety
/// Every region in `d` must be valid for reads (and dst and tag for writes)
/// for the duration of the call, and no other agent may write them meanwhile:
/// the submitter promised this when it queued the descriptor (in SVA mode), or
/// the regions lie in buffers owned by the queue (buffer mode).
pub(crate) unsafe fn execute(d: &Decoded, streams: &mut Streams) -> Done {
    // SAFETY: the caller vouches for every region of `d` (see above); decode()
    // guaranteed that writable regions overlap nothing else, except an exact
    // in-place src == dst, which is only ever handed out once, as dst.
    unsafe { execute_inner(d, streams) }
}

unsafe fn execute_inner(d: &Decoded, streams: &mut Streams) -> Done {
    // SAFETY: every ro()/rw() below is on a region of `d`, valid per the
    // caller's contract; each writable region is handed out once.
    unsafe {
        let first = d.flags & WD_DESC_F_FIRST != 0;
        let last = d.flags & WD_DESC_F_LAST != 0;
        let result =
            match (d.op, d.stream) {
                (Op::Nop, _) => Ok(eng::Outcome::default()),
                (Op::StreamFree, Some(id)) => {
                    *streams.slot(id) = None;
                    Ok(eng::Outcome::default())
                }
                (Op::Compress(f, level), None) => eng::compress(f, level, ro(d.src), rw(d.dst)),
                (Op::CompressSegment(level, last), None) => {
                    // The history travels in the aux area's aad part.
                    eng::compress_segment(level, ro(d.aad), ro(d.src), rw(d.dst), last)
                }
                (Op::Decompress(f), None) => eng::decompress(f, ro(d.src), rw(d.dst)),
                (Op::Compress(f, level), Some(id)) => {
                    let slot = streams.slot(id);
                    if first {
                        match eng::DeflateStream::new(f, level) {
                            Ok(s) => *slot = Some(StreamState::Deflate(s)),
                            Err(e) => return Done::err(status_of(e)),
                        }
                    }
                    let flush = if last {
                        eng::Flush::Finish
                    } else if d.flags & WD_DESC_F_FULL_FLUSH != 0 {
                        eng::Flush::Full
                    } else if d.flags & WD_DESC_F_SYNC_FLUSH != 0 {
                        eng::Flush::Sync
                    } else {
                        eng::Flush::None
                    };
                    match slot {
                        Some(StreamState::Deflate(s)) => s.run(ro(d.src), rw(d.dst), flush),
                        _ => return Done::err(WD_STATUS_BAD_STREAM),
                    }
                }
                (Op::Decompress(f), Some(id)) => {
                    let slot = streams.slot(id);
                    if first {
                        match eng::InflateStream::new(f) {
                            Ok(s) => *slot = Some(StreamState::Inflate(s)),
                            Err(e) => return Done::err(status_of(e)),
                        }
                    }
                    match slot {
                        Some(StreamState::Inflate(s)) => s.run(ro(d.src), rw(d.dst)),
                        _ => return Done::err(WD_STATUS_BAD_STREAM),
                    }
                }
                (Op::Hash(alg, keyed), None) => {
                    let n = if keyed {
                        eng::hmac(alg, ro(d.key), ro(d.src), rw(d.dst))
                    } else {
                        eng::digest(alg, ro(d.src), rw(d.dst))
                    };
                    n.map(|n| eng::Outcome {
                        produced: n,
                        consumed: d.src.len,
                        ..Default::default()
                    })
                }
                (Op::Hash(alg, keyed), Some(id)) => {
                    let slot = streams.slot(id);
                    if first {
                        let s = if keyed {
                            eng::HashStream::new_hmac(alg, ro(d.key))
                        } else {
                            eng::HashStream::new(alg)
                        };
                        match s {
                            Ok(s) => *slot = Some(StreamState::Hash(s)),
                            Err(e) => return Done::err(status_of(e)),
                        }
                    }
                    let Some(StreamState::Hash(s)) = slot else {
                        return Done::err(WD_STATUS_BAD_STREAM);
                    };
                    let r = s.update(ro(d.src)).and_then(|()| {
                        if last {
                            s.finish(rw(d.dst))
                        } else {
                            Ok(0)
                        }
                    });
                    if last {
                        *slot = None;
                    }
                    r.map(|n| eng::Outcome {
                        produced: n,
                        consumed: d.src.len,
                        ..Default::default()
                    })
                }
                (Op::Seal(kind) | Op::Open(kind), None) => {
                    let encrypt = matches!(d.op, Op::Seal(_));
                    let in_place = d.src.len != 0 && d.src.ptr == d.dst.ptr;
                    one_shot_cipher(kind, encrypt, in_place, d)
                }
                (Op::Seal(kind) | Op::Open(kind), Some(id)) => {
                    let encrypt = matches!(d.op, Op::Seal(_));
                    let slot = streams.slot(id);
                    if first {
                        let (mode, padding) = match kind {
                            CipherKind::Gcm => (eng::CipherMode::Gcm, false),
                            CipherKind::ChaCha => return Done::err(WD_STATUS_INVALID_ALG),
                            CipherKind::Ctr => (eng::CipherMode::Ctr, false),
                            CipherKind::Cbc { padding } => (eng::CipherMode::Cbc, padding),
                        };
                        match eng::CipherStream::new(mode, encrypt, padding, ro(d.key), ro(d.iv)) {
                            Ok(mut s) => {
                                if d.aad.len != 0 {
                                    if let Err(e) = s.set_aad(ro(d.aad)) {
                                        return Done::err(status_of(e));
                                    }
                                }
                                *slot = Some(StreamState::Cipher(s));
                            }
                            Err(e) => return Done::err(status_of(e)),
                        }
                    }
                    let Some(StreamState::Cipher(s)) = slot else {
                        return Done::err(WD_STATUS_BAD_STREAM);
                    };
                    // In place (src and dst start together) only `dst` is
                    // ever borrowed: a `&` over src beside a `&mut` over the
                    // same bytes would be undefined behaviour, and update()
                    // writes blocks ahead of what it has read.
                    let in_place = d.src.len != 0 && d.src.ptr == d.dst.ptr;
                    let src_copy = (in_place && d.dst.len < d.src.len).then(|| ro(d.src).to_vec());
                    let dst = rw(d.dst);
                    let updated = match &src_copy {
                        Some(src) => s.update(src, dst),
                        None if in_place => s.update_in_place(dst, d.src.len),
                        None => s.update(ro(d.src), dst),
                    };
                    let r = updated.and_then(|n| {
                        if !last {
                            return Ok(n);
                        }
                        if !encrypt && d.tag.len != 0 {
                            s.set_expected_tag(ro(d.tag))?;
                        }
                        let m = s.finish(&mut dst[n..])?;
                        if encrypt && d.tag.len != 0 {
                            s.tag(rw(d.tag))?;
                        }
                        Ok(n + m)
                    });
                    if last {
                        *slot = None;
                    }
                    r.map(|n| eng::Outcome {
                        produced: n,
                        consumed: d.src.len,
                        ..Default::default()
                    })
                }
                (_, _) => return Done::err(WD_STATUS_INTERNAL),
            };
        match result {
            Ok(o) => Done::from_outcome(&o),
            Err(e) => {
                let mut done = Done::err(status_of(e));
                done.needed = e.needed().min(u32::MAX as usize) as u32;
                done
            }
        }
    }
}

/// # Safety
/// As for `execute`.
unsafe fn one_shot_cipher(
    kind: CipherKind,
    encrypt: bool,
    in_place: bool,
    d: &Decoded,
) -> Result<eng::Outcome, eng::Status> {
    // SAFETY: as for execute(): every region of `d` is valid and each
    // writable one is handed out once.
    unsafe {
        let (key, iv) = (ro(d.key), ro(d.iv));
        match (kind, in_place) {
            (CipherKind::Gcm, false) if encrypt => {
                eng::gcm_seal(key, iv, ro(d.aad), ro(d.src), rw(d.dst), rw(d.tag))
            }
            (CipherKind::Gcm, false) => {
                eng::gcm_open(key, iv, ro(d.aad), ro(d.src), rw(d.dst), ro(d.tag))
            }
            (CipherKind::Gcm, true) => {
                let buf = &mut rw(d.dst)[..d.src.len.min(d.dst.len)];
                if d.dst.len < d.src.len {
                    return Err(eng::Status::DstTooSmall { needed: d.src.len });
                }
                if encrypt {
                    eng::gcm_seal_in_place(key, iv, ro(d.aad), buf, rw(d.tag))
                } else {
                    eng::gcm_open_in_place(key, iv, ro(d.aad), buf, ro(d.tag))
                }
            }
            (CipherKind::ChaCha, false) if encrypt => {
                eng::chacha20_poly1305_seal(key, iv, ro(d.aad), ro(d.src), rw(d.dst), rw(d.tag))
            }
            (CipherKind::ChaCha, false) => {
                eng::chacha20_poly1305_open(key, iv, ro(d.aad), ro(d.src), rw(d.dst), ro(d.tag))
            }
            (CipherKind::ChaCha, true) => {
                if d.dst.len < d.src.len {
                    return Err(eng::Status::DstTooSmall { needed: d.src.len });
                }
                let buf = &mut rw(d.dst)[..d.src.len];
                if encrypt {
                    eng::chacha20_poly1305_seal_in_place(key, iv, ro(d.aad), buf, rw(d.tag))
                } else {
                    eng::chacha20_poly1305_open_in_place(key, iv, ro(d.aad), buf, ro(d.tag))
                }
            }
            (CipherKind::Ctr, false) => eng::ctr(key, iv, ro(d.src), rw(d.dst)),
            (CipherKind::Ctr, true) => {
                if d.dst.len < d.src.len {
                    return Err(eng::Status::DstTooSmall { needed: d.src.len });
                }
                eng::ctr_in_place(key, iv, &mut rw(d.dst)[..d.src.len])
            }
            (CipherKind::Cbc { padding }, false) => {
                eng::cbc(encrypt, padding, key, iv, ro(d.src), rw(d.dst))
            }
            (CipherKind::Cbc { padding }, true) => {
                eng::cbc_in_place(encrypt, padding, key, iv, rw(d.dst), d.src.len)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(op: u8, alg: u8) -> WdDesc {
        WdDesc {
            opcode: op,
            alg,
            ..Default::default()
        }
    }

    #[test]
    fn unknown_opcodes_algorithms_and_flags_are_rejected() {
        let m = AddressMode::Sva;
        assert_eq!(
            decode(&desc(99, 0), m).unwrap_err(),
            WD_STATUS_INVALID_OPCODE
        );
        assert_eq!(
            decode(&desc(WD_OP_COMPRESS, 77), m).unwrap_err(),
            WD_STATUS_INVALID_ALG
        );
        let mut d = desc(WD_OP_NOP, 0);
        d.resv1 = 1;
        assert_eq!(decode(&d, m).unwrap_err(), WD_STATUS_INVALID_FLAGS);
        let mut d = desc(WD_OP_NOP, 0);
        d.flags = 0x80;
        assert_eq!(decode(&d, m).unwrap_err(), WD_STATUS_INVALID_FLAGS);
    }

    #[test]
    fn segment_descriptors_are_checked() {
        let m = AddressMode::Sva;
        let seg = |alg: u8, flags: u8, history: u32| WdDesc {
            opcode: WD_OP_COMPRESS,
            alg,
            flags: WD_DESC_F_SEGMENT | flags,
            level: 6,
            aad_len: history,
            aux_addr: if history == 0 { 0 } else { 0x10000 },
            ..Default::default()
        };
        let ok = decode(&seg(WD_ALG_DEFLATE_RAW, WD_DESC_F_LAST, 32 << 10), m).unwrap();
        assert!(matches!(ok.op, Op::CompressSegment(6, true)));
        assert_eq!(ok.aad.len, 32 << 10);
        let refused = [
            (seg(WD_ALG_ZLIB, 0, 0), WD_STATUS_INVALID_ALG),
            (
                seg(WD_ALG_DEFLATE_RAW, 0, (32 << 10) + 1),
                WD_STATUS_INVALID_LENGTH,
            ),
            (
                seg(WD_ALG_DEFLATE_RAW, WD_DESC_F_STREAM, 0),
                WD_STATUS_INVALID_FLAGS,
            ),
            (
                seg(WD_ALG_DEFLATE_RAW, WD_DESC_F_FIRST, 0),
                WD_STATUS_INVALID_FLAGS,
            ),
            (
                seg(WD_ALG_DEFLATE_RAW, WD_DESC_F_SYNC_FLUSH, 0),
                WD_STATUS_INVALID_FLAGS,
            ),
            (
                WdDesc {
                    opcode: WD_OP_DECOMPRESS,
                    ..seg(WD_ALG_DEFLATE_RAW, 0, 0)
                },
                WD_STATUS_INVALID_FLAGS,
            ),
            (
                WdDesc {
                    key_len: 16,
                    ..seg(WD_ALG_DEFLATE_RAW, 0, 0)
                },
                WD_STATUS_INVALID_LENGTH,
            ),
            (
                WdDesc {
                    level: 10,
                    ..seg(WD_ALG_DEFLATE_RAW, 0, 0)
                },
                WD_STATUS_INVALID_LENGTH,
            ),
        ];
        for (d, status) in refused {
            assert_eq!(decode(&d, m).unwrap_err(), status, "{d:?}");
        }
        // Without the flag, LAST still belongs to streams only.
        let mut d = seg(WD_ALG_DEFLATE_RAW, WD_DESC_F_LAST, 0);
        d.flags &= !WD_DESC_F_SEGMENT;
        assert_eq!(decode(&d, m).unwrap_err(), WD_STATUS_INVALID_FLAGS);
    }

    #[test]
    fn buffer_mode_refuses_anything_outside_the_buffers() {
        let windows = [BufferWindow {
            handle: 1,
            base: 0x10000,
            len: 4096,
        }];
        let m = AddressMode::Buffers(&windows);
        let mut d = desc(WD_OP_COMPRESS, WD_ALG_GZIP);
        d.src_buf = 1;
        d.dst_buf = 1;
        d.src_len = 100;
        d.dst_addr = 2048;
        d.dst_len = 2048;
        assert!(decode(&d, m).is_ok());
        let cases: [fn(&mut WdDesc); 6] = [
            |d| d.dst_len = 2049,           // one byte past the end
            |d| d.src_buf = 2,              // someone else's handle
            |d| d.src_buf = 0,              // no buffer at all
            |d| d.src_addr = u64::MAX - 10, // offset + len overflows
            |d| d.src_len = u32::MAX,       // absurd length
            |d| {
                d.src_addr = 2000;
                d.src_len = 100
            }, // overlaps dst
        ];
        for (i, break_it) in cases.iter().enumerate() {
            let mut bad = d;
            break_it(&mut bad);
            assert!(
                decode(&bad, m).is_err(),
                "case {i} passed validation: {bad:?}"
            );
        }
    }

    #[test]
    fn sva_refuses_null_and_kernel_addresses() {
        let mut d = desc(WD_OP_HASH, WD_ALG_SHA256);
        d.src_addr = 0;
        d.src_len = 10;
        d.dst_addr = 0x7000_0000;
        d.dst_len = 32;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_BAD_ADDRESS
        );
        d.src_addr = 0xffff_8000_0000_0000;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_BAD_ADDRESS
        );
        d.src_addr = 0x6000_0000;
        d.dst_len = 31;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_DST_TOO_SMALL
        );
    }

    #[test]
    fn cipher_lengths_are_checked() {
        let mut d = desc(WD_OP_ENCRYPT, WD_ALG_AES_GCM);
        d.key_len = 17;
        d.iv_len = 12;
        d.tag_len = 16;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_INVALID_LENGTH
        );
        d.key_len = 32;
        d.tag_len = 17;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_INVALID_LENGTH
        );
        let mut d = desc(WD_OP_ENCRYPT, WD_ALG_AES_CBC);
        d.key_len = 16;
        d.iv_len = 12;
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap_err(),
            WD_STATUS_INVALID_LENGTH
        );
    }

    #[test]
    fn chacha20_poly1305_lengths_and_flags_are_checked() {
        let mut d = desc(WD_OP_DECRYPT, WD_ALG_CHACHA20_POLY1305);
        (d.key_len, d.iv_len, d.tag_len, d.aad_len) = (32, 12, 16, 5);
        (d.src_addr, d.src_len, d.dst_addr, d.dst_len) = (0x1000_0000, 64, 0x2000_0000, 64);
        (d.aux_addr, d.src_buf) = (0x3000_0000, 0);
        assert_eq!(
            decode(&d, AddressMode::Sva).unwrap().op,
            Op::Open(CipherKind::ChaCha)
        );
        let cases: [fn(&mut WdDesc); 8] = [
            |d| d.key_len = 16, // AES-128's key
            |d| d.key_len = 31,
            |d| d.iv_len = 8, // the original 64-bit nonce
            |d| d.iv_len = 16,
            |d| d.tag_len = 12, // no truncated tags
            |d| d.tag_len = 0,
            |d| d.aad_len = WD_MAX_AAD_BYTES + 1,
            |d| d.flags = WD_DESC_F_STREAM | WD_DESC_F_FIRST, // one-shot only
        ];
        for (i, break_it) in cases.iter().enumerate() {
            let mut bad = d;
            break_it(&mut bad);
            let want = if i == 7 {
                WD_STATUS_INVALID_FLAGS
            } else {
                WD_STATUS_INVALID_LENGTH
            };
            assert_eq!(
                decode(&bad, AddressMode::Sva).unwrap_err(),
                want,
                "case {i}"
            );
        }
    }
}

#[cfg(test)]
mod in_place {
    //! Streaming ciphers in place (src == dst), chunk by chunk, give what
    //! they give out of place.
    use super::*;

    const KEY: [u8; 16] = [7; 16];
    const IV: [u8; 16] = [9; 16];

    /// Runs `msg` through one stream in `chunks`, in place or not; returns
    /// the concatenated output.
    fn run(
        alg: u8,
        flags: u8,
        encrypt: bool,
        msg: &[u8],
        chunks: &[usize],
        in_place: bool,
    ) -> Vec<u8> {
        let mut streams = Streams::new();
        let aux = [KEY, IV].concat();
        let (mut out, mut off) = (Vec::new(), 0);
        for (i, &c) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            // Room for a carried block and the final padding block.
            let mut buf = vec![0u8; c + 32];
            buf[..c].copy_from_slice(&msg[off..off + c]);
            let src = msg[off..off + c].to_vec();
            let mut dst = vec![0u8; c + 32];
            let mut d = WdDesc {
                opcode: if encrypt {
                    WD_OP_ENCRYPT
                } else {
                    WD_OP_DECRYPT
                },
                alg,
                flags: WD_DESC_F_STREAM
                    | flags
                    | if i == 0 { WD_DESC_F_FIRST } else { 0 }
                    | if last { WD_DESC_F_LAST } else { 0 },
                key_len: 16,
                iv_len: 16,
                src_len: c as u32,
                dst_len: (c + 32) as u32,
                aux_addr: aux.as_ptr() as u64,
                ..Default::default()
            };
            if in_place {
                d.src_addr = buf.as_mut_ptr() as u64;
                d.dst_addr = d.src_addr;
            } else {
                d.src_addr = src.as_ptr() as u64;
                d.dst_addr = dst.as_mut_ptr() as u64;
            }
            let dec = decode(&d, AddressMode::Sva).unwrap();
            // SAFETY: every region of `d` lies in buffers live for the call.
            let done = unsafe { execute(&dec, &mut streams) };
            assert_eq!(done.status, WD_STATUS_OK, "chunk {i} of {chunks:?}");
            let produced = done.produced as usize;
            out.extend_from_slice(if in_place {
                &buf[..produced]
            } else {
                &dst[..produced]
            });
            off += c;
        }
        out
    }

    #[test]
    fn in_place_streams_match_out_of_place_ones() {
        let msg: Vec<u8> = (0..208u32).map(|i| (i * 31 % 251) as u8).collect();
        let chunks = [10, 30, 50, 1, 117];
        for (alg, flags) in [
            (WD_ALG_AES_CTR, 0),
            (WD_ALG_AES_CBC, WD_DESC_F_NO_PADDING),
            (WD_ALG_AES_CBC, 0),
        ] {
            let whole = run(alg, flags, true, &msg, &[msg.len()], false);
            let split = run(alg, flags, true, &msg, &chunks, false);
            assert_eq!(split, whole, "alg {alg} flags {flags:#x}: out of place");
            let in_place = run(alg, flags, true, &msg, &chunks, true);
            assert_eq!(
                in_place, whole,
                "alg {alg} flags {flags:#x}: encrypting in place"
            );
            let mut cuts = chunks.to_vec();
            *cuts.last_mut().unwrap() += whole.len() - msg.len();
            let back = run(alg, flags, false, &whole, &cuts, true);
            assert_eq!(back, msg, "alg {alg} flags {flags:#x}: decrypting in place");
        }
    }

    /// One ChaCha20-Poly1305 descriptor over `buf` (src == dst when `dst` is
    /// None); aux is key || nonce || aad || tag.
    fn chacha(encrypt: bool, buf: &mut [u8], dst: Option<&mut [u8]>, aux: &mut [u8]) -> Done {
        let n = buf.len() as u32;
        let d = WdDesc {
            opcode: if encrypt {
                WD_OP_ENCRYPT
            } else {
                WD_OP_DECRYPT
            },
            alg: WD_ALG_CHACHA20_POLY1305,
            key_len: 32,
            iv_len: 12,
            tag_len: 16,
            aad_len: aux.len() as u32 - 60,
            src_addr: buf.as_mut_ptr() as u64,
            src_len: n,
            dst_addr: dst.map_or(buf.as_mut_ptr(), |d| d.as_mut_ptr()) as u64,
            dst_len: n,
            aux_addr: aux.as_mut_ptr() as u64,
            ..Default::default()
        };
        let dec = decode(&d, AddressMode::Sva).unwrap();
        // SAFETY: every region of `d` lies in buffers live for the call.
        unsafe { execute(&dec, &mut Streams::new()) }
    }

    #[test]
    fn chacha20_poly1305_in_place_matches_out_of_place() {
        let msg: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 253) as u8).collect();
        let mut aux = [&[5u8; 32][..], &[6; 12], b"header", &[0; 16]].concat();
        let (mut src, mut dst) = (msg.clone(), vec![0u8; msg.len()]);
        assert_eq!(
            chacha(true, &mut src, Some(&mut dst), &mut aux).status,
            WD_STATUS_OK
        );
        let tag = aux[aux.len() - 16..].to_vec();
        let mut buf = msg.clone();
        assert_eq!(chacha(true, &mut buf, None, &mut aux).status, WD_STATUS_OK);
        assert_eq!((&buf, &aux[aux.len() - 16..]), (&dst, &tag[..]));
        assert_eq!(chacha(false, &mut buf, None, &mut aux).status, WD_STATUS_OK);
        assert_eq!(buf, msg);
        // A flipped tag bit: refused, the buffer wiped.
        buf.copy_from_slice(&dst);
        let at = aux.len() - 1;
        aux[at] ^= 1;
        let done = chacha(false, &mut buf, None, &mut aux);
        assert_eq!(done.status, WD_STATUS_AUTH_FAILED);
        assert!(buf.iter().all(|&b| b == 0), "plaintext released in place");
    }
}

#[cfg(test)]
mod fuzz {
    //! Arbitrary descriptors against the buffer-mode validator: whatever it
    //! accepts must name only memory inside the caller's buffers.
    use super::*;
    use proptest::prelude::*;

    const WINDOWS: [BufferWindow; 2] = [
        BufferWindow {
            handle: 1,
            base: 0x10_0000,
            len: 8192,
        },
        BufferWindow {
            handle: 2,
            base: 0x20_0000,
            len: 65536,
        },
    ];

    fn inside(r: &Region) -> bool {
        r.len == 0
            || WINDOWS
                .iter()
                .any(|w| r.ptr >= w.base && r.end() <= w.base + w.len)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn accepted_descriptors_stay_inside_the_buffers(bytes in proptest::array::uniform32(any::<u8>()), more in proptest::array::uniform32(any::<u8>()), small in any::<bool>()) {
            let mut raw = [0u8; 64];
            raw[..32].copy_from_slice(&bytes);
            raw[32..].copy_from_slice(&more);
            // SAFETY: WdDesc is plain old data, every bit pattern is valid.
            let mut d: WdDesc = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
            if small {
                // Steer half the cases toward plausible values so validation
                // gets past the first checks.
                d.opcode %= 7;
                d.alg %= 17;
                d.flags &= WD_DESC_F_ALL;
                d.resv0 = 0;
                d.resv1 = 0;
                d.src_buf %= 3;
                d.dst_buf %= 3;
                d.aux_buf %= 3;
                d.src_addr %= 70_000;
                d.dst_addr %= 70_000;
                d.aux_addr %= 70_000;
                d.src_len %= 70_000;
                d.dst_len %= 70_000;
                d.aad_len %= 1000;
            }
            if let Ok(dec) = decode(&d, AddressMode::Buffers(&WINDOWS)) {
                for r in [dec.src, dec.dst, dec.key, dec.iv, dec.aad, dec.tag] {
                    prop_assert!(inside(&r), "{r:?} escapes the buffers for {d:?}");
                }
                let in_place = dec.src.len != 0 && dec.src.ptr == dec.dst.ptr;
                prop_assert!(!dec.src.overlaps(&dec.dst) || in_place);
                prop_assert!(!dec.dst.overlaps(&dec.tag) && !dec.dst.overlaps(&dec.key));
            }
        }
    }
}
