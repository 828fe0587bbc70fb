//! The Rust mirror of the uapi header against what a C compiler computes
//! from the header itself: every size, offset and ioctl number.

use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn rust_mirror_matches_the_c_header() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let exe = std::env::temp_dir().join(format!("wd-abi-layout-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(format!("{root}/include"))
        .arg(format!("{root}/tests/abi/layout.c"))
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("a C compiler (cc) is needed for the ABI check");
    assert!(
        status.success(),
        "layout.c did not compile against the header"
    );
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_file(&exe);
    let c: BTreeMap<String, usize> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let rust: BTreeMap<String, usize> = warpdrive::uapi::LAYOUT
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    for (k, v) in &rust {
        assert_eq!(
            c.get(k),
            Some(v),
            "{k}: C says {:?}, Rust says {v}",
            c.get(k)
        );
    }
    assert_eq!(
        c.len(),
        rust.len(),
        "the C and Rust tables list different facts"
    );
}
