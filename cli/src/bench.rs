//! `warpdrive bench`: throughput and latency of each algorithm through each
//! backend (software device, kernel devices, inline) next to the system zlib
//! and OpenSSL's default provider, over request sizes; a table, JSON, and an
//! SVG plot of throughput against request size.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use warpdrive::{CipherMode, Direction, Format, HashAlg, Warpdrive};

use crate::fail::Fail;
use crate::selftest::{pattern, Target};
use crate::table::Table;
use crate::{devices, fail, out, sysz};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A directory of files to use as input (default: generated text).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Algorithms (comma-separated): compress, decompress, aes-gcm, aes-ctr,
    /// aes-cbc, chacha20-poly1305, sha1, sha256, sha512, hmac-sha256 (default: compress,
    /// decompress, aes-gcm, sha256).
    #[arg(long, value_delimiter = ',')]
    alg: Vec<String>,
    /// Backends (comma-separated): softdev, inline, kernel (every kernel
    /// device) or a kernel device's name, baseline (system zlib / OpenSSL)
    /// (default: all).
    #[arg(long, value_delimiter = ',')]
    backend: Vec<String>,
    /// Request sizes (comma-separated, k/m suffixes).
    #[arg(long, value_delimiter = ',', default_value = "4k,16k,64k,256k,1m")]
    sizes: Vec<String>,
    /// Time spent on each (algorithm, backend, size) cell.
    #[arg(long, default_value_t = 300)]
    time_ms: u64,
    /// Write an SVG plot of throughput against request size here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

const ALGS: [&str; 12] = [
    "compress",
    "decompress",
    "aes-gcm",
    "aes-ctr",
    "aes-cbc",
    "chacha20-poly1305",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "hmac-sha256",
];

const DEFAULT_ALGS: [&str; 4] = ["compress", "decompress", "aes-gcm", "sha256"];

#[derive(Debug, Clone)]
enum Backend {
    Device(Target),
    /// The system zlib for compression, OpenSSL's default provider for crypto.
    Baseline,
}

impl Backend {
    fn name(&self, alg: &str) -> String {
        match self {
            Backend::Device(t) => t.name(),
            Backend::Baseline if is_compression(alg) => "system-zlib".into(),
            Backend::Baseline => "openssl-default".into(),
        }
    }
}

fn is_compression(alg: &str) -> bool {
    matches!(alg, "compress" | "decompress")
}

#[derive(Debug, Serialize, Clone)]
pub struct Cell {
    pub algorithm: String,
    pub backend: String,
    pub size: usize,
    pub requests: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Input bytes per second, in MB/s (10^6).
    pub mb_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Requests that went through a device queue.
    pub offloaded: u64,
}

fn parse_size(s: &str) -> Result<usize, Fail> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n, 1 << 10),
        None => match t.strip_suffix('m') {
            Some(n) => (n, 1 << 20),
            None => (t.as_str(), 1),
        },
    };
    match num.parse::<usize>() {
        Ok(n) if n > 0 && n * mult <= (16 << 20) => Ok(n * mult),
        _ => fail!("bad request size '{s}' (use e.g. 4k, 64k, 1m; at most 16m)"),
    }
}

/// Every regular file of `dir` (not recursive), concatenated.
pub fn read_corpus(dir: &Path) -> Result<Vec<u8>, Fail> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Fail::new(format!(
            "cannot read corpus directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| {
            Fail::new(format!(
                "cannot read corpus directory {}: {e}",
                dir.display()
            ))
        })?;
        let p = ent.path();
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let mut data = Vec::new();
    for f in &files {
        let mut b = std::fs::read(f)
            .map_err(|e| Fail::new(format!("cannot read corpus file {}: {e}", f.display())))?;
        data.append(&mut b);
    }
    if data.is_empty() {
        fail!(
            "corpus directory {} is empty (no non-empty regular files)",
            dir.display()
        );
    }
    Ok(data)
}

fn backends(sel: &[String]) -> Result<Vec<Backend>, Fail> {
    if sel.is_empty() {
        let mut v: Vec<Backend> = crate::selftest::targets(None)?
            .into_iter()
            .map(Backend::Device)
            .collect();
        v.push(Backend::Baseline);
        return Ok(v);
    }
    let mut v = Vec::new();
    for s in sel {
        match s.as_str() {
            "baseline" | "system" | "openssl" | "system-zlib" => v.push(Backend::Baseline),
            other => v.extend(
                crate::selftest::targets(Some(other))?
                    .into_iter()
                    .map(Backend::Device),
            ),
        }
    }
    Ok(v)
}

/// One request's work, prepared once per cell.
struct Work<'a> {
    alg: &'a str,
    input: Vec<u8>,
    /// For decompress: the zlib stream of `input`.
    compressed: Vec<u8>,
    out: Vec<u8>,
}

const KEY: [u8; 32] = [0x42; 32];
const IV: [u8; 16] = [0x24; 16];

fn hash_of(alg: &str) -> Option<HashAlg> {
    Some(match alg.trim_start_matches("hmac-") {
        "sha1" => HashAlg::Sha1,
        "sha224" => HashAlg::Sha224,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        "sha512" => HashAlg::Sha512,
        _ => return None,
    })
}

fn md(h: HashAlg) -> openssl::hash::MessageDigest {
    use openssl::hash::MessageDigest as M;
    match h {
        HashAlg::Sha1 => M::sha1(),
        HashAlg::Sha224 => M::sha224(),
        HashAlg::Sha256 => M::sha256(),
        HashAlg::Sha384 => M::sha384(),
        HashAlg::Sha512 => M::sha512(),
    }
}

fn one(w: &mut Work<'_>, wd: Option<&Warpdrive>) -> Result<(), String> {
    let err = |e: warpdrive::Error| e.to_string();
    let oerr = |e: openssl::error::ErrorStack| e.to_string();
    match (w.alg, wd) {
        ("compress", Some(wd)) => wd
            .compress(Format::Zlib, 6, &w.input, &mut w.out)
            .map(drop)
            .map_err(err),
        ("compress", None) => sysz::compress(6, &w.input).map(drop),
        ("decompress", Some(wd)) => wd
            .decompress(Format::Zlib, &w.compressed, &mut w.out)
            .map(drop)
            .map_err(err),
        ("decompress", None) => sysz::uncompress(&w.compressed, w.input.len()).map(drop),
        ("aes-gcm", Some(wd)) => {
            let mut tag = [0u8; 16];
            let n = w.input.len();
            wd.aead_seal(&KEY, &IV[..12], &[], &w.input, &mut w.out[..n], &mut tag)
                .map_err(err)
        }
        ("aes-gcm", None) => {
            let mut tag = [0u8; 16];
            openssl::symm::encrypt_aead(
                openssl::symm::Cipher::aes_256_gcm(),
                &KEY,
                Some(&IV[..12]),
                &[],
                &w.input,
                &mut tag,
            )
            .map(drop)
            .map_err(oerr)
        }
        ("chacha20-poly1305", Some(wd)) => {
            let mut tag = [0u8; 16];
            let n = w.input.len();
            wd.aead_seal_with(
                warpdrive::Aead::ChaCha20Poly1305,
                &KEY,
                &IV[..12],
                &[],
                &w.input,
                &mut w.out[..n],
                &mut tag,
            )
            .map_err(err)
        }
        ("chacha20-poly1305", None) => {
            let mut tag = [0u8; 16];
            openssl::symm::encrypt_aead(
                openssl::symm::Cipher::chacha20_poly1305(),
                &KEY,
                Some(&IV[..12]),
                &[],
                &w.input,
                &mut tag,
            )
            .map(drop)
            .map_err(oerr)
        }
        ("aes-ctr" | "aes-cbc", Some(wd)) => {
            let mode = if w.alg == "aes-ctr" {
                CipherMode::Ctr
            } else {
                CipherMode::Cbc
            };
            wd.cipher(
                mode,
                Direction::Encrypt,
                &KEY,
                &IV,
                false,
                &w.input,
                &mut w.out,
            )
            .map(drop)
            .map_err(err)
        }
        ("aes-ctr" | "aes-cbc", None) => {
            let c = if w.alg == "aes-ctr" {
                openssl::symm::Cipher::aes_256_ctr()
            } else {
                openssl::symm::Cipher::aes_256_cbc()
            };
            let mut cr =
                openssl::symm::Crypter::new(c, openssl::symm::Mode::Encrypt, &KEY, Some(&IV))
                    .map_err(oerr)?;
            cr.pad(false);
            let n = cr.update(&w.input, &mut w.out).map_err(oerr)?;
            cr.finalize(&mut w.out[n..]).map(drop).map_err(oerr)
        }
        (a, wd) => {
            let h = hash_of(a).ok_or_else(|| format!("unknown algorithm {a}"))?;
            let keyed = a.starts_with("hmac-");
            match (wd, keyed) {
                (Some(wd), false) => wd.digest(h, &w.input, &mut w.out).map(drop).map_err(err),
                (Some(wd), true) => wd
                    .hmac(h, &KEY, &w.input, &mut w.out)
                    .map(drop)
                    .map_err(err),
                (None, false) => openssl::hash::hash(md(h), &w.input).map(drop).map_err(oerr),
                (None, true) => {
                    let k = openssl::pkey::PKey::hmac(&KEY).map_err(oerr)?;
                    let mut s = openssl::sign::Signer::new(md(h), &k).map_err(oerr)?;
                    s.update(&w.input).map_err(oerr)?;
                    s.sign_to_vec().map(drop).map_err(oerr)
                }
            }
        }
    }
}

fn chunk(corpus: &[u8], size: usize, i: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    let mut off = (i * 7919 * 64) % corpus.len();
    while v.len() < size {
        let take = (size - v.len()).min(corpus.len() - off);
        v.extend_from_slice(&corpus[off..off + take]);
        off = 0;
    }
    v
}

fn measure(
    alg: &str,
    backend: &Backend,
    wd: Option<&Warpdrive>,
    corpus: &[u8],
    size: usize,
    budget: Duration,
) -> Result<Cell, String> {
    // A few distinct inputs, so that no engine sees one buffer only.
    let mut works: Vec<Work<'_>> = (0..4)
        .map(|i| {
            // CBC without padding wants whole blocks.
            let input = chunk(corpus, size - size % 16, i);
            let compressed = if alg == "decompress" {
                sysz::compress(6, &input).unwrap_or_default()
            } else {
                Vec::new()
            };
            let out = vec![0u8; warpdrive::compress_bound(Format::Zlib, input.len()) + 64];
            Work {
                alg,
                input,
                compressed,
                out,
            }
        })
        .collect();
    // One warm-up request (binds the queue, wakes the engine), not counted:
    // OFFLOADED is out of the REQUESTS measured.
    one(&mut works[0], wd)?;
    let before = wd.map(|w| w.stats().offloaded).unwrap_or(0);
    let mut lat = Vec::new();
    let mut total = Duration::ZERO;
    let mut bytes = 0u64;
    let mut i = 0;
    while total < budget || lat.len() < 3 {
        let w = &mut works[i % 4];
        let t = Instant::now();
        one(w, wd)?;
        let d = t.elapsed();
        total += d;
        bytes += w.input.len() as u64;
        lat.push(d.as_secs_f64() * 1e6);
        i += 1;
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    let secs = total.as_secs_f64().max(1e-9);
    Ok(Cell {
        algorithm: alg.to_string(),
        backend: backend.name(alg),
        size: works[0].input.len(),
        requests: lat.len() as u64,
        bytes,
        seconds: secs,
        mb_per_s: bytes as f64 / secs / 1e6,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        offloaded: wd.map(|w| w.stats().offloaded).unwrap_or(0) - before,
    })
}

/// 4096 -> "4 KiB", 1048576 -> "1 MiB", 4000 -> "4000 B": exact, unlike
/// `table::bytes`, since the sizes are the ones asked for.
pub fn size_label(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Fails early (before any measuring) when the plot cannot be written.
fn check_plot_path(p: &Path) -> Result<(), Fail> {
    match p.extension().and_then(|e| e.to_str()) {
        Some("svg") => {}
        Some("png") => fail!(
            "cannot write plot {}: PNG is not built in, use an .svg path",
            p.display()
        ),
        _ => fail!(
            "cannot write plot {}: the file name must end in .svg",
            p.display()
        ),
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(p)
        .map(drop)
        .map_err(|e| Fail::new(format!("cannot write plot {}: {e}", p.display())))
}

fn plot(path: &Path, cells: &[Cell]) -> Result<(), String> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xmin = cells.iter().map(|c| c.size).min().unwrap_or(1).max(1) as f64;
    let xmax = (cells.iter().map(|c| c.size).max().unwrap_or(2) as f64).max(xmin * 2.0);
    let ymax = cells.iter().map(|c| c.mb_per_s).fold(1.0, f64::max) * 1.1;
    // Ticks at exactly the sizes measured, labelled as they were asked for.
    let mut ticks: Vec<f64> = cells.iter().map(|c| c.size as f64).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let mut chart = ChartBuilder::on(&root)
        .caption("WarpDrive throughput by request size", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (xmin / 1.25..xmax * 1.25)
                .log_scale()
                .with_key_points(ticks),
            0.0..ymax,
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("request size")
        .y_desc("MB/s")
        .x_label_formatter(&|x| size_label(*x as usize))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for c in cells {
        let key = format!("{} / {}", c.algorithm, c.backend);
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((c.size as f64, c.mb_per_s)),
            None => series.push((key, vec![(c.size as f64, c.mb_per_s)])),
        }
    }
    for (i, (name, mut pts)) in series.into_iter().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

pub fn cmd_bench(a: BenchArgs, json: bool) -> Result<(), Fail> {
    let algs: Vec<String> = if a.alg.is_empty() {
        DEFAULT_ALGS.iter().map(|s| s.to_string()).collect()
    } else {
        a.alg.clone()
    };
    for alg in &algs {
        if !ALGS.contains(&alg.as_str()) {
            fail!("unknown algorithm '{alg}' (known: {})", ALGS.join(", "));
        }
    }
    let mut sizes = a
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    sizes.dedup();
    let backends = backends(&a.backend)?;
    if let Some(p) = &a.plot {
        check_plot_path(p)?;
    }
    let corpus = match &a.corpus {
        Some(d) => read_corpus(d)?,
        None => pattern(4 << 20),
    };
    // Instances first: a device that cannot be used is an error up front.
    let mut insts: Vec<(Backend, Option<Warpdrive>)> = Vec::new();
    for b in backends {
        let wd = match &b {
            Backend::Device(t) => Some(
                t.instance()
                    .map_err(|e| Fail::new(format!("cannot use device {}: {e}", t.name())))?,
            ),
            Backend::Baseline => None,
        };
        insts.push((b, wd));
    }
    let total = (algs.len() * sizes.len() * insts.len()) as u64;
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let budget = Duration::from_millis(a.time_ms.max(1));
    let mut cells = Vec::new();
    for alg in &algs {
        for (b, wd) in &insts {
            if let Backend::Device(t) = b {
                let algname = match alg.as_str() {
                    "compress" | "decompress" => "zlib",
                    x => x,
                };
                if !t.algorithms().iter().any(|x| x == algname) {
                    pb.inc(sizes.len() as u64);
                    continue;
                }
            }
            for &size in &sizes {
                pb.set_message(format!("{alg} on {} at {}", b.name(alg), size));
                let c = measure(alg, b, wd.as_ref(), &corpus, size, budget).map_err(|e| {
                    pb.finish_and_clear();
                    Fail::new(format!("{alg} on {} failed: {e}", b.name(alg)))
                })?;
                cells.push(c);
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();
    if let Some(p) = &a.plot {
        plot(p, &cells)
            .map_err(|e| Fail::new(format!("cannot write plot {}: {e}", p.display())))?;
    }
    if json {
        out::json(&serde_json::json!({
            "corpus": a.corpus.as_ref().map(|p| p.display().to_string()),
            "corpus_bytes": corpus.len(),
            "system_zlib": sysz::version(),
            "openssl": openssl::version::version(),
            "kernel_devices": devices::kernel_names(),
            "plot": a.plot.as_ref().map(|p| p.display().to_string()),
            "results": cells,
        }));
        return Ok(());
    }
    let mut t = Table::new(&[
        "ALGORITHM",
        "BACKEND",
        "SIZE",
        "MB/S",
        "P50 US",
        "P99 US",
        "REQUESTS",
        "OFFLOADED",
    ])
    .right(&[2, 3, 4, 5, 6, 7]);
    for c in &cells {
        t.row(vec![
            c.algorithm.clone(),
            c.backend.clone(),
            size_label(c.size),
            format!("{:.1}", c.mb_per_s),
            format!("{:.1}", c.p50_us),
            format!("{:.1}", c.p99_us),
            c.requests.to_string(),
            c.offloaded.to_string(),
        ]);
    }
    out::line(&t.render());
    out::line(&format!(
        "baselines: system zlib {}, {} (default provider); throughput counts input bytes",
        sysz::version(),
        openssl::version::version()
    ));
    if let Some(p) = &a.plot {
        out::line(&format!("plot: {}", p.display()));
    }
    Ok(())
}
