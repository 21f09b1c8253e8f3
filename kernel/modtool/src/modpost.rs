//! `modtool modpost --symvers Module.symvers IN.o -o OUT.ko`: turns a compiled
//! object into a module, as Linux's `scripts/mod/modpost` does.
//!
//! - Every symbol the object calls or uses (its undefined globals, but
//!   `__this_module`, which the loader resolves to the module itself) must be
//!   exported by the kernel or a module listed in `Module.symvers`; one that is
//!   not is `ERROR: modpost: "foo" [m.ko] undefined!` (a weak one may stay
//!   missing, as the loader allows). A module whose license is not
//!   GPL-compatible may not use an `EXPORT_SYMBOL_GPL` symbol.
//! - Each gets a `__versions` entry (`struct modversion_info`: 8-byte CRC,
//!   56-byte name) with the CRC from `Module.symvers`. An entry the object
//!   already has (`MODULE_VERSION_OF`) is kept as it is, once; if its CRC
//!   disagrees with `Module.symvers` that is reported as a warning (the kernel
//!   will refuse the module at insmod, which is what a test module wants).
//! - `.modinfo` gets `abi=N` (kabi's ABI version) unless it has an `abi=`, and
//!   `name=` from the output file's name unless it has one.
//!
//! The object is read and written with the `object` crate's ELF builder, which
//! keeps every section, symbol and relocation as it was; only `.modinfo` and
//! `__versions` change (or are added).

use crate::symvers::{self, Export};
use object::build::elf::{Builder, SectionData};
use object::elf;

/// Size of a `__versions` entry and its name field (Linux's `MODULE_NAME_LEN`).
const MODVERSION_SIZE: usize = kabi::MOD_VERSION_SIZE;
const MODVERSION_NAME: usize = 56;
const _: () = assert!(MODVERSION_SIZE == 64);

/// What modpost did, or why it refused.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Symbols that got a new `__versions` entry.
    pub added: Vec<String>,
}

/// Licenses the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
fn gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

/// Existing `__versions` entries: (name, crc).
fn versions_of(data: &[u8]) -> Vec<(String, u64)> {
    data.chunks_exact(MODVERSION_SIZE)
        .map(|c| {
            let crc = u64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8]));
            let name = &c[8..];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            (String::from_utf8_lossy(&name[..len]).into_owned(), crc)
        })
        .collect()
}

fn modversion(name: &str, crc: u32) -> [u8; MODVERSION_SIZE] {
    let mut e = [0u8; MODVERSION_SIZE];
    e[..8].copy_from_slice(&u64::from(crc).to_le_bytes());
    let n = name.len().min(MODVERSION_NAME - 1);
    e[8..8 + n].copy_from_slice(&name.as_bytes()[..n]);
    e
}

/// The object's imports: its undefined global and weak symbols but
/// `__this_module` (which the loader resolves to the module itself), each
/// once, with whether it is weak.
fn imports(builder: &Builder<'_>) -> Vec<(String, bool)> {
    let mut imports: Vec<(String, bool)> = Vec::new();
    for sym in builder.symbols.iter() {
        if sym.delete || sym.section.is_some() || sym.st_shndx != elf::SHN_UNDEF {
            continue;
        }
        let name = String::from_utf8_lossy(sym.name.as_slice()).into_owned();
        let bind = sym.st_bind();
        if name.is_empty()
            || name == kabi::THIS_MODULE_SYMBOL
            || !(bind == elf::STB_GLOBAL || bind == elf::STB_WEAK)
            || imports.iter().any(|(n, _)| *n == name)
        {
            continue;
        }
        imports.push((name, bind == elf::STB_WEAK));
    }
    imports
}

/// `__versions` cut to the entries of the symbols the object imports, as
/// Linux's modpost writes it, in the order the object imports them (see
/// [`order_as_imported`]). A Rust module's table comes
/// from `kabi::rt` and lists every kernel export (the crate cannot know which
/// the linker keeps): hello.ko used 7 of its 37 entries, and the signature
/// hashes every byte of the file at each load. Returns the new object and
/// the number of entries removed, or `None` when there is nothing to remove
/// (no `__versions`, or every entry is used: such a table is left in its
/// order too). Refuses a table that a relocation section points into, or
/// that a symbol covers part of an entry of (the entries would move under
/// them); symbols covering whole entries shrink to the entries they keep.
pub fn trim_versions(input: &[u8], ko: &str) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut builder = Builder::read(input).map_err(|e| format!("{ko}: not an ELF object: {e}"))?;
    let Some(id) = builder
        .sections
        .iter()
        .find(|s| s.name.as_slice() == b"__versions")
        .map(|s| s.id())
    else {
        return Ok(None);
    };
    let SectionData::Data(data) = &builder.sections.get(id).data else {
        return Err(format!("{ko}: __versions is not a data section"));
    };
    if !data.len().is_multiple_of(MODVERSION_SIZE) {
        return Err(format!(
            "{ko}: __versions size {} is not a multiple of {MODVERSION_SIZE}",
            data.len()
        ));
    }
    let imports = imports(&builder);
    let mut kept = Vec::with_capacity(data.len());
    // kept_before[i]: entries kept among the first i.
    let mut kept_before = vec![0u64];
    for (entry, (name, _)) in data.chunks_exact(MODVERSION_SIZE).zip(versions_of(data)) {
        let keep = imports.iter().any(|(n, _)| *n == name);
        if keep {
            kept.extend_from_slice(entry);
        }
        kept_before.push(kept_before.last().copied().unwrap_or(0) + u64::from(keep));
    }
    let removed = kept_before.len() - 1 - kept.len() / MODVERSION_SIZE;
    if removed == 0 {
        return Ok(None);
    }
    if builder
        .sections
        .iter()
        .any(|s| matches!(s.data, SectionData::Relocation(_)) && s.sh_info_section == Some(id))
    {
        return Err(format!("{ko}: __versions has relocations: not trimmed"));
    }
    // The table's symbols (kabi's, and a module's own entry for another
    // module's export) each cover whole entries: they shrink to the entries
    // they keep.
    let entry = MODVERSION_SIZE as u64;
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for sym in builder.symbols.iter_mut() {
        if sym.section != Some(id) {
            continue;
        }
        let (start, end) = (sym.st_value, sym.st_value.saturating_add(sym.st_size));
        let whole =
            |at: u64| at.is_multiple_of(entry) && ((at / entry) as usize) < kept_before.len();
        if !whole(start) || !whole(end) {
            return Err(format!(
                "{ko}: symbol {} covers part of a __versions entry: not trimmed",
                String::from_utf8_lossy(sym.name.as_slice())
            ));
        }
        let (a, b) = (
            kept_before[(start / entry) as usize],
            kept_before[(end / entry) as usize],
        );
        sym.st_value = a * entry;
        sym.st_size = (b - a) * entry;
        if b > a {
            ranges.push((a as usize, b as usize));
        }
    }
    order_as_imported(&mut kept, &mut ranges, &imports);
    set_section(&mut builder, Some(id), "__versions", kept, 8);
    let mut out = Vec::new();
    builder
        .write(&mut out)
        .map_err(|e| format!("{ko}: writing: {e}"))?;
    Ok(Some((out, removed)))
}

/// Puts the entries of each symbol's range of `table` (the whole table when
/// no symbol covers any) in the order of `imports`, the object's symbol
/// table order, which is the order the loader resolves imports in: it
/// tries the entry after the last one it found first, so a table in that
/// order is read one entry an import. Ranges that overlap are left as they
/// are.
fn order_as_imported(
    table: &mut [u8],
    ranges: &mut Vec<(usize, usize)>,
    imports: &[(String, bool)],
) {
    let entries = table.len() / MODVERSION_SIZE;
    if ranges.is_empty() {
        ranges.push((0, entries));
    }
    ranges.sort_unstable();
    ranges.dedup();
    if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
        return;
    }
    for &(a, b) in ranges.iter() {
        let Some(part) = table.get_mut(a * MODVERSION_SIZE..b * MODVERSION_SIZE) else {
            continue;
        };
        let mut rows: Vec<[u8; MODVERSION_SIZE]> = part
            .chunks_exact(MODVERSION_SIZE)
            .map(|c| c.try_into().unwrap_or([0; MODVERSION_SIZE]))
            .collect();
        rows.sort_by_key(|row| {
            let (name, _) = versions_of(row).pop().unwrap_or_default();
            imports
                .iter()
                .position(|(n, _)| *n == name)
                .unwrap_or(usize::MAX)
        });
        for (dst, row) in part.chunks_exact_mut(MODVERSION_SIZE).zip(&rows) {
            dst.copy_from_slice(row);
        }
    }
}

/// `modtool versions --trim FILE.ko [-o OUT.ko]` (in place without `-o`).
pub fn versions_command(args: &[String]) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let (mut trim, mut out, mut input) = (false, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trim" => trim = true,
            "-o" => out = it.next().cloned(),
            f if f.starts_with('-') => return Err(Failure::Usage(format!("unknown option {f}"))),
            f => input = Some(f.to_string()),
        }
    }
    let (true, Some(input)) = (trim, input) else {
        return Err(Failure::Usage("versions needs --trim and FILE.ko".into()));
    };
    rewrite(&input, out.as_deref(), |data| {
        Ok(trim_versions(data, &input)?.map(|(bytes, _)| bytes))
    })
}

/// Applies `edit` to the file `input` and writes the result to `out`
/// (`input` itself when `None`); an edit that changes nothing (`None`)
/// copies the file to `out`, or leaves `input` untouched.
pub(crate) fn rewrite(
    input: &str,
    out: Option<&str>,
    edit: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, String>,
) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let out = out.unwrap_or(input);
    let data = std::fs::read(input).map_err(|e| Failure::Error(format!("{input}: {e}")))?;
    let bytes = match edit(&data).map_err(Failure::Error)? {
        Some(bytes) => bytes,
        None if out != input => data,
        None => return Ok(()),
    };
    std::fs::write(out, bytes).map_err(|e| Failure::Error(format!("{out}: {e}")))
}

/// Runs modpost on `input`; `ko` is the output's file name (for messages and
/// the default `name=`). Returns the new object, or the report's errors.
pub fn modpost(input: &[u8], ko: &str, exports: &[Export]) -> Result<(Vec<u8>, Report), Report> {
    let mut report = Report::default();
    let mut builder = match Builder::read(input) {
        Ok(b) => b,
        Err(e) => {
            report
                .errors
                .push(format!("ERROR: modpost: {ko}: not an ELF object: {e}"));
            return Err(report);
        }
    };
    if !builder.is_64
        || builder.header.e_type != elf::ET_REL
        || builder.header.e_machine != elf::EM_AARCH64
    {
        report.errors.push(format!(
            "ERROR: modpost: {ko}: not an ELF64 AArch64 relocatable object"
        ));
        return Err(report);
    }
    let ko_base = ko.rsplit('/').next().unwrap_or(ko);
    // build-modules.sh writes NAME.ko.debug and strips it into NAME.ko.
    let ko_base = ko_base
        .strip_suffix(".debug")
        .unwrap_or(ko_base)
        .to_string();

    // .modinfo as it is.
    let modinfo_id = builder
        .sections
        .iter()
        .find(|s| s.name.as_slice() == b".modinfo")
        .map(|s| s.id());
    let mut modinfo: Vec<u8> = match modinfo_id.map(|id| &builder.sections.get(id).data) {
        Some(SectionData::Data(d)) => d.to_vec(),
        _ => Vec::new(),
    };
    let info: Vec<String> = modinfo
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let license = info.iter().find_map(|l| l.strip_prefix("license="));

    let imports = imports(&builder);

    // __versions as it is.
    let versions_id = builder
        .sections
        .iter()
        .find(|s| s.name.as_slice() == b"__versions")
        .map(|s| s.id());
    let mut versions: Vec<u8> = match versions_id.map(|id| &builder.sections.get(id).data) {
        Some(SectionData::Data(d)) => d.to_vec(),
        Some(_) => {
            report.errors.push(format!(
                "ERROR: modpost: {ko}: __versions is not a data section"
            ));
            return Err(report);
        }
        None => Vec::new(),
    };
    if !versions.len().is_multiple_of(MODVERSION_SIZE) {
        report.errors.push(format!(
            "ERROR: modpost: {ko}: __versions size {} is not a multiple of {MODVERSION_SIZE}",
            versions.len()
        ));
        return Err(report);
    }
    let existing = versions_of(&versions);

    for (name, weak) in &imports {
        let Some(export) = exports.iter().find(|e| e.symbol == *name) else {
            if !weak {
                report
                    .errors
                    .push(format!("ERROR: modpost: \"{name}\" [{ko_base}] undefined!"));
            }
            continue;
        };
        if export.gpl_only && !license.is_some_and(gpl_compatible) {
            report.errors.push(format!(
                "ERROR: modpost: GPL-incompatible module {ko_base} uses GPL-only symbol '{name}'"
            ));
        }
        match existing.iter().find(|(n, _)| n == name) {
            Some((_, crc)) if *crc != u64::from(export.crc) => report.warnings.push(format!(
                "WARNING: modpost: {ko_base}: __versions has {crc:#010x} for \"{name}\" but {} exports it as {:#010x}; kept the module's (the kernel will refuse it if they differ)",
                export.module, export.crc
            )),
            Some(_) => {}
            None => {
                versions.extend_from_slice(&modversion(name, export.crc));
                report.added.push(name.clone());
            }
        }
    }
    if !report.errors.is_empty() {
        return Err(report);
    }

    // .modinfo additions.
    if !info.iter().any(|l| l.starts_with("abi=")) {
        modinfo.extend_from_slice(format!("abi={}\0", kabi::ABI_VERSION).as_bytes());
    }
    if !info.iter().any(|l| l.starts_with("name=")) {
        let name = symvers::module_name(&[], ko);
        modinfo.extend_from_slice(format!("name={name}\0").as_bytes());
    }

    set_section(&mut builder, modinfo_id, ".modinfo", modinfo, 1);
    if !versions.is_empty() {
        set_section(&mut builder, versions_id, "__versions", versions, 8);
    }
    let mut out = Vec::new();
    if let Err(e) = builder.write(&mut out) {
        report
            .errors
            .push(format!("ERROR: modpost: {ko}: writing: {e}"));
        return Err(report);
    }
    Ok((out, report))
}

/// Replaces a section's data, or adds the section (allocated, read-only data).
fn set_section(
    builder: &mut Builder<'_>,
    id: Option<object::build::elf::SectionId>,
    name: &str,
    data: Vec<u8>,
    align: u64,
) {
    let section = match id {
        Some(id) => builder.sections.get_mut(id),
        None => {
            let s = builder.sections.add();
            s.name = name.as_bytes().to_vec().into();
            s.sh_type = elf::SHT_PROGBITS;
            s.sh_flags = u64::from(elf::SHF_ALLOC);
            s.sh_addralign = align;
            s
        }
    };
    section.sh_size = data.len() as u64;
    section.data = SectionData::Data(data.into());
}

/// `modtool modpost --symvers FILE IN.o -o OUT.ko`.
pub fn command(args: &[String]) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let (mut symvers_path, mut out, mut input) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--symvers" => symvers_path = it.next().cloned(),
            "-o" => out = it.next().cloned(),
            f if f.starts_with('-') => return Err(Failure::Usage(format!("unknown option {f}"))),
            f => input = Some(f.to_string()),
        }
    }
    let (Some(symvers_path), Some(out), Some(input)) = (symvers_path, out, input) else {
        return Err(Failure::Usage(
            "modpost needs --symvers FILE, IN.o and -o OUT.ko".into(),
        ));
    };
    let text = std::fs::read_to_string(&symvers_path)
        .map_err(|e| Failure::Error(format!("{symvers_path}: {e}")))?;
    let exports = symvers::parse(&symvers_path, &text).map_err(Failure::Error)?;
    let data = std::fs::read(&input).map_err(|e| Failure::Error(format!("{input}: {e}")))?;
    match modpost(&data, &out, &exports) {
        Ok((bytes, report)) => {
            for w in &report.warnings {
                eprintln!("{w}");
            }
            std::fs::write(&out, bytes).map_err(|e| Failure::Error(format!("{out}: {e}")))
        }
        Err(report) => {
            for w in report.warnings.iter().chain(&report.errors) {
                eprintln!("{w}");
            }
            Err(Failure::Quiet)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object as WObject, Symbol, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };

    /// A relocatable AArch64 object importing `imports`, whose `__versions`
    /// holds an entry per name in `entries`, with `symbols` (name, offset,
    /// size) defined in it.
    fn object_with(imports: &[&str], entries: &[&str], symbols: &[(&str, u64, u64)]) -> Vec<u8> {
        let mut o = WObject::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
        let text = o.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        o.append_section_data(text, &[0; 4], 4);
        let versions = o.add_section(
            Vec::new(),
            b"__versions".to_vec(),
            SectionKind::ReadOnlyData,
        );
        let data: Vec<u8> = entries
            .iter()
            .enumerate()
            .flat_map(|(i, n)| modversion(n, 0x1000 + i as u32))
            .collect();
        o.append_section_data(versions, &data, 8);
        for name in imports {
            o.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: 0,
                size: 0,
                kind: SymbolKind::Text,
                scope: SymbolScope::Linkage,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            });
        }
        for (name, value, size) in symbols {
            o.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: *value,
                size: *size,
                kind: SymbolKind::Data,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(versions),
                flags: SymbolFlags::None,
            });
        }
        o.write().unwrap()
    }

    /// A symbol's (name, value, size).
    type Sym = (String, u64, u64);

    fn table(bytes: &[u8]) -> (Vec<(String, u64)>, Vec<Sym>) {
        use object::{Object, ObjectSection, ObjectSymbol};
        let f = object::File::parse(bytes).unwrap();
        let s = f.section_by_name("__versions").unwrap();
        let syms = f
            .symbols()
            .filter(|y| y.section_index() == Some(s.index()) && y.kind() == SymbolKind::Data)
            .map(|y| (y.name().unwrap().to_string(), y.address(), y.size()))
            .collect();
        (versions_of(s.data().unwrap()), syms)
    }

    #[test]
    fn versions_keep_only_the_imports_and_their_symbols_shrink_with_them() {
        let input = object_with(
            &["memcpy", "printk", "hello_add"],
            &[
                "hello_add",
                "printk",
                "kmalloc",
                "kfree",
                "memcpy",
                "udelay",
            ],
            &[("OWN", 0, 64), ("TABLE", 64, 5 * 64)],
        );
        let (out, removed) = trim_versions(&input, "t.ko").unwrap().expect("trimmed");
        assert_eq!(removed, 3);
        let (entries, syms) = table(&out);
        assert_eq!(
            entries,
            [
                ("hello_add".to_string(), 0x1000),
                ("memcpy".to_string(), 0x1004),
                ("printk".to_string(), 0x1001)
            ],
            "each symbol's entries in import order"
        );
        assert_eq!(
            syms,
            [("OWN".to_string(), 0, 64), ("TABLE".to_string(), 64, 128)]
        );
        // Trimmed once, nothing more to do.
        assert!(trim_versions(&out, "t.ko").unwrap().is_none());
    }

    #[test]
    fn versions_a_symbol_inside_an_entry_refuses_the_trim() {
        let input = object_with(&["printk"], &["printk", "kfree"], &[("ODD", 8, 64)]);
        let err = trim_versions(&input, "t.ko").unwrap_err();
        assert!(err.contains("covers part of a __versions entry"), "{err}");
        let none = object_with(&["printk"], &[], &[]);
        assert!(trim_versions(&none, "t.ko").unwrap().is_none());
    }
}
