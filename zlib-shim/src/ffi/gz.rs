//! The gz* file functions: forwarded to zlib-rs, with the level of a write
//! mode mapped (gzopen, gzopen64, gzdopen, gzsetparams); gzprintf and
//! gzvprintf jump to their C definitions (src/gzprintf.c).

use super::*;

/// A gz mode string with the level mapped for zlib-rs (`sw_level`): the
/// digit replaced, or the default level written out for a write mode.
///
/// # Safety
/// `mode` is NULL or a NUL-terminated string (gzopen's contract).
unsafe fn gz_mode(mode: *const c_char) -> Option<std::ffi::CString> {
    if mode.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    if !m.iter().any(|&c| c == b'w' || c == b'a') {
        return None;
    }
    let mut out: Vec<u8> = m
        .iter()
        .map(|&c| match c {
            b'0'..=b'9' => b'0' + sw_level(i32::from(c - b'0')) as u8,
            c => c,
        })
        .collect();
    if !m.iter().any(u8::is_ascii_digit) {
        out.push(b'0' + sw_level(-1) as u8);
    }
    std::ffi::CString::new(out).ok()
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gzopen(path: *const c_char, mode: *const c_char) -> gzFile {
    boundary!(std::ptr::null_mut(), {
        if !stats::software(Why::GzFile) {
            // gz files run in zlib-rs's own gz layer, never on the device.
            return std::ptr::null_mut();
        }
        // SAFETY: gzopen's contract.
        let m = unsafe { gz_mode(mode) };
        // SAFETY: forwarded contract, with the mapped mode.
        unsafe { zrs::gzopen(path, m.as_ref().map_or(mode, |m| m.as_ptr())) }
    })
}

pub unsafe extern "C" fn gzopen64(path: *const c_char, mode: *const c_char) -> gzFile {
    boundary!(std::ptr::null_mut(), {
        if !stats::software(Why::GzFile) {
            // gz files run in zlib-rs's own gz layer, never on the device.
            return std::ptr::null_mut();
        }
        // SAFETY: gzopen's contract.
        let m = unsafe { gz_mode(mode) };
        // SAFETY: forwarded contract, with the mapped mode.
        unsafe { zrs::gzopen64(path, m.as_ref().map_or(mode, |m| m.as_ptr())) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gzdopen(fd: c_int, mode: *const c_char) -> gzFile {
    boundary!(std::ptr::null_mut(), {
        if !stats::software(Why::GzFile) {
            // gz files run in zlib-rs's own gz layer, never on the device.
            return std::ptr::null_mut();
        }
        // SAFETY: gzopen's contract.
        let m = unsafe { gz_mode(mode) };
        // SAFETY: forwarded contract, with the mapped mode.
        unsafe { zrs::gzdopen(fd, m.as_ref().map_or(mode, |m| m.as_ptr())) }
    })
}
forward!(fn gzbuffer(file: gzFile, size: c_uint) -> c_int = -1);
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gzsetparams(file: gzFile, level: c_int, strategy: c_int) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract, with the level mapped as at gzopen.
        unsafe { zrs::gzsetparams(file, sw_level(level), strategy) }
    })
}
forward!(#[unsafe(no_mangle)] fn gzread(file: gzFile, buf: *mut c_void, len: c_uint) -> c_int = -1);
forward!(fn gzfread(buf: *mut c_void, size: usize, nitems: usize, file: gzFile) -> usize = 0);
forward!(#[unsafe(no_mangle)] fn gzwrite(file: gzFile, buf: *const c_void, len: c_uint) -> c_int = 0);
forward!(fn gzfwrite(buf: *const c_void, size: usize, nitems: usize, file: gzFile) -> usize = 0);
forward!(#[unsafe(no_mangle)] fn gzputs(file: gzFile, s: *const c_char) -> c_int = -1);
forward!(#[unsafe(no_mangle)] fn gzgets(file: gzFile, buf: *mut c_char, len: c_int) -> *mut c_char = std::ptr::null_mut());
forward!(#[unsafe(no_mangle)] fn gzputc(file: gzFile, c: c_int) -> c_int = -1);
forward!(#[unsafe(no_mangle)] fn gzgetc(file: gzFile) -> c_int = -1);
forward!(fn gzgetc_(file: gzFile) -> c_int = -1);
forward!(fn gzungetc(c: c_int, file: gzFile) -> c_int = -1);
forward!(#[unsafe(no_mangle)] fn gzflush(file: gzFile, flush: c_int) -> c_int = Z_STREAM_ERROR);
forward!(#[unsafe(no_mangle)] fn gzseek(file: gzFile, offset: z_off_t, whence: c_int) -> z_off_t = -1);
forward!(fn gzseek64(file: gzFile, offset: z_off64_t, whence: c_int) -> z_off64_t = -1);
forward!(#[unsafe(no_mangle)] fn gzrewind(file: gzFile) -> c_int = -1);
forward!(#[unsafe(no_mangle)] fn gztell(file: gzFile) -> z_off_t = -1);
forward!(fn gztell64(file: gzFile) -> z_off64_t = -1);
forward!(fn gzoffset(file: gzFile) -> z_off_t = -1);
forward!(fn gzoffset64(file: gzFile) -> z_off64_t = -1);
forward!(#[unsafe(no_mangle)] fn gzeof(file: gzFile) -> c_int = 0);
forward!(fn gzdirect(file: gzFile) -> c_int = 0);
forward!(#[unsafe(no_mangle)] fn gzclose(file: gzFile) -> c_int = Z_STREAM_ERROR);
forward!(fn gzclose_r(file: gzFile) -> c_int = Z_STREAM_ERROR);
forward!(fn gzclose_w(file: gzFile) -> c_int = Z_STREAM_ERROR);
forward!(#[unsafe(no_mangle)] fn gzerror(file: gzFile, errnum: *mut c_int) -> *const c_char = std::ptr::null());

pub extern "C" fn gzclearerr(file: gzFile) {
    boundary!((), {
        // SAFETY: forwarded contract.
        unsafe { zrs::gzclearerr(file) }
    })
}

unsafe extern "C" {
    fn wdz_gzprintf();
    fn wdz_gzvprintf();
}

/// gzprintf: variadic, so it jumps to the C definition (src/gzprintf.c) with
/// the caller's registers and stack untouched.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn gzprintf() {
    std::arch::naked_asm!("jmp {0}", sym wdz_gzprintf)
}

#[unsafe(naked)]
pub unsafe extern "C" fn gzvprintf() {
    std::arch::naked_asm!("jmp {0}", sym wdz_gzvprintf)
}
