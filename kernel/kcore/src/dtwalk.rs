//! The device list in one pass over the DTB's structure block.
//!
//! [`crate::dt::devices`] asked the `fdt` crate for each property by name:
//! every lookup re-parses the node's properties (each name found in the strings
//! block and checked as UTF-8), and `reg` re-reads the parent's properties for
//! its cell sizes. On QEMU's virt tree that was about 1.5 M of the 2 M
//! instructions a boot executes (measured with a QEMU plugin counting guest
//! instructions per function). Here each property is read once, its name
//! compared as bytes against the few this walk wants, and the cell sizes of
//! every ancestor are kept on a small stack. The result is the same list, in
//! the same (tree) order, as the crate-based walk; the host tests compare the
//! two on QEMU's trees. The `fdt` crate still validates the header (the caller
//! has an [`Fdt`]) and resolves the rare `interrupt-parent` phandle.
//!
//! Malformed input ends the walk early (the devices read so far are kept):
//! every read is bounds-checked, nothing panics.

use crate::dt::{gic_intid, Device, GicInfo, MAX_IRQS, MAX_REGS};
use crate::memrange::{Range, RangeSet};

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Nesting this walk follows; deeper nodes end it (QEMU's trees are 3 deep).
const MAX_DEPTH: usize = 16;

/// `#address-cells` and `#size-cells` when a node does not say (the `fdt`
/// crate's defaults, which the walk it replaces used).
const DEFAULT_CELLS: (u32, u32) = (2, 1);

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// The node whose properties are being read.
#[derive(Clone, Copy)]
struct Pending<'a> {
    name: &'a str,
    depth: usize,
    compatible: Option<&'a [u8]>,
    reg: Option<&'a [u8]>,
    interrupts: Option<&'a [u8]>,
    device_type: Option<&'a [u8]>,
    /// `interrupt-parent`: absent, or present (`None` when malformed).
    interrupt_parent: Option<Option<u32>>,
}

/// Iterator over the device nodes (those with `compatible`), in tree order.
pub struct DeviceWalk<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    pos: usize,
    /// Depth of the next node to begin (0: the root).
    depth: usize,
    /// Cell sizes each open node declares for its children.
    cells: [(u32, u32); MAX_DEPTH],
    pending: Option<Pending<'a>>,
    root_interrupt_parent: Option<u32>,
    /// The last phandle resolved and its `#interrupt-cells`.
    last_parent: Option<(u32, Option<usize>)>,
    /// Yield the `device_type = "memory"` nodes instead (their `compatible`
    /// empty), for [`memory`].
    memory_nodes: bool,
    done: bool,
}

/// Walks `dtb`, a tree `fdt::Fdt::new` accepted.
pub fn devices(dtb: &[u8]) -> DeviceWalk<'_> {
    let header = |at| be32(dtb, at).map(|v| v as usize);
    let block = |off: Option<usize>, size: Option<usize>| {
        off.zip(size)
            .and_then(|(o, s)| dtb.get(o..o.checked_add(s)?))
    };
    // Header fields (DT spec 5.2): off_dt_struct 8, off_dt_strings 12,
    // size_dt_strings 32, size_dt_struct 36.
    let structs = block(header(8), header(36));
    let strings = block(header(12), header(32));
    DeviceWalk {
        structs: structs.unwrap_or(&[]),
        strings: strings.unwrap_or(&[]),
        pos: 0,
        depth: 0,
        cells: [DEFAULT_CELLS; MAX_DEPTH],
        pending: None,
        root_interrupt_parent: None,
        last_parent: None,
        memory_nodes: false,
        done: structs.is_none() || strings.is_none(),
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

/// The GIC: the first device, in tree order, with a GIC `compatible` and two
/// `reg` ranges (what [`crate::dt::gic`] reads through the `fdt` crate).
pub fn gic(dtb: &[u8]) -> Option<GicInfo> {
    devices(dtb).find_map(|d| match d.regs() {
        [first, second, ..] if d.is_compatible("arm,gic-v3") => Some(GicInfo::V3 {
            gicd: *first,
            gicr: *second,
        }),
        [first, second, ..]
            if d.compatibles().any(|c| {
                matches!(
                    c,
                    "arm,cortex-a15-gic" | "arm,gic-400" | "arm,cortex-a9-gic"
                )
            }) =>
        {
            Some(GicInfo::V2 {
                gicd: *first,
                gicc: *second,
            })
        }
        _ => None,
    })
}

impl<'a> DeviceWalk<'a> {
    /// The property name at `offset` in the strings block, without its NUL.
    fn prop_name(&self, offset: usize) -> &'a [u8] {
        let tail = self.strings.get(offset..).unwrap_or(&[]);
        let len = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        &tail[..len]
    }

    /// `#interrupt-cells` of the node with `phandle` (the last one cached).
    fn interrupt_cells(&mut self, phandle: u32) -> Option<usize> {
        if let Some((p, cells)) = self.last_parent {
            if p == phandle {
                return cells;
            }
        }
        let cells = self.find_interrupt_cells(phandle);
        self.last_parent = Some((phandle, cells));
        cells
    }

    /// `#interrupt-cells` of the first node whose `phandle` is `phandle`, by a
    /// scan of the structure block (what `Fdt::find_phandle` then
    /// `interrupt_cells` answer, without parsing every property's name as a
    /// string: that pair was a tenth of a boot's instructions).
    fn find_interrupt_cells(&self, phandle: u32) -> Option<usize> {
        let (b, mut pos) = (self.structs, 0);
        // Per node: its first `phandle` value, its `#interrupt-cells`.
        let mut node: (Option<u32>, Option<usize>) = (None, None);
        let mut in_props = false;
        loop {
            let token = be32(b, pos)?;
            if matches!(token, FDT_BEGIN_NODE | FDT_END_NODE | FDT_END) && in_props {
                if node.0 == Some(phandle) {
                    return node.1;
                }
                in_props = false;
            }
            pos += 4;
            match token {
                FDT_BEGIN_NODE => {
                    let len = b.get(pos..)?.iter().position(|&c| c == 0)?;
                    pos += (len + 1).next_multiple_of(4);
                    node = (None, None);
                    in_props = true;
                }
                FDT_PROP => {
                    let len = be32(b, pos)? as usize;
                    let value = b.get(pos + 8..(pos + 8).checked_add(len)?)?;
                    match self.prop_name(be32(b, pos + 4)? as usize) {
                        b"phandle" if node.0.is_none() => {
                            node.0 = Some(be32(value, 0).unwrap_or(u32::MAX))
                        }
                        b"#interrupt-cells" => node.1 = be32(value, 0).map(|n| n as usize),
                        _ => {}
                    }
                    pos += 8 + len.next_multiple_of(4);
                }
                FDT_END_NODE | FDT_NOP => {}
                _ => return None,
            }
        }
    }

    /// The device a finished node describes, if it has `compatible`.
    fn finish(&mut self, p: Pending<'a>) -> Option<Device<'a>> {
        let compatible = if self.memory_nodes {
            let t = p.device_type?;
            let end = t.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            (&t[..end] == b"memory").then_some(&b""[..])?
        } else {
            p.compatible?
        };
        let mut regs = [Range::default(); MAX_REGS];
        let mut nregs = 0;
        let (acells, scells) = match p.depth {
            0 => DEFAULT_CELLS,
            d => self.cells[d - 1],
        };
        if let (Some(reg), true) = (p.reg, (1..=2).contains(&acells) && scells <= 2) {
            let mut at = 0;
            let mut number = |cells: u32| -> Option<u64> {
                let v = match cells {
                    0 => 0,
                    1 => u64::from(be32(reg, at)?),
                    _ => u64::from(be32(reg, at)?) << 32 | u64::from(be32(reg, at + 4)?),
                };
                at += cells as usize * 4;
                Some(v)
            };
            while nregs < MAX_REGS {
                let Some(start) = number(acells) else { break };
                let Some(size) = number(scells) else { break };
                regs[nregs] = Range::from_size(start, size);
                nregs += 1;
            }
        }
        let mut irqs = [0u32; MAX_IRQS];
        let mut nirqs = 0;
        let parent = match p.interrupt_parent {
            Some(own) => own,
            None => self.root_interrupt_parent,
        };
        if let (Some(prop), Some(phandle)) = (p.interrupts, parent) {
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
        Some(Device {
            name: p.name,
            compatible,
            regs,
            nregs,
            irqs,
            nirqs,
        })
    }

    /// Reads one token; `Err(())` ends the walk (FDT_END or malformed).
    fn step(&mut self) -> Result<Option<Device<'a>>, ()> {
        let token = be32(self.structs, self.pos).ok_or(())?;
        // A node's properties come before its children: the next node or the
        // end of this one completes it, and it is returned before that token
        // is read (the token is read again on the next call).
        if matches!(token, FDT_BEGIN_NODE | FDT_END_NODE) {
            if let Some(p) = self.pending.take() {
                if let Some(d) = self.finish(p) {
                    return Ok(Some(d));
                }
            }
        }
        self.pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                let tail = self.structs.get(self.pos..).ok_or(())?;
                let len = tail.iter().position(|&b| b == 0).ok_or(())?;
                // The root's name is empty; the `fdt` crate calls it "/".
                let name = match core::str::from_utf8(&tail[..len]).map_err(|_| ())? {
                    "" if self.depth == 0 => "/",
                    n => n,
                };
                self.pos += (len + 1).next_multiple_of(4);
                if self.depth >= MAX_DEPTH {
                    return Err(());
                }
                self.cells[self.depth] = DEFAULT_CELLS;
                self.pending = Some(Pending {
                    name,
                    depth: self.depth,
                    compatible: None,
                    reg: None,
                    interrupts: None,
                    device_type: None,
                    interrupt_parent: None,
                });
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
                let name = self.prop_name(name_off);
                let Some(p) = self.pending.as_mut() else {
                    // A property after a child node: not valid FDT; ignored.
                    return Ok(None);
                };
                match name {
                    b"compatible" => p.compatible = Some(value),
                    b"reg" => p.reg = Some(value),
                    b"interrupts" => p.interrupts = Some(value),
                    b"device_type" => p.device_type = Some(value),
                    b"interrupt-parent" => {
                        p.interrupt_parent = Some(be32(value, 0));
                        if depth == 0 {
                            self.root_interrupt_parent = be32(value, 0);
                        }
                    }
                    b"#address-cells" => {
                        if let Some(v) = be32(value, 0) {
                            self.cells[depth].0 = v;
                        }
                    }
                    b"#size-cells" => {
                        if let Some(v) = be32(value, 0) {
                            self.cells[depth].1 = v;
                        }
                    }
                    _ => {}
                }
            }
            FDT_NOP => {}
            FDT_END => return Err(()),
            _ => return Err(()),
        }
        Ok(None)
    }
}

impl<'a> Iterator for DeviceWalk<'a> {
    type Item = Device<'a>;

    fn next(&mut self) -> Option<Device<'a>> {
        while !self.done {
            match self.step() {
                Ok(Some(d)) => return Some(d),
                Ok(None) => {}
                Err(()) => self.done = true,
            }
        }
        None
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
