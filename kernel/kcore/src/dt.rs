//! Device-tree queries the kernel needs, over the `fdt` crate.
//!
//! The DTB is the only source of truth for memory, devices, interrupts, bootargs and
//! the initrd. Its bytes are untrusted: everything here returns `Option`/empty
//! results for missing or malformed properties instead of relying on the `fdt`
//! crate's panicking conveniences (`Fdt::memory()`, `Fdt::chosen()`, which
//! `expect` their nodes): a DTB without `/memory` must yield a clear message from
//! the kernel, not a panic inside a library.

use crate::memrange::{Range, RangeSet};
use fdt::node::FdtNode;
use fdt::Fdt;

/// Maximum `reg` entries and interrupts kept per device.
pub const MAX_REGS: usize = 4;
pub const MAX_IRQS: usize = 4;

/// How PSCI calls reach the firmware (`/psci` `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciConduit {
    Hvc,
    Smc,
}

/// The interrupt controller the DTB names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GicInfo {
    /// `arm,cortex-a15-gic` / `arm,gic-400`: distributor and CPU interface.
    V2 { gicd: Range, gicc: Range },
    /// `arm,gic-v3`: distributor and redistributor region.
    V3 { gicd: Range, gicr: Range },
}

/// One device node: what `devices` prints and what drivers are matched on.
#[derive(Debug, Clone, Copy)]
pub struct Device<'a> {
    pub name: &'a str,
    /// The raw `compatible` list (NUL-separated strings).
    pub compatible: &'a [u8],
    pub regs: [Range; MAX_REGS],
    pub nregs: usize,
    /// GIC interrupt IDs (INTID: SPI n is 32+n, PPI n is 16+n).
    pub irqs: [u32; MAX_IRQS],
    pub nirqs: usize,
}

impl<'a> Device<'a> {
    pub fn regs(&self) -> &[Range] {
        &self.regs[..self.nregs]
    }

    pub fn irqs(&self) -> &[u32] {
        &self.irqs[..self.nirqs]
    }

    /// The compatible strings, most specific first.
    pub fn compatibles(&self) -> impl Iterator<Item = &'a str> {
        self.compatible
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    pub fn is_compatible(&self, with: &str) -> bool {
        self.has_compatible(with.as_bytes(), false)
    }

    /// Whether one compatible string is exactly the bytes `with` (a name a
    /// module passed, not checked as UTF-8: bytes that are not match none).
    pub fn is_compatible_bytes(&self, with: &[u8]) -> bool {
        self.has_compatible(with, false)
    }

    /// Whether a compatible string starts with `prefix`.
    pub fn has_compatible_prefix(&self, prefix: &str) -> bool {
        self.has_compatible(prefix.as_bytes(), true)
    }

    /// One copy of the search behind both queries: boot asks it for several
    /// names per device, and under QEMU's TCG each inlined copy of the
    /// split-and-validate loop would be translated again.
    ///
    /// Compared as bytes: an entry equal to `with` needs no UTF-8 check, so
    /// only a prefix match is checked for it; checking every entry as UTF-8 first
    /// cost ~70 instructions an entry, and `dt_find_compatible` runs this on
    /// every device for each of the 32 virtio-mmio slots.
    #[inline(never)]
    fn has_compatible(&self, with: &[u8], prefix: bool) -> bool {
        self.compatible.split(|&b| b == 0).any(|c| {
            if prefix {
                !c.is_empty() && c.starts_with(with) && core::str::from_utf8(c).is_ok()
            } else {
                !c.is_empty() && c == with
            }
        })
    }
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Reads a 1- or 2-cell number (the property's length decides).
fn be_cells(b: &[u8]) -> Option<u64> {
    match b.len() {
        4 => be_u32(b).map(u64::from),
        8 => Some(u64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn reg_ranges(node: &FdtNode<'_, '_>) -> ([Range; MAX_REGS], usize) {
    let mut regs = [Range::default(); MAX_REGS];
    let mut n = 0;
    if let Some(iter) = node.reg() {
        for r in iter.take(MAX_REGS) {
            let start = r.starting_address as u64;
            regs[n] = Range::from_size(start, r.size.unwrap_or(0) as u64);
            n += 1;
        }
    }
    (regs, n)
}

/// All RAM from every `device_type = "memory"` node. Empty when there is none.
pub fn memory(fdt: &Fdt<'_>) -> RangeSet<8> {
    let mut set = RangeSet::new();
    for node in fdt.all_nodes() {
        let is_memory = node
            .property("device_type")
            .and_then(|p| p.as_str())
            .is_some_and(|s| s == "memory");
        if !is_memory {
            continue;
        }
        let (regs, n) = reg_ranges(&node);
        for r in &regs[..n] {
            set.push(*r);
        }
    }
    set
}

/// `/chosen/bootargs`, if present and valid text.
pub fn bootargs<'a>(fdt: &Fdt<'a>) -> Option<&'a str> {
    fdt.find_node("/chosen")?
        .property("bootargs")?
        .as_str()
        .map(|s| s.trim_end_matches('\0'))
}

/// The initrd from `/chosen` `linux,initrd-start`/`-end` (32- or 64-bit cells).
pub fn initrd(fdt: &Fdt<'_>) -> Option<Range> {
    let chosen = fdt.find_node("/chosen")?;
    let start = be_cells(chosen.property("linux,initrd-start")?.value)?;
    let end = be_cells(chosen.property("linux,initrd-end")?.value)?;
    (end > start).then_some(Range::new(start, end))
}

/// The node `/chosen/stdout-path` names (a path or an alias, `:options` ignored).
pub fn stdout<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    let path = fdt
        .find_node("/chosen")?
        .property("stdout-path")?
        .as_str()?;
    let path = path.trim_end_matches('\0');
    let path = path.split(':').next()?;
    if path.starts_with('/') {
        fdt.find_node(path)
    } else {
        let alias = fdt.find_node("/aliases")?.property(path)?.as_str()?;
        fdt.find_node(alias.trim_end_matches('\0'))
    }
}

/// First `reg` range of a node.
pub fn first_reg(node: &FdtNode<'_, '_>) -> Option<Range> {
    let (regs, n) = reg_ranges(node);
    (n > 0).then_some(regs[0])
}

/// The PSCI conduit, if `/psci` exists.
pub fn psci_conduit(fdt: &Fdt<'_>) -> Option<PsciConduit> {
    let node = fdt.find_node("/psci")?;
    match node.property("method")?.as_str()?.trim_end_matches('\0') {
        "hvc" => Some(PsciConduit::Hvc),
        "smc" => Some(PsciConduit::Smc),
        _ => None,
    }
}

/// The GIC, by compatible.
pub fn gic(fdt: &Fdt<'_>) -> Option<GicInfo> {
    for node in fdt.all_nodes() {
        let Some(compat) = node.compatible() else {
            continue;
        };
        let (regs, n) = reg_ranges(&node);
        if n < 2 {
            continue;
        }
        if compat.all().any(|c| c == "arm,gic-v3") {
            return Some(GicInfo::V3 {
                gicd: regs[0],
                gicr: regs[1],
            });
        }
        if compat.all().any(|c| {
            matches!(
                c,
                "arm,cortex-a15-gic" | "arm,gic-400" | "arm,cortex-a9-gic"
            )
        }) {
            return Some(GicInfo::V2 {
                gicd: regs[0],
                gicc: regs[1],
            });
        }
    }
    None
}

/// Converts one GIC interrupt specifier to an INTID (GIC binding: cell 0 is 0 for
/// SPI, 1 for PPI; cell 1 the number).
pub(crate) fn gic_intid(cells: &[u32]) -> Option<u32> {
    match cells {
        [0, n, ..] => n.checked_add(32),
        [1, n, ..] => n.checked_add(16),
        [n] => Some(*n),
        _ => None,
    }
}

/// Remembers the last interrupt parent resolved: on QEMU virt every node shares
/// the root's, and resolving a phandle walks the whole tree, which made listing
/// devices quadratic (15 ms of boot in TCG before this cache).
#[derive(Default)]
struct CellsCache {
    root_parent: Option<Option<u32>>,
    last: Option<(u32, Option<usize>)>,
}

impl CellsCache {
    fn cells(&mut self, fdt: &Fdt<'_>, node: &FdtNode<'_, '_>) -> Option<usize> {
        let phandle = match node.property("interrupt-parent") {
            Some(p) => be_u32(p.value)?,
            None => {
                (*self.root_parent.get_or_insert_with(|| {
                    be_u32(fdt.find_node("/")?.property("interrupt-parent")?.value)
                }))?
            }
        };
        if let Some((p, cells)) = self.last {
            if p == phandle {
                return cells;
            }
        }
        let cells = fdt.find_phandle(phandle).and_then(|n| n.interrupt_cells());
        self.last = Some((phandle, cells));
        cells
    }
}

fn irqs_of(
    fdt: &Fdt<'_>,
    node: &FdtNode<'_, '_>,
    cache: &mut CellsCache,
) -> ([u32; MAX_IRQS], usize) {
    let mut out = [0u32; MAX_IRQS];
    let mut n = 0;
    let Some(prop) = node.property("interrupts") else {
        return (out, 0);
    };
    let Some(cells) = cache.cells(fdt, node) else {
        return (out, 0);
    };
    if cells == 0 || cells > 4 {
        return (out, 0);
    }
    for spec in prop.value.chunks_exact(cells * 4) {
        let mut c = [0u32; 4];
        for (i, w) in spec.chunks_exact(4).enumerate() {
            c[i] = be_u32(w).unwrap_or(0);
        }
        if let Some(id) = gic_intid(&c[..cells]) {
            if n < MAX_IRQS {
                out[n] = id;
                n += 1;
            }
        }
    }
    (out, n)
}

/// Every node with a `compatible` property, in tree order.
pub fn devices<'b, 'a>(fdt: &'b Fdt<'a>) -> impl Iterator<Item = Device<'a>> + 'b {
    // The interrupt controller a node's interrupts go to is its own
    // `interrupt-parent`, else the root's (QEMU puts it there).
    let mut cache = CellsCache::default();
    fdt.all_nodes().filter_map(move |node| {
        let compatible = node.property("compatible")?.value;
        let (regs, nregs) = reg_ranges(&node);
        let (irqs, nirqs) = irqs_of(fdt, &node, &mut cache);
        Some(Device {
            name: node.name,
            compatible,
            regs,
            nregs,
            irqs,
            nirqs,
        })
    })
}

/// The virtual timer's INTID (`arm,armv8-timer`, third interrupt), if described.
pub fn virtual_timer_irq(fdt: &Fdt<'_>) -> Option<u32> {
    devices(fdt)
        .find(|d| d.is_compatible("arm,armv8-timer"))
        .and_then(|d| d.irqs().get(2).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &[u8] = include_bytes!("../testdata/virt-gicv2.dtb");
    const V3: &[u8] = include_bytes!("../testdata/virt-gicv3-el2.dtb");
    const NOMEM: &[u8] = include_bytes!("../testdata/virt-nomem.dtb");

    #[test]
    fn reads_memory_chosen_and_psci_from_qemu_virt() {
        let fdt = Fdt::new(V2).unwrap();
        assert_eq!(
            memory(&fdt).as_slice(),
            [Range::from_size(0x4000_0000, 256 << 20)]
        );
        assert_eq!(bootargs(&fdt), Some("loglevel=7 quiet"));
        assert_eq!(initrd(&fdt), Some(Range::new(0x4800_0000, 0x4800_0003)));
        assert_eq!(stdout(&fdt).unwrap().name, "pl011@9000000");
        assert_eq!(psci_conduit(&fdt), Some(PsciConduit::Hvc));
        let fdt3 = Fdt::new(V3).unwrap();
        assert_eq!(psci_conduit(&fdt3), Some(PsciConduit::Smc));
        assert_eq!(memory(&fdt3).total(), 2 << 30);
        assert_eq!(initrd(&fdt3), None);
    }

    #[test]
    fn finds_gic_v2_and_v3() {
        let fdt = Fdt::new(V2).unwrap();
        assert_eq!(
            gic(&fdt),
            Some(GicInfo::V2 {
                gicd: Range::from_size(0x800_0000, 0x1_0000),
                gicc: Range::from_size(0x801_0000, 0x1_0000),
            })
        );
        let fdt = Fdt::new(V3).unwrap();
        assert!(matches!(gic(&fdt), Some(GicInfo::V3 { gicd, .. }) if gicd.start == 0x800_0000));
    }

    #[test]
    fn devices_have_regs_and_intids() {
        let fdt = Fdt::new(V2).unwrap();
        let uart = devices(&fdt)
            .find(|d| d.is_compatible("arm,pl011"))
            .unwrap();
        assert_eq!(uart.regs(), [Range::from_size(0x900_0000, 0x1000)]);
        assert_eq!(uart.irqs(), [33]);
        assert_eq!(
            uart.compatibles().collect::<alloc::vec::Vec<_>>(),
            ["arm,pl011", "arm,primecell"]
        );
        let virtio: alloc::vec::Vec<_> = devices(&fdt)
            .filter(|d| d.is_compatible("virtio,mmio"))
            .collect();
        assert_eq!(virtio.len(), 32);
        assert!(virtio
            .iter()
            .any(|d| d.regs()[0].start == 0xa00_0000 && d.irqs() == [48]));
        assert_eq!(virtual_timer_irq(&fdt), Some(27));
    }

    #[test]
    fn dtb_without_memory_yields_empty_set_not_panic() {
        let fdt = Fdt::new(NOMEM).unwrap();
        assert_eq!(memory(&fdt).total(), 0);
        assert!(Fdt::new(&[0u8; 64]).is_err());
    }
}

/// The MPIDR affinity (`reg`) of every CPU node under `/cpus`
/// (`device_type = "cpu"`), in device-tree order. One or two cells, as
/// `/cpus/#address-cells` says; malformed nodes are skipped.
pub fn cpus(fdt: &Fdt<'_>) -> alloc::vec::Vec<u64> {
    let Some(cpus) = fdt.find_node("/cpus") else {
        return alloc::vec::Vec::new();
    };
    cpus.children()
        .filter(|n| {
            n.property("device_type")
                .and_then(|p| p.as_str())
                .is_some_and(|t| t.trim_end_matches('\0') == "cpu")
        })
        .filter_map(|n| be_cells(n.property("reg")?.value))
        .collect()
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn cpus_are_listed_by_mpidr() {
        let fdt = Fdt::new(include_bytes!("../testdata/virt-gicv3-el2.dtb")).expect("dtb");
        let cpus = cpus(&fdt);
        assert!(!cpus.is_empty());
        assert_eq!(cpus[0], 0);
        for (i, c) in cpus.iter().enumerate() {
            assert_eq!(*c, i as u64, "QEMU virt numbers CPUs 0, 1, ...");
        }
    }
}
