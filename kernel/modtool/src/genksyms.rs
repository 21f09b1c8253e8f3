//! `modtool genksyms`: the versions of a C module's exports, computed at build
//! time from its source, as Linux's `genksyms` does (with our CRC, not Linux's).
//!
//! A Rust module exports with `kabi::export_symbol!(f, "(a: u32) -> u32")` and
//! its users import with `kabi::import_version!(f, "(a: u32) -> u32")`; the
//! version is `kabi::crc::crc32` of the name and that text, whitespace ignored.
//! For a C export to interoperate, its version must be the CRC of the same Rust
//! spelling of its prototype. So this step reads the preprocessed C source
//! (`gcc -E -D__GENKSYMS__`, where `kabi.h` leaves `EXPORT_SYMBOL(f)` as it
//! is), finds each exported function's prototype, spells it in Rust the way
//! `kabi.h` spells the kernel's exports (`include/kabi.h`'s `C_TYPES` table in
//! `kernel/abi/tests/c_header.rs`: `int` -> `i32`, `size_t` -> `usize`,
//! `uint64_t`/`unsigned long` -> `u64`, `const char *` -> `*const u8`, `void *` ->
//! `*mut Opaque`, ...) and writes a header of `#define __KABI_CRC_f 0x...u` that
//! the real compile takes with `-include`; `EXPORT_SYMBOL(f)` puts
//! `__KABI_CRC_f` in f's `.ksymtab` entry. Each line also shows the
//! `kabi::import_version!` a Rust user writes. A prototype it cannot spell
//! (variadic, function pointers, an unknown typedef, an unnamed parameter) is
//! an error naming the function, never a silent wrong version.

use std::fmt::Write as _;

/// One export found in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CExport {
    pub name: String,
    pub gpl_only: bool,
    /// The Rust spelling, e.g. `(a: i32, b: i32) -> i32`.
    pub signature: String,
    pub crc: u32,
}

/// C tokens: identifiers/numbers, and single punctuation characters (`...`
/// stays one token). String and character literals become one token each.
fn tokenize(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in src.lines() {
        if line.trim_start().starts_with('#') {
            continue; // line markers and pragmas
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_whitespace() {
                i += 1;
            } else if c.is_ascii_alphanumeric() || c == b'_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(line[s..i].to_string());
            } else if c == b'"' || c == b'\'' {
                let s = i;
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push(line[s..i].to_string());
            } else if line[i..].starts_with("...") {
                out.push("...".into());
                i += 3;
            } else {
                out.push((c as char).to_string());
                i += 1;
            }
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

/// Words that are part of a type, never a parameter's name.
const TYPE_WORDS: &[&str] = &[
    "void",
    "char",
    "short",
    "int",
    "long",
    "signed",
    "unsigned",
    "_Bool",
    "bool",
    "const",
    "volatile",
    "struct",
    "union",
    "enum",
    "restrict",
    "__restrict",
];

/// Drops storage classes, `inline` and `__attribute__((...))` groups.
fn strip_decoration(tokens: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        if t == "__attribute__" || t == "__attribute" || t == "__asm__" || t == "asm" {
            i += 1;
            let mut depth = 0;
            while i < tokens.len() {
                match tokens[i].as_str() {
                    "(" => depth += 1,
                    ")" => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            continue;
        }
        if !matches!(
            t,
            "static"
                | "extern"
                | "inline"
                | "__inline"
                | "__inline__"
                | "__extension__"
                | "restrict"
                | "__restrict"
                | "__restrict__"
                | "volatile"
        ) {
            out.push(tokens[i].clone());
        }
        i += 1;
    }
    out
}

/// The Rust spelling of a C base type (no pointers, no `const`).
fn base_type(words: &[&str]) -> Option<String> {
    let mut w: Vec<&str> = words.to_vec();
    if w.first() == Some(&"struct") || w.first() == Some(&"union") {
        return (w.len() == 2).then(|| w[1].to_string());
    }
    // `int` is implied after short/long/signed/unsigned.
    if w.len() > 1 && w.last() == Some(&"int") {
        w.pop();
    }
    Some(
        match w.join(" ").as_str() {
            "void" => "void",
            "char" | "unsigned char" | "uint8_t" => "u8",
            "signed char" | "int8_t" => "i8",
            "short" | "signed short" | "int16_t" => "i16",
            "unsigned short" | "uint16_t" => "u16",
            "int" | "signed" | "int32_t" => "i32",
            "unsigned" | "uint32_t" => "u32",
            "long" | "signed long" | "long long" | "signed long long" | "int64_t" => "i64",
            "unsigned long" | "unsigned long long" | "uint64_t" => "u64",
            "size_t" | "uintptr_t" => "usize",
            "ssize_t" | "intptr_t" | "ptrdiff_t" => "isize",
            "_Bool" | "bool" => "bool",
            _ => return None,
        }
        .to_string(),
    )
}

/// The Rust spelling of a C type's tokens (without the declarator's name).
fn rust_type(tokens: &[String]) -> Result<String, String> {
    let text = tokens.join(" ");
    if tokens.iter().any(|t| t == "(" || t == "[") {
        return Err(format!(
            "'{text}': function pointers and arrays have no Rust spelling here (use a typedef'd struct pointer or void *)"
        ));
    }
    let first_star = tokens.iter().position(|t| t == "*").unwrap_or(tokens.len());
    let base: Vec<&str> = tokens[..first_star].iter().map(String::as_str).collect();
    let base_const = base.contains(&"const");
    let base_words: Vec<&str> = base.into_iter().filter(|w| *w != "const").collect();
    // For each `*`, whether a `const` follows it (that pointer itself is const).
    let mut star_const = Vec::new();
    for t in &tokens[first_star..] {
        match t.as_str() {
            "*" => star_const.push(false),
            "const" => {
                if let Some(c) = star_const.last_mut() {
                    *c = true;
                }
            }
            other => return Err(format!("'{text}': unexpected '{other}'")),
        }
    }
    let mut ty = base_type(&base_words).ok_or_else(|| {
        format!(
            "'{text}': no Rust spelling for C type '{}'",
            base_words.join(" ")
        )
    })?;
    if ty == "void" {
        if star_const.is_empty() {
            return Ok(ty);
        }
        ty = "Opaque".into();
    }
    for (level, _) in star_const.iter().enumerate() {
        let pointee_const = if level == 0 {
            base_const
        } else {
            star_const[level - 1]
        };
        ty = format!("*{} {ty}", if pointee_const { "const" } else { "mut" });
    }
    Ok(ty)
}

/// Finds `name ( ... )` declared at file scope; returns (return-type tokens,
/// parameter tokens).
fn prototype(tokens: &[String], name: &str) -> Option<(Vec<String>, Vec<String>)> {
    let mut depth = 0i32; // braces
    let mut decl_start = 0;
    let mut declaration = None;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    decl_start = i + 1;
                }
            }
            ";" if depth == 0 => decl_start = i + 1,
            t if depth == 0 && t == name && tokens.get(i + 1).map(String::as_str) == Some("(") => {
                let ret = tokens[decl_start..i].to_vec();
                if ret.is_empty()
                    || ret
                        .iter()
                        .any(|t| t == "EXPORT_SYMBOL" || t == "EXPORT_SYMBOL_GPL" || t == "=")
                {
                    i += 1;
                    continue;
                }
                let mut j = i + 2;
                let mut pd = 1;
                while j < tokens.len() && pd > 0 {
                    match tokens[j].as_str() {
                        "(" => pd += 1,
                        ")" => pd -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                let found = (ret, tokens[i + 2..j.saturating_sub(1)].to_vec());
                // Prefer the definition (its parameter names are the real ones).
                if tokens.get(j).map(String::as_str) == Some("{") {
                    return Some(found);
                }
                declaration.get_or_insert(found);
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    declaration
}

/// The Rust signature text of `name`'s prototype.
fn signature(tokens: &[String], name: &str) -> Result<String, String> {
    let (ret, params) = prototype(tokens, name)
        .ok_or_else(|| format!("EXPORT_SYMBOL({name}): no prototype of {name} at file scope"))?;
    let fail = |e: String| format!("cannot version {name}: {e}");
    let ret = strip_decoration(&ret);
    let ret = rust_type(&ret).map_err(fail)?;
    let params = strip_decoration(&params);
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut depth = 0;
    for t in params {
        match t.as_str() {
            "(" => depth += 1,
            ")" => depth -= 1,
            "," if depth == 0 => {
                groups.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(g) = groups.last_mut() {
            g.push(t);
        }
    }
    let mut args = Vec::new();
    if !(groups.len() == 1 && (groups[0].is_empty() || groups[0] == ["void"])) {
        for (n, g) in groups.iter().enumerate() {
            if g.iter().any(|t| t == "...") {
                return Err(fail("variadic functions cannot be versioned".into()));
            }
            if g.iter().any(|t| t == "(") {
                return Err(fail(format!(
                    "parameter {} ('{}'): function pointers have no Rust spelling here (pass a struct pointer or void *)",
                    n + 1,
                    g.join(" ")
                )));
            }
            let last = g.last().map(String::as_str).unwrap_or("");
            if g.len() < 2 || !is_ident(last) || TYPE_WORDS.contains(&last) {
                return Err(fail(format!(
                    "parameter {} ('{}') has no name; the version text needs one",
                    n + 1,
                    g.join(" ")
                )));
            }
            let ty = rust_type(&g[..g.len() - 1]).map_err(fail)?;
            args.push(format!("{last}: {ty}"));
        }
    }
    let mut sig = format!("({})", args.join(", "));
    if ret != "void" {
        write!(sig, " -> {ret}").unwrap();
    }
    Ok(sig)
}

/// Every `EXPORT_SYMBOL(f)`/`EXPORT_SYMBOL_GPL(f)` of the preprocessed source.
pub fn exports(preprocessed: &str) -> Result<Vec<CExport>, String> {
    let tokens = tokenize(preprocessed);
    let mut out: Vec<CExport> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let gpl_only = match t.as_str() {
            "EXPORT_SYMBOL" => false,
            "EXPORT_SYMBOL_GPL" => true,
            _ => continue,
        };
        let (Some("("), Some(name), Some(")")) = (
            tokens.get(i + 1).map(String::as_str),
            tokens.get(i + 2),
            tokens.get(i + 3).map(String::as_str),
        ) else {
            continue; // not a use (e.g. a mention in a declaration)
        };
        if out.iter().any(|e| &e.name == name) {
            return Err(format!("{name} is exported twice"));
        }
        let sig = signature(&tokens, name)?;
        out.push(CExport {
            name: name.clone(),
            gpl_only,
            crc: kabi::crc::crc32(format!("{name}{sig}").as_bytes()),
            signature: sig,
        });
    }
    Ok(out)
}

/// The header the compile takes with `-include`.
pub fn header(source: &str, exports: &[CExport]) -> String {
    let mut h = format!(
        "/* Generated by `modtool genksyms` from {source}; do not edit.\n \
         * The version of each export: CRC-32 of its Rust signature, as\n \
         * kabi::export_symbol! computes it. A Rust user imports it with the\n \
         * kabi::import_version! line shown. */\n"
    );
    for e in exports {
        writeln!(
            h,
            "/* kabi::import_version!({}, \"{}\"); */\n#define __KABI_CRC_{} {:#010x}u",
            e.name, e.signature, e.name, e.crc
        )
        .unwrap();
    }
    h
}

/// `modtool genksyms [-o OUT.h] [FILE.i|-]`.
pub fn command(args: &[String]) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let mut out = None;
    let mut input = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => out = it.next().cloned(),
            f if f.starts_with('-') && f != "-" => {
                return Err(Failure::Usage(format!("unknown option {f}")))
            }
            f => input = Some(f.to_string()),
        }
    }
    let (name, text) = match input.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Failure::Error(format!("stdin: {e}")))?;
            ("<stdin>".to_string(), s)
        }
        Some(f) => (
            f.to_string(),
            std::fs::read_to_string(f).map_err(|e| Failure::Error(format!("{f}: {e}")))?,
        ),
    };
    // The source file named by the first line marker, for the header comment.
    let source = text
        .lines()
        .find_map(|l| l.strip_prefix("# 1 \"").and_then(|r| r.split('"').next()))
        .unwrap_or(&name)
        .to_string();
    let exports = exports(&text).map_err(|e| Failure::Error(format!("genksyms: {source}: {e}")))?;
    let h = header(&source, &exports);
    match out {
        Some(o) => std::fs::write(&o, h).map_err(|e| Failure::Error(format!("{o}: {e}"))),
        None => {
            print!("{h}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(src: &str, name: &str) -> Result<String, String> {
        signature(&tokenize(src), name)
    }

    #[test]
    fn spells_c_prototypes_in_rust() {
        assert_eq!(
            sig("int add(int a, int b) { return a + b; }", "add").unwrap(),
            "(a: i32, b: i32) -> i32"
        );
        assert_eq!(
            sig(
                "static inline __attribute__((noinline)) unsigned long f(const char *s, size_t n, void *p, const void *q, uint64_t x, unsigned int u, long l, _Bool b);",
                "f"
            )
            .unwrap(),
            "(s: *const u8, n: usize, p: *mut Opaque, q: *const Opaque, x: u64, u: u32, l: i64, b: bool) -> u64"
        );
        assert_eq!(sig("void g(void);", "g").unwrap(), "()");
        assert_eq!(sig("void g();", "g").unwrap(), "()");
        assert_eq!(
            sig(
                "char **h(const char *const *argv, struct dt_device *d, unsigned long long int q);",
                "h"
            )
            .unwrap(),
            "(argv: *const *const u8, d: *mut dt_device, q: u64) -> *mut *mut u8"
        );
    }

    #[test]
    fn finds_the_definition_not_a_call_or_a_variable() {
        let src =
            "int x = 1;\nint add(int a, int b);\nstatic int user(void) { return add(1, 2); }\n\
                   int add(int a, int b) { return a + b; }\nEXPORT_SYMBOL(add);\n";
        let e = exports(src).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].signature, "(a: i32, b: i32) -> i32");
        assert_eq!(e[0].crc, kabi::crc::crc32(b"add(a: i32, b: i32) -> i32"));
        assert!(!e[0].gpl_only);
    }

    #[test]
    fn matches_the_rust_export_macro_crc() {
        // drivers/hello: kabi::export_symbol!(hello_add, "(a: u32, b: u32) -> u32")
        let e = exports("uint32_t hello_add(uint32_t a, uint32_t b) { return a + b; }\nEXPORT_SYMBOL_GPL(hello_add);").unwrap();
        assert_eq!(
            e[0].crc,
            kabi::crc::crc32(concat!("hello_add", "(a: u32, b: u32) -> u32").as_bytes())
        );
        assert!(e[0].gpl_only);
    }

    #[test]
    fn refuses_what_it_cannot_version() {
        assert!(sig("int f(int, int);", "f")
            .unwrap_err()
            .contains("has no name"));
        assert!(sig("int f(const char *fmt, ...);", "f")
            .unwrap_err()
            .contains("variadic"));
        assert!(sig("int f(void (*cb)(void));", "f")
            .unwrap_err()
            .contains("function pointers"));
        assert!(sig("foo_t f(int a);", "f")
            .unwrap_err()
            .contains("no Rust spelling for C type 'foo_t'"));
        assert!(exports("EXPORT_SYMBOL(nothing);")
            .unwrap_err()
            .contains("no prototype"));
    }

    #[test]
    fn header_defines_each_crc() {
        let e = exports("int a1(int x) { return x; }\nEXPORT_SYMBOL(a1);").unwrap();
        let h = header("m.c", &e);
        assert!(
            h.contains(&format!("#define __KABI_CRC_a1 {:#010x}u\n", e[0].crc)),
            "{h}"
        );
        assert!(h.contains("kabi::import_version!(a1, \"(x: i32) -> i32\");"));
    }
}
