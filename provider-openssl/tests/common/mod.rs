//! Shared helpers: locating the built module, running openssl, temp dirs, a small PRNG.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Directory holding `warpdrive.so` (copied from the cdylib cargo built for this test run).
pub fn module_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // target/<profile>/deps/<test-binary>
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let lib = profile_dir.join("libwarpdrive_provider.so");
        if !lib.exists() {
            // `cargo test` does not always build a cdylib-only crate's library
            // (it does not link into the tests): build it for this profile.
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "warpdrive-openssl-provider"]);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            if let Some(target) = profile_dir.parent() {
                cmd.env("CARGO_TARGET_DIR", target);
            }
            let status = cmd.status().expect("run cargo build for the provider");
            assert!(status.success(), "building the provider failed");
        }
        assert!(
            lib.exists(),
            "{} missing: cargo builds it with the tests",
            lib.display()
        );
        let dir = profile_dir.join(format!("ossl-modules-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&lib, dir.join("warpdrive.so")).unwrap();
        dir
    })
}

/// Absolute path of the module file.
pub fn module_path() -> PathBuf {
    module_dir().join("warpdrive.so")
}

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("wdprov-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openssl` with a clean environment for our variables.
pub fn openssl() -> Command {
    let mut c = Command::new("openssl");
    c.env_remove("OPENSSL_CONF").env_remove("OPENSSL_MODULES");
    c
}

/// Arguments that load only our provider for the algorithms (default stays for the rest).
pub fn ours() -> Vec<String> {
    vec![
        "-provider-path".into(),
        module_dir().display().to_string(),
        "-provider".into(),
        "warpdrive".into(),
        "-provider".into(),
        "default".into(),
        "-propquery".into(),
        "provider=warpdrive".into(),
    ]
}

pub fn run_ok(c: &mut Command) -> Output {
    let out = c.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        c,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An OPENSSL_CONF activating default + warpdrive with `?provider=warpdrive` preferred.
pub fn write_conf(dir: &TempDir, extra: &str) -> PathBuf {
    let p = dir.path("openssl.cnf");
    let text = format!(
        "openssl_conf = openssl_init\n\n[openssl_init]\nproviders = provider_sect\nalg_section = algorithm_sect\n\n\
         [provider_sect]\ndefault = default_sect\nwarpdrive = warpdrive_sect\n\n[default_sect]\nactivate = 1\n\n\
         [warpdrive_sect]\nmodule = {}\nactivate = 1\n{extra}\n\n[algorithm_sect]\ndefault_properties = ?provider=warpdrive\n",
        module_path().display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Reads the JSON lines the provider appended at teardown (WARPDRIVE_PROVIDER_STATS).
pub fn read_stats(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("stats JSON"))
        .collect()
}

/// Sum of a provider counter over every process that wrote stats.
pub fn counter(stats: &[serde_json::Value], name: &str) -> u64 {
    stats
        .iter()
        .map(|s| s["provider"][name].as_u64().unwrap_or(0))
        .sum()
}

/// Deterministic xorshift PRNG (tests must be reproducible without extra crates).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Compiles tests/c/NAME.c against the system libcrypto (None, with a message, without a
/// C compiler).
pub fn c_program(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let out = module_dir().join(format!("{name}-test"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    match Command::new(&cc)
        .args(["-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lcrypto")
        .output()
    {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => panic!(
            "{cc} {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!("SKIP: no C compiler ({cc}: {e})");
            None
        }
    }
}

/// A private library context with our provider and the default one, shared by the EVP
/// tests (which pick an implementation by propquery).
pub struct Ctx {
    pub lc: openssl::lib_ctx::LibCtx,
    _ours: openssl::provider::Provider,
    _default: openssl::provider::Provider,
}

/// The library context (never dropped: the providers must outlive it).
pub fn ctx() -> &'static Ctx {
    use openssl::lib_ctx::LibCtx;
    use openssl::provider::Provider;
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| {
        let lc = LibCtx::new().unwrap();
        Provider::set_default_search_path(Some(&lc), module_dir().to_str().unwrap()).unwrap();
        let ours = Provider::load(Some(&lc), "warpdrive").expect("load warpdrive");
        let default = Provider::load(Some(&lc), "default").unwrap();
        Ctx {
            lc,
            _ours: ours,
            _default: default,
        }
    })
}
