//! Signed modules in QEMU: modules built by `make modules` carry Linux-format
//! signatures by the development key, which the kernel trusts; the tests make
//! variants on the host (unsigned, signed by an unknown key, edited after
//! signing, a broken signature, signed by the RSA-4096/P-256/P-384 test keys
//! that `make test` builds in, signed by Linux's own `sign-file`), put them on
//! a FAT disk and check what the kernel does with each, with and without
//! enforcement.

use qemu_tests::{root, Machine, Opts};
use std::path::{Path, PathBuf};
use std::process::Command;

const MARKER: &[u8] = b"~Module signature appended~\n";

/// A folder of one test's own (tests run in parallel).
fn dir(test: &str) -> PathBuf {
    let d = root().join("target/qemu-tests/signing").join(test);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// The ELF of a signed module: the file less its signature trailer
/// (`[ELF][PKCS#7][module_signature, 12 B][marker, 28 B]`, sig_len big-endian
/// in the last 4 bytes of module_signature).
fn unsigned(signed: &[u8]) -> Vec<u8> {
    assert!(signed.ends_with(MARKER), "the module is not signed");
    let n = signed.len() - MARKER.len();
    let sig_len = u32::from_be_bytes(signed[n - 4..n].try_into().expect("4 bytes")) as usize;
    signed[..n - 12 - sig_len].to_vec()
}

fn modtool() -> PathBuf {
    let p = root().join("target/debug/modtool");
    assert!(p.exists(), "modtool is missing: make modules builds it");
    p
}

/// Signs `file` in place with `key` (private key + certificate in one PEM).
fn sign(file: &Path, key: &Path) {
    sign_with(file, key, "sha256");
}

/// Signs `file` in place with `key`, hashing with `hash` (sha256, sha384, sha512).
fn sign_with(file: &Path, key: &Path, hash: &str) {
    let st = Command::new(modtool())
        .args(["sign", hash])
        .arg(key)
        .arg(key)
        .arg(file)
        .status()
        .expect("modtool sign");
    assert!(st.success(), "modtool sign {}", file.display());
}

fn genkey(out: &Path, kind: &str) {
    if out.exists() {
        return;
    }
    let st = Command::new(root().join("kernel/modsign/genkey.sh"))
        .arg(out)
        .arg(kind)
        .status()
        .expect("genkey.sh");
    assert!(st.success(), "genkey {kind}");
}

/// A FAT disk (made like `make disk`) holding `files`.
fn disk(test: &str, files: &[PathBuf]) -> PathBuf {
    let out = dir(test).join("disk.img");
    let st = Command::new(root().join("qemu/mkdisk.sh"))
        .arg(&out)
        .arg("16")
        .args(files)
        .status()
        .expect("qemu/mkdisk.sh");
    assert!(st.success(), "mkdisk");
    out
}

fn machine(disk: &Path, append: Option<&str>) -> Machine {
    Machine::boot(&Opts {
        initrd: Some(root().join("build/initrd-all.cpio")),
        append: append.map(String::from),
        extra: vec![
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d0", disk.display()),
            "-device".to_string(),
            "virtio-blk-device,drive=d0".to_string(),
        ],
        ..Opts::default()
    })
}

/// hello.ko variants on the host, by name.
fn variants(test: &str) -> Vec<PathBuf> {
    let signed =
        std::fs::read(root().join("build/modules/hello.ko")).expect("build/modules/hello.ko");
    let elf = unsigned(&signed);
    let d = dir(test);
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).expect("write variant");
        p
    };
    let plain = write("plain.ko", &elf);
    // Signed by a key the kernel does not know: each test its own, since
    // tests run in parallel and one making the key while another signs
    // with it reads a key and a certificate from two different files.
    let stranger = d.join("stranger.pem");
    genkey(&stranger, "p256");
    let unknown = write("unknown.ko", &elf);
    sign(&unknown, &stranger);
    // One byte of the code changed after signing.
    let mut edited = signed.clone();
    edited[elf.len() / 2] ^= 0x01;
    let edited = write("edited.ko", &edited);
    // The PKCS#7 message's outer SEQUENCE tag broken.
    let mut broken = signed.clone();
    broken[elf.len()] ^= 0xff;
    let broken = write("broken.ko", &broken);
    let mut out = vec![plain, unknown, edited, broken];
    for key in ["rsa4096", "p256", "p384"] {
        let p = write(&format!("{key}.ko"), &elf);
        sign(&p, &root().join(format!("build/test-keys/{key}.pem")));
        out.push(p);
    }
    out
}

#[test]
fn signed_modules_load_untainted_and_modinfo_names_the_signer() {
    let d = disk("good", &variants("good"));
    let mut m = machine(&d, None);
    let out = m.run("insmod /initrd/hello.ko");
    assert!(out.contains("hello: loaded at"), "{out}");
    assert!(!out.contains("tainting"), "{out}");
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
    let info = m.run("modinfo /initrd/hello.ko");
    for want in [
        "sig_id:         PKCS#7",
        "signer:         unikernel development module signing key on",
        "sig_hashalgo:   sha256",
    ] {
        assert!(info.contains(want), "{want:?} in {info}");
    }
    assert!(m.run("modinfo hello").contains("signer:"));
    m.run("rmmod hello");
    // The RSA-4096, P-256 and P-384 test keys are built into test kernels.
    for key in ["rsa4096", "p256", "p384"] {
        let out = m.run(&format!("insmod /disk/{key}.ko"));
        assert!(out.contains("hello: loaded at"), "{key}: {out}");
        assert!(m.run("modinfo hello").contains("signer:"), "{key}");
        m.run("rmmod hello");
    }
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
    let dmesg = m.run("dmesg");
    assert!(dmesg.contains("Loaded X.509 cert '"), "{dmesg}");
}

/// SHA-384 and SHA-512 signatures (Linux's MODULE_SIG_SHA384/SHA512; recent
/// kernels sign with SHA-512 by default) go through the kernel's generic
/// SHA-512 code (sha2's compact form; no SHA-512 instructions are declared),
/// the one digest path `sha2-ce` does not cover: they load under enforcement,
/// and the same file with one byte changed is refused.
#[test]
fn sha384_and_sha512_signatures_load_under_enforcement() {
    let signed = std::fs::read(root().join("build/modules/hello.ko")).expect("hello.ko");
    let elf = unsigned(&signed);
    let mut files = Vec::new();
    for hash in ["sha384", "sha512"] {
        let p = dir("sha512").join(format!("{hash}.ko"));
        std::fs::write(&p, &elf).expect("write");
        sign_with(&p, &root().join("build/signing_key.pem"), hash);
        let mut bad = std::fs::read(&p).expect("read");
        bad[elf.len() / 3] ^= 0x40;
        let q = dir("sha512").join(format!("{hash}-edited.ko"));
        std::fs::write(&q, bad).expect("write");
        files.extend([p, q]);
    }
    let d = disk("sha512", &files);
    let mut m = machine(&d, Some("module.sig_enforce=1"));
    for hash in ["sha384", "sha512"] {
        let info = m.run(&format!("modinfo /disk/{hash}.ko"));
        assert!(info.contains(&format!("sig_hashalgo:   {hash}")), "{info}");
        let out = m.run(&format!("insmod /disk/{hash}.ko"));
        assert!(out.contains("hello: loaded at"), "{hash}: {out}");
        m.run("rmmod hello");
        let out = m.run(&format!("insmod /disk/{hash}-edited.ko"));
        assert!(
            out.contains("Key was rejected by service"),
            "{hash} edited: {out}"
        );
    }
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
}

#[test]
fn unsigned_and_unknown_keys_taint_until_enforced_then_are_refused() {
    let d = disk("policy", &variants("policy"));
    let mut m = machine(&d, None);
    let out = m.run("insmod /disk/plain.ko");
    assert!(
        out.contains(
            "hello: module verification failed: signature and/or required key missing - tainting kernel"
        ),
        "{out}"
    );
    assert!(out.contains("hello: loaded at"), "{out}");
    let lsmod = m.run("lsmod");
    assert!(
        lsmod
            .lines()
            .any(|l| l.starts_with("hello ") && l.ends_with(" (E)")),
        "{lsmod}"
    );
    assert!(m
        .run("taint")
        .starts_with("8192\nTainted: G            E\n"));
    m.run("rmmod hello");
    let out = m.run("insmod /disk/unknown.ko");
    assert!(out.contains("hello: loaded at"), "{out}");
    m.run("rmmod hello");

    assert_eq!(m.run("sig_enforce on"), "sig_enforce: on\n");
    for (file, why) in [("plain", "unsigned"), ("unknown", "unknown key")] {
        let out = m.run(&format!("insmod /disk/{file}.ko"));
        assert!(
            out.contains(&format!(
                "insmod: ERROR: could not insert '{file}': Key was rejected by service"
            )),
            "{why}: {out}"
        );
    }
    assert!(!m.run("lsmod").contains("hello"));
    // Good signatures still load under enforcement.
    assert!(m
        .run("insmod /initrd/hello.ko")
        .contains("hello: loaded at"));
    assert_eq!(
        m.run("sig_enforce off"),
        "sig_enforce: cannot turn enforcement off (it stays on until reboot)\n"
    );
}

#[test]
fn bad_signatures_are_refused_even_without_enforcement() {
    let d = disk("bad", &variants("bad"));
    let mut m = machine(&d, None);
    // The first read from /disk allocates the disk's read-ahead windows.
    m.run("cat /disk/edited.ko");
    let before = m.heap_used();
    let out = m.run("insmod /disk/edited.ko");
    assert!(
        out.contains("insmod: ERROR: could not insert 'edited': Key was rejected by service"),
        "{out}"
    );
    let out = m.run("insmod /disk/broken.ko");
    assert!(
        out.contains("insmod: ERROR: could not insert 'broken': Bad message"),
        "{out}"
    );
    assert!(!m.run("lsmod").contains("hello"));
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
    assert_eq!(m.heap_used(), before);
}

#[test]
fn boot_argument_enforces_from_the_start() {
    let d = disk("boot", &variants("boot"));
    let mut m = machine(&d, Some("module.sig_enforce=1"));
    assert_eq!(m.run("sig_enforce"), "sig_enforce: on\n");
    // The boot modules (signed) were coldplugged as usual.
    assert!(m.run("lsmod").contains("virtio_mmio"));
    assert!(m
        .run("insmod /disk/plain.ko")
        .contains("Key was rejected by service"));
    assert!(m.run("insmod /disk/p384.ko").contains("hello: loaded at"));
}

/// Modules signed by Linux's own scripts/sign-file (Debian's linux-kbuild-6.1)
/// load when its certificate is trusted: the development key signs them here.
#[test]
fn linux_sign_file_signatures_load() {
    let out = Command::new(root().join("kernel/modsign/tests/get-sign-file.sh"))
        .output()
        .expect("get-sign-file.sh");
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var_os("CI").is_none(),
            "Linux's sign-file cannot be had in CI: {why}"
        );
        eprintln!("skipped: Linux's sign-file cannot be had here: {why}");
        return;
    }
    let sign_file = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let signed = std::fs::read(root().join("build/modules/hello.ko")).expect("hello.ko");
    let mut files = Vec::new();
    for (name, key) in [
        ("linux-rsa.ko", root().join("build/signing_key.pem")),
        ("linux-p256.ko", root().join("build/test-keys/p256.pem")),
    ] {
        let p = dir("linux").join(name);
        std::fs::write(&p, unsigned(&signed)).expect("write");
        let st = Command::new(&sign_file)
            .arg("sha256")
            .arg(&key)
            .arg(&key)
            .arg(&p)
            .status()
            .expect("sign-file");
        assert!(st.success(), "sign-file {name}");
        files.push(p);
    }
    let d = disk("linux", &files);
    let mut m = machine(&d, Some("module.sig_enforce=1"));
    for name in ["linux-rsa", "linux-p256"] {
        let out = m.run(&format!("insmod /disk/{name}.ko"));
        assert!(out.contains("hello: loaded at"), "{name}: {out}");
        m.run("rmmod hello");
    }
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
}

/// `sigbench` (make bench's signing figures) times a signed module, names the
/// SHA-256 path, and refuses what it cannot time with a message, not a panic.
#[test]
fn sigbench_times_signed_modules_and_refuses_the_others() {
    let d = disk("sigbench", &variants("sigbench"));
    let mut m = machine(&d, None);
    let out = m.run("sigbench /initrd/hello.ko 2");
    assert!(
        out.starts_with("sigbench: file=/initrd/hello.ko signed_bytes="),
        "{out}"
    );
    assert!(
        out.contains(" key=rsa2048 hash=sha256 sha256_path=sha2-ce iterations=2 "),
        "{out}"
    );
    for figure in [
        "sigbench: hash_us=",
        "sigbench: verify_us=",
        "sigbench: sigcheck_us=",
    ] {
        assert!(out.contains(figure), "{figure} in {out}");
    }
    assert!(m
        .run("sigbench /disk/p384.ko 1")
        .contains(" key=p384 hash=sha256 "));
    let out = m.run("sigbench /disk/plain.ko");
    assert!(
        out.starts_with("sigbench: /disk/plain.ko: no signature to time: "),
        "{out}"
    );
    let out = m.run("sigbench /disk/unknown.ko");
    assert!(
        out.starts_with("sigbench: /disk/unknown.ko: does not verify here: "),
        "{out}"
    );
    let out = m.run("sigbench /disk/edited.ko");
    assert!(
        out.starts_with("sigbench: /disk/edited.ko: does not verify here: "),
        "{out}"
    );
    assert!(m
        .run("sigbench /initrd/hello.ko 0")
        .starts_with("Usage: sigbench PATH [N]"));
    assert!(m
        .run("sigbench /disk/missing.ko")
        .starts_with("sigbench: /disk/missing.ko: "));
    assert_eq!(m.run("taint"), "0\nNot tainted\n");
}
