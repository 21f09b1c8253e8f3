//! Calls into module code that survive the module faulting.
//!
//! [`call_guarded`] records the callee-saved registers and stack pointer in a
//! [`Recovery`] record on the caller's stack, makes it this CPU's innermost
//! record, and calls the module. If the module takes a synchronous exception
//! (data abort, undefined instruction...) with its PC inside the module's text,
//! the exception handler calls [`redirect`], which points the saved exception
//! return at `modcall_recover`: `eret` lands there, the registers and stack are
//! restored from the record, and `call_guarded` returns `Err(Fault)` as if the
//! call had returned. A panic in a module takes the same exit through
//! [`abandon`] without an exception. Invariant: a record is only ever used while
//! the `call_guarded` frame that owns it is live, because it is unlinked before
//! that frame returns (normal path) or by the recovery path itself.
//!
//! Records are per CPU: each CPU's innermost record lives in its own slot,
//! indexed by its CPU number, so guarded calls on two CPUs never restore each
//! other's registers.

use super::exceptions::TrapFrame;
use core::arch::global_asm;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Registers saved at the call: x19..x28, x29, x30, sp, d8..d15 (the
/// callee-saved registers of AAPCS64: a module that faults after changing
/// d8..d15 must not leave them changed for its caller); then bookkeeping.
#[repr(C)]
pub struct Recovery {
    regs: [u64; 21],
    prev: *mut Recovery,
    /// Module text `[lo, hi)`: faults there are the module's.
    text_lo: u64,
    text_hi: u64,
    faulted: bool,
}

/// The module call failed: it faulted or panicked (the report was printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

/// Each CPU's innermost guarded call (indexed by `cpu::id()`): a CPU's record
/// is read and written only by that CPU, so two CPUs in module calls never
/// see each other's.
static CURRENT: [AtomicPtr<Recovery>; super::cpu::MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; super::cpu::MAX_CPUS];

/// The text start of the module each CPU is executing in a guarded call (0:
/// none), published before the call and restored after it, for
/// [`wait_until_no_cpu_in`].
static ACTIVE: [AtomicU64; super::cpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; super::cpu::MAX_CPUS];

/// Waits until no CPU is inside a guarded call into the module whose text
/// starts at `text_lo` (the grace period before its memory is freed; the
/// caller unpublished everything that could start a new call first).
pub fn wait_until_no_cpu_in(text_lo: u64) {
    core::sync::atomic::fence(Ordering::SeqCst);
    for slot in &ACTIVE {
        while slot.load(Ordering::SeqCst) == text_lo {
            crate::arch::cpu::relax();
        }
    }
}

/// This CPU's slot of [`CURRENT`].
fn current() -> &'static AtomicPtr<Recovery> {
    &CURRENT[super::cpu::id() % super::cpu::MAX_CPUS]
}

extern "C" {
    fn modcall_enter(rec: *mut Recovery, func: usize, args: *const [usize; 4]) -> u64;
    fn modcall_recover(rec: *mut Recovery) -> !;
}

global_asm!(
    r#"
    .section .text.modcall, "ax"
    .global modcall_enter
    .global modcall_recover
    .type   modcall_enter, %function
    .type   modcall_recover, %function
// u64 modcall_enter(rec, func, args: *const [usize; 4])
modcall_enter:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x9, sp
    str     x9, [x0, #96]
    stp     d8, d9, [x0, #104]
    stp     d10, d11, [x0, #120]
    stp     d12, d13, [x0, #136]
    stp     d14, d15, [x0, #152]
    mov     x9, x1
    ldp     x0, x1, [x2]
    ldp     x2, x3, [x2, #16]
    blr     x9
    ldp     x29, x30, [sp], #16
    ret
    .size   modcall_enter, . - modcall_enter
// modcall_recover(rec): resume as if modcall_enter returned 0.
modcall_recover:
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     d8, d9, [x0, #104]
    ldp     d10, d11, [x0, #120]
    ldp     d12, d13, [x0, #136]
    ldp     d14, d15, [x0, #152]
    ldr     x9, [x0, #96]
    mov     sp, x9
    mov     x0, xzr
    ldp     x29, x30, [sp], #16
    ret
    .size   modcall_recover, . - modcall_recover
"#
);

/// Calls `func(arg0, arg1)` (module code whose text is `text`), returning its
/// 64-bit result, or `Err(Fault)` if it faulted or panicked.
///
/// # Safety
/// `func` must be the address of a function with the C calling convention that
/// takes at most two register arguments, in mapped executable module memory.
pub unsafe fn call_guarded(
    func: usize,
    arg0: usize,
    arg1: usize,
    text: (u64, u64),
) -> Result<u64, Fault> {
    // SAFETY: forwarded from the caller.
    unsafe { call_guarded4(func, [arg0, arg1, 0, 0], text) }
}

/// [`call_guarded`] with up to four register arguments.
///
/// # Safety
/// As for [`call_guarded`], with at most four arguments.
pub unsafe fn call_guarded4(func: usize, args: [usize; 4], text: (u64, u64)) -> Result<u64, Fault> {
    let mut rec = Recovery {
        regs: [0; 21],
        prev: current().load(Ordering::Relaxed),
        text_lo: text.0,
        text_hi: text.1,
        faulted: false,
    };
    let rec_ptr: *mut Recovery = &mut rec;
    current().store(rec_ptr, Ordering::Relaxed);
    let active = &ACTIVE[super::cpu::id() % super::cpu::MAX_CPUS];
    let outer = active.swap(text.0, Ordering::SeqCst);
    // SAFETY: the caller guarantees `func` is callable; `rec` lives on this frame until after the call returns (normally or through recovery).
    let r = unsafe { modcall_enter(rec_ptr, func, &args) };
    // SAFETY: `rec_ptr` is our own live record; the recovery path may have written `faulted` through it, so read through the pointer.
    let (prev, faulted) = unsafe {
        (
            (*rec_ptr).prev,
            core::ptr::read_volatile(&(*rec_ptr).faulted),
        )
    };
    current().store(prev, Ordering::Relaxed);
    active.store(outer, Ordering::SeqCst);
    if faulted {
        Err(Fault)
    } else {
        Ok(r)
    }
}

/// Whether `pc` lies in the text of the module call running on this CPU.
pub fn fault_is_in_module(pc: u64) -> bool {
    let rec = current().load(Ordering::Relaxed);
    // SAFETY: a non-null CURRENT is a live record (see module doc).
    !rec.is_null() && unsafe { (*rec).text_lo <= pc && pc < (*rec).text_hi }
}

/// From the exception handler: make the exception return resume in
/// `modcall_recover`, failing the innermost module call.
pub fn redirect(frame: &mut TrapFrame) {
    let rec = current().load(Ordering::Relaxed);
    if rec.is_null() {
        return;
    }
    // SAFETY: a live record (see module doc); we only mark it and read sp.
    unsafe {
        (*rec).faulted = true;
        frame.sp = (*rec).regs[12];
    }
    frame.x[0] = rec as u64;
    frame.elr = modcall_recover as *const () as u64;
}

/// From kernel code called by a module (its panic handler): fail the innermost
/// module call now. Never returns.
///
/// # Safety
/// Must be called from within a module call (directly or through kernel frames
/// that hold no locks and own nothing needing drop), on the same stack.
pub unsafe fn abandon() -> ! {
    let rec = current().load(Ordering::Relaxed);
    if rec.is_null() {
        panic!("module_panic outside a module call");
    }
    // SAFETY: a live record; `modcall_recover` unwinds to its owner's frame.
    unsafe {
        (*rec).faulted = true;
        modcall_recover(rec)
    }
}
