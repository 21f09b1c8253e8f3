//! Stage-1 translation for EL1: 4 KiB granule, 39-bit VA (T0SZ = 25, walks start at
//! level 1), one identity-mapped TTBR0 space. TTBR1 walks are disabled.
//!
//! The kernel describes what to map with [`Attr`] (normal RW/RO/RX, device) and
//! [`AddressSpace::map`] picks 1 GiB / 2 MiB blocks or 4 KiB pages as alignment
//! allows. Table pages come from a caller-supplied allocator so the same code serves
//! boot (a static pool, before the page allocator exists) and later runtime maps.
//! Invariant: a live mapping is never silently replaced: mapping over a valid entry
//! is an error, so W^X decisions made for the kernel image cannot be undone by a
//! later overlapping map. Descriptor formats: Arm ARM D8.3 (VMSAv8-64 translation
//! table format descriptors).

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1,
};
use core::arch::asm;

pub const PAGE_SIZE: usize = 4096;
const ENTRIES: usize = 512;
/// Size of the virtual address space: 2^39 bytes.
pub const VA_BITS: u32 = 39;

// Descriptor bits (Arm ARM D8.3.1, D8.3.2).
const VALID: u64 = 1 << 0;
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDX_SHIFT: u64 = 2;
const AP_RO: u64 = 1 << 7; // AP[2]: read-only
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// MAIR_EL1 indexes: 0 = Device-nGnRE (0x04), 1 = Normal WB RA WA (0xff).
const MAIR_DEVICE: u64 = 0;
const MAIR_NORMAL: u64 = 1;

/// How a range is mapped. Every attribute is W^X: nothing is writable and executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// Normal memory, read-write, never executable.
    NormalRw,
    /// Normal memory, read-only, never executable.
    NormalRo,
    /// Normal memory, read-only, executable at EL1.
    NormalRx,
    /// Device-nGnRE, read-write, never executable.
    Device,
}

impl Attr {
    fn bits(self) -> u64 {
        match self {
            Attr::NormalRw => (MAIR_NORMAL << ATTR_INDX_SHIFT) | SH_INNER | AF | PXN | UXN,
            Attr::NormalRo => (MAIR_NORMAL << ATTR_INDX_SHIFT) | SH_INNER | AF | AP_RO | PXN | UXN,
            Attr::NormalRx => (MAIR_NORMAL << ATTR_INDX_SHIFT) | SH_INNER | AF | AP_RO | UXN,
            Attr::Device => (MAIR_DEVICE << ATTR_INDX_SHIFT) | AF | PXN | UXN,
        }
    }
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No page for a translation table.
    OutOfTables,
    /// Address or size not page-aligned, or beyond the VA space.
    BadRange,
    /// Part of the range is already mapped.
    AlreadyMapped(usize),
}

/// One translation table page.
#[repr(C, align(4096))]
pub struct Table([u64; ENTRIES]);

impl Table {
    pub const fn zeroed() -> Self {
        Self([0; ENTRIES])
    }
}

/// A TTBR0 address space rooted at a level-1 table.
pub struct AddressSpace {
    root: *mut Table,
}

// SAFETY: the tables are plain memory owned by the address space; access is
// serialized by whoever owns the `AddressSpace` (a lock in the kernel).
unsafe impl Send for AddressSpace {}

impl AddressSpace {
    /// Starts an empty address space in `root`.
    ///
    /// # Safety
    /// `root` must be a zeroed, 4 KiB-aligned page that stays reserved for this
    /// address space for as long as it is (or may be) live in TTBR0.
    pub unsafe fn new(root: *mut Table) -> Self {
        Self { root }
    }

    pub fn root_addr(&self) -> u64 {
        self.root as u64
    }

    /// Maps `[va, va+size)` to `[pa, pa+size)` with `attr`. `alloc_table` returns a
    /// zeroed 4 KiB page (identity-mapped, or the MMU still off) for new tables.
    pub fn map(
        &mut self,
        va: usize,
        pa: usize,
        size: usize,
        attr: Attr,
        alloc_table: &mut dyn FnMut() -> Option<*mut Table>,
    ) -> Result<(), MapError> {
        let mask = PAGE_SIZE - 1;
        let end = va.checked_add(size).ok_or(MapError::BadRange)?;
        if va & mask != 0 || pa & mask != 0 || size & mask != 0 || end > 1 << VA_BITS {
            return Err(MapError::BadRange);
        }
        let (mut va, mut pa) = (va, pa);
        while va < end {
            let left = end - va;
            // Try the largest block that fits: level 1 (1 GiB), 2 (2 MiB), 3 (4 KiB).
            let level = if (va | pa) & ((1 << 30) - 1) == 0 && left >= 1 << 30 {
                1
            } else if (va | pa) & ((1 << 21) - 1) == 0 && left >= 1 << 21 {
                2
            } else {
                3
            };
            let step = 1usize << (12 + 9 * (3 - level));
            let entry = self.entry(va, level, alloc_table)?;
            // SAFETY: `entry` points into a live table page owned by this space.
            unsafe {
                if *entry & VALID != 0 {
                    return Err(MapError::AlreadyMapped(va));
                }
                let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
                *entry = (pa as u64 & ADDR_MASK) | attr.bits() | kind | VALID;
            }
            va += step;
            pa += step;
        }
        Ok(())
    }

    /// Removes the level-3 mappings of `[va, va+size)`; pages not mapped
    /// (no table, or an invalid entry) are skipped. The caller flushes the TLB.
    #[allow(dead_code)] // used by the module subsystem
    pub fn unmap(&mut self, va: usize, size: usize) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadRange);
        }
        let mut none = || None;
        for page in (va..va.checked_add(size).ok_or(MapError::BadRange)?).step_by(PAGE_SIZE) {
            if let Ok(entry) = self.entry(page, 3, &mut none) {
                // SAFETY: `entry` points into a live table page owned by this space.
                unsafe { *entry = 0 };
            }
        }
        Ok(())
    }

    /// The descriptor slot for `va` at `level`, creating intermediate tables.
    fn entry(
        &mut self,
        va: usize,
        level: usize,
        alloc_table: &mut dyn FnMut() -> Option<*mut Table>,
    ) -> Result<*mut u64, MapError> {
        let mut table = self.root;
        for l in 1..=level {
            let index = (va >> (12 + 9 * (3 - l))) & (ENTRIES - 1);
            // SAFETY: `table` is a live table page (root, or created below); the index is < 512.
            let slot = unsafe { (*table).0.as_mut_ptr().add(index) };
            if l == level {
                return Ok(slot);
            }
            // SAFETY: as above, the slot is inside a live table.
            let desc = unsafe { *slot };
            if desc & VALID == 0 {
                let new = alloc_table().ok_or(MapError::OutOfTables)?;
                // SAFETY: `slot` is a live entry; `new` a zeroed table page.
                unsafe { *slot = (new as u64 & ADDR_MASK) | TABLE_OR_PAGE | VALID };
                table = new;
            } else if desc & TABLE_OR_PAGE == 0 {
                // A block already covers this address at a coarser level.
                return Err(MapError::AlreadyMapped(va));
            } else {
                table = (desc & ADDR_MASK) as *mut Table;
            }
        }
        Err(MapError::BadRange)
    }
}

/// Turns the MMU on with `space` in TTBR0 and caches enabled.
///
/// # Safety
/// `space` must map the currently executing code, the stacks and every piece of
/// memory the kernel touches afterwards at their current addresses (identity).
pub unsafe fn enable(space: &AddressSpace) {
    MAIR_EL1.write(
        MAIR_EL1::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
            + MAIR_EL1::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc,
    );
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(64 - VA_BITS as u64)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS.val(pa_range.min(5)),
    );
    TTBR0_EL1.set_baddr(space.root_addr());
    barrier::dsb(barrier::ISH);
    // SAFETY: invalidating all EL1 TLB entries is always allowed.
    unsafe { asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable
            + SCTLR_EL1::C::Cacheable
            + SCTLR_EL1::I::Cacheable
            + SCTLR_EL1::A::Disable,
    );
    barrier::isb(barrier::SY);
}

/// Makes new mappings (entries that were invalid, so in no TLB) visible to
/// this CPU's table walks before they are used; other CPUs learn of the
/// memory through a later barrier-ordered publication (an IPI or a lock).
#[allow(dead_code)] // used by the module subsystem
pub fn mappings_added() {
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
}

/// Invalidates every CPU's EL1 TLB entries (`tlbi vmalle1is`: the hardware
/// broadcasts it and `dsb ish` waits until every CPU's TLB has done it; no
/// CPU has to take an interrupt).
pub fn flush_tlb_all_cpus() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB invalidation has no effect on memory contents.
    unsafe { asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Invalidates this CPU's EL1 TLB entries only (no broadcast: other CPUs are
/// neither told nor waited for). Page-table writes another CPU made before
/// it published them (release, after `dsb ish`) are seen by the walks after
/// this: Arm ARM D8.13.4 (TLB maintenance), B2.3 (ordering).
pub fn flush_tlb_local() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB invalidation has no effect on memory contents.
    unsafe { asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);
}

/// Invalidates this CPU's TLB entries for the pages of `[va, va + size)`
/// only (`tlbi vae1` per page: by VA, which also removes global entries, as
/// every kernel mapping is; Arm ARM D8.13, C5.5), keeping the rest of the
/// TLB (under QEMU, its software TLB and jump cache stay warm).
pub fn flush_tlb_range_local(va: usize, size: usize) {
    barrier::dsb(barrier::ISHST);
    for page in (va..va.saturating_add(size)).step_by(PAGE_SIZE) {
        // SAFETY: TLB invalidation has no effect on memory contents.
        unsafe {
            asm!("tlbi vae1, {}", in(reg) (page >> 12) as u64, options(nostack, preserves_flags))
        };
    }
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);
}

/// Makes this CPU's page-table stores (entries cleared by an unmap) complete
/// for every CPU's table walker before the unmap is announced.
pub fn tables_written() {
    barrier::dsb(barrier::ISH);
}

/// The physical address `va` maps to now, from the MMU itself (`AT S1E1R`, Arm
/// ARM C5.5.8; PAR_EL1.F set means the walk faulted).
pub fn translate(va: usize) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation instructions only write PAR_EL1.
    unsafe {
        asm!(
            "at s1e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            va = in(reg) va,
            par = out(reg) par,
            options(nostack, preserves_flags)
        )
    };
    if par & 1 != 0 {
        None
    } else {
        Some((par & ADDR_MASK) | (va as u64 & 0xfff))
    }
}
