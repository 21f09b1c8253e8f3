//! SHA-256 block function on the Armv8 Cryptographic Extension (FEAT_SHA256):
//! four rounds per `SHA256H`/`SHA256H2` pair, the message schedule by
//! `SHA256SU0`/`SHA256SU1` (Arm ARM C7.2, "SHA256H" ff.). The structure follows the
//! `sha2` crate's `aarch64_sha2.rs` (itself from mbedtls), with whole-register
//! loads of 16-byte aligned blocks (see [`AlignedBlock`]) and the round
//! constants hoisted out of the block loop.

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
fn words(v: uint32x4_t) -> [u32; 4] {
    [
        vgetq_lane_u32::<0>(v),
        vgetq_lane_u32::<1>(v),
        vgetq_lane_u32::<2>(v),
        vgetq_lane_u32::<3>(v),
    ]
}

/// A block at the alignment of a 128-bit register, so the compiler loads it
/// with whole-register loads. `aarch64-unknown-none` builds with
/// `+strict-align` (the kernel runs before its MMU is on), so a load the
/// compiler cannot prove aligned is split into single bytes: 64 `LDRB`s and
/// the shifts to join them cost about seven times the rounds themselves.
#[repr(C, align(16))]
struct AlignedBlock([u8; 64]);

/// The four message vectors of `block` (FIPS 180-4 section 3.1: words are
/// big-endian, hence `REV32`), loaded in place when it is 16-byte aligned,
/// else through one copy to an aligned buffer.
#[target_feature(enable = "sha2")]
fn message(block: &[u8; 64]) -> [uint32x4_t; 4] {
    let mut copy = AlignedBlock([0; 64]);
    let at = if block.as_ptr().align_offset(16) == 0 {
        block.as_ptr()
    } else {
        copy.0 = *block;
        copy.0.as_ptr()
    };
    // `at` is 16-byte aligned (checked, or an `AlignedBlock`), points into
    // `block` or `copy`, which live through this read; any bytes are valid
    // vectors of u8.
    // SAFETY: 64 readable, aligned bytes at `at` (see above).
    let vectors = unsafe { at.cast::<[uint8x16_t; 4]>().read() };
    vectors.map(|v| vreinterpretq_u32_u8(vrev32q_u8(v)))
}

/// Compresses `blocks` into `state` with the SHA-256 instructions.
///
/// The round constants are loaded once, outside the block loop, and the
/// message schedule is kept in four registers (the quads unrolled by four),
/// so a block costs its 16 `SHA256H`/`SHA256H2` pairs, 12 schedule updates and
/// four loads (building vectors lane by lane from bytes, as this function
/// first did, cost about seven times as many instructions).
///
/// # Safety
///
/// The CPU must implement FEAT_SHA256 (see `hash::declare_sha2_instructions`).
#[target_feature(enable = "sha2")]
pub(crate) unsafe fn compress(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    let mut k = [vdupq_n_u32(0); 16];
    for (quad, slot) in k.iter_mut().enumerate() {
        let four: &[u32; 4] = K[quad * 4..][..4].try_into().expect("4 constants");
        // SAFETY: `four` is a reference to four readable u32s, exactly what LD1 {Vt.4S} reads, at their natural alignment.
        *slot = unsafe { vld1q_u32(four.as_ptr()) };
    }
    // SAFETY: `state` is eight u32s; each load reads four of them.
    let mut abcd = unsafe { vld1q_u32(state.as_ptr()) };
    // SAFETY: as above, the last four.
    let mut efgh = unsafe { vld1q_u32(state[4..].as_ptr()) };
    for block in blocks {
        let (abcd_orig, efgh_orig) = (abcd, efgh);
        let [mut w0, mut w1, mut w2, mut w3] = message(block);
        // Four rounds (one quad) with message words `w` and constants `k`.
        let mut quad = |w: uint32x4_t, k: uint32x4_t| {
            let tmp = vaddq_u32(w, k);
            let abcd_prev = abcd;
            abcd = vsha256hq_u32(abcd_prev, efgh, tmp);
            efgh = vsha256h2q_u32(efgh, abcd_prev, tmp);
        };
        // W[t..t+4] for the quad four ahead, from the last sixteen words.
        let schedule = |w0, w1, w2, w3| vsha256su1q_u32(vsha256su0q_u32(w0, w1), w2, w3);
        // Unrolled by four so each message vector stays in its register.
        for (group, k) in k.chunks_exact(4).enumerate() {
            let more = group < 3;
            quad(w0, k[0]);
            if more {
                w0 = schedule(w0, w1, w2, w3);
            }
            quad(w1, k[1]);
            if more {
                w1 = schedule(w1, w2, w3, w0);
            }
            quad(w2, k[2]);
            if more {
                w2 = schedule(w2, w3, w0, w1);
            }
            quad(w3, k[3]);
            if more {
                w3 = schedule(w3, w0, w1, w2);
            }
        }
        abcd = vaddq_u32(abcd, abcd_orig);
        efgh = vaddq_u32(efgh, efgh_orig);
    }
    let (a, e) = (words(abcd), words(efgh));
    state[..4].copy_from_slice(&a);
    state[4..].copy_from_slice(&e);
}
