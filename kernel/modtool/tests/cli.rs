//! `modtool` as a user sees it: the `.map` format, exit codes and messages.

mod common;

use std::process::Command;

use common::*;

#[test]
fn map_lists_every_allocated_section_including_empty_ones() {
    let dir = workdir("cli-map");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let bytes = std::fs::read(&obj).unwrap();
    let syms = dir.join("syms");
    write_symbols(&syms, &symbols_for(&bytes, 0x4010_0000));
    let (image, map) = modtool_link(&obj, 0x4010_0000, &syms, &dir.join("out"));
    let object = modloader::Object::parse(&bytes).unwrap();
    let allocated: Vec<_> = object
        .sections()
        .iter()
        .filter(|s| s.region().is_some())
        .collect();
    let lines: Vec<&str> = map
        .lines()
        .filter(|l| !l.starts_with(char::is_alphabetic))
        .collect();
    assert_eq!(lines.len(), allocated.len(), "{map}");
    for (line, s) in lines.iter().zip(&allocated) {
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(w[0], s.index.to_string());
        assert_eq!(w[1], s.name);
        assert!(w[2].starts_with("0x"));
        assert_eq!(w[3], s.size.to_string());
    }
    assert!(
        allocated.iter().any(|s| s.size == 0),
        "the fixture has an empty .text"
    );
    assert!(map.lines().any(|l| l.starts_with("PLT 0x")), "{map}");
    assert!(!image.is_empty());
}

#[test]
fn a_missing_symbol_exits_1_with_the_loaders_message() {
    let dir = workdir("cli-missing");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let empty = dir.join("empty.syms");
    std::fs::write(&empty, "# nothing\n").unwrap();
    let out = Command::new(MODTOOL)
        .arg("link")
        .arg(&obj)
        .args(["--base", "0x40100000", "--symbols"])
        .arg(&empty)
        .arg("-o")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(": Unknown symbol kernel_log (err -2)"),
        "{stderr}"
    );
}

#[test]
fn bad_usage_exits_2_and_info_prints_modinfo_and_relocations() {
    let out = Command::new(MODTOOL)
        .args(["link", "x.ko", "--base", "0x1001", "-o", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = workdir("cli-info");
    let obj = build_rust(&dir, "module.rs", "pic", "small", "2");
    let out = Command::new(MODTOOL)
        .arg("info")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("license:  MIT"), "{text}");
    assert!(text.contains("R_AARCH64_ADR_GOT_PAGE"), "{text}");
    assert!(text.contains("exports ("), "{text}");
    assert!(text.contains("kernel_alloc"), "{text}");
}

#[test]
fn link_accepts_the_erratum_843419_workaround() {
    let dir = workdir("cli-erratum");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let bytes = std::fs::read(&obj).unwrap();
    let syms = dir.join("syms");
    write_symbols(&syms, &symbols_for(&bytes, 0x4010_0000));
    let out = Command::new(MODTOOL)
        .arg("link")
        .arg(&obj)
        .args([
            "--base",
            "0x40100000",
            "--fix-cortex-a53-843419",
            "--symbols",
        ])
        .arg(&syms)
        .arg("-o")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Small text: no ADRP reaches a page end, so the image equals the plain link.
    let (plain, _) = modtool_link(&obj, 0x4010_0000, &syms, &dir.join("plain"));
    assert_eq!(std::fs::read(dir.join("out.bin")).unwrap(), plain);
}

#[test]
fn link_reads_a_section_outside_the_file_as_the_loader_reports_it() {
    // `link` reads only the sections it loads; a header pointing past the end of
    // the file still gets the loader's message, naming the section.
    let dir = workdir("cli-outside");
    let obj = build_rust(&dir, "module.rs", "static", "small", "2");
    let mut bytes = std::fs::read(&obj).unwrap();
    let object = modloader::Object::parse(&bytes).unwrap();
    let text = object
        .sections()
        .iter()
        .find(|s| s.region().is_some() && s.size > 0)
        .map(|s| (s.index, s.name.to_string()))
        .unwrap();
    let word = |b: &[u8], at: usize, n: usize| {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(w) as usize
    };
    let sh_offset = word(&bytes, 0x28, 8) + text.0 * 64 + 24;
    let past_end = (bytes.len() as u64).to_le_bytes();
    bytes[sh_offset..sh_offset + 8].copy_from_slice(&past_end);
    let bad = dir.join("outside.o");
    std::fs::write(&bad, &bytes).unwrap();
    let syms = dir.join("syms");
    std::fs::write(&syms, "").unwrap();
    let out = Command::new(MODTOOL)
        .arg("link")
        .arg(&bad)
        .args(["--base", "0x40100000", "--symbols"])
        .arg(&syms)
        .arg("-o")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("section {} '{}': data at offset", text.0, text.1);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("lies outside the file"), "{stderr}");
}
