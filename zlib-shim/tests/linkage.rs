//! What the drop-in makes every zlib user load: its DT_NEEDED entries. A
//! libz.so.1 is loaded by nearly every program on the system, so it must not
//! drag OpenSSL's libssl/libcrypto in with it (the core is built for it
//! without the crypto engines: `warpdrive` with `default-features = false`).

use std::process::Command;

/// The cdylib cargo built beside this test binary.
fn shim() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().parent().unwrap().join("libz.so");
    assert!(
        lib.exists(),
        "{} missing: build the crate first",
        lib.display()
    );
    lib
}

fn needed(lib: &std::path::Path) -> Vec<String> {
    let out = Command::new("readelf")
        .arg("-dW")
        .arg(lib)
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf -d {} failed", lib.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
        .collect()
}

#[test]
fn the_drop_in_needs_no_tls_or_crypto_library() {
    let lib = shim();
    let n = needed(&lib);
    assert!(n.iter().any(|l| l.starts_with("libc.so")), "{n:?}");
    let bad: Vec<&String> = n
        .iter()
        .filter(|l| l.starts_with("libssl") || l.starts_with("libcrypto"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} needs {bad:?} (all: {n:?}); built together with a crate that enables \
         warpdrive/crypto? build it alone: cargo build --release -p warpdrive-zlib",
        lib.display()
    );
}
