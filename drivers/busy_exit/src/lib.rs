//! `busy_exit`: a module whose exit can refuse. It registers the character
//! device `busy0`; writing `busy` to it marks the device busy, writing `idle`
//! clears the mark. While busy, exit returns `-EBUSY` and the kernel must leave
//! the module LIVE and report the refusal; once idle, exit unregisters `busy0`
//! and the module unloads.
#![no_std]

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use kabi::{errno, pr_info, pr_warn, DeviceDesc, DeviceKind, DeviceOps, Opaque};

kabi::module! {
    name: "busy_exit",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Exit refuses with EBUSY while busy0 is marked busy (write busy/idle)",
    init: busy_exit_init,
    exit: busy_exit_exit,
}

static BUSY: AtomicBool = AtomicBool::new(false);
static DEVICE_ID: AtomicI32 = AtomicI32::new(0);

/// `busy` or `idle`, optionally followed by a newline; anything else is -EINVAL.
extern "C" fn busy_write(_ctx: *mut Opaque, buf: *const u8, len: usize, _offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    // SAFETY: the kernel passes a buffer valid for reads of `len` bytes for the duration of the call.
    let bytes = unsafe { core::slice::from_raw_parts(buf, len) };
    match bytes.trim_ascii() {
        b"busy" => BUSY.store(true, Ordering::SeqCst),
        b"idle" => BUSY.store(false, Ordering::SeqCst),
        _ => return -(errno::EINVAL as isize),
    }
    len as isize
}

static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: None,
    write: Some(busy_write),
    flush: None,
};

fn busy_exit_init() -> Result<(), i32> {
    let desc = DeviceDesc {
        kind: DeviceKind::Char as u32,
        name: c"busy0".as_ptr().cast(),
        ops: &OPS,
        ctx: core::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `desc` and what it points to outlive the call; OPS is static.
    let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
    if id < 0 {
        return Err(-id);
    }
    DEVICE_ID.store(id, Ordering::SeqCst);
    pr_info!("registered busy0; write busy or idle to it");
    Ok(())
}

fn busy_exit_exit() -> Result<(), i32> {
    if BUSY.load(Ordering::SeqCst) {
        pr_warn!("device busy, refusing to unload");
        return Err(errno::EBUSY);
    }
    // SAFETY: the id is the device init registered.
    let r = unsafe {
        kabi::sys::unregister_device(kabi::rt::this_module(), DEVICE_ID.load(Ordering::SeqCst))
    };
    if r < 0 {
        return Err(-r);
    }
    pr_info!("idle, unregistered busy0");
    Ok(())
}
