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
use core::sync::atomic::{AtomicPtr, Ordering};
use kcore::memrange::Range;
use kcore::rangealloc::RangeAllocator;

/// Called after new module text was made visible to instruction fetch: with
/// more than one CPU running, `smp` has every other CPU synchronise its
/// instruction stream before any of them can call the new code.
static CODE_INSTALLED: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Sets what runs after new module code is installed.
pub fn on_code_installed(f: fn()) {
    CODE_INSTALLED.store(f as *mut (), Ordering::Release);
}

/// The module virtual range.
pub const MODULE_VA_START: usize = 0x3c00_0000;
pub const MODULE_VA_END: usize = 0x4000_0000;

static VA: IrqLock<RangeAllocator<128>> = IrqLock::new(RangeAllocator::new(Range::new(
    MODULE_VA_START as u64,
    MODULE_VA_END as u64,
)));

/// A region of an image: `size` bytes (a whole number of pages) at `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub base: usize,
    pub size: usize,
}

/// One mapped module image: text, rodata and data, consecutive in VA.
pub struct ModuleMemory {
    pub base: usize,
    pub pages: usize,
    pub text: Span,
    pub rodata: Span,
    pub data: Span,
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
            text: Span { base, size: t },
            rodata: Span {
                base: base + t,
                size: r,
            },
            data: Span {
                base: base + t + r,
                size: d,
            },
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
            crate::mm::address_space::with(|space| {
                space.map(va, page, PAGE_SIZE, mmu::Attr::NormalRw, &mut table_page)
            })
            .map_err(MemError::Map)?;
        }
        Ok(mem)
    }

    /// The three regions' bytes at once (they are disjoint), while the image
    /// is still mapped RW (before `protect`).
    pub fn regions_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (t, r, d) = (self.text.size, self.rodata.size, self.data.size);
        // `&mut self` makes the borrow unique.
        // SAFETY: `base..base+t+r+d` is this image's VA range, mapped RW until `protect`, on pages only this image owns.
        let all = unsafe { core::slice::from_raw_parts_mut(self.base as *mut u8, t + r + d) };
        let (text, rest) = all.split_at_mut(t);
        let (rodata, data) = rest.split_at_mut(r);
        (text, rodata, data)
    }

    /// `len` bytes at `addr` if they lie inside the image (readable for the
    /// image's lifetime: every region is mapped at least read-only).
    pub fn image_bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.contains_range(addr, len as u64).then(|| {
            // SAFETY: checked inside this image, which stays mapped while `self` lives; nothing writes it through a shared borrow.
            unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) }
        })
    }

    /// Writable `len` bytes at `addr` if they lie inside the image, before
    /// `protect` (while every region is still mapped RW).
    pub fn image_bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        self.contains_range(addr, len as u64).then(|| {
            // SAFETY: checked inside this image, mapped RW until `protect`; `&mut self` makes the borrow unique.
            unsafe { core::slice::from_raw_parts_mut(addr as usize as *mut u8, len) }
        })
    }

    /// Final permissions: text RX, rodata R, data RW. Then flushes the TLB and
    /// makes the text visible to instruction fetch.
    pub fn protect(&mut self) -> Result<(), MemError> {
        let text = self.text;
        let rodata = self.rodata;
        crate::mm::address_space::with(|space| {
            if text.size > 0 {
                space.protect(text.base, text.size, mmu::Attr::NormalRx)?;
            }
            if rodata.size > 0 {
                space.protect(rodata.base, rodata.size, mmu::Attr::NormalRo)?;
            }
            Ok(())
        })
        .map_err(MemError::Map)?;
        mmu::flush_tlb();
        cpu::sync_icache(text.base, text.size);
        let hook = CODE_INSTALLED.load(Ordering::Acquire);
        if !hook.is_null() {
            // SAFETY: only ever set from a `fn()` in `on_code_installed`.
            let hook: fn() = unsafe { core::mem::transmute(hook) };
            hook();
        }
        Ok(())
    }

    /// The text's bounds `(start, end)`, as `Module::text` holds them.
    pub fn text_bounds(&self) -> (u64, u64) {
        (
            self.text.base as u64,
            (self.text.base + self.text.size) as u64,
        )
    }

    /// Whether `len` bytes at `addr` lie inside the image (an empty range at
    /// an address inside it counts).
    pub fn contains_range(&self, addr: u64, len: u64) -> bool {
        let start = self.base as u64;
        let end = start + self.size() as u64;
        addr >= start && addr <= end && len <= end - addr && (len > 0 || addr < end)
    }

    pub fn size(&self) -> usize {
        self.pages * PAGE_SIZE
    }
}

impl Drop for ModuleMemory {
    fn drop(&mut self) {
        let mapped = self.phys.len();
        let base = self.base;
        let _ = crate::mm::address_space::with(|space| space.unmap(base, mapped * PAGE_SIZE));
        mmu::flush_tlb();
        for &page in &self.phys {
            mm::free_pages(page, 1);
        }
        VA.lock()
            .free(self.base as u64, (self.pages * PAGE_SIZE) as u64);
    }
}
