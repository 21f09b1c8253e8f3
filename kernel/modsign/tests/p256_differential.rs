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

mod ecdsa_common;

/// n, big-endian (FIPS 186-4 D.1.2.3).
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

ecdsa_common::differential_tests! {
    curve: p256,
    module: p256_verify,
    key: P256Key,
    bytes: 32,
    seed: 0x5EED_0256,
    keys: 300,
    // Digests of other lengths: truncated to 16..32 bytes and shorter.
    short_digest: |len: usize| len.min(33),
    table_built: comb_built,
}
