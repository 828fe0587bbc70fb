//! Deflate against the system zlib: one-shot and streaming, every format and
//! level, random sizes up to 1 MiB; corrupt input; output-size contracts.

mod common;

use common::{data, z_check, z_compress, z_decompress, FORMATS};
use proptest::prelude::*;
use warpdrive_engines::{
    compress, compress_bound, compress_segment, decompress, segment_bound, update_check,
    DeflateStream, Flush, Format, InflateStream, Status, SEGMENT_HISTORY_MAX,
};

fn size_strategy() -> impl Strategy<Value = usize> {
    // Mostly small, sometimes up to 1 MiB (debug builds are slow).
    prop_oneof![4 => 0usize..=4096, 2 => 4096usize..=131_072, 1 => 131_072usize..=1_048_576]
}

fn ours_compress(format: Format, level: u32, src: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; compress_bound(format, src.len())];
    let o = compress(format, level, src, &mut out).expect("compress");
    assert_eq!(o.consumed, src.len());
    assert_eq!(o.checksum, z_check(format, src), "compress checksum");
    out.truncate(o.produced);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// Whatever we compress (any format, any level) system zlib restores, and
    /// whatever system zlib compresses we restore.
    #[test]
    fn one_shot_vs_system_zlib(len in size_strategy(), seed in any::<u64>(), kind in 0u8..4) {
        let src = data(len, seed, kind);
        for format in FORMATS {
            for level in 0..=9u32 {
                let ours = ours_compress(format, level, &src);
                let back = z_decompress(format, &ours).expect("zlib inflates ours");
                prop_assert!(back == src, "{format:?} level {level}: zlib restored different data");
            }
            for level in [0, 1, 6, 9] {
                let theirs = z_compress(format, level, &src);
                let mut out = vec![0u8; src.len()];
                let o = decompress(format, &theirs, &mut out).expect("we inflate zlib's");
                prop_assert_eq!(o.produced, src.len());
                prop_assert_eq!(o.consumed, theirs.len());
                prop_assert_eq!(o.checksum, z_check(format, &src));
                prop_assert!(out == src);
            }
        }
    }

    /// Streaming compression with random chunking and flushes gives a stream that
    /// zlib decodes to the input; streaming inflate of zlib's output with random
    /// chunking gives the input.
    #[test]
    fn streaming_vs_system_zlib(len in size_strategy(), seed in any::<u64>(), kind in 0u8..4,
                                level in 0u32..=9, fmt in 0usize..3, cuts in any::<u64>()) {
        streaming_round_trip(len, seed, kind, level, fmt, cuts)?;
    }

    /// Level 1 streams run on ISA-L: the same contract, more cases.
    #[test]
    fn isal_level_1_streams_vs_system_zlib(len in size_strategy(), seed in any::<u64>(), kind in 0u8..4,
                                           fmt in 0usize..3, cuts in any::<u64>()) {
        streaming_round_trip(len, seed, kind, 1, fmt, cuts)?;
    }

    /// Segments cut anywhere, each with up to 32 KiB of the data before it as
    /// history and compressed in any order, concatenate into one raw stream
    /// that system zlib restores; each reports its own CRC-32.
    #[test]
    fn segments_concatenate_into_one_stream(len in size_strategy(), seed in any::<u64>(), kind in 0u8..4,
                                            level in 0u32..=9, cuts in any::<u64>()) {
        let src = data(len, seed, kind);
        let mut rng = cuts | 1;
        let mut pieces = Vec::new();
        let mut pos = 0;
        loop {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let take = ((rng % 200_000) as usize).min(src.len() - pos);
            let keep = (rng >> 40) as usize % (SEGMENT_HISTORY_MAX + 1);
            pieces.push((pos.saturating_sub(keep), pos, pos + take));
            pos += take;
            if pos == src.len() {
                break;
            }
        }
        let mut outs = vec![Vec::new(); pieces.len()];
        // Last piece first: nothing may depend on the order of the calls.
        for (i, &(h, start, end)) in pieces.iter().enumerate().rev() {
            let mut out = vec![0u8; segment_bound(end - start)];
            let last = i + 1 == pieces.len();
            let o = compress_segment(level, &src[h..start], &src[start..end], &mut out, last)
                .expect("segment");
            prop_assert_eq!(o.consumed, end - start);
            prop_assert_eq!(o.checksum, z_check(Format::Raw, &src[start..end]));
            out.truncate(o.produced);
            outs[i] = out;
        }
        let whole = outs.concat();
        let back = z_decompress(Format::Raw, &whole).expect("zlib inflates the pieces");
        prop_assert!(back == src, "level {level}: {} pieces restored different data", pieces.len());
    }

    /// Inflate streams stop exactly where zlib stops: with bytes after the
    /// stream, tiny input and output pieces, and the running checksum after
    /// every call equal to zlib's over the output so far.
    #[test]
    fn streaming_inflate_stops_exactly_at_the_stream_end(len in 0usize..=200_000, seed in any::<u64>(),
            kind in 0u8..4, level in 0i32..=9, fmt in 0usize..3, cuts in any::<u64>(), tail_len in 0usize..40) {
        let format = FORMATS[fmt];
        let src = data(len, seed, kind);
        let mut rng = cuts | 1;
        let mut next = move |m: usize| { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; (rng % m as u64) as usize };
        let mut input = z_compress(format, level, &src);
        let stream_len = input.len();
        input.extend((0..tail_len).map(|i| (i as u8).wrapping_mul(37) ^ 0x1f));
        let (small_in, small_out) = (1 + next(3000), 1 + next(3000));
        let mut inf = InflateStream::new(format).expect("new");
        let (mut got, mut ipos) = (Vec::new(), 0);
        loop {
            let take = (1 + next(small_in)).min(input.len() - ipos);
            let mut buf = vec![0u8; 1 + next(small_out)];
            let o = inf.run(&input[ipos..ipos + take], &mut buf).expect("inflate");
            prop_assert!(o.consumed <= take && o.produced <= buf.len());
            got.extend_from_slice(&buf[..o.produced]);
            ipos += o.consumed;
            prop_assert!(ipos <= stream_len, "read past the end of the stream");
            prop_assert_eq!(o.checksum, z_check(format, &got));
            if o.stream_end { break; }
            prop_assert!(o.consumed > 0 || o.produced > 0, "no progress");
            // zlib's contract: input is left over only when the output is full.
            prop_assert!(o.produced == buf.len() || o.consumed == take, "input left with room to write");
        }
        prop_assert_eq!(ipos, stream_len);
        prop_assert_eq!(inf.totals(), (stream_len as u64, src.len() as u64));
        prop_assert!(got == src);
    }

    /// A damaged stream: wherever zlib fails we fail, and where zlib succeeds
    /// we produce its output.
    #[test]
    fn streaming_inflate_judges_damage_as_zlib_does(len in 1usize..=100_000, seed in any::<u64>(),
            kind in 0u8..4, fmt in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>()) {
        let format = FORMATS[fmt];
        let mut input = z_compress(format, 6, &data(len, seed, kind));
        for (at, x) in flips {
            let at = at % input.len();
            input[at] ^= x.max(1);
        }
        if cut % 4 == 0 {
            input.truncate(cut % input.len());
        }
        let theirs = z_decompress(format, &input);
        let mut inf = InflateStream::new(format).expect("new");
        let (mut got, mut ipos) = (Vec::new(), 0);
        let ours = loop {
            let mut buf = vec![0u8; 4096];
            match inf.run(&input[ipos..(ipos + 1000).min(input.len())], &mut buf) {
                Ok(o) => {
                    got.extend_from_slice(&buf[..o.produced]);
                    ipos += o.consumed;
                    if o.stream_end { break Ok(got); }
                    if o.consumed == 0 && o.produced == 0 { break Err(()); }
                }
                Err(_) => break Err(()),
            }
        };
        match theirs {
            Ok(t) => prop_assert!(ours.ok() == Some(t), "zlib accepted, we did not or differ"),
            Err(_) => prop_assert!(ours.is_err(), "zlib rejected, we accepted"),
        }
    }
}

/// Streaming compression with random chunking and flushes gives a stream that
/// zlib decodes to the input; streaming inflate of zlib's output with random
/// chunking gives the input.
fn streaming_round_trip(
    len: usize,
    seed: u64,
    kind: u8,
    level: u32,
    fmt: usize,
    cuts: u64,
) -> Result<(), TestCaseError> {
    let format = FORMATS[fmt];
    let src = data(len, seed, kind);
    let mut rng = cuts | 1;
    let mut next = move |m: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % m as u64) as usize
    };

    let mut s = DeflateStream::new(format, level).expect("new");
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let take = next(70_000).min(src.len() - pos);
        let last = pos + take == src.len();
        let flush = if last {
            Flush::Finish
        } else {
            match next(8) {
                0 => Flush::Sync,
                1 => Flush::Full,
                _ => Flush::None,
            }
        };
        let mut input = &src[pos..pos + take];
        // zlib contract: with a flush, call until all input is used and output
        // stops filling the buffer; with Finish, until stream_end.
        loop {
            let mut buf = vec![0u8; 1 + next(40_000)];
            let o = s.run(input, &mut buf, flush).expect("run");
            prop_assert!(o.produced <= buf.len() && o.consumed <= input.len());
            out.extend_from_slice(&buf[..o.produced]);
            input = &input[o.consumed..];
            if o.stream_end {
                prop_assert!(last && input.is_empty());
                break;
            }
            if input.is_empty() && o.produced < buf.len() && flush != Flush::Finish {
                break;
            }
        }
        pos += take;
        if last {
            break;
        }
    }
    prop_assert_eq!(s.checksum(), z_check(format, &src));
    let back = z_decompress(format, &out).expect("zlib inflates our stream");
    prop_assert!(back == src);

    let theirs = z_compress(format, level as i32, &src);
    let mut inf = InflateStream::new(format).expect("new");
    let mut got = Vec::new();
    let mut ipos = 0;
    let mut ended = false;
    for _ in 0..10_000_000 {
        let take = (1 + next(50_000)).min(theirs.len() - ipos);
        let mut buf = vec![0u8; 1 + next(60_000)];
        let o = inf
            .run(&theirs[ipos..ipos + take], &mut buf)
            .expect("inflate");
        got.extend_from_slice(&buf[..o.produced]);
        ipos += o.consumed;
        if o.stream_end {
            ended = true;
            break;
        }
    }
    prop_assert!(ended);
    prop_assert_eq!(ipos, theirs.len());
    prop_assert_eq!(inf.checksum(), z_check(format, &src));
    prop_assert!(got == src);
    Ok(())
}

#[test]
fn segment_contract() {
    let src = data(100_000, 7, 1);
    let mut small = [0u8; 100];
    assert_eq!(
        compress_segment(6, &[], &src, &mut small, false),
        Err(Status::DstTooSmall {
            needed: segment_bound(src.len())
        })
    );
    let long = vec![0u8; SEGMENT_HISTORY_MAX + 1];
    let mut out = vec![0u8; segment_bound(src.len())];
    assert_eq!(
        compress_segment(6, &long, &src, &mut out, false),
        Err(Status::InvalidParam)
    );
    assert_eq!(
        compress_segment(10, &[], &src, &mut out, false),
        Err(Status::InvalidParam)
    );
    // A refused call leaves nothing behind: the next one on this thread works.
    let o = compress_segment(6, &[], &src, &mut out, true).expect("segment");
    assert_eq!(z_decompress(Format::Raw, &out[..o.produced]).unwrap(), src);
    // History is used as a stream would use it: a repeat of the history costs
    // what it costs after the same data in one stream.
    let mut stream = DeflateStream::new(Format::Raw, 6).expect("new");
    stream
        .run(&src[..30_000], &mut out, Flush::Sync)
        .expect("run");
    let in_stream = stream
        .run(&src[..30_000], &mut out, Flush::Finish)
        .expect("run");
    let alone = compress_segment(6, &[], &src[..30_000], &mut out, true).expect("segment");
    let o = compress_segment(6, &src[..30_000], &src[..30_000], &mut out, true).expect("segment");
    assert!(
        o.produced <= in_stream.produced + 8 && o.produced * 2 < alone.produced,
        "repeat of the history: {} bytes, {} in one stream, {} without history",
        o.produced,
        in_stream.produced,
        alone.produced
    );
}

#[test]
fn empty_input_all_levels() {
    for format in FORMATS {
        for level in 0..=9 {
            let c = ours_compress(format, level, b"");
            assert_eq!(z_decompress(format, &c).expect("inflate"), b"");
            let mut out = [0u8; 0];
            let o = decompress(format, &c, &mut out).expect("ours");
            assert_eq!((o.produced, o.consumed), (0, c.len()));
        }
    }
}

#[test]
fn incompressible_fits_bound_exactly() {
    for len in [0, 1, 100, 16_383, 16_384, 65_535, 65_536, 300_001] {
        let src = data(len, 7, 0);
        for format in FORMATS {
            for level in 0..=9 {
                let mut out = vec![0u8; compress_bound(format, len)];
                let o = compress(format, level, &src, &mut out)
                    .unwrap_or_else(|e| panic!("{format:?} {level} {len}: {e}"));
                assert_eq!(z_decompress(format, &out[..o.produced]).expect("ok"), src);
            }
        }
    }
}

#[test]
fn compress_dst_too_small_says_bound_and_stays_in_bounds() {
    let src = data(50_000, 3, 0);
    for format in FORMATS {
        for level in 0..=9 {
            let mut out = vec![0x5Au8; 1000 + 64];
            let r = compress(format, level, &src, &mut out[..1000]);
            assert_eq!(
                r,
                Err(Status::DstTooSmall {
                    needed: compress_bound(format, src.len())
                })
            );
            assert!(out[1000..].iter().all(|&b| b == 0x5A), "wrote past dst");
        }
    }
    assert_eq!(
        compress(Format::Raw, 10, b"x", &mut [0u8; 64]),
        Err(Status::InvalidParam)
    );
    assert!(DeflateStream::new(Format::Raw, 10).is_err());
}

#[test]
fn decompress_errors() {
    let src = data(100_000, 11, 3);
    for format in FORMATS {
        let c = ours_compress(format, 6, &src);
        let mut out = vec![0u8; src.len() + 10];

        // Too small: exact size needed, nothing past dst written.
        let mut small = vec![0x5Au8; src.len()];
        let r = decompress(format, &c, &mut small[..src.len() - 1]);
        assert_eq!(
            r,
            Err(Status::DstTooSmall { needed: src.len() }),
            "{format:?}"
        );
        assert_eq!(small[src.len() - 1], 0x5A);

        // Truncated anywhere: DataError.
        for cut in [0, 1, c.len() / 3, c.len() / 2, c.len() - 5, c.len() - 1] {
            let r = decompress(format, &c[..cut], &mut out);
            assert_eq!(r, Err(Status::DataError), "{format:?} truncated at {cut}");
        }
        // Trailing bytes after the stream are not consumed.
        let mut more = c.clone();
        more.extend_from_slice(b"trailing");
        let o = decompress(format, &more, &mut out).expect("trailing");
        assert_eq!((o.consumed, o.produced), (c.len(), src.len()));

        // Bad trailer: ChecksumMismatch.
        if format != Format::Raw {
            let mut bad = c.clone();
            let n = bad.len();
            let at = if format == Format::Zlib { n - 1 } else { n - 5 }; // adler / crc
            bad[at] ^= 1;
            assert_eq!(
                decompress(format, &bad, &mut out),
                Err(Status::ChecksumMismatch),
                "{format:?}"
            );
            if format == Format::Gzip {
                let mut bad = c.clone();
                bad[n - 1] ^= 1; // ISIZE
                assert_eq!(
                    decompress(format, &bad, &mut out),
                    Err(Status::ChecksumMismatch)
                );
            }
        }
        // Bit flips in the body: an error (never a panic, never success with
        // wrong data for the checksummed formats).
        for i in 0..200 {
            let mut bad = c.clone();
            let pos = (i * 7919) % bad.len();
            bad[pos] ^= 1 << (i % 8);
            match decompress(format, &bad, &mut out) {
                Ok(o) if format == Format::Raw => assert!(o.produced <= out.len()),
                Ok(o) => assert_eq!(
                    &out[..o.produced],
                    &src[..],
                    "{format:?} flip at {pos} accepted"
                ),
                Err(e) => assert!(
                    matches!(
                        e,
                        Status::DataError | Status::ChecksumMismatch | Status::DstTooSmall { .. }
                    ),
                    "{e:?}"
                ),
            }
        }
        // Streaming inflate of corrupt data reports the same classes.
        let mut bad = c.clone();
        let n = bad.len();
        if format != Format::Raw {
            bad[n - 1 - usize::from(format == Format::Gzip) * 4] ^= 0x80;
            let mut inf = InflateStream::new(format).expect("new");
            let r = inf.run(&bad, &mut out);
            assert_eq!(r, Err(Status::ChecksumMismatch), "{format:?} stream");
        }
        let mut garbage = c.clone();
        garbage[0] ^= 0xFF;
        garbage[1] ^= 0xFF;
        let mut inf = InflateStream::new(format).expect("new");
        if format != Format::Raw {
            assert_eq!(
                inf.run(&garbage, &mut out),
                Err(Status::DataError),
                "{format:?}"
            );
        }
    }
}

#[test]
fn deflate_stream_contract() {
    // Tiny output buffers: never more than asked, pending output drained by
    // repeated Finish; data after the end is refused.
    let src = data(200_000, 5, 1);
    for format in FORMATS {
        let mut s = DeflateStream::new(format, 6).expect("new");
        let mut out = Vec::new();
        let mut input = &src[..];
        let mut calls = 0;
        loop {
            let mut buf = [0u8; 7];
            let o = s.run(input, &mut buf, Flush::Finish).expect("run");
            out.extend_from_slice(&buf[..o.produced]);
            input = &input[o.consumed..];
            calls += 1;
            if o.stream_end {
                break;
            }
            assert!(o.more_output || !input.is_empty());
        }
        assert!(calls > 10);
        assert_eq!(z_decompress(format, &out).expect("inflate"), src);
        assert_eq!(
            s.run(b"more", &mut [0u8; 64], Flush::Finish),
            Err(Status::BadStream)
        );
        let again = s.run(b"", &mut [0u8; 64], Flush::Finish).expect("again");
        assert!(again.stream_end && again.produced == 0);
        // Reset starts a new, independent stream.
        s.reset();
        let mut buf = vec![0u8; compress_bound(format, 5)];
        let o = s
            .run(b"hello", &mut buf, Flush::Finish)
            .expect("after reset");
        assert!(o.stream_end);
        assert_eq!(
            z_decompress(format, &buf[..o.produced]).expect("ok"),
            b"hello"
        );
        // Sync flush: everything so far is decodable.
        let mut s = DeflateStream::new(format, 1).expect("new");
        let mut buf = vec![0u8; 1 << 16];
        let o = s.run(b"sync me", &mut buf, Flush::Sync).expect("sync");
        assert_eq!(o.consumed, 7);
        assert!(!o.more_output);
        if format == Format::Raw {
            assert_eq!(&buf[o.produced - 4..o.produced], &[0, 0, 0xff, 0xff]);
        }
        // Zero-size output: no progress, no error (zlib's Z_BUF_ERROR is benign).
        let o = s.run(b"x", &mut [], Flush::None).expect("empty dst");
        assert_eq!(o.produced, 0);
    }
}

/// The level mapping's promise over the project corpus: at every level 0..=9 the
/// total compressed size is no larger than system zlib's. Heavy (about a minute
/// in release): `WARPDRIVE_CORPUS=target/corpus cargo test --release -p
/// warpdrive-engines --test deflate -- --ignored`.
#[test]
#[ignore = "heavy: needs the unpacked corpus and a release build"]
fn corpus_sizes_not_larger_than_system_zlib() {
    let dir = std::env::var("WARPDRIVE_CORPUS").unwrap_or_else(|_| "../target/corpus".into());
    let files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "xz"))
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    assert!(!files.is_empty(), "empty corpus dir {dir}");
    for level in 0..=9u32 {
        let (mut zs, mut os) = (0usize, 0usize);
        for f in &files {
            zs += z_compress(Format::Zlib, level as i32, f).len();
            os += ours_compress(Format::Zlib, level, f).len();
        }
        eprintln!("level {level}: zlib {zs} ours {os}");
        assert!(os <= zs, "level {level}: ours {os} > zlib {zs}");
    }
}

/// Found by the `inflate` fuzz target: an invalid literal/length code in a
/// fixed-Huffman block, which system zlib rejects and libdeflate accepted.
#[test]
fn raw_deflate_is_judged_as_zlib_judges_it() {
    let bad = [
        0x63u8, 0x30, 0x0a, 0x5d, 0x01, 0x41, 0x63, 0x30, 0x0a, 0x5d, 0x01, 0x41, 0x00, 0x38, 0x41,
        0xf1,
    ];
    let mut out = vec![0u8; 1 << 16];
    assert_eq!(
        warpdrive_engines::decompress(warpdrive_engines::Format::Raw, &bad, &mut out),
        Err(warpdrive_engines::Status::DataError)
    );
}

/// Inputs the `inflate` fuzz target found (a selector byte, then the stream):
/// ISA-L handed back more buffered bytes than the call had given it; ISA-L
/// accepted a raw stream zlib refuses. Streaming them in 777-byte pieces
/// must end as zlib ends, never in a panic.
#[test]
fn fuzz_found_inflate_inputs_fail_cleanly() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/inflate-regressions"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("regression dir") {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        let Some((&sel, input)) = data.split_first() else {
            continue;
        };
        let format = FORMATS[sel as usize % 3];
        let zlib_refuses = z_decompress(format, input).is_err();
        let mut inf = InflateStream::new(format).expect("new");
        let mut rest = input;
        let mut buf = [0u8; 777];
        for _ in 0..100_000 {
            match inf.run(rest, &mut buf) {
                Ok(o) if o.stream_end => {
                    assert!(!zlib_refuses, "accepted a stream zlib refuses");
                    break;
                }
                Ok(o) if o.consumed == 0 && o.produced == 0 => break,
                Ok(o) => rest = &rest[o.consumed..],
                Err(e) => {
                    // A failed stream stays failed, as zlib's does.
                    assert_eq!(inf.run(rest, &mut buf).err(), Some(e));
                    break;
                }
            }
        }
        seen += 1;
    }
    assert!(seen >= 2);
}

/// update_check chains like zlib's adler32()/crc32(): pieces of any size,
/// from the empty check, give the check of the whole.
#[test]
fn update_check_chains_like_zlibs() {
    let src = data(300_000, 5, 3);
    for format in FORMATS {
        let empty = if format == Format::Zlib { 1 } else { 0 };
        for piece in [1, 7, 3001, 65536, 300_000] {
            let c = src
                .chunks(piece)
                .fold(empty, |c, p| update_check(format, c, p));
            assert_eq!(c, z_check(format, &src), "{format:?} in pieces of {piece}");
        }
    }
}
