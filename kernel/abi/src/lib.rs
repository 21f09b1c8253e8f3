//! The module ABI: the one line between the kernel and the modules it loads.
//!
//! Everything that crosses it is `extern "C"` functions and `#[repr(C)]` types, so
//! a module can be written in Rust (with this crate) or C (with
//! `include/kabi.h`, generated from this crate and checked by a test).
//!
//! - [`api`] lists every function the kernel exports. Each has a version CRC
//!   computed at compile time from its signature as written there, by the same
//!   macro on both sides, so a module and the kernel agree exactly when their
//!   signatures do. A module records the CRCs it was built against in its
//!   `__versions` section (Linux's `struct modversion_info`); the loader refuses
//!   a module that disagrees: `disagrees about version of symbol X`.
//! - [`ABI_VERSION`] is recorded in every module's `.modinfo` (`abi=N`); a module
//!   for another version is refused with both numbers in the message.
//! - [`module!`] declares a module: its `.modinfo` strings and its
//!   `init_module`/`cleanup_module` entry points; [`module_param!`] a parameter;
//!   [`export_symbol!`] a symbol for other modules.
#![no_std]

// On the host a module crate built by `cargo build --workspace` gets std's
// panic handler instead of the module one (which only exists for the target).
#[cfg(all(feature = "module", not(target_os = "none")))]
extern crate std;

pub mod crc;
mod macros;
pub mod types;

#[cfg(feature = "module")]
pub mod rt;
#[cfg(feature = "module")]
pub use rt::{Device, Global, KernelAllocator, SpinLock, Timer};

pub use types::*;

/// Version of the ABI as a whole: bump on any change to a type's layout or to
/// the meaning of an export. Per-symbol CRCs catch signature changes.
pub const ABI_VERSION: u32 = 3;

/// Name the loader resolves to the module's own [`ThisModule`] handle.
pub const THIS_MODULE_SYMBOL: &str = "__this_module";

kernel_api! {
    /// Logs `len` bytes at `msg` at Linux `level` (3 error .. 7 debug), prefixed
    /// with the module's name.
    fn printk(owner: *const ThisModule, level: u32, msg: *const u8, len: usize);
    /// Allocates `size` bytes aligned to `align` from the kernel heap; null on failure.
    fn kmalloc(size: usize, align: usize) -> *mut u8;
    /// Frees memory from `kmalloc` (same size and align).
    fn kfree(ptr: *mut u8, size: usize, align: usize);
    /// Allocates `size` bytes of physically contiguous, zeroed, page-aligned
    /// memory for DMA; writes its bus address to `bus`. Null on failure.
    fn dma_alloc(size: usize, bus: *mut u64) -> *mut u8;
    /// Frees memory from `dma_alloc` (same size).
    fn dma_free(ptr: *mut u8, size: usize);
    /// Returns a pointer to device registers at physical `phys` (`size` bytes),
    /// mapped Device-nGnRE; null if the range is not a device the DT describes.
    fn ioremap(phys: u64, size: usize) -> *mut u8;
    /// Releases a mapping from `ioremap`.
    fn iounmap(ptr: *mut u8, size: usize);
    /// Registers `handler(intid, ctx)` for `intid`, owned by `owner`; 0 or -errno.
    fn request_irq(owner: *const ThisModule, intid: u32, handler: IrqHandler, ctx: *mut Opaque, name: *const u8) -> i32;
    /// Unregisters the handler for `intid` registered by `owner`; 0 or -errno.
    fn free_irq(owner: *const ThisModule, intid: u32) -> i32;
    /// Routes shared interrupt `intid` (32 and up), whose handler `owner`
    /// registered, to CPU `cpu` (Linux's `irq_set_affinity` for one CPU);
    /// 0, -ENOENT if `owner` holds no such line, -EINVAL for an SGI, a PPI
    /// or a CPU that is not online.
    fn irq_set_affinity(owner: *const ThisModule, intid: u32, cpu: u32) -> i32;
    /// Makes shared interrupt `intid`, whose handler `owner` registered,
    /// pending at the interrupt controller as if its device had raised it, so
    /// the handler runs on the CPU the line is routed to. For tests (the
    /// `irqinflight` module); 0, -ENOENT if `owner` holds no such line,
    /// -EINVAL for a line the controller does not implement.
    fn irq_inject(owner: *const ThisModule, intid: u32) -> i32;
    /// Calls `func(ctx)` after `delay_us`, then every `period_us` if non-zero;
    /// returns a timer id (> 0) or -errno.
    fn timer_add(owner: *const ThisModule, delay_us: u64, period_us: u64, func: TimerFn, ctx: *mut Opaque) -> i64;
    /// Cancels a timer from `timer_add`; 0 or -errno.
    fn timer_del(owner: *const ThisModule, id: i64) -> i32;
    /// The physical (bus) address of `addr`, for DMA from module memory (module
    /// images are not identity-mapped; `dma_alloc` memory and the kernel are).
    /// 0 if `addr` is not mapped.
    fn virt_to_phys(addr: *const u8) -> u64;
    /// The bus address of `len` bytes at `addr` if they are all mapped and
    /// physically contiguous (one DMA segment), else 0. One call for a whole
    /// buffer: kernel heap and `dma_alloc` memory answer without a page walk.
    fn virt_to_phys_range(addr: *const u8, len: usize) -> u64;
    /// Masks interrupts on this CPU and returns the previous state (Linux's
    /// `local_irq_save`). With more than one CPU this protects nothing from
    /// the others: share data with an interrupt handler under a spin lock.
    fn local_irq_save() -> u64;
    /// Restores the state `local_irq_save` returned.
    fn local_irq_restore(flags: u64);
    /// Takes `lock` with interrupts masked on this CPU and returns the
    /// previous interrupt state (Linux's `spin_lock_irqsave`): excludes the
    /// lock's other users on every CPU, thread and interrupt context alike.
    fn spin_lock_irqsave(lock: *mut RawSpinLock) -> u64;
    /// Releases `lock` and restores the interrupt state `spin_lock_irqsave`
    /// returned.
    fn spin_unlock_irqrestore(lock: *mut RawSpinLock, flags: u64);
    /// Runs `func(ctx)` once, in thread context, on CPU `cpu` (-1: any online
    /// CPU); returns a work id (> 0) or -errno. Until it has run or is
    /// cancelled the item is an object owned by `owner` (so an exit that
    /// leaves one queued is caught).
    fn queue_work_on(owner: *const ThisModule, cpu: i32, func: WorkFn, ctx: *mut Opaque) -> i64;
    /// Cancels work `id` (Linux's `cancel_work_sync`): a queued item never
    /// runs; a running one is waited for. 1 if it was queued, 0 if it had
    /// already run or was running, or -errno.
    fn cancel_work_sync(owner: *const ThisModule, id: i64) -> i32;
    /// The number of the CPU running the caller.
    fn smp_processor_id() -> u32;
    /// CPUs online.
    fn num_online_cpus() -> u32;
    /// Busy-waits `us` microseconds.
    fn udelay(us: u64);
    /// Microseconds since boot.
    fn ktime_us() -> u64;
    /// Waits for an interrupt (WFI): returns once one is pending, whether or
    /// not interrupts are masked. To wait for a condition an interrupt handler
    /// makes true without missing the wake-up: `local_irq_save`, check the
    /// condition, `cpu_wait_irq` only if it is false, `local_irq_restore`
    /// (the handler then runs). The timer tick ends any wait within 10 ms.
    fn cpu_wait_irq();
    /// Fills `out` with the `index`-th device-tree node compatible with the
    /// NUL-terminated `compatible`; 0, or -ENODEV when there is none.
    fn dt_find_compatible(compatible: *const u8, index: u32, out: *mut DtDevice) -> i32;
    /// Registers a device described by `desc`, owned by `owner`; returns its id
    /// (> 0) or -errno.
    fn register_device(owner: *const ThisModule, desc: *const DeviceDesc) -> i32;
    /// Unregisters a device; -EBUSY while it is open.
    fn unregister_device(owner: *const ThisModule, id: i32) -> i32;
    /// Registers file system type `name` (NUL-terminated, e.g. `vfat`) with
    /// `ops`, owned by `owner`; returns its id (> 0) or -errno (-EEXIST: the
    /// name is taken). A mount holds a reference to it, and so to `owner`.
    fn register_filesystem(owner: *const ThisModule, name: *const u8, ops: *const FsOps) -> i32;
    /// Unregisters a file system type; -EBUSY while it is mounted.
    fn unregister_filesystem(owner: *const ThisModule, id: i32) -> i32;
    /// Hands bytes a tty driver received (from its interrupt handler) to the
    /// kernel's tty layer for device `id`; the console reads them.
    fn tty_receive(owner: *const ThisModule, id: i32, buf: *const u8, len: usize);
    /// Asks for the driver of a device with this alias (NUL-terminated, e.g.
    /// `virtio:d00000002v554D4551`), as a bus driver does for what it finds;
    /// `device` names the device for `lsdev`. Served after the caller's init.
    fn request_module(device: *const u8, alias: *const u8) -> i32;
    /// Reports a module panic: the running module call is abandoned and fails.
    fn module_panic(owner: *const ThisModule, msg: *const u8, len: usize);
    /// Logs `args`, a `&core::fmt::Arguments`, at Linux `level`, formatted by
    /// the kernel's `core` (a module needs no formatting machinery of its own,
    /// as Rust for Linux's `%pA`). Rust modules built by the kernel's compiler.
    [rust_abi]
    fn printk_args(owner: *const ThisModule, level: u32, args: *const Opaque);
    /// `module_panic` with `info`, a `&core::panic::PanicInfo`, formatted
    /// by the kernel. Rust modules built by the kernel's compiler.
    [rust_abi]
    fn module_panic_info(owner: *const ThisModule, info: *const Opaque);
    /// Adds `func` to the functions called when the kernel panics. There is no
    /// way to remove it, so using this pins the module: it cannot be unloaded.
    [unsafe_to_unload]
    fn panic_notifier_register(owner: *const ThisModule, func: PanicNotifier);
    /// Copies `n` bytes from `src` to `dest` (the regions do not overlap);
    /// returns `dest`. The kernel's own, as Linux exports its `memcpy`: a Rust
    /// module's calls (the compiler's and `core`'s) land here instead of on a
    /// copy in every module (`drivers/build-modules.sh` leaves it out).
    fn memcpy(dest: *mut Opaque, src: *const Opaque, n: usize) -> *mut Opaque;
    /// `memcpy` for regions that may overlap.
    fn memmove(dest: *mut Opaque, src: *const Opaque, n: usize) -> *mut Opaque;
    /// Fills `n` bytes at `dest` with the byte `c`; returns `dest`.
    fn memset(dest: *mut Opaque, c: i32, n: usize) -> *mut Opaque;
    /// Compares `n` bytes: < 0, 0 or > 0 as the first differing byte of `a`
    /// is below, equal to or above that of `b` (unsigned).
    fn memcmp(a: *const Opaque, b: *const Opaque, n: usize) -> i32;
}
