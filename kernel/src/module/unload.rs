//! The unload path (`rmmod`): refuse while anything holds the module, name
//! the holders; otherwise GOING, exit (which may refuse), check that exit left
//! nothing registered, and only then free.

use super::load::free_image;
use super::{find, strerror, symtab, users_of, ModError, Module, Resource, MODULES, MODULE_MUTEX};
use crate::arch::modcall;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;
use kabi::errno;
use kcore::refcount::State;

/// `name (label), ...` for what a module left registered.
pub(super) fn describe(objs: &[Arc<dyn Resource>]) -> String {
    let mut s = String::new();
    for (i, o) in objs.iter().enumerate() {
        let _ = write!(
            s,
            "{}{} ({})",
            if i == 0 { "" } else { ", " },
            o.name(),
            o.label()
        );
    }
    s
}

/// What `rmmod` reports when it refuses.
pub fn holders(module: &Arc<Module>) -> String {
    let mut parts = users_of(module);
    for o in module.resources() {
        let n = o.users();
        if n > 0 {
            // A file system type is held by its mounts, a device by its opens.
            let what = if o.label() == "filesystem" {
                "mount"
            } else {
                "open"
            };
            parts.push(format!("{} ({n} {what})", o.name()));
        }
    }
    parts.join(", ")
}

/// Unloads `name`. `force` frees a module with no exit function, or a failed
/// one that left nothing registered; it never frees code anything can reach.
pub fn unload(name: &str, force: bool) -> Result<(), ModError> {
    let _serial = MODULE_MUTEX.lock();
    let module = find(name).ok_or_else(|| {
        ModError::new(
            errno::ENOENT,
            format!("Module {name} is not currently loaded"),
        )
    })?;
    if let Some(sym) = &module.pinned_by {
        return Err(ModError::new(
            errno::EBUSY,
            format!("Module {name} is pinned: it uses {sym}, which cannot be undone"),
        ));
    }
    if module.state() == State::Failed {
        let left = module.resources();
        if !left.is_empty() {
            return Err(ModError::new(
                errno::EBUSY,
                format!(
                    "Module {name} failed and still has registered objects: {}; it cannot be freed",
                    describe(&left)
                ),
            ));
        }
        if !force {
            return Err(ModError::new(
                errno::EBUSY,
                format!("Module {name} failed; use rmmod -f to free it"),
            ));
        }
        finish_unload(&module);
        return Ok(());
    }
    if module.cleanup.is_none() && !force {
        return Err(ModError::new(
            errno::EBUSY,
            format!("Module {name} has no exit function; use rmmod -f"),
        ));
    }
    // With other CPUs taking and dropping references, the holder seen when
    // the count was not zero may be gone when the holders are listed: then
    // the reference was transient, and the unload is tried again.
    let mut tries = 0;
    while module
        .refs
        .try_begin_unload(|| module.objects_in_use())
        .is_err()
    {
        let who = holders(&module);
        tries += 1;
        if !who.is_empty() || tries == 100 {
            let detail = if who.is_empty() {
                format!("Module {name} is in use")
            } else {
                format!("Module {name} is in use by: {who}")
            };
            return Err(ModError::new(errno::EBUSY, detail));
        }
        crate::arch::cpu::relax();
    }
    // GOING: no new references. Run exit.
    if let Some(f) = module.cleanup {
        // SAFETY: `cleanup_module`'s relocated address in live module text.
        match unsafe { modcall::call_guarded(f as usize, 0, 0, module.text) } {
            Err(modcall::Fault) => {
                module.refs.set_failed();
                return Err(ModError::new(
                    errno::EFAULT,
                    format!("{name}: exit faulted; module kept as [failed]"),
                ));
            }
            Ok(r) if r as u32 as i32 != 0 => {
                let e = (r as u32 as i32).abs();
                module.refs.abort_unload();
                return Err(ModError::new(
                    e,
                    format!("could not remove '{name}': {}", strerror(e)),
                ));
            }
            Ok(_) => {}
        }
    }
    if module.has_resource(|_| true) {
        let left = module.resources();
        module.refs.set_failed();
        symtab::remove_module_exports(&module);
        log::error!(
            "{name}: exit left registered: {}; not freeing the module",
            describe(&left)
        );
        return Err(ModError::new(
            errno::EBUSY,
            format!(
                "Module {name} left objects registered after exit: {}; not freeing it",
                describe(&left)
            ),
        ));
    }
    finish_unload(&module);
    Ok(())
}

/// Unpublishes the module (exports, list), frees its image after the grace
/// period, and only then releases its providers: a provider never goes while
/// code that calls it is still mapped.
fn finish_unload(module: &Arc<Module>) {
    symtab::remove_module_exports(module);
    MODULES.lock().retain(|m| !Arc::ptr_eq(m, module));
    free_image(module);
    for p in &module.uses {
        p.refs.put();
    }
    super::record(
        log::Level::Info,
        &[
            kcore::logring::Piece::Str(&module.name),
            kcore::logring::Piece::Str(": unloaded"),
        ],
    );
}
