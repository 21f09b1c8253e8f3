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
//! accesses, never through `memcpy`. `memmove` and `memcmp` stay
//! compiler_builtins' (its `mem` functions are weak, so these definitions take
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
