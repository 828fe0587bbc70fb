//! The deflate entry points: Init, deflate, End, Reset, Params, the calls
//! only zlib-rs serves, Bound and Copy; the offload decision and the core
//! engine's deflate behind them.

use super::*;

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
pub(super) fn refuse(s: &mut z_stream) -> c_int {
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
