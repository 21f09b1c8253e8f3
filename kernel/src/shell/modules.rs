//! Module commands: `insmod`, `rmmod`, `lsmod`, `modinfo`, `modprobe`, `ksyms`.
//! Messages follow kmod's (`insmod: ERROR: could not insert 'x': ...`); the
//! detailed reason is in the kernel log, as Linux puts it in dmesg.

use crate::fs::initrd;
use crate::irq::time;
use crate::module::{self, strerror};
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::refcount::State;
use modloader::Object;

fn stem(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".ko").unwrap_or(base)
}

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
    if let Err(e) = insert(stem(path), &bytes, params) {
        println!(
            "insmod: ERROR: could not insert '{}': {}",
            stem(path),
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
        let name = stem(name);
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
        let _ = write!(line, "{:<19} {:>7}  {}", m.name, m.size, m.refs.count());
        if !users.is_empty() {
            let _ = write!(line, " {}", users.join(","));
        }
        match m.state() {
            State::Coming => line.push_str(" (Loading)"),
            State::Going => line.push_str(" (Unloading)"),
            State::Failed => line.push_str(" [failed]"),
            State::Live => {}
        }
        if let Some(sym) = &m.pinned_by {
            let _ = write!(line, " [pinned: {sym}]");
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
        let fields: Vec<&str> = m.modinfo.iter().map(String::as_str).collect();
        print_modinfo(None, &fields);
        return;
    }
    let path = if what.ends_with(".ko") {
        String::from(what)
    } else {
        alloc::format!("{what}.ko")
    };
    let bytes = match initrd::read(&path) {
        Ok(b) => b,
        Err(_) => {
            println!("modinfo: ERROR: Module {what} not found.");
            return;
        }
    };
    match Object::parse(bytes) {
        Ok(o) => {
            let fields: Vec<&str> = o.modinfo().collect();
            let shown = if path.starts_with('/') {
                path.clone()
            } else {
                alloc::format!("/initrd/{path}")
            };
            print_modinfo(Some(&shown), &fields);
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
    let name = stem(name);
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
    module::exports::list(|name, addr, crc, owner, flags| {
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

/// `modstress N PATH`: loads and unloads a module N times (a self-test, like
/// Linux's kselftests) and reports time per insmod and rmmod and the heap and
/// page use before and after. The first cycle is a warm-up (it creates the
/// page table for the module area and the kernel's export index); the baseline
/// is taken after it.
pub fn modstress(args: &[&str]) {
    let (Some(n), Some(&path)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1),
    ) else {
        println!("Usage: modstress N PATH");
        return;
    };
    let bytes = match initrd::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("modstress: {path}: {e}");
            return;
        }
    };
    let name = stem(path);
    let cycle = |load_ticks: &mut u64, unload_ticks: &mut u64| -> Result<(), String> {
        let t0 = time::ticks_since_boot();
        let m = module::load(name, bytes, &[]).map_err(|e| e.detail)?;
        let t1 = time::ticks_since_boot();
        let (size, relocs) = (m.size, m.relocations);
        drop(m);
        module::unload(name, false).map_err(|e| e.detail)?;
        let t2 = time::ticks_since_boot();
        *load_ticks += t1 - t0;
        *unload_ticks += t2 - t1;
        LAST_SIZE_RELOCS.lock().replace((size, relocs));
        Ok(())
    };
    let (mut warm_l, mut warm_u) = (0, 0);
    crate::klog::set_console_quiet(true);
    let warm = cycle(&mut warm_l, &mut warm_u);
    let before = crate::mm::info();
    let (mut lt, mut ut) = (0u64, 0u64);
    let mut done = 0;
    let mut err = warm.err();
    while err.is_none() && done < n {
        if let Err(e) = cycle(&mut lt, &mut ut) {
            err = Some(e);
        }
        done += 1;
    }
    crate::klog::set_console_quiet(false);
    let after = crate::mm::info();
    if let Some(e) = err {
        println!("modstress: cycle {done} failed: {e}");
        return;
    }
    let freq = time::frequency();
    let us = |t: u64| t as f64 * 1e6 / freq as f64 / n.max(1) as f64;
    let (size, relocs) = LAST_SIZE_RELOCS.lock().unwrap_or((0, 0));
    println!(
        "modstress: {n} load/unload cycles of {name} ({size} bytes mapped, {relocs} relocations)"
    );
    println!(
        "insmod: {:.1} us/cycle ({:.2} us/KiB of file, {:.3} us/relocation); rmmod: {:.1} us/cycle",
        us(lt),
        us(lt) / (bytes.len() as f64 / 1024.0),
        us(lt) / relocs.max(1) as f64,
        us(ut)
    );
    println!(
        "heap in use: before {} bytes, after {} bytes (difference {}); pages in use: before {}, after {}",
        before.heap_actual,
        after.heap_actual,
        after.heap_actual as i64 - before.heap_actual as i64,
        before.pages_total - before.pages_free,
        after.pages_total - after.pages_free
    );
}

static LAST_SIZE_RELOCS: crate::sync::IrqLock<Option<(usize, u64)>> =
    crate::sync::IrqLock::new(None);

/// `refbench N`: the cost of the reference-count rules, measured in guest
/// counter ticks over N iterations each: a bare atomic increment+decrement,
/// `try_module_get`+`module_put` on a LIVE module, and an object get+put whose
/// first reference takes the module reference (the worst case: every get is a
/// 0 -> 1 transition).
pub fn refbench(args: &[&str]) {
    use core::hint::black_box;
    use core::sync::atomic::{AtomicU64, Ordering};
    use kcore::refcount::{ModuleRef, ObjectCount};
    let n: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000)
        .max(1);
    let atomic = AtomicU64::new(0);
    let module = ModuleRef::new();
    module.set_live();
    let object = ObjectCount::new();
    let measure = |f: &dyn Fn()| {
        let t0 = time::ticks_since_boot();
        for _ in 0..n {
            f();
        }
        time::ticks_since_boot() - t0
    };
    let bare = measure(&|| {
        black_box(&atomic).fetch_add(1, Ordering::AcqRel);
        black_box(&atomic).fetch_sub(1, Ordering::AcqRel);
    });
    let modref = measure(&|| {
        let m = black_box(&module);
        if m.try_get() {
            m.put();
        }
    });
    // Steady state: the object is already referenced (an open handle), so a
    // get/put pair never touches the module count.
    let held = object.get(Some(&module)).is_ok();
    let objref_held = measure(&|| {
        let o = black_box(&object);
        if o.get(Some(&module)).is_ok() {
            o.put(Some(&module));
        }
    });
    if held {
        object.put(Some(&module));
    }
    let objref = measure(&|| {
        let o = black_box(&object);
        if o.get(Some(&module)).is_ok() {
            o.put(Some(&module));
        }
    });
    let ns = |t: u64| t as f64 * 1e9 / time::frequency() as f64 / n as f64;
    println!(
        "refbench: {n} iterations each, guest counter at {} Hz",
        time::frequency()
    );
    println!("atomic inc+dec:                  {:.1} ns", ns(bare));
    println!(
        "try_module_get+module_put:       {:.1} ns ({:.2}x the bare atomic pair)",
        ns(modref),
        modref as f64 / bare.max(1) as f64
    );
    println!(
        "object get+put (already held):   {:.1} ns ({:.2}x the bare atomic pair)",
        ns(objref_held),
        objref_held as f64 / bare.max(1) as f64
    );
    println!(
        "object get+put (first/last ref): {:.1} ns ({:.2}x the bare atomic pair)",
        ns(objref),
        objref as f64 / bare.max(1) as f64
    );
}
