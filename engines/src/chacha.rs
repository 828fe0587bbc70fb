//! ChaCha20-Poly1305 (RFC 8439) through libcrypto's EVP_CIPHER in the private library
//! context: key 32 bytes, nonce 12 bytes, tag 16 bytes. One-shot seal and open, the
//! shape a queue request has; the TLS 1.3 suite TLS_CHACHA20_POLY1305_SHA256 and the
//! TLS 1.2 ECDHE-*-CHACHA20-POLY1305 suites use it a record at a time.

use openssl::cipher_ctx::{CipherCtx, CipherCtxRef};

use crate::ossl::algs;
use crate::{Outcome, Result, Status};

/// Key length.
pub const CHACHA20_POLY1305_KEY: usize = 32;
/// Nonce length (RFC 8439; other lengths are refused, as Wycheproof expects).
pub const CHACHA20_POLY1305_NONCE: usize = 12;
/// Tag length.
pub const CHACHA20_POLY1305_TAG: usize = 16;

/// EVP takes `int` lengths: feed it at most this much at a time.
const CHUNK: usize = 1 << 30;

fn check(key: &[u8], nonce: &[u8], tag_len: usize) -> Result<()> {
    if key.len() != CHACHA20_POLY1305_KEY
        || nonce.len() != CHACHA20_POLY1305_NONCE
        || tag_len != CHACHA20_POLY1305_TAG
    {
        return Err(Status::InvalidLength);
    }
    Ok(())
}

/// Where the data is: separate input and output, or one buffer transformed in place.
enum Data<'a> {
    Split(&'a [u8], &'a mut [u8]),
    InPlace(&'a mut [u8]),
}

impl Data<'_> {
    fn out(&mut self) -> &mut [u8] {
        match self {
            Data::Split(_, dst) => dst,
            Data::InPlace(buf) => buf,
        }
    }
}

fn run(
    ctx: &mut CipherCtxRef,
    encrypt: bool,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &mut Data<'_>,
) -> std::result::Result<(), openssl::error::ErrorStack> {
    let c = algs().map_err(|_| openssl::error::ErrorStack::get())?;
    if encrypt {
        ctx.encrypt_init(Some(&c.chacha), Some(key), Some(nonce))?;
    } else {
        ctx.decrypt_init(Some(&c.chacha), Some(key), Some(nonce))?;
    }
    for a in aad.chunks(CHUNK) {
        ctx.cipher_update(a, None)?;
    }
    match data {
        Data::Split(src, dst) => {
            for (i, o) in src.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)) {
                ctx.cipher_update(i, Some(o))?;
            }
        }
        Data::InPlace(buf) => {
            for b in buf.chunks_mut(CHUNK) {
                let n = b.len();
                ctx.cipher_update_inplace(b, n)?;
            }
        }
    }
    Ok(())
}

fn seal(key: &[u8], nonce: &[u8], aad: &[u8], mut data: Data<'_>, tag: &mut [u8]) -> Result<()> {
    let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
    let r = run(&mut ctx, true, key, nonce, aad, &mut data)
        .and_then(|()| ctx.cipher_final(&mut []).map(|_| ()))
        .and_then(|()| ctx.tag(tag));
    if r.is_err() {
        data.out().fill(0);
        return Err(Status::Internal);
    }
    Ok(())
}

fn open(key: &[u8], nonce: &[u8], aad: &[u8], mut data: Data<'_>, tag: &[u8]) -> Result<()> {
    let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
    if run(&mut ctx, false, key, nonce, aad, &mut data).is_err() || ctx.set_tag(tag).is_err() {
        data.out().fill(0);
        return Err(Status::Internal);
    }
    if ctx.cipher_final(&mut []).is_err() {
        let _ = openssl::error::ErrorStack::get();
        data.out().fill(0);
        std::hint::black_box(data.out());
        return Err(Status::AuthFailed);
    }
    Ok(())
}

fn done(n: usize) -> Outcome {
    Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    }
}

/// Encrypts `src` into `dst[..src.len()]` and writes the 16-byte tag into `tag`.
pub fn chacha20_poly1305_seal(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    src: &[u8],
    dst: &mut [u8],
    tag: &mut [u8],
) -> Result<Outcome> {
    check(key, nonce, tag.len())?;
    let n = src.len();
    if dst.len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    seal(key, nonce, aad, Data::Split(src, &mut dst[..n]), tag)?;
    Ok(done(n))
}

/// Decrypts `src` into `dst[..src.len()]` if `tag` authenticates it; on `AuthFailed`
/// `dst[..src.len()]` is zeroed.
pub fn chacha20_poly1305_open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    src: &[u8],
    dst: &mut [u8],
    tag: &[u8],
) -> Result<Outcome> {
    check(key, nonce, tag.len())?;
    let n = src.len();
    if dst.len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    open(key, nonce, aad, Data::Split(src, &mut dst[..n]), tag)?;
    Ok(done(n))
}

/// [`chacha20_poly1305_seal`] of all of `buf`, in place.
pub fn chacha20_poly1305_seal_in_place(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &mut [u8],
) -> Result<Outcome> {
    check(key, nonce, tag.len())?;
    let n = buf.len();
    seal(key, nonce, aad, Data::InPlace(buf), tag)?;
    Ok(done(n))
}

/// [`chacha20_poly1305_open`] of all of `buf`, in place; on `AuthFailed` `buf` is zeroed.
pub fn chacha20_poly1305_open_in_place(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<Outcome> {
    check(key, nonce, tag.len())?;
    let n = buf.len();
    open(key, nonce, aad, Data::InPlace(buf), tag)?;
    Ok(done(n))
}
