//! Human-readable sizes for `mem`, `lsmod` and logs (`1.5 MiB`, `512 KiB`).

use core::fmt;

/// Formats a byte count with a binary unit, one decimal when not whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl Bytes {
    /// Appends the text `{}` formats to `buf[*len..]` (cut at its end),
    /// without `core::fmt` ([`crate::logring::Piece::Bytes`]).
    pub(crate) fn push_to(self, buf: &mut [u8], len: &mut usize) {
        use crate::logring::{push_pieces, Piece};
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        let mut scale = 1u64;
        while unit + 1 < UNITS.len() && self.0 >= scale * 1024 {
            scale *= 1024;
            unit += 1;
        }
        let whole = self.0 / scale;
        let tenth = (self.0 % scale) * 10 / scale;
        push_pieces(buf, len, &[Piece::Dec(whole, 0, b' ')]);
        if unit != 0 && tenth != 0 {
            push_pieces(buf, len, &[Piece::Str("."), Piece::Dec(tenth, 0, b' ')]);
        }
        push_pieces(buf, len, &[Piece::Str(" "), Piece::Str(UNITS[unit])]);
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Formatted into a small buffer first so width and alignment apply.
        let mut s = crate::logring::LineBuf::<32>::new();
        s.push_pieces(&[crate::logring::Piece::Bytes(self.0)]);
        f.pad(s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn formats_binary_units() {
        assert_eq!(format!("{}", Bytes(0)), "0 B");
        assert_eq!(format!("{}", Bytes(1023)), "1023 B");
        assert_eq!(format!("{}", Bytes(1024)), "1 KiB");
        assert_eq!(format!("{}", Bytes(1536)), "1.5 KiB");
        assert_eq!(format!("{}", Bytes(256 << 20)), "256 MiB");
        assert_eq!(format!("{}", Bytes(3 << 30)), "3 GiB");
        assert_eq!(format!("{:>8}", Bytes(1024)), "   1 KiB");
    }
}

/// Seconds as a shell user types them ("1", "0.25", "2.5"; up to six decimal
/// places) in microseconds; `None` for anything else or an overflow.
pub fn parse_seconds_us(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 6 || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_us: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(6 - frac.len() as u32)
    };
    whole.checked_mul(1_000_000)?.checked_add(frac_us)
}

#[cfg(test)]
mod seconds_tests {
    use super::parse_seconds_us;

    #[test]
    fn seconds_parse_to_microseconds() {
        assert_eq!(parse_seconds_us("1"), Some(1_000_000));
        assert_eq!(parse_seconds_us("0.25"), Some(250_000));
        assert_eq!(parse_seconds_us(".5"), Some(500_000));
        assert_eq!(parse_seconds_us("2.000001"), Some(2_000_001));
        for bad in [
            "",
            ".",
            "-1",
            "1.2.3",
            "1e3",
            "0.0000001",
            "+1",
            "99999999999999999999",
        ] {
            assert_eq!(parse_seconds_us(bad), None, "{bad}");
        }
    }
}
