//! Module runtime: what every module crate links in (feature `module`).
//!
//! The `__versions` table (the CRC of every kernel export, as this crate was
//! built), the panic handler (a panic in a module fails the running module call
//! through the kernel's `module_panic`, it never takes the kernel down), logging,
//! and parameter storage.

use crate::{api, sys, ModVersion, ThisModule};
use core::cell::UnsafeCell;
use core::fmt;

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

/// The handle, stored once as data: the loader resolves `__this_module` (a
/// different value at every load: module ids are never reused) in this one
/// 8-byte word of read-only data, where code reads it. Code that took the
/// symbol's address itself would carry the handle in `ADRP`/`ADD` fields, so
/// every load would store into those instructions and QEMU would translate the
/// blocks holding them again; this way the
/// text reaches the word by module-internal relocations, applied at build time
/// (prelinked), and holds the same bytes at every load at the same address.
static THIS_MODULE_WORD: &ThisModule = {
    // SAFETY: only the address of the extern static is taken (the loader resolves it to the handle, never dereferenced).
    unsafe { &__this_module }
};

/// This module's handle (`THIS_MODULE`).
#[inline]
pub fn this_module() -> *const ThisModule {
    // Read volatile so the compiler loads the word rather than folding its
    // initializer back into the symbol's address in code.
    // SAFETY: the word is a valid, aligned static that nothing writes once the module runs.
    let word: &ThisModule =
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(THIS_MODULE_WORD)) };
    word
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

/// Logs at a Linux level (3 error .. 7 debug): the kernel formats `args`
/// (`printk_args`), so the module carries no `core::fmt::write` of its own.
pub fn log(level: u32, args: fmt::Arguments<'_>) {
    // The export's CRC includes the compiler version: a module built by
    // another compiler is refused at load, so the layouts agree.
    // SAFETY: `args` lives for the call; the kernel reads it as the `fmt::Arguments` it is.
    unsafe { sys::printk_args(this_module(), level, (&raw const args).cast()) };
}

// A module's panic handler; on the host (where `cargo build --workspace`
// builds module crates only to type-check them) std provides the handler.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: `info` lives for the call, read by the kernel as the `PanicInfo` it is (same compiler, as for `log`); the kernel abandons this module call and does not return here.
    unsafe { sys::module_panic_info(this_module(), core::ptr::from_ref(info).cast()) };
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
        // SAFETY: as for IntParam; the kernel always leaves a NUL and valid UTF-8 (it rejects other values).
        let bytes = unsafe { &*self.0.get() };
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(STR_PARAM_SIZE);
        core::str::from_utf8(&bytes[..len]).unwrap_or("")
    }
}

/// A device this module registered. Dropping it unregisters it, so error paths
/// in init clean up by themselves, and a module that means to leave a device
/// registered says so with a visible `core::mem::forget`. Keep it between init
/// and exit in a [`Global`].
pub struct Device {
    id: i32,
}

impl Device {
    /// Registers a device whose operations and name live as long as the module.
    pub fn register(
        kind: crate::DeviceKind,
        name: &'static core::ffi::CStr,
        ops: &'static crate::DeviceOps,
        ctx: *mut crate::Opaque,
        size: u64,
    ) -> Result<Self, i32> {
        let desc = crate::DeviceDesc {
            kind: kind as u32,
            name: name.as_ptr().cast(),
            ops,
            ctx,
            size,
        };
        // SAFETY: `desc` lives across the call; `name` and `ops` are 'static.
        let id = unsafe { sys::register_device(this_module(), &desc) };
        if id < 0 {
            Err(-id)
        } else {
            Ok(Self { id })
        }
    }

    /// The kernel's id for the device.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Unregisters now; on refusal (`EBUSY` while it is open) gives the handle
    /// back with the error.
    pub fn unregister(self) -> Result<(), (Self, i32)> {
        // SAFETY: our own device id.
        let r = unsafe { sys::unregister_device(this_module(), self.id) };
        if r < 0 {
            Err((self, -r))
        } else {
            core::mem::forget(self);
            Ok(())
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: our own device id.
        let _ = unsafe { sys::unregister_device(this_module(), self.id) };
    }
}

/// A timer this module added; dropping it deletes it.
pub struct Timer {
    id: i64,
}

impl Timer {
    /// Calls `func(ctx)` after `delay_us`, then every `period_us` (0: once).
    // `ctx` is never dereferenced here or by the kernel: it is handed back to
    // `func`, which is the module's own code.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn add(
        delay_us: u64,
        period_us: u64,
        func: crate::TimerFn,
        ctx: *mut crate::Opaque,
    ) -> Result<Self, i32> {
        // SAFETY: `func` is a function of this module; the kernel calls it only while the timer exists, and dropping the handle deletes it.
        let id = unsafe { sys::timer_add(this_module(), delay_us, period_us, func, ctx) };
        if id < 0 {
            Err((-id) as i32)
        } else {
            Ok(Self { id })
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: our own timer id.
        let _ = unsafe { sys::timer_del(this_module(), self.id) };
    }
}

/// Module-global state: set in init, taken in exit, behind a spin lock so it is
/// sound whatever runs concurrently.
pub struct Global<T>(spin::Mutex<Option<T>>);

impl<T> Default for Global<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Global<T> {
    pub const fn new() -> Self {
        Self(spin::Mutex::new(None))
    }

    /// Stores `v` (dropping what was there).
    pub fn set(&self, v: T) {
        *self.0.lock() = Some(v);
    }

    /// Takes the value out.
    pub fn take(&self) -> Option<T> {
        self.0.lock().take()
    }

    /// Runs `f` on the value, if set.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.0.lock().as_mut().map(f)
    }
}

/// An interrupt-safe spin lock (the kernel's `spin_lock_irqsave`): excludes
/// the lock's other users on every CPU, in thread and interrupt context.
/// `lock` returns a guard that releases it and restores the interrupt state
/// when dropped.
pub struct SpinLock(crate::RawSpinLock);

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

impl SpinLock {
    pub const fn new() -> Self {
        Self(crate::RawSpinLock::new())
    }

    pub fn lock(&self) -> SpinGuard<'_> {
        let raw = &self.0 as *const crate::RawSpinLock as *mut crate::RawSpinLock;
        // SAFETY: `raw` points at this lock, which outlives the guard; the kernel only touches its atomic word.
        let flags = unsafe { sys::spin_lock_irqsave(raw) };
        SpinGuard { lock: self, flags }
    }
}

/// Holds a [`SpinLock`]; dropping it unlocks.
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
    flags: u64,
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        let raw = &self.lock.0 as *const crate::RawSpinLock as *mut crate::RawSpinLock;
        // SAFETY: this guard took the lock; `flags` is what taking it returned.
        unsafe { sys::spin_unlock_irqrestore(raw, self.flags) };
    }
}

/// The kernel heap as a module's global allocator (`kmalloc`/`kfree`), for a
/// module that uses `alloc`: `#[global_allocator] static A: KernelAllocator =
/// KernelAllocator;`. What the module leaves allocated at exit stays in the
/// kernel heap's count, so `modstress`'s heap check sees it.
pub struct KernelAllocator;

// SAFETY: `kmalloc` returns memory of at least `size` bytes aligned to `align`
// (or null), which stays the caller's until `kfree` with the same layout.
unsafe impl core::alloc::GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: any size and power-of-two alignment may be asked for.
        unsafe { sys::kmalloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc's contract).
        unsafe { sys::kfree(ptr, layout.size(), layout.align()) }
    }
}
