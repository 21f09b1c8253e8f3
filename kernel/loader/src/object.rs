//! The checked image: an untrusted `.ko` turned into sections and symbols we can trust.
//!
//! [`Object::parse`] is the one place that checks the input (STYLE.md rule 14): ELF64,
//! little-endian, `EM_AARCH64`, `ET_REL`; every section's name readable, its data
//! inside the file, its alignment a power of two within [`MAX_ALIGN`], never
//! writable and executable at once; exactly one symbol table; every symbol's name
//! readable and its section index valid; RELA tables whole and linked to that symbol
//! table. Everything after this (layout, relocation) relies on those checks for its
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
use elf::string_table::StringTable;
use elf::ElfBytes;

use crate::error::{LoadError, RegionKind};

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
    /// Name from the string table (for section symbols, the section's name).
    pub name: &'a str,
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

impl RelaTable<'_> {
    /// The decoded entries, in file order.
    pub fn iter(&self) -> impl Iterator<Item = Rela> + '_ {
        self.entries.chunks_exact(RELA_ENTRY_SIZE).map(|e| {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                if let Some(src) = e.get(i..i + 8) {
                    b.copy_from_slice(src);
                }
                u64::from_le_bytes(b)
            };
            let info = word(8);
            Rela {
                offset: word(0),
                sym: (info >> 32) as u32,
                rtype: info as u32,
                addend: word(16) as i64,
            }
        })
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

/// A parsed and checked relocatable object. Borrowed from the file bytes.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    sections: Vec<Section<'a>>,
    symbols: Vec<Symbol<'a>>,
    relas: Vec<RelaTable<'a>>,
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
        shstrtab: Option<&StringTable<'a>>,
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
        let keep = name == crate::MODINFO_SECTION && sh.sh_type != abi::SHT_NOBITS;
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
                symbols: Vec::new(),
                relas: Vec::new(),
            });
        };
        let mut table = SectionTable {
            sections: Vec::with_capacity(shdrs.len()),
            raw_relas: Vec::new(),
            symtab_index: None,
        };
        for (index, sh) in shdrs.iter().enumerate() {
            table.read(bytes, index, &sh, shstrtab.as_ref())?;
        }
        let symbols = match table.symtab_index {
            Some(_) => Self::parse_symbols(&file, &table.sections)?,
            None => Vec::new(),
        };
        let relas = link_rela_tables(&table.sections, table.raw_relas, table.symtab_index)?;
        Ok(Object {
            sections: table.sections,
            symbols,
            relas,
        })
    }

    /// Checks every symbol: its name, its section index and value, COMMON alignment,
    /// no undefined locals.
    fn parse_symbols(
        file: &ElfBytes<'a, LittleEndian>,
        sections: &[Section<'a>],
    ) -> Result<Vec<Symbol<'a>>, LoadError> {
        let Some((symtab, strtab)) = file
            .symbol_table()
            .map_err(|e| malformed("symbol table", e))?
        else {
            return Ok(Vec::new());
        };
        let mut symbols = Vec::with_capacity(symtab.len());
        for index in 0..symtab.len() {
            let sym = symtab
                .get(index)
                .map_err(|e| malformed("symbol table", e))?;
            let bad = |reason: String, name: &str| LoadError::BadSymbol {
                index,
                name: name.into(),
                reason,
            };
            let mut name = strtab
                .get(sym.st_name as usize)
                .map_err(|e| bad(format!("bad name: {e}"), ""))?;
            let binding = match sym.st_bind() {
                abi::STB_LOCAL => Binding::Local,
                abi::STB_WEAK => Binding::Weak,
                _ => Binding::Global,
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
                    let Some(section) = sections
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
            symbols.push(Symbol {
                name,
                value: sym.st_value,
                size: sym.st_size,
                def,
                binding,
                sym_type: sym.st_symtype(),
            });
        }
        Ok(symbols)
    }

    /// All section headers, by index (index 0 is the null section).
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// All symbols, by index (index 0 is the null symbol).
    pub fn symbols(&self) -> &[Symbol<'a>] {
        &self.symbols
    }

    /// The RELA tables that apply to allocated sections.
    pub fn rela_tables(&self) -> &[RelaTable<'a>] {
        &self.relas
    }

    /// Names of the undefined symbols the module needs (weak ones included), in
    /// symbol table order; `_GLOBAL_OFFSET_TABLE_`, which the loader defines, is not
    /// listed.
    pub fn undefined_symbols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.symbols
            .iter()
            .skip(1)
            .filter(|s| {
                s.def == SymbolDef::Undefined && !s.name.is_empty() && s.name != crate::GOT_SYMBOL
            })
            .map(|s| s.name)
    }

    /// The global and weak symbols the module defines (its exports), in symbol table
    /// order, with their section.
    pub fn defined_globals(&self) -> impl Iterator<Item = (usize, &Symbol<'a>)> + '_ {
        self.symbols.iter().enumerate().filter(|(_, s)| {
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
