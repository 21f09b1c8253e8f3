//! Memory waiting for a TLB flush on every CPU before it may be reused.
//!
//! Unmapping kernel virtual memory (a module image) leaves stale TLB entries
//! on the CPUs that used it. A broadcast `tlbi ... is` removes them at once,
//! but it is synchronous across CPUs (under QEMU's TCG it stops every vCPU),
//! so the kernel instead numbers each unmap with a TLB generation and lets
//! every CPU invalidate its own TLB when it next notices a newer generation
//! (an IPI, its tick, its idle loop). Memory unmapped at generation `g` may be
//! reused once every CPU has flushed at generation `g` or later: until then
//! it sits here. Linux keeps unmapped vmalloc ranges the same way until a
//! lazy purge (`mm/vmalloc.c`, `lazy_max_pages`).
//!
//! This is the bookkeeping alone: a fixed number of slots (no allocation, so
//! retiring memory never needs memory) holding items with the generation
//! they wait for.

/// Up to `N` items, each waiting for a TLB generation.
pub struct Pending<T, const N: usize> {
    slots: [Option<(T, u64)>; N],
    /// Slots in use: an empty list (the usual case) answers without a scan.
    used: usize,
}

impl<T, const N: usize> Default for Pending<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Pending<T, N> {
    pub const fn new() -> Self {
        Pending {
            slots: [const { None }; N],
            used: 0,
        }
    }

    /// Keeps `item` until every CPU has flushed at generation `gen`; gives it
    /// back when every slot is taken (the caller waits for the oldest first).
    pub fn push(&mut self, item: T, gen: u64) -> Result<(), T> {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some((item, gen));
                self.used += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Takes one item whose generation every CPU has reached (`flushed`: the
    /// oldest generation some CPU has flushed at).
    pub fn take_ready(&mut self, flushed: u64) -> Option<T> {
        if self.used == 0 {
            return None;
        }
        let slot = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some((_, g)) if *g <= flushed))?;
        self.used -= 1;
        slot.take().map(|(item, _)| item)
    }

    /// The newest generation any item waits for (None: nothing waits).
    pub fn newest(&self) -> Option<u64> {
        self.slots.iter().flatten().map(|&(_, g)| g).max()
    }

    /// Calls `f` on each item waiting.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        self.slots.iter().flatten().for_each(|(item, _)| f(item));
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The oldest generation every tracked CPU has flushed at: `seen[n]` for each
/// `n` with `tracked(n)`, or `current` when no CPU is tracked.
pub fn flushed_everywhere(current: u64, seen: impl Iterator<Item = (bool, u64)>) -> u64 {
    seen.filter(|&(tracked, _)| tracked)
        .map(|(_, g)| g)
        .min()
        .unwrap_or(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_wait_for_their_generation() {
        let mut p: Pending<&str, 4> = Pending::new();
        p.push("a", 1).unwrap();
        p.push("b", 3).unwrap();
        assert_eq!(p.newest(), Some(3));
        assert_eq!(p.take_ready(0), None);
        assert_eq!(p.take_ready(2), Some("a"));
        assert_eq!(p.take_ready(2), None);
        assert_eq!(p.len(), 1);
        assert_eq!(p.take_ready(3), Some("b"));
        assert!(p.is_empty());
        assert_eq!(p.newest(), None);
    }

    #[test]
    fn a_full_list_gives_the_item_back() {
        let mut p: Pending<u32, 2> = Pending::new();
        p.push(1, 1).unwrap();
        p.push(2, 2).unwrap();
        assert_eq!(p.push(3, 3), Err(3));
        assert_eq!(p.take_ready(5), Some(1));
        p.push(3, 3).unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn the_slowest_tracked_cpu_decides() {
        let seen = [(true, 5), (false, 0), (true, 3), (true, 9)];
        assert_eq!(flushed_everywhere(9, seen.into_iter()), 3);
        assert_eq!(flushed_everywhere(9, [(false, 1)].into_iter()), 9);
    }
}
