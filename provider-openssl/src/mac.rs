//! HMAC over SHA-1/SHA-2 as an OpenSSL MAC implementation ("HMAC").

use crate::backend::{self, Capability, Hash, HashAlg};
use crate::boundary::PResult;
use crate::ffi::{self, StaticTable, OSSL_PARAM};
use crate::params::{p_end, p_int, p_octets, p_size, p_utf8, ParamsIn, ParamsOut};
use crate::provider::AlgDef;
use crate::{bail, prov_err, stats};
use std::os::raw::{c_int, c_void};
use std::ptr;

/// An HMAC operation context.
#[derive(Clone, Default)]
struct HmacCtx {
    alg: Option<HashAlg>,
    key: Option<Vec<u8>>,
    hash: Option<Hash>,
}

impl Drop for HmacCtx {
    fn drop(&mut self) {
        if let Some(k) = self.key.as_mut() {
            crate::cipher::wipe(k);
        }
    }
}

impl HmacCtx {
    fn restart(&mut self) -> PResult<()> {
        let alg = self
            .alg
            .ok_or_else(|| prov_err!(NotInitialized, "no digest set"))?;
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| prov_err!(NotInitialized, "no key set"))?;
        self.hash = Some(Hash::new_hmac(alg, key)?);
        Ok(())
    }

    fn set_params(&mut self, p: ParamsIn) -> PResult<()> {
        if let Some(name) = p.utf8(ffi::OSSL_MAC_PARAM_DIGEST)? {
            let alg = crate::digest::by_name(&name)
                .ok_or_else(|| prov_err!(UnsupportedAlgorithm, "digest {name}"))?;
            if !backend::supports(Capability::Hash(alg)) {
                bail!(UnsupportedAlgorithm, "digest {name}");
            }
            self.alg = Some(alg);
            self.hash = None;
        }
        // Properties select the digest implementation; ours is fixed, so they are ignored.
        let _ = p.utf8(ffi::OSSL_MAC_PARAM_PROPERTIES)?;
        // Performance hints with no effect on the result.
        let _ = p.int(ffi::OSSL_MAC_PARAM_DIGEST_NOINIT)?;
        let _ = p.int(ffi::OSSL_MAC_PARAM_DIGEST_ONESHOT)?;
        if p.has(ffi::OSSL_MAC_PARAM_TLS_DATA_SIZE) {
            bail!(
                UnsupportedParam,
                "tls-data-size (TLS CBC MAC processing is not offered)"
            );
        }
        if let Some(k) = p.octets(ffi::OSSL_MAC_PARAM_KEY)? {
            if let Some(old) = self.key.as_mut() {
                crate::cipher::wipe(old);
            }
            self.key = Some(k.to_vec());
            if self.alg.is_some() {
                self.restart()?;
            }
        }
        Ok(())
    }
}

/// # Safety
/// `vctx` is NULL or a live context from newctx/dupctx.
unsafe fn ctx_mut<'a>(vctx: *mut c_void) -> PResult<&'a mut HmacCtx> {
    // SAFETY: per the function contract.
    unsafe { (vctx as *mut HmacCtx).as_mut() }
        .ok_or_else(|| prov_err!(NotInitialized, "NULL context"))
}

unsafe extern "C" fn hmac_newctx(_provctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        Ok(Box::into_raw(Box::<HmacCtx>::default()).cast())
    })
}

unsafe extern "C" fn hmac_freectx(vctx: *mut c_void) {
    crate::ffi_entry!((), {
        if !vctx.is_null() {
            // SAFETY: from Box::into_raw in newctx/dupctx; freed once.
            drop(unsafe { Box::from_raw(vctx as *mut HmacCtx) });
        }
        Ok(())
    })
}

unsafe extern "C" fn hmac_dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(Box::into_raw(Box::new(c.clone())).cast())
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
        // SAFETY: NULL or a terminated array.
        c.set_params(unsafe { ParamsIn::new(params) })?;
        if !key.is_null() {
            // SAFETY: `key` is readable for `keylen` bytes.
            let k = unsafe { std::slice::from_raw_parts(key, keylen) };
            if let Some(old) = c.key.as_mut() {
                crate::cipher::wipe(old);
            }
            c.key = Some(k.to_vec());
        }
        c.restart()?;
        Ok(1)
    })
}

unsafe extern "C" fn hmac_update(vctx: *mut c_void, inp: *const u8, inl: usize) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
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
        let alg = c
            .alg
            .ok_or_else(|| prov_err!(NotInitialized, "no digest set"))?;
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
        // SAFETY: valid writable array.
        let out = unsafe { ParamsOut::new(params) };
        out.size(
            ffi::OSSL_MAC_PARAM_SIZE,
            c.alg.map_or(0, backend::digest_len),
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
    OSSL_FUNC_MAC_FREECTX: OSSL_FUNC_mac_freectx_fn = hmac_freectx,
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
        description: b"WarpDrive HMAC (SHA-1, SHA-2)\0",
        dispatch: HMAC_DISPATCH.as_ptr(),
        family: "HMAC",
        needs: Capability::Hash(HashAlg::Sha256),
    }]
}
