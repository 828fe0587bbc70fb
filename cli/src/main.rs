//! `warpdrive`: see, test, benchmark and use WarpDrive devices.
//!
//! Every subcommand prints a human table by default and JSON with `--json`.
//! Bad input (unknown device, no device, missing program, unusable corpus or
//! plot path) ends with one line on stderr and a non-zero exit status.

mod bench;
mod devices;
mod fail;
mod generate;
mod opensslconf;
mod out;
mod run;
mod selftest;
mod sig;
mod stats;
mod sysz;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use fail::Fail;

/// WarpDrive's operator tool: devices, counters, self-test, benchmark, and
/// running unmodified programs with compression and crypto offloaded.
#[derive(Parser, Debug)]
#[command(name = "warpdrive", version, about, long_about = None)]
pub struct Cli {
    /// Machine-readable output (JSON on stdout; for `run`, one JSON line on stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every device: kernel devices (sysfs) and the in-process software device.
    List,
    /// Everything known about one device.
    Info {
        /// A name from `warpdrive list` (`softdev` is the software device).
        device: String,
    },
    /// Per-device counters, and per-process counters from a stats file.
    Stats {
        /// Refresh like top until interrupted (or --count times).
        #[arg(long)]
        watch: bool,
        /// Seconds between refreshes with --watch.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (with --watch).
        #[arg(long)]
        count: Option<u64>,
        /// Only this device.
        #[arg(long)]
        device: Option<String>,
        /// A WARPDRIVE_STATS_FILE to read per-process counters from
        /// (default: $WARPDRIVE_STATS_FILE when set).
        #[arg(long)]
        stats_file: Option<PathBuf>,
    },
    /// Run a program with the zlib drop-in preloaded and the OpenSSL
    /// provider configured; print what was offloaded when it exits.
    Run {
        /// Do not preload the zlib drop-in.
        #[arg(long)]
        no_zlib: bool,
        /// Do not configure the OpenSSL provider.
        #[arg(long)]
        no_openssl: bool,
        /// Also write the JSON report to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// The program and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Throughput and latency per algorithm and backend, next to the system
    /// zlib and OpenSSL's default provider.
    Bench(bench::BenchArgs),
    /// Known-answer tests of every algorithm on every device.
    Selftest {
        /// Only this device: `softdev`, `inline`, `kernel` (every kernel
        /// device) or a kernel device's name.
        #[arg(long)]
        device: Option<String>,
    },
    /// Write the manual pages and shell completions (bash, zsh, fish) into
    /// DIR/man and DIR/completions (used by `make install`).
    #[command(hide = true)]
    Generate {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    // A panic is a bug, but the operator still gets one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("warpdrive: internal error: {msg}");
    }));
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warpdrive: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, Fail> {
    let json = cli.json;
    match cli.cmd {
        Cmd::List => devices::cmd_list(json).map(|_| ExitCode::SUCCESS),
        Cmd::Info { device } => devices::cmd_info(&device, json).map(|_| ExitCode::SUCCESS),
        Cmd::Stats {
            watch,
            interval,
            count,
            device,
            stats_file,
        } => stats::cmd_stats(stats::StatsArgs {
            watch,
            interval,
            count,
            device,
            stats_file,
            json,
        })
        .map(|_| ExitCode::SUCCESS),
        Cmd::Run {
            no_zlib,
            no_openssl,
            report,
            command,
        } => run::cmd_run(run::RunArgs {
            zlib: !no_zlib,
            openssl: !no_openssl,
            json,
            report,
            command,
        }),
        Cmd::Bench(args) => bench::cmd_bench(args, json).map(|_| ExitCode::SUCCESS),
        Cmd::Selftest { device } => selftest::cmd_selftest(device.as_deref(), json),
        Cmd::Generate { dir } => {
            generate::write_all(Cli::command(), &dir).map(|_| ExitCode::SUCCESS)
        }
    }
}
