//! Every CPU the device tree describes, started with PSCI CPU_ON.
//!
//! The boot CPU is CPU 0; the others take numbers 1, 2, ... in `/cpus` order
//! (at most `MAX_CPUS`). Each secondary comes up on its own stacks (each above
//! an unmapped guard page; see the link script), with its CPU number in
//! TPIDR_EL1, its own vector base, GIC CPU interface (GICv2) or redistributor
//! (GICv3) and virtual timer, then idles in WFI taking its own tick. Device
//! interrupts and software timers stay on CPU 0 for now.
//!
//! Room `smp`: uses `arch`, `machine`, `irq`.

use crate::arch::{cpu, exceptions, irqchip, smp as arch_smp};
use crate::irq::time;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use fdt::Fdt;

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
    let mpidrs = Fdt::new(info.dtb)
        .map(|f| kcore::dt::cpus(&f))
        .unwrap_or_default();
    let others: alloc::vec::Vec<u64> = mpidrs
        .into_iter()
        .filter(|&m| m != cpu::affinity())
        .collect();
    if others.is_empty() {
        return;
    }
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
                others.len() + 1,
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
            core::hint::spin_loop();
        }
        if cpu(n).0 != State::Online {
            log::error!("CPU{n}: failed to come online");
        }
    }
    log::info!("smp: Brought up 1 node, {} CPUs", online());
}

/// A secondary CPU's first Rust code (from `secondary_entry`, MMU on, IRQs
/// masked, on its own stacks).
#[no_mangle]
pub extern "C" fn secondary_main(n: usize) -> ! {
    exceptions::init_cpu();
    // SAFETY: `irqchip::init` ran on the boot CPU before CPU_ON; this is this
    // CPU's one call, with its IRQs masked.
    let gic = unsafe { irqchip::init_cpu() };
    if gic {
        let timer_irq = crate::machine::boot_info().map_or(27, |b| b.timer_irq);
        irqchip::enable(timer_irq);
        time::start_tick();
    }
    log::info!(
        "CPU{n}: Booted secondary processor {:#012x} [{:#010x}]",
        cpu::affinity(),
        cpu::midr()
    );
    set(n, State::Online);
    cpu::irq_enable();
    loop {
        cpu::wait_for_interrupt();
    }
}
