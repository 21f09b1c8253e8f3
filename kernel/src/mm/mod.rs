//! Physical memory: the page allocator and the kernel heap, sized from the DTB.
//!
//! At boot, RAM from `/memory` minus the kernel image, the DTB, the initrd and
//! `/memreserve/` entries gives the free ranges ([`kcore::memrange`]). A quarter
//! (at least 1 MiB, at most 64 MiB, at most the largest range) is reserved for
//! the heap at the start of a range that holds it, the one whose start shares
//! a host huge page with what the loader wrote ([`kcore::memrange::heap_home`]):
//! a `buddy_system_allocator::Heap` given its range a doubling piece at a time
//! as allocations need it ([`kcore::growheap`]). Everything else goes to the page allocator
//! ([`kcore::pagealloc`]: a buddy allocator per free range, whose free lists
//! run through the free pages, so page fragmentation never shows in the heap
//! figure). Both sit
//! behind [`IrqLock`]s; allocation failure is returned to the caller
//! ([`alloc_pages`] -> `Err`, `Vec::try_reserve` -> `Err`), never a hang.
//!
//! Room `mm` (also `address_space.rs`: the kernel's page tables after boot and
//! the linear map; `layout.rs`: the image's layout): uses `arch`, `sync`,
//! `machine`.

pub mod address_space;
pub mod layout;
pub mod tlb;

use crate::sync::IrqLock;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use kcore::growheap::GrowingHeap;
use kcore::memrange::{Range, RangeSet};
use kcore::pagealloc::PageAllocator;

pub const PAGE_SIZE: usize = 4096;

pub struct KernelHeap {
    heap: IrqLock<GrowingHeap<32>>,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: IrqLock::new(GrowingHeap::new()),
};

// SAFETY: `GrowingHeap` hands out non-overlapping blocks of at least the
// requested size and alignment from the range `init` reserved for it (free RAM
// nobody else uses); the lock serializes all access, with IRQs masked so a
// handler cannot re-enter.
unsafe impl GlobalAlloc for KernelHeap {
    // Out of line, as they were while the heap was `GrowingHeap`'s only
    // user: inlined into every allocation site they made the Image 5.7 KiB
    // larger once the page allocator shared `GrowingHeap::alloc`.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.heap
            .lock()
            .alloc(layout)
            .map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            self.heap.lock().dealloc(p, layout);
        }
    }
}

/// The page allocator ([`PageAllocator`]): its free lists run through the
/// free pages (mapped read-write at physical = virtual, `address_space`),
/// not the heap. One slot per free range `init` can be given.
static FRAMES: IrqLock<PageAllocator<16>> = IrqLock::new(PageAllocator::new());
// The pages it hands out are the kernel's pages.
const _: () = assert!(PAGE_SIZE == kcore::pagealloc::PAGE_SIZE);

/// Single free pages kept out of the buddy allocator (Linux's per-CPU page
/// lists): module images are mapped page by page, and without this cache every
/// load and unload would split and re-merge buddy blocks up to the largest
/// order. A plain array: no heap, and per-CPU when more CPUs run.
struct PageCache {
    pages: [usize; PAGE_CACHE_SIZE],
    len: usize,
}

const PAGE_CACHE_SIZE: usize = 64;
static PAGE_CACHE: IrqLock<PageCache> = IrqLock::new(PageCache {
    pages: [0; PAGE_CACHE_SIZE],
    len: 0,
});

/// What `mem` reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemInfo {
    pub ram_total: u64,
    pub kernel_image: u64,
    pub reserved: u64,
    pub pages_total: u64,
    pub pages_free: u64,
    pub heap_total: u64,
    pub heap_used: u64,
    pub heap_actual: u64,
}

static LAYOUT: IrqLock<MemInfo> = IrqLock::new(MemInfo {
    ram_total: 0,
    kernel_image: 0,
    reserved: 0,
    pages_total: 0,
    pages_free: 0,
    heap_total: 0,
    heap_used: 0,
    heap_actual: 0,
});
static PAGES_ALLOCATED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The allocator ran out of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

impl core::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Cannot allocate memory")
    }
}

/// Sets up heap and page allocator from the free ranges.
///
/// # Safety
/// `free` must be RAM that is mapped read-write and used by nothing else, now or
/// later; called once.
pub unsafe fn init(
    ram: &RangeSet<8>,
    free: &RangeSet<16>,
    kernel_image: u64,
) -> Result<(), OutOfMemory> {
    let largest = free
        .as_slice()
        .iter()
        .map(Range::size)
        .max()
        .ok_or(OutOfMemory)?;
    let heap_size =
        (free.total() / 4).clamp(1 << 20, 64 << 20).min(largest) & !(PAGE_SIZE as u64 - 1);
    let heap = kcore::memrange::heap_home(free.as_slice(), heap_size)
        .filter(|h| !h.is_empty())
        .ok_or(OutOfMemory)?;
    // SAFETY: the caller gives us exclusive use of `free`; `heap` is the start of one of its ranges and becomes the heap's and nothing else's.
    unsafe {
        HEAP.heap
            .lock()
            .init(heap.start as usize, heap.end as usize, PAGE_SIZE)
    };
    let mut frames = FRAMES.lock();
    let mut pages = 0;
    for r in free.as_slice() {
        let r = if r.start == heap.start {
            Range::new(heap.end, r.end)
        } else {
            *r
        };
        // SAFETY: the caller gives us exclusive use of `free`, mapped RW; the
        // heap's part of its range was cut off above.
        pages += unsafe { frames.add(r) };
    }
    let ram_total = ram.total();
    let mut l = LAYOUT.lock();
    l.ram_total = ram_total;
    l.kernel_image = kernel_image;
    l.reserved = ram_total - free.total();
    l.pages_total = pages;
    l.heap_total = heap_size;
    Ok(())
}

/// Allocates `count` physically contiguous zeroed pages (rounded up to a power
/// of two, naturally aligned); returns the physical (= virtual) address.
#[allow(dead_code)] // used by the module subsystem
pub fn alloc_pages(count: usize) -> Result<usize, OutOfMemory> {
    let addr = alloc_pages_unzeroed(count)?;
    let n = count.next_power_of_two();
    // SAFETY: the frame allocator just gave us exclusive ownership of these pages, which are mapped read-write (all free RAM is).
    unsafe { core::ptr::write_bytes(addr as *mut u8, 0, n * PAGE_SIZE) };
    Ok(addr)
}

/// As [`alloc_pages`], but the pages keep whatever their last owner left in
/// them: for a caller that writes every byte it hands on (module images,
/// which the loader fills whole), so they are not written twice.
pub fn alloc_pages_unzeroed(count: usize) -> Result<usize, OutOfMemory> {
    let cached = if count == 1 {
        let mut c = PAGE_CACHE.lock();
        c.len.checked_sub(1).map(|i| {
            c.len = i;
            c.pages[i]
        })
    } else {
        None
    };
    let addr = match cached {
        Some(a) => a,
        None => FRAMES.lock().alloc(count).ok_or(OutOfMemory)?,
    };
    let n = count.next_power_of_two();
    PAGES_ALLOCATED.fetch_add(n as u64, core::sync::atomic::Ordering::Relaxed);
    Ok(addr)
}

/// Returns pages from [`alloc_pages`] with the same `count`.
#[allow(dead_code)] // used by the module subsystem
pub fn free_pages(addr: usize, count: usize) {
    let cached = count == 1 && {
        let mut c = PAGE_CACHE.lock();
        let i = c.len;
        if i < PAGE_CACHE_SIZE {
            c.pages[i] = addr;
            c.len = i + 1;
            true
        } else {
            false
        }
    };
    if !cached {
        FRAMES.lock().dealloc(addr, count);
    }
    PAGES_ALLOCATED.fetch_sub(
        count.next_power_of_two() as u64,
        core::sync::atomic::Ordering::Relaxed,
    );
}

/// Current figures for `mem`.
pub fn info() -> MemInfo {
    let mut i = *LAYOUT.lock();
    let allocated = PAGES_ALLOCATED.load(core::sync::atomic::Ordering::Relaxed);
    i.pages_free = i.pages_total.saturating_sub(allocated);
    let heap = HEAP.heap.lock();
    i.heap_used = heap.used() as u64;
    i.heap_actual = heap.used_actual() as u64;
    i
}
