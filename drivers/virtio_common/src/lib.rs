//! `virtio_common`: what the virtio modules share. Not a module itself (an
//! rlib: build-modules.sh links only staticlib crates); its code is linked into
//! each module that uses it.
//!
//! - [`slot`]: the [`VirtioSlot`] the transport module `virtio_mmio` hands out,
//!   its two exports and their one signature text ([`virtio_mmio_symbols!`]),
//!   and [`ClaimedSlot`], whose `Drop` gives the slot back.
//! - [`regs`]: the few virtio-mmio header registers the modules touch
//!   themselves (identification, interrupt acknowledge, reset), as a
//!   tock-registers block mapped through the kernel's `ioremap`.
//! - [`hal`]: `virtio_drivers::Hal` over the kernel's DMA and MMIO exports.
//! - [`kobj`]: the interrupt handler and device a driver registers, as
//!   handles, and virtio-drivers' MMIO transport over a claimed slot.
//!
//! All of the `unsafe` the virtio drivers need lives here, at the ABI boundary;
//! the device modules only call the safe wrappers (and the unsafe
//! non-blocking request calls of virtio-drivers, in one glue file each).
#![no_std]

pub use kabi;

pub mod hal;
pub mod kobj;
pub mod regs;
pub mod slot;

pub use hal::KernelHal;
pub use kobj::{mmio_transport, DeviceRegistration, IrqRegistration};
pub use regs::MmioRegs;
pub use slot::{device_id, ClaimedSlot, VirtioSlot};

/// Waits until `done()` is true or `timeout_us` has passed (by the kernel's
/// `ktime_us`); false on timeout. Requests wait for the used ring this way so
/// that a device that never answers fails the request instead of hanging the
/// caller. Between checks the CPU sleeps until the next interrupt (the
/// device's completion interrupt, or the timer tick within 10 ms), with
/// interrupts masked around the last check so that a completion arriving
/// just before the sleep still ends it. Sleeping instead of spinning leaves
/// the host's CPUs to the device model under emulation.
pub fn poll_until(timeout_us: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = ktime_us().saturating_add(timeout_us);
    loop {
        if done() {
            return true;
        }
        if ktime_us() > deadline {
            // One last look: the answer may have come while we were late.
            return done();
        }
        // SAFETY: masking interrupts on this CPU has no preconditions; the state is restored below.
        let flags = unsafe { kabi::sys::local_irq_save() };
        if !done() {
            // SAFETY: WFI has no preconditions; a pending interrupt ends it even while masked.
            unsafe { kabi::sys::cpu_wait_irq() };
        }
        // SAFETY: `flags` came from the `local_irq_save` above.
        unsafe { kabi::sys::local_irq_restore(flags) };
    }
}

/// Microseconds since boot.
pub fn ktime_us() -> u64 {
    // SAFETY: no arguments; the kernel's clock read has no preconditions.
    unsafe { kabi::sys::ktime_us() }
}
