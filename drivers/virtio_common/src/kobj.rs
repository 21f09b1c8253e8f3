//! The kernel objects a virtio driver registers (an interrupt handler, a
//! device), as handles: dropping an [`IrqRegistration`] frees the interrupt;
//! a [`DeviceRegistration`] is unregistered explicitly because that can fail
//! (while the device is open).

use core::ffi::CStr;
use kabi::{DeviceDesc, DeviceKind, DeviceOps, IrqHandler, Opaque};
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};

use crate::MmioRegs;

/// A registered interrupt handler of this module.
#[derive(Debug)]
pub struct IrqRegistration {
    intid: u32,
}

impl IrqRegistration {
    /// Registers `handler` on `intid` with context `ctx`, labelled `name`.
    pub fn request(intid: u32, handler: IrqHandler, ctx: usize, name: &CStr) -> Result<Self, i32> {
        if intid == 0 {
            return Err(kabi::errno::EINVAL);
        }
        // SAFETY: `handler` is a function of this module; the kernel copies the NUL-terminated label and treats `ctx` as opaque.
        let r = unsafe {
            kabi::sys::request_irq(
                kabi::rt::this_module(),
                intid,
                handler,
                ctx as *mut Opaque,
                name.as_ptr().cast(),
            )
        };
        if r < 0 {
            return Err(-r);
        }
        Ok(Self { intid })
    }

    pub fn intid(&self) -> u32 {
        self.intid
    }
}

impl Drop for IrqRegistration {
    fn drop(&mut self) {
        // SAFETY: plain call with our own handle and the interrupt we registered.
        let r = unsafe { kabi::sys::free_irq(kabi::rt::this_module(), self.intid) };
        if r < 0 {
            kabi::pr_err!("free_irq({}) failed: {}", self.intid, r);
        }
    }
}

/// A registered device of this module.
#[derive(Debug)]
pub struct DeviceRegistration {
    id: i32,
}

impl DeviceRegistration {
    /// Registers device `name` of `kind` with `ops` and context `ctx`; `size`
    /// in bytes for block devices.
    pub fn register(
        kind: DeviceKind,
        name: &CStr,
        ops: &'static DeviceOps,
        ctx: usize,
        size: u64,
    ) -> Result<Self, i32> {
        let desc = DeviceDesc {
            kind: kind as u32,
            name: name.as_ptr().cast(),
            ops,
            ctx: ctx as *mut Opaque,
            size,
        };
        // SAFETY: `desc` and what it points to outlive the call; `ops` is static.
        let id = unsafe { kabi::sys::register_device(kabi::rt::this_module(), &desc) };
        if id < 0 {
            return Err(-id);
        }
        Ok(Self { id })
    }

    /// Unregisters; on failure gives the registration back with the errno.
    pub fn unregister(self) -> Result<(), (Self, i32)> {
        // SAFETY: plain call with our own handle and device id.
        let r = unsafe { kabi::sys::unregister_device(kabi::rt::this_module(), self.id) };
        if r < 0 {
            return Err((self, -r));
        }
        Ok(())
    }
}

/// virtio-drivers' MMIO transport over the window `regs` maps (`size` bytes).
pub fn mmio_transport(regs: &MmioRegs, size: u64) -> Result<MmioTransport<'static>, MmioError> {
    let header = core::ptr::NonNull::new(regs.as_ptr().cast::<VirtIOHeader>())
        .ok_or(MmioError::MmioRegionTooSmall)?;
    let size = usize::try_from(size).map_err(|_| MmioError::MmioRegionTooSmall)?;
    if size < regs.window_size() {
        return Err(MmioError::MmioRegionTooSmall);
    }
    // `regs` maps at least `size` bytes (checked) of a virtio-mmio window for
    // the life of the kernel ('static); the caller claimed the slot from
    // virtio_mmio, so no other driver uses it. The acknowledge and reset
    // registers `MmioRegs` also touches are single volatile accesses.
    // SAFETY: a valid, exclusively claimed, 'static virtio-mmio header (above).
    unsafe { MmioTransport::new(header, size) }
}
