//! Log and panic exports (the `log` family): `printk`, `printk_args`,
//! `module_panic`, `module_panic_info`, `panic_notifier_register`.

use core::fmt::{self, Write as _};

use super::{owner, owner_name};
use kabi::{Opaque, PanicNotifier, ThisModule};

/// # Safety
/// `msg` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn printk(
    owner_ptr: *const ThisModule,
    level: u32,
    msg: *const u8,
    len: usize,
) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the caller passes a buffer valid for `len` bytes (bounded here).
    let bytes = unsafe { core::slice::from_raw_parts(msg, len.min(1024)) };
    record(
        owner_ptr,
        level,
        core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>"),
    );
}

/// # Safety
/// `args` points to a `core::fmt::Arguments` built by the kernel's compiler
/// (the export's CRC includes its version), valid for the call.
#[no_mangle]
pub unsafe extern "C" fn printk_args(
    owner_ptr: *const ThisModule,
    level: u32,
    args: *const Opaque,
) {
    if args.is_null() {
        return;
    }
    // SAFETY: as the contract says: a live `fmt::Arguments` of this compiler's layout.
    let args = unsafe { *args.cast::<fmt::Arguments<'_>>() };
    let mut line = Line::new();
    let _ = fmt::write(&mut line, args);
    record(owner_ptr, level, line.text());
}

/// `NAME: TEXT` in the kernel log at Linux `level` (3 error .. 7 debug), as
/// `log::log!(level, "{name}: {text}")` records it.
fn record(owner_ptr: *const ThisModule, level: u32, text: &str) {
    let level = match level {
        0..=3 => log::Level::Error,
        4 => log::Level::Warn,
        5 | 6 => log::Level::Info,
        _ => log::Level::Debug,
    };
    owner_name(owner_ptr, |name| {
        crate::klog::record(
            level,
            &[
                crate::klog::Piece::Str(name),
                crate::klog::Piece::Str(": "),
                crate::klog::Piece::Str(text),
            ],
        )
    });
}

/// One line a module's formatting writes into, on the stack, cut at its end
/// on a character boundary (a module's own buffer was 256 bytes too).
struct Line {
    bytes: [u8; 256],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            bytes: [0; 256],
            len: 0,
        }
    }

    fn text(&self) -> &str {
        // Only whole `&str` prefixes cut at character boundaries are copied in.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("<invalid UTF-8>")
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut take = s.len().min(self.bytes.len() - self.len);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// # Safety
/// `msg` valid for `len` bytes; called from a module's panic handler.
#[no_mangle]
pub unsafe extern "C" fn module_panic(owner_ptr: *const ThisModule, msg: *const u8, len: usize) {
    let bytes = if msg.is_null() {
        &[][..]
    } else {
        // SAFETY: as for printk: the caller passes a buffer valid for `len`.
        unsafe { core::slice::from_raw_parts(msg, len.min(512)) }
    };
    let msg = core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>");
    owner_name(owner_ptr, |name| {
        crate::klog::oops::module_panic_report(name, msg)
    });
    if let Some(m) = owner(owner_ptr) {
        m.refs.set_failed();
    }
    // SAFETY: we are inside the module call that panicked; everything this function owned has been dropped above.
    unsafe { crate::arch::modcall::abandon() }
}

/// # Safety
/// `info` points to a `core::panic::PanicInfo` built by the kernel's compiler
/// (the export's CRC includes its version); called from a module's panic
/// handler, as `module_panic`.
#[no_mangle]
pub unsafe extern "C" fn module_panic_info(owner_ptr: *const ThisModule, info: *const Opaque) {
    let mut line = Line::new();
    if !info.is_null() {
        // SAFETY: as the contract says: a live `PanicInfo` of this compiler's layout.
        let info = unsafe { &*info.cast::<core::panic::PanicInfo<'_>>() };
        let _ = write!(line, "{}", info.message());
        if let Some(at) = info.location() {
            let _ = write!(line, " at {}:{}", at.file(), at.line());
        }
    }
    // `line` owns nothing to drop: module_panic does not return.
    // SAFETY: the buffer is valid for `len` bytes, and this is the panicking module call.
    unsafe { module_panic(owner_ptr, line.bytes.as_ptr(), line.len) }
}

#[no_mangle]
pub extern "C" fn panic_notifier_register(owner_ptr: *const ThisModule, func: PanicNotifier) {
    if let Some(m) = owner(owner_ptr) {
        crate::klog::oops::panic_notifier_add(func as usize, m.text);
    }
}
