//! Module commands: `insmod`, `rmmod`, `lsmod`, `modinfo`, `modprobe`, `ksyms`.
//! Messages follow kmod's (`insmod: ERROR: could not insert 'x': ...`); the
//! detailed reason is in the kernel log, as Linux puts it in dmesg.

use crate::module::{self, strerror};
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::refcount::State;
use modloader::Object;

/// `insmod PATH [param=value ...]`
pub fn insmod(args: &[&str]) {
    let Some((&path, params)) = args.split_first() else {
        println!("Usage: insmod PATH [param=value ...]");
        return;
    };
    let bytes = match crate::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("insmod: ERROR: could not load module {path}: {e}");
            return;
        }
    };
    if let Err(e) = insert(crate::fs::file_stem(path), &bytes, params) {
        println!(
            "insmod: ERROR: could not insert '{}': {}",
            crate::fs::file_stem(path),
            strerror(e.errno)
        );
        println!("insmod: {}", e.detail);
    }
}

fn insert(name: &str, bytes: &[u8], params: &[&str]) -> Result<(), module::ModError> {
    module::load(name, bytes, params).map(|_| ())
}

/// `rmmod [-f] NAME`
pub fn rmmod(args: &[&str]) {
    let (force, names): (Vec<&str>, Vec<&str>) =
        args.iter().partition(|a| **a == "-f" || **a == "--force");
    if names.is_empty() {
        println!("Usage: rmmod [-f] NAME");
        return;
    }
    for name in names {
        let name = crate::fs::file_stem(name);
        if let Err(e) = module::unload(name, !force.is_empty()) {
            println!("rmmod: ERROR: {}", e.detail);
        }
    }
}

/// `lsmod`
pub fn lsmod(_: &[&str]) {
    println!("{:<19} {:>7}  Used by", "Module", "Size");
    for m in module::list() {
        let users = module::users_of(&m);
        let mut line = String::new();
        use core::fmt::Write;
        let _ = write!(line, "{:<19} {:>7}  {}", m.name, m.size, m.use_count());
        if !users.is_empty() {
            let _ = write!(line, " {}", users.join(","));
        }
        match m.state() {
            State::Coming => line.push_str(" (Loading)"),
            State::Going => line.push_str(" (Unloading)"),
            State::Failed => line.push_str(" [failed]"),
            State::Live | State::Stopping => {}
        }
        if let Some(sym) = &m.pinned_by {
            let _ = write!(line, " [pinned: {sym}]");
        }
        if m.taints != 0 {
            let mut buf = [0u8; 19];
            let _ = write!(line, " ({})", crate::taint::letters(m.taints, &mut buf));
        }
        println!("{line}");
    }
}

fn print_modinfo(filename: Option<&str>, fields: &[&str]) {
    if let Some(f) = filename {
        println!("{:<15} {}", "filename:", f);
    }
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            continue;
        };
        if k == "parmtype" {
            continue;
        }
        if k == "parm" {
            let pname = v.split(':').next().unwrap_or("");
            let ty = fields
                .iter()
                .filter_map(|f| f.strip_prefix("parmtype="))
                .find_map(|t| t.strip_prefix(pname).and_then(|t| t.strip_prefix(':')))
                .unwrap_or("?");
            println!("{:<15} {} ({})", "parm:", v, ty);
            continue;
        }
        println!("{:<15} {}", alloc::format!("{k}:"), v);
    }
}

/// `modinfo PATH|NAME`
pub fn modinfo(args: &[&str]) {
    let Some(&what) = args.first() else {
        println!("Usage: modinfo PATH|NAME");
        return;
    };
    if let Some(m) = module::find(what) {
        let fields: Vec<&str> = m.modinfo_fields().collect();
        print_modinfo(None, &fields);
        if let Some(signer) = &m.signer {
            println!("{:<15} {signer}", "signer:");
        }
        return;
    }
    let path = if what.ends_with(".ko") {
        String::from(what)
    } else {
        alloc::format!("{what}.ko")
    };
    let bytes = match crate::fs::read(&path) {
        Ok(b) => b,
        Err(_) => {
            println!("modinfo: ERROR: Module {what} not found.");
            return;
        }
    };
    let elf = modsign::trailer::split(&bytes).map_or(&bytes[..], |s| s.elf);
    match Object::parse(elf) {
        Ok(o) => {
            let fields: Vec<&str> = o.modinfo().collect();
            let shown = if path.starts_with('/') {
                path.clone()
            } else {
                alloc::format!("/initrd/{path}")
            };
            print_modinfo(Some(&shown), &fields);
            if let Some(sig) = module::signing::describe(&bytes) {
                println!("{sig}");
            }
        }
        Err(e) => println!("modinfo: ERROR: {path}: {e}"),
    }
}

/// `modprobe NAME [param=value ...]`: loads dependencies first (from the
/// `modules.dep` index built at build time), then the module.
pub fn modprobe(args: &[&str]) {
    let Some((&name, params)) = args.split_first() else {
        println!("Usage: modprobe NAME [param=value ...]");
        return;
    };
    let name = crate::fs::file_stem(name);
    match crate::kmod::probe(name, params) {
        Ok(()) => {}
        Err(e) if e.detail.starts_with("Module ") || e.detail.starts_with("could not open") => {
            println!("modprobe: FATAL: {}", e.detail)
        }
        Err(e) => {
            println!(
                "modprobe: ERROR: could not insert '{name}': {}",
                strerror(e.errno)
            );
            println!("modprobe: {}", e.detail);
        }
    }
    crate::kmod::run_pending();
}

/// `lsdev`: every device offered to the drivers (device-tree nodes at boot,
/// devices bus drivers announce) with its driver, then the objects modules
/// registered with their counts.
pub fn lsdev(args: &[&str]) {
    let bindings = crate::kmod::bindings();
    if !bindings.is_empty() {
        println!("{:<28} {:<36} DRIVER", "DEVICE", "ALIAS");
        for b in &bindings {
            let driver = match &b.driver {
                Some(d) if module::find(d).is_some() => d.clone(),
                Some(d) => alloc::format!("{d} (not loaded)"),
                None => String::from("(no driver)"),
            };
            println!("{:<28} {:<36} {}", b.device, b.alias, driver);
        }
        println!();
    }
    super::files::lsdev(args);
}

/// `ksyms`: every symbol modules can import.
pub fn ksyms(_: &[&str]) {
    module::symtab::list(|name, addr, crc, owner, flags| {
        let pin = if flags & kabi::KernelSymbol::UNSAFE_TO_UNLOAD != 0 {
            " [unsafe to unload]"
        } else {
            ""
        };
        match owner {
            Some(m) => println!("{addr:016x} {crc:08x} {name} [{m}]{pin}"),
            None => println!("{addr:016x} {crc:08x} {name}{pin}"),
        }
    });
}

/// `taint`: the kernel's taint word and flags, as Linux's
/// `/proc/sys/kernel/tainted` and oops header show them.
pub fn taint(_: &[&str]) {
    let v = crate::taint::value();
    println!("{v}");
    println!("{}", crate::taint::describe().as_str());
    for (bit, what) in [
        (
            0,
            "P: a module with a license that is not GPL-compatible was loaded",
        ),
        (7, "D: the kernel died (oops)"),
        (
            13,
            "E: an unsigned module was loaded (or one signed by an unknown key)",
        ),
    ] {
        if v & (1 << bit) != 0 {
            println!(" {what}");
        }
    }
}

/// `sig_enforce [on]`: whether only modules signed by a trusted key load;
/// `on` turns it on for the rest of this boot (it never turns off, as Linux's
/// `module.sig_enforce`).
pub fn sig_enforce(args: &[&str]) {
    match args.first() {
        None => {}
        Some(&"on") | Some(&"1") => module::signing::enforce(),
        Some(&"off") | Some(&"0") if module::signing::enforcing() => {
            println!("sig_enforce: cannot turn enforcement off (it stays on until reboot)");
            return;
        }
        Some(&"off") | Some(&"0") => {}
        Some(_) => {
            println!("Usage: sig_enforce [on]");
            return;
        }
    }
    println!(
        "sig_enforce: {}",
        if module::signing::enforcing() {
            "on"
        } else {
            "off"
        }
    );
}
