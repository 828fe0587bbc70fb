//! Settings that speak: an invalid `WARPDRIVE_*` value warns once and keeps
//! the default; a backend asked for and not there is said out loud (strict
//! mode, where it fails every request, is tests/strict.rs).
//!
//! Each case runs in a child process of this test binary (the environment is
//! process-wide), selected by `WD_SETTINGS_CASE`.

use std::process::Command;

use warpdrive::{BackendChoice, BackendKind, Config, InlineMax};

fn has_kernel_device() -> bool {
    std::fs::read_dir("/dev/warpdrive").is_ok_and(|mut d| d.next().is_some())
}

/// Runs case `name` in a child with `env`; its (status, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_case", "--nocapture", "--test-threads=1"])
        .env("WD_SETTINGS_CASE", name)
        .env_remove("WARPDRIVE_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The child side: does nothing unless WD_SETTINGS_CASE names a case.
#[test]
fn child_case() {
    let Ok(case) = std::env::var("WD_SETTINGS_CASE") else {
        return;
    };
    match case.as_str() {
        "invalid" => {
            let c = Config::from_env();
            let d = Config::default();
            assert_eq!(c.backend, BackendChoice::Auto);
            assert_eq!(c.inline_max, InlineMax::DEFAULT);
            assert_eq!(c.engines, d.engines);
            assert_eq!(c.max_queues, d.max_queues);
            // Read twice: still one warning each.
            let _ = Config::from_env();
        }
        "suffixes" => {
            let c = Config::from_env();
            assert_eq!(c.inline_max.compress, 1 << 20);
            assert_eq!(c.inline_max.cipher, 64 << 10);
            assert_eq!(c.max_queues, 8);
        }
        "kernel" => {
            let wd = warpdrive::global();
            assert_eq!(wd.backend(), BackendKind::Inline);
            let mut out = vec![0u8; 1 << 16];
            warpdrive::compress(warpdrive::Format::Zlib, 6, b"still works", &mut out).unwrap();
        }
        "file" => {
            let c = Config::from_env();
            assert_eq!(c.backend, BackendChoice::Inline);
            assert_eq!(c.inline_max.compress, 1 << 20);
            assert_eq!(c.max_queues, 8);
            assert_eq!(c.device.as_deref(), Some("soft9"));
        }
        "env-over-file" => {
            let c = Config::from_env();
            assert_eq!(c.backend, BackendChoice::Softdev, "the environment wins");
            assert_eq!(
                c.max_queues, 8,
                "the file still counts where env says nothing"
            );
        }
        "bad-file" => {
            let c = Config::from_env();
            assert_eq!(c.inline_max, InlineMax::DEFAULT);
            assert_eq!(c.max_queues, 16, "good lines still apply");
            let _ = Config::from_env();
            let _ = warpdrive::settings::raw("WARPDRIVE_ENGINES");
        }
        other => panic!("unknown case {other}"),
    }
}

fn warning_lines(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("warpdrive: warning: "))
        .collect()
}

#[test]
fn invalid_values_warn_once_each_and_keep_the_defaults() {
    let (code, err) = child(
        "invalid",
        &[
            ("WARPDRIVE_BACKEND", "bogus"),
            ("WARPDRIVE_INLINE_MAX", "lots"),
            ("WARPDRIVE_ENGINES", "0"),
            ("WARPDRIVE_MAX_QUEUES", "many"),
            ("WARPDRIVE_INLINE_MAX_HASH", "1x"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let w = warning_lines(&err);
    assert_eq!(w.len(), 5, "one line per invalid variable: {err}");
    for v in [
        "WARPDRIVE_BACKEND=\"bogus\"",
        "WARPDRIVE_INLINE_MAX=\"lots\"",
        "WARPDRIVE_ENGINES=\"0\"",
        "WARPDRIVE_MAX_QUEUES=\"many\"",
        "WARPDRIVE_INLINE_MAX_HASH=\"1x\"",
    ] {
        assert!(w.iter().any(|l| l.contains(v)), "{v} not warned: {err}");
    }
    assert!(err.contains("one of auto, kernel, softdev"), "{err}");
}

#[test]
fn sizes_and_counts_take_suffixes() {
    let (code, err) = child(
        "suffixes",
        &[
            ("WARPDRIVE_INLINE_MAX", "1m"),
            ("WARPDRIVE_INLINE_MAX_CIPHER", "64K"),
            ("WARPDRIVE_MAX_QUEUES", "8"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(warning_lines(&err).is_empty(), "{err}");
}

#[test]
fn a_missing_kernel_device_is_said_and_falls_back() {
    if has_kernel_device() {
        return;
    }
    let (code, err) = child("kernel", &[("WARPDRIVE_BACKEND", "kernel")]);
    assert_eq!(code, Some(0), "{err}");
    let w = warning_lines(&err);
    assert_eq!(w.len(), 1, "{err}");
    assert!(w[0].contains("WARPDRIVE_BACKEND=kernel"), "{err}");
    assert!(w[0].contains("software"), "{err}");
}

/// A configuration file in the test's scratch directory.
fn conf(name: &str, text: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("settings");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn the_configuration_file_takes_effect() {
    let f = conf(
        "file.conf",
        "# every layer reads this file\nbackend = inline\nWARPDRIVE_INLINE_MAX_COMPRESS = 1m\nmax-queues=8 # comment\n\nDEVICE = soft9\n",
    );
    let (code, err) = child("file", &[("WARPDRIVE_CONFIG", &f)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(warning_lines(&err).is_empty(), "{err}");
}

#[test]
fn the_environment_overrides_the_configuration_file() {
    let f = conf("env.conf", "backend = inline\nmax_queues = 8\n");
    let (code, err) = child(
        "env-over-file",
        &[("WARPDRIVE_CONFIG", &f), ("WARPDRIVE_BACKEND", "softdev")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(warning_lines(&err).is_empty(), "{err}");
}

#[test]
fn bad_file_lines_warn_once_each_and_keep_the_defaults() {
    let f = conf(
        "bad.conf",
        "this line has no equals sign\nno_such_setting = 1\ninline_max = lots\nmax_queues = 16\n",
    );
    let (code, err) = child("bad-file", &[("WARPDRIVE_CONFIG", &f)]);
    assert_eq!(code, Some(0), "{err}");
    let w = warning_lines(&err);
    assert_eq!(w.len(), 3, "one line per bad line, once: {err}");
    assert!(
        w.iter()
            .any(|l| l.contains("line 1") && l.contains("key = value")),
        "{err}"
    );
    assert!(
        w.iter()
            .any(|l| l.contains("line 2") && l.contains("no_such_setting")),
        "{err}"
    );
    assert!(
        w.iter()
            .any(|l| l.contains("WARPDRIVE_INLINE_MAX=\"lots\"") && l.contains("line 3")),
        "{err}"
    );
}

#[test]
fn a_named_configuration_file_that_is_missing_is_said() {
    let (code, err) = child(
        "suffixes",
        &[
            ("WARPDRIVE_CONFIG", "/nonexistent/warpdrive.conf"),
            ("WARPDRIVE_INLINE_MAX", "1m"),
            ("WARPDRIVE_INLINE_MAX_CIPHER", "64K"),
            ("WARPDRIVE_MAX_QUEUES", "8"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let w = warning_lines(&err);
    assert_eq!(w.len(), 1, "{err}");
    assert!(w[0].contains("/nonexistent/warpdrive.conf"), "{err}");
}
