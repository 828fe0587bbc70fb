//! ChaCha20-Poly1305 through EVP, ours against the default provider in one library
//! context: every call's return value and every output byte must be the same. Wycheproof
//! (invalid tags included, whole and split updates), TLS 1.2 records (`tlsivfixed`,
//! `tlsaad`, nonce XOR sequence, EVP_Cipher in place), TLS 1.3-shaped records (AAD, one
//! update in place, tag set first on decryption), and the shapes our one-shot path hands
//! back to the default implementation (a message that goes on, a copy mid-message, short
//! IVs, a truncated tag). `WARPDRIVE_INLINE_MAX=0`: every request our provider can send
//! to the core goes there.

mod common;
use common::*;
use foreign_types::ForeignType;
use openssl::cipher::Cipher;
use openssl_sys as sys;
use std::os::raw::{c_int, c_uint, c_void};
use std::ptr;

extern "C" {
    fn EVP_Cipher(c: *mut sys::EVP_CIPHER_CTX, out: *mut u8, inp: *const u8, inl: c_uint) -> c_int;
    fn EVP_CipherFinal_ex(c: *mut sys::EVP_CIPHER_CTX, out: *mut u8, outl: *mut c_int) -> c_int;
}

#[repr(C)]
struct Param {
    key: *const std::os::raw::c_char,
    data_type: c_uint,
    data: *mut c_void,
    data_size: usize,
    return_size: usize,
}

extern "C" {
    fn OSSL_PROVIDER_load(lc: *mut c_void, name: *const std::os::raw::c_char) -> *mut c_void;
    fn OSSL_PROVIDER_unload(p: *mut c_void) -> c_int;
    fn OSSL_PROVIDER_get_params(p: *const c_void, params: *mut Param) -> c_int;
}

/// Our provider's counter `name` (its `warpdrive-stats` parameter).
fn counter(name: &str) -> u64 {
    let mut buf = vec![0u8; 1 << 16];
    let mut params = [
        Param {
            key: c"warpdrive-stats".as_ptr(),
            data_type: 4, // OSSL_PARAM_UTF8_STRING
            data: buf.as_mut_ptr().cast(),
            data_size: buf.len(),
            return_size: usize::MAX,
        },
        Param {
            key: ptr::null(),
            data_type: 0,
            data: ptr::null_mut(),
            data_size: 0,
            return_size: 0,
        },
    ];
    // SAFETY: our library context; the provider is loaded already (a reference more),
    // the parameter array is terminated and its buffer live.
    let json = unsafe {
        let p = OSSL_PROVIDER_load(ctx().lc.as_ptr().cast(), c"warpdrive".as_ptr());
        assert!(!p.is_null());
        assert_eq!(OSSL_PROVIDER_get_params(p, params.as_mut_ptr()), 1);
        OSSL_PROVIDER_unload(p);
        let n = params[0].return_size;
        String::from_utf8_lossy(&buf[..n])
            .trim_end_matches('\0')
            .to_string()
    };
    let v: serde_json::Value = serde_json::from_str(&json).expect("stats json");
    v["provider"][name].as_u64().unwrap_or(0)
}

const SET_IVLEN: c_int = 0x9;
const GET_TAG: c_int = 0x10;
const SET_TAG: c_int = 0x11;
const SET_IV_FIXED: c_int = 0x12;
const TLS1_AAD: c_int = 0x16;

fn cipher(ours: bool) -> Cipher {
    std::env::set_var("WARPDRIVE_INLINE_MAX", "0");
    let q = if ours {
        "provider=warpdrive"
    } else {
        "provider=default"
    };
    Cipher::fetch(Some(&ctx().lc), "ChaCha20-Poly1305", Some(q)).unwrap()
}

/// One EVP context and the transcript of what each call returned and wrote.
struct Evp {
    c: *mut sys::EVP_CIPHER_CTX,
    ours: bool,
    _cipher: Cipher,
    log: Vec<String>,
}

impl Drop for Evp {
    fn drop(&mut self) {
        // SAFETY: a live context, freed once.
        unsafe { sys::EVP_CIPHER_CTX_free(self.c) };
    }
}

impl Evp {
    fn new(ours: bool) -> Evp {
        let cipher = cipher(ours);
        // SAFETY: plain constructor.
        let c = unsafe { sys::EVP_CIPHER_CTX_new() };
        assert!(!c.is_null());
        // SAFETY: a live context and a fetched cipher.
        let rc = unsafe {
            sys::EVP_CipherInit_ex(
                c,
                cipher.as_ptr(),
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                1,
            )
        };
        assert_eq!(rc, 1);
        Evp {
            c,
            ours,
            _cipher: cipher,
            log: Vec::new(),
        }
    }

    fn clear_errors(&self) {
        // SAFETY: plain libcrypto call.
        unsafe { sys::ERR_clear_error() };
    }

    fn init(&mut self, enc: bool, key: Option<&[u8]>, iv: Option<&[u8]>) -> c_int {
        // SAFETY: NULL or live buffers of the cipher's key/IV length (checked by callers).
        let rc = unsafe {
            sys::EVP_CipherInit_ex(
                self.c,
                ptr::null(),
                ptr::null_mut(),
                key.map_or(ptr::null(), <[u8]>::as_ptr),
                iv.map_or(ptr::null(), <[u8]>::as_ptr),
                enc as c_int,
            )
        };
        self.log.push(format!("init {rc}"));
        self.clear_errors();
        rc
    }

    fn ctrl(&mut self, op: c_int, arg: c_int, data: &mut [u8]) -> c_int {
        let p = if data.is_empty() {
            ptr::null_mut()
        } else {
            data.as_mut_ptr()
        };
        // SAFETY: `data` is live for `arg` bytes where the ctrl reads or writes it.
        let rc = unsafe { sys::EVP_CIPHER_CTX_ctrl(self.c, op, arg, p as *mut c_void) };
        self.log
            .push(format!("ctrl {op:#x} {arg} {rc} {}", hex(data)));
        self.clear_errors();
        rc
    }

    fn update(&mut self, out: Option<&mut [u8]>, inp: &[u8]) -> c_int {
        let mut n: c_int = -1;
        let o = out.map_or(ptr::null_mut(), |o| o.as_mut_ptr());
        // SAFETY: `o` is NULL or has room for `inp.len()` bytes (callers size it so).
        let rc =
            unsafe { sys::EVP_CipherUpdate(self.c, o, &mut n, inp.as_ptr(), inp.len() as c_int) };
        self.log.push(format!("update {} {rc} {n}", inp.len()));
        self.clear_errors();
        rc
    }

    /// Update in place over `buf`.
    fn update_in_place(&mut self, buf: &mut [u8]) -> c_int {
        let mut n: c_int = -1;
        // SAFETY: in place over one live buffer (EVP allows exact overlap).
        let rc = unsafe {
            sys::EVP_CipherUpdate(
                self.c,
                buf.as_mut_ptr(),
                &mut n,
                buf.as_ptr(),
                buf.len() as c_int,
            )
        };
        self.log
            .push(format!("update-in-place {rc} {n} {}", hex(buf)));
        self.clear_errors();
        rc
    }

    fn final_(&mut self) -> c_int {
        let mut out = [0u8; 32];
        let mut n: c_int = -1;
        // SAFETY: room for any final output of this cipher.
        let rc = unsafe { EVP_CipherFinal_ex(self.c, out.as_mut_ptr(), &mut n) };
        self.log.push(format!("final {rc} {n}"));
        self.clear_errors();
        rc
    }

    fn evp_cipher(&mut self, buf: &mut [u8]) -> c_int {
        // SAFETY: in place over one live buffer.
        let rc = unsafe { EVP_Cipher(self.c, buf.as_mut_ptr(), buf.as_ptr(), buf.len() as c_uint) };
        self.log.push(format!("cipher {rc} {}", hex(buf)));
        self.clear_errors();
        rc
    }

    fn copy(&mut self) -> Evp {
        let cipher = self::cipher(self.ours);
        // SAFETY: plain constructor.
        let c = unsafe { sys::EVP_CIPHER_CTX_new() };
        // SAFETY: a copy of a live context into a fresh one.
        let rc = unsafe { sys::EVP_CIPHER_CTX_copy(c, self.c) };
        self.log.push(format!("copy {rc}"));
        Evp {
            c,
            ours: self.ours,
            _cipher: cipher,
            log: Vec::new(),
        }
    }
}

/// Runs `f` on our context and on the default one; the transcripts must be equal.
fn same(what: &str, f: impl Fn(&mut Evp)) -> Vec<String> {
    let (mut a, mut b) = (Evp::new(true), Evp::new(false));
    f(&mut a);
    f(&mut b);
    assert_eq!(a.log, b.log, "{what}: ours (left) differs from the default");
    a.log.clone()
}

/// A whole message: init, [ivlen], [tag], AAD, the data in `splits`, final, [tag].
#[allow(clippy::too_many_arguments)]
fn message(
    e: &mut Evp,
    enc: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    input: &[u8],
    tag: &[u8],
    splits: &[usize],
) {
    e.init(enc, None, None);
    if iv.len() != 12 {
        e.ctrl(SET_IVLEN, iv.len() as c_int, &mut []);
    }
    // EVP reads the context's IV length from the pointer: never past the buffer.
    let mut ivbuf = iv.to_vec();
    ivbuf.resize(iv.len().max(32), 0);
    if e.init(enc, Some(key), Some(&ivbuf)) != 1 {
        return;
    }
    if !enc {
        let mut t = tag.to_vec();
        e.ctrl(SET_TAG, t.len() as c_int, &mut t);
    }
    if !aad.is_empty() {
        e.update(None, aad);
    }
    let mut pos = 0;
    for &s in splits.iter().chain(std::iter::once(&usize::MAX)) {
        let end = pos + s.min(input.len() - pos);
        let mut buf = input[pos..end].to_vec();
        e.update_in_place(&mut buf);
        pos = end;
        if pos == input.len() {
            break;
        }
    }
    e.final_();
    if enc {
        let mut t = [0u8; 16];
        e.ctrl(GET_TAG, 16, &mut t);
    }
}

#[test]
fn wycheproof_through_evp_equals_the_default() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/wycheproof/chacha20_poly1305_test.json");
    let dir = std::env::var("WARPDRIVE_VECTORS").map(std::path::PathBuf::from);
    let p = match dir {
        Ok(d) => d.join("chacha20_poly1305_test.json"),
        Err(_) => p,
    };
    let Ok(text) = std::fs::read_to_string(&p) else {
        assert!(
            std::env::var_os("WARPDRIVE_REQUIRE_VECTORS").is_none(),
            "{} missing",
            p.display()
        );
        eprintln!("skipping: {} missing", p.display());
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for g in v["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let f = |k: &str| unhex(t[k].as_str().unwrap());
            let (key, iv, aad, msg, ct, tag) =
                (f("key"), f("iv"), f("aad"), f("msg"), f("ct"), f("tag"));
            let id = &t["tcId"];
            let splits: &[usize] = if msg.len() > 17 { &[17] } else { &[] };
            for sp in [&[][..], splits] {
                let log = same(&format!("tcId {id} decrypt {sp:?}"), |e| {
                    message(e, false, &key, &iv, &aad, &ct, &tag, sp)
                });
                let opened = log.last().is_some_and(|l| l.starts_with("final 1"));
                if iv.len() == 12 && tag.len() == 16 {
                    assert_eq!(opened, t["result"] == "valid", "tcId {id}: {log:?}");
                }
                same(&format!("tcId {id} encrypt {sp:?}"), |e| {
                    message(e, true, &key, &iv, &aad, &msg, &[], sp)
                });
            }
            if t["result"] == "valid" {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
    }
    assert!(
        valid > 200 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn tls12_records_equal_the_default() {
    let (ops0, recs0) = (counter("chacha_ops"), counter("chacha_tls_records"));
    let key = Rng::new(1).bytes(32);
    let fixed = Rng::new(2).bytes(12);
    for enc in [true, false] {
        same(&format!("TLS 1.2 records, enc {enc}"), |e| {
            e.init(enc, Some(&key), None);
            e.ctrl(SET_IV_FIXED, 12, &mut fixed.clone());
            let mut rng = Rng::new(3);
            for (seq, len) in [
                (0u64, 1usize),
                (1, 300),
                (7, 16384),
                (0x0102_0304_0506_0708, 0),
            ]
            .into_iter()
            {
                let mut aad = seq.to_be_bytes().to_vec();
                let wire = if enc { len } else { len + 16 };
                aad.extend_from_slice(&[23, 3, 3, (wire >> 8) as u8, wire as u8]);
                let pad = e.ctrl(TLS1_AAD, 13, &mut aad);
                if pad <= 0 {
                    continue;
                }
                let mut rec = rng.bytes(len + 16);
                e.evp_cipher(&mut rec);
            }
            // A record that is not payload || tag long, and a tampered one.
            let mut aad = [0u8, 0, 0, 0, 0, 0, 0, 9, 23, 3, 3, 0, 40];
            e.ctrl(TLS1_AAD, 13, &mut aad);
            e.evp_cipher(&mut [5u8; 30]);
            let mut aad = [0u8, 0, 0, 0, 0, 0, 0, 10, 23, 3, 3, 0, 40];
            e.ctrl(TLS1_AAD, 13, &mut aad);
            e.evp_cipher(&mut [6u8; 40]);
        });
    }
    // Sealed by ours, opened by the default (and back): the record round trips.
    let seal = |ours: bool, body: &[u8]| {
        let mut e = Evp::new(ours);
        e.init(true, Some(&key), None);
        e.ctrl(SET_IV_FIXED, 12, &mut fixed.clone());
        let n = body.len();
        let mut aad = [0, 0, 0, 0, 0, 0, 0, 5, 23, 3, 3, (n >> 8) as u8, n as u8];
        e.ctrl(TLS1_AAD, 13, &mut aad);
        let mut rec = body.to_vec();
        rec.extend_from_slice(&[0; 16]);
        assert_eq!(e.evp_cipher(&mut rec), rec.len() as c_int);
        rec
    };
    let open = |ours: bool, rec: &[u8]| {
        let mut e = Evp::new(ours);
        e.init(false, Some(&key), None);
        e.ctrl(SET_IV_FIXED, 12, &mut fixed.clone());
        let n = rec.len();
        let mut aad = [0, 0, 0, 0, 0, 0, 0, 5, 23, 3, 3, (n >> 8) as u8, n as u8];
        e.ctrl(TLS1_AAD, 13, &mut aad);
        let mut r = rec.to_vec();
        (e.evp_cipher(&mut r), r)
    };
    let body = Rng::new(9).bytes(5000);
    let rec = seal(true, &body);
    assert_eq!(rec, seal(false, &body));
    let (rc, back) = open(false, &rec);
    assert_eq!((rc, &back[..5000]), (5000, &body[..]));
    let (rc, back) = open(true, &rec);
    assert_eq!((rc, &back[..5000]), (5000, &body[..]));
    // Valid records of every size, opened by both: the same return values and bytes.
    let recs: Vec<Vec<u8>> = [0usize, 1, 300, 16384]
        .iter()
        .map(|&n| seal(false, &Rng::new(n as u64).bytes(n)))
        .collect();
    same("TLS 1.2 valid records, decrypt", |e| {
        e.init(false, Some(&key), None);
        e.ctrl(SET_IV_FIXED, 12, &mut fixed.clone());
        for r in &recs {
            let n = r.len();
            let mut aad = [0, 0, 0, 0, 0, 0, 0, 5, 23, 3, 3, (n >> 8) as u8, n as u8];
            e.ctrl(TLS1_AAD, 13, &mut aad);
            e.evp_cipher(&mut r.clone());
        }
    });
    // Ours ran records through the core (sealed, and the valid ones opened).
    let recs = counter("chacha_tls_records") - recs0;
    assert!(recs > 4 + 4, "{recs} TLS records through the core");
    assert!(counter("chacha_ops") - ops0 >= recs);
}

#[test]
fn tls13_records_and_edges_equal_the_default() {
    let ops0 = counter("chacha_ops");
    let key = Rng::new(4).bytes(32);
    let iv = Rng::new(5).bytes(12);
    for enc in [true, false] {
        // TLS 1.3: a key once, then per record an IV, [tag], AAD, one update in place.
        same(&format!("TLS 1.3 records, enc {enc}"), |e| {
            e.init(enc, Some(&key), None);
            let mut rng = Rng::new(6);
            for len in [1usize, 17, 16384, 0] {
                e.init(enc, None, Some(&iv));
                if !enc {
                    let mut t = rng.bytes(16);
                    e.ctrl(SET_TAG, 16, &mut t);
                }
                e.update(None, &[23, 3, 3, 0, len as u8]);
                let mut rec = rng.bytes(len);
                e.update_in_place(&mut rec);
                e.final_();
                if enc {
                    e.ctrl(GET_TAG, 16, &mut [0; 16]);
                    e.ctrl(GET_TAG, 8, &mut [0; 8]);
                }
            }
        });
        // The message goes on after one update, gets a parameter after its data, is
        // copied mid-message; AAD after data; a short IV.
        same(&format!("edges, enc {enc}"), |e| {
            e.init(enc, Some(&key), Some(&iv));
            if !enc {
                e.ctrl(SET_TAG, 16, &mut [1; 16]);
            }
            e.update(None, b"aad");
            e.update_in_place(&mut [3u8; 1000]);
            let mut c = e.copy();
            c.update_in_place(&mut [4u8; 10]);
            c.final_();
            c.ctrl(GET_TAG, 16, &mut [0; 16]);
            e.log.append(&mut c.log);
            e.update_in_place(&mut [5u8; 100]);
            e.update(None, b"late aad");
            e.final_();
            e.ctrl(GET_TAG, 16, &mut [0; 16]);
            // One update, then a tag set afterwards, then final.
            e.init(enc, None, Some(&iv));
            e.update_in_place(&mut [6u8; 64]);
            e.ctrl(SET_TAG, 16, &mut [2; 16]);
            e.final_();
            e.ctrl(GET_TAG, 16, &mut [0; 16]);
            // An 8-byte IV (the default pads it; the core only takes 12).
            e.ctrl(SET_IVLEN, 8, &mut []);
            e.init(enc, None, Some(&iv));
            e.update_in_place(&mut [7u8; 64]);
            e.final_();
            e.ctrl(GET_TAG, 16, &mut [0; 16]);
        });
    }
    // The sealed TLS 1.3 records (and the edges' first updates) went through the core.
    let ops = counter("chacha_ops") - ops0;
    assert!(ops >= 4, "{ops} messages through the core");
}
