//! Starting secondary CPUs: the registers a secondary needs to turn its MMU on
//! with the boot CPU's page tables, and PSCI CPU_ON with `secondary_entry`
//! (boot.rs) as the entry point.

use super::psci;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use core::arch::asm;

/// Read by `secondary_entry` with its MMU and caches off (field order is its
/// load offsets: 0, 8, 16, 24).
#[repr(C, align(64))]
pub struct SecondaryBoot {
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
}

#[no_mangle]
static mut SECONDARY_BOOT: SecondaryBoot = SecondaryBoot {
    mair: 0,
    tcr: 0,
    ttbr0: 0,
    sctlr: 0,
};

extern "C" {
    /// The secondary CPUs' first instruction (boot.rs).
    fn secondary_entry();
}

/// Records the boot CPU's translation registers for the secondaries and cleans
/// them to the point of coherency, where a CPU with its caches off reads.
pub fn prepare() {
    let boot = SecondaryBoot {
        mair: MAIR_EL1.get(),
        tcr: TCR_EL1.get(),
        ttbr0: TTBR0_EL1.get(),
        sctlr: SCTLR_EL1.get(),
    };
    let addr = core::ptr::addr_of_mut!(SECONDARY_BOOT);
    // SAFETY: written only here, on the boot CPU, before any secondary starts (CPU_ON follows); the secondaries only read it.
    unsafe { addr.write_volatile(boot) };
    // SAFETY: `dc civac` on the block's one cache line (it is 64-byte aligned and 32 bytes long) only writes it back and invalidates it.
    unsafe { asm!("dc civac, {}", in(reg) addr as usize, options(nostack, preserves_flags)) };
    barrier::dsb(barrier::SY);
}

/// PSCI CPU_ON for the CPU with affinity `mpidr`, entering `secondary_entry`
/// with `number` (its CPU number) in x0. Returns PSCI's result (0: success).
pub fn cpu_on(conduit: psci::Conduit, mpidr: u64, number: usize) -> i64 {
    psci::call3(
        conduit,
        psci::CPU_ON_64,
        mpidr,
        secondary_entry as *const () as u64,
        number as u64,
    )
}
