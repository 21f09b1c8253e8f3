//! "The console": where the boot log, the shell and oops messages go.
//!
//! Today it is always the early PL011; the console driver module (a later issue)
//! will swap in a tty handle here. Writers serialize on one lock so lines do not
//! interleave; the oops path uses [`emergency_write`], which skips the lock because
//! the faulting code may hold it.

use crate::early_console::EarlyUart;
use crate::sync::IrqLock;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Base address of the early UART, 0 while there is none.
static EARLY_BASE: AtomicUsize = AtomicUsize::new(0);
static WRITE_LOCK: IrqLock<()> = IrqLock::new(());

/// Uses the PL011 at `base` as the console.
///
/// # Safety
/// `base` must be a PL011 register frame that stays accessible at this address
/// (identity-mapped device memory, or the MMU still off).
pub unsafe fn init_early(base: usize) {
    EARLY_BASE.store(base, Ordering::Release);
}

fn early() -> Option<EarlyUart> {
    let base = EARLY_BASE.load(Ordering::Acquire);
    // SAFETY: `init_early`'s caller vouched for this frame.
    (base != 0).then(|| unsafe { EarlyUart::new(base) })
}

pub fn early_base() -> usize {
    EARLY_BASE.load(Ordering::Acquire)
}

/// Writes text (LF becomes CRLF).
pub fn write_str(s: &str) {
    let _guard = WRITE_LOCK.lock();
    if let Some(u) = early() {
        u.write_bytes(s.as_bytes());
    }
}

/// Writes raw bytes (no newline translation).
pub fn write_raw(bytes: &[u8]) {
    let _guard = WRITE_LOCK.lock();
    if let Some(u) = early() {
        for &b in bytes {
            u.put(b);
        }
    }
}

/// Writes without taking the console lock: for oops and panic only.
pub fn emergency_write(s: &str) {
    if let Some(u) = early() {
        u.write_bytes(s.as_bytes());
    }
}

/// One byte of input, if any is waiting.
pub fn read_byte() -> Option<u8> {
    early()?.get()
}

pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// Unlocked writer for the oops path.
pub struct Emergency;

impl fmt::Write for Emergency {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        emergency_write(s);
        Ok(())
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::Console, format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}
