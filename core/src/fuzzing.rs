//! Entry points for the cargo-fuzz targets in core/fuzz (feature `fuzzing`).
//! Each panics only when an invariant is broken, which is what a fuzzer
//! reports.

use std::sync::{Arc, OnceLock};

use crate::exec::{decode, AddressMode, BufferWindow, Region};
use crate::uapi::WdDesc;
use crate::{BackendChoice, Config, Format, InlineMax, Warpdrive};

const WINDOWS: [BufferWindow; 3] = [
    BufferWindow {
        handle: 1,
        base: 0x10_0000,
        len: 4096,
    },
    BufferWindow {
        handle: 2,
        base: 0x20_0000,
        len: 1 << 20,
    },
    BufferWindow {
        handle: 7,
        base: 0x40_0000,
        len: 64,
    },
];

fn inside(r: &Region) -> bool {
    r.len == 0
        || WINDOWS
            .iter()
            .any(|w| r.ptr >= w.base && r.ptr + r.len <= w.base + w.len)
}

/// Arbitrary bytes as a descriptor, through the buffer-mode validator: what
/// it accepts names only memory inside the caller's buffers.
pub fn descriptor(data: &[u8]) {
    let mut raw = [0u8; 64];
    let n = data.len().min(64);
    raw[..n].copy_from_slice(&data[..n]);
    // SAFETY: WdDesc is plain old data; every bit pattern is a valid value.
    let d: WdDesc = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
    if let Ok(dec) = decode(&d, AddressMode::Buffers(&WINDOWS)) {
        for r in [dec.src, dec.dst, dec.key, dec.iv, dec.aad, dec.tag] {
            assert!(inside(&r), "{r:?} escapes the buffers: {d:?}");
        }
    }
}

fn offloading() -> &'static Arc<Warpdrive> {
    static WD: OnceLock<Arc<Warpdrive>> = OnceLock::new();
    WD.get_or_init(|| {
        Arc::new(
            Warpdrive::new(Config {
                backend: BackendChoice::Softdev,
                inline_max: InlineMax::all(0),
                engines: 1,
                ..Config::default()
            })
            .expect("software device"),
        )
    })
}

/// Arbitrary bytes as compressed data (first byte picks the format), through
/// the queue path and the streaming inflater: both must agree, and neither
/// may crash or report output it did not write.
pub fn inflate(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let format = match sel % 3 {
        0 => Format::Raw,
        1 => Format::Zlib,
        _ => Format::Gzip,
    };
    let wd = offloading();
    let mut one_shot = vec![0u8; 1 << 16];
    let r = wd.decompress(format, input, &mut one_shot);
    let mut inf = crate::Inflater::with_instance(wd.clone(), format).expect("inflater");
    let mut streamed = Vec::new();
    let mut rest = input;
    let mut buf = [0u8; 777];
    let streamed_ok = loop {
        match inf.inflate(rest, &mut buf) {
            Ok(p) => {
                assert!(p.produced <= buf.len() && p.consumed <= rest.len());
                streamed.extend_from_slice(&buf[..p.produced]);
                rest = &rest[p.consumed..];
                if p.done {
                    break true;
                }
                if (p.consumed == 0 && p.produced == 0) || streamed.len() > one_shot.len() {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    // zlib's verdict, from zlib-rs (zlib's own decoder): the engines
    // (libdeflate one-shot, ISA-L streaming, both patched) must agree.
    let mut reference = warpdrive_engines::InflateStream::new_zlib_rs(format);
    let mut zlib_out = vec![0u8; one_shot.len()];
    let zlib_ok = match reference.run(input, &mut zlib_out) {
        Ok(o) if o.stream_end => Some(o.produced),
        // Decoded more than the one-shot buffer holds: no verdict here.
        Ok(o) if o.produced == zlib_out.len() => return,
        _ => None,
    };
    match r {
        Ok(p) => {
            assert!(streamed_ok, "one-shot accepted what streaming refused");
            assert_eq!(
                &one_shot[..p.produced],
                &streamed[..],
                "one-shot and streaming disagree"
            );
            assert_eq!(zlib_ok, Some(p.produced), "zlib refused what we accepted");
            assert_eq!(
                &zlib_out[..p.produced],
                &streamed[..],
                "zlib decodes otherwise"
            );
        }
        Err(crate::Error::OutputTooSmall { .. }) => {}
        Err(e) => {
            assert!(
                !streamed_ok,
                "streaming accepted what one-shot refused ({e})"
            );
            assert_eq!(zlib_ok, None, "zlib accepted what we refused ({e})");
        }
    }
}
