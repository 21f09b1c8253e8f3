//! The ABI boundary of `virtio_rng`: the device operation and the interrupt
//! handler as the kernel calls them, and the virtqueue requests, whose buffer
//! must outlive the request. The only `unsafe` in the crate.

use kabi::{errno, DeviceOps, Opaque};
use virtio_common::{mmio_transport, poll_until, KernelHal, MmioRegs};
use virtio_drivers::device::common::Feature;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport};
use virtio_drivers::transport::Transport;

/// The entropy device has one queue, `requestq` (virtio 1.2, 5.4.2).
const QUEUE: u16 = 0;
const QUEUE_SIZE: usize = 8;

/// The device and its queue.
pub struct Rng {
    transport: MmioTransport<'static>,
    queue: VirtQueue<KernelHal, QUEUE_SIZE>,
}

// SAFETY: an `Rng` is only reached through `RNG`'s lock, never from two CPUs at
// once; its pointers are to DMA memory and device registers.
unsafe impl Send for Rng {}

/// Why the device could not be brought up.
pub enum ProbeError {
    Transport(MmioError),
    Queue(virtio_drivers::Error),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProbeError::Transport(e) => write!(f, "bad virtio-mmio header: {e}"),
            ProbeError::Queue(e) => write!(f, "cannot set up the request queue: {e}"),
        }
    }
}

/// A failed request.
pub enum RequestError {
    Queue(virtio_drivers::Error),
    /// No answer in time; the device has been reset.
    Timeout,
}

impl Rng {
    /// Initialises the device (virtio 1.2, 3.1.1) with no optional features.
    pub fn new(regs: &MmioRegs, size: u64) -> Result<Self, ProbeError> {
        let mut transport = mmio_transport(regs, size).map_err(ProbeError::Transport)?;
        transport.begin_init(Feature::VERSION_1);
        let queue =
            VirtQueue::new(&mut transport, QUEUE, false, false).map_err(ProbeError::Queue)?;
        transport.finish_init();
        Ok(Self { transport, queue })
    }

    /// Posts `dst` for the device to fill and waits at most `timeout_us`;
    /// returns the bytes written. On a timeout the device is reset before
    /// returning, so it cannot write to `dst` afterwards.
    pub fn fill(
        &mut self,
        regs: &MmioRegs,
        dst: &mut [u8],
        timeout_us: u64,
    ) -> Result<usize, RequestError> {
        // SAFETY: `dst` is untouched until `pop_used` succeeds or a reset.
        let token =
            unsafe { self.queue.add(&[], &mut [&mut *dst]) }.map_err(RequestError::Queue)?;
        if self.queue.should_notify() {
            self.transport.notify(QUEUE);
        }
        let queue = &self.queue;
        if !poll_until(timeout_us, || queue.can_pop()) {
            regs.reset();
            return Err(RequestError::Timeout);
        }
        // SAFETY: the same buffer as was added with `token`.
        let n = unsafe { self.queue.pop_used(token, &[], &mut [&mut *dst]) }
            .map_err(RequestError::Queue)?;
        Ok(n as usize)
    }
}

impl Drop for Rng {
    fn drop(&mut self) {
        // The transport's own drop then resets the device, before the queue's
        // DMA memory is freed.
        self.transport.queue_unset(QUEUE);
    }
}

/// The interrupt handler.
pub extern "C" fn rng_irq(_intid: u32, _ctx: *mut Opaque) {
    crate::handle_irq();
}

pub static OPS: DeviceOps = DeviceOps {
    open: None,
    release: None,
    read: Some(rng_read),
    write: None,
    flush: None,
};

extern "C" fn rng_read(_ctx: *mut Opaque, buf: *mut u8, len: usize, _offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    // SAFETY: the kernel passes a buffer valid for writes of `len` bytes that nothing else touches for the duration of the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    match crate::read(buf) {
        Ok(n) => n as isize,
        Err(e) => -(e as isize),
    }
}
