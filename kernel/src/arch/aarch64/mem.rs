//! `memcpy` and `memset` for the kernel, in assembly: 64 bytes a step (then 16) with
//! `ldp`/`stp` of whole registers, whatever the alignment, once this CPU's MMU
//! is on.
//!
//! The target builds with `+strict-align` because the kernel runs Rust code
//! before its MMU is on, when all memory is Device memory and an unaligned
//! access faults. compiler_builtins' generic versions therefore copy a source
//! and destination that are aligned differently with aligned loads, shifts
//! and ors: 22 instructions every 8 bytes. That is the common case for a
//! module: a file in the cpio initrd is only 4-byte aligned, its sections go to
//! page-aligned memory, so the loader spent about half its instructions in
//! that loop (measured with a QEMU TCG plugin counting guest instructions per
//! function, `insmod hello.ko`).
//!
//! Here, each call reads SCTLR_EL1: with the MMU on (M = 1) and alignment
//! checking off (A = 0, which `mmu::enable` sets), normal memory allows
//! unaligned `ldp`/`stp` (Arm ARM B2.5.2), as Linux's `arch/arm64/lib/memcpy.S`
//! assumes. Before that, only when both pointers are 8-byte aligned (memset:
//! the destination) are wide accesses used; otherwise bytes. Neither routine
//! is used on device memory: MMIO goes through `tock-registers`' volatile
//! accesses, never through `memcpy`. `memcmp` (and `bcmp`) compare eight bytes
//! a step the same way. `memmove` stays compiler_builtins' (its `mem` functions are weak, so these definitions take
//! their place at link time).

use core::arch::global_asm;

// memcpy(x0 = dst, x1 = src, x2 = n) -> x0; the regions do not overlap.
// x3 = dst cursor, x4-x11 = data, x6 = scratch (before the copy).
global_asm!(
    ".section .text.memcpy, \"ax\"",
    ".global memcpy",
    ".type memcpy, %function",
    ".p2align 4",
    "memcpy:",
    "    mov     x3, x0",
    "    orr     x6, x0, x1",
    "    tst     x6, #7",
    "    b.eq    2f",
    "    mrs     x6, sctlr_el1",
    "    tbz     x6, #0, 8f", // MMU off: bytes
    "    tbnz    x6, #1, 8f", // alignment checks on: bytes
    // 64 bytes a step (10 instructions where the 16-byte loop takes 16),
    // then 16 at a time: x2 holds n - 64, then n - 16.
    "2:  subs    x2, x2, #64",
    "    b.lo    11f",
    "12: ldp     x4, x5, [x1], #64",
    "    ldp     x6, x7, [x1, #-48]",
    "    ldp     x8, x9, [x1, #-32]",
    "    ldp     x10, x11, [x1, #-16]",
    "    stp     x4, x5, [x3], #64",
    "    stp     x6, x7, [x3, #-48]",
    "    stp     x8, x9, [x3, #-32]",
    "    stp     x10, x11, [x3, #-16]",
    "    subs    x2, x2, #64",
    "    b.hs    12b",
    "11: adds    x2, x2, #48",
    "    b.lo    4f",
    "3:  ldp     x4, x5, [x1], #16",
    "    stp     x4, x5, [x3], #16",
    "    subs    x2, x2, #16",
    "    b.hs    3b",
    // 0-15 bytes left: x2 holds n - 16 (its low four bits are the count).
    "4:  tbz     x2, #3, 5f",
    "    ldr     x4, [x1], #8",
    "    str     x4, [x3], #8",
    "5:  tbz     x2, #2, 6f",
    "    ldr     w4, [x1], #4",
    "    str     w4, [x3], #4",
    "6:  tbz     x2, #1, 7f",
    "    ldrh    w4, [x1], #2",
    "    strh    w4, [x3], #2",
    "7:  tbz     x2, #0, 9f",
    "    ldrb    w4, [x1]",
    "    strb    w4, [x3]",
    "    ret",
    "8:  cbz     x2, 9f",
    "10: ldrb    w4, [x1], #1",
    "    strb    w4, [x3], #1",
    "    subs    x2, x2, #1",
    "    b.ne    10b",
    "9:  ret",
    ".size memcpy, . - memcpy",
);

// memset(x0 = dst, w1 = byte, x2 = n) -> x0.
// x3 = dst cursor, x4 = the byte in every lane, x6 = scratch.
global_asm!(
    ".section .text.memset, \"ax\"",
    ".global memset",
    ".type memset, %function",
    ".p2align 4",
    "memset:",
    "    mov     x3, x0",
    "    and     x4, x1, #0xff",
    "    mov     x6, #0x0101010101010101",
    "    mul     x4, x4, x6",
    "    tst     x0, #7",
    "    b.eq    2f",
    "    mrs     x6, sctlr_el1",
    "    tbz     x6, #0, 8f",
    "    tbnz    x6, #1, 8f",
    "2:  subs    x2, x2, #64",
    "    b.lo    11f",
    "12: stp     x4, x4, [x3], #64",
    "    stp     x4, x4, [x3, #-48]",
    "    stp     x4, x4, [x3, #-32]",
    "    stp     x4, x4, [x3, #-16]",
    "    subs    x2, x2, #64",
    "    b.hs    12b",
    "11: adds    x2, x2, #48",
    "    b.lo    4f",
    "3:  stp     x4, x4, [x3], #16",
    "    subs    x2, x2, #16",
    "    b.hs    3b",
    "4:  tbz     x2, #3, 5f",
    "    str     x4, [x3], #8",
    "5:  tbz     x2, #2, 6f",
    "    str     w4, [x3], #4",
    "6:  tbz     x2, #1, 7f",
    "    strh    w4, [x3], #2",
    "7:  tbz     x2, #0, 9f",
    "    strb    w4, [x3]",
    "    ret",
    "8:  cbz     x2, 9f",
    "10: strb    w4, [x3], #1",
    "    subs    x2, x2, #1",
    "    b.ne    10b",
    "9:  ret",
    ".size memset, . - memset",
);

// memcmp(x0 = a, x1 = b, x2 = n) -> w0: < 0, 0, > 0 as the first differing
// byte of `a` is below, equal to or above `b`'s (unsigned). `bcmp` is the
// same routine (its callers only test for zero). Eight bytes a step once the
// MMU is on (as memcpy), the differing word byte-reversed so that an unsigned
// compare orders it as bytes; bytes before that. compiler_builtins' version
// compares byte by byte: about 100 instructions for an 11-byte compatible
// string, and device-tree and symbol lookups compare many.
// x3, x4 = data, x5 = byte difference, x6 = scratch.
global_asm!(
    ".section .text.memcmp, \"ax\"",
    ".global memcmp",
    ".type memcmp, %function",
    ".global bcmp",
    ".type bcmp, %function",
    ".p2align 4",
    "memcmp:",
    "bcmp:",
    "    cbz     x2, 8f",
    "    mrs     x6, sctlr_el1",
    "    tbz     x6, #0, 5f", // MMU off: bytes
    "    tbnz    x6, #1, 5f", // alignment checks on: bytes
    "    subs    x2, x2, #8",
    "    b.lo    4f",
    "2:  ldr     x3, [x0], #8",
    "    ldr     x4, [x1], #8",
    "    cmp     x3, x4",
    "    b.ne    3f",
    "    subs    x2, x2, #8",
    "    b.hs    2b",
    "4:  adds    x2, x2, #8", // 0-7 bytes left
    "    b.eq    8f",
    "5:  ldrb    w3, [x0], #1",
    "    ldrb    w4, [x1], #1",
    "    subs    w5, w3, w4",
    "    b.ne    7f",
    "    subs    x2, x2, #1",
    "    b.ne    5b",
    "8:  mov     w0, #0",
    "    ret",
    "7:  mov     w0, w5",
    "    ret",
    "3:  rev     x3, x3",
    "    rev     x4, x4",
    "    cmp     x3, x4",
    "    cset    w0, hi",
    "    csinv   w0, w0, wzr, hs", // below: -1
    "    ret",
    ".size memcmp, . - memcmp",
);

/// Makes `dst` equal to `src` over the shorter length of the two, storing only
/// the 64-byte blocks that differ: [`modloader::store::copy_changed`]'s
/// contract, with NEON (two loads, one reduction, one branch a block: 15
/// instructions where the portable version takes about 26). For module text
/// loaded again into the pages its previous image ran from (see
/// `modloader::store`). Only once the MMU is on (unaligned `ld1`/`st1`).
///
/// Returns how many 64-byte blocks it stored (a last piece shorter than 64
/// bytes counts as one): what `modstress` reports of a reload.
pub fn copy_changed(dst: &mut [u8], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    let blocks = n / 64;
    let mut stored = 0usize;
    if blocks > 0 {
        // SAFETY: reads `blocks * 64 <= n` bytes of `src` and reads and writes as many of `dst`, both in bounds and not overlapping (`&mut`); the MMU is on with alignment checks off (module load time), so the unaligned accesses are allowed; v0-v7 are declared clobbered.
        unsafe {
            core::arch::asm!(
                "2:  ld1     {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{d}]",
                "    ld1     {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{s}], #64",
                "    eor     v0.16b, v0.16b, v4.16b",
                "    eor     v1.16b, v1.16b, v5.16b",
                "    eor     v2.16b, v2.16b, v6.16b",
                "    eor     v3.16b, v3.16b, v7.16b",
                "    orr     v0.16b, v0.16b, v1.16b",
                "    orr     v2.16b, v2.16b, v3.16b",
                "    orr     v0.16b, v0.16b, v2.16b",
                "    umaxv   s0, v0.4s",
                "    fmov    {t:w}, s0",
                "    cbz     {t:w}, 3f",
                "    st1     {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{d}]",
                "    add     {c}, {c}, #1",
                "3:  add     {d}, {d}, #64",
                "    subs    {n}, {n}, #1",
                "    b.ne    2b",
                d = inout(reg) dst.as_mut_ptr() => _,
                s = inout(reg) src.as_ptr() => _,
                n = inout(reg) blocks => _,
                c = inout(reg) stored,
                t = out(reg) _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                options(nostack),
            );
        }
    }
    let done = blocks * 64;
    if dst[done..n] != src[done..n] {
        stored += 1;
        dst[done..n].copy_from_slice(&src[done..n]);
    }
    stored
}

/// Copies `src` into `dst` over the shorter length of the two, 64 bytes a step
/// with NEON (four instructions a block where `memcpy` takes ten): for the
/// staging copy of module text at load time. Only once the MMU is on
/// (unaligned `ld1`/`st1`), in thread context like [`copy_changed`].
pub fn copy(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    let blocks = n / 64;
    if blocks > 0 {
        // SAFETY: reads `blocks * 64 <= n` bytes of `src` and writes as many of `dst`, both in bounds and not overlapping (`&mut`); the MMU is on with alignment checks off (module load time); v0-v3 are declared clobbered.
        unsafe {
            core::arch::asm!(
                "2:  ld1     {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{s}], #64",
                "    st1     {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{d}], #64",
                "    subs    {n}, {n}, #1",
                "    b.ne    2b",
                d = inout(reg) dst.as_mut_ptr() => _,
                s = inout(reg) src.as_ptr() => _,
                n = inout(reg) blocks => _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                options(nostack),
            );
        }
    }
    let done = blocks * 64;
    dst[done..n].copy_from_slice(&src[done..n]);
}

/// Makes every byte of `dst` zero, storing only the 64-byte blocks that are
/// not: [`modloader::store::zero_changed`]'s contract, with NEON.
pub fn zero_changed(dst: &mut [u8]) {
    let blocks = dst.len() / 64;
    if blocks > 0 {
        // SAFETY: reads and writes `blocks * 64 <= dst.len()` bytes of `dst`, in bounds; the MMU is on with alignment checks off (module load time); v0-v4 are declared clobbered.
        unsafe {
            core::arch::asm!(
                "    movi    v4.16b, #0",
                "2:  ld1     {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{d}]",
                "    orr     v0.16b, v0.16b, v1.16b",
                "    orr     v2.16b, v2.16b, v3.16b",
                "    orr     v0.16b, v0.16b, v2.16b",
                "    umaxv   s0, v0.4s",
                "    fmov    {t:w}, s0",
                "    cbz     {t:w}, 3f",
                "    stp     q4, q4, [{d}]",
                "    stp     q4, q4, [{d}, #32]",
                "3:  add     {d}, {d}, #64",
                "    subs    {n}, {n}, #1",
                "    b.ne    2b",
                d = inout(reg) dst.as_mut_ptr() => _,
                n = inout(reg) blocks => _,
                t = out(reg) _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _,
                options(nostack),
            );
        }
    }
    let done = blocks * 64;
    modloader::store::zero_changed(&mut dst[done..]);
}
