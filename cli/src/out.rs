//! Writing to stdout without dying on a closed pipe (`warpdrive list | head`).

use std::io::Write;

/// Prints `s` (a newline is added); a closed stdout ends the process quietly.
pub fn line(s: &str) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(s.as_bytes()).and_then(|_| o.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: serde::Serialize>(v: &T) {
    line(&serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into()));
}

/// Flushes stdout, ignoring a closed pipe.
pub fn flush() {
    let _ = std::io::stdout().flush();
}
