//! `virtio_mmio`: the virtio-over-MMIO transport (virtio 1.2, 4.2).
//!
//! Init finds every `virtio,mmio` device-tree node, maps its window and reads
//! the header: magic, version and device ID. It keeps a table of the slots and
//! exports `virtio_mmio_claim` (the next unclaimed slot with a device ID, for
//! one owner) and `virtio_mmio_release`. Device modules (`virtio_blk`,
//! `virtio_rng`) import both, so they depend on this module and it cannot be
//! unloaded while any of them is loaded.
//!
//! For each slot with a device it asks the kernel for the device's driver
//! by Linux's alias `virtio:dDDDDDDDDvVVVVVVVV` (`request_module`, served
//! after this init), so coldplug loads `virtio_blk` and `virtio_rng`.
//!
//! Invariant: a slot has at most one owner; the table is written only by init
//! and exit (which run while no device module is loaded) and by claim and
//! release under its lock.
#![no_std]
#![deny(unsafe_code)]

use kabi::{errno, pr_info, pr_warn, DtDevice, ThisModule};
use spin::Mutex;
use virtio_common::regs::MAGIC;
use virtio_common::{MmioRegs, VirtioSlot};

#[allow(unsafe_code)]
mod glue;

kabi::module! {
    name: "virtio_mmio",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "virtio-mmio transport: finds virtio,mmio slots and hands them to device drivers",
    alias: ["of:N*T*Cvirtio,mmio"],
    init: virtio_mmio_init,
    exit: virtio_mmio_exit,
}

/// QEMU `virt` has 32 slots.
const MAX_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    slot: VirtioSlot,
    /// The claiming module's handle, as an address; 0 when free.
    owner: usize,
}

struct Table {
    entries: [Entry; MAX_SLOTS],
    len: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    entries: [Entry {
        slot: VirtioSlot {
            base: 0,
            size: 0,
            irq: 0,
            device_id: 0,
            version: 0,
            index: 0,
        },
        owner: 0,
    }; MAX_SLOTS],
    len: 0,
});

fn device_name(id: u32) -> &'static str {
    // virtio 1.2, 5 "Device Types".
    match id {
        1 => "network",
        2 => "block",
        3 => "console",
        4 => "entropy",
        5 => "balloon",
        9 => "9p",
        16 => "gpu",
        18 => "input",
        19 => "vsock",
        _ => "unknown",
    }
}

fn node_name(dev: &DtDevice) -> &str {
    let len = dev
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(dev.name.len());
    core::str::from_utf8(&dev.name[..len]).unwrap_or("?")
}

/// Reads one slot's header; None (with a warning) if it is not a usable
/// virtio-mmio window.
fn probe(dev: &DtDevice, index: u32) -> Option<VirtioSlot> {
    // The node's name only for messages and the driver request: most of the
    // 32 slots are empty and need neither.
    let name = || node_name(dev);
    if dev.nregs == 0 {
        pr_warn!("{}: no reg property; skipped", name());
        return None;
    }
    let mut slot = VirtioSlot {
        base: dev.reg_base[0],
        size: dev.reg_size[0],
        irq: if dev.nirqs > 0 { dev.irqs[0] } else { 0 },
        device_id: 0,
        version: 0,
        index,
    };
    let Some(regs) = MmioRegs::map(&slot) else {
        pr_warn!(
            "{}: cannot map {:#x}+{:#x}; skipped",
            name(),
            slot.base,
            slot.size
        );
        return None;
    };
    let magic = regs.magic();
    if magic != MAGIC {
        pr_warn!(
            "{}: wrong magic value {magic:#010x} (expected {MAGIC:#010x}); skipped",
            name()
        );
        return None;
    }
    slot.version = regs.version();
    if !matches!(slot.version, 1 | 2) {
        pr_warn!(
            "{}: unsupported virtio-mmio version {}; skipped",
            name(),
            slot.version
        );
        return None;
    }
    slot.device_id = regs.device_id();
    if slot.device_id != 0 {
        let name = name();
        glue::request_driver(name, slot.device_id, regs.vendor_id());
        pr_info!(
            "{name}: virtio device {} ({}), vendor {:#x}, version {}, irq {}",
            slot.device_id,
            device_name(slot.device_id),
            regs.vendor_id(),
            slot.version,
            slot.irq
        );
    }
    Some(slot)
}

fn virtio_mmio_init() -> Result<(), i32> {
    let mut table = TABLE.lock();
    table.len = 0;
    let mut nodes = 0u32;
    let mut devices = 0;
    while let Some(dev) = glue::dt_find_compatible(c"virtio,mmio", nodes) {
        if table.len == MAX_SLOTS {
            pr_warn!("more than {MAX_SLOTS} virtio,mmio nodes; the rest are ignored");
            break;
        }
        let index = table.len as u32;
        if let Some(slot) = probe(&dev, index) {
            devices += usize::from(slot.device_id != 0);
            let len = table.len;
            table.entries[len] = Entry { slot, owner: 0 };
            table.len += 1;
        }
        nodes += 1;
    }
    if nodes == 0 {
        pr_warn!("no virtio,mmio node in the device tree");
    }
    pr_info!("{} slots, {} with a device", table.len, devices);
    Ok(())
}

fn virtio_mmio_exit() -> Result<(), i32> {
    let mut table = TABLE.lock();
    let len = table.len;
    if let Some(e) = table.entries[..len].iter().find(|e| e.owner != 0) {
        // Cannot happen while the kernel keeps its rules (a claimer imports
        // from us, so it holds us); refuse rather than forget a claim.
        kabi::pr_err!("slot {} is still claimed; refusing to unload", e.slot.index);
        return Err(errno::EBUSY);
    }
    table.len = 0;
    Ok(())
}

/// Claims the first unclaimed slot with `device_id` for `owner`.
fn claim(owner: *const ThisModule, device_id: u32) -> Result<VirtioSlot, i32> {
    if owner.is_null() || device_id == 0 {
        return Err(errno::EINVAL);
    }
    let mut table = TABLE.lock();
    let len = table.len;
    let entry = table.entries[..len]
        .iter_mut()
        .find(|e| e.owner == 0 && e.slot.device_id == device_id)
        .ok_or(errno::ENODEV)?;
    entry.owner = owner as usize;
    Ok(entry.slot)
}

/// Releases slot `index` if `owner` holds it.
fn release(owner: *const ThisModule, index: u32) -> Result<(), i32> {
    let mut table = TABLE.lock();
    let len = table.len;
    let entry = table.entries[..len]
        .get_mut(index as usize)
        .filter(|e| e.owner == owner as usize && !owner.is_null())
        .ok_or(errno::EINVAL)?;
    entry.owner = 0;
    Ok(())
}
