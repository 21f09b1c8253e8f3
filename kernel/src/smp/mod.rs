//! Every CPU the device tree describes, started with PSCI CPU_ON.
//!
//! The boot CPU is CPU 0; the others take numbers 1, 2, ... in `/cpus` order
//! (at most `MAX_CPUS`). Each secondary comes up on its own stacks (each above
//! an unmapped guard page; see the link script), with its CPU number in
//! TPIDR_EL1, its own vector base, GIC CPU interface (GICv2) or redistributor
//! (GICv3) and virtual timer, then idles in WFI taking its own tick and
//! running its work queue. Device interrupts are spread over the online CPUs
//! as they are requested; software timers run on CPU 0.
//!
//! Inter-processor interrupts are SGIs: [`IPI_WAKE`] ends a WFI,
//! [`IPI_SYNC`] makes a CPU take an exception (a context synchronization
//! event: after new code is installed, [`sync_all_cpus`] waits until every
//! CPU has taken one, Linux's `kick_all_cpus_sync`), [`IPI_STOP`] stops a CPU
//! for an oops after it reported its state ([`stop_others`]).
//!
//! Room `smp` (also `work.rs`, the per-CPU work queues): uses `arch`,
//! `machine`, `module`, `kobject`, `irq`.

pub mod work;

use crate::arch::{cpu, exceptions, irqchip, smp as arch_smp};
use crate::irq::{self, time};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};

/// SGI numbers of the kernel's IPIs.
pub const IPI_WAKE: u32 = irq::IPI_WAKE;
pub const IPI_SYNC: u32 = 1;
pub const IPI_STOP: u32 = 2;
pub const IPI_TLB: u32 = 3;

/// IPI_SYNCs handled, by CPU.
static SYNC_ACKS: [AtomicU64; cpu::MAX_CPUS] = [const { AtomicU64::new(0) }; cpu::MAX_CPUS];
/// What a CPU stopped by IPI_STOP prints first (the oops code's per-CPU report).
static STOP_REPORT: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
/// CPUs that reported and stopped.
static STOPPED: AtomicU64 = AtomicU64::new(0);

fn ipi(intid: u32, _ctx: usize) {
    let me = cpu::id();
    match intid {
        IPI_SYNC => {
            if let Some(a) = SYNC_ACKS.get(me) {
                a.fetch_add(1, Ordering::AcqRel);
            }
        }
        IPI_TLB => crate::mm::tlb::catch_up(),
        IPI_STOP => {
            let report = STOP_REPORT.load(Ordering::Acquire);
            if !report.is_null() {
                // SAFETY: only ever set from a `fn(usize)` in `stop_others`.
                let report: fn(usize) = unsafe { core::mem::transmute(report) };
                report(me);
            }
            crate::mm::tlb::cpu_down();
            STOPPED.fetch_add(1, Ordering::AcqRel);
            set(me, State::Offline);
            cpu::halt();
        }
        _ => {}
    }
}

/// CPUs online other than this one.
fn others() -> impl Iterator<Item = usize> {
    let me = cpu::id();
    (0..cpu::MAX_CPUS).filter(move |&n| n != me && cpu(n).0 == State::Online)
}

/// Has every other online CPU take an exception (a context synchronization
/// event), waiting at most 100 ms in all; after new code was written and
/// the I-cache invalidated, no CPU can then run stale instructions. The
/// IPIs all go out first, so the CPUs answer in parallel.
pub fn sync_all_cpus() {
    let mut before = [0u64; cpu::MAX_CPUS];
    for n in others() {
        before[n] = SYNC_ACKS[n].load(Ordering::Acquire);
        irqchip::send_sgi(n, IPI_SYNC);
    }
    let start = time::micros();
    for n in others() {
        while SYNC_ACKS[n].load(Ordering::Acquire) == before[n] {
            if time::micros() - start > 100_000 {
                log::warn!("smp: CPU{n} did not answer a synchronization IPI");
                break;
            }
            crate::arch::cpu::relax();
        }
    }
}

/// Asks every other online CPU to flush its TLB (`mm::tlb`), not waiting.
fn kick_tlb() {
    for n in others() {
        irqchip::send_sgi(n, IPI_TLB);
    }
}

/// Stops every other online CPU for an oops: each calls `report(its number)`
/// (one at a time is the caller's business) and halts. Waits at most 200 ms.
pub fn stop_others(report: fn(usize)) {
    STOP_REPORT.store(report as *mut (), Ordering::Release);
    let mut sent = 0;
    for n in others() {
        irqchip::send_sgi(n, IPI_STOP);
        sent += 1;
    }
    let start = time::micros();
    while STOPPED.load(Ordering::Acquire) < sent && time::micros() - start < 200_000 {
        crate::arch::cpu::relax();
    }
}

/// Registers the IPI handlers (once, on the boot CPU) and enables the SGIs
/// on this CPU.
fn init_ipis() {
    for sgi in [IPI_WAKE, IPI_SYNC, IPI_STOP, IPI_TLB] {
        if let Err(e) = irq::request(
            sgi,
            irq::Handler::Kernel(ipi),
            0,
            irq::Name::Kernel("IPI"),
            irq::Owner::Kernel,
        ) {
            log::error!("smp: IPI {sgi}: {e}");
        }
    }
}

fn enable_ipis_here() {
    for sgi in [IPI_WAKE, IPI_SYNC, IPI_STOP, IPI_TLB] {
        irqchip::enable(sgi);
    }
}

/// A CPU slot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No CPU has this number.
    Absent,
    /// Described but not running (CPU_ON failed or it never came up).
    Offline,
    Online,
}

struct Slot {
    state: AtomicU8,
    mpidr: AtomicU64,
}

static SLOTS: [Slot; cpu::MAX_CPUS] = [const {
    Slot {
        state: AtomicU8::new(0),
        mpidr: AtomicU64::new(0),
    }
}; cpu::MAX_CPUS];

fn set(n: usize, state: State) {
    let v = match state {
        State::Absent => 0,
        State::Offline => 1,
        State::Online => 2,
    };
    SLOTS[n].state.store(v, Ordering::Release);
}

/// CPU `n`'s state and MPIDR affinity.
pub fn cpu(n: usize) -> (State, u64) {
    let Some(s) = SLOTS.get(n) else {
        return (State::Absent, 0);
    };
    let state = match s.state.load(Ordering::Acquire) {
        2 => State::Online,
        1 => State::Offline,
        _ => State::Absent,
    };
    (state, s.mpidr.load(Ordering::Relaxed))
}

/// CPUs online.
pub fn online() -> usize {
    (0..cpu::MAX_CPUS)
        .filter(|&n| cpu(n).0 == State::Online)
        .count()
}

/// How long the boot CPU waits for a secondary to say it is up.
const START_TIMEOUT_US: u64 = 1_000_000;

/// Starts every other CPU of `/cpus` and waits for each to come online.
pub fn boot_secondaries() {
    SLOTS[0].mpidr.store(cpu::affinity(), Ordering::Relaxed);
    set(0, State::Online);
    let Some(info) = crate::machine::boot_info() else {
        return;
    };
    let others: alloc::vec::Vec<u64> = info
        .cpus
        .iter()
        .copied()
        .filter(|&m| m != cpu::affinity())
        .collect();
    if others.is_empty() {
        return;
    }
    init_ipis();
    crate::module::memory::on_code_installed(sync_all_cpus);
    crate::mm::tlb::on_kick(kick_tlb);
    let Some(psci) = info.psci else {
        log::warn!("smp: no PSCI: {} secondary CPUs stay parked", others.len());
        return;
    };
    arch_smp::prepare();
    for (i, &mpidr) in others.iter().enumerate() {
        let n = i + 1;
        if n >= cpu::MAX_CPUS {
            log::warn!(
                "smp: {} CPUs described, {} supported: the rest stay parked",
                info.cpus_described,
                cpu::MAX_CPUS
            );
            break;
        }
        SLOTS[n].mpidr.store(mpidr, Ordering::Relaxed);
        set(n, State::Offline);
        let r = arch_smp::cpu_on(psci, mpidr, n);
        if r != 0 {
            log::error!("CPU{n}: failed to boot: PSCI CPU_ON returned {r}");
            continue;
        }
        let start = time::micros();
        while cpu(n).0 != State::Online && time::micros() - start < START_TIMEOUT_US {
            crate::arch::cpu::relax();
        }
        if cpu(n).0 != State::Online {
            log::error!("CPU{n}: failed to come online");
        }
    }
    let mask = (0..cpu::MAX_CPUS)
        .filter(|&n| cpu(n).0 == State::Online)
        .fold(0u64, |m, n| m | 1 << n);
    irq::set_online_cpus(mask);
    log::info!("smp: Brought up 1 node, {} CPUs", online());
}

/// A secondary CPU's first Rust code (from `secondary_entry`, MMU on, IRQs
/// masked, on its own stacks).
#[no_mangle]
pub extern "C" fn secondary_main(n: usize) -> ! {
    exceptions::init_cpu();
    crate::mm::tlb::cpu_up();
    // SAFETY: `irqchip::init` ran on the boot CPU before CPU_ON; this is this CPU's one call, with its IRQs masked.
    let gic = unsafe { irqchip::init_cpu() };
    if gic {
        let timer_irq = crate::machine::boot_info().map_or(27, |b| b.timer_irq);
        irqchip::enable(timer_irq);
        time::start_tick();
        enable_ipis_here();
    }
    log::info!(
        "CPU{n}: Booted secondary processor {:#012x} [{:#010x}]",
        cpu::affinity(),
        cpu::midr()
    );
    set(n, State::Online);
    cpu::irq_enable();
    loop {
        idle_once();
    }
}

/// One round of a CPU's idle loop: run its queued work, then sleep until an
/// interrupt unless more work arrived meanwhile (checked with interrupts
/// masked, so an IPI_WAKE after the check still ends the WFI).
pub fn idle_once() {
    idle_unless(|| false);
}

/// [`idle_once`], but no sleep if `ready` (checked with interrupts masked,
/// after the work): what an interrupt handler made ready just before the
/// check ends the wait at once instead of at the next interrupt.
pub fn idle_unless(ready: impl Fn() -> bool) {
    work::run_local();
    crate::mm::tlb::catch_up();
    let saved = cpu::irq_save();
    if !work::pending_here() && !ready() {
        cpu::wait_for_interrupt();
    }
    cpu::irq_restore(saved);
}
