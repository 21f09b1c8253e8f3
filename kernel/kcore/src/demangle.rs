//! Demangling of Rust symbol names from loaded modules, for oops reports.
//!
//! The kernel's own names are demangled on the host when its symbol table is
//! built (`kallsyms`); module names arrive mangled. A module's own functions use
//! Rust's legacy mangling (`_ZN4core3fmt5Write9write_fmt17h0123456789abcdefE`)
//! and the prebuilt `core` it links uses v0 (`_RNvNtCs..._4core9panicking9panic_fmt`).
//! [`Demangle`] prints both as `rustc-demangle`'s alternate form (`{:#}`: no
//! hash, no crate disambiguator) does, in a few KiB instead of its 16 KiB:
//! the legacy form completely, v0 for the paths, types and constants a
//! compiler emits for functions (`<&str as core::fmt::Display>::fmt`,
//! `core::ptr::drop_in_place::<alloc::vec::Vec<u8>>`, closures as
//! `{closure#0}`); punycode identifiers, which Rust code rarely has, print
//! mangled. Anything else it cannot read (C names, damage) prints as given.
//!
//! Printing never allocates (an oops may hold the heap lock): a first pass
//! into a counting sink checks that the name parses and stays under
//! [`MAX_LEN`] characters (backreferences can nest), then a second prints it.

use core::fmt::{self, Write};

/// Longest demangled name printed; a longer one prints mangled.
pub const MAX_LEN: usize = 1024;

/// Nesting of paths and types a name may use before it prints mangled.
const MAX_DEPTH: u32 = 64;

/// `Display`s a mangled symbol name demangled (or as given if it is not one).
pub struct Demangle<'a>(pub &'a str);

impl fmt::Display for Demangle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut count = Counter(0);
        if render(self.0, &mut count).is_ok() {
            // Counter only fails past MAX_LEN, so this pass cannot fail
            // except through `f`.
            return render(self.0, f).or(Err(fmt::Error));
        }
        f.write_str(self.0)
    }
}

/// Counts what is written; fails past [`MAX_LEN`].
struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        if self.0 > MAX_LEN {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Why a name did not print demangled.
enum Fail {
    /// Not a mangled name, or one this reader does not know.
    Parse,
    /// The sink failed.
    Write,
}

impl From<fmt::Error> for Fail {
    fn from(_: fmt::Error) -> Self {
        Fail::Write
    }
}

type R = Result<(), Fail>;

fn render(name: &str, out: &mut dyn Write) -> R {
    // A `.llvm.1234` suffix (LTO's local copies) is not part of the name.
    let name = name.split_once(".llvm.").map_or(name, |(n, _)| n);
    if let Some(rest) = name.strip_prefix("_ZN") {
        return legacy(rest, out);
    }
    if let Some(rest) = name.strip_prefix("_R") {
        let mut v0 = V0 {
            s: rest.as_bytes(),
            pos: 0,
            depth: 0,
            out,
        };
        // An optional encoding version (decimal) comes first; we know none.
        if v0.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(Fail::Parse);
        }
        v0.path(true)?;
        // The instantiating crate, if any, is not printed.
        if v0.peek().is_some_and(|c| c.is_ascii_uppercase()) {
            v0.skip_path()?;
        }
        return match &rest[v0.pos..] {
            "" => Ok(()),
            suffix if suffix.starts_with('.') => Ok(out.write_str(suffix)?),
            _ => Err(Fail::Parse),
        };
    }
    Err(Fail::Parse)
}

/// Legacy mangling: `_ZN`, then `<length><element>` pairs, then `E`; the last
/// element is the hash (`h` + 16 hex digits), which the alternate form drops.
fn legacy(mut s: &str, out: &mut dyn Write) -> R {
    let mut elements = [""; 32];
    let mut n = 0;
    loop {
        if let Some(rest) = s.strip_prefix('E') {
            if !(rest.is_empty() || rest.starts_with('.')) || n == 0 {
                return Err(Fail::Parse);
            }
            s = rest;
            break;
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let len: usize = s[..digits].parse().map_err(|_| Fail::Parse)?;
        let element = s.get(digits..digits + len).ok_or(Fail::Parse)?;
        *elements.get_mut(n).ok_or(Fail::Parse)? = element;
        n += 1;
        s = &s[digits + len..];
    }
    let last = elements[n - 1];
    if n > 1
        && last.len() == 17
        && last.starts_with('h')
        && last[1..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        n -= 1;
    }
    for (i, element) in elements[..n].iter().enumerate() {
        if i != 0 {
            out.write_str("::")?;
        }
        legacy_element(element, out)?;
    }
    // A suffix such as `.0` (a promoted constant) or `.cold` prints as is.
    Ok(out.write_str(s)?)
}

/// One element with its escapes: `$LT$` `<`, `..` `::`, `$u20$` ` `, ...
fn legacy_element(element: &str, out: &mut dyn Write) -> R {
    let mut rest = match element.strip_prefix("_$") {
        Some(r) => &element[element.len() - r.len() - 1..],
        None => element,
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            out.write_str("::")?;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('$') {
            let (escape, r) = r.split_once('$').ok_or(Fail::Parse)?;
            let c = match escape {
                "SP" => '@',
                "BP" => '*',
                "RF" => '&',
                "LT" => '<',
                "GT" => '>',
                "LP" => '(',
                "RP" => ')',
                "C" => ',',
                _ => {
                    let hex = escape.strip_prefix('u').ok_or(Fail::Parse)?;
                    u32::from_str_radix(hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or(Fail::Parse)?
                }
            };
            out.write_char(c)?;
            rest = r;
        } else {
            let end = rest
                .bytes()
                .skip(1)
                .position(|b| b == b'$' || b == b'.')
                .map_or(rest.len(), |p| p + 1);
            out.write_str(&rest[..end])?;
            rest = &rest[end..];
        }
    }
    Ok(())
}

/// A v0 name (after `_R`), read and printed in one pass (as `rustc-demangle`
/// does): `pos` moves through `s`; a backreference re-reads from an earlier
/// position.
struct V0<'a, 'o> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
    out: &'o mut dyn Write,
}

impl<'a> V0<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, Fail> {
        let c = self.peek().ok_or(Fail::Parse)?;
        self.pos += 1;
        Ok(c)
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn print(&mut self, s: &str) -> R {
        Ok(self.out.write_str(s)?)
    }

    /// `{0-9a-zA-Z} _`: `_` alone is 0, otherwise the digits' value + 1.
    fn base62(&mut self) -> Result<u64, Fail> {
        if self.eat(b'_') {
            return Ok(0);
        }
        let mut x: u64 = 0;
        loop {
            let c = self.next()?;
            if c == b'_' {
                return x.checked_add(1).ok_or(Fail::Parse);
            }
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'z' => c - b'a' + 10,
                b'A'..=b'Z' => c - b'A' + 36,
                _ => return Err(Fail::Parse),
            };
            x = x
                .checked_mul(62)
                .and_then(|x| x.checked_add(d as u64))
                .ok_or(Fail::Parse)?;
        }
    }

    /// `[s <base62>]`: a disambiguator, 0 when absent.
    fn disambiguator(&mut self) -> Result<u64, Fail> {
        if self.eat(b's') {
            return self.base62()?.checked_add(1).ok_or(Fail::Parse);
        }
        Ok(0)
    }

    /// `[u] <decimal> [_] <bytes>`; punycode (`u`) is not decoded.
    fn ident(&mut self) -> Result<&'a str, Fail> {
        let s: &'a [u8] = self.s;
        let punycode = self.eat(b'u');
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = core::str::from_utf8(&s[start..self.pos]).map_err(|_| Fail::Parse)?;
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return Err(Fail::Parse);
        }
        let len: usize = digits.parse().map_err(|_| Fail::Parse)?;
        self.eat(b'_');
        let end = self.pos.checked_add(len).ok_or(Fail::Parse)?;
        let bytes = s.get(self.pos..end).ok_or(Fail::Parse)?;
        self.pos = end;
        let ident = core::str::from_utf8(bytes).map_err(|_| Fail::Parse)?;
        if punycode {
            return Err(Fail::Parse);
        }
        Ok(ident)
    }

    /// Runs `f` at the position a backreference (`B <base62>`) names, then
    /// returns after the backreference.
    fn backref(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let at = self.pos - 1;
        let target = self.base62()?;
        if target >= at as u64 {
            return Err(Fail::Parse);
        }
        let back = self.pos;
        self.pos = target as usize;
        f(self)?;
        self.pos = back;
        Ok(())
    }

    fn enter(&mut self) -> R {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Fail::Parse);
        }
        Ok(())
    }

    /// A path; `value` says generic arguments take `::<` (an expression's
    /// path) rather than `<` (a type's).
    fn path(&mut self, value: bool) -> R {
        self.enter()?;
        match self.next()? {
            b'C' => {
                self.disambiguator()?;
                let name = self.ident()?;
                self.print(name)?;
            }
            b'N' => {
                let ns = self.next()?;
                if !ns.is_ascii_alphabetic() {
                    return Err(Fail::Parse);
                }
                self.path(value)?;
                let n = self.disambiguator()?;
                let name = self.ident()?;
                if ns.is_ascii_uppercase() {
                    let kind = match ns {
                        b'C' => "closure",
                        b'S' => "shim",
                        _ => "",
                    };
                    self.print("::{")?;
                    if kind.is_empty() {
                        self.out.write_char(ns as char)?;
                    } else {
                        self.print(kind)?;
                    }
                    if !name.is_empty() {
                        self.print(":")?;
                        self.print(name)?;
                    }
                    write!(self.out, "#{n}}}")?;
                } else if !name.is_empty() {
                    self.print("::")?;
                    self.print(name)?;
                }
            }
            tag @ (b'M' | b'X' | b'Y') => {
                if tag != b'Y' {
                    // The impl's own path (where it is written) is not printed.
                    self.disambiguator()?;
                    self.skip_path()?;
                }
                self.print("<")?;
                self.ty()?;
                if tag != b'M' {
                    self.print(" as ")?;
                    self.path(false)?;
                }
                self.print(">")?;
            }
            b'I' => {
                self.path(value)?;
                self.print(if value { "::<" } else { "<" })?;
                self.generic_args()?;
                self.print(">")?;
            }
            b'B' => self.backref(|p| p.path(value))?,
            _ => return Err(Fail::Parse),
        }
        self.depth -= 1;
        Ok(())
    }

    /// Reads a path without printing it.
    fn skip_path(&mut self) -> R {
        let mut skip = V0 {
            s: self.s,
            pos: self.pos,
            depth: self.depth,
            out: &mut Counter(0),
        };
        skip.path(false)?;
        self.pos = skip.pos;
        Ok(())
    }

    /// `{generic-arg} E`, comma-separated; lifetimes (`L`) are not printed.
    fn generic_args(&mut self) -> R {
        let mut first = true;
        while !self.eat(b'E') {
            if self.eat(b'L') {
                self.base62()?;
                continue;
            }
            if !first {
                self.print(", ")?;
            }
            first = false;
            if self.eat(b'K') {
                self.konst()?;
            } else {
                self.ty()?;
            }
        }
        Ok(())
    }

    fn ty(&mut self) -> R {
        self.enter()?;
        let c = self.next()?;
        let basic = match c {
            b'a' => "i8",
            b'b' => "bool",
            b'c' => "char",
            b'd' => "f64",
            b'e' => "str",
            b'f' => "f32",
            b'h' => "u8",
            b'i' => "isize",
            b'j' => "usize",
            b'l' => "i32",
            b'm' => "u32",
            b'n' => "i128",
            b'o' => "u128",
            b's' => "i16",
            b't' => "u16",
            b'u' => "()",
            b'v' => "...",
            b'x' => "i64",
            b'y' => "u64",
            b'z' => "!",
            b'p' => "_",
            _ => "",
        };
        if !basic.is_empty() {
            self.print(basic)?;
            self.depth -= 1;
            return Ok(());
        }
        match c {
            b'R' | b'Q' => {
                if self.eat(b'L') {
                    self.base62()?;
                }
                self.print(if c == b'R' { "&" } else { "&mut " })?;
                self.ty()?;
            }
            b'P' | b'O' => {
                self.print(if c == b'P' { "*const " } else { "*mut " })?;
                self.ty()?;
            }
            b'A' | b'S' => {
                self.print("[")?;
                self.ty()?;
                if c == b'A' {
                    self.print("; ")?;
                    self.konst()?;
                }
                self.print("]")?;
            }
            b'T' => {
                self.print("(")?;
                let mut n = 0;
                while !self.eat(b'E') {
                    if n != 0 {
                        self.print(", ")?;
                    }
                    self.ty()?;
                    n += 1;
                }
                self.print(if n == 1 { ",)" } else { ")" })?;
            }
            b'F' => self.fn_sig()?,
            b'D' => {
                self.binder()?;
                self.print("dyn ")?;
                let mut first = true;
                while !self.eat(b'E') {
                    if !first {
                        self.print(" + ")?;
                    }
                    first = false;
                    self.dyn_trait()?;
                }
                // The object lifetime.
                if !self.eat(b'L') {
                    return Err(Fail::Parse);
                }
                self.base62()?;
            }
            b'B' => self.backref(|p| p.ty())?,
            _ => {
                self.pos -= 1;
                self.path(false)?;
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// `[G <base62>]`: bound lifetimes, not printed.
    fn binder(&mut self) -> R {
        if self.eat(b'G') {
            self.base62()?;
        }
        Ok(())
    }

    /// `[binder] [U] [K <abi>] {type} E <type>`.
    fn fn_sig(&mut self) -> R {
        self.binder()?;
        if self.eat(b'U') {
            self.print("unsafe ")?;
        }
        if self.eat(b'K') {
            if self.eat(b'C') {
                self.print("extern \"C\" ")?;
            } else {
                let abi = self.ident()?;
                self.print("extern \"")?;
                for part in abi.split('_').enumerate() {
                    if part.0 != 0 {
                        self.print("-")?;
                    }
                    self.print(part.1)?;
                }
                self.print("\" ")?;
            }
        }
        self.print("fn(")?;
        let mut first = true;
        while !self.eat(b'E') {
            if !first {
                self.print(", ")?;
            }
            first = false;
            self.ty()?;
        }
        self.print(")")?;
        if self.eat(b'u') {
            return Ok(());
        }
        self.print(" -> ")?;
        self.ty()
    }

    /// A trait of a `dyn` type with its associated type bindings:
    /// `Iterator<Item = u8>`.
    fn dyn_trait(&mut self) -> R {
        let args_open = self.dyn_trait_path()?;
        let mut open = args_open;
        while self.eat(b'p') {
            self.print(if open { ", " } else { "<" })?;
            open = true;
            let name = self.ident()?;
            self.print(name)?;
            self.print(" = ")?;
            self.ty()?;
        }
        if open {
            self.print(">")?;
        }
        Ok(())
    }

    /// A `dyn` trait's path; prints generic arguments without their closing
    /// `>` (the bindings may follow), returning whether it left one open.
    fn dyn_trait_path(&mut self) -> Result<bool, Fail> {
        match self.peek() {
            Some(b'I') => {
                self.pos += 1;
                self.path(false)?;
                self.print("<")?;
                self.generic_args()?;
                Ok(true)
            }
            Some(b'B') => {
                self.pos += 1;
                let at = self.pos - 1;
                let target = self.base62()?;
                if target >= at as u64 {
                    return Err(Fail::Parse);
                }
                let back = self.pos;
                self.pos = target as usize;
                let open = self.dyn_trait_path()?;
                self.pos = back;
                Ok(open)
            }
            _ => {
                self.path(false)?;
                Ok(false)
            }
        }
    }

    /// A constant: `p` (a placeholder), a backreference, or a type then its
    /// value in hex (`[n] {hex} _`); integers print in decimal.
    fn konst(&mut self) -> R {
        if self.eat(b'p') {
            return self.print("_");
        }
        if self.eat(b'B') {
            return self.backref(|p| p.konst());
        }
        let ty = self.next()?;
        let negative = self.eat(b'n');
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let hex = core::str::from_utf8(&self.s[start..self.pos]).map_err(|_| Fail::Parse)?;
        if !self.eat(b'_') {
            return Err(Fail::Parse);
        }
        let value = if hex.is_empty() {
            0
        } else {
            u64::from_str_radix(hex, 16).map_err(|_| Fail::Parse)?
        };
        match ty {
            b'b' => self.print(if value != 0 { "true" } else { "false" }),
            b'c' => {
                let c = u32::try_from(value)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or(Fail::Parse)?;
                Ok(write!(self.out, "{c:?}")?)
            }
            b'a' | b'h' | b'i' | b'j' | b'l' | b'm' | b'n' | b'o' | b's' | b't' | b'x' | b'y' => {
                if negative {
                    self.print("-")?;
                }
                Ok(write!(self.out, "{value}")?)
            }
            _ => Err(Fail::Parse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Demangle;
    use alloc::format;
    use alloc::string::String;

    fn same_as_rustc_demangle(name: &str) {
        let ours = format!("{}", Demangle(name));
        let theirs = format!("{:#}", rustc_demangle::demangle(name));
        assert_eq!(ours, theirs, "{name}");
    }

    #[test]
    fn legacy_names_read_as_rustc_demangle_reads_them() {
        for name in [
            "_ZN4core3fmt5Write9write_fmt17ha05d5d4b6470fabcE",
            "_ZN50_$LT$kabi..rt..Buf$u20$as$u20$core..fmt..Write$GT$9write_str17h279888e0f5262f04E",
            "_ZN10virtio_blk4glue5Queue4reap28_$u7b$$u7b$closure$u7d$$u7d$17hb9f845b1c894fb54E",
            "_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17hfa293198040bc2ecE",
            "_ZN4kabi2rt15Global$LT$T$GT$3set17h07d74734ae4cdfdaE",
            "_ZN5hello4init17h0123456789abcdefE.llvm.123456",
            "_ZN5hello4initE",
        ] {
            same_as_rustc_demangle(name);
        }
    }

    #[test]
    fn v0_names_read_as_rustc_demangle_reads_them() {
        for name in [
            "_RNvCsfLfy6EI15iL_7___rustc17rust_begin_unwind",
            "_RNvMNtNtCsbcsGJ9IzBgZ_4core4char7methodsc16escape_debug_ext",
            "_RNvMsa_NtCsbcsGJ9IzBgZ_4core3fmtNtB5_9Formatter12pad_integral",
            "_RNvNtCsbcsGJ9IzBgZ_4core9panicking9panic_fmt",
            "_RNvNvMsa_NtCsbcsGJ9IzBgZ_4core3fmtNtB7_9Formatter12pad_integral12write_prefix",
            "_RNvXs1_NtNtCsbcsGJ9IzBgZ_4core5panic10panic_infoNtB5_12PanicMessageNtNtB9_3fmt7Display3fmt",
            "_RNvXs1i_NtCsbcsGJ9IzBgZ_4core3fmtReNtB6_7Display3fmtB8_",
            "_RNvXs_NtNtCsbcsGJ9IzBgZ_4core3ops5rangeINtB4_5RangejENtNtB8_3fmt5Debug3fmtB8_",
            "_RINvNtCs1234_4core3ptr13drop_in_placeINtNtCs5678_5alloc3vec3VechEEB4_",
            "_RNCNvCs1234_5hello4init0B3_",
            "_RNvXNtCs1234_5hello1aRShNtNtCs5678_4core3fmt5Debug3fmt",
            "_RNvXs0_NtCs1234_5hello1aTAtj4_RDNtNtCs5678_4core3fmt5DebugEL_FKCmEuEINtB4_1SKj2a_KbKc41_KanE5EEENtB1e_5Debug3fmt",
            "_RNvXNtCs1234_5hello1aPDINtNtNtCs5678_4core4iter6traits8IteratorpNtB6_4ItemhEL_NtNtB2k_3fmt5Debug3fmt",
        ] {
            same_as_rustc_demangle(name);
        }
    }

    #[test]
    fn other_names_print_as_given() {
        for name in ["init_module", "_ZN3fooE3bar", "_RNvC", "_R3foo", ""] {
            assert_eq!(format!("{}", Demangle(name)), name);
        }
        // Nested backreferences that would print more than MAX_LEN characters.
        let mut name = String::from("_RINvCs1_1a1fTTTTTTTTTTTTTTTTTTTTTTThEEEEEEEEEEEEEEEEEEEEEEE");
        name.push('E');
        let out = format!("{}", Demangle(&name));
        assert!(out.len() <= super::MAX_LEN, "{out}");
    }

    /// `KCORE_DEMANGLE_LIST=file cargo test -p kcore -- --ignored`: compares
    /// every name in the file (one a line, as `llvm-nm -j` prints them).
    #[test]
    #[ignore]
    fn names_from_a_file() {
        extern crate std;
        let path = std::env::var("KCORE_DEMANGLE_LIST").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let mut n = 0;
        for name in text
            .lines()
            .filter(|l| l.starts_with("_R") || l.starts_with("_ZN"))
        {
            same_as_rustc_demangle(name);
            n += 1;
        }
        std::println!("{n} names");
    }
}
