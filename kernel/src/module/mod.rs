//! Loadable modules: the registry of loaded modules, and the rules that make
//! unloading safe.
//!
//! This room owns [`Module`] (one per loaded, loading or failed module), the
//! list of them, the symbol tables modules link against ([`symtab`]), module memory ([`memory`]), the
//! load path ([`load`], Linux's `load_module` as named steps with one reverse
//! unwind) and the unload path ([`unload`]). It uses only `arch`, `sync` and
//! `mm`: it does not know devices, interrupts or files. What a module
//! registers elsewhere (devices, IRQ handlers, timers) is recorded in the
//! module's own ledger ([`Module::resources`]) by the room that registers it,
//! so the exit check can see what a module left behind without knowing those
//! rooms; and rooms that must act when a module goes live (the console taking
//! over a tty) subscribe with [`on_live`], like Linux's module notifier.
//!
//! Unloading (`rmmod`) refuses while the module's count is not zero (its
//! objects in use plus the modules that depend on it) and says who holds it;
//! otherwise the module goes GOING (no new references), exit runs and may
//! refuse (the module returns to LIVE), and afterwards the kernel checks that
//! the module left nothing registered. Only then is its memory freed. A fault
//! or panic in init or exit is caught ([`crate::arch::modcall`]); the module is
//! marked FAILED and is never freed while any object of it may still be reached.
//!
//! Load and unload are serialized by one mutex (Linux's `module_mutex`); the
//! module list itself is behind an `IrqLock` so the oops path can read it.

mod load;
pub mod memory;
pub mod signing;
pub mod symtab;
mod tables;
mod unload;

pub use load::load;
#[cfg(feature = "selftest")]
pub use load::{grace_stats, step_ticks, STEPS as LOAD_STEPS};
pub use unload::unload;

use crate::sync::IrqLock;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kcore::logring::Piece;
use kcore::refcount::{ModuleRef, State};
use memory::ModuleMemory;

/// Something a module registered with another room (a device, an IRQ
/// handler, a timer): what the exit check and `rmmod`'s refusal name.
pub trait Resource: Send + Sync {
    fn id(&self) -> u32;
    fn name(&self) -> &str;
    /// What it is: "chardev", "irq", "timer", ...
    fn label(&self) -> &'static str;
    /// Handles open on it now.
    fn users(&self) -> u32;
}

/// A loaded (or loading, or failed) module.
pub struct Module {
    pub id: u32,
    pub name: String,
    pub refs: ModuleRef,
    pub size: usize,
    pub base: u64,
    /// Text bounds `(start, end)`: a fault whose PC lies here is this module's.
    pub text: (u64, u64),
    pub init: Option<u64>,
    pub cleanup: Option<u64>,
    /// The `.modinfo` `key=value` strings, in order, NUL-separated in one
    /// allocation (see [`Module::modinfo_fields`]).
    pub modinfo: String,
    /// Providers this module imports from (each holds one reference).
    pub uses: Vec<Arc<Module>>,
    /// The export that pins it, if it imports one marked unsafe to unload.
    pub pinned_by: Option<String>,
    /// The module's symbol table, copied as stored (24-byte `Elf64_Sym`
    /// entries), for oops backtraces: [`Module::function_at`] reads it when
    /// asked (as Linux's `find_kallsyms_symbol` searches the module's table),
    /// so a load neither picks out nor sorts the functions (about 2.5 k
    /// instructions for hello's 157 symbols, against a copy).
    pub symtab: alloc::boxed::Box<[u8]>,
    /// Per text section placed, (section index, address, size): where the
    /// functions of [`Module::symtab`] lie.
    pub text_sections: Vec<(usize, u64, u64)>,
    /// The module's symbol string table, copied.
    pub symbol_names: alloc::boxed::Box<[u8]>,
    /// Relocations applied at load.
    pub relocations: u64,
    /// Relocations the build applied (`modtool prelink`), when the load used
    /// its `.modprelink` section; 0 otherwise.
    pub prelinked: u64,
    pub veneers: usize,
    /// 64-byte blocks of text the load stored into the image's pages (the
    /// rest already held the right bytes: a module loaded again where its
    /// previous image ran). Under QEMU each stored block costs translations
    /// of the code around it; `modstress` reports the mean.
    pub text_stored: usize,
    /// Where the planned text ends (sections, veneers, PLT, GOT): the rest of
    /// its last page holds zeroes (see [`Module::text_tail_nonzero`]).
    pub text_planned_end: u64,
    /// Taint flags this module brought (`(E)` unsigned, `(P)` proprietary),
    /// as bits of [`crate::taint::Taint`].
    pub taints: u32,
    /// Who signed it, when its signature verified.
    pub signer: Option<String>,
    /// The kernel's copies of `charp` parameter values: the module holds
    /// pointers to them, so they live exactly as long as the module.
    charp_values: IrqLock<Vec<alloc::boxed::Box<[u8]>>>,
    /// What the module registered and has not unregistered yet.
    resources: IrqLock<Vec<Arc<dyn Resource>>>,
    mem: IrqLock<Option<ModuleMemory>>,
}

impl Module {
    /// Non-zero bytes in the module's text pages after its planned text: the
    /// allocation clears them, and nothing of an earlier owner of the pages
    /// may show there (`modstress` checks every cycle).
    #[cfg(feature = "selftest")]
    pub fn text_tail_nonzero(&self) -> usize {
        let guard = self.mem.lock();
        let Some(mem) = guard.as_ref() else {
            return 0;
        };
        let (start, end) = (self.text_planned_end, self.text.1);
        let len = end.saturating_sub(start) as usize;
        mem.image_bytes(start, len)
            .map_or(0, |tail| tail.iter().filter(|&&b| b != 0).count())
    }

    /// The `.modinfo` `key=value` strings, in order.
    pub fn modinfo_fields(&self) -> impl Iterator<Item = &str> + '_ {
        self.modinfo.split('\0').filter(|f| !f.is_empty())
    }

    /// The function containing `addr`: (start, size, mangled name). The
    /// symbol starting closest below or at `addr` (of several at the same
    /// address, the last in the table), as a search of the sorted list found
    /// it.
    /// Functions count when their section is placed text and their value
    /// lies inside it (the check `Object::symbol` makes); others are left out.
    pub fn function_at(&self, addr: u64) -> Option<(u64, u64, &str)> {
        const STT_FUNC: u8 = 2;
        let word = |e: &[u8], at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&e[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let (start, size, name) = self
            .symtab
            .chunks_exact(24)
            .filter_map(|e| {
                let head = word(e, 0);
                if (head >> 32) as u8 & 0xf != STT_FUNC {
                    return None;
                }
                let shndx = (head >> 48) as usize;
                let value = word(e, 8);
                let &(_, base, len) = self.text_sections.iter().find(|t| t.0 == shndx)?;
                (value <= len).then(|| (base.wrapping_add(value), word(e, 16), head as u32))
            })
            .filter(|s| s.0 <= addr)
            .reduce(|best, s| if s.0 >= best.0 { s } else { best })?;
        if addr >= start + size.max(1) {
            return None;
        }
        let tail = self.symbol_names.get(name as usize..)?;
        let len = tail.iter().position(|&b| b == 0)?;
        Some((
            start,
            size,
            core::str::from_utf8(&tail[..len]).unwrap_or("?"),
        ))
    }

    pub fn state(&self) -> State {
        self.refs.state()
    }

    /// The `ThisModule` handle given to this module's code: an address in a
    /// range nothing maps ([`HANDLE_BASE`] + the module's id), which module
    /// code only passes back, never dereferences. Ids are never reused, so a
    /// stale handle of an unloaded module never names a module loaded later
    /// (a heap address could).
    pub fn handle(&self) -> usize {
        HANDLE_BASE + self.id as usize
    }

    /// Records something the module registered (called by the registering room).
    pub fn add_resource(&self, r: Arc<dyn Resource>) {
        self.resources.lock().push(r);
    }

    /// Forgets resource `id` once it is unregistered.
    pub fn remove_resource(&self, id: u32) {
        self.resources.lock().retain(|r| r.id() != id);
    }

    /// Whether something the module registered (and has not unregistered)
    /// satisfies `f`, asked under the list's lock: `f` must not take locks
    /// (it reads the object's fields).
    pub fn has_resource(&self, f: impl Fn(&dyn Resource) -> bool) -> bool {
        self.resources.lock().iter().any(|r| f(&**r))
    }

    /// How many of the module's objects have users: each keeps it loaded
    /// (`rmmod` asks this after its fence, kcore::refcount).
    pub fn objects_in_use(&self) -> u32 {
        self.resources
            .lock()
            .iter()
            .filter(|r| r.users() != 0)
            .count() as u32
    }

    /// The module's use count as `lsmod` shows it: its own references (the
    /// modules that depend on it, `try_module_get`) plus its objects in use.
    pub fn use_count(&self) -> u32 {
        self.refs.count() + self.objects_in_use()
    }

    /// Everything the module has registered and not unregistered.
    pub fn resources(&self) -> Vec<Arc<dyn Resource>> {
        self.resources.lock().clone()
    }
}

/// Where module handles live: 64 MiB of addresses below the module area,
/// never mapped, within reach of any module instruction (ADRP, +-4 GiB).
pub const HANDLE_BASE: usize = 0x3800_0000;

static MODULES: IrqLock<Vec<Arc<Module>>> = IrqLock::new(Vec::new());
static MODULE_MUTEX: crate::sync::Mutex<()> = crate::sync::Mutex::new(());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Why a load or unload failed: the errno (for the `insmod: ERROR:` line) and
/// the detailed reason (logged, as Linux logs it to dmesg).
#[derive(Debug)]
pub struct ModError {
    pub errno: i32,
    pub detail: String,
}

impl ModError {
    fn new(errno: i32, detail: String) -> Self {
        Self { errno, detail }
    }
}

/// Text for an errno the way `insmod`/`rmmod` (kmod) print it.
pub use kcore::errno::module_strerror as strerror;

/// Finds a loaded module by name.
pub fn find(name: &str) -> Option<Arc<Module>> {
    MODULES.lock().iter().find(|m| m.name == name).cloned()
}

/// The module whose handle is `ptr` (the `owner` argument of kernel exports).
pub fn from_handle(ptr: usize) -> Option<Arc<Module>> {
    let id = u32::try_from(ptr.checked_sub(HANDLE_BASE)?).ok()?;
    MODULES.lock().iter().find(|m| m.id == id).cloned()
}

/// Marks module `id` FAILED (its IRQ handler or timer faulted). The list's
/// lock masks interrupts, so no holder is interrupted on this CPU: waiting
/// for another CPU's holder is safe.
pub fn mark_failed(id: u32) {
    let m = MODULES.lock().iter().find(|m| m.id == id).cloned();
    if let Some(m) = m {
        m.refs.set_failed();
    }
}

/// All modules, most recently loaded first (as `lsmod` lists them).
pub fn list() -> Vec<Arc<Module>> {
    let mut v = MODULES.lock().clone();
    v.reverse();
    v
}

/// Runs `f` on the module list for the oops path: waits a bounded time for
/// its lock (another CPU may hold it for a moment), and gives up with `None`
/// if the holder does not let go (it may be the code that faulted).
pub fn try_with_list<R>(f: impl FnOnce(&[Arc<Module>]) -> R) -> Option<R> {
    MODULES.lock_bounded(1_000_000).map(|l| f(&l))
}

/// Names of the modules that import from `m`.
pub fn users_of(m: &Arc<Module>) -> Vec<String> {
    MODULES
        .lock()
        .iter()
        .filter(|u| u.uses.iter().any(|p| Arc::ptr_eq(p, m)))
        .map(|u| u.name.clone())
        .collect()
}

/// Writes a log record built from pieces at a level, as the `log` crate's
/// logger would for the same text ([`set_record_sink`]).
pub type RecordSink = fn(log::Level, &[Piece<'_>]);

static RECORD_SINK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the kernel log's writer of records built from pieces (the log,
/// a room above this one, calls it at init): the lines every load and
/// unload logs then skip the `log` crate's `core::fmt` and the copy of a line
/// built first, as `on_live` lets a room above act on a load.
pub fn set_record_sink(sink: RecordSink) {
    RECORD_SINK.store(sink as *mut (), Ordering::Release);
}

/// Logs `pieces` at `level`: through the installed sink, else through the
/// `log` crate (the same text).
fn record(level: log::Level, pieces: &[Piece<'_>]) {
    let sink = RECORD_SINK.load(Ordering::Acquire);
    match sink.is_null() {
        false => {
            // SAFETY: only ever set from a `RecordSink` in `set_record_sink`.
            let sink: RecordSink = unsafe { core::mem::transmute(sink) };
            sink(level, pieces)
        }
        true => {
            let mut line = kcore::logring::LineBuf::<256>::new();
            line.push_pieces(pieces);
            log::log!(level, "{}", line.as_str());
        }
    }
}

/// Called after a module went LIVE (Linux's `MODULE_STATE_LIVE` notifier).
pub type LiveNotifier = fn(&Arc<Module>);

static LIVE_NOTIFIERS: IrqLock<Vec<LiveNotifier>> = IrqLock::new(Vec::new());

/// Subscribes `f` to modules going live.
pub fn on_live(f: LiveNotifier) {
    LIVE_NOTIFIERS.lock().push(f);
}

fn notify_live(module: &Arc<Module>) {
    // Called without the lock held (a notifier may take others); the list
    // is copied to the stack when it is short (it is one entry, the
    // console's), so a load allocates nothing for it.
    let mut few: [Option<LiveNotifier>; 4] = [None; 4];
    let many = {
        let list = LIVE_NOTIFIERS.lock();
        if list.len() <= few.len() {
            for (slot, f) in few.iter_mut().zip(list.iter()) {
                *slot = Some(*f);
            }
            None
        } else {
            Some(list.clone())
        }
    };
    match many {
        None => few.iter().flatten().for_each(|f| f(module)),
        Some(list) => list.iter().for_each(|f| f(module)),
    }
}
