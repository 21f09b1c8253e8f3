//! SHA-256 block function on the Armv8 Cryptographic Extension (FEAT_SHA256):
//! four rounds per `SHA256H`/`SHA256H2` pair, the message schedule by
//! `SHA256SU0`/`SHA256SU1` (Arm ARM C7.2, "SHA256H" ff.). The structure follows the
//! `sha2` crate's `aarch64_sha2.rs` (itself from mbedtls); vectors are built
//! lane by lane from words so no raw-pointer load is needed.

use core::arch::aarch64::*;

/// FIPS 180-4 section 4.2.2 round constants.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

#[target_feature(enable = "sha2")]
fn vector(words: [u32; 4]) -> uint32x4_t {
    let v = vdupq_n_u32(words[0]);
    let v = vsetq_lane_u32::<1>(words[1], v);
    let v = vsetq_lane_u32::<2>(words[2], v);
    vsetq_lane_u32::<3>(words[3], v)
}

#[target_feature(enable = "sha2")]
fn words(v: uint32x4_t) -> [u32; 4] {
    [
        vgetq_lane_u32::<0>(v),
        vgetq_lane_u32::<1>(v),
        vgetq_lane_u32::<2>(v),
        vgetq_lane_u32::<3>(v),
    ]
}

/// Message words are big-endian (FIPS 180-4 section 3.1).
#[target_feature(enable = "sha2")]
fn message(block: &[u8; 64], i: usize) -> uint32x4_t {
    let mut w = [0u32; 4];
    for (j, word) in w.iter_mut().enumerate() {
        let at = (i * 4 + j) * 4;
        *word = u32::from_be_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    }
    vector(w)
}

#[target_feature(enable = "sha2")]
fn round_constants(i: usize) -> uint32x4_t {
    vector([K[i], K[i + 1], K[i + 2], K[i + 3]])
}

/// Compresses `blocks` into `state` with the SHA-256 instructions.
///
/// # Safety
///
/// The CPU must implement FEAT_SHA256 (see `hash::declare_sha2_instructions`).
#[target_feature(enable = "sha2")]
pub(crate) unsafe fn compress(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    let mut abcd = vector([state[0], state[1], state[2], state[3]]);
    let mut efgh = vector([state[4], state[5], state[6], state[7]]);
    for block in blocks {
        let (abcd_orig, efgh_orig) = (abcd, efgh);
        let mut w = [
            message(block, 0),
            message(block, 1),
            message(block, 2),
            message(block, 3),
        ];
        for quad in 0..16 {
            let slot = quad % 4;
            let tmp = vaddq_u32(w[slot], round_constants(quad * 4));
            let abcd_prev = abcd;
            abcd = vsha256hq_u32(abcd_prev, efgh, tmp);
            efgh = vsha256h2q_u32(efgh, abcd_prev, tmp);
            if quad < 12 {
                // W[t..t+4] for the quad four ahead, from the last sixteen words.
                w[slot] = vsha256su1q_u32(
                    vsha256su0q_u32(w[slot], w[(slot + 1) % 4]),
                    w[(slot + 2) % 4],
                    w[(slot + 3) % 4],
                );
            }
        }
        abcd = vaddq_u32(abcd, abcd_orig);
        efgh = vaddq_u32(efgh, efgh_orig);
    }
    let (a, e) = (words(abcd), words(efgh));
    state[..4].copy_from_slice(&a);
    state[4..].copy_from_slice(&e);
}
