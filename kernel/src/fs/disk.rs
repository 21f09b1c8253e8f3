//! The disk: a file system on a block device, mounted at `/disk` through a
//! file system type a module registered (`register_filesystem`, Linux's
//! `register_filesystem`). The FAT one is the `vfat` module (`drivers/vfat`,
//! `embedded-sdmmc`), loaded on demand through its `fs-vfat` alias as
//! Linux's `get_fs_type` does (`kmod::mount`); the kernel holds no file
//! system code of its own.
//!
//! A mount holds two references, so neither module can be unloaded under it:
//! one to the file system type (`rmmod vfat` is refused with `vfat (1
//! user)`), and the block device open ([`ObjectRef`]; `rmmod virtio_blk` is
//! refused with `vda (1 open)`); `umount` releases both. While mounted, the
//! file system owns the device's writes ([`WriteClaim`]): a raw `write` or
//! `blkbench ... write` on it gets EBUSY, as Linux 6.8 does with
//! BLK_DEV_WRITE_MOUNTED=n. The file system reaches the device only through
//! the kernel ([`BlockDevice`]'s `read`/`write`, which call the driver in
//! guarded module calls), and the kernel calls the file system in guarded
//! calls too: a faulting file system or driver becomes an error here, never
//! a kernel fault. The mount's operations run one at a time, from thread
//! context, under a plain spin mutex, so interrupts (the driver's completion
//! interrupt among them) stay enabled during I/O.

use crate::kobject::{self, KObject, Kind, ObjectRef, WriteClaim};
use crate::module::Module;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use kabi::{errno, BlockDevice, DeviceKind, FsOps, Opaque, FS_LABEL_SIZE};
use kcore::errno::strerror;

/// The operations of a registered file system type, copied at registration.
#[derive(Clone, Copy)]
struct Ops {
    mount: usize,
    umount: usize,
    stat: usize,
    read: usize,
    readdir: usize,
}

/// Registered file system types: their objects' ids and operations. An
/// entry whose object is gone (a module that left it registered at exit is
/// cleaned up by the kernel) is never used: lookups go through the object.
static TYPES: crate::sync::Mutex<Vec<(u32, Ops)>> = crate::sync::Mutex::new(Vec::new());

/// Registers file system type `name` for `owner` (`register_filesystem`).
pub fn register(owner: Arc<Module>, name: String, ops: &FsOps) -> Result<u32, i32> {
    let (Some(mount), Some(umount), Some(stat), Some(read), Some(readdir)) =
        (ops.mount, ops.umount, ops.stat, ops.read, ops.readdir)
    else {
        return Err(-errno::EINVAL);
    };
    let ops = Ops {
        mount: mount as usize,
        umount: umount as usize,
        stat: stat as usize,
        read: read as usize,
        readdir: readdir as usize,
    };
    let mut types = TYPES.lock();
    types.retain(|(id, _)| kobject::get(*id).is_some());
    if find_type_in(&types, &name).is_some() {
        return Err(-errno::EEXIST);
    }
    let obj = kobject::register(
        name,
        Kind::Filesystem,
        Some(owner),
        kobject::Ops::default(),
        0,
        0,
    )?;
    types.push((obj.id, ops));
    Ok(obj.id)
}

/// Unregisters file system type `id` of `owner`; -EBUSY while mounted.
pub fn unregister(owner: &Arc<Module>, id: u32) -> Result<(), i32> {
    match kobject::get(id) {
        Some(o) if o.kind == Kind::Filesystem => {}
        _ => return Err(-errno::ENOENT),
    }
    kobject::unregister(id, Some(owner))?;
    TYPES.lock().retain(|(i, _)| *i != id);
    Ok(())
}

fn find_type_in(types: &[(u32, Ops)], name: &str) -> Option<(Arc<KObject>, Ops)> {
    types.iter().find_map(|(id, ops)| {
        kobject::get(*id)
            .filter(|o| o.kind == Kind::Filesystem && o.name == name)
            .map(|o| (o, *ops))
    })
}

/// Whether file system type `name` is registered.
pub fn has_type(name: &str) -> bool {
    find_type_in(&TYPES.lock(), name).is_some()
}

struct Mount {
    device: String,
    fstype: String,
    ops: Ops,
    /// The file system's context for this mount.
    sb: usize,
    /// What the file system was given (it may keep the pointer until
    /// `umount`); its `name` points into `_name`.
    _bdev: Box<BlockDevice>,
    _name: Box<[u8]>,
    fs: ObjectRef,
    _dev: ObjectRef,
    _claim: WriteClaim,
}

// SAFETY: the raw pointers in `bdev` point at the device object the mount
// holds and at `_name`, both owned by the mount; the mount is only used with
// the MOUNT mutex held, so never by two CPUs at once.
unsafe impl Send for Mount {}

impl Mount {
    /// Calls file system operation `f` guarded (a fault marks the module
    /// failed and returns -EFAULT); the mount holds the type, so its module.
    fn call(&self, f: usize, args: [usize; 4]) -> i64 {
        kobject::call_op(self.fs.object(), f, args)
    }
}

/// Boxed, so that `None` is a null pointer: the static is all-zero bytes and
/// sits in `.bss`.
static MOUNT: crate::sync::Mutex<Option<Box<Mount>>> = crate::sync::Mutex::new(None);

/// `read` of the [`BlockDevice`] a mount gives its file system.
extern "C" fn bdev_read(handle: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize {
    // SAFETY: `handle` is the device object the mount holds (its ObjectRef lives until after the file system's umount returns), passed by the file system during one of the mount's operations.
    let obj = unsafe { &*(handle as *const KObject) };
    match obj.ops.read {
        Some(f) => kobject::call_op(obj, f, [obj.ctx, buf as usize, len, offset as usize]) as isize,
        None => -(errno::EIO as isize),
    }
}

/// `write` of the [`BlockDevice`] a mount gives its file system.
extern "C" fn bdev_write(handle: *mut Opaque, buf: *const u8, len: usize, offset: u64) -> isize {
    // SAFETY: as in `bdev_read`.
    let obj = unsafe { &*(handle as *const KObject) };
    match obj.ops.write {
        Some(f) => kobject::call_op(obj, f, [obj.ctx, buf as usize, len, offset as usize]) as isize,
        None => -(errno::EIO as isize),
    }
}

/// The registered block device `name`.
pub fn block_device(name: &str) -> Result<Arc<KObject>, String> {
    let obj = kobject::find_device(name).ok_or_else(|| format!("{name}: No such device"))?;
    if !matches!(obj.kind, Kind::Device(DeviceKind::Block)) {
        return Err(format!("{name}: not a block device"));
    }
    Ok(obj)
}

/// Mounts block device `name`'s file system of type `fstype` (registered:
/// `kmod::mount` loads it first) at `/disk`; returns the volume label.
pub fn mount(name: &str, fstype: &str) -> Result<String, String> {
    if let Some(cur) = mounted() {
        return Err(format!("/disk is already mounted ({cur})"));
    }
    let obj = block_device(name)?;
    let (fsobj, ops) = find_type_in(&TYPES.lock(), fstype)
        .ok_or_else(|| format!("unknown filesystem type '{fstype}'"))?;
    let fs = ObjectRef::get(&fsobj)
        .map_err(|_| format!("{fstype}: file system type is being unloaded"))?;
    let dev = ObjectRef::get(&obj).map_err(|_| format!("{name}: Device or resource busy"))?;
    let claim = WriteClaim::new(&obj);
    let mut m = MOUNT.lock();
    if let Some(cur) = m.as_ref() {
        return Err(format!("/disk is already mounted ({})", cur.device));
    }
    let mut cname = Vec::with_capacity(name.len() + 1);
    cname.extend_from_slice(name.as_bytes());
    cname.push(0);
    let cname = cname.into_boxed_slice();
    let bdev = Box::new(BlockDevice {
        handle: Arc::as_ptr(dev.object()) as *mut Opaque,
        size: obj.size,
        read: bdev_read,
        write: bdev_write,
        name: cname.as_ptr(),
    });
    let mut sb = 0usize;
    let mut label = [0u8; FS_LABEL_SIZE];
    // `mount`, `stat` and `readdir` return an `i32`: only w0 is defined.
    let r = kobject::call_op(
        &fsobj,
        ops.mount,
        [
            &*bdev as *const BlockDevice as usize,
            &mut sb as *mut usize as usize,
            label.as_mut_ptr() as usize,
            0,
        ],
    ) as i32;
    if r < 0 {
        return Err(match -r {
            errno::EINVAL => format!(
                "{name}: wrong fs type, bad option, bad superblock on /dev/{name} (not {fstype}; see dmesg)"
            ),
            _ => format!("{name}: {}", strerror(r)),
        });
    }
    label[FS_LABEL_SIZE - 1] = 0;
    let len = label.iter().position(|&b| b == 0).unwrap_or(0);
    let label = String::from_utf8_lossy(&label[..len]).into_owned();
    *m = Some(Box::new(Mount {
        device: name.to_string(),
        fstype: fstype.to_string(),
        ops,
        sb,
        _bdev: bdev,
        _name: cname,
        fs,
        _dev: dev,
        _claim: claim,
    }));
    Ok(label)
}

/// Unmounts `/disk`, releasing the block device and the file system type.
pub fn umount() -> Result<String, String> {
    let mut m = MOUNT.lock();
    let mount = m.take().ok_or_else(|| "not mounted".to_string())?;
    mount.call(mount.ops.umount, [mount.sb, 0, 0, 0]);
    Ok(mount.device.clone())
}

/// The mounted device and its file system type, if any.
pub fn mounted_as() -> Option<(String, String)> {
    MOUNT
        .lock()
        .as_ref()
        .map(|m| (m.device.clone(), m.fstype.clone()))
}

/// The mounted device, if any.
pub fn mounted() -> Option<String> {
    mounted_as().map(|(d, _)| d)
}

/// A directory entry: name, size, directory flag.
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub is_dir: bool,
}

/// `path` NUL-terminated for the file system (relative to `/disk`, without
/// leading or trailing `/`).
fn c_path(path: &str) -> Result<Vec<u8>, String> {
    let path = path.trim_matches('/');
    if path.len() > 255 || path.contains('\0') {
        return Err("File name too long".to_string());
    }
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path.as_bytes());
    p.push(0);
    Ok(p)
}

/// `FillDir` for [`list`]: appends one entry to the `Vec<Entry>` at `cookie`.
extern "C" fn fill(cookie: *mut Opaque, name: *const u8, len: usize, size: u64, is_dir: u32) {
    if name.is_null() {
        return;
    }
    // SAFETY: `cookie` is the `Vec<Entry>` `list` passed for this readdir, which runs on this CPU until it returns; the file system passes `len` readable bytes at `name`.
    let (out, bytes) = unsafe {
        (
            &mut *(cookie as *mut Vec<Entry>),
            core::slice::from_raw_parts(name, len.min(255)),
        )
    };
    out.push(Entry {
        name: String::from_utf8_lossy(bytes).into_owned(),
        size,
        is_dir: is_dir != 0,
    });
}

/// The entries of the directory at `path` (relative to `/disk`; empty for
/// the root).
pub fn list(path: &str) -> Result<Vec<Entry>, String> {
    let m = MOUNT.lock();
    let mount = m.as_ref().ok_or_else(|| "not mounted".to_string())?;
    let cpath = c_path(path)?;
    let mut out: Vec<Entry> = Vec::new();
    let r = mount.call(
        mount.ops.readdir,
        [
            mount.sb,
            cpath.as_ptr() as usize,
            fill as *const () as usize,
            &mut out as *mut Vec<Entry> as usize,
        ],
    ) as i32;
    if r < 0 {
        return Err(strerror(r).to_string());
    }
    Ok(out)
}

/// Reads a whole file by its path relative to `/disk`.
pub fn read(path: &str) -> Result<Vec<u8>, String> {
    let m = MOUNT.lock();
    let mount = m.as_ref().ok_or_else(|| "not mounted".to_string())?;
    let cpath = c_path(path)?;
    let mut size = 0u64;
    let r = mount.call(
        mount.ops.stat,
        [
            mount.sb,
            cpath.as_ptr() as usize,
            &mut size as *mut u64 as usize,
            0,
        ],
    ) as i32;
    match r {
        0 => {}
        1 => return Err(strerror(errno::EISDIR).to_string()),
        e => return Err(strerror(e).to_string()),
    }
    let size = usize::try_from(size).map_err(|_| strerror(errno::ENOMEM).to_string())?;
    let mut data = Vec::new();
    data.try_reserve_exact(size)
        .map_err(|_| strerror(errno::ENOMEM).to_string())?;
    data.resize(size, 0);
    let n = mount.call(
        mount.ops.read,
        [
            mount.sb,
            cpath.as_ptr() as usize,
            data.as_mut_ptr() as usize,
            data.len(),
        ],
    );
    if n < 0 {
        return Err(strerror(n as i32).to_string());
    }
    data.truncate(n as usize);
    Ok(data)
}
