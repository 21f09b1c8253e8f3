//! `init_fails`: a module whose init fails. It registers the character device
//! `initfail0`, drops its handle (which unregisters it, as a driver's error
//! path does) and
//! returns `-ENODEV`. Exercises the rule that a failed init undoes the whole
//! load: the module is freed, `lsmod` does not list it, no `initfail0` remains,
//! and `insmod` reports the error (`No such device`).
#![no_std]

use kabi::{errno, pr_info, Device, DeviceKind, DeviceOps};

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
    let device = Device::register(
        DeviceKind::Char,
        c"initfail0",
        &OPS,
        core::ptr::null_mut(),
        0,
    )?;
    // The error path: dropping the handle unregisters the device.
    drop(device);
    pr_info!("no device to drive; unregistered initfail0, failing init with -ENODEV");
    Err(errno::ENODEV)
}
