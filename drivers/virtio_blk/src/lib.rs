//! `virtio_blk`: virtio block devices (virtio 1.2, 5.2) as `/dev/vda`,
//! `/dev/vdb`, ...
//!
//! Init claims every virtio-mmio slot with a block device from `virtio_mmio`,
//! drives each with `virtio_drivers::device::blk::VirtIOBlk` over
//! `MmioTransport` (the kernel's DMA and MMIO exports as its `Hal`), registers
//! its interrupt (the handler acknowledges it) and a block device whose size is
//! the capacity from the config space. Reads and writes take byte offsets and
//! lengths that are multiples of 512; each request of up to 1 MiB is submitted
//! without blocking and its completion polled for at most 2 s. A request the
//! device does not answer fails with -ETIMEDOUT and the device is reset (so it
//! can no longer touch the caller's buffer) and marked dead (-EIO from then
//! on); an error status from the device is -EIO and logged.
//!
//! Invariants: each disk is reached only through its lock, and the interrupt
//! handler touches only the interrupt registers (never that lock, so it cannot
//! deadlock against the code it interrupted). Exit undoes init in reverse:
//! device, then the virtio device (reset, queue freed), interrupt, slot.
#![no_std]
#![deny(unsafe_code)]

use kabi::{errno, pr_err, pr_info, DeviceKind};
use spin::Mutex;
use virtio_common::{device_id, ClaimedSlot, DeviceRegistration, IrqRegistration, MmioRegs};

#[allow(unsafe_code)]
mod glue;

use glue::{Blk, Op};

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
    /// None once the device has been reset after a lost request.
    blk: Option<Blk>,
    irq: IrqRegistration,
    _slot: ClaimedSlot,
    regs: MmioRegs,
    /// Size of the virtio-mmio window, to bring the device up again.
    window: u64,
    name: [u8; 4],
    sectors: u64,
    readonly: bool,
}

impl Disk {
    fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..3]).unwrap_or("vd?")
    }
}

/// Disk `i` is `/dev/vd{a+i}`; the device's context is `i`.
static DISKS: [Mutex<Option<(Disk, DeviceRegistration)>>; MAX_DISKS] =
    [const { Mutex::new(None) }; MAX_DISKS];
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
    let cname = core::ffi::CStr::from_bytes_with_nul(&name).map_err(|_| errno::EINVAL)?;
    *IRQ_REGS[index].lock() = Some(regs);
    let irq = match IrqRegistration::request(s.irq, glue::blk_irq, index, cname) {
        Ok(irq) => irq,
        Err(e) => {
            pr_err!("{dev_name}: request_irq({}) failed: {}", s.irq, -e);
            *IRQ_REGS[index].lock() = None;
            return Err(e);
        }
    };
    let disk = Disk {
        blk: Some(blk),
        irq,
        _slot: slot,
        regs,
        window: s.size,
        name,
        sectors,
        readonly,
    };
    let bytes = sectors.saturating_mul(SECTOR_SIZE);
    let reg = match DeviceRegistration::register(DeviceKind::Block, cname, &glue::OPS, index, bytes)
    {
        Ok(reg) => reg,
        Err(e) => {
            pr_err!("{dev_name}: register_device failed: {}", -e);
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
            Ok(d) => *DISKS[found].lock() = Some(d),
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
        let mut entry = entry.lock();
        let Some((disk, reg)) = entry.take() else {
            continue;
        };
        if let Err((reg, e)) = reg.unregister() {
            pr_err!("{}: cannot unregister: error {}", disk.name(), e);
            *entry = Some((disk, reg));
            return Err(e);
        }
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
/// or flushes (`IoBuf::None`). A request the device does not answer in time
/// resets it; the driver then brings it up again (a disk that cannot be
/// brought up is dead: -EIO from then on) and fails this transfer with
/// -ETIMEDOUT. An error status is -EIO.
fn transfer(disk: &mut Disk, offset: u64, buf: glue::IoBuf<'_>) -> Result<(), i32> {
    let Some(blk) = disk.blk.as_mut() else {
        return Err(errno::EIO);
    };
    let timeout = if matches!(buf, glue::IoBuf::None) {
        FLUSH_TIMEOUT_US
    } else {
        REQUEST_TIMEOUT_US
    };
    let result = glue::transfer(blk, &disk.regs, offset / SECTOR_SIZE, buf, timeout);
    match result {
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
            bring_up_again(disk);
            Err(errno::ETIMEDOUT)
        }
        Err(RequestError::Broken(e)) => {
            pr_err!(
                "{}: device broke the queue protocol ({e}); resetting the device",
                disk.name()
            );
            bring_up_again(disk);
            Err(errno::EIO)
        }
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
    }
}

/// After a reset by `glue::transfer`: frees the old queue and initialises the
/// device again; a device that cannot be brought up leaves the disk dead
/// (-EIO from then on, until the module is reloaded).
fn bring_up_again(disk: &mut Disk) {
    // Dropping unsets the queue, resets the device again and frees the queue.
    disk.blk = None;
    match glue::new_blk(&disk.regs, disk.window) {
        Ok(blk) => {
            pr_info!("{}: device reset and brought up again", disk.name());
            disk.blk = Some(blk);
        }
        Err(e) => pr_err!(
            "{}: cannot bring the device up again: {e}; disk is dead",
            disk.name()
        ),
    }
}

/// Runs `f` on disk `index` under its lock: -ENODEV for no such disk, -EBUSY
/// if another call holds it.
fn with_disk<T>(index: usize, f: impl FnOnce(&mut Disk) -> Result<T, i32>) -> Result<T, i32> {
    let mut entry = DISKS
        .get(index)
        .ok_or(errno::ENODEV)?
        .try_lock()
        .ok_or(errno::EBUSY)?;
    let (disk, _) = entry.as_mut().ok_or(errno::ENODEV)?;
    f(disk)
}

/// The `read` operation of disk `index`.
fn read(index: usize, buf: &mut [u8], offset: u64) -> Result<usize, i32> {
    with_disk(index, |disk| {
        let n = clamp(disk, buf.len(), offset)?;
        if n > 0 {
            transfer(disk, offset, glue::IoBuf::Read(&mut buf[..n]))?;
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
            transfer(disk, offset, glue::IoBuf::Write(&buf[..n]))?;
        }
        Ok(n)
    })
}

/// The `flush` operation of disk `index`: a no-op for a device without a
/// write cache (no VIRTIO_BLK_F_FLUSH).
fn flush(index: usize) -> Result<(), i32> {
    with_disk(index, |disk| {
        let blk = disk.blk.as_ref().ok_or(errno::EIO)?;
        if !blk.has_flush() {
            return Ok(());
        }
        transfer(disk, 0, glue::IoBuf::None)
    })
}
