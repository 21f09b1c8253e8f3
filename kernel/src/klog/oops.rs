//! Oops and panic reports, Linux style, with symbolized frame-pointer backtraces.
//!
//! An unexpected exception prints what Linux prints for one (the abort decoded from
//! ESR, FAR, `pc`/`lr` as `symbol+off/size`, all registers, the call trace), then
//! `Kernel panic - not syncing: ...` and halts, or reboots after `panic=N` seconds
//! as Linux does. Output goes through the console's unlocked path: the faulting
//! code may hold the console lock. A second fault while reporting is caught by
//! the nesting counter and halts at once instead of recursing.

use super::symbols::write_symbol;
use crate::arch::exceptions::{Origin, Syndrome, TrapFrame};
use crate::arch::{cpu, psci};
use crate::console::Emergency;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use kcore::esr;

static OOPS_COUNT: AtomicU32 = AtomicU32::new(0);
static NESTING: AtomicU32 = AtomicU32::new(0);

pub fn stack_bounds() -> [(usize, usize); 2] {
    extern "C" {
        static __boot_stack_bottom: u8;
        static __boot_stack_top: u8;
        static __exc_stack_bottom: u8;
        static __exc_stack_top: u8;
    }
    // SAFETY: only the addresses of linker-script symbols are taken.
    unsafe {
        [
            (
                &__boot_stack_bottom as *const u8 as usize,
                &__boot_stack_top as *const u8 as usize,
            ),
            (
                &__exc_stack_bottom as *const u8 as usize,
                &__exc_stack_top as *const u8 as usize,
            ),
        ]
    }
}

/// Prints a call trace by walking frame records from `fp` (AAPCS64 5.2.3: each
/// record is {previous fp, return address}). Every fp is checked to lie inside a
/// kernel stack before it is read, so a corrupt chain ends the trace, not the
/// kernel.
pub fn backtrace(out: &mut dyn Write, mut fp: usize) {
    let _ = writeln!(out, "Call trace:");
    let stacks = stack_bounds();
    for _ in 0..32 {
        let ok = fp.is_multiple_of(16) && stacks.iter().any(|&(lo, hi)| fp >= lo && fp + 16 <= hi);
        if !ok {
            break;
        }
        // SAFETY: fp is 16-byte aligned and the 16-byte record lies inside a mapped kernel stack (checked above).
        let (next, lr) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if lr == 0 {
            break;
        }
        let _ = write!(out, " ");
        // The return address points after the call; report the call itself.
        write_symbol(out, lr.saturating_sub(4) as u64);
        let _ = writeln!(out);
        if next <= fp {
            break;
        }
        fp = next;
    }
}

fn dump_registers(out: &mut dyn Write, f: &TrapFrame) {
    let _ = write!(out, "pc : ");
    write_symbol(out, f.elr);
    let _ = write!(out, "\nlr : ");
    write_symbol(out, f.x[30]);
    let _ = writeln!(out, "\nsp : {:016x}  pstate : {:08x}", f.sp, f.spsr);
    for i in (0..30).rev().step_by(2) {
        let _ = writeln!(
            out,
            "x{:<2}: {:016x} x{:<2}: {:016x}",
            i + 1,
            f.x[i + 1],
            i,
            f.x[i]
        );
    }
}

/// Reports a fatal synchronous exception and stops.
pub fn die_sync(frame: &mut TrapFrame, origin: Origin, syn: Syndrome) -> ! {
    if NESTING.fetch_add(1, Ordering::SeqCst) > 0 {
        crate::console::emergency_write("\nrecursive fault while reporting an oops: halting\n");
        cpu::halt();
    }
    report(frame, origin, syn);
    die("Oops: Fatal exception")
}

/// A fault in module code while a module call is running: report it as Linux
/// reports an oops, without stopping the kernel; the caller then fails the
/// module call (`modcall::redirect`).
pub fn module_fault(frame: &mut TrapFrame, origin: Origin, syn: Syndrome) {
    report(frame, origin, syn);
    let _ = writeln!(
        Emergency,
        "---[ end trace: module call abandoned, module marked failed ]---"
    );
}

/// A panic in a module (its panic handler called `module_panic`).
pub fn module_panic_report(module: &str, msg: &str) {
    let out = &mut Emergency;
    let _ = writeln!(out, "{module}: module panic: {msg}");
    backtrace(out, cpu::frame_pointer());
    let _ = writeln!(
        out,
        "---[ end trace: module call abandoned, module marked failed ]---"
    );
}

fn report(frame: &mut TrapFrame, origin: Origin, syn: Syndrome) {
    let out = &mut Emergency;
    let ec = esr::class(syn.esr);
    if esr::is_abort(ec) {
        let _ = writeln!(
            out,
            "Unable to handle kernel {} at virtual address {:016x}",
            if syn.far < 4096 {
                "NULL pointer dereference"
            } else {
                "paging request"
            },
            syn.far
        );
        let fsc = (esr::iss(syn.esr) & 0x3f) as u8;
        let _ = writeln!(out, "Mem abort info:");
        let _ = writeln!(out, "  ESR = {:#018x}", syn.esr);
        let _ = writeln!(
            out,
            "  EC = {:#04x}: {}, IL = {} bits",
            ec,
            esr::class_name(ec),
            if syn.esr & (1 << 25) != 0 { 32 } else { 16 }
        );
        match esr::fault_level(fsc) {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "  FSC = {:#04x}: level {} {}",
                    fsc,
                    l,
                    esr::fault_status_name(fsc)
                );
            }
            None => {
                let _ = writeln!(out, "  FSC = {:#04x}: {}", fsc, esr::fault_status_name(fsc));
            }
        }
        if ec == 0x24 || ec == 0x25 {
            let _ = writeln!(
                out,
                "Data abort info:\n  WnR = {}",
                esr::is_write(syn.esr) as u8
            );
        }
    } else {
        let _ = writeln!(
            out,
            "Internal error: {} (ESR {:#018x})",
            esr::class_name(ec),
            syn.esr
        );
    }
    let n = OOPS_COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = writeln!(out, "Internal error: Oops: {:016x} [#{}] SMP", syn.esr, n);
    if origin == Origin::Handler {
        let _ = writeln!(out, "(fault while handling an exception)");
    }
    let _ = write!(out, "Modules linked in:");
    super::symbols::module_names(out);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "CPU: 0 Comm: kernel {} {}",
        crate::taint::describe().as_str(),
        env!("CARGO_PKG_VERSION")
    );
    crate::taint::add(crate::taint::Taint::Die);
    dump_registers(out, frame);
    let _ = write!(out, "Call trace:\n ");
    write_symbol(out, frame.elr);
    let _ = writeln!(out);
    backtrace_inner(out, frame.x[29] as usize);
}

fn backtrace_inner(out: &mut dyn Write, fp: usize) {
    // Same as `backtrace` but without the header (the pc line is printed first).
    let mut buf = SkipFirstLine {
        inner: out,
        skipped: false,
    };
    backtrace(&mut buf, fp);
}

struct SkipFirstLine<'a> {
    inner: &'a mut dyn Write,
    skipped: bool,
}

impl Write for SkipFirstLine<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if self.skipped {
            return self.inner.write_str(s);
        }
        if let Some(pos) = s.find('\n') {
            self.skipped = true;
            self.inner.write_str(&s[pos + 1..])
        } else {
            Ok(())
        }
    }
}

/// `Kernel panic - not syncing: {msg}`, then halt or reboot per `panic=`.
pub fn die(msg: &str) -> ! {
    let out = &mut Emergency;
    // Every other CPU reports where it was and stops (Linux's smp_send_stop).
    crate::smp::stop_others(report_stopped_cpu);
    let _ = writeln!(out, "Kernel panic - not syncing: {msg}");
    run_panic_notifiers(msg);
    let reboot_after = crate::machine::boot_info()
        .and_then(|b| b.panic_timeout)
        .unwrap_or(0);
    if reboot_after > 0 {
        let _ = writeln!(out, "Rebooting in {reboot_after} seconds..");
        crate::irq::time::udelay(reboot_after as u64 * 1_000_000);
        if let Some(c) = crate::machine::boot_info().and_then(|b| b.psci) {
            psci::call(c, psci::SYSTEM_RESET);
        }
    }
    let _ = writeln!(out, "---[ end Kernel panic - not syncing: {msg} ]---");
    cpu::halt()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if NESTING.fetch_add(1, Ordering::SeqCst) > 0 {
        crate::console::emergency_write("\npanic while panicking: halting\n");
        cpu::halt();
    }
    let out = &mut Emergency;
    let _ = write!(out, "\nkernel BUG: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(out, " at {}:{}", loc.file(), loc.line());
    }
    let _ = writeln!(out);
    backtrace(out, cpu::frame_pointer());
    let mut msg = kcore::logring::LineBuf::<128>::new();
    let _ = write!(msg, "{}", info.message());
    die(msg.as_str())
}

/// Module panic notifiers: (function, text range of its module). The module
/// that registers one is pinned (the export is unsafe to unload), so the
/// function stays mapped for good.
static PANIC_NOTIFIERS: crate::sync::IrqLock<alloc::vec::Vec<(usize, (u64, u64))>> =
    crate::sync::IrqLock::new(alloc::vec::Vec::new());

/// Adds a module's panic notifier (`panic_notifier_register`).
pub fn panic_notifier_add(func: usize, text: (u64, u64)) {
    PANIC_NOTIFIERS.lock().push((func, text));
}

/// Calls the panic notifiers (from the panic path; never waits on the lock).
pub fn run_panic_notifiers(msg: &str) {
    let list = match PANIC_NOTIFIERS.lock_bounded(1_000_000) {
        Some(l) => l.clone(),
        None => {
            crate::console::emergency_write("panic notifiers: list busy, not run\n");
            return;
        }
    };
    for (f, text) in list {
        // SAFETY: pinned modules are never unloaded, so `f` stays mapped.
        let _ = unsafe {
            crate::arch::modcall::call_guarded(f, msg.as_ptr() as usize, msg.len(), text)
        };
    }
}

/// The frame each CPU's current interrupt interrupted, by CPU (for the
/// report of a CPU stopped by an oops on another).
static IRQ_FRAMES: [core::sync::atomic::AtomicPtr<TrapFrame>; crate::arch::cpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) };
        crate::arch::cpu::MAX_CPUS];

/// Notes the frame an interrupt interrupted on this CPU, until [`irq_exit`].
pub fn irq_enter(frame: &mut TrapFrame) {
    if let Some(slot) = IRQ_FRAMES.get(cpu::id()) {
        slot.store(frame, Ordering::Release);
    }
}

pub fn irq_exit() {
    if let Some(slot) = IRQ_FRAMES.get(cpu::id()) {
        slot.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// One CPU's report as it stops for another CPU's oops, one CPU at a time.
fn report_stopped_cpu(n: usize) {
    static ONE_AT_A_TIME: crate::sync::Mutex<()> = crate::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock();
    let out = &mut Emergency;
    let frame = IRQ_FRAMES
        .get(n)
        .map(|f| f.load(Ordering::Acquire))
        .unwrap_or(core::ptr::null_mut());
    let _ = write!(out, "CPU{n}: stopping");
    if !frame.is_null() {
        // Set by `irq_enter` on this CPU for the interrupt it is handling now
        // (the stop IPI); that interrupt never returns.
        // SAFETY: the frame lives on this CPU's exception stack for good.
        let f = unsafe { &*frame };
        let _ = write!(out, "; pc : ");
        write_symbol(out, f.elr);
        let _ = write!(out, "; lr : ");
        write_symbol(out, f.x[30]);
        let _ = write!(out, "; sp : {:#018x}", f.sp);
    }
    let _ = writeln!(out);
}
