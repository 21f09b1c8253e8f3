//! `irq_user`: timers as refcounted objects. Init adds a 10 ms periodic timer
//! that counts its ticks and registers the character device `ticks0`, whose read
//! returns the count as decimal text and a newline. Exit unregisters `ticks0`
//! (refused while it is open, and then the module stays LIVE with its timer
//! running) and deletes the timer. While the module is loaded the timer holds a
//! reference through its owner, so a tick never calls into freed code.
#![no_std]

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use kabi::{errno, pr_info, DeviceDesc, DeviceKind, DeviceOps, Opaque};

kabi::module! {
    name: "irq_user",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Counts 10 ms timer ticks; read them from ticks0",
    init: irq_user_init,
    exit: irq_user_exit,
}

const PERIOD_US: u64 = 10_000;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_ID: AtomicI64 = AtomicI64::new(0);
static DEVICE_ID: AtomicI32 = AtomicI32::new(0);

extern "C" fn irq_user_tick(_ctx: *mut Opaque) {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Formats `n` and a newline into the end of `out`; returns the used tail.
fn decimal_line(mut n: u64, out: &mut [u8; 21]) -> &[u8] {
    let mut i = out.len() - 1;
    out[i] = b'\n';
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

extern "C" fn ticks_read(_ctx: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    let mut digits = [0u8; 21];
    let text = decimal_line(TICKS.load(Ordering::Relaxed), &mut digits);
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let n = (text.len() - start).min(len);
    // SAFETY: the kernel passes a buffer valid for writes of `len` bytes for the duration of the call, and `n <= len`.
    let dst = unsafe { core::slice::from_raw_parts_mut(buf, n) };
    dst.copy_from_slice(&text[start..start + n]);
    n as isize
}

static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: Some(ticks_read),
    write: None,
    flush: None,
};

fn irq_user_init() -> Result<(), i32> {
    // SAFETY: `irq_user_tick` is a function of this module and ignores its context.
    let timer = unsafe {
        kabi::sys::timer_add(
            kabi::rt::this_module(),
            PERIOD_US,
            PERIOD_US,
            irq_user_tick,
            core::ptr::null_mut(),
        )
    };
    if timer < 0 {
        return Err((-timer) as i32);
    }
    let desc = DeviceDesc {
        kind: DeviceKind::Char as u32,
        name: c"ticks0".as_ptr().cast(),
        ops: &OPS,
        ctx: core::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `desc` and what it points to outlive the call; OPS is static.
    let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
    if id < 0 {
        // SAFETY: `timer` is the timer added above.
        unsafe { kabi::sys::timer_del(kabi::rt::this_module(), timer) };
        return Err(-id);
    }
    TIMER_ID.store(timer, Ordering::SeqCst);
    DEVICE_ID.store(id, Ordering::SeqCst);
    pr_info!("counting 10 ms timer ticks; read them from ticks0");
    Ok(())
}

fn irq_user_exit() -> Result<(), i32> {
    // SAFETY: the id is the device init registered.
    let r = unsafe {
        kabi::sys::unregister_device(kabi::rt::this_module(), DEVICE_ID.load(Ordering::SeqCst))
    };
    if r < 0 {
        return Err(-r);
    }
    // SAFETY: the id is the timer init added.
    let r =
        unsafe { kabi::sys::timer_del(kabi::rt::this_module(), TIMER_ID.load(Ordering::SeqCst)) };
    if r < 0 {
        return Err(-r);
    }
    pr_info!("stopped after {} ticks", TICKS.load(Ordering::Relaxed));
    Ok(())
}
