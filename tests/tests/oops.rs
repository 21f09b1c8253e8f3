//! The oops and panic paths: a real data abort and a Rust panic are reported the
//! way Linux reports them, with symbolized backtraces, and the kernel halts.

use qemu_tests::{Machine, Opts};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn fault_command_prints_linux_style_oops_and_halts() {
    let mut m = Machine::boot(&Opts::default());
    m.send(b"fault\r");
    let oops = m.expect(
        "---[ end Kernel panic - not syncing: Oops: Fatal exception ]---",
        T,
    );
    for want in [
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
        "  EC = 0x25: DABT (current EL), IL = 32 bits",
        "translation fault",
        "Internal error: Oops: 0000000096",
        "pc : kernel::shell::cmd_fault+0x",
        "x29: ",
        "Call trace:",
        "kernel::shell::execute+0x",
        "kernel::shell::run+0x",
        "Kernel panic - not syncing: Oops: Fatal exception",
    ] {
        assert!(oops.contains(want), "missing {want:?} in:\n{oops}");
    }
    // Halted: the shell no longer answers.
    m.send(b"echo alive\r");
    assert!(m.wait_for("alive\n", Duration::from_millis(1500)).is_err());
}

#[test]
fn panic_command_reports_and_panic_bootarg_reboots() {
    let mut m = Machine::boot(&Opts {
        append: Some("panic=1".into()),
        extra: vec!["-no-reboot".into()],
        ..Opts::default()
    });
    m.send(b"panic\r");
    let out = m.expect("Rebooting in 1 seconds..", T);
    assert!(
        out.contains("kernel BUG: requested from the shell at kernel/src/shell/mod.rs:"),
        "{out}"
    );
    assert!(
        out.contains("Call trace:") && out.contains("kernel::shell::cmd_panic"),
        "{out}"
    );
    assert!(
        out.contains("Kernel panic - not syncing: requested from the shell"),
        "{out}"
    );
    let status = m.wait_exit(T);
    assert!(status.success(), "{status}");
}

/// With 4 CPUs, NULL is still unmapped (a CPU node's MPIDR is not a device
/// range), and an oops stops the other CPUs, each reporting where it was.
#[test]
fn an_oops_on_4_cpus_stops_the_others_and_prints_each() {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        gic: Some(3),
        ..Opts::default()
    });
    m.send(b"fault\r");
    let oops = m.expect(
        "---[ end Kernel panic - not syncing: Oops: Fatal exception ]---",
        T,
    );
    assert!(
        oops.contains("Unable to handle kernel NULL pointer dereference"),
        "{oops}"
    );
    for cpu in 1..4 {
        let want = format!("CPU{cpu}: stopping; pc : ");
        assert!(oops.contains(&want), "missing {want:?} in:\n{oops}");
    }
}

/// The exception entry gives interrupted code back its FP/SIMD registers
/// (the kernel's code keeps values in them), and an abandoned module call
/// gives its caller back d8..d15: `fpirqtest` holds a pattern in every
/// register while interrupts that overwrite them all arrive, and across a
/// guarded call that changes d8..d15 and is abandoned. Without the saves
/// both lines read FAILED (checked by hand when they were added).
#[test]
fn fp_simd_registers_survive_interrupts_and_abandoned_calls() {
    let mut m = Machine::boot(&Opts::default());
    let out = m.run("fpirqtest 20");
    assert!(
        out.contains(
            "fpirqtest: v0-v31 and FPSR intact across 20 interrupts that overwrote them on CPU0"
        ),
        "{out}"
    );
    assert!(
        out.contains("fpirqtest: d8-d15 intact across an abandoned guarded call that changed them"),
        "{out}"
    );
    assert!(!out.contains("FAILED"), "{out}");
    assert_eq!(
        m.run("fpirqtest 0"),
        "Usage: fpirqtest [N] (N: 1 to 1000 interrupts)\n"
    );
    // The machine is still usable: interrupts kept arriving and the shell runs.
    assert!(m.run("uptime").contains("up"), "uptime");
}

/// The kernel's own `memcmp`/`bcmp`, `memcpy` and `memset` (assembly, eight
/// or more bytes a step once the MMU is on) and the loader's NEON
/// `copy_changed`/`zero_changed` agree with byte loops for every length up
/// to 200 at every offset 0..8 and a difference at every position (a swapped
/// `memcmp` sign fails it: checked by hand when it was added).
#[test]
fn memory_routines_agree_with_byte_loops() {
    let mut m = Machine::boot(&Opts::default());
    let out = m.run("memtest");
    assert!(out.contains("memtest: 334464 checks passed"), "{out}");
}
