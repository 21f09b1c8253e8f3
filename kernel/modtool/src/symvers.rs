//! `Module.symvers`: every symbol a module may import, with its version, in
//! Linux's format (`scripts/mod/modpost.c`, `write_dump`):
//!
//! ```text
//! 0x2d3a2783<TAB>printk<TAB>vmlinux<TAB>EXPORT_SYMBOL<TAB>
//! 0xbfe6d113<TAB>cparams_scale<TAB>cparams<TAB>EXPORT_SYMBOL_GPL<TAB>
//! ```
//!
//! CRC, symbol, module (`vmlinux` for the kernel), export type and namespace
//! (always empty here), tab-separated. The kernel's rows come from
//! `kabi::api::ALL`, the modules' from their `.ksymtab` (`kabi::KernelSymbol`
//! entries, whose name pointers are relocations in an unlinked object).
//! `modtool symvers -o FILE MODULE.ko|.o ...` writes it; `modpost` reads it.

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

/// One exported symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub crc: u32,
    pub symbol: String,
    /// `vmlinux` for the kernel, else the module's name.
    pub module: String,
    /// `EXPORT_SYMBOL_GPL`.
    pub gpl_only: bool,
}

/// The module name Linux's files use for the kernel.
pub const VMLINUX: &str = "vmlinux";

impl Export {
    fn export_type(&self) -> &'static str {
        if self.gpl_only {
            "EXPORT_SYMBOL_GPL"
        } else {
            "EXPORT_SYMBOL"
        }
    }
}

/// The file's text: one line per export, in the order given.
pub fn format(exports: &[Export]) -> String {
    exports
        .iter()
        .map(|e| {
            format!(
                "0x{:08x}\t{}\t{}\t{}\t\n",
                e.crc,
                e.symbol,
                e.module,
                e.export_type()
            )
        })
        .collect()
}

/// Reads the file's text; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Vec<Export>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("{file}:{}: {why}: {line:?}", n + 1);
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 4 {
            return Err(bad("expected CRC, symbol, module and export type"));
        }
        let crc = fields[0]
            .strip_prefix("0x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("bad CRC"))?;
        let gpl_only = match fields[3] {
            "EXPORT_SYMBOL" => false,
            "EXPORT_SYMBOL_GPL" => true,
            _ => return Err(bad("unknown export type")),
        };
        out.push(Export {
            crc,
            symbol: fields[1].to_string(),
            module: fields[2].to_string(),
            gpl_only,
        });
    }
    Ok(out)
}

/// The kernel's exports, as this build of `kabi` declares them.
pub fn kernel_exports() -> Vec<Export> {
    kabi::api::ALL
        .iter()
        .map(|&(name, crc, _)| Export {
            crc,
            symbol: name.to_string(),
            module: VMLINUX.to_string(),
            gpl_only: false,
        })
        .collect()
}

/// The `.modinfo` strings of an object.
pub fn modinfo(file: &object::File<'_>) -> Vec<String> {
    file.section_by_name(".modinfo")
        .and_then(|s| s.data().ok())
        .map(|d| {
            d.split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The module name: `name=` from `.modinfo`, else the file name without its
/// directory and `.ko`/`.o` (as the kernel names a module without `name=`).
pub fn module_name(info: &[String], path: &str) -> String {
    info.iter()
        .find_map(|l| l.strip_prefix("name="))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let base = path.rsplit('/').next().unwrap_or(path);
            let base = base.strip_suffix(".debug").unwrap_or(base);
            let stem = base
                .strip_suffix(".ko")
                .or_else(|| base.strip_suffix(".o"))
                .unwrap_or(base);
            stem.replace('-', "_")
        })
}

/// Size and field offsets of `kabi::KernelSymbol` on AArch64.
const KSYM_SIZE: usize = 32;
const KSYM_NAME_LEN: usize = 8;
const KSYM_CRC: usize = 24;
const KSYM_FLAGS: usize = 28;
const _: () = assert!(KSYM_SIZE == kabi::KERNEL_SYMBOL_SIZE);

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// The exports in an object's `.ksymtab`, named after `module`.
pub fn module_exports(
    path: &str,
    file: &object::File<'_>,
    module: &str,
) -> Result<Vec<Export>, String> {
    let bad = |why: String| format!("{path}: malformed .ksymtab: {why}");
    let mut out = Vec::new();
    for section in file.sections().filter(|s| s.name() == Ok(".ksymtab")) {
        let data = section.data().map_err(|e| bad(e.to_string()))?;
        if !data.len().is_multiple_of(KSYM_SIZE) {
            return Err(bad(format!(
                "size {} is not a multiple of {KSYM_SIZE}",
                data.len()
            )));
        }
        let mut names = vec![None; data.len() / KSYM_SIZE];
        for (offset, rel) in section.relocations() {
            let offset = offset as usize;
            if !offset.is_multiple_of(KSYM_SIZE) {
                continue; // the `addr` field's relocation
            }
            let RelocationTarget::Symbol(idx) = rel.target() else {
                return Err(bad(format!("name at {offset:#x} is not a symbol")));
            };
            let sym = file.symbol_by_index(idx).map_err(|e| bad(e.to_string()))?;
            let holder = sym
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .ok_or_else(|| bad(format!("name at {offset:#x} is not defined here")))?;
            let strings = holder.data().map_err(|e| bad(e.to_string()))?;
            let start = usize::try_from(sym.address() as i64 + rel.addend())
                .map_err(|_| bad(format!("name at {offset:#x} points before its section")))?;
            let len = usize::try_from(
                data.get(offset + KSYM_NAME_LEN..offset + KSYM_NAME_LEN + 8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .unwrap_or(0),
            )
            .unwrap_or(usize::MAX);
            let name = strings
                .get(start..start.saturating_add(len))
                .ok_or_else(|| bad(format!("name at {offset:#x} lies outside its section")))?;
            names[offset / KSYM_SIZE] = Some(String::from_utf8_lossy(name).into_owned());
        }
        for (i, name) in names.into_iter().enumerate() {
            let name = name.ok_or_else(|| bad(format!("entry {i} has no name relocation")))?;
            let at = i * KSYM_SIZE;
            let crc = u32_at(data, at + KSYM_CRC).unwrap_or(0);
            let flags = u32_at(data, at + KSYM_FLAGS).unwrap_or(0);
            out.push(Export {
                crc,
                symbol: name,
                module: module.to_string(),
                gpl_only: flags & kabi::KernelSymbol::GPL_ONLY != 0,
            });
        }
    }
    Ok(out)
}

/// `modtool symvers -o OUT FILE...`: the kernel's exports, then each file's.
pub fn command(args: &[String]) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let mut out = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => out = it.next().cloned(),
            f if f.starts_with('-') => return Err(Failure::Usage(format!("unknown option {f}"))),
            f => files.push(f.to_string()),
        }
    }
    let out = out.ok_or_else(|| Failure::Usage("symvers needs -o FILE".into()))?;
    let mut exports = kernel_exports();
    for path in &files {
        let data = std::fs::read(path).map_err(|e| Failure::Error(format!("{path}: {e}")))?;
        let file =
            object::File::parse(&*data).map_err(|e| Failure::Error(format!("{path}: {e}")))?;
        let name = module_name(&modinfo(&file), path);
        exports.extend(module_exports(path, &file, &name).map_err(Failure::Error)?);
    }
    std::fs::write(&out, format(&exports)).map_err(|e| Failure::Error(format!("{out}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_linux_format() {
        let e = vec![
            Export {
                crc: 0x2d3a2783,
                symbol: "printk".into(),
                module: VMLINUX.into(),
                gpl_only: false,
            },
            Export {
                crc: 7,
                symbol: "f".into(),
                module: "m".into(),
                gpl_only: true,
            },
        ];
        let text = format(&e);
        assert_eq!(
            text,
            "0x2d3a2783\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x00000007\tf\tm\tEXPORT_SYMBOL_GPL\t\n"
        );
        assert_eq!(parse("S", &text).unwrap(), e);
        assert!(parse("S", "0xzz\tf\tm\tEXPORT_SYMBOL\t\n")
            .unwrap_err()
            .starts_with("S:1: bad CRC"));
    }

    #[test]
    fn kernel_rows_are_kabis_exports() {
        let k = kernel_exports();
        assert_eq!(k.len(), kabi::api::ALL.len());
        assert_eq!(k[0].symbol, "printk");
        assert_eq!(k[0].crc, kabi::api::crc::printk);
    }

    #[test]
    fn module_name_falls_back_to_the_file_stem() {
        assert_eq!(module_name(&["name=x".into()], "a/b.ko"), "x");
        assert_eq!(module_name(&[], "build/modules/my-mod.ko.debug"), "my_mod");
        assert_eq!(module_name(&[], "c/cparams.o"), "cparams");
    }
}
