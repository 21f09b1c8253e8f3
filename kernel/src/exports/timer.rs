//! Time exports: software timers (`timer_add`/`timer_del`), `udelay`, `ktime_us`.

use super::owner;
use crate::irq::{time, timer as ktimer};
use crate::kobject::{self, Kind, Ops};
use alloc::sync::Arc;
use kabi::{errno, Opaque, ThisModule, TimerFn};

#[no_mangle]
pub extern "C" fn timer_add(
    owner_ptr: *const ThisModule,
    delay_us: u64,
    period_us: u64,
    func: TimerFn,
    ctx: *mut Opaque,
) -> i64 {
    let Some(m) = owner(owner_ptr) else {
        return -(errno::EINVAL as i64);
    };
    let obj = match kobject::register(
        alloc::format!("{}-timer", m.name),
        Kind::Timer(0),
        Some(Arc::clone(&m)),
        Ops::default(),
        ctx as usize,
        0,
    ) {
        Ok(o) => o,
        Err(e) => return e as i64,
    };
    let id = ktimer::add(
        func as usize,
        ctx as usize,
        m.text,
        m.id,
        delay_us,
        period_us,
        obj.id,
    );
    // Record the timer id in the object's kind for lookups on deletion.
    TIMER_OBJECTS.lock().push((id, obj.id));
    id
}

static TIMER_OBJECTS: crate::sync::IrqLock<alloc::vec::Vec<(i64, u32)>> =
    crate::sync::IrqLock::new(alloc::vec::Vec::new());

#[no_mangle]
pub extern "C" fn timer_del(owner_ptr: *const ThisModule, id: i64) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let obj_id = {
        let mut t = TIMER_OBJECTS.lock();
        let Some(pos) = t.iter().position(|(tid, _)| *tid == id) else {
            return -errno::ENOENT;
        };
        t.remove(pos).1
    };
    // Shut down first (waiting for a callback running on another CPU), then
    // unregister: nothing of the timer runs after this returns.
    let _ = ktimer::remove(id);
    match kobject::unregister(obj_id, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn udelay(us: u64) {
    time::udelay(us.min(1_000_000));
}

#[no_mangle]
pub extern "C" fn ktime_us() -> u64 {
    time::micros()
}
