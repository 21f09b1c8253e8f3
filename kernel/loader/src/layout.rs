//! The plan: where every allocated section, veneer and GOT slot goes, before any byte
//! is written.
//!
//! [`Layout::plan`] walks the checked [`Object`] once: it places each allocated section
//! in its region (text RX, rodata R, data RW) in section-table order at its alignment,
//! reserves the veneer area (PLT) at the end of text and the GOT at the end of
//! rodata, and COMMON symbols at the end of data. It also validates every relocation
//! that will be applied with `Reloc::decode` (`reloc.rs`, the one check of an entry:
//! known type, place inside its section, symbol index in range, symbol's section
//! loaded), so that [`crate::Object::load`] can only fail on symbol
//! resolution and range checks. The caller gets exact sizes and alignments and
//! allocates each region once.
//!
//! Veneers: one slot per distinct (symbol, addend) target of a CALL26/JUMP26 whose
//! symbol is not defined in the module's own text (undefined, absolute, or in
//! another region) — the worst case, because those addresses are unknown until the
//! caller places the regions. Within text, all branches reach each other as long as
//! the text region stays under 128 MiB, which [`MAX_TEXT_SIZE`] enforces.
//!
//! GOT: one 8-byte slot per symbol named by a GOT-relative relocation, ordered
//! globals first then locals, each in symbol-table order (the order lld uses, so the
//! differential tests can compare bytes). It lives in rodata: slots are written once
//! at load and never again, so mapping them read-only keeps a stray write from
//! redirecting the module's calls (the same reason Linux has RELRO for user space).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{LoadError, RegionKind};
use crate::object::{Object, RelaTable, SectionClass, SymbolDef};
use crate::reloc::{CheckedSymbols, Reloc, RelocKind, RELOC_KIND_COUNT};

/// Largest region accepted: 128 MiB minus room for veneers, so every branch inside
/// the text region reaches every other without a veneer.
pub const MAX_TEXT_SIZE: u64 = (128 << 20) - (1 << 20);
/// Largest rodata or data region accepted (256 MiB).
pub const MAX_REGION_SIZE: u64 = 256 << 20;
/// Bytes in one veneer: `LDR X16, #8; BR X16; .quad target`.
pub const VENEER_SIZE: u64 = 16;
/// Bytes in one GOT slot.
pub const GOT_SLOT_SIZE: u64 = 8;

/// Choices the caller makes when planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// Refuse objects whose three regions together exceed this many bytes, so that a
    /// small file cannot make the caller allocate a lot (a huge `.bss` or COMMON
    /// costs nothing in the file). Default [`DEFAULT_MAX_MODULE_SIZE`].
    pub max_module_size: u64,
    /// Apply the Cortex-A53 erratum 843419 workaround, as Linux does when the CPU
    /// has it: an ADRP in the last two words of a 4 KiB page (page offset 0xff8 or
    /// 0xffc) may compute a wrong address when followed by certain loads/stores, so
    /// at load it becomes an ADR when the page is within +-1 MiB, else a branch to a
    /// veneer `ADRP Xd, page; B back` placed at a safe offset. Forces the text
    /// region to be 4 KiB aligned. Off by default (and in `modtool link`, to match
    /// lld, which does not apply it unless asked).
    pub fix_cortex_a53_843419: bool,
    /// Apply the entries of the object's `.modprelink` section instead of its
    /// RELA tables, when it has one and the plan matches the one the build
    /// made (`prelink.rs`). The caller must then place the regions with
    /// [`crate::prelink::consecutive_bases`], which [`crate::Object::load`]
    /// checks. Off by default (`modtool link` places regions so and turns it on).
    /// A stripped object (`modtool prelink --strip`) has no other plan: it is
    /// refused when this is off or when the plan does not match.
    pub use_prelink: bool,
}

/// Default [`PlanOptions::max_module_size`]: 128 MiB, the module area the
/// architecture notes suggest.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 128 << 20;

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            max_module_size: DEFAULT_MAX_MODULE_SIZE,
            fix_cortex_a53_843419: false,
            use_prelink: false,
        }
    }
}

/// Page size the erratum is about.
pub const ERRATUM_843419_PAGE: u64 = 4096;
/// First page offset at which an ADRP is affected (0xff8 and 0xffc are).
pub const ERRATUM_843419_FIRST_BAD_OFFSET: u64 = 0xff8;

/// The page-address types whose instruction is an ADRP.
pub(crate) fn is_adrp(kind: RelocKind) -> bool {
    matches!(
        kind,
        RelocKind::AdrPrelPgHi21 | RelocKind::AdrPrelPgHi21Nc | RelocKind::AdrGotPage
    )
}

/// Size and alignment of one region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegionSpec {
    /// Bytes to allocate (may be 0: then no allocation is needed).
    pub size: u64,
    /// Required alignment of the base address (a power of two).
    pub align: u64,
}

/// A reserved area inside a region (the veneers, the GOT, the COMMON block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    /// Region it lives in.
    pub region: RegionKind,
    /// Offset from the region base.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Where one allocated section goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionSlot {
    /// Region it lives in.
    pub region: RegionKind,
    /// Offset from the region base.
    pub offset: u64,
}

/// The complete plan for one object. See the module comment.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Text region: code, then veneers.
    pub text: RegionSpec,
    /// Read-only region: rodata, then the GOT.
    pub rodata: RegionSpec,
    /// Writable region: data, bss, then COMMON symbols.
    pub data: RegionSpec,
    /// Veneer area, when any CALL26/JUMP26 may need one.
    pub plt: Option<Area>,
    /// GOT, when any GOT-relative relocation (or `_GLOBAL_OFFSET_TABLE_`) is used.
    pub got: Option<Area>,
    /// COMMON symbols, when there are any.
    pub common: Option<Area>,
    /// Relocations to apply, by kind (index with [`RelocKind::index`]).
    pub relocation_counts: [u64; RELOC_KIND_COUNT],
    /// Per section index: where it goes (`None` when not allocated).
    pub(crate) slots: Vec<Option<SectionSlot>>,
    /// Per symbol index, for COMMON symbols: offset in the data region.
    pub(crate) common_offsets: Vec<(u32, u64)>,
    /// Distinct veneer targets and their slots.
    pub(crate) veneer_keys: VeneerSlots,
    /// ADRPs at a page offset of 0xff8/0xffc, sorted: (section index, offset). Their
    /// veneer slots follow the branch veneers in the PLT.
    pub(crate) adrp_keys: Vec<(u32, u64)>,
    /// Per symbol index: GOT slot number, or `u32::MAX`.
    pub(crate) got_slot_of: Vec<u32>,
    /// Per GOT slot: symbol index.
    pub(crate) got_symbols: Vec<u32>,
    /// Every relocation to apply, checked and decoded, in table and entry order:
    /// the load applies these and never reads the RELA tables again.
    pub(crate) relocs: Vec<PlannedReloc>,
    /// When the plan uses the object's `.modprelink` entries: how many
    /// relocations the build applied (the load then checks the regions'
    /// placement, see [`crate::prelink::consecutive_bases`]).
    pub prelinked: Option<u64>,
    /// Per symbol index: whether a relocation names it (then it was checked),
    /// as [`CheckedSymbols`] codes. The load computes addresses for those and
    /// for the symbols that are not local.
    pub(crate) checked_symbols: Vec<u8>,
    /// The indices `checked_symbols` marks, in the order they were checked.
    pub(crate) checked_order: Vec<u32>,
}

/// One relocation as the plan checked it (`Reloc::decode`: a known type, a place
/// inside its loaded section, a symbol in range whose section is loaded), in the
/// form the load applies: the place as an offset in its region, so the load's
/// loop reads one record and does no lookup but the symbol's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlannedReloc {
    /// Addend.
    pub addend: i64,
    /// Offset of the place from its region's base (the section's slot plus
    /// `r_offset`; below [`MAX_REGION_SIZE`], so it fits).
    pub place: u32,
    /// Symbol index.
    pub sym: u32,
    /// Index of the section holding the place (for messages).
    pub section: u32,
    /// The type.
    pub kind: RelocKind,
    /// The region holding the place.
    pub region: RegionKind,
    /// An ADRP in text at a page offset of 0xff8/0xffc that the Cortex-A53
    /// erratum 843419 workaround rewrites (only with the workaround on).
    pub erratum_843419: bool,
}

impl PlannedReloc {
    /// The relocation as decoded, for messages and the erratum rewrite (cold
    /// paths): `r_offset` is the place less its section's slot offset.
    pub(crate) fn reloc(&self, layout: &Layout) -> Reloc {
        let section = self.section as usize;
        let slot_offset = layout.section_slot(section).map_or(0, |s| s.offset);
        Reloc {
            kind: self.kind,
            section,
            offset: u64::from(self.place).wrapping_sub(slot_offset),
            sym: self.sym,
            addend: self.addend,
        }
    }
}

impl Layout {
    /// The spec of one region.
    pub fn region(&self, kind: RegionKind) -> RegionSpec {
        match kind {
            RegionKind::Text => self.text,
            RegionKind::Rodata => self.rodata,
            RegionKind::Data => self.data,
        }
    }

    /// Where section `index` goes, if it is allocated.
    pub fn section_slot(&self, index: usize) -> Option<SectionSlot> {
        self.slots.get(index).copied().flatten()
    }

    /// Number of veneer slots reserved (the worst case).
    pub fn veneer_slots(&self) -> usize {
        self.veneer_keys.len()
    }

    /// Number of veneer slots reserved for ADRPs moved out of the way of Cortex-A53
    /// erratum 843419 (0 unless [`PlanOptions::fix_cortex_a53_843419`]).
    pub fn erratum_843419_slots(&self) -> usize {
        self.adrp_keys.len()
    }

    /// Number of GOT slots.
    pub fn got_slots(&self) -> usize {
        self.got_symbols.len()
    }

    /// Total relocations that will be applied.
    pub fn relocation_total(&self) -> u64 {
        self.relocation_counts.iter().sum()
    }

    /// Plans the layout of `object` with default options (no erratum workaround).
    /// Pure: reads the object, writes nothing.
    pub fn plan(object: &Object<'_>) -> Result<Layout, LoadError> {
        Self::plan_with(object, PlanOptions::default())
    }

    /// Plans the layout of `object` with `options`: sections, COMMON, what the
    /// relocations need, GOT order, veneer area, GOT area, then the limits.
    pub fn plan_with(object: &Object<'_>, options: PlanOptions) -> Result<Layout, LoadError> {
        match object.prelink() {
            // The build cut the RELA tables to the entries left: only its own
            // plan applies them, so no fallback.
            Some(prelink) if prelink.stripped => {
                if !options.use_prelink {
                    return Err(crate::prelink::stripped_refused(
                        prelink.index,
                        "asked to ignore it",
                    ));
                }
                let layout = Self::plan_from(object, options, object.rela_tables())?;
                if !prelink.matches(&layout) {
                    return Err(crate::prelink::stripped_refused(
                        prelink.index,
                        "this loader plans it differently",
                    ));
                }
                Ok(Layout {
                    prelinked: Some(prelink.resolved),
                    ..layout
                })
            }
            Some(prelink) if options.use_prelink => {
                let layout = Self::plan_from(object, options, &prelink.tables)?;
                if prelink.matches(&layout) {
                    return Ok(Layout {
                        prelinked: Some(prelink.resolved),
                        ..layout
                    });
                }
                // Planned differently from the build: as if it had not prelinked.
                Self::plan_from(object, options, object.rela_tables())
            }
            _ => Self::plan_from(object, options, object.rela_tables()),
        }
    }

    /// Plans with the relocations of `tables` (the object's RELA tables, or
    /// those its `.modprelink` kept).
    fn plan_from(
        object: &Object<'_>,
        options: PlanOptions,
        tables: &[RelaTable<'_>],
    ) -> Result<Layout, LoadError> {
        let mut cursor = [Cursor::default(); 3];
        if options.fix_cortex_a53_843419 {
            // Page offsets of ADRPs are only known if text starts on a page.
            cursor[region_slot(RegionKind::Text)].align = ERRATUM_843419_PAGE;
        }
        let slots = place_sections(object, &mut cursor)?;
        let (common_offsets, common) = place_common(object, &mut cursor)?;
        let needs = RelocNeeds::scan(object, tables, &slots, options)?;
        let (got_symbols, got_slot_of) = got_order(object, &needs.got);
        let wants_got_symbol = object
            .eager_symbols()
            .any(|(_, s)| s.def == SymbolDef::Undefined && s.name == crate::GOT_SYMBOL);
        let plt = reserve_plt(&mut cursor, needs.veneer_keys.len() + needs.adrp_keys.len())?;
        let got = reserve_got(&mut cursor, got_symbols.len(), wants_got_symbol)?;

        let spec = |kind: RegionKind| {
            let c = cursor[region_slot(kind)];
            RegionSpec {
                size: c.end,
                align: c.align,
            }
        };
        let layout = Layout {
            text: spec(RegionKind::Text),
            rodata: spec(RegionKind::Rodata),
            data: spec(RegionKind::Data),
            plt,
            got,
            common,
            relocation_counts: needs.counts,
            slots,
            common_offsets,
            veneer_keys: needs.veneer_keys,
            adrp_keys: needs.adrp_keys,
            got_slot_of,
            got_symbols,
            relocs: needs.relocs,
            prelinked: None,
            checked_symbols: needs.checked.0,
            checked_order: needs.checked.1,
        };
        layout.check_limits(options)?;
        Ok(layout)
    }

    /// Refuses a layout whose text, rodata or data region, or whose total, is past
    /// its limit.
    fn check_limits(&self, options: PlanOptions) -> Result<(), LoadError> {
        if self.text.size > MAX_TEXT_SIZE {
            return Err(too_large(format!(
                "text region of {:#x} bytes exceeds {MAX_TEXT_SIZE:#x}",
                self.text.size
            )));
        }
        let total = self
            .text
            .size
            .saturating_add(self.rodata.size)
            .saturating_add(self.data.size);
        if total > options.max_module_size {
            return Err(too_large(format!(
                "{total:#x} bytes of regions exceed the limit of {:#x}",
                options.max_module_size
            )));
        }
        for kind in [RegionKind::Rodata, RegionKind::Data] {
            let size = self.region(kind).size;
            if size > MAX_REGION_SIZE {
                return Err(too_large(format!(
                    "{kind} region of {size:#x} bytes exceeds {MAX_REGION_SIZE:#x}"
                )));
            }
        }
        Ok(())
    }
}

/// The slot of every allocated section, by section index: PROGBITS first in each
/// region, NOBITS after (so bss sits at the end of data), each in section-table order.
fn place_sections(
    object: &Object<'_>,
    cursor: &mut [Cursor; 3],
) -> Result<Vec<Option<SectionSlot>>, LoadError> {
    let sections = object.sections();
    let mut slots = vec![None; sections.len()];
    for pass_zero_fill in [false, true] {
        for section in sections {
            let SectionClass::Allocated { region, zero_fill } = section.class else {
                continue;
            };
            if zero_fill != pass_zero_fill {
                continue;
            }
            let offset = cursor[region_slot(region)]
                .place(section.size, section.align)
                .ok_or_else(|| {
                    too_large(format!(
                        "section '{}' does not fit the {region} region",
                        section.name
                    ))
                })?;
            if let Some(slot) = slots.get_mut(section.index) {
                *slot = Some(SectionSlot { region, offset });
            }
        }
    }
    Ok(slots)
}

/// The data-region offset of every COMMON symbol, placed at the end of data in
/// symbol-table order, and the area they cover.
#[allow(clippy::type_complexity)]
fn place_common(
    object: &Object<'_>,
    cursor: &mut [Cursor; 3],
) -> Result<(Vec<(u32, u64)>, Option<Area>), LoadError> {
    let mut common_offsets = Vec::new();
    let mut common_start = None;
    let data = &mut cursor[region_slot(RegionKind::Data)];
    // Every COMMON symbol is among those checked at parse.
    for (index, sym) in object.eager_symbols() {
        if sym.def != SymbolDef::Common {
            continue;
        }
        let offset = data.place(sym.size, sym.value).ok_or_else(|| {
            too_large(format!(
                "COMMON symbol '{}' does not fit",
                object.symbol_name(sym)
            ))
        })?;
        common_start.get_or_insert(offset);
        common_offsets.push((index as u32, offset));
    }
    let common = common_start.map(|start| Area {
        region: RegionKind::Data,
        offset: start,
        size: data.end - start,
    });
    Ok((common_offsets, common))
}

/// The veneer slots of a module: one per distinct (symbol, addend) target of
/// a branch that may need one. Targets with addend 0 (calls to imports, nearly
/// all of them) are numbered in the order the relocations name them, through
/// a table by symbol index (as the GOT's): no sort, and a lookup at the load is
/// one index. The few with another addend follow, sorted, found by a binary
/// search.
#[derive(Debug, Clone, Default)]
pub(crate) struct VeneerSlots {
    /// Per symbol index, for addend 0: slot + 1, or 0 (empty until the first).
    by_symbol: Vec<u32>,
    /// Slots numbered through `by_symbol`.
    numbered: u32,
    /// Targets with a non-zero addend (or a symbol index past the table),
    /// sorted and distinct once [`Self::finish`] ran; their slots follow.
    others: Vec<(u32, i64)>,
}

impl VeneerSlots {
    fn insert(&mut self, sym: u32, addend: i64, symbol_count: usize) {
        if addend == 0 {
            if self.by_symbol.is_empty() {
                self.by_symbol = vec![0; symbol_count];
            }
            if let Some(slot) = self.by_symbol.get_mut(sym as usize) {
                if *slot == 0 {
                    self.numbered += 1;
                    *slot = self.numbered;
                }
                return;
            }
        }
        self.others.push((sym, addend));
    }

    fn finish(&mut self) {
        if self.others.len() > 1 {
            sort_keys(&mut self.others);
            self.others.dedup();
        }
    }

    /// How many slots.
    pub(crate) fn len(&self) -> usize {
        self.numbered as usize + self.others.len()
    }

    /// The slot of target (`sym`, `addend`), if one was reserved.
    pub(crate) fn slot(&self, sym: u32, addend: i64) -> Option<usize> {
        if addend == 0 {
            if let Some(&slot) = self.by_symbol.get(sym as usize) {
                return slot.checked_sub(1).map(|s| s as usize);
            }
        }
        let i = self.others.binary_search(&(sym, addend)).ok()?;
        Some(self.numbered as usize + i)
    }
}

/// What the relocations ask of the layout, gathered in one pass over them.
struct RelocNeeds {
    /// Relocations by kind.
    counts: [u64; RELOC_KIND_COUNT],
    /// Distinct (symbol, addend) targets of CALL26/JUMP26 outside text.
    veneer_keys: VeneerSlots,
    /// ADRPs at a page offset of 0xff8/0xffc (with the erratum fix on), sorted.
    adrp_keys: Vec<(u32, u64)>,
    /// Per symbol index: whether a GOT-relative relocation names it (empty
    /// until the first one: most modules have none).
    got: Vec<bool>,
    /// Every entry, decoded and checked, for the load.
    relocs: Vec<PlannedReloc>,
    /// The symbols the entries name, checked on first use.
    checked: CheckedSymbols,
}

impl RelocNeeds {
    /// Decodes (with [`Reloc::decode`], the only place entries are checked) and
    /// counts every relocation, and collects its veneer, erratum and GOT needs.
    fn scan(
        object: &Object<'_>,
        tables: &[RelaTable<'_>],
        slots: &[Option<SectionSlot>],
        options: PlanOptions,
    ) -> Result<RelocNeeds, LoadError> {
        let mut needs = RelocNeeds {
            counts: [0; RELOC_KIND_COUNT],
            veneer_keys: VeneerSlots::default(),
            adrp_keys: Vec::new(),
            got: Vec::new(),
            relocs: Vec::with_capacity(tables.iter().map(|t| t.len()).sum()),
            checked: CheckedSymbols::new(object.symbol_count()),
        };
        let sections = object.sections();
        let symbol_count = object.symbol_count();
        for table in tables {
            let target = sections
                .get(table.target)
                .ok_or_else(|| LoadError::BadSection {
                    index: table.index,
                    name: "".into(),
                    reason: "target section missing".into(),
                })?;
            // A table of an allocated section, so the section has a slot.
            let Some(slot) = slots.get(table.target).copied().flatten() else {
                continue;
            };
            for rela in table.iter() {
                let (reloc, symbol_in_text) =
                    Reloc::decode(object, target, rela, &mut needs.checked)?;
                needs.note(reloc, symbol_in_text, slot, symbol_count, options)?;
            }
        }
        needs.veneer_keys.finish();
        sort_keys(&mut needs.adrp_keys);
        needs.adrp_keys.dedup();
        Ok(needs)
    }

    /// Counts one checked relocation, records what it needs, and keeps it for
    /// the load in its planned form.
    fn note(
        &mut self,
        reloc: Reloc,
        symbol_in_text: bool,
        slot: SectionSlot,
        symbol_count: usize,
        options: PlanOptions,
    ) -> Result<(), LoadError> {
        let kind = reloc.kind;
        if let Some(count) = self.counts.get_mut(kind.index()) {
            *count += 1;
        }
        if kind.may_use_veneer() && !symbol_in_text {
            self.veneer_keys
                .insert(reloc.sym, reloc.addend, symbol_count);
        }
        // `place_sections` kept every slot's end under MAX_REGION_SIZE and
        // `decode` the place inside its section: the sum fits a u32.
        let at = slot.offset.wrapping_add(reloc.offset);
        let Ok(place) = u32::try_from(at) else {
            return Err(place_too_far(at, slot.region));
        };
        let mut erratum_843419 = false;
        if options.fix_cortex_a53_843419
            && is_adrp(kind)
            && slot.region == RegionKind::Text
            && at & (ERRATUM_843419_PAGE - 1) >= ERRATUM_843419_FIRST_BAD_OFFSET
        {
            self.adrp_keys.push((reloc.section as u32, reloc.offset));
            erratum_843419 = true;
        }
        if kind.uses_got() {
            if self.got.is_empty() {
                self.got = vec![false; symbol_count];
            }
            if let Some(flag) = self.got.get_mut(reloc.sym as usize) {
                *flag = true;
            }
        }
        self.relocs.push(PlannedReloc {
            addend: reloc.addend,
            place,
            sym: reloc.sym,
            section: reloc.section as u32,
            kind,
            region: slot.region,
            erratum_843419,
        });
        Ok(())
    }
}

/// The error for a place past what a [`PlannedReloc`] holds. Cold, and given
/// the place and region as values: the `map_err` closure it replaces took
/// them by reference, and the plan's loop stored both to the stack for it on
/// every relocation.
#[cold]
fn place_too_far(at: u64, region: RegionKind) -> LoadError {
    too_large(format!(
        "relocation place {at:#x} lies past the {region} region's limit"
    ))
}

/// The GOT's symbols in slot order (globals, then locals, each in symbol-table
/// order, as lld) and, per symbol index, its slot (`u32::MAX` for none; empty when
/// there is no GOT).
fn got_order(object: &Object<'_>, needs_got: &[bool]) -> (Vec<u32>, Vec<u32>) {
    if needs_got.is_empty() {
        // No GOT-relative relocation: nothing to walk the symbols for.
        return (Vec::new(), Vec::new());
    }
    let mut got_symbols = Vec::new();
    for want_local in [false, true] {
        for (index, &needed) in needs_got.iter().enumerate() {
            let local = object
                .raw_symbol(index)
                .is_some_and(|r| r.bind == elf::abi::STB_LOCAL);
            if needed && local == want_local {
                got_symbols.push(index as u32);
            }
        }
    }
    let mut got_slot_of = vec![
        u32::MAX;
        if got_symbols.is_empty() {
            0
        } else {
            needs_got.len()
        }
    ];
    for (slot, &sym) in got_symbols.iter().enumerate() {
        if let Some(s) = got_slot_of.get_mut(sym as usize) {
            *s = slot as u32;
        }
    }
    (got_symbols, got_slot_of)
}

/// The veneer area at the end of text: `slots` veneers (none: no area).
fn reserve_plt(cursor: &mut [Cursor; 3], slots: usize) -> Result<Option<Area>, LoadError> {
    if slots == 0 {
        return Ok(None);
    }
    let size = (slots as u64)
        .checked_mul(VENEER_SIZE)
        .ok_or_else(|| too_large("veneers".into()))?;
    let offset = cursor[region_slot(RegionKind::Text)]
        .place(size, VENEER_SIZE)
        .ok_or_else(|| too_large("veneers".into()))?;
    Ok(Some(Area {
        region: RegionKind::Text,
        offset,
        size,
    }))
}

/// The GOT at the end of rodata: `slots` slots (an empty GOT when only
/// `_GLOBAL_OFFSET_TABLE_` is named; none when neither).
fn reserve_got(
    cursor: &mut [Cursor; 3],
    slots: usize,
    wants_got_symbol: bool,
) -> Result<Option<Area>, LoadError> {
    if slots == 0 && !wants_got_symbol {
        return Ok(None);
    }
    let size = (slots as u64)
        .checked_mul(GOT_SLOT_SIZE)
        .ok_or_else(|| too_large("GOT".into()))?;
    let offset = cursor[region_slot(RegionKind::Rodata)]
        .place(size, GOT_SLOT_SIZE)
        .ok_or_else(|| too_large("GOT".into()))?;
    Ok(Some(Area {
        region: RegionKind::Rodata,
        offset,
        size,
    }))
}

fn too_large(reason: alloc::string::String) -> LoadError {
    LoadError::TooLarge { reason }
}

const fn region_slot(kind: RegionKind) -> usize {
    match kind {
        RegionKind::Text => 0,
        RegionKind::Rodata => 1,
        RegionKind::Data => 2,
    }
}

/// The running end of one region while sections are placed.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    end: u64,
    align: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { end: 0, align: 1 }
    }
}

impl Cursor {
    /// Places `size` bytes at `align` (a power of two); returns the offset. `None` when
    /// the region would pass [`MAX_REGION_SIZE`] (checked here so sums cannot wrap).
    fn place(&mut self, size: u64, align: u64) -> Option<u64> {
        if !align.is_power_of_two() {
            return None;
        }
        let offset = self.end.checked_add(align - 1)? & !(align - 1);
        let end = offset.checked_add(size)?;
        if end > MAX_REGION_SIZE {
            return None;
        }
        self.end = end;
        self.align = self.align.max(align);
        Some(offset)
    }
}

/// Sorts plan keys (tuples of integers: every order of equal keys is the same
/// bytes, so any sort gives the one result). In the kernel
/// `kcore::sort::heap_sort_by_key`: `core`'s `sort_unstable` is about 4.5 KB
/// of code for each key type, a heapsort a loop of a few dozen instructions,
/// and a module has tens to hundreds of keys. On the host `modtool link`
/// plans the largest modules of a Linux build (amdgpu: hundreds of
/// thousands), where `sort_unstable` is faster.
fn sort_keys<T: Ord + Copy>(v: &mut [T]) {
    #[cfg(not(target_os = "none"))]
    v.sort_unstable();
    #[cfg(target_os = "none")]
    kcore::sort::heap_sort_by_key(v, |k| *k);
}
