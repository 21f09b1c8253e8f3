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

/// The text of the line of `out` that contains `marker`, from `marker` on
/// (module lines carry a timestamp before the module's name).
fn line_from<'a>(out: &'a str, marker: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.find(marker).map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no line with {marker:?} in:\n{out}"))
}

/// `irqinflight`'s report of one free_irq: it waited for the handler that
/// was inside on CPU3 when free_irq was called (CPU0 called it), and took at
/// least the 50 ms the handler stays after the caller's signal.
fn assert_free_irq_waited(out: &str, when: &str) {
    let line = line_from(out, &format!("irqinflight: {when}: free_irq "));
    let head = format!(
        "irqinflight: {when}: free_irq waited for the handler on CPU3 (inside at call: yes, inside after: no), "
    );
    let us: u64 = line
        .strip_prefix(&head)
        .and_then(|rest| rest.strip_suffix(" us"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}\n{out}"));
    assert!(us >= 50_000, "free_irq returned after {us} us: {out}");
}

/// A handler caught in the act on another CPU (issue 10): `irqinflight`
/// routes an unused SPI to CPU3 and raises it (`irq_inject`); its handler
/// stays inside until CPU0 signals and calls free_irq, then 50 ms more, so
/// free_irq is entered with the handler running. free_irq must return only
/// after the handler left. Init then leaves the handler spinning on CPU3, and
/// `rmmod` is issued meanwhile: the exit's free_irq waits for it, the module
/// unloads, nothing faults, CPU3 runs on. First, a line freed while pending
/// must not reach its next owner. Booted without coldplug, so the
/// only other interrupt of the console (the early UART's) is on CPU0.
fn free_irq_waits_for_a_handler_running_on_another_cpu(gic: u32) {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        gic: Some(gic),
        ..qemu_tests::with_initrd_no_coldplug()
    });
    let out = m.run("insmod /initrd/irqinflight.ko");
    // A line pending when it was freed is not delivered to its next owner
    // (free_irq clears the pending latch; without that, 1 time).
    assert_eq!(
        line_from(&out, "irqinflight: init: a line pending"),
        "irqinflight: init: a line pending at free_irq: the next owner's handler ran 0 times",
        "{out}"
    );
    assert_free_irq_waited(&out, "init");
    assert_eq!(
        line_from(&out, "irqinflight: handler spinning"),
        "irqinflight: handler spinning on CPU3 until exit (CPU0 loaded the module)",
        "{out}"
    );
    let out = m.run("rmmod irqinflight");
    assert_free_irq_waited(&out, "exit");
    assert!(out.contains("irqinflight: unloaded"), "{out}");
    assert!(!m.run("lsmod").contains("irqinflight"));
    assert!(!m.run("interrupts").contains("irqinflight"));
    // Loaded again, the whole sequence repeats.
    assert_free_irq_waited(&m.run("insmod /initrd/irqinflight.ko"), "init");
    assert_free_irq_waited(&m.run("rmmod irqinflight"), "exit");
    let t = m.transcript();
    assert!(
        !t.contains("Oops") && !t.contains("faulted") && !t.contains("nobody cared"),
        "{t}"
    );
    let cpus = m.run("cpus");
    assert!(
        cpus.lines()
            .any(|l| l.starts_with("3 ") && l.contains("online")),
        "{cpus}"
    );
    assert_eq!(m.run("echo alive"), "alive\n");
}

#[test]
fn free_irq_waits_for_a_handler_running_on_another_cpu_on_gicv2() {
    free_irq_waits_for_a_handler_running_on_another_cpu(2);
}

#[test]
fn free_irq_waits_for_a_handler_running_on_another_cpu_on_gicv3() {
    free_irq_waits_for_a_handler_running_on_another_cpu(3);
}

/// Whether every line of `out` starting with `prefix` matches `shape`, where
/// `#` in `shape` stands for a number (digits and dots) and everything else
/// must be as written; and there is at least one such line.
fn lines_shaped(out: &str, prefix: &str, shape: &str) -> bool {
    let matches = |line: &str| {
        let (mut l, mut s) = (line, shape);
        while let Some(c) = s.chars().next() {
            if c == '#' {
                let digits = l
                    .find(|ch: char| !ch.is_ascii_digit() && ch != '.')
                    .unwrap_or(l.len());
                if digits == 0 {
                    return false;
                }
                l = &l[digits..];
            } else if l.starts_with(c) {
                l = &l[c.len_utf8()..];
            } else {
                return false;
            }
            s = &s[c.len_utf8()..];
        }
        l.is_empty()
    };
    let mut found = false;
    for l in out.lines().filter(|l| l.starts_with(prefix)) {
        if !matches(l) {
            return false;
        }
        found = true;
    }
    found
}

fn four_cpus_with_initrd() -> Machine {
    Machine::boot(&Opts {
        smp: Some(4),
        ..qemu_tests::with_initrd()
    })
}

/// `refbench N smp`: each loop alone and with CPUs 1..3 contending, one line
/// each; the counts are back at zero; bad arguments get the usage line.
#[test]
fn refbench_smp_reports_alone_and_contended_per_pair() {
    let mut m = four_cpus_with_initrd();
    let out = m.run("refbench 2000 smp");
    assert!(
        out.starts_with(
            "refbench: smp: 2000 pairs each on CPU0, alone and while CPU1,CPU2,CPU3 run the same loop on the same counts; guest counter at "
        ),
        "{out}"
    );
    for label in [
        "try_module_get+module_put:      ",
        "object get+put (already held):  ",
        "object get+put (first/last ref):",
    ] {
        assert!(
            lines_shaped(
                &out,
                label,
                &format!(
                    "{label} alone # ns, with 4 CPUs # ns = #x; other CPUs' pairs meanwhile: #; window over all CPUs' pairs: # ns"
                )
            ),
            "{out}"
        );
    }
    assert!(
        out.contains("refbench: smp: counts afterwards: module 0, object 0\n"),
        "{out}"
    );
    let usage = "Usage: refbench [N [smp]] (N: a positive number of iterations)\n";
    assert_eq!(m.run("refbench 0"), usage);
    assert_eq!(m.run("refbench 10 smpx"), usage);
    assert_eq!(m.run("refbench ten"), usage);
}

/// With one CPU there is nothing to contend with: said, not hung.
#[test]
fn refbench_smp_on_one_cpu_says_so() {
    let mut m = Machine::boot(&Opts {
        smp: Some(1),
        ..qemu_tests::with_initrd()
    });
    assert_eq!(
        m.run("refbench 100 smp"),
        "refbench: smp: no other CPU is online (boot with -smp 2 or more)\n"
    );
}

/// `modstress N PATH --busy`: the other CPUs spin throughout, the grace
/// period is reported, the heap returns to its baseline.
#[test]
fn modstress_with_busy_cpus_reports_rmmod_and_grace_period() {
    let mut m = four_cpus_with_initrd();
    let out = m.run("modstress 20 /initrd/hello.ko --busy");
    assert!(
        lines_shaped(
            &out,
            "modstress: busy CPUs",
            "modstress: busy CPUs (spin loops in a kernel work item meanwhile): CPU1 #, CPU2 #, CPU3 #"
        ),
        "{out}"
    );
    assert!(
        lines_shaped(
            &out,
            "modstress: grace period",
            "modstress: grace period before freeing (no CPU inside the module): mean # us per unload, longest # us, over 20 unloads"
        ),
        "{out}"
    );
    assert!(
        qemu_tests::linux_bench::parse_modstress(&out).is_some(),
        "{out}"
    );
    assert!(out.contains("(difference 0)"), "{out}");
    assert_eq!(m.run("modstress 20"), "Usage: modstress N PATH [--busy]\n");
    assert_eq!(
        m.run("modstress 20 /initrd/hello.ko --bussy"),
        "Usage: modstress N PATH [--busy]\n"
    );
    // The spinners have stopped: the CPUs take work again.
    let out = m.run("smpstress 20 /initrd/smpstress.ko stress0");
    assert!(
        lines_shaped(
            &out,
            "smpstress: grace period",
            "smpstress: grace period before freeing (no CPU inside the module): mean # us per unload, longest # us, over # unloads"
        ),
        "{out}"
    );
    assert!(out.contains("(difference 0)"), "{out}");
}

/// `blkbench /dev/vda MiB --cpus N`: one read pass split over N CPUs, its
/// rate and each CPU's busy retries; bad combinations get the usage line.
#[test]
fn blkbench_reads_from_four_cpus_at_once() {
    let dir = qemu_tests::root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let scratch = dir.join("smp-blkbench.img");
    // Every 4 KiB block starts with its own number (scrambled), so a request
    // completed into another CPU's buffer or at the wrong place shows.
    let mut image = vec![0u8; 8 << 20];
    for (n, block) in image.chunks_mut(4096).enumerate() {
        let word = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        block[..8].copy_from_slice(&word.to_le_bytes());
    }
    std::fs::write(&scratch, &image).expect("scratch image");
    // The kernel's `sample_sum` of each CPU's quarter.
    let expected: Vec<String> = image
        .chunks(2 << 20)
        .enumerate()
        .map(|(cpu, part)| {
            let h = part.chunks(4096).fold(0u64, |h, b| {
                h.wrapping_mul(31)
                    .wrapping_add(u64::from_le_bytes(b[..8].try_into().expect("8 bytes")))
            });
            format!("CPU{cpu} {h:#018x}")
        })
        .collect();
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        initrd: Some(qemu_tests::root().join("build/initrd.cpio")),
        extra: vec![
            "-drive".into(),
            format!("file={},if=none,format=raw,id=d0", scratch.display()),
            "-device".into(),
            "virtio-blk-device,drive=d0".into(),
        ],
        ..Opts::default()
    });
    let out = m.run("blkbench /dev/vda 8 --cpus 4");
    assert!(
        lines_shaped(
            &out,
            "blkbench: /dev/vda: read 8 MiB",
            "blkbench: /dev/vda: read 8 MiB in 1 MiB requests from 4 CPUs at once (a part each): # s, # MB/s"
        ),
        "{out}"
    );
    assert!(
        lines_shaped(
            &out,
            "blkbench: /dev/vda: requests refused",
            "blkbench: /dev/vda: requests refused busy (another CPU had the disk) and retried: CPU0 #, CPU1 #, CPU2 #, CPU3 #"
        ),
        "{out}"
    );
    // No CPU waits for the disk to be free any more: none is refused.
    assert!(
        out.contains("retried: CPU0 0, CPU1 0, CPU2 0, CPU3 0\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "blkbench: /dev/vda: what each CPU read, sampled (first 8 bytes of every 4 KiB, h = h * 31 + word): {}\n",
            expected.join(", ")
        )),
        "{out}"
    );
    let out = m.run("blkbench /dev/vda 8 --cpus 1");
    // Descriptors of every CPU were closed: the device is free.
    assert!(
        out.starts_with("blkbench: /dev/vda: read 8 MiB in 1 MiB requests: "),
        "{out}"
    );
    assert_eq!(
        m.run("blkbench /dev/vda 2 --cpus 4"),
        "blkbench: /dev/vda: 2 MiB cannot be split over 4 CPUs (at least 1 MiB each)\n"
    );
    let usage = "Usage: blkbench /dev/NAME MiB [write [--force]] | blkbench /dev/NAME MiB --cpus N";
    assert_eq!(
        m.run("blkbench /dev/vda 8 write --cpus 4"),
        format!("{usage} (--cpus times reads only)\n")
    );
    assert_eq!(
        m.run("blkbench /dev/vda 8 --cpus 0"),
        format!("{usage} (N: 1 to 8 CPUs)\n")
    );
    assert_eq!(
        m.run("blkbench /dev/nosuch 8 --cpus 2"),
        "blkbench: /dev/nosuch: read from 2 CPUs: No such device\n"
    );
    // Each CPU's buffer and descriptor are gone afterwards.
    let heap = m.heap_used();
    m.run("blkbench /dev/vda 8 --cpus 4");
    assert_eq!(m.heap_used(), heap);
}

/// `tlbstress N`: module memory freed by an unload is reused only after every
/// CPU flushed its TLB (no synchronous broadcast on unmap). CPUs 1..3 read a
/// freshly mapped page each round; an address mapped again over another page
/// would read the old page through a stale TLB entry. Readers mask interrupts
/// in some phases, so the broadcast fallback runs too. Skipping the local
/// flush in `mm::tlb::catch_up` makes this fail (thousands of stale reads).
#[test]
fn freed_module_memory_is_reused_only_after_every_tlb_flushed() {
    let mut m = four_cpus_with_initrd();
    let out = m.run_for("tlbstress 200", std::time::Duration::from_secs(150));
    let first = line_from(&out, "tlbstress: 200 rounds, 600 reads on CPUs [1, 2, 3]: ");
    let nums: Vec<u64> = first
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // 200, 600, 1, 2, 3, stale, reused, moved
    assert_eq!(nums.len(), 8, "{out}");
    let (stale, reused, moved) = (nums[5], nums[6], nums[7]);
    assert_eq!(stale, 0, "{out}");
    assert!(
        reused > 100 && moved > 50,
        "addresses and pages were not reused: {out}"
    );
    assert!(!first.contains("stopped answering"), "{out}");
    let pages = line_from(&out, "tlbstress: pages in use before ");
    let p: Vec<&str> = pages
        .trim_start_matches("tlbstress: pages in use before ")
        .split(", after ")
        .collect();
    assert_eq!(p.len(), 2, "{out}");
    assert_eq!(p[0], p[1], "pages leaked: {out}");
    assert_eq!(
        m.run("tlbstress 0"),
        "Usage: tlbstress N (N: a positive number of rounds)\n"
    );
}

/// With one CPU there is no other TLB: said, not hung.
#[test]
fn tlbstress_on_one_cpu_says_so() {
    let mut m = Machine::boot(&Opts {
        smp: Some(1),
        ..qemu_tests::with_initrd()
    });
    assert_eq!(m.run("tlbstress 10"), "tlbstress: needs a second CPU\n");
}

/// A CPU waiting on another (a synchronization IPI's answer, a lock) must
/// let it run. Under `-icount` QEMU runs every vCPU on one host thread in
/// turn, and hands the thread on only at a YIELD (`cpu::relax`) or at the
/// end of a time slice: with an ISB in the wait loops instead, CPU1 answered
/// the boot's two coldplug IPIs only at the 100 ms timeout ("did not answer
/// a synchronization IPI") and each insmod's protect step waited ~9.7 ms.
#[test]
fn waits_on_other_cpus_let_them_run_under_icount() {
    let mut m = Machine::boot(&Opts {
        smp: Some(4),
        extra: vec!["-icount".into(), "shift=0".into()],
        ..qemu_tests::with_initrd()
    });
    let out = m.run("modstress 5 /initrd/hello.ko");
    let steps = line_from(&out, "insmod steps, us/cycle:");
    let protect: f64 = steps
        .split("protect ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no protect step in: {out}"));
    assert!(protect < 1000.0, "protect waited {protect} us: {out}");
    let dmesg = m.run("dmesg");
    assert!(!dmesg.contains("did not answer"), "{dmesg}");
}
