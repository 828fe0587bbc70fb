//! The software device: engine threads that serve the same rings, through the
//! same ABI, as the kernel module's engines. A queue's ring lives in anonymous
//! shared memory; the submitter and the engine follow `ring`'s contract.
//!
//! Each queue is served by one engine thread, so a queue completes its
//! requests in order (streams rely on it). Engines poll for a while before they
//! sleep: waking a sleeping thread costs ~58 us on these machines, a ring
//! round trip with a polling engine well under 1 us.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memmap2::MmapRaw;

use crate::exec::{self, AddressMode, Streams};
use crate::ring::{Claims, CqProducer, Layout, SqConsumer};
use crate::sys;
use crate::uapi::*;

/// How long an idle engine keeps polling before it sleeps.
const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(200);
/// Descriptors an engine takes from one queue before it looks at the next.
const BATCH: u32 = 32;

/// One queue as the engine sees it.
pub(crate) struct SoftQueue {
    map: Arc<MmapRaw>,
    sq: Mutex<SqConsumer>,
    cq: Mutex<CqProducer>,
    streams: Mutex<Streams>,
    /// One claim word per SQ slot (ring.rs, (F)).
    claims: Claims,
    /// Set by the owner when it goes away: pending work is cancelled.
    closing: AtomicBool,
    /// Signalled after every batch of completions, for owners that wait in
    /// poll()/epoll (AsyncQueue::wait_fd).
    notify: std::sync::OnceLock<std::os::fd::OwnedFd>,
}

/// A snapshot of the software device's engine-side counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeviceStats {
    pub requests: u64,
    pub errors: u64,
    /// Descriptors that failed validation.
    pub rejected: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Of `requests`, those their submitter claimed back and ran itself
    /// because no engine had taken them within the hand-off budget.
    pub claimed: u64,
    pub queues_created: u64,
    pub engines: u64,
}

/// Counters one engine keeps (the software twin of the module's sysfs ones),
/// on lines of their own: engines count every request, and a line shared
/// between engines would bounce between their cores on each one.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct EngineCounters {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub rejected: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub claimed: AtomicU64,
    /// Sleeps that no doorbell ended (the futex timeout) after which the
    /// engine found work: a lost wake-up. Tests hold it at zero.
    pub late_wakes: AtomicU64,
}

struct Engine {
    /// Futex word: bumped by every doorbell.
    doorbell: AtomicU32,
    queues: Mutex<Vec<Arc<SoftQueue>>>,
    /// Bumped whenever `queues` changes, so the engine's hot loop copies the
    /// list only then.
    queues_gen: AtomicU64,
    stop: AtomicBool,
    idle_spin: Duration,
    counters: EngineCounters,
}

/// The in-process device.
pub struct SoftDevice {
    engines: Vec<Arc<Engine>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_engine: AtomicUsize,
    queues_created: AtomicU32,
    removed: AtomicBool,
    fork_gen: u64,
}

/// What the owner of a soft queue holds: the ring mapping and a way to ring
/// the engine's doorbell.
pub(crate) struct SoftQueueHandle {
    pub map: Arc<MmapRaw>,
    pub layout_sq: WdRingOffsets,
    pub layout_cq: WdRingOffsets,
    /// Index of the engine thread serving the queue.
    pub engine_slot: usize,
    queue: Arc<SoftQueue>,
    engine: Arc<Engine>,
    fork_gen: u64,
}

impl SoftDevice {
    /// Starts `engines` engine threads.
    pub fn new(engines: usize) -> std::io::Result<SoftDevice> {
        Self::with_idle_spin(engines, DEFAULT_IDLE_SPIN)
    }

    pub fn with_idle_spin(engines: usize, idle_spin: Duration) -> std::io::Result<SoftDevice> {
        let mut list = Vec::new();
        let mut threads = Vec::new();
        for i in 0..engines.max(1) {
            let engine = Arc::new(Engine {
                doorbell: AtomicU32::new(0),
                queues: Mutex::new(Vec::new()),
                queues_gen: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                idle_spin,
                counters: EngineCounters::default(),
            });
            let e = engine.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("warpdrive-engine{i}"))
                    .spawn(move || e.run())?,
            );
            list.push(engine);
        }
        Ok(SoftDevice {
            engines: list,
            threads: Mutex::new(threads),
            next_engine: AtomicUsize::new(0),
            queues_created: AtomicU32::new(0),
            removed: AtomicBool::new(false),
            fork_gen: crate::device::fork_generation(),
        })
    }

    /// The engines' own counters, summed (what sysfs shows for a kernel
    /// device).
    pub fn stats(&self) -> DeviceStats {
        let sum = |f: fn(&EngineCounters) -> &AtomicU64| -> u64 {
            self.engines
                .iter()
                .map(|e| f(&e.counters).load(Ordering::Relaxed))
                .sum()
        };
        DeviceStats {
            requests: sum(|c| &c.requests),
            errors: sum(|c| &c.errors),
            rejected: sum(|c| &c.rejected),
            bytes_in: sum(|c| &c.bytes_in),
            bytes_out: sum(|c| &c.bytes_out),
            claimed: sum(|c| &c.claimed),
            queues_created: self.queues_created.load(Ordering::Relaxed) as u64,
            engines: self.engines.len() as u64,
        }
    }

    #[cfg(test)]
    fn late_wakes(&self) -> u64 {
        self.engines
            .iter()
            .map(|e| e.counters.late_wakes.load(Ordering::Relaxed))
            .sum()
    }

    /// Creates a queue with `sq_entries` submission slots (a power of two).
    pub(crate) fn create_queue(&self, sq_entries: u32) -> std::io::Result<SoftQueueHandle> {
        if self.removed.load(Ordering::Acquire) {
            return Err(std::io::Error::from_raw_os_error(libc::ENODEV));
        }
        let sq_entries = sq_entries.clamp(1, WD_MAX_RING_ENTRIES).next_power_of_two();
        let cq_entries = (sq_entries * 2).min(WD_MAX_RING_ENTRIES);
        let layout = Layout::new(sq_entries, cq_entries, sys::page_size());
        let map = Arc::new(sys::map_anonymous(layout.size)?);
        layout.init(&map);
        let bad = |e| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        // SAFETY: the SoftQueue keeps `map` alive beside both views.
        let (sq, cq) = unsafe {
            (
                SqConsumer::new(&map, &layout.sq).map_err(bad)?,
                CqProducer::new(&map, &layout.cq).map_err(bad)?,
            )
        };
        // A fresh ring starts as the module's do, with NEED_WAKEUP set: its
        // first submissions ring the doorbell until the engine adopts it.
        sq.prepare_sleep();
        let queue = Arc::new(SoftQueue {
            map: map.clone(),
            sq: Mutex::new(sq),
            cq: Mutex::new(cq),
            streams: Mutex::new(Streams::new()),
            claims: Claims::new(sq_entries),
            closing: AtomicBool::new(false),
            notify: std::sync::OnceLock::new(),
        });
        self.queues_created.fetch_add(1, Ordering::Relaxed);
        let i = self.next_engine.fetch_add(1, Ordering::Relaxed) % self.engines.len();
        let engine = self.engines[i].clone();
        engine.queues.lock().unwrap().push(queue.clone());
        engine.queues_gen.fetch_add(1, Ordering::Release);
        engine.ring_doorbell();
        Ok(SoftQueueHandle {
            map,
            layout_sq: layout.sq,
            layout_cq: layout.cq,
            engine_slot: i,
            queue,
            engine,
            fork_gen: crate::device::fork_generation(),
        })
    }
}

impl SoftDevice {
    /// Makes every queue fail as if the device had been removed: the engines
    /// drop their queues and mark them dead. Requests already completed stay
    /// completed; new ones get `DeviceGone` (and the core runs them inline).
    pub fn remove(&self) {
        self.removed.store(true, Ordering::Release);
        for e in &self.engines {
            let removed: Vec<_> = e.queues.lock().unwrap().drain(..).collect();
            e.queues_gen.fetch_add(1, Ordering::Release);
            for q in removed {
                q.closing.store(true, Ordering::Release);
                // Cancel what is pending so that no waiter hangs.
                e.serve(&q);
                q.sq.lock().unwrap().mark_dead();
                let cq = q.cq.lock().unwrap();
                cq.mark_dead();
                if cq.publish() {
                    sys::futex_wake_all(cq.tail_word());
                }
            }
        }
    }
}

impl Drop for SoftDevice {
    fn drop(&mut self) {
        let threads = std::mem::take(self.threads.get_mut().unwrap_or_else(|e| e.into_inner()));
        if crate::device::forked_since(self.fork_gen) {
            // A fork child: the engine threads exist only in the parent, and
            // joining one would wait forever. Their handles are just memory.
            std::mem::forget(threads);
            return;
        }
        for e in &self.engines {
            e.stop.store(true, Ordering::Release);
            e.ring_doorbell();
        }
        for t in threads {
            let _ = t.join();
        }
        // Queues may outlive the device (an AsyncQueue holds no reference to
        // it): with no engine left, cancel what they hold and mark them dead,
        // so that their owners get errors instead of waiting forever.
        self.remove();
    }
}

impl SoftQueueHandle {
    pub fn doorbell(&self) {
        self.engine.ring_doorbell();
    }

    /// The owner abandons what it queued: the engine answers CANCELLED for
    /// every descriptor it has not started.
    pub fn cancel_pending(&self) {
        self.queue.closing.store(true, Ordering::Release);
    }

    /// (F) producer side: the slot at `index` is about to be published.
    pub fn submitted(&self, index: u32) {
        self.queue.claims.submitted(index);
    }

    /// Whether the engine has taken the request at `index`.
    pub fn is_taken(&self, index: u32) -> bool {
        self.queue.claims.is_taken(index)
    }

    /// Claims the request published at `index` (whose descriptor is `desc`)
    /// back from the engine and runs it on the calling thread, on the same
    /// executor and stream state the engine uses. None if the engine took it
    /// first: then its completion comes through the CQ as usual.
    pub fn claim_and_run(&self, index: u32, desc: &WdDesc) -> Option<exec::Done> {
        if !self.queue.claims.claim(index) {
            return None;
        }
        Some(self.run_here(desc))
    }

    /// Runs a request that is this thread's (claimed back, or never
    /// published) as the engine would, with the queue's stream state.
    pub fn run_here(&self, desc: &WdDesc) -> exec::Done {
        self.engine.counters.claimed.fetch_add(1, Ordering::Relaxed);
        let mut streams = self.queue.streams.lock().unwrap();
        self.engine.run_one(desc, &mut streams)
    }

    /// The eventfd the engine signals after each batch of completions.
    pub fn notify_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        if self.queue.notify.get().is_none() {
            let fd = sys::eventfd()?;
            let _ = self.queue.notify.set(fd);
        }
        Ok(self.queue.notify.get().expect("set above").as_fd())
    }
}

impl Drop for SoftQueueHandle {
    /// The owner has already reaped every completion it waited for; anything
    /// still pending is cancelled, and the engine lets go of the queue.
    fn drop(&mut self) {
        self.queue.closing.store(true, Ordering::Release);
        if crate::device::forked_since(self.fork_gen) {
            // A fork child: no engine serves this copy of the queue, and an
            // engine thread may have held the list's lock at the fork.
            return;
        }
        self.engine
            .queues
            .lock()
            .unwrap()
            .retain(|q| !Arc::ptr_eq(q, &self.queue));
        self.engine.queues_gen.fetch_add(1, Ordering::Release);
    }
}

impl Engine {
    fn ring_doorbell(&self) {
        self.doorbell.fetch_add(1, Ordering::Release);
        sys::futex_wake_all(&self.doorbell);
    }

    fn run(&self) {
        let mut idle_since = Instant::now();
        let mut queues: Vec<Arc<SoftQueue>> = Vec::new();
        let mut seen_gen = u64::MAX;
        let mut idle_spins = 0u32;
        // The last sleep ended with the doorbell unchanged.
        let mut unrung = false;
        loop {
            let gen = self.queues_gen.load(Ordering::Acquire);
            if gen != seen_gen {
                queues.clone_from(&self.queues.lock().unwrap());
                seen_gen = gen;
                // Awake and polling them: fresh rings start asking for a
                // doorbell (create_queue), which they no longer need.
                for q in &queues {
                    q.sq.lock().unwrap().end_sleep();
                }
            }
            let mut worked = false;
            for q in &queues {
                worked |= self.serve(q);
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let timed_out = std::mem::take(&mut unrung);
            if timed_out && worked {
                self.counters.late_wakes.fetch_add(1, Ordering::Relaxed);
            }
            if worked {
                // The clock is read lazily: the first idle pass after work
                // starts the idle period, and then every 64th pass checks it.
                idle_spins = 0;
                continue;
            }
            if idle_spins == 0 {
                idle_since = Instant::now();
            }
            idle_spins = idle_spins.wrapping_add(1);
            // A timeout that found nothing goes back to sleep without a
            // spin: an idle process costs a few microseconds per timeout.
            if !timed_out && (idle_spins % 64 != 0 || idle_since.elapsed() < self.idle_spin) {
                std::hint::spin_loop();
                continue;
            }
            // (E) consumer side, for every queue this engine serves. The
            // doorbell is read before the list is checked: a queue created
            // after this read rings it, so the wait below returns at once; a
            // queue created before it shows in queues_gen, and is adopted
            // before any sleep.
            let seen = self.doorbell.load(Ordering::Acquire);
            if self.queues_gen.load(Ordering::Acquire) != seen_gen {
                idle_spins = 0;
                continue;
            }
            let work_arrived = queues.iter().any(|q| q.sq.lock().unwrap().prepare_sleep());
            if !work_arrived {
                sys::futex_wait(&self.doorbell, seen, Some(Duration::from_millis(100)));
                unrung = self.doorbell.load(Ordering::Acquire) == seen;
            }
            for q in &queues {
                q.sq.lock().unwrap().end_sleep();
            }
            idle_spins = 0;
        }
    }

    /// Takes up to BATCH descriptors from one queue; true if it did anything.
    fn serve(&self, q: &SoftQueue) -> bool {
        let mut sq = q.sq.lock().unwrap();
        let pending = match sq.pending() {
            // Idle polls touch one lock and the SQ tail, nothing else.
            Ok(0) => return false,
            Ok(n) => n,
            Err(_) => {
                // Corrupt indices: the queue is unusable, and says so.
                let cq = q.cq.lock().unwrap();
                sq.mark_dead();
                cq.mark_dead();
                if cq.publish() {
                    sys::futex_wake_all(cq.tail_word());
                }
                return false;
            }
        };
        let mut cq = q.cq.lock().unwrap();
        let closing = q.closing.load(Ordering::Acquire);
        let mut streams = q.streams.lock().unwrap();
        let (mut done, mut completed) = (0, 0);
        // Never take a descriptor whose completion has nowhere to go.
        while done < pending.min(BATCH) && cq.space() > 0 {
            let index = sq.head();
            let desc = sq.take();
            done += 1;
            // (F): a request its submitter claimed back is its own to run
            // and to complete; the engine only moves past its slot.
            if !q.claims.take(index) {
                continue;
            }
            let result = if closing {
                exec::Done {
                    status: WD_STATUS_CANCELLED,
                    ..Default::default()
                }
            } else {
                self.run_one(&desc, &mut streams)
            };
            let pushed = cq.push(&result.cqe(desc.user_data));
            debug_assert!(pushed, "space was checked");
            completed += 1;
        }
        sq.release();
        if cq.publish() {
            sys::futex_wake_all(cq.tail_word());
        }
        if completed > 0 {
            if let Some(fd) = q.notify.get() {
                use std::os::fd::AsFd;
                sys::eventfd_signal(fd.as_fd());
            }
        }
        done > 0
    }

    fn run_one(&self, desc: &WdDesc, streams: &mut Streams) -> exec::Done {
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        let decoded = match exec::decode(desc, AddressMode::Sva) {
            Ok(d) => d,
            Err(status) => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
                return exec::Done {
                    status,
                    ..Default::default()
                };
            }
        };
        // SAFETY: the software device serves SVA queues of this process only;
        // whoever queued the descriptor promised (SoftQueue owners push through
        // `Queue::push`, an unsafe fn with that contract) that its regions stay
        // valid and untouched until the completion is reaped.
        let result = unsafe { exec::execute(&decoded, streams) };
        if result.status == WD_STATUS_OK {
            c.bytes_in
                .fetch_add(result.consumed as u64, Ordering::Relaxed);
            c.bytes_out
                .fetch_add(result.produced as u64, Ordering::Relaxed);
        } else {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl SoftQueue {
    #[allow(dead_code)]
    fn mapping_len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Queue;
    use crate::stats::QueueCounters;

    fn nop() -> WdDesc {
        WdDesc {
            opcode: WD_OP_NOP,
            ..Default::default()
        }
    }

    /// A queue created while its engine is on its way to sleep must still be
    /// served at once: the engine may not sleep on a stale list of queues, and
    /// a fresh ring asks for a doorbell until its engine has adopted it. A
    /// missed queue waits for the engine's 100 ms futex timeout; this is a
    /// correctness bound, not a timing benchmark. The engine counts every
    /// sleep that no doorbell ended after which it found work (a lost
    /// wake-up): that count must stay zero. Waits of 50 ms or more fail too,
    /// beyond 1% of the runs: on a machine with a load of 12 on 2 cores,
    /// scheduling alone delayed single requests by 53-431 ms.
    /// With no idle spin the engine heads for sleep after 64 idle passes;
    /// a few hundred idle queues make each pass (and so the window between
    /// reading the list and reading the doorbell) a few microseconds long, as
    /// in a process with many queues, and a random pause sweeps the creation
    /// of the next queue across the engine's way to sleep.
    #[test]
    fn the_first_request_on_a_fresh_queue_never_waits_for_a_timeout() {
        let dev = SoftDevice::with_idle_spin(1, Duration::ZERO).unwrap();
        let _idle: Vec<_> = (0..256).map(|_| dev.create_queue(8).unwrap()).collect();
        let started = Instant::now();
        let (mut runs, mut slow, mut worst) = (0u32, 0u32, Duration::ZERO);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        while runs < 8_000 && started.elapsed() < Duration::from_secs(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let jitter = Instant::now();
            while jitter.elapsed() < Duration::from_nanos(x % 600_000) {
                std::hint::spin_loop();
            }
            let handle = dev.create_queue(8).unwrap();
            let mut q = Queue::new_soft(handle, Arc::new(QueueCounters::default())).unwrap();
            let t = Instant::now();
            // push, submit and wait(), not start() and finish(): this is
            // about the engine's wake-up, so the submitter must not run the
            // request itself.
            // SAFETY: a NOP names no memory.
            unsafe { q.push(&nop()).unwrap() };
            q.submit().unwrap();
            let cqe = q.wait().unwrap();
            let took = t.elapsed();
            assert_eq!(cqe.status, WD_STATUS_OK);
            worst = worst.max(took);
            slow += u32::from(took >= Duration::from_millis(50));
            runs += 1;
        }
        let late = dev.late_wakes();
        eprintln!("{runs} fresh queues, worst first request {worst:?}, {slow} of 50 ms or more, {late} lost wake-ups");
        assert_eq!(late, 0, "the engine slept through work {late} times");
        assert!(
            slow * 100 <= runs,
            "{slow} of {runs} first requests waited 50 ms or more"
        );
        assert!(runs >= 500, "only {runs} runs in the time allowed");
    }

    /// The claim protocol under stress: threads on their own queues run
    /// synchronous compressions through start/finish while two engines poll,
    /// each busy with two threads' queues, so requests are both served and
    /// claimed back; pauses vary the timing. Each must run exactly once (the engines'
    /// request counter counts both paths; a request run twice would also
    /// leave a stray completion that fails the next finish) with the right
    /// result.
    #[test]
    fn requests_served_or_claimed_back_run_exactly_once() {
        use crate::queue::sva_addr;
        use warpdrive_engines as eng;
        const THREADS: u64 = 4;
        const EACH: u64 = 1500;
        // Engines that never sleep: a sleeping one is not raced, its
        // submitters keep small requests unpublished (Queue::start).
        let dev = Arc::new(SoftDevice::with_idle_spin(2, Duration::from_secs(10)).unwrap());
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let dev = dev.clone();
                std::thread::spawn(move || {
                    let handle = dev.create_queue(8).unwrap();
                    let mut q =
                        Queue::new_soft(handle, Arc::new(QueueCounters::default())).unwrap();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                    for i in 0..EACH {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let len = 64 + (x % 6000) as usize;
                        let src: Vec<u8> =
                            (0..len).map(|k| (k as u64 * (i + t) / 7) as u8).collect();
                        let mut dst = vec![0u8; len + 128];
                        let desc = WdDesc {
                            opcode: WD_OP_COMPRESS,
                            alg: WD_ALG_DEFLATE_RAW,
                            level: 1,
                            src_addr: sva_addr(src.as_ptr(), len),
                            src_len: len as u32,
                            dst_addr: sva_addr(dst.as_mut_ptr(), dst.len()),
                            dst_len: dst.len() as u32,
                            ..Default::default()
                        };
                        // SAFETY: src and dst outlive the request: finish()
                        // returns only with it completed.
                        let user_data = unsafe { q.start(desc).unwrap() };
                        let cqe = q.finish(user_data, 2 * len).unwrap();
                        assert_eq!(cqe.status, WD_STATUS_OK);
                        let mut back = vec![0u8; len];
                        let out = eng::decompress(
                            eng::Format::Raw,
                            &dst[..cqe.produced as usize],
                            &mut back,
                        )
                        .unwrap();
                        assert_eq!(out.produced, len);
                        assert!(back == src, "thread {t} request {i}");
                        if x % 16 == 0 {
                            std::thread::sleep(Duration::from_micros(x % 300));
                        }
                    }
                    q.counters.claimed.load(Ordering::Relaxed)
                })
            })
            .collect();
        let claimed: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let s = dev.stats();
        assert_eq!(
            s.requests,
            THREADS * EACH,
            "each request ran exactly once: {s:?}"
        );
        assert_eq!(s.claimed, claimed);
        assert_eq!(s.errors, 0);
        // How they split depends on the machine's load (at load 9-12, 50 to
        // 900 of 6,000 were served by the engines), so it is only shown.
        eprintln!("{claimed} of {} claimed back", THREADS * EACH);
    }
}
