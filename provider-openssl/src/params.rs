//! `OSSL_PARAM` helpers: static descriptor tables and typed get/set over the caller's
//! arrays, using libcrypto's own OSSL_PARAM_* conversions (so integer widths and types
//! follow OpenSSL's rules exactly).

use crate::boundary::PResult;
use crate::ffi::{self, cstr, OSSL_PARAM};
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::ptr;

/// Descriptor entry: an unsigned integer the size of `size_t`.
pub const fn p_size(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_UNSIGNED_INTEGER, size_of::<usize>())
}
/// Descriptor entry: `unsigned int`.
pub const fn p_uint(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_UNSIGNED_INTEGER, size_of::<c_uint>())
}
/// Descriptor entry: `int`.
pub const fn p_int(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_INTEGER, size_of::<c_int>())
}
/// Descriptor entry: octet string.
pub const fn p_octets(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_OCTET_STRING, 0)
}
/// Descriptor entry: UTF-8 string.
pub const fn p_utf8(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_UTF8_STRING, 0)
}
/// Descriptor entry: UTF-8 pointer.
pub const fn p_utf8_ptr(key: &'static [u8]) -> OSSL_PARAM {
    desc(key, ffi::OSSL_PARAM_UTF8_PTR, 0)
}
/// The terminating entry.
pub const fn p_end() -> OSSL_PARAM {
    OSSL_PARAM {
        key: ptr::null(),
        data_type: 0,
        data: ptr::null_mut(),
        data_size: 0,
        return_size: 0,
    }
}

const fn desc(key: &'static [u8], ty: u32, size: usize) -> OSSL_PARAM {
    OSSL_PARAM {
        key: cstr(key),
        data_type: ty,
        data: ptr::null_mut(),
        data_size: size,
        return_size: ffi::OSSL_PARAM_UNMODIFIED,
    }
}

/// The caller's parameter array (possibly NULL), for reading (set_params).
#[derive(Clone, Copy)]
pub struct ParamsIn(*const OSSL_PARAM);

/// The caller's parameter array (possibly NULL), for answering (get_params).
#[derive(Clone, Copy)]
pub struct ParamsOut(*mut OSSL_PARAM);

/// Whether the C string `k` is exactly `want` (a key constant, normally with its NUL as
/// bindgen emits core_names.h; without it works too). Most keys differ from `k` in their
/// first byte, which is all this then reads.
///
/// # Safety
/// `k` is a valid NUL-terminated C string.
#[inline]
unsafe fn key_is(k: *const c_char, want: &[u8]) -> bool {
    let k = k.cast::<u8>();
    for (i, &w) in want.iter().enumerate() {
        // SAFETY: every earlier byte of `k` matched a non-NUL byte of `want` (a NUL match
        // returns), so `k[i]` is at most `k`'s NUL.
        if unsafe { *k.add(i) } != w {
            return false;
        }
        if w == 0 {
            return true;
        }
    }
    // `want` has no NUL: `k` must end here.
    // SAFETY: as above, `k[want.len()]` is at most `k`'s NUL.
    unsafe { *k.add(want.len()) == 0 }
}

/// For each of `keys`, the first entry of `arr` with that key (NULL if none; `None` if
/// the array has none of the keys at all), in one
/// pass over the array: what `OSSL_PARAM_locate` per key finds, without a libcrypto call
/// and a strcmp per entry, and without scanning the array once per key. OpenSSL asks for
/// and sets context parameters several times per message (every init, the IV length
/// ctrl), so this is on the per-message path. `keys` must be distinct.
///
/// # Safety
/// `arr` is NULL or a valid array terminated by an entry with a NULL key.
#[inline]
unsafe fn find_all<const N: usize>(
    arr: *const OSSL_PARAM,
    keys: &[&'static [u8]; N],
) -> Option<[*const OSSL_PARAM; N]> {
    if arr.is_null() {
        return None;
    }
    let mut found = [ptr::null(); N];
    let mut any = false;
    let mut p = arr;
    loop {
        // SAFETY: `p` is within the terminated array (the loop stops at the terminator).
        let k = unsafe { (*p).key };
        if k.is_null() {
            return any.then_some(found);
        }
        for (slot, want) in found.iter_mut().zip(keys) {
            // SAFETY: keys of a valid array are NUL-terminated C strings.
            if slot.is_null() && unsafe { key_is(k, want) } {
                *slot = p;
                any = true;
                break;
            }
        }
        // SAFETY: not the terminator yet, so the next entry exists.
        p = unsafe { p.add(1) };
    }
}

/// One entry of a caller's array to read (set_params), or none: what
/// [`ParamsIn::get`] and [`ParamsIn::lookup`] return.
#[derive(Clone, Copy)]
pub struct In {
    p: *const OSSL_PARAM,
    key: &'static [u8],
}

/// One entry of a caller's array to answer (get_params), or none: what
/// [`ParamsOut::get`] and [`ParamsOut::lookup`] return.
#[derive(Clone, Copy)]
pub struct Out {
    p: *mut OSSL_PARAM,
    key: &'static [u8],
}

impl ParamsIn {
    /// # Safety
    /// `p` is NULL or a valid `OSSL_PARAM` array terminated by an entry with a NULL key,
    /// valid for the duration of the call that received it.
    pub unsafe fn new(p: *const OSSL_PARAM) -> Self {
        ParamsIn(p)
    }

    /// The caller's array as received (to hand on to the software implementation).
    pub fn raw(self) -> *const OSSL_PARAM {
        self.0
    }

    /// The entry for `key` (possibly absent).
    pub fn get(self, key: &'static [u8]) -> In {
        // SAFETY: `self.0` is NULL or a valid, terminated array (constructor contract).
        let p = unsafe { find_all(self.0, &[key]) }.map_or(ptr::null(), |f| f[0]);
        In { p, key }
    }

    /// The entries for each of `keys` (distinct), found in one pass over the array;
    /// `None` if the array has none of them (nothing to do).
    #[inline]
    pub fn lookup<const N: usize>(self, keys: &[&'static [u8]; N]) -> Option<[In; N]> {
        // SAFETY: `self.0` is NULL or a valid, terminated array (constructor contract).
        let found = unsafe { find_all(self.0, keys) }?;
        Some(std::array::from_fn(|i| In {
            p: found[i],
            key: keys[i],
        }))
    }

    /// Whether the array has an entry for `key`.
    pub fn has(self, key: &'static [u8]) -> bool {
        self.get(key).present()
    }

    /// A `size_t` (any integer type OpenSSL can convert).
    pub fn size(self, key: &'static [u8]) -> PResult<Option<usize>> {
        self.get(key).size()
    }

    /// An `unsigned int`.
    pub fn uint(self, key: &'static [u8]) -> PResult<Option<u32>> {
        self.get(key).uint()
    }

    /// An `int`.
    pub fn int(self, key: &'static [u8]) -> PResult<Option<i32>> {
        self.get(key).int()
    }

    /// An octet string, borrowed from the caller for the duration of the call.
    pub fn octets<'a>(self, key: &'static [u8]) -> PResult<Option<&'a [u8]>> {
        self.get(key).octets()
    }

    /// The raw `data_size` of an octet-string entry (for the "-1 means whole IV" case).
    pub fn octets_raw(self, key: &'static [u8]) -> Option<(*const u8, usize)> {
        self.get(key).octets_raw()
    }

    /// A UTF-8 string (string or pointer type).
    pub fn utf8(self, key: &'static [u8]) -> PResult<Option<String>> {
        self.get(key).utf8()
    }
}

impl In {
    /// Whether the caller passed this entry.
    #[inline]
    pub fn present(self) -> bool {
        !self.p.is_null()
    }

    /// A scalar through one of OpenSSL's typed getters, which convert between
    /// integer types and fail when the value does not fit.
    #[inline]
    fn scalar<T: Default>(
        self,
        get: unsafe extern "C" fn(*const OSSL_PARAM, *mut T) -> c_int,
    ) -> PResult<Option<T>> {
        if self.p.is_null() {
            return Ok(None);
        }
        let mut v = T::default();
        // SAFETY: `p` points into the caller's valid array; `v` is a valid out pointer
        // of the type `get` writes.
        if unsafe { get(self.p, &mut v) } == 1 {
            Ok(Some(v))
        } else {
            Err(crate::prov_err!(InvalidParam, "{}", key_name(self.key)))
        }
    }

    /// A `size_t` (any integer type OpenSSL can convert).
    #[inline]
    pub fn size(self) -> PResult<Option<usize>> {
        self.scalar(ffi::OSSL_PARAM_get_size_t)
    }

    /// An `unsigned int`.
    #[inline]
    pub fn uint(self) -> PResult<Option<u32>> {
        self.scalar(ffi::OSSL_PARAM_get_uint)
    }

    /// An `int`.
    #[inline]
    pub fn int(self) -> PResult<Option<i32>> {
        self.scalar(ffi::OSSL_PARAM_get_int)
    }

    /// An octet string, borrowed from the caller for the duration of the call.
    #[inline]
    pub fn octets<'a>(self) -> PResult<Option<&'a [u8]>> {
        if self.p.is_null() {
            return Ok(None);
        }
        // SAFETY: `p` is a valid entry of the caller's array.
        let p = unsafe { &*self.p };
        if p.data_type != ffi::OSSL_PARAM_OCTET_STRING {
            crate::bail!(
                InvalidParam,
                "{} is not an octet string",
                key_name(self.key)
            );
        }
        if p.data.is_null() || p.data_size == 0 {
            return Ok(Some(&[]));
        }
        // SAFETY: an octet-string entry's `data` points at `data_size` readable bytes that
        // stay valid while the caller's set_params call runs.
        Ok(Some(unsafe {
            std::slice::from_raw_parts(p.data as *const u8, p.data_size)
        }))
    }

    /// The raw `data_size` of an octet-string entry (for the "-1 means whole IV" case).
    #[inline]
    pub fn octets_raw(self) -> Option<(*const u8, usize)> {
        if self.p.is_null() {
            return None;
        }
        // SAFETY: `p` is a valid entry of the caller's array.
        let p = unsafe { &*self.p };
        Some((p.data as *const u8, p.data_size))
    }

    /// A UTF-8 string (string or pointer type).
    pub fn utf8(self) -> PResult<Option<String>> {
        if self.p.is_null() {
            return Ok(None);
        }
        let mut s: *const c_char = ptr::null();
        // SAFETY: `p` is a valid entry; `s` receives a pointer into the caller's data.
        let ok = unsafe { ffi::OSSL_PARAM_get_utf8_string_ptr(self.p, &mut s) } == 1
            // SAFETY: as above, for the pointer type.
            || unsafe { ffi::OSSL_PARAM_get_utf8_ptr(self.p, &mut s) } == 1;
        if !ok || s.is_null() {
            crate::bail!(InvalidParam, "{} is not a UTF-8 string", key_name(self.key));
        }
        // SAFETY: OpenSSL UTF-8 parameters are NUL-terminated.
        let c = unsafe { std::ffi::CStr::from_ptr(s) };
        Ok(Some(c.to_string_lossy().into_owned()))
    }
}

impl ParamsOut {
    /// # Safety
    /// `p` is NULL or a valid, writable `OSSL_PARAM` array terminated by a NULL key.
    pub unsafe fn new(p: *mut OSSL_PARAM) -> Self {
        ParamsOut(p)
    }

    /// The caller's array as received (to hand on to the software implementation).
    pub fn raw(self) -> *mut OSSL_PARAM {
        self.0
    }

    /// The entry for `key` (possibly absent).
    pub fn get(self, key: &'static [u8]) -> Out {
        // SAFETY: NULL or a valid terminated array (constructor contract).
        let p = unsafe { find_all(self.0, &[key]) }.map_or(ptr::null(), |f| f[0]);
        Out {
            p: p.cast_mut(),
            key,
        }
    }

    /// The entries for each of `keys` (distinct), found in one pass over the array;
    /// `None` if the caller asked for none of them (nothing to answer).
    #[inline]
    pub fn lookup<const N: usize>(self, keys: &[&'static [u8]; N]) -> Option<[Out; N]> {
        // SAFETY: NULL or a valid terminated array (constructor contract).
        let found = unsafe { find_all(self.0, keys) }?;
        Some(std::array::from_fn(|i| Out {
            p: found[i].cast_mut(),
            key: keys[i],
        }))
    }

    /// Whether the caller asked for `key`.
    pub fn wants(self, key: &'static [u8]) -> bool {
        self.get(key).present()
    }

    /// Answers `key` with a `size_t` if asked.
    pub fn size(self, key: &'static [u8], v: usize) -> PResult<()> {
        self.get(key).size(v)
    }

    /// Answers `key` with an `unsigned int` if asked.
    pub fn uint(self, key: &'static [u8], v: u32) -> PResult<()> {
        self.get(key).uint(v)
    }

    /// Answers `key` with an `int` if asked.
    pub fn int(self, key: &'static [u8], v: i32) -> PResult<()> {
        self.get(key).int(v)
    }

    /// Answers `key` with an octet string if asked (fails if the caller's buffer is short).
    pub fn octets(self, key: &'static [u8], v: &[u8]) -> PResult<()> {
        self.get(key).octets(v)
    }

    /// Answers an octet-string `key` by letting `fill` write into the caller's own buffer
    /// (its full capacity); `fill` returns how many bytes it wrote.
    pub fn octets_with(
        self,
        key: &'static [u8],
        fill: impl FnOnce(&mut [u8]) -> PResult<usize>,
    ) -> PResult<()> {
        self.get(key).octets_with(fill)
    }

    /// Answers `key` with a UTF-8 string (copied) if asked.
    pub fn utf8(self, key: &'static [u8], v: &str) -> PResult<()> {
        self.get(key).utf8(v)
    }

    /// Answers `key` with a pointer to a static UTF-8 string if asked.
    pub fn utf8_static(self, key: &'static [u8], v: &'static [u8]) -> PResult<()> {
        self.get(key).utf8_static(v)
    }
}

impl Out {
    /// Whether the caller asked for this entry.
    #[inline]
    pub fn present(self) -> bool {
        !self.p.is_null()
    }

    /// Answers the entry with `set` (one of OpenSSL's `OSSL_PARAM_set_*`
    /// calls on the entry) if the caller asked for it.
    #[inline]
    fn answer(self, set: impl FnOnce(*mut ffi::OSSL_PARAM) -> c_int) -> PResult<()> {
        if self.p.is_null() || set(self.p) == 1 {
            return Ok(());
        }
        Err(crate::prov_err!(
            InvalidParam,
            "cannot return {}",
            key_name(self.key)
        ))
    }

    /// Answers with a `size_t` if asked.
    #[inline]
    pub fn size(self, v: usize) -> PResult<()> {
        // SAFETY: `p` is a valid writable entry of the caller's array.
        self.answer(|p| unsafe { ffi::OSSL_PARAM_set_size_t(p, v) })
    }

    /// Answers with an `unsigned int` if asked.
    #[inline]
    pub fn uint(self, v: u32) -> PResult<()> {
        // SAFETY: as in `size`.
        self.answer(|p| unsafe { ffi::OSSL_PARAM_set_uint(p, v) })
    }

    /// Answers with an `int` if asked.
    #[inline]
    pub fn int(self, v: i32) -> PResult<()> {
        // SAFETY: as in `size`.
        self.answer(|p| unsafe { ffi::OSSL_PARAM_set_int(p, v) })
    }

    /// Answers with an octet string if asked (fails if the caller's buffer is short).
    #[inline]
    pub fn octets(self, v: &[u8]) -> PResult<()> {
        // SAFETY: as in `size`; `v` is readable for `v.len()` bytes.
        self.answer(|p| unsafe {
            ffi::OSSL_PARAM_set_octet_string(p, v.as_ptr().cast::<c_void>(), v.len())
        })
    }

    /// Answers an octet-string entry, if asked, by `fill` on the caller's entry once it
    /// is known to be an octet string with a buffer; `fill` returns how many bytes it
    /// wrote, which becomes the entry's `return_size`.
    #[inline]
    fn octet_entry(self, fill: impl FnOnce(&mut ffi::OSSL_PARAM) -> PResult<usize>) -> PResult<()> {
        if self.p.is_null() {
            return Ok(());
        }
        // SAFETY: `p` is a valid writable entry of the caller's array.
        let p = unsafe { &mut *self.p };
        if p.data_type != ffi::OSSL_PARAM_OCTET_STRING || p.data.is_null() {
            crate::bail!(
                InvalidParam,
                "{} needs an octet-string buffer",
                key_name(self.key)
            );
        }
        let n = fill(p)?;
        p.return_size = n;
        Ok(())
    }

    /// Answers an octet-string entry by letting `fill` write into the caller's own buffer
    /// (its full capacity); `fill` returns how many bytes it wrote.
    #[inline]
    pub fn octets_with(self, fill: impl FnOnce(&mut [u8]) -> PResult<usize>) -> PResult<()> {
        self.octet_entry(|p| {
            // SAFETY: an octet-string entry's `data` is writable for `data_size` bytes
            // during the get_params call, and nothing else aliases it while `fill` runs.
            let buf = unsafe { std::slice::from_raw_parts_mut(p.data as *mut u8, p.data_size) };
            fill(buf)
        })
    }

    /// Answers an octet-string entry through its raw buffer and declared size, for the
    /// one parameter whose contract lets a size of 0 stand for "the whole value"
    /// (`tlsivgen`: EVP_CTRL_GCM_IV_GEN with 0 passes a buffer of the IV's length with
    /// size 0, and the default provider writes the whole IV). `fill` gets a non-NULL
    /// pointer and the declared size and returns how many bytes it wrote.
    pub fn octets_raw_with(
        self,
        fill: impl FnOnce(*mut u8, usize) -> PResult<usize>,
    ) -> PResult<()> {
        self.octet_entry(|p| fill(p.data as *mut u8, p.data_size))
    }

    /// Answers with a UTF-8 string (copied) if asked.
    pub fn utf8(self, v: &str) -> PResult<()> {
        self.answer(|p| {
            let c = std::ffi::CString::new(v.replace('\0', "")).unwrap_or_default();
            // SAFETY: valid writable entry; `c` is NUL-terminated and outlives the call.
            unsafe { ffi::OSSL_PARAM_set_utf8_string(p, c.as_ptr()) }
        })
    }

    /// Answers with a pointer to a static UTF-8 string if asked.
    pub fn utf8_static(self, v: &'static [u8]) -> PResult<()> {
        // SAFETY: valid writable entry; `v` is a NUL-terminated static.
        self.answer(|p| unsafe { ffi::OSSL_PARAM_set_utf8_ptr(p, cstr(v)) })
    }
}

/// The printable name of a core_names.h key.
pub fn key_name(key: &'static [u8]) -> &'static str {
    std::str::from_utf8(key.strip_suffix(b"\0").unwrap_or(key)).unwrap_or("?")
}
