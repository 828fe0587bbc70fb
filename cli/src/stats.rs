//! `warpdrive stats`: device counters (sysfs for kernel devices) and, from a
//! `WARPDRIVE_STATS_FILE`, the counters each process reported.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::devices::{self, Device};
use crate::fail::Fail;
use crate::table::{bytes, Table};
use crate::{fail, out};

pub struct StatsArgs {
    pub watch: bool,
    pub interval: f64,
    pub count: Option<u64>,
    pub device: Option<String>,
    pub stats_file: Option<PathBuf>,
    pub json: bool,
}

/// One process's counters, as the core writes them to `WARPDRIVE_STATS_FILE`
/// (`warpdrive::report_stats`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ProcRecord {
    pub pid: u64,
    pub backend: String,
    pub offloaded: u64,
    pub inline: u64,
    pub fallbacks: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub doorbells: u64,
    pub max_inflight: u64,
    pub queues: u64,
}

/// The last record of each pid in a stats file (a process appends a line
/// each time it reports; the last one is its total). Lines that do not parse
/// are skipped; a missing file is no records.
pub fn read_records(path: &Path) -> Vec<ProcRecord> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_pid: BTreeMap<u64, ProcRecord> = BTreeMap::new();
    for line in text.lines() {
        if let Ok(r) = serde_json::from_str::<ProcRecord>(line.trim()) {
            by_pid.insert(r.pid, r);
        }
    }
    by_pid.into_values().collect()
}

/// A live process's record (`warpdrive::live`): its counters as of its
/// last report, while it runs. One process may have several, one per copy
/// of the core it carries (`PID.json` for the core itself, `PID.zlib.json`
/// for the drop-in, `PID.provider.json` for the provider).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LiveRecord {
    pub pid: u64,
    pub program: String,
    pub uid: u64,
    /// Seconds since the Unix epoch of the last report.
    pub updated: u64,
    pub start_time: u64,
    /// `core`, `zlib` or `provider`: whose record (from the file name).
    pub layer: String,
    /// The process-wide instance of this copy of the core (empty: none).
    pub backend: String,
    pub offloaded: u64,
    pub inline: u64,
    pub fallbacks: u64,
    /// Of `inline`: below the inline threshold, no queue; refused in strict mode.
    pub small: u64,
    pub no_queue: u64,
    pub refused: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub doorbells: u64,
    pub max_inflight: u64,
    pub queues: u64,
    /// The drop-in's counters (streams and calls, software and why).
    pub zlib: Option<serde_json::Value>,
    /// The provider's counters and its own core instance's (`core`).
    pub provider: Option<serde_json::Value>,
}

/// One row of the live table: a layer's work in one process.
struct LiveRow {
    layer: &'static str,
    backend: String,
    offloaded: u64,
    software: u64,
    why: String,
    bytes_in: u64,
    bytes_out: u64,
}

fn why_text(parts: &[(&str, u64)]) -> String {
    let v: Vec<String> = parts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

impl LiveRecord {
    /// What the table shows for this record: the drop-in's streams and
    /// calls, the provider's core instance, or the core's own instance.
    fn rows(&self) -> Vec<LiveRow> {
        let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
        let mut rows = Vec::new();
        if let Some(z) = &self.zlib {
            let w = &z["why"];
            rows.push(LiveRow {
                layer: "zlib",
                backend: self.backend.clone(),
                offloaded: n(z, "offloaded"),
                software: n(z, "software"),
                why: why_text(&[
                    ("small", n(w, "small")),
                    ("params", n(w, "params")),
                    ("off", n(w, "off")),
                    ("gz", n(w, "gzfile")),
                    ("fallback", n(w, "fallback")),
                    ("demoted", n(w, "demoted")),
                    ("refused", n(z, "refused")),
                ]),
                bytes_in: n(z, "bytes_in"),
                bytes_out: n(z, "bytes_out"),
            });
        }
        if let Some(p) = &self.provider {
            let c = &p["core"];
            rows.push(LiveRow {
                layer: "provider",
                backend: c["backend"].as_str().unwrap_or("-").to_string(),
                offloaded: n(c, "offloaded"),
                software: n(c, "inline") + n(p, "soft_ops"),
                why: why_text(&[
                    ("small", n(c, "small")),
                    ("no queue", n(c, "no_queue")),
                    ("fallback", n(c, "fallbacks")),
                    ("default provider", n(p, "soft_ops")),
                    ("refused", n(c, "refused")),
                ]),
                bytes_in: n(c, "bytes_in"),
                bytes_out: n(c, "bytes_out"),
            });
        }
        if rows.is_empty() && !self.backend.is_empty() {
            rows.push(LiveRow {
                layer: "core",
                backend: self.backend.clone(),
                offloaded: self.offloaded,
                software: self.inline,
                why: why_text(&[
                    ("small", self.small),
                    ("no queue", self.no_queue),
                    ("fallback", self.fallbacks),
                    ("refused", self.refused),
                ]),
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
            });
        }
        rows
    }
}

/// The records of processes that are still running (a record whose pid is
/// gone, or is now another process, is skipped, and removed when we may).
pub fn read_live(dir: &Path) -> Vec<LiveRecord> {
    let me = std::process::id() as u64;
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        // A writer rewrites the record in place: retry a torn read.
        let rec = (0..3).find_map(|_| {
            let text = std::fs::read_to_string(&p).ok()?;
            serde_json::from_str::<LiveRecord>(text.trim()).ok()
        });
        let Some(mut r) = rec else { continue };
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        r.layer = match name.split_once('.') {
            Some((_, "zlib")) => "zlib",
            Some((_, "provider")) => "provider",
            _ => "core",
        }
        .into();
        if r.pid == me {
            continue;
        }
        if warpdrive::live::start_time(r.pid as u32) != Some(r.start_time) {
            let _ = std::fs::remove_file(&p);
            continue;
        }
        v.push(r);
    }
    v.sort_by(|a, b| (a.pid, &a.layer).cmp(&(b.pid, &b.layer)));
    v
}

#[derive(Serialize)]
struct Snapshot {
    /// Seconds since the Unix epoch.
    time: f64,
    devices: Vec<Device>,
    /// Live records of running processes (`warpdrive::live`), from `live_dir`.
    live: Vec<LiveRecord>,
    live_dir: Option<String>,
    processes: Vec<ProcRecord>,
    /// Per second since the previous refresh (with --watch).
    rates: Option<BTreeMap<String, Rate>>,
}

#[derive(Serialize, Clone, Copy)]
struct Rate {
    requests_per_s: f64,
    bytes_in_per_s: f64,
    bytes_out_per_s: f64,
}

fn collect(args: &StatsArgs, file: Option<&Path>) -> Result<Snapshot, Fail> {
    let mut devices = match &args.device {
        Some(name) => vec![devices::find(name)?],
        None => devices::all_devices(),
    };
    let processes = file.map(read_records).unwrap_or_default();
    let live_dir = warpdrive::live::dir();
    let live = live_dir.as_deref().map(read_live).unwrap_or_default();
    // The software device lives inside each process: its counters are what
    // the processes that use it published (live) or reported (stats file).
    for d in devices.iter_mut().filter(|d| d.kind == "software") {
        d.scope = match file {
            Some(_) => "live+file",
            None => "live",
        };
        d.queues_in_use = Some(0);
        for p in live.iter().filter(|p| p.backend == "softdev") {
            d.counters.requests += p.offloaded;
            d.counters.bytes_in += p.bytes_in;
            d.counters.bytes_out += p.bytes_out;
            d.counters.errors += p.errors;
            d.queues_in_use = d.queues_in_use.map(|q| q + p.queues);
        }
        // The provider's own instance.
        for c in live
            .iter()
            .filter_map(|p| p.provider.as_ref().map(|v| &v["core"]))
        {
            if c["backend"] == "softdev" {
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                d.counters.requests += n("offloaded");
                d.counters.bytes_in += n("bytes_in");
                d.counters.bytes_out += n("bytes_out");
                d.counters.errors += n("errors");
                d.queues_in_use = d.queues_in_use.map(|q| q + n("queues"));
            }
        }
        let is_live = |pid: u64| live.iter().any(|l| l.pid == pid);
        for p in processes
            .iter()
            .filter(|p| p.backend == "softdev" && !is_live(p.pid))
        {
            d.counters.requests += p.offloaded;
            d.counters.bytes_in += p.bytes_in;
            d.counters.bytes_out += p.bytes_out;
            d.counters.errors += p.errors;
        }
    }
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Ok(Snapshot {
        time,
        devices,
        live,
        live_dir: live_dir.map(|d| d.display().to_string()),
        processes,
        rates: None,
    })
}

fn render(s: &Snapshot, file: Option<&Path>) -> String {
    let mut t = Table::new(&[
        "DEVICE",
        "REQUESTS",
        "REQ/S",
        "BYTES IN",
        "BYTES OUT",
        "ERRORS",
        "REJECTED",
        "INFLIGHT",
        "CTXS",
        "QUEUES",
        "SCOPE",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for d in &s.devices {
        let c = &d.counters;
        let rate = s
            .rates
            .as_ref()
            .and_then(|r| r.get(&d.name))
            .map_or("-".into(), |r| format!("{:.0}", r.requests_per_s));
        t.row(vec![
            d.name.clone(),
            c.requests.to_string(),
            rate,
            bytes(c.bytes_in),
            bytes(c.bytes_out),
            c.errors.to_string(),
            c.rejected.to_string(),
            c.inflight.to_string(),
            c.open_contexts.to_string(),
            match (d.queues_in_use, d.queues_total) {
                (Some(u), Some(t)) => format!("{u}/{t}"),
                _ => "-".into(),
            },
            d.scope.into(),
        ]);
    }
    let mut text = t.render();
    match &s.live_dir {
        None => text.push_str(
            "\n\nno live records: /run/warpdrive does not exist (make install creates it; or set WARPDRIVE_RUNTIME_DIR)",
        ),
        Some(d) if s.live.is_empty() => {
            text.push_str(&format!("\n\nno running process has published to {d}"))
        }
        Some(d) => {
            let mut p = Table::new(&[
                "PID",
                "PROGRAM",
                "LAYER",
                "BACKEND",
                "OFFLOADED",
                "SOFTWARE",
                "WHY SOFTWARE",
                "BYTES IN",
                "BYTES OUT",
                "AGE",
            ])
            .right(&[0, 4, 5, 7, 8, 9]);
            for r in &s.live {
                for row in r.rows() {
                    p.row(vec![
                        r.pid.to_string(),
                        r.program.clone(),
                        row.layer.into(),
                        row.backend,
                        row.offloaded.to_string(),
                        row.software.to_string(),
                        row.why,
                        bytes(row.bytes_in),
                        bytes(row.bytes_out),
                        format!("{}s", (s.time as u64).saturating_sub(r.updated)),
                    ]);
                }
            }
            text.push_str(&format!("\n\nlive processes ({d}):\n{}", p.render()));
        }
    }
    match file {
        Some(f) if s.processes.is_empty() => {
            text.push_str(&format!("\n\nno process has reported to {}", f.display()));
        }
        Some(f) => {
            let mut p = Table::new(&[
                "PID",
                "BACKEND",
                "OFFLOADED",
                "INLINE",
                "FALLBACKS",
                "ERRORS",
                "BYTES IN",
                "BYTES OUT",
                "DOORBELLS",
                "MAX INFLIGHT",
                "QUEUES",
            ])
            .right(&[0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
            for r in &s.processes {
                p.row(vec![
                    r.pid.to_string(),
                    r.backend.clone(),
                    r.offloaded.to_string(),
                    r.inline.to_string(),
                    r.fallbacks.to_string(),
                    r.errors.to_string(),
                    bytes(r.bytes_in),
                    bytes(r.bytes_out),
                    r.doorbells.to_string(),
                    r.max_inflight.to_string(),
                    r.queues.to_string(),
                ]);
            }
            text.push_str(&format!("\n\nprocesses ({}):\n{}", f.display(), p.render()));
        }
        None => {}
    }
    text
}

pub fn cmd_stats(args: StatsArgs) -> Result<(), Fail> {
    if !(args.interval.is_finite() && args.interval > 0.0) {
        fail!("--interval must be a positive number of seconds");
    }
    let file = args
        .stats_file
        .clone()
        .or_else(|| std::env::var_os(warpdrive::STATS_FILE_ENV).map(PathBuf::from));
    if let Some(f) = &args.stats_file {
        if let Err(e) = std::fs::metadata(f) {
            fail!("cannot read stats file {}: {e}", f.display());
        }
    }
    let file = file.as_deref();
    if !args.watch {
        let s = collect(&args, file)?;
        if args.json {
            out::json(&s);
        } else {
            out::line(&render(&s, file));
        }
        return Ok(());
    }
    let tty = std::io::stdout().is_terminal();
    let interval = Duration::from_secs_f64(args.interval);
    let mut prev: Option<(Instant, Snapshot)> = None;
    let mut n = 0u64;
    loop {
        let now = Instant::now();
        let mut s = collect(&args, file)?;
        if let Some((t0, p)) = &prev {
            let dt = now.duration_since(*t0).as_secs_f64().max(1e-6);
            let mut rates = BTreeMap::new();
            for d in &s.devices {
                if let Some(o) = p.devices.iter().find(|o| o.name == d.name) {
                    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
                    rates.insert(
                        d.name.clone(),
                        Rate {
                            requests_per_s: per(d.counters.requests, o.counters.requests),
                            bytes_in_per_s: per(d.counters.bytes_in, o.counters.bytes_in),
                            bytes_out_per_s: per(d.counters.bytes_out, o.counters.bytes_out),
                        },
                    );
                }
            }
            s.rates = Some(rates);
        }
        if args.json {
            // One object per line, so a script can read it as a stream.
            out::line(&serde_json::to_string(&s).unwrap_or_default());
        } else {
            if tty {
                out::line("\x1b[H\x1b[2J");
            } else if n > 0 {
                out::line("");
            }
            out::line(&format!(
                "warpdrive stats (every {:.1}s{})",
                args.interval,
                if tty { ", Ctrl-C to quit" } else { "" }
            ));
            out::line(&render(&s, file));
        }
        out::flush();
        n += 1;
        if args.count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        prev = Some((now, s));
        std::thread::sleep(interval);
    }
}
