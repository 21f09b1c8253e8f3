//! Module runtime: what every module crate links in (feature `module`).
//!
//! The `__versions` table (the CRC of every kernel export, as this crate was
//! built), the panic handler (a panic in a module fails the running module call
//! through the kernel's `module_panic`, it never takes the kernel down), logging,
//! and parameter storage.

use crate::{api, sys, ModVersion, ThisModule};
use core::cell::UnsafeCell;
use core::fmt::{self, Write};

const N: usize = api::ALL.len();

const fn versions() -> [ModVersion; N] {
    let mut out = [ModVersion::new(0, ""); N];
    let mut i = 0;
    while i < N {
        out[i] = ModVersion::new(api::ALL[i].1, api::ALL[i].0);
        i += 1;
    }
    out
}

#[used]
#[link_section = "__versions"]
static VERSIONS: [ModVersion; N] = versions();

extern "C" {
    static __this_module: ThisModule;
}

/// This module's handle (`THIS_MODULE`).
pub fn this_module() -> *const ThisModule {
    // Only the address is taken; the loader resolves the symbol.
    core::ptr::addr_of!(__this_module)
}

/// Copies a `&str` into an array (for `.modinfo` statics).
pub const fn str_array<const L: usize>(s: &str) -> [u8; L] {
    let mut out = [0u8; L];
    let b = s.as_bytes();
    let mut i = 0;
    while i < L && i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// `Ok` -> 0, `Err(e)` -> `-e`.
pub fn errno_of(r: Result<(), i32>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => -e.abs(),
    }
}

struct Buf {
    b: [u8; 256],
    n: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(self.b.len() - self.n);
        self.b[self.n..self.n + take].copy_from_slice(&s.as_bytes()[..take]);
        self.n += take;
        Ok(())
    }
}

/// Logs at a Linux level (3 error .. 7 debug).
pub fn log(level: u32, args: fmt::Arguments<'_>) {
    let mut buf = Buf { b: [0; 256], n: 0 };
    let _ = buf.write_fmt(args);
    // SAFETY: the buffer is valid for `n` bytes for the duration of the call.
    unsafe { sys::printk(this_module(), level, buf.b.as_ptr(), buf.n) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut buf = Buf { b: [0; 256], n: 0 };
    let _ = write!(buf, "{}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(buf, " at {}:{}", loc.file(), loc.line());
    }
    // SAFETY: the buffer is valid for `n` bytes; the kernel abandons this module
    // call and does not return here.
    unsafe { sys::module_panic(this_module(), buf.b.as_ptr(), buf.n) };
    loop {
        core::hint::spin_loop();
    }
}

/// Storage size of a string parameter, NUL included.
pub const STR_PARAM_SIZE: usize = 64;

/// An integer parameter.
pub struct IntParam(UnsafeCell<i64>);
/// A boolean parameter (stored as a byte, 0 or 1).
pub struct BoolParam(UnsafeCell<u8>);
/// A string parameter (NUL-terminated, at most 63 bytes).
pub struct StrParam(UnsafeCell<[u8; STR_PARAM_SIZE]>);

// SAFETY: the kernel writes parameters before `init_module` runs, on the CPU that
// then calls init; afterwards they are only read.
unsafe impl Sync for IntParam {}
// SAFETY: as above.
unsafe impl Sync for BoolParam {}
// SAFETY: as above.
unsafe impl Sync for StrParam {}

impl IntParam {
    pub const fn new(v: i64) -> Self {
        Self(UnsafeCell::new(v))
    }
    pub const fn as_ptr(&self) -> *mut u8 {
        self.0.get() as *mut u8
    }
    pub fn get(&self) -> i64 {
        // SAFETY: no writes after init starts (see the Sync impl).
        unsafe { *self.0.get() }
    }
}

impl BoolParam {
    pub const fn new(v: bool) -> Self {
        Self(UnsafeCell::new(v as u8))
    }
    pub const fn as_ptr(&self) -> *mut u8 {
        self.0.get()
    }
    pub fn get(&self) -> bool {
        // SAFETY: as for IntParam.
        unsafe { *self.0.get() != 0 }
    }
}

impl StrParam {
    pub const fn new(v: &str) -> Self {
        let mut out = [0u8; STR_PARAM_SIZE];
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() && i < STR_PARAM_SIZE - 1 {
            out[i] = b[i];
            i += 1;
        }
        Self(UnsafeCell::new(out))
    }
    pub const fn as_ptr(&self) -> *mut u8 {
        self.0.get() as *mut u8
    }
    pub fn get(&self) -> &str {
        // SAFETY: as for IntParam; the kernel always leaves a NUL and valid UTF-8
        // (it rejects other values).
        let bytes = unsafe { &*self.0.get() };
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(STR_PARAM_SIZE);
        core::str::from_utf8(&bytes[..len]).unwrap_or("")
    }
}
