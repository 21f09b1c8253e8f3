//! The load path, as Linux's `load_module` reads: one function a step, in
//! order, and one reverse unwind.
//!
//! parse -> check `.modinfo` (ABI version, license, name not loaded) -> plan
//! the layout -> resolve imports (kernel and module exports, each checked
//! against the module's `__versions` CRC; providers referenced) -> allocate
//! memory -> relocate (written through the linear map) -> read the module's own
//! exports and apply its parameters -> map it at its addresses with its final
//! permissions (text RX, rodata R, data RW) -> publish (exports visible,
//! module listed, COMING) -> init. Every step that acquires something
//! records it in the [`Txn`]; returning early drops the transaction, which
//! undoes everything in reverse: a failed load leaves nothing behind (memory,
//! exports, listing, dependency references).

use super::memory::ModuleMemory;
use super::signing;
use super::symtab;
use super::tables;
use super::{ModError, Module, MODULES, MODULE_MUTEX, NEXT_ID};
use crate::arch::{mem, modcall};
use crate::sync::IrqLock;
use crate::taint::Taint;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kabi::{errno, KernelSymbol};
use kcore::refcount::ModuleRef;
use modloader::{Layout, LoadedModule, Object, RegionKind};

/// What a load acquired so far; dropping it undoes all of it, in reverse
/// order of acquisition.
#[derive(Default)]
struct Txn {
    /// Providers referenced (step: resolve).
    deps: Vec<Arc<Module>>,
    /// The module whose image is mapped (step: allocate, once it is owned by
    /// the `Module`).
    image_of: Option<Arc<Module>>,
    /// The module whose exports are visible (step: publish).
    exports_of: Option<Arc<Module>>,
    /// The module in the list (step: publish).
    listed: Option<Arc<Module>>,
}

impl Drop for Txn {
    fn drop(&mut self) {
        if let Some(m) = self.listed.take() {
            MODULES.lock().retain(|x| !Arc::ptr_eq(x, &m));
        }
        if let Some(m) = self.exports_of.take() {
            symtab::remove_module_exports(&m);
        }
        if let Some(m) = self.image_of.take() {
            free_image(&m);
        }
        for d in self.deps.drain(..) {
            d.refs.put();
        }
    }
}

impl Txn {
    /// The load succeeded (or the module is kept as failed): keep everything.
    fn commit(mut self) {
        self.deps.clear();
        self.image_of = None;
        self.exports_of = None;
        self.listed = None;
    }
}

/// Frees the image of a module nothing can reach any more: after a grace
/// period in which no CPU is inside it (a CPU still returning from a call into
/// it finishes first), then unmapped with broadcast TLB invalidation.
pub(super) fn free_image(module: &Module) {
    let start = crate::arch::cpu::counter();
    modcall::wait_until_no_cpu_in(module.text.0);
    let waited = crate::arch::cpu::counter().saturating_sub(start);
    GRACE_WAITS.fetch_add(1, Ordering::Relaxed);
    GRACE_TICKS.fetch_add(waited, Ordering::Relaxed);
    GRACE_MAX_TICKS.fetch_max(waited, Ordering::Relaxed);
    drop(module.mem.lock().take());
}

/// Grace periods waited for (`free_image`), the counter ticks they took in
/// all, and the longest: two counter reads and three relaxed atomics an
/// unload, cheap enough to keep always on; the self-tests read differences.
static GRACE_WAITS: AtomicU64 = AtomicU64::new(0);
static GRACE_TICKS: AtomicU64 = AtomicU64::new(0);
static GRACE_MAX_TICKS: AtomicU64 = AtomicU64::new(0);

/// What the grace periods cost so far: (waits, total ticks, longest ticks).
/// `reset_max` starts a new longest (a self-test measuring its own run).
#[cfg(feature = "selftest")]
pub fn grace_stats(reset_max: bool) -> (u64, u64, u64) {
    let max = if reset_max {
        GRACE_MAX_TICKS.swap(0, Ordering::Relaxed)
    } else {
        GRACE_MAX_TICKS.load(Ordering::Relaxed)
    };
    (
        GRACE_WAITS.load(Ordering::Relaxed),
        GRACE_TICKS.load(Ordering::Relaxed),
        max,
    )
}

fn noexec(name: &str, what: impl core::fmt::Display) -> ModError {
    ModError::new(errno::ENOEXEC, format!("{name}: {what}"))
}

/// Logs a load error as Linux does (dmesg) and returns it.
fn logged(e: ModError) -> ModError {
    log::error!("{}", e.detail);
    e
}

/// The load's steps as `load` runs them, for the per-step cost the
/// self-tests print (`modstress`).
pub const STEPS: [&str; 10] = [
    "signature",
    "parse",
    "modinfo",
    "plan",
    "resolve",
    "allocate",
    "relocate",
    "exports",
    "protect",
    "init",
];

/// Counter ticks spent in each of [`STEPS`] by every load so far (loads that
/// fail stop adding at their failing step).
static STEP_TICKS: [AtomicU64; STEPS.len()] = [const { AtomicU64::new(0) }; STEPS.len()];

/// Counter ticks spent in each load step so far, in [`STEPS`] order.
#[cfg(feature = "selftest")]
pub fn step_ticks() -> [u64; STEPS.len()] {
    core::array::from_fn(|i| STEP_TICKS[i].load(Ordering::Relaxed))
}

/// Charges the time since the last lap to one step: a counter read and a
/// relaxed add per step, cheap enough to keep always on.
struct StepClock(u64);

impl StepClock {
    fn start() -> Self {
        StepClock(crate::arch::cpu::counter())
    }

    fn lap(&mut self, step: usize) {
        let now = crate::arch::cpu::counter();
        STEP_TICKS[step].fetch_add(now.wrapping_sub(self.0), Ordering::Relaxed);
        self.0 = now;
    }
}

/// Loads a module from `bytes`; `file_stem` names it when `.modinfo` has no name.
pub fn load(file_stem: &str, bytes: &[u8], args: &[&str]) -> Result<Arc<Module>, ModError> {
    let _serial = MODULE_MUTEX.lock();
    let mut clock = StepClock::start();
    let checked = signing::check(file_stem, bytes)?;
    clock.lap(0);
    let object = Object::parse(checked.elf).map_err(|e| noexec(file_stem, e))?;
    clock.lap(1);
    let modinfo = read_modinfo(&object);
    let (name, mut taints) = check_modinfo(&modinfo, file_stem)?;
    if checked.unverified.is_some() {
        signing::taint_unsigned(&name);
        taints |= 1 << Taint::UnsignedModule as u32;
    }
    clock.lap(2);
    let layout = plan(&object, &name)?;
    clock.lap(3);
    let mut txn = Txn::default();
    let imports = resolve_imports(&object, &name, &mut txn)?;
    clock.lap(4);
    // The loader writes every byte of the layout (copies or zeroes), so the
    // pages are not zeroed first.
    let mem =
        ModuleMemory::allocate_to_fill(layout.text.size, layout.rodata.size, layout.data.size)
            .map_err(|e| ModError::new(errno::ENOMEM, format!("{name}: {e}")))?;
    // `__this_module` resolves to the Module's address, so the Module exists
    // before relocation; what is known only afterwards is set in `publish`.
    let mut module = Arc::new(new_module(
        modinfo.joined,
        name,
        &mem,
        &txn,
        imports.pinned_by,
    ));
    if let Some(m) = Arc::get_mut(&mut module) {
        m.taints = taints;
        m.signer = checked.signer.map(|v| v.signer);
    }
    // Until `publish`, this is the only handle: dropping it on an early
    // return frees the image (ModuleMemory's Drop).
    *module.mem.lock() = Some(mem);
    clock.lap(5);
    let (loaded, text_stored) = relocate(&object, &layout, &module, &imports.resolved)?;
    clock.lap(6);
    let exports = read_exports(&module, &loaded)?;
    apply_params(&module, &loaded, args)?;
    let text_sections = text_sections(&loaded);
    log_gdb_command(&module.name, &loaded);
    clock.lap(7);
    protect(&module)?;
    clock.lap(8);
    {
        let m = Arc::get_mut(&mut module).ok_or_else(|| {
            ModError::new(errno::EBUSY, format!("{}: module handle shared", file_stem))
        })?;
        m.init = loaded.init;
        m.cleanup = loaded.cleanup;
        m.symtab = object.symbol_table_bytes().into();
        m.text_sections = text_sections;
        m.symbol_names = object.string_table().into();
        m.relocations = loaded.stats.relocation_total();
        m.prelinked = layout.prelinked.unwrap_or(0);
        m.veneers = loaded.stats.veneers;
        m.text_stored = text_stored;
        m.text_planned_end = m.text.0 + layout.text.size;
    }
    // The transaction's clones of the handle are taken only now, after the
    // `Arc::get_mut` above.
    txn.image_of = Some(Arc::clone(&module));
    publish(&module, exports, &mut txn)?;
    let result = run_init(module, txn);
    clock.lap(9);
    result
}

/// What the load reads from `.modinfo`: its `key=value` strings, in order,
/// joined by NULs as the `Module` keeps them, and the first `name=`, `abi=`
/// and `license=` values.
struct Modinfo<'a> {
    joined: String,
    name: Option<&'a str>,
    abi: Option<&'a str>,
    license: Option<&'a str>,
}

/// `kv`'s value if its key is `key`: compared byte by byte (with the target's
/// `+strict-align` a slice `==` is a `memcmp` call), most keys failing at
/// their first byte.
#[inline(always)]
fn value_of<'a>(kv: &'a str, key: &str) -> Option<&'a str> {
    let bytes = kv.as_bytes();
    if bytes.len() > key.len()
        && bytes.iter().zip(key.bytes()).all(|(&a, b)| a == b)
        && bytes[key.len()] == b'='
    {
        kv.get(key.len() + 1..)
    } else {
        None
    }
}

impl<'a> Modinfo<'a> {
    /// Records one non-empty `key=value` string.
    #[inline(always)]
    fn add(&mut self, kv: &'a str) {
        if !self.joined.is_empty() {
            self.joined.push('\0');
        }
        self.joined.push_str(kv);
        let slot = match kv.as_bytes().first() {
            Some(b'n') => value_of(kv, "name").map(|v| (&mut self.name, v)),
            Some(b'a') => value_of(kv, "abi").map(|v| (&mut self.abi, v)),
            Some(b'l') => value_of(kv, "license").map(|v| (&mut self.license, v)),
            _ => None,
        };
        if let Some((slot, value)) = slot {
            slot.get_or_insert(value);
        }
    }
}

/// `.modinfo` read once, in one pass (see [`Modinfo`]): one allocation, the
/// section's size. The strings are those of `Object::modinfo` (non-empty,
/// UTF-8 ones).
fn read_modinfo<'a>(object: &Object<'a>) -> Modinfo<'a> {
    let data: &'a [u8] = object
        .sections()
        .iter()
        .find(|s| s.name == modloader::MODINFO_SECTION)
        .map_or(&[], |s| s.data);
    let mut info = Modinfo {
        joined: String::with_capacity(data.len()),
        name: None,
        abi: None,
        license: None,
    };
    match core::str::from_utf8(data) {
        // The usual case: the whole section is UTF-8, so each string in it
        // is (a NUL never splits a character): one check, and the NULs found
        // by `memchr` (a byte loop and a check a string cost 2.5 k for hello).
        Ok(text) => text
            .split('\0')
            .filter(|kv| !kv.is_empty())
            .for_each(|kv| info.add(kv)),
        Err(_) => object.modinfo().for_each(|kv| info.add(kv)),
    }
    info
}

/// Step: `.modinfo` checks. Returns the module's name and the taint flags it
/// brings.
fn check_modinfo(modinfo: &Modinfo<'_>, file_stem: &str) -> Result<(String, u32), ModError> {
    let Modinfo {
        name, abi, license, ..
    } = *modinfo;
    let name = name.unwrap_or(file_stem).to_string();
    let mut taints = 0;
    match abi {
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
    match license {
        Some(
            "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual MIT/GPL"
            | "Dual BSD/GPL"
            | "Dual MPL/GPL",
        ) => {}
        license => {
            log::warn!(
                "{name}: module license '{}' taints kernel.",
                license.unwrap_or("unspecified")
            );
            crate::taint::add(Taint::ProprietaryModule);
            taints |= 1 << Taint::ProprietaryModule as u32;
        }
    }
    if super::find(&name).is_some() {
        return Err(ModError::new(
            errno::EEXIST,
            format!("{name}: module is already loaded"),
        ));
    }
    Ok((name, taints))
}

/// Step: the layout, exact region sizes before anything is allocated.
fn plan(object: &Object<'_>, name: &str) -> Result<Layout, ModError> {
    Layout::plan_with(
        object,
        modloader::PlanOptions {
            fix_cortex_a53_843419: crate::arch::cpu::has_erratum_843419(),
            // ModuleMemory places the regions consecutively, page by page.
            use_prelink: true,
            ..modloader::PlanOptions::default()
        },
    )
    .map_err(|e| noexec(name, e))
}

/// What import resolution found.
struct Imports<'a> {
    /// (symbol, address), one per undefined symbol the module uses.
    resolved: Vec<(&'a str, u64)>,
    /// The export marked unsafe to unload that the module imports, if any.
    pinned_by: Option<String>,
}

/// Step: every undefined symbol resolved against the kernel and loaded
/// modules, its version checked; each provider module referenced once (in
/// `txn.deps`).
fn resolve_imports<'a>(
    object: &Object<'a>,
    name: &str,
    txn: &mut Txn,
) -> Result<Imports<'a>, ModError> {
    let versions = tables::Versions::of(object);
    let has_versions = versions.present();
    let mut out = Imports {
        resolved: Vec::new(),
        pinned_by: None,
    };
    // Every symbol that is not local is among those the parse checked.
    for (_, sym) in object.eager_symbols() {
        if sym.def != modloader::SymbolDef::Undefined {
            continue;
        }
        let import = object.symbol_name(sym);
        if import.is_empty() || import == modloader::GOT_SYMBOL {
            continue;
        }
        if import == kabi::THIS_MODULE_SYMBOL {
            continue;
        }
        let Some(found) = symtab::resolve(import) else {
            if sym.binding == modloader::Binding::Weak {
                continue;
            }
            log::error!("{name}: Unknown symbol {import} (err -2)");
            return Err(ModError::new(
                errno::ENOENT,
                format!("{name}: Unknown symbol {import}"),
            ));
        };
        match versions.crc_hinted(import.as_bytes(), found.abi_index) {
            Some(crc) if crc == found.crc as u64 => {}
            Some(_) => {
                return Err(logged(ModError::new(
                    errno::EINVAL,
                    format!("{name}: disagrees about version of symbol {import}"),
                )))
            }
            None if has_versions || found.owner.is_none() => {
                return Err(logged(ModError::new(
                    errno::EINVAL,
                    format!("{name}: no symbol version for {import}"),
                )))
            }
            None => {}
        }
        if found.flags & KernelSymbol::UNSAFE_TO_UNLOAD != 0 {
            out.pinned_by = Some(import.to_string());
        }
        if let Some(provider) = found.owner {
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
        out.resolved.push((import, found.addr));
    }
    Ok(out)
}

/// The `Module` for an image just allocated (fields known only after
/// relocation are filled in by `load`).
fn new_module(
    modinfo: String,
    name: String,
    mem: &ModuleMemory,
    txn: &Txn,
    pinned_by: Option<String>,
) -> Module {
    Module {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        name,
        refs: ModuleRef::new(),
        size: mem.size(),
        base: mem.base as u64,
        text: mem.text_bounds(),
        init: None,
        cleanup: None,
        modinfo,
        uses: txn.deps.clone(),
        pinned_by,
        symtab: Default::default(),
        text_sections: Vec::new(),
        symbol_names: Default::default(),
        relocations: 0,
        prelinked: 0,
        veneers: 0,
        text_stored: 0,
        text_planned_end: 0,
        taints: 0,
        signer: None,
        charp_values: IrqLock::new(Vec::new()),
        resources: IrqLock::new(Vec::new()),
        mem: IrqLock::new(None),
    }
}

/// Step: copy, zero and relocate the sections into the module's image.
/// Returns the loaded module and how many 64-byte blocks of text were stored
/// (see [`Module::text_stored`]).
fn relocate<'a>(
    object: &Object<'a>,
    layout: &Layout,
    module: &Arc<Module>,
    resolved: &[(&str, u64)],
) -> Result<(LoadedModule<'a>, usize), ModError> {
    let handle = module.handle() as u64;
    // The loader asks in symbol-table order, the order `resolve_imports`
    // resolved them in, with the same `&str`s: the next entry is the answer,
    // found by address without comparing the name's bytes; a search otherwise.
    let mut next = 0;
    let mut resolver = |sym: &str| -> Option<u64> {
        if let Some(&(n, a)) = resolved.get(next) {
            if core::ptr::eq(n, sym) {
                next += 1;
                return Some(a);
            }
        }
        if sym == kabi::THIS_MODULE_SYMBOL {
            return Some(handle);
        }
        resolved.iter().find(|(n, _)| *n == sym).map(|(_, a)| *a)
    };
    let mut guard = module.mem.lock();
    let mem = guard
        .as_mut()
        .ok_or_else(|| noexec(&module.name, "image gone"))?;
    let (text_base, rodata_base, data_base) = (
        mem.text.base as u64,
        mem.rodata.base as u64,
        mem.data.base as u64,
    );
    let (text, rodata, data) = mem.regions_mut();
    // Text is built in a staging buffer and then stored into its pages only
    // where it changes. The pages are often the ones this module's previous
    // image ran from (the allocators hand back what was freed last): under
    // QEMU, code that did not change keeps its translations and skips the
    // self-modifying-code slow path. Relocating in place instead would first
    // store the file's unrelocated fields (the calls into the kernel and other
    // modules) and then the relocated ones, and QEMU would translate every
    // block around such a field again at every load.
    // The stage holds the planned text only: the loader writes each of its
    // bytes (sections, gaps, veneers), none past it. The rest of the last
    // page was cleared when the image was allocated (`allocate_to_fill`) and
    // is not stored again: a stage of whole pages carried whatever its pages
    // last held into the module's text there, stored it at every load and
    // made QEMU translate the blocks around it again.
    let planned = (layout.text.size as usize).min(text.len());
    let text = &mut text[..planned];
    let mut stage = Stage::new(planned)
        .map_err(|_| ModError::new(errno::ENOMEM, format!("{}: out of memory", module.name)))?;
    let regions = modloader::Regions {
        text: modloader::Region {
            base: text_base,
            bytes: stage.bytes(),
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
    // Plain stores into the stage, sections with a NEON copy.
    let options = modloader::LoadOptions {
        text_copy: mem::copy,
        text_zero: |d| d.fill(0),
    };
    let loaded = object
        .load_with(layout, regions, &mut resolver, &options)
        .map_err(|e| logged(noexec(&module.name, e)))?;
    let stored = mem::copy_changed(text, stage.bytes());
    Ok((loaded, stored))
}

/// Pages where [`relocate`] builds a module's text before storing it: taken
/// unzeroed from the page allocator (the loader writes every byte of the
/// region, as it does into the image's own pages) and returned when dropped,
/// on every path.
struct Stage {
    addr: usize,
    pages: usize,
    len: usize,
}

impl Stage {
    fn new(len: usize) -> Result<Stage, crate::mm::OutOfMemory> {
        let pages = len.div_ceil(crate::mm::PAGE_SIZE).max(1);
        let addr = crate::mm::alloc_pages_unzeroed(pages)?;
        Ok(Stage { addr, pages, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the page allocator gave this stage `pages` pages at `addr`, mapped read-write by the linear map and owned by it alone until drop; `len` fits in them; `&mut self` makes the borrow unique.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.len) }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        crate::mm::free_pages(self.addr, self.pages);
    }
}

/// Step: the module's own exports (`.ksymtab`), read from the relocated image
/// and checked to point inside it: (name, address, CRC).
fn read_exports(
    module: &Module,
    loaded: &LoadedModule<'_>,
) -> Result<Vec<(String, u64, u32)>, ModError> {
    let guard = module.mem.lock();
    let mem = guard
        .as_ref()
        .ok_or_else(|| noexec(&module.name, "image gone"))?;
    let entries = tables::placed_entries::<KernelSymbol>(mem, loaded, ".ksymtab");
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let name = tables::image_str(mem, e.name as u64, e.name_len)
            .filter(|_| e.name_len <= 128 && mem.contains_range(e.addr as u64, 1))
            .ok_or_else(|| noexec(&module.name, "malformed .ksymtab entry"))?;
        out.push((name.to_string(), e.addr as u64, e.crc));
    }
    Ok(out)
}

/// Step: `insmod` arguments checked against the module's `__param` table and
/// written into its data before init.
fn apply_params(module: &Module, loaded: &LoadedModule<'_>, args: &[&str]) -> Result<(), ModError> {
    let name = &module.name;
    let mut guard = module.mem.lock();
    let mem = guard.as_mut().ok_or_else(|| noexec(name, "image gone"))?;
    let params = tables::params(mem, loaded).map_err(|what| noexec(name, what))?;
    if args.is_empty() {
        // Nothing to assign (the table is checked above all the same).
        return Ok(());
    }
    let declared: Vec<_> = params.iter().map(|p| p.declared()).collect();
    let assignments = kcore::modparams::parse(&declared, args)
        .map_err(|e| logged(ModError::new(errno::EINVAL, format!("{name}: {e}"))))?;
    let mut kept = Vec::new();
    for a in &assignments {
        let dest = params[a.index].ptr;
        let mut kept_at = 0;
        if a.by_reference {
            // `charp`: the module gets a pointer to the kernel's own copy.
            let copy = a.bytes.clone().into_boxed_slice();
            kept_at = copy.as_ptr() as u64;
            kept.push(copy);
        }
        let value = a.value_for(kept_at);
        // The table reader checked `dest..dest+size` inside the image, and
        // the parser never returns more than `size` bytes for any kind.
        let bytes = mem
            .image_bytes_mut(dest, value.len())
            .filter(|_| value.len() <= params[a.index].size)
            .ok_or_else(|| noexec(name, "malformed __param entry"))?;
        bytes.copy_from_slice(&value);
    }
    *module.charp_values.lock() = kept;
    Ok(())
}

/// The placed text sections, (section index, address, size), for
/// [`Module::function_at`].
fn text_sections(loaded: &LoadedModule<'_>) -> Vec<(usize, u64, u64)> {
    loaded
        .sections
        .iter()
        .filter(|p| p.region == RegionKind::Text)
        .map(|p| (p.index, p.address, p.size))
        .collect()
}

/// For `make debug`: the gdb command that loads this module's symbols where
/// it was placed (the .ko.debug file has the same section names), as a debug
/// record (`dmesg`):
/// `NAME: gdb: add-symbol-file build/modules/NAME.ko.debug -s .text ADDR ...`.
/// Built as a list of pieces for the log ring (`super::record`), not through
/// `core::fmt` and the `log` crate: every load pays for it.
fn log_gdb_command(name: &str, loaded: &LoadedModule<'_>) {
    use kcore::logring::Piece;
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let mut pieces = [Piece::Str(""); 4 + 4 * 2];
    pieces[..4].copy_from_slice(&[
        Piece::Str(name),
        Piece::Str(": gdb: add-symbol-file build/modules/"),
        Piece::Str(name),
        Piece::Str(".ko.debug"),
    ]);
    let mut n = 4;
    for (sect, option) in [
        (".text", " -s .text "),
        (".rodata", " -s .rodata "),
        (".data", " -s .data "),
        (".bss", " -s .bss "),
    ] {
        if let Some(p) = loaded.sections.iter().find(|p| p.name == sect) {
            pieces[n..n + 2].copy_from_slice(&[Piece::Str(option), Piece::Hex(p.address, 0)]);
            n += 2;
        }
    }
    super::record(log::Level::Debug, &pieces[..n]);
}

/// Step: the image mapped at its run-time addresses with its final
/// permissions, and the text made visible to instruction fetch.
fn protect(module: &Module) -> Result<(), ModError> {
    let mut guard = module.mem.lock();
    let mem = guard
        .as_mut()
        .ok_or_else(|| noexec(&module.name, "image gone"))?;
    mem.map_final()
        .map_err(|e| ModError::new(errno::ENOMEM, format!("{}: {e}", module.name)))
}

/// Step: exports visible, module listed (COMING: no references yet).
fn publish(
    module: &Arc<Module>,
    exports: Vec<(String, u64, u32)>,
    txn: &mut Txn,
) -> Result<(), ModError> {
    symtab::add_module_exports(module, exports).map_err(|dup| {
        logged(ModError::new(
            errno::ENOEXEC,
            format!("{}: exports duplicate symbol {dup}", module.name),
        ))
    })?;
    txn.exports_of = Some(Arc::clone(module));
    MODULES.lock().push(Arc::clone(module));
    txn.listed = Some(Arc::clone(module));
    Ok(())
}

/// Step: init. On success the module goes LIVE; on failure everything is
/// undone, unless init left something registered: then the module stays,
/// FAILED, since objects still point into it.
fn run_init(module: Arc<Module>, txn: Txn) -> Result<Arc<Module>, ModError> {
    let result = match module.init {
        None => Ok(0),
        // SAFETY: `init` is the relocated address of `init_module`, in the text just made executable; it takes no arguments.
        Some(f) => unsafe { modcall::call_guarded(f as usize, 0, 0, module.text) }
            .map(|r| r as u32 as i32 as i64),
    };
    let (err, what) = match result {
        Ok(0) => {
            module.refs.set_live();
            txn.commit();
            super::notify_live(&module);
            log_loaded(&module);
            return Ok(module);
        }
        Err(modcall::Fault) => (errno::EFAULT, "faulted".to_string()),
        Ok(r) => ((r as i32).abs(), format!("returned {r}")),
    };
    let name = module.name.clone();
    let leftovers = module.resources();
    if !leftovers.is_empty() {
        module.refs.set_failed();
        txn.commit();
        log::error!(
            "{name}: init {what} but left registered: {}; module kept as [failed]",
            super::unload::describe(&leftovers)
        );
    } else if err == errno::EFAULT {
        log::error!("{name}: init faulted; module unloaded");
        drop(txn);
    } else {
        log::warn!("{name}: init {what}");
        drop(txn);
    }
    Err(ModError::new(err, format!("{name}: init {what}")))
}

/// `NAME: loaded at ADDR (SIZE bytes, N relocations[, N prelinked], N
/// veneers)`, at info level: built as the gdb record is
/// (`log_gdb_command`), since every load logs it.
fn log_loaded(module: &Module) {
    use kcore::logring::Piece;
    let (prelinked, prelinked_text) = match module.prelinked {
        0 => (Piece::Str(""), Piece::Str("")),
        n => (Piece::Dec(n, 0, b' '), Piece::Str(" prelinked, ")),
    };
    super::record(
        log::Level::Info,
        &[
            Piece::Str(&module.name),
            Piece::Str(": loaded at "),
            Piece::Hex(module.base, 0),
            Piece::Str(" ("),
            Piece::Dec(module.size as u64, 0, b' '),
            Piece::Str(" bytes, "),
            Piece::Dec(module.relocations, 0, b' '),
            Piece::Str(" relocations, "),
            prelinked,
            prelinked_text,
            Piece::Dec(module.veneers as u64, 0, b' '),
            Piece::Str(" veneers)"),
        ],
    );
}
