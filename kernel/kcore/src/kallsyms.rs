//! The kernel's own symbol table (`kallsyms`), for oops backtraces.
//!
//! After the kernel is linked, the host tool `kallsyms` reads the ELF's function
//! symbols, builds this table with [`build`] and writes it into the `.kallsyms`
//! section, whose size the link script fixes, so no address moves. At run time the
//! kernel reads it with [`Table::parse`], which checks every offset: a section
//! left empty (a build without the tool) or damaged yields `None`, never a fault.
//!
//! Names are compressed with a token table, as Linux's `scripts/kallsyms` does:
//! every byte of a stored name is a token code, and each of the 256 codes stands
//! for an ASCII string (most for one character, the rest for the substrings that
//! recur most, such as `kernel::module::`). [`build`] chooses the tokens by
//! repeatedly merging the most frequent pair of codes (byte-pair encoding) into
//! a code no name uses. A name is only expanded when it is printed or compared,
//! so a lookup by address costs what it did with plain names.
//!
//! Layout, all little-endian:
//! `b"KSM4"`, `count: u32`, `names_len: u32`, `tokens_len: u32`, `base: u64`;
//! then `count` entries of `addr - base: u24, size: u16` sorted by address (a
//! size above 65,535 bytes is stored as 0, unknown: such a symbol reaches the
//! next one, as an assembly label does); then, for every 16th symbol, the
//! offset of its name (`u32`); then 257 `u16` offsets into the token bytes
//! (code `c` expands to bytes `off[c]..off[c + 1]`, empty for a code no name
//! uses); then `tokens_len` bytes of token expansions (ASCII); then
//! `names_len` bytes of names in address order, each a string of codes
//! followed by a NUL (code 0 is never a token). A name is found from the
//! marker before it by skipping at most 15 names, as Linux's
//! `kallsyms_markers` do.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

const MAGIC: &[u8; 4] = b"KSM4";
const HEADER: usize = 24;
const ENTRY: usize = 5;
/// Symbols lie within 16 MiB of the lowest (the kernel is under 1 MiB).
const SPAN: u64 = 1 << 24;
/// Symbols per name marker.
const MARK_EVERY: usize = 16;
const CODES: usize = 256;
const INDEX: usize = (CODES + 1) * 2;

/// A checked, read-only view of a symbol table.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    entries: &'a [u8],
    markers: &'a [u8],
    index: &'a [u8],
    tokens: &'a str,
    names: &'a [u8],
    count: usize,
    base: u64,
}

/// One symbol: its name, start address and size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: Name<'a>,
    pub addr: u64,
    pub size: u32,
}

/// A symbol's compressed name: prints (`Display`) and compares
/// ([`Name::is`]) as the plain string it stands for.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    codes: &'a [u8],
    table: Table<'a>,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let lo = u32_at(b, off)? as u64;
    let hi = u32_at(b, off.checked_add(4)?)? as u64;
    Some(lo | (hi << 32))
}

impl<'a> Table<'a> {
    /// Checks `bytes` and returns a view, or `None` if it is not a table.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        if bytes.get(..4)? != MAGIC {
            return None;
        }
        let count = u32_at(bytes, 4)? as usize;
        let names_len = u32_at(bytes, 8)? as usize;
        let tokens_len = u32_at(bytes, 12)? as usize;
        let base = u64_at(bytes, 16)?;
        let entries_end = HEADER.checked_add(count.checked_mul(ENTRY)?)?;
        let markers_end = entries_end.checked_add(count.div_ceil(MARK_EVERY).checked_mul(4)?)?;
        let index_end = markers_end.checked_add(INDEX)?;
        let tokens_end = index_end.checked_add(tokens_len)?;
        let names_end = tokens_end.checked_add(names_len)?;
        let entries = bytes.get(HEADER..entries_end)?;
        let markers = bytes.get(entries_end..markers_end)?;
        let index = bytes.get(markers_end..index_end)?;
        let tokens = bytes.get(index_end..tokens_end)?;
        let names = bytes.get(tokens_end..names_end)?;
        // Offsets rise and stay inside the token bytes, which are ASCII (so
        // every token is a `str` on its own) without NUL.
        let mut prev = 0;
        for c in 0..=CODES {
            let off = u16_at(index, c * 2)? as usize;
            if off < prev || off > tokens_len {
                return None;
            }
            prev = off;
        }
        if tokens.iter().any(|&b| b == 0 || !b.is_ascii()) {
            return None;
        }
        let tokens = core::str::from_utf8(tokens).ok()?;
        Some(Self {
            entries,
            markers,
            index,
            tokens,
            names,
            count,
            base,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// What code `c` stands for (empty if no name uses it).
    fn token(&self, c: u8) -> &'a str {
        let c = c as usize;
        let (Some(start), Some(end)) = (u16_at(self.index, c * 2), u16_at(self.index, c * 2 + 2))
        else {
            return "";
        };
        self.tokens.get(start as usize..end as usize).unwrap_or("")
    }

    fn addr_at(&self, i: usize) -> Option<u64> {
        let off = i.checked_mul(ENTRY)?;
        let b = self.entries.get(off..off + 3)?;
        let off = u32::from_le_bytes([b[0], b[1], b[2], 0]);
        self.base.checked_add(off as u64)
    }

    /// The `i`-th symbol in address order.
    pub fn get(&self, i: usize) -> Option<Symbol<'a>> {
        let off = i.checked_mul(ENTRY)?;
        let addr = self.addr_at(i)?;
        let size = u16_at(self.entries, off + 3)? as u32;
        let mark = u32_at(self.markers, i / MARK_EVERY * 4)? as usize;
        let mut rest = self.names.get(mark..)?;
        for _ in 0..i % MARK_EVERY {
            let len = rest.iter().position(|&b| b == 0)?;
            rest = &rest[len + 1..];
        }
        let len = rest.iter().position(|&b| b == 0)?;
        let name = Name {
            codes: &rest[..len],
            table: *self,
        };
        Some(Symbol { name, addr, size })
    }

    /// The symbol containing `addr` and the offset into it. An address past the
    /// end of the nearest symbol below it (a gap, padding) still resolves to that
    /// symbol when its size is unknown (0), as Linux's kallsyms does.
    pub fn lookup(&self, addr: u64) -> Option<(Symbol<'a>, u64)> {
        // Binary search for the last entry with entry.addr <= addr.
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.addr_at(mid)? <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let sym = self.get(lo.checked_sub(1)?)?;
        let off = addr - sym.addr;
        if sym.size != 0 && off >= sym.size as u64 {
            return None;
        }
        Some((sym, off))
    }

    /// Finds a symbol by exact name (linear: used by the shell, not hot paths).
    pub fn find(&self, name: &str) -> Option<Symbol<'a>> {
        (0..self.count)
            .filter_map(|i| self.get(i))
            .find(|s| s.name.is(name))
    }
}

impl<'a> Name<'a> {
    /// The tokens this name expands to, in order.
    pub fn parts(&self) -> impl Iterator<Item = &'a str> + '_ {
        let table = self.table;
        self.codes.iter().map(move |&c| table.token(c))
    }

    /// Whether this name is exactly `s`.
    pub fn is(&self, s: &str) -> bool {
        let mut rest = s;
        for part in self.parts() {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().try_for_each(|p| f.write_str(p))
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        let mut a = self.parts().flat_map(str::bytes);
        let mut b = other.parts().flat_map(str::bytes);
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (x, y) if x != y => return false,
                _ => {}
            }
        }
    }
}

impl Eq for Name<'_> {}

/// Builds a table from `(address, size, name)` triples (any order). Names
/// should be ASCII; any other character is stored as `?`. Addresses must lie
/// within 16 MiB of the lowest one.
pub fn build(symbols: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut sorted: Vec<&(u64, u32, &str)> = symbols.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(b.2)));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let base = sorted.first().map_or(0, |s| s.0);
    let plain: Vec<Vec<u8>> = sorted
        .iter()
        .map(|s| {
            s.2.chars()
                .map(|c| {
                    if c.is_ascii() && c != '\0' {
                        c as u8
                    } else {
                        b'?'
                    }
                })
                .collect()
        })
        .collect();
    let (tokens, coded) = compress(plain);
    let mut names = Vec::new();
    let mut entries = Vec::with_capacity(sorted.len() * ENTRY);
    let mut markers = Vec::new();
    for (i, (addr, size, _)) in sorted.iter().map(|s| **s).enumerate() {
        // Assembly labels carry no size: let them reach the next symbol, as
        // Linux's kallsyms does.
        let size = match (size, sorted.get(i + 1)) {
            (0, Some(next)) => u32::try_from(next.0 - addr).unwrap_or(0),
            _ => size,
        };
        assert!(
            addr - base < SPAN,
            "kallsyms: symbols span more than 16 MiB"
        );
        entries.extend_from_slice(&(addr - base).to_le_bytes()[..3]);
        entries.extend_from_slice(&u16::try_from(size).unwrap_or(0).to_le_bytes());
        if i % MARK_EVERY == 0 {
            markers.extend_from_slice(&(names.len() as u32).to_le_bytes());
        }
        names.extend_from_slice(&coded[i]);
        names.push(0);
    }
    let mut index = Vec::with_capacity(INDEX);
    let mut expansions = Vec::new();
    for token in &tokens {
        index.extend_from_slice(&(expansions.len() as u16).to_le_bytes());
        expansions.extend_from_slice(token);
    }
    index.extend_from_slice(&(expansions.len() as u16).to_le_bytes());
    let mut out = Vec::with_capacity(
        HEADER + entries.len() + markers.len() + INDEX + expansions.len() + names.len(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    out.extend_from_slice(&(expansions.len() as u32).to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&entries);
    out.extend_from_slice(&markers);
    out.extend_from_slice(&index);
    out.extend_from_slice(&expansions);
    out.extend_from_slice(&names);
    out
}

/// Byte-pair encoding of `names` (ASCII, no NUL): returns what each of the 256
/// codes expands to and the names as codes. Each round merges the most frequent
/// adjacent pair into a code no name uses yet, while that saves bytes.
fn compress(mut names: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut tokens: Vec<Vec<u8>> = vec![Vec::new(); CODES];
    for name in &names {
        for &b in name {
            tokens[b as usize] = vec![b];
        }
    }
    let mut counts = vec![0u32; CODES * CODES];
    // Code 0 ends a name, so it never becomes a token.
    while let Some(free) = (1..CODES).find(|&c| tokens[c].is_empty()) {
        counts.fill(0);
        for name in &names {
            for pair in name.windows(2) {
                counts[pair[0] as usize * CODES + pair[1] as usize] += 1;
            }
        }
        let (best, &n) = counts
            .iter()
            .enumerate()
            .max_by_key(|&(i, &n)| (n, core::cmp::Reverse(i)))
            .expect("256 x 256 counts");
        let (a, b) = ((best / CODES) as u8, (best % CODES) as u8);
        let expansion = [tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat();
        // Overlapping pairs (`aaa`) are counted twice; the saving is an
        // estimate, which is all the choice needs. A token costs its
        // expansion once in the table.
        if (n as usize) <= expansion.len() + 1 || expansion.len() > u8::MAX as usize {
            break;
        }
        tokens[free] = expansion;
        for name in &mut names {
            let mut out = Vec::with_capacity(name.len());
            let mut i = 0;
            while i < name.len() {
                if i + 1 < name.len() && name[i] == a && name[i + 1] == b {
                    out.push(free as u8);
                    i += 2;
                } else {
                    out.push(name[i]);
                    i += 1;
                }
            }
            *name = out;
        }
    }
    (tokens, names)
}

/// Shortens a demangled Rust path for display: drops the `::h0123456789abcdef`
/// hash suffix of legacy mangling.
pub fn strip_hash(name: &str) -> &str {
    if let Some(pos) = name.rfind("::h") {
        let hash = &name[pos + 3..];
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return &name[..pos];
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_looks_up_by_address() {
        let bytes = build(&[
            (0x4008_1000, 0x40, "kernel_main"),
            (0x4008_0000, 0x100, "_start"),
            (0x4008_2000, 0, "tail"),
        ]);
        let t = Table::parse(&bytes).unwrap();
        assert_eq!(t.len(), 3);
        let (s, off) = t.lookup(0x4008_1024).unwrap();
        assert!(s.name.is("kernel_main"), "{}", s.name);
        assert_eq!((off, s.size), (0x24, 0x40));
        assert!(
            t.lookup(0x4008_1040).is_none(),
            "past the end of a sized symbol"
        );
        assert!(t.lookup(0x4007_ffff).is_none(), "below the first symbol");
        assert_eq!(
            t.lookup(0x4008_2010).unwrap().1,
            0x10,
            "unsized last symbol"
        );
        assert_eq!(t.find("_start").unwrap().addr, 0x4008_0000);
        let bytes = build(&[(0x100, 0, "label"), (0x180, 4, "next")]);
        let t = Table::parse(&bytes).unwrap();
        assert_eq!(
            t.lookup(0x104).unwrap().0.size,
            0x80,
            "unsized symbol reaches the next one"
        );
    }

    #[test]
    fn rejects_empty_and_damaged_tables() {
        assert!(Table::parse(&[0u8; 64]).is_none());
        let mut bytes = build(&[(1, 1, "a")]);
        bytes[4] = 0xff; // count far beyond the buffer
        assert!(Table::parse(&bytes).is_none());
        let mut bytes = build(&[(1, 1, "a")]);
        let n = bytes.len();
        bytes[n - 1] = b'x'; // name without NUL
        let t = Table::parse(&bytes).unwrap();
        assert!(t.get(0).is_none());
        assert!(t.lookup(1).is_none());
    }

    #[test]
    fn compressed_names_read_back() {
        use alloc::format;
        use alloc::string::{String, ToString};
        let names: Vec<String> = (0..300)
            .map(|i| format!("kernel::module::load::step_{i}::<core::fmt::Formatter>"))
            .chain([
                "a".to_string(),
                "<&T as core::fmt::Display>::fmt".to_string(),
            ])
            .collect();
        let symbols: Vec<(u64, u32, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (0xffff_0000_4008_0000 + i as u64 * 16, 16, n.as_str()))
            .collect();
        let bytes = build(&symbols);
        let plain: usize = names.iter().map(|n| n.len() + 1).sum();
        assert!(
            bytes.len() < plain,
            "{} bytes, names alone {plain}",
            bytes.len()
        );
        let t = Table::parse(&bytes).unwrap();
        for (i, n) in names.iter().enumerate() {
            let s = t.get(i).unwrap();
            assert_eq!(format!("{}", s.name), *n);
            assert!(s.name.is(n) && !s.name.is("a::") && !s.name.is(&n[1..]));
            assert_eq!(t.lookup(s.addr + 15).unwrap().0.addr, s.addr);
        }
        assert_eq!(t.find("a").unwrap().addr, 0xffff_0000_4008_0000 + 300 * 16);
        assert!(t.find("kernel::module").is_none());
        // A size that does not fit 16 bits is stored as unknown (0).
        let bytes = build(&[(0x1000, 0x1_0000, "huge"), (0x2_0000, 4, "next")]);
        let t = Table::parse(&bytes).unwrap();
        let (s, off) = t.lookup(0x1_8000).unwrap();
        assert!(s.name.is("huge") && s.size == 0 && off == 0x1_7000);
        // A non-ASCII name is kept, its other characters as `?`.
        let bytes = build(&[(1, 1, "caf\u{e9}")]);
        let t = Table::parse(&bytes).unwrap();
        assert_eq!(format!("{}", t.get(0).unwrap().name), "caf?");
    }

    #[test]
    fn rejects_damaged_token_table() {
        let mut bytes = build(&[(1, 1, "abab"), (2, 1, "abab")]);
        // The first token offset (after the 24-byte header, two entries and
        // one marker) pointing past the token bytes.
        bytes[24 + 2 * 5 + 4] = 0xff;
        assert!(Table::parse(&bytes).is_none());
    }

    #[test]
    fn strips_legacy_hash() {
        assert_eq!(
            strip_hash("kernel::main::h0123456789abcdef"),
            "kernel::main"
        );
        assert_eq!(strip_hash("kernel::hello"), "kernel::hello");
    }
}
