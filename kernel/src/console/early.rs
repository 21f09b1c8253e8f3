//! The early console: a polled PL011 at the device tree's `stdout-path`.
//!
//! The only device code linked into the kernel. It serves the boot log, oops and
//! the shell until a console driver module takes over. It never reprograms the
//! UART: QEMU (and firmware on real boards) leaves it enabled, and touching
//! LCR_H.FEN would flush the receive FIFO, losing input typed before the prompt.
//! Register layout: PL011 TRM (DDI 0183G) 3.2.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! {u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) [],
    ]
}

register_structs! {
    Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
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
            core::hint::spin_loop();
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
}

impl core::fmt::Write for &EarlyUart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
