//! The ABI boundary of `virtio_blk`: device operations and the interrupt
//! handler as the kernel calls them (raw pointers in, -errno out), and the
//! block protocol over virtio-drivers' `VirtQueue` and MMIO transport, whose
//! request buffers must outlive each request. The only `unsafe` in the crate.
//!
//! The driver speaks virtio-blk itself (virtio 1.2, 5.2.6) rather than through
//! `virtio_drivers::device::blk::VirtIOBlk`, whose flush only exists as a
//! blocking call with no deadline and which waits for one request at a time:
//! here every request (read, write, flush) is polled for with a deadline, and
//! a transfer keeps several requests in flight.

use crate::{RequestError, SECTOR_SIZE};
use kabi::{errno, DeviceOps, Opaque};
use virtio_common::{mmio_transport, poll_until, KernelHal, MmioRegs};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport};
use virtio_drivers::transport::Transport;

/// The one request queue of a virtio block device.
const QUEUE: u16 = 0;
/// Descriptors in the queue; a request takes 2 (flush) or 3 (read, write).
const QUEUE_SIZE: usize = 32;
/// Requests a transfer keeps in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Largest single request.
pub const MAX_REQUEST: usize = 256 << 10;

bitflags::bitflags! {
    /// The feature bits this driver knows (virtio 1.2, 5.2.3 and 6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct BlkFeature: u64 {
        const RO = 1 << 5;
        const FLUSH = 1 << 9;
        const VERSION_1 = 1 << 32;
    }
}

/// Request types (virtio 1.2, 5.2.6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Read = 0,
    Write = 1,
    Flush = 4,
}

impl Op {
    /// As Linux names them in I/O error messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "READ",
            Op::Write => "WRITE",
            Op::Flush => "FLUSH",
        }
    }
}

/// A virtio block device: its transport and request queue.
pub struct Blk {
    transport: MmioTransport<'static>,
    queue: VirtQueue<KernelHal, QUEUE_SIZE>,
    capacity: u64,
    features: BlkFeature,
}

// SAFETY: a `Blk` is only ever reached through its disk's lock, so it is never
// used from two CPUs at once; the raw pointers inside point to DMA memory and
// device registers that do not depend on the CPU.
unsafe impl Send for Blk {}

impl Drop for Blk {
    fn drop(&mut self) {
        // The device must not reach the queue once it is freed: unset it here,
        // then the transport's drop resets the device, then the queue's frees
        // its memory (fields drop in order).
        self.transport.queue_unset(QUEUE);
    }
}

impl Blk {
    /// Size in 512-byte sectors, from the config space.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn readonly(&self) -> bool {
        self.features.contains(BlkFeature::RO)
    }

    /// Whether the device has a write cache to flush.
    pub fn has_flush(&self) -> bool {
        self.features.contains(BlkFeature::FLUSH)
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

/// Brings up the virtio block device behind `regs` (`size` bytes of window):
/// reset, feature negotiation, capacity, queue 0, DRIVER_OK (virtio 1.2, 3.1.1).
pub fn new_blk(regs: &MmioRegs, size: u64) -> Result<Blk, ProbeError> {
    let mut transport = mmio_transport(regs, size).map_err(ProbeError::Transport)?;
    // From here on an error drops `transport`, which resets the device.
    // Not VIRTIO_F_EVENT_IDX: virtio-drivers 0.13's `should_notify` compares
    // ring indices without the wrap-safe test of virtio 1.2, 2.7.10 (Linux's
    // vring_need_event), so a batch of requests that crosses index 65535
    // could go unannounced.
    let features = transport.begin_init(BlkFeature::RO | BlkFeature::FLUSH | BlkFeature::VERSION_1);
    let capacity = transport
        .read_consistent(|| {
            let low: u32 = transport.read_config_space(0)?;
            let high: u32 = transport.read_config_space(4)?;
            Ok(u64::from(low) | (u64::from(high) << 32))
        })
        .map_err(ProbeError::Device)?;
    let queue = VirtQueue::new(&mut transport, QUEUE, false, false).map_err(ProbeError::Device)?;
    transport.finish_init();
    Ok(Blk {
        transport,
        queue,
        capacity,
        features,
    })
}

/// A caller's buffer for one transfer.
pub enum IoBuf<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
    /// A flush has no data.
    None,
}

impl IoBuf<'_> {
    pub fn len(&self) -> usize {
        match self {
            IoBuf::Read(b) => b.len(),
            IoBuf::Write(b) => b.len(),
            IoBuf::None => 0,
        }
    }

    fn op(&self) -> Op {
        match self {
            IoBuf::Read(_) => Op::Read,
            IoBuf::Write(_) => Op::Write,
            IoBuf::None => Op::Flush,
        }
    }
}

/// One request in flight: the header and status byte the device reads and
/// writes, and which part of the caller's buffer it carries.
#[derive(Default)]
struct Request {
    header: [u8; 16],
    status: [u8; 1],
    token: Option<u16>,
    start: usize,
    len: usize,
    sector: u64,
}

/// Calls `f` with the request's descriptor chain as virtio-drivers takes it:
/// driver-to-device buffers, then device-to-driver ones.
fn with_chain<R>(
    req: &mut Request,
    buf: &mut IoBuf<'_>,
    f: impl for<'a> FnOnce(&'a [&'a [u8]], &'a mut [&'a mut [u8]]) -> R,
) -> R {
    let range = req.start..req.start + req.len;
    match buf {
        IoBuf::Read(b) => f(&[&req.header], &mut [&mut b[range], &mut req.status]),
        IoBuf::Write(b) => f(&[&req.header, &b[range]], &mut [&mut req.status]),
        IoBuf::None => f(&[&req.header], &mut [&mut req.status]),
    }
}

/// Runs one transfer from `sector` (or a flush, for `IoBuf::None`): the buffer
/// split into requests of at most [`MAX_REQUEST`] bytes, up to
/// [`MAX_IN_FLIGHT`] of them with the device at once, each completion waited
/// for at most `timeout_us`. On a timeout (or a device that breaks the
/// protocol) the device is reset before returning, so it cannot touch `buf` or
/// this frame afterwards. Every request submitted is completed or abandoned by
/// the reset before this returns; the first failure is the result.
pub fn transfer(
    blk: &mut Blk,
    regs: &MmioRegs,
    sector: u64,
    mut buf: IoBuf<'_>,
    timeout_us: u64,
) -> Result<(), RequestError> {
    let op = buf.op();
    let total = buf.len();
    let mut reqs: [Request; MAX_IN_FLIGHT] = Default::default();
    let (mut next, mut in_flight) = (0usize, 0usize);
    // A flush is one request without data.
    let mut flush_left = op == Op::Flush;
    let mut first_error = None;
    loop {
        let mut submitted = false;
        while first_error.is_none() && in_flight < MAX_IN_FLIGHT && (next < total || flush_left) {
            let Some(req) = reqs.iter_mut().find(|r| r.token.is_none()) else {
                break;
            };
            let len = (total - next).min(MAX_REQUEST);
            let req_sector = sector + (next as u64) / SECTOR_SIZE;
            req.header[..4].copy_from_slice(&(op as u32).to_le_bytes());
            req.header[4..8].fill(0);
            req.header[8..].copy_from_slice(&req_sector.to_le_bytes());
            req.status = [0xff];
            (req.start, req.len, req.sector) = (next, len, req_sector);
            let queue = &mut blk.queue;
            // The header, status and data of `req` are not touched again until
            // the request is popped below or the device has been reset; `reqs`
            // and `buf` outlive both.
            let added = with_chain(req, &mut buf, |i, o| {
                // SAFETY: buffers untouched until popped or reset (above).
                unsafe { queue.add(i, o) }
            });
            match added {
                Ok(token) => req.token = Some(token),
                Err(virtio_drivers::Error::QueueFull) if in_flight > 0 => break,
                Err(e) => {
                    first_error = Some(RequestError::Submit(e));
                    break;
                }
            }
            submitted = true;
            flush_left = false;
            in_flight += 1;
            next += len;
        }
        if submitted && blk.queue.should_notify() {
            blk.transport.notify(QUEUE);
        }
        if in_flight == 0 {
            break;
        }
        let queue = &blk.queue;
        if !poll_until(timeout_us, || queue.can_pop()) {
            regs.reset();
            let stuck = reqs
                .iter()
                .filter(|r| r.token.is_some())
                .min_by_key(|r| r.sector);
            return Err(RequestError::Timeout {
                op,
                sector: stuck.map_or(sector, |r| r.sector),
                len: stuck.map_or(0, |r| r.len),
            });
        }
        let token = blk.queue.peek_used();
        let Some(req) = reqs
            .iter_mut()
            .find(|r| r.token.is_some() && r.token == token)
        else {
            // A token this transfer never handed out: the device is broken.
            regs.reset();
            return Err(RequestError::Broken(virtio_drivers::Error::WrongToken));
        };
        let token = req.token.take().unwrap_or_default();
        in_flight -= 1;
        let queue = &mut blk.queue;
        let popped = with_chain(req, &mut buf, |i, o| {
            // SAFETY: the same buffers as were added with `token`.
            unsafe { queue.pop_used(token, i, o) }
        });
        if let Err(e) = popped {
            regs.reset();
            return Err(RequestError::Broken(e));
        }
        if req.status[0] != 0 && first_error.is_none() {
            first_error = Some(RequestError::Device {
                op,
                sector: req.sector,
                len: req.len,
                status: req.status[0],
            });
        }
    }
    first_error.map_or(Ok(()), Err)
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
    // SAFETY: the kernel passes a buffer valid for writes of `len` bytes that nothing else touches for the duration of the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    result(crate::read(ctx as usize, buf, offset))
}

extern "C" fn blk_write(ctx: *mut Opaque, buf: *const u8, len: usize, offset: u64) -> isize {
    if buf.is_null() {
        return -(errno::EFAULT as isize);
    }
    // SAFETY: the kernel passes a buffer valid for reads of `len` bytes for the duration of the call.
    let buf = unsafe { core::slice::from_raw_parts(buf, len) };
    result(crate::write(ctx as usize, buf, offset))
}

extern "C" fn blk_flush(ctx: *mut Opaque) -> i32 {
    match crate::flush(ctx as usize) {
        Ok(()) => 0,
        Err(e) => -e,
    }
}
