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
    ktimer::add(
        func as usize,
        ctx as usize,
        m.text,
        m.id,
        delay_us,
        period_us,
        obj.id,
    )
}

#[no_mangle]
pub extern "C" fn timer_del(owner_ptr: *const ThisModule, id: i64) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    // Shut down first (waiting for a callback running on another CPU), then
    // unregister: nothing of the timer runs after this returns. A one-shot
    // timer that already fired is gone, its object with it: nothing to do.
    if let Some(object) = ktimer::remove(id, m.id) {
        kobject::retire(object);
    }
    0
}

#[no_mangle]
pub extern "C" fn udelay(us: u64) {
    time::udelay(us.min(1_000_000));
}

#[no_mangle]
pub extern "C" fn ktime_us() -> u64 {
    time::micros()
}
