//! Reference counts for modules and the objects they provide: the rules of
//! unload safety as lock-free state machines, independent of the kernel.
//!
//! [`ModuleRef`] packs a module's state and count in one atomic word, so that
//! "take a reference only while LIVE" ([`ModuleRef::try_get`]) is one
//! compare-and-swap. The count holds `try_module_get` references and the holds
//! of dependent modules.
//!
//! [`ObjectCount`] counts users of one object (a device, an open handle's
//! target). A module is in use while any of its objects is: the module's count
//! as `lsmod` shows it is its own count plus its objects in use, derived when
//! asked rather than kept (the first reference to an object no longer takes a
//! module reference, nor the last releases one: two atomic read-modify-writes
//! fewer on every first/last pair). What makes that safe is a handshake, the
//! classic store-fence-load pair on each side:
//!
//! * a get adds one to the object, issues a full fence, and then reads the
//!   module's state; it keeps the reference only if the module is LIVE (and
//!   the object not unregistered meanwhile), else it takes it back;
//! * [`ModuleRef::try_begin_unload`] moves the module from LIVE to STOPPING,
//!   issues a full fence, and then counts the module's objects in use; at any
//!   it goes back to LIVE and refuses, at none it is GOING.
//!
//! Of two fences one comes first: either the get's read sees STOPPING (it
//! backs off) or the unload's count sees the get's increment (it refuses), so
//! no reference survives into GOING. (AArch64 would also keep a store-release
//! before a later load-acquire without the DMB, but QEMU's TCG does not keep
//! that order for STLR then LDAR on x86 hosts, qemu-project/qemu issue 4872;
//! the explicit fence holds everywhere, for one instruction.) Every get checks, also one on an object
//! already held: a count raised only by gets that are about to back off must
//! not let a later get through unchecked. In GOING every object count that is
//! not zero belongs to such a get, so unregistering there may discard them
//! ([`ObjectCount::kill`] with `going`); the get notices when it reads the
//! object again after the fence. Linux keeps the module count instead and
//! takes it on every `cdev_get`; `try_stop_module` has the same STOPPING
//! window (gets fail while an rmmod that will refuse is looking).

use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

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
    /// `rmmod` is counting the objects in use ([`ModuleRef::try_begin_unload`]):
    /// no new references; back to LIVE or on to GOING within the count.
    Stopping = 4,
}

impl State {
    fn from_bits(b: u64) -> State {
        match b {
            0 => State::Coming,
            1 => State::Live,
            2 => State::Going,
            4 => State::Stopping,
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

    /// Whether references may be taken (LIVE). An object's get asks this
    /// after its fence.
    #[inline]
    pub fn is_live(&self) -> bool {
        self.0.load(Ordering::Acquire) >> STATE_SHIFT == State::Live as u64
    }

    /// LIVE with count 0 and no object in use -> GOING, or the count (the
    /// module's own, else `objects_in_use`'s) and the module as it was.
    ///
    /// LIVE -> STOPPING first, then a full fence, then `objects_in_use` (which
    /// must count every object of the module with [`ObjectCount::count`] not
    /// zero); the module-level docs say why no get can slip between.
    pub fn try_begin_unload(&self, objects_in_use: impl FnOnce() -> u32) -> Result<(), u32> {
        let cur = self.0.load(Ordering::Acquire);
        let count = (cur & COUNT_MASK) as u32;
        if State::from_bits(cur >> STATE_SHIFT) != State::Live || count != 0 {
            return Err(count);
        }
        self.0
            .compare_exchange(
                pack(State::Live, 0),
                pack(State::Stopping, 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map_err(|now| (now & COUNT_MASK) as u32)?;
        fence(Ordering::SeqCst);
        let busy = objects_in_use();
        // STOPPING refuses `try_get`, so the count is still 0; only a fault
        // elsewhere (FAILED) can have moved the state meanwhile.
        if busy != 0 {
            self.transition(State::Stopping, State::Live);
            return Err(busy);
        }
        if self.transition(State::Stopping, State::Going) {
            Ok(())
        } else {
            Err(0)
        }
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

    /// Takes a reference on an object of `owner` (`None`: the kernel's own,
    /// always live).
    ///
    /// Inlined: one load and one compare-and-swap, then, for a module's
    /// object, a full fence and two loads (the module's state, the object's
    /// word again); a dead object, a saturated count or a lost race go to
    /// [`Self::get_slow`].
    #[inline]
    pub fn get(&self, owner: Option<&ModuleRef>) -> Result<(), GetError> {
        let cur = self.0.load(Ordering::Relaxed);
        // cur < DEAD - 1: alive, room for one more.
        if cur >= DEAD - 1
            || self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            self.get_slow(cur)?;
        }
        match owner {
            Some(m) => self.check(m),
            None => Ok(()),
        }
    }

    /// The handshake with [`ModuleRef::try_begin_unload`] after the count went
    /// up: keep the reference only if the module is LIVE and the object was
    /// not unregistered meanwhile.
    #[inline]
    fn check(&self, owner: &ModuleRef) -> Result<(), GetError> {
        fence(Ordering::SeqCst);
        // The state is read with acquire, so the second read of the object
        // comes after it and sees a DEAD mark made before an abort_unload
        // whose LIVE it read; that read itself needs no ordering of its own
        // (on an x86 host under QEMU's MTTCG every LDAR costs a host barrier).
        if owner.is_live() && self.0.load(Ordering::Relaxed) & DEAD == 0 {
            return Ok(());
        }
        let was = self.0.fetch_sub(1, Ordering::AcqRel);
        Err(if was & DEAD != 0 {
            GetError::Gone
        } else {
            GetError::ModuleNotLive
        })
    }

    /// The count going up in every case; `cur` is the count last seen.
    #[inline(never)]
    fn get_slow(&self, mut cur: u32) -> Result<(), GetError> {
        loop {
            if cur & DEAD != 0 || cur == DEAD - 1 {
                return Err(GetError::Gone);
            }
            match self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Drops a reference taken with [`Self::get`]: one atomic subtraction
    /// (the module's count is derived, nothing else to release).
    #[inline]
    pub fn put(&self) {
        let prev = self.0.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & !DEAD != 0, "object put without get");
    }

    /// Marks the object unregistered if nobody uses it, or returns the user
    /// count (the caller reports -EBUSY).
    ///
    /// `going`: the owner is GOING, so every count still on the object is a
    /// get about to back off (module-level docs): the object is marked at
    /// once, and those gets see it and take their increments back.
    pub fn kill(&self, going: bool) -> Result<(), u32> {
        if going {
            self.0.fetch_or(DEAD, Ordering::AcqRel);
            return Ok(());
        }
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
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn live() -> ModuleRef {
        let m = ModuleRef::new();
        assert!(m.set_live());
        m
    }

    fn in_use(objs: &[&ObjectCount]) -> u32 {
        objs.iter().filter(|o| o.count() != 0).count() as u32
    }

    #[test]
    fn get_only_while_live_and_unload_only_at_zero() {
        let m = ModuleRef::new();
        assert!(!m.try_get(), "COMING refuses references");
        assert!(m.set_live());
        assert!(m.try_get());
        assert_eq!(m.try_begin_unload(|| 0), Err(1));
        assert!(m.put());
        assert!(!m.put(), "put without get is refused");
        assert_eq!(m.try_begin_unload(|| 0), Ok(()));
        assert_eq!(m.state(), State::Going);
        assert!(!m.try_get(), "GOING refuses references");
        assert!(m.abort_unload(), "exit may fail: back to LIVE");
        assert!(m.try_get());
        m.set_failed();
        assert_eq!((m.state(), m.count()), (State::Failed, 1));
        assert!(!m.try_get());
    }

    #[test]
    fn an_object_in_use_keeps_its_module_and_unload_leaves_it_live() {
        let m = live();
        let dev = ObjectCount::new();
        dev.get(Some(&m)).unwrap();
        dev.get(Some(&m)).unwrap();
        assert_eq!(dev.count(), 2);
        assert_eq!(m.count(), 0, "the module's own count is not taken");
        assert_eq!(m.try_begin_unload(|| in_use(&[&dev])), Err(1));
        assert_eq!(m.state(), State::Live, "a refused unload leaves it LIVE");
        assert_eq!(dev.kill(false), Err(2), "cannot unregister while open");
        dev.put();
        dev.put();
        assert_eq!(dev.count(), 0);
        assert_eq!(dev.kill(false), Ok(()));
        assert_eq!(dev.get(Some(&m)), Err(GetError::Gone));
        assert_eq!(dev.count(), 0, "a failed get leaves no count");
        assert_eq!(m.try_begin_unload(|| in_use(&[&dev])), Ok(()));
    }

    #[test]
    fn object_of_a_stopping_or_going_module_cannot_be_opened() {
        let m = live();
        let dev = ObjectCount::new();
        let mut seen = None;
        // While rmmod counts, gets are refused (and a refused rmmod reopens).
        assert_eq!(
            m.try_begin_unload(|| {
                seen = Some((m.state(), dev.get(Some(&m))));
                1
            }),
            Err(1)
        );
        assert_eq!(seen, Some((State::Stopping, Err(GetError::ModuleNotLive))));
        assert!(dev.get(Some(&m)).is_ok());
        dev.put();
        assert!(m.try_begin_unload(|| in_use(&[&dev])).is_ok());
        assert_eq!(dev.get(Some(&m)), Err(GetError::ModuleNotLive));
        assert_eq!(dev.count(), 0);
    }

    #[test]
    fn killing_an_object_of_a_going_module_turns_pending_gets_away() {
        let m = live();
        let dev = ObjectCount::new();
        assert!(m.try_begin_unload(|| 0).is_ok());
        // A get that raised the count and has not yet checked (simulated).
        dev.0.fetch_add(1, Ordering::AcqRel);
        assert_eq!(dev.kill(false), Err(1), "not going: refused");
        assert_eq!(dev.kill(true), Ok(()));
        // Exit failed: LIVE again; the pending get still backs off.
        assert!(m.abort_unload());
        assert_eq!(dev.check(&m), Err(GetError::Gone));
        assert_eq!((dev.count(), dev.is_dead()), (0, true));
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
                        assert!(dev.count() >= 1);
                        dev.put();
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
            let unloaded = m.try_begin_unload(|| 0).is_ok();
            let got = getter.join().unwrap();
            // Either the get lost (refused) or it won before the unload, in
            // which case the unload must have failed: never both.
            assert!(!(unloaded && got), "got a reference on a GOING module");
            assert!(unloaded || got, "unload failed with no reference taken");
        }
    }

    /// The handshake under fire: threads take first and held references on
    /// three objects while one thread tries to unload over and over, and
    /// when it succeeds keeps the module GOING for a while (as exit runs),
    /// unregisters an object there, then puts it back LIVE (exit refused).
    /// A thread holding a reference must never see a successful unload
    /// between its get and its put.
    #[test]
    fn object_gets_racing_unload_never_hold_through_going() {
        let m = Arc::new(live());
        let objs: Arc<[ObjectCount; 3]> = Arc::new(Default::default());
        let unloads = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let getters: std::vec::Vec<_> = (0..3)
            .map(|t| {
                let (m, objs, unloads, stop) =
                    (m.clone(), objs.clone(), unloads.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut held = 0u64;
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        i = (i + 1) % 3;
                        let o = &objs[i];
                        if o.get(Some(&m)).is_err() {
                            continue;
                        }
                        let before = unloads.load(Ordering::SeqCst);
                        // Sometimes a second, already-held reference.
                        let twice = i == t && o.get(Some(&m)).is_ok();
                        for _ in 0..(i * 20) {
                            core::hint::spin_loop();
                        }
                        assert_eq!(
                            unloads.load(Ordering::SeqCst),
                            before,
                            "unloaded while a reference was held"
                        );
                        assert!(!o.is_dead(), "unregistered while held");
                        if twice {
                            o.put();
                        }
                        o.put();
                        held += 1;
                    }
                    held
                })
            })
            .collect();
        let mut refused = 0u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(600);
        while std::time::Instant::now() < deadline {
            let r = m.try_begin_unload(|| in_use(&[&objs[0], &objs[1], &objs[2]]));
            if r.is_err() {
                refused += 1;
                continue;
            }
            unloads.fetch_add(1, Ordering::SeqCst);
            // Exit unregisters object 2 (whatever pending gets are on it) ...
            assert_eq!(objs[2].kill(true), Ok(()));
            for _ in 0..200 {
                core::hint::spin_loop();
            }
            // ... then refuses: LIVE again, object 2 registered anew.
            unloads.fetch_add(1, Ordering::SeqCst);
            while objs[2].count() != 0 {
                core::hint::spin_loop();
            }
            objs[2].0.store(0, Ordering::SeqCst);
            assert!(m.abort_unload());
        }
        stop.store(true, Ordering::Relaxed);
        let held: u64 = getters.into_iter().map(|g| g.join().unwrap()).sum();
        assert!(held > 0 && refused > 0, "held {held}, refused {refused}");
        assert!(unloads.load(Ordering::SeqCst) > 0, "never unloaded");
        assert_eq!(in_use(&[&objs[0], &objs[1], &objs[2]]), 0);
    }
}
