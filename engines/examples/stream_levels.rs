//! Streaming deflate as pigz drives it (a sync flush every 128 KiB) on the
//! corpus: total size and time per zlib-rs and ISA-L level, next to system zlib's
//! level 1 and 6 (printed by the python one-liner in docs/performance.md). Chooses the streaming level map (see DeflateStream::new).
//! `cargo run --release -p warpdrive-engines --example stream_levels -- DIR`

use std::time::Instant;

use warpdrive_engines::{compress_segment, segment_bound, DeflateStream, Flush, Format};

/// The same stream made of segments as the core makes it for pigz: each
/// 128 KiB flush cut in two, each half with the 32 KiB before it as history.
fn segmented_size(level: u32, data: &[u8]) -> usize {
    let mut out = vec![0u8; segment_bound(128 << 10)];
    let mut total = 0;
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + (64 << 10)).min(data.len());
        let hist = &data[pos.saturating_sub(32 << 10)..pos];
        let o =
            compress_segment(level, hist, &data[pos..end], &mut out, end == data.len()).unwrap();
        total += o.produced;
        pos = end;
    }
    total
}

fn flushed_size(mut s: DeflateStream, data: &[u8]) -> usize {
    let mut out = vec![0u8; 1 << 20];
    let mut total = 0;
    for chunk in data.chunks(128 << 10) {
        let mut rest = chunk;
        loop {
            let o = s.run(rest, &mut out, Flush::Sync).unwrap();
            total += o.produced;
            rest = &rest[o.consumed..];
            if rest.is_empty() && o.produced < out.len() {
                break;
            }
        }
    }
    loop {
        let o = s.run(&[], &mut out, Flush::Finish).unwrap();
        total += o.produced;
        if o.stream_end {
            break;
        }
    }
    total
}

fn main() {
    let dir = std::env::args().nth(1).expect("corpus dir");
    let mut files: Vec<Vec<u8>> = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.extension().is_none_or(|x| x != "xz") {
            files.push(std::fs::read(p).unwrap());
        }
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    for level in 1..=9 {
        let t = Instant::now();
        let n: usize = files
            .iter()
            .map(|f| flushed_size(DeflateStream::new_exact(Format::Gzip, level).unwrap(), f))
            .sum();
        let s = t.elapsed().as_secs_f64();
        println!(
            "zlib-rs {level}: {n} bytes, {:.1} MB/s",
            bytes as f64 / s / 1e6
        );
    }
    for level in [1, 2, 6] {
        let t = Instant::now();
        let n: usize = files.iter().map(|f| segmented_size(level, f)).sum();
        let s = t.elapsed().as_secs_f64();
        println!(
            "segments {level}: {n} bytes, {:.1} MB/s (one thread)",
            bytes as f64 / s / 1e6
        );
    }
    for level in 1..=3 {
        let t = Instant::now();
        let n: usize = files
            .iter()
            .map(|f| flushed_size(DeflateStream::new_isal(Format::Gzip, level).unwrap(), f))
            .sum();
        let s = t.elapsed().as_secs_f64();
        println!(
            "isa-l {level}: {n} bytes, {:.1} MB/s",
            bytes as f64 / s / 1e6
        );
    }
}
