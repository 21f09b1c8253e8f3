//! The virtio-mmio header registers the modules read or write themselves
//! (virtio 1.2, 4.2.2 "MMIO Device Register Layout"). Everything else about
//! the transport is `virtio_drivers::transport::mmio::MmioTransport`'s.

use crate::VirtioSlot;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// The start of a virtio-mmio register window.
    pub Header {
        /// 0x74726976, "virt" in little-endian ASCII.
        (0x000 => magic: ReadOnly<u32>),
        /// 1 legacy, 2 modern.
        (0x004 => version: ReadOnly<u32>),
        /// 0: no device behind this slot ("a placeholder", 4.2.2).
        (0x008 => device_id: ReadOnly<u32>),
        (0x00c => vendor_id: ReadOnly<u32>),
        (0x010 => _reserved0),
        /// Bit 0: used buffer notification; bit 1: configuration change.
        (0x060 => interrupt_status: ReadOnly<u32>),
        /// Writing the bits read from InterruptStatus acknowledges them.
        (0x064 => interrupt_ack: WriteOnly<u32>),
        (0x068 => _reserved1),
        /// Device status; writing 0 resets the device (2.4 "Device Reset").
        (0x070 => status: ReadWrite<u32>),
        (0x074 => _reserved2),
        (0x100 => @END),
    }
}

/// "virt" (virtio 1.2, 4.2.2: MagicValue).
pub const MAGIC: u32 = 0x7472_6976;

/// A mapped virtio-mmio register window.
///
/// It aliases the window `MmioTransport` drives; that is sound because every
/// access on both sides is a volatile access to device memory (no Rust
/// reference to the bytes is ever formed: tock-registers keeps each register
/// in an `UnsafeCell`), and the registers used here (identification, the
/// interrupt acknowledge, the reset) are each a single 32-bit access the
/// device handles atomically.
#[derive(Clone, Copy)]
pub struct MmioRegs {
    header: &'static Header,
    /// Bytes the kernel mapped (at least the header).
    size: usize,
}

// SAFETY: the registers are device memory reached only by volatile accesses;
// sharing the window between CPUs and an interrupt handler is what it is for.
unsafe impl Sync for MmioRegs {}
// SAFETY: as above.
unsafe impl Send for MmioRegs {}

impl MmioRegs {
    /// Maps `slot`'s window with the kernel's `ioremap`; None if the kernel
    /// refuses (not a device the device tree describes) or the window is
    /// smaller than the header.
    pub fn map(slot: &VirtioSlot) -> Option<Self> {
        let size = usize::try_from(slot.size).ok()?;
        if size < core::mem::size_of::<Header>() {
            return None;
        }
        // SAFETY: plain call; the kernel checks the range itself.
        let ptr = unsafe { kabi::sys::ioremap(slot.base, size) };
        if ptr.is_null() || ptr.align_offset(core::mem::align_of::<Header>()) != 0 {
            return None;
        }
        // Boot-time device mappings are never removed (`iounmap` is a no-op).
        // SAFETY: an aligned (checked) mapping of at least a Header, 'static.
        let header = unsafe { &*ptr.cast::<Header>() };
        Some(Self { header, size })
    }

    /// The kernel-virtual address of the window, for `MmioTransport::new`.
    pub fn as_ptr(&self) -> *mut u8 {
        core::ptr::from_ref(self.header).cast_mut().cast()
    }

    /// Bytes mapped: the whole window, header and device configuration.
    pub fn window_size(&self) -> usize {
        self.size
    }

    pub fn magic(&self) -> u32 {
        self.header.magic.get()
    }
    pub fn version(&self) -> u32 {
        self.header.version.get()
    }
    pub fn device_id(&self) -> u32 {
        self.header.device_id.get()
    }
    pub fn vendor_id(&self) -> u32 {
        self.header.vendor_id.get()
    }

    /// Reads and acknowledges pending interrupt causes; returns them (0: the
    /// interrupt was not this device's).
    pub fn ack_interrupt(&self) -> u32 {
        let pending = self.header.interrupt_status.get();
        if pending != 0 {
            self.header.interrupt_ack.set(pending);
        }
        pending
    }

    /// Resets the device: afterwards it touches none of the buffers it was
    /// given (virtio 1.2, 2.4.1: "the device MUST NOT send notifications or
    /// interact with the queues after ... reset").
    pub fn reset(&self) {
        self.header.status.set(0);
    }
}
