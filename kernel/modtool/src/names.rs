//! `modtool short-names FILE.ko [-o OUT.ko]`: the module's local symbols
//! without the hash that Rust's legacy mangling appends to every name
//! (`_ZN10virtio_rng4glue7rng_irq17h47f752466b2f5d48E` ->
//! `_ZN10virtio_rng4glue7rng_irqE`).
//!
//! Nothing links by a local symbol's name: relocations name symbols by
//! index, and the kernel reads local names only to say where an oops or a
//! backtrace is, demangled, which drops the hash anyway (`kcore::demangle`,
//! like `rustc-demangle`'s `{:#}`). The hashes were about a quarter of a
//! Rust module's string table, and the signature hashes every byte of the
//! file at each load; `NAME.ko.debug` keeps the full names for gdb.
//! Global symbols (imports, exports, `init_module`) and v0-mangled names
//! (whose back-references are byte offsets into the name) are not touched.

use object::build::elf::Builder;
use object::elf;

/// `name` without its legacy hash element, if it has one: `_ZN`, then
/// length-prefixed elements of which the last is `h` and 16 hex digits,
/// then `E` and any suffix (`.llvm.123`).
pub fn without_hash(name: &[u8]) -> Option<Vec<u8>> {
    let mut rest = name.strip_prefix(b"_ZN")?;
    let mut last_start = None;
    let mut at = 3;
    loop {
        if let Some(after) = rest.strip_prefix(b"E") {
            let (start, end) = last_start?;
            let hash = name.get(start..end)?;
            let element = hash.get(2..)?; // past "17"
            let is_hash = hash.starts_with(b"17")
                && element.len() == 17
                && element[0] == b'h'
                && element[1..].iter().all(u8::is_ascii_hexdigit);
            // At least one element must stay before the hash.
            if !is_hash || start == 3 {
                return None;
            }
            let mut out = name[..start].to_vec();
            out.push(b'E');
            out.extend_from_slice(after);
            return Some(out);
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let len: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let end = digits.checked_add(len)?;
        if digits == 0 || end > rest.len() {
            return None;
        }
        last_start = Some((at, at + end));
        at += end;
        rest = &rest[end..];
    }
}

/// The object with its local symbols' legacy hashes removed, and how many
/// names changed; `None` when none has one.
pub fn short_names(input: &[u8], ko: &str) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut builder = Builder::read(input).map_err(|e| format!("{ko}: not an ELF object: {e}"))?;
    let mut changed = 0;
    for sym in builder.symbols.iter_mut() {
        if sym.delete || sym.st_bind() != elf::STB_LOCAL {
            continue;
        }
        if let Some(short) = without_hash(sym.name.as_slice()) {
            sym.name = short.into();
            changed += 1;
        }
    }
    if changed == 0 {
        return Ok(None);
    }
    let mut out = Vec::new();
    builder
        .write(&mut out)
        .map_err(|e| format!("{ko}: writing: {e}"))?;
    Ok(Some((out, changed)))
}

/// `modtool short-names FILE.ko [-o OUT.ko]` (in place without `-o`).
pub fn command(args: &[String]) -> Result<(), crate::link::Failure> {
    use crate::link::Failure;
    let (mut out, mut input) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => out = it.next().cloned(),
            f if f.starts_with('-') => return Err(Failure::Usage(format!("unknown option {f}"))),
            f => input = Some(f.to_string()),
        }
    }
    let Some(input) = input else {
        return Err(Failure::Usage("short-names needs FILE.ko".into()));
    };
    crate::modpost::rewrite(&input, out.as_deref(), |data| {
        Ok(short_names(data, &input)?.map(|(bytes, _)| bytes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hashes_go_and_nothing_else_changes() {
        let cases: [(&[u8], Option<&[u8]>); 8] = [
            (
                b"_ZN10virtio_rng4glue7rng_irq17h47f752466b2f5d48E",
                Some(b"_ZN10virtio_rng4glue7rng_irqE"),
            ),
            (
                b"_ZN5hello4init17h0123456789abcdefE.llvm.123456",
                Some(b"_ZN5hello4initE.llvm.123456"),
            ),
            (
                b"_ZN44_$LT$$RF$T$u20$as$u20$core..fmt..Display$GT$3fmt17h120b157bf4feb674E",
                Some(b"_ZN44_$LT$$RF$T$u20$as$u20$core..fmt..Display$GT$3fmtE"),
            ),
            // Already short, v0, C, or not a hash as the last element.
            (b"_ZN10virtio_rng4glue7rng_irqE", None),
            (b"_RNvNtCsbcsGJ9IzBgZ_4core3fmt5write", None),
            (b"hello_add", None),
            (b"_ZN5hello17hzzzzzzzzzzzzzzzzE", None),
            // Only the hash: nothing would be left.
            (b"_ZN17h0123456789abcdefE", None),
        ];
        for (name, want) in cases {
            assert_eq!(
                without_hash(name).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        // Malformed lengths are left alone.
        assert_eq!(without_hash(b"_ZN99abcE"), None);
        assert_eq!(without_hash(b"_ZN"), None);
    }

    #[test]
    fn short_names_demangle_as_the_long_ones_do() {
        for long in [
            "_ZN10virtio_rng4glue7rng_irq17h47f752466b2f5d48E",
            "_ZN50_$LT$kabi..rt..Buf$u20$as$u20$core..fmt..Write$GT$9write_str17h279888e0f5262f04E",
        ] {
            let short = without_hash(long.as_bytes()).unwrap();
            let short = std::str::from_utf8(&short).unwrap();
            let (a, b) = (
                kcore::demangle::Demangle(long).to_string(),
                kcore::demangle::Demangle(short).to_string(),
            );
            assert_eq!(a, b);
            assert!(!b.contains("17h") && !b.starts_with("_ZN"), "{b}");
        }
    }
}
