//! Deflate in raw, zlib and gzip framing: one-shot (ISA-L, libdeflate) and streaming
//! (zlib-rs, with zlib's exact contract).

use std::cell::RefCell;
use std::ptr::NonNull;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use libdeflate_sys as ld;

use crate::isal_deflate::IsalDeflate;
use crate::isal_inflate::IsalInflate;
use crate::{Outcome, Result, Status};

/// The framing around the deflate data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Bare deflate (RFC 1951); the checksum reported is CRC-32.
    Raw,
    /// zlib (RFC 1950): 2-byte header, Adler-32 trailer.
    Zlib,
    /// gzip (RFC 1952): 10-byte header, CRC-32 and ISIZE trailer.
    Gzip,
}

/// zlib's flush values for [`DeflateStream::run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flush {
    /// `Z_NO_FLUSH`.
    None,
    /// `Z_SYNC_FLUSH`: end on a byte boundary with an empty stored block.
    Sync,
    /// `Z_FULL_FLUSH`: like `Sync`, and later data does not refer back.
    Full,
    /// `Z_FINISH`: write the last block and the trailer; repeat until `stream_end`.
    Finish,
}

/// The engine serving a one-shot compression level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// ISA-L igzip at the given ISA-L level.
    Isal(u32),
    /// libdeflate at the given libdeflate level (0 = stored blocks).
    Libdeflate(u32),
}

/// The zlib-rs level whose output is no larger than zlib's at `level` (streams
/// and the drop-in's software path).
///
/// zlib-rs is not zlib: its levels 2-5 are other strategies, and their sizes
/// against zlib's depend on the data. Measured 8 KiB `Z_NO_FLUSH` pieces and
/// 128 KiB sync flushes over the first 1 MiB of generated text
/// (`zlib-shim/tests/programs.rs`) and of each corpus file: zlib-rs 2, 3 and 5
/// were up to 1.6% larger than zlib 2, 3 and 5 on the text; zlib-rs 3 is
/// smaller than zlib 2 on every input measured, zlib-rs 7 smaller than zlib
/// 3-6 on all but silesia-ooffice (+0.13% at 4, +1.3% at 5, +1.8% at 6);
/// zlib-rs 9 is within 0.01% of zlib 8 and 9 on the text, +0.6% at 9 on cc.tar.
/// Only zlib's own algorithm is exact; this mapping is the nearest zlib-rs has.
pub fn zlib_rs_level(level: u32) -> u32 {
    match level {
        1 => 2,
        2 => 3,
        3..=6 => 7,
        8 => 9,
        l => l,
    }
}

/// Which engine and engine level one-shot [`compress`] uses for a zlib level.
///
/// Measured with `cargo run --release --example corpus_bench -- <corpus> --candidates`
/// over the project corpus (97.5 MB): for each zlib level, the fastest engine level
/// whose total compressed size is at least 1% smaller than system zlib's at that
/// level. Level 1 was ISA-L 1 (1.1% smaller on the corpus at 4.3x zlib's
/// speed) but 0.19% larger than zlib 1 on dickens+xml+osdb; libdeflate 1
/// makes the corpus 27,238,445 bytes against zlib's 29,439,682 (python's
/// zlib.compress, each file whole) at 3.3x zlib's speed. Level 9 keeps
/// libdeflate 9 as "best": libdeflate 10-12 are slower than zlib -9 itself.
///
/// | zlib level | zlib ratio | engine | engine ratio |
/// |---|---|---|---|
/// | 0 | 1.000 | libdeflate 0 (stored) | 1.000 |
/// | 1 | 3.312 | libdeflate 1 | 3.580 |
/// | 2 | 3.440 | ISA-L 3 | 3.505 |
/// | 3 | 3.580 | libdeflate 2 | 3.697 |
/// | 4 | 3.696 | libdeflate 3 | 3.761 |
/// | 5 | 3.833 | libdeflate 5 | 3.902 |
/// | 6 | 3.916 | libdeflate 6 | 3.958 |
/// | 7 | 3.940 | libdeflate 7 | 3.988 |
/// | 8 | 3.968 | libdeflate 8 | 4.024 |
/// | 9 | 3.976 | libdeflate 9 | 4.030 |
pub fn engine_for_level(level: u32) -> Result<Engine> {
    Ok(match level {
        0 => Engine::Libdeflate(0),
        1 => Engine::Libdeflate(1),
        2 => Engine::Isal(3),
        3 => Engine::Libdeflate(2),
        4 => Engine::Libdeflate(3),
        5 => Engine::Libdeflate(5),
        6 => Engine::Libdeflate(6),
        7 => Engine::Libdeflate(7),
        8 => Engine::Libdeflate(8),
        9 => Engine::Libdeflate(9),
        _ => return Err(Status::InvalidParam),
    })
}

fn wrapper_len(format: Format) -> usize {
    match format {
        Format::Raw => 0,
        Format::Zlib => 6,
        Format::Gzip => 18,
    }
}

/// `format`'s running check, as the streaming engines report it (Adler-32
/// for zlib, CRC-32 for gzip and raw), of the data `value` covers followed
/// by `data`: libdeflate's vectorized sums, chained like zlib's.
pub fn update_check(format: Format, value: u32, data: &[u8]) -> u32 {
    let (ptr, len) = (data.as_ptr().cast(), data.len());
    // SAFETY: `ptr` and `len` describe `data`, which libdeflate only reads.
    unsafe {
        match format {
            Format::Zlib => ld::libdeflate_adler32(value, ptr, len),
            _ => ld::libdeflate_crc32(value, ptr, len),
        }
    }
}

/// An output size that always holds [`compress`]'s result for `len` input bytes
/// at any level (covers libdeflate's and ISA-L's worst cases: stored blocks).
pub fn compress_bound(format: Format, len: usize) -> usize {
    // Stored blocks of at least 16 KiB cost 5 bytes each; ISA-L may also end with a
    // short Huffman block and pad to a 64-bit boundary. 64 bytes of slack cover both.
    len.saturating_add(5 * (len / 16_384 + 1))
        .saturating_add(64)
        .saturating_add(wrapper_len(format))
}

/// Compresses all of `src` into `dst` as one complete stream.
///
/// `Err(DstTooSmall { needed: compress_bound(..) })` when the result does not fit.
pub fn compress(format: Format, level: u32, src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
    let engine = engine_for_level(level)?;
    let produced = match engine {
        Engine::Isal(l) => match isal_compress(format, l, src, dst) {
            Some(n) => n,
            // ISA-L's stateless encoder overflowed: libdeflate's level 1 has a
            // stored-block fallback that fits whenever dst >= compress_bound.
            None => libdeflate_compress(format, 1, src, dst)?,
        },
        Engine::Libdeflate(l) => libdeflate_compress(format, l, src, dst)?,
    };
    let out = &dst[..produced];
    let checksum = match format {
        // The trailers carry the checksum the engine computed; no second pass.
        Format::Zlib => u32::from_be_bytes(tail::<4>(out, 0)),
        Format::Gzip => u32::from_le_bytes(tail::<4>(out, 4)),
        Format::Raw => libdeflater::crc32(src),
    };
    Ok(Outcome {
        produced,
        consumed: src.len(),
        checksum,
        ..Outcome::default()
    })
}

/// The most history a segment may carry: deflate's window.
pub const SEGMENT_HISTORY_MAX: usize = 32 << 10;

/// An output size that always holds [`compress_segment`]'s result.
pub fn segment_bound(len: usize) -> usize {
    // zlib-rs and ISA-L fall back to stored blocks (5 bytes per 16 KiB at
    // worst); the sync marker or final block adds at most 10 more.
    len.saturating_add(5 * (len / 16_384 + 1))
        .saturating_add(64)
}

thread_local! {
    /// Raw deflate streams by zlib level, reset for each segment: a zlib-rs
    /// stream is ~270 KiB of tables an engine should not allocate per request.
    static SEGMENT_STREAMS: RefCell<Vec<Option<DeflateStream>>> = const { RefCell::new(Vec::new()) };
}

/// Compresses `src` as one piece of a longer raw deflate stream, the way
/// pigz splits a stream across threads: `history` is up to 32 KiB of the data
/// just before `src` (matches may refer into it), and the output ends on a
/// byte boundary with an empty stored block, so pieces compressed anywhere,
/// in any order, concatenate into one valid stream. With `last` the piece
/// ends the stream instead (its last block is marked final).
///
/// The streaming level map applies (`DeflateStream::new`): level 1 is ISA-L,
/// the others zlib-rs, so the total size is what one stream flushed at each
/// piece would make. `Err(DstTooSmall)` names [`segment_bound`].
pub fn compress_segment(
    level: u32,
    history: &[u8],
    src: &[u8],
    dst: &mut [u8],
    last: bool,
) -> Result<Outcome> {
    if level > 9 || history.len() > SEGMENT_HISTORY_MAX {
        return Err(Status::InvalidParam);
    }
    SEGMENT_STREAMS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let s = cached(&mut cache, level, || DeflateStream::new(Format::Raw, level))?;
        s.reset();
        if !history.is_empty() {
            s.set_dictionary(history)?;
        }
        let flush = if last { Flush::Finish } else { Flush::Sync };
        let o = s.run(src, dst, flush)?;
        let complete = o.consumed == src.len()
            && if last {
                o.stream_end
            } else {
                !o.more_output && o.produced < dst.len()
            };
        if !complete {
            return Err(Status::DstTooSmall {
                needed: segment_bound(src.len()),
            });
        }
        Ok(Outcome {
            stream_end: false,
            more_output: false,
            ..o
        })
    })
}

/// The 4 bytes that end `back` bytes before the end of `buf` (zeros if too short).
fn tail<const N: usize>(buf: &[u8], back: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if buf.len() >= N + back {
        out.copy_from_slice(&buf[buf.len() - back - N..buf.len() - back]);
    }
    out
}

fn isal_compress(format: Format, level: u32, src: &[u8], dst: &mut [u8]) -> Option<usize> {
    let codec = match format {
        Format::Raw => isal::Codec::Deflate,
        Format::Zlib => isal::Codec::Zlib,
        Format::Gzip => isal::Codec::Gzip,
    };
    let level = match level {
        0 => isal::CompressionLevel::Zero,
        1 => isal::CompressionLevel::One,
        _ => isal::CompressionLevel::Three,
    };
    // ISA-L counts lengths in u32.
    if src.len() > u32::MAX as usize / 2 {
        return None;
    }
    let dst_len = dst.len().min(u32::MAX as usize);
    isal::compress_into(src, &mut dst[..dst_len], level, codec).ok()
}

thread_local! {
    /// libdeflate compressors by libdeflate level, allocated on first use per thread.
    static COMPRESSORS: RefCell<Vec<Option<libdeflater::Compressor>>> =
        const { RefCell::new(Vec::new()) };
    static DECOMPRESSOR: RefCell<Option<LdDecompressor>> = const { RefCell::new(None) };
}

/// A thread's engine for `level`, made on first use.
fn cached<T>(
    cache: &mut Vec<Option<T>>,
    level: u32,
    make: impl FnOnce() -> Result<T>,
) -> Result<&mut T> {
    let idx = level as usize;
    if cache.len() <= idx {
        cache.resize_with(idx + 1, || None);
    }
    match &mut cache[idx] {
        Some(t) => Ok(t),
        slot => Ok(slot.insert(make()?)),
    }
}

fn libdeflate_compress(format: Format, level: u32, src: &[u8], dst: &mut [u8]) -> Result<usize> {
    COMPRESSORS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let c = cached(&mut cache, level, || {
            let lvl =
                libdeflater::CompressionLvl::new(level as i32).map_err(|_| Status::InvalidParam)?;
            Ok(libdeflater::Compressor::new(lvl))
        })?;
        let r = match format {
            Format::Raw => c.deflate_compress(src, dst),
            Format::Zlib => c.zlib_compress(src, dst),
            Format::Gzip => c.gzip_compress(src, dst),
        };
        r.map_err(|_| Status::DstTooSmall {
            needed: compress_bound(format, src.len()),
        })
    })
}

/// A libdeflate decompressor owned by one thread. libdeflater's wrapper does not
/// expose the `_ex` calls that report how much input a stream used, so this one
/// calls libdeflate directly.
struct LdDecompressor(NonNull<ld::libdeflate_decompressor>);

impl LdDecompressor {
    fn new() -> Result<Self> {
        // SAFETY: no preconditions; returns a new object or NULL.
        let p = unsafe { ld::libdeflate_alloc_decompressor() };
        NonNull::new(p).map(LdDecompressor).ok_or(Status::NoMemory)
    }

    /// Returns (consumed, produced) or libdeflate's result code.
    fn run(
        &mut self,
        format: Format,
        src: &[u8],
        dst: &mut [u8],
    ) -> std::result::Result<(usize, usize), u32> {
        let mut in_used = 0usize;
        let mut out_made = 0usize;
        let f = match format {
            Format::Raw => ld::libdeflate_deflate_decompress_ex,
            Format::Zlib => ld::libdeflate_zlib_decompress_ex,
            Format::Gzip => ld::libdeflate_gzip_decompress_ex,
        };
        // SAFETY: self.0 is a live decompressor used by this thread only; src and
        // dst are valid for their lengths and do not overlap (& vs &mut); libdeflate
        // writes at most dst.len() bytes into dst and the two counters.
        let r = unsafe {
            f(
                self.0.as_ptr(),
                src.as_ptr().cast(),
                src.len(),
                dst.as_mut_ptr().cast(),
                dst.len(),
                &mut in_used,
                &mut out_made,
            )
        };
        #[allow(clippy::unnecessary_cast)]
        if r as u32 == ld::libdeflate_result_LIBDEFLATE_SUCCESS as u32
            && out_made <= dst.len()
            && in_used <= src.len()
        {
            Ok((in_used, out_made))
        } else {
            Err(r as u32)
        }
    }
}

impl Drop for LdDecompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once here.
        unsafe { ld::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Decompresses one whole stream from the start of `src` into `dst`.
///
/// `consumed` tells where the stream ended (bytes after it are not looked at).
/// Errors: `DstTooSmall` (needed = gzip ISIZE when `src` ends with the stream's
/// trailer, else 0); `ChecksumMismatch` for a bad Adler-32/CRC-32/ISIZE;
/// `DataError` for anything else corrupt or truncated.
pub fn decompress(format: Format, src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
    if format == Format::Raw {
        // libdeflate accepted a raw stream zlib refuses (a fuzzer found one:
        // an invalid literal/length code in a fixed-Huffman block); zlib and
        // gzip streams would also need a matching checksum. Raw deflate
        // carries none, so it goes to the exact decoder directly.
        return decompress_exact(format, src, dst);
    }
    let r = DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(LdDecompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => Ok(d.run(format, src, dst)),
            None => Err(Status::Internal),
        }
    })?;
    match r {
        Ok((consumed, produced)) => {
            let stream = &src[..consumed];
            let checksum = match format {
                Format::Zlib => u32::from_be_bytes(tail::<4>(stream, 0)),
                Format::Gzip => u32::from_le_bytes(tail::<4>(stream, 4)),
                Format::Raw => libdeflater::crc32(&dst[..produced]),
            };
            Ok(Outcome {
                produced,
                consumed,
                checksum,
                ..Outcome::default()
            })
        }
        #[allow(clippy::unnecessary_cast)]
        Err(code) if code == ld::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as u32 => {
            // Make sure the data is otherwise sound before asking for more room.
            match classify(format, src) {
                Ok(total) => Err(Status::DstTooSmall { needed: total }),
                Err(e) => Err(e),
            }
        }
        // libdeflate (patched, vendor/README.md) refuses a little more than
        // zlib does: the exact decoder gives zlib's verdict.
        Err(_) => decompress_exact(format, src, dst),
    }
}

/// Slow path after libdeflate failed: runs zlib-rs over `src` (output discarded)
/// to tell a checksum mismatch from other corruption. Returns the uncompressed
/// size if the stream is sound.
fn classify(format: Format, src: &[u8]) -> Result<usize> {
    let mut d = new_decompress(format);
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        let before_in = d.total_in() as usize;
        let before_out = d.total_out();
        let r = d.decompress(&src[before_in..], &mut scratch, FlushDecompress::None);
        match r {
            Ok(flate2::Status::StreamEnd) => return Ok(d.total_out() as usize),
            Ok(_) => {
                if d.total_in() as usize == before_in && d.total_out() == before_out {
                    return Err(Status::DataError); // truncated
                }
            }
            Err(e) => return Err(map_inflate_error(&e)),
        }
    }
}

fn map_inflate_error(e: &flate2::DecompressError) -> Status {
    if e.needs_dictionary().is_some() {
        return Status::DataError;
    }
    let msg = e.to_string();
    if msg.contains("incorrect data check") || msg.contains("incorrect length check") {
        Status::ChecksumMismatch
    } else {
        Status::DataError
    }
}

fn new_decompress(format: Format) -> Decompress {
    match format {
        Format::Raw => Decompress::new(false),
        Format::Zlib => Decompress::new(true),
        Format::Gzip => Decompress::new_gzip(15),
    }
}

/// Running checksum of a stream's uncompressed side: [`update_check`]'s
/// value, started as zlib starts it (Adler-32 1, CRC-32 0).
struct Check {
    format: Format,
    value: u32,
}

impl Check {
    fn new(format: Format) -> Self {
        let value = if format == Format::Zlib { 1 } else { 0 };
        Check { format, value }
    }
    fn update(&mut self, data: &[u8]) {
        self.value = update_check(self.format, self.value, data);
    }
    fn value(&self) -> u32 {
        self.value
    }
}

/// Streaming compression with zlib's contract (zlib-rs): never writes past `dst`,
/// keeps pending output inside, and `Flush::Finish` is repeated until
/// `stream_end`.
pub struct DeflateStream {
    inner: DeflateInner,
    format: Format,
    check: Check,
    finished: bool,
}

enum DeflateInner {
    ZlibRs(Compress),
    Isal(IsalDeflate),
}

/// One-shot decompression on the streaming decoder (ISA-L, patched to refuse
/// what zlib refuses): zlib's exact acceptance rules.
fn decompress_exact(format: Format, src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
    let mut s = InflateStream::new(format)?;
    let o = s.run(src, dst)?;
    if o.stream_end {
        Ok(Outcome {
            produced: o.produced,
            consumed: o.consumed,
            checksum: o.checksum,
            ..Outcome::default()
        })
    } else if o.produced == dst.len() {
        classify(format, src).and_then(|total| Err(Status::DstTooSmall { needed: total }))
    } else {
        Err(Status::DataError)
    }
}

impl DeflateStream {
    /// A stream at zlib `level` 0..=9, 15-bit window, default memory level and
    /// strategy, on the engine level whose output is no larger than zlib's.
    /// On the corpus flushed every 128 KiB as pigz does
    /// (`examples/stream_levels.rs`; system zlib by python's zlib module):
    /// level 1 runs ISA-L's stateful level 2 (28,329,781 bytes against
    /// zlib's 29,456,389; ISA-L 1 was smaller on the whole corpus but 0.3%
    /// larger on its first 4 MiB per file, zlib-rs's own level 1 25% larger);
    /// zlib-rs 6 and 8 were 0.3% and 0.05% larger than zlib 6 and 8 on those
    /// 4 MiB slices, so they run as zlib-rs 7 (24,659,316 against zlib 6's
    /// 24,918,556) and 9 (24,547,925 against zlib 8's 24,593,969).
    pub fn new(format: Format, level: u32) -> Result<Self> {
        match level {
            1 => Self::new_isal(format, 2),
            l => Self::new_exact(format, zlib_rs_level(l)),
        }
    }

    /// A stream at exactly zlib-rs's `level` (`new` maps levels).
    pub fn new_exact(format: Format, level: u32) -> Result<Self> {
        if level > 9 {
            return Err(Status::InvalidParam);
        }
        let lvl = Compression::new(level);
        let inner = match format {
            Format::Raw => Compress::new(lvl, false),
            Format::Zlib => Compress::new(lvl, true),
            Format::Gzip => Compress::new_gzip(lvl, 15),
        };
        Ok(Self::with_inner(DeflateInner::ZlibRs(inner), format))
    }

    /// A stream on ISA-L's stateful deflate at its `level` 1..=3.
    pub fn new_isal(format: Format, level: u32) -> Result<Self> {
        let inner = IsalDeflate::new(format, level)?;
        Ok(Self::with_inner(DeflateInner::Isal(inner), format))
    }

    fn with_inner(inner: DeflateInner, format: Format) -> Self {
        DeflateStream {
            inner,
            format,
            check: Check::new(format),
            finished: false,
        }
    }

    /// One `deflate()` call: consumes what it can of `src`, writes at most
    /// `dst.len()` bytes. `more_output` means the engine holds output that did not
    /// fit; `stream_end` that `Flush::Finish` completed. Data after the end is
    /// `Err(BadStream)`.
    pub fn run(&mut self, src: &[u8], dst: &mut [u8], flush: Flush) -> Result<Outcome> {
        if self.finished {
            if !src.is_empty() {
                return Err(Status::BadStream);
            }
            return Ok(Outcome {
                checksum: self.check.value(),
                stream_end: true,
                ..Outcome::default()
            });
        }
        let (consumed, produced, stream_end) = match &mut self.inner {
            DeflateInner::ZlibRs(inner) => {
                let f = match flush {
                    Flush::None => FlushCompress::None,
                    Flush::Sync => FlushCompress::Sync,
                    Flush::Full => FlushCompress::Full,
                    Flush::Finish => FlushCompress::Finish,
                };
                let in0 = inner.total_in();
                let out0 = inner.total_out();
                let st = inner.compress(src, dst, f).map_err(|_| Status::BadStream)?;
                (
                    (inner.total_in() - in0) as usize,
                    (inner.total_out() - out0) as usize,
                    st == flate2::Status::StreamEnd,
                )
            }
            DeflateInner::Isal(inner) => {
                let step = inner.run(src, dst, flush)?;
                (step.consumed, step.produced, step.stream_end)
            }
        };
        self.check.update(&src[..consumed]);
        self.finished = stream_end;
        Ok(Outcome {
            produced,
            consumed,
            checksum: self.check.value(),
            needed: 0,
            more_output: !stream_end && !dst.is_empty() && produced == dst.len(),
            stream_end,
        })
    }

    /// The history the first input may refer to (zlib's deflateSetDictionary
    /// for raw deflate), right after `new` or `reset`. A zlib or gzip stream
    /// would have to announce it in the header: refused with `InvalidParam`.
    pub fn set_dictionary(&mut self, dict: &[u8]) -> Result<()> {
        if self.format != Format::Raw || self.totals() != (0, 0) {
            return Err(Status::InvalidParam);
        }
        match &mut self.inner {
            DeflateInner::ZlibRs(inner) => inner
                .set_dictionary(dict)
                .map(drop)
                .map_err(|_| Status::BadStream),
            DeflateInner::Isal(inner) => inner.set_dictionary(dict),
        }
    }

    /// Starts a new stream with the same format and level.
    pub fn reset(&mut self) {
        match &mut self.inner {
            DeflateInner::ZlibRs(inner) => inner.reset(),
            DeflateInner::Isal(inner) => inner.reset(),
        }
        self.check = Check::new(self.format);
        self.finished = false;
    }

    /// CRC-32 (raw, gzip) or Adler-32 (zlib) of the input consumed so far.
    pub fn checksum(&self) -> u32 {
        self.check.value()
    }

    /// Total input consumed and output produced since the last reset.
    pub fn totals(&self) -> (u64, u64) {
        match &self.inner {
            DeflateInner::ZlibRs(inner) => (inner.total_in(), inner.total_out()),
            DeflateInner::Isal(inner) => inner.totals(),
        }
    }
}

/// Streaming decompression with zlib's contract: ISA-L for zlib and gzip
/// streams (their trailers check the output), zlib-rs for raw deflate.
pub struct InflateStream {
    inner: InflateInner,
    format: Format,
}

enum InflateInner {
    Isal(IsalInflate),
    ZlibRs {
        inner: Decompress,
        check: Check,
        finished: bool,
    },
}

impl InflateStream {
    /// A stream expecting `format` with up to a 32 KiB window, on ISA-L
    /// (patched to refuse the incomplete Huffman codes zlib refuses;
    /// vendor/README.md). Raw deflate has no trailer to catch a lenient
    /// decoder, so `tests/huffman_codes.rs` and the core's inflate fuzz
    /// target hold ISA-L to zlib-rs's verdicts.
    pub fn new(format: Format) -> Result<Self> {
        Ok(InflateStream {
            inner: InflateInner::Isal(IsalInflate::new(format)),
            format,
        })
    }

    /// A stream on zlib-rs: zlib's own decoder, the reference for what is
    /// accepted and where it fails.
    pub fn new_zlib_rs(format: Format) -> Self {
        InflateStream {
            inner: InflateInner::ZlibRs {
                inner: new_decompress(format),
                check: Check::new(format),
                finished: false,
            },
            format,
        }
    }

    /// One `inflate()` call. `stream_end` once the whole stream (with a verified
    /// trailer) has been decoded; input after it is left unconsumed.
    /// `more_output`: `dst` was filled, call again.
    pub fn run(&mut self, src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
        let (inner, check, finished) = match &mut self.inner {
            InflateInner::Isal(s) => return s.run(src, dst),
            InflateInner::ZlibRs {
                inner,
                check,
                finished,
            } => (inner, check, finished),
        };
        if *finished {
            return Ok(Outcome {
                checksum: check.value(),
                stream_end: true,
                ..Outcome::default()
            });
        }
        let in0 = inner.total_in();
        let out0 = inner.total_out();
        let r = inner.decompress(src, dst, FlushDecompress::None);
        let consumed = (inner.total_in() - in0) as usize;
        let produced = (inner.total_out() - out0) as usize;
        check.update(&dst[..produced]);
        let st = r.map_err(|e| map_inflate_error(&e))?;
        let stream_end = st == flate2::Status::StreamEnd;
        *finished = stream_end;
        Ok(Outcome {
            produced,
            consumed,
            checksum: check.value(),
            needed: 0,
            more_output: !stream_end && !dst.is_empty() && produced == dst.len(),
            stream_end,
        })
    }

    /// Starts over, expecting a new stream of the same format.
    pub fn reset(&mut self) {
        match &mut self.inner {
            InflateInner::Isal(s) => s.reset(),
            InflateInner::ZlibRs {
                inner,
                check,
                finished,
            } => {
                *inner = new_decompress(self.format);
                *check = Check::new(self.format);
                *finished = false;
            }
        }
    }

    /// CRC-32 (raw, gzip) or Adler-32 (zlib) of the output produced so far.
    pub fn checksum(&self) -> u32 {
        match &self.inner {
            InflateInner::Isal(s) => s.checksum(),
            InflateInner::ZlibRs { check, .. } => check.value(),
        }
    }

    /// Total input consumed and output produced since the last reset.
    pub fn totals(&self) -> (u64, u64) {
        match &self.inner {
            InflateInner::Isal(s) => s.totals(),
            InflateInner::ZlibRs { inner, .. } => (inner.total_in(), inner.total_out()),
        }
    }
}
