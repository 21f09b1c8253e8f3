//! Software timers run from the periodic tick (10 ms resolution).
//!
//! A timer calls `func(ctx)` once after a delay, then every period if it has
//! one. Module timers are objects owned by their module (so `rmmod` sees them
//! and the exit check catches one left armed) and are called through
//! `modcall::call_guarded`: a faulting timer marks its module failed and is
//! cancelled.

use crate::arch::modcall;
use crate::irq::time;
use crate::sync::IrqLock;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicI64, Ordering};

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
}

static TIMERS: IrqLock<BTreeMap<i64, Timer>> = IrqLock::new(BTreeMap::new());
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
    };
    TIMERS.lock().insert(id, t);
    id
}

/// Removes a timer; returns it if it existed.
pub fn remove(id: i64) -> Option<Timer> {
    TIMERS.lock().remove(&id)
}

/// Runs due timers; called from the tick interrupt.
pub fn run_due() {
    let now = time::ticks_since_boot();
    loop {
        // Take one due timer at a time, calling it without the lock held.
        let due = {
            let mut timers = TIMERS.lock();
            let found = timers
                .iter()
                .find(|(_, t)| t.due <= now)
                .map(|(id, t)| (*id, *t));
            if let Some((id, t)) = found {
                if t.period == 0 {
                    timers.remove(&id);
                } else if let Some(entry) = timers.get_mut(&id) {
                    entry.due = now + t.period;
                }
            }
            found
        };
        let Some((id, t)) = due else { break };
        crate::kobject::count_call(t.object);
        // SAFETY: a module timer must be deleted before its module's exit
        // completes (checked), so `func` is mapped module text.
        if unsafe { modcall::call_guarded(t.func, t.ctx, 0, t.text) }.is_err() {
            log::error!("timer {id}: callback faulted; timer cancelled");
            TIMERS.lock().remove(&id);
            crate::module::mark_failed(t.owner);
        }
    }
}
