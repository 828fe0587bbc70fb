//! Strict "device only, never software" mode (`WARPDRIVE_STRICT=1`): a
//! request that would run in software (below an inline threshold, no queue,
//! after a device failure, no device at all, a session on the inline engines)
//! fails with `Error::DeviceOnly`, and the counters show that none ran
//! inline.
//!
//! Cases that need the process-wide setting run in a child process of this
//! test binary, selected by `WD_STRICT_CASE`.

use std::process::Command;
use std::sync::Arc;

use warpdrive::{
    BackendChoice, BackendKind, Config, Deflater, Error, Flush, Format, HashAlg, Inflater,
    Warpdrive,
};

fn has_kernel_device() -> bool {
    std::fs::read_dir("/dev/warpdrive").is_ok_and(|mut d| d.next().is_some())
}

fn sample(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"strict mode, device only "[i % 25] ^ (i / 97) as u8)
        .collect()
}

/// A software-device instance in strict mode, as `Config::from_env` makes it
/// with `WARPDRIVE_STRICT=1` (every inline threshold 0).
fn strict_softdev() -> Arc<Warpdrive> {
    let c = Config {
        backend: BackendChoice::Softdev,
        engines: 2,
        strict: true,
        inline_max: warpdrive::InlineMax::all(0),
        ..Config::default()
    };
    Arc::new(Warpdrive::new(c).unwrap())
}

fn is_device_only<T: std::fmt::Debug>(r: warpdrive::Result<T>) -> bool {
    matches!(r, Err(Error::DeviceOnly(_)))
}

#[test]
fn in_strict_mode_every_request_runs_on_the_device() {
    let wd = strict_softdev();
    let data = sample(3000); // far below the 16k compress threshold
    let mut c = vec![0; 4000];
    let n = wd.compress(Format::Zlib, 6, &data, &mut c).unwrap();
    let mut back = vec![0; data.len()];
    let p = wd.decompress(Format::Zlib, &c[..n], &mut back).unwrap();
    assert_eq!(&back[..p.produced], &data[..]);
    let mut d = [0u8; 32];
    wd.digest(HashAlg::Sha256, b"16 bytes of data", &mut d)
        .unwrap();
    let (key, iv) = ([7u8; 16], [1u8; 12]);
    let mut ct = [0u8; 16];
    let mut tag = [0u8; 16];
    wd.aead_seal(&key, &iv, b"", b"sixteen byte msg", &mut ct, &mut tag)
        .unwrap();

    // Streams: a queue that keeps the stream, never the inline engine.
    let mut def = Deflater::with_instance(wd.clone(), Format::Gzip, 6).unwrap();
    let mut z = vec![0; 8000];
    let mut got = 0;
    let p = def.deflate(&data, &mut z, Flush::Sync).unwrap();
    got += p.produced;
    let p = def.deflate(&[], &mut z[got..], Flush::Finish).unwrap();
    got += p.produced;
    assert!(p.done);
    let mut inf = Inflater::with_instance(wd.clone(), Format::Gzip).unwrap();
    let mut out = vec![0; 4000];
    let p = inf.inflate(&z[..got], &mut out).unwrap();
    assert_eq!(&out[..p.produced], &data[..]);

    let s = wd.stats();
    assert_eq!(s.inline, 0, "nothing may run in software: {s:?}");
    assert_eq!(s.fallbacks, 0, "{s:?}");
    assert_eq!(s.refused, 0, "{s:?}");
    assert!(s.offloaded >= 6, "{s:?}");
}

#[test]
fn in_strict_mode_a_failed_device_is_an_error_not_a_fallback() {
    let wd = strict_softdev();
    let data = sample(40_000);
    let mut c = vec![0; 50_000];
    wd.compress(Format::Zlib, 6, &data, &mut c).unwrap();
    assert!(wd.remove_soft_device());
    for _ in 0..3 {
        let r = wd.compress(Format::Zlib, 6, &data, &mut c);
        assert!(matches!(r, Err(Error::DeviceOnly(_))), "{r:?}");
    }
    let e = wd.compress(Format::Zlib, 6, &data, &mut c).unwrap_err();
    assert!(e.to_string().contains("WARPDRIVE_STRICT"), "{e}");
    assert_eq!(e.code(), 14);
    let s = wd.stats();
    assert_eq!(s.inline, 0, "{s:?}");
    assert_eq!(s.fallbacks, 0, "{s:?}");
    assert_eq!(s.refused, 4, "{s:?}");
}

#[test]
fn without_strict_mode_the_same_requests_run_in_software_and_say_why() {
    let c = Config {
        backend: BackendChoice::Softdev,
        engines: 1,
        ..Config::default()
    };
    let wd = Warpdrive::new(c).unwrap();
    let data = sample(3000);
    let mut z = vec![0; 4000];
    wd.compress(Format::Zlib, 6, &data, &mut z).unwrap();
    let s = wd.stats();
    assert_eq!((s.inline, s.small, s.refused), (1, 1, 0), "{s:?}");
    let big = sample(40_000);
    let mut z = vec![0; 50_000];
    wd.compress(Format::Zlib, 6, &big, &mut z).unwrap();
    assert!(wd.remove_soft_device());
    wd.compress(Format::Zlib, 6, &big, &mut z).unwrap();
    let s = wd.stats();
    assert_eq!(s.inline, 2, "{s:?}");
    assert_eq!(s.fallbacks + s.no_queue, 1, "{s:?}");
}

#[test]
fn asking_for_a_missing_backend_is_an_error() {
    if has_kernel_device() {
        return;
    }
    let c = Config {
        backend: BackendChoice::Kernel,
        ..Config::default()
    };
    assert!(matches!(Warpdrive::new(c), Err(Error::Unsupported(_))));
    let c = Config {
        backend: BackendChoice::Auto,
        device: Some("no-such-device".into()),
        ..Config::default()
    };
    // A named device that is not there: no silent software device.
    let r = Warpdrive::new(c);
    assert!(r.is_err() || r.unwrap().backend() != BackendKind::Inline);
}

/// Runs case `name` in a child; its (status, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_case", "--nocapture", "--test-threads=1"])
        .env("WD_STRICT_CASE", name)
        .env_remove("WARPDRIVE_CONFIG")
        .env("WARPDRIVE_RUNTIME_DIR", "/nonexistent");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn child_case() {
    let Ok(case) = std::env::var("WD_STRICT_CASE") else {
        return;
    };
    match case.as_str() {
        "missing" => {
            let mut out = vec![0u8; 1 << 16];
            let r = warpdrive::compress(Format::Zlib, 6, b"no device", &mut out);
            assert!(is_device_only(r), "compress ran without a device");
            let r = Deflater::new(Format::Zlib, 6)
                .and_then(|mut d| d.deflate(b"x", &mut out, Flush::Finish));
            assert!(is_device_only(r), "a deflate stream ran in software");
            let s = warpdrive::stats();
            assert_eq!(s.inline, 0, "{s:?}");
            assert!(s.refused >= 2, "{s:?}");
            eprintln!("case done");
        }
        "sessions" => {
            assert!(is_device_only(
                warpdrive::Hasher::new(HashAlg::Sha256).map(|_| ())
            ));
            assert!(is_device_only(
                warpdrive::Hasher::new_hmac(HashAlg::Sha256, b"k").map(|_| ())
            ));
            let r = warpdrive::CipherCtx::new(
                warpdrive::CipherMode::Ctr,
                warpdrive::Direction::Encrypt,
                &[0; 16],
                &[0; 16],
                false,
            );
            assert!(is_device_only(r.map(|_| ())));
            eprintln!("case done");
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn strict_mode_with_no_device_fails_each_request_and_says_so_once() {
    if has_kernel_device() {
        return;
    }
    let (code, err) = child(
        "missing",
        &[("WARPDRIVE_BACKEND", "kernel"), ("WARPDRIVE_STRICT", "1")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("case done"), "{err}");
    let w: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("warpdrive: warning:"))
        .collect();
    assert_eq!(w.len(), 1, "{err}");
    assert!(
        w[0].contains("WARPDRIVE_BACKEND=kernel") && w[0].contains("every request fails"),
        "{err}"
    );
}

#[test]
fn strict_mode_refuses_sessions_on_the_inline_engines() {
    let (code, err) = child("sessions", &[("WARPDRIVE_STRICT", "1")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("case done"), "{err}");
}
