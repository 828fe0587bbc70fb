//! The provider's own counters (what ran through it), reported with the core's statistics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Provider-side counters.
#[derive(Default)]
pub struct Counters {
    /// AES-GCM messages completed (final or TLS record).
    pub gcm_ops: AtomicU64,
    /// AES-GCM payload bytes.
    pub gcm_bytes: AtomicU64,
    /// TLS 1.2 GCM records (tls1 AAD path).
    pub gcm_tls_records: AtomicU64,
    /// ChaCha20-Poly1305 messages and TLS records run as one-shot requests.
    pub chacha_ops: AtomicU64,
    /// ChaCha20-Poly1305 payload bytes of those.
    pub chacha_bytes: AtomicU64,
    /// TLS 1.2 ChaCha20-Poly1305 records among them (tls1 AAD path).
    pub chacha_tls_records: AtomicU64,
    /// AES-CTR bytes.
    pub ctr_bytes: AtomicU64,
    /// AES-CBC bytes.
    pub cbc_bytes: AtomicU64,
    /// Digests finished.
    pub digest_ops: AtomicU64,
    /// Digest bytes.
    pub digest_bytes: AtomicU64,
    /// HMACs finished.
    pub hmac_ops: AtomicU64,
    /// Errors raised.
    pub errors: AtomicU64,
    /// Requests sent through the core's one-shot (queue-capable) calls.
    pub oneshot: AtomicU64,
    /// ASYNC jobs paused while a request was in flight.
    pub async_pauses: AtomicU64,
    /// Calls that ran in the default provider's implementation (software fallback:
    /// TLS CBC records, digests the engines lack, ...).
    pub soft_ops: AtomicU64,
    /// Bytes through the software fallback.
    pub soft_bytes: AtomicU64,
}

/// The process-wide counters.
pub static P: Counters = Counters {
    gcm_ops: AtomicU64::new(0),
    gcm_bytes: AtomicU64::new(0),
    gcm_tls_records: AtomicU64::new(0),
    chacha_ops: AtomicU64::new(0),
    chacha_bytes: AtomicU64::new(0),
    chacha_tls_records: AtomicU64::new(0),
    ctr_bytes: AtomicU64::new(0),
    cbc_bytes: AtomicU64::new(0),
    digest_ops: AtomicU64::new(0),
    digest_bytes: AtomicU64::new(0),
    hmac_ops: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    oneshot: AtomicU64::new(0),
    async_pauses: AtomicU64::new(0),
    soft_ops: AtomicU64::new(0),
    soft_bytes: AtomicU64::new(0),
};

/// Adds `n` to a counter.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Both sets of counters as one JSON object.
pub fn json() -> String {
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "{{\"provider\":{{\"gcm_ops\":{},\"gcm_bytes\":{},\"gcm_tls_records\":{},\"chacha_ops\":{},\"chacha_bytes\":{},\"chacha_tls_records\":{},\"ctr_bytes\":{},\"cbc_bytes\":{},\"digest_ops\":{},\"digest_bytes\":{},\"hmac_ops\":{},\"errors\":{},\"oneshot\":{},\"async_pauses\":{},\"soft_ops\":{},\"soft_bytes\":{}}},\"core\":{},\"pid\":{}}}",
        g(&P.gcm_ops),
        g(&P.gcm_bytes),
        g(&P.gcm_tls_records),
        g(&P.chacha_ops),
        g(&P.chacha_bytes),
        g(&P.chacha_tls_records),
        g(&P.ctr_bytes),
        g(&P.cbc_bytes),
        g(&P.digest_ops),
        g(&P.digest_bytes),
        g(&P.hmac_ops),
        g(&P.errors),
        g(&P.oneshot),
        g(&P.async_pauses),
        g(&P.soft_ops),
        g(&P.soft_bytes),
        crate::backend::core_stats_json(),
        std::process::id(),
    )
}
