//! AES-GCM, AES-CTR and AES-CBC (128/192/256) as OpenSSL cipher implementations.
//!
//! The context follows the semantics of OpenSSL's own implementations
//! (providers/implementations/ciphers/ciphercommon*.c): keys and IVs may arrive in
//! separate init calls, GCM takes AAD through update with a NULL output, the tag is a
//! context parameter, and the TLS 1.2 GCM parameters (tlsaad, tlsivfixed, tlsivgen,
//! tlsivinv) switch update to in-place record processing. CBC block buffering and PKCS#7
//! padding live here; the core only ever sees whole blocks for CBC.
//!
//! What the engines cannot do hands the context over to the default provider's own
//! implementation (`soft`), state included, for the rest of its life: TLS CBC record
//! processing (`tls-version`, `tls-mac-size`), GCM IVs longer than the descriptor ABI
//! carries (65..=128 bytes), a CTR position (`num`) the caller sets.
//!
//! Layout: this file holds the context and what every mode shares (init, the stream, the
//! soft hand-over, parameters); `gcm`, `ctr` and `cbc` each mode's data path; `dispatch`
//! the OSSL glue (parameter tables, C entry points, dispatch tables).

use crate::backend::{CipherMode, Stream};
use crate::boundary::PResult;
use crate::ffi;
use crate::params::{ParamsIn, ParamsOut};
use crate::soft::{self, SoftCipher};
use crate::{bail, prov_err};
use std::os::raw::c_int;
use std::ptr;

mod cbc;
mod ctr;
mod dispatch;
mod gcm;

pub use dispatch::algorithms;

/// Mode ids used as const generic parameters.
pub const GCM: u8 = 0;
/// See [`GCM`].
pub const CTR: u8 = 1;
/// See [`GCM`].
pub const CBC: u8 = 2;

const BLOCK: usize = 16;
/// The core (and its descriptor ABI, WD_MAX_IV_BYTES) takes GCM IVs of 1..=64 bytes;
/// OpenSSL itself accepts up to 128: longer IVs go to the default implementation.
const GCM_IV_MAX: usize = 64;
/// The shortest GCM IV the default provider generates a random value for (an encrypt
/// with a key and no IV).
const GCM_IV_RANDOM_MIN: usize = 12;
const GCM_TAG_MAX: usize = 16;
const TLS_AAD_LEN: usize = 13; // EVP_AEAD_TLS1_AAD_LEN
const TLS_FIXED_IV: usize = ffi::EVP_GCM_TLS_FIXED_IV_LEN as usize;
const TLS_EXPLICIT_IV: usize = ffi::EVP_GCM_TLS_EXPLICIT_IV_LEN as usize;
const TLS_TAG: usize = ffi::EVP_GCM_TLS_TAG_LEN as usize;

// EVP_CIPH_*_MODE from evp.h.
const EVP_CIPH_CBC_MODE: u32 = 0x2;
const EVP_CIPH_CTR_MODE: u32 = 0x5;
const EVP_CIPH_GCM_MODE: u32 = 0x6;

fn core_mode(m: u8) -> CipherMode {
    match m {
        GCM => CipherMode::Gcm,
        CTR => CipherMode::Ctr,
        _ => CipherMode::Cbc,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IvState {
    /// No IV given yet.
    Unset,
    /// An IV is set and no data has used it yet.
    Buffered,
    /// A message with this IV is in progress.
    InUse,
    /// The message ended; GCM needs a fresh IV before the next one.
    Finished,
}

/// Key material, wiped on drop.
#[derive(Clone)]
struct Key {
    bytes: [u8; 32],
    len: usize,
}

impl Key {
    fn new(k: &[u8]) -> Key {
        let mut bytes = [0u8; 32];
        bytes[..k.len()].copy_from_slice(k);
        Key {
            bytes,
            len: k.len(),
        }
    }
    fn get(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

/// Zeroes `b` in a way the optimiser keeps.
pub fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: `x` is a valid, exclusive reference to a byte.
        unsafe { ptr::write_volatile(x, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Adds `n` to a big-endian 128-bit counter block.
fn ctr_add(iv: &[u8; 16], n: u64) -> [u8; 16] {
    (u128::from_be_bytes(*iv).wrapping_add(u128::from(n))).to_be_bytes()
}

/// One cipher operation context (`algctx` on the OpenSSL side).
#[derive(Clone)]
pub struct AesCtx {
    mode: u8,
    keylen: usize,
    enc: bool,
    key: Option<Key>,
    // GCM IV (any length up to GCM_IV_MAX); for CBC/CTR the first 16 bytes are the
    // original IV.
    iv: [u8; GCM_IV_MAX],
    ivlen: usize,
    iv_state: IvState,
    /// CBC/CTR keyed without ever being given an IV: like the default provider, run on
    /// its zeroed IV, and a CBC re-init without an IV carries on from the chaining value
    /// (there is no original IV to go back to).
    iv_implicit: bool,
    padding: bool,
    stream: Option<Stream>,
    /// The last message's finished stream and its direction, kept for the
    /// next message with the same key: restarting it keeps the key schedule
    /// (a message per init is what TLS records and `openssl speed` do).
    spare: Option<(Stream, bool)>,
    finished: bool,
    // CBC: partial block (or the held-back last block on padded decrypt) and the chaining
    // value (the "updated IV").
    buf: [u8; BLOCK],
    nbuf: usize,
    chain: [u8; BLOCK],
    // CTR: counter block at the start of the current stream and bytes done since.
    ctr_base: [u8; BLOCK],
    ctr_done: u64,
    // GCM
    aad: Vec<u8>,
    aad_sent: bool,
    payload: u64,
    tag: [u8; GCM_TAG_MAX],
    taglen: Option<usize>,
    tag_ready: bool,
    /// GCM encryption: the tag of the last message is still in the parked stream
    /// (`spare`) and not yet copied into `tag`; fetched only when asked for.
    tag_pending: bool,
    tls_aad: Option<[u8; TLS_AAD_LEN]>,
    tls_aad_pad: Option<usize>,
    iv_gen: bool,
    tls_records: u64,
    // The IV of the record being processed (gcm_iv_gen advances `iv` past it).
    record_iv: [u8; GCM_IV_MAX],
    /// The default provider's implementation, once this context needed what the engines
    /// cannot do; from then on every call goes to it.
    soft: Option<SoftCipher>,
    /// GCM: this message's first payload update went to the core as one request.
    oneshot: Option<OneShot>,
}

/// A GCM message run as one core request (a TLS 1.3 record, or any message whose first
/// update is at least the one-shot size) before its final. EVP may still send more data
/// or a new tag: then the kept input is replayed into a stream (output discarded, it went
/// out already) and the message carries on there.
#[derive(Clone)]
struct OneShot {
    input: Vec<u8>,
}

impl Drop for OneShot {
    fn drop(&mut self) {
        wipe(&mut self.input);
    }
}

/// How update's input and output relate.
enum Io<'a> {
    Separate(&'a [u8], &'a mut [u8]),
    InPlace(&'a mut [u8]),
}

impl AesCtx {
    fn new(mode: u8, keylen: usize) -> AesCtx {
        AesCtx {
            mode,
            keylen,
            enc: true,
            key: None,
            iv: [0; GCM_IV_MAX],
            ivlen: if mode == GCM { 12 } else { BLOCK },
            iv_state: IvState::Unset,
            iv_implicit: false,
            padding: true,
            stream: None,
            spare: None,
            finished: false,
            buf: [0; BLOCK],
            nbuf: 0,
            chain: [0; BLOCK],
            ctr_base: [0; BLOCK],
            ctr_done: 0,
            aad: Vec::new(),
            aad_sent: false,
            payload: 0,
            tag: [0; GCM_TAG_MAX],
            taglen: None,
            tag_ready: false,
            tag_pending: false,
            tls_aad: None,
            tls_aad_pad: None,
            iv_gen: false,
            tls_records: 0,
            record_iv: [0; GCM_IV_MAX],
            soft: None,
            oneshot: None,
        }
    }

    fn soft_name(&self) -> String {
        let m = match self.mode {
            GCM => "GCM",
            CTR => "CTR",
            _ => "CBC",
        };
        format!("AES-{}-{m}", self.keylen * 8)
    }

    /// Hands the context to the default provider's implementation, with the state it
    /// holds (key, IV or counter position, chaining value, buffered bytes, padding, AAD
    /// not yet sent, the expected tag), for the rest of its life.
    fn go_soft(&mut self) -> PResult<&mut SoftCipher> {
        if self.soft.is_none() {
            let s = self.soft_from_state()?;
            self.stream = None;
            self.spare = None;
            self.soft = Some(s);
        }
        self.soft.as_mut().ok_or_else(|| prov_err!(NotInitialized))
    }

    fn soft_from_state(&self) -> PResult<SoftCipher> {
        let mut s = SoftCipher::new(&self.soft_name())?;
        let enc = self.enc;
        let (kp, kl) = self
            .key
            .as_ref()
            .map_or((ptr::null(), 0), |k| (k.get().as_ptr(), k.len));
        let none = soft::NO_PARAMS;
        // For every call on `s` below: a live context of the default implementation;
        // each pointer is NULL or one of our buffers with its length, and every parameter
        // array is terminated and points at locals that outlive the call.
        match self.mode {
            GCM => {
                if self.payload > 0
                    || self.aad_sent
                    || self.iv_gen
                    || self.tls_aad.is_some()
                    || self.iv_state == IvState::InUse
                {
                    bail!(
                        UnsupportedParam,
                        "a GCM message in progress cannot change implementation"
                    );
                }
                let mut ivlen = self.ivlen;
                let p = soft::one(soft::size_param(
                    ffi::OSSL_CIPHER_PARAM_AEAD_IVLEN,
                    &mut ivlen,
                ));
                // SAFETY: see the note above the match.
                soft::check(unsafe { s.init(enc, kp, kl, ptr::null(), 0, p.as_ptr()) })?;
                if matches!(self.iv_state, IvState::Buffered | IvState::Finished) {
                    // A finished IV goes over too: the IV-length change that brings a
                    // context here makes the default implementation refuse it as well.
                    let iv = self.iv.as_ptr();
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.init(enc, ptr::null(), 0, iv, self.ivlen, none) })?;
                }
                if !self.aad.is_empty() {
                    let mut outl = 0;
                    let (a, n) = (self.aad.as_ptr(), self.aad.len());
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.update(ptr::null_mut(), &mut outl, 0, a, n) })?;
                }
                if let (Some(tl), false) = (self.taglen, enc) {
                    let p = soft::one(soft::octets_param(
                        ffi::OSSL_CIPHER_PARAM_AEAD_TAG,
                        &self.tag[..tl],
                    ));
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.set_params(p.as_ptr()) })?;
                }
            }
            CTR => {
                if self.iv_state == IvState::Unset {
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.init(enc, kp, kl, ptr::null(), 0, none) })?;
                } else {
                    // The counter block of the current position, then the used part of
                    // its keystream burnt, so that `num` means what it means there.
                    let at = ctr_add(&self.ctr_base, self.ctr_done / BLOCK as u64);
                    let skip = (self.ctr_done % BLOCK as u64) as usize;
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.init(enc, kp, kl, at.as_ptr(), BLOCK, none) })?;
                    if skip > 0 {
                        let mut z = [0u8; BLOCK];
                        let zp = z.as_mut_ptr();
                        let mut outl = 0;
                        // SAFETY: see the note above the match.
                        soft::check(unsafe { s.update(zp, &mut outl, BLOCK, zp, skip) })?;
                    }
                }
            }
            _ => {
                let (iv, ivl) = if self.iv_state == IvState::Unset {
                    (ptr::null(), 0)
                } else {
                    (self.chain.as_ptr(), BLOCK)
                };
                let mut pad = u32::from(self.padding);
                let p = soft::one(soft::uint_param(ffi::OSSL_CIPHER_PARAM_PADDING, &mut pad));
                // SAFETY: see the note above the match.
                soft::check(unsafe { s.init(enc, kp, kl, iv, ivl, p.as_ptr()) })?;
                if self.nbuf > 0 {
                    // Less than a block, or the held-back last block: no output.
                    let mut o = [0u8; 2 * BLOCK];
                    let mut outl = 0;
                    let (op, b) = (o.as_mut_ptr(), self.buf.as_ptr());
                    // SAFETY: see the note above the match.
                    soft::check(unsafe { s.update(op, &mut outl, 2 * BLOCK, b, self.nbuf) })?;
                    if outl != 0 {
                        bail!(CoreFailure, "buffered CBC bytes produced output");
                    }
                }
            }
        }
        Ok(s)
    }

    /// GCM encryption with a key and no IV: a random IV, as the default provider makes.
    fn gcm_iv_on_demand(&mut self) -> PResult<()> {
        if self.mode != GCM || self.iv_state != IvState::Unset || self.key.is_none() {
            return Ok(());
        }
        if !self.enc || self.tls_aad.is_some() || self.ivlen < GCM_IV_RANDOM_MIN {
            bail!(NotInitialized, "no IV set");
        }
        // SAFETY: `self.iv` is writable for `ivlen <= GCM_IV_MAX` bytes.
        if unsafe { ffi::RAND_bytes(self.iv.as_mut_ptr(), self.ivlen as c_int) } != 1 {
            bail!(CoreFailure, "RAND_bytes");
        }
        self.iv_state = IvState::Buffered;
        Ok(())
    }

    fn oiv(&self) -> [u8; BLOCK] {
        let mut o = [0u8; BLOCK];
        o.copy_from_slice(&self.iv[..BLOCK]);
        o
    }

    fn init(
        &mut self,
        enc: bool,
        key: Option<&[u8]>,
        iv: Option<&[u8]>,
        params: ParamsIn,
    ) -> PResult<()> {
        self.park_stream();
        self.enc = enc;
        self.finished = false;
        self.nbuf = 0;
        self.aad.clear();
        self.aad_sent = false;
        self.payload = 0;
        self.tag_ready = false;
        self.tag_pending = false;
        self.tls_aad = None;
        self.oneshot = None;
        if let Some(k) = key {
            if k.len() != self.keylen {
                bail!(
                    InvalidKeyLength,
                    "got {} bytes, need {}",
                    k.len(),
                    self.keylen
                );
            }
            // The same key again (a message per init): keep it and the parked stream
            // with its key schedule.
            if self.key.as_ref().is_none_or(|old| old.get() != k) {
                self.spare = None;
                self.key = Some(Key::new(k));
            }
            self.tls_records = 0;
        }
        if self.mode == GCM {
            if let Some(iv) = iv {
                if iv.is_empty() || iv.len() > GCM_IV_MAX {
                    // Longer IVs are handed to the default implementation (init_common).
                    bail!(InvalidIvLength, "GCM IV of {} bytes", iv.len());
                }
                self.ivlen = iv.len();
                self.iv[..iv.len()].copy_from_slice(iv);
                self.iv_state = IvState::Buffered;
            } else if self.iv_state == IvState::InUse {
                // Re-initialised mid-message without a new IV: never reuse it.
                self.iv_state = IvState::Finished;
            }
        } else {
            if let Some(iv) = iv {
                if iv.len() != BLOCK {
                    bail!(InvalidIvLength, "got {} bytes, need {BLOCK}", iv.len());
                }
                self.iv[..BLOCK].copy_from_slice(iv);
                self.iv_state = IvState::Buffered;
                self.iv_implicit = false;
                self.ctr_base = self.oiv();
            } else if self.iv_state == IvState::Unset {
                self.iv[..BLOCK].fill(0);
                self.iv_state = IvState::Buffered;
                self.iv_implicit = true;
                self.ctr_base = self.oiv();
            } else if self.iv_implicit && self.mode == CBC {
                self.iv[..BLOCK].copy_from_slice(&self.chain);
                self.iv_state = IvState::Buffered;
            } else {
                self.iv_state = IvState::Buffered;
                // CTR carries on from the next counter block (as OpenSSL does); CBC
                // restarts from the original IV.
                self.ctr_base = ctr_add(&self.ctr_base, self.ctr_done.div_ceil(BLOCK as u64));
            }
            self.ctr_done = 0;
            self.chain = self.oiv();
        }
        self.set_params(params)
    }

    fn check_ready(&self) -> PResult<()> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        if self.finished {
            bail!(AlreadyFinished, "re-initialise the context first");
        }
        match self.iv_state {
            IvState::Unset => bail!(NotInitialized, "no IV set"),
            IvState::Finished => bail!(AlreadyFinished, "the IV was used; set a new IV"),
            _ => Ok(()),
        }
    }

    /// Ends the current stream, keeping it for a restart.
    fn park_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            self.spare = Some((s, self.enc));
        }
    }

    /// GCM encryption: copies the last message's tag out of the parked stream, if that
    /// has not happened yet. Deferred from final because most callers never ask (and
    /// asking the engine costs a ctrl round trip through its own EVP context).
    fn fetch_tag(&mut self) -> PResult<()> {
        if self.tag_pending {
            let (s, _) = self
                .spare
                .as_ref()
                .ok_or_else(|| prov_err!(InvalidTag, "the tag is gone"))?;
            s.get_tag(&mut self.tag)?;
            self.tag_pending = false;
        }
        Ok(())
    }

    fn ensure_stream(&mut self) -> PResult<&mut Stream> {
        if self.stream.is_none() {
            self.gcm_iv_on_demand()?;
            self.check_ready()?;
            // The parked stream may still hold an unfetched tag: keep it before the
            // stream starts the next message. (Unreachable in practice: every path that
            // starts a new message clears `tag_pending` first.) If it cannot be fetched,
            // never hand out a stale tag later.
            if self.tag_pending && self.fetch_tag().is_err() {
                self.tag_pending = false;
                self.tag_ready = false;
            }
            let key = self
                .key
                .as_ref()
                .ok_or_else(|| prov_err!(NotInitialized, "no key set"))?;
            let ctr_at = ctr_add(&self.ctr_base, self.ctr_done / BLOCK as u64);
            let iv: &[u8] = match self.mode {
                GCM => &self.iv[..self.ivlen],
                CTR => &ctr_at,
                _ => &self.chain,
            };
            let mut s = match self.spare.take() {
                Some((mut s, enc)) if enc == self.enc => {
                    s.restart(iv)?;
                    s
                }
                _ => Stream::new(core_mode(self.mode), self.enc, key.get(), iv)?,
            };
            let skip = (self.ctr_done % BLOCK as u64) as usize;
            if self.mode == CTR && skip > 0 {
                // Resume mid-block (after a one-shot request): burn the used keystream.
                let mut scratch = [0u8; BLOCK];
                s.update_in_place(&mut scratch[..skip])?;
            }
            self.stream = Some(s);
            self.iv_state = IvState::InUse;
        }
        self.stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))
    }

    /// Bytes of output an update of `inl` bytes produces.
    fn out_len(&self, inl: usize) -> usize {
        if self.mode != CBC {
            return inl;
        }
        let total = self.nbuf + inl;
        let mut n = total / BLOCK * BLOCK;
        if !self.enc && self.padding && n == total && n > 0 {
            n -= BLOCK; // hold back the last block until final
        }
        n
    }

    /// # Safety
    /// `inp` is NULL or readable for `inl` bytes; `out` is NULL or writable for `outsize`
    /// bytes (the EVP contract for OSSL_FUNC_cipher_update).
    unsafe fn update_raw(
        &mut self,
        out: *mut u8,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> PResult<usize> {
        if self.mode == GCM && self.tls_aad.is_some() {
            if out.cast_const() != inp || inp.is_null() {
                bail!(InvalidParam, "TLS records are processed in place");
            }
            if outsize < inl {
                bail!(OutputTooSmall, "{outsize} < {inl}");
            }
            // SAFETY: in place: `inp == out`, readable and writable for `inl` bytes.
            let buf = unsafe { std::slice::from_raw_parts_mut(out, inl) };
            return self.gcm_tls(buf);
        }
        if inl == 0 {
            // Still enforce the state machine (update after final fails).
            if self.mode == GCM {
                if self.key.is_none() {
                    bail!(NotInitialized, "no key set");
                }
            } else {
                self.check_ready()?;
            }
            return Ok(0);
        }
        if inp.is_null() {
            bail!(InvalidParam, "NULL input");
        }
        // SAFETY: `inp` is readable for `inl` bytes (function contract).
        let input = unsafe { std::slice::from_raw_parts(inp, inl) };
        if out.is_null() {
            if self.mode != GCM {
                bail!(InvalidParam, "NULL output");
            }
            self.gcm_aad(input)?;
            return Ok(inl);
        }
        let need = self.out_len(inl);
        if outsize < need {
            bail!(OutputTooSmall, "{outsize} < {need}");
        }
        let (o0, o1) = (out as usize, out as usize + need);
        let (i0, i1) = (inp as usize, inp as usize + inl);
        if out.cast_const() == inp && self.mode != CBC {
            // SAFETY: exact in-place: the region is readable and writable for `inl` bytes,
            // and `input` is not used after this point.
            let buf = unsafe { std::slice::from_raw_parts_mut(out, inl) };
            self.process(Io::InPlace(buf))
        } else if need > 0 && o0 < i1 && i0 < o1 {
            // Overlapping but not exactly in place (or CBC in place): work from a copy.
            let copy = input.to_vec();
            // SAFETY: `out` is writable for `need <= outsize` bytes and `input` is no
            // longer used (we read from `copy`).
            let o = unsafe { std::slice::from_raw_parts_mut(out, need) };
            self.process(Io::Separate(&copy, o))
        } else {
            // SAFETY: `out` is writable for `need` bytes and does not overlap `input`.
            let o = unsafe { std::slice::from_raw_parts_mut(out, need) };
            self.process(Io::Separate(input, o))
        }
    }

    fn process(&mut self, io: Io<'_>) -> PResult<usize> {
        match self.mode {
            GCM => self.gcm_data(io),
            CTR => self.ctr_data(io),
            _ => match io {
                Io::Separate(i, o) => self.cbc_data(i, o),
                Io::InPlace(b) => {
                    let copy = b.to_vec();
                    self.cbc_data(&copy, b)
                }
            },
        }
    }

    fn final_raw(&mut self, out: *mut u8, outsize: usize) -> PResult<usize> {
        match self.mode {
            GCM => self.gcm_final(),
            CTR => {
                self.check_ready()?;
                self.finished = true;
                self.park_stream();
                Ok(0)
            }
            _ => self.cbc_final(out, outsize),
        }
    }

    // ---- parameters ----

    fn get_params(&mut self, out: ParamsOut) -> PResult<()> {
        // One pass over the caller's array (it is asked for on every init), then the
        // answers in a fixed order.
        let Some([keylen, ivlen, padding, num, iv, updated_iv, taglen, tag, aad_pad, iv_gen]) =
            out.lookup(&GET_KEYS)
        else {
            return Ok(());
        };
        keylen.size(self.keylen)?;
        ivlen.size(self.ivlen)?;
        match self.mode {
            CBC => {
                padding.uint(u32::from(self.padding))?;
                num.uint(0)?;
            }
            CTR => {
                // Kept and reported, without effect, as the default provider does.
                padding.uint(u32::from(self.padding))?;
                num.uint((self.ctr_done % BLOCK as u64) as u32)?;
            }
            _ => {}
        }
        if (iv.present() || updated_iv.present()) && self.iv_state == IvState::Unset {
            // GCM encryption makes its IV when asked for it before the first update.
            self.gcm_iv_on_demand()?;
            if self.iv_state == IvState::Unset {
                bail!(NotInitialized, "no IV set");
            }
        }
        if self.mode == GCM {
            iv.octets(&self.iv[..self.ivlen])?;
            updated_iv.octets(&self.iv[..self.ivlen])?;
            taglen.size(self.taglen.unwrap_or(GCM_TAG_MAX))?;
            if tag.present() {
                if !self.enc || !self.tag_ready {
                    bail!(InvalidTag, "the tag is available after final on encryption");
                }
                self.fetch_tag()?;
                let t = self.tag;
                tag.octets_with(|b| {
                    if b.is_empty() || b.len() > GCM_TAG_MAX {
                        bail!(InvalidTag, "tag length {}", b.len());
                    }
                    let n = b.len();
                    b.copy_from_slice(&t[..n]);
                    Ok(n)
                })?;
            }
            if aad_pad.present() {
                let pad = self
                    .tls_aad_pad
                    .ok_or_else(|| prov_err!(InvalidParam, "no tlsaad set"))?;
                aad_pad.size(pad)?;
            }
            // SAFETY: the caller's tlsivgen buffer, by the EVP_CTRL_GCM_IV_GEN contract.
            iv_gen.octets_raw_with(|d, n| unsafe { self.gcm_iv_gen(d, n) })?;
        } else {
            let upd = if self.mode == CTR {
                ctr_add(&self.ctr_base, self.ctr_done.div_ceil(BLOCK as u64))
            } else {
                self.chain
            };
            iv.octets(&self.iv[..BLOCK])?;
            updated_iv.octets(&upd)?;
        }
        Ok(())
    }

    fn set_params(&mut self, p: ParamsIn) -> PResult<()> {
        // One pass over the caller's array (EVP passes one on every init and IV-length
        // ctrl), then the settings in a fixed order.
        if let Some(s) = self.soft.as_mut() {
            // SAFETY: the caller's array, NULL or terminated.
            return soft::check(unsafe { s.set_params(p.raw()) });
        }
        let Some(
            [keylen, padding, num, use_bits, tls_version, tls_mac_size, ivlen, tag, tls_aad, iv_fixed, iv_inv],
        ) = p.lookup(&SET_KEYS)
        else {
            return Ok(());
        };
        let soft = match self.mode {
            // TLS CBC records (MAC-then-encrypt, constant-time padding and MAC checks).
            CBC => {
                use_bits.present()
                    || tls_version.present()
                    || tls_mac_size.present()
                    || num.uint()?.is_some_and(|v| v != 0)
            }
            // A keystream position the caller chose.
            CTR => num
                .uint()?
                .is_some_and(|v| u64::from(v) != self.ctr_done % BLOCK as u64),
            _ => ivlen.size()?.is_some_and(|v| v > GCM_IV_MAX),
        };
        if soft {
            let s = self.go_soft()?;
            // SAFETY: the caller's array, NULL or terminated.
            return soft::check(unsafe { s.set_params(p.raw()) });
        }
        // A key length is read and, being fixed, ignored: the default provider's AES
        // contexts answer success and keep theirs.
        keylen.size()?;
        match self.mode {
            CBC | CTR => {
                if let Some(v) = padding.uint()? {
                    self.padding = v != 0;
                }
            }
            _ => {
                if let Some(v) = ivlen.size()? {
                    if v == 0 {
                        bail!(InvalidIvLength, "ivlen {v}");
                    }
                    if v != self.ivlen {
                        // An IV set (or in use) for the old length is invalid now: the
                        // next message needs a new IV, as in the default provider.
                        if self.iv_state != IvState::Unset {
                            self.park_stream();
                            self.iv_state = IvState::Finished;
                        }
                        self.ivlen = v;
                    }
                }
                if let Some(t) = tag.octets()? {
                    // A tag after a one-shot open: the stream checks it at final.
                    self.gcm_replay()?;
                    if self.enc || t.is_empty() || t.len() > GCM_TAG_MAX {
                        bail!(
                            InvalidTag,
                            "tag of {} bytes (decrypt only, 1..=16)",
                            t.len()
                        );
                    }
                    self.tag[..t.len()].copy_from_slice(t);
                    self.taglen = Some(t.len());
                }
                if let Some(a) = tls_aad.octets()? {
                    self.gcm_tls_aad(a)?;
                }
                if let Some((d, n)) = iv_fixed.octets_raw() {
                    self.gcm_iv_fixed(d, n)?;
                }
                if let Some(inv) = iv_inv.octets()? {
                    self.gcm_iv_inv(inv)?;
                }
            }
        }
        Ok(())
    }
}

/// The context parameters get_params answers, in `AesCtx::get_params` order.
const GET_KEYS: [&[u8]; 10] = [
    ffi::OSSL_CIPHER_PARAM_KEYLEN,
    ffi::OSSL_CIPHER_PARAM_IVLEN,
    ffi::OSSL_CIPHER_PARAM_PADDING,
    ffi::OSSL_CIPHER_PARAM_NUM,
    ffi::OSSL_CIPHER_PARAM_IV,
    ffi::OSSL_CIPHER_PARAM_UPDATED_IV,
    ffi::OSSL_CIPHER_PARAM_AEAD_TAGLEN,
    ffi::OSSL_CIPHER_PARAM_AEAD_TAG,
    ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_AAD_PAD,
    ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN,
];

/// The context parameters set_params reads, in `AesCtx::set_params` order
/// (`AEAD_IVLEN` is the same key as `IVLEN`).
const SET_KEYS: [&[u8]; 11] = [
    ffi::OSSL_CIPHER_PARAM_KEYLEN,
    ffi::OSSL_CIPHER_PARAM_PADDING,
    ffi::OSSL_CIPHER_PARAM_NUM,
    ffi::OSSL_CIPHER_PARAM_USE_BITS,
    ffi::OSSL_CIPHER_PARAM_TLS_VERSION,
    ffi::OSSL_CIPHER_PARAM_TLS_MAC_SIZE,
    ffi::OSSL_CIPHER_PARAM_AEAD_IVLEN,
    ffi::OSSL_CIPHER_PARAM_AEAD_TAG,
    ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_AAD,
    ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
    ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
];
