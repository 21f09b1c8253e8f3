//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), usable in `const`.
//!
//! Computes the per-symbol version CRCs from signature text at compile time.
//! ASCII whitespace is skipped, so the CRC depends only on the signature's
//! tokens, not on how `stringify!` (which differs between compiler versions)
//! or a person spaces them.

/// CRC-32 of `bytes` without their ASCII whitespace (zlib's `crc32(0, ...)` of
/// the text with spaces, tabs and newlines removed).
pub const fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        crc ^= bytes[i] as u32;
        let mut k = 0;
        while k < 8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
            k += 1;
        }
        i += 1;
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_zlib_check_value() {
        // The standard check value for CRC-32/ISO-HDLC.
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(super::crc32(b""), 0);
        assert_eq!(
            super::crc32(b"1234 5678\n9"),
            0xcbf4_3926,
            "whitespace is ignored"
        );
    }
}
