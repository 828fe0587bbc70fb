//! A TLS matrix with unmodified programs under the installed-style configuration (our
//! provider preferred for every fetch): python's `ssl` as an HTTPS server, curl and
//! python's `ssl` as clients, TLS 1.2 with CBC, GCM and ChaCha20-Poly1305 suites and TLS
//! 1.3 with each of its three suites. Every download is compared byte for byte with the
//! served file.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = r#"
import http.server, os, ssl, sys
port_file, cert, key, root, version, ciphers, n = sys.argv[1:8]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
os.chdir(root)
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
for _ in range(int(n)):
    srv.handle_request()
"#;

const CLIENT: &str = r#"
import ssl, sys, urllib.request
url, version, ciphers, out = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
with urllib.request.urlopen(url, context=ctx) as r, open(out, "wb") as f:
    f.write(r.read())
"#;

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn python_server_curl_and_python_clients() {
    if !have("python3") || !have("curl") {
        eprintln!("SKIP: python3 or curl missing");
        return;
    }
    let t = TempDir::new("matrix");
    let conf = write_conf(&t, "");
    let stats = t.path("stats.jsonl");
    let (key, cert) = (t.path("key.pem"), t.path("cert.pem"));
    run_ok(
        openssl()
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let root = t.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let body = Rng::new(5).bytes(300_000);
    std::fs::write(root.join("data"), &body).unwrap();
    let cases: [(&str, &str); 8] = [
        ("1.2", "ECDHE-RSA-AES128-SHA"),
        ("1.2", "ECDHE-RSA-AES256-SHA384"),
        ("1.2", "AES256-SHA256"),
        ("1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
        ("1.2", "ECDHE-RSA-CHACHA20-POLY1305"),
        ("1.3", "TLS_AES_128_GCM_SHA256"),
        ("1.3", "TLS_AES_256_GCM_SHA384"),
        ("1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    ];
    for (i, (version, suite)) in cases.into_iter().enumerate() {
        let port_file = t.path(&format!("port{i}"));
        let env = |c: &mut Command| {
            c.env("OPENSSL_CONF", &conf)
                .env("WARPDRIVE_PROVIDER_STATS", &stats)
                .env_remove("OPENSSL_MODULES");
        };
        let mut s = Command::new("python3");
        env(&mut s);
        s.arg("-c")
            .arg(SERVER)
            .arg(&port_file)
            .arg(&cert)
            .arg(&key)
            .arg(&root)
            .args([version, suite, "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let _server = Kill(s.spawn().expect("python3 server"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p;
            }
            assert!(Instant::now() < deadline, "{suite}: server did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let url = format!("https://127.0.0.1:{port}/data");
        let got_curl = t.path(&format!("curl{i}"));
        let mut c = Command::new("curl");
        env(&mut c);
        c.args(["-sSk", "--max-time", "30", "-o"]).arg(&got_curl);
        if version == "1.2" {
            c.args(["--tls-max", "1.2", "--ciphers", suite]);
        } else {
            c.args(["--tlsv1.3", "--tls13-ciphers", suite]);
        }
        run_ok(c.arg(&url));
        let got_py = t.path(&format!("py{i}"));
        let mut p = Command::new("python3");
        env(&mut p);
        run_ok(
            p.arg("-c")
                .arg(CLIENT)
                .args([url.as_str(), version, suite])
                .arg(&got_py),
        );
        assert!(
            std::fs::read(&got_curl).unwrap() == body,
            "{suite}: curl got other bytes"
        );
        assert!(
            std::fs::read(&got_py).unwrap() == body,
            "{suite}: python got other bytes"
        );
    }
    let s = read_stats(&stats);
    // Server runs and client runs: 8 + 16 processes, each with the provider loaded.
    assert!(s.len() >= 14, "{} stats lines: {s:?}", s.len());
    assert!(counter(&s, "soft_ops") > 0, "CBC suites in software: {s:?}");
    assert!(counter(&s, "gcm_ops") > 0, "GCM suites ours: {s:?}");
}
