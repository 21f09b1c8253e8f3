//! The EL1 virtual timer (CNTV), used for the periodic tick.
//!
//! The virtual timer works the same whether we entered at EL1 or dropped from EL2
//! (boot.rs sets CNTVOFF_EL2 to 0 there), so one code path serves both.

use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_TVAL_EL0};

/// Arms the timer to fire `ticks` counter ticks from now and enables it.
pub fn arm(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks.min(u32::MAX as u64));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops the timer.
#[allow(dead_code)] // used by the module subsystem
pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
}
