//! The initrd: a cpio `newc` archive QEMU places in RAM (`-initrd`), found
//! through `/chosen`, read in place (its range is reserved from the allocator).
//! Files are reached as `/initrd/NAME`; a bare `NAME` means the same.

use kcore::cpio::{self, CpioError, Entry};

/// The archive bytes, if the DTB names an initrd.
pub fn archive() -> Option<&'static [u8]> {
    let info = crate::machine::boot_info()?;
    let r = info.initrd?;
    if !info
        .ram
        .as_slice()
        .iter()
        .any(|m| m.start <= r.start && r.end <= m.end)
    {
        return None;
    }
    // SAFETY: the range lies in RAM, is identity-mapped, and was reserved from the allocators at boot, so nothing else writes it.
    Some(unsafe { core::slice::from_raw_parts(r.start as *const u8, r.size() as usize) })
}

/// Strips the `/initrd/` prefix; `None` for paths elsewhere.
pub fn name_of(path: &str) -> Option<&str> {
    if let Some(rest) = path.strip_prefix("/initrd/") {
        return Some(rest);
    }
    (!path.starts_with('/')).then_some(path)
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum FsError {
    NoInitrd,
    NotFound,
    Corrupt(CpioError),
}

impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FsError::NoInitrd => {
                f.write_str("No such file or directory (no initrd: boot with -initrd)")
            }
            FsError::NotFound => f.write_str("No such file or directory"),
            FsError::Corrupt(e) => write!(f, "Input/output error ({e})"),
        }
    }
}

/// Reads a file by path.
pub fn read(path: &str) -> Result<&'static [u8], FsError> {
    let name = name_of(path).ok_or(FsError::NotFound)?;
    let archive = archive().ok_or(FsError::NoInitrd)?;
    for e in cpio::entries(archive) {
        let e = e.map_err(FsError::Corrupt)?;
        if e.name == name && e.is_file() {
            return Ok(e.data);
        }
    }
    Err(FsError::NotFound)
}

/// Calls `f` for each file; returns the archive error that stopped it, if any.
pub fn list(mut f: impl FnMut(&Entry<'static>)) -> Result<(), FsError> {
    let archive = archive().ok_or(FsError::NoInitrd)?;
    for e in cpio::entries(archive) {
        f(&e.map_err(FsError::Corrupt)?);
    }
    Ok(())
}
