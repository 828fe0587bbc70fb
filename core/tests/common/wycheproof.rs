//! Wycheproof's ChaCha20-Poly1305 vectors (`chacha20_poly1305_test.json`), read at run
//! time from `WARPDRIVE_VECTORS` or the project's `../shared/vectors/wycheproof`, run
//! through one `Warpdrive` instance's one-shot AEAD calls.

use warpdrive::{Aead, Error, Warpdrive};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The parsed file, or None (skipped, unless WARPDRIVE_REQUIRE_VECTORS is set).
pub fn chacha_vectors() -> Option<serde_json::Value> {
    let dir = std::env::var("WARPDRIVE_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/wycheproof"
        )
        .to_string()
    });
    let path = format!("{dir}/chacha20_poly1305_test.json");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(serde_json::from_str(&s).expect("parse json")),
        Err(e) if std::env::var_os("WARPDRIVE_REQUIRE_VECTORS").is_none() => {
            eprintln!("skipping: {path}: {e}");
            None
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Every case through `wd`: valid ones seal and open to the expected bytes,
/// invalid ones are refused (the output zeroed on a tag mismatch; a nonce of
/// another length refused for sealing too). Returns (valid, invalid) counts.
pub fn run_chacha(wd: &Warpdrive, file: &serde_json::Value, label: &str) -> (usize, usize) {
    let (mut valid, mut invalid) = (0, 0);
    let alg = Aead::ChaCha20Poly1305;
    for g in file["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let f = |k: &str| hex(t[k].as_str().unwrap());
            let (key, iv, aad, msg, ct, tag) =
                (f("key"), f("iv"), f("aad"), f("msg"), f("ct"), f("tag"));
            let id = &t["tcId"];
            let mut out = vec![0xa5u8; ct.len()];
            let opened = wd.aead_open_with(alg, &key, &iv, &aad, &ct, &tag, &mut out);
            if t["result"] == "invalid" {
                assert!(opened.is_err(), "{label} tcId {id}: invalid case opened");
                if matches!(opened, Err(Error::AuthFailed)) {
                    assert!(
                        out.iter().all(|&b| b == 0),
                        "{label} tcId {id}: output kept"
                    );
                } else {
                    assert!(
                        matches!(opened, Err(Error::InvalidLength { .. })),
                        "{label} tcId {id}: {opened:?}"
                    );
                }
                if iv.len() != 12 {
                    let mut tg = [0u8; 16];
                    let sealed = wd.aead_seal_with(alg, &key, &iv, &aad, &msg, &mut out, &mut tg);
                    assert!(
                        matches!(sealed, Err(Error::InvalidLength { .. })),
                        "{label} tcId {id}: {sealed:?}"
                    );
                }
                invalid += 1;
                continue;
            }
            assert!(
                opened.is_ok(),
                "{label} tcId {id}: valid case refused: {opened:?}"
            );
            assert_eq!(out, msg, "{label} tcId {id}");
            let mut sealed = vec![0u8; msg.len()];
            let mut tg = [0u8; 16];
            wd.aead_seal_with(alg, &key, &iv, &aad, &msg, &mut sealed, &mut tg)
                .unwrap();
            assert_eq!((&sealed, &tg[..]), (&ct, &tag[..]), "{label} tcId {id}");
            valid += 1;
        }
    }
    assert!(
        valid > 200 && invalid > 50,
        "{label}: {valid} valid, {invalid} invalid"
    );
    (valid, invalid)
}
