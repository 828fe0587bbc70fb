//! Dynamic blocks whose Huffman codes do not fill their code space: zlib
//! refuses all of them but a single one-bit literal/length or distance code
//! (and an empty distance code). Every decoder here must judge each stream as
//! the system zlib does, in every framing, with a checksum that matches: a
//! crafted stream only needs that to pass a lenient decoder.

mod common;

use common::{z_adler32, z_crc32, z_decompress, FORMATS};
use warpdrive_engines::{decompress, Format, InflateStream};

/// Bits in deflate order: values LSB first, Huffman codes MSB first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, n: u32) {
        for i in 0..n {
            self.acc |= ((value >> i) & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                (self.acc, self.n) = (0, 0);
            }
        }
    }
    fn put_code(&mut self, code: u32, len: u8) {
        for i in (0..u32::from(len)).rev() {
            self.put((code >> i) & 1, 1);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Canonical codes for `lens` (RFC 1951 3.2.2); symbols of length 0 get none.
fn canonical(lens: &[u8]) -> Vec<u32> {
    let mut count = [0u32; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            let c = next[l as usize];
            next[l as usize] += 1;
            c
        })
        .collect()
}

const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// One final dynamic block: code-length code `cl` (by symbol), literal/length
/// lengths `lit` (257..=286), distance lengths `dist` (1..=30), then the
/// literal/length symbols `syms`, each written with its canonical code, or
/// with `raw_bits` instead when given.
fn block(
    cl: [u8; 19],
    lit: &[u8],
    dist: &[u8],
    syms: &[usize],
    raw_bits: Option<&[(u32, u8)]>,
) -> Vec<u8> {
    let mut b = Bits::default();
    b.put(1, 1);
    b.put(2, 2);
    b.put((lit.len() - 257) as u32, 5);
    b.put((dist.len() - 1) as u32, 5);
    b.put(15, 4);
    for &s in &CL_ORDER {
        b.put(u32::from(cl[s]), 3);
    }
    let cl_codes = canonical(&cl);
    for &l in lit.iter().chain(dist) {
        b.put_code(cl_codes[l as usize], cl[l as usize]);
    }
    match raw_bits {
        Some(bits) => bits.iter().for_each(|&(v, n)| b.put_code(v, n)),
        None => {
            let codes = canonical(lit);
            for &s in syms {
                b.put_code(codes[s], lit[s]);
            }
        }
    }
    b.finish()
}

fn framed(format: Format, raw: &[u8], out: &[u8]) -> Vec<u8> {
    match format {
        Format::Raw => raw.to_vec(),
        Format::Zlib => [&[0x78, 0x9c][..], raw, &z_adler32(out).to_be_bytes()].concat(),
        Format::Gzip => [
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..],
            raw,
            &z_crc32(out).to_le_bytes(),
            &(out.len() as u32).to_le_bytes(),
        ]
        .concat(),
    }
}

/// What each decoder makes of `stream`: Some(output) or None (refused).
fn judgements(format: Format, stream: &[u8]) -> Vec<(&'static str, Option<Vec<u8>>)> {
    let mut out = vec![0u8; 1 << 16];
    let one_shot = decompress(format, stream, &mut out)
        .ok()
        .map(|o| out[..o.produced].to_vec());
    let streaming = |mut s: InflateStream| {
        let mut out = vec![0u8; 1 << 16];
        match s.run(stream, &mut out) {
            Ok(o) if o.stream_end => Some(out[..o.produced].to_vec()),
            _ => None,
        }
    };
    vec![
        ("one-shot", one_shot),
        ("stream", streaming(InflateStream::new(format).unwrap())),
        (
            "zlib-rs stream",
            streaming(InflateStream::new_zlib_rs(format)),
        ),
    ]
}

#[test]
fn incomplete_codes_are_refused() {
    // Code-length code: lengths 0..=3 at two bits each (complete).
    let mut cl = [0u8; 19];
    cl[..4].copy_from_slice(&[2, 2, 2, 2]);
    // Literal 'a' and end-of-block.
    let lit = |a: u8, eob: u8| {
        let mut l = vec![0u8; 257];
        l[b'a' as usize] = a;
        l[256] = eob;
        l
    };
    let aaa = [97, 97, 97, 256];
    // 'a' in one bit, end-of-block and length code 257 (three bytes) in two:
    // complete, and a match needs a distance code.
    let mut len3 = vec![0u8; 258];
    len3[b'a' as usize] = 1;
    len3[256] = 2;
    len3[257] = 2;
    let mut cl_incomplete = [0u8; 19];
    cl_incomplete[..3].copy_from_slice(&[2, 2, 2]);
    let mut single_eob = vec![0u8; 257];
    single_eob[256] = 1;
    let cases: Vec<(&str, Vec<u8>, &[u8])> = vec![
        ("complete", block(cl, &lit(1, 1), &[1], &aaa, None), b"aaa"),
        (
            "empty distance code",
            block(cl, &lit(1, 1), &[0], &aaa, None),
            b"aaa",
        ),
        (
            "empty distance code, then a match",
            // 'a' (0), length 3 (11), one bit where a distance code would
            // be, end-of-block (10): a lenient decoder gives "aaaa".
            block(
                cl,
                &len3,
                &[0],
                &[],
                Some(&[(0, 1), (3, 2), (0, 1), (2, 2)]),
            ),
            b"aaaa",
        ),
        (
            "single 1-bit distance code",
            block(cl, &lit(1, 1), &[0, 1], &aaa, None),
            b"aaa",
        ),
        (
            "incomplete literal/length code",
            block(cl, &lit(1, 2), &[1], &aaa, None),
            b"aaa",
        ),
        (
            "incomplete distance code",
            block(cl, &lit(1, 1), &[1, 2], &aaa, None),
            b"aaa",
        ),
        (
            "incomplete code-length code",
            block(cl_incomplete, &lit(1, 1), &[1], &aaa, None),
            b"aaa",
        ),
        (
            "single code, sent as 0",
            block(cl, &single_eob, &[1], &[256], None),
            b"",
        ),
        (
            "single code, sent as 1",
            block(cl, &single_eob, &[1], &[], Some(&[(1, 1)])),
            b"",
        ),
    ];
    check(cases);
}

/// A final fixed-Huffman block of (code, length) pairs, MSB first.
fn fixed(codes: &[(u32, u8)]) -> Vec<u8> {
    let mut b = Bits::default();
    b.put(1, 1);
    b.put(1, 2);
    for &(c, n) in codes {
        b.put_code(c, n);
    }
    b.finish()
}

#[test]
fn fixed_blocks_with_reserved_symbols_are_refused() {
    let a = (0x30 + 97, 8); // literal 'a'
    let eob = (0, 7);
    let len3 = (1, 7); // length code 257: three bytes
    let cases: Vec<(&str, Vec<u8>, &[u8])> = vec![
        ("fixed, valid", fixed(&[a, len3, (0, 5), eob]), b"aaaa"),
        (
            "literal/length code 286",
            fixed(&[a, (0xc0 + 6, 8), eob]),
            b"a",
        ),
        (
            "literal/length code 287",
            fixed(&[a, (0xc0 + 7, 8), eob]),
            b"a",
        ),
        ("distance code 30", fixed(&[a, len3, (30, 5), eob]), b"aaaa"),
        ("distance code 31", fixed(&[a, len3, (31, 5), eob]), b"aaaa"),
        (
            "distance too far back",
            fixed(&[a, len3, (1, 5), eob]),
            b"aaaa",
        ),
    ];
    check(cases);
}

fn check(cases: Vec<(&str, Vec<u8>, &[u8])>) {
    for (name, raw, out) in cases {
        for format in FORMATS {
            let stream = framed(format, &raw, out);
            let zlib = z_decompress(format, &stream).ok();
            for (decoder, got) in judgements(format, &stream) {
                assert_eq!(
                    got, zlib,
                    "{name}, {format:?}, {decoder}: zlib says {zlib:?}"
                );
            }
        }
    }
}
