//! Software timers, expiring at their deadline (like Linux's hrtimers): the
//! boot CPU's virtual timer is programmed for the earlier of its next tick and
//! the earliest timer, so a 1 ms periodic timer fires every millisecond, not
//! at the 100 Hz tick.
//!
//! A timer calls `func(ctx)` once after a delay, then every period if it has
//! one; a periodic timer is re-armed only after its callback returned, from
//! its previous deadline (no drift, never two runs at once). Module timers are
//! objects owned by their module (so `rmmod` sees them and the exit check
//! catches one left armed) and are called through `modcall::call_guarded`: a
//! faulting timer marks its module failed and is cancelled. [`remove`] has
//! Linux's `timer_shutdown_sync` semantics: afterwards the timer is neither
//! queued nor running and cannot re-arm itself; called on another CPU while the
//! callback runs, it waits for the callback to return.

use crate::arch::{cpu, modcall};
use crate::irq::time;
use crate::sync::IrqLock;
use core::sync::atomic::{AtomicI64, Ordering};
use kcore::vecmap::VecMap;

#[derive(Clone, Copy)]
pub struct Timer {
    pub func: usize,
    pub ctx: usize,
    pub text: (u64, u64),
    pub owner: u32,
    /// Counter tick at which it fires next.
    pub due: u64,
    /// Period in counter ticks (0: one-shot).
    pub period: u64,
    pub object: u32,
    /// The CPU running its callback now, if any.
    running_on: Option<usize>,
    /// Shut down while running: removed when the callback returns.
    dead: bool,
}

static TIMERS: IrqLock<VecMap<i64, Timer>> = IrqLock::new(VecMap::new());
static NEXT_ID: AtomicI64 = AtomicI64::new(1);

fn us_to_ticks(us: u64) -> u64 {
    (us as u128 * time::frequency() as u128 / 1_000_000) as u64
}

/// Adds a timer; returns its id.
pub fn add(
    func: usize,
    ctx: usize,
    text: (u64, u64),
    owner: u32,
    delay_us: u64,
    period_us: u64,
    object: u32,
) -> i64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let t = Timer {
        func,
        ctx,
        text,
        owner,
        due: time::ticks_since_boot() + us_to_ticks(delay_us),
        period: us_to_ticks(period_us),
        object,
        running_on: None,
        dead: false,
    };
    TIMERS.lock().insert(id, t);
    time::reprogram();
    id
}

/// Shuts timer `id` of module `owner` down: afterwards it is not queued,
/// not running (unless this is its own callback asking) and never runs
/// again. Returns its object's id if it existed (a one-shot timer that fired
/// is gone already, its object retired).
pub fn remove(id: i64, owner: u32) -> Option<u32> {
    let me = cpu::id();
    let mut object = None;
    loop {
        {
            let mut timers = TIMERS.lock();
            let Some(t) = timers.get_mut(&id).filter(|t| t.owner == owner) else {
                return object;
            };
            object = Some(t.object);
            match t.running_on {
                None => {
                    timers.remove(&id);
                    return object;
                }
                // Its own callback: it cannot wait for itself; the timer goes
                // when the callback returns.
                Some(cpu) if cpu == me => {
                    t.dead = true;
                    return object;
                }
                Some(_) => t.dead = true,
            }
        }
        // Running on another CPU: wait for the callback to return.
        crate::arch::cpu::relax();
    }
}

/// The earliest deadline of a queued timer that is not running.
pub fn next_due() -> Option<u64> {
    TIMERS
        .lock()
        .values()
        .filter(|t| t.running_on.is_none() && !t.dead)
        .map(|t| t.due)
        .min()
}

/// Runs due timers, one at a time, each without the lock held; called from
/// the boot CPU's timer interrupt.
pub fn run_due() {
    let me = cpu::id();
    loop {
        let now = time::ticks_since_boot();
        let due = {
            let mut timers = TIMERS.lock();
            let found = timers
                .iter_mut()
                .find(|(_, t)| t.due <= now && t.running_on.is_none() && !t.dead);
            found.map(|(id, t)| {
                t.running_on = Some(me);
                (*id, *t)
            })
        };
        let Some((id, t)) = due else { break };
        crate::kobject::count_call(t.object);
        // SAFETY: a module timer is shut down (and waited for) before its module's exit completes (checked), so `func` is mapped module text.
        let faulted = unsafe { modcall::call_guarded(t.func, t.ctx, 0, t.text) }.is_err();
        if faulted {
            log::error!("timer {id}: callback faulted; timer cancelled");
            crate::module::mark_failed(t.owner);
        }
        let mut timers = TIMERS.lock();
        let Some(entry) = timers.get_mut(&id) else {
            continue;
        };
        entry.running_on = None;
        if entry.dead || faulted || entry.period == 0 {
            timers.remove(&id);
            drop(timers);
            // Done for good: its object leaves the module's ledger.
            crate::kobject::retire(t.object);
        } else {
            // From the previous deadline, so the rate holds over time: a
            // timer that fell behind (the host stalled the guest) runs again
            // at once to catch up, unless it is more than a second behind.
            entry.due += entry.period;
            if now.saturating_sub(entry.due) > time::frequency() {
                let behind = (now - entry.due) / entry.period + 1;
                entry.due += behind * entry.period;
            }
        }
    }
}
