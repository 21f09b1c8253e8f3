//! File system exports: `register_filesystem`, `unregister_filesystem`.

use super::{cstr_name, owner};
use kabi::{errno, FsOps, ThisModule};

/// # Safety
/// `name` NUL-terminated; `ops` points to a valid `FsOps`.
#[no_mangle]
pub unsafe extern "C" fn register_filesystem(
    owner_ptr: *const ThisModule,
    name: *const u8,
    ops: *const FsOps,
) -> i32 {
    let (Some(m), Some(name), false) = (owner(owner_ptr), cstr_name(name), ops.is_null()) else {
        return -errno::EINVAL;
    };
    // SAFETY: a non-null operations table from the module.
    let ops = unsafe { &*ops };
    match crate::fs::disk::register(m, name, ops) {
        Ok(id) => id as i32,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn unregister_filesystem(owner_ptr: *const ThisModule, id: i32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    match crate::fs::disk::unregister(&m, id as u32) {
        Ok(()) => 0,
        Err(e) => e,
    }
}
