//! SHA-256 block function on the Armv8 Cryptographic Extension (FEAT_SHA256):
//! four rounds per `SHA256H`/`SHA256H2` pair, the message schedule by
//! `SHA256SU0`/`SHA256SU1` (Arm ARM C7.2, "SHA256H" ff.). The structure follows the
//! `sha2` crate's `aarch64_sha2.rs` (itself from mbedtls), with the round
//! constants held in registers across blocks, each block read by one `LD1`
//! whatever its alignment, and the sixteen quads written out in full.

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

/// Four rounds (one quad) with message words `w` and round constants `k`.
#[target_feature(enable = "sha2")]
#[inline]
fn quad(abcd: &mut uint32x4_t, efgh: &mut uint32x4_t, w: uint32x4_t, k: uint32x4_t) {
    let wk = vaddq_u32(w, k);
    let abcd_prev = *abcd;
    *abcd = vsha256hq_u32(abcd_prev, *efgh, wk);
    *efgh = vsha256h2q_u32(*efgh, abcd_prev, wk);
}

/// The next four message words, from the last sixteen `w0..w3` (oldest first).
#[target_feature(enable = "sha2")]
#[inline]
fn schedule(w0: uint32x4_t, w1: uint32x4_t, w2: uint32x4_t, w3: uint32x4_t) -> uint32x4_t {
    vsha256su1q_u32(vsha256su0q_u32(w0, w1), w2, w3)
}

/// Sixteen round constants as four vectors (`K` is a static the compiler
/// knows to be aligned, so these are whole-register loads).
#[target_feature(enable = "sha2")]
#[inline]
fn constants(quads: &[u32; 16]) -> [uint32x4_t; 4] {
    // SAFETY: `quads` is sixteen readable, naturally aligned u32s, exactly what the load reads.
    let v = unsafe { vld1q_u32_x4(quads.as_ptr()) };
    [v.0, v.1, v.2, v.3]
}

/// The four message vectors of `block`: its sixteen big-endian words (FIPS 180-4
/// section 3.1) as native ones.
///
/// One `LD1` of four registers and a `REV32` each, in assembly:
/// `aarch64-unknown-none` builds with `+strict-align` (the kernel runs before its
/// MMU is on), so LLVM splits a vector load it cannot prove 16-byte aligned
/// (the `vld1q_u8_x4` intrinsic included) into 64 `LDRB`s. `LD1` of byte
/// elements needs no alignment (Arm ARM B2.5.2: alignment is checked per
/// element). The first version read the block with `LD4` and put the bytes
/// back together with eight `ZIP`s; QEMU emulates `LD4` as 64 byte loads and
/// each `ZIP` lane by lane, where it joins `LD1`'s consecutive bytes into
/// eight 64-bit loads and does `REV32` as 16 byte swaps
/// (`sigbench /initrd/virtio_rng.ko 50`, four runs each alternating: hash
/// 397-413 -> 358-359 µs real time; 1.64 -> 1.60 k instructions a KiB).
#[target_feature(enable = "sha2")]
#[inline]
fn message(block: &[u8; 64]) -> [uint32x4_t; 4] {
    let (w0, w1, w2, w3): (uint32x4_t, uint32x4_t, uint32x4_t, uint32x4_t);
    // SAFETY: reads the 64 bytes of `block`, readable; LD1 of byte elements has no alignment requirement; writes only the four declared outputs.
    unsafe {
        core::arch::asm!(
            "ld1     {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}]",
            "rev32   v16.16b, v16.16b",
            "rev32   v17.16b, v17.16b",
            "rev32   v18.16b, v18.16b",
            "rev32   v19.16b, v19.16b",
            p = in(reg) block.as_ptr(),
            out("v16") w0, out("v17") w1, out("v18") w2, out("v19") w3,
            options(nostack, readonly, preserves_flags),
        );
    }
    [w0, w1, w2, w3]
}

/// Compresses `blocks` into `state` with the SHA-256 instructions.
///
/// Straight-line code per block: the block read by one `LD1` and four `REV32`s
/// (see [`message`]), the sixteen
/// `SHA256H`/`SHA256H2` pairs with their constant adds and the twelve schedule
/// updates, all 64 round constants in registers throughout (about 100
/// instructions per block; the first version, building vectors lane by lane from
/// bytes, cost about seven times as many, and a rolled loop with the block
/// copied to an aligned buffer about 170).
///
/// # Safety
///
/// The CPU must implement FEAT_SHA256 (see `hash::declare_sha2_instructions`).
#[target_feature(enable = "sha2")]
pub(crate) unsafe fn compress(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    let [k0, k1, k2, k3] = constants(K[0..16].try_into().expect("16 constants"));
    let [k4, k5, k6, k7] = constants(K[16..32].try_into().expect("16 constants"));
    let [k8, k9, k10, k11] = constants(K[32..48].try_into().expect("16 constants"));
    let [k12, k13, k14, k15] = constants(K[48..64].try_into().expect("16 constants"));
    // SAFETY: `state` is eight readable, naturally aligned u32s, what LD1 {Vt.4S, Vt2.4S} reads.
    let state_v = unsafe { vld1q_u32_x2(state.as_ptr()) };
    let (mut abcd, mut efgh) = (state_v.0, state_v.1);
    for block in blocks {
        let (abcd_orig, efgh_orig) = (abcd, efgh);
        let [mut w0, mut w1, mut w2, mut w3] = message(block);
        let (a, e) = (&mut abcd, &mut efgh);
        quad(a, e, w0, k0);
        w0 = schedule(w0, w1, w2, w3);
        quad(a, e, w1, k1);
        w1 = schedule(w1, w2, w3, w0);
        quad(a, e, w2, k2);
        w2 = schedule(w2, w3, w0, w1);
        quad(a, e, w3, k3);
        w3 = schedule(w3, w0, w1, w2);
        quad(a, e, w0, k4);
        w0 = schedule(w0, w1, w2, w3);
        quad(a, e, w1, k5);
        w1 = schedule(w1, w2, w3, w0);
        quad(a, e, w2, k6);
        w2 = schedule(w2, w3, w0, w1);
        quad(a, e, w3, k7);
        w3 = schedule(w3, w0, w1, w2);
        quad(a, e, w0, k8);
        w0 = schedule(w0, w1, w2, w3);
        quad(a, e, w1, k9);
        w1 = schedule(w1, w2, w3, w0);
        quad(a, e, w2, k10);
        w2 = schedule(w2, w3, w0, w1);
        quad(a, e, w3, k11);
        w3 = schedule(w3, w0, w1, w2);
        quad(a, e, w0, k12);
        quad(a, e, w1, k13);
        quad(a, e, w2, k14);
        quad(a, e, w3, k15);
        abcd = vaddq_u32(abcd, abcd_orig);
        efgh = vaddq_u32(efgh, efgh_orig);
    }
    // SAFETY: `state` is eight writable, naturally aligned u32s, what ST1 {Vt.4S, Vt2.4S} writes.
    unsafe { vst1q_u32_x2(state.as_mut_ptr(), uint32x4x2_t(abcd, efgh)) };
}
