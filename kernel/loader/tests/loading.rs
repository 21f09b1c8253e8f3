//! Whole-load-path behaviour on hand-made objects: symbols of every kind, veneers,
//! the GOT, COMMON, and a corpus of broken inputs each refused with its own message.

mod elfgen;

use elfgen::*;
use modloader::{Layout, LoadError, LoadStats, Object, PlacedArea, Region, Regions, RelocKind};

const TEXT: u64 = 0x4000_0000;
const RODATA: u64 = 0x4010_0000;
const DATA: u64 = 0x4020_0000;

const BL: u32 = 0x9400_0000;
const B: u32 = 0x1400_0000;
const ADRP_X0: u32 = 0x9000_0000;
const ADD_X0: u32 = 0x9100_0000;
const LDR_X0: u32 = 0xf940_0000;
const NOP: u32 = 0xd503_201f;

struct Out {
    text: Vec<u8>,
    data: Vec<u8>,
    rodata: Vec<u8>,
    exports: Vec<(String, u64)>,
    init: Option<u64>,
    cleanup: Option<u64>,
    modinfo: Vec<String>,
    imports: Vec<String>,
    stats: LoadStats,
    plt: Option<PlacedArea>,
    got: Option<PlacedArea>,
    common: Option<PlacedArea>,
}

fn link(obj: &[u8], syms: &[(&str, u64)]) -> Result<Out, LoadError> {
    let object = Object::parse(obj)?;
    let layout = Layout::plan(&object)?;
    let mut text = vec![0xa5u8; layout.text.size as usize];
    let mut rodata = vec![0xa5u8; layout.rodata.size as usize];
    let mut data = vec![0xa5u8; layout.data.size as usize];
    let regions = Regions {
        text: Region {
            base: TEXT,
            bytes: &mut text,
        },
        rodata: Region {
            base: RODATA,
            bytes: &mut rodata,
        },
        data: Region {
            base: DATA,
            bytes: &mut data,
        },
    };
    let mut resolver = |name: &str| syms.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
    let m = object.load(&layout, regions, &mut resolver)?;
    Ok(Out {
        exports: m
            .exports
            .iter()
            .map(|e| (e.name.to_string(), e.address))
            .collect(),
        init: m.init,
        cleanup: m.cleanup,
        modinfo: object.modinfo().map(|s| s.to_string()).collect(),
        imports: object.undefined_symbols().map(|s| s.to_string()).collect(),
        stats: m.stats,
        plt: m.plt,
        got: m.got,
        common: m.common,
        text,
        rodata,
        data,
    })
}

fn word(bytes: &[u8], off: u64) -> u32 {
    u32::from_le_bytes(bytes[off as usize..off as usize + 4].try_into().unwrap())
}

fn quad(bytes: &[u8], off: u64) -> u64 {
    u64::from_le_bytes(bytes[off as usize..off as usize + 8].try_into().unwrap())
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Where a B/BL at `pc` goes.
fn branch_target(insn: u32, pc: u64) -> u64 {
    pc.wrapping_add((sext(u64::from(insn & 0x03ff_ffff), 26) << 2) as u64)
}

fn adrp_target(insn: u32, pc: u64) -> u64 {
    let imm = (u64::from(insn >> 5) & 0x7_ffff) << 2 | (u64::from(insn >> 29) & 3);
    (pc & !0xfff).wrapping_add((sext(imm, 21) << 12) as u64)
}

fn imm12(insn: u32) -> u64 {
    u64::from((insn >> 10) & 0xfff)
}

fn r(kind: RelocKind) -> u32 {
    kind.raw()
}

#[test]
fn links_calls_data_exports_entry_points_and_modinfo() {
    let mut o = ObjBuilder::new();
    let text = o.text(&[
        BL | 0x123,
        ADRP_X0 | 0x00ff_ffe0,
        ADD_X0 | 0xfff << 10,
        NOP,
        NOP,
    ]);
    let data = o.section(".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, &[0xff; 16], 8);
    o.section(
        ".modinfo",
        SHT_PROGBITS,
        SHF_ALLOC,
        b"license=MIT\0name=t\0\0",
        1,
    );
    let data_sym = o.symbol(".data", 0, 0, STB_LOCAL, STT_SECTION, data);
    let init = o.symbol("init_module", 12, 8, STB_GLOBAL, STT_FUNC, text);
    o.symbol("cleanup_module", 16, 4, STB_GLOBAL, STT_FUNC, text);
    let ext = o.undefined("printk");
    o.rela(text, 0, ext, r(RelocKind::Call26), 0);
    o.rela(text, 4, data_sym, r(RelocKind::AdrPrelPgHi21), 8);
    o.rela(text, 8, data_sym, r(RelocKind::AddAbsLo12Nc), 8);
    o.rela(data, 0, init, r(RelocKind::Abs64), 0);
    o.rela(data, 8, ext, r(RelocKind::Prel32), -4);
    let out = link(&o.build(), &[("printk", TEXT - 0x1000)]).unwrap();

    assert_eq!(branch_target(word(&out.text, 0), TEXT), TEXT - 0x1000);
    assert_eq!(
        adrp_target(word(&out.text, 4), TEXT + 4) + imm12(word(&out.text, 8)),
        DATA + 8
    );
    assert_eq!(quad(&out.data, 0), TEXT + 12);
    assert_eq!(
        word(&out.data, 8),
        (TEXT - 0x1000 - 4).wrapping_sub(DATA + 8) as u32
    );
    assert_eq!(out.init, Some(TEXT + 12));
    assert_eq!(out.cleanup, Some(TEXT + 16));
    assert!(out.exports.contains(&("init_module".into(), TEXT + 12)));
    assert_eq!(out.modinfo, ["license=MIT", "name=t"]);
    assert_eq!(out.imports, ["printk"]);
    assert_eq!(out.stats.relocation_total(), 5);
    assert_eq!(out.stats.relocations[RelocKind::Call26.index()], 1);
    assert_eq!(out.stats.veneers, 0, "a near call needs no veneer");
}

#[test]
fn far_calls_go_through_one_veneer_per_target_that_decodes_to_it() {
    let far = TEXT + 0x1000_0000; // 256 MiB away
    let far_back = TEXT - 0x2000_0000;
    let mut o = ObjBuilder::new();
    let text = o.text(&[BL | 0x3ff_ffff, BL, B, BL, BL]);
    let f = o.undefined("far_func");
    let g = o.undefined("far_back");
    let n = o.undefined("near_func");
    o.rela(text, 0, f, r(RelocKind::Call26), 0);
    o.rela(text, 4, f, r(RelocKind::Call26), 0);
    o.rela(text, 8, g, r(RelocKind::Jump26), 0);
    o.rela(text, 12, n, r(RelocKind::Call26), 0);
    o.rela(text, 16, f, r(RelocKind::Call26), 8);
    let out = link(
        &o.build(),
        &[
            ("far_func", far),
            ("far_back", far_back),
            ("near_func", TEXT + 0x100),
        ],
    )
    .unwrap();
    let plt = out.plt.expect("veneer area");
    assert_eq!(
        out.stats.veneer_slots, 4,
        "every distinct (symbol, addend) outside text reserved"
    );
    assert_eq!(out.stats.veneers, 3, "far_func, far_func+8, far_back");
    let mut seen = std::collections::HashMap::new();
    for (off, want) in [(0u64, far), (4, far), (8, far_back), (16, far + 8)] {
        let via = branch_target(word(&out.text, off), TEXT + off);
        assert!(
            via >= plt.address && via < plt.address + plt.size,
            "branch at {off} goes to {via:#x}, not the PLT"
        );
        let v = via - TEXT;
        assert_eq!(word(&out.text, v), 0x5800_0050, "ldr x16, #8");
        assert_eq!(word(&out.text, v + 4), 0xd61f_0200, "br x16");
        assert_eq!(
            quad(&out.text, v + 8),
            want,
            "veneer at {via:#x} decodes to the target"
        );
        if let Some(prev) = seen.insert(want, via) {
            assert_eq!(prev, via, "one veneer per target");
        }
    }
    assert_eq!(
        branch_target(word(&out.text, 12), TEXT + 12),
        TEXT + 0x100,
        "near call direct"
    );
}

#[test]
fn common_weak_absolute_and_section_symbols_resolve() {
    let mut o = ObjBuilder::new();
    let data = o.section(".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, &[0; 40], 8);
    o.section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, &[0; 24], 8);
    let common = o.symbol("shared_buf", 64, 100, STB_GLOBAL, STT_OBJECT, SHN_COMMON);
    let weak = o.symbol("maybe_there", 0, 0, STB_WEAK, STT_NOTYPE, SHN_UNDEF);
    let abs = o.symbol("magic", 0xdead_beef, 0, STB_GLOBAL, STT_NOTYPE, SHN_ABS);
    let weak_present = o.symbol("weak_present", 0, 0, STB_WEAK, STT_NOTYPE, SHN_UNDEF);
    o.rela(data, 0, common, r(RelocKind::Abs64), 4);
    o.rela(data, 8, weak, r(RelocKind::Abs64), 0);
    o.rela(data, 16, abs, r(RelocKind::Abs64), 1);
    o.rela(data, 24, weak_present, r(RelocKind::Abs64), 0);
    o.rela(data, 32, abs, r(RelocKind::Abs32), 0);
    let out = link(&o.build(), &[("weak_present", 0x1234)]).unwrap();
    let common_area = out.common.expect("COMMON block");
    assert_eq!(common_area.address % 64, 0);
    assert!(common_area.address >= DATA + 40 + 24, "after data and bss");
    assert_eq!(quad(&out.data, 0), common_area.address + 4);
    assert_eq!(quad(&out.data, 8), 0, "unresolved weak is 0");
    assert_eq!(quad(&out.data, 16), 0xdead_bef0);
    assert_eq!(quad(&out.data, 24), 0x1234);
    assert_eq!(
        word(&out.data, 32),
        0xdead_beef,
        "ABS32 accepts unsigned values"
    );
    assert!(
        out.data[40..].iter().all(|&b| b == 0),
        "bss and COMMON zeroed"
    );
    assert!(out
        .exports
        .contains(&("shared_buf".into(), common_area.address)));
}

#[test]
fn got_slots_hold_addresses_and_got_relative_types_reach_them() {
    let mut o = ObjBuilder::new();
    let text = o.text(&[ADRP_X0, LDR_X0, ADRP_X0, LDR_X0, 0x5800_0000, ADRP_X0]);
    let ext = o.undefined("jiffies");
    let other = o.undefined("other");
    let got_sym = o.undefined("_GLOBAL_OFFSET_TABLE_");
    o.rela(text, 0, ext, r(RelocKind::AdrGotPage), 0);
    o.rela(text, 4, ext, r(RelocKind::Ld64GotLo12Nc), 0);
    o.rela(text, 8, got_sym, r(RelocKind::AdrPrelPgHi21), 0);
    o.rela(text, 12, other, r(RelocKind::Ld64GotpageLo15), 0);
    o.rela(text, 16, other, r(RelocKind::GotLdPrel19), 0);
    let out = link(
        &o.build(),
        &[("jiffies", 0x4800_0000), ("other", 0x4900_0000)],
    )
    .unwrap();
    let got = out.got.expect("GOT");
    assert_eq!(got.size, 16);
    assert!(
        got.address >= RODATA && got.address < RODATA + out.rodata.len() as u64,
        "GOT in rodata"
    );
    let slot = |sym_addr: u64| {
        (0..got.size / 8)
            .map(|i| got.address + 8 * i)
            .find(|a| quad(&out.rodata, a - RODATA) == sym_addr)
            .expect("slot holds the address")
    };
    let jiffies_slot = slot(0x4800_0000);
    let other_slot = slot(0x4900_0000);
    assert_eq!(
        adrp_target(word(&out.text, 0), TEXT) + imm12(word(&out.text, 4)) * 8,
        jiffies_slot
    );
    let got_page = adrp_target(word(&out.text, 8), TEXT + 8);
    assert_eq!(got_page, got.address & !0xfff);
    assert_eq!(got_page + imm12(word(&out.text, 12)) * 8, other_slot);
    let lit = word(&out.text, 16);
    assert_eq!(
        TEXT + 16 + ((sext(u64::from(lit >> 5) & 0x7_ffff, 19) << 2) as u64),
        other_slot
    );
    assert_eq!(out.stats.got_slots, 2);
}

#[test]
fn relocations_of_unloaded_sections_are_ignored() {
    let mut o = ObjBuilder::new();
    o.text(&[NOP]);
    let dbg = o.section(".debug_info", SHT_PROGBITS, 0, &[0; 16], 1);
    let s = o.undefined("not_needed_by_code");
    o.rela(dbg, 0, 999, 9999, 0);
    o.rela(dbg, 8, s, r(RelocKind::Abs64), 0);
    // The undefined symbol still has to resolve (as Linux requires).
    let err = link(&o.build(), &[]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "Unknown symbol not_needed_by_code (err -2)"
    );
    link(&o.build(), &[("not_needed_by_code", 1)]).unwrap();
}

// ---- The bad-input corpus: each broken object gets its own message. ----

fn good() -> Vec<u8> {
    let mut o = ObjBuilder::new();
    let text = o.text(&[BL, NOP, NOP, NOP, NOP]);
    let f = o.undefined("foo");
    o.rela(text, 0, f, r(RelocKind::Call26), 0);
    o.build()
}

fn error_of(obj: &[u8], syms: &[(&str, u64)]) -> String {
    match link(obj, syms) {
        Ok(_) => panic!("loaded a broken object"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_object_of_the_bad_corpus_loads() {
    link(&good(), &[("foo", TEXT + 64)]).unwrap();
}

#[test]
fn truncated_objects_are_refused() {
    let obj = good();
    assert_eq!(
        error_of(&obj[..3], &[]),
        "not an AArch64 ELF64 relocatable object (bad ELF magic)"
    );
    assert_eq!(
        error_of(&obj[..40], &[]),
        "malformed ELF object: file header: truncated: 40 bytes, an ELF64 header needs 64"
    );
    let msg = error_of(&obj[..obj.len() - 10], &[]);
    assert!(
        msg.starts_with("malformed ELF object: section header table: Could not read bytes"),
        "{msg}"
    );
    // Section data that runs past the end of the file.
    let mut o = ObjBuilder::new();
    o.text(&[NOP; 64]);
    let mut obj = o.build();
    let h = shdr_offset(&obj, 1);
    let past = obj.len() as u64 - 16;
    obj[h + 24..h + 32].copy_from_slice(&past.to_le_bytes());
    let msg = error_of(&obj, &[]);
    assert!(
        msg.starts_with("section 1 '.text': data at offset"),
        "{msg}"
    );
}

#[test]
fn wrong_class_machine_type_and_endianness_are_refused() {
    let mut obj = good();
    obj[4] = 1;
    assert_eq!(
        error_of(&obj, &[]),
        "not an AArch64 ELF64 relocatable object (ELFCLASS32)"
    );
    let mut obj = good();
    obj[5] = 2;
    assert_eq!(
        error_of(&obj, &[]),
        "not an AArch64 ELF64 relocatable object (not little-endian)"
    );
    let mut obj = good();
    obj[18..20].copy_from_slice(&62u16.to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "not an AArch64 ELF64 relocatable object (e_machine 62)"
    );
    let mut obj = good();
    obj[16..18].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "not an AArch64 ELF64 relocatable object (e_type 2, not ET_REL)"
    );
}

#[test]
fn bad_section_offsets_sizes_and_alignment_are_refused() {
    let mut obj = good();
    let h = shdr_offset(&obj, 1);
    obj[h + 24..h + 32].copy_from_slice(&0xffff_ff00u64.to_le_bytes());
    let msg = error_of(&obj, &[]);
    assert!(
        msg.starts_with(
            "section 1 '.text': data at offset 0xffffff00 size 0x14 lies outside the file"
        ),
        "{msg}"
    );

    let mut obj = good();
    obj[h + 32..h + 40].copy_from_slice(&u64::MAX.to_le_bytes());
    let msg = error_of(&obj, &[]);
    assert!(
        msg.starts_with("section 1 '.text': data at offset"),
        "{msg}"
    );

    let mut obj = good();
    obj[h + 48..h + 56].copy_from_slice(&3u64.to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "section 1 '.text': alignment 0x3 is not a power of two up to 0x10000"
    );

    let mut obj = good();
    obj[h + 8..h + 16].copy_from_slice(&(SHF_ALLOC | SHF_EXEC | SHF_WRITE).to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "section 1 '.text': writable and executable: refusing W+X"
    );

    // RELA table whose size is not a whole number of entries.
    let mut obj = good();
    let h2 = shdr_offset(&obj, 2);
    obj[h2 + 32..h2 + 40].copy_from_slice(&23u64.to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "section 2 '.rela.text': RELA size 0x17 is not a multiple of 24"
    );

    // A huge NOBITS section is a size error, not an allocation.
    let mut o = ObjBuilder::new();
    o.text(&[NOP]);
    let bss = o.section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, &[], 8);
    let mut obj = o.build();
    let hb = shdr_offset(&obj, bss as usize);
    obj[hb + 32..hb + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "module too large: section '.bss' does not fit the data region"
    );
    obj[hb + 32..hb + 40].copy_from_slice(&(200u64 << 20).to_le_bytes());
    assert_eq!(
        error_of(&obj, &[]),
        "module too large: 0xc800004 bytes of regions exceed the limit of 0x8000000"
    );
}

#[test]
fn bad_symbols_and_relocation_entries_are_refused() {
    let mut o = ObjBuilder::new();
    let text = o.text(&[BL, NOP]);
    o.undefined("foo");
    o.rela(text, 0, 7, r(RelocKind::Call26), 0);
    assert_eq!(
        error_of(&o.build(), &[]),
        "relocation R_AARCH64_CALL26 at .text+0x0: symbol index 7 out of range (2 symbols)"
    );

    let mut o = ObjBuilder::new();
    let text = o.text(&[NOP; 8]);
    let f = o.undefined("foo");
    o.rela(text, 0x10, f, 1234, 0);
    assert_eq!(
        error_of(&o.build(), &[]),
        "unsupported relocation type 1234 at .text+0x10"
    );

    let mut o = ObjBuilder::new();
    let text = o.text(&[NOP; 2]);
    let f = o.undefined("foo");
    o.rela(text, 6, f, r(RelocKind::Abs64), 0);
    assert_eq!(
        error_of(&o.build(), &[("foo", 0)]),
        "relocation R_AARCH64_ABS64 at .text+0x6: place lies outside the section (0x8 bytes)"
    );

    let mut o = ObjBuilder::new();
    o.text(&[NOP]);
    o.symbol("bogus", 0, 0, STB_GLOBAL, STT_FUNC, 42);
    assert_eq!(
        error_of(&o.build(), &[]),
        "symbol 1 'bogus': section index 42 out of range"
    );

    let mut o = ObjBuilder::new();
    let text = o.text(&[NOP]);
    o.symbol("past_end", 8, 0, STB_GLOBAL, STT_FUNC, text);
    assert_eq!(
        error_of(&o.build(), &[]),
        "symbol 1 'past_end': value 0x8 lies past the end of section '.text' (0x4 bytes)"
    );

    let mut o = ObjBuilder::new();
    let text = o.text(&[NOP]);
    let f = o.undefined("foo");
    o.rela(text, 0, f, r(RelocKind::Abs32), 0);
    o.relas[0].2 = true;
    assert_eq!(
        error_of(&o.build(), &[]),
        "section '.rel.text' has SHT_REL relocations: AArch64 modules must use SHT_RELA"
    );
}

#[test]
fn unresolved_out_of_range_and_misaligned_targets_are_refused() {
    assert_eq!(error_of(&good(), &[]), "Unknown symbol foo (err -2)");

    let mut o = ObjBuilder::new();
    let text = o.text(&[NOP; 0x80]);
    let f = o.undefined("far_data");
    o.rela(text, 0x1c4, f, r(RelocKind::AdrPrelLo21), 0);
    assert_eq!(
        error_of(&o.build(), &[("far_data", TEXT + 0x1c4 + (1 << 20))]),
        "relocation R_AARCH64_ADR_PREL_LO21 at .text+0x1c4 to 'far_data' out of range (target 0x401001c4, place 0x400001c4)"
    );

    let mut o = ObjBuilder::new();
    let text = o.text(&[LDR_X0]);
    let f = o.undefined("odd");
    o.rela(text, 0, f, r(RelocKind::Ldst64AbsLo12Nc), 0);
    assert_eq!(
        error_of(&o.build(), &[("odd", 0x4000_1004)]),
        "relocation R_AARCH64_LDST64_ABS_LO12_NC at .text+0x0 to 'odd' needs a 8-byte aligned target (target 0x40001004)"
    );

    // A far branch that may not use a veneer (CONDBR19) is out of range.
    let mut o = ObjBuilder::new();
    let text = o.text(&[0x5400_0000]);
    let f = o.undefined("far");
    o.rela(text, 0, f, r(RelocKind::CondBr19), 0);
    let msg = error_of(&o.build(), &[("far", TEXT + (1 << 20))]);
    assert!(
        msg.starts_with("relocation R_AARCH64_CONDBR19 at .text+0x0 to 'far' out of range"),
        "{msg}"
    );
}

#[test]
fn regions_that_do_not_match_the_layout_are_refused() {
    let obj = good();
    let object = Object::parse(&obj).unwrap();
    let layout = Layout::plan(&object).unwrap();
    let mut short = vec![0u8; layout.text.size as usize - 1];
    let (mut a, mut b) = (vec![0u8; 0], vec![0u8; 0]);
    let regions = Regions {
        text: Region {
            base: TEXT,
            bytes: &mut short,
        },
        rodata: Region {
            base: RODATA,
            bytes: &mut a,
        },
        data: Region {
            base: DATA,
            bytes: &mut b,
        },
    };
    let mut resolver = |_: &str| Some(TEXT);
    let err = object.load(&layout, regions, &mut resolver).unwrap_err();
    assert!(err.to_string().starts_with("text region: 0x"), "{err}");

    let mut text = vec![0u8; layout.text.size as usize];
    let regions = Regions {
        text: Region {
            base: TEXT + 2,
            bytes: &mut text,
        },
        rodata: Region {
            base: RODATA,
            bytes: &mut a,
        },
        data: Region {
            base: DATA,
            bytes: &mut b,
        },
    };
    let err = object.load(&layout, regions, &mut resolver).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "text region: base 0x40000002 is not {:#x}-aligned",
            layout.text.align
        )
    );
}

#[test]
fn the_fuzz_corpus_replays_without_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/load");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = modloader::fuzz_one(&bytes);
        n += 1;
    }
    assert!(n > 0, "empty corpus in {}", dir.display());
}

#[test]
fn every_prefix_and_every_single_byte_flip_of_a_good_object_fails_cleanly() {
    let obj = good();
    for len in 0..obj.len() {
        let _ = modloader::fuzz_one(&obj[..len]);
    }
    for i in 0..obj.len() {
        for bit in 0..8 {
            let mut o = obj.clone();
            o[i] ^= 1 << bit;
            let _ = modloader::fuzz_one(&o);
        }
    }
}

fn load_with_fix(
    obj: &[u8],
    syms: &[(&str, u64)],
    fix: bool,
) -> (Vec<u8>, LoadStats, Option<PlacedArea>) {
    let object = Object::parse(obj).unwrap();
    let options = modloader::PlanOptions {
        fix_cortex_a53_843419: fix,
        ..Default::default()
    };
    let layout = Layout::plan_with(&object, options).unwrap();
    if fix {
        assert_eq!(layout.text.align, 4096);
    }
    let mut text = vec![0u8; layout.text.size as usize];
    let (mut a, mut b) = (vec![0u8; 0], vec![0u8; 0]);
    let regions = Regions {
        text: Region {
            base: TEXT,
            bytes: &mut text,
        },
        rodata: Region {
            base: RODATA,
            bytes: &mut a,
        },
        data: Region {
            base: DATA,
            bytes: &mut b,
        },
    };
    let mut resolver = |name: &str| syms.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
    let m = object.load(&layout, regions, &mut resolver).unwrap();
    (text, m.stats, m.plt)
}

#[test]
fn cortex_a53_843419_adrps_at_page_end_become_adr_or_go_through_a_veneer() {
    let mut words = vec![NOP; 0x1010 / 4];
    words[0xff8 / 4] = ADRP_X0 | 3; // adrp x3 at page offset 0xff8
    words[0xffc / 4] = ADRP_X0 | 5; // adrp x5 at page offset 0xffc
    words[0xff0 / 4] = ADRP_X0 | 7; // unaffected offset
    let mut o = ObjBuilder::new();
    let text = o.text(&words);
    let near = o.undefined("near_data");
    let far = o.undefined("far_data");
    o.rela(text, 0xff8, near, r(RelocKind::AdrPrelPgHi21), 0);
    o.rela(text, 0xffc, far, r(RelocKind::AdrPrelPgHi21), 0);
    o.rela(text, 0xff0, far, r(RelocKind::AdrPrelPgHi21), 0);
    let obj = o.build();
    let near_addr = TEXT + 0x8_0123; // within +-1 MiB
    let far_addr = TEXT + 0x100_0456; // 16 MiB away
    let syms = [("near_data", near_addr), ("far_data", far_addr)];

    let (text, stats, plt) = load_with_fix(&obj, &syms, true);
    assert_eq!(stats.erratum_843419_fixes, 2);
    // 0xff8: ADR x3 to the page of near_data.
    let adr = word(&text, 0xff8);
    assert_eq!(adr & 0x9f00_001f, 0x1000_0003, "ADR x3");
    let imm = (u64::from(adr >> 5) & 0x7_ffff) << 2 | (u64::from(adr >> 29) & 3);
    assert_eq!(
        (TEXT + 0xff8).wrapping_add(sext(imm, 21) as u64),
        near_addr & !0xfff
    );
    // 0xffc: B to a veneer "ADRP x5, page; B 0x1000".
    let b = word(&text, 0xffc);
    assert_eq!(b & 0xfc00_0000, 0x1400_0000, "B");
    let veneer = branch_target(b, TEXT + 0xffc);
    let plt = plt.expect("veneer area");
    assert!(veneer >= plt.address && veneer < plt.address + plt.size);
    assert!(
        veneer & 0xfff < 0xff8,
        "the veneer's ADRP is itself at a safe offset"
    );
    let v_adrp = word(&text, veneer - TEXT);
    assert_eq!(v_adrp & 0x9f00_001f, 0x9000_0005, "ADRP x5");
    assert_eq!(adrp_target(v_adrp, veneer), far_addr & !0xfff);
    assert_eq!(
        branch_target(word(&text, veneer - TEXT + 4), veneer + 4),
        TEXT + 0x1000
    );
    // Unaffected offset: a plain ADRP.
    assert_eq!(
        adrp_target(word(&text, 0xff0), TEXT + 0xff0),
        far_addr & !0xfff
    );

    // Without the workaround both stay ADRPs.
    let (text, stats, _) = load_with_fix(&obj, &syms, false);
    assert_eq!(stats.erratum_843419_fixes, 0);
    assert_eq!(
        adrp_target(word(&text, 0xff8), TEXT + 0xff8),
        near_addr & !0xfff
    );
    assert_eq!(
        adrp_target(word(&text, 0xffc), TEXT + 0xffc),
        far_addr & !0xfff
    );
}

#[test]
fn gaps_bss_and_veneers_are_zero_whatever_the_regions_held() {
    // `link` hands over regions full of 0xa5: every planned byte the sections do
    // not cover must come out zero.
    let mut o = ObjBuilder::new();
    let text = o.text(&[BL, NOP, NOP]);
    o.section(".rodata.a", SHT_PROGBITS, SHF_ALLOC, &[0xff; 3], 1);
    o.section(".rodata.b", SHT_PROGBITS, SHF_ALLOC, &[0xee; 8], 8);
    o.section(".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, &[0xdd; 4], 4);
    o.section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, &[0; 12], 8);
    let ext = o.undefined("far_away");
    o.rela(text, 0, ext, r(RelocKind::Call26), 0);
    let out = link(&o.build(), &[("far_away", TEXT + 0x1000_0000)]).unwrap();

    assert_eq!(
        out.rodata,
        [0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee]
    );
    assert_eq!(&out.data[..4], &[0xdd; 4]);
    assert!(out.data[4..].iter().all(|&b| b == 0), "{:x?}", out.data);
    assert_eq!(out.data.len(), 8 + 12);
    let plt = out.plt.expect("a far call has a veneer");
    assert_eq!(word(&out.text, 4), NOP);
    let tail = &out.text[12..(plt.address - TEXT) as usize];
    assert!(
        tail.iter().all(|&b| b == 0),
        "gap before the veneers: {tail:x?}"
    );
}
