//! Module loader core: lays out, links and relocates AArch64 ELF64 `ET_REL` objects.
//!
//! The load path, top to bottom, as the kernel calls it:
//!
//! 1. [`Object::parse`] — check the untrusted bytes once (class, machine, type,
//!    section and symbol tables); the result is the only way to reach them.
//! 2. [`Layout::plan`] — pure: region sizes and alignments (text RX + veneers,
//!    rodata R + GOT, data RW + bss + COMMON), every relocation validated and
//!    counted, veneer and GOT slots reserved. The caller allocates each region once.
//! 3. [`Object::load`] — given each region's run-time base and writable bytes and a
//!    [`SymbolResolver`]: copy, zero, resolve, fill the GOT, relocate (veneers for
//!    far CALL26/JUMP26). Returns a [`LoadedModule`]: placements, exports,
//!    `init_module`/`cleanup_module`, statistics (`.modinfo` and imports
//!    come from the [`Object`]).
//!
//! The caller then cleans the D-cache to PoU and invalidates the I-cache for the text
//! region, maps text RX, rodata R, data RW, and calls init. On any error the caller
//! frees the regions; the loader holds nothing.
//!
//! `no_std` + `alloc`; builds for `aarch64-unknown-none` and the host. Every
//! allocation is bounded by the number of sections, symbols or relocations in the
//! input, so by its size; none is made per relocation.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod encode;
pub mod error;
pub mod layout;
pub mod load;
pub mod object;
pub mod prelink;
pub mod reloc;
pub mod store;

pub use error::{LoadError, Place, RegionKind};
pub use layout::{Area, Layout, PlanOptions, RegionSpec, SectionSlot, DEFAULT_MAX_MODULE_SIZE};
pub use load::{
    ExportedSymbol, LoadOptions, LoadStats, LoadedModule, PlacedArea, Region, Regions,
    SectionPlacement, SymbolResolver,
};
pub use object::{Binding, Object, RawSymbol, Section, SectionClass, Symbol, SymbolDef};
pub use reloc::{RelocKind, RELOC_KIND_COUNT};

/// Symbol called after a successful load (Linux's name for a module's init).
pub const INIT_SYMBOL: &str = "init_module";
/// Symbol called before unloading.
pub const CLEANUP_SYMBOL: &str = "cleanup_module";
/// Section of NUL-separated `key=value` strings.
pub const MODINFO_SECTION: &str = ".modinfo";
/// Symbol the loader defines as the GOT base (GCC's `-fpic` LD64_GOTPAGE_LO15).
pub const GOT_SYMBOL: &str = "_GLOBAL_OFFSET_TABLE_";

/// Runs the whole load path on arbitrary bytes, as the fuzz target and the corpus
/// replay test do: parse, plan, then load at a fixed address with a resolver that
/// knows every name of even length, `.modprelink` used when it applies (the
/// regions placed consecutively, as the kernel does); the Cortex-A53 erratum 843419 workaround is on
/// for inputs of odd length. Regions larger than 16 MiB are not allocated.
/// Returns the load result's error, if any (never panics, by contract).
pub fn fuzz_one(data: &[u8]) -> Option<LoadError> {
    const CAP: u64 = 16 << 20;
    let object = match Object::parse(data) {
        Ok(o) => o,
        Err(e) => return Some(e),
    };
    let options = PlanOptions {
        fix_cortex_a53_843419: !data.len().is_multiple_of(2),
        use_prelink: true,
        ..PlanOptions::default()
    };
    let layout = match Layout::plan_with(&object, options) {
        Ok(l) => l,
        Err(e) => return Some(e),
    };
    if layout.text.size > CAP || layout.rodata.size > CAP || layout.data.size > CAP {
        return None;
    }
    // Placed as the kernel places a module, so `.modprelink` applies.
    let mut resolver = |name: &str| {
        name.len()
            .is_multiple_of(2)
            .then_some(0x3800_0000 + name.len() as u64 * 16)
    };
    let image = match prelink::load_consecutive(&object, &layout, 0x4000_0000, &mut resolver) {
        Ok(image) => image,
        Err(e) => return Some(e),
    };
    // The kernel writes text only where it changes, over whatever its pages
    // held: over the same image and over other bytes it must give the same
    // image (a difference is a loader bug, which the fuzzer should report).
    let changed = LoadOptions::changed_text_only();
    for start in [image.clone(), alloc::vec![0xa5; image.len()]] {
        let again = prelink::load_consecutive_over(
            &object,
            &layout,
            0x4000_0000,
            &mut resolver,
            &changed,
            start,
        );
        assert!(
            again.as_ref() == Ok(&image),
            "text stored only where it changes gave another image"
        );
    }
    None
}
