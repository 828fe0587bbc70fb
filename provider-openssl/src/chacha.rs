//! ChaCha20-Poly1305 as an OpenSSL cipher implementation.
//!
//! Every context wraps the default provider's own ChaCha20-Poly1305 context (`soft`) and
//! forwards every call to it, so parameters, errors and every shape of use behave exactly
//! as the default provider's. Only the data of the two shapes that map onto one core
//! request is diverted to the core's one-shot AEAD (the queue when the backend says it
//! pays, `backend::oneshot_min`):
//! - a TLS 1.2 record (`tlsaad` set, then one update or `EVP_Cipher` of payload || tag,
//!   in place): nonce = the fixed IV (`tlsivfixed`) XOR the record's sequence number
//!   (RFC 7905), AAD = the 13-byte TLS header with the payload length;
//! - a message whose payload comes in one update (TLS 1.3 records: AAD first, the tag
//!   set before the data on decryption): sealed or opened in one request. The input is
//!   kept until the next init: if the message goes on (more data, a parameter after the
//!   data), it is replayed into the default context (output discarded, it went out
//!   already) and carries on there. A failed open runs the update in the default context
//!   instead, which hands out what the default provider hands out and fails at final.

use std::os::raw::{c_int, c_void};
use std::ptr;

use crate::algctx;
use crate::backend;
use crate::boundary::PResult;
use crate::cipher::wipe;
use crate::ffi::{self, OSSL_PARAM};
use crate::params::{ParamsIn, ParamsOut};
use crate::prov_err;
use crate::soft::{self, SoftCipher};
use crate::stats::{self, P};

/// The default provider's name for the implementation wrapped here.
const NAME: &str = "ChaCha20-Poly1305";
const KEY: usize = 32;
const NONCE: usize = 12;
const TAG: usize = 16;
const TLS_AAD: usize = 13; // EVP_AEAD_TLS1_AAD_LEN
/// The core's descriptor ABI carries at most this much AAD (WD_MAX_AAD_BYTES).
const AAD_MAX: usize = 1 << 20;

/// Where the current message is.
#[derive(Clone, Default)]
enum Msg {
    /// Nothing of the payload yet: AAD (also fed to the default context) is kept.
    #[default]
    Fresh,
    /// The payload ran as one core request; `input` is kept for a replay.
    OneShot { input: Vec<u8>, tag: [u8; TAG] },
    /// The default context has the message.
    Soft,
}

/// One ChaCha20-Poly1305 operation context.
pub struct ChaChaCtx {
    soft: SoftCipher,
    enc: bool,
    key: Option<[u8; KEY]>,
    /// The nonce as the default context has it (init's IV or `tlsivfixed`), when it is
    /// the 12 bytes the core takes.
    nonce: Option<[u8; NONCE]>,
    /// The IV length set by `ivlen` (the default accepts 1..=12; the core only 12).
    ivlen: usize,
    aad: Vec<u8>,
    /// Decryption: the expected tag, when set at its full length.
    tag: Option<[u8; TAG]>,
    /// TLS 1.2: the record's AAD as the default rewrites it, and the payload length.
    tls: Option<([u8; TLS_AAD], usize)>,
    msg: Msg,
    /// Bytes the default context took for the current message, counted once at its
    /// end (final, a new init, drop) rather than per update.
    soft_bytes: u64,
    /// The default context ran part of the current message (not counted yet).
    soft_pending: bool,
}

impl Drop for ChaChaCtx {
    fn drop(&mut self) {
        self.count_soft();
        if let Some(k) = self.key.as_mut() {
            wipe(k);
        }
        if let Msg::OneShot { input, .. } = &mut self.msg {
            wipe(input);
        }
    }
}

impl ChaChaCtx {
    fn new() -> PResult<ChaChaCtx> {
        Ok(ChaChaCtx {
            soft: SoftCipher::new(NAME)?,
            enc: true,
            key: None,
            nonce: None,
            ivlen: NONCE,
            aad: Vec::new(),
            tag: None,
            tls: None,
            msg: Msg::Fresh,
            soft_bytes: 0,
            soft_pending: false,
        })
    }

    /// Counts the message's work in the default context, if any (one op).
    fn count_soft(&mut self) {
        if std::mem::take(&mut self.soft_pending) {
            soft::count(1, std::mem::take(&mut self.soft_bytes));
        }
    }

    fn try_clone(&self) -> PResult<ChaChaCtx> {
        Ok(ChaChaCtx {
            soft: self.soft.try_clone()?,
            enc: self.enc,
            key: self.key,
            nonce: self.nonce,
            ivlen: self.ivlen,
            aad: self.aad.clone(),
            tag: self.tag,
            tls: self.tls,
            msg: self.msg.clone(),
            soft_bytes: 0,
            soft_pending: false,
        })
    }

    /// A one-shot message goes on: replay its payload into the default context.
    fn hand_to_soft(&mut self) {
        if let Msg::OneShot { input, .. } = std::mem::replace(&mut self.msg, Msg::Soft) {
            let mut scratch = vec![0u8; input.len()];
            let mut outl = 0usize;
            self.soft_bytes += input.len() as u64;
            self.soft_pending = true;
            // SAFETY: both buffers are live and `input.len()` bytes long.
            unsafe {
                self.soft.update_uncounted(
                    scratch.as_mut_ptr(),
                    &mut outl,
                    scratch.len(),
                    input.as_ptr(),
                    input.len(),
                )
            };
            wipe(&mut scratch);
            let mut input = input;
            wipe(&mut input);
        }
    }

    /// Forgets the message (a new key or IV resets the default context's too).
    fn reset_msg(&mut self) {
        self.count_soft();
        if let Msg::OneShot { input, .. } = &mut self.msg {
            wipe(input);
        }
        self.msg = Msg::Fresh;
        self.aad.clear();
        self.tag = None;
        self.tls = None;
    }

    /// What the default context took from `p` (it accepted all of it).
    fn track_params(&mut self, p: ParamsIn) -> PResult<()> {
        if let Some(n) = p.size(ffi::OSSL_CIPHER_PARAM_AEAD_IVLEN)? {
            self.ivlen = n;
            if n != NONCE {
                self.nonce = None;
            }
        }
        if let Some(t) = p.octets(ffi::OSSL_CIPHER_PARAM_AEAD_TAG)? {
            self.tag = (!self.enc && t.len() == TAG).then(|| t.try_into().unwrap());
        }
        if let Some(f) = p.octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED)? {
            self.nonce = f.try_into().ok();
        }
        if let Some(a) = p.octets(ffi::OSSL_CIPHER_PARAM_AEAD_TLS1_AAD)? {
            // As the default provider: the record length minus the tag on decryption.
            let mut aad: [u8; TLS_AAD] = a.try_into().map_err(|_| prov_err!(InvalidParam))?;
            let mut len = usize::from(aad[TLS_AAD - 2]) << 8 | usize::from(aad[TLS_AAD - 1]);
            if !self.enc {
                len = len
                    .checked_sub(TAG)
                    .ok_or_else(|| prov_err!(InvalidParam))?;
                aad[TLS_AAD - 2..].copy_from_slice(&(len as u16).to_be_bytes());
            }
            self.tls = Some((aad, len));
        }
        Ok(())
    }

    /// A TLS 1.2 record (payload || tag, `inl` bytes) through the core; None: not served
    /// here (the default context runs it).
    ///
    /// # Safety
    /// EVP's update contract for `out`/`outsize` and `inp`/`inl`.
    unsafe fn tls_record(
        &mut self,
        out: *mut u8,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> Option<usize> {
        let (aad, plen) = self.tls?;
        let (key, nonce) = (self.key?, self.nonce?);
        if inp.is_null() || out.is_null() || inl != plen + TAG || outsize < inl {
            return None;
        }
        if inl < backend::oneshot_min() {
            return None;
        }
        let mut n = nonce;
        for (b, s) in n[NONCE - 8..].iter_mut().zip(&aad[..8]) {
            *b ^= s;
        }
        // SAFETY: `inp` is readable for `inl` bytes (contract); copied, as libssl works
        // in place and the core takes separate slices.
        let input = unsafe { std::slice::from_raw_parts(inp, inl) }.to_vec();
        // SAFETY: `out` is writable for `outsize >= inl` bytes (contract).
        let out = unsafe { std::slice::from_raw_parts_mut(out, inl) };
        let alg = warpdrive::Aead::ChaCha20Poly1305;
        let r = if self.enc {
            let (ct, tag) = out.split_at_mut(plen);
            backend::aead_seal(alg, &key, &n, &aad, &input[..plen], ct, tag)
        } else {
            backend::aead_open(
                alg,
                &key,
                &n,
                &aad,
                &input[..plen],
                &input[plen..],
                &mut out[..plen],
            )
        };
        if r.is_err() {
            // A tag mismatch included: the default context answers (and wipes) exactly
            // as the default provider does; `out` holds the input again first.
            out.copy_from_slice(&input);
            return None;
        }
        // The default context's record state ends as after its own record.
        // SAFETY: a live 32-byte key; no IV, no parameters.
        unsafe {
            self.soft
                .init(self.enc, key.as_ptr(), KEY, ptr::null(), 0, ptr::null())
        };
        self.tls = None;
        stats::bump(&P.chacha_ops, 1);
        stats::bump(&P.chacha_tls_records, 1);
        stats::bump(&P.chacha_bytes, plen as u64);
        stats::bump(&P.oneshot, 1);
        // As the default provider: the record's length sealing, the payload's opening.
        Some(if self.enc { inl } else { plen })
    }

    /// The payload of a fresh message in one request; None: not served here.
    ///
    /// # Safety
    /// As for [`Self::tls_record`].
    unsafe fn one_shot(
        &mut self,
        out: *mut u8,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> Option<usize> {
        if !matches!(self.msg, Msg::Fresh) || self.tls.is_some() || out.is_null() {
            return None;
        }
        let (key, nonce) = (self.key?, self.nonce?);
        let expected = if self.enc { None } else { Some(self.tag?) };
        if inp.is_null()
            || inl < backend::oneshot_min()
            || outsize < inl
            || self.aad.len() > AAD_MAX
        {
            return None;
        }
        // SAFETY: readable for `inl` bytes (contract); copied (in place, and kept for a
        // replay).
        let input = unsafe { std::slice::from_raw_parts(inp, inl) }.to_vec();
        // SAFETY: writable for `outsize >= inl` bytes (contract).
        let out = unsafe { std::slice::from_raw_parts_mut(out, inl) };
        let alg = warpdrive::Aead::ChaCha20Poly1305;
        let mut tag = [0u8; TAG];
        let r = match expected {
            None => backend::aead_seal(alg, &key, &nonce, &self.aad, &input, out, &mut tag),
            Some(t) => {
                tag = t;
                backend::aead_open(alg, &key, &nonce, &self.aad, &input, &t, out)
            }
        };
        if r.is_err() {
            out.copy_from_slice(&input);
            return None;
        }
        stats::bump(&P.chacha_ops, 1);
        stats::bump(&P.chacha_bytes, inl as u64);
        stats::bump(&P.oneshot, 1);
        self.msg = Msg::OneShot { input, tag };
        Some(inl)
    }

    /// update and `EVP_Cipher` with input.
    ///
    /// # Safety
    /// EVP's update contract.
    unsafe fn data(
        &mut self,
        cipher: bool,
        out: *mut u8,
        outl: *mut usize,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> c_int {
        // SAFETY: forwarded contract.
        let served = unsafe {
            if self.tls.is_some() {
                self.tls_record(out, outsize, inp, inl)
            } else {
                self.one_shot(out, outsize, inp, inl)
            }
        };
        if let Some(n) = served {
            if !outl.is_null() {
                // SAFETY: valid out pointer.
                unsafe { *outl = n };
            }
            return 1;
        }
        let aad_only = out.is_null() && !inp.is_null();
        let record = self.tls.is_some() && !aad_only;
        if record {
            // The default context takes this record (or refuses it) and ends its state.
            self.tls = None;
        }
        if aad_only && matches!(self.msg, Msg::Fresh) {
            // SAFETY: readable for `inl` bytes.
            self.aad
                .extend_from_slice(unsafe { std::slice::from_raw_parts(inp, inl) });
        } else if inl != 0 || !inp.is_null() {
            self.hand_to_soft();
            self.msg = Msg::Soft;
        }
        // SAFETY: forwarded contract.
        unsafe {
            if cipher {
                self.soft.cipher(out, outl, outsize, inp, inl)
            } else if record {
                // A TLS 1.2 record is a whole message (no final follows): counted now.
                self.soft.update(out, outl, outsize, inp, inl)
            } else {
                if !matches!(self.msg, Msg::Fresh) {
                    self.soft_bytes += inl as u64;
                    self.soft_pending = true;
                }
                self.soft.update_uncounted(out, outl, outsize, inp, inl)
            }
        }
    }
}

// ---- C entry points ----

/// # Safety
/// `vctx` is NULL or a context returned by newctx/dupctx not yet freed.
unsafe fn ctx_mut<'a>(vctx: *mut c_void) -> PResult<&'a mut ChaChaCtx> {
    // SAFETY: per the function contract.
    unsafe { algctx::get_mut(vctx) }
}

unsafe extern "C" fn newctx(_provctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), { Ok(algctx::into_raw(ChaChaCtx::new()?)) })
}

unsafe extern "C" fn dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(algctx::into_raw(c.try_clone()?))
    })
}

/// # Safety
/// OpenSSL's init contract.
unsafe fn init(
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
        if key.is_null() && iv.is_null() {
            // The message goes on in the default context.
            c.hand_to_soft();
        }
        // SAFETY: forwarded init contract.
        let rc = unsafe { c.soft.init(enc, key, keylen, iv, ivlen, params) };
        if rc != 1 {
            c.key = None;
            c.nonce = None;
            c.reset_msg();
            c.msg = Msg::Soft;
            return Ok(rc);
        }
        c.enc = enc;
        if !key.is_null() || !iv.is_null() {
            c.reset_msg();
        }
        if !key.is_null() {
            // SAFETY: readable for `keylen` bytes.
            c.key = unsafe { std::slice::from_raw_parts(key, keylen) }
                .try_into()
                .ok();
        }
        if !iv.is_null() {
            // SAFETY: readable for `ivlen` bytes.
            let v = unsafe { std::slice::from_raw_parts(iv, ivlen) };
            c.nonce = if c.ivlen == NONCE {
                v.try_into().ok()
            } else {
                None
            };
        }
        // SAFETY: NULL or a terminated array (contract).
        c.track_params(unsafe { ParamsIn::new(params) })?;
        Ok(1)
    })
}

crate::cipher_init_entries!(encrypt_init, decrypt_init, init);

/// OSSL_FUNC_cipher_update (`CIPHER` false) and OSSL_FUNC_cipher_cipher (`CIPHER` true),
/// which have the same signature and differ only in what `ChaChaCtx::data` is told.
unsafe extern "C" fn data<const CIPHER: bool>(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsize: usize,
    inp: *const u8,
    inl: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context; forwarded update/cipher contract.
        Ok(unsafe { ctx_mut(vctx)?.data(CIPHER, out, outl, outsize, inp, inl) })
    })
}

unsafe extern "C" fn final_(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsize: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if matches!(c.msg, Msg::OneShot { .. }) {
            // Sealed, or opened and authenticated: nothing more to hand out.
            if !outl.is_null() {
                // SAFETY: valid out pointer.
                unsafe { *outl = 0 };
            }
            return Ok(1);
        }
        c.count_soft();
        // SAFETY: forwarded final contract.
        Ok(unsafe { c.soft.final_(out, outl, outsize) })
    })
}

unsafe extern "C" fn get_ctx_params(vctx: *mut c_void, params: *mut OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        // SAFETY: forwarded contract.
        let rc = unsafe { c.soft.get_params(params) };
        if rc == 1 && c.enc {
            if let Msg::OneShot { tag, .. } = &c.msg {
                // The tag of the request that sealed the message (the default context
                // never saw its payload). Same length rules as the default's.
                // SAFETY: NULL or a valid writable terminated array.
                let p = unsafe { ParamsOut::new(params) };
                let t = p.get(ffi::OSSL_CIPHER_PARAM_AEAD_TAG);
                if t.present() {
                    t.octets_with(|buf| {
                        let n = buf.len().min(TAG);
                        buf[..n].copy_from_slice(&tag[..n]);
                        Ok(n)
                    })?;
                }
            }
        }
        Ok(rc)
    })
}

unsafe extern "C" fn set_ctx_params(vctx: *mut c_void, params: *const OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        // SAFETY: NULL or a terminated array (contract).
        let p = unsafe { ParamsIn::new(params) };
        if !matches!(c.msg, Msg::Fresh) && !params.is_null() {
            c.hand_to_soft();
        }
        // SAFETY: forwarded contract.
        let rc = unsafe { c.soft.set_params(params) };
        if rc == 1 {
            c.track_params(p)?;
        } else {
            c.tls = None;
        }
        Ok(rc)
    })
}

unsafe extern "C" fn get_params(params: *mut OSSL_PARAM) -> c_int {
    // SAFETY: forwarded contract.
    crate::ffi_entry!(0, { unsafe { soft::cipher_get_params(NAME, params) } })
}

unsafe extern "C" fn gettable_params(_provctx: *mut c_void) -> *const OSSL_PARAM {
    crate::ffi_entry!(ptr::null(), { Ok(soft::cipher_param_tables(NAME)?.0) })
}

unsafe extern "C" fn gettable_ctx_params(_c: *mut c_void, _p: *mut c_void) -> *const OSSL_PARAM {
    crate::ffi_entry!(ptr::null(), { Ok(soft::cipher_param_tables(NAME)?.1) })
}

unsafe extern "C" fn settable_ctx_params(_c: *mut c_void, _p: *mut c_void) -> *const OSSL_PARAM {
    crate::ffi_entry!(ptr::null(), { Ok(soft::cipher_param_tables(NAME)?.2) })
}

crate::dispatch_table!(pub static CHACHA20_POLY1305 = {
    OSSL_FUNC_CIPHER_NEWCTX: OSSL_FUNC_cipher_newctx_fn = newctx,
    OSSL_FUNC_CIPHER_FREECTX: OSSL_FUNC_cipher_freectx_fn = algctx::free::<ChaChaCtx>,
    OSSL_FUNC_CIPHER_DUPCTX: OSSL_FUNC_cipher_dupctx_fn = dupctx,
    OSSL_FUNC_CIPHER_ENCRYPT_INIT: OSSL_FUNC_cipher_encrypt_init_fn = encrypt_init,
    OSSL_FUNC_CIPHER_DECRYPT_INIT: OSSL_FUNC_cipher_decrypt_init_fn = decrypt_init,
    OSSL_FUNC_CIPHER_UPDATE: OSSL_FUNC_cipher_update_fn = data::<false>,
    OSSL_FUNC_CIPHER_FINAL: OSSL_FUNC_cipher_final_fn = final_,
    OSSL_FUNC_CIPHER_CIPHER: OSSL_FUNC_cipher_cipher_fn = data::<true>,
    OSSL_FUNC_CIPHER_GET_PARAMS: OSSL_FUNC_cipher_get_params_fn = get_params,
    OSSL_FUNC_CIPHER_GETTABLE_PARAMS: OSSL_FUNC_cipher_gettable_params_fn = gettable_params,
    OSSL_FUNC_CIPHER_GET_CTX_PARAMS: OSSL_FUNC_cipher_get_ctx_params_fn = get_ctx_params,
    OSSL_FUNC_CIPHER_SET_CTX_PARAMS: OSSL_FUNC_cipher_set_ctx_params_fn = set_ctx_params,
    OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS: OSSL_FUNC_cipher_gettable_ctx_params_fn = gettable_ctx_params,
    OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS: OSSL_FUNC_cipher_settable_ctx_params_fn = settable_ctx_params,
});
