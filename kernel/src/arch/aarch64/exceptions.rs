//! Exception vectors and the trap frame.
//!
//! The kernel runs on SP_EL0 (EL1t), so its exceptions arrive through the
//! "current EL with SP0" vectors and are handled on SP_EL1, a separate stack: a
//! kernel-stack overflow into the guard page still gets a clean oops. An
//! exception taken while already handling one (EL1h) uses the second group.
//! Each entry saves all general registers, SP_EL0, ELR and SPSR, and the
//! FP/SIMD registers with FPSR and FPCR, in a [`TrapFrame`] and calls into
//! Rust; on return the frame is restored, so a handler may change it (e.g. to
//! resume elsewhere) and `eret` does the rest.
//!
//! Why the FP/SIMD registers: the kernel and its modules are built for
//! `aarch64-unknown-none`, whose code uses the vector registers freely
//! (`memcpy`'s 64-byte steps, string searches, moves of 16-byte values).
//! Linux can save only the general registers because it builds the kernel
//! with `-mgeneral-regs-only` and brackets SIMD use with `kernel_neon_begin`.
//! Here an interrupt handler's `memcpy` would otherwise overwrite the
//! interrupted code's live `v` registers: `fpirqtest` checks they survive.

use aarch64_cpu::registers::{Readable, Writeable, ESR_EL1, FAR_EL1, VBAR_EL1};
use core::arch::global_asm;

/// Registers at the time of the exception.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// The interrupted stack pointer.
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    /// v0..v31 (q registers), then FPSR and FPCR.
    pub v: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

// The assembly below hard-codes the layout.
const _: () = assert!(core::mem::size_of::<TrapFrame>() == 0x320);
const _: () = assert!(core::mem::offset_of!(TrapFrame, v) == 0x110);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fpsr) == 0x310);

/// Which vector an exception came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Origin {
    /// From kernel code running on SP_EL0 (normal case).
    Kernel = 0,
    /// From an exception handler (running on SP_EL1).
    Handler = 1,
    /// From a lower exception level (never expected here).
    Lower = 2,
}

/// What the generic kernel supplies: called with interrupts masked.
pub struct Handlers {
    pub irq: fn(&mut TrapFrame),
    pub sync: fn(&mut TrapFrame, Origin, Syndrome),
    pub unexpected: fn(&mut TrapFrame, &'static str),
}

/// The syndrome registers of a synchronous exception.
#[derive(Debug, Clone, Copy)]
pub struct Syndrome {
    pub esr: u64,
    pub far: u64,
}

static mut HANDLERS: Option<&'static Handlers> = None;

/// Installs the vector table and the generic handlers. Call once at boot with
/// interrupts masked, before anything can fault on purpose.
pub fn init(handlers: &'static Handlers) {
    // SAFETY: called once on the boot CPU before interrupts are unmasked and before any other CPU runs, so nothing reads HANDLERS concurrently.
    unsafe { HANDLERS = Some(handlers) };
    extern "C" {
        static __exception_vectors: u8;
    }
    // SAFETY: only the address of the linker-placed vector table is taken.
    let base = unsafe { &__exception_vectors as *const u8 as u64 };
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Installs the vector table on a secondary CPU (the handlers are shared).
pub fn init_cpu() {
    extern "C" {
        static __exception_vectors: u8;
    }
    // SAFETY: only the address of the linker-placed vector table is taken.
    let base = unsafe { &__exception_vectors as *const u8 as u64 };
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

fn handlers() -> Option<&'static Handlers> {
    // SAFETY: written once in `init` before any exception can be taken.
    unsafe { HANDLERS }
}

#[no_mangle]
extern "C" fn exception_sync(frame: &mut TrapFrame, origin: u64) {
    let origin = match origin {
        0 => Origin::Kernel,
        1 => Origin::Handler,
        _ => Origin::Lower,
    };
    let syndrome = Syndrome {
        esr: ESR_EL1.get(),
        far: FAR_EL1.get(),
    };
    if let Some(h) = handlers() {
        (h.sync)(frame, origin, syndrome);
    }
}

#[no_mangle]
extern "C" fn exception_irq(frame: &mut TrapFrame) {
    super::fpsimd::irq_hook();
    if let Some(h) = handlers() {
        (h.irq)(frame);
    }
}

#[no_mangle]
extern "C" fn exception_unexpected(frame: &mut TrapFrame, kind: u64) {
    let what = match kind {
        0 => "FIQ",
        1 => "SError",
        _ => "exception from a lower EL",
    };
    if let Some(h) = handlers() {
        (h.unexpected)(frame, what);
    }
}

// Frame layout: x0..x30 at 0..0xf0, sp at 0xf8, elr at 0x100, spsr at 0x108,
// q0..q31 at 0x110..0x310, fpsr at 0x310, fpcr at 0x318; 0x320 bytes, a
// multiple of 16 as SP alignment requires.
global_asm!(
    r#"
.macro SAVE_FRAME from_handler
    sub     sp, sp, #0x320
    stp     x0, x1, [sp, #0x00]
    stp     x2, x3, [sp, #0x10]
    stp     x4, x5, [sp, #0x20]
    stp     x6, x7, [sp, #0x30]
    stp     x8, x9, [sp, #0x40]
    stp     x10, x11, [sp, #0x50]
    stp     x12, x13, [sp, #0x60]
    stp     x14, x15, [sp, #0x70]
    stp     x16, x17, [sp, #0x80]
    stp     x18, x19, [sp, #0x90]
    stp     x20, x21, [sp, #0xa0]
    stp     x22, x23, [sp, #0xb0]
    stp     x24, x25, [sp, #0xc0]
    stp     x26, x27, [sp, #0xd0]
    stp     x28, x29, [sp, #0xe0]
    .if \from_handler
    add     x21, sp, #0x320
    .else
    mrs     x21, sp_el0
    .endif
    stp     x30, x21, [sp, #0xf0]
    mrs     x22, elr_el1
    mrs     x23, spsr_el1
    stp     x22, x23, [sp, #0x100]
    stp     q0, q1, [sp, #0x110]
    stp     q2, q3, [sp, #0x130]
    stp     q4, q5, [sp, #0x150]
    stp     q6, q7, [sp, #0x170]
    stp     q8, q9, [sp, #0x190]
    stp     q10, q11, [sp, #0x1b0]
    stp     q12, q13, [sp, #0x1d0]
    stp     q14, q15, [sp, #0x1f0]
    stp     q16, q17, [sp, #0x210]
    stp     q18, q19, [sp, #0x230]
    stp     q20, q21, [sp, #0x250]
    stp     q22, q23, [sp, #0x270]
    stp     q24, q25, [sp, #0x290]
    stp     q26, q27, [sp, #0x2b0]
    stp     q28, q29, [sp, #0x2d0]
    stp     q30, q31, [sp, #0x2f0]
    mrs     x22, fpsr
    mrs     x23, fpcr
    add     x21, sp, #0x310
    stp     x22, x23, [x21]
.endm

.macro RESTORE_FRAME from_handler
    add     x21, sp, #0x310
    ldp     x22, x23, [x21]
    msr     fpsr, x22
    msr     fpcr, x23
    ldp     q0, q1, [sp, #0x110]
    ldp     q2, q3, [sp, #0x130]
    ldp     q4, q5, [sp, #0x150]
    ldp     q6, q7, [sp, #0x170]
    ldp     q8, q9, [sp, #0x190]
    ldp     q10, q11, [sp, #0x1b0]
    ldp     q12, q13, [sp, #0x1d0]
    ldp     q14, q15, [sp, #0x1f0]
    ldp     q16, q17, [sp, #0x210]
    ldp     q18, q19, [sp, #0x230]
    ldp     q20, q21, [sp, #0x250]
    ldp     q22, q23, [sp, #0x270]
    ldp     q24, q25, [sp, #0x290]
    ldp     q26, q27, [sp, #0x2b0]
    ldp     q28, q29, [sp, #0x2d0]
    ldp     q30, q31, [sp, #0x2f0]
    ldp     x22, x23, [sp, #0x100]
    msr     elr_el1, x22
    msr     spsr_el1, x23
    ldp     x30, x21, [sp, #0xf0]
    .if \from_handler == 0
    msr     sp_el0, x21
    .endif
    ldp     x0, x1, [sp, #0x00]
    ldp     x2, x3, [sp, #0x10]
    ldp     x4, x5, [sp, #0x20]
    ldp     x6, x7, [sp, #0x30]
    ldp     x8, x9, [sp, #0x40]
    ldp     x10, x11, [sp, #0x50]
    ldp     x12, x13, [sp, #0x60]
    ldp     x14, x15, [sp, #0x70]
    ldp     x16, x17, [sp, #0x80]
    ldp     x18, x19, [sp, #0x90]
    ldp     x20, x21, [sp, #0xa0]
    ldp     x22, x23, [sp, #0xb0]
    ldp     x24, x25, [sp, #0xc0]
    ldp     x26, x27, [sp, #0xd0]
    ldp     x28, x29, [sp, #0xe0]
    add     sp, sp, #0x320
    eret
.endm

// A handler stub: save, set up a frame record so backtraces walk through the
// exception into the interrupted code, call, restore.
.macro STUB name, from_handler, call, arg
    .section .text.vectors, "ax"
    .balign 4
\name:
    SAVE_FRAME \from_handler
    mov     x0, sp
    mov     x1, #\arg
    ldr     x29, [sp, #0xe8]        // interrupted x29
    ldr     x30, [sp, #0x100]       // interrupted pc, as if it were a return address
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    bl      \call
    add     sp, sp, #16
    RESTORE_FRAME \from_handler
.endm

STUB el1t_sync, 0, exception_sync, 0
STUB el1t_irq, 0, exception_irq, 0
STUB el1t_fiq, 0, exception_unexpected, 0
STUB el1t_serror, 0, exception_unexpected, 1
STUB el1h_sync, 1, exception_sync, 1
STUB el1h_irq, 1, exception_irq, 0
STUB el1h_fiq, 1, exception_unexpected, 0
STUB el1h_serror, 1, exception_unexpected, 1
STUB lower_any, 1, exception_unexpected, 2

.macro VENTRY target
    .balign 0x80
    b       \target
.endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global __exception_vectors
__exception_vectors:
    VENTRY el1t_sync
    VENTRY el1t_irq
    VENTRY el1t_fiq
    VENTRY el1t_serror
    VENTRY el1h_sync
    VENTRY el1h_irq
    VENTRY el1h_fiq
    VENTRY el1h_serror
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
    VENTRY lower_any
"#
);
