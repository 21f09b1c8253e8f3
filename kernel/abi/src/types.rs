//! Types that cross the kernel/module boundary. All `#[repr(C)]`; their layout is
//! part of [`crate::ABI_VERSION`].

use core::ffi::c_void;

/// An opaque context pointer a module passes to the kernel and gets back.
pub type Opaque = c_void;

/// A module's handle in the kernel (Linux's `THIS_MODULE`): the loader resolves
/// the undefined symbol `__this_module` to it. Modules only pass its address.
#[repr(C)]
pub struct ThisModule {
    _private: [u8; 0],
}

/// Interrupt handler: `(intid, ctx)`.
pub type IrqHandler = extern "C" fn(intid: u32, ctx: *mut Opaque);
/// Timer callback.
pub type TimerFn = extern "C" fn(ctx: *mut Opaque);
/// Called with the panic message when the kernel panics.
pub type PanicNotifier = extern "C" fn(msg: *const u8, len: usize);
/// A work item's function, run once in thread context on some CPU.
pub type WorkFn = extern "C" fn(ctx: *mut Opaque);

/// A spin lock word in module memory (0 when free), taken and released only
/// through `spin_lock_irqsave` / `spin_unlock_irqrestore`.
#[repr(C)]
pub struct RawSpinLock {
    pub locked: core::sync::atomic::AtomicU32,
}

impl RawSpinLock {
    pub const fn new() -> RawSpinLock {
        RawSpinLock {
            locked: core::sync::atomic::AtomicU32::new(0),
        }
    }
}

impl Default for RawSpinLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Linux errno values used across the ABI (returned negated).
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const ENOEXEC: i32 = 8;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOTDIR: i32 = 20;
    pub const EISDIR: i32 = 21;
    pub const ENOSPC: i32 = 28;
    pub const ETIMEDOUT: i32 = 110;
}

/// Up to four `reg` ranges and four interrupts of a device-tree node.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DtDevice {
    pub reg_base: [u64; 4],
    pub reg_size: [u64; 4],
    pub nregs: u32,
    /// GIC INTIDs.
    pub irqs: [u32; 4],
    pub nirqs: u32,
    /// Node name, NUL-terminated (truncated to fit).
    pub name: [u8; 48],
}

impl Default for DtDevice {
    fn default() -> Self {
        Self {
            reg_base: [0; 4],
            reg_size: [0; 4],
            nregs: 0,
            irqs: [0; 4],
            nirqs: 0,
            name: [0; 48],
        }
    }
}

/// What kind of device a module registers.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char = 0,
    Tty = 1,
    Block = 2,
}

/// Operations of a registered device. The kernel calls them only while it holds
/// a reference to the device (and so to its module). Unused ones may be `None`.
#[repr(C)]
pub struct DeviceOps {
    /// A handle is being opened; 0 or -errno.
    pub open: Option<extern "C" fn(ctx: *mut Opaque) -> i32>,
    /// The last handle of an open is closed.
    pub release: Option<extern "C" fn(ctx: *mut Opaque)>,
    /// Reads up to `len` bytes at `offset`; bytes read or -errno.
    pub read:
        Option<extern "C" fn(ctx: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize>,
    /// Writes `len` bytes at `offset`; bytes written or -errno.
    pub write:
        Option<extern "C" fn(ctx: *mut Opaque, buf: *const u8, len: usize, offset: u64) -> isize>,
    /// Makes completed writes durable (block devices); 0 or -errno.
    pub flush: Option<extern "C" fn(ctx: *mut Opaque) -> i32>,
}

/// A device registration request.
#[repr(C)]
pub struct DeviceDesc {
    /// A [`DeviceKind`] value. A plain `u32` so that a bad value from a module
    /// is an error the kernel reports, not undefined behaviour.
    pub kind: u32,
    /// NUL-terminated name, e.g. `hello0`.
    pub name: *const u8,
    pub ops: *const DeviceOps,
    pub ctx: *mut Opaque,
    /// Size in bytes for block devices, 0 otherwise.
    pub size: u64,
}

/// A block device as a file system sees it during a mount. The kernel holds
/// the device open (and so its driver loaded) from the mount to the umount,
/// and reads and writes it for the file system through `read` and `write`,
/// which it implements: the file system never calls the driver itself.
#[repr(C)]
pub struct BlockDevice {
    /// The kernel's handle on the open device, passed back to `read`/`write`.
    pub handle: *mut Opaque,
    /// Size in bytes.
    pub size: u64,
    /// Reads `len` bytes at byte `offset`; bytes read or -errno.
    pub read: extern "C" fn(handle: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize,
    /// Writes `len` bytes at byte `offset`; bytes written or -errno.
    pub write: extern "C" fn(handle: *mut Opaque, buf: *const u8, len: usize, offset: u64) -> isize,
    /// NUL-terminated device name (`vda`), for messages.
    pub name: *const u8,
}

/// Called by a file system's `readdir` once per entry: its name (not
/// NUL-terminated), its size in bytes, and 1 for a directory, 0 for a file.
pub type FillDir =
    extern "C" fn(cookie: *mut Opaque, name: *const u8, name_len: usize, size: u64, is_dir: u32);

/// Bytes of the label buffer `FsOps::mount` fills (NUL-terminated).
pub const FS_LABEL_SIZE: usize = 16;

/// Operations of a registered file system type (Linux's `file_system_type`
/// and the few `super_operations` a read-only mount at `/disk` needs). Every
/// one is required. `path` is NUL-terminated, relative to the file system's
/// root, components separated by `/` (empty: the root). The kernel calls them
/// one at a time (it serialises a mount's operations) and only while a mount
/// holds a reference to the file system type, so to its module.
#[repr(C)]
pub struct FsOps {
    /// Mounts the file system on `bdev` (valid until `umount` returns):
    /// writes the mount's context to `*sb` and the volume label to `label`
    /// ([`FS_LABEL_SIZE`] bytes, NUL-terminated); 0 or -errno (-EINVAL: not
    /// this file system).
    pub mount: Option<
        extern "C" fn(bdev: *const BlockDevice, sb: *mut *mut Opaque, label: *mut u8) -> i32,
    >,
    /// Ends the mount `sb` and frees what it holds.
    pub umount: Option<extern "C" fn(sb: *mut Opaque)>,
    /// Looks `path` up: writes its size; 0 for a file, 1 for a directory, or
    /// -errno (-ENOENT, -ENOTDIR).
    pub stat: Option<extern "C" fn(sb: *mut Opaque, path: *const u8, size: *mut u64) -> i32>,
    /// Reads the file at `path` from its start into `buf`, up to `len` bytes;
    /// bytes read or -errno (-EISDIR for a directory).
    pub read:
        Option<extern "C" fn(sb: *mut Opaque, path: *const u8, buf: *mut u8, len: usize) -> isize>,
    /// Calls `fill(cookie, ...)` for each entry of the directory at `path`
    /// (not `.` and `..`); 0 or -errno.
    pub readdir: Option<
        extern "C" fn(sb: *mut Opaque, path: *const u8, fill: FillDir, cookie: *mut Opaque) -> i32,
    >,
}

/// An exported symbol, in the `.ksymtab` section of the kernel or a module.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KernelSymbol {
    pub name: *const u8,
    pub name_len: usize,
    pub addr: *const c_void,
    pub crc: u32,
    /// [`KernelSymbol::UNSAFE_TO_UNLOAD`] and future flags.
    pub flags: u32,
}

// SAFETY: the table is immutable data; the pointers are to 'static strings and
// functions.
unsafe impl Sync for KernelSymbol {}

impl KernelSymbol {
    /// Importing this symbol pins the module (it cannot be unloaded).
    pub const UNSAFE_TO_UNLOAD: u32 = 1;
    /// Exported with `EXPORT_SYMBOL_GPL`: for GPL-compatible modules only
    /// (checked at build time by `modtool modpost`; the loader ignores it).
    pub const GPL_ONLY: u32 = 2;
    /// Passes `core`'s own types (`[rust_abi]` in `kernel_api!`): for Rust
    /// modules built by the kernel's compiler (its CRC includes the version).
    pub const RUST_ABI: u32 = 4;
}

/// One entry of a module's `__versions` section: the CRC of a symbol's signature
/// the module was built against. Layout of Linux's `struct modversion_info`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModVersion {
    pub crc: u64,
    pub name: [u8; 56],
}

impl ModVersion {
    pub const fn new(crc: u32, name: &str) -> Self {
        let mut buf = [0u8; 56];
        let b = name.as_bytes();
        let mut i = 0;
        while i < b.len() && i < 55 {
            buf[i] = b[i];
            i += 1;
        }
        Self {
            crc: crc as u64,
            name: buf,
        }
    }

    /// The symbol name (up to the first NUL).
    pub fn name(&self) -> &[u8] {
        let len = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        &self.name[..len]
    }
}

/// Type of a module parameter.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `i64`.
    Int = 0,
    /// `bool` stored as a `u8` 0/1; accepts 0/1/y/n/Y/N/true/false.
    Bool = 1,
    /// A byte buffer of `size` bytes, NUL-terminated string.
    Str = 2,
    /// C `int`: `i32` (Linux's `int` parameter).
    Int32 = 3,
    /// C `unsigned int`: `u32` (`uint`).
    UInt32 = 4,
    /// C `long`: `i64` on LP64 (`long`).
    Long = 5,
    /// C `unsigned long`: `u64` on LP64 (`ulong`).
    ULong = 6,
    /// C `char *` (`charp`): the kernel allocates a NUL-terminated copy of the
    /// value, writes its address to `ptr` (`size` is 8) and frees it with the
    /// module.
    Charp = 7,
}

/// A module parameter, in the module's `__param` section. The kernel writes
/// parsed `insmod` arguments to `ptr` before calling init.
#[repr(C)]
pub struct ParamDesc {
    pub name: *const u8,
    pub name_len: usize,
    /// A [`ParamKind`] value (a plain `u32`, as `DeviceDesc::kind`).
    pub kind: u32,
    pub ptr: *mut u8,
    pub size: usize,
}

// SAFETY: the descriptor is immutable; the storage it points at is written by
// the kernel before init runs and only read afterwards.
unsafe impl Sync for ParamDesc {}

/// Size of a [`KernelSymbol`] entry, checked by the kernel when reading tables.
pub const KERNEL_SYMBOL_SIZE: usize = core::mem::size_of::<KernelSymbol>();
pub const MOD_VERSION_SIZE: usize = core::mem::size_of::<ModVersion>();
pub const PARAM_DESC_SIZE: usize = core::mem::size_of::<ParamDesc>();
