//! Drives the C API (capi/src/lib.rs, compiled in so that coverage guides
//! the search) with what a C caller can pass: any integer for an enum or a
//! boolean, NULL with or without a length, lengths no object can have, and
//! buffers that overlap, all inside one arena with guard bytes after it;
//! and sequences of stream calls on live, NULL and finished handles.
//!
//! Checks: no crash or panic (WD_ERR_PANIC), every code one of the API's,
//! an out-of-range enum or boolean always WD_ERR_INVALID_ARGUMENT, a NULL
//! buffer with a length or an overlap never a success, reported lengths
//! within their buffers, and nothing written outside the arena.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../src/lib.rs"]
mod capi;

use capi::*;

const ARENA: usize = 8192;
const GUARD: usize = 256;

/// Reads the fuzzer's bytes as arguments; zeros once they run out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }

    /// An enum value: mostly in range (so calls get past the check), else
    /// anything an int holds.
    fn int(&mut self, range: i32) -> i32 {
        match self.u8() {
            0..=199 => i32::from(self.u8()) % range,
            200..=219 => range + i32::from(self.u8()),
            220..=229 => -1 - i32::from(self.u8()),
            230..=239 => i32::MIN,
            240..=249 => i32::MAX,
            _ => i32::from(self.u16()) << 16,
        }
    }
}

/// One buffer argument: a range of the arena, NULL, or an impossible length.
#[derive(Clone, Copy, Debug)]
struct Buf {
    off: usize,
    len: usize,
    null: bool,
}

impl Buf {
    fn pick(inp: &mut Input<'_>) -> Buf {
        let kind = inp.u8();
        let off = usize::from(inp.u16()) % ARENA;
        let len = usize::from(inp.u16()) % (ARENA - off + 1);
        match kind {
            0..=219 => Buf {
                off,
                len,
                null: false,
            },
            220..=229 => Buf {
                off: 0,
                len: 0,
                null: true,
            },
            230..=239 => Buf {
                off: 0,
                len,
                null: true,
            },
            240..=247 => Buf {
                off,
                len: usize::MAX - len,
                null: false,
            },
            _ => Buf {
                off,
                len: isize::MAX as usize + 1 + len,
                null: false,
            },
        }
    }

    /// Whether no C object can be this: the call must refuse it.
    fn bad(&self) -> bool {
        (self.null && self.len != 0) || self.len > isize::MAX as usize
    }

    fn overlaps(&self, o: &Buf) -> bool {
        !self.null
            && !o.null
            && self.len != 0
            && o.len != 0
            && self.off < o.off.saturating_add(o.len)
            && o.off < self.off.saturating_add(self.len)
    }
}

struct World {
    mem: Vec<u8>,
    deflaters: [*mut wd_deflater; 3],
    inflaters: [*mut wd_inflater; 3],
    hashers: [*mut wd_hasher; 3],
}

impl World {
    fn ptr(&mut self, b: Buf) -> *mut u8 {
        if b.null {
            std::ptr::null_mut()
        } else {
            // SAFETY: off < ARENA, inside the allocation.
            unsafe { self.mem.as_mut_ptr().add(b.off) }
        }
    }

    fn check_guard(&self) {
        assert!(
            self.mem[ARENA..].iter().all(|&b| b == 0xA5),
            "a call wrote past the arena"
        );
    }
}

/// The verdict every call must respect.
fn check(rc: i32, bad_enum: bool, ins: &[Buf], outs: &[Buf]) {
    assert!((WD_OK..WD_ERR_PANIC).contains(&rc), "code {rc}");
    if bad_enum {
        assert_eq!(rc, WD_ERR_INVALID_ARGUMENT, "an out-of-range enum got {rc}");
    }
    let bad = ins.iter().chain(outs).any(Buf::bad);
    let overlap = outs
        .iter()
        .enumerate()
        .any(|(i, o)| ins.iter().chain(&outs[i + 1..]).any(|b| o.overlaps(b)));
    if bad || overlap {
        assert!(
            rc == WD_ERR_INVALID_ARGUMENT || rc == WD_ERR_INVALID_LENGTH,
            "bad {bad} overlap {overlap}: {ins:?} {outs:?} got {rc}"
        );
    }
}

fn slot(inp: &mut Input<'_>) -> usize {
    usize::from(inp.u8()) % 3
}

fuzz_target!(|data: &[u8]| {
    static INIT: std::sync::Once = std::sync::Once::new();
    // Every request through the software device's queues.
    INIT.call_once(|| std::env::set_var("WARPDRIVE_INLINE_MAX", "0"));
    let mut inp = Input(data);
    let mut w = World {
        mem: (0..ARENA)
            .map(|i| (i * 131 % 251) as u8)
            .chain([0xA5; GUARD])
            .collect(),
        deflaters: [std::ptr::null_mut(); 3],
        inflaters: [std::ptr::null_mut(); 3],
        hashers: [std::ptr::null_mut(); 3],
    };
    let mut steps = 0;
    while !inp.done() && steps < 24 {
        steps += 1;
        let (mut n1, mut n2) = (usize::MAX, usize::MAX);
        let op = inp.u8() % 16;
        match op {
            0 => {
                let f = inp.int(3);
                let len = if inp.u8() & 1 == 0 {
                    usize::from(inp.u16())
                } else {
                    usize::MAX - usize::from(inp.u8())
                };
                let b = wd_compress_bound(f, len);
                assert_eq!(b == 0, !(0..3).contains(&f), "bound {b} for format {f}");
                assert!(b == 0 || b >= len);
            }
            1 | 2 => {
                let f = inp.int(3);
                let level = u32::from(inp.u8() % 12);
                let (s, d) = (Buf::pick(&mut inp), Buf::pick(&mut inp));
                let (sp, dp) = (w.ptr(s), w.ptr(d));
                // SAFETY: every buffer lies in the arena or is NULL or of an
                // impossible length, which the call must refuse.
                let rc = unsafe {
                    if op == 1 {
                        wd_compress(f, level, sp, s.len, dp, d.len, &mut n1)
                    } else {
                        wd_decompress(f, sp, s.len, dp, d.len, &mut n2, &mut n1)
                    }
                };
                check(rc, !(0..3).contains(&f), &[s], &[d]);
                if rc == WD_OK {
                    assert!(n1 <= d.len);
                    assert!(op == 1 || n2 <= s.len);
                }
            }
            3 | 4 => {
                let a = inp.int(5);
                let (k, s, d) = (
                    Buf::pick(&mut inp),
                    Buf::pick(&mut inp),
                    Buf::pick(&mut inp),
                );
                let (kp, sp, dp) = (w.ptr(k), w.ptr(s), w.ptr(d));
                // SAFETY: as above.
                let rc = unsafe {
                    if op == 3 {
                        wd_digest(a, sp, s.len, dp, d.len, &mut n1)
                    } else {
                        wd_hmac(a, kp, k.len, sp, s.len, dp, d.len, &mut n1)
                    }
                };
                let ins: &[Buf] = if op == 3 { &[s] } else { &[k, s] };
                check(rc, !(0..5).contains(&a), ins, &[d]);
                if rc == WD_OK {
                    assert!(n1 <= d.len && n1 >= 20);
                }
            }
            5 | 6 => {
                let bufs: Vec<Buf> = (0..6).map(|_| Buf::pick(&mut inp)).collect();
                let p: Vec<*mut u8> = bufs.iter().map(|&b| w.ptr(b)).collect();
                let [k, iv, aad, s, o, t] = [0, 1, 2, 3, 4, 5].map(|i| bufs[i]);
                // SAFETY: as above.
                let rc = unsafe {
                    if op == 5 {
                        wd_aead_seal(
                            p[0], k.len, p[1], iv.len, p[2], aad.len, p[3], s.len, p[4], o.len,
                            p[5], t.len,
                        )
                    } else {
                        wd_aead_open(
                            p[0], k.len, p[1], iv.len, p[2], aad.len, p[3], s.len, p[5], t.len,
                            p[4], o.len,
                        )
                    }
                };
                if op == 5 {
                    check(rc, false, &[k, iv, aad, s], &[o, t]);
                } else {
                    check(rc, false, &[k, iv, aad, s, t], &[o]);
                }
            }
            7 => {
                let (m, e, pad) = (inp.int(2), inp.int(2), inp.int(2));
                let bufs: Vec<Buf> = (0..4).map(|_| Buf::pick(&mut inp)).collect();
                let p: Vec<*mut u8> = bufs.iter().map(|&b| w.ptr(b)).collect();
                // SAFETY: as above.
                let rc = unsafe {
                    wd_cipher(
                        m,
                        e,
                        pad,
                        p[0],
                        bufs[0].len,
                        p[1],
                        bufs[1].len,
                        p[2],
                        bufs[2].len,
                        p[3],
                        bufs[3].len,
                        &mut n1,
                    )
                };
                let bad = [m, e, pad].iter().any(|v| !(0..2).contains(v));
                check(rc, bad, &bufs[..3], &bufs[3..]);
                if rc == WD_OK {
                    assert!(n1 <= bufs[3].len);
                }
            }
            8 => {
                let (i, f, level) = (slot(&mut inp), inp.int(3), u32::from(inp.u8() % 11));
                // SAFETY: frees what an earlier call made, once.
                unsafe {
                    wd_deflater_free(std::mem::replace(&mut w.deflaters[i], std::ptr::null_mut()))
                };
                let mut h = 1usize as *mut wd_deflater;
                // SAFETY: a valid out pointer.
                let rc = unsafe { wd_deflater_new(f, level, &mut h) };
                check(rc, !(0..3).contains(&f), &[], &[]);
                assert_eq!(rc == WD_OK, !h.is_null(), "handle after rc {rc}");
                w.deflaters[i] = h;
            }
            9 => {
                let (i, fl) = (slot(&mut inp), inp.int(4));
                let (s, d) = (Buf::pick(&mut inp), Buf::pick(&mut inp));
                let (sp, dp) = (w.ptr(s), w.ptr(d));
                let mut done = false;
                // SAFETY: a live handle or NULL; buffers as above.
                let rc = unsafe {
                    wd_deflater_deflate(
                        w.deflaters[i],
                        sp,
                        s.len,
                        dp,
                        d.len,
                        fl,
                        &mut n1,
                        &mut n2,
                        &mut done,
                    )
                };
                let null = w.deflaters[i].is_null();
                check(rc, !(0..4).contains(&fl) || null, &[s], &[d]);
                if rc == WD_OK {
                    assert!(n1 <= s.len && n2 <= d.len);
                }
            }
            10 => {
                let (i, f) = (slot(&mut inp), inp.int(3));
                // SAFETY: frees what an earlier call made, once.
                unsafe {
                    wd_inflater_free(std::mem::replace(&mut w.inflaters[i], std::ptr::null_mut()))
                };
                let mut h = 1usize as *mut wd_inflater;
                // SAFETY: a valid out pointer.
                let rc = unsafe { wd_inflater_new(f, &mut h) };
                check(rc, !(0..3).contains(&f), &[], &[]);
                assert_eq!(rc == WD_OK, !h.is_null(), "handle after rc {rc}");
                w.inflaters[i] = h;
            }
            11 => {
                let i = slot(&mut inp);
                let (s, d) = (Buf::pick(&mut inp), Buf::pick(&mut inp));
                let (sp, dp) = (w.ptr(s), w.ptr(d));
                let mut done = false;
                // SAFETY: a live handle or NULL; buffers as above.
                let rc = unsafe {
                    wd_inflater_inflate(
                        w.inflaters[i],
                        sp,
                        s.len,
                        dp,
                        d.len,
                        &mut n1,
                        &mut n2,
                        &mut done,
                    )
                };
                check(rc, w.inflaters[i].is_null(), &[s], &[d]);
                if rc == WD_OK {
                    assert!(n1 <= s.len && n2 <= d.len);
                }
            }
            12 => {
                let (i, a) = (slot(&mut inp), inp.int(5));
                let k = Buf::pick(&mut inp);
                let kp = if inp.u8() & 1 == 0 {
                    std::ptr::null_mut()
                } else {
                    w.ptr(k)
                };
                // SAFETY: frees what an earlier call made, once.
                unsafe {
                    wd_hasher_free(std::mem::replace(&mut w.hashers[i], std::ptr::null_mut()))
                };
                let mut h = 1usize as *mut wd_hasher;
                // SAFETY: a valid out pointer; the key as above.
                let rc = unsafe { wd_hasher_new(a, kp, k.len, &mut h) };
                let kb = Buf {
                    null: kp.is_null(),
                    ..k
                };
                check(rc, !(0..5).contains(&a), &[kb], &[]);
                assert_eq!(rc == WD_OK, !h.is_null(), "handle after rc {rc}");
                w.hashers[i] = h;
            }
            13 => {
                let i = slot(&mut inp);
                let s = Buf::pick(&mut inp);
                let sp = w.ptr(s);
                // SAFETY: a live handle or NULL; the buffer as above.
                let rc = unsafe { wd_hasher_update(w.hashers[i], sp, s.len) };
                check(rc, w.hashers[i].is_null(), &[s], &[]);
            }
            14 => {
                let i = slot(&mut inp);
                let d = Buf::pick(&mut inp);
                let dp = w.ptr(d);
                // SAFETY: a live handle or NULL; the buffer as above.
                let rc = unsafe { wd_hasher_finish(w.hashers[i], dp, d.len, &mut n1) };
                check(rc, w.hashers[i].is_null(), &[], &[d]);
                if rc == WD_OK {
                    assert!(n1 <= d.len);
                }
            }
            _ => {
                let code = inp.int(14);
                assert!(!wd_strerror(code).is_null());
                let mut st = std::mem::MaybeUninit::<wd_stats>::uninit();
                // SAFETY: a writable wd_stats.
                assert_eq!(unsafe { wd_get_stats(st.as_mut_ptr()) }, WD_OK);
            }
        }
        w.check_guard();
    }
    // SAFETY: each handle is live or NULL, and freed once.
    unsafe {
        w.deflaters.iter().for_each(|&d| wd_deflater_free(d));
        w.inflaters.iter().for_each(|&d| wd_inflater_free(d));
        w.hashers.iter().for_each(|&h| wd_hasher_free(h));
    }
});
