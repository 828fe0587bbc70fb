//! Where offload starts to pay: for each class of operation, the request size
//! from which running it through the software device's queue (an instance
//! with InlineMax::all(0)) costs no more than 10% over running it inline (an
//! instance with the inline backend), on this machine. Justifies
//! InlineMax::DEFAULT in core/src/device.rs.
//!
//! Two regimes: "hot", calls back to back (the engine and the waiter are
//! still polling), and "cold", a 1 ms pause before each call (longer than the
//! engine's 200 us idle spin, so each request has to wake a sleeping engine).
//! Per size: rounds alternate inline and queue; the figure is the median of
//! the per-round ratios queue/inline.
//!
//! `cargo bench -p warpdrive-benches --bench threshold` (no criterion; a few
//! seconds to a minute). Results also in $CARGO_TARGET_DIR/warpdrive-bench/threshold.tsv.

use std::hint::black_box;
use std::time::{Duration, Instant};

use warpdrive::{BackendChoice, Config, Format, HashAlg, InlineMax, Warpdrive};
use warpdrive_benches::{find_corpus, generated_data, load_corpus, median, write_summary};

const SIZES: &[usize] = &[
    1 << 10,
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
];
const SAMPLE: usize = 1 << 20;
const KEY: [u8; 32] = [3u8; 32];
const IV: [u8; 12] = [5u8; 12];

#[derive(Clone, Copy, Debug)]
enum Class {
    CompressL1,
    CompressL6,
    Decompress,
    Gcm,
    Sha256,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::CompressL1 => "compress_l1",
            Class::CompressL6 => "compress_l6",
            Class::Decompress => "decompress",
            Class::Gcm => "aes256gcm_seal",
            Class::Sha256 => "sha256",
        }
    }
}

struct Inputs {
    /// Raw samples of SAMPLE bytes, one per source file.
    raw: Vec<Vec<u8>>,
}

fn samples() -> (Inputs, String) {
    let from_corpus = find_corpus(None)
        .and_then(|d| load_corpus(&d).ok())
        .filter(|f| !f.is_empty());
    match from_corpus {
        Some(files) => {
            let raw = files
                .iter()
                .filter(|f| f.data.len() >= SAMPLE)
                .map(|f| {
                    let off = (f.data.len() - SAMPLE) / 2;
                    f.data[off..off + SAMPLE].to_vec()
                })
                .collect();
            (
                Inputs { raw },
                format!(
                    "1 MiB from the middle of each of {} corpus files",
                    files.len()
                ),
            )
        }
        None => {
            let g = generated_data(8 * SAMPLE);
            (
                Inputs {
                    raw: g.chunks(SAMPLE).map(<[u8]>::to_vec).collect(),
                },
                "generated mixed data (no corpus found)".into(),
            )
        }
    }
}

/// One call of `class` on `wd` over `src` (or `z`, its zlib -6 form).
fn call(wd: &Warpdrive, class: Class, src: &[u8], z: &[u8], out: &mut [u8]) -> usize {
    match class {
        Class::CompressL1 => wd.compress(Format::Zlib, 1, src, out).expect("compress"),
        Class::CompressL6 => wd.compress(Format::Zlib, 6, src, out).expect("compress"),
        Class::Decompress => {
            wd.decompress(Format::Zlib, z, out)
                .expect("decompress")
                .produced
        }
        Class::Gcm => {
            let mut tag = [0u8; 16];
            let (o, _) = out.split_at_mut(src.len());
            wd.aead_seal(&KEY, &IV, &[], src, o, &mut tag)
                .expect("seal");
            src.len()
        }
        Class::Sha256 => wd.digest(HashAlg::Sha256, src, out).expect("digest"),
    }
}

struct Point {
    size: usize,
    inline_us: f64,
    queue_us: f64,
    ratio: f64,
}

fn measure(
    inline: &Warpdrive,
    queue: &Warpdrive,
    class: Class,
    inputs: &Inputs,
    zs: &[Vec<u8>],
    size: usize,
    cold: bool,
) -> Point {
    let mut out = vec![0u8; 2 * SAMPLE + 4096];
    let n = inputs.raw.len();
    // One call's rough cost decides the calls per round (~3 ms a round).
    let t = Instant::now();
    call(inline, class, &inputs.raw[0][..size], &zs[0], &mut out);
    let one = t.elapsed().as_secs_f64();
    let per_round = if cold {
        1
    } else {
        ((0.003 / one.max(1e-7)) as usize).clamp(1, 20_000)
    };
    let rounds = if cold { 25 } else { 15 };
    let (mut ti, mut tq, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut k = 0usize;
    let mut timed = |wd: &Warpdrive, k0: usize| -> f64 {
        let mut total = Duration::ZERO;
        if !cold {
            let t = Instant::now();
            for j in 0..per_round {
                let i = (k0 + j) % n;
                black_box(call(
                    wd,
                    class,
                    black_box(&inputs.raw[i][..size]),
                    &zs[i],
                    &mut out,
                ));
            }
            total = t.elapsed();
        } else {
            for j in 0..per_round {
                std::thread::sleep(Duration::from_millis(1));
                let i = (k0 + j) % n;
                let t = Instant::now();
                black_box(call(
                    wd,
                    class,
                    black_box(&inputs.raw[i][..size]),
                    &zs[i],
                    &mut out,
                ));
                total += t.elapsed();
            }
        }
        total.as_secs_f64() * 1e6 / per_round as f64
    };
    // Warm both (thread-local engine state, pooled queue).
    timed(inline, 0);
    timed(queue, 0);
    for _ in 0..rounds {
        let a = timed(inline, k);
        let b = timed(queue, k);
        k += per_round;
        ti.push(a);
        tq.push(b);
        ratios.push(b / a);
    }
    Point {
        size,
        inline_us: median(&mut ti),
        queue_us: median(&mut tq),
        ratio: median(&mut ratios),
    }
}

fn human(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{}M", n >> 20)
    } else {
        format!("{}K", n >> 10)
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (inputs, what) = samples();
    println!("threshold: inputs are {what}");
    let inline = Warpdrive::new(Config {
        backend: BackendChoice::Inline,
        ..Config::default()
    })
    .expect("inline");
    let queue = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .expect("software device");
    let mut summary = Vec::new();
    for class in [
        Class::CompressL1,
        Class::CompressL6,
        Class::Decompress,
        Class::Gcm,
        Class::Sha256,
    ] {
        for cold in [false, true] {
            let regime = if cold { "cold" } else { "hot" };
            println!(
                "\n{} ({regime}): size, inline us/call, queue us/call, queue/inline",
                class.name()
            );
            let mut points = Vec::new();
            for &size in SIZES {
                let zs: Vec<Vec<u8>> = if matches!(class, Class::Decompress) {
                    let mut o = vec![0u8; 2 * SAMPLE];
                    inputs
                        .raw
                        .iter()
                        .map(|r| {
                            let m = inline
                                .compress(Format::Zlib, 6, &r[..size], &mut o)
                                .expect("compress");
                            o[..m].to_vec()
                        })
                        .collect()
                } else {
                    vec![Vec::new(); inputs.raw.len()]
                };
                let p = measure(&inline, &queue, class, &inputs, &zs, size, cold);
                println!(
                    "  {:>5}  {:>10.2}  {:>10.2}  {:>6.3}",
                    human(p.size),
                    p.inline_us,
                    p.queue_us,
                    p.ratio
                );
                summary.push((
                    format!("{}_{regime}_{}", class.name(), p.size),
                    format!("{:.2}\t{:.2}\t{:.3}", p.inline_us, p.queue_us, p.ratio),
                ));
                points.push(p);
            }
            // The smallest size from which every measured larger size is within 10%.
            let mut threshold = None;
            for (i, p) in points.iter().enumerate().rev() {
                if p.ratio <= 1.10 {
                    threshold = Some(p.size);
                } else {
                    let _ = i;
                    break;
                }
            }
            let t =
                threshold.map_or_else(|| format!(">{}", human(*SIZES.last().unwrap_or(&0))), human);
            println!(
                "  => {} {regime}: offload within 10% of inline from {t}",
                class.name()
            );
            summary.push((format!("threshold_{}_{regime}", class.name()), t));
        }
    }
    write_summary("threshold.tsv", &summary);
}
