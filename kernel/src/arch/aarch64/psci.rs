//! PSCI calls (Arm DEN0022) through the conduit the device tree names.

use core::arch::asm;

pub use kcore::dt::PsciConduit as Conduit;

pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// CPU_ON, SMC64 calling convention (DEN0022 5.1.4).
pub const CPU_ON_64: u32 = 0xc400_0003;

/// Makes a PSCI call with no arguments; returns the firmware's result (it does not
/// return at all for SYSTEM_OFF/RESET when they work).
pub fn call(conduit: Conduit, function: u32) -> i64 {
    call3(conduit, function, 0, 0, 0)
}

/// Makes a PSCI call with three arguments (x1-x3).
pub fn call3(conduit: Conduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = function as u64;
    match conduit {
        // SAFETY: a PSCI call clobbers at most x0-x3 (SMCCC v1.0); x0 is the result, x1-x3 the arguments (then clobbered).
        Conduit::Hvc => unsafe {
            asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                 inout("x3") a3 => _, options(nostack))
        },
        // SAFETY: as above, through SMC.
        Conduit::Smc => unsafe {
            asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _,
                 inout("x3") a3 => _, options(nostack))
        },
    }
    x0 as i64
}
