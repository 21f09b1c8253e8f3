//! Human-readable sizes for `mem`, `lsmod` and logs (`1.5 MiB`, `512 KiB`).

use core::fmt::{self, Write};

/// Formats a byte count with a binary unit, one decimal when not whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        let mut scale = 1u64;
        while unit + 1 < UNITS.len() && self.0 >= scale * 1024 {
            scale *= 1024;
            unit += 1;
        }
        let whole = self.0 / scale;
        let tenth = (self.0 % scale) * 10 / scale;
        // Format into a small buffer first so width and alignment apply.
        let mut s = crate::logring::LineBuf::<32>::new();
        let _ = if unit == 0 || tenth == 0 {
            write!(s, "{} {}", whole, UNITS[unit])
        } else {
            write!(s, "{}.{} {}", whole, tenth, UNITS[unit])
        };
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
