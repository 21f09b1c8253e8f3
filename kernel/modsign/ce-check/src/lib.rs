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

/// modsign's SHA-256 path allocates nothing; the Montgomery checks allocate
/// a few vectors per product: a bump allocator over a static arena, reset by
/// each check between products (everything is single-threaded).
struct Bump;

const ARENA_BYTES: usize = 1 << 20;
static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
static mut NEXT: usize = 0;

// SAFETY: hands out disjoint, aligned pieces of ARENA (null when it is used up,
// the documented failure); single-threaded, and reset only when nothing from
// it is live (see `reset_arena`).
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (ce-check's only thread), so no other access to NEXT/ARENA races.
        unsafe {
            let base = core::ptr::addr_of_mut!(ARENA) as *mut u8;
            let start = (NEXT + layout.align() - 1) & !(layout.align() - 1);
            let Some(end) = start
                .checked_add(layout.size())
                .filter(|&e| e <= ARENA_BYTES)
            else {
                return core::ptr::null_mut();
            };
            NEXT = end;
            base.add(start)
        }
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

/// Frees the whole arena.
///
/// # Safety
/// Nothing allocated from it may be live.
unsafe fn reset_arena() {
    // SAFETY: single-threaded; the caller has dropped every allocation.
    unsafe { NEXT = 0 };
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

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

/// The xorshift64 the Montgomery check draws its numbers from.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Checks RSA verification's four-row multiply-accumulate in AArch64 assembly
/// (`RowKernel::Aarch64`) against the portable one: `addmul4` and `redc4`
/// alone at every length from 4 to 64 limbs with random and all-ones limbs (the carry out of
/// the top), then whole Montgomery products and squares for 2048-, 3072- and
/// 4096-bit moduli (random; all ones; top limb 1) with random operands and
/// `n - 1`, each also against the product-scanning reference. Returns the
/// number of mismatches.
#[no_mangle]
pub extern "C" fn modsign_mont_check() -> i32 {
    use modsign::rsa_verify::{product_reference, product_with, RowKernel};
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut bad = 0;
    for len in (4..=64).step_by(4) {
        for fill in 0..3 {
            let limb = |rng: &mut Rng| match fill {
                0 => rng.next(),
                1 => u64::MAX,
                _ => rng.next() | 0xffff_ffff_0000_0000,
            };
            let mut t = [0u64; 68];
            let mut b = [0u64; 64];
            let mut a = [0u64; 4];
            t.iter_mut().for_each(|x| *x = limb(&mut rng));
            b.iter_mut().for_each(|x| *x = limb(&mut rng));
            a.iter_mut().for_each(|x| *x = limb(&mut rng));
            let (mut asm, mut portable) = (t, t);
            let c1 = RowKernel::Aarch64.addmul4(&mut asm[..len + 4], &a, &b[..len]);
            let c2 = RowKernel::Portable.addmul4(&mut portable[..len + 4], &a, &b[..len]);
            if c1 != c2 || asm != portable {
                bad += 1;
            }
            // A reduction block, with b as the (odd) modulus.
            let mut n = b;
            n[0] |= 1;
            let n_neg_inv = (0..6)
                .fold(1u64, |x, _| {
                    x.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(x)))
                })
                .wrapping_neg();
            let (mut asm, mut portable) = (t, t);
            let c1 = RowKernel::Aarch64.redc4(&mut asm[..len + 4], &n[..len], n_neg_inv);
            let c2 = RowKernel::Portable.redc4(&mut portable[..len + 4], &n[..len], n_neg_inv);
            if c1 != c2 || asm != portable || asm[..4] != [0; 4] {
                bad += 1;
            }
        }
    }
    for limbs in [32usize, 48, 64] {
        for case in 0..6 {
            let mut n = [0u64; 64];
            for x in n[..limbs].iter_mut() {
                *x = match case {
                    1 => u64::MAX,
                    _ => rng.next(),
                };
            }
            if case == 2 {
                n[limbs - 1] = 1;
            }
            n[0] |= 1;
            n[limbs - 1] = n[limbs - 1].max(1);
            let n = &n[..limbs];
            let below = |rng: &mut Rng| {
                let mut x = [0u64; 64];
                x[..limbs].iter_mut().for_each(|l| *l = rng.next());
                x[limbs - 1] = rng.next() % n[limbs - 1];
                x
            };
            let mut edge = [0u64; 64];
            edge[..limbs].copy_from_slice(n);
            edge[0] -= 1;
            let pairs = [
                (below(&mut rng), below(&mut rng)),
                (edge, edge),
                (edge, below(&mut rng)),
            ];
            for (a, b) in pairs {
                for b in [Some(&b[..limbs]), None] {
                    let a = &a[..limbs];
                    let asm = product_with(RowKernel::Aarch64, n, a, b);
                    let portable = product_with(RowKernel::Portable, n, a, b);
                    let reference = product_reference(n, a, b);
                    if asm.is_none() || asm != portable || asm != reference {
                        bad += 1;
                    }
                }
                // SAFETY: the three vectors above are dropped.
                unsafe { reset_arena() };
            }
        }
    }
    bad
}
