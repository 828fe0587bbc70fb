//! SHA-1 and SHA-2 (224/256/384/512) as OpenSSL digest implementations.

use crate::algctx;
use crate::backend::{self, Capability, DigestStream, HashAlg};
use crate::boundary::PResult;
use crate::ffi::{self, StaticTable, OSSL_PARAM};
use crate::params::{p_end, p_int, p_size, ParamsOut};
use crate::provider::AlgDef;
use crate::{bail, prov_err, stats};
use std::os::raw::{c_int, c_void};
use std::ptr;

/// Hash ids used as const generic parameters.
const SHA1: u8 = 0;
const SHA224: u8 = 1;
const SHA256: u8 = 2;
const SHA384: u8 = 3;
const SHA512: u8 = 4;

/// The core's algorithm for a const-generic id.
pub const fn alg_of(a: u8) -> HashAlg {
    match a {
        SHA1 => HashAlg::Sha1,
        SHA224 => HashAlg::Sha224,
        SHA256 => HashAlg::Sha256,
        SHA384 => HashAlg::Sha384,
        _ => HashAlg::Sha512,
    }
}

/// A digest operation context.
#[derive(Clone)]
struct DigestCtx {
    alg: HashAlg,
    hash: Option<DigestStream>,
    bytes: u64,
}

/// # Safety
/// `vctx` is NULL or a live context from newctx/dupctx.
unsafe fn ctx_mut<'a>(vctx: *mut c_void) -> PResult<&'a mut DigestCtx> {
    // SAFETY: per the function contract.
    unsafe { algctx::get_mut(vctx) }
}

unsafe extern "C" fn digest_newctx<const A: u8>(_provctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        Ok(algctx::into_raw(DigestCtx {
            alg: alg_of(A),
            hash: None,
            bytes: 0,
        }))
    })
}

unsafe extern "C" fn digest_dupctx(vctx: *mut c_void) -> *mut c_void {
    crate::ffi_entry!(ptr::null_mut(), {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        Ok(algctx::into_raw(c.clone()))
    })
}

unsafe extern "C" fn digest_init(vctx: *mut c_void, _params: *const OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        c.hash = Some(DigestStream::new(c.alg)?);
        c.bytes = 0;
        Ok(1)
    })
}

unsafe extern "C" fn digest_update(vctx: *mut c_void, inp: *const u8, inl: usize) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        let h = c.hash.as_mut().ok_or_else(|| {
            prov_err!(NotInitialized, "digest not initialised or already finished")
        })?;
        if inl == 0 {
            return Ok(1);
        }
        if inp.is_null() {
            bail!(InvalidParam, "NULL input");
        }
        // SAFETY: `inp` is readable for `inl` bytes (EVP contract).
        h.update(unsafe { std::slice::from_raw_parts(inp, inl) })?;
        c.bytes += inl as u64;
        Ok(1)
    })
}

unsafe extern "C" fn digest_final(
    vctx: *mut c_void,
    out: *mut u8,
    outl: *mut usize,
    outsz: usize,
) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: a live context.
        let c = unsafe { ctx_mut(vctx) }?;
        let n = backend::digest_len(c.alg);
        if outsz < n || out.is_null() {
            bail!(OutputTooSmall, "digest needs {n} bytes");
        }
        let h = c.hash.take().ok_or_else(|| {
            prov_err!(NotInitialized, "digest not initialised or already finished")
        })?;
        // SAFETY: `out` is writable for `outsz >= n` bytes.
        let o = unsafe { std::slice::from_raw_parts_mut(out, n) };
        let w = h.finish(o)?;
        if !outl.is_null() {
            // SAFETY: valid out pointer.
            unsafe { *outl = w };
        }
        stats::bump(&stats::P.digest_ops, 1);
        stats::bump(&stats::P.digest_bytes, c.bytes);
        Ok(1)
    })
}

static GETTABLE: StaticTable<OSSL_PARAM, 5> = StaticTable([
    p_size(ffi::OSSL_DIGEST_PARAM_BLOCK_SIZE),
    p_size(ffi::OSSL_DIGEST_PARAM_SIZE),
    p_int(ffi::OSSL_DIGEST_PARAM_XOF),
    p_int(ffi::OSSL_DIGEST_PARAM_ALGID_ABSENT),
    p_end(),
]);

unsafe extern "C" fn digest_get_params<const A: u8>(params: *mut OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: valid writable array.
        let out = unsafe { ParamsOut::new(params) };
        out.size(
            ffi::OSSL_DIGEST_PARAM_BLOCK_SIZE,
            backend::block_len(alg_of(A)),
        )?;
        out.size(ffi::OSSL_DIGEST_PARAM_SIZE, backend::digest_len(alg_of(A)))?;
        out.int(ffi::OSSL_DIGEST_PARAM_XOF, 0)?;
        out.int(ffi::OSSL_DIGEST_PARAM_ALGID_ABSENT, 1)?;
        Ok(1)
    })
}

unsafe extern "C" fn digest_gettable_params(_provctx: *mut c_void) -> *const OSSL_PARAM {
    GETTABLE.as_ptr()
}

macro_rules! sha {
    ($name:ident, $a:expr) => {
        crate::dispatch_table!(static $name = {
            OSSL_FUNC_DIGEST_NEWCTX: OSSL_FUNC_digest_newctx_fn = digest_newctx::<{ $a }>,
            OSSL_FUNC_DIGEST_FREECTX: OSSL_FUNC_digest_freectx_fn = algctx::free::<DigestCtx>,
            OSSL_FUNC_DIGEST_DUPCTX: OSSL_FUNC_digest_dupctx_fn = digest_dupctx,
            OSSL_FUNC_DIGEST_INIT: OSSL_FUNC_digest_init_fn = digest_init,
            OSSL_FUNC_DIGEST_UPDATE: OSSL_FUNC_digest_update_fn = digest_update,
            OSSL_FUNC_DIGEST_FINAL: OSSL_FUNC_digest_final_fn = digest_final,
            OSSL_FUNC_DIGEST_GET_PARAMS: OSSL_FUNC_digest_get_params_fn = digest_get_params::<{ $a }>,
            OSSL_FUNC_DIGEST_GETTABLE_PARAMS: OSSL_FUNC_digest_gettable_params_fn = digest_gettable_params,
        });
    };
}

sha!(SHA1_DISPATCH, SHA1);
sha!(SHA224_DISPATCH, SHA224);
sha!(SHA256_DISPATCH, SHA256);
sha!(SHA384_DISPATCH, SHA384);
sha!(SHA512_DISPATCH, SHA512);

/// The digest implementations (names as the default provider spells them).
pub fn algorithms() -> Vec<AlgDef> {
    let d = |names: &'static [u8],
             description: &'static [u8],
             dispatch: *const ffi::OSSL_DISPATCH,
             family,
             a| AlgDef {
        names,
        description,
        dispatch,
        family,
        needs: Capability::Hash(a),
    };
    vec![
        d(
            b"SHA1:SHA-1:SSL3-SHA1:1.3.14.3.2.26\0",
            b"WarpDrive SHA-1\0",
            SHA1_DISPATCH.as_ptr(),
            "SHA1",
            HashAlg::Sha1,
        ),
        d(
            b"SHA2-224:SHA-224:SHA224:2.16.840.1.101.3.4.2.4\0",
            b"WarpDrive SHA-224\0",
            SHA224_DISPATCH.as_ptr(),
            "SHA2",
            HashAlg::Sha224,
        ),
        d(
            b"SHA2-256:SHA-256:SHA256:2.16.840.1.101.3.4.2.1\0",
            b"WarpDrive SHA-256\0",
            SHA256_DISPATCH.as_ptr(),
            "SHA2",
            HashAlg::Sha256,
        ),
        d(
            b"SHA2-384:SHA-384:SHA384:2.16.840.1.101.3.4.2.2\0",
            b"WarpDrive SHA-384\0",
            SHA384_DISPATCH.as_ptr(),
            "SHA2",
            HashAlg::Sha384,
        ),
        d(
            b"SHA2-512:SHA-512:SHA512:2.16.840.1.101.3.4.2.3\0",
            b"WarpDrive SHA-512\0",
            SHA512_DISPATCH.as_ptr(),
            "SHA2",
            HashAlg::Sha512,
        ),
    ]
}

/// Maps a digest name (any of OpenSSL's spellings) to the core's algorithm.
pub fn by_name(name: &str) -> Option<HashAlg> {
    let n = name.trim().to_ascii_uppercase().replace('_', "-");
    Some(match n.as_str() {
        "SHA1" | "SHA-1" | "SSL3-SHA1" | "1.3.14.3.2.26" => HashAlg::Sha1,
        "SHA224" | "SHA-224" | "SHA2-224" | "2.16.840.1.101.3.4.2.4" => HashAlg::Sha224,
        "SHA256" | "SHA-256" | "SHA2-256" | "2.16.840.1.101.3.4.2.1" => HashAlg::Sha256,
        "SHA384" | "SHA-384" | "SHA2-384" | "2.16.840.1.101.3.4.2.2" => HashAlg::Sha384,
        "SHA512" | "SHA-512" | "SHA2-512" | "2.16.840.1.101.3.4.2.3" => HashAlg::Sha512,
        _ => return None,
    })
}
