//! `hello`: the smallest useful module. Logs on load and unload, exports
//! `hello_add` for other modules, and registers the character device `hello0`,
//! whose reads return a greeting (`greeting=` parameter) `count` times.
#![no_std]

use kabi::{pr_info, Device, DeviceKind, DeviceOps, Global, Opaque};

kabi::module! {
    name: "hello",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Says hello; exports hello_add; registers /dev/hello0",
    init: hello_init,
    exit: hello_exit,
}

kabi::module_param!(
    GREETING,
    "greeting",
    str,
    "Hello, world",
    "what a read of hello0 returns"
);
kabi::module_param!(
    COUNT,
    "count",
    int,
    1,
    "how many times the greeting repeats"
);

/// Adds two numbers: the symbol `user_of_hello` imports.
#[no_mangle]
pub extern "C" fn hello_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}
kabi::export_symbol!(hello_add, "(a: u32, b: u32) -> u32");

static DEVICE: Global<Device> = Global::new();

extern "C" fn hello_read(_ctx: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize {
    let greeting = GREETING.get().as_bytes();
    let total = (greeting.len() + 1) * COUNT.get().clamp(0, 100) as usize;
    let mut n = 0;
    let mut pos = offset as usize;
    while n < len && pos < total {
        let i = pos % (greeting.len() + 1);
        let byte = if i == greeting.len() {
            b'\n'
        } else {
            greeting[i]
        };
        // SAFETY: the kernel passes a buffer valid for `len` bytes.
        unsafe { *buf.add(n) = byte };
        n += 1;
        pos += 1;
    }
    n as isize
}

static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: Some(hello_read),
    write: None,
    flush: None,
};

fn hello_init() -> Result<(), i32> {
    DEVICE.set(Device::register(
        DeviceKind::Char,
        c"hello0",
        &OPS,
        core::ptr::null_mut(),
        0,
    )?);
    pr_info!(
        "Hello, world (greeting={:?}, count={})",
        GREETING.get(),
        COUNT.get()
    );
    Ok(())
}

fn hello_exit() -> Result<(), i32> {
    if let Some(dev) = DEVICE.take() {
        if let Err((dev, e)) = dev.unregister() {
            DEVICE.set(dev);
            return Err(e);
        }
    }
    pr_info!("Goodbye");
    Ok(())
}
