//! The load step: copy, zero, resolve, relocate, build veneers and the GOT.
//!
//! [`Object::load`] takes the [`Layout`] the caller allocated for and one writable
//! byte slice per region with the address it will run at, and does, in order:
//! check the regions against the layout; copy section bytes and zero every other
//! planned byte (each written once: the regions may hold anything); resolve every
//! symbol to an address once (undefined ones through the caller's
//! [`SymbolResolver`], weak ones to 0 when unknown, `_GLOBAL_OFFSET_TABLE_` to the
//! GOT); fill the GOT; apply every relocation (the plan's `PlannedReloc` records,
//! each checked by its `Reloc::decode`; the RELA tables are not read again). Each relocation is computed and
//! range-checked before its place is written (see `encode.rs`), and nothing is
//! allocated per relocation. On error the regions hold a partial image that the
//! caller must discard (it owns them, so the undo is "free the regions").

use alloc::vec;
use alloc::vec::Vec;

use crate::encode::{self, branch26_reaches, page, FieldError};
use crate::error::{LoadError, RegionKind};
use crate::layout::{Layout, PlannedReloc, GOT_SLOT_SIZE, VENEER_SIZE};
use crate::object::{Binding, Object, SectionClass, SymbolDef};
use crate::reloc::{CheckedSymbols, Reloc, RelocKind, RELOC_KIND_COUNT};

/// Looks up the addresses of symbols the module imports.
pub trait SymbolResolver {
    /// The address of `name`, or `None` when nobody exports it.
    fn resolve(&mut self, name: &str) -> Option<u64>;
}

impl<F: FnMut(&str) -> Option<u64>> SymbolResolver for F {
    fn resolve(&mut self, name: &str) -> Option<u64> {
        self(name)
    }
}

/// One region's memory as handed to [`Object::load`].
#[derive(Debug)]
pub struct Region<'m> {
    /// Address the first byte will have when the module runs.
    pub base: u64,
    /// The bytes to fill; at least the layout's size (bytes past it are left alone).
    pub bytes: &'m mut [u8],
}

/// The three regions' memory.
#[derive(Debug)]
pub struct Regions<'m> {
    /// Text (becomes RX).
    pub text: Region<'m>,
    /// Rodata and GOT (becomes R).
    pub rodata: Region<'m>,
    /// Data and bss (stays RW).
    pub data: Region<'m>,
}

impl<'m> Regions<'m> {
    fn get_mut(&mut self, kind: RegionKind) -> &mut Region<'m> {
        match kind {
            RegionKind::Text => &mut self.text,
            RegionKind::Rodata => &mut self.rodata,
            RegionKind::Data => &mut self.data,
        }
    }

    fn base(&self, kind: RegionKind) -> u64 {
        match kind {
            RegionKind::Text => self.text.base,
            RegionKind::Rodata => self.rodata.base,
            RegionKind::Data => self.data.base,
        }
    }
}

/// Where one allocated input section ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionPlacement<'a> {
    /// Index in the input file's section header table.
    pub index: usize,
    /// Section name.
    pub name: &'a str,
    /// Region.
    pub region: RegionKind,
    /// Run-time address.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A symbol the module defines and others may import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportedSymbol<'a> {
    /// Name.
    pub name: &'a str,
    /// Run-time address.
    pub address: u64,
    /// `st_size`.
    pub size: u64,
    /// Whether it is weak.
    pub weak: bool,
}

/// What the load did, for `modtool` and the kernel's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadStats {
    /// Relocations applied, by [`RelocKind::index`].
    pub relocations: [u64; RELOC_KIND_COUNT],
    /// Veneers written (distinct far targets actually used).
    pub veneers: usize,
    /// Veneer slots reserved by the plan.
    pub veneer_slots: usize,
    /// GOT slots filled.
    pub got_slots: usize,
    /// ADRPs rewritten for Cortex-A53 erratum 843419 (to ADR or through a veneer).
    pub erratum_843419_fixes: usize,
}

impl LoadStats {
    /// Total relocations applied.
    pub fn relocation_total(&self) -> u64 {
        self.relocations.iter().sum()
    }

    /// `(kind, count)` for every kind used at least once.
    pub fn by_kind(&self) -> impl Iterator<Item = (RelocKind, u64)> + '_ {
        RelocKind::ALL
            .iter()
            .zip(self.relocations.iter())
            .filter(|(_, &n)| n != 0)
            .map(|(&k, &n)| (k, n))
    }
}

/// A placed area (veneers, GOT, COMMON) with its run-time address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedArea {
    /// Run-time address.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The result of a successful load: everything the kernel needs to register the
/// module, and everything `modtool link` prints.
#[derive(Clone, Debug)]
pub struct LoadedModule<'a> {
    /// Every allocated input section, in section-table order.
    pub sections: Vec<SectionPlacement<'a>>,
    /// The veneer area.
    pub plt: Option<PlacedArea>,
    /// The GOT.
    pub got: Option<PlacedArea>,
    /// The COMMON block.
    pub common: Option<PlacedArea>,
    /// Global and weak symbols the module defines.
    pub exports: Vec<ExportedSymbol<'a>>,
    /// Address of [`crate::INIT_SYMBOL`], if defined.
    pub init: Option<u64>,
    /// Address of [`crate::CLEANUP_SYMBOL`], if defined.
    pub cleanup: Option<u64>,
    /// Counts.
    pub stats: LoadStats,
}

/// Word 0 of a veneer: `LDR X16, #8` (LDR literal, 64-bit: opc=01, imm19=2, Rt=16).
pub const VENEER_LDR_X16: u32 = 0x5800_0000 | (2 << encode::fields::IMM19_SHIFT) | 16;
/// Word 1 of a veneer: `BR X16` (Rn=16 at bits [9:5]).
pub const VENEER_BR_X16: u32 = 0xd61f_0000 | (16 << 5);

/// How [`Object::load_with`] writes the text region.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Makes the first slice equal to the second, over the shorter length:
    /// how a section's bytes are copied into text.
    pub text_copy: fn(&mut [u8], &[u8]),
    /// Makes every byte zero: how text's gaps and padding are cleared.
    pub text_zero: fn(&mut [u8]),
}

impl Default for LoadOptions {
    /// Plain copies and fills (the regions are assumed to hold nothing of use).
    fn default() -> Self {
        LoadOptions {
            text_copy: |d, s| {
                let n = d.len().min(s.len());
                d[..n].copy_from_slice(&s[..n]);
            },
            text_zero: |d| d.fill(0),
        }
    }
}

impl LoadOptions {
    /// Text written only where it changes ([`crate::store`]): for regions that
    /// may still hold a previous image of the same module. The caller may pass
    /// faster routines of the same contract instead.
    pub fn changed_text_only() -> Self {
        LoadOptions {
            text_copy: crate::store::copy_changed,
            text_zero: crate::store::zero_changed,
        }
    }
}

impl<'a> Object<'a> {
    /// Loads the object into `regions` as planned by `layout` (which must come from
    /// [`Layout::plan`] on this same object). See the module comment for the steps.
    pub fn load(
        &self,
        layout: &Layout,
        regions: Regions<'_>,
        resolver: &mut dyn SymbolResolver,
    ) -> Result<LoadedModule<'a>, LoadError> {
        self.load_with(layout, regions, resolver, &LoadOptions::default())
    }

    /// [`Object::load`], writing text as `options` says. Every byte of each
    /// region's planned size ends up the same whatever the options; only which
    /// stores are made differs. Relocated fields and veneers are stored only
    /// where they change, whatever the options.
    pub fn load_with(
        &self,
        layout: &Layout,
        mut regions: Regions<'_>,
        resolver: &mut dyn SymbolResolver,
        options: &LoadOptions,
    ) -> Result<LoadedModule<'a>, LoadError> {
        check_regions(layout, &regions)?;
        let sections = self.copy_sections(layout, &mut regions, options)?;
        let addresses = self.resolve_symbols(layout, &regions, resolver)?;
        self.fill_got(layout, &mut regions, &addresses)?;
        let stats = Relocator::new(self, layout, &mut regions, &addresses).relocate()?;

        let area = |a: Option<crate::layout::Area>| {
            a.map(|a| PlacedArea {
                address: regions.base(a.region) + a.offset,
                size: a.size,
            })
        };
        let exports: Vec<ExportedSymbol<'a>> = self
            .defined_globals()
            .filter_map(|(i, s)| {
                Some(ExportedSymbol {
                    name: s.name,
                    address: addresses.get(i).copied().flatten()?,
                    size: s.size,
                    weak: s.binding == Binding::Weak,
                })
            })
            .collect();
        let entry = |name: &str| exports.iter().find(|e| e.name == name).map(|e| e.address);
        Ok(LoadedModule {
            init: entry(crate::INIT_SYMBOL),
            cleanup: entry(crate::CLEANUP_SYMBOL),
            sections,
            plt: area(layout.plt),
            got: area(layout.got),
            common: area(layout.common),
            exports,
            stats,
        })
    }

    /// Copies the PROGBITS sections in and zeroes every other byte of each
    /// region's planned size (alignment gaps, NOBITS, veneers, GOT, COMMON), so
    /// that each planned byte is written exactly once whatever the regions held.
    ///
    /// `place_sections` places a region's PROGBITS sections in section-table
    /// order at increasing offsets, before its NOBITS ones; so walking the
    /// sections in table order, the bytes between the end of the last copy and
    /// the next section's offset are a gap to zero. Should that order ever not
    /// hold, every region is zeroed first (as a whole) and the copies follow.
    fn copy_sections(
        &self,
        layout: &Layout,
        regions: &mut Regions<'_>,
        options: &LoadOptions,
    ) -> Result<Vec<SectionPlacement<'a>>, LoadError> {
        let zero = |kind: RegionKind, bytes: &mut [u8]| match kind {
            RegionKind::Text => (options.text_zero)(bytes),
            _ => bytes.fill(0),
        };
        let in_order = self.copies_in_offset_order(layout);
        if !in_order {
            for kind in [RegionKind::Text, RegionKind::Rodata, RegionKind::Data] {
                let size = layout.region(kind).size as usize;
                if let Some(bytes) = regions.get_mut(kind).bytes.get_mut(..size) {
                    zero(kind, bytes);
                }
            }
        }
        // Per region (`region_index`): offset up to which bytes are written.
        let mut written = [0usize; 3];
        let mut placements = Vec::with_capacity(self.sections().len());
        for section in self.sections() {
            let Some(slot) = layout.section_slot(section.index) else {
                continue;
            };
            let region = regions.get_mut(slot.region);
            placements.push(SectionPlacement {
                index: section.index,
                name: section.name,
                region: slot.region,
                address: region.base.wrapping_add(slot.offset),
                size: section.size,
            });
            if let SectionClass::Allocated {
                zero_fill: false, ..
            } = section.class
            {
                let start = slot.offset as usize;
                let end = start.checked_add(section.data.len());
                let does_not_fit = || LoadError::RegionMismatch {
                    region: slot.region,
                    reason: alloc::format!("section '{}' does not fit", section.name),
                };
                let dst = end
                    .and_then(|end| region.bytes.get_mut(start..end))
                    .ok_or_else(does_not_fit)?;
                match slot.region {
                    RegionKind::Text => (options.text_copy)(dst, section.data),
                    _ => dst.copy_from_slice(section.data),
                }
                if in_order {
                    let done = &mut written[region_index(slot.region)];
                    if let Some(gap) = region.bytes.get_mut(*done..start) {
                        zero(slot.region, gap);
                    }
                    *done = end.ok_or_else(does_not_fit)?;
                }
            }
        }
        if in_order {
            for kind in [RegionKind::Text, RegionKind::Rodata, RegionKind::Data] {
                let size = layout.region(kind).size as usize;
                let done = written[region_index(kind)];
                if let Some(rest) = regions.get_mut(kind).bytes.get_mut(done..size) {
                    zero(kind, rest);
                }
            }
        }
        Ok(placements)
    }

    /// Whether, in section-table order, each region's PROGBITS sections start at
    /// or after the end of the one before (see `copy_sections`).
    fn copies_in_offset_order(&self, layout: &Layout) -> bool {
        let mut end = [0u64; 3];
        for section in self.sections() {
            let (
                Some(slot),
                SectionClass::Allocated {
                    zero_fill: false, ..
                },
            ) = (layout.section_slot(section.index), section.class)
            else {
                continue;
            };
            let last = &mut end[region_index(slot.region)];
            if slot.offset < *last {
                return false;
            }
            *last = slot.offset.saturating_add(section.data.len() as u64);
        }
        true
    }

    /// The run-time address of every symbol the load uses: those a relocation
    /// names (checked by the plan) and those that are not local (exports and
    /// imports). `None` for the others, whose entries are never read, and for
    /// symbols of unloaded sections.
    fn resolve_symbols(
        &self,
        layout: &Layout,
        regions: &Regions<'_>,
        resolver: &mut dyn SymbolResolver,
    ) -> Result<Vec<Option<u64>>, LoadError> {
        let count = self.symbol_count();
        // Filled with `None` first, then written only where there is an
        // address: the locals a relocation named (the plan's list: most
        // locals are named by none), then every symbol that is not local.
        let mut addresses = vec![None; count];
        let eager_from = self.eager_from();
        for &index in &layout.checked_order {
            let index = index as usize;
            if index >= eager_from {
                continue;
            }
            let code = layout
                .checked_symbols
                .get(index)
                .copied()
                .unwrap_or(CheckedSymbols::UNCHECKED);
            let address = if CheckedSymbols::in_loaded_section(code) {
                // A local the plan checked (`CheckedSymbols::check`): its
                // section index names a loaded section, its value lies
                // inside it; the raw entry says no more than that.
                self.raw_symbol(index).and_then(|r| {
                    let slot = layout.section_slot(usize::from(r.shndx))?;
                    Some(
                        regions
                            .base(slot.region)
                            .wrapping_add(slot.offset)
                            .wrapping_add(r.value),
                    )
                })
            } else {
                self.symbol_address(index, layout, regions, resolver)?
            };
            if let Some(a) = addresses.get_mut(index) {
                *a = address;
            }
        }
        for index in eager_from..count {
            let address = self.symbol_address(index, layout, regions, resolver)?;
            if let Some(a) = addresses.get_mut(index) {
                *a = address;
            }
        }
        Ok(addresses)
    }

    /// The run-time address of symbol `index`, checked by [`Object::symbol`]:
    /// imports through `resolver` (weak ones 0 when unknown), COMMON in the
    /// data region, section symbols at their section's slot.
    fn symbol_address(
        &self,
        index: usize,
        layout: &Layout,
        regions: &Regions<'_>,
        resolver: &mut dyn SymbolResolver,
    ) -> Result<Option<u64>, LoadError> {
        let sym = self.symbol(index)?;
        Ok(match sym.def {
            SymbolDef::Undefined if index == 0 => Some(0),
            SymbolDef::Undefined => {
                let got = layout.got.filter(|_| sym.name == crate::GOT_SYMBOL);
                match got {
                    Some(area) => Some(regions.base(area.region) + area.offset),
                    None => match resolver.resolve(sym.name) {
                        Some(a) => Some(a),
                        None if sym.binding == Binding::Weak => Some(0),
                        None => {
                            return Err(LoadError::UnknownSymbol {
                                name: sym.name.into(),
                            })
                        }
                    },
                }
            }
            SymbolDef::Absolute => Some(sym.value),
            SymbolDef::Common => layout
                .common_offsets
                .binary_search_by_key(&(index as u32), |&(s, _)| s)
                .ok()
                .and_then(|i| layout.common_offsets.get(i))
                .map(|&(_, off)| regions.data.base.wrapping_add(off)),
            SymbolDef::Section(i) => layout.section_slot(i).map(|slot| {
                regions
                    .base(slot.region)
                    .wrapping_add(slot.offset)
                    .wrapping_add(sym.value)
            }),
        })
    }

    /// Writes each GOT slot with its symbol's address.
    fn fill_got(
        &self,
        layout: &Layout,
        regions: &mut Regions<'_>,
        addresses: &[Option<u64>],
    ) -> Result<(), LoadError> {
        let Some(got) = layout.got else {
            return Ok(());
        };
        let region = regions.get_mut(got.region);
        for (slot, &sym) in layout.got_symbols.iter().enumerate() {
            let value = addresses.get(sym as usize).copied().flatten().unwrap_or(0);
            let start = got.offset as usize + slot * GOT_SLOT_SIZE as usize;
            if let Some(dst) = region.bytes.get_mut(start..start + GOT_SLOT_SIZE as usize) {
                dst.copy_from_slice(&value.to_le_bytes());
            }
        }
        Ok(())
    }
}

/// A dense index per region, for per-region arrays.
const fn region_index(kind: RegionKind) -> usize {
    match kind {
        RegionKind::Text => 0,
        RegionKind::Rodata => 1,
        RegionKind::Data => 2,
    }
}

/// Checks each region against the layout: long enough, base aligned, no wrap.
fn check_regions(layout: &Layout, regions: &Regions<'_>) -> Result<(), LoadError> {
    for (kind, region) in [
        (RegionKind::Text, &regions.text),
        (RegionKind::Rodata, &regions.rodata),
        (RegionKind::Data, &regions.data),
    ] {
        let spec = layout.region(kind);
        let mismatch = |reason| {
            Err(LoadError::RegionMismatch {
                region: kind,
                reason,
            })
        };
        if (region.bytes.len() as u64) < spec.size {
            return mismatch(alloc::format!(
                "{:#x} bytes given, layout needs {:#x}",
                region.bytes.len(),
                spec.size
            ));
        }
        if region.base & (spec.align - 1) != 0 {
            return mismatch(alloc::format!(
                "base {:#x} is not {:#x}-aligned",
                region.base,
                spec.align
            ));
        }
        if region.base.checked_add(spec.size).is_none() {
            return mismatch(alloc::format!("base {:#x} + size wraps", region.base));
        }
    }
    if layout.prelinked.is_some() {
        // The build applied relocations for this placement only (prelink.rs).
        let text = regions.text.base;
        let expected = text
            .is_multiple_of(crate::prelink::PRELINK_PAGE)
            .then(|| crate::prelink::consecutive_bases(layout, text))
            .flatten();
        if expected != Some((regions.rodata.base, regions.data.base)) {
            return Err(LoadError::RegionMismatch {
                region: RegionKind::Text,
                reason: alloc::format!(
                    "prelinked object: regions at {text:#x}, {:#x}, {:#x} are not consecutive pages",
                    regions.rodata.base,
                    regions.data.base
                ),
            });
        }
    }
    Ok(())
}

/// Applies the relocations: everything they need, built once per load (nothing is
/// allocated per relocation).
struct Relocator<'r, 'a, 'm, 'o> {
    object: &'o Object<'a>,
    layout: &'r Layout,
    regions: &'r mut Regions<'m>,
    addresses: &'r [Option<u64>],
    got_base: Option<u64>,
    /// Each region's base, by `region_index`.
    bases: [u64; 3],
    veneer_written: Vec<bool>,
    stats: LoadStats,
}

impl<'r, 'a, 'm, 'o> Relocator<'r, 'a, 'm, 'o> {
    /// A relocator over `regions`, with symbols at `addresses` and the GOT filled.
    fn new(
        object: &'o Object<'a>,
        layout: &'r Layout,
        regions: &'r mut Regions<'m>,
        addresses: &'r [Option<u64>],
    ) -> Self {
        Relocator {
            object,
            layout,
            got_base: layout.got.map(|a| regions.base(a.region) + a.offset),
            bases: [regions.text.base, regions.rodata.base, regions.data.base],
            regions,
            addresses,
            veneer_written: vec![false; layout.veneer_slots()],
            // Every planned relocation is applied or the load fails: the
            // plan's counts, less the ADRPs the erratum workaround rewrites.
            stats: LoadStats {
                relocations: layout.relocation_counts,
                veneers: 0,
                veneer_slots: layout.veneer_slots(),
                got_slots: layout.got_slots(),
                erratum_843419_fixes: 0,
            },
        }
    }

    /// Applies every relocation the plan kept, in table and entry order;
    /// returns the statistics.
    fn relocate(mut self) -> Result<LoadStats, LoadError> {
        let layout = self.layout;
        for planned in &layout.relocs {
            self.apply(planned)?;
        }
        Ok(self.stats)
    }

    /// Applies one planned relocation: its value, then the erratum rewrite or
    /// the write.
    // Inlined into `relocate`, its one caller, with `value` and `write`: once
    // per relocation, where calls and `Result`s through memory cost as much as
    // the work.
    #[inline(always)]
    fn apply(&mut self, r: &PlannedReloc) -> Result<(), LoadError> {
        let s = match self.addresses.get(r.sym as usize) {
            Some(Some(a)) => *a,
            _ => return Err(self.no_address(r)),
        };
        let p = self.bases[region_index(r.region)].wrapping_add(u64::from(r.place));
        let (x, target) = self.value(r, s, p)?;
        if r.erratum_843419 {
            return self.erratum_843419(r, x, target, p);
        }
        self.write(r, x, target, p)
    }

    /// The error for a relocation whose symbol has no address.
    #[cold]
    fn no_address(&self, r: &PlannedReloc) -> LoadError {
        r.reloc(self.layout).bad(
            self.object,
            alloc::format!("symbol {} has no address", r.sym),
        )
    }

    /// An ADRP the plan marked for the Cortex-A53 erratum 843419 workaround:
    /// the ordinary range check first (so the same inputs fail the same way),
    /// then the rewrite.
    #[cold]
    fn erratum_843419(
        &mut self,
        r: &PlannedReloc,
        x: u64,
        target: u64,
        p: u64,
    ) -> Result<(), LoadError> {
        let reloc = r.reloc(self.layout);
        if encode::encode_insn(r.kind, 0, x).is_err() {
            return Err(self.out_of_range(&reloc, target, p));
        }
        let section_offset = u64::from(r.place).wrapping_sub(reloc.offset);
        self.fix_erratum_843419(&reloc, section_offset, page(target), p)?;
        // Counted as a fix, not as an applied relocation of its kind.
        if let Some(count) = self.stats.relocations.get_mut(r.kind.index()) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }

    /// `X`, the value to encode (AAELF64 5.7), and the target address it stands for
    /// (`S+A`, a veneer, or the GOT slot plus `A`), for symbol address `s` and place `p`.
    #[inline(always)]
    fn value(&mut self, r: &PlannedReloc, s: u64, p: u64) -> Result<(u64, u64), LoadError> {
        use RelocKind as K;
        let a = r.addend as u64;
        let mut target = s.wrapping_add(a);
        let x = match r.kind {
            K::None => 0,
            K::Abs64 | K::Abs32 | K::Abs16 => target,
            K::MovwUabsG0
            | K::MovwUabsG0Nc
            | K::MovwUabsG1
            | K::MovwUabsG1Nc
            | K::MovwUabsG2
            | K::MovwUabsG2Nc
            | K::MovwUabsG3
            | K::MovwSabsG0
            | K::MovwSabsG1
            | K::MovwSabsG2 => target,
            K::AddAbsLo12Nc
            | K::Ldst8AbsLo12Nc
            | K::Ldst16AbsLo12Nc
            | K::Ldst32AbsLo12Nc
            | K::Ldst64AbsLo12Nc
            | K::Ldst128AbsLo12Nc => target,
            K::Prel64
            | K::Prel32
            | K::Prel16
            | K::MovwPrelG0
            | K::MovwPrelG0Nc
            | K::MovwPrelG1
            | K::MovwPrelG1Nc
            | K::MovwPrelG2
            | K::MovwPrelG2Nc
            | K::MovwPrelG3
            | K::LdPrelLo19
            | K::AdrPrelLo21
            | K::TstBr14
            | K::CondBr19 => target.wrapping_sub(p),
            K::AdrPrelPgHi21 | K::AdrPrelPgHi21Nc => page(target).wrapping_sub(page(p)),
            K::Jump26 | K::Call26 => {
                if !branch26_reaches(p, target) {
                    if let Some(veneer) = self.veneer(r, target)? {
                        target = veneer;
                    }
                }
                target.wrapping_sub(p)
            }
            // GOT-relative: lld's convention, the addend offsets the slot address.
            K::AdrGotPage => {
                target = self.got_entry(r)?.wrapping_add(a);
                page(target).wrapping_sub(page(p))
            }
            K::Ld64GotLo12Nc => {
                target = self.got_entry(r)?.wrapping_add(a);
                target
            }
            K::GotLdPrel19 => {
                target = self.got_entry(r)?.wrapping_add(a);
                target.wrapping_sub(p)
            }
            K::Ld64GotpageLo15 => {
                target = self.got_entry(r)?.wrapping_add(a);
                target.wrapping_sub(page(self.got_base.unwrap_or(0)))
            }
        };
        Ok((x, target))
    }

    /// The address of the symbol's GOT slot.
    fn got_entry(&self, r: &PlannedReloc) -> Result<u64, LoadError> {
        let slot = self
            .layout
            .got_slot_of
            .get(r.sym as usize)
            .copied()
            .filter(|&s| s != u32::MAX);
        match (slot, self.got_base) {
            (Some(slot), Some(base)) => Ok(base.wrapping_add(u64::from(slot) * GOT_SLOT_SIZE)),
            _ => Err(r.reloc(self.layout).bad(
                self.object,
                "no GOT slot was planned for this symbol".into(),
            )),
        }
    }

    /// Encodes `x` into the place (range and alignment checked before any byte is
    /// written).
    #[inline(always)]
    fn write(&mut self, r: &PlannedReloc, x: u64, target: u64, p: u64) -> Result<(), LoadError> {
        let start = r.place as usize;
        let bytes = &mut self.regions.get_mut(r.region).bytes;
        let Some(dst) = bytes.get_mut(start..start + r.kind.width()) else {
            return Err(self.outside_region(r));
        };
        match encode::apply(r.kind, dst, x) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.field_error(r, e, target, p)),
        }
    }

    /// The error for a place the regions given do not hold.
    #[cold]
    fn outside_region(&self, r: &PlannedReloc) -> LoadError {
        r.reloc(self.layout)
            .bad(self.object, "place lies outside its region".into())
    }

    /// The error for a value `encode::apply` refused.
    #[cold]
    fn field_error(&self, r: &PlannedReloc, e: FieldError, target: u64, p: u64) -> LoadError {
        let reloc = r.reloc(self.layout);
        match e {
            FieldError::Overflow => self.out_of_range(&reloc, target, p),
            FieldError::Misaligned { align } => LoadError::Misaligned {
                rtype: reloc.kind.raw(),
                place: reloc.place(self.object),
                symbol: reloc.symbol_name(self.object),
                target,
                align,
            },
            FieldError::ShortPlace => {
                reloc.bad(self.object, "place lies outside its region".into())
            }
        }
    }

    /// A [`LoadError::OutOfRange`] for `reloc` to `target` from place `p`.
    fn out_of_range(&self, reloc: &Reloc, target: u64, p: u64) -> LoadError {
        LoadError::OutOfRange {
            rtype: reloc.kind.raw(),
            place: reloc.place(self.object),
            symbol: reloc.symbol_name(self.object),
            target,
            address: p,
        }
    }

    /// Rewrites the ADRP at `p` (page offset 0xff8/0xffc) so that no ADRP executes
    /// there: as `ADR Xd, page` when the page is within +-1 MiB, else as `B veneer`
    /// where the veneer is `ADRP Xd, page; B p+4` at a 16-byte aligned (so safe)
    /// offset. Everything is computed and checked before the first byte is written.
    fn fix_erratum_843419(
        &mut self,
        reloc: &Reloc,
        section_offset: u64,
        target_page: u64,
        p: u64,
    ) -> Result<(), LoadError> {
        use RelocKind as K;
        const ADRP_OP_BIT: u32 = 1 << 31; // op: 1 ADRP, 0 ADR (C6.2.10/11)
        const RD_MASK: u32 = 0x1f;
        const B_OPCODE: u32 = 0x1400_0000; // B imm26 with imm26 = 0
        let object = self.object;
        let fail = |reason: &str| {
            reloc.bad(
                object,
                alloc::format!("Cortex-A53 erratum 843419 workaround: {reason}"),
            )
        };
        let start = section_offset
            .checked_add(reloc.offset)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| fail("place lies outside its region"))?;
        let text = &self.regions.text.bytes;
        let old = match text.get(start..start.wrapping_add(4)) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => return Err(fail("place lies outside its region")),
        };
        let rd = old & RD_MASK;
        if let Ok(adr) = encode::encode_insn(
            K::AdrPrelLo21,
            old & !ADRP_OP_BIT,
            target_page.wrapping_sub(p),
        ) {
            self.write_text(start, &adr.to_le_bytes())
                .ok_or_else(|| fail("place lies outside its region"))?;
            self.stats.erratum_843419_fixes += 1;
            return Ok(());
        }
        let slot = self
            .layout
            .adrp_keys
            .binary_search(&(reloc.section as u32, reloc.offset))
            .map_err(|_| fail("no veneer slot was planned"))?;
        let plt = self
            .layout
            .plt
            .ok_or_else(|| fail("no veneer area was planned"))?;
        let slot_offset = plt.offset + (self.layout.veneer_keys.len() + slot) as u64 * VENEER_SIZE;
        let veneer = self.regions.text.base.wrapping_add(slot_offset);
        let out_of_range = || fail("veneer out of range");
        let veneer_adrp = encode::encode_insn(
            K::AdrPrelPgHi21,
            ADRP_OP_BIT | 0x1000_0000 | rd,
            target_page.wrapping_sub(page(veneer)),
        )
        .map_err(|_| out_of_range())?;
        let back = encode::encode_insn(
            K::Jump26,
            B_OPCODE,
            p.wrapping_add(4).wrapping_sub(veneer.wrapping_add(4)),
        )
        .map_err(|_| out_of_range())?;
        let branch = encode::encode_insn(K::Jump26, B_OPCODE, veneer.wrapping_sub(p))
            .map_err(|_| out_of_range())?;
        let v = slot_offset as usize;
        let mut code = [0u8; 8];
        code[..4].copy_from_slice(&veneer_adrp.to_le_bytes());
        code[4..].copy_from_slice(&back.to_le_bytes());
        self.write_text(v, &code)
            .ok_or_else(|| fail("veneer lies outside the text region"))?;
        self.write_text(start, &branch.to_le_bytes())
            .ok_or_else(|| fail("place lies outside its region"))?;
        self.stats.erratum_843419_fixes += 1;
        Ok(())
    }

    /// Copies `bytes` into text at offset `at`; `None` when they do not fit.
    fn write_text(&mut self, at: usize, bytes: &[u8]) -> Option<()> {
        let dst = self
            .regions
            .text
            .bytes
            .get_mut(at..at.checked_add(bytes.len())?)?;
        crate::store::put_changed(dst, bytes);
        Some(())
    }

    /// The address of the veneer for `reloc`'s target, writing it on first use.
    /// `None` when no slot was planned (then the range check reports the branch).
    fn veneer(&mut self, r: &PlannedReloc, target: u64) -> Result<Option<u64>, LoadError> {
        let (Some(plt), Some(slot)) = (
            self.layout.plt,
            self.layout.veneer_keys.slot(r.sym, r.addend),
        ) else {
            return Ok(None);
        };
        let offset = plt.offset + slot as u64 * VENEER_SIZE;
        let region = self.regions.get_mut(plt.region);
        let address = region.base.wrapping_add(offset);
        if !self.veneer_written.get(slot).copied().unwrap_or(true) {
            let mut code = [0u8; VENEER_SIZE as usize];
            code[0..4].copy_from_slice(&VENEER_LDR_X16.to_le_bytes());
            code[4..8].copy_from_slice(&VENEER_BR_X16.to_le_bytes());
            code[8..16].copy_from_slice(&target.to_le_bytes());
            let start = offset as usize;
            if let Some(dst) = region.bytes.get_mut(start..start + code.len()) {
                crate::store::put_changed(dst, &code);
            }
            if let Some(w) = self.veneer_written.get_mut(slot) {
                *w = true;
            }
            self.stats.veneers += 1;
        }
        Ok(Some(address))
    }
}
