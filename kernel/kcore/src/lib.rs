//! Pure kernel logic that builds both for `aarch64-unknown-none` and for the host.
//!
//! Nothing here touches hardware or global state: the kernel binary feeds these
//! types bytes (a device tree, typed characters, log records, address ranges) and
//! acts on what they return, so `cargo test` covers the logic quickly on the host
//! and QEMU tests only have to prove the integration.
#![no_std]

extern crate alloc;

pub mod blkid;
pub mod cmdline;
pub mod cpio;
pub mod demangle;
pub mod dt;
pub mod dtboot;
pub mod dtwalk;
pub mod errno;
pub mod esr;
pub mod growheap;
pub mod kallsyms;
pub mod lazyflush;
pub mod lineedit;
pub mod logring;
pub mod memrange;
pub mod modalias;
pub mod modparams;
pub mod pagealloc;
pub mod rangealloc;
pub mod refcount;
pub mod sort;
pub mod units;
pub mod vecmap;
