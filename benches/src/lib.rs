//! Shared pieces of WarpDrive's benchmarks (benches/benches/) and demo
//! (src/bin/demo.rs): the corpus, the references measured in the same process
//! (system zlib through libz-sys, OpenSSL's default provider through the
//! openssl crate), and a cross-core cache-line ping-pong.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One corpus file, loaded.
pub struct CorpusFile {
    pub name: String,
    pub data: Vec<u8>,
}

/// Total bytes of a loaded corpus.
pub fn corpus_bytes(files: &[CorpusFile]) -> usize {
    files.iter().map(|f| f.data.len()).sum()
}

fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Unpacks every `*.xz` of `src` into `dst` (with the xz tool) unless already
/// there. Returns false if nothing could be unpacked.
fn unpack(src: &Path, dst: &Path) -> bool {
    let xz: Vec<PathBuf> = regular_files(src)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "xz"))
        .collect();
    if xz.is_empty() || std::fs::create_dir_all(dst).is_err() {
        return false;
    }
    let mut any = false;
    for p in xz {
        let Some(stem) = p.file_stem() else { continue };
        let out = dst.join(stem);
        if out.is_file() {
            any = true;
            continue;
        }
        let tmp = dst.join(format!(".{}.part", stem.to_string_lossy()));
        let ok = std::fs::File::create(&tmp)
            .ok()
            .and_then(|f| {
                Command::new("xz")
                    .arg("-dc")
                    .arg(&p)
                    .stdout(f)
                    .status()
                    .ok()
            })
            .is_some_and(|s| s.success());
        if ok && std::fs::rename(&tmp, &out).is_ok() {
            any = true;
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    any
}

/// Finds the corpus: `$WARPDRIVE_CORPUS` or `explicit` if given (a directory
/// of plain files, or of `*.xz` files to unpack into target/corpus), else
/// target/corpus, else ../shared/corpus unpacked into target/corpus.
pub fn find_corpus(explicit: Option<&Path>) -> Option<PathBuf> {
    let unpacked = workspace_root().join("target").join("corpus");
    let has_plain = |d: &Path| {
        regular_files(d).iter().any(|p| {
            p.extension().is_none_or(|e| e != "xz" && e != "md") && !p.ends_with("SHA256SUMS")
        })
    };
    let from_env = std::env::var_os("WARPDRIVE_CORPUS").map(PathBuf::from);
    if let Some(d) = explicit.map(Path::to_path_buf).or(from_env) {
        if has_plain(&d) {
            return Some(d);
        }
        return unpack(&d, &unpacked).then_some(unpacked);
    }
    if has_plain(&unpacked) {
        return Some(unpacked);
    }
    let shared = workspace_root().join("..").join("shared").join("corpus");
    unpack(&shared, &unpacked).then_some(unpacked)
}

/// Loads the corpus files (skipping README/SHA256SUMS and any .xz), sorted by
/// name.
pub fn load_corpus(dir: &Path) -> std::io::Result<Vec<CorpusFile>> {
    let mut out = Vec::new();
    for p in regular_files(dir) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".xz")
            || name.ends_with(".md")
            || name == "SHA256SUMS"
            || name.starts_with('.')
        {
            continue;
        }
        out.push(CorpusFile {
            name,
            data: std::fs::read(&p)?,
        });
    }
    Ok(out)
}

/// Deterministic mixed data of `len` bytes: English-like text, structured
/// records, random bytes and runs, in 64 KiB pieces.
pub fn generated_data(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "queue",
        "ring",
        "engine",
        "compress",
        "data",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "warp",
        "drive",
        "submission",
        "completion",
        "descriptor",
        "buffer",
        "offload",
        "kernel",
        "device",
        "with",
        "on",
        "as",
        "by",
        "it",
        "be",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut v = Vec::with_capacity(len + 65536);
    let mut piece = 0u64;
    while v.len() < len {
        let end = v.len() + 65536;
        match piece % 8 {
            0..=3 => {
                while v.len() < end {
                    let w = WORDS[(next() % WORDS.len() as u64) as usize];
                    v.extend_from_slice(w.as_bytes());
                    v.push(if next() % 11 == 0 { b'\n' } else { b' ' });
                }
            }
            4 | 5 => {
                let mut id = next() % 1000;
                while v.len() < end {
                    id += 1 + next() % 3;
                    let rec = format!(
                        "{{\"id\":{id},\"queue\":{},\"bytes\":{},\"status\":\"ok\"}}\n",
                        next() % 64,
                        next() % 65536
                    );
                    v.extend_from_slice(rec.as_bytes());
                }
            }
            6 => {
                while v.len() < end {
                    v.extend_from_slice(&next().to_le_bytes());
                }
            }
            _ => {
                while v.len() < end {
                    let b = (next() % 256) as u8;
                    let n = 1 + (next() % 200) as usize;
                    v.extend(std::iter::repeat_n(b, n));
                }
            }
        }
        piece += 1;
    }
    v.truncate(len);
    v
}

/// System zlib (libz.so.1), called through libz-sys.
pub mod zlib {
    use libz_sys as z;

    /// The version string of the zlib actually linked.
    pub fn version() -> String {
        // SAFETY: zlibVersion returns a pointer to a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(z::zlibVersion()) }
            .to_string_lossy()
            .into_owned()
    }

    /// compressBound.
    pub fn bound(len: usize) -> usize {
        // SAFETY: pure arithmetic in zlib.
        unsafe { z::compressBound(len as z::uLong) as usize }
    }

    /// compress2 (zlib format) of `src` into `dst`; the compressed size.
    pub fn compress(level: i32, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        let mut n = dst.len() as z::uLong;
        // SAFETY: both buffers are valid for the lengths passed; zlib writes at
        // most `n` bytes into dst and updates n.
        let r = unsafe {
            z::compress2(
                dst.as_mut_ptr(),
                &mut n,
                src.as_ptr(),
                src.len() as z::uLong,
                level,
            )
        };
        (r == z::Z_OK).then_some(n as usize)
    }

    /// uncompress of a whole zlib stream; the decompressed size.
    pub fn decompress(src: &[u8], dst: &mut [u8]) -> Option<usize> {
        let mut n = dst.len() as z::uLong;
        // SAFETY: as in compress.
        let r = unsafe {
            z::uncompress(
                dst.as_mut_ptr(),
                &mut n,
                src.as_ptr(),
                src.len() as z::uLong,
            )
        };
        (r == z::Z_OK).then_some(n as usize)
    }
}

/// OpenSSL's default provider through the openssl crate, with contexts reused
/// across calls (what `openssl speed -evp` measures).
pub mod ossl {
    use openssl::cipher::Cipher;
    use openssl::cipher_ctx::CipherCtx;
    use openssl::md::Md;
    use openssl::md_ctx::MdCtx;

    /// AES-256-GCM with one reused EVP_CIPHER_CTX.
    pub struct Gcm {
        ctx: CipherCtx,
    }

    impl Gcm {
        pub fn new(key: &[u8]) -> Gcm {
            let cipher = Cipher::fetch(None, "AES-256-GCM", Some("provider=default"))
                .expect("fetch AES-256-GCM from the default provider");
            let mut ctx = CipherCtx::new().expect("EVP_CIPHER_CTX_new");
            ctx.encrypt_init(Some(&cipher), Some(key), None)
                .expect("AES-256-GCM init");
            ctx.set_iv_length(12).expect("IV length");
            Gcm { ctx }
        }

        /// Seals `src` into `dst[..src.len()]`, tag into `tag`.
        pub fn seal(&mut self, iv: &[u8], aad: &[u8], src: &[u8], dst: &mut [u8], tag: &mut [u8]) {
            let c = &mut self.ctx;
            c.encrypt_init(None, None, Some(iv)).expect("GCM IV");
            if !aad.is_empty() {
                c.cipher_update(aad, None).expect("AAD");
            }
            let n = c.cipher_update(src, Some(dst)).expect("GCM update");
            c.cipher_final(&mut dst[n..]).expect("GCM final");
            c.tag(tag).expect("GCM tag");
        }
    }

    /// SHA-256 with one reused EVP_MD_CTX and the algorithm fetched once
    /// from the default provider (a bare `Md::sha256()` would be re-fetched by
    /// OpenSSL 3 on every init, which is slower than what a careful caller
    /// does).
    pub struct Sha256 {
        ctx: MdCtx,
        md: Md,
    }

    impl Default for Sha256 {
        fn default() -> Self {
            let md = Md::fetch(None, "SHA2-256", Some("provider=default"))
                .expect("fetch SHA2-256 from the default provider");
            Sha256 {
                ctx: MdCtx::new().expect("EVP_MD_CTX_new"),
                md,
            }
        }
    }

    impl Sha256 {
        pub fn digest(&mut self, data: &[u8], out: &mut [u8; 32]) {
            self.ctx.digest_init(&self.md).expect("SHA-256 init");
            self.ctx.digest_update(data).expect("SHA-256 update");
            self.ctx.digest_final(out).expect("SHA-256 final");
        }
    }

    /// The OpenSSL version string.
    pub fn version() -> &'static str {
        openssl::version::version()
    }
}

/// A cache line of its own.
#[repr(align(128))]
struct Line(AtomicU64);

/// Two threads bouncing one cache line: the floor for any cross-thread round
/// trip. The responder busy-polls until dropped.
pub struct PingPong {
    line: Arc<Line>,
    thread: Option<std::thread::JoinHandle<()>>,
    seq: u64,
}

const STOP: u64 = u64::MAX;

impl Default for PingPong {
    fn default() -> Self {
        Self::new()
    }
}

impl PingPong {
    pub fn new() -> PingPong {
        let line = Arc::new(Line(AtomicU64::new(0)));
        let l = line.clone();
        let thread = std::thread::spawn(move || {
            let mut last = 0u64;
            loop {
                let v = l.0.load(Ordering::Acquire);
                if v == STOP {
                    return;
                }
                if v != last && v % 2 == 1 {
                    last = v + 1;
                    l.0.store(last, Ordering::Release);
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        PingPong {
            line,
            thread: Some(thread),
            seq: 0,
        }
    }

    /// `n` round trips; their total time.
    pub fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            let ping = self.seq + 1;
            self.seq += 2;
            self.line.0.store(ping, Ordering::Release);
            while self.line.0.load(Ordering::Acquire) != ping + 1 {
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        self.line.0.store(STOP, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Median of a sample (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Where benches write their side figures (compressed sizes, thresholds) for
/// run.sh's summary: `$CARGO_TARGET_DIR/warpdrive-bench/` (or target/...).
pub fn summary_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let d = target.join("warpdrive-bench");
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Writes `key\tvalue` lines to summary_dir()/name.
pub fn write_summary(name: &str, lines: &[(String, String)]) {
    let text: String = lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
    let _ = std::fs::write(summary_dir().join(name), text);
}
