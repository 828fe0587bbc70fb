//! Strict mode through the provider (`WARPDRIVE_STRICT=1`), with the unmodified
//! `openssl` CLI: what runs, runs on the device (the core's counters show no
//! inline request, the provider's no default-provider call); what would run in
//! software (libcrypto's SHA block functions behind our digests) fails with an
//! error that names the mode.

mod common;
use common::*;

fn enc(t: &TempDir, env: &[(&str, &str)]) -> (std::process::Output, Vec<serde_json::Value>) {
    let p = t.path("plain");
    std::fs::write(&p, Rng::new(5).bytes(100_000)).unwrap();
    let stats = t.path("stats.json");
    let _ = std::fs::remove_file(&stats);
    let mut c = openssl();
    c.args([
        "enc",
        "-aes-128-ctr",
        "-K",
        "000102030405060708090a0b0c0d0e0f",
    ])
    .args(["-iv", "0f0e0d0c0b0a09080706050403020100", "-in"])
    .arg(&p)
    .arg("-out")
    .arg(t.path("ct"))
    .args(ours())
    .env("WARPDRIVE_PROVIDER_STATS", &stats)
    .env_remove("WARPDRIVE_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.stdin(std::process::Stdio::null()).output().unwrap();
    (out, read_stats(&stats))
}

#[test]
fn in_strict_mode_a_cipher_runs_on_the_device_only() {
    let t = TempDir::new("strict-enc");
    let (out, stats) = enc(
        &t,
        &[("WARPDRIVE_STRICT", "1"), ("WARPDRIVE_BACKEND", "softdev")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stats.len(), 1, "{stats:?}");
    let core = &stats[0]["core"];
    assert_eq!(core["inline"].as_u64(), Some(0), "{stats:?}");
    assert!(core["offloaded"].as_u64().unwrap() > 0, "{stats:?}");
    assert_eq!(counter(&stats, "soft_ops"), 0, "{stats:?}");
}

#[test]
fn in_strict_mode_a_digest_that_would_run_in_software_fails_and_says_why() {
    let t = TempDir::new("strict-dgst");
    let f = t.path("data");
    std::fs::write(&f, b"abc").unwrap();
    let dgst = |strict: bool| {
        let mut c = openssl();
        c.args(["dgst", "-sha256"])
            .args(ours())
            .arg(&f)
            .env_remove("WARPDRIVE_CONFIG");
        c.env("WARPDRIVE_BACKEND", "softdev");
        if strict {
            c.env("WARPDRIVE_STRICT", "1");
        }
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let plain = dgst(false);
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let out = dgst(true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the digest ran in software: {err}");
    assert!(err.contains("WARPDRIVE_STRICT"), "{err}");
}

#[test]
fn in_strict_mode_a_missing_device_is_an_error() {
    if std::fs::read_dir("/dev/warpdrive").is_ok_and(|mut d| d.next().is_some()) {
        return;
    }
    let t = TempDir::new("strict-missing");
    let (out, _) = enc(
        &t,
        &[("WARPDRIVE_STRICT", "1"), ("WARPDRIVE_BACKEND", "kernel")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no /dev/warpdrive device"), "{err}");
}

#[test]
fn the_configuration_file_reaches_the_provider_and_the_environment_overrides_it() {
    let t = TempDir::new("strict-file");
    let conf = t.path("warpdrive.conf");
    std::fs::write(
        &conf,
        "# /etc/warpdrive.conf\nstrict = on\nbackend = softdev\n",
    )
    .unwrap();
    let f = t.path("data");
    std::fs::write(&f, b"abc").unwrap();
    let dgst = |env: &[(&str, &str)]| {
        let mut c = openssl();
        c.args(["dgst", "-sha256"]).args(ours()).arg(&f);
        c.env("WARPDRIVE_CONFIG", &conf);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let out = dgst(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "strict = on in the file was ignored: {err}"
    );
    assert!(err.contains("WARPDRIVE_STRICT"), "{err}");
    let out = dgst(&[("WARPDRIVE_STRICT", "0")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
