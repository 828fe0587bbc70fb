//! Reading `WARPDRIVE_*` settings: one parser for the core, the zlib drop-in
//! and the provider, so a value means the same everywhere.
//!
//! A value that does not parse is never silently ignored: the process gets
//! one line on stderr naming the variable, the value and the default it
//! keeps (once per variable and value, however often it is read), and the
//! setting keeps its default. Every warning is also kept for
//! [`warnings`], so a tool can show them.

use std::sync::Mutex;

/// Warnings issued so far by this process, in order.
static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());

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
    warn(&format!(
        "{name}={value:?} is not {expected}; using {default}"
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

/// The variable's value, if set and not empty (an empty value is unset).
pub fn raw(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        Ok(_) => None,
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(v)) => {
            warn_invalid(name, &v.to_string_lossy(), "valid UTF-8", "the default");
            None
        }
    }
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
