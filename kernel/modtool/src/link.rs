//! The subcommands: argument parsing, file I/O and printing around `modloader`.
//!
//! `link` places the three regions consecutively from `--base`, each at a page
//! boundary (or the region's alignment when larger), in the order text, rodata,
//! data; the image in `OUT.bin` covers all of them (bss as zeros). `OUT.map` lists
//! every allocated input section as `INDEX NAME 0xADDRESS SIZE` (size in decimal),
//! then `PLT`, `GOT` and `COMMON` lines for the veneer area, GOT and COMMON block
//! when there are any.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use modloader::{Layout, LoadedModule, Object, PlanOptions, Region, RegionKind, Regions};

/// Why a subcommand failed.
pub enum Failure {
    /// Bad command line (exit 2).
    Usage(String),
    /// Load or I/O error (exit 1).
    Error(String),
    /// An error already reported in its own words (exit 1).
    Quiet,
}

impl From<modloader::LoadError> for Failure {
    fn from(e: modloader::LoadError) -> Self {
        Failure::Error(e.to_string())
    }
}

const PAGE: u64 = 4096;

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Error(format!("{path}: {e}")))
}

/// Reads what linking `path` needs: the ELF header, the section header table and
/// the sections [`Object::parse`] and the load read (allocated sections' bytes,
/// RELA tables of allocated sections, string and symbol tables); the rest of the
/// buffer stays zero and is never touched. The buffer is `vec![0; len]`, which the
/// allocator gets as fresh zero pages from the kernel and which are faulted in only
/// where something is read: for Debian's `amdgpu.ko` that skips 1.6 MB of `.BTF`.
/// On the host a page fault costs more than copying the page, so the whole-process
/// time of `modtool link` is mostly these faults. Anything that does not look like
/// an ELF64 little-endian file with its section header table inside it is read whole,
/// and `Object::parse` says what is wrong with it.
fn read_for_link(path: &str) -> Result<Vec<u8>, Failure> {
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| Failure::Error(format!("{path}: {e}"));
    let file = std::fs::File::open(path).map_err(io)?;
    let len = usize::try_from(file.metadata().map_err(io)?.len())
        .map_err(|_| Failure::Error(format!("{path}: too large")))?;
    let mut bytes = vec![0u8; len];
    let Some(ranges) = needed_ranges(&file, &mut bytes).map_err(io)? else {
        file.read_exact_at(&mut bytes, 0).map_err(io)?;
        return Ok(bytes);
    };
    for (start, end) in ranges {
        file.read_exact_at(&mut bytes[start..end], start as u64)
            .map_err(io)?;
    }
    Ok(bytes)
}

/// A file mapped read-only and private (`mmap(2)`), as `ld.lld` maps its inputs:
/// the pages linking reads come straight from the page cache, with no zeroed
/// buffer and no copy (for Debian's `amdgpu.ko` those were about a fifth of the
/// whole process's time, `perf record`). Truncating the file while it is mapped
/// would fault the reader (SIGBUS), as it would `ld.lld`.
struct MappedFile {
    ptr: *mut libc::c_void,
    len: usize,
}

impl MappedFile {
    /// The file mapped, or `None` (empty, not a regular file, mapping refused:
    /// the caller reads it instead, and reports any error from that).
    fn open(path: &str) -> Option<MappedFile> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        let len = usize::try_from(meta.len()).ok()?;
        if !meta.is_file() || len == 0 {
            return None;
        }
        // The mapping outlives the descriptor, which may be closed after the call.
        // SAFETY: a fresh private read-only mapping of `len` bytes of an open file at an address the kernel picks; nothing else is affected.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(MappedFile { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live read-only mapping of `len` bytes (unmapped only in drop, after every borrow of `self`); the file is not written by us.
        unsafe { core::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `open` made; no borrow of it is live.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Reads the ELF header, the section header table and the section name table into
/// `bytes` (as long as the file) and returns the other byte ranges linking reads,
/// merged where they are close; `None` when the headers are not what
/// [`read_for_link`] expects.
fn needed_ranges(
    file: &std::fs::File,
    bytes: &mut [u8],
) -> std::io::Result<Option<Vec<(usize, usize)>>> {
    use std::os::unix::fs::FileExt;
    // ELF64 (System V gABI): header fields and section header fields by offset.
    const SHF_ALLOC: u64 = 0x2;
    const SHT_SYMTAB: u32 = 2;
    const SHT_STRTAB: u32 = 3;
    const SHT_RELA: u32 = 4;
    const SHT_NOBITS: u32 = 8;
    const SHDR_SIZE: usize = 64;
    // Ranges closer than this are read as one: a read costs about what 16 pages do.
    const GAP: usize = 64 << 10;
    let len = bytes.len() as u64;
    let word = |b: &[u8], at: usize, n: usize| {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(w)
    };
    let Some(header) = bytes.get_mut(..64) else {
        return Ok(None);
    };
    file.read_exact_at(header, 0)?;
    let header: &[u8] = header;
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Ok(None);
    }
    let shoff = word(header, 0x28, 8);
    let (shentsize, shnum) = (word(header, 0x3a, 2), word(header, 0x3c, 2));
    let shstrndx = word(header, 0x3e, 2) as usize;
    let table_end = shoff.checked_add(shnum * SHDR_SIZE as u64);
    if shentsize != SHDR_SIZE as u64 || shnum == 0 || table_end.is_none_or(|e| e > len) {
        return Ok(None);
    }
    let (shoff, shnum) = (shoff as usize, shnum as usize);
    let table = &mut bytes[shoff..shoff + shnum * SHDR_SIZE];
    file.read_exact_at(table, shoff as u64)?;
    let table = table.to_vec();
    let field = |i: usize, at: usize, n: usize| word(&table, i * SHDR_SIZE + at, n);
    let flags = |i: usize| field(i, 8, 8);
    let range = |i: usize| {
        let (offset, size) = (field(i, 24, 8), field(i, 32, 8));
        let end = offset.checked_add(size).filter(|&e| e <= len)?;
        Some((offset as usize, end as usize))
    };
    // Section names, to find the unallocated sections the load reads.
    let Some((names_start, names_end)) = (shstrndx < shnum).then(|| range(shstrndx)).flatten()
    else {
        return Ok(None);
    };
    file.read_exact_at(&mut bytes[names_start..names_end], names_start as u64)?;
    let names = &bytes[names_start..names_end];
    // `.modinfo` and `.modprelink` are read though not allocated.
    let read_unallocated = |i: usize| {
        let name = names.get(field(i, 0, 4) as usize..).unwrap_or_default();
        name.starts_with(b".modinfo\0") || name.starts_with(b".modprelink\0")
    };
    let mut ranges = Vec::new();
    for i in 0..shnum {
        let needed = match field(i, 4, 4) as u32 {
            SHT_NOBITS => false,
            SHT_SYMTAB | SHT_STRTAB => true,
            // sh_info: the section it relocates.
            SHT_RELA => {
                let target = field(i, 44, 4) as usize;
                target < shnum && flags(target) & SHF_ALLOC != 0
            }
            _ => flags(i) & SHF_ALLOC != 0 || read_unallocated(i),
        };
        if !needed || field(i, 32, 8) == 0 {
            continue;
        }
        // Outside the file: Object::parse says so, from the whole file.
        let Some(r) = range(i) else {
            return Ok(None);
        };
        ranges.push(r);
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(GAP) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Ok(Some(merged))
}

fn write(path: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::Error(format!("{path}: {e}")))
}

/// Parses `0x...` hex or decimal.
pub fn parse_address(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Reads a SYMS file: `NAME 0xADDRESS` per line; blank lines and `#` comments skipped.
pub fn parse_symbols(path: &str, text: &str) -> Result<HashMap<String, u64>, Failure> {
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(addr), None) = (words.next(), words.next(), words.next()) else {
            return Err(Failure::Error(format!(
                "{path}:{}: expected 'NAME 0xADDRESS'",
                n + 1
            )));
        };
        let addr = parse_address(addr)
            .ok_or_else(|| Failure::Error(format!("{path}:{}: bad address '{addr}'", n + 1)))?;
        map.insert(name.to_string(), addr);
    }
    Ok(map)
}

/// The result of linking an object at an address on the host.
pub struct Linked<'a> {
    /// The image, starting at the base address.
    pub image: Vec<u8>,
    /// What the loader reported.
    pub module: LoadedModule<'a>,
}

fn align_up(x: u64, align: u64) -> Option<u64> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// Lays out and loads `object` with the regions consecutive from `base`.
pub fn link_at<'a>(
    object: &Object<'a>,
    base: u64,
    symbols: &HashMap<String, u64>,
    options: PlanOptions,
) -> Result<Linked<'a>, Failure> {
    let layout = Layout::plan_with(object, options)?;
    let overflow = || Failure::Error("regions do not fit the address space".into());
    let mut bases = [0u64; 3];
    let mut cursor = base;
    for (i, kind) in [RegionKind::Text, RegionKind::Rodata, RegionKind::Data]
        .into_iter()
        .enumerate()
    {
        let spec = layout.region(kind);
        cursor = align_up(cursor, spec.align.max(PAGE)).ok_or_else(overflow)?;
        bases[i] = cursor;
        cursor = cursor.checked_add(spec.size).ok_or_else(overflow)?;
    }
    let total = usize::try_from(cursor - base).map_err(|_| overflow())?;
    let mut image = vec![0u8; total];
    let off = |i: usize| (bases[i] - base) as usize;
    let (text, rest) = image.split_at_mut(off(1));
    let (rodata, data) = rest.split_at_mut(off(2) - off(1));
    let text = &mut text[off(0)..];
    let regions = Regions {
        text: Region {
            base: bases[0],
            bytes: text,
        },
        rodata: Region {
            base: bases[1],
            bytes: rodata,
        },
        data: Region {
            base: bases[2],
            bytes: data,
        },
    };
    let mut resolver = |name: &str| symbols.get(name).copied();
    let module = object.load(&layout, regions, &mut resolver)?;
    Ok(Linked { image, module })
}

/// The `.map` text for a linked module.
pub fn map_text(module: &LoadedModule<'_>) -> String {
    let mut out = String::new();
    for s in &module.sections {
        let _ = writeln!(out, "{} {} {:#x} {}", s.index, s.name, s.address, s.size);
    }
    for (label, area) in [
        ("PLT", module.plt),
        ("GOT", module.got),
        ("COMMON", module.common),
    ] {
        if let Some(a) = area {
            let _ = writeln!(out, "{label} {:#x} {}", a.address, a.size);
        }
    }
    out
}

pub fn link_command(args: &[String]) -> Result<(), Failure> {
    let mut input = None;
    let mut base = None;
    let mut syms = None;
    let mut out = None;
    // Regions are placed as the kernel places them, so `.modprelink` applies.
    let mut options = PlanOptions {
        use_prelink: true,
        ..PlanOptions::default()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--base" => {
                let v = value()?;
                base = Some(
                    parse_address(&v)
                        .ok_or_else(|| Failure::Usage(format!("bad address '{v}'")))?,
                );
            }
            "--symbols" => syms = Some(value()?),
            "-o" => out = Some(value()?),
            "--fix-cortex-a53-843419" => options.fix_cortex_a53_843419 = true,
            "--no-prelink" => options.use_prelink = false,
            _ if input.is_none() && !arg.starts_with('-') => input = Some(arg.clone()),
            _ => return Err(Failure::Usage(format!("unexpected argument '{arg}'"))),
        }
    }
    let (Some(input), Some(base), Some(out)) = (input, base, out) else {
        return Err(Failure::Usage("link needs FILE.ko, --base and -o".into()));
    };
    if base % PAGE != 0 {
        return Err(Failure::Usage(format!(
            "--base {base:#x} is not page-aligned"
        )));
    }
    let symbols = match syms {
        Some(path) => {
            let text = String::from_utf8_lossy(&read(&path)?).into_owned();
            parse_symbols(&path, &text)?
        }
        None => HashMap::new(),
    };
    let mapped = MappedFile::open(&input);
    let owned;
    let bytes: &[u8] = match &mapped {
        Some(m) => m.bytes(),
        None => {
            owned = read_for_link(&input)?;
            &owned
        }
    };
    let object = Object::parse(bytes).map_err(|e| Failure::Error(format!("{input}: {e}")))?;
    let linked = link_at(&object, base, &symbols, options).map_err(|e| match e {
        Failure::Error(m) => Failure::Error(format!("{input}: {m}")),
        u => u,
    })?;
    write(&format!("{out}.bin"), &linked.image)?;
    write(&format!("{out}.map"), map_text(&linked.module).as_bytes())?;
    Ok(())
}

/// Whether a section is one `ld.lld` rewrites (so it is discarded in the script and
/// not compared): `.eh_frame` is parsed and re-emitted, GNU property notes merged.
pub fn lld_rewrites(name: &str) -> bool {
    name == ".eh_frame" || name.starts_with(".note")
}

/// A linker script placing each section of `map` at its address.
pub fn lld_script(map: &str, symbols: &HashMap<String, u64>) -> Result<String, Failure> {
    // Output sections in address order, so lld's file offsets follow addresses.
    let mut placed: Vec<(u64, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut discard = Vec::new();
    for line in map.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || Failure::Error(format!("bad map line '{line}'"));
        match words.as_slice() {
            ["PLT", ..] => {}
            ["GOT", addr, _] => {
                let a = parse_address(addr).ok_or_else(bad)?;
                placed.push((a, format!("  .got {a:#x} : {{ *(.got) }}\n")));
            }
            ["COMMON", addr, _] => {
                let a = parse_address(addr).ok_or_else(bad)?;
                placed.push((a, format!("  .common {a:#x} : {{ *(COMMON) }}\n")));
            }
            [index, name, addr, _size] => {
                let a = parse_address(addr).ok_or_else(bad)?;
                if lld_rewrites(name) {
                    discard.push(*name);
                } else if seen.insert(*name) {
                    placed.push((a, format!("  .o{index} {a:#x} : {{ *(\"{name}\") }}\n")));
                }
            }
            _ => return Err(bad()),
        }
    }
    placed.sort_by_key(|(a, _)| *a);
    let mut script = String::from("SECTIONS {\n");
    for (_, line) in placed {
        script.push_str(&line);
    }
    script.push_str("  /DISCARD/ : {");
    for name in discard {
        let _ = write!(script, " *(\"{name}\")");
    }
    script.push_str(" }\n}\n");
    let mut names: Vec<_> = symbols.iter().collect();
    names.sort();
    for (name, addr) in names {
        let _ = writeln!(script, "\"{name}\" = {addr:#x};");
    }
    Ok(script)
}

pub fn lld_script_command(args: &[String]) -> Result<(), Failure> {
    let [map, syms] = args else {
        return Err(Failure::Usage("lld-script needs OUT.map and SYMS".into()));
    };
    let map_text = String::from_utf8_lossy(&read(map)?).into_owned();
    let syms_text = String::from_utf8_lossy(&read(syms)?).into_owned();
    let symbols = parse_symbols(syms, &syms_text)?;
    print!("{}", lld_script(&map_text, &symbols)?);
    Ok(())
}

fn flags_text(flags: u64) -> String {
    let mut s = String::new();
    for (bit, c) in [(0x2, 'A'), (0x1, 'W'), (0x4, 'X'), (0x10, 'M'), (0x20, 'S')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

pub fn info(args: &[String]) -> Result<(), Failure> {
    let [path] = args else {
        return Err(Failure::Usage("info needs FILE.ko".into()));
    };
    let bytes = read(path)?;
    let object = Object::parse(&bytes).map_err(|e| Failure::Error(format!("{path}: {e}")))?;
    let mut out = String::new();
    let _ = writeln!(out, "file:     {path} ({} bytes)", bytes.len());
    for kv in object.modinfo() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let _ = writeln!(out, "{:<9} {v}", format!("{k}:"));
    }
    for (k, v) in crate::sign::info_lines(&bytes) {
        let _ = writeln!(out, "{:<13} {v}", format!("{k}:"));
    }
    let _ = writeln!(out, "sections:");
    let _ = writeln!(
        out,
        "  {:>4} {:<32} {:>10} {:>10} {:>6} {:<5} region",
        "idx", "name", "type", "size", "align", "flags"
    );
    for s in object.sections().iter().skip(1) {
        let region = s.region().map_or("-".to_string(), |r| r.to_string());
        let _ = writeln!(
            out,
            "  {:>4} {:<32} {:>10} {:>10} {:>6} {:<5} {region}",
            s.index,
            s.name,
            s.sh_type,
            s.size,
            s.align,
            flags_text(s.flags)
        );
    }
    let needed: Vec<&str> = object.undefined_symbols().collect();
    let _ = writeln!(out, "needs ({}): {}", needed.len(), needed.join(" "));
    let exported: Vec<&str> = object
        .defined_globals()
        .map(|(_, s)| object.symbol_name(s))
        .collect();
    let _ = writeln!(out, "exports ({}): {}", exported.len(), exported.join(" "));
    // A stripped object has no other plan; a whole one is shown with all of
    // its RELA entries, as any linker sees it.
    let options = modloader::PlanOptions {
        use_prelink: object.prelink_stripped(),
        ..modloader::PlanOptions::default()
    };
    let layout = Layout::plan_with(&object, options)?;
    if let Some(applied) = object.prelinked_relocations() {
        let _ = writeln!(
            out,
            "prelink:  {applied} relocations applied at build time; {}",
            if object.prelink_stripped() {
                "removed from the RELA tables (stripped: loads only as the build planned it)"
            } else {
                "RELA tables whole (.modprelink lists the ones left)"
            }
        );
    }
    let _ = writeln!(
        out,
        "layout:   text {} (align {}), rodata {} (align {}), data {} (align {}); veneer slots {}, GOT slots {}",
        layout.text.size,
        layout.text.align,
        layout.rodata.size,
        layout.rodata.align,
        layout.data.size,
        layout.data.align,
        layout.veneer_slots(),
        layout.got_slots()
    );
    let _ = writeln!(out, "relocations ({}):", layout.relocation_total());
    for (kind, n) in modloader::RelocKind::ALL
        .iter()
        .zip(layout.relocation_counts.iter())
    {
        if *n != 0 {
            let _ = writeln!(out, "  {:<32} {n}", kind.name());
        }
    }
    print!("{out}");
    Ok(())
}

pub fn bench(args: &[String]) -> Result<(), Failure> {
    let mut path = None;
    let mut iterations: u32 = 200;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--iterations" => {
                iterations = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Failure::Usage("--iterations needs a positive number".into()))?;
            }
            _ if path.is_none() => path = Some(arg.clone()),
            _ => return Err(Failure::Usage(format!("unexpected argument '{arg}'"))),
        }
    }
    let Some(path) = path else {
        return Err(Failure::Usage("bench needs FILE.ko".into()));
    };
    let bytes = read(&path)?;
    // Resolve every import to an address near the image so no veneers are needed.
    let object = Object::parse(&bytes)?;
    let base = 0x4000_0000u64;
    let symbols: HashMap<String, u64> = object
        .undefined_symbols()
        .enumerate()
        .map(|(i, n)| (n.to_string(), 0x3f00_0000 + 16 * i as u64))
        .collect();
    // A stripped object has one plan (its `.modprelink`); a whole one is
    // timed with all of its RELA entries, as any linker applies them.
    let options = modloader::PlanOptions {
        use_prelink: object.prelink_stripped(),
        ..modloader::PlanOptions::default()
    };
    let layout = Layout::plan_with(&object, options)?;
    let total = layout.text.size + layout.rodata.size + layout.data.size;
    let mut image = vec![0u8; usize::try_from(total + 3 * 65536).unwrap_or(0)];
    let relocations = layout.relocation_total();

    // Phase timings, best of N (the steady state, without page faults on first touch).
    let mut best = [f64::MAX; 3];
    for _ in 0..iterations {
        let t0 = Instant::now();
        let object = Object::parse(&bytes)?;
        let t1 = Instant::now();
        let layout = Layout::plan_with(&object, options)?;
        let t2 = Instant::now();
        let regions = split_regions(&layout, &mut image, base);
        let mut resolver = |name: &str| symbols.get(name).copied();
        object.load(&layout, regions, &mut resolver)?;
        let t3 = Instant::now();
        for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
            *b = b.min(d.as_secs_f64());
        }
    }
    let whole = best.iter().sum::<f64>();
    println!(
        "object:        {path} ({} bytes, {relocations} relocations, image {total} bytes)",
        bytes.len()
    );
    println!("method:        in-process, best of {iterations} runs per phase, std::time::Instant");
    println!("parse:         {:9.1} us", best[0] * 1e6);
    println!("plan:          {:9.1} us", best[1] * 1e6);
    println!(
        "load:          {:9.1} us  (copy + resolve + relocate)",
        best[2] * 1e6
    );
    println!("parse+plan+load: {:7.1} us", whole * 1e6);
    println!(
        "relocations/s: {:9.1} M (whole load path)",
        relocations as f64 / whole / 1e6
    );
    println!(
        "throughput:    {:9.1} MB/s of object file (whole load path)",
        bytes.len() as f64 / whole / 1e6
    );
    Ok(())
}

/// Cuts `image` into three consecutive page-aligned regions from `base`.
fn split_regions<'m>(layout: &Layout, image: &'m mut [u8], base: u64) -> Regions<'m> {
    let mut rest = image;
    let mut cursor = base;
    let mut take = |kind: RegionKind| {
        let spec = layout.region(kind);
        let start = align_up(cursor, spec.align.max(PAGE)).unwrap_or(cursor);
        let skip = (start - cursor) as usize;
        let r = std::mem::take(&mut rest);
        let (_, r) = r.split_at_mut(skip.min(r.len()));
        let (mine, r) = r.split_at_mut((spec.size as usize).min(r.len()));
        rest = r;
        cursor = start + spec.size;
        Region {
            base: start,
            bytes: mine,
        }
    };
    let text = take(RegionKind::Text);
    let rodata = take(RegionKind::Rodata);
    let data = take(RegionKind::Data);
    Regions { text, rodata, data }
}
