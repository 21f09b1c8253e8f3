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
        let mut line = LineBuf::<192>::new();
        let _ = fmt::write(
            &mut line,
            format_args!("[{:5}.{:06}] ", micros / 1_000_000, micros % 1_000_000),
        );
        let prefix = line.len;
        self.reserve(prefix + text.len() + 1);
        self.append(&line.buf[..prefix]);
        let room = N.saturating_sub(prefix + 1);
        let body = &text.as_bytes()[..text.len().min(room)];
        self.append(body);
        self.append(b"\n");
    }

    /// Makes room for `need` bytes by dropping whole lines from the front.
    fn reserve(&mut self, need: usize) {
        let need = need.min(N);
        while N - self.len < need && self.len > 0 {
            // Drop through the next newline (everything when there is none),
            // searched in the ring's two contiguous parts, not byte by byte
            // through the modulo.
            let (a, b) = self.as_slices();
            let n = match a.iter().position(|&c| c == b'\n') {
                Some(i) => i + 1,
                None => b
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(a.len() + b.len(), |i| a.len() + i + 1),
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
        let n = s.len().min(N - self.len);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
    }

    /// Appends `value` as `{:#x}` formats it (`0x`, lowercase, no leading
    /// zeros), without `core::fmt`.
    pub fn push_hex(&mut self, value: u64) {
        let mut digits = [0u8; 18];
        let mut i = digits.len();
        let mut v = value;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v & 0xf) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        i -= 2;
        digits[i] = b'0';
        digits[i + 1] = b'x';
        // ASCII digits: always UTF-8.
        if let Ok(s) = core::str::from_utf8(&digits[i..]) {
            self.push_str(s);
        }
    }

    /// Appends `value` in decimal, as `{}` formats it, without `core::fmt`.
    pub fn push_dec(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        // ASCII digits: always UTF-8.
        if let Ok(s) = core::str::from_utf8(&digits[i..]) {
            self.push_str(s);
        }
    }

    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.buf[..self.len]) {
            Ok(s) => s,
            // Cut inside a multi-byte character: keep the valid prefix.
            Err(e) => core::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl<const N: usize> fmt::Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
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
        let mut short = LineBuf::<6>::new();
        short.push_str("ab");
        short.push_hex(0x12345);
        assert_eq!(short.as_str(), "ab0x12");
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
    fn linebuf_cuts_at_capacity() {
        let mut b = LineBuf::<4>::new();
        let _ = fmt::write(&mut b, format_args!("abcdef"));
        assert_eq!(b.as_str(), "abcd");
    }
}
