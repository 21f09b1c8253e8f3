//! `include/kabi.h` is generated from this crate: the types from the template
//! below (hand-written C for each `#[repr(C)]` type of `kabi::types`), the
//! exports from `kabi::api::ALL` and `SIGNATURES`. This test rebuilds the text
//! and fails if the checked-in header differs; `UPDATE_KABI_H=1 cargo test -p
//! kabi --test c_header` rewrites it. `c_layout.rs` checks the layout numbers
//! the header asserts against the Rust types.

use std::fmt::Write as _;
use std::path::PathBuf;

/// C spelling of each Rust type that appears in an export's signature. A new
/// type in `kernel_api!` fails the test until it is added here (and, if it is
/// a new `#[repr(C)]` type, to the template).
const C_TYPES: &[(&str, &str)] = &[
    ("*const ThisModule", "const struct module *"),
    ("*const u8", "const char *"),
    ("*mut u8", "void *"),
    ("*mut u64", "uint64_t *"),
    ("*mut Opaque", "void *"),
    ("*const Opaque", "const void *"),
    ("*mut DtDevice", "struct dt_device *"),
    ("*const DeviceDesc", "const struct device_desc *"),
    ("*const FsOps", "const struct fs_ops *"),
    ("IrqHandler", "irq_handler_t"),
    ("TimerFn", "timer_fn_t"),
    ("PanicNotifier", "panic_notifier_t"),
    ("WorkFn", "work_fn_t"),
    ("*mut RawSpinLock", "struct spinlock *"),
    ("usize", "size_t"),
    ("u32", "uint32_t"),
    ("u64", "uint64_t"),
    ("i32", "int32_t"),
    ("i64", "int64_t"),
];

const HEAD: &str = r#"/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * kabi.h - the module ABI for modules written in C.
 *
 * GENERATED from the Rust crate kernel/abi by kernel/abi/tests/c_header.rs;
 * do not edit. After changing the ABI run:
 *     UPDATE_KABI_H=1 cargo test -p kabi --test c_header
 *
 * A module is one ELF64 AArch64 relocatable object (.ko) that defines
 *     int init_module(void);      0 or -errno (see module_init)
 *     int cleanup_module(void);   0, or -errno to refuse unloading (module_exit)
 * and describes itself with MODULE_NAME/LICENSE/... (.modinfo); parameters
 * with module_param()/MODULE_PARM_DESC(); exports with EXPORT_SYMBOL(); logs
 * with pr_info("fmt", ...) or printk(KERN_INFO "fmt", ...). Build as
 * drivers/build-modules.sh does:
 *     aarch64-linux-gnu-gcc -E -D__GENKSYMS__ m.c | modtool genksyms -o m.ksyms.h
 *     aarch64-linux-gnu-gcc -c -include m.ksyms.h -O2 -ffreestanding -fno-pic
 *         -mno-outline-atomics -mgeneral-regs-only -fno-stack-protector
 *         -fno-asynchronous-unwind-tables -fno-unwind-tables m.c -o m.o
 *     modtool modpost --symvers build/Module.symvers m.o -o m.ko
 * modpost adds the abi= line and a __versions entry (its CRC) for every
 * symbol the module calls; MODULE_ABI() and MODULE_VERSION_OF(sym) still work.
 */
#ifndef KABI_H
#define KABI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__aarch64__) || !defined(__LP64__)
#error "kabi.h describes the AArch64 LP64 ABI"
#endif

/* Version of the ABI as a whole (kabi::ABI_VERSION); recorded as abi=N. */
#define KABI_VERSION 3

/* ---- Types (kabi::types) ------------------------------------------------ */

/* A module's handle in the kernel (ThisModule). Only its address is used. */
struct module;
extern struct module __this_module;
#define THIS_MODULE (&__this_module)

/* Interrupt handler (IrqHandler), timer callback (TimerFn), panic notifier
 * (PanicNotifier), work function (WorkFn). */
typedef void (*irq_handler_t)(uint32_t intid, void *ctx);
typedef void (*timer_fn_t)(void *ctx);
typedef void (*panic_notifier_t)(const char *msg, size_t len);
typedef void (*work_fn_t)(void *ctx);

/* A spin lock (RawSpinLock): a word in module memory, 0 when free, used only
 * through spin_lock_irqsave()/spin_unlock_irqrestore(). */
struct spinlock {
	uint32_t locked;
};
#define DEFINE_SPINLOCK(name) struct spinlock name = { 0 }
_Static_assert(sizeof(struct spinlock) == 4, "struct spinlock size");

/* Linux errno values (kabi::errno), returned negated. */
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define ENOEXEC 8
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ENOSPC 28
#define ETIMEDOUT 110

/* printk levels, as Linux's LOGLEVEL_*. */
#define LOGLEVEL_EMERG 0u
#define LOGLEVEL_ALERT 1u
#define LOGLEVEL_CRIT 2u
#define LOGLEVEL_ERR 3u
#define LOGLEVEL_WARNING 4u
#define LOGLEVEL_NOTICE 5u
#define LOGLEVEL_INFO 6u
#define LOGLEVEL_DEBUG 7u
/* The level of a printk() without a KERN_ prefix (Linux's default, 4). */
#define LOGLEVEL_DEFAULT LOGLEVEL_WARNING

/* Up to four reg ranges and four interrupts of a device-tree node (DtDevice). */
struct dt_device {
	uint64_t reg_base[4];
	uint64_t reg_size[4];
	uint32_t nregs;
	uint32_t irqs[4]; /* GIC INTIDs */
	uint32_t nirqs;
	char name[48]; /* NUL-terminated (truncated to fit) */
};
_Static_assert(sizeof(struct dt_device) == 136, "struct dt_device size");
_Static_assert(offsetof(struct dt_device, reg_base) == 0, "dt_device.reg_base");
_Static_assert(offsetof(struct dt_device, reg_size) == 32, "dt_device.reg_size");
_Static_assert(offsetof(struct dt_device, nregs) == 64, "dt_device.nregs");
_Static_assert(offsetof(struct dt_device, irqs) == 68, "dt_device.irqs");
_Static_assert(offsetof(struct dt_device, nirqs) == 84, "dt_device.nirqs");
_Static_assert(offsetof(struct dt_device, name) == 88, "dt_device.name");

/* What kind of device a module registers (DeviceKind, a u32). */
enum device_kind {
	DEVICE_KIND_CHAR = 0,
	DEVICE_KIND_TTY = 1,
	DEVICE_KIND_BLOCK = 2,
};
_Static_assert(sizeof(enum device_kind) == 4, "enum device_kind size");

/* Operations of a registered device (DeviceOps); unused ones may be NULL. The
 * kernel calls them only while it holds a reference to the device. */
struct device_ops {
	/* A handle is being opened; 0 or -errno. */
	int32_t (*open)(void *ctx);
	/* The last handle of an open is closed. */
	void (*release)(void *ctx);
	/* Reads up to len bytes at offset; bytes read or -errno. */
	intptr_t (*read)(void *ctx, char *buf, size_t len, uint64_t offset);
	/* Writes len bytes at offset; bytes written or -errno. */
	intptr_t (*write)(void *ctx, const char *buf, size_t len, uint64_t offset);
	/* Makes completed writes durable (block devices); 0 or -errno. */
	int32_t (*flush)(void *ctx);
};
_Static_assert(sizeof(struct device_ops) == 40, "struct device_ops size");
_Static_assert(offsetof(struct device_ops, open) == 0, "device_ops.open");
_Static_assert(offsetof(struct device_ops, release) == 8, "device_ops.release");
_Static_assert(offsetof(struct device_ops, read) == 16, "device_ops.read");
_Static_assert(offsetof(struct device_ops, write) == 24, "device_ops.write");
_Static_assert(offsetof(struct device_ops, flush) == 32, "device_ops.flush");

/* A device registration request (DeviceDesc). */
struct device_desc {
	enum device_kind kind;
	const char *name; /* NUL-terminated, e.g. "hello0" */
	const struct device_ops *ops;
	void *ctx;
	uint64_t size; /* bytes for block devices, 0 otherwise */
};
_Static_assert(sizeof(struct device_desc) == 40, "struct device_desc size");
_Static_assert(offsetof(struct device_desc, kind) == 0, "device_desc.kind");
_Static_assert(offsetof(struct device_desc, name) == 8, "device_desc.name");
_Static_assert(offsetof(struct device_desc, ops) == 16, "device_desc.ops");
_Static_assert(offsetof(struct device_desc, ctx) == 24, "device_desc.ctx");
_Static_assert(offsetof(struct device_desc, size) == 32, "device_desc.size");

/* A block device as a file system sees it during a mount (BlockDevice): the
 * kernel holds it open from mount to umount and reads and writes it for the
 * file system. */
struct block_device {
	void *handle; /* the kernel's, passed back to read/write */
	uint64_t size; /* bytes */
	/* Reads len bytes at byte offset; bytes read or -errno. */
	intptr_t (*read)(void *handle, char *buf, size_t len, uint64_t offset);
	/* Writes len bytes at byte offset; bytes written or -errno. */
	intptr_t (*write)(void *handle, const char *buf, size_t len, uint64_t offset);
	const char *name; /* NUL-terminated, e.g. "vda" */
};
_Static_assert(sizeof(struct block_device) == 40, "struct block_device size");
_Static_assert(offsetof(struct block_device, handle) == 0, "block_device.handle");
_Static_assert(offsetof(struct block_device, size) == 8, "block_device.size");
_Static_assert(offsetof(struct block_device, read) == 16, "block_device.read");
_Static_assert(offsetof(struct block_device, write) == 24, "block_device.write");
_Static_assert(offsetof(struct block_device, name) == 32, "block_device.name");

/* Called by readdir once per entry (FillDir): name (not NUL-terminated), size,
 * 1 for a directory. */
typedef void (*fill_dir_t)(void *cookie, const char *name, size_t name_len, uint64_t size,
			   uint32_t is_dir);

/* Bytes of the label buffer fs_ops.mount fills (NUL-terminated). */
#define FS_LABEL_SIZE 16

/* Operations of a file system type (FsOps); all required. Paths are
 * NUL-terminated, relative to the root ("" is the root). The kernel calls
 * them one at a time, only while a mount holds the file system type. */
struct fs_ops {
	/* Mounts on bdev: *sb = the mount's context, label filled; 0 or -errno. */
	int32_t (*mount)(const struct block_device *bdev, void **sb, char *label);
	/* Ends the mount sb. */
	void (*umount)(void *sb);
	/* Writes path's size; 0 file, 1 directory, or -errno. */
	int32_t (*stat)(void *sb, const char *path, uint64_t *size);
	/* Reads the file at path into buf, up to len bytes; bytes read or -errno. */
	intptr_t (*read)(void *sb, const char *path, char *buf, size_t len);
	/* Calls fill(cookie, ...) for each entry of the directory at path. */
	int32_t (*readdir)(void *sb, const char *path, fill_dir_t fill, void *cookie);
};
_Static_assert(sizeof(struct fs_ops) == 40, "struct fs_ops size");
_Static_assert(offsetof(struct fs_ops, mount) == 0, "fs_ops.mount");
_Static_assert(offsetof(struct fs_ops, umount) == 8, "fs_ops.umount");
_Static_assert(offsetof(struct fs_ops, stat) == 16, "fs_ops.stat");
_Static_assert(offsetof(struct fs_ops, read) == 24, "fs_ops.read");
_Static_assert(offsetof(struct fs_ops, readdir) == 32, "fs_ops.readdir");

/* An exported symbol, in .ksymtab (KernelSymbol). */
struct kernel_symbol {
	const char *name;
	size_t name_len;
	const void *addr;
	uint32_t crc;
	uint32_t flags; /* KSYM_UNSAFE_TO_UNLOAD, KSYM_GPL_ONLY */
};
#define KSYM_UNSAFE_TO_UNLOAD 1u
#define KSYM_GPL_ONLY 2u /* EXPORT_SYMBOL_GPL */
_Static_assert(sizeof(struct kernel_symbol) == 32, "struct kernel_symbol size");
_Static_assert(offsetof(struct kernel_symbol, name) == 0, "kernel_symbol.name");
_Static_assert(offsetof(struct kernel_symbol, name_len) == 8, "kernel_symbol.name_len");
_Static_assert(offsetof(struct kernel_symbol, addr) == 16, "kernel_symbol.addr");
_Static_assert(offsetof(struct kernel_symbol, crc) == 24, "kernel_symbol.crc");
_Static_assert(offsetof(struct kernel_symbol, flags) == 28, "kernel_symbol.flags");

/* One __versions entry (ModVersion): Linux's struct modversion_info. */
struct modversion_info {
	uint64_t crc;
	char name[56];
};
_Static_assert(sizeof(struct modversion_info) == 64, "struct modversion_info size");
_Static_assert(offsetof(struct modversion_info, crc) == 0, "modversion_info.crc");
_Static_assert(offsetof(struct modversion_info, name) == 8, "modversion_info.name");

/* Type of a module parameter (ParamKind, a u32). */
enum param_kind {
	PARAM_KIND_INT = 0,    /* int64_t */
	PARAM_KIND_BOOL = 1,   /* uint8_t 0/1 (C bool) */
	PARAM_KIND_STR = 2,    /* char[size], NUL-terminated */
	PARAM_KIND_INT32 = 3,  /* int */
	PARAM_KIND_UINT32 = 4, /* unsigned int */
	PARAM_KIND_LONG = 5,   /* long */
	PARAM_KIND_ULONG = 6,  /* unsigned long */
	PARAM_KIND_CHARP = 7,  /* char *: a kernel-owned copy, freed with the module */
};
_Static_assert(sizeof(enum param_kind) == 4, "enum param_kind size");

/* A module parameter, in __param (ParamDesc). The kernel writes parsed insmod
 * arguments to ptr before calling init. */
struct kernel_param {
	const char *name;
	size_t name_len;
	enum param_kind kind;
	void *ptr;
	size_t size;
};
_Static_assert(sizeof(struct kernel_param) == 40, "struct kernel_param size");
_Static_assert(offsetof(struct kernel_param, name) == 0, "kernel_param.name");
_Static_assert(offsetof(struct kernel_param, name_len) == 8, "kernel_param.name_len");
_Static_assert(offsetof(struct kernel_param, kind) == 16, "kernel_param.kind");
_Static_assert(offsetof(struct kernel_param, ptr) == 24, "kernel_param.ptr");
_Static_assert(offsetof(struct kernel_param, size) == 32, "kernel_param.size");

/* ---- Kernel exports (kabi::api) ----------------------------------------- */
/*
 * KABI_CRC_<name> is the version a module records in __versions: the CRC-32
 * (kabi::crc::crc32) of the export's Rust signature as rustc's stringify!
 * spells it, shown above each prototype with its whitespace collapsed.
 * The raw printk export is declared as __kabi_printk (asm label "printk"),
 * so that printk() can be Linux's printf-style macro below.
 */

"#;

const TAIL: &str = r#"
/* ---- Module description ------------------------------------------------- */

#include "kabi_printf.h"

#define __KABI_STR2(x) #x
#define __KABI_STR(x) __KABI_STR2(x)
#define __KABI_CAT2(a, b) a##b
#define __KABI_CAT(a, b) __KABI_CAT2(a, b)
#define __KABI_UNIQUE(prefix) __KABI_CAT(prefix, __COUNTER__)

/* One key=value string in .modinfo (Linux's MODULE_INFO). */
#define MODULE_INFO(key, value)                                              \
	static const char __KABI_UNIQUE(__kabi_modinfo_)[]                   \
		__attribute__((section(".modinfo"), used, aligned(1))) =     \
			__KABI_STR(key) "=" value

#define MODULE_NAME(_name) MODULE_INFO(name, _name)
#define MODULE_LICENSE(_license) MODULE_INFO(license, _license)
#define MODULE_AUTHOR(_author) MODULE_INFO(author, _author)
#define MODULE_DESCRIPTION(_description) MODULE_INFO(description, _description)
#define MODULE_VERSION(_version) MODULE_INFO(version, _version)
#define MODULE_ALIAS(_alias) MODULE_INFO(alias, _alias)
/* The ABI version this module is built for (abi=KABI_VERSION). */
#define MODULE_ABI() MODULE_INFO(abi, __KABI_STR(KABI_VERSION))

/* A __versions entry recording crc as the version of sym. */
#define MODULE_VERSION_CRC(sym, crc)                                         \
	static const struct modversion_info __kabi_version_##sym             \
		__attribute__((section("__versions"), used, aligned(8))) =   \
			{ (crc), #sym }
/* Records that this module was built against this header's version of the
 * kernel export sym. */
#define MODULE_VERSION_OF(sym) MODULE_VERSION_CRC(sym, KABI_CRC_##sym)

/* init_module/cleanup_module as aliases of the named functions. */
#define module_init(fn) int init_module(void) __attribute__((alias(#fn)))
#define module_exit(fn) int cleanup_module(void) __attribute__((alias(#fn)))

/* ---- printk ------------------------------------------------------------- */
/*
 * Linux's printk: printk(KERN_INFO "read %zu bytes\n", n), or pr_info("...").
 * A KERN_ prefix (KERN_SOH and a level digit) picks the level, else
 * LOGLEVEL_DEFAULT; formats are kabi_printf.h's subset of Linux's. A message
 * is formatted into KABI_PRINTK_MAX bytes on the stack (longer ones are cut),
 * one trailing newline is dropped (each call is one log record), and the
 * kernel prefixes it with the module's name. Define pr_fmt(fmt) before
 * including kabi.h to prefix every pr_*() format, as in Linux.
 */
#define KERN_SOH "\001"
#define KERN_EMERG KERN_SOH "0"
#define KERN_ALERT KERN_SOH "1"
#define KERN_CRIT KERN_SOH "2"
#define KERN_ERR KERN_SOH "3"
#define KERN_WARNING KERN_SOH "4"
#define KERN_NOTICE KERN_SOH "5"
#define KERN_INFO KERN_SOH "6"
#define KERN_DEBUG KERN_SOH "7"
#define KERN_DEFAULT ""
#define KERN_CONT KERN_SOH "c"

#define KABI_PRINTK_MAX 256

static inline __attribute__((format(printf, 1, 0))) int vprintk(const char *fmt, va_list ap)
{
	char buf[KABI_PRINTK_MAX];
	uint32_t level = LOGLEVEL_DEFAULT;
	size_t len;
	int n;

	if (fmt[0] == KERN_SOH[0] && fmt[1] >= '0' && fmt[1] <= '7') {
		level = (uint32_t)(fmt[1] - '0');
		fmt += 2;
	} else if (fmt[0] == KERN_SOH[0] && fmt[1] != '\0') {
		fmt += 2; /* KERN_CONT: records are never continued here */
	}
	n = kabi_vsnprintf(buf, sizeof(buf), fmt, ap);
	len = n < 0 ? 0 : (size_t)n;
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	__kabi_printk(THIS_MODULE, level, buf, len);
	return n;
}

static inline __attribute__((format(printf, 1, 2))) int _printk(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}

#define printk(fmt, ...) _printk(fmt, ##__VA_ARGS__)

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define pr_emerg(fmt, ...) printk(KERN_EMERG pr_fmt(fmt), ##__VA_ARGS__)
#define pr_alert(fmt, ...) printk(KERN_ALERT pr_fmt(fmt), ##__VA_ARGS__)
#define pr_crit(fmt, ...) printk(KERN_CRIT pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...) printk(KERN_ERR pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) printk(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) printk(KERN_NOTICE pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) printk(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)
/* Always logged (at debug level; the console shows it with loglevel=8). */
#define pr_debug(fmt, ...) printk(KERN_DEBUG pr_fmt(fmt), ##__VA_ARGS__)

/* ---- Parameters ---------------------------------------------------------- */
/*
 * module_param(name, type, perm) as Linux: `static int count = 1;
 * module_param(count, int, 0444);` makes `insmod m.ko count=5` set it before
 * init runs. Types: int, uint, long, ulong, bool (C bool), charp (char *: the
 * kernel sets it to its own copy of the value, freed with the module). perm
 * is accepted for Linux compatibility (there is no sysfs). The variable's C
 * type must match (a compile-time check). modinfo shows each parameter that
 * has a MODULE_PARM_DESC(name, "description").
 */
#define __KABI_PARAM_KIND_int PARAM_KIND_INT32
#define __KABI_PARAM_KIND_uint PARAM_KIND_UINT32
#define __KABI_PARAM_KIND_long PARAM_KIND_LONG
#define __KABI_PARAM_KIND_ulong PARAM_KIND_ULONG
#define __KABI_PARAM_KIND_bool PARAM_KIND_BOOL
#define __KABI_PARAM_KIND_charp PARAM_KIND_CHARP
#define __KABI_PARAM_TYPE_int int
#define __KABI_PARAM_TYPE_uint unsigned int
#define __KABI_PARAM_TYPE_long long
#define __KABI_PARAM_TYPE_ulong unsigned long
#define __KABI_PARAM_TYPE_bool _Bool
#define __KABI_PARAM_TYPE_charp char *

#define module_param(name, type, perm)                                       \
	_Static_assert(__builtin_types_compatible_p(__typeof__(name),         \
						    __KABI_PARAM_TYPE_##type), \
		       "module_param(" #name ", " #type "): the variable is not a " #type); \
	_Static_assert((perm) >= 0, "module_param(" #name "): bad permissions"); \
	static const char __kabi_param_name_##name[] = #name;                \
	static const struct kernel_param __kabi_param_##name                 \
		__attribute__((section("__param"), used, aligned(8))) = {    \
			__kabi_param_name_##name, sizeof(#name) - 1,         \
			__KABI_PARAM_KIND_##type, (void *)&name, sizeof(name) \
	};                                                                   \
	MODULE_INFO(parmtype, #name ":" #type)

#define MODULE_PARM_DESC(name, desc) MODULE_INFO(parm, #name ":" desc)

/* ---- Exports ------------------------------------------------------------- */
/*
 * EXPORT_SYMBOL(fn) / EXPORT_SYMBOL_GPL(fn) put fn in .ksymtab for other
 * modules (Rust or C). Its version is __KABI_CRC_fn, which `modtool genksyms`
 * computes from fn's prototype (the CRC-32 of its Rust spelling, as
 * kabi::export_symbol! does) into the header the build passes with -include.
 * Under -D__GENKSYMS__ (genksyms' own preprocessing pass) the macros are left
 * unexpanded for genksyms to find.
 */
#ifndef __GENKSYMS__
#define __KABI_EXPORT(sym, flags)                                            \
	static const char __kstrtab_##sym[] = #sym;                          \
	static const struct kernel_symbol __ksymtab_##sym                    \
		__attribute__((section(".ksymtab"), used, aligned(8))) = {   \
			__kstrtab_##sym, sizeof(#sym) - 1, (const void *)&sym, \
			__KABI_CRC_##sym, (flags)                            \
	}
#define EXPORT_SYMBOL(sym) __KABI_EXPORT(sym, 0u)
#define EXPORT_SYMBOL_GPL(sym) __KABI_EXPORT(sym, KSYM_GPL_ONLY)
#endif

#endif /* KABI_H */
"#;

/// Splits `name(a : T, b : U) -> R` (rustc's `stringify!` spacing, possibly
/// with line breaks) into the name, `(arg, type)` pairs and the return type.
fn parse_signature(sig: &str) -> (String, Vec<(String, String)>, Option<String>) {
    let sig = sig.split_whitespace().collect::<Vec<_>>().join(" ");
    let open = sig
        .find('(')
        .unwrap_or_else(|| panic!("no '(' in signature {sig:?}"));
    let close = sig
        .rfind(')')
        .unwrap_or_else(|| panic!("no ')' in signature {sig:?}"));
    let name = sig[..open].trim().to_string();
    let args = sig[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (n, t) = a
                .split_once(':')
                .unwrap_or_else(|| panic!("argument {a:?} of {name} has no type"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect();
    let ret = sig[close + 1..]
        .trim()
        .strip_prefix("->")
        .map(|r| r.trim().to_string());
    (name, args, ret)
}

fn c_type(rust: &str, sig: &str) -> &'static str {
    C_TYPES
        .iter()
        .find(|(r, _)| *r == rust)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| {
            panic!("no C spelling for Rust type `{rust}` in `{sig}`: add it to C_TYPES")
        })
}

/// Pastes a C type and a name: `const char *` + `msg` = `const char *msg`.
fn declare(c_type: &str, name: &str) -> String {
    if c_type.ends_with('*') {
        format!("{c_type}{name}")
    } else {
        format!("{c_type} {name}")
    }
}

/// The whole header, as it should be checked in.
fn expected_header() -> String {
    assert_eq!(kabi::api::ALL.len(), kabi::api::SIGNATURES.len());
    let mut out = String::from(HEAD);
    for (&(name, crc, flags), &sig) in kabi::api::ALL.iter().zip(kabi::api::SIGNATURES) {
        if flags & kabi::KernelSymbol::RUST_ABI != 0 {
            // `core` types behind the pointers, and a CRC that names the
            // compiler: nothing a C module can call.
            writeln!(
                out,
                "/* {name}: Rust modules only (not declared for C) */\n"
            )
            .unwrap();
            continue;
        }
        let (sig_name, args, ret) = parse_signature(sig);
        assert_eq!(sig_name, name, "api::SIGNATURES is not in api::ALL order");
        let flat = sig.split_whitespace().collect::<Vec<_>>().join(" ");
        writeln!(out, "/* {flat} */").unwrap();
        if flags & kabi::KernelSymbol::UNSAFE_TO_UNLOAD != 0 {
            writeln!(
                out,
                "/* Unsafe to unload: a module that imports this is pinned. */"
            )
            .unwrap();
        }
        writeln!(out, "#define KABI_CRC_{name} {crc:#010x}u").unwrap();
        // The raw printk export gets another C name (same ELF symbol) so that
        // `printk` can be Linux's printf-style macro.
        let (c_name, label) = if name == "printk" {
            ("__kabi_printk", " __asm__(\"printk\")")
        } else {
            (name, "")
        };
        let params = if args.is_empty() {
            "void".to_string()
        } else {
            args.iter()
                .map(|(n, t)| declare(c_type(t, sig), n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ret = ret.as_deref().map_or("void", |r| c_type(r, sig));
        writeln!(
            out,
            "{}{label};\n",
            declare(ret, &format!("{c_name}({params})"))
        )
        .unwrap();
    }
    writeln!(out, "#define KABI_EXPORT_COUNT {}", kabi::api::ALL.len()).unwrap();
    out.push_str(TAIL);
    out
}

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/kabi.h")
}

#[test]
fn checked_in_header_matches_the_rust_abi() {
    let expected = expected_header();
    let path = header_path();
    if std::env::var_os("UPDATE_KABI_H").is_some_and(|v| v == "1") {
        std::fs::write(&path, &expected)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || actual.lines().count().min(expected.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} is out of date with kernel/abi (first difference at line {line}); regenerate it with\n    \
             UPDATE_KABI_H=1 cargo test -p kabi --test c_header",
            path.display()
        );
    }
}

#[test]
fn every_export_has_a_prototype_and_a_crc() {
    let header = expected_header();
    for &(name, crc, flags) in kabi::api::ALL {
        if flags & kabi::KernelSymbol::RUST_ABI != 0 {
            assert!(header.contains(&format!("/* {name}: Rust modules only")));
            continue;
        }
        assert!(
            header.contains(&format!("#define KABI_CRC_{name} {crc:#010x}u\n")),
            "no CRC for {name}"
        );
        assert!(
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")),
            "no prototype for {name}"
        );
    }
}

#[test]
fn a_rust_abi_export_crc_names_the_compiler() {
    let rustc = env!("KABI_RUSTC");
    assert!(rustc.starts_with("rustc "), "{rustc}");
    let (i, &(name, crc, _)) = kabi::api::ALL
        .iter()
        .enumerate()
        .find(|(_, e)| e.2 & kabi::KernelSymbol::RUST_ABI != 0)
        .expect("a [rust_abi] export");
    let sig = kabi::api::SIGNATURES[i];
    assert!(sig.ends_with(&format!(" [{rustc}]")), "{sig}");
    assert_eq!(crc, kabi::crc::crc32(sig.as_bytes()), "{name}");
    // Another compiler's text gives another CRC.
    let other = sig.replace(rustc, "rustc 1.0.0 (00000000 2015-05-15)");
    assert_ne!(crc, kabi::crc::crc32(other.as_bytes()), "{name}");
}

#[test]
fn signature_parser_handles_rustc_spacing() {
    let (name, args, ret) =
        parse_signature("timer_add(owner : *const ThisModule, ctx :\n*mut Opaque) -> i64");
    assert_eq!(name, "timer_add");
    assert_eq!(
        args,
        [
            ("owner".into(), "*const ThisModule".into()),
            ("ctx".into(), "*mut Opaque".into())
        ]
    );
    assert_eq!(ret.as_deref(), Some("i64"));
    assert_eq!(parse_signature("ktime_us() -> u64").1, []);
    assert_eq!(parse_signature("udelay(us : u64)").2, None);
}

/// The header compiles for AArch64 (its `_Static_assert`s hold for gcc's
/// layout) when Debian's cross compiler is installed.
#[test]
fn header_compiles_with_the_cross_compiler() {
    let cc = std::env::var("CROSS_CC").unwrap_or_else(|_| "aarch64-linux-gnu-gcc".into());
    let Ok(out) = std::process::Command::new(&cc)
        .args([
            "-fsyntax-only",
            "-ffreestanding",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-x",
            "c",
        ])
        .arg(header_path())
        .output()
    else {
        eprintln!("skipped: {cc} not found");
        return;
    };
    assert!(
        out.status.success(),
        "{cc} rejects kabi.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
