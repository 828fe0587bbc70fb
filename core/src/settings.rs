//! Reading `WARPDRIVE_*` settings: one parser for the core, the zlib drop-in
//! and the provider, so a value means the same everywhere.
//!
//! A setting comes from the environment or, when the variable is not set
//! there, from the configuration file (`/etc/warpdrive.conf`, or the file
//! `WARPDRIVE_CONFIG` names): `key = value` lines, `#` comments, the key
//! being the variable's name with or without its `WARPDRIVE_` prefix, in
//! any case (`backend = kernel`, `zlib_min = 64k`). Both are read once per
//! process, at the first setting asked for or when a library that loads into
//! other programs calls [`capture`] from its constructor, so a program that
//! clears its environment later (nginx workers) keeps the settings it
//! started with; a variable set since is read as it is now.
//!
//! A value that does not parse is never silently ignored: the process gets
//! one line on stderr naming the variable, the value (and the file line it
//! came from) and the default it keeps (once per variable and value, however
//! often it is read), and the setting keeps its default. So do file lines
//! that are not `key = value` or name no setting. Every warning is also kept
//! for [`warnings`], so a tool can show them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Warnings issued so far by this process, in order.
static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Names the configuration file.
pub const CONFIG_ENV: &str = "WARPDRIVE_CONFIG";

/// The configuration file when `WARPDRIVE_CONFIG` is not set (absent: no
/// file, no warning).
pub const CONFIG_PATH: &str = "/etc/warpdrive.conf";

/// Every setting the configuration file may hold, by its variable name
/// (docs/configuration.md lists each; `cli/tests/docs.rs` checks).
pub const KNOWN: &[&str] = &[
    "WARPDRIVE_BACKEND",
    "WARPDRIVE_DEVICE",
    "WARPDRIVE_STRICT",
    "WARPDRIVE_INLINE_MAX",
    "WARPDRIVE_INLINE_MAX_COMPRESS",
    "WARPDRIVE_INLINE_MAX_DECOMPRESS",
    "WARPDRIVE_INLINE_MAX_CIPHER",
    "WARPDRIVE_INLINE_MAX_HASH",
    "WARPDRIVE_ENGINES",
    "WARPDRIVE_MAX_QUEUES",
    "WARPDRIVE_DEFLATE_BUFFER_MAX",
    "WARPDRIVE_STATS_FILE",
    "WARPDRIVE_RUNTIME_DIR",
    "WARPDRIVE_ZLIB",
    "WARPDRIVE_ZLIB_MIN",
    "WARPDRIVE_ZLIB_DEFLATE",
    "WARPDRIVE_ZLIB_INFLATE",
    "WARPDRIVE_ZLIB_LEVELS",
    "WARPDRIVE_ZLIB_STATS",
    "WARPDRIVE_ZLIB_STATS_FILE",
    "WARPDRIVE_PROVIDER_STATS",
];

/// The process's settings as read once: `WARPDRIVE_*` variables of the
/// environment and the file's lines.
struct Sources {
    env: Vec<(String, OsString)>,
    /// (variable name, value, line number), in file order.
    file: Vec<(String, String, usize)>,
    path: PathBuf,
}

static SOURCES: OnceLock<Sources> = OnceLock::new();

/// Reads the environment and the configuration file now, if not done yet.
/// The drop-in and the provider call it when they are loaded, before the
/// program can clear its environment.
pub fn capture() {
    let _ = sources();
}

/// The configuration file this process read (or would have read).
pub fn config_path() -> PathBuf {
    sources().path.clone()
}

fn sources() -> &'static Sources {
    SOURCES.get_or_init(|| {
        let env: Vec<(String, OsString)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
            .filter(|(k, _)| k.starts_with("WARPDRIVE_"))
            .collect();
        let named = env
            .iter()
            .find(|(k, _)| k == CONFIG_ENV)
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| !p.as_os_str().is_empty());
        let path = named.clone().unwrap_or_else(|| PathBuf::from(CONFIG_PATH));
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => parse_file(&text, &path.display().to_string()),
            Err(e) if named.is_none() && e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                warn(&format!(
                    "{}: {e}; using the environment and the defaults",
                    path.display()
                ));
                Vec::new()
            }
        };
        Sources { env, file, path }
    })
}

/// The variable a file key names: `backend`, `BACKEND`, `warpdrive_backend`
/// and `WARPDRIVE_BACKEND` all name `WARPDRIVE_BACKEND` (`-` and `.` count as
/// `_`).
pub fn key_name(key: &str) -> String {
    let k: String = key
        .trim()
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if k.starts_with("WARPDRIVE_") || k == "WARPDRIVE" {
        k
    } else {
        format!("WARPDRIVE_{k}")
    }
}

/// `key = value` lines; `#` starts a comment. A line that is not one, or
/// names no setting, warns once (with its number) and is skipped.
fn parse_file(text: &str, what: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            warn(&format!(
                "{what} line {n}: {line:?} is not `key = value`; ignored"
            ));
            continue;
        };
        let name = key_name(k);
        if !KNOWN.contains(&name.as_str()) {
            warn(&format!(
                "{what} line {n}: {:?} is not a setting; ignored",
                k.trim()
            ));
            continue;
        }
        out.push((name, v.trim().to_string(), n));
    }
    out
}

/// The variable's value in the environment, if set and not empty: as it is
/// now, else as it was when the settings were first read (a program that
/// cleared its environment since keeps what it started with).
pub fn from_env(name: &str) -> Option<String> {
    let now = std::env::var_os(name);
    let v = match &now {
        Some(v) => v,
        None => &sources().env.iter().find(|(k, _)| k == name)?.1,
    };
    match v.to_str() {
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v.to_string()),
        None => {
            warn_invalid(name, &v.to_string_lossy(), "valid UTF-8", "the default");
            None
        }
    }
}

/// The setting's value in the configuration file (its last line), if any.
pub fn from_file(name: &str) -> Option<String> {
    sources()
        .file
        .iter()
        .rev()
        .find(|(k, _, _)| k == name)
        .map(|(_, v, _)| v.clone())
        .filter(|v| !v.is_empty())
}

/// Where `name`'s value comes from, for a warning: nothing for the
/// environment, " (PATH line N)" for the file.
fn origin(name: &str) -> String {
    if from_env_raw(name) {
        return String::new();
    }
    let s = sources();
    match s.file.iter().rev().find(|(k, _, _)| k == name) {
        Some((_, _, n)) => format!(" ({} line {n})", s.path.display()),
        None => String::new(),
    }
}

fn from_env_raw(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
        || sources()
            .env
            .iter()
            .any(|(k, v)| k == name && !v.is_empty())
}

/// `64`, `16k`, `1m`, `1g` (binary multiples, either case, an optional `b`/`B`
/// after the suffix as in `64KB`); `None` for anything else or an overflow.
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    let t = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b'));
    let t = match t {
        // "64b" is 64 bytes; "64kb"/"64kib" are 64 KiB.
        Some(t) if t.ends_with(['k', 'm', 'g']) => t,
        Some(t) => return t.parse().ok(),
        None => lower.as_str(),
    };
    let (num, shift) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], 10),
        Some(b'm') => (&t[..t.len() - 1], 20),
        Some(b'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = num.trim().parse().ok()?;
    n.checked_mul(1usize << shift)
}

/// `1/on/yes/true`, `0/off/no/false` (any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Says once per process that `name=value` is not valid and that `default`
/// applies instead. `expected` describes a valid value.
pub fn warn_invalid(name: &str, value: &str, expected: &str, default: &str) {
    let from = if SOURCES.get().is_some() {
        origin(name)
    } else {
        String::new()
    };
    warn(&format!(
        "{name}={value:?}{from} is not {expected}; using {default}"
    ));
}

/// One line on stderr, prefixed `warpdrive: warning: `, once per process for
/// a given text.
pub fn warn(text: &str) {
    let mut w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if w.iter().any(|t| t == text) {
        return;
    }
    w.push(text.to_string());
    drop(w);
    use std::io::Write;
    // One write: lines from several threads never interleave. A closed or
    // broken stderr is not our concern.
    let line = format!("warpdrive: warning: {text}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Every warning this process has issued.
pub fn warnings() -> Vec<String> {
    WARNED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The setting's value: the environment's if set and not empty (an empty
/// value is unset), else the configuration file's.
pub fn raw(name: &str) -> Option<String> {
    from_env(name).or_else(|| from_file(name))
}

/// A size setting (`k`/`m`/`g` suffixes); warns and gives `None` when invalid.
pub fn size(name: &str, default: &str) -> Option<usize> {
    let v = raw(name)?;
    let n = parse_size(&v);
    if n.is_none() {
        warn_invalid(name, &v, "a size (e.g. 4096, 64k, 1m)", default);
    }
    n
}

/// A count setting, accepted in `[min, max]`; warns and gives `None` outside.
pub fn count(name: &str, min: usize, max: usize, default: &str) -> Option<usize> {
    let v = raw(name)?;
    match parse_size(&v) {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            warn_invalid(name, &v, &format!("a number from {min} to {max}"), default);
            None
        }
    }
}

/// An on/off setting; warns and gives `None` when invalid.
pub fn flag(name: &str, default: &str) -> Option<bool> {
    let v = raw(name)?;
    let b = parse_bool(&v);
    if b.is_none() {
        warn_invalid(name, &v, "on or off (1/0, yes/no, true/false)", default);
    }
    b
}

/// One of `choices` (name, value), matched without regard to case; warns
/// and gives `None` for anything else.
pub fn choice<T: Copy>(name: &str, choices: &[(&str, T)], default: &str) -> Option<T> {
    let v = raw(name)?;
    let t = v.trim().to_ascii_lowercase();
    if let Some((_, c)) = choices.iter().find(|(n, _)| *n == t) {
        return Some(*c);
    }
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    warn_invalid(name, &v, &format!("one of {}", names.join(", ")), default);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, n) in [
            ("0", 0),
            ("4096", 4096),
            ("16k", 16 << 10),
            ("16K", 16 << 10),
            ("1m", 1 << 20),
            ("2M", 2 << 20),
            ("1g", 1 << 30),
            (" 64k ", 64 << 10),
            ("64KB", 64 << 10),
            ("64KiB", 64 << 10),
            ("100b", 100),
        ] {
            assert_eq!(parse_size(s), Some(n), "{s}");
        }
        for s in ["", "lots", "1x", "k", "-1", "1.5m", "99999999999999999999g"] {
            assert_eq!(parse_size(s), None, "{s}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("ON"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn a_warning_is_kept_once() {
        warn("test warning, once");
        warn("test warning, once");
        let n = warnings()
            .iter()
            .filter(|w| *w == "test warning, once")
            .count();
        assert_eq!(n, 1);
    }
}
