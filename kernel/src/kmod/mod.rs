//! `modprobe` and coldplug: loading modules by name and by device alias.
//!
//! Module files, `modules.dep` and `modules.alias` come from the initrd (the
//! disk joins later). [`probe`] loads a module after its dependencies, deepest
//! first, as Linux's modprobe does. Bus code (the kernel for device-tree nodes,
//! bus driver modules for what they discover, through the `request_module`
//! export) queues device aliases with [`request`]; [`run_pending`] resolves them
//! against `modules.alias` and loads the drivers. Requests are queued, not
//! served at once, because they arrive while a module's init runs under the
//! module mutex; the queue is drained after every load from the shell and once
//! at boot ([`coldplug`]), which offers every device-tree node's `of:COMPATIBLE`
//! aliases. `modprobe.blacklist=a,b` on the command line keeps modules from
//! being loaded by alias, as on Linux.
//!
//! Room `kmod`: uses `module`, `kobject`, `machine`, `fs`.

use crate::module::{self, ModError};
use crate::sync::IrqLock;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kabi::errno;
use kcore::modalias;

/// A device alias and the driver it was bound to (for `lsdev`).
#[derive(Clone)]
pub struct Binding {
    pub device: String,
    pub alias: String,
    pub driver: Option<String>,
}

static PENDING: IrqLock<VecDeque<(String, String)>> = IrqLock::new(VecDeque::new());
static BINDINGS: IrqLock<Vec<Binding>> = IrqLock::new(Vec::new());

fn norm(s: &str) -> String {
    s.replace('-', "_")
}

/// Where module files and indexes live: the initrd (boot modules), then the
/// disk (every module) when mounted.
fn places() -> Vec<&'static str> {
    let mut p = alloc::vec!["/initrd/"];
    if crate::fs::fat::mounted().is_some() {
        p.push("/disk/");
    }
    p
}

/// An index file (`modules.dep`, `modules.alias`) from every place, with the
/// module paths in `modules.dep` made absolute.
fn index(file: &str) -> Result<String, ModError> {
    let mut out = String::new();
    let mut found = false;
    for place in places() {
        let Ok(bytes) = crate::fs::read(&format!("{place}{file}")) else {
            continue;
        };
        found = true;
        for line in String::from_utf8_lossy(&bytes).lines() {
            match line.split_once(':') {
                Some((m, deps)) if file == "modules.dep" => {
                    out.push_str(&format!("{place}{m}:"));
                    for d in deps.split_whitespace() {
                        out.push_str(&format!(" {place}{d}"));
                    }
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
    }
    if found {
        Ok(out)
    } else {
        Err(ModError {
            errno: errno::ENOENT,
            detail: format!("could not open {file} in /initrd or /disk"),
        })
    }
}

/// `(file, dependencies nearest first)` of module `name` in `modules.dep`.
fn find_in_dep(dep: &str, name: &str) -> Option<(String, Vec<String>)> {
    dep.lines().find_map(|line| {
        let (file, deps) = line.split_once(':')?;
        (norm(crate::fs::file_stem(file)) == norm(name)).then(|| {
            (
                file.to_string(),
                deps.split_whitespace().map(String::from).collect(),
            )
        })
    })
}

fn load_file(file: &str, params: &[&str]) -> Result<(), ModError> {
    let bytes = crate::fs::read(file).map_err(|e| ModError {
        errno: errno::ENOENT,
        detail: format!("could not load {file}: {e}"),
    })?;
    module::load(crate::fs::file_stem(file), &bytes, params).map(|_| ())
}

/// Loads `name` and, first, what it depends on. Already loaded is success.
pub fn probe(name: &str, params: &[&str]) -> Result<(), ModError> {
    let dep = index("modules.dep")?;
    let (file, deps) = find_in_dep(&dep, name).ok_or_else(|| ModError {
        errno: errno::ENOENT,
        detail: format!("Module {name} not found in /initrd or /disk"),
    })?;
    for d in deps.iter().rev() {
        if module::find(crate::fs::file_stem(d)).is_none() {
            load_file(d, &[])?;
        }
    }
    if module::find(crate::fs::file_stem(&file)).is_some() {
        return Ok(());
    }
    load_file(&file, params)
}

/// Queues a device alias for a driver (from bus code or `request_module`).
pub fn request(device: &str, alias: &str) {
    let mut pending = PENDING.lock();
    // A bus driver loaded again asks again for the same devices: one queued
    // request per device and alias is enough (and the queue stays bounded by
    // the devices that exist).
    if !pending.iter().any(|(d, a)| d == device && a == alias) {
        pending.push_back((device.to_string(), alias.to_string()));
    }
}

fn blacklisted(name: &str) -> bool {
    let args = crate::machine::boot_info()
        .map(|b| b.bootargs.as_str())
        .unwrap_or("");
    kcore::cmdline::get(args, "modprobe.blacklist")
        .is_some_and(|list| list.split(',').any(|b| norm(b) == norm(name)))
}

/// Loads drivers for queued aliases until the queue is empty (a driver's init
/// may queue more). Returns the modules loaded.
pub fn run_pending() -> Vec<String> {
    let mut loaded = Vec::new();
    let Ok(alias_file) = index("modules.alias") else {
        PENDING.lock().clear();
        return loaded;
    };
    let aliases = modalias::AliasTable::new(&alias_file);
    loop {
        let Some((device, alias)) = PENDING.lock().pop_front() else {
            break;
        };
        let driver = aliases
            .lookup(&alias)
            .find(|m| !blacklisted(m))
            .map(str::to_string);
        if let Some(d) = &driver {
            if module::find(d).is_none() {
                match probe(d, &[]) {
                    Ok(()) => loaded.push(d.clone()),
                    Err(e) => log::error!(
                        "{device}: driver {d} for {alias} failed to load: {}",
                        e.detail
                    ),
                }
            }
        }
        let mut b = BINDINGS.lock();
        b.retain(|x| !(x.device == device && x.alias == alias));
        b.push(Binding {
            device,
            alias,
            driver,
        });
    }
    loaded
}

/// Boot-time coldplug: offers every device-tree node to the drivers.
pub fn coldplug() {
    if crate::fs::initrd::archive().is_none() {
        log::info!("coldplug: no initrd, no drivers to load");
        return;
    }
    let mut offered = 0;
    for d in crate::machine::devices() {
        offered += 1;
        request(d.name, &modalias::of_alias(d.name, "", d.compatibles()));
    }
    let loaded = run_pending();
    log::info!(
        "coldplug: {offered} device-tree devices offered, {} drivers loaded: {}",
        loaded.len(),
        loaded.join(" ")
    );
}

/// After boot coldplug: mounts the first block device (in name order: vda,
/// vdb, ...) that holds a FAT file system at `/disk`, then offers the devices
/// that found no driver in the initrd to the disk's modules. (Which QEMU
/// `-device` becomes vda is QEMU's choice, as for Linux: the last one given
/// gets the lowest slot; trying each disk means a scratch disk added to the
/// command line does not hide the modules disk.)
pub fn mount_disk() {
    let mut disks = crate::kobject::names_of_kind(kabi::DeviceKind::Block);
    if disks.is_empty() {
        return;
    }
    kcore::sort::insertion_sort_by(&mut disks, |a, b| a.cmp(b));
    let mut errors = Vec::new();
    let mounted = disks.iter().find(|d| match crate::fs::fat::mount(d) {
        Ok(label) => {
            log::info!("disk: mounted {d} at /disk (FAT volume '{}')", label.trim());
            true
        }
        Err(e) => {
            errors.push(e);
            false
        }
    });
    if mounted.is_none() {
        for e in errors {
            log::error!("disk: cannot mount: {e}");
        }
        return;
    }
    let retry: Vec<(String, String)> = BINDINGS
        .lock()
        .iter()
        .filter(|b| b.driver.is_none())
        .map(|b| (b.device.clone(), b.alias.clone()))
        .collect();
    for (device, alias) in retry {
        request(&device, &alias);
    }
    let loaded = run_pending();
    if !loaded.is_empty() {
        log::info!(
            "coldplug: {} more drivers loaded from /disk: {}",
            loaded.len(),
            loaded.join(" ")
        );
    }
}

/// Every device offered so far and its driver.
pub fn bindings() -> Vec<Binding> {
    BINDINGS.lock().clone()
}
