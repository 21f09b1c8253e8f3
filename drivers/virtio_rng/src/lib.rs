//! `virtio_rng`: the virtio entropy device (virtio 1.2, 5.4) as the character
//! device `/dev/hwrng`, whose reads return random bytes from the device.
//!
//! virtio-drivers' `VirtIORng` only has a blocking request, so this module
//! drives the one virtqueue itself (`VirtQueue` from virtio-drivers): each read
//! posts the caller's buffer, polls the used ring for at most 1 s
//! (-ETIMEDOUT, device reset and dead after that) and returns what the device
//! wrote. Init claims the first entropy slot from `virtio_mmio`; exit
//! unregisters `hwrng` and undoes the rest in reverse.
//!
//! Invariant: the device is reached only through [`RNG`]'s lock; the interrupt
//! handler touches only the interrupt registers, through [`IRQ_REGS`].
#![no_std]
#![deny(unsafe_code)]

use kabi::{errno, pr_err, pr_info, DeviceKind};
use spin::Mutex;
use virtio_common::{device_id, ClaimedSlot, DeviceRegistration, IrqRegistration, MmioRegs};

#[allow(unsafe_code)]
mod glue;

kabi::module! {
    name: "virtio_rng",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "virtio entropy device driver: /dev/hwrng",
    alias: ["virtio:d00000004v*"],
    init: virtio_rng_init,
    exit: virtio_rng_exit,
}

virtio_common::virtio_mmio_symbols!(import_version);

/// How long one request may take.
const REQUEST_TIMEOUT_US: u64 = 1_000_000;
/// Largest read handed to the device at once.
const MAX_REQUEST: usize = 64 * 1024;

/// The device and what it holds. Fields drop in order: the virtio device
/// (reset, queue freed), the interrupt, the slot.
struct Hwrng {
    /// None once the device has been reset after a lost request.
    rng: Option<glue::Rng>,
    _irq: IrqRegistration,
    _slot: ClaimedSlot,
    regs: MmioRegs,
}

static RNG: Mutex<Option<(Hwrng, DeviceRegistration)>> = Mutex::new(None);
static IRQ_REGS: Mutex<Option<MmioRegs>> = Mutex::new(None);

fn handle_irq() {
    if let Some(Some(regs)) = IRQ_REGS.try_lock().as_deref() {
        regs.ack_interrupt();
    }
}

fn virtio_rng_init() -> Result<(), i32> {
    let slot = ClaimedSlot::claim(device_id::ENTROPY).inspect_err(|&e| {
        if e == errno::ENODEV {
            pr_err!("no virtio entropy device: no unclaimed virtio-mmio slot with device ID 4");
        }
    })?;
    let s = *slot.slot();
    let Some(regs) = MmioRegs::map(&s) else {
        pr_err!("cannot map virtio-mmio slot at {:#x}+{:#x}", s.base, s.size);
        return Err(errno::ENODEV);
    };
    let rng = glue::Rng::new(&regs, s.size).map_err(|e| {
        pr_err!("virtio-mmio slot at {:#x}: {e}", s.base);
        errno::EIO
    })?;
    *IRQ_REGS.lock() = Some(regs);
    let irq = match IrqRegistration::request(s.irq, glue::rng_irq, 0, c"hwrng") {
        Ok(irq) => irq,
        Err(e) => {
            pr_err!("request_irq({}) failed: error {}", s.irq, e);
            *IRQ_REGS.lock() = None;
            return Err(e);
        }
    };
    let hwrng = Hwrng {
        rng: Some(rng),
        _irq: irq,
        _slot: slot,
        regs,
    };
    let reg = match DeviceRegistration::register(DeviceKind::Char, c"hwrng", &glue::OPS, 0, 0) {
        Ok(reg) => reg,
        Err(e) => {
            pr_err!("register_device(hwrng) failed: error {}", e);
            drop(hwrng);
            *IRQ_REGS.lock() = None;
            return Err(e);
        }
    };
    pr_info!(
        "hwrng: virtio entropy device at {:#x} irq {}",
        s.base,
        s.irq
    );
    *RNG.lock() = Some((hwrng, reg));
    Ok(())
}

fn virtio_rng_exit() -> Result<(), i32> {
    let mut entry = RNG.lock();
    let Some((hwrng, reg)) = entry.take() else {
        return Ok(());
    };
    if let Err((reg, e)) = reg.unregister() {
        pr_err!("hwrng: cannot unregister: error {}", e);
        *entry = Some((hwrng, reg));
        return Err(e);
    }
    drop(hwrng);
    *IRQ_REGS.lock() = None;
    Ok(())
}

/// The `read` operation: fills `buf` with random bytes (up to 64 KiB per call).
fn read(buf: &mut [u8]) -> Result<usize, i32> {
    if buf.is_empty() {
        return Ok(0);
    }
    let mut entry = RNG.try_lock().ok_or(errno::EBUSY)?;
    let (hwrng, _) = entry.as_mut().ok_or(errno::ENODEV)?;
    let rng = hwrng.rng.as_mut().ok_or(errno::EIO)?;
    let n = buf.len().min(MAX_REQUEST);
    match rng.fill(&hwrng.regs, &mut buf[..n], REQUEST_TIMEOUT_US) {
        Ok(got) => Ok(got.min(n)),
        Err(glue::RequestError::Timeout) => {
            pr_err!(
                "hwrng: no answer from the device after {} ms; device reset, hwrng is dead",
                REQUEST_TIMEOUT_US / 1000
            );
            hwrng.rng = None;
            Err(errno::ETIMEDOUT)
        }
        Err(glue::RequestError::Queue(e)) => {
            pr_err!("hwrng: request failed: {e}");
            Err(errno::EIO)
        }
    }
}
