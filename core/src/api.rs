//! The operations: one-shot calls on an instance, and the free functions that
//! use the process-wide one. Each request goes through a queue when it is big
//! enough to gain, else runs inline on the very same engines; a request that
//! fails on the device is re-run inline, so callers see one result either way.

use std::sync::atomic::Ordering;

use warpdrive_engines as eng;

use crate::device::{with_global, Warpdrive};
use crate::error::{Error, Result};
use crate::queue::{Job, Queue, Src};
use crate::stats::QueueCounters;
use crate::uapi::*;

pub use eng::{Format, HashAlg};

/// zlib's flush modes, for the streaming types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    None,
    Sync,
    Full,
    Finish,
}

/// What a streaming call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub consumed: usize,
    pub produced: usize,
    /// The end of the stream was reached (Z_STREAM_END).
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherMode {
    Gcm,
    Ctr,
    Cbc,
}

/// The AEADs of the one-shot calls ([`Warpdrive::aead_seal_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    /// AES-GCM: key 16/24/32 bytes, IV 1..=64 bytes, tag 4..=16 bytes.
    AesGcm,
    /// ChaCha20-Poly1305 (RFC 8439): key 32 bytes, nonce 12 bytes, tag 16 bytes.
    ChaCha20Poly1305,
}

impl Aead {
    /// The `WD_ALG_*` number.
    pub fn alg(self) -> u8 {
        match self {
            Aead::AesGcm => WD_ALG_AES_GCM,
            Aead::ChaCha20Poly1305 => WD_ALG_CHACHA20_POLY1305,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Aead::AesGcm => "AES-GCM",
            Aead::ChaCha20Poly1305 => "ChaCha20-Poly1305",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Encrypt,
    Decrypt,
}

pub(crate) fn alg_of_format(f: Format) -> u8 {
    match f {
        Format::Raw => WD_ALG_DEFLATE_RAW,
        Format::Zlib => WD_ALG_ZLIB,
        Format::Gzip => WD_ALG_GZIP,
    }
}

pub(crate) fn alg_of_hash(h: HashAlg, keyed: bool) -> u8 {
    let base = match h {
        HashAlg::Sha1 => WD_ALG_SHA1,
        HashAlg::Sha224 => WD_ALG_SHA224,
        HashAlg::Sha256 => WD_ALG_SHA256,
        HashAlg::Sha384 => WD_ALG_SHA384,
        HashAlg::Sha512 => WD_ALG_SHA512,
    };
    if keyed {
        base + (WD_ALG_HMAC_SHA1 - WD_ALG_SHA1)
    } else {
        base
    }
}

/// Maps an engine status (inline path) onto the public error.
pub(crate) fn engine_error(s: eng::Status, what: &'static str) -> Error {
    Error::from_status(s.code(), s.needed().min(u32::MAX as usize) as u32, what)
        .unwrap_or_else(|| Error::internal("engine reported failure with status OK"))
}

fn inline_err(what: &'static str) -> impl Fn(eng::Status) -> Error {
    move |s| engine_error(s, what)
}

fn check_key(key: &[u8]) -> Result<()> {
    if matches!(key.len(), 16 | 24 | 32) {
        Ok(())
    } else {
        Err(Error::InvalidLength {
            what: "AES key",
            len: key.len(),
        })
    }
}

fn check_iv16(iv: &[u8]) -> Result<()> {
    if iv.len() == 16 {
        Ok(())
    } else {
        Err(Error::InvalidLength {
            what: "IV",
            len: iv.len(),
        })
    }
}

fn check_gcm(iv: &[u8], tag_len: usize, aad: &[u8]) -> Result<()> {
    if iv.is_empty() || iv.len() > WD_MAX_IV_BYTES as usize {
        return Err(Error::InvalidLength {
            what: "GCM IV",
            len: iv.len(),
        });
    }
    if !(4..=16).contains(&tag_len) {
        return Err(Error::InvalidLength {
            what: "GCM tag",
            len: tag_len,
        });
    }
    if aad.len() > WD_MAX_AAD_BYTES as usize {
        return Err(Error::InvalidLength {
            what: "AAD",
            len: aad.len(),
        });
    }
    Ok(())
}

/// The lengths each AEAD takes, checked before anything runs.
pub(crate) fn check_aead(
    alg: Aead,
    key: &[u8],
    iv: &[u8],
    tag_len: usize,
    aad: &[u8],
) -> Result<()> {
    match alg {
        Aead::AesGcm => {
            check_key(key)?;
            check_gcm(iv, tag_len, aad)
        }
        Aead::ChaCha20Poly1305 => {
            let bad = [
                (
                    "ChaCha20-Poly1305 key",
                    key.len(),
                    eng::CHACHA20_POLY1305_KEY,
                ),
                (
                    "ChaCha20-Poly1305 nonce",
                    iv.len(),
                    eng::CHACHA20_POLY1305_NONCE,
                ),
                ("ChaCha20-Poly1305 tag", tag_len, eng::CHACHA20_POLY1305_TAG),
            ];
            if let Some(&(what, len, _)) = bad.iter().find(|(_, len, want)| len != want) {
                return Err(Error::InvalidLength { what, len });
            }
            if aad.len() > WD_MAX_AAD_BYTES as usize {
                return Err(Error::InvalidLength {
                    what: "AAD",
                    len: aad.len(),
                });
            }
            Ok(())
        }
    }
}

/// Builds key || iv || aad || tag for a descriptor's aux area.
pub(crate) fn aux_area(key: &[u8], iv: &[u8], aad: &[u8], tag: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.len() + iv.len() + aad.len() + tag.len());
    v.extend_from_slice(key);
    v.extend_from_slice(iv);
    v.extend_from_slice(aad);
    v.extend_from_slice(tag);
    v
}

impl Warpdrive {
    /// Runs `offload` on a pooled queue when `size` reaches `threshold`.
    /// None means: run it inline (too small, no queue, or the device failed,
    /// which is counted as a fallback).
    fn try_offload<T>(
        &self,
        size: usize,
        threshold: usize,
        offload: impl FnOnce(&mut Queue) -> Result<T>,
    ) -> Option<Result<T>> {
        if size < threshold {
            return None;
        }
        let mut q = self.checkout()?;
        match offload(q.get()) {
            Err(e) if e.is_device_failure() => {
                q.discard();
                self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
            other => Some(other),
        }
    }

    /// Counts an inline run.
    fn inline<T>(&self, r: Result<T>, sizes: impl Fn(&T) -> (usize, usize)) -> Result<T> {
        let c = &self.counters;
        c.inline.fetch_add(1, Ordering::Relaxed);
        match &r {
            Ok(v) => {
                let (i, o) = sizes(v);
                c.inline_bytes_in.fetch_add(i as u64, Ordering::Relaxed);
                c.inline_bytes_out.fetch_add(o as u64, Ordering::Relaxed);
            }
            Err(_) => {
                c.inline_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        r
    }

    /// Compresses `src` into `dst` as one complete stream; returns its size.
    pub fn compress(
        &self,
        format: Format,
        level: u32,
        src: &[u8],
        dst: &mut [u8],
    ) -> Result<usize> {
        if level > 9 {
            return Err(Error::InvalidArgument("compression level must be 0..=9"));
        }
        check_request_len(src.len())?;
        let dst_len = dst.len().min(WD_MAX_REQUEST_BYTES as usize);
        if let Some(r) = self.try_offload(src.len(), self.inline_max().compress, |q| {
            let desc = WdDesc {
                opcode: WD_OP_COMPRESS,
                alg: alg_of_format(format),
                level: level as u8,
                ..Default::default()
            };
            run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(src),
                    dst: &mut dst[..dst_len],
                    aux: &mut [],
                },
                "compress",
            )
            .map(|cqe| cqe.produced as usize)
        }) {
            return r;
        }
        self.inline(
            {
                eng::compress(format, level, src, dst)
                    .map(|o| o.produced)
                    .map_err(|s| engine_error(s, "compress"))
            },
            |&n| (src.len(), n),
        )
    }

    /// Decompresses one complete stream from the start of `src`.
    pub fn decompress(&self, format: Format, src: &[u8], dst: &mut [u8]) -> Result<Progress> {
        self.decompress_with_checksum(format, src, dst)
            .map(|(p, _)| p)
    }

    /// `decompress`, with the checksum the engine reports for the stream: the
    /// verified trailer's for zlib and gzip, the output's CRC-32 for raw
    /// deflate (`wd_cqe.checksum`).
    pub(crate) fn decompress_with_checksum(
        &self,
        format: Format,
        src: &[u8],
        dst: &mut [u8],
    ) -> Result<(Progress, u32)> {
        check_request_len(src.len())?;
        let dst_len = dst.len().min(WD_MAX_REQUEST_BYTES as usize);
        if let Some(r) = self.try_offload(src.len(), self.inline_max().decompress, |q| {
            let desc = WdDesc {
                opcode: WD_OP_DECOMPRESS,
                alg: alg_of_format(format),
                ..Default::default()
            };
            let cqe = run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(src),
                    dst: &mut dst[..dst_len],
                    aux: &mut [],
                },
                "decompress",
            )?;
            let p = Progress {
                consumed: cqe.consumed as usize,
                produced: cqe.produced as usize,
                done: true,
            };
            Ok((p, cqe.checksum))
        }) {
            return r;
        }
        self.inline(
            {
                eng::decompress(format, src, dst)
                    .map(|o| {
                        let p = Progress {
                            consumed: o.consumed,
                            produced: o.produced,
                            done: true,
                        };
                        (p, o.checksum)
                    })
                    .map_err(|s| engine_error(s, "decompress"))
            },
            |(p, _)| (p.consumed, p.produced),
        )
    }

    pub fn digest(&self, alg: HashAlg, data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.hash(alg, None, data, out)
    }

    pub fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.hash(alg, Some(key), data, out)
    }

    fn hash(&self, alg: HashAlg, key: Option<&[u8]>, data: &[u8], out: &mut [u8]) -> Result<usize> {
        if out.len() < alg.digest_len() {
            return Err(Error::OutputTooSmall {
                needed: Some(alg.digest_len()),
            });
        }
        check_request_len(data.len())?;
        let key_fits = key.is_none_or(|k| k.len() <= WD_MAX_KEY_BYTES as usize);
        let threshold = if key_fits {
            self.inline_max().hash
        } else {
            usize::MAX
        };
        let out_len = out.len().min(64);
        if let Some(r) = self.try_offload(data.len(), threshold, |q| {
            let k = key.unwrap_or(&[]);
            let mut aux = k.to_vec();
            let desc = WdDesc {
                opcode: WD_OP_HASH,
                alg: alg_of_hash(alg, key.is_some()),
                key_len: k.len() as u8,
                ..Default::default()
            };
            run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(data),
                    dst: &mut out[..out_len],
                    aux: &mut aux,
                },
                "hash",
            )
            .map(|cqe| cqe.produced as usize)
        }) {
            return r;
        }
        self.inline(
            match key {
                Some(k) => eng::hmac(alg, k, data, out).map_err(inline_err("HMAC")),
                None => eng::digest(alg, data, out).map_err(inline_err("digest")),
            },
            |&n| (data.len(), n),
        )
    }

    /// AES-GCM encryption; `tag` receives the tag (4..=16 bytes).
    pub fn aead_seal(
        &self,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        self.aead_seal_with(Aead::AesGcm, key, iv, aad, plaintext, out, tag)
    }

    /// AES-GCM decryption; on a tag mismatch returns `AuthFailed` and leaves
    /// `out` zeroed.
    pub fn aead_open(
        &self,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        self.aead_open_with(Aead::AesGcm, key, iv, aad, ciphertext, tag, out)
    }

    /// AEAD encryption with `alg`; `tag` receives the tag (its length is
    /// checked against what `alg` takes, see [`Aead`]).
    #[allow(clippy::too_many_arguments)]
    pub fn aead_seal_with(
        &self,
        alg: Aead,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        check_aead(alg, key, iv, tag.len(), aad)?;
        check_request_len(plaintext.len())?;
        if out.len() < plaintext.len() {
            return Err(Error::OutputTooSmall {
                needed: Some(plaintext.len()),
            });
        }
        let n = plaintext.len();
        if let Some(r) = self.try_offload(n, self.inline_max().cipher, |q| {
            let mut aux = aux_area(key, iv, aad, tag);
            let desc = aead_desc(alg, WD_OP_ENCRYPT, key, iv, aad, tag.len());
            run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(plaintext),
                    dst: &mut out[..n],
                    aux: &mut aux,
                },
                alg.name(),
            )?;
            tag.copy_from_slice(&aux[aux.len() - tag.len()..]);
            Ok(())
        }) {
            return r;
        }
        let r = match alg {
            Aead::AesGcm => eng::gcm_seal(key, iv, aad, plaintext, out, tag),
            Aead::ChaCha20Poly1305 => {
                eng::chacha20_poly1305_seal(key, iv, aad, plaintext, out, tag)
            }
        };
        self.inline(r.map(|_| ()).map_err(inline_err(alg.name())), |_| (n, n))
    }

    /// AEAD decryption with `alg`; on a tag mismatch returns `AuthFailed` and
    /// leaves `out` zeroed.
    #[allow(clippy::too_many_arguments)]
    pub fn aead_open_with(
        &self,
        alg: Aead,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        check_aead(alg, key, iv, tag.len(), aad)?;
        check_request_len(ciphertext.len())?;
        let n = ciphertext.len();
        if out.len() < n {
            return Err(Error::OutputTooSmall { needed: Some(n) });
        }
        let r = match self.try_offload(n, self.inline_max().cipher, |q| {
            let mut aux = aux_area(key, iv, aad, tag);
            let desc = aead_desc(alg, WD_OP_DECRYPT, key, iv, aad, tag.len());
            run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(ciphertext),
                    dst: &mut out[..n],
                    aux: &mut aux,
                },
                alg.name(),
            )
            .map(|_| ())
        }) {
            Some(r) => r,
            None => {
                let r = match alg {
                    Aead::AesGcm => eng::gcm_open(key, iv, aad, ciphertext, out, tag),
                    Aead::ChaCha20Poly1305 => {
                        eng::chacha20_poly1305_open(key, iv, aad, ciphertext, out, tag)
                    }
                };
                self.inline(r.map(|_| ()).map_err(inline_err(alg.name())), |_| (n, n))
            }
        };
        if r.is_err() {
            out[..n].fill(0);
        }
        r
    }

    /// AES-CTR or AES-CBC over a whole message; returns bytes written.
    #[allow(clippy::too_many_arguments)]
    pub fn cipher(
        &self,
        mode: CipherMode,
        dir: Direction,
        key: &[u8],
        iv: &[u8],
        padding: bool,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize> {
        check_key(key)?;
        check_iv16(iv)?;
        check_request_len(input.len())?;
        let (alg, encrypt) = match mode {
            CipherMode::Ctr => (WD_ALG_AES_CTR, dir == Direction::Encrypt),
            CipherMode::Cbc => (WD_ALG_AES_CBC, dir == Direction::Encrypt),
            CipherMode::Gcm => {
                return Err(Error::InvalidArgument("use aead_seal/aead_open for GCM"))
            }
        };
        let out_len = out.len().min(WD_MAX_REQUEST_BYTES as usize);
        if let Some(r) = self.try_offload(input.len(), self.inline_max().cipher, |q| {
            let mut aux = aux_area(key, iv, &[], &[]);
            let mut desc = WdDesc {
                opcode: if encrypt {
                    WD_OP_ENCRYPT
                } else {
                    WD_OP_DECRYPT
                },
                alg,
                key_len: key.len() as u8,
                iv_len: 16,
                ..Default::default()
            };
            if mode == CipherMode::Cbc && !padding {
                desc.flags |= WD_DESC_F_NO_PADDING;
            }
            run_checked(
                q,
                Job {
                    desc,
                    src: Src::Slice(input),
                    dst: &mut out[..out_len],
                    aux: &mut aux,
                },
                "AES",
            )
            .map(|cqe| cqe.produced as usize)
        }) {
            return r;
        }
        self.inline(
            {
                let r = match mode {
                    CipherMode::Ctr => eng::ctr(key, iv, input, out),
                    _ => eng::cbc(encrypt, padding, key, iv, input, out),
                };
                r.map(|o| o.produced).map_err(|s| engine_error(s, "AES"))
            },
            |&n| (input.len(), n),
        )
    }
}

fn aead_desc(alg: Aead, opcode: u8, key: &[u8], iv: &[u8], aad: &[u8], tag_len: usize) -> WdDesc {
    WdDesc {
        opcode,
        alg: alg.alg(),
        key_len: key.len() as u8,
        iv_len: iv.len() as u8,
        tag_len: tag_len as u8,
        aad_len: aad.len() as u32,
        ..Default::default()
    }
}

fn check_request_len(n: usize) -> Result<()> {
    if n > WD_MAX_REQUEST_BYTES as usize {
        Err(Error::InvalidLength {
            what: "request",
            len: n,
        })
    } else {
        Ok(())
    }
}

/// Runs a job and keeps the queue's counters.
pub(crate) fn run_counted(q: &mut Queue, job: Job<'_>) -> Result<WdCqe> {
    let c = q.counters.clone();
    count_request(&c);
    let r = q.run(job);
    count_result(&c, &r);
    r
}

/// `run_counted`, running `during` while the engine works (Queue::run_while).
pub(crate) fn run_counted_while<R>(
    q: &mut Queue,
    job: Job<'_>,
    during: impl FnOnce() -> R,
) -> (Result<WdCqe>, R) {
    let c = q.counters.clone();
    count_request(&c);
    let (r, during) = q.run_while(job, during);
    count_result(&c, &r);
    (r, during)
}

/// Counts one synchronous request going to a queue; `count_result` counts
/// how it ended.
pub(crate) fn count_request(c: &QueueCounters) {
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.max_inflight.fetch_max(1, Ordering::Relaxed);
}

/// Adds a finished request's bytes, or its failure, to a queue's counters.
pub(crate) fn count_result(c: &QueueCounters, r: &Result<WdCqe>) {
    match r {
        Ok(cqe) if cqe.status == WD_STATUS_OK => {
            c.bytes_in.fetch_add(cqe.consumed as u64, Ordering::Relaxed);
            c.bytes_out
                .fetch_add(cqe.produced as u64, Ordering::Relaxed);
        }
        _ => {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `run_counted`, with a failed status turned into its `Error`.
pub(crate) fn run_checked(q: &mut Queue, job: Job<'_>, what: &'static str) -> Result<WdCqe> {
    let cqe = run_counted(q, job)?;
    status_result(&cqe, what)?;
    Ok(cqe)
}

pub(crate) fn status_result(cqe: &WdCqe, what: &'static str) -> Result<()> {
    match Error::from_status(cqe.status, cqe.needed, what) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Compresses `src` into `dst` as one stream; returns the compressed size.
pub fn compress(format: Format, level: u32, src: &[u8], dst: &mut [u8]) -> Result<usize> {
    with_global(|wd| wd.compress(format, level, src, dst))
}

/// The most `compress` can produce for `len` input bytes.
pub fn compress_bound(format: Format, len: usize) -> usize {
    eng::compress_bound(format, len)
}

/// Decompresses the stream at the start of `src` into `dst`.
pub fn decompress(format: Format, src: &[u8], dst: &mut [u8]) -> Result<Progress> {
    with_global(|wd| wd.decompress(format, src, dst))
}

pub fn digest(alg: HashAlg, data: &[u8], out: &mut [u8]) -> Result<usize> {
    with_global(|wd| wd.digest(alg, data, out))
}

pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8], out: &mut [u8]) -> Result<usize> {
    with_global(|wd| wd.hmac(alg, key, data, out))
}

pub fn aead_seal(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
    tag: &mut [u8],
) -> Result<()> {
    with_global(|wd| wd.aead_seal(key, iv, aad, plaintext, out, tag))
}

pub fn aead_open(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    with_global(|wd| wd.aead_open(key, iv, aad, ciphertext, tag, out))
}

/// [`Warpdrive::aead_seal_with`] on the process-wide instance.
pub fn aead_seal_with(
    alg: Aead,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
    tag: &mut [u8],
) -> Result<()> {
    with_global(|wd| wd.aead_seal_with(alg, key, iv, aad, plaintext, out, tag))
}

/// [`Warpdrive::aead_open_with`] on the process-wide instance.
pub fn aead_open_with(
    alg: Aead,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    with_global(|wd| wd.aead_open_with(alg, key, iv, aad, ciphertext, tag, out))
}

#[allow(clippy::too_many_arguments)]
pub fn cipher(
    mode: CipherMode,
    dir: Direction,
    key: &[u8],
    iv: &[u8],
    padding: bool,
    input: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    with_global(|wd| wd.cipher(mode, dir, key, iv, padding, input, out))
}
