//! The reference implementations the differential tests compare against: the
//! system zlib through libz-sys (linked to libz.so.1), and test data.
#![allow(dead_code)]

use std::mem::MaybeUninit;

use libz_sys as z;
use warpdrive_engines::Format;

pub fn wbits(format: Format) -> i32 {
    match format {
        Format::Raw => -15,
        Format::Zlib => 15,
        Format::Gzip => 31,
    }
}

extern "C" fn zalloc(_: z::voidpf, items: z::uInt, size: z::uInt) -> z::voidpf {
    // SAFETY: calloc has no preconditions; zlib checks for NULL.
    unsafe { libc::calloc(items as usize, size as usize) }
}

extern "C" fn zfree(_: z::voidpf, p: z::voidpf) {
    // SAFETY: p came from zalloc (calloc) and zlib frees it once.
    unsafe { libc::free(p) }
}

fn new_stream() -> Box<z::z_stream> {
    Box::new(z::z_stream {
        next_in: std::ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: std::ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: std::ptr::null_mut(),
        state: std::ptr::null_mut(),
        zalloc,
        zfree,
        opaque: std::ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    })
}

/// Compresses with the system zlib (deflateInit2, memLevel 8, default strategy).
pub fn z_compress(format: Format, level: i32, src: &[u8]) -> Vec<u8> {
    let mut s = new_stream();
    // SAFETY: s is a fully initialised z_stream with valid allocators; version
    // and size are zlib's own.
    let r = unsafe {
        z::deflateInit2_(
            &mut *s,
            level,
            z::Z_DEFLATED,
            wbits(format),
            8,
            z::Z_DEFAULT_STRATEGY,
            z::zlibVersion(),
            size_of::<z::z_stream>() as i32,
        )
    };
    assert_eq!(r, z::Z_OK);
    // SAFETY: s was initialised by deflateInit2_.
    let bound = unsafe { z::deflateBound(&mut *s, src.len() as z::uLong) } as usize;
    let mut out = vec![0u8; bound + 64];
    s.next_in = src.as_ptr().cast_mut();
    s.avail_in = src.len() as z::uInt;
    s.next_out = out.as_mut_ptr();
    s.avail_out = out.len() as z::uInt;
    // SAFETY: next_in/next_out point into live buffers of the stated sizes;
    // zlib reads src (never writes it) and writes at most avail_out bytes.
    let r = unsafe { z::deflate(&mut *s, z::Z_FINISH) };
    assert_eq!(r, z::Z_STREAM_END);
    let n = s.total_out as usize;
    // SAFETY: s is an initialised deflate stream, ended once.
    unsafe { z::deflateEnd(&mut *s) };
    out.truncate(n);
    out
}

/// Decompresses one whole stream with the system zlib; Err(zlib code) on failure
/// (Z_BUF_ERROR for truncated input).
pub fn z_decompress(format: Format, src: &[u8]) -> Result<Vec<u8>, i32> {
    let mut s = new_stream();
    // SAFETY: as in z_compress.
    let r = unsafe {
        z::inflateInit2_(
            &mut *s,
            wbits(format),
            z::zlibVersion(),
            size_of::<z::z_stream>() as i32,
        )
    };
    assert_eq!(r, z::Z_OK);
    let mut out: Vec<u8> = Vec::with_capacity(src.len() * 4 + 1024);
    s.next_in = src.as_ptr().cast_mut();
    s.avail_in = src.len() as z::uInt;
    let res = loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity());
        }
        let spare: &mut [MaybeUninit<u8>] = out.spare_capacity_mut();
        s.next_out = spare.as_mut_ptr().cast();
        s.avail_out = spare.len() as z::uInt;
        let before = s.total_out;
        // SAFETY: next_out points to spare capacity of avail_out bytes; next_in
        // into src; zlib writes only within next_out..+avail_out.
        let r = unsafe { z::inflate(&mut *s, z::Z_NO_FLUSH) };
        let made = (s.total_out - before) as usize;
        // SAFETY: zlib initialised exactly `made` bytes of the spare capacity.
        unsafe { out.set_len(out.len() + made) };
        match r {
            z::Z_STREAM_END => break Ok(()),
            z::Z_OK => continue,
            z::Z_BUF_ERROR if s.avail_in == 0 => break Err(z::Z_BUF_ERROR),
            z::Z_BUF_ERROR => continue,
            e => break Err(e),
        }
    };
    // SAFETY: s is an initialised inflate stream, ended once.
    unsafe { z::inflateEnd(&mut *s) };
    res.map(|()| out)
}

pub fn z_crc32(data: &[u8]) -> u32 {
    // SAFETY: data is valid for data.len() bytes.
    unsafe { z::crc32(0, data.as_ptr(), data.len() as z::uInt) as u32 }
}

pub fn z_adler32(data: &[u8]) -> u32 {
    // SAFETY: data is valid for data.len() bytes.
    unsafe { z::adler32(1, data.as_ptr(), data.len() as z::uInt) as u32 }
}

pub fn z_check(format: Format, data: &[u8]) -> u32 {
    match format {
        Format::Zlib => z_adler32(data),
        _ => z_crc32(data),
    }
}

/// Deterministic test data: `kind` 0 random, 1 text-like, 2 runs, 3 mixed.
pub fn data(len: usize, seed: u64, kind: u8) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const WORDS: [&[u8]; 8] = [
        b"the ",
        b"queue ",
        b"warp ",
        b"drive ",
        b"engine ",
        b"deflate ",
        b"ring\n",
        b"of ",
    ];
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let k = if kind == 3 { (next() % 3) as u8 } else { kind };
        match k {
            0 => v.extend_from_slice(&next().to_le_bytes()),
            1 => v.extend_from_slice(WORDS[(next() % 8) as usize]),
            _ => {
                let b = next() as u8;
                let n = (next() % 300) as usize;
                v.extend(std::iter::repeat_n(b, n));
            }
        }
    }
    v.truncate(len);
    v
}

pub const FORMATS: [Format; 3] = [Format::Raw, Format::Zlib, Format::Gzip];
