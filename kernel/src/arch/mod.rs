//! The one place that names the architecture.
//!
//! Everything outside `arch/` uses only the names re-exported here; inline assembly
//! and system-register access (`asm!`, `aarch64_cpu`) appear nowhere else. A port to
//! another architecture provides the same set of modules.
//!
//! Room `arch` (lowest): uses nothing of the kernel.

#[cfg(target_arch = "aarch64")]
mod aarch64;

#[cfg(all(target_arch = "aarch64", feature = "selftest"))]
pub use aarch64::fpsimd;
#[cfg(target_arch = "aarch64")]
pub use aarch64::{cpu, exceptions, gic as irqchip, mem, mmu, modcall, psci, smp, timer};
