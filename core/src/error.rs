//! The one error type of the core, and the mapping from completion statuses.

use crate::uapi::*;

/// Everything that can go wrong, typed so that callers (and the C API's
/// numbered codes) can tell cases apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    #[error("invalid {what} length {len}")]
    InvalidLength { what: &'static str, len: usize },
    #[error("output buffer too small{}", .needed.map(|n| format!(" ({n} bytes needed)")).unwrap_or_default())]
    OutputTooSmall { needed: Option<usize> },
    #[error("corrupt or truncated compressed data: {0}")]
    DataError(&'static str),
    #[error("checksum mismatch in compressed data")]
    ChecksumMismatch,
    #[error("authentication failed: tag mismatch")]
    AuthFailed,
    #[error("queue full")]
    Busy,
    #[error("device gone")]
    DeviceGone,
    /// An object made before fork() used in the child: its queues are served
    /// only in the parent.
    #[error("queue belongs to the parent process (used after fork)")]
    Forked,
    #[error("request cancelled")]
    Cancelled,
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// Strict mode (`WARPDRIVE_STRICT=1`): the request would have run in
    /// software, which that mode forbids.
    #[error("device only (WARPDRIVE_STRICT=1): not run in software ({0})")]
    DeviceOnly(&'static str),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    /// An I/O error talking to the device: ENODEV means the device is gone.
    pub(crate) fn from_io_device(e: std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::EIO) | Some(libc::ENXIO) => Error::DeviceGone,
            _ => Error::Io(e),
        }
    }

    /// Whether running the same request in software could succeed.
    pub fn is_device_failure(&self) -> bool {
        matches!(
            self,
            Error::DeviceGone
                | Error::Forked
                | Error::Busy
                | Error::Io(_)
                | Error::Internal(_)
                | Error::Cancelled
        )
    }

    /// A stable number for the C API (0 is success there).
    pub fn code(&self) -> i32 {
        match self {
            Error::InvalidArgument(_) => 1,
            Error::InvalidLength { .. } => 2,
            Error::OutputTooSmall { .. } => 3,
            Error::DataError(_) => 4,
            Error::ChecksumMismatch => 5,
            Error::AuthFailed => 6,
            Error::Busy => 7,
            Error::DeviceGone | Error::Forked => 8,
            Error::Cancelled => 9,
            Error::Unsupported(_) => 10,
            Error::Io(_) => 11,
            Error::Internal(_) => 12,
            Error::DeviceOnly(_) => 14,
        }
    }

    /// The error a completion's status stands for, or None for success.
    pub(crate) fn from_status(status: u32, needed: u32, what: &'static str) -> Option<Error> {
        Some(match status {
            WD_STATUS_OK => return None,
            WD_STATUS_INVALID_OPCODE | WD_STATUS_INVALID_ALG => Error::Unsupported(what),
            WD_STATUS_INVALID_LENGTH => Error::InvalidLength { what, len: 0 },
            WD_STATUS_BAD_ADDRESS => Error::InvalidArgument("address rejected by the device"),
            WD_STATUS_DST_TOO_SMALL => Error::OutputTooSmall {
                needed: (needed != 0).then_some(needed as usize),
            },
            WD_STATUS_DATA_ERROR => Error::DataError("invalid deflate stream"),
            WD_STATUS_CHECKSUM_MISMATCH => Error::ChecksumMismatch,
            WD_STATUS_AUTH_FAILED => Error::AuthFailed,
            WD_STATUS_BAD_STREAM => Error::Internal("engine lost the stream state".into()),
            WD_STATUS_NO_MEMORY => Error::Internal("engine out of memory".into()),
            WD_STATUS_CANCELLED => Error::Cancelled,
            WD_STATUS_DEVICE_GONE => Error::DeviceGone,
            WD_STATUS_INVALID_FLAGS => Error::InvalidArgument("descriptor flags"),
            other => Error::Internal(format!("engine status {other}")),
        })
    }
}
