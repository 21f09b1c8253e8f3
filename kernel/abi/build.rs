//! Gives the crate the compiler's version (`KABI_RUSTC`, as `rustc -V` prints
//! it). The version CRC of an export that passes `core`'s own types
//! (`[rust_abi]` in `kernel_api!`: `core::fmt::Arguments`, `PanicInfo`, whose
//! layout only the compiler knows) includes it, so the kernel refuses a module
//! built by another compiler the way Linux refuses one whose symbol versions
//! disagree.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-V")
        .output()
        .unwrap_or_else(|e| panic!("kabi: cannot run `{rustc} -V`: {e}"));
    assert!(out.status.success(), "kabi: `{rustc} -V` failed");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("cargo:rustc-env=KABI_RUSTC={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
