//! `init_fails`: a module whose init fails. It registers the character device
//! `initfail0`, unregisters it again (as a driver does on its error path) and
//! returns `-ENODEV`. Exercises the rule that a failed init undoes the whole
//! load: the module is freed, `lsmod` does not list it, no `initfail0` remains,
//! and `insmod` reports the error (`No such device`).
#![no_std]

use kabi::{errno, pr_info, DeviceDesc, DeviceKind, DeviceOps};

kabi::module! {
    name: "init_fails",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Init registers initfail0, unregisters it and fails with ENODEV",
    init: init_fails_init,
}

static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: None,
    write: None,
    flush: None,
};

fn init_fails_init() -> Result<(), i32> {
    let desc = DeviceDesc {
        kind: DeviceKind::Char as u32,
        name: c"initfail0".as_ptr().cast(),
        ops: &OPS,
        ctx: core::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `desc` and what it points to outlive the call; OPS is static.
    let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
    if id < 0 {
        return Err(-id);
    }
    // SAFETY: `id` is the device we just registered.
    let r = unsafe { kabi::sys::unregister_device(kabi::rt::this_module(), id) };
    if r < 0 {
        return Err(-r);
    }
    pr_info!("no device to drive; unregistered initfail0, failing init with -ENODEV");
    Err(errno::ENODEV)
}
