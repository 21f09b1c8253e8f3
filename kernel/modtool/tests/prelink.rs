//! `modtool prelink`: a prelinked object must load to exactly the image its
//! original loads to, in every code model, with and without the Cortex-A53
//! erratum workaround, and still link like lld; a damaged or mismatched
//! `.modprelink` must be refused or ignored, never applied wrongly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use modloader::prelink::consecutive_bases;
use modloader::{Layout, Object, PlanOptions, Region, Regions};

const BASE: u64 = 0x4010_0000;

/// `modtool prelink OBJ -o OBJ.pl.o`; returns the output path and how many
/// relocations it applied.
fn prelink(obj: &Path) -> (PathBuf, usize) {
    prelink_as(obj, false)
}

/// [`prelink`], with `--strip` when `strip` (output OBJ.pls.o).
fn prelink_as(obj: &Path, strip: bool) -> (PathBuf, usize) {
    let (out, applied, _) = prelink_said(obj, strip);
    (out, applied)
}

/// [`prelink_as`], and what `modtool` said on stderr.
fn prelink_said(obj: &Path, strip: bool) -> (PathBuf, usize, String) {
    let out = obj.with_extension(if strip { "pls.o" } else { "pl.o" });
    let done = Command::new(MODTOOL)
        .arg("prelink")
        .args(strip.then_some("--strip"))
        .arg(obj)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
    assert!(done.status.success(), "modtool prelink failed: {stderr}");
    let said = String::from_utf8_lossy(&done.stdout);
    // "prelink: OUT: N of M relocations applied, K left for the load"
    let applied = said
        .split(": ")
        .nth(2)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected prelink output {said:?}"));
    (out, applied, stderr)
}

/// `modtool link` of `obj` at BASE with `extra` flags: (image, map).
fn link(obj: &Path, syms: &Path, tag: &str, extra: &[&str]) -> (Vec<u8>, String) {
    let out = obj.with_extension(format!("{tag}.out"));
    run(Command::new(MODTOOL)
        .arg("link")
        .arg(obj)
        .args(["--base", &format!("{BASE:#x}"), "--symbols"])
        .arg(syms)
        .args(extra)
        .arg("-o")
        .arg(&out));
    let bin = std::fs::read(format!("{}.bin", out.display())).unwrap();
    let map = std::fs::read_to_string(format!("{}.map", out.display())).unwrap();
    (bin, map)
}

/// Whether `file` is a stripped prelinked object (`.modprelink`'s magic).
fn is_stripped(file: &Path) -> bool {
    let bytes = std::fs::read(file).unwrap();
    let at = section_offset(&bytes, ".modprelink");
    bytes[at..at + 8] == *b"MODPLKS1"
}

/// Prelinks `obj`, plain and stripped, and checks all three files link to the
/// same image and map, with and without the erratum workaround; a stripped
/// one refuses `--no-prelink`. Returns the relocations applied.
fn same_image(obj: &Path) -> usize {
    let bytes = std::fs::read(obj).unwrap();
    let syms = obj.with_extension("syms");
    write_symbols(&syms, &symbols_for(&bytes, BASE));
    let (prelinked, applied) = prelink(obj);
    let (stripped, applied_stripped) = prelink_as(obj, true);
    assert_eq!(applied, applied_stripped);
    if is_stripped(&stripped) {
        assert!(
            std::fs::metadata(&stripped).unwrap().len()
                < std::fs::metadata(&prelinked).unwrap().len()
                || applied == 0,
            "{}: stripping saved nothing",
            obj.display()
        );
        let refused = Command::new(MODTOOL)
            .arg("link")
            .arg(&stripped)
            .args(["--base", &format!("{BASE:#x}"), "--symbols"])
            .arg(&syms)
            .arg("--no-prelink")
            .arg("-o")
            .arg(obj.with_extension("refused.out"))
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "{}: --no-prelink linked a stripped object",
            obj.display()
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("loads only as the build planned it"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    for erratum in [&[][..], &["--fix-cortex-a53-843419"][..]] {
        let mut plain = vec!["--no-prelink"];
        plain.extend_from_slice(erratum);
        let want = link(obj, &syms, "plain", &plain);
        for (file, tag) in [(&prelinked, "pl"), (&stripped, "pls")] {
            let got = link(file, &syms, tag, erratum);
            assert_eq!(
                want.1,
                got.1,
                "{}: {tag}: maps differ ({erratum:?})",
                obj.display()
            );
            assert!(
                want.0 == got.0,
                "{}: {tag}: images differ ({erratum:?}) at {:#x?}",
                obj.display(),
                want.0.iter().zip(&got.0).position(|(a, b)| a != b)
            );
        }
    }
    applied
}

#[test]
fn prelinked_rust_objects_load_to_the_same_image_in_every_model() {
    let dir = workdir("prelink-rust");
    for reloc in ["static", "pic"] {
        for code in ["tiny", "small", "large"] {
            for opt in ["0", "2"] {
                let obj = build_rust(&dir, "module.rs", reloc, code, opt);
                let applied = same_image(&obj);
                // The large model addresses everything with MOVW_UABS (absolute):
                // nothing is placement-invariant but the branches.
                assert!(applied > 0, "{}: nothing prelinked", obj.display());
            }
        }
    }
}

#[test]
fn an_adrp_at_page_offset_0xff8_is_stripped_and_loads_the_same_with_the_erratum_workaround() {
    let dir = workdir("prelink-erratum");
    let obj = build_rust(&dir, "erratum.rs", "static", "small", "2");
    let syms = obj.with_extension("syms");
    write_symbols(&syms, &symbols_for(&std::fs::read(&obj).unwrap(), BASE));
    // The workaround does rewrite this object (else the test tests nothing).
    let plain = link(&obj, &syms, "plain", &["--no-prelink"]);
    let fixed = link(
        &obj,
        &syms,
        "fixed",
        &["--no-prelink", "--fix-cortex-a53-843419"],
    );
    assert!(plain.0 != fixed.0, "the ADRP at 0xff8 was not rewritten");
    assert!(same_image(&obj) > 0);
    assert!(
        is_stripped(&obj.with_extension("pls.o")),
        "its veneer slot fits in text's last page: it should strip"
    );
}

#[test]
fn an_object_whose_erratum_veneer_starts_a_page_is_kept_whole() {
    let dir = workdir("prelink-erratum-full");
    // erratum.rs without the RET after the ADD and without the panic
    // handler: text is the one page, ending with the pair.
    let source = std::fs::read_to_string(fixture("erratum.rs")).unwrap();
    let cut = source.find("#[panic_handler]").unwrap();
    let full = dir.join("erratum_full.rs");
    std::fs::write(&full, source[..cut].replace("    \"ret\",\n", "")).unwrap();
    let obj = build_rust(&dir, full.to_str().unwrap(), "static", "small", "2");
    let (_, _, said) = prelink_said(&obj, true);
    assert!(
        said.contains("RELA tables kept whole") && said.contains("erratum 843419"),
        "{said}"
    );
    assert!(!is_stripped(&obj.with_extension("pls.o")));
    // Whole, it still loads the same everywhere (falling back to its RELA
    // tables under the workaround).
    same_image(&obj);
}

#[test]
fn prelinked_gcc_objects_load_to_the_same_image_in_every_model() {
    let gcc = require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let dir = workdir("prelink-gcc");
    for (name, flags) in [
        ("tiny-nopic", &["-mcmodel=tiny", "-fno-pic"][..]),
        ("small-nopic", &["-mcmodel=small", "-fno-pic"]),
        ("small-fpic", &["-mcmodel=small", "-fpic"]),
        ("small-fPIC", &["-mcmodel=small", "-fPIC"]),
        ("large-nopic", &["-mcmodel=large", "-fno-pic"]),
    ] {
        let mut all = vec!["-mno-outline-atomics"];
        all.extend_from_slice(flags);
        let obj = build_c(&dir, &gcc, &format!("gcc-{name}"), &all);
        same_image(&obj);
    }
}

#[test]
fn a_prelinked_object_still_links_like_lld() {
    let dir = workdir("prelink-lld");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let (prelinked, _) = prelink(&obj);
    assert!(differential(&dir, &prelinked, BASE) > 0);
}

/// The byte offset of section `name` in `bytes`.
fn section_offset(bytes: &[u8], name: &str) -> usize {
    section_range(bytes, name).0
}

/// The names of the sections of `bytes`, in section header order.
fn section_names(bytes: &[u8]) -> Vec<String> {
    use elf::endian::LittleEndian;
    let file = elf::ElfBytes::<LittleEndian>::minimal_parse(bytes).unwrap();
    let (shdrs, strtab) = file.section_headers_with_strtab().unwrap();
    let (shdrs, strtab) = (shdrs.unwrap(), strtab.unwrap());
    shdrs
        .iter()
        .map(|s| strtab.get(s.sh_name as usize).unwrap().to_string())
        .collect()
}

/// The byte offset and size of section `name` in `bytes`.
fn section_range(bytes: &[u8], name: &str) -> (usize, usize) {
    use elf::endian::LittleEndian;
    let file = elf::ElfBytes::<LittleEndian>::minimal_parse(bytes).unwrap();
    let (shdrs, strtab) = file.section_headers_with_strtab().unwrap();
    let (shdrs, strtab) = (shdrs.unwrap(), strtab.unwrap());
    shdrs
        .iter()
        .find(|s| strtab.get(s.sh_name as usize).unwrap() == name)
        .map(|s| (s.sh_offset as usize, s.sh_size as usize))
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// Loads `bytes` with `.modprelink` allowed, text at BASE and the other regions
/// at `shift` bytes past where the kernel would put them.
fn load_shifted(bytes: &[u8], shift: u64) -> Result<(Layout, Vec<u8>), modloader::LoadError> {
    let object = Object::parse(bytes)?;
    let layout = Layout::plan_with(
        &object,
        PlanOptions {
            use_prelink: true,
            ..PlanOptions::default()
        },
    )?;
    let (rodata_base, data_base) = consecutive_bases(&layout, BASE).unwrap();
    let mut text = vec![0u8; layout.text.size as usize];
    let mut rodata = vec![0u8; layout.rodata.size as usize];
    let mut data = vec![0u8; layout.data.size as usize];
    let regions = Regions {
        text: Region {
            base: BASE,
            bytes: &mut text,
        },
        rodata: Region {
            base: rodata_base + shift,
            bytes: &mut rodata,
        },
        data: Region {
            base: data_base + shift,
            bytes: &mut data,
        },
    };
    let mut resolver = |_: &str| Some(BASE - 0x8_0000);
    object.load(&layout, regions, &mut resolver)?;
    text.extend_from_slice(&rodata);
    text.extend_from_slice(&data);
    Ok((layout, text))
}

#[test]
fn a_prelinked_object_is_refused_at_other_distances_and_its_section_checked() {
    let dir = workdir("prelink-refuse");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let (prelinked, applied) = prelink(&obj);
    let bytes = std::fs::read(&prelinked).unwrap();

    let (layout, _) = load_shifted(&bytes, 0).expect("loads where the kernel places it");
    assert_eq!(layout.prelinked, Some(applied as u64));
    let err = load_shifted(&bytes, 0x1000).expect_err("regions a page further must be refused");
    assert!(
        err.to_string().contains("prelinked object"),
        "unexpected error: {err}"
    );

    // A second prelink, and a prelink of a signed module, are refused.
    let again = Command::new(MODTOOL)
        .arg("prelink")
        .arg(&prelinked)
        .arg("-o")
        .arg(dir.join("twice.o"))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has .modprelink"));
    let mut signed = std::fs::read(&obj).unwrap();
    signed.extend_from_slice(b"~Module signature appended~\n");
    let signed_path = dir.join("signed.o");
    std::fs::write(&signed_path, &signed).unwrap();
    let out = Command::new(MODTOOL)
        .arg("prelink")
        .arg(&signed_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("prelink it before signing"));

    let at = section_offset(&bytes, ".modprelink");
    // A bad magic is a malformed object.
    let mut bad = bytes.clone();
    bad[at] ^= 1;
    let err = Object::parse(&bad).expect_err("bad magic must be refused");
    assert!(err.to_string().contains(".modprelink"), "{err}");
    // A table count past the end is a malformed object.
    let mut bad = bytes.clone();
    bad[at + 16] = 0xff;
    assert!(Object::parse(&bad).is_err());
    // A recorded text size the plan does not match: the RELA tables are used
    // instead, and the image is the original's.
    let mut other = bytes.clone();
    other[at + 25] ^= 0x10; // text size + 0x1000: another page count
    let (layout, image) = load_shifted(&other, 0).expect("falls back to the RELA tables");
    assert_eq!(layout.prelinked, None);
    let (_, want) = load_shifted(&std::fs::read(&obj).unwrap(), 0).unwrap();
    assert!(
        image == want,
        "the fallback image differs from the original's"
    );
}

#[test]
fn a_stripped_object_is_refused_rather_than_planned_another_way() {
    let dir = workdir("prelink-strip");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let (stripped, applied) = prelink_as(&obj, true);
    assert!(is_stripped(&stripped), "the test object should strip");
    let bytes = std::fs::read(&stripped).unwrap();
    let original = std::fs::read(&obj).unwrap();
    let (layout, image) = load_shifted(&bytes, 0).expect("loads where the kernel places it");
    assert_eq!(layout.prelinked, Some(applied as u64));
    let (_, want) = load_shifted(&original, 0).unwrap();
    assert!(
        image == want,
        "the stripped image differs from the original's"
    );
    // Only the entries left are in the RELA tables; every other section's
    // bytes are the prelinked file's.
    let full = std::fs::read(prelink(&obj).0).unwrap();
    let names = section_names(&full);
    let rela = |b: &[u8]| {
        names
            .iter()
            .filter(|n| n.starts_with(".rela"))
            .map(|n| section_range(b, n).1 / 24)
            .sum::<usize>()
    };
    assert_eq!(section_names(&bytes), names);
    assert!(
        rela(&bytes) < rela(&full),
        "{} vs {}",
        rela(&bytes),
        rela(&full)
    );
    let same = |n: &&String| !n.starts_with(".rela") && !n.is_empty() && *n != ".modprelink";
    for name in names.iter().filter(same) {
        let (a, n) = section_range(&bytes, name);
        let (b, m) = section_range(&full, name);
        assert!(bytes[a..a + n] == full[b..b + m], "{name} differs");
    }
    // Regions a page further: refused, as for any prelinked object.
    assert!(load_shifted(&bytes, 0x1000).is_err());
    // A recorded size the plan does not match: refused, not planned from the
    // (short) RELA tables.
    let at = section_offset(&bytes, ".modprelink");
    let mut other = bytes.clone();
    other[at + 25] ^= 0x10; // text size + 0x1000: another page count
    let err = load_shifted(&other, 0).expect_err("a stripped object planned another way");
    assert!(err.to_string().contains("plans it differently"), "{err}");
    // A table count in a stripped section is malformed.
    let mut bad = bytes.clone();
    bad[at + 16] = 1;
    assert!(Object::parse(&bad).is_err());
    // `modtool info` shows it with its one plan.
    let info = run_capture(Command::new(MODTOOL).arg("info").arg(&stripped));
    assert!(
        info.contains(&format!(
            "prelink:  {applied} relocations applied at build time; removed"
        )),
        "{info}"
    );
    // `modtool bench` times it with that plan.
    let bench = run_capture(
        Command::new(MODTOOL)
            .arg("bench")
            .arg(&stripped)
            .args(["--iterations", "3"]),
    );
    assert!(bench.contains("parse+plan+load:"), "{bench}");
    // Asked not to use `.modprelink`: refused.
    let object = Object::parse(&bytes).unwrap();
    let err = Layout::plan_with(&object, PlanOptions::default()).expect_err("no fallback");
    assert!(err.to_string().contains("asked to ignore it"), "{err}");
}

#[test]
fn every_byte_of_modprelink_mutated_loads_falls_back_or_is_refused_without_panic() {
    let dir = workdir("prelink-mutate");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let (_, want) = load_shifted(&std::fs::read(&obj).unwrap(), 0).unwrap();
    for strip in [false, true] {
        let bytes = std::fs::read(prelink_as(&obj, strip).0).unwrap();
        let (at, len) = section_range(&bytes, ".modprelink");
        let (mut loaded, mut refused) = (0, 0);
        for i in at..at + len {
            for value in [0u8, 0xff, bytes[i].wrapping_add(1), bytes[i] ^ 0x80] {
                let mut m = bytes.clone();
                m[i] = value;
                // The fuzz entry point: parse, plan (with `.modprelink`), load.
                let _ = modloader::fuzz_one(&m);
                match load_shifted(&m, 0) {
                    Ok((layout, image)) => {
                        loaded += 1;
                        // Whole: a changed header, size or slot is not used:
                        // the RELA tables are, and give the original image (a
                        // changed entry is that entry's doing, as in any RELA
                        // table). Stripped: a changed size or slot is refused
                        // (nothing to fall back to), so whatever loads with
                        // the magic intact gives the original image.
                        let must_match = if strip {
                            i >= at + 8
                        } else {
                            layout.prelinked.is_none()
                        };
                        assert!(
                            !must_match || image == want,
                            "image differs (stripped {strip}, byte {i} = {value:#x})"
                        );
                    }
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(
            loaded > 0 && refused > 0,
            "stripped {strip}: loaded {loaded}, refused {refused}"
        );
    }
}

/// How a test fills the three regions before a load, given the layout.
type Fill<'f> = &'f dyn Fn(&Layout) -> [Vec<u8>; 3];

/// Loads `bytes` (`.modprelink` used, erratum workaround as `fix`) into text
/// at `text_base` whose regions start as `fill` gives, writing text as
/// `options` says: the three regions' bytes.
fn load_over(
    bytes: &[u8],
    text_base: u64,
    fix: bool,
    fill: Fill<'_>,
    options: &modloader::LoadOptions,
) -> [Vec<u8>; 3] {
    let object = Object::parse(bytes).unwrap();
    let layout = Layout::plan_with(
        &object,
        PlanOptions {
            use_prelink: true,
            fix_cortex_a53_843419: fix,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    let (rodata_base, data_base) = consecutive_bases(&layout, text_base).unwrap();
    let [mut text, mut rodata, mut data] = fill(&layout);
    let regions = Regions {
        text: Region {
            base: text_base,
            bytes: &mut text,
        },
        rodata: Region {
            base: rodata_base,
            bytes: &mut rodata,
        },
        data: Region {
            base: data_base,
            bytes: &mut data,
        },
    };
    let mut resolver = |name: &str| Some(BASE - 0x8_0000 - 16 * name.len() as u64);
    object
        .load_with(&layout, regions, &mut resolver, options)
        .unwrap();
    [text, rodata, data]
}

#[test]
fn text_stored_only_where_it_changes_gives_the_same_image_over_anything() {
    // What the kernel does when a module is loaded again into pages that may
    // hold its previous image: every byte must come out as a plain load into
    // fresh memory gives, whatever the pages held.
    let dir = workdir("prelink-changed");
    let changed = modloader::LoadOptions::changed_text_only();
    let plain = modloader::LoadOptions::default();
    for (reloc, code) in [("static", "small"), ("pic", "small"), ("static", "large")] {
        let obj = build_rust(&dir, "module.rs", reloc, code, "2");
        let (prelinked, _) = prelink(&obj);
        for bytes in [
            std::fs::read(&obj).unwrap(),
            std::fs::read(&prelinked).unwrap(),
        ] {
            for fix in [false, true] {
                let sized = |l: &Layout, b: u8| {
                    [l.text.size, l.rodata.size, l.data.size].map(|n| vec![b; n as usize])
                };
                let want = load_over(&bytes, BASE, fix, &|l| sized(l, 0), &plain);
                let elsewhere = load_over(&bytes, BASE + 0x20_0000, fix, &|l| sized(l, 0), &plain);
                let fills: [(&str, Fill<'_>); 4] = [
                    ("zeroes", &|l| sized(l, 0)),
                    ("0xa5", &|l| sized(l, 0xa5)),
                    ("its image", &|_| want.clone()),
                    ("its image at another address", &|_| elsewhere.clone()),
                ];
                for (what, fill) in fills {
                    let got = load_over(&bytes, BASE, fix, fill, &changed);
                    assert!(
                        got == want,
                        "{reloc}/{code} fix={fix}: over {what}, region {:?} differs",
                        (0..3).find(|&i| got[i] != want[i])
                    );
                }
            }
        }
    }
}
