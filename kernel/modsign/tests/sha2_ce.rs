//! The SHA-256 instruction path (the one the kernel takes once it declares
//! FEAT_SHA256) gives the generic path's digests, and RSA verification's
//! Montgomery row kernel in assembly the portable kernel's products: `ce-check.sh` builds it for
//! aarch64-unknown-none and runs it under qemu-aarch64 -cpu max. Needs Debian's
//! qemu-user and gcc-aarch64-linux-gnu (`make deps` installs both; this test
//! tries apt-get itself); skipped with the reason when they cannot be had,
//! except under CI, where that is a failure.

use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn sha256_instructions_match_the_generic_code() {
    let needed = [
        ("qemu-aarch64", "qemu-user"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(_, p)| *p)
        .collect();
    if !missing.is_empty() {
        let script = format!(
            "if [ \"$(id -u)\" = 0 ]; then s=; else s='sudo -n'; fi; export DEBIAN_FRONTEND=noninteractive; \
             $s apt-get update -qq && $s apt-get install -y -qq --no-install-recommends {}",
            missing.join(" ")
        );
        let _ = Command::new("sh").args(["-c", &script]).status();
    }
    if let Some((tool, package)) = needed.iter().find(|(t, _)| !have(t)) {
        let why = format!("{tool} not found and Debian package {package} could not be installed");
        if std::env::var_os("CI").is_some() {
            panic!("{why} (CI must run this test)");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ce-check.sh");
    let out = Command::new(script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ce-check.sh failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sha2-ce matches generic SHA-256"),
        "{stdout}"
    );
    assert!(
        stdout.contains("assembly Montgomery row kernel matches the portable one"),
        "{stdout}"
    );
}
