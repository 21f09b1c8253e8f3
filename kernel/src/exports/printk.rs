//! Log and panic exports (the `log` family): `printk`, `module_panic`, `panic_notifier_register`.

use super::{owner, owner_name};
use kabi::{PanicNotifier, ThisModule};

/// # Safety
/// `msg` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn printk(
    owner_ptr: *const ThisModule,
    level: u32,
    msg: *const u8,
    len: usize,
) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the caller passes a buffer valid for `len` bytes (bounded here).
    let bytes = unsafe { core::slice::from_raw_parts(msg, len.min(1024)) };
    let text = core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>");
    let level = match level {
        0..=3 => log::Level::Error,
        4 => log::Level::Warn,
        5 | 6 => log::Level::Info,
        _ => log::Level::Debug,
    };
    // `NAME: TEXT`, as `log::log!(level, "{name}: {text}")` records it.
    owner_name(owner_ptr, |name| {
        crate::klog::record(
            level,
            &[
                crate::klog::Piece::Str(name),
                crate::klog::Piece::Str(": "),
                crate::klog::Piece::Str(text),
            ],
        )
    });
}

/// # Safety
/// `msg` valid for `len` bytes; called from a module's panic handler.
#[no_mangle]
pub unsafe extern "C" fn module_panic(owner_ptr: *const ThisModule, msg: *const u8, len: usize) {
    let bytes = if msg.is_null() {
        &[][..]
    } else {
        // SAFETY: as for printk: the caller passes a buffer valid for `len`.
        unsafe { core::slice::from_raw_parts(msg, len.min(512)) }
    };
    let msg = core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>");
    owner_name(owner_ptr, |name| {
        crate::klog::oops::module_panic_report(name, msg)
    });
    if let Some(m) = owner(owner_ptr) {
        m.refs.set_failed();
    }
    // SAFETY: we are inside the module call that panicked; everything this function owned has been dropped above.
    unsafe { crate::arch::modcall::abandon() }
}

#[no_mangle]
pub extern "C" fn panic_notifier_register(owner_ptr: *const ThisModule, func: PanicNotifier) {
    if let Some(m) = owner(owner_ptr) {
        crate::klog::oops::panic_notifier_add(func as usize, m.text);
    }
}
