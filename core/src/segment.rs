//! Raw deflate streams cut into segments, pigz's scheme on the device's
//! engines: the input of each flush point is split into pieces that engines
//! compress in parallel, each piece with the 32 KiB before it as history
//! (WD_DESC_F_SEGMENT). No engine keeps state between requests, so one call's
//! pieces go to as many engines as the device has, and a piece whose queue
//! fails is simply compressed again inline.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use warpdrive_engines as eng;

use crate::api::{
    count_request, count_result, engine_error, status_result, Flush, Format, Progress,
};
use crate::device::{OwnedQueue, Software, Warpdrive};
use crate::error::{Error, Result};
use crate::queue::sva_addr;
use crate::stream::{drain_held, RunningCheck};
use crate::uapi::*;

/// The shortest piece worth a second engine at `level`: about half a
/// millisecond of engine time (zlib-rs's levels 2-3 run ~140 MB/s, 4-9
/// 20-70 MB/s; `examples/stream_levels.rs`). Shorter pieces lose more to
/// waking an engine than they gain. Never below the history length, so that
/// every piece after the first finds its whole history in the same call's
/// input.
fn piece_min(level: u32) -> usize {
    match level {
        2 | 3 => 64 << 10,
        _ => eng::SEGMENT_HISTORY_MAX,
    }
}

/// Levels 0 and 1 stay engine-held streams: ISA-L's level 1 runs ~450 MB/s,
/// and re-reading 32 KiB of history per piece cost pigz -1 a fifth of its
/// speed.
pub(crate) fn worth_segments(level: u32) -> bool {
    level >= 2
}

/// The most one piece carries (a descriptor moves at most 64 MiB each way).
const PIECE_MAX: usize = 8 << 20;
/// Input taken without a flush is compressed once this much is held: first
/// `HOLD_FIRST` (so the first output comes early, as zlib's does), then
/// twice as much each time up to `HOLD_MAX` (the most a stream holds).
pub(crate) const HOLD_FIRST: usize = 128 << 10;
pub(crate) const HOLD_MAX: usize = 1 << 20;
/// The most engines one stream spreads over.
const WAYS_MAX: usize = 8;

/// Where a stream whose engine is out of reach (a forked child, a copy)
/// stands: it ends on a flush point, so segments can go on from here.
pub(crate) struct Resume {
    pub format: Format,
    pub level: u32,
    /// Up to 32 KiB of the input compressed so far, its end.
    pub history: Vec<u8>,
    /// Input taken but not compressed yet.
    pub held: Vec<u8>,
    /// Output not handed out yet.
    pub out: Vec<u8>,
    /// The checksum (CRC-32, or Adler-32 for zlib) and length of the input
    /// compressed so far.
    pub checksum: u32,
    pub total: u64,
    /// The zlib or gzip header is out.
    pub header_done: bool,
    pub finished: bool,
}

pub(crate) struct Segmenter {
    pub(crate) wd: Arc<Warpdrive>,
    level: u32,
    /// The framing: raw streams start here; zlib and gzip streams come from
    /// `resume` with their header already out, and end with their trailer.
    format: Format,
    /// zlib: Adler-32 of the input compressed so far.
    adler: Option<RunningCheck>,
    /// Input compressed so far (gzip's ISIZE).
    total: u64,
    /// Whether the device's queues take segments (else all runs inline).
    queues: bool,
    /// Up to 32 KiB of the input just before `held`.
    history: Vec<u8>,
    /// Input taken without a flush, not yet compressed.
    held: Vec<u8>,
    /// The check of everything taken so far, `held` included, kept as
    /// `held` grows: zlib callers read `adler` after every call, and summing
    /// all of `held` each time was quadratic (pg_dump's small writes took
    /// 3.4 s instead of 0.2 s).
    taken_sum: RunningCheck,
    /// Compressed output not yet handed out, from `pos` on.
    out: Vec<u8>,
    pos: usize,
    crc: crc32fast::Hasher,
    finished: bool,
    /// Unflushed input held before it is compressed (grows to HOLD_MAX).
    hold: usize,
}

impl Segmenter {
    /// Starts the stream with `dict` as its history (a raw stream's preset
    /// dictionary, deflateSetDictionary: its last 32 KiB count), before any
    /// input is compressed.
    pub(crate) fn set_history(&mut self, dict: &[u8]) {
        self.history.clear();
        push_history(&mut self.history, dict);
    }

    /// A stream of any framing on `wd`'s segment queues, starting with
    /// `held` (input taken but not compressed yet; the header is not out):
    /// None, leaving `held` alone, when the device takes no segments.
    pub(crate) fn start(
        wd: &Arc<Warpdrive>,
        format: Format,
        level: u32,
        held: &mut Vec<u8>,
    ) -> Option<Segmenter> {
        if !wd.checkout_owned()?.queue().supports_segments() {
            return None;
        }
        let r = Resume {
            format,
            level,
            history: Vec::new(),
            held: std::mem::take(held),
            out: Vec::new(),
            checksum: RunningCheck::new(format).value(),
            total: 0,
            header_done: false,
            finished: false,
        };
        let mut seg = Segmenter::resume(wd, r).ok()?;
        seg.hold = HOLD_FIRST;
        Some(seg)
    }

    /// A segmenter on `wd`'s engines that takes over `held` (input taken
    /// but not compressed yet); None, leaving `held` alone, when the device
    /// cannot compress segments or has no queue to give.
    pub(crate) fn new(wd: &Arc<Warpdrive>, level: u32, held: &mut Vec<u8>) -> Option<Segmenter> {
        if !wd.checkout_owned()?.queue().supports_segments() {
            return None;
        }
        Some(
            Segmenter {
                wd: wd.clone(),
                level,
                format: Format::Raw,
                adler: None,
                total: 0,
                queues: true,
                history: Vec::new(),
                taken_sum: RunningCheck::Crc(crc32fast::Hasher::new()),
                held: std::mem::take(held),
                out: Vec::new(),
                pos: 0,
                crc: crc32fast::Hasher::new(),
                finished: false,
                hold: HOLD_FIRST,
            }
            .with_held_summed(),
        )
    }

    /// A stream going on from `r` on `wd`'s engines (inline where they
    /// take no segments).
    pub(crate) fn resume(wd: &Arc<Warpdrive>, r: Resume) -> Result<Segmenter> {
        let mut out = r.out;
        if !r.header_done {
            out.splice(0..0, header(r.format, r.level));
        }
        let queues = wd
            .checkout_owned()
            .is_some_and(|q| q.queue().supports_segments());
        Ok(Segmenter {
            wd: wd.clone(),
            level: r.level,
            format: r.format,
            adler: (r.format == Format::Zlib).then(|| RunningCheck::resume(r.checksum)),
            total: r.total,
            queues,
            history: r.history,
            taken_sum: RunningCheck::Crc(crc32fast::Hasher::new()),
            held: r.held,
            out,
            pos: 0,
            crc: if r.format == Format::Zlib {
                crc32fast::Hasher::new()
            } else {
                crc32fast::Hasher::new_with_initial_len(r.checksum, r.total)
            },
            finished: r.finished,
            hold: HOLD_MAX,
        }
        .with_held_summed())
    }

    /// The check of the input compressed so far, before `held`.
    fn compressed_sum(&self) -> RunningCheck {
        match &self.adler {
            Some(a) => a.clone(),
            None => RunningCheck::Crc(self.crc.clone()),
        }
    }

    fn with_held_summed(mut self) -> Segmenter {
        self.taken_sum = self.compressed_sum();
        self.taken_sum.update(&self.held);
        self
    }

    /// An independent copy (deflateCopy): the same history, held input and
    /// pending output.
    pub(crate) fn try_clone(&self) -> Segmenter {
        Segmenter {
            wd: self.wd.clone(),
            level: self.level,
            format: self.format,
            adler: self.adler.clone(),
            total: self.total,
            queues: self.queues,
            history: self.history.clone(),
            held: self.held.clone(),
            taken_sum: self.taken_sum.clone(),
            out: self.out[self.pos..].to_vec(),
            pos: 0,
            crc: self.crc.clone(),
            finished: self.finished,
            hold: self.hold,
        }
    }

    /// CRC-32 (Adler-32 for zlib) of the input taken so far.
    pub(crate) fn checksum(&self) -> u32 {
        self.taken_sum.value()
    }

    /// One `deflate()` call with zlib's contract: pending output goes out
    /// first, and no input is taken while some is left.
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
            // A call whose input would overflow the hold compresses what is
            // held first (without a flush), then takes its input: output
            // comes out as input goes in, and a stream is cut only between
            // calls, so one call's input is compressed as a whole, as zlib
            // would (compress() and compressobj() give the same bytes).
            if !self.held.is_empty() && self.held.len() + input.len() > self.hold {
                let held = std::mem::take(&mut self.held);
                let r = self.compress(&held, false);
                self.held = held;
                self.held.clear();
                self.taken_sum = self.compressed_sum();
                r?;
                self.hold = (self.hold * 2).min(HOLD_MAX);
                produced += self.drain(&mut output[produced..]);
                if self.pos < self.out.len() {
                    return Ok(self.progress(0, produced));
                }
            }
            self.held.extend_from_slice(input);
            self.taken_sum.update(input);
            return Ok(self.progress(input.len(), produced));
        }
        let last = flush == Flush::Finish;
        if self.held.is_empty() {
            self.compress(input, last)?;
        } else {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(input);
            let r = self.compress(&held, last);
            held.clear();
            self.held = held;
            r?;
        }
        self.taken_sum = self.compressed_sum();
        if flush == Flush::Full {
            self.history.clear();
        }
        self.finished = last;
        produced += self.drain(&mut output[produced..]);
        Ok(self.progress(input.len(), produced))
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

    /// Compresses `data` into `out`, ending on a byte boundary, or ending the
    /// stream if `last` (an empty `data` still makes its marker or final
    /// block, as zlib's flush does).
    fn compress(&mut self, data: &[u8], last: bool) -> Result<()> {
        // Queues are borrowed for the call only: an idle stream (a
        // permessage-deflate connection, say) holds none.
        let mut queues = if self.queues {
            take_queues(&self.wd, data.len().div_ceil(piece_min(self.level)))
        } else {
            Vec::new()
        };
        let ways = if self.queues {
            self.wd.config().engines.clamp(1, WAYS_MAX)
        } else {
            1
        };
        let mut start = 0;
        loop {
            let round = (data.len() - start).min(ways * PIECE_MAX);
            let end = start + round;
            self.compress_round(&mut queues, data, start, end, last && end == data.len())?;
            start = end;
            if start == data.len() {
                break;
            }
        }
        push_history(&mut self.history, data);
        if let Some(a) = &mut self.adler {
            a.update(data);
        }
        self.total += data.len() as u64;
        if last {
            match self.format {
                Format::Raw => {}
                Format::Zlib => {
                    let a = self.adler.as_ref().map_or(1, |a| a.value());
                    self.out.extend_from_slice(&a.to_be_bytes());
                }
                Format::Gzip => {
                    let crc = self.crc.clone().finalize();
                    self.out.extend_from_slice(&crc.to_le_bytes());
                    self.out
                        .extend_from_slice(&(self.total as u32).to_le_bytes());
                }
            }
        }
        Ok(())
    }

    /// One round: `data[start..end]` cut into one piece per queue (fewer if
    /// short), all in flight at once.
    fn compress_round(
        &mut self,
        queues: &mut Vec<OwnedQueue>,
        data: &[u8],
        start: usize,
        end: usize,
        last: bool,
    ) -> Result<()> {
        let Segmenter {
            wd,
            level,
            history,
            out,
            crc,
            queues: use_queues,
            ..
        } = self;
        let level = *level;
        let len = end - start;
        // As many pieces as the device has engines (not as many queues as
        // were free): the output depends only on the input. Pieces without a
        // queue run inline.
        let engines = if *use_queues { wd.config().engines } else { 1 };
        let k = engines.min(len / piece_min(level)).clamp(1, WAYS_MAX);
        let piece = len.div_ceil(k);
        let mut pieces: Vec<(usize, usize)> = (0..k)
            .map(|i| (start + i * piece, (start + (i + 1) * piece).min(end)))
            .collect();
        pieces.retain(|&(a, b)| a < b || k == 1);
        let histories: Vec<Cow<'_, [u8]>> = pieces
            .iter()
            .map(|&(a, _)| history_at(history, data, a))
            .collect();
        let bounds: Vec<usize> = pieces
            .iter()
            .map(|&(a, b)| eng::segment_bound(b - a))
            .collect();
        let base = out.len();
        let mut area = std::mem::take(out);
        area.resize(base + bounds.iter().sum::<usize>(), 0);
        let mut dsts: Vec<&mut [u8]> = Vec::with_capacity(pieces.len());
        let mut rest = &mut area[base..];
        for &b in &bounds {
            let (d, r) = rest.split_at_mut(b);
            dsts.push(d);
            rest = r;
        }
        let n = pieces.len();
        let is_last = |i: usize| last && i + 1 == n;
        let mut results: Vec<Option<Result<WdCqe>>> = (0..n).map(|_| None).collect();
        let mut started = Vec::with_capacity(n);
        for (i, &(a, b)) in pieces.iter().enumerate() {
            let Some(q) = queues.get_mut(i) else {
                break;
            };
            let (src, hist) = (&data[a..b], &histories[i]);
            let desc = WdDesc {
                opcode: WD_OP_COMPRESS,
                alg: WD_ALG_DEFLATE_RAW,
                flags: WD_DESC_F_SEGMENT | if is_last(i) { WD_DESC_F_LAST } else { 0 },
                level: level as u8,
                aad_len: hist.len() as u32,
                src_addr: sva_addr(src.as_ptr(), src.len()),
                src_len: src.len() as u32,
                dst_addr: sva_addr(dsts[i].as_mut_ptr(), dsts[i].len()),
                dst_len: dsts[i].len() as u32,
                aux_addr: sva_addr(hist.as_ptr(), hist.len()),
                ..Default::default()
            };
            count_request(&q.get().counters);
            // SAFETY: data, histories and area outlive every request: each
            // started one is finished below before any of them is touched or
            // dropped, and finish() returns only with the completion reaped
            // or the queue dead (see Queue::run_sva). The dst slices are
            // disjoint and nobody else writes them meanwhile.
            match unsafe { q.get().start(desc) } {
                Ok(user_data) => started.push((i, user_data, src.len() + dsts[i].len())),
                Err(e) => {
                    let r = Err(e);
                    count_result(&q.get().counters, &r);
                    results[i] = Some(r);
                }
            }
        }
        for (i, user_data, bytes) in started {
            let q = queues[i].get();
            let r = q.finish(user_data, bytes);
            count_result(&q.counters, &r);
            results[i] = Some(r);
        }
        // Every request is over: the pieces that did not make it run inline.
        let mut failed_queues = Vec::new();
        let mut produced = Vec::with_capacity(n);
        for (i, &(a, b)) in pieces.iter().enumerate() {
            let done = match results[i].take() {
                // An engine claiming more than the room it had is broken:
                // its piece is redone inline like a failed one.
                Some(Ok(cqe))
                    if status_result(&cqe, "deflate").is_ok()
                        && cqe.produced as usize <= bounds[i] =>
                {
                    Some((cqe.produced as usize, cqe.checksum))
                }
                Some(r) => {
                    if r.is_err_and(|e| e.is_device_failure()) {
                        failed_queues.push(i);
                    }
                    // Strict mode: the piece is not redone in software.
                    wd.software(Software::Fallback)?;
                    None
                }
                None => {
                    wd.software(Software::NoQueue)?;
                    wd.counters.inline.fetch_add(1, Ordering::Relaxed);
                    None
                }
            };
            let (n, piece_crc) = match done {
                Some(d) => d,
                None => {
                    let o = eng::compress_segment(
                        level,
                        &histories[i],
                        &data[a..b],
                        dsts[i],
                        is_last(i),
                    )
                    .map_err(|s| engine_error(s, "deflate"))?;
                    (o.produced, o.checksum)
                }
            };
            produced.push(n);
            // Each piece's engine reports its CRC-32: combined, no second pass.
            crc.combine(&crc32fast::Hasher::new_with_initial_len(
                piece_crc,
                (b - a) as u64,
            ));
        }
        drop(dsts);
        // Close the gaps between the pieces' outputs.
        let mut at = base;
        let mut from = base;
        for (&n, &b) in produced.iter().zip(&bounds) {
            area.copy_within(from..from + n, at);
            at += n;
            from += b;
        }
        area.truncate(at);
        *out = area;
        for i in failed_queues.into_iter().rev() {
            queues.remove(i).discard();
        }
        Ok(())
    }
}

/// The header zlib writes for a stream at `level` (none for raw deflate).
fn header(format: Format, level: u32) -> Vec<u8> {
    match format {
        Format::Raw => Vec::new(),
        Format::Zlib => {
            let flevel: u16 = match level {
                0 | 1 => 0,
                2..=5 => 1,
                6 => 2,
                _ => 3,
            };
            let h = 0x7800 | flevel << 6;
            (h + (31 - h % 31) % 31).to_be_bytes().to_vec()
        }
        Format::Gzip => {
            let xfl = match level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]
        }
    }
}

/// Keeps the last 32 KiB of the input in `history` after `data`.
pub(crate) fn push_history(history: &mut Vec<u8>, data: &[u8]) {
    let keep = eng::SEGMENT_HISTORY_MAX.min(data.len());
    let old = (eng::SEGMENT_HISTORY_MAX - keep).min(history.len());
    history.drain(..history.len() - old);
    history.extend_from_slice(&data[data.len() - keep..]);
}

/// Up to `want` queues (at most one per engine, at most WAYS_MAX) for one
/// call; queues on an engine already taken go back to the pool.
fn take_queues(wd: &Arc<Warpdrive>, want: usize) -> Vec<OwnedQueue> {
    let ways = want.min(wd.config().engines).clamp(1, WAYS_MAX);
    let mut queues: Vec<OwnedQueue> = Vec::with_capacity(ways);
    let mut same_engine = Vec::new();
    while queues.len() < ways && same_engine.len() < ways {
        let Some(q) = wd.checkout_owned() else { break };
        let slot = q.queue().engine_slot();
        if slot.is_some() && queues.iter().any(|o| o.queue().engine_slot() == slot) {
            same_engine.push(q);
        } else {
            queues.push(q);
        }
    }
    queues
}

/// The history of a piece starting at `start` in `data`, where `history`
/// holds what came before `data`.
fn history_at<'a>(history: &'a [u8], data: &'a [u8], start: usize) -> Cow<'a, [u8]> {
    let max = eng::SEGMENT_HISTORY_MAX;
    if start >= max {
        return Cow::Borrowed(&data[start - max..start]);
    }
    if start == 0 {
        return Cow::Borrowed(history);
    }
    let old = (max - start).min(history.len());
    let mut h = history[history.len() - old..].to_vec();
    h.extend_from_slice(&data[..start]);
    Cow::Owned(h)
}
