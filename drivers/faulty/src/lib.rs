//! `faulty`: a module whose init takes a synchronous exception. Init reads
//! address 0 with a volatile load, a real data abort (translation fault, the
//! kernel leaves page 0 unmapped). The kernel must catch it: the load fails
//! with an oops naming `faulty+offset`, nothing of the module remains, and the
//! kernel keeps running.
#![no_std]

use kabi::pr_info;

kabi::module! {
    name: "faulty",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Init reads address 0 (a data abort the kernel must catch)",
    init: faulty_init,
    exit: faulty_exit,
}

fn faulty_init() -> Result<(), i32> {
    pr_info!("reading address 0");
    // `black_box` hides the value from the optimiser, so the load is emitted
    // as written instead of being treated as unreachable.
    let addr = core::hint::black_box(0usize) as *const u32;
    // This module exists to fault: address 0 is unmapped, so the load traps
    // before any value is produced and the kernel abandons this call.
    // SAFETY: deliberately unsound, as above (the trap happens first).
    let value = unsafe { core::ptr::read_volatile(addr) };
    pr_info!("read {:#x} from address 0: the kernel maps page 0", value);
    Ok(())
}

fn faulty_exit() -> Result<(), i32> {
    Ok(())
}
