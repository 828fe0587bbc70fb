//! Safe per-stream state: which streams the core serves, zlib's return-code
//! rules for them, and the table that maps a `z_stream` to that state.
//!
//! `z_stream.state` always belongs to the embedded zlib-rs, initialised by
//! the Init call exactly as zlib would, so every call that is not offloaded is
//! simply forwarded. A stream whose parameters an engine can serve also gets
//! an entry here (keyed by the `z_stream` address, checked against the
//! zlib-rs state pointer); the first `deflate()`/`inflate()` call with data
//! decides whether its data goes to the core or stays in zlib-rs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use warpdrive::{Deflater, Flush, Format, Inflater};

pub const Z_NO_FLUSH: i32 = 0;
pub const Z_PARTIAL_FLUSH: i32 = 1;
pub const Z_SYNC_FLUSH: i32 = 2;
pub const Z_FULL_FLUSH: i32 = 3;
pub const Z_FINISH: i32 = 4;
pub const Z_BLOCK: i32 = 5;

/// Inflate input kept for a replay into zlib-rs (inflateCopy, inflateSync, a
/// device failure): streams that grow past it can no longer be demoted.
pub const RETAIN_MAX: usize = 64 << 20;

/// The format a deflate `windowBits` asks for, when an engine can serve it
/// (engines use a 32 KiB window; smaller windows are zlib-compatible output
/// only for decoders with windows that large, so they stay in software).
pub fn deflate_format(wbits: i32) -> Option<Format> {
    match wbits {
        15 => Some(Format::Zlib),
        -15 => Some(Format::Raw),
        31 => Some(Format::Gzip),
        _ => None,
    }
}

/// The format an inflate `windowBits` asks for: `Some(None)` means automatic
/// zlib/gzip detection (32 + n), decided on the first bytes.
pub fn inflate_format(wbits: i32) -> Option<Option<Format>> {
    match wbits {
        15 | 0 => Some(Some(Format::Zlib)),
        -15 => Some(Some(Format::Raw)),
        31 => Some(Some(Format::Gzip)),
        47 | 32 => Some(None),
        _ => None,
    }
}

/// Whether the start of `input` is a header an engine serves the same way zlib
/// would: zlib with a 32 KiB window and no preset dictionary; gzip with the
/// magic and method 8. `None`: not enough bytes to tell.
pub fn header_ok(format: Option<Format>, input: &[u8]) -> Option<(bool, Format)> {
    if input.len() < 2 {
        return None;
    }
    let gzip = input[0] == 0x1f && input[1] == 0x8b;
    let format = match format {
        Some(f) => f,
        None if gzip => Format::Gzip,
        None => Format::Zlib,
    };
    let ok = match format {
        Format::Raw => true,
        Format::Zlib => {
            let (cmf, flg) = (input[0], input[1]);
            cmf == 0x78 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0 && flg & 0x20 == 0
        }
        Format::Gzip => gzip && input.len() >= 3 && input[2] == 8,
    };
    Some((ok, format))
}

pub fn core_flush(flush: i32) -> Flush {
    match flush {
        Z_NO_FLUSH => Flush::None,
        // A sync flush ends the block and more: output that a Z_PARTIAL_FLUSH
        // or Z_BLOCK caller can decode just the same.
        Z_PARTIAL_FLUSH | Z_SYNC_FLUSH | Z_BLOCK => Flush::Sync,
        Z_FULL_FLUSH => Flush::Full,
        _ => Flush::Finish,
    }
}

/// zlib's RANK(): orders flush values for the "nothing to do" check.
pub fn rank(f: i32) -> i32 {
    f * 2 - if f > 4 { 9 } else { 0 }
}

pub struct CoreDeflate {
    pub d: Deflater,
    pub format: Format,
    pub last_flush: i32,
    /// deflate(Z_FINISH) was called: zlib's FINISH_STATE.
    pub finishing: bool,
    pub done: bool,
    pub consumed: u64,
    pub produced: u64,
    /// Input gathered before the decision, fed to the core before the
    /// caller's (from `carry_pos` on); already counted in `total_in`.
    pub carry: Vec<u8>,
    pub carry_pos: usize,
}

pub enum DeflateMode {
    Undecided,
    /// Offloadable, and fed `Z_NO_FLUSH` pieces adding up to less than
    /// `WARPDRIVE_ZLIB_MIN` so far: they are taken here and the decision
    /// waits for more (python's 8 KiB writes, pg_dump, git's header).
    Gathering(Vec<u8>),
    Software,
    /// Decided for zlib-rs after gathering: the gathered bytes go into
    /// zlib-rs (from the position on) before any of the caller's.
    Replay(Vec<u8>, usize),
    Core(Box<CoreDeflate>),
}

pub struct DeflateEntry {
    pub level: i32,
    pub wbits: i32,
    pub mem_level: i32,
    pub strategy: i32,
    /// A dictionary, deflatePrime, a gzip header or deflateTune: software only
    /// (until deflateReset, which forgets all but the gzip header).
    pub blocked: bool,
    /// deflateSetHeader was called: survives deflateReset, as in zlib.
    pub gzhead: bool,
    /// A raw stream's dictionary (its last 32 KiB), set before any data:
    /// zlib-rs has it too, and the core starts from it (pigz's blocks).
    pub dict: Option<Vec<u8>>,
    pub mode: DeflateMode,
}

impl DeflateEntry {
    /// The format and core level this stream can be offloaded with.
    pub fn offloadable(&self) -> Option<(Format, u32)> {
        let level = if self.level == -1 { 6 } else { self.level };
        let cfg = crate::config::get();
        (cfg.enabled
            && cfg.deflate
            && !self.blocked
            && self.strategy == 0
            && (1..=9).contains(&self.mem_level)
            && level >= 1
            && cfg.level_ok(level))
        .then_some(())
        .and(deflate_format(self.wbits))
        .map(|f| (f, level as u32))
    }
}

pub struct CoreInflate {
    pub i: Inflater,
    pub format: Format,
    pub done: bool,
    /// Set after a data error: every later call fails the same way (zlib's BAD).
    pub bad: Option<&'static std::ffi::CStr>,
    /// All input the core consumed, for a replay into zlib-rs; None past RETAIN_MAX.
    pub retained: Option<Vec<u8>>,
    pub produced: u64,
}

pub enum InflateMode {
    Undecided,
    Software,
    Core(Box<CoreInflate>),
    /// Demoted to zlib-rs; output zlib-rs produced during the replay beyond
    /// what the caller had already received, delivered first (buffer, how
    /// much is out). Then the input the core held (`Inflater::input_held`),
    /// which zlib-rs read in the replay and the caller presents again: it
    /// is reported consumed once the output is out.
    Pending(Vec<u8>, usize, usize),
}

pub struct InflateEntry {
    pub wbits: i32,
    /// A dictionary, inflateGetHeader, inflatePrime, inflateValidate(0)...
    pub blocked: bool,
    pub mode: InflateMode,
}

impl InflateEntry {
    pub fn offloadable(&self) -> Option<Option<Format>> {
        let cfg = crate::config::get();
        if !cfg.enabled || !cfg.inflate || self.blocked {
            return None;
        }
        inflate_format(self.wbits)
    }
}

pub enum Entry {
    Deflate(DeflateEntry),
    Inflate(InflateEntry),
}

/// One table entry: the zlib-rs state it belongs to, and its offload state.
struct Slot {
    state: usize,
    entry: Box<Entry>,
}

static TABLE: Mutex<Option<HashMap<usize, Slot>>> = Mutex::new(None);
/// Entries in TABLE: calls on streams skip the lock while it is zero.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn with_table<R>(f: impl FnOnce(&mut HashMap<usize, Slot>) -> R) -> R {
    let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    let r = f(map);
    COUNT.store(map.len(), Ordering::Release);
    r
}

/// Registers (or replaces) the entry of the stream at `strm` whose zlib-rs
/// state is `state`.
pub fn insert(strm: usize, state: usize, entry: Entry) {
    with_table(|m| {
        m.insert(
            strm,
            Slot {
                state,
                entry: Box::new(entry),
            },
        );
    });
}

/// Takes the entry out while a call works on it (the lock is not held during
/// compression). A stale entry (the memory now holds another stream) is dropped.
pub fn take(strm: usize, state: usize) -> Option<Box<Entry>> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    with_table(|m| match m.remove(&strm) {
        Some(slot) if slot.state == state => Some(slot.entry),
        _ => None,
    })
}

/// Puts an entry back after a call.
pub fn put(strm: usize, state: usize, entry: Box<Entry>) {
    with_table(|m| {
        m.insert(strm, Slot { state, entry });
    });
}

/// Forgets the stream at `strm` (End, or a new Init over it).
pub fn remove(strm: usize) {
    if COUNT.load(Ordering::Acquire) == 0 {
        return;
    }
    with_table(|m| {
        m.remove(&strm);
    });
}

/// zlib's inflate error messages.
const KNOWN_MESSAGES: &[&std::ffi::CStr] = &[
    c"incorrect length check",
    c"incorrect data check",
    c"invalid block type",
    c"invalid stored block lengths",
    c"too many length or distance symbols",
    c"invalid code lengths set",
    c"invalid bit length repeat",
    c"invalid code -- missing end-of-block",
    c"invalid literal/lengths set",
    c"invalid distances set",
    c"invalid literal/length code",
    c"invalid distance code",
    c"invalid distance too far back",
    c"incorrect header check",
    c"unknown compression method",
    c"invalid window size",
    c"unknown header flags set",
    c"header crc mismatch",
];

/// zlib's message for an engine error, as a static C string.
pub fn data_error_msg(e: &warpdrive::Error, format: Format) -> &'static std::ffi::CStr {
    use warpdrive::Error;
    match e {
        Error::ChecksumMismatch => c"incorrect data check",
        Error::DataError(s) => KNOWN_MESSAGES
            .iter()
            .find(|k| k.to_str().is_ok_and(|k| s.contains(k)))
            .copied()
            .unwrap_or(match format {
                Format::Raw => c"invalid block type",
                _ => c"invalid compressed data",
            }),
        _ => c"invalid compressed data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            header_ok(Some(Format::Zlib), &[0x78, 0x9c]).map(|h| h.0),
            Some(true)
        );
        assert_eq!(
            header_ok(Some(Format::Zlib), &[0x78, 0xbb]).map(|h| h.0),
            Some(false)
        );
        assert_eq!(header_ok(Some(Format::Zlib), &[0x78]), None);
        assert!(matches!(
            header_ok(None, &[0x1f, 0x8b, 8]),
            Some((true, Format::Gzip))
        ));
        assert_eq!(rank(Z_FINISH), 8);
        assert_eq!(rank(Z_BLOCK), 1);
    }
}
