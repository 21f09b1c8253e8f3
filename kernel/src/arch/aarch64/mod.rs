//! AArch64 support: boot entry, exception vectors, MMU, GIC, generic timer, PSCI.

mod boot;
pub mod cpu;
pub mod exceptions;
pub mod fpsimd;
pub mod gic;
pub mod mem;
pub mod mmu;
pub mod modcall;
pub mod psci;
pub mod smp;
pub mod timer;
