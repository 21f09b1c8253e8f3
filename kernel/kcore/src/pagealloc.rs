//! The page allocator's bookkeeping: whole pages from up to `RANGES` free
//! ranges of RAM, a buddy allocator per range whose free lists are linked
//! through the free blocks themselves (as Linux's buddy lists run through
//! `struct page`).
//!
//! It holds no heap memory, so how fragmented the pages are never shows in
//! the heap figure: a caller that frees what it allocated finds the heap
//! where it was (`modstress` and `smpstress` compare it). A `BTreeSet` per
//! order in the heap (`buddy_system_allocator::FrameAllocator`, used before)
//! grows and shrinks with the set of free blocks, which depends on history:
//! after a busy `modstress` the kernel's page cache held one page more than
//! before, the buddy one block more, and the heap one B-tree leaf (128
//! bytes) more.
//!
//! Each range is given to its buddy allocator a doubling piece at a time
//! ([`GrowingHeap`], as the heap's range): writing a list link into every
//! block of a fresh 100 MiB range at boot faults in a dozen host pages
//! (measured under QEMU: 15-40 ms more boot).
//!
//! Invariant: `bounds[..len]` are the page-aligned ranges `add` was given,
//! each owned by `ranges[i]` alone; a block is only ever returned to the
//! allocator of the range that contains it.

use crate::growheap::GrowingHeap;
use crate::memrange::Range;
use core::alloc::Layout;
use core::ptr::NonNull;

pub const PAGE_SIZE: usize = 4096;

/// Size classes of each range's buddy allocator: 8 bytes to 2 GiB, of which
/// only classes from a page up are used (ranges are whole pages).
const ORDER: usize = 32;

pub struct PageAllocator<const RANGES: usize> {
    ranges: [GrowingHeap<ORDER>; RANGES],
    bounds: [Range; RANGES],
    len: usize,
}

impl<const RANGES: usize> PageAllocator<RANGES> {
    /// An allocator with no pages.
    pub const fn new() -> Self {
        Self {
            ranges: [const { GrowingHeap::new() }; RANGES],
            bounds: [Range::new(0, 0); RANGES],
            len: 0,
        }
    }

    /// The buddy block `count` pages take: that many pages rounded up to a
    /// power of two, aligned to its size. None if it overflows.
    fn block(count: usize) -> Option<Layout> {
        let size = count.checked_next_power_of_two()?.checked_mul(PAGE_SIZE)?;
        Layout::from_size_align(size, size).ok()
    }

    /// Takes the whole pages of `r`; returns how many. A range without a
    /// whole page, or one more than `RANGES`, gives none.
    ///
    /// # Safety
    /// `r` is memory mapped read-write at its address, used by nothing else
    /// from now on.
    pub unsafe fn add(&mut self, r: Range) -> u64 {
        let r = r.align_inward(PAGE_SIZE as u64);
        if r.is_empty() || self.len == RANGES {
            return 0;
        }
        // SAFETY: the caller gives us `r` (whole pages after rounding inward)
        // for good; this is slot `len`'s one `init`.
        unsafe { self.ranges[self.len].init(r.start as usize, r.end as usize, PAGE_SIZE) };
        self.bounds[self.len] = r;
        self.len += 1;
        r.size() / PAGE_SIZE as u64
    }

    /// `count` contiguous pages (a block of `count` rounded up to a power of
    /// two, aligned to its size) from the first range with room: their
    /// address, or None.
    pub fn alloc(&mut self, count: usize) -> Option<usize> {
        let block = Self::block(count)?;
        self.ranges[..self.len]
            .iter_mut()
            .find_map(|range| range.alloc(block))
            .map(|p| p.as_ptr() as usize)
    }

    /// Returns the block [`PageAllocator::alloc`] gave out at `addr` for
    /// `count` pages. An address in no range is ignored.
    pub fn dealloc(&mut self, addr: usize, count: usize) {
        let (Some(p), Some(block)) = (NonNull::new(addr as *mut u8), Self::block(count)) else {
            return;
        };
        if let Some(i) = self.bounds[..self.len]
            .iter()
            .position(|r| r.contains(addr as u64))
        {
            self.ranges[i].dealloc(p, block);
        }
    }
}

impl<const RANGES: usize> Default for PageAllocator<RANGES> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A leaked host buffer of `size` bytes aligned to `align`, as a range.
    fn ram(size: usize, align: usize) -> Range {
        let buf = std::boxed::Box::leak(std::vec![0u8; size + align].into_boxed_slice());
        let start = (buf.as_ptr() as usize).next_multiple_of(align);
        Range::from_size(start as u64, size as u64)
    }

    /// An allocator over a 256 KiB range and a 1 MiB one, each aligned to
    /// its size; and the two ranges.
    fn two_ranges() -> (PageAllocator<4>, Range, Range) {
        let (a, b) = (ram(256 << 10, 256 << 10), ram(1 << 20, 1 << 20));
        let mut p = PageAllocator::new();
        // SAFETY: both buffers are leaked: nothing else ever uses them.
        unsafe {
            assert_eq!(p.add(a), 64);
            assert_eq!(p.add(b), 256);
        }
        (p, a, b)
    }

    #[test]
    fn pages_come_from_the_first_range_until_it_is_full_then_the_next() {
        let (mut p, a, b) = two_ranges();
        let held: Vec<usize> = (0..64).map(|_| p.alloc(1).unwrap()).collect();
        assert!(held.iter().all(|&x| a.contains(x as u64)));
        let next = p.alloc(1).unwrap();
        assert!(b.contains(next as u64));
        p.dealloc(next, 1);
        for x in held {
            p.dealloc(x, 1);
        }
    }

    #[test]
    fn blocks_are_naturally_aligned_inside_a_range_and_never_overlap() {
        let (mut p, a, b) = two_ranges();
        let mut held = Vec::new();
        for count in [1, 3, 4, 7, 16, 2, 32, 5, 1, 64, 9] {
            let addr = p.alloc(count).unwrap();
            let bytes = count.next_power_of_two() * PAGE_SIZE;
            assert_eq!(addr % bytes, 0, "{count} pages at {addr:#x}");
            let r = Range::from_size(addr as u64, bytes as u64);
            let inside = |o: Range| o.start <= r.start && r.end <= o.end;
            assert!(inside(a) || inside(b), "{r:?}");
            assert!(held
                .iter()
                .all(|(h, _): &(Range, usize)| h.end <= r.start || r.end <= h.start));
            held.push((r, count));
        }
        for (r, count) in held {
            p.dealloc(r.start as usize, count);
        }
    }

    #[test]
    fn every_page_freed_merges_back_in_its_own_range() {
        let (mut p, a, b) = two_ranges();
        let mut held = Vec::new();
        while let Some(x) = p.alloc(1) {
            held.push(x);
        }
        assert_eq!(held.len(), 64 + 256);
        // Freed in an order that leaves no two neighbours free in a row.
        held.sort_by_key(|&x| (x / PAGE_SIZE) % 2);
        for x in held {
            p.dealloc(x, 1);
        }
        // Each range is one block again.
        assert_eq!(p.alloc(256), Some(b.start as usize));
        assert_eq!(p.alloc(64), Some(a.start as usize));
        assert_eq!(p.alloc(1), None);
    }

    #[test]
    fn partial_pages_and_ranges_beyond_the_last_slot_are_not_taken() {
        let r = ram(3 * PAGE_SIZE, PAGE_SIZE);
        let mut p = PageAllocator::<2>::new();
        // SAFETY: leaked buffers, used by nothing else.
        unsafe {
            assert_eq!(p.add(Range::new(r.start + 1, r.end - 1)), 1);
            assert_eq!(p.add(Range::new(r.start, r.start + 100)), 0);
            assert_eq!(p.add(ram(PAGE_SIZE, PAGE_SIZE)), 1);
            assert_eq!(p.add(ram(PAGE_SIZE, PAGE_SIZE)), 0);
        }
        assert!(p.alloc(1).is_some());
        assert!(p.alloc(1).is_some());
        assert_eq!(p.alloc(1), None);
    }

    #[test]
    fn a_request_too_large_fails_without_panicking() {
        let (mut p, _, _) = two_ranges();
        assert_eq!(p.alloc(512), None);
        assert_eq!(p.alloc(usize::MAX), None);
        assert_eq!(p.alloc(usize::MAX / PAGE_SIZE), None);
        // A block of a size nobody allocated, at an address in no range.
        p.dealloc(PAGE_SIZE, 1);
        p.dealloc(0, usize::MAX);
    }
}
