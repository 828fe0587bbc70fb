//! nginx as the TLS server, under the installed-style configuration (our provider
//! preferred for every fetch, `OPENSSL_CONF` in the master's environment and kept for the
//! workers by nginx's `env` directive) against the same nginx with the default provider
//! alone: TLS 1.2 with nginx's default cipher list (CBC suites included) and TLS 1.3 with
//! each of its suites, fetched by curl and python's `ssl`; the downloads and the access
//! logs (protocol, suite, status, bytes) of the two runs must be identical, and nginx's
//! error log must hold no error. Then session resumption (nginx's tickets), `openssl
//! s_time` briefly, a forced-offload server whose TLS records must cross the queues, and
//! a short `ab` load on both (the ratio is printed, never asserted: the machine is
//! shared). Skips with a message without nginx.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT: &str = r#"
import ssl, sys, urllib.request
url, version, ciphers, out = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
with urllib.request.urlopen(url, context=ctx) as r, open(out, "wb") as f:
    f.write(r.read())
"#;

/// The suites the clients ask for; the server keeps nginx's default cipher list
/// (`ssl_ciphers HIGH:!aNULL:!MD5`) and OpenSSL's TLS 1.3 suites (nginx 1.22 enables TLS
/// 1.3 only when `ssl_protocols` names it, as Debian's nginx.conf does).
const SUITES: [(&str, &str); 8] = [
    ("1.2", "ECDHE-RSA-AES128-SHA"),
    ("1.2", "ECDHE-RSA-AES256-SHA384"),
    ("1.2", "AES256-SHA256"),
    ("1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
    ("1.3", "TLS_AES_128_GCM_SHA256"),
    ("1.3", "TLS_AES_256_GCM_SHA384"),
    ("1.3", "TLS_CHACHA20_POLY1305_SHA256"),
];

fn nginx_bin() -> Option<PathBuf> {
    let mut cands: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("nginx")).collect())
        .unwrap_or_default();
    cands.push("/usr/sbin/nginx".into());
    cands.into_iter().find(|p| p.is_file())
}

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An OPENSSL_CONF with the default provider alone (no system config either).
fn default_conf(t: &TempDir) -> PathBuf {
    let p = t.path("default.cnf");
    std::fs::write(
        &p,
        "openssl_conf = openssl_init\n\n[openssl_init]\nproviders = provider_sect\n\n\
         [provider_sect]\ndefault = default_sect\n\n[default_sect]\nactivate = 1\n",
    )
    .unwrap();
    p
}

/// One nginx (master + one worker) on 127.0.0.1 with its own prefix directory.
struct Nginx {
    dir: PathBuf,
    port: u16,
    conf: PathBuf,
    stats: PathBuf,
    master: Option<std::process::Child>,
}

impl Nginx {
    fn start(
        bin: &Path,
        t: &TempDir,
        name: &str,
        conf: &Path,
        www: &Path,
        env: &[(&str, &str)],
    ) -> Nginx {
        let dir = t.path(name);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let (key, cert) = (t.path("key.pem"), t.path("cert.pem"));
        let port = free_port();
        let stats = dir.join("stats.jsonl");
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let mut keep: String = ["OPENSSL_CONF", "WARPDRIVE_PROVIDER_STATS"]
            .iter()
            .chain(env.iter().map(|(k, _)| k))
            .map(|k| format!("env {k};\n"))
            .collect();
        if root {
            // Workers write the stats file and read the prefix: keep them as root.
            keep.push_str("user root;\n");
        }
        let d = dir.display();
        let text = format!(
            "{keep}daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               log_format tls '$ssl_protocol $ssl_cipher $status $body_bytes_sent $request_uri';\n\
               access_log {d}/access.log tls;\n\
               client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
               uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
               keepalive_requests 1000000;\n\
               server {{\n\
                 listen 127.0.0.1:{port} ssl;\n\
                 ssl_certificate {};\n\
                 ssl_certificate_key {};\n\
                 ssl_protocols TLSv1.2 TLSv1.3;\n\
                 root {};\n\
               }}\n\
             }}\n",
            cert.display(),
            key.display(),
            www.display()
        );
        let nconf = dir.join("nginx.conf");
        std::fs::write(&nconf, text).unwrap();
        let master = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&nconf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .env("OPENSSL_CONF", conf)
            .env("WARPDRIVE_PROVIDER_STATS", &stats)
            .env_remove("OPENSSL_MODULES")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx {
            dir,
            port,
            conf: conf.to_owned(),
            stats,
            master: Some(master),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = n.master.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nginx {name} did not start: {}",
                n.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    fn url(&self, file: &str) -> String {
        format!("https://127.0.0.1:{}/{file}", self.port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Graceful stop (SIGQUIT: the worker finishes and exits through libcrypto's atexit
    /// cleanup, which writes the provider's stats line); returns the stats lines.
    fn stop(&mut self) -> Vec<serde_json::Value> {
        if let Some(mut m) = self.master.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &m.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while m.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = m.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        read_stats(&self.stats)
    }

    /// Lines at level error or worse, lines carrying an OpenSSL error (`(SSL: error:...)`,
    /// how nginx logs a failed handshake or record) and any line naming the provider.
    /// Not errors: a client that hangs up (the readiness probe, `ab` stopping at its time
    /// limit) is logged at info level with an errno only.
    fn errors(&self) -> Vec<String> {
        self.error_log()
            .lines()
            .filter(|l| {
                [
                    "[error]",
                    "[crit]",
                    "[alert]",
                    "[emerg]",
                    "(SSL:",
                    "warpdrive",
                ]
                .iter()
                .any(|w| l.contains(w))
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A failed assertion left it running: SIGTERM (the master stops its worker),
        // SIGKILL if it does not go.
        if let Some(mut m) = self.master.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &m.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while m.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

fn curl(n: &Nginx, version: &str, suite: &str, file: &str, out: &Path) {
    let mut c = Command::new("curl");
    c.env("OPENSSL_CONF", &n.conf)
        .env("WARPDRIVE_PROVIDER_STATS", n.dir.join("clients.jsonl"))
        .env_remove("OPENSSL_MODULES")
        .args(["-sSk", "--max-time", "30", "-o"])
        .arg(out);
    if version == "1.2" {
        c.args(["--tls-max", "1.2", "--ciphers", suite]);
    } else {
        c.args(["--tlsv1.3", "--tls13-ciphers", suite]);
    }
    run_ok(c.arg(n.url(file)));
}

fn python(n: &Nginx, version: &str, suite: &str, file: &str, out: &Path) {
    run_ok(
        Command::new("python3")
            .env("OPENSSL_CONF", &n.conf)
            .env("WARPDRIVE_PROVIDER_STATS", n.dir.join("clients.jsonl"))
            .env_remove("OPENSSL_MODULES")
            .arg("-c")
            .arg(CLIENT)
            .args([n.url(file).as_str(), version, suite])
            .arg(out),
    );
}

/// `openssl s_time` for a second with new sessions; the number of connections.
fn s_time(n: &Nginx, args: &[&str]) -> u64 {
    let out = run_ok(
        openssl()
            .env("OPENSSL_CONF", &n.conf)
            .args(["s_time", "-connect", &format!("127.0.0.1:{}", n.port)])
            .args(["-www", "/small", "-new", "-time", "1"])
            .args(args),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("connections in") && l.contains("real seconds"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("s_time {args:?}: {text}"))
}

/// Session resumption through nginx's session tickets (AES-256-CBC and HMAC-SHA256 in
/// the server, so ours under the installed config): a first `s_client` keeps the
/// session, a second offers it; whether the second was resumed and got the page.
fn resumed(n: &Nginx, args: &[&str]) -> bool {
    let sess = n.dir.join("session.pem");
    let _ = std::fs::remove_file(&sess);
    let mut out = String::new();
    for flag in ["-sess_out", "-sess_in"] {
        let mut c = openssl();
        c.env("OPENSSL_CONF", &n.conf)
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", n.port)])
            .args(args)
            .arg(flag)
            .arg(&sess)
            // Waits for the response (and so for TLS 1.3's post-handshake ticket);
            // HTTP/1.0: nginx closes and s_client ends.
            .arg("-ign_eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().expect("s_client");
        {
            use std::io::Write;
            let mut i = child.stdin.take().unwrap();
            i.write_all(b"GET /small HTTP/1.0\r\n\r\n").unwrap();
        }
        let o = child.wait_with_output().unwrap();
        out = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    out.lines().any(|l| l.starts_with("Reused, ")) && out.contains("200 OK")
}

/// CPU time (user + system, seconds) of the server's worker so far.
fn worker_cpu(n: &Nginx) -> f64 {
    let m = n.master.as_ref().expect("running").id();
    let kids = std::fs::read_to_string(format!("/proc/{m}/task/{m}/children")).unwrap();
    let w = kids.split_whitespace().next().expect("a worker");
    let stat = std::fs::read_to_string(format!("/proc/{w}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime, stime are 14, 15.
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let hz = HZ.get_or_init(|| {
        let o = Command::new("getconf").arg("CLK_TCK").output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(100.0)
    });
    ticks / hz
}

/// One bounded `ab` run (keep-alive, 4 connections, `secs` seconds) with the default
/// provider on the client side: requests per second, and the worker's CPU microseconds
/// per request (steadier than wall-clock rates on a shared machine).
fn ab(n: &Nginx, default_conf: &Path, secs: u32, extra: &[&str]) -> (f64, f64) {
    let cpu0 = worker_cpu(n);
    let out = Command::new("ab")
        .env("OPENSSL_CONF", default_conf)
        .args([
            "-q",
            "-k",
            "-c",
            "4",
            "-t",
            &secs.to_string(),
            "-n",
            "1000000",
        ])
        .args(extra)
        .arg(n.url("mid"))
        .stdin(Stdio::null())
        .output()
        .expect("ab");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l[name.len()..].split_whitespace().next())
            .map(str::to_owned)
    };
    assert_eq!(
        field("Failed requests:").as_deref(),
        Some("0"),
        "ab failed requests: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(field("Non-2xx responses:").is_none(), "{text}");
    let num = |name: &str| -> f64 {
        field(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("ab {name}: {text}"))
    };
    let cpu = worker_cpu(n) - cpu0;
    (
        num("Requests per second:"),
        cpu * 1e6 / num("Complete requests:").max(1.0),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn queued(stats: &[serde_json::Value]) -> u64 {
    stats
        .iter()
        .map(|s| s["core"]["bytes_in"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn nginx_installed_config_equals_default_provider() {
    let Some(bin) = nginx_bin() else {
        eprintln!("SKIP: nginx is not installed (.ci/install-deps installs it: apt nginx)");
        return;
    };
    if !have("curl") || !have("python3") {
        eprintln!("SKIP: curl or python3 missing");
        return;
    }
    let t = TempDir::new("nginx");
    run_ok(
        openssl()
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(t.path("key.pem"))
            .arg("-out")
            .arg(t.path("cert.pem")),
    );
    let www = t.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let files = [
        ("data", Rng::new(7).bytes(300_001)),
        ("mid", Rng::new(8).bytes(64 << 10)),
        ("small", Rng::new(9).bytes(1000)),
    ];
    for (name, body) in &files {
        std::fs::write(www.join(name), body).unwrap();
    }
    let ours_conf = write_conf(&t, "");
    let def_conf = default_conf(&t);
    let mut ours = Nginx::start(&bin, &t, "ours", &ours_conf, &www, &[]);
    let mut def = Nginx::start(&bin, &t, "default", &def_conf, &www, &[]);

    // Every suite, both clients, both files that matter: identical bytes.
    let mut downloads = 0u64;
    for (i, (version, suite)) in SUITES.iter().enumerate() {
        for (name, body) in &files[..2] {
            for (client, fetch) in [
                ("curl", curl as fn(&Nginx, &str, &str, &str, &Path)),
                ("python", python),
            ] {
                let mut got = Vec::new();
                for n in [&ours, &def] {
                    let out = n.dir.join(format!("{client}-{i}-{name}"));
                    fetch(n, version, suite, name, &out);
                    got.push(std::fs::read(&out).unwrap());
                }
                assert!(
                    got[0] == got[1],
                    "{client} {suite} /{name}: {} bytes with ours, {} with the default provider",
                    got[0].len(),
                    got[1].len()
                );
                assert!(got[0] == *body, "{client} {suite} /{name}: not the file");
                downloads += body.len() as u64;
            }
        }
    }
    // The same suites were negotiated, with the same answers, in both runs; the TLS 1.2
    // ones are the suites asked for.
    let (la, lb) = (ours.access_log(), def.access_log());
    assert_eq!(la, lb, "access logs differ (ours left, default right)");
    for (version, suite) in SUITES.iter().filter(|(v, _)| *v == "1.2") {
        assert!(
            la.iter()
                .any(|l| l.starts_with(&format!("TLSv{version} {suite} 200 "))),
            "{suite} never negotiated: {la:?}"
        );
    }
    for (_, suite) in SUITES.iter().filter(|(v, _)| *v == "1.3") {
        assert!(
            la.iter()
                .any(|l| l.starts_with(&format!("TLSv1.3 {suite} 200 "))),
            "{suite} never negotiated: {la:?}"
        );
    }

    // s_time: new sessions only (handshakes), TLS 1.2 CBC and TLS 1.3.
    let mut st = Vec::new();
    for args in [
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"][..],
        &["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"][..],
    ] {
        let (a, b) = (s_time(&ours, args), s_time(&def, args));
        assert!(a > 0 && b > 0, "s_time {args:?}: {a} and {b} connections");
        st.push(format!("{}: {a} ours, {b} default", args[2]));
    }

    for args in [
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"][..],
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"][..],
        &["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"][..],
    ] {
        assert!(resumed(&def, args), "default: no resumption {args:?}");
        assert!(resumed(&ours, args), "ours: no session resumption {args:?}");
    }

    // A short bounded load on both, alternating; medians.
    let runs: usize = std::env::var("WARPDRIVE_NGINX_AB_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let secs: u32 = std::env::var("WARPDRIVE_NGINX_AB_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let mut ratios = Vec::new();
    for (what, extra) in [
        ("TLS 1.3 AES-256-GCM", &["-f", "TLS1.3"][..]),
        (
            "TLS 1.2 ECDHE-RSA-AES128-SHA",
            &["-f", "TLS1.2", "-Z", "ECDHE-RSA-AES128-SHA"][..],
        ),
    ] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            a.push(ab(&ours, &def_conf, secs, extra));
            b.push(ab(&def, &def_conf, secs, extra));
        }
        let rate = |v: &[(f64, f64)]| median(v.iter().map(|x| x.0).collect());
        let cpu = |v: &[(f64, f64)]| median(v.iter().map(|x| x.1).collect());
        ratios.push(format!(
            "{what}, 64 KiB keep-alive x4, median of {runs} x {secs} s alternating: \
             ours {:.0} req/s, default {:.0} req/s, ratio {:.3}; worker CPU per request \
             ours {:.0} us, default {:.0} us, default/ours {:.3}",
            rate(&a),
            rate(&b),
            rate(&a) / rate(&b),
            cpu(&a),
            cpu(&b),
            cpu(&b) / cpu(&a)
        ));
    }

    let (sa, sb) = (ours.stop(), def.stop());
    for n in [&ours, &def] {
        let e = n.errors();
        assert!(
            e.is_empty(),
            "{}: error lines:\n{}",
            n.dir.display(),
            e.join("\n")
        );
    }
    assert!(sa.len() >= 2, "ours: master and worker stats: {sa:?}");
    assert!(sb.is_empty(), "the default run loaded the provider: {sb:?}");
    assert!(
        counter(&sa, "gcm_ops") > 0,
        "GCM suites ran in ours: {sa:?}"
    );
    assert!(
        counter(&sa, "soft_ops") > 0,
        "CBC suites in software: {sa:?}"
    );

    // Forced offload (as when the backend says it pays): the records cross the queues.
    let mut forced = Nginx::start(
        &bin,
        &t,
        "forced",
        &ours_conf,
        &www,
        &[("WARPDRIVE_INLINE_MAX", "0")],
    );
    for (version, suite) in [
        ("1.3", "TLS_AES_128_GCM_SHA256"),
        ("1.3", "TLS_AES_256_GCM_SHA384"),
        ("1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
    ] {
        let out = forced.dir.join(format!("forced-{suite}"));
        Command::new("curl")
            .env("OPENSSL_CONF", &def_conf)
            .args(["-sSk", "--max-time", "30", "-o"])
            .arg(&out)
            .args(if version == "1.2" {
                vec!["--tls-max", "1.2", "--ciphers", suite]
            } else {
                vec!["--tlsv1.3", "--tls13-ciphers", suite]
            })
            .arg(forced.url("data"))
            .status()
            .unwrap();
        assert!(std::fs::read(&out).unwrap() == files[0].1, "forced {suite}");
    }
    let sf = forced.stop();
    let e = forced.errors();
    assert!(e.is_empty(), "forced: error lines:\n{}", e.join("\n"));
    let qf = queued(&sf);
    assert!(
        qf >= 3 * files[0].1.len() as u64,
        "forced offload: {qf} bytes through the queues for 3 x 300 KB: {sf:?}"
    );

    eprintln!(
        "nginx: {} suites x 2 clients x 2 files, {downloads} bytes each run, identical; \
         bytes through the queues: installed config {} (server), forced {qf}",
        SUITES.len(),
        queued(&sa),
    );
    eprintln!(
        "nginx: provider counters (ours, server): gcm_ops {} gcm_tls_records {} soft_ops {} soft_bytes {} oneshot {}",
        counter(&sa, "gcm_ops"),
        counter(&sa, "gcm_tls_records"),
        counter(&sa, "soft_ops"),
        counter(&sa, "soft_bytes"),
        counter(&sa, "oneshot")
    );
    for s in st.iter().chain(&ratios) {
        eprintln!("nginx: {s}");
    }
}
