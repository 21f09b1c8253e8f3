//! The device list in one pass over the DTB's structure block.
//!
//! [`crate::dt::devices`] asked the `fdt` crate for each property by name:
//! every lookup re-parses the node's properties (each name found in the strings
//! block and checked as UTF-8), and `reg` re-reads the parent's properties for
//! its cell sizes. On QEMU's virt tree that was about 1.5 M of the 2 M
//! instructions a boot executed. Here each property is read once and the cell
//! sizes of every ancestor are kept on a small stack. The result is the same
//! list, in the same (tree) order, as the crate-based walk; the host tests
//! compare the two on QEMU's trees.
//!
//! **Shaped for TCG.** Boot time under QEMU's TCG follows the number of
//! distinct translated blocks the guest runs (each costs several
//! microseconds to translate, whatever its length), and every branch ends a
//! block. So one walker, [`Nodes`], serves every query (devices, memory, the
//! GIC, `/chosen` in `dtboot`, phandle lookups) and is never inlined into its
//! callers; a property's name is turned into an index by a table lookup
//! (remembered per strings-block offset), and its value is stored at that index,
//! instead of a chain of name comparisons.
//!
//! Malformed input ends the walk early (the devices read so far are kept):
//! every read is bounds-checked, nothing panics.

use crate::dt::{gic_intid, Device, GicInfo, MAX_IRQS, MAX_REGS};
use crate::memrange::{Range, RangeSet};

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;

/// Nesting the walk follows; deeper nodes end it (QEMU's trees are 3 deep).
const MAX_DEPTH: usize = 16;

/// `#address-cells` and `#size-cells` when a node does not say (the `fdt`
/// crate's defaults, which the walk it replaces used).
pub(crate) const DEFAULT_CELLS: (u32, u32) = (2, 1);

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w: &[u8; 4] = b.get(at..)?.first_chunk()?;
    Some(u32::from_be_bytes(*w))
}

/// The properties a walk keeps, by index into [`Node::props`].
pub(crate) mod prop {
    pub const COMPATIBLE: usize = 0;
    pub const REG: usize = 1;
    pub const INTERRUPTS: usize = 2;
    pub const DEVICE_TYPE: usize = 3;
    pub const INTERRUPT_PARENT: usize = 4;
    pub const ADDRESS_CELLS: usize = 5;
    pub const SIZE_CELLS: usize = 6;
    pub const PHANDLE: usize = 7;
    pub const INTERRUPT_CELLS: usize = 8;
    pub const MODEL: usize = 9;
    pub const BOOTARGS: usize = 10;
    pub const STDOUT_PATH: usize = 11;
    pub const INITRD_START: usize = 12;
    pub const INITRD_END: usize = 13;
    pub const METHOD: usize = 14;
    /// The name [`super::Nodes::with_extra`] was given (an alias).
    pub const EXTRA: usize = 15;
    pub const COUNT: usize = 16;
    pub const NAMES: [&[u8]; EXTRA] = [
        b"compatible",
        b"reg",
        b"interrupts",
        b"device_type",
        b"interrupt-parent",
        b"#address-cells",
        b"#size-cells",
        b"phandle",
        b"#interrupt-cells",
        b"model",
        b"bootargs",
        b"stdout-path",
        b"linux,initrd-start",
        b"linux,initrd-end",
        b"method",
    ];
}

/// Not a property a walk keeps.
const NONE: u8 = u8::MAX;
/// Strings-block offsets whose property index is remembered, one byte each
/// (QEMU's virt trees have about 450 bytes of names): every name is looked up
/// once a walk, where a 64-slot direct-mapped cache of (offset, index) pairs
/// missed on about a third of the properties.
const CACHE: usize = 512;
/// A [`Nodes::cache`] entry not filled yet (entries hold the index + 1).
const UNKNOWN: u8 = 0;

/// One node, complete with its properties (before its children).
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    /// 0 for the root.
    pub depth: usize,
    /// Its name with the unit address; empty for the root.
    pub name: &'a [u8],
    /// The first value of each kept property, by [`prop`] index.
    pub props: [Option<&'a [u8]>; prop::COUNT],
    /// The cell sizes its parent declares for it (for `reg`).
    pub parent_cells: (u32, u32),
}

/// The nodes of a tree in tree order (a node before its children).
pub(crate) struct Nodes<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    pos: usize,
    /// Depth of the next node to begin (0: the root).
    depth: usize,
    /// Cell sizes each open node declares for its children.
    cells: [(u32, u32); MAX_DEPTH],
    /// The node being read, complete once `has_pending` and the next
    /// node or its end is reached; built in place (a node is about 300 bytes,
    /// and each move of it was a `memcpy`).
    pending: Node<'a>,
    has_pending: bool,
    /// (strings offset + 1, property index) of names already looked up.
    cache: [u8; CACHE],
    extra: &'a [u8],
    done: bool,
}

impl<'a> Nodes<'a> {
    /// Walks `dtb`, a tree whose header `dtboot::total_size` accepted.
    pub fn new(dtb: &'a [u8]) -> Nodes<'a> {
        let block = |off: usize, size: usize| {
            let (o, s) = (be32(dtb, off)? as usize, be32(dtb, size)? as usize);
            dtb.get(o..o.checked_add(s)?)
        };
        // Header fields (DT spec 5.2): off_dt_struct 8, off_dt_strings 12,
        // size_dt_strings 32, size_dt_struct 36.
        let (structs, strings) = (block(8, 36), block(12, 32));
        Nodes {
            structs: structs.unwrap_or(&[]),
            strings: strings.unwrap_or(&[]),
            pos: 0,
            depth: 0,
            cells: [DEFAULT_CELLS; MAX_DEPTH],
            pending: Node {
                depth: 0,
                name: &[],
                props: [None; prop::COUNT],
                parent_cells: DEFAULT_CELLS,
            },
            has_pending: false,
            cache: [UNKNOWN; CACHE],
            extra: &[],
            done: structs.is_none() || strings.is_none(),
        }
    }

    /// Also keeps the property named `name` (at [`prop::EXTRA`]).
    pub fn with_extra(mut self, name: &'a [u8]) -> Nodes<'a> {
        self.extra = name;
        self
    }

    /// The [`prop`] index of the property whose name is at `offset` in the
    /// strings block, or [`NONE`].
    fn kind(&mut self, offset: usize) -> u8 {
        // Entries: UNKNOWN, NONE, or the index + 1.
        match self.cache.get(offset).copied() {
            Some(UNKNOWN) | None => {}
            Some(NONE) => return NONE,
            Some(c) => return c - 1,
        }
        let tail = self.strings.get(offset..).unwrap_or(&[]);
        let name = &tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())];
        let kind = if !self.extra.is_empty() && name == self.extra {
            prop::EXTRA as u8
        } else {
            prop::NAMES
                .iter()
                .position(|n| *n == name)
                .map_or(NONE, |i| i as u8)
        };
        if let Some(c) = self.cache.get_mut(offset) {
            *c = if kind == NONE { NONE } else { kind + 1 };
        }
        kind
    }

    /// Reads one token; `Ok(true)` when `pending` is a complete node, `Err`
    /// ends the walk.
    #[inline(never)]
    fn step(&mut self) -> Result<bool, ()> {
        let token = be32(self.structs, self.pos).ok_or(())?;
        // A node's properties come before its children: the next node or the
        // end of this one completes it, and it is returned before that token
        // is read (the token is read again on the next call).
        if (token == FDT_BEGIN_NODE || token == FDT_END_NODE) && self.has_pending {
            self.has_pending = false;
            return Ok(true);
        }
        self.pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                let tail = self.structs.get(self.pos..).ok_or(())?;
                let len = tail.iter().position(|&b| b == 0).ok_or(())?;
                self.pos += (len + 1).next_multiple_of(4);
                if self.depth >= MAX_DEPTH {
                    return Err(());
                }
                self.cells[self.depth] = DEFAULT_CELLS;
                let parent_cells = match self.depth {
                    0 => DEFAULT_CELLS,
                    d => self.cells[d - 1],
                };
                let p = &mut self.pending;
                p.depth = self.depth;
                p.name = &tail[..len];
                p.props = [None; prop::COUNT];
                p.parent_cells = parent_cells;
                self.has_pending = true;
                self.depth += 1;
            }
            FDT_END_NODE => self.depth = self.depth.checked_sub(1).ok_or(())?,
            FDT_PROP => {
                let len = be32(self.structs, self.pos).ok_or(())? as usize;
                let name_off = be32(self.structs, self.pos + 4).ok_or(())? as usize;
                let start = self.pos + 8;
                let value = self
                    .structs
                    .get(start..start.checked_add(len).ok_or(())?)
                    .ok_or(())?;
                self.pos = start + len.next_multiple_of(4);
                let depth = self.depth.checked_sub(1).ok_or(())?;
                let kind = self.kind(name_off) as usize;
                // A property after a child node (not valid FDT) is ignored.
                if let (Some(p), true) = (
                    self.has_pending.then_some(&mut self.pending),
                    kind < prop::COUNT,
                ) {
                    if p.props[kind].is_none() {
                        p.props[kind] = Some(value);
                    }
                    if kind == prop::ADDRESS_CELLS || kind == prop::SIZE_CELLS {
                        if let Some(v) = be32(value, 0) {
                            let c = &mut self.cells[depth];
                            *(if kind == prop::ADDRESS_CELLS {
                                &mut c.0
                            } else {
                                &mut c.1
                            }) = v;
                        }
                    }
                }
            }
            FDT_NOP => {}
            _ => return Err(()),
        }
        Ok(false)
    }
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    #[inline(never)]
    fn next(&mut self) -> Option<Node<'a>> {
        while !self.done {
            match self.step() {
                Ok(true) => return Some(self.pending),
                Ok(false) => {}
                Err(()) => self.done = true,
            }
        }
        None
    }
}

/// Up to `MAX_REGS` (address, size) pairs of `reg` in the given cell sizes.
pub(crate) fn reg_ranges(reg: &[u8], (acells, scells): (u32, u32)) -> ([Range; MAX_REGS], usize) {
    let mut regs = [Range::default(); MAX_REGS];
    let mut n = 0;
    if !(1..=2).contains(&acells) || scells > 2 {
        return (regs, 0);
    }
    let width = (acells + scells) as usize * 4;
    let number = |at: usize, cells: u32| -> Option<u64> {
        let hi = if cells == 2 { be32(reg, at)? } else { 0 };
        let lo = if cells == 0 {
            0
        } else {
            be32(reg, at + (cells as usize - 1) * 4)?
        };
        Some(u64::from(hi) << 32 | u64::from(lo))
    };
    while n < MAX_REGS {
        let at = n * width;
        let (Some(start), Some(size)) =
            (number(at, acells), number(at + acells as usize * 4, scells))
        else {
            break;
        };
        regs[n] = Range::from_size(start, size);
        n += 1;
    }
    (regs, n)
}

/// Iterator over the device nodes (those with `compatible`), in tree order.
pub struct DeviceWalk<'a> {
    nodes: Nodes<'a>,
    dtb: &'a [u8],
    root_interrupt_parent: Option<u32>,
    /// The last phandle resolved and its `#interrupt-cells`.
    last_parent: Option<(u32, Option<usize>)>,
    /// Yield the `device_type = "memory"` nodes instead (their `compatible`
    /// empty), for [`memory`].
    memory_nodes: bool,
}

/// Walks `dtb`, a tree `fdt::Fdt::new` accepted.
pub fn devices(dtb: &[u8]) -> DeviceWalk<'_> {
    DeviceWalk {
        nodes: Nodes::new(dtb),
        dtb,
        root_interrupt_parent: None,
        last_parent: None,
        memory_nodes: false,
    }
}

/// All RAM from every `device_type = "memory"` node (what
/// [`crate::dt::memory`] reads through the `fdt` crate). Empty when none.
pub fn memory(dtb: &[u8]) -> RangeSet<8> {
    let mut set = RangeSet::new();
    let mut walk = devices(dtb);
    walk.memory_nodes = true;
    for node in walk {
        for r in node.regs() {
            set.push(*r);
        }
    }
    set
}

/// The GIC a device node describes: a GIC `compatible` and two `reg` ranges
/// (what [`crate::dt::gic`] reads through the `fdt` crate).
pub fn gic_of(d: &Device<'_>) -> Option<GicInfo> {
    let [first, second, ..] = d.regs() else {
        return None;
    };
    let (gicd, other) = (*first, *second);
    if d.is_compatible("arm,gic-v3") {
        return Some(GicInfo::V3 { gicd, gicr: other });
    }
    let v2 = ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"]
        .iter()
        .any(|c| d.is_compatible(c));
    v2.then_some(GicInfo::V2 { gicd, gicc: other })
}

/// The first GIC in tree order.
pub fn gic(dtb: &[u8]) -> Option<GicInfo> {
    devices(dtb).find_map(|d| gic_of(&d))
}

impl<'a> DeviceWalk<'a> {
    fn interrupt_cells(&mut self, phandle: u32) -> Option<usize> {
        if let Some((p, cells)) = self.last_parent {
            if p == phandle {
                return cells;
            }
        }
        // Each node's first `phandle` value; its `#interrupt-cells`.
        let cells = Nodes::new(self.dtb)
            .find(|n| {
                n.props[prop::PHANDLE].map(|v| be32(v, 0).unwrap_or(u32::MAX)) == Some(phandle)
            })
            .and_then(|n| n.props[prop::INTERRUPT_CELLS])
            .and_then(|v| be32(v, 0))
            .map(|n| n as usize);
        self.last_parent = Some((phandle, cells));
        cells
    }

    fn finish(&mut self, n: Node<'a>) -> Option<Device<'a>> {
        let own_parent = n.props[prop::INTERRUPT_PARENT].map(|v| be32(v, 0));
        if n.depth == 0 {
            self.root_interrupt_parent = own_parent.flatten();
        }
        let compatible = if self.memory_nodes {
            let t = n.props[prop::DEVICE_TYPE]?;
            let end = t.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            (&t[..end] == b"memory").then_some(&b""[..])?
        } else {
            n.props[prop::COMPATIBLE]?
        };
        let (regs, nregs) = match n.props[prop::REG] {
            Some(reg) => reg_ranges(reg, n.parent_cells),
            None => ([Range::default(); MAX_REGS], 0),
        };
        let mut irqs = [0u32; MAX_IRQS];
        let mut nirqs = 0;
        let parent = own_parent.unwrap_or(self.root_interrupt_parent);
        if let (Some(prop), Some(phandle)) = (n.props[prop::INTERRUPTS], parent) {
            if let Some(cells) = self
                .interrupt_cells(phandle)
                .filter(|c| (1..=4).contains(c))
            {
                for spec in prop.chunks_exact(cells * 4) {
                    let mut c = [0u32; 4];
                    for (i, w) in spec.chunks_exact(4).enumerate() {
                        c[i] = be32(w, 0).unwrap_or(0);
                    }
                    if let Some(id) = gic_intid(&c[..cells]) {
                        if nirqs < MAX_IRQS {
                            irqs[nirqs] = id;
                            nirqs += 1;
                        }
                    }
                }
            }
        }
        // The root's name is empty; the `fdt` crate calls it "/".
        let name = match core::str::from_utf8(n.name).ok()? {
            "" if n.depth == 0 => "/",
            s => s,
        };
        Some(Device {
            name,
            compatible,
            regs,
            nregs,
            irqs,
            nirqs,
        })
    }
}

impl<'a> Iterator for DeviceWalk<'a> {
    type Item = Device<'a>;

    fn next(&mut self) -> Option<Device<'a>> {
        loop {
            let n = self.nodes.next()?;
            if let Some(d) = self.finish(n) {
                return Some(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// The fields of a device, comparable.
    fn fields<'a>(d: &Device<'a>) -> (&'a str, &'a [u8], Vec<Range>, Vec<u32>) {
        (d.name, d.compatible, d.regs().to_vec(), d.irqs().to_vec())
    }

    #[test]
    fn same_devices_as_the_crate_walk_on_qemu_trees() {
        for dtb in [
            &include_bytes!("../testdata/virt-gicv2.dtb")[..],
            &include_bytes!("../testdata/virt-gicv3-el2.dtb")[..],
            &include_bytes!("../testdata/virt-nomem.dtb")[..],
        ] {
            let fdt = fdt::Fdt::new(dtb).unwrap();
            let want: Vec<_> = crate::dt::devices(&fdt).map(|d| fields(&d)).collect();
            let got: Vec<_> = devices(dtb).map(|d| fields(&d)).collect();
            assert!(want.len() > 40, "{} devices", want.len());
            assert_eq!(got, want);
        }
    }

    #[test]
    fn same_memory_and_gic_as_the_crate_walk() {
        for dtb in [
            &include_bytes!("../testdata/virt-gicv2.dtb")[..],
            &include_bytes!("../testdata/virt-gicv3-el2.dtb")[..],
            &include_bytes!("../testdata/virt-nomem.dtb")[..],
        ] {
            let fdt = fdt::Fdt::new(dtb).unwrap();
            assert_eq!(memory(dtb).as_slice(), crate::dt::memory(&fdt).as_slice());
            assert_eq!(gic(dtb), crate::dt::gic(&fdt));
        }
        assert!(memory(include_bytes!("../testdata/virt-gicv2.dtb")).total() > 0);
    }

    #[test]
    fn truncated_trees_end_the_walk_without_panicking() {
        let dtb = include_bytes!("../testdata/virt-gicv2.dtb");
        let full = devices(dtb).count();
        for cut in (0..dtb.len()).step_by(7) {
            let mut bytes = dtb.to_vec();
            bytes.truncate(cut);
            bytes.resize(dtb.len(), 0xff);
            assert!(devices(&bytes).count() <= full + 1);
        }
    }
}
