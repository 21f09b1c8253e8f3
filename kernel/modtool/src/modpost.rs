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

    // Imports: undefined global/weak symbols.
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
