//! ChaCha20-Poly1305 through the core's one-shot AEAD calls: on the software
//! device's queues (every request offloaded) and inline, against Wycheproof, with
//! the same argument checks as AES-GCM, and on an `AsyncQueue`.

#[path = "common/wycheproof.rs"]
mod wycheproof;

use warpdrive::{
    Aead, AsyncQueue, BackendChoice, Config, Error, InlineMax, Operation, Request, Warpdrive,
};

fn on(backend: BackendChoice) -> Warpdrive {
    Warpdrive::new(Config {
        backend,
        inline_max: InlineMax::all(0),
        engines: 1,
        ..Config::default()
    })
    .unwrap()
}

const C: Aead = Aead::ChaCha20Poly1305;

#[test]
fn wycheproof_through_the_software_device_and_inline() {
    let Some(file) = wycheproof::chacha_vectors() else {
        return;
    };
    let wd = on(BackendChoice::Softdev);
    let (valid, _) = wycheproof::run_chacha(&wd, &file, "softdev");
    let s = wd.stats();
    // Each valid case: one open and one seal on the queue.
    assert!(s.offloaded >= 2 * valid as u64, "{s:?}");
    assert_eq!((s.inline, s.fallbacks), (0, 0), "{s:?}");
    let sw = on(BackendChoice::Inline);
    wycheproof::run_chacha(&sw, &file, "inline");
}

#[test]
fn lengths_and_buffers_are_checked_like_gcm() {
    for wd in [on(BackendChoice::Softdev), on(BackendChoice::Inline)] {
        let (mut out, mut tag) = ([0u8; 64], [0u8; 16]);
        let bad_len = |r: warpdrive::Result<()>, what: &str| {
            assert!(
                matches!(r, Err(Error::InvalidLength { what: w, .. }) if w.contains(what)),
                "{what}: {r:?}"
            );
        };
        for k in [0, 16, 24, 31, 33] {
            bad_len(
                wd.aead_seal_with(C, &vec![0; k], &[0; 12], b"", b"x", &mut out, &mut tag),
                "key",
            );
        }
        for n in [0, 8, 11, 13, 16, 24] {
            bad_len(
                wd.aead_seal_with(C, &[0; 32], &vec![0; n], b"", b"x", &mut out, &mut tag),
                "nonce",
            );
            bad_len(
                wd.aead_open_with(C, &[0; 32], &vec![0; n], b"", b"x", &tag, &mut out),
                "nonce",
            );
        }
        for t in [0, 4, 12, 15] {
            bad_len(
                wd.aead_seal_with(C, &[0; 32], &[0; 12], b"", b"x", &mut out, &mut tag[..t]),
                "tag",
            );
            bad_len(
                wd.aead_open_with(C, &[0; 32], &[0; 12], b"", b"x", &tag[..t], &mut out),
                "tag",
            );
        }
        let big_aad = vec![0u8; (1 << 20) + 1];
        bad_len(
            wd.aead_seal_with(C, &[0; 32], &[0; 12], &big_aad, b"x", &mut out, &mut tag),
            "AAD",
        );
        // Output shorter than the input: refused before anything runs.
        let r = wd.aead_seal_with(C, &[0; 32], &[0; 12], b"", &[1; 65], &mut out, &mut tag);
        assert!(
            matches!(r, Err(Error::OutputTooSmall { needed: Some(65) })),
            "{r:?}"
        );
        let r = wd.aead_open_with(C, &[0; 32], &[0; 12], b"", &[1; 65], &tag, &mut out);
        assert!(
            matches!(r, Err(Error::OutputTooSmall { needed: Some(65) })),
            "{r:?}"
        );
        // GCM's 16-byte key and AES-GCM's free lengths are not ChaCha's.
        assert!(wd
            .aead_seal_with(
                Aead::AesGcm,
                &[0; 16],
                &[0; 16],
                b"",
                b"x",
                &mut out,
                &mut tag[..12]
            )
            .is_ok());
    }
}

#[test]
fn a_wrong_tag_fails_and_wipes_the_output() {
    let wd = on(BackendChoice::Softdev);
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let (mut ct, mut tag) = (vec![0; data.len()], [0u8; 16]);
    wd.aead_seal_with(C, &[3; 32], &[4; 12], b"aad", &data, &mut ct, &mut tag)
        .unwrap();
    // Not GCM's answer for the same key bytes.
    let (mut g, mut gt) = (vec![0; data.len()], [0u8; 16]);
    wd.aead_seal_with(
        Aead::AesGcm,
        &[3; 32],
        &[4; 12],
        b"aad",
        &data,
        &mut g,
        &mut gt,
    )
    .unwrap();
    assert!(ct != g && tag != gt);
    for (i, bit) in [(0usize, 1u8), (15, 0x80)] {
        let mut bad = tag;
        bad[i] ^= bit;
        let mut pt = vec![0xAA; data.len()];
        let r = wd.aead_open_with(C, &[3; 32], &[4; 12], b"aad", &ct, &bad, &mut pt);
        assert!(matches!(r, Err(Error::AuthFailed)), "{r:?}");
        assert!(pt.iter().all(|&b| b == 0), "plaintext released");
    }
    let mut pt = vec![0; data.len()];
    wd.aead_open_with(C, &[3; 32], &[4; 12], b"aad", &ct, &tag, &mut pt)
        .unwrap();
    assert!(pt == data);
}

#[test]
fn async_queue_seals_and_opens() {
    let wd = on(BackendChoice::Softdev);
    let mut q = AsyncQueue::new(&wd).unwrap();
    let data = vec![7u8; 5000];
    let (mut ct, mut tag) = (vec![0; data.len()], [0u8; 16]);
    wd.aead_seal_with(C, &[1; 32], &[2; 12], b"h", &data, &mut ct, &mut tag)
        .unwrap();
    let seal = Request {
        op: Operation::Seal {
            alg: C,
            key: vec![1; 32],
            iv: vec![2; 12],
            aad: b"h".to_vec(),
            tag_len: 16,
        },
        input: data.clone(),
        output_capacity: data.len(),
        cookie: 1,
    };
    q.submit(seal).unwrap();
    let c = q.wait().unwrap();
    assert_eq!(c.result.as_ref().ok(), Some(&data.len()), "{:?}", c.result);
    assert_eq!((&c.output, &c.tag[..]), (&ct, &tag[..]));
    let mut bad = tag;
    bad[0] ^= 1;
    for (cookie, t) in [(2, tag), (3, bad)] {
        let open = Request {
            op: Operation::Open {
                alg: C,
                key: vec![1; 32],
                iv: vec![2; 12],
                aad: b"h".to_vec(),
                tag: t.to_vec(),
            },
            input: ct.clone(),
            output_capacity: ct.len(),
            cookie,
        };
        q.submit(open).unwrap();
    }
    for _ in 0..2 {
        let c = q.wait().unwrap();
        match c.cookie {
            2 => assert_eq!(c.output, data),
            _ => assert!(matches!(c.result, Err(Error::AuthFailed)), "{:?}", c.result),
        }
    }
    // A GCM-only length is refused before the ring.
    let bad = Request {
        op: Operation::Seal {
            alg: C,
            key: vec![1; 32],
            iv: vec![2; 16],
            aad: vec![],
            tag_len: 16,
        },
        input: vec![1; 10],
        output_capacity: 10,
        cookie: 4,
    };
    let (e, _) = q.submit(bad).unwrap_err();
    assert!(matches!(e, Error::InvalidLength { .. }), "{e:?}");
}
