//! Symbols modules link against: the kernel's export table and the exports of
//! loaded modules.
//!
//! The kernel's table is the `.ksymtab` section the link script collects
//! (`kabi::KernelSymbol` entries made by `exports::export!`). It is sorted by name
//! (for `list`) and indexed by a hash of the name (open addressing, at most half
//! full) once, on the first load, so boot pays nothing; a lookup hashes the name
//! and compares it with about one entry, where a binary search compared it with
//! eight or so (`memcmp` was most of insmod's `resolve` step).
//! Module exports live in a map from name to (address, CRC, owner); a module
//! that imports one holds a reference on its owner.

use super::Module;
use crate::sync::IrqLock;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kabi::KernelSymbol;
use kcore::vecmap::VecMap;

/// A symbol a module may import.
#[derive(Clone)]
pub struct Resolved {
    pub addr: u64,
    pub crc: u32,
    pub flags: u32,
    /// `None` for the kernel.
    pub owner: Option<Arc<Module>>,
    /// A kernel export's position in `kabi::api::ALL`: where a Rust
    /// module's `__versions` holds its CRC (`tables::Versions::crc_hinted`).
    pub abi_index: Option<usize>,
}

struct KernelExport {
    name: &'static str,
    addr: u64,
    crc: u32,
    flags: u32,
    /// Position in `kabi::api::ALL`, if listed there.
    abi_index: Option<usize>,
}

/// The kernel's exports, sorted by name, and their hash index.
struct KernelTable {
    sorted: Vec<KernelExport>,
    /// Open addressing by [`name_hash`]: each slot holds an index into
    /// `sorted` plus one, 0 when empty. A power of two, at least twice the
    /// entries, so a probe always reaches an empty slot.
    index: Vec<u32>,
}

impl KernelTable {
    fn new(sorted: Vec<KernelExport>) -> Self {
        let slots = (sorted.len() * 2).next_power_of_two().max(2);
        let mut index = alloc::vec![0u32; slots];
        let mask = slots - 1;
        for (i, e) in sorted.iter().enumerate() {
            let mut slot = name_hash(e.name.as_bytes()) as usize & mask;
            while index.get(slot).is_some_and(|&v| v != 0) {
                slot = (slot + 1) & mask;
            }
            if let Some(v) = index.get_mut(slot) {
                *v = i as u32 + 1;
            }
        }
        KernelTable { sorted, index }
    }

    /// The export named `name`.
    fn find(&self, name: &str) -> Option<&KernelExport> {
        let mask = self.index.len() - 1;
        let mut slot = name_hash(name.as_bytes()) as usize & mask;
        loop {
            let i = *self.index.get(slot)? as usize;
            let e = self.sorted.get(i.checked_sub(1)?)?;
            if e.name == name {
                return Some(e);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// FNV-1a, 64-bit: a few instructions a byte, and names differ early.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

static KERNEL: crate::sync::Once<KernelTable> = crate::sync::Once::new();
static MODULE_EXPORTS: IrqLock<VecMap<String, Resolved>> = IrqLock::new(VecMap::new());

fn kernel_table() -> &'static KernelTable {
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
                let name = core::str::from_utf8(bytes).ok()?;
                Some(KernelExport {
                    name,
                    addr: e.addr as u64,
                    crc: e.crc,
                    flags: e.flags,
                    abi_index: kabi::api::ALL.iter().position(|(n, _, _)| *n == name),
                })
            })
            .collect();
        kcore::sort::insertion_sort_by(&mut table, |a, b| a.name.cmp(b.name));
        KernelTable::new(table)
    })
}

/// Looks a symbol up in the kernel, then in loaded modules.
pub fn resolve(name: &str) -> Option<Resolved> {
    if let Some(e) = kernel_table().find(name) {
        return Some(Resolved {
            addr: e.addr,
            crc: e.crc,
            flags: e.flags,
            owner: None,
            abi_index: e.abi_index,
        });
    }
    MODULE_EXPORTS.lock().get(name).cloned()
}

/// Registers a module's exports (their names moved into the table, not
/// copied); fails (registering none) on a name that is already exported,
/// returning it.
pub fn add_module_exports(
    owner: &Arc<Module>,
    exports: Vec<(String, u64, u32)>,
) -> Result<(), String> {
    let table = kernel_table();
    let mut map = MODULE_EXPORTS.lock();
    for (name, _, _) in &exports {
        if map.contains_key(name) || table.find(name).is_some() {
            return Err(name.clone());
        }
    }
    for (name, addr, crc) in exports {
        map.insert(
            name,
            Resolved {
                addr,
                crc,
                flags: 0,
                owner: Some(Arc::clone(owner)),
                abi_index: None,
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
    for e in &kernel_table().sorted {
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
