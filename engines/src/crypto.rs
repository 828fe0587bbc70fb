//! AES-GCM, AES-CTR and AES-CBC (128/192/256 by key length) through libcrypto's
//! EVP_CIPHER in the private library context.
//!
//! One-shot calls reuse a per-thread `EVP_CIPHER_CTX` and keep its key schedule
//! while the same key comes back, so a 16-byte GCM seal costs one IV set-up, as in
//! `openssl speed -evp`. CBC runs with EVP's padding off; PKCS#7 is done here so
//! output sizes are exact before anything is written.

use std::cell::RefCell;

use foreign_types_shared::ForeignTypeRef;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::{CipherCtx, CipherCtxRef};

pub use crate::alg::CipherMode;
use crate::ossl::{algs, key_index};
use crate::{Outcome, Result, Status};

const BLOCK: usize = 16;
/// EVP takes `int` lengths: feed it at most this much at a time (block aligned).
const CHUNK: usize = 1 << 30;

fn ossl(_: openssl::error::ErrorStack) -> Status {
    Status::Internal
}

fn cipher_for(mode: CipherMode, key: &[u8]) -> Result<&'static Cipher> {
    let i = key_index(key)?;
    let a = algs()?;
    Ok(match mode {
        CipherMode::Gcm => &a.gcm[i],
        CipherMode::Ctr => &a.ctr[i],
        CipherMode::Cbc => &a.cbc[i],
    })
}

fn check_iv(mode: CipherMode, iv: &[u8]) -> Result<()> {
    let ok = match mode {
        CipherMode::Gcm => (1..=64).contains(&iv.len()),
        CipherMode::Ctr | CipherMode::Cbc => iv.len() == BLOCK,
    };
    if ok {
        Ok(())
    } else {
        Err(Status::InvalidLength)
    }
}

fn check_tag(tag_len: usize) -> Result<()> {
    if (4..=16).contains(&tag_len) {
        Ok(())
    } else {
        Err(Status::InvalidLength)
    }
}

/// Runs EVP_CipherUpdate from `input` to `out` for `len` bytes, in chunks.
///
/// # Safety
/// `input` must be valid for reads and `out` for writes of `len` bytes; they may be
/// the same pointer (EVP supports exact in-place operation) but must not overlap
/// otherwise. `ctx` must be in a state where EVP writes exactly as many bytes as
/// it reads: a stream mode (GCM, CTR), or CBC with padding off, nothing buffered,
/// and `len` a multiple of 16.
unsafe fn evp_update(
    ctx: &mut CipherCtxRef,
    input: *const u8,
    out: *mut u8,
    len: usize,
) -> Result<()> {
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let mut outl: std::ffi::c_int = 0;
        // SAFETY: the caller guarantees [input, input+len) readable and
        // [out, out+len) writable; this chunk lies inside both; n <= 2^30 fits int;
        // EVP writes exactly n bytes in the states the caller guarantees.
        let ok = unsafe {
            openssl_sys::EVP_CipherUpdate(
                ctx.as_ptr(),
                out.add(done),
                &mut outl,
                input.add(done),
                n as std::ffi::c_int,
            )
        };
        if ok != 1 || outl as usize != n {
            let _ = openssl::error::ErrorStack::get();
            return Err(Status::Internal);
        }
        done += n;
    }
    Ok(())
}

/// Feeds additional authenticated data (GCM).
fn feed_aad(ctx: &mut CipherCtxRef, aad: &[u8]) -> Result<()> {
    for chunk in aad.chunks(CHUNK) {
        ctx.cipher_update(chunk, None).map_err(ossl)?;
    }
    Ok(())
}

/// Where the data comes from and goes to: two slices, or one buffer in place.
/// Output offsets always equal input offsets.
trait Io {
    /// The input bytes.
    fn input(&self) -> &[u8];
    /// The whole output area.
    fn output(&mut self) -> &mut [u8];
    /// Transforms input[start..start+len] into output[start..start+len].
    fn transform(&mut self, ctx: &mut CipherCtxRef, start: usize, len: usize) -> Result<()>;
}

struct Split<'a> {
    src: &'a [u8],
    dst: &'a mut [u8],
}

impl Io for Split<'_> {
    fn input(&self) -> &[u8] {
        self.src
    }
    fn output(&mut self) -> &mut [u8] {
        self.dst
    }
    fn transform(&mut self, ctx: &mut CipherCtxRef, start: usize, len: usize) -> Result<()> {
        let end = start.checked_add(len).ok_or(Status::InvalidLength)?;
        let (Some(i), Some(o)) = (self.src.get(start..end), self.dst.get_mut(start..end)) else {
            return Err(Status::Internal);
        };
        // SAFETY: i and o are in-bounds slices of len bytes from distinct borrows
        // (& and &mut), so they do not overlap; callers only transform in the
        // states evp_update requires (stream modes, or whole blocks of CBC).
        unsafe { evp_update(ctx, i.as_ptr(), o.as_mut_ptr(), len) }
    }
}

struct InPlace<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Io for InPlace<'_> {
    fn input(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn output(&mut self) -> &mut [u8] {
        self.buf
    }
    fn transform(&mut self, ctx: &mut CipherCtxRef, start: usize, len: usize) -> Result<()> {
        let end = start.checked_add(len).ok_or(Status::InvalidLength)?;
        let Some(b) = self.buf.get_mut(start..end) else {
            return Err(Status::Internal);
        };
        let p = b.as_mut_ptr();
        // SAFETY: b is an in-bounds slice of len bytes; input and output are the
        // same pointer, which EVP_CipherUpdate supports; state as in Split.
        unsafe { evp_update(ctx, p, p, len) }
    }
}

/// The per-thread one-shot context and the parameters it is keyed with.
struct OneShot {
    ctx: CipherCtx,
    cipher: *const openssl_sys::EVP_CIPHER,
    encrypt: bool,
    key: [u8; 32],
    key_len: usize,
    iv_len: usize,
}

impl Drop for OneShot {
    fn drop(&mut self) {
        self.key.fill(0);
        std::hint::black_box(&mut self.key);
    }
}

thread_local! {
    static ONE_SHOT: RefCell<Option<OneShot>> = const { RefCell::new(None) };
}

fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn init_ctx(
    ctx: &mut CipherCtxRef,
    cipher: &Cipher,
    mode: CipherMode,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
) -> Result<()> {
    let r = if encrypt {
        ctx.encrypt_init(Some(cipher), None, None)
    } else {
        ctx.decrypt_init(Some(cipher), None, None)
    };
    r.map_err(ossl)?;
    if mode == CipherMode::Gcm && iv.len() != 12 {
        ctx.set_iv_length(iv.len()).map_err(ossl)?;
    }
    let r = if encrypt {
        ctx.encrypt_init(None, Some(key), Some(iv))
    } else {
        ctx.decrypt_init(None, Some(key), Some(iv))
    };
    r.map_err(ossl)?;
    if mode == CipherMode::Cbc {
        ctx.set_padding(false);
    }
    Ok(())
}

/// Runs `f` on the thread's one-shot context keyed for (mode, encrypt, key, iv).
/// On error the context is dropped so that no half-used state is reused.
fn with_oneshot<T>(
    mode: CipherMode,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    f: impl FnOnce(&mut CipherCtxRef) -> Result<T>,
) -> Result<T> {
    check_iv(mode, iv)?;
    let cipher = cipher_for(mode, key)?;
    ONE_SHOT.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
            init_ctx(&mut ctx, cipher, mode, encrypt, key, iv)?;
            return f(&mut ctx);
        };
        let reusable = matches!(&*slot, Some(s) if s.cipher == cipher.as_ptr()
            && s.encrypt == encrypt
            && s.iv_len == iv.len()
            && same_key(&s.key[..s.key_len], key));
        if reusable {
            let Some(s) = slot.as_mut() else {
                return Err(Status::Internal);
            };
            // Same cipher, key and IV length: only the IV changes; EVP keeps the
            // key schedule (and GCM's hash key).
            let r = if encrypt {
                s.ctx.encrypt_init(None, None, Some(iv))
            } else {
                s.ctx.decrypt_init(None, None, Some(iv))
            };
            if let Err(e) = r {
                *slot = None;
                return Err(ossl(e));
            }
        } else {
            let mut ctx = match slot.take() {
                Some(mut s) => {
                    s.key.fill(0);
                    // Take the EVP context out; OneShot's Drop wipes the key copy.
                    let fresh = CipherCtx::new().map_err(|_| Status::NoMemory)?;
                    std::mem::replace(&mut s.ctx, fresh)
                }
                None => CipherCtx::new().map_err(|_| Status::NoMemory)?,
            };
            init_ctx(&mut ctx, cipher, mode, encrypt, key, iv)?;
            let mut k = [0u8; 32];
            k[..key.len()].copy_from_slice(key);
            *slot = Some(OneShot {
                ctx,
                cipher: cipher.as_ptr(),
                encrypt,
                key: k,
                key_len: key.len(),
                iv_len: iv.len(),
            });
        }
        let Some(s) = slot.as_mut() else {
            return Err(Status::Internal);
        };
        let r = f(&mut s.ctx);
        if r.is_err() {
            *slot = None;
        }
        r
    })
}

fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

// ---------------------------------------------------------------- GCM

fn gcm_seal_io(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    io: &mut impl Io,
    tag: &mut [u8],
) -> Result<Outcome> {
    check_tag(tag.len())?;
    let n = io.input().len();
    if io.output().len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    let r = with_oneshot(CipherMode::Gcm, true, key, iv, |ctx| {
        feed_aad(ctx, aad)?;
        io.transform(ctx, 0, n)?;
        ctx.cipher_final(&mut []).map_err(ossl)?;
        ctx.tag(tag).map_err(ossl)
    });
    if let Err(e) = r {
        if n > 0 && e != Status::InvalidLength {
            wipe(&mut io.output()[..n]);
        }
        return Err(e);
    }
    Ok(Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    })
}

fn gcm_open_io(key: &[u8], iv: &[u8], aad: &[u8], io: &mut impl Io, tag: &[u8]) -> Result<Outcome> {
    check_tag(tag.len())?;
    let n = io.input().len();
    if io.output().len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    let mut authentic = true;
    let r = with_oneshot(CipherMode::Gcm, false, key, iv, |ctx| {
        feed_aad(ctx, aad)?;
        io.transform(ctx, 0, n)?;
        ctx.set_tag(tag).map_err(ossl)?;
        if ctx.cipher_final(&mut []).is_err() {
            let _ = openssl::error::ErrorStack::get();
            authentic = false;
        }
        Ok(())
    });
    let r = r.and(if authentic {
        Ok(())
    } else {
        Err(Status::AuthFailed)
    });
    if let Err(e) = r {
        if n > 0 && e != Status::InvalidLength {
            wipe(&mut io.output()[..n]);
        }
        return Err(e);
    }
    Ok(Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    })
}

/// AES-GCM encryption of `src` into `dst[..src.len()]`, tag into `tag` (4..=16
/// bytes: the tag truncated to `tag.len()`). IV 1..=64 bytes.
pub fn gcm_seal(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    src: &[u8],
    dst: &mut [u8],
    tag: &mut [u8],
) -> Result<Outcome> {
    gcm_seal_io(key, iv, aad, &mut Split { src, dst }, tag)
}

/// AES-GCM decryption and tag check. On `AuthFailed` `dst[..src.len()]` is zeroed.
pub fn gcm_open(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    src: &[u8],
    dst: &mut [u8],
    tag: &[u8],
) -> Result<Outcome> {
    gcm_open_io(key, iv, aad, &mut Split { src, dst }, tag)
}

/// [`gcm_seal`] of all of `buf`, in place.
pub fn gcm_seal_in_place(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &mut [u8],
) -> Result<Outcome> {
    let len = buf.len();
    gcm_seal_io(key, iv, aad, &mut InPlace { buf, len }, tag)
}

/// [`gcm_open`] of all of `buf`, in place; on `AuthFailed` `buf` is zeroed.
pub fn gcm_open_in_place(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<Outcome> {
    let len = buf.len();
    gcm_open_io(key, iv, aad, &mut InPlace { buf, len }, tag)
}

// ---------------------------------------------------------------- CTR

fn ctr_io(key: &[u8], iv: &[u8], io: &mut impl Io) -> Result<Outcome> {
    let n = io.input().len();
    if io.output().len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    with_oneshot(CipherMode::Ctr, true, key, iv, |ctx| {
        io.transform(ctx, 0, n)
    })?;
    Ok(Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    })
}

/// AES-CTR (encryption and decryption are the same) of `src` into
/// `dst[..src.len()]`; `iv` is the 16-byte initial counter block.
pub fn ctr(key: &[u8], iv: &[u8], src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
    ctr_io(key, iv, &mut Split { src, dst })
}

/// [`ctr`] of all of `buf`, in place.
pub fn ctr_in_place(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<Outcome> {
    let len = buf.len();
    ctr_io(key, iv, &mut InPlace { buf, len })
}

// ---------------------------------------------------------------- CBC

/// The PKCS#7 pad length of a final plaintext block, without data-dependent
/// branches over the block's bytes.
fn pkcs7_pad_len(block: &[u8; BLOCK]) -> Option<usize> {
    let p = block[BLOCK - 1];
    let mut bad = u8::from(p == 0) | u8::from(p as usize > BLOCK);
    for (i, &b) in block.iter().enumerate() {
        let in_pad = u8::from(BLOCK - i <= p as usize);
        bad |= in_pad & u8::from(b != p);
    }
    if bad == 0 {
        Some(p as usize)
    } else {
        None
    }
}

/// Decrypts one block with `prev` as the chaining value.
fn cbc_decrypt_block(key: &[u8], prev: &[u8], block: &[u8]) -> Result<[u8; BLOCK]> {
    let mut out = [0u8; BLOCK];
    with_oneshot(CipherMode::Cbc, false, key, prev, |ctx| {
        Split {
            src: block,
            dst: &mut out,
        }
        .transform(ctx, 0, BLOCK)
    })?;
    Ok(out)
}

fn cbc_io(
    encrypt: bool,
    padding: bool,
    key: &[u8],
    iv: &[u8],
    io: &mut impl Io,
) -> Result<Outcome> {
    check_iv(CipherMode::Cbc, iv)?;
    key_index(key)?;
    let n = io.input().len();
    let full = n / BLOCK * BLOCK;
    if encrypt {
        let out_len = if padding {
            full + BLOCK
        } else if n == full {
            n
        } else {
            return Err(Status::InvalidLength);
        };
        if io.output().len() < out_len {
            return Err(Status::DstTooSmall { needed: out_len });
        }
        let mut last = [0u8; BLOCK];
        if padding {
            let rem = n - full;
            last[..rem].copy_from_slice(&io.input()[full..]);
            last[rem..].fill((BLOCK - rem) as u8);
        }
        let r = with_oneshot(CipherMode::Cbc, true, key, iv, |ctx| {
            io.transform(ctx, 0, full)?;
            if padding {
                let Some(o) = io.output().get_mut(full..full + BLOCK) else {
                    return Err(Status::Internal);
                };
                Split { src: &last, dst: o }.transform(ctx, 0, BLOCK)?;
            }
            Ok(())
        });
        wipe(&mut last);
        if let Err(e) = r {
            wipe(&mut io.output()[..out_len]);
            return Err(e);
        }
        return Ok(Outcome {
            produced: out_len,
            consumed: n,
            ..Outcome::default()
        });
    }
    // Decryption.
    if n != full || (padding && n == 0) {
        return Err(Status::InvalidLength);
    }
    if !padding {
        if io.output().len() < n {
            return Err(Status::DstTooSmall { needed: n });
        }
        let r = with_oneshot(CipherMode::Cbc, false, key, iv, |ctx| {
            io.transform(ctx, 0, n)
        });
        if let Err(e) = r {
            wipe(&mut io.output()[..n]);
            return Err(e);
        }
        return Ok(Outcome {
            produced: n,
            consumed: n,
            ..Outcome::default()
        });
    }
    let body = n - BLOCK;
    if io.output().len() < n - 1 {
        // Might not fit: decrypt the last block alone to learn the exact size.
        let prev: Vec<u8> = if body >= BLOCK {
            io.input()[body - BLOCK..body].to_vec()
        } else {
            iv.to_vec()
        };
        let mut last = cbc_decrypt_block(key, &prev, &io.input()[body..])?;
        let pad = pkcs7_pad_len(&last);
        wipe(&mut last);
        let Some(pad) = pad else {
            return Err(Status::DataError);
        };
        let needed = n - pad;
        if io.output().len() < needed {
            return Err(Status::DstTooSmall { needed });
        }
    }
    let mut last = [0u8; BLOCK];
    let r = with_oneshot(CipherMode::Cbc, false, key, iv, |ctx| {
        io.transform(ctx, 0, body)?;
        let Some(src) = io.input().get(body..n) else {
            return Err(Status::Internal);
        };
        let src: [u8; BLOCK] = src.try_into().map_err(|_| Status::Internal)?;
        Split {
            src: &src,
            dst: &mut last,
        }
        .transform(ctx, 0, BLOCK)
    });
    let pad = pkcs7_pad_len(&last);
    let res = match (r, pad) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(Status::DataError),
        (Ok(()), Some(pad)) => {
            let keep = BLOCK - pad;
            match io.output().get_mut(body..body + keep) {
                Some(o) => {
                    o.copy_from_slice(&last[..keep]);
                    Ok(body + keep)
                }
                None => Err(Status::DstTooSmall {
                    needed: body + keep,
                }),
            }
        }
    };
    wipe(&mut last);
    match res {
        Ok(produced) => Ok(Outcome {
            produced,
            consumed: n,
            ..Outcome::default()
        }),
        Err(e) => {
            let m = body.min(io.output().len());
            wipe(&mut io.output()[..m]);
            Err(e)
        }
    }
}

/// AES-CBC. Encryption with `padding` appends PKCS#7 (output = len rounded up to
/// the next whole block, always at least one pad byte); without, the length must
/// be a multiple of 16. Decryption with `padding` checks and strips it (bad pad:
/// `DataError`, output wiped). `DstTooSmall { needed }` is exact.
pub fn cbc(
    encrypt: bool,
    padding: bool,
    key: &[u8],
    iv: &[u8],
    src: &[u8],
    dst: &mut [u8],
) -> Result<Outcome> {
    cbc_io(encrypt, padding, key, iv, &mut Split { src, dst })
}

/// [`cbc`] in place over `buf[..data_len]`; the output starts at `buf[0]` and
/// `produced` says how long it is. Encryption with padding needs `buf.len()` to
/// hold the padded length.
pub fn cbc_in_place(
    encrypt: bool,
    padding: bool,
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
    data_len: usize,
) -> Result<Outcome> {
    if data_len > buf.len() {
        return Err(Status::InvalidLength);
    }
    cbc_io(
        encrypt,
        padding,
        key,
        iv,
        &mut InPlace { buf, len: data_len },
    )
}

// ---------------------------------------------------------------- streaming

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Before any data: GCM AAD may still be added.
    Start,
    Data,
    Finished,
}

/// A streaming cipher (init / update / final), like an `EVP_CIPHER_CTX`.
///
/// GCM decryption releases plaintext from `update` before the tag is checked in
/// `finish` (as EVP does); callers that must not release unauthenticated data use
/// the one-shot [`gcm_open`].
pub struct CipherStream {
    ctx: CipherCtx,
    mode: CipherMode,
    encrypt: bool,
    padding: bool,
    /// CBC: bytes not yet processed (a partial block, or on padded decryption the
    /// held-back last block).
    pend: [u8; BLOCK],
    pend_len: usize,
    tag: [u8; BLOCK],
    tag_len: usize,
    phase: Phase,
}

impl Drop for CipherStream {
    fn drop(&mut self) {
        wipe(&mut self.pend);
    }
}

impl CipherStream {
    /// A new stream. `padding` only matters for CBC.
    pub fn new(
        mode: CipherMode,
        encrypt: bool,
        padding: bool,
        key: &[u8],
        iv: &[u8],
    ) -> Result<Self> {
        check_iv(mode, iv)?;
        let cipher = cipher_for(mode, key)?;
        let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
        init_ctx(&mut ctx, cipher, mode, encrypt, key, iv)?;
        Ok(CipherStream {
            ctx,
            mode,
            encrypt,
            padding: padding && mode == CipherMode::Cbc,
            pend: [0; BLOCK],
            pend_len: 0,
            tag: [0; BLOCK],
            tag_len: 0,
            phase: Phase::Start,
        })
    }

    /// Starts a new message on this context: a new IV, and a new key only if
    /// `key` is given. Keeping the key keeps its schedule, which makes a
    /// message per context (TLS records, `openssl speed`) much cheaper than
    /// [`new`](Self::new). Direction, mode and padding stay as they were.
    pub fn restart(&mut self, key: Option<&[u8]>, iv: &[u8]) -> Result<()> {
        check_iv(self.mode, iv)?;
        let rekey_len_changes = key.is_some_and(|k| k.len() != self.ctx.key_length());
        if rekey_len_changes {
            let k = key.expect("checked above");
            let cipher = cipher_for(self.mode, k)?;
            init_ctx(&mut self.ctx, cipher, self.mode, self.encrypt, k, iv)?;
        } else {
            if self.mode == CipherMode::Gcm && iv.len() != self.ctx.iv_length() {
                self.ctx.set_iv_length(iv.len()).map_err(ossl)?;
            }
            let r = if self.encrypt {
                self.ctx.encrypt_init(None, key, Some(iv))
            } else {
                self.ctx.decrypt_init(None, key, Some(iv))
            };
            r.map_err(ossl)?;
        }
        wipe(&mut self.pend);
        self.pend_len = 0;
        self.tag = [0; BLOCK];
        self.tag_len = 0;
        self.phase = Phase::Start;
        Ok(())
    }

    /// Adds GCM additional authenticated data; only before the first `update`.
    pub fn set_aad(&mut self, aad: &[u8]) -> Result<()> {
        if self.mode != CipherMode::Gcm {
            return Err(Status::InvalidAlg);
        }
        if self.phase != Phase::Start {
            return Err(Status::BadStream);
        }
        feed_aad(&mut self.ctx, aad)
    }

    /// How many bytes `update` with `input_len` more bytes will write.
    pub fn update_len(&self, input_len: usize) -> usize {
        if self.mode != CipherMode::Cbc {
            return input_len;
        }
        let total = self.pend_len + input_len;
        if self.padding && !self.encrypt {
            // Hold back the last whole block: it carries the padding.
            total.saturating_sub(1) / BLOCK * BLOCK
        } else {
            total / BLOCK * BLOCK
        }
    }

    fn check_open(&mut self) -> Result<()> {
        if self.phase == Phase::Finished {
            return Err(Status::BadStream);
        }
        self.phase = Phase::Data;
        Ok(())
    }

    /// Processes `src`, writing `update_len(src.len())` bytes to `dst` and
    /// returning that count. `DstTooSmall { needed }` (nothing consumed) if `dst`
    /// is shorter.
    pub fn update(&mut self, src: &[u8], dst: &mut [u8]) -> Result<usize> {
        let out = self.update_len(src.len());
        if dst.len() < out {
            return Err(Status::DstTooSmall { needed: out });
        }
        self.check_open()?;
        if self.mode != CipherMode::Cbc {
            Split { src, dst }.transform(&mut self.ctx, 0, src.len())?;
            return Ok(src.len());
        }
        let mut s = src;
        let mut written = 0;
        if self.pend_len > 0 {
            let take = (BLOCK - self.pend_len).min(s.len());
            self.pend[self.pend_len..self.pend_len + take].copy_from_slice(&s[..take]);
            self.pend_len += take;
            s = &s[take..];
            if self.pend_len == BLOCK && out >= BLOCK {
                let block = self.pend;
                Split {
                    src: &block,
                    dst: &mut dst[..BLOCK],
                }
                .transform(&mut self.ctx, 0, BLOCK)?;
                self.pend_len = 0;
                written = BLOCK;
            }
        }
        let mid = out - written;
        if mid > 0 {
            Split {
                src: &s[..mid],
                dst: &mut dst[written..out],
            }
            .transform(&mut self.ctx, 0, mid)?;
        }
        let rest = &s[mid..];
        if !rest.is_empty() {
            if self.pend_len + rest.len() > BLOCK {
                return Err(Status::Internal);
            }
            self.pend[self.pend_len..self.pend_len + rest.len()].copy_from_slice(rest);
            self.pend_len += rest.len();
        }
        Ok(out)
    }

    /// [`update`](Self::update) of `buf[..len]` with the output written from
    /// `buf[0]`; `buf.len()` must hold `update_len(len)` bytes.
    pub fn update_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        if len > buf.len() {
            return Err(Status::InvalidLength);
        }
        let out = self.update_len(len);
        if buf.len() < out {
            return Err(Status::DstTooSmall { needed: out });
        }
        if self.mode != CipherMode::Cbc || self.pend_len == 0 {
            self.check_open()?;
            if self.mode != CipherMode::Cbc {
                InPlace { buf, len }.transform(&mut self.ctx, 0, len)?;
                return Ok(len);
            }
            // Nothing pending: block i of the output is block i of the input.
            InPlace { buf, len }.transform(&mut self.ctx, 0, out)?;
            let rest = len - out;
            if rest > BLOCK {
                return Err(Status::Internal);
            }
            self.pend[..rest].copy_from_slice(&buf[out..len]);
            self.pend_len = rest;
            return Ok(out);
        }
        // Pending bytes shift the output against the input: go through a copy.
        let src = buf[..len].to_vec();
        self.update(&src, buf)
    }

    /// Ends the stream: CBC writes its last block (at most 16 bytes, exact size
    /// from `finish_len`); GCM decryption checks the tag set with
    /// [`set_expected_tag`](Self::set_expected_tag) (`AuthFailed` if wrong).
    pub fn finish(&mut self, dst: &mut [u8]) -> Result<usize> {
        if self.phase == Phase::Finished {
            return Err(Status::BadStream);
        }
        match self.mode {
            CipherMode::Ctr => {
                self.phase = Phase::Finished;
                Ok(0)
            }
            CipherMode::Gcm => {
                if !self.encrypt {
                    if self.tag_len == 0 {
                        return Err(Status::BadStream);
                    }
                    let tag = self.tag;
                    self.ctx.set_tag(&tag[..self.tag_len]).map_err(ossl)?;
                }
                self.phase = Phase::Finished;
                match self.ctx.cipher_final(&mut []) {
                    Ok(_) => Ok(0),
                    Err(_) if !self.encrypt => Err(Status::AuthFailed),
                    Err(e) => Err(ossl(e)),
                }
            }
            CipherMode::Cbc => self.finish_cbc(dst),
        }
    }

    fn finish_cbc(&mut self, dst: &mut [u8]) -> Result<usize> {
        if !self.padding {
            if self.pend_len != 0 {
                return Err(Status::InvalidLength);
            }
            self.phase = Phase::Finished;
            return Ok(0);
        }
        if self.encrypt {
            if dst.len() < BLOCK {
                return Err(Status::DstTooSmall { needed: BLOCK });
            }
            let mut block = self.pend;
            block[self.pend_len..].fill((BLOCK - self.pend_len) as u8);
            let r = Split {
                src: &block,
                dst: &mut dst[..BLOCK],
            }
            .transform(&mut self.ctx, 0, BLOCK);
            wipe(&mut block);
            r?;
            self.pend_len = 0;
            self.phase = Phase::Finished;
            return Ok(BLOCK);
        }
        if self.pend_len != BLOCK {
            return Err(Status::InvalidLength);
        }
        // Decrypt the held-back block on a copy of the context, so that a
        // too-small dst can be retried.
        let mut probe = CipherCtx::new().map_err(|_| Status::NoMemory)?;
        probe.copy(&self.ctx).map_err(ossl)?;
        let block = self.pend;
        let mut plain = [0u8; BLOCK];
        Split {
            src: &block,
            dst: &mut plain,
        }
        .transform(&mut probe, 0, BLOCK)?;
        let pad = pkcs7_pad_len(&plain);
        let res = match pad {
            None => {
                self.phase = Phase::Finished;
                Err(Status::DataError)
            }
            Some(pad) => {
                let keep = BLOCK - pad;
                if dst.len() < keep {
                    Err(Status::DstTooSmall { needed: keep })
                } else {
                    dst[..keep].copy_from_slice(&plain[..keep]);
                    self.pend_len = 0;
                    self.phase = Phase::Finished;
                    Ok(keep)
                }
            }
        };
        wipe(&mut plain);
        res
    }

    /// GCM encryption, after `finish`: writes the tag truncated to `out.len()`
    /// (4..=16).
    pub fn tag(&self, out: &mut [u8]) -> Result<()> {
        if self.mode != CipherMode::Gcm || !self.encrypt {
            return Err(Status::InvalidAlg);
        }
        check_tag(out.len())?;
        if self.phase != Phase::Finished {
            return Err(Status::BadStream);
        }
        self.ctx.tag(out).map_err(ossl)
    }

    /// GCM decryption: the tag `finish` must check (1..=16 bytes).
    pub fn set_expected_tag(&mut self, tag: &[u8]) -> Result<()> {
        if self.mode != CipherMode::Gcm || self.encrypt {
            return Err(Status::InvalidAlg);
        }
        // A stream mirrors EVP, which checks any tag of 1..=16 bytes the caller
        // chose to keep (the one-shot calls keep the ABI's 4..=16).
        if !(1..=BLOCK).contains(&tag.len()) {
            return Err(Status::InvalidLength);
        }
        if self.phase == Phase::Finished {
            return Err(Status::BadStream);
        }
        self.tag[..tag.len()].copy_from_slice(tag);
        self.tag_len = tag.len();
        Ok(())
    }

    /// The mode.
    pub fn mode(&self) -> CipherMode {
        self.mode
    }

    /// Fallible clone (an allocation may fail).
    pub fn try_clone(&self) -> Result<Self> {
        let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
        ctx.copy(&self.ctx).map_err(ossl)?;
        Ok(CipherStream {
            ctx,
            mode: self.mode,
            encrypt: self.encrypt,
            padding: self.padding,
            pend: self.pend,
            pend_len: self.pend_len,
            tag: self.tag,
            tag_len: self.tag_len,
            phase: self.phase,
        })
    }
}

impl Clone for CipherStream {
    /// Panics only if OpenSSL cannot allocate a context; use
    /// [`CipherStream::try_clone`] to get that as an error.
    fn clone(&self) -> Self {
        match self.try_clone() {
            Ok(s) => s,
            Err(e) => panic!("CipherStream::clone: {e}"),
        }
    }
}
