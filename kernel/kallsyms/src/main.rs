//! `kallsyms KERNEL.elf [IMAGE]`: fills the kernel's `.kallsyms` section in place.
//!
//! Reads the linked kernel's function symbols, demangles them (dropping the
//! legacy hash suffix), builds the table with [`kcore::kallsyms::build`] and
//! writes it over the zero-filled `.kallsyms` section of the ELF file. The
//! section's size is fixed by the kernel, so no address moves; a table that does
//! not fit is a build error that says by how much.
//!
//! IMAGE is the binary `objcopy -O binary` made from KERNEL.elf before the table
//! was written. The link script puts `.kallsyms` last in it, so the tool writes
//! the table there and cuts the file after the table: the unused rest of the
//! reserve costs no Image bytes (like BSS, the header's image_size covers it;
//! `Table::parse` reads no further than the lengths in the table's header).

use elf::endian::AnyEndian;
use elf::ElfBytes;
use std::process::ExitCode;

fn run(path: &str, image: Option<&str>) -> Result<String, String> {
    let mut data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (table, off, size, image_base, section_addr) = {
        let file =
            ElfBytes::<AnyEndian>::minimal_parse(&data).map_err(|e| format!("{path}: {e}"))?;
        let section = file
            .section_header_by_name(".kallsyms")
            .map_err(|e| format!("{path}: {e}"))?
            .ok_or_else(|| format!("{path}: no .kallsyms section"))?;
        let (symtab, strtab) = file
            .symbol_table()
            .map_err(|e| format!("{path}: {e}"))?
            .ok_or_else(|| format!("{path}: no symbol table (was it stripped?)"))?;
        let (shdrs, shstrtab) = file
            .section_headers_with_strtab()
            .map_err(|e| format!("{path}: {e}"))?;
        let text_index = shdrs
            .zip(shstrtab)
            .and_then(|(shdrs, strtab)| {
                shdrs
                    .iter()
                    .position(|s| strtab.get(s.sh_name as usize).is_ok_and(|n| n == ".text"))
            })
            .unwrap_or(0) as u16;
        let mut names: Vec<(u64, u32, String)> = Vec::new();
        for sym in symtab.iter() {
            // Functions, plus untyped labels in code (assembly entry points such
            // as `primary_entry`), but not mapping symbols ($x, $d).
            let kind = sym.st_symtype();
            if sym.st_value == 0 || !(kind == elf::abi::STT_FUNC || kind == elf::abi::STT_NOTYPE) {
                continue;
            }
            let raw = strtab
                .get(sym.st_name as usize)
                .map_err(|e| format!("{path}: {e}"))?;
            let is_code_label = kind == elf::abi::STT_NOTYPE && sym.st_shndx == text_index;
            if raw.is_empty()
                || raw.starts_with('$')
                || (kind == elf::abi::STT_NOTYPE && !is_code_label)
            {
                continue;
            }
            let demangled = format!("{:#}", rustc_demangle::demangle(raw));
            let short = kcore::kallsyms::strip_hash(&demangled).to_string();
            names.push((sym.st_value, sym.st_size.min(u32::MAX as u64) as u32, short));
        }
        let refs: Vec<(u64, u32, &str)> =
            names.iter().map(|(a, s, n)| (*a, *s, n.as_str())).collect();
        // objcopy -O binary starts the file at the lowest loaded address.
        let image_base = file
            .segments()
            .into_iter()
            .flatten()
            .filter(|p| p.p_type == elf::abi::PT_LOAD && p.p_filesz > 0)
            .map(|p| p.p_vaddr)
            .min()
            .ok_or_else(|| format!("{path}: no loaded segment"))?;
        (
            kcore::kallsyms::build(&refs),
            section.sh_offset as usize,
            section.sh_size as usize,
            image_base,
            section.sh_addr,
        )
    };
    if table.len() > size {
        return Err(format!(
            "{path}: symbol table needs {} bytes but .kallsyms has {size}: raise KALLSYMS_RESERVED in kernel/src/klog/symbols.rs by at least {}",
            table.len(),
            table.len() - size
        ));
    }
    let dest = data
        .get_mut(off..off + size)
        .ok_or_else(|| format!("{path}: .kallsyms lies outside the file"))?;
    dest.fill(0);
    dest[..table.len()].copy_from_slice(&table);
    std::fs::write(path, &data).map_err(|e| format!("{path}: {e}"))?;
    if let Some(image) = image {
        cut_image(image, &table, (section_addr - image_base) as usize, size)?;
    }
    Ok(format!("kallsyms: {} bytes of {size} used", table.len()))
}

/// Writes `table` at `start` in the Image and ends the file after it, once it
/// has checked that the reserve (`size` bytes at `start`) is where the file ends.
fn cut_image(image: &str, table: &[u8], start: usize, size: usize) -> Result<(), String> {
    let mut bytes = std::fs::read(image).map_err(|e| format!("{image}: {e}"))?;
    if bytes.len() != start + size {
        return Err(format!(
            "{image}: .kallsyms ({size} bytes at offset {start:#x}) is not the end of the {}-byte Image: it must be the last loaded section (aarch64-virt.ld)",
            bytes.len()
        ));
    }
    bytes.truncate(start);
    bytes.extend_from_slice(table);
    std::fs::write(image, &bytes).map_err(|e| format!("{image}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (path, image) = match args.as_slice() {
        [_, path] => (path, None),
        [_, path, image] => (path, Some(image.as_str())),
        _ => {
            eprintln!("usage: kallsyms KERNEL.elf [IMAGE]");
            return ExitCode::from(2);
        }
    };
    match run(path, image) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kallsyms: {e}");
            ExitCode::FAILURE
        }
    }
}
