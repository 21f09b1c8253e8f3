//! Locks that are safe to take from both thread and interrupt context.
//!
//! [`IrqLock`] masks IRQs on the local CPU for as long as it is held, then spins on
//! a `spin::Mutex`: an IRQ handler can never interrupt a holder on the same CPU
//! (no self-deadlock), and another CPU simply waits. This is the lock to use for
//! anything an IRQ handler or the oops path may touch; it is ready for SMP as is.
//!
//! Room `sync`: uses `arch`.

use crate::arch::cpu;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// `spin`'s waiting, as [`cpu::relax`]: every `spin::Mutex` and `spin::Once`
/// in the kernel is one of these, so a CPU waiting on one lets the holder
/// run under QEMU's round-robin TCG.
pub struct Relax;

impl spin::relax::RelaxStrategy for Relax {
    #[inline(always)]
    fn relax() {
        cpu::relax();
    }
}

/// A `spin::Mutex` that waits with [`cpu::relax`] (no IRQ masking: for locks
/// no IRQ handler takes; see [`IrqLock`]).
pub type Mutex<T> = spin::mutex::Mutex<T, Relax>;

/// A `spin::Once` that waits with [`cpu::relax`].
pub type Once<T> = spin::once::Once<T, Relax>;

/// The lock word and its data. The word is taken and released by
/// non-generic, out-of-line functions ([`acquire`], [`try_acquire`]): on this
/// CPU (no LSE atomics) a compare-and-swap is a load-exclusive /
/// store-exclusive loop of several branches, and under QEMU's TCG every
/// inlined copy of it (one per locked type, as `spin::Mutex` gave) is
/// translated again at boot.
pub struct IrqLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and a guard exists only
// while `locked` is held (at most one at a time), as for `spin::Mutex`.
unsafe impl<T: Send> Sync for IrqLock<T> {}

pub struct IrqLockGuard<'a, T> {
    lock: &'a IrqLock<T>,
    state: cpu::IrqState,
}

/// Masks IRQs and spins until `locked` is ours; the mask state to restore.
#[inline(never)]
fn acquire(locked: &AtomicBool) -> cpu::IrqState {
    let state = cpu::irq_save();
    while locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        while locked.load(Ordering::Relaxed) {
            crate::arch::cpu::relax();
        }
    }
    state
}

/// Masks IRQs and takes `locked` if it is free; unmasks again if not.
#[inline(never)]
fn try_acquire(locked: &AtomicBool) -> Option<cpu::IrqState> {
    let state = cpu::irq_save();
    if locked
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Some(state);
    }
    cpu::irq_restore(state);
    None
}

impl<T> IrqLock<T> {
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> IrqLockGuard<'_, T> {
        IrqLockGuard {
            state: acquire(&self.locked),
            lock: self,
        }
    }

    /// Takes the lock only if it is free (for the oops path, which must not
    /// wait on a lock the faulting code may hold).
    #[allow(dead_code)] // used by the module subsystem
    pub fn try_lock(&self) -> Option<IrqLockGuard<'_, T>> {
        try_acquire(&self.locked).map(|state| IrqLockGuard { lock: self, state })
    }

    /// Tries for about `spins` rounds (each a `try_lock`), for paths that must
    /// not wait forever (the oops path: the holder may be the CPU that died)
    /// but should not give up just because another CPU holds the lock for a
    /// moment.
    pub fn lock_bounded(&self, spins: u32) -> Option<IrqLockGuard<'_, T>> {
        for _ in 0..spins {
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            crate::arch::cpu::relax();
        }
        None
    }
}

impl<T> Deref for IrqLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no other reference to the data exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for IrqLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference through it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for IrqLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before unmasking, so an IRQ arriving right away can take it.
        self.lock.locked.store(false, Ordering::Release);
        cpu::irq_restore(self.state);
    }
}
