//! The system's zlib (libz.so.1 through libz-sys): the baseline for `warpdrive
//! bench` and a second opinion for `warpdrive selftest`.

use libz_sys as z;

/// zlib-format compression with the system zlib.
pub fn compress(level: i32, src: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: compressBound is a pure function of its argument.
    let bound = unsafe { z::compressBound(src.len() as z::uLong) } as usize;
    let mut out = vec![0u8; bound];
    let mut out_len = bound as z::uLongf;
    // SAFETY: `out` is writable for `out_len` bytes and `src` readable for
    // `src.len()`; zlib writes at most `out_len` bytes and stores the size.
    let rc = unsafe {
        z::compress2(
            out.as_mut_ptr(),
            &mut out_len,
            src.as_ptr(),
            src.len() as z::uLong,
            level,
        )
    };
    if rc != z::Z_OK {
        return Err(format!("system zlib compress2 failed ({rc})"));
    }
    out.truncate(out_len as usize);
    Ok(out)
}

/// zlib-format decompression into a buffer of `expect` bytes.
pub fn uncompress(src: &[u8], expect: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; expect.max(1)];
    let mut out_len = out.len() as z::uLongf;
    // SAFETY: as in compress: both buffers are valid for the lengths given.
    let rc = unsafe {
        z::uncompress(
            out.as_mut_ptr(),
            &mut out_len,
            src.as_ptr(),
            src.len() as z::uLong,
        )
    };
    if rc != z::Z_OK {
        return Err(format!("system zlib uncompress failed ({rc})"));
    }
    out.truncate(out_len as usize);
    Ok(out)
}

/// The system zlib's version string.
pub fn version() -> String {
    // SAFETY: zlibVersion returns a pointer to a static NUL-terminated string.
    let p = unsafe { z::zlibVersion() };
    if p.is_null() {
        return "?".into();
    }
    // SAFETY: non-null, static, NUL-terminated (see above).
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}
