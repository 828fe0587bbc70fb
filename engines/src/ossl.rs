//! The private OpenSSL library context and the algorithms fetched from it once.
//!
//! The context loads only OpenSSL's "default" provider and no configuration file,
//! so whatever the application configured (including WarpDrive's own provider set
//! as the default) is never reached from here.

use std::sync::OnceLock;

use openssl::cipher::Cipher;
use openssl::lib_ctx::LibCtx;
use openssl::md::Md;
use openssl::provider::Provider;

use crate::{Result, Status};

pub(crate) struct Algs {
    // Field order matters for nothing at run time (the static is never dropped),
    // but keep the context and provider alive as long as the fetched objects.
    pub gcm: [Cipher; 3],
    pub ctr: [Cipher; 3],
    pub cbc: [Cipher; 3],
    pub chacha: Cipher,
    pub md: [Md; 5],
    _provider: Provider,
    _ctx: LibCtx,
}

static ALGS: OnceLock<std::result::Result<Algs, String>> = OnceLock::new();

fn init() -> std::result::Result<Algs, String> {
    let ctx = LibCtx::new().map_err(|e| e.to_string())?;
    let provider = Provider::load(Some(&ctx), "default").map_err(|e| e.to_string())?;
    let fetch_c =
        |name: &str| Cipher::fetch(Some(&ctx), name, None).map_err(|e| format!("{name}: {e}"));
    let fetch_m =
        |name: &str| Md::fetch(Some(&ctx), name, None).map_err(|e| format!("{name}: {e}"));
    let gcm = [
        fetch_c("AES-128-GCM")?,
        fetch_c("AES-192-GCM")?,
        fetch_c("AES-256-GCM")?,
    ];
    let ctr = [
        fetch_c("AES-128-CTR")?,
        fetch_c("AES-192-CTR")?,
        fetch_c("AES-256-CTR")?,
    ];
    let cbc = [
        fetch_c("AES-128-CBC")?,
        fetch_c("AES-192-CBC")?,
        fetch_c("AES-256-CBC")?,
    ];
    let chacha = fetch_c("ChaCha20-Poly1305")?;
    let md = [
        fetch_m("SHA1")?,
        fetch_m("SHA224")?,
        fetch_m("SHA256")?,
        fetch_m("SHA384")?,
        fetch_m("SHA512")?,
    ];
    Ok(Algs {
        gcm,
        ctr,
        cbc,
        chacha,
        md,
        _provider: provider,
        _ctx: ctx,
    })
}

/// The process-wide algorithms, fetched on first use.
pub(crate) fn algs() -> Result<&'static Algs> {
    ALGS.get_or_init(init)
        .as_ref()
        .map_err(|_| Status::Internal)
}

/// Index 0/1/2 for AES-128/192/256 by key length.
pub(crate) fn key_index(key: &[u8]) -> Result<usize> {
    match key.len() {
        16 => Ok(0),
        24 => Ok(1),
        32 => Ok(2),
        _ => Err(Status::InvalidLength),
    }
}

/// Why the private context could not be set up, if it could not.
pub fn init_error() -> Option<String> {
    ALGS.get_or_init(init).as_ref().err().cloned()
}
