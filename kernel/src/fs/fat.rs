//! The disk: a FAT file system on a block device a driver module registered,
//! mounted at `/disk` with the `embedded-sdmmc` crate (FAT16/32, MBR-partitioned
//! disks, long names read through their LFN entries).
//!
//! A mount holds the block device open through an [`ObjectRef`], so its driver
//! module cannot be unloaded while mounted (`rmmod virtio_blk` is refused with
//! `vda (1 open)`); `umount` releases it. While mounted, the file system owns
//! the device's writes ([`WriteClaim`]): a raw `write` or `blkbench ... write`
//! on it gets EBUSY, as Linux 6.8 does with BLK_DEV_WRITE_MOUNTED=n.
//! Every sector goes through the device's `read`/`write` operations in guarded module calls: a faulting or failing
//! driver becomes an I/O error here, never a kernel fault. The mount is used
//! from thread context only and sits behind a plain spin mutex, so interrupts
//! (the driver's completion interrupt among them) stay enabled during I/O.

use crate::arch::modcall;
use crate::kobject::{self, KObject, ObjectRef, WriteClaim};
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use embedded_sdmmc::{
    Block, BlockCount, BlockDevice, BlockIdx, Mode, RawDirectory, RawVolume, TimeSource, Timestamp,
    VolumeIdx, VolumeManager,
};
use kabi::errno;

const SECTOR: usize = 512;

/// A registered block device, as `embedded-sdmmc` sees it.
pub struct BlockDev {
    handle: ObjectRef,
    /// Raw writes through devfs are refused while mounted.
    _claim: WriteClaim,
    readahead: core::cell::RefCell<ReadAhead>,
}

/// Sectors read ahead: `embedded-sdmmc` asks for one sector at a time, and each
/// request to the driver is a virtqueue round trip, so reads fetch `READAHEAD`
/// sectors at once into one of `WINDOWS` windows (least recently used is
/// replaced), which keeps the FAT and the file's data both cached while a file
/// is read. Writes go straight to the device and drop the windows they overlap,
/// so no window ever serves stale data.
const READAHEAD: usize = 32;
const WINDOWS: usize = 4;

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

impl BlockDev {
    fn obj(&self) -> &Arc<KObject> {
        self.handle.object()
    }

    fn call(&self, op: Option<usize>, buf: usize, len: usize, offset: u64) -> Result<usize, i32> {
        let obj = self.obj();
        let (Some(f), Some(owner)) = (op, obj.owner.as_ref()) else {
            return Err(-errno::EIO);
        };
        // SAFETY: we hold an ObjectRef, so the driver module is LIVE and `f` is its registered operation.
        match unsafe { modcall::call_guarded4(f, [obj.ctx, buf, len, offset as usize], owner.text) }
        {
            Ok(r) if (r as i64) < 0 => Err(r as i64 as i32),
            Ok(r) => Ok(r as usize),
            Err(modcall::Fault) => {
                owner.refs.set_failed();
                Err(-errno::EFAULT)
            }
        }
    }
}

impl BlockDev {
    /// One request for `count` sectors at `start` (`[Block]` is contiguous
    /// 512-byte arrays); anything short of all of them is an I/O error.
    fn whole(
        &self,
        op: Option<usize>,
        buf: usize,
        count: usize,
        start: BlockIdx,
    ) -> Result<(), i32> {
        let len = count * SECTOR;
        if self.call(op, buf, len, start.0 as u64 * SECTOR as u64)? == len {
            Ok(())
        } else {
            Err(-errno::EIO)
        }
    }
}

impl BlockDevice for BlockDev {
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
            let total = self.obj().size / SECTOR as u64;
            let want = (total.saturating_sub(first) as usize).min(READAHEAD);
            let w = &mut ra.windows[lru];
            if w.buf.len() < READAHEAD * SECTOR
                && w.buf.try_reserve_exact(READAHEAD * SECTOR).is_ok()
            {
                w.buf.resize(READAHEAD * SECTOR, 0);
            }
            w.valid = 0;
            if want >= count && w.buf.len() >= want * SECTOR {
                let buf = w.buf.as_mut_ptr() as usize;
                if self.call(
                    self.obj().ops.read,
                    buf,
                    want * SECTOR,
                    first * SECTOR as u64,
                )? == want * SECTOR
                {
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
        self.whole(
            self.obj().ops.read,
            blocks.as_mut_ptr() as usize,
            count,
            start,
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
        self.whole(
            self.obj().ops.write,
            blocks.as_ptr() as usize,
            blocks.len(),
            start,
        )
    }

    fn num_blocks(&self) -> Result<BlockCount, i32> {
        Ok(BlockCount(
            (self.obj().size / SECTOR as u64).min(u32::MAX as u64) as u32,
        ))
    }
}

/// Files get a fixed timestamp: the kernel has no wall clock yet.
pub struct NoClock;

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

struct Mount {
    device: String,
    vm: VolumeManager<BlockDev, NoClock, 4, 4, 1>,
    volume: RawVolume,
    root: RawDirectory,
}

// SAFETY: the volume manager's RefCell is only ever touched with the MOUNT
// mutex held, so it is never shared between CPUs without synchronization.
unsafe impl Send for Mount {}

/// Boxed, so that `None` is a null pointer: the static is all-zero bytes and
/// sits in `.bss` instead of 1.2 KiB of the Image's `.data`.
static MOUNT: crate::sync::Mutex<Option<alloc::boxed::Box<Mount>>> = crate::sync::Mutex::new(None);

fn fs_error(e: embedded_sdmmc::Error<i32>) -> String {
    use embedded_sdmmc::Error as E;
    match e {
        E::DeviceError(code) => alloc::format!("I/O error ({})", kcore::errno::strerror(code)),
        E::FormatError(what) => alloc::format!("not a FAT file system ({what})"),
        E::NotFound => "No such file or directory".to_string(),
        E::FilenameError(_) => "invalid file name".to_string(),
        other => alloc::format!("{other:?}"),
    }
}

/// Mounts the FAT file system on block device `name` at `/disk`.
pub fn mount(name: &str) -> Result<String, String> {
    let mut m = MOUNT.lock();
    if let Some(cur) = m.as_ref() {
        return Err(alloc::format!("/disk is already mounted ({})", cur.device));
    }
    let obj = kobject::find_device(name).ok_or_else(|| alloc::format!("{name}: No such device"))?;
    if !matches!(obj.kind, kobject::Kind::Device(kabi::DeviceKind::Block)) {
        return Err(alloc::format!("{name}: not a block device"));
    }
    let handle =
        ObjectRef::get(&obj).map_err(|_| alloc::format!("{name}: Device or resource busy"))?;
    let dev = BlockDev {
        _claim: WriteClaim::new(&obj),
        handle,
        readahead: core::cell::RefCell::new(ReadAhead::default()),
    };
    let vm = VolumeManager::new_with_limits(dev, NoClock, 0);
    let volume = vm
        .open_raw_volume(VolumeIdx(0))
        .map_err(|e| alloc::format!("{name}: {}", fs_error(e)))?;
    let root = vm
        .open_root_dir(volume)
        .map_err(|e| alloc::format!("{name}: {}", fs_error(e)))?;
    let label = vm
        .get_root_volume_label(volume)
        .ok()
        .flatten()
        .map(|l| l.to_string())
        .unwrap_or_default();
    *m = Some(alloc::boxed::Box::new(Mount {
        device: name.to_string(),
        vm,
        volume,
        root,
    }));
    Ok(label)
}

/// Unmounts `/disk`, releasing the block device.
pub fn umount() -> Result<String, String> {
    let mut m = MOUNT.lock();
    let mount = *m.take().ok_or_else(|| "not mounted".to_string())?;
    let _ = mount.vm.close_dir(mount.root);
    let _ = mount.vm.close_volume(mount.volume);
    Ok(mount.device)
}

/// The mounted device, if any.
pub fn mounted() -> Option<String> {
    MOUNT.lock().as_ref().map(|m| m.device.clone())
}

/// A directory entry: long name (or the short one), size, directory flag.
pub struct Entry {
    pub name: String,
    pub short: String,
    pub size: u32,
    pub is_dir: bool,
}

/// The entries of `dir`.
fn entries(mount: &Mount, dir: RawDirectory) -> Result<Vec<Entry>, String> {
    let mut storage = [0u8; 256];
    let mut lfn = embedded_sdmmc::LfnBuffer::new(&mut storage);
    let mut out = Vec::new();
    mount
        .vm
        .iterate_dir_lfn(dir, &mut lfn, |e, long| {
            if e.attributes.is_volume() {
                return;
            }
            let short = e.name.to_string();
            if short == "." || short == ".." {
                return;
            }
            out.push(Entry {
                name: long
                    .map(str::to_string)
                    .unwrap_or_else(|| short.to_ascii_lowercase()),
                short,
                size: e.size,
                is_dir: e.attributes.is_directory(),
            });
        })
        .map_err(fs_error)?;
    Ok(out)
}

/// The entry called `name` (its long name, or its short name in any case).
fn find(entries: Vec<Entry>, name: &str) -> Option<Entry> {
    entries
        .into_iter()
        .find(|e| e.name == name || e.short.eq_ignore_ascii_case(name))
}

/// Runs `f` on the directory at `path` (components separated by `/`, relative
/// to the root; empty for the root). Directories opened on the way are closed
/// again, whatever `f` returns.
fn in_dir<T>(
    mount: &Mount,
    path: &str,
    f: impl FnOnce(&Mount, RawDirectory) -> Result<T, String>,
) -> Result<T, String> {
    let mut dir = mount.root;
    let mut result = None;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let next = match find(entries(mount, dir)?, part) {
            Some(e) if e.is_dir => mount.vm.open_dir(dir, e.short.as_str()).map_err(fs_error),
            Some(_) => Err("Not a directory".to_string()),
            None => Err("No such file or directory".to_string()),
        };
        if dir != mount.root {
            let _ = mount.vm.close_dir(dir);
        }
        match next {
            Ok(d) => dir = d,
            Err(e) => {
                result = Some(Err(e));
                dir = mount.root;
                break;
            }
        }
    }
    let result = result.unwrap_or_else(|| f(mount, dir));
    if dir != mount.root {
        let _ = mount.vm.close_dir(dir);
    }
    result
}

/// The entries of the directory at `path` (relative to `/disk`; empty for the
/// root).
pub fn list(path: &str) -> Result<Vec<Entry>, String> {
    let m = MOUNT.lock();
    let mount = m.as_ref().ok_or_else(|| "not mounted".to_string())?;
    in_dir(mount, path, entries)
}

/// Reads a whole file by its path relative to `/disk` (long or short names).
pub fn read(path: &str) -> Result<Vec<u8>, String> {
    let m = MOUNT.lock();
    let mount = m.as_ref().ok_or_else(|| "not mounted".to_string())?;
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    in_dir(mount, dir, |mount, dir| {
        let entry = match find(entries(mount, dir)?, name) {
            Some(e) if e.is_dir => return Err("Is a directory".to_string()),
            Some(e) => e,
            None => return Err("No such file or directory".to_string()),
        };
        read_file(mount, dir, &entry)
    })
}

/// Reads the whole of `entry`, a file in `dir`.
fn read_file(mount: &Mount, dir: RawDirectory, entry: &Entry) -> Result<Vec<u8>, String> {
    let file = mount
        .vm
        .open_file_in_dir(dir, entry.short.as_str(), Mode::ReadOnly)
        .map_err(fs_error)?;
    let mut data = Vec::new();
    let result = (|| {
        data.try_reserve_exact(entry.size as usize)
            .map_err(|_| "Cannot allocate memory".to_string())?;
        data.resize(entry.size as usize, 0);
        let mut done = 0;
        while done < data.len() {
            let n = mount.vm.read(file, &mut data[done..]).map_err(fs_error)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        data.truncate(done);
        Ok(())
    })();
    let _ = mount.vm.close_file(file);
    result.map(|()| data)
}
