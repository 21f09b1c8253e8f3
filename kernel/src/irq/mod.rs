//! Interrupt registration and dispatch, independent of the interrupt controller.
//!
//! A handler is a plain function plus a context word, registered for one INTID
//! with a name and an owner (`None` for the kernel itself; a module's handlers
//! name their module so its reference count and `rmmod` checks can account for
//! them). The table is an `IrqLock`ed map from INTID to action: dispatch runs with IRQs masked
//! and takes the same lock briefly to copy the action out, then calls it unlocked
//! so a handler may itself (un)register.
//!
//! Room `irq` (also `time.rs`: the clock and tick; `timer.rs`: software
//! timers): uses `arch`, `sync`, `module`, `kobject`.

pub mod time;
pub mod timer;

use crate::arch::irqchip;
use crate::sync::IrqLock;
use core::sync::atomic::{AtomicU32, Ordering};
use kcore::vecmap::VecMap;

/// Highest INTID handled (GICv2/v3 SPIs end at 1019).
pub const MAX_IRQ: usize = 1020;

/// A kernel handler: `(intid, ctx)`.
pub type KernelHandler = fn(intid: u32, ctx: usize);

/// What to call for an interrupt.
#[derive(Clone, Copy)]
pub enum Handler {
    Kernel(KernelHandler),
    /// A module's `extern "C" fn(u32, *mut c_void)`, called through
    /// `modcall::call_guarded` with its module's text range.
    Module {
        func: usize,
        text: (u64, u64),
    },
}

/// Who registered a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Kernel,
    /// A module, by its id in the module table.
    Module(u32),
}

/// What `interrupts` calls a handler: a kernel handler's own name, or the
/// name of the IRQ object its module registered (looked up when shown, so a
/// registration allocates nothing that outlives it).
#[derive(Clone, Copy)]
pub enum Name {
    Kernel(&'static str),
    Object(u32),
}

impl Name {
    /// Calls `f` with the name.
    pub fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Name::Kernel(n) => f(n),
            Name::Object(id) => match crate::kobject::get(*id) {
                Some(o) => f(&o.name),
                None => f("?"),
            },
        }
    }
}

#[derive(Clone, Copy)]
pub struct Action {
    pub handler: Handler,
    pub ctx: usize,
    pub name: Name,
    pub owner: Owner,
    pub count: u64,
}

static TABLE: IrqLock<VecMap<u32, Action>> = IrqLock::new(VecMap::new());

/// The SGI that only wakes a CPU from WFI (the `smp` room's IPI_WAKE).
pub const IPI_WAKE: u32 = 0;

/// Online CPUs as a bit mask (set by `smp` as CPUs come up): device
/// interrupts are spread over them, and woken after a module handler ran.
static ONLINE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
static NEXT_TARGET: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Records the online CPUs (bit n: CPU n).
pub fn set_online_cpus(mask: u64) {
    ONLINE.store(mask | 1, Ordering::Release);
}

/// The CPU the next shared interrupt goes to: the online CPUs in turn.
fn next_target() -> usize {
    let mask = ONLINE.load(Ordering::Acquire);
    let n = mask.count_ones() as usize;
    let k = NEXT_TARGET.fetch_add(1, Ordering::Relaxed) % n.max(1);
    (0..64).filter(|b| mask & (1 << b) != 0).nth(k).unwrap_or(0)
}

/// After a module's handler ran: wake every other online CPU from WFI, so a
/// CPU waiting in `cpu_wait_irq` for what this interrupt completed (its
/// device interrupt may have gone to another CPU) looks again. The SGI is
/// latched, so a CPU about to wait does not miss it.
fn wake_others() {
    let mask = ONLINE.load(Ordering::Acquire);
    let me = crate::arch::cpu::id();
    for n in 0..crate::arch::cpu::MAX_CPUS {
        if n != me && mask & (1 << n) != 0 {
            irqchip::send_sgi(n, IPI_WAKE);
        }
    }
}

/// Interrupts taken, by CPU (for `cpus`).
static PER_CPU: [core::sync::atomic::AtomicU64; crate::arch::cpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; crate::arch::cpu::MAX_CPUS];

/// Interrupts CPU `cpu` has taken.
pub fn taken_on(cpu: usize) -> u64 {
    PER_CPU
        .get(cpu)
        .map_or(0, |n| n.load(core::sync::atomic::Ordering::Relaxed))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqError {
    /// The INTID is out of range.
    Invalid(u32),
    /// Someone else already handles it.
    Busy(u32),
    /// Nothing is registered there.
    NotRegistered(u32),
    /// The CPU is not online.
    CpuOffline(usize),
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqError::Invalid(i) => write!(f, "invalid IRQ {i}"),
            IrqError::Busy(i) => write!(f, "IRQ {i} is already in use (Device or resource busy)"),
            IrqError::NotRegistered(i) => write!(f, "IRQ {i} has no handler"),
            IrqError::CpuOffline(c) => write!(f, "CPU{c} is not online"),
        }
    }
}

/// Registers `handler` for `intid` and enables it at the controller.
pub fn request(
    intid: u32,
    handler: Handler,
    ctx: usize,
    name: Name,
    owner: Owner,
) -> Result<(), IrqError> {
    if intid as usize >= MAX_IRQ {
        return Err(IrqError::Invalid(intid));
    }
    {
        let mut t = TABLE.lock();
        if t.contains_key(&intid) {
            return Err(IrqError::Busy(intid));
        }
        t.insert(
            intid,
            Action {
                handler,
                ctx,
                name,
                owner,
                count: 0,
            },
        );
    }
    if intid >= 32 {
        irqchip::set_target(intid, next_target());
    }
    irqchip::enable(intid);
    Ok(())
}

/// Routes shared interrupt `intid` to CPU `cpu` from now on (Linux's
/// `irq_set_affinity` for one CPU). SGIs and PPIs are per CPU: refused.
pub fn set_affinity(intid: u32, cpu: usize) -> Result<(), IrqError> {
    if !(32..MAX_IRQ as u32).contains(&intid) {
        return Err(IrqError::Invalid(intid));
    }
    if cpu >= 64 || ONLINE.load(Ordering::Acquire) & (1 << cpu) == 0 {
        return Err(IrqError::CpuOffline(cpu));
    }
    if !TABLE.lock().contains_key(&intid) {
        return Err(IrqError::NotRegistered(intid));
    }
    irqchip::set_target(intid, cpu);
    Ok(())
}

/// Makes shared interrupt `intid`, which must have a handler, pending at the
/// controller as if its device had raised it: a test's way to have a handler
/// run on the CPU the line is routed to, on demand.
pub fn inject(intid: u32) -> Result<(), IrqError> {
    if !TABLE.lock().contains_key(&intid) {
        return Err(IrqError::NotRegistered(intid));
    }
    if irqchip::set_pending(intid) {
        Ok(())
    } else {
        Err(IrqError::Invalid(intid))
    }
}

/// Handlers running now, by INTID: raised under the table lock when dispatch
/// takes the action, lowered when the handler returns, so that [`free`] can
/// wait for the handlers already started (Linux's `synchronize_irq`).
static RUNNING: [AtomicU32; MAX_IRQ] = [const { AtomicU32::new(0) }; MAX_IRQ];

/// The INTID each CPU is handling now (u32::MAX: none).
static HANDLING: [AtomicU32; crate::arch::cpu::MAX_CPUS] =
    [const { AtomicU32::new(u32::MAX) }; crate::arch::cpu::MAX_CPUS];

/// Disables `intid` at the controller, removes its handler so that no new
/// call can start, then waits until no CPU is still inside it (unless it is
/// the caller's own handler, which cannot wait for itself). Afterwards the
/// handler's code and context may be freed. Returns the action removed.
pub fn free(intid: u32) -> Result<Action, IrqError> {
    if intid as usize >= MAX_IRQ {
        return Err(IrqError::Invalid(intid));
    }
    irqchip::disable(intid);
    let action = TABLE
        .lock()
        .remove(&intid)
        .ok_or(IrqError::NotRegistered(intid))?;
    // Disabled now: a pending state left behind (the device raised the line
    // just before, or a test injected it) is nobody's; the line's next owner
    // must not take it.
    irqchip::clear_pending(intid);
    let me = crate::arch::cpu::id();
    let own = HANDLING.get(me).map(|h| h.load(Ordering::Relaxed)) == Some(intid);
    let others = |n: u32| if own { n > 1 } else { n > 0 };
    while others(RUNNING[intid as usize].load(Ordering::Acquire)) {
        crate::arch::cpu::relax();
    }
    Ok(action)
}

/// Called by the exception vector with IRQs masked.
pub fn dispatch() {
    while let Some(intid) = irqchip::acknowledge() {
        if let Some(n) = PER_CPU.get(crate::arch::cpu::id()) {
            n.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
        let action = {
            let mut t = TABLE.lock();
            match t.get_mut(&intid) {
                Some(a) => {
                    a.count += 1;
                    RUNNING[intid as usize % MAX_IRQ].fetch_add(1, Ordering::AcqRel);
                    Some(*a)
                }
                None => None,
            }
        };
        let me = crate::arch::cpu::id();
        let outer = HANDLING
            .get(me)
            .map_or(u32::MAX, |h| h.swap(intid, Ordering::Relaxed));
        match action {
            Some(Action {
                handler: Handler::Kernel(f),
                ctx,
                ..
            }) => f(intid, ctx),
            Some(Action {
                handler: Handler::Module { func, text },
                ctx,
                owner,
                ..
            }) => {
                // SAFETY: the module registered `func` and must unregister it before its exit completes (checked), so its text is mapped.
                if unsafe { crate::arch::modcall::call_guarded(func, intid as usize, ctx, text) }
                    .is_err()
                {
                    log::error!("irq {intid}: handler faulted; disabling the interrupt");
                    irqchip::disable(intid);
                    if let Owner::Module(id) = owner {
                        crate::module::mark_failed(id);
                    }
                }
                wake_others();
            }
            None => {
                log::warn!("irq {intid}: nobody cared, disabling");
                irqchip::disable(intid);
            }
        }
        if action.is_some() {
            RUNNING[intid as usize % MAX_IRQ].fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(h) = HANDLING.get(me) {
            h.store(outer, Ordering::Relaxed);
        }
        irqchip::end_of_interrupt(intid);
    }
}

/// Calls `f` for each registered handler (for `interrupts`).
pub fn for_each(mut f: impl FnMut(u32, &Action)) {
    let t = TABLE.lock();
    for (i, a) in t.iter() {
        f(*i, a);
    }
}
