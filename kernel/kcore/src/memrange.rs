//! Physical address ranges: RAM minus what is already in use (kernel image, DTB,
//! initrd, `/memreserve/`), cut to whole pages, for the page allocator and heap.
//!
//! Everything here is arithmetic on `[start, end)` pairs with no allocation: the
//! caller passes fixed-size arrays, so it can run before the heap exists.

/// A half-open physical range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// A range from a base and a size, saturating at the top of the address space.
    pub const fn from_size(start: u64, size: u64) -> Self {
        Self {
            start,
            end: start.saturating_add(size),
        }
    }

    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Shrinks the range inwards to `align` boundaries (`align` a power of two).
    pub fn align_inward(&self, align: u64) -> Self {
        let mask = align - 1;
        let start = self.start.saturating_add(mask) & !mask;
        let end = self.end & !mask;
        if end <= start {
            Self::default()
        } else {
            Self { start, end }
        }
    }
}

/// Fixed-capacity list of ranges.
#[derive(Debug, Clone)]
pub struct RangeSet<const N: usize> {
    items: [Range; N],
    len: usize,
    /// Set when a range had to be dropped for lack of room.
    pub overflowed: bool,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RangeSet<N> {
    pub const fn new() -> Self {
        Self {
            items: [Range::new(0, 0); N],
            len: 0,
            overflowed: false,
        }
    }

    pub fn as_slice(&self) -> &[Range] {
        &self.items[..self.len]
    }

    pub fn push(&mut self, r: Range) {
        push_range(&mut self.items, &mut self.len, &mut self.overflowed, r);
    }

    /// Removes `hole` from every range, splitting where needed.
    pub fn subtract(&mut self, hole: Range) {
        if hole.is_empty() {
            return;
        }
        let old = core::mem::take(self);
        self.overflowed = old.overflowed;
        subtract_into(
            old.as_slice(),
            hole,
            &mut self.items,
            &mut self.len,
            &mut self.overflowed,
        );
    }

    /// Sorts the ranges and merges overlapping or touching ones.
    pub fn coalesce(&mut self) {
        self.len = coalesce_slice(&mut self.items[..self.len]);
    }

    pub fn total(&self) -> u64 {
        total_size(self.as_slice())
    }
}

// The work of each `RangeSet` method, in one copy for every capacity: boot
// uses four, and under QEMU's TCG each monomorphised copy of the same loop
// is translated again (see `dtwalk`'s note on TCG).

#[inline(never)]
fn push_range(items: &mut [Range], len: &mut usize, overflowed: &mut bool, r: Range) {
    if r.is_empty() {
        return;
    }
    match items.get_mut(*len) {
        Some(slot) => {
            *slot = r;
            *len += 1;
        }
        None => *overflowed = true,
    }
}

#[inline(never)]
fn subtract_into(
    old: &[Range],
    hole: Range,
    items: &mut [Range],
    len: &mut usize,
    overflowed: &mut bool,
) {
    for r in old {
        if hole.end <= r.start || r.end <= hole.start {
            push_range(items, len, overflowed, *r);
            continue;
        }
        push_range(
            items,
            len,
            overflowed,
            Range::new(r.start, hole.start.max(r.start)),
        );
        push_range(
            items,
            len,
            overflowed,
            Range::new(hole.end.min(r.end), r.end),
        );
    }
}

/// Sorts and merges `items`; the number of ranges left at its front.
#[inline(never)]
fn coalesce_slice(items: &mut [Range]) -> usize {
    // Insertion sort: a set holds a few dozen ranges at most, and at boot
    // (the device ranges) the library sort's ~600 instructions of code
    // cost more to translate under QEMU than sorting costs to run.
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j - 1].start > items[j].start {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut out = 0;
    for i in 0..items.len() {
        if out > 0 && items[i].start <= items[out - 1].end {
            items[out - 1].end = items[out - 1].end.max(items[i].end);
        } else {
            items[out] = items[i];
            out += 1;
        }
    }
    out
}

#[inline(never)]
fn total_size(items: &[Range]) -> u64 {
    items.iter().map(Range::size).sum()
}

/// RAM minus every reserved range, each piece shrunk to whole `page`s.
pub fn free_ranges<const N: usize>(ram: &[Range], reserved: &[Range], page: u64) -> RangeSet<N> {
    let mut set = RangeSet::<N>::new();
    for r in ram {
        set.push(*r);
    }
    for hole in reserved {
        // Reserve whole pages: widen the hole outwards.
        let mask = page - 1;
        let widened = Range::new(hole.start & !mask, hole.end.saturating_add(mask) & !mask);
        set.subtract(widened);
    }
    let mut out = RangeSet::<N>::new();
    out.overflowed = set.overflowed;
    for r in set.as_slice() {
        out.push(r.align_inward(page));
    }
    out
}

/// Under QEMU the host backs guest RAM with 2 MiB transparent huge pages:
/// the first write to each 2 MiB of it costs the host a fault and 2 MiB of
/// zeroing (about 4 ms a region on the project's host, measured with `bench
/// --boot-only`). The boot loader has already written the regions holding
/// the kernel image, the DTB and the initrd.
pub const HOST_HUGE_PAGE: u64 = 2 << 20;

/// Where the heap's `size` bytes go: the free range (of those that hold
/// them) with the most room before its next [`HOST_HUGE_PAGE`] boundary,
/// the largest on a tie. A range that does not start on a boundary starts
/// right after something already in RAM (the image, the DTB, the initrd),
/// whose huge page the loader's writes have faulted in, so the heap's first
/// pieces ([`crate::growheap`]) land there instead of in a fresh one. None
/// when no range holds `size`.
pub fn heap_home(free: &[Range], size: u64) -> Option<Range> {
    let warm = |r: &Range| {
        let boundary = r.start.next_multiple_of(HOST_HUGE_PAGE);
        boundary.min(r.end) - r.start
    };
    free.iter()
        .filter(|r| r.size() >= size)
        .max_by_key(|r| (warm(r), r.size()))
        .map(|r| Range::from_size(r.start, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_starts_in_the_huge_page_the_loader_wrote() {
        // QEMU virt, 256 MiB, no initrd: image to 0x401f_8000, DTB at
        // 0x4800_0000 (1 MiB). Both big ranges start after a reservation;
        // the one after the DTB has 1 MiB before its boundary, the one after
        // the image 32 KiB.
        let free = [
            Range::new(0x4000_0000, 0x4008_0000),
            Range::new(0x401f_8000, 0x4800_0000),
            Range::new(0x4810_0000, 0x5000_0000),
        ];
        let size = 63 << 20;
        assert_eq!(
            heap_home(&free, size),
            Some(Range::from_size(0x4810_0000, size))
        );
        // With an initrd at 0x4800_0000 and the DTB at 0x4820_0000: the
        // range between them is too small, the one after the DTB is taken
        // although the one after the image is larger.
        let free = [
            Range::new(0x4000_0000, 0x4008_0000),
            Range::new(0x401f_8000, 0x4800_0000),
            Range::new(0x4806_8000, 0x4820_0000),
            Range::new(0x4830_0000, 0x5000_0000),
        ];
        assert_eq!(
            heap_home(&free, size),
            Some(Range::from_size(0x4830_0000, size))
        );
        // Every range aligned: the largest; nothing big enough: None.
        let free = [
            Range::new(0x4000_0000, 0x4100_0000),
            Range::new(0x4200_0000, 0x4600_0000),
        ];
        assert_eq!(
            heap_home(&free, 32 << 20),
            Some(Range::from_size(0x4200_0000, 32 << 20))
        );
        assert_eq!(heap_home(&free, 128 << 20), None);
    }

    #[test]
    fn subtracts_kernel_dtb_and_initrd() {
        let ram = [Range::from_size(0x4000_0000, 256 << 20)];
        let reserved = [
            Range::new(0x4008_0000, 0x4012_3456),     // kernel
            Range::from_size(0x4800_0000, 0x10_0000), // dtb
            Range::new(0x4900_0100, 0x4900_0200),     // initrd, unaligned
        ];
        let free = free_ranges::<8>(&ram, &reserved, 4096);
        assert_eq!(
            free.as_slice(),
            [
                Range::new(0x4000_0000, 0x4008_0000),
                Range::new(0x4012_4000, 0x4800_0000),
                Range::new(0x4810_0000, 0x4900_0000),
                Range::new(0x4900_1000, 0x5000_0000),
            ]
        );
        assert!(!free.overflowed);
    }

    #[test]
    fn hole_covering_everything_leaves_nothing_and_overflow_is_reported() {
        let ram = [Range::new(0x1000, 0x3000)];
        let free = free_ranges::<4>(&ram, &[Range::new(0, 0x10000)], 4096);
        assert_eq!(free.total(), 0);
        let mut s = RangeSet::<1>::new();
        s.push(Range::new(0, 10));
        s.push(Range::new(20, 30));
        assert!(s.overflowed);
    }

    #[test]
    fn coalesce_merges_overlapping_and_touching() {
        let mut s = RangeSet::<8>::new();
        s.push(Range::new(0x3000, 0x4000));
        s.push(Range::new(0x1000, 0x2000));
        s.push(Range::new(0x2000, 0x2800));
        s.push(Range::new(0x3800, 0x5000));
        s.coalesce();
        assert_eq!(
            s.as_slice(),
            [Range::new(0x1000, 0x2800), Range::new(0x3000, 0x5000)]
        );
    }

    #[test]
    fn align_inward_and_saturation() {
        assert_eq!(Range::new(1, 4095).align_inward(4096), Range::default());
        assert_eq!(Range::from_size(u64::MAX - 1, 10).end, u64::MAX);
    }
}
