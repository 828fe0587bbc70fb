//! Lifecycle and async jobs, with real programs: fork after loading the provider, OpenSSL
//! ASYNC_JOBs pausing on our wait fd (a C program and `openssl speed -async_jobs`), and
//! valgrind over `openssl dgst` / `openssl enc` (teardown joins the engine threads and
//! frees every queue: no invalid access, no definite leak).

mod common;
use common::*;
use std::process::Command;

/// GCM encryption leaves the tag in the engine until someone asks for it; every
/// way of asking (twice, from a copy, short, after switching direction) must
/// give the default provider's tag.
#[test]
fn gcm_tags_fetched_late_equal_the_default_providers() {
    let Some(prog) = c_program("gcm_tags") else {
        return;
    };
    for inline_max in ["0", "256k"] {
        let out = run_ok(
            Command::new(&prog)
                .arg(module_dir())
                .env("WARPDRIVE_INLINE_MAX", inline_max)
                .env_remove("OPENSSL_CONF"),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("OK (0 failures)"), "{text}");
    }
}

fn core_counter(s: &serde_json::Value, name: &str) -> u64 {
    s["core"][name].as_u64().unwrap_or(0)
}

#[test]
fn fork_after_load_parent_and_children_work() {
    let Some(prog) = c_program("fork") else {
        return;
    };
    // Forced queue (the parent's software device has engine threads the children do not
    // inherit) and the default thresholds.
    for inline_max in ["0", "256k"] {
        let dir = TempDir::new("fork");
        let stats = dir.path("stats.jsonl");
        let out = run_ok(
            Command::new(&prog)
                .arg(module_path())
                .env("WARPDRIVE_INLINE_MAX", inline_max)
                .env("WARPDRIVE_PROVIDER_STATS", &stats)
                .env_remove("OPENSSL_CONF"),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.matches(" ok\n").count(), 7, "{text}");
        assert!(!text.contains("FAILED"), "{text}");
        // Each process (parent and both children) wrote its own counters at teardown.
        let lines = read_stats(&stats);
        let pids: std::collections::BTreeSet<u64> =
            lines.iter().filter_map(|l| l["pid"].as_u64()).collect();
        assert_eq!(pids.len(), 3, "{lines:?}");
        for l in &lines {
            assert!(l["provider"]["ctr_bytes"].as_u64().unwrap_or(0) > 0, "{l}");
            assert!(l["provider"]["digest_ops"].as_u64().unwrap_or(0) > 0, "{l}");
            assert_eq!(l["provider"]["errors"].as_u64(), Some(0), "{l}");
            if inline_max == "0" {
                // Each child used queues of its own (its own instance and device).
                assert!(core_counter(l, "offloaded") > 0, "{l}");
            }
        }
    }
}

#[test]
fn async_jobs_pause_on_our_fd_with_many_requests_in_flight() {
    let Some(prog) = c_program("async") else {
        return;
    };
    let out = run_ok(
        Command::new(&prog)
            .arg(module_path())
            .env("WARPDRIVE_INLINE_MAX", "0")
            .env_remove("OPENSSL_CONF"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all jobs ok"), "{text}");
    let stats: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("{}")).expect("stats JSON");
    assert!(core_counter(&stats, "max_inflight") > 1, "{stats}");
    assert!(
        stats["provider"]["async_pauses"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(
        stats["provider"]["gcm_tls_records"].as_u64(),
        Some(48),
        "{stats}"
    );
    assert_eq!(core_counter(&stats, "fallbacks"), 0, "{stats}");

    // Without the queue path (default thresholds) the same jobs run inline, no pauses.
    let out = run_ok(
        Command::new(&prog)
            .arg(module_path())
            .env("WARPDRIVE_INLINE_MAX", "1m")
            .env_remove("OPENSSL_CONF"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all jobs ok"), "{text}");
    let stats: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("{}")).expect("stats JSON");
    assert_eq!(
        stats["provider"]["async_pauses"].as_u64(),
        Some(0),
        "{stats}"
    );
}

#[test]
fn openssl_speed_async_jobs_has_many_requests_in_flight() {
    let dir = TempDir::new("speed");
    let stats = dir.path("stats.jsonl");
    // The provider options go before -evp: speed fetches the cipher while parsing -evp.
    let out = run_ok(
        openssl()
            .args([
                "speed",
                "-mr",
                "-seconds",
                "1",
                "-bytes",
                "16384",
                "-async_jobs",
                "8",
            ])
            .args(ours())
            .args(["-evp", "aes-256-ctr"])
            .env("WARPDRIVE_INLINE_MAX", "0")
            .env("WARPDRIVE_PROVIDER_STATS", &stats),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+F:"), "{text}");
    let lines = read_stats(&stats);
    let s = lines.last().expect("stats line");
    assert!(core_counter(s, "max_inflight") > 1, "{s}");
    assert!(
        s["provider"]["async_pauses"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
    assert_eq!(s["provider"]["errors"].as_u64(), Some(0), "{s}");
}

fn valgrind(args: &[&str], inline_max: &str) -> Option<serde_json::Value> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("SKIP: valgrind not installed");
        return None;
    }
    let dir = TempDir::new("valgrind");
    let stats = dir.path("stats.jsonl");
    let out = Command::new("valgrind")
        // No suppressions: the runs below are clean with OpenSSL 3.0 as shipped.
        .args([
            "--error-exitcode=9",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "-q",
        ])
        .arg("openssl")
        .args(args)
        .env_remove("OPENSSL_CONF")
        .env_remove("OPENSSL_MODULES")
        .env("WARPDRIVE_INLINE_MAX", inline_max)
        .env("WARPDRIVE_PROVIDER_STATS", &stats)
        .output()
        .expect("spawn valgrind");
    assert!(
        out.status.success(),
        "valgrind openssl {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    read_stats(&stats).pop()
}

#[test]
fn valgrind_clean_dgst_and_enc() {
    let dir = TempDir::new("vgdata");
    let input = dir.path("in.bin");
    std::fs::write(&input, Rng::new(5).bytes(300_000)).unwrap();
    let input = input.display().to_string();
    let mut dgst = vec!["dgst".to_string()];
    dgst.extend(ours());
    dgst.extend(["-sha256".into(), input.clone()]);
    let dgst: Vec<&str> = dgst.iter().map(String::as_str).collect();
    let Some(s) = valgrind(&dgst, "256k") else {
        return;
    };
    assert!(s["provider"]["digest_ops"].as_u64().unwrap_or(0) > 0, "{s}");

    let output = dir.path("out.bin").display().to_string();
    let mut enc = vec!["enc".to_string(), "-aes-256-cbc".into()];
    enc.extend(["-K".into(), "11".repeat(32), "-iv".into(), "22".repeat(16)]);
    enc.extend(ours());
    enc.extend(["-in".into(), input, "-out".into(), output]);
    let enc: Vec<&str> = enc.iter().map(String::as_str).collect();
    // Forced queue: the software device's engine threads start and must be joined and
    // freed at teardown; and inline.
    for inline_max in ["0", "256k"] {
        let s = valgrind(&enc, inline_max).expect("stats");
        assert!(s["provider"]["cbc_bytes"].as_u64().unwrap_or(0) > 0, "{s}");
        if inline_max == "0" {
            assert!(core_counter(&s, "offloaded") > 0, "{s}");
        }
    }
}
