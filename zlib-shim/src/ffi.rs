//! zlib's C ABI: every exported function, and all raw-pointer handling.
//!
//! This file is the glue the entry points share (the macros below, the
//! stream and slice helpers, the versioned-name list); the entry points
//! live by the object they serve: [`deflate`], [`inflate`] (with
//! inflateBack), [`gz`] (gzFile) and [`utility`] (one-shot calls,
//! checksums, bounds, version).
//!
//! Each function runs behind [`boundary!`] (a panic becomes an error value).
//! Unversioned (Base) names are `#[no_mangle]`; names that zlib.map puts in a
//! version node are ordinary Rust functions given their C name by
//! [`versioned!`] (an assembler alias), so the version script in build.rs is
//! the only place that exports them: rustc's own script would otherwise make
//! them unversioned.
#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use libz_rs_sys as zrs;
use libz_rs_sys::{gzFile, gz_headerp, in_func, out_func, z_off64_t, z_off_t, z_stream, z_streamp};
use warpdrive::{Flush, Format};

use crate::bound::{self, sw_level};
use crate::stats::{self, Why, COUNTERS};
use crate::stream::{self, *};

const Z_OK: c_int = 0;
const Z_STREAM_END: c_int = 1;
const Z_STREAM_ERROR: c_int = -2;
const Z_DATA_ERROR: c_int = -3;
const Z_MEM_ERROR: c_int = -4;
const Z_BUF_ERROR: c_int = -5;
const Z_TREES: c_int = 6;
/// Whether inflateBack streams go to the core (see inflateBackInit_).
const INFLATE_BACK_OFFLOAD: bool = true;
/// The most output inflateBack hands to out() at once: zlib's window.
const INFLATE_BACK_WINDOW: usize = 32 * 1024;

include!(concat!(env!("OUT_DIR"), "/versioned.rs"));

/// Runs `$body`; a panic returns `$err` instead of unwinding into C.
macro_rules! boundary {
    ($err:expr, $body:block) => {
        match catch_unwind(AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $err,
        }
    };
}

/// Gives Rust functions their zlib names as global symbols; build.rs's
/// version script assigns each its zlib version node.
macro_rules! versioned {
    ($($name:ident),* $(,)?) => {
        $(
            std::arch::global_asm!(
                concat!(".globl ", stringify!($name)),
                concat!(".type ", stringify!($name), ",@function"),
                concat!(".set ", stringify!($name), ", {0}"),
                sym $name,
            );
        )*
    };
}

/// A function forwarded unchanged to zlib-rs.
macro_rules! forward {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $err:expr) => {
        $(#[$m])*
        pub unsafe extern "C" fn $name($($a: $t),*) -> $r {
            boundary!($err, {
                // SAFETY: the caller's arguments satisfy zlib's contract for this
                // function, which is zlib-rs's contract for the same function.
                unsafe { zrs::$name($($a),*) }
            })
        }
    };
}

/// The stream behind a pointer, NULL allowed.
fn unsafe_mut<'a>(strm: z_streamp) -> Option<&'a mut z_stream> {
    // SAFETY: only called on pointers the caller passed to an Init function,
    // which zlib requires to be NULL or a valid, caller-owned z_stream.
    unsafe { strm.as_mut() }
}

fn set_msg(strm: &mut z_stream, msg: &'static CStr) {
    strm.msg = msg.as_ptr().cast_mut();
}

/// The stream behind a pointer, if it is not NULL and has a zlib-rs state.
///
/// # Safety
/// `strm` is NULL or points to a `z_stream` the caller owns for this call.
unsafe fn stream_ref<'a>(strm: *mut z_stream) -> Option<&'a mut z_stream> {
    // SAFETY: per this function's contract.
    let s = unsafe { strm.as_mut()? };
    (!s.state.is_null()).then_some(s)
}

/// The caller's input as a slice.
///
/// # Safety
/// `next_in` holds `avail_in` readable bytes (zlib's contract) or is NULL.
unsafe fn input<'a>(s: &z_stream) -> &'a [u8] {
    if s.next_in.is_null() || s.avail_in == 0 {
        return &[];
    }
    // SAFETY: zlib's contract: next_in points to avail_in readable bytes.
    unsafe { std::slice::from_raw_parts(s.next_in, s.avail_in as usize) }
}

/// The caller's output space as a slice. Engines only write to it.
///
/// # Safety
/// `next_out` holds `avail_out` writable bytes (zlib's contract) or is NULL.
unsafe fn output<'a>(s: &z_stream) -> &'a mut [u8] {
    if s.next_out.is_null() || s.avail_out == 0 {
        return &mut [];
    }
    // SAFETY: zlib's contract: next_out points to avail_out writable bytes that
    // nothing else accesses during the call; u8 has no invalid values.
    unsafe { std::slice::from_raw_parts_mut(s.next_out, s.avail_out as usize) }
}

/// Moves the stream's pointers past `consumed` input and `produced` output.
fn advance(s: &mut z_stream, consumed: usize, produced: usize) {
    s.next_in = s.next_in.wrapping_add(consumed);
    s.avail_in -= consumed as c_uint;
    s.total_in = s.total_in.wrapping_add(consumed as c_ulong);
    s.next_out = s.next_out.wrapping_add(produced);
    s.avail_out -= produced as c_uint;
    s.total_out = s.total_out.wrapping_add(produced as c_ulong);
}

/// Takes the offload entry of a stream, runs `f` with it, puts it back.
/// Streams without an entry (or with a stale one) get `none`.
fn with_entry<R>(
    s: &mut z_stream,
    none: impl FnOnce(&mut z_stream) -> R,
    f: impl FnOnce(&mut z_stream, &mut Entry) -> R,
) -> R {
    let key = s as *mut z_stream as usize;
    let state = s.state as usize;
    match stream::take(key, state) {
        None => none(s),
        Some(mut e) => {
            let r = f(s, &mut e);
            // The call may have re-initialised zlib-rs's state (demotion).
            stream::put(key, s.state as usize, e);
            r
        }
    }
}

mod deflate;
use deflate::*;

mod inflate;
use inflate::*;

mod utility;
use utility::*;

mod gz;
use gz::*;

versioned!(
    compressBound,
    deflateBound,
    inflateBack,
    inflateBackEnd,
    inflateBackInit_,
    inflateCopy,
    gzclearerr,
    gzungetc,
    zlibCompileFlags,
    deflatePrime,
    adler32_combine,
    crc32_combine,
    deflateSetHeader,
    inflateGetHeader,
    deflateTune,
    gzdirect,
    inflatePrime,
    adler32_combine64,
    crc32_combine64,
    gzopen64,
    gzseek64,
    gztell64,
    inflateUndermine,
    inflateReset2,
    inflateMark,
    gzbuffer,
    gzoffset,
    gzoffset64,
    gzclose_r,
    gzclose_w,
    deflatePending,
    deflateResetKeep,
    gzgetc_,
    inflateResetKeep,
    inflateGetDictionary,
    gzvprintf,
    inflateCodesUsed,
    inflateValidate,
    uncompress2,
    gzfread,
    gzfwrite,
    deflateGetDictionary,
    adler32_z,
    crc32_z,
    crc32_combine_gen,
    crc32_combine_gen64,
    crc32_combine_op,
);

/// The versioned list above and build.rs's nodes name the same symbols.
const _: () = assert!(VERSIONED.len() == 47);

#[cfg(test)]
mod tests {
    use super::*;

    /// in() pieces as large as pigz's (smaller ones stay inline: WARPDRIVE_INLINE_MAX).
    const PIECE: usize = 32 * 1024;

    struct Feed {
        input: Vec<u8>,
        pos: usize,
        calls: usize,
        remove_at_call: usize,
        out: Vec<u8>,
    }

    unsafe extern "C" fn feed_in(desc: *mut c_void, buf: *mut *const u8) -> c_uint {
        // SAFETY: desc is the test's Feed, buf a slot for a pointer.
        let f = unsafe { &mut *desc.cast::<Feed>() };
        f.calls += 1;
        if f.calls == f.remove_at_call {
            // The device goes away with the stream held in its engine.
            assert!(warpdrive::global().remove_soft_device());
        }
        let n = (f.input.len() - f.pos).min(PIECE);
        // SAFETY: as above.
        unsafe { *buf = f.input[f.pos..].as_ptr() };
        f.pos += n;
        n as c_uint
    }

    unsafe extern "C" fn feed_out(desc: *mut c_void, buf: *mut u8, len: c_uint) -> c_int {
        // SAFETY: desc is the test's Feed.
        let f = unsafe { &mut *desc.cast::<Feed>() };
        // SAFETY: inflateBack hands out() len readable bytes at buf.
        let piece = unsafe { std::slice::from_raw_parts(buf, len as usize) };
        f.out.extend_from_slice(piece);
        0
    }

    /// A device removed in the middle of an offloaded inflateBack: the stream
    /// goes on in software, every byte delivered once.
    #[test]
    fn inflate_back_survives_device_removal_mid_stream() {
        if std::env::var_os("WARPDRIVE_BACKEND").is_some_and(|b| b != "softdev") {
            return;
        }
        let mut x = 0x9E37_79B9u32;
        let data: Vec<u8> = (0..2_000_000u32)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 7000 < 3000 {
                    b"warpdrive "[i as usize % 10]
                } else {
                    (x >> 24) as u8
                }
            })
            .collect();
        let mut comp = vec![0u8; data.len() + 1024];
        let n = warpdrive::compress(Format::Raw, 6, &data, &mut comp).expect("compress");
        comp.truncate(n);
        comp.extend_from_slice(b"AFTER");
        let remove_at_call = comp.len() / PIECE / 2;
        assert!(remove_at_call > 4, "{} compressed bytes", comp.len());
        let mut f = Feed {
            input: comp,
            pos: 0,
            calls: 0,
            remove_at_call,
            out: Vec::new(),
        };
        // SAFETY: an all-zero z_stream is what inflateBackInit_ expects.
        let mut s: z_stream = unsafe { std::mem::zeroed() };
        let mut window = vec![0u8; 32 * 1024];
        // SAFETY: a 32 KiB window for windowBits 15; zlib-rs's own version and size.
        let r = unsafe {
            inflateBackInit_(
                &mut s,
                15,
                window.as_mut_ptr(),
                zrs::zlibVersion(),
                std::mem::size_of::<z_stream>() as c_int,
            )
        };
        assert_eq!(r, Z_OK);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let (offloaded0, fallbacks0) = (
            load(&COUNTERS.inflate_streams_offloaded),
            load(&COUNTERS.fallbacks),
        );
        let desc = (&mut f as *mut Feed).cast::<c_void>();
        // SAFETY: callbacks and descriptors live for the call.
        let r = unsafe { inflateBack(&mut s, Some(feed_in), desc, Some(feed_out), desc) };
        assert_eq!(r, Z_STREAM_END);
        assert!(
            f.calls > f.remove_at_call,
            "the device was removed mid-stream"
        );
        assert_eq!(
            load(&COUNTERS.inflate_streams_offloaded),
            offloaded0 + 1,
            "offloaded"
        );
        assert_eq!(
            load(&COUNTERS.fallbacks),
            fallbacks0 + 1,
            "went on in software"
        );
        assert!(
            f.out == data,
            "output lost or duplicated ({} of {} bytes)",
            f.out.len(),
            data.len()
        );
        // The bytes after the stream are left to the caller.
        // SAFETY: next_in points into the last in() buffer, avail_in bytes.
        let rest = unsafe { std::slice::from_raw_parts(s.next_in, s.avail_in as usize) };
        assert_eq!(rest, b"AFTER");
        // SAFETY: initialised above.
        unsafe { inflateBackEnd(&mut s) };
    }
}
