//! Fuzzes inflate through the C ABI of the built libz.so.1 (dlopen'd by path
//! from WDZ_SHIM, default ../../target/shim/release/libz.so), with offload on
//! for every size: arbitrary bytes, split into arbitrary chunks, with small
//! output buffers. Checks: no crash, never a write past avail_out (guard bytes),
//! counters consistent, return codes within zlib's set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CString};
use std::sync::OnceLock;

#[repr(C)]
struct ZStream {
    next_in: *const u8,
    avail_in: c_uint,
    total_in: c_ulong,
    next_out: *mut u8,
    avail_out: c_uint,
    total_out: c_ulong,
    msg: *const c_char,
    state: *mut c_void,
    zalloc: *mut c_void,
    zfree: *mut c_void,
    opaque: *mut c_void,
    data_type: c_int,
    adler: c_ulong,
    reserved: c_ulong,
}

type Init2 = unsafe extern "C" fn(*mut ZStream, c_int, *const c_char, c_int) -> c_int;
type Inflate = unsafe extern "C" fn(*mut ZStream, c_int) -> c_int;
type End = unsafe extern "C" fn(*mut ZStream) -> c_int;

struct Api(Init2, Inflate, End);

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        std::env::set_var("WARPDRIVE_ZLIB_MIN", "0");
        let path = std::env::var("WDZ_SHIM").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/shim/release/libz.so").into());
        let p = CString::new(path).unwrap();
        // SAFETY: dlopen/dlsym of a library we built, symbols with zlib's types.
        unsafe {
            let h = libc::dlopen(p.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            assert!(!h.is_null(), "dlopen shim");
            let f = |n: &str| {
                let c = CString::new(n).unwrap();
                let s = libc::dlsym(h, c.as_ptr());
                assert!(!s.is_null(), "{n}");
                s
            };
            Api(std::mem::transmute(f("inflateInit2_")), std::mem::transmute(f("inflate")), std::mem::transmute(f("inflateEnd")))
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let api = api();
    let wbits = [15, -15, 31, 47][data[0] as usize % 4];
    let ichunk = 1 + data[1] as usize * 64;
    let ochunk = 1 + data[2] as usize * 97;
    let input = &data[3..];
    let mut out = vec![0xA5u8; ochunk + 64];
    // SAFETY: a zeroed z_stream is what zlib's Init expects.
    let mut s: ZStream = unsafe { std::mem::zeroed() };
    // SAFETY: valid stream and version string.
    let r = unsafe { (api.0)(&mut s, wbits, c"1.2.13".as_ptr(), std::mem::size_of::<ZStream>() as c_int) };
    assert_eq!(r, 0);
    let mut pos = 0;
    for _ in 0..100_000 {
        let n = ichunk.min(input.len() - pos);
        s.next_in = input[pos..].as_ptr();
        s.avail_in = n as c_uint;
        out[ochunk..].fill(0x5A);
        s.next_out = out.as_mut_ptr();
        s.avail_out = ochunk as c_uint;
        // SAFETY: buffers valid for the lengths given.
        let r = unsafe { (api.1)(&mut s, 0) };
        assert!(out[ochunk..].iter().all(|&b| b == 0x5A), "wrote past avail_out");
        assert!(s.avail_in as usize <= n && s.avail_out as usize <= ochunk);
        pos += n - s.avail_in as usize;
        assert!([0, 1, 2, -3, -5, -4].contains(&r), "unexpected code {r}");
        if r != 0 && !(r == -5 && pos < input.len()) {
            if r == -3 {
                assert!(!s.msg.is_null(), "Z_DATA_ERROR without msg");
            }
            break;
        }
    }
    // SAFETY: end the stream we initialised.
    unsafe { (api.2)(&mut s) };
});
