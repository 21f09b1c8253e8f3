//! SMP exports (the `work` family): work queues, spin locks, CPU numbers.

use super::owner;
use crate::arch::cpu;
use crate::kobject::{self, Kind, Ops};
use crate::smp::work::{self, Func};
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use kabi::{errno, Opaque, RawSpinLock, ThisModule, WorkFn};

#[no_mangle]
pub extern "C" fn queue_work_on(
    owner_ptr: *const ThisModule,
    cpu: i32,
    func: WorkFn,
    ctx: *mut Opaque,
) -> i64 {
    let Some(m) = owner(owner_ptr) else {
        return -(errno::EINVAL as i64);
    };
    let Some(target) = work::target(cpu) else {
        return -(errno::EINVAL as i64);
    };
    let obj = match kobject::register(
        alloc::format!("{}-work", m.name),
        Kind::Work,
        Some(Arc::clone(&m)),
        Ops::default(),
        ctx as usize,
        0,
    ) {
        Ok(o) => o,
        Err(e) => return e as i64,
    };
    let f = Func::Module {
        func: func as usize,
        text: m.text,
    };
    work::queue(target, f, ctx as usize, Some((obj, m)))
}

#[no_mangle]
pub extern "C" fn cancel_work_sync(owner_ptr: *const ThisModule, id: i64) -> i32 {
    if owner(owner_ptr).is_none() {
        return -errno::EINVAL;
    }
    work::cancel(id) as i32
}

#[no_mangle]
pub extern "C" fn smp_processor_id() -> u32 {
    cpu::id() as u32
}

#[no_mangle]
pub extern "C" fn num_online_cpus() -> u32 {
    crate::smp::online().max(1) as u32
}

/// # Safety
/// `lock` points at a `RawSpinLock` in the caller's memory.
#[no_mangle]
pub unsafe extern "C" fn spin_lock_irqsave(lock: *mut RawSpinLock) -> u64 {
    let flags = cpu::irq_save();
    if lock.is_null() {
        return flags.bits();
    }
    // SAFETY: the caller passes a live lock word; only atomics touch it.
    let word = unsafe { &(*lock).locked };
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        crate::arch::cpu::relax();
    }
    flags.bits()
}

/// # Safety
/// `lock` is the lock the caller took with `spin_lock_irqsave`.
#[no_mangle]
pub unsafe extern "C" fn spin_unlock_irqrestore(lock: *mut RawSpinLock, flags: u64) {
    if !lock.is_null() {
        // SAFETY: as for `spin_lock_irqsave`.
        unsafe { (*lock).locked.store(0, Ordering::Release) };
    }
    cpu::irq_restore(cpu::IrqState::from_bits(flags));
}
