//! A buddy heap given its reserved range a piece at a time, as allocations
//! need it.
//!
//! The buddy allocator (`buddy_system_allocator::Heap`) writes a free-list
//! node into every block it is given, so handing it a whole 64 MiB range at
//! boot writes into some twenty blocks spread over the range. Each first write
//! to a page of guest RAM costs the host a page fault; under QEMU on a host
//! with transparent huge pages that is zeroing 2 MiB, sometimes after
//! compacting memory (measured: 2-25 ms of a boot). [`GrowingHeap`] keeps the
//! range but adds it in pieces that double: the first is small, each later one
//! at least as large as everything added so far, so the number of pieces stays
//! logarithmic, and an allocation the whole range could satisfy still
//! succeeds once every piece is in (`alloc` grows until it fits or the range
//! is used up).
//!
//! `init` writes nothing: the first piece is added by the first allocation,
//! so a range nobody allocates from (the page allocator's later ranges while
//! the first has room) is never touched. At boot that is two host huge pages
//! fewer under QEMU (the page ranges after the kernel image and after the
//! heap: `bench --boot-only`).
//!
//! Invariant: `[next, end)` has never been given to the buddy allocator, and
//! `next` only moves up.

use buddy_system_allocator::Heap;
use core::alloc::Layout;
use core::ptr::NonNull;

/// The first piece, and the smallest one added.
pub const FIRST_PIECE: usize = 256 << 10;

pub struct GrowingHeap<const ORDER: usize> {
    heap: Heap<ORDER>,
    next: usize,
    end: usize,
    added: usize,
    granule: usize,
}

impl<const ORDER: usize> GrowingHeap<ORDER> {
    /// An empty heap with no range. All zeros (`init` sets the granule), so
    /// a static one lies in `.bss`, not in the kernel image.
    pub const fn new() -> Self {
        Self {
            heap: Heap::new(),
            next: 0,
            end: 0,
            added: 0,
            granule: 0,
        }
    }

    /// Reserves `[start, end)` for the heap without writing to it: the
    /// first allocation adds the first piece.
    ///
    /// # Safety
    /// The range must be memory this heap may use for good (mapped
    /// read-write, used by nothing else), and `init` must be called once.
    pub unsafe fn init(&mut self, start: usize, end: usize, granule: usize) {
        self.next = start;
        self.end = end;
        self.granule = granule.max(1);
    }

    /// Gives the buddy allocator its next piece: at least `need` bytes and at
    /// least as much as it already has, rounded up to the granule. False
    /// when the range is used up.
    fn grow(&mut self, need: usize) -> bool {
        if self.next >= self.end {
            return false;
        }
        let want = need
            .max(self.added)
            .max(FIRST_PIECE)
            .next_multiple_of(self.granule);
        let piece_end = self.next.saturating_add(want).min(self.end);
        // SAFETY: `[next, piece_end)` lies in the range `init`'s caller gave for good and was never added (the module invariant); `next` moves past it below.
        unsafe { self.heap.add_to_heap(self.next, piece_end) };
        self.added += piece_end - self.next;
        self.next = piece_end;
        true
    }

    /// Allocates, growing the heap until the block fits or the range is
    /// used up.
    pub fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        loop {
            if let Ok(p) = self.heap.alloc(layout) {
                return Some(p);
            }
            // A block of `size` aligned to `align` fits in any piece of twice
            // the larger of the two.
            if !self.grow(layout.size().max(layout.align()).saturating_mul(2)) {
                return None;
            }
        }
    }

    /// Frees a block `alloc` returned with the same layout.
    pub fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.heap.dealloc(ptr, layout);
    }

    /// Bytes the callers asked for and hold now.
    pub fn used(&self) -> usize {
        self.heap.stats_alloc_user()
    }

    /// Bytes held, with the buddy allocator's rounding.
    pub fn used_actual(&self) -> usize {
        self.heap.stats_alloc_actual()
    }

    /// Bytes of the range given to the buddy allocator so far.
    pub fn added(&self) -> usize {
        self.added
    }
}

impl<const ORDER: usize> Default for GrowingHeap<ORDER> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A heap over a leaked host buffer of `size` bytes (a power of two),
    /// aligned to its size as a buddy allocator's best case.
    fn heap(size: usize) -> GrowingHeap<32> {
        let buf = std::boxed::Box::leak(std::vec![0u8; 2 * size].into_boxed_slice());
        let start = (buf.as_ptr() as usize).next_multiple_of(size);
        let mut h = GrowingHeap::new();
        // SAFETY: the buffer is leaked: nothing else ever uses it.
        unsafe { h.init(start, start + size, 4096) };
        h
    }

    #[test]
    fn starts_with_one_small_piece_and_grows_by_doubling() {
        let mut h = heap(64 << 20);
        assert_eq!(h.added(), 0, "init writes nothing");
        let small = Layout::from_size_align(64, 8).unwrap();
        let mut held = Vec::new();
        for _ in 0..1000 {
            held.push(h.alloc(small).unwrap());
            assert_eq!(
                h.added(),
                FIRST_PIECE,
                "the first allocation adds one piece"
            );
        }
        assert_eq!(
            h.added(),
            FIRST_PIECE,
            "64 KiB of small blocks fit in the first piece"
        );
        let big = Layout::from_size_align(1 << 20, 8).unwrap();
        let p = h.alloc(big).unwrap();
        assert!(
            h.added() <= 4 * (1 << 20) + FIRST_PIECE,
            "added {}",
            h.added()
        );
        h.dealloc(p, big);
        for p in held {
            h.dealloc(p, small);
        }
        assert_eq!(h.used(), 0);
    }

    #[test]
    fn a_block_of_half_the_range_fits_in_a_fresh_heap() {
        let size = 16 << 20;
        let mut h = heap(size);
        let half = Layout::from_size_align(size / 2, 4096).unwrap();
        assert!(h.alloc(half).is_some());
        assert_eq!(h.added(), size);
    }

    #[test]
    fn exhausting_the_range_fails_cleanly_and_frees_back() {
        let size = 2 << 20;
        let mut h = heap(size);
        let l = Layout::from_size_align(4096, 4096).unwrap();
        let mut held = Vec::new();
        while let Some(p) = h.alloc(l) {
            held.push(p);
        }
        assert_eq!(h.added(), size);
        assert_eq!(held.len(), size / 4096);
        for p in held {
            h.dealloc(p, l);
        }
        assert_eq!(h.used(), 0);
        assert!(h
            .alloc(Layout::from_size_align(size / 2, 4096).unwrap())
            .is_some());
    }
}
