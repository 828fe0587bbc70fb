//! The one-shot and utility calls: compress, uncompress, the bounds, the
//! version and flags, crc32 and adler32 and their combines, zError.

use super::*;

/// The zlib-format bytes the core compresses `src` into, if it serves
/// `level`; else why it does not (zlib-rs then runs the call).
fn core_compress(dest: &mut [u8], src: &[u8], level: c_int) -> Result<usize, (Why, c_int)> {
    let cfg = crate::config::get();
    let level = if level == -1 { 6 } else { level };
    if !(cfg.enabled && cfg.deflate) {
        return Err((Why::Off, Z_MEM_ERROR));
    }
    if !(level >= 1 && cfg.level_ok(level)) {
        return Err((Why::Params, Z_MEM_ERROR));
    }
    if src.len() < cfg.min {
        return Err((Why::Small, Z_MEM_ERROR));
    }
    match warpdrive::compress(Format::Zlib, level as u32, src, dest) {
        Ok(n) => {
            stats::bump(&COUNTERS.compress_offloaded);
            stats::add_bytes(src.len(), n);
            stats::report();
            Ok(n)
        }
        // compress2's codes: too little room is Z_BUF_ERROR, anything else
        // (the device) Z_MEM_ERROR, its code for "could not get resources".
        Err(warpdrive::Error::OutputTooSmall { .. }) => Err((Why::Fallback, Z_BUF_ERROR)),
        Err(_) => Err((Why::Fallback, Z_MEM_ERROR)),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn compress2(
    dest: *mut u8,
    destLen: *mut c_ulong,
    source: *const u8,
    sourceLen: c_ulong,
    level: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        if !dest.is_null()
            && !destLen.is_null()
            && (!source.is_null() || sourceLen == 0)
            && (-1..=9).contains(&level)
        {
            // SAFETY: zlib's contract: *destLen writable bytes at dest, sourceLen at source.
            let (d, src) = unsafe {
                (
                    std::slice::from_raw_parts_mut(dest, *destLen as usize),
                    if sourceLen == 0 {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(source, sourceLen as usize)
                    },
                )
            };
            match core_compress(d, src, level) {
                Ok(n) => {
                    // SAFETY: destLen checked non-NULL above.
                    unsafe { *destLen = n as c_ulong };
                    return Z_OK;
                }
                Err((why, code)) => {
                    if !stats::software(why) {
                        return code;
                    }
                }
            }
        } else if !stats::software(Why::Params) {
            // Arguments zlib refuses: its own answer, nothing computed.
            return Z_STREAM_ERROR;
        }
        // SAFETY: forwarded contract.
        unsafe { zrs::compress2(dest, destLen, source, sourceLen, sw_level(level)) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn compress(
    dest: *mut u8,
    destLen: *mut c_ulong,
    source: *const u8,
    sourceLen: c_ulong,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // SAFETY: same contract as compress2.
        unsafe { compress2(dest, destLen, source, sourceLen, -1) }
    })
}

pub unsafe extern "C" fn uncompress2(
    dest: *mut u8,
    destLen: *mut c_ulong,
    source: *const u8,
    sourceLen: *mut c_ulong,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        let cfg = crate::config::get();
        if cfg.enabled
            && cfg.inflate
            && !dest.is_null()
            && !destLen.is_null()
            && !source.is_null()
            && !sourceLen.is_null()
        {
            // SAFETY: zlib's contract: *destLen writable bytes at dest, *sourceLen at source.
            let (d, src) = unsafe {
                (
                    std::slice::from_raw_parts_mut(dest, *destLen as usize),
                    std::slice::from_raw_parts(source, *sourceLen as usize),
                )
            };
            // Strict mode answers with the code zlib gives for the same case.
            let (why, code) = if d.is_empty() {
                (Why::Params, Z_BUF_ERROR)
            } else if src.len() < cfg.min {
                (Why::Small, Z_MEM_ERROR)
            } else if !matches!(header_ok(Some(Format::Zlib), src), Some((true, _))) {
                (Why::Params, Z_DATA_ERROR)
            } else {
                // Any error re-runs in software, which gives zlib's exact codes
                // and partial output.
                match warpdrive::decompress(Format::Zlib, src, d) {
                    Ok(p) if p.done => {
                        stats::bump(&COUNTERS.uncompress_offloaded);
                        stats::add_bytes(p.consumed, p.produced);
                        stats::report();
                        // SAFETY: both pointers checked non-NULL above.
                        unsafe {
                            *destLen = p.produced as c_ulong;
                            *sourceLen = p.consumed as c_ulong;
                        }
                        return Z_OK;
                    }
                    Ok(_) | Err(warpdrive::Error::OutputTooSmall { .. }) => {
                        (Why::Fallback, Z_BUF_ERROR)
                    }
                    Err(warpdrive::Error::DataError(_) | warpdrive::Error::ChecksumMismatch) => {
                        (Why::Fallback, Z_DATA_ERROR)
                    }
                    Err(_) => (Why::Fallback, Z_MEM_ERROR),
                }
            };
            if !stats::software(why) {
                return code;
            }
        } else if !stats::software(if cfg.enabled && cfg.inflate {
            Why::Params
        } else {
            Why::Off
        }) {
            return Z_MEM_ERROR;
        }
        // SAFETY: forwarded contract.
        unsafe { zrs::uncompress2(dest, destLen, source, sourceLen) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn uncompress(
    dest: *mut u8,
    destLen: *mut c_ulong,
    source: *const u8,
    sourceLen: c_ulong,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        let mut len = sourceLen;
        // SAFETY: same contract as uncompress2.
        unsafe { uncompress2(dest, destLen, source, &mut len) }
    })
}

// ---------------------------------------------------------------------------
// version and flags: those of the zlib this library stands in for.

#[unsafe(no_mangle)]
pub extern "C" fn zlibVersion() -> *const c_char {
    c"1.2.13".as_ptr()
}

pub extern "C" fn zlibCompileFlags() -> c_ulong {
    // SAFETY: zlib-rs reports the same type sizes as zlib on this target.
    boundary!(0, { zrs::zlibCompileFlags() })
}

// ---------------------------------------------------------------------------
// forwarded unchanged

forward!(#[unsafe(no_mangle)] fn crc32(crc: c_ulong, buf: *const u8, len: c_uint) -> c_ulong = 0);
forward!(fn crc32_z(crc: c_ulong, buf: *const u8, len: usize) -> c_ulong = 0);
forward!(#[unsafe(no_mangle)] fn adler32(adler: c_ulong, buf: *const u8, len: c_uint) -> c_ulong = 0);
forward!(fn adler32_z(adler: c_ulong, buf: *const u8, len: usize) -> c_ulong = 0);

pub extern "C" fn crc32_combine(crc1: c_ulong, crc2: c_ulong, len2: z_off_t) -> c_ulong {
    boundary!(0, { zrs::crc32_combine(crc1, crc2, len2) })
}
pub extern "C" fn crc32_combine64(crc1: c_ulong, crc2: c_ulong, len2: z_off64_t) -> c_ulong {
    boundary!(0, { zrs::crc32_combine64(crc1, crc2, len2) })
}
pub extern "C" fn crc32_combine_gen(len2: z_off_t) -> c_ulong {
    boundary!(0, { zrs::crc32_combine_gen(len2) })
}
pub extern "C" fn crc32_combine_gen64(len2: z_off64_t) -> c_ulong {
    boundary!(0, { zrs::crc32_combine_gen64(len2) })
}
pub extern "C" fn crc32_combine_op(crc1: c_ulong, crc2: c_ulong, op: c_ulong) -> c_ulong {
    boundary!(0, { zrs::crc32_combine_op(crc1, crc2, op) })
}
pub extern "C" fn adler32_combine(a1: c_ulong, a2: c_ulong, len2: z_off_t) -> c_ulong {
    boundary!(0, { zrs::adler32_combine(a1, a2, len2) })
}
pub extern "C" fn adler32_combine64(a1: c_ulong, a2: c_ulong, len2: z_off64_t) -> c_ulong {
    boundary!(0, { zrs::adler32_combine64(a1, a2, len2) })
}
#[unsafe(no_mangle)]
pub extern "C" fn get_crc_table() -> *const [u32; 256] {
    boundary!(std::ptr::null(), { zrs::get_crc_table() })
}
pub extern "C" fn compressBound(sourceLen: c_ulong) -> c_ulong {
    boundary!(0, { bound::compress_bound(sourceLen) })
}
#[unsafe(no_mangle)]
pub extern "C" fn zError(err: c_int) -> *const c_char {
    boundary!(std::ptr::null(), { zrs::zError(err) })
}
