//! The machine as the device tree describes it: facts of this boot (bootargs,
//! RAM, initrd, PSCI conduit, GIC, timer) and the list of device nodes.
//!
//! Owns [`BootInfo`], set once by `boot::late_init`, and the cached device
//! list. Uses nothing of the kernel but `kcore`'s DT queries: every room above
//! may ask it what the machine is.

use alloc::string::String;
use kcore::dt::{self, GicInfo, PsciConduit};
use kcore::memrange::{Range, RangeSet};

/// Facts about this boot, for the shell and later subsystems.
// `entry_el` and `gic` are kept for the debugger and for later bring-up steps.
#[allow(dead_code)]
pub struct BootInfo {
    pub dtb: &'static [u8],
    pub entry_el: u64,
    pub bootargs: String,
    pub psci: Option<PsciConduit>,
    pub panic_timeout: Option<u32>,
    pub ram: RangeSet<8>,
    pub initrd: Option<Range>,
    pub gic: GicInfo,
    pub timer_irq: u32,
    /// Device ranges mapped Device-nGnRE (what `ioremap` may hand out).
    pub device_maps: RangeSet<64>,
    /// The MPIDR of every CPU node under `/cpus`, in tree order.
    pub cpus: alloc::vec::Vec<u64>,
    /// How many CPU nodes the tree describes (more than `cpus` holds when
    /// it describes more than `kcore::dtboot::MAX_DT_CPUS`).
    pub cpus_described: usize,
}

static BOOT_INFO: crate::sync::Once<BootInfo> = crate::sync::Once::new();

/// Records the facts of this boot (once, at the end of `late_init`).
pub fn set_boot_info(info: BootInfo) {
    BOOT_INFO.call_once(|| info);
}

pub fn boot_info() -> Option<&'static BootInfo> {
    BOOT_INFO.get()
}

static DEVICES: crate::sync::Once<alloc::vec::Vec<dt::Device<'static>>> = crate::sync::Once::new();

/// Every device-tree node with a `compatible`, parsed once (on first use) from
/// the DTB, which stays in reserved RAM for good. Walking the tree costs
/// milliseconds under TCG; drivers ask for their nodes one index at a time, so
/// each query walking it again made a 32-slot probe quadratic.
pub fn devices() -> &'static [dt::Device<'static>] {
    DEVICES.call_once(|| {
        boot_info()
            .filter(|b| kcore::dtboot::total_size(b.dtb).is_some())
            .map(|b| kcore::dtwalk::devices(b.dtb).collect())
            .unwrap_or_default()
    })
}
