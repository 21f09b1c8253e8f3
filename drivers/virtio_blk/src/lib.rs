//! `virtio_blk`: virtio block devices (virtio 1.2, 5.2) as `/dev/vda`,
//! `/dev/vdb`, ...
//!
//! Init claims every virtio-mmio slot with a block device from `virtio_mmio`,
//! drives each over virtio-drivers' `VirtQueue` and
//! `MmioTransport` (the kernel's DMA and MMIO exports as its `Hal`), registers
//! its interrupt (the handler acknowledges it) and a block device whose size is
//! the capacity from the config space. Reads and writes take byte offsets and
//! lengths that are multiples of 512; a transfer is split into requests of up
//! to 256 KiB, several in flight, each waited for at most 2 s. A request the
//! device does not answer fails with -ETIMEDOUT and the device is reset (so it
//! can no longer touch any caller's buffer) and brought up again (dead, -EIO
//! from then on, if it cannot be); an error status from the device is -EIO
//! and logged.
//!
//! Several CPUs read and write one disk at once: each transfer holds the
//! disk's queue lock only to submit its requests and to complete answered
//! ones, so requests of every CPU are with the device together; whichever
//! waiting CPU looks first completes all that were answered
//! (`glue::transfer`). The lock is a plain spin lock, not a ticket lock: under
//! QEMU, when vCPUs outnumber host cores, a ticket lock hands the lock to a
//! waiter whose vCPU may not be running, and every CPU waits for the host to
//! run it (measured: 4 CPUs read at 0.04x of one CPU's rate, 0.5-0.65x with
//! this lock).
//!
//! Invariants: a disk's device and queue are reached only through its queue
//! lock; the disk itself is read-shared by transfers and taken exclusively
//! only to add or remove it (when nothing has it open). The interrupt handler
//! touches only the interrupt registers (never those locks, so it cannot
//! deadlock against the code it interrupted). Exit undoes init in reverse:
//! device, then the virtio device (reset, queue freed), interrupt, slot.
#![no_std]
#![deny(unsafe_code)]

use kabi::{errno, pr_err, pr_info, DeviceKind};
use spin::{Mutex, RwLock};
use virtio_common::{device_id, ClaimedSlot, DeviceRegistration, IrqRegistration, MmioRegs};

#[allow(unsafe_code)]
mod glue;

use glue::Op;

kabi::module! {
    name: "virtio_blk",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "virtio block device driver: /dev/vda, /dev/vdb, ...",
    alias: ["virtio:d00000002v*"],
    init: virtio_blk_init,
    exit: virtio_blk_exit,
}

virtio_common::virtio_mmio_symbols!(import_version);

const SECTOR_SIZE: u64 = 512;
/// How long a read or write request may take before it is declared lost.
const REQUEST_TIMEOUT_US: u64 = 2_000_000;
/// How long a flush may take (the host may write back a large cache); Linux's
/// default block request timeout.
const FLUSH_TIMEOUT_US: u64 = 30_000_000;
const MAX_DISKS: usize = 8;
/// Linux's EROFS (not in kabi::errno).
const EROFS: i32 = 30;

/// One disk. Fields drop in order: the virtio device (reset), its interrupt,
/// its slot; the device registration is undone explicitly first (it can fail).
pub struct Disk {
    irq: IrqRegistration,
    _slot: ClaimedSlot,
    regs: MmioRegs,
    /// Size of the virtio-mmio window, to bring the device up again.
    window: u64,
    name: [u8; 4],
    sectors: u64,
    readonly: bool,
    /// The device has a write cache to flush (VIRTIO_BLK_F_FLUSH).
    has_flush: bool,
}

impl Disk {
    fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..3]).unwrap_or("vd?")
    }
}

/// Disk `i` is `/dev/vd{a+i}`; the device's context is `i`.
static DISKS: [RwLock<Option<(Disk, DeviceRegistration)>>; MAX_DISKS] =
    [const { RwLock::new(None) }; MAX_DISKS];
/// The device and request queue of disk `i` (see the invariants).
static QUEUES: [Mutex<glue::Queue>; MAX_DISKS] =
    [const { Mutex::new(glue::Queue::new()) }; MAX_DISKS];
/// Interrupt registers of disk `i`, for the handler (see the invariants).
static IRQ_REGS: [Mutex<Option<MmioRegs>>; MAX_DISKS] = [const { Mutex::new(None) }; MAX_DISKS];

/// The interrupt handler's work: acknowledge whatever disk `index` raised.
fn handle_irq(index: usize) {
    if let Some(Some(regs)) = IRQ_REGS.get(index).and_then(|r| r.try_lock()).as_deref() {
        regs.ack_interrupt();
    }
}

/// Sets up the device behind `slot` as disk `index`.
fn probe(index: usize, slot: ClaimedSlot) -> Result<(Disk, DeviceRegistration), i32> {
    let name = [b'v', b'd', b'a' + index as u8, 0];
    let dev_name = core::str::from_utf8(&name[..3]).unwrap_or("vd?");
    let s = *slot.slot();
    let Some(regs) = MmioRegs::map(&s) else {
        pr_err!(
            "{dev_name}: cannot map virtio-mmio slot at {:#x}+{:#x}",
            s.base,
            s.size
        );
        return Err(errno::ENODEV);
    };
    let blk = glue::new_blk(&regs, s.size).map_err(|e| {
        pr_err!("{dev_name}: virtio-mmio slot at {:#x}: {e}", s.base);
        errno::EIO
    })?;
    let sectors = blk.capacity();
    let readonly = blk.readonly();
    let has_flush = blk.has_flush();
    QUEUES[index].lock().blk = Some(blk);
    let cname = core::ffi::CStr::from_bytes_with_nul(&name).map_err(|_| errno::EINVAL)?;
    *IRQ_REGS[index].lock() = Some(regs);
    let irq = match IrqRegistration::request(s.irq, glue::blk_irq, index, cname) {
        Ok(irq) => irq,
        Err(e) => {
            pr_err!("{dev_name}: request_irq({}) failed: {}", s.irq, -e);
            QUEUES[index].lock().blk = None;
            *IRQ_REGS[index].lock() = None;
            return Err(e);
        }
    };
    let disk = Disk {
        irq,
        _slot: slot,
        regs,
        window: s.size,
        name,
        sectors,
        readonly,
        has_flush,
    };
    let bytes = sectors.saturating_mul(SECTOR_SIZE);
    let reg = match DeviceRegistration::register(DeviceKind::Block, cname, &glue::OPS, index, bytes)
    {
        Ok(reg) => reg,
        Err(e) => {
            pr_err!("{dev_name}: register_device failed: {}", -e);
            QUEUES[index].lock().blk = None;
            drop(disk);
            *IRQ_REGS[index].lock() = None;
            return Err(e);
        }
    };
    pr_info!(
        "{dev_name}: {} 512-byte logical blocks ({} MB/{} MiB){}, virtio-mmio at {:#x} irq {}",
        sectors,
        bytes / 1_000_000,
        bytes >> 20,
        if readonly { ", read-only" } else { "" },
        s.base,
        disk.irq.intid(),
    );
    Ok((disk, reg))
}

fn virtio_blk_init() -> Result<(), i32> {
    let mut found = 0;
    while found < MAX_DISKS {
        let slot = match ClaimedSlot::claim(device_id::BLOCK) {
            Ok(s) => s,
            Err(errno::ENODEV) => break,
            Err(e) => {
                // Nothing registered by this load is open yet: removal succeeds.
                let _ = remove_all();
                return Err(e);
            }
        };
        match probe(found, slot) {
            Ok(d) => *DISKS[found].write() = Some(d),
            Err(e) => {
                // Nothing registered by this load is open yet: removal succeeds.
                let _ = remove_all();
                return Err(e);
            }
        }
        found += 1;
    }
    if found == 0 {
        pr_err!("no virtio block device: no unclaimed virtio-mmio slot with device ID 2");
        return Err(errno::ENODEV);
    }
    Ok(())
}

/// Unregisters and frees every disk; refuses (and keeps the rest) at the
/// first one still in use.
fn remove_all() -> Result<(), i32> {
    for (index, entry) in DISKS.iter().enumerate() {
        let mut entry = entry.write();
        let Some((disk, reg)) = entry.take() else {
            continue;
        };
        if let Err((reg, e)) = reg.unregister() {
            pr_err!("{}: cannot unregister: error {}", disk.name(), e);
            *entry = Some((disk, reg));
            return Err(e);
        }
        // The device first (reset, queue freed), then the interrupt, slot.
        QUEUES[index].lock().blk = None;
        drop(disk);
        *IRQ_REGS[index].lock() = None;
    }
    Ok(())
}

fn virtio_blk_exit() -> Result<(), i32> {
    remove_all()
}

/// A transfer's outcome from the device.
pub enum RequestError {
    /// The queue refused the request (virtio-drivers' error).
    Submit(virtio_drivers::Error),
    /// The device broke the queue protocol (virtio-drivers' error); it has
    /// been reset.
    Broken(virtio_drivers::Error),
    /// No answer within the deadline; the device has been reset.
    Timeout { op: Op, sector: u64, len: usize },
    /// Another CPU's request timed out and reset the device meanwhile.
    Abandoned { op: Op, sector: u64, len: usize },
    /// The device could not be brought up again after a reset.
    Dead,
    /// The device answered with an error status (virtio 1.2, 5.2.6: 1 IOERR,
    /// 2 UNSUPP).
    Device {
        op: Op,
        sector: u64,
        len: usize,
        status: u8,
    },
}

/// Checks a byte range against the disk and the 512-byte rule; the number of
/// bytes to transfer (0 at or past the end).
fn clamp(disk: &Disk, len: usize, offset: u64) -> Result<usize, i32> {
    if !offset.is_multiple_of(SECTOR_SIZE) || !(len as u64).is_multiple_of(SECTOR_SIZE) {
        return Err(errno::EINVAL);
    }
    let size = disk.sectors.saturating_mul(SECTOR_SIZE);
    let left = size.saturating_sub(offset);
    Ok(len.min(usize::try_from(left).unwrap_or(usize::MAX)))
}

/// Reads or writes `buf.len()` bytes at `offset` (both checked by `clamp`),
/// or flushes (`IoBuf::None`), on disk `index`. A request the device does
/// not answer in time resets it; the driver then brings it up again (a disk
/// that cannot be brought up is dead: -EIO from then on) and fails this
/// transfer with -ETIMEDOUT, and other CPUs' transfers in flight with -EIO.
/// An error status is -EIO.
fn transfer(index: usize, disk: &Disk, offset: u64, buf: glue::IoBuf<'_>) -> Result<(), i32> {
    let timeout = if matches!(buf, glue::IoBuf::None) {
        FLUSH_TIMEOUT_US
    } else {
        REQUEST_TIMEOUT_US
    };
    let mut restarted = None;
    let result = glue::transfer(
        &QUEUES[index],
        &disk.regs,
        disk.window,
        offset / SECTOR_SIZE,
        buf,
        timeout,
        &mut restarted,
    );
    let r = match result {
        Ok(()) => Ok(()),
        Err(RequestError::Timeout { op, sector, len }) => {
            pr_err!(
                "{}: {} of sector {} (+{}) timed out after {} ms; resetting the device",
                disk.name(),
                op.name(),
                sector,
                len / 512,
                timeout / 1000
            );
            Err(errno::ETIMEDOUT)
        }
        Err(RequestError::Broken(e)) => {
            pr_err!(
                "{}: device broke the queue protocol ({e}); resetting the device",
                disk.name()
            );
            Err(errno::EIO)
        }
        Err(RequestError::Abandoned { op, sector, len }) => {
            pr_err!(
                "{}: {} of sector {} (+{}) aborted: the device was reset",
                disk.name(),
                op.name(),
                sector,
                len / 512
            );
            Err(errno::EIO)
        }
        Err(RequestError::Dead) => Err(errno::EIO),
        Err(RequestError::Device {
            op,
            sector,
            len,
            status,
        }) => {
            pr_err!(
                "{}: I/O error, sector {} (+{}) op {}: device status {} ({})",
                disk.name(),
                sector,
                len / 512,
                op.name(),
                status,
                match status {
                    1 => "IOERR",
                    2 => "UNSUPP",
                    _ => "unknown",
                }
            );
            Err(errno::EIO)
        }
        Err(RequestError::Submit(e)) => {
            pr_err!("{}: request failed: {e}", disk.name());
            Err(errno::EIO)
        }
    };
    if let Some(restart) = restarted {
        match restart.brought_up {
            Ok(()) => pr_info!("{}: device reset and brought up again", disk.name()),
            Err(e) => pr_err!(
                "{}: cannot bring the device up again: {e}; disk is dead",
                disk.name()
            ),
        }
    }
    r
}

/// Runs `f` on disk `index` (-ENODEV for no such disk). Other CPUs' calls
/// on the same disk run at the same time (see `glue::transfer`).
fn with_disk<T>(index: usize, f: impl FnOnce(&Disk) -> Result<T, i32>) -> Result<T, i32> {
    let entry = DISKS.get(index).ok_or(errno::ENODEV)?.read();
    let (disk, _) = entry.as_ref().ok_or(errno::ENODEV)?;
    f(disk)
}

/// The `read` operation of disk `index`.
fn read(index: usize, buf: &mut [u8], offset: u64) -> Result<usize, i32> {
    with_disk(index, |disk| {
        let n = clamp(disk, buf.len(), offset)?;
        if n > 0 {
            transfer(index, disk, offset, glue::IoBuf::Read(&mut buf[..n]))?;
        }
        Ok(n)
    })
}

/// The `write` operation of disk `index`.
fn write(index: usize, buf: &[u8], offset: u64) -> Result<usize, i32> {
    with_disk(index, |disk| {
        if disk.readonly {
            return Err(EROFS);
        }
        let n = clamp(disk, buf.len(), offset)?;
        if n == 0 && !buf.is_empty() {
            return Err(errno::ENOSPC);
        }
        if n > 0 {
            transfer(index, disk, offset, glue::IoBuf::Write(&buf[..n]))?;
        }
        Ok(n)
    })
}

/// The `flush` operation of disk `index`: a no-op for a device without a
/// write cache (no VIRTIO_BLK_F_FLUSH).
fn flush(index: usize) -> Result<(), i32> {
    with_disk(index, |disk| {
        if !disk.has_flush {
            return Ok(());
        }
        transfer(index, disk, 0, glue::IoBuf::None)
    })
}
