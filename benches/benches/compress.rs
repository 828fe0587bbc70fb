//! Whole-buffer compression over the project corpus: the core (an instance
//! forced onto the software device's queue, and the default global instance)
//! against the system zlib (compress2/uncompress) at levels 1 and 6, and
//! decompression of zlib -6 output. Every figure is throughput of
//! uncompressed bytes; the corpus's total compressed size per engine is
//! printed and written to $CARGO_TARGET_DIR/warpdrive-bench/compress.tsv.
//!
//! Skips (exit 0, with a message) when no corpus is found.

use std::hint::black_box;

use criterion::{Criterion, SamplingMode, Throughput};
use warpdrive::{compress_bound, BackendChoice, Config, Format, InlineMax, Warpdrive};
use warpdrive_benches::{corpus_bytes, find_corpus, load_corpus, write_summary, zlib, CorpusFile};

/// One compressor as the bench sees it.
#[derive(Clone, Copy)]
enum Engine<'a> {
    Zlib,
    Core(&'a Warpdrive),
}

impl Engine<'_> {
    fn compress(self, level: u32, src: &[u8], dst: &mut [u8]) -> usize {
        match self {
            Engine::Zlib => zlib::compress(level as i32, src, dst).expect("zlib compress2"),
            Engine::Core(wd) => wd
                .compress(Format::Zlib, level, src, dst)
                .expect("warpdrive compress"),
        }
    }

    fn decompress(self, src: &[u8], dst: &mut [u8]) -> usize {
        match self {
            Engine::Zlib => zlib::decompress(src, dst).expect("zlib uncompress"),
            Engine::Core(wd) => {
                wd.decompress(Format::Zlib, src, dst)
                    .expect("warpdrive decompress")
                    .produced
            }
        }
    }
}

fn main() {
    let Some(dir) = find_corpus(None) else {
        println!("compress bench: no corpus found (target/corpus, ../shared/corpus or $WARPDRIVE_CORPUS): skipped");
        return;
    };
    let files = load_corpus(&dir).expect("reading the corpus");
    if files.is_empty() {
        println!(
            "compress bench: corpus directory {} is empty: skipped",
            dir.display()
        );
        return;
    }
    let total = corpus_bytes(&files);
    println!(
        "corpus: {} files, {} bytes from {}; system zlib {}",
        files.len(),
        total,
        dir.display(),
        zlib::version()
    );

    let forced = Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .expect("software device");
    let global = warpdrive::global();
    println!("global instance backend: {}", global.backend().name());
    let engines: [(&str, Engine); 3] = [
        ("zlib", Engine::Zlib),
        ("core_queue", Engine::Core(&forced)),
        ("core_global", Engine::Core(&global)),
    ];

    let max = files.iter().map(|f| f.data.len()).max().unwrap_or(0);
    let bound = zlib::bound(max).max(compress_bound(Format::Zlib, max));
    let mut out = vec![0u8; bound];
    let mut back = vec![0u8; max];

    // Sizes and round trips, outside the timing: every engine's output must
    // restore through zlib, and zlib's through every engine.
    let mut summary = vec![("corpus_bytes".to_string(), total.to_string())];
    let mut z6: Vec<Vec<u8>> = Vec::new();
    for level in [1u32, 6] {
        for (name, e) in engines {
            let mut size = 0usize;
            for f in &files {
                let n = e.compress(level, &f.data, &mut out);
                size += n;
                let m = zlib::decompress(&out[..n], &mut back)
                    .expect("system zlib restores our output");
                assert!(
                    back[..m] == f.data[..],
                    "{name} level {level}: round trip of {} differs",
                    f.name
                );
                if name == "zlib" && level == 6 {
                    z6.push(out[..n].to_vec());
                }
            }
            println!(
                "level {level} {name:12} total compressed {size:>10} bytes, ratio {:.3}",
                total as f64 / size as f64
            );
            summary.push((format!("size_l{level}_{name}"), size.to_string()));
        }
    }
    for (name, e) in engines {
        for (f, z) in files.iter().zip(&z6) {
            let m = e.decompress(z, &mut back);
            assert!(
                back[..m] == f.data[..],
                "{name} restores zlib's output of {}",
                f.name
            );
        }
    }
    write_summary("compress.tsv", &summary);

    let mut c = Criterion::default().configure_from_args();
    for level in [1u32, 6] {
        let mut g = c.benchmark_group(format!("compress_l{level}"));
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Bytes(total as u64));
        for (name, e) in engines {
            g.bench_function(name, |b| {
                b.iter(|| corpus_compress(e, level, &files, &mut out))
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("decompress_zlib6");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(total as u64));
    for (name, e) in engines {
        g.bench_function(name, |b| {
            b.iter(|| {
                z6.iter()
                    .map(|z| e.decompress(black_box(z), &mut back))
                    .sum::<usize>()
            })
        });
    }
    g.finish();
    c.final_summary();
}

fn corpus_compress(e: Engine, level: u32, files: &[CorpusFile], out: &mut [u8]) -> usize {
    files
        .iter()
        .map(|f| e.compress(level, black_box(&f.data), out))
        .sum()
}
