//! The OSSL glue for `AesCtx`: parameter tables, C entry points, dispatch tables.

use super::{
    AesCtx, BLOCK, CBC, CTR, EVP_CIPH_CBC_MODE, EVP_CIPH_CTR_MODE, EVP_CIPH_GCM_MODE, GCM,
    GCM_IV_MAX,
};
use crate::algctx;
use crate::backend::CipherMode;
use crate::bail;
use crate::boundary::PResult;
use crate::ffi::{self, StaticTable, OSSL_PARAM};
use crate::params::{p_end, p_int, p_octets, p_size, p_uint, ParamsIn, ParamsOut};
use crate::provider::AlgDef;
use std::os::raw::{c_int, c_void};
use std::ptr;

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
    // SAFETY: per the function contract.
    unsafe { algctx::get_mut(vctx) }
}

unsafe extern "C" fn cipher_newctx<const M: u8, const KL: usize>(
    _provctx: *mut c_void,
) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        Ok(algctx::into_raw(AesCtx::new(M, KL)))
    })
}

unsafe extern "C" fn cipher_dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context (OpenSSL contract).
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(algctx::into_raw(c.clone()))
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

crate::cipher_init_entries!(cipher_encrypt_init, cipher_decrypt_init, init_common);

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
            OSSL_FUNC_CIPHER_FREECTX: OSSL_FUNC_cipher_freectx_fn = algctx::free::<AesCtx>,
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
