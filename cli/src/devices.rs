//! Devices as an operator sees them: kernel devices from sysfs (and the
//! device node's WD_IOCTL_INFO when sysfs says nothing), plus the in-process
//! software device.
//!
//! `WARPDRIVE_CLI_SYSFS_CLASS` and `WARPDRIVE_CLI_DEV_DIR` replace `/sys/class/warpdrive` and
//! `/dev/warpdrive`, so tests can show kernel devices without a kernel module.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use warpdrive::uapi::*;

use crate::fail::Fail;
use crate::table::{bytes, Table};
use crate::{fail, out};

/// The software device's name in every listing.
pub const SOFTDEV: &str = "softdev";

/// Algorithm names by WD_ALG_* number (as the kernel module's sysfs spells them).
pub const ALG_NAMES: [&str; WD_ALG_MAX as usize + 1] = [
    "none",
    "deflate-raw",
    "zlib",
    "gzip",
    "aes-gcm",
    "aes-ctr",
    "aes-cbc",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "hmac-sha1",
    "hmac-sha224",
    "hmac-sha256",
    "hmac-sha384",
    "hmac-sha512",
    "chacha20-poly1305",
];

/// Every algorithm of the ABI, in number order.
pub fn all_algorithms() -> Vec<String> {
    ALG_NAMES[1..].iter().map(|s| s.to_string()).collect()
}

fn alg_names_of(mask: u64) -> Vec<String> {
    (1..=WD_ALG_MAX as usize)
        .filter(|&i| mask & (1u64 << i) != 0)
        .map(|i| ALG_NAMES[i].to_string())
        .collect()
}

fn feature_names(f: u32) -> Vec<String> {
    let names = ["sva", "buffers", "validated", "poll", "streams"];
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| f & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Engine-side counters of a device.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DeviceCounters {
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub errors: u64,
    /// Descriptors the engine refused (validation).
    pub rejected: u64,
    pub inflight: u64,
    pub open_contexts: u64,
}

/// One device.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub name: String,
    /// `kernel` or `software`.
    pub kind: &'static str,
    pub driver: String,
    pub version: String,
    pub abi_version: u32,
    pub algorithms: Vec<String>,
    /// Address modes a queue can bind with: `sva`, `buffers`, `validated`.
    pub modes: Vec<String>,
    /// Every feature flag (modes plus `poll`, `streams`).
    pub flags: Vec<String>,
    /// Whether the device isolates addresses (false: validated mode).
    pub isolation: bool,
    pub queues_total: Option<u64>,
    pub queues_free: Option<u64>,
    pub queues_in_use: Option<u64>,
    pub ring_entries_max: u64,
    /// `/dev/warpdrive/NAME` for kernel devices.
    pub node: Option<String>,
    /// Where the counters come from.
    pub scope: &'static str,
    pub counters: DeviceCounters,
    /// Engine threads (software device only).
    pub engines: Option<u64>,
    /// Something that could not be read (permissions, module half-loaded).
    pub problem: Option<String>,
}

pub fn dev_dir() -> PathBuf {
    std::env::var_os("WARPDRIVE_CLI_DEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/warpdrive"))
}

pub fn sysfs_class() -> PathBuf {
    std::env::var_os("WARPDRIVE_CLI_SYSFS_CLASS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/class/warpdrive"))
}

fn names_in(dir: &PathBuf) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Names of every kernel device (sysfs or /dev), sorted.
pub fn kernel_names() -> Vec<String> {
    let mut s: BTreeSet<String> = names_in(&sysfs_class()).into_iter().collect();
    s.extend(names_in(&dev_dir()));
    s.into_iter().collect()
}

fn attr(name: &str, a: &str) -> Option<String> {
    std::fs::read_to_string(sysfs_class().join(name).join(a))
        .ok()
        .map(|s| s.trim().to_string())
}

fn attr_u64(name: &str, a: &str) -> Option<u64> {
    attr(name, a).and_then(|s| s.parse().ok())
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A kernel device, from sysfs, completed by WD_IOCTL_INFO where sysfs is silent.
pub fn kernel_device(name: &str) -> Device {
    let node = dev_dir().join(name);
    let mut problem = None;
    let mut driver = attr(name, "driver");
    let mut algorithms = attr(name, "algorithms").map(|s| words(&s));
    let mut flags = attr(name, "flags").map(|s| words(&s));
    let mut queues_total = attr_u64(name, "queues_total");
    let mut queues_free = attr_u64(name, "queues_free");
    let mut ring_max = attr_u64(name, "ring_entries_max");
    let mut abi = attr_u64(name, "abi_version").map(|v| v as u32);
    if algorithms.is_none() || driver.is_none() {
        // No sysfs (or an old module): ask the device node itself.
        let kd = warpdrive::KernelDevice {
            name: name.to_string(),
            path: node.clone(),
        };
        match kd.info() {
            Ok(i) => {
                driver.get_or_insert_with(|| cstr(&i.driver));
                algorithms.get_or_insert_with(|| alg_names_of(i.algorithms));
                flags.get_or_insert_with(|| feature_names(i.features));
                queues_total.get_or_insert(i.queues_total as u64);
                queues_free.get_or_insert(i.queues_free as u64);
                ring_max.get_or_insert(i.max_ring_entries as u64);
                abi.get_or_insert(i.abi_version);
            }
            Err(e) => problem = Some(format!("{}: {e}", node.display())),
        }
    }
    let flags = flags.unwrap_or_default();
    let isolation = attr_u64(name, "isolation")
        .map(|v| v != 0)
        .unwrap_or(!flags.iter().any(|f| f == "validated"));
    let modes = flags
        .iter()
        .filter(|f| matches!(f.as_str(), "sva" | "buffers" | "validated"))
        .cloned()
        .collect();
    let counters = DeviceCounters {
        requests: attr_u64(name, "requests").unwrap_or(0),
        bytes_in: attr_u64(name, "bytes_in").unwrap_or(0),
        bytes_out: attr_u64(name, "bytes_out").unwrap_or(0),
        errors: attr_u64(name, "errors").unwrap_or(0),
        rejected: attr_u64(name, "rejected").unwrap_or(0),
        inflight: attr_u64(name, "inflight").unwrap_or(0),
        open_contexts: attr_u64(name, "open_contexts").unwrap_or(0),
    };
    let abi = abi.unwrap_or(0);
    let driver = driver.unwrap_or_else(|| "?".into());
    Device {
        name: name.to_string(),
        kind: "kernel",
        version: format!("module ABI {abi}"),
        driver,
        abi_version: abi,
        algorithms: algorithms.unwrap_or_default(),
        modes,
        flags,
        isolation,
        queues_in_use: queues_total
            .zip(queues_free)
            .map(|(t, f)| t.saturating_sub(f)),
        queues_total,
        queues_free,
        ring_entries_max: ring_max.unwrap_or(0),
        node: node.exists().then(|| node.display().to_string()),
        scope: "device-wide (sysfs)",
        counters,
        engines: None,
        problem,
    }
}

/// The software device as a process that uses it gets it.
pub fn soft_device() -> Device {
    let cfg = warpdrive::Config::from_env();
    Device {
        name: SOFTDEV.into(),
        kind: "software",
        driver: "softdev (in-process engine threads)".into(),
        version: format!(
            "warpdrive {} ABI {}",
            env!("CARGO_PKG_VERSION"),
            WD_ABI_VERSION
        ),
        abi_version: WD_ABI_VERSION,
        algorithms: all_algorithms(),
        modes: vec!["sva".into()],
        flags: vec!["sva".into(), "streams".into()],
        isolation: true,
        // The pool's limit, per process; every process has its own device.
        queues_total: Some(cfg.max_queues as u64),
        queues_free: Some(cfg.max_queues as u64),
        queues_in_use: Some(0),
        ring_entries_max: WD_MAX_RING_ENTRIES as u64,
        node: None,
        scope: "per process (this warpdrive)",
        counters: DeviceCounters::default(),
        engines: Some(cfg.engines as u64),
        problem: None,
    }
}

/// Every device: kernel ones first, then the software device.
pub fn all_devices() -> Vec<Device> {
    let mut v: Vec<Device> = kernel_names().iter().map(|n| kernel_device(n)).collect();
    v.push(soft_device());
    v
}

/// One device by name, or an error that lists the known names.
pub fn find(name: &str) -> Result<Device, Fail> {
    if name == SOFTDEV {
        return Ok(soft_device());
    }
    let names = kernel_names();
    if names.iter().any(|n| n == name) {
        return Ok(kernel_device(name));
    }
    let mut known = names;
    known.push(SOFTDEV.into());
    fail!("unknown device '{name}' (known: {})", known.join(", "))
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub fn cmd_list(json: bool) -> Result<(), Fail> {
    let devs = all_devices();
    if json {
        out::json(&devs);
        return Ok(());
    }
    let mut t = Table::new(&[
        "DEVICE",
        "KIND",
        "DRIVER",
        "MODES",
        "QUEUES USED/FREE",
        "ALGORITHMS",
    ]);
    // Fits a 100-column terminal: the algorithms wrap onto indented lines.
    for d in &devs {
        t.row(vec![
            d.name.clone(),
            d.kind.into(),
            // The driver's name; `info` has the rest of the description.
            d.driver.split(" (").next().unwrap_or_default().to_string(),
            d.modes.join(","),
            format!("{}/{}", opt(d.queues_in_use), opt(d.queues_free)),
            d.algorithms.join(" "),
        ]);
    }
    out::line(&t.render_fit(100));
    for d in &devs {
        if let Some(p) = &d.problem {
            eprintln!("warpdrive: warning: {}: {p}", d.name);
        }
    }
    Ok(())
}

pub fn cmd_info(name: &str, json: bool) -> Result<(), Fail> {
    let d = find(name)?;
    if json {
        out::json(&d);
        return Ok(());
    }
    let c = &d.counters;
    let mut lines = vec![
        ("device", d.name.clone()),
        ("kind", d.kind.into()),
        ("driver", d.driver.clone()),
        ("version", d.version.clone()),
        ("node", d.node.clone().unwrap_or_else(|| "-".into())),
        ("address modes", d.modes.join(", ")),
        ("flags", d.flags.join(", ")),
        (
            "isolation",
            if d.isolation {
                "yes (the device reaches only what the process could)".into()
            } else {
                "no: validated mode (the kernel checks every descriptor)".into()
            },
        ),
        ("queues total", opt(d.queues_total)),
        ("queues in use", opt(d.queues_in_use)),
        ("queues free", opt(d.queues_free)),
        ("ring entries max", d.ring_entries_max.to_string()),
        ("algorithms", d.algorithms.join(" ")),
        ("counters", d.scope.into()),
        ("  requests", c.requests.to_string()),
        ("  bytes in", bytes(c.bytes_in)),
        ("  bytes out", bytes(c.bytes_out)),
        ("  errors", c.errors.to_string()),
        ("  rejected", c.rejected.to_string()),
        ("  in flight", c.inflight.to_string()),
        ("  open contexts", c.open_contexts.to_string()),
    ];
    if let Some(e) = d.engines {
        lines.insert(4, ("engine threads", e.to_string()));
    }
    if let Some(p) = &d.problem {
        lines.push(("problem", p.clone()));
    }
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        out::line(&format!("{k:<w$}  {v}"));
    }
    Ok(())
}
