//! Opening, reading and writing devices that modules register, by name
//! (`/dev/NAME` at the shell).
//!
//! An open file holds an [`ObjectRef`] (and so, for the first opener, a
//! reference on the device's module) until it is closed. Every call into the
//! device's operations goes through `modcall::call_guarded4`: a device whose
//! code faults fails the call with -EFAULT and its module is marked failed.

use crate::kobject::{self, KObject, ObjectRef};
use crate::sync::IrqLock;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kabi::errno;

pub struct OpenFile {
    handle: ObjectRef,
    pub offset: u64,
}

/// A descriptor slot. `Busy` while a call has the file out of the table, so
/// the slot is neither reused by `open` nor used twice at once.
enum Slot {
    Free,
    Open(OpenFile),
    Busy,
}

static FILES: IrqLock<Vec<Slot>> = IrqLock::new(Vec::new());
/// Descriptors 0..2 are the console's, as on Unix.
const FIRST_FD: usize = 3;

fn call(obj: &KObject, func: usize, args: [usize; 4]) -> i64 {
    kobject::call_op(obj, func, args)
}

/// Opens device `name`; returns a descriptor.
pub fn open(name: &str) -> Result<usize, i32> {
    let obj = kobject::find_device(name).ok_or(-errno::ENODEV)?;
    let handle = kobject::open_device(&obj)?;
    let mut files = FILES.lock();
    let slot = files
        .iter()
        .position(|s| matches!(s, Slot::Free))
        .unwrap_or_else(|| {
            files.push(Slot::Free);
            files.len() - 1
        });
    files[slot] = Slot::Open(OpenFile { handle, offset: 0 });
    Ok(slot + FIRST_FD)
}

/// Takes the open file out of its slot, leaving the slot `Busy`.
fn take(fd: usize) -> Option<OpenFile> {
    let mut files = FILES.lock();
    let slot = files.get_mut(fd.checked_sub(FIRST_FD)?)?;
    match core::mem::replace(slot, Slot::Busy) {
        Slot::Open(f) => Some(f),
        other => {
            *slot = other;
            None
        }
    }
}

fn put_back(fd: usize, f: OpenFile) {
    if let Some(slot) = FILES.lock().get_mut(fd - FIRST_FD) {
        *slot = Slot::Open(f);
    }
}

/// Frees a slot `take` left busy.
fn free_slot(fd: usize) {
    if let Some(slot) = FILES.lock().get_mut(fd - FIRST_FD) {
        *slot = Slot::Free;
    }
}

/// Closes a descriptor (the last close of a device calls its `release`).
pub fn close(fd: usize) -> Result<(), i32> {
    let f = take(fd).ok_or(-errno::EINVAL)?;
    kobject::close_device(f.handle);
    free_slot(fd);
    Ok(())
}

/// Calls the read or write operation on `len` bytes at `ptr`, at the
/// descriptor's offset, and advances the offset by what was transferred.
fn transfer(fd: usize, write: bool, ptr: usize, len: usize) -> Result<usize, i32> {
    let mut f = take(fd).ok_or(-errno::EINVAL)?;
    let obj = Arc::clone(f.handle.object());
    if write && obj.writes_claimed() {
        put_back(fd, f);
        return Err(-errno::EBUSY);
    }
    let op = if write { obj.ops.write } else { obj.ops.read };
    let r = match op {
        Some(op) => call(&obj, op, [obj.ctx, ptr, len, f.offset as usize]),
        None => -(errno::EINVAL as i64),
    };
    if r > 0 {
        f.offset += (r as u64).min(len as u64);
    }
    put_back(fd, f);
    if r < 0 {
        Err(r as i32)
    } else {
        Ok((r as usize).min(len))
    }
}

/// Reads up to `buf.len()` bytes at the descriptor's offset.
pub fn read(fd: usize, buf: &mut [u8]) -> Result<usize, i32> {
    transfer(fd, false, buf.as_mut_ptr() as usize, buf.len())
}

/// Writes `data` at the descriptor's offset.
pub fn write(fd: usize, data: &[u8]) -> Result<usize, i32> {
    transfer(fd, true, data.as_ptr() as usize, data.len())
}

/// Flushes a descriptor's device (block devices); devices without `flush` have
/// nothing to make durable.
pub fn flush(fd: usize) -> Result<(), i32> {
    let f = take(fd).ok_or(-errno::EINVAL)?;
    let obj = Arc::clone(f.handle.object());
    let r = match obj.ops.flush {
        Some(op) => call(&obj, op, [obj.ctx, 0, 0, 0]) as i32,
        None => 0,
    };
    put_back(fd, f);
    if r < 0 {
        Err(r)
    } else {
        Ok(())
    }
}

/// Sets the descriptor's offset (`lseek(fd, offset, SEEK_SET)`); the next
/// transfer starts there.
#[cfg(feature = "selftest")]
pub fn seek(fd: usize, offset: u64) -> Result<(), i32> {
    let mut files = FILES.lock();
    match files.get_mut(fd.wrapping_sub(FIRST_FD)) {
        Some(Slot::Open(f)) => {
            f.offset = offset;
            Ok(())
        }
        _ => Err(-errno::EINVAL),
    }
}

/// Whether the descriptor's device has its writes claimed (a mounted disk).
#[cfg(feature = "selftest")]
pub fn writes_claimed(fd: usize) -> bool {
    FILES
        .lock()
        .get(fd.wrapping_sub(FIRST_FD))
        .is_some_and(|s| matches!(s, Slot::Open(f) if f.handle.object().writes_claimed()))
}

/// Open descriptors: (fd, device name, offset).
pub fn list(mut f: impl FnMut(usize, &str, u64)) {
    for (i, file) in FILES.lock().iter().enumerate() {
        if let Slot::Open(file) = file {
            f(i + FIRST_FD, &file.handle.object().name, file.offset);
        }
    }
}

/// One read of device `name` without a descriptor: the reference is taken
/// for the read and dropped after it (open and release called as for an
/// open/read/close), so any CPU may call it while the device's module comes
/// and goes: -ENODEV when the device is gone, -EBUSY while its module is
/// going.
#[cfg(feature = "selftest")]
pub fn read_once(name: &str, buf: &mut [u8]) -> Result<usize, i32> {
    let obj = kobject::find_device(name).ok_or(-errno::ENODEV)?;
    let handle = kobject::open_device(&obj)?;
    let r = match obj.ops.read {
        Some(op) => call(&obj, op, [obj.ctx, buf.as_mut_ptr() as usize, buf.len(), 0]),
        None => -(errno::EINVAL as i64),
    };
    kobject::close_device(handle);
    if r < 0 {
        Err(r as i32)
    } else {
        Ok((r as usize).min(buf.len()))
    }
}
