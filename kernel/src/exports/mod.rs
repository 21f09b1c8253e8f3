//! The kernel's exports to modules: the implementations of every function in
//! `kabi::api`, and their `.ksymtab` entries.
//!
//! [`export!`] checks at compile time that each implementation has exactly the
//! ABI's signature (`kabi::sig::NAME`) and records its name, address, version
//! CRC and flags. Arguments come from module code: owners are looked up (an
//! unknown handle is -EINVAL), sizes bounded, null pointers refused. Pointers a
//! module passes for its own buffers are trusted to be valid for the stated
//! length, as in any kernel: modules run at EL1. One file a family: [`printk`],
//! [`mem`], [`irq`], [`timer`], [`device`], [`fs`], [`work`].
//!
//! Room `exports`: may use every room below it (it is the modules' view of
//! the kernel); only `boot` and `shell` sit above.

mod device;
mod fs;
mod irq;
mod mem;
mod printk;
mod timer;
mod work;

use crate::module::{self, Module};
use alloc::string::String;
use alloc::sync::Arc;
use kabi::{Opaque, ThisModule};

use device::*;
use fs::*;
use irq::*;
use mem::*;
use printk::*;
use timer::*;
use work::*;

macro_rules! export {
    ($($name:ident),* $(,)?) => {$(
        const _: () = {
            // The implementation must have the ABI's exact type.
            const _: kabi::sig::$name = $name;
            #[used]
            #[link_section = ".ksymtab"]
            static SYM: kabi::KernelSymbol = kabi::KernelSymbol {
                name: stringify!($name).as_ptr(),
                name_len: stringify!($name).len(),
                addr: $name as *const Opaque,
                crc: kabi::api::crc::$name,
                flags: kabi::api::flags::$name,
            };
        };
    )*};
}

export!(
    printk,
    kmalloc,
    kfree,
    dma_alloc,
    dma_free,
    ioremap,
    iounmap,
    request_irq,
    free_irq,
    irq_set_affinity,
    irq_inject,
    timer_add,
    timer_del,
    virt_to_phys,
    virt_to_phys_range,
    local_irq_save,
    local_irq_restore,
    spin_lock_irqsave,
    spin_unlock_irqrestore,
    queue_work_on,
    cancel_work_sync,
    smp_processor_id,
    num_online_cpus,
    udelay,
    ktime_us,
    cpu_wait_irq,
    dt_find_compatible,
    register_device,
    unregister_device,
    register_filesystem,
    unregister_filesystem,
    tty_receive,
    request_module,
    module_panic,
    printk_args,
    module_panic_info,
    panic_notifier_register,
    memcpy,
    memmove,
    memset,
    memcmp,
);

// The string routines modules call (Linux exports the same four from
// arch/arm64/lib): `memcpy`, `memset` and `memcmp` are the kernel's assembly
// (`arch::mem`), `memmove` compiler_builtins'. Declared here with the ABI's
// types so `export!` checks them like every other export.
extern "C" {
    fn memcpy(dest: *mut kabi::Opaque, src: *const kabi::Opaque, n: usize) -> *mut kabi::Opaque;
    fn memmove(dest: *mut kabi::Opaque, src: *const kabi::Opaque, n: usize) -> *mut kabi::Opaque;
    fn memset(dest: *mut kabi::Opaque, c: i32, n: usize) -> *mut kabi::Opaque;
    fn memcmp(a: *const kabi::Opaque, b: *const kabi::Opaque, n: usize) -> i32;
}

fn owner(ptr: *const ThisModule) -> Option<Arc<Module>> {
    module::from_handle(ptr as usize)
}

/// Reads a NUL-terminated name of at most 63 bytes.
fn cstr_name(p: *const u8) -> Option<String> {
    cstr_str(p).map(String::from)
}

/// The NUL-terminated UTF-8 string at `p` (at most 64 bytes with the NUL),
/// borrowed for the call that passed it: for lookups that keep nothing.
fn cstr_str<'a>(p: *const u8) -> Option<&'a str> {
    core::str::from_utf8(cstr_bytes(p)?).ok()
}

/// The bytes of the NUL-terminated string at `p` (at most 63 before the NUL;
/// longer: `None`), without the NUL, not checked as UTF-8, borrowed for the
/// call.
fn cstr_bytes<'a>(p: *const u8) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // Byte by byte up to the NUL: a slice of 64 bytes read past a short
    // string's end, and faulted when the string ended a mapped page (a
    // module's rodata is followed by an unmapped gap).
    let mut len = 0;
    loop {
        if len == 64 {
            return None;
        }
        // SAFETY: the module passes a NUL-terminated string: every byte up to its NUL is readable, and the loop reads no further.
        if unsafe { p.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    Some(unsafe { core::slice::from_raw_parts(p, len) })
}

/// Runs `f` with the name of the module whose handle is `ptr` ("?" for an
/// unknown handle): the one owner-name lookup for printk and module_panic.
fn owner_name<R>(ptr: *const ThisModule, f: impl FnOnce(&str) -> R) -> R {
    match owner(ptr) {
        Some(m) => f(&m.name),
        None => f("?"),
    }
}
