//! Kernel entry: from the boot CPU's first Rust instruction to the shell.
//!
//! `kernel_main` reads the device tree (the only source of truth for memory,
//! devices and the console), builds the page tables and turns the MMU on, then
//! brings up logging, memory, interrupts and the timer, and runs the shell. Each
//! step depends only on the ones before it; a missing DTB or a DTB without memory
//! stops the boot with a message on whatever console can be found.
//!
//! The rooms, lowest first; each uses only rooms below it (checked by
//! `tests/tests/layout.rs`): `arch` (the only place with assembly and system
//! registers), `sync`, `taint`, `machine` (what the device tree says), `mm` (pages,
//! heap, address space), `module` (registry, load, unload, exports), `kobject`
//! (objects modules provide, devfs), `irq` (interrupts, time, timers),
//! `smp` (secondary CPUs), `console`, `klog` (kernel log, oops, symbols), `fs` (paths, initrd, the mount of a module's file system),
//! `kmod` (modprobe, coldplug), `exports` (what the kernel exports to modules), `boot`,
//! `shell`.
//!
//! On the host (`cargo build --workspace`) this crate is an empty program that
//! says how to build the image: the kernel exists only for
//! `aarch64-unknown-none`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kernel: the kernel image builds only for aarch64-unknown-none: run `make kernel`");
    std::process::exit(1);
}

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod exports;
#[cfg(target_os = "none")]
mod fs;
#[cfg(target_os = "none")]
mod irq;
#[cfg(target_os = "none")]
mod klog;
#[cfg(target_os = "none")]
mod kmod;
#[cfg(target_os = "none")]
mod kobject;
#[cfg(target_os = "none")]
mod machine;
#[cfg(target_os = "none")]
mod mm;
#[cfg(target_os = "none")]
mod module;
#[cfg(target_os = "none")]
mod shell;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
mod sync;
#[cfg(target_os = "none")]
mod taint;

#[cfg(target_os = "none")]
use arch::exceptions::{self, Handlers, Origin, Syndrome, TrapFrame};

#[cfg(target_os = "none")]
static HANDLERS: Handlers = Handlers {
    irq: on_irq,
    sync: on_sync,
    unexpected: on_unexpected,
};

#[cfg(target_os = "none")]
fn on_irq(frame: &mut TrapFrame) {
    klog::oops::irq_enter(frame);
    irq::dispatch();
    klog::oops::irq_exit();
}

#[cfg(target_os = "none")]
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

#[cfg(target_os = "none")]
fn on_unexpected(frame: &mut TrapFrame, what: &'static str) {
    let _ = core::fmt::Write::write_fmt(
        &mut console::Emergency,
        format_args!("Unexpected {what} at {:#x}\n", frame.elr),
    );
    klog::oops::die("unexpected exception");
}

/// Called by `boot.rs` on the boot CPU at EL1, MMU off, IRQs masked.
#[cfg(target_os = "none")]
#[no_mangle]
pub extern "C" fn kernel_main(dtb: usize, entry_el: u64) -> ! {
    irq::time::init_boot_clock();
    let info = boot::early_init(dtb, entry_el);
    exceptions::init(&HANDLERS);
    boot::late_init(info);
    // This CPU's TLB counts for unmaps from now on; freed module images wait
    // for every CPU's flush (`mm::tlb`).
    mm::tlb::cpu_up();
    smp::boot_secondaries();
    kmod::coldplug();
    kmod::mount_disk();
    shell::run()
}
