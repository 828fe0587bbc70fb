//! The inflate entry points: Init, inflate, End, Reset, the calls only
//! zlib-rs serves and Copy; the core engine's inflate and its demotion to
//! zlib-rs mid-stream; inflateBack, with its offloaded and software paths.

use super::*;

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
