//! `vfat`: the FAT file system (FAT16/32, MBR-partitioned disks, long names
//! read through their LFN entries) with the `embedded-sdmmc` crate, as the
//! file system type `vfat` the kernel mounts at `/disk` (`mount vda`; at boot
//! the first block device that holds one). The kernel loads it on demand
//! through its `fs-vfat` alias, as Linux's `mount` does, from the initrd.
//!
//! The kernel calls the operations one at a time and hands each mount a
//! [`BlockDevice`] whose `read`/`write` reach the disk's driver; this module
//! never calls a driver itself. A mount holds this module (the kernel counts
//! it on the file system type), so `rmmod vfat` is refused until `umount`.
//!
//! Sectors are read ahead: `embedded-sdmmc` asks for one sector at a time, and
//! each request to the driver is a virtqueue round trip, so reads fetch
//! `READAHEAD` sectors at once into one of `WINDOWS` windows (least recently
//! used is replaced), which keeps the FAT and the file's data both cached
//! while a file is read. Writes go straight to the device and drop the windows
//! they overlap, so no window ever serves stale data.
#![no_std]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicI32, Ordering};
use embedded_sdmmc::{
    Block, BlockCount, BlockIdx, DirEntry, Error, LfnBuffer, Mode, RawDirectory, RawVolume,
    ShortFileName, TimeSource, Timestamp, VolumeIdx, VolumeManager,
};
use kabi::{errno, pr_err, BlockDevice, FillDir, FsOps, Opaque, FS_LABEL_SIZE};

#[global_allocator]
static ALLOCATOR: kabi::KernelAllocator = kabi::KernelAllocator;

kabi::module! {
    name: "vfat",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "FAT file system (embedded-sdmmc): the kernel mounts /disk through it",
    alias: ["fs-vfat"],
    init: vfat_init,
    exit: vfat_exit,
}

const SECTOR: usize = 512;
const READAHEAD: usize = 32;
const WINDOWS: usize = 4;

/// A mount's block device, as `embedded-sdmmc` sees it.
struct Disk {
    bdev: *const BlockDevice,
    readahead: RefCell<ReadAhead>,
}

#[derive(Default)]
struct Window {
    start: u64,
    valid: usize,
    used: u64,
    buf: Vec<u8>,
}

#[derive(Default)]
struct ReadAhead {
    windows: [Window; WINDOWS],
    clock: u64,
}

impl Disk {
    fn bdev(&self) -> &BlockDevice {
        // SAFETY: the kernel keeps the BlockDevice it passed to mount valid until umount returns, and this Disk lives inside that mount.
        unsafe { &*self.bdev }
    }

    fn read_bytes(&self, buf: *mut u8, len: usize, offset: u64) -> Result<usize, i32> {
        let b = self.bdev();
        match (b.read)(b.handle, buf, len, offset) {
            r if r < 0 => Err(r as i32),
            r => Ok(r as usize),
        }
    }

    /// Exactly `len` bytes at `offset` (short is an I/O error).
    fn read_exact(&self, buf: *mut u8, len: usize, offset: u64) -> Result<(), i32> {
        if self.read_bytes(buf, len, offset)? == len {
            Ok(())
        } else {
            Err(-errno::EIO)
        }
    }
}

impl embedded_sdmmc::BlockDevice for Disk {
    type Error = i32;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), i32> {
        let first = start.0 as u64;
        let count = blocks.len();
        let mut ra = self.readahead.borrow_mut();
        ra.clock += 1;
        let now = ra.clock;
        let covers =
            |w: &Window| first >= w.start && first + count as u64 <= w.start + w.valid as u64;
        let mut slot = ra.windows.iter().position(covers);
        if slot.is_none() && count < READAHEAD {
            // Refill the least recently used window from `first`.
            let lru = (0..WINDOWS)
                .min_by_key(|&i| ra.windows[i].used)
                .unwrap_or(0);
            let total = self.bdev().size / SECTOR as u64;
            let want = (total.saturating_sub(first) as usize).min(READAHEAD);
            let w = &mut ra.windows[lru];
            if w.buf.len() < READAHEAD * SECTOR
                && w.buf.try_reserve_exact(READAHEAD * SECTOR).is_ok()
            {
                w.buf.resize(READAHEAD * SECTOR, 0);
            }
            w.valid = 0;
            if want >= count && w.buf.len() >= want * SECTOR {
                let buf = w.buf.as_mut_ptr();
                if self.read_bytes(buf, want * SECTOR, first * SECTOR as u64)? == want * SECTOR {
                    w.start = first;
                    w.valid = want;
                    slot = Some(lru);
                }
            }
        }
        if let Some(i) = slot {
            let w = &mut ra.windows[i];
            w.used = now;
            let off = (first - w.start) as usize * SECTOR;
            for (k, b) in blocks.iter_mut().enumerate() {
                b.contents
                    .copy_from_slice(&w.buf[off + k * SECTOR..off + (k + 1) * SECTOR]);
            }
            return Ok(());
        }
        drop(ra);
        self.read_exact(
            blocks.as_mut_ptr().cast(),
            count * SECTOR,
            first * SECTOR as u64,
        )
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), i32> {
        {
            let mut ra = self.readahead.borrow_mut();
            let (s, e) = (start.0 as u64, start.0 as u64 + blocks.len() as u64);
            for w in ra.windows.iter_mut() {
                if s < w.start + w.valid as u64 && w.start < e {
                    w.valid = 0;
                }
            }
        }
        let b = self.bdev();
        let len = blocks.len() * SECTOR;
        match (b.write)(
            b.handle,
            blocks.as_ptr().cast(),
            len,
            start.0 as u64 * SECTOR as u64,
        ) {
            r if r < 0 => Err(r as i32),
            r if r as usize == len => Ok(()),
            _ => Err(-errno::EIO),
        }
    }

    fn num_blocks(&self) -> Result<BlockCount, i32> {
        Ok(BlockCount(
            (self.bdev().size / SECTOR as u64).min(u32::MAX as u64) as u32,
        ))
    }
}

/// Files get a fixed timestamp: the kernel has no wall clock yet.
struct NoClock;

impl TimeSource for NoClock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp {
            year_since_1970: 56,
            zero_indexed_month: 0,
            zero_indexed_day: 0,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }
}

/// One mount: the `sb` the kernel holds.
struct Mount {
    vm: VolumeManager<Disk, NoClock, 4, 4, 1>,
    volume: RawVolume,
    root: RawDirectory,
}

/// The NUL-terminated string at `p` (at most 255 bytes), as `&str` ("" if
/// it is not UTF-8).
fn c_str<'a>(p: *const u8) -> &'a str {
    if p.is_null() {
        return "";
    }
    let mut len = 0;
    // SAFETY: the kernel passes NUL-terminated strings; the loop stops at the NUL.
    while len < 255 && unsafe { p.add(len).read() } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    core::str::from_utf8(unsafe { core::slice::from_raw_parts(p, len) }).unwrap_or("")
}

/// An `embedded-sdmmc` error as -errno.
fn errno_of(e: Error<i32>) -> i32 {
    match e {
        Error::DeviceError(code) => code,
        Error::NotFound => -errno::ENOENT,
        Error::FilenameError(_) => -errno::ENOENT,
        Error::FormatError(_) | Error::NoSuchVolume => -errno::EINVAL,
        _ => -errno::EIO,
    }
}

/// What went wrong, in words (not `Debug`: that would link `core`'s
/// formatting machinery into the module, where the kernel formats for it).
fn what(e: &Error<i32>) -> &'static str {
    match e {
        Error::DeviceError(_) => "I/O error",
        Error::FormatError(what) => what,
        Error::NoSuchVolume => "no FAT volume on the disk",
        Error::NotFound => "not found",
        Error::BadCluster => "bad cluster",
        Error::UnterminatedFatChain => "unterminated FAT chain",
        Error::EndOfFile => "unexpected end of file",
        _ => "FAT error",
    }
}

/// `NAME.EXT` of a short name, in `buf`.
fn short_name<'a>(name: &ShortFileName, buf: &'a mut [u8; 12]) -> &'a [u8] {
    let (base, ext) = (name.base_name(), name.extension());
    let mut n = 0;
    for &c in base.iter().take(8) {
        buf[n] = c;
        n += 1;
    }
    if !ext.is_empty() {
        buf[n] = b'.';
        n += 1;
        for &c in ext.iter().take(3) {
            buf[n] = c;
            n += 1;
        }
    }
    &buf[..n]
}

/// The entry called `name` in `dir`: its long name, or its short name in any case.
fn find(m: &Mount, dir: RawDirectory, name: &str) -> Result<Option<DirEntry>, i32> {
    let mut storage = [0u8; 256];
    let mut lfn = LfnBuffer::new(&mut storage);
    let mut found = None;
    m.vm.iterate_dir_lfn(dir, &mut lfn, |e, long| {
        if found.is_some() || e.attributes.is_volume() {
            return;
        }
        let mut buf = [0u8; 12];
        if long == Some(name) || short_name(&e.name, &mut buf).eq_ignore_ascii_case(name.as_bytes())
        {
            found = Some(e.clone());
        }
    })
    .map_err(errno_of)?;
    Ok(found)
}

/// Runs `f` on the directory at `path` (components separated by `/`;
/// empty for the root). Directories opened on the way are closed again,
/// whatever `f` returns.
fn in_dir<T>(
    m: &Mount,
    path: &str,
    f: impl FnOnce(&Mount, RawDirectory) -> Result<T, i32>,
) -> Result<T, i32> {
    let mut dir = m.root;
    let mut result = None;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let next = match find(m, dir, part) {
            Ok(Some(e)) if e.attributes.is_directory() => {
                m.vm.open_dir(dir, &e.name).map_err(errno_of)
            }
            Ok(Some(_)) => Err(-errno::ENOTDIR),
            Ok(None) => Err(-errno::ENOENT),
            Err(e) => Err(e),
        };
        if dir != m.root {
            let _ = m.vm.close_dir(dir);
        }
        match next {
            Ok(d) => dir = d,
            Err(e) => {
                result = Some(Err(e));
                dir = m.root;
                break;
            }
        }
    }
    let result = result.unwrap_or_else(|| f(m, dir));
    if dir != m.root {
        let _ = m.vm.close_dir(dir);
    }
    result
}

/// The mount behind `sb`.
fn mount_of<'a>(sb: *mut Opaque) -> &'a Mount {
    // SAFETY: `sb` is what `vfat_mount` returned, alive until `vfat_umount`; the kernel calls one operation at a time.
    unsafe { &*(sb as *const Mount) }
}

/// `path`'s directory and last component.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

extern "C" fn vfat_mount(bdev: *const BlockDevice, sb: *mut *mut Opaque, label: *mut u8) -> i32 {
    if bdev.is_null() || sb.is_null() || label.is_null() {
        return -errno::EINVAL;
    }
    let disk = Disk {
        bdev,
        readahead: RefCell::new(ReadAhead::default()),
    };
    let name = c_str(disk.bdev().name);
    let vm = VolumeManager::new_with_limits(disk, NoClock, 0);
    let volume = match vm.open_raw_volume(VolumeIdx(0)) {
        Ok(v) => v,
        Err(e) => {
            match &e {
                Error::FormatError(what) => pr_err!("{name}: not a FAT file system ({what})"),
                Error::DeviceError(code) => pr_err!("{name}: I/O error ({code})"),
                other => pr_err!("{name}: cannot mount: {}", what(other)),
            }
            return errno_of(e);
        }
    };
    let root = match vm.open_root_dir(volume) {
        Ok(r) => r,
        Err(e) => {
            pr_err!("{name}: cannot open the root directory: {}", what(&e));
            let _ = vm.close_volume(volume);
            return errno_of(e);
        }
    };
    // SAFETY: the kernel passes a buffer of FS_LABEL_SIZE bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(label, FS_LABEL_SIZE) };
    out.fill(0);
    if let Ok(Some(l)) = vm.get_root_volume_label(volume) {
        let l = l.name();
        let n = l.len().min(FS_LABEL_SIZE - 1);
        out[..n].copy_from_slice(&l[..n]);
    }
    let m = Box::new(Mount { vm, volume, root });
    // SAFETY: `sb` is the kernel's writable out-pointer.
    unsafe { *sb = Box::into_raw(m).cast() };
    0
}

extern "C" fn vfat_umount(sb: *mut Opaque) {
    if sb.is_null() {
        return;
    }
    // SAFETY: `sb` came from Box::into_raw in vfat_mount and the kernel ends each mount once.
    let m = unsafe { Box::from_raw(sb as *mut Mount) };
    let _ = m.vm.close_dir(m.root);
    let _ = m.vm.close_volume(m.volume);
}

extern "C" fn vfat_stat(sb: *mut Opaque, path: *const u8, size: *mut u64) -> i32 {
    let m = mount_of(sb);
    let path = c_str(path);
    if path.is_empty() {
        return 1;
    }
    let (dir, name) = split(path);
    let found = in_dir(m, dir, |m, dir| find(m, dir, name));
    match found {
        Ok(Some(e)) => {
            // SAFETY: the kernel passes a writable u64.
            unsafe { *size = e.size as u64 };
            i32::from(e.attributes.is_directory())
        }
        Ok(None) => -errno::ENOENT,
        Err(e) => e,
    }
}

extern "C" fn vfat_read(sb: *mut Opaque, path: *const u8, buf: *mut u8, len: usize) -> isize {
    let m = mount_of(sb);
    let (dir, name) = split(c_str(path));
    // SAFETY: the kernel passes a buffer valid for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let r = in_dir(m, dir, |m, dir| {
        let entry = match find(m, dir, name)? {
            Some(e) if e.attributes.is_directory() => return Err(-errno::EISDIR),
            Some(e) => e,
            None => return Err(-errno::ENOENT),
        };
        let file =
            m.vm.open_file_in_dir(dir, &entry.name, Mode::ReadOnly)
                .map_err(errno_of)?;
        let mut done = 0;
        let result = loop {
            if done == out.len() {
                break Ok(done);
            }
            match m.vm.read(file, &mut out[done..]) {
                Ok(0) => break Ok(done),
                Ok(n) => done += n,
                Err(e) => break Err(errno_of(e)),
            }
        };
        let _ = m.vm.close_file(file);
        result
    });
    match r {
        Ok(n) => n as isize,
        Err(e) => e as isize,
    }
}

extern "C" fn vfat_readdir(
    sb: *mut Opaque,
    path: *const u8,
    fill: FillDir,
    cookie: *mut Opaque,
) -> i32 {
    let m = mount_of(sb);
    let r = in_dir(m, c_str(path), |m, dir| {
        let mut storage = [0u8; 256];
        let mut lfn = LfnBuffer::new(&mut storage);
        m.vm.iterate_dir_lfn(dir, &mut lfn, |e, long| {
            if e.attributes.is_volume() {
                return;
            }
            let mut buf = [0u8; 12];
            let short = short_name(&e.name, &mut buf);
            if short == b"." || short == b".." {
                return;
            }
            let is_dir = u32::from(e.attributes.is_directory());
            match long {
                Some(l) => fill(cookie, l.as_ptr(), l.len(), e.size as u64, is_dir),
                None => {
                    let mut lower = [0u8; 12];
                    let n = short.len();
                    lower[..n].copy_from_slice(short);
                    lower[..n].make_ascii_lowercase();
                    fill(cookie, lower.as_ptr(), n, e.size as u64, is_dir)
                }
            }
        })
        .map_err(errno_of)
    });
    match r {
        Ok(()) => 0,
        Err(e) => e,
    }
}

static OPS: FsOps = FsOps {
    mount: Some(vfat_mount),
    umount: Some(vfat_umount),
    stat: Some(vfat_stat),
    read: Some(vfat_read),
    readdir: Some(vfat_readdir),
};

/// The file system type's id from `register_filesystem`.
static FS_ID: AtomicI32 = AtomicI32::new(0);

fn vfat_init() -> Result<(), i32> {
    // SAFETY: a NUL-terminated name and a static operations table.
    let id = unsafe {
        kabi::sys::register_filesystem(kabi::rt::this_module(), c"vfat".as_ptr().cast(), &OPS)
    };
    if id < 0 {
        return Err(id);
    }
    FS_ID.store(id, Ordering::Relaxed);
    Ok(())
}

fn vfat_exit() -> Result<(), i32> {
    // SAFETY: our own file system type's id.
    match unsafe {
        kabi::sys::unregister_filesystem(kabi::rt::this_module(), FS_ID.load(Ordering::Relaxed))
    } {
        r if r < 0 => Err(r),
        _ => Ok(()),
    }
}
