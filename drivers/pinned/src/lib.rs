//! `pinned`: a module that uses a kernel interface marked unsafe to unload.
//! Init registers a panic notifier with `panic_notifier_register`, which has no
//! way back, so the kernel must pin the module: `rmmod pinned` is refused (even
//! though it has an exit) and `lsmod` shows it as pinned.
#![no_std]

use kabi::{pr_err, pr_info};

kabi::module! {
    name: "pinned",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Registers a panic notifier, which pins it in memory",
    init: pinned_init,
    exit: pinned_exit,
}

/// Logs the kernel's panic message.
extern "C" fn pinned_on_panic(msg: *const u8, len: usize) {
    let text = if msg.is_null() {
        &[][..]
    } else {
        // SAFETY: the kernel passes its panic message, valid for `len` bytes for the duration of the call.
        unsafe { core::slice::from_raw_parts(msg, len) }
    };
    pr_err!(
        "kernel panic: {}",
        core::str::from_utf8(text).unwrap_or("<message not UTF-8>")
    );
}

fn pinned_init() -> Result<(), i32> {
    // SAFETY: `pinned_on_panic` is a function of this module, which the kernel keeps loaded for good once this succeeds.
    unsafe { kabi::sys::panic_notifier_register(kabi::rt::this_module(), pinned_on_panic) };
    pr_info!("registered a panic notifier; this module cannot be unloaded");
    Ok(())
}

fn pinned_exit() -> Result<(), i32> {
    // Never called: the kernel refuses to unload a pinned module.
    pr_err!("exit called on a pinned module");
    Ok(())
}
