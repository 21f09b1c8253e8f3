//! Insertion sort, for the kernel's few short lists sorted once (the export
//! table, 33 entries, on first use; the block devices at boot), and
//! heapsort for the long ones (`modstress`'s per-cycle timings).
//!
//! `core`'s `sort_unstable` is about 5 KiB of code for each element type it
//! sorts (quicksort, heapsort fallback, sorting networks); this is a loop of
//! a few dozen instructions, and for a list of tens of entries sorted once it
//! costs no more than a handful of extra comparisons.

use core::cmp::Ordering;

/// Sorts `v` by `compare`, stably (equal elements keep their order).
pub fn insertion_sort_by<T>(v: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && compare(&v[j - 1], &v[j]) == Ordering::Greater {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sorts `v` by `key`, not stably, in O(n log n) with no allocation: a
/// heapsort, a loop of a few dozen instructions, for lists too long for
/// [`insertion_sort_by`].
pub fn heap_sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    // Moves `v[root]` down the max-heap `v[..end]` to its place.
    let sift = |v: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && key(&v[child]) < key(&v[child + 1]) {
            child += 1;
        }
        if key(&v[root]) >= key(&v[child]) {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::{heap_sort_by_key, insertion_sort_by};

    #[test]
    fn heapsort_sorts_like_the_standard_sort() {
        // A linear congruential sequence with repeats, and the edge cases.
        let mut x = 12345u64;
        for len in [0usize, 1, 2, 3, 7, 64, 1000] {
            let mut v: alloc::vec::Vec<(u64, u64)> = (0..len)
                .map(|i| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 58), i as u64)
                })
                .collect();
            let mut want: alloc::vec::Vec<u64> = v.iter().map(|p| p.0).collect();
            want.sort_unstable();
            heap_sort_by_key(&mut v, |p| p.0);
            assert_eq!(
                v.iter().map(|p| p.0).collect::<alloc::vec::Vec<_>>(),
                want,
                "len {len}"
            );
        }
        let mut sorted = [1, 2, 3, 4, 5];
        heap_sort_by_key(&mut sorted, |&k| core::cmp::Reverse(k));
        assert_eq!(sorted, [5, 4, 3, 2, 1]);
    }

    #[test]
    fn sorts_and_keeps_equal_keys_in_order() {
        let mut v = [(3, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e'), (3, 'f')];
        insertion_sort_by(&mut v, |a, b| a.0.cmp(&b.0));
        assert_eq!(
            v,
            [(0, 'e'), (1, 'b'), (1, 'd'), (2, 'c'), (3, 'a'), (3, 'f')]
        );
        let mut names = ["vdb", "vda", "vdc"];
        insertion_sort_by(&mut names, |a, b| a.cmp(b));
        assert_eq!(names, ["vda", "vdb", "vdc"]);
        let mut empty: [u8; 0] = [];
        insertion_sort_by(&mut empty, |a, b| a.cmp(b));
    }
}
