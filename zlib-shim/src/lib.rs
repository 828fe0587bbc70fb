//! `libz.so.1` drop-in for WarpDrive.
//!
//! Layering (after zlib-rs / rustls-ffi):
//! - [`config`] and [`stats`]: safe, environment and counters;
//! - [`stream`]: the safe per-stream offload state machines, on slices;
//! - [`ffi`]: every exported `extern "C"` function, all raw-pointer handling,
//!   each behind a panic boundary. Everything not offloaded is forwarded to an
//!   embedded zlib-rs (`libz-rs-sys` built without exported names, so nothing
//!   clashes with the zlib names this library exports).
//!
//! `build.rs` gives the library the soname `libz.so.1` and zlib's version nodes.

mod bound;
mod config;
mod ffi;
mod stats;
mod stream;
