//! The algorithm names the engines take: plain data, present whether or not
//! the crypto engines are built in (feature `crypto`), so the core's types and
//! descriptors are the same in every build.

/// A cipher mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherMode {
    /// AES-GCM: IV 1..=64 bytes (12 usual), tag 4..=16 bytes.
    Gcm,
    /// AES-CTR with a 16-byte initial counter block (128-bit big-endian counter).
    Ctr,
    /// AES-CBC with a 16-byte IV, with or without PKCS#7 padding.
    Cbc,
}

/// A hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (20-byte digest).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Digest size in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Block size in bytes (the HMAC pad length).
    pub fn block_len(self) -> usize {
        match self {
            HashAlg::Sha1 | HashAlg::Sha224 | HashAlg::Sha256 => 64,
            HashAlg::Sha384 | HashAlg::Sha512 => 128,
        }
    }

    #[cfg(feature = "crypto")]
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
