//! Time since boot from the generic counter, and the periodic tick.
//!
//! The boot counter value is taken first thing in `kernel_main`, so log
//! timestamps and `uptime` count from kernel entry (Linux counts from its own
//! timekeeping start similarly).

use crate::arch::{cpu, timer};
use core::sync::atomic::{AtomicU64, Ordering};

pub const TICK_HZ: u64 = 100;

static BOOT_COUNT: AtomicU64 = AtomicU64::new(0);
static FREQ: AtomicU64 = AtomicU64::new(1);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Records the counter at entry. Call first.
pub fn init_boot_clock() {
    FREQ.store(cpu::counter_frequency(), Ordering::Relaxed);
    BOOT_COUNT.store(cpu::counter(), Ordering::Relaxed);
}

/// Counter ticks since kernel entry.
pub fn ticks_since_boot() -> u64 {
    cpu::counter().saturating_sub(BOOT_COUNT.load(Ordering::Relaxed))
}

pub fn frequency() -> u64 {
    FREQ.load(Ordering::Relaxed)
}

/// Microseconds since kernel entry.
pub fn micros() -> u64 {
    let (t, f) = (ticks_since_boot(), frequency().max(1));
    // t * 10^6 / f in u64 arithmetic (whole seconds, then the remainder):
    // the same value as the u128 product, without the u128 division
    // routine, which every boot log line would otherwise run.
    match (t % f).checked_mul(1_000_000) {
        Some(rem) => (t / f) * 1_000_000 + rem / f,
        None => (t as u128 * 1_000_000 / f as u128) as u64,
    }
}

/// Timer interrupts handled so far.
pub fn jiffies() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Timer interrupts taken, by CPU (for `cpus`).
static PER_CPU_TICKS: [AtomicU64; cpu::MAX_CPUS] = [const { AtomicU64::new(0) }; cpu::MAX_CPUS];

/// Timer interrupts CPU `n` has taken.
pub fn ticks_on(n: usize) -> u64 {
    PER_CPU_TICKS
        .get(n)
        .map_or(0, |t| t.load(Ordering::Relaxed))
}

/// Counter value (since boot) of the boot CPU's next jiffy.
static NEXT_TICK: AtomicU64 = AtomicU64::new(0);

fn tick_period() -> u64 {
    frequency() / TICK_HZ
}

/// Starts this CPU's tick (its timer IRQ must already be registered and
/// enabled on it).
pub fn start_tick() {
    if cpu::id() == 0 {
        NEXT_TICK.store(ticks_since_boot() + tick_period(), Ordering::Relaxed);
    }
    timer::arm(tick_period());
}

/// The timer interrupt handler, on every CPU (the virtual timer is per CPU).
/// Secondaries just tick. The boot CPU counts jiffies, runs due software
/// timers and programs its timer for the earlier of its next jiffy and the
/// earliest software timer.
pub fn tick(_intid: u32, _ctx: usize) {
    let me = cpu::id();
    if let Some(t) = PER_CPU_TICKS.get(me) {
        t.fetch_add(1, Ordering::Relaxed);
    }
    crate::mm::tlb::catch_up();
    if me != 0 {
        timer::arm(tick_period());
        return;
    }
    let now = ticks_since_boot();
    let next = NEXT_TICK.load(Ordering::Relaxed);
    if now >= next {
        let missed = (now - next) / tick_period();
        TICKS.fetch_add(missed + 1, Ordering::Relaxed);
        NEXT_TICK.store(next + (missed + 1) * tick_period(), Ordering::Relaxed);
    }
    crate::irq::timer::run_due();
    reprogram();
}

/// Programs the boot CPU's timer for the earlier of its next jiffy and the
/// earliest software timer (no-op on other CPUs: a timer added there is
/// picked up at the boot CPU's next interrupt, at most a tick later).
pub fn reprogram() {
    if cpu::id() != 0 {
        return;
    }
    let saved = cpu::irq_save();
    let mut deadline = NEXT_TICK.load(Ordering::Relaxed);
    if let Some(due) = crate::irq::timer::next_due() {
        deadline = deadline.min(due);
    }
    let now = ticks_since_boot();
    timer::arm(deadline.saturating_sub(now).max(1));
    cpu::irq_restore(saved);
}

/// Busy-waits `us` microseconds.
pub fn udelay(us: u64) {
    let end = cpu::counter() + us * frequency() / 1_000_000;
    while cpu::counter() < end {
        crate::arch::cpu::relax();
    }
}
