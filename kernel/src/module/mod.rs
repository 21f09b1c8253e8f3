//! Loadable modules: load, unload, and the rules that make unloading safe.
//!
//! Loading reads top to bottom as Linux's `load_module` does: parse, check
//! (`.modinfo` ABI version, name not loaded), plan the layout, resolve imports
//! (kernel and module exports, each checked against the module's `__versions`
//! CRC), allocate and map memory, relocate, read the module's own exports and
//! parameters, protect (text RX, rodata R, data RW), then run init. Every step
//! that acquires something records it in a [`Txn`]; any failure drops the
//! transaction, which undoes them all in reverse: a failed load leaves nothing
//! (memory, exports, dependency references) behind.
//!
//! Unloading (`rmmod`) refuses while the module's count is not zero (its objects
//! in use plus the modules that depend on it) and says who holds it; otherwise
//! the module goes GOING (no new references), exit runs and may refuse (the
//! module returns to LIVE), and afterwards the kernel checks that the module
//! left no object registered. Only then is its memory freed. A fault or panic in
//! init or exit is caught ([`crate::arch::modcall`]); the module is marked
//! FAILED and is never freed while any object of it may still be reached.
//!
//! Load and unload are serialized by one mutex (Linux's `module_mutex`); the
//! module list itself is behind an `IrqLock` so the oops path can read it.

pub mod memory;
pub mod symbols;

use crate::arch::modcall;
use crate::object;
use crate::sync::IrqLock;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use kabi::{errno, KernelSymbol, ParamDesc, KERNEL_SYMBOL_SIZE, MOD_VERSION_SIZE, PARAM_DESC_SIZE};
use kcore::modparams;
use kcore::refcount::{ModuleRef, State};
use memory::ModuleMemory;
use modloader::{Layout, Object, RegionKind};

/// A loaded (or loading, or failed) module.
pub struct Module {
    pub id: u32,
    pub name: String,
    pub refs: ModuleRef,
    pub size: usize,
    pub base: u64,
    pub text: (u64, u64),
    pub init: Option<u64>,
    pub cleanup: Option<u64>,
    pub modinfo: Vec<String>,
    /// Providers this module imports from (each holds one reference).
    pub uses: Vec<Arc<Module>>,
    /// The export that pins it, if it imports one marked unsafe to unload.
    pub pinned_by: Option<String>,
    /// Function symbols (address, size, mangled name), sorted, for oops
    /// backtraces; demangled only when printed (no allocation then).
    pub symbols: Vec<(u64, u64, String)>,
    pub relocations: u64,
    pub veneers: usize,
    mem: IrqLock<Option<ModuleMemory>>,
}

impl Module {
    pub fn state(&self) -> State {
        self.refs.state()
    }

    /// The `ThisModule` handle given to this module's code.
    pub fn handle(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

static MODULES: IrqLock<Vec<Arc<Module>>> = IrqLock::new(Vec::new());
static MODULE_MUTEX: spin::Mutex<()> = spin::Mutex::new(());
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
pub fn strerror(errno: i32) -> &'static str {
    match errno.abs() {
        errno::EPERM => "Operation not permitted",
        errno::ENOENT => "Unknown symbol in module",
        errno::EIO => "Input/output error",
        errno::ENOEXEC => "Invalid module format",
        errno::EAGAIN => "Resource temporarily unavailable",
        errno::ENOMEM => "Cannot allocate memory",
        errno::EFAULT => "Bad address",
        errno::EBUSY => "Device or resource busy",
        errno::EEXIST => "File exists",
        errno::ENODEV => "No such device",
        errno::EINVAL => "Invalid parameters",
        errno::ENOSPC => "No space left on device",
        errno::ETIMEDOUT => "Connection timed out",
        _ => "Unknown error",
    }
}

/// Finds a loaded module by name.
pub fn find(name: &str) -> Option<Arc<Module>> {
    MODULES.lock().iter().find(|m| m.name == name).cloned()
}

/// The module whose handle is `ptr` (the `owner` argument of kernel exports).
pub fn from_handle(ptr: usize) -> Option<Arc<Module>> {
    MODULES.lock().iter().find(|m| m.handle() == ptr).cloned()
}

/// Marks module `id` FAILED (its IRQ handler or timer faulted).
pub fn mark_failed(id: u32) {
    if let Some(m) = MODULES
        .try_lock()
        .and_then(|l| l.iter().find(|m| m.id == id).cloned())
    {
        m.refs.set_failed();
    }
}

/// All modules, most recently loaded first (as `lsmod` lists them).
pub fn list() -> Vec<Arc<Module>> {
    let mut v = MODULES.lock().clone();
    v.reverse();
    v
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

/// For oops reports: `symbol+off/size [module]` for an address in a module.
/// Never waits on a lock (the faulting code may hold it).
pub fn symbolize(addr: u64, out: &mut dyn Write) -> bool {
    let Some(modules) = MODULES.try_lock() else {
        return false;
    };
    for m in modules.iter() {
        if addr < m.base || addr >= m.base + m.size as u64 {
            continue;
        }
        let i = m.symbols.partition_point(|s| s.0 <= addr);
        match i.checked_sub(1).map(|i| &m.symbols[i]) {
            Some((start, size, name)) if addr < start + (*size).max(1) => {
                let name = rustc_demangle::demangle(name);
                let _ = write!(
                    out,
                    "{:#}+{:#x}/{:#x} [{}]",
                    name,
                    addr - start,
                    size,
                    m.name
                );
            }
            _ => {
                let _ = write!(out, "[{}+{:#x}/{:#x}]", m.name, addr - m.base, m.size);
            }
        }
        return true;
    }
    false
}

/// Names of loaded modules, for "Modules linked in:".
pub fn names_for_oops(out: &mut dyn Write) {
    if let Some(modules) = MODULES.try_lock() {
        for m in modules.iter() {
            let _ = write!(out, " {}", m.name);
        }
    }
}

/// What a load acquired so far; dropping it undoes all of it, in reverse.
struct Txn {
    deps: Vec<Arc<Module>>,
    exports_of: Option<Arc<Module>>,
    listed: Option<Arc<Module>>,
}

impl Drop for Txn {
    fn drop(&mut self) {
        if let Some(m) = self.listed.take() {
            MODULES.lock().retain(|x| !Arc::ptr_eq(x, &m));
        }
        if let Some(m) = self.exports_of.take() {
            symbols::remove_module_exports(&m);
        }
        for d in self.deps.drain(..) {
            d.refs.put();
        }
    }
}

impl Txn {
    fn commit(mut self) {
        self.deps.clear();
        self.exports_of = None;
        self.listed = None;
    }
}

fn noexec(name: &str, what: impl core::fmt::Display) -> ModError {
    ModError::new(errno::ENOEXEC, format!("{name}: {what}"))
}

/// Parses the `__versions` section: `(name, crc)` pairs.
fn versions<'a>(object: &Object<'a>) -> Vec<(&'a [u8], u64)> {
    let mut out = Vec::new();
    for s in object.sections().iter().filter(|s| s.name == "__versions") {
        for chunk in s.data.chunks_exact(MOD_VERSION_SIZE) {
            let crc = u64::from_le_bytes(chunk[..8].try_into().unwrap_or([0; 8]));
            let name = &chunk[8..];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.push((&name[..len], crc));
        }
    }
    out
}

/// Loads a module from `bytes`; `file_stem` names it when `.modinfo` has no name.
pub fn load(file_stem: &str, bytes: &[u8], args: &[&str]) -> Result<Arc<Module>, ModError> {
    let _serial = MODULE_MUTEX.lock();
    // 1. Parse and check.
    let object = Object::parse(bytes).map_err(|e| noexec(file_stem, e))?;
    let name = object.modinfo_get("name").unwrap_or(file_stem).to_string();
    match object.modinfo_get("abi") {
        Some(v) if v.parse::<u32>() == Ok(kabi::ABI_VERSION) => {}
        Some(v) => {
            return Err(noexec(
                &name,
                format_args!(
                    "module ABI version {v}, kernel ABI version {}",
                    kabi::ABI_VERSION
                ),
            ))
        }
        None => {
            return Err(noexec(
                &name,
                format_args!(
                    "no abi= in .modinfo (not built against kabi; kernel ABI version {})",
                    kabi::ABI_VERSION
                ),
            ))
        }
    }
    match object.modinfo_get("license") {
        Some(
            "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual MIT/GPL"
            | "Dual BSD/GPL"
            | "Dual MPL/GPL",
        ) => {}
        Some(other) => log::warn!("{name}: module license '{other}' taints kernel."),
        None => log::warn!("{name}: module license 'unspecified' taints kernel."),
    }
    if find(&name).is_some() {
        return Err(ModError::new(
            errno::EEXIST,
            format!("{name}: module is already loaded"),
        ));
    }
    // 2. Lay out.
    let layout = Layout::plan_with(
        &object,
        modloader::PlanOptions {
            fix_cortex_a53_843419: crate::arch::cpu::has_erratum_843419(),
            ..modloader::PlanOptions::default()
        },
    )
    .map_err(|e| noexec(&name, e))?;

    // 3. Resolve imports against the kernel and loaded modules, checking versions.
    let mut txn = Txn {
        deps: Vec::new(),
        exports_of: None,
        listed: None,
    };
    let vers = versions(&object);
    let has_versions = object.sections().iter().any(|s| s.name == "__versions");
    let mut resolved: Vec<(&str, u64)> = Vec::new();
    let mut pinned_by = None;
    let weak: Vec<&str> = object
        .symbols()
        .iter()
        .filter(|s| {
            s.def == modloader::SymbolDef::Undefined && s.binding == modloader::Binding::Weak
        })
        .map(|s| s.name)
        .collect();
    for import in object.undefined_symbols() {
        if import == kabi::THIS_MODULE_SYMBOL {
            continue;
        }
        let Some(sym) = symbols::resolve(import) else {
            if weak.contains(&import) {
                continue;
            }
            log::error!("{name}: Unknown symbol {import} (err -2)");
            return Err(ModError::new(
                errno::ENOENT,
                format!("{name}: Unknown symbol {import}"),
            ));
        };
        match vers.iter().find(|(n, _)| *n == import.as_bytes()) {
            Some((_, crc)) if *crc == sym.crc as u64 => {}
            Some(_) => {
                log::error!("{name}: disagrees about version of symbol {import}");
                return Err(ModError::new(
                    errno::EINVAL,
                    format!("{name}: disagrees about version of symbol {import}"),
                ));
            }
            None if has_versions || sym.owner.is_none() => {
                log::error!("{name}: no symbol version for {import}");
                return Err(ModError::new(
                    errno::EINVAL,
                    format!("{name}: no symbol version for {import}"),
                ));
            }
            None => {}
        }
        if sym.flags & KernelSymbol::UNSAFE_TO_UNLOAD != 0 {
            pinned_by = Some(import.to_string());
        }
        if let Some(provider) = sym.owner {
            if !txn.deps.iter().any(|d| Arc::ptr_eq(d, &provider)) {
                if !provider.refs.try_get() {
                    return Err(ModError::new(
                        errno::EBUSY,
                        format!(
                            "{name}: {} (provider of {import}) is not live",
                            provider.name
                        ),
                    ));
                }
                txn.deps.push(provider);
            }
        }
        resolved.push((import, sym.addr));
    }

    // 4. Memory: reserved and mapped read-write.
    let mut mem = ModuleMemory::allocate(layout.text.size, layout.rodata.size, layout.data.size)
        .map_err(|e| ModError::new(errno::ENOMEM, format!("{name}: {e}")))?;
    let (text_base, rodata_base, data_base) =
        (mem.text.0 as u64, mem.rodata.0 as u64, mem.data.0 as u64);

    // The module's handle must exist before relocation (`__this_module`), so the
    // Module is built now, with its image known, and listed only after relocation.
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let module = Module {
        id,
        name: name.clone(),
        refs: ModuleRef::new(),
        size: mem.size(),
        base: mem.base as u64,
        text: mem.text_range(),
        init: None,
        cleanup: None,
        modinfo: object.modinfo().map(|s| s.to_string()).collect(),
        uses: txn.deps.clone(),
        pinned_by,
        symbols: Vec::new(),
        relocations: 0,
        veneers: 0,
        mem: IrqLock::new(None),
    };
    // `__this_module` resolves to the Arc's address, so the Arc exists before
    // relocation; fields known only afterwards are set while we are its sole owner.
    let handle_box = Arc::new(module);
    let mut handle = handle_box;
    let handle_addr = Arc::as_ptr(&handle) as u64;
    let mut resolver = |sym: &str| -> Option<u64> {
        if sym == kabi::THIS_MODULE_SYMBOL {
            return Some(handle_addr);
        }
        resolved.iter().find(|(n, _)| *n == sym).map(|(_, a)| *a)
    };
    let loaded = {
        let (text, rodata, data) = mem.regions_mut();
        let regions = modloader::Regions {
            text: modloader::Region {
                base: text_base,
                bytes: text,
            },
            rodata: modloader::Region {
                base: rodata_base,
                bytes: rodata,
            },
            data: modloader::Region {
                base: data_base,
                bytes: data,
            },
        };
        object.load(&layout, regions, &mut resolver).map_err(|e| {
            log::error!("{name}: {e}");
            noexec(&name, e)
        })?
    };

    // 6. The module's own exports (`.ksymtab`) and parameters (`__param`), read
    // from the relocated image and checked to point inside it.
    let in_image = |addr: u64, len: u64| {
        mem.contains(addr) && len <= mem.size() as u64 && mem.contains(addr + len.saturating_sub(1))
    };
    let mut exports = Vec::new();
    for p in loaded.sections.iter().filter(|p| p.name == ".ksymtab") {
        for i in 0..(p.size as usize / KERNEL_SYMBOL_SIZE) {
            // SAFETY: the section lies inside the mapped image (the loader placed
            // it there) and is aligned for KernelSymbol (its sh_addralign).
            let e = unsafe {
                core::ptr::read_unaligned(
                    (p.address as usize + i * KERNEL_SYMBOL_SIZE) as *const KernelSymbol,
                )
            };
            if !in_image(e.name as u64, e.name_len as u64)
                || e.name_len > 128
                || !in_image(e.addr as u64, 1)
            {
                return Err(noexec(&name, "malformed .ksymtab entry"));
            }
            // SAFETY: checked to lie inside the image just above.
            let bytes = unsafe { core::slice::from_raw_parts(e.name, e.name_len) };
            let sym = core::str::from_utf8(bytes)
                .map_err(|_| noexec(&name, "export name is not UTF-8"))?;
            exports.push((sym.to_string(), e.addr as u64, e.crc));
        }
    }
    let mut params: Vec<(modparams::Declared<'_>, usize)> = Vec::new();
    let mut param_names: Vec<String> = Vec::new();
    for p in loaded.sections.iter().filter(|p| p.name == "__param") {
        for i in 0..(p.size as usize / PARAM_DESC_SIZE) {
            // SAFETY: as for .ksymtab.
            let d = unsafe {
                core::ptr::read_unaligned(
                    (p.address as usize + i * PARAM_DESC_SIZE) as *const ParamDesc,
                )
            };
            let kind = d.kind;
            let kind = match kind {
                0 => modparams::Kind::Int,
                1 => modparams::Kind::Bool,
                2 => modparams::Kind::Str,
                _ => return Err(noexec(&name, "unknown parameter type")),
            };
            if !in_image(d.name as u64, d.name_len as u64)
                || !in_image(d.ptr as u64, d.size as u64)
                || d.size == 0
            {
                return Err(noexec(&name, "malformed __param entry"));
            }
            // SAFETY: checked inside the image.
            let pname = unsafe { core::slice::from_raw_parts(d.name, d.name_len) };
            param_names.push(String::from_utf8_lossy(pname).into_owned());
            params.push((
                modparams::Declared {
                    name: "",
                    kind,
                    size: d.size,
                },
                d.ptr as usize,
            ));
        }
    }
    let declared: Vec<modparams::Declared<'_>> = params
        .iter()
        .zip(param_names.iter())
        .map(|((d, _), n)| modparams::Declared {
            name: n.as_str(),
            kind: d.kind,
            size: d.size,
        })
        .collect();
    let assignments = modparams::parse(&declared, args).map_err(|e| {
        log::error!("{name}: {e}");
        ModError::new(errno::EINVAL, format!("{name}: {e}"))
    })?;
    for a in &assignments {
        let dest = params[a.index].1;
        // SAFETY: `dest..dest+size` was checked to lie in the image, which is
        // still mapped read-write; the assignment is at most `size` bytes.
        unsafe { core::ptr::copy_nonoverlapping(a.bytes.as_ptr(), dest as *mut u8, a.bytes.len()) };
    }

    // Symbols for backtraces: every function defined in a placed text section.
    let mut text_base_of = alloc::vec![None; object.sections().len() + 1];
    for p in loaded
        .sections
        .iter()
        .filter(|p| p.region == RegionKind::Text)
    {
        if let Some(slot) = text_base_of.get_mut(p.index) {
            *slot = Some(p.address);
        }
    }
    let mut syms = Vec::new();
    for s in object.symbols() {
        if let (modloader::SymbolDef::Section(idx), 2) = (s.def, s.sym_type) {
            if let Some(Some(base)) = text_base_of.get(idx) {
                syms.push((base + s.value, s.size, s.name.to_string()));
            }
        }
    }
    syms.sort_unstable_by_key(|s| s.0);
    // For `make debug`: the gdb command that loads this module's symbols where
    // it was placed (the .ko.debug file has the same section names).
    let mut gdb = format!("{name}: gdb: add-symbol-file build/modules/{name}.ko.debug");
    for sect in [".text", ".rodata", ".data", ".bss"] {
        if let Some(p) = loaded.sections.iter().find(|p| p.name == sect) {
            let _ = write!(gdb, " -s {sect} {:#x}", p.address);
        }
    }
    log::debug!("{gdb}");

    // 7. Final permissions.
    mem.protect()
        .map_err(|e| ModError::new(errno::ENOMEM, format!("{name}: {e}")))?;

    {
        let m = Arc::get_mut(&mut handle).expect("only owner before listing");
        m.init = loaded.init;
        m.cleanup = loaded.cleanup;
        m.symbols = syms;
        m.relocations = loaded.stats.relocation_total();
        m.veneers = loaded.stats.veneers;
        *m.mem.lock() = Some(mem);
    }
    let module = handle;

    // 8. Exports visible, module listed (COMING: no references yet).
    symbols::add_module_exports(&module, &exports).map_err(|dup| {
        log::error!("{name}: exports duplicate symbol {dup}");
        ModError::new(
            errno::ENOEXEC,
            format!("{name}: exports duplicate symbol {dup}"),
        )
    })?;
    txn.exports_of = Some(Arc::clone(&module));
    MODULES.lock().push(Arc::clone(&module));
    txn.listed = Some(Arc::clone(&module));

    // 9. init.
    let result = match module.init {
        None => Ok(0),
        // SAFETY: `init` is the relocated address of `init_module`, in the text
        // just made executable; it takes no arguments.
        Some(f) => unsafe { modcall::call_guarded(f as usize, 0, 0, module.text) }
            .map(|r| r as u32 as i32 as i64),
    };
    let leftovers = object::owned_by(&module);
    match result {
        Ok(0) => {
            module.refs.set_live();
            txn.commit();
            crate::console::module_live(&module);
            log::info!(
                "{name}: loaded at {:#x} ({} bytes, {} relocations, {} veneers)",
                module.base,
                module.size,
                module.relocations,
                module.veneers
            );
            Ok(module)
        }
        outcome => {
            let (err, what) = match outcome {
                Err(modcall::Fault) => (errno::EFAULT, "faulted".to_string()),
                Ok(r) => ((r as i32).abs(), format!("returned {r}")),
            };
            if !leftovers.is_empty() {
                // Objects still point into the module: it cannot be freed.
                module.refs.set_failed();
                txn.commit();
                log::error!(
                    "{name}: init {what} but left registered: {}; module kept as [failed]",
                    describe(&leftovers)
                );
            } else if err == errno::EFAULT {
                log::error!("{name}: init faulted; module unloaded");
                drop(txn);
                free_image(&module);
            } else {
                log::warn!("{name}: init {what}");
                drop(txn);
                free_image(&module);
            }
            Err(ModError::new(err, format!("{name}: init {what}")))
        }
    }
}

fn describe(objs: &[Arc<object::KObject>]) -> String {
    let mut s = String::new();
    for (i, o) in objs.iter().enumerate() {
        let _ = write!(
            s,
            "{}{} ({})",
            if i == 0 { "" } else { ", " },
            o.name,
            o.kind.label()
        );
    }
    s
}

/// Frees the image of a module nothing can reach any more.
fn free_image(module: &Arc<Module>) {
    drop(module.mem.lock().take());
}

/// What `rmmod` reports when it refuses.
pub fn holders(module: &Arc<Module>) -> String {
    let mut parts = users_of(module);
    for o in object::owned_by(module) {
        let n = o.users.count();
        if n > 0 {
            parts.push(format!("{} ({} open)", o.name, n));
        }
    }
    parts.join(", ")
}

/// Unloads `name`. `force` frees a module with no exit function, or a failed
/// one that left nothing registered; it never frees code anything can reach.
pub fn unload(name: &str, force: bool) -> Result<(), ModError> {
    let _serial = MODULE_MUTEX.lock();
    let module = find(name).ok_or_else(|| {
        ModError::new(
            errno::ENOENT,
            format!("Module {name} is not currently loaded"),
        )
    })?;
    if let Some(sym) = &module.pinned_by {
        return Err(ModError::new(
            errno::EBUSY,
            format!("Module {name} is pinned: it uses {sym}, which cannot be undone"),
        ));
    }
    if module.state() == State::Failed {
        let left = object::owned_by(&module);
        if !left.is_empty() {
            return Err(ModError::new(
                errno::EBUSY,
                format!(
                    "Module {name} failed and still has registered objects: {}; it cannot be freed",
                    describe(&left)
                ),
            ));
        }
        if !force {
            return Err(ModError::new(
                errno::EBUSY,
                format!("Module {name} failed; use rmmod -f to free it"),
            ));
        }
        finish_unload(&module);
        return Ok(());
    }
    if module.cleanup.is_none() && !force {
        return Err(ModError::new(
            errno::EBUSY,
            format!("Module {name} has no exit function; use rmmod -f"),
        ));
    }
    if module.refs.try_begin_unload().is_err() {
        return Err(ModError::new(
            errno::EBUSY,
            format!("Module {name} is in use by: {}", holders(&module)),
        ));
    }
    // GOING: no new references. Run exit.
    if let Some(f) = module.cleanup {
        // SAFETY: `cleanup_module`'s relocated address in live module text.
        match unsafe { modcall::call_guarded(f as usize, 0, 0, module.text) } {
            Err(modcall::Fault) => {
                module.refs.set_failed();
                return Err(ModError::new(
                    errno::EFAULT,
                    format!("{name}: exit faulted; module kept as [failed]"),
                ));
            }
            Ok(r) if r as u32 as i32 != 0 => {
                let e = (r as u32 as i32).abs();
                module.refs.abort_unload();
                return Err(ModError::new(
                    e,
                    format!("could not remove '{name}': {}", strerror(e)),
                ));
            }
            Ok(_) => {}
        }
    }
    let left = object::owned_by(&module);
    if !left.is_empty() {
        module.refs.set_failed();
        symbols::remove_module_exports(&module);
        log::error!(
            "{name}: exit left registered: {}; not freeing the module",
            describe(&left)
        );
        return Err(ModError::new(
            errno::EBUSY,
            format!(
                "Module {name} left objects registered after exit: {}; not freeing it",
                describe(&left)
            ),
        ));
    }
    finish_unload(&module);
    Ok(())
}

fn finish_unload(module: &Arc<Module>) {
    symbols::remove_module_exports(module);
    MODULES.lock().retain(|m| !Arc::ptr_eq(m, module));
    for p in &module.uses {
        p.refs.put();
    }
    free_image(module);
    log::info!("{}: unloaded", module.name);
}

impl ModuleMemory {
    /// The three regions' bytes at once (they are disjoint).
    pub fn regions_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (t, r, d) = (self.text, self.rodata, self.data);
        let all = self.bytes_mut((t.0, t.1 + r.1 + d.1));
        let (text, rest) = all.split_at_mut(t.1);
        let (rodata, data) = rest.split_at_mut(r.1);
        (text, rodata, data)
    }
}
