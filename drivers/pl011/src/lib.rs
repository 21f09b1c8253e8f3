//! `pl011`: the Arm PL011 UART as an interrupt-driven tty, `ttyAMA0`.
//!
//! Finds the first `arm,pl011` node in the device tree, maps its registers
//! and registers a tty whose `write` queues bytes in a 4 KiB transmit ring and
//! whose receive interrupt hands bytes to the kernel (`tty_receive`). Nothing
//! waits on a full FIFO: the transmit interrupt refills it from the ring, and a
//! `write` that finds the ring full returns how much it took (possibly 0) so
//! the caller can wait. Receive interrupts are on only while the tty is open.
//! The UART is used as firmware (QEMU) left it: reprogramming LCR_H would flush
//! the receive FIFO and lose typed input. Registers: PL011 TRM (DDI 0183G) 3.2.
//!
//! Concurrency: the ring has one producer (`write`, in thread context, which
//! the console serializes) and the consumers are `write` itself and the
//! interrupt handler; both consume under one interrupt-safe spin lock
//! (`kabi::SpinLock`), so the consumer side is never entered twice at once,
//! whichever CPUs they run on.
#![no_std]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use kabi::{errno, pr_info, DeviceDesc, DeviceKind, DeviceOps, DtDevice, Opaque};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::{
    register_bitfields, register_structs, registers::ReadOnly, registers::ReadWrite,
    registers::WriteOnly,
};

kabi::module! {
    name: "pl011",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "ARM PL011 UART: interrupt-driven tty ttyAMA0",
    alias: ["of:N*T*Carm,pl011", "of:N*T*Carm,pl011C*"],
    init: pl011_init,
    exit: pl011_exit,
}

register_bitfields! {u32,
    FR [
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFE OFFSET(4) NUMBITS(1) [],
    ],
    INT [
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive.
        RX OFFSET(4) NUMBITS(1) [],
    ]
}

register_structs! {
    Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x38 => imsc: ReadWrite<u32, INT::Register>),
        (0x3c => ris: ReadOnly<u32, INT::Register>),
        (0x40 => mis: ReadOnly<u32, INT::Register>),
        (0x44 => icr: WriteOnly<u32, INT::Register>),
        (0x48 => _reserved2),
        (0x1000 => @END),
    }
}

const RING: usize = 4096;

struct Port {
    regs: AtomicPtr<Pl011Regs>,
    phys: AtomicUsize,
    irq: AtomicUsize,
    device: AtomicI32,
    ring: UnsafeCell<[u8; RING]>,
    head: AtomicUsize,
    tail: AtomicUsize,
}

// SAFETY: `ring` slots between tail and head are written only by the producer
// (`write`) and read only by consumers inside irq-save sections; head/tail are
// atomics (see the module comment).
unsafe impl Sync for Port {}

static PORT: Port = Port {
    regs: AtomicPtr::new(core::ptr::null_mut()),
    phys: AtomicUsize::new(0),
    irq: AtomicUsize::new(0),
    device: AtomicI32::new(0),
    ring: UnsafeCell::new([0; RING]),
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
};

fn regs() -> Option<&'static Pl011Regs> {
    let p = PORT.regs.load(Ordering::Acquire);
    // SAFETY: set in init from `ioremap` of the PL011 frame, cleared only in exit after the device and IRQ are gone.
    unsafe { p.as_ref() }
}

/// Serializes the transmit ring's consumer and the interrupt mask between
/// the interrupt handler and the write path, on whichever CPUs they run.
static LOCK: kabi::SpinLock = kabi::SpinLock::new();

struct IrqGuard(#[allow(dead_code)] kabi::rt::SpinGuard<'static>);
impl IrqGuard {
    fn new() -> Self {
        IrqGuard(LOCK.lock())
    }
}

/// Moves ring bytes into the FIFO until either is exhausted. Call with
/// interrupts masked (the only consumer at a time). Returns whether bytes remain.
fn drain(r: &Pl011Regs) -> bool {
    let head = PORT.head.load(Ordering::Acquire);
    let mut tail = PORT.tail.load(Ordering::Relaxed);
    while tail != head && !r.fr.is_set(FR::TXFF) {
        // SAFETY: slot `tail` was published by the producer (head moved past it).
        let b = unsafe { (*PORT.ring.get())[tail % RING] };
        r.dr.set(b as u32);
        tail = tail.wrapping_add(1);
    }
    PORT.tail.store(tail, Ordering::Release);
    tail != head
}

fn receive(r: &Pl011Regs) {
    let mut buf = [0u8; 64];
    loop {
        let mut n = 0;
        while n < buf.len() && !r.fr.is_set(FR::RXFE) {
            buf[n] = r.dr.get() as u8;
            n += 1;
        }
        if n == 0 {
            return;
        }
        // SAFETY: `buf` is valid for `n` bytes.
        unsafe {
            kabi::sys::tty_receive(
                kabi::rt::this_module(),
                PORT.device.load(Ordering::Relaxed),
                buf.as_ptr(),
                n,
            )
        };
    }
}

extern "C" fn pl011_irq(_intid: u32, _ctx: *mut Opaque) {
    let Some(r) = regs() else { return };
    let _lock = IrqGuard::new();
    let pending = r.mis.extract();
    if pending.is_set(INT::RX) || pending.is_set(INT::RT) {
        // Acknowledge first, then drain: a byte that arrives while we drain
        // raises the interrupt again. (Acknowledging after the drain would
        // clear the interrupt of a byte that arrived in between, leaving it in
        // the FIFO with nothing to signal it, and a full one-byte FIFO stops
        // the sender.)
        r.icr.write(INT::RX::SET + INT::RT::SET);
        receive(r);
    }
    if pending.is_set(INT::TX) {
        r.icr.write(INT::TX::SET);
        if !drain(r) {
            r.imsc.modify(INT::TX::CLEAR);
        }
    }
}

extern "C" fn tty_open(_ctx: *mut Opaque) -> i32 {
    let Some(r) = regs() else {
        return -errno::ENODEV;
    };
    let _irq = IrqGuard::new();
    // Whatever was typed before the open is still in the FIFO: hand it over.
    receive(r);
    r.imsc.modify(INT::RX::SET + INT::RT::SET);
    0
}

extern "C" fn tty_release(_ctx: *mut Opaque) {
    if let Some(r) = regs() {
        let _irq = IrqGuard::new();
        r.imsc.modify(INT::RX::CLEAR + INT::RT::CLEAR);
    }
}

extern "C" fn tty_write(_ctx: *mut Opaque, buf: *const u8, len: usize, _offset: u64) -> isize {
    let Some(r) = regs() else {
        return -(errno::ENODEV as isize);
    };
    let head = PORT.head.load(Ordering::Relaxed);
    let tail = PORT.tail.load(Ordering::Acquire);
    let room = RING - head.wrapping_sub(tail);
    let n = len.min(room);
    for i in 0..n {
        // SAFETY: the kernel passes `len` valid bytes; slot `head+i` is free (between head and tail+RING) and only this producer writes it.
        unsafe { (*PORT.ring.get())[head.wrapping_add(i) % RING] = *buf.add(i) };
    }
    PORT.head.store(head.wrapping_add(n), Ordering::Release);
    let _irq = IrqGuard::new();
    if drain(r) {
        r.imsc.modify(INT::TX::SET);
    }
    n as isize
}

static OPS: DeviceOps = DeviceOps {
    open: Some(tty_open),
    release: Some(tty_release),
    read: None,
    write: Some(tty_write),
    flush: None,
};

fn pl011_init() -> Result<(), i32> {
    let mut dev = DtDevice::default();
    // SAFETY: valid NUL-terminated string and out pointer.
    let r = unsafe { kabi::sys::dt_find_compatible(c"arm,pl011".as_ptr().cast(), 0, &mut dev) };
    if r < 0 || dev.nregs == 0 || dev.nirqs == 0 {
        kabi::pr_err!("no arm,pl011 with registers and an interrupt in the device tree");
        return Err(errno::ENODEV);
    }
    // SAFETY: plain kernel call; the result is checked.
    let base = unsafe { kabi::sys::ioremap(dev.reg_base[0], 0x1000) };
    if base.is_null() {
        return Err(errno::ENODEV);
    }
    PORT.phys.store(dev.reg_base[0] as usize, Ordering::Relaxed);
    PORT.regs.store(base.cast(), Ordering::Release);
    let irq = dev.irqs[0];
    // SAFETY: the handler and name are 'static; ctx is unused.
    let e = unsafe {
        kabi::sys::request_irq(
            kabi::rt::this_module(),
            irq,
            pl011_irq,
            core::ptr::null_mut(),
            c"ttyAMA0".as_ptr().cast(),
        )
    };
    if e < 0 {
        PORT.regs.store(core::ptr::null_mut(), Ordering::Release);
        return Err(-e);
    }
    PORT.irq.store(irq as usize, Ordering::Relaxed);
    let desc = DeviceDesc {
        kind: DeviceKind::Tty as u32,
        name: c"ttyAMA0".as_ptr().cast(),
        ops: &OPS,
        ctx: core::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: `desc` outlives the call; OPS is static.
    let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
    if id < 0 {
        // SAFETY: undo the IRQ registration above.
        unsafe { kabi::sys::free_irq(kabi::rt::this_module(), irq) };
        PORT.regs.store(core::ptr::null_mut(), Ordering::Release);
        return Err(-id);
    }
    PORT.device.store(id, Ordering::Relaxed);
    pr_info!(
        "ttyAMA0 at MMIO {:#x} (irq = {}) is a PL011 rev3",
        dev.reg_base[0],
        irq
    );
    Ok(())
}

fn pl011_exit() -> Result<(), i32> {
    // SAFETY: plain kernel calls with our own ids.
    let e = unsafe {
        kabi::sys::unregister_device(kabi::rt::this_module(), PORT.device.load(Ordering::Relaxed))
    };
    if e < 0 {
        return Err(-e);
    }
    if let Some(r) = regs() {
        let _irq = IrqGuard::new();
        // Send what is still queued, then stop interrupting.
        while drain(r) {}
        r.imsc
            .modify(INT::TX::CLEAR + INT::RX::CLEAR + INT::RT::CLEAR);
    }
    // SAFETY: as above.
    unsafe {
        kabi::sys::free_irq(
            kabi::rt::this_module(),
            PORT.irq.load(Ordering::Relaxed) as u32,
        )
    };
    PORT.regs.store(core::ptr::null_mut(), Ordering::Release);
    Ok(())
}
