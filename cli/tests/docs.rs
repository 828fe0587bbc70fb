//! docs/configuration.md against the code: every `WARPDRIVE_*` name that a
//! source file holds in a string literal (what the code reads or sets) must
//! be in the reference, and every name the reference lists must still exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | "vendor" | ".git" | "fuzz") {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".c") || name.ends_with(".h") {
            out.push(p);
        }
    }
}

/// `WARPDRIVE_[A-Z0-9_]+` words that start right after a double quote.
fn quoted_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("\"WARPDRIVE_") {
        let rest = &text[i + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        // A prefix the code completes (format!("WARPDRIVE_{x}")) is not a name.
        if !name.ends_with('_') {
            names.insert(name.to_string());
        }
    }
    names
}

/// Names the reference lists in a table's first column.
fn documented(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("| `WARPDRIVE_")) {
        // Every `WARPDRIVE_*` name of the first cell (a row may list two).
        let cell = line.trim_start_matches('|').split('|').next().unwrap_or("");
        for (i, part) in cell.split('`').enumerate() {
            if i % 2 == 1 && part.starts_with("WARPDRIVE_") {
                names.insert(part.to_string());
            }
        }
    }
    names
}

#[test]
fn every_variable_the_code_reads_is_in_the_configuration_reference() {
    let root = root();
    let mut files = Vec::new();
    for d in [
        "core",
        "engines",
        "capi",
        "zlib-shim",
        "provider-openssl",
        "cli",
        "tests",
        "kmod",
        "benches",
    ] {
        sources(&root.join(d), &mut files);
    }
    let mut in_code = BTreeSet::new();
    for f in &files {
        if f.ends_with("cli/tests/docs.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_default();
        in_code.extend(quoted_names(&text));
    }
    assert!(
        in_code.contains("WARPDRIVE_BACKEND") && in_code.contains("WARPDRIVE_ZLIB_MIN"),
        "the scan found too little: {in_code:?}"
    );
    let reference =
        std::fs::read_to_string(root.join("docs/configuration.md")).expect("docs/configuration.md");
    let in_doc = documented(&reference);
    let missing: Vec<_> = in_code.difference(&in_doc).collect();
    assert!(
        missing.is_empty(),
        "read by the code, missing from docs/configuration.md: {missing:?}"
    );
    let stale: Vec<_> = in_doc.difference(&in_code).collect();
    assert!(
        stale.is_empty(),
        "in docs/configuration.md, read by no code: {stale:?}"
    );
}

#[test]
fn the_operators_guide_points_at_the_reference() {
    let g = std::fs::read_to_string(root().join("docs/operators-guide.md")).unwrap();
    assert!(
        g.contains("configuration.md"),
        "no pointer to docs/configuration.md"
    );
    assert!(
        !g.contains("zlib-shim/src/config.rs"),
        "the guide sends operators to source code for settings"
    );
}

/// The rows of the reference's tables, by their first cell.
fn rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.starts_with("| `WARPDRIVE_"))
        .filter_map(|l| {
            let name = l.trim_start_matches("| `").split('`').next()?.to_string();
            Some((name, l.to_string()))
        })
        .collect()
}

#[test]
fn every_setting_the_configuration_file_takes_is_in_the_reference() {
    let reference = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let in_doc = documented(&reference);
    for name in warpdrive::settings::KNOWN {
        assert!(
            in_doc.contains(*name),
            "{name}: a file key missing from docs/configuration.md"
        );
    }
    // The strict mode the reference describes is the one the code reads.
    assert!(warpdrive::settings::KNOWN.contains(&"WARPDRIVE_STRICT"));
    let strict = rows(&reference)
        .into_iter()
        .find(|(n, _)| n == "WARPDRIVE_STRICT")
        .expect("WARPDRIVE_STRICT row");
    assert!(strict.1.contains("never software"), "{}", strict.1);
    assert!(reference.contains("### Strict mode: device only, never software"));
    assert!(
        reference.contains(&format!("`{}`", warpdrive::settings::CONFIG_PATH))
            && reference.contains(&format!("`{}`", warpdrive::settings::CONFIG_ENV)),
        "the file's path and variable are documented"
    );
    // The error code the reference names is the C API's.
    let header = std::fs::read_to_string(root().join("include/warpdrive.h")).unwrap();
    assert!(header.contains("#define WD_ERR_DEVICE_ONLY 14"));
    assert!(reference.contains("`WD_ERR_DEVICE_ONLY`, 14"));
}
