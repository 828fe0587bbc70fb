//! The provider's work in the live record (`warpdrive::live`): while an
//! unmodified `openssl enc` runs, its `PID.provider.json` holds the provider's
//! counters and its own core instance's, with no stats file or environment
//! about statistics.

mod common;
use common::*;

use std::io::Write;
use std::process::Stdio;

#[test]
fn a_running_openssl_shows_the_providers_work_live() {
    let t = TempDir::new("live");
    let rt = t.path("run");
    std::fs::create_dir_all(&rt).unwrap();
    let mut c = openssl();
    c.args([
        "enc",
        "-aes-128-ctr",
        "-K",
        "000102030405060708090a0b0c0d0e0f",
    ])
    .args(["-iv", "0f0e0d0c0b0a09080706050403020100"])
    .args(ours())
    .env("WARPDRIVE_RUNTIME_DIR", &rt)
    .env("WARPDRIVE_BACKEND", "softdev")
    .env("WARPDRIVE_INLINE_MAX", "0")
    .env_remove("WARPDRIVE_PROVIDER_STATS")
    .env_remove("WARPDRIVE_STATS_FILE")
    .env_remove("WARPDRIVE_CONFIG")
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = Rng::new(3).bytes(1 << 20);
    stdin.write_all(&data).unwrap();
    stdin.flush().unwrap();
    let rec = rt.join(format!("{}.provider.json", child.id()));
    // Written as the work goes (at most TICK_MS late); openssl still runs,
    // waiting for the rest of its input.
    let mut v = serde_json::Value::Null;
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&rec) {
            if let Ok(j) = serde_json::from_str::<serde_json::Value>(text.trim()) {
                if j["provider"]["ctr_bytes"].as_u64().unwrap_or(0) >= 512 << 10 {
                    v = j;
                    break;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let alive = child.try_wait().unwrap().is_none();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(alive, "openssl ended before its record was read");
    assert!(
        !v.is_null(),
        "no live provider record with the work in {}",
        rt.display()
    );
    assert_eq!(v["program"], "openssl", "{v}");
    let core = &v["provider"]["core"];
    assert_eq!(core["backend"], "softdev", "{v}");
    assert!(core["offloaded"].as_u64().unwrap() >= 1, "{v}");
    // Gone with the process.
    assert!(!rec.exists(), "the record outlived openssl");
}
