//! Memory exports: `kmalloc`/`kfree`, DMA pages, `ioremap`, address translation.

use crate::mm;
use core::alloc::Layout;

#[no_mangle]
pub extern "C" fn kmalloc(size: usize, align: usize) -> *mut u8 {
    match Layout::from_size_align(size.max(1), align.max(1)) {
        // SAFETY: non-zero size, valid layout.
        Ok(l) => unsafe { alloc::alloc::alloc(l) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// # Safety
/// `ptr` from `kmalloc` with the same size and align.
#[no_mangle]
pub unsafe extern "C" fn kfree(ptr: *mut u8, size: usize, align: usize) {
    if let (false, Ok(l)) = (
        ptr.is_null(),
        Layout::from_size_align(size.max(1), align.max(1)),
    ) {
        // SAFETY: the caller returns a kmalloc block with its layout.
        unsafe { alloc::alloc::dealloc(ptr, l) };
    }
}

fn pages_for(size: usize) -> usize {
    size.div_ceil(mm::PAGE_SIZE).max(1)
}

/// # Safety
/// `bus` null or writable.
#[no_mangle]
pub unsafe extern "C" fn dma_alloc(size: usize, bus: *mut u64) -> *mut u8 {
    match mm::alloc_pages(pages_for(size)) {
        Ok(addr) => {
            if !bus.is_null() {
                // SAFETY: the caller passes a writable u64. No IOMMU: bus = physical = virtual.
                unsafe { *bus = addr as u64 };
            }
            addr as *mut u8
        }
        Err(_) => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn dma_free(ptr: *mut u8, size: usize) {
    if !ptr.is_null() {
        mm::free_pages(ptr as usize, pages_for(size));
    }
}

#[no_mangle]
pub extern "C" fn ioremap(phys: u64, size: usize) -> *mut u8 {
    // Devices the DT describes are identity-mapped Device-nGnRE at boot.
    let Some(info) = crate::machine::boot_info() else {
        return core::ptr::null_mut();
    };
    let end = phys.saturating_add(size as u64);
    if info
        .device_maps
        .as_slice()
        .iter()
        .any(|r| r.start <= phys && end <= r.end)
    {
        phys as *mut u8
    } else {
        log::warn!("ioremap: {phys:#x}+{size:#x} is not a device the device tree describes");
        core::ptr::null_mut()
    }
}

#[no_mangle]
pub extern "C" fn iounmap(_ptr: *mut u8, _size: usize) {}

#[no_mangle]
pub extern "C" fn virt_to_phys(addr: *const u8) -> u64 {
    crate::arch::mmu::translate(addr as usize).unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn virt_to_phys_range(addr: *const u8, len: usize) -> u64 {
    let va = addr as usize;
    if let Some(pa) = crate::mm::address_space::linear_phys(va as u64, len as u64) {
        return pa;
    }
    // Anything else (module images, the kernel image with its guard pages):
    // translate page by page and insist on contiguity.
    let Some(end) = va.checked_add(len.max(1)) else {
        return 0;
    };
    let Some(phys) = crate::arch::mmu::translate(va) else {
        return 0;
    };
    let page = crate::arch::mmu::PAGE_SIZE;
    let mut next = (va | (page - 1)) + 1;
    while next < end {
        if crate::arch::mmu::translate(next) != Some(phys + (next - va) as u64) {
            return 0;
        }
        next += page;
    }
    phys
}
