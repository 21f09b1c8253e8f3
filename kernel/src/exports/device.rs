//! Device exports: device-tree lookup, device registration, tty input,
//! `request_module`.

use super::{cstr_bytes, cstr_name, owner};
use crate::kobject::{self, Kind, Ops};
use kabi::{errno, DeviceDesc, DeviceKind, DtDevice, ThisModule};

/// Where the last [`dt_find_compatible`] found its device: the string it was
/// asked for, the index, and the device's position in `machine::devices()`
/// (which never changes after boot).
struct FindCursor {
    compatible: alloc::vec::Vec<u8>,
    index: u32,
    position: usize,
}

static FIND_CURSOR: crate::sync::IrqLock<Option<FindCursor>> = crate::sync::IrqLock::new(None);

/// # Safety
/// `compatible` NUL-terminated; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn dt_find_compatible(
    compatible: *const u8,
    index: u32,
    out: *mut DtDevice,
) -> i32 {
    let (Some(compat), false) = (cstr_bytes(compatible), out.is_null()) else {
        return -errno::EINVAL;
    };
    let devices = crate::machine::devices();
    // Resume where the last call for the same string stopped when asked for
    // the next index: a driver walks 0, 1, 2, ... (virtio_mmio its 32 slots),
    // and a scan from the start each time made that walk quadratic.
    let (mut position, mut seen) = (0, 0u32);
    {
        let last = FIND_CURSOR.lock();
        if let Some(c) = last.as_ref() {
            if *c.compatible == *compat && index > c.index {
                (position, seen) = (c.position + 1, c.index + 1);
            }
        }
    }
    let found = devices
        .iter()
        .enumerate()
        .skip(position)
        .filter(|(_, d)| d.is_compatible_bytes(compat))
        .nth((index - seen) as usize);
    let Some((at, d)) = found else {
        return -errno::ENODEV;
    };
    {
        let mut last = FIND_CURSOR.lock();
        match last.as_mut() {
            // The same string as last time: keep its copy.
            Some(c) if *c.compatible == *compat => (c.index, c.position) = (index, at),
            _ => {
                *last = Some(FindCursor {
                    compatible: compat.into(),
                    index,
                    position: at,
                })
            }
        }
    }
    let mut dev = DtDevice::default();
    for (i, r) in d.regs().iter().take(4).enumerate() {
        dev.reg_base[i] = r.start;
        dev.reg_size[i] = r.size();
    }
    dev.nregs = d.regs().len().min(4) as u32;
    for (i, irq) in d.irqs().iter().take(4).enumerate() {
        dev.irqs[i] = *irq;
    }
    dev.nirqs = d.irqs().len().min(4) as u32;
    let n = d.name.len().min(dev.name.len() - 1);
    dev.name[..n].copy_from_slice(&d.name.as_bytes()[..n]);
    // SAFETY: the caller passes a writable DtDevice.
    unsafe { *out = dev };
    0
}

/// # Safety
/// `desc` points to a valid `DeviceDesc` whose `ops` and `name` are valid.
#[no_mangle]
pub unsafe extern "C" fn register_device(
    owner_ptr: *const ThisModule,
    desc: *const DeviceDesc,
) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    if desc.is_null() {
        return -errno::EINVAL;
    }
    // SAFETY: the caller passes a valid descriptor.
    let d = unsafe { &*desc };
    let Some(name) = cstr_name(d.name) else {
        return -errno::EINVAL;
    };
    let kind = match d.kind {
        0 => DeviceKind::Char,
        1 => DeviceKind::Tty,
        2 => DeviceKind::Block,
        _ => return -errno::EINVAL,
    };
    let ops = if d.ops.is_null() {
        Ops::default()
    } else {
        // SAFETY: a non-null ops table from the module.
        let o = unsafe { &*d.ops };
        Ops {
            open: o.open.map(|f| f as usize),
            release: o.release.map(|f| f as usize),
            read: o.read.map(|f| f as usize),
            write: o.write.map(|f| f as usize),
            flush: o.flush.map(|f| f as usize),
        }
    };
    match kobject::register(
        name,
        Kind::Device(kind),
        Some(m),
        ops,
        d.ctx as usize,
        d.size,
    ) {
        Ok(o) => o.id as i32,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn unregister_device(owner_ptr: *const ThisModule, id: i32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    match kobject::unregister(id as u32, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn request_module(device: *const u8, alias: *const u8) -> i32 {
    let (Some(device), Some(alias)) = (cstr_name(device), cstr_name(alias)) else {
        return -errno::EINVAL;
    };
    crate::kmod::request(&device, &alias);
    0
}

/// # Safety
/// `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tty_receive(
    owner_ptr: *const ThisModule,
    id: i32,
    buf: *const u8,
    len: usize,
) {
    // One console input queue serves every tty for now; `id` will pick the
    // tty's own queue when there is more than one.
    if buf.is_null() || owner(owner_ptr).is_none() || id <= 0 {
        return;
    }
    // SAFETY: the driver passes a buffer valid for `len` bytes (bounded).
    let bytes = unsafe { core::slice::from_raw_parts(buf, len.min(4096)) };
    crate::console::receive(bytes);
}
