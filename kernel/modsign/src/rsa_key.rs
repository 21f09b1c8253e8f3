//! The PKCS#1 `RSAPublicKey` a certificate's subjectPublicKeyInfo holds
//! (RFC 8017 A.1.1), read by a strict DER reader of its own:
//!
//! ```text
//! RSAPublicKey ::= SEQUENCE {
//!     modulus           INTEGER,  -- n
//!     publicExponent    INTEGER   -- e
//! }
//! ```
//!
//! Input is untrusted: [`parse`] is the one place it is checked. DER only
//! (X.690 10.1: definite, minimal lengths; 8.3.2: minimal INTEGER contents),
//! nothing after the SEQUENCE or inside it after the exponent. The values
//! must make an RSA key the way the `rsa` crate, which read these keys
//! before, required: `n` positive and odd, `e` odd in `2..=2^33 - 1` (the
//! bound against RSA-DoS, after *ring*) and below `n`. The modulus's size
//! in bytes, [`RsaComponents::size`], is RFC 8017's `k = ceil(modBits / 8)`,
//! as that crate's `size()` counted it; the caller applies its size rule.

use core::fmt;

/// The largest public exponent accepted, `2^33 - 1` (the `rsa` crate's
/// `MAX_PUB_EXPONENT`, from *ring*; RustCrypto/RSA#155).
pub const MAX_PUBLIC_EXPONENT: u64 = (1 << 33) - 1;

/// DER tags (X.690 8.3, 8.9: universal, primitive INTEGER; constructed SEQUENCE).
const TAG_INTEGER: u8 = 0x02;
const TAG_SEQUENCE: u8 = 0x30;

/// Why an `RSAPublicKey` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeyError {
    /// Not DER for `SEQUENCE { INTEGER, INTEGER }`; says what is wrong.
    Der(&'static str),
    NegativeModulus,
    ZeroModulus,
    EvenModulus,
    NegativeExponent,
    /// `e` below 2 or above [`MAX_PUBLIC_EXPONENT`].
    ExponentOutOfRange,
    EvenExponent,
    /// `e >= n`.
    ExponentNotBelowModulus,
}

impl fmt::Display for RsaKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RsaKeyError::Der(what) => write!(f, "malformed RSAPublicKey: {what}"),
            RsaKeyError::NegativeModulus => f.write_str("negative modulus"),
            RsaKeyError::ZeroModulus => f.write_str("zero modulus"),
            RsaKeyError::EvenModulus => f.write_str("even modulus"),
            RsaKeyError::NegativeExponent => f.write_str("negative public exponent"),
            RsaKeyError::ExponentOutOfRange => {
                write!(f, "public exponent not in 2..={MAX_PUBLIC_EXPONENT}")
            }
            RsaKeyError::EvenExponent => f.write_str("even public exponent"),
            RsaKeyError::ExponentNotBelowModulus => {
                f.write_str("public exponent not below the modulus")
            }
        }
    }
}

/// `n` and `e` of a key [`parse`] checked, as big-endian magnitudes without
/// leading zero bytes (so `modulus[0] != 0`); only [`parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaComponents<'a> {
    modulus: &'a [u8],
    exponent: &'a [u8],
}

impl<'a> RsaComponents<'a> {
    /// `n`, big-endian, without leading zero bytes.
    pub fn modulus(&self) -> &'a [u8] {
        self.modulus
    }

    /// `e`, big-endian, without leading zero bytes.
    pub fn exponent(&self) -> &'a [u8] {
        self.exponent
    }

    /// The modulus's length in bytes, `ceil(modBits / 8)`: what a signature's
    /// length must be, and, times 8, the key's nominal size (`rsa2048`).
    pub fn size(&self) -> usize {
        self.modulus.len()
    }
}

/// Reads and checks a DER `RSAPublicKey`.
pub fn parse(der: &[u8]) -> Result<RsaComponents<'_>, RsaKeyError> {
    let (body, rest) = tlv(der, TAG_SEQUENCE, "expected a SEQUENCE")?;
    if !rest.is_empty() {
        return Err(RsaKeyError::Der("bytes after the SEQUENCE"));
    }
    let (n, body) = tlv(body, TAG_INTEGER, "expected the modulus INTEGER")?;
    let (e, body) = tlv(body, TAG_INTEGER, "expected the publicExponent INTEGER")?;
    if !body.is_empty() {
        return Err(RsaKeyError::Der("bytes after the publicExponent"));
    }
    let modulus = match integer(n)? {
        Integer::Negative => return Err(RsaKeyError::NegativeModulus),
        Integer::NonNegative([]) => return Err(RsaKeyError::ZeroModulus),
        Integer::NonNegative(m) => m,
    };
    let exponent = match integer(e)? {
        Integer::Negative => return Err(RsaKeyError::NegativeExponent),
        Integer::NonNegative(e) => e,
    };
    // Below 2^33 it fits a u64: at most 5 magnitude bytes.
    let small_e = (exponent.len() <= 8)
        .then(|| {
            exponent
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        })
        .filter(|e| (2..=MAX_PUBLIC_EXPONENT).contains(e));
    let Some(e_value) = small_e else {
        return Err(RsaKeyError::ExponentOutOfRange);
    };
    if e_value & 1 == 0 {
        return Err(RsaKeyError::EvenExponent);
    }
    // Both are minimal magnitudes: the shorter one is the smaller, and at
    // equal lengths big-endian bytes compare as the numbers do.
    let e_below_n =
        exponent.len() < modulus.len() || (exponent.len() == modulus.len() && exponent < modulus);
    if !e_below_n {
        return Err(RsaKeyError::ExponentNotBelowModulus);
    }
    if modulus.last().is_some_and(|&b| b & 1 == 0) {
        return Err(RsaKeyError::EvenModulus);
    }
    Ok(RsaComponents { modulus, exponent })
}

/// One TLV with tag `tag` at the start of `input`: its contents and what
/// follows it. `what` says what was expected, for a wrong tag.
fn tlv<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), RsaKeyError> {
    let (&first, rest) = input.split_first().ok_or(RsaKeyError::Der(what))?;
    if first != tag {
        return Err(RsaKeyError::Der(what));
    }
    let truncated = RsaKeyError::Der("truncated");
    let (&len0, mut rest) = rest.split_first().ok_or(truncated)?;
    // X.690 8.1.3: short form below 0x80; 0x80 is the indefinite form,
    // which DER forbids (10.1); else 0x80 | the number of length bytes,
    // and DER wants the fewest (10.1): no leading zero, not below 0x80.
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let count = usize::from(len0 & 0x7f);
        if count == 0 {
            return Err(RsaKeyError::Der("indefinite length"));
        }
        if count > 4 {
            return Err(RsaKeyError::Der("length too large"));
        }
        let (bytes, after) = rest.split_at_checked(count).ok_or(truncated)?;
        rest = after;
        if bytes[0] == 0 {
            return Err(RsaKeyError::Der("length not minimally encoded"));
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(RsaKeyError::Der("length not minimally encoded"));
        }
        len
    };
    rest.split_at_checked(len).ok_or(truncated)
}

/// An INTEGER's value: negative, or the magnitude without leading zeros
/// (empty for zero).
enum Integer<'a> {
    Negative,
    NonNegative(&'a [u8]),
}

/// Decodes INTEGER contents (X.690 8.3: two's complement, big-endian, at
/// least one byte, and 8.3.2: the first nine bits not all equal).
fn integer(contents: &[u8]) -> Result<Integer<'_>, RsaKeyError> {
    let (&first, rest) = contents
        .split_first()
        .ok_or(RsaKeyError::Der("empty INTEGER"))?;
    if let Some(&second) = rest.first() {
        let redundant =
            (first == 0x00 && second & 0x80 == 0) || (first == 0xff && second & 0x80 != 0);
        if redundant {
            return Err(RsaKeyError::Der("INTEGER not minimally encoded"));
        }
    }
    if first & 0x80 != 0 {
        return Ok(Integer::Negative);
    }
    // Minimal: at most one leading zero, there only to clear the sign bit.
    Ok(Integer::NonNegative(if first == 0 {
        rest
    } else {
        contents
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// DER of one TLV (lengths up to 65535).
    fn tlv_of(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            len @ 0..0x80 => out.push(len as u8),
            len @ 0x80..0x100 => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    fn key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
        let mut body = tlv_of(TAG_INTEGER, n);
        body.extend(tlv_of(TAG_INTEGER, e));
        tlv_of(TAG_SEQUENCE, &body)
    }

    /// A 2048-bit odd modulus's INTEGER contents (leading zero: top bit set).
    fn modulus() -> Vec<u8> {
        let mut n = vec![0x00, 0xc5];
        n.extend((0..255).map(|i| (i * 37 + 11) as u8));
        *n.last_mut().unwrap() |= 1;
        n
    }

    #[test]
    fn a_well_formed_key_gives_its_magnitudes_and_size() {
        let n = modulus();
        let key = key_der(&n, &[0x01, 0x00, 0x01]);
        let c = parse(&key).unwrap();
        assert_eq!(c.modulus, &n[1..]);
        assert_eq!(c.exponent, [1, 0, 1]);
        assert_eq!(c.size() * 8, 2048);
        // A modulus of 2047 bits is still 256 bytes: k = ceil(2047 / 8).
        let mut short = n.clone();
        short[1] = 0x45;
        let key = key_der(&short[1..], &[3]);
        assert_eq!(parse(&key).unwrap().size(), 256);
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        let n = modulus();
        let good = key_der(&n, &[0x01, 0x00, 0x01]);
        // Every truncation.
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            parse(&trailing),
            Err(RsaKeyError::Der("bytes after the SEQUENCE"))
        );
        let mut inner = tlv_of(TAG_INTEGER, &n);
        inner.extend(tlv_of(TAG_INTEGER, &[3]));
        inner.extend(tlv_of(TAG_INTEGER, &[3]));
        assert_eq!(
            parse(&tlv_of(TAG_SEQUENCE, &inner)),
            Err(RsaKeyError::Der("bytes after the publicExponent"))
        );
        let mut negative = n.clone();
        negative.remove(0);
        assert_eq!(
            parse(&key_der(&negative, &[3])),
            Err(RsaKeyError::NegativeModulus)
        );
        assert_eq!(parse(&key_der(&[0], &[3])), Err(RsaKeyError::ZeroModulus));
        assert_eq!(
            parse(&key_der(&n, &[0])),
            Err(RsaKeyError::ExponentOutOfRange)
        );
        assert_eq!(
            parse(&key_der(&n, &[1])),
            Err(RsaKeyError::ExponentOutOfRange)
        );
        assert_eq!(
            parse(&key_der(&n, &[0x02, 0, 0, 0, 1])),
            Err(RsaKeyError::ExponentOutOfRange)
        );
        assert!(parse(&key_der(&n, &[0x01, 0xff, 0xff, 0xff, 0xff])).is_ok());
        assert_eq!(
            parse(&key_der(&n, &[0xfd])),
            Err(RsaKeyError::NegativeExponent)
        );
        assert_eq!(parse(&key_der(&n, &[4])), Err(RsaKeyError::EvenExponent));
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(parse(&key_der(&even, &[3])), Err(RsaKeyError::EvenModulus));
        assert_eq!(
            parse(&key_der(&[0x05], &[0x07])),
            Err(RsaKeyError::ExponentNotBelowModulus)
        );
        assert_eq!(
            parse(&key_der(&[0x07], &[0x07])),
            Err(RsaKeyError::ExponentNotBelowModulus)
        );
        // Redundant leading bytes, an empty INTEGER, wrong tags, BER lengths.
        let mut padded = vec![0x00];
        padded.extend_from_slice(&n);
        assert_eq!(
            parse(&key_der(&padded, &[3])),
            Err(RsaKeyError::Der("INTEGER not minimally encoded"))
        );
        assert_eq!(
            parse(&key_der(&n, &[])),
            Err(RsaKeyError::Der("empty INTEGER"))
        );
        assert_eq!(
            parse(&key_der(&n, &[0xff, 0x80])),
            Err(RsaKeyError::Der("INTEGER not minimally encoded"))
        );
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x31;
        assert!(matches!(parse(&wrong_tag), Err(RsaKeyError::Der(_))));
        assert_eq!(
            parse(&[0x30, 0x80, 0x02, 0x01, 0x03, 0x02, 0x01, 0x03, 0, 0]),
            Err(RsaKeyError::Der("indefinite length"))
        );
        assert_eq!(
            parse(&[0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]),
            Err(RsaKeyError::Der("length not minimally encoded"))
        );
        assert_eq!(
            parse(&[0x30, 0x85, 1, 0, 0, 0, 0]),
            Err(RsaKeyError::Der("length too large"))
        );
        assert_eq!(
            parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(RsaKeyError::Der("truncated"))
        );
    }
}
