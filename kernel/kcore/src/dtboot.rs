//! What boot reads from the device tree besides the device list, in one pass.
//!
//! The root's `model`, `/chosen` (`bootargs`, `stdout-path`, the initrd),
//! `/aliases`, `/psci`'s `method` and the CPUs under `/cpus` all sit directly
//! below the root (or one level down, for the CPUs), so one walk with
//! [`crate::dtwalk`]'s node walker (the same code as the device list, so
//! QEMU translates it once) collects them. The
//! `fdt` crate's `find_node` answered each of these by walking the tree from
//! the root again, checking every property name it passed as UTF-8: on QEMU's
//! virt tree that was about 0.5 M of the 1.1 M instructions a kernel-only boot
//! executed, and 850 distinct instructions QEMU must translate before the
//! first log line (boot time under TCG follows the distinct code run). The
//! answers are the same as [`crate::dt`]'s crate-based queries; the host tests
//! compare the two on QEMU's trees.
//!
//! Malformed input ends the walk early and keeps what was read; every read is
//! bounds-checked, nothing panics.

use crate::dt::PsciConduit;
use crate::dtwalk::{be32, prop, reg_ranges, Nodes};
use crate::memrange::Range;

const FDT_MAGIC: u32 = 0xd00d_feed;
/// The DT spec's header (5.2) is ten 32-bit fields.
const HEADER_LEN: usize = 40;

/// CPU nodes kept (QEMU's virt machine describes at most 512; the kernel runs
/// far fewer); [`BootNodes::cpus_described`] counts them all.
pub const MAX_DT_CPUS: usize = 64;

/// A 32- or 64-bit big-endian value, as `/chosen`'s initrd and a CPU's `reg`
/// are written.
///
/// Not inlined, nor is [`text`]: [`BootNodes::scan`] reads several properties
/// with each, and under TCG every inlined copy is translated again.
#[inline(never)]
fn be_cells(b: &[u8]) -> Option<u64> {
    match b.len() {
        4 => be32(b, 0).map(u64::from),
        8 => Some(u64::from(be32(b, 0)?) << 32 | u64::from(be32(b, 4)?)),
        _ => None,
    }
}

/// A string property as the `fdt` crate's `as_str` reads it: valid UTF-8,
/// trailing NULs dropped.
#[inline(never)]
fn text(value: &[u8]) -> Option<&str> {
    // NUL is one byte in UTF-8, so trimming bytes first validates the same
    // text; it spares boot `str`'s char-pattern searcher (under TCG, code
    // boot runs once costs translation, see `dtwalk`).
    let end = value.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    core::str::from_utf8(&value[..end]).ok()
}

/// `s` up to the first `c` (all of it without one), by bytes: what
/// `s.split(c).next()` gives for an ASCII `c`.
fn before(s: &str, c: u8) -> &str {
    let end = s.bytes().position(|b| b == c).unwrap_or(s.len());
    s.get(..end).unwrap_or(s)
}

/// The DTB's total size, if `dtb` starts with a header `fdt::Fdt::new` would
/// accept (the magic, and at least the header's bytes).
pub fn total_size(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_LEN || be32(header, 0)? != FDT_MAGIC {
        return None;
    }
    Some(be32(header, 4)? as usize)
}

/// Whether node name `node` is what path component `want` asks for: exactly,
/// when `want` has a unit address; else the name before its `@` (the `fdt`
/// crate's `find_node` rule).
fn name_matches(node: &[u8], want: &[u8]) -> bool {
    if want.contains(&b'@') {
        node == want
    } else {
        node.split(|&b| b == b'@').next() == Some(want)
    }
}

/// What boot needs from the root's direct children.
#[derive(Debug, Clone, Copy)]
pub struct BootNodes<'a> {
    /// The root's `model`.
    pub model: Option<&'a str>,
    /// `/chosen/bootargs`.
    pub bootargs: Option<&'a str>,
    /// `/chosen/stdout-path`, the path or alias before any `:options`.
    stdout_path: Option<&'a str>,
    initrd_start: Option<u64>,
    initrd_end: Option<u64>,
    /// `/psci`'s conduit; `None` without `/psci` or with an unknown method.
    pub psci: Option<PsciConduit>,
    cpus: [u64; MAX_DT_CPUS],
    ncpus: usize,
    cpus_total: usize,
    /// What `/aliases` says for a `stdout-path` that is an alias.
    alias: Option<&'a str>,
}

/// The root's children [`BootNodes::scan`] reads.
const WANTED: [&[u8]; 3] = [b"chosen", b"psci", b"cpus"];
const CHOSEN: usize = 0;
const PSCI: usize = 1;
const CPUS: usize = 2;

impl<'a> BootNodes<'a> {
    /// Reads them from `dtb` (a tree whose header [`total_size`] accepted).
    pub fn scan(dtb: &'a [u8]) -> BootNodes<'a> {
        let mut out = BootNodes {
            model: None,
            bootargs: None,
            stdout_path: None,
            initrd_start: None,
            initrd_end: None,
            psci: None,
            cpus: [0; MAX_DT_CPUS],
            ncpus: 0,
            cpus_total: 0,
            alias: None,
        };
        // The first `/chosen`, `/psci` and `/cpus` only, as `find_node`
        // answers with the first match: which of those (by `WANTED` index)
        // was seen, and which one the walk is inside.
        let mut seen = [false; WANTED.len()];
        let mut inside = None;
        for n in Nodes::new(dtb) {
            let p = &n.props;
            if n.depth == 0 {
                out.model = p[prop::MODEL].and_then(text);
                continue;
            }
            if n.depth == 1 {
                inside = WANTED.iter().position(|w| name_matches(n.name, w));
                if let Some(i) = inside {
                    if seen[i] {
                        inside = None;
                    }
                    seen[i] = true;
                }
            }
            match (n.depth, inside) {
                (1, Some(CHOSEN)) => {
                    out.bootargs = p[prop::BOOTARGS].and_then(text);
                    out.stdout_path = p[prop::STDOUT_PATH].and_then(text).map(|p| before(p, b':'));
                    out.initrd_start = p[prop::INITRD_START].and_then(be_cells);
                    out.initrd_end = p[prop::INITRD_END].and_then(be_cells);
                }
                (1, Some(PSCI)) => {
                    out.psci = match p[prop::METHOD].and_then(text) {
                        Some("hvc") => Some(PsciConduit::Hvc),
                        Some("smc") => Some(PsciConduit::Smc),
                        _ => None,
                    };
                }
                (2, Some(CPUS)) => {
                    let is_cpu = p[prop::DEVICE_TYPE].and_then(text) == Some("cpu");
                    if let (true, Some(mpidr)) = (is_cpu, p[prop::REG].and_then(be_cells)) {
                        if out.ncpus < MAX_DT_CPUS {
                            out.cpus[out.ncpus] = mpidr;
                            out.ncpus += 1;
                        }
                        out.cpus_total += 1;
                    }
                }
                _ => {}
            }
        }
        // An alias: what the first `/aliases` says for it.
        if let Some(name) = out.stdout_path.filter(|p| !p.starts_with('/')) {
            out.alias = Nodes::new(dtb)
                .with_extra(name.as_bytes())
                .find(|n| n.depth == 1 && name_matches(n.name, b"aliases"))
                .and_then(|n| n.props[prop::EXTRA])
                .and_then(text);
        }
        out
    }

    /// `/chosen`'s `linux,initrd-start`/`-end`, when both are there and the
    /// range is not empty.
    pub fn initrd(&self) -> Option<Range> {
        let (start, end) = (self.initrd_start?, self.initrd_end?);
        (end > start).then_some(Range::new(start, end))
    }

    /// The MPIDR (`reg`) of every `device_type = "cpu"` node under `/cpus`, in
    /// tree order (the first [`MAX_DT_CPUS`]).
    pub fn cpus(&self) -> &[u64] {
        &self.cpus[..self.ncpus]
    }

    /// How many CPU nodes the tree describes, kept or not.
    pub fn cpus_described(&self) -> usize {
        self.cpus_total
    }

    /// The path `stdout-path` names: itself, or what the alias it names says.
    pub fn stdout_node_path(&self) -> Option<&'a str> {
        let path = self.stdout_path?;
        if path.starts_with('/') {
            return Some(path);
        }
        self.alias
    }
}

/// The first `reg` range of the node at `path` (absolute, `fdt`'s matching),
/// read with its parent's `#address-cells`/`#size-cells` (2 and 1 when the
/// parent does not say).
pub fn first_reg(dtb: &[u8], path: &str) -> Option<Range> {
    let mut want = path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty());
    let mut next = Some(want.next()?);
    // Depth of the deepest node on the path found so far (0: the root).
    let mut matched = 0;
    for n in Nodes::new(dtb) {
        if n.depth == 0 {
            continue;
        }
        // `find_node` takes the first match at each level: leaving a
        // matched node without the rest of the path is a miss.
        if n.depth <= matched {
            return None;
        }
        if n.depth == matched + 1 && name_matches(n.name, next?) {
            matched = n.depth;
            next = want.next();
            if next.is_none() {
                let (regs, count) = reg_ranges(n.props[prop::REG]?, n.parent_cells);
                return (count > 0).then_some(regs[0]);
            }
        }
    }
    None
}

/// The `/memreserve/` entries of the header's reservation block, until the
/// (0, 0) entry that ends it.
pub fn memory_reservations(dtb: &[u8]) -> impl Iterator<Item = Range> + '_ {
    let mut at = be32(dtb, 16).map(|o| o as usize);
    core::iter::from_fn(move || {
        let pos = at?;
        let word = |o: usize| {
            Some(u64::from(be32(dtb, pos + o)?) << 32 | u64::from(be32(dtb, pos + o + 4)?))
        };
        let (address, size) = (word(0)?, word(8)?);
        if address == 0 && size == 0 {
            at = None;
            return None;
        }
        at = Some(pos + 16);
        Some(Range::from_size(address, size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const TREES: [&[u8]; 3] = [
        include_bytes!("../testdata/virt-gicv2.dtb"),
        include_bytes!("../testdata/virt-gicv3-el2.dtb"),
        include_bytes!("../testdata/virt-nomem.dtb"),
    ];

    #[test]
    fn same_answers_as_the_crate_queries_on_qemu_trees() {
        for dtb in TREES {
            let fdt = fdt::Fdt::new(dtb).unwrap();
            assert_eq!(total_size(dtb), Some(fdt.total_size()));
            let b = BootNodes::scan(dtb);
            assert_eq!(b.bootargs, crate::dt::bootargs(&fdt));
            assert_eq!(b.initrd(), crate::dt::initrd(&fdt));
            assert_eq!(b.psci, crate::dt::psci_conduit(&fdt));
            assert!(b.psci.is_some());
            assert_eq!(b.cpus(), &crate::dt::cpus(&fdt)[..]);
            assert!(!b.cpus().is_empty());
            let model = fdt
                .find_node("/")
                .and_then(|n| n.property("model"))
                .and_then(|p| p.as_str());
            assert_eq!(b.model, model);
            let want = crate::dt::stdout(&fdt).and_then(|n| crate::dt::first_reg(&n));
            let got = b.stdout_node_path().and_then(|p| first_reg(dtb, p));
            assert_eq!(got, want);
            assert!(got.is_some());
            let want: Vec<Range> = fdt
                .memory_reservations()
                .map(|r| Range::from_size(r.address() as u64, r.size() as u64))
                .collect();
            assert_eq!(memory_reservations(dtb).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn paths_resolve_as_find_node_does() {
        for dtb in TREES {
            let fdt = fdt::Fdt::new(dtb).unwrap();
            let paths = [
                "/pl011@9000000",
                "/pl011",
                "/pl011@9000001",
                "/virtio_mmio@a000000",
                "/virtio_mmio",
                "/intc@8000000",
                "/intc",
                "/pcie@10000000",
                "/flash@0",
                "/nonexistent",
                "/cpus/cpu@0",
                "/cpus/cpu",
                "/",
                "",
            ];
            for p in paths {
                let want = fdt.find_node(p).and_then(|n| crate::dt::first_reg(&n));
                // The root has no parent's cells; `first_reg` leaves it out.
                let want = if p.trim_matches('/').is_empty() {
                    None
                } else {
                    want
                };
                assert_eq!(first_reg(dtb, p), want, "{p}");
            }
        }
    }

    #[test]
    fn headers_are_checked_like_the_crate() {
        let dtb = TREES[0];
        assert!(total_size(&dtb[..39]).is_none());
        let mut bad = dtb.to_vec();
        bad[0] ^= 1;
        assert!(total_size(&bad).is_none());
        assert!(fdt::Fdt::new(&bad).is_err());
    }

    #[test]
    fn truncated_and_scribbled_trees_do_not_panic() {
        let dtb = TREES[0];
        for cut in (0..dtb.len()).step_by(5) {
            let mut bytes = dtb.to_vec();
            bytes.truncate(cut);
            bytes.resize(dtb.len(), 0xff);
            let b = BootNodes::scan(&bytes);
            let _ = b.stdout_node_path().and_then(|p| first_reg(&bytes, p));
            let _ = memory_reservations(&bytes).take(100).count();
        }
        for at in (0..dtb.len()).step_by(3) {
            let mut bytes = dtb.to_vec();
            bytes[at] = bytes[at].wrapping_add(0x5a);
            let b = BootNodes::scan(&bytes);
            let _ = b.stdout_node_path().and_then(|p| first_reg(&bytes, p));
            let _ = memory_reservations(&bytes).take(100).count();
        }
    }
}
