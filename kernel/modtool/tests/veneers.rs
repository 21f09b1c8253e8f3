//! A real rustc object placed more than 128 MiB from every function it calls still
//! links, and every veneer `modtool link` made decodes to exactly the callee.

mod common;

use common::*;
use modloader::{Object, RelocKind, SymbolDef};

const BASE: u64 = 0x4010_0000;

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

#[test]
fn far_callees_are_reached_through_veneers_that_decode_to_them() {
    let dir = workdir("veneers");
    let obj_path = build_rust(&dir, "module.rs", "static", "small", "2");
    let bytes = std::fs::read(&obj_path).unwrap();
    let object = Object::parse(&bytes).unwrap();
    // Imports 512 MiB above the module: out of B/BL range, in ADRP range.
    let far = BASE + (512 << 20);
    let symbols: Vec<(String, u64)> = object
        .undefined_symbols()
        .enumerate()
        .map(|(i, n)| (n.to_string(), far + 64 * i as u64))
        .collect();
    let syms_path = dir.join("far.syms");
    write_symbols(&syms_path, &symbols);
    let (image, map) = modtool_link(&obj_path, BASE, &syms_path, &dir.join("far"));

    let mut section_addr = std::collections::HashMap::new();
    let mut plt = None;
    for line in map.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let addr = u64::from_str_radix(w[w.len() - 2].trim_start_matches("0x"), 16).unwrap();
        let size: u64 = w[w.len() - 1].parse().unwrap();
        match w[0] {
            "PLT" => plt = Some((addr, size)),
            "GOT" | "COMMON" => {}
            index => {
                section_addr.insert(index.parse::<usize>().unwrap(), addr);
            }
        }
    }
    let (plt_addr, plt_size) = plt.expect("a PLT line in the map");
    let word = |a: u64| u32::from_le_bytes(image[(a - BASE) as usize..][..4].try_into().unwrap());
    let quad = |a: u64| u64::from_le_bytes(image[(a - BASE) as usize..][..8].try_into().unwrap());

    let mut through_veneer = 0;
    for table in object.rela_tables() {
        let Some(&sec) = section_addr.get(&table.target) else {
            continue;
        };
        for rela in table.iter() {
            let kind = RelocKind::from_raw(rela.rtype).unwrap();
            if !kind.may_use_veneer() {
                continue;
            }
            let sym = object.symbol(rela.sym as usize).unwrap();
            let obj_name = object.symbol_name(&sym);
            let place = sec + rela.offset;
            let insn = word(place);
            let dest = place.wrapping_add((sext(u64::from(insn & 0x03ff_ffff), 26) << 2) as u64);
            if sym.def != SymbolDef::Undefined {
                continue;
            }
            let want = symbols
                .iter()
                .find(|(n, _)| n == obj_name)
                .unwrap()
                .1
                .wrapping_add(rela.addend as u64);
            assert!(
                dest >= plt_addr && dest + 16 <= plt_addr + plt_size,
                "{} at {place:#x} goes to {dest:#x}, not into the PLT",
                kind
            );
            assert_eq!(word(dest), 0x5800_0050, "veneer word 0 is ldr x16, #8");
            assert_eq!(word(dest + 4), 0xd61f_0200, "veneer word 1 is br x16");
            assert_eq!(
                quad(dest + 8),
                want,
                "veneer for '{}' decodes to it",
                obj_name
            );
            through_veneer += 1;
        }
    }
    assert!(
        through_veneer >= 3,
        "only {through_veneer} calls went through veneers"
    );
}
