//! Ring NOP round trips through the software device with busy polling, next
//! to a two-thread cache-line ping-pong measured in the same run.
//!
//! `cargo bench -p warpdrive-benches --bench ring`. Criterion's time is per
//! iteration: one round trip (pingpong), one NOP (batch1) or 32 NOPs
//! (batch32, so divide by 32; the throughput line gives requests/s).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warpdrive::{AsyncQueue, BackendChoice, Config, Operation, Request, Warpdrive};
use warpdrive_benches::PingPong;

fn nop(cookie: u64) -> Request {
    Request {
        op: Operation::Nop,
        input: Vec::new(),
        output_capacity: 0,
        cookie,
    }
}

/// Submits `batch` NOPs, flushes, waits for all of them; `iters` times.
fn nop_rounds(q: &mut AsyncQueue, batch: u64, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        for i in 0..batch {
            q.submit(nop(i)).map_err(|(e, _)| e).expect("submit");
        }
        q.flush().expect("flush");
        for _ in 0..batch {
            let c = q.wait().expect("wait");
            debug_assert!(c.result.is_ok());
        }
    }
    start.elapsed()
}

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(1));
    {
        let mut pp = PingPong::new();
        g.bench_function("pingpong", |b| b.iter_custom(|iters| pp.run(iters)));
    }
    let wd = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        engines: 1,
        ..Config::default()
    })
    .expect("software device");
    let mut q = AsyncQueue::new(&wd).expect("queue");
    // Make sure the engine is up and polling.
    nop_rounds(&mut q, 1, 1000);
    for batch in [1u64, 32] {
        g.throughput(Throughput::Elements(batch));
        g.bench_function(format!("nop_batch{batch}"), |b| {
            b.iter_custom(|iters| nop_rounds(&mut q, batch, iters))
        });
    }
    g.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
