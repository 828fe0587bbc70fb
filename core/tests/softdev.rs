//! The full path through the software device: requests forced onto queues
//! (inline threshold 0), results checked against the inline engines and the
//! system references, counters checked to prove the queue path ran.

use std::sync::Arc;

use warpdrive::{
    BackendChoice, CipherMode, Config, Deflater, Direction, Error, Flush, Format, HashAlg,
    Inflater, InlineMax, Warpdrive,
};

fn offloading() -> Arc<Warpdrive> {
    offloading_on(1)
}

/// A software device with `engines` engine threads, every request offloaded.
fn offloading_on(engines: usize) -> Arc<Warpdrive> {
    Arc::new(
        Warpdrive::new(Config {
            backend: BackendChoice::Softdev,
            inline_max: InlineMax::all(0),
            engines,
            ..Config::default()
        })
        .unwrap(),
    )
}

fn inline() -> Warpdrive {
    Warpdrive::new(Config {
        backend: BackendChoice::Inline,
        ..Config::default()
    })
    .unwrap()
}

fn sample(len: usize, seed: u64) -> Vec<u8> {
    // Compressible but not trivial: words from a small vocabulary.
    let words: [&[u8]; 8] = [
        b"warp ",
        b"drive ",
        b"queue ",
        b"ring ",
        b"engine ",
        b"deflate ",
        b"\n",
        b"0123456789 ",
    ];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(x >> 61) as usize]);
        if x & 0x100 != 0 {
            out.push((x >> 24) as u8);
        }
    }
    out.truncate(len);
    out
}

#[test]
fn compression_round_trips_through_the_queue_in_every_format() {
    let wd = offloading();
    let data = sample(300_000, 1);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        for level in [0, 1, 6, 9] {
            let mut c = vec![0; warpdrive::compress_bound(format, data.len())];
            let n = wd.compress(format, level, &data, &mut c).unwrap();
            let mut back = vec![0; data.len()];
            let p = wd.decompress(format, &c[..n], &mut back).unwrap();
            assert_eq!(p.produced, data.len(), "{format:?} level {level}");
            assert_eq!(p.consumed, n);
            assert!(back == data, "{format:?} level {level}: round trip differs");
        }
    }
    let s = wd.stats();
    assert_eq!(
        s.inline, 0,
        "threshold 0 must send everything to the queue: {s:?}"
    );
    assert_eq!(s.offloaded, 24);
    assert_eq!(s.fallbacks, 0);
}

#[test]
fn queue_results_equal_inline_results() {
    let (wd, sw) = (offloading(), inline());
    let data = sample(70_000, 2);
    let key = [7u8; 32];
    let iv = [9u8; 12];
    let (mut a, mut b) = (vec![0; data.len()], vec![0; data.len()]);
    let (mut ta, mut tb) = ([0u8; 16], [0u8; 16]);
    wd.aead_seal(&key, &iv, b"header", &data, &mut a, &mut ta)
        .unwrap();
    sw.aead_seal(&key, &iv, b"header", &data, &mut b, &mut tb)
        .unwrap();
    assert!(
        a == b && ta == tb,
        "AES-GCM differs between queue and inline"
    );
    for alg in [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ] {
        let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
        let n = wd.hmac(alg, b"key", &data, &mut x).unwrap();
        assert_eq!(sw.hmac(alg, b"key", &data, &mut y).unwrap(), n);
        assert_eq!(x[..n], y[..n], "{alg:?} HMAC differs");
        let n = wd.digest(alg, &data, &mut x).unwrap();
        sw.digest(alg, &data, &mut y).unwrap();
        assert_eq!(x[..n], y[..n], "{alg:?} digest differs");
    }
    for mode in [CipherMode::Ctr, CipherMode::Cbc] {
        let mut x = vec![0; data.len() + 16];
        let mut y = vec![0; data.len() + 16];
        let n = wd
            .cipher(
                mode,
                Direction::Encrypt,
                &key[..16],
                &[1; 16],
                true,
                &data,
                &mut x,
            )
            .unwrap();
        let m = sw
            .cipher(
                mode,
                Direction::Encrypt,
                &key[..16],
                &[1; 16],
                true,
                &data,
                &mut y,
            )
            .unwrap();
        assert_eq!(x[..n], y[..m], "{mode:?} differs");
        let mut back = vec![0; data.len() + 16];
        let k = wd
            .cipher(
                mode,
                Direction::Decrypt,
                &key[..16],
                &[1; 16],
                true,
                &x[..n],
                &mut back,
            )
            .unwrap();
        assert!(back[..k] == data[..], "{mode:?} does not round trip");
    }
    assert!(wd.stats().offloaded >= 15);
}

#[test]
fn a_wrong_tag_fails_and_releases_nothing() {
    let wd = offloading();
    let data = sample(5000, 3);
    let mut ct = vec![0; data.len()];
    let mut tag = [0u8; 16];
    wd.aead_seal(&[1; 16], &[2; 12], b"", &data, &mut ct, &mut tag)
        .unwrap();
    tag[3] ^= 1;
    let mut pt = vec![0xAA; data.len()];
    let err = wd
        .aead_open(&[1; 16], &[2; 12], b"", &ct, &tag, &mut pt)
        .unwrap_err();
    assert!(matches!(err, Error::AuthFailed), "{err:?}");
    assert!(
        pt.iter().all(|&b| b == 0),
        "plaintext released after a failed tag check"
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    let wd = offloading();
    let mut out = [0u8; 64];
    let mut tag = [0u8; 16];
    assert!(matches!(
        wd.aead_seal(&[0; 15], &[0; 12], b"", b"x", &mut out, &mut tag),
        Err(Error::InvalidLength { .. })
    ));
    assert!(matches!(
        wd.aead_seal(&[0; 16], &[0; 12], b"", b"x", &mut out, &mut tag[..3]),
        Err(Error::InvalidLength { .. })
    ));
    assert!(matches!(
        wd.cipher(
            CipherMode::Cbc,
            Direction::Encrypt,
            &[0; 16],
            &[0; 8],
            true,
            b"x",
            &mut out
        ),
        Err(Error::InvalidLength { .. })
    ));
    assert!(matches!(
        wd.digest(HashAlg::Sha512, b"x", &mut out[..63]),
        Err(Error::OutputTooSmall { needed: Some(64) })
    ));
    assert!(matches!(
        wd.compress(Format::Zlib, 10, b"x", &mut out),
        Err(Error::InvalidArgument(_))
    ));
    // Output too small: an error saying how much, never a short success.
    let data = sample(100_000, 4);
    let mut small = vec![0u8; 100];
    assert!(matches!(
        wd.compress(Format::Gzip, 6, &data, &mut small),
        Err(Error::OutputTooSmall { .. })
    ));
    let mut c = vec![0; 200_000];
    let n = wd.compress(Format::Gzip, 6, &data, &mut c).unwrap();
    let mut short = vec![0u8; data.len() - 1];
    assert!(matches!(
        wd.decompress(Format::Gzip, &c[..n], &mut short),
        Err(Error::OutputTooSmall { .. })
    ));
}

#[test]
fn corrupt_streams_are_rejected_by_the_queue_path() {
    let wd = offloading();
    let data = sample(50_000, 5);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        let mut c = vec![0; 60_000];
        let n = wd.compress(format, 6, &data, &mut c).unwrap();
        let mut out = vec![0; data.len()];
        // Truncated.
        assert!(
            wd.decompress(format, &c[..n / 2], &mut out).is_err(),
            "{format:?} truncated accepted"
        );
        // Bad checksum (zlib/gzip trailers).
        if format != Format::Raw {
            let mut bad = c[..n].to_vec();
            let at = if format == Format::Gzip { n - 6 } else { n - 2 };
            bad[at] ^= 0x55;
            let e = wd.decompress(format, &bad, &mut out).unwrap_err();
            assert!(
                matches!(e, Error::ChecksumMismatch | Error::DataError(_)),
                "{format:?}: {e:?}"
            );
        }
        // Garbage.
        let junk: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(wd.decompress(format, &junk, &mut out).is_err());
    }
}

#[test]
fn streams_keep_state_in_the_engine_and_match_zlib() {
    let wd = offloading();
    let data = sample(400_000, 6);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        let mut d = Deflater::with_instance(wd.clone(), format, 6).unwrap();
        let mut compressed = Vec::new();
        let mut buf = vec![0u8; 10_000];
        for (i, chunk) in data.chunks(65_536).enumerate() {
            let flush = if i % 3 == 2 { Flush::Sync } else { Flush::None };
            let mut input = chunk;
            loop {
                let p = d.deflate(input, &mut buf, flush).unwrap();
                compressed.extend_from_slice(&buf[..p.produced]);
                input = &input[p.consumed..];
                if input.is_empty() && p.produced < buf.len() {
                    break;
                }
            }
        }
        assert!(d.is_offloaded());
        loop {
            let p = d.deflate(&[], &mut buf, Flush::Finish).unwrap();
            compressed.extend_from_slice(&buf[..p.produced]);
            if p.done {
                break;
            }
        }
        // The one-shot decoder (another engine) restores it.
        let mut back = vec![0; data.len()];
        let p = wd.decompress(format, &compressed, &mut back).unwrap();
        assert_eq!(p.produced, data.len());
        assert!(back == data, "{format:?} stream round trip differs");
        // And a streaming inflate through the queue, with a tiny output buffer.
        let mut inf = Inflater::with_instance(wd.clone(), format).unwrap();
        let mut restored = Vec::new();
        let mut input = &compressed[..];
        let mut small = vec![0u8; 3000];
        loop {
            let p = inf.inflate(input, &mut small).unwrap();
            restored.extend_from_slice(&small[..p.produced]);
            input = &input[p.consumed..];
            if p.done {
                break;
            }
            assert!(p.consumed > 0 || p.produced > 0, "no progress");
        }
        assert!(restored == data);
    }
}

#[test]
fn many_threads_many_queues_nothing_lost_or_duplicated() {
    let wd = Arc::new(
        Warpdrive::new(Config {
            backend: BackendChoice::Softdev,
            inline_max: InlineMax::all(0),
            engines: 2,
            max_queues: 3, // fewer queues than threads: some requests run inline
            ..Config::default()
        })
        .unwrap(),
    );
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let wd = wd.clone();
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let data = sample(100 + ((i * 7919 + t) % 5000) as usize, i * 31 + t);
                    match i % 3 {
                        0 => {
                            let mut c = vec![0; 8000];
                            let n = wd.compress(Format::Zlib, 1, &data, &mut c).unwrap();
                            let mut back = vec![0; data.len()];
                            wd.decompress(Format::Zlib, &c[..n], &mut back).unwrap();
                            assert!(back == data);
                        }
                        1 => {
                            let mut out = [0u8; 32];
                            wd.digest(HashAlg::Sha256, &data, &mut out).unwrap();
                            let mut reference = [0u8; 32];
                            inline()
                                .digest(HashAlg::Sha256, &data, &mut reference)
                                .unwrap();
                            assert_eq!(out, reference);
                        }
                        _ => {
                            let mut ct = vec![0; data.len()];
                            let mut tag = [0u8; 16];
                            let iv = (i as u32).to_be_bytes().repeat(3);
                            wd.aead_seal(&[3; 16], &iv, b"a", &data, &mut ct, &mut tag)
                                .unwrap();
                            let mut pt = vec![0; data.len()];
                            wd.aead_open(&[3; 16], &iv, b"a", &ct, &tag, &mut pt)
                                .unwrap();
                            assert!(pt == data);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = wd.stats();
    assert_eq!(s.errors, 0, "{s:?}");
    assert_eq!(
        s.offloaded + s.inline,
        6 * (300 + 100 + 100),
        "every request counted once: {s:?}"
    );
    assert!(s.offloaded > 0);
    assert!(s.queues <= 3);
}

#[test]
fn a_removed_device_falls_back_inline_without_losing_requests() {
    let wd = offloading();
    let data = sample(40_000, 8);
    let mut c = vec![0; 50_000];
    let before = wd.compress(Format::Zlib, 6, &data, &mut c).unwrap();
    assert_eq!(wd.stats().offloaded, 1);
    assert!(wd.remove_soft_device());
    // Every later request still gets a correct answer, from the inline engine.
    for _ in 0..3 {
        let n = wd.compress(Format::Zlib, 6, &data, &mut c).unwrap();
        assert_eq!(n, before);
        let mut back = vec![0; data.len()];
        wd.decompress(Format::Zlib, &c[..n], &mut back).unwrap();
        assert!(back == data);
    }
    let s = wd.stats();
    assert!(
        s.fallbacks >= 1,
        "the dead queue must be noticed and counted: {s:?}"
    );
    assert!(s.inline >= 6, "{s:?}");
}

#[test]
fn async_requests_complete_once_each_with_their_cookie() {
    use std::collections::BTreeSet;
    use warpdrive::{AsyncQueue, Operation, Request};
    let wd = offloading();
    let mut q = AsyncQueue::new(&wd).unwrap();
    let inputs: Vec<Vec<u8>> = (0..500)
        .map(|i| sample(1 + i * 37 % 9000, i as u64))
        .collect();
    let mut pending: BTreeSet<u64> = BTreeSet::new();
    let mut done: BTreeSet<u64> = BTreeSet::new();
    let check = |c: warpdrive::Completion, done: &mut BTreeSet<u64>| {
        assert!(done.insert(c.cookie), "cookie {} completed twice", c.cookie);
        let i = c.cookie as usize;
        let mut reference = [0u8; 32];
        inline()
            .digest(HashAlg::Sha256, &inputs[i], &mut reference)
            .unwrap();
        assert_eq!(c.result.unwrap(), 32);
        assert_eq!(
            c.output, reference,
            "request {i} got another request's answer"
        );
        assert_eq!(c.input, inputs[i]);
    };
    for (i, input) in inputs.iter().enumerate() {
        let mut req = Request {
            op: Operation::Digest(HashAlg::Sha256),
            input: input.clone(),
            output_capacity: 32,
            cookie: i as u64,
        };
        loop {
            match q.submit(req) {
                Ok(()) => break,
                Err((warpdrive::Error::Busy, back)) => {
                    req = back;
                    let c = q.wait().unwrap();
                    pending.remove(&c.cookie);
                    check(c, &mut done);
                }
                Err((e, _)) => panic!("{e}"),
            }
        }
        pending.insert(i as u64);
    }
    while q.in_flight() > 0 {
        let c = q.wait().unwrap();
        pending.remove(&c.cookie);
        check(c, &mut done);
    }
    assert!(pending.is_empty());
    assert_eq!(done.len(), inputs.len());
    assert!(
        wd.stats().max_inflight > 1,
        "more than one request must have been in flight"
    );
}

#[test]
fn dropping_a_queue_with_requests_in_flight_is_safe() {
    use warpdrive::{AsyncQueue, Operation, Request};
    let wd = offloading();
    for round in 0..20 {
        let mut q = AsyncQueue::new(&wd).unwrap();
        for i in 0..64u64 {
            let req = Request {
                op: Operation::Compress {
                    format: Format::Gzip,
                    level: 6,
                },
                input: sample(20_000, i + round),
                output_capacity: 30_000,
                cookie: i,
            };
            if q.submit(req).is_err() {
                break;
            }
        }
        q.flush().unwrap();
        drop(q); // completes or cancels each; buffers freed only afterwards
    }
    let s = wd.device_stats().unwrap();
    assert!(s.requests > 0);
}

#[test]
fn bad_requests_on_the_async_path_are_rejected_before_the_ring() {
    use warpdrive::{AsyncQueue, Operation, Request};
    let wd = offloading();
    let mut q = AsyncQueue::new(&wd).unwrap();
    let bad = Request {
        op: Operation::Seal {
            alg: warpdrive::Aead::AesGcm,
            key: vec![0; 20],
            iv: vec![0; 12],
            aad: vec![],
            tag_len: 16,
        },
        input: vec![1; 10],
        output_capacity: 10,
        cookie: 1,
    };
    let (e, back) = q.submit(bad).unwrap_err();
    assert!(matches!(e, warpdrive::Error::InvalidLength { .. }));
    assert_eq!(back.input, vec![1; 10], "the request is handed back intact");
    // Output too small is the engine's call: an error completion, no write past the end.
    let small = Request {
        op: Operation::Digest(HashAlg::Sha512),
        input: vec![1; 10],
        output_capacity: 10,
        cookie: 2,
    };
    q.submit(small).unwrap();
    let c = q.wait().unwrap();
    assert!(
        matches!(c.result, Err(warpdrive::Error::OutputTooSmall { .. })),
        "{:?}",
        c.result
    );
}

#[test]
fn a_stream_without_flushes_becomes_one_request_and_keeps_zlibs_contract() {
    let wd = offloading();
    // Within the 128 KiB a session buffers (longer streams go in segments).
    let data = sample(120_000, 11);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        let mut d = Deflater::with_instance(wd.clone(), format, 1).unwrap();
        let before = wd.stats().offloaded;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        for chunk in data.chunks(64 << 10) {
            let p = d.deflate(chunk, &mut buf, Flush::None).unwrap();
            assert_eq!(p.consumed, chunk.len(), "buffered input is consumed");
            out.extend_from_slice(&buf[..p.produced]);
        }
        let copy = d.try_clone().expect("a buffering session can be copied");
        loop {
            let p = d.deflate(&[], &mut buf, Flush::Finish).unwrap();
            assert!(p.produced <= buf.len());
            out.extend_from_slice(&buf[..p.produced]);
            if p.done {
                break;
            }
        }
        assert!(!d.is_streaming());
        assert_eq!(
            wd.stats().offloaded,
            before + 1,
            "the whole stream is one queue request"
        );
        let mut back = vec![0; data.len()];
        let p = inline().decompress(format, &out, &mut back).unwrap();
        assert_eq!(p.produced, data.len());
        assert!(back == data, "{format:?}");
        // The copy finishes the same stream independently.
        let mut copy = copy;
        let mut out2 = vec![0u8; warpdrive::compress_bound(format, data.len())];
        let p = copy.deflate(&[], &mut out2, Flush::Finish).unwrap();
        assert!(p.done);
        assert_eq!(&out2[..p.produced], &out[..], "copy and original disagree");
        // After the end, only Finish with no input is allowed.
        assert!(d.deflate(b"more", &mut buf, Flush::Finish).is_err());
        // The checksum is the one the format carries.
        let expected = match format {
            Format::Zlib => u32::from_be_bytes(out[out.len() - 4..].try_into().unwrap()),
            Format::Gzip => {
                u32::from_le_bytes(out[out.len() - 8..out.len() - 4].try_into().unwrap())
            }
            Format::Raw => d.checksum(),
        };
        assert_eq!(d.checksum(), expected, "{format:?} checksum");
    }
}

#[test]
fn the_wait_fd_turns_readable_when_completions_arrive() {
    use warpdrive::{AsyncQueue, Operation, Request};
    let wd = offloading();
    let mut q = AsyncQueue::new(&wd).unwrap();
    let fd = q.wait_fd().unwrap();
    let readable = |timeout_ms: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout_ms) == 1 }
    };
    assert!(!readable(0), "nothing submitted, nothing to report");
    for i in 0..8 {
        let req = Request {
            op: Operation::Digest(HashAlg::Sha256),
            input: sample(10_000, i),
            output_capacity: 32,
            cookie: i,
        };
        q.submit(req).unwrap();
    }
    q.flush().unwrap();
    let mut got = 0;
    while got < 8 {
        assert!(
            readable(5_000),
            "the wait fd never fired with {} requests pending",
            8 - got
        );
        q.ack_wait_fd();
        while let Some(c) = q.poll().unwrap() {
            assert_eq!(c.result.unwrap(), 32);
            got += 1;
        }
    }
    q.ack_wait_fd();
    assert!(
        !readable(50),
        "re-armed fd must not stay readable with nothing pending"
    );
}

/// A caller with small output buffers gets its output from staged
/// requests: a whole 300 KB stream drained 10 KB at a time is one request,
/// bytes after the stream stay unconsumed, and the checksum is the trailer's.
#[test]
fn small_output_buffers_are_served_from_one_staged_request() {
    let wd = offloading();
    let data = sample(300_000, 12);
    let mut c = vec![0; 400_000];
    let n = wd.compress(Format::Gzip, 6, &data, &mut c).unwrap();
    let mut input = c[..n].to_vec();
    input.extend_from_slice(b"TRAILER");
    let mut inf = Inflater::with_instance(wd.clone(), Format::Gzip).unwrap();
    let before = wd.stats().offloaded;
    let mut out = Vec::new();
    let mut buf = [0u8; 10_000];
    let mut rest = &input[..];
    loop {
        let p = inf.inflate(rest, &mut buf).unwrap();
        out.extend_from_slice(&buf[..p.produced]);
        rest = &rest[p.consumed..];
        if p.done {
            break;
        }
    }
    assert!(inf.is_offloaded());
    assert_eq!(wd.stats().offloaded - before, 1, "one staged request");
    assert_eq!(
        rest, b"TRAILER",
        "input after the stream must be left unconsumed"
    );
    assert!(out == data);
    let crc = u32::from_le_bytes(c[n - 8..n - 4].try_into().unwrap());
    assert_eq!(inf.checksum(), crc);
    // Input in pieces, output buffers small and large in turn.
    let mut inf = Inflater::with_instance(wd.clone(), Format::Gzip).unwrap();
    let mut out = Vec::new();
    let mut big = vec![0u8; 200_000];
    for (i, chunk) in c[..n].chunks(50_000).enumerate() {
        let mut rest = chunk;
        loop {
            let buf: &mut [u8] = if i % 2 == 0 { &mut buf } else { &mut big };
            let p = inf.inflate(rest, buf).unwrap();
            out.extend_from_slice(&buf[..p.produced]);
            rest = &rest[p.consumed..];
            if p.done || (rest.is_empty() && p.produced < buf.len()) {
                break;
            }
        }
    }
    assert!(out == data, "streamed result differs");
}

/// zlib's contract that programs rely on (Pillow's PNG decoder loops while
/// it has input): input is never all reported consumed while decoded
/// output is still held, staged (queue) or in the engine (inline ISA-L);
/// the byte kept back is consumed once the output is out. And the checksum
/// is that of the output handed out, at every step.
#[test]
fn input_is_never_all_consumed_while_output_is_held() {
    let data = sample(600_000, 31);
    for (wd, what) in [(offloading(), "queue"), (Arc::new(inline()), "inline")] {
        for format in [Format::Zlib, Format::Gzip] {
            let mut c = vec![0; 700_000];
            let n = wd.compress(format, 6, &data, &mut c).unwrap();
            let mut inf = Inflater::with_instance(wd.clone(), format).unwrap();
            let (mut out, mut row) = (Vec::new(), [0u8; 3001]);
            let mut adler = adler2::Adler32::new();
            let mut crc = crc32fast::Hasher::new();
            let mut done = false;
            for piece in c[..n].chunks(65536) {
                let mut rest = piece;
                // Pillow's loop: only while input is left.
                while !rest.is_empty() && !done {
                    let p = inf.inflate(rest, &mut row).unwrap();
                    out.extend_from_slice(&row[..p.produced]);
                    rest = &rest[p.consumed..];
                    done = p.done;
                    adler.write_slice(&row[..p.produced]);
                    crc.update(&row[..p.produced]);
                    let want = match format {
                        Format::Zlib => adler.checksum(),
                        _ => crc.clone().finalize(),
                    };
                    assert_eq!(inf.checksum(), want, "{what} {format:?} at {}", out.len());
                }
            }
            assert!(
                done,
                "{what} {format:?}: {} of {} bytes",
                out.len(),
                data.len()
            );
            assert!(out == data, "{what} {format:?}");
        }
    }
}

/// Streams abandoned half-drained or reset mid-drain, then decoding another
/// stream, never hand out each other's bytes.
#[test]
fn abandoned_and_reset_streams_never_mix_outputs() {
    let wd = offloading();
    let drain_all = |inf: &mut Inflater, input: &[u8]| {
        let (mut out, mut buf, mut rest) = (Vec::new(), vec![0u8; 7_000], input);
        loop {
            let p = inf.inflate(rest, &mut buf).unwrap();
            out.extend_from_slice(&buf[..p.produced]);
            rest = &rest[p.consumed..];
            if p.done {
                return out;
            }
        }
    };
    let streams: Vec<(Vec<u8>, Vec<u8>)> = [(900_000, 21), (5_000, 22), (250_000, 23)]
        .into_iter()
        .map(|(len, seed)| {
            let data = sample(len, seed);
            let mut c = vec![0; len + 1000];
            let n = wd.compress(Format::Zlib, 6, &data, &mut c).unwrap();
            c.truncate(n);
            (data, c)
        })
        .collect();
    for round in 0..3 {
        // The big stream, abandoned after one small piece.
        let mut big = Inflater::with_instance(wd.clone(), Format::Zlib).unwrap();
        let mut piece = [0u8; 4096];
        big.inflate(&streams[0].1, &mut piece).unwrap();
        assert_eq!(piece[..], streams[0].0[..4096]);
        if round == 1 {
            // Reset mid-drain, then decode a different stream on it.
            big.reset();
            assert!(drain_all(&mut big, &streams[2].1) == streams[2].0);
        }
        drop(big);
        for (data, c) in &streams[1..] {
            let mut inf = Inflater::with_instance(wd.clone(), Format::Zlib).unwrap();
            let out = drain_all(&mut inf, c);
            assert!(
                out == *data,
                "round {round}: a {} byte stream decoded wrong",
                data.len()
            );
            let adler = u32::from_be_bytes(c[c.len() - 4..].try_into().unwrap());
            assert_eq!(inf.checksum(), adler);
        }
    }
}

/// A raw stream (pigz's kind) is cut into segments that several engines
/// compress at once: random input and output sizes and every flush mode, the
/// result one valid stream equal to the input, and more requests than
/// flushes (the pieces of one call really went to several queues).
#[test]
fn raw_streams_go_out_in_segments_on_several_engines() {
    let wd = offloading_on(3);
    let data = sample(2_500_000, 11);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as usize
    };
    for level in [2, 6, 9] {
        let before = wd.stats().offloaded;
        let mut d = Deflater::with_instance(wd.clone(), Format::Raw, level).unwrap();
        let mut compressed = Vec::new();
        let (mut pos, mut flushes) = (0, 0);
        while pos < data.len() {
            let take = (1 + next(900_000)).min(data.len() - pos);
            let flush = match next(4) {
                0 => Flush::None,
                1 => Flush::Full,
                _ => Flush::Sync,
            };
            flushes += usize::from(flush != Flush::None);
            let mut input = &data[pos..pos + take];
            loop {
                let mut buf = vec![0u8; 1 + next(150_000)];
                let p = d.deflate(input, &mut buf, flush).unwrap();
                compressed.extend_from_slice(&buf[..p.produced]);
                input = &input[p.consumed..];
                if input.is_empty() && p.produced < buf.len() {
                    break;
                }
            }
            pos += take;
        }
        loop {
            let mut buf = vec![0u8; 1 + next(100_000)];
            let p = d.deflate(&[], &mut buf, Flush::Finish).unwrap();
            compressed.extend_from_slice(&buf[..p.produced]);
            if p.done {
                break;
            }
        }
        assert!(d.is_offloaded() && d.is_streaming());
        assert_eq!(d.checksum(), crc32(&data), "level {level}");
        // zlib's own decoding rules (the exact raw decoder) restore it.
        let mut back = vec![0; data.len()];
        let p = wd.decompress(Format::Raw, &compressed, &mut back).unwrap();
        assert_eq!(p.produced, data.len());
        assert!(
            back == data,
            "level {level}: segments restored different data"
        );
        let requests = (wd.stats().offloaded - before) as usize;
        assert!(
            requests > flushes + 1,
            "level {level}: {requests} requests for {flushes} flushes: nothing was split"
        );
    }
    // One flush of 600 KB: a piece per engine at level 6; none at level 1,
    // which stays one engine-held stream.
    for (level, pieces) in [(6, 3), (1, 1)] {
        let mut d = Deflater::with_instance(wd.clone(), Format::Raw, level).unwrap();
        let mut out = vec![0u8; 700_000];
        let before = wd.stats().offloaded;
        let p = d.deflate(&data[..600_000], &mut out, Flush::Sync).unwrap();
        assert_eq!(p.consumed, 600_000);
        assert_eq!(wd.stats().offloaded - before, pieces, "level {level}");
    }
}

/// Device removal between two segmented calls: the stream goes on inline and
/// stays one valid stream.
#[test]
fn a_segmented_stream_survives_device_removal() {
    let wd = offloading_on(2);
    let data = sample(1_000_000, 12);
    let mut d = Deflater::with_instance(wd.clone(), Format::Raw, 6).unwrap();
    let mut out = vec![0u8; 2_000_000];
    let mut n = 0;
    for (i, chunk) in data.chunks(200_000).enumerate() {
        if i == 2 {
            assert!(wd.remove_soft_device());
        }
        let p = d.deflate(chunk, &mut out[n..], Flush::Sync).unwrap();
        assert_eq!(p.consumed, chunk.len());
        n += p.produced;
    }
    let p = d.deflate(&[], &mut out[n..], Flush::Finish).unwrap();
    assert!(p.done);
    n += p.produced;
    assert!(wd.stats().fallbacks > 0, "removal went unnoticed");
    let mut back = vec![0; data.len()];
    let p = wd.decompress(Format::Raw, &out[..n], &mut back).unwrap();
    assert_eq!(p.produced, data.len());
    assert!(back == data);
}

fn crc32(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}

/// A segmented raw stream copies (deflateCopy): the copy and the original go
/// on with different input, each a valid stream of its own prefix + tail.
#[test]
fn a_segmented_stream_can_be_copied_mid_stream() {
    let wd = offloading_on(2);
    let data = sample(900_000, 13);
    let other = sample(300_000, 14);
    let finish = |d: &mut Deflater, tail: &[u8], out: &mut Vec<u8>| {
        let mut buf = vec![0u8; 50_000];
        let mut input = tail;
        loop {
            let p = d.deflate(input, &mut buf, Flush::Finish).unwrap();
            out.extend_from_slice(&buf[..p.produced]);
            input = &input[p.consumed..];
            if p.done {
                break;
            }
        }
    };
    let mut d = Deflater::with_instance(wd.clone(), Format::Raw, 6).unwrap();
    let mut head = Vec::new();
    // Leave output pending in the original (a buffer too small for it).
    let mut small = vec![0u8; 1000];
    let p = d
        .deflate(&data[..600_000], &mut small, Flush::Sync)
        .unwrap();
    assert_eq!(p.consumed, 600_000);
    head.extend_from_slice(&small[..p.produced]);
    let mut copy = d.try_clone().expect("segmented streams copy");
    let (mut a, mut b) = (head.clone(), head);
    finish(&mut d, &data[600_000..], &mut a);
    finish(&mut copy, &other, &mut b);
    for (stream, want) in [
        (a, data.clone()),
        (b, [&data[..600_000], &other[..]].concat()),
    ] {
        let mut back = vec![0; want.len()];
        let p = wd.decompress(Format::Raw, &stream, &mut back).unwrap();
        assert_eq!(p.produced, want.len());
        assert!(back == want);
    }
}

/// zlib reads a stream's end and trailer even with no output room: a caller
/// that sizes its output exactly and sends the trailer last gets the end
/// of the stream from a call with avail_out == 0 (queue and inline).
#[test]
fn the_trailer_is_read_with_no_output_room() {
    let data = sample(300_000, 15);
    for (wd, what) in [(offloading(), "queue"), (Arc::new(inline()), "inline")] {
        for format in [Format::Zlib, Format::Gzip] {
            let mut c = vec![0; 400_000];
            let n = wd.compress(format, 6, &data, &mut c).unwrap();
            let trailer = if format == Format::Zlib { 4 } else { 8 };
            let mut inf = Inflater::with_instance(wd.clone(), format).unwrap();
            let mut out = vec![0u8; data.len()];
            let (mut produced, mut pos) = (0, 0);
            // Everything but the trailer, into room for exactly the data.
            while pos < n - trailer && produced < out.len() {
                let p = inf
                    .inflate(&c[pos..n - trailer], &mut out[produced..])
                    .unwrap();
                assert!(!p.done);
                (pos, produced) = (pos + p.consumed, produced + p.produced);
            }
            assert_eq!(produced, data.len(), "{what} {format:?}");
            let mut done = false;
            for _ in 0..4 {
                let p = inf.inflate(&c[pos..n], &mut []).unwrap();
                assert_eq!(p.produced, 0);
                pos += p.consumed;
                if p.done {
                    done = true;
                    break;
                }
            }
            assert!(
                done,
                "{what} {format:?}: no end of stream without output room"
            );
            assert_eq!(pos, n, "{what} {format:?}: trailer not consumed");
            assert!(out == data);
        }
    }
}

/// A stream without flushes longer than the buffer: output comes out as
/// input goes in (never more than 1 MiB taken without output), the memory
/// held stays bounded, and the stream decodes, in every framing.
#[test]
fn a_long_stream_without_flushes_emits_as_input_goes_in() {
    let wd = offloading();
    let data = sample(3_000_000, 12);
    for format in [Format::Raw, Format::Zlib, Format::Gzip] {
        let mut d = Deflater::with_instance(wd.clone(), format, 6).unwrap();
        let (mut out, mut buf) = (Vec::new(), vec![0u8; 64 << 10]);
        let (mut taken, mut at_last_output, mut gap) = (0usize, 0usize, 0usize);
        for chunk in data.chunks(16 << 10) {
            let mut off = 0;
            while off < chunk.len() {
                let p = d.deflate(&chunk[off..], &mut buf, Flush::None).unwrap();
                off += p.consumed;
                taken += p.consumed;
                out.extend_from_slice(&buf[..p.produced]);
                if p.produced > 0 {
                    gap = gap.max(taken - at_last_output);
                    at_last_output = taken;
                }
            }
        }
        loop {
            let p = d.deflate(&[], &mut buf, Flush::Finish).unwrap();
            out.extend_from_slice(&buf[..p.produced]);
            if p.done {
                break;
            }
        }
        assert!(
            gap <= 1 << 20,
            "{format:?}: {gap} bytes taken without output"
        );
        assert!(at_last_output > 0, "{format:?}: no output before Finish");
        let mut back = vec![0; data.len()];
        let p = inline().decompress(format, &out, &mut back).unwrap();
        assert_eq!(p.produced, data.len());
        assert!(back == data, "{format:?}");
    }
}
