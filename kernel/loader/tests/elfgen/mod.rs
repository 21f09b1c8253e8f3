//! A tiny ELF64 AArch64 `ET_REL` writer for tests: exact control over sections,
//! symbols and relocations, so each malformed or edge-case input can be made on
//! purpose. Sections are numbered from 1 in the order added; RELA sections, then
//! `.symtab`, `.strtab`, `.shstrtab` follow them.

#![allow(dead_code)]

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXEC: u64 = 4;
pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const SHN_UNDEF: u16 = 0;
pub const SHN_ABS: u16 = 0xfff1;
pub const SHN_COMMON: u16 = 0xfff2;

#[derive(Clone)]
pub struct Sec {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub data: Vec<u8>,
    pub size: u64,
    pub align: u64,
}

#[derive(Clone)]
pub struct Sym {
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub bind: u8,
    pub typ: u8,
    pub shndx: u16,
}

#[derive(Clone, Copy)]
pub struct Rela {
    pub offset: u64,
    pub sym: u32,
    pub rtype: u32,
    pub addend: i64,
}

#[derive(Clone, Default)]
pub struct ObjBuilder {
    pub sections: Vec<Sec>,
    pub symbols: Vec<Sym>,
    /// (target section index, entries, use SHT_REL instead of SHT_RELA)
    pub relas: Vec<(u32, Vec<Rela>, bool)>,
}

impl ObjBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a section, returns its index.
    pub fn section(
        &mut self,
        name: &str,
        sh_type: u32,
        flags: u64,
        data: &[u8],
        align: u64,
    ) -> u16 {
        self.sections.push(Sec {
            name: name.into(),
            sh_type,
            flags,
            data: if sh_type == SHT_NOBITS {
                vec![]
            } else {
                data.to_vec()
            },
            size: data.len() as u64,
            align,
        });
        self.sections.len() as u16
    }

    pub fn text(&mut self, words: &[u32]) -> u16 {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.section(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXEC, &bytes, 4)
    }

    /// Adds a symbol, returns its index (index 0 is the null symbol, added first).
    pub fn symbol(
        &mut self,
        name: &str,
        value: u64,
        size: u64,
        bind: u8,
        typ: u8,
        shndx: u16,
    ) -> u32 {
        if self.symbols.is_empty() {
            self.symbols.push(Sym {
                name: String::new(),
                value: 0,
                size: 0,
                bind: 0,
                typ: 0,
                shndx: 0,
            });
        }
        self.symbols.push(Sym {
            name: name.into(),
            value,
            size,
            bind,
            typ,
            shndx,
        });
        (self.symbols.len() - 1) as u32
    }

    pub fn undefined(&mut self, name: &str) -> u32 {
        self.symbol(name, 0, 0, STB_GLOBAL, STT_NOTYPE, SHN_UNDEF)
    }

    pub fn rela(&mut self, target: u16, offset: u64, sym: u32, rtype: u32, addend: i64) {
        let r = Rela {
            offset,
            sym,
            rtype,
            addend,
        };
        match self
            .relas
            .iter_mut()
            .find(|(t, _, rel)| *t == u32::from(target) && !rel)
        {
            Some((_, v, _)) => v.push(r),
            None => self.relas.push((u32::from(target), vec![r], false)),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut symbols = self.symbols.clone();
        if symbols.is_empty() {
            symbols.push(Sym {
                name: String::new(),
                value: 0,
                size: 0,
                bind: 0,
                typ: 0,
                shndx: 0,
            });
        }
        // Locals must come first; tests add them first.
        let first_global = symbols
            .iter()
            .position(|s| s.bind != STB_LOCAL)
            .unwrap_or(symbols.len());

        let mut shstrtab = vec![0u8];
        let name_off = |s: &str, tab: &mut Vec<u8>| {
            let off = tab.len() as u32;
            tab.extend_from_slice(s.as_bytes());
            tab.push(0);
            off
        };
        let mut strtab = vec![0u8];
        let sym_names: Vec<u32> = symbols
            .iter()
            .map(|s| {
                if s.name.is_empty() {
                    0
                } else {
                    name_off(&s.name, &mut strtab)
                }
            })
            .collect();

        let mut out = vec![0u8; 64];
        let mut headers: Vec<[u8; 64]> = vec![[0; 64]];
        let push_section = |out: &mut Vec<u8>,
                            shstrtab: &mut Vec<u8>,
                            name: &str,
                            sh_type: u32,
                            flags: u64,
                            data: &[u8],
                            size: u64,
                            link: u32,
                            info: u32,
                            align: u64,
                            entsize: u64| {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            let offset = out.len() as u64;
            out.extend_from_slice(data);
            let mut h = [0u8; 64];
            let n = name_off(name, shstrtab);
            h[0..4].copy_from_slice(&n.to_le_bytes());
            h[4..8].copy_from_slice(&sh_type.to_le_bytes());
            h[8..16].copy_from_slice(&flags.to_le_bytes());
            h[24..32].copy_from_slice(&offset.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            h[40..44].copy_from_slice(&link.to_le_bytes());
            h[44..48].copy_from_slice(&info.to_le_bytes());
            h[48..56].copy_from_slice(&align.to_le_bytes());
            h[56..64].copy_from_slice(&entsize.to_le_bytes());
            h
        };
        for s in &self.sections {
            let h = push_section(
                &mut out,
                &mut shstrtab,
                &s.name,
                s.sh_type,
                s.flags,
                &s.data,
                s.size,
                0,
                0,
                s.align,
                0,
            );
            headers.push(h);
        }
        let symtab_index = (self.sections.len() + self.relas.len() + 1) as u32;
        for (target, entries, is_rel) in &self.relas {
            let mut data = Vec::new();
            for r in entries {
                data.extend_from_slice(&r.offset.to_le_bytes());
                data.extend_from_slice(
                    &((u64::from(r.sym) << 32) | u64::from(r.rtype)).to_le_bytes(),
                );
                if !is_rel {
                    data.extend_from_slice(&r.addend.to_le_bytes());
                }
            }
            let tname = &self.sections[*target as usize - 1].name;
            let (name, ty, ent) = if *is_rel {
                (format!(".rel{tname}"), SHT_REL, 16)
            } else {
                (format!(".rela{tname}"), 4, 24)
            };
            let h = push_section(
                &mut out,
                &mut shstrtab,
                &name,
                ty,
                0x40,
                &data,
                data.len() as u64,
                symtab_index,
                *target,
                8,
                ent,
            );
            headers.push(h);
        }
        let mut symdata = Vec::new();
        for (s, &n) in symbols.iter().zip(&sym_names) {
            symdata.extend_from_slice(&n.to_le_bytes());
            symdata.push((s.bind << 4) | s.typ);
            symdata.push(0);
            symdata.extend_from_slice(&s.shndx.to_le_bytes());
            symdata.extend_from_slice(&s.value.to_le_bytes());
            symdata.extend_from_slice(&s.size.to_le_bytes());
        }
        let h = push_section(
            &mut out,
            &mut shstrtab,
            ".symtab",
            2,
            0,
            &symdata,
            symdata.len() as u64,
            symtab_index + 1,
            first_global as u32,
            8,
            24,
        );
        headers.push(h);
        let h = push_section(
            &mut out,
            &mut shstrtab,
            ".strtab",
            3,
            0,
            &strtab,
            strtab.len() as u64,
            0,
            0,
            1,
            0,
        );
        headers.push(h);
        // .shstrtab names itself before its data is written.
        let shstr_name = name_off(".shstrtab", &mut shstrtab);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shstr_off = out.len() as u64;
        out.extend_from_slice(&shstrtab);
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&shstr_name.to_le_bytes());
        h[4..8].copy_from_slice(&3u32.to_le_bytes());
        h[24..32].copy_from_slice(&shstr_off.to_le_bytes());
        h[32..40].copy_from_slice(&(shstrtab.len() as u64).to_le_bytes());
        h[48..56].copy_from_slice(&1u64.to_le_bytes());
        headers.push(h);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len() as u64;
        for h in &headers {
            out.extend_from_slice(h);
        }
        // ELF header.
        out[0..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        out[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&shoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        out[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        out[62..64].copy_from_slice(&((headers.len() - 1) as u16).to_le_bytes());
        out
    }
}

/// Offset of section header `index` in a built object.
pub fn shdr_offset(obj: &[u8], index: usize) -> usize {
    let shoff = u64::from_le_bytes(obj[40..48].try_into().unwrap()) as usize;
    shoff + 64 * index
}
