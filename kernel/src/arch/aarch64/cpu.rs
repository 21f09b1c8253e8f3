//! Small CPU primitives: interrupt masking, waiting, the generic counter, barriers
//! and cache maintenance.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, DAIF, ID_AA64ISAR0_EL1, MIDR_EL1, MPIDR_EL1,
    TPIDR_EL1,
};
use core::arch::asm;

/// Interrupt mask state saved by [`irq_save`].
#[derive(Clone, Copy)]
pub struct IrqState(u64);

impl IrqState {
    /// The saved DAIF value (for modules, which keep it as a plain u64).
    pub fn bits(self) -> u64 {
        self.0
    }

    /// From [`bits`](Self::bits). Only the DAIF bits are kept, so a module
    /// cannot set anything else in PSTATE through it.
    pub fn from_bits(bits: u64) -> Self {
        Self(bits & (0xf << 6))
    }
}

/// Masks IRQs and returns the previous mask state.
#[inline]
pub fn irq_save() -> IrqState {
    let daif = DAIF.get();
    // SAFETY: setting PSTATE.I only masks interrupts; no memory is touched.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack, preserves_flags)) };
    IrqState(daif)
}

/// Restores the mask state returned by [`irq_save`].
#[inline]
pub fn irq_restore(state: IrqState) {
    DAIF.set(state.0);
}

/// Unmasks IRQs.
#[inline]
pub fn irq_enable() {
    // SAFETY: clearing PSTATE.I lets IRQs in; handlers are installed before the first call (exceptions::init runs first in kernel_main).
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack, preserves_flags)) };
}

/// Whether IRQs are currently masked.
pub fn irqs_masked() -> bool {
    DAIF.matches_all(DAIF::I::Masked)
}

/// Sleeps until an interrupt (or an event) arrives.
#[inline]
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Says this CPU is spinning on another's progress: a YIELD hint, Linux's
/// arm64 `cpu_relax()`. Every busy-wait calls it: on another CPU (a lock, an
/// acknowledgement, a CPU leaving a module) or on a device or the counter
/// (the UART's FIFO, GIC register writes, `udelay`). Under QEMU's
/// round-robin TCG (`-icount`, or one host thread for every vCPU) YIELD also
/// hands the thread to the next vCPU, which may be the one waited for;
/// `core::hint::spin_loop` (an ISB here) does not, and the waiter would spin
/// until its time slice ends (a timer deadline, up to 100 ms of guest time).
#[inline(always)]
pub fn relax() {
    // SAFETY: YIELD is a hint: it changes no register, memory or state.
    unsafe { asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Stops this CPU for good: interrupts masked, waiting forever.
pub fn halt() -> ! {
    let _ = irq_save();
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// The virtual counter (CNTVCT_EL0), in ticks of [`counter_frequency`].
#[inline]
pub fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Counter frequency in Hz (CNTFRQ_EL0, set by firmware/QEMU: 62.5 MHz on virt).
#[inline]
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// This CPU's affinity (MPIDR_EL1 Aff3..Aff0, as GICv3 routing wants it).
pub fn affinity() -> u64 {
    let m = MPIDR_EL1.get();
    (m & 0xff_ffff) | ((m >> 32) & 0xff) << 32
}

/// Current frame pointer (x29), the start of a backtrace.
#[inline(always)]
pub fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register, no side effects.
    unsafe { asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// Makes freshly written instructions in `[start, start+len)` visible to
/// instruction fetch: clean D-cache to PoU by line, then invalidate the
/// I-cache (Arm ARM B2.4.4). The cleaning goes four lines a step, and the
/// I-cache is invalidated whole, Inner Shareable (`IC IALLUIS`, one
/// instruction where `IC IVAU` took a loop of four a line, 160 lines for a
/// 10 KiB module text): a module load is rare, and its text is new to every
/// CPU's I-cache anyway.
#[allow(dead_code)] // used by the module subsystem
pub fn sync_icache(start: usize, len: usize) {
    const LINE: usize = 64; // smallest line on the cores we run on; CTR_EL0 could refine
    let end = start.saturating_add(len);
    let mut a = start & !(LINE - 1);
    while end.saturating_sub(a) > 3 * LINE {
        // SAFETY: cache maintenance by VA on mapped memory (four lines that start below `end`) has no architectural effect on memory contents.
        unsafe {
            asm!(
                "dc cvau, {a}",
                "add {t}, {a}, #64",
                "dc cvau, {t}",
                "add {t}, {a}, #128",
                "dc cvau, {t}",
                "add {t}, {a}, #192",
                "dc cvau, {t}",
                a = in(reg) a,
                t = out(reg) _,
                options(nostack, preserves_flags)
            )
        };
        a += 4 * LINE;
    }
    while a < end {
        // SAFETY: as above, one line.
        unsafe { asm!("dc cvau, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += LINE;
    }
    barrier::dsb(barrier::ISH);
    // SAFETY: I-cache invalidation has no architectural effect on memory contents.
    unsafe { asm!("ic ialluis", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Whether this CPU is a Cortex-A53 (MIDR_EL1 implementer 0x41 Arm, part 0xD03),
/// whose erratum 843419 (ADRP at the end of a 4 KiB page) the module loader
/// works around.
pub fn has_erratum_843419() -> bool {
    let midr = MIDR_EL1.get();
    (midr >> 24) & 0xff == 0x41 && (midr >> 4) & 0xfff == 0xd03
}

/// Whether this CPU implements the SHA-256 instructions (FEAT_SHA256:
/// ID_AA64ISAR0_EL1.SHA2, bits [15:12], non-zero; Arm ARM D19.2.61).
pub fn has_sha256_instructions() -> bool {
    (ID_AA64ISAR0_EL1.get() >> 12) & 0xf != 0
}

/// CPUs the kernel can run (stacks for each are laid out by the link script).
pub const MAX_CPUS: usize = 8;

/// This CPU's number (0 is the boot CPU), kept in TPIDR_EL1: the boot code of
/// each CPU writes it before any Rust code runs, and nothing else does.
#[inline(always)]
pub fn id() -> usize {
    TPIDR_EL1.get() as usize
}

/// MIDR_EL1: implementer, part and revision of this CPU.
pub fn midr() -> u64 {
    MIDR_EL1.get()
}

/// Spans of code `qemu/prof/windows.c` counts each CPU's own instructions
/// over (`make bench`'s per-CPU figures: under `-icount` the guest clock
/// counts every vCPU's instructions, busy ones included). At most 8.
#[derive(Clone, Copy)]
#[repr(u8)]
#[cfg(feature = "selftest")]
pub enum Window {
    /// One `module::load` (`modstress`).
    Insmod = 0,
    /// One `module::unload` (`modstress`).
    Rmmod = 1,
    /// `refbench N smp`'s N pairs of get-loop `k` on CPU 0 alone: `RefAlone + k`.
    RefAlone = 2,
    /// The same while CPUs 1..3 run the loop on the same counts: `RefContended + k`.
    RefContended = 5,
}

/// Opens (`open`) or closes measuring window `w` (0..8, a [`Window`]) on this
/// CPU with an unallocated HINT, which the CPU executes as a NOP (Arm ARM
/// C6.2.110) and the plugin recognises: `hint #(0x70 + 2*w)` opens,
/// `hint #(0x71 + 2*w)` closes.
#[inline(always)]
#[cfg(feature = "selftest")]
pub fn mark_window(w: u8, open: bool) {
    macro_rules! hint {
        ($($n:literal)*) => {
            match 2 * (w & 7) + u8::from(!open) {
                $(
                    // SAFETY: unallocated HINT encodings execute as NOP: no register, memory or flag changes.
                    $n => unsafe { asm!("hint #{}", const 0x70 + $n, options(nomem, nostack, preserves_flags)) },
                )*
                _ => {}
            }
        };
    }
    hint!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}
