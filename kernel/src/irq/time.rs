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
    let t = ticks_since_boot() as u128;
    (t * 1_000_000 / frequency() as u128) as u64
}

/// Timer interrupts handled so far.
pub fn jiffies() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Starts the periodic tick (the IRQ must already be registered and enabled).
pub fn start_tick() {
    timer::arm(frequency() / TICK_HZ);
}

/// Ticks taken, by CPU (for `cpus`).
static PER_CPU_TICKS: [AtomicU64; cpu::MAX_CPUS] = [const { AtomicU64::new(0) }; cpu::MAX_CPUS];

/// Timer interrupts CPU `n` has taken.
pub fn ticks_on(n: usize) -> u64 {
    PER_CPU_TICKS
        .get(n)
        .map_or(0, |t| t.load(Ordering::Relaxed))
}

/// The tick's interrupt handler, on every CPU (the timer is per CPU). The
/// boot CPU counts jiffies and runs the software timers.
pub fn tick(_intid: u32, _ctx: usize) {
    let me = cpu::id();
    if let Some(t) = PER_CPU_TICKS.get(me) {
        t.fetch_add(1, Ordering::Relaxed);
    }
    timer::arm(frequency() / TICK_HZ);
    if me == 0 {
        TICKS.fetch_add(1, Ordering::Relaxed);
        crate::irq::timer::run_due();
    }
}

/// Busy-waits `us` microseconds.
pub fn udelay(us: u64) {
    let end = cpu::counter() + us * frequency() / 1_000_000;
    while cpu::counter() < end {
        core::hint::spin_loop();
    }
}
