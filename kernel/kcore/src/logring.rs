//! The kernel log buffer (`dmesg`): a fixed-size ring of complete text lines.
//!
//! Records are stored already formatted (`[    0.001234] text\n`) so that `dmesg`
//! is a plain copy and the buffer needs no allocator. When a new record does not
//! fit, whole oldest lines are dropped (never half a line), and the number of
//! dropped records is counted so `dmesg` can say so. A record longer than the ring
//! is truncated to fit.

use core::fmt;

/// A ring of log lines with `N` bytes of storage.
pub struct LogRing<const N: usize> {
    buf: [u8; N],
    /// Index of the first byte of the oldest line.
    head: usize,
    /// Bytes in use.
    len: usize,
    dropped: u64,
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogRing<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends one record: `[seconds.micros] text`, newline added.
    pub fn push(&mut self, micros: u64, text: &str) {
        let mut line = LineBuf::<24>::new();
        line.push_timestamp(micros);
        let prefix = line.len;
        self.reserve(prefix + text.len() + 1);
        self.append(&line.buf[..prefix]);
        let room = N.saturating_sub(prefix + 1);
        let body = &text.as_bytes()[..text.len().min(room)];
        self.append(body);
        self.append(b"\n");
    }

    /// Appends one record already formatted as a line (`[seconds.micros]
    /// text` and its newline, as [`LogRing::push`] stores it), cut to the
    /// ring's size: one copy where `push` makes three.
    pub fn push_line(&mut self, line: &[u8]) {
        let line = &line[..line.len().min(N)];
        self.reserve(line.len());
        self.append(line);
    }

    /// Makes room for `need` bytes by dropping whole lines from the front.
    fn reserve(&mut self, need: usize) {
        let need = need.min(N);
        while N - self.len < need && self.len > 0 {
            // Drop through the next newline (everything when there is none),
            // searched in the ring's two contiguous parts, not byte by byte
            // through the modulo.
            let (a, b) = self.as_slices();
            let n = match find_newline(a) {
                Some(i) => i + 1,
                None => find_newline(b).map_or(a.len() + b.len(), |i| a.len() + i + 1),
            };
            self.head = (self.head + n) % N;
            self.len -= n;
            self.dropped += 1;
        }
    }

    /// Appends as much of `bytes` as there is room for: at most two copies,
    /// up to the end of the storage and on from its start.
    fn append(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(N - self.len)];
        let start = (self.head + self.len) % N;
        let (first, rest) = bytes.split_at(bytes.len().min(N - start));
        self.buf[start..start + first.len()].copy_from_slice(first);
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len += bytes.len();
    }

    /// The stored text, oldest first, as at most two contiguous slices.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let end = self.head + self.len;
        if end <= N {
            (&self.buf[self.head..end], &[])
        } else {
            (&self.buf[self.head..], &self.buf[..end - N])
        }
    }

    /// Records dropped to make room since boot.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn bytes_used(&self) -> usize {
        self.len
    }
}

/// Index of the first newline in `bytes`. Once the ring is full every record
/// drops the oldest line, so this runs for each one: eight bytes a step where
/// aligned (a byte loop cost about four instructions a byte, some 400 a line).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // SAFETY: every bit pattern is a valid `u64`; `align_to` reinterprets only the aligned middle.
    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
    if let Some(i) = head.iter().position(|&c| c == b'\n') {
        return Some(i);
    }
    for (k, &w) in words.iter().enumerate() {
        // A zero byte of `x` is a newline of `w`; the lowest flagged byte is
        // the first zero (a borrow flags only bytes above one).
        let x = u64::from_le(w) ^ (ONES * u64::from(b'\n'));
        let zeros = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zeros != 0 {
            return Some(head.len() + 8 * k + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let before = head.len() + 8 * words.len();
    tail.iter().position(|&c| c == b'\n').map(|i| before + i)
}

/// A small fixed-capacity `fmt::Write` sink; output past capacity is cut.
pub struct LineBuf<const N: usize> {
    pub buf: [u8; N],
    pub len: usize,
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineBuf<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends `s` (cut at the capacity, as `write_str`), without `core::fmt`.
    pub fn push_str(&mut self, s: &str) {
        append_cut(&mut self.buf, &mut self.len, s.as_bytes());
    }

    /// Appends `value` as `{:#x}` formats it (`0x`, lowercase, no leading
    /// zeros), without `core::fmt`.
    pub fn push_hex(&mut self, value: u64) {
        self.push_pieces(&[Piece::Hex(value, 0)]);
    }

    /// Appends `value` in decimal, as `{}` formats it, without `core::fmt`.
    pub fn push_dec(&mut self, value: u64) {
        self.push_pieces(&[Piece::Dec(value, 0, b' ')]);
    }

    /// Appends Linux's log timestamp, `[{:5}.{:06}] ` of seconds and
    /// microseconds, without `core::fmt`.
    /// Every record has one: built from the end of one scratch buffer and
    /// appended once (as five pieces it cost some 400 instructions).
    pub fn push_timestamp(&mut self, micros: u64) {
        push_timestamp(&mut self.buf, &mut self.len, micros);
    }

    /// Appends each piece in turn (cut at the capacity).
    pub fn push_pieces(&mut self, pieces: &[Piece<'_>]) {
        push_pieces(&mut self.buf, &mut self.len, pieces);
    }

    pub fn as_str(&self) -> &str {
        valid_prefix(&self.buf[..self.len])
    }
}

/// One part of a line built without `core::fmt` ([`LineBuf::push_pieces`]):
/// under QEMU's TCG every distinct branch the boot runs costs translation
/// time, and `core::fmt`'s machinery (`write`, `pad_integral`, one `Display`
/// per integer type) is about 150 blocks of it, where a list of pieces is
/// straight-line code at each call site and one loop here.
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    Str(&'a str),
    /// `{:W}` (fill b' ') or `{:0W}` (fill b'0') of the value; width 0 is `{}`.
    Dec(u64, u8, u8),
    /// `{:#0Wx}`: `0x`, lowercase digits, zero-padded to W characters in all
    /// (the `0x` included); width 0 is `{:#x}`.
    Hex(u64, u8),
    /// [`crate::units::Bytes`]'s `{}`.
    Bytes(u64),
}

/// `LineBuf::push_timestamp` for every size (one copy of the code: under
/// TCG each is translated once per boot): built from the end of one scratch
/// buffer, the six fractional digits without a loop, and appended once (as
/// five pieces it cost some 400 instructions, and every record has one).
#[inline(never)]
fn push_timestamp(buf: &mut [u8], len: &mut usize, micros: u64) {
    // `[`, at most 14 digits of seconds (u64::MAX micros), `.`, 6, `] `.
    let mut t = [b' '; 24];
    t[22] = b']';
    let mut frac = micros % 1_000_000;
    for at in (16..22).rev() {
        t[at] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    t[15] = b'.';
    let mut secs = micros / 1_000_000;
    let mut i = 15;
    loop {
        i -= 1;
        t[i] = b'0' + (secs % 10) as u8;
        secs /= 10;
        if secs == 0 || i == 1 {
            break;
        }
    }
    // Right-aligned in five columns (the spaces are already there).
    let start = i.min(10) - 1;
    t[start] = b'[';
    append_cut(buf, len, &t[start..]);
}

/// The one copy behind every `LineBuf` size's appends.
#[inline(never)]
fn append_cut(buf: &mut [u8], len: &mut usize, bytes: &[u8]) {
    let at = (*len).min(buf.len());
    let n = bytes.len().min(buf.len() - at);
    buf[at..at + n].copy_from_slice(&bytes[..n]);
    *len = at + n;
}

#[inline(never)]
pub(crate) fn push_pieces(buf: &mut [u8], len: &mut usize, pieces: &[Piece<'_>]) {
    for piece in pieces {
        // Digits are written from the end of a scratch buffer; 20 decimal
        // digits hold u64::MAX, and widths are cut to the scratch's size.
        let mut digits = [0u8; 24];
        let mut i = digits.len();
        let (mut v, base, width, fill) = match *piece {
            Piece::Str(s) => {
                append_cut(buf, len, s.as_bytes());
                continue;
            }
            Piece::Bytes(n) => {
                crate::units::Bytes(n).push_to(buf, len);
                continue;
            }
            Piece::Dec(v, width, fill) => (v, 10, width, fill),
            Piece::Hex(v, width) => (v, 16, width.saturating_sub(2), b'0'),
        };
        let floor = digits.len() - (width as usize).min(20);
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v % base) as usize];
            v /= base;
            if v == 0 && i <= floor {
                break;
            }
            if v == 0 && fill != b'0' {
                // Space fill goes before the digits, zeros between.
                while i > floor {
                    i -= 1;
                    digits[i] = fill;
                }
                break;
            }
        }
        if base == 16 {
            i -= 2;
            digits[i] = b'0';
            digits[i + 1] = b'x';
        }
        append_cut(buf, len, &digits[i..]);
    }
}

/// The longest valid UTF-8 prefix (a cut inside a multi-byte character
/// drops that character).
fn valid_prefix(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

impl<const N: usize> fmt::Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    #[test]
    fn push_hex_matches_lower_hex_alternate() {
        for v in [
            0u64,
            1,
            0xf,
            0x10,
            0x3fffa000,
            u64::MAX,
            0x8000_0000_0000_0000,
        ] {
            let mut l = LineBuf::<64>::new();
            l.push_str("at ");
            l.push_hex(v);
            assert_eq!(l.as_str(), format!("at {v:#x}"));
        }
        for v in [0u64, 7, 10, 4096, u64::MAX] {
            let mut l = LineBuf::<64>::new();
            l.push_dec(v);
            assert_eq!(l.as_str(), format!("{v}"));
        }
        for (v, w) in [
            (5u64, 6u8),
            (0, 3),
            (0x12345, 4),
            (u64::MAX, 22),
            (0x10, 30),
        ] {
            let mut l = LineBuf::<64>::new();
            l.push_pieces(&[Piece::Hex(v, w)]);
            let want = format!("{v:#0w$x}", w = usize::from(w).min(22));
            assert_eq!(l.as_str(), want, "{v:#x} width {w}");
        }
        let mut short = LineBuf::<6>::new();
        short.push_str("ab");
        short.push_hex(0x12345);
        assert_eq!(short.as_str(), "ab0x12");
    }

    #[test]
    fn pieces_match_core_fmt() {
        for v in [0u64, 5, 9, 10, 99_999, 100_000, 123_456, 999_999, u64::MAX] {
            let mut l = LineBuf::<128>::new();
            l.push_pieces(&[
                Piece::Dec(v, 5, b' '),
                Piece::Str("|"),
                Piece::Dec(v, 6, b'0'),
                Piece::Str("|"),
                Piece::Dec(v, 2, b'0'),
                Piece::Str("|"),
                Piece::Hex(v, 18),
                Piece::Str("|"),
                Piece::Dec(v, 0, b' '),
                Piece::Str("|"),
                Piece::Bytes(v),
            ]);
            let bytes = crate::units::Bytes(v);
            assert_eq!(
                l.as_str(),
                format!("{v:5}|{v:06}|{v:02}|{v:#018x}|{v}|{bytes}")
            );
            let mut big = LineBuf::<32>::new();
            big.push_timestamp(v);
            assert_eq!(
                big.as_str(),
                format!("[{:5}.{:06}] ", v / 1_000_000, v % 1_000_000)
            );
            let mut t = LineBuf::<32>::new();
            t.push_timestamp(v % 100_000_000_000);
            let m = v % 100_000_000_000;
            assert_eq!(
                t.as_str(),
                format!("[{:5}.{:06}] ", m / 1_000_000, m % 1_000_000)
            );
        }
        let mut short = LineBuf::<5>::new();
        short.push_pieces(&[Piece::Str("ab"), Piece::Dec(12345, 0, b' ')]);
        assert_eq!(short.as_str(), "ab123");
    }

    fn text<const N: usize>(r: &LogRing<N>) -> String {
        let (a, b) = r.as_slices();
        let mut s = String::from_utf8(a.to_vec()).unwrap();
        s.push_str(core::str::from_utf8(b).unwrap());
        s
    }

    #[test]
    fn formats_timestamp_like_linux() {
        let mut r = LogRing::<256>::new();
        r.push(1_234, "hello");
        r.push(12_345_678, "world");
        assert_eq!(text(&r), "[    0.001234] hello\n[   12.345678] world\n");
    }

    #[test]
    fn drops_whole_oldest_lines_when_full() {
        let mut r = LogRing::<64>::new();
        for i in 0..10 {
            r.push(i, "0123456789");
        }
        let t = text(&r);
        // Each record is 15 + 10 + 1 = 26 bytes: two fit in 64.
        assert_eq!(t.lines().count(), 2);
        assert!(t.starts_with("[    0.000008]"), "{t}");
        assert_eq!(r.dropped(), 8);
        for line in t.lines() {
            assert!(line.starts_with('[') && line.ends_with("0123456789"));
        }
    }

    #[test]
    fn records_of_varying_length_wrap_around_intact() {
        let mut r = LogRing::<100>::new();
        let mut all = Vec::new();
        for i in 0..50u64 {
            let body = "abcdefghij".repeat(1 + (i as usize % 4));
            r.push(i, &body);
            all.push(format!(
                "[{:5}.{:06}] {body}\n",
                i / 1_000_000,
                i % 1_000_000
            ));
        }
        // The ring holds exactly the newest records that fit, whole.
        let mut expected = String::new();
        for line in all.iter().rev() {
            if expected.len() + line.len() > 100 {
                break;
            }
            expected.insert_str(0, line);
        }
        assert_eq!(text(&r), expected);
        assert_eq!(r.dropped() as usize, 50 - expected.lines().count());
    }

    #[test]
    fn overlong_record_is_truncated_not_lost() {
        let mut r = LogRing::<40>::new();
        r.push(0, &"x".repeat(100));
        let t = text(&r);
        assert_eq!(t.len(), 40);
        assert!(t.ends_with('\n'));
        r.push(1, "y");
        assert!(text(&r).ends_with("y\n"));
    }

    #[test]
    fn finds_the_first_newline_at_any_offset() {
        let mut bytes = [b'x'; 64];
        for at in 0..64 {
            bytes[at] = b'\n';
            bytes[63 - at.min(62)] = b'\n';
            let want = bytes.iter().position(|&c| c == b'\n');
            for start in 0..9 {
                let s = &bytes[start..];
                assert_eq!(
                    find_newline(s),
                    s.iter().position(|&c| c == b'\n'),
                    "{at} {start}"
                );
            }
            assert_eq!(find_newline(&bytes), want);
            bytes = [b'x'; 64];
        }
        assert_eq!(find_newline(&[0x8a; 40]), None);
        assert_eq!(find_newline(&[]), None);
    }

    #[test]
    fn push_line_stores_what_push_does() {
        let mut a = LogRing::<64>::new();
        let mut b = LogRing::<64>::new();
        for (i, record) in ["first", "a longer second record", "3", "fourth one"]
            .iter()
            .enumerate()
        {
            let micros = 1_234_567 * i as u64;
            a.push(micros, record);
            let mut line = LineBuf::<64>::new();
            line.push_timestamp(micros);
            line.push_str(record);
            line.push_str("\n");
            b.push_line(&line.buf[..line.len]);
            assert_eq!(text(&a), text(&b));
            assert_eq!(a.dropped(), b.dropped());
        }
    }

    #[test]
    fn linebuf_cuts_at_capacity() {
        let mut b = LineBuf::<4>::new();
        let _ = fmt::write(&mut b, format_args!("abcdef"));
        assert_eq!(b.as_str(), "abcd");
    }
}
