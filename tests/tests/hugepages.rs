//! Guest RAM the kernel writes, by 2 MiB region. QEMU backs guest RAM with
//! transparent huge pages, so the first write into each 2 MiB region costs
//! the host a fault and 2 MiB zeroed: about 4 ms on the project's host, more
//! than translating 500 blocks (docs/performance.md, "Host huge pages"). Boot therefore
//! writes only into regions QEMU's loader already wrote: the Image's (with
//! its BSS and stacks), the DTB's and the initrd's. `qemu/prof/touch.c`, a
//! TCG plugin built here with gcc, lists the first guest store into each
//! region with the storing instruction's address.

use qemu_tests::{build_plugin, kernel_image, root, Machine, Opts, PROMPT};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const REGION: u64 = 2 << 20;

fn plugin() -> PathBuf {
    build_plugin("touch").expect("gcc (Debian package gcc) could not build qemu/prof/touch.c")
}

/// Boots with the plugin and powers off: the regions written, each with the
/// address of its first store, and the boot log.
fn written(name: &str, mut opts: Opts) -> (Vec<(u64, u64)>, String) {
    let out = root().join(format!("target/qemu-tests/touch-{name}.out"));
    let _ = std::fs::remove_file(&out);
    opts.extra.extend([
        "-plugin".to_string(),
        format!("{},out={}", plugin().display(), out.display()),
    ]);
    let mut m = Machine::boot(&opts);
    let log = m.transcript();
    m.send(b"poweroff\r");
    m.wait_exit(Duration::from_secs(30));
    let text = std::fs::read_to_string(&out).expect("the plugin wrote its file");
    let rows = text
        .lines()
        .filter_map(|l| {
            let (r, pc) = l.split_once(' ')?;
            Some((
                u64::from_str_radix(r, 16).ok()?,
                u64::from_str_radix(pc, 16).ok()?,
            ))
        })
        .collect();
    (rows, log)
}

/// The first hex number after `key` in the log.
fn hex_after(log: &str, key: &str) -> Option<u64> {
    let rest = &log[log.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&digits, 16).ok()
}

/// The regions `[start, end)` overlaps.
fn regions(start: u64, end: u64, into: &mut BTreeSet<u64>) {
    let mut r = start / REGION * REGION;
    while r < end {
        into.insert(r);
        r += REGION;
    }
}

/// RAM as the log's first `Memory: [mem A-B]` line gives it, and the regions
/// the loader wrote: the Image at RAM's start plus its header's text_offset,
/// image_size long (BSS and stacks included), the DTB and the initrd.
fn loader_regions(log: &str) -> ((u64, u64), BTreeSet<u64>) {
    let ram_start = hex_after(log, "Memory: [mem 0x").expect("the RAM line in the boot log");
    let ram_end = hex_after(log, &format!("Memory: [mem 0x{ram_start:016x}-0x"))
        .expect("the RAM line's end")
        + 1;
    let img = std::fs::read(kernel_image()).expect("read the Image");
    let word = |at: usize| u64::from_le_bytes(img[at..at + 8].try_into().expect("8 bytes"));
    let (text_offset, image_size) = (word(8), word(16));
    let mut set = BTreeSet::new();
    let image = ram_start + text_offset;
    regions(image, image + image_size, &mut set);
    let dtb = hex_after(log, "DTB at 0x").expect("the DTB line in the boot log");
    let dtb_size: u64 = log[log.find("DTB at 0x").expect("DTB line")..]
        .split_once(" (")
        .and_then(|(_, r)| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the DTB's size in the boot log");
    regions(dtb, dtb + dtb_size, &mut set);
    if let (Some(a), Some(b)) = (
        hex_after(log, "Initrd: [mem 0x"),
        log.find("Initrd: [mem 0x")
            .and_then(|i| hex_after(&log[i..], "-0x")),
    ) {
        regions(a, b + 1, &mut set);
    }
    ((ram_start, ram_end), set)
}

/// Boots with `opts` and checks every RAM region written is the loader's;
/// returns the boot log.
fn check(name: &str, opts: Opts) -> String {
    let (rows, log) = written(name, opts);
    assert!(log.contains(PROMPT), "{log}");
    let ((ram_start, ram_end), allowed) = loader_regions(&log);
    let ram: Vec<&(u64, u64)> = rows
        .iter()
        .filter(|(r, _)| (ram_start..ram_end).contains(r))
        .collect();
    assert!(!ram.is_empty(), "the plugin saw no store to RAM: {rows:x?}");
    let strays: Vec<String> = ram
        .iter()
        .filter(|(r, _)| !allowed.contains(r))
        .map(|(r, pc)| format!("{r:#x} (first store at pc {pc:#x})"))
        .collect();
    assert!(
        strays.is_empty(),
        "{name}: boot wrote 2 MiB regions of guest RAM the loader had not: {} \
         (the loader's: {allowed:x?}; `llvm-symbolizer -e build/kernel.elf PC` names the writer)",
        strays.join(", ")
    );
    log
}

#[test]
fn kernel_alone_writes_only_the_loaders_huge_pages() {
    check("alone", Opts::default());
}

#[test]
fn every_driver_and_a_disk_write_only_the_loaders_huge_pages() {
    let disk = root().join("target/qemu-tests/touch-disk.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).expect("write a scratch disk");
    let opts = Opts {
        initrd: Some(root().join("build/initrd-all.cpio")),
        extra: vec![
            "-drive".into(),
            format!("file={},if=none,format=raw,id=d0", disk.display()),
            "-device".into(),
            "virtio-blk-device,drive=d0".into(),
            "-device".into(),
            "virtio-rng-device".into(),
        ],
        ..Opts::default()
    };
    let log = check("drivers", opts);
    // The drivers did load (a boot that loaded nothing would pass trivially).
    for name in ["virtio_blk: vda", "virtio_rng", "pl011: ttyAMA0"] {
        assert!(log.contains(name), "{name} missing:\n{log}");
    }
}
