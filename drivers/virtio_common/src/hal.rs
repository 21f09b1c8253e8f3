//! `virtio_drivers::Hal` over the kernel's exports.
//!
//! DMA memory comes from `dma_alloc`: physically contiguous, zeroed,
//! page-aligned and identity-mapped (bus = physical = virtual, no IOMMU).
//! Buffers the driver passes in place (`share`) may live anywhere: the kernel
//! heap and stacks are identity-mapped, but a module's image is mapped page by
//! page, so a buffer that is not physically contiguous is bounced through a
//! `dma_alloc` buffer, copied in before and out after the request.

use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// The kernel as virtio-drivers' hardware abstraction.
pub struct KernelHal;

/// The physical address of `len` bytes at `start` if they are physically
/// contiguous (the kernel's `virt_to_phys_range`: one call per buffer).
fn contiguous_phys(start: *const u8, len: usize) -> Option<u64> {
    // SAFETY: `virt_to_phys_range` only translates addresses (from the linear map's bounds or with AT S1E1R); it never dereferences them.
    let phys = unsafe { kabi::sys::virt_to_phys_range(start, len) };
    (phys != 0).then_some(phys)
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned memory nobody else uses until
// `dma_free`; `share` returns the physical address of the buffer itself only
// when it is physically contiguous, else a bounce buffer of the same length.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut bus = 0u64;
        // SAFETY: `bus` is writable for the call.
        let ptr = unsafe { kabi::sys::dma_alloc(pages * PAGE_SIZE, &mut bus) };
        match NonNull::new(ptr) {
            Some(p) => (bus, p),
            // virtio-drivers reads a zero bus address as a failed allocation
            // (`Error::DmaError`), so queue set-up fails cleanly.
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes memory from `dma_alloc` with its page count.
        unsafe { kabi::sys::dma_free(vaddr.as_ptr(), pages * PAGE_SIZE) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // SAFETY: plain call; the kernel checks the range against the DT.
        let ptr = unsafe { kabi::sys::ioremap(paddr, size) };
        match NonNull::new(ptr) {
            Some(p) => p,
            None => panic!("ioremap({paddr:#x}, {size:#x}) refused"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let start = buffer.cast::<u8>().as_ptr();
        let len = buffer.len();
        if let Some(phys) = contiguous_phys(start, len) {
            return phys;
        }
        let (bus, bounce) = Self::dma_alloc(len.div_ceil(PAGE_SIZE), direction);
        if bus == 0 {
            // `share` has no way to fail; a module panic fails the running
            // module call (the kernel carries on).
            panic!("no DMA memory for a {len}-byte bounce buffer");
        }
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller's buffer is valid for `len` bytes and not accessed by anyone else; the bounce buffer is fresh and as long.
            unsafe { core::ptr::copy_nonoverlapping(start, bounce.as_ptr(), len) };
        }
        bus
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let start = buffer.cast::<u8>().as_ptr();
        let len = buffer.len();
        if contiguous_phys(start, len) == Some(paddr) {
            return;
        }
        // A bounce buffer from `share`: DMA memory is identity-mapped.
        let bounce = paddr as usize as *mut u8;
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: `bounce` is the `len`-byte buffer `share` allocated; the caller's buffer is valid for `len` bytes and not otherwise accessed.
            unsafe { core::ptr::copy_nonoverlapping(bounce, start, len) };
        }
        // SAFETY: the bounce buffer came from `dma_alloc` with this length.
        unsafe { kabi::sys::dma_free(bounce, len.div_ceil(PAGE_SIZE) * PAGE_SIZE) };
    }
}
