//! CPU an idle process uses after a burst of requests through the software
//! device: a burst of synchronous and asynchronous requests, then the CPU
//! time of the whole process (getrusage, every thread) over a quiet period.
//!
//! `cargo run --release -p warpdrive-benches --bin idle_cpu [-- SECONDS]`
//!
//! Target (issue 12): at most 1% of a CPU over 10 s.

use std::time::{Duration, Instant};

use warpdrive::{
    compress_bound, AsyncQueue, BackendChoice, Config, Format, InlineMax, Operation, Request,
    Warpdrive,
};
use warpdrive_benches::generated_data;

/// User plus system CPU time of the whole process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let wd = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .expect("software device");
    // The burst: synchronous compressions and a queue of NOPs in flight.
    let data = generated_data(4 << 20);
    let mut out = vec![0u8; compress_bound(Format::Zlib, 64 << 10)];
    for piece in data.chunks(64 << 10) {
        wd.compress(Format::Zlib, 1, piece, &mut out)
            .expect("compress");
    }
    let mut q = AsyncQueue::new(&wd).expect("queue");
    for i in 0..10_000u64 {
        q.submit(Request {
            op: Operation::Nop,
            input: Vec::new(),
            output_capacity: 0,
            cookie: i,
        })
        .map_err(|(e, _)| e)
        .expect("submit");
        q.flush().expect("flush");
        q.wait().expect("wait");
    }
    let (t0, c0) = (Instant::now(), cpu_time());
    std::thread::sleep(Duration::from_secs(secs));
    let (wall, cpu) = (t0.elapsed(), cpu_time() - c0);
    let share = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "idle after a burst: {:.1} ms of CPU in {:.1} s = {share:.2}% of a CPU (target <= 1%: {}); load {}",
        cpu.as_secs_f64() * 1e3,
        wall.as_secs_f64(),
        if share <= 1.0 { "met" } else { "MISSED" },
        load.trim()
    );
    drop(q);
}
