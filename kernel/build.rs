//! Links the kernel with the project's link script when building for the
//! target, and brings in the build inputs that come from outside the source
//! tree:
//! the trusted module-signing certificates (`KERNEL_TRUSTED_CERTS`, a file of
//! concatenated DER certificates that `make` writes from `SIGN_KEY` and
//! `TRUSTED_CERTS`; none when unset), read here into the compact list the
//! kernel's keyring is built from (`modsign::compact`: boot then runs no
//! X.509 decoder), and the permanent signature-enforcement
//! option (`KERNEL_MODULE_SIG_FORCE=1`, Linux's CONFIG_MODULE_SIG_FORCE).
//! A trusted EC certificate needs feature `sig-ecdsa`; its absence is an
//! error here rather than a key the kernel reads as unsupported at run time.

use modsign::KeyAlgorithm;
use std::path::PathBuf;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.ends_with("-none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/../aarch64-virt.ld");
        println!("cargo:rerun-if-changed={dir}/../aarch64-virt.ld");
    }
    println!("cargo:rerun-if-env-changed=KERNEL_TRUSTED_CERTS");
    println!("cargo:rerun-if-env-changed=KERNEL_MODULE_SIG_FORCE");
    println!("cargo::rustc-check-cfg=cfg(module_sig_force)");
    if std::env::var("KERNEL_MODULE_SIG_FORCE").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=module_sig_force");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let certs = match std::env::var_os("KERNEL_TRUSTED_CERTS") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            std::fs::read(&path).unwrap_or_else(|e| {
                panic!("KERNEL_TRUSTED_CERTS={}: {e}", path.display());
            })
        }
        _ => Vec::new(),
    };
    let keys = modsign::compact::encode(&certs);
    let ecdsa = std::env::var_os("CARGO_FEATURE_SIG_ECDSA").is_some();
    for cert in modsign::compact::decode(&keys) {
        match cert {
            Err(e) => println!("cargo::warning=built-in certificate not usable ({e}); the kernel will log it at boot"),
            // Like Linux's MODULE_SIG_KEY_TYPE_ECDSA selecting CRYPTO_ECDSA:
            // an EC certificate the kernel could not use is a build error.
            Ok(c) if !ecdsa && matches!(c.algorithm(), Some(KeyAlgorithm::P256 | KeyAlgorithm::P384)) => {
                panic!(
                    "trusted certificate '{}' has an ECDSA {:?} key: build the kernel with \
                     `--features sig-ecdsa` (make adds it when TRUSTED_CERTS or SIGN_KEY is EC)",
                    c.signer,
                    c.algorithm().expect("matched above"),
                );
            }
            Ok(_) => {}
        }
    }
    std::fs::write(out.join("trusted_keys.bin"), keys).expect("write OUT_DIR/trusted_keys.bin");
}
