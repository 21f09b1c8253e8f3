//! Insertion sort, for the kernel's few short lists sorted once (the export
//! table, 33 entries, on first use; the block devices at boot).
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

#[cfg(test)]
mod tests {
    use super::insertion_sort_by;

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
