//! Locks that are safe to take from both thread and interrupt context.
//!
//! [`IrqLock`] masks IRQs on the local CPU for as long as it is held, then spins on
//! a `spin::Mutex`: an IRQ handler can never interrupt a holder on the same CPU
//! (no self-deadlock), and another CPU simply waits. This is the lock to use for
//! anything an IRQ handler or the oops path may touch; it is ready for SMP as is.
//!
//! Room `sync`: uses `arch`.

use crate::arch::cpu;
use core::ops::{Deref, DerefMut};

pub struct IrqLock<T> {
    inner: spin::Mutex<T>,
}

pub struct IrqLockGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    state: cpu::IrqState,
}

impl<T> IrqLock<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    pub fn lock(&self) -> IrqLockGuard<'_, T> {
        let state = cpu::irq_save();
        IrqLockGuard {
            guard: Some(self.inner.lock()),
            state,
        }
    }

    /// Takes the lock only if it is free (for the oops path, which must not
    /// wait on a lock the faulting code may hold).
    #[allow(dead_code)] // used by the module subsystem
    pub fn try_lock(&self) -> Option<IrqLockGuard<'_, T>> {
        let state = cpu::irq_save();
        match self.inner.try_lock() {
            Some(g) => Some(IrqLockGuard {
                guard: Some(g),
                state,
            }),
            None => {
                cpu::irq_restore(state);
                None
            }
        }
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
            core::hint::spin_loop();
        }
        None
    }
}

impl<T> Deref for IrqLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_deref().expect("guard present until drop")
    }
}

impl<T> DerefMut for IrqLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before unmasking, so an IRQ arriving right away can take it.
        drop(self.guard.take());
        cpu::irq_restore(self.state);
    }
}
