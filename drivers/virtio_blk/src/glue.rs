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
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};
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

// SAFETY: a `Blk` is only ever reached through its disk's queue lock, so it is never
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

/// A disk's request queue as every CPU shares it (behind the disk's queue
/// lock): the device, and which request each descriptor chain in flight
/// belongs to, so whichever CPU looks first completes every answered request,
/// its own or another CPU's.
pub struct Queue {
    /// None before probe, and once the device is dead.
    pub blk: Option<Blk>,
    /// The request behind each token (head descriptor index) in flight.
    owners: [*const Request; QUEUE_SIZE],
}

// SAFETY: a `Queue` is only reached through its disk's queue lock; `owners`
// points at requests whose submitting CPU waits (in `transfer`) until they
// are completed or abandoned, which only happens under that lock.
unsafe impl Send for Queue {}

impl Queue {
    pub const fn new() -> Queue {
        Queue {
            blk: None,
            owners: [core::ptr::null(); QUEUE_SIZE],
        }
    }

    /// Completes every request the device has answered: pops it with its
    /// owner's buffers and marks it done. An answer to no request in flight
    /// breaks the protocol.
    fn reap(&mut self) -> Result<(), virtio_drivers::Error> {
        let Some(blk) = self.blk.as_mut() else {
            return Ok(());
        };
        while blk.queue.can_pop() {
            let token = blk.queue.peek_used().unwrap_or(u16::MAX);
            let owner = self
                .owners
                .get_mut(token as usize)
                .map(|o| core::mem::replace(o, core::ptr::null()))
                .unwrap_or(core::ptr::null());
            if owner.is_null() {
                return Err(virtio_drivers::Error::WrongToken);
            }
            let queue = &mut blk.queue;
            // SAFETY: `owner` was recorded when its chain was added with `token`; its CPU waits in `transfer` and touches neither the request's buffers nor its status until `state` leaves IN_FLIGHT (stored below, after the pop).
            let popped = unsafe { with_chain(owner, |i, o| queue.pop_used(token, i, o)) };
            popped?;
            // SAFETY: as above; `state` is an atomic its owner only reads.
            unsafe { (*owner).state.store(DONE, Ordering::Release) };
        }
        Ok(())
    }

    /// After the device was reset: no request in flight will be answered;
    /// their owners are told so.
    fn abandon_all(&mut self) {
        for owner in self.owners.iter_mut() {
            let r = core::mem::replace(owner, core::ptr::null());
            if !r.is_null() {
                // SAFETY: a recorded request's owner waits for this state (see `reap`).
                unsafe { (*r).state.store(ABANDONED, Ordering::Release) };
            }
        }
    }

    /// Whether a request of three descriptors fits now.
    fn has_room(&self) -> bool {
        self.blk
            .as_ref()
            .is_some_and(|b| b.queue.available_desc() >= 3)
    }
}

impl Default for Queue {
    fn default() -> Self {
        Self::new()
    }
}

const IDLE: u8 = 0;
const IN_FLIGHT: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;

/// One request: the header and status byte the device reads and writes,
/// the part of the caller's buffer it carries, and its state, which the CPU
/// that completes it (any CPU) sets.
struct Request {
    state: AtomicU8,
    /// Written by the owner while IDLE; read by the CPU completing it while
    /// IN_FLIGHT (and the status byte written by the device then).
    io: UnsafeCell<RequestIo>,
}

struct RequestIo {
    header: [u8; 16],
    status: [u8; 1],
    op: Op,
    data: *mut u8,
    len: usize,
    sector: u64,
}

impl Request {
    fn new() -> Request {
        Request {
            state: AtomicU8::new(IDLE),
            io: UnsafeCell::new(RequestIo {
                header: [0; 16],
                status: [0xff],
                op: Op::Read,
                data: core::ptr::null_mut(),
                len: 0,
                sector: 0,
            }),
        }
    }

    /// The request's fields, for its owner once it is not IN_FLIGHT.
    fn io(&self) -> &RequestIo {
        // SAFETY: called only by the owner while no other CPU or device has the request (not IN_FLIGHT).
        unsafe { &*self.io.get() }
    }
}

/// Calls `f` with the request's descriptor chain as virtio-drivers takes it:
/// driver-to-device buffers, then device-to-driver ones.
///
/// # Safety
/// `req` is live, its `data` valid for `len` bytes (for writes if a read), and
/// nobody else uses its status or data meanwhile.
unsafe fn with_chain<R>(
    req: *const Request,
    f: impl for<'a> FnOnce(&'a [&'a [u8]], &'a mut [&'a mut [u8]]) -> R,
) -> R {
    // SAFETY: per the contract: `req` is live and nobody else uses its fields now.
    let io = unsafe { &mut *(*req).io.get() };
    let (header, status, op, data, len) =
        (&io.header[..], &mut io.status[..], io.op, io.data, io.len);
    match op {
        Op::Read => {
            // SAFETY: per the contract (the data part of the caller's buffer, valid for writes).
            let data = unsafe { core::slice::from_raw_parts_mut(data, len) };
            f(&[header], &mut [data, status])
        }
        Op::Write => {
            // SAFETY: per the contract (the data part of the caller's buffer).
            let data = unsafe { core::slice::from_raw_parts(data, len) };
            f(&[header, data], &mut [status])
        }
        Op::Flush => f(&[header], &mut [status]),
    }
}

/// The device, brought up again after a reset; what the caller reports.
pub struct Restart {
    pub brought_up: Result<(), ProbeError>,
}

/// Resets the device behind `regs` (so it touches no buffer any more), tells
/// every CPU waiting for a request that it was abandoned, and brings the
/// device up again (`window` bytes of MMIO); `q` is held by the caller.
fn restart(q: &mut Queue, regs: &MmioRegs, window: u64) -> Restart {
    regs.reset();
    q.abandon_all();
    // Dropping unsets the queue, resets the device again and frees the queue.
    q.blk = None;
    match new_blk(regs, window) {
        Ok(blk) => {
            q.blk = Some(blk);
            Restart { brought_up: Ok(()) }
        }
        Err(e) => Restart { brought_up: Err(e) },
    }
}

/// Runs one transfer from `sector` (or a flush, for `IoBuf::None`) on the
/// queue behind `queue`, while other CPUs may run theirs: the buffer split
/// into requests of at most [`MAX_REQUEST`] bytes, up to [`MAX_IN_FLIGHT`] of
/// them with the device at once (fewer when other CPUs' requests fill the
/// queue), each waited for at most `timeout_us`. The lock is held only to
/// submit and to complete: whichever waiting CPU looks first completes every
/// answered request (the device's interrupt wakes them all). On a timeout or
/// a device that breaks the protocol the device is reset and brought up
/// again (`restarted` says how), every request in flight, other CPUs'
/// included, is abandoned, and this returns; so the device never touches
/// `buf` or this frame afterwards. The first failure is the result.
pub fn transfer(
    queue: &spin::Mutex<Queue>,
    regs: &MmioRegs,
    window: u64,
    sector: u64,
    mut buf: IoBuf<'_>,
    timeout_us: u64,
    restarted: &mut Option<Restart>,
) -> Result<(), RequestError> {
    let op = buf.op();
    let total = buf.len();
    let data = match &mut buf {
        IoBuf::Read(b) => b.as_mut_ptr(),
        IoBuf::Write(b) => b.as_ptr().cast_mut(),
        IoBuf::None => core::ptr::null_mut(),
    };
    let reqs: [Request; MAX_IN_FLIGHT] = core::array::from_fn(|_| Request::new());
    // Sector and length of each, for this CPU's own reports.
    let mut sent = [(0u64, 0usize); MAX_IN_FLIGHT];
    let (mut next, mut in_flight) = (0usize, 0usize);
    // A flush is one request without data.
    let mut flush_left = op == Op::Flush;
    let mut first_error = None;
    loop {
        {
            let mut q = queue.lock();
            let mut submitted = false;
            while first_error.is_none() && in_flight < MAX_IN_FLIGHT && (next < total || flush_left)
            {
                let Some((slot, req)) = reqs
                    .iter()
                    .enumerate()
                    .find(|(_, r)| r.state.load(Ordering::Acquire) == IDLE)
                else {
                    break;
                };
                let Some(blk) = q.blk.as_mut() else {
                    first_error = Some(RequestError::Dead);
                    break;
                };
                let len = (total - next).min(MAX_REQUEST);
                let req_sector = sector + (next as u64) / SECTOR_SIZE;
                // SAFETY: `req` is IDLE: no other CPU and no device knows it; this reference ends before it is added below.
                let io = unsafe { &mut *req.io.get() };
                io.header[..4].copy_from_slice(&(op as u32).to_le_bytes());
                io.header[4..8].fill(0);
                io.header[8..].copy_from_slice(&req_sector.to_le_bytes());
                io.status = [0xff];
                io.op = op;
                // `next` < `total`, the buffer's length (or 0 for a flush).
                io.data = data.wrapping_add(next);
                io.len = len;
                io.sector = req_sector;
                sent[slot] = (req_sector, len);
                let queue = &mut blk.queue;
                // SAFETY: the header, status and data of `req` are not touched by this CPU until its state leaves IN_FLIGHT, which the CPU that pops it (or resets the device) sets; `reqs` and `buf` outlive that (this function returns only then).
                let added = unsafe { with_chain(req, |i, o| queue.add(i, o)) };
                match added {
                    Ok(token) => {
                        if let Some(o) = q.owners.get_mut(token as usize) {
                            *o = req;
                        }
                        req.state.store(IN_FLIGHT, Ordering::Release);
                    }
                    // Other requests fill the queue: wait for room.
                    Err(virtio_drivers::Error::QueueFull) => break,
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
            if let Some(blk) = q.blk.as_mut() {
                if submitted && blk.queue.should_notify() {
                    blk.transport.notify(QUEUE);
                }
            }
        }
        let more = first_error.is_none() && (next < total || flush_left);
        if in_flight == 0 && !more {
            break;
        }
        // Wait for one of ours to finish (or, with none in flight, for room).
        let mut broken = None;
        let answered = poll_until(timeout_us, || {
            let mut q = queue.lock();
            if let Err(e) = q.reap() {
                broken = Some(e);
                return true;
            }
            if in_flight == 0 {
                return q.has_room() || q.blk.is_none();
            }
            reqs.iter().any(|r| {
                let s = r.state.load(Ordering::Acquire);
                s == DONE || s == ABANDONED
            })
        });
        if let Some(e) = broken {
            *restarted = Some(restart(&mut queue.lock(), regs, window));
            return Err(RequestError::Broken(e));
        }
        if !answered {
            let stuck = reqs
                .iter()
                .zip(sent)
                .filter(|(r, _)| r.state.load(Ordering::Acquire) == IN_FLIGHT)
                .map(|(_, s)| s)
                .min();
            let err = RequestError::Timeout {
                op,
                sector: stuck.map_or(sector, |(s, _)| s),
                len: stuck.map_or(0, |(_, l)| l),
            };
            let mut q = queue.lock();
            // Answered at the last moment, or abandoned by another CPU's reset:
            // nothing of ours is with the device any more.
            let _ = q.reap();
            if reqs
                .iter()
                .any(|r| r.state.load(Ordering::Acquire) == IN_FLIGHT)
                || in_flight == 0
            {
                *restarted = Some(restart(&mut q, regs, window));
                return Err(err);
            }
        }
        for req in reqs.iter() {
            let state = req.state.load(Ordering::Acquire);
            if state != DONE && state != ABANDONED {
                continue;
            }
            in_flight -= 1;
            // DONE or ABANDONED: no other CPU and no device touches `req` any
            // more (its owners entry was cleared under the lock).
            let (status, req_sector, len) = (req.io().status[0], req.io().sector, req.io().len);
            req.state.store(IDLE, Ordering::Relaxed);
            if first_error.is_some() {
                continue;
            }
            if state == ABANDONED {
                first_error = Some(RequestError::Abandoned {
                    op,
                    sector: req_sector,
                    len,
                });
            } else if status != 0 {
                first_error = Some(RequestError::Device {
                    op,
                    sector: req_sector,
                    len,
                    status,
                });
            }
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
