//! The AArch64 relocation types this loader applies, by name and number, and the one
//! decode of a RELA entry into a checked `Reloc`.
//!
//! Numbers and names are those of the Arm "ELF for the Arm 64-bit Architecture"
//! (AAELF64) relocation tables, section 5.7. The set is every type Linux's arm64
//! `apply_relocate_add` handles, plus the GOT-relative types compilers emit for PIC
//! code (ADR_GOT_PAGE, LD64_GOT_LO12_NC, GOT_LD_PREL19, LD64_GOTPAGE_LO15). Each
//! kind has a dense index so statistics are a fixed array, not a map.
//!
//! `Reloc` is the one decode of a relocation entry. The plan checks every entry once
//! with `Reloc::decode` (type, place, symbol) before counting it, reserving its
//! veneer or GOT slot, and keeping it in the layout as a `PlannedReloc` (the place
//! as an offset in its region); the load applies those records and never reads
//! the file's entries again. Nothing is allocated per entry: the plan's list is one
//! allocation, sized from the tables before it is filled.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::error::{LoadError, Place, RegionKind};
use crate::object::{Object, Rela, Section, SectionClass, SymbolDef};

macro_rules! reloc_kinds {
    ($($variant:ident = $num:expr, $name:literal;)*) => {
        /// One supported relocation type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        pub enum RelocKind {
            $(
                #[doc = $name]
                $variant,
            )*
        }

        impl RelocKind {
            /// Every supported kind, in [`RelocKind::index`] order.
            pub const ALL: &'static [RelocKind] = &[$(RelocKind::$variant,)*];

            /// The ELF `r_type` number.
            pub const fn raw(self) -> u32 {
                match self {
                    $(RelocKind::$variant => $num,)*
                }
            }

            /// The ABI name, e.g. `R_AARCH64_CALL26`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(RelocKind::$variant => $name,)*
                }
            }
        }
    };
}

reloc_kinds! {
    None = 0, "R_AARCH64_NONE";
    Abs64 = 257, "R_AARCH64_ABS64";
    Abs32 = 258, "R_AARCH64_ABS32";
    Abs16 = 259, "R_AARCH64_ABS16";
    Prel64 = 260, "R_AARCH64_PREL64";
    Prel32 = 261, "R_AARCH64_PREL32";
    Prel16 = 262, "R_AARCH64_PREL16";
    MovwUabsG0 = 263, "R_AARCH64_MOVW_UABS_G0";
    MovwUabsG0Nc = 264, "R_AARCH64_MOVW_UABS_G0_NC";
    MovwUabsG1 = 265, "R_AARCH64_MOVW_UABS_G1";
    MovwUabsG1Nc = 266, "R_AARCH64_MOVW_UABS_G1_NC";
    MovwUabsG2 = 267, "R_AARCH64_MOVW_UABS_G2";
    MovwUabsG2Nc = 268, "R_AARCH64_MOVW_UABS_G2_NC";
    MovwUabsG3 = 269, "R_AARCH64_MOVW_UABS_G3";
    MovwSabsG0 = 270, "R_AARCH64_MOVW_SABS_G0";
    MovwSabsG1 = 271, "R_AARCH64_MOVW_SABS_G1";
    MovwSabsG2 = 272, "R_AARCH64_MOVW_SABS_G2";
    LdPrelLo19 = 273, "R_AARCH64_LD_PREL_LO19";
    AdrPrelLo21 = 274, "R_AARCH64_ADR_PREL_LO21";
    AdrPrelPgHi21 = 275, "R_AARCH64_ADR_PREL_PG_HI21";
    AdrPrelPgHi21Nc = 276, "R_AARCH64_ADR_PREL_PG_HI21_NC";
    AddAbsLo12Nc = 277, "R_AARCH64_ADD_ABS_LO12_NC";
    Ldst8AbsLo12Nc = 278, "R_AARCH64_LDST8_ABS_LO12_NC";
    TstBr14 = 279, "R_AARCH64_TSTBR14";
    CondBr19 = 280, "R_AARCH64_CONDBR19";
    Jump26 = 282, "R_AARCH64_JUMP26";
    Call26 = 283, "R_AARCH64_CALL26";
    Ldst16AbsLo12Nc = 284, "R_AARCH64_LDST16_ABS_LO12_NC";
    Ldst32AbsLo12Nc = 285, "R_AARCH64_LDST32_ABS_LO12_NC";
    Ldst64AbsLo12Nc = 286, "R_AARCH64_LDST64_ABS_LO12_NC";
    MovwPrelG0 = 287, "R_AARCH64_MOVW_PREL_G0";
    MovwPrelG0Nc = 288, "R_AARCH64_MOVW_PREL_G0_NC";
    MovwPrelG1 = 289, "R_AARCH64_MOVW_PREL_G1";
    MovwPrelG1Nc = 290, "R_AARCH64_MOVW_PREL_G1_NC";
    MovwPrelG2 = 291, "R_AARCH64_MOVW_PREL_G2";
    MovwPrelG2Nc = 292, "R_AARCH64_MOVW_PREL_G2_NC";
    MovwPrelG3 = 293, "R_AARCH64_MOVW_PREL_G3";
    Ldst128AbsLo12Nc = 299, "R_AARCH64_LDST128_ABS_LO12_NC";
    GotLdPrel19 = 309, "R_AARCH64_GOT_LD_PREL19";
    AdrGotPage = 311, "R_AARCH64_ADR_GOT_PAGE";
    Ld64GotLo12Nc = 312, "R_AARCH64_LD64_GOT_LO12_NC";
    Ld64GotpageLo15 = 313, "R_AARCH64_LD64_GOTPAGE_LO15";
}

/// The first instruction kind in declaration order: every kind before it is a
/// data kind (NONE, ABS*, PREL*), every kind from it on patches an instruction.
const FIRST_INSTRUCTION: RelocKind = RelocKind::MovwUabsG0;

const _: () = {
    let mut i = 0;
    while i < RelocKind::ALL.len() {
        let kind = RelocKind::ALL[i];
        let data = matches!(
            kind,
            RelocKind::None
                | RelocKind::Abs64
                | RelocKind::Abs32
                | RelocKind::Abs16
                | RelocKind::Prel64
                | RelocKind::Prel32
                | RelocKind::Prel16
        );
        assert!(data == ((kind as u8) < FIRST_INSTRUCTION as u8));
        i += 1;
    }
};

/// How many kinds there are (the length of a per-kind statistics array).
pub const RELOC_KIND_COUNT: usize = RelocKind::ALL.len();

/// Highest `r_type` supported (LD64_GOTPAGE_LO15).
const LAST_RAW: u32 = 313;

/// `r_type` -> kind, for every `r_type` up to [`LAST_RAW`] (314 bytes): one
/// bounds check and one byte load per relocation, where a 42-way match, or a
/// table from ABS64 with NONE tested apart, took a dozen instructions.
const BY_RAW: [Option<RelocKind>; LAST_RAW as usize + 1] = {
    let mut table = [None; LAST_RAW as usize + 1];
    let mut i = 0;
    while i < RelocKind::ALL.len() {
        let kind = RelocKind::ALL[i];
        table[kind.raw() as usize] = Some(kind);
        i += 1;
    }
    table
};

/// [`RelocKind::width`] of every kind, by [`RelocKind::index`].
const WIDTHS: [u8; RELOC_KIND_COUNT] = {
    let mut table = [0; RELOC_KIND_COUNT];
    let mut i = 0;
    while i < RELOC_KIND_COUNT {
        table[i] = RelocKind::ALL[i].width_of();
        i += 1;
    }
    table
};

impl RelocKind {
    /// The kind for an ELF `r_type`, or `None` when this loader does not support it.
    #[inline(always)]
    pub fn from_raw(raw: u32) -> Option<Self> {
        BY_RAW.get(raw as usize).copied().flatten()
    }

    /// A dense index in `0..RELOC_KIND_COUNT`, for per-kind tables.
    pub fn index(self) -> usize {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        self as usize
    }

    /// Bytes the relocation reads and writes at the place.
    // A table load: asked once per relocation at plan and again at load, where
    // the match compiled to a chain of compares.
    #[inline(always)]
    pub const fn width(self) -> usize {
        WIDTHS[self as usize] as usize
    }

    /// [`RelocKind::width`] by the match that defines it (builds [`WIDTHS`]).
    const fn width_of(self) -> u8 {
        match self {
            RelocKind::None => 0,
            RelocKind::Abs64 | RelocKind::Prel64 => 8,
            RelocKind::Abs16 | RelocKind::Prel16 => 2,
            _ => 4,
        }
    }

    /// Whether the place is an instruction (every kind but NONE and the
    /// ABS/PREL data kinds): one compare, the data kinds being declared first
    /// (checked when this file is compiled).
    #[inline(always)]
    pub const fn is_instruction(self) -> bool {
        self as u8 >= FIRST_INSTRUCTION as u8
    }

    /// Whether the value is computed from a GOT slot for the symbol (G(GDAT(S))).
    pub const fn uses_got(self) -> bool {
        matches!(
            self,
            RelocKind::GotLdPrel19
                | RelocKind::AdrGotPage
                | RelocKind::Ld64GotLo12Nc
                | RelocKind::Ld64GotpageLo15
        )
    }

    /// Whether an out-of-range target may be reached through a veneer (AAELF64 5.7.8:
    /// only the 26-bit branch and call relocations permit a linker-made veneer).
    pub const fn may_use_veneer(self) -> bool {
        matches!(self, RelocKind::Call26 | RelocKind::Jump26)
    }
}

/// Prints the name of a raw `r_type`, or its number when it is not one we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRelocType(pub u32);

impl fmt::Display for RawRelocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RelocKind::from_raw(self.0) {
            Some(kind) => f.write_str(kind.name()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for RelocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One RELA entry, decoded by [`Reloc::read`] (a known type) and checked by
/// [`Reloc::decode`] (also: a place inside its loaded, not NOBITS, section; a symbol
/// index in range whose section, if any, is loaded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reloc {
    /// The type.
    pub kind: RelocKind,
    /// Index of the section holding the place.
    pub section: usize,
    /// Offset of the place in that section.
    pub offset: u64,
    /// Symbol index.
    pub sym: u32,
    /// Addend.
    pub addend: i64,
}

impl Reloc {
    /// Reads `rela` from a table relocating `target`: its fields and a type this
    /// loader applies (the first step of [`Reloc::decode`]).
    // Inlined: called once per entry, and measured (`modtool bench` on bench.sh's
    // object) as a call, plan took 2.7 ms instead of 0.66 and load 2.6 instead of 1.4.
    #[inline(always)]
    pub(crate) fn read(target: &Section<'_>, rela: Rela) -> Result<Reloc, LoadError> {
        let Some(kind) = RelocKind::from_raw(rela.rtype) else {
            return Err(unsupported(target, EntryAt::of(&rela)));
        };
        Ok(Reloc {
            kind,
            section: target.index,
            offset: rela.offset,
            sym: rela.sym,
            addend: rela.addend,
        })
    }

    /// Reads `rela` from a table relocating `target` and checks the type, the place
    /// and the symbol, in that order (the first failure is the error). Also returns
    /// whether the symbol is defined in a text section (not for undefined,
    /// absolute and COMMON symbols).
    #[inline(always)] // once per entry, as `read`
    pub(crate) fn decode(
        object: &Object<'_>,
        target: &Section<'_>,
        rela: Rela,
        checked: &mut CheckedSymbols,
    ) -> Result<(Reloc, bool), LoadError> {
        let reloc = Reloc::read(target, rela)?;
        let width = reloc.kind.width() as u64;
        if rela
            .offset
            .checked_add(width)
            .is_none_or(|end| end > target.size)
        {
            return Err(outside_section(target, EntryAt::of(&rela)));
        }
        if width != 0
            && matches!(
                target.class,
                SectionClass::Allocated {
                    zero_fill: true,
                    ..
                }
            )
        {
            return Err(bad_entry(
                target,
                EntryAt::of(&rela),
                "place is in a SHT_NOBITS section".into(),
            ));
        }
        let symbol_in_text = checked.in_text(object, target, rela)?;
        Ok((reloc, symbol_in_text))
    }

    /// Where the relocation applies, for messages (`.text+0x1c4`).
    pub(crate) fn place(&self, object: &Object<'_>) -> Place {
        Place {
            section: object
                .sections()
                .get(self.section)
                .map_or("?", |s| s.name)
                .into(),
            offset: self.offset,
        }
    }

    /// A [`LoadError::BadRelocation`] for this relocation.
    pub(crate) fn bad(&self, object: &Object<'_>, reason: String) -> LoadError {
        LoadError::BadRelocation {
            rtype: self.kind.raw(),
            place: self.place(object),
            reason,
        }
    }

    /// The name of the symbol, for messages.
    pub(crate) fn symbol_name(&self, object: &Object<'_>) -> String {
        object
            .symbol(self.sym as usize)
            .map_or("?", |s| s.name)
            .into()
    }
}

/// Per symbol index, what the plan learned checking the symbol the first time
/// a relocation named it ([`Object::symbol`] plus: its section is loaded), so
/// the next relocations naming it cost one byte load: [`CheckedSymbols::UNCHECKED`],
/// [`CheckedSymbols::NO_REGION`] (undefined, absolute, COMMON), or
/// `REGION_BASE + region` for a symbol defined in a loaded section; and the
/// indices checked, in the order they were (so the load visits those alone).
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckedSymbols(
    pub(crate) alloc::vec::Vec<u8>,
    pub(crate) alloc::vec::Vec<u32>,
);

impl CheckedSymbols {
    /// Not named by a relocation (not checked by the plan, unless not local).
    pub(crate) const UNCHECKED: u8 = 0;
    /// Checked; not defined in a loaded section.
    pub(crate) const NO_REGION: u8 = 1;
    /// Checked; defined in text, rodata, data (this plus 0, 1, 2).
    const REGION_BASE: u8 = 2;

    /// None checked yet, for an object of `count` symbols.
    pub(crate) fn new(count: usize) -> Self {
        CheckedSymbols(
            alloc::vec![Self::UNCHECKED; count],
            alloc::vec::Vec::with_capacity(count),
        )
    }

    /// Whether `rela`'s symbol is defined in a text section (the plan's one
    /// question: a branch to it needs no veneer), the symbol checked the
    /// first time it is asked for. Once per relocation: the recorded code is
    /// compared, not turned back into a region.
    #[inline(always)]
    fn in_text(
        &mut self,
        object: &Object<'_>,
        target: &Section<'_>,
        rela: Rela,
    ) -> Result<bool, LoadError> {
        let code = match self.0.get(rela.sym as usize) {
            Some(&c) if c != Self::UNCHECKED => c,
            _ => self.check(object, target, rela.sym, EntryAt::of(&rela))?,
        };
        Ok(code == Self::REGION_BASE + region_code(RegionKind::Text))
    }

    /// Whether `code` says: checked, defined in a loaded section.
    pub(crate) fn in_loaded_section(code: u8) -> bool {
        code >= Self::REGION_BASE
    }

    /// First use of `rela`'s symbol: checks it and records what it found.
    #[inline(never)]
    fn check(
        &mut self,
        object: &Object<'_>,
        target: &Section<'_>,
        sym: u32,
        at: EntryAt,
    ) -> Result<u8, LoadError> {
        let index = sym as usize;
        let Some(code) = self.0.get_mut(index) else {
            return Err(bad_entry(
                target,
                at,
                format!(
                    "symbol index {} out of range ({} symbols)",
                    sym,
                    object.symbol_count()
                ),
            ));
        };
        let SymbolDef::Section(i) = object.symbol_def(index)? else {
            *code = Self::NO_REGION;
            self.1.push(sym);
            return Ok(Self::NO_REGION);
        };
        let Some(region) = object.sections().get(i).and_then(|s| s.region()) else {
            let name = object.symbol(index).map_or("?", |s| object.symbol_name(&s));
            return Err(bad_entry(
                target,
                at,
                format!("refers to '{name}' in a section that is not loaded"),
            ));
        };
        *code = Self::REGION_BASE + region_code(region);
        let code = *code;
        self.1.push(sym);
        Ok(code)
    }
}

/// A region's number in a [`CheckedSymbols`] code (less `REGION_BASE`).
const fn region_code(region: RegionKind) -> u8 {
    match region {
        RegionKind::Text => 0,
        RegionKind::Rodata => 1,
        RegionKind::Data => 2,
    }
}

/// What the messages about an entry name: its place and type. Two words,
/// passed in registers: a whole `Rela` passed to the cold paths below made
/// the plan's loop store every entry to the stack in case one was taken.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryAt {
    offset: u64,
    rtype: u32,
}

impl EntryAt {
    #[inline(always)]
    fn of(rela: &Rela) -> Self {
        EntryAt {
            offset: rela.offset,
            rtype: rela.rtype,
        }
    }
}

/// Where an entry that failed to decode applies.
fn entry_place(target: &Section<'_>, at: EntryAt) -> Place {
    Place {
        section: target.name.into(),
        offset: at.offset,
    }
}

/// The entry's type is not one this loader applies.
#[cold]
fn unsupported(target: &Section<'_>, at: EntryAt) -> LoadError {
    LoadError::UnsupportedRelocation {
        rtype: at.rtype,
        place: entry_place(target, at),
    }
}

/// The entry's place is not inside its section.
#[cold]
fn outside_section(target: &Section<'_>, at: EntryAt) -> LoadError {
    bad_entry(
        target,
        at,
        format!("place lies outside the section ({:#x} bytes)", target.size),
    )
}

/// The entry is inconsistent for `reason`.
#[cold]
fn bad_entry(target: &Section<'_>, at: EntryAt, reason: String) -> LoadError {
    LoadError::BadRelocation {
        rtype: at.rtype,
        place: entry_place(target, at),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_indices_are_dense() {
        for (i, kind) in RelocKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(RelocKind::from_raw(kind.raw()), Some(*kind));
        }
        assert_eq!(RelocKind::from_raw(1234), None);
        assert_eq!(RELOC_KIND_COUNT, 42);
    }
}
