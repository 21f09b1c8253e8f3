//! The early console: a polled PL011 at the device tree's `stdout-path`.
//!
//! The only device code linked into the kernel. It serves the boot log, oops and
//! the shell until a console driver module takes over. It never reprograms the
//! line: QEMU (and firmware on real boards) leaves the UART enabled, and
//! touching LCR_H.FEN would flush the receive FIFO, losing input typed before
//! the prompt. The one thing it changes is the interrupt mask (IMSC), so that
//! received bytes can wake the CPU instead of waiting for the next tick.
//! Register layout: PL011 TRM (DDI 0183G) 3.2.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) [],
    ],
    /// IMSC, RIS, MIS and ICR share this layout (TRM 3.3.12 to 3.3.15).
    INT [
        /// Receive timeout: the FIFO holds data and nothing arrived for 32
        /// bit periods (the FIFO may sit below the RX trigger level).
        RT OFFSET(6) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level (with the FIFO off,
        /// the holding register is full).
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
        (0x3c => _reserved2),
        (0x44 => icr: WriteOnly<u32, INT::Register>),
        (0x48 => _reserved3),
        (0x1000 => @END),
    }
}

/// A PL011 mapped at a fixed address.
pub struct EarlyUart {
    regs: &'static Pl011Regs,
}

impl EarlyUart {
    /// # Safety
    /// `base` must be a mapped (or, before the MMU is on, physical) PL011 register
    /// frame that nothing else drives concurrently in a conflicting way.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: the caller vouches for the frame.
            regs: unsafe { &*(base as *const Pl011Regs) },
        }
    }

    pub fn base(&self) -> usize {
        self.regs as *const Pl011Regs as usize
    }

    pub fn put(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            crate::arch::cpu::relax();
        }
        self.regs.dr.set(byte as u32);
    }

    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
    }

    /// One received byte, if any.
    pub fn get(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.dr.get() as u8)
        }
    }

    /// Whether a received byte is waiting.
    pub fn rx_ready(&self) -> bool {
        !self.regs.fr.is_set(FR::RXFE)
    }

    /// Unmasks the receive and receive-timeout interrupts: together they
    /// signal any byte waiting, whether or not the FIFO is on.
    pub fn enable_rx_interrupts(&self) {
        self.regs.imsc.modify(INT::RX::SET + INT::RT::SET);
    }

    /// Masks them again (the bytes stay in the FIFO).
    pub fn disable_rx_interrupts(&self) {
        self.regs.imsc.modify(INT::RX::CLEAR + INT::RT::CLEAR);
    }

    /// Clears the receive interrupts. Done before draining the FIFO: a byte
    /// arriving during the drain raises them again, whereas clearing after
    /// would drop the signal of a byte that came in between.
    pub fn ack_rx_interrupts(&self) {
        self.regs.icr.write(INT::RX::SET + INT::RT::SET);
    }
}

impl core::fmt::Write for &EarlyUart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
