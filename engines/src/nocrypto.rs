//! The crypto entry points of a build without the `crypto` feature (the zlib
//! drop-in's): the same names and signatures as `crypto`, `hash` and
//! `chacha`, each refusing with [`Status::InvalidAlg`], so the core compiles
//! unchanged and a cipher or digest request fails as an unknown algorithm
//! instead of linking libcrypto into every program that loads zlib.
//!
//! The stream types hold an uninhabited value: none can be made, so their
//! methods are never reached.

use crate::alg::{CipherMode, HashAlg};
use crate::{Outcome, Result, Status};

/// ChaCha20-Poly1305 key length (as the crypto build).
pub const CHACHA20_POLY1305_KEY: usize = 32;
/// ChaCha20-Poly1305 nonce length.
pub const CHACHA20_POLY1305_NONCE: usize = 12;
/// ChaCha20-Poly1305 tag length.
pub const CHACHA20_POLY1305_TAG: usize = 16;

const NOT_BUILT: Status = Status::InvalidAlg;

#[derive(Clone, Copy)]
enum Never {}

pub fn gcm_seal(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &mut [u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn gcm_open(_: &[u8], _: &[u8], _: &[u8], _: &[u8], _: &mut [u8], _: &[u8]) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn gcm_seal_in_place(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &mut [u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn gcm_open_in_place(_: &[u8], _: &[u8], _: &[u8], _: &mut [u8], _: &[u8]) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn ctr(_: &[u8], _: &[u8], _: &[u8], _: &mut [u8]) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn ctr_in_place(_: &[u8], _: &[u8], _: &mut [u8]) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn cbc(_: bool, _: bool, _: &[u8], _: &[u8], _: &[u8], _: &mut [u8]) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn cbc_in_place(
    _: bool,
    _: bool,
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: usize,
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn chacha20_poly1305_seal(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &mut [u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn chacha20_poly1305_open(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &[u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn chacha20_poly1305_seal_in_place(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &mut [u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn chacha20_poly1305_open_in_place(
    _: &[u8],
    _: &[u8],
    _: &[u8],
    _: &mut [u8],
    _: &[u8],
) -> Result<Outcome> {
    Err(NOT_BUILT)
}

pub fn digest(_: HashAlg, _: &[u8], _: &mut [u8]) -> Result<usize> {
    Err(NOT_BUILT)
}

pub fn hmac(_: HashAlg, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<usize> {
    Err(NOT_BUILT)
}

/// Why the crypto engines cannot run: they are not built in.
pub fn init_error() -> Option<String> {
    Some("built without the crypto engines (feature `crypto`)".into())
}

/// Never made in this build (`new` refuses).
#[derive(Clone)]
pub struct CipherStream(Never);

impl CipherStream {
    pub fn new(_: CipherMode, _: bool, _: bool, _: &[u8], _: &[u8]) -> Result<Self> {
        Err(NOT_BUILT)
    }
    pub fn restart(&mut self, _: Option<&[u8]>, _: &[u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn set_aad(&mut self, _: &[u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn update_len(&self, _: usize) -> usize {
        match self.0 {}
    }
    pub fn update(&mut self, _: &[u8], _: &mut [u8]) -> Result<usize> {
        match self.0 {}
    }
    pub fn update_in_place(&mut self, _: &mut [u8], _: usize) -> Result<usize> {
        match self.0 {}
    }
    pub fn finish(&mut self, _: &mut [u8]) -> Result<usize> {
        match self.0 {}
    }
    pub fn tag(&self, _: &mut [u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn set_expected_tag(&mut self, _: &[u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn mode(&self) -> CipherMode {
        match self.0 {}
    }
    pub fn try_clone(&self) -> Result<Self> {
        match self.0 {}
    }
}

/// Never made in this build (`new` and `new_hmac` refuse).
#[derive(Clone)]
pub struct HashStream(Never);

impl HashStream {
    pub fn new(_: HashAlg) -> Result<Self> {
        Err(NOT_BUILT)
    }
    pub fn new_hmac(_: HashAlg, _: &[u8]) -> Result<Self> {
        Err(NOT_BUILT)
    }
    pub fn alg(&self) -> HashAlg {
        match self.0 {}
    }
    pub fn update(&mut self, _: &[u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn finish(&mut self, _: &mut [u8]) -> Result<usize> {
        match self.0 {}
    }
    pub fn try_clone(&self) -> Result<Self> {
        match self.0 {}
    }
}
