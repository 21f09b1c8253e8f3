//! Test helper: writes minimal AArch64 ET_REL objects shaped like our `.ko`
//! files (`.modinfo`, `.ksymtab` with its name relocations, undefined
//! imports), so the reader and the index can be tested without a toolchain.

/// What to put in a test object.
#[derive(Default)]
pub struct TestObject<'a> {
    pub modinfo: &'a [&'a str],
    pub exports: &'a [&'a str],
    pub imports: &'a [&'a str],
    /// Leave the name relocation of this `.ksymtab` entry out.
    pub drop_name_reloc: Option<usize>,
    /// Add this to every name relocation's addend (to point outside the strings).
    pub name_addend_skew: i64,
}

const R_AARCH64_ABS64: u64 = 257;

fn push_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn add_str(table: &mut Vec<u8>, s: &str) -> u32 {
    let at = table.len() as u32;
    table.extend_from_slice(s.as_bytes());
    table.push(0);
    at
}

impl TestObject<'_> {
    pub fn build(&self) -> Vec<u8> {
        // Section indices.
        const TEXT: u16 = 1;
        const STRS: u16 = 2;
        const KSYMTAB: u32 = 3;
        const SYMTAB: u32 = 6;

        let text = vec![0xc0, 0x03, 0x5f, 0xd6]; // ret
        let mut strs = Vec::new();
        let mut name_at = Vec::new();
        for e in self.exports {
            name_at.push(strs.len() as u64);
            strs.extend_from_slice(e.as_bytes());
        }
        let mut modinfo = Vec::new();
        for m in self.modinfo {
            add_str(&mut modinfo, m);
        }

        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24]; // null symbol
        let sym = |symtab: &mut Vec<u8>, name: u32, info: u8, shndx: u16| {
            push_u32(symtab, name);
            symtab.push(info);
            symtab.push(0);
            push_u16(symtab, shndx);
            push_u64(symtab, 0);
            push_u64(symtab, 0);
        };
        sym(&mut symtab, 0, 3, STRS); // STT_SECTION for the strings: symbol 1
        let first_global = 2u32;
        let mut export_sym = Vec::new();
        for (i, e) in self.exports.iter().enumerate() {
            let n = add_str(&mut strtab, e);
            sym(&mut symtab, n, (1 << 4) | 2, TEXT); // GLOBAL FUNC
            export_sym.push(first_global + i as u32);
        }
        for imp in self.imports {
            let n = add_str(&mut strtab, imp);
            sym(&mut symtab, n, 1 << 4, 0); // GLOBAL NOTYPE UND
        }

        let mut ksymtab = Vec::new();
        let mut rela = Vec::new();
        for (i, e) in self.exports.iter().enumerate() {
            let at = (i * 32) as u64;
            push_u64(&mut ksymtab, 0);
            push_u64(&mut ksymtab, e.len() as u64);
            push_u64(&mut ksymtab, 0);
            push_u32(&mut ksymtab, 0x1234_5678);
            push_u32(&mut ksymtab, 0);
            if self.drop_name_reloc != Some(i) {
                push_u64(&mut rela, at);
                push_u64(&mut rela, (1u64 << 32) | R_AARCH64_ABS64);
                rela.extend_from_slice(&(name_at[i] as i64 + self.name_addend_skew).to_le_bytes());
            }
            push_u64(&mut rela, at + 16);
            push_u64(
                &mut rela,
                (u64::from(export_sym[i]) << 32) | R_AARCH64_ABS64,
            );
            push_u64(&mut rela, 0);
        }

        let mut shstrtab = vec![0u8];
        // (name, type, flags, data, link, info, align, entsize)
        type Section = (&'static str, u32, u64, Vec<u8>, u32, u32, u64, u64);
        let sections: Vec<Section> = vec![
            (".text", 1, 6, text, 0, 0, 4, 0),
            (".rodata.str", 1, 2, strs, 0, 0, 1, 0),
            (".ksymtab", 1, 2, ksymtab, 0, 0, 8, 0),
            (".rela.ksymtab", 4, 0x40, rela, SYMTAB, KSYMTAB, 8, 24),
            (".modinfo", 1, 2, modinfo, 0, 0, 1, 0),
            (".symtab", 2, 0, symtab, 7, first_global, 8, 24),
            (".strtab", 3, 0, strtab, 0, 0, 1, 0),
            (".shstrtab", 3, 0, Vec::new(), 0, 0, 1, 0),
        ];
        let names: Vec<u32> = sections
            .iter()
            .map(|s| add_str(&mut shstrtab, s.0))
            .collect();

        let mut out = vec![0u8; 64];
        let mut headers = vec![0u8; 64]; // null section header
        for (i, (_, ty, flags, data, link, info, align, entsize)) in
            sections.into_iter().enumerate()
        {
            let data = if i == 7 { shstrtab.clone() } else { data };
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            let offset = out.len() as u64;
            out.extend_from_slice(&data);
            push_u32(&mut headers, names[i]);
            push_u32(&mut headers, ty);
            push_u64(&mut headers, flags);
            push_u64(&mut headers, 0);
            push_u64(&mut headers, offset);
            push_u64(&mut headers, data.len() as u64);
            push_u32(&mut headers, link);
            push_u32(&mut headers, info);
            push_u64(&mut headers, align);
            push_u64(&mut headers, entsize);
        }
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len() as u64;
        out.extend_from_slice(&headers);

        let mut ehdr = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        push_u16(&mut ehdr, 1); // ET_REL
        push_u16(&mut ehdr, 183); // EM_AARCH64
        push_u32(&mut ehdr, 1);
        push_u64(&mut ehdr, 0);
        push_u64(&mut ehdr, 0);
        push_u64(&mut ehdr, shoff);
        push_u32(&mut ehdr, 0);
        push_u16(&mut ehdr, 64);
        push_u16(&mut ehdr, 0);
        push_u16(&mut ehdr, 0);
        push_u16(&mut ehdr, 64);
        push_u16(&mut ehdr, 9); // sections, null included
        push_u16(&mut ehdr, 8); // .shstrtab
        out[..64].copy_from_slice(&ehdr);
        out
    }
}
