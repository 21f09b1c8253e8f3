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

mod ecdsa_common;

/// n, big-endian (FIPS 186-4 D.1.2.4).
const N: [u8; 48] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
];

ecdsa_common::differential_tests! {
    curve: p384,
    module: p384_verify,
    key: P384Key,
    bytes: 48,
    seed: 0x5EED_0384,
    keys: 150,
    // Digests of other lengths: any prefix (bits2int of a short one).
    short_digest: |len: usize| len + 1,
    table_built: table_built,
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
