//! The shell on the default machine: every command, line editing, early input.

use qemu_tests::{Machine, Opts, CMD_TIMEOUT, PROMPT};
use std::time::Duration;

#[test]
fn every_shell_command_answers() {
    let mut m = Machine::boot(&Opts {
        append: Some("loglevel=7 hello=\"a b\"".into()),
        ..Opts::default()
    });
    let help = m.run("help");
    for c in [
        "help",
        "dmesg",
        "uptime",
        "mem",
        "devices",
        "interrupts",
        "bootargs",
        "poweroff",
        "reboot",
        "panic",
        "fault",
    ] {
        assert!(help.contains(&format!("  {c} ")), "help lacks {c}:\n{help}");
    }

    let dmesg = m.run("dmesg");
    assert!(
        dmesg.contains("] Booting kernel on linux,dummy-virt"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("Memory: [mem 0x0000000040000000-0x000000004fffffff] 256 MiB"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("GICv2: ") || dmesg.contains("GICv3: "),
        "{dmesg}"
    );
    assert!(dmesg.contains("psci: using PSCI v0.2+ via hvc"), "{dmesg}");

    assert_eq!(m.run("bootargs").trim(), "loglevel=7 hello=\"a b\"");

    let mem = m.run("mem");
    assert!(
        mem.lines()
            .any(|l| l.starts_with("RAM:") && l.ends_with(" 256 MiB")),
        "{mem}"
    );
    assert!(mem.contains("heap:"), "{mem}");

    let devices = m.run("devices");
    let uart = devices
        .lines()
        .find(|l| l.starts_with("pl011@9000000"))
        .unwrap_or_else(|| panic!("{devices}"));
    assert!(
        uart.contains("arm,pl011") && uart.contains("0x09000000+0x1000") && uart.ends_with(" 33"),
        "{uart}"
    );
    assert_eq!(
        devices
            .lines()
            .filter(|l| l.contains("virtio,mmio"))
            .count(),
        32,
        "{devices}"
    );

    // The tick is running: uptime advances and the timer IRQ counts.
    std::thread::sleep(Duration::from_millis(300));
    let up = m.run("uptime");
    assert!(up.starts_with("up 0:00:0"), "{up}");
    let ticks: u64 = up
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(ticks > 0, "no timer ticks: {up}");
    let irqs = m.run("interrupts");
    assert!(
        irqs.lines()
            .any(|l| l.contains("arch_timer") && l.trim_start().starts_with("27 ")),
        "{irqs}"
    );

    assert_eq!(m.run("echo one  two"), "one two\n");
    assert_eq!(m.run("frobnicate"), "sh: frobnicate: command not found\n");
}

#[test]
fn line_editing_backspace_ctrl_c_and_early_input() {
    let mut m = Machine::start(&Opts::default());
    // Typed before the prompt exists: must not be lost.
    m.send(b"echo early-bird\r");
    m.expect("early-bird\n", Duration::from_secs(60));
    m.expect(PROMPT, CMD_TIMEOUT);
    // Backspace (DEL and BS) edits the line.
    m.send(b"echo abX\x7fc\x08d\r");
    let out = m.expect(PROMPT, CMD_TIMEOUT);
    assert!(out.contains("\nabd\n"), "{out:?}");
    // Ctrl-C drops the line: the command never runs.
    m.send(b"frobnicate\x03");
    m.expect("^C\n", CMD_TIMEOUT);
    m.expect(PROMPT, CMD_TIMEOUT);
    assert_eq!(m.run("echo after"), "after\n");
    assert!(!m.transcript().contains("frobnicate: command not found"));
}

#[test]
fn poweroff_exits_qemu_with_status_0() {
    let mut m = Machine::boot(&Opts::default());
    m.send(b"poweroff\r");
    let status = m.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", m.transcript());
}

#[test]
fn reboot_resets_the_machine() {
    // With -no-reboot, QEMU exits when the guest resets.
    let mut m = Machine::boot(&Opts {
        extra: vec!["-no-reboot".into()],
        ..Opts::default()
    });
    m.send(b"reboot\r");
    let status = m.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(m.transcript().contains("reboot: Restarting system"));
}

/// The image `make run` boots (`make kernel-default`: the signing key's
/// certificate only, no `SELFTEST`) leaves the self-tests and ECDSA out, says
/// so for a self-test's name, and still loads signed modules.
#[test]
fn the_default_image_leaves_out_selftests_and_ecdsa() {
    let dir = qemu_tests::root().join("build/default");
    let elf = std::fs::read(dir.join("kernel.elf"))
        .expect("build/default/kernel.elf is missing: run `make kernel-default` (make test does)");
    let has = |name: &[u8]| elf.windows(name.len()).any(|w| w == name);
    // Symbol names in .strtab: the P-256 verifier and the self-test commands.
    assert!(
        !has(b"p256_verify"),
        "ECDSA is built into the default image"
    );
    assert!(
        !has(b"8selftest9modstress"),
        "the self-tests are built into the default image"
    );
    assert!(has(b"rsa_verify"), "RSA is missing from the default image");
    let default = std::fs::metadata(dir.join("kernel.img"))
        .expect("kernel.img")
        .len();
    let full = std::fs::metadata(qemu_tests::kernel_image())
        .expect("kernel.img")
        .len();
    assert!(default < full, "default {default} bytes, test image {full}");

    let mut m = Machine::boot(&Opts {
        kernel: Some(dir.join("kernel.img")),
        initrd: Some(qemu_tests::root().join("build/initrd-all.cpio")),
        ..Opts::default()
    });
    assert_eq!(
        m.run("modstress 1 /initrd/pl011.ko"),
        "sh: modstress: a self-test, not built in (make run SELFTEST=1)\n"
    );
    assert!(!m.run("help").contains("modstress"));
    assert_eq!(m.run("nosuch"), "sh: nosuch: command not found\n");
    // A module verified against the signing key's certificate.
    let out = m.run("insmod /initrd/hello.ko");
    assert!(out.contains("hello: loaded at"), "{out}");
    let dmesg = m.run("dmesg");
    assert!(dmesg.contains("Loaded X.509 cert '"), "{dmesg}");
    assert!(!dmesg.contains("module verification failed"), "{dmesg}");
    let taint = m.run("taint");
    assert!(taint.starts_with("0\n"), "{taint}");
    let lsmod = m.run("lsmod");
    assert!(lsmod.lines().any(|l| l.starts_with("hello ")), "{lsmod}");
    assert!(m.run("modinfo hello").contains("signer:"));
}
