//! "The console": where the boot log, the shell and oops messages go.
//!
//! Two modes. At boot it is the early console, the kernel's polled PL011
//! ([`crate::console::early`]). Once a tty driver module registers the device the
//! kernel command line names (`console=ttyAMA0`, Linux's default name for a
//! PL011) and its module goes LIVE, the console opens that tty and moves to it:
//! the console then holds an [`ObjectRef`] on the tty — which is why `rmmod
//! pl011` is refused while the shell uses it — and writes through the tty's
//! `write` operation, while the driver's receive interrupt hands typed bytes to
//! [`receive`]. `console early` moves back (dropping the reference), after which
//! the module can be unloaded and a new one loaded; the console moves to it again.
//!
//! Input goes through one kernel-side queue in both modes, so a switch loses no
//! typed byte: bytes the driver received but the shell has not read stay queued,
//! and bytes still in the UART's FIFO are read by whoever drives it next.
//! Whoever fills the queue moves every byte the FIFO holds at once, so a burst
//! of input (a paste, a pipe) costs one wakeup per FIFO-full, not one per byte.
//!
//! On the early console the UART's receive interrupt (from the device tree)
//! wakes the shell: a kernel handler drains the FIFO into the queue. When a
//! driver module requests that interrupt the early console hands it over
//! ([`yield_irq`]) and polls at each tick until the module's tty takes over;
//! it takes the interrupt back when the module frees it ([`irq_freed`]). If
//! the queue fills, the early console masks the interrupt and leaves bytes in
//! the FIFO, where the sender (QEMU's stdin, a UART with flow control) waits,
//! until the shell has read half of the queue: nothing is dropped.
//!
//! Output with interrupts masked (interrupt handlers, the oops path) cannot wait
//! for a tty to drain its buffer, so it is written polled through the early
//! console; it may then overtake bytes still in the tty's buffer.
//!
//! Room `console` (also `early.rs`): uses `arch`, `sync`, `machine`, `module`,
//! `kobject`, `irq`.

pub mod early;

use crate::arch::irqchip;
use crate::arch::{cpu, modcall};
use crate::console::early::EarlyUart;
use crate::irq;
use crate::kobject::{self, KObject, ObjectRef};
use crate::sync::IrqLock;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// Base address of the early UART, 0 while there is none.
static EARLY_BASE: AtomicUsize = AtomicUsize::new(0);
static WRITE_LOCK: IrqLock<()> = IrqLock::new(());
/// Serializes writers to a tty with interrupts left enabled (the tty's
/// transmit interrupt must be able to drain its buffer while a writer waits).
static TTY_WRITE: crate::sync::Mutex<()> = crate::sync::Mutex::new(());
static TTY: IrqLock<Option<ObjectRef>> = IrqLock::new(None);
static ON_TTY: AtomicBool = AtomicBool::new(false);

/// Input typed but not yet read: Linux's N_TTY buffer size.
const INPUT_SIZE: usize = 4096;
/// Below this many queued bytes a throttled early UART is read again.
const UNTHROTTLE_BELOW: usize = INPUT_SIZE / 2;

struct Input {
    buf: [u8; INPUT_SIZE],
    head: usize,
    len: usize,
    /// Bytes a tty driver handed over while the queue was full.
    dropped: u64,
    /// The early UART's receive interrupts are masked because the queue is
    /// full; its bytes wait in its FIFO.
    throttled: bool,
}

impl Input {
    fn push(&mut self, byte: u8) -> bool {
        if self.len == INPUT_SIZE {
            return false;
        }
        self.buf[(self.head + self.len) % INPUT_SIZE] = byte;
        self.len += 1;
        true
    }

    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % INPUT_SIZE;
        self.len -= 1;
        Some(b)
    }

    /// Moves every byte the early UART's FIFO holds into the queue while it
    /// has room; when it has none, masks the UART's receive interrupts (if the
    /// console holds them) so the bytes wait in the FIFO.
    fn fill_from(&mut self, uart: &EarlyUart) {
        while self.len < INPUT_SIZE {
            match uart.get() {
                Some(b) => {
                    self.push(b);
                }
                None => return,
            }
        }
        if !self.throttled && EARLY_IRQ_HELD.load(Ordering::Acquire) {
            self.throttled = true;
            uart.disable_rx_interrupts();
        }
    }
}

static INPUT: IrqLock<Input> = IrqLock::new(Input {
    buf: [0; INPUT_SIZE],
    head: 0,
    len: 0,
    dropped: 0,
    throttled: false,
});

/// No interrupt: the early UART has none in the device tree (or none yet).
const NO_IRQ: u32 = u32::MAX;
/// The early UART's interrupt (INTID), [`NO_IRQ`] while unknown.
static EARLY_IRQ: AtomicU32 = AtomicU32::new(NO_IRQ);
/// Whether the console's handler holds [`EARLY_IRQ`] now (a driver module
/// holds it while it drives the UART). Changed only by module load/unload,
/// which are serialized, and once at boot.
static EARLY_IRQ_HELD: AtomicBool = AtomicBool::new(false);
/// The CPU the shell runs on: the early UART's interrupt goes there so its
/// wait for input (WFI) ends when a byte arrives.
const SHELL_CPU: usize = 0;

/// Uses the PL011 at `base` as the console.
///
/// # Safety
/// `base` must be a PL011 register frame that stays accessible at this address
/// (identity-mapped device memory, or the MMU still off).
pub unsafe fn init_early(base: usize) {
    EARLY_BASE.store(base, Ordering::Release);
}

fn early() -> Option<EarlyUart> {
    let base = EARLY_BASE.load(Ordering::Acquire);
    // SAFETY: `init_early`'s caller vouched for this frame.
    (base != 0).then(|| unsafe { EarlyUart::new(base) })
}

pub fn early_base() -> usize {
    EARLY_BASE.load(Ordering::Acquire)
}

/// The tty the console uses, if any.
pub fn current_tty() -> Option<String> {
    TTY.lock().as_ref().map(|r| r.object().name.clone())
}

/// A counted reference to the console's tty for one write: the console may
/// move off the tty (and its module go) on another CPU meanwhile, and the
/// write must not call into a module nobody holds.
fn tty_object() -> Option<ObjectRef> {
    let obj = TTY.lock().as_ref().map(|r| Arc::clone(r.object()))?;
    ObjectRef::get(&obj).ok()
}

/// Writes through the tty: the bytes the driver accepts, waiting (interrupts
/// enabled) while its buffer is full. False if the tty failed.
fn tty_write(obj: &Arc<KObject>, mut bytes: &[u8]) -> bool {
    let (Some(op), Some(owner)) = (obj.ops.write, obj.owner.as_ref()) else {
        return false;
    };
    let mut idle_rounds = 0;
    while !bytes.is_empty() {
        // SAFETY: the console holds an ObjectRef on `obj`, so its module is LIVE and `op` is mapped module text.
        let r = unsafe {
            modcall::call_guarded4(
                op,
                [obj.ctx, bytes.as_ptr() as usize, bytes.len(), 0],
                owner.text,
            )
        };
        match r {
            Ok(n) if (n as i64) > 0 => {
                bytes = &bytes[(n as usize).min(bytes.len())..];
                idle_rounds = 0;
            }
            Ok(0) if idle_rounds < 1000 => {
                // Buffer full: the transmit interrupt drains it.
                cpu::wait_for_interrupt();
                idle_rounds += 1;
            }
            _ => return false,
        }
    }
    true
}

/// Writes text (LF becomes CRLF).
pub fn write_str(s: &str) {
    if ON_TTY.load(Ordering::Acquire) && !cpu::irqs_masked() {
        if let (Some(handle), Some(_guard)) = (tty_object(), TTY_WRITE.try_lock()) {
            let obj = handle.object();
            let mut ok = true;
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    ok &= tty_write(obj, b"\r\n");
                }
                ok &= tty_write(obj, line.as_bytes());
            }
            if ok {
                return;
            }
        }
    }
    let _guard = WRITE_LOCK.lock();
    if let Some(u) = early() {
        u.write_bytes(s.as_bytes());
    }
}

/// Writes raw bytes (no newline translation).
pub fn write_raw(bytes: &[u8]) {
    if ON_TTY.load(Ordering::Acquire) && !cpu::irqs_masked() {
        if let (Some(handle), Some(_guard)) = (tty_object(), TTY_WRITE.try_lock()) {
            if tty_write(handle.object(), bytes) {
                return;
            }
        }
    }
    let _guard = WRITE_LOCK.lock();
    if let Some(u) = early() {
        for &b in bytes {
            u.put(b);
        }
    }
}

/// Writes without taking the console lock: for oops and panic only.
pub fn emergency_write(s: &str) {
    if let Some(u) = early() {
        u.write_bytes(s.as_bytes());
    }
}

/// Bytes a tty driver received (from its interrupt handler).
pub fn receive(bytes: &[u8]) {
    let mut q = INPUT.lock();
    for &b in bytes {
        if !q.push(b) {
            q.dropped += 1;
        }
    }
}

/// One byte of input, if any is waiting: the queue's oldest byte; when the
/// queue is empty on the early console, first everything in the UART's FIFO.
pub fn read_byte() -> Option<u8> {
    let mut q = INPUT.lock();
    let uart = (!ON_TTY.load(Ordering::Acquire)).then(early).flatten();
    if let Some(u) = uart.as_ref().filter(|_| q.len == 0) {
        q.fill_from(u);
    }
    let b = q.pop()?;
    if q.throttled && q.len < UNTHROTTLE_BELOW {
        q.throttled = false;
        if let Some(u) = &uart {
            if EARLY_IRQ_HELD.load(Ordering::Acquire) {
                u.enable_rx_interrupts();
            }
        }
    }
    Some(b)
}

/// Whether [`read_byte`] has a byte to return (for the shell's wait).
pub fn input_waiting() -> bool {
    let q = INPUT.lock();
    q.len > 0 || (!ON_TTY.load(Ordering::Acquire) && early().is_some_and(|u| u.rx_ready()))
}

/// Reads the early console by interrupt from now on: takes the early UART's
/// interrupt, `intid` (the first interrupt of the first device-tree node
/// whose first `reg` starts at the UART, found in boot's pass over the
/// devices), and unmasks it at the UART. Called once interrupts work;
/// without one in the device tree input is polled at each tick.
pub fn init_early_irq(intid: Option<u32>) {
    if early_base() == 0 {
        return;
    }
    match intid {
        Some(intid) => {
            EARLY_IRQ.store(intid, Ordering::Release);
            hold_early_irq();
        }
        None => {
            log::info!("console: the early UART has no interrupt; input is polled at each tick")
        }
    }
}

/// Registers the console's handler for the early UART's interrupt and
/// unmasks it at the UART (unless the console is on a tty or throttled).
fn hold_early_irq() {
    let intid = EARLY_IRQ.load(Ordering::Acquire);
    if intid == NO_IRQ || EARLY_IRQ_HELD.load(Ordering::Acquire) {
        return;
    }
    if let Err(e) = irq::request(
        intid,
        irq::Handler::Kernel(early_rx_interrupt),
        0,
        irq::Name::Kernel("early console"),
        irq::Owner::Kernel,
    ) {
        log::warn!("console: cannot take the early UART's interrupt: {e}; polling input");
        return;
    }
    irqchip::set_target(intid, SHELL_CPU);
    EARLY_IRQ_HELD.store(true, Ordering::Release);
    let q = INPUT.lock();
    if let Some(u) = early() {
        if !ON_TTY.load(Ordering::Acquire) && !q.throttled {
            u.enable_rx_interrupts();
        }
    }
}

/// A driver module is about to request interrupt `intid`. If it is the early
/// UART's, the console masks it at the UART and frees its handler; the early
/// console is polled at each tick until the module's tty takes over or the
/// module frees the interrupt (then [`irq_freed`] takes it back). Returns
/// whether it gave the interrupt up.
pub fn yield_irq(intid: u32) -> bool {
    if intid != EARLY_IRQ.load(Ordering::Acquire) || !EARLY_IRQ_HELD.load(Ordering::Acquire) {
        return false;
    }
    {
        let _q = INPUT.lock();
        if let Some(u) = early() {
            u.disable_rx_interrupts();
        }
        EARLY_IRQ_HELD.store(false, Ordering::Release);
    }
    if let Err(e) = irq::free(intid) {
        log::warn!("console: early UART: {e}");
    }
    true
}

/// Interrupt `intid` is free again (its module freed it, or did not get it).
pub fn irq_freed(intid: u32) {
    if intid == EARLY_IRQ.load(Ordering::Acquire) {
        hold_early_irq();
    }
}

/// The early UART's receive interrupt: empties its FIFO into the queue. On a
/// tty the early UART's bytes are not the console's input; they stay in its
/// FIFO (its interrupts masked) until `console early`.
fn early_rx_interrupt(_intid: u32, _ctx: usize) {
    let Some(u) = early() else { return };
    let mut q = INPUT.lock();
    u.ack_rx_interrupts();
    if ON_TTY.load(Ordering::Acquire) {
        u.disable_rx_interrupts();
        return;
    }
    q.fill_from(&u);
}

/// The tty name the console should use (`console=` on the command line,
/// default `ttyAMA0`).
fn wanted_tty() -> &'static str {
    let args = crate::machine::boot_info()
        .map(|b| b.bootargs.as_str())
        .unwrap_or("");
    let name = kcore::cmdline::get(args, "console").unwrap_or("ttyAMA0");
    name.split(',').next().unwrap_or(name)
}

/// Moves the console to tty `name`; opens it (taking a reference on its module).
pub fn attach(name: &str) -> Result<(), &'static str> {
    let obj = kobject::find_device(name).ok_or("No such device")?;
    if !matches!(obj.kind, kobject::Kind::Device(kabi::DeviceKind::Tty)) {
        return Err("not a tty");
    }
    let handle = kobject::open_device(&obj).map_err(|e| {
        if e == -kabi::errno::EBUSY {
            "Device or resource busy"
        } else {
            "open failed"
        }
    })?;
    let old = TTY.lock().replace(handle);
    ON_TTY.store(true, Ordering::Release);
    drop(old);
    log::info!("console [{name}] enabled");
    Ok(())
}

/// Moves the console back to the early console, releasing the tty.
pub fn detach() -> Option<String> {
    let old = TTY.lock().take()?;
    ON_TTY.store(false, Ordering::Release);
    if EARLY_IRQ_HELD.load(Ordering::Acquire) {
        let q = INPUT.lock();
        if let Some(u) = early().filter(|_| !q.throttled) {
            u.enable_rx_interrupts();
        }
    }
    let obj = Arc::clone(old.object());
    kobject::close_device(old);
    log::info!("console [{}] disabled, back to the early console", obj.name);
    Some(obj.name.clone())
}

/// Subscribes the console to modules going live, so it moves to its tty as
/// soon as the driver providing it is up.
pub fn init_late() {
    crate::module::on_live(module_live);
}

/// After a module went LIVE: if it provides the wanted console tty and the
/// console is still early, move to it.
fn module_live(module: &Arc<crate::module::Module>) {
    if ON_TTY.load(Ordering::Acquire) {
        return;
    }
    // Every module that goes live asks: the module's objects are compared
    // where they are, not copied out.
    let wanted = wanted_tty();
    if module.has_resource(|o| o.name() == wanted) {
        if let Err(e) = attach(wanted) {
            log::warn!("console: cannot use {wanted}: {e}");
        }
    }
}

pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// Unlocked writer for the oops path.
pub struct Emergency;

impl fmt::Write for Emergency {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        emergency_write(s);
        Ok(())
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::Console, format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}
