//! Differential test of modsign's variable-time ECDSA P-384 verifier
//! (`modsign::p384_verify`) against the p384 crate's `DerSignature::from_bytes`
//! and `VerifyingKey::verify_prehash`, which it replaced in `check_signature`.
//! Keys, messages and the choice of mutation come from a fixed-seed generator
//! (SplitMix64), so a failure replays. Signatures are the crate's own
//! (RFC 6979) over SHA-256, SHA-384 and SHA-512 digests; each is checked as
//! made and with r, s, the digest, the key or the DER bytes corrupted, and
//! with r and s at the edges (0, 1, n-1, n, n+1, 2^384-1). Both verifiers
//! must give the same answer, of three (verifies, malformed DER, rejected),
//! for every input; valid signatures must verify.

use modsign::p384_verify::{verify_prehash, EcdsaError, KeyError, P384Key};
use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use sha2::Digest;

/// n, big-endian (FIPS 186-4 D.1.2.4).
const N: [u8; 48] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
];

/// SplitMix64: small, deterministic, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Verdict {
    Verifies,
    Malformed,
    Rejected,
}

fn crate_verdict(key: &VerifyingKey, digest: &[u8], der: &[u8]) -> Verdict {
    match DerSignature::from_bytes(der) {
        Err(_) => Verdict::Malformed,
        Ok(sig) => match key.verify_prehash(digest, &sig) {
            Ok(()) => Verdict::Verifies,
            Err(_) => Verdict::Rejected,
        },
    }
}

fn our_verdict(key: &P384Key, digest: &[u8], der: &[u8]) -> Verdict {
    match verify_prehash(key, digest, der) {
        Ok(()) => Verdict::Verifies,
        Err(EcdsaError::MalformedSignature) => Verdict::Malformed,
        Err(EcdsaError::Rejected) => Verdict::Rejected,
    }
}

/// Both verifiers' answer, which must agree; returns it.
fn same_verdict(
    what: &str,
    theirs: &VerifyingKey,
    ours: &P384Key,
    digest: &[u8],
    der: &[u8],
) -> Verdict {
    let expected = crate_verdict(theirs, digest, der);
    let got = our_verdict(ours, digest, der);
    assert_eq!(
        got,
        expected,
        "{what}: key {:02x?} digest {digest:02x?} signature {der:02x?}",
        theirs.to_sec1_point(false).as_bytes()
    );
    got
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of two 48-byte big-endian values,
/// minimally encoded (r and s need not be below n).
fn der_signature(r: &[u8; 48], s: &[u8; 48]) -> Vec<u8> {
    let integer = |v: &[u8; 48]| {
        let first = v.iter().position(|&b| b != 0).unwrap_or(47);
        let mut out = vec![0x02];
        let body = &v[first..];
        if body[0] >= 0x80 {
            out.push(body.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(body.len() as u8);
        }
        out.extend_from_slice(body);
        out
    };
    let (r, s) = (integer(r), integer(s));
    let mut out = vec![0x30, (r.len() + s.len()) as u8];
    out.extend(r);
    out.extend(s);
    out
}

/// `a + delta` (mod 2^384), big-endian, delta small.
fn add_small(a: &[u8; 48], delta: i64) -> [u8; 48] {
    let mut out = *a;
    let mut carry = delta as i128;
    for b in out.iter_mut().rev() {
        let t = *b as i128 + carry;
        *b = t.rem_euclid(256) as u8;
        carry = t.div_euclid(256);
    }
    out
}

fn digest_of(rng: &mut Rng, message: &[u8]) -> Vec<u8> {
    match rng.below(3) {
        0 => sha2::Sha256::digest(message).to_vec(),
        1 => sha2::Sha384::digest(message).to_vec(),
        _ => sha2::Sha512::digest(message).to_vec(),
    }
}

fn signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        if let Ok(k) = SigningKey::from_slice(&rng.bytes(48)) {
            return k;
        }
    }
}

/// Our key from the crate's, through SEC1 (uncompressed or compressed).
fn our_key(key: &VerifyingKey, compressed: bool) -> P384Key {
    P384Key::from_sec1(key.to_sec1_point(compressed).as_bytes()).expect("the crate's key")
}

#[test]
fn valid_and_corrupted_signatures_get_the_crates_answer() {
    let mut rng = Rng(0x5EED_0384);
    let edges: [[u8; 48]; 6] = [
        [0; 48],
        add_small(&[0; 48], 1),
        add_small(&N, -1),
        N,
        add_small(&N, 1),
        [0xff; 48],
    ];
    let mut signatures = 0;
    let mut previous: Option<(VerifyingKey, P384Key)> = None;
    for k in 0..150 {
        let sk = signing_key(&mut rng);
        let vk = *sk.verifying_key();
        let ours = our_key(&vk, k % 2 == 1);
        assert_eq!(
            ours,
            our_key(&vk, k % 2 == 0),
            "compressed and uncompressed"
        );
        for _ in 0..8 {
            let len = rng.below(200);
            let message = rng.bytes(len);
            let digest = digest_of(&mut rng, &message);
            let sig: Signature = sk.sign_prehash(&digest).expect("sign");
            let der = sig.to_der();
            let der = der.as_bytes();
            signatures += 1;
            assert_eq!(
                same_verdict("valid", &vk, &ours, &digest, der),
                Verdict::Verifies
            );
            let (r, s) = sig.split_bytes();
            let (r, s): ([u8; 48], [u8; 48]) = (r.into(), s.into());

            // The same signature with s negated also verifies (no low-s rule).
            let minus_s = {
                let mut out = [0u8; 48];
                let mut borrow = 0i16;
                for i in (0..48).rev() {
                    let t = N[i] as i16 - s[i] as i16 - borrow;
                    out[i] = t.rem_euclid(256) as u8;
                    borrow = (t < 0) as i16;
                }
                out
            };
            same_verdict("n - s", &vk, &ours, &digest, &der_signature(&r, &minus_s));

            let mut flipped = digest.clone();
            let bit = rng.below(flipped.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            same_verdict("digest bit flipped", &vk, &ours, &flipped, der);

            for which in 0..2 {
                let (mut r2, mut s2) = (r, s);
                let target = if which == 0 { &mut r2 } else { &mut s2 };
                let bit = rng.below(384);
                target[bit / 8] ^= 1 << (bit % 8);
                same_verdict(
                    "r or s bit flipped",
                    &vk,
                    &ours,
                    &digest,
                    &der_signature(&r2, &s2),
                );
            }

            let edge = &edges[rng.below(edges.len())];
            same_verdict(
                "r at an edge",
                &vk,
                &ours,
                &digest,
                &der_signature(edge, &s),
            );
            same_verdict(
                "s at an edge",
                &vk,
                &ours,
                &digest,
                &der_signature(&r, edge),
            );

            let mut bytes = der.to_vec();
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
            same_verdict("DER bit flipped", &vk, &ours, &digest, &bytes);
            let cut = rng.below(der.len());
            same_verdict("DER truncated", &vk, &ours, &digest, &der[..cut]);
            let mut longer = der.to_vec();
            longer.push(rng.next() as u8);
            same_verdict("DER with a trailing byte", &vk, &ours, &digest, &longer);

            // Digests of other lengths: any prefix (bits2int of a short one).
            let short = &digest[..rng.below(digest.len() + 1)];
            same_verdict("short digest", &vk, &ours, short, der);

            if let Some((other_vk, other)) = &previous {
                assert_eq!(
                    same_verdict("another key", other_vk, other, &digest, der),
                    Verdict::Rejected
                );
            }
        }
        previous = Some((vk, ours));
    }
    assert_eq!(signatures, 1200);
}

#[test]
fn every_edge_pair_of_r_and_s_gets_the_crates_answer() {
    let mut rng = Rng(7);
    let sk = signing_key(&mut rng);
    let vk = *sk.verifying_key();
    let ours = our_key(&vk, false);
    let digest = sha2::Sha256::digest(b"edges").to_vec();
    let edges: Vec<[u8; 48]> = vec![
        [0; 48],
        add_small(&[0; 48], 1),
        add_small(&N, -2),
        add_small(&N, -1),
        N,
        add_small(&N, 1),
        [0xff; 48],
    ];
    for r in &edges {
        for s in &edges {
            let verdict = same_verdict("edges", &vk, &ours, &digest, &der_signature(r, s));
            assert_ne!(verdict, Verdict::Verifies);
        }
    }
}

#[test]
fn keys_parse_as_the_crate_parses_them() {
    let mut rng = Rng(11);
    for _ in 0..300 {
        let vk = *signing_key(&mut rng).verifying_key();
        for compressed in [false, true] {
            let sec1 = vk.to_sec1_point(compressed).as_bytes().to_vec();
            let ours = P384Key::from_sec1(&sec1).expect("valid key");
            assert_eq!(
                ours.to_sec1_uncompressed().as_slice(),
                vk.to_sec1_point(false).as_bytes()
            );
            // Any one bit flipped: both accept (then the same point) or both refuse.
            let mut bad = sec1.clone();
            let bit = rng.below(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            let theirs = VerifyingKey::from_sec1_bytes(&bad);
            match (P384Key::from_sec1(&bad), theirs) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(
                        a.to_sec1_uncompressed().as_slice(),
                        b.to_sec1_point(false).as_bytes()
                    )
                }
                // The crate reads 0x05 (compact); we refuse it, and say why.
                (Err(KeyError::CompactForm), _) => assert_eq!(bad[0], 0x05),
                (Err(_), Err(_)) => {}
                (ours, theirs) => panic!("{bad:02x?}: ours {ours:?}, the crate's {theirs:?}"),
            }
        }
    }
    assert_eq!(P384Key::from_sec1(&[0]), Err(KeyError::Infinity));
    assert_eq!(P384Key::from_sec1(&[]), Err(KeyError::Encoding));
    let mut off_curve = vec![0x04];
    off_curve.extend([1u8; 96]);
    assert_eq!(P384Key::from_sec1(&off_curve), Err(KeyError::NotOnCurve));
    let mut x_too_big = vec![0x04];
    x_too_big.extend([0xffu8; 96]);
    assert_eq!(
        P384Key::from_sec1(&x_too_big),
        Err(KeyError::CoordinateRange)
    );
}

#[test]
fn a_key_verifies_the_same_before_and_after_its_table_is_built_and_cloned() {
    let mut rng = Rng(13);
    let sk = signing_key(&mut rng);
    let ours = our_key(sk.verifying_key(), false);
    assert!(!ours.table_built());
    let digest = sha2::Sha256::digest(b"first").to_vec();
    let sig: Signature = sk.sign_prehash(&digest).expect("sign");
    let der = sig.to_der();
    let fresh = ours.clone();
    assert_eq!(verify_prehash(&ours, &digest, der.as_bytes()), Ok(()));
    assert!(ours.table_built());
    let built = ours.clone();
    assert!(built.table_built() && !fresh.table_built());
    assert_eq!(verify_prehash(&built, &digest, der.as_bytes()), Ok(()));
    assert_eq!(verify_prehash(&fresh, &digest, der.as_bytes()), Ok(()));
    assert_eq!(
        verify_prehash(&built, &sha2::Sha256::digest(b"other"), der.as_bytes()),
        Err(EcdsaError::Rejected)
    );
}

#[test]
fn a_sha512_digest_is_cut_to_its_leftmost_384_bits() {
    let mut rng = Rng(17);
    let sk = signing_key(&mut rng);
    let vk = *sk.verifying_key();
    let ours = our_key(&vk, false);
    let digest = sha2::Sha512::digest(b"truncated").to_vec();
    let sig: Signature = sk.sign_prehash(&digest).expect("sign");
    let der = sig.to_der();
    let mut tail_changed = digest.clone();
    tail_changed[48..].fill(0xa5);
    assert_eq!(
        same_verdict("tail changed", &vk, &ours, &tail_changed, der.as_bytes()),
        Verdict::Verifies
    );
    assert_eq!(
        same_verdict("first 48 bytes", &vk, &ours, &digest[..48], der.as_bytes()),
        Verdict::Verifies
    );
    let mut head_changed = digest;
    head_changed[47] ^= 1;
    assert_eq!(
        same_verdict("bit 384 changed", &vk, &ours, &head_changed, der.as_bytes()),
        Verdict::Rejected
    );
}
