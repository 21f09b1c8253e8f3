//! A map kept as one vector sorted by key: the kernel's tables (objects by id,
//! interrupt handlers by INTID, timers by id, module exports by name) hold
//! tens to hundreds of entries, looked up far more often than changed.
//!
//! `BTreeMap` is about 3.5 KB of code for each key and value type it is used
//! with (node splitting, merging and stealing on removal); this is a binary
//! search and a `Vec` insert or remove, and a lookup walks one contiguous
//! array instead of a chain of nodes. Iteration is in key order, as with
//! `BTreeMap`. Insertion and removal move the entries after the place, which
//! for tables of this size is a short `memmove`.
//!
//! The capacity is a function of the length alone (the next power of two, at
//! least 4; nothing allocated when empty): a table that grows during a
//! stress run and shrinks back to its old length holds exactly the heap it
//! held before, so the kernel's heap checks (`modstress`, `smpstress`: the
//! heap in use before and after, difference 0) still see any real leak.

use alloc::vec::Vec;
use core::borrow::Borrow;

/// A sorted-vector map (see the module documentation).
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K: Ord, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    /// The capacity for `len` entries.
    fn capacity_for(len: usize) -> usize {
        if len == 0 {
            0
        } else {
            len.next_power_of_two().max(4)
        }
    }

    /// Gives back what the capacity rule does not allow after a removal.
    fn fit(&mut self) {
        let want = Self::capacity_for(self.entries.len());
        if self.entries.capacity() > want {
            self.entries.shrink_to(want);
        }
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts `value` at `key`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                let len = self.entries.len();
                if len == self.entries.capacity() {
                    self.entries
                        .reserve_exact(Self::capacity_for(len + 1) - len);
                }
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        match self.find(key) {
            Ok(i) => {
                let (_, v) = self.entries.remove(i);
                self.fit();
                Some(v)
            }
            Err(_) => None,
        }
    }

    /// Keeps the entries for which `keep` says true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
        self.fit();
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The values in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use alloc::collections::BTreeMap;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    /// A random sequence of inserts, replacements, removals and retains
    /// leaves the same map as `BTreeMap` after every step, and iterates in
    /// the same order.
    #[test]
    fn behaves_as_btreemap() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ours = VecMap::new();
        let mut theirs = BTreeMap::new();
        for step in 0..4000 {
            let r = next();
            let k = (r % 97) as u32;
            match r % 10 {
                0..=4 => assert_eq!(ours.insert(k, step), theirs.insert(k, step)),
                5..=7 => assert_eq!(ours.remove(&k), theirs.remove(&k)),
                8 => {
                    ours.retain(|k, v| !(*k as u64 + *v as u64).is_multiple_of(5));
                    theirs.retain(|k, v| !(*k as u64 + *v as u64).is_multiple_of(5));
                }
                _ => {
                    if let Some(v) = ours.get_mut(&k) {
                        *v += 1;
                    }
                    if let Some(v) = theirs.get_mut(&k) {
                        *v += 1;
                    }
                }
            }
            assert_eq!(ours.get(&k), theirs.get(&k));
            assert_eq!(ours.contains_key(&k), theirs.contains_key(&k));
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(
                ours.entries.capacity(),
                VecMap::<u32, i32>::capacity_for(ours.len()),
                "the capacity follows the length"
            );
        }
        let a: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
        let b: Vec<_> = theirs.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(a, b);
        assert!(ours.values().copied().eq(theirs.values().copied()));
    }

    /// String keys are looked up and removed by `&str`.
    #[test]
    fn string_keys_by_str() {
        let mut m: VecMap<String, u32> = VecMap::new();
        assert!(m.is_empty());
        for (i, name) in ["hello_add", "virtio_register", "blk_read"]
            .iter()
            .enumerate()
        {
            m.insert(name.to_string(), i as u32);
        }
        assert_eq!(m.get("virtio_register"), Some(&1));
        assert_eq!(m.get("nope"), None);
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["blk_read", "hello_add", "virtio_register"]);
        assert_eq!(m.remove("hello_add"), Some(0));
        for (_, v) in m.iter_mut() {
            *v += 10;
        }
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [12, 11]);
    }
}
