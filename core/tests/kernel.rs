//! The Rust core on the kernel module's devices. Runs inside the QEMU guest
//! (tests/vm), where /dev/warpdrive/* exist; elsewhere each test returns early
//! unless WARPDRIVE_REQUIRE_KERNEL=1, which makes a missing device a failure.

use std::sync::Arc;

#[path = "common/wycheproof.rs"]
mod wycheproof;

use warpdrive::{
    BackendChoice, BackendKind, CipherMode, Config, Deflater, Direction, Flush, Format, HashAlg,
    InlineMax, KernelDevice, Warpdrive,
};

fn devices() -> Vec<KernelDevice> {
    let found = KernelDevice::discover();
    if found.is_empty() && std::env::var("WARPDRIVE_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("WARPDRIVE_REQUIRE_KERNEL=1 but no /dev/warpdrive device");
    }
    found
}

fn on(dev: &KernelDevice) -> Arc<Warpdrive> {
    let wd = Warpdrive::new(Config {
        backend: BackendChoice::Kernel,
        device: Some(dev.name.clone()),
        inline_max: InlineMax::all(0),
        ..Config::default()
    })
    .unwrap();
    assert_eq!(wd.backend(), BackendKind::Kernel);
    Arc::new(wd)
}

fn reference() -> Warpdrive {
    Warpdrive::new(Config {
        backend: BackendChoice::Inline,
        ..Config::default()
    })
    .unwrap()
}

fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 7 < 4 {
                b"warpdrive"[i % 9]
            } else {
                (x >> 56) as u8
            }
        })
        .collect()
}

#[test]
fn every_operation_through_the_kernel_ring_matches_the_reference() {
    for dev in devices() {
        let wd = on(&dev);
        let sw = reference();
        let data = sample(100_000, 3);
        for format in [Format::Raw, Format::Zlib, Format::Gzip] {
            for level in [1, 6] {
                let mut c = vec![0; warpdrive::compress_bound(format, data.len())];
                let n = wd
                    .compress(format, level, &data, &mut c)
                    .unwrap_or_else(|e| panic!("{}: {format:?}: {e}", dev.name));
                let mut back = vec![0; data.len()];
                sw.decompress(format, &c[..n], &mut back).unwrap();
                assert!(
                    back == data,
                    "{}: kernel {format:?} output does not decompress to the input",
                    dev.name
                );
                let mut c2 = vec![0; c.len()];
                let m = sw.compress(format, level, &data, &mut c2).unwrap();
                let mut back2 = vec![0; data.len()];
                let p = wd.decompress(format, &c2[..m], &mut back2).unwrap();
                assert_eq!(p.produced, data.len());
                assert!(back2 == data, "{}: kernel inflate differs", dev.name);
            }
        }
        let key = [5u8; 32];
        let iv = [6u8; 12];
        let (mut a, mut b) = (vec![0; data.len()], vec![0; data.len()]);
        let (mut ta, mut tb) = ([0u8; 16], [0u8; 16]);
        wd.aead_seal(&key, &iv, b"aad", &data, &mut a, &mut ta)
            .unwrap();
        sw.aead_seal(&key, &iv, b"aad", &data, &mut b, &mut tb)
            .unwrap();
        assert!(a == b && ta == tb, "{}: AES-GCM differs", dev.name);
        let mut pt = vec![0; data.len()];
        wd.aead_open(&key, &iv, b"aad", &a, &ta, &mut pt).unwrap();
        assert!(pt == data);
        ta[0] ^= 1;
        assert!(matches!(
            wd.aead_open(&key, &iv, b"aad", &a, &ta, &mut pt),
            Err(warpdrive::Error::AuthFailed)
        ));
        for alg in [
            HashAlg::Sha1,
            HashAlg::Sha224,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
            let n = wd.digest(alg, &data, &mut x).unwrap();
            sw.digest(alg, &data, &mut y).unwrap();
            assert_eq!(x[..n], y[..n], "{}: {alg:?}", dev.name);
            let n = wd.hmac(alg, b"k3y", &data, &mut x).unwrap();
            sw.hmac(alg, b"k3y", &data, &mut y).unwrap();
            assert_eq!(x[..n], y[..n], "{}: HMAC {alg:?}", dev.name);
        }
        for mode in [CipherMode::Ctr, CipherMode::Cbc] {
            let (mut x, mut y) = (vec![0; data.len() + 16], vec![0; data.len() + 16]);
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
            assert_eq!(x[..n], y[..m], "{}: {mode:?}", dev.name);
        }
        let s = wd.stats();
        assert_eq!(
            s.inline, 0,
            "{}: everything must have gone through the kernel: {s:?}",
            dev.name
        );
        assert_eq!(s.fallbacks, 0, "{}: {s:?}", dev.name);
        assert_eq!(s.offloaded, 27, "{}: {s:?}", dev.name);
        eprintln!("{}: {s:?}", dev.name);
    }
}

#[test]
fn chacha20_poly1305_wycheproof_through_the_kernel_ring() {
    let devs = devices();
    if devs.is_empty() {
        return;
    }
    let Some(file) = wycheproof::chacha_vectors() else {
        return;
    };
    for dev in devs {
        let algs = std::fs::read_to_string(format!("/sys/class/warpdrive/{}/algorithms", dev.name))
            .unwrap_or_default();
        assert!(
            algs.split_whitespace().any(|a| a == "chacha20-poly1305"),
            "{}: sysfs algorithms {algs:?}",
            dev.name
        );
        let wd = on(&dev);
        let (valid, invalid) = wycheproof::run_chacha(&wd, &file, &dev.name);
        let s = wd.stats();
        assert!(s.offloaded >= 2 * valid as u64, "{}: {s:?}", dev.name);
        assert_eq!((s.inline, s.fallbacks), (0, 0), "{}: {s:?}", dev.name);
        println!(
            "{}: chacha20-poly1305 {valid} valid, {invalid} invalid",
            dev.name
        );
    }
}

#[test]
fn compression_streams_through_the_kernel_when_it_keeps_stream_state() {
    for dev in devices() {
        let wd = on(&dev);
        let data = sample(300_000, 9);
        let mut d = Deflater::with_instance(wd.clone(), Format::Gzip, 6).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 << 10];
        // Sync flushes make it a true stream whose state the engine keeps
        // (without them the Deflater sends the whole stream as one request).
        for (i, chunk) in data.chunks(64 << 10).enumerate() {
            let flush = if i % 2 == 1 { Flush::Sync } else { Flush::None };
            let mut input = chunk;
            loop {
                let p = d.deflate(input, &mut buf, flush).unwrap();
                out.extend_from_slice(&buf[..p.produced]);
                input = &input[p.consumed..];
                if input.is_empty() && p.produced < buf.len() {
                    break;
                }
            }
        }
        assert!(d.is_streaming());
        loop {
            let p = d.deflate(&[], &mut buf, Flush::Finish).unwrap();
            out.extend_from_slice(&buf[..p.produced]);
            if p.done {
                break;
            }
        }
        assert!(
            d.is_offloaded(),
            "{}: the stream must keep its state in the kernel engine",
            dev.name
        );
        let mut back = vec![0; data.len()];
        reference()
            .decompress(Format::Gzip, &out, &mut back)
            .unwrap();
        assert!(
            back == data,
            "{}: streamed gzip does not round trip",
            dev.name
        );
    }
}

#[test]
fn threads_share_the_device() {
    for dev in devices() {
        let wd = on(&dev);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let wd = wd.clone();
                std::thread::spawn(move || {
                    for i in 0..100u64 {
                        let data = sample(500 + (i as usize * 131) % 20_000, i + t * 1000);
                        let mut out = [0u8; 32];
                        let mut r = [0u8; 32];
                        wd.digest(HashAlg::Sha256, &data, &mut out).unwrap();
                        reference().digest(HashAlg::Sha256, &data, &mut r).unwrap();
                        assert_eq!(out, r);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(wd.stats().errors, 0);
    }
}

#[test]
fn many_requests_in_flight_on_a_kernel_queue_with_a_wait_fd() {
    use warpdrive::{AsyncQueue, Operation, Request};
    for dev in devices() {
        let wd = on(&dev);
        let mut q = match AsyncQueue::new(&wd) {
            Ok(q) => q,
            // A validated (no-IOMMU) device has no SVA: async needs it.
            Err(warpdrive::Error::Unsupported(_)) => continue,
            Err(e) => panic!("{}: {e}", dev.name),
        };
        let fd = q.wait_fd().unwrap();
        for i in 0..64u64 {
            let req = Request {
                op: Operation::Digest(HashAlg::Sha512),
                input: sample(3000, i),
                output_capacity: 64,
                cookie: i,
            };
            q.submit(req).unwrap();
        }
        q.flush().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 64 {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 10_000) };
            assert_eq!(n, 1, "{}: wait fd never fired", dev.name);
            q.ack_wait_fd();
            while let Some(c) = q.poll().unwrap() {
                let mut r = [0u8; 64];
                reference()
                    .digest(HashAlg::Sha512, &sample(3000, c.cookie), &mut r)
                    .unwrap();
                assert_eq!(c.output, r, "{}: request {}", dev.name, c.cookie);
                assert!(seen.insert(c.cookie), "completed twice");
            }
        }
        assert!(wd.stats().max_inflight > 1);
    }
}
