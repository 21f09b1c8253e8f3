//! The checked image: an untrusted `.ko` turned into sections and symbols we can trust.
//!
//! [`Object::parse`] is the one place that checks the input (STYLE.md rule 14): ELF64,
//! little-endian, `EM_AARCH64`, `ET_REL`; every section's name readable, its data
//! inside the file, its alignment a power of two within [`MAX_ALIGN`], never
//! writable and executable at once; exactly one symbol table, whole; RELA tables
//! whole and linked to that symbol table.
//!
//! Symbols are checked (name readable, section index valid, value inside its
//! section, COMMON alignment, no undefined local) by [`Object::symbol`], the
//! one check of an entry, when they are used: at parse, every entry from the
//! first that is not local or is COMMON (the globals, which the load resolves
//! and exports, and COMMON, which it allocates); at plan, each local the first
//! time a relocation names it. A local nobody names is never read, as Linux's
//! `simplify_symbols` reads only what it uses: most of a module's symbols are
//! such locals, and checking them cost ~80 instructions each. (Backtraces list
//! local functions from the raw entries, keeping those inside placed text.) Everything after this (layout, relocation) relies on those checks for its
//! indices and ranges, and still goes through checked accessors so that a bug there
//! is an error, not a panic. `sh_addr` is ignored: in `ET_REL` it means nothing.
//! Memory held is proportional to the section and symbol counts, so to the file size.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use elf::abi;
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::section::SectionHeader;
use elf::ElfBytes;

use crate::error::{LoadError, RegionKind};
use crate::prelink::Prelink;

/// Largest section or COMMON alignment accepted (64 KiB, the largest AArch64 page).
pub const MAX_ALIGN: u64 = 1 << 16;

/// Size of one `Elf64_Rela` entry.
pub const RELA_ENTRY_SIZE: usize = 24;

/// Where an allocated section goes, from its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionClass {
    /// `SHF_ALLOC` and placed in the given region; `zero_fill` for `SHT_NOBITS`.
    Allocated {
        /// The region (text for `SHF_EXECINSTR`, data for `SHF_WRITE`, else rodata).
        region: RegionKind,
        /// `SHT_NOBITS`: no file bytes, zeroed at load.
        zero_fill: bool,
    },
    /// Not loaded (debug info, symbol tables, relocations, notes, ...).
    NotAllocated,
}

/// One section header, checked.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// Index in the section header table.
    pub index: usize,
    /// Name from `.shstrtab`.
    pub name: &'a str,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_addralign`, at least 1.
    pub align: u64,
    /// Where it goes.
    pub class: SectionClass,
    /// The file bytes (empty for `SHT_NOBITS`; for unallocated sections other than
    /// RELA tables, also empty: they are never read).
    pub data: &'a [u8],
}

impl Section<'_> {
    /// The region this section is placed in, if it is allocated.
    pub fn region(&self) -> Option<RegionKind> {
        match self.class {
            SectionClass::Allocated { region, .. } => Some(region),
            SectionClass::NotAllocated => None,
        }
    }
}

/// Where a symbol's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolDef {
    /// `SHN_UNDEF`: resolved by name at load.
    Undefined,
    /// `SHN_ABS`: the value is the address.
    Absolute,
    /// `SHN_COMMON`: allocated in the data region; the value is the alignment.
    Common,
    /// Defined relative to the section with this index.
    Section(usize),
}

/// Symbol binding, reduced to what linking cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `STB_LOCAL`.
    Local,
    /// `STB_GLOBAL` (and `STB_GNU_UNIQUE`).
    Global,
    /// `STB_WEAK`: undefined resolves to 0 when nobody provides it.
    Weak,
}

/// One symbol table entry, checked.
#[derive(Clone, Debug)]
pub struct Symbol<'a> {
    /// Name from the string table (for section symbols, the section's name),
    /// read and checked at parse for every symbol but locals; a local's name is
    /// read only when asked for ([`Object::symbol_name`]): a load never needs
    /// most of them, and they are most of the table.
    pub(crate) name: &'a str,
    /// `st_name`.
    pub(crate) name_offset: u32,
    /// `st_value` (alignment for COMMON).
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// Where it is defined.
    pub def: SymbolDef,
    /// Its binding.
    pub binding: Binding,
    /// `STT_*` type.
    pub sym_type: u8,
}

impl Symbol<'_> {
    /// `st_name`: where the name starts in [`Object::string_table`].
    pub fn name_offset(&self) -> u32 {
        self.name_offset
    }
}

/// A symbol table entry as stored, not checked ([`Object::raw_symbol`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSymbol {
    /// `st_name`.
    pub name_offset: u32,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_shndx`.
    pub shndx: u16,
    /// `ELF64_ST_BIND(st_info)`.
    pub bind: u8,
    /// `ELF64_ST_TYPE(st_info)`.
    pub sym_type: u8,
}

/// A RELA table that applies to an allocated section.
#[derive(Clone, Debug)]
pub struct RelaTable<'a> {
    /// Index of the `SHT_RELA` section.
    pub index: usize,
    /// Index of the section it relocates (`sh_info`).
    pub target: usize,
    /// The entries, a whole number of [`RELA_ENTRY_SIZE`] records.
    pub entries: &'a [u8],
}

/// One decoded `Elf64_Rela`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    /// Offset of the place in the target section.
    pub offset: u64,
    /// Symbol index (`ELF64_R_SYM`).
    pub sym: u32,
    /// Type (`ELF64_R_TYPE`).
    pub rtype: u32,
    /// Addend.
    pub addend: i64,
}

impl<'a> RelaTable<'a> {
    /// The decoded entries, in file order.
    pub fn iter(&self) -> RelaIter<'a> {
        RelaIter {
            words: Words::of(self.entries),
            next: 0,
            len: self.len(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / RELA_ENTRY_SIZE
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A table of 24-byte records seen as the widest aligned words its address
/// allows. The kernel builds with `+strict-align`, so a field read through
/// `from_le_bytes` from bytes of unknown alignment is eight byte loads and
/// seven shift-ors; here the alignment is checked once per table and each
/// field is one load (two where the file is only 4-byte aligned, as a file in
/// a cpio archive is). Little-endian words, whatever the host.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Words<'a> {
    W64(&'a [[u64; 3]]),
    W32(&'a [[u32; 6]]),
    Bytes(&'a [u8]),
}

impl<'a> Words<'a> {
    pub(crate) fn of(bytes: &'a [u8]) -> Self {
        let whole = &bytes[..bytes.len() / 24 * 24];
        if let Ok(w) = bytemuck::try_cast_slice::<u8, [u64; 3]>(whole) {
            Words::W64(w)
        } else if let Ok(w) = bytemuck::try_cast_slice::<u8, [u32; 6]>(whole) {
            Words::W32(w)
        } else {
            Words::Bytes(whole)
        }
    }

    /// Record `i`'s three 64-bit fields, or `None` past the end.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> Option<[u64; 3]> {
        match self {
            Words::W64(w) => w.get(i).map(|r| r.map(u64::from_le)),
            Words::W32(w) => w.get(i).map(|r| {
                let q = |k: usize| {
                    u64::from(u32::from_le(r[2 * k])) | u64::from(u32::from_le(r[2 * k + 1])) << 32
                };
                [q(0), q(1), q(2)]
            }),
            Words::Bytes(b) => {
                let e = b.get(i * 24..i * 24 + 24)?;
                let q = |k: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&e[8 * k..8 * k + 8]);
                    u64::from_le_bytes(w)
                };
                Some([q(0), q(1), q(2)])
            }
        }
    }
}

/// Bytes of an `Elf64_Shdr` and an `Elf64_Sym`.
const SHDR_SIZE: usize = 64;
const SYM_SIZE: usize = 24;

/// Record `i` of a table of `N`-word records, as words: one load a word where
/// the table is 8-byte aligned, two where 4 (see [`Words`]), else bytes.
#[inline(always)]
fn record<const N: usize>(table: &[u8], i: usize) -> Option<[u64; N]> {
    let rec = table.get(i.checked_mul(8 * N)?..)?.get(..8 * N)?;
    if let Ok(w) = bytemuck::try_cast_slice::<u8, u64>(rec) {
        return Some(core::array::from_fn(|k| {
            w.get(k).map_or(0, |x| u64::from_le(*x))
        }));
    }
    if let Ok(w) = bytemuck::try_cast_slice::<u8, u32>(rec) {
        let half = |k: usize| u64::from(w.get(k).map_or(0, |x| u32::from_le(*x)));
        return Some(core::array::from_fn(|k| {
            half(2 * k) | half(2 * k + 1) << 32
        }));
    }
    Some(core::array::from_fn(|k| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rec[8 * k..8 * k + 8]);
        u64::from_le_bytes(b)
    }))
}

/// Section header `index` of the header table `table`.
// Inlined: a header returned by value is otherwise copied out with `memcpy`,
// once per section and again by each caller.
#[inline(always)]
fn section_header(table: &[u8], index: usize) -> Option<SectionHeader> {
    let w = record::<8>(table, index)?;
    Some(SectionHeader {
        sh_name: w[0] as u32,
        sh_type: (w[0] >> 32) as u32,
        sh_flags: w[1],
        sh_addr: w[2],
        sh_offset: w[3],
        sh_size: w[4],
        sh_link: w[5] as u32,
        sh_info: (w[5] >> 32) as u32,
        sh_addralign: w[6],
        sh_entsize: w[7],
    })
}

/// An `Elf64_Sym` from its three words.
fn elf_symbol(w: [u64; 3]) -> elf::symbol::Symbol {
    elf::symbol::Symbol {
        st_name: w[0] as u32,
        st_info: (w[0] >> 32) as u8,
        st_other: (w[0] >> 40) as u8,
        st_shndx: (w[0] >> 48) as u16,
        st_value: w[1],
        st_size: w[2],
    }
}

/// The section name string table's bytes (`e_shstrndx`, or section 0's
/// `sh_link` when that is `SHN_XINDEX`), inside the file.
fn shstrtab_bytes<'a>(
    file: &ElfBytes<'a, LittleEndian>,
    bytes: &'a [u8],
    headers: &[u8],
) -> Result<&'a [u8], LoadError> {
    let index = match file.ehdr.e_shstrndx {
        abi::SHN_XINDEX => section_header(headers, 0).map_or(0, |h| h.sh_link as usize),
        i => usize::from(i),
    };
    let sh = section_header(headers, index).ok_or_else(|| LoadError::Malformed {
        what: "section headers",
        detail: format!("section name table {index} does not exist"),
    })?;
    file_range(bytes, index, "", &sh)
}

/// A string table: names are found (NUL) and checked (UTF-8) one at a time,
/// when asked for; or, for a table whose every name is read (the section
/// names), checked as a whole once ([`Names::whole`]).
#[derive(Clone, Copy, Debug, Default)]
struct Names<'a> {
    bytes: &'a [u8],
    /// The table as text, when it was checked whole and is UTF-8.
    text: Option<&'a str>,
}

impl<'a> Names<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Names { bytes, text: None }
    }

    /// A table checked for UTF-8 once: its names are then sliced from it (a
    /// name is UTF-8 when it starts on a character boundary) instead of each
    /// checked (a call of `from_utf8` a section). One that is not UTF-8 is
    /// checked name by name, with the same errors.
    fn whole(bytes: &'a [u8]) -> Self {
        Names {
            bytes,
            text: core::str::from_utf8(bytes).ok(),
        }
    }

    /// The NUL-terminated name at `offset`.
    fn get(&self, offset: usize) -> Result<&'a str, String> {
        let tail = self
            .bytes
            .get(offset..)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("offset {offset:#x} past the string table's end"))?;
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("string at {offset:#x} is not NUL-terminated"))?;
        match self.text {
            // The NUL at `offset + len` ends a character, so only `offset`
            // needs to be a boundary.
            Some(text) => text.get(offset..offset + len),
            None => tail.get(..len).and_then(|n| core::str::from_utf8(n).ok()),
        }
        .ok_or_else(|| format!("string at {offset:#x} is not UTF-8"))
    }
}

/// Iterator over a [`RelaTable`]'s entries.
#[derive(Clone, Debug)]
pub struct RelaIter<'a> {
    words: Words<'a>,
    next: usize,
    len: usize,
}

impl Iterator for RelaIter<'_> {
    type Item = Rela;

    #[inline(always)]
    fn next(&mut self) -> Option<Rela> {
        let [offset, info, addend] = self.words.get(self.next)?;
        self.next += 1;
        Some(Rela {
            offset,
            sym: (info >> 32) as u32,
            rtype: info as u32,
            addend: addend as i64,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.next.min(self.len);
        (left, Some(left))
    }
}

impl ExactSizeIterator for RelaIter<'_> {}

/// A parsed and checked relocatable object. Borrowed from the file bytes.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    sections: Vec<Section<'a>>,
    /// The symbol table's entries, as stored: each is checked when used.
    symtab: Words<'a>,
    /// Entries in `symtab`.
    symbol_count: usize,
    /// Entries from this index on are checked at parse and kept in `eager`:
    /// the first entry that is not local or is COMMON (in a well-formed table,
    /// `sh_info`, the first global). Those before it, all locals, are checked
    /// when used.
    eager_from: usize,
    /// Entries `eager_from..`, checked.
    eager: Vec<Symbol<'a>>,
    relas: Vec<RelaTable<'a>>,
    /// The symbol table's string table, for the names read late.
    strtab: Names<'a>,
    /// `.modprelink`, when the build prelinked the object (`prelink.rs`).
    prelink: Option<Prelink<'a>>,
}

fn malformed(what: &'static str, e: elf::ParseError) -> LoadError {
    LoadError::Malformed {
        what,
        detail: e.to_string(),
    }
}

fn not_rel(reason: impl Into<String>) -> LoadError {
    LoadError::NotRelocatable {
        reason: reason.into(),
    }
}

/// Checks the ELF header: magic, ELF64, little-endian, `EM_AARCH64`, `ET_REL`, and a
/// section header table the parser accepts.
fn check_header(bytes: &[u8]) -> Result<ElfBytes<'_, LittleEndian>, LoadError> {
    if bytes.get(..4) != Some(&abi::ELFMAGIC[..]) {
        return Err(not_rel("bad ELF magic"));
    }
    match bytes.get(abi::EI_CLASS) {
        Some(&abi::ELFCLASS64) => {}
        Some(&abi::ELFCLASS32) => return Err(not_rel("ELFCLASS32")),
        _ => return Err(not_rel("bad ELF class")),
    }
    if bytes.get(abi::EI_DATA) != Some(&abi::ELFDATA2LSB) {
        return Err(not_rel("not little-endian"));
    }
    const EHDR_SIZE: usize = 64;
    if bytes.len() < EHDR_SIZE {
        return Err(LoadError::Malformed {
            what: "file header",
            detail: format!(
                "truncated: {} bytes, an ELF64 header needs {EHDR_SIZE}",
                bytes.len()
            ),
        });
    }
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes)
        .map_err(|e| malformed("section header table", e))?;
    if file.ehdr.class != Class::ELF64 {
        return Err(not_rel("ELFCLASS32"));
    }
    if file.ehdr.e_machine != abi::EM_AARCH64 {
        return Err(not_rel(format!("e_machine {}", file.ehdr.e_machine)));
    }
    if file.ehdr.e_type != abi::ET_REL {
        return Err(not_rel(format!("e_type {}, not ET_REL", file.ehdr.e_type)));
    }
    Ok(file)
}

/// A [`LoadError::BadSection`] for section `index` named `name`.
#[cold]
fn bad_section(index: usize, name: &str, reason: String) -> LoadError {
    LoadError::BadSection {
        index,
        name: name.into(),
        reason,
    }
}

/// The file bytes of section `index`, which must lie inside the file.
fn file_range<'a>(
    bytes: &'a [u8],
    index: usize,
    name: &str,
    sh: &SectionHeader,
) -> Result<&'a [u8], LoadError> {
    let start = usize::try_from(sh.sh_offset).ok();
    let len = usize::try_from(sh.sh_size).ok();
    start
        .zip(len)
        .and_then(|(s, l)| bytes.get(s..s.checked_add(l)?))
        .ok_or_else(|| outside_file(bytes.len(), index, name, sh))
}

/// Section `index`'s data does not lie inside the file of `file_size` bytes.
#[cold]
fn outside_file(file_size: usize, index: usize, name: &str, sh: &SectionHeader) -> LoadError {
    bad_section(
        index,
        name,
        format!(
            "data at offset {:#x} size {:#x} lies outside the file ({file_size:#x} bytes)",
            sh.sh_offset, sh.sh_size
        ),
    )
}

/// A RELA section as found in the section table: (index, `sh_info` target,
/// `sh_link`, entries), before it is checked against the other sections.
type RawRela<'a> = (usize, usize, usize, &'a [u8]);

/// The section table being read: checked sections so far, the RELA tables and the
/// symbol table found among them.
struct SectionTable<'a> {
    sections: Vec<Section<'a>>,
    raw_relas: Vec<RawRela<'a>>,
    symtab_index: Option<usize>,
}

impl<'a> SectionTable<'a> {
    /// Checks section header `index`: its name, where it goes, its type; records it.
    fn read(
        &mut self,
        bytes: &'a [u8],
        index: usize,
        sh: &SectionHeader,
        shstrtab: Option<&Names<'a>>,
    ) -> Result<(), LoadError> {
        let name = match (shstrtab, index) {
            (_, 0) => "",
            (Some(strtab), _) => strtab
                .get(sh.sh_name as usize)
                .map_err(|e| bad_section(index, "", format!("bad name: {e}")))?,
            (None, _) => "",
        };
        let (class, data) = classify(bytes, index, name, sh)?;
        self.note_type(bytes, index, name, sh)?;
        self.sections.push(Section {
            index,
            name,
            sh_type: sh.sh_type,
            flags: sh.sh_flags,
            size: sh.sh_size,
            align: sh.sh_addralign.max(1),
            class,
            data,
        });
        Ok(())
    }

    /// Checks the section's type: no `SHT_REL` or `SHT_SYMTAB_SHNDX`, RELA tables of
    /// whole 24-byte entries inside the file (recorded), one symbol table (recorded).
    fn note_type(
        &mut self,
        bytes: &'a [u8],
        index: usize,
        name: &'a str,
        sh: &SectionHeader,
    ) -> Result<(), LoadError> {
        match sh.sh_type {
            abi::SHT_REL => {
                return Err(LoadError::RelNotSupported {
                    section: name.into(),
                })
            }
            abi::SHT_RELA => {
                if sh.sh_entsize != RELA_ENTRY_SIZE as u64 {
                    return Err(bad_section(
                        index,
                        name,
                        format!("RELA entry size {} (expected 24)", sh.sh_entsize),
                    ));
                }
                if !sh.sh_size.is_multiple_of(RELA_ENTRY_SIZE as u64) {
                    return Err(bad_section(
                        index,
                        name,
                        format!("RELA size {:#x} is not a multiple of 24", sh.sh_size),
                    ));
                }
                let entries = file_range(bytes, index, name, sh)?;
                self.raw_relas
                    .push((index, sh.sh_info as usize, sh.sh_link as usize, entries));
            }
            abi::SHT_SYMTAB if self.symtab_index.replace(index).is_some() => {
                return Err(bad_section(index, name, "second symbol table".into()));
            }
            abi::SHT_SYMTAB_SHNDX => {
                return Err(bad_section(
                    index,
                    name,
                    "extended section indices (SHT_SYMTAB_SHNDX) are not supported".into(),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where section `index` goes and the bytes it keeps: an allocated section must have
/// a power-of-two alignment up to [`MAX_ALIGN`], no TLS, not W+X, and (unless NOBITS)
/// its data inside the file; of the others only `.modinfo` keeps its bytes.
fn classify<'a>(
    bytes: &'a [u8],
    index: usize,
    name: &str,
    sh: &SectionHeader,
) -> Result<(SectionClass, &'a [u8]), LoadError> {
    let align = sh.sh_addralign.max(1);
    let is_alloc = sh.sh_flags & u64::from(abi::SHF_ALLOC) != 0;
    let exec = sh.sh_flags & u64::from(abi::SHF_EXECINSTR) != 0;
    let write = sh.sh_flags & u64::from(abi::SHF_WRITE) != 0;
    if index == 0 || !is_alloc || sh.sh_type == abi::SHT_NULL {
        let keep = (name == crate::MODINFO_SECTION || name == crate::prelink::PRELINK_SECTION)
            && sh.sh_type != abi::SHT_NOBITS;
        let data = if keep {
            file_range(bytes, index, name, sh)?
        } else {
            &[]
        };
        return Ok((SectionClass::NotAllocated, data));
    }
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(bad_section(
            index,
            name,
            format!(
                "alignment {:#x} is not a power of two up to {MAX_ALIGN:#x}",
                sh.sh_addralign
            ),
        ));
    }
    if sh.sh_flags & u64::from(abi::SHF_TLS) != 0 {
        return Err(bad_section(
            index,
            name,
            "thread-local storage is not supported in modules".into(),
        ));
    }
    if exec && write {
        return Err(bad_section(
            index,
            name,
            "writable and executable: refusing W+X".into(),
        ));
    }
    let zero_fill = sh.sh_type == abi::SHT_NOBITS;
    let data = if zero_fill {
        &[]
    } else {
        file_range(bytes, index, name, sh)?
    };
    let region = if exec {
        RegionKind::Text
    } else if write {
        RegionKind::Data
    } else {
        RegionKind::Rodata
    };
    Ok((SectionClass::Allocated { region, zero_fill }, data))
}

/// The RELA tables that relocate loaded sections, each checked: its target exists
/// and it is linked to the symbol table. Tables of unloaded sections (debug info)
/// and empty tables are dropped.
fn link_rela_tables<'a>(
    sections: &[Section<'a>],
    raw_relas: Vec<RawRela<'a>>,
    symtab_index: Option<usize>,
) -> Result<Vec<RelaTable<'a>>, LoadError> {
    let mut relas = Vec::with_capacity(raw_relas.len());
    for (index, target, link, entries) in raw_relas {
        let rela_name = sections.get(index).map_or("", |s| s.name);
        let Some(target_section) = sections.get(target) else {
            return Err(bad_section(
                index,
                rela_name,
                format!("relocates section {target}, which does not exist"),
            ));
        };
        if target_section.region().is_none() {
            // Relocations of debug info and other unloaded sections are ignored.
            continue;
        }
        if entries.is_empty() {
            continue;
        }
        if Some(link) != symtab_index {
            return Err(bad_section(
                index,
                rela_name,
                format!("linked to section {link}, not the symbol table"),
            ));
        }
        relas.push(RelaTable {
            index,
            target,
            entries,
        });
    }
    Ok(relas)
}

impl<'a> Object<'a> {
    /// Checks `bytes` as an AArch64 ELF64 `ET_REL` object. See the module comment for
    /// what is checked: the header, each section header, the symbol table, then the
    /// RELA tables against both.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, LoadError> {
        let file = check_header(bytes)?;
        let (shdrs, shstrtab) = file
            .section_headers_with_strtab()
            .map_err(|e| malformed("section headers", e))?;
        let Some(shdrs) = shdrs else {
            return Ok(Object {
                sections: Vec::new(),
                symtab: Words::Bytes(&[]),
                symbol_count: 0,
                eager_from: 0,
                eager: Vec::new(),
                relas: Vec::new(),
                strtab: Names::default(),
                prelink: None,
            });
        };
        let mut table = SectionTable {
            sections: Vec::with_capacity(shdrs.len()),
            raw_relas: Vec::new(),
            symtab_index: None,
        };
        // The parser checked that the table lies inside the file; it is read
        // here as words (see `Words`), the fields laid out as in `Elf64_Shdr`.
        let count = shdrs.len();
        let table_bytes = usize::try_from(file.ehdr.e_shoff)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(count.checked_mul(SHDR_SIZE)?)?))
            .ok_or_else(|| LoadError::Malformed {
                what: "section headers",
                detail: "table lies outside the file".into(),
            })?;
        let names = match shstrtab {
            Some(_) => Some(Names::whole(shstrtab_bytes(&file, bytes, table_bytes)?)),
            None => None,
        };
        for index in 0..count {
            let sh = section_header(table_bytes, index).ok_or_else(|| LoadError::Malformed {
                what: "section headers",
                detail: format!("header {index} unreadable"),
            })?;
            table.read(bytes, index, &sh, names.as_ref())?;
        }
        let (symtab, symbol_count, strtab) = match table.symtab_index {
            Some(index) => Self::symbol_table(bytes, table_bytes, index, &table.sections)?,
            None => (Words::Bytes(&[]), 0, Names::default()),
        };
        let relas = link_rela_tables(&table.sections, table.raw_relas, table.symtab_index)?;
        let prelink = match table
            .sections
            .iter()
            .find(|s| s.name == crate::prelink::PRELINK_SECTION)
        {
            Some(s) => Some(crate::prelink::read(s.index, s.data, &table.sections)?),
            None => None,
        };
        let mut object = Object {
            sections: table.sections,
            symtab,
            symbol_count,
            eager_from: symbol_count,
            eager: Vec::new(),
            relas,
            strtab,
            prelink,
        };
        object.check_eager_symbols()?;
        Ok(object)
    }

    /// Finds the symbol table (section `symtab`) and its string table and checks
    /// them as tables: entries of 24 bytes, both inside the file, the string table
    /// a section that exists. The entries themselves are checked one at a time by
    /// [`Object::symbol`], when they are used.
    fn symbol_table(
        bytes: &'a [u8],
        headers: &'a [u8],
        symtab: usize,
        sections: &[Section<'a>],
    ) -> Result<(Words<'a>, usize, Names<'a>), LoadError> {
        let bad_table = |detail: String| LoadError::Malformed {
            what: "symbol table",
            detail,
        };
        let sh = section_header(headers, symtab)
            .ok_or_else(|| bad_table(format!("header {symtab} unreadable")))?;
        if sh.sh_entsize != SYM_SIZE as u64 || !sh.sh_size.is_multiple_of(SYM_SIZE as u64) {
            return Err(bad_table(format!(
                "entry size {} and size {:#x} (expected entries of {SYM_SIZE} bytes)",
                sh.sh_entsize, sh.sh_size
            )));
        }
        let name = sections.get(symtab).map_or("", |s| s.name);
        let table = Words::of(file_range(bytes, symtab, name, &sh)?);
        let link = sh.sh_link as usize;
        let strtab = section_header(headers, link)
            .filter(|_| link != 0)
            .ok_or_else(|| bad_table(format!("linked to section {link}, which does not exist")))?;
        let strtab_name = sections.get(link).map_or("", |s| s.name);
        let strtab = Names::new(file_range(bytes, link, strtab_name, &strtab)?);
        let count = (sh.sh_size / SYM_SIZE as u64) as usize;
        Ok((table, count, strtab))
    }

    /// Number of entries in the symbol table (index 0 is the null symbol).
    pub fn symbol_count(&self) -> usize {
        self.symbol_count
    }

    /// Entry `index` of the symbol table as stored, not checked: for walks that
    /// pick the few symbols they need (by section index, binding or type) before
    /// checking those with [`Object::symbol`].
    #[inline(always)]
    pub fn raw_symbol(&self, index: usize) -> Option<RawSymbol> {
        if index >= self.symbol_count {
            return None;
        }
        let w = self.symtab.get(index)?;
        Some(RawSymbol {
            name_offset: w[0] as u32,
            value: w[1],
            size: w[2],
            shndx: (w[0] >> 48) as u16,
            bind: ((w[0] >> 32) as u8) >> 4,
            sym_type: ((w[0] >> 32) as u8) & 0xf,
        })
    }

    /// Calls `f` with the index and raw entry of every symbol, in table order
    /// ([`Object::raw_symbol`] for each, the table's word width chosen once).
    #[inline(always)]
    pub fn for_each_raw_symbol(&self, mut f: impl FnMut(usize, RawSymbol)) {
        let raw = |w0: u64, value: u64, size: u64| RawSymbol {
            name_offset: w0 as u32,
            value,
            size,
            shndx: (w0 >> 48) as u16,
            bind: ((w0 >> 32) as u8) >> 4,
            sym_type: ((w0 >> 32) as u8) & 0xf,
        };
        match self.symtab {
            Words::W64(w) => {
                for (i, r) in w.iter().take(self.symbol_count).enumerate() {
                    f(
                        i,
                        raw(u64::from_le(r[0]), u64::from_le(r[1]), u64::from_le(r[2])),
                    );
                }
            }
            Words::W32(w) => {
                for (i, r) in w.iter().take(self.symbol_count).enumerate() {
                    let q = |k: usize| {
                        u64::from(u32::from_le(r[2 * k]))
                            | u64::from(u32::from_le(r[2 * k + 1])) << 32
                    };
                    f(i, raw(q(0), q(1), q(2)));
                }
            }
            Words::Bytes(_) => {
                for i in 0..self.symbol_count {
                    if let Some(r) = self.raw_symbol(i) {
                        f(i, r);
                    }
                }
            }
        }
    }

    /// Symbol `index`, checked: its name (but a local's, read by
    /// [`Object::symbol_name`] when asked for), its section index and value,
    /// COMMON alignment, no undefined locals. This is the one check of an
    /// entry; it runs when the entry is used (see the module comment).
    pub fn symbol(&self, index: usize) -> Result<Symbol<'a>, LoadError> {
        match index.checked_sub(self.eager_from) {
            Some(i) => self
                .eager
                .get(i)
                .cloned()
                .ok_or_else(|| LoadError::Malformed {
                    what: "symbol table",
                    detail: format!("entry {index} out of range ({} entries)", self.symbol_count),
                }),
            None => self.decode_symbol(index),
        }
    }

    /// Where entry `index` is defined: [`Object::symbol`]'s `def`, with the
    /// same checks and errors, without copying a symbol checked at parse
    /// (a `memcpy` call each, where the plan asks once per symbol a
    /// relocation names).
    pub(crate) fn symbol_def(&self, index: usize) -> Result<SymbolDef, LoadError> {
        match index.checked_sub(self.eager_from) {
            Some(i) => match self.eager.get(i) {
                Some(s) => Ok(s.def),
                None => self.symbol(index).map(|s| s.def),
            },
            None => self.decode_symbol(index).map(|s| s.def),
        }
    }

    /// Entry `index`, decoded and checked (see [`Object::symbol`]).
    fn decode_symbol(&self, index: usize) -> Result<Symbol<'a>, LoadError> {
        let strtab = self.strtab;
        let sym = self
            .symtab
            .get(index)
            .filter(|_| index < self.symbol_count)
            .map(elf_symbol)
            .ok_or_else(|| LoadError::Malformed {
                what: "symbol table",
                detail: format!("entry {index} out of range ({} entries)", self.symbol_count),
            })?;
        // A local's name, not read yet, is read for the message.
        let bad = |reason: String, name: &str| LoadError::BadSymbol {
            index,
            name: match name {
                "" => strtab.get(sym.st_name as usize).unwrap_or("").into(),
                n => n.into(),
            },
            reason,
        };
        let binding = match sym.st_bind() {
            abi::STB_LOCAL => Binding::Local,
            abi::STB_WEAK => Binding::Weak,
            _ => Binding::Global,
        };
        let mut name = match (binding, sym.st_shndx) {
            (Binding::Local, shndx) if shndx != abi::SHN_UNDEF || index == 0 => "",
            _ => strtab
                .get(sym.st_name as usize)
                .map_err(|e| bad(format!("bad name: {e}"), "?"))?,
        };
        let def = match sym.st_shndx {
            abi::SHN_UNDEF => SymbolDef::Undefined,
            abi::SHN_ABS => SymbolDef::Absolute,
            abi::SHN_COMMON => {
                if !sym.st_value.is_power_of_two() || sym.st_value > MAX_ALIGN {
                    return Err(bad(
                        format!(
                            "COMMON alignment {:#x} is not a power of two up to {MAX_ALIGN:#x}",
                            sym.st_value
                        ),
                        name,
                    ));
                }
                SymbolDef::Common
            }
            abi::SHN_XINDEX => {
                return Err(bad("extended section index is not supported".into(), name))
            }
            shndx => {
                let shndx = usize::from(shndx);
                let Some(section) = self
                    .sections
                    .get(shndx)
                    .filter(|_| shndx < usize::from(abi::SHN_LORESERVE))
                else {
                    return Err(bad(format!("section index {shndx} out of range"), name));
                };
                if section.region().is_some() && sym.st_value > section.size {
                    return Err(bad(
                        format!(
                            "value {:#x} lies past the end of section '{}' ({:#x} bytes)",
                            sym.st_value, section.name, section.size
                        ),
                        name,
                    ));
                }
                if sym.st_symtype() == abi::STT_SECTION {
                    name = section.name;
                }
                SymbolDef::Section(shndx)
            }
        };
        if index != 0 && def == SymbolDef::Undefined && binding == Binding::Local {
            return Err(bad("undefined local symbol".into(), name));
        }
        Ok(Symbol {
            name,
            name_offset: sym.st_name,
            value: sym.st_value,
            size: sym.st_size,
            def,
            binding,
            sym_type: sym.st_symtype(),
        })
    }

    /// Every symbol, by index (index 0 is the null symbol), each checked as by
    /// [`Object::symbol`].
    pub fn symbols(&self) -> impl Iterator<Item = Result<Symbol<'a>, LoadError>> + '_ {
        (0..self.symbol_count).map(|i| self.symbol(i))
    }

    /// Checks, at parse, the entries from the first one that is not local or
    /// is COMMON to the end (in a well-formed table, the globals after the
    /// locals): what the load resolves, exports or allocates, whether or not a
    /// relocation names it. The locals before are checked when used.
    fn check_eager_symbols(&mut self) -> Result<(), LoadError> {
        let first = (1..self.symbol_count).find(|&i| {
            self.raw_symbol(i)
                .is_none_or(|r| r.bind != abi::STB_LOCAL || r.shndx == abi::SHN_COMMON)
        });
        let from = first.unwrap_or(self.symbol_count);
        let mut eager = Vec::with_capacity(self.symbol_count - from);
        for index in from..self.symbol_count {
            eager.push(self.decode_symbol(index)?);
        }
        self.eager_from = from;
        self.eager = eager;
        Ok(())
    }

    /// Index of the first symbol checked at parse (see [`Object::eager_symbols`]).
    pub(crate) fn eager_from(&self) -> usize {
        self.eager_from
    }

    /// The symbols checked at parse, with their index: every one that is not
    /// local and every COMMON one (and any local the table places among them).
    pub fn eager_symbols(&self) -> impl Iterator<Item = (usize, &Symbol<'a>)> + '_ {
        self.eager
            .iter()
            .enumerate()
            .map(|(i, s)| (self.eager_from + i, s))
    }

    /// A symbol's name (a section symbol's is its section's). A local's is read
    /// from the string table now; one that is unreadable there shows as `?`.
    pub fn symbol_name(&self, sym: &Symbol<'a>) -> &'a str {
        if !sym.name.is_empty() || sym.name_offset == 0 {
            return sym.name;
        }
        self.strtab.get(sym.name_offset as usize).unwrap_or("?")
    }

    /// The symbol table's entries as stored (24 bytes each, not checked), for
    /// a copy read later (backtraces) with the checks [`Object::symbol`]
    /// would make of what it uses.
    pub fn symbol_table_bytes(&self) -> &'a [u8] {
        match self.symtab {
            Words::W64(w) => bytemuck::cast_slice(w),
            Words::W32(w) => bytemuck::cast_slice(w),
            Words::Bytes(b) => b,
        }
    }

    /// The symbol table's string table (names at [`Symbol::name_offset`]).
    pub fn string_table(&self) -> &'a [u8] {
        self.strtab.bytes
    }

    /// All section headers, by index (index 0 is the null section).
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// The RELA tables that apply to allocated sections.
    pub fn rela_tables(&self) -> &[RelaTable<'a>] {
        &self.relas
    }

    /// `.modprelink`, when the object has one (checked as a table at parse).
    pub(crate) fn prelink(&self) -> Option<&Prelink<'a>> {
        self.prelink.as_ref()
    }

    /// Relocations the build applied (`modtool prelink`), when it did.
    pub fn prelinked_relocations(&self) -> Option<u64> {
        self.prelink.as_ref().map(|p| p.resolved)
    }

    /// Whether the build also cut the RELA tables to the entries left
    /// (`modtool prelink --strip`): such an object loads only as planned
    /// with [`crate::PlanOptions::use_prelink`].
    pub fn prelink_stripped(&self) -> bool {
        self.prelink.as_ref().is_some_and(|p| p.stripped)
    }

    /// Names of the undefined symbols the module needs (weak ones included), in
    /// symbol table order; `_GLOBAL_OFFSET_TABLE_`, which the loader defines, is not
    /// listed.
    pub fn undefined_symbols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.eager
            .iter()
            .filter(|s| {
                s.def == SymbolDef::Undefined && !s.name.is_empty() && s.name != crate::GOT_SYMBOL
            })
            .map(|s| s.name)
    }

    /// The global and weak symbols the module defines (its exports), in symbol table
    /// order, with their index.
    pub fn defined_globals(&self) -> impl Iterator<Item = (usize, &Symbol<'a>)> + '_ {
        self.eager_symbols().filter(|(_, s)| {
            s.binding != Binding::Local
                && !s.name.is_empty()
                && match s.def {
                    SymbolDef::Undefined => false,
                    SymbolDef::Section(i) => {
                        self.sections.get(i).is_some_and(|s| s.region().is_some())
                    }
                    SymbolDef::Absolute | SymbolDef::Common => true,
                }
        })
    }

    /// The `key=value` strings of the `.modinfo` section (empty when there is none).
    /// Strings that are not UTF-8 are skipped.
    pub fn modinfo(&self) -> impl Iterator<Item = &'a str> + '_ {
        let data: &'a [u8] = self
            .sections
            .iter()
            .find(|s| s.name == crate::MODINFO_SECTION)
            .map_or(&[], |s| s.data);
        data.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// The value of `.modinfo` key `key` (the first one), e.g. `license`.
    pub fn modinfo_get(&self, key: &str) -> Option<&'a str> {
        self.modinfo()
            .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}
