//! Per-call cost of the crypto engines against OpenSSL's EVP API used directly
//! the way `openssl speed -evp` does (one context, IV re-set per operation).
//!
//! `CARGO_TARGET_DIR=target/engines cargo run --release -p warpdrive-engines --example crypto_bench`

use std::time::Instant;

use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use openssl::md::Md;
use openssl::md_ctx::MdCtx;
use warpdrive_engines::{digest, gcm_seal, hmac, HashAlg};

fn rate(label: &str, size: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mbs = (size * iters) as f64 / best / 1e6;
    println!(
        "{label:40} {size:6} B: {mbs:9.1} MB/s  {:7.0} ns/op",
        best / iters as f64 * 1e9
    );
    mbs
}

fn main() {
    let key = [7u8; 32];
    let iv = [1u8; 12];
    for size in [16usize, 1024, 16384] {
        let iters = if size == 16 {
            1_000_000
        } else {
            2_000_000 / (size / 16).max(1) * 4
        };
        let src = vec![0x42u8; size];
        let mut dst = vec![0u8; size];
        let mut tag = [0u8; 16];
        let ours = rate("engines gcm_seal AES-256-GCM", size, iters, || {
            gcm_seal(&key, &iv, b"", &src, &mut dst, &mut tag).expect("seal");
        });
        let mut ctx = CipherCtx::new().expect("ctx");
        ctx.encrypt_init(Some(Cipher::aes_256_gcm()), Some(&key), Some(&iv))
            .expect("init");
        let evp = rate("openssl EVP AES-256-GCM (iv per op)", size, iters, || {
            ctx.encrypt_init(None, None, Some(&iv)).expect("iv");
            ctx.cipher_update(&src, Some(&mut dst)).expect("update");
            ctx.cipher_final(&mut []).expect("final");
            ctx.tag(&mut tag).expect("tag");
        });
        println!("  ratio {:.2}x", ours / evp);
        let mut out = [0u8; 64];
        let ours = rate("engines digest SHA-256", size, iters, || {
            digest(HashAlg::Sha256, &src, &mut out).expect("digest");
        });
        let mut m = MdCtx::new().expect("md");
        let evp = rate("openssl EVP SHA-256", size, iters, || {
            m.digest_init(Md::sha256()).expect("init");
            m.digest_update(&src).expect("update");
            m.digest_final(&mut out[..32]).expect("final");
        });
        println!("  ratio {:.2}x", ours / evp);
        let ours = rate("engines hmac SHA-256", size, iters / 2, || {
            hmac(HashAlg::Sha256, &key, &src, &mut out).expect("hmac");
        });
        let pkey = openssl::pkey::PKey::hmac(&key).expect("pkey");
        let evp = rate(
            "openssl HMAC-SHA-256 (PKey signer)",
            size,
            iters / 2,
            || {
                let mut s =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
                        .expect("s");
                s.update(&src).expect("u");
                s.sign(&mut out).expect("sign");
            },
        );
        println!("  ratio {:.2}x", ours / evp);
    }
}
