//! The shim's counters: what went to the core and what stayed in software.
//!
//! Printed to stderr at exit with `WARPDRIVE_ZLIB_STATS=1` (from `.fini_array`,
//! which also runs on dlclose), and appended to `WARPDRIVE_ZLIB_STATS_FILE`
//! after each offloaded stream ends and each offloaded one-shot call, since
//! some programs (rsync) leave with `_exit` and run no exit hooks.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Default)]
pub struct Counters {
    /// compress/compress2 calls served by the core.
    pub compress_offloaded: AtomicU64,
    /// uncompress/uncompress2 calls served by the core.
    pub uncompress_offloaded: AtomicU64,
    /// deflate streams whose data went to the core.
    pub deflate_streams_offloaded: AtomicU64,
    /// inflate streams whose data went to the core.
    pub inflate_streams_offloaded: AtomicU64,
    /// deflate()/inflate() calls served by the core.
    pub stream_calls_offloaded: AtomicU64,
    /// Streams and one-shot calls that ran in software (zlib-rs).
    pub software: AtomicU64,
    /// Core failures recovered in software.
    pub fallbacks: AtomicU64,
    /// Offloaded streams turned into software streams mid-way (copy, sync...).
    pub demoted: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    compress_offloaded: AtomicU64::new(0),
    uncompress_offloaded: AtomicU64::new(0),
    deflate_streams_offloaded: AtomicU64::new(0),
    inflate_streams_offloaded: AtomicU64::new(0),
    stream_calls_offloaded: AtomicU64::new(0),
    software: AtomicU64::new(0),
    fallbacks: AtomicU64::new(0),
    demoted: AtomicU64::new(0),
    bytes_in: AtomicU64::new(0),
    bytes_out: AtomicU64::new(0),
};

static PRINT_AT_EXIT: AtomicBool = AtomicBool::new(false);

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn add_bytes(input: usize, output: usize) {
    COUNTERS.bytes_in.fetch_add(input as u64, Ordering::Relaxed);
    COUNTERS
        .bytes_out
        .fetch_add(output as u64, Ordering::Relaxed);
}

/// One line with every counter, the core's included.
pub fn line() -> String {
    let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = &COUNTERS;
    let offloaded = r(&c.compress_offloaded)
        + r(&c.uncompress_offloaded)
        + r(&c.deflate_streams_offloaded)
        + r(&c.inflate_streams_offloaded);
    let core = warpdrive::stats();
    format!(
        "warpdrive-zlib: pid={} offloaded={} compress={} uncompress={} deflate_streams={} inflate_streams={} stream_calls={} software={} fallbacks={} demoted={} bytes_in={} bytes_out={} core_offloaded={} core_inline={} core_fallbacks={} core_errors={}\n",
        std::process::id(),
        offloaded,
        r(&c.compress_offloaded),
        r(&c.uncompress_offloaded),
        r(&c.deflate_streams_offloaded),
        r(&c.inflate_streams_offloaded),
        r(&c.stream_calls_offloaded),
        r(&c.software),
        r(&c.fallbacks),
        r(&c.demoted),
        r(&c.bytes_in),
        r(&c.bytes_out),
        core.offloaded,
        core.inline,
        core.fallbacks,
        core.errors,
    )
}

/// Appends the counters to the stats file, if one is configured.
pub fn flush_to_file() {
    if let Some(path) = crate::config::get().stats_file.as_deref() {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line().as_bytes());
        }
    }
}

/// After an offloaded stream or one-shot call: the shim's counters to its
/// stats file and the core's to `$WARPDRIVE_STATS_FILE` (read by `warpdrive run`).
/// Both are cheap no-ops unless configured.
pub fn report() {
    flush_to_file();
    let _ = warpdrive::report_stats();
}

/// Called once with the configuration.
pub fn arm(c: &crate::config::Config) {
    PRINT_AT_EXIT.store(c.stats, Ordering::Relaxed);
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if PRINT_AT_EXIT.load(Ordering::Relaxed) {
            let _ = std::io::stderr().write_all(line().as_bytes());
        }
    });
}

#[used]
#[unsafe(link_section = ".fini_array")]
static AT_EXIT: extern "C" fn() = at_exit;
