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
