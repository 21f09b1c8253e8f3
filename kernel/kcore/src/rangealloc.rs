//! A first-fit allocator of address ranges that needs no heap.
//!
//! Used for the module area's virtual addresses: a fixed array of free ranges,
//! kept sorted and merged, so allocating and freeing never touch the kernel heap
//! (a module load that fails, or a load/unload cycle, leaves the heap exactly as
//! it was) and fragmentation is visible as the number of free ranges. Allocation
//! takes the highest fitting address, which keeps modules as close as possible
//! to a kernel that sits just above the range.

use crate::memrange::Range;

/// Free ranges, at most `N` (more fragmentation than that fails allocations).
#[derive(Debug, Clone)]
pub struct RangeAllocator<const N: usize> {
    free: [Range; N],
    len: usize,
}

impl<const N: usize> RangeAllocator<N> {
    /// All of `range` free.
    pub const fn new(range: Range) -> Self {
        let mut free = [Range::new(0, 0); N];
        free[0] = range;
        Self { free, len: 1 }
    }

    /// Allocates `size` bytes aligned to `align` (a power of two), from the top.
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        for i in (0..self.len).rev() {
            let r = self.free[i];
            let Some(start) = r.end.checked_sub(size).map(|s| s & !(align - 1)) else {
                continue;
            };
            if start < r.start {
                continue;
            }
            let end = start + size;
            // Split: [r.start, start) stays free, [end, r.end) too.
            let below = Range::new(r.start, start);
            let above = Range::new(end, r.end);
            match (below.is_empty(), above.is_empty()) {
                (true, true) => self.remove(i),
                (false, true) => self.free[i] = below,
                (true, false) => self.free[i] = above,
                (false, false) => {
                    if self.len == N {
                        continue;
                    }
                    self.free[i] = below;
                    self.insert(i + 1, above);
                }
            }
            return Some(start);
        }
        None
    }

    /// Returns `[start, start+size)`. Freeing something not allocated is a bug
    /// the allocator detects (overlap) and refuses, returning false.
    pub fn free(&mut self, start: u64, size: u64) -> bool {
        let r = Range::from_size(start, size);
        let i = self.free[..self.len].partition_point(|f| f.start < r.start);
        let overlaps_prev = i > 0 && self.free[i - 1].end > r.start;
        let overlaps_next = i < self.len && self.free[i].start < r.end;
        if r.is_empty() || overlaps_prev || overlaps_next {
            return false;
        }
        let merge_prev = i > 0 && self.free[i - 1].end == r.start;
        let merge_next = i < self.len && self.free[i].start == r.end;
        match (merge_prev, merge_next) {
            (true, true) => {
                self.free[i - 1].end = self.free[i].end;
                self.remove(i);
            }
            (true, false) => self.free[i - 1].end = r.end,
            (false, true) => self.free[i].start = r.start,
            (false, false) => {
                if self.len == N {
                    return false;
                }
                self.insert(i, r);
            }
        }
        true
    }

    fn remove(&mut self, i: usize) {
        self.free.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    fn insert(&mut self, i: usize, r: Range) {
        self.free.copy_within(i..self.len, i + 1);
        self.free[i] = r;
        self.len += 1;
    }

    /// Total free bytes and number of free ranges.
    pub fn stats(&self) -> (u64, usize) {
        (
            self.free[..self.len].iter().map(Range::size).sum(),
            self.len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x3c00_0000;
    const END: u64 = 0x4000_0000;

    #[test]
    fn allocates_from_the_top_and_merges_back() {
        let mut a = RangeAllocator::<8>::new(Range::new(BASE, END));
        let x = a.alloc(0x6000, 0x1000).unwrap();
        assert_eq!(x, END - 0x6000);
        let y = a.alloc(0x3000, 0x1000).unwrap();
        assert_eq!(y, END - 0x9000);
        assert!(a.free(x, 0x6000));
        assert_eq!(a.stats().1, 2, "hole above y");
        assert!(a.free(y, 0x3000));
        assert_eq!(a.stats(), (END - BASE, 1));
    }

    #[test]
    fn refuses_double_free_and_exhaustion() {
        let mut a = RangeAllocator::<4>::new(Range::new(0, 0x4000));
        let x = a.alloc(0x4000, 0x1000).unwrap();
        assert_eq!(a.alloc(0x1000, 0x1000), None);
        assert!(a.free(x, 0x4000));
        assert!(!a.free(x, 0x1000), "double free detected");
        assert_eq!(a.alloc(0x8000, 0x1000), None);
        assert_eq!(a.alloc(0, 0x1000), None);
    }

    #[test]
    fn alignment_and_fragmentation_limit() {
        let mut a = RangeAllocator::<2>::new(Range::new(0x1000, 0x10000));
        assert_eq!(a.alloc(0x1000, 0x4000), Some(0xc000));
        // A second split would need a third free range: refused, not corrupted.
        let mut b = RangeAllocator::<1>::new(Range::new(0, 0x10000));
        assert_eq!(b.alloc(0x1000, 0x8000), None);
        assert_eq!(b.stats(), (0x10000, 1));
    }
}
