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
    /// Streams and one-shot calls that ran in software (zlib-rs), all reasons.
    pub software: AtomicU64,
    /// Of `software`: below `WARPDRIVE_ZLIB_MIN` (size policy).
    pub software_small: AtomicU64,
    /// Of `software`: a level, strategy, window, dictionary or flush mode the
    /// core does not take.
    pub software_params: AtomicU64,
    /// Of `software`: offload switched off (`WARPDRIVE_ZLIB*=off`).
    pub software_off: AtomicU64,
    /// Of `software`: gzopen files (zlib-rs's gz layer, never offloaded).
    pub software_gzfile: AtomicU64,
    /// Strict mode: streams and calls refused because they would have run
    /// in software.
    pub refused: AtomicU64,
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
    software_small: AtomicU64::new(0),
    software_params: AtomicU64::new(0),
    software_off: AtomicU64::new(0),
    software_gzfile: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    fallbacks: AtomicU64::new(0),
    demoted: AtomicU64::new(0),
    bytes_in: AtomicU64::new(0),
    bytes_out: AtomicU64::new(0),
};

static PRINT_AT_EXIT: AtomicBool = AtomicBool::new(false);

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why a stream or call runs in software (zlib-rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Small,
    Params,
    Off,
    GzFile,
    /// The core failed; zlib-rs takes over (counted in `fallbacks`).
    Fallback,
    /// An offloaded stream moved to zlib-rs mid-way (`demoted`).
    Demoted,
}

/// A stream or one-shot call is about to run in software for `why`: counted
/// by reason, and `false` in strict mode (`WARPDRIVE_STRICT=1`), where the
/// caller must fail instead (counted in `refused`).
pub fn software(why: Why) -> bool {
    if warpdrive::strict() {
        bump(&COUNTERS.refused);
        publish();
        return false;
    }
    let c = &COUNTERS;
    match why {
        Why::Fallback => bump(&c.fallbacks),
        Why::Demoted => bump(&c.demoted),
        w => {
            bump(&c.software);
            bump(match w {
                Why::Small => &c.software_small,
                Why::Params => &c.software_params,
                Why::Off => &c.software_off,
                _ => &c.software_gzfile,
            });
        }
    }
    publish();
    true
}

/// Brings this process's live record up to date (core/src/live.rs), at most
/// every `TICK_MS`: software streams may come by the thousand.
fn publish() {
    warpdrive::live::tick();
}

/// The drop-in's object in the live record (`"zlib":{...}`): what went to
/// the core, what ran in zlib-rs and why, what strict mode refused.
fn live_members() -> String {
    let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = &COUNTERS;
    format!(
        "\"offloaded\":{},\"compress\":{},\"uncompress\":{},\"deflate_streams\":{},\"inflate_streams\":{},\"stream_calls\":{},\"software\":{},\"why\":{{\"small\":{},\"params\":{},\"off\":{},\"gzfile\":{},\"fallback\":{},\"demoted\":{}}},\"refused\":{},\"bytes_in\":{},\"bytes_out\":{}",
        r(&c.compress_offloaded)
            + r(&c.uncompress_offloaded)
            + r(&c.deflate_streams_offloaded)
            + r(&c.inflate_streams_offloaded),
        r(&c.compress_offloaded),
        r(&c.uncompress_offloaded),
        r(&c.deflate_streams_offloaded),
        r(&c.inflate_streams_offloaded),
        r(&c.stream_calls_offloaded),
        r(&c.software) + r(&c.fallbacks) + r(&c.demoted),
        r(&c.software_small),
        r(&c.software_params),
        r(&c.software_off),
        r(&c.software_gzfile),
        r(&c.fallbacks),
        r(&c.demoted),
        r(&c.refused),
        r(&c.bytes_in),
        r(&c.bytes_out),
    )
}

/// The message a refused stream carries in `msg`.
pub const REFUSED_MSG: &std::ffi::CStr =
    c"warpdrive: device only (WARPDRIVE_STRICT=1): not run in software";

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
        "warpdrive-zlib: pid={} offloaded={} compress={} uncompress={} deflate_streams={} inflate_streams={} stream_calls={} software={} software_small={} software_params={} software_off={} software_gzfile={} refused={} fallbacks={} demoted={} bytes_in={} bytes_out={} core_offloaded={} core_inline={} core_fallbacks={} core_errors={} core_refused={}\n",
        std::process::id(),
        offloaded,
        r(&c.compress_offloaded),
        r(&c.uncompress_offloaded),
        r(&c.deflate_streams_offloaded),
        r(&c.inflate_streams_offloaded),
        r(&c.stream_calls_offloaded),
        r(&c.software),
        r(&c.software_small),
        r(&c.software_params),
        r(&c.software_off),
        r(&c.software_gzfile),
        r(&c.refused),
        r(&c.fallbacks),
        r(&c.demoted),
        r(&c.bytes_in),
        r(&c.bytes_out),
        core.offloaded,
        core.inline,
        core.fallbacks,
        core.errors,
        core.refused,
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
        warpdrive::live::remove(std::process::id());
    });
}

#[used]
#[unsafe(link_section = ".fini_array")]
static AT_EXIT: extern "C" fn() = at_exit;

/// At load: the settings (environment and /etc/warpdrive.conf) are read
/// before the program can clear its environment (nginx workers do).
extern "C" fn at_load() {
    let _ = std::panic::catch_unwind(|| {
        warpdrive::settings::capture();
        warpdrive::live::register("zlib", live_members);
    });
}

#[used]
#[unsafe(link_section = ".init_array")]
static AT_LOAD: extern "C" fn() = at_load;
