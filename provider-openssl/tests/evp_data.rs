//! OpenSSL's own EVP test data (test/recipes/30-test_evp_data/*.txt in OpenSSL's sources)
//! driven through the provider: every `Cipher`, `Digest` and `MAC` stanza for an algorithm
//! the provider claims (AES-GCM/CTR/CBC, SHA-1/SHA-2, HMAC over any digest) runs on our
//! implementation and on the default provider's, and ours must give the same outcome
//! (the same bytes, or a failure where the default fails) and match the file where the
//! default does. Cipher stanzas run the ways evp_test varies them (one update or pieces
//! of 1, n-2 and 1 bytes, in place, the tag set early or late), and the context's
//! updated IV must agree too (and match `NextIV`). A second test runs every `KDF` and
//! `MAC` stanza in a library context set up like the installed configuration
//! (`?provider=warpdrive`: the default provider's KDFs and MACs then use our digests,
//! HMAC and ciphers) against the default provider alone.
//!
//! The data is OpenSSL's (Apache-2.0) and is not part of this repository: point
//! `WARPDRIVE_OSSL_EVP_DATA` at that directory (or at a file);
//! tests/run.d/45-evp-data.sh fetches it from Debian's openssl source package. Without
//! it the tests say so and pass. Stanzas with keys this driver does not interpret are
//! skipped and counted, never guessed at.

mod common;
use common::*;
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::CipherCtx;
use openssl::lib_ctx::LibCtx;
use openssl::md::Md;
use openssl::md_ctx::MdCtx;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::path::PathBuf;

const OURS: &str = "provider=warpdrive";
const DEFAULT: &str = "provider=default";

/// One stanza: its keyword and value (`Cipher = AES-128-GCM`) and the other lines.
struct Stanza {
    file: String,
    line: usize,
    kind: String,
    alg: String,
    fields: Vec<(String, String)>,
}

impl Stanza {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
    fn bin(&self, k: &str) -> Option<Vec<u8>> {
        self.get(k).map(parse_bin)
    }
    fn only(&self, known: &[&str]) -> bool {
        self.fields
            .iter()
            .all(|(k, _)| known.iter().any(|w| w.eq_ignore_ascii_case(k)))
    }
    fn at(&self) -> String {
        format!("{}:{} {} = {}", self.file, self.line, self.kind, self.alg)
    }
}

/// evp_test's value syntax: a quoted string, or hex (possibly empty).
fn parse_bin(v: &str) -> Vec<u8> {
    let v = v.trim();
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return s.as_bytes().to_vec();
    }
    unhex(&v.to_ascii_lowercase())
}

fn parse(file: &str, text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur: Option<Stanza> = None;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            out.extend(cur.take());
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
        match cur.as_mut() {
            _ if matches!(k.as_str(), "Title") => {}
            None if matches!(
                k.as_str(),
                "Availablein" | "FIPSversion" | "Securitycheck" | "Unapproved"
            ) =>
            {
                // Prefix lines of the next stanza.
                cur = Some(Stanza {
                    file: file.to_owned(),
                    line: i + 1,
                    kind: String::new(),
                    alg: String::new(),
                    fields: vec![(k, v)],
                });
            }
            None => {
                cur = Some(Stanza {
                    file: file.to_owned(),
                    line: i + 1,
                    kind: k,
                    alg: v,
                    fields: Vec::new(),
                })
            }
            Some(s) if s.kind.is_empty() => {
                if matches!(
                    k.as_str(),
                    "Availablein" | "FIPSversion" | "Securitycheck" | "Unapproved"
                ) {
                    s.fields.push((k, v));
                } else {
                    s.kind = k;
                    s.alg = v;
                    s.line = i + 1;
                }
            }
            Some(s) => s.fields.push((k, v)),
        }
    }
    out.extend(cur);
    out
}

fn claimed_cipher(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["128", "192", "256"].iter().any(|k| {
        ["GCM", "CTR", "CBC"]
            .iter()
            .any(|m| n == format!("AES-{k}-{m}") || n == format!("ID-AES{k}-{m}"))
    }) || matches!(n.as_str(), "AES128" | "AES192" | "AES256")
}

fn claimed_digest(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "SHA1"
            | "SHA-1"
            | "SHA224"
            | "SHA2-224"
            | "SHA256"
            | "SHA2-256"
            | "SHA384"
            | "SHA2-384"
            | "SHA512"
            | "SHA2-512"
    )
}

/// Outcome of one run: the bytes produced, or a failure.
type Outcome = Option<Vec<u8>>;

/// How evp_test varies a cipher case: the data (and AAD) in one update or in pieces of
/// 1, n-2 and 1 bytes, in place or not, (decryption) the tag set before the data or just
/// before final; and the context copied after the first piece, the original freed and
/// the copy carrying on.
#[derive(Clone, Copy, Debug)]
struct Variant {
    frag: bool,
    inplace: bool,
    tag_late: bool,
    dup: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        frag: false,
        inplace: false,
        tag_late: false,
        dup: false,
    },
    Variant {
        frag: true,
        inplace: false,
        tag_late: false,
        dup: false,
    },
    Variant {
        frag: false,
        inplace: true,
        tag_late: false,
        dup: false,
    },
    Variant {
        frag: true,
        inplace: false,
        tag_late: true,
        dup: false,
    },
    Variant {
        frag: true,
        inplace: false,
        tag_late: false,
        dup: true,
    },
];

extern "C" {
    fn EVP_CIPHER_CTX_get_updated_iv(
        ctx: *mut openssl_sys::EVP_CIPHER_CTX,
        buf: *mut c_void,
        len: usize,
    ) -> c_int;
}

/// The pieces evp_test feeds with `frag`: 1, n-2 and 1 bytes (fewer when short).
fn pieces(n: usize, frag: bool) -> Vec<std::ops::Range<usize>> {
    if !frag || n < 2 {
        return std::iter::once(0..n).collect();
    }
    [0..1, 1..n - 1, n - 1..n]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect()
}

/// One cipher run: the output (with the tag appended when encrypting with an AEAD) and,
/// for the IV-carrying modes, the context's updated IV afterwards.
fn cipher_run(c: &CipherRef, s: &Stanza, enc: bool, v: Variant) -> Option<(Vec<u8>, Vec<u8>)> {
    use foreign_types::ForeignTypeRef;
    let key = s.bin("Key")?;
    let iv = s.bin("IV");
    let aad: Vec<Vec<u8>> = s
        .fields
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("AAD"))
        .map(|(_, v)| parse_bin(v))
        .collect();
    let tag = s.bin("Tag");
    let input = if enc {
        s.bin("Plaintext")?
    } else {
        s.bin("Ciphertext")?
    };
    let aead = is_aead(&s.alg);
    let gcm = s.alg.to_ascii_uppercase().contains("GCM");
    let mut x = CipherCtx::new().ok()?;
    if enc {
        x.encrypt_init(Some(c), None, None).ok()?;
    } else {
        x.decrypt_init(Some(c), None, None).ok()?;
    }
    if let Some(iv) = &iv {
        if gcm {
            x.set_iv_length(iv.len()).ok()?;
        }
    }
    if let (false, Some(t), true, false) = (enc, &tag, aead, v.tag_late) {
        x.set_tag(t).ok()?;
    }
    if enc {
        x.encrypt_init(None, Some(&key), iv.as_deref()).ok()?;
    } else {
        x.decrypt_init(None, Some(&key), iv.as_deref()).ok()?;
    }
    // evp_test runs every cipher case without padding (the vectors are whole blocks).
    x.set_padding(s.get("Padding").is_some_and(|p| p != "0"));
    if aead {
        for a in &aad {
            for r in pieces(a.len(), v.frag) {
                x.cipher_update(&a[r], None).ok()?;
            }
        }
    }
    let mut out = vec![0u8; input.len() + 32];
    let mut n = 0;
    if v.inplace {
        out[..input.len()].copy_from_slice(&input);
        n = x.cipher_update_inplace(&mut out, input.len()).ok()?;
    } else {
        for (i, r) in pieces(input.len(), v.frag).into_iter().enumerate() {
            n += x.cipher_update(&input[r], Some(&mut out[n..])).ok()?;
            if v.dup && i == 0 {
                let mut y = CipherCtx::new().ok()?;
                y.copy(&x).ok()?;
                drop(std::mem::replace(&mut x, y));
            }
        }
    }
    if let (false, Some(t), true, true) = (enc, &tag, aead, v.tag_late) {
        x.set_tag(t).ok()?;
    }
    n += x.cipher_final(&mut out[n..]).ok()?;
    out.truncate(n);
    if enc && aead {
        let mut t = vec![0u8; tag.as_ref().map_or(16, Vec::len)];
        x.tag(&mut t).ok()?;
        out.extend_from_slice(&t);
    }
    // SAFETY: a live cipher context.
    let ivlen = unsafe { openssl_sys::EVP_CIPHER_CTX_get_iv_length(x.as_ptr()) }.max(0) as usize;
    let mut next = vec![0u8; ivlen];
    // SAFETY: a live cipher context and a buffer of `ivlen` bytes.
    let got = unsafe { EVP_CIPHER_CTX_get_updated_iv(x.as_ptr(), next.as_mut_ptr().cast(), ivlen) };
    if ivlen == 0 || got != 1 {
        next.clear();
    }
    Some((out, next))
}

/// evp_test's digest input: every `Input` line a buffer, `Ncopy` and `Count` applying to
/// the buffer before them (copies in one update, and updates).
fn digest_input(s: &Stanza) -> Option<Vec<(Vec<u8>, usize)>> {
    let mut bufs: Vec<(Vec<u8>, usize)> = Vec::new();
    for (k, v) in &s.fields {
        match k.as_str() {
            "Input" => bufs.push((parse_bin(v), 1)),
            "Ncopy" => {
                let last = bufs.last_mut()?;
                last.0 = last.0.repeat(v.parse().ok()?);
            }
            "Count" => bufs.last_mut()?.1 = v.parse().ok()?,
            _ => {}
        }
    }
    (!bufs.is_empty()).then_some(bufs)
}

/// A digest stanza; with `dup`, the context is copied after the first update, the
/// original freed and the copy carries on.
fn digest_run(lc: &LibCtx, props: &str, s: &Stanza, dup: bool) -> Outcome {
    use foreign_types::ForeignTypeRef;
    let md = Md::fetch(Some(lc), &s.alg, Some(props)).ok()?;
    let mut x = MdCtx::new().ok()?;
    x.digest_init(&md).ok()?;
    let mut first = true;
    for (block, count) in digest_input(s)? {
        for _ in 0..count {
            x.digest_update(&block).ok()?;
            if dup && std::mem::take(&mut first) {
                let y = MdCtx::new().ok()?;
                // SAFETY: two live digest contexts.
                if unsafe { openssl_sys::EVP_MD_CTX_copy_ex(y.as_ptr(), x.as_ptr()) } != 1 {
                    return None;
                }
                drop(std::mem::replace(&mut x, y));
            }
        }
    }
    let mut out = vec![0u8; md.size()];
    x.digest_final(&mut out).ok()?;
    Some(out)
}

/// Every direction the stanza asks for, in each variant: ours against the default and
/// the file, the updated IV included.
fn cipher_case(t: &mut Tally, s: &Stanza, ours: &CipherRef, def: &CipherRef, variants: &[Variant]) {
    let op = s.get("Operation").unwrap_or("BOTH").to_ascii_uppercase();
    let aead = is_aead(&s.alg);
    let mut ct = s.bin("Ciphertext");
    if aead {
        if let (Some(c), Some(tag)) = (ct.as_mut(), s.bin("Tag")) {
            c.extend_from_slice(&tag);
        }
    }
    let next_iv = s.bin("NextIV");
    for &v in variants {
        for enc in [true, false] {
            if op == if enc { "DECRYPT" } else { "ENCRYPT" } {
                continue;
            }
            let (a, b) = (cipher_run(ours, s, enc, v), cipher_run(def, s, enc, v));
            let what = format!("{} {v:?}", if enc { "encrypt" } else { "decrypt" });
            // The context's IV afterwards: ours as the default's, and
            // as the file says (NextIV) where it says.
            if let (Some((_, ia)), Some((_, ib))) = (&a, &b) {
                if ia != ib || next_iv.as_ref().is_some_and(|n| n != ib) {
                    t.wrong.push(format!(
                        "{} {what}: updated IV ours {}, default {}, file {:?}",
                        s.at(),
                        hex(ia),
                        hex(ib),
                        next_iv.as_deref().map(hex)
                    ));
                }
            }
            let want = if enc { ct.clone() } else { s.bin("Plaintext") };
            t.check(s, &what, a.map(|o| o.0), b.map(|o| o.0), want.as_deref());
        }
    }
}

/// The AEADs this driver handles (tag appended to the ciphertext, set before decrypting).
fn is_aead(alg: &str) -> bool {
    let a = alg.to_ascii_uppercase();
    a.contains("GCM") || a.contains("SIV")
}

#[derive(Default)]
struct Tally {
    matched: usize,
    failed_both: usize,
    /// Failed on both though the file expects success: what this driver cannot drive.
    unexpected: Vec<String>,
    skipped: BTreeMap<String, usize>,
    wrong: Vec<String>,
    disagree: Vec<String>,
}

impl Tally {
    fn report(&self) {
        for d in &self.disagree {
            eprintln!("  the default provider disagrees with the file: {d}");
        }
        for d in &self.unexpected {
            eprintln!("  failed on both, the file expects success: {d}");
        }
    }
    fn skip(&mut self, why: &str) {
        *self.skipped.entry(why.to_owned()).or_default() += 1;
    }
    /// Ours against the default provider's outcome and the file's expectation.
    fn check(&mut self, s: &Stanza, what: &str, ours: Outcome, def: Outcome, want: Option<&[u8]>) {
        let expect_fail = s.get("Result").is_some();
        if ours != def {
            self.wrong.push(format!(
                "{} {what}: ours {:?}, default {:?}",
                s.at(),
                ours.as_deref().map(hex),
                def.as_deref().map(hex)
            ));
            return;
        }
        match (&def, want) {
            (Some(d), Some(w)) if !expect_fail && d.as_slice() != w => {
                self.skip("default provider disagrees with the file");
                self.disagree.push(format!("{} {what}", s.at()));
            }
            (Some(_), _) => self.matched += 1,
            (None, _) => {
                self.failed_both += 1;
                if !expect_fail {
                    self.unexpected.push(format!("{} {what}", s.at()));
                }
            }
        }
    }
}

/// The two tests one after the other: the provider's counters are process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn files() -> Option<Vec<PathBuf>> {
    let p = PathBuf::from(std::env::var_os("WARPDRIVE_OSSL_EVP_DATA")?);
    if p.is_file() {
        return Some(vec![p]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
        .unwrap_or_else(|e| panic!("WARPDRIVE_OSSL_EVP_DATA={}: {e}", p.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    Some(v)
}

#[test]
fn openssl_evp_test_data_through_provider() {
    let Some(files) = files() else {
        eprintln!(
            "SKIP: set WARPDRIVE_OSSL_EVP_DATA to OpenSSL's test/recipes/30-test_evp_data \
             (evpciph_aes_common.txt, evpmd_sha.txt, evpmac_common.txt, ...) to run \
             OpenSSL's own EVP vectors through the provider"
        );
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = ctx();
    let mut t = Tally::default();
    const CIPHER_KEYS: &[&str] = &[
        "Key",
        "IV",
        "AAD",
        "Tag",
        "Plaintext",
        "Ciphertext",
        "Operation",
        "Result",
        "NextIV",
        "Padding",
        "Availablein",
        "FIPSversion",
    ];
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        for s in parse(&name, &text) {
            if s.get("Availablein").is_some_and(|a| a != "default") {
                t.skip("Availablein other than default");
                continue;
            }
            match s.kind.as_str() {
                "Cipher" if claimed_cipher(&s.alg) => {
                    if !s.only(CIPHER_KEYS) {
                        t.skip("cipher stanza with other keys");
                        continue;
                    }
                    let (Ok(ours), Ok(def)) = (
                        Cipher::fetch(Some(&c.lc), &s.alg, Some(OURS)),
                        Cipher::fetch(Some(&c.lc), &s.alg, Some(DEFAULT)),
                    ) else {
                        t.wrong.push(format!("{}: cannot fetch", s.at()));
                        continue;
                    };
                    cipher_case(&mut t, &s, &ours, &def, &VARIANTS);
                }
                "Digest" if claimed_digest(&s.alg) => {
                    if !s.only(&["Input", "Output", "Count", "Ncopy", "Availablein"]) {
                        t.skip("digest stanza with other keys");
                        continue;
                    }
                    for dup in [false, true] {
                        let (a, b) = (
                            digest_run(&c.lc, OURS, &s, dup),
                            digest_run(&c.lc, DEFAULT, &s, dup),
                        );
                        let what = if dup { "digest, copied" } else { "digest" };
                        t.check(&s, what, a, b, s.bin("Output").as_deref());
                    }
                }
                "MAC" if s.alg == "HMAC" || s.alg == "HMAC by EVP_PKEY" => {
                    if !s.only(&[
                        "Algorithm",
                        "Key",
                        "Input",
                        "Output",
                        "Result",
                        "Availablein",
                        "BlockSize",
                        "OutputSize",
                    ]) {
                        t.skip("MAC stanza with other keys");
                        continue;
                    }
                    for dup in [false, true] {
                        let (a, b) = (
                            mac_generic_run(&c.lc, Some(OURS), &s, dup),
                            mac_generic_run(&installed_and_default().1.lc, None, &s, dup),
                        );
                        let what = if dup { "mac, copied" } else { "mac" };
                        t.check(&s, what, a, b, s.bin("Output").as_deref());
                    }
                }
                _ => t.skip("algorithm not claimed by the provider"),
            }
        }
    }
    eprintln!(
        "{} files: {} cases matched the default provider with output, {} failed on both, \
         skipped {:?}",
        files.len(),
        t.matched,
        t.failed_both,
        t.skipped
    );
    t.report();
    assert!(t.wrong.is_empty(), "{}", t.wrong.join("\n"));
    assert!(t.matched > 0, "no case of a claimed algorithm ran");
}

// --- KDF, MAC and AES-SIV stanzas under the installed configuration ----------------
//
// Our provider offers no KDF and only HMAC among the MACs, but with the installed
// configuration (`default_properties = ?provider=warpdrive`) the default provider's KDFs
// and MACs fetch their digests, HMAC and ciphers from ours (HKDF, TLS1-PRF, PBKDF2,
// SSKDF, SSHKDF, TLS13-KDF, KBKDF and KRB5KDF over AES-CBC, X963KDF; CMAC over AES-CBC,
// GMAC over AES-GCM, ...). Every such stanza runs, the way OpenSSL's evp_test drives it
// (its `Ctrl` strings through OSSL_PARAM_allocate_from_text), in a library context set
// up like the installed configuration and in one with the default provider alone.

use openssl_sys::OSSL_PARAM;
use std::os::raw::c_int;

extern "C" {
    fn EVP_set_default_properties(
        libctx: *mut openssl_sys::OSSL_LIB_CTX,
        propq: *const c_char,
    ) -> c_int;
    fn OSSL_PARAM_allocate_from_text(
        to: *mut OSSL_PARAM,
        paramdefs: *const OSSL_PARAM,
        key: *const c_char,
        value: *const c_char,
        value_n: usize,
        found: *mut c_int,
    ) -> c_int;
    fn OSSL_PROVIDER_get_params(
        prov: *const openssl_sys::OSSL_PROVIDER,
        params: *mut OSSL_PARAM,
    ) -> c_int;
    fn OSSL_PARAM_construct_utf8_string(
        key: *const c_char,
        buf: *mut c_char,
        bsize: usize,
    ) -> OSSL_PARAM;
    fn EVP_KDF_CTX_settable_params(ctx: *mut openssl_sys::EVP_KDF_CTX) -> *const OSSL_PARAM;
    fn EVP_KDF_CTX_set_params(
        ctx: *mut openssl_sys::EVP_KDF_CTX,
        params: *const OSSL_PARAM,
    ) -> c_int;
}

/// A library context with its providers (kept alive with it).
struct Lc {
    lc: LibCtx,
    _p: Vec<openssl::provider::Provider>,
}

/// (installed-style: default + ours, `?provider=warpdrive`; default alone).
fn installed_and_default() -> &'static (Lc, Lc) {
    use openssl::provider::Provider;
    static C: std::sync::OnceLock<(Lc, Lc)> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        use foreign_types::ForeignTypeRef;
        let lc = LibCtx::new().unwrap();
        Provider::set_default_search_path(Some(&lc), module_dir().to_str().unwrap()).unwrap();
        let p = vec![
            Provider::load(Some(&lc), "default").unwrap(),
            Provider::load(Some(&lc), "warpdrive").expect("load warpdrive"),
        ];
        let q = CString::new("?provider=warpdrive").unwrap();
        // SAFETY: a live library context and a C string.
        let set = unsafe { EVP_set_default_properties(lc.as_ptr(), q.as_ptr()) };
        assert_eq!(set, 1);
        let dl = LibCtx::new().unwrap();
        let dp = vec![Provider::load(Some(&dl), "default").unwrap()];
        (Lc { lc, _p: p }, Lc { lc: dl, _p: dp })
    })
}

/// Our provider's counters (its `warpdrive-stats` parameter).
fn provider_counters(p: &openssl::provider::Provider) -> serde_json::Value {
    use foreign_types::ForeignType;
    let mut buf = vec![0u8; 8192];
    // SAFETY: a loaded provider; the parameter points into `buf` with its size; the array
    // is terminated.
    let ok = unsafe {
        let mut params = [
            OSSL_PARAM_construct_utf8_string(
                c"warpdrive-stats".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            ),
            openssl_sys::OSSL_PARAM_construct_end(),
        ];
        OSSL_PROVIDER_get_params(p.as_ptr(), params.as_mut_ptr())
    };
    assert_eq!(ok, 1, "warpdrive-stats");
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    serde_json::from_slice(&buf[..n]).expect("stats JSON")
}

/// Parameters built the evp_test way; owns what OSSL_PARAM_allocate_from_text allocated.
struct Params {
    v: Vec<OSSL_PARAM>,
    owned: Vec<*mut c_void>,
    _keep: Vec<CString>,
    _bufs: Vec<Vec<u8>>,
}

impl Params {
    fn new() -> Params {
        Params {
            v: Vec::new(),
            owned: Vec::new(),
            _keep: Vec::new(),
            _bufs: Vec::new(),
        }
    }
    /// `name:value` text against the settable definitions; false if it cannot be set.
    fn text(&mut self, defs: *const OSSL_PARAM, name: &str, value: &str) -> bool {
        let (n, v) = (CString::new(name).unwrap(), CString::new(value).unwrap());
        let mut p = OSSL_PARAM {
            key: std::ptr::null(),
            data_type: 0,
            data: std::ptr::null_mut(),
            data_size: 0,
            return_size: 0,
        };
        let mut found = 0;
        // SAFETY: `defs` is the context's settable list; C strings with their length;
        // on success `p.data` is allocated by libcrypto (freed in Drop).
        let ok = unsafe {
            OSSL_PARAM_allocate_from_text(
                &mut p,
                defs,
                n.as_ptr(),
                v.as_ptr(),
                value.len(),
                &mut found,
            )
        } == 1;
        if !ok {
            return false;
        }
        self.owned.push(p.data);
        self._keep.push(n);
        self.v.push(p);
        true
    }
    /// A raw octet string.
    fn octets(&mut self, name: &str, data: Vec<u8>) {
        let n = CString::new(name).unwrap();
        let mut d = data;
        // SAFETY: key and buffer outlive the parameter (kept in self).
        let p = unsafe {
            openssl_sys::OSSL_PARAM_construct_octet_string(
                n.as_ptr(),
                d.as_mut_ptr().cast(),
                d.len(),
            )
        };
        self.v.push(p);
        self._keep.push(n);
        self._bufs.push(d);
    }
    fn as_ptr(&mut self) -> *const OSSL_PARAM {
        // SAFETY: plain constructor.
        self.v
            .push(unsafe { openssl_sys::OSSL_PARAM_construct_end() });
        self.v.as_ptr()
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for p in &self.owned {
            // SAFETY: allocated by OSSL_PARAM_allocate_from_text.
            unsafe { openssl_sys::CRYPTO_free(*p, c"evp_data".as_ptr(), 0) };
        }
    }
}

/// The `Ctrl...` lines of a stanza as (name, value) pairs (`Ctrl.x = name:value`).
fn ctrls(s: &Stanza) -> Vec<(String, String)> {
    s.fields
        .iter()
        .filter(|(k, _)| k.starts_with("Ctrl"))
        .map(|(_, v)| match v.split_once(':') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (v.clone(), String::new()),
        })
        .collect()
}

fn kdf_run(lc: &LibCtx, s: &Stanza) -> Outcome {
    use foreign_types::ForeignTypeRef;
    let want = s.bin("Output")?;
    let name = CString::new(s.alg.as_str()).ok()?;
    // SAFETY: fetch with a live context; everything fetched is freed below.
    let kdf = unsafe { openssl_sys::EVP_KDF_fetch(lc.as_ptr(), name.as_ptr(), std::ptr::null()) };
    if kdf.is_null() {
        return None;
    }
    // SAFETY: `kdf` is a fetched KDF.
    let ctx = unsafe { openssl_sys::EVP_KDF_CTX_new(kdf) };
    let mut params = Params::new();
    let mut out = vec![0u8; want.len()];
    // SAFETY: `ctx` is a live KDF context (or NULL, checked); the parameter array is
    // terminated and outlives the calls; `out` holds `out.len()` bytes.
    let ok = !ctx.is_null()
        && unsafe {
            let defs = EVP_KDF_CTX_settable_params(ctx);
            ctrls(s).iter().all(|(n, v)| params.text(defs, n, v))
                && EVP_KDF_CTX_set_params(ctx, params.as_ptr()) == 1
                && openssl_sys::EVP_KDF_derive(ctx, out.as_mut_ptr(), out.len(), std::ptr::null())
                    == 1
        };
    // SAFETY: both were created above (free accepts NULL).
    unsafe {
        openssl_sys::EVP_KDF_CTX_free(ctx);
        openssl_sys::EVP_KDF_free(kdf);
    }
    ok.then_some(out)
}

/// A MAC stanza the evp_test way: `Algorithm` as the digest or cipher, IV/Custom/Salt,
/// `Ctrl` strings; `OutputSize` and `BlockSize` are what the context must report.
/// With `dup`, the context is copied after the first half of the input, the original
/// freed and the copy carries on.
fn mac_generic_run(lc: &LibCtx, propq: Option<&str>, s: &Stanza, dup: bool) -> Outcome {
    use foreign_types::ForeignTypeRef;
    let alg = s.alg.split(" by ").next()?;
    let name = CString::new(alg).ok()?;
    let key = s.bin("Key")?;
    let input = s.bin("Input")?;
    let q = propq.map(|q| CString::new(q).unwrap());
    let qp = q.as_ref().map_or(std::ptr::null(), |q| q.as_ptr());
    // SAFETY: fetch with a live context; freed below.
    let mac = unsafe { openssl_sys::EVP_MAC_fetch(lc.as_ptr(), name.as_ptr(), qp) };
    if mac.is_null() {
        return None;
    }
    // SAFETY: `mac` is a fetched MAC.
    let mut ctx = unsafe { openssl_sys::EVP_MAC_CTX_new(mac) };
    let xof = s.get("XOF").is_some_and(|x| x != "0");
    let outlen = s.bin("Output").map_or(64, |o| o.len());
    let mut out = vec![0u8; 1024];
    let mut n = 0usize;
    let mut params = Params::new();
    // SAFETY: `ctx` is a live MAC context (or NULL, checked); parameters terminated and
    // alive for the calls; buffers with their lengths.
    let ok = !ctx.is_null()
        && unsafe {
            let defs = openssl_sys::EVP_MAC_CTX_settable_params(ctx);
            let mut ok = true;
            if let Some(a) = s.get("Algorithm") {
                let has = |k: &core::ffi::CStr| {
                    !openssl_sys::OSSL_PARAM_locate_const(defs, k.as_ptr()).is_null()
                };
                let which = if has(c"cipher") { "cipher" } else { "digest" };
                ok &= params.text(defs, which, a);
            }
            for (k, p) in [("IV", "iv"), ("Custom", "custom"), ("Salt", "salt")] {
                if let Some(v) = s.bin(k) {
                    params.octets(p, v);
                }
            }
            if let Some(v) = s.get("XOF") {
                ok &= params.text(defs, "xof", v);
            }
            for (k, v) in ctrls(s) {
                ok &= params.text(defs, &k, &v);
            }
            ok && openssl_sys::EVP_MAC_CTX_set_params(ctx, params.as_ptr()) == 1
                && openssl_sys::EVP_MAC_init(ctx, key.as_ptr(), key.len(), std::ptr::null()) == 1
                && s.get("OutputSize")
                    .is_none_or(|v| v.parse() == Ok(openssl_sys::EVP_MAC_CTX_get_mac_size(ctx)))
                && s.get("BlockSize")
                    .is_none_or(|v| v.parse() == Ok(openssl_sys::EVP_MAC_CTX_get_block_size(ctx)))
                && {
                    let h = input.len() / 2;
                    let mut good = openssl_sys::EVP_MAC_update(ctx, input.as_ptr(), h) == 1;
                    if good && dup {
                        let copy = openssl_sys::EVP_MAC_CTX_dup(ctx);
                        openssl_sys::EVP_MAC_CTX_free(ctx);
                        ctx = copy;
                        good = !ctx.is_null();
                    }
                    good && openssl_sys::EVP_MAC_update(ctx, input[h..].as_ptr(), input.len() - h)
                        == 1
                }
                && if xof {
                    n = outlen;
                    openssl_sys::EVP_MAC_finalXOF(ctx, out.as_mut_ptr(), outlen) == 1
                } else {
                    openssl_sys::EVP_MAC_final(ctx, out.as_mut_ptr(), &mut n, out.len()) == 1
                }
        };
    // SAFETY: created above (free accepts NULL).
    unsafe {
        openssl_sys::EVP_MAC_CTX_free(ctx);
        openssl_sys::EVP_MAC_free(mac);
    }
    ok.then(|| out[..n].to_vec())
}

#[test]
fn openssl_kdf_and_mac_data_with_installed_config() {
    let Some(files) = files() else {
        eprintln!("SKIP: set WARPDRIVE_OSSL_EVP_DATA (see the test above)");
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (inst, def) = installed_and_default();
    let before = provider_counters(&inst._p[1]);
    let mut t = Tally::default();
    let (mut kdfs, mut macs, mut sivs) = (0, 0, 0);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        for s in parse(&name, &text) {
            if s.get("Availablein").is_some_and(|a| a != "default") {
                t.skip("Availablein other than default");
                continue;
            }
            let known = |extra: &[&str]| {
                s.fields.iter().all(|(k, _)| {
                    k.starts_with("Ctrl")
                        || ["Output", "Result", "Availablein", "FIPSversion"]
                            .iter()
                            .chain(extra)
                            .any(|w| w.eq_ignore_ascii_case(k))
                })
            };
            match s.kind.as_str() {
                "KDF" => {
                    if !known(&[]) {
                        t.skip("KDF stanza with other keys");
                        continue;
                    }
                    kdfs += 1;
                    let (a, b) = (kdf_run(&inst.lc, &s), kdf_run(&def.lc, &s));
                    t.check(&s, "kdf", a, b, s.bin("Output").as_deref());
                }
                // The default provider's AES-SIV runs on AES-CTR and AES-CBC (CMAC)
                // fetched from the library context: ours under the installed config.
                "Cipher" if s.alg.to_ascii_uppercase().contains("SIV") => {
                    let (Ok(a), Ok(b)) = (
                        Cipher::fetch(Some(&inst.lc), &s.alg, None),
                        Cipher::fetch(Some(&def.lc), &s.alg, None),
                    ) else {
                        t.wrong.push(format!("{}: cannot fetch", s.at()));
                        continue;
                    };
                    sivs += 1;
                    // Each AAD update is one SIV header: no split AAD, no late tag.
                    let whole = VARIANTS.map(|v| Variant {
                        frag: false,
                        tag_late: false,
                        ..v
                    });
                    cipher_case(&mut t, &s, &a, &b, &whole);
                }
                "MAC" => {
                    let extra = [
                        "Algorithm",
                        "Key",
                        "Input",
                        "IV",
                        "Custom",
                        "Salt",
                        "OutputSize",
                        "BlockSize",
                        "XOF",
                        "NoReinit",
                    ];
                    if !known(&extra) {
                        t.skip("MAC stanza with other keys");
                        continue;
                    }
                    macs += 1;
                    for dup in [false, true] {
                        let (a, b) = (
                            mac_generic_run(&inst.lc, None, &s, dup),
                            mac_generic_run(&def.lc, None, &s, dup),
                        );
                        let what = if dup { "mac, copied" } else { "mac" };
                        t.check(&s, what, a, b, s.bin("Output").as_deref());
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!(
        "installed config: {kdfs} KDF, {macs} MAC and {sivs} AES-SIV stanzas; {} matched the \
         default provider with output, {} failed on both, skipped {:?}",
        t.matched, t.failed_both, t.skipped
    );
    t.report();
    assert!(t.wrong.is_empty(), "{}", t.wrong.join("\n"));
    // The installed-style context really ran ours underneath the default KDFs and MACs.
    let after = provider_counters(&inst._p[1]);
    let grew = |k: &str| after["provider"][k].as_u64() > before["provider"][k].as_u64();
    for k in [
        "hmac_ops",
        "digest_ops",
        "cbc_bytes",
        "ctr_bytes",
        "gcm_ops",
        "soft_ops",
    ] {
        assert!(grew(k), "{k} did not grow: {before} -> {after}");
    }
    eprintln!("installed config: provider counters {}", after["provider"]);
    assert!(t.matched > 0, "no KDF or MAC case ran");
}
