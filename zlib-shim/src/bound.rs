//! zlib 1.2.13's output bounds and the software level map: what the drop-in
//! promises about sizes, held to zlib's own numbers.
//!
//! `compressBound` and `deflateBound` return exactly zlib's values (callers
//! size buffers with them and some, nginx say, their memory pools); the
//! offload paths compress straight into the caller's buffer and fall back to
//! software where an engine's output would not fit (core/src/stream.rs).
//! zlib-rs is a zlib-ng port whose levels do not make zlib's sizes
//! (level 1 is a "quick" strategy 25% larger on the corpus): `sw_level`
//! gives each zlib level the zlib-rs level that is no larger.

use std::collections::HashMap;
use std::ffi::c_ulong;
use std::sync::Mutex;

/// zlib's compressBound (and deflateBound's tight bound plus 6).
pub fn compress_bound(n: c_ulong) -> c_ulong {
    n.wrapping_add(n >> 12)
        .wrapping_add(n >> 14)
        .wrapping_add(n >> 25)
        .wrapping_add(13)
}

/// The zlib-rs level whose output is no larger than zlib's at `level`: the
/// engines' one table (`warpdrive::zlib_rs_level`, with its measurements);
/// `Z_DEFAULT_COMPRESSION` is 6, and anything else passes through for zlib-rs
/// to judge.
pub fn sw_level(level: i32) -> i32 {
    match level {
        -1 => warpdrive::zlib_rs_level(6) as i32,
        1..=9 => warpdrive::zlib_rs_level(level as u32) as i32,
        l => l,
    }
}

/// What zlib's deflateBound reads from a stream's state.
#[derive(Clone, Copy)]
pub struct Params {
    pub wbits: i32,
    pub mem_level: i32,
    /// The caller's gz_header (deflateSetHeader), read when the bound is asked.
    pub gzhead: usize,
    /// A dictionary was set (zlib then counts the 4-byte dictionary id).
    pub dict: bool,
}

struct Slot {
    state: usize,
    p: Params,
}

static PARAMS: Mutex<Option<HashMap<usize, Slot>>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut HashMap<usize, Slot>) -> R) -> R {
    let mut g = PARAMS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

pub fn set(strm: usize, state: usize, p: Params) {
    with(|m| {
        m.insert(strm, Slot { state, p });
    });
}

pub fn get(strm: usize, state: usize) -> Option<Params> {
    with(|m| m.get(&strm).filter(|s| s.state == state).map(|s| s.p))
}

/// Changes the parameters of a known stream.
pub fn update(strm: usize, state: usize, f: impl FnOnce(&mut Params)) {
    with(|m| {
        if let Some(s) = m.get_mut(&strm).filter(|s| s.state == state) {
            f(&mut s.p);
        }
    });
}

pub fn remove(strm: usize) {
    with(|m| {
        m.remove(&strm);
    });
}

/// zlib 1.2.13's deflateBound. `p` is None for a stream zlib would reject
/// (NULL, not initialised); `gz_extra` is the gzip header's length beyond
/// its 10 bytes; `started` whether the stream has taken data.
pub fn deflate_bound(p: Option<&Params>, gz_extra: c_ulong, started: bool, n: c_ulong) -> c_ulong {
    // Fixed blocks with 9-bit literals (memLevel 2, the lowest that may not
    // use stored blocks), and stored blocks of 127 bytes (memLevel 1).
    let fixed = n + (n >> 3) + (n >> 8) + (n >> 9) + 4;
    let stored = n + (n >> 5) + (n >> 7) + (n >> 11) + 7;
    let Some(p) = p else {
        return fixed.max(stored) + 6;
    };
    let (wrap, mut w_bits) = match p.wbits {
        w if w < 0 => (0, -w),
        w if w > 15 => (2, w - 16),
        w => (1, w),
    };
    if w_bits == 8 {
        w_bits = 9;
    }
    let wraplen = match wrap {
        0 => 0,
        1 => 6 + if started || p.dict { 4 } else { 0 },
        _ => 18 + gz_extra,
    };
    let hash_bits = p.mem_level + 7;
    if w_bits != 15 || hash_bits != 15 {
        return if w_bits <= hash_bits { fixed } else { stored } + wraplen;
    }
    compress_bound(n) - 6 + wraplen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlibs_values() {
        // Printed by system zlib 1.2.13 (tests/c/zbound.c).
        assert_eq!(compress_bound(1 << 20), 1_048_909);
        assert_eq!(compress_bound(0), 13);
        assert_eq!(deflate_bound(None, 0, false, 100_000), 113_095);
        let p = |_level: i32, wbits, mem_level| Params {
            wbits,
            mem_level,
            gzhead: 0,
            dict: false,
        };
        assert_eq!(
            deflate_bound(Some(&p(-1, 15, 8)), 0, false, 100_000),
            100_043
        );
        assert_eq!(
            deflate_bound(Some(&p(-1, 15, 8)), 0, true, 100_000),
            100_047
        );
        assert_eq!(
            deflate_bound(Some(&p(-1, 15, 9)), 0, false, 100_000),
            113_095
        );
        assert_eq!(
            deflate_bound(Some(&p(-1, 15, 1)), 0, false, 100_000),
            103_967
        );
        assert_eq!(
            deflate_bound(Some(&p(-1, 31, 8)), 0, false, 100_000),
            100_055
        );
        assert_eq!(deflate_bound(Some(&p(-1, -9, 8)), 0, false, 100), 116);
    }
}
