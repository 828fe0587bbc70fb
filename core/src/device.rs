//! The process-wide instance: which backend serves requests, the pool of
//! bound queues, the inline thresholds, and what happens across fork().

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::kernel::KernelDevice;
use crate::queue::Queue;
use crate::softdev::SoftDevice;
use crate::stats::{ProcessCounters, Stats};
use crate::sys;
use crate::uapi::WD_DEFAULT_RING_ENTRIES;

/// Which backend to use. `Auto` prefers a kernel device, then the software
/// device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Kernel,
    Softdev,
    Inline,
}

/// The backend actually in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Kernel,
    Softdev,
    Inline,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Kernel => "kernel",
            BackendKind::Softdev => "softdev",
            BackendKind::Inline => "inline",
        }
    }
}

/// Sizes below which a request runs inline, per class of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineMax {
    pub compress: usize,
    pub decompress: usize,
    pub cipher: usize,
    pub hash: usize,
}

impl InlineMax {
    /// Sized for a device whose engines take the work off the CPU: below
    /// these sizes the 0.7-1 us ring round trip is a large share of the
    /// request. On the software device a synchronous request never beats
    /// inline (same engines plus a hand-off); `cargo bench -p
    /// warpdrive-benches --bench threshold` measures where it stops costing
    /// more than 10% (docs/performance.md), and `WARPDRIVE_INLINE_MAX*`
    /// override these.
    pub const DEFAULT: InlineMax = InlineMax {
        compress: 16 << 10,
        decompress: 16 << 10,
        cipher: 256 << 10,
        hash: 256 << 10,
    };

    pub fn all(n: usize) -> InlineMax {
        InlineMax {
            compress: n,
            decompress: n,
            cipher: n,
            hash: n,
        }
    }
}

/// Why a request would run in software instead of on a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Software {
    /// Below the inline threshold of its class (size policy).
    Small,
    /// No queue to take: no device, every queue bound, or a bind failed.
    NoQueue,
    /// The device failed the request.
    Fallback,
    /// A session that runs on the inline engines (a stream with no queue,
    /// a hash or cipher session).
    Session,
}

impl Software {
    fn why(self) -> &'static str {
        match self {
            Software::Small => "below the inline threshold",
            Software::NoQueue => "no device queue",
            Software::Fallback => "the device failed the request",
            Software::Session => "a session on the inline engines",
        }
    }
}

/// Whether this process runs in strict "device only, never software" mode
/// (`WARPDRIVE_STRICT`, or `strict` in the configuration file), read once.
/// The drop-in and the provider ask it too, for the software paths of their
/// own.
pub fn strict() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| crate::settings::flag("WARPDRIVE_STRICT", "off").unwrap_or(false))
}

/// Refuses, in strict mode, a session that would run on the inline engines
/// with no instance at hand (hash and cipher sessions); counted on the
/// process-wide instance only if it exists already.
pub(crate) fn refuse_session() -> Result<()> {
    if !strict() {
        return Ok(());
    }
    if let Some(slot) = GLOBAL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        slot.instance
            .counters
            .refused
            .fetch_add(1, Ordering::Relaxed);
    }
    Err(Error::DeviceOnly(Software::Session.why()))
}

/// Settings for an instance; `Config::from_env` reads the documented
/// environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: BackendChoice,
    /// Engine threads of the software device.
    pub engines: usize,
    pub inline_max: InlineMax,
    pub sq_entries: u32,
    /// Most queues the pool will bind.
    pub max_queues: usize,
    /// A particular kernel device (by name under /dev/warpdrive), if any.
    pub device: Option<String>,
    /// Device only (`WARPDRIVE_STRICT=1`): a request that would run in
    /// software (below an inline threshold, no queue, after a device
    /// failure, no device at all) fails with `Error::DeviceOnly` instead.
    pub strict: bool,
}

impl Default for Config {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            backend: BackendChoice::Auto,
            engines: cpus.clamp(1, 64),
            inline_max: InlineMax::DEFAULT,
            sq_entries: WD_DEFAULT_RING_ENTRIES,
            max_queues: 64,
            device: None,
            strict: false,
        }
    }
}

impl Config {
    /// `WARPDRIVE_BACKEND=auto|kernel|softdev|inline`, `WARPDRIVE_DEVICE=name`,
    /// `WARPDRIVE_ENGINES=n`, `WARPDRIVE_INLINE_MAX=bytes` (all classes) and
    /// `WARPDRIVE_INLINE_MAX_{COMPRESS,DECOMPRESS,CIPHER,HASH}`,
    /// `WARPDRIVE_MAX_QUEUES=n`, `WARPDRIVE_STRICT=1`. Sizes take a k, m or g
    /// suffix. An invalid value warns once on stderr and keeps the default
    /// (docs/configuration.md).
    pub fn from_env() -> Config {
        use crate::settings;
        let mut c = Config::default();
        if let Some(b) = settings::choice(
            "WARPDRIVE_BACKEND",
            &[
                ("auto", BackendChoice::Auto),
                ("kernel", BackendChoice::Kernel),
                ("softdev", BackendChoice::Softdev),
                ("soft", BackendChoice::Softdev),
                ("inline", BackendChoice::Inline),
                ("off", BackendChoice::Inline),
                ("none", BackendChoice::Inline),
            ],
            "auto",
        ) {
            c.backend = b;
        }
        c.device = settings::raw("WARPDRIVE_DEVICE").map(|s| s.trim().to_string());
        c.strict = strict();
        if c.strict {
            // Device only: no request is kept in software because it is small.
            c.inline_max = InlineMax::all(0);
        }
        if let Some(n) = settings::count("WARPDRIVE_ENGINES", 1, 64, "one per CPU") {
            c.engines = n;
        }
        if let Some(n) = settings::count("WARPDRIVE_MAX_QUEUES", 1, 1024, "64") {
            c.max_queues = n;
        }
        if let Some(n) = settings::size("WARPDRIVE_INLINE_MAX", "the per-class defaults") {
            c.inline_max = InlineMax::all(n);
        }
        let d = InlineMax::DEFAULT;
        let m = &mut c.inline_max;
        for (var, slot, default) in [
            ("WARPDRIVE_INLINE_MAX_COMPRESS", &mut m.compress, d.compress),
            (
                "WARPDRIVE_INLINE_MAX_DECOMPRESS",
                &mut m.decompress,
                d.decompress,
            ),
            ("WARPDRIVE_INLINE_MAX_CIPHER", &mut m.cipher, d.cipher),
            ("WARPDRIVE_INLINE_MAX_HASH", &mut m.hash, d.hash),
        ] {
            if let Some(n) = settings::size(var, &format!("{}k", default >> 10)) {
                *slot = n;
            }
        }
        c
    }
}

enum Device {
    Kernel(KernelDevice),
    Soft(SoftDevice),
    None,
}

/// An instance: a backend, its queues and counters. Most programs use the
/// process-wide one (`global()`); tests and tools make their own.
pub struct Warpdrive {
    config: Config,
    device: Device,
    pool: Mutex<Vec<Queue>>,
    bound: AtomicUsize,
    pub(crate) counters: ProcessCounters,
    failures: AtomicU64,
    /// The fork generation it was made in (see `forked_since`).
    fork_gen: u64,
}

impl Warpdrive {
    pub fn new(config: Config) -> Result<Warpdrive> {
        let fork_gen = fork_generation();
        let kernel = || -> Option<KernelDevice> {
            let all = KernelDevice::discover();
            match &config.device {
                Some(name) => all.into_iter().find(|d| &d.name == name),
                None => all.into_iter().next(),
            }
        };
        let device = match config.backend {
            BackendChoice::Inline => Device::None,
            BackendChoice::Kernel => {
                Device::Kernel(kernel().ok_or(Error::Unsupported("no /dev/warpdrive device"))?)
            }
            BackendChoice::Softdev => Device::Soft(SoftDevice::new(config.engines)?),
            BackendChoice::Auto => match kernel() {
                Some(k) => Device::Kernel(k),
                None => Device::Soft(SoftDevice::new(config.engines)?),
            },
        };
        Ok(Warpdrive {
            config,
            device,
            pool: Mutex::new(Vec::new()),
            bound: AtomicUsize::new(0),
            counters: ProcessCounters::default(),
            failures: AtomicU64::new(0),
            fork_gen,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn backend(&self) -> BackendKind {
        match self.device {
            Device::Kernel(_) => BackendKind::Kernel,
            Device::Soft(_) => BackendKind::Softdev,
            Device::None => BackendKind::Inline,
        }
    }

    /// The kernel device in use, if any.
    pub fn kernel_device(&self) -> Option<&KernelDevice> {
        match &self.device {
            Device::Kernel(k) => Some(k),
            _ => None,
        }
    }

    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Simulates removal of the software device under its users (tests and
    /// `warpdrive selftest`); the kernel device is removed through sysfs instead.
    #[doc(hidden)]
    pub fn remove_soft_device(&self) -> bool {
        match &self.device {
            Device::Soft(s) => {
                s.remove();
                true
            }
            _ => false,
        }
    }

    /// Engine-side counters of the software device, if that is the backend.
    pub fn device_stats(&self) -> Option<crate::softdev::DeviceStats> {
        match &self.device {
            Device::Soft(s) => Some(s.stats()),
            _ => None,
        }
    }

    /// Binds a new queue on the backend (not from the pool).
    pub fn bind_queue(&self) -> Result<Queue> {
        if forked_since(self.fork_gen) {
            return Err(Error::Forked);
        }
        let counters = self.counters.new_queue();
        match &self.device {
            Device::Soft(s) => Queue::new_soft(s.create_queue(self.config.sq_entries)?, counters),
            Device::Kernel(k) => Queue::new_kernel(
                k.bind(self.config.sq_entries)
                    .map_err(Error::from_io_device)?,
                counters,
            ),
            Device::None => Err(Error::Unsupported("inline backend has no queues")),
        }
    }

    /// A queue for exclusive use until the guard drops, or None when the
    /// backend has none to give (inline backend, every queue busy, device
    /// failing): the caller then runs the request inline.
    pub(crate) fn checkout(&self) -> Option<PooledQueue<'_>> {
        // In a fork child the pool's queues are the parent's (and its lock
        // may have been held by a thread that is gone): run inline.
        if matches!(self.device, Device::None) || forked_since(self.fork_gen) {
            return None;
        }
        if let Some(q) = self.pool.lock().unwrap().pop() {
            return Some(PooledQueue {
                owner: self,
                queue: Some(q),
            });
        }
        if self.bound.fetch_add(1, Ordering::AcqRel) >= self.config.max_queues {
            self.bound.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        match self.bind_queue() {
            Ok(q) => Some(PooledQueue {
                owner: self,
                queue: Some(q),
            }),
            Err(_) => {
                self.bound.fetch_sub(1, Ordering::AcqRel);
                self.failures.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub(crate) fn inline_max(&self) -> &InlineMax {
        &self.config.inline_max
    }

    /// A request is about to run in software for `why`: counted, and in
    /// strict mode refused with `Error::DeviceOnly`.
    pub(crate) fn software(&self, why: Software) -> Result<()> {
        let c = &self.counters;
        if self.config.strict {
            c.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::DeviceOnly(why.why()));
        }
        let n = match why {
            Software::Small => &c.small,
            Software::NoQueue => &c.no_queue,
            Software::Fallback => &c.fallbacks,
            Software::Session => return Ok(()),
        };
        n.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A queue borrowed from the pool; returned on drop unless it failed.
pub(crate) struct PooledQueue<'a> {
    owner: &'a Warpdrive,
    queue: Option<Queue>,
}

impl PooledQueue<'_> {
    pub fn get(&mut self) -> &mut Queue {
        self.queue.as_mut().expect("queue present until drop")
    }

    /// The queue failed (device gone): drop it instead of pooling it.
    pub fn discard(mut self) {
        if let Some(q) = self.queue.take() {
            drop(q);
            self.owner.bound.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for PooledQueue<'_> {
    fn drop(&mut self) {
        if let Some(mut q) = self.queue.take() {
            if forked_since(self.owner.fork_gen) {
                return; // the parent's queue: dropped here, never pooled
            }
            q.drain();
            self.owner.pool.lock().unwrap().push(q);
        }
    }
}

/// A queue taken from the pool for as long as a session lives.
pub(crate) struct OwnedQueue {
    owner: Arc<Warpdrive>,
    queue: Option<Queue>,
}

impl OwnedQueue {
    pub fn get(&mut self) -> &mut Queue {
        self.queue.as_mut().expect("queue present until drop")
    }

    pub fn queue(&self) -> &Queue {
        self.queue.as_ref().expect("queue present until drop")
    }

    pub fn supports_streams(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.supports_streams())
    }

    /// The queue failed (device gone): drop it instead of pooling it.
    pub fn discard(mut self) {
        if let Some(q) = self.queue.take() {
            drop(q);
            self.owner.bound.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        if let Some(q) = self.queue.take() {
            PooledQueue {
                owner: &self.owner,
                queue: Some(q),
            };
        }
    }
}

impl Warpdrive {
    /// Like `checkout`, for a session that keeps the queue.
    pub(crate) fn checkout_owned(self: &Arc<Self>) -> Option<OwnedQueue> {
        let mut pooled = self.checkout()?;
        let queue = pooled.queue.take();
        Some(OwnedQueue {
            owner: self.clone(),
            queue,
        })
    }
}

struct GlobalSlot {
    gen: u64,
    pid: u32,
    instance: Arc<Warpdrive>,
}

static GLOBAL: RwLock<Option<GlobalSlot>> = RwLock::new(None);

/// Bumped in the child by a pthread_atfork handler: the cheap way to notice
/// a fork (getpid() is a real system call on current glibc).
static FORK_GEN: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    FORK_GEN.fetch_add(1, Ordering::AcqRel);
}

/// The current fork generation, with the hook that counts forks installed
/// first: every object that must notice a fork (an instance, its device and
/// queues) takes this when it is made and compares with `forked_since`.
pub(crate) fn fork_generation() -> u64 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| sys::at_fork_child(forked_child));
    FORK_GEN.load(Ordering::Acquire)
}

/// Whether this process is a fork() child of the one that was at `gen`:
/// then no engine thread serves what was made at `gen`, kernel rings made
/// then are not mapped here, and locks engine threads held may stay held.
pub(crate) fn forked_since(gen: u64) -> bool {
    FORK_GEN.load(Ordering::Relaxed) != gen
}

/// The process-wide instance, configured from the environment on first use.
///
/// After fork() the child gets a fresh instance: the parent's engine threads
/// do not exist in the child and kernel ring mappings are not inherited
/// (VM_DONTCOPY), so the old instance is leaked, never touched again.
pub fn global() -> Arc<Warpdrive> {
    let gen = FORK_GEN.load(Ordering::Acquire);
    if let Some(slot) = GLOBAL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if slot.gen == gen {
            return slot.instance.clone();
        }
    }
    static HOOKS: std::sync::Once = std::sync::Once::new();
    HOOKS.call_once(|| {
        fork_generation();
        // A forked child inherits this; report_stats() only speaks for the
        // instance of the current pid. Also removes the live record.
        sys::at_exit(report_stats_at_exit);
    });
    let mut guard = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(slot) = guard.as_ref() {
        if slot.gen == gen {
            return slot.instance.clone();
        }
    }
    let config = Config::from_env();
    let instance = Arc::new(Warpdrive::new(config.clone()).unwrap_or_else(|e| {
        let asked = match (&config.backend, &config.device) {
            (_, Some(d)) => format!("WARPDRIVE_DEVICE={d}"),
            (BackendChoice::Kernel, None) => "WARPDRIVE_BACKEND=kernel".to_string(),
            (b, None) => format!("backend {b:?}"),
        };
        if config.strict {
            crate::settings::warn(&format!(
                "{asked}: {e}; every request fails (WARPDRIVE_STRICT=1 allows no software)"
            ));
        } else {
            crate::settings::warn(&format!(
                "{asked}: {e}; running every request in software (set WARPDRIVE_STRICT=1 to make this an error)"
            ));
        }
        Warpdrive::new(Config {
            backend: BackendChoice::Inline,
            ..config
        })
        .expect("the inline backend cannot fail")
    }));
    if config.strict && config.backend == BackendChoice::Inline {
        crate::settings::warn(
            "WARPDRIVE_STRICT=1 with no device backend: every request fails (WARPDRIVE_STRICT=1 allows no software)",
        );
    }
    if let Some(old) = guard.take() {
        // Made by the parent: its threads and mappings are not ours.
        std::mem::forget(old.instance);
    }
    let pid = sys::getpid();
    *guard = Some(GlobalSlot {
        gen,
        pid,
        instance: instance.clone(),
    });
    drop(guard);
    // The process shows in `warpdrive stats` from its first request on.
    crate::live::refresh();
    instance
}

/// The process-wide instance's backend and counters for the live record, if
/// the instance belongs to process `pid` (not to a parent before fork).
pub(crate) fn live_core(pid: u32) -> Option<(&'static str, Stats)> {
    let g = GLOBAL.read().unwrap_or_else(|e| e.into_inner());
    let slot = g.as_ref().filter(|s| s.pid == pid)?;
    Some((slot.instance.backend().name(), slot.instance.stats()))
}

thread_local! {
    static CACHED: std::cell::RefCell<Option<(u64, Arc<Warpdrive>)>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on the process-wide instance without touching any shared cache
/// line on the fast path (a thread-local handle, checked against forks).
pub(crate) fn with_global<R>(f: impl FnOnce(&Warpdrive) -> R) -> R {
    let gen = FORK_GEN.load(Ordering::Acquire);
    let mut f = Some(f);
    let r = CACHED.try_with(|c| {
        let fresh = matches!(&*c.borrow(), Some((g, _)) if *g == gen);
        if !fresh {
            *c.borrow_mut() = Some((gen, global()));
        }
        let b = c.borrow();
        let wd = &b.as_ref().expect("just filled").1;
        (f.take().expect("called once"))(wd)
    });
    let r = match r {
        Ok(r) => r,
        // Thread-local storage is being torn down: take the slow path.
        Err(_) => (f.take().expect("not called yet"))(&global()),
    };
    crate::live::tick();
    r
}

/// Counters of the process-wide instance.
pub fn stats() -> Stats {
    with_global(|wd| wd.stats())
}

/// The environment variable naming a file that receives one JSON line of
/// counters per process: at exit, and whenever `report_stats` is called (the
/// shims call it from deflateEnd/inflateEnd and provider teardown, since
/// some programs leave with `_exit`). `warpdrive run` reads it.
pub const STATS_FILE_ENV: &str = "WARPDRIVE_STATS_FILE";

/// Appends this process's counters to `$WARPDRIVE_STATS_FILE`, if set and
/// if the process-wide instance belongs to this process. Readers take the
/// last line of each pid.
pub fn report_stats() -> std::io::Result<()> {
    use std::io::Write;
    let pid = sys::getpid();
    let instance = match GLOBAL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(slot) if slot.pid == pid => slot.instance.clone(),
        _ => return Ok(()),
    };
    let s = instance.stats();
    // The live record (core/src/live.rs), whatever the environment says.
    crate::live::refresh();
    let Some(path) = crate::settings::raw(STATS_FILE_ENV) else {
        return Ok(());
    };
    let line = format!(
        "{{\"pid\":{pid},\"backend\":\"{}\",{}}}\n",
        instance.backend().name(),
        s.json_members()
    );
    // One write(2) with O_APPEND: lines from concurrent processes never interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}

extern "C" fn report_stats_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let _ = report_stats();
        crate::live::remove(sys::getpid());
    });
}
