//! AES-256-GCM seal and SHA-256 through the core (the default global
//! instance: inline below InlineMax::DEFAULT.cipher/hash; and an instance
//! forced onto the software device's queue) against the openssl crate with
//! OpenSSL's default provider in the same process (one reused
//! EVP_CIPHER_CTX / EVP_MD_CTX, as `openssl speed -evp`), at 16 B and 16 KiB.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warpdrive::{BackendChoice, Config, HashAlg, InlineMax, Warpdrive};
use warpdrive_benches::ossl;

const KEY: [u8; 32] = [7u8; 32];
const IV: [u8; 12] = [9u8; 12];

fn crypto(c: &mut Criterion) {
    let forced = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .expect("software device");
    let global = warpdrive::global();
    let mut gcm = ossl::Gcm::new(&KEY);
    let mut sha = ossl::Sha256::default();

    for size in [16usize, 16 << 10] {
        let src: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        let mut dst = vec![0u8; size];
        let mut tag = [0u8; 16];

        // The three must agree before they are timed.
        let mut ref_out = vec![0u8; size];
        let mut ref_tag = [0u8; 16];
        gcm.seal(&IV, &[], &src, &mut ref_out, &mut ref_tag);
        for wd in [&forced, &*global] {
            wd.aead_seal(&KEY, &IV, &[], &src, &mut dst, &mut tag)
                .expect("seal");
            assert!(
                dst == ref_out && tag == ref_tag,
                "AES-256-GCM differs from OpenSSL"
            );
        }
        let mut ref_md = [0u8; 32];
        sha.digest(&src, &mut ref_md);
        for wd in [&forced, &*global] {
            let mut md = [0u8; 32];
            wd.digest(HashAlg::Sha256, &src, &mut md).expect("digest");
            assert_eq!(md, ref_md, "SHA-256 differs from OpenSSL");
        }

        let mut g = c.benchmark_group(format!("aes256gcm_seal_{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function("openssl", |b| {
            b.iter(|| gcm.seal(&IV, &[], black_box(&src), &mut dst, &mut tag))
        });
        g.bench_function("core_global", |b| {
            b.iter(|| {
                global
                    .aead_seal(&KEY, &IV, &[], black_box(&src), &mut dst, &mut tag)
                    .expect("seal")
            })
        });
        g.bench_function("core_queue", |b| {
            b.iter(|| {
                forced
                    .aead_seal(&KEY, &IV, &[], black_box(&src), &mut dst, &mut tag)
                    .expect("seal")
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("sha256_{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let mut md = [0u8; 32];
        g.bench_function("openssl", |b| {
            b.iter(|| sha.digest(black_box(&src), &mut md))
        });
        g.bench_function("core_global", |b| {
            b.iter(|| {
                global
                    .digest(HashAlg::Sha256, black_box(&src), &mut md)
                    .expect("digest")
            })
        });
        g.bench_function("core_queue", |b| {
            b.iter(|| {
                forced
                    .digest(HashAlg::Sha256, black_box(&src), &mut md)
                    .expect("digest")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, crypto);
criterion_main!(benches);
