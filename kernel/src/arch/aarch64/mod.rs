//! AArch64 support: boot entry, exception vectors, MMU, GIC, generic timer, PSCI.

mod boot;
mod mem;
pub mod cpu;
pub mod exceptions;
pub mod gic;
pub mod mmu;
pub mod modcall;
pub mod psci;
pub mod smp;
pub mod timer;
