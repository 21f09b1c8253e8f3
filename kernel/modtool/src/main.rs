//! `modtool`: the host side of the module loader, for module authors, tests and benches.
//!
//! - `modtool info FILE.ko` — `.modinfo`, sections, imports, exports, relocations by type.
//! - `modtool link FILE.ko --base ADDR --symbols SYMS -o OUT` — lay out and relocate
//!   exactly as the kernel does (the same `modloader` code), regions placed one after
//!   the other from ADDR, each page-aligned; writes `OUT.bin` and `OUT.map`.
//! - `modtool lld-script OUT.map SYMS` — a linker script that makes `ld.lld` place the
//!   same object at the same addresses (used by the differential tests and the bench).
//! - `modtool bench FILE.ko [--iterations N]` — in-process parse+plan+load timing.
//! - `modtool genksyms [-o OUT.h] [FILE.i]` — versions of a C module's exports
//!   from its preprocessed source ([`genksyms`]).
//! - `modtool symvers -o Module.symvers FILE...` — the kernel's and these
//!   modules' exports in Linux's `Module.symvers` format ([`symvers`]).
//! - `modtool modpost --symvers Module.symvers IN.o -o OUT.ko` — a compiled C
//!   object into a module: `__versions` and `abi=` added, undefined symbols
//!   refused ([`modpost`]).
//! - `modtool versions --trim FILE.ko [-o OUT.ko]` — cut `__versions` to the
//!   symbols the module imports, as Linux's modpost writes it (a Rust module's
//!   `kabi::rt` table lists every kernel export; [`modpost::trim_versions`]).
//! - `modtool short-names FILE.ko [-o OUT.ko]` — local symbols without the
//!   hash of Rust's legacy mangling ([`names`]).
//! - `modtool prelink [-q] [--strip] FILE.ko [-o OUT.ko]` — apply at build time the
//!   relocations that do not depend on where the module is loaded, and add the
//!   `.modprelink` section listing the rest ([`prelink`], `modloader::prelink`).
//! - `modtool sign [-k] HASH KEY CERT FILE.ko [OUT]` — append a Linux-format signature
//!   (the arguments of Linux's `scripts/sign-file`; OUT defaults to FILE.ko itself).
//! - `modtool verify FILE.ko CERT... [--bench N]` — check it as the kernel will (`modsign`).
//!
//! Exit status: 0 on success, 1 on a load error (message on stderr, in the loader's
//! words), 2 on bad usage.

mod genksyms;
mod link;
mod modpost;
mod names;
mod prelink;
mod sign;
mod symvers;

use std::process::ExitCode;

const USAGE: &str = "usage:
  modtool info FILE.ko
  modtool link FILE.ko --base ADDR --symbols SYMS -o OUT [--fix-cortex-a53-843419] [--no-prelink]
  modtool lld-script OUT.map SYMS
  modtool bench FILE.ko [--iterations N]
  modtool genksyms [-o OUT.h] [FILE.i|-]
  modtool symvers -o Module.symvers [MODULE.ko|OBJECT.o ...]
  modtool modpost --symvers Module.symvers IN.o -o OUT.ko
  modtool versions --trim FILE.ko [-o OUT.ko]
  modtool short-names FILE.ko [-o OUT.ko]
  modtool prelink [-q] [--strip] FILE.ko [-o OUT.ko]
  modtool sign [-k] HASH KEY CERT FILE.ko [OUT]
  modtool verify FILE.ko CERT... [--bench N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("info") => link::info(&args[1..]),
        Some("link") => link::link_command(&args[1..]),
        Some("lld-script") => link::lld_script_command(&args[1..]),
        Some("bench") => link::bench(&args[1..]),
        Some("genksyms") => genksyms::command(&args[1..]),
        Some("symvers") => symvers::command(&args[1..]),
        Some("modpost") => modpost::command(&args[1..]),
        Some("versions") => modpost::versions_command(&args[1..]),
        Some("short-names") => names::command(&args[1..]),
        Some("prelink") => prelink::command(&args[1..]),
        Some("sign") => sign::sign_command(&args[1..]),
        Some("verify") => sign::verify_command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(link::Failure::Usage(String::new())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(link::Failure::Usage(msg)) => {
            if !msg.is_empty() {
                eprintln!("modtool: {msg}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(link::Failure::Error(msg)) => {
            eprintln!("modtool: {msg}");
            ExitCode::from(1)
        }
        Err(link::Failure::Quiet) => ExitCode::from(1),
    }
}
