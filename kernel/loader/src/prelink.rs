//! Prelinking: the relocations whose result does not depend on where the module
//! is loaded, applied once at build time.
//!
//! The kernel places a module's three regions one after the other, each
//! starting on a page: text at a page-aligned base, rodata at text's base plus
//! its size rounded up to a page, data after rodata the same way
//! ([`consecutive_bases`]). With that placement, the distance between any two
//! bytes of the image is fixed by the layout alone, and so is every address's
//! offset within its page. A relocation whose place and symbol are both in the
//! module's own image and whose value is PC-relative (branches, ADR, ADRP,
//! PREL*) or only the low 12 bits of an address (the `*_ABS_LO12_NC` loads,
//! stores and adds) therefore computes the same bits at every load: in a Rust
//! module these are about 85% of the entries (`hello.ko`: 196 of 237).
//!
//! [`prelink`] (run by `modtool prelink` before signing) computes those bits
//! with the loader itself (the object loaded at a page-aligned base with
//! [`consecutive_bases`]), writes them into the section bytes, and adds a
//! `.modprelink` section listing the layout it assumed and the entries that
//! are left. The file's RELA tables are not touched: any other linker or
//! loader applies all of them, overwriting the prelinked fields with the same
//! values, so the file stays an ordinary relocatable object.
//!
//! The loader uses `.modprelink`'s entries instead of the RELA tables when
//! asked to ([`crate::PlanOptions::use_prelink`]) and only when its own plan
//! of the object matches the recorded one (every allocated section at the
//! recorded offset, the same region sizes and at most page-aligned regions);
//! otherwise (a loader whose layout rules changed, the Cortex-A53 erratum
//! workaround growing the veneer area) it plans from the RELA tables as if the
//! section were not there. [`crate::Object::load`] then refuses regions not
//! placed by [`consecutive_bases`] rather than apply a prelinked object at
//! the wrong distances.
//!
//! Kept entries: those against symbols outside the image (imports, absolute,
//! COMMON), every absolute kind (ABS*, MOVW_UABS/SABS: the address itself),
//! GOT-relative ones (the GOT slot is filled at load), branches out of text
//! (they may need a veneer), and ADRPs at page offsets 0xff8/0xffc of text,
//! which the erratum 843419 workaround may rewrite.
//!
//! Stripped (`modtool prelink --strip`, what `make modules` does): the RELA
//! tables are cut to the entries left, and `.modprelink` (magic
//! [`PRELINK_MAGIC_STRIPPED`]) copies none of them. The signature hashes every
//! byte of the file at each load, and the applied entries were about a third
//! of a Rust module's file. Such an object is no longer one any linker may
//! place: the loader then plans from its (short) RELA tables and refuses,
//! instead of falling back, a plan that differs from the recorded one or
//! regions placed any other way; `modtool prelink` strips only objects whose
//! plan the erratum 843419 workaround leaves alone (the veneer slots of the
//! ADRPs kept at page offset 0xff8/0xffc of text fit in its last page).
//!
//! `.modprelink` layout: 24-byte records of three little-endian u64 words,
//! the same shape as RELA entries so one reader serves both:
//! - `[PRELINK_MAGIC or PRELINK_MAGIC_STRIPPED, resolved count, tables | slots << 32]`
//! - `[text size, rodata size, data size]` as planned
//! - one `[section index, region (0 text, 1 rodata, 2 data), offset]` per
//!   allocated section, in section order
//! - per table: `[target section index, entries, 0]` then its entries as
//!   `Elf64_Rela` records.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{LoadError, RegionKind};
use crate::layout::{is_adrp, Layout, PlanOptions, ERRATUM_843419_FIRST_BAD_OFFSET};
use crate::load::{LoadOptions, Region, Regions, SymbolResolver};
use crate::object::{Object, RelaTable, Section, SectionClass, SymbolDef, Words};
use crate::reloc::{CheckedSymbols, Reloc, RelocKind};

/// Name of the section `modtool prelink` adds.
pub const PRELINK_SECTION: &str = ".modprelink";
/// First word of `.modprelink` ("MODPLK01" little-endian).
pub const PRELINK_MAGIC: u64 = u64::from_le_bytes(*b"MODPLK01");
/// First word of a stripped object's `.modprelink` ("MODPLKS1"): its RELA
/// tables hold only the entries left, and the section copies none.
pub const PRELINK_MAGIC_STRIPPED: u64 = u64::from_le_bytes(*b"MODPLKS1");
/// The page the placement rounds regions to, and the largest region alignment
/// a prelinked object may have.
pub const PRELINK_PAGE: u64 = 4096;

/// `n` rounded up to [`PRELINK_PAGE`] (`None` on overflow).
fn page_up(n: u64) -> Option<u64> {
    Some(n.checked_add(PRELINK_PAGE - 1)? & !(PRELINK_PAGE - 1))
}

/// Rodata's and data's bases for a module whose text starts at `text_base`
/// (page-aligned) under `layout`: each region follows the one before at its
/// size rounded up to a page. The kernel's module memory places regions so;
/// a prelinked object may only be loaded so.
pub fn consecutive_bases(layout: &Layout, text_base: u64) -> Option<(u64, u64)> {
    let rodata = text_base.checked_add(page_up(layout.text.size)?)?;
    let data = rodata.checked_add(page_up(layout.rodata.size)?)?;
    Some((rodata, data))
}

/// `.modprelink` as read by [`crate::Object::parse`]: checked as a table
/// (magic, counts, every record inside the section, every table's target an
/// allocated section); the entries are checked by the plan like any RELA entry.
#[derive(Clone, Debug)]
pub(crate) struct Prelink<'a> {
    /// Index of `.modprelink` in the section header table.
    pub index: usize,
    /// The build cut the RELA tables to the entries left ([`PRELINK_MAGIC_STRIPPED`]).
    pub stripped: bool,
    /// Relocations the build applied.
    pub resolved: u64,
    /// Region sizes the build planned.
    pub sizes: [u64; 3],
    /// `(section index, region code, offset)` per allocated section.
    pub slots: Vec<[u64; 3]>,
    /// The entries left, per target section.
    pub tables: Vec<RelaTable<'a>>,
}

/// Reads section `index` (`.modprelink`, whose bytes are `data`) against the
/// object's `sections`.
pub(crate) fn read<'a>(
    index: usize,
    data: &'a [u8],
    sections: &[Section<'a>],
) -> Result<Prelink<'a>, LoadError> {
    read_records(index, data, sections).ok_or_else(|| malformed(index))
}

/// The error for a `.modprelink` that is not as `prelink` writes it. Cold and
/// out of line: what is wrong in it is not worth its code in the kernel.
#[cold]
#[inline(never)]
fn malformed(index: usize) -> LoadError {
    LoadError::BadSection {
        index,
        name: PRELINK_SECTION.into(),
        reason: "malformed: not as `modtool prelink` writes it (bad magic, \
                 counts past its end, or a table for an unloaded section)"
            .into(),
    }
}

/// The error for a stripped object ([`PRELINK_MAGIC_STRIPPED`]) whose
/// recorded plan cannot be used (`why`): its RELA tables no longer hold the
/// relocations the build applied, so no other plan is correct.
#[cold]
#[inline(never)]
pub(crate) fn stripped_refused(index: usize, why: &str) -> LoadError {
    LoadError::BadSection {
        index,
        name: PRELINK_SECTION.into(),
        reason: format!(
            "the module was prelinked with its applied relocations removed \
             (`modtool prelink --strip`) and loads only as the build planned it, \
             but {why}; rebuild it with `make modules PRELINK=rela` or without prelinking"
        ),
    }
}

/// [`read`]: `None` when anything is out of place.
fn read_records<'a>(index: usize, data: &'a [u8], sections: &[Section<'a>]) -> Option<Prelink<'a>> {
    if !data.len().is_multiple_of(24) {
        return None;
    }
    let words = Words::of(data);
    let records = data.len() / 24;
    // One out-of-line copy of the three-way record read for the four uses:
    // under TCG each inlined copy is more code to translate at boot.
    #[inline(never)]
    fn record(words: &Words<'_>, i: usize) -> Option<[u64; 3]> {
        words.get(i)
    }
    let [magic, resolved, counts] = record(&words, 0)?;
    let stripped = magic == PRELINK_MAGIC_STRIPPED;
    if magic != PRELINK_MAGIC && !stripped {
        return None;
    }
    let sizes = record(&words, 1)?;
    let (tables, slots) = ((counts & 0xffff_ffff) as usize, (counts >> 32) as usize);
    if stripped && tables != 0 {
        return None;
    }
    let mut at = 2usize;
    if slots > records.saturating_sub(at) {
        return None;
    }
    let mut slot_list = Vec::with_capacity(slots);
    for i in at..at + slots {
        slot_list.push(record(&words, i)?);
    }
    at += slots;
    let mut table_list = Vec::with_capacity(tables.min(sections.len()));
    for _ in 0..tables {
        let [target, count, _] = record(&words, at)?;
        at += 1;
        let section = sections
            .get(usize::try_from(target).ok()?)
            .filter(|s| s.region().is_some())?;
        let count = usize::try_from(count).ok().filter(|&c| c <= records - at)?;
        let entries = data.get(at * 24..(at + count) * 24)?;
        at += count;
        if !entries.is_empty() {
            table_list.push(RelaTable {
                index,
                target: section.index,
                entries,
            });
        }
    }
    if at != records {
        return None;
    }
    Some(Prelink {
        index,
        stripped,
        resolved,
        sizes,
        slots: slot_list,
        tables: table_list,
    })
}

impl Prelink<'_> {
    /// Whether `layout` (planned from this section's entries) places every
    /// allocated section where the build did, with the same region sizes
    /// rounded up to a page, no region aligned past a page. Rounded: the
    /// regions' bases depend on nothing else ([`consecutive_bases`]), and the
    /// erratum 843419 workaround's veneers may grow text within its last page.
    pub(crate) fn matches(&self, layout: &Layout) -> bool {
        let sizes = [layout.text.size, layout.rodata.size, layout.data.size];
        if sizes.map(page_up) != self.sizes.map(page_up) {
            return false;
        }
        if [layout.text.align, layout.rodata.align, layout.data.align]
            .iter()
            .any(|&a| a > PRELINK_PAGE)
        {
            return false;
        }
        let allocated = layout.slots.iter().filter(|s| s.is_some()).count();
        allocated == self.slots.len()
            && self.slots.iter().all(|&[index, region, offset]| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| layout.section_slot(i))
                    .is_some_and(|s| region_code(s.region) == region && s.offset == offset)
            })
    }
}

fn region_code(kind: RegionKind) -> u64 {
    match kind {
        RegionKind::Text => 0,
        RegionKind::Rodata => 1,
        RegionKind::Data => 2,
    }
}

/// Loads `object` as planned by `layout` into fresh buffers, text at
/// `text_base` (page-aligned) and the other regions placed as the kernel
/// places them ([`consecutive_bases`]); returns the three regions' bytes one
/// after the other (text, rodata, data, each its planned size). For the
/// build, the host tools and the fuzz target.
pub fn load_consecutive(
    object: &Object<'_>,
    layout: &Layout,
    text_base: u64,
    resolver: &mut dyn SymbolResolver,
) -> Result<Vec<u8>, LoadError> {
    load_consecutive_over(
        object,
        layout,
        text_base,
        resolver,
        &LoadOptions::default(),
        Vec::new(),
    )
}

/// [`load_consecutive`] into `image` as it is (resized to the regions' total
/// with zeroes), writing text as `options` says: what the kernel does when the
/// pages may hold a previous image.
pub fn load_consecutive_over(
    object: &Object<'_>,
    layout: &Layout,
    text_base: u64,
    resolver: &mut dyn SymbolResolver,
    options: &LoadOptions,
    mut image: Vec<u8>,
) -> Result<Vec<u8>, LoadError> {
    let too_large = || LoadError::TooLarge {
        reason: "regions past the end of the address space".into(),
    };
    let (rodata_base, data_base) = consecutive_bases(layout, text_base).ok_or_else(too_large)?;
    let sizes = [layout.text.size, layout.rodata.size, layout.data.size].map(|s| s as usize);
    image.resize(sizes.iter().sum(), 0);
    let (text, rest) = image.split_at_mut(sizes[0]);
    let (rodata, data) = rest.split_at_mut(sizes[1]);
    let regions = Regions {
        text: Region {
            base: text_base,
            bytes: text,
        },
        rodata: Region {
            base: rodata_base,
            bytes: rodata,
        },
        data: Region {
            base: data_base,
            bytes: data,
        },
    };
    object.load_with(layout, regions, resolver, options)?;
    Ok(image)
}

/// What [`prelink`] made of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prelinked {
    /// New bytes of each allocated section that holds a prelinked place: (section
    /// index, the section's whole data).
    pub sections: Vec<(usize, Vec<u8>)>,
    /// The contents of the `.modprelink` section to add.
    pub section: Vec<u8>,
    /// Relocations applied at build time.
    pub resolved: usize,
    /// Relocations left for the load.
    pub kept: usize,
    /// With [`prelink_stripped`]: the new bytes of every RELA table whose
    /// target is loaded, (table's section index, the entries left as
    /// `Elf64_Rela` records); empty otherwise.
    pub rela: Vec<(usize, Vec<u8>)>,
}

/// Whether `kind`'s value is the same wherever the image is placed, given that
/// its place and its symbol are both in the image (see the module comment).
fn placement_invariant(kind: RelocKind) -> bool {
    use RelocKind::*;
    matches!(
        kind,
        Prel64
            | Prel32
            | Prel16
            | LdPrelLo19
            | AdrPrelLo21
            | AdrPrelPgHi21
            | AdrPrelPgHi21Nc
            | AddAbsLo12Nc
            | Ldst8AbsLo12Nc
            | Ldst16AbsLo12Nc
            | Ldst32AbsLo12Nc
            | Ldst64AbsLo12Nc
            | Ldst128AbsLo12Nc
            | TstBr14
            | CondBr19
            | Jump26
            | Call26
            | MovwPrelG0
            | MovwPrelG0Nc
            | MovwPrelG1
            | MovwPrelG1Nc
            | MovwPrelG2
            | MovwPrelG2Nc
            | MovwPrelG3
    )
}

/// Text base the build loads at: page-aligned, and far from any address a
/// module runs at, so that a value that wrongly depended on the base would
/// show in the differential tests.
const BUILD_TEXT_BASE: u64 = 0x7f_0000_0000;

/// Applies the placement-invariant relocations of `object` (see the module
/// comment) and returns the new section bytes and the `.modprelink` section.
/// Refuses an object that already has `.modprelink` or whose regions need
/// more than page alignment.
pub fn prelink(object: &Object<'_>) -> Result<Prelinked, String> {
    prelink_as(object, false)
}

/// [`prelink`], and the RELA tables cut to the entries left (see the module
/// comment on stripped objects). Refused for an object whose plan with the
/// erratum 843419 workaround (a Cortex-A53's) would not match the recorded
/// one: its ADRPs at page offset 0xff8/0xffc get veneer slots, which must
/// fit in text's last page.
pub fn prelink_stripped(object: &Object<'_>) -> Result<Prelinked, String> {
    let result = prelink_as(object, true)?;
    let a53 = PlanOptions {
        fix_cortex_a53_843419: true,
        ..PlanOptions::default()
    };
    let layout = Layout::plan_with(object, a53).map_err(|e| e.to_string())?;
    let recorded = read(0, &result.section, object.sections()).map_err(|e| e.to_string())?;
    if !recorded.matches(&layout) {
        return Err(format!(
            "cannot strip: with the erratum 843419 workaround (a Cortex-A53) text grows \
             from {:#x} to {:#x} bytes, into another page, so the plan there is not the build's",
            recorded.sizes[0], layout.text.size
        ));
    }
    Ok(result)
}

fn prelink_as(object: &Object<'_>, strip: bool) -> Result<Prelinked, String> {
    if object.prelink().is_some() {
        return Err(format!("already has {PRELINK_SECTION}"));
    }
    let layout = Layout::plan_with(object, PlanOptions::default()).map_err(|e| e.to_string())?;
    for (kind, spec) in [
        (RegionKind::Text, layout.text),
        (RegionKind::Rodata, layout.rodata),
        (RegionKind::Data, layout.data),
    ] {
        if spec.align > PRELINK_PAGE {
            return Err(format!(
                "the {kind} region needs {:#x} alignment; prelinked objects are placed at {PRELINK_PAGE:#x}",
                spec.align
            ));
        }
    }
    // Imports get an address in reach of every branch: their relocations are
    // kept, so the value does not matter, only that the load succeeds.
    let mut resolver = |_: &str| Some(BUILD_TEXT_BASE - PRELINK_PAGE);
    let image = load_consecutive(object, &layout, BUILD_TEXT_BASE, &mut resolver)
        .map_err(|e| e.to_string())?;
    let (text, rest) = image.split_at(layout.text.size as usize);
    let (rodata, data) = rest.split_at(layout.rodata.size as usize);
    let region_bytes = |kind: RegionKind| -> &[u8] {
        match kind {
            RegionKind::Text => text,
            RegionKind::Rodata => rodata,
            RegionKind::Data => data,
        }
    };

    let sections = object.sections();
    let mut new_data: Vec<Option<Vec<u8>>> = vec![None; sections.len()];
    let mut checked = CheckedSymbols::new(object.symbol_count());
    let mut kept_tables: Vec<(usize, Vec<[u64; 3]>)> = Vec::new();
    let mut rela: Vec<(usize, Vec<u8>)> = Vec::new();
    let (mut resolved, mut kept) = (0usize, 0usize);
    for table in object.rela_tables() {
        let Some(target) = sections.get(table.target) else {
            continue;
        };
        let Some(slot) = layout.section_slot(table.target) else {
            continue;
        };
        let mut keep = Vec::new();
        for rela in table.iter() {
            let (reloc, _) =
                Reloc::decode(object, target, rela, &mut checked).map_err(|e| e.to_string())?;
            let symbol_region = match object.symbol(reloc.sym as usize) {
                Ok(sym) => match sym.def {
                    SymbolDef::Section(i) => layout.section_slot(i).map(|s| s.region),
                    _ => None,
                },
                Err(e) => return Err(e.to_string()),
            };
            let place = slot.offset + reloc.offset;
            let erratum_adrp = is_adrp(reloc.kind)
                && slot.region == RegionKind::Text
                && place % PRELINK_PAGE >= ERRATUM_843419_FIRST_BAD_OFFSET;
            let invariant = placement_invariant(reloc.kind)
                && symbol_region.is_some()
                && (!reloc.kind.may_use_veneer() || symbol_region == Some(RegionKind::Text))
                && !erratum_adrp;
            if !invariant {
                keep.push([
                    rela.offset,
                    u64::from(rela.sym) << 32 | u64::from(rela.rtype),
                    rela.addend as u64,
                ]);
                kept += 1;
                continue;
            }
            let width = reloc.kind.width();
            let value = region_bytes(slot.region)
                .get(place as usize..place as usize + width)
                .ok_or_else(|| format!("place {place:#x} outside the {} region", slot.region))?;
            let SectionClass::Allocated {
                zero_fill: false, ..
            } = target.class
            else {
                return Err(format!("relocation in NOBITS section '{}'", target.name));
            };
            let bytes = new_data[target.index].get_or_insert_with(|| target.data.to_vec());
            let at = reloc.offset as usize;
            bytes
                .get_mut(at..at + width)
                .ok_or_else(|| format!("place outside section '{}'", target.name))?
                .copy_from_slice(value);
            resolved += 1;
        }
        if strip {
            let bytes = keep
                .iter()
                .flat_map(|r| r.iter().flat_map(|w| w.to_le_bytes()));
            rela.push((table.index, bytes.collect()));
        } else if !keep.is_empty() {
            kept_tables.push((table.target, keep));
        }
    }

    let slots: Vec<[u64; 3]> = sections
        .iter()
        .filter_map(|s| {
            layout
                .section_slot(s.index)
                .map(|slot| [s.index as u64, region_code(slot.region), slot.offset])
        })
        .collect();
    let mut records: Vec<[u64; 3]> = vec![
        [
            if strip {
                PRELINK_MAGIC_STRIPPED
            } else {
                PRELINK_MAGIC
            },
            resolved as u64,
            kept_tables.len() as u64 | (slots.len() as u64) << 32,
        ],
        [layout.text.size, layout.rodata.size, layout.data.size],
    ];
    records.extend_from_slice(&slots);
    for (target, entries) in &kept_tables {
        records.push([*target as u64, entries.len() as u64, 0]);
        records.extend_from_slice(entries);
    }
    let section = records
        .iter()
        .flat_map(|r| r.iter().flat_map(|w| w.to_le_bytes()))
        .collect();
    Ok(Prelinked {
        sections: new_data
            .into_iter()
            .enumerate()
            .filter_map(|(i, d)| Some((i, d?)))
            .collect(),
        section,
        resolved,
        kept,
        rela,
    })
}
