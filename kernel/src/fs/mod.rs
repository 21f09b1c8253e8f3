//! Paths: `/initrd/NAME` (the boot archive), `/disk/NAME` (the mounted
//! disk, through the file system module that mounted it); a bare `NAME` means
//! `/initrd/NAME`. One read function for the shell, `insmod` and `modprobe`.
//!
//! Room `fs` (also `initrd.rs`, `disk.rs`): uses `arch`, `machine`, `module`,
//! `kobject`.

pub mod disk;
pub mod initrd;

use alloc::borrow::Cow;
use alloc::string::{String, ToString};

/// Reads a whole file.
pub fn read(path: &str) -> Result<Cow<'static, [u8]>, String> {
    if let Some(name) = path.strip_prefix("/disk/") {
        return disk::read(name).map(Cow::Owned);
    }
    initrd::read(path)
        .map(Cow::Borrowed)
        .map_err(|e| e.to_string())
}

/// A module's name from its file's path: the last component without `.ko`
/// (`/disk/drivers/hello.ko` -> `hello`).
pub fn file_stem(path: &str) -> &str {
    kcore::modalias::file_stem(path)
}
