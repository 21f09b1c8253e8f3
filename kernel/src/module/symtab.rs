//! Symbols modules link against: the kernel's export table and the exports of
//! loaded modules.
//!
//! The kernel's table is the `.ksymtab` section the link script collects
//! (`kabi::KernelSymbol` entries made by `exports::export!`). It is sorted by name
//! once, on the first load, so boot pays nothing; lookups are binary searches.
//! Module exports live in a map from name to (address, CRC, owner); a module
//! that imports one holds a reference on its owner.

use super::Module;
use crate::sync::IrqLock;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kabi::KernelSymbol;

/// A symbol a module may import.
#[derive(Clone)]
pub struct Resolved {
    pub addr: u64,
    pub crc: u32,
    pub flags: u32,
    /// `None` for the kernel.
    pub owner: Option<Arc<Module>>,
}

struct KernelExport {
    name: &'static str,
    addr: u64,
    crc: u32,
    flags: u32,
}

static KERNEL: spin::Once<Vec<KernelExport>> = spin::Once::new();
static MODULE_EXPORTS: IrqLock<BTreeMap<String, Resolved>> = IrqLock::new(BTreeMap::new());

fn kernel_table() -> &'static [KernelExport] {
    KERNEL.call_once(|| {
        extern "C" {
            static __ksymtab_start: KernelSymbol;
            static __ksymtab_end: KernelSymbol;
        }
        // SAFETY: the link script brackets `.ksymtab`, which holds only `KernelSymbol` entries (exports::export!), aligned and immutable.
        let entries = unsafe {
            let start = core::ptr::addr_of!(__ksymtab_start);
            let end = core::ptr::addr_of!(__ksymtab_end);
            core::slice::from_raw_parts(start, end.offset_from(start) as usize)
        };
        let mut table: Vec<KernelExport> = entries
            .iter()
            .filter_map(|e| {
                // SAFETY: kernel entries point at 'static string literals.
                let bytes = unsafe { core::slice::from_raw_parts(e.name, e.name_len) };
                Some(KernelExport {
                    name: core::str::from_utf8(bytes).ok()?,
                    addr: e.addr as u64,
                    crc: e.crc,
                    flags: e.flags,
                })
            })
            .collect();
        table.sort_unstable_by_key(|e| e.name);
        table
    })
}

/// Looks a symbol up in the kernel, then in loaded modules.
pub fn resolve(name: &str) -> Option<Resolved> {
    let table = kernel_table();
    if let Ok(i) = table.binary_search_by_key(&name, |e| e.name) {
        let e = &table[i];
        return Some(Resolved {
            addr: e.addr,
            crc: e.crc,
            flags: e.flags,
            owner: None,
        });
    }
    MODULE_EXPORTS.lock().get(name).cloned()
}

/// Registers a module's exports; fails (registering none) on a name that is
/// already exported, returning it.
pub fn add_module_exports(
    owner: &Arc<Module>,
    exports: &[(String, u64, u32)],
) -> Result<(), String> {
    let table = kernel_table();
    let mut map = MODULE_EXPORTS.lock();
    for (name, _, _) in exports {
        if map.contains_key(name)
            || table
                .binary_search_by_key(&name.as_str(), |e| e.name)
                .is_ok()
        {
            return Err(name.clone());
        }
    }
    for (name, addr, crc) in exports {
        map.insert(
            name.clone(),
            Resolved {
                addr: *addr,
                crc: *crc,
                flags: 0,
                owner: Some(Arc::clone(owner)),
            },
        );
    }
    Ok(())
}

/// Removes every export of `owner`.
pub fn remove_module_exports(owner: &Arc<Module>) {
    MODULE_EXPORTS
        .lock()
        .retain(|_, r| !r.owner.as_ref().is_some_and(|o| Arc::ptr_eq(o, owner)));
}

/// Every exported symbol, kernel first: (name, address, crc, owner name).
pub fn list(mut f: impl FnMut(&str, u64, u32, Option<&str>, u32)) {
    for e in kernel_table() {
        f(e.name, e.addr, e.crc, None, e.flags);
    }
    for (name, r) in MODULE_EXPORTS.lock().iter() {
        f(
            name,
            r.addr,
            r.crc,
            r.owner.as_ref().map(|m| m.name.as_str()),
            r.flags,
        );
    }
}
