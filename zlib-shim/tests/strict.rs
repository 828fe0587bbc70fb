//! Strict mode through the drop-in (`WARPDRIVE_STRICT=1`): python3's zlib
//! module with libz.so.1 preloaded. What would run in zlib-rs (software) fails
//! with a zlib error instead; what runs, runs on the device; the counters
//! (`WARPDRIVE_ZLIB_STATS=1`, printed at exit) say so.

use std::collections::HashMap;
use std::process::Command;

fn shim() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().parent().unwrap().join("libz.so");
    assert!(
        lib.exists(),
        "{} missing: build the crate first",
        lib.display()
    );
    lib
}

fn have_python() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import zlib")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn has_kernel_device() -> bool {
    std::fs::read_dir("/dev/warpdrive").is_ok_and(|mut d| d.next().is_some())
}

/// Runs `script` in python3 with the drop-in and `env`; (status, stdout,
/// counters of the drop-in's stats line).
fn python(script: &str, env: &[(&str, &str)]) -> (i32, String, HashMap<String, u64>, String) {
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(script)
        .env("LD_PRELOAD", shim())
        .env("WARPDRIVE_ZLIB_STATS", "1")
        .env_remove("WARPDRIVE_CONFIG")
        .env("WARPDRIVE_RUNTIME_DIR", "/nonexistent");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.starts_with("warpdrive-zlib:"))
        .unwrap_or_else(|| panic!("drop-in not loaded: {err}"));
    let counters = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        counters,
        err,
    )
}

/// Small one-shot calls and streams, each checked against its input.
const WORK: &str = r#"
import zlib
d = bytes(range(256)) * 8
assert zlib.decompress(zlib.compress(d, 6)) == d
c = zlib.compressobj(6, zlib.DEFLATED, 31)
z = c.compress(d) + c.flush()
o = zlib.decompressobj(31)
assert o.decompress(z) + o.flush() == d
print("ok")
"#;

#[test]
fn without_strict_mode_small_work_runs_in_software_and_is_counted_with_why() {
    if !have_python() {
        eprintln!("skipped: no python3 with zlib");
        return;
    }
    let (code, out, c, err) = python(WORK, &[("WARPDRIVE_BACKEND", "softdev")]);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert!(c["software"] >= 3, "{c:?}");
    assert_eq!(c["software_small"], c["software"], "{c:?}");
    assert_eq!(c["refused"], 0, "{c:?}");
}

#[test]
fn in_strict_mode_the_same_work_runs_on_the_device_only() {
    if !have_python() {
        eprintln!("skipped: no python3 with zlib");
        return;
    }
    let env = [("WARPDRIVE_BACKEND", "softdev"), ("WARPDRIVE_STRICT", "1")];
    let (code, out, c, err) = python(WORK, &env);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert_eq!(c["software"], 0, "nothing may run in zlib-rs: {c:?}");
    assert_eq!(c["fallbacks"], 0, "{c:?}");
    assert_eq!(c["refused"], 0, "{c:?}");
    assert_eq!(c["core_inline"], 0, "the core ran nothing inline: {c:?}");
    assert!(c["offloaded"] >= 4, "{c:?}");
}

#[test]
fn in_strict_mode_what_the_device_cannot_take_fails_with_a_zlib_error() {
    if !have_python() {
        eprintln!("skipped: no python3 with zlib");
        return;
    }
    // Level 0 (stored) is never offloaded; a preset dictionary neither.
    let script = r#"
import zlib
d = b"x" * 5000
for f in (lambda: zlib.compress(d, 0),
          lambda: zlib.compressobj(6, zdict=b"dictionary").compress(d)):
    try:
        f()
        print("ran")
    except zlib.error as e:
        print("refused", e)
"#;
    let env = [("WARPDRIVE_BACKEND", "softdev"), ("WARPDRIVE_STRICT", "1")];
    let (code, out, c, err) = python(script, &env);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("refused")), "{out}");
    assert!(
        out.contains("WARPDRIVE_STRICT"),
        "the reason reaches the program: {out}"
    );
    assert_eq!(c["software"], 0, "{c:?}");
    assert!(c["refused"] >= 2, "{c:?}");
}

#[test]
fn in_strict_mode_a_missing_device_fails_every_call() {
    if !have_python() || has_kernel_device() {
        eprintln!("skipped: no python3, or a kernel device present");
        return;
    }
    let script = r#"
import zlib
try:
    zlib.compress(b"y" * 100000)
    print("ran")
except zlib.error as e:
    print("refused", e)
"#;
    let env = [("WARPDRIVE_BACKEND", "kernel"), ("WARPDRIVE_STRICT", "1")];
    let (code, out, c, err) = python(script, &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("refused"), "{out}");
    assert_eq!(c["software"], 0, "{c:?}");
    assert_eq!(c["core_inline"], 0, "{c:?}");
    assert!(err.contains("WARPDRIVE_BACKEND=kernel"), "said once: {err}");
}

/// The drop-in reads /etc/warpdrive.conf (here `WARPDRIVE_CONFIG`) when it
/// is loaded: a program that then empties its environment keeps the file's
/// and the environment's settings.
#[test]
fn the_configuration_file_and_the_environment_survive_a_cleared_environment() {
    if !have_python() {
        eprintln!("skipped: no python3 with zlib");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("zlib-conf");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("warpdrive.conf");
    std::fs::write(&conf, "strict = on\nbackend = softdev\nzlib_min = 1m\n").unwrap();
    let script = r#"
import os, zlib
os.environ.clear()
try:
    zlib.compress(bytes(range(256)) * 8, 0)
    print("ran")
except zlib.error:
    print("refused")
"#;
    let conf = conf.display().to_string();
    let (code, out, c, err) = python(script, &[("WARPDRIVE_CONFIG", &conf)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "refused", "strict = on from the file: {err}");
    assert_eq!(c["software"], 0, "{c:?}");
    // The environment overrides the file.
    let (code, out, c, err) = python(
        script,
        &[("WARPDRIVE_CONFIG", &conf), ("WARPDRIVE_STRICT", "off")],
    );
    assert_eq!((code, out.trim()), (0, "ran"), "{err}");
    assert_eq!(c["software"], 1, "{c:?}");
}
