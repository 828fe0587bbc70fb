//! WarpDrive's core: user-space submission queues for compression and crypto.
//!
//! A request travels from a safe call ([`compress`], [`aead_seal`], a
//! [`Deflater`]...) into a descriptor on a ring shared with an engine: the
//! kernel module's (`/dev/warpdrive/*`) or the in-process software device's.
//! Requests too small to gain run inline on the same engines. See
//! `docs/architecture.md` for the whole path and `include/uapi/warpdrive.h` for
//! the ABI.

mod api;
mod asyncq;
mod device;
mod error;
mod exec;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod kernel;
pub mod live;
mod queue;
mod queued;
mod ring;
mod segment;
pub mod settings;
mod softdev;
mod stats;
mod stream;
mod sys;
pub mod uapi;

pub use api::{
    aead_open, aead_open_with, aead_seal, aead_seal_with, cipher, compress, compress_bound,
    decompress, digest, hmac, Aead, CipherMode, Direction, Flush, Format, HashAlg, Progress,
};
pub use asyncq::{AsyncQueue, Completion, Operation, Request};
pub use device::{
    global, report_stats, stats, BackendChoice, BackendKind, Config, InlineMax, Warpdrive,
    STATS_FILE_ENV,
};
pub use error::{Error, Result};
pub use kernel::KernelDevice;
pub use queue::Queue;
pub use softdev::DeviceStats;
pub use stats::Stats;
pub use stream::{CipherCtx, Deflater, Hasher, Inflater};
/// The zlib-rs level the software paths run for a zlib level (see the engines crate).
pub use warpdrive_engines::zlib_rs_level;
