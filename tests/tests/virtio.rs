//! virtio over MMIO as modules: the transport `virtio_mmio` and the device
//! drivers `virtio_blk` (/dev/vda) and `virtio_rng` (/dev/hwrng) that depend on
//! it. Reads of a known disk image at several offsets, a pattern written in
//! the guest checked byte for byte in the image on the host, random bytes, the
//! unload rules (transport held by its users, a disk held by an open handle),
//! a second disk, coldplug, and a machine with no disk.
//!
//! Disk images are made by each test in target/qemu-tests/.

use qemu_tests::{initrd_image, root, Machine, Opts};
use std::path::PathBuf;
use std::time::Duration;

/// Every module (the plain initrd holds only the boot modules).
fn initrd_all() -> PathBuf {
    let all = root().join("build/initrd-all.cpio");
    if all.exists() {
        all
    } else {
        initrd_image()
    }
}

/// The byte at `offset` of the images the read tests use.
fn image_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(7) ^ (offset >> 9)) as u8
}

/// The byte `blkbench ... write` writes at `offset` (kernel/src/shell/files.rs).
fn blkbench_pattern(offset: u64) -> u8 {
    ((offset % 251) as u8).wrapping_add((offset >> 20) as u8)
}

/// Writes `target/qemu-tests/NAME` of `size` bytes filled by `byte`.
fn make_image(name: &str, size: u64, byte: impl Fn(u64) -> u8) -> PathBuf {
    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("create target/qemu-tests");
    let path = dir.join(name);
    let data: Vec<u8> = (0..size).map(byte).collect();
    std::fs::write(&path, data).expect("write disk image");
    path
}

/// QEMU options: the full initrd, `disks` as virtio-blk devices (the first
/// becomes vda), an entropy device if `rng`. The transport is blacklisted
/// from coldplug so that each test loads the modules itself.
fn opts(disks: &[&PathBuf], rng: bool) -> Opts {
    let mut extra = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        extra.push("-drive".to_string());
        extra.push(format!("file={},if=none,format=raw,id=d{i}", d.display()));
        extra.push("-device".to_string());
        extra.push(format!("virtio-blk-device,drive=d{i}"));
    }
    if rng {
        extra.push("-device".to_string());
        extra.push("virtio-rng-device".to_string());
    }
    Opts {
        initrd: Some(initrd_all()),
        append: Some("modprobe.blacklist=virtio_mmio,virtio_blk,virtio_rng".to_string()),
        extra,
        ..Opts::default()
    }
}

/// Like [`opts`] with one virtio-blk device whose `-drive` is `spec` (file
/// and options) plus `if=none,format=raw,id=d0`.
fn opts_with_drive(spec: &str) -> Opts {
    let mut o = opts(&[], false);
    o.extra = vec![
        "-drive".into(),
        format!("{spec},if=none,format=raw,id=d0"),
        "-device".into(),
        "virtio-blk-device,drive=d0".into(),
    ];
    o
}

fn lsmod_line(m: &mut Machine, name: &str) -> Option<String> {
    m.run("lsmod")
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(str::to_string)
}

/// Loads the transport and both drivers the way a user would.
fn load_all(m: &mut Machine) -> String {
    let mut out = m.run("insmod /initrd/virtio_mmio.ko");
    out += &m.run("insmod /initrd/virtio_blk.ko");
    out += &m.run("modprobe virtio_rng");
    out
}

/// Parses `hexdump -C` output back into (first offset, bytes). A `*` line
/// (repeats) is not expected from the patterns used here.
fn parse_hexdump(out: &str) -> (u64, Vec<u8>) {
    let mut start = None;
    let mut bytes = Vec::new();
    for line in out.lines() {
        assert_ne!(line, "*", "unexpected repeated line in\n{out}");
        let Some((offset, rest)) = line.split_once("  ") else {
            continue;
        };
        let offset = u64::from_str_radix(offset, 16).unwrap_or_else(|_| panic!("{out}"));
        start.get_or_insert(offset);
        let hex = rest.split("  |").next().unwrap_or("");
        bytes.extend(
            hex.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("{out}"))),
        );
    }
    (start.unwrap_or(0), bytes)
}

#[test]
fn virtio_blk_reads_the_disk_and_lsmod_shows_the_transport_dependency() {
    const SIZE: u64 = 4 << 20;
    let img = make_image("virtio-read.img", SIZE, image_byte);
    let mut m = Machine::boot(&opts(&[&img], true));
    let out = load_all(&mut m);
    assert!(
        out.contains("virtio_mmio: 32 slots, 2 with a device"),
        "{out}"
    );
    assert!(
        out.contains(
            "virtio_blk: vda: 8192 512-byte logical blocks (4 MB/4 MiB), virtio-mmio at 0xa003e00 irq 79"
        ),
        "{out}"
    );
    assert!(
        out.contains("virtio_rng: hwrng: virtio entropy device at 0xa003c00 irq 78"),
        "{out}"
    );
    let transport = lsmod_line(&mut m, "virtio_mmio").expect("virtio_mmio loaded");
    assert!(
        transport.ends_with(" 2 virtio_blk,virtio_rng"),
        "{transport}"
    );

    let lsdev = m.run("lsdev");
    let vda = lsdev
        .lines()
        .find(|l| l.contains(" vda ") && l.contains("block"))
        .unwrap_or_else(|| panic!("{lsdev}"));
    assert!(
        vda.contains(" virtio_blk ") && vda.ends_with(" 4 MiB"),
        "{vda}"
    );

    for (offset, len) in [
        (0u64, 64u64),
        (512, 48),
        (4096 + 16, 32),
        ((1 << 20) + 512 * 3 + 100, 200),
        (SIZE - 32, 32),
    ] {
        let out = m.run(&format!("hexdump -s {offset} -n {len} /dev/vda"));
        let (start, bytes) = parse_hexdump(&out);
        assert_eq!(start, offset, "{out}");
        let want: Vec<u8> = (offset..offset + len).map(image_byte).collect();
        assert_eq!(bytes, want, "at {offset}:\n{out}");
        assert!(out.ends_with(&format!("{:08x}\n", offset + len)), "{out}");
    }
    // Past the end: nothing to dump.
    assert_eq!(
        m.run(&format!("hexdump -s {SIZE} -n 16 /dev/vda")),
        format!("{SIZE:08x}\n")
    );
    // Lengths and offsets must be multiples of 512.
    assert_eq!(m.run("open /dev/vda"), "/dev/vda: opened as fd 3\n");
    assert_eq!(m.run("read 3 100"), "read: 3: Invalid argument\n");
    assert_eq!(m.run("write 3 hello"), "write: 3: Invalid argument\n");
    assert_eq!(m.run("close 3"), "");
}

#[test]
fn a_pattern_written_in_the_guest_reaches_the_host_image_byte_for_byte() {
    const SIZE: u64 = 4 << 20;
    let img = make_image("virtio-write.img", SIZE, |_| 0xee);
    let mut m = Machine::boot(&opts(&[&img], false));
    m.run("insmod /initrd/virtio_mmio.ko");
    let out = m.run("insmod /initrd/virtio_blk.ko");
    assert!(out.contains("vda: 8192 512-byte logical blocks"), "{out}");
    let out = m.run("blkbench /dev/vda 3 write");
    assert!(
        out.contains("blkbench: /dev/vda: write 3 MiB in 1 MiB requests: "),
        "{out}"
    );
    assert!(
        out.contains("blkbench: /dev/vda: read back 3 MiB: matches the pattern"),
        "{out}"
    );
    let (_, bytes) = parse_hexdump(&m.run("hexdump -s 2097660 -n 40 /dev/vda"));
    let want: Vec<u8> = (2097660..2097700).map(blkbench_pattern).collect();
    assert_eq!(bytes, want);
    m.send(b"poweroff\r");
    assert!(m.wait_exit(Duration::from_secs(30)).success());

    let data = std::fs::read(&img).expect("read image back");
    assert_eq!(data.len() as u64, SIZE);
    for (o, &b) in data.iter().enumerate() {
        let o = o as u64;
        let want = if o < 3 << 20 {
            blkbench_pattern(o)
        } else {
            0xee
        };
        assert_eq!(b, want, "image byte {o:#x}");
    }
}

#[test]
fn hwrng_gives_random_bytes() {
    let mut m = Machine::boot(&opts(&[], true));
    m.run("insmod /initrd/virtio_mmio.ko");
    let out = m.run("insmod /initrd/virtio_rng.ko");
    assert!(
        out.contains("virtio_rng: hwrng: virtio entropy device at"),
        "{out}"
    );
    let (start, a) = parse_hexdump(&m.run("hexdump -n 64 /dev/hwrng"));
    assert_eq!((start, a.len()), (0, 64));
    let (_, b) = parse_hexdump(&m.run("hexdump -n 64 /dev/hwrng"));
    assert_eq!(b.len(), 64);
    assert_ne!(a, b, "two reads of hwrng gave the same bytes");
    assert!(a.iter().any(|&x| x != a[0]), "{a:?}");
    let interrupts = m.run("interrupts");
    assert!(
        interrupts
            .lines()
            .any(|l| l.contains(" hwrng ") && l.ends_with(" module")),
        "{interrupts}"
    );
}

#[test]
fn rmmod_follows_the_refcount_rules_and_unload_releases_everything() {
    let img = make_image("virtio-unload.img", 1 << 20, image_byte);
    let mut m = Machine::boot(&opts(&[&img], true));
    load_all(&mut m);
    assert_eq!(
        m.run("rmmod virtio_mmio"),
        "rmmod: ERROR: Module virtio_mmio is in use by: virtio_blk, virtio_rng\n"
    );
    assert_eq!(m.run("open /dev/vda"), "/dev/vda: opened as fd 3\n");
    assert_eq!(
        m.run("rmmod virtio_blk"),
        "rmmod: ERROR: Module virtio_blk is in use by: vda (1 open)\n"
    );
    // Still working while refused.
    let (_, bytes) = parse_hexdump(&m.run("hexdump -n 16 /dev/vda"));
    assert_eq!(bytes, (0..16).map(image_byte).collect::<Vec<_>>());
    assert_eq!(m.run("close 3"), "");
    for name in ["virtio_blk", "virtio_rng", "virtio_mmio"] {
        let out = m.run(&format!("rmmod {name}"));
        assert!(out.contains(&format!("{name}: unloaded")), "{out}");
    }
    let lsmod = m.run("lsmod");
    assert!(!lsmod.contains("virtio"), "{lsmod}");
    let lsdev = m.run("lsdev");
    let objects = lsdev
        .split_once("  ID NAME")
        .map(|(_, o)| o)
        .unwrap_or(&lsdev);
    for gone in [
        " vda ",
        " hwrng ",
        "virtio_blk",
        "virtio_rng",
        "virtio_mmio ",
    ] {
        assert!(!objects.contains(gone), "{gone:?} left in\n{lsdev}");
    }
    let interrupts = m.run("interrupts");
    assert!(
        !interrupts.contains(" vda ") && !interrupts.contains(" hwrng "),
        "{interrupts}"
    );
    // And it all comes back.
    let out = load_all(&mut m);
    assert!(out.contains("vda: 2048 512-byte logical blocks"), "{out}");
}

#[test]
fn a_second_disk_becomes_vdb() {
    let a = make_image("virtio-two-a.img", 1 << 20, |_| 0xaa);
    let b = make_image("virtio-two-b.img", 2 << 20, |_| 0xbb);
    let mut m = Machine::boot(&opts(&[&a, &b], false));
    m.run("insmod /initrd/virtio_mmio.ko");
    let out = m.run("insmod /initrd/virtio_blk.ko");
    assert!(out.contains("vda: "), "{out}");
    assert!(out.contains("vdb: "), "{out}");
    let sizes: Vec<u8> = ["vda", "vdb"]
        .iter()
        .map(|d| parse_hexdump(&m.run(&format!("hexdump -n 16 /dev/{d}"))).1[0])
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort();
    assert_eq!(sorted, [0xaa, 0xbb], "{out}");
    assert!(m.run("rmmod virtio_blk").contains("virtio_blk: unloaded"));
}

#[test]
fn coldplug_binds_the_virtio_drivers() {
    let img = make_image("virtio-coldplug.img", 1 << 20, image_byte);
    let mut o = opts(&[&img], true);
    o.append = None;
    let mut m = Machine::boot(&o);
    let lsmod = m.run("lsmod");
    for name in ["virtio_mmio", "virtio_blk", "virtio_rng"] {
        assert!(lsmod.contains(name), "{name} not loaded:\n{lsmod}");
    }
    let (_, bytes) = parse_hexdump(&m.run("hexdump -s 512 -n 16 /dev/vda"));
    assert_eq!(bytes, (512..528).map(image_byte).collect::<Vec<_>>());
}

#[test]
fn without_a_disk_virtio_blk_fails_cleanly_and_leaves_nothing() {
    let mut m = Machine::boot(&opts(&[], false));
    let out = m.run("insmod /initrd/virtio_mmio.ko");
    assert!(
        out.contains("virtio_mmio: 32 slots, 0 with a device"),
        "{out}"
    );
    let out = m.run("insmod /initrd/virtio_blk.ko");
    assert!(
        out.contains(
            "virtio_blk: no virtio block device: no unclaimed virtio-mmio slot with device ID 2"
        ),
        "{out}"
    );
    assert!(
        out.contains("insmod: ERROR: could not insert 'virtio_blk': No such device"),
        "{out}"
    );
    let out = m.run("insmod /initrd/virtio_rng.ko");
    assert!(
        out.contains("insmod: ERROR: could not insert 'virtio_rng': No such device"),
        "{out}"
    );
    assert!(lsmod_line(&mut m, "virtio_blk").is_none());
    assert!(lsmod_line(&mut m, "virtio_rng").is_none());
    let transport = lsmod_line(&mut m, "virtio_mmio").expect("transport stays");
    assert!(transport.ends_with(" 0"), "{transport}");
    let lsdev = m.run("lsdev");
    assert!(
        !lsdev.contains(" vda ") && !lsdev.contains(" hwrng "),
        "{lsdev}"
    );
    assert!(m.run("rmmod virtio_mmio").contains("virtio_mmio: unloaded"));
}

/// A block device whose host image fails writes and flushes (QEMU's blkdebug
/// injecting EIO, passed to the guest with `werror=report`): each failure is
/// an error for the caller and a Linux-style line in dmesg, reads still work,
/// and the module unloads cleanly afterwards.
#[test]
fn device_errors_are_reported_and_the_disk_keeps_working() {
    let img = make_image("virtio-eio.img", 1 << 20, image_byte);
    let conf = root().join("target/qemu-tests/virtio-eio.blkdebug");
    std::fs::write(
        &conf,
        "[inject-error]\nevent = \"write_aio\"\niotype = \"write\"\nerrno = \"5\"\n\n\
         [inject-error]\nevent = \"flush_to_disk\"\niotype = \"flush\"\nerrno = \"5\"\n",
    )
    .expect("write blkdebug config");
    let mut m = Machine::boot(&opts_with_drive(&format!(
        "file=blkdebug:{}:{},rerror=report,werror=report",
        conf.display(),
        img.display()
    )));
    m.run("insmod /initrd/virtio_mmio.ko");
    let out = m.run("insmod /initrd/virtio_blk.ko");
    assert!(out.contains("vda: 2048 512-byte logical blocks"), "{out}");
    // The first open sizes the descriptor table for good: the baseline is
    // taken after one.
    m.run("hexdump -n 16 /dev/vda");
    let heap = m.run("mem");

    let out = m.run("blkbench /dev/vda 1 write");
    assert!(
        out.ends_with("blkbench: /dev/vda: write: Input/output error\n"),
        "{out}"
    );
    let out = m.run("dmesg");
    assert!(
        out.contains("vda: I/O error, sector 0 (+512) op WRITE: device status 1 (IOERR)"),
        "{out}"
    );
    assert_eq!(m.run("open /dev/vda"), "/dev/vda: opened as fd 3\n");
    let out = m.run("sync 3");
    assert!(out.ends_with("sync: 3: Input/output error\n"), "{out}");
    assert!(
        m.run("dmesg")
            .contains("vda: I/O error, sector 0 (+0) op FLUSH: device status 1 (IOERR)"),
        "{out}"
    );
    // Reads are unaffected.
    let (start, bytes) = parse_hexdump(&m.run("hexdump -s 4096 -n 32 /dev/vda"));
    assert_eq!(start, 4096);
    let want: Vec<u8> = (4096..4128).map(image_byte).collect();
    assert_eq!(bytes, want);
    assert_eq!(m.run("close 3"), "");
    assert_eq!(m.run("mem"), heap, "a failed request leaked memory");
    assert!(m.run("rmmod virtio_blk").contains("virtio_blk: unloaded"));
    assert!(m.run("rmmod virtio_mmio").contains("virtio_mmio: unloaded"));
}

/// A device that does not answer (writes throttled by QEMU to 4 KiB/s: the
/// first 1 MiB passes, the next would take minutes): the request fails after its 2 s
/// deadline with ETIMEDOUT, the driver resets the device and brings it up
/// again, and the disk serves reads afterwards.
#[test]
fn a_request_the_device_does_not_answer_times_out_and_the_device_is_reset() {
    let img = make_image("virtio-slow.img", 4 << 20, image_byte);
    let mut m = Machine::boot(&opts_with_drive(&format!(
        "file={},throttling.bps-write=4096",
        img.display()
    )));
    m.run("insmod /initrd/virtio_mmio.ko");
    let out = m.run("insmod /initrd/virtio_blk.ko");
    assert!(out.contains("vda: 8192 512-byte logical blocks"), "{out}");
    m.run("hexdump -n 16 /dev/vda");
    let heap = m.run("mem");

    m.send(b"blkbench /dev/vda 2 write\r");
    let out = m.expect(qemu_tests::PROMPT, Duration::from_secs(30));
    assert!(
        out.contains("blkbench: /dev/vda: write: Connection timed out\n"),
        "{out}"
    );
    let out = m.run("dmesg");
    assert!(
        out.contains("timed out after 2000 ms; resetting the device"),
        "{out}"
    );
    assert!(
        out.contains("vda: device reset and brought up again"),
        "{out}"
    );
    // The first MiB was written before the stalled request.
    let (start, bytes) = parse_hexdump(&m.run("hexdump -s 8192 -n 32 /dev/vda"));
    assert_eq!(start, 8192);
    let want: Vec<u8> = (8192..8224).map(blkbench_pattern).collect();
    assert_eq!(bytes, want);
    assert_eq!(m.run("mem"), heap, "the reset leaked or lost memory");
    assert!(m.run("rmmod virtio_blk").contains("virtio_blk: unloaded"));
}

/// Loading the transport again and again with devices present leaves the heap
/// as it was: each load asks for the drivers of its devices again, and the
/// queue of driver requests keeps one entry a device, not one a load.
#[test]
fn reloading_the_transport_with_devices_leaks_nothing() {
    let img = make_image("virtio-reload.img", 1 << 20, |_| 0);
    let mut m = Machine::boot(&opts(&[&img], true));
    let out = m.run("modstress 20 /initrd/virtio_mmio.ko");
    assert!(
        out.contains("modstress: 20 load/unload cycles of virtio_mmio"),
        "{out}"
    );
    assert!(out.contains("(difference 0)"), "{out}");
    // Its text is stored once, then (mostly) only the block the page
    // allocator's free-list link overwrote (see
    // `a_thousand_load_unload_cycles_...` for the bound).
    let (mean, blocks) = qemu_tests::text_stored(&out).expect("text stored line");
    assert!(
        mean <= blocks as f64 / 10.0,
        "text stored at a reload: {mean} of {blocks} blocks: {out}"
    );
}
