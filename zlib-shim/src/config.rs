//! Configuration: environment variables, optionally a `key=value` file.
//!
//! | env | file key | meaning | default |
//! |---|---|---|---|
//! | `WARPDRIVE_ZLIB=off` | `offload=off` | pure software (embedded zlib-rs) | on |
//! | `WARPDRIVE_ZLIB_MIN=<size>` | `min=` | smallest first input that goes to the core (k/m suffixes) | 16k |
//! | `WARPDRIVE_ZLIB_DEFLATE=off` | `deflate=off` | keep compression in software | on |
//! | `WARPDRIVE_ZLIB_INFLATE=off` | `inflate=off` | keep decompression in software | on |
//! | `WARPDRIVE_ZLIB_LEVELS=1-9` | `levels=` | zlib levels whose compression is offloaded | 1-9 |
//! | `WARPDRIVE_ZLIB_STATS=1` | `stats=1` | counters to stderr at exit | off |
//! | `WARPDRIVE_ZLIB_STATS_FILE=path` | `stats_file=` | counters appended after each offloaded stream/call | none |
//! | `WARPDRIVE_ZLIB_CONF=path` | | the file itself | none |
//!
//! The keys may also be in /etc/warpdrive.conf (`WARPDRIVE_CONFIG`), which
//! every layer reads; `WARPDRIVE_ZLIB_CONF` overrides that file and the
//! environment overrides both. The core's own variables
//! (`WARPDRIVE_BACKEND`, `WARPDRIVE_INLINE_MAX`) pass through to it. Values
//! are parsed by `warpdrive::settings`, as the core's are: an invalid one
//! warns once on stderr and keeps the default. The full reference is
//! docs/configuration.md.

use std::sync::OnceLock;

use warpdrive::settings::{self, parse_bool, parse_size};

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
    /// Applies one setting; a value that does not parse warns once (naming
    /// `key` as the user wrote it) and leaves the setting as it was.
    fn set(&mut self, key: &str, value: &str) {
        let value = value.trim();
        let key = key.trim();
        let on_off = "on or off (1/0, yes/no, true/false)";
        let bad = |expected: &str, default: String| {
            settings::warn_invalid(key, value, expected, &default)
        };
        let flag = |slot: &mut bool| match parse_bool(value) {
            Some(b) => *slot = b,
            None => bad(on_off, if *slot { "on".into() } else { "off".into() }),
        };
        match key {
            "offload" | "WARPDRIVE_ZLIB" => flag(&mut self.enabled),
            "min" | "WARPDRIVE_ZLIB_MIN" => match parse_size(value) {
                Some(n) => self.min = n,
                None => bad("a size (e.g. 4096, 16k, 1m)", self.min.to_string()),
            },
            "deflate" | "WARPDRIVE_ZLIB_DEFLATE" => flag(&mut self.deflate),
            "inflate" | "WARPDRIVE_ZLIB_INFLATE" => flag(&mut self.inflate),
            "levels" | "WARPDRIVE_ZLIB_LEVELS" => match parse_levels(value) {
                Some(l) => self.levels = l,
                None => bad("levels from 0 to 9 (e.g. 1-9, 1,6,9)", "1-9".into()),
            },
            "stats" | "WARPDRIVE_ZLIB_STATS" => flag(&mut self.stats),
            "stats_file" | "WARPDRIVE_ZLIB_STATS_FILE" => {
                self.stats_file = (!value.is_empty()).then(|| value.to_string());
            }
            _ => settings::warn(&format!(
                "{key}: not a setting of the zlib drop-in; ignored"
            )),
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

    /// The drop-in's settings: /etc/warpdrive.conf (or `WARPDRIVE_CONFIG`),
    /// then the file `WARPDRIVE_ZLIB_CONF` names, then the environment, each
    /// overriding the one before.
    pub fn from_env() -> Config {
        const KEYS: [&str; 7] = [
            "WARPDRIVE_ZLIB",
            "WARPDRIVE_ZLIB_MIN",
            "WARPDRIVE_ZLIB_DEFLATE",
            "WARPDRIVE_ZLIB_INFLATE",
            "WARPDRIVE_ZLIB_LEVELS",
            "WARPDRIVE_ZLIB_STATS",
            "WARPDRIVE_ZLIB_STATS_FILE",
        ];
        let mut c = Config::default();
        for key in KEYS {
            if let Some(v) = settings::from_file(key) {
                c.set(key, &v);
            }
        }
        if let Some(path) = settings::from_env("WARPDRIVE_ZLIB_CONF") {
            match std::fs::read_to_string(&path) {
                Ok(text) => c.apply_file_text(&text),
                Err(e) => settings::warn(&format!(
                    "WARPDRIVE_ZLIB_CONF={path}: {e}; using the defaults"
                )),
            }
        }
        for key in KEYS {
            if let Some(v) = settings::from_env(key) {
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
        let mut c = Config::from_env();
        if warpdrive::strict() {
            // Device only: no stream stays in software for being small.
            c.min = 0;
            if !(c.enabled && c.deflate && c.inflate) {
                settings::warn(
                    "zlib offload is off with WARPDRIVE_STRICT=1: those streams and calls fail",
                );
            }
        }
        crate::stats::arm(&c);
        c
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_cores_suffixes() {
        let mut c = Config::default();
        c.set("WARPDRIVE_ZLIB_MIN", "1m");
        assert_eq!(c.min, 1 << 20);
        c.apply_file_text("min = 64k # comment\n");
        assert_eq!(c.min, 64 << 10);
    }

    #[test]
    fn an_invalid_value_keeps_the_default_and_warns() {
        let mut c = Config::default();
        c.set("WARPDRIVE_ZLIB_MIN", "lots");
        c.set("WARPDRIVE_ZLIB", "maybe");
        c.set("WARPDRIVE_ZLIB_LEVELS", "1-12");
        assert_eq!(c.min, Config::default().min);
        assert!(c.enabled);
        assert_eq!(c.levels, Config::default().levels);
        let w = settings::warnings();
        for needle in [
            "WARPDRIVE_ZLIB_MIN=\"lots\"",
            "WARPDRIVE_ZLIB=\"maybe\"",
            "WARPDRIVE_ZLIB_LEVELS=\"1-12\"",
        ] {
            assert!(
                w.iter().any(|l| l.contains(needle)),
                "{needle} not in {w:?}"
            );
        }
    }
}
