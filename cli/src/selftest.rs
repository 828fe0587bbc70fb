//! `warpdrive selftest`: known-answer tests of every algorithm on every device
//! (the software device, each kernel device, and the inline path), with a
//! cross-check against OpenSSL's default provider and the system zlib on
//! larger inputs. Each test also checks where it ran: on a queue device the
//! request must have gone through the queue (no silent inline fallback).
//!
//! `WARPDRIVE_CLI_SELFTEST_BREAK=alg[,alg...]` (test-only) corrupts the expected
//! answers of those algorithms, so a test can prove that selftest fails.

use std::process::ExitCode;

use serde::Serialize;
use warpdrive::{
    Aead, BackendChoice, CipherMode, Config, Direction, Error, Format, HashAlg, InlineMax,
    Warpdrive,
};

use crate::devices::{self, ALG_NAMES, SOFTDEV};
use crate::fail::Fail;
use crate::table::Table;
use crate::{fail, out, sysz};

/// A device under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Soft,
    Kernel(String),
    Inline,
}

impl Target {
    pub fn name(&self) -> String {
        match self {
            Target::Soft => SOFTDEV.into(),
            Target::Kernel(n) => n.clone(),
            Target::Inline => "inline".into(),
        }
    }

    pub fn queued(&self) -> bool {
        !matches!(self, Target::Inline)
    }

    /// An instance that sends every request (whatever its size) to this
    /// target.
    pub fn instance(&self) -> Result<Warpdrive, String> {
        let mut c = Config {
            inline_max: InlineMax::all(0),
            max_queues: 4,
            engines: 1,
            ..Config::default()
        };
        match self {
            Target::Soft => c.backend = BackendChoice::Softdev,
            Target::Inline => c.backend = BackendChoice::Inline,
            Target::Kernel(n) => {
                c.backend = BackendChoice::Kernel;
                c.device = Some(n.clone());
            }
        }
        Warpdrive::new(c).map_err(|e| e.to_string())
    }

    /// Algorithms the target serves.
    pub fn algorithms(&self) -> Vec<String> {
        match self {
            Target::Kernel(n) => devices::kernel_device(n).algorithms,
            _ => devices::all_algorithms(),
        }
    }
}

/// Turns `--device` into targets: `softdev`, `inline`, `kernel` (every
/// kernel device), a kernel device's name, or everything.
pub fn targets(sel: Option<&str>) -> Result<Vec<Target>, Fail> {
    let kernel = devices::kernel_names();
    Ok(match sel {
        None | Some("all") => {
            let mut v = vec![Target::Soft];
            v.extend(kernel.into_iter().map(Target::Kernel));
            v.push(Target::Inline);
            v
        }
        Some(SOFTDEV) => vec![Target::Soft],
        Some("inline") => vec![Target::Inline],
        Some("kernel") => {
            if kernel.is_empty() {
                fail!(
                    "no kernel device: {} is empty or missing (is the warpdrive module loaded?)",
                    devices::dev_dir().display()
                );
            }
            kernel.into_iter().map(Target::Kernel).collect()
        }
        Some(name) => {
            if kernel.iter().any(|k| k == name) {
                vec![Target::Kernel(name.into())]
            } else {
                let mut known = kernel;
                known.extend([SOFTDEV.into(), "inline".into(), "kernel".into()]);
                fail!("unknown device '{name}' (known: {})", known.join(", "))
            }
        }
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("valid hex in a test vector"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The expected answer, corrupted when this algorithm is to be broken.
fn expect(v: Vec<u8>, brk: bool) -> Vec<u8> {
    let mut v = v;
    if brk {
        if let Some(b) = v.first_mut() {
            *b ^= 1;
        }
    }
    v
}

fn check(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        let cut = |b: &[u8]| hex(&b[..b.len().min(16)]);
        Err(format!(
            "{what}: got {} ({} bytes), expected {} ({} bytes)",
            cut(got),
            got.len(),
            cut(want),
            want.len()
        ))
    }
}

fn e(what: &str) -> impl Fn(Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// Deterministic, compressible test data.
pub fn pattern(n: usize) -> Vec<u8> {
    let words = [
        "warpdrive ",
        "queue ",
        "ring ",
        "descriptor ",
        "engine ",
        "deflate ",
        "zlib ",
        "aes ",
        "digest ",
        "completion\n",
    ];
    let mut v = Vec::with_capacity(n + 16);
    let mut x: u32 = 0x1234_5678;
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.extend_from_slice(words[(x % 10) as usize].as_bytes());
        if x % 7 == 0 {
            v.push((x >> 24) as u8);
        }
    }
    v.truncate(n);
    v
}

const KAT_PLAIN: &[u8] = b"WarpDrive known-answer test: the quick brown fox jumps over the lazy dog.\nWarpDrive known-answer test: the quick brown fox jumps over the lazy dog.\nWarpDrive known-answer test: the quick brown fox jumps over the lazy dog.\n";
const KAT_RAW: &str = "0b4f2c2a7029ca2c4b55c8cecb2fcfd34dcc2b2e4f2d5228492d2eb15228c94855282ccd4cce56482a024a2aa4e557286495e616142be497811401a57312ab2a1552f2d3f5b8c207a14900";
const KAT_ZLIB: &str = "789c0b4f2c2a7029ca2c4b55c8cecb2fcfd34dcc2b2e4f2d5228492d2eb15228c94855282ccd4cce56482a024a2aa4e557286495e616142be497811401a57312ab2a1552f2d3f5b8c207a14900a5c4511c";
const KAT_GZIP: &str = "1f8b08000000000000030b4f2c2a7029ca2c4b55c8cecb2fcfd34dcc2b2e4f2d5228492d2eb15228c94855282ccd4cce56482a024a2aa4e557286495e616142be497811401a57312ab2a1552f2d3f5b8c207a149000920aac7de000000";

fn t_compress(wd: &Warpdrive, f: Format, brk: bool) -> Result<(), String> {
    let vector = match f {
        Format::Raw => KAT_RAW,
        Format::Zlib => KAT_ZLIB,
        Format::Gzip => KAT_GZIP,
    };
    // Known answer: a stream made by zlib decompresses to the known text.
    let mut out = vec![0u8; KAT_PLAIN.len() + 64];
    let p = wd
        .decompress(f, &unhex(vector), &mut out)
        .map_err(e("decompress"))?;
    check(
        "decompress known stream",
        &out[..p.produced],
        &expect(KAT_PLAIN.to_vec(), brk),
    )?;
    // Round trip of a larger input, decompressed by the device and, for
    // zlib, by the system's zlib too.
    let data = pattern(96 << 10);
    let mut c = vec![0u8; warpdrive::compress_bound(f, data.len())];
    let n = wd.compress(f, 6, &data, &mut c).map_err(e("compress"))?;
    let mut back = vec![0u8; data.len() + 1];
    let p = wd
        .decompress(f, &c[..n], &mut back)
        .map_err(e("decompress own output"))?;
    check("round trip", &back[..p.produced], &data)?;
    if f == Format::Zlib {
        let sys = sysz::uncompress(&c[..n], data.len())?;
        check("system zlib inflating the device's stream", &sys, &data)?;
    }
    Ok(())
}

const HASHES: [(HashAlg, &str, &str, &str); 5] = [
    (
        HashAlg::Sha1,
        "sha1",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    ),
    (
        HashAlg::Sha224,
        "sha224",
        "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
    ),
    (
        HashAlg::Sha256,
        "sha256",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        HashAlg::Sha384,
        "sha384",
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
    ),
    (
        HashAlg::Sha512,
        "sha512",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ),
];

fn ossl_md(h: HashAlg) -> openssl::hash::MessageDigest {
    use openssl::hash::MessageDigest as M;
    match h {
        HashAlg::Sha1 => M::sha1(),
        HashAlg::Sha224 => M::sha224(),
        HashAlg::Sha256 => M::sha256(),
        HashAlg::Sha384 => M::sha384(),
        HashAlg::Sha512 => M::sha512(),
    }
}

fn t_digest(wd: &Warpdrive, i: usize, brk: bool) -> Result<(), String> {
    let (alg, _, kat, _) = HASHES[i];
    let mut out = [0u8; 64];
    let n = wd.digest(alg, b"abc", &mut out).map_err(e("digest"))?;
    check("digest(\"abc\")", &out[..n], &expect(unhex(kat), brk))?;
    let data = pattern(100 << 10);
    let n = wd.digest(alg, &data, &mut out).map_err(e("digest"))?;
    let want = openssl::hash::hash(ossl_md(alg), &data).map_err(|e| e.to_string())?;
    check("digest of 100 KiB vs OpenSSL", &out[..n], &want)
}

fn t_hmac(wd: &Warpdrive, i: usize, brk: bool) -> Result<(), String> {
    let (alg, _, _, kat) = HASHES[i];
    let mut out = [0u8; 64];
    // RFC 4231 test case 2 (RFC 2202 for SHA-1).
    let n = wd
        .hmac(alg, b"Jefe", b"what do ya want for nothing?", &mut out)
        .map_err(e("hmac"))?;
    check(
        "HMAC (RFC 4231 case 2)",
        &out[..n],
        &expect(unhex(kat), brk),
    )
}

fn aes_cipher(mode: CipherMode, key_len: usize) -> openssl::symm::Cipher {
    use openssl::symm::Cipher as C;
    match (mode, key_len) {
        (CipherMode::Gcm, 16) => C::aes_128_gcm(),
        (CipherMode::Gcm, _) => C::aes_256_gcm(),
        (CipherMode::Ctr, 16) => C::aes_128_ctr(),
        (CipherMode::Ctr, _) => C::aes_256_ctr(),
        (CipherMode::Cbc, 16) => C::aes_128_cbc(),
        (CipherMode::Cbc, _) => C::aes_256_cbc(),
    }
}

fn t_gcm(wd: &Warpdrive, brk: bool) -> Result<(), String> {
    // NIST GCM test case 4 (AES-128, 60-byte plaintext, 20-byte AAD).
    let key = unhex("feffe9928665731c6d6a8f9467308308");
    let iv = unhex("cafebabefacedbaddecaf888");
    let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let pt = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let ct = unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091");
    let tag = unhex("5bc94fbc3221a5db94fae95ae7121a47");
    let mut out = vec![0u8; pt.len()];
    let mut t = [0u8; 16];
    wd.aead_seal(&key, &iv, &aad, &pt, &mut out, &mut t)
        .map_err(e("seal"))?;
    check("ciphertext", &out, &expect(ct.clone(), brk))?;
    check("tag", &t, &tag)?;
    let mut back = vec![0u8; ct.len()];
    wd.aead_open(&key, &iv, &aad, &ct, &tag, &mut back)
        .map_err(e("open"))?;
    check("plaintext", &back, &pt)?;
    let mut bad = tag.clone();
    bad[0] ^= 0x80;
    match wd.aead_open(&key, &iv, &aad, &ct, &bad, &mut back) {
        Err(Error::AuthFailed) if back.iter().all(|&b| b == 0) => {}
        Err(Error::AuthFailed) => return Err("forged tag: output not wiped".into()),
        other => return Err(format!("forged tag accepted or wrong error: {other:?}")),
    }
    // 64 KiB with AES-256 against OpenSSL's default provider.
    let key = [7u8; 32];
    let data = pattern(64 << 10);
    let mut out = vec![0u8; data.len()];
    wd.aead_seal(&key, &iv, b"hdr", &data, &mut out, &mut t)
        .map_err(e("seal 64 KiB"))?;
    let mut want_tag = [0u8; 16];
    let want = openssl::symm::encrypt_aead(
        aes_cipher(CipherMode::Gcm, 32),
        &key,
        Some(&iv),
        b"hdr",
        &data,
        &mut want_tag,
    )
    .map_err(|e| e.to_string())?;
    check("64 KiB ciphertext vs OpenSSL", &out, &want)?;
    check("64 KiB tag vs OpenSSL", &t, &want_tag)
}

fn t_chacha(wd: &Warpdrive, brk: bool) -> Result<(), String> {
    // RFC 8439 section 2.8.2.
    const C: Aead = Aead::ChaCha20Poly1305;
    let key: Vec<u8> = (0x80..0xa0).collect();
    let iv = unhex("070000004041424344454647");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let ct = unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116");
    let tag = unhex("1ae10b594f09e26a7e902ecbd0600691");
    let mut out = vec![0u8; pt.len()];
    let mut t = [0u8; 16];
    wd.aead_seal_with(C, &key, &iv, &aad, pt, &mut out, &mut t)
        .map_err(e("seal"))?;
    check("ciphertext", &out, &expect(ct.clone(), brk))?;
    check("tag", &t, &tag)?;
    let mut back = vec![0u8; ct.len()];
    wd.aead_open_with(C, &key, &iv, &aad, &ct, &tag, &mut back)
        .map_err(e("open"))?;
    check("plaintext", &back, pt)?;
    let mut bad = tag.clone();
    bad[15] ^= 1;
    match wd.aead_open_with(C, &key, &iv, &aad, &ct, &bad, &mut back) {
        Err(Error::AuthFailed) if back.iter().all(|&b| b == 0) => {}
        Err(Error::AuthFailed) => return Err("forged tag: output not wiped".into()),
        other => return Err(format!("forged tag accepted or wrong error: {other:?}")),
    }
    // 64 KiB against OpenSSL's default provider.
    let data = pattern(64 << 10);
    let mut out = vec![0u8; data.len()];
    wd.aead_seal_with(C, &[7u8; 32], &iv, b"hdr", &data, &mut out, &mut t)
        .map_err(e("seal 64 KiB"))?;
    let mut want_tag = [0u8; 16];
    let want = openssl::symm::encrypt_aead(
        openssl::symm::Cipher::chacha20_poly1305(),
        &[7u8; 32],
        Some(&iv),
        b"hdr",
        &data,
        &mut want_tag,
    )
    .map_err(|e| e.to_string())?;
    check("64 KiB ciphertext vs OpenSSL", &out, &want)?;
    check("64 KiB tag vs OpenSSL", &t, &want_tag)
}

fn t_ctr_cbc(wd: &Warpdrive, mode: CipherMode, brk: bool) -> Result<(), String> {
    // NIST SP 800-38A F.5.1 (CTR) and F.2.1 (CBC), AES-128.
    let key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
    let pt = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
    let (iv, ct) = match mode {
        CipherMode::Ctr => (
            unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
            unhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"),
        ),
        _ => (
            unhex("000102030405060708090a0b0c0d0e0f"),
            unhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
        ),
    };
    let mut out = vec![0u8; pt.len() + 16];
    let n = wd
        .cipher(mode, Direction::Encrypt, &key, &iv, false, &pt, &mut out)
        .map_err(e("encrypt"))?;
    check("ciphertext", &out[..n], &expect(ct.clone(), brk))?;
    let n = wd
        .cipher(mode, Direction::Decrypt, &key, &iv, false, &ct, &mut out)
        .map_err(e("decrypt"))?;
    check("plaintext", &out[..n], &pt)?;
    // 64 KiB (+ 5 bytes: CBC pads) with AES-256 against OpenSSL.
    let key = [9u8; 32];
    let data = pattern((64 << 10) + 5);
    let mut out = vec![0u8; data.len() + 16];
    let n = wd
        .cipher(mode, Direction::Encrypt, &key, &iv, true, &data, &mut out)
        .map_err(e("encrypt 64 KiB"))?;
    let want = openssl::symm::encrypt(aes_cipher(mode, 32), &key, Some(&iv), &data)
        .map_err(|e| e.to_string())?;
    check("64 KiB vs OpenSSL", &out[..n], &want)
}

/// The test of one algorithm (by its ABI name).
pub fn run_alg(wd: &Warpdrive, alg: &str, brk: bool) -> Result<(), String> {
    match alg {
        "deflate-raw" => t_compress(wd, Format::Raw, brk),
        "zlib" => t_compress(wd, Format::Zlib, brk),
        "gzip" => t_compress(wd, Format::Gzip, brk),
        "aes-gcm" => t_gcm(wd, brk),
        "chacha20-poly1305" => t_chacha(wd, brk),
        "aes-ctr" => t_ctr_cbc(wd, CipherMode::Ctr, brk),
        "aes-cbc" => t_ctr_cbc(wd, CipherMode::Cbc, brk),
        a => {
            let (keyed, base) = match a.strip_prefix("hmac-") {
                Some(b) => (true, b),
                None => (false, a),
            };
            let i = HASHES
                .iter()
                .position(|h| h.1 == base)
                .ok_or_else(|| format!("no test for algorithm {a}"))?;
            if keyed {
                t_hmac(wd, i, brk)
            } else {
                t_digest(wd, i, brk)
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub device: String,
    pub algorithm: String,
    /// `pass`, `fail` or `skip`.
    pub result: &'static str,
    pub detail: String,
}

fn broken_algs() -> Result<Vec<String>, Fail> {
    let Ok(v) = std::env::var("WARPDRIVE_CLI_SELFTEST_BREAK") else {
        return Ok(Vec::new());
    };
    let list: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for a in &list {
        if !ALG_NAMES[1..].contains(&a.as_str()) {
            fail!("unknown algorithm '{a}' in WARPDRIVE_CLI_SELFTEST_BREAK");
        }
    }
    Ok(list)
}

pub fn cmd_selftest(sel: Option<&str>, json: bool) -> Result<ExitCode, Fail> {
    let targets = targets(sel)?;
    let broken = broken_algs()?;
    let mut results = Vec::new();
    for t in &targets {
        let served = t.algorithms();
        let wd = match t.instance() {
            Ok(wd) => Some(wd),
            Err(msg) => {
                results.push(Outcome {
                    device: t.name(),
                    algorithm: "*".into(),
                    result: "fail",
                    detail: format!("cannot use the device: {msg}"),
                });
                None
            }
        };
        let Some(wd) = wd else { continue };
        for alg in &ALG_NAMES[1..] {
            if !served.iter().any(|s| s == alg) {
                results.push(Outcome {
                    device: t.name(),
                    algorithm: alg.to_string(),
                    result: "skip",
                    detail: "not offered by the device".into(),
                });
                continue;
            }
            let before = wd.stats();
            let r = run_alg(&wd, alg, broken.iter().any(|b| b == alg));
            let after = wd.stats();
            // Where it ran: a queue device must not have answered inline.
            let r = r.and_then(|_| {
                if t.queued() {
                    if after.fallbacks != before.fallbacks || after.inline != before.inline {
                        return Err(format!(
                            "ran in software, not on the device ({} fallbacks, {} inline)",
                            after.fallbacks - before.fallbacks,
                            after.inline - before.inline
                        ));
                    }
                    if after.offloaded == before.offloaded {
                        return Err("no request reached the device".into());
                    }
                } else if after.inline == before.inline {
                    return Err("nothing ran inline".into());
                }
                Ok(())
            });
            let n = after.offloaded - before.offloaded + after.inline - before.inline;
            results.push(match r {
                Ok(()) => Outcome {
                    device: t.name(),
                    algorithm: alg.to_string(),
                    result: "pass",
                    detail: format!("{n} requests"),
                },
                Err(d) => Outcome {
                    device: t.name(),
                    algorithm: alg.to_string(),
                    result: "fail",
                    detail: d,
                },
            });
        }
    }
    let count = |r: &str| results.iter().filter(|o| o.result == r).count();
    let (pass, failed, skip) = (count("pass"), count("fail"), count("skip"));
    if json {
        out::json(&serde_json::json!({
            "passed": pass, "failed": failed, "skipped": skip, "results": results,
        }));
    } else {
        let mut t = Table::new(&["DEVICE", "ALGORITHM", "RESULT", "DETAIL"]);
        for o in &results {
            t.row(vec![
                o.device.clone(),
                o.algorithm.clone(),
                o.result.to_uppercase(),
                o.detail.clone(),
            ]);
        }
        out::line(&t.render());
        out::line(&format!("{pass} passed, {failed} failed, {skip} skipped"));
    }
    Ok(if failed == 0 && pass > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
