//! A deflate stream on a queue whose engine keeps the stream's state, fed so
//! that the engine never holds anything but the window between calls: every
//! request ends on a flush point (a sync flush at the latest every
//! `PIECE` bytes), and its whole output is collected here. The state that
//! matters is then all in this process's memory: the last 32 KiB of input,
//! the input held back, the output not handed out and the checksum. A forked
//! child (which has no engine thread and no ring) and deflateCopy go on from
//! that state in segments (`Segmenter::resume`).

use crate::api::{Flush, Format, Progress};
use crate::device::OwnedQueue;
use crate::error::{Error, Result};
use crate::segment::{push_history, Resume};
use crate::stream::{drain_held, stream_piece, RunningCheck};
use crate::uapi::*;

use warpdrive_engines as eng;

/// The most input one request carries, and the most input held back
/// without a flush: the memory a stream keeps stays near 1 MiB each way.
const PIECE: usize = 1 << 20;

/// The stream id every session uses on the queue it owns exclusively.
const STREAM_ID: u32 = 0;

pub(crate) struct Queued {
    pub(crate) q: Box<OwnedQueue>,
    format: Format,
    level: u32,
    started: bool,
    /// Input taken with `Flush::None`, not given to the engine yet.
    held: Vec<u8>,
    held_check: RunningCheck,
    /// Output the engine made that the caller has not had, from `pos` on.
    out: Vec<u8>,
    pos: usize,
    /// The last 32 KiB of the input the engine has taken.
    history: Vec<u8>,
    /// Input the engine has taken, and the engine's checksum of it.
    fed: u64,
    checksum: u32,
    finished: bool,
    /// Unflushed input held before a request: HOLD_FIRST, doubling up to PIECE.
    hold: usize,
}

impl Queued {
    /// A stream on `q` that starts with `held` (input taken but not
    /// compressed yet).
    pub(crate) fn new(q: OwnedQueue, format: Format, level: u32, held: Vec<u8>) -> Queued {
        let mut held_check = RunningCheck::new(format);
        held_check.update(&held);
        Queued {
            q: Box::new(q),
            format,
            level,
            started: false,
            held,
            held_check,
            out: Vec::new(),
            pos: 0,
            history: Vec::new(),
            fed: 0,
            checksum: RunningCheck::new(format).value(),
            finished: false,
            hold: crate::segment::HOLD_FIRST.min(PIECE),
        }
    }

    /// The checksum of all input taken, held input included.
    pub(crate) fn checksum(&self) -> u32 {
        RunningCheck::combine(
            self.format,
            self.checksum,
            self.held_check.value(),
            self.held.len() as u64,
        )
    }

    /// Everything a continuation without this engine needs.
    pub(crate) fn resume_state(&self) -> Resume {
        Resume {
            format: self.format,
            level: self.level,
            history: self.history.clone(),
            held: self.held.clone(),
            out: self.out[self.pos..].to_vec(),
            checksum: self.checksum,
            total: self.fed,
            header_done: self.started,
            finished: self.finished,
        }
    }

    /// One `deflate()` call with zlib's contract.
    pub(crate) fn deflate(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        flush: Flush,
    ) -> Result<Progress> {
        if self.finished && !input.is_empty() {
            return Err(Error::InvalidArgument(
                "deflate after Flush::Finish takes no input",
            ));
        }
        let mut produced = self.drain(output);
        if self.pos < self.out.len() || self.finished {
            return Ok(self.progress(0, produced));
        }
        if flush == Flush::None {
            // Held back until a call's input would overflow the hold
            // (growing to PIECE), then compressed with a sync flush before
            // that call's input is taken: memory stays bounded and output
            // flows as input comes.
            if !self.held.is_empty() && self.held.len() + input.len() > self.hold {
                self.feed_held(Flush::Sync, output, &mut produced)?;
                self.hold = (self.hold * 2).min(PIECE);
                if !self.held.is_empty() || self.pos < self.out.len() {
                    return Ok(self.progress(0, produced));
                }
            }
            self.held.extend_from_slice(input);
            self.held_check.update(input);
            return Ok(self.progress(input.len(), produced));
        }
        if !self.held.is_empty() {
            let f = if input.is_empty() { flush } else { Flush::Sync };
            if !self.feed_held(f, output, &mut produced)? || input.is_empty() {
                return Ok(self.progress(0, produced));
            }
            if self.pos < self.out.len() {
                return Ok(self.progress(0, produced));
            }
        }
        let consumed = self.feed(input, flush, output, &mut produced)?;
        Ok(self.progress(consumed, produced))
    }

    /// Feeds the held input; true once all of it went in.
    fn feed_held(&mut self, flush: Flush, output: &mut [u8], produced: &mut usize) -> Result<bool> {
        let held = std::mem::take(&mut self.held);
        let r = self.feed(&held, flush, output, produced);
        let n = *r.as_ref().unwrap_or(&0);
        self.held = held;
        self.held.drain(..n);
        self.held_check = RunningCheck::new(self.format);
        self.held_check.update(&self.held);
        r.map(|_| self.held.is_empty())
    }

    fn progress(&self, consumed: usize, produced: usize) -> Progress {
        Progress {
            consumed,
            produced,
            done: self.finished && self.pos == self.out.len(),
        }
    }

    fn drain(&mut self, output: &mut [u8]) -> usize {
        drain_held(&mut self.out, &mut self.pos, output)
    }

    /// Compresses `data` in pieces of at most PIECE, each a complete request
    /// ending on a flush point (`flush` for the last, a sync flush before),
    /// handing output out as it comes; stops early once `output` is full.
    /// Returns the bytes of `data` taken.
    fn feed(
        &mut self,
        data: &[u8],
        flush: Flush,
        output: &mut [u8],
        produced: &mut usize,
    ) -> Result<usize> {
        let mut off = 0;
        loop {
            let n = (data.len() - off).min(PIECE);
            let last = off + n == data.len();
            self.request(&data[off..off + n], if last { flush } else { Flush::Sync })?;
            off += n;
            *produced += self.drain(&mut output[*produced..]);
            if last || self.pos < self.out.len() || self.finished {
                return Ok(off);
            }
        }
    }

    /// One piece, run until the engine has taken all of it and finished the
    /// flush; all of its output is appended to `out`.
    fn request(&mut self, piece: &[u8], flush: Flush) -> Result<()> {
        debug_assert!(flush != Flush::None);
        let base = self.out.len();
        // Header and trailer (gzip's are the largest, 18 bytes) and the flush.
        self.out
            .resize(base + eng::segment_bound(piece.len()) + 32, 0);
        let (mut taken, mut made) = (0, 0);
        loop {
            let mut flags = WD_DESC_F_STREAM
                | match flush {
                    Flush::Finish => WD_DESC_F_LAST,
                    Flush::Full => WD_DESC_F_FULL_FLUSH,
                    _ => WD_DESC_F_SYNC_FLUSH,
                };
            if !self.started {
                flags |= WD_DESC_F_FIRST;
            }
            let desc = WdDesc {
                opcode: WD_OP_COMPRESS,
                alg: crate::api::alg_of_format(self.format),
                level: self.level as u8,
                flags,
                stream_id: STREAM_ID,
                ..Default::default()
            };
            let room = self.out.len() - base - made;
            let r = stream_piece(
                &mut self.q,
                desc,
                &piece[taken..],
                &mut self.out[base + made..],
                "deflate",
            );
            let (p, checksum) = match r {
                Ok(v) => v,
                Err(e) => {
                    self.out.truncate(base + made);
                    return Err(e);
                }
            };
            self.started = true;
            self.checksum = checksum;
            taken += p.consumed.min(piece.len() - taken);
            made += p.produced.min(room);
            if p.done {
                self.finished = true;
                break;
            }
            if taken == piece.len() && p.produced < room {
                break;
            }
            if p.consumed == 0 && p.produced == 0 {
                self.out.truncate(base + made);
                return Err(Error::internal("deflate engine made no progress"));
            }
            // The engine holds more output: give it more room.
            let grow = (64 << 10).max(piece.len() / 8);
            self.out.resize(self.out.len() + grow, 0);
        }
        self.out.truncate(base + made);
        self.fed += piece.len() as u64;
        push_history(&mut self.history, piece);
        Ok(())
    }
}
