//! The kernel's one address space after boot: the page tables `early_init`
//! built (RAM linear at physical = virtual, the image, devices) and the module
//! area mapped into them at run time.

use crate::arch::mmu::{self, AddressSpace};
use crate::sync::IrqLock;

static ADDRESS_SPACE: IrqLock<Option<AddressSpace>> = IrqLock::new(None);

/// Takes over the boot page tables once the MMU runs on them.
pub fn install(space: AddressSpace) {
    *ADDRESS_SPACE.lock() = Some(space);
}

/// Runs `f` on the kernel's address space (for module mappings).
pub fn with<R>(
    f: impl FnOnce(&mut AddressSpace) -> Result<R, mmu::MapError>,
) -> Result<R, mmu::MapError> {
    match ADDRESS_SPACE.lock().as_mut() {
        Some(space) => f(space),
        None => Err(mmu::MapError::BadRange),
    }
}

/// The physical address of `len` bytes at `va` when they lie in the linear
/// map: RAM outside the kernel image, which `early_init` maps at physical =
/// virtual and nothing unmaps (the heap, page frames, `dma_alloc` memory).
/// None for anything else, including the kernel image (its guard pages are
/// unmapped) and module images; callers then translate page by page.
pub fn linear_phys(va: u64, len: u64) -> Option<u64> {
    let end = va.checked_add(len)?;
    let kernel = super::layout::kernel_image();
    if va < kernel.end && end > kernel.start {
        return None;
    }
    crate::machine::boot_info()?
        .ram
        .as_slice()
        .iter()
        .map(|r| r.align_inward(mmu::PAGE_SIZE as u64))
        .any(|r| r.start <= va && end <= r.end && r.end as u128 <= 1u128 << mmu::VA_BITS)
        .then_some(va)
}
