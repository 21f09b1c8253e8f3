//! The kernel's own symbol table (`kallsyms`), for oops backtraces.
//!
//! After the kernel is linked, the host tool `kallsyms` reads the ELF's function
//! symbols, builds this table with [`build`] and writes it into the `.kallsyms`
//! section, whose size the link script fixes, so no address moves. At run time the
//! kernel reads it with [`Table::parse`], which checks every offset: a section
//! left empty (a build without the tool) or damaged yields `None`, never a fault.
//!
//! Layout, all little-endian:
//! `b"KSYM"`, `count: u32`, `names_len: u32`, `reserved: u32`, then `count`
//! entries of `addr: u64, size: u32, name_off: u32` sorted by address, then
//! `names_len` bytes of names, each followed by a NUL.

use alloc::vec::Vec;

const MAGIC: &[u8; 4] = b"KSYM";
const HEADER: usize = 16;
const ENTRY: usize = 16;

/// A checked, read-only view of a symbol table.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    entries: &'a [u8],
    names: &'a [u8],
    count: usize,
}

/// One symbol: its name, start address and size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub addr: u64,
    pub size: u32,
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
        let entries_end = HEADER.checked_add(count.checked_mul(ENTRY)?)?;
        let names_end = entries_end.checked_add(names_len)?;
        let entries = bytes.get(HEADER..entries_end)?;
        let names = bytes.get(entries_end..names_end)?;
        Some(Self {
            entries,
            names,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`-th symbol in address order.
    pub fn get(&self, i: usize) -> Option<Symbol<'a>> {
        let off = i.checked_mul(ENTRY)?;
        let addr = u64_at(self.entries, off)?;
        let size = u32_at(self.entries, off + 8)?;
        let name_off = u32_at(self.entries, off + 12)? as usize;
        let rest = self.names.get(name_off..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        let name = core::str::from_utf8(&rest[..len]).ok()?;
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
            if u64_at(self.entries, mid * ENTRY)? <= addr {
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
            .find(|s| s.name == name)
    }
}

/// Builds a table from `(address, size, name)` triples (any order).
pub fn build(symbols: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut sorted: Vec<&(u64, u32, &str)> = symbols.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(b.2)));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let mut names = Vec::new();
    let mut entries = Vec::with_capacity(sorted.len() * ENTRY);
    for (i, (addr, size, name)) in sorted.iter().map(|s| **s).enumerate() {
        // Assembly labels carry no size: let them reach the next symbol, as
        // Linux's kallsyms does.
        let size = match (size, sorted.get(i + 1)) {
            (0, Some(next)) => u32::try_from(next.0 - addr).unwrap_or(0),
            _ => size,
        };
        entries.extend_from_slice(&addr.to_le_bytes());
        entries.extend_from_slice(&size.to_le_bytes());
        entries.extend_from_slice(&(names.len() as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let mut out = Vec::with_capacity(HEADER + entries.len() + names.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&entries);
    out.extend_from_slice(&names);
    out
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
        assert_eq!((s.name, off, s.size), ("kernel_main", 0x24, 0x40));
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
    fn strips_legacy_hash() {
        assert_eq!(
            strip_hash("kernel::main::h0123456789abcdef"),
            "kernel::main"
        );
        assert_eq!(strip_hash("kernel::hello"), "kernel::hello");
    }
}
