//! Every CPU running: secondaries started with PSCI CPU_ON on GICv2 and
//! GICv3, entered at EL1 and EL2, 1 to 8 CPUs; each takes its own timer
//! tick; `cpus` lists them.

use qemu_tests::{Machine, Opts};

/// Boots with `opts`, waits, and returns `cpus` as (number, state, ticks).
fn cpus_after_a_while(opts: &Opts) -> Vec<(usize, String, u64)> {
    let mut m = Machine::boot(opts);
    m.run("sleep 0.3");
    let out = m.run("cpus");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("CPU  STATE    MPIDR         IRQS      TICKS"),
        "{out}"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "{out}");
            (
                f[0].parse().expect("cpu number"),
                f[1].to_string(),
                f[4].parse().expect("ticks"),
            )
        })
        .collect()
}

fn all_online_and_ticking(opts: Opts, n: usize) {
    let cpus = cpus_after_a_while(&opts);
    assert_eq!(cpus.len(), n, "{cpus:?}");
    for (i, (num, state, ticks)) in cpus.iter().enumerate() {
        assert_eq!(*num, i);
        assert_eq!(state, "online", "{cpus:?}");
        // 0.3 s at 100 Hz is 30 ticks; boot adds some.
        assert!(*ticks >= 20, "CPU{num} took only {ticks} ticks: {cpus:?}");
    }
}

#[test]
fn four_cpus_on_gicv2() {
    all_online_and_ticking(
        Opts {
            smp: Some(4),
            ..Opts::default()
        },
        4,
    );
}

#[test]
fn four_cpus_on_gicv3_entered_at_el2() {
    all_online_and_ticking(
        Opts {
            smp: Some(4),
            gic: Some(3),
            el: Some(2),
            cpu: Some("max"),
            ..Opts::default()
        },
        4,
    );
}

#[test]
fn eight_cpus_on_gicv3() {
    all_online_and_ticking(
        Opts {
            smp: Some(8),
            gic: Some(3),
            ..Opts::default()
        },
        8,
    );
}

#[test]
fn one_cpu_is_just_the_boot_cpu() {
    all_online_and_ticking(Opts::default(), 1);
}

#[test]
fn the_boot_log_names_every_secondary() {
    let mut m = Machine::boot(&Opts {
        smp: Some(2),
        ..Opts::default()
    });
    let dmesg = m.run("dmesg");
    assert!(
        dmesg.contains("CPU1: Booted secondary processor 0x0000000001"),
        "{dmesg}"
    );
    assert!(dmesg.contains("smp: Brought up 1 node, 2 CPUs"), "{dmesg}");
}

/// Timers expire at their deadline, not at the 100 Hz tick: a module's 1 ms
/// periodic timer fires 1,000 (±1%) times a second of guest time.
#[test]
fn a_1ms_periodic_timer_fires_1000_times_a_second() {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        ..qemu_tests::with_initrd()
    });
    let out = m.run("insmod /initrd/ticker.ko period_us=1000");
    assert!(out.contains("ticker: ticking every 1000 us"), "{out}");
    m.run("sleep 1.5");
    let out = m.run("cat /dev/ticker0");
    let f: Vec<&str> = out.split_whitespace().collect();
    assert!(f.len() == 5 && f[1] == "fires" && f[4] == "us", "{out}");
    let fires: f64 = f[0].parse().expect("fires");
    let us: f64 = f[3].parse().expect("us");
    let rate = fires * 1e6 / us;
    assert!(
        (990.0..=1010.0).contains(&rate),
        "{rate:.1} fires a second ({out})"
    );
    assert!(m.run("rmmod ticker").contains("ticker: unloaded"));
}
