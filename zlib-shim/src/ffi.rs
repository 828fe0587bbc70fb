//! zlib's C ABI: every exported function, and all raw-pointer handling.
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

// ---------------------------------------------------------------------------
// deflate

unsafe fn register_deflate(
    strm: z_streamp,
    ret: c_int,
    level: c_int,
    wbits: c_int,
    mem_level: c_int,
    strategy: c_int,
) {
    // SAFETY: strm was accepted by zlib-rs's Init (or is NULL).
    let Some(s) = (unsafe { stream_ref(strm) }) else {
        return;
    };
    let key = strm as usize;
    stream::remove(key);
    if ret == Z_OK {
        let p = bound::Params {
            wbits,
            mem_level,
            gzhead: 0,
            dict: false,
        };
        bound::set(key, s.state as usize, p);
    }
    let cfg = crate::config::get();
    // Strict mode: every stream is tracked, so its first call can refuse
    // what would run in software.
    if ret == Z_OK
        && (warpdrive::strict() || cfg.enabled && cfg.deflate && deflate_format(wbits).is_some())
    {
        let e = DeflateEntry {
            level,
            wbits,
            mem_level,
            strategy,
            blocked: false,
            gzhead: false,
            dict: None,
            mode: DeflateMode::Undecided,
        };
        stream::insert(key, s.state as usize, Entry::Deflate(e));
    }
}

/// The allocator zlib-rs sets up for a stream whose zalloc is NULL, seen at
/// the first deflateInit (its functions and opaque as `usize`).
static OWN_ALLOC: std::sync::OnceLock<(usize, usize, usize)> = std::sync::OnceLock::new();

/// The caller's `zalloc`, `zfree` and `opaque`.
type CallerAlloc = (Option<zrs::alloc_func>, Option<zrs::free_func>, *mut c_void);

/// Runs a zlib-rs call that allocates or frees a deflate stream's state with
/// zlib-rs's own allocator in place of the caller's, then puts the caller's
/// back (a NULL zalloc stays zlib-rs's, as zlib sets zcalloc).
///
/// zlib-rs keeps all its deflate state in one block larger than zlib's
/// footprint for the same windowBits and memLevel (a 64 Ki-entry hash table,
/// a separate symbol buffer, 64-byte alignment): 380,041 bytes at 15/8
/// against zlib's 268,000. Callers that size a pool from zlib's formula
/// (nginx's gzip filter) would see it overflow, so none of it goes through
/// their zalloc. `init` is true for an Init call (the stream's fields may
/// hold anything but the caller's allocator).
///
/// # Safety
/// `strm` is NULL or a caller-owned stream; `f` is one zlib-rs call on it.
unsafe fn own_alloc(strm: z_streamp, init: bool, f: impl FnOnce() -> c_int) -> c_int {
    // SAFETY: per this function's contract.
    let Some(s) = (unsafe { strm.as_mut() }) else {
        return f();
    };
    let caller: CallerAlloc = (s.zalloc, s.zfree, s.opaque);
    match (init, OWN_ALLOC.get()) {
        (true, _) | (false, None) => {
            s.zalloc = None;
            s.zfree = None;
        }
        (false, Some(&(a, fr, o))) => {
            // SAFETY: the values zlib-rs itself stored in a stream's
            // zalloc/zfree fields (function pointers of these types).
            unsafe {
                s.zalloc = Some(std::mem::transmute::<usize, zrs::alloc_func>(a));
                s.zfree = Some(std::mem::transmute::<usize, zrs::free_func>(fr));
            }
            s.opaque = o as *mut c_void;
        }
    }
    let ret = f();
    // SAFETY: as above; the call may only have set the allocator fields.
    let s = unsafe { &mut *strm };
    if init {
        if let (Some(a), Some(fr)) = (s.zalloc, s.zfree) {
            OWN_ALLOC.get_or_init(|| (a as usize, fr as usize, s.opaque as usize));
        }
    }
    if caller.0.is_some() && caller.1.is_some() {
        (s.zalloc, s.zfree, s.opaque) = caller;
    } else if !init {
        s.opaque = caller.2;
    }
    ret
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateInit_(
    strm: z_streamp,
    level: c_int,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // SAFETY: arguments as zlib documents them; zlib-rs checks them alike.
        let ret = unsafe {
            own_alloc(strm, true, || {
                zrs::deflateInit_(strm, sw_level(level), version, stream_size)
            })
        };
        // SAFETY: strm is NULL or the stream just initialised.
        unsafe { register_deflate(strm, ret, level, 15, 8, 0) };
        ret
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateInit2_(
    strm: z_streamp,
    level: c_int,
    method: c_int,
    windowBits: c_int,
    memLevel: c_int,
    strategy: c_int,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // SAFETY: arguments as zlib documents them; zlib-rs checks them alike.
        let ret = unsafe {
            own_alloc(strm, true, || {
                zrs::deflateInit2_(
                    strm,
                    sw_level(level),
                    method,
                    windowBits,
                    memLevel,
                    strategy,
                    version,
                    stream_size,
                )
            })
        };
        // SAFETY: strm is NULL or the stream just initialised.
        unsafe { register_deflate(strm, ret, level, windowBits, memLevel, strategy) };
        ret
    })
}

fn sw_deflate(s: &mut z_stream, flush: c_int) -> c_int {
    // SAFETY: s is a live stream with a zlib-rs state, from the caller.
    unsafe { zrs::deflate(s, flush) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflate(strm: z_streamp, flush: c_int) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        let Some(s) = (unsafe { stream_ref(strm) }) else {
            // SAFETY: zlib-rs rejects NULL streams and states itself.
            return unsafe { zrs::deflate(strm, flush) };
        };
        with_entry(
            s,
            |s| sw_deflate(s, flush),
            |s, e| match e {
                Entry::Deflate(d) => deflate_offload(s, d, flush),
                Entry::Inflate(_) => sw_deflate(s, flush),
            },
        )
    })
}

fn deflate_offload(s: &mut z_stream, d: &mut DeflateEntry, flush: c_int) -> c_int {
    if let DeflateMode::Undecided | DeflateMode::Gathering(_) = d.mode {
        if let Some(r) = decide_deflate(s, d, flush) {
            return r;
        }
        // From here on the stream belongs to one side: once zlib-rs has seen a
        // call (header, data, a flush), the core must never take over.
    }
    match &mut d.mode {
        DeflateMode::Core(c) => {
            let r = core_deflate(s, c, flush);
            if r == Z_STREAM_ERROR
                && c.consumed == 0
                && c.produced == 0
                && c.last_flush == -3
                && stats::software(Why::Fallback)
            {
                // The core failed before anything happened: software takes
                // over, after the gathered input.
                d.mode = DeflateMode::Replay(std::mem::take(&mut c.carry), 0);
                return deflate_offload(s, d, flush);
            }
            r
        }
        DeflateMode::Replay(..) => {
            if !settle_deflate(s, d) {
                return Z_OK;
            }
            if s.avail_out == 0 {
                // The gathered input filled the output: progress all the same.
                return Z_OK;
            }
            sw_deflate_entry(s, d, flush)
        }
        _ => sw_deflate_entry(s, d, flush),
    }
}

/// zlib-rs's deflate for a stream with an entry.
fn sw_deflate_entry(s: &mut z_stream, d: &DeflateEntry, flush: c_int) -> c_int {
    // zlib-rs runs level 1 as its level 2 (bound::sw_level): the gzip
    // header's XFL is zlib's "fastest" (4) all the same.
    let (before, out) = (s.total_out, s.next_out);
    let r = sw_deflate(s, flush);
    if d.wbits == 31 && d.level == 1 && !d.gzhead && before < 9 && s.total_out >= 9 {
        // SAFETY: byte 8 of the stream is among those this call wrote at
        // `out` (total_out went from `before` past 8).
        unsafe { *out.add((8 - before) as usize) = 4 };
    }
    r
}

/// The decision for a stream nothing has reached yet, or that is gathering
/// small unflushed pieces: the core once `WARPDRIVE_ZLIB_MIN` bytes have
/// come (the gathered ones first), zlib-rs when a flush or the end comes
/// before that. `Some` is the call's result when it ends here.
/// Strict mode refused to run this stream in software: zlib's "inconsistent
/// stream" code, with the reason in `msg`; nothing was consumed or written.
fn refuse(s: &mut z_stream) -> c_int {
    set_msg(s, stats::REFUSED_MSG);
    Z_STREAM_ERROR
}

/// Why a deflate stream the core does not take runs in software.
fn deflate_why() -> Why {
    let cfg = crate::config::get();
    if !(cfg.enabled && cfg.deflate) {
        Why::Off
    } else {
        Why::Params
    }
}

fn decide_deflate(s: &mut z_stream, d: &mut DeflateEntry, flush: c_int) -> Option<c_int> {
    let gathered = match &d.mode {
        DeflateMode::Gathering(b) => b.len(),
        _ => 0,
    };
    if s.next_out.is_null()
        || (s.avail_in != 0 && s.next_in.is_null())
        || !(0..=Z_BLOCK).contains(&flush)
    {
        if gathered == 0 {
            // zlib-rs rejects the call without touching its state.
            return Some(sw_deflate(s, flush));
        }
        set_msg(s, c"stream error");
        return Some(Z_STREAM_ERROR);
    }
    if s.avail_out == 0 || (gathered > 0 && s.avail_in == 0 && flush == Z_NO_FLUSH) {
        // zlib's checks before it does anything.
        set_msg(s, c"buffer error");
        return Some(Z_BUF_ERROR);
    }
    if s.avail_in == 0 && flush == Z_NO_FLUSH {
        // Nothing to do yet; zlib would only emit its header early.
        return Some(Z_OK);
    }
    let cfg = crate::config::get();
    let total = gathered + s.avail_in as usize;
    let take = |mode: &mut DeflateMode| match std::mem::replace(mode, DeflateMode::Undecided) {
        DeflateMode::Gathering(b) => b,
        _ => Vec::new(),
    };
    // Z_BLOCK and Z_PARTIAL_FLUSH are served as a sync flush: the output
    // then ends on a byte boundary and deflatePending reports 0 bits, which
    // is what pigz checks before it would call deflatePrime.
    d.mode = match d.offloadable() {
        Some((format, level)) if total >= cfg.min => {
            let made = warpdrive::Deflater::new(format, level).and_then(|mut def| {
                if let Some(dict) = &d.dict {
                    def.set_dictionary(dict)?;
                }
                Ok(def)
            });
            match made {
                Ok(def) => {
                    stats::bump(&COUNTERS.deflate_streams_offloaded);
                    DeflateMode::Core(Box::new(CoreDeflate {
                        d: def,
                        format,
                        last_flush: -2,
                        finishing: false,
                        done: false,
                        consumed: 0,
                        produced: 0,
                        carry: take(&mut d.mode),
                        carry_pos: 0,
                    }))
                }
                Err(_) if stats::software(Why::Fallback) => {
                    DeflateMode::Replay(take(&mut d.mode), 0)
                }
                Err(_) => return Some(refuse(s)),
            }
        }
        Some(_) if flush == Z_NO_FLUSH => {
            let mut buf = take(&mut d.mode);
            // SAFETY: the caller's input, checked non-NULL above.
            let inp = unsafe { input(s) };
            buf.extend_from_slice(inp);
            // zlib's adler: the check of the input read so far.
            let (p, n) = (inp.as_ptr(), inp.len() as c_uint);
            match d.wbits {
                // SAFETY: n readable bytes at p.
                31 => s.adler = unsafe { zrs::crc32(s.adler, p, n) },
                // SAFETY: as above.
                15 => s.adler = unsafe { zrs::adler32(s.adler, p, n) },
                _ => {}
            }
            advance(s, inp.len(), 0);
            d.mode = DeflateMode::Gathering(buf);
            return Some(Z_OK);
        }
        o => {
            let why = if o.is_some() {
                Why::Small
            } else {
                deflate_why()
            };
            if !stats::software(why) {
                return Some(refuse(s));
            }
            match take(&mut d.mode) {
                b if b.is_empty() => DeflateMode::Software,
                b => DeflateMode::Replay(b, 0),
            }
        }
    };
    None
}

/// Moves a gathering stream to zlib-rs and feeds it the gathered input
/// (with the caller's output room); true once all of it is in zlib-rs (the
/// stream is then plain software).
fn settle_deflate(s: &mut z_stream, d: &mut DeflateEntry) -> bool {
    if let DeflateMode::Gathering(_) = d.mode {
        let DeflateMode::Gathering(b) = std::mem::replace(&mut d.mode, DeflateMode::Software)
        else {
            unreachable!()
        };
        // Gathered below WARPDRIVE_ZLIB_MIN (never in strict mode, where
        // that is 0).
        let _ = stats::software(Why::Small);
        d.mode = DeflateMode::Replay(b, 0);
    }
    let DeflateMode::Replay(buf, pos) = &mut d.mode else {
        return true;
    };
    if !s.next_out.is_null() && s.avail_out != 0 {
        let (next_in, avail_in, total_in) = (s.next_in, s.avail_in, s.total_in);
        if *pos == 0 {
            // zlib-rs computes adler from here as it reads the input.
            s.adler = if d.wbits == 31 { 0 } else { 1 };
        }
        s.next_in = buf[*pos..].as_ptr().cast_mut();
        s.avail_in = (buf.len() - *pos) as c_uint;
        let before = s.avail_in;
        let (total_out, out) = (s.total_out, s.next_out);
        // SAFETY: a live stream; next_in points into `buf` for this call.
        unsafe { zrs::deflate(s, Z_NO_FLUSH) };
        if d.wbits == 31 && d.level == 1 && !d.gzhead && total_out < 9 && s.total_out >= 9 {
            // SAFETY: as in sw_deflate_entry.
            unsafe { *out.add((8 - total_out) as usize) = 4 };
        }
        *pos += (before - s.avail_in) as usize;
        // The gathered bytes were counted when they were taken.
        (s.next_in, s.avail_in, s.total_in) = (next_in, avail_in, total_in);
    }
    if *pos < buf.len() {
        return false;
    }
    d.mode = DeflateMode::Software;
    true
}

/// A core deflate call failed: a device failure before any byte went in or
/// out marks the stream for the caller to fall back to software
/// (`last_flush == -3`); any other failure is the stream's error.
fn core_deflate_failed(s: &mut z_stream, c: &mut CoreDeflate, e: &warpdrive::Error) -> c_int {
    if e.is_device_failure() && c.consumed == 0 && c.produced == 0 {
        c.last_flush = -3; // tells the caller to fall back
    } else {
        set_msg(s, c"warpdrive: compression engine failed mid-stream");
    }
    Z_STREAM_ERROR
}

fn core_deflate(s: &mut z_stream, c: &mut CoreDeflate, flush: c_int) -> c_int {
    if s.next_out.is_null()
        || (s.avail_in != 0 && s.next_in.is_null())
        || !(0..=Z_BLOCK).contains(&flush)
        || (c.finishing && flush != Z_FINISH)
    {
        set_msg(s, c"stream error");
        return Z_STREAM_ERROR;
    }
    if s.avail_out == 0 {
        set_msg(s, c"buffer error");
        return Z_BUF_ERROR;
    }
    let old = c.last_flush;
    c.last_flush = flush;
    if s.avail_in == 0 && rank(flush) <= rank(old) && flush != Z_FINISH {
        set_msg(s, c"buffer error");
        return Z_BUF_ERROR;
    }
    if c.finishing && s.avail_in != 0 {
        set_msg(s, c"buffer error");
        return Z_BUF_ERROR;
    }
    if c.done {
        return Z_STREAM_END;
    }
    let f = core_flush(flush);
    while c.carry_pos < c.carry.len() {
        // The gathered input goes in first, unflushed.
        // SAFETY: the caller's output as zlib's contract describes it.
        let out = unsafe { output(s) };
        let out_len = out.len();
        match c.d.deflate(&c.carry[c.carry_pos..], out, Flush::None) {
            Ok(p) => {
                let consumed = p.consumed.min(c.carry.len() - c.carry_pos);
                let produced = p.produced.min(out_len);
                c.carry_pos += consumed;
                advance(s, 0, produced);
                c.consumed += consumed as u64;
                c.produced += produced as u64;
                stats::add_bytes(consumed, produced);
                if consumed == 0 && produced == 0 {
                    set_msg(s, c"warpdrive: compression engine made no progress");
                    return Z_STREAM_ERROR;
                }
                if s.avail_out == 0 {
                    c.last_flush = -1;
                    s.adler = c_ulong::from(c.d.checksum());
                    return Z_OK;
                }
            }
            Err(e) => return core_deflate_failed(s, c, &e),
        }
    }
    if !c.carry.is_empty() {
        c.carry = Vec::new();
        c.carry_pos = 0;
    }
    loop {
        // SAFETY: the stream's buffers as zlib's contract describes them.
        let (inp, out) = unsafe { (input(s), output(s)) };
        let (in_len, out_len) = (inp.len(), out.len());
        match c.d.deflate(inp, out, f) {
            Ok(p) => {
                let (consumed, produced) = (p.consumed.min(in_len), p.produced.min(out_len));
                advance(s, consumed, produced);
                c.consumed += consumed as u64;
                c.produced += produced as u64;
                stats::bump(&COUNTERS.stream_calls_offloaded);
                stats::add_bytes(consumed, produced);
                if p.done {
                    c.done = true;
                    break;
                }
                if (consumed == 0 && produced == 0)
                    || s.avail_out == 0
                    || (s.avail_in == 0 && produced < out_len)
                {
                    break;
                }
            }
            Err(e) => return core_deflate_failed(s, c, &e),
        }
    }
    if flush == Z_FINISH && s.avail_in == 0 {
        // zlib's FINISH_STATE starts once Z_FINISH has consumed all input, not
        // at the first Z_FINISH call: a caller whose output filled up first
        // calls again with the rest of its input (python's zlib.compress).
        c.finishing = true;
    }
    if c.format != Format::Raw {
        s.adler = c_ulong::from(c.d.checksum());
    }
    if s.avail_out == 0 {
        c.last_flush = -1;
    }
    if c.done {
        Z_STREAM_END
    } else {
        Z_OK
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateEnd(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        let mut busy = false;
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            if let Some(e) = stream::take(strm as usize, s.state as usize) {
                if let Entry::Deflate(d) = *e {
                    match d.mode {
                        DeflateMode::Core(c) => {
                            busy = !c.finishing;
                            stats::report();
                        }
                        // zlib has read input: its stream is busy.
                        DeflateMode::Gathering(_) => busy = true,
                        DeflateMode::Replay(b, pos) => busy = pos < b.len(),
                        _ => {}
                    }
                }
            }
        }
        bound::remove(strm as usize);
        // SAFETY: zlib-rs frees its state (and rejects bad streams), with
        // the allocator it was made with.
        let ret = unsafe { own_alloc(strm, false, || zrs::deflateEnd(strm)) };
        if ret == Z_OK && busy {
            Z_DATA_ERROR
        } else {
            ret
        }
    })
}

/// deflateReset and deflateResetKeep: the next stream decides afresh.
unsafe fn deflate_reset_with(
    strm: z_streamp,
    f: unsafe extern "C" fn(z_streamp) -> c_int,
) -> c_int {
    // SAFETY: zlib-rs validates the stream.
    let ret = unsafe { f(strm) };
    // SAFETY: strm is NULL or a caller-owned stream.
    if let Some(s) = unsafe { stream_ref(strm) } {
        bound::update(strm as usize, s.state as usize, |p| p.dict = false);
        with_entry(
            s,
            |_| (),
            |_, e| {
                if let Entry::Deflate(d) = e {
                    if let DeflateMode::Core(_) = d.mode {
                        stats::report();
                    }
                    d.mode = DeflateMode::Undecided;
                    // zlib's reset drops the dictionary, primed bits and tuning;
                    // only a gzip header set with deflateSetHeader stays.
                    d.blocked = d.gzhead;
                    d.dict = None;
                }
            },
        );
    }
    ret
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateReset(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract.
        unsafe { deflate_reset_with(strm, zrs::deflateReset) }
    })
}

pub unsafe extern "C" fn deflateResetKeep(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract.
        unsafe { deflate_reset_with(strm, zrs::deflateResetKeep) }
    })
}

/// What a zlib-only call does to a deflate stream with an entry.
enum DeflateSide {
    /// Not offloaded (yet): forward; `block` keeps the stream in software.
    Forward,
    /// Offloaded and data went to the core: the call cannot be honoured.
    Core,
}

fn deflate_side(s: &mut z_stream, block: bool) -> DeflateSide {
    with_entry(
        s,
        |_| DeflateSide::Forward,
        |s, e| match e {
            Entry::Deflate(d) => match &d.mode {
                DeflateMode::Core(c) if c.consumed > 0 || c.produced > 0 || !c.carry.is_empty() => {
                    DeflateSide::Core
                }
                DeflateMode::Gathering(_) | DeflateMode::Replay(..) => {
                    // zlib-rs serves the call, with the gathered input in it
                    // first; without output room for that, the call cannot
                    // be honoured in order (as an offloaded stream's).
                    d.blocked |= block;
                    if settle_deflate(s, d) {
                        DeflateSide::Forward
                    } else {
                        DeflateSide::Core
                    }
                }
                mode => {
                    if block {
                        d.blocked = true;
                        if let DeflateMode::Core(_) = mode {
                            // Nothing reached the core yet: zlib-rs serves it all.
                            d.mode = DeflateMode::Undecided;
                        }
                    }
                    DeflateSide::Forward
                }
            },
            Entry::Inflate(_) => DeflateSide::Forward,
        },
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateParams(strm: z_streamp, level: c_int, strategy: c_int) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        let Some(s) = (unsafe { stream_ref(strm) }) else {
            // SAFETY: zlib-rs rejects it.
            return unsafe { zrs::deflateParams(strm, level, strategy) };
        };
        let fwd = |s: &mut z_stream| {
            // SAFETY: a live stream.
            unsafe { zrs::deflateParams(s, sw_level(level), strategy) }
        };
        with_entry(s, fwd, |s, e| {
            let Entry::Deflate(d) = e else { return fwd(s) };
            if !settle_deflate(s, d) {
                // Gathered input zlib-rs has no room to take: as zlib when it
                // cannot flush what it holds.
                return Z_BUF_ERROR;
            }
            let (old_level, old_strategy) = (d.level, d.strategy);
            if let DeflateMode::Core(c) = &mut d.mode {
                if c.consumed > 0 || c.produced > 0 {
                    // The engine keeps its level for the rest of the stream: the
                    // output stays one valid stream that decodes to the same data;
                    // only the ratio/speed trade-off differs from zlib's.
                    if !(-1..=9).contains(&level) || !(0..=4).contains(&strategy) {
                        return Z_STREAM_ERROR;
                    }
                    // zlib's return codes: a change of compression function
                    // (stored, fast 1-3, slow 4-9) or strategy first ends the
                    // block with Z_BLOCK, which needs room for unflushed data.
                    let class = |l: c_int| match l {
                        0 => 0,
                        1..=3 => 1,
                        _ => 2,
                    };
                    let flushed = matches!(
                        c.last_flush,
                        Z_PARTIAL_FLUSH | Z_SYNC_FLUSH | Z_FULL_FLUSH | Z_BLOCK
                    );
                    if (class(level) != class(old_level) || strategy != old_strategy)
                        && !flushed
                        && !c.finishing
                    {
                        if s.avail_out == 0 {
                            return Z_BUF_ERROR;
                        }
                        let r = core_deflate(s, c, Z_BLOCK);
                        if r == Z_STREAM_ERROR {
                            return r;
                        }
                        if s.avail_in != 0 || c.last_flush == -1 {
                            return Z_BUF_ERROR;
                        }
                    }
                    d.level = level;
                    d.strategy = strategy;
                    // zlib-rs's unused state takes the parameters too, for the
                    // stream after a deflateReset (it has seen no call, so
                    // it flushes nothing).
                    // SAFETY: a live stream.
                    unsafe { zrs::deflateParams(s, sw_level(level), strategy) };
                    return Z_OK;
                }
            }
            let r = fwd(s);
            if r == Z_OK {
                d.level = level;
                d.strategy = strategy;
                // A core stream that has seen nothing yet decides again with the
                // new level; a software stream stays in software (zlib-rs may
                // already have emitted data, e.g. the Z_BLOCK flush zlib's
                // deflateParams does mid-stream).
                if let DeflateMode::Core(_) = d.mode {
                    d.mode = DeflateMode::Undecided;
                }
            }
            r
        })
    })
}

/// Calls zlib-rs for a deflate stream after deciding what the entry allows.
macro_rules! deflate_zlib_only {
    ($(#[$m:meta])* fn $name:ident($strm:ident: z_streamp $(, $a:ident: $t:ty)*) -> c_int, block = $block:expr, on_core = $core:expr) => {
        $(#[$m])*
        pub unsafe extern "C" fn $name($strm: z_streamp $(, $a: $t)*) -> c_int {
            boundary!(Z_STREAM_ERROR, {
                // SAFETY: strm is NULL or a caller-owned stream.
                if let Some(s) = unsafe { stream_ref($strm) } {
                    if let DeflateSide::Core = deflate_side(s, $block) {
                        return $core;
                    }
                }
                // SAFETY: forwarded contract; zlib-rs validates the stream.
                unsafe { zrs::$name($strm $(, $a)*) }
            })
        }
    };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateSetDictionary(
    strm: z_streamp,
    dictionary: *const u8,
    dictLength: c_uint,
) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // A raw stream nothing has reached yet keeps the dictionary for the
        // core (the segment history carries it: pigz's blocks); others stay
        // in software.
        let mut carried = false;
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            carried = !dictionary.is_null()
                && with_entry(
                    s,
                    |_| false,
                    |_, e| {
                        matches!(e, Entry::Deflate(d)
                            if d.wbits == -15 && matches!(d.mode, DeflateMode::Undecided))
                    },
                );
            if !carried {
                if let DeflateSide::Core = deflate_side(s, true) {
                    return Z_STREAM_ERROR;
                }
            }
        }
        // SAFETY: forwarded contract; zlib-rs validates the stream.
        let r = unsafe { zrs::deflateSetDictionary(strm, dictionary, dictLength) };
        // SAFETY: strm is NULL or a caller-owned stream.
        if let (Z_OK, Some(s)) = (r, unsafe { stream_ref(strm) }) {
            bound::update(strm as usize, s.state as usize, |p| p.dict = true);
            if carried {
                // SAFETY: zlib's contract: dictLength readable bytes at
                // dictionary (zlib-rs has just read them).
                let all = unsafe { std::slice::from_raw_parts(dictionary, dictLength as usize) };
                let keep = all[all.len().saturating_sub(32 << 10)..].to_vec();
                with_entry(
                    s,
                    |_| (),
                    |_, e| {
                        if let Entry::Deflate(d) = e {
                            d.dict = Some(keep);
                        }
                    },
                );
            }
        }
        r
    })
}
deflate_zlib_only!(fn deflatePrime(strm: z_streamp, bits: c_int, value: c_int) -> c_int, block = true, on_core = Z_BUF_ERROR);
pub unsafe extern "C" fn deflateSetHeader(strm: z_streamp, head: gz_headerp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            // Mid-stream it has no effect, as in zlib (the header is written).
            let _ = deflate_side(s, true);
            with_entry(
                s,
                |_| (),
                |_, e| {
                    if let Entry::Deflate(d) = e {
                        d.gzhead = true;
                    }
                },
            );
        }
        // SAFETY: forwarded contract; zlib-rs validates the stream.
        let r = unsafe { zrs::deflateSetHeader(strm, head) };
        // SAFETY: strm is NULL or a caller-owned stream.
        if let (Z_OK, Some(s)) = (r, unsafe { stream_ref(strm) }) {
            bound::update(strm as usize, s.state as usize, |p| {
                p.gzhead = head as usize
            });
        }
        r
    })
}
deflate_zlib_only!(fn deflateTune(strm: z_streamp, good_length: c_int, max_lazy: c_int, nice_length: c_int, max_chain: c_int) -> c_int, block = false, on_core = Z_OK);

pub unsafe extern "C" fn deflateGetDictionary(
    strm: z_streamp,
    dictionary: *mut u8,
    dictLength: *mut c_uint,
) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            if let DeflateSide::Core = deflate_side(s, false) {
                return Z_STREAM_ERROR;
            }
        }
        // SAFETY: forwarded contract.
        unsafe { zrs::deflateGetDictionary(strm, dictionary, dictLength) }
    })
}

pub unsafe extern "C" fn deflatePending(
    strm: z_streamp,
    pending: *mut c_uint,
    bits: *mut c_int,
) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            // An offloaded stream: every flush ends on a byte boundary (0 bits);
            // output is pending only if the last call filled avail_out.
            let core = with_entry(
                s,
                |_| None,
                |_, e| match e {
                    Entry::Deflate(DeflateEntry {
                        mode: DeflateMode::Core(c),
                        ..
                    }) => Some(c.last_flush == -1 && !c.done),
                    _ => None,
                },
            );
            if let Some(full) = core {
                if !pending.is_null() {
                    // SAFETY: the caller's out-parameter (zlib allows NULL).
                    unsafe { *pending = c_uint::from(full) };
                }
                if !bits.is_null() {
                    // SAFETY: as above.
                    unsafe { *bits = 0 };
                }
                return Z_OK;
            }
        }
        // SAFETY: forwarded contract.
        unsafe { zrs::deflatePending(strm, pending, bits) }
    })
}

pub unsafe extern "C" fn deflateBound(strm: z_streamp, sourceLen: c_ulong) -> c_ulong {
    boundary!(0, {
        // zlib's own value: callers size buffers (and memory pools) with it;
        // the offloaded paths fit in it or fall back to software.
        // SAFETY: strm is NULL or a caller-owned stream.
        let s = unsafe { stream_ref(strm) };
        let p = s
            .as_ref()
            .and_then(|s| bound::get(strm as usize, s.state as usize));
        let Some(s) = s.filter(|_| p.is_some()) else {
            return bound::deflate_bound(None, 0, false, sourceLen);
        };
        // SAFETY: a header set with deflateSetHeader stays valid while the
        // stream uses it (zlib reads it at this point too).
        let gz_extra = unsafe { gzip_header_extra(p.as_ref().map_or(0, |p| p.gzhead)) };
        bound::deflate_bound(p.as_ref(), gz_extra, s.total_in > 0, sourceLen)
    })
}

/// The bytes a gzip header set with deflateSetHeader adds to the plain 10.
///
/// # Safety
/// `head` is 0 or the caller's live gz_header.
unsafe fn gzip_header_extra(head: usize) -> c_ulong {
    // SAFETY: per this function's contract.
    let Some(h) = (unsafe { (head as *const zrs::gz_header).as_ref() }) else {
        return 0;
    };
    let strlen = |p: *mut u8| -> c_ulong {
        if p.is_null() {
            0
        } else {
            // SAFETY: zlib's contract: name and comment are NUL-terminated.
            unsafe { CStr::from_ptr(p.cast()) }.to_bytes().len() as c_ulong + 1
        }
    };
    let mut n = 0;
    if !h.extra.is_null() {
        n += 2 + c_ulong::from(h.extra_len);
    }
    n += strlen(h.name) + strlen(h.comment);
    if h.hcrc != 0 {
        n += 2;
    }
    n
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn deflateCopy(dest: z_streamp, source: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // The copy's offload state, decided before zlib-rs copies anything: an
        // offloaded stream is duplicated with Deflater::try_clone, which works
        // until the stream has become a true engine stream.
        // SAFETY: source is NULL or a caller-owned stream.
        let copied = match unsafe { stream_ref(source) } {
            None => None,
            Some(s) => with_entry(
                s,
                |_| None,
                |_, e| {
                    let Entry::Deflate(d) = e else { return None };
                    let mode = match &d.mode {
                        DeflateMode::Core(c) if c.consumed > 0 || c.produced > 0 => {
                            match c.d.try_clone() {
                                Ok(nd) => Ok(DeflateMode::Core(Box::new(CoreDeflate {
                                    d: nd,
                                    format: c.format,
                                    last_flush: c.last_flush,
                                    finishing: c.finishing,
                                    done: c.done,
                                    consumed: c.consumed,
                                    produced: c.produced,
                                    carry: c.carry[c.carry_pos..].to_vec(),
                                    carry_pos: 0,
                                }))),
                                // An engine's mid-stream state cannot be duplicated.
                                Err(_) => Err(Z_STREAM_ERROR),
                            }
                        }
                        // Nothing reached zlib-rs or the core yet.
                        DeflateMode::Core(_) | DeflateMode::Undecided => Ok(DeflateMode::Undecided),
                        DeflateMode::Software => Ok(DeflateMode::Software),
                        DeflateMode::Gathering(b) => Ok(DeflateMode::Gathering(b.clone())),
                        DeflateMode::Replay(b, pos) => Ok(DeflateMode::Replay(b.clone(), *pos)),
                    };
                    Some(mode.map(|mode| DeflateEntry {
                        level: d.level,
                        wbits: d.wbits,
                        mem_level: d.mem_level,
                        strategy: d.strategy,
                        blocked: d.blocked,
                        gzhead: d.gzhead,
                        dict: d.dict.clone(),
                        mode,
                    }))
                },
            ),
        };
        let entry = match copied {
            Some(Err(r)) => return r,
            Some(Ok(e)) => Some(e),
            None => None,
        };
        // SAFETY: forwarded contract; zlib-rs copies the state and the
        // z_stream (so dest gets the caller's allocator fields back too).
        let ret = unsafe { own_alloc(source, false, || zrs::deflateCopy(dest, source)) };
        if ret == Z_OK {
            // SAFETY: dest and source are valid, distinct streams after a
            // successful copy.
            if let (Some(d), Some(s)) = unsafe { (dest.as_mut(), source.as_ref()) } {
                (d.zalloc, d.zfree, d.opaque) = (s.zalloc, s.zfree, s.opaque);
            }
        }
        if ret == Z_OK {
            stream::remove(dest as usize);
            // SAFETY: both streams are valid after a successful copy.
            if let (Some(src), Some(dst)) = unsafe { (stream_ref(source), stream_ref(dest)) } {
                if let Some(p) = bound::get(source as usize, src.state as usize) {
                    bound::set(dest as usize, dst.state as usize, p);
                }
            }
            // SAFETY: dest was just initialised by zlib-rs.
            if let (Some(e), Some(dst)) = (entry, unsafe { stream_ref(dest) }) {
                if let DeflateMode::Core(_) = e.mode {
                    stats::bump(&COUNTERS.deflate_streams_offloaded);
                }
                stream::insert(dest as usize, dst.state as usize, Entry::Deflate(e));
            }
        }
        ret
    })
}

// ---------------------------------------------------------------------------
// inflate

unsafe fn register_inflate(strm: z_streamp, ret: c_int, wbits: c_int) {
    // SAFETY: strm was accepted by zlib-rs's Init (or is NULL).
    let Some(s) = (unsafe { stream_ref(strm) }) else {
        return;
    };
    let key = strm as usize;
    stream::remove(key);
    let cfg = crate::config::get();
    if ret == Z_OK
        && (warpdrive::strict() || cfg.enabled && cfg.inflate && inflate_format(wbits).is_some())
    {
        let e = InflateEntry {
            wbits,
            blocked: false,
            mode: InflateMode::Undecided,
        };
        stream::insert(key, s.state as usize, Entry::Inflate(e));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inflateInit_(
    strm: z_streamp,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // SAFETY: forwarded contract.
        let ret = unsafe { zrs::inflateInit_(strm, version, stream_size) };
        // SAFETY: strm is NULL or the stream just initialised.
        unsafe { register_inflate(strm, ret, 15) };
        ret
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inflateInit2_(
    strm: z_streamp,
    windowBits: c_int,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // zlib leaves `adler` alone for raw streams; zlib-rs sets it to 1.
        // SAFETY: strm is NULL or caller-owned.
        let adler = unsafe { strm.as_ref() }.map(|s| s.adler);
        // SAFETY: forwarded contract.
        let ret = unsafe { zrs::inflateInit2_(strm, windowBits, version, stream_size) };
        if let (Some(a), true, Some(s)) = (adler, windowBits < 0, unsafe_mut(strm)) {
            s.adler = a;
        }
        // SAFETY: strm is NULL or the stream just initialised.
        unsafe { register_inflate(strm, ret, windowBits) };
        ret
    })
}

fn sw_inflate(s: &mut z_stream, flush: c_int) -> c_int {
    // SAFETY: s is a live stream with a zlib-rs state.
    unsafe { zrs::inflate(s, flush) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inflate(strm: z_streamp, flush: c_int) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        let Some(s) = (unsafe { stream_ref(strm) }) else {
            // SAFETY: zlib-rs rejects NULL streams and states.
            return unsafe { zrs::inflate(strm, flush) };
        };
        with_entry(
            s,
            |s| sw_inflate(s, flush),
            |s, e| match e {
                Entry::Inflate(i) => inflate_offload(s, i, flush),
                Entry::Deflate(_) => sw_inflate(s, flush),
            },
        )
    })
}

fn inflate_offload(s: &mut z_stream, e: &mut InflateEntry, flush: c_int) -> c_int {
    if let InflateMode::Undecided = e.mode {
        if s.avail_in == 0 || s.next_in.is_null() || s.next_out.is_null() {
            // zlib-rs makes no progress without input: still undecided after.
            return sw_inflate(s, flush);
        }
        let cfg = crate::config::get();
        // SAFETY: the caller's input buffer.
        let inp = unsafe { input(s) };
        let choice = match e.offloadable() {
            Some(fmt) if inp.len() >= cfg.min && flush != Z_BLOCK && flush != Z_TREES => {
                header_ok(fmt, inp)
            }
            _ => None,
        };
        e.mode = match choice {
            Some((true, format)) => match warpdrive::Inflater::new(format) {
                Ok(i) => {
                    stats::bump(&COUNTERS.inflate_streams_offloaded);
                    InflateMode::Core(Box::new(CoreInflate {
                        i,
                        format,
                        done: false,
                        bad: None,
                        retained: Some(Vec::new()),
                        produced: 0,
                    }))
                }
                Err(_) if stats::software(Why::Fallback) => InflateMode::Software,
                Err(_) => return refuse(s),
            },
            Some((false, _)) => {
                // A header the core would refuse: zlib-rs names the error.
                if !stats::software(Why::Params) {
                    return refuse(s);
                }
                InflateMode::Software
            }
            None => {
                let why = match e.offloadable() {
                    Some(Some(_)) if flush != Z_BLOCK && flush != Z_TREES => Why::Small,
                    Some(_) => Why::Params,
                    None if cfg.enabled && cfg.inflate => Why::Params,
                    None => Why::Off,
                };
                if !stats::software(why) {
                    return refuse(s);
                }
                InflateMode::Software
            }
        };
    }
    if flush == Z_BLOCK || flush == Z_TREES {
        if let Err(r) = demote_inflate(s, e) {
            return r;
        }
    }
    match &mut e.mode {
        InflateMode::Core(c) => match core_inflate(s, c, flush) {
            Some(r) => r,
            None => {
                // The device failed, or the engine refused the data: zlib-rs
                // continues from the same point.
                if !stats::software(Why::Fallback) {
                    return refuse(s);
                }
                match demote_inflate(s, e) {
                    Ok(()) => inflate_offload(s, e, flush),
                    Err(r) => r,
                }
            }
        },
        InflateMode::Pending(buf, pos, held) => {
            if s.next_out.is_null() || (s.avail_in != 0 && s.next_in.is_null()) {
                return Z_STREAM_ERROR;
            }
            let n = (buf.len() - *pos).min(s.avail_out as usize);
            // SAFETY: the caller's output buffer.
            let dst = unsafe { output(s) };
            dst[..n].copy_from_slice(&buf[*pos..*pos + n]);
            advance(s, 0, n);
            *pos += n;
            if *pos < buf.len() {
                return Z_OK;
            }
            // The input zlib-rs already has, presented again: consumed now.
            let k = (*held).min(s.avail_in as usize);
            advance(s, k, 0);
            e.mode = InflateMode::Software;
            let r = sw_inflate(s, flush);
            if r == Z_BUF_ERROR && (n > 0 || k > 0) {
                Z_OK
            } else {
                r
            }
        }
        _ => sw_inflate(s, flush),
    }
}

/// One inflate() call served by the core. None: the device failed.
fn core_inflate(s: &mut z_stream, c: &mut CoreInflate, flush: c_int) -> Option<c_int> {
    if s.next_out.is_null() || (s.avail_in != 0 && s.next_in.is_null()) {
        return Some(Z_STREAM_ERROR);
    }
    if let Some(m) = c.bad {
        set_msg(s, m);
        return Some(Z_DATA_ERROR);
    }
    if c.done {
        return Some(Z_STREAM_END);
    }
    let (in0, out0) = (s.avail_in, s.avail_out);
    loop {
        // SAFETY: the stream's buffers as zlib's contract describes them.
        let (inp, out) = unsafe { (input(s), output(s)) };
        let (in_len, out_len) = (inp.len(), out.len());
        match c.i.inflate(inp, out) {
            Ok(p) => {
                let (consumed, produced) = (p.consumed.min(in_len), p.produced.min(out_len));
                if let Some(r) = &mut c.retained {
                    if r.len() + consumed > RETAIN_MAX {
                        c.retained = None;
                    } else {
                        r.extend_from_slice(&inp[..consumed]);
                    }
                }
                advance(s, consumed, produced);
                c.produced += produced as u64;
                stats::bump(&COUNTERS.stream_calls_offloaded);
                stats::add_bytes(consumed, produced);
                if p.done {
                    c.done = true;
                    break;
                }
                if (consumed == 0 && produced == 0)
                    || s.avail_out == 0
                    || (s.avail_in == 0 && produced < out_len)
                {
                    break;
                }
            }
            Err(e) if e.is_device_failure() => return None,
            // zlib hands out everything before the damage: zlib-rs, given
            // the same input, decodes up to it and names it.
            Err(_) if c.retained.is_some() => return None,
            Err(e) => {
                // Past RETAIN_MAX: the engine's own account of the error.
                let m = data_error_msg(&e, c.format);
                c.bad = Some(m);
                set_msg(s, m);
                return Some(Z_DATA_ERROR);
            }
        }
    }
    if c.format != Format::Raw {
        s.adler = c_ulong::from(c.i.checksum());
    }
    Some(if c.done {
        s.data_type = 64;
        Z_STREAM_END
    } else if (in0 == s.avail_in && out0 == s.avail_out) || flush == Z_FINISH {
        Z_BUF_ERROR
    } else {
        Z_OK
    })
}

/// A zlib-rs inflate stream of the drop-in's own (no caller sees it), on
/// the heap so that it never moves once initialized; ended when dropped.
struct ScratchInflate(Box<z_stream>);

impl ScratchInflate {
    fn new(wbits: c_int) -> Result<Self, c_int> {
        // SAFETY: an all-zero z_stream (null allocators) is what inflateInit2_ expects.
        let mut t: Box<z_stream> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: t is a fresh stream; the version and size are zlib-rs's own.
        let init = unsafe {
            zrs::inflateInit2_(
                &mut *t,
                wbits,
                zrs::zlibVersion(),
                std::mem::size_of::<z_stream>() as c_int,
            )
        };
        if init == Z_OK {
            Ok(ScratchInflate(t))
        } else {
            Err(init)
        }
    }
}

impl std::ops::Deref for ScratchInflate {
    type Target = z_stream;
    fn deref(&self) -> &z_stream {
        &self.0
    }
}

impl std::ops::DerefMut for ScratchInflate {
    fn deref_mut(&mut self) -> &mut z_stream {
        &mut self.0
    }
}

impl Drop for ScratchInflate {
    fn drop(&mut self) {
        // SAFETY: initialized in new(), ended exactly once here.
        unsafe { zrs::inflateEnd(&mut *self.0) };
    }
}

/// Replays the input an offloaded inflate stream's engine read (`pieces`:
/// the input it consumed, then any it holds) into zlib-rs's (untouched)
/// state for `s`, and returns the output it yields beyond the `produced`
/// bytes the caller already has. The caller's visible fields are left as
/// they were.
fn replay_into_zlib(s: &mut z_stream, pieces: &[&[u8]], produced: u64) -> Result<Vec<u8>, c_int> {
    let saved = (
        s.next_in,
        s.avail_in,
        s.total_in,
        s.next_out,
        s.avail_out,
        s.total_out,
        s.msg,
    );
    let mut skip = produced;
    let mut bad = false;
    let mut extra = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut result = Ok(());
    let mut pieces = pieces.iter().filter(|p| !p.is_empty()).peekable();
    s.avail_in = 0;
    'replay: while let Some(piece) = pieces.next() {
        s.next_in = piece.as_ptr().cast_mut();
        s.avail_in = piece.len() as c_uint;
        let last = pieces.peek().is_none();
        loop {
            s.next_out = scratch.as_mut_ptr();
            s.avail_out = scratch.len() as c_uint;
            let r = sw_inflate(s, 0);
            let n = scratch.len() - s.avail_out as usize;
            let drop_n = (skip.min(n as u64)) as usize;
            skip -= drop_n as u64;
            extra.extend_from_slice(&scratch[drop_n..n]);
            match r {
                Z_STREAM_END => break 'replay,
                // This piece is used up: the next one, if any.
                Z_OK if s.avail_in == 0 && (n < scratch.len() || !last) => break,
                Z_OK => {}
                Z_BUF_ERROR if s.avail_in == 0 => break,
                Z_DATA_ERROR => {
                    // zlib-rs keeps the error (and its message) for the next
                    // call; the output before it is the caller's.
                    bad = true;
                    break 'replay;
                }
                _ => {
                    result = Err(Z_DATA_ERROR);
                    break 'replay;
                }
            }
        }
    }
    let msg = s.msg;
    (
        s.next_in,
        s.avail_in,
        s.total_in,
        s.next_out,
        s.avail_out,
        s.total_out,
        s.msg,
    ) = saved;
    if bad {
        s.msg = msg;
    }
    if skip > 0 && !bad {
        result = Err(Z_DATA_ERROR);
    }
    result.map(|()| extra)
}

/// The input an offloaded stream's engine holds: the start of the caller's
/// unconsumed input (`Inflater::input_held`).
fn held_input<'a>(s: &z_stream, i: &warpdrive::Inflater) -> &'a [u8] {
    // SAFETY: the stream's input buffer as zlib's contract describes it.
    let inp = unsafe { input(s) };
    &inp[..i.input_held().min(inp.len())]
}

/// Turns an offloaded inflate stream into a zlib-rs one at the same point.
fn demote_inflate(s: &mut z_stream, e: &mut InflateEntry) -> Result<(), c_int> {
    let InflateMode::Core(c) = &e.mode else {
        if let InflateMode::Undecided = e.mode {
            e.mode = InflateMode::Software;
        }
        return Ok(());
    };
    let Some(retained) = c.retained.as_deref() else {
        set_msg(s, c"warpdrive: stream too long to move to software");
        return Err(Z_STREAM_ERROR);
    };
    if let Some(m) = c.bad {
        set_msg(s, m);
        return Err(Z_DATA_ERROR);
    }
    if !stats::software(Why::Demoted) {
        return Err(refuse(s));
    }
    let held = held_input(s, &c.i);
    let extra = replay_into_zlib(s, &[retained, held], c.produced)?;
    e.mode = if extra.is_empty() && held.is_empty() {
        InflateMode::Software
    } else {
        InflateMode::Pending(extra, 0, held.len())
    };
    Ok(())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inflateEnd(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: strm is NULL or a caller-owned stream.
        if let Some(s) = unsafe { stream_ref(strm) } {
            if let Some(e) = stream::take(strm as usize, s.state as usize) {
                if let Entry::Inflate(InflateEntry {
                    mode: InflateMode::Core(_),
                    ..
                }) = *e
                {
                    stats::report();
                }
            }
        }
        // SAFETY: forwarded contract.
        unsafe { zrs::inflateEnd(strm) }
    })
}

/// Resets that start a new stream: the entry decides afresh (new windowBits
/// for inflateReset2).
unsafe fn inflate_reset_with(
    strm: z_streamp,
    wbits: Option<c_int>,
    f: impl FnOnce() -> c_int,
) -> c_int {
    let ret = f();
    // SAFETY: strm is NULL or a caller-owned stream.
    let Some(s) = (unsafe { stream_ref(strm) }) else {
        return ret;
    };
    let had = with_entry(
        s,
        |_| false,
        |_, e| {
            if let Entry::Inflate(i) = e {
                i.mode = InflateMode::Undecided;
                if let Some(w) = wbits {
                    i.wbits = w;
                }
            }
            true
        },
    );
    if !had && ret == Z_OK {
        if let Some(w) = wbits {
            // SAFETY: strm was just reset successfully.
            unsafe { register_inflate(strm, ret, w) };
        }
    }
    ret
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inflateReset(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract.
        unsafe { inflate_reset_with(strm, None, || zrs::inflateReset(strm)) }
    })
}

pub unsafe extern "C" fn inflateResetKeep(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract.
        unsafe { inflate_reset_with(strm, None, || zrs::inflateResetKeep(strm)) }
    })
}

pub unsafe extern "C" fn inflateReset2(strm: z_streamp, windowBits: c_int) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract.
        unsafe {
            inflate_reset_with(strm, Some(windowBits), || {
                zrs::inflateReset2(strm, windowBits)
            })
        }
    })
}

/// Before a zlib-only call on an inflate stream: an offloaded stream moves to
/// zlib-rs first; an undecided one stays in software if `block`.
/// Before a zlib-only call: an offloaded stream moves to zlib-rs. For a
/// call that reads the input (`reads_input`: inflateSync), the input the
/// core held, which zlib-rs read in the replay, is reported consumed now
/// rather than read twice.
fn inflate_prepare(s: &mut z_stream, block: bool, reads_input: bool) -> Result<(), c_int> {
    with_entry(
        s,
        |_| Ok(()),
        |s, e| match e {
            Entry::Inflate(i) => {
                if block {
                    i.blocked = true;
                }
                match i.mode {
                    InflateMode::Core(_) => demote_inflate(s, i).map(|()| {
                        if let (InflateMode::Pending(_, _, held), true) = (&mut i.mode, reads_input)
                        {
                            advance(s, (*held).min(s.avail_in as usize), 0);
                            *held = 0;
                        }
                    }),
                    InflateMode::Undecided if block => {
                        i.mode = InflateMode::Software;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
            Entry::Deflate(_) => Ok(()),
        },
    )
}

macro_rules! inflate_zlib_only {
    ($(#[$m:meta])* fn $name:ident($strm:ident: $st:ty $(, $a:ident: $t:ty)*) -> $r:ty, block = $block:expr, err = $err:expr) => {
        $(#[$m])*
        pub unsafe extern "C" fn $name($strm: $st $(, $a: $t)*) -> $r {
            boundary!($err, {
                // SAFETY: strm is NULL or a caller-owned stream.
                if let Some(s) = unsafe { stream_ref($strm as *mut z_stream) } {
                    if let Err(r) = inflate_prepare(s, $block, stringify!($name) == "inflateSync") {
                        return r as $r;
                    }
                }
                // SAFETY: forwarded contract; zlib-rs validates the stream.
                unsafe { zrs::$name($strm $(, $a)*) }
            })
        }
    };
}

inflate_zlib_only!(#[unsafe(no_mangle)] fn inflateSetDictionary(strm: z_streamp, dictionary: *const u8, dictLength: c_uint) -> c_int, block = true, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflateGetDictionary(strm: *const z_stream, dictionary: *mut u8, dictLength: *mut c_uint) -> c_int, block = false, err = Z_STREAM_ERROR);
inflate_zlib_only!(#[unsafe(no_mangle)] fn inflateSync(strm: z_streamp) -> c_int, block = false, err = Z_STREAM_ERROR);
inflate_zlib_only!(#[unsafe(no_mangle)] fn inflateSyncPoint(strm: z_streamp) -> c_int, block = false, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflatePrime(strm: z_streamp, bits: c_int, value: c_int) -> c_int, block = true, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflateGetHeader(strm: z_streamp, head: gz_headerp) -> c_int, block = true, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflateUndermine(strm: z_streamp, subvert: c_int) -> c_int, block = true, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflateValidate(strm: z_streamp, check: c_int) -> c_int, block = true, err = Z_STREAM_ERROR);
inflate_zlib_only!(fn inflateMark(strm: *const z_stream) -> c_long, block = false, err = -(1 << 16));
inflate_zlib_only!(fn inflateCodesUsed(strm: z_streamp) -> c_ulong, block = false, err = c_ulong::MAX);

pub unsafe extern "C" fn inflateCopy(dest: z_streamp, source: *const z_stream) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        // SAFETY: forwarded contract: copies zlib-rs's state and the z_stream.
        let ret = unsafe { zrs::inflateCopy(dest, source) };
        if ret != Z_OK {
            return ret;
        }
        // SAFETY: both streams are valid (zlib-rs just copied one to the other).
        let (src, dst) = unsafe { (&mut *source.cast_mut(), &mut *dest) };
        stream::remove(dest as usize);
        // The copy of an offloaded stream is a zlib-rs stream at the same point.
        let copy = with_entry(
            src,
            |_| Ok(None),
            |src, e| match e {
                Entry::Inflate(i) => match &i.mode {
                    InflateMode::Core(c) => match c.retained.as_deref() {
                        Some(r) if c.bad.is_none() => {
                            // The copy presents the same unconsumed input.
                            let held = held_input(src, &c.i);
                            replay_into_zlib(dst, &[r, held], c.produced).map(|extra| {
                                Some(if extra.is_empty() && held.is_empty() {
                                    InflateMode::Software
                                } else {
                                    InflateMode::Pending(extra, 0, held.len())
                                })
                            })
                        }
                        _ => Err(Z_MEM_ERROR),
                    },
                    InflateMode::Pending(b, p, h) => {
                        Ok(Some(InflateMode::Pending(b.clone(), *p, *h)))
                    }
                    InflateMode::Undecided => Ok(Some(InflateMode::Undecided)),
                    InflateMode::Software => Ok(None),
                }
                .map(|m| m.map(|m| (i.wbits, i.blocked, m))),
                Entry::Deflate(_) => Ok(None),
            },
        );
        match copy {
            Ok(Some((wbits, blocked, mode))) => {
                stream::insert(
                    dest as usize,
                    dst.state as usize,
                    Entry::Inflate(InflateEntry {
                        wbits,
                        blocked,
                        mode,
                    }),
                );
                Z_OK
            }
            Ok(None) => Z_OK,
            Err(r) => {
                // SAFETY: dest holds the state zlib-rs just allocated.
                unsafe { zrs::inflateEnd(dest) };
                r
            }
        }
    })
}

// ---------------------------------------------------------------------------
// inflateBack: pigz -d decodes with it alone.

pub unsafe extern "C" fn inflateBackInit_(
    strm: z_streamp,
    windowBits: c_int,
    window: *mut u8,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    boundary!(Z_MEM_ERROR, {
        // SAFETY: forwarded contract.
        let ret = unsafe { zrs::inflateBackInit_(strm, windowBits, window, version, stream_size) };
        // SAFETY: strm is NULL or the stream just initialised.
        if let Some(s) = unsafe { stream_ref(strm) } {
            stream::remove(strm as usize);
            let cfg = crate::config::get();
            // inflateBack (pigz -d) offloads raw 32 KiB-window streams.
            if INFLATE_BACK_OFFLOAD && ret == Z_OK && windowBits == 15 && cfg.enabled && cfg.inflate
            {
                let e = InflateEntry {
                    wbits: -15,
                    blocked: false,
                    mode: InflateMode::Undecided,
                };
                stream::insert(strm as usize, s.state as usize, Entry::Inflate(e));
            }
        }
        ret
    })
}

pub unsafe extern "C" fn inflateBack(
    strm: z_streamp,
    in_: Option<in_func>,
    in_desc: *mut c_void,
    out: Option<out_func>,
    out_desc: *mut c_void,
) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        let fwd = || {
            // SAFETY: forwarded contract.
            unsafe { zrs::inflateBack(strm, in_, in_desc, out, out_desc) }
        };
        // SAFETY: strm is NULL or a caller-owned stream.
        let Some(s) = (unsafe { stream_ref(strm) }) else {
            return fwd();
        };
        let (Some(in_f), Some(out_f)) = (in_, out) else {
            return fwd();
        };
        let offload = with_entry(
            s,
            |_| false,
            |_, e| matches!(e, Entry::Inflate(InflateEntry { blocked: false, .. })),
        );
        let cfg = crate::config::get();
        let why = if cfg.enabled && cfg.inflate {
            Why::Params
        } else {
            Why::Off
        };
        if !offload {
            if !stats::software(why) {
                return Z_STREAM_ERROR;
            }
            return fwd();
        }
        let Ok(mut inf) = warpdrive::Inflater::new(Format::Raw) else {
            if !stats::software(Why::Fallback) {
                return Z_STREAM_ERROR;
            }
            return fwd();
        };
        stats::bump(&COUNTERS.inflate_streams_offloaded);
        // SAFETY: in/out callbacks and buffers per inflateBack's contract.
        let r = unsafe { inflate_back_core(s, &mut inf, in_f, in_desc, out_f, out_desc) };
        stats::report();
        r
    })
}

/// The next input from inflateBack's in() callback; None at its end.
///
/// # Safety
/// `in_f` and `in_desc` are the caller's, per inflateBack's contract.
unsafe fn back_input(in_f: in_func, in_desc: *mut c_void) -> Option<(*const u8, usize)> {
    let mut p: *mut u8 = std::ptr::null_mut();
    // SAFETY: the caller's in() callback, called as zlib calls it.
    let n = unsafe { in_f(in_desc, (&mut p as *mut *mut u8).cast()) } as usize;
    (n > 0 && !p.is_null()).then_some((p.cast_const(), n))
}

/// Hands `bytes` to inflateBack's out() callback a window at most at a time,
/// as zlib does (callers size their copies for that: pigz's outb). True if
/// out() refused.
///
/// # Safety
/// `out_f` and `out_desc` are the caller's, per inflateBack's contract.
unsafe fn back_output(out_f: out_func, out_desc: *mut c_void, bytes: &mut [u8]) -> bool {
    bytes.chunks_mut(INFLATE_BACK_WINDOW).any(|chunk| {
        // SAFETY: out() gets `chunk.len()` bytes of our buffer.
        unsafe { out_f(out_desc, chunk.as_mut_ptr(), chunk.len() as c_uint) != 0 }
    })
}

/// inflateBack through the core: input from `in_f`, output handed to `out_f`
/// a window at most at a time. A device failure mid-stream goes on in
/// software from the retained input (`inflate_back_software`); past
/// RETAIN_MAX of input it is a Z_BUF_ERROR.
unsafe fn inflate_back_core(
    s: &mut z_stream,
    inf: &mut warpdrive::Inflater,
    in_f: in_func,
    in_desc: *mut c_void,
    out_f: out_func,
    out_desc: *mut c_void,
) -> c_int {
    // Decoded output goes to out() while the engine decodes the next piece:
    // `ready[..ready_len]` waits for that, `buf` takes the next piece.
    let mut buf = vec![0u8; 256 * 1024];
    let mut ready = vec![0u8; 256 * 1024];
    let mut ready_len = 0;
    let (mut next, mut have): (*const u8, usize) = if s.next_in.is_null() {
        (std::ptr::null(), 0)
    } else {
        (s.next_in, s.avail_in as usize)
    };
    let leave = |s: &mut z_stream, next: *const u8, have: usize, r: c_int| {
        s.next_in = next.cast_mut();
        s.avail_in = have as c_uint;
        r
    };
    // The engine may hold output that did not fit: collect it before asking
    // in() for more input (at the end of the input there is none).
    let mut output_pending = false;
    // What a software continuation needs if the device fails mid-stream: the
    // input the engine consumed (None past RETAIN_MAX) and the output out()
    // already has.
    let mut retained: Option<Vec<u8>> = Some(Vec::new());
    let mut delivered: u64 = 0;
    loop {
        if have == 0 && !output_pending {
            // SAFETY: forwarded inflateBack contract.
            let Some(input) = (unsafe { back_input(in_f, in_desc) }) else {
                // SAFETY: forwarded inflateBack contract.
                unsafe { back_output(out_f, out_desc, &mut ready[..ready_len]) };
                return leave(s, std::ptr::null(), 0, Z_BUF_ERROR);
            };
            (next, have) = input;
        }
        let inp = if have == 0 {
            &[][..]
        } else {
            // SAFETY: in() returned `have` readable bytes at `next`, valid
            // until the next in() call, which comes after this request.
            unsafe { std::slice::from_raw_parts(next, have) }
        };
        let (r, refused) = inf.inflate_while(inp, &mut buf, || {
            // SAFETY: forwarded inflateBack contract.
            unsafe { back_output(out_f, out_desc, &mut ready[..ready_len]) }
        });
        delivered += ready_len as u64;
        match r {
            Ok(p) => {
                let consumed = p.consumed.min(have);
                if let Some(r) = &mut retained {
                    if r.len() + consumed > RETAIN_MAX {
                        retained = None;
                    } else {
                        r.extend_from_slice(&inp[..consumed]);
                    }
                }
                next = next.wrapping_add(consumed);
                have -= consumed;
                output_pending = !p.done && p.produced == buf.len();
                stats::bump(&COUNTERS.stream_calls_offloaded);
                stats::add_bytes(consumed, p.produced);
                if refused {
                    return leave(s, next, have, Z_BUF_ERROR);
                }
                std::mem::swap(&mut buf, &mut ready);
                ready_len = p.produced;
                if p.done {
                    // SAFETY: forwarded inflateBack contract.
                    if unsafe { back_output(out_f, out_desc, &mut ready[..ready_len]) } {
                        return leave(s, next, have, Z_BUF_ERROR);
                    }
                    return leave(s, next, have, Z_STREAM_END);
                }
                if consumed == 0 && p.produced == 0 && (have > 0 || output_pending) {
                    set_msg(s, c"invalid block type");
                    return leave(s, next, have, Z_DATA_ERROR);
                }
            }
            Err(_) if refused => return leave(s, next, have, Z_BUF_ERROR),
            Err(e) if e.is_device_failure() => {
                if !stats::software(Why::Fallback) {
                    set_msg(s, stats::REFUSED_MSG);
                    return leave(s, next, have, Z_BUF_ERROR);
                }
                let Some(retained) = retained else {
                    set_msg(s, c"warpdrive: stream too long to move to software");
                    return leave(s, next, have, Z_BUF_ERROR);
                };
                // SAFETY: forwarded inflateBack contract.
                return unsafe {
                    inflate_back_software(
                        s,
                        &retained,
                        delivered,
                        (next, have, inf.input_held()),
                        (in_f, in_desc),
                        (out_f, out_desc),
                    )
                };
            }
            Err(e) => {
                let Some(retained) = retained else {
                    set_msg(s, data_error_msg(&e, Format::Raw));
                    return leave(s, next, have, Z_DATA_ERROR);
                };
                // zlib hands out everything before the damage: zlib-rs
                // decodes up to it from the same input and names it (not in
                // strict mode: the core's verdict stands).
                if !stats::software(Why::Fallback) {
                    set_msg(s, data_error_msg(&e, Format::Raw));
                    return leave(s, next, have, Z_DATA_ERROR);
                }
                // SAFETY: forwarded inflateBack contract.
                return unsafe {
                    inflate_back_software(
                        s,
                        &retained,
                        delivered,
                        (next, have, inf.input_held()),
                        (in_f, in_desc),
                        (out_f, out_desc),
                    )
                };
            }
        }
    }
}

/// An offloaded inflateBack whose device failed mid-stream goes on in
/// software: zlib-rs replays the retained input (`replay_into_zlib`), out()
/// gets only what it has not had, then decoding continues with the caller's
/// input as zlib's inflateBack would.
unsafe fn inflate_back_software(
    s: &mut z_stream,
    retained: &[u8],
    delivered: u64,
    (mut next, mut have, held): (*const u8, usize, usize),
    (in_f, in_desc): (in_func, *mut c_void),
    (out_f, out_desc): (out_func, *mut c_void),
) -> c_int {
    let mut t = match ScratchInflate::new(-15) {
        Ok(t) => t,
        Err(init) => return init,
    };
    let mut run = || -> Result<c_int, c_int> {
        // The engine also read the first `held` bytes of the current input.
        let held = held.min(have);
        let held_bytes = if held == 0 {
            &[][..]
        } else {
            // SAFETY: in() returned `have` >= `held` readable bytes at `next`.
            unsafe { std::slice::from_raw_parts(next, held) }
        };
        let mut extra = replay_into_zlib(&mut t, &[retained, held_bytes], delivered)?;
        (next, have) = (next.wrapping_add(held), have - held);
        // SAFETY: forwarded inflateBack contract.
        if unsafe { back_output(out_f, out_desc, &mut extra) } {
            return Err(Z_BUF_ERROR);
        }
        let mut window = vec![0u8; INFLATE_BACK_WINDOW];
        loop {
            if have == 0 {
                // SAFETY: forwarded inflateBack contract.
                let Some(input) = (unsafe { back_input(in_f, in_desc) }) else {
                    next = std::ptr::null();
                    return Err(Z_BUF_ERROR);
                };
                (next, have) = input;
            }
            t.next_in = next.cast_mut();
            t.avail_in = have as c_uint;
            t.next_out = window.as_mut_ptr();
            t.avail_out = window.len() as c_uint;
            let r = sw_inflate(&mut t, 0);
            (next, have) = (t.next_in, t.avail_in as usize);
            let n = window.len() - t.avail_out as usize;
            // SAFETY: forwarded inflateBack contract.
            if unsafe { back_output(out_f, out_desc, &mut window[..n]) } {
                return Err(Z_BUF_ERROR);
            }
            match r {
                Z_STREAM_END => return Ok(Z_STREAM_END),
                Z_OK => {}
                Z_BUF_ERROR if have == 0 => {}
                _ => {
                    if !t.msg.is_null() {
                        s.msg = t.msg;
                    }
                    return Err(Z_DATA_ERROR);
                }
            }
        }
    };
    let result = run().unwrap_or_else(|e| e);
    s.next_in = next.cast_mut();
    s.avail_in = have as c_uint;
    result
}

pub unsafe extern "C" fn inflateBackEnd(strm: z_streamp) -> c_int {
    boundary!(Z_STREAM_ERROR, {
        stream::remove(strm as usize);
        // SAFETY: forwarded contract.
        unsafe { zrs::inflateBackEnd(strm) }
    })
}

// ---------------------------------------------------------------------------
// one-shot calls

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
