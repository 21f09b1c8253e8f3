//! ECDSA P-384 signature verification (FIPS 186-4 6.4, SEC 1 v2 4.1.4) in
//! variable time, for module signatures: the `p384` + `ecdsa` crates' answer
//! with none of their code in the kernel.
//!
//! Verification handles only public values (the key, the signature, the
//! digest), so nothing here is constant-time: branches and table indices
//! depend on the data, and special cases (the point at infinity, adding a
//! point to itself) are handled by branching when they occur.
//!
//! - Field elements mod p and scalars mod n are 6 little-endian `u64` limbs;
//!   field elements are in Montgomery form (`a R mod p`, `R = 2^384`), always
//!   fully reduced. One Montgomery product (coarsely integrated operand
//!   scanning) serves both moduli, each with its own `-m^-1 mod 2^64`; unlike
//!   P-256's p, P-384's is not `-1 mod 2^64`, so no reduction shortcut.
//! - `s^-1 mod n`, and `z^-1 mod p` in table building, are a binary extended
//!   Euclid, as in [`crate::p256_verify`].
//! - Points are Jacobian `(X, Y, Z)` for `(X/Z^2, Y/Z^3)`, `Z = 0` the point
//!   at infinity; tables hold affine points, added with mixed additions (the
//!   same Explicit-Formulas Database formulas as P-256's, for a = -3).
//! - `u1 G + u2 Q` is an interleaved width-w NAF (Shamir's trick with signed
//!   windows; Hankerson, Menezes, Vanstone, Guide to ECC, 3.51) over four
//!   scalars: each of u1, u2 cut in two 192-bit halves, `u = u_low + 2^192
//!   u_high`, against tables of P and of `2^192 P`. One chain of 192
//!   doublings, one mixed addition per non-zero digit (about one digit in w +
//!   1). The odd multiples `P, 3P, ..., (2^(w-1) - 1) P` of both are built
//!   once: G's (w = [`G_WINDOW`]) on the first verification of any key, a
//!   key's (w = [`Q_WINDOW`]; 192 doublings, 14 additions, two inversions)
//!   on its own first verification, kept in the key ([`P384Key`]), so the
//!   kernel Image holds no constant table.
//! - `x(R) mod n == r` is checked without inverting `Z`: `X == r Z^2`, or
//!   `X == (r + n) Z^2` when `r + n < p`.
//!
//! What is accepted is what the `p384` crate's `DerSignature::from_bytes` +
//! `VerifyingKey::verify_prehash` accept (`tests/p384_differential.rs` checks
//! it), with the same two outcomes: a signature that is not strict DER, or
//! whose r or s has more than 48 significant bytes, is
//! [`EcdsaError::MalformedSignature`]; `r` or `s` zero or not below n, the
//! point at infinity or a mismatch is [`EcdsaError::Rejected`]. The digest is
//! read as FIPS 186-4 6.4 and SEC 1 4.1.4 step 5 say (bits2int): its leftmost
//! 384 bits (SHA-512's first 48 bytes), a shorter one as the number it is,
//! then reduced mod n. Keys: uncompressed and compressed SEC1 points on the
//! curve ([`P384Key::from_sec1`]); the compact form (tag `0x05`) is refused,
//! as for P-256.

use alloc::vec::Vec;
use core::fmt;

pub use crate::p256_verify::{EcdsaError, KeyError};

/// A 384-bit number: little-endian 64-bit limbs.
type Limbs = [u64; 6];

/// The field prime p = 2^384 - 2^128 - 2^96 + 2^32 - 1 (FIPS 186-4 D.1.2.4).
const P: Limbs = [
    0x0000_0000_FFFF_FFFF,
    0xFFFF_FFFF_0000_0000,
    0xFFFF_FFFF_FFFF_FFFE,
    0xFFFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_FFFF,
];
/// The group order n (FIPS 186-4 D.1.2.4).
const N: Limbs = [
    0xECEC_196A_CCC5_2973,
    0x581A_0DB2_48B0_A77A,
    0xC763_4D81_F437_2DDF,
    0xFFFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_FFFF,
];
/// The curve's b (FIPS 186-4 D.1.2.4), plain.
const B: Limbs = [
    0x2A85_C8ED_D3EC_2AEF,
    0xC656_398D_8A2E_D19D,
    0x0314_088F_5013_875A,
    0x181D_9C6E_FE81_4112,
    0x988E_056B_E3F8_2D19,
    0xB331_2FA7_E23E_E7E4,
];
/// The base point G (FIPS 186-4 D.1.2.4), plain.
const G_X: Limbs = [
    0x3A54_5E38_7276_0AB7,
    0x5502_F25D_BF55_296C,
    0x59F7_41E0_8254_2A38,
    0x6E1D_3B62_8BA7_9B98,
    0x8EB1_C71E_F320_AD74,
    0xAA87_CA22_BE8B_0537,
];
const G_Y: Limbs = [
    0x7A43_1D7C_90EA_0E5F,
    0x0A60_B1CE_1D7E_819D,
    0xE9DA_3113_B5F0_B8C0,
    0xF8F4_1DBD_289A_147C,
    0x5D9E_98BF_9292_DC29,
    0x3617_DE4A_9626_2C6F,
];

/// `-p^-1 mod 2^64` and `-n^-1 mod 2^64`.
const P_INV: u64 = neg_inverse_mod_2_64(P[0]);
const N_INV: u64 = neg_inverse_mod_2_64(N[0]);
/// `R^2 mod p` and `R^2 mod n`: a product with them enters Montgomery form.
const R2_P: Limbs = r_squared(&P);
const R2_N: Limbs = r_squared(&N);
/// 1 in Montgomery form mod p: `R mod p = 2^384 - p`.
const ONE_P: Limbs = sub_limbs(&[0; 6], &P).0;

const ZERO: Limbs = [0; 6];
const ONE: Limbs = [1, 0, 0, 0, 0, 0];

// ---------------------------------------------------------------------------
// 384-bit integers

/// `a + b + carry`: (sum, carry out).
#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = a as u128 + b as u128 + carry as u128;
    (t as u64, (t >> 64) as u64)
}

/// `a - b - borrow`: (difference, borrow out, 0 or 1).
#[inline(always)]
const fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let t = (a as u128).wrapping_sub(b as u128 + borrow as u128);
    (t as u64, (t >> 127) as u64)
}

/// `a + b`: (sum mod 2^384, carry out).
#[inline(always)]
fn add_limbs(a: &Limbs, b: &Limbs) -> (Limbs, u64) {
    let mut out = [0; 6];
    let mut carry = 0;
    for i in 0..6 {
        (out[i], carry) = adc(a[i], b[i], carry);
    }
    (out, carry)
}

/// `a - b`: (difference mod 2^384, borrow out). A `const fn` (so `while`)
/// for the constants above.
#[inline(always)]
const fn sub_limbs(a: &Limbs, b: &Limbs) -> (Limbs, u64) {
    let mut out = [0; 6];
    let mut borrow = 0;
    let mut i = 0;
    while i < 6 {
        (out[i], borrow) = sbb(a[i], b[i], borrow);
        i += 1;
    }
    (out, borrow)
}

/// `a < b`.
fn less_than(a: &Limbs, b: &Limbs) -> bool {
    sub_limbs(a, b).1 == 1
}

// Comparisons limb by limb: `==` on arrays becomes a call to memcmp.
fn is_zero(a: &Limbs) -> bool {
    a[0] | a[1] | a[2] | a[3] | a[4] | a[5] == 0
}

fn is_one(a: &Limbs) -> bool {
    a[0] == 1 && a[1] | a[2] | a[3] | a[4] | a[5] == 0
}

fn equal(a: &Limbs, b: &Limbs) -> bool {
    let mut diff = 0;
    for i in 0..6 {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

/// `(a + 2^384 carry) / 2`.
fn shift_right_1(a: &Limbs, carry: u64) -> Limbs {
    let mut out = [0; 6];
    for i in 0..5 {
        out[i] = a[i] >> 1 | a[i + 1] << 63;
    }
    out[5] = a[5] >> 1 | carry << 63;
    out
}

/// Bit `i` (0: least significant) of `a`.
fn bit(a: &Limbs, i: usize) -> usize {
    (a[i / 64] >> (i % 64)) as usize & 1
}

/// A 48-byte big-endian number.
fn from_be_bytes(bytes: &[u8; 48]) -> Limbs {
    let mut out = [0; 6];
    for (i, chunk) in bytes.rchunks_exact(8).enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        out[i] = u64::from_be_bytes(word);
    }
    out
}

fn to_be_bytes(a: &Limbs) -> [u8; 48] {
    let mut out = [0; 48];
    for (i, chunk) in out.rchunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&a[i].to_be_bytes());
    }
    out
}

// The constants above, computed by the compiler.

const fn neg_inverse_mod_2_64(m0: u64) -> u64 {
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

/// `2^768 mod m`, by 768 modular doublings of 1 (m > 2^383).
const fn r_squared(m: &Limbs) -> Limbs {
    let mut x: Limbs = [1, 0, 0, 0, 0, 0];
    let mut step = 0;
    while step < 768 {
        let carry = x[5] >> 63;
        let mut doubled = [0; 6];
        let mut i = 0;
        while i < 6 {
            doubled[i] = x[i] << 1 | if i == 0 { 0 } else { x[i - 1] >> 63 };
            i += 1;
        }
        // doubled + 2^384 carry < 2m: one subtraction reduces it.
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
// Arithmetic mod m (p or n), on fully reduced operands

/// `a + b mod m`.
#[inline(always)]
fn add_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
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
fn sub_mod(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let (diff, borrow) = sub_limbs(a, b);
    if borrow == 1 {
        add_limbs(&diff, m).0
    } else {
        diff
    }
}

/// Montgomery product `a b R^-1 mod m` (coarsely integrated operand scanning,
/// Koç, Acar, Kaliski 1996), for `a b < m R`: the result is below m.
#[inline(always)]
fn mont_mul(a: &Limbs, b: &Limbs, m: &Limbs, m_inv: u64) -> Limbs {
    let mut t = [0u64; 8];
    for &bi in b {
        mont_row(&mut t, a, bi, m, m_inv);
    }
    mont_finish(&t, m)
}

/// One row of [`mont_mul`]: `t = (t + a bi + q m) / 2^64`, q chosen so the
/// division is exact. `t < 2m` before and after.
#[inline(always)]
fn mont_row(t: &mut [u64; 8], a: &Limbs, bi: u64, m: &Limbs, m_inv: u64) {
    let mut carry = 0;
    for j in 0..6 {
        let uv = t[j] as u128 + a[j] as u128 * bi as u128 + carry as u128;
        t[j] = uv as u64;
        carry = (uv >> 64) as u64;
    }
    (t[6], t[7]) = adc(t[6], carry, 0);
    // Add q m, q chosen so the low limb becomes 0, and shift it out.
    let q = t[0].wrapping_mul(m_inv);
    let mut carry = ((t[0] as u128 + q as u128 * m[0] as u128) >> 64) as u64;
    for j in 1..6 {
        let uv = t[j] as u128 + q as u128 * m[j] as u128 + carry as u128;
        t[j - 1] = uv as u64;
        carry = (uv >> 64) as u64;
    }
    let (low, high) = adc(t[6], carry, 0);
    t[5] = low;
    t[6] = t[7] + high;
    t[7] = 0;
}

/// The end of [`mont_mul`]: `t < 2m` (six limbs and a carry) reduced below m.
#[inline(always)]
fn mont_finish(t: &[u64; 8], m: &Limbs) -> Limbs {
    let low = [t[0], t[1], t[2], t[3], t[4], t[5]];
    let (reduced, borrow) = sub_limbs(&low, m);
    if t[6] != 0 || borrow == 0 {
        reduced
    } else {
        low
    }
}

// Field mod p, Montgomery form.

fn fe_add(a: &Limbs, b: &Limbs) -> Limbs {
    add_mod(a, b, &P)
}

fn fe_sub(a: &Limbs, b: &Limbs) -> Limbs {
    sub_mod(a, b, &P)
}

fn fe_neg(a: &Limbs) -> Limbs {
    sub_mod(&ZERO, a, &P)
}

/// `a b R^-1 mod p`: [`mont_mul`] with its six rows written out, so the
/// compiler sees p's limbs in each (its products by `2^64 - 1` become a
/// shift and a subtraction) and keeps t in registers.
fn fe_mul(a: &Limbs, b: &Limbs) -> Limbs {
    let mut t = [0u64; 8];
    mont_row(&mut t, a, b[0], &P, P_INV);
    mont_row(&mut t, a, b[1], &P, P_INV);
    mont_row(&mut t, a, b[2], &P, P_INV);
    mont_row(&mut t, a, b[3], &P, P_INV);
    mont_row(&mut t, a, b[4], &P, P_INV);
    mont_row(&mut t, a, b[5], &P, P_INV);
    mont_finish(&t, &P)
}

fn fe_sqr(a: &Limbs) -> Limbs {
    fe_mul(a, a)
}

/// A plain number below p into Montgomery form.
fn fe_from_plain(a: &Limbs) -> Limbs {
    fe_mul(a, &R2_P)
}

/// Montgomery form back to the plain number.
fn fe_to_plain(a: &Limbs) -> Limbs {
    fe_mul(a, &ONE)
}

/// `a^e` by left-to-right square-and-multiply (public exponents only).
fn fe_pow(a: &Limbs, e: &Limbs) -> Limbs {
    let mut acc = ONE_P;
    for i in (0..384).rev() {
        acc = fe_sqr(&acc);
        if bit(e, i) == 1 {
            acc = fe_mul(&acc, a);
        }
    }
    acc
}

/// `a^-1` in Montgomery form, for `a != 0`: the plain inverse of `a R` is
/// `a^-1 R^-1`, and two products with `R^2` make it `a^-1 R`. By Euclid
/// ([`invert_mod`]) rather than Fermat's `a^(p-2)` (p-2 has 318 one bits: 384
/// squarings and 318 products), which cost some 340 k instructions more per
/// inversion (4 on a key's first verification). Table building only.
fn fe_invert(a: &Limbs) -> Limbs {
    fe_mul(&fe_mul(&invert_mod(a, &P), &R2_P), &R2_P)
}

/// A square root of `a`, if `a` is a square: `a^((p+1)/4)` (p = 3 mod 4).
fn fe_sqrt(a: &Limbs) -> Option<Limbs> {
    let (p_plus_1, carry) = add_limbs(&P, &ONE);
    let exponent = shift_right_1(&shift_right_1(&p_plus_1, carry), 0);
    let root = fe_pow(a, &exponent);
    equal(&fe_sqr(&root), a).then_some(root)
}

/// `x^3 - 3x + b`, the curve's right-hand side, all Montgomery.
fn curve_rhs(x: &Limbs) -> Limbs {
    let x3 = fe_mul(&fe_sqr(x), x);
    let three_x = fe_add(&fe_add(x, x), x);
    fe_add(&fe_sub(&x3, &three_x), &fe_from_plain(&B))
}

// Scalars mod n (plain form; Montgomery products undone at once).

/// `a b mod n`, for `a < 2^384`, `b < n`.
fn scalar_mul(a: &Limbs, b: &Limbs) -> Limbs {
    mont_mul(&mont_mul(a, b, &N, N_INV), &R2_N, &N, N_INV)
}

/// `a / 2 mod m`, m odd.
fn half_mod(a: &Limbs, m: &Limbs) -> Limbs {
    if a[0] & 1 == 0 {
        shift_right_1(a, 0)
    } else {
        let (sum, carry) = add_limbs(a, m);
        shift_right_1(&sum, carry)
    }
}

/// `a^-1 mod m` for `0 < a < m`, m prime (p or n), by the binary extended
/// Euclidean algorithm (Menezes, van Oorschot, Vanstone, Handbook of Applied
/// Cryptography, 14.61 in its modular form), as `p256_verify::scalar_invert`:
/// keeps `x1 a = u` and `x2 a = v (mod m)` while shrinking u and v to their
/// gcd, 1 because m is prime.
fn invert_mod(a: &Limbs, m: &Limbs) -> Limbs {
    let (mut u, mut v) = (*a, *m);
    let (mut x1, mut x2) = (ONE, ZERO);
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

// ---------------------------------------------------------------------------
// Points

/// An affine point other than the point at infinity, coordinates in
/// Montgomery form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Affine {
    x: Limbs,
    y: Limbs,
}

impl Affine {
    fn negate(&self) -> Affine {
        Affine {
            x: self.x,
            y: fe_neg(&self.y),
        }
    }
}

/// A Jacobian point; `z == 0` is the point at infinity.
#[derive(Clone, Copy)]
struct Jacobian {
    x: Limbs,
    y: Limbs,
    z: Limbs,
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian {
        x: ONE_P,
        y: ONE_P,
        z: ZERO,
    };

    fn from_affine(a: &Affine) -> Jacobian {
        Jacobian {
            x: a.x,
            y: a.y,
            z: ONE_P,
        }
    }

    fn is_infinity(&self) -> bool {
        is_zero(&self.z)
    }

    /// `2 self`, "dbl-2001-b" for a = -3 (Bernstein, Lange, Explicit-Formulas
    /// Database): 3M + 5S. The point at infinity stays there (Z3 = 0); P-384
    /// has no point of order 2, so no other point doubles to it.
    fn double(&self) -> Jacobian {
        let delta = fe_sqr(&self.z);
        let gamma = fe_sqr(&self.y);
        let beta = fe_mul(&self.x, &gamma);
        let t = fe_mul(&fe_sub(&self.x, &delta), &fe_add(&self.x, &delta));
        let alpha = fe_add(&fe_add(&t, &t), &t);
        let beta2 = fe_add(&beta, &beta);
        let beta4 = fe_add(&beta2, &beta2);
        let beta8 = fe_add(&beta4, &beta4);
        let x3 = fe_sub(&fe_sqr(&alpha), &beta8);
        let y_plus_z = fe_add(&self.y, &self.z);
        let z3 = fe_sub(&fe_sub(&fe_sqr(&y_plus_z), &gamma), &delta);
        let gamma_sq = fe_sqr(&gamma);
        let g2 = fe_add(&gamma_sq, &gamma_sq);
        let g4 = fe_add(&g2, &g2);
        let g8 = fe_add(&g4, &g4);
        let y3 = fe_sub(&fe_mul(&alpha, &fe_sub(&beta4, &x3)), &g8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `self + q`, "madd-2007-bl" (Explicit-Formulas Database): 7M + 4S, with
    /// the cases it does not cover (self at infinity, self = ±q) branched on.
    fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = fe_sqr(&self.z);
        let u2 = fe_mul(&q.x, &z1z1);
        let s2 = fe_mul(&fe_mul(&q.y, &self.z), &z1z1);
        let h = fe_sub(&u2, &self.x);
        let s2_minus_y1 = fe_sub(&s2, &self.y);
        if is_zero(&h) {
            return if is_zero(&s2_minus_y1) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = fe_sqr(&h);
        let hh2 = fe_add(&hh, &hh);
        let i = fe_add(&hh2, &hh2);
        let j = fe_mul(&h, &i);
        let r = fe_add(&s2_minus_y1, &s2_minus_y1);
        let v = fe_mul(&self.x, &i);
        let x3 = fe_sub(&fe_sub(&fe_sqr(&r), &j), &fe_add(&v, &v));
        let y1j = fe_mul(&self.y, &j);
        let y3 = fe_sub(&fe_mul(&r, &fe_sub(&v, &x3)), &fe_add(&y1j, &y1j));
        let z1_plus_h = fe_add(&self.z, &h);
        let z3 = fe_sub(&fe_sub(&fe_sqr(&z1_plus_h), &z1z1), &hh);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// Every point to affine with one field inversion (Montgomery's trick); `None`
/// if one of them is the point at infinity.
fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = ONE_P;
    for p in points {
        if p.is_infinity() {
            return None;
        }
        acc = fe_mul(&acc, &p.z);
        prefix.push(acc);
    }
    let mut inverse = fe_invert(&acc);
    let mut out = Vec::with_capacity(points.len());
    out.resize(points.len(), Affine { x: ZERO, y: ZERO });
    for i in (0..points.len()).rev() {
        let z_inv = if i == 0 {
            inverse
        } else {
            fe_mul(&inverse, &prefix[i - 1])
        };
        inverse = fe_mul(&inverse, &points[i].z);
        let z_inv2 = fe_sqr(&z_inv);
        out[i] = Affine {
            x: fe_mul(&points[i].x, &z_inv2),
            y: fe_mul(&points[i].y, &fe_mul(&z_inv2, &z_inv)),
        };
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Interleaved wNAF

/// G's NAF width: 2^(G_WINDOW - 2) = 32 odd multiples of G and of 2^192 G
/// (6 KiB, built once).
const G_WINDOW: u32 = 7;
/// A key's NAF width: 8 odd multiples of Q and of 2^192 Q (1.5 KiB per key).
const Q_WINDOW: u32 = 5;
/// Where a scalar is cut: `k = k_low + 2^HALF k_high`, both below 2^HALF.
const HALF: usize = 192;
/// Digits of a NAF of a number below 2^HALF: one more than its bits.
const NAF_DIGITS: usize = HALF + 1;

/// A point's tables: the odd multiples `P, 3P, ..., (2 count - 1) P` of P and
/// of `2^HALF P`, affine.
struct Multiples {
    low: Vec<Affine>,
    high: Vec<Affine>,
}

/// The [`Multiples`] of `point`, `count` each; `None` if one of them is the
/// point at infinity (never, for a point of order n: these are multiples by
/// numbers between 0 and n).
fn odd_multiples(point: &Affine, count: usize) -> Option<Multiples> {
    let base = Jacobian::from_affine(point);
    let mut high = base;
    for _ in 0..HALF {
        high = high.double();
    }
    // Both bases' doubles, and the high base, affine with one inversion.
    let steps = batch_to_affine(&[base.double(), high, high.double()])?;
    let (twice, high_base, high_twice) = (steps[0], steps[1], steps[2]);
    let mut multiples = Vec::with_capacity(2 * count);
    for (start, step) in [(point, twice), (&high_base, high_twice)] {
        let mut current = Jacobian::from_affine(start);
        multiples.push(current);
        for _ in 1..count {
            current = current.add_affine(&step);
            multiples.push(current);
        }
    }
    let mut low = batch_to_affine(&multiples)?;
    let high = low.split_off(count);
    Some(Multiples { low, high })
}

/// G's multiples, built by the first verification of any key.
static G_MULTIPLES: spin::Once<Option<Multiples>> = spin::Once::new();

fn g_multiples() -> Option<&'static Multiples> {
    G_MULTIPLES
        .call_once(|| {
            let g = Affine {
                x: fe_from_plain(&G_X),
                y: fe_from_plain(&G_Y),
            };
            odd_multiples(&g, 1 << (G_WINDOW - 2))
        })
        .as_ref()
}

/// The width-`w` NAFs (Guide to ECC, 3.35) of `k`'s low and high [`HALF`]
/// bits: digit i odd and below 2^(w-1) in magnitude, or 0; of any w
/// consecutive digits at most one is non-zero. `k = sum of (low i + 2^HALF
/// high i) 2^i`.
fn wnaf_halves(k: &Limbs, w: u32) -> [[i8; NAF_DIGITS]; 2] {
    const HALF_LIMBS: usize = HALF / 64;
    let mut out = [[0i8; NAF_DIGITS]; 2];
    for (half, digits) in out.iter_mut().enumerate() {
        // k grows by at most 2^(w-1) when a negative digit is taken: one more limb.
        let mut k: [u64; HALF_LIMBS + 1] = core::array::from_fn(|i| {
            if i < HALF_LIMBS {
                k[half * HALF_LIMBS + i]
            } else {
                0
            }
        });
        let window = 1u64 << w;
        let mut i = 0;
        while k.iter().any(|&limb| limb != 0) {
            if k[0] & 1 == 1 {
                let low = k[0] & (window - 1);
                let digit = if low >= window / 2 {
                    low as i64 - window as i64
                } else {
                    low as i64
                };
                digits[i] = digit as i8;
                // k -= digit: clears the low w bits.
                if digit >= 0 {
                    let mut borrow = digit as u64;
                    for limb in k.iter_mut() {
                        (*limb, borrow) = sbb(*limb, borrow, 0);
                    }
                } else {
                    let mut carry = digit.unsigned_abs();
                    for limb in k.iter_mut() {
                        (*limb, carry) = adc(*limb, carry, 0);
                    }
                }
            }
            for j in 0..HALF_LIMBS {
                k[j] = k[j] >> 1 | k[j + 1] << 63;
            }
            k[HALF_LIMBS] >>= 1;
            i += 1;
        }
    }
    out
}

/// The table entry for a non-zero NAF digit: `|digit| P`, negated if negative.
fn naf_entry(table: &[Affine], digit: i8) -> Affine {
    let entry = table[usize::from(digit.unsigned_abs() / 2)];
    if digit < 0 {
        entry.negate()
    } else {
        entry
    }
}

/// `u1 G + u2 Q` for scalars below n (zero allowed): four NAFs of 193 digits
/// (each scalar's halves) sharing one chain of 192 doublings.
fn double_scalar_mul(u1: &Limbs, u2: &Limbs, g: &Multiples, q: &Multiples) -> Jacobian {
    let [u1_low, u1_high] = wnaf_halves(u1, G_WINDOW);
    let [u2_low, u2_high] = wnaf_halves(u2, Q_WINDOW);
    let nafs = [
        (&u1_low, &g.low),
        (&u1_high, &g.high),
        (&u2_low, &q.low),
        (&u2_high, &q.high),
    ];
    let mut acc = Jacobian::INFINITY;
    for i in (0..NAF_DIGITS).rev() {
        if !acc.is_infinity() {
            acc = acc.double();
        }
        for (digits, table) in nafs {
            if digits[i] != 0 {
                acc = acc.add_affine(&naf_entry(table, digits[i]));
            }
        }
    }
    acc
}

// ---------------------------------------------------------------------------
// Keys and signatures

/// A P-384 public key: a point on the curve, other than the point at infinity,
/// with its odd multiples once it has verified a signature.
pub struct P384Key {
    point: Affine,
    multiples: spin::Once<Option<Multiples>>,
}

impl Clone for P384Key {
    fn clone(&self) -> P384Key {
        P384Key {
            point: self.point,
            multiples: match self.multiples.get() {
                Some(Some(table)) => spin::Once::initialized(Some(Multiples {
                    low: table.low.clone(),
                    high: table.high.clone(),
                })),
                Some(None) => spin::Once::initialized(None),
                None => spin::Once::new(),
            },
        }
    }
}

impl fmt::Debug for P384Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("P384Key")
            .field("sec1", &HexBytes(&self.to_sec1_uncompressed()))
            .field("table_built", &self.multiples.is_completed())
            .finish()
    }
}

struct HexBytes<'a>(&'a [u8]);

impl fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl PartialEq for P384Key {
    fn eq(&self, other: &P384Key) -> bool {
        self.point == other.point
    }
}

impl Eq for P384Key {}

impl P384Key {
    /// Reads a SEC1 point (SEC 1 v2 2.3.4): uncompressed `0x04 X Y` (97
    /// bytes) or compressed `0x02/0x03 X` (49 bytes), checked to be on the
    /// curve. These checks are what make the key usable: every other function
    /// trusts them.
    pub fn from_sec1(bytes: &[u8]) -> Result<P384Key, KeyError> {
        let coordinate = |b: &[u8]| -> Result<Limbs, KeyError> {
            let mut word = [0; 48];
            word.copy_from_slice(b);
            let value = from_be_bytes(&word);
            if less_than(&value, &P) {
                Ok(fe_from_plain(&value))
            } else {
                Err(KeyError::CoordinateRange)
            }
        };
        let point = match (bytes.first(), bytes.len()) {
            (Some(0x04), 97) => {
                let x = coordinate(&bytes[1..49])?;
                let y = coordinate(&bytes[49..97])?;
                if !equal(&fe_sqr(&y), &curve_rhs(&x)) {
                    return Err(KeyError::NotOnCurve);
                }
                Affine { x, y }
            }
            (Some(&tag @ (0x02 | 0x03)), 49) => {
                let x = coordinate(&bytes[1..49])?;
                let y = fe_sqrt(&curve_rhs(&x)).ok_or(KeyError::NotOnCurve)?;
                let odd = fe_to_plain(&y)[0] & 1 == 1;
                let y = if odd == (tag == 0x03) { y } else { fe_neg(&y) };
                Affine { x, y }
            }
            (Some(0x00), 1) => return Err(KeyError::Infinity),
            (Some(0x05), 49) => return Err(KeyError::CompactForm),
            _ => return Err(KeyError::Encoding),
        };
        Ok(P384Key {
            point,
            multiples: spin::Once::new(),
        })
    }

    /// `0x04 X Y`.
    pub fn to_sec1_uncompressed(&self) -> [u8; 97] {
        let mut out = [0; 97];
        out[0] = 0x04;
        out[1..49].copy_from_slice(&to_be_bytes(&fe_to_plain(&self.point.x)));
        out[49..97].copy_from_slice(&to_be_bytes(&fe_to_plain(&self.point.y)));
        out
    }

    /// Whether the odd-multiples table has been built (by a first verification).
    pub fn table_built(&self) -> bool {
        self.multiples.is_completed()
    }

    fn multiples(&self) -> Option<&Multiples> {
        self.multiples
            .call_once(|| odd_multiples(&self.point, 1 << (Q_WINDOW - 2)))
            .as_ref()
    }
}

/// r and s of a DER `ECDSA-Sig-Value` ([`crate::ecdsa_der`]), at most 48
/// significant bytes each.
fn parse_der_signature(der: &[u8]) -> Option<(Limbs, Limbs)> {
    let (r, s) = crate::ecdsa_der::signature::<48>(der)?;
    Some((from_be_bytes(&r), from_be_bytes(&s)))
}

/// The digest as an integer mod n (FIPS 186-4 6.4, bits2int: its leftmost
/// 384 bits; a shorter one is the number it is).
fn digest_scalar(digest: &[u8]) -> Limbs {
    let mut word = [0; 48];
    let take = digest.len().min(48);
    word[48 - take..].copy_from_slice(&digest[..take]);
    let e = from_be_bytes(&word);
    // e < 2^384 < 2n.
    if less_than(&e, &N) {
        e
    } else {
        sub_limbs(&e, &N).0
    }
}

/// Verifies the DER ECDSA signature `der_signature` over the precomputed
/// `digest` with `key` (SEC 1 v2 4.1.4).
pub fn verify_prehash(
    key: &P384Key,
    digest: &[u8],
    der_signature: &[u8],
) -> Result<(), EcdsaError> {
    let (r, s) = parse_der_signature(der_signature).ok_or(EcdsaError::MalformedSignature)?;
    let in_range = |v: &Limbs| !is_zero(v) && less_than(v, &N);
    if !in_range(&r) || !in_range(&s) {
        return Err(EcdsaError::Rejected);
    }
    let e = digest_scalar(digest);
    let w = invert_mod(&s, &N);
    let u1 = scalar_mul(&e, &w);
    let u2 = scalar_mul(&r, &w);
    let g_table = g_multiples().ok_or(EcdsaError::Rejected)?;
    let q_table = key.multiples().ok_or(EcdsaError::Rejected)?;
    let point = double_scalar_mul(&u1, &u2, g_table, q_table);
    if point.is_infinity() {
        return Err(EcdsaError::Rejected);
    }
    if x_mod_n_is(&point, &r) {
        Ok(())
    } else {
        Err(EcdsaError::Rejected)
    }
}

/// Whether `x(point) mod n = r`, for `0 < r < n` and a point other than the
/// point at infinity, without inverting Z: `x = X / Z^2` is below p, so `x mod
/// n = r` means `x = r`, or `x = r + n` when that is below p.
fn x_mod_n_is(point: &Jacobian, r: &Limbs) -> bool {
    let z2 = fe_sqr(&point.z);
    if equal(&fe_mul(&fe_from_plain(r), &z2), &point.x) {
        return true;
    }
    let (r_plus_n, carry) = add_limbs(r, &N);
    carry == 0
        && less_than(&r_plus_n, &P)
        && equal(&fe_mul(&fe_from_plain(&r_plus_n), &z2), &point.x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a b mod m` by double-and-add with the modular addition alone: a
    /// reference for the Montgomery product that shares nothing with it.
    fn mul_reference(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
        let mut acc = ZERO;
        for i in (0..384).rev() {
            acc = add_mod(&acc, &acc, m);
            if bit(b, i) == 1 {
                acc = add_mod(&acc, a, m);
            }
        }
        acc
    }

    /// A simple deterministic generator (SplitMix64).
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Below m, with edge values (0, 1, m-1, m-2) now and then.
        fn below(&mut self, m: &Limbs) -> Limbs {
            match self.next() % 16 {
                0 => ZERO,
                1 => ONE,
                2 => sub_limbs(m, &ONE).0,
                3 => sub_limbs(m, &[2, 0, 0, 0, 0, 0]).0,
                _ => loop {
                    let v = core::array::from_fn(|_| self.next());
                    if less_than(&v, m) {
                        break v;
                    }
                },
            }
        }
    }

    #[test]
    fn constants_are_right() {
        assert_eq!(P[0].wrapping_mul(P_INV), u64::MAX, "-p^-1 mod 2^64");
        assert_eq!(N[0].wrapping_mul(N_INV), u64::MAX, "-n^-1 mod 2^64");
        // R^2 R^-1 = R, and R mod m is 2^384 - m.
        assert_eq!(mont_mul(&R2_P, &ONE, &P, P_INV), ONE_P);
        assert_eq!(
            mont_mul(&R2_N, &ONE, &N, N_INV),
            sub_limbs(&ZERO, &N).0,
            "R mod n"
        );
        // G is on the curve.
        let (x, y) = (fe_from_plain(&G_X), fe_from_plain(&G_Y));
        assert_eq!(fe_sqr(&y), curve_rhs(&x));
    }

    #[test]
    fn field_and_scalar_products_match_the_reference() {
        let mut rng = SplitMix(1);
        for _ in 0..1000 {
            let (a, b) = (rng.below(&P), rng.below(&P));
            let product = fe_to_plain(&fe_mul(&fe_from_plain(&a), &fe_from_plain(&b)));
            assert_eq!(product, mul_reference(&a, &b, &P), "{a:x?} * {b:x?} mod p");
            assert_eq!(fe_to_plain(&fe_from_plain(&a)), a);
            let sum = fe_add(&a, &b);
            assert_eq!(fe_sub(&sum, &b), a);
            assert_eq!(fe_add(&fe_neg(&a), &a), ZERO);
            let (a, b) = (rng.below(&N), rng.below(&N));
            assert_eq!(
                scalar_mul(&a, &b),
                mul_reference(&a, &b, &N),
                "{a:x?} * {b:x?} mod n"
            );
        }
    }

    #[test]
    fn inverses_invert() {
        let mut rng = SplitMix(3);
        for _ in 0..300 {
            let a = rng.below(&N);
            if !is_zero(&a) {
                assert_eq!(scalar_mul(&invert_mod(&a, &N), &a), ONE, "{a:x?}^-1 mod n");
            }
            let a = rng.below(&P);
            if !is_zero(&a) {
                let m = fe_from_plain(&a);
                assert_eq!(fe_mul(&fe_invert(&m), &m), ONE_P, "{a:x?}^-1 mod p");
                let square = fe_sqr(&m);
                let root = fe_sqrt(&square).expect("a square has a root");
                assert!(root == m || root == fe_neg(&m));
            }
        }
    }

    #[test]
    fn wnaf_digits_sum_to_the_scalar() {
        let mut rng = SplitMix(4);
        for w in [Q_WINDOW, G_WINDOW] {
            for _ in 0..300 {
                let k = rng.below(&N);
                let [low, high] = wnaf_halves(&k, w);
                // Horner from the top digit of the high half down through the
                // low half, mod n (k < n): high 2^HALF + low.
                let mut acc = ZERO;
                for digits in [&high, &low] {
                    for &d in digits.iter().rev() {
                        acc = add_mod(&acc, &acc, &N);
                        let magnitude = [u64::from(d.unsigned_abs()), 0, 0, 0, 0, 0];
                        acc = if d < 0 {
                            sub_mod(&acc, &magnitude, &N)
                        } else {
                            add_mod(&acc, &magnitude, &N)
                        };
                        assert!(d == 0 || (d % 2 != 0 && d.unsigned_abs() < 1 << (w - 1)));
                    }
                    // The NAF_DIGITS doublings of the next half: undo one.
                    if core::ptr::eq(digits, &high) {
                        acc = half_mod(&acc, &N);
                    }
                }
                assert_eq!(acc, k, "w {w}");
            }
        }
    }

    /// `k P` by plain double-and-add over the Jacobian formulas.
    fn scalar_mul_reference(k: &Limbs, p: &Affine) -> Jacobian {
        let mut acc = Jacobian::INFINITY;
        for i in (0..384).rev() {
            acc = acc.double();
            if bit(k, i) == 1 {
                acc = acc.add_affine(p);
            }
        }
        acc
    }

    fn to_affine(p: &Jacobian) -> Option<Affine> {
        batch_to_affine(core::slice::from_ref(p)).map(|v| v[0])
    }

    #[test]
    fn wnaf_matches_double_and_add() {
        let g = Affine {
            x: fe_from_plain(&G_X),
            y: fe_from_plain(&G_Y),
        };
        let q = to_affine(&scalar_mul_reference(&[12345, 678, 9, 10, 11, 12], &g))
            .expect("not infinity");
        let q_table = odd_multiples(&q, 1 << (Q_WINDOW - 2)).expect("table");
        let g_table = g_multiples().expect("G's table");
        let high_g = scalar_mul_reference(&[0, 0, 0, 1, 0, 0], &g);
        assert_eq!(to_affine(&high_g), Some(g_table.high[0]), "2^192 G");
        assert_eq!(
            g_table.low[1],
            to_affine(&Jacobian::from_affine(&g).double().add_affine(&g)).expect("3G")
        );
        let mut rng = SplitMix(5);
        for _ in 0..30 {
            let (u1, u2) = (rng.below(&N), rng.below(&N));
            let got = to_affine(&double_scalar_mul(&u1, &u2, g_table, &q_table));
            let u1g = scalar_mul_reference(&u1, &g);
            let expected = match to_affine(&scalar_mul_reference(&u2, &q)) {
                Some(u2q) => to_affine(&u1g.add_affine(&u2q)),
                None => to_affine(&u1g),
            };
            assert_eq!(got, expected, "u1 {u1:x?} u2 {u2:x?}");
        }
        // n - 1 and 1: G - G is the point at infinity.
        let minus_one = sub_limbs(&N, &ONE).0;
        let g_as_q = odd_multiples(&g, 1 << (Q_WINDOW - 2)).expect("table");
        assert!(double_scalar_mul(&minus_one, &ONE, g_table, &g_as_q).is_infinity());
    }

    #[test]
    fn x_is_compared_with_r_and_with_r_plus_n() {
        let mut rng = SplitMix(6);
        let p_minus_n = sub_limbs(&P, &N).0;
        for _ in 0..100 {
            let z = fe_from_plain(&loop {
                let z = rng.below(&P);
                if !is_zero(&z) {
                    break z;
                }
            });
            let z2 = fe_sqr(&z);
            let point_with_x = |x: &Limbs| Jacobian {
                x: fe_mul(&fe_from_plain(x), &z2),
                y: ONE_P,
                z,
            };
            let r = loop {
                let r = rng.below(&N);
                if !is_zero(&r) {
                    break r;
                }
            };
            assert!(x_mod_n_is(&point_with_x(&r), &r));
            assert!(!x_mod_n_is(&point_with_x(&add_mod(&r, &ONE, &P)), &r));
            // A small r (below p - n, about 2^190): x = r + n is below p.
            let small = [r[0], r[1], r[2] % p_minus_n[2], 0, 0, 0];
            if !is_zero(&small) {
                let x = add_limbs(&small, &N).0;
                assert!(x_mod_n_is(&point_with_x(&x), &small));
                assert!(!x_mod_n_is(&point_with_x(&x), &add_mod(&small, &ONE, &N)));
            }
            let large = sub_limbs(&N, &small).0;
            let wrapped = add_mod(&large, &N, &P);
            assert!(!x_mod_n_is(&point_with_x(&wrapped), &large));
        }
    }

    #[test]
    fn der_signatures_are_strict() {
        let ok = |der: &[u8]| parse_der_signature(der).is_some();
        assert!(ok(&[0x30, 6, 2, 1, 1, 2, 1, 2]));
        assert!(!ok(&[0x30, 7, 2, 2, 0, 0x7f, 2, 1, 2]), "redundant zero");
        assert!(!ok(&[0x30, 6, 2, 1, 0x80, 2, 1, 2]), "negative");
        assert!(!ok(&[0x30, 0x81, 6, 2, 1, 1, 2, 1, 2]), "long form");
        let mut long = alloc::vec![0x30, 102, 2, 49, 0];
        long.extend([0x80; 48]);
        long.extend([2, 49, 0]);
        long.extend([0x80; 48]);
        assert!(ok(&long));
        long[5] = 0x7f;
        assert!(!ok(&long), "redundant leading zero");
    }
}
