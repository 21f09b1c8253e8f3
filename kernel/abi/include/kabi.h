/* SPDX-License-Identifier: MIT OR Apache-2.0 */
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

/* printk(owner : *const ThisModule, level : u32, msg : *const u8, len : usize) */
#define KABI_CRC_printk 0x2d3a2783u
void __kabi_printk(const struct module *owner, uint32_t level, const char *msg, size_t len) __asm__("printk");

/* kmalloc(size : usize, align : usize) -> *mut u8 */
#define KABI_CRC_kmalloc 0x8948426au
void *kmalloc(size_t size, size_t align);

/* kfree(ptr : *mut u8, size : usize, align : usize) */
#define KABI_CRC_kfree 0x069e8ef3u
void kfree(void *ptr, size_t size, size_t align);

/* dma_alloc(size : usize, bus : *mut u64) -> *mut u8 */
#define KABI_CRC_dma_alloc 0x70b1aec2u
void *dma_alloc(size_t size, uint64_t *bus);

/* dma_free(ptr : *mut u8, size : usize) */
#define KABI_CRC_dma_free 0x7597fb3du
void dma_free(void *ptr, size_t size);

/* ioremap(phys : u64, size : usize) -> *mut u8 */
#define KABI_CRC_ioremap 0x481da6d2u
void *ioremap(uint64_t phys, size_t size);

/* iounmap(ptr : *mut u8, size : usize) */
#define KABI_CRC_iounmap 0x501bd360u
void iounmap(void *ptr, size_t size);

/* request_irq(owner : *const ThisModule, intid : u32, handler : IrqHandler, ctx : *mut Opaque, name : *const u8) -> i32 */
#define KABI_CRC_request_irq 0x07c8a3aau
int32_t request_irq(const struct module *owner, uint32_t intid, irq_handler_t handler, void *ctx, const char *name);

/* free_irq(owner : *const ThisModule, intid : u32) -> i32 */
#define KABI_CRC_free_irq 0x75823d6bu
int32_t free_irq(const struct module *owner, uint32_t intid);

/* irq_set_affinity(owner : *const ThisModule, intid : u32, cpu : u32) -> i32 */
#define KABI_CRC_irq_set_affinity 0xed4a8914u
int32_t irq_set_affinity(const struct module *owner, uint32_t intid, uint32_t cpu);

/* irq_inject(owner : *const ThisModule, intid : u32) -> i32 */
#define KABI_CRC_irq_inject 0x25e9f29cu
int32_t irq_inject(const struct module *owner, uint32_t intid);

/* timer_add(owner : *const ThisModule, delay_us : u64, period_us : u64, func : TimerFn, ctx : *mut Opaque) -> i64 */
#define KABI_CRC_timer_add 0x5f6bef45u
int64_t timer_add(const struct module *owner, uint64_t delay_us, uint64_t period_us, timer_fn_t func, void *ctx);

/* timer_del(owner : *const ThisModule, id : i64) -> i32 */
#define KABI_CRC_timer_del 0x8cca15bfu
int32_t timer_del(const struct module *owner, int64_t id);

/* virt_to_phys(addr : *const u8) -> u64 */
#define KABI_CRC_virt_to_phys 0x306e3379u
uint64_t virt_to_phys(const char *addr);

/* virt_to_phys_range(addr : *const u8, len : usize) -> u64 */
#define KABI_CRC_virt_to_phys_range 0xaf9a1736u
uint64_t virt_to_phys_range(const char *addr, size_t len);

/* local_irq_save() -> u64 */
#define KABI_CRC_local_irq_save 0x7de1500bu
uint64_t local_irq_save(void);

/* local_irq_restore(flags : u64) */
#define KABI_CRC_local_irq_restore 0x250f0432u
void local_irq_restore(uint64_t flags);

/* spin_lock_irqsave(lock : *mut RawSpinLock) -> u64 */
#define KABI_CRC_spin_lock_irqsave 0xac22895eu
uint64_t spin_lock_irqsave(struct spinlock *lock);

/* spin_unlock_irqrestore(lock : *mut RawSpinLock, flags : u64) */
#define KABI_CRC_spin_unlock_irqrestore 0xe0f26f26u
void spin_unlock_irqrestore(struct spinlock *lock, uint64_t flags);

/* queue_work_on(owner : *const ThisModule, cpu : i32, func : WorkFn, ctx : *mut Opaque) -> i64 */
#define KABI_CRC_queue_work_on 0x6d22f36fu
int64_t queue_work_on(const struct module *owner, int32_t cpu, work_fn_t func, void *ctx);

/* cancel_work_sync(owner : *const ThisModule, id : i64) -> i32 */
#define KABI_CRC_cancel_work_sync 0x26ba90b0u
int32_t cancel_work_sync(const struct module *owner, int64_t id);

/* smp_processor_id() -> u32 */
#define KABI_CRC_smp_processor_id 0x495e1478u
uint32_t smp_processor_id(void);

/* num_online_cpus() -> u32 */
#define KABI_CRC_num_online_cpus 0xaf4d3343u
uint32_t num_online_cpus(void);

/* udelay(us : u64) */
#define KABI_CRC_udelay 0x8e5cea30u
void udelay(uint64_t us);

/* ktime_us() -> u64 */
#define KABI_CRC_ktime_us 0x79f01efbu
uint64_t ktime_us(void);

/* cpu_wait_irq() */
#define KABI_CRC_cpu_wait_irq 0xa642c7b1u
void cpu_wait_irq(void);

/* dt_find_compatible(compatible : *const u8, index : u32, out : *mut DtDevice) -> i32 */
#define KABI_CRC_dt_find_compatible 0x2beea694u
int32_t dt_find_compatible(const char *compatible, uint32_t index, struct dt_device *out);

/* register_device(owner : *const ThisModule, desc : *const DeviceDesc) -> i32 */
#define KABI_CRC_register_device 0x32203e28u
int32_t register_device(const struct module *owner, const struct device_desc *desc);

/* unregister_device(owner : *const ThisModule, id : i32) -> i32 */
#define KABI_CRC_unregister_device 0x693dc120u
int32_t unregister_device(const struct module *owner, int32_t id);

/* register_filesystem(owner : *const ThisModule, name : *const u8, ops : *const FsOps) -> i32 */
#define KABI_CRC_register_filesystem 0x1f2967fbu
int32_t register_filesystem(const struct module *owner, const char *name, const struct fs_ops *ops);

/* unregister_filesystem(owner : *const ThisModule, id : i32) -> i32 */
#define KABI_CRC_unregister_filesystem 0x3bd100d7u
int32_t unregister_filesystem(const struct module *owner, int32_t id);

/* tty_receive(owner : *const ThisModule, id : i32, buf : *const u8, len : usize) */
#define KABI_CRC_tty_receive 0x1efa98eeu
void tty_receive(const struct module *owner, int32_t id, const char *buf, size_t len);

/* request_module(device : *const u8, alias : *const u8) -> i32 */
#define KABI_CRC_request_module 0xbfcb96e5u
int32_t request_module(const char *device, const char *alias);

/* module_panic(owner : *const ThisModule, msg : *const u8, len : usize) */
#define KABI_CRC_module_panic 0xf610d1cbu
void module_panic(const struct module *owner, const char *msg, size_t len);

/* printk_args: Rust modules only (not declared for C) */

/* module_panic_info: Rust modules only (not declared for C) */

/* panic_notifier_register(owner : *const ThisModule, func : PanicNotifier) */
/* Unsafe to unload: a module that imports this is pinned. */
#define KABI_CRC_panic_notifier_register 0x6fe15420u
void panic_notifier_register(const struct module *owner, panic_notifier_t func);

/* memcpy(dest : *mut Opaque, src : *const Opaque, n : usize) -> *mut Opaque */
#define KABI_CRC_memcpy 0x4934b688u
void *memcpy(void *dest, const void *src, size_t n);

/* memmove(dest : *mut Opaque, src : *const Opaque, n : usize) -> *mut Opaque */
#define KABI_CRC_memmove 0x709871c3u
void *memmove(void *dest, const void *src, size_t n);

/* memset(dest : *mut Opaque, c : i32, n : usize) -> *mut Opaque */
#define KABI_CRC_memset 0x8ce6ebf6u
void *memset(void *dest, int32_t c, size_t n);

/* memcmp(a : *const Opaque, b : *const Opaque, n : usize) -> i32 */
#define KABI_CRC_memcmp 0xa15a2c41u
int32_t memcmp(const void *a, const void *b, size_t n);

#define KABI_EXPORT_COUNT 41

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
