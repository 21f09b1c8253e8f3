//! RSA PKCS#1 v1.5 signature verification (RFC 8017 8.2.2, RSASSA-PKCS1-v1_5-VERIFY)
//! in variable time.
//!
//! Verification handles only public values (the key, the signature, the digest),
//! so nothing here needs to be constant-time. `s^e mod n` is computed by plain
//! left-to-right square-and-multiply over the public exponent's real bits (17 for
//! e = 65537: 16 squarings and 1 multiplication) with Montgomery products on
//! `u64` limbs. For 2048, 3072 and 4096 bits a product is separated operand
//! scanning in blocks of four rows ([`sos_product`]; squarings compute each
//! cross product once and double it), its inner loop a [`RowKernel`]: AArch64
//! assembly in the kernel (`mont_aarch64.rs`), the same in Rust elsewhere.
//! Other lengths use product scanning (FIPS, Koc, Acar and Kaliski 1996: one
//! column of the product and of the reduction at a time into a 192-bit
//! accumulator), which is also the reference the fast path is tested against.
//! The encoded message is then compared in full against the one expected, as
//! Linux's rsassa-pkcs1 does: `0x00 0x01 PS(0xff.., at least 8 bytes) 0x00
//! DigestInfo(hash, digest)`, limb by limb.
//!
//! Everything that depends only on the key is computed once: the modulus's
//! limbs and `-n^-1 mod 2^64` when the keyring parses the certificate
//! ([`RsaPublicKey::new`]); on the key's first verification, the expected
//! encoding per hash with the digest left zero, and ([`Shortcut`]) that encoding times `C = R^(1-e)` and `C 2^512`;
//! or, without the shortcut, `R^e mod n`. Verification skips the conversions
//! into and out of Montgomery form: squaring and multiplying the plain `s`
//! leaves `s^e R^(1-e)`. With the shortcut (2048-4096 bits) that is compared
//! with `EM C mod n`, whose digest part costs three row blocks; otherwise one
//! product with `R^e` gives `s^e`.
//!
//! The key comes from [`crate::rsa_key`], checked. `2^512 R mod n` and `R^2
//! mod n` are computed here too ([`Montgomery::two_power`]): a few modular
//! doublings, then Montgomery squarings. The `rsa` crate, which parsed the key
//! and computed `R^2` before, is now only the reference the differential tests
//! check against: its `verify` gives the same answer for every input but
//! costs several times more.
//!
//! Limbs are little-endian: `x[0]` is the least significant 64 bits. Every
//! number handled has exactly `L` limbs, the modulus's, so `R = 2^(64 L)`.

use alloc::vec;
use alloc::vec::Vec;

use crate::HashAlgo;

/// DER DigestInfo before the digest, per hash (RFC 8017 9.2, note 1).
fn digest_info_prefix(hash: HashAlgo) -> &'static [u8] {
    match hash {
        HashAlgo::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlgo::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgo::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// Digest length in bytes, per hash.
fn digest_len(hash: HashAlgo) -> usize {
    match hash {
        HashAlgo::Sha256 => 32,
        HashAlgo::Sha384 => 48,
        HashAlgo::Sha512 => 64,
    }
}

/// An RSA public key: its Montgomery modulus at once, the rest of what
/// verification needs ([`Derived`]) on the key's first verification.
pub struct RsaPublicKey {
    /// `n`, big-endian, no leading zero byte: its length is RFC 8017's `k`.
    modulus: Vec<u8>,
    /// `e`, big-endian, no leading zero byte.
    exponent: Vec<u8>,
    mont: Montgomery,
    /// The public exponent's limbs.
    e: Vec<u64>,
    /// Computed when the key first verifies a signature, not when the keyring
    /// reads the certificate: a trusted key that never signs a loaded module
    /// (the build-in keyring may hold several) costs no modular products.
    /// Linux's `rsa` likewise does its arithmetic per verification.
    derived: spin::Once<Derived>,
}

/// What a verification with the key needs beyond `n` and `e`.
#[derive(Debug, Clone)]
struct Derived {
    /// `R^e mod n`, for the general path; `None` with a [`Shortcut`], which
    /// needs neither it nor `R^2` (half the products of reading a key).
    r_to_e: Option<Vec<u64>>,
    /// Per hash ([`hash_index`]), the encoded message `0x00 0x01 PS 0x00 T`
    /// with the digest's bytes zero, in limbs (`None` when the modulus is too
    /// short for it): a verification puts the digest into the low limbs.
    em_base: [Option<Vec<u64>>; 3],
    /// What [`verify_pkcs1v15`] needs to compare `s^e R^(1-e)` directly,
    /// skipping the product with `R^e`; `None` for moduli without a
    /// [`RowKernel`] path (not 2048, 3072 or 4096 bits) or `e < 2`.
    shortcut: Option<Shortcut>,
}

impl Clone for RsaPublicKey {
    fn clone(&self) -> RsaPublicKey {
        RsaPublicKey {
            modulus: self.modulus.clone(),
            exponent: self.exponent.clone(),
            mont: self.mont.clone(),
            e: self.e.clone(),
            derived: match self.derived.get() {
                Some(d) => spin::Once::initialized(d.clone()),
                None => spin::Once::new(),
            },
        }
    }
}

impl core::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &(self.modulus.len() * 8))
            .field("derived", &self.derived.is_completed())
            .finish_non_exhaustive()
    }
}

/// The encoded message times `C = R^(1-e) mod n`, in two parts: `em_base`'s
/// (fixed per hash) and the digest's (per signature, `D C`, computed as
/// `D (C 2^512)` reduced by 8 limbs: 3 row blocks instead of a product).
#[derive(Debug, Clone)]
struct Shortcut {
    /// `C 2^512 mod n`.
    c_shifted: Vec<u64>,
    /// Per hash, `em_base C mod n`.
    base_times_c: [Option<Vec<u64>>; 3],
}

/// Index of `hash` in [`RsaPublicKey`]'s per-hash tables.
fn hash_index(hash: HashAlgo) -> usize {
    match hash {
        HashAlgo::Sha256 => 0,
        HashAlgo::Sha384 => 1,
        HashAlgo::Sha512 => 2,
    }
}

impl RsaPublicKey {
    /// The Montgomery modulus of `key`; `None` for an even modulus or a
    /// zero exponent, which [`crate::rsa_key::parse`] refuses. The products
    /// that depend on the key alone wait for its first verification.
    pub fn new(key: crate::rsa_key::RsaComponents<'_>) -> Option<RsaPublicKey> {
        let limbs = key.size().div_ceil(8);
        let mont = Montgomery::new(&from_be_bytes(key.modulus(), limbs)?)?;
        let e = from_be_bytes(key.exponent(), key.exponent().len().div_ceil(8))?;
        if e.iter().all(|&limb| limb == 0) {
            return None;
        }
        Some(RsaPublicKey {
            modulus: key.modulus().to_vec(),
            exponent: key.exponent().to_vec(),
            mont,
            e,
            derived: spin::Once::new(),
        })
    }

    /// The expected encoding per hash with the digest's bytes zero, in limbs.
    fn em_base(&self) -> [Option<Vec<u64>>; 3] {
        let (mont, k) = (&self.mont, self.size());
        [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512].map(|hash| {
            let zeros = [0u8; 64];
            let em = expected_em(k, digest_info_prefix(hash), &zeros[..digest_len(hash)])?;
            from_be_bytes(&em, mont.limbs())
        })
    }

    /// The per-key products, computed on first use (once, whichever CPU
    /// asks first; the others wait for it) unless [`RsaPublicKey::set_products`]
    /// gave them.
    fn derived(&self) -> &Derived {
        self.derived.call_once(|| {
            let (mont, e) = (&self.mont, &self.e);
            let em_base = self.em_base();
            let shortcut = Shortcut::new(mont, e, &em_base);
            let r_to_e = match shortcut {
                Some(_) => None,
                // r2^e R^(1-e) = R^(e+1) (see `pow_unreduced`; `new` refused
                // e = 0, its only `None`), and one product with 1 takes off
                // the last R.
                None => mont.pow_unreduced(&mont.r2(), e).map(|r_to_e_plus_1| {
                    let mut one = vec![0u64; mont.limbs()];
                    one[0] = 1;
                    mont.mul_new(&r_to_e_plus_1, &one)
                }),
            };
            Derived {
                r_to_e,
                em_base,
                shortcut,
            }
        })
    }

    /// The per-key products (about 30 Montgomery products for RSA-2048,
    /// 0.85 ms of a first verification under TCG), computed now if they are
    /// not yet, as bytes [`RsaPublicKey::set_products`] reads back: the
    /// kernel's build computes them on the host for its built-in keys
    /// ([`crate::compact`]), so the first module the kernel loads does not.
    /// Per number a byte, 1 if present, then its limbs little-endian:
    /// `R^e`, then a byte for the shortcut and, with it, `C 2^512` and
    /// `EM_base C` for each hash.
    pub fn products(&self) -> Vec<u8> {
        let d = self.derived();
        let mut out = Vec::new();
        let mut put = |v: Option<&Vec<u64>>| match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                for limb in v {
                    out.extend_from_slice(&limb.to_le_bytes());
                }
            }
        };
        put(d.r_to_e.as_ref());
        match &d.shortcut {
            None => put(None),
            Some(sc) => {
                put(Some(&sc.c_shifted));
                for b in &sc.base_times_c {
                    put(b.as_ref());
                }
            }
        }
        out
    }

    /// Takes the products [`RsaPublicKey::products`] wrote for this key
    /// instead of computing them at the first verification. False, and the
    /// key unchanged, when `bytes` are not that shape for its modulus
    /// length (the key then computes them itself). The bytes are trusted as
    /// the key is: they are built into the kernel with it.
    pub fn set_products(&self, bytes: &[u8]) -> bool {
        let limbs = self.mont.limbs();
        let mut rest = bytes;
        let mut get = || -> Option<Option<Vec<u64>>> {
            let (&flag, tail) = rest.split_first()?;
            rest = tail;
            match flag {
                0 => Some(None),
                1 => {
                    let (body, tail) = (rest.get(..limbs * 8)?, rest.get(limbs * 8..)?);
                    rest = tail;
                    Some(Some(
                        body.chunks_exact(8)
                            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                            .collect(),
                    ))
                }
                _ => None,
            }
        };
        let Some(r_to_e) = get() else { return false };
        let Some(c_shifted) = get() else { return false };
        let shortcut = match c_shifted {
            None => None,
            Some(c_shifted) => {
                let (Some(a), Some(b), Some(c)) = (get(), get(), get()) else {
                    return false;
                };
                Some(Shortcut {
                    c_shifted,
                    base_times_c: [a, b, c],
                })
            }
        };
        if !rest.is_empty() || (r_to_e.is_none() && shortcut.is_none()) {
            return false;
        }
        let em_base = self.em_base();
        self.derived.call_once(|| Derived {
            r_to_e,
            em_base,
            shortcut,
        });
        true
    }

    /// Whether the key's products are computed yet (its first verification
    /// computes them).
    #[doc(hidden)]
    pub fn is_derived(&self) -> bool {
        self.derived.is_completed()
    }

    /// Whether verification compares `s^e R^(1-e)` without the last product.
    #[doc(hidden)]
    pub fn has_shortcut(&self) -> bool {
        self.derived().shortcut.is_some()
    }

    /// The modulus's length in bytes, `k = ceil(modBits / 8)`.
    pub fn size(&self) -> usize {
        self.modulus.len()
    }

    /// The modulus `n`, big-endian, without leading zero bytes.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The public exponent `e`, big-endian, without leading zero bytes.
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }
}

impl Shortcut {
    /// With `f(x, y) = x y R^-1`: `X = 1^(e-1) R^(1-(e-1)) = R^(2-e)`
    /// ([`Montgomery::pow_unreduced`] of 1), `C = f(X, 1) = R^(1-e)`,
    /// `em_base C = f(em_base, X)`, and `C 2^512 = f(C, 2^512 R)`, with
    /// `2^512 R` from [`Montgomery::two_power`] (9 squarings; through
    /// `R^2` it would take 12 and a product for 4096 bits).
    fn new(mont: &Montgomery, e: &[u64], em_base: &[Option<Vec<u64>>; 3]) -> Option<Shortcut> {
        let l = mont.limbs();
        if ![32, 48, 64].contains(&l) {
            return None;
        }
        // e - 1; None for e = 0 (and pow_unreduced refuses e - 1 = 0).
        let mut e_minus_1 = e.to_vec();
        if sub_assign(&mut e_minus_1, &[1]) {
            return None;
        }
        let mut one = vec![0u64; l];
        one[0] = 1;
        let x = mont.pow_unreduced(&one, &e_minus_1)?;
        let c = mont.mul_new(&x, &one);
        let c_shifted = mont.mul_new(&c, &mont.two_power(1, 9));
        let base_times_c = em_base
            .clone()
            .map(|base| base.map(|base| mont.mul_new(&base, &x)));
        Some(Shortcut {
            c_shifted,
            base_times_c,
        })
    }

    /// Whether `z = s^e R^(1-e)` (reduced) is `EM C mod n` for the
    /// encoding `EM` of `digest` (`digest_limbs` limbs at the bottom, the
    /// rest `em_base`'s): `s^e = EM (mod n)` exactly when it is, R being
    /// invertible mod an odd n; and EM < n, so that is `s^e mod n = EM`.
    fn matches(&self, mont: &Montgomery, hash: HashAlgo, digest: &[u8], z: &[u64]) -> bool {
        let Some(base_c) = &self.base_times_c[hash_index(hash)] else {
            return false;
        };
        let mut d8 = [0u64; 8];
        for (limb, chunk) in d8.iter_mut().zip(digest.rchunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(bytes);
        }
        let mut buf = [0u64; 64];
        let l = mont.limbs();
        let out = &mut buf[..l];
        let done = digest_term::<32, 41>(mont, &d8, &self.c_shifted, out)
            || digest_term::<48, 57>(mont, &d8, &self.c_shifted, out)
            || digest_term::<64, 73>(mont, &d8, &self.c_shifted, out);
        if !done {
            return false;
        }
        // D C + em_base C < 2n: one conditional subtraction.
        let carry = add_assign(out, base_c);
        if carry || !less_than(out, &mont.n) {
            sub_assign(out, &mont.n);
        }
        limbs_equal(out, z)
    }
}

/// `D C mod n` (reduced) for the digest's limbs `d8` and `c_shifted = C 2^512
/// mod n`: `D (C 2^512)` plus the `M n` that clears its low 8 limbs, over
/// `2^512`, is `< 2n` and `= D C (mod n)`. False (nothing done) unless the
/// modulus has `N` limbs (`W = N + 9`).
#[inline(always)]
fn digest_term<const N: usize, const W: usize>(
    mont: &Montgomery,
    d8: &[u64; 8],
    c_shifted: &[u64],
    out: &mut [u64],
) -> bool {
    const { assert!(N.is_multiple_of(4) && N >= 8 && W == N + 9) };
    let (Ok(n), Some(c), Some(out)) = (
        <&[u64; N]>::try_from(mont.n.as_slice()),
        c_shifted.first_chunk::<N>(),
        out.first_chunk_mut::<N>(),
    ) else {
        return false;
    };
    let kernel = RowKernel::NATIVE;
    let mut wide = [0u64; W];
    let t = &mut wide[..];
    for r in [0, 4] {
        let d4 = [d8[r], d8[r + 1], d8[r + 2], d8[r + 3]];
        if d4 != [0; 4] {
            let carry = kernel.addmul4(&mut t[r..r + N + 4], &d4, c);
            add_carry(&mut t[r + N + 4..], carry);
        }
    }
    for r in [0, 4] {
        let carry = kernel.redc4(&mut t[r..r + N + 4], n, mont.n_neg_inv);
        add_carry(&mut t[r + N + 4..], carry);
    }
    out.copy_from_slice(&t[8..N + 8]);
    if t[N + 8] != 0 || !less_than(out, n) {
        sub_assign(out, n);
    }
    true
}

/// `a += b` over the common length; returns the carry out.
fn add_assign(a: &mut [u64], b: &[u64]) -> bool {
    let mut carry = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (s1, c1) = x.overflowing_add(y);
        let (s2, c2) = s1.overflowing_add(u64::from(carry));
        *x = s2;
        carry = c1 | c2;
    }
    carry
}

/// Whether `sig` is a valid RSASSA-PKCS1-v1_5 signature by `key` over the
/// precomputed `digest` of hash `hash`. The same answer as the `rsa` crate's
/// `verify(Pkcs1v15Sign::new::<H>(), digest, sig).is_ok()` for the same key,
/// for any input (`tests/rsa_differential.rs`).
pub fn verify_pkcs1v15(key: &RsaPublicKey, hash: HashAlgo, digest: &[u8], sig: &[u8]) -> bool {
    // The rsa crate's Pkcs1v15Sign refuses a digest of the wrong length.
    if digest.len() != digest_len(hash) {
        return false;
    }
    let k = key.size();
    // RFC 8017 8.2.2 step 1: the signature is exactly as long as the modulus.
    if sig.len() != k {
        return false;
    }
    let mont = &key.mont;
    // Step 2.a/b: OS2IP, then s < n. n < 2^(8k) <= R, so k bytes fit in L limbs.
    let Some(s) = from_be_bytes(sig, mont.limbs()) else {
        return false;
    };
    if !less_than(&s, &mont.n) {
        return false;
    }
    let Some(unreduced) = mont.pow_unreduced(&s, &key.e) else {
        return false;
    };
    // Steps 2.c-4 for 2048-4096 bits: s^e R^(1-e) against EM R^(1-e).
    let derived = key.derived();
    if let Some(shortcut) = &derived.shortcut {
        return shortcut.matches(mont, hash, digest, &unreduced);
    }
    // s^e R^(1-e), times R^e, times R^-1 (the product's): s^e mod n.
    let Some(r_to_e) = &derived.r_to_e else {
        return false;
    };
    let m = mont.mul_new(&unreduced, r_to_e);
    // Steps 2.c-4: I2OSP(m, k) compared in full with the EMSA-PKCS1-v1_5
    // encoding expected, limb by limb: the digest is a whole number of limbs
    // at the bottom (32, 48 or 64 bytes), the rest is `em_base`'s. m < n <
    // 2^(8k), and `em_base`'s bytes above k are zero, as I2OSP's would be.
    let Some(base) = &derived.em_base[hash_index(hash)] else {
        return false;
    };
    let digest_limbs = digest.rchunks_exact(8).map(|c| {
        let mut limb = [0u8; 8];
        limb.copy_from_slice(c);
        u64::from_be_bytes(limb)
    });
    let low = digest.len() / 8;
    m.len() == base.len()
        && m[..low].iter().copied().eq(digest_limbs)
        && limbs_equal(&m[low..], &base[low..])
}

/// `a == b`, limb by limb: slice equality on integers becomes a `memcmp`
/// call, byte by byte in this kernel (some 1.3 k instructions for 2048 bits).
fn limbs_equal(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `0x00 0x01 PS 0x00 T` in `k` bytes, `T` = DigestInfo prefix || digest and
/// PS = 0xff bytes, at least 8 of them (RFC 8017 9.2 step 5); `None` when `k` is
/// too short for that ("intended encoded message length too short").
fn expected_em(k: usize, prefix: &[u8], digest: &[u8]) -> Option<Vec<u8>> {
    let t_len = prefix.len() + digest.len();
    let ps_len = k.checked_sub(t_len + 3).filter(|&ps| ps >= 8)?;
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(2 + ps_len, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(digest);
    Some(em)
}

/// Big-endian bytes to `limbs` little-endian limbs; `None` if they do not fit.
fn from_be_bytes(bytes: &[u8], limbs: usize) -> Option<Vec<u64>> {
    let mut out = vec![0u64; limbs];
    let mut chunks = bytes.rchunks(8);
    for limb in out.iter_mut() {
        let Some(chunk) = chunks.next() else { break };
        *limb = match <[u8; 8]>::try_from(chunk) {
            Ok(whole) => u64::from_be_bytes(whole),
            Err(_) => chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        };
    }
    // Whatever did not fit must be zero.
    chunks.all(|c| c.iter().all(|&b| b == 0)).then_some(out)
}

/// Little-endian limbs to big-endian bytes, 8 per limb.
#[cfg(test)]
fn to_be_bytes(x: &[u64]) -> Vec<u8> {
    x.iter().rev().flat_map(|l| l.to_be_bytes()).collect()
}

/// `a < b`, both of the same length.
fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` over the common length; returns the borrow out.
fn sub_assign(a: &mut [u64], b: &[u64]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *x = d2;
        borrow = b1 | b2;
    }
    borrow
}

/// A column sum of product scanning, `low + 2^128 high`: 192 bits hold the
/// up to 2 L + 1 products of a column (L <= 64) and the carry from the last.
#[derive(Clone, Copy, Default)]
struct Column {
    low: u128,
    high: u64,
}

impl Column {
    /// `self += a * b` (mul, umulh, adds, adcs, cinc).
    #[inline(always)]
    fn mac(&mut self, a: u64, b: u64) {
        let (sum, carry) = self.low.overflowing_add(u128::from(a) * u128::from(b));
        self.low = sum;
        self.high += u64::from(carry);
    }

    /// `self += other`.
    #[inline(always)]
    fn add(&mut self, other: Column) {
        let (sum, carry) = self.low.overflowing_add(other.low);
        self.low = sum;
        self.high += other.high + u64::from(carry);
    }

    /// `2 * self`; the top bit of `high` is zero for any sum here.
    #[inline(always)]
    fn doubled(self) -> Column {
        Column {
            low: self.low << 1,
            high: (self.high << 1) | (self.low >> 127) as u64,
        }
    }

    /// Takes the lowest limb off: returns it, `self /= 2^64`.
    #[inline(always)]
    fn shift_out(&mut self) -> u64 {
        let limb = self.low as u64;
        self.low = (self.low >> 64) | (u128::from(self.high) << 64);
        self.high = 0;
        limb
    }
}

/// `acc += sum of x[i] * y[len - 1 - i]`: the products of one column, `y`
/// walked downwards. Four at a time (two `LDP`s from each), then what is left.
#[inline(always)]
fn column(acc: &mut Column, x: &[u64], y: &[u64]) {
    let len = x.len().min(y.len());
    let (x, y) = (&x[..len], &y[..len]);
    for (xs, ys) in x.chunks_exact(4).zip(y.rchunks_exact(4)) {
        acc.mac(xs[0], ys[3]);
        acc.mac(xs[1], ys[2]);
        acc.mac(xs[2], ys[1]);
        acc.mac(xs[3], ys[0]);
    }
    let rest = len % 4;
    let (x, y) = (&x[len - rest..], &y[..rest]);
    for (i, &xi) in x.iter().enumerate() {
        acc.mac(xi, y[rest - 1 - i]);
    }
}

/// Arithmetic modulo an odd `n` of `L` limbs, with `R = 2^(64 L)`.
#[derive(Debug, Clone)]
struct Montgomery {
    n: Vec<u64>,
    /// `-n^-1 mod 2^64`.
    n_neg_inv: u64,
}

impl Montgomery {
    /// `None` for an even or empty modulus (an RSA modulus is neither).
    fn new(n: &[u64]) -> Option<Montgomery> {
        let n0 = *n.first()?;
        if n0 & 1 == 0 {
            return None;
        }
        // Newton's iteration for n0^-1 mod 2^64: x = 1 is right mod 2 (n0 is odd)
        // and each step doubles the correct low bits: 1, 2, 4, ..., 64 after 6.
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(inv)));
        }
        Some(Montgomery {
            n: n.to_vec(),
            n_neg_inv: inv.wrapping_neg(),
        })
    }

    fn limbs(&self) -> usize {
        self.n.len()
    }

    /// `out = a * b * R^-1 mod n` for `a, b < n`, fully reduced (< n). With
    /// `b = None`, `a * a * R^-1`: each cross product `a[i] a[j]` (i < j) of a
    /// column summed once and doubled, about a quarter fewer products than a
    /// multiplication.
    ///
    /// Product scanning: column `k` of `a * b + M * n` (the products whose
    /// indices add up to `k`), with `M`'s limb `m[k]` chosen so the column's
    /// low limb is zero for `k < L`. The sum is `< n^2 + R n`, so the top `L`
    /// columns over `R` are `< 2n`: one conditional subtraction.
    fn product(&self, a: &[u64], b: Option<&[u64]>, out: &mut [u64]) {
        if fixed::<32, 65>(self, a, b, out)
            || fixed::<48, 97>(self, a, b, out)
            || fixed::<64, 129>(self, a, b, out)
        {
            return;
        }
        // Scratch only here: the fixed sizes need none.
        let mut m = vec![0u64; self.limbs()];
        self.product_any(a, b, out, &mut m)
    }

    /// [`Montgomery::product`] for any length, the fallback of [`fixed`].
    fn product_any(&self, a: &[u64], b: Option<&[u64]>, out: &mut [u64], m: &mut [u64]) {
        let l = self.limbs();
        // Equal lengths up front, so the slicing below is within bounds.
        let (n, a, m, out) = (&self.n[..l], &a[..l], &mut m[..l], &mut out[..l]);
        let b = b.map(|b| &b[..l]);
        let mut acc = Column::default();
        // Adds the products `a[i] b[k - i]` of column `k`, `i` in `lo..=k - lo`.
        let products = |acc: &mut Column, k: usize, lo: usize| match b {
            Some(b) => column(acc, &a[lo..=k - lo], &b[lo..=k - lo]),
            None => {
                // i < k - i, each twice; then a[k/2]^2 for an even k.
                let half = k.div_ceil(2);
                let mut cross = Column::default();
                if half > lo {
                    column(&mut cross, &a[lo..half], &a[k + 1 - half..=k - lo]);
                }
                acc.add(cross.doubled());
                if k.is_multiple_of(2) {
                    acc.mac(a[k / 2], a[k / 2]);
                }
            }
        };
        for k in 0..l {
            products(&mut acc, k, 0);
            column(&mut acc, &m[..k], &n[1..=k]);
            let mk = (acc.low as u64).wrapping_mul(self.n_neg_inv);
            m[k] = mk;
            acc.mac(mk, n[0]);
            // The low limb is now zero, by the choice of m[k].
            acc.shift_out();
        }
        for k in l..2 * l - 1 {
            let lo = k + 1 - l;
            products(&mut acc, k, lo);
            column(&mut acc, &m[lo..], &n[lo..]);
            out[k - l] = acc.shift_out();
        }
        out[l - 1] = acc.shift_out();
        let top = acc.shift_out();
        if top != 0 || !less_than(out, n) {
            sub_assign(out, n);
        }
    }

    /// `a * b * R^-1 mod n` in a new vector.
    fn mul_new(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; self.limbs()];
        self.product(a, Some(b), &mut out);
        out
    }

    /// `base^exp R^(1 - exp) mod n` for `base < n`, `exp` in little-endian
    /// limbs: square-and-multiply over the exponent's bits from its highest
    /// set one, in variable time, with Montgomery products on the plain `base`.
    /// Starting from `x = base` (`base^1 R^0`), a squaring gives
    /// `x^2 R^-1 = base^(2E) R^(1-2E)` and a product with `base` gives
    /// `base^(E+1) R^(1-(E+1))`. `None` for a zero exponent.
    fn pow_unreduced(&self, base: &[u64], exp: &[u64]) -> Option<Vec<u64>> {
        let l = self.limbs();
        let bits = exp.len() * 64;
        let top = (0..bits).rev().find(|&i| bit(exp, i))?;
        let mut acc = base[..l].to_vec();
        let mut tmp = vec![0u64; l];
        for i in (0..top).rev() {
            self.product(&acc, None, &mut tmp);
            if bit(exp, i) {
                self.product(&tmp, Some(base), &mut acc);
            } else {
                core::mem::swap(&mut acc, &mut tmp);
            }
        }
        Some(acc)
    }

    /// `R^2 mod n`, which converts into Montgomery form: [`Montgomery::two_power`]
    /// with `64 L = m 2^k`, `m` odd (`L`'s odd part, `k = 6 + ` its trailing
    /// zeros). RSA-2048 and -4096 take 1 or 2 doublings and 11 or 12
    /// squarings, RSA-3072 4 and 10: no division.
    fn r2(&self) -> Vec<u64> {
        let l = self.limbs();
        self.two_power(l >> l.trailing_zeros(), 6 + l.trailing_zeros())
    }

    /// `2^(m 2^k) R mod n` in variable time (the modulus is public):
    /// `x = 2^(b-1)`, `n`'s top bit and below `n`, doubled modulo `n` up to
    /// `2^m R`; then `k` Montgomery squarings, each `(2^j R)^2 R^-1 = 2^(2j) R`.
    fn two_power(&self, m: usize, k: u32) -> Vec<u64> {
        let l = self.limbs();
        let mut x = vec![0u64; l];
        let Some(top_limb) = self.n.iter().rposition(|&w| w != 0) else {
            return x;
        };
        let bits = 64 * top_limb + 64 - self.n[top_limb].leading_zeros() as usize;
        x[top_limb] = 1 << ((bits - 1) % 64);
        // Only for n = 1 (2^(b-1) = n): 0.
        if !less_than(&x, &self.n) {
            sub_assign(&mut x, &self.n);
        }
        for _ in 0..64 * l - (bits - 1) + m {
            self.double(&mut x);
        }
        let mut tmp = vec![0u64; l];
        for _ in 0..k {
            self.product(&x, None, &mut tmp);
            core::mem::swap(&mut x, &mut tmp);
        }
        x
    }

    /// `x = 2x mod n` for `x < n`.
    fn double(&self, x: &mut [u64]) {
        let mut top = 0;
        for limb in x.iter_mut() {
            let next = *limb >> 63;
            *limb = (*limb << 1) | top;
            top = next;
        }
        if top != 0 || !less_than(x, &self.n) {
            sub_assign(x, &self.n);
        }
    }

    /// `R^2 mod n` by doubling 1 modulo n, 2 * 64 * L times: the slow,
    /// obviously right reference [`Montgomery::r2`] is tested against.
    #[cfg(test)]
    fn r2_by_doubling(&self) -> Vec<u64> {
        let l = self.limbs();
        let mut x = vec![0u64; l];
        x[0] = 1;
        if !less_than(&x, &self.n) {
            sub_assign(&mut x, &self.n);
        }
        for _ in 0..2 * 64 * l {
            self.double(&mut x);
        }
        x
    }
}

/// [`Montgomery::product`] for moduli of exactly `N` limbs (RSA-2048, -3072,
/// -4096), by [`sos_product`] on this CPU's row kernel; false (nothing done)
/// for any other length.
#[inline(always)]
fn fixed<const N: usize, const W: usize>(
    mont: &Montgomery,
    a: &[u64],
    b: Option<&[u64]>,
    out: &mut [u64],
) -> bool {
    let (Ok(n), Some(a), Some(out)) = (
        <&[u64; N]>::try_from(mont.n.as_slice()),
        a.first_chunk::<N>(),
        out.first_chunk_mut::<N>(),
    ) else {
        return false;
    };
    let b = match b {
        Some(b) => match b.first_chunk::<N>() {
            Some(b) => Some(b),
            None => return false,
        },
        None => None,
    };
    sos_product::<N, W>(RowKernel::NATIVE, n, mont.n_neg_inv, a, b, out);
    true
}

/// Which code runs the four-row multiply-accumulate of the Montgomery
/// products ([`RowKernel::addmul4`]): both give the same result for every
/// input (`ce-check.sh` runs them side by side under `qemu-aarch64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKernel {
    /// Rust on `u128`, for any target.
    Portable,
    /// `mont_aarch64.rs`: A64 add-with-carry chains.
    #[cfg(target_arch = "aarch64")]
    Aarch64,
}

impl RowKernel {
    /// The fastest kernel this target has.
    #[cfg(target_arch = "aarch64")]
    pub const NATIVE: RowKernel = RowKernel::Aarch64;
    /// The fastest kernel this target has.
    #[cfg(not(target_arch = "aarch64"))]
    pub const NATIVE: RowKernel = RowKernel::Portable;

    /// `t += a * b` where `t` has `b.len() + 4` limbs and `b` a non-zero
    /// multiple of 4; returns the carry out of `t`'s top limb (0 or 1).
    ///
    /// # Panics
    /// If the lengths are not as above (a bug in the caller: every caller
    /// here slices with lengths fixed by the modulus).
    #[inline(always)]
    pub fn addmul4(self, t: &mut [u64], a: &[u64; 4], b: &[u64]) -> u64 {
        assert!(!b.is_empty() && b.len().is_multiple_of(4) && t.len() == b.len() + 4);
        match self {
            RowKernel::Portable => addmul4_portable(t, a, b),
            #[cfg(target_arch = "aarch64")]
            RowKernel::Aarch64 => {
                // The assert above gives `modsign_mont_addmul4` its contract.
                // SAFETY: `b.len()` is a non-zero multiple of 4, `t` valid for `b.len() + 4` limbs, `a` for 4; `t` is borrowed mutably, so it overlaps neither `a` nor `b`.
                unsafe {
                    crate::mont_aarch64::modsign_mont_addmul4(
                        t.as_mut_ptr(),
                        b.as_ptr(),
                        b.len(),
                        a.as_ptr(),
                    )
                }
            }
        }
    }
}

impl RowKernel {
    /// One block of Montgomery reduction: the four digits `m` that clear
    /// `t[0..4]` ([`corner`]), then `t += m n` as [`RowKernel::addmul4`]
    /// (same lengths); returns the carry out of `t`'s top limb.
    #[inline(always)]
    pub fn redc4(self, t: &mut [u64], n: &[u64], n_neg_inv: u64) -> u64 {
        assert!(n.len() >= 4 && n.len().is_multiple_of(4) && t.len() == n.len() + 4);
        match self {
            RowKernel::Portable => addmul4_portable(t, &corner(t, n, n_neg_inv), n),
            #[cfg(target_arch = "aarch64")]
            RowKernel::Aarch64 => {
                // The assert above gives `modsign_mont_redc4` its contract.
                // SAFETY: `n.len()` is a non-zero multiple of 4, `t` valid for `n.len() + 4` limbs; `t` is borrowed mutably, so it does not overlap `n`.
                unsafe {
                    crate::mont_aarch64::modsign_mont_redc4(
                        t.as_mut_ptr(),
                        n.as_ptr(),
                        n.len(),
                        n_neg_inv,
                    )
                }
            }
        }
    }
}

/// [`RowKernel::addmul4`] in Rust: four rows `t[r..] += a[r] * b`, each
/// carry propagated to the top of `t`. The carries out of the four rows add
/// up to at most 1: `t + a b < 2^(64 (len + 4)) + 2^(64 (len + 4))`.
fn addmul4_portable(t: &mut [u64], a: &[u64; 4], b: &[u64]) -> u64 {
    let len = b.len();
    let mut out = 0;
    for (r, &ar) in a.iter().enumerate() {
        let mut carry = 0u64;
        for (x, &bj) in t[r..r + len].iter_mut().zip(b) {
            let s = u128::from(*x) + u128::from(ar) * u128::from(bj) + u128::from(carry);
            *x = s as u64;
            carry = (s >> 64) as u64;
        }
        out += add_carry(&mut t[r + len..], carry);
    }
    out
}

/// `x += carry` for a carry of at most one limb; returns the carry out (0 or 1).
#[inline(always)]
fn add_carry(x: &mut [u64], mut carry: u64) -> u64 {
    for limb in x.iter_mut() {
        if carry == 0 {
            break;
        }
        let (v, c) = limb.overflowing_add(carry);
        *limb = v;
        carry = u64::from(c);
    }
    carry
}

/// `a b R^-1 mod n` (or `a a R^-1` with `b = None`) for `N` limbs, `N` a
/// multiple of 4, fully reduced (`W = 2 N + 1`, the product's limbs and a
/// carry: Rust cannot yet compute an array length from `N`): separated operand
/// scanning (Koc, Acar and Kaliski 1996, "SOS") in blocks of four rows.
///
/// 1. `t = a b`, four rows of `a` per [`RowKernel::addmul4`]. A square adds
///    the rows of each four-limb block of `a` against the limbs above it,
///    doubles that, then adds each block's square (its own 4x4 product).
/// 2. Montgomery reduction four limbs at a time: the four limbs `m` that
///    clear `t`'s lowest four (computed in the 4x4 corner), then `t += m n`
///    shifted into place. After `N / 4` blocks `t`'s low `N` limbs are zero
///    and the high half plus the top bit is `(a b + M n) / R < 2n`: one
///    conditional subtraction.
#[inline(never)]
fn sos_product<const N: usize, const W: usize>(
    kernel: RowKernel,
    n: &[u64; N],
    n_neg_inv: u64,
    a: &[u64; N],
    b: Option<&[u64; N]>,
    out: &mut [u64; N],
) {
    const { assert!(N.is_multiple_of(4) && N > 0 && W == 2 * N + 1) };
    let mut wide = [0u64; W];
    let t = &mut wide[..];
    let block = |x: &[u64; N], r: usize| -> [u64; 4] { [x[r], x[r + 1], x[r + 2], x[r + 3]] };
    match b {
        Some(b) => {
            for r in (0..N).step_by(4) {
                let carry = kernel.addmul4(&mut t[r..r + N + 4], &block(a, r), b);
                add_carry(&mut t[r + N + 4..], carry);
            }
        }
        None => {
            // Rows of block r against the limbs above the block: each cross
            // product a[i] a[j], i < j in different blocks, once.
            for r in (0..N - 4).step_by(4) {
                let carry = kernel.addmul4(&mut t[2 * r + 4..N + r + 4], &block(a, r), &a[r + 4..]);
                add_carry(&mut t[N + r + 4..], carry);
            }
            // Doubled; the sum is below a^2 / 2, so no bit leaves 2N limbs.
            // Two limbs at a time: LDP, two EXTRs, STP.
            let mut top = 0;
            for pair in t[..2 * N].chunks_exact_mut(2) {
                let (lo, hi) = (pair[0], pair[1]);
                pair[0] = (lo << 1) | top;
                pair[1] = (hi << 1) | (lo >> 63);
                top = hi >> 63;
            }
            // Each block's own square: its cross products twice and its squares.
            for r in (0..N).step_by(4) {
                let a4 = block(a, r);
                let carry = kernel.addmul4(&mut t[2 * r..2 * r + 8], &a4, &a4);
                add_carry(&mut t[2 * r + 8..], carry);
            }
        }
    }
    for r in (0..N).step_by(4) {
        let carry = kernel.redc4(&mut t[r..r + N + 4], n, n_neg_inv);
        add_carry(&mut t[r + N + 4..], carry);
    }
    out.copy_from_slice(&t[N..2 * N]);
    if t[2 * N] != 0 || !less_than(out, n) {
        sub_assign(out, n);
    }
}

/// The four Montgomery digits that clear `u`'s four limbs: `m[p] = u'[p]
/// (-n^-1)` where `u'` is `u` plus `m[0..p] n` so far (only limbs below 4
/// matter, so `n[0..4]` is all that is read).
#[inline(always)]
fn corner(u: &[u64], n: &[u64], n_neg_inv: u64) -> [u64; 4] {
    let mut u = [u[0], u[1], u[2], u[3]];
    let mut m = [0u64; 4];
    for p in 0..4 {
        let mp = u[p].wrapping_mul(n_neg_inv);
        m[p] = mp;
        let mut carry = 0u64;
        for q in p..4 {
            let s = u128::from(u[q]) + u128::from(mp) * u128::from(n[q - p]) + u128::from(carry);
            u[q] = s as u64;
            carry = (s >> 64) as u64;
        }
    }
    m
}

/// `a b R^-1 mod n` (or `a a R^-1`) computed with `kernel`, for a modulus of
/// 32, 48 or 64 limbs and `a, b < n`; `None` for other lengths. For checking
/// one [`RowKernel`] against another (`ce-check.sh`).
#[doc(hidden)]
pub fn product_with(
    kernel: RowKernel,
    n: &[u64],
    a: &[u64],
    b: Option<&[u64]>,
) -> Option<Vec<u64>> {
    fn run<const N: usize, const W: usize>(
        kernel: RowKernel,
        mont: &Montgomery,
        a: &[u64],
        b: Option<&[u64]>,
    ) -> Option<Vec<u64>> {
        let n = <&[u64; N]>::try_from(mont.n.as_slice()).ok()?;
        let a = a.first_chunk::<N>()?;
        let b = match b {
            Some(b) => Some(b.first_chunk::<N>()?),
            None => None,
        };
        let mut out = [0u64; N];
        sos_product::<N, W>(kernel, n, mont.n_neg_inv, a, b, &mut out);
        Some(out.to_vec())
    }
    let mont = Montgomery::new(n)?;
    match n.len() {
        32 => run::<32, 65>(kernel, &mont, a, b),
        48 => run::<48, 97>(kernel, &mont, a, b),
        64 => run::<64, 129>(kernel, &mont, a, b),
        _ => None,
    }
}

/// The reference Montgomery product (product scanning, any length):
/// `a b R^-1 mod n`, or `a a R^-1`; `None` for an even modulus.
#[doc(hidden)]
pub fn product_reference(n: &[u64], a: &[u64], b: Option<&[u64]>) -> Option<Vec<u64>> {
    let mont = Montgomery::new(n)?;
    let l = mont.limbs();
    if a.len() < l || b.is_some_and(|b| b.len() < l) {
        return None;
    }
    let (mut out, mut m) = (vec![0u64; l], vec![0u64; l]);
    mont.product_any(a, b, &mut out, &mut m);
    Some(out)
}

/// `(R^2 mod n, -n^-1 mod 2^64)` for an odd modulus `n` of any length, as
/// [`RsaPublicKey::new`] computes them; `None` for an even or empty one. For
/// checking against a reference (`tests/rsa_differential.rs`).
#[doc(hidden)]
pub fn montgomery_constants(n: &[u64]) -> Option<(Vec<u64>, u64)> {
    let mont = Montgomery::new(n)?;
    Some((mont.r2(), mont.n_neg_inv))
}

/// Bit `i` of little-endian limbs.
fn bit(x: &[u64], i: usize) -> bool {
    x.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newton_inverse_is_minus_n_inverse() {
        for n0 in [1u64, 3, 0xffff_ffff_ffff_ffff, 0x1234_5678_9abc_def1] {
            let m = Montgomery::new(&[n0, 1]).unwrap();
            assert_eq!(n0.wrapping_mul(m.n_neg_inv), u64::MAX, "{n0:#x}");
        }
        assert!(Montgomery::new(&[2, 1]).is_none());
        assert!(Montgomery::new(&[]).is_none());
    }

    #[test]
    fn small_modulus_powers_match_u128_arithmetic() {
        // One limb: n < 2^64, R = 2^64; compare with u128 arithmetic.
        let n = 0xffff_ffff_0000_0001u64; // odd
        let m = Montgomery::new(&[n]).unwrap();
        let r2 = m.r2_by_doubling();
        let r = ((1u128 << 64) % u128::from(n)) as u64;
        assert_eq!(
            r2[0] as u128,
            (u128::from(r) * u128::from(r)) % u128::from(n)
        );
        let powmod = |b: u64, e: u64| {
            let (mut acc, mut b, mut e) = (1u128, u128::from(b) % u128::from(n), e);
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc * b % u128::from(n);
                }
                b = b * b % u128::from(n);
                e >>= 1;
            }
            acc as u64
        };
        // What RsaPublicKey::new and verify_pkcs1v15 do.
        let pow = |b: u64, e: u64| {
            let r_to_e_plus_1 = m.pow_unreduced(&r2, &[e])?;
            let r_to_e = m.mul_new(&r_to_e_plus_1, &[1]);
            Some(m.mul_new(&m.pow_unreduced(&[b], &[e])?, &r_to_e)[0])
        };
        for (b, e) in [
            (2u64, 65537u64),
            (n - 1, 3),
            (12345, 2),
            (0, 7),
            (1, 1),
            (7, 1 << 40),
        ] {
            assert_eq!(pow(b, e), Some(powmod(b, e)), "{b}^{e}");
        }
        assert!(m.pow_unreduced(&[5], &[0]).is_none());
    }

    #[test]
    fn fixed_size_products_match_the_general_ones() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for l in [32usize, 48, 64] {
            // Top limbs all ones, the whole modulus all ones, a top limb of 1,
            // and random: carries out of the top and the final subtraction.
            let mut moduli = Vec::new();
            let mut n: Vec<u64> = (0..l).map(|_| next()).collect();
            n[l - 1] = u64::MAX;
            moduli.push(n.clone());
            moduli.push(vec![u64::MAX; l]);
            n[l - 1] = 1;
            moduli.push(n.clone());
            moduli.push((0..l).map(|_| next()).collect());
            for mut n in moduli {
                n[0] |= 1;
                n[l - 1] = n[l - 1].max(1);
                let mont = Montgomery::new(&n).unwrap();
                let below_n = |next: &mut dyn FnMut() -> u64| {
                    let mut x: Vec<u64> = (0..l).map(|_| next()).collect();
                    x[l - 1] = next() % n[l - 1];
                    x
                };
                let mut edge = n.clone();
                edge[0] -= 1; // n - 1
                for (a, b) in [
                    (below_n(&mut next), below_n(&mut next)),
                    (edge.clone(), edge.clone()),
                    (edge.clone(), below_n(&mut next)),
                ] {
                    for b in [Some(b.as_slice()), None] {
                        let (mut fast, mut slow, mut m) = (vec![0; l], vec![0; l], vec![0; l]);
                        mont.product(&a, b, &mut fast);
                        mont.product_any(&a, b, &mut slow, &mut m);
                        assert_eq!(fast, slow, "{l} limbs, square: {}", b.is_none());
                        assert!(less_than(&fast, &n));
                    }
                }
            }
        }
    }

    #[test]
    fn r2_by_squaring_matches_r2_by_doubling() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Every length up to 64 limbs (odd parts 1 to 63, 2-power parts up
        // to 64), top limbs full, of one bit and in between; n = 1 and 3.
        for l in 1..=64usize {
            for top in [u64::MAX, 1, next() | 1 << 40] {
                let mut n: Vec<u64> = (0..l).map(|_| next()).collect();
                n[l - 1] = top;
                n[0] |= 1;
                let m = Montgomery::new(&n).unwrap();
                assert_eq!(m.r2(), m.r2_by_doubling(), "{l} limbs, top {top:#x}");
            }
        }
        for n in [[1u64], [3]] {
            let m = Montgomery::new(&n).unwrap();
            assert_eq!(m.r2(), m.r2_by_doubling(), "n = {}", n[0]);
        }
        // A top limb of zero (not from a parsed key, whose top limb is not).
        let m = Montgomery::new(&[0xffff_0001, 0]).unwrap();
        assert_eq!(m.r2(), m.r2_by_doubling());
    }

    #[test]
    fn two_to_the_512_times_r_is_r2_times_2_to_the_512_over_r() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for l in [32usize, 40, 48, 64] {
            let mut n: Vec<u64> = (0..l)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                })
                .collect();
            n[0] |= 1;
            n[l - 1] |= 1 << 63;
            let m = Montgomery::new(&n).unwrap();
            let mut two_512 = vec![0u64; l];
            two_512[8] = 1;
            let expected = m.mul_new(&m.r2_by_doubling(), &two_512);
            assert_eq!(m.two_power(1, 9), expected, "{l} limbs");
        }
    }

    #[test]
    fn the_fuzz_certificate_key_gets_the_right_r2() {
        let cert =
            crate::TrustedCert::from_der(include_bytes!("../fuzz/certs/rsa2048.der")).unwrap();
        let crate::PublicKey::Rsa(key) = cert.key() else {
            panic!("not an RSA key")
        };
        assert_eq!(key.size(), 256);
        assert_eq!(key.mont.limbs(), 32);
        assert_eq!(key.mont.r2(), key.mont.r2_by_doubling());
    }

    #[test]
    fn bytes_round_trip_and_overflow_is_refused() {
        let x = from_be_bytes(&[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 2).unwrap();
        assert_eq!(x, [0x0203_0405_0607_0809, 0x01]);
        assert_eq!(to_be_bytes(&x)[5..], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(from_be_bytes(&[1; 17], 2).is_none());
        assert!(from_be_bytes(&[0; 17], 2).is_some());
    }

    #[test]
    fn the_encoding_needs_eight_bytes_of_padding() {
        let p = digest_info_prefix(HashAlgo::Sha256);
        let d = [0xab; 32];
        assert!(expected_em(p.len() + 32 + 10, p, &d).is_none());
        let em = expected_em(p.len() + 32 + 11, p, &d).unwrap();
        assert_eq!(
            em[..11],
            [0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]
        );
        assert_eq!(em.len(), p.len() + 32 + 11);
    }
}
