//! Differential test of modsign's variable-time RSA PKCS#1 v1.5 verifier
//! (`modsign::rsa_verify`) against the rsa crate's `PublicKey::verify`, which it
//! replaced in `check_signature`: for RSA-2048/3072/4096 keys made by openssl (also
//! a 2048-bit key with e = 3 and a 2504-bit one), valid signatures over random
//! messages with every hash, every single-bit flip of a signature, wrong lengths,
//! edge values of s, and hand-made encodings that are almost right (short padding,
//! wrong block type, wrong OID, trailing or missing bytes), raw-signed with the
//! private key. Both must give the same answer for every input.

use std::path::Path;
use std::process::Command;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::Odd;
use modsign::rsa_verify::{montgomery_constants, verify_pkcs1v15, RsaPublicKey};
use modsign::{rsa_key, HashAlgo};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey, PublicKey};
use sha2::Digest;

const HASHES: [HashAlgo; 3] = [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512];

/// A private key from `openssl genpkey`, or None (test skipped, said so) when
/// openssl is not installed.
fn openssl_key(dir: &Path, bits: u32, e: u32) -> Option<PrivateKey> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl not found (Debian package openssl)");
        return None;
    }
    let out = dir.join(format!("rsa{bits}-e{e}.der"));
    let run = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-outform", "DER", "-out"])
        .arg(&out)
        .args(["-pkeyopt", &format!("rsa_keygen_bits:{bits}")])
        .args(["-pkeyopt", &format!("rsa_keygen_pubexp:{e}")])
        .output()
        .expect("openssl genpkey");
    assert!(
        run.status.success(),
        "openssl genpkey {bits} {e}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let der = std::fs::read(&out).unwrap();
    // OpenSSL writes PKCS#8, or (some versions, to DER) PKCS#1's RSAPrivateKey.
    let key = PrivateKey::from_pkcs8_der(&der)
        .or_else(|_| PrivateKey::from_pkcs1_der(&der))
        .expect("RSA private key from openssl");
    Some(key)
}

fn digest(hash: HashAlgo, msg: &[u8]) -> Vec<u8> {
    match hash {
        HashAlgo::Sha256 => sha2::Sha256::digest(msg).to_vec(),
        HashAlgo::Sha384 => sha2::Sha384::digest(msg).to_vec(),
        HashAlgo::Sha512 => sha2::Sha512::digest(msg).to_vec(),
    }
}

fn scheme(hash: HashAlgo) -> Pkcs1v15Sign {
    match hash {
        HashAlgo::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlgo::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlgo::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

/// The reference: what `check_signature` used to do.
fn reference(key: &PublicKey, hash: HashAlgo, digest: &[u8], sig: &[u8]) -> bool {
    key.verify(scheme(hash), digest, sig).is_ok()
}

/// Both verifiers on one input; they must agree. Returns the answer.
fn agree(key: &PublicKey, hash: HashAlgo, digest: &[u8], sig: &[u8], what: &str) -> bool {
    let precomputed = ours(key);
    let ours = verify_pkcs1v15(&precomputed, hash, digest, sig);
    let theirs = reference(key, hash, digest, sig);
    assert_eq!(
        ours,
        theirs,
        "rsa{} {}: {what}: rsa_verify says {ours}, the rsa crate {theirs}",
        key.size() * 8,
        hash.name()
    );
    ours
}

/// modsign's key for the rsa crate's: through its PKCS#1 DER and `rsa_key`.
fn ours(key: &PublicKey) -> RsaPublicKey {
    let der = key.to_pkcs1_der().expect("RSAPublicKey DER");
    let parsed = rsa_key::parse(der.as_bytes()).expect("rsa_key::parse");
    RsaPublicKey::new(parsed).expect("an RSA key")
}

/// The rsa crate's key for modsign's.
fn theirs(key: &RsaPublicKey) -> PublicKey {
    let uint = |b: &[u8]| BoxedUint::from_be_slice(b, (b.len() * 8) as u32).unwrap();
    PublicKey::new(uint(key.modulus()), uint(key.exponent())).expect("the rsa crate's key")
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Raw RSA with the private key: EM^d mod n as k bytes (EM < n).
fn raw_sign(key: &PrivateKey, em: &[u8]) -> Vec<u8> {
    let params = key.n_params();
    let m = BoxedUint::from_be_slice(em, params.bits_precision()).unwrap();
    let s = BoxedMontyForm::new(m, params).pow(key.d()).retrieve();
    let bytes = s.to_be_bytes();
    bytes[bytes.len() - key.size()..].to_vec()
}

fn digest_info(hash: HashAlgo) -> Vec<u8> {
    let (len, id) = match hash {
        HashAlgo::Sha256 => (0x31, 1),
        HashAlgo::Sha384 => (0x41, 2),
        HashAlgo::Sha512 => (0x51, 3),
    };
    vec![
        0x30,
        len,
        0x30,
        0x0d,
        0x06,
        0x09,
        0x60,
        0x86,
        0x48,
        0x01,
        0x65,
        0x03,
        0x04,
        0x02,
        id,
        0x05,
        0x00,
        0x04,
        (len - 0x11),
    ]
}

/// `00 01 FF.. 00 T` with `ps` bytes of padding, left-filled with zeros to k.
fn encode(k: usize, ps: usize, t: &[u8]) -> Vec<u8> {
    let mut em = vec![0x00, 0x01];
    em.extend(std::iter::repeat_n(0xff, ps));
    em.push(0x00);
    em.extend_from_slice(t);
    let mut out = vec![0u8; k.saturating_sub(em.len())];
    out.extend(em);
    out
}

fn check_key(key: &PrivateKey, rng: &mut Rng, messages: usize, flips: bool) {
    let public = key.to_public_key();
    let k = public.size();

    // Valid signatures over random messages, each hash; then the same signature
    // against another message and against another hash.
    let mut first = None;
    for i in 0..messages {
        let hash = HASHES[i % 3];
        let len = 1 + (rng.next() % 300) as usize;
        let msg = rng.bytes(len);
        let d = digest(hash, &msg);
        let sig = key.sign(scheme(hash), &d).expect("rsa sign");
        assert!(agree(&public, hash, &d, &sig, "valid signature"));
        let other = digest(hash, &rng.bytes(17));
        assert!(!agree(&public, hash, &other, &sig, "other message"));
        let wrong_hash = HASHES[(i + 1) % 3];
        let d2 = digest(wrong_hash, &msg);
        assert!(!agree(&public, wrong_hash, &d2, &sig, "other hash"));
        // A digest of the wrong length for the hash.
        assert!(!agree(
            &public,
            hash,
            &d[..d.len() - 1],
            &sig,
            "short digest"
        ));
        first.get_or_insert((hash, d, sig));
    }
    let (hash, d, sig) = first.unwrap();

    // Every single-bit flip of one valid signature.
    if flips {
        for bit in 0..k * 8 {
            let mut s = sig.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            assert!(!agree(&public, hash, &d, &s, &format!("bit {bit} flipped")));
        }
    }

    // Lengths other than k, with and without leading zeros.
    let mut longer = vec![0u8];
    longer.extend_from_slice(&sig);
    for (what, s) in [
        ("empty", Vec::new()),
        ("one byte short", sig[1..].to_vec()),
        ("leading zero added", longer),
        ("one byte added", [sig.as_slice(), &[0]].concat()),
    ] {
        assert!(!agree(&public, hash, &d, &s, what));
    }

    // Edge values of s: 0, 1, n - 1, n, n + 1, all ones, random.
    let n = public.n().to_be_bytes();
    let n = n[n.len() - k..].to_vec();
    let add = |delta: i64| {
        let mut x = n.clone();
        let mut carry = delta;
        for b in x.iter_mut().rev() {
            let v = i64::from(*b) + carry;
            *b = v.rem_euclid(256) as u8;
            carry = v.div_euclid(256);
        }
        x
    };
    let mut one = vec![0u8; k];
    one[k - 1] = 1;
    for (what, s) in [
        ("s = 0", vec![0u8; k]),
        ("s = 1", one),
        ("s = n - 1", add(-1)),
        ("s = n", n.clone()),
        ("s = n + 1", add(1)),
        ("s = all ones", vec![0xff; k]),
        ("s random", rng.bytes(k)),
    ] {
        agree(&public, hash, &d, &s, what);
    }

    // Encodings that are almost right, raw-signed: each verifier must reach
    // the same verdict on the decrypted EM.
    for hash in HASHES {
        let d = digest(hash, &rng.bytes(40));
        let mut t = digest_info(hash);
        t.extend_from_slice(&d);
        let good_ps = k - 3 - t.len();
        let sign = |em: &[u8]| raw_sign(key, em);
        let em = encode(k, good_ps, &t);
        assert!(agree(
            &public,
            hash,
            &d,
            &sign(&em),
            "hand-made valid encoding"
        ));
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        // Shorter padding with the encoding right-aligned: a leading 00 byte
        // short, then bytes that must be 0xff.
        cases.push(("PS one byte short", encode(k, good_ps - 1, &t)));
        cases.push(("PS of 7 bytes", encode(k, 7, &t)));
        for (i, v) in [
            (0usize, 0x01u8),
            (1, 0x02),
            (1, 0x00),
            (2, 0xfe),
            (good_ps + 1, 0xfe),
        ] {
            let mut e = em.clone();
            e[i] = v;
            cases.push(("one byte changed in the header or padding", e));
        }
        for i in 0..t.len() {
            let mut e = em.clone();
            e[k - t.len() + i] ^= 0x01;
            cases.push(("one bit of DigestInfo or digest", e));
        }
        // Padding eaten by a longer T (trailing garbage), or T shorter.
        let mut t_long = t.clone();
        t_long.push(0);
        cases.push(("trailing byte", encode(k, good_ps - 1, &t_long)));
        cases.push(("missing byte", encode(k, good_ps + 1, &t[..t.len() - 1])));
        // Another hash's DigestInfo with this digest length.
        let other = HASHES.iter().find(|&&h| h != hash).unwrap();
        let mut t_other = digest_info(*other);
        t_other.extend_from_slice(&d);
        cases.push(("other hash's DigestInfo", encode(k, good_ps, &t_other)));
        for (what, em) in cases {
            assert_eq!(em.len(), k, "{what}");
            assert!(!agree(&public, hash, &d, &sign(&em), what));
        }
    }
}

#[test]
fn rsa_verify_agrees_with_the_rsa_crate() {
    let dir = std::env::temp_dir().join(format!("modsign-rsa-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 2504 bits: a modulus of 313 bytes, not whole limbs, well below R.
    let keys = [
        (2048, 65537, 60),
        (2048, 3, 12),
        (2504, 65537, 12),
        (3072, 65537, 30),
        (4096, 65537, 30),
    ];
    for (bits, e, messages) in keys {
        let Some(key) = openssl_key(&dir, bits, e) else {
            return;
        };
        assert_eq!(key.size() * 8, bits as usize);
        // 2048, 3072 and 4096 bits compare s^e R^(1-e) without the last
        // product (the shortcut); 2504 takes the general path: both checked.
        let precomputed = ours(&key.to_public_key());
        // Reading the key computes no products; the first verification
        // (here `has_shortcut`) does, once.
        assert!(!precomputed.is_derived(), "{bits} bits");
        assert_eq!(precomputed.has_shortcut(), bits != 2504, "{bits} bits");
        assert!(precomputed.is_derived(), "{bits} bits");
        check_key(&key, &mut rng, messages, e == 65537);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fuzz corpus's RSA seeds verify by the new path exactly as by the old.
#[test]
fn the_fuzz_certificate_key_agrees_on_random_signatures() {
    let cert = modsign::TrustedCert::from_der(include_bytes!("../fuzz/certs/rsa2048.der")).unwrap();
    let modsign::PublicKey::Rsa(key) = cert.key() else {
        panic!("rsa2048.der holds no RSA key")
    };
    let key = theirs(key);
    let mut rng = Rng(7);
    for hash in HASHES {
        let d = digest(hash, b"module");
        for _ in 0..50 {
            let s = rng.bytes(key.size());
            agree(&key, hash, &d, &s, "random signature");
        }
    }
}

/// Big-endian bytes to little-endian u64 limbs, `ceil(len / 8)` of them.
fn limbs(be: &[u8]) -> Vec<u64> {
    be.rchunks(8)
        .map(|c| c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        .collect()
}

/// Our `R^2 mod n` and `-n^-1 mod 2^64` equal crypto-bigint's (the rsa
/// crate's `n_params`, with `R = 2^(64 L)` too) for the modulus `n` (big-endian).
fn check_constants(n: &[u8], what: &str) {
    let bits = (n.len() * 8) as u32;
    let modulus = Odd::new(BoxedUint::from_be_slice(n, bits).unwrap()).unwrap();
    let params = BoxedMontyParams::new(modulus);
    let params: &crypto_bigint::modular::MontyParams<BoxedUint> = params.as_ref();
    let (r2, n_neg_inv) = montgomery_constants(&limbs(n)).expect("an odd modulus");
    assert_eq!(r2.as_slice(), params.r2().as_words(), "R^2 mod n, {what}");
    assert_eq!(n_neg_inv, params.mod_neg_inv().0, "-n^-1 mod 2^64, {what}");
}

#[test]
fn montgomery_constants_agree_with_crypto_bigint_for_random_moduli() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for bits in [2048usize, 2504, 3072, 4096] {
        for round in 0..8 {
            let mut n = rng.bytes(bits / 8);
            n[0] |= 0x80;
            // Top bytes of one bit and all ones: carries and the reduction.
            match round {
                0 => n[0] = 0x80,
                1 => n[..8].fill(0xff),
                _ => {}
            }
            *n.last_mut().unwrap() |= 1;
            check_constants(&n, &format!("random {bits}-bit modulus {round}"));
        }
        // One bit short of the nominal size: the same limbs, R unchanged.
        let mut n = rng.bytes(bits / 8);
        n[0] = 0x40 | (n[0] & 0x3f);
        *n.last_mut().unwrap() |= 1;
        check_constants(&n, &format!("random {}-bit modulus", bits - 1));
    }
}

/// The RSA keys of build/test-keys and build/signing_key.pem (made by `make`;
/// skipped, said so, when absent) and the fuzz corpus's certificate.
#[test]
fn montgomery_constants_agree_with_crypto_bigint_for_the_test_keys() {
    let cert = modsign::TrustedCert::from_der(include_bytes!("../fuzz/certs/rsa2048.der")).unwrap();
    let modsign::PublicKey::Rsa(key) = cert.key() else {
        panic!("rsa2048.der holds no RSA key")
    };
    check_constants(key.modulus(), "fuzz/certs/rsa2048.der");
    let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build");
    for name in ["test-keys/rsa4096.pem", "signing_key.pem"] {
        let path = build.join(name);
        let Ok(pem) = std::fs::read_to_string(&path) else {
            eprintln!("SKIPPED: {} not found (make builds it)", path.display());
            continue;
        };
        // The private key's PEM block (the file holds the certificate too).
        let block = |label: &str| {
            let (begin, end) = (
                format!("-----BEGIN {label}-----"),
                format!("-----END {label}-----"),
            );
            let start = pem.find(&begin)?;
            let stop = pem[start..].find(&end)? + start + end.len();
            Some(pem[start..stop].to_string())
        };
        let key = match (block("PRIVATE KEY"), block("RSA PRIVATE KEY")) {
            (Some(pkcs8), _) => PrivateKey::from_pkcs8_pem(&pkcs8).ok(),
            (None, Some(pkcs1)) => PrivateKey::from_pkcs1_pem(&pkcs1).ok(),
            (None, None) => None,
        }
        .unwrap_or_else(|| panic!("{name}: no RSA private key"));
        let public = key.to_public_key();
        check_constants(&public.n_bytes(), name);
        let ours = ours(&public);
        assert_eq!(ours.modulus(), &*public.n_bytes(), "{name}");
        assert_eq!(ours.exponent(), &*public.e_bytes(), "{name}");
        assert_eq!(ours.size(), public.size(), "{name}");
    }
}

/// `rsa_key::parse` accepts exactly what the rsa crate's `from_pkcs1_der`
/// did, within the crate's size limits (1024 to 8192 bits), on every
/// truncation, byte appended, and single-byte change of the first bytes and
/// the exponent of real keys; and never panics.
#[test]
fn rsa_key_parse_agrees_with_the_rsa_crate_on_mutated_keys() {
    let cert = modsign::TrustedCert::from_der(include_bytes!("../fuzz/certs/rsa2048.der")).unwrap();
    let modsign::PublicKey::Rsa(key) = cert.key() else {
        panic!("rsa2048.der holds no RSA key")
    };
    let der = theirs(key).to_pkcs1_der().unwrap().as_bytes().to_vec();
    let same = |d: &[u8], what: &str| {
        let ours = rsa_key::parse(d);
        let theirs = PublicKey::from_pkcs1_der(d);
        assert_eq!(
            ours.is_ok(),
            theirs.is_ok(),
            "{what}: rsa_key {ours:?}, the rsa crate {:?}",
            theirs.err()
        );
    };
    same(&der, "the key");
    for len in 0..der.len() {
        same(&der[..len], &format!("truncated to {len}"));
    }
    for extra in [0u8, 0xff] {
        same(&[der.as_slice(), &[extra]].concat(), "a byte appended");
    }
    // The SEQUENCE and modulus headers (and the modulus's first bytes), and
    // the exponent with its header.
    let positions = (0..12).chain(der.len() - 6..der.len());
    for i in positions {
        for v in [0x00u8, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0x82, 0xfe, 0xff] {
            let mut d = der.clone();
            if d[i] == v {
                continue;
            }
            d[i] = v;
            same(&d, &format!("byte {i} set to {v:#04x}"));
        }
    }
    // Exponents: 0, 1, 2, 3, even, negative, 2^33 - 1, 2^33, with the modulus.
    let n = key.modulus();
    for e in [
        &[0x00][..],
        &[0x01],
        &[0x02],
        &[0x03],
        &[0x01, 0x00, 0x00],
        &[0x81],
        &[0x01, 0xff, 0xff, 0xff, 0xff],
        &[0x02, 0x00, 0x00, 0x00, 0x00],
    ] {
        let mut body = vec![0x02, 0x82, 0x01, 0x01, 0x00];
        body.extend_from_slice(n);
        body.push(0x02);
        body.push(e.len() as u8);
        body.extend_from_slice(e);
        let mut d = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        d.extend(body);
        same(&d, &format!("exponent {e:02x?}"));
    }
}
