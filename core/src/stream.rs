//! Streaming sessions. Compression streams keep their state in the engine
//! serving a queue (WD_DESC_F_STREAM); the choice between a queue and the
//! inline engine is made on the first call, from the size of its input.
//! Hash and cipher sessions run on the inline engines: OpenSSL-style callers
//! duplicate contexts mid-stream (EVP_MD_CTX_copy), which engine-held state
//! cannot do; their one-shot forms (`digest`, `aead_seal`, ...) offload.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use warpdrive_engines as eng;

use crate::api::{
    alg_of_format, engine_error, run_counted_while, status_result, CipherMode, Direction, Flush,
    Format, HashAlg, Progress,
};
use crate::device::{fork_generation, global, refuse_session, OwnedQueue, Software, Warpdrive};
use crate::error::{Error, Result};
use crate::queue::{Job, Src};
use crate::queued::Queued;
use crate::segment::{self, Segmenter};
use crate::uapi::*;

/// The stream id every session uses on the queue it owns exclusively.
const STREAM_ID: u32 = 0;

enum Backing<S> {
    /// Nothing happened yet; the first call decides.
    Undecided,
    Inline(Box<S>),
    Queue {
        q: Box<OwnedQueue>,
        started: bool,
    },
}

impl<S> Backing<S> {
    /// The first call decides: a queue whose engine keeps streams when
    /// `offload` (the input is big enough to gain), else the inline engine
    /// `inline` makes, also when no such queue is free.
    fn decide(
        &mut self,
        wd: &Arc<Warpdrive>,
        offload: bool,
        inline: impl FnOnce() -> Result<S>,
    ) -> Result<()> {
        if let Backing::Undecided = self {
            *self = match offload
                .then(|| wd.checkout_owned())
                .flatten()
                .filter(|q| q.supports_streams())
            {
                Some(q) => Backing::Queue {
                    q: Box::new(q),
                    started: false,
                },
                None => {
                    wd.software(Software::Session)?;
                    Backing::Inline(Box::new(inline()?))
                }
            };
        }
        Ok(())
    }
}

/// Copies what fits of `pending[*pos..]` into `output` and moves `pos` on;
/// returns the bytes copied. Output a session holds for the caller goes out
/// through here (deflate's one-shot result, segments, staged inflate).
pub(crate) fn hand_out(pending: &[u8], pos: &mut usize, output: &mut [u8]) -> usize {
    let n = (pending.len() - *pos).min(output.len());
    output[..n].copy_from_slice(&pending[*pos..*pos + n]);
    *pos += n;
    n
}

/// `hand_out` for a buffer that is refilled once drained: when all of `pending`
/// has gone out, it is emptied and `pos` reset (segments, queue-held streams).
pub(crate) fn drain_held(pending: &mut Vec<u8>, pos: &mut usize, output: &mut [u8]) -> usize {
    let n = hand_out(pending, pos, output);
    if *pos == pending.len() {
        pending.clear();
        *pos = 0;
    }
    n
}

fn flush_flags(flush: Flush) -> u8 {
    match flush {
        Flush::None => 0,
        Flush::Sync => WD_DESC_F_SYNC_FLUSH,
        Flush::Full => WD_DESC_F_FULL_FLUSH,
        Flush::Finish => WD_DESC_F_LAST,
    }
}

fn eng_flush(flush: Flush) -> eng::Flush {
    match flush {
        Flush::None => eng::Flush::None,
        Flush::Sync => eng::Flush::Sync,
        Flush::Full => eng::Flush::Full,
        Flush::Finish => eng::Flush::Finish,
    }
}

/// A compression stream with zlib's contract: output never exceeds the
/// buffer given, pending output stays inside, `Flush::Finish` is repeated
/// until `done`.
pub struct Deflater {
    wd: Arc<Warpdrive>,
    format: Format,
    level: u32,
    backing: Backing<eng::DeflateStream>,
    checksum: u32,
    mode: DeflateMode,
    /// The fork generation the session's engines belong to.
    gen: u64,
    /// Output handed out so far (where the gzip header's bytes are).
    produced: u64,
}

/// Input fed with `Flush::None` is only buffered, up to `deflate_hold()`
/// (128 KiB): when `Flush::Finish` comes with the rest, the whole stream is
/// compressed in one request, on the one-shot engines (ISA-L, libdeflate),
/// which are several times faster than any streaming deflate at the same or
/// better ratio. A sync or full flush, or more unflushed input than the hold,
/// turns the session into a true stream, fed the buffered input first, whose
/// output comes out as input goes in (held input stays within 1 MiB). zlib's
/// contract holds throughout: deflate may consume input without producing
/// output.
enum DeflateMode {
    Buffering {
        buf: Vec<u8>,
        check: RunningCheck,
    },
    Draining {
        out: Vec<u8>,
        pos: usize,
        checksum: u32,
    },
    /// On the inline engine (state in this process's memory).
    Streaming {
        carry: Vec<u8>,
        carry_pos: usize,
    },
    /// On a queue's engine, which holds the stream's state.
    Queued(Box<Queued>),
    /// A raw stream compressed in segments on several engines at once, or
    /// any stream whose engine is out of reach (after fork, a copy).
    Segments(Box<Segmenter>),
}

/// The checksum a deflate stream reports: crc32 for raw and gzip, adler32
/// for zlib (as `wd_cqe.checksum`).
#[derive(Clone)]
pub(crate) enum RunningCheck {
    Crc(crc32fast::Hasher),
    Adler(adler2::Adler32),
}

impl RunningCheck {
    pub(crate) fn new(format: Format) -> Self {
        match format {
            Format::Zlib => RunningCheck::Adler(adler2::Adler32::new()),
            _ => RunningCheck::Crc(crc32fast::Hasher::new()),
        }
    }
    /// An Adler-32 going on from `value`.
    pub(crate) fn resume(value: u32) -> Self {
        RunningCheck::Adler(adler2::Adler32::from_checksum(value))
    }
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            RunningCheck::Crc(h) => h.update(data),
            RunningCheck::Adler(h) => h.write_slice(data),
        }
    }
    pub(crate) fn value(&self) -> u32 {
        match self {
            RunningCheck::Crc(h) => h.clone().finalize(),
            RunningCheck::Adler(h) => h.checksum(),
        }
    }
    /// The check of `a` followed by `b` (`len_b` bytes), from their checks.
    pub(crate) fn combine(format: Format, a: u32, b: u32, len_b: u64) -> u32 {
        if format == Format::Zlib {
            return adler32_combine(a, b, len_b);
        }
        let mut h = crc32fast::Hasher::new_with_initial(a);
        h.combine(&crc32fast::Hasher::new_with_initial_len(b, len_b));
        h.finalize()
    }
}

/// Adler-32 of two pieces from theirs: the sums of the second piece shift
/// by the first piece's byte sum once per byte of the second.
fn adler32_combine(a: u32, b: u32, len_b: u64) -> u32 {
    const BASE: u64 = 65521;
    let rem = len_b % BASE;
    let (a1, a2) = (u64::from(a & 0xffff), u64::from(a >> 16));
    let (b1, b2) = (u64::from(b & 0xffff), u64::from(b >> 16));
    let s1 = (a1 + b1 + BASE - 1) % BASE;
    let s2 = (rem * a1 + a2 + b2 + BASE - rem) % BASE;
    (s1 | (s2 << 16)) as u32
}

/// The input a Deflater buffers before it becomes a true stream (once a
/// call starts with this much held): a stream that ends before is one
/// request, and one that goes on sends its first output after about this
/// much input (zlib's comes after its 16 Ki
/// symbols, some 30-100 KiB of text). `WARPDRIVE_DEFLATE_BUFFER_MAX` lowers
/// it (0: every stream is a true stream).
/// The most input one request at `Flush::Finish` takes (a request must fit
/// WD_MAX_REQUEST_BYTES with its compressed output).
const ONE_REQUEST_MAX: usize = 48 << 20;

fn deflate_hold() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        crate::settings::size("WARPDRIVE_DEFLATE_BUFFER_MAX", "128k")
            .unwrap_or(segment::HOLD_FIRST)
            .min(segment::HOLD_FIRST)
    })
}

impl Deflater {
    pub fn new(format: Format, level: u32) -> Result<Deflater> {
        Self::with_instance(global(), format, level)
    }

    pub fn with_instance(wd: Arc<Warpdrive>, format: Format, level: u32) -> Result<Deflater> {
        if level > 9 {
            return Err(Error::InvalidArgument("compression level must be 0..=9"));
        }
        Ok(Deflater {
            wd,
            format,
            level,
            backing: Backing::Undecided,
            checksum: 0,
            mode: DeflateMode::Buffering {
                buf: Vec::new(),
                check: RunningCheck::new(format),
            },
            gen: fork_generation(),
            produced: 0,
        })
    }

    /// A raw stream's preset dictionary (zlib's deflateSetDictionary before
    /// any input): its last 32 KiB become the history the first segment is
    /// compressed with. Only raw streams, only before the first call, and
    /// only where the device takes segments (the one-shot engines take no
    /// dictionary): otherwise `Unsupported`, and nothing changes.
    pub fn set_dictionary(&mut self, dict: &[u8]) -> Result<()> {
        let DeflateMode::Buffering { buf, .. } = &mut self.mode else {
            return Err(Error::Unsupported("a dictionary after the stream started"));
        };
        if self.format != Format::Raw || !buf.is_empty() || self.produced != 0 {
            return Err(Error::Unsupported("a dictionary on a zlib or gzip stream"));
        }
        let mut seg = Segmenter::new(&self.wd, self.level, buf)
            .ok_or(Error::Unsupported("a dictionary without segment queues"))?;
        seg.set_history(dict);
        self.mode = DeflateMode::Segments(Box::new(seg));
        Ok(())
    }

    /// Whether this stream's state lives in a device engine.
    pub fn is_offloaded(&self) -> bool {
        matches!(self.backing, Backing::Queue { .. })
            || matches!(self.mode, DeflateMode::Segments(_) | DeflateMode::Queued(_))
    }

    /// In a forked child, the parent's engines and queues are out of reach:
    /// never touch (or drop) them; the stream goes on from the state this
    /// process has (see `Queued`), on the child's own instance.
    fn leave_parent(&mut self) -> Result<()> {
        let gen = fork_generation();
        if self.gen == gen {
            return Ok(());
        }
        self.gen = gen;
        std::mem::forget(self.wd.clone());
        self.wd = global();
        match std::mem::replace(&mut self.backing, Backing::Undecided) {
            // Never the case for a deflater (queues serve it as `Queued`).
            Backing::Queue { q, .. } => std::mem::forget(q),
            other => self.backing = other,
        }
        match &mut self.mode {
            DeflateMode::Segments(seg) => {
                std::mem::forget(seg.wd.clone());
                seg.wd = self.wd.clone();
            }
            DeflateMode::Queued(qd) => {
                let seg = Segmenter::resume(&self.wd, qd.resume_state())?;
                let old = std::mem::replace(&mut self.mode, DeflateMode::Segments(Box::new(seg)));
                if let DeflateMode::Queued(qd) = old {
                    std::mem::forget(qd.q);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Leaks what belongs to the parent instead of dropping it: its last
    /// reference would join engine threads this process does not have, and
    /// its queues' locks may have been held at fork time.
    fn forget_parent(&mut self) {
        std::mem::forget(self.wd.clone());
        if let DeflateMode::Segments(seg) = &self.mode {
            std::mem::forget(seg.wd.clone());
        }
        if let DeflateMode::Queued(_) = self.mode {
            if let DeflateMode::Queued(qd) = std::mem::replace(
                &mut self.mode,
                DeflateMode::Draining {
                    out: Vec::new(),
                    pos: 0,
                    checksum: 0,
                },
            ) {
                std::mem::forget(qd.q);
            }
        }
        if let Backing::Queue { .. } = self.backing {
            std::mem::forget(std::mem::replace(&mut self.backing, Backing::Undecided));
        }
    }

    /// Whether the session became a true stream (a flush, or more input than
    /// the buffer holds) rather than one request at `Flush::Finish`.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self.mode,
            DeflateMode::Streaming { .. } | DeflateMode::Segments(_) | DeflateMode::Queued(_)
        )
    }

    /// crc32 (raw, gzip) or adler32 (zlib) of the input so far.
    pub fn checksum(&self) -> u32 {
        match (&self.mode, &self.backing) {
            (DeflateMode::Buffering { check, .. }, _) => check.value(),
            (DeflateMode::Draining { checksum, .. }, _) => *checksum,
            (DeflateMode::Segments(seg), _) => seg.checksum(),
            (DeflateMode::Queued(qd), _) => qd.checksum(),
            (_, Backing::Inline(s)) => s.checksum(),
            _ => self.checksum,
        }
    }

    /// Starts over with the same parameters (deflateReset).
    pub fn reset(&mut self) {
        if self.gen != fork_generation() {
            self.gen = fork_generation();
            self.forget_parent();
            self.wd = global();
            self.backing = Backing::Undecided;
        }
        self.backing = match std::mem::replace(&mut self.backing, Backing::Undecided) {
            Backing::Queue { q, .. } => Backing::Queue { q, started: false },
            Backing::Inline(mut s) => {
                s.reset();
                Backing::Inline(s)
            }
            Backing::Undecided => Backing::Undecided,
        };
        self.checksum = 0;
        self.produced = 0;
        self.mode = DeflateMode::Buffering {
            buf: Vec::new(),
            check: RunningCheck::new(self.format),
        };
    }

    /// An independent copy (deflateCopy). Possible unless the session has
    /// become a stream whose state lives in an engine (segmented raw streams
    /// keep none).
    pub fn try_clone(&self) -> Result<Deflater> {
        let mode = match &self.mode {
            DeflateMode::Buffering { buf, check } => DeflateMode::Buffering {
                buf: buf.clone(),
                check: check.clone(),
            },
            DeflateMode::Draining { out, pos, checksum } => DeflateMode::Draining {
                out: out.clone(),
                pos: *pos,
                checksum: *checksum,
            },
            // Segments keep no engine state: a copy is the same buffers.
            DeflateMode::Segments(seg) => DeflateMode::Segments(Box::new(seg.try_clone())),
            // Between calls the engine holds only the window, which is kept
            // here too: the copy goes on in segments.
            DeflateMode::Queued(qd) => {
                let wd = if self.gen == fork_generation() {
                    self.wd.clone()
                } else {
                    global()
                };
                DeflateMode::Segments(Box::new(Segmenter::resume(&wd, qd.resume_state())?))
            }
            DeflateMode::Streaming { .. } => {
                return Err(Error::Unsupported(
                    "copying a deflate stream held by an engine",
                ))
            }
        };
        let wd = match &mode {
            DeflateMode::Segments(seg) => seg.wd.clone(),
            _ if self.gen == fork_generation() => self.wd.clone(),
            _ => global(),
        };
        Ok(Deflater {
            wd,
            format: self.format,
            level: self.level,
            backing: Backing::Undecided,
            checksum: 0,
            mode,
            gen: fork_generation(),
            produced: self.produced,
        })
    }

    pub fn deflate(&mut self, input: &[u8], output: &mut [u8], flush: Flush) -> Result<Progress> {
        let p = self.deflate_inner(input, output, flush)?;
        if self.format == Format::Gzip && self.produced < 10 {
            // The gzip header's XFL and OS as zlib writes them (the engines
            // write OS 255 and their own XFL); the CRC does not cover them.
            let (xfl, os) = (
                match self.level {
                    9 => 2,
                    0 | 1 => 4,
                    _ => 0,
                },
                3,
            );
            for (at, v) in [(8u64, xfl), (9, os)] {
                if let Some(i) = at.checked_sub(self.produced) {
                    if let Some(b) = output[..p.produced].get_mut(i as usize) {
                        *b = v;
                    }
                }
            }
        }
        self.produced += p.produced as u64;
        Ok(p)
    }

    fn deflate_inner(&mut self, input: &[u8], output: &mut [u8], flush: Flush) -> Result<Progress> {
        self.leave_parent()?;
        match &mut self.mode {
            DeflateMode::Buffering { buf, check } => {
                let size = buf.len() + input.len();
                match flush {
                    // Input is taken while it fits the hold; a call that
                    // would overflow it starts the stream. A stream is cut
                    // only between calls, so one call's input (compress()
                    // and compressobj() alike, which python's test_zlib
                    // compares) is compressed as a whole.
                    Flush::None if buf.is_empty() || size <= deflate_hold() => {
                        buf.extend_from_slice(input);
                        check.update(input);
                        return Ok(Progress {
                            consumed: input.len(),
                            produced: 0,
                            done: false,
                        });
                    }
                    Flush::Finish if deflate_hold() > 0 && size <= ONE_REQUEST_MAX => {
                        check.update(input);
                        let checksum = check.value();
                        let whole: std::borrow::Cow<'_, [u8]> = if buf.is_empty() {
                            input.into()
                        } else {
                            buf.extend_from_slice(input);
                            std::mem::take(buf).into()
                        };
                        let mut out = vec![0; eng::compress_bound(self.format, whole.len())];
                        let n = self
                            .wd
                            .compress(self.format, self.level, &whole, &mut out)?;
                        out.truncate(n);
                        self.mode = DeflateMode::Draining {
                            out,
                            pos: 0,
                            checksum,
                        };
                        let p = self.drain(output)?;
                        return Ok(Progress {
                            consumed: input.len(),
                            ..p
                        });
                    }
                    _ => {
                        // A flush point, or too much to buffer: become a stream,
                        // fed what was buffered before this call's input. Raw
                        // streams big enough to offload go out in segments,
                        // and so do unflushed streams of any framing (the
                        // hold's worth at a time, on all engines at once).
                        let unflushed = flush == Flush::None;
                        if (unflushed
                            || self.format == Format::Raw && segment::worth_segments(self.level))
                            && size >= self.wd.inline_max().compress
                        {
                            let seg = if self.format == Format::Raw {
                                Segmenter::new(&self.wd, self.level, buf)
                            } else {
                                Segmenter::start(&self.wd, self.format, self.level, buf)
                            };
                            if let Some(seg) = seg {
                                self.mode = DeflateMode::Segments(Box::new(seg));
                                let DeflateMode::Segments(seg) = &mut self.mode else {
                                    unreachable!()
                                };
                                return seg.deflate(input, output, flush);
                            }
                        }
                        let carry = std::mem::take(buf);
                        // Big enough to gain: a queue whose engine keeps the
                        // stream; else the inline engine.
                        let queue = (size >= self.wd.inline_max().compress)
                            .then(|| self.wd.checkout_owned())
                            .flatten()
                            .filter(|q| q.supports_streams());
                        if let Some(q) = queue {
                            let qd = Queued::new(q, self.format, self.level, carry);
                            self.mode = DeflateMode::Queued(Box::new(qd));
                            let DeflateMode::Queued(qd) = &mut self.mode else {
                                unreachable!()
                            };
                            return qd.deflate(input, output, flush);
                        }
                        self.mode = DeflateMode::Streaming {
                            carry,
                            carry_pos: 0,
                        };
                    }
                }
            }
            DeflateMode::Queued(qd) => return qd.deflate(input, output, flush),
            DeflateMode::Draining { .. } => {
                if flush != Flush::Finish || !input.is_empty() {
                    return Err(Error::InvalidArgument(
                        "deflate after Flush::Finish takes no input and only Finish",
                    ));
                }
                return self.drain(output);
            }
            DeflateMode::Segments(seg) => return seg.deflate(input, output, flush),
            DeflateMode::Streaming { .. } => {}
        }
        // Streaming: the carried input goes in first, with no flush.
        if let DeflateMode::Streaming { carry, carry_pos } = &mut self.mode {
            if *carry_pos < carry.len() {
                let pending = std::mem::take(carry);
                let start = *carry_pos;
                let r = self.stream_step(&pending[start..], output, Flush::None);
                let DeflateMode::Streaming { carry, carry_pos } = &mut self.mode else {
                    unreachable!()
                };
                *carry = pending;
                let p = r?;
                *carry_pos += p.consumed;
                if *carry_pos < carry.len() || p.produced == output.len() {
                    return Ok(Progress {
                        consumed: 0,
                        produced: p.produced,
                        done: false,
                    });
                }
                *carry = Vec::new();
                *carry_pos = 0;
                let (_, rest) = output.split_at_mut(p.produced);
                let q = self.stream_step(input, rest, flush)?;
                return Ok(Progress {
                    consumed: q.consumed,
                    produced: p.produced + q.produced,
                    done: q.done,
                });
            }
        }
        self.stream_step(input, output, flush)
    }

    /// Copies compressed output of a finished one-shot request.
    fn drain(&mut self, output: &mut [u8]) -> Result<Progress> {
        let DeflateMode::Draining { out, pos, .. } = &mut self.mode else {
            return Err(Error::internal("drain outside Draining"));
        };
        let n = hand_out(out, pos, output);
        Ok(Progress {
            consumed: 0,
            produced: n,
            done: *pos == out.len(),
        })
    }

    fn stream_step(&mut self, input: &[u8], output: &mut [u8], flush: Flush) -> Result<Progress> {
        let (format, level) = (self.format, self.level);
        // Streams that gain from a queue went there as `Queued`.
        self.backing.decide(&self.wd, false, || {
            eng::DeflateStream::new(format, level).map_err(|s| engine_error(s, "deflate"))
        })?;
        match &mut self.backing {
            Backing::Inline(s) => {
                self.wd.counters.inline.fetch_add(1, Ordering::Relaxed);
                let o = s
                    .run(input, output, eng_flush(flush))
                    .map_err(|s| engine_error(s, "deflate"))?;
                Ok(Progress {
                    consumed: o.consumed,
                    produced: o.produced,
                    done: o.stream_end,
                })
            }
            Backing::Queue { q, started } => {
                let mut flags = WD_DESC_F_STREAM | flush_flags(flush);
                if !*started {
                    flags |= WD_DESC_F_FIRST;
                }
                let desc = WdDesc {
                    opcode: WD_OP_COMPRESS,
                    alg: alg_of_format(self.format),
                    level: self.level as u8,
                    flags,
                    stream_id: STREAM_ID,
                    ..Default::default()
                };
                let (p, checksum) = stream_piece(q, desc, input, output, "deflate")?;
                *started = true;
                self.checksum = checksum;
                Ok(p)
            }
            Backing::Undecided => unreachable!("decided above"),
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        if self.gen != fork_generation() {
            self.forget_parent();
        }
    }
}

/// A decompression stream with zlib's contract.
pub struct Inflater {
    wd: Arc<Warpdrive>,
    format: Format,
    backing: Backing<eng::InflateStream>,
    checksum: u32,
    staged: Staged,
    /// The fork generation the session's engines belong to.
    gen: u64,
    /// The engine holding the stream was the parent's (after fork): the
    /// stream cannot go on here (`Error::DeviceGone`) until reset.
    lost: bool,
    /// Input the engine has read that was reported as not consumed, as the
    /// caller presents it again at the start of its next input. zlib never
    /// reports all of its input consumed while it still holds output (it
    /// writes straight into the caller's buffer and stops reading when that
    /// is full), and programs rely on it: Pillow's PNG decoder and others
    /// loop while avail_in > 0 and, at the end of their input, stop. So
    /// while output is held here or in the engine, the last input byte read
    /// is kept back; once nothing is held it is reported consumed, without
    /// being decoded again.
    owed: usize,
}

/// Output decoded ahead for callers that offer small buffers: one request
/// then fills `STAGE_BYTES` here, and the next calls drain it without a
/// round trip. Callers that offer `DIRECT_MIN` or more (python grows its
/// buffers to megabytes) get the engine's output directly, with no copy.
#[derive(Default)]
struct Staged {
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    /// The staged output ends the stream.
    end: bool,
    /// The last request filled its buffer: the engine may hold more output.
    more: bool,
    /// While staged output is partly handed out: the checksum of the output
    /// handed out so far (the engine's covers all of `buf[..len]`).
    check: Option<u32>,
}

/// Output buffers at least this large are decoded into directly.
const DIRECT_MIN: usize = 128 << 10;
/// What one staged request decodes for a caller with a smaller buffer.
const STAGE_BYTES: usize = 1 << 20;

impl Inflater {
    pub fn new(format: Format) -> Result<Inflater> {
        Self::with_instance(global(), format)
    }

    pub fn with_instance(wd: Arc<Warpdrive>, format: Format) -> Result<Inflater> {
        Ok(Inflater {
            wd,
            format,
            backing: Backing::Undecided,
            checksum: RunningCheck::new(format).value(),
            staged: Staged::default(),
            gen: fork_generation(),
            lost: false,
            owed: 0,
        })
    }

    /// In a forked child: the parent's queue and instance are leaked, never
    /// touched. An inline stream goes on (its state is in this process's
    /// memory); one held by the parent's engine is lost: callers that keep
    /// the input (the zlib drop-in) replay it in software.
    fn leave_parent(&mut self) -> Result<()> {
        let gen = fork_generation();
        if self.gen != gen {
            self.gen = gen;
            std::mem::forget(self.wd.clone());
            self.wd = global();
            if let Backing::Queue { .. } = self.backing {
                std::mem::forget(std::mem::replace(&mut self.backing, Backing::Undecided));
                self.lost = true;
            }
        }
        if self.lost {
            return Err(Error::DeviceGone);
        }
        Ok(())
    }

    pub fn is_offloaded(&self) -> bool {
        matches!(self.backing, Backing::Queue { .. })
    }

    /// The checksum of the output handed out so far (zlib's `strm->adler`):
    /// output still staged or held by an engine is not in it.
    pub fn checksum(&self) -> u32 {
        match (&self.backing, &self.staged.check) {
            (Backing::Inline(s), _) => s.checksum(),
            (_, Some(c)) => *c,
            (_, None) => self.checksum,
        }
    }

    /// Input bytes the engine has read beyond those reported consumed
    /// (`owed`): the first bytes of the caller's unconsumed input. A caller
    /// that replays the consumed input into another decoder adds them.
    pub fn input_held(&self) -> usize {
        self.owed
    }

    /// Whether decoded output waits here or in the engine (conservatively:
    /// an engine that filled its buffer may hold more).
    fn holds_output(&self) -> bool {
        self.staged.pos < self.staged.len || self.staged.more
    }

    /// The owed bytes at the front of `input` (fewer if the caller presents
    /// fewer: those it dropped are forgotten).
    fn take_owed(&mut self, input: &[u8]) -> usize {
        let skip = self.owed.min(input.len());
        self.owed = 0;
        skip
    }

    /// Reports a step's progress on the caller's input, the `skip` owed
    /// bytes included, keeping the last byte back while output is held.
    fn settle(&mut self, skip: usize, r: Result<Progress>) -> Result<Progress> {
        match r {
            Ok(mut p) => {
                p.consumed += skip;
                if !p.done && p.consumed > 0 && self.holds_output() {
                    p.consumed -= 1;
                    self.owed = 1;
                }
                Ok(p)
            }
            Err(e) => {
                self.owed = skip;
                Err(e)
            }
        }
    }

    pub fn reset(&mut self) {
        let _ = self.leave_parent();
        self.lost = false;
        self.backing = match std::mem::replace(&mut self.backing, Backing::Undecided) {
            Backing::Queue { q, .. } => Backing::Queue { q, started: false },
            Backing::Inline(mut s) => {
                s.reset();
                Backing::Inline(s)
            }
            Backing::Undecided => Backing::Undecided,
        };
        self.checksum = RunningCheck::new(self.format).value();
        self.staged.len = 0;
        self.staged.pos = 0;
        self.staged.end = false;
        self.staged.more = false;
        self.staged.check = None;
        self.owed = 0;
    }

    /// zlib's contract: output never exceeds `output`, and input is never
    /// all consumed while output is held (`owed`). The caller presents the
    /// unconsumed input again, possibly at another address.
    pub fn inflate(&mut self, input: &[u8], output: &mut [u8]) -> Result<Progress> {
        self.leave_parent()?;
        let skip = self.take_owed(input);
        let r = self.step(&input[skip..], output);
        self.settle(skip, r)
    }

    fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Progress> {
        let drained = self.drain(output);
        // Staged output goes first. With no room at all the engine still
        // gets the call, as zlib reads a stream's end and trailer with
        // avail_out == 0, unless staged output is still waiting.
        if drained.done
            || self.staged.pos < self.staged.len
            || (input.is_empty() && drained.produced > 0 && !self.staged.more)
        {
            return Ok(drained);
        }
        let format = self.format;
        self.backing.decide(
            &self.wd,
            input.len() >= self.wd.inline_max().decompress,
            || eng::InflateStream::new(format).map_err(|s| engine_error(s, "inflate")),
        )?;
        let rest = &mut output[drained.produced..];
        let stage = matches!(self.backing, Backing::Queue { .. })
            && !rest.is_empty()
            && rest.len() < DIRECT_MIN;
        let r = if stage {
            self.stage_step(input, rest)
        } else {
            let n = rest.len();
            self.stream_step(input, rest).inspect(|p| {
                self.staged.more = !p.done && p.produced == n;
            })
        };
        match r {
            Ok(p) => Ok(Progress {
                consumed: p.consumed,
                produced: drained.produced + p.produced,
                done: p.done,
            }),
            // Output already handed over is reported now; a failed stream
            // fails again on the next call.
            Err(_) if drained.produced > 0 => Ok(drained),
            Err(e) => Err(e),
        }
    }

    /// One staged request of STAGE_BYTES, then as much of it as fits `rest`.
    fn stage_step(&mut self, input: &[u8], rest: &mut [u8]) -> Result<Progress> {
        let mut buf = std::mem::take(&mut self.staged.buf);
        buf.resize(STAGE_BYTES, 0);
        // All output so far has been handed out: its checksum is the engine's.
        let handed_out = self.checksum;
        let r = self.stream_step(input, &mut buf);
        self.staged.buf = buf;
        let p = r?;
        self.staged.len = p.produced;
        self.staged.pos = 0;
        self.staged.end = p.done;
        self.staged.more = !p.done && p.produced == STAGE_BYTES;
        self.staged.check = Some(handed_out);
        let out = self.drain(rest);
        Ok(Progress {
            consumed: p.consumed,
            ..out
        })
    }

    /// Hands out staged output; `done` once the stream's last byte is out.
    fn drain(&mut self, output: &mut [u8]) -> Progress {
        let st = &mut self.staged;
        let n = hand_out(&st.buf[..st.len], &mut st.pos, output);
        if st.pos == st.len {
            // Everything staged is out: the engine's checksum is exact again.
            st.check = None;
        } else if let Some(c) = &mut st.check {
            *c = eng::update_check(self.format, *c, &output[..n]);
        }
        Progress {
            consumed: 0,
            produced: n,
            done: st.end && st.pos == st.len,
        }
    }

    fn stream_step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Progress> {
        match &mut self.backing {
            Backing::Inline(s) => {
                self.wd.counters.inline.fetch_add(1, Ordering::Relaxed);
                let o = s
                    .run(input, output)
                    .map_err(|s| engine_error(s, "inflate"))?;
                Ok(Progress {
                    consumed: o.consumed,
                    produced: o.produced,
                    done: o.stream_end,
                })
            }
            Backing::Queue { .. } => self.queue_step(input, output, || ()).0,
            Backing::Undecided => Err(Error::internal("inflate before its backing was decided")),
        }
    }

    /// `inflate`, running `during` while an engine decodes: the caller's own
    /// work (handing on the previous output, say) overlaps the decode.
    /// Before the decode when this call does not go straight to a queue.
    pub fn inflate_while<R>(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        during: impl FnOnce() -> R,
    ) -> (Result<Progress>, R) {
        if let Err(e) = self.leave_parent() {
            return (Err(e), during());
        }
        let direct = matches!(self.backing, Backing::Queue { .. })
            && self.staged.pos == self.staged.len
            && output.len() >= DIRECT_MIN;
        if !direct {
            let r = during();
            return (self.inflate(input, output), r);
        }
        let n = output.len();
        let skip = self.take_owed(input);
        let (p, r) = self.queue_step(&input[skip..], output, during);
        if let Ok(p) = &p {
            self.staged.more = !p.done && p.produced == n;
        }
        (self.settle(skip, p), r)
    }

    /// One piece of the stream on the session's queue.
    fn queue_step<R>(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        during: impl FnOnce() -> R,
    ) -> (Result<Progress>, R) {
        let alg = alg_of_format(self.format);
        let Backing::Queue { q, started } = &mut self.backing else {
            return (Err(Error::internal("queue step without a queue")), during());
        };
        let mut flags = WD_DESC_F_STREAM;
        if !*started {
            flags |= WD_DESC_F_FIRST;
        }
        let desc = WdDesc {
            opcode: WD_OP_DECOMPRESS,
            alg,
            flags,
            stream_id: STREAM_ID,
            ..Default::default()
        };
        let (r, during) = stream_piece_while(q, desc, input, output, "inflate", during);
        let r = r.map(|(p, checksum)| {
            *started = true;
            self.checksum = checksum;
            p
        });
        (r, during)
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if self.gen != fork_generation() {
            std::mem::forget(self.wd.clone());
            if let Backing::Queue { .. } = self.backing {
                std::mem::forget(std::mem::replace(&mut self.backing, Backing::Undecided));
            }
        }
    }
}

/// Runs one piece of a stream on the session's queue; returns the progress
/// and the engine's running checksum.
pub(crate) fn stream_piece(
    q: &mut OwnedQueue,
    desc: WdDesc,
    input: &[u8],
    output: &mut [u8],
    what: &'static str,
) -> Result<(Progress, u32)> {
    stream_piece_while(q, desc, input, output, what, || ()).0
}

/// `stream_piece`, running `during` while the engine works.
fn stream_piece_while<R>(
    q: &mut OwnedQueue,
    desc: WdDesc,
    input: &[u8],
    output: &mut [u8],
    what: &'static str,
    during: impl FnOnce() -> R,
) -> (Result<(Progress, u32)>, R) {
    let (input, output) = clamp_piece(input, output);
    let job = Job {
        desc,
        src: Src::Slice(input),
        dst: output,
        aux: &mut [],
    };
    let (cqe, during) = run_counted_while(q.get(), job, during);
    let r = cqe.and_then(|cqe| {
        status_result(&cqe, what)?;
        let p = Progress {
            consumed: cqe.consumed as usize,
            produced: cqe.produced as usize,
            done: cqe.flags & WD_CQE_F_STREAM_END != 0,
        };
        Ok((p, cqe.checksum))
    });
    (r, during)
}

/// One descriptor moves at most WD_MAX_REQUEST_BYTES each way; a stream
/// simply reports less progress for bigger buffers, as zlib may.
fn clamp_piece<'a>(input: &'a [u8], output: &'a mut [u8]) -> (&'a [u8], &'a mut [u8]) {
    let max = WD_MAX_REQUEST_BYTES as usize;
    let i = input.len().min(max);
    let o = output.len().min(max);
    (&input[..i], &mut output[..o])
}

/// A streaming digest or HMAC.
pub struct Hasher {
    alg: HashAlg,
    state: eng::HashStream,
}

impl Hasher {
    pub fn new(alg: HashAlg) -> Result<Hasher> {
        refuse_session()?;
        let state = eng::HashStream::new(alg).map_err(|s| engine_error(s, "digest"))?;
        Ok(Hasher { alg, state })
    }

    pub fn new_hmac(alg: HashAlg, key: &[u8]) -> Result<Hasher> {
        refuse_session()?;
        let state = eng::HashStream::new_hmac(alg, key).map_err(|s| engine_error(s, "HMAC"))?;
        Ok(Hasher { alg, state })
    }

    /// An independent copy of the session state (EVP_MD_CTX_copy).
    pub fn try_clone(&self) -> Result<Hasher> {
        let state = self
            .state
            .try_clone()
            .map_err(|s| engine_error(s, "digest"))?;
        Ok(Hasher {
            alg: self.alg,
            state,
        })
    }

    pub fn algorithm(&self) -> HashAlg {
        self.alg
    }

    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        self.state
            .update(data)
            .map_err(|s| engine_error(s, "digest"))
    }

    /// Writes the digest; the session must not be updated afterwards.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < self.alg.digest_len() {
            return Err(Error::OutputTooSmall {
                needed: Some(self.alg.digest_len()),
            });
        }
        self.state
            .finish(out)
            .map_err(|s| engine_error(s, "digest"))
    }
}

/// A streaming AES-GCM/CTR/CBC session.
pub struct CipherCtx {
    state: eng::CipherStream,
    mode: CipherMode,
}

impl CipherCtx {
    pub fn new(
        mode: CipherMode,
        dir: Direction,
        key: &[u8],
        iv: &[u8],
        padding: bool,
    ) -> Result<CipherCtx> {
        refuse_session()?;
        let m = match mode {
            CipherMode::Gcm => eng::CipherMode::Gcm,
            CipherMode::Ctr => eng::CipherMode::Ctr,
            CipherMode::Cbc => eng::CipherMode::Cbc,
        };
        let state = eng::CipherStream::new(m, dir == Direction::Encrypt, padding, key, iv)
            .map_err(|s| engine_error(s, "cipher key or IV"))?;
        Ok(CipherCtx { state, mode })
    }

    pub fn mode(&self) -> CipherMode {
        self.mode
    }

    /// Starts a new message with a new IV (and key, if given), keeping the
    /// context and, without a new key, its key schedule: the cheap way to
    /// run one message after another (EVP_CipherInit with a NULL cipher).
    pub fn restart(&mut self, key: Option<&[u8]>, iv: &[u8]) -> Result<()> {
        self.state
            .restart(key, iv)
            .map_err(|s| engine_error(s, "cipher key or IV"))
    }

    /// An independent copy of the session state (EVP_CIPHER_CTX_copy).
    pub fn try_clone(&self) -> Result<CipherCtx> {
        let state = self
            .state
            .try_clone()
            .map_err(|s| engine_error(s, "cipher"))?;
        Ok(CipherCtx {
            state,
            mode: self.mode,
        })
    }

    /// Bytes `update` will write for `input_len` more input bytes.
    pub fn update_len(&self, input_len: usize) -> usize {
        self.state.update_len(input_len)
    }

    /// GCM: authenticated data, before any update.
    pub fn set_aad(&mut self, aad: &[u8]) -> Result<()> {
        self.state.set_aad(aad).map_err(|s| engine_error(s, "AAD"))
    }

    pub fn update(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        self.state
            .update(input, output)
            .map_err(|s| engine_error(s, "cipher"))
    }

    /// `update` of `buf[..len]`, output written from `buf[0]`.
    pub fn update_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        self.state
            .update_in_place(buf, len)
            .map_err(|s| engine_error(s, "cipher"))
    }

    /// Ends the message; for GCM decryption checks the tag set before.
    pub fn finish(&mut self, output: &mut [u8]) -> Result<usize> {
        self.state
            .finish(output)
            .map_err(|s| engine_error(s, "cipher"))
    }

    /// GCM encryption: the tag, after `finish`.
    pub fn get_tag(&self, out: &mut [u8]) -> Result<()> {
        self.state.tag(out).map_err(|s| engine_error(s, "GCM tag"))
    }

    /// GCM decryption: the expected tag, before `finish`.
    pub fn set_tag(&mut self, tag: &[u8]) -> Result<()> {
        self.state
            .set_expected_tag(tag)
            .map_err(|s| engine_error(s, "GCM tag"))
    }
}
