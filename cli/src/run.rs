//! `warpdrive run -- PROGRAM ARGS...`: runs an unmodified program with the zlib
//! drop-in preloaded and the OpenSSL provider configured, then says what was
//! offloaded.
//!
//! The stats channel: the child gets three files in a private temporary
//! directory, one per reporter, each appended to with one line per report
//! (the last line of a pid is its total):
//! - `WARPDRIVE_STATS_FILE`: the core's process-wide instance
//!   (`warpdrive::report_stats`, JSON; written at exit);
//! - `WARPDRIVE_ZLIB_STATS_FILE`: the zlib drop-in (`key=value` words, after
//!   each offloaded stream or call; survives `_exit`);
//! - the provider's `stats_file` (JSON with the provider's own core instance,
//!   written at provider teardown).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde::Serialize;

use crate::fail::Fail;
use crate::stats::{read_records, ProcRecord};
use crate::table::bytes;
use crate::{fail, opensslconf, sig};

pub struct RunArgs {
    pub zlib: bool,
    pub openssl: bool,
    pub json: bool,
    pub report: Option<PathBuf>,
    pub command: Vec<String>,
}

/// Install-layout directories beside this binary (`PREFIX/bin/warpdrive`).
fn installed_dirs() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    match exe.as_deref().and_then(Path::parent) {
        Some(d) => vec![
            d.join("../lib/warpdrive"),
            d.join("../lib/ossl-modules"),
            d.join("../lib64/ossl-modules"),
        ],
        None => Vec::new(),
    }
}

/// Cargo build directories: beside this binary (`target/<profile>/warpdrive`,
/// or `.../deps/` for tests), `$CARGO_TARGET_DIR`, the workspace's target.
fn build_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent).map(Path::to_path_buf);
    let mut targets: Vec<PathBuf> = Vec::new();
    if let Some(d) = &exe_dir {
        let profile = if d.ends_with("deps") {
            d.join("..")
        } else {
            d.clone()
        };
        dirs.push(profile.clone());
        dirs.push(profile.join("ossl-modules"));
        targets.push(profile.join(".."));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        targets.push(PathBuf::from(t));
    }
    targets.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for t in targets {
        for p in ["release", "debug"] {
            dirs.push(t.join(p));
            dirs.push(t.join(p).join("ossl-modules"));
        }
    }
    dirs
}

fn locate(env: &str, names: &[&str], dirs: Vec<PathBuf>) -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(vec![p]) };
    }
    let mut looked = Vec::new();
    for d in dirs {
        for n in names {
            let p = d.join(n);
            if p.is_file() {
                return Ok(p.canonicalize().unwrap_or(p));
            }
        }
        looked.push(d);
    }
    Err(looked)
}

/// The zlib drop-in: `$WARPDRIVE_CLI_ZLIB_SHIM`, an installed `lib/warpdrive/libz.so.1`,
/// or the cargo build's `libz.so`.
pub fn find_shim() -> Result<PathBuf, Fail> {
    let dirs = installed_dirs().into_iter().chain(build_dirs()).collect();
    locate("WARPDRIVE_CLI_ZLIB_SHIM", &["libz.so.1", "libz.so"], dirs).map_err(|looked| {
        Fail::new(format!(
            "zlib drop-in not found (set WARPDRIVE_CLI_ZLIB_SHIM, run `make install`, or `cargo build --release -p warpdrive-zlib`; looked in {} places, first {}); or pass --no-zlib",
            looked.len(),
            looked.first().map(|p| p.display().to_string()).unwrap_or_default()
        ))
    })
}

/// The provider module: `$WARPDRIVE_CLI_PROVIDER_MODULE`, an installed
/// `warpdrive.so` (beside this binary or in `openssl version -m`), or the
/// cargo build's `libwarpdrive_provider.so`.
pub fn find_provider() -> Result<PathBuf, Fail> {
    let mut dirs = installed_dirs();
    if let Ok(o) = Command::new("openssl").args(["version", "-m"]).output() {
        let s = String::from_utf8_lossy(&o.stdout);
        if let Some(d) = s.split('"').nth(1) {
            // The same directory relative to this binary's prefix first
            // (a package unpacked under another root: /usr/lib/<triplet>/...).
            let exe = std::env::current_exe().ok();
            if let (Some(bin), Some(rest)) = (
                exe.as_deref().and_then(Path::parent),
                Path::new(d).strip_prefix("/usr").ok(),
            ) {
                dirs.insert(0, bin.join("..").join(rest));
            }
            dirs.push(PathBuf::from(d));
        }
    }
    dirs.extend(build_dirs());
    locate(
        "WARPDRIVE_CLI_PROVIDER_MODULE",
        &["warpdrive.so", "libwarpdrive_provider.so"],
        dirs,
    )
    .map_err(|looked| {
        Fail::new(format!(
            "OpenSSL provider module warpdrive.so not found (set WARPDRIVE_CLI_PROVIDER_MODULE, run `make install`, or `provider-openssl/scripts/build-module.sh`; looked in {} places); or pass --no-openssl",
            looked.len()
        ))
    })
}

/// The file the child's libcrypto would read without us: `$OPENSSL_CONF`,
/// else OpenSSL's own `OPENSSLDIR/openssl.cnf`, if it exists.
fn users_openssl_conf() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OPENSSL_CONF").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let o = Command::new("openssl")
        .args(["version", "-d"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&o.stdout);
    let p = Path::new(s.split('"').nth(1)?).join("openssl.cnf");
    p.is_file().then_some(p)
}

/// The zlib drop-in's counters, summed over processes.
#[derive(Debug, Default, Serialize, Clone)]
pub struct ZlibSum {
    pub preloaded: bool,
    pub module: Option<String>,
    pub processes: u64,
    /// Fields of the drop-in's stats line, summed (offloaded, compress,
    /// uncompress, deflate_streams, inflate_streams, stream_calls, software,
    /// fallbacks, demoted, bytes_in, bytes_out, core_*).
    pub counters: BTreeMap<String, u64>,
}

/// The provider's counters, summed over processes.
#[derive(Debug, Default, Serialize, Clone)]
pub struct OpensslSum {
    pub configured: bool,
    pub module: Option<String>,
    pub processes: u64,
    pub provider: BTreeMap<String, u64>,
    /// The provider's own core instance.
    pub core: CoreSum,
}

#[derive(Debug, Default, Serialize, Clone, PartialEq, Eq)]
pub struct CoreSum {
    pub processes: u64,
    pub backends: Vec<String>,
    pub offloaded: u64,
    pub inline: u64,
    pub fallbacks: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl CoreSum {
    fn add(&mut self, r: &ProcRecord) {
        self.processes += 1;
        if !r.backend.is_empty() && !self.backends.contains(&r.backend) {
            self.backends.push(r.backend.clone());
        }
        self.offloaded += r.offloaded;
        self.inline += r.inline;
        self.fallbacks += r.fallbacks;
        self.errors += r.errors;
        self.bytes_in += r.bytes_in;
        self.bytes_out += r.bytes_out;
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub program: String,
    /// The program's exit code (128 + signal when killed).
    pub exit_status: i32,
    /// The signal that killed the program, if one did.
    pub signal: Option<i32>,
    /// Requests that went through a device queue, every instance together.
    pub offloaded_requests: u64,
    pub inline_requests: u64,
    pub fallbacks: u64,
    pub errors: u64,
    /// The process-wide core instance (used by the zlib drop-in and by
    /// anything linked to libwarpdrive).
    pub core: CoreSum,
    pub zlib: ZlibSum,
    pub openssl: OpensslSum,
}

/// `key=value` words of the zlib drop-in's lines, last line per pid.
pub fn read_zlib(path: &Path) -> BTreeMap<u64, BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_pid = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches("warpdrive-zlib:");
        let kv: BTreeMap<String, u64> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        if let Some(&pid) = kv.get("pid") {
            by_pid.insert(pid, kv);
        }
    }
    by_pid
}

/// The provider's JSON lines, last line per pid: (provider counters, core record).
pub fn read_provider(path: &Path) -> BTreeMap<u64, (BTreeMap<String, u64>, ProcRecord)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_pid = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
            continue;
        };
        let Some(pid) = v.get("pid").and_then(|p| p.as_u64()) else {
            continue;
        };
        let prov: BTreeMap<String, u64> = v
            .get("provider")
            .and_then(|p| p.as_object())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut core: ProcRecord = v
            .get("core")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        core.pid = pid;
        by_pid.insert(pid, (prov, core));
    }
    by_pid
}

pub fn build_report(
    program: &str,
    exit_status: i32,
    signal: Option<i32>,
    dir: &Path,
    zlib_module: Option<&Path>,
    provider_module: Option<&Path>,
) -> Report {
    let core_recs = read_records(&dir.join("core.jsonl"));
    let zlib_recs = read_zlib(&dir.join("zlib.log"));
    let prov_recs = read_provider(&dir.join("provider.jsonl"));

    let mut core = CoreSum::default();
    let mut seen = std::collections::BTreeSet::new();
    for r in &core_recs {
        core.add(r);
        seen.insert(r.pid);
    }
    // A process that left with _exit() wrote no core line; the drop-in's
    // own line carries the core's counters as it saw them.
    for (pid, kv) in &zlib_recs {
        if seen.contains(pid) {
            continue;
        }
        let g = |k: &str| kv.get(k).copied().unwrap_or(0);
        core.add(&ProcRecord {
            pid: *pid,
            offloaded: g("core_offloaded"),
            inline: g("core_inline"),
            fallbacks: g("core_fallbacks"),
            errors: g("core_errors"),
            ..Default::default()
        });
    }

    let mut zlib = ZlibSum {
        preloaded: zlib_module.is_some(),
        module: zlib_module.map(|p| p.display().to_string()),
        processes: zlib_recs.len() as u64,
        counters: BTreeMap::new(),
    };
    for kv in zlib_recs.values() {
        for (k, v) in kv {
            if k != "pid" {
                *zlib.counters.entry(k.clone()).or_default() += v;
            }
        }
    }

    let mut openssl = OpensslSum {
        configured: provider_module.is_some(),
        module: provider_module.map(|p| p.display().to_string()),
        processes: prov_recs.len() as u64,
        ..Default::default()
    };
    for (prov, c) in prov_recs.values() {
        for (k, v) in prov {
            *openssl.provider.entry(k.clone()).or_default() += v;
        }
        openssl.core.add(c);
    }

    Report {
        program: program.to_string(),
        exit_status,
        signal,
        offloaded_requests: core.offloaded + openssl.core.offloaded,
        inline_requests: core.inline + openssl.core.inline,
        fallbacks: core.fallbacks + openssl.core.fallbacks,
        errors: core.errors + openssl.core.errors,
        core,
        zlib,
        openssl,
    }
}

/// "1 request", "2 requests".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn human(r: &Report) -> String {
    let how = match r.signal {
        Some(sig) => format!(
            "was killed by {} (exit status {})",
            sig::name(sig),
            r.exit_status
        ),
        None => format!("exited with status {}", r.exit_status),
    };
    let mut s = format!(
        "warpdrive: {} {how}\n\
         warpdrive: offloaded {} ({} inline, {} to software, {})\n",
        r.program,
        count(r.offloaded_requests, "request", "requests"),
        r.inline_requests,
        count(r.fallbacks, "fallback", "fallbacks"),
        count(r.errors, "error", "errors"),
    );
    let c = &r.core;
    s.push_str(&format!(
        "warpdrive:   core (zlib drop-in, libwarpdrive): {} offloaded, {} inline, {} fallbacks; {} in, {} out; backend {}; {} process(es)\n",
        c.offloaded,
        c.inline,
        c.fallbacks,
        bytes(c.bytes_in),
        bytes(c.bytes_out),
        if c.backends.is_empty() { "-".into() } else { c.backends.join(",") },
        c.processes
    ));
    if r.zlib.preloaded {
        let g = |k: &str| r.zlib.counters.get(k).copied().unwrap_or(0);
        s.push_str(&format!(
            "warpdrive:   zlib drop-in: {} calls/streams offloaded (compress {}, uncompress {}, deflate streams {}, inflate streams {}), {} in software, {} fallbacks, {} in, {} out\n",
            g("offloaded"),
            g("compress"),
            g("uncompress"),
            g("deflate_streams"),
            g("inflate_streams"),
            g("software"),
            g("fallbacks"),
            bytes(g("bytes_in")),
            bytes(g("bytes_out")),
        ));
    } else {
        s.push_str("warpdrive:   zlib drop-in: not preloaded\n");
    }
    if r.openssl.configured {
        let g = |k: &str| r.openssl.provider.get(k).copied().unwrap_or(0);
        let o = &r.openssl.core;
        s.push_str(&format!(
            "warpdrive:   openssl provider: {} offloaded, {} inline, {} fallbacks; gcm {} ops, ctr {}, cbc {}, digests {} ops, hmac {} ops; {} process(es)\n",
            o.offloaded,
            o.inline,
            o.fallbacks,
            g("gcm_ops"),
            bytes(g("ctr_bytes")),
            bytes(g("cbc_bytes")),
            g("digest_ops"),
            g("hmac_ops"),
            r.openssl.processes
        ));
    } else {
        s.push_str("warpdrive:   openssl provider: not configured\n");
    }
    s.pop();
    s
}

/// Whether `prog` names an existing file, directly or through `$PATH`.
fn program_exists(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(prog).is_file()))
}

/// Appends what the child wrote to our private stats file to the file the
/// user had named in `var`, so that setting keeps working under `run`.
fn pass_on(var: &str, ours: &Path) {
    let Some(theirs) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        return;
    };
    let Ok(text) = std::fs::read(ours) else {
        return;
    };
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&theirs)
        .and_then(|mut f| f.write_all(&text));
    if let Err(e) = r {
        eprintln!(
            "warpdrive: warning: cannot append to {var}={}: {e}",
            Path::new(&theirs).display()
        );
    }
}

pub fn cmd_run(args: RunArgs) -> Result<ExitCode, Fail> {
    let Some((prog, rest)) = args.command.split_first() else {
        fail!("no program given (usage: warpdrive run -- PROGRAM ARGS...)");
    };
    // env(1) and timeout(1): 127 when the program is not found, 126 when
    // it cannot be executed.
    if !program_exists(prog) {
        return Err(Fail::new(format!("program not found: {prog}")).code(127));
    }
    let shim = if args.zlib { Some(find_shim()?) } else { None };
    let provider = if args.openssl {
        Some(find_provider()?)
    } else {
        None
    };
    let dir = tempfile::Builder::new()
        .prefix("warpdrive-run-")
        .tempdir()
        .map_err(|e| Fail::new(format!("cannot create a temporary directory: {e}")))?;
    let core_file = dir.path().join("core.jsonl");
    let zlib_file = dir.path().join("zlib.log");
    let prov_file = dir.path().join("provider.jsonl");

    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .env(warpdrive::STATS_FILE_ENV, &core_file)
        .env("WARPDRIVE_ZLIB_STATS_FILE", &zlib_file);
    if let Some(s) = &shim {
        let mut pre = s.display().to_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|o| !o.is_empty()) {
            pre = format!("{pre}:{}", old.to_string_lossy());
        }
        cmd.env("LD_PRELOAD", pre);
    }
    if let Some(p) = &provider {
        let conf = dir.path().join("openssl.cnf");
        let base = users_openssl_conf().and_then(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            Some((path, text))
        });
        let text = opensslconf::merged(
            base.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
            p,
            &prov_file,
        );
        std::fs::write(&conf, text)
            .map_err(|e| Fail::new(format!("cannot write {}: {e}", conf.display())))?;
        cmd.env("OPENSSL_CONF", &conf)
            .env("WARPDRIVE_PROVIDER_STATS", &prov_file);
    }
    sig::catch();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Fail::new(format!("program not found: {prog}")).code(127))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Fail::new(format!("cannot execute {prog}: permission denied")).code(126))
        }
        Err(e) => return Err(Fail::new(format!("cannot run {prog}: {e}")).code(126)),
    };
    sig::forward_to(child.id());
    let status = child
        .wait()
        .map_err(|e| Fail::new(format!("cannot wait for {prog}: {e}")))?;
    let signal = status.signal();
    let code = status.code().unwrap_or_else(|| 128 + signal.unwrap_or(0));
    for (var, ours) in [
        (warpdrive::STATS_FILE_ENV, &core_file),
        ("WARPDRIVE_ZLIB_STATS_FILE", &zlib_file),
        ("WARPDRIVE_PROVIDER_STATS", &prov_file),
    ] {
        pass_on(var, ours);
    }
    let report = build_report(
        prog,
        code,
        signal,
        dir.path(),
        shim.as_deref(),
        provider.as_deref(),
    );
    let json = serde_json::to_string(&report).unwrap_or_default();
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| Fail::new(format!("cannot write report {}: {e}", path.display())))?;
    }
    let mut err = std::io::stderr().lock();
    let _ = if args.json {
        writeln!(err, "{json}")
    } else {
        writeln!(err, "{}", human(&report))
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
