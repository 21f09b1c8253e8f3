//! What boot reads from the device tree besides the device list, in one pass.
//!
//! The root's `model`, `/chosen` (`bootargs`, `stdout-path`, the initrd),
//! `/aliases`, `/psci`'s `method` and the CPUs under `/cpus` all sit directly
//! below the root (or one level down, for the CPUs), so a single walk of the
//! structure block that compares property names as bytes collects them. The
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
use crate::memrange::Range;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
/// The DT spec's header (5.2) is ten 32-bit fields.
const HEADER_LEN: usize = 40;

/// CPU nodes kept (QEMU's virt machine describes at most 512; the kernel runs
/// far fewer); [`BootNodes::cpus_described`] counts them all.
pub const MAX_DT_CPUS: usize = 64;
/// `/aliases` entries kept, in tree order.
const MAX_ALIASES: usize = 16;
/// Nesting [`reg_of`] follows; deeper trees end its walk.
const MAX_DEPTH: usize = 16;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// A 32- or 64-bit big-endian value, as `/chosen`'s initrd and a CPU's `reg`
/// are written.
fn be_cells(b: &[u8]) -> Option<u64> {
    match b.len() {
        4 => be32(b, 0).map(u64::from),
        8 => Some(u64::from(be32(b, 0)?) << 32 | u64::from(be32(b, 4)?)),
        _ => None,
    }
}

/// A string property as the `fdt` crate's `as_str` reads it: valid UTF-8,
/// trailing NULs dropped.
fn text(value: &[u8]) -> Option<&str> {
    core::str::from_utf8(value)
        .ok()
        .map(|s| s.trim_end_matches('\0'))
}

/// The DTB's total size, if `dtb` starts with a header `fdt::Fdt::new` would
/// accept (the magic, and at least the header's bytes).
pub fn total_size(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_LEN || be32(header, 0)? != FDT_MAGIC {
        return None;
    }
    Some(be32(header, 4)? as usize)
}

/// The structure and strings blocks, if the header's offsets fit in `dtb`.
fn blocks(dtb: &[u8]) -> Option<(&[u8], &[u8])> {
    let block = |off: usize, size: usize| {
        let (o, s) = (be32(dtb, off)? as usize, be32(dtb, size)? as usize);
        dtb.get(o..o.checked_add(s)?)
    };
    // off_dt_struct 8, off_dt_strings 12, size_dt_strings 32, size_dt_struct 36.
    Some((block(8, 36)?, block(12, 32)?))
}

/// One step of the structure block.
enum Token<'a> {
    Begin(&'a [u8]),
    End,
    Prop(&'a [u8], &'a [u8]),
}

/// The structure block as tokens; `None` at its end or at anything malformed.
struct Tokens<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(dtb: &'a [u8]) -> Tokens<'a> {
        let (structs, strings) = blocks(dtb).unwrap_or((&[], &[]));
        Tokens {
            structs,
            strings,
            pos: 0,
        }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let token = be32(self.structs, self.pos)?;
            self.pos += 4;
            match token {
                FDT_BEGIN_NODE => {
                    let tail = self.structs.get(self.pos..)?;
                    let len = tail.iter().position(|&b| b == 0)?;
                    self.pos += (len + 1).next_multiple_of(4);
                    return Some(Token::Begin(&tail[..len]));
                }
                FDT_END_NODE => return Some(Token::End),
                FDT_PROP => {
                    let len = be32(self.structs, self.pos)? as usize;
                    let name_off = be32(self.structs, self.pos + 4)? as usize;
                    let start = self.pos + 8;
                    let value = self.structs.get(start..start.checked_add(len)?)?;
                    self.pos = start + len.next_multiple_of(4);
                    let tail = self.strings.get(name_off..)?;
                    let name = &tail[..tail.iter().position(|&b| b == 0)?];
                    return Some(Token::Prop(name, value));
                }
                FDT_NOP => {}
                _ => return None,
            }
        }
    }
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
    aliases: [(&'a [u8], &'a str); MAX_ALIASES],
    naliases: usize,
}

impl<'a> BootNodes<'a> {
    /// Reads them from `dtb` (a tree whose header [`total_size`] accepted).
    pub fn scan(dtb: &'a [u8]) -> BootNodes<'a> {
        /// The node being read: the root, one of its children, or a CPU.
        #[derive(PartialEq, Eq, Clone, Copy)]
        enum At {
            Root,
            Chosen,
            Aliases,
            Psci,
            Cpus,
            Cpu,
            Other,
        }
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
            aliases: [(&[], ""); MAX_ALIASES],
            naliases: 0,
        };
        // The first `/chosen`, `/aliases`, `/psci` and `/cpus` only, as
        // `find_node` answers with the first match.
        let (mut seen_chosen, mut seen_aliases, mut seen_psci, mut seen_cpus) =
            (false, false, false, false);
        // The kind of each open node, the root at index 1.
        let mut stack = [At::Other; MAX_DEPTH];
        let mut depth = 0usize;
        // A CPU node's `device_type` and `reg`, until the node ends.
        let mut cpu: (bool, Option<u64>) = (false, None);
        for token in Tokens::new(dtb) {
            match token {
                Token::Begin(name) => {
                    depth += 1;
                    if depth >= MAX_DEPTH {
                        break;
                    }
                    stack[depth] = match (depth, stack[depth - 1]) {
                        (1, _) => At::Root,
                        (2, _) if name_matches(name, b"chosen") && !seen_chosen => {
                            seen_chosen = true;
                            At::Chosen
                        }
                        (2, _) if name_matches(name, b"aliases") && !seen_aliases => {
                            seen_aliases = true;
                            At::Aliases
                        }
                        (2, _) if name_matches(name, b"psci") && !seen_psci => {
                            seen_psci = true;
                            At::Psci
                        }
                        (2, _) if name_matches(name, b"cpus") && !seen_cpus => {
                            seen_cpus = true;
                            At::Cpus
                        }
                        (3, At::Cpus) => {
                            cpu = (false, None);
                            At::Cpu
                        }
                        _ => At::Other,
                    };
                }
                Token::End => {
                    if depth == 0 {
                        break;
                    }
                    if stack[depth] == At::Cpu {
                        if let (true, Some(mpidr)) = cpu {
                            if out.ncpus < MAX_DT_CPUS {
                                out.cpus[out.ncpus] = mpidr;
                                out.ncpus += 1;
                            }
                            out.cpus_total += 1;
                        }
                    }
                    depth -= 1;
                }
                Token::Prop(name, value) => match (stack[depth], name) {
                    (At::Root, b"model") => out.model = out.model.or(text(value)),
                    (At::Chosen, b"bootargs") => out.bootargs = out.bootargs.or(text(value)),
                    (At::Chosen, b"stdout-path") if out.stdout_path.is_none() => {
                        out.stdout_path = text(value).and_then(|p| p.split(':').next());
                    }
                    (At::Chosen, b"linux,initrd-start") if out.initrd_start.is_none() => {
                        out.initrd_start = be_cells(value);
                    }
                    (At::Chosen, b"linux,initrd-end") if out.initrd_end.is_none() => {
                        out.initrd_end = be_cells(value);
                    }
                    (At::Aliases, _) if out.naliases < MAX_ALIASES => {
                        if let Some(path) = text(value) {
                            out.aliases[out.naliases] = (name, path);
                            out.naliases += 1;
                        }
                    }
                    (At::Psci, b"method") if out.psci.is_none() => {
                        out.psci = match text(value) {
                            Some("hvc") => Some(PsciConduit::Hvc),
                            Some("smc") => Some(PsciConduit::Smc),
                            _ => None,
                        };
                    }
                    (At::Cpu, b"device_type") => cpu.0 = text(value) == Some("cpu"),
                    (At::Cpu, b"reg") if cpu.1.is_none() => cpu.1 = be_cells(value),
                    _ => {}
                },
            }
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
        self.aliases[..self.naliases]
            .iter()
            .find(|(name, _)| *name == path.as_bytes())
            .map(|(_, p)| *p)
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
    let mut next = want.next();
    // Depth of the node on the path the walk is in (0: the root), and that
    // node's cell sizes for its children.
    let mut depth = 0usize;
    let mut matched = 0usize;
    let mut cells = [(2u32, 1u32); MAX_DEPTH];
    for token in Tokens::new(dtb) {
        match token {
            Token::Begin(name) => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                cells[depth] = (2, 1);
                if depth == 1 {
                    matched = 1;
                } else if depth == matched + 1 && next.is_some_and(|w| name_matches(name, w)) {
                    matched += 1;
                    next = want.next();
                }
            }
            Token::End => {
                // `find_node` takes the first match at each level: leaving a
                // matched node without the rest of the path is a miss.
                if depth == matched {
                    return None;
                }
                depth -= 1;
            }
            Token::Prop(name, value) if depth == matched => match name {
                b"#address-cells" => cells[depth].0 = be32(value, 0).unwrap_or(cells[depth].0),
                b"#size-cells" => cells[depth].1 = be32(value, 0).unwrap_or(cells[depth].1),
                b"reg" if next.is_none() && depth > 1 => {
                    let (a, s) = cells[depth - 1];
                    if !(1..=2).contains(&a) || s > 2 {
                        return None;
                    }
                    let number = |at: usize, n: u32| -> Option<u64> {
                        match n {
                            0 => Some(0),
                            1 => be32(value, at).map(u64::from),
                            _ => Some(
                                u64::from(be32(value, at)?) << 32 | u64::from(be32(value, at + 4)?),
                            ),
                        }
                    };
                    let start = number(0, a)?;
                    let size = number(a as usize * 4, s)?;
                    return Some(Range::from_size(start, size));
                }
                _ => {}
            },
            Token::Prop(..) => {}
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
