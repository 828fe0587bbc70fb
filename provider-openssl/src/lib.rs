//! OpenSSL 3 provider `warpdrive`: AES-GCM/CTR/CBC, SHA-1/SHA-2 and HMAC through the
//! WarpDrive core, so unmodified OpenSSL 3 programs offload symmetric crypto.
//!
//! Layout: `ffi` holds the bindgen'd provider ABI; `boundary` the panic boundary and error
//! type; `algctx` the boxed algorithm contexts OpenSSL holds; `params` OSSL_PARAM helpers;
//! `provider` init/teardown/config/errors; `cipher`, `digest`, `mac` the algorithms;
//! `backend` is the only module that calls the core.

// `ok_or_else(|| prov_err!(..))` keeps error construction (file/line capture, formatting)
// off the success path even where clippy considers it cheap.
#![allow(clippy::unnecessary_lazy_evaluations)]

pub mod algctx;
pub mod asyncjob;
pub mod backend;
pub mod boundary;
pub mod chacha;
pub mod cipher;
pub mod digest;
pub mod ffi;
pub mod mac;
pub mod params;
pub mod provider;
pub mod soft;
pub mod stats;

use std::os::raw::{c_int, c_void};

/// The provider entry point OpenSSL looks up in the module (the only exported symbol).
///
/// # Safety
/// Called by OpenSSL's provider loader with a valid core handle, the core's dispatch table
/// and valid out pointers.
#[no_mangle]
pub unsafe extern "C" fn OSSL_provider_init(
    handle: *const ffi::OSSL_CORE_HANDLE,
    core_in: *const ffi::OSSL_DISPATCH,
    out: *mut *const ffi::OSSL_DISPATCH,
    provctx: *mut *mut c_void,
) -> c_int {
    ffi_entry!(0, {
        // SAFETY: forwarded loader contract.
        unsafe { provider::init(handle, core_in, out, provctx) }
    })
}
