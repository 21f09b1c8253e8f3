//! `leaky`: a module whose exit forgets an object. Init registers the character
//! device `leak0` and a 100 ms periodic timer; exit deletes the timer and
//! returns success WITHOUT unregistering `leak0`. The kernel must notice after
//! exit that `leak0` is still registered to this module, refuse to free the
//! module's memory (its code backs `leak0`'s ops) and report the leak.
#![no_std]

use core::sync::atomic::{AtomicU64, Ordering};
use kabi::{pr_info, pr_warn, Device, DeviceKind, DeviceOps, Global, Opaque, Timer};

kabi::module! {
    name: "leaky",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Exit deletes its timer but leaves leak0 registered",
    init: leaky_init,
    exit: leaky_exit,
}

static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER: Global<Timer> = Global::new();

extern "C" fn leaky_tick(_ctx: *mut Opaque) {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: None,
    write: None,
    flush: None,
};

fn leaky_init() -> Result<(), i32> {
    let device = Device::register(DeviceKind::Char, c"leak0", &OPS, core::ptr::null_mut(), 0)?;
    // If the timer cannot be added, `device` is dropped: unregistered.
    TIMER.set(Timer::add(
        100_000,
        100_000,
        leaky_tick,
        core::ptr::null_mut(),
    )?);
    // The bug this module exists for, made visible: the handle is forgotten,
    // so nothing ever unregisters leak0.
    core::mem::forget(device);
    pr_info!("registered leak0 and a 100 ms timer");
    Ok(())
}

fn leaky_exit() -> Result<(), i32> {
    drop(TIMER.take());
    pr_warn!("deleted the timer; leaving leak0 registered on purpose");
    Ok(())
}
