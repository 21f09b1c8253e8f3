//! The PL011 driver module and the console: the shell moves to the module's
//! interrupt-driven tty when it loads, holds it (so `rmmod pl011` is refused),
//! moves back with `console early`, and moves again to a reloaded driver,
//! without losing typed input at any switch. Input piped in faster than the
//! shell runs (issue 11) reaches it whole, on the early console and on the
//! module's tty.

use qemu_tests::{with_initrd, Burst, Machine, Opts, CMD_TIMEOUT, PROMPT};

#[test]
fn pl011_module_takes_the_console_and_can_be_swapped_live() {
    // Coldplug at boot loads pl011 for the DT's arm,pl011 node.
    let mut m = Machine::boot(&with_initrd());
    let out = m.run("dmesg");
    assert!(
        out.contains("pl011: ttyAMA0 at MMIO 0x9000000 (irq = 33) is a PL011 rev3"),
        "{out}"
    );
    assert!(out.contains("console [ttyAMA0] enabled"), "{out}");
    let coldplug = out
        .lines()
        .find(|l| l.contains("coldplug: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        coldplug
            .split("drivers loaded:")
            .nth(1)
            .is_some_and(|l| l.split_whitespace().any(|m| m == "pl011")),
        "{coldplug}"
    );
    let lsdev = m.run("lsdev");
    assert!(
        lsdev.lines().any(|l| l.starts_with("pl011@9000000")
            && l.contains("of:Npl011TCarm,pl011Carm,primecell")
            && l.ends_with(" pl011")),
        "{lsdev}"
    );
    assert!(
        lsdev
            .lines()
            .any(|l| l.starts_with("pl031@9010000") && l.ends_with("(no driver)")),
        "{lsdev}"
    );
    assert_eq!(m.run("console"), "console: ttyAMA0\n");
    // Typed input now arrives by the receive interrupt.
    assert_eq!(m.run("echo through the tty"), "through the tty\n");
    let irqs = m.run("interrupts");
    let line = irqs
        .lines()
        .find(|l| l.contains("ttyAMA0"))
        .unwrap_or_else(|| panic!("{irqs}"));
    let count: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count > 0 && line.ends_with("module"), "{line}");
    assert_eq!(
        m.run("rmmod pl011"),
        "rmmod: ERROR: Module pl011 is in use by: ttyAMA0 (1 open)\n"
    );

    // Hand the console back and type the next commands in the same burst:
    // nothing typed during the switch may be lost.
    m.send(b"console early\recho one\recho two\r");
    m.expect("back to the early console", CMD_TIMEOUT);
    m.expect("\none\n", CMD_TIMEOUT);
    m.expect("\ntwo\n", CMD_TIMEOUT);
    m.expect(PROMPT, CMD_TIMEOUT);
    assert!(m.run("rmmod pl011").contains("pl011: unloaded"));
    assert_eq!(m.run("console"), "console: early (polled PL011)\n");

    // A new driver instance takes over again; typed bytes queued across it.
    m.send(b"insmod /initrd/pl011.ko\recho three\r");
    m.expect("console [ttyAMA0] enabled", CMD_TIMEOUT);
    m.expect("\nthree\n", CMD_TIMEOUT);
    m.expect(PROMPT, CMD_TIMEOUT);
    assert_eq!(m.run("console"), "console: ttyAMA0\n");
    assert_eq!(
        m.run("lsmod")
            .lines()
            .filter(|l| l.starts_with("pl011 "))
            .count(),
        1
    );
}

/// Types issue 11's burst (1,022 bytes in one write) and checks that the
/// shell echoed every command line and ran every command, byte for byte.
fn burst_arrives_whole(m: &mut Machine) {
    let burst = Burst::new();
    let out = burst.type_into(m);
    let runs: Vec<&str> = out.text.split(PROMPT).collect();
    assert_eq!(runs.len(), 11, "{}", out.text);
    assert!(runs[0].starts_with("uptime\nup "), "{}", runs[0]);
    for (run, payload) in runs[1..9].iter().zip(&burst.payloads) {
        assert_eq!(*run, format!("echo {payload}\n{payload}\n"));
    }
    assert!(runs[9].starts_with("uptime\nup "), "{}", runs[9]);
    assert_eq!(runs[10], "");
}

#[test]
fn piped_input_reaches_the_early_console_whole() {
    // No initrd: the kernel's own polled console, woken by the UART's interrupt.
    let mut m = Machine::boot(&Opts::default());
    assert_eq!(m.run("console"), "console: early (polled PL011)\n");
    burst_arrives_whole(&mut m);
    let irqs = m.run("interrupts");
    assert!(
        irqs.lines()
            .any(|l| l.contains("early console") && l.ends_with("kernel")),
        "{irqs}"
    );
}

#[test]
fn piped_input_reaches_the_pl011_tty_whole() {
    let mut m = Machine::boot(&with_initrd());
    assert_eq!(m.run("console"), "console: ttyAMA0\n");
    burst_arrives_whole(&mut m);
    // Back on the early console once the module is gone: it takes the
    // interrupt back and a second burst arrives whole as well.
    m.send(b"console early\r");
    m.expect("back to the early console", CMD_TIMEOUT);
    m.expect(PROMPT, CMD_TIMEOUT);
    assert!(m.run("rmmod pl011").contains("pl011: unloaded"));
    burst_arrives_whole(&mut m);
    assert!(m.run("interrupts").contains("early console"));
}
