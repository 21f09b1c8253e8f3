//! Kernel taint: flags that say the kernel ran something it cannot vouch for,
//! shown by `taint`, `lsmod` and every oops header, as Linux's
//! `/proc/sys/kernel/tainted` and `print_tainted()` show them.
//!
//! Room `taint`: uses nothing of the kernel (one atomic word), so any room may
//! set a flag and the oops path can read it without a lock.

use core::sync::atomic::{AtomicU32, Ordering};

/// A taint flag: its bit is Linux's (include/linux/panic.h), so the number
/// `taint` prints reads like `/proc/sys/kernel/tainted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taint {
    /// P: a module with a license that is not GPL-compatible was loaded.
    ProprietaryModule = 0,
    /// D: the kernel died (an oops).
    Die = 7,
    /// E: an unsigned module (or one signed by an unknown key) was loaded.
    UnsignedModule = 13,
}

/// Linux 6.1's taint table, in `print_tainted()` order: (bit, letter when set,
/// letter when clear).
const TABLE: &[(u32, char, char)] = &[
    (0, 'P', 'G'),
    (1, 'F', ' '),
    (2, 'S', ' '),
    (3, 'R', ' '),
    (4, 'M', ' '),
    (5, 'B', ' '),
    (6, 'U', ' '),
    (7, 'D', ' '),
    (8, 'A', ' '),
    (9, 'W', ' '),
    (10, 'C', ' '),
    (11, 'I', ' '),
    (12, 'O', ' '),
    (13, 'E', ' '),
    (14, 'L', ' '),
    (15, 'K', ' '),
    (16, 'X', ' '),
    (17, 'T', ' '),
    (18, 'N', ' '),
];

static TAINTED: AtomicU32 = AtomicU32::new(0);

/// Sets `flag` for the rest of this boot. Returns whether it was already set.
pub fn add(flag: Taint) -> bool {
    let bit = 1 << flag as u32;
    TAINTED.fetch_or(bit, Ordering::AcqRel) & bit != 0
}

/// The taint word (`/proc/sys/kernel/tainted`).
pub fn value() -> u32 {
    TAINTED.load(Ordering::Acquire)
}

/// Linux's `print_tainted()`: "Not tainted", or "Tainted: " and one letter a
/// flag ("G" first when no proprietary module), e.g. `Tainted: G            E`.
pub fn describe() -> TaintString {
    let v = value();
    let mut s = TaintString {
        buf: [b' '; 32],
        len: 0,
    };
    if v == 0 {
        s.push_str("Not tainted");
        return s;
    }
    s.push_str("Tainted: ");
    for &(bit, set, clear) in TABLE {
        s.push(if v & (1 << bit) != 0 { set } else { clear });
    }
    // Trailing blanks carry no information.
    while s.len > 0 && s.buf[s.len - 1] == b' ' {
        s.len -= 1;
    }
    s
}

/// The letters of the flags set in `v` (for a module's `(E)` in `lsmod`).
pub fn letters(v: u32, out: &mut [u8; 19]) -> &str {
    let mut n = 0;
    for &(bit, set, _) in TABLE {
        if v & (1 << bit) != 0 {
            out[n] = set as u8;
            n += 1;
        }
    }
    core::str::from_utf8(&out[..n]).unwrap_or("")
}

/// A taint description without the heap (the oops path may have none).
pub struct TaintString {
    buf: [u8; 32],
    len: usize,
}

impl TaintString {
    fn push(&mut self, c: char) {
        if self.len < self.buf.len() && c.is_ascii() {
            self.buf[self.len] = c as u8;
            self.len += 1;
        }
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            self.push(c);
        }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}
