//! Differential test of modsign's variable-time ECDSA P-256 verifier
//! (`modsign::p256_verify`) against the p256 crate's `DerSignature::from_bytes`
//! and `VerifyingKey::verify_prehash`, which it replaced in `check_signature`.
//! Keys, messages and the choice of mutation come from a fixed-seed generator
//! (SplitMix64), so a failure replays. Signatures are the crate's own
//! (RFC 6979) over SHA-256, SHA-384 and SHA-512 digests; each is checked as
//! made and with r, s, the digest, the key or the DER bytes corrupted, and
//! with r and s at the edges (0, 1, n-1, n, n+1, 2^256-1). Both verifiers
//! must give the same answer, of three (verifies, malformed DER, rejected),
//! for every input; valid signatures must verify.

use modsign::p256_verify::{verify_prehash, EcdsaError, KeyError, P256Key};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use sha2::Digest;

/// n, big-endian (FIPS 186-4 D.1.2.3).
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
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

fn our_verdict(key: &P256Key, digest: &[u8], der: &[u8]) -> Verdict {
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
    ours: &P256Key,
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

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of two 32-byte big-endian values,
/// minimally encoded (r and s need not be below n).
fn der_signature(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    let integer = |v: &[u8; 32]| {
        let first = v.iter().position(|&b| b != 0).unwrap_or(31);
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

/// `a + delta` (mod 2^256), big-endian, delta small.
fn add_small(a: &[u8; 32], delta: i64) -> [u8; 32] {
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
        if let Ok(k) = SigningKey::from_slice(&rng.bytes(32)) {
            return k;
        }
    }
}

/// Our key from the crate's, through SEC1 (uncompressed or compressed).
fn our_key(key: &VerifyingKey, compressed: bool) -> P256Key {
    P256Key::from_sec1(key.to_sec1_point(compressed).as_bytes()).expect("the crate's key")
}

#[test]
fn valid_and_corrupted_signatures_get_the_crates_answer() {
    let mut rng = Rng(0x5EED_0256);
    let edges: [[u8; 32]; 6] = [
        [0; 32],
        add_small(&[0; 32], 1),
        add_small(&N, -1),
        N,
        add_small(&N, 1),
        [0xff; 32],
    ];
    let mut signatures = 0;
    let mut previous: Option<(VerifyingKey, P256Key)> = None;
    for k in 0..300 {
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
            let (r, s): ([u8; 32], [u8; 32]) = (r.into(), s.into());

            // The same signature with s negated also verifies (no low-s rule).
            let minus_s = {
                let mut out = [0u8; 32];
                let mut borrow = 0i16;
                for i in (0..32).rev() {
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
                let bit = rng.below(256);
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

            // Digests of other lengths: truncated to 16..32 bytes and shorter.
            let short = &digest[..rng.below(digest.len().min(33))];
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
    assert_eq!(signatures, 2400);
}

#[test]
fn every_edge_pair_of_r_and_s_gets_the_crates_answer() {
    let mut rng = Rng(7);
    let sk = signing_key(&mut rng);
    let vk = *sk.verifying_key();
    let ours = our_key(&vk, false);
    let digest = sha2::Sha256::digest(b"edges").to_vec();
    let edges: Vec<[u8; 32]> = vec![
        [0; 32],
        add_small(&[0; 32], 1),
        add_small(&N, -2),
        add_small(&N, -1),
        N,
        add_small(&N, 1),
        [0xff; 32],
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
            let ours = P256Key::from_sec1(&sec1).expect("valid key");
            assert_eq!(
                ours.to_sec1_uncompressed().as_slice(),
                vk.to_sec1_point(false).as_bytes()
            );
            // Any one bit flipped: both accept (then the same point) or both refuse.
            let mut bad = sec1.clone();
            let bit = rng.below(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            let theirs = VerifyingKey::from_sec1_bytes(&bad);
            match (P256Key::from_sec1(&bad), theirs) {
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
    assert_eq!(P256Key::from_sec1(&[0]), Err(KeyError::Infinity));
    assert_eq!(P256Key::from_sec1(&[]), Err(KeyError::Encoding));
    let mut off_curve = vec![0x04];
    off_curve.extend([1u8; 64]);
    assert_eq!(P256Key::from_sec1(&off_curve), Err(KeyError::NotOnCurve));
    let mut x_too_big = vec![0x04];
    x_too_big.extend([0xffu8; 64]);
    assert_eq!(
        P256Key::from_sec1(&x_too_big),
        Err(KeyError::CoordinateRange)
    );
}

#[test]
fn a_key_verifies_the_same_before_and_after_its_table_is_built_and_cloned() {
    let mut rng = Rng(13);
    let sk = signing_key(&mut rng);
    let ours = our_key(sk.verifying_key(), false);
    assert!(!ours.comb_built());
    let digest = sha2::Sha256::digest(b"first").to_vec();
    let sig: Signature = sk.sign_prehash(&digest).expect("sign");
    let der = sig.to_der();
    let fresh = ours.clone();
    assert_eq!(verify_prehash(&ours, &digest, der.as_bytes()), Ok(()));
    assert!(ours.comb_built());
    let built = ours.clone();
    assert!(built.comb_built() && !fresh.comb_built());
    assert_eq!(verify_prehash(&built, &digest, der.as_bytes()), Ok(()));
    assert_eq!(verify_prehash(&fresh, &digest, der.as_bytes()), Ok(()));
    assert_eq!(
        verify_prehash(&built, &sha2::Sha256::digest(b"other"), der.as_bytes()),
        Err(EcdsaError::Rejected)
    );
}
