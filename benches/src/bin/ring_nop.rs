//! Ring NOP round trips, side by side in one run: a two-thread cache-line
//! ping-pong (the floor), NOPs through a software-device queue in batches of
//! 1 and 32, and io_uring's own IORING_OP_NOP in the same batches (the
//! io-uring crate). Rounds alternate between them; each figure is the
//! median over the rounds, in ns per request.
//!
//! `cargo run --release -p warpdrive-benches --bin ring_nop [-- ROUNDS]`
//!
//! Targets (issue 12): batch 1 at most 1.5x the ping-pong; batch 32 at most
//! 100 ns per request.

use std::time::{Duration, Instant};

use warpdrive::{AsyncQueue, BackendChoice, Config, Operation, Request, Warpdrive};
use warpdrive_benches::{median, PingPong};

/// Requests per measurement.
const REQUESTS: u64 = 64 * 1024;

fn nop(cookie: u64) -> Request {
    Request {
        op: Operation::Nop,
        input: Vec::new(),
        output_capacity: 0,
        cookie,
    }
}

/// `REQUESTS` NOPs in rounds of `batch`: submit, flush, wait for all.
fn queue_nops(q: &mut AsyncQueue, batch: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..REQUESTS / batch {
        for i in 0..batch {
            q.submit(nop(i)).map_err(|(e, _)| e).expect("submit");
        }
        q.flush().expect("flush");
        for _ in 0..batch {
            q.wait().expect("wait").result.expect("nop");
        }
    }
    start.elapsed()
}

/// The same through io_uring: push `batch` NOPs, one submit_and_wait.
fn uring_nops(ring: &mut io_uring::IoUring, batch: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..REQUESTS / batch {
        for i in 0..batch {
            let e = io_uring::opcode::Nop::new().build().user_data(i);
            // SAFETY: a NOP names no memory.
            unsafe { ring.submission().push(&e).expect("sq room") };
        }
        ring.submit_and_wait(batch as usize).expect("submit");
        let n = ring.completion().count();
        assert_eq!(n as u64, batch);
    }
    start.elapsed()
}

fn ns_per(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load before: {}", load().trim());
    let wd = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        engines: 1,
        ..Config::default()
    })
    .expect("software device");
    let mut q = AsyncQueue::new(&wd).expect("queue");
    let mut pp = PingPong::new();
    let mut ring = io_uring::IoUring::new(256).ok();
    if ring.is_none() {
        println!("io_uring unavailable here (io_uring_setup failed): its rows are left out");
    }
    queue_nops(&mut q, 1); // the engine up and polling
    let names = [
        "ping-pong",
        "queue NOP batch 1",
        "queue NOP batch 32",
        "io_uring NOP batch 1",
        "io_uring NOP batch 32",
    ];
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        figures[0].push(ns_per(pp.run(REQUESTS), REQUESTS));
        figures[1].push(ns_per(queue_nops(&mut q, 1), REQUESTS));
        figures[2].push(ns_per(queue_nops(&mut q, 32), REQUESTS));
        if let Some(r) = ring.as_mut() {
            figures[3].push(ns_per(uring_nops(r, 1), REQUESTS));
            figures[4].push(ns_per(uring_nops(r, 32), REQUESTS));
        }
    }
    let m: Vec<f64> = figures.iter_mut().map(|v| median(v)).collect();
    for (name, v) in names.iter().zip(&m) {
        if v.is_finite() {
            println!("{name:24} {v:8.0} ns/request (median of {rounds} rounds)");
        }
    }
    let ok = |c: bool| if c { "met" } else { "MISSED" };
    println!(
        "batch 1: {:.2}x the ping-pong (target <= 1.5x: {}); batch 32: {:.0} ns/request (target <= 100: {})",
        m[1] / m[0],
        ok(m[1] <= 1.5 * m[0]),
        m[2],
        ok(m[2] <= 100.0)
    );
    println!("load after: {}", load().trim());
}
