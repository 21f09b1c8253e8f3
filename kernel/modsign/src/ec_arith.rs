//! Multi-limb integer and modular arithmetic shared by the ECDSA checks
//! ([`crate::p256_verify`], [`crate::p384_verify`]): numbers of `L`
//! little-endian `u64` limbs (4 for P-256, 6 for P-384), and arithmetic mod an
//! odd `m` of `L` limbs with its top bit set (p or n).
//!
//! Invariants: modular operands are fully reduced (below m) and so are
//! results. Everything is variable-time: only public values pass through.
//! The small helpers are `#[inline(always)]` where the point formulas call
//! them, so a curve's field product and its additions stay in registers.

/// An `L`-limb number: little-endian 64-bit limbs.
pub(crate) type Limbs<const L: usize> = [u64; L];

/// `a + b + carry`: (sum, carry out).
#[inline(always)]
pub(crate) fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = a as u128 + b as u128 + carry as u128;
    (t as u64, (t >> 64) as u64)
}

/// `a - b - borrow`: (difference, borrow out, 0 or 1).
#[inline(always)]
pub(crate) const fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let t = (a as u128).wrapping_sub(b as u128 + borrow as u128);
    (t as u64, (t >> 127) as u64)
}

/// `a + b`: (sum mod 2^(64 L), carry out).
#[inline(always)]
pub(crate) fn add_limbs<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> (Limbs<L>, u64) {
    let mut out = [0; L];
    let mut carry = 0;
    for i in 0..L {
        (out[i], carry) = adc(a[i], b[i], carry);
    }
    (out, carry)
}

/// `a - b`: (difference mod 2^(64 L), borrow out). A `const fn` (so `while`)
/// for the curves' constants.
#[inline(always)]
pub(crate) const fn sub_limbs<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> (Limbs<L>, u64) {
    let mut out = [0; L];
    let mut borrow = 0;
    let mut i = 0;
    while i < L {
        (out[i], borrow) = sbb(a[i], b[i], borrow);
        i += 1;
    }
    (out, borrow)
}

/// `a < b`.
pub(crate) fn less_than<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> bool {
    sub_limbs(a, b).1 == 1
}

// Comparisons limb by limb: `==` on arrays becomes a call to memcmp.

#[inline(always)]
pub(crate) fn is_zero<const L: usize>(a: &Limbs<L>) -> bool {
    a.iter().fold(0, |acc, limb| acc | limb) == 0
}

pub(crate) fn is_one<const L: usize>(a: &Limbs<L>) -> bool {
    a[0] == 1 && a[1..].iter().fold(0, |acc, limb| acc | limb) == 0
}

pub(crate) fn equal<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> bool {
    let mut diff = 0;
    for i in 0..L {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

/// `(a + 2^(64 L) carry) / 2`.
pub(crate) fn shift_right_1<const L: usize>(a: &Limbs<L>, carry: u64) -> Limbs<L> {
    let mut out = [0; L];
    for i in 0..L - 1 {
        out[i] = a[i] >> 1 | a[i + 1] << 63;
    }
    out[L - 1] = a[L - 1] >> 1 | carry << 63;
    out
}

/// Bit `i` (0: least significant) of `a`.
pub(crate) fn bit<const L: usize>(a: &Limbs<L>, i: usize) -> usize {
    (a[i / 64] >> (i % 64)) as usize & 1
}

/// An `8 L`-byte big-endian number.
pub(crate) fn from_be_bytes<const L: usize>(bytes: &[u8]) -> Limbs<L> {
    debug_assert_eq!(bytes.len(), 8 * L);
    let mut out = [0; L];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks_exact(8)) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(word);
    }
    out
}

/// `a` into `out`, `8 L` bytes, big-endian.
pub(crate) fn write_be_bytes<const L: usize>(a: &Limbs<L>, out: &mut [u8]) {
    debug_assert_eq!(out.len(), 8 * L);
    for (limb, chunk) in a.iter().zip(out.rchunks_exact_mut(8)) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
}

// Constants, computed by the compiler.

/// `-m0^-1 mod 2^64` for odd m0.
pub(crate) const fn neg_inverse_mod_2_64(m0: u64) -> u64 {
    // x = 1 is m0^-1 to 1 bit (m0 odd); each Newton step x (2 - m0 x) doubles
    // the correct low bits: 2, 4, ..., 64 after six.
    let mut x: u64 = 1;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(m0.wrapping_mul(x)));
        i += 1;
    }
    x.wrapping_neg()
}

/// `R^2 mod m`, `R = 2^(64 L)`, by `128 L` modular doublings of 1 (m above
/// `2^(64 L - 1)`).
pub(crate) const fn r_squared<const L: usize>(m: &Limbs<L>) -> Limbs<L> {
    let mut x: Limbs<L> = [0; L];
    x[0] = 1;
    let mut step = 0;
    while step < 128 * L {
        let carry = x[L - 1] >> 63;
        let mut doubled = [0; L];
        let mut i = 0;
        while i < L {
            doubled[i] = x[i] << 1 | if i == 0 { 0 } else { x[i - 1] >> 63 };
            i += 1;
        }
        // doubled + 2^(64 L) carry < 2m: one subtraction reduces it.
        let (reduced, borrow) = sub_limbs(&doubled, m);
        x = if carry == 1 || borrow == 0 {
            reduced
        } else {
            doubled
        };
        step += 1;
    }
    x
}

// ---------------------------------------------------------------------------
// Arithmetic mod m, on fully reduced operands

/// `a + b mod m`.
#[inline(always)]
pub(crate) fn add_mod<const L: usize>(a: &Limbs<L>, b: &Limbs<L>, m: &Limbs<L>) -> Limbs<L> {
    let (sum, carry) = add_limbs(a, b);
    let (reduced, borrow) = sub_limbs(&sum, m);
    if carry == 1 || borrow == 0 {
        reduced
    } else {
        sum
    }
}

/// `a - b mod m`.
#[inline(always)]
pub(crate) fn sub_mod<const L: usize>(a: &Limbs<L>, b: &Limbs<L>, m: &Limbs<L>) -> Limbs<L> {
    let (diff, borrow) = sub_limbs(a, b);
    if borrow == 1 {
        add_limbs(&diff, m).0
    } else {
        diff
    }
}

/// `a / 2 mod m`, m odd.
pub(crate) fn half_mod<const L: usize>(a: &Limbs<L>, m: &Limbs<L>) -> Limbs<L> {
    if a[0] & 1 == 0 {
        shift_right_1(a, 0)
    } else {
        let (sum, carry) = add_limbs(a, m);
        shift_right_1(&sum, carry)
    }
}

/// The running value of a Montgomery product: `L` limbs and the limb above
/// them, `< 2m` between rows.
pub(crate) struct MontAcc<const L: usize> {
    low: Limbs<L>,
    high: u64,
}

impl<const L: usize> MontAcc<L> {
    #[inline(always)]
    pub(crate) fn new() -> MontAcc<L> {
        MontAcc {
            low: [0; L],
            high: 0,
        }
    }

    /// One row of [`mont_mul`]: `t = (t + a bi + q m) / 2^64`, q chosen so
    /// the division is exact (coarsely integrated operand scanning, Koç,
    /// Acar, Kaliski 1996).
    #[inline(always)]
    pub(crate) fn row(&mut self, a: &Limbs<L>, bi: u64, m: &Limbs<L>, m_inv: u64) {
        let t = &mut self.low;
        let mut carry = 0;
        for j in 0..L {
            let uv = t[j] as u128 + a[j] as u128 * bi as u128 + carry as u128;
            t[j] = uv as u64;
            carry = (uv >> 64) as u64;
        }
        let (t_l, t_l1) = adc(self.high, carry, 0);
        // Add q m, q chosen so the low limb becomes 0, and shift it out.
        let q = t[0].wrapping_mul(m_inv);
        let mut carry = ((t[0] as u128 + q as u128 * m[0] as u128) >> 64) as u64;
        for j in 1..L {
            let uv = t[j] as u128 + q as u128 * m[j] as u128 + carry as u128;
            t[j - 1] = uv as u64;
            carry = (uv >> 64) as u64;
        }
        let (low, high) = adc(t_l, carry, 0);
        t[L - 1] = low;
        self.high = t_l1 + high;
    }

    /// The end of [`mont_mul`]: `t < 2m` reduced below m.
    #[inline(always)]
    pub(crate) fn finish(&self, m: &Limbs<L>) -> Limbs<L> {
        let (reduced, borrow) = sub_limbs(&self.low, m);
        if self.high != 0 || borrow == 0 {
            reduced
        } else {
            self.low
        }
    }
}

/// Montgomery product `a b R^-1 mod m`, for `a b < m R`: the result is below m.
#[inline(always)]
pub(crate) fn mont_mul<const L: usize>(
    a: &Limbs<L>,
    b: &Limbs<L>,
    m: &Limbs<L>,
    m_inv: u64,
) -> Limbs<L> {
    let mut t = MontAcc::new();
    for &bi in b {
        t.row(a, bi, m, m_inv);
    }
    t.finish(m)
}

/// `a^-1 mod m` for `0 < a < m`, m prime (p or n), by the binary extended
/// Euclidean algorithm (Menezes, van Oorschot, Vanstone, Handbook of Applied
/// Cryptography, 14.61 in its modular form): keeps `x1 a = u` and `x2 a = v
/// (mod m)` while shrinking u and v to their gcd, 1 because m is prime. u and
/// v are never both even and never equal before one of them is 1. About 16 k
/// instructions at 256 bits; Fermat's `a^(m-2)` would be several times that.
pub(crate) fn invert_mod<const L: usize>(a: &Limbs<L>, m: &Limbs<L>) -> Limbs<L> {
    let mut one = [0; L];
    one[0] = 1;
    let (mut u, mut v) = (*a, *m);
    let (mut x1, mut x2) = (one, [0; L]);
    while !is_one(&u) && !is_one(&v) {
        while u[0] & 1 == 0 {
            u = shift_right_1(&u, 0);
            x1 = half_mod(&x1, m);
        }
        while v[0] & 1 == 0 {
            v = shift_right_1(&v, 0);
            x2 = half_mod(&x2, m);
        }
        let (difference, borrow) = sub_limbs(&u, &v);
        if borrow == 1 {
            v = sub_limbs(&v, &u).0;
            x2 = sub_mod(&x2, &x1, m);
        } else {
            u = difference;
            x1 = sub_mod(&x1, &x2, m);
        }
    }
    if is_one(&u) {
        x1
    } else {
        x2
    }
}
