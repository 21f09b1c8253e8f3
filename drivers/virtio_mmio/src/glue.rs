//! The ABI boundary of `virtio_mmio`: its two exports (raw pointers in, errno
//! out) and the device-tree lookup. The only `unsafe` in the crate.

use crate::{claim, release};
use core::ffi::CStr;
use kabi::{DtDevice, ThisModule};
use virtio_common::VirtioSlot;

/// The `index`-th device-tree node compatible with `compatible`.
pub fn dt_find_compatible(compatible: &CStr, index: u32) -> Option<DtDevice> {
    let mut dev = DtDevice::default();
    // SAFETY: `compatible` is NUL-terminated and `dev` writable for the call.
    let r = unsafe { kabi::sys::dt_find_compatible(compatible.as_ptr().cast(), index, &mut dev) };
    (r == 0).then_some(dev)
}

/// See `virtio_common::slot::virtio_mmio_claim`.
#[no_mangle]
pub extern "C" fn virtio_mmio_claim(
    owner: *const ThisModule,
    device_id: u32,
    out: *mut VirtioSlot,
) -> i32 {
    if out.is_null() {
        return -kabi::errno::EINVAL;
    }
    match claim(owner, device_id) {
        Ok(slot) => {
            // SAFETY: the caller passes a writable `VirtioSlot` (checked non-null).
            unsafe { out.write(slot) };
            slot.index as i32
        }
        Err(e) => -e,
    }
}

/// See `virtio_common::slot::virtio_mmio_release`.
#[no_mangle]
pub extern "C" fn virtio_mmio_release(owner: *const ThisModule, index: u32) -> i32 {
    match release(owner, index) {
        Ok(()) => 0,
        Err(e) => -e,
    }
}

virtio_common::virtio_mmio_symbols!(export_symbol);
