//! The kernel image's layout, from the symbols `aarch64-virt.ld` defines.

use kcore::memrange::Range;

/// The address of a linker-script symbol.
#[macro_export]
macro_rules! linker_addr {
    ($sym:ident) => {{
        extern "C" {
            static $sym: u8;
        }
        // SAFETY: only the address of a linker-script symbol is taken.
        unsafe { &$sym as *const u8 as usize }
    }};
}

pub fn kernel_image() -> Range {
    Range::new(
        linker_addr!(__kernel_start) as u64,
        linker_addr!(__kernel_end) as u64,
    )
}
