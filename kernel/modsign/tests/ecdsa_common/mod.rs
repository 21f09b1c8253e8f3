//! What the ECDSA differential tests (`p256_differential.rs`,
//! `p384_differential.rs`) share: a fixed-seed generator, the three verdicts,
//! DER and big-endian helpers, and [`differential_tests!`], which writes the
//! tests both curves run against their RustCrypto crate (same answer of
//! three, valid signatures verify, edge values of r and s, SEC1 key parsing,
//! a key's table built and cloned).

use sha2::Digest;

/// SplitMix64: small, deterministic, good enough to pick test inputs.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Verdict {
    Verifies,
    Malformed,
    Rejected,
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of two B-byte big-endian values,
/// minimally encoded (r and s need not be below n).
pub(crate) fn der_signature<const B: usize>(r: &[u8; B], s: &[u8; B]) -> Vec<u8> {
    let integer = |v: &[u8; B]| {
        let first = v.iter().position(|&b| b != 0).unwrap_or(B - 1);
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

/// `a + delta` (mod 2^(8 B)), big-endian, delta small.
pub(crate) fn add_small<const B: usize>(a: &[u8; B], delta: i64) -> [u8; B] {
    let mut out = *a;
    let mut carry = delta as i128;
    for b in out.iter_mut().rev() {
        let t = *b as i128 + carry;
        *b = t.rem_euclid(256) as u8;
        carry = t.div_euclid(256);
    }
    out
}

pub(crate) fn digest_of(rng: &mut Rng, message: &[u8]) -> Vec<u8> {
    match rng.below(3) {
        0 => sha2::Sha256::digest(message).to_vec(),
        1 => sha2::Sha384::digest(message).to_vec(),
        _ => sha2::Sha512::digest(message).to_vec(),
    }
}

/// The differential tests of one curve: `$curve` the RustCrypto crate,
/// `$module` modsign's verifier module, `$Key` its key type, `$bytes` a
/// scalar's size, `$seed` and `$keys` the main test's seed and number of keys
/// (8 signatures each), `$short_digest` the exclusive bound of a short
/// digest's length given the digest's, `$table_built` the key's method that
/// says its table is built. The file defines `N`, n big-endian.
macro_rules! differential_tests {
    (
        curve: $curve:ident,
        module: $module:ident,
        key: $Key:ident,
        bytes: $bytes:literal,
        seed: $seed:expr,
        keys: $keys:expr,
        short_digest: $short_digest:expr,
        table_built: $table_built:ident $(,)?
    ) => {
        use crate::ecdsa_common::{add_small, der_signature, digest_of, Rng, Verdict};
        use modsign::$module::{verify_prehash, $Key, EcdsaError, KeyError};
        use sha2::Digest;
        use $curve::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
        use $curve::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};

        fn crate_verdict(key: &VerifyingKey, digest: &[u8], der: &[u8]) -> Verdict {
            match DerSignature::from_bytes(der) {
                Err(_) => Verdict::Malformed,
                Ok(sig) => match key.verify_prehash(digest, &sig) {
                    Ok(()) => Verdict::Verifies,
                    Err(_) => Verdict::Rejected,
                },
            }
        }

        fn our_verdict(key: &$Key, digest: &[u8], der: &[u8]) -> Verdict {
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
            ours: &$Key,
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

        fn signing_key(rng: &mut Rng) -> SigningKey {
            loop {
                if let Ok(k) = SigningKey::from_slice(&rng.bytes($bytes)) {
                    return k;
                }
            }
        }

        /// Our key from the crate's, through SEC1 (uncompressed or compressed).
        fn our_key(key: &VerifyingKey, compressed: bool) -> $Key {
            $Key::from_sec1(key.to_sec1_point(compressed).as_bytes()).expect("the crate's key")
        }

        #[test]
        fn valid_and_corrupted_signatures_get_the_crates_answer() {
            let mut rng = Rng($seed);
            let edges: [[u8; $bytes]; 6] = [
                [0; $bytes],
                add_small(&[0; $bytes], 1),
                add_small(&N, -1),
                N,
                add_small(&N, 1),
                [0xff; $bytes],
            ];
            let mut signatures = 0;
            let mut previous: Option<(VerifyingKey, $Key)> = None;
            for k in 0..$keys {
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
                    let (r, s): ([u8; $bytes], [u8; $bytes]) = (r.into(), s.into());

                    // The same signature with s negated also verifies (no low-s rule).
                    let minus_s = {
                        let mut out = [0u8; $bytes];
                        let mut borrow = 0i16;
                        for i in (0..$bytes).rev() {
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
                        let bit = rng.below(8 * $bytes);
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

                    // Digests of other lengths.
                    let short = &digest[..rng.below(($short_digest)(digest.len()))];
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
            assert_eq!(signatures, 8 * $keys);
        }

        #[test]
        fn every_edge_pair_of_r_and_s_gets_the_crates_answer() {
            let mut rng = Rng(7);
            let sk = signing_key(&mut rng);
            let vk = *sk.verifying_key();
            let ours = our_key(&vk, false);
            let digest = sha2::Sha256::digest(b"edges").to_vec();
            let edges: Vec<[u8; $bytes]> = vec![
                [0; $bytes],
                add_small(&[0; $bytes], 1),
                add_small(&N, -2),
                add_small(&N, -1),
                N,
                add_small(&N, 1),
                [0xff; $bytes],
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
                    let ours = $Key::from_sec1(&sec1).expect("valid key");
                    assert_eq!(
                        ours.to_sec1_uncompressed().as_slice(),
                        vk.to_sec1_point(false).as_bytes()
                    );
                    // Any one bit flipped: both accept (then the same point) or both refuse.
                    let mut bad = sec1.clone();
                    let bit = rng.below(bad.len() * 8);
                    bad[bit / 8] ^= 1 << (bit % 8);
                    let theirs = VerifyingKey::from_sec1_bytes(&bad);
                    match ($Key::from_sec1(&bad), theirs) {
                        (Ok(a), Ok(b)) => {
                            assert_eq!(
                                a.to_sec1_uncompressed().as_slice(),
                                b.to_sec1_point(false).as_bytes()
                            )
                        }
                        // The crate reads 0x05 (compact); we refuse it, and say why.
                        (Err(KeyError::CompactForm), _) => assert_eq!(bad[0], 0x05),
                        (Err(_), Err(_)) => {}
                        (ours, theirs) => {
                            panic!("{bad:02x?}: ours {ours:?}, the crate's {theirs:?}")
                        }
                    }
                }
            }
            assert_eq!($Key::from_sec1(&[0]), Err(KeyError::Infinity));
            assert_eq!($Key::from_sec1(&[]), Err(KeyError::Encoding));
            let mut off_curve = vec![0x04];
            off_curve.extend([1u8; 2 * $bytes]);
            assert_eq!($Key::from_sec1(&off_curve), Err(KeyError::NotOnCurve));
            let mut x_too_big = vec![0x04];
            x_too_big.extend([0xffu8; 2 * $bytes]);
            assert_eq!($Key::from_sec1(&x_too_big), Err(KeyError::CoordinateRange));
        }

        #[test]
        fn a_key_verifies_the_same_before_and_after_its_table_is_built_and_cloned() {
            let mut rng = Rng(13);
            let sk = signing_key(&mut rng);
            let ours = our_key(sk.verifying_key(), false);
            assert!(!ours.$table_built());
            let digest = sha2::Sha256::digest(b"first").to_vec();
            let sig: Signature = sk.sign_prehash(&digest).expect("sign");
            let der = sig.to_der();
            let fresh = ours.clone();
            assert_eq!(verify_prehash(&ours, &digest, der.as_bytes()), Ok(()));
            assert!(ours.$table_built());
            let built = ours.clone();
            assert!(built.$table_built() && !fresh.$table_built());
            assert_eq!(verify_prehash(&built, &digest, der.as_bytes()), Ok(()));
            assert_eq!(verify_prehash(&fresh, &digest, der.as_bytes()), Ok(()));
            assert_eq!(
                verify_prehash(&built, &sha2::Sha256::digest(b"other"), der.as_bytes()),
                Err(EcdsaError::Rejected)
            );
        }
    };
}
pub(crate) use differential_tests;
