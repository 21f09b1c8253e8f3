//! Slots of the virtio-mmio transport as device modules see them.
//!
//! `virtio_mmio` finds every `virtio,mmio` device-tree node at init and exports
//! `virtio_mmio_claim` and `virtio_mmio_release`; a device module imports them,
//! which makes it depend on `virtio_mmio` (`lsmod` shows it, `depmod` writes
//! it to modules.dep, and `rmmod virtio_mmio` is refused while it is loaded).
//! The signature text both sides record the version CRC of is written once, in
//! [`virtio_mmio_symbols!`].

use kabi::ThisModule;

/// Virtio device IDs (virtio 1.2, 5 "Device Types").
pub mod device_id {
    pub const BLOCK: u32 = 2;
    pub const ENTROPY: u32 = 4;
}

/// One virtio-mmio slot: its registers, interrupt and what the device
/// reported when the transport probed it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VirtioSlot {
    /// Physical base of the register window (the node's first `reg`).
    pub base: u64,
    /// Size of the window (0x200 on QEMU `virt`).
    pub size: u64,
    /// GIC INTID of the slot's interrupt (0: none in the device tree).
    pub irq: u32,
    /// Virtio device ID (0: no device behind this slot).
    pub device_id: u32,
    /// Transport version: 1 legacy, 2 modern (virtio 1.2, 4.2.2).
    pub version: u32,
    /// The slot's index in the transport's table (device-tree order).
    pub index: u32,
}

extern "C" {
    /// Claims the first unclaimed slot whose device has `device_id` for
    /// `owner`, fills `out` and returns its index; -ENODEV when there is none.
    pub fn virtio_mmio_claim(owner: *const ThisModule, device_id: u32, out: *mut VirtioSlot)
        -> i32;
    /// Gives back slot `index`, claimed by `owner`; 0, or -EINVAL if `owner`
    /// does not hold it.
    pub fn virtio_mmio_release(owner: *const ThisModule, index: u32) -> i32;
}

/// Expands `kabi::$macro!(symbol, "signature")` for both transport exports:
/// `virtio_mmio_symbols!(export_symbol)` in `virtio_mmio`,
/// `virtio_mmio_symbols!(import_version)` in each device module.
#[macro_export]
macro_rules! virtio_mmio_symbols {
    ($macro:ident) => {
        $crate::kabi::$macro!(
            virtio_mmio_claim,
            "(owner: *const ThisModule, device_id: u32, out: *mut VirtioSlot) -> i32"
        );
        $crate::kabi::$macro!(
            virtio_mmio_release,
            "(owner: *const ThisModule, index: u32) -> i32"
        );
    };
}

/// A slot this module holds; dropping it gives the slot back.
#[derive(Debug)]
pub struct ClaimedSlot {
    slot: VirtioSlot,
}

impl ClaimedSlot {
    /// Claims the next unclaimed slot with `device_id`; `Err(ENODEV)` if none.
    pub fn claim(device_id: u32) -> Result<Self, i32> {
        let mut slot = VirtioSlot::default();
        // SAFETY: `slot` is writable for the call; the owner is our own handle.
        let r = unsafe { virtio_mmio_claim(kabi::rt::this_module(), device_id, &mut slot) };
        if r < 0 {
            return Err(-r);
        }
        Ok(Self { slot })
    }

    pub fn slot(&self) -> &VirtioSlot {
        &self.slot
    }
}

impl Drop for ClaimedSlot {
    fn drop(&mut self) {
        // SAFETY: plain call with our own handle and the index we were given.
        let r = unsafe { virtio_mmio_release(kabi::rt::this_module(), self.slot.index) };
        if r < 0 {
            kabi::pr_err!(
                "virtio_mmio_release of slot {} failed: {}",
                self.slot.index,
                r
            );
        }
    }
}
