//! HMAC as an OpenSSL MAC implementation ("HMAC"): over SHA-1/SHA-2 on the engines;
//! over any other digest the default provider has (MD5, MD5-SHA1, SHA3, SHA512-256, ...)
//! and for TLS CBC records (`tls-data-size`, the constant-time MAC of a padded record)
//! the context is handed to the default provider's HMAC (`soft`), state included.

use crate::algctx;
use crate::backend::{self, Capability, Hash, HashAlg};
use crate::boundary::PResult;
use crate::ffi::{self, StaticTable, OSSL_PARAM};
use crate::params::{p_end, p_int, p_octets, p_size, p_utf8, ParamsIn, ParamsOut};
use crate::provider::AlgDef;
use crate::soft::{self, SoftMac};
use crate::{bail, prov_err, stats};
use std::os::raw::{c_int, c_void};
use std::ptr;

/// An HMAC operation context.
#[derive(Clone, Default)]
struct HmacCtx {
    /// The digest set last (the block size; the next key is applied with it).
    alg: Option<HashAlg>,
    /// The digest's name as the caller gave it (handed on with the state).
    digest: Option<std::ffi::CString>,
    key: Option<Vec<u8>>,
    /// The digest the key was applied with: a re-init without a key keeps it, and the
    /// MAC size is its size, as in the default provider (its HMAC_CTX keeps the digest
    /// it was keyed with until the next key).
    keyed: Option<HashAlg>,
    hash: Option<Hash>,
    /// Data went into `hash` since it was (re)started: the state cannot be handed on.
    absorbed: bool,
    /// The default provider's HMAC, once this context needed it; from then on every
    /// call goes to it.
    soft: Option<SoftMac>,
}

impl Drop for HmacCtx {
    fn drop(&mut self) {
        if let Some(k) = self.key.as_mut() {
            crate::cipher::wipe(k);
        }
    }
}

impl HmacCtx {
    /// Applies the key with the digest set last.
    fn rekey(&mut self) -> PResult<()> {
        self.keyed = Some(
            self.alg
                .ok_or_else(|| prov_err!(NotInitialized, "no digest set"))?,
        );
        self.restart()
    }

    fn restart(&mut self) -> PResult<()> {
        let alg = self
            .keyed
            .ok_or_else(|| prov_err!(NotInitialized, "no digest set"))?;
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| prov_err!(NotInitialized, "no key set"))?;
        self.hash = Some(Hash::new_hmac(alg, key)?);
        self.absorbed = false;
        Ok(())
    }

    /// Hands the context to the default provider's HMAC with its digest and key.
    fn go_soft(&mut self) -> PResult<&mut SoftMac> {
        if self.soft.is_none() {
            // After final nothing is in progress (a re-init starts afresh).
            if self.absorbed && self.hash.is_some() {
                bail!(
                    UnsupportedParam,
                    "an HMAC in progress cannot change implementation"
                );
            }
            let mut s = SoftMac::new("HMAC")?;
            let mut p = Vec::new();
            if let Some(d) = &self.digest {
                p.push(soft::utf8_param(ffi::OSSL_MAC_PARAM_DIGEST, d));
            }
            if let Some(k) = &self.key {
                p.push(soft::octets_param(ffi::OSSL_MAC_PARAM_KEY, k));
            }
            p.push(crate::params::p_end());
            // SAFETY: a live context; a terminated array pointing at our own data.
            soft::check(unsafe { s.set_params(p.as_ptr()) })?;
            self.hash = None;
            self.soft = Some(s);
        }
        self.soft.as_mut().ok_or_else(|| prov_err!(NotInitialized))
    }

    fn set_params(&mut self, p: ParamsIn) -> PResult<()> {
        if let Some(s) = self.soft.as_mut() {
            // SAFETY: the caller's array, NULL or terminated.
            return soft::check(unsafe { s.set_params(p.raw()) });
        }
        let name = p.utf8(ffi::OSSL_MAC_PARAM_DIGEST)?;
        let alg = name
            .as_deref()
            .map(|n| crate::digest::by_name(n).filter(|&a| backend::supports(Capability::Hash(a))));
        // A digest the engines lack, or a TLS CBC record's MAC: the default provider's.
        if matches!(alg, Some(None)) || p.has(ffi::OSSL_MAC_PARAM_TLS_DATA_SIZE) {
            let s = self.go_soft()?;
            // SAFETY: the caller's array, NULL or terminated.
            return soft::check(unsafe { s.set_params(p.raw()) });
        }
        if let (Some(Some(alg)), Some(name)) = (alg, name) {
            self.alg = Some(alg);
            self.digest = std::ffi::CString::new(name).ok();
            self.hash = None;
        }
        // Properties select the digest implementation; ours is fixed, so they are ignored.
        let _ = p.utf8(ffi::OSSL_MAC_PARAM_PROPERTIES)?;
        // Performance hints with no effect on the result.
        let _ = p.int(ffi::OSSL_MAC_PARAM_DIGEST_NOINIT)?;
        let _ = p.int(ffi::OSSL_MAC_PARAM_DIGEST_ONESHOT)?;
        if let Some(k) = p.octets(ffi::OSSL_MAC_PARAM_KEY)? {
            if let Some(old) = self.key.as_mut() {
                crate::cipher::wipe(old);
            }
            self.key = Some(k.to_vec());
            // Without a digest the default provider refuses the key too.
            self.rekey()?;
        }
        Ok(())
    }
}

/// # Safety
/// `vctx` is NULL or a live context from newctx/dupctx.
unsafe fn ctx_mut<'a>(vctx: *mut c_void) -> PResult<&'a mut HmacCtx> {
    // SAFETY: per the function contract.
    unsafe { algctx::get_mut(vctx) }
}

unsafe extern "C" fn hmac_newctx(_provctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        Ok(algctx::into_raw(HmacCtx::default()))
    })
}

unsafe extern "C" fn hmac_dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(algctx::into_raw(c.clone()))
    })
}

unsafe extern "C" fn hmac_init(
    vctx: *mut c_void,
    key: *const u8,
    keylen: usize,
    params: *const OSSL_PARAM,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded init contract.
            return Ok(unsafe { s.init(key, keylen, params) });
        }
        // SAFETY: NULL or a terminated array.
        c.set_params(unsafe { ParamsIn::new(params) })?;
        if let Some(s) = c.soft.as_mut() {
            // The parameters handed the context over (and were applied there).
            // SAFETY: forwarded init contract.
            return Ok(unsafe { s.init(key, keylen, ptr::null()) });
        }
        if !key.is_null() {
            // SAFETY: `key` is readable for `keylen` bytes.
            let k = unsafe { std::slice::from_raw_parts(key, keylen) };
            if let Some(old) = c.key.as_mut() {
                crate::cipher::wipe(old);
            }
            c.key = Some(k.to_vec());
            c.rekey()?;
        } else {
            c.restart()?;
        }
        Ok(1)
    })
}

unsafe extern "C" fn hmac_update(vctx: *mut c_void, inp: *const u8, inl: usize) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded update contract.
            return Ok(unsafe { s.update(inp, inl) });
        }
        let h = c
            .hash
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized, "HMAC not initialised or already finished"))?;
        if inl == 0 {
            return Ok(1);
        }
        if inp.is_null() {
            bail!(InvalidParam, "NULL input");
        }
        // SAFETY: `inp` is readable for `inl` bytes.
        h.update(unsafe { std::slice::from_raw_parts(inp, inl) })?;
        c.absorbed = true;
        Ok(1)
    })
}

unsafe extern "C" fn hmac_final(
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
        let alg = c
            .keyed
            .ok_or_else(|| prov_err!(NotInitialized, "no key set"))?;
        let n = backend::digest_len(alg);
        if out.is_null() {
            // Size query.
            if !outl.is_null() {
                // SAFETY: valid out pointer.
                unsafe { *outl = n };
            }
            return Ok(1);
        }
        if outsize < n {
            bail!(OutputTooSmall, "HMAC needs {n} bytes");
        }
        let mut h = c
            .hash
            .take()
            .ok_or_else(|| prov_err!(NotInitialized, "HMAC not initialised or already finished"))?;
        // SAFETY: `out` is writable for `outsize >= n` bytes.
        let w = h.finish(unsafe { std::slice::from_raw_parts_mut(out, n) })?;
        if !outl.is_null() {
            // SAFETY: valid out pointer.
            unsafe { *outl = w };
        }
        stats::bump(&stats::P.hmac_ops, 1);
        Ok(1)
    })
}

static GETTABLE_CTX: StaticTable<OSSL_PARAM, 3> = StaticTable([
    p_size(ffi::OSSL_MAC_PARAM_SIZE),
    p_size(ffi::OSSL_MAC_PARAM_BLOCK_SIZE),
    p_end(),
]);

static SETTABLE_CTX: StaticTable<OSSL_PARAM, 7> = StaticTable([
    p_utf8(ffi::OSSL_MAC_PARAM_DIGEST),
    p_utf8(ffi::OSSL_MAC_PARAM_PROPERTIES),
    p_octets(ffi::OSSL_MAC_PARAM_KEY),
    p_int(ffi::OSSL_MAC_PARAM_DIGEST_NOINIT),
    p_int(ffi::OSSL_MAC_PARAM_DIGEST_ONESHOT),
    p_size(ffi::OSSL_MAC_PARAM_TLS_DATA_SIZE),
    p_end(),
]);

unsafe extern "C" fn hmac_get_ctx_params(vctx: *mut c_void, params: *mut OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        if let Some(s) = c.soft.as_mut() {
            // SAFETY: forwarded: a valid writable array.
            return Ok(unsafe { s.get_params(params) });
        }
        // SAFETY: valid writable array.
        let out = unsafe { ParamsOut::new(params) };
        out.size(
            ffi::OSSL_MAC_PARAM_SIZE,
            c.keyed.map_or(0, backend::digest_len),
        )?;
        out.size(
            ffi::OSSL_MAC_PARAM_BLOCK_SIZE,
            c.alg.map_or(0, backend::block_len),
        )?;
        Ok(1)
    })
}

unsafe extern "C" fn hmac_set_ctx_params(vctx: *mut c_void, params: *const OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        // SAFETY: NULL or a terminated array.
        c.set_params(unsafe { ParamsIn::new(params) })?;
        Ok(1)
    })
}

unsafe extern "C" fn hmac_gettable_ctx_params(
    _c: *mut c_void,
    _p: *mut c_void,
) -> *const OSSL_PARAM {
    GETTABLE_CTX.as_ptr()
}

unsafe extern "C" fn hmac_settable_ctx_params(
    _c: *mut c_void,
    _p: *mut c_void,
) -> *const OSSL_PARAM {
    SETTABLE_CTX.as_ptr()
}

crate::dispatch_table!(static HMAC_DISPATCH = {
    OSSL_FUNC_MAC_NEWCTX: OSSL_FUNC_mac_newctx_fn = hmac_newctx,
    OSSL_FUNC_MAC_FREECTX: OSSL_FUNC_mac_freectx_fn = algctx::free::<HmacCtx>,
    OSSL_FUNC_MAC_DUPCTX: OSSL_FUNC_mac_dupctx_fn = hmac_dupctx,
    OSSL_FUNC_MAC_INIT: OSSL_FUNC_mac_init_fn = hmac_init,
    OSSL_FUNC_MAC_UPDATE: OSSL_FUNC_mac_update_fn = hmac_update,
    OSSL_FUNC_MAC_FINAL: OSSL_FUNC_mac_final_fn = hmac_final,
    OSSL_FUNC_MAC_GET_CTX_PARAMS: OSSL_FUNC_mac_get_ctx_params_fn = hmac_get_ctx_params,
    OSSL_FUNC_MAC_SET_CTX_PARAMS: OSSL_FUNC_mac_set_ctx_params_fn = hmac_set_ctx_params,
    OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS: OSSL_FUNC_mac_gettable_ctx_params_fn = hmac_gettable_ctx_params,
    OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS: OSSL_FUNC_mac_settable_ctx_params_fn = hmac_settable_ctx_params,
});

/// The MAC implementations.
pub fn algorithms() -> Vec<AlgDef> {
    vec![AlgDef {
        names: b"HMAC\0",
        description: b"WarpDrive HMAC (SHA-1, SHA-2; other digests in software)\0",
        dispatch: HMAC_DISPATCH.as_ptr(),
        family: "HMAC",
        needs: Capability::Hash(HashAlg::Sha256),
    }]
}
