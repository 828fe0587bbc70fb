//! Latency of one synchronous 4 KiB request: inline against the software
//! device (every request forced onto a queue), alternating call by call in
//! one process, in 5 runs; back to back ("hot") and with a pause before each
//! pair that lets the engines fall asleep ("paced").
//!
//! `cargo run --release -p warpdrive-benches --bin sync_latency [-- CALLS]`
//!
//! Target (issue 12): in every run, the queue's p99 is at most twice
//! inline's p99 plus 5 us. Prints the load average beside the figures.

use std::time::{Duration, Instant};

use warpdrive::{compress_bound, BackendChoice, Config, Format, InlineMax, Warpdrive};
use warpdrive_benches::generated_data;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let inline = Warpdrive::new(Config {
        backend: BackendChoice::Inline,
        ..Config::default()
    })
    .expect("inline");
    let soft = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .expect("software device");
    let data = generated_data(1 << 20);
    let mut out = vec![0u8; compress_bound(Format::Zlib, 4096)];
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load before: {}", loadavg().trim());
    println!("mode\trun\tinline p50\tinline p99\tqueue p50\tqueue p99\tclaimed\ttarget");
    let mut all_met = true;
    for (mode, pause) in [("hot", Duration::ZERO), ("paced", Duration::from_millis(1))] {
        for run in 1..=5 {
            let (mut a, mut b) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
            let mut served = Vec::new();
            let claimed_before = soft.stats().claimed;
            for i in 0..calls {
                let off = (i * 4096) % (data.len() - 4096);
                let src = &data[off..off + 4096];
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
                // Alternate which goes first, so neither always finds the
                // caches warm.
                for which in [i % 2, 1 - i % 2] {
                    let wd = if which == 0 { &inline } else { &soft };
                    let c0 = if which == 1 { soft.stats().claimed } else { 0 };
                    let t = Instant::now();
                    let n = wd
                        .compress(Format::Zlib, 1, src, &mut out)
                        .expect("compress");
                    let took = t.elapsed();
                    std::hint::black_box(n);
                    if which == 0 {
                        a.push(took)
                    } else {
                        b.push(took);
                        if soft.stats().claimed == c0 {
                            served.push(took);
                        }
                    }
                }
            }
            let claimed = soft.stats().claimed - claimed_before;
            let (ia, i99) = (percentile(&mut a, 0.5), percentile(&mut a, 0.99));
            let (qa, q99) = (percentile(&mut b, 0.5), percentile(&mut b, 0.99));
            if !served.is_empty() {
                let n = served.len();
                let (s50, s99) = (percentile(&mut served, 0.5), percentile(&mut served, 0.99));
                eprintln!(
                    "  served by an engine: {n}, p50 {:.1} us, p99 {:.1} us",
                    us(s50),
                    us(s99)
                );
            }
            let met = us(q99) <= 2.0 * us(i99) + 5.0;
            all_met &= met;
            println!(
                "{mode}\t{run}\t{:.1} us\t{:.1} us\t{:.1} us\t{:.1} us\t{claimed}/{calls}\t{}",
                us(ia),
                us(i99),
                us(qa),
                us(q99),
                if met { "met" } else { "MISSED" }
            );
        }
    }
    println!("load after: {}", loadavg().trim());
    println!(
        "p99 within 2x inline + 5 us in every run: {}",
        if all_met { "met" } else { "MISSED" }
    );
}
