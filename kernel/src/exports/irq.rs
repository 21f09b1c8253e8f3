//! Interrupt exports: `request_irq`/`free_irq`, routing a line to a CPU
//! (`irq_set_affinity`), raising it from software (`irq_inject`, for tests),
//! local IRQ masking, waiting for an interrupt. A module may route or raise
//! only a line it holds. The early console holds its UART's interrupt until a
//! driver asks for it, and takes it back when the driver frees it.

use super::{cstr_name, owner};
use crate::irq;
use crate::kobject::{self, Kind, Ops};
use alloc::sync::Arc;
use kabi::{errno, IrqHandler, Opaque, ThisModule};

#[no_mangle]
pub extern "C" fn request_irq(
    owner_ptr: *const ThisModule,
    intid: u32,
    handler: IrqHandler,
    ctx: *mut Opaque,
    name: *const u8,
) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let label = cstr_name(name).unwrap_or_else(|| m.name.clone());
    let obj = match kobject::register(
        label,
        Kind::Irq(intid),
        Some(Arc::clone(&m)),
        Ops::default(),
        ctx as usize,
        0,
    ) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let h = irq::Handler::Module {
        func: handler as usize,
        text: m.text,
    };
    let yielded = crate::console::yield_irq(intid);
    match irq::request(
        intid,
        h,
        ctx as usize,
        irq::Name::Object(obj.id),
        irq::Owner::Module(m.id),
    ) {
        Ok(()) => 0,
        Err(e) => {
            let _ = kobject::unregister(obj.id, Some(&m));
            if yielded {
                crate::console::irq_freed(intid);
            }
            match e {
                irq::IrqError::Busy(_) => -errno::EBUSY,
                _ => -errno::EINVAL,
            }
        }
    }
}

#[no_mangle]
pub extern "C" fn free_irq(owner_ptr: *const ThisModule, intid: u32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let Some(obj) = kobject::find(Kind::Irq(intid), &m) else {
        return -errno::ENOENT;
    };
    let _ = irq::free(intid);
    let r = match kobject::unregister(obj.id, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    };
    crate::console::irq_freed(intid);
    r
}

#[no_mangle]
pub extern "C" fn irq_set_affinity(owner_ptr: *const ThisModule, intid: u32, cpu: u32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    if kobject::find(Kind::Irq(intid), &m).is_none() {
        return -errno::ENOENT;
    }
    match irq::set_affinity(intid, cpu as usize) {
        Ok(()) => 0,
        Err(irq::IrqError::NotRegistered(_)) => -errno::ENOENT,
        Err(_) => -errno::EINVAL,
    }
}

#[no_mangle]
pub extern "C" fn irq_inject(owner_ptr: *const ThisModule, intid: u32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    if kobject::find(Kind::Irq(intid), &m).is_none() {
        return -errno::ENOENT;
    }
    match irq::inject(intid) {
        Ok(()) => 0,
        Err(irq::IrqError::NotRegistered(_)) => -errno::ENOENT,
        Err(_) => -errno::EINVAL,
    }
}

#[no_mangle]
pub extern "C" fn local_irq_save() -> u64 {
    crate::arch::cpu::irq_save().bits()
}

#[no_mangle]
pub extern "C" fn local_irq_restore(flags: u64) {
    crate::arch::cpu::irq_restore(crate::arch::cpu::IrqState::from_bits(flags));
}

#[no_mangle]
pub extern "C" fn cpu_wait_irq() {
    crate::arch::cpu::wait_for_interrupt();
}
