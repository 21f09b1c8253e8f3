//! Checks modsign's SHA-256 on the Armv8 SHA instructions against the `sha2`
//! crate's generic code at every length from 0 to 1100 bytes, on 45 KiB, and
//! from each of 16 start offsets (blocks 16-byte aligned or not: `sha256_ce`
//! loads aligned blocks in place and copies the others),
//! built for aarch64-unknown-none (the kernel's target) and called from a C
//! `main` under qemu-aarch64 (`ce-check.sh`). Returns the number of mismatches,
//! or -1 if the path was not taken.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use sha2::Digest;

/// modsign's SHA-256 path allocates nothing; the allocator only satisfies `alloc`.
struct NoAlloc;

// SAFETY: never hands out memory: a null return is the documented failure.
unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

static mut DATA: [u8; 45 * 1024] = [0; 45 * 1024];

/// # Safety
/// The CPU (or qemu-aarch64's model of it) must implement FEAT_SHA256.
#[no_mangle]
pub unsafe extern "C" fn modsign_ce_check() -> i32 {
    if modsign::hash::sha256_path() != "generic" {
        return -1;
    }
    // SAFETY: the caller runs this on a CPU with FEAT_SHA256 (ce-check.sh uses qemu-aarch64 -cpu max); the data is only touched by this single thread.
    let data = unsafe {
        modsign::hash::declare_sha2_instructions();
        &mut *core::ptr::addr_of_mut!(DATA)
    };
    if modsign::hash::sha256_path() != "sha2-ce" {
        return -1;
    }
    let mut x: u32 = 0x9e37_79b9;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut bad = 0;
    for len in (0..1100).chain([data.len()]) {
        let ce = modsign::hash::sha256(&data[..len]);
        let generic = sha2::Sha256::digest(&data[..len]);
        if ce[..] != generic[..] {
            bad += 1;
        }
    }
    for start in 0..16 {
        for len in [64, 65, 200, 1000, 4096] {
            let slice = &data[start..start + len];
            if modsign::hash::sha256(slice)[..] != sha2::Sha256::digest(slice)[..] {
                bad += 1;
            }
        }
    }
    bad
}
