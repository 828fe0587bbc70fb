//! Configuration: environment variables, optionally a `key=value` file.
//!
//! | env | file key | meaning | default |
//! |---|---|---|---|
//! | `WARPDRIVE_ZLIB=off` | `offload=off` | pure software (embedded zlib-rs) | on |
//! | `WARPDRIVE_ZLIB_MIN=<bytes>` | `min=` | smallest first input that goes to the core | 16384 |
//! | `WARPDRIVE_ZLIB_DEFLATE=off` | `deflate=off` | keep compression in software | on |
//! | `WARPDRIVE_ZLIB_INFLATE=off` | `inflate=off` | keep decompression in software | on |
//! | `WARPDRIVE_ZLIB_LEVELS=1-9` | `levels=` | zlib levels whose compression is offloaded | 1-9 |
//! | `WARPDRIVE_ZLIB_STATS=1` | `stats=1` | counters to stderr at exit | off |
//! | `WARPDRIVE_ZLIB_STATS_FILE=path` | `stats_file=` | counters appended after each offloaded stream/call | none |
//! | `WARPDRIVE_ZLIB_CONF=path` | | the file itself | none |
//!
//! Environment variables override the file. The core's own variables
//! (`WARPDRIVE_BACKEND`, `WARPDRIVE_INLINE_MAX`) pass through to it.

use std::sync::OnceLock;

#[derive(Debug, Clone)]
pub struct Config {
    pub enabled: bool,
    pub min: usize,
    pub deflate: bool,
    pub inflate: bool,
    /// Bit `n` set: zlib level `n` may be offloaded.
    pub levels: u16,
    pub stats: bool,
    pub stats_file: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            min: 16 * 1024,
            deflate: true,
            inflate: true,
            levels: 0b11_1111_1110,
            stats: false,
            stats_file: None,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// `1-9`, `1,6,9`, `1-3,6`.
fn parse_levels(v: &str) -> Option<u16> {
    let mut bits = 0u16;
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let n = part.parse::<u16>().ok()?;
                (n, n)
            }
        };
        if a > b || b > 9 {
            return None;
        }
        for l in a..=b {
            bits |= 1 << l;
        }
    }
    Some(bits)
}

impl Config {
    fn set(&mut self, key: &str, value: &str) {
        let value = value.trim();
        match key.trim() {
            "offload" | "WARPDRIVE_ZLIB" => {
                if let Some(b) = parse_bool(value) {
                    self.enabled = b;
                }
            }
            "min" | "WARPDRIVE_ZLIB_MIN" => {
                if let Ok(n) = value.parse() {
                    self.min = n;
                }
            }
            "deflate" | "WARPDRIVE_ZLIB_DEFLATE" => {
                if let Some(b) = parse_bool(value) {
                    self.deflate = b;
                }
            }
            "inflate" | "WARPDRIVE_ZLIB_INFLATE" => {
                if let Some(b) = parse_bool(value) {
                    self.inflate = b;
                }
            }
            "levels" | "WARPDRIVE_ZLIB_LEVELS" => {
                if let Some(l) = parse_levels(value) {
                    self.levels = l;
                }
            }
            "stats" | "WARPDRIVE_ZLIB_STATS" => {
                if let Some(b) = parse_bool(value) {
                    self.stats = b;
                }
            }
            "stats_file" | "WARPDRIVE_ZLIB_STATS_FILE" => {
                self.stats_file = (!value.is_empty()).then(|| value.to_string());
            }
            _ => {}
        }
    }

    /// Parses `key=value` lines; `#` starts a comment.
    pub fn apply_file_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            if let Some((k, v)) = line.split_once('=') {
                self.set(k, v);
            }
        }
    }

    pub fn from_env() -> Config {
        let mut c = Config::default();
        if let Some(path) = std::env::var_os("WARPDRIVE_ZLIB_CONF") {
            if let Ok(text) = std::fs::read_to_string(path) {
                c.apply_file_text(&text);
            }
        }
        for key in [
            "WARPDRIVE_ZLIB",
            "WARPDRIVE_ZLIB_MIN",
            "WARPDRIVE_ZLIB_DEFLATE",
            "WARPDRIVE_ZLIB_INFLATE",
            "WARPDRIVE_ZLIB_LEVELS",
            "WARPDRIVE_ZLIB_STATS",
            "WARPDRIVE_ZLIB_STATS_FILE",
        ] {
            if let Ok(v) = std::env::var(key) {
                c.set(key, &v);
            }
        }
        c
    }

    pub fn level_ok(&self, level: i32) -> bool {
        (0..=9).contains(&level) && self.levels & (1 << level) != 0
    }
}

/// The process's configuration, read on first use.
pub fn get() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let c = Config::from_env();
        crate::stats::arm(&c);
        c
    })
}
