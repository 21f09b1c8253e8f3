//! The ABI boundary of `virtio_mmio`: its two exports (raw pointers in, errno
//! out) and the device-tree lookup. The only `unsafe` in the crate.

use crate::{claim, release};
use core::ffi::CStr;
use core::fmt::Write;
use kabi::{DtDevice, ThisModule};
use virtio_common::VirtioSlot;

/// The `index`-th device-tree node compatible with `compatible`.
pub fn dt_find_compatible(compatible: &CStr, index: u32) -> Option<DtDevice> {
    let mut dev = DtDevice::default();
    // SAFETY: `compatible` is NUL-terminated and `dev` writable for the call.
    let r = unsafe { kabi::sys::dt_find_compatible(compatible.as_ptr().cast(), index, &mut dev) };
    (r == 0).then_some(dev)
}

/// Asks for the driver of the device in node `node` (device `device_id`,
/// vendor `vendor_id`) by its alias, as Linux's virtio bus does
/// (`virtio:d%08Xv%08X`, drivers/virtio/virtio.c).
pub fn request_driver(node: &str, device_id: u32, vendor_id: u32) {
    let mut alias = [0u8; 32];
    let mut name = [0u8; 49];
    let mut w = Cursor {
        buf: &mut alias[..31],
        len: 0,
    };
    let _ = write!(w, "virtio:d{device_id:08X}v{vendor_id:08X}");
    let n = node.len().min(name.len() - 1);
    name[..n].copy_from_slice(&node.as_bytes()[..n]);
    // SAFETY: both strings are NUL-terminated (the last byte of each buffer is never written) and live for the call; the kernel copies them.
    let r = unsafe { kabi::sys::request_module(name.as_ptr(), alias.as_ptr()) };
    if r < 0 {
        kabi::pr_warn!("{node}: request_module failed: error {}", -r);
    }
}

/// Formats into a byte buffer, truncating.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let take = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
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
