//! Links the kernel with the project's link script when building for the target.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.ends_with("-none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/../aarch64-virt.ld");
        println!("cargo:rerun-if-changed={dir}/../aarch64-virt.ld");
    }
}
