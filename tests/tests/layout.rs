//! The shape of the source, checked: the kernel's rooms import only rooms
//! below them, every file opens with a `//!` paragraph, assembly and system
//! registers stay in `arch/`, and no function in the kernel or the loader
//! grows past 150 lines. (No QEMU here: these read the tree.)

use qemu_tests::root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rooms of `kernel/src`, lowest first (as `kernel/src/main.rs` and the
/// README's layout section describe them).
const ROOMS: &[&str] = &[
    "arch", "sync", "taint", "machine", "mm", "module", "kobject", "irq", "smp", "console", "klog",
    "fs", "kmod", "exports", "boot", "shell", "main",
];

/// Crate-root macros and the room that defines them.
const MACROS: &[(&str, &str)] = &[
    ("print!", "console"),
    ("println!", "console"),
    ("linker_addr!", "mm"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn room_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The rooms a file names through `crate::ROOM` paths, `use crate::{...}`
/// groups and crate-root macros.
fn rooms_used(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    used.insert(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    for (mac, room) in MACROS {
        if code.contains(mac) {
            used.insert(room.to_string());
        }
    }
    used
}

#[test]
fn kernel_rooms_import_only_rooms_below_them() {
    let src = root().join("kernel/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under kernel/src");
        let room = room_of(rel);
        let Some(mine) = ROOMS.iter().position(|r| *r == room) else {
            problems.push(format!("{}: room '{room}' is not in ROOMS", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read");
        for used in rooms_used(&text) {
            if let Some(theirs) = ROOMS.iter().position(|r| *r == used) {
                if theirs > mine && used != "main" {
                    problems.push(format!(
                        "{}: {room} uses {used}, a room above it",
                        rel.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_kernel_file_says_what_it_is() {
    let src = root().join("kernel/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .expect("read")
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "no //! paragraph: {missing:?}");
}

#[test]
fn assembly_and_system_registers_stay_in_arch() {
    let src = root().join("kernel/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("arch")))
        .filter(|f| {
            let t = std::fs::read_to_string(f).expect("read");
            t.contains("asm!") || t.contains("aarch64_cpu")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// Lengths of the functions in `text`: (lines, name, first line), found by
/// brace matching from each `fn` item (comments and strings with braces are
/// rare enough in this tree not to matter; a miscount errs long).
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        let after_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "const fn ",
        ]
        .iter()
        .chain(&[
            "unsafe fn ",
            "pub unsafe fn ",
            "pub const fn ",
            "pub extern \"C\" fn ",
        ])
        .chain(&["pub unsafe extern \"C\" fn ", "extern \"C\" fn "])
        .find_map(|p| l.strip_prefix(p));
        let Some(rest) = after_fn else {
            i += 1;
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started, mut j) = (0i32, false, i);
        while j < lines.len() {
            let code = lines[j].split("//").next().unwrap_or("");
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (started && depth <= 0) || (!started && code.trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        out.push((j - i + 1, name, i + 1));
        i = if started { j + 1 } else { i + 1 };
    }
    out
}

#[test]
fn no_function_in_the_kernel_or_the_loader_passes_150_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("kernel/src"), &mut files);
    rust_files(&root().join("kernel/loader/src"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for (n, name, line) in function_lengths(&text) {
            if n >= 150 {
                long.push(format!("{}:{line}: {name} is {n} lines", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import_and_a_long_function() {
    let used =
        rooms_used("use crate::{shell, mm::x};\nfn f() { crate::exports::y(); println!(); }");
    assert!(["shell", "mm", "exports", "console"]
        .iter()
        .all(|r| used.contains(*r)));
    let body = format!("fn long() {{\n{}}}\n", "    x();\n".repeat(160));
    assert_eq!(function_lengths(&body)[0].0, 162);
}
