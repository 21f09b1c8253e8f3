//! The ABI boundary of `virtio_blk`: device operations and the interrupt
//! handler as the kernel calls them (raw pointers in, -errno out), and
//! virtio-drivers' non-blocking requests, whose buffers must outlive the
//! request. The only `unsafe` in the crate.

use crate::{RequestError, REQUEST_TIMEOUT_US};
use kabi::{errno, DeviceOps, Opaque};
use virtio_common::{mmio_transport, poll_until, KernelHal, MmioRegs};
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioError, MmioTransport};

/// The virtio-drivers block device this module drives.
pub struct Blk(VirtIOBlk<KernelHal, MmioTransport<'static>>);

// SAFETY: a `Blk` is only ever reached through its disk's lock, so it is never
// used from two CPUs at once; the raw pointers inside point to DMA memory and
// device registers that do not depend on the CPU.
unsafe impl Send for Blk {}

impl core::ops::Deref for Blk {
    type Target = VirtIOBlk<KernelHal, MmioTransport<'static>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
impl core::ops::DerefMut for Blk {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Why a slot could not become a block device.
pub enum ProbeError {
    Transport(MmioError),
    Device(virtio_drivers::Error),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProbeError::Transport(e) => write!(f, "bad virtio-mmio header: {e}"),
            ProbeError::Device(e) => write!(f, "virtio-blk initialisation failed: {e}"),
        }
    }
}

/// Brings up the virtio block device behind `regs` (`size` bytes of window).
pub fn new_blk(regs: &MmioRegs, size: u64) -> Result<Blk, ProbeError> {
    let transport = mmio_transport(regs, size).map_err(ProbeError::Transport)?;
    VirtIOBlk::new(transport)
        .map(Blk)
        .map_err(ProbeError::Device)
}

/// A caller's buffer for one transfer.
pub enum IoBuf<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

impl IoBuf<'_> {
    pub fn len(&self) -> usize {
        match self {
            IoBuf::Read(b) => b.len(),
            IoBuf::Write(b) => b.len(),
        }
    }

    /// `len` bytes from `start`.
    pub fn range(&mut self, start: usize, len: usize) -> IoBuf<'_> {
        match self {
            IoBuf::Read(b) => IoBuf::Read(&mut b[start..start + len]),
            IoBuf::Write(b) => IoBuf::Write(&b[start..start + len]),
        }
    }
}

/// Submits one request, polls for its completion for at most
/// `REQUEST_TIMEOUT_US`, and completes it. On a timeout the device is reset
/// before returning, so it cannot touch `buf` (or this frame) afterwards.
pub fn request(
    blk: &mut Blk,
    regs: &MmioRegs,
    sector: u64,
    buf: IoBuf<'_>,
) -> Result<(), RequestError> {
    let mut req = BlkReq::default();
    let mut resp = BlkResp::default();
    let block = sector as usize;
    match buf {
        IoBuf::Read(buf) => {
            // SAFETY: `req`, `buf` and `resp` are not touched again until the
            // request is completed below or the device has been reset.
            let token = unsafe { blk.read_blocks_nb(block, &mut req, buf, &mut resp) }
                .map_err(RequestError::Submit)?;
            if !poll_until(REQUEST_TIMEOUT_US, || blk.peek_used() == Some(token)) {
                regs.reset();
                return Err(RequestError::Timeout);
            }
            // SAFETY: the same buffers as were submitted with `token`.
            unsafe { blk.complete_read_blocks(token, &req, buf, &mut resp) }
                .map_err(RequestError::Device)
        }
        IoBuf::Write(buf) => {
            // SAFETY: as for reads.
            let token = unsafe { blk.write_blocks_nb(block, &mut req, buf, &mut resp) }
                .map_err(RequestError::Submit)?;
            if !poll_until(REQUEST_TIMEOUT_US, || blk.peek_used() == Some(token)) {
                regs.reset();
                return Err(RequestError::Timeout);
            }
            // SAFETY: the same buffers as were submitted with `token`.
            unsafe { blk.complete_write_blocks(token, &req, buf, &mut resp) }
                .map_err(RequestError::Device)
        }
    }
}

/// The interrupt handler: `ctx` is the disk's index.
pub extern "C" fn blk_irq(_intid: u32, ctx: *mut Opaque) {
    crate::handle_irq(ctx as usize);
}

/// The operations of every disk; the context is the disk's index.
pub static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: Some(blk_read),
    write: Some(blk_write),
    flush: Some(blk_flush),
};

fn result(r: Result<usize, i32>) -> isize {
    match r {
        Ok(n) => n as isize,
        Err(e) => -(e as isize),
    }
}

extern "C" fn blk_read(ctx: *mut Opaque, buf: *mut u8, len: usize, offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    // SAFETY: the kernel passes a buffer valid for writes of `len` bytes that
    // nothing else touches for the duration of the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    result(crate::read(ctx as usize, buf, offset))
}

extern "C" fn blk_write(ctx: *mut Opaque, buf: *const u8, len: usize, offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    // SAFETY: the kernel passes a buffer valid for reads of `len` bytes for the
    // duration of the call.
    let buf = unsafe { core::slice::from_raw_parts(buf, len) };
    result(crate::write(ctx as usize, buf, offset))
}

extern "C" fn blk_flush(ctx: *mut Opaque) -> i32 {
    match crate::flush(ctx as usize) {
        Ok(()) => 0,
        Err(e) => -e,
    }
}
