//! `modtool prelink [--strip] FILE.ko [-o OUT.ko]`: applies the relocations
//! whose result does not depend on where the kernel loads the module
//! (`modloader::prelink`) and adds the `.modprelink` section that lists the
//! ones left. With `--strip` the RELA tables are cut to the entries left and
//! the file laid out again without the space they took (`compact`); the
//! object then loads only as the build planned it (see `modloader::prelink`).
//!
//! The file is edited, not rewritten: the prelinked fields are written in
//! place (the sections keep their sizes and offsets), and `.modprelink`, a
//! copy of `.shstrtab` with its name added, and a copy of the section header
//! table with one more entry are appended (replacing the old table when it
//! ended the file); the ELF header points at the new table. Every other byte, the symbol table and the RELA tables included,
//! stays as it was, so symbol indices in `.modprelink` are the file's. With
//! `--strip`, that file is then laid out again by `compact`: the RELA tables
//! get their new, shorter contents, and every section and symbol keeps its
//! index.
//!
//! Before writing, the result is checked: loaded with `.modprelink` at two
//! bases (a stripped one also with the erratum 843419 workaround on), it must
//! give the same image, byte for byte, as the input loaded with all of its
//! RELA tables.

use modloader::prelink::{load_consecutive, prelink, prelink_stripped, PRELINK_SECTION};
use modloader::{Layout, Object, PlanOptions};

use crate::link::Failure;

/// Linux's marker at the end of a signed module.
const SIGNATURE_MAGIC: &[u8] = b"~Module signature appended~\n";

// ELF64 header and section header fields (System V gABI).
const E_SHOFF: usize = 0x28;
const E_SHENTSIZE: usize = 0x3a;
const E_SHNUM: usize = 0x3c;
const E_SHSTRNDX: usize = 0x3e;
const SHDR_SIZE: usize = 64;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SHT_PROGBITS: u32 = 1;
const SHN_LORESERVE: usize = 0xff00;

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn pad_to_8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

/// What `prelink_bytes` did.
pub struct Report {
    pub resolved: usize,
    pub kept: usize,
    /// Asked to strip: `Ok(bytes saved)`, or why the RELA tables stay whole.
    pub stripped: Option<Result<usize, String>>,
}

/// The prelinked file for `input` (an unsigned module), checked; with `strip`,
/// its RELA tables cut to the entries left when the object allows it
/// (`modloader::prelink::prelink_stripped`), else whole.
pub fn prelink_bytes(input: &[u8], strip: bool) -> Result<(Vec<u8>, Report), String> {
    if input.ends_with(SIGNATURE_MAGIC) {
        return Err("the module is signed: prelink it before signing".into());
    }
    let object = Object::parse(input).map_err(|e| e.to_string())?;
    let (result, stripped) = if strip {
        match prelink_stripped(&object) {
            Ok(r) => (r, Some(Ok(0))),
            Err(why) => (prelink(&object)?, Some(Err(why))),
        }
    } else {
        (prelink(&object)?, None)
    };
    let bad = || String::from("section header table unreadable");
    let shoff = usize::try_from(u64_at(input, E_SHOFF).ok_or_else(bad)?).map_err(|_| bad())?;
    let shnum = u16_at(input, E_SHNUM).ok_or_else(bad)?;
    let shstrndx = u16_at(input, E_SHSTRNDX).ok_or_else(bad)?;
    if u16_at(input, E_SHENTSIZE) != Some(SHDR_SIZE) || shnum == 0 || shnum + 1 >= SHN_LORESERVE {
        return Err(
            "unusual section header table (entry size, count or extended numbering)".into(),
        );
    }
    if shstrndx == 0 || shstrndx >= shnum {
        return Err("no section name table".into());
    }
    let headers = input
        .get(shoff..shoff + shnum * SHDR_SIZE)
        .ok_or_else(bad)?
        .to_vec();
    let field = |index: usize, at: usize| {
        u64_at(&headers, index * SHDR_SIZE + at)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(bad)
    };

    let mut out = input.to_vec();
    // The old header table is replaced below; when it ends the file (as ld
    // writes it), it goes, so the file grows by less (and hashing it at load
    // costs less).
    if shoff + shnum * SHDR_SIZE == out.len() && shoff >= 64 {
        out.truncate(shoff);
    }
    for (index, bytes) in &result.sections {
        let offset = field(*index, SH_OFFSET)?;
        out.get_mut(offset..offset + bytes.len())
            .ok_or_else(|| format!("section {index} outside the file"))?
            .copy_from_slice(bytes);
    }

    // .shstrtab again at the end, with the new name.
    let (names_at, names_len) = (field(shstrndx, SH_OFFSET)?, field(shstrndx, SH_SIZE)?);
    let names = input
        .get(names_at..names_at + names_len)
        .ok_or_else(|| String::from("section name table outside the file"))?
        .to_vec();
    pad_to_8(&mut out);
    let new_names_at = out.len();
    out.extend_from_slice(&names);
    let name_offset = names.len();
    out.extend_from_slice(PRELINK_SECTION.as_bytes());
    out.push(0);
    let new_names_len = out.len() - new_names_at;

    pad_to_8(&mut out);
    let section_at = out.len();
    out.extend_from_slice(&result.section);

    pad_to_8(&mut out);
    let new_shoff = out.len();
    let mut table = headers;
    let names_header = shstrndx * SHDR_SIZE;
    table[names_header + SH_OFFSET..names_header + SH_OFFSET + 8]
        .copy_from_slice(&(new_names_at as u64).to_le_bytes());
    table[names_header + SH_SIZE..names_header + SH_SIZE + 8]
        .copy_from_slice(&(new_names_len as u64).to_le_bytes());
    let mut header = [0u8; SHDR_SIZE];
    header[0..4].copy_from_slice(&(name_offset as u32).to_le_bytes());
    header[4..8].copy_from_slice(&SHT_PROGBITS.to_le_bytes());
    header[SH_OFFSET..SH_OFFSET + 8].copy_from_slice(&(section_at as u64).to_le_bytes());
    header[SH_SIZE..SH_SIZE + 8].copy_from_slice(&(result.section.len() as u64).to_le_bytes());
    header[48..56].copy_from_slice(&8u64.to_le_bytes());
    table.extend_from_slice(&header);
    out.extend_from_slice(&table);
    out[E_SHOFF..E_SHOFF + 8].copy_from_slice(&(new_shoff as u64).to_le_bytes());
    out[E_SHNUM..E_SHNUM + 2].copy_from_slice(&((shnum + 1) as u16).to_le_bytes());

    let stripped = match stripped {
        Some(Ok(_)) => {
            let before = out.len();
            out = compact(&out, &result.rela)?;
            check_same_image(input, &out, true)?;
            Some(Ok(before - out.len()))
        }
        other => {
            check_same_image(input, &out, false)?;
            other
        }
    };
    Ok((
        out,
        Report {
            resolved: result.resolved,
            kept: result.kept,
            stripped,
        },
    ))
}

/// `file` (an ELF64 relocatable object) with the contents of the sections in
/// `replace` (section index, new bytes) replaced and every section's bytes
/// laid out again one after the other in their old order, each at its
/// alignment, then the section header table: the space the old contents
/// took is gone. Symbol and section indices do not change.
fn compact(file: &[u8], replace: &[(usize, Vec<u8>)]) -> Result<Vec<u8>, String> {
    const SH_TYPE: usize = 4;
    const SH_ADDRALIGN: usize = 48;
    const SHT_NULL: u32 = 0;
    const SHT_NOBITS: u32 = 8;
    const E_PHNUM: usize = 0x38;
    let bad = || String::from("section header table unreadable");
    if u16_at(file, E_PHNUM) != Some(0) {
        return Err("the object has program headers".into());
    }
    let shoff = usize::try_from(u64_at(file, E_SHOFF).ok_or_else(bad)?).map_err(|_| bad())?;
    let shnum = u16_at(file, E_SHNUM).ok_or_else(bad)?;
    let mut table = file
        .get(shoff..shoff + shnum * SHDR_SIZE)
        .ok_or_else(bad)?
        .to_vec();
    let field = |table: &[u8], index: usize, at: usize| {
        u64_at(table, index * SHDR_SIZE + at)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(bad)
    };
    let mut order = Vec::new();
    for index in 0..shnum {
        let kind = u32::from_le_bytes(
            table[index * SHDR_SIZE + SH_TYPE..index * SHDR_SIZE + SH_TYPE + 4]
                .try_into()
                .map_err(|_| bad())?,
        );
        if kind != SHT_NULL && kind != SHT_NOBITS {
            order.push((field(&table, index, SH_OFFSET)?, index));
        }
    }
    order.sort_unstable();
    let mut out = file.get(..64).ok_or_else(bad)?.to_vec();
    for (offset, index) in order {
        let bytes = match replace.iter().find(|(i, _)| *i == index) {
            Some((_, new)) => new.as_slice(),
            None => {
                let size = field(&table, index, SH_SIZE)?;
                file.get(offset..offset + size)
                    .ok_or_else(|| format!("section {index} outside the file"))?
            }
        };
        let align = field(&table, index, SH_ADDRALIGN)?.max(1);
        out.resize(out.len().next_multiple_of(align), 0);
        let at = index * SHDR_SIZE;
        table[at + SH_OFFSET..at + SH_OFFSET + 8]
            .copy_from_slice(&(out.len() as u64).to_le_bytes());
        table[at + SH_SIZE..at + SH_SIZE + 8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    pad_to_8(&mut out);
    let new_shoff = out.len() as u64;
    out.extend_from_slice(&table);
    out[E_SHOFF..E_SHOFF + 8].copy_from_slice(&new_shoff.to_le_bytes());
    Ok(out)
}

/// The image of `bytes` loaded with `options` at `text_base` (regions placed
/// consecutively), imports at addresses made from their names.
fn image(bytes: &[u8], options: PlanOptions, text_base: u64) -> Result<(Layout, Vec<u8>), String> {
    let object = Object::parse(bytes).map_err(|e| e.to_string())?;
    let layout = Layout::plan_with(&object, options).map_err(|e| e.to_string())?;
    // Distinct addresses per name, 64-byte aligned, within 256 KiB below the
    // text (in reach of the tiny code model's ADR).
    let mut resolver = |name: &str| {
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Some(text_base - 0x1000 - (h % 0x1000) * 64)
    };
    let image =
        load_consecutive(&object, &layout, text_base, &mut resolver).map_err(|e| e.to_string())?;
    Ok((layout, image))
}

/// Checks that `prelinked` loads, through `.modprelink`, to the image
/// `original` loads to through its RELA tables; a `stripped` one also with
/// the Cortex-A53 erratum 843419 workaround on (its plan must not change).
fn check_same_image(original: &[u8], prelinked: &[u8], stripped: bool) -> Result<(), String> {
    let erratum = if stripped {
        &[false, true][..]
    } else {
        &[false][..]
    };
    for (text_base, &fix) in [0x3c00_0000u64, 0x3f12_3000]
        .into_iter()
        .flat_map(|b| erratum.iter().map(move |f| (b, f)))
    {
        let plain = PlanOptions {
            fix_cortex_a53_843419: fix,
            ..PlanOptions::default()
        };
        let (_, want) = image(original, plain, text_base)?;
        let options = PlanOptions {
            use_prelink: true,
            ..plain
        };
        let (layout, got) = image(prelinked, options, text_base)?;
        if layout.prelinked.is_none() {
            return Err("internal error: the loader does not use the new .modprelink".into());
        }
        if let Some(at) = want.iter().zip(&got).position(|(a, b)| a != b) {
            return Err(format!(
                "internal error: the prelinked image differs at image offset {at:#x} (text at {text_base:#x})"
            ));
        }
        if want.len() != got.len() {
            return Err("internal error: the prelinked image has a different size".into());
        }
    }
    Ok(())
}

/// `modtool prelink FILE.ko [-o OUT.ko]` (OUT defaults to FILE.ko).
pub fn command(args: &[String]) -> Result<(), Failure> {
    let (mut out, mut input, mut quiet, mut strip) = (None, None, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => out = it.next().cloned(),
            "-q" => quiet = true,
            "--strip" => strip = true,
            f if f.starts_with('-') => return Err(Failure::Usage(format!("unknown option {f}"))),
            f if input.is_none() => input = Some(f.to_string()),
            f => return Err(Failure::Usage(format!("unexpected argument {f}"))),
        }
    }
    let Some(input) = input else {
        return Err(Failure::Usage("prelink needs FILE.ko".into()));
    };
    let out = out.unwrap_or_else(|| input.clone());
    let data = std::fs::read(&input).map_err(|e| Failure::Error(format!("{input}: {e}")))?;
    let (bytes, report) = prelink_bytes(&data, strip)
        .map_err(|e| Failure::Error(format!("prelink: {input}: {e}")))?;
    std::fs::write(&out, bytes).map_err(|e| Failure::Error(format!("{out}: {e}")))?;
    if !quiet {
        println!(
            "prelink: {out}: {} of {} relocations applied, {} left for the load",
            report.resolved,
            report.resolved + report.kept,
            report.kept
        );
    }
    match report.stripped {
        Some(Ok(saved)) if !quiet => {
            println!("prelink: {out}: applied entries removed from the RELA tables ({saved} bytes)")
        }
        // Said even with -q: the build should show why a module is larger.
        Some(Err(why)) => eprintln!("prelink: {out}: RELA tables kept whole: {why}"),
        _ => {}
    }
    Ok(())
}
