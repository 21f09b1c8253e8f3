//! Checks that the FP/SIMD registers survive what may run between two of the
//! interrupted code's instructions (`fpirqtest` at the shell).
//!
//! The kernel and its modules are built for `aarch64-unknown-none`, whose
//! code keeps values in the `v` registers (`memcpy`'s 64-byte steps, string
//! searches, 16-byte moves). So an interrupt handler must give them back as it
//! found them (the exception entry saves them, [`super::exceptions`]), and a
//! failed module call must give its caller back d8..d15, which AAPCS64 makes
//! callee-saved ([`super::modcall`]). Each check here fails without its save:
//! - [`survives_irqs`]: with [`CLOBBER`] set, every interrupt on this CPU
//!   overwrites all 32 `v` registers and FPSR before its handler runs, while
//!   the interrupted code holds a pattern in all of them;
//! - [`survives_abandoned_call`]: a guarded call that overwrites d8..d15 and is
//!   then abandoned (the path of a module panic) returns to a caller holding a
//!   pattern in d8..d15.

#[cfg(feature = "selftest")]
use aarch64_cpu::registers::{Readable, CNTVCT_EL0};
use core::arch::asm;
#[cfg(feature = "selftest")]
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Set by [`survives_irqs`] while it runs: interrupts on this CPU clobber the
/// FP/SIMD registers ([`irq_hook`]).
static CLOBBER: AtomicBool = AtomicBool::new(false);
/// Per CPU, interrupts that clobbered the registers.
static CLOBBERED: [AtomicU64; super::cpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; super::cpu::MAX_CPUS];

fn clobbered() -> &'static AtomicU64 {
    &CLOBBERED[super::cpu::id() % super::cpu::MAX_CPUS]
}

/// Called at interrupt entry, before the handler: overwrites every `v`
/// register and FPSR when a check asks for it (the worst a handler's own
/// SIMD use could do).
#[inline]
pub fn irq_hook() {
    if CLOBBER.load(Ordering::Relaxed) {
        clobber_all();
        clobbered().fetch_add(1, Ordering::Relaxed);
    }
}

/// `asm!` with all 32 vector registers declared as written (the checks
/// below set or clobber every one of them).
macro_rules! asm_all_v {
    ($($body:tt)*) => {
        asm!(
            $($body)*
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        )
    };
}

#[inline(never)]
fn clobber_all() {
    // SAFETY: writes only the registers declared as outputs; no memory.
    unsafe {
        asm_all_v!(
            ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "movi v\\i\\().16b, #0xa5",
            ".endr",
            "mov {t}, #0x08000000", // FPSR.QC
            "msr fpsr, {t}",
            t = out(reg) _,
        );
    }
}

/// Byte `i` of register `n`'s pattern: distinct per register and per byte.
#[cfg(feature = "selftest")]
pub fn pattern_byte(n: usize, i: usize) -> u8 {
    (n as u8).wrapping_mul(16).wrapping_add(i as u8) ^ 0x3c
}

/// Holds a pattern in v0..v31 (and FPSR zero) while interrupts arrive, until
/// `irqs` of them have clobbered this CPU's registers or `timeout` counter
/// ticks pass. Call with interrupts enabled (the shell's context). Returns the interrupts seen and a mask of the registers (bit 32:
/// FPSR) that did not come back intact.
#[cfg(feature = "selftest")]
pub fn survives_irqs(irqs: u64, timeout: u64) -> (u64, u64) {
    let mut pattern = [0u8; 512];
    for (k, b) in pattern.iter_mut().enumerate() {
        *b = pattern_byte(k / 16, k % 16);
    }
    let mut after = [0u8; 512];
    let count = clobbered();
    let start = count.load(Ordering::Relaxed);
    let target = start + irqs;
    let deadline = CNTVCT_EL0.get() + timeout;
    let fpsr: u64;
    CLOBBER.store(true, Ordering::SeqCst);
    // SAFETY: reads `pattern` and writes `after` (512 bytes each) through the pointers given and reads this CPU's counter; every register it changes is declared.
    unsafe {
        asm_all_v!(
            "msr fpsr, xzr",
            ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "ldr q\\i, [{src}, #(\\i * 16)]",
            ".endr",
            "2:",
            "ldr {t}, [{count}]",
            "cmp {t}, {target}",
            "b.hs 3f",
            "mrs {t}, cntvct_el0",
            "cmp {t}, {deadline}",
            "b.lo 2b",
            "3:",
            ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "str q\\i, [{dst}, #(\\i * 16)]",
            ".endr",
            "mrs {fpsr}, fpsr",
            src = in(reg) pattern.as_ptr(),
            dst = in(reg) after.as_mut_ptr(),
            count = in(reg) count.as_ptr(),
            target = in(reg) target,
            deadline = in(reg) deadline,
            t = out(reg) _,
            fpsr = out(reg) fpsr,
        );
    }
    CLOBBER.store(false, Ordering::SeqCst);
    let seen = count.load(Ordering::Relaxed) - start;
    let mut bad = 0u64;
    for n in 0..32 {
        if pattern[n * 16..n * 16 + 16] != after[n * 16..n * 16 + 16] {
            bad |= 1 << n;
        }
    }
    if fpsr & 0x0800_0000 != 0 {
        bad |= 1 << 32;
    }
    (seen, bad)
}

// A stand-in for module code that changes the callee-saved d8..d15 and then
// panics (the module's panic handler abandons the call).
#[cfg(feature = "selftest")]
global_asm!(
    r#"
    .section .text.fpsimd_probe, "ax"
    .balign 16
    .global fpsimd_probe_start
    .global fpsimd_probe_end
fpsimd_probe_start:
    movi    v8.16b, #0x5a
    movi    v9.16b, #0x5a
    movi    v10.16b, #0x5a
    movi    v11.16b, #0x5a
    movi    v12.16b, #0x5a
    movi    v13.16b, #0x5a
    movi    v14.16b, #0x5a
    movi    v15.16b, #0x5a
    b       fpsimd_probe_abandon
fpsimd_probe_end:
"#
);

#[cfg(feature = "selftest")]
extern "C" {
    static fpsimd_probe_start: u8;
    static fpsimd_probe_end: u8;
}

/// What a module's panic handler does: fail the innermost guarded call.
#[no_mangle]
#[cfg(feature = "selftest")]
extern "C" fn fpsimd_probe_abandon() -> ! {
    // SAFETY: reached only from `fpsimd_probe_start`, which `guarded_probe` calls through `call_guarded` on this stack, holding nothing that needs dropping.
    unsafe { super::modcall::abandon() }
}

/// The guarded call of the probe; 1 when it was abandoned, as it must be.
#[cfg(feature = "selftest")]
extern "C" fn guarded_probe() -> u64 {
    // SAFETY: only the addresses of the linker-placed probe are taken.
    let (lo, hi) = unsafe {
        (
            &fpsimd_probe_start as *const u8 as u64,
            &fpsimd_probe_end as *const u8 as u64,
        )
    };
    // SAFETY: the probe is a function in mapped, executable kernel text taking no arguments; it never returns normally (it abandons the call).
    let r = unsafe { super::modcall::call_guarded(lo as usize, 0, 0, (lo, hi)) };
    r.is_err() as u64
}

/// Holds a pattern in d8..d15 across an abandoned guarded call that changed
/// them. Returns whether the call was abandoned and a mask of d8..d15 (bit
/// 0: d8) that did not come back.
#[cfg(feature = "selftest")]
pub fn survives_abandoned_call() -> (bool, u8) {
    let pattern: [u64; 8] = core::array::from_fn(|n| 0x0123_4567_89ab_cdef ^ (n as u64 * 0x1111));
    let mut after = [0u64; 8];
    let abandoned: u64;
    // SAFETY: reads `pattern` and writes `after` (64 bytes each) through the pointers given; `guarded_probe` follows the C ABI, whose clobbers are declared, and d8..d15 are declared changed (they are what is checked).
    unsafe {
        asm!(
            "ldp d8, d9, [{src}]",
            "ldp d10, d11, [{src}, #16]",
            "ldp d12, d13, [{src}, #32]",
            "ldp d14, d15, [{src}, #48]",
            "mov x20, {dst}",
            "blr {f}",
            "stp d8, d9, [x20]",
            "stp d10, d11, [x20, #16]",
            "stp d12, d13, [x20, #32]",
            "stp d14, d15, [x20, #48]",
            src = in(reg) pattern.as_ptr(),
            dst = in(reg) after.as_mut_ptr(),
            f = in(reg) guarded_probe as extern "C" fn() -> u64,
            out("x20") _,
            lateout("x0") abandoned,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            clobber_abi("C"),
        );
    }
    let mut bad = 0u8;
    for n in 0..8 {
        if pattern[n] != after[n] {
            bad |= 1 << n;
        }
    }
    (abandoned == 1, bad)
}
