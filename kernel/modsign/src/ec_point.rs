//! What the ECDSA checks of P-256 and P-384 ([`crate::p256_verify`],
//! [`crate::p384_verify`]) share: a short-Weierstrass curve with `a = -3` over
//! a field of `L` limbs ([`Curve`]), its field and scalar operations built on
//! the curve's own Montgomery product, points ([`Affine`], [`Jacobian`]) and
//! their formulas, SEC1 keys, and the steps of SEC 1 v2 4.1.4 around the
//! double-scalar multiplication, which each curve does its own way.
//!
//! Invariants: field elements are in Montgomery form (`a R mod p`, `R =
//! 2^(64 L)`) and fully reduced; scalars are plain and below n; an [`Affine`]
//! is never the point at infinity; a [`Jacobian`] with `Z = 0` is. Nothing is
//! constant-time: verification handles only public values.

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use crate::ec_arith::{
    add_limbs, add_mod, bit, equal, from_be_bytes, invert_mod, is_zero, less_than, mont_mul,
    neg_inverse_mod_2_64, r_squared, shift_right_1, sub_limbs, sub_mod, write_be_bytes, Limbs,
};

/// A curve `y^2 = x^3 - 3x + b` over `GF(p)` of prime order n, `L` limbs.
/// Each curve gives its constants and its field product, which is where the
/// curves differ (P-256's p allows a reduction step of one multiplication);
/// the rest is written once here over those.
pub(crate) trait Curve<const L: usize>: Copy + Eq + fmt::Debug + 'static {
    /// The field prime p.
    const P: Limbs<L>;
    /// The group order n.
    const ORDER: Limbs<L>;
    /// The curve's b, plain.
    const B: Limbs<L>;
    /// The base point G, plain.
    const G_X: Limbs<L>;
    const G_Y: Limbs<L>;

    /// `-n^-1 mod 2^64`.
    const ORDER_INV: u64 = neg_inverse_mod_2_64(Self::ORDER[0]);
    /// `R^2 mod p` and `R^2 mod n`: a product with them enters Montgomery form.
    const R2_P: Limbs<L> = r_squared(&Self::P);
    const R2_N: Limbs<L> = r_squared(&Self::ORDER);
    /// 1 in Montgomery form mod p: `R mod p = R - p`.
    const ONE_P: Limbs<L> = sub_limbs(&[0; L], &Self::P).0;

    /// `a b R^-1 mod p`. Inline it into the point formulas: a call passes
    /// and returns its limbs through memory.
    fn fe_mul(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L>;

    /// `a^2 R^-1 mod p`.
    fn fe_sqr(a: &Limbs<L>) -> Limbs<L>;

    #[inline(always)]
    fn fe_add(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        add_mod(a, b, &Self::P)
    }

    #[inline(always)]
    fn fe_sub(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        sub_mod(a, b, &Self::P)
    }

    #[inline(always)]
    fn fe_neg(a: &Limbs<L>) -> Limbs<L> {
        sub_mod(&[0; L], a, &Self::P)
    }

    /// A plain number below p into Montgomery form.
    fn fe_from_plain(a: &Limbs<L>) -> Limbs<L> {
        Self::fe_mul(a, &Self::R2_P)
    }

    /// Montgomery form back to the plain number.
    fn fe_to_plain(a: &Limbs<L>) -> Limbs<L> {
        let mut one = [0; L];
        one[0] = 1;
        Self::fe_mul(a, &one)
    }

    /// `a^e` by left-to-right square-and-multiply (public exponents only).
    fn fe_pow(a: &Limbs<L>, e: &Limbs<L>) -> Limbs<L> {
        let mut acc = Self::ONE_P;
        for i in (0..64 * L).rev() {
            acc = Self::fe_sqr(&acc);
            if bit(e, i) == 1 {
                acc = Self::fe_mul(&acc, a);
            }
        }
        acc
    }

    /// `a^-1` in Montgomery form, for `a != 0`: the plain inverse of `a R` is
    /// `a^-1 R^-1`, and two products with `R^2` make it `a^-1 R`. By Euclid
    /// ([`invert_mod`]) rather than Fermat's `a^(p-2)`, which costs some 340
    /// k instructions more at 384 bits. Table building only.
    fn fe_invert(a: &Limbs<L>) -> Limbs<L> {
        // Through fe_from_plain (a product with R^2), a call, rather than two
        // products inlined here: P-256's are some 600 bytes each.
        Self::fe_from_plain(&Self::fe_from_plain(&invert_mod(a, &Self::P)))
    }

    /// A square root of `a`, if `a` is a square: `a^((p+1)/4)` (p = 3 mod 4,
    /// for both curves).
    fn fe_sqrt(a: &Limbs<L>) -> Option<Limbs<L>> {
        let mut one = [0; L];
        one[0] = 1;
        let (p_plus_1, carry) = add_limbs(&Self::P, &one);
        let exponent = shift_right_1(&shift_right_1(&p_plus_1, carry), 0);
        let root = Self::fe_pow(a, &exponent);
        equal(&Self::fe_sqr(&root), a).then_some(root)
    }

    /// `x^3 - 3x + b`, the curve's right-hand side, all Montgomery.
    fn curve_rhs(x: &Limbs<L>) -> Limbs<L> {
        let x3 = Self::fe_mul(&Self::fe_sqr(x), x);
        let three_x = Self::fe_add(&Self::fe_add(x, x), x);
        Self::fe_add(&Self::fe_sub(&x3, &three_x), &Self::fe_from_plain(&Self::B))
    }

    /// `a b mod n`, for `a < 2^(64 L)`, `b < n` (plain form; the Montgomery
    /// product's `R^-1` undone at once).
    fn scalar_mul(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        let (n, n_inv) = (&Self::ORDER, Self::ORDER_INV);
        mont_mul(&mont_mul(a, b, n, n_inv), &Self::R2_N, n, n_inv)
    }

    /// G, affine.
    fn generator() -> Affine<Self, L> {
        Affine::new(
            Self::fe_from_plain(&Self::G_X),
            Self::fe_from_plain(&Self::G_Y),
        )
    }
}

// ---------------------------------------------------------------------------
// Points

/// An affine point other than the point at infinity, coordinates in
/// Montgomery form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine<C, const L: usize> {
    pub(crate) x: Limbs<L>,
    pub(crate) y: Limbs<L>,
    curve: PhantomData<C>,
}

impl<C: Curve<L>, const L: usize> Affine<C, L> {
    pub(crate) const fn new(x: Limbs<L>, y: Limbs<L>) -> Affine<C, L> {
        Affine {
            x,
            y,
            curve: PhantomData,
        }
    }

    pub(crate) fn negate(&self) -> Affine<C, L> {
        Affine::new(self.x, C::fe_neg(&self.y))
    }
}

/// A Jacobian point `(X/Z^2, Y/Z^3)`; `z == 0` is the point at infinity.
#[derive(Clone, Copy)]
pub(crate) struct Jacobian<C, const L: usize> {
    pub(crate) x: Limbs<L>,
    pub(crate) y: Limbs<L>,
    pub(crate) z: Limbs<L>,
    curve: PhantomData<C>,
}

impl<C: Curve<L>, const L: usize> Jacobian<C, L> {
    pub(crate) const INFINITY: Jacobian<C, L> = Jacobian {
        x: C::ONE_P,
        y: C::ONE_P,
        z: [0; L],
        curve: PhantomData,
    };

    pub(crate) fn from_affine(a: &Affine<C, L>) -> Jacobian<C, L> {
        Jacobian {
            x: a.x,
            y: a.y,
            z: C::ONE_P,
            curve: PhantomData,
        }
    }

    pub(crate) fn is_infinity(&self) -> bool {
        is_zero(&self.z)
    }

    /// `2 self`, "dbl-2001-b" for a = -3 (Bernstein, Lange, Explicit-Formulas
    /// Database): 3M + 5S. The point at infinity stays there (Z3 = 0); neither
    /// curve has a point of order 2, so no other point doubles to it.
    pub(crate) fn double(&self) -> Jacobian<C, L> {
        let delta = C::fe_sqr(&self.z);
        let gamma = C::fe_sqr(&self.y);
        let beta = C::fe_mul(&self.x, &gamma);
        let t = C::fe_mul(&C::fe_sub(&self.x, &delta), &C::fe_add(&self.x, &delta));
        let alpha = C::fe_add(&C::fe_add(&t, &t), &t);
        let beta2 = C::fe_add(&beta, &beta);
        let beta4 = C::fe_add(&beta2, &beta2);
        let beta8 = C::fe_add(&beta4, &beta4);
        let x3 = C::fe_sub(&C::fe_sqr(&alpha), &beta8);
        let y_plus_z = C::fe_add(&self.y, &self.z);
        let z3 = C::fe_sub(&C::fe_sub(&C::fe_sqr(&y_plus_z), &gamma), &delta);
        let gamma_sq = C::fe_sqr(&gamma);
        let g2 = C::fe_add(&gamma_sq, &gamma_sq);
        let g4 = C::fe_add(&g2, &g2);
        let g8 = C::fe_add(&g4, &g4);
        let y3 = C::fe_sub(&C::fe_mul(&alpha, &C::fe_sub(&beta4, &x3)), &g8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            curve: PhantomData,
        }
    }

    /// `self + q`, "madd-2007-bl" (Explicit-Formulas Database): 7M + 4S, with
    /// the cases it does not cover (self at infinity, self = ±q) branched on.
    pub(crate) fn add_affine(&self, q: &Affine<C, L>) -> Jacobian<C, L> {
        if self.is_infinity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = C::fe_sqr(&self.z);
        let u2 = C::fe_mul(&q.x, &z1z1);
        let s2 = C::fe_mul(&C::fe_mul(&q.y, &self.z), &z1z1);
        let h = C::fe_sub(&u2, &self.x);
        let s2_minus_y1 = C::fe_sub(&s2, &self.y);
        if is_zero(&h) {
            return if is_zero(&s2_minus_y1) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = C::fe_sqr(&h);
        let hh2 = C::fe_add(&hh, &hh);
        let i = C::fe_add(&hh2, &hh2);
        let j = C::fe_mul(&h, &i);
        let r = C::fe_add(&s2_minus_y1, &s2_minus_y1);
        let v = C::fe_mul(&self.x, &i);
        let x3 = C::fe_sub(&C::fe_sub(&C::fe_sqr(&r), &j), &C::fe_add(&v, &v));
        let y1j = C::fe_mul(&self.y, &j);
        let y3 = C::fe_sub(&C::fe_mul(&r, &C::fe_sub(&v, &x3)), &C::fe_add(&y1j, &y1j));
        let z1_plus_h = C::fe_add(&self.z, &h);
        let z3 = C::fe_sub(&C::fe_sub(&C::fe_sqr(&z1_plus_h), &z1z1), &hh);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            curve: PhantomData,
        }
    }

    /// Whether `x(self) mod n = r`, for `0 < r < n` and a point other than
    /// the point at infinity, without inverting Z (as Linux's `ecc.c` and
    /// others do): `x = X / Z^2` is below p, so `x mod n = r` means `x = r`,
    /// or `x = r + n` when that is below p.
    pub(crate) fn x_mod_n_is(&self, r: &Limbs<L>) -> bool {
        let z2 = C::fe_sqr(&self.z);
        if equal(&C::fe_mul(&C::fe_from_plain(r), &z2), &self.x) {
            return true;
        }
        let (r_plus_n, carry) = add_limbs(r, &C::ORDER);
        carry == 0
            && less_than(&r_plus_n, &C::P)
            && equal(&C::fe_mul(&C::fe_from_plain(&r_plus_n), &z2), &self.x)
    }
}

/// Every point to affine with one field inversion (Montgomery's trick); `None`
/// if one of them is the point at infinity.
pub(crate) fn batch_to_affine<C: Curve<L>, const L: usize>(
    points: &[Jacobian<C, L>],
) -> Option<Vec<Affine<C, L>>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = C::ONE_P;
    for p in points {
        if p.is_infinity() {
            return None;
        }
        acc = C::fe_mul(&acc, &p.z);
        prefix.push(acc);
    }
    let mut inverse = C::fe_invert(&acc);
    let mut out = Vec::with_capacity(points.len());
    out.resize(points.len(), Affine::new([0; L], [0; L]));
    for i in (0..points.len()).rev() {
        let z_inv = if i == 0 {
            inverse
        } else {
            C::fe_mul(&inverse, &prefix[i - 1])
        };
        inverse = C::fe_mul(&inverse, &points[i].z);
        let z_inv2 = C::fe_sqr(&z_inv);
        out[i] = Affine::new(
            C::fe_mul(&points[i].x, &z_inv2),
            C::fe_mul(&points[i].y, &C::fe_mul(&z_inv2, &z_inv)),
        );
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Keys and signatures

/// Why SEC1 bytes are not a key on the curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not `0x04 X Y` (65 or 97 bytes) or `0x02/0x03 X` (33 or 49 bytes).
    Encoding,
    /// `0x00`.
    Infinity,
    /// SEC1's compact form, `0x05 X`, which certificates do not use.
    CompactForm,
    /// A coordinate not below p.
    CoordinateRange,
    /// `y^2 != x^3 - 3x + b`, or no y for a compressed x.
    NotOnCurve,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Encoding => "not an uncompressed or compressed SEC1 point",
            KeyError::Infinity => "the point at infinity",
            KeyError::CompactForm => "compact SEC1 point (0x05) not supported",
            KeyError::CoordinateRange => "coordinate not below p",
            KeyError::NotOnCurve => "point not on the curve",
        })
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaError {
    /// Not a strict DER `ECDSA-Sig-Value` with r and s no longer than n.
    MalformedSignature,
    /// Out-of-range r or s, a digest too short, or the signature is wrong.
    Rejected,
}

/// A public key: a point on the curve, other than the point at infinity,
/// and the table its curve's multiplication builds from it (P-256's combs,
/// P-384's odd multiples), once it has verified a signature, kept with it.
pub(crate) struct KeyWithTable<C, const L: usize, T> {
    point: Affine<C, L>,
    table: spin::Once<Option<T>>,
}

impl<C: Curve<L>, const L: usize, T: Clone> Clone for KeyWithTable<C, L, T> {
    fn clone(&self) -> KeyWithTable<C, L, T> {
        KeyWithTable {
            point: self.point,
            table: match self.table.get() {
                Some(table) => spin::Once::initialized(table.clone()),
                None => spin::Once::new(),
            },
        }
    }
}

impl<C: Curve<L>, const L: usize, T> PartialEq for KeyWithTable<C, L, T> {
    fn eq(&self, other: &KeyWithTable<C, L, T>) -> bool {
        self.point == other.point
    }
}

impl<C: Curve<L>, const L: usize, T> Eq for KeyWithTable<C, L, T> {}

impl<C: Curve<L>, const L: usize, T> KeyWithTable<C, L, T> {
    /// Reads a SEC1 point (SEC 1 v2 2.3.4): uncompressed `0x04 X Y` or
    /// compressed `0x02/0x03 X`, coordinates `8 L` bytes, checked to be on
    /// the curve. These checks are what make a key usable: every other
    /// function trusts them.
    pub(crate) fn from_sec1(bytes: &[u8]) -> Result<KeyWithTable<C, L, T>, KeyError> {
        let size = 8 * L;
        let coordinate = |b: &[u8]| -> Result<Limbs<L>, KeyError> {
            let value = from_be_bytes(b);
            if less_than(&value, &C::P) {
                Ok(C::fe_from_plain(&value))
            } else {
                Err(KeyError::CoordinateRange)
            }
        };
        let point = match (bytes.first(), bytes.len()) {
            (Some(0x04), len) if len == 1 + 2 * size => {
                let x = coordinate(&bytes[1..1 + size])?;
                let y = coordinate(&bytes[1 + size..])?;
                if !equal(&C::fe_sqr(&y), &C::curve_rhs(&x)) {
                    return Err(KeyError::NotOnCurve);
                }
                Affine::new(x, y)
            }
            (Some(&tag @ (0x02 | 0x03)), len) if len == 1 + size => {
                let x = coordinate(&bytes[1..])?;
                let y = C::fe_sqrt(&C::curve_rhs(&x)).ok_or(KeyError::NotOnCurve)?;
                let odd = C::fe_to_plain(&y)[0] & 1 == 1;
                let y = if odd == (tag == 0x03) {
                    y
                } else {
                    C::fe_neg(&y)
                };
                Affine::new(x, y)
            }
            (Some(0x00), 1) => return Err(KeyError::Infinity),
            (Some(0x05), len) if len == 1 + size => return Err(KeyError::CompactForm),
            _ => return Err(KeyError::Encoding),
        };
        Ok(KeyWithTable {
            point,
            table: spin::Once::new(),
        })
    }

    /// `0x04 X Y` into `out`, `1 + 16 L` bytes.
    pub(crate) fn write_sec1_uncompressed(&self, out: &mut [u8]) {
        let size = 8 * L;
        out[0] = 0x04;
        write_be_bytes(&C::fe_to_plain(&self.point.x), &mut out[1..1 + size]);
        write_be_bytes(&C::fe_to_plain(&self.point.y), &mut out[1 + size..]);
    }

    /// Whether the table has been built (by a first verification).
    pub(crate) fn table_built(&self) -> bool {
        self.table.is_completed()
    }

    /// The key's table, built by `build` the first time; `None` if it could
    /// not be (a point of order n always can).
    pub(crate) fn table(&self, build: impl FnOnce(&Affine<C, L>) -> Option<T>) -> Option<&T> {
        self.table.call_once(|| build(&self.point)).as_ref()
    }

    /// `Debug` for the key type `name` that wraps this one: its SEC1 bytes
    /// and whether its table (called `table_name`) is built.
    pub(crate) fn debug(
        &self,
        f: &mut fmt::Formatter<'_>,
        name: &str,
        table_name: &str,
    ) -> fmt::Result {
        let mut sec1 = [0; 1 + 16 * 8];
        let sec1 = &mut sec1[..1 + 16 * L];
        self.write_sec1_uncompressed(sec1);
        f.debug_struct(name)
            .field("sec1", &HexBytes(sec1))
            .field(table_name, &self.table_built())
            .finish()
    }
}

/// Bytes as hex.
struct HexBytes<'a>(&'a [u8]);

impl fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// SEC 1 v2 4.1.4 around the curve's own `u1 G + u2 Q`: `signature` is the
/// DER signature's r and s (`None`: malformed); a digest shorter than
/// `min_digest` bytes, `r` or `s` not in `[1, n-1]`, a multiplication that
/// gives `None` or the point at infinity, or `x(R) mod n != r` rejects.
pub(crate) fn verify_with<C: Curve<L>, const L: usize>(
    signature: Option<(Limbs<L>, Limbs<L>)>,
    digest: &[u8],
    min_digest: usize,
    double_scalar_mul: impl FnOnce(&Limbs<L>, &Limbs<L>) -> Option<Jacobian<C, L>>,
) -> Result<(), EcdsaError> {
    let (r, s) = signature.ok_or(EcdsaError::MalformedSignature)?;
    let in_range = |v: &Limbs<L>| !is_zero(v) && less_than(v, &C::ORDER);
    if !in_range(&r) || !in_range(&s) || digest.len() < min_digest {
        return Err(EcdsaError::Rejected);
    }
    let e = digest_scalar::<C, L>(digest);
    let w = invert_mod(&s, &C::ORDER);
    let (u1, u2) = (C::scalar_mul(&e, &w), C::scalar_mul(&r, &w));
    let point = double_scalar_mul(&u1, &u2).ok_or(EcdsaError::Rejected)?;
    if !point.is_infinity() && point.x_mod_n_is(&r) {
        Ok(())
    } else {
        Err(EcdsaError::Rejected)
    }
}

/// The digest as an integer mod n (FIPS 186-4 6.4, bits2int: its leftmost
/// `64 L` bits; a shorter one is the number it is).
fn digest_scalar<C: Curve<L>, const L: usize>(digest: &[u8]) -> Limbs<L> {
    let size = 8 * L;
    let mut word = [0; 64];
    let take = digest.len().min(size);
    word[size - take..size].copy_from_slice(&digest[..take]);
    let e = from_be_bytes(&word[..size]);
    // e < 2^(64 L) < 2n.
    if less_than(&e, &C::ORDER) {
        e
    } else {
        sub_limbs(&e, &C::ORDER).0
    }
}

/// Checks run for each curve by its own tests module.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A simple deterministic generator (SplitMix64).
    pub(crate) struct SplitMix(pub(crate) u64);

    impl SplitMix {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Below m, with edge values (0, 1, m-1, m-2) now and then.
        pub(crate) fn below<const L: usize>(&mut self, m: &Limbs<L>) -> Limbs<L> {
            let small = |v: u64| core::array::from_fn(|i| if i == 0 { v } else { 0 });
            match self.next() % 16 {
                0 => [0; L],
                1 => small(1),
                2 => sub_limbs(m, &small(1)).0,
                3 => sub_limbs(m, &small(2)).0,
                _ => loop {
                    let v = core::array::from_fn(|_| self.next());
                    if less_than(&v, m) {
                        break v;
                    }
                },
            }
        }

        /// Below m and not zero.
        pub(crate) fn non_zero_below<const L: usize>(&mut self, m: &Limbs<L>) -> Limbs<L> {
            loop {
                let v = self.below(m);
                if !is_zero(&v) {
                    break v;
                }
            }
        }
    }

    pub(crate) fn one<const L: usize>() -> Limbs<L> {
        core::array::from_fn(|i| u64::from(i == 0))
    }

    /// `a b mod m` by double-and-add with the modular addition alone: a
    /// reference for the Montgomery product that shares nothing with it.
    fn mul_reference<const L: usize>(a: &Limbs<L>, b: &Limbs<L>, m: &Limbs<L>) -> Limbs<L> {
        let mut acc = [0; L];
        for i in (0..64 * L).rev() {
            acc = add_mod(&acc, &acc, m);
            if bit(b, i) == 1 {
                acc = add_mod(&acc, a, m);
            }
        }
        acc
    }

    /// `k P` by plain double-and-add over the Jacobian formulas.
    pub(crate) fn scalar_mul_reference<C: Curve<L>, const L: usize>(
        k: &Limbs<L>,
        p: &Affine<C, L>,
    ) -> Jacobian<C, L> {
        let mut acc = Jacobian::INFINITY;
        for i in (0..64 * L).rev() {
            acc = acc.double();
            if bit(k, i) == 1 {
                acc = acc.add_affine(p);
            }
        }
        acc
    }

    pub(crate) fn to_affine<C: Curve<L>, const L: usize>(
        p: &Jacobian<C, L>,
    ) -> Option<Affine<C, L>> {
        batch_to_affine(core::slice::from_ref(p)).map(|v| v[0])
    }

    pub(crate) fn constants_are_right<C: Curve<L>, const L: usize>() {
        let p_inv = neg_inverse_mod_2_64(C::P[0]);
        assert_eq!(C::P[0].wrapping_mul(p_inv), u64::MAX, "-p^-1 mod 2^64");
        assert_eq!(C::ORDER[0].wrapping_mul(C::ORDER_INV), u64::MAX, "-n^-1");
        // R^2 R^-1 = R, and R mod m is R - m.
        assert_eq!(mont_mul(&C::R2_P, &one(), &C::P, p_inv), C::ONE_P);
        assert_eq!(
            mont_mul(&C::R2_N, &one(), &C::ORDER, C::ORDER_INV),
            sub_limbs(&[0; L], &C::ORDER).0,
            "R mod n"
        );
        let g = C::generator();
        assert_eq!(C::fe_sqr(&g.y), C::curve_rhs(&g.x), "G on the curve");
    }

    pub(crate) fn products_match_the_reference<C: Curve<L>, const L: usize>(rounds: usize) {
        let mut rng = SplitMix(1);
        for _ in 0..rounds {
            let (a, b) = (rng.below(&C::P), rng.below(&C::P));
            let product = C::fe_to_plain(&C::fe_mul(&C::fe_from_plain(&a), &C::fe_from_plain(&b)));
            assert_eq!(
                product,
                mul_reference(&a, &b, &C::P),
                "{a:x?} * {b:x?} mod p"
            );
            let square = C::fe_to_plain(&C::fe_sqr(&C::fe_from_plain(&a)));
            assert_eq!(square, mul_reference(&a, &a, &C::P), "{a:x?}^2 mod p");
            assert_eq!(C::fe_to_plain(&C::fe_from_plain(&a)), a);
            let sum = C::fe_add(&a, &b);
            assert_eq!(C::fe_sub(&sum, &b), a);
            assert_eq!(C::fe_add(&C::fe_neg(&a), &a), [0; L]);
            let (a, b) = (rng.below(&C::ORDER), rng.below(&C::ORDER));
            let expected = mul_reference(&a, &b, &C::ORDER);
            assert_eq!(C::scalar_mul(&a, &b), expected, "{a:x?} * {b:x?} mod n");
        }
    }

    pub(crate) fn inverses_invert<C: Curve<L>, const L: usize>(rounds: usize) {
        let mut rng = SplitMix(3);
        for _ in 0..rounds {
            let a = rng.non_zero_below(&C::ORDER);
            let inverse = invert_mod(&a, &C::ORDER);
            assert_eq!(C::scalar_mul(&inverse, &a), one(), "{a:x?}^-1 mod n");
            let m = C::fe_from_plain(&rng.non_zero_below(&C::P));
            assert_eq!(C::fe_mul(&C::fe_invert(&m), &m), C::ONE_P, "{m:x?}^-1");
            let root = C::fe_sqrt(&C::fe_sqr(&m)).expect("a square has a root");
            assert!(root == m || root == C::fe_neg(&m));
        }
    }

    /// `x(R) mod n = r` against points with a chosen x and a random Z.
    /// `small_limit` bounds an r for which `r + n < p` (p - n's top limbs).
    pub(crate) fn x_is_compared_with_r_and_with_r_plus_n<C: Curve<L>, const L: usize>(
        rounds: usize,
    ) {
        let mut rng = SplitMix(5);
        let p_minus_n = sub_limbs(&C::P, &C::ORDER).0;
        // The highest non-zero limb of p - n: r below it with the limbs above
        // zero has r + n < p.
        let top = (0..L).rev().find(|&i| p_minus_n[i] != 0).unwrap_or(0);
        for _ in 0..rounds {
            let z = C::fe_from_plain(&rng.non_zero_below(&C::P));
            let z2 = C::fe_sqr(&z);
            let point_with_x = |x: &Limbs<L>| Jacobian::<C, L> {
                x: C::fe_mul(&C::fe_from_plain(x), &z2),
                y: C::ONE_P,
                z,
                curve: PhantomData,
            };
            let r = rng.non_zero_below(&C::ORDER);
            assert!(point_with_x(&r).x_mod_n_is(&r));
            assert!(!point_with_x(&add_mod(&r, &one(), &C::P)).x_mod_n_is(&r));
            // A small r: x = r + n is below p and reduces to r.
            let small: Limbs<L> = core::array::from_fn(|i| match i.cmp(&top) {
                core::cmp::Ordering::Less => r[i],
                core::cmp::Ordering::Equal => r[i] % p_minus_n[i],
                core::cmp::Ordering::Greater => 0,
            });
            if !is_zero(&small) {
                let x = add_limbs(&small, &C::ORDER).0;
                assert!(point_with_x(&x).x_mod_n_is(&small));
                let next = add_mod(&small, &one(), &C::ORDER);
                assert!(!point_with_x(&x).x_mod_n_is(&next));
            }
            // A large r: r + n is not below p, and x = (r + n) mod p is not r's.
            let large = sub_limbs(&C::ORDER, &small).0;
            let wrapped = add_mod(&large, &C::ORDER, &C::P);
            assert!(!point_with_x(&wrapped).x_mod_n_is(&large));
        }
    }
}
