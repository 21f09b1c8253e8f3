//! `make bench`: boot figures, printed with their method.
//!
//! - QEMU floor: wall time from spawning QEMU to its exit for a 76-byte arm64
//!   Image that only calls PSCI SYSTEM_OFF (same machine flags, same script).
//! - Boot to prompt: wall time from spawning QEMU to the shell prompt appearing
//!   on the serial console. Median of N runs each, interleaved so machine noise
//!   hits both alike; the ratio of the medians is the figure to quote.
//! - In guest: the kernel's own count of counter ticks from `kernel_main` to the
//!   end of boot (`Boot took ...` in dmesg).
//! - Image size, and heap free at the prompt with `-m 32M`.
//! - Modules: `modstress` (insmod/rmmod of each shipped module that can cycle,
//!   time per load, per KiB, per relocation, heap before/after) and `refbench`
//!   (get/put costs), each run twice: with QEMU's `-icount shift=0`, where the
//!   guest counter advances one nanosecond per instruction (deterministic: read
//!   "us" as thousands of instructions), and in real time (TCG wall clock,
//!   which includes QEMU translating freshly loaded code, and host noise).

use qemu_tests::{root, with_initrd, Machine, Opts, PROMPT};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 11;

/// An arm64 Image whose code is: x0 = 0x84000008 (SYSTEM_OFF); hvc #0.
fn floor_image() -> std::path::PathBuf {
    let mut img = Vec::new();
    let words: [u32; 2] = [0x1400_0010, 0]; // b +0x40 (past the header); code1
    for w in words {
        img.extend_from_slice(&w.to_le_bytes());
    }
    img.extend_from_slice(&0x80000u64.to_le_bytes()); // text_offset
    img.extend_from_slice(&0x1000u64.to_le_bytes()); // image_size
    img.extend_from_slice(&0xau64.to_le_bytes()); // flags
    img.extend_from_slice(&[0u8; 24]); // res2..res4
    img.extend_from_slice(b"ARM\x64");
    img.extend_from_slice(&0u32.to_le_bytes());
    for w in [
        0xd280_0100u32, // movz x0, #0x8
        0xf2b0_8000,    // movk x0, #0x8400, lsl #16
        0xd400_0002,    // hvc #0
        0x1400_0000,    // b .
    ] {
        img.extend_from_slice(&w.to_le_bytes());
    }
    let path = root().join("target/qemu-tests/floor.img");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, img).expect("write floor image");
    path
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn floor_once(img: &std::path::Path) -> f64 {
    let t = Instant::now();
    let st = Command::new(root().join("qemu/run.sh"))
        .env("KERNEL", img)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("qemu/run.sh");
    assert!(st.success(), "floor kernel did not power off cleanly: {st}");
    t.elapsed().as_secs_f64() * 1000.0
}

fn boot_once(append: Option<&str>) -> (f64, String) {
    let t = Instant::now();
    let mut m = Machine::start(&Opts {
        append: append.map(String::from),
        ..Opts::default()
    });
    m.expect(PROMPT, Duration::from_secs(60));
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let dmesg = m.run("dmesg");
    (ms, dmesg)
}

/// Runs shell commands on a fresh machine and prints their output.
fn guest_report(title: &str, icount: bool, cmds: &[&str]) {
    let mut opts = with_initrd();
    if icount {
        opts.extra = vec!["-icount".into(), "shift=0".into()];
    }
    let mut m = Machine::boot(&opts);
    println!(
        "== {title} ({}) ==",
        if icount {
            "-icount shift=0: 1 ns = 1 instruction"
        } else {
            "real time"
        }
    );
    for c in cmds {
        m.send(format!("{c}\r").as_bytes());
        m.expect(&format!("{c}\n"), Duration::from_secs(30));
        let out = m.expect(PROMPT, Duration::from_secs(300));
        print!("{}", &out[..out.len() - PROMPT.len()]);
    }
}

fn modules() {
    let cmds = [
        "modstress 200 /initrd/hello.ko",
        "modstress 200 /initrd/hello_c.ko",
        "modstress 200 /initrd/busy_exit.ko",
        "modstress 200 /initrd/irq_user.ko",
        "modstress 1000 /initrd/hello.ko",
        "refbench 100000",
    ];
    for icount in [true, false] {
        guest_report(
            "modules: insmod/rmmod per cycle, heap, get/put",
            icount,
            &cmds,
        );
    }
}

/// Issue 5 figures: boot with every driver coldplugged, the smallest -m that
/// gets there, virtio-blk throughput, loading from the disk vs the initrd.
fn drivers(floor_ms: f64) {
    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let disk = root().join("build/disk.img");
    assert!(disk.exists(), "run make disk first");
    let boot_initrd = root().join("build/initrd.cpio");
    let with_drivers = |mem: &'static str| Opts {
        mem: Some(mem),
        append: None,
        initrd: Some(boot_initrd.clone()),
        extra: vec![
            "-drive".into(),
            format!(
                "file={},if=none,format=raw,id=d0,snapshot=on",
                disk.display()
            ),
            "-device".into(),
            "virtio-blk-device,drive=d0".into(),
            "-device".into(),
            "virtio-rng-device".into(),
        ],
        ..Opts::default()
    };
    let (mut times, mut quiet, mut floor) = (Vec::new(), Vec::new(), vec![floor_ms]);
    let floor_img = floor_image();
    let mut guest = String::new();
    for _ in 0..RUNS {
        floor.push(floor_once(&floor_img));
        for (append, out) in [(None, &mut times), (Some("quiet"), &mut quiet)] {
            let t = Instant::now();
            let mut m = Machine::start(&Opts {
                append: append.map(String::from),
                ..with_drivers("256M")
            });
            m.expect(PROMPT, Duration::from_secs(60));
            out.push(t.elapsed().as_secs_f64() * 1000.0);
            let dmesg = m.run("dmesg");
            if let Some(l) = dmesg.lines().rev().find(|l| l.contains("coldplug:")) {
                guest = l.to_string();
            }
        }
    }
    let (b, q, f) = (median(&mut times), median(&mut quiet), median(&mut floor));
    println!("== drivers as modules (boot initrd: pl011 virtio_mmio virtio_blk; disk: every module; virtio-rng) ==");
    println!("boot to prompt with every driver coldplugged and /disk mounted: {b:.1} ms median of {RUNS} = {:.2}x the QEMU floor ({f:.1} ms, interleaved)", b / f);
    println!("  the same with `quiet`: {q:.1} ms = {:.2}x", q / f);
    println!("last coldplug log line: {}", guest.trim());
    for mem in ["8M", "12M", "16M", "24M"] {
        let mut m = Machine::start(&with_drivers(mem));
        let ok = m.wait_for(PROMPT, Duration::from_secs(30)).is_ok()
            && ["pl011 ", "virtio_mmio ", "virtio_blk ", "virtio_rng "]
                .iter()
                .all(|n| m.run("lsmod").lines().any(|l| l.starts_with(n)));
        println!(
            "-m {mem}: {}",
            if ok {
                "prompt with all four drivers loaded"
            } else {
                "does NOT reach the prompt with every driver"
            }
        );
        if ok {
            break;
        }
    }
    let mut m = Machine::boot(&with_drivers("256M"));
    // pl011 was coldplugged: hand the console back and reload it from each place.
    for c in [
        "console early",
        "rmmod pl011",
        "time insmod /initrd/pl011.ko",
        "console early",
        "rmmod pl011",
        "time insmod /disk/pl011.ko",
    ] {
        let out = m.run(c);
        if c.starts_with("time") {
            println!("{c}: {}", out.lines().last().unwrap_or("").trim());
        }
    }
    drop(m);
    blk();
}

/// virtio-blk sequential throughput on a fresh 64 MiB scratch disk.
fn blk() {
    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let boot_initrd = root().join("build/initrd.cpio");
    let scratch = dir.join("bench-scratch.img");
    std::fs::write(&scratch, vec![0u8; 64 << 20]).expect("scratch image");
    let mut m = Machine::boot(&Opts {
        initrd: Some(boot_initrd.clone()),
        extra: vec![
            "-drive".into(),
            format!("file={},if=none,format=raw,id=d0", scratch.display()),
            "-device".into(),
            "virtio-blk-device,drive=d0".into(),
        ],
        ..Opts::default()
    });
    println!("== virtio-blk, 64 MiB scratch disk, 1 MiB requests (shell blkbench, guest timer) ==");
    for c in [
        "blkbench /dev/vda 64 write",
        "blkbench /dev/vda 64",
        "blkbench /dev/vda 64",
    ] {
        m.send(format!("{c}\r").as_bytes());
        m.expect(&format!("{c}\n"), Duration::from_secs(30));
        let out = m.expect(PROMPT, Duration::from_secs(300));
        print!("{}", &out[..out.len() - PROMPT.len()]);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--modules-only") {
        modules();
        return;
    }
    if std::env::args().any(|a| a == "--blk-only") {
        blk();
        return;
    }
    if std::env::args().any(|a| a == "--drivers-only") {
        let img = floor_image();
        let mut f: Vec<f64> = (0..RUNS).map(|_| floor_once(&img)).collect();
        drivers(median(&mut f));
        return;
    }
    let img = floor_image();
    let (mut floor, mut boot, mut guest_us, mut quiet) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ticks_line = String::new();
    for _ in 0..RUNS {
        floor.push(floor_once(&img));
        let (ms, dmesg) = boot_once(None);
        boot.push(ms);
        quiet.push(boot_once(Some("quiet")).0);
        if let Some(line) = dmesg.lines().find(|l| l.contains("Boot took ")) {
            ticks_line = line.to_string();
            if let Some(us) = line
                .split("Boot took ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse::<f64>().ok())
            {
                guest_us.push(us);
            }
        }
    }
    let (f, b) = (median(&mut floor), median(&mut boot));
    println!("== boot (cortex-a72, 256M, GICv2, EL1; {RUNS} runs each, interleaved, median wall time) ==");
    println!("QEMU floor (Image that only calls PSCI SYSTEM_OFF, spawn to exit): {f:.1} ms");
    println!(
        "boot to prompt (spawn to '{}' on the console):                   {b:.1} ms",
        PROMPT.trim()
    );
    println!("ratio boot/floor: {:.2}x", b / f);
    let q = median(&mut quiet);
    println!("boot to prompt with `quiet` (boot log in dmesg only, not on the serial console): {q:.1} ms, {:.2}x the floor", q / f);
    if !guest_us.is_empty() {
        println!(
            "in guest, kernel_main to end of boot: median {:.0} us; last run: {}",
            median(&mut guest_us),
            ticks_line.trim()
        );
    }
    let image = root().join("build/kernel.img");
    let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
    println!(
        "kernel Image size: {size} bytes ({:.1} KiB), {}",
        size as f64 / 1024.0,
        image.display()
    );

    let mut m = Machine::boot(&Opts {
        mem: Some("32M"),
        ..Opts::default()
    });
    let mem = m.run("mem");
    println!("== memory at the prompt with -m 32M (shell `mem`) ==");
    print!("{mem}");
    let mut m = Machine::start(&Opts {
        mem: Some("16M"),
        ..Opts::default()
    });
    match m.wait_for(PROMPT, Duration::from_secs(60)) {
        Ok(_) => println!("-m 16M: prompt reached"),
        Err(_) => println!("-m 16M: prompt NOT reached"),
    }
    drop(m);
    let mut m = Machine::boot(&Opts {
        extra: vec!["-icount".into(), "shift=0".into()],
        ..Opts::default()
    });
    let dmesg = m.run("dmesg");
    if let Some(line) = dmesg.lines().find(|l| l.contains("Boot took ")) {
        println!(
            "in guest with -icount shift=0 (1 ns = 1 instruction): {}",
            line.trim()
        );
    }
    drop(m);
    modules();
    drivers(f);
}
