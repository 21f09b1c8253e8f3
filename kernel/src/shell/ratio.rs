//! Bench figures without floating point: [`Ratio`] prints `num / den` with the
//! precision the format string asks for (`{:.1}`), rounded half up, so the
//! printouts keep their format while the kernel carries no `f64` formatting
//! code (about 12 KiB of `core`).

use core::fmt;

/// An exact quotient `num / den` for display.
#[derive(Clone, Copy)]
pub struct Ratio {
    num: i128,
    den: i128,
}

impl Ratio {
    /// `num / den`; a zero `den` counts as 1.
    pub fn new(num: i128, den: i128) -> Self {
        Self {
            num,
            den: den.max(1),
        }
    }

    /// This value times `k`.
    pub fn times(self, k: u64) -> Self {
        Self::new(self.num * k as i128, self.den)
    }

    /// This value divided by `k` (a zero `k` counts as 1).
    pub fn per(self, k: u64) -> Self {
        Self::new(self.num, self.den * k.max(1) as i128)
    }

    /// This value less `other`.
    pub fn minus(self, other: Self) -> Self {
        Self::new(
            self.num * other.den - other.num * self.den,
            self.den * other.den,
        )
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = f.precision().unwrap_or(0).min(12);
        let scale = 10u128.pow(decimals as u32);
        let den = self.den.unsigned_abs();
        let q = (self.num.unsigned_abs() * scale + den / 2) / den;
        if (self.num < 0) != (self.den < 0) && q != 0 {
            f.write_str("-")?;
        }
        write_u128(f, q / scale)?;
        if decimals > 0 {
            // Below 10^12 (`scale`), so it fits a u64.
            write!(f, ".{:0width$}", (q % scale) as u64, width = decimals)?;
        }
        Ok(())
    }
}

/// Writes `x` in decimal through `u64`'s formatting, so that the kernel does
/// not carry `u128`'s (1.2 KiB) for the rare figure above `u64::MAX`.
fn write_u128(f: &mut fmt::Formatter<'_>, x: u128) -> fmt::Result {
    const TEN19: u128 = 10_000_000_000_000_000_000;
    match u64::try_from(x) {
        Ok(x) => write!(f, "{x}"),
        Err(_) => {
            write_u128(f, x / TEN19)?;
            write!(f, "{:019}", (x % TEN19) as u64)
        }
    }
}
