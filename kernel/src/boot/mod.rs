//! Boot sequence: device tree, page tables, memory, interrupts, timer.
//!
//! `early_init` runs with the MMU off (so it uses no locks and no heap), reads the
//! DTB, finds the console and RAM, maps everything and turns the MMU on.
//! `late_init` then brings up the log, allocators, GIC and tick, and records what
//! the machine's facts in [`crate::machine::BootInfo`].
//!
//! Room `boot`: uses every room below it; only `shell` sits above.

use crate::arch::mmu::{self, AddressSpace, Attr, Table};
use crate::arch::{cpu, irqchip};
use crate::irq::{self, time};
use crate::klog::Piece::{Bytes, Dec, Hex, Str};
use crate::linker_addr;
use crate::mm::layout::kernel_image;
use crate::{console, klog, mm};
use alloc::string::String;
use kcore::dt::PsciConduit;
use kcore::dtboot::BootNodes;
use kcore::memrange::{free_ranges, Range, RangeSet};

/// QEMU virt's PL011, used to report a missing DTB when no DTB can tell us better.
const FALLBACK_UART: usize = 0x0900_0000;
/// Devices larger than this (flash, PCI windows) are not mapped.
const MAX_DEVICE_MAP: u64 = 64 << 20;
const BOOT_TABLES: usize = 32;
/// Bytes of one CPU's stacks in the link script's `.stacks` (guard, kernel
/// stack, guard, exception stack).
const STACK_BLOCK: u64 = 0x16000;

/// Parsed before the MMU is on; handed to `late_init`.
pub struct EarlyInfo {
    nodes: BootNodes<'static>,
    /// The first GIC in the tree.
    gic: Option<kcore::dt::GicInfo>,
    dtb: &'static [u8],
    entry_el: u64,
    ram: RangeSet<8>,
    /// The virtual timer's INTID, found in the same pass over the devices.
    timer_irq: Option<u32>,
    /// The early console UART's first interrupt, from the same pass.
    uart_irq: Option<u32>,
    device_maps: RangeSet<64>,
}

#[repr(C, align(4096))]
struct TablePool([Table; BOOT_TABLES]);

struct BootTables {
    pool: core::cell::UnsafeCell<TablePool>,
    next: core::sync::atomic::AtomicUsize,
}

// SAFETY: used only by the boot CPU during `early_init`, before other CPUs run.
unsafe impl Sync for BootTables {}

static BOOT_PAGE_TABLES: BootTables = BootTables {
    pool: core::cell::UnsafeCell::new(TablePool([const { Table::zeroed() }; BOOT_TABLES])),
    next: core::sync::atomic::AtomicUsize::new(0),
};

fn boot_table() -> Option<*mut Table> {
    // Relaxed load/store rather than fetch_add: the MMU is off, and exclusive
    // accesses to Device memory are not guaranteed to work.
    let n = BOOT_PAGE_TABLES
        .next
        .load(core::sync::atomic::Ordering::Relaxed);
    if n >= BOOT_TABLES {
        return None;
    }
    BOOT_PAGE_TABLES
        .next
        .store(n + 1, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: each index is handed out once; the pool lives in BSS (zeroed).
    Some(unsafe { (*BOOT_PAGE_TABLES.pool.get()).0.as_mut_ptr().add(n) })
}

fn fail(msg: &str) -> ! {
    if console::early_base() == 0 {
        // SAFETY: with no DTB we can only guess QEMU virt's UART; writing to it is harmless if it is absent (the address is not RAM on virt).
        unsafe { console::init_early(FALLBACK_UART) };
    }
    console::emergency_write("\nKernel panic - not syncing: ");
    console::emergency_write(msg);
    console::emergency_write("\nSystem halted.\n");
    cpu::halt()
}

/// The kernel image by section (text RX, data RW, rodata R, bss RW) and every
/// CPU's stacks, each above an unmapped guard page (the link script's layout:
/// CPU n's block at __stacks_start + n * STACK_BLOCK).
fn map_image(map: &mut impl FnMut(Range, Attr, &str), kernel: Range) {
    let text_end = linker_addr!(__text_end) as u64;
    let data_end = linker_addr!(__data_end) as u64;
    let rodata_end = linker_addr!(__rodata_end) as u64;
    let bss_end = linker_addr!(__boot_stack_guard) as u64;
    map(
        Range::new(kernel.start, text_end),
        Attr::NormalRx,
        "cannot map kernel text",
    );
    map(
        Range::new(text_end, data_end),
        Attr::NormalRw,
        "cannot map kernel data",
    );
    map(
        Range::new(data_end, rodata_end),
        Attr::NormalRo,
        "cannot map kernel rodata",
    );
    map(
        Range::new(rodata_end, bss_end),
        Attr::NormalRw,
        "cannot map kernel bss",
    );
    let stacks = linker_addr!(__stacks_start) as u64;
    for cpu in 0..crate::arch::cpu::MAX_CPUS as u64 {
        let block = stacks + cpu * STACK_BLOCK;
        map(
            Range::new(block + 0x1000, block + 0x11000),
            Attr::NormalRw,
            "cannot map a kernel stack",
        );
        map(
            Range::new(block + 0x12000, block + STACK_BLOCK),
            Attr::NormalRw,
            "cannot map an exception stack",
        );
    }
    let after_stacks = Range::new(linker_addr!(__stacks_end) as u64, kernel.end);
    map(after_stacks, Attr::NormalRw, "cannot map kernel tail");
}

/// What [`device_ranges`] finds.
struct DeviceScan {
    /// Page-rounded ranges to map as devices.
    maps: RangeSet<64>,
    /// The virtual timer's INTID.
    timer_irq: Option<u32>,
    /// The first GIC.
    gic: Option<kcore::dt::GicInfo>,
    /// The first interrupt of the first node whose first `reg` starts at
    /// `uart` (the early console).
    uart_irq: Option<u32>,
}

/// Maps `r` at its own address with `attr`, or stops the boot saying `what`
/// failed. Out of line: boot maps a dozen ranges, and under TCG each inlined
/// copy would be translated again.
#[inline(never)]
fn map_identity(space: &mut AddressSpace, r: Range, attr: Attr, what: &str) {
    if r.is_empty() {
        return;
    }
    let mut alloc = boot_table;
    if let Err(e) = space.map(
        r.start as usize,
        r.start as usize,
        r.size() as usize,
        attr,
        &mut alloc,
    ) {
        // No heap yet: format on the stack.
        let mut msg = kcore::logring::LineBuf::<128>::new();
        let _ = core::fmt::Write::write_fmt(&mut msg, format_args!("{what}: {e:?}"));
        fail(msg.as_str());
    }
}

/// One pass over the device nodes serves the device mappings and the timer,
/// GIC and console-interrupt lookups (each pass costs milliseconds under TCG,
/// and a second walker, such as collecting `machine::devices`, is more code
/// to translate).
fn device_ranges(dtb: &[u8], ram: &RangeSet<8>, uart: Option<u64>) -> DeviceScan {
    let mut devices = RangeSet::<64>::new();
    let mut timer_irq = None;
    let mut gic = None;
    let mut uart_irq = None;
    let mut uart_seen = false;
    for d in kcore::dtwalk::devices(dtb) {
        if d.is_compatible("arm,armv8-timer") {
            timer_irq = d.irqs().get(2).copied();
        }
        if !uart_seen && uart.is_some() && d.regs().first().map(|r| r.start) == uart {
            uart_seen = true;
            uart_irq = d.irqs().first().copied();
        }
        if gic.is_none() {
            gic = kcore::dtwalk::gic_of(&d);
        }
        if d.is_compatible("cfi-flash") || d.has_compatible_prefix("pci") {
            continue;
        }
        for r in d.regs() {
            // A node whose reg has no size (a CPU's MPIDR under /cpus) is not
            // a device range: rounded out to pages, cpu@1 would map page 0.
            if r.is_empty() {
                continue;
            }
            let page = mmu::PAGE_SIZE as u64 - 1;
            let r = Range::new(r.start & !page, r.end.saturating_add(page) & !page);
            let in_ram = ram
                .as_slice()
                .iter()
                .any(|m| r.start < m.end && m.start < r.end);
            if !r.is_empty() && r.size() <= MAX_DEVICE_MAP && r.end <= 1 << mmu::VA_BITS && !in_ram
            {
                devices.push(r);
            }
        }
    }
    DeviceScan {
        maps: devices,
        timer_irq,
        gic,
        uart_irq,
    }
}

/// Reads the DTB, finds the console and RAM, maps memory and enables the MMU.
pub fn early_init(dtb_addr: usize, entry_el: u64) -> EarlyInfo {
    // The header is 40 bytes, big-endian magic 0xd00dfeed first.
    if dtb_addr == 0 || !dtb_addr.is_multiple_of(8) {
        fail("no device tree: x0 does not point to a DTB (boot with an arm64 Image so QEMU passes one)");
    }
    // SAFETY: QEMU passes the DTB's physical address in x0 (8-byte aligned, checked above); the MMU is off so the 40-byte header is directly readable.
    let header = unsafe { core::slice::from_raw_parts(dtb_addr as *const u8, 40) };
    let Some(total_size) = kcore::dtboot::total_size(header) else {
        fail("no device tree: x0 does not point to a valid DTB (bad magic or header)");
    };
    // SAFETY: the header says the DTB is `total_size` bytes; it stays in RAM we never hand out (reserved below).
    let dtb: &'static [u8] =
        unsafe { core::slice::from_raw_parts(dtb_addr as *const u8, total_size) };
    let nodes = BootNodes::scan(dtb);
    // The console: /chosen/stdout-path, else the first PL011 in the tree.
    let stdout = nodes
        .stdout_node_path()
        .and_then(|path| kcore::dtboot::first_reg(dtb, path))
        .or_else(|| {
            kcore::dtwalk::devices(dtb)
                .find(|d| d.is_compatible("arm,pl011"))
                .and_then(|d| d.regs().first().copied())
        });
    if let Some(uart) = stdout {
        // SAFETY: stdout-path names the UART; it is identity-mapped below.
        unsafe { console::init_early(uart.start as usize) };
    }
    let ram = kcore::dtwalk::memory(dtb);
    if ram.total() == 0 {
        fail("device tree has no /memory node: cannot find RAM");
    }

    // Page tables: RAM normal RW except the kernel image, mapped section by
    // section; devices from the DT as Device-nGnRE.
    let mut space = match boot_table() {
        // SAFETY: a fresh zeroed table from the boot pool, never reused.
        Some(root) => unsafe { AddressSpace::new(root) },
        None => fail("out of boot page tables"),
    };
    let kernel = kernel_image();
    let mut map = |r: Range, attr: Attr, what: &str| map_identity(&mut space, r, attr, what);
    for r in ram.as_slice() {
        let mut pieces = RangeSet::<4>::new();
        pieces.push(*r);
        pieces.subtract(kernel);
        for p in pieces.as_slice() {
            let p = p.align_inward(mmu::PAGE_SIZE as u64);
            if p.end as u128 <= 1u128 << mmu::VA_BITS {
                map(p, Attr::NormalRw, "cannot map RAM");
            }
        }
    }
    map_image(&mut map, kernel);

    let DeviceScan {
        maps: mut devices,
        timer_irq,
        gic,
        uart_irq,
    } = device_ranges(dtb, &ram, stdout.map(|r| r.start));
    devices.coalesce();
    for r in devices.as_slice() {
        map(*r, Attr::Device, "cannot map device");
    }
    // SAFETY: the space maps the running kernel (text, data, stacks) at their current (physical = virtual) addresses, the console and the DTB (in RAM).
    unsafe { mmu::enable(&space) };
    crate::mm::address_space::install(space);
    EarlyInfo {
        nodes,
        gic,
        dtb,
        entry_el,
        ram,
        timer_irq,
        uart_irq,
        device_maps: devices,
    }
}

/// Logging, memory, interrupts, timer. Runs with the MMU on.
pub fn late_init(early: EarlyInfo) {
    let nodes = &early.nodes;
    let bootargs = nodes.bootargs.unwrap_or("");
    // `quiet` is Linux's: console loglevel 4 (warnings and errors only).
    let loglevel = kcore::cmdline::get(bootargs, "loglevel")
        .and_then(|v| v.parse().ok())
        .or_else(|| kcore::cmdline::has(bootargs, "quiet").then_some(4));
    klog::init(loglevel);
    klog::info(&[
        Str("Booting kernel on "),
        Str(nodes.model.unwrap_or("unknown machine")),
        Str(" (entered at EL"),
        Dec(early.entry_el, 0, b' '),
        Str(", running at EL1)"),
    ]);
    klog::info(&[
        Str("Machine model: DTB at "),
        Hex(early.dtb.as_ptr() as u64, 0),
        Str(" ("),
        Dec(early.dtb.len() as u64, 0, b' '),
        Str(" bytes)"),
    ]);
    klog::info(&[Str("Kernel command line: "), Str(bootargs)]);

    // Memory: everything not in use by the image, the DTB, the initrd or
    // /memreserve/ entries.
    let kernel = kernel_image();
    let initrd = nodes.initrd();
    let mut reserved = RangeSet::<16>::new();
    reserved.push(kernel);
    reserved.push(Range::from_size(
        early.dtb.as_ptr() as u64,
        early.dtb.len() as u64,
    ));
    if let Some(r) = initrd {
        reserved.push(r);
    }
    for r in kcore::dtboot::memory_reservations(early.dtb) {
        reserved.push(r);
    }
    let free = free_ranges::<16>(
        early.ram.as_slice(),
        reserved.as_slice(),
        mm::PAGE_SIZE as u64,
    );
    for r in early.ram.as_slice() {
        log_range("Memory: [mem ", *r);
    }
    // SAFETY: `free` excludes everything in use and is mapped RW (early_init).
    if unsafe { mm::init(&early.ram, &free, kernel.size()) }.is_err() {
        crate::klog::oops::die("Out of memory: no RAM left for the kernel heap");
    }
    console::init_late();
    let signing = crate::module::signing::init(bootargs);
    klog::info(&[
        Str("module signing: SHA-256 "),
        Str(signing.sha256),
        Str(", enforcement "),
        Str(signing.enforcement),
    ]);
    let mi = mm::info();
    klog::info(&[
        Str("Memory: "),
        Bytes(mi.pages_total * mm::PAGE_SIZE as u64 + mi.heap_total),
        Str(" available ("),
        Bytes(kernel.size()),
        Str(" kernel image, "),
        Bytes(mi.reserved - kernel.size()),
        Str(" reserved), heap "),
        Bytes(mi.heap_total),
    ]);
    if let Some(r) = initrd {
        log_range("Initrd: [mem ", r);
    }

    let Some(gic) = early.gic else {
        crate::klog::oops::die("no GIC (arm,cortex-a15-gic or arm,gic-v3) in the device tree");
    };
    // SAFETY: the GIC frames come from the DT and were mapped as device memory; IRQs are still masked and only this CPU runs.
    unsafe { irqchip::init(gic) };
    klog::info(&[
        Str("GICv"),
        Dec(irqchip::version() as u64, 0, b' '),
        Str(": "),
        Dec(irqchip::max_intid() as u64, 0, b' '),
        Str(" interrupt lines"),
    ]);
    // PPI 11 (INTID 27) is the architected virtual timer (Arm BSA).
    let timer_irq = early.timer_irq.unwrap_or(27);
    if let Err(e) = irq::request(
        timer_irq,
        irq::Handler::Kernel(time::tick),
        0,
        irq::Name::Kernel("arch_timer"),
        irq::Owner::Kernel,
    ) {
        log::error!("timer: {e}");
    }
    time::start_tick();
    cpu::irq_enable();
    klog::info(&[
        Str("arch_timer: cp15 timer running at "),
        Dec(time::frequency() / 1_000_000, 0, b' '),
        Str("."),
        Dec(time::frequency() / 10_000 % 100, 2, b'0'),
        Str("MHz (virt), tick "),
        Dec(time::TICK_HZ, 0, b' '),
        Str(" Hz, irq "),
        Dec(timer_irq as u64, 0, b' '),
    ]);
    let psci = nodes.psci;
    match psci {
        Some(c) => klog::info(&[
            Str("psci: using PSCI v0.2+ via "),
            Str(if c == PsciConduit::Hvc { "hvc" } else { "smc" }),
        ]),
        None => log::warn!("psci: no /psci node: poweroff and reboot will halt instead"),
    }
    let panic_timeout = kcore::cmdline::get(bootargs, "panic").and_then(|v| v.parse().ok());
    crate::machine::set_boot_info(crate::machine::BootInfo {
        dtb: early.dtb,
        entry_el: early.entry_el,
        bootargs: String::from(bootargs),
        psci,
        panic_timeout,
        ram: early.ram.clone(),
        initrd,
        gic,
        timer_irq,
        device_maps: early.device_maps.clone(),
        cpus: nodes.cpus().to_vec(),
        cpus_described: nodes.cpus_described(),
    });
    // Typed input wakes the shell from now on (the DT names the UART's IRQ).
    console::init_early_irq(early.uart_irq);
    klog::info(&[
        Str("Boot took "),
        Dec(time::micros(), 0, b' '),
        Str(" us ("),
        Dec(time::ticks_since_boot(), 0, b' '),
        Str(" counter ticks at "),
        Dec(time::frequency(), 0, b' '),
        Str(" Hz)"),
    ]);
}

/// `WHAT[mem 0x...-0x...] SIZE`, as Linux logs a physical range.
fn log_range(what: &str, r: Range) {
    klog::info(&[
        Str(what),
        Hex(r.start, 18),
        Str("-"),
        Hex(r.end - 1, 18),
        Str("] "),
        Bytes(r.size()),
    ]);
}
