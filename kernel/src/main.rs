//! Kernel entry: from the boot CPU's first Rust instruction to the shell.
//!
//! `kernel_main` reads the device tree (the only source of truth for memory,
//! devices and the console), builds the page tables and turns the MMU on, then
//! brings up logging, memory, interrupts and the timer, and runs the shell. Each
//! step depends only on the ones before it; a missing DTB or a DTB without memory
//! stops the boot with a message on whatever console can be found.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod boot;
mod console;
mod fs;
mod irq;
mod kapi;
mod klog;
mod kmod;
mod kobject;
mod machine;
mod mm;
mod module;
mod shell;
mod sync;

use arch::exceptions::{self, Handlers, Origin, Syndrome, TrapFrame};

static HANDLERS: Handlers = Handlers {
    irq: on_irq,
    sync: on_sync,
    unexpected: on_unexpected,
};

fn on_irq(_frame: &mut TrapFrame) {
    irq::dispatch();
}

fn on_sync(frame: &mut TrapFrame, origin: Origin, syn: Syndrome) {
    // A fault whose PC is in the text of the module being called fails that
    // call (the module is marked failed); anything else is fatal.
    if arch::modcall::fault_is_in_module(frame.elr) {
        klog::oops::module_fault(frame, origin, syn);
        arch::modcall::redirect(frame);
        return;
    }
    klog::oops::die_sync(frame, origin, syn);
}

fn on_unexpected(frame: &mut TrapFrame, what: &'static str) {
    let _ = core::fmt::Write::write_fmt(
        &mut console::Emergency,
        format_args!("Unexpected {what} at {:#x}\n", frame.elr),
    );
    klog::oops::die("unexpected exception");
}

/// Called by `boot.rs` on the boot CPU at EL1, MMU off, IRQs masked.
#[no_mangle]
pub extern "C" fn kernel_main(dtb: usize, entry_el: u64) -> ! {
    irq::time::init_boot_clock();
    let info = boot::early_init(dtb, entry_el);
    exceptions::init(&HANDLERS);
    boot::late_init(info);
    kmod::coldplug();
    kmod::mount_disk();
    shell::run()
}
