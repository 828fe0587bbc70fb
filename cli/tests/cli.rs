//! Every subcommand run as a process, with its real output checked, and the
//! bad-input cases: one line on stderr, non-zero exit, no panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn cli() -> Command {
    let mut c = Command::cargo_bin("warpdrive").expect("warpdrive binary");
    // Tests decide which devices exist; the machine's environment does not.
    for v in [
        "WARPDRIVE_CLI_SELFTEST_BREAK",
        "WARPDRIVE_CLI_SYSFS_CLASS",
        "WARPDRIVE_CLI_DEV_DIR",
        "WARPDRIVE_STATS_FILE",
        "WARPDRIVE_BACKEND",
        "OPENSSL_CONF",
        "LD_PRELOAD",
    ] {
        c.env_remove(v);
    }
    c
}

/// A machine without kernel devices, whatever this one has.
fn no_kernel(c: &mut Command, dir: &Path) {
    let sys = dir.join("sys");
    let dev = dir.join("dev");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    c.env("WARPDRIVE_CLI_SYSFS_CLASS", sys)
        .env("WARPDRIVE_CLI_DEV_DIR", dev);
}

/// The softdev entry of a JSON device list (`list --json`, `stats --json`'s
/// `devices`).
fn softdev_in(devices: &Value) -> Option<&Value> {
    devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "softdev")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A bad-input failure: non-zero, exactly one line on stderr naming `what`.
fn assert_one_line_error(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err:?}"
    );
    assert!(err.starts_with("warpdrive: "), "{err:?}");
    assert!(err.contains(what), "stderr {err:?} should name {what:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err:?}"
    );
}

#[test]
fn list_shows_softdev_and_its_algorithms() {
    let o = cli().arg("list").output().unwrap();
    assert!(o.status.success());
    let s = stdout(&o);
    // The row and its continuation lines (the algorithms wrap at 100 columns).
    let mut lines = s.lines().skip_while(|l| !l.starts_with("softdev "));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no softdev row in {s}"));
    let line = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .collect::<Vec<_>>()
        .join(" ");
    for alg in [
        "deflate-raw",
        "zlib",
        "gzip",
        "aes-gcm",
        "sha256",
        "hmac-sha512",
        "chacha20-poly1305",
    ] {
        assert!(line.contains(alg), "{alg} missing from {line}");
    }
    assert!(s.starts_with("DEVICE"), "{s}");
}

#[test]
fn list_json_has_every_algorithm_of_softdev() {
    let o = cli().args(["list", "--json"]).output().unwrap();
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let soft = softdev_in(&v).expect("softdev in list --json");
    assert_eq!(soft["kind"], "software");
    assert_eq!(soft["algorithms"].as_array().unwrap().len(), 17);
    assert_eq!(soft["modes"][0], "sva");
}

#[test]
fn info_softdev() {
    cli()
        .args(["info", "softdev"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kind              software"))
        .stdout(predicate::str::contains("address modes     sva"))
        .stdout(predicate::str::contains("hmac-sha256"))
        .stdout(predicate::str::contains("engine threads"));
    let o = cli().args(["info", "softdev", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "softdev");
    assert_eq!(v["abi_version"], 1);
}

#[test]
fn info_unknown_device_is_one_line() {
    let o = cli().args(["info", "nosuchdev"]).output().unwrap();
    assert_one_line_error(&o, "unknown device 'nosuchdev'");
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

/// A kernel device as the module's sysfs shows it.
fn fake_kernel(dir: &Path) -> (PathBuf, PathBuf) {
    let sys = dir.join("sys");
    let dev = dir.join("dev");
    let d = sys.join("wd0");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    for (k, v) in [
        ("driver", "wd_soft"),
        ("algorithms", "deflate-raw zlib gzip sha256"),
        ("flags", "buffers validated poll streams"),
        ("isolation", "0"),
        ("queues_total", "16"),
        ("queues_free", "13"),
        ("ring_entries_max", "4096"),
        ("abi_version", "1"),
        ("requests", "1234"),
        ("bytes_in", "1048576"),
        ("bytes_out", "4096"),
        ("errors", "2"),
        ("rejected", "5"),
        ("inflight", "1"),
        ("open_contexts", "3"),
    ] {
        std::fs::write(d.join(k), format!("{v}\n")).unwrap();
    }
    (sys, dev)
}

#[test]
fn kernel_devices_come_from_sysfs() {
    let t = tempfile::tempdir().unwrap();
    let (sys, dev) = fake_kernel(t.path());
    let o = cli()
        .args(["list"])
        .env("WARPDRIVE_CLI_SYSFS_CLASS", &sys)
        .env("WARPDRIVE_CLI_DEV_DIR", &dev)
        .output()
        .unwrap();
    let s = stdout(&o);
    let row = s.lines().find(|l| l.starts_with("wd0 ")).expect(&s);
    assert!(row.contains("kernel") && row.contains("wd_soft"), "{row}");
    assert!(row.contains("buffers,validated"), "{row}");
    assert!(row.contains("3/13"), "used/free: {row}");
    assert!(s.lines().any(|l| l.starts_with("softdev ")));

    let o = cli()
        .args(["info", "wd0", "--json"])
        .env("WARPDRIVE_CLI_SYSFS_CLASS", &sys)
        .env("WARPDRIVE_CLI_DEV_DIR", &dev)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["isolation"], false);
    assert_eq!(v["queues_in_use"], 3);
    assert_eq!(v["counters"]["rejected"], 5);
    assert_eq!(v["algorithms"].as_array().unwrap().len(), 4);

    let o = cli()
        .args(["stats", "--json", "--device", "wd0"])
        .env("WARPDRIVE_CLI_SYSFS_CLASS", &sys)
        .env("WARPDRIVE_CLI_DEV_DIR", &dev)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["devices"][0]["counters"]["requests"], 1234);
    assert_eq!(v["devices"][0]["counters"]["inflight"], 1);
}

#[test]
fn stats_json_parses_and_names_softdev() {
    let o = cli().args(["stats", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(softdev_in(&v["devices"]).is_some());
    assert!(v["processes"].as_array().unwrap().is_empty());
}

#[test]
fn stats_reads_per_process_counters_from_a_stats_file() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("stats.jsonl");
    std::fs::write(
        &f,
        "{\"pid\":7,\"backend\":\"softdev\",\"offloaded\":1,\"inline\":0,\"fallbacks\":0,\"errors\":0,\"bytes_in\":10,\"bytes_out\":5,\"doorbells\":0,\"max_inflight\":1,\"queues\":1}\n\
         not json\n\
         {\"pid\":7,\"backend\":\"softdev\",\"offloaded\":4,\"inline\":2,\"fallbacks\":1,\"errors\":0,\"bytes_in\":100,\"bytes_out\":50,\"doorbells\":3,\"max_inflight\":2,\"queues\":1}\n\
         {\"pid\":9,\"backend\":\"softdev\",\"offloaded\":6,\"inline\":0,\"fallbacks\":0,\"errors\":1,\"bytes_in\":60,\"bytes_out\":30,\"doorbells\":0,\"max_inflight\":1,\"queues\":2}\n",
    )
    .unwrap();
    let o = cli()
        .args(["stats", "--json", "--stats-file"])
        .arg(&f)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let procs = v["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 2, "last line per pid");
    assert_eq!(procs[0]["offloaded"], 4);
    let soft = softdev_in(&v["devices"]).unwrap();
    assert_eq!(soft["counters"]["requests"], 10);
    assert_eq!(soft["counters"]["bytes_in"], 160);
    // And the table shows the processes.
    cli()
        .args(["stats", "--stats-file"])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("FALLBACKS"))
        .stdout(predicate::str::is_match(r"(?m)^\s+9\s+softdev\s+6\s").unwrap());
}

#[test]
fn stats_watch_refreshes() {
    let o = cli()
        .args([
            "stats",
            "--watch",
            "--json",
            "--count",
            "3",
            "--interval",
            "0.05",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["rates"].is_null());
    assert!(lines[2]["rates"]["softdev"]["requests_per_s"].is_number());
}

#[test]
fn stats_bad_input() {
    let o = cli().args(["stats", "--device", "nope"]).output().unwrap();
    assert_one_line_error(&o, "unknown device 'nope'");
    let o = cli()
        .args(["stats", "--stats-file", "/nonexistent/stats.jsonl"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "/nonexistent/stats.jsonl");
}

#[test]
fn selftest_passes_on_every_device() {
    let o = cli().arg("selftest").output().unwrap();
    let s = stdout(&o);
    assert!(o.status.success(), "{s}\n{}", stderr(&o));
    for dev in ["softdev", "inline"] {
        for alg in [
            "deflate-raw",
            "gzip",
            "aes-gcm",
            "aes-cbc",
            "sha384",
            "hmac-sha1",
            "chacha20-poly1305",
        ] {
            assert!(
                s.lines()
                    .any(|l| l.starts_with(dev) && l.contains(alg) && l.contains("PASS")),
                "{dev} {alg} not passed in\n{s}"
            );
        }
    }
    assert!(s.contains(" 0 failed"), "{s}");
}

#[test]
fn selftest_fails_when_an_answer_is_broken() {
    let o = cli()
        .args(["selftest", "--device", "softdev"])
        .env("WARPDRIVE_CLI_SELFTEST_BREAK", "sha256")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    let failed: Vec<&str> = s.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{s}");
    assert!(failed[0].contains("sha256"), "{s}");
    assert!(s.contains("16 passed, 1 failed"), "{s}");

    // Every algorithm's knob bites, on the inline path too.
    for alg in [
        "deflate-raw",
        "zlib",
        "gzip",
        "aes-gcm",
        "aes-ctr",
        "aes-cbc",
        "hmac-sha512",
        "chacha20-poly1305",
    ] {
        let o = cli()
            .args(["selftest", "--device", "inline", "--json"])
            .env("WARPDRIVE_CLI_SELFTEST_BREAK", alg)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{alg}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["failed"], 1, "{alg}");
    }
}

#[test]
fn selftest_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let mut c = cli();
    no_kernel(&mut c, t.path());
    let o = c.args(["selftest", "--device", "kernel"]).output().unwrap();
    assert_one_line_error(&o, "no kernel device");
    let o = cli()
        .args(["selftest", "--device", "wd9"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "unknown device 'wd9'");
    let o = cli()
        .arg("selftest")
        .env("WARPDRIVE_CLI_SELFTEST_BREAK", "md5")
        .output()
        .unwrap();
    assert_one_line_error(&o, "md5");
}

fn tiny_corpus(dir: &Path) -> PathBuf {
    let c = dir.join("corpus");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("a.txt"), "hello warpdrive corpus\n".repeat(2000)).unwrap();
    std::fs::write(
        c.join("b.bin"),
        (0..20000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    c
}

#[test]
fn bench_writes_a_plot_and_a_table() {
    let t = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(t.path());
    let svg = t.path().join("out/plot.svg");
    std::fs::create_dir_all(svg.parent().unwrap()).unwrap();
    let o = cli()
        .args(["bench", "--corpus"])
        .arg(&corpus)
        .args([
            "--alg",
            "compress,decompress,aes-gcm,sha256",
            "--sizes",
            "1k,8k",
            "--time-ms",
            "5",
            "--backend",
            "softdev,inline,baseline",
            "--plot",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    let s = stdout(&o);
    assert!(o.status.success(), "{s}\n{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).expect("plot written");
    assert!(text.contains("<svg"), "not an SVG");
    assert!(text.contains("compress / softdev"), "legend names series");
    // The x axis is marked at the sizes measured, and only there.
    let mut ticks: Vec<&str> = text
        .split('>')
        .filter_map(|t| t.split('<').next())
        .map(str::trim)
        .filter(|t| t.ends_with(" B") || t.ends_with("KiB") || t.ends_with("MiB"))
        .collect();
    ticks.sort_unstable();
    ticks.dedup();
    assert_eq!(ticks, ["1 KiB", "8 KiB"], "x ticks");
    for (alg, base) in [("compress", "system-zlib"), ("sha256", "openssl-default")] {
        assert!(
            s.lines().any(|l| l.starts_with(alg) && l.contains(base)),
            "{alg} vs {base} missing:\n{s}"
        );
        assert!(
            s.lines()
                .any(|l| l.starts_with(alg) && l.contains("softdev")),
            "{alg} on softdev missing:\n{s}"
        );
    }
}

#[test]
fn bench_json_counts_offloaded_requests() {
    let t = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus(t.path());
    let o = cli()
        .args(["bench", "--json", "--corpus"])
        .arg(&corpus)
        .args([
            "--alg",
            "aes-ctr,hmac-sha256",
            "--sizes",
            "4k",
            "--time-ms",
            "5",
            "--backend",
            "softdev,baseline",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert!(r["mb_per_s"].as_f64().unwrap() > 0.0);
        assert!(r["requests"].as_u64().unwrap() >= 3);
        let offloaded = r["offloaded"].as_u64().unwrap();
        if r["backend"] == "softdev" {
            // Every measured request, and not the warm-up one.
            assert_eq!(offloaded, r["requests"].as_u64().unwrap(), "{r}");
        } else {
            assert_eq!(offloaded, 0);
        }
    }
}

#[test]
fn bench_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = cli()
        .args(["bench", "--corpus"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_one_line_error(&o, "is empty");

    let o = cli()
        .args(["bench", "--corpus", "/nonexistent/corpus"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "cannot read corpus directory /nonexistent/corpus");

    let corpus = tiny_corpus(t.path());
    let o = cli()
        .args(["bench", "--corpus"])
        .arg(&corpus)
        .args(["--plot", "/nonexistent/dir/plot.svg"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "cannot write plot /nonexistent/dir/plot.svg");

    let o = cli().args(["bench", "--alg", "rot13"]).output().unwrap();
    assert_one_line_error(&o, "unknown algorithm 'rot13'");

    let mut c = cli();
    no_kernel(&mut c, t.path());
    let o = c.args(["bench", "--backend", "kernel"]).output().unwrap();
    assert_one_line_error(&o, "no kernel device");
}

#[test]
fn bench_unreadable_corpus_file() {
    // root reads anything: only meaningful for other users.
    if std::fs::read("/proc/self/status")
        .map(|s| String::from_utf8_lossy(&s).contains("Uid:\t0\t"))
        .unwrap_or(true)
    {
        let t = tempfile::tempdir().unwrap();
        // A directory that is not a directory at all: a file.
        let f = t.path().join("plain");
        std::fs::write(&f, "x").unwrap();
        let o = cli().args(["bench", "--corpus"]).arg(&f).output().unwrap();
        assert_one_line_error(&o, "cannot read corpus directory");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("locked");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = cli().args(["bench", "--corpus"]).arg(&d).output().unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_one_line_error(&o, "cannot read corpus directory");
}

#[test]
fn run_missing_program() {
    let o = cli()
        .args(["run", "--", "/no/such/program", "--flag"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "program not found: /no/such/program");
    let o = cli()
        .args([
            "run",
            "--no-zlib",
            "--no-openssl",
            "--",
            "no-such-program-warpdrive",
        ])
        .output()
        .unwrap();
    assert_one_line_error(&o, "program not found: no-such-program-warpdrive");
    assert_eq!(
        o.status.code(),
        Some(127),
        "env(1)'s status for a missing program"
    );
}

#[test]
fn run_passes_the_exit_status_and_reports() {
    let t = tempfile::tempdir().unwrap();
    let report = t.path().join("r.json");
    let o = cli()
        .args(["run", "--no-zlib", "--no-openssl", "--report"])
        .arg(&report)
        .args(["--", "sh", "-c", "echo out; exit 7"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n", "the program's stdout is untouched");
    assert!(stderr(&o).contains("sh exited with status 7"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["exit_status"], 7);
    assert_eq!(v["zlib"]["preloaded"], false);
}

/// The zlib drop-in and the provider, built by cargo into this test's target
/// directory when `cargo test -p warpdrive-cli` alone did not build them.
fn build_shims() {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    if profile_dir.join("libz.so").exists() && profile_dir.join("libwarpdrive_provider.so").exists()
    {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = std::process::Command::new(cargo);
    c.args([
        "build",
        "-p",
        "warpdrive-zlib",
        "-p",
        "warpdrive-openssl-provider",
    ])
    .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
    if profile_dir.ends_with("release") {
        c.arg("--release");
    }
    let st = c.status().expect("cargo build");
    assert!(
        st.success(),
        "building the zlib drop-in and the provider failed"
    );
}

#[test]
fn run_offloads_python_zlib() {
    build_shims();
    let o = cli()
        .args(["run", "--json", "--", "python3", "-c"])
        .arg("import zlib; d = zlib.compress(b'x' * 1000000); assert zlib.decompress(d) == b'x' * 1000000")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let last = err.lines().last().expect("a report line");
    let v: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert!(
        v["offloaded_requests"].as_u64().unwrap() > 0,
        "nothing offloaded: {v}"
    );
    assert_eq!(v["zlib"]["preloaded"], true);
    assert!(
        v["zlib"]["counters"]["offloaded"].as_u64().unwrap() >= 1,
        "{v}"
    );
    assert_eq!(v["fallbacks"], 0);

    // The human report says the same.
    cli()
        .args(["run", "--", "python3", "-c"])
        .arg("import zlib; zlib.compress(b'x' * 1000000)")
        .assert()
        .success()
        .stderr(predicate::str::is_match(r"offloaded [1-9][0-9]* requests? \(").unwrap());
}

#[test]
fn run_without_the_drop_in_offloads_nothing() {
    build_shims();
    let o = cli()
        .args([
            "run",
            "--json",
            "--no-zlib",
            "--no-openssl",
            "--",
            "python3",
            "-c",
        ])
        .arg("import zlib; zlib.compress(b'x' * 1000000)")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = stderr(&o);
    let v: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["offloaded_requests"], 0, "{v}");
}

#[test]
fn the_command_is_warpdrive_not_util_linux_wdctl() {
    let o = cli().arg("--version").output().unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("warpdrive "), "{}", stdout(&o));
    let o = cli().arg("--help").output().unwrap();
    assert!(stdout(&o).contains("Usage: warpdrive "), "{}", stdout(&o));
}

#[test]
fn json_is_a_global_option() {
    for args in [
        &["--json", "list"][..],
        &["list", "--json"],
        &["--json", "info", "softdev"],
        &["--json", "stats"],
    ] {
        let o = cli().args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
    }
}

/// The option lines of `--help`: each names its flag and says what it does.
#[test]
fn every_option_has_help_text() {
    for sub in [
        None,
        Some("list"),
        Some("info"),
        Some("stats"),
        Some("run"),
        Some("bench"),
        Some("selftest"),
    ] {
        let mut c = cli();
        if let Some(s) = sub {
            c.arg(s);
        }
        let o = c.arg("--help").output().unwrap();
        let h = stdout(&o);
        let opts = h.split("Options:").nth(1).expect(&h);
        for l in opts.lines().filter(|l| l.trim_start().starts_with('-')) {
            let t = l.trim();
            // "-h, --help  Print help": the text after the flag and its value.
            let words: Vec<&str> = t.split("  ").filter(|w| !w.trim().is_empty()).collect();
            assert!(words.len() >= 2, "{sub:?}: no help for {t:?}\n{h}");
        }
    }
}

#[test]
fn list_fits_100_columns() {
    let t = tempfile::tempdir().unwrap();
    let (sys, dev) = fake_kernel(t.path());
    let o = cli()
        .arg("list")
        .env("WARPDRIVE_CLI_SYSFS_CLASS", &sys)
        .env("WARPDRIVE_CLI_DEV_DIR", &dev)
        .output()
        .unwrap();
    let s = stdout(&o);
    for l in s.lines() {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(s.lines().any(|l| l.starts_with("wd0 ")), "{s}");
}

#[test]
fn generate_writes_man_pages_and_completions_for_every_subcommand() {
    let t = tempfile::tempdir().unwrap();
    let o = cli().arg("generate").arg(t.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let man = std::fs::read_to_string(t.path().join("man/warpdrive.1")).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH warpdrive"),
        "{man}"
    );
    for sub in ["list", "info", "stats", "run", "bench", "selftest"] {
        let page = t.path().join(format!("man/warpdrive-{sub}.1"));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{page:?}: {e}"));
        assert!(
            text.contains("json"),
            "{sub}: the global --json is on every page"
        );
    }
    assert!(
        !t.path().join("man/warpdrive-generate.1").exists(),
        "hidden"
    );
    for f in ["warpdrive.bash", "_warpdrive", "warpdrive.fish"] {
        let text = std::fs::read_to_string(t.path().join("completions").join(f)).unwrap();
        assert!(text.contains("selftest") && text.contains("json"), "{f}");
    }
}

#[test]
fn run_reports_a_signal_as_the_signal() {
    let o = cli()
        .args(["run", "--no-zlib", "--no-openssl", "--json", "--"])
        .args(["sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128 + 9), "like timeout(1) and env(1)");
    let err = stderr(&o);
    let v: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["signal"], 9, "{v}");
    let o = cli()
        .args(["run", "--no-zlib", "--no-openssl", "--"])
        .args(["sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.contains("sh was killed by SIGKILL"), "{err}");
    assert!(!err.contains("exited with status 137"), "{err}");
}

#[test]
fn run_says_1_request_not_1_requests() {
    let t = tempfile::tempdir().unwrap();
    let line = r#"{"pid":1,"backend":"softdev","offloaded":1,"inline":0,"fallbacks":1,"errors":1}"#;
    let o = cli()
        .args(["run", "--no-zlib", "--no-openssl", "--"])
        .args([
            "sh",
            "-c",
            &format!("echo '{line}' >> \"$WARPDRIVE_STATS_FILE\""),
        ])
        .env("TMPDIR", t.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("offloaded 1 request ("), "{err}");
    assert!(err.contains("1 fallback to software, 1 error)"), "{err}");
}

/// A user's own WARPDRIVE_STATS_FILE still gets the lines under `run`.
#[test]
fn run_passes_the_stats_on_to_the_users_file() {
    let t = tempfile::tempdir().unwrap();
    let mine = t.path().join("mine.jsonl");
    let line = r#"{"pid":4242,"backend":"softdev","offloaded":3}"#;
    let o = cli()
        .args(["run", "--no-zlib", "--no-openssl", "--json", "--"])
        .args([
            "sh",
            "-c",
            &format!("echo '{line}' >> \"$WARPDRIVE_STATS_FILE\""),
        ])
        .env("WARPDRIVE_STATS_FILE", &mine)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let v: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["offloaded_requests"], 3, "{v}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap().trim(), line);
}

/// The child's OpenSSL configuration keeps the user's: a provider the user
/// activated (`base`) is still there beside WarpDrive's.
#[test]
fn run_merges_the_users_openssl_conf() {
    build_shims();
    let t = tempfile::tempdir().unwrap();
    let conf = t.path().join("user.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = my_init\n[my_init]\nproviders = my_providers\n\
         [my_providers]\ndefault = my_default\nbase = my_base\n\
         [my_default]\nactivate = 1\n[my_base]\nactivate = 1\n",
    )
    .unwrap();
    let o = cli()
        .args(["run", "--no-zlib", "--", "openssl", "list", "-providers"])
        .env("OPENSSL_CONF", &conf)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for p in ["base", "default", "warpdrive"] {
        assert!(
            out.lines().any(|l| l.trim() == p),
            "provider {p} missing:\n{out}"
        );
    }
}

fn pid_alive(pid: i32) -> bool {
    // A zombie (reaped by nobody yet) is gone for our purposes.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// SIGTERM to `warpdrive run` (as a service manager sends it) reaches the
/// child; the report is printed, the private directory removed, and the
/// status is the child's death by SIGTERM.
#[test]
fn run_forwards_sigterm_and_cleans_up() {
    let t = tempfile::tempdir().unwrap();
    let pidfile = t.path().join("child.pid");
    let tmp = t.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("warpdrive");
    let mut c = std::process::Command::new(bin);
    c.args(["run", "--no-zlib", "--no-openssl", "--", "sh", "-c"])
        .arg(format!("echo $$ > {}; exec sleep 30", pidfile.display()))
        .env("TMPDIR", &tmp)
        .stderr(std::process::Stdio::piped());
    let parent = c.spawn().unwrap();
    let t0 = std::time::Instant::now();
    let child: i32 = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(t0.elapsed().as_secs() < 20, "the child never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pid = parent.id() as i32;
    // SAFETY: a signal to the process we spawned.
    let r = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(r, 0);
    let out = parent.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 15), "{err}");
    assert!(err.contains("killed by SIGTERM"), "{err}");
    assert!(!pid_alive(child), "the child {child} was left running");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Ctrl-C: the terminal signals the whole group; the child dies of it and
/// the report still comes.
#[test]
fn run_reports_after_ctrl_c() {
    use std::os::unix::process::CommandExt;
    let t = tempfile::tempdir().unwrap();
    let pidfile = t.path().join("child.pid");
    let bin = assert_cmd::cargo::cargo_bin("warpdrive");
    let mut c = std::process::Command::new(bin);
    c.args(["run", "--no-zlib", "--no-openssl", "--", "sh", "-c"])
        .arg(format!("echo $$ > {}; exec sleep 30", pidfile.display()))
        .env("TMPDIR", t.path())
        .process_group(0)
        .stderr(std::process::Stdio::piped());
    let parent = c.spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        assert!(t0.elapsed().as_secs() < 20, "the child never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let group = -(parent.id() as i32);
    // SAFETY: SIGINT to the process group we created, as a terminal would.
    let r = unsafe { libc::kill(group, libc::SIGINT) };
    assert_eq!(r, 0);
    let out = parent.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 2), "{err}");
    assert!(err.contains("killed by SIGINT"), "{err}");
    assert!(err.contains("offloaded 0 requests"), "{err}");
}

#[test]
fn invalid_settings_warn_once() {
    let o = cli()
        .args(["info", "softdev"])
        .env("WARPDRIVE_MAX_QUEUES", "lots")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = stderr(&o);
    let w: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("WARPDRIVE_MAX_QUEUES"))
        .collect();
    assert_eq!(w.len(), 1, "{err}");
    assert!(w[0].starts_with("warpdrive: warning: "), "{err}");
}

/// The live view: a running program's counters show in `stats` while it
/// runs, whatever its environment holds about stats files; a record goes
/// when its process does.
#[test]
fn stats_shows_running_processes_live() {
    use std::io::BufRead;
    build_shims();
    let exe = std::env::current_exe().unwrap();
    let shim = exe.parent().and_then(Path::parent).unwrap().join("libz.so");
    let t = tempfile::tempdir().unwrap();
    let rt = t.path().join("run");
    std::fs::create_dir_all(&rt).unwrap();
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import zlib, time; zlib.compress(b'x' * 1000000); print('ready', flush=True); time.sleep(30)"])
        .env("LD_PRELOAD", &shim)
        .env("WARPDRIVE_RUNTIME_DIR", &rt)
        .env_remove("WARPDRIVE_STATS_FILE")
        .env_remove("WARPDRIVE_BACKEND")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let o = cli()
        .args(["--json", "stats"])
        .env("WARPDRIVE_RUNTIME_DIR", &rt)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let me = v["live"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"] == child.id())
        .unwrap_or_else(|| panic!("python {} not live: {v}", child.id()))
        .clone();
    assert!(me["offloaded"].as_u64().unwrap() >= 1, "{me}");
    assert_eq!(me["program"], "python3", "{me}");
    let soft = softdev_in(&v["devices"]).unwrap();
    assert!(
        soft["counters"]["requests"].as_u64().unwrap() >= 1,
        "{soft}"
    );
    let human = cli()
        .arg("stats")
        .env("WARPDRIVE_RUNTIME_DIR", &rt)
        .output()
        .unwrap();
    let h = stdout(&human);
    assert!(
        h.lines()
            .any(|l| l.trim_start().starts_with(&child.id().to_string()) && l.contains("python3")),
        "{h}"
    );
    // Killed: its record stays behind but is no longer shown.
    child.kill().unwrap();
    child.wait().unwrap();
    let o = cli()
        .args(["--json", "stats"])
        .env("WARPDRIVE_RUNTIME_DIR", &rt)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !v["live"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["pid"] == child.id()),
        "{v}"
    );
    // A process that exits normally removes its own record.
    let st = std::process::Command::new("python3")
        .args(["-c", "import zlib; zlib.compress(b'x' * 1000000)"])
        .env("LD_PRELOAD", &shim)
        .env("WARPDRIVE_RUNTIME_DIR", &rt)
        .status()
        .unwrap();
    assert!(st.success());
    let left: Vec<_> = std::fs::read_dir(&rt)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "records left: {left:?}");
}
