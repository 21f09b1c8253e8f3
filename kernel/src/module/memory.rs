//! Module memory: a dedicated virtual range just below the kernel, mapped with
//! 4 KiB pages from the page allocator.
//!
//! The range is the 64 MiB below the kernel image (`0x3c00_0000..0x4000_0000`
//! on QEMU virt, where RAM starts at 0x4000_0000), so every call from a module
//! to the kernel or another module is within CALL26's +-128 MiB reach; the
//! loader still makes veneers for any target that is not. Virtual space is handed out by a heap-free first-fit allocator
//! ([`kcore::rangealloc`], highest address first). Each region's pages are one
//! physically contiguous block, which the loader writes through the linear
//! map (the kernel's RW map of all RAM); once written, the image is mapped at
//! its run-time addresses with its final permissions (text RX, rodata R, data
//! RW: never W+X) and the text is made visible to instruction fetch (D-cache
//! clean to PoU, I-cache invalidate) before any of it runs. Mapping addresses
//! that were unmapped needs no TLB invalidation, so a load invalidates
//! nothing; an unload unmaps and invalidates on every CPU once.

use crate::arch::{cpu, mem as arch_mem, mmu};
use crate::mm::{self, tlb, OutOfMemory, PAGE_SIZE};
use crate::sync::IrqLock;
use core::num::NonZeroUsize;
use core::sync::atomic::{AtomicPtr, Ordering};
use kcore::lazyflush::Pending;
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

/// Who makes a new image's bytes defined: the allocation (zeroes) or its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    #[cfg_attr(not(feature = "selftest"), allow(dead_code))] // used by the self-tests
    Zeroed,
    ByCaller,
}

/// One region's physical pages: one block from the page allocator
/// (physically contiguous, so its linear-map address gives the loader one
/// slice), `count` pages asked for. `count` is never 0, which leaves
/// `Option<Block>` no spare value: so [`RETIRED`]'s empty slots are all-zero
/// bytes and it sits in `.bss`, not 3 KiB of the Image's `.data`.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Physical address, which the linear map maps at the same address, RW.
    addr: usize,
    count: NonZeroUsize,
}

/// One module image: text, rodata and data, consecutive in VA.
pub struct ModuleMemory {
    pub base: usize,
    pub pages: usize,
    pub text: Span,
    pub rodata: Span,
    pub data: Span,
    /// Text, rodata and data's pages (`None` for an empty region).
    blocks: [Option<Block>; 3],
    /// Whether `map_final` has mapped the image at `base` (before that,
    /// nothing is mapped there and nothing needs invalidating).
    mapped: bool,
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
    /// Reserves VA and pages for regions of the given sizes (nothing mapped
    /// yet). Images still waiting for a TLB flush elsewhere are freed first
    /// when they can be, and waited for when memory or addresses ran out.
    /// Every byte reads zero.
    #[cfg(feature = "selftest")]
    pub fn allocate(text: u64, rodata: u64, data: u64) -> Result<ModuleMemory, MemError> {
        Self::allocate_with(text, rodata, data, Fill::Zeroed)
    }

    /// As [`ModuleMemory::allocate`], for a caller that writes each region's
    /// first `text`, `rodata` and `data` bytes itself (the loader writes every
    /// byte of its layout): only the rest of each region's last page is
    /// zeroed, so no page is written twice.
    pub fn allocate_to_fill(text: u64, rodata: u64, data: u64) -> Result<ModuleMemory, MemError> {
        Self::allocate_with(text, rodata, data, Fill::ByCaller)
    }

    fn allocate_with(
        text: u64,
        rodata: u64,
        data: u64,
        fill: Fill,
    ) -> Result<ModuleMemory, MemError> {
        reap();
        match Self::try_allocate(text, rodata, data, fill) {
            Err(MemError::OutOfMemory | MemError::OutOfVirtualSpace) if waiting() => {
                reap_wait();
                Self::try_allocate(text, rodata, data, fill)
            }
            r => r,
        }
    }

    fn try_allocate(
        text: u64,
        rodata: u64,
        data: u64,
        fill: Fill,
    ) -> Result<ModuleMemory, MemError> {
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
            blocks: [None; 3],
            mapped: false,
        };
        // From here on, dropping `mem` undoes whatever was done. Nothing is
        // mapped at `base` until `map_final`.
        let asked = [text, rodata, data];
        for (slot, size) in [t, r, d].into_iter().enumerate() {
            if size > 0 {
                let count = size / PAGE_SIZE;
                let addr = match fill {
                    Fill::Zeroed => mm::alloc_pages(count)?,
                    Fill::ByCaller => mm::alloc_pages_unzeroed(count)?,
                };
                // Sizes are whole pages: a region that has any has a page or more.
                mem.blocks[slot] = NonZeroUsize::new(count).map(|count| Block { addr, count });
                if fill == Fill::ByCaller {
                    // The caller writes the first `asked` bytes; the rest of
                    // the last page is mapped too, so it must not show what
                    // the page held before.
                    let from = asked[slot] as usize;
                    // SAFETY: the block's `size` bytes belong to this image alone (just allocated) and are mapped RW by the linear map; `from` <= `size` (page_round).
                    let rest = unsafe {
                        core::slice::from_raw_parts_mut((addr + from) as *mut u8, size - from)
                    };
                    if slot == 0 {
                        // Text: stored only where not zero already (see `load::relocate`).
                        arch_mem::zero_changed(rest);
                    } else {
                        rest.fill(0);
                    }
                }
            }
        }
        Ok(mem)
    }

    /// The spans with their blocks, in VA order.
    fn regions(&self) -> [(Span, Option<Block>); 3] {
        [
            (self.text, self.blocks[0]),
            (self.rodata, self.blocks[1]),
            (self.data, self.blocks[2]),
        ]
    }

    /// The linear-map address of image address `addr` and how many bytes of
    /// its region follow it: where the image's bytes are read and written
    /// (at `addr` itself only once `map_final` ran, and then read-only).
    fn alias(&self, addr: u64) -> Option<(usize, usize)> {
        let addr = usize::try_from(addr).ok()?;
        self.regions().into_iter().find_map(|(span, block)| {
            let off = addr.checked_sub(span.base).filter(|&o| o < span.size)?;
            Some((block?.addr + off, span.size - off))
        })
    }

    /// The three regions' bytes at once (disjoint blocks), through the
    /// linear map, for the loader to fill.
    pub fn regions_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let [t, r, d] = self.regions().map(|(span, block)| match block {
            // `&mut self` makes the borrow unique.
            // SAFETY: the block's pages belong to this image alone and are mapped RW by the linear map; `span.size` <= the block's size.
            Some(b) => unsafe { core::slice::from_raw_parts_mut(b.addr as *mut u8, span.size) },
            None => &mut [][..],
        });
        (t, r, d)
    }

    /// `len` bytes at image address `addr` if they lie inside one region of
    /// the image (read through the linear map, valid for the image's life).
    pub fn image_bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (at, room) = self.alias(addr)?;
        (len <= room).then(|| {
            // SAFETY: checked inside one region's block, which lives as long as `self`; nothing writes it through a shared borrow.
            unsafe { core::slice::from_raw_parts(at as *const u8, len) }
        })
    }

    /// Writable `len` bytes at image address `addr` if they lie inside one
    /// region, before `map_final` (module parameters).
    pub fn image_bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (at, room) = self.alias(addr)?;
        (len <= room && !self.mapped).then(|| {
            // SAFETY: checked inside one region's block, not yet mapped anywhere else; `&mut self` makes the borrow unique.
            unsafe { core::slice::from_raw_parts_mut(at as *mut u8, len) }
        })
    }

    /// Maps the image at its run-time addresses with its final permissions
    /// (text RX, rodata R, data RW: never W+X), and makes the text visible
    /// to instruction fetch. The addresses were unmapped (and invalidated
    /// on every CPU when last used), so no TLB invalidation is needed: a
    /// load no longer drops every CPU's TLB (QEMU's whole software TLB and
    /// jump cache) as the RW-then-protect scheme did.
    pub fn map_final(&mut self) -> Result<(), MemError> {
        let regions = self.regions();
        self.mapped = true;
        crate::mm::address_space::with(|space| {
            for ((span, block), attr) in regions.into_iter().zip([
                mmu::Attr::NormalRx,
                mmu::Attr::NormalRo,
                mmu::Attr::NormalRw,
            ]) {
                // Page by page: never a block mapping, which `unmap` (level 3
                // only) could not take apart.
                for off in (0..block.map_or(0, |_| span.size)).step_by(PAGE_SIZE) {
                    let pa = block.map_or(0, |b| b.addr) + off;
                    space.map(span.base + off, pa, PAGE_SIZE, attr, &mut table_page)?;
                }
            }
            Ok(())
        })
        .map_err(MemError::Map)?;
        mmu::mappings_added();
        if self.text.size == 0 {
            // No code: nothing for instruction fetch to see.
            return Ok(());
        }
        cpu::sync_icache(self.text.base, self.text.size);
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
    /// An image never mapped is freed at once. A mapped one is unmapped, and
    /// its pages and addresses wait until every CPU has flushed its TLB
    /// ([`mm::tlb`]): nothing waits here for the other CPUs.
    fn drop(&mut self) {
        let retired = Retired {
            base: self.base,
            size: self.pages * PAGE_SIZE,
            blocks: self.blocks,
        };
        if !self.mapped {
            retired.free();
            return;
        }
        let _ = crate::mm::address_space::with(|space| space.unmap(retired.base, retired.size));
        let gen = tlb::unmapped(retired.base, retired.size);
        let mut item = retired;
        loop {
            let pushed = RETIRED.lock().push(item, gen);
            match pushed {
                Ok(()) => break,
                // Every slot waits: wait for the other CPUs once, then retry.
                Err(back) => {
                    item = back;
                    reap_wait();
                }
            }
        }
        reap();
    }
}

/// What an unmapped image leaves: its pages and its addresses, reusable once
/// every CPU flushed its TLB since the unmap.
struct Retired {
    base: usize,
    size: usize,
    blocks: [Option<Block>; 3],
}

impl Retired {
    fn free(self) {
        // Data, rodata, then text: the reverse of the order `try_allocate`
        // takes them. The page allocator hands back what was freed last
        // first, so a reload of the same sizes gets each region's own pages
        // back, text included, and the text stores nothing that did not
        // change (`load::relocate`). Freed text first, a module whose text
        // and rodata are both two pages got the other region's pages at
        // every reload and stored all its text again.
        for b in self.blocks.iter().rev().flatten() {
            mm::free_pages(b.addr, b.count.get());
        }
        VA.lock().free(self.base as u64, self.size as u64);
    }

    fn pages(&self) -> usize {
        self.blocks
            .iter()
            .flatten()
            .map(|b| b.count.get().next_power_of_two())
            .sum()
    }
}

/// Images unmapped whose memory waits for every CPU's TLB flush. A fixed
/// list: retiring never allocates.
static RETIRED: IrqLock<Pending<Retired, 32>> = IrqLock::new(Pending::new());

/// Frees every retired image all CPUs have flushed for: called by the CPU
/// that unloads (after retiring an image), allocates (before) or reads
/// memory figures ([`reap_wait`]); the shell's idle loop uses [`reap_idle`].
/// Never from another CPU's interrupt, so an unload never waits for a CPU
/// that holds this lock (see `mm::tlb`).
///
/// Frees under the list's lock, so that once the list is seen empty (by
/// [`reap_wait`], before memory figures are read) no other CPU is still in
/// the middle of freeing an image it took from it. Lock order: this list,
/// then the page and address allocators (nothing takes them the other way).
pub fn reap() {
    free_ready(&mut RETIRED.lock());
}

/// Frees, under the list's lock, every image all CPUs have flushed for.
fn free_ready(list: &mut Pending<Retired, 32>) {
    let flushed = tlb::flushed_everywhere();
    while let Some(r) = list.take_ready(flushed) {
        r.free();
    }
}

/// Frees what is ready if the list's lock is free, never waiting for it: the
/// shell's idle loop calls it between commands, so an unloaded image's pages
/// go back to the page allocator (for drivers' `dma_alloc` too) once every
/// CPU caught up, not only at the next load, unload or `mem`. An unload on
/// another CPU can meet this holder only between the shell's commands.
pub fn reap_idle() {
    if let Some(mut list) = RETIRED.try_lock() {
        free_ready(&mut list);
    }
}

/// Waits until every CPU has flushed for every retired image (at most 10 ms,
/// then a broadcast invalidation does it), and frees them: before memory
/// figures are read, when an allocation failed, when the list is full.
/// Whether nothing is left waiting.
pub fn reap_wait() -> bool {
    let newest = RETIRED.lock().newest();
    if let Some(g) = newest {
        tlb::wait_flushed(g, 10_000);
    }
    reap();
    RETIRED.lock().is_empty()
}

/// Whether any retired image waits.
fn waiting() -> bool {
    !RETIRED.lock().is_empty()
}

/// Pages of unloaded images still waiting for a TLB flush on some CPU.
pub fn pages_awaiting_flush() -> usize {
    let list = RETIRED.lock();
    let mut n = 0;
    list.for_each(|r| n += r.pages());
    n
}
