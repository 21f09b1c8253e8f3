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
//!   P-256's p, P-384's is not `-1 mod 2^64`, so no reduction shortcut. The
//!   field product with p's limbs in sight, and the constants, are what this
//!   file gives [`crate::ec_point::Curve`]; the rest of the arithmetic
//!   (`s^-1 mod n` and `z^-1 mod p` by binary extended Euclid), the point
//!   formulas and SEC1 keys are shared with P-256 ([`crate::ec_arith`],
//!   [`crate::ec_point`]).
//! - Points are Jacobian `(X, Y, Z)` for `(X/Z^2, Y/Z^3)`, `Z = 0` the point
//!   at infinity; tables hold affine points, added with mixed additions (the
//!   Explicit-Formulas Database formulas for a = -3).
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

use crate::ec_arith::{adc, from_be_bytes, sbb, MontAcc};
use crate::ec_point::{batch_to_affine, verify_with, Curve, KeyWithTable};
pub use crate::ec_point::{EcdsaError, KeyError};

/// A 384-bit number: little-endian 64-bit limbs.
type Limbs = [u64; 6];
type Affine = crate::ec_point::Affine<NistP384, 6>;
type Jacobian = crate::ec_point::Jacobian<NistP384, 6>;

/// P-384 (FIPS 186-4 D.1.2.4): its constants and its field product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NistP384;

/// `-p^-1 mod 2^64`.
const P_INV: u64 = crate::ec_arith::neg_inverse_mod_2_64(NistP384::P[0]);

impl Curve<6> for NistP384 {
    /// p = 2^384 - 2^128 - 2^96 + 2^32 - 1.
    const P: Limbs = [
        0x0000_0000_FFFF_FFFF,
        0xFFFF_FFFF_0000_0000,
        0xFFFF_FFFF_FFFF_FFFE,
        0xFFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_FFFF,
    ];
    const ORDER: Limbs = [
        0xECEC_196A_CCC5_2973,
        0x581A_0DB2_48B0_A77A,
        0xC763_4D81_F437_2DDF,
        0xFFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_FFFF,
    ];
    const B: Limbs = [
        0x2A85_C8ED_D3EC_2AEF,
        0xC656_398D_8A2E_D19D,
        0x0314_088F_5013_875A,
        0x181D_9C6E_FE81_4112,
        0x988E_056B_E3F8_2D19,
        0xB331_2FA7_E23E_E7E4,
    ];
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

    /// `a b R^-1 mod p`: the Montgomery product with its six rows written
    /// out, so the compiler sees p's limbs in each (its products by `2^64 -
    /// 1` become a shift and a subtraction) and keeps t in registers.
    fn fe_mul(a: &Limbs, b: &Limbs) -> Limbs {
        let mut t = MontAcc::new();
        t.row(a, b[0], &Self::P, P_INV);
        t.row(a, b[1], &Self::P, P_INV);
        t.row(a, b[2], &Self::P, P_INV);
        t.row(a, b[3], &Self::P, P_INV);
        t.row(a, b[4], &Self::P, P_INV);
        t.row(a, b[5], &Self::P, P_INV);
        t.finish(&Self::P)
    }

    fn fe_sqr(a: &Limbs) -> Limbs {
        Self::fe_mul(a, a)
    }
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
#[derive(Clone)]
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
        .call_once(|| odd_multiples(&NistP384::generator(), 1 << (G_WINDOW - 2)))
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
#[derive(Clone, PartialEq, Eq)]
pub struct P384Key(KeyWithTable<NistP384, 6, Multiples>);

impl fmt::Debug for P384Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f, "P384Key", "table_built")
    }
}

impl P384Key {
    /// Reads a SEC1 point (SEC 1 v2 2.3.4): uncompressed `0x04 X Y` (97
    /// bytes) or compressed `0x02/0x03 X` (49 bytes), checked to be on the
    /// curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<P384Key, KeyError> {
        KeyWithTable::from_sec1(bytes).map(P384Key)
    }

    /// `0x04 X Y`.
    pub fn to_sec1_uncompressed(&self) -> [u8; 97] {
        let mut out = [0; 97];
        self.0.write_sec1_uncompressed(&mut out);
        out
    }

    /// Whether the odd-multiples table has been built (by a first verification).
    pub fn table_built(&self) -> bool {
        self.0.table_built()
    }
}

/// r and s of a DER `ECDSA-Sig-Value` ([`crate::ecdsa_der`]), at most 48
/// significant bytes each.
fn parse_der_signature(der: &[u8]) -> Option<(Limbs, Limbs)> {
    let (r, s) = crate::ecdsa_der::signature::<48>(der)?;
    Some((from_be_bytes(&r), from_be_bytes(&s)))
}

/// Verifies the DER ECDSA signature `der_signature` over the precomputed
/// `digest` with `key` (SEC 1 v2 4.1.4).
pub fn verify_prehash(
    key: &P384Key,
    digest: &[u8],
    der_signature: &[u8],
) -> Result<(), EcdsaError> {
    let signature = parse_der_signature(der_signature);
    verify_with(signature, digest, 0, |u1, u2| {
        let g_table = g_multiples()?;
        let q_table = key
            .0
            .table(|point| odd_multiples(point, 1 << (Q_WINDOW - 2)))?;
        Some(double_scalar_mul(u1, u2, g_table, q_table))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec_arith::{add_mod, half_mod, sub_limbs, sub_mod};
    use crate::ec_point::tests::{self as shared, scalar_mul_reference, to_affine, SplitMix};

    const N: Limbs = NistP384::ORDER;
    const ONE: Limbs = [1, 0, 0, 0, 0, 0];

    #[test]
    fn constants_are_right() {
        shared::constants_are_right::<NistP384, 6>();
    }

    #[test]
    fn field_and_scalar_products_match_the_reference() {
        shared::products_match_the_reference::<NistP384, 6>(1000);
    }

    #[test]
    fn inverses_invert() {
        shared::inverses_invert::<NistP384, 6>(300);
    }

    #[test]
    fn x_is_compared_with_r_and_with_r_plus_n() {
        shared::x_is_compared_with_r_and_with_r_plus_n::<NistP384, 6>(100);
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
                let mut acc = [0; 6];
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

    #[test]
    fn wnaf_matches_double_and_add() {
        let g = NistP384::generator();
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
