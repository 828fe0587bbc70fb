//! Per-level size and speed of the one-shot engines against system zlib over the
//! project corpus, and of every candidate engine level (to choose the mapping).
//!
//! ```text
//! mkdir -p target/corpus && (cd target/corpus && for f in /work/shared/corpus/*.xz; do xz -dc $f > $(basename $f .xz); done)
//! CARGO_TARGET_DIR=target/engines cargo run --release -p warpdrive-engines --example corpus_bench -- target/corpus [--candidates]
//! ```
//! Each file is compressed whole, once per level; speeds are MB/s of uncompressed
//! data (10^6 bytes), single thread, best of `REPS` runs.

use std::time::Instant;

use warpdrive_engines::{compress, compress_bound, decompress, engine_for_level, Format};

const REPS: usize = 2;

fn zlib_compress(level: i32, src: &[u8], dst: &mut Vec<u8>) -> usize {
    let mut len = dst.len() as libz_sys::uLongf;
    // SAFETY: dst is valid for len bytes, src for src.len(); compress2 writes at
    // most len bytes and stores the size in len.
    let r = unsafe {
        libz_sys::compress2(
            dst.as_mut_ptr(),
            &mut len,
            src.as_ptr(),
            src.len() as _,
            level,
        )
    };
    assert_eq!(r, libz_sys::Z_OK);
    len as usize
}

fn zlib_uncompress(src: &[u8], dst: &mut [u8]) -> usize {
    let mut len = dst.len() as libz_sys::uLongf;
    // SAFETY: as above.
    let r =
        unsafe { libz_sys::uncompress(dst.as_mut_ptr(), &mut len, src.as_ptr(), src.len() as _) };
    assert_eq!(r, libz_sys::Z_OK);
    len as usize
}

fn best<F: FnMut() -> usize>(mut f: F) -> (usize, f64) {
    let mut best = f64::MAX;
    let mut out = 0;
    for _ in 0..REPS {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (out, best)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("target/corpus");
    let candidates = args.iter().any(|a| a == "--candidates");
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("corpus dir") {
        let p = e.expect("entry").path();
        if p.is_file() && p.extension().is_none_or(|x| x != "xz") {
            files.push(std::fs::read(&p).expect("read"));
        }
    }
    let total: usize = files.iter().map(Vec::len).sum();
    let mb = total as f64 / 1e6;
    // SAFETY: zlibVersion returns a static NUL-terminated string.
    let ver = unsafe { std::ffi::CStr::from_ptr(libz_sys::zlibVersion()) };
    println!(
        "corpus: {} files, {} bytes; system zlib {:?}",
        files.len(),
        total,
        ver
    );

    let maxlen = files.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u8; compress_bound(Format::Zlib, maxlen) + 1024];
    let mut back = vec![0u8; maxlen];

    if candidates {
        println!("\ncandidate engine levels (zlib format): ratio, MB/s");
        for level in 1..=12 {
            let mut c =
                libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).expect("lvl"));
            let (size, t) = best(|| {
                files
                    .iter()
                    .map(|f| c.zlib_compress(f, &mut out).expect("fits"))
                    .sum()
            });
            println!(
                "libdeflate {level:2}: ratio {:.3}  {:7.1} MB/s",
                total as f64 / size as f64,
                mb / t
            );
        }
        for (name, level) in [
            ("isal 1", isal::CompressionLevel::One),
            ("isal 3", isal::CompressionLevel::Three),
        ] {
            let (size, t) = best(|| {
                files
                    .iter()
                    .map(|f| {
                        isal::compress_into(f, &mut out, level, isal::Codec::Zlib).expect("fits")
                    })
                    .sum()
            });
            println!(
                "{name}       : ratio {:.3}  {:7.1} MB/s",
                total as f64 / size as f64,
                mb / t
            );
        }
    }

    println!("\n| level | engine | zlib size | ours size | zlib ratio | ours ratio | zlib comp MB/s | ours comp MB/s | speedup | zlib decomp MB/s | ours decomp MB/s | speedup |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for level in 0..=9u32 {
        let mut zsizes = Vec::new();
        let (zsize, zt) = best(|| {
            zsizes.clear();
            let mut s = 0;
            for f in &files {
                let n = zlib_compress(level as i32, f, &mut out);
                zsizes.push(n);
                s += n;
            }
            s
        });
        // Keep zlib's output of each file to time its decompression.
        let zcomp: Vec<Vec<u8>> = files
            .iter()
            .map(|f| {
                let n = zlib_compress(level as i32, f, &mut out);
                out[..n].to_vec()
            })
            .collect();
        let (osize, ot) = best(|| {
            files
                .iter()
                .map(|f| {
                    compress(Format::Zlib, level, f, &mut out)
                        .expect("compress")
                        .produced
                })
                .sum()
        });
        let ocomp: Vec<Vec<u8>> = files
            .iter()
            .map(|f| {
                let n = compress(Format::Zlib, level, f, &mut out)
                    .expect("compress")
                    .produced;
                out[..n].to_vec()
            })
            .collect();
        let (_, zdt) = best(|| zcomp.iter().map(|c| zlib_uncompress(c, &mut back)).sum());
        let (_, odt) = best(|| {
            ocomp
                .iter()
                .zip(&files)
                .map(|(c, f)| {
                    let o = decompress(Format::Zlib, c, &mut back).expect("decompress");
                    assert_eq!(&back[..o.produced], &f[..]);
                    o.produced
                })
                .sum()
        });
        println!(
            "| {level} | {:?} | {zsize} | {osize} | {:.3} | {:.3} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x |{}",
            engine_for_level(level).expect("level"),
            total as f64 / zsize as f64,
            total as f64 / osize as f64,
            mb / zt,
            mb / ot,
            zt / ot,
            mb / zdt,
            mb / odt,
            zdt / odt,
            if osize > zsize { " LARGER" } else { "" }
        );
    }
}
