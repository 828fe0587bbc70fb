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

use crate::backend::{self, CipherMode, Stream};
use crate::boundary::PResult;
use crate::ffi::{self, StaticTable, OSSL_PARAM};
use crate::params::{p_end, p_int, p_octets, p_size, p_uint, ParamsIn, ParamsOut};
use crate::provider::AlgDef;
use crate::soft::{self, SoftCipher};
use crate::{bail, prov_err, stats};
use std::os::raw::{c_int, c_void};
use std::ptr;

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

    // ---- GCM ----

    fn gcm_aad(&mut self, aad: &[u8]) -> PResult<()> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        self.gcm_iv_on_demand()?;
        if matches!(self.iv_state, IvState::Finished | IvState::Unset) {
            self.check_ready()?;
        }
        if self.payload > 0 || self.aad_sent {
            bail!(InvalidParam, "AAD after payload");
        }
        self.aad.extend_from_slice(aad);
        Ok(())
    }

    fn gcm_flush_aad(&mut self) -> PResult<()> {
        if !self.aad_sent {
            let aad = std::mem::take(&mut self.aad);
            let s = self.ensure_stream()?;
            if !aad.is_empty() {
                s.aad(&aad)?;
            }
            self.aad_sent = true;
        }
        Ok(())
    }

    fn gcm_data(&mut self, io: Io<'_>) -> PResult<usize> {
        let len = match &io {
            Io::Separate(i, _) => i.len(),
            Io::InPlace(b) => b.len(),
        };
        if self.oneshot.is_some() {
            self.gcm_replay()?;
        } else if self.payload == 0
            && !self.aad_sent
            && self.stream.is_none()
            && len >= backend::oneshot_min()
            && (self.enc || self.taglen.is_some_and(|t| t >= 4))
        {
            return self.gcm_oneshot(io, len);
        }
        self.gcm_stream_data(io)
    }

    /// The whole message as one request the core may put on a queue (the tag is known
    /// on decryption: TLS 1.3 sets it before the record). A failure of any kind, a tag
    /// mismatch included (EVP hands out the plaintext and fails at final), goes the
    /// stream way instead.
    fn gcm_oneshot(&mut self, io: Io<'_>, len: usize) -> PResult<usize> {
        self.gcm_iv_on_demand()?;
        self.check_ready()?;
        let (input, out): (Vec<u8>, &mut [u8]) = match io {
            Io::Separate(i, o) => (i.to_vec(), &mut o[..len]),
            Io::InPlace(b) => (b.to_vec(), b),
        };
        let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
        let iv = &self.iv[..self.ivlen];
        let r = if self.enc {
            let mut tag = [0u8; GCM_TAG_MAX];
            backend::gcm_seal(key.get(), iv, &self.aad, &input, out, &mut tag)
                .map(|()| self.tag = tag)
        } else {
            let tl = self.taglen.unwrap_or(GCM_TAG_MAX);
            let tag = self.tag;
            backend::gcm_open(key.get(), iv, &self.aad, &input, &tag[..tl], out)
        };
        if r.is_err() {
            return self.gcm_stream_data(Io::Separate(&input, out));
        }
        self.iv_state = IvState::InUse;
        self.aad_sent = true;
        self.payload = len as u64;
        self.oneshot = Some(OneShot { input });
        stats::bump(&stats::P.oneshot, 1);
        Ok(len)
    }

    /// Carries a one-shot message on as a stream: AAD and the first update's input again
    /// (the output went out already).
    fn gcm_replay(&mut self) -> PResult<()> {
        let Some(os) = self.oneshot.take() else {
            return Ok(());
        };
        self.aad_sent = false;
        self.payload = 0;
        let mut scratch = os.input.clone();
        let r = self.gcm_stream_data(Io::InPlace(&mut scratch));
        wipe(&mut scratch);
        r.map(|_| ())
    }

    fn gcm_stream_data(&mut self, io: Io<'_>) -> PResult<usize> {
        self.ensure_stream()?;
        self.gcm_flush_aad()?;
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        let n = match io {
            Io::Separate(i, o) => s.update(i, &mut o[..i.len()])?,
            Io::InPlace(b) => s.update_in_place(b)?,
        };
        self.payload += n as u64;
        Ok(n)
    }

    fn gcm_final(&mut self) -> PResult<usize> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        if self.tls_aad.is_some() {
            bail!(InvalidParam, "final in TLS record mode");
        }
        let r = self.gcm_final_inner();
        self.park_stream();
        self.iv_state = IvState::Finished;
        self.aad.clear();
        r.map(|()| 0)
    }

    fn gcm_final_inner(&mut self) -> PResult<()> {
        if self.oneshot.take().is_some() {
            // Sealed (tag in `self.tag`) or opened with its tag checked by the core.
            if self.enc {
                self.tag_ready = true;
                self.tag_pending = false;
            }
            stats::bump(&stats::P.gcm_ops, 1);
            stats::bump(&stats::P.gcm_bytes, self.payload);
            return Ok(());
        }
        self.ensure_stream()?;
        self.gcm_flush_aad()?;
        let (enc, taglen, tag) = (self.enc, self.taglen, self.tag);
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        if enc {
            s.finish()?;
            // The tag stays in the stream (parked by gcm_final) until asked for.
            self.tag_ready = true;
            self.tag_pending = true;
        } else {
            let tl = taglen.ok_or_else(|| prov_err!(InvalidTag, "no tag set before final"))?;
            s.set_tag(&tag[..tl])?;
            s.finish()?;
        }
        stats::bump(&stats::P.gcm_ops, 1);
        stats::bump(&stats::P.gcm_bytes, self.payload);
        Ok(())
    }

    /// Starts a message with the current IV (TLS IV generation / invocation field).
    fn gcm_start_record(&mut self) -> PResult<()> {
        self.oneshot = None;
        self.park_stream();
        self.iv_state = IvState::Buffered;
        self.aad.clear();
        self.aad_sent = false;
        self.payload = 0;
        self.tag_ready = false;
        self.tag_pending = false;
        self.ensure_stream().map(|_| ())
    }

    /// tlsivgen: hands out the invocation field of the IV about to be used and advances it.
    /// `size` 0 (or over the IV length) asks for the whole IV, as the default provider
    /// reads it.
    ///
    /// # Safety
    /// `out` is writable for `size` bytes, or for the IV length when `size` is 0 or
    /// larger (the EVP_CTRL_GCM_IV_GEN contract).
    unsafe fn gcm_iv_gen(&mut self, out: *mut u8, size: usize) -> PResult<usize> {
        if !self.iv_gen || self.key.is_none() {
            bail!(InvalidParam, "no fixed IV set (tlsivfixed) or no key");
        }
        self.gcm_start_record()?;
        let olen = if size == 0 || size > self.ivlen {
            self.ivlen
        } else {
            size
        };
        let src = &self.iv[self.ivlen - olen..self.ivlen];
        // SAFETY: `out` is writable for `olen` bytes (function contract) and does not
        // overlap `self.iv`.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), out, olen) };
        self.record_iv = self.iv;
        // The invocation field is at least 8 bytes: increment the last 8 as a counter.
        let tail = &mut self.iv[self.ivlen - 8..self.ivlen];
        let mut c = [0u8; 8];
        c.copy_from_slice(tail);
        tail.copy_from_slice(&u64::from_be_bytes(c).wrapping_add(1).to_be_bytes());
        Ok(olen)
    }

    /// tlsivinv: sets the invocation field received from the peer (decrypt side).
    fn gcm_iv_inv(&mut self, inv: &[u8]) -> PResult<()> {
        if !self.iv_gen || self.key.is_none() || self.enc {
            bail!(
                InvalidParam,
                "tlsivinv needs a fixed IV, a key and decryption"
            );
        }
        if inv.len() > self.ivlen {
            bail!(InvalidIvLength);
        }
        let at = self.ivlen - inv.len();
        self.iv[at..self.ivlen].copy_from_slice(inv);
        self.gcm_start_record()
    }

    fn gcm_iv_fixed(&mut self, data: *const u8, len: usize) -> PResult<()> {
        if len == usize::MAX {
            // Special case: the whole IV.
            if data.is_null() {
                bail!(InvalidParam);
            }
            // SAFETY: the caller passes a full IV (ivlen bytes) in this case.
            let iv = unsafe { std::slice::from_raw_parts(data, self.ivlen) };
            self.iv[..self.ivlen].copy_from_slice(iv);
        } else {
            if len < TLS_FIXED_IV || self.ivlen < len + 8 {
                bail!(InvalidIvLength, "fixed IV part of {len} bytes");
            }
            if len > 0 {
                if data.is_null() {
                    bail!(InvalidParam);
                }
                // SAFETY: an octet-string parameter's data is readable for data_size bytes.
                let fixed = unsafe { std::slice::from_raw_parts(data, len) };
                self.iv[..len].copy_from_slice(fixed);
            }
            if self.enc {
                let n = self.ivlen - len;
                // SAFETY: `self.iv[len..]` is writable for `n <= GCM_IV_MAX - len` bytes.
                if unsafe { ffi::RAND_bytes(self.iv[len..].as_mut_ptr(), n as c_int) } != 1 {
                    bail!(CoreFailure, "RAND_bytes");
                }
            }
        }
        self.iv_gen = true;
        self.iv_state = IvState::Buffered;
        Ok(())
    }

    fn gcm_tls_aad(&mut self, aad: &[u8]) -> PResult<()> {
        if aad.len() != TLS_AAD_LEN {
            bail!(InvalidParam, "tlsaad of {} bytes", aad.len());
        }
        let mut a = [0u8; TLS_AAD_LEN];
        a.copy_from_slice(aad);
        let mut len = usize::from(u16::from_be_bytes([a[11], a[12]]));
        if len < TLS_EXPLICIT_IV {
            bail!(InvalidParam, "record too short");
        }
        len -= TLS_EXPLICIT_IV;
        if !self.enc {
            if len < TLS_TAG {
                bail!(InvalidParam, "record too short");
            }
            len -= TLS_TAG;
        }
        a[11..].copy_from_slice(&(len as u16).to_be_bytes());
        self.tls_aad = Some(a);
        self.tls_aad_pad = Some(TLS_TAG);
        Ok(())
    }

    /// One TLS 1.2 record in place: explicit IV | payload | tag.
    fn gcm_tls(&mut self, buf: &mut [u8]) -> PResult<usize> {
        let r = self.gcm_tls_inner(buf);
        self.park_stream();
        self.iv_state = IvState::Finished;
        self.tls_aad = None;
        r
    }

    fn gcm_tls_inner(&mut self, buf: &mut [u8]) -> PResult<usize> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        if buf.len() < TLS_EXPLICIT_IV + TLS_TAG {
            bail!(InvalidParam, "record of {} bytes", buf.len());
        }
        let total = buf.len();
        let (explicit, rest) = buf.split_at_mut(TLS_EXPLICIT_IV);
        if self.enc {
            self.tls_records = self
                .tls_records
                .checked_add(1)
                .ok_or_else(|| prov_err!(InvalidParam, "too many records"))?;
            // SAFETY: `explicit` is writable for its 8 bytes.
            unsafe { self.gcm_iv_gen(explicit.as_mut_ptr(), explicit.len()) }?;
        } else {
            self.gcm_iv_inv(explicit)?;
        }
        let aad = self.tls_aad.ok_or_else(|| prov_err!(InvalidParam))?;
        let plen = rest.len() - TLS_TAG;
        let (payload, tag) = rest.split_at_mut(plen);
        let enc = self.enc;
        if plen >= backend::oneshot_min() {
            // Large record: one request the core may put on a queue.
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let iv = &self.iv[..self.ivlen];
            let copy = payload.to_vec();
            stats::bump(&stats::P.gcm_tls_records, 1);
            stats::bump(&stats::P.gcm_ops, 1);
            stats::bump(&stats::P.gcm_bytes, plen as u64);
            stats::bump(&stats::P.oneshot, 1);
            return if enc {
                // gcm_iv_gen already advanced self.iv: use the IV the stream was made with.
                let used = self.record_iv;
                backend::gcm_seal(key.get(), &used[..self.ivlen], &aad, &copy, payload, tag)
                    .map(|()| total)
            } else {
                let t = tag.to_vec();
                let r = backend::gcm_open(key.get(), iv, &aad, &copy, &t, payload);
                if r.is_err() {
                    wipe(payload);
                }
                r.map(|()| plen)
            };
        }
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        s.aad(&aad)?;
        stats::bump(&stats::P.gcm_tls_records, 1);
        stats::bump(&stats::P.gcm_ops, 1);
        stats::bump(&stats::P.gcm_bytes, plen as u64);
        if enc {
            s.update_in_place(payload)?;
            s.finish()?;
            s.get_tag(tag)?;
            Ok(total)
        } else {
            s.set_tag(tag)?;
            let r = s.update_in_place(payload).and_then(|_| s.finish());
            if let Err(e) = r {
                wipe(payload);
                return Err(e);
            }
            Ok(plen)
        }
    }

    // ---- CTR ----

    fn ctr_data(&mut self, io: Io<'_>) -> PResult<usize> {
        let len = match &io {
            Io::Separate(i, _) => i.len(),
            Io::InPlace(b) => b.len(),
        };
        if len >= backend::oneshot_min() && self.ctr_done % BLOCK as u64 == 0 {
            // Large and block aligned: one request the core may put on a queue.
            self.check_ready()?;
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let iv = ctr_add(&self.ctr_base, self.ctr_done / BLOCK as u64);
            let n = match io {
                Io::Separate(i, o) => backend::cipher_oneshot(
                    CipherMode::Ctr,
                    self.enc,
                    key.get(),
                    &iv,
                    i,
                    &mut o[..i.len()],
                )?,
                Io::InPlace(b) => {
                    let copy = b.to_vec();
                    backend::cipher_oneshot(CipherMode::Ctr, self.enc, key.get(), &iv, &copy, b)?
                }
            };
            self.park_stream(); // re-created at the new position when needed
            self.iv_state = IvState::InUse;
            self.ctr_done += n as u64;
            stats::bump(&stats::P.ctr_bytes, n as u64);
            stats::bump(&stats::P.oneshot, 1);
            return Ok(n);
        }
        let s = self.ensure_stream()?;
        let n = match io {
            Io::Separate(i, o) => s.update(i, &mut o[..i.len()])?,
            Io::InPlace(b) => s.update_in_place(b)?,
        };
        self.ctr_done += n as u64;
        stats::bump(&stats::P.ctr_bytes, n as u64);
        Ok(n)
    }

    // ---- CBC ----

    /// Whole blocks through the core, tracking the chaining value.
    fn cbc_blocks(&mut self, input: &[u8], output: &mut [u8]) -> PResult<()> {
        debug_assert!(input.len() % BLOCK == 0 && output.len() >= input.len());
        if input.is_empty() {
            return Ok(());
        }
        let enc = self.enc;
        let n = if input.len() >= backend::oneshot_min() {
            self.check_ready()?;
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let n = backend::cipher_oneshot(
                CipherMode::Cbc,
                enc,
                key.get(),
                &self.chain,
                input,
                &mut output[..input.len()],
            )?;
            self.park_stream(); // re-created from the new chaining value when needed
            self.iv_state = IvState::InUse;
            stats::bump(&stats::P.oneshot, 1);
            n
        } else {
            let s = self.ensure_stream()?;
            s.update(input, &mut output[..input.len()])?
        };
        if n != input.len() {
            bail!(CoreFailure, "CBC produced {n} of {} bytes", input.len());
        }
        let last = if enc {
            &output[n - BLOCK..n]
        } else {
            &input[n - BLOCK..n]
        };
        self.chain.copy_from_slice(last);
        stats::bump(&stats::P.cbc_bytes, n as u64);
        Ok(())
    }

    fn cbc_data(&mut self, mut input: &[u8], output: &mut [u8]) -> PResult<usize> {
        self.check_ready()?;
        let need = self.out_len(input.len());
        let mut done = 0;
        if need > 0 && self.nbuf > 0 {
            // Complete the buffered block first.
            let take = BLOCK - self.nbuf;
            let mut blk = self.buf;
            blk[self.nbuf..].copy_from_slice(&input[..take]);
            input = &input[take..];
            self.nbuf = 0;
            self.cbc_blocks(&blk, &mut output[..BLOCK])?;
            done = BLOCK;
        }
        let direct = need - done;
        self.cbc_blocks(&input[..direct], &mut output[done..need])?;
        let rest = &input[direct..];
        self.buf[self.nbuf..self.nbuf + rest.len()].copy_from_slice(rest);
        self.nbuf += rest.len();
        Ok(need)
    }

    fn cbc_final(&mut self, out: *mut u8, outsize: usize) -> PResult<usize> {
        self.check_ready()?;
        let r = self.cbc_final_inner(out, outsize);
        self.finished = true;
        self.park_stream();
        self.nbuf = 0;
        r
    }

    fn cbc_final_inner(&mut self, out: *mut u8, outsize: usize) -> PResult<usize> {
        if self.enc {
            if !self.padding {
                if self.nbuf != 0 {
                    bail!(WrongFinalBlockLength, "{} bytes left over", self.nbuf);
                }
                return Ok(0);
            }
            if outsize < BLOCK || out.is_null() {
                bail!(OutputTooSmall, "final needs {BLOCK} bytes");
            }
            let pad = (BLOCK - self.nbuf) as u8;
            let mut blk = self.buf;
            blk[self.nbuf..].fill(pad);
            let mut o = [0u8; BLOCK];
            self.cbc_blocks(&blk, &mut o)?;
            // SAFETY: `out` is writable for `outsize >= BLOCK` bytes.
            unsafe { ptr::copy_nonoverlapping(o.as_ptr(), out, BLOCK) };
            Ok(BLOCK)
        } else {
            if !self.padding {
                if self.nbuf != 0 {
                    bail!(WrongFinalBlockLength, "{} bytes left over", self.nbuf);
                }
                return Ok(0);
            }
            if self.nbuf != BLOCK {
                bail!(WrongFinalBlockLength, "{} bytes buffered", self.nbuf);
            }
            let blk = self.buf;
            let mut o = [0u8; BLOCK];
            self.cbc_blocks(&blk, &mut o)?;
            let pad = usize::from(o[BLOCK - 1]);
            // Padding check without early exit on the pad bytes.
            let mut bad = u8::from(pad == 0 || pad > BLOCK);
            let p = pad.clamp(1, BLOCK);
            for &b in &o[BLOCK - p..] {
                bad |= u8::from(b != o[BLOCK - 1]);
            }
            if bad != 0 {
                wipe(&mut o);
                bail!(BadDecrypt);
            }
            let n = BLOCK - pad;
            if n > 0 {
                if outsize < n || out.is_null() {
                    wipe(&mut o);
                    bail!(OutputTooSmall, "final needs {n} bytes");
                }
                // SAFETY: `out` is writable for `outsize >= n` bytes.
                unsafe { ptr::copy_nonoverlapping(o.as_ptr(), out, n) };
            }
            wipe(&mut o);
            Ok(n)
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

// ---- parameter tables ----

static ALG_GETTABLE: StaticTable<OSSL_PARAM, 10> = StaticTable([
    p_uint(ffi::OSSL_CIPHER_PARAM_MODE),
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_IVLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_BLOCK_SIZE),
    p_int(ffi::OSSL_CIPHER_PARAM_AEAD),
    p_int(ffi::OSSL_CIPHER_PARAM_CUSTOM_IV),
    p_int(ffi::OSSL_CIPHER_PARAM_CTS),
    p_int(ffi::OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK),
    p_int(ffi::OSSL_CIPHER_PARAM_HAS_RAND_KEY),
    p_end(),
]);

static GCM_GETTABLE_CTX: StaticTable<OSSL_PARAM, 9> = StaticTable([
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_IVLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_AEAD_TAGLEN),
    p_octets(ffi::OSSL_CIPHER_PARAM_IV),
    p_octets(ffi::OSSL_CIPHER_PARAM_UPDATED_IV),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TAG),
    p_size(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_AAD_PAD),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN),
    p_end(),
]);

static GCM_SETTABLE_CTX: StaticTable<OSSL_PARAM, 6> = StaticTable([
    p_size(ffi::OSSL_CIPHER_PARAM_AEAD_IVLEN),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TAG),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_AAD),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED),
    p_octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV),
    p_end(),
]);

static CBC_GETTABLE_CTX: StaticTable<OSSL_PARAM, 7> = StaticTable([
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_IVLEN),
    p_uint(ffi::OSSL_CIPHER_PARAM_PADDING),
    p_uint(ffi::OSSL_CIPHER_PARAM_NUM),
    p_octets(ffi::OSSL_CIPHER_PARAM_IV),
    p_octets(ffi::OSSL_CIPHER_PARAM_UPDATED_IV),
    p_end(),
]);

static CBC_SETTABLE_CTX: StaticTable<OSSL_PARAM, 7> = StaticTable([
    p_uint(ffi::OSSL_CIPHER_PARAM_PADDING),
    p_uint(ffi::OSSL_CIPHER_PARAM_NUM),
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_uint(ffi::OSSL_CIPHER_PARAM_USE_BITS),
    p_uint(ffi::OSSL_CIPHER_PARAM_TLS_VERSION),
    p_size(ffi::OSSL_CIPHER_PARAM_TLS_MAC_SIZE),
    p_end(),
]);

static CTR_GETTABLE_CTX: StaticTable<OSSL_PARAM, 7> = StaticTable([
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_size(ffi::OSSL_CIPHER_PARAM_IVLEN),
    p_uint(ffi::OSSL_CIPHER_PARAM_PADDING),
    p_uint(ffi::OSSL_CIPHER_PARAM_NUM),
    p_octets(ffi::OSSL_CIPHER_PARAM_IV),
    p_octets(ffi::OSSL_CIPHER_PARAM_UPDATED_IV),
    p_end(),
]);

static CTR_SETTABLE_CTX: StaticTable<OSSL_PARAM, 7> = StaticTable([
    p_uint(ffi::OSSL_CIPHER_PARAM_PADDING),
    p_uint(ffi::OSSL_CIPHER_PARAM_NUM),
    p_size(ffi::OSSL_CIPHER_PARAM_KEYLEN),
    p_uint(ffi::OSSL_CIPHER_PARAM_USE_BITS),
    p_uint(ffi::OSSL_CIPHER_PARAM_TLS_VERSION),
    p_size(ffi::OSSL_CIPHER_PARAM_TLS_MAC_SIZE),
    p_end(),
]);

// ---- C entry points ----

/// # Safety
/// `vctx` is NULL or a context returned by `cipher_newctx`/`cipher_dupctx` not yet freed.
unsafe fn ctx_mut<'a>(vctx: *mut c_void) -> PResult<&'a mut AesCtx> {
    // SAFETY: per the function contract; OpenSSL never shares an algctx between threads
    // concurrently.
    unsafe { (vctx as *mut AesCtx).as_mut() }
        .ok_or_else(|| prov_err!(NotInitialized, "NULL context"))
}

unsafe extern "C" fn cipher_newctx<const M: u8, const KL: usize>(
    _provctx: *mut c_void,
) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        Ok(Box::into_raw(Box::new(AesCtx::new(M, KL))).cast())
    })
}

unsafe extern "C" fn cipher_freectx(vctx: *mut c_void) {
    crate::ffi_entry!((), {
        if !vctx.is_null() {
            // SAFETY: `vctx` came from Box::into_raw in newctx/dupctx and is freed once.
            drop(unsafe { Box::from_raw(vctx as *mut AesCtx) });
        }
        Ok(())
    })
}

unsafe extern "C" fn cipher_dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context (OpenSSL contract).
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(Box::into_raw(Box::new(c.clone())).cast())
    })
}

/// # Safety
/// OpenSSL's init contract: `key`/`iv` are NULL or readable for their lengths; `params`
/// is NULL or a terminated array.
unsafe fn init_common(
    vctx: *mut c_void,
    enc: bool,
    key: *const u8,
    keylen: usize,
    iv: *const u8,
    ivlen: usize,
    params: *const OSSL_PARAM,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        // SAFETY: `key` is readable for `keylen` bytes when non-NULL.
        let key = (!key.is_null()).then(|| unsafe { std::slice::from_raw_parts(key, keylen) });
        // SAFETY: `iv` is readable for `ivlen` bytes when non-NULL.
        let iv_s = (!iv.is_null()).then(|| unsafe { std::slice::from_raw_parts(iv, ivlen) });
        if c.mode == GCM && iv_s.is_some_and(|v| v.len() > GCM_IV_MAX) {
            c.go_soft()?;
        }
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded init contract.
            return Ok(unsafe {
                s.init(
                    enc,
                    key.map_or(ptr::null(), <[u8]>::as_ptr),
                    keylen,
                    iv,
                    ivlen,
                    params,
                )
            });
        }
        // SAFETY: `params` is NULL or a terminated array.
        c.init(enc, key, iv_s, unsafe { ParamsIn::new(params) })?;
        Ok(1)
    })
}

unsafe extern "C" fn cipher_encrypt_init(
    vctx: *mut c_void,
    key: *const u8,
    keylen: usize,
    iv: *const u8,
    ivlen: usize,
    params: *const OSSL_PARAM,
) -> c_int {
    // SAFETY: forwarded OpenSSL contract.
    unsafe { init_common(vctx, true, key, keylen, iv, ivlen, params) }
}

unsafe extern "C" fn cipher_decrypt_init(
    vctx: *mut c_void,
    key: *const u8,
    keylen: usize,
    iv: *const u8,
    ivlen: usize,
    params: *const OSSL_PARAM,
) -> c_int {
    // SAFETY: forwarded OpenSSL contract.
    unsafe { init_common(vctx, false, key, keylen, iv, ivlen, params) }
}

unsafe extern "C" fn cipher_update(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsize: usize,
    inp: *const u8,
    inl: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded update contract.
            return Ok(unsafe { s.update(out, outl, outsize, inp, inl) });
        }
        if c.mode == GCM && inl == 0 {
            // As the default provider: an empty GCM update is a no-op in any state.
            if !outl.is_null() {
                // SAFETY: valid out pointer.
                unsafe { *outl = 0 };
            }
            return Ok(1);
        }
        // SAFETY: EVP's update contract for `out`/`outsize` and `inp`/`inl`.
        let n = unsafe { c.update_raw(out, outsize, inp, inl) }?;
        if !outl.is_null() {
            // SAFETY: valid out pointer.
            unsafe { *outl = n };
        }
        Ok(1)
    })
}

unsafe extern "C" fn cipher_final(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsize: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded final contract.
            return Ok(unsafe { s.final_(out, outl, outsize) });
        }
        let n = c.final_raw(out, outsize)?;
        if !outl.is_null() {
            // SAFETY: valid out pointer.
            unsafe { *outl = n };
        }
        Ok(1)
    })
}

/// OSSL_FUNC_cipher_cipher (what `EVP_Cipher` calls): update, or final when `inp` is NULL.
unsafe extern "C" fn cipher_cipher(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsize: usize,
    inp: *const u8,
    inl: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded cipher contract.
            return Ok(unsafe { s.cipher(out, outl, outsize, inp, inl) });
        }
        let n = if inp.is_null() {
            c.final_raw(out, outsize)?
        } else if c.mode == GCM {
            // EVP_Cipher on GCM answers the input length (a TLS record's whole length
            // in both directions), as the default provider does.
            if outsize < inl {
                bail!(OutputTooSmall, "{outsize} < {inl}");
            }
            // SAFETY: EVP's cipher contract, same as update.
            unsafe { c.update_raw(out, outsize, inp, inl) }?;
            inl
        } else {
            if c.mode == CBC && (inl % BLOCK != 0 || c.nbuf != 0) {
                bail!(
                    WrongFinalBlockLength,
                    "EVP_Cipher on CBC needs whole blocks"
                );
            }
            let saved = c.padding;
            c.padding = false; // raw block processing: no hold-back
                               // SAFETY: EVP's cipher contract, same as update.
            let r = unsafe { c.update_raw(out, outsize, inp, inl) };
            c.padding = saved;
            r?
        };
        if !outl.is_null() {
            // SAFETY: valid out pointer.
            unsafe { *outl = n };
        }
        Ok(1)
    })
}

unsafe extern "C" fn cipher_get_params<const M: u8, const KL: usize>(
    params: *mut OSSL_PARAM,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: OpenSSL passes a valid writable array.
        let out = unsafe { ParamsOut::new(params) };
        let (mode, ivlen, bs, aead) = match M {
            GCM => (EVP_CIPH_GCM_MODE, 12, 1, 1),
            CTR => (EVP_CIPH_CTR_MODE, BLOCK, 1, 0),
            _ => (EVP_CIPH_CBC_MODE, BLOCK, BLOCK, 0),
        };
        out.uint(ffi::OSSL_CIPHER_PARAM_MODE, mode)?;
        out.size(ffi::OSSL_CIPHER_PARAM_KEYLEN, KL)?;
        out.size(ffi::OSSL_CIPHER_PARAM_IVLEN, ivlen)?;
        out.size(ffi::OSSL_CIPHER_PARAM_BLOCK_SIZE, bs)?;
        out.int(ffi::OSSL_CIPHER_PARAM_AEAD, aead)?;
        out.int(ffi::OSSL_CIPHER_PARAM_CUSTOM_IV, aead)?;
        out.int(ffi::OSSL_CIPHER_PARAM_CTS, 0)?;
        out.int(ffi::OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, 0)?;
        out.int(ffi::OSSL_CIPHER_PARAM_HAS_RAND_KEY, 0)?;
        Ok(1)
    })
}

unsafe extern "C" fn cipher_gettable_params(_provctx: *mut c_void) -> *const OSSL_PARAM {
    ALG_GETTABLE.as_ptr()
}

unsafe extern "C" fn cipher_get_ctx_params(vctx: *mut c_void, params: *mut OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded: a valid writable array.
            return Ok(unsafe { s.get_params(params) });
        }
        // SAFETY: valid writable array.
        c.get_params(unsafe { ParamsOut::new(params) })?;
        Ok(1)
    })
}

unsafe extern "C" fn cipher_set_ctx_params(vctx: *mut c_void, params: *const OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        // SAFETY: valid terminated array (or NULL).
        c.set_params(unsafe { ParamsIn::new(params) })?;
        Ok(1)
    })
}

unsafe extern "C" fn cipher_gettable_ctx_params<const M: u8>(
    _c: *mut c_void,
    _p: *mut c_void,
) -> *const OSSL_PARAM {
    match M {
        GCM => GCM_GETTABLE_CTX.as_ptr(),
        CTR => CTR_GETTABLE_CTX.as_ptr(),
        _ => CBC_GETTABLE_CTX.as_ptr(),
    }
}

unsafe extern "C" fn cipher_settable_ctx_params<const M: u8>(
    _c: *mut c_void,
    _p: *mut c_void,
) -> *const OSSL_PARAM {
    match M {
        GCM => GCM_SETTABLE_CTX.as_ptr(),
        CTR => CTR_SETTABLE_CTX.as_ptr(),
        _ => CBC_SETTABLE_CTX.as_ptr(),
    }
}

macro_rules! aes_cipher {
    ($name:ident, $mode:expr, $keylen:expr) => {
        crate::dispatch_table!(static $name = {
            OSSL_FUNC_CIPHER_NEWCTX: OSSL_FUNC_cipher_newctx_fn = cipher_newctx::<{ $mode }, { $keylen }>,
            OSSL_FUNC_CIPHER_FREECTX: OSSL_FUNC_cipher_freectx_fn = cipher_freectx,
            OSSL_FUNC_CIPHER_DUPCTX: OSSL_FUNC_cipher_dupctx_fn = cipher_dupctx,
            OSSL_FUNC_CIPHER_ENCRYPT_INIT: OSSL_FUNC_cipher_encrypt_init_fn = cipher_encrypt_init,
            OSSL_FUNC_CIPHER_DECRYPT_INIT: OSSL_FUNC_cipher_decrypt_init_fn = cipher_decrypt_init,
            OSSL_FUNC_CIPHER_UPDATE: OSSL_FUNC_cipher_update_fn = cipher_update,
            OSSL_FUNC_CIPHER_FINAL: OSSL_FUNC_cipher_final_fn = cipher_final,
            OSSL_FUNC_CIPHER_CIPHER: OSSL_FUNC_cipher_cipher_fn = cipher_cipher,
            OSSL_FUNC_CIPHER_GET_PARAMS: OSSL_FUNC_cipher_get_params_fn = cipher_get_params::<{ $mode }, { $keylen }>,
            OSSL_FUNC_CIPHER_GETTABLE_PARAMS: OSSL_FUNC_cipher_gettable_params_fn = cipher_gettable_params,
            OSSL_FUNC_CIPHER_GET_CTX_PARAMS: OSSL_FUNC_cipher_get_ctx_params_fn = cipher_get_ctx_params,
            OSSL_FUNC_CIPHER_SET_CTX_PARAMS: OSSL_FUNC_cipher_set_ctx_params_fn = cipher_set_ctx_params,
            OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS: OSSL_FUNC_cipher_gettable_ctx_params_fn = cipher_gettable_ctx_params::<{ $mode }>,
            OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS: OSSL_FUNC_cipher_settable_ctx_params_fn = cipher_settable_ctx_params::<{ $mode }>,
        });
    };
}

aes_cipher!(AES_128_GCM, GCM, 16);
aes_cipher!(AES_192_GCM, GCM, 24);
aes_cipher!(AES_256_GCM, GCM, 32);
aes_cipher!(AES_128_CTR, CTR, 16);
aes_cipher!(AES_192_CTR, CTR, 24);
aes_cipher!(AES_256_CTR, CTR, 32);
aes_cipher!(AES_128_CBC, CBC, 16);
aes_cipher!(AES_192_CBC, CBC, 24);
aes_cipher!(AES_256_CBC, CBC, 32);

/// The cipher implementations (names as the default provider spells them).
pub fn algorithms() -> Vec<AlgDef> {
    use crate::backend::Capability::Cipher;
    let d = |names: &'static [u8],
             description: &'static [u8],
             dispatch: *const ffi::OSSL_DISPATCH,
             family,
             m| AlgDef {
        names,
        description,
        dispatch,
        family,
        needs: Cipher(m),
    };
    vec![
        d(
            b"AES-128-GCM:id-aes128-GCM:2.16.840.1.101.3.4.1.6\0",
            b"WarpDrive AES-128-GCM\0",
            AES_128_GCM.as_ptr(),
            "AES-GCM/AES",
            CipherMode::Gcm,
        ),
        d(
            b"AES-192-GCM:id-aes192-GCM:2.16.840.1.101.3.4.1.26\0",
            b"WarpDrive AES-192-GCM\0",
            AES_192_GCM.as_ptr(),
            "AES-GCM/AES",
            CipherMode::Gcm,
        ),
        d(
            b"AES-256-GCM:id-aes256-GCM:2.16.840.1.101.3.4.1.46\0",
            b"WarpDrive AES-256-GCM\0",
            AES_256_GCM.as_ptr(),
            "AES-GCM/AES",
            CipherMode::Gcm,
        ),
        d(
            b"AES-128-CTR\0",
            b"WarpDrive AES-128-CTR\0",
            AES_128_CTR.as_ptr(),
            "AES-CTR/AES",
            CipherMode::Ctr,
        ),
        d(
            b"AES-192-CTR\0",
            b"WarpDrive AES-192-CTR\0",
            AES_192_CTR.as_ptr(),
            "AES-CTR/AES",
            CipherMode::Ctr,
        ),
        d(
            b"AES-256-CTR\0",
            b"WarpDrive AES-256-CTR\0",
            AES_256_CTR.as_ptr(),
            "AES-CTR/AES",
            CipherMode::Ctr,
        ),
        d(
            b"AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2\0",
            b"WarpDrive AES-128-CBC\0",
            AES_128_CBC.as_ptr(),
            "AES-CBC/AES",
            CipherMode::Cbc,
        ),
        d(
            b"AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22\0",
            b"WarpDrive AES-192-CBC\0",
            AES_192_CBC.as_ptr(),
            "AES-CBC/AES",
            CipherMode::Cbc,
        ),
        d(
            b"AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42\0",
            b"WarpDrive AES-256-CBC\0",
            AES_256_CBC.as_ptr(),
            "AES-CBC/AES",
            CipherMode::Cbc,
        ),
        AlgDef {
            names: b"ChaCha20-Poly1305\0",
            description: b"WarpDrive ChaCha20-Poly1305\0",
            dispatch: crate::chacha::CHACHA20_POLY1305.as_ptr(),
            family: "CHACHA20-POLY1305/CHACHA20",
            needs: crate::backend::Capability::Aead(warpdrive::Aead::ChaCha20Poly1305),
        },
    ]
}
