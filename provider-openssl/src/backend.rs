//! The only module that calls the WarpDrive core (crate `warpdrive`). Everything the
//! provider needs from the core goes through these few wrappers, which also translate the
//! core's errors into OpenSSL reasons.

use crate::boundary::ProvError;
use crate::provider::Config;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, Weak};
use warpdrive::{BackendChoice, InlineMax, Warpdrive};
pub use warpdrive::{CipherMode, Direction, HashAlg};

/// What an algorithm needs from the device (for the offered-algorithm list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// A symmetric cipher mode.
    Cipher(CipherMode),
    /// A hash (also covers HMAC over it).
    Hash(HashAlg),
    /// An AEAD of the one-shot calls (ChaCha20-Poly1305).
    Aead(warpdrive::Aead),
}

/// Whether the device (or the core's software path) can run `cap`.
/// Every WarpDrive backend (kernel device, software device, inline engines) runs every
/// mode and hash, with software fallback per request, so everything is offered; a
/// per-device capability query is requested in NEEDS-FROM-CORE.md.
pub fn supports(_cap: Capability) -> bool {
    true
}

/// Provider settings applied on top of the core's environment configuration.
static SETTINGS: Mutex<Option<Config>> = Mutex::new(None);
/// The effective core configuration (environment, then the provider's config section).
static CORE_CONFIG: OnceLock<warpdrive::Config> = OnceLock::new();
/// Requests of at least this many bytes use the core's one-shot (queue-capable) calls.
static CIPHER_ONESHOT_MIN: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The provider's own core instance, re-created in a forked child.
struct Instance {
    gen: u64,
    wd: Arc<Warpdrive>,
}
static INSTANCE: Mutex<Option<Instance>> = Mutex::new(None);

/// Bumped in a forked child (pthread_atfork) and at teardown: whatever was made under an
/// older value (the instance, per-thread caches and async queues) is not to be used.
static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The current generation (see [`GENERATION`]); registers the fork hook on first use.
pub fn generation() -> u64 {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic. glibc ties handlers
        // registered from a shared object to it (__dso_handle) and drops them if the
        // module is unloaded.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    GENERATION.load(Ordering::Acquire)
}

thread_local! {
    /// This thread's handle on the instance, checked against the generation: the fast
    /// path of [`instance`] takes no lock and makes no system call.
    static CACHED: std::cell::RefCell<Option<(u64, Weak<Warpdrive>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Records the provider's configuration. Called from `OSSL_provider_init`, which may run
/// while libcrypto loads its config file, so nothing is started here: the core instance
/// is created on first use.
pub fn configure(cfg: &Config) {
    *SETTINGS.lock().unwrap_or_else(|e| e.into_inner()) = Some(cfg.clone());
}

fn core_config() -> &'static warpdrive::Config {
    CORE_CONFIG.get_or_init(|| {
        let mut c = warpdrive::Config::from_env();
        let s = SETTINGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        // The environment wins over the config file, so one run can be forced either way.
        if let Some(n) = s.inline_max {
            if std::env::var_os("WARPDRIVE_INLINE_MAX").is_none() {
                c.inline_max = InlineMax::all(n);
            }
        }
        if let Some(b) = s.backend.as_deref() {
            if std::env::var_os("WARPDRIVE_BACKEND").is_none() {
                c.backend = match b {
                    "kernel" => BackendChoice::Kernel,
                    "softdev" | "soft" => BackendChoice::Softdev,
                    "inline" | "off" | "none" => BackendChoice::Inline,
                    _ => BackendChoice::Auto,
                };
            }
        }
        if let Some(d) = s.device.clone() {
            if std::env::var_os("WARPDRIVE_DEVICE").is_none() {
                c.device = Some(d);
            }
        }
        CIPHER_ONESHOT_MIN.store(c.inline_max.cipher.max(1), Ordering::Relaxed);
        c
    })
}

/// Smallest request (bytes) that goes through the core's one-shot, queue-capable calls;
/// smaller requests stay on the streaming inline engines (no per-call key schedule).
#[inline]
pub fn oneshot_min() -> usize {
    let v = CIPHER_ONESHOT_MIN.load(Ordering::Relaxed);
    if v != usize::MAX {
        return v;
    }
    core_config().inline_max.cipher.max(1)
}

/// The provider's core instance (created on first use; a forked child gets its own).
pub fn instance() -> Result<Arc<Warpdrive>, ProvError> {
    let gen = generation();
    let cached = CACHED
        .try_with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(g, _)| *g == gen)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten();
    if let Some(wd) = cached {
        return Ok(wd);
    }
    let wd = instance_slow(gen)?;
    let _ = CACHED.try_with(|c| *c.borrow_mut() = Some((gen, Arc::downgrade(&wd))));
    Ok(wd)
}

fn instance_slow(gen: u64) -> Result<Arc<Warpdrive>, ProvError> {
    let mut g = INSTANCE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = g.as_ref() {
        if i.gen == gen {
            return Ok(i.wd.clone());
        }
        // Forked child: the parent's engine threads do not exist here and its queues are
        // not ours. Leak the old instance (dropping it would try to join those threads).
        if let Some(old) = g.take() {
            std::mem::forget(old);
        }
    }
    let wd = Arc::new(Warpdrive::new(core_config().clone()).map_err(map)?);
    *g = Some(Instance {
        gen,
        wd: wd.clone(),
    });
    Ok(wd)
}

/// Provider teardown: reports the core's process-wide counters (`WARPDRIVE_STATS_FILE`,
/// read by `warpdrive run`), drops this thread's async queue, then the instance, which stops
/// and joins the software device's engine threads and unbinds every queue.
pub fn shutdown() {
    let _ = warpdrive::report_stats();
    crate::asyncjob::clear_thread();
    let gen = generation();
    let old = INSTANCE.lock().unwrap_or_else(|e| e.into_inner()).take();
    let _ = CACHED.try_with(|c| *c.borrow_mut() = None);
    if let Some(i) = old {
        if i.gen == gen {
            drop(i);
        } else {
            std::mem::forget(i);
        }
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The core's counters as JSON (the provider's instance; zeros before first use).
pub fn core_stats_json() -> String {
    let g = INSTANCE.lock().unwrap_or_else(|e| e.into_inner());
    let (s, backend) = match g.as_ref() {
        Some(i) => (i.wd.stats(), i.wd.backend().name()),
        None => (warpdrive::Stats::default(), "none"),
    };
    format!(
        "{{\"backend\":\"{}\",\"offloaded\":{},\"inline\":{},\"fallbacks\":{},\"errors\":{},\"bytes_in\":{},\"bytes_out\":{},\"doorbells\":{},\"max_inflight\":{},\"queues\":{}}}",
        backend, s.offloaded, s.inline, s.fallbacks, s.errors, s.bytes_in, s.bytes_out, s.doorbells, s.max_inflight, s.queues
    )
}

/// Whether the caller is inside an OpenSSL ASYNC_JOB (requests then go through
/// [`crate::asyncjob`] and pause the job instead of blocking).
fn in_job() -> bool {
    // SAFETY: plain libcrypto query.
    !unsafe { crate::ffi::ASYNC_get_current_job() }.is_null()
}

/// A completion from the async path that failed for a reason other than the data (a
/// device error): the request is re-run on the blocking path, which falls back to
/// software, so the result never depends on the device.
fn retry_sync(e: &warpdrive::Error) -> bool {
    !matches!(e, warpdrive::Error::AuthFailed)
}

/// One-shot AES-CTR/CBC (no padding) through the instance: offloaded when large.
pub fn cipher_oneshot(
    mode: CipherMode,
    enc: bool,
    key: &[u8],
    iv: &[u8],
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, ProvError> {
    let dir = if enc {
        Direction::Encrypt
    } else {
        Direction::Decrypt
    };
    if in_job() && output.len() >= input.len() {
        let op = warpdrive::Operation::Cipher {
            mode,
            dir,
            key: key.to_vec(),
            iv: iv.to_vec(),
            padding: false,
        };
        // Not in a job / no async queue / a failed submission: the blocking path below.
        if let Some(Ok(c)) = crate::asyncjob::run(op, input.to_vec(), input.len()) {
            match c.result {
                Ok(n) if n <= output.len() && n == c.output.len() => {
                    output[..n].copy_from_slice(&c.output);
                    return Ok(n);
                }
                Err(e) if !retry_sync(&e) => return Err(map(e)),
                _ => {}
            }
        }
    }
    instance()?
        .cipher(mode, dir, key, iv, false, input, output)
        .map_err(map)
}

/// One-shot AES-GCM seal through the instance.
pub fn gcm_seal(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    pt: &[u8],
    out: &mut [u8],
    tag: &mut [u8],
) -> Result<(), ProvError> {
    aead_seal(warpdrive::Aead::AesGcm, key, iv, aad, pt, out, tag)
}

/// One-shot AES-GCM open through the instance (output wiped on a tag mismatch).
pub fn gcm_open(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<(), ProvError> {
    aead_open(warpdrive::Aead::AesGcm, key, iv, aad, ct, tag, out)
}

/// One-shot AEAD seal (`alg`) through the instance.
pub fn aead_seal(
    alg: warpdrive::Aead,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    pt: &[u8],
    out: &mut [u8],
    tag: &mut [u8],
) -> Result<(), ProvError> {
    if in_job() && out.len() >= pt.len() {
        let op = warpdrive::Operation::Seal {
            alg,
            key: key.to_vec(),
            iv: iv.to_vec(),
            aad: aad.to_vec(),
            tag_len: tag.len(),
        };
        if let Some(Ok(c)) = crate::asyncjob::run(op, pt.to_vec(), pt.len()) {
            if let Ok(n) = c.result {
                if n == pt.len() && c.output.len() == n && c.tag.len() == tag.len() {
                    out[..n].copy_from_slice(&c.output);
                    tag.copy_from_slice(&c.tag);
                    return Ok(());
                }
            }
        }
        // Any failure: the blocking path below (which falls back to software).
    }
    instance()?
        .aead_seal_with(alg, key, iv, aad, pt, out, tag)
        .map_err(map)
}

/// One-shot AEAD open (`alg`) through the instance (output wiped on a tag mismatch).
pub fn aead_open(
    alg: warpdrive::Aead,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<(), ProvError> {
    if in_job() && out.len() >= ct.len() {
        let op = warpdrive::Operation::Open {
            alg,
            key: key.to_vec(),
            iv: iv.to_vec(),
            aad: aad.to_vec(),
            tag: tag.to_vec(),
        };
        if let Some(Ok(c)) = crate::asyncjob::run(op, ct.to_vec(), ct.len()) {
            match c.result {
                Ok(n) if n == ct.len() && c.output.len() == n => {
                    out[..n].copy_from_slice(&c.output);
                    return Ok(());
                }
                // A tag mismatch is the answer (nothing was written to `out`).
                Err(e) if !retry_sync(&e) => return Err(map(e)),
                _ => {}
            }
        }
    }
    instance()?
        .aead_open_with(alg, key, iv, aad, ct, tag, out)
        .map_err(map)
}

fn map(e: warpdrive::Error) -> ProvError {
    use warpdrive::Error as E;
    match e {
        E::AuthFailed => crate::prov_err!(TagMismatch),
        E::InvalidLength { what, len } if what.contains("key") => {
            crate::prov_err!(InvalidKeyLength, "{what} length {len}")
        }
        E::InvalidLength { what, len } if what.contains("iv") || what.contains("nonce") => {
            crate::prov_err!(InvalidIvLength, "{what} length {len}")
        }
        E::InvalidLength { what, len } if what.contains("tag") => {
            crate::prov_err!(InvalidTag, "{what} length {len}")
        }
        E::OutputTooSmall { needed } => crate::prov_err!(OutputTooSmall, "needed {needed:?}"),
        other => crate::prov_err!(CoreFailure, "{other}"),
    }
}

/// A streaming cipher context in the core.
pub struct Stream(warpdrive::CipherCtx);

impl Clone for Stream {
    fn clone(&self) -> Self {
        // EVP_CIPHER_CTX_copy has no way to report failure from this point; the core's
        // copy only fails on allocation failure.
        Stream(self.0.try_clone().expect("copy of cipher session state"))
    }
}

impl Stream {
    /// Starts a message. CBC is always driven without padding (the provider pads).
    pub fn new(mode: CipherMode, enc: bool, key: &[u8], iv: &[u8]) -> Result<Self, ProvError> {
        let dir = if enc {
            Direction::Encrypt
        } else {
            Direction::Decrypt
        };
        warpdrive::CipherCtx::new(mode, dir, key, iv, false)
            .map(Stream)
            .map_err(map)
    }
    /// Starts the next message with a new IV, same key (schedule kept).
    pub fn restart(&mut self, iv: &[u8]) -> Result<(), ProvError> {
        self.0.restart(None, iv).map_err(map)
    }
    /// GCM additional data (all of it, before any payload).
    pub fn aad(&mut self, aad: &[u8]) -> Result<(), ProvError> {
        self.0.set_aad(aad).map_err(map)
    }
    /// Processes `input` into `output` (same length for GCM/CTR and whole CBC blocks).
    pub fn update(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, ProvError> {
        self.0.update(input, output).map_err(map)
    }
    /// Processes `buf` in place.
    pub fn update_in_place(&mut self, buf: &mut [u8]) -> Result<usize, ProvError> {
        let n = buf.len();
        self.0.update_in_place(buf, n).map_err(map)
    }
    /// Ends the message (GCM: computes or checks the tag).
    pub fn finish(&mut self) -> Result<(), ProvError> {
        let mut none = [0u8; 16];
        self.0.finish(&mut none).map(|_| ()).map_err(map)
    }
    /// GCM: the computed tag (after `finish` on encrypt).
    pub fn get_tag(&self, out: &mut [u8]) -> Result<(), ProvError> {
        self.0.get_tag(out).map_err(map)
    }
    /// GCM: the expected tag (before `finish` on decrypt).
    pub fn set_tag(&mut self, tag: &[u8]) -> Result<(), ProvError> {
        self.0.set_tag(tag).map_err(map)
    }
}

/// A running hash or HMAC in the core.
pub struct Hash(warpdrive::Hasher);

impl Clone for Hash {
    fn clone(&self) -> Self {
        Hash(self.0.try_clone().expect("copy of digest session state"))
    }
}

impl Hash {
    /// A plain digest.
    pub fn new(alg: HashAlg) -> Result<Self, ProvError> {
        warpdrive::Hasher::new(alg).map(Hash).map_err(map)
    }
    /// HMAC with `key`.
    pub fn new_hmac(alg: HashAlg, key: &[u8]) -> Result<Self, ProvError> {
        warpdrive::Hasher::new_hmac(alg, key).map(Hash).map_err(map)
    }
    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) -> Result<(), ProvError> {
        self.0.update(data).map_err(map)
    }
    /// Writes the digest into `out` (at least the digest length), returns its length.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, ProvError> {
        self.0.finish(out).map_err(map)
    }
}

/// Digest length of `alg`.
pub fn digest_len(alg: HashAlg) -> usize {
    alg.digest_len()
}

/// Block length of `alg`.
pub fn block_len(alg: HashAlg) -> usize {
    alg.block_len()
}

/// A plain digest, computed inline by libcrypto's SHA block functions on state held in
/// the provider's own context (`SHA*_Init/Update/Final`: the code the default provider
/// runs, without its EVP layer). No allocation and no provider dispatch per message, and
/// `Clone` is a copy of the state: `EVP_Digest` and friends create, initialise, finish
/// and free a context for every message, and through an inner EVP_MD_CTX (the core's
/// `Hasher`) a 16-byte SHA-256 ran at ~0.6x the default provider. These calls never reach
/// a provider, so an application that prefers ours (`?provider=warpdrive`) cannot loop
/// back into it. Digests never go to a queue in any case (NEEDS-FROM-CORE.md, item 1).
#[derive(Clone)]
pub struct DigestStream {
    alg: HashAlg,
    st: ShaState,
}

#[derive(Clone)]
enum ShaState {
    Sha1(openssl_sys::SHA_CTX),
    /// SHA-224 and SHA-256.
    Sha256(openssl_sys::SHA256_CTX),
    /// SHA-384 and SHA-512.
    Sha512(openssl_sys::SHA512_CTX),
}

fn sha_failed() -> ProvError {
    crate::prov_err!(CoreFailure, "SHA engine failed")
}

impl DigestStream {
    /// Starts a message.
    pub fn new(alg: HashAlg) -> Result<Self, ProvError> {
        // SAFETY: (all three) the SHA context structs are plain integers and arrays, for
        // which all-zero bytes are a valid value; `*_Init` then sets the real start state.
        let (st, ok) = unsafe {
            match alg {
                HashAlg::Sha1 => {
                    let mut c: openssl_sys::SHA_CTX = std::mem::zeroed();
                    let ok = openssl_sys::SHA1_Init(&mut c);
                    (ShaState::Sha1(c), ok)
                }
                HashAlg::Sha224 | HashAlg::Sha256 => {
                    let mut c: openssl_sys::SHA256_CTX = std::mem::zeroed();
                    let ok = if alg == HashAlg::Sha224 {
                        openssl_sys::SHA224_Init(&mut c)
                    } else {
                        openssl_sys::SHA256_Init(&mut c)
                    };
                    (ShaState::Sha256(c), ok)
                }
                HashAlg::Sha384 | HashAlg::Sha512 => {
                    let mut c: openssl_sys::SHA512_CTX = std::mem::zeroed();
                    let ok = if alg == HashAlg::Sha384 {
                        openssl_sys::SHA384_Init(&mut c)
                    } else {
                        openssl_sys::SHA512_Init(&mut c)
                    };
                    (ShaState::Sha512(c), ok)
                }
            }
        };
        if ok != 1 {
            return Err(sha_failed());
        }
        Ok(DigestStream { alg, st })
    }

    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) -> Result<(), ProvError> {
        let (p, n) = (data.as_ptr().cast(), data.len());
        // SAFETY: (all three) an initialised context of the matching kind; `p` is
        // readable for `n` bytes.
        let ok = unsafe {
            match &mut self.st {
                ShaState::Sha1(c) => openssl_sys::SHA1_Update(c, p, n),
                ShaState::Sha256(c) => openssl_sys::SHA256_Update(c, p, n),
                ShaState::Sha512(c) => openssl_sys::SHA512_Update(c, p, n),
            }
        };
        if ok != 1 {
            return Err(sha_failed());
        }
        Ok(())
    }

    /// Writes the digest into `out` (at least the digest length) and returns its length.
    pub fn finish(mut self, out: &mut [u8]) -> Result<usize, ProvError> {
        let n = self.alg.digest_len();
        if out.len() < n {
            return Err(crate::prov_err!(OutputTooSmall, "digest needs {n} bytes"));
        }
        let o = out.as_mut_ptr();
        // SAFETY: (all) an initialised context of the matching kind; `o` is writable for
        // the digest length, which `*_Final` takes from the context (md_len set by
        // SHA224_Init/SHA384_Init for the truncated variants).
        let ok = unsafe {
            match &mut self.st {
                ShaState::Sha1(c) => openssl_sys::SHA1_Final(o, c),
                ShaState::Sha256(c) if self.alg == HashAlg::Sha224 => {
                    openssl_sys::SHA224_Final(o, c)
                }
                ShaState::Sha256(c) => openssl_sys::SHA256_Final(o, c),
                ShaState::Sha512(c) if self.alg == HashAlg::Sha384 => {
                    openssl_sys::SHA384_Final(o, c)
                }
                ShaState::Sha512(c) => openssl_sys::SHA512_Final(o, c),
            }
        };
        if ok != 1 {
            return Err(sha_failed());
        }
        Ok(n)
    }
}
