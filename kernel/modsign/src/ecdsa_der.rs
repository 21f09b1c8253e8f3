//! The DER `ECDSA-Sig-Value` both ECDSA checks read ([`crate::p256_verify`],
//! [`crate::p384_verify`]): r and s as fixed-width big-endian magnitudes.

/// The magnitudes of r and s from a DER `ECDSA-Sig-Value ::= SEQUENCE { r
/// INTEGER, s INTEGER }` (RFC 3279 2.2.3), big-endian, left-padded to `N`
/// bytes, at most `N` significant bytes each, with DER's rules (X.690 10.1,
/// 8.3.2): definite minimal lengths, no negative integer, no redundant leading
/// zero, nothing after the sequence. Any long-form length is refused: a
/// sequence of two integers of at most 49 bytes is at most 102 bytes, so DER
/// never uses one here (`N` is 32 or 48).
pub(crate) fn signature<const N: usize>(der: &[u8]) -> Option<([u8; N], [u8; N])> {
    let [0x30, len, body @ ..] = der else {
        return None;
    };
    if *len >= 0x80 || *len as usize != body.len() {
        return None;
    }
    let (r, rest) = uint::<N>(body)?;
    let (s, rest) = uint::<N>(rest)?;
    rest.is_empty().then_some((r, s))
}

/// One non-negative DER INTEGER of at most `N` significant bytes, and what
/// follows it.
fn uint<const N: usize>(der: &[u8]) -> Option<([u8; N], &[u8])> {
    let [0x02, len, rest @ ..] = der else {
        return None;
    };
    let len = *len as usize;
    if len == 0 || len >= 0x80 || len > rest.len() {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    let magnitude = match value {
        [first, ..] if *first >= 0x80 => return None,
        [0, second, ..] if *second < 0x80 => return None,
        [0, tail @ ..] if !tail.is_empty() => tail,
        _ => value,
    };
    if magnitude.len() > N {
        return None;
    }
    let mut word = [0; N];
    word[N - magnitude.len()..].copy_from_slice(magnitude);
    Some((word, rest))
}
