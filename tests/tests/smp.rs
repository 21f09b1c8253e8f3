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
    all_online_and_ticking(
        Opts {
            smp: Some(1),
            ..Opts::default()
        },
        1,
    );
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

/// The numbers of `smpstress`'s summary line for `cycles` cycles of
/// `module`: [cycles, readers, unloaded, refused]; checks they add up and
/// that no error was reported and the heap ended where it began.
fn stress_summary(out: &str, cycles: u64, module: &str) -> Vec<u64> {
    let head = format!("smpstress: {cycles} cycles of {module} with 3 reader CPUs: ");
    let summary = out
        .lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("{out}"));
    let nums: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 4, "{summary}");
    assert_eq!(nums[2] + nums[3], cycles, "{out}");
    assert!(!out.contains("smpstress: error:"), "{out}");
    assert!(out.contains("(difference 0)"), "{out}");
    nums
}

/// The SMP unload stress: three CPUs read the module's device in a loop and
/// run its work items (queued by its 1 ms timer onto every CPU) while CPU 0
/// loads it, lets it run and unloads it 1,000 times. Every rmmod succeeds or
/// is refused naming the holder, no CPU faults or hangs, and heap and pages
/// end where they began.
fn stress(gic: u32) {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        gic: Some(gic),
        ..qemu_tests::with_initrd()
    });
    let out = m.run_for(
        "smpstress 1000 /initrd/smpstress.ko stress0",
        std::time::Duration::from_secs(240),
    );
    let nums = stress_summary(&out, 1000, "smpstress");
    assert!(nums[2] > 0, "never unloaded: {out}");
    if nums[3] > 0 {
        // Naming the holder (one or more readers have it open), or, when the
        // reference was gone by the time the holders were listed 100 times,
        // just "in use".
        assert!(
            out.contains("smpstress: first refusal: Module smpstress is in use by: stress0 (")
                || out.contains("smpstress: first refusal: Module smpstress is in use\n"),
            "{out}"
        );
    }
    for cpu in 1..4 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("smpstress: CPU{cpu}: ")))
            .unwrap_or_else(|| panic!("{out}"));
        let reads: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(reads > 0, "CPU{cpu} never read: {out}");
    }
    let heap = out
        .lines()
        .find(|l| l.starts_with("heap in use"))
        .unwrap_or("");
    let pages: Vec<&str> = heap
        .rsplit("pages in use: ")
        .next()
        .unwrap_or("")
        .split(", ")
        .collect();
    assert_eq!(
        pages.first().map(|p| p.trim_start_matches("before ")),
        pages.get(1).map(|p| p.trim_start_matches("after ")),
        "{heap}"
    );
    let t = m.transcript();
    assert!(
        !t.contains("Oops") && !t.contains("Kernel panic") && !t.contains("faulted"),
        "{t}"
    );
    assert_eq!(m.run("echo alive"), "alive\n");
}

#[test]
fn unload_under_smp_stress_is_safe_on_gicv2() {
    stress(2);
}

#[test]
fn unload_under_smp_stress_is_safe_on_gicv3() {
    stress(3);
}

/// A module whose exit queues work on another CPU is kept, [failed], while
/// the item is outstanding (never freed under it), then freed by rmmod -f;
/// a timer that re-arms itself from its callback is shut down by an exit
/// that deletes until it stops changing, and the module unloads.
#[test]
fn work_queued_by_exit_and_self_rearming_timers_never_run_in_freed_memory() {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        ..qemu_tests::with_initrd()
    });
    assert!(m
        .run("insmod /initrd/exitwork.ko")
        .contains("exitwork: loaded"));
    let out = m.run("rmmod exitwork");
    if !out.contains("exitwork: unloaded") {
        assert!(
            out.contains(
                "rmmod: ERROR: Module exitwork left objects registered after exit: exitwork-work (work); not freeing it"
            ),
            "{out}"
        );
        assert!(m.run("lsmod").contains("[failed]"));
        m.run("sleep 0.1");
        assert!(m.run("rmmod -f exitwork").contains("exitwork: unloaded"));
    }
    assert!(!m.run("lsmod").contains("exitwork"));

    assert!(m.run("insmod /initrd/rearm.ko").contains("rearm: loaded"));
    m.run("sleep 0.2");
    let out = m.run("rmmod rearm");
    assert!(out.contains("rearm: stopped after"), "{out}");
    assert!(out.contains("rearm: unloaded"), "{out}");
    m.run("sleep 0.05");
    let t = m.transcript();
    assert!(!t.contains("Oops") && !t.contains("faulted"), "{t}");
    assert_eq!(m.run("echo alive"), "alive\n");
}

/// The same stress on a virtio driver: three CPUs read /dev/hwrng (each read
/// a virtio request completed by an interrupt that goes to whichever CPU the
/// device was routed to) while CPU 0 loads and unloads virtio_rng.
#[test]
fn unload_of_a_virtio_driver_under_smp_stress_is_safe() {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        gic: Some(3),
        extra: vec!["-device".into(), "virtio-rng-device".into()],
        ..qemu_tests::with_initrd()
    });
    let out = m.run_for(
        "smpstress 200 /initrd/virtio_rng.ko hwrng",
        std::time::Duration::from_secs(240),
    );
    // Each read holds the device for a whole virtio round trip, so with three
    // readers the count is rarely zero: refusals may be all there is (the
    // phase ends by unloading it once the readers stopped).
    stress_summary(&out, 200, "virtio_rng");
    let t = m.transcript();
    assert!(!t.contains("Oops") && !t.contains("faulted"), "{t}");
    // Loaded again, it works.
    assert!(m
        .run("insmod /initrd/virtio_rng.ko")
        .contains("virtio_rng: loaded"));
    let rng = m.run("rng 8");
    assert!(rng.starts_with("00000000  "), "{rng}");
}
