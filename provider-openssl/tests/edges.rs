//! Differential EVP edges against the default provider (tests/c/evp_edges.c): GCM IVs
//! of 65..128 bytes, short tags, encryption without an IV, SET_IVLEN after the IV,
//! IV_GEN with 0, TLS records through EVP_Cipher, CTR `num`, CBC with the TLS record
//! parameters, CBC/CTR keyed without an IV. What the engines cannot do runs in the
//! default implementation; either way the transcripts of return values and output bytes
//! must be identical.

mod common;
use common::*;
use std::process::Command;

#[test]
fn evp_edges_equal_the_default_providers() {
    let Some(prog) = c_program("evp_edges") else {
        return;
    };
    for inline_max in ["0", "256k"] {
        let out = Command::new(&prog)
            .arg(module_dir())
            .env("WARPDRIVE_INLINE_MAX", inline_max)
            .env_remove("OPENSSL_CONF")
            .output()
            .expect("run evp_edges");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("OK (0 failures)"),
            "inline_max {inline_max}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
