//! Module memory: a dedicated virtual range just below the kernel, mapped with
//! 4 KiB pages from the page allocator.
//!
//! The range is the 64 MiB below the kernel image (`0x3c00_0000..0x4000_0000`
//! on QEMU virt, where RAM starts at 0x4000_0000), so every call from a module
//! to the kernel or another module is within CALL26's +-128 MiB reach; the
//! loader still makes veneers for any target that is not. Virtual space is handed out by a heap-free first-fit allocator
//! ([`kcore::rangealloc`], highest address first); physical pages one by one,
//! so no contiguity is needed. Each region
//! is mapped read-write while the loader writes it, then switched to its final
//! permission (text RX, rodata R, data RW: never W+X) with a TLB flush, and the
//! text is made visible to instruction fetch (D-cache clean to PoU, I-cache
//! invalidate) before any of it runs.

use crate::arch::{cpu, mmu};
use crate::mm::{self, OutOfMemory, PAGE_SIZE};
use crate::sync::IrqLock;
use alloc::vec::Vec;
use kcore::memrange::Range;
use kcore::rangealloc::RangeAllocator;

/// The module virtual range.
pub const MODULE_VA_START: usize = 0x3c00_0000;
pub const MODULE_VA_END: usize = 0x4000_0000;

static VA: IrqLock<RangeAllocator<128>> = IrqLock::new(RangeAllocator::new(Range::new(
    MODULE_VA_START as u64,
    MODULE_VA_END as u64,
)));

/// One mapped module image: text, rodata and data, consecutive in VA.
pub struct ModuleMemory {
    pub base: usize,
    pub pages: usize,
    /// Byte sizes rounded up to pages: text, rodata, data.
    pub text: (usize, usize),
    pub rodata: (usize, usize),
    pub data: (usize, usize),
    phys: Vec<usize>,
}

fn page_round(n: u64) -> Option<usize> {
    let n = usize::try_from(n).ok()?;
    Some(n.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Why module memory could not be set up.
#[derive(Debug, Clone, Copy)]
pub enum MemError {
    OutOfMemory,
    OutOfVirtualSpace,
    Map(mmu::MapError),
}

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemError::OutOfMemory => f.write_str("Cannot allocate memory"),
            MemError::OutOfVirtualSpace => {
                f.write_str("module address space exhausted (Cannot allocate memory)")
            }
            MemError::Map(e) => write!(f, "cannot map module memory: {e:?}"),
        }
    }
}

impl From<OutOfMemory> for MemError {
    fn from(_: OutOfMemory) -> Self {
        MemError::OutOfMemory
    }
}

fn table_page() -> Option<*mut mmu::Table> {
    mm::alloc_pages(1).ok().map(|p| p as *mut mmu::Table)
}

impl ModuleMemory {
    /// Reserves VA and pages for regions of the given sizes and maps them RW.
    pub fn allocate(text: u64, rodata: u64, data: u64) -> Result<ModuleMemory, MemError> {
        let (t, r, d) = (
            page_round(text).ok_or(MemError::OutOfVirtualSpace)?,
            page_round(rodata).ok_or(MemError::OutOfVirtualSpace)?,
            page_round(data).ok_or(MemError::OutOfVirtualSpace)?,
        );
        let bytes = t
            .checked_add(r)
            .and_then(|x| x.checked_add(d))
            .ok_or(MemError::OutOfVirtualSpace)?;
        let pages = (bytes / PAGE_SIZE).max(1);
        let base = VA
            .lock()
            .alloc((pages * PAGE_SIZE) as u64, PAGE_SIZE as u64)
            .ok_or(MemError::OutOfVirtualSpace)? as usize;
        let mut mem = ModuleMemory {
            base,
            pages,
            text: (base, t),
            rodata: (base + t, r),
            data: (base + t + r, d),
            phys: Vec::new(),
        };
        // From here on, dropping `mem` undoes whatever was done.
        mem.phys
            .try_reserve_exact(pages)
            .map_err(|_| MemError::OutOfMemory)?;
        for i in 0..pages {
            let page = mm::alloc_pages(1)?;
            mem.phys.push(page);
            let va = base + i * PAGE_SIZE;
            crate::boot::with_address_space(|space| {
                space.map(va, page, PAGE_SIZE, mmu::Attr::NormalRw, &mut table_page)
            })
            .map_err(MemError::Map)?;
        }
        Ok(mem)
    }

    /// The writable bytes of a region, while it is still mapped RW.
    pub fn bytes_mut(&mut self, region: (usize, usize)) -> &mut [u8] {
        // `&mut self` makes the borrow unique.
        // SAFETY: inside this image's VA range, mapped RW until `protect`, on
        // pages only this image owns.
        unsafe { core::slice::from_raw_parts_mut(region.0 as *mut u8, region.1) }
    }

    /// Final permissions: text RX, rodata R, data RW. Then flushes the TLB and
    /// makes the text visible to instruction fetch.
    pub fn protect(&mut self) -> Result<(), MemError> {
        let text = self.text;
        let rodata = self.rodata;
        crate::boot::with_address_space(|space| {
            if text.1 > 0 {
                space.protect(text.0, text.1, mmu::Attr::NormalRx)?;
            }
            if rodata.1 > 0 {
                space.protect(rodata.0, rodata.1, mmu::Attr::NormalRo)?;
            }
            Ok(())
        })
        .map_err(MemError::Map)?;
        mmu::flush_tlb();
        cpu::sync_icache(text.0, text.1);
        Ok(())
    }

    pub fn text_range(&self) -> (u64, u64) {
        (self.text.0 as u64, (self.text.0 + self.text.1) as u64)
    }

    pub fn contains(&self, addr: u64) -> bool {
        (self.base as u64..(self.base + self.pages * PAGE_SIZE) as u64).contains(&addr)
    }

    pub fn size(&self) -> usize {
        self.pages * PAGE_SIZE
    }
}

impl Drop for ModuleMemory {
    fn drop(&mut self) {
        let mapped = self.phys.len();
        let base = self.base;
        let _ = crate::boot::with_address_space(|space| space.unmap(base, mapped * PAGE_SIZE));
        mmu::flush_tlb();
        for &page in &self.phys {
            mm::free_pages(page, 1);
        }
        VA.lock()
            .free(self.base as u64, (self.pages * PAGE_SIZE) as u64);
    }
}
