//! The panic boundary every `extern "C"` entry point sits behind, and the provider's error
//! type. A Rust error or a panic becomes an OpenSSL error on the caller's error queue (raised
//! through the core's upcalls) and the C-side failure value.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Reason codes this provider raises (its reason strings are served through
/// `OSSL_FUNC_PROVIDER_GET_REASON_STRINGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Reason {
    /// A key of the wrong length.
    InvalidKeyLength = 1,
    /// An IV of the wrong length.
    InvalidIvLength = 2,
    /// A tag of the wrong length, or a tag request out of order.
    InvalidTag = 3,
    /// GCM tag mismatch: the output was wiped.
    TagMismatch = 4,
    /// An operation on a context with no key/IV (final without init, ...).
    NotInitialized = 5,
    /// Update or final after final without re-initialisation.
    AlreadyFinished = 6,
    /// A parameter this implementation recognises but does not support.
    UnsupportedParam = 7,
    /// A parameter with a bad type or value.
    InvalidParam = 8,
    /// The caller's output buffer is too small.
    OutputTooSmall = 9,
    /// CBC without padding: input not a multiple of the block size.
    WrongFinalBlockLength = 10,
    /// CBC with padding: bad padding on decrypt.
    BadDecrypt = 11,
    /// The WarpDrive core failed (device and software fallback both failed).
    CoreFailure = 12,
    /// A panic was caught at the boundary.
    Panic = 13,
    /// Input and output overlap in a way the operation cannot handle.
    Overlap = 14,
    /// The requested algorithm or digest is not offered.
    UnsupportedAlgorithm = 15,
    /// The default provider's implementation (the software fallback) refused the call
    /// and has raised its own error: nothing more is raised.
    Reported = 16,
}

impl Reason {
    /// Every reason, for the reason-strings table.
    pub const ALL: [Reason; 16] = [
        Reason::InvalidKeyLength,
        Reason::InvalidIvLength,
        Reason::InvalidTag,
        Reason::TagMismatch,
        Reason::NotInitialized,
        Reason::AlreadyFinished,
        Reason::UnsupportedParam,
        Reason::InvalidParam,
        Reason::OutputTooSmall,
        Reason::WrongFinalBlockLength,
        Reason::BadDecrypt,
        Reason::CoreFailure,
        Reason::Panic,
        Reason::Overlap,
        Reason::UnsupportedAlgorithm,
        Reason::Reported,
    ];

    /// The reason string OpenSSL prints.
    pub const fn text(self) -> &'static str {
        match self {
            Reason::InvalidKeyLength => "invalid key length\0",
            Reason::InvalidIvLength => "invalid iv length\0",
            Reason::InvalidTag => "invalid tag\0",
            Reason::TagMismatch => "tag verification failed\0",
            Reason::NotInitialized => "operation not initialised\0",
            Reason::AlreadyFinished => "operation already finished\0",
            Reason::UnsupportedParam => "unsupported parameter\0",
            Reason::InvalidParam => "invalid parameter\0",
            Reason::OutputTooSmall => "output buffer too small\0",
            Reason::WrongFinalBlockLength => "wrong final block length\0",
            Reason::BadDecrypt => "bad decrypt\0",
            Reason::CoreFailure => "warpdrive core failure\0",
            Reason::Panic => "internal error (panic caught)\0",
            Reason::Overlap => "input and output partially overlap\0",
            Reason::UnsupportedAlgorithm => "unsupported algorithm\0",
            Reason::Reported => "software implementation failed\0",
        }
    }
}

/// An error to be raised on the caller's OpenSSL error queue.
#[derive(Debug)]
pub struct ProvError {
    /// What went wrong, as an OpenSSL reason code.
    pub reason: Reason,
    /// Extra detail (the error's data string).
    pub detail: Cow<'static, str>,
    /// Where it was raised.
    pub file: &'static str,
    /// Line of `file`.
    pub line: u32,
}

/// Builds a [`ProvError`] at the current source location.
#[macro_export]
macro_rules! prov_err {
    ($reason:ident, $($fmt:tt)+) => {
        $crate::boundary::ProvError {
            reason: $crate::boundary::Reason::$reason,
            detail: ::std::borrow::Cow::Owned(format!($($fmt)+)),
            file: concat!(file!(), "\0"),
            line: line!(),
        }
    };
    ($reason:ident) => {
        $crate::boundary::ProvError {
            reason: $crate::boundary::Reason::$reason,
            detail: ::std::borrow::Cow::Borrowed(""),
            file: concat!(file!(), "\0"),
            line: line!(),
        }
    };
}

/// `Err(prov_err!(..))` with an early return.
#[macro_export]
macro_rules! bail {
    ($($t:tt)+) => { return Err($crate::prov_err!($($t)+)) };
}

/// Result type of the provider's internal functions.
pub type PResult<T> = Result<T, ProvError>;

/// The panic boundary: runs `body`, which returns `PResult<T>`; on `Err` raises the error
/// and returns `$fail`; on a panic raises `Reason::Panic` and returns `$fail`. Every
/// `extern "C"` function of the crate has its whole body inside one of these.
#[macro_export]
macro_rules! ffi_entry {
    ($fail:expr, $body:block) => {
        $crate::boundary::run($fail, || $body)
    };
}

/// Implementation of [`ffi_entry!`].
pub fn run<T>(fail: T, body: impl FnOnce() -> PResult<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            crate::provider::raise(&e);
            fail
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            // Raising must not panic again across the boundary.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                crate::provider::raise(&prov_err!(Panic, "{msg}"));
            }));
            fail
        }
    }
}
