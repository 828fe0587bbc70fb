//! WarpDrive's main job, end to end: compress (levels 1 and 6) and encrypt
//! (AES-256-GCM) a corpus through the queues of the process-wide instance
//! (WARPDRIVE_BACKEND respected), verify every round trip, and print the
//! throughput next to the system zlib and OpenSSL's default provider.
//!
//! `cargo run --release -p warpdrive-benches --bin demo [-- --corpus DIR]`
//!
//! Without a corpus (DIR, $WARPDRIVE_CORPUS, target/corpus or
//! ../shared/corpus unpacked into target/corpus) it makes ~32 MB of
//! deterministic mixed data and says so. Exits 1 if any verification fails.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use warpdrive::{compress_bound, Format};
use warpdrive_benches::{
    corpus_bytes, find_corpus, generated_data, load_corpus, ossl, zlib, CorpusFile,
};

/// One request carries at most this much (the ABI's limit is 64 MiB).
const MAX_PIECE: usize = 32 << 20;
/// AES-GCM record size: above InlineMax::DEFAULT.cipher, so each goes
/// through a queue.
const RECORD: usize = 1 << 20;
const KEY: [u8; 32] = *b"warpdrive demo key, 32 bytes....";

struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let w = what();
            eprintln!("VERIFICATION FAILED: {w}");
            self.0.push(w);
        }
    }
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn iv_for(n: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&n.to_be_bytes());
    iv
}

fn pieces(files: &[CorpusFile]) -> Vec<&[u8]> {
    files
        .iter()
        .flat_map(|f| f.data.chunks(MAX_PIECE))
        .collect()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut corpus_arg: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--corpus" => corpus_arg = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: demo [--corpus DIR]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("demo: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let files = match find_corpus(corpus_arg.as_deref()).map(|d| (load_corpus(&d), d)) {
        Some((Ok(f), d)) if !f.is_empty() => {
            println!("corpus: {} ({} files)", d.display(), f.len());
            f
        }
        _ => {
            println!("corpus: none found; using 32 MB of generated deterministic mixed data");
            vec![CorpusFile {
                name: "generated".into(),
                data: generated_data(32 << 20),
            }]
        }
    };
    let total = corpus_bytes(&files);
    let wd = warpdrive::global();
    println!(
        "input {:.1} MB; backend {} ({} engine thread(s) for the software device); system zlib {}; {}",
        total as f64 / 1e6,
        wd.backend().name(),
        wd.config().engines,
        zlib::version(),
        ossl::version()
    );
    let before = wd.stats();
    let mut fail = Failures(Vec::new());
    let pieces = pieces(&files);
    let max = pieces.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut out = vec![0u8; compress_bound(Format::Zlib, max).max(zlib::bound(max))];
    let mut back = vec![0u8; max];

    println!();
    println!(
        "{:<22} {:>12} {:>12} {:>8} {:>14} {:>14}",
        "operation", "core MB/s", "ref MB/s", "speedup", "core bytes", "ref bytes"
    );
    for level in [1u32, 6] {
        // Through the core.
        let mut streams = Vec::with_capacity(pieces.len());
        let t = Instant::now();
        for p in &pieces {
            match warpdrive::compress(Format::Zlib, level, p, &mut out) {
                Ok(n) => streams.push(out[..n].to_vec()),
                Err(e) => {
                    fail.check(false, || format!("compress level {level}: {e}"));
                    streams.push(Vec::new());
                }
            }
        }
        let core_c = t.elapsed().as_secs_f64();
        let core_size: usize = streams.iter().map(Vec::len).sum();
        // System zlib on the same pieces.
        let t = Instant::now();
        let mut zlib_streams = Vec::with_capacity(pieces.len());
        for p in &pieces {
            let n = zlib::compress(level as i32, p, &mut out).unwrap_or(0);
            zlib_streams.push(out[..n].to_vec());
        }
        let zlib_c = t.elapsed().as_secs_f64();
        let zlib_size: usize = zlib_streams.iter().map(Vec::len).sum();
        println!(
            "{:<22} {:>12.1} {:>12.1} {:>7.2}x {:>14} {:>14}",
            format!("compress -{level} (zlib)"),
            mbps(total, core_c),
            mbps(total, zlib_c),
            zlib_c / core_c,
            core_size,
            zlib_size
        );
        // Decompress our streams through the core, and check that zlib reads them too.
        let t = Instant::now();
        for (i, (p, s)) in pieces.iter().zip(&streams).enumerate() {
            match warpdrive::decompress(Format::Zlib, s, &mut back) {
                Ok(pr) => fail.check(
                    pr.produced == p.len() && back[..pr.produced] == p[..],
                    || format!("level {level} piece {i}: core round trip differs"),
                ),
                Err(e) => fail.check(false, || {
                    format!("level {level} piece {i}: core decompress: {e}")
                }),
            }
        }
        let core_d = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (i, (p, s)) in pieces.iter().zip(&zlib_streams).enumerate() {
            let n = zlib::decompress(s, &mut back);
            fail.check(n == Some(p.len()) && back[..p.len()] == p[..], || {
                format!("level {level} piece {i}: zlib round trip differs")
            });
        }
        let zlib_d = t.elapsed().as_secs_f64();
        for (i, (p, s)) in pieces.iter().zip(&streams).enumerate() {
            let n = zlib::decompress(s, &mut back);
            fail.check(n == Some(p.len()) && back[..p.len()] == p[..], || {
                format!("level {level} piece {i}: system zlib cannot restore the core's stream")
            });
        }
        println!(
            "{:<22} {:>12.1} {:>12.1} {:>7.2}x {:>14} {:>14}",
            format!("decompress -{level}"),
            mbps(total, core_d),
            mbps(total, zlib_d),
            zlib_d / core_d,
            format!("ratio {:.3}", total as f64 / core_size as f64),
            format!("ratio {:.3}", total as f64 / zlib_size as f64)
        );
    }

    // AES-256-GCM in 1 MiB records, each with its own IV and AAD.
    let records: Vec<&[u8]> = files.iter().flat_map(|f| f.data.chunks(RECORD)).collect();
    let mut sealed: Vec<(Vec<u8>, [u8; 16])> = Vec::with_capacity(records.len());
    let t = Instant::now();
    for (i, r) in records.iter().enumerate() {
        let mut ct = vec![0u8; r.len()];
        let mut tag = [0u8; 16];
        let aad = (i as u64).to_be_bytes();
        if let Err(e) = warpdrive::aead_seal(&KEY, &iv_for(i as u64), &aad, r, &mut ct, &mut tag) {
            fail.check(false, || format!("seal record {i}: {e}"));
        }
        sealed.push((ct, tag));
    }
    let core_seal = t.elapsed().as_secs_f64();
    let mut gcm = ossl::Gcm::new(&KEY);
    let mut ref_ct = vec![0u8; RECORD];
    let mut ref_tag = [0u8; 16];
    let mut agree = true;
    let t = Instant::now();
    for (i, r) in records.iter().enumerate() {
        gcm.seal(
            &iv_for(i as u64),
            &(i as u64).to_be_bytes(),
            r,
            &mut ref_ct[..r.len()],
            &mut ref_tag,
        );
        agree &= sealed[i].0 == ref_ct[..r.len()] && sealed[i].1 == ref_tag;
    }
    let ossl_seal = t.elapsed().as_secs_f64();
    fail.check(agree, || "AES-256-GCM output differs from OpenSSL's".into());
    let t = Instant::now();
    for (i, (r, (ct, tag))) in records.iter().zip(&sealed).enumerate() {
        let mut pt = vec![0u8; ct.len()];
        match warpdrive::aead_open(
            &KEY,
            &iv_for(i as u64),
            &(i as u64).to_be_bytes(),
            ct,
            tag,
            &mut pt,
        ) {
            Ok(()) => fail.check(pt[..] == r[..], || {
                format!("open record {i}: plaintext differs")
            }),
            Err(e) => fail.check(false, || format!("open record {i}: {e}")),
        }
    }
    let core_open = t.elapsed().as_secs_f64();
    // A tampered record must be refused.
    if let Some((ct, tag)) = sealed.first() {
        let mut bad = ct.clone();
        if let Some(b) = bad.first_mut() {
            *b ^= 1;
        }
        let mut pt = vec![0u8; bad.len()];
        let r = warpdrive::aead_open(&KEY, &iv_for(0), &0u64.to_be_bytes(), &bad, tag, &mut pt);
        fail.check(matches!(r, Err(warpdrive::Error::AuthFailed)), || {
            "a tampered record was not refused".into()
        });
    }
    println!(
        "{:<22} {:>12.1} {:>12.1} {:>7.2}x {:>14} {:>14}",
        "AES-256-GCM seal",
        mbps(total, core_seal),
        mbps(total, ossl_seal),
        ossl_seal / core_seal,
        format!("{} records", records.len()),
        "OpenSSL default"
    );
    println!(
        "{:<22} {:>12.1} {:>12} {:>8}",
        "AES-256-GCM open",
        mbps(total, core_open),
        "",
        ""
    );

    let s = wd.stats();
    println!();
    println!(
        "core stats: offloaded {}, inline {}, fallbacks {}, errors {}, doorbells {}, queues {}, bytes in {} out {}",
        s.offloaded - before.offloaded,
        s.inline - before.inline,
        s.fallbacks - before.fallbacks,
        s.errors - before.errors,
        s.doorbells - before.doorbells,
        s.queues,
        s.bytes_in - before.bytes_in,
        s.bytes_out - before.bytes_out
    );
    if fail.0.is_empty() {
        println!("all round trips verified");
        ExitCode::SUCCESS
    } else {
        println!("{} verification(s) FAILED", fail.0.len());
        ExitCode::FAILURE
    }
}
