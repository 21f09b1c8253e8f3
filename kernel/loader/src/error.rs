//! The one error type of the loader, with messages in the tone of Linux's module loader.
//!
//! Every variant names what failed and where: the section (by name, with the offset
//! as `.text+0x1c4`), the symbol, the relocation type, the addresses. Names are owned
//! `String`s so an error outlives the object bytes; errors are rare, so the
//! allocation is only paid on the failure path.

use alloc::string::String;
use core::fmt;

use crate::reloc::RawRelocType;

/// Where a relocation applies: section name plus offset, printed `.text+0x1c4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// Name of the section being relocated.
    pub section: String,
    /// Offset of the place inside that section.
    pub offset: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.section, self.offset)
    }
}

/// Which of the three regions a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Code, and the veneers: mapped read + execute.
    Text,
    /// Read-only data, and the GOT: mapped read-only.
    Rodata,
    /// Data, bss and COMMON symbols: mapped read + write.
    Data,
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionKind::Text => "text",
            RegionKind::Rodata => "rodata",
            RegionKind::Data => "data",
        })
    }
}

/// Everything that can make a load fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not ELF64, not little-endian AArch64, or not `ET_REL`.
    NotRelocatable {
        /// What exactly is wrong (e.g. `e_machine 62`).
        reason: String,
    },
    /// The ELF structures do not parse (offsets out of the file, bad sizes, ...).
    Malformed {
        /// What was being read.
        what: &'static str,
        /// The parser's description.
        detail: String,
    },
    /// A section header is inconsistent.
    BadSection {
        /// Index in the section header table.
        index: usize,
        /// Section name (may be empty when the name itself is bad).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A symbol table entry is inconsistent.
    BadSymbol {
        /// Index in `.symtab`.
        index: usize,
        /// Symbol name, when it could be read.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object uses `SHT_REL` relocations (AArch64 uses RELA only).
    RelNotSupported {
        /// The relocation section.
        section: String,
    },
    /// A relocation type this loader does not know.
    UnsupportedRelocation {
        /// Raw `r_type`.
        rtype: u32,
        /// Where it applies.
        place: Place,
    },
    /// A relocation entry is inconsistent (offset past its section, bad symbol index).
    BadRelocation {
        /// Relocation type.
        rtype: u32,
        /// Where it applies.
        place: Place,
        /// What is wrong with it.
        reason: String,
    },
    /// An undefined, non-weak symbol the resolver does not know (Linux: `-ENOENT`).
    UnknownSymbol {
        /// The symbol.
        name: String,
    },
    /// The relocated value does not fit the field.
    OutOfRange {
        /// Relocation type.
        rtype: u32,
        /// Where it applies.
        place: Place,
        /// The symbol it refers to.
        symbol: String,
        /// Target address `S+A` (or the GOT slot for GOT-relative types).
        target: u64,
        /// Address of the place `P`.
        address: u64,
    },
    /// The target has low bits the scaled field cannot hold.
    Misaligned {
        /// Relocation type.
        rtype: u32,
        /// Where it applies.
        place: Place,
        /// The symbol it refers to.
        symbol: String,
        /// Target address.
        target: u64,
        /// Alignment the field needs.
        align: u64,
    },
    /// A region given to [`crate::Object::load`] does not match the layout.
    RegionMismatch {
        /// Which region.
        region: RegionKind,
        /// What is wrong with it.
        reason: String,
    },
    /// The module would not fit the loader's limits.
    TooLarge {
        /// Which limit.
        reason: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotRelocatable { reason } => {
                write!(f, "not an AArch64 ELF64 relocatable object ({reason})")
            }
            LoadError::Malformed { what, detail } => {
                write!(f, "malformed ELF object: {what}: {detail}")
            }
            LoadError::BadSection {
                index,
                name,
                reason,
            } => write!(f, "section {index} '{name}': {reason}"),
            LoadError::BadSymbol {
                index,
                name,
                reason,
            } => write!(f, "symbol {index} '{name}': {reason}"),
            LoadError::RelNotSupported { section } => write!(
                f,
                "section '{section}' has SHT_REL relocations: AArch64 modules must use SHT_RELA"
            ),
            LoadError::UnsupportedRelocation { rtype, place } => {
                write!(f, "unsupported relocation type {rtype} at {place}")
            }
            LoadError::BadRelocation {
                rtype,
                place,
                reason,
            } => write!(
                f,
                "relocation {} at {place}: {reason}",
                RawRelocType(*rtype)
            ),
            LoadError::UnknownSymbol { name } => write!(f, "Unknown symbol {name} (err -2)"),
            LoadError::OutOfRange {
                rtype,
                place,
                symbol,
                target,
                address,
            } => write!(
                f,
                "relocation {} at {place} to '{symbol}' out of range (target {target:#x}, place {address:#x})",
                RawRelocType(*rtype)
            ),
            LoadError::Misaligned {
                rtype,
                place,
                symbol,
                target,
                align,
            } => write!(
                f,
                "relocation {} at {place} to '{symbol}' needs a {align}-byte aligned target (target {target:#x})",
                RawRelocType(*rtype)
            ),
            LoadError::RegionMismatch { region, reason } => {
                write!(f, "{region} region: {reason}")
            }
            LoadError::TooLarge { reason } => write!(f, "module too large: {reason}"),
        }
    }
}

impl core::error::Error for LoadError {}
