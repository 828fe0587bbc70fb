//! The algorithm contexts (algctx) OpenSSL holds as `void *`: each one a `Box` made in a
//! newctx/dupctx, reached through [`get_mut`] and taken back once by [`free`]. Every
//! algorithm's contexts go through these, so the pointer casts live in one place.

use crate::boundary::PResult;
use crate::prov_err;
use std::os::raw::c_void;

/// Hands `ctx` over to OpenSSL as an algctx (the return of a newctx/dupctx).
pub fn into_raw<T>(ctx: T) -> *mut c_void {
    Box::into_raw(Box::new(ctx)).cast()
}

/// The context behind `vctx`.
///
/// # Safety
/// `vctx` is NULL or an algctx of type `T` from [`into_raw`] not yet freed.
pub unsafe fn get_mut<'a, T>(vctx: *mut c_void) -> PResult<&'a mut T> {
    // SAFETY: per the function contract; OpenSSL never shares an algctx between threads
    // concurrently.
    unsafe { vctx.cast::<T>().as_mut() }.ok_or_else(|| prov_err!(NotInitialized, "NULL context"))
}

/// OSSL_FUNC_*_freectx for algctxs of type `T`.
///
/// # Safety
/// `vctx` is NULL or an algctx of type `T` from [`into_raw`], freed once.
pub unsafe extern "C" fn free<T>(vctx: *mut c_void) {
    crate::ffi_entry!((), {
        if !vctx.is_null() {
            // SAFETY: from Box::into_raw in `into_raw`, freed once (function contract).
            drop(unsafe { Box::from_raw(vctx.cast::<T>()) });
        }
        Ok(())
    })
}
