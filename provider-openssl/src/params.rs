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

/// The entry of a terminated `OSSL_PARAM` array whose key is `key` (a
/// NUL-terminated constant), or NULL. Does what `OSSL_PARAM_locate` does
/// without a libcrypto call and a strcmp per entry: OpenSSL asks for the
/// context's parameters on every init, so this is on the per-message path.
///
/// # Safety
/// `arr` is a valid array terminated by an entry with a NULL key.
unsafe fn find(arr: *const OSSL_PARAM, key: &'static [u8]) -> *const OSSL_PARAM {
    let want = key.strip_suffix(&[0]).unwrap_or(key);
    let mut p = arr;
    loop {
        // SAFETY: `p` is within the terminated array (the loop stops at the
        // terminator).
        let k = unsafe { (*p).key };
        if k.is_null() {
            return std::ptr::null();
        }
        // SAFETY: keys are NUL-terminated C strings; comparing stops at the
        // first difference or at the NUL.
        let same = unsafe {
            let k = k.cast::<u8>();
            let mut i = 0;
            loop {
                let c = *k.add(i);
                match want.get(i) {
                    Some(&w) if w == c => i += 1,
                    None => break c == 0,
                    Some(_) => break false,
                }
            }
        };
        if same {
            return p;
        }
        // SAFETY: not the terminator yet, so the next entry exists.
        p = unsafe { p.add(1) };
    }
}

impl ParamsIn {
    /// # Safety
    /// `p` is NULL or a valid `OSSL_PARAM` array terminated by an entry with a NULL key,
    /// valid for the duration of the call that received it.
    pub unsafe fn new(p: *const OSSL_PARAM) -> Self {
        ParamsIn(p)
    }

    fn locate(self, key: &'static [u8]) -> Option<*const OSSL_PARAM> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: `self.0` is a valid, terminated array (constructor contract).
        let p = unsafe { find(self.0, key) };
        (!p.is_null()).then_some(p)
    }

    /// Whether the array has an entry for `key`.
    pub fn has(self, key: &'static [u8]) -> bool {
        self.locate(key).is_some()
    }

    /// A `size_t` (any integer type OpenSSL can convert).
    pub fn size(self, key: &'static [u8]) -> PResult<Option<usize>> {
        let Some(p) = self.locate(key) else {
            return Ok(None);
        };
        let mut v: usize = 0;
        // SAFETY: `p` points into the caller's valid array; `v` is a valid out pointer.
        if unsafe { ffi::OSSL_PARAM_get_size_t(p, &mut v) } == 1 {
            Ok(Some(v))
        } else {
            Err(crate::prov_err!(InvalidParam, "{}", key_name(key)))
        }
    }

    /// An `unsigned int`.
    pub fn uint(self, key: &'static [u8]) -> PResult<Option<u32>> {
        let Some(p) = self.locate(key) else {
            return Ok(None);
        };
        let mut v: c_uint = 0;
        // SAFETY: as in `size`.
        if unsafe { ffi::OSSL_PARAM_get_uint(p, &mut v) } == 1 {
            Ok(Some(v))
        } else {
            Err(crate::prov_err!(InvalidParam, "{}", key_name(key)))
        }
    }

    /// An `int`.
    pub fn int(self, key: &'static [u8]) -> PResult<Option<i32>> {
        let Some(p) = self.locate(key) else {
            return Ok(None);
        };
        let mut v: c_int = 0;
        // SAFETY: as in `size`.
        if unsafe { ffi::OSSL_PARAM_get_int(p, &mut v) } == 1 {
            Ok(Some(v))
        } else {
            Err(crate::prov_err!(InvalidParam, "{}", key_name(key)))
        }
    }

    /// An octet string, borrowed from the caller for the duration of the call.
    pub fn octets<'a>(self, key: &'static [u8]) -> PResult<Option<&'a [u8]>> {
        let Some(p) = self.locate(key) else {
            return Ok(None);
        };
        // SAFETY: `p` is a valid entry of the caller's array.
        let p = unsafe { &*p };
        if p.data_type != ffi::OSSL_PARAM_OCTET_STRING {
            crate::bail!(InvalidParam, "{} is not an octet string", key_name(key));
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
    pub fn octets_raw(self, key: &'static [u8]) -> Option<(*const u8, usize)> {
        let p = self.locate(key)?;
        // SAFETY: `p` is a valid entry of the caller's array.
        let p = unsafe { &*p };
        Some((p.data as *const u8, p.data_size))
    }

    /// A UTF-8 string (string or pointer type).
    pub fn utf8(self, key: &'static [u8]) -> PResult<Option<String>> {
        let Some(p) = self.locate(key) else {
            return Ok(None);
        };
        let mut s: *const c_char = ptr::null();
        // SAFETY: `p` is a valid entry; `s` receives a pointer into the caller's data.
        let ok = unsafe { ffi::OSSL_PARAM_get_utf8_string_ptr(p, &mut s) } == 1
            // SAFETY: as above, for the pointer type.
            || unsafe { ffi::OSSL_PARAM_get_utf8_ptr(p, &mut s) } == 1;
        if !ok || s.is_null() {
            crate::bail!(InvalidParam, "{} is not a UTF-8 string", key_name(key));
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

    fn locate(self, key: &'static [u8]) -> Option<*mut OSSL_PARAM> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: valid terminated array (constructor contract).
        let p = unsafe { find(self.0, key) }.cast_mut();
        (!p.is_null()).then_some(p)
    }

    /// Whether the caller asked for `key`.
    pub fn wants(self, key: &'static [u8]) -> bool {
        self.locate(key).is_some()
    }

    fn check(ok: c_int, key: &'static [u8]) -> PResult<()> {
        if ok == 1 {
            Ok(())
        } else {
            Err(crate::prov_err!(
                InvalidParam,
                "cannot return {}",
                key_name(key)
            ))
        }
    }

    /// Answers `key` with a `size_t` if asked.
    pub fn size(self, key: &'static [u8], v: usize) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            // SAFETY: `p` is a valid writable entry of the caller's array.
            Self::check(unsafe { ffi::OSSL_PARAM_set_size_t(p, v) }, key)?;
        }
        Ok(())
    }

    /// Answers `key` with an `unsigned int` if asked.
    pub fn uint(self, key: &'static [u8], v: u32) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            // SAFETY: as in `size`.
            Self::check(unsafe { ffi::OSSL_PARAM_set_uint(p, v) }, key)?;
        }
        Ok(())
    }

    /// Answers `key` with an `int` if asked.
    pub fn int(self, key: &'static [u8], v: i32) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            // SAFETY: as in `size`.
            Self::check(unsafe { ffi::OSSL_PARAM_set_int(p, v) }, key)?;
        }
        Ok(())
    }

    /// Answers `key` with an octet string if asked (fails if the caller's buffer is short).
    pub fn octets(self, key: &'static [u8], v: &[u8]) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            // SAFETY: as in `size`; `v` is readable for `v.len()` bytes.
            let ok = unsafe {
                ffi::OSSL_PARAM_set_octet_string(p, v.as_ptr().cast::<c_void>(), v.len())
            };
            Self::check(ok, key)?;
        }
        Ok(())
    }

    /// Answers an octet-string `key` by letting `fill` write into the caller's own buffer
    /// (its full capacity); `fill` returns how many bytes it wrote.
    pub fn octets_with(
        self,
        key: &'static [u8],
        fill: impl FnOnce(&mut [u8]) -> PResult<usize>,
    ) -> PResult<()> {
        let Some(p) = self.locate(key) else {
            return Ok(());
        };
        // SAFETY: `p` is a valid writable entry of the caller's array.
        let p = unsafe { &mut *p };
        if p.data_type != ffi::OSSL_PARAM_OCTET_STRING || p.data.is_null() {
            crate::bail!(
                InvalidParam,
                "{} needs an octet-string buffer",
                key_name(key)
            );
        }
        // SAFETY: an octet-string entry's `data` is writable for `data_size` bytes during
        // the get_params call, and nothing else aliases it while `fill` runs.
        let buf = unsafe { std::slice::from_raw_parts_mut(p.data as *mut u8, p.data_size) };
        let n = fill(buf)?;
        p.return_size = n;
        Ok(())
    }

    /// Answers `key` with a UTF-8 string (copied) if asked.
    pub fn utf8(self, key: &'static [u8], v: &str) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            let c = std::ffi::CString::new(v.replace('\0', "")).unwrap_or_default();
            // SAFETY: valid writable entry; `c` is NUL-terminated and outlives the call.
            let ok = unsafe { ffi::OSSL_PARAM_set_utf8_string(p, c.as_ptr()) };
            Self::check(ok, key)?;
        }
        Ok(())
    }

    /// Answers `key` with a pointer to a static UTF-8 string if asked.
    pub fn utf8_static(self, key: &'static [u8], v: &'static [u8]) -> PResult<()> {
        if let Some(p) = self.locate(key) {
            // SAFETY: valid writable entry; `v` is a NUL-terminated static.
            let ok = unsafe { ffi::OSSL_PARAM_set_utf8_ptr(p, cstr(v)) };
            Self::check(ok, key)?;
        }
        Ok(())
    }
}

/// The printable name of a core_names.h key.
pub fn key_name(key: &'static [u8]) -> &'static str {
    std::str::from_utf8(key.strip_suffix(b"\0").unwrap_or(key)).unwrap_or("?")
}
