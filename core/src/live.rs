//! Live per-process records: every process that uses WarpDrive keeps one
//! small file, `RUNTIME_DIR/PID.json`, rewritten in place as it works and
//! removed at exit. The record holds the process-wide instance's counters
//! (top level, when the process has one) and one object per layer that
//! registered itself ([`register`]: `"zlib"` for the drop-in, `"provider"`
//! for the provider, whose instance is its own). It is rewritten by
//! [`refresh`] (offloaded streams and calls, provider teardown, exit) and by
//! [`tick`] at most every `TICK_MS` while requests come (every core call,
//! every software stream of the drop-in, every provider counter), so a
//! burst of small work shows within that time.
//!
//! The drop-in and the provider each carry a copy of the core, so one
//! process may have several writers: each copy keeps its own file, named
//! after the first layer it registered (`PID.zlib.json`,
//! `PID.provider.json`; `PID.json` for a program that links the core or
//! `libwarpdrive.so` itself). `warpdrive stats` shows every file of a live
//! pid. `warpdrive stats` lists the records of live
//! processes. No environment is needed, so it works for programs that clear
//! theirs (nginx workers); the directory (`/run/warpdrive`, made mode 1777
//! by the tmpfiles.d entry `make install` writes) takes records from every
//! user, so it also works after a privilege drop.
//!
//! A record is one JSON object padded with spaces to `RECORD_LEN` bytes and
//! written with one `pwrite` at offset 0, so the file never changes size and
//! a reader that finds a torn object retries. The file is opened with
//! `O_NOFOLLOW` and used only if it is a regular file of our own, so a link
//! planted in the shared directory is never written through.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sys;

/// Names the records' directory (default `/run/warpdrive`).
pub const RUNTIME_DIR_ENV: &str = "WARPDRIVE_RUNTIME_DIR";

/// Every record is this long (a newline last).
pub const RECORD_LEN: usize = 4096;

/// `tick` rewrites the record at most this often (milliseconds).
pub const TICK_MS: u64 = 50;

/// Layers that publish their own counters: (name, members of its object).
type Section = (&'static str, fn() -> String);
static SECTIONS: Mutex<Vec<Section>> = Mutex::new(Vec::new());

/// The layer this copy of the core writes for: the first registered.
static OWNER: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// This copy's record file name for `pid`.
pub fn file_name(pid: u32) -> String {
    match OWNER.get() {
        Some(o) => format!("{pid}.{o}.json"),
        None => format!("{pid}.json"),
    }
}

enum Slot {
    Unopened,
    Open {
        pid: u32,
        file: File,
        path: PathBuf,
        /// Fixed for the life of the pid: read once.
        start_time: u64,
        program: String,
    },
    /// No directory, or a file we must not use: never try again in this pid.
    Off {
        pid: u32,
    },
}

static SLOT: Mutex<Slot> = Mutex::new(Slot::Unopened);

/// The records' directory, if it exists.
pub fn dir() -> Option<PathBuf> {
    let d = crate::settings::raw(RUNTIME_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/warpdrive"));
    d.is_dir().then_some(d)
}

/// Field 22 of /proc/PID/stat: the start time in clock ticks since boot,
/// which tells a live process from a later one with the same pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let rest = &s[s.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn program() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn open(pid: u32) -> Option<(File, PathBuf)> {
    let path = dir()?.join(file_name(pid));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .ok()?;
    let m = file.metadata().ok()?;
    (m.is_file() && m.uid() == sys::geteuid() && m.nlink() == 1).then_some((file, path))
}

fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Adds a layer's object to this process's record, as `"name":{members()}`
/// (once per name). Nothing is written until the layer's first work
/// (`tick`, `refresh`): a program that only loads the drop-in leaves no
/// record.
pub fn register(name: &'static str, members: fn() -> String) {
    let _ = OWNER.set(name);
    {
        let mut s = SECTIONS.lock().unwrap_or_else(|e| e.into_inner());
        if !s.iter().any(|(n, _)| *n == name) {
            s.push((name, members));
        }
    }
}

fn millis() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

static LAST: AtomicU64 = AtomicU64::new(0);

/// A tick was skipped and its flush is owed: the flusher thread writes the
/// record when the `TICK_MS` window ends, so an idle process shows its last
/// work too.
static OWED: AtomicBool = AtomicBool::new(false);

/// This process's flusher thread (spawned on the first owed flush; a fork
/// child makes its own).
static FLUSHER: Mutex<Option<(u32, std::thread::Thread)>> = Mutex::new(None);

/// Rewrites the record if the last write is `TICK_MS` old; else leaves the
/// write owed to the flusher thread. Cheap enough for every request: a
/// clock read and a load or two while a write is owed already.
pub fn tick() {
    let now = millis() + TICK_MS;
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= TICK_MS
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        refresh();
        return;
    }
    if !OWED.swap(true, Ordering::AcqRel) {
        wake_flusher();
    }
}

fn wake_flusher() {
    let pid = sys::getpid();
    // try_lock: after fork() a thread that is gone may hold it.
    let Ok(mut f) = FLUSHER.try_lock() else {
        return;
    };
    match &*f {
        Some((p, t)) if *p == pid => t.unpark(),
        _ => {
            let spawned = std::thread::Builder::new()
                .name("warpdrive-live".into())
                .spawn(flusher);
            if let Ok(h) = spawned {
                *f = Some((pid, h.thread().clone()));
            } else {
                OWED.store(false, Ordering::Release);
            }
        }
    }
}

fn flusher() {
    loop {
        while !OWED.load(Ordering::Acquire) {
            std::thread::park();
        }
        std::thread::sleep(std::time::Duration::from_millis(TICK_MS));
        OWED.store(false, Ordering::Release);
        refresh();
    }
}

/// Writes this process's record now (creating it on first use): the
/// process-wide instance's counters, if it has one, and every registered
/// layer's.
pub fn refresh() {
    LAST.store(millis() + TICK_MS, Ordering::Relaxed);
    let pid = sys::getpid();
    // Gathered before the record's lock: a layer's function may take locks
    // of its own.
    let core = crate::device::live_core(pid);
    let sections: Vec<Section> = SECTIONS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut body = String::new();
    if let Some((backend, s)) = core {
        body.push_str(&format!(",\"backend\":\"{backend}\",{}", s.json_members()));
    }
    for (name, f) in sections {
        body.push_str(&format!(",\"{name}\":{{{}}}", f()));
    }
    write(pid, &body);
}

fn write(pid: u32, body: &str) {
    let mut slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
    let stale = match &*slot {
        Slot::Unopened => true,
        Slot::Open { pid: p, .. } | Slot::Off { pid: p } => *p != pid,
    };
    if stale {
        // A forked child inherits the parent's slot: that record is not its
        // own (dropping the copy closes only the child's descriptor).
        *slot = Slot::Off { pid };
        if let Some((file, path)) = open(pid) {
            *slot = Slot::Open {
                pid,
                file,
                path,
                start_time: start_time(pid).unwrap_or(0),
                program: escape(&program()),
            };
        }
    }
    let Slot::Open {
        file,
        start_time,
        program,
        ..
    } = &*slot
    else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rec = format!(
        "{{\"pid\":{pid},\"start_time\":{start_time},\"program\":\"{program}\",\"uid\":{},\"updated\":{now}{body}}}",
        sys::getuid(),
    );
    if rec.len() >= RECORD_LEN {
        return;
    }
    rec.push_str(&" ".repeat(RECORD_LEN - 1 - rec.len()));
    rec.push('\n');
    let _ = file.write_all_at(rec.as_bytes(), 0);
}

/// Removes this process's record (at exit, provider teardown); later work
/// would write it again.
pub fn remove(pid: u32) {
    let mut slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
    if let Slot::Open { pid: p, path, .. } = &*slot {
        if *p == pid {
            let _ = std::fs::remove_file(path);
            *slot = Slot::Unopened;
        }
    }
}
