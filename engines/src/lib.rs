//! WarpDrive's compute library: the deflate, AES and SHA engines that the software
//! device's engine threads and the core's inline path both call.
//!
//! Pure computation: no rings, no threads, no global mutable state beyond
//! per-thread caches of engine contexts. Every function validates its arguments
//! and reports a [`Status`] (numbered exactly like `WD_STATUS_*` in
//! `include/uapi/warpdrive.h`); nothing here panics on bad input and nothing
//! writes past the end of an output slice.
//!
//! Engines, chosen by measurement (see `benches/corpus.rs` and the crate README):
//! - one-shot compression: ISA-L (igzip) for level 1, libdeflate for the other
//!   levels (level 0 = stored blocks), mapped so that every level's output is no
//!   larger than system zlib's at that level on the project corpus;
//! - one-shot decompression: libdeflate (zlib-rs for raw deflate, which has
//!   no checksum to catch a stream zlib would refuse);
//! - streaming compression: ISA-L for level 1, zlib-rs (zlib's exact
//!   contract) for the others; streaming decompression: ISA-L for zlib and
//!   gzip streams (zlib's consumption and checksum contract on top), zlib-rs
//!   for raw deflate;
//! - ciphers, digests, HMAC: OpenSSL libcrypto in a private `OSSL_LIB_CTX` that
//!   loads only the "default" provider; only with the `crypto` feature (on by
//!   default). Without it (the zlib drop-in's build) nothing links libcrypto
//!   and every crypto entry point refuses with [`Status::InvalidAlg`].

mod alg;
#[cfg(feature = "crypto")]
mod chacha;
#[cfg(feature = "crypto")]
mod crypto;
mod deflate;
#[cfg(feature = "crypto")]
mod hash;
mod isal_deflate;
mod isal_inflate;
#[cfg(not(feature = "crypto"))]
mod nocrypto;
#[cfg(feature = "crypto")]
mod ossl;

pub use alg::{CipherMode, HashAlg};
#[cfg(feature = "crypto")]
pub use chacha::{
    chacha20_poly1305_open, chacha20_poly1305_open_in_place, chacha20_poly1305_seal,
    chacha20_poly1305_seal_in_place, CHACHA20_POLY1305_KEY, CHACHA20_POLY1305_NONCE,
    CHACHA20_POLY1305_TAG,
};
#[cfg(feature = "crypto")]
pub use crypto::{
    cbc, cbc_in_place, ctr, ctr_in_place, gcm_open, gcm_open_in_place, gcm_seal, gcm_seal_in_place,
    CipherStream,
};
pub use deflate::{
    compress, compress_bound, compress_segment, decompress, engine_for_level, segment_bound,
    update_check, zlib_rs_level, DeflateStream, Engine, Flush, Format, InflateStream,
    SEGMENT_HISTORY_MAX,
};
#[cfg(feature = "crypto")]
pub use hash::{digest, hmac, HashStream};
#[cfg(not(feature = "crypto"))]
pub use nocrypto::{
    cbc, cbc_in_place, chacha20_poly1305_open, chacha20_poly1305_open_in_place,
    chacha20_poly1305_seal, chacha20_poly1305_seal_in_place, ctr, ctr_in_place, digest, gcm_open,
    gcm_open_in_place, gcm_seal, gcm_seal_in_place, hmac, init_error as crypto_init_error,
    CipherStream, HashStream, CHACHA20_POLY1305_KEY, CHACHA20_POLY1305_NONCE,
    CHACHA20_POLY1305_TAG,
};
#[cfg(feature = "crypto")]
pub use ossl::init_error as crypto_init_error;

/// Why an operation failed. The discriminants are the `WD_STATUS_*` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    /// Unknown algorithm or mode (`WD_STATUS_INVALID_ALG`).
    InvalidAlg = 2,
    /// Key, IV, tag, AAD or data length not allowed (`WD_STATUS_INVALID_LENGTH`).
    InvalidLength = 3,
    /// The output slice is too small; `needed` bytes would do (0 if unknown).
    /// Nothing useful was written (`WD_STATUS_DST_TOO_SMALL`).
    DstTooSmall {
        /// Bytes of output needed, 0 if unknown.
        needed: usize,
    } = 5,
    /// Corrupt or truncated compressed data, or bad CBC padding
    /// (`WD_STATUS_DATA_ERROR`).
    DataError = 6,
    /// Adler-32 / CRC-32 / ISIZE trailer does not match (`WD_STATUS_CHECKSUM_MISMATCH`).
    ChecksumMismatch = 7,
    /// AEAD tag check failed; the output was wiped (`WD_STATUS_AUTH_FAILED`).
    AuthFailed = 8,
    /// A stream used out of order, e.g. data after `Flush::Finish`, or a tag
    /// asked for before the end (`WD_STATUS_BAD_STREAM`).
    BadStream = 9,
    /// An allocation failed (`WD_STATUS_NO_MEMORY`).
    NoMemory = 10,
    /// A parameter outside its range that is not a length, e.g. a compression
    /// level above 9 (`WD_STATUS_INVALID_FLAGS`).
    InvalidParam = 13,
    /// The underlying library failed unexpectedly (`WD_STATUS_INTERNAL`).
    Internal = 14,
}

impl Status {
    /// The `WD_STATUS_*` number.
    pub fn code(self) -> u32 {
        match self {
            Status::InvalidAlg => 2,
            Status::InvalidLength => 3,
            Status::DstTooSmall { .. } => 5,
            Status::DataError => 6,
            Status::ChecksumMismatch => 7,
            Status::AuthFailed => 8,
            Status::BadStream => 9,
            Status::NoMemory => 10,
            Status::InvalidParam => 13,
            Status::Internal => 14,
        }
    }

    /// Bytes needed for [`Status::DstTooSmall`] (0 if unknown or another status),
    /// the value for `wd_cqe.needed`.
    pub fn needed(self) -> usize {
        match self {
            Status::DstTooSmall { needed } => needed,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::InvalidAlg => f.write_str("unknown algorithm"),
            Status::InvalidLength => f.write_str("invalid key, iv, tag or data length"),
            Status::DstTooSmall { needed: 0 } => f.write_str("output buffer too small"),
            Status::DstTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Status::DataError => f.write_str("corrupt or truncated data"),
            Status::ChecksumMismatch => f.write_str("checksum mismatch"),
            Status::AuthFailed => f.write_str("authentication failed"),
            Status::BadStream => f.write_str("stream used out of order"),
            Status::NoMemory => f.write_str("out of memory"),
            Status::InvalidParam => f.write_str("invalid parameter"),
            Status::Internal => f.write_str("internal engine error"),
        }
    }
}

impl std::error::Error for Status {}

/// What an operation did, in the terms of `struct wd_cqe`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes written to the output.
    pub produced: usize,
    /// Bytes of input used.
    pub consumed: usize,
    /// Compression: CRC-32 (raw, gzip) or Adler-32 (zlib) of the uncompressed data
    /// so far. 0 for ciphers.
    pub checksum: u32,
    /// Always 0 on success (a too-small output is `Err(Status::DstTooSmall)`);
    /// present so that an `Outcome` maps field by field onto `wd_cqe`.
    pub needed: usize,
    /// Streaming: the engine holds more output; call again with more room.
    pub more_output: bool,
    /// Decompression: the end of the compressed stream was reached.
    /// Streaming compression: `Flush::Finish` completed.
    pub stream_end: bool,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Status>;
