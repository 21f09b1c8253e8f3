//! Error numbers and their texts: one table for the whole kernel.
//!
//! The numbers are Linux's (asm-generic/errno-base.h and errno.h, the same on
//! arm64); the texts are glibc's `strerror` strings, which is what a kernel
//! engineer sees from Linux tools. `insmod`/`rmmod`/`modprobe` print kmod's
//! texts instead, which differ for three numbers (kmod's `mod_strerror` in
//! tools/insmod.c): [`module_strerror`] applies exactly those.

/// (errno, glibc text), by number.
const TEXTS: &[(i32, &str)] = &[
    (1, "Operation not permitted"),
    (2, "No such file or directory"),
    (3, "No such process"),
    (5, "Input/output error"),
    (7, "Argument list too long"),
    (8, "Exec format error"),
    (9, "Bad file descriptor"),
    (11, "Resource temporarily unavailable"),
    (12, "Cannot allocate memory"),
    (13, "Permission denied"),
    (14, "Bad address"),
    (15, "Block device required"),
    (16, "Device or resource busy"),
    (17, "File exists"),
    (19, "No such device"),
    (20, "Not a directory"),
    (21, "Is a directory"),
    (22, "Invalid argument"),
    (24, "Too many open files"),
    (25, "Inappropriate ioctl for device"),
    (27, "File too large"),
    (28, "No space left on device"),
    (30, "Read-only file system"),
    (34, "Numerical result out of range"),
    (36, "File name too long"),
    (38, "Function not implemented"),
    (61, "No data available"),
    (65, "Package not installed"),
    (74, "Bad message"),
    (95, "Operation not supported"),
    (110, "Connection timed out"),
    (126, "Required key not available"),
    (127, "Key has expired"),
    (128, "Key has been revoked"),
    (129, "Key was rejected by service"),
];

/// glibc's text for `errno` (its sign is ignored), or "Unknown error".
pub fn strerror(errno: i32) -> &'static str {
    let e = errno.unsigned_abs() as i32;
    TEXTS
        .iter()
        .find(|(n, _)| *n == e)
        .map(|(_, t)| *t)
        .unwrap_or("Unknown error")
}

/// What kmod's `insmod`/`rmmod`/`modprobe` print for `errno`: `strerror`
/// except where kmod says what the number means for a module load.
pub fn module_strerror(errno: i32) -> &'static str {
    match errno.unsigned_abs() {
        8 => "Invalid module format",
        2 => "Unknown symbol in module",
        22 => "Invalid parameters",
        _ => strerror(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_glibcs() {
        assert_eq!(strerror(-22), "Invalid argument");
        assert_eq!(strerror(16), "Device or resource busy");
        assert_eq!(strerror(-30), "Read-only file system");
        assert_eq!(strerror(-129), "Key was rejected by service");
        assert_eq!(strerror(-9999), "Unknown error");
        assert_eq!(strerror(i32::MIN), "Unknown error");
    }

    #[test]
    fn module_texts_are_kmods() {
        assert_eq!(module_strerror(-8), "Invalid module format");
        assert_eq!(module_strerror(-2), "Unknown symbol in module");
        assert_eq!(module_strerror(-22), "Invalid parameters");
        assert_eq!(module_strerror(-16), "Device or resource busy");
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TEXTS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
