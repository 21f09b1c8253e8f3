//! Work queues, one a CPU: functions run once, in thread context, on a chosen
//! CPU (Linux's `queue_work_on`).
//!
//! A secondary CPU runs its queue from its idle loop; the boot CPU runs its
//! queue while the shell waits for input. Queueing onto another CPU sends it
//! `IPI_WAKE`. A module's work item is an object owned by the module from the
//! moment it is queued until it has run or is cancelled (so the exit check
//! sees one left queued), and is called through `modcall::call_guarded`.
//! [`cancel`] has `cancel_work_sync` semantics: afterwards the item is neither
//! queued nor running.

use crate::arch::{cpu, irqchip, modcall};
use crate::kobject::{self, KObject};
use crate::module::Module;
use crate::sync::IrqLock;
use alloc::collections::LinkedList;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// What a work item calls.
#[derive(Clone, Copy)]
pub enum Func {
    /// A kernel function, `f(ctx)`.
    #[cfg_attr(not(feature = "selftest"), allow(dead_code))] // used by the self-tests
    Kernel(fn(usize)),
    /// A module's `extern "C" fn(*mut c_void)` in `text`.
    Module { func: usize, text: (u64, u64) },
}

struct Item {
    id: i64,
    func: Func,
    ctx: usize,
    /// The module's object for the item, unregistered once it ran.
    object: Option<(Arc<KObject>, Arc<Module>)>,
}

/// Linked lists, like Linux's: an item's memory is allocated when it is
/// queued and freed when it leaves, so no queue keeps capacity it once
/// needed (the heap returns to its baseline after any burst).
static QUEUES: [IrqLock<LinkedList<Item>>; cpu::MAX_CPUS] =
    [const { IrqLock::new(LinkedList::new()) }; cpu::MAX_CPUS];
/// The work item each CPU is running now (0: none).
static RUNNING: [AtomicI64; cpu::MAX_CPUS] = [const { AtomicI64::new(0) }; cpu::MAX_CPUS];
static NEXT_ID: AtomicI64 = AtomicI64::new(1);
static NEXT_CPU: AtomicUsize = AtomicUsize::new(1);

/// Picks CPU `cpu`, or for a negative `cpu` the next online CPU round-robin
/// (starting away from the boot CPU, which runs the shell). None if `cpu` is
/// not online.
pub fn target(cpu: i32) -> Option<usize> {
    if cpu >= 0 {
        let n = cpu as usize;
        return (super::cpu(n).0 == super::State::Online).then_some(n);
    }
    let online = super::online().max(1);
    let n = NEXT_CPU.fetch_add(1, Ordering::Relaxed) % online;
    (super::cpu(n).0 == super::State::Online).then_some(n)
}

/// Queues `func(ctx)` on CPU `cpu`; returns the item's id.
pub fn queue(
    cpu: usize,
    func: Func,
    ctx: usize,
    object: Option<(Arc<KObject>, Arc<Module>)>,
) -> i64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    QUEUES[cpu % cpu::MAX_CPUS].lock().push_back(Item {
        id,
        func,
        ctx,
        object,
    });
    if cpu != cpu::id() {
        irqchip::send_sgi(cpu, super::IPI_WAKE);
    }
    id
}

/// Cancels item `id`: true if it was queued (it will not run); false if it
/// had run or was running (and is now finished, unless it is the caller).
pub fn cancel(id: i64) -> bool {
    for q in &QUEUES {
        let removed = {
            let mut q = q.lock();
            // Unlink the one node: no other node is freed or allocated.
            q.iter().position(|i| i.id == id).and_then(|pos| {
                let mut tail = q.split_off(pos);
                let item = tail.pop_front();
                q.append(&mut tail);
                item
            })
        };
        if let Some(item) = removed {
            release(item);
            return true;
        }
    }
    let me = cpu::id();
    for (n, r) in RUNNING.iter().enumerate() {
        if n == me {
            continue;
        }
        while r.load(Ordering::Acquire) == id {
            crate::arch::cpu::relax();
        }
    }
    false
}

fn release(item: Item) {
    if let Some((obj, owner)) = item.object {
        let _ = kobject::unregister(obj.id, Some(&owner));
    }
}

/// Runs this CPU's queued items, in order, until the queue is empty.
pub fn run_local() {
    let me = cpu::id() % cpu::MAX_CPUS;
    loop {
        let item = {
            let mut q = QUEUES[me].lock();
            let item = q.pop_front();
            if let Some(i) = &item {
                RUNNING[me].store(i.id, Ordering::Release);
            }
            item
        };
        let Some(item) = item else { return };
        match item.func {
            Func::Kernel(f) => f(item.ctx),
            Func::Module { func, text } => {
                // The item is an object of its module, which cannot be freed
                // while it is registered (the exit check); the module is LIVE
                // or its exit is cancelling this item.
                // SAFETY: so `func` is mapped module text.
                if unsafe { modcall::call_guarded(func, item.ctx, 0, text) }.is_err() {
                    log::error!("work {}: function faulted", item.id);
                    if let Some((_, m)) = &item.object {
                        m.refs.set_failed();
                    }
                }
            }
        }
        if let Some((obj, _)) = &item.object {
            kobject::count_call(obj.id);
        }
        // Unregistered before it stops counting as running: a cancel that
        // waited for it finds the module's ledger already without it.
        release(item);
        RUNNING[me].store(0, Ordering::Release);
    }
}

/// Whether this CPU has work queued.
pub fn pending_here() -> bool {
    !QUEUES[cpu::id() % cpu::MAX_CPUS].lock().is_empty()
}
