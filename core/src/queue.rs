//! A bound queue as its user sees it: the submission ring it fills, the
//! completion ring it drains, and the backend behind them (the kernel module
//! or the software device). The same code drives both.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kernel::KernelQueue;
use crate::ring::{CqConsumer, SqProducer};
use crate::softdev::SoftQueueHandle;
use crate::stats::QueueCounters;
use crate::sys;
use crate::uapi::*;

pub(crate) enum Backend {
    Soft(SoftQueueHandle),
    Kernel(KernelQueue),
}

/// Where a request's input is.
pub(crate) enum Src<'a> {
    Slice(&'a [u8]),
}

/// One request to run synchronously: a descriptor template (opcode, alg,
/// flags, lengths of the aux parts) and the memory it names.
pub(crate) struct Job<'a> {
    pub desc: WdDesc,
    pub src: Src<'a>,
    pub dst: &'a mut [u8],
    /// key || iv || aad || tag, as the descriptor's lengths say.
    pub aux: &'a mut [u8],
}

/// A waiter polls the CQ for this long, then keeps polling but yields the
/// CPU between polls, until the request's expected service time has passed
/// (at least WAIT_YIELD_MIN, at most WAIT_YIELD_MAX), and only then sleeps:
/// waking a sleeping thread costs ~58 us here, and much more on a loaded
/// machine, so a waiter must not fall asleep in the middle of a request.
const WAIT_SPIN: Duration = Duration::from_micros(50);
const WAIT_YIELD_MIN: Duration = Duration::from_micros(200);
const WAIT_YIELD_MAX: Duration = Duration::from_millis(20);
/// A conservative engine rate for the expected service time (bytes/us).
const SERVICE_BYTES_PER_US: u64 = 100;
/// How long a synchronous request on the software device waits for an
/// engine to take it before its submitter claims it back and runs it itself
/// (ring.rs, (F)). A polling engine takes a request in well under 1 us; one
/// that sleeps needs ~58 us to wake, and one whose core is taken much longer,
/// while running the request here costs the submitter no more than inline.
const HANDOFF_BUDGET: Duration = Duration::from_micros(4);
/// Below this input size a synchronous request does not wake a sleeping
/// software engine: it runs on its submitter, which waking (~58 us, and a
/// woken engine that preempts the submitter on a busy machine) would cost
/// more than. Above it, the engines' parallelism pays for the wake.
const WAKE_MIN_BYTES: usize = 64 << 10;

/// A descriptor address for an SVA queue: the pointer, or 0 for nothing.
pub(crate) fn sva_addr<T>(ptr: *const T, len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        ptr as u64
    }
}

/// How long to keep a CPU for a request moving `bytes` bytes.
fn service_budget(bytes: usize) -> Duration {
    Duration::from_micros(bytes as u64 / SERVICE_BYTES_PER_US).clamp(WAIT_YIELD_MIN, WAIT_YIELD_MAX)
}

/// A synchronous request `start` left on a software queue for `finish`.
enum SyncRequest {
    /// Published at this SQ index: `finish` claims it back if no engine
    /// takes it in time.
    Published(u32, WdDesc),
    /// Not published, so `finish` runs it here: the engine slept and the
    /// request was too small to be worth waking it, or the SQ was full of
    /// slots claimed back that a busy engine has not passed yet.
    Held(WdDesc),
}

pub struct Queue {
    sq: SqProducer,
    cq: CqConsumer,
    backend: Backend,
    features: u32,
    inflight: u32,
    next_user_data: u64,
    /// The one synchronous request on a software queue, for `finish`.
    sync: Option<SyncRequest>,
    pub(crate) counters: std::sync::Arc<QueueCounters>,
    /// The fork generation the queue was bound in: in a fork child nothing
    /// serves it (and a kernel ring is not even mapped), so it refuses work.
    fork_gen: u64,
}

impl Queue {
    pub(crate) fn new_soft(
        handle: SoftQueueHandle,
        counters: std::sync::Arc<QueueCounters>,
    ) -> Result<Queue> {
        // SAFETY: the handle owns the mapping and lives in this Queue beside
        // the views (fields drop after use; the views hold raw pointers only).
        let (sq, cq) = unsafe {
            (
                SqProducer::new(&handle.map, &handle.layout_sq).map_err(Error::internal)?,
                CqConsumer::new(&handle.map, &handle.layout_cq).map_err(Error::internal)?,
            )
        };
        Ok(Queue {
            sq,
            cq,
            backend: Backend::Soft(handle),
            features: WD_FEAT_SVA | WD_FEAT_STREAMS | WD_FEAT_SEGMENTS,
            inflight: 0,
            next_user_data: 1,
            sync: None,
            counters,
            fork_gen: crate::device::fork_generation(),
        })
    }

    pub(crate) fn new_kernel(
        kq: KernelQueue,
        counters: std::sync::Arc<QueueCounters>,
    ) -> Result<Queue> {
        // SAFETY: as in new_soft: the KernelQueue owns the ring mapping.
        let (sq, cq) = unsafe {
            (
                SqProducer::new(kq.ring(), &kq.bind.sq_off).map_err(Error::internal)?,
                CqConsumer::new(kq.ring(), &kq.bind.cq_off).map_err(Error::internal)?,
            )
        };
        let features = kq.bind.features;
        Ok(Queue {
            sq,
            cq,
            backend: Backend::Kernel(kq),
            features,
            inflight: 0,
            next_user_data: 1,
            sync: None,
            counters,
            fork_gen: crate::device::fork_generation(),
        })
    }

    pub fn features(&self) -> u32 {
        self.features
    }

    pub fn is_kernel(&self) -> bool {
        matches!(self.backend, Backend::Kernel(_))
    }

    pub fn supports_streams(&self) -> bool {
        self.features & WD_FEAT_STREAMS != 0
    }

    /// Raw deflate segments (WD_DESC_F_SEGMENT), on an SVA queue: the only
    /// kind `start` serves.
    pub(crate) fn supports_segments(&self) -> bool {
        let both = WD_FEAT_SEGMENTS | WD_FEAT_SVA;
        self.features & both == both
    }

    /// Which engine serves this queue, when the backend says: queues on
    /// different engines run in parallel.
    pub(crate) fn engine_slot(&self) -> Option<usize> {
        match &self.backend {
            Backend::Soft(h) => Some(h.engine_slot),
            Backend::Kernel(_) => None,
        }
    }

    pub fn inflight(&self) -> u32 {
        self.inflight
    }

    /// A descriptor that turns readable when completions may be waiting:
    /// the device file for a kernel queue, an eventfd for the software device.
    pub(crate) fn wait_fd(&self) -> Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match &self.backend {
            Backend::Soft(h) => Ok(h.notify_fd()?.as_raw_fd()),
            Backend::Kernel(k) => Ok(k.raw_fd()),
        }
    }

    /// Re-arms `wait_fd` (no-op for a kernel queue, whose readiness follows
    /// the ring).
    pub(crate) fn ack_wait_fd(&self) {
        if let Backend::Soft(h) = &self.backend {
            if let Ok(fd) = h.notify_fd() {
                sys::eventfd_drain(fd);
            }
        }
    }

    /// Room for one more request: a free SQ slot and a CQ slot for its answer.
    pub fn has_room(&self) -> bool {
        self.sq.space() > 0 && self.inflight < self.cq.entries()
    }

    /// Queues one descriptor (not yet visible to the engine).
    ///
    /// # Safety
    /// Every address in `desc` must stay valid (and, for dst and the aux
    /// area, writable and untouched by anyone else) until its completion has
    /// been reaped: the engine reads and writes them asynchronously.
    pub(crate) unsafe fn push(&mut self, desc: &WdDesc) -> Result<()> {
        self.check_fork()?;
        if self.sq.is_dead() || self.cq.is_dead() {
            return Err(Error::DeviceGone);
        }
        if !self.has_room() {
            return Err(Error::Busy);
        }
        if let Backend::Soft(h) = &self.backend {
            // (F): the slot is ours (space() > 0), so is its claim word.
            h.submitted(self.sq.tail());
        }
        if !self.sq.push(desc) {
            return Err(Error::Busy);
        }
        self.inflight += 1;
        Ok(())
    }

    /// Publishes queued descriptors; rings the doorbell only if the engine
    /// sleeps (or, on a validated device, always: it never polls).
    pub(crate) fn submit(&mut self) -> Result<()> {
        self.check_fork()?;
        let engine_sleeps = self.sq.publish();
        if engine_sleeps || self.features & WD_FEAT_VALIDATED != 0 {
            self.counters.doorbells.fetch_add(1, Ordering::Relaxed);
            match &self.backend {
                Backend::Soft(h) => h.doorbell(),
                Backend::Kernel(k) => {
                    k.doorbell().map_err(Error::from_io_device)?;
                }
            }
        }
        Ok(())
    }

    /// Takes one completion if there is one.
    pub(crate) fn reap(&mut self) -> Result<Option<WdCqe>> {
        self.check_fork()?;
        match self.cq.pop() {
            Ok(Some(cqe)) => {
                self.inflight = self.inflight.saturating_sub(1);
                Ok(Some(cqe))
            }
            Ok(None) if self.cq.is_dead() => Err(Error::DeviceGone),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::internal(e)),
        }
    }

    /// Waits for the next completion: polls briefly, then sleeps.
    pub(crate) fn wait(&mut self) -> Result<WdCqe> {
        self.wait_for(WAIT_YIELD_MIN)
    }

    /// `wait` for a request expected to take about `budget` to serve.
    pub(crate) fn wait_for(&mut self, budget: Duration) -> Result<WdCqe> {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if let Some(cqe) = self.reap()? {
                return Ok(cqe);
            }
            if self.inflight == 0 {
                return Err(Error::internal("waiting with nothing in flight"));
            }
            spins = spins.wrapping_add(1);
            if spins % 64 != 0 {
                std::hint::spin_loop();
                continue;
            }
            let waited = start.elapsed();
            if waited < WAIT_SPIN {
                continue;
            }
            if waited < budget {
                std::thread::yield_now();
                continue;
            }
            self.sleep_for_completion()?;
        }
    }

    fn sleep_for_completion(&mut self) -> Result<()> {
        match &self.backend {
            Backend::Soft(_) => {
                let seen = self.cq.head();
                if !self.cq.prepare_sleep() {
                    sys::futex_wait(self.cq.tail_word(), seen, Some(Duration::from_millis(50)));
                }
                self.cq.end_sleep();
            }
            Backend::Kernel(k) => {
                k.poll(50).map_err(Error::from_io_device)?;
            }
        }
        Ok(())
    }

    /// Runs one request to completion. With nothing to overlap, a small one
    /// may run on this thread without waking a sleeping engine (`start_sync`).
    pub(crate) fn run(&mut self, job: Job<'_>) -> Result<WdCqe> {
        self.run_job(job, || (), true).0
    }

    /// Runs one request to completion, and `during` while the engine works
    /// on it (before it, on a queue that copies through buffers). The request
    /// is always published: holding it on this thread would run it after
    /// `during` instead of beside it (inflateBack's out() overlap).
    pub(crate) fn run_while<R>(
        &mut self,
        job: Job<'_>,
        during: impl FnOnce() -> R,
    ) -> (Result<WdCqe>, R) {
        self.run_job(job, during, false)
    }

    fn run_job<R>(
        &mut self,
        job: Job<'_>,
        during: impl FnOnce() -> R,
        may_hold: bool,
    ) -> (Result<WdCqe>, R) {
        debug_assert_eq!(self.inflight, 0, "sync jobs run on otherwise idle queues");
        if self.features & WD_FEAT_SVA != 0 {
            self.run_sva(job, during, may_hold)
        } else {
            let r = during();
            (self.run_buffered(job), r)
        }
    }

    fn run_sva<R>(
        &mut self,
        job: Job<'_>,
        during: impl FnOnce() -> R,
        may_hold: bool,
    ) -> (Result<WdCqe>, R) {
        let mut desc = job.desc;
        let Src::Slice(s) = job.src;
        desc.src_addr = sva_addr(s.as_ptr(), s.len());
        desc.src_len = s.len() as u32;
        desc.dst_addr = sva_addr(job.dst.as_mut_ptr(), job.dst.len());
        desc.dst_len = job.dst.len() as u32;
        desc.aux_addr = sva_addr(job.aux.as_mut_ptr(), job.aux.len());
        // SAFETY: src, dst and aux are borrowed for this whole call, and this
        // call does not return before the completion is reaped (finish()
        // either returns it or reports the queue dead, after which neither
        // backend touches the memory: the kernel stops its engine before it
        // marks a queue dead, and a soft engine only marks queues it no
        // longer serves). `during` cannot reach the job's memory: it is
        // borrowed here.
        let started = unsafe { self.start_as(desc, may_hold) };
        let r = during();
        let cqe =
            started.and_then(|user_data| self.finish(user_data, s.len() + desc.dst_len as usize));
        (cqe, r)
    }

    /// Queues and publishes one descriptor whose addresses the caller filled
    /// in, without waiting; returns the `user_data` to `finish` it with.
    ///
    /// An error after the descriptor was published can only be a failed
    /// kernel doorbell (a software one cannot fail): the module refuses it
    /// for a queue that is removed, unbound or broken, which no engine
    /// serves any more (`kmod/wd_core.c`), and a validated device has run
    /// everything before the ioctl returns.
    ///
    /// # Safety
    /// As for `push`: the memory `desc` names stays valid, and dst and the
    /// aux area untouched, until `finish` has returned its completion or
    /// reported the queue dead.
    pub(crate) unsafe fn start(&mut self, desc: WdDesc) -> Result<u64> {
        // SAFETY: the caller's contract is this function's.
        unsafe { self.start_as(desc, false) }
    }

    /// `start`; with `may_hold`, a small request for a sleeping software
    /// engine stays unpublished and `finish` runs it on this thread. Only for
    /// a caller with nothing to do meanwhile: requests started side by side
    /// (segments) or beside other work must reach an engine.
    ///
    /// # Safety
    /// As for `start`.
    unsafe fn start_as(&mut self, mut desc: WdDesc, may_hold: bool) -> Result<u64> {
        desc.user_data = self.next_user_data;
        self.next_user_data += 1;
        let index = self.sq.tail();
        let alone = matches!(self.backend, Backend::Soft(_)) && self.inflight == 0;
        if may_hold
            && alone
            && desc.src_len as usize <= WAKE_MIN_BYTES
            && self.sq.engine_sleeps()
            && !self.sq.is_dead()
        {
            // Waking the engine costs more than the request: keep it here,
            // unpublished, and let the engine sleep (no doorbell, and no
            // woken engine spinning on this CPU while the request runs).
            self.sync = Some(SyncRequest::Held(desc));
            return Ok(desc.user_data);
        }
        // SAFETY: the caller's contract is push's.
        match unsafe { self.push(&desc) } {
            Ok(()) => {}
            Err(Error::Busy) if alone => {
                self.sync = Some(SyncRequest::Held(desc));
                return Ok(desc.user_data);
            }
            Err(e) => return Err(e),
        }
        self.sync = alone.then_some(SyncRequest::Published(index, desc));
        self.submit()?;
        Ok(desc.user_data)
    }

    /// Waits for the completion of a request `start`ed with `user_data`,
    /// expected to move about `bytes` bytes. On the software device, if no
    /// engine has taken it within HANDOFF_BUDGET, this thread claims it back
    /// and runs it: a busy, sleeping or descheduled engine costs the caller
    /// at most that budget over running inline.
    pub(crate) fn finish(&mut self, user_data: u64, bytes: usize) -> Result<WdCqe> {
        let budget = service_budget(bytes);
        let cqe = match (self.sync.take(), &self.backend) {
            (Some(SyncRequest::Published(index, desc)), _)
                if desc.user_data == user_data && self.inflight == 1 =>
            {
                self.wait_or_claim(index, &desc, budget)?
            }
            (Some(SyncRequest::Held(desc)), Backend::Soft(h)) if desc.user_data == user_data => {
                self.counters.claimed.fetch_add(1, Ordering::Relaxed);
                h.run_here(&desc).cqe(user_data)
            }
            _ => self.wait_for(budget)?,
        };
        if cqe.user_data != user_data {
            return Err(Error::internal("completion for another request"));
        }
        Ok(cqe)
    }

    /// `wait_for` the one request in flight, published at SQ `index`,
    /// claiming it back (ring.rs, (F)) once HANDOFF_BUDGET has passed with no
    /// engine holding it.
    fn wait_or_claim(&mut self, index: u32, desc: &WdDesc, budget: Duration) -> Result<WdCqe> {
        let start = Instant::now();
        loop {
            if let Some(cqe) = self.reap()? {
                return Ok(cqe);
            }
            let Backend::Soft(h) = &self.backend else {
                break;
            };
            if h.is_taken(index) {
                break;
            }
            if start.elapsed() >= HANDOFF_BUDGET {
                let Some(done) = h.claim_and_run(index, desc) else {
                    break; // an engine took it just now: its completion comes
                };
                self.inflight -= 1;
                self.counters.claimed.fetch_add(1, Ordering::Relaxed);
                return Ok(done.cqe(desc.user_data));
            }
            std::hint::spin_loop();
        }
        self.wait_for(budget)
    }

    fn run_buffered(&mut self, job: Job<'_>) -> Result<WdCqe> {
        let Backend::Kernel(k) = &mut self.backend else {
            return Err(Error::internal("buffer mode without a kernel queue"));
        };
        let Src::Slice(src) = job.src;
        let (src_len, dst_len, aux_len) = (src.len(), job.dst.len(), job.aux.len());
        let bounce = k
            .bounce(src_len + dst_len + aux_len)
            .map_err(Error::from_io_device)?;
        let (src_off, dst_off, aux_off) = (0, src_len, src_len + dst_len);
        bounce.write(src_off, src);
        bounce.write(aux_off, job.aux);
        let mut desc = job.desc;
        let handle = bounce.handle() as u16;
        desc.src_buf = if src_len == 0 { 0 } else { handle };
        desc.src_addr = src_off as u64;
        desc.src_len = src_len as u32;
        desc.dst_buf = if dst_len == 0 { 0 } else { handle };
        desc.dst_addr = dst_off as u64;
        desc.dst_len = dst_len as u32;
        desc.aux_buf = if aux_len == 0 { 0 } else { handle };
        desc.aux_addr = aux_off as u64;
        desc.user_data = self.next_user_data;
        self.next_user_data += 1;
        // SAFETY: the descriptor names only the queue's own bounce buffer,
        // which lives as long as the queue.
        unsafe { self.push(&desc)? };
        self.submit()?;
        let cqe = self.wait_for(service_budget(src_len + dst_len))?;
        let Backend::Kernel(k) = &mut self.backend else {
            unreachable!()
        };
        let bounce = k
            .current_bounce()
            .ok_or_else(|| Error::internal("bounce buffer vanished"))?;
        if cqe.status == WD_STATUS_OK {
            let produced = (cqe.produced as usize).min(dst_len);
            bounce.read(dst_off, &mut job.dst[..produced]);
            bounce.read(aux_off, job.aux);
        }
        Ok(cqe)
    }

    /// Err(Forked) in a fork child of the process that bound the queue.
    fn check_fork(&self) -> Result<()> {
        if crate::device::forked_since(self.fork_gen) {
            return Err(Error::Forked);
        }
        Ok(())
    }

    /// Waits out every request still in flight (they complete or are
    /// cancelled); used before the queue, or memory it refers to, goes away.
    /// Descriptors queued but never published (an AsyncQueue dropped between
    /// submit and flush) are published first: no engine would ever see them,
    /// and waiting for their completions would never end.
    pub(crate) fn drain(&mut self) {
        if self.inflight > 0 && self.submit().is_err() {
            return;
        }
        while self.inflight > 0 {
            if self.wait().is_err() {
                break;
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if self.check_fork().is_err() {
            // Nothing serves this queue here: nothing is in flight for this
            // process, and the backend's Drop lets go of the parent's engine
            // and rings without touching them.
            return;
        }
        // What the owner still holds is abandoned: a soft engine cancels it
        // instead of running it (a kernel one runs it; both are bounded).
        if let Backend::Soft(h) = &self.backend {
            h.cancel_pending();
        }
        self.drain();
    }
}
