//! TLB generations: unmapping without a synchronous broadcast invalidation.
//!
//! After kernel virtual memory is unmapped, other CPUs may still hold TLB
//! entries for it. They matter only once the addresses or the pages are used
//! again, so instead of `tlbi vmalle1is` (which waits for every CPU: under
//! QEMU's TCG a safe-work section that stops every vCPU, milliseconds when
//! vCPUs outnumber host cores) an unmap takes a new generation ([`unmapped`]),
//! invalidates this CPU's TLB and asks the others, without waiting, to do the
//! same ([`catch_up`]: from the IPI it sends, their tick or their idle loop).
//! Whoever reuses the memory first checks [`flushed_everywhere`].
//!
//! Invariant: `SEEN[n] = g` is stored only after CPU `n` invalidated its own
//! TLB having read `GEN >= g`, and every unmap's page-table writes complete
//! (`dsb ish`) before its generation is published, so a CPU with `SEEN[n] >=
//! g` holds no entry for anything unmapped at generation `g` or earlier. CPUs
//! not tracked (not started, or stopped) count as flushed: a CPU starts
//! tracking only after its first local invalidation.
//!
//! Used by module memory (`module::memory`), whose freed images wait in a
//! [`kcore::lazyflush::Pending`] list until their generation is flushed.
//! Catching up frees nothing: the list is reaped by the CPU that loads,
//! unloads or reads memory figures, and by the shell's idle loop without
//! waiting for the list's lock. When the CPU that caught up last freed
//! them (from its IPI or tick), it held the list's lock while freeing, and a
//! vCPU preempted by the host there kept CPU 0's next `rmmod` spinning on
//! that lock: 44-325 k instructions per rmmod with CPUs 1..3 busy instead of
//! 6.9 k (`bench --smp-windows`, 4 vCPUs on 2 host cores).

use crate::arch::{cpu, mmu};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// The newest generation an unmap took.
static GEN: AtomicU64 = AtomicU64::new(0);
/// The generation each CPU last flushed its TLB at.
static SEEN: [AtomicU64; cpu::MAX_CPUS] = [const { AtomicU64::new(0) }; cpu::MAX_CPUS];
/// Every CPU's TLB was invalidated by a broadcast after this generation.
static FLOOR: AtomicU64 = AtomicU64::new(0);
/// Broadcast invalidations done because a CPU did not catch up in time.
static BROADCASTS: AtomicU64 = AtomicU64::new(0);
/// CPUs whose TLBs count: started and not stopped.
static TRACKED: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];

/// Asks the other CPUs to catch up (set by `smp`: an IPI each, not waited for).
static KICK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

fn call(hook: &AtomicPtr<()>) {
    let f = hook.load(Ordering::Acquire);
    if !f.is_null() {
        // SAFETY: the hook is only ever set from a `fn()` (`on_kick`).
        let f: fn() = unsafe { core::mem::transmute(f) };
        f();
    }
}

/// Sets how the other CPUs are asked to catch up.
pub fn on_kick(f: fn()) {
    KICK.store(f as *mut (), Ordering::Release);
}

/// This CPU's TLB counts from now on (at boot and as each CPU comes up,
/// before it can run anything that uses unmapped memory).
pub fn cpu_up() {
    let me = cpu::id() % cpu::MAX_CPUS;
    let g = GEN.load(Ordering::SeqCst);
    mmu::flush_tlb_local();
    SEEN[me].store(g, Ordering::SeqCst);
    TRACKED[me].store(true, Ordering::SeqCst);
}

/// This CPU stops (an oops halting it): its TLB no longer counts.
pub fn cpu_down() {
    TRACKED[cpu::id() % cpu::MAX_CPUS].store(false, Ordering::SeqCst);
}

/// Call after clearing the page-table entries of `[va, va + size)`:
/// invalidates them in this CPU's TLB (by address, keeping the rest) and
/// asks the other CPUs to flush; returns the generation the unmapped memory
/// waits for.
pub fn unmapped(va: usize, size: usize) -> u64 {
    mmu::tables_written();
    let g = GEN.fetch_add(1, Ordering::SeqCst) + 1;
    mmu::flush_tlb_range_local(va, size);
    // Current up to the previous generation and now rid of this range: current
    // up to this one. Otherwise (behind, or an interrupt caught up meanwhile)
    // `catch_up` decides, with a whole flush if behind.
    let me = cpu::id() % cpu::MAX_CPUS;
    let _ = SEEN[me].compare_exchange(g - 1, g, Ordering::SeqCst, Ordering::SeqCst);
    catch_up();
    call(&KICK);
    g
}

/// Invalidates this CPU's TLB if an unmap happened since it last did (cheap
/// when none did: two loads). Any context.
pub fn catch_up() {
    let me = cpu::id() % cpu::MAX_CPUS;
    let g = GEN.load(Ordering::SeqCst);
    if SEEN[me].load(Ordering::Relaxed) >= g {
        return;
    }
    mmu::flush_tlb_local();
    SEEN[me].fetch_max(g, Ordering::SeqCst);
}

/// The oldest generation every CPU has flushed at: memory unmapped at this
/// generation or before may be reused.
pub fn flushed_everywhere() -> u64 {
    let floor = FLOOR.load(Ordering::SeqCst);
    floor.max(kcore::lazyflush::flushed_everywhere(
        GEN.load(Ordering::SeqCst),
        (0..cpu::MAX_CPUS).map(|n| {
            (
                TRACKED[n].load(Ordering::SeqCst),
                SEEN[n].load(Ordering::SeqCst),
            )
        }),
    ))
}

/// Invalidates every CPU's TLB with one broadcast (`tlbi vmalle1is`), which
/// needs no CPU to take an interrupt: the way out when one does not catch up
/// (interrupts masked for long), at the price the lazy scheme avoids.
fn flush_everywhere_now() {
    let g = GEN.load(Ordering::SeqCst);
    mmu::flush_tlb_all_cpus();
    FLOOR.fetch_max(g, Ordering::SeqCst);
    BROADCASTS.fetch_add(1, Ordering::Relaxed);
}

/// How many times a broadcast invalidation was needed so far.
#[cfg(feature = "selftest")]
pub fn broadcasts() -> u64 {
    BROADCASTS.load(Ordering::Relaxed)
}

/// Waits until every CPU has flushed at generation `g` (asking them again);
/// after `timeout_us`, invalidates every CPU's TLB by broadcast instead.
pub fn wait_flushed(g: u64, timeout_us: u64) {
    catch_up();
    if flushed_everywhere() >= g {
        return;
    }
    call(&KICK);
    let start = cpu::counter();
    let limit = (timeout_us as u128 * cpu::counter_frequency() as u128 / 1_000_000) as u64;
    while flushed_everywhere() < g {
        if cpu::counter().wrapping_sub(start) > limit {
            flush_everywhere_now();
            return;
        }
        crate::arch::cpu::relax();
    }
}
