//! What one `.ko` says about itself: its name and aliases (`.modinfo`), the
//! symbols it exports (`.ksymtab`) and the symbols it needs (undefined globals).
//!
//! `.ksymtab` holds `kabi::KernelSymbol` entries whose `name` pointers are
//! relocations (`R_AARCH64_ABS64` in `.rela.ksymtab`) against the section that
//! holds the string; the name is `name_len` bytes at that symbol's value plus
//! the addend. This is the one place that reads the bytes; every offset is
//! checked and a malformed object is a [`DepmodError::BadObject`].

use crate::DepmodError;
use elf::abi;
use elf::endian::AnyEndian;
use elf::ElfBytes;

/// Size and field offsets of `kabi::KernelSymbol` on a 64-bit target.
const KSYM_SIZE: usize = 32;
const KSYM_NAME_LEN_OFFSET: usize = 8;
const _: () = assert!(KSYM_SIZE == kabi::KERNEL_SYMBOL_SIZE);

/// The symbol the loader resolves to the module itself, not an import.
const THIS_MODULE: &str = kabi::THIS_MODULE_SYMBOL;

/// One module file, as depmod needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleObject {
    /// File name within the directory, e.g. `hello.ko`.
    pub file: String,
    /// `name=` from `.modinfo`, else the file name without `.ko`.
    pub name: String,
    /// `alias=` patterns, in `.modinfo` order.
    pub aliases: Vec<String>,
    /// Names in `.ksymtab`, in table order.
    pub exports: Vec<String>,
    /// Undefined global or weak symbols other than `__this_module`, sorted.
    pub imports: Vec<String>,
}

impl ModuleObject {
    /// Reads `data`, the contents of the file `file`.
    pub fn parse(file: &str, data: &[u8]) -> Result<Self, DepmodError> {
        let bad = |reason: String| DepmodError::BadObject {
            file: file.to_string(),
            reason,
        };
        let elf = ElfBytes::<AnyEndian>::minimal_parse(data)
            .map_err(|e| bad(format!("not an ELF file: {e}")))?;
        if elf.ehdr.class != elf::file::Class::ELF64
            || elf.ehdr.e_type != abi::ET_REL
            || elf.ehdr.e_machine != abi::EM_AARCH64
        {
            return Err(bad(
                "not an ELF64 AArch64 relocatable object (ET_REL)".into()
            ));
        }
        let shdrs = elf
            .section_headers()
            .ok_or_else(|| bad("no section headers".into()))?;
        let (_, shstrtab) = elf
            .section_headers_with_strtab()
            .map_err(|e| bad(format!("bad section headers: {e}")))?;
        let shstrtab = shstrtab.ok_or_else(|| bad("no section name table".into()))?;
        let (symtab, strtab) = elf
            .symbol_table()
            .map_err(|e| bad(format!("bad symbol table: {e}")))?
            .ok_or_else(|| bad("no symbol table".into()))?;
        let section_name = |sh: &elf::section::SectionHeader| {
            shstrtab
                .get(sh.sh_name as usize)
                .map_err(|e| bad(format!("bad section name: {e}")))
        };
        let section_bytes = |sh: &elf::section::SectionHeader| -> Result<&[u8], DepmodError> {
            if sh.sh_type == abi::SHT_NOBITS {
                return Ok(&[]);
            }
            let (bytes, compression) = elf
                .section_data(sh)
                .map_err(|e| bad(format!("section data out of the file: {e}")))?;
            if compression.is_some() {
                return Err(bad("compressed sections are not supported".into()));
            }
            Ok(bytes)
        };

        let mut name = None;
        let mut aliases = Vec::new();
        let mut exports = Vec::new();
        for (index, sh) in shdrs.iter().enumerate() {
            match section_name(&sh)? {
                ".modinfo" => {
                    for entry in section_bytes(&sh)?
                        .split(|&b| b == 0)
                        .filter(|e| !e.is_empty())
                    {
                        let entry = std::str::from_utf8(entry)
                            .map_err(|_| bad(".modinfo: entry is not UTF-8".into()))?;
                        if let Some(v) = entry.strip_prefix("name=") {
                            name = Some(v.to_string());
                        } else if let Some(v) = entry.strip_prefix("alias=") {
                            aliases.push(v.to_string());
                        }
                    }
                }
                ".ksymtab" => {
                    let table = section_bytes(&sh)?;
                    if table.len() % KSYM_SIZE != 0 {
                        return Err(bad(format!(
                            ".ksymtab: size {:#x} is not a multiple of the entry size {KSYM_SIZE:#x}",
                            table.len()
                        )));
                    }
                    let mut names: Vec<Option<String>> = vec![None; table.len() / KSYM_SIZE];
                    for rela_sh in shdrs
                        .iter()
                        .filter(|r| r.sh_type == abi::SHT_RELA && r.sh_info as usize == index)
                    {
                        let relas = elf
                            .section_data_as_relas(&rela_sh)
                            .map_err(|e| bad(format!(".rela.ksymtab: {e}")))?;
                        for rela in relas {
                            let offset = usize::try_from(rela.r_offset).unwrap_or(usize::MAX);
                            if offset % KSYM_SIZE != 0 {
                                continue; // the `addr` field's relocation
                            }
                            let slot = names.get_mut(offset / KSYM_SIZE).ok_or_else(|| {
                                bad(format!(
                                    ".rela.ksymtab: relocation at {offset:#x} is outside .ksymtab"
                                ))
                            })?;
                            let len_field = table
                                .get(
                                    offset + KSYM_NAME_LEN_OFFSET
                                        ..offset + KSYM_NAME_LEN_OFFSET + 8,
                                )
                                .and_then(|b| b.try_into().ok())
                                .map(u64::from_le_bytes)
                                .ok_or_else(|| {
                                    bad(format!(".ksymtab: entry at {offset:#x} is truncated"))
                                })?;
                            let sym = symtab.get(rela.r_sym as usize).map_err(|e| {
                                bad(format!(
                                    ".rela.ksymtab: bad symbol index {}: {e}",
                                    rela.r_sym
                                ))
                            })?;
                            let target = usize::from(sym.st_shndx);
                            if sym.st_shndx == abi::SHN_UNDEF
                                || target >= usize::from(abi::SHN_LORESERVE)
                            {
                                return Err(bad(format!(
                                    ".ksymtab: name of entry {} is not in a section of the module",
                                    offset / KSYM_SIZE
                                )));
                            }
                            let target_sh = shdrs.get(target).map_err(|e| {
                                bad(format!(".ksymtab: name section {target}: {e}"))
                            })?;
                            let start = sym.st_value.checked_add_signed(rela.r_addend);
                            let text = start
                                .zip(start.and_then(|s| s.checked_add(len_field)))
                                .and_then(|(s, e)| {
                                    let bytes = section_bytes(&target_sh).ok()?;
                                    bytes.get(usize::try_from(s).ok()?..usize::try_from(e).ok()?)
                                })
                                .ok_or_else(|| {
                                    bad(format!(
                                        ".ksymtab: name of entry {} is outside its section",
                                        offset / KSYM_SIZE
                                    ))
                                })?;
                            let text = std::str::from_utf8(text).map_err(|_| {
                                bad(format!(
                                    ".ksymtab: name of entry {} is not UTF-8",
                                    offset / KSYM_SIZE
                                ))
                            })?;
                            *slot = Some(text.to_string());
                        }
                    }
                    for (i, n) in names.into_iter().enumerate() {
                        exports.push(n.ok_or_else(|| {
                            bad(format!(".ksymtab: entry {i} has no name relocation"))
                        })?);
                    }
                }
                _ => {}
            }
        }

        let mut imports = Vec::new();
        for sym in symtab.iter() {
            let global = matches!(sym.st_bind(), abi::STB_GLOBAL | abi::STB_WEAK);
            if !global || !sym.is_undefined() || sym.st_name == 0 {
                continue;
            }
            let sym_name = strtab
                .get(sym.st_name as usize)
                .map_err(|e| bad(format!("bad symbol name: {e}")))?;
            if sym_name != THIS_MODULE {
                imports.push(sym_name.to_string());
            }
        }
        imports.sort();
        imports.dedup();

        let name =
            name.unwrap_or_else(|| file.strip_suffix(".ko").unwrap_or(file).replace('-', "_"));
        Ok(Self {
            file: file.to_string(),
            name,
            aliases,
            exports,
            imports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testobj::TestObject;

    fn reason(r: Result<ModuleObject, DepmodError>) -> String {
        match r {
            Err(DepmodError::BadObject { reason, .. }) => reason,
            other => panic!("expected a BadObject error, got {other:?}"),
        }
    }

    #[test]
    fn reads_name_aliases_exports_and_imports() {
        let data = TestObject {
            modinfo: &[
                "name=virtio_blk",
                "license=GPL",
                "alias=virtio:d00000002v*",
                "alias=of:virtio,mmio",
            ],
            exports: &["blk_a", "blk_submit"],
            imports: &["printk", "__this_module", "hello_add"],
            ..Default::default()
        }
        .build();
        let m = ModuleObject::parse("virtio-blk.ko", &data).unwrap();
        assert_eq!(m.file, "virtio-blk.ko");
        assert_eq!(m.name, "virtio_blk");
        assert_eq!(m.aliases, ["virtio:d00000002v*", "of:virtio,mmio"]);
        assert_eq!(m.exports, ["blk_a", "blk_submit"]);
        assert_eq!(
            m.imports,
            ["hello_add", "printk"],
            "__this_module is not an import"
        );
    }

    #[test]
    fn name_defaults_to_the_file_name() {
        let data = TestObject {
            modinfo: &["license=GPL"],
            ..Default::default()
        }
        .build();
        assert_eq!(
            ModuleObject::parse("my-mod.ko", &data).unwrap().name,
            "my_mod"
        );
    }

    #[test]
    fn refuses_what_is_not_an_aarch64_object() {
        assert!(reason(ModuleObject::parse("x.ko", b"hello")).starts_with("not an ELF file"));
        let mut data = TestObject::default().build();
        data[18] = 62; // EM_X86_64
        assert_eq!(
            reason(ModuleObject::parse("x.ko", &data)),
            "not an ELF64 AArch64 relocatable object (ET_REL)"
        );
    }

    #[test]
    fn refuses_a_ksymtab_entry_without_a_name() {
        let data = TestObject {
            exports: &["a", "b"],
            drop_name_reloc: Some(1),
            ..Default::default()
        }
        .build();
        assert_eq!(
            reason(ModuleObject::parse("x.ko", &data)),
            ".ksymtab: entry 1 has no name relocation"
        );
    }

    #[test]
    fn refuses_a_name_outside_its_section() {
        let data = TestObject {
            exports: &["abc"],
            name_addend_skew: 100,
            ..Default::default()
        }
        .build();
        assert_eq!(
            reason(ModuleObject::parse("x.ko", &data)),
            ".ksymtab: name of entry 0 is outside its section"
        );
        let data = TestObject {
            exports: &["abc"],
            name_addend_skew: -1,
            ..Default::default()
        }
        .build();
        assert_eq!(
            reason(ModuleObject::parse("x.ko", &data)),
            ".ksymtab: name of entry 0 is outside its section"
        );
    }

    #[test]
    fn truncated_files_are_errors_not_panics() {
        let data = TestObject {
            modinfo: &["name=t"],
            exports: &["abc"],
            imports: &["printk"],
            ..Default::default()
        }
        .build();
        for len in 0..data.len() {
            let _ = ModuleObject::parse("t.ko", &data[..len]);
        }
    }
}
