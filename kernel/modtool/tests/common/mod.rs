//! Helpers for the modtool integration tests: finding toolchains (failing with what to
//! install when one is missing), building objects, running `modtool` and `ld.lld`,
//! and comparing their output section by section.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use elf::endian::LittleEndian;
use elf::ElfBytes;

pub const MODTOOL: &str = env!("CARGO_BIN_EXE_modtool");

/// A scratch directory for one test.
pub fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A tool from PATH, or a failure naming the Debian package that provides it.
pub fn require(name: &str, package: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH: install the Debian package `{package}` \
             (`apt-get install {package}`; `make` installs it with the other build dependencies)"
        )
    })
}

/// The linker command: the toolchain's `rust-lld -flavor gnu` (LLD 22 here; it knows
/// R_AARCH64_GOT_LD_PREL19, which Debian's LLD 14 rejects), else Debian's `ld.lld`.
pub fn lld() -> Vec<String> {
    let sysroot = run_capture(Command::new("rustc").args(["--print", "sysroot"]));
    let host = "x86_64-unknown-linux-gnu";
    let rust_lld = Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/rust-lld"));
    if rust_lld.is_file() {
        return vec![
            rust_lld.display().to_string(),
            "-flavor".into(),
            "gnu".into(),
        ];
    }
    if let Some(p) = on_path("ld.lld") {
        return vec![p.display().to_string()];
    }
    panic!("neither rust-lld nor `ld.lld` found: install the Debian package `lld`");
}

pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn run_capture(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Builds the Rust fixture for aarch64-unknown-none with the given models.
pub fn build_rust(
    dir: &Path,
    source: &str,
    reloc_model: &str,
    code_model: &str,
    opt: &str,
) -> PathBuf {
    let out = dir.join(format!("rust-{reloc_model}-{code_model}-O{opt}.o"));
    let libdir = run_capture(Command::new("rustc").args([
        "--print",
        "target-libdir",
        "--target",
        "aarch64-unknown-none",
    ]));
    assert!(
        Path::new(libdir.trim()).is_dir(),
        "the Rust target aarch64-unknown-none is not installed: run `rustup target add aarch64-unknown-none`"
    );
    run(Command::new("rustc")
        .args([
            "--target",
            "aarch64-unknown-none",
            "--emit=obj",
            "-C",
            "panic=abort",
            "-C",
            &format!("opt-level={opt}"),
            "-C",
            &format!("relocation-model={reloc_model}"),
            "-C",
            &format!("code-model={code_model}"),
            "-o",
        ])
        .arg(&out)
        .arg(fixture(source)));
    out
}

/// Builds the C fixture with `compiler` and `flags`.
pub fn build_c(dir: &Path, compiler: &Path, tag: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(format!("c-{tag}.o"));
    run(Command::new(compiler)
        .args(flags)
        .args(["-O2", "-ffreestanding", "-fno-stack-protector", "-c", "-o"])
        .arg(&out)
        .arg(fixture("module.c")));
    out
}

/// Clears SHF_MERGE and SHF_STRINGS so `ld.lld` places mergeable sections as they
/// are (as our loader does) instead of de-duplicating and reordering their pieces.
pub fn strip_merge_flags(bytes: &mut [u8]) {
    let rd = |b: &[u8], o: usize, n: usize| -> u64 {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[o..o + n]);
        u64::from_le_bytes(v)
    };
    let shoff = rd(bytes, 0x28, 8) as usize;
    let shentsize = rd(bytes, 0x3a, 2) as usize;
    let shnum = rd(bytes, 0x3c, 2) as usize;
    for i in 0..shnum {
        let flags_at = shoff + i * shentsize + 8;
        let flags = rd(bytes, flags_at, 8) & !0x30;
        bytes[flags_at..flags_at + 8].copy_from_slice(&flags.to_le_bytes());
    }
}

/// Addresses for every import: 64-byte steps starting 512 KiB below `base`, so
/// they are in reach of every code model (tiny: +-1 MiB).
pub fn symbols_for(object: &[u8], base: u64) -> Vec<(String, u64)> {
    let object = modloader::Object::parse(object).expect("fixture parses");
    object
        .undefined_symbols()
        .filter(|n| *n != modloader::GOT_SYMBOL)
        .enumerate()
        .map(|(i, n)| (n.to_string(), base - 0x8_0000 + 64 * i as u64))
        .collect()
}

pub fn write_symbols(path: &Path, symbols: &[(String, u64)]) {
    let text: String = symbols
        .iter()
        .map(|(n, a)| format!("{n} {a:#x}\n"))
        .collect();
    std::fs::write(path, text).unwrap();
}

/// Runs `modtool link`, returns (image, map text).
pub fn modtool_link(obj: &Path, base: u64, syms: &Path, out: &Path) -> (Vec<u8>, String) {
    run(Command::new(MODTOOL)
        .arg("link")
        .arg(obj)
        .args(["--base", &format!("{base:#x}"), "--symbols"])
        .arg(syms)
        .arg("-o")
        .arg(out));
    let bin = std::fs::read(format!("{}.bin", out.display())).unwrap();
    let map = std::fs::read_to_string(format!("{}.map", out.display())).unwrap();
    (bin, map)
}

/// Links `obj` with modtool and with lld at the same addresses and compares every
/// placed section (and the GOT) byte for byte. Returns the number of bytes compared.
pub fn differential(dir: &Path, obj: &Path, base: u64) -> usize {
    let mut bytes = std::fs::read(obj).unwrap();
    strip_merge_flags(&mut bytes);
    let input = dir.join(format!(
        "{}.in.o",
        obj.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(&input, &bytes).unwrap();
    let syms_path = input.with_extension("syms");
    write_symbols(&syms_path, &symbols_for(&bytes, base));

    let out = input.with_extension("out");
    let (image, map) = modtool_link(&input, base, &syms_path, &out);
    let map_path = PathBuf::from(format!("{}.map", out.display()));
    let script = run_capture(
        Command::new(MODTOOL)
            .arg("lld-script")
            .arg(&map_path)
            .arg(&syms_path),
    );
    let script_path = input.with_extension("ld");
    std::fs::write(&script_path, script).unwrap();
    let lld_out = input.with_extension("lld.elf");
    let lld = lld();
    run(Command::new(&lld[0])
        .args(&lld[1..])
        .args(["--no-relax", "-static", "-e", "0", "-T"])
        .arg(&script_path)
        .arg(&input)
        .arg("-o")
        .arg(&lld_out));

    let lld_bytes = std::fs::read(&lld_out).unwrap();
    let lld_elf = ElfBytes::<LittleEndian>::minimal_parse(&lld_bytes).unwrap();
    let shdrs = lld_elf.section_headers().unwrap();
    let lld_at = |addr: u64, size: u64| -> Option<Vec<u8>> {
        for sh in shdrs.iter() {
            if sh.sh_flags & u64::from(elf::abi::SHF_ALLOC) == 0
                || sh.sh_type == elf::abi::SHT_NOBITS
            {
                continue;
            }
            if addr >= sh.sh_addr && addr + size <= sh.sh_addr + sh.sh_size {
                let (data, _) = lld_elf.section_data(&sh).unwrap();
                let off = (addr - sh.sh_addr) as usize;
                return Some(data[off..off + size as usize].to_vec());
            }
        }
        None
    };
    let object = modloader::Object::parse(&bytes).unwrap();
    let mut compared = 0;
    for line in map.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (label, name, addr, size) = match words.as_slice() {
            [label @ ("GOT" | "PLT" | "COMMON"), addr, size] => (*label, *label, *addr, *size),
            [index, name, addr, size] => (*index, *name, *addr, *size),
            _ => panic!("bad map line {line}"),
        };
        let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap();
        let size: u64 = size.parse().unwrap();
        if size == 0 || label == "PLT" || label == "COMMON" || modtool_lld_rewrites(name) {
            continue;
        }
        if let Ok(index) = label.parse::<usize>() {
            if object.sections()[index].sh_type == elf::abi::SHT_NOBITS {
                continue;
            }
        }
        let mine = &image[(addr - base) as usize..(addr - base + size) as usize];
        let theirs =
            lld_at(addr, size).unwrap_or_else(|| panic!("{line}: lld placed nothing at {addr:#x}"));
        if mine != theirs.as_slice() {
            let first = mine.iter().zip(&theirs).position(|(a, b)| a != b).unwrap();
            panic!(
                "{}: {line}: bytes differ from ld.lld at +{first:#x} (address {:#x}): modtool {:02x?} lld {:02x?}",
                obj.display(),
                addr + first as u64,
                &mine[first & !3..(first & !3) + 4],
                &theirs[first & !3..(first & !3) + 4]
            );
        }
        compared += size as usize;
    }
    compared
}

fn modtool_lld_rewrites(name: &str) -> bool {
    name == ".eh_frame" || name.starts_with(".note")
}
