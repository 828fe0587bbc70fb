//! Live per-process records: every process that uses the process-wide
//! instance keeps one small file, `RUNTIME_DIR/PID.json`, rewritten in place
//! whenever its counters are reported (`report_stats`: the zlib drop-in after
//! each offloaded stream or call, the provider at teardown, the core at exit)
//! and removed at exit. `warpdrive stats` lists the records of live
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
use std::sync::Mutex;

use crate::stats::Stats;
use crate::sys;

/// Names the records' directory (default `/run/warpdrive`).
pub const RUNTIME_DIR_ENV: &str = "WARPDRIVE_RUNTIME_DIR";

/// Every record is this long (a newline last).
pub const RECORD_LEN: usize = 1024;

enum Slot {
    Unopened,
    Open {
        pid: u32,
        file: File,
        path: PathBuf,
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
    let path = dir()?.join(format!("{pid}.json"));
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

/// Writes this process's record (creating it on first use).
pub fn publish(pid: u32, backend: &str, s: &Stats) {
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
            *slot = Slot::Open { pid, file, path };
        }
    }
    let Slot::Open { file, .. } = &*slot else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rec = format!(
        "{{\"pid\":{pid},\"start_time\":{},\"program\":\"{}\",\"uid\":{},\"updated\":{now},\"backend\":\"{backend}\",{}}}",
        start_time(pid).unwrap_or(0),
        escape(&program()),
        sys::getuid(),
        s.json_members()
    );
    if rec.len() >= RECORD_LEN {
        return;
    }
    rec.push_str(&" ".repeat(RECORD_LEN - 1 - rec.len()));
    rec.push('\n');
    let _ = file.write_all_at(rec.as_bytes(), 0);
}

/// Removes this process's record (at exit).
pub fn remove(pid: u32) {
    let mut slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
    if let Slot::Open { pid: p, path, .. } = &*slot {
        if *p == pid {
            let _ = std::fs::remove_file(path);
            *slot = Slot::Off { pid };
        }
    }
}
