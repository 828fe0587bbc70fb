//! The software fallback: OpenSSL's default provider, loaded into a private library
//! context, whose own implementations take over a context when the engines cannot serve
//! it (TLS CBC record processing, HMAC over a digest the engines lack, GCM IVs longer
//! than the descriptor ABI carries, a CTR position set by the caller). The rule is that
//! whatever the default provider accepts, this provider accepts with the same result:
//! calling the default implementation's own functions with the caller's arguments is the
//! one way to guarantee that, parameter by parameter. What runs here is counted
//! (`soft_ops`, `soft_bytes`).
//!
//! The private context loads only "default" and no configuration file, so nothing the
//! application configured (our own provider preferred by `default_properties`) is
//! reachable from it: no loop back into this provider.

use crate::boundary::PResult;
use crate::ffi::{self, cstr, OSSL_DISPATCH, OSSL_PARAM};
use crate::{prov_err, stats};
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::{Mutex, OnceLock};

struct Lib {
    prov: *mut ffi::OSSL_PROVIDER,
    provctx: *mut c_void,
}

// SAFETY: the provider object and its context are created once and never freed; the
// default provider's entry points are thread-safe on distinct algorithm contexts.
unsafe impl Send for Lib {}
// SAFETY: as above.
unsafe impl Sync for Lib {}

static LIB: OnceLock<Option<Lib>> = OnceLock::new();

/// The private library context with the default provider (created on first use, never
/// during `OSSL_provider_init`, and kept for the life of the process).
fn lib() -> PResult<&'static Lib> {
    LIB.get_or_init(|| {
        // SAFETY: plain libcrypto constructor.
        let ctx = unsafe { ffi::OSSL_LIB_CTX_new() };
        if ctx.is_null() {
            return None;
        }
        // SAFETY: a live library context and a NUL-terminated name.
        let prov = unsafe { ffi::OSSL_PROVIDER_load(ctx, cstr(b"default\0")) };
        if prov.is_null() {
            return None;
        }
        // SAFETY: a loaded provider.
        let provctx = unsafe { ffi::OSSL_PROVIDER_get0_provider_ctx(prov) };
        Some(Lib { prov, provctx })
    })
    .as_ref()
    .ok_or_else(|| prov_err!(CoreFailure, "the default provider is not available"))
}

/// The default provider's dispatch table for algorithm `name` of operation `op`.
fn find(op: u32, name: &str) -> PResult<*const OSSL_DISPATCH> {
    let l = lib()?;
    let mut no_cache: c_int = 0;
    // SAFETY: a loaded provider; `no_cache` is a valid out pointer.
    let mut a = unsafe { ffi::OSSL_PROVIDER_query_operation(l.prov, op as c_int, &mut no_cache) };
    if a.is_null() {
        return Err(prov_err!(
            UnsupportedAlgorithm,
            "default provider: no operation {op}"
        ));
    }
    loop {
        // SAFETY: `a` walks the provider's terminated algorithm array.
        let alg = unsafe { &*a };
        if alg.algorithm_names.is_null() {
            break;
        }
        // SAFETY: algorithm names are NUL-terminated strings.
        let names = unsafe { std::ffi::CStr::from_ptr(alg.algorithm_names) }.to_string_lossy();
        if names.split(':').any(|n| n.eq_ignore_ascii_case(name)) {
            return Ok(alg.implementation);
        }
        // SAFETY: not yet at the terminator.
        a = unsafe { a.add(1) };
    }
    Err(prov_err!(
        UnsupportedAlgorithm,
        "{name} (not in the default provider either)"
    ))
}

/// Walks a dispatch table, handing each entry to `f`.
///
/// # Safety
/// `d` is a terminated dispatch table.
unsafe fn each(mut d: *const OSSL_DISPATCH, mut f: impl FnMut(u32, &OSSL_DISPATCH)) {
    loop {
        // SAFETY: within the terminated table.
        let e = unsafe { &*d };
        if e.function_id == 0 {
            return;
        }
        f(e.function_id as u32, e);
        // SAFETY: not yet at the terminator.
        d = unsafe { d.add(1) };
    }
}

/// The function of a dispatch entry as its bindgen'd type.
///
/// # Safety
/// `T` is the `OSSL_FUNC_*_fn` type core_dispatch.h gives to the entry's id.
unsafe fn typed<T: Copy>(e: &OSSL_DISPATCH) -> T {
    // SAFETY: `T` is an `Option<unsafe extern "C" fn(..)>`, the same size and
    // representation as the entry's `Option<unsafe extern "C" fn()>`; the id says the
    // function really has that signature.
    unsafe { std::mem::transmute_copy(&e.function) }
}

/// Looks up (once per name) and caches a function table built from the default
/// provider's dispatch table.
fn cached<T: 'static>(
    cache: &'static Mutex<Vec<(String, &'static T)>>,
    op: u32,
    name: &str,
    build: impl FnOnce(*const OSSL_DISPATCH) -> PResult<T>,
) -> PResult<&'static T> {
    let mut g = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = g.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Ok(t);
    }
    let t: &'static T = Box::leak(Box::new(build(find(op, name)?)?));
    g.push((name.to_owned(), t));
    Ok(t)
}

/// A fresh context from the default implementation of `name` (its `newctx`).
/// Ciphers and MACs share the signature, so the cipher type serves both.
fn new_ctx(newctx: ffi::OSSL_FUNC_cipher_newctx_fn, name: &str) -> PResult<*mut c_void> {
    let newctx = newctx.ok_or_else(|| prov_err!(CoreFailure))?;
    // SAFETY: the default provider's newctx with its own provider context.
    let ctx = unsafe { newctx(lib()?.provctx) };
    if ctx.is_null() {
        return Err(prov_err!(CoreFailure, "default {name}: newctx failed"));
    }
    Ok(ctx)
}

/// A copy of `ctx` by the default implementation's `dupctx`; `what` names the kind
/// ("cipher", "MAC") in the errors. The signature is shared as in [`new_ctx`].
///
/// # Safety
/// `ctx` is a live context of the implementation `dup` belongs to.
unsafe fn dup_ctx(
    dup: ffi::OSSL_FUNC_cipher_dupctx_fn,
    ctx: *mut c_void,
    what: &str,
) -> PResult<*mut c_void> {
    let dup = dup.ok_or_else(|| prov_err!(CoreFailure, "the default {what} cannot be copied"))?;
    // SAFETY: a live context of this implementation (function contract).
    let ctx = unsafe { dup(ctx) };
    if ctx.is_null() {
        return Err(prov_err!(CoreFailure, "default {what}: dupctx failed"));
    }
    Ok(ctx)
}

/// One failed call of the default implementation: it raised its own error already.
fn counted(rc: c_int, bytes: usize) -> c_int {
    count(1, bytes as u64);
    rc
}

/// Counts `ops` calls and `bytes` bytes run in the default implementation (for callers
/// that count a whole message once instead of each update).
pub fn count(ops: u64, bytes: u64) {
    stats::bump(&stats::P.soft_ops, ops);
    stats::bump(&stats::P.soft_bytes, bytes);
}

// ---- ciphers ----

#[derive(Default)]
struct CipherFns {
    newctx: ffi::OSSL_FUNC_cipher_newctx_fn,
    freectx: ffi::OSSL_FUNC_cipher_freectx_fn,
    dupctx: ffi::OSSL_FUNC_cipher_dupctx_fn,
    einit: ffi::OSSL_FUNC_cipher_encrypt_init_fn,
    dinit: ffi::OSSL_FUNC_cipher_decrypt_init_fn,
    update: ffi::OSSL_FUNC_cipher_update_fn,
    final_: ffi::OSSL_FUNC_cipher_final_fn,
    cipher: ffi::OSSL_FUNC_cipher_cipher_fn,
    get: ffi::OSSL_FUNC_cipher_get_ctx_params_fn,
    set: ffi::OSSL_FUNC_cipher_set_ctx_params_fn,
    alg_get: ffi::OSSL_FUNC_cipher_get_params_fn,
    alg_gettable: ffi::OSSL_FUNC_cipher_gettable_params_fn,
    gettable: ffi::OSSL_FUNC_cipher_gettable_ctx_params_fn,
    settable: ffi::OSSL_FUNC_cipher_settable_ctx_params_fn,
}

static CIPHERS: Mutex<Vec<(String, &'static CipherFns)>> = Mutex::new(Vec::new());

/// A cipher context of the default provider's implementation.
pub struct SoftCipher {
    f: &'static CipherFns,
    ctx: *mut c_void,
}

fn cipher_fns(name: &str) -> PResult<&'static CipherFns> {
    cached(&CIPHERS, ffi::OSSL_OP_CIPHER, name, |d| {
        let mut f = CipherFns::default();
        // SAFETY: a dispatch table of the default provider; each id gets its type.
        unsafe {
            each(d, |id, e| match id {
                ffi::OSSL_FUNC_CIPHER_NEWCTX => f.newctx = typed(e),
                ffi::OSSL_FUNC_CIPHER_FREECTX => f.freectx = typed(e),
                ffi::OSSL_FUNC_CIPHER_DUPCTX => f.dupctx = typed(e),
                ffi::OSSL_FUNC_CIPHER_ENCRYPT_INIT => f.einit = typed(e),
                ffi::OSSL_FUNC_CIPHER_DECRYPT_INIT => f.dinit = typed(e),
                ffi::OSSL_FUNC_CIPHER_UPDATE => f.update = typed(e),
                ffi::OSSL_FUNC_CIPHER_FINAL => f.final_ = typed(e),
                ffi::OSSL_FUNC_CIPHER_CIPHER => f.cipher = typed(e),
                ffi::OSSL_FUNC_CIPHER_GET_CTX_PARAMS => f.get = typed(e),
                ffi::OSSL_FUNC_CIPHER_SET_CTX_PARAMS => f.set = typed(e),
                ffi::OSSL_FUNC_CIPHER_GET_PARAMS => f.alg_get = typed(e),
                ffi::OSSL_FUNC_CIPHER_GETTABLE_PARAMS => f.alg_gettable = typed(e),
                ffi::OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS => f.gettable = typed(e),
                ffi::OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS => f.settable = typed(e),
                _ => {}
            })
        };
        if f.newctx.is_none() || f.freectx.is_none() || f.update.is_none() {
            return Err(prov_err!(
                CoreFailure,
                "default {name}: incomplete dispatch"
            ));
        }
        Ok(f)
    })
}

/// The default implementation's algorithm parameters of cipher `name`
/// (OSSL_FUNC_cipher_get_params), for an implementation that answers as it does.
///
/// # Safety
/// `p` is NULL or a valid writable terminated array.
pub unsafe fn cipher_get_params(name: &str, p: *mut OSSL_PARAM) -> PResult<c_int> {
    let f = cipher_fns(name)?;
    // SAFETY: forwarded contract.
    Ok(f.alg_get.map_or(0, |g| unsafe { g(p) }))
}

/// The default implementation's parameter tables of cipher `name`: (gettable,
/// gettable_ctx, settable_ctx), each NULL if it has none.
pub fn cipher_param_tables(
    name: &str,
) -> PResult<(*const OSSL_PARAM, *const OSSL_PARAM, *const OSSL_PARAM)> {
    let f = cipher_fns(name)?;
    let pc = lib()?.provctx;
    // SAFETY: the default provider's table getters with its own provider context; they
    // return static tables and do not look at the (NULL) algorithm context.
    unsafe {
        Ok((
            f.alg_gettable.map_or(ptr::null(), |g| g(pc)),
            f.gettable.map_or(ptr::null(), |g| g(ptr::null_mut(), pc)),
            f.settable.map_or(ptr::null(), |g| g(ptr::null_mut(), pc)),
        ))
    }
}

impl SoftCipher {
    /// A fresh context of the default provider's `name` (e.g. "AES-128-CBC").
    pub fn new(name: &str) -> PResult<SoftCipher> {
        let f = cipher_fns(name)?;
        let ctx = new_ctx(f.newctx, name)?;
        Ok(SoftCipher { f, ctx })
    }

    /// An independent copy (EVP_CIPHER_CTX_copy).
    pub fn try_clone(&self) -> PResult<SoftCipher> {
        // SAFETY: a live context of this implementation.
        let ctx = unsafe { dup_ctx(self.f.dupctx, self.ctx, "cipher")? };
        Ok(SoftCipher { f: self.f, ctx })
    }

    /// OSSL_FUNC_cipher_{en,de}crypt_init.
    ///
    /// # Safety
    /// OpenSSL's init contract for the pointers.
    pub unsafe fn init(
        &mut self,
        enc: bool,
        key: *const u8,
        keylen: usize,
        iv: *const u8,
        ivlen: usize,
        params: *const OSSL_PARAM,
    ) -> c_int {
        let f = if enc { self.f.einit } else { self.f.dinit };
        // SAFETY: forwarded contract; a live context.
        f.map_or(0, |f| unsafe {
            f(self.ctx, key, keylen, iv, ivlen, params)
        })
    }

    /// OSSL_FUNC_cipher_update.
    ///
    /// # Safety
    /// EVP's update contract for the pointers.
    pub unsafe fn update(
        &mut self,
        out: *mut u8,
        outl: *mut usize,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> c_int {
        // SAFETY: forwarded contract.
        counted(
            unsafe { self.update_uncounted(out, outl, outsize, inp, inl) },
            inl,
        )
    }

    /// [`Self::update`] without counting it (the caller counts, see [`count`]).
    ///
    /// # Safety
    /// EVP's update contract for the pointers.
    pub unsafe fn update_uncounted(
        &mut self,
        out: *mut u8,
        outl: *mut usize,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> c_int {
        // SAFETY: forwarded contract; a live context.
        self.f
            .update
            .map_or(0, |f| unsafe { f(self.ctx, out, outl, outsize, inp, inl) })
    }

    /// OSSL_FUNC_cipher_final.
    ///
    /// # Safety
    /// EVP's final contract for the pointers.
    pub unsafe fn final_(&mut self, out: *mut u8, outl: *mut usize, outsize: usize) -> c_int {
        // SAFETY: forwarded contract; a live context.
        self.f
            .final_
            .map_or(0, |f| unsafe { f(self.ctx, out, outl, outsize) })
    }

    /// OSSL_FUNC_cipher_cipher (EVP_Cipher).
    ///
    /// # Safety
    /// EVP's cipher contract for the pointers.
    pub unsafe fn cipher(
        &mut self,
        out: *mut u8,
        outl: *mut usize,
        outsize: usize,
        inp: *const u8,
        inl: usize,
    ) -> c_int {
        // SAFETY: forwarded contract; a live context.
        let rc = self
            .f
            .cipher
            .map_or(0, |f| unsafe { f(self.ctx, out, outl, outsize, inp, inl) });
        counted(rc, inl)
    }

    /// OSSL_FUNC_cipher_get_ctx_params.
    ///
    /// # Safety
    /// `p` is NULL or a valid writable terminated array.
    pub unsafe fn get_params(&mut self, p: *mut OSSL_PARAM) -> c_int {
        // SAFETY: forwarded contract; a live context.
        self.f.get.map_or(0, |f| unsafe { f(self.ctx, p) })
    }

    /// OSSL_FUNC_cipher_set_ctx_params.
    ///
    /// # Safety
    /// `p` is NULL or a valid terminated array.
    pub unsafe fn set_params(&mut self, p: *const OSSL_PARAM) -> c_int {
        // SAFETY: forwarded contract; a live context.
        self.f.set.map_or(0, |f| unsafe { f(self.ctx, p) })
    }
}

impl Drop for SoftCipher {
    fn drop(&mut self) {
        if let Some(f) = self.f.freectx {
            // SAFETY: a live context, freed once.
            unsafe { f(self.ctx) };
        }
    }
}

// ---- MACs ----

#[derive(Default)]
struct MacFns {
    newctx: ffi::OSSL_FUNC_mac_newctx_fn,
    freectx: ffi::OSSL_FUNC_mac_freectx_fn,
    dupctx: ffi::OSSL_FUNC_mac_dupctx_fn,
    init: ffi::OSSL_FUNC_mac_init_fn,
    update: ffi::OSSL_FUNC_mac_update_fn,
    final_: ffi::OSSL_FUNC_mac_final_fn,
    get: ffi::OSSL_FUNC_mac_get_ctx_params_fn,
    set: ffi::OSSL_FUNC_mac_set_ctx_params_fn,
}

static MACS: Mutex<Vec<(String, &'static MacFns)>> = Mutex::new(Vec::new());

/// A MAC context of the default provider's implementation.
pub struct SoftMac {
    f: &'static MacFns,
    ctx: *mut c_void,
}

impl SoftMac {
    /// A fresh context of the default provider's MAC `name` (e.g. "HMAC").
    pub fn new(name: &str) -> PResult<SoftMac> {
        let f = cached(&MACS, ffi::OSSL_OP_MAC, name, |d| {
            let mut f = MacFns::default();
            // SAFETY: a dispatch table of the default provider; each id gets its type.
            unsafe {
                each(d, |id, e| match id {
                    ffi::OSSL_FUNC_MAC_NEWCTX => f.newctx = typed(e),
                    ffi::OSSL_FUNC_MAC_FREECTX => f.freectx = typed(e),
                    ffi::OSSL_FUNC_MAC_DUPCTX => f.dupctx = typed(e),
                    ffi::OSSL_FUNC_MAC_INIT => f.init = typed(e),
                    ffi::OSSL_FUNC_MAC_UPDATE => f.update = typed(e),
                    ffi::OSSL_FUNC_MAC_FINAL => f.final_ = typed(e),
                    ffi::OSSL_FUNC_MAC_GET_CTX_PARAMS => f.get = typed(e),
                    ffi::OSSL_FUNC_MAC_SET_CTX_PARAMS => f.set = typed(e),
                    _ => {}
                })
            };
            if f.newctx.is_none() || f.freectx.is_none() || f.final_.is_none() {
                return Err(prov_err!(
                    CoreFailure,
                    "default {name}: incomplete dispatch"
                ));
            }
            Ok(f)
        })?;
        let ctx = new_ctx(f.newctx, name)?;
        Ok(SoftMac { f, ctx })
    }

    /// An independent copy.
    pub fn try_clone(&self) -> PResult<SoftMac> {
        // SAFETY: a live context of this implementation.
        let ctx = unsafe { dup_ctx(self.f.dupctx, self.ctx, "MAC")? };
        Ok(SoftMac { f: self.f, ctx })
    }

    /// OSSL_FUNC_mac_init.
    ///
    /// # Safety
    /// `key` is NULL or readable for `keylen` bytes; `params` NULL or terminated.
    pub unsafe fn init(
        &mut self,
        key: *const u8,
        keylen: usize,
        params: *const OSSL_PARAM,
    ) -> c_int {
        // SAFETY: `params` is NULL or terminated (function contract).
        let params = unsafe { without_properties(params) };
        // SAFETY: forwarded contract; a live context.
        self.f
            .init
            .map_or(0, |f| unsafe { f(self.ctx, key, keylen, params.as_ptr()) })
    }

    /// OSSL_FUNC_mac_update.
    ///
    /// # Safety
    /// `inp` is NULL or readable for `inl` bytes.
    pub unsafe fn update(&mut self, inp: *const u8, inl: usize) -> c_int {
        // SAFETY: forwarded contract; a live context.
        let rc = self
            .f
            .update
            .map_or(0, |f| unsafe { f(self.ctx, inp, inl) });
        stats::bump(&stats::P.soft_bytes, inl as u64);
        rc
    }

    /// OSSL_FUNC_mac_final.
    ///
    /// # Safety
    /// `out` is NULL or writable for `outsize` bytes; `outl` a valid pointer or NULL.
    pub unsafe fn final_(&mut self, out: *mut u8, outl: *mut usize, outsize: usize) -> c_int {
        // SAFETY: forwarded contract; a live context.
        let rc = self
            .f
            .final_
            .map_or(0, |f| unsafe { f(self.ctx, out, outl, outsize) });
        counted(rc, 0)
    }

    /// OSSL_FUNC_mac_get_ctx_params.
    ///
    /// # Safety
    /// `p` is NULL or a valid writable terminated array.
    pub unsafe fn get_params(&mut self, p: *mut OSSL_PARAM) -> c_int {
        // SAFETY: forwarded contract; a live context.
        self.f.get.map_or(0, |f| unsafe { f(self.ctx, p) })
    }

    /// OSSL_FUNC_mac_set_ctx_params (without `properties`: see [`without_properties`]).
    ///
    /// # Safety
    /// `p` is NULL or a valid terminated array.
    pub unsafe fn set_params(&mut self, p: *const OSSL_PARAM) -> c_int {
        // SAFETY: `p` is NULL or terminated (function contract).
        let p = unsafe { without_properties(p) };
        // SAFETY: forwarded contract; a live context.
        self.f.set.map_or(0, |f| unsafe { f(self.ctx, p.as_ptr()) })
    }
}

impl Drop for SoftMac {
    fn drop(&mut self) {
        if let Some(f) = self.f.freectx {
            // SAFETY: a live context, freed once.
            unsafe { f(self.ctx) };
        }
    }
}

/// A copy of `p` without its `properties` entry. The properties select an
/// implementation in the caller's library context (`provider=warpdrive`, say); the
/// digest of a MAC run here is fetched from the private context, which has only the
/// default provider, so they cannot apply and must not make the fetch fail.
///
/// # Safety
/// `p` is NULL or a valid terminated array (the copies point at the caller's data).
unsafe fn without_properties(p: *const OSSL_PARAM) -> Vec<OSSL_PARAM> {
    let mut v = Vec::new();
    let mut q = p;
    if !q.is_null() {
        loop {
            // SAFETY: within the terminated array.
            let e = unsafe { *q };
            if e.key.is_null() {
                break;
            }
            // SAFETY: keys are NUL-terminated strings.
            let k = unsafe { std::ffi::CStr::from_ptr(e.key) }.to_bytes_with_nul();
            if k != ffi::OSSL_MAC_PARAM_PROPERTIES {
                v.push(e);
            }
            // SAFETY: not yet at the terminator.
            q = unsafe { q.add(1) };
        }
    }
    v.push(crate::params::p_end());
    v
}

/// Builds a one-entry parameter array (plus terminator) for a state transfer.
pub fn one(p: OSSL_PARAM) -> [OSSL_PARAM; 2] {
    [p, crate::params::p_end()]
}

/// `OSSL_PARAM_construct_size_t` for a state transfer.
pub fn size_param(key: &'static [u8], v: &mut usize) -> OSSL_PARAM {
    // SAFETY: `key` is a NUL-terminated static; `v` outlives the array built from it.
    unsafe { ffi::OSSL_PARAM_construct_size_t(cstr(key), v) }
}

/// `OSSL_PARAM_construct_uint` for a state transfer.
pub fn uint_param(key: &'static [u8], v: &mut u32) -> OSSL_PARAM {
    // SAFETY: as in `size_param`.
    unsafe { ffi::OSSL_PARAM_construct_uint(cstr(key), v) }
}

/// `OSSL_PARAM_construct_octet_string` for a state transfer.
pub fn octets_param(key: &'static [u8], v: &[u8]) -> OSSL_PARAM {
    // SAFETY: as in `size_param`; the default implementations only read set_params data.
    unsafe { ffi::OSSL_PARAM_construct_octet_string(cstr(key), v.as_ptr() as *mut c_void, v.len()) }
}

/// `OSSL_PARAM_construct_utf8_string` for a state transfer (`v` NUL-terminated).
pub fn utf8_param(key: &'static [u8], v: &std::ffi::CStr) -> OSSL_PARAM {
    // SAFETY: as in `octets_param`.
    unsafe { ffi::OSSL_PARAM_construct_utf8_string(cstr(key), v.as_ptr() as *mut _, 0) }
}

/// A NULL parameter array.
pub const NO_PARAMS: *const OSSL_PARAM = ptr::null();

/// `Ok` if a call of the default implementation succeeded; otherwise an error that is
/// not raised again (the implementation raised its own).
pub fn check(rc: c_int) -> PResult<()> {
    if rc == 1 {
        Ok(())
    } else {
        Err(prov_err!(Reported))
    }
}

impl Clone for SoftCipher {
    fn clone(&self) -> Self {
        // EVP_CIPHER_CTX_copy cannot report a failure from here; dupctx fails only when
        // out of memory (the panic boundary turns this into an error).
        self.try_clone()
            .expect("copy of the default cipher context")
    }
}

impl Clone for SoftMac {
    fn clone(&self) -> Self {
        self.try_clone().expect("copy of the default MAC context")
    }
}
