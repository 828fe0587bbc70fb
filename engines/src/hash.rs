//! SHA-1/SHA-2 digests and HMAC over them, through libcrypto's EVP_MD in the
//! private library context.
//!
//! HMAC is the RFC 2104 construction over two digest contexts (inner and outer,
//! keyed once), which gives OpenSSL's HMAC bit for bit (the Wycheproof and
//! differential tests check it) and lets a keyed stream be cloned cheaply.

use std::cell::RefCell;

use foreign_types_shared::ForeignTypeRef;
use openssl::md_ctx::{MdCtx, MdCtxRef};

pub use crate::alg::HashAlg;
use crate::ossl::algs;
use crate::{Result, Status};

const MAX_BLOCK: usize = 128;
const MAX_DIGEST: usize = 64;

fn ossl(_: openssl::error::ErrorStack) -> Status {
    Status::Internal
}

fn init_ctx(ctx: &mut MdCtxRef, alg: HashAlg) -> Result<()> {
    ctx.digest_init(&algs()?.md[alg.index()]).map_err(ossl)
}

fn final_into(ctx: &mut MdCtxRef, alg: HashAlg, out: &mut [u8]) -> Result<usize> {
    let n = alg.digest_len();
    if out.len() < n {
        return Err(Status::DstTooSmall { needed: n });
    }
    let got = ctx.digest_final(&mut out[..n]).map_err(ossl)?;
    if got != n {
        return Err(Status::Internal);
    }
    Ok(n)
}

thread_local! {
    /// One reusable digest context per thread for one-shot calls.
    static ONE_SHOT: RefCell<Option<MdCtx>> = const { RefCell::new(None) };
}

fn with_ctx<T>(f: impl FnOnce(&mut MdCtxRef) -> Result<T>) -> Result<T> {
    ONE_SHOT.with(|cell| {
        // A nested call (impossible today) would find the slot busy: use a fresh ctx.
        let Ok(mut slot) = cell.try_borrow_mut() else {
            let mut ctx = MdCtx::new().map_err(|_| Status::NoMemory)?;
            return f(&mut ctx);
        };
        if slot.is_none() {
            *slot = Some(MdCtx::new().map_err(|_| Status::NoMemory)?);
        }
        match slot.as_mut() {
            Some(ctx) => f(ctx),
            None => Err(Status::Internal),
        }
    })
}

/// Writes the digest of `data` to `out[..alg.digest_len()]` and returns its length.
pub fn digest(alg: HashAlg, data: &[u8], out: &mut [u8]) -> Result<usize> {
    if out.len() < alg.digest_len() {
        return Err(Status::DstTooSmall {
            needed: alg.digest_len(),
        });
    }
    with_ctx(|ctx| {
        init_ctx(ctx, alg)?;
        ctx.digest_update(data).map_err(ossl)?;
        final_into(ctx, alg, out)
    })
}

/// The key padded to one block (hashed first if longer than a block).
fn key_block(alg: HashAlg, key: &[u8]) -> Result<[u8; MAX_BLOCK]> {
    let mut k = [0u8; MAX_BLOCK];
    if key.len() > alg.block_len() {
        digest(alg, key, &mut k)?;
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    Ok(k)
}

fn xor_pad(k: &[u8; MAX_BLOCK], pad: u8, n: usize) -> [u8; MAX_BLOCK] {
    let mut b = [0u8; MAX_BLOCK];
    for (o, i) in b.iter_mut().zip(k.iter()).take(n) {
        *o = i ^ pad;
    }
    b
}

fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// Writes HMAC-`alg`(`key`, `data`) to `out[..alg.digest_len()]`; any key length.
pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8], out: &mut [u8]) -> Result<usize> {
    let mut s = HashStream::new_hmac(alg, key)?;
    s.update(data)?;
    s.finish(out)
}

/// A digest context that can be cloned, e.g. to hash a common prefix once.
struct Ctx(MdCtx);

impl Ctx {
    fn new(alg: HashAlg) -> Result<Self> {
        let mut c = MdCtx::new().map_err(|_| Status::NoMemory)?;
        init_ctx(&mut c, alg)?;
        Ok(Ctx(c))
    }

    fn try_clone(&self) -> Result<Self> {
        let c = MdCtx::new().map_err(|_| Status::NoMemory)?;
        // SAFETY: both pointers are live EVP_MD_CTX objects owned by `c` and
        // `self.0`; EVP_MD_CTX_copy_ex only reads src and writes dst.
        let ok = unsafe { openssl_sys::EVP_MD_CTX_copy_ex(c.as_ptr(), self.0.as_ptr()) };
        if ok == 1 {
            Ok(Ctx(c))
        } else {
            let _ = openssl::error::ErrorStack::get();
            Err(Status::Internal)
        }
    }
}

enum Kind {
    Plain,
    /// Outer context already keyed with K ^ opad.
    Hmac(Ctx),
}

/// A streaming digest or HMAC (init / update / final). `Clone` copies the state.
pub struct HashStream {
    alg: HashAlg,
    ctx: Ctx,
    kind: Kind,
    finished: bool,
}

impl HashStream {
    /// A plain digest stream.
    pub fn new(alg: HashAlg) -> Result<Self> {
        Ok(HashStream {
            alg,
            ctx: Ctx::new(alg)?,
            kind: Kind::Plain,
            finished: false,
        })
    }

    /// An HMAC stream keyed with `key` (any length).
    pub fn new_hmac(alg: HashAlg, key: &[u8]) -> Result<Self> {
        let n = alg.block_len();
        let mut k = key_block(alg, key)?;
        let mut ipad = xor_pad(&k, 0x36, n);
        let mut opad = xor_pad(&k, 0x5c, n);
        let mut inner = Ctx::new(alg)?;
        let mut outer = Ctx::new(alg)?;
        let r = inner
            .0
            .digest_update(&ipad[..n])
            .and_then(|_| outer.0.digest_update(&opad[..n]));
        wipe(&mut k);
        wipe(&mut ipad);
        wipe(&mut opad);
        r.map_err(ossl)?;
        Ok(HashStream {
            alg,
            ctx: inner,
            kind: Kind::Hmac(outer),
            finished: false,
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Feeds `data`. `Err(BadStream)` after `finish`.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.finished {
            return Err(Status::BadStream);
        }
        self.ctx.0.digest_update(data).map_err(ossl)
    }

    /// Writes the digest/MAC to `out[..digest_len]` and returns its length. The
    /// stream is then spent (`BadStream` on further use) until `clone`d earlier.
    /// A too-small `out` is `DstTooSmall` and leaves the stream usable.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.finished {
            return Err(Status::BadStream);
        }
        let n = self.alg.digest_len();
        if out.len() < n {
            return Err(Status::DstTooSmall { needed: n });
        }
        self.finished = true;
        match &mut self.kind {
            Kind::Plain => final_into(&mut self.ctx.0, self.alg, out),
            Kind::Hmac(outer) => {
                let mut ih = [0u8; MAX_DIGEST];
                final_into(&mut self.ctx.0, self.alg, &mut ih)?;
                let r = outer.0.digest_update(&ih[..n]).map_err(ossl);
                wipe(&mut ih);
                r?;
                final_into(&mut outer.0, self.alg, out)
            }
        }
    }

    /// Fallible clone (an allocation may fail).
    pub fn try_clone(&self) -> Result<Self> {
        Ok(HashStream {
            alg: self.alg,
            ctx: self.ctx.try_clone()?,
            kind: match &self.kind {
                Kind::Plain => Kind::Plain,
                Kind::Hmac(o) => Kind::Hmac(o.try_clone()?),
            },
            finished: self.finished,
        })
    }
}

impl Clone for HashStream {
    /// Panics only if OpenSSL cannot allocate a context; use
    /// [`HashStream::try_clone`] to get that as an error.
    fn clone(&self) -> Self {
        match self.try_clone() {
            Ok(s) => s,
            Err(e) => panic!("HashStream::clone: {e}"),
        }
    }
}
