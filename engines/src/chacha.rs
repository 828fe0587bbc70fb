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

fn run(
    ctx: &mut CipherCtxRef,
    encrypt: bool,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    src: &[u8],
    dst: &mut [u8],
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
    for (i, o) in src.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)) {
        ctx.cipher_update(i, Some(o))?;
    }
    Ok(())
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
    let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
    let r = run(&mut ctx, true, key, nonce, aad, src, &mut dst[..n])
        .and_then(|()| ctx.cipher_final(&mut []).map(|_| ()))
        .and_then(|()| ctx.tag(tag));
    if r.is_err() {
        dst[..n].fill(0);
        return Err(Status::Internal);
    }
    Ok(Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    })
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
    let mut ctx = CipherCtx::new().map_err(|_| Status::NoMemory)?;
    if run(&mut ctx, false, key, nonce, aad, src, &mut dst[..n]).is_err()
        || ctx.set_tag(tag).is_err()
    {
        dst[..n].fill(0);
        return Err(Status::Internal);
    }
    if ctx.cipher_final(&mut []).is_err() {
        let _ = openssl::error::ErrorStack::get();
        dst[..n].fill(0);
        std::hint::black_box(&mut dst[..n]);
        return Err(Status::AuthFailed);
    }
    Ok(Outcome {
        produced: n,
        consumed: n,
        ..Outcome::default()
    })
}
