//! Ciphers, digests and HMAC against the openssl crate's default context, over
//! random sizes up to 1 MiB; argument validation; streaming ciphers.

mod common;

use common::data;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{self, Cipher};
use proptest::prelude::*;
use warpdrive_engines::{
    cbc, cbc_in_place, ctr, ctr_in_place, digest, gcm_open, gcm_seal, hmac, CipherMode,
    CipherStream, HashAlg, HashStream, Status,
};

const ALGS: [HashAlg; 5] = [
    HashAlg::Sha1,
    HashAlg::Sha224,
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
];

fn md(alg: HashAlg) -> MessageDigest {
    match alg {
        HashAlg::Sha1 => MessageDigest::sha1(),
        HashAlg::Sha224 => MessageDigest::sha224(),
        HashAlg::Sha256 => MessageDigest::sha256(),
        HashAlg::Sha384 => MessageDigest::sha384(),
        HashAlg::Sha512 => MessageDigest::sha512(),
    }
}

/// HMAC from OpenSSL's signer; for an empty key (which OpenSSL 3.0's
/// PKey::hmac refuses) from RFC 2104's definition over OpenSSL's hashes.
fn ref_hmac(alg: HashAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        let block = match alg {
            HashAlg::Sha384 | HashAlg::Sha512 => 128,
            _ => 64,
        };
        let pad = |b: u8| vec![b; block];
        let inner = openssl::hash::hash(md(alg), &[&pad(0x36)[..], msg].concat()).expect("inner");
        let outer =
            openssl::hash::hash(md(alg), &[&pad(0x5c)[..], &inner[..]].concat()).expect("outer");
        return outer.to_vec();
    }
    let pkey = PKey::hmac(key).expect("pkey");
    let mut signer = Signer::new(md(alg), &pkey).expect("signer");
    signer.update(msg).expect("update");
    signer.sign_to_vec().expect("sign")
}

fn ref_cipher(mode: CipherMode, klen: usize) -> Cipher {
    match (mode, klen) {
        (CipherMode::Gcm, 16) => Cipher::aes_128_gcm(),
        (CipherMode::Gcm, 24) => Cipher::aes_192_gcm(),
        (CipherMode::Gcm, _) => Cipher::aes_256_gcm(),
        (CipherMode::Ctr, 16) => Cipher::aes_128_ctr(),
        (CipherMode::Ctr, 24) => Cipher::aes_192_ctr(),
        (CipherMode::Ctr, _) => Cipher::aes_256_ctr(),
        (CipherMode::Cbc, 16) => Cipher::aes_128_cbc(),
        (CipherMode::Cbc, 24) => Cipher::aes_192_cbc(),
        (CipherMode::Cbc, _) => Cipher::aes_256_cbc(),
    }
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..=2048, 2 => 2048usize..=131_072, 1 => 131_072usize..=1_048_576]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn hashes_and_hmac_equal_openssl(len in size_strategy(), seed in any::<u64>(), klen in 0usize..300) {
        let msg = data(len, seed, 3);
        let key = data(klen, !seed, 0);
        for alg in ALGS {
            let mut out = [0u8; 64];
            let n = digest(alg, &msg, &mut out).expect("digest");
            let want = openssl::hash::hash(md(alg), &msg).expect("ref");
            prop_assert_eq!(&out[..n], &want[..]);

            let n = hmac(alg, &key, &msg, &mut out).expect("hmac");
            prop_assert_eq!(&out[..n], &ref_hmac(alg, &key, &msg)[..]);

            let mut s = HashStream::new(alg).expect("stream");
            for c in msg.chunks(1 + len / 3) { s.update(c).expect("update"); }
            let n = s.finish(&mut out).expect("finish");
            prop_assert_eq!(&out[..n], &openssl::hash::hash(md(alg), &msg).expect("ref")[..]);
        }
    }

    #[test]
    fn ciphers_equal_openssl(len in size_strategy(), seed in any::<u64>(), ki in 0usize..3, ivlen in 1usize..=64, split in any::<usize>()) {
        let klen = [16, 24, 32][ki];
        let msg = data(len, seed, 0);
        let key = data(klen, seed ^ 1, 0);
        let iv = data(ivlen, seed ^ 2, 0);
        let iv16 = data(16, seed ^ 3, 0);
        let aad = data(seed as usize % 100, seed ^ 4, 0);

        // GCM (any IV length 1..=64).
        let mut ct = vec![0u8; len];
        let mut tag = [0u8; 16];
        gcm_seal(&key, &iv, &aad, &msg, &mut ct, &mut tag).expect("seal");
        let mut rtag = [0u8; 16];
        let want = symm::encrypt_aead(ref_cipher(CipherMode::Gcm, klen), &key, Some(&iv), &aad, &msg, &mut rtag).expect("ref");
        prop_assert!(ct == want);
        prop_assert_eq!(tag, rtag);
        let mut pt = vec![0u8; len];
        gcm_open(&key, &iv, &aad, &ct, &mut pt, &tag).expect("open");
        prop_assert!(pt == msg);

        // CTR.
        let mut out = vec![0u8; len];
        ctr(&key, &iv16, &msg, &mut out).expect("ctr");
        let want = symm::encrypt(ref_cipher(CipherMode::Ctr, klen), &key, Some(&iv16), &msg).expect("ref");
        prop_assert!(out == want);
        let mut buf = msg.clone();
        ctr_in_place(&key, &iv16, &mut buf).expect("ctr in place");
        prop_assert!(buf == want);

        // CBC with padding, one-shot and streaming in two pieces.
        let mut out = vec![0u8; len + 16];
        let o = cbc(true, true, &key, &iv16, &msg, &mut out).expect("cbc");
        let want = symm::encrypt(ref_cipher(CipherMode::Cbc, klen), &key, Some(&iv16), &msg).expect("ref");
        prop_assert!(out[..o.produced] == want[..]);
        let mut back = vec![0u8; len + 16];
        let o2 = cbc(false, true, &key, &iv16, &out[..o.produced], &mut back).expect("dec");
        prop_assert!(back[..o2.produced] == msg[..]);

        let cut = if len == 0 { 0 } else { split % (len + 1) };
        for encrypt in [true, false] {
            let input: &[u8] = if encrypt { &msg } else { &want };
            let mut s = CipherStream::new(CipherMode::Cbc, encrypt, true, &key, &iv16).expect("stream");
            let mut got = vec![0u8; input.len() + 32];
            let c = cut.min(input.len());
            let a = s.update(&input[..c], &mut got).expect("u1");
            let b = s.update(&input[c..], &mut got[a..]).expect("u2");
            let f = s.finish(&mut got[a + b..]).expect("finish");
            let expect: &[u8] = if encrypt { &want } else { &msg };
            prop_assert!(got[..a + b + f] == expect[..], "encrypt {}", encrypt);
        }

        // CBC without padding on whole blocks, in place.
        let whole = len / 16 * 16;
        let mut buf = msg[..whole].to_vec();
        let o = cbc_in_place(true, false, &key, &iv16, &mut buf, whole).expect("nopad");
        let mut c = openssl::symm::Crypter::new(ref_cipher(CipherMode::Cbc, klen), symm::Mode::Encrypt, &key, Some(&iv16)).expect("crypter");
        c.pad(false);
        let mut r = vec![0u8; whole + 16];
        let mut n = c.update(&msg[..whole], &mut r).expect("u");
        n += c.finalize(&mut r[n..]).expect("f");
        prop_assert_eq!(o.produced, n);
        prop_assert!(buf[..] == r[..n]);
    }
}

#[test]
fn validation() {
    let k = [7u8; 16];
    let iv = [1u8; 12];
    let mut tag = [0u8; 16];
    let mut out = [0u8; 64];
    for bad in [0usize, 15, 17, 31, 33] {
        let key = vec![0u8; bad];
        assert_eq!(
            gcm_seal(&key, &iv, b"", b"x", &mut out, &mut tag),
            Err(Status::InvalidLength)
        );
        assert_eq!(
            ctr(&key, &[0; 16], b"x", &mut out),
            Err(Status::InvalidLength)
        );
        assert_eq!(
            cbc(true, true, &key, &[0; 16], b"x", &mut out),
            Err(Status::InvalidLength)
        );
    }
    assert_eq!(
        gcm_seal(&k, &[], b"", b"x", &mut out, &mut tag),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        gcm_seal(&k, &[0; 65], b"", b"x", &mut out, &mut tag),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        gcm_seal(&k, &iv, b"", b"x", &mut out, &mut tag[..3]),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        gcm_seal(&k, &iv, b"", b"x", &mut out, &mut [0u8; 17]),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        ctr(&k, &[0; 12], b"x", &mut out),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        cbc(true, true, &k, &[0; 8], b"x", &mut out),
        Err(Status::InvalidLength)
    );
    // Output too small: exact needs, nothing written past dst.
    let mut guard = [0x5Au8; 80];
    assert_eq!(
        gcm_seal(&k, &iv, b"", &[1u8; 64], &mut guard[..63], &mut tag),
        Err(Status::DstTooSmall { needed: 64 })
    );
    assert_eq!(
        cbc(true, true, &k, &[0; 16], &[1u8; 32], &mut guard[..47]),
        Err(Status::DstTooSmall { needed: 48 })
    );
    assert!(guard.iter().all(|&b| b == 0x5A));
    assert_eq!(
        cbc(true, false, &k, &[0; 16], &[1u8; 17], &mut out),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        cbc(false, true, &k, &[0; 16], &[1u8; 17], &mut out),
        Err(Status::InvalidLength)
    );
    assert_eq!(
        cbc(false, true, &k, &[0; 16], &[], &mut out),
        Err(Status::InvalidLength)
    );
    let mut buf = [0u8; 40];
    assert_eq!(
        cbc_in_place(true, true, &k, &[0; 16], &mut buf, 32),
        Err(Status::DstTooSmall { needed: 48 })
    );
    // Tag mismatch wipes the output.
    let mut ct = [0u8; 32];
    gcm_seal(&k, &iv, b"aad", &[9u8; 32], &mut ct, &mut tag).expect("seal");
    let mut pt = [0xEEu8; 32];
    let mut bad = tag;
    bad[15] ^= 1;
    assert_eq!(
        gcm_open(&k, &iv, b"aad", &ct, &mut pt, &bad),
        Err(Status::AuthFailed)
    );
    assert_eq!(pt, [0u8; 32]);
    assert_eq!(
        gcm_open(&k, &iv, b"aaD", &ct, &mut pt, &tag),
        Err(Status::AuthFailed)
    );
    gcm_open(&k, &iv, b"aad", &ct, &mut pt, &tag).expect("still works after failures");
    assert_eq!(pt, [9u8; 32]);
    // Digests.
    assert_eq!(
        digest(HashAlg::Sha256, b"", &mut [0u8; 31]),
        Err(Status::DstTooSmall { needed: 32 })
    );
    let mut s = HashStream::new(HashAlg::Sha1).expect("new");
    s.finish(&mut [0u8; 20]).expect("finish");
    assert_eq!(s.update(b"x"), Err(Status::BadStream));
    assert_eq!(Status::DstTooSmall { needed: 9 }.code(), 5);
    assert_eq!(Status::AuthFailed.code(), 8);
}

#[test]
fn cipher_streams() {
    let key = [3u8; 32];
    let iv = [4u8; 16];
    let msg = data(1000, 9, 1);
    // CBC decrypt holds back the last block; DstTooSmall is exact and retryable.
    let mut ct = vec![0u8; 1024];
    let n = cbc(true, true, &key, &iv, &msg, &mut ct)
        .expect("enc")
        .produced;
    let mut s = CipherStream::new(CipherMode::Cbc, false, true, &key, &iv).expect("new");
    assert_eq!(s.update_len(n), n - 16);
    let mut out = vec![0u8; n];
    assert_eq!(
        s.update(&ct[..n], &mut out[..10]),
        Err(Status::DstTooSmall { needed: n - 16 })
    );
    let a = s.update(&ct[..n], &mut out).expect("update");
    assert_eq!(a, n - 16);
    assert_eq!(
        s.finish(&mut out[a..a + 2]),
        Err(Status::DstTooSmall { needed: 1000 - a })
    );
    let f = s.finish(&mut out[a..]).expect("finish");
    assert_eq!(&out[..a + f], &msg[..]);
    assert_eq!(s.finish(&mut out), Err(Status::BadStream));
    // Bad padding at the end of a stream.
    let mut s = CipherStream::new(CipherMode::Cbc, false, true, &key, &iv).expect("new");
    let mut tampered = ct[..n].to_vec();
    tampered[n - 17] ^= 0x55; // changes the last plaintext block's pad bytes
    s.update(&tampered, &mut out).expect("update");
    assert_eq!(s.finish(&mut out), Err(Status::DataError));
    // CTR streaming byte by byte equals one-shot; clone mid-stream.
    let mut s = CipherStream::new(CipherMode::Ctr, true, false, &key, &iv).expect("new");
    let mut got = vec![0u8; msg.len()];
    for i in 0..500 {
        s.update(&msg[i..i + 1], &mut got[i..i + 1]).expect("u");
    }
    let mut c = s.clone();
    c.update(&msg[500..], &mut got[500..]).expect("u");
    let mut want = vec![0u8; msg.len()];
    ctr(&key, &iv, &msg, &mut want).expect("ctr");
    assert_eq!(got, want);
    // CBC in place with a partial block pending goes through the copy path.
    let mut s = CipherStream::new(CipherMode::Cbc, true, true, &key, &iv).expect("new");
    let mut buf = msg[..20].to_vec();
    let a = s.update_in_place(&mut buf, 20).expect("u");
    assert_eq!(a, 16);
    let mut buf2 = msg[20..60].to_vec();
    buf2.resize(64, 0);
    let b = s.update_in_place(&mut buf2, 40).expect("u");
    assert_eq!(b, 32);
    let mut tail = [0u8; 16];
    let f = s.finish(&mut tail).expect("f");
    let mut all = buf[..a].to_vec();
    all.extend_from_slice(&buf2[..b]);
    all.extend_from_slice(&tail[..f]);
    let mut want = vec![0u8; 64];
    let n = cbc(true, true, &key, &iv, &msg[..60], &mut want)
        .expect("ref")
        .produced;
    assert_eq!(all, want[..n]);
    // GCM: tag only after finish; AAD only before data.
    let mut s = CipherStream::new(CipherMode::Gcm, true, false, &key, &[0u8; 12]).expect("new");
    s.update(b"abc", &mut [0u8; 3]).expect("u");
    assert_eq!(s.set_aad(b"late"), Err(Status::BadStream));
    assert_eq!(s.tag(&mut [0u8; 16]), Err(Status::BadStream));
    s.finish(&mut []).expect("finish");
    s.tag(&mut [0u8; 16]).expect("tag");
    let mut d = CipherStream::new(CipherMode::Gcm, false, false, &key, &[0u8; 12]).expect("new");
    assert_eq!(
        d.finish(&mut []),
        Err(Status::BadStream),
        "no expected tag set"
    );
}

#[test]
fn restart_starts_a_fresh_message_equal_to_a_new_stream() {
    use warpdrive_engines::{CipherMode, CipherStream};
    let key = [9u8; 32];
    let msg = b"restart must give exactly what a new stream gives".repeat(7);
    let seal = |s: &mut CipherStream, aad: &[u8]| {
        s.set_aad(aad).unwrap();
        let mut out = vec![0u8; msg.len() + 16];
        let n = s.update(&msg, &mut out).unwrap();
        let m = s.finish(&mut out[n..]).unwrap();
        let mut tag = [0u8; 16];
        s.tag(&mut tag).unwrap();
        out.truncate(n + m);
        (out, tag)
    };
    let mut reused = CipherStream::new(CipherMode::Gcm, true, false, &key, &[1; 12]).unwrap();
    let first = seal(&mut reused, b"a");
    for (i, iv) in [[2u8; 12].to_vec(), [3u8; 16].to_vec(), [4u8; 12].to_vec()]
        .iter()
        .enumerate()
    {
        let new_key = if i == 2 { Some(&[5u8; 16][..]) } else { None };
        reused.restart(new_key, iv).unwrap();
        let k: &[u8] = new_key.unwrap_or(&key);
        let mut fresh = CipherStream::new(CipherMode::Gcm, true, false, k, iv).unwrap();
        assert_eq!(
            seal(&mut reused, b"aad"),
            seal(&mut fresh, b"aad"),
            "restart {i} differs from a new stream"
        );
    }
    let mut again = CipherStream::new(CipherMode::Gcm, true, false, &key, &[1; 12]).unwrap();
    assert_eq!(seal(&mut again, b"a"), first);
    // CBC: a restart drops any partial block held from the last message.
    let mut cbc = CipherStream::new(CipherMode::Cbc, true, true, &key[..16], &[0; 16]).unwrap();
    let mut out = [0u8; 64];
    cbc.update(b"partial", &mut out).unwrap();
    cbc.restart(None, &[1; 16]).unwrap();
    let n = cbc.update(&[7u8; 16], &mut out).unwrap();
    let m = cbc.finish(&mut out[n..]).unwrap();
    let mut fresh = CipherStream::new(CipherMode::Cbc, true, true, &key[..16], &[1; 16]).unwrap();
    let mut out2 = [0u8; 64];
    let n2 = fresh.update(&[7u8; 16], &mut out2).unwrap();
    let m2 = fresh.finish(&mut out2[n2..]).unwrap();
    assert_eq!(out[..n + m], out2[..n2 + m2]);
    assert!(
        cbc.restart(None, &[0; 8]).is_err(),
        "a bad IV length is refused"
    );
}
