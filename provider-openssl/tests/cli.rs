//! Unmodified `openssl` CLI programs (list, dgst, mac, enc, s_server/s_client) and python3
//! hashlib running through the provider.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn list_shows_provider_and_algorithms() {
    let dir = module_dir().display().to_string();
    let base = ["-provider-path", dir.as_str(), "-provider", "warpdrive"];
    let providers = run_ok(openssl().arg("list").arg("-providers").args(base));
    let text = String::from_utf8_lossy(&providers.stdout);
    assert!(
        text.contains("WarpDrive Provider") && text.contains("status: active"),
        "{text}"
    );

    let ciphers = String::from_utf8_lossy(
        &run_ok(openssl().args(["list", "-cipher-algorithms"]).args(base)).stdout,
    )
    .to_string();
    for name in [
        "aes-128-gcm",
        "aes-192-gcm",
        "aes-256-gcm",
        "AES-128-CTR",
        "AES-256-CTR",
        "AES-128-CBC",
        "AES-256-CBC",
    ] {
        assert!(
            ciphers
                .lines()
                .any(|l| l.contains(name) && l.contains("@ warpdrive")),
            "{name} missing:\n{ciphers}"
        );
    }
    let digests = String::from_utf8_lossy(
        &run_ok(openssl().args(["list", "-digest-algorithms"]).args(base)).stdout,
    )
    .to_string();
    for name in ["SHA1", "SHA2-224", "SHA2-256", "SHA2-384", "SHA2-512"] {
        assert!(
            digests
                .lines()
                .any(|l| l.contains(name) && l.contains("@ warpdrive")),
            "{name} missing:\n{digests}"
        );
    }
    let macs = String::from_utf8_lossy(
        &run_ok(openssl().args(["list", "-mac-algorithms"]).args(base)).stdout,
    )
    .to_string();
    assert!(macs.contains("HMAC @ warpdrive"), "{macs}");
}

#[test]
fn algorithms_config_restricts_offer() {
    let t = TempDir::new("algs");
    let conf = write_conf(&t, "algorithms = AES-GCM, SHA2-256");
    let out = run_ok(openssl().env("OPENSSL_CONF", &conf).args([
        "list",
        "-cipher-algorithms",
        "-digest-algorithms",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("@ warpdrive")).collect();
    assert!(ours.iter().any(|l| l.contains("aes-256-gcm")), "{text}");
    assert!(ours.iter().any(|l| l.contains("SHA2-256")), "{text}");
    assert!(
        !ours
            .iter()
            .any(|l| l.contains("CBC") || l.contains("CTR") || l.contains("SHA1")),
        "{ours:?}"
    );
}

fn sizes() -> Vec<usize> {
    vec![
        0, 1, 15, 16, 17, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 65537, 300_001,
    ]
}

#[test]
fn dgst_and_mac_equal_default() {
    let t = TempDir::new("dgst");
    let mut rng = Rng::new(7);
    for (i, n) in sizes().into_iter().enumerate() {
        let f = t.path(&format!("in{i}"));
        std::fs::write(&f, rng.bytes(n)).unwrap();
        for md in ["sha1", "sha224", "sha256", "sha384", "sha512"] {
            let a = run_ok(
                openssl()
                    .args(["dgst", &format!("-{md}"), "-r"])
                    .args(ours())
                    .arg(&f),
            );
            let b = run_ok(openssl().args(["dgst", &format!("-{md}"), "-r"]).arg(&f));
            assert_eq!(a.stdout, b.stdout, "dgst -{md} of {n} bytes");
            let mac = |extra: Vec<String>| {
                run_ok(
                    openssl()
                        .args([
                            "mac",
                            "-digest",
                            md,
                            "-macopt",
                            "hexkey:000102030405060708090a0b0c0d0e0f10111213",
                        ])
                        .args(extra)
                        .args(["-in"])
                        .arg(&f)
                        .arg("HMAC"),
                )
                .stdout
            };
            assert_eq!(mac(ours()), mac(vec![]), "HMAC-{md} of {n} bytes");
        }
    }
}

#[test]
fn enc_ours_and_default_interoperate() {
    let t = TempDir::new("enc");
    let mut rng = Rng::new(11);
    let iv = "000102030405060708090a0b0c0d0e0f";
    for mode in ["cbc", "ctr"] {
        for bits in [128, 192, 256] {
            let cipher = format!("-aes-{bits}-{mode}");
            let key = hex(&rng.bytes(bits / 8));
            for (i, n) in sizes().into_iter().enumerate() {
                let plain = rng.bytes(n);
                let p = t.path(&format!("p{i}"));
                std::fs::write(&p, &plain).unwrap();
                let mut nopad = vec![false];
                if mode == "cbc" && n % 16 == 0 {
                    nopad.push(true);
                }
                for np in nopad {
                    let mut args = vec![
                        cipher.clone(),
                        "-K".into(),
                        key.clone(),
                        "-iv".into(),
                        iv.into(),
                    ];
                    if np {
                        args.push("-nopad".into());
                    }
                    for (enc_ours, dec_ours) in [(true, false), (false, true)] {
                        let c = t.path("c");
                        let d = t.path("d");
                        let mut e = openssl();
                        e.arg("enc")
                            .args(&args)
                            .arg("-in")
                            .arg(&p)
                            .arg("-out")
                            .arg(&c);
                        if enc_ours {
                            e.args(ours());
                        }
                        run_ok(&mut e);
                        let mut dd = openssl();
                        dd.arg("enc")
                            .arg("-d")
                            .args(&args)
                            .arg("-in")
                            .arg(&c)
                            .arg("-out")
                            .arg(&d);
                        if dec_ours {
                            dd.args(ours());
                        }
                        run_ok(&mut dd);
                        assert_eq!(
                            std::fs::read(&d).unwrap(),
                            plain,
                            "{cipher} nopad={np} n={n} ours_enc={enc_ours}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn enc_bad_input_fails_cleanly() {
    let t = TempDir::new("encbad");
    let p = t.path("p");
    std::fs::write(&p, b"not a multiple of sixteen").unwrap();
    // -nopad with a partial block: encryption must fail with our error, not crash.
    let out = openssl()
        .args([
            "enc",
            "-aes-128-cbc",
            "-nopad",
            "-K",
            "00112233445566778899aabbccddeeff",
            "-iv",
            "00000000000000000000000000000000",
            "-in",
        ])
        .arg(&p)
        .args(["-out"])
        .arg(t.path("c"))
        .args(ours())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong final block length"), "{err}");
    assert!(!err.contains("panic"), "{err}");
}

/// Self-signed RSA certificate for s_server.
fn make_cert(t: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (k, c) = (t.path("key.pem"), t.path("cert.pem"));
    run_ok(
        openssl()
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
            ])
            .arg(&k)
            .arg("-out")
            .arg(&c),
    );
    (k, c)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One TLS session between s_server and s_client under OPENSSL_CONF; returns what the
/// server received and the stats lines both processes wrote.
fn tls_session(
    version: &str,
    suite_args: &[&str],
    payload: &[u8],
) -> (Vec<u8>, Vec<serde_json::Value>) {
    tls_session_env(version, suite_args, payload, &[])
}

/// A TLS session's payload arrived intact and both processes reported their stats.
#[track_caller]
fn assert_session(what: &str, got: &[u8], payload: &[u8], stats: &[serde_json::Value]) {
    assert!(
        got == payload,
        "{what}: payload corrupted ({} of {} bytes)",
        got.len(),
        payload.len()
    );
    assert_eq!(stats.len(), 2, "{what}: {stats:?}");
}

/// [`tls_session`] with extra environment variables for both processes.
fn tls_session_env(
    version: &str,
    suite_args: &[&str],
    payload: &[u8],
    env: &[(&str, &str)],
) -> (Vec<u8>, Vec<serde_json::Value>) {
    let t = TempDir::new("tls");
    let (key, cert) = make_cert(&t);
    let conf = write_conf(&t, "");
    let stats = t.path("stats.jsonl");
    let port = free_port();
    let server = Command::new("openssl")
        .env("OPENSSL_CONF", &conf)
        .env("WARPDRIVE_PROVIDER_STATS", &stats)
        .envs(env.iter().copied())
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-naccept",
            "2",
            "-quiet",
            "-key",
        ])
        .arg(&key)
        .arg("-cert")
        .arg(&cert)
        .arg(version)
        .args(suite_args)
        // s_server ends the connection when its stdin reaches EOF: keep it open.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Kill(server);
    // Readiness probe: its (single, successful) connection is the first of the two
    // connections s_server accepts before exiting.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = Command::new("openssl")
        .env("OPENSSL_CONF", &conf)
        .env("WARPDRIVE_PROVIDER_STATS", &stats)
        .envs(env.iter().copied())
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
            "-no_ign_eof",
        ])
        .arg(version)
        .args(suite_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = client.stdin.take().unwrap();
        stdin.write_all(payload).unwrap();
        // Give the records time to be written before EOF closes the connection.
        std::thread::sleep(Duration::from_millis(800));
    }
    let cstatus = client.wait().unwrap();
    let mut got = Vec::new();
    let mut so = server.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = so.read_to_end(&mut got);
        got
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = reader.join().unwrap();
    let mut err = String::new();
    if let Some(mut e) = server.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        cstatus.success() || !got.is_empty(),
        "client failed; server stderr: {err}"
    );
    (got, read_stats(&stats))
}

fn tls_payload() -> Vec<u8> {
    // Text lines (s_server -quiet echoes what it reads to stdout), about 100 KB.
    let mut v = Vec::new();
    let mut rng = Rng::new(3);
    while v.len() < 100_000 {
        let line: String = (0..rng.below(200) + 1)
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect();
        v.extend_from_slice(line.as_bytes());
        v.push(b'\n');
    }
    v
}

#[test]
fn tls12_gcm_through_provider() {
    for suite in ["ECDHE-RSA-AES256-GCM-SHA384", "AES128-GCM-SHA256"] {
        let payload = tls_payload();
        let (got, stats) = tls_session("-tls1_2", &["-cipher", suite], &payload);
        assert_eq!(got.len(), payload.len(), "{suite}: payload length");
        assert!(got == payload, "{suite}: payload corrupted");
        assert_eq!(
            stats.len(),
            2,
            "{suite}: both processes report stats: {stats:?}"
        );
        assert!(
            counter(&stats, "gcm_tls_records") > 10,
            "{suite}: {stats:?}"
        );
        assert!(counter(&stats, "digest_ops") > 0, "{suite}: {stats:?}");
    }
}

#[test]
fn tls13_gcm_through_provider() {
    for suite in ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"] {
        let payload = tls_payload();
        let (got, stats) = tls_session("-tls1_3", &["-ciphersuites", suite], &payload);
        assert_session(suite, &got, &payload, &stats);
        assert!(counter(&stats, "gcm_ops") > 10, "{suite}: {stats:?}");
        assert!(
            counter(&stats, "hmac_ops") + counter(&stats, "digest_ops") > 0,
            "{suite}: {stats:?}"
        );
    }
}

/// TLS records go through the queues when the backend says offload pays (here forced:
/// `WARPDRIVE_INLINE_MAX=0`): TLS 1.3's AEAD records (a GCM message per record, tag set
/// before the data on decryption) as one request each, and TLS 1.2's GCM records.
#[test]
fn tls_records_reach_the_queues_when_offload_pays() {
    for (version, args) in [
        ("-tls1_3", ["-ciphersuites", "TLS_AES_128_GCM_SHA256"]),
        ("-tls1_3", ["-ciphersuites", "TLS_AES_256_GCM_SHA384"]),
        ("-tls1_2", ["-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]),
        ("-tls1_3", ["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]),
        ("-tls1_2", ["-cipher", "ECDHE-RSA-CHACHA20-POLY1305"]),
    ] {
        let payload = tls_payload();
        let (got, stats) =
            tls_session_env(version, &args, &payload, &[("WARPDRIVE_INLINE_MAX", "0")]);
        if args[1].contains("CHACHA") {
            // Every record a one-shot ChaCha20-Poly1305 request; TLS 1.2's by the tlsaad path.
            assert!(counter(&stats, "chacha_ops") > 10, "{}: {stats:?}", args[1]);
            if version == "-tls1_2" {
                assert!(counter(&stats, "chacha_tls_records") > 10, "{stats:?}");
            }
        }
        let what = args[1];
        assert_session(what, &got, &payload, &stats);
        // The payload crossed the queues: once encrypted by the client, once decrypted
        // by the server (the DRBG's AES-CTR is a few hundred bytes on top).
        let queued: u64 = stats
            .iter()
            .map(|s| s["core"]["bytes_in"].as_u64().unwrap_or(0))
            .sum();
        assert!(
            queued >= 2 * payload.len() as u64,
            "{what}: {queued} bytes through the queues: {stats:?}"
        );
    }
}

/// The ChaCha20-Poly1305 suites with the default threshold: records below it run in the
/// default implementation inside the provider (counted as soft_ops), the data intact.
#[test]
fn chacha_suites_through_provider() {
    for (version, args) in [
        ("-tls1_3", ["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]),
        ("-tls1_2", ["-cipher", "ECDHE-RSA-CHACHA20-POLY1305"]),
    ] {
        let payload = tls_payload();
        let (got, stats) = tls_session(version, &args, &payload);
        assert_session(args[1], &got, &payload, &stats);
        assert!(counter(&stats, "soft_ops") > 10, "{}: {stats:?}", args[1]);
    }
}

/// TLS 1.2 CBC suites (MAC-then-encrypt) with the installed configuration: libssl gives
/// the cipher the TLS record parameters (`tls-version`, `tls-mac-size`) and the HMAC
/// `tls-data-size`; both run in the default implementation inside the provider and the
/// data arrives intact.
#[test]
fn tls12_cbc_through_provider() {
    for suite in [
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-RSA-AES256-SHA384",
        "AES256-SHA256",
    ] {
        let payload = tls_payload();
        let (got, stats) = tls_session("-tls1_2", &["-cipher", suite], &payload);
        assert_session(suite, &got, &payload, &stats);
        assert!(counter(&stats, "soft_ops") > 10, "{suite}: {stats:?}");
    }
}

/// `openssl dgst -hmac`, `openssl mac` and `openssl kdf` under the installed
/// configuration (our HMAC preferred for every EVP_MAC fetch) against the default
/// provider alone: digests the engines lack run in the default implementation, and the
/// default provider's KDFs built on HMAC (TLS1-PRF with MD5-SHA1, HKDF with SHA3-256)
/// give the same keys.
#[test]
fn hmac_any_digest_and_kdfs_equal_default() {
    let t = TempDir::new("hmacany");
    let conf = write_conf(&t, "");
    let stats = t.path("stats.jsonl");
    let data = t.path("data");
    std::fs::write(&data, Rng::new(11).bytes(5000)).unwrap();
    let run = |with: bool, args: &[&str]| {
        let mut c = openssl();
        if with {
            c.env("OPENSSL_CONF", &conf)
                .env("WARPDRIVE_PROVIDER_STATS", &stats);
        }
        run_ok(c.args(args)).stdout
    };
    let d = data.to_str().unwrap();
    for md in ["md5", "sha3-256", "sha512-256", "sha1", "sha256"] {
        let flag = format!("-{md}");
        let args = ["dgst", &flag, "-hmac", "a secret key", d];
        assert_eq!(run(true, &args), run(false, &args), "dgst {flag} -hmac");
    }
    for md in ["MD5", "SHA3-256", "SHA512-256", "MD5-SHA1"] {
        let args = [
            "mac",
            "-digest",
            md,
            "-macopt",
            "hexkey:00112233445566778899",
            "-in",
            d,
            "HMAC",
        ];
        assert_eq!(run(true, &args), run(false, &args), "mac HMAC-{md}");
    }
    for (kdf, md) in [
        ("TLS1-PRF", "MD5-SHA1"),
        ("TLS1-PRF", "SHA256"),
        ("HKDF", "SHA256"),
        ("HKDF", "SHA3-256"),
    ] {
        let dg = format!("digest:{md}");
        let mut args = vec!["kdf", "-keylen", "48", "-kdfopt", &dg];
        if kdf == "TLS1-PRF" {
            args.extend(["-kdfopt", "secret:a secret", "-kdfopt", "seed:a seed"]);
        } else {
            args.extend([
                "-kdfopt",
                "key:input key",
                "-kdfopt",
                "salt:salt",
                "-kdfopt",
                "info:info",
            ]);
        }
        args.push(kdf);
        let (a, b) = (run(true, &args), run(false, &args));
        assert!(!a.is_empty());
        assert_eq!(a, b, "kdf {kdf} {md}");
    }
    let s = read_stats(&stats);
    assert!(counter(&s, "soft_ops") > 0, "{s:?}");
    assert!(
        counter(&s, "hmac_ops") > 0,
        "SHA-1/SHA-2 HMACs stay ours: {s:?}"
    );
}

#[test]
fn python_hashlib_through_provider() {
    let t = TempDir::new("py");
    let conf = write_conf(&t, "");
    let stats = t.path("stats.jsonl");
    let script = r#"
import hashlib, hmac, sys
data = bytes(range(256)) * 300
want = sys.stdin.read().split()
got = [hashlib.new(n, data).hexdigest() for n in ("sha1", "sha224", "sha256", "sha384", "sha512")]
got.append(hmac.new(b"key", data, "sha256").hexdigest())
print(" ".join(got))
"#;
    let run = |conf: Option<&std::path::Path>| {
        let mut c = Command::new("python3");
        c.arg("-c")
            .arg(script)
            .env_remove("OPENSSL_CONF")
            .env("WARPDRIVE_PROVIDER_STATS", &stats);
        if let Some(p) = conf {
            c.env("OPENSSL_CONF", p);
        }
        let out = c.stdin(Stdio::null()).output().expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let reference = run(None);
    let _ = std::fs::remove_file(&stats);
    let ours = run(Some(&conf));
    assert_eq!(ours, reference);
    let s = read_stats(&stats);
    assert_eq!(s.len(), 1, "python loaded the provider: {s:?}");
    assert!(counter(&s, "digest_ops") >= 5, "{s:?}");
    // Independent check of one value against a known digest of the data.
    let data: Vec<u8> = (0..300).flat_map(|_| 0u8..=255).collect();
    let mut h = openssl::sha::Sha256::new();
    h.update(&data);
    assert!(ours.contains(&hex(&h.finish())));
}
