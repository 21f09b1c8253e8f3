//! Symbols for addresses, in one place: the kernel's own table (`.kallsyms`,
//! filled after linking by the `kallsyms` host tool) and the function symbols
//! of loaded modules. Used by oops reports, backtraces and `ksyms`.

use crate::module::{self, Module};
use alloc::sync::Arc;
use core::fmt::Write;
use kcore::kallsyms::Table;

/// Space reserved in the image for the symbol table; the `kallsyms` host tool
/// fails the build if the table does not fit.
pub const KALLSYMS_RESERVED: usize = 96 * 1024;

#[used]
#[link_section = ".kallsyms"]
static KALLSYMS_SPACE: [u8; KALLSYMS_RESERVED] = [0; KALLSYMS_RESERVED];

/// The kernel's symbol table, if the build filled it in.
pub fn kallsyms() -> Option<Table<'static>> {
    extern "C" {
        static __kallsyms_start: u8;
        static __kallsyms_end: u8;
    }
    // Reading through the linker symbols (not KALLSYMS_SPACE) keeps the
    // compiler from assuming the zeros it was initialized with.
    // SAFETY: the link script brackets .kallsyms (read-only for good) with these.
    let bytes = unsafe {
        let start = &__kallsyms_start as *const u8;
        let end = &__kallsyms_end as *const u8;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    };
    Table::parse(bytes)
}

/// Writes `addr` as `symbol+0xoff/0xsize` (kernel), `symbol+0xoff/0xsize
/// [module]` (a module's text), or the bare address.
pub fn write_symbol(out: &mut dyn Write, addr: u64) {
    if let Some((sym, off)) = kallsyms().and_then(|t| t.lookup(addr)) {
        let _ = write!(out, "{}+{:#x}/{:#x}", sym.name, off, sym.size);
        return;
    }
    if symbolize_module(addr, out) {
        return;
    }
    let _ = write!(out, "{addr:#018x}");
}

/// For oops reports: `symbol+off/size [module]` for an address in a module.
/// Never waits on a lock (the faulting code may hold it).
pub fn symbolize_module(addr: u64, out: &mut dyn Write) -> bool {
    module::try_with_list(|modules| symbolize_in(modules, addr, out)).unwrap_or(false)
}

fn symbolize_in(modules: &[Arc<Module>], addr: u64, out: &mut dyn Write) -> bool {
    for m in modules {
        if addr < m.base || addr >= m.base + m.size as u64 {
            continue;
        }
        match m.function_at(addr) {
            Some((start, size, name)) => {
                let name = kcore::demangle::Demangle(name);
                let _ = write!(out, "{}+{:#x}/{:#x} [{}]", name, addr - start, size, m.name);
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
pub fn module_names(out: &mut dyn Write) {
    let listed = module::try_with_list(|modules| {
        for m in modules {
            let _ = write!(out, " {}", m.name);
        }
    });
    if listed.is_none() {
        let _ = write!(out, " [module list busy]");
    }
}
