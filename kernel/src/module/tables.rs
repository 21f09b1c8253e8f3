//! The one reader of a module's ABI tables: `__versions` (from the file, before
//! relocation), `.ksymtab` and `__param` (from the relocated image, whose
//! pointers are then checked to lie inside it).
//!
//! Every entry is decoded from bytes with an unaligned read, and every address
//! an entry holds is checked against the image before it is followed: a
//! malformed table is an error, never a wild read.

use super::memory::ModuleMemory;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kabi::{KernelSymbol, ParamDesc, KERNEL_SYMBOL_SIZE, MOD_VERSION_SIZE, PARAM_DESC_SIZE};
use kcore::modparams;
use modloader::{LoadedModule, Object};

/// A module file's `__versions` tables (Linux's `struct modversion_info`
/// entries: an 8-byte CRC, then a NUL-padded name), searched by name without
/// first reading every entry's name: a load asks for a handful of them.
pub struct Versions<'a> {
    tables: Vec<&'a [u8]>,
    /// Where in the first table the kernel's exports start in
    /// `kabi::api::ALL` order (an untrimmed Rust module's `kabi::rt` table;
    /// the entries of the modules it imports from may come first), if they
    /// do.
    abi_start: Option<usize>,
    /// The entry of the first table after the last one found: the first
    /// looked at. `make modules` (`modtool versions --trim`) and modpost
    /// write the entries in the order of the module's symbol table, the
    /// order the load resolves imports in, so each is found at once.
    next: core::cell::Cell<usize>,
}

impl<'a> Versions<'a> {
    /// Every section named `__versions`, in section order.
    pub fn of(object: &Object<'a>) -> Self {
        let tables: Vec<&'a [u8]> = object
            .sections()
            .iter()
            .filter(|s| s.name == "__versions")
            .map(|s| s.data)
            .collect();
        // Looked for among the first entries only: a C module's table
        // (modpost's, in import order) has its own order and is searched.
        // A trimmed table (too short to hold every export after that
        // start) has its entries elsewhere: no hints.
        let first = kabi::api::ALL.first().map(|(name, _, _)| name.as_bytes());
        let abi_start = tables.first().zip(first).and_then(|(table, first)| {
            table
                .chunks_exact(MOD_VERSION_SIZE)
                .take(ABI_START_WITHIN)
                .position(|entry| entry_crc(entry, first).is_some())
                .filter(|start| table.len() / MOD_VERSION_SIZE >= start + kabi::api::ALL.len())
        });
        Versions {
            tables,
            abi_start,
            next: core::cell::Cell::new(0),
        }
    }

    /// Whether the file has a `__versions` section (even an empty one).
    pub fn present(&self) -> bool {
        !self.tables.is_empty()
    }

    /// The CRC of the first entry named `name` (which has no NUL in it),
    /// and where it is: (table, entry).
    fn find(&self, name: &[u8]) -> Option<(usize, usize, u64)> {
        self.tables.iter().enumerate().find_map(|(t, table)| {
            table
                .chunks_exact(MOD_VERSION_SIZE)
                .enumerate()
                .find_map(|(i, entry)| entry_crc(entry, name).map(|crc| (t, i, crc)))
        })
    }

    /// Entry `i` of the first table, if it is named `name`.
    fn first_table_entry(&self, i: usize, name: &[u8]) -> Option<u64> {
        let table = self.tables.first()?;
        let start = i.checked_mul(MOD_VERSION_SIZE)?;
        entry_crc(
            table.get(start..start.checked_add(MOD_VERSION_SIZE)?)?,
            name,
        )
    }

    /// The CRC of the first entry named `name` (which has no NUL in it),
    /// trying first the entry after the last one found (a
    /// table in import order: one entry read an import), then the entry at
    /// `hint` (an export's position in `kabi::api::ALL`) from where the
    /// kernel's exports start (an untrimmed Rust module's table lists them
    /// in that order, `kabi::rt`), before scanning.
    pub fn crc_hinted(&self, name: &[u8], hint: Option<usize>) -> Option<u64> {
        let next = self.next.get();
        if let Some(crc) = self.first_table_entry(next, name) {
            self.next.set(next + 1);
            return Some(crc);
        }
        let hinted = hint.and_then(|i| {
            let at = self.abi_start?.checked_add(i)?;
            Some((at, self.first_table_entry(at, name)?))
        });
        if let Some((at, crc)) = hinted {
            self.next.set(at + 1);
            return Some(crc);
        }
        let (table, at, crc) = self.find(name)?;
        if table == 0 {
            self.next.set(at + 1);
        }
        Some(crc)
    }
}

/// How far into a `__versions` table [`Versions::of`] looks for the start of
/// the kernel's exports: past the entries of a Rust module's own imports from
/// other modules.
const ABI_START_WITHIN: usize = 16;

/// The CRC of one `__versions` entry if it is named `name`.
fn entry_crc(entry: &[u8], name: &[u8]) -> Option<u64> {
    let (crc, field) = entry.split_at(8);
    // The entry's name is `name` when it ends where `name` does (a NUL there,
    // or the field's end) and has the same bytes: the cheap tests first. The
    // field is NUL-padded, so every shorter name has a NUL there too: its
    // byte before must be `name`'s last (a `memcmp` call otherwise for each
    // of them).
    let ends_there = field.get(name.len()).is_none_or(|&b| b == 0)
        && name
            .len()
            .checked_sub(1)
            .is_none_or(|i| field.get(i) == name.get(i));
    if ends_there && field.get(..name.len()) == Some(name) {
        let mut crc_bytes = [0u8; 8];
        crc_bytes.copy_from_slice(crc);
        return Some(u64::from_le_bytes(crc_bytes));
    }
    None
}

/// An ABI table entry type: `#[repr(C)]`, made only of integers and raw
/// pointers, so every bit pattern is a valid value.
///
/// # Safety
/// Implement only for such types, with `SIZE == size_of::<Self>()`.
unsafe trait TableEntry: Sized {
    const SIZE: usize;
}

// SAFETY: KernelSymbol is repr(C) with pointer and integer fields only.
unsafe impl TableEntry for KernelSymbol {
    const SIZE: usize = KERNEL_SYMBOL_SIZE;
}

// SAFETY: ParamDesc is repr(C) with pointer and integer fields only.
unsafe impl TableEntry for ParamDesc {
    const SIZE: usize = PARAM_DESC_SIZE;
}

/// The entries of every placed section called `section`, read from the image.
#[allow(private_bounds)]
pub fn placed_entries<T: TableEntry>(
    mem: &ModuleMemory,
    loaded: &LoadedModule<'_>,
    section: &str,
) -> Vec<T> {
    let mut out = Vec::new();
    for p in loaded.sections.iter().filter(|p| p.name == section) {
        let Some(bytes) = mem.image_bytes(p.address, p.size as usize) else {
            continue;
        };
        // Sized before the pushes: a growing `Vec` is an allocation, a copy
        // and a free each time it doubles.
        out.reserve_exact(bytes.len() / T::SIZE);
        for chunk in bytes.chunks_exact(T::SIZE) {
            // SAFETY: `chunk` holds SIZE == size_of::<T>() readable bytes, and any bit pattern is a valid T (TableEntry's contract).
            out.push(unsafe { core::ptr::read_unaligned(chunk.as_ptr() as *const T) });
        }
    }
    out
}

/// A UTF-8 string of `len` bytes at `addr` inside the image.
pub fn image_str(mem: &ModuleMemory, addr: u64, len: usize) -> Option<&str> {
    core::str::from_utf8(mem.image_bytes(addr, len)?).ok()
}

/// A parameter the module declares in `__param`, checked against its image.
pub struct Param {
    pub name: String,
    pub kind: modparams::Kind,
    /// Storage bytes at `ptr` (strings: including the NUL).
    pub size: usize,
    /// Where the value is written, inside the image's data.
    pub ptr: u64,
}

impl Param {
    pub fn declared(&self) -> modparams::Declared<'_> {
        modparams::Declared {
            name: &self.name,
            kind: self.kind,
            size: self.size,
        }
    }
}

/// The `__param` table: every entry's name and storage checked to lie inside
/// the image.
pub fn params(mem: &ModuleMemory, loaded: &LoadedModule<'_>) -> Result<Vec<Param>, &'static str> {
    let descs = placed_entries::<ParamDesc>(mem, loaded, "__param");
    let mut out = Vec::with_capacity(descs.len());
    for d in descs {
        let kind = modparams::Kind::from_abi(d.kind).ok_or("unknown parameter type")?;
        let name = image_str(mem, d.name as u64, d.name_len).ok_or("malformed __param entry")?;
        if d.size == 0 || !mem.contains_range(d.ptr as u64, d.size as u64) {
            return Err("malformed __param entry");
        }
        out.push(Param {
            name: name.to_string(),
            kind,
            size: d.size,
            ptr: d.ptr as u64,
        });
    }
    Ok(out)
}
