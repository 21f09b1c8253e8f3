//! The Arm Generic Interrupt Controller, v2 or v3, whichever the device tree names.
//!
//! `init` sets up the distributor and the boot CPU's interface; every other
//! CPU sets up its own interface (GICv2 GICC and the banked SGI/PPI registers,
//! GICv3 its redistributor and ICC system registers) with `init_cpu`. SPIs are
//! routed to the boot CPU for now. All interrupts are Group 1 (QEMU virt runs the GIC with security disabled, so
//! GICD_CTLR.DS = 1 and Group 1 is what EL1 acknowledges), priority 0xa0, and the
//! CPU priority mask lets everything above 0xf0 through. Register offsets: GICv2
//! architecture spec (IHI 0048B) 4.1.2 and 4.1.3; GICv3 (IHI 0069H) 12.8, 12.10
//! and 12.11.

use aarch64_cpu::asm::barrier;
use core::arch::asm;
use kcore::dt::GicInfo;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// Distributor (GICD), common to v2 and v3.
    GicdRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => _reserved1),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 256]),
        (0x0800 => itargetsr: [ReadWrite<u32>; 256]),
        (0x0c00 => icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved2),
        (0x0f00 => sgir: WriteOnly<u32>),
        (0x0f04 => _reserved_sgi),
        (0x6100 => irouter: [ReadWrite<u64>; 988]),
        (0x7fe0 => _reserved3),
        (0x10000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface (GICC).
    GiccRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => pmr: ReadWrite<u32>),
        (0x0008 => bpr: ReadWrite<u32>),
        (0x000c => iar: ReadOnly<u32>),
        (0x0010 => eoir: WriteOnly<u32>),
        (0x0014 => _reserved),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor: RD_base frame then SGI_base frame.
    GicrRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => iidr: ReadOnly<u32>),
        (0x0008 => typer: ReadOnly<u64>),
        (0x0010 => _reserved0),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => _reserved1),
        (0x10080 => igroupr0: ReadWrite<u32>),
        (0x10084 => _reserved2),
        (0x10100 => isenabler0: ReadWrite<u32>),
        (0x10104 => _reserved3),
        (0x10180 => icenabler0: ReadWrite<u32>),
        (0x10184 => _reserved4),
        (0x10400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x10420 => _reserved5),
        (0x20000 => @END),
    }
}

const PRIORITY: u8 = 0xa0;
/// Four priority (or target) bytes per 32-bit register write: a quarter of the
/// MMIO accesses, each of which is an exit to the device model under QEMU.
const PRIORITY_X4: u32 = u32::from_ne_bytes([PRIORITY; 4]);
const TARGET_CPU0_X4: u32 = 0x0101_0101;
const PRIORITY_MASK: u32 = 0xf0;
/// INTIDs 1020..1023 are special; 1023 means "no pending interrupt".
pub const SPURIOUS: u32 = 1020;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_FRAME: usize = 0x20000;

enum Gic {
    V2 {
        gicd: &'static GicdRegs,
        gicc: &'static GiccRegs,
    },
    V3 {
        gicd: &'static GicdRegs,
        /// The redistributor frames (every CPU's, one after the other).
        gicr: (usize, usize),
    },
}

static mut GIC: Option<Gic> = None;

/// Each CPU's own GICv3 redistributor, by CPU number (set by that CPU).
static GICR: [core::sync::atomic::AtomicUsize; super::cpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicUsize::new(0) }; super::cpu::MAX_CPUS];

/// How to address each CPU with an SGI, by CPU number: its GICv2 CPU
/// interface bit (GICD_ITARGETSR0 read on that CPU), or its GICv3 affinity.
static SGI_TARGET: [core::sync::atomic::AtomicU64; super::cpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; super::cpu::MAX_CPUS];

/// Sends software-generated interrupt `sgi` (0..15) to CPU `cpu`.
pub fn send_sgi(cpu: usize, sgi: u32) {
    let Some(target) = SGI_TARGET.get(cpu) else {
        return;
    };
    let target = target.load(core::sync::atomic::Ordering::Acquire);
    barrier::dsb(barrier::ISHST);
    match gic() {
        // GICD_SGIR (IHI 0048B 4.3.15): TargetListFilter 0 (the list),
        // CPUTargetList [23:16], SGIINTID [3:0].
        Some(Gic::V2 { gicd, .. }) => gicd.sgir.set(((target as u32 & 0xff) << 16) | (sgi & 0xf)),
        // ICC_SGI1R_EL1 (IHI 0069H 12.11.29): Aff3 [55:48], Aff2 [39:32],
        // INTID [27:24], Aff1 [23:16], TargetList [15:0] (bit Aff0).
        Some(Gic::V3 { .. }) => {
            let aff0 = target & 0xf;
            let aff1 = (target >> 8) & 0xff;
            let aff2 = (target >> 16) & 0xff;
            let aff3 = (target >> 32) & 0xff;
            let v = (aff3 << 48)
                | (aff2 << 32)
                | ((sgi as u64 & 0xf) << 24)
                | (aff1 << 16)
                | (1 << aff0);
            // SAFETY: writing ICC_SGI1R_EL1 only signals an SGI.
            unsafe { asm!("msr S3_0_C12_C11_5, {}", "isb", in(reg) v, options(nostack)) };
        }
        None => {}
    }
}

/// This CPU's redistributor (GICv3), once its `init_cpu` (or `init`) ran.
fn my_gicr() -> Option<&'static GicrRegs> {
    let addr = GICR
        .get(super::cpu::id())?
        .load(core::sync::atomic::Ordering::Acquire);
    // SAFETY: only ever set to a redistributor frame inside the mapped GICR range, found for this CPU by `init_cpu_v3`.
    (addr != 0).then(|| unsafe { &*(addr as *const GicrRegs) })
}

fn gic() -> Option<&'static Gic> {
    // SAFETY: written once in `init` on the boot CPU before IRQs are unmasked.
    unsafe { (*core::ptr::addr_of!(GIC)).as_ref() }
}

/// Which GIC version is running, for the boot log.
pub fn version() -> u8 {
    match gic() {
        Some(Gic::V2 { .. }) => 2,
        Some(Gic::V3 { .. }) => 3,
        None => 0,
    }
}

/// Number of interrupt IDs the distributor implements (GICD_TYPER.ITLinesNumber).
pub fn max_intid() -> u32 {
    match gic() {
        Some(Gic::V2 { gicd, .. }) | Some(Gic::V3 { gicd, .. }) => {
            ((gicd.typer.get() & 0x1f) + 1) * 32
        }
        None => 0,
    }
}

/// Initialises the distributor and this CPU's interface.
///
/// # Safety
/// The register ranges in `info` must be mapped as device memory and describe the
/// real GIC; called once, on the boot CPU, with IRQs masked.
pub unsafe fn init(info: GicInfo) {
    match info {
        GicInfo::V2 { gicd, gicc } => {
            // SAFETY: the caller guarantees these ranges are the mapped GIC frames.
            let (gicd, gicc) = unsafe {
                (
                    &*(gicd.start as *const GicdRegs),
                    &*(gicc.start as *const GiccRegs),
                )
            };
            gicd.ctlr.set(0);
            let lines = ((gicd.typer.get() & 0x1f) + 1) * 32;
            for i in 0..lines as usize / 4 {
                gicd.ipriorityr[i].set(PRIORITY_X4);
                if i >= 8 {
                    gicd.itargetsr[i].set(TARGET_CPU0_X4);
                }
            }
            for i in 0..(lines as usize / 32) {
                gicd.icenabler[i].set(u32::MAX);
                gicd.igroupr[i].set(0);
            }
            gicd.ctlr.set(1);
            // SAFETY: single writer at boot (see `gic`).
            unsafe { GIC = Some(Gic::V2 { gicd, gicc }) };
            init_cpu_v2(gicd, gicc);
        }
        GicInfo::V3 { gicd, gicr } => {
            // SAFETY: the caller guarantees these ranges are the mapped GIC frames.
            let gicd_regs = unsafe { &*(gicd.start as *const GicdRegs) };
            gicd_regs.ctlr.set(0);
            wait_rwp(gicd_regs);
            let lines = ((gicd_regs.typer.get() & 0x1f) + 1) * 32;
            for i in 1..(lines as usize / 32) {
                gicd_regs.icenabler[i].set(u32::MAX);
                gicd_regs.igroupr[i].set(u32::MAX);
            }
            let me = super::cpu::affinity();
            for i in 8..lines as usize / 4 {
                gicd_regs.ipriorityr[i].set(PRIORITY_X4);
            }
            for i in 32..lines as usize {
                gicd_regs.irouter[i - 32].set(me);
            }
            // GICD_CTLR (DS=1 view): ARE (bit 4), EnableGrp1 (bit 1).
            gicd_regs.ctlr.set((1 << 4) | (1 << 1));
            wait_rwp(gicd_regs);
            let frames = (gicr.start as usize, gicr.end as usize);
            // SAFETY: single writer at boot (see `gic`).
            unsafe {
                GIC = Some(Gic::V3 {
                    gicd: gicd_regs,
                    gicr: frames,
                })
            };
            if !init_cpu_v3(frames) {
                log::error!("GICv3: no redistributor for affinity {me:#x}");
            }
        }
    }
}

/// Sets up the calling CPU's side of the GIC (not the boot CPU's: `init` did
/// that). Returns false when this CPU has no redistributor (GICv3).
///
/// # Safety
/// `init` ran; called once on each secondary CPU, with its IRQs masked.
pub unsafe fn init_cpu() -> bool {
    match gic() {
        Some(Gic::V2 { gicd, gicc }) => {
            init_cpu_v2(gicd, gicc);
            true
        }
        Some(Gic::V3 { gicr, .. }) => init_cpu_v3(*gicr),
        None => false,
    }
}

/// GICv2: the banked SGI/PPI registers of the distributor and the CPU
/// interface are this CPU's own copies at the common addresses.
fn init_cpu_v2(gicd: &GicdRegs, gicc: &GiccRegs) {
    for i in 0..8 {
        gicd.ipriorityr[i].set(PRIORITY_X4);
    }
    gicd.icenabler[0].set(u32::MAX);
    gicd.igroupr[0].set(0);
    gicc.pmr.set(PRIORITY_MASK);
    gicc.bpr.set(0);
    gicc.ctlr.set(1);
    // ITARGETSR0's first byte reads as this CPU's own interface bit.
    let me = (gicd.itargetsr[0].get() & 0xff) as u64;
    if let Some(slot) = SGI_TARGET.get(super::cpu::id()) {
        slot.store(me, core::sync::atomic::Ordering::Release);
    }
}

/// GICv3: finds the calling CPU's redistributor among `frames` by affinity
/// (GICR_TYPER[63:32]), wakes it, configures its SGIs/PPIs, then turns on the
/// system-register CPU interface.
fn init_cpu_v3(frames: (usize, usize)) -> bool {
    let me = super::cpu::affinity();
    let mut frame = frames.0;
    let mine = loop {
        // SAFETY: frames lie inside the mapped GICR range (checked below).
        let r = unsafe { &*(frame as *const GicrRegs) };
        let typer = r.typer.get();
        if typer >> 32 == me & 0xff_ffff | (me >> 32) << 24 {
            break Some(r);
        }
        if typer & GICR_TYPER_LAST != 0 || frame + 2 * GICR_FRAME > frames.1 {
            break None;
        }
        frame += GICR_FRAME;
    };
    let Some(gicr_regs) = mine else {
        return false;
    };
    gicr_regs
        .waker
        .set(gicr_regs.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
    while gicr_regs.waker.get() & GICR_WAKER_CHILDREN_ASLEEP != 0 {
        crate::arch::cpu::relax();
    }
    gicr_regs.igroupr0.set(u32::MAX);
    gicr_regs.icenabler0.set(u32::MAX);
    for i in 0..8 {
        gicr_regs.ipriorityr[i].set(PRIORITY_X4);
    }
    if let Some(slot) = GICR.get(super::cpu::id()) {
        slot.store(frame, core::sync::atomic::Ordering::Release);
    }
    if let Some(slot) = SGI_TARGET.get(super::cpu::id()) {
        slot.store(me, core::sync::atomic::Ordering::Release);
    }
    // CPU interface through system registers (ICC_*_EL1).
    // SAFETY: EL2 (if present) enabled ICC_SRE_EL2.Enable in boot.rs; these writes only configure this CPU's interface.
    unsafe {
        asm!(
            "mrs {t}, S3_0_C12_C12_5",    // ICC_SRE_EL1
            "orr {t}, {t}, #1",           // SRE
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "msr S3_0_C4_C6_0, {pmr}",    // ICC_PMR_EL1
            "msr S3_0_C12_C12_3, xzr",    // ICC_BPR1_EL1
            "mov {t}, #1",
            "msr S3_0_C12_C12_7, {t}",    // ICC_IGRPEN1_EL1
            "isb",
            t = out(reg) _,
            pmr = in(reg) PRIORITY_MASK as u64,
            options(nostack)
        )
    };
    true
}

fn wait_rwp(gicd: &GicdRegs) {
    // GICD_CTLR.RWP (bit 31): register write pending.
    while gicd.ctlr.get() & (1 << 31) != 0 {
        crate::arch::cpu::relax();
    }
}

/// Routes shared peripheral interrupt `intid` (32 and up) to CPU `cpu`
/// (GICv2 GICD_ITARGETSR byte, GICv3 GICD_IROUTER affinity). No-op for SGIs
/// and PPIs, which are per CPU.
pub fn set_target(intid: u32, cpu: usize) {
    let Some(target) = SGI_TARGET.get(cpu) else {
        return;
    };
    let target = target.load(core::sync::atomic::Ordering::Acquire);
    if intid < 32 {
        return;
    }
    match gic() {
        Some(Gic::V2 { gicd, .. }) => {
            if let Some(r) = gicd.itargetsr.get(intid as usize / 4) {
                let shift = (intid % 4) * 8;
                let v = (r.get() & !(0xff << shift)) | (((target as u32) & 0xff) << shift);
                r.set(v);
            }
        }
        Some(Gic::V3 { gicd, .. }) => {
            if let Some(r) = gicd.irouter.get(intid as usize - 32) {
                r.set(target);
            }
        }
        None => {}
    }
}

/// Enables delivery of `intid` to this CPU.
pub fn enable(intid: u32) {
    let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match gic() {
        Some(Gic::V2 { gicd, .. }) => {
            if let Some(r) = gicd.isenabler.get(word) {
                r.set(bit)
            }
        }
        Some(Gic::V3 { gicd, .. }) => {
            if intid < 32 {
                if let Some(gicr) = my_gicr() {
                    gicr.isenabler0.set(bit);
                }
            } else if let Some(r) = gicd.isenabler.get(word) {
                r.set(bit)
            }
        }
        None => {}
    }
}

/// Disables delivery of `intid`.
pub fn disable(intid: u32) {
    let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match gic() {
        Some(Gic::V2 { gicd, .. }) => {
            if let Some(r) = gicd.icenabler.get(word) {
                r.set(bit)
            }
        }
        Some(Gic::V3 { gicd, .. }) => {
            if intid < 32 {
                if let Some(gicr) = my_gicr() {
                    gicr.icenabler0.set(bit);
                }
            } else if let Some(r) = gicd.icenabler.get(word) {
                r.set(bit)
            }
        }
        None => {}
    }
    barrier::dsb(barrier::SY);
}

/// Makes shared peripheral interrupt `intid` (32 and up) pending, as if its
/// device had signalled it, so that the CPU it is routed to takes it once it
/// is enabled. GICD_ISPENDR<n> (IHI 0048B 4.3.7; IHI 0069H 12.9.20, the
/// distributor's copy with ARE set, for SPIs): writing 1 sets the pending
/// latch of a level-sensitive interrupt too, which acknowledging clears.
/// Nothing in the kernel needs this but the `irq_inject` test export. Returns
/// false for an SGI or PPI (per CPU) or a line the distributor lacks.
pub fn set_pending(intid: u32) -> bool {
    if intid < 32 || intid >= max_intid() {
        return false;
    }
    let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match gic() {
        Some(Gic::V2 { gicd, .. }) | Some(Gic::V3 { gicd, .. }) => match gicd.ispendr.get(word) {
            Some(r) => {
                barrier::dsb(barrier::ISHST);
                r.set(bit);
                true
            }
            None => false,
        },
        None => false,
    }
}

/// Clears the pending latch of shared peripheral interrupt `intid` (32 and
/// up): GICD_ICPENDR<n> (IHI 0048B 4.3.8; IHI 0069H 12.9.10). A pending state
/// nobody will acknowledge (a line disabled while pending, or made pending
/// by `set_pending`) would otherwise be taken by the line's next owner as
/// soon as it enables it. A level-sensitive device still asserting its line
/// makes it pending again. False for an SGI or PPI or a line the distributor
/// lacks.
pub fn clear_pending(intid: u32) -> bool {
    if intid < 32 || intid >= max_intid() {
        return false;
    }
    let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match gic() {
        Some(Gic::V2 { gicd, .. }) | Some(Gic::V3 { gicd, .. }) => match gicd.icpendr.get(word) {
            Some(r) => {
                r.set(bit);
                barrier::dsb(barrier::SY);
                true
            }
            None => false,
        },
        None => false,
    }
}

/// Acknowledges the highest-priority pending interrupt; `None` if spurious.
pub fn acknowledge() -> Option<u32> {
    let id = match gic()? {
        Gic::V2 { gicc, .. } => gicc.iar.get() & 0x3ff,
        Gic::V3 { .. } => {
            let v: u64;
            // SAFETY: reading ICC_IAR1_EL1 acknowledges one interrupt; the caller signals its end with `end_of_interrupt`.
            unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) v, options(nostack)) };
            barrier::dsb(barrier::SY);
            (v & 0xff_ffff) as u32
        }
    };
    (id < SPURIOUS).then_some(id)
}

/// Signals the end of handling `intid`.
pub fn end_of_interrupt(intid: u32) {
    match gic() {
        Some(Gic::V2 { gicc, .. }) => gicc.eoir.set(intid),
        Some(Gic::V3 { .. }) => {
            // SAFETY: writing ICC_EOIR1_EL1 drops the running priority for an interrupt this CPU acknowledged.
            unsafe { asm!("msr S3_0_C12_C12_1, {}", in(reg) intid as u64, options(nostack)) };
        }
        None => {}
    }
}
