//! The multiply-accumulate row kernel of RSA verification's Montgomery
//! products in AArch64 assembly: `t += (a0..a3) * b`, four rows of operand
//! scanning at once (`rsa_verify::RowKernel::Aarch64`), and the same with the
//! four Montgomery digits of a reduction block computed first.
//!
//! Rust gives no way to ask for an add-with-carry chain, and the compiler's
//! code for `u128` sums keeps materialising carries (10 instructions per
//! limb product in the product-scanning Montgomery of the previous version).
//! Here each limb `b[j]` meets the four `a` limbs held in registers; the four
//! columns `j..j+3` it touches live in a window of four registers plus one
//! carry bit, so per product there are just `MUL`, `UMULH` and two `ADCS`
//! (Arm ARM C6.2: `MUL`/`UMULH` leave NZCV alone, which lets one scratch
//! register serve every product between the additions of a chain). The
//! portable twin, `rsa_verify::addmul4_portable`, computes the same thing and
//! is checked equal to this under `qemu-aarch64` (`ce-check.sh`).

core::arch::global_asm!(
    // Step of one b limb: window w0..w3 (columns j..j+3), w4 the new column
    // j+4 (starts as t[j+4] plus the pending carry x13), b the b limb, t the
    // t[j+4] limb. Chain one adds the low halves, chain two the high halves;
    // x13 ends as the carry into column j+5 (at most 1: the window below
    // column j+5 is < 2^257, see rsa_verify::addmul4_portable).
    ".macro modsign_step w0, w1, w2, w3, w4, b, t",
    "mul x14, x4, \\b",
    "adds \\w0, \\w0, x14",
    "mul x14, x5, \\b",
    "adcs \\w1, \\w1, x14",
    "mul x14, x6, \\b",
    "adcs \\w2, \\w2, x14",
    "mul x14, x7, \\b",
    "adcs \\w3, \\w3, x14",
    "adcs \\w4, \\t, x13",
    "cset x13, cs",
    "umulh x14, x4, \\b",
    "adds \\w1, \\w1, x14",
    "umulh x14, x5, \\b",
    "adcs \\w2, \\w2, x14",
    "umulh x14, x6, \\b",
    "adcs \\w3, \\w3, x14",
    "umulh x14, x7, \\b",
    "adcs \\w4, \\w4, x14",
    "adc x13, x13, xzr",
    ".endm",
    "",
    // Four steps, window R[k..k+4] of x8..x12, x19 (indices mod 6) at the
    // start and R[k+4..k+8] at the end: the window's registers rotate by one
    // a step, and the three bodies below, chained 0, 4, 2, 0, ..., follow the
    // rotation instead of copying registers back. With six registers for a
    // five-limb window, the two columns finished by two steps are still in
    // registers after them: one STP. x0 points at t[j]; t[j+4], t[j+5] are
    // at [x0, #32] (the stores before they are loaded are to t[..j]).
    ".macro modsign_quad r0, r1, r2, r3, r4, r5",
    "ldp x15, x16, [x1], #16",
    "ldp x17, x3, [x0, #32]",
    "modsign_step \\r0, \\r1, \\r2, \\r3, \\r4, x15, x17",
    "modsign_step \\r1, \\r2, \\r3, \\r4, \\r5, x16, x3",
    "stp \\r0, \\r1, [x0], #16",
    "ldp x15, x16, [x1], #16",
    "ldp x17, x3, [x0, #32]",
    "modsign_step \\r2, \\r3, \\r4, \\r5, \\r0, x15, x17",
    "modsign_step \\r3, \\r4, \\r5, \\r0, \\r1, x16, x3",
    "stp \\r2, \\r3, [x0], #16",
    ".endm",
    // u64 modsign_mont_addmul4(u64 *t, const u64 *b, usize len, const u64 a[4]):
    // t[0..len+4] += a * b[0..len], returns the carry out of t[len+3] (0 or 1).
    // len is a non-zero multiple of 4. x4..x7 a; x8..x12 and x19 (saved) the
    // rotating window; x13 the carry; x14 scratch; x15/x16 b limbs; x17/x3 t
    // limbs.
    ".text",
    ".balign 16",
    ".global modsign_mont_addmul4",
    ".type modsign_mont_addmul4, %function",
    "modsign_mont_addmul4:",
    "str x19, [sp, #-16]!",
    "ldp x4, x5, [x3]",
    "ldp x6, x7, [x3, #16]",
    "ldp x8, x9, [x0]",
    "ldp x10, x11, [x0, #16]",
    "mov x13, xzr",
    "b 200f",
    "",
    // u64 modsign_mont_redc4(u64 *t, const u64 *n, usize len, u64 n_neg_inv):
    // the four Montgomery digits m that clear t[0..4] (m[p] = u[p] n_neg_inv,
    // u being t plus m[..p] n so far; only columns below 4 matter), then
    // t[0..len+4] += m * n[0..len] as modsign_mont_addmul4, whose loop it
    // shares. x4..x7 m; x8..x11 the columns; x14..x17 n[0..4]; x12 scratch.
    ".balign 16",
    ".global modsign_mont_redc4",
    ".type modsign_mont_redc4, %function",
    "modsign_mont_redc4:",
    "str x19, [sp, #-16]!",
    "ldp x8, x9, [x0]",
    "ldp x10, x11, [x0, #16]",
    "ldp x15, x16, [x1]",
    "ldp x17, x14, [x1, #16]",
    // m0 and its products into columns 0..3 (column 0 becomes 0).
    "mul x4, x8, x3",
    "mul x12, x4, x15",
    "cmn x8, x12",
    "mul x12, x4, x16",
    "adcs x9, x9, x12",
    "mul x12, x4, x17",
    "adcs x10, x10, x12",
    "mul x12, x4, x14",
    "adc x11, x11, x12",
    "umulh x12, x4, x15",
    "adds x9, x9, x12",
    "umulh x12, x4, x16",
    "adcs x10, x10, x12",
    "umulh x12, x4, x17",
    "adc x11, x11, x12",
    // m1 into columns 1..3.
    "mul x5, x9, x3",
    "mul x12, x5, x15",
    "cmn x9, x12",
    "mul x12, x5, x16",
    "adcs x10, x10, x12",
    "mul x12, x5, x17",
    "adc x11, x11, x12",
    "umulh x12, x5, x15",
    "adds x10, x10, x12",
    "umulh x12, x5, x16",
    "adc x11, x11, x12",
    // m2 into columns 2..3.
    "mul x6, x10, x3",
    "mul x12, x6, x15",
    "cmn x10, x12",
    "mul x12, x6, x16",
    "adc x11, x11, x12",
    "umulh x12, x6, x15",
    "add x11, x11, x12",
    "mul x7, x11, x3",
    // The window starts from t as it was.
    "ldp x8, x9, [x0]",
    "ldp x10, x11, [x0, #16]",
    "mov x13, xzr",
    "200:",
    "modsign_quad x8, x9, x10, x11, x12, x19",
    "subs x2, x2, #4",
    "b.eq 304f",
    "204:",
    "modsign_quad x12, x19, x8, x9, x10, x11",
    "subs x2, x2, #4",
    "b.eq 302f",
    "202:",
    "modsign_quad x10, x11, x12, x19, x8, x9",
    "subs x2, x2, #4",
    "b.eq 300f",
    "b 200b",
    "300:",
    "stp x8, x9, [x0]",
    "stp x10, x11, [x0, #16]",
    "mov x0, x13",
    "ldr x19, [sp], #16",
    "ret",
    "304:",
    "stp x12, x19, [x0]",
    "stp x8, x9, [x0, #16]",
    "mov x0, x13",
    "ldr x19, [sp], #16",
    "ret",
    "302:",
    "stp x10, x11, [x0]",
    "stp x12, x19, [x0, #16]",
    "mov x0, x13",
    "ldr x19, [sp], #16",
    "ret",
    // Both functions end here: redc4 falls into the loop at 200.
    ".size modsign_mont_addmul4, . - modsign_mont_addmul4",
    ".size modsign_mont_redc4, . - modsign_mont_redc4",
    ".purgem modsign_quad",
    ".purgem modsign_step",
);

extern "C" {
    /// `t[0..len+4] += a * b[0..len]`, the carry out returned.
    ///
    /// # Safety
    /// `len` is a non-zero multiple of 4, `b` is valid for reading `len`
    /// limbs, `a` for reading 4, `t` for reading and writing `len + 4`, and
    /// `t` overlaps neither `a` nor `b`.
    pub fn modsign_mont_addmul4(t: *mut u64, b: *const u64, len: usize, a: *const u64) -> u64;

    /// The four Montgomery digits `m` that clear `t[0..4]` (`n_neg_inv =
    /// -n^-1 mod 2^64`), then `t[0..len+4] += m * n[0..len]`, the carry out
    /// returned: `t[0..4]` ends zero.
    ///
    /// # Safety
    /// `len` is a non-zero multiple of 4, `n` is valid for reading `len`
    /// limbs, `t` for reading and writing `len + 4`, and they do not overlap.
    pub fn modsign_mont_redc4(t: *mut u64, n: *const u64, len: usize, n_neg_inv: u64) -> u64;
}
