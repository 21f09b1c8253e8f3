//! `leaky`: a module whose exit forgets an object. Init registers the character
//! device `leak0` and a 100 ms periodic timer; exit deletes the timer and
//! returns success WITHOUT unregistering `leak0`. The kernel must notice after
//! exit that `leak0` is still registered to this module, refuse to free the
//! module's memory (its code backs `leak0`'s ops) and report the leak.
#![no_std]

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use kabi::{pr_info, pr_warn, DeviceDesc, DeviceKind, DeviceOps, Opaque};

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
static TIMER_ID: AtomicI64 = AtomicI64::new(0);

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
    let desc = DeviceDesc {
        kind: DeviceKind::Char as u32,
        name: c"leak0".as_ptr().cast(),
        ops: &OPS,
        ctx: core::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `desc` and what it points to outlive the call; OPS is static.
    let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
    if id < 0 {
        return Err(-id);
    }
    // SAFETY: `leaky_tick` is a function of this module and ignores its context.
    let timer = unsafe {
        kabi::sys::timer_add(
            kabi::rt::this_module(),
            100_000,
            100_000,
            leaky_tick,
            core::ptr::null_mut(),
        )
    };
    if timer < 0 {
        // SAFETY: `id` is the device registered above.
        unsafe { kabi::sys::unregister_device(kabi::rt::this_module(), id) };
        return Err((-timer) as i32);
    }
    TIMER_ID.store(timer, Ordering::SeqCst);
    pr_info!("registered leak0 and a 100 ms timer");
    Ok(())
}

fn leaky_exit() -> Result<(), i32> {
    // SAFETY: the id is the timer init added.
    let r =
        unsafe { kabi::sys::timer_del(kabi::rt::this_module(), TIMER_ID.load(Ordering::SeqCst)) };
    if r < 0 {
        return Err(-r);
    }
    pr_warn!("deleted the timer; leaving leak0 registered on purpose");
    Ok(())
}
