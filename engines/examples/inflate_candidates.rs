//! Decompression speed of the candidate inflate engines over the corpus (zlib
//! format, compressed by zlib-rs at level 6 and, for pigz-like input, 1; with
//! `--ours`, by our one-shot engines at those levels).
//!
//! ```text
//! CARGO_TARGET_DIR=target/engines cargo run --release -p warpdrive-engines --example inflate_candidates -- target/corpus
//! ```
use std::time::Instant;

fn best(mut f: impl FnMut() -> usize) -> (usize, f64) {
    let mut t_best = f64::MAX;
    let mut out = 0;
    for _ in 0..3 {
        let t = Instant::now();
        out = f();
        t_best = t_best.min(t.elapsed().as_secs_f64());
    }
    (out, t_best)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/corpus".into());
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    files.sort();
    let total: usize = files.iter().map(Vec::len).sum();
    // --ours: input compressed by our own engines instead of zlib.
    let ours = std::env::args().any(|a| a == "--ours");
    for level in [1u32, 6] {
        let comp: Vec<Vec<u8>> = files
            .iter()
            .map(|f| {
                if ours {
                    // What the drop-in's one-shot compress makes (ISA-L,
                    // libdeflate): what python decompresses under it.
                    let mut out = vec![
                        0u8;
                        warpdrive_engines::compress_bound(
                            warpdrive_engines::Format::Zlib,
                            f.len()
                        )
                    ];
                    let o = warpdrive_engines::compress(
                        warpdrive_engines::Format::Zlib,
                        level,
                        f,
                        &mut out,
                    )
                    .expect("compress");
                    out.truncate(o.produced);
                    return out;
                }
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
                std::io::Write::write_all(&mut e, f).expect("compress");
                e.finish().expect("finish")
            })
            .collect();
        let mut out = vec![0u8; files.iter().map(Vec::len).max().unwrap_or(0)];
        let (n1, t_ld) = best(|| {
            comp.iter()
                .map(|c| {
                    warpdrive_engines::decompress(warpdrive_engines::Format::Zlib, c, &mut out)
                        .expect("libdeflate")
                        .produced
                })
                .sum()
        });
        let (n2, t_isal) = best(|| {
            comp.iter()
                .map(|c| isal::decompress_into(c, &mut out, isal::Codec::Zlib).expect("isal"))
                .sum()
        });
        let (n3, t_zrs) = best(|| {
            comp.iter()
                .map(|c| {
                    let mut s = warpdrive_engines::InflateStream::new_zlib_rs(
                        warpdrive_engines::Format::Zlib,
                    );
                    s.run(c, &mut out).expect("zlib-rs").produced
                })
                .sum()
        });
        let (n4, t_isal_stream) = best(|| comp.iter().map(|c| isal_stream(c, &mut out)).sum());
        let (n5, t_zrs_chunks) = best(|| {
            comp.iter()
                .map(|c| {
                    let mut s = warpdrive_engines::InflateStream::new_zlib_rs(
                        warpdrive_engines::Format::Zlib,
                    );
                    let (mut pos, mut produced) = (0, 0);
                    loop {
                        let end = (pos + CHUNK).min(c.len());
                        let o_end = (produced + CHUNK).min(out.len());
                        let o = s
                            .run(&c[pos..end], &mut out[produced..o_end])
                            .expect("zlib-rs");
                        pos += o.consumed;
                        produced += o.produced;
                        if o.stream_end {
                            break produced;
                        }
                    }
                })
                .sum()
        });
        println!(
            "isal stream {:.0} MB/s zlib-rs 64K chunks {:.0} MB/s",
            total as f64 / t_isal_stream / 1e6,
            total as f64 / t_zrs_chunks / 1e6
        );
        assert!(n1 == total && n2 == total && n3 == total && n4 == total && n5 == total);
        println!(
            "level {level}: libdeflate {:.0} MB/s, isa-l {:.0} MB/s, zlib-rs stream {:.0} MB/s",
            total as f64 / t_ld / 1e6,
            total as f64 / t_isal / 1e6,
            total as f64 / t_zrs / 1e6
        );
    }
}

const CHUNK: usize = 64 << 10;

/// ISA-L's stateful inflate fed 64 KiB of input and 64 KiB of room at a time.
fn isal_stream(c: &[u8], out: &mut [u8]) -> usize {
    use isal::isal_sys::igzip_lib as ig;
    let mut st: Box<std::mem::MaybeUninit<ig::inflate_state>> = Box::new_uninit();
    // SAFETY: isal_inflate_init initializes the whole state.
    unsafe { ig::isal_inflate_init(st.as_mut_ptr()) };
    // SAFETY: initialized above.
    let mut st = unsafe { st.assume_init() };
    st.crc_flag = ig::ISAL_ZLIB;
    let (mut pos, mut produced) = (0usize, 0usize);
    loop {
        let end = (pos + CHUNK).min(c.len());
        let o_end = (produced + CHUNK).min(out.len());
        st.next_in = c[pos..].as_ptr() as *mut u8;
        st.avail_in = (end - pos) as u32;
        st.next_out = out[produced..].as_mut_ptr();
        st.avail_out = (o_end - produced) as u32;
        // SAFETY: pointers cover live slices of the given lengths.
        let r = unsafe { ig::isal_inflate(&mut *st) };
        assert_eq!(r, 0);
        let used = (end - pos) - st.avail_in as usize;
        let made = (o_end - produced) - st.avail_out as usize;
        pos += used;
        produced += made;
        if st.block_state == ig::isal_block_state_ISAL_BLOCK_FINISH {
            assert_eq!(
                pos,
                c.len(),
                "isal left {} of {} unread",
                c.len() - pos,
                c.len()
            );
            return produced;
        }
    }
}
