//! Reference counts for modules and the objects they provide: the rules of
//! unload safety as lock-free state machines, independent of the kernel.
//!
//! [`ModuleRef`] packs a module's state and count in one atomic word, so that
//! "take a reference only while LIVE" ([`ModuleRef::try_get`]) and "start
//! unloading only at count zero" ([`ModuleRef::try_begin_unload`]) are each one
//! compare-and-swap: no window in which a reference can be taken on a module
//! that is going, on any number of CPUs (Linux gets the same effect with
//! `MODULE_REF_BASE` and `try_stop_module`).
//!
//! [`ObjectCount`] counts users of one object (a device, an open handle's
//! target). Its 0 -> 1 transition takes one module reference and its 1 -> 0
//! transition releases it, so a module's count is exactly the number of its
//! objects in use plus its dependent modules. An unregistered object refuses new
//! references.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Lifecycle of a module (Linux's `MODULE_STATE_*`, plus `Failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Loaded, init running.
    Coming = 0,
    /// Init succeeded; references may be taken.
    Live = 1,
    /// Unload in progress: exit running or about to.
    Going = 2,
    /// Init or exit faulted, or exit left objects behind: kept loaded, never
    /// used again, never freed while anything may point into it.
    Failed = 3,
}

impl State {
    fn from_bits(b: u64) -> State {
        match b {
            0 => State::Coming,
            1 => State::Live,
            2 => State::Going,
            _ => State::Failed,
        }
    }
}

const COUNT_MASK: u64 = 0xffff_ffff;
const STATE_SHIFT: u32 = 32;

fn pack(state: State, count: u32) -> u64 {
    ((state as u64) << STATE_SHIFT) | count as u64
}

/// A module's state and reference count.
#[derive(Debug)]
pub struct ModuleRef(AtomicU64);

impl Default for ModuleRef {
    fn default() -> Self {
        Self::new()
    }
}

impl ModuleRef {
    /// A module being loaded: COMING, no references.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub fn state(&self) -> State {
        State::from_bits(self.0.load(Ordering::Acquire) >> STATE_SHIFT)
    }

    pub fn count(&self) -> u32 {
        (self.0.load(Ordering::Acquire) & COUNT_MASK) as u32
    }

    /// `try_module_get`: takes a reference if the module is LIVE.
    pub fn try_get(&self) -> bool {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if State::from_bits(cur >> STATE_SHIFT) != State::Live || cur & COUNT_MASK == COUNT_MASK
            {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// `module_put`: drops a reference taken with [`try_get`](Self::try_get).
    ///
    /// One atomic subtraction: the caller holds a reference, so the count is at
    /// least 1 and the subtraction cannot borrow from the state bits. A put
    /// without a get (a bug in the caller) is detected afterwards, undone, and
    /// reported as `false`.
    pub fn put(&self) -> bool {
        let prev = self.0.fetch_sub(1, Ordering::AcqRel);
        if prev & COUNT_MASK == 0 {
            self.0.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// COMING -> LIVE after a successful init.
    pub fn set_live(&self) -> bool {
        self.transition(State::Coming, State::Live)
    }

    /// LIVE with count 0 -> GOING. Fails (returning the count) otherwise.
    pub fn try_begin_unload(&self) -> Result<(), u32> {
        let cur = self.0.load(Ordering::Acquire);
        let count = (cur & COUNT_MASK) as u32;
        if State::from_bits(cur >> STATE_SHIFT) != State::Live || count != 0 {
            return Err(count);
        }
        self.0
            .compare_exchange(
                pack(State::Live, 0),
                pack(State::Going, 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(|_| ())
            .map_err(|now| (now & COUNT_MASK) as u32)
    }

    /// GOING -> LIVE when exit refused.
    pub fn abort_unload(&self) -> bool {
        self.transition(State::Going, State::Live)
    }

    /// Any state -> FAILED (keeps the count).
    pub fn set_failed(&self) {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let new = pack(State::Failed, (cur & COUNT_MASK) as u32);
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Takes a reference regardless of state, for a dependent module's hold on
    /// its provider made while the provider is LIVE (checked by the caller).
    fn transition(&self, from: State, to: State) -> bool {
        let cur = self.0.load(Ordering::Acquire);
        if State::from_bits(cur >> STATE_SHIFT) != from {
            return false;
        }
        let new = pack(to, (cur & COUNT_MASK) as u32);
        self.0
            .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// What an object's owner must provide: Linux's `try_module_get`/`module_put`.
pub trait Owner {
    fn try_get(&self) -> bool;
    fn put(&self);
}

impl Owner for ModuleRef {
    fn try_get(&self) -> bool {
        ModuleRef::try_get(self)
    }
    fn put(&self) {
        ModuleRef::put(self);
    }
}

/// Set in [`ObjectCount`] once the object is unregistered.
const DEAD: u32 = 1 << 31;

/// Why a reference to an object could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// The object was unregistered.
    Gone,
    /// Its module is not LIVE (loading, unloading or failed).
    ModuleNotLive,
}

/// Users of one object.
#[derive(Debug, Default)]
pub struct ObjectCount(AtomicU32);

impl ObjectCount {
    pub const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    pub fn count(&self) -> u32 {
        self.0.load(Ordering::Acquire) & !DEAD
    }

    pub fn is_dead(&self) -> bool {
        self.0.load(Ordering::Acquire) & DEAD != 0
    }

    /// Takes a reference; the first one also takes a reference on `owner`.
    ///
    /// Inlined fast path for an object already referenced (an open handle
    /// taken again, a tty written while open): one load and one
    /// compare-and-swap, no call; the first reference, a dead object, a
    /// saturated count or a lost race go to [`Self::get_slow`].
    #[inline]
    pub fn get(&self, owner: Option<&dyn Owner>) -> Result<(), GetError> {
        let cur = self.0.load(Ordering::Acquire);
        // 1 <= cur < DEAD - 1: held, alive, room for one more.
        if cur.wrapping_sub(1) < DEAD - 2
            && self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Ok(());
        }
        self.get_slow(owner, cur)
    }

    /// [`Self::get`] in every case, the first reference included; `cur` is
    /// the count last seen.
    #[inline(never)]
    fn get_slow(&self, owner: Option<&dyn Owner>, mut cur: u32) -> Result<(), GetError> {
        loop {
            if cur & DEAD != 0 {
                return Err(GetError::Gone);
            }
            if cur == DEAD - 1 {
                return Err(GetError::Gone);
            }
            let first = cur == 0;
            if first {
                if let Some(o) = owner {
                    if !o.try_get() {
                        return Err(GetError::ModuleNotLive);
                    }
                }
            }
            match self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => {
                    // Someone else moved the count: undo our module reference
                    // and retry; the transition that wins takes its own.
                    if first {
                        if let Some(o) = owner {
                            o.put();
                        }
                    }
                    cur = now;
                }
            }
        }
    }

    /// Drops a reference; the last one releases the owner's reference.
    /// Inlined: one atomic subtract; only the last reference calls out (to
    /// the owner).
    #[inline]
    pub fn put(&self, owner: Option<&dyn Owner>) {
        let prev = self.0.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & !DEAD != 0, "object put without get");
        if prev & !DEAD == 1 {
            if let Some(o) = owner {
                o.put();
            }
        }
    }

    /// Marks the object unregistered if nobody uses it. Returns the user count
    /// otherwise (the caller reports -EBUSY).
    pub fn kill(&self) -> Result<(), u32> {
        self.0
            .compare_exchange(0, DEAD, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|now| now & !DEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::sync::Arc;

    fn live() -> ModuleRef {
        let m = ModuleRef::new();
        assert!(m.set_live());
        m
    }

    #[test]
    fn get_only_while_live_and_unload_only_at_zero() {
        let m = ModuleRef::new();
        assert!(!m.try_get(), "COMING refuses references");
        assert!(m.set_live());
        assert!(m.try_get());
        assert_eq!(m.try_begin_unload(), Err(1));
        assert!(m.put());
        assert!(!m.put(), "put without get is refused");
        assert_eq!(m.try_begin_unload(), Ok(()));
        assert_eq!(m.state(), State::Going);
        assert!(!m.try_get(), "GOING refuses references");
        assert!(m.abort_unload(), "exit may fail: back to LIVE");
        assert!(m.try_get());
        m.set_failed();
        assert_eq!((m.state(), m.count()), (State::Failed, 1));
        assert!(!m.try_get());
    }

    #[test]
    fn first_object_reference_takes_the_module_and_last_releases_it() {
        let m = live();
        let dev = ObjectCount::new();
        dev.get(Some(&m)).unwrap();
        dev.get(Some(&m)).unwrap();
        assert_eq!((dev.count(), m.count()), (2, 1));
        assert_eq!(dev.kill(), Err(2), "cannot unregister while open");
        dev.put(Some(&m));
        assert_eq!(m.count(), 1);
        dev.put(Some(&m));
        assert_eq!((dev.count(), m.count()), (0, 0));
        assert_eq!(dev.kill(), Ok(()));
        assert_eq!(dev.get(Some(&m)), Err(GetError::Gone));
        assert_eq!(m.count(), 0, "a failed get leaves no module reference");
    }

    #[test]
    fn object_of_a_going_module_cannot_be_opened() {
        let m = live();
        assert!(m.try_begin_unload().is_ok());
        let dev = ObjectCount::new();
        assert_eq!(dev.get(Some(&m)), Err(GetError::ModuleNotLive));
        assert_eq!((dev.count(), m.count()), (0, 0));
    }

    #[test]
    fn concurrent_gets_and_puts_balance_exactly() {
        let m = Arc::new(live());
        let dev = Arc::new(ObjectCount::new());
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let (m, dev) = (Arc::clone(&m), Arc::clone(&dev));
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        dev.get(Some(&*m)).unwrap();
                        assert!(m.count() >= 1);
                        dev.put(Some(&*m));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!((dev.count(), m.count()), (0, 0));
    }

    #[test]
    fn unload_races_with_gets_never_leave_a_reference_on_a_going_module() {
        for _ in 0..200 {
            let m = Arc::new(live());
            let m2 = Arc::clone(&m);
            let getter = std::thread::spawn(move || m2.try_get());
            let unloaded = m.try_begin_unload().is_ok();
            let got = getter.join().unwrap();
            // Either the get lost (refused) or it won before the unload, in
            // which case the unload must have failed: never both.
            assert!(!(unloaded && got), "got a reference on a GOING module");
            assert!(unloaded || got, "unload failed with no reference taken");
        }
    }
}
