//! PSCI calls (Arm DEN0022) through the conduit the device tree names.

use core::arch::asm;

pub use kcore::dt::PsciConduit as Conduit;

pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// Makes a PSCI call with no arguments; returns the firmware's result (it does not
/// return at all for SYSTEM_OFF/RESET when they work).
pub fn call(conduit: Conduit, function: u32) -> i64 {
    let mut x0 = function as u64;
    match conduit {
        // SAFETY: a PSCI call clobbers at most x0-x3 (SMCCC v1.0); we declare
        // x1-x3 clobbered and x0 as the result.
        Conduit::Hvc => unsafe {
            asm!("hvc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _, options(nostack))
        },
        // SAFETY: as above, through SMC.
        Conduit::Smc => unsafe {
            asm!("smc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _, options(nostack))
        },
    }
    x0 as i64
}
