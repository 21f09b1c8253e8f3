//! The layout `include/kabi.h` asserts (`_Static_assert` on `sizeof` and
//! `offsetof`, checked by the C compiler when a C module includes it) equals
//! the layout of the Rust types: every assertion in the header names a Rust
//! type and field below with the same value, and every field of every
//! `#[repr(C)]` type is asserted.

use core::mem::{offset_of, size_of};
use kabi::{
    BlockDevice, DeviceDesc, DeviceKind, DeviceOps, DtDevice, FsOps, KernelSymbol, ModVersion,
    ParamDesc, ParamKind, RawSpinLock,
};

/// `(C struct, C field or "" for sizeof, Rust value)`.
fn rust_layout() -> Vec<(&'static str, &'static str, usize)> {
    vec![
        ("struct spinlock", "", size_of::<RawSpinLock>()),
        ("struct dt_device", "", size_of::<DtDevice>()),
        (
            "struct dt_device",
            "reg_base",
            offset_of!(DtDevice, reg_base),
        ),
        (
            "struct dt_device",
            "reg_size",
            offset_of!(DtDevice, reg_size),
        ),
        ("struct dt_device", "nregs", offset_of!(DtDevice, nregs)),
        ("struct dt_device", "irqs", offset_of!(DtDevice, irqs)),
        ("struct dt_device", "nirqs", offset_of!(DtDevice, nirqs)),
        ("struct dt_device", "name", offset_of!(DtDevice, name)),
        ("enum device_kind", "", size_of::<DeviceKind>()),
        ("struct device_ops", "", size_of::<DeviceOps>()),
        ("struct device_ops", "open", offset_of!(DeviceOps, open)),
        (
            "struct device_ops",
            "release",
            offset_of!(DeviceOps, release),
        ),
        ("struct device_ops", "read", offset_of!(DeviceOps, read)),
        ("struct device_ops", "write", offset_of!(DeviceOps, write)),
        ("struct device_ops", "flush", offset_of!(DeviceOps, flush)),
        ("struct device_desc", "", size_of::<DeviceDesc>()),
        ("struct device_desc", "kind", offset_of!(DeviceDesc, kind)),
        ("struct device_desc", "name", offset_of!(DeviceDesc, name)),
        ("struct device_desc", "ops", offset_of!(DeviceDesc, ops)),
        ("struct device_desc", "ctx", offset_of!(DeviceDesc, ctx)),
        ("struct device_desc", "size", offset_of!(DeviceDesc, size)),
        ("struct block_device", "", size_of::<BlockDevice>()),
        (
            "struct block_device",
            "handle",
            offset_of!(BlockDevice, handle),
        ),
        ("struct block_device", "size", offset_of!(BlockDevice, size)),
        ("struct block_device", "read", offset_of!(BlockDevice, read)),
        (
            "struct block_device",
            "write",
            offset_of!(BlockDevice, write),
        ),
        ("struct block_device", "name", offset_of!(BlockDevice, name)),
        ("struct fs_ops", "", size_of::<FsOps>()),
        ("struct fs_ops", "mount", offset_of!(FsOps, mount)),
        ("struct fs_ops", "umount", offset_of!(FsOps, umount)),
        ("struct fs_ops", "stat", offset_of!(FsOps, stat)),
        ("struct fs_ops", "read", offset_of!(FsOps, read)),
        ("struct fs_ops", "readdir", offset_of!(FsOps, readdir)),
        ("struct kernel_symbol", "", size_of::<KernelSymbol>()),
        (
            "struct kernel_symbol",
            "name",
            offset_of!(KernelSymbol, name),
        ),
        (
            "struct kernel_symbol",
            "name_len",
            offset_of!(KernelSymbol, name_len),
        ),
        (
            "struct kernel_symbol",
            "addr",
            offset_of!(KernelSymbol, addr),
        ),
        ("struct kernel_symbol", "crc", offset_of!(KernelSymbol, crc)),
        (
            "struct kernel_symbol",
            "flags",
            offset_of!(KernelSymbol, flags),
        ),
        ("struct modversion_info", "", size_of::<ModVersion>()),
        ("struct modversion_info", "crc", offset_of!(ModVersion, crc)),
        (
            "struct modversion_info",
            "name",
            offset_of!(ModVersion, name),
        ),
        ("enum param_kind", "", size_of::<ParamKind>()),
        ("struct kernel_param", "", size_of::<ParamDesc>()),
        ("struct kernel_param", "name", offset_of!(ParamDesc, name)),
        (
            "struct kernel_param",
            "name_len",
            offset_of!(ParamDesc, name_len),
        ),
        ("struct kernel_param", "kind", offset_of!(ParamDesc, kind)),
        ("struct kernel_param", "ptr", offset_of!(ParamDesc, ptr)),
        ("struct kernel_param", "size", offset_of!(ParamDesc, size)),
    ]
}

/// `(C type, field or "", value)` of each `_Static_assert` in the header.
fn header_layout() -> Vec<(String, String, usize)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/kabi.h");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("_Static_assert(")) {
        let body = &line["_Static_assert(".len()..];
        // `sizeof(T) == N, "msg");` or `offsetof(T, f) == N, "msg");`
        let (expr, _) = body
            .split_once(", \"")
            .unwrap_or_else(|| panic!("bad assert: {line}"));
        let (lhs, value) = expr
            .split_once(" == ")
            .unwrap_or_else(|| panic!("bad assert: {line}"));
        let value: usize = value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad number in: {line}"));
        if let Some(ty) = lhs
            .strip_prefix("sizeof(")
            .and_then(|r| r.strip_suffix(')'))
        {
            out.push((ty.to_string(), String::new(), value));
        } else if let Some(args) = lhs
            .strip_prefix("offsetof(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let (ty, field) = args
                .split_once(", ")
                .unwrap_or_else(|| panic!("bad offsetof in: {line}"));
            out.push((ty.to_string(), field.to_string(), value));
        } else {
            panic!("unrecognised _Static_assert: {line}");
        }
    }
    out
}

#[test]
fn header_layout_asserts_match_the_rust_types() {
    let header = header_layout();
    let rust = rust_layout();
    for (ty, field, value) in &header {
        let what = if field.is_empty() {
            format!("sizeof({ty})")
        } else {
            format!("offsetof({ty}, {field})")
        };
        let r = rust
            .iter()
            .find(|(t, f, _)| t == ty && f == field)
            .unwrap_or_else(|| {
                panic!("kabi.h asserts {what} but this test has no Rust counterpart")
            });
        assert_eq!(
            *value, r.2,
            "kabi.h says {what} == {value}, the Rust type has {}",
            r.2
        );
    }
    for (ty, field, _) in &rust {
        assert!(
            header.iter().any(|(t, f, _)| t == ty && f == field),
            "kabi.h does not assert {ty} {field:?}: add a _Static_assert to the template in tests/c_header.rs"
        );
    }
}

#[test]
fn header_errno_values_match_kabi_errno() {
    use kabi::errno::*;
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/kabi.h")).unwrap();
    let rust = [
        ("EPERM", EPERM),
        ("ENOENT", ENOENT),
        ("EIO", EIO),
        ("ENOEXEC", ENOEXEC),
        ("EAGAIN", EAGAIN),
        ("ENOMEM", ENOMEM),
        ("EFAULT", EFAULT),
        ("EBUSY", EBUSY),
        ("EEXIST", EEXIST),
        ("ENODEV", ENODEV),
        ("ENOTDIR", ENOTDIR),
        ("EISDIR", EISDIR),
        ("EINVAL", EINVAL),
        ("ENOSPC", ENOSPC),
        ("ETIMEDOUT", ETIMEDOUT),
    ];
    for (name, value) in rust {
        assert!(
            text.contains(&format!("\n#define {name} {value}\n")),
            "kabi.h lacks #define {name} {value}"
        );
    }
}

#[test]
fn enum_values_match() {
    assert_eq!(DeviceKind::Char as u32, 0);
    assert_eq!(DeviceKind::Tty as u32, 1);
    assert_eq!(DeviceKind::Block as u32, 2);
    assert_eq!(ParamKind::Int as u32, 0);
    assert_eq!(ParamKind::Bool as u32, 1);
    assert_eq!(ParamKind::Str as u32, 2);
    assert_eq!(ParamKind::Int32 as u32, 3);
    assert_eq!(ParamKind::UInt32 as u32, 4);
    assert_eq!(ParamKind::Long as u32, 5);
    assert_eq!(ParamKind::ULong as u32, 6);
    assert_eq!(ParamKind::Charp as u32, 7);
    assert_eq!(KernelSymbol::UNSAFE_TO_UNLOAD, 1);
    assert_eq!(kabi::ABI_VERSION, 3);
}
