//! Differential tests: objects built now by this machine's compilers, linked by
//! `modtool link` (the loader) and by `ld.lld` at the same addresses; every placed
//! section and the GOT must be byte-identical. Sections lld rewrites (`.eh_frame`,
//! notes) are not compared; mergeable sections are compared after clearing
//! SHF_MERGE on both sides' input (lld would de-duplicate them; we place as-is).

mod common;

use common::*;

const BASE: u64 = 0x4010_0000;

#[test]
fn rustc_objects_link_like_lld_in_every_model() {
    let dir = workdir("diff-rust");
    let mut total = 0;
    for reloc in ["static", "pic"] {
        for code in ["tiny", "small", "large"] {
            for opt in ["0", "2"] {
                let obj = build_rust(&dir, "module.rs", reloc, code, opt);
                let n = differential(&dir, &obj, BASE);
                assert!(n > 0, "{} compared nothing", obj.display());
                total += n;
            }
        }
    }
    eprintln!("compared {total} bytes");
}

fn c_matrix(compiler: &std::path::Path, target: &[&str], tag: &str) {
    let dir = workdir(&format!("diff-{tag}"));
    let combos: &[(&str, &[&str])] = &[
        ("tiny-nopic", &["-mcmodel=tiny", "-fno-pic"]),
        ("tiny-fpic", &["-mcmodel=tiny", "-fpic"]),
        ("small-nopic", &["-mcmodel=small", "-fno-pic"]),
        ("small-fpic", &["-mcmodel=small", "-fpic"]),
        ("small-fPIC", &["-mcmodel=small", "-fPIC"]),
        ("large-nopic", &["-mcmodel=large", "-fno-pic"]),
    ];
    for (name, flags) in combos {
        let mut all: Vec<&str> = target.to_vec();
        all.extend_from_slice(flags);
        let obj = build_c(&dir, compiler, &format!("{tag}-{name}"), &all);
        let n = differential(&dir, &obj, BASE);
        assert!(n > 0, "{} compared nothing", obj.display());
    }
}

#[test]
fn gcc_objects_link_like_lld_in_every_model() {
    let gcc = require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    c_matrix(&gcc, &["-mno-outline-atomics"], "gcc");
}

#[test]
fn clang_objects_link_like_lld_in_every_model() {
    let clang = require("clang", "clang");
    c_matrix(
        &clang,
        &["--target=aarch64-none-elf", "-mno-outline-atomics"],
        "clang",
    );
}
