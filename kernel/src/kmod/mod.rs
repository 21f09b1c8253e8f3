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

/// Where module files and indexes live: the initrd (boot modules), then the
/// disk (every module) when mounted.
fn places() -> Vec<&'static str> {
    let mut p = alloc::vec!["/initrd/"];
    if crate::fs::disk::mounted().is_some() {
        p.push("/disk/");
    }
    p
}

/// `place` followed by `file` (`/initrd/` and `modules.dep`).
fn join(place: &str, file: &str) -> String {
    let mut path = String::with_capacity(place.len() + file.len());
    path.push_str(place);
    path.push_str(file);
    path
}

fn no_index(file: &str) -> ModError {
    ModError {
        errno: errno::ENOENT,
        detail: format!("could not open {file} in /initrd or /disk"),
    }
}

/// `(file, dependencies nearest first)` of module `name`: the first line for
/// it in the places' `modules.dep` files (the initrd's first), its paths
/// made absolute. Each file is parsed where it was read (bytes, no copy);
/// the disk's is read only when the initrd's has no line for `name`.
fn find_in_dep(name: &str) -> Result<Option<(String, Vec<String>)>, ModError> {
    let mut indexed = false;
    for place in places() {
        let Ok(dep) = crate::fs::read(&join(place, "modules.dep")) else {
            continue;
        };
        indexed = true;
        if let Some((file, deps)) = modalias::find_dep(&dep, name) {
            return Ok(Some((
                join(place, file),
                deps.map(|d| join(place, d)).collect(),
            )));
        }
    }
    if indexed {
        Ok(None)
    } else {
        Err(no_index("modules.dep"))
    }
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
    let (file, deps) = find_in_dep(name)?.ok_or_else(|| ModError {
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

/// The places' `modules.alias` files.
fn alias_files() -> Vec<alloc::borrow::Cow<'static, [u8]>> {
    places()
        .into_iter()
        .filter_map(|place| crate::fs::read(&join(place, "modules.alias")).ok())
        .collect()
}

/// `modprobe.blacklist=a,b` from the command line.
fn blacklist() -> &'static str {
    crate::machine::boot_info()
        .and_then(|b| kcore::cmdline::get(&b.bootargs, "modprobe.blacklist"))
        .unwrap_or("")
}

/// The entries of every place's `modules.alias`, in place order.
fn alias_table<'a>(files: &'a [alloc::borrow::Cow<'static, [u8]>]) -> modalias::AliasTable<'a> {
    let mut aliases = modalias::AliasTable::default();
    for file in files {
        aliases.add(file);
    }
    aliases
}

/// The first module `alias` names that `blacklist` ([`blacklist`]) does
/// not list (modprobe's choice: the index's order, blacklisted ones skipped).
fn driver_for(aliases: &modalias::AliasTable<'_>, blacklist: &str, alias: &str) -> Option<String> {
    aliases
        .lookup(alias)
        .find(|m| !modalias::listed(blacklist, m))
        .map(str::to_string)
}

/// Loads the module for `alias` (Linux's `request_module`, synchronous: the
/// kernel needs it now), e.g. `fs-vfat`; returns its name. Already loaded is
/// success.
pub fn load_alias(alias: &str) -> Result<String, ModError> {
    let files = alias_files();
    if files.is_empty() {
        return Err(no_index("modules.alias"));
    }
    let name = driver_for(&alias_table(&files), blacklist(), alias).ok_or_else(|| ModError {
        errno: errno::ENOENT,
        detail: format!("no module for {alias} in /initrd or /disk"),
    })?;
    probe(&name, &[])?;
    Ok(name)
}

/// Mounts block device `dev` at `/disk` as FAT (`vfat`), loading the file
/// system module through its `fs-vfat` alias first when it is not loaded,
/// as Linux's mount does through `get_fs_type`.
pub fn mount(dev: &str) -> Result<String, String> {
    const FSTYPE: &str = "vfat";
    crate::fs::disk::block_device(dev)?;
    if !crate::fs::disk::has_type(FSTYPE) {
        load_alias(&format!("fs-{FSTYPE}"))
            .map_err(|e| format!("unknown filesystem type '{FSTYPE}' ({})", e.detail))?;
    }
    crate::fs::disk::mount(dev, FSTYPE)
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

/// Loads drivers for queued aliases until the queue is empty (a driver's init
/// may queue more). Returns the modules loaded.
pub fn run_pending() -> Vec<String> {
    let mut loaded = Vec::new();
    let files = alias_files();
    if files.is_empty() {
        PENDING.lock().clear();
        return loaded;
    }
    let aliases = alias_table(&files);
    let blacklist = blacklist();
    loop {
        let Some((device, alias)) = PENDING.lock().pop_front() else {
            break;
        };
        let driver = driver_for(&aliases, blacklist, &alias);
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
    let mounted = disks.iter().find(|d| match mount(d) {
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
