//! The FAT disk and boot-time coldplug: booting with the boot-module initrd and
//! a disk image made like `make disk`, the drivers bind at boot (pl011 takes
//! the console, virtio_mmio finds the disk, virtio_blk registers vda), the disk
//! is mounted at /disk, a device whose driver is only on the disk gets it after
//! the mount, modules load from the disk by path and by `modprobe`, the mount
//! holds the disk's driver and the `vfat` file system module, and bad disks
//! and files give clear errors.

use qemu_tests::{root, Machine, Opts};
use std::path::PathBuf;
use std::process::Command;

/// A disk like `make disk` makes, with `extra` files added (name, bytes).
fn fat_disk(name: &str, extra: &[(&str, &[u8])]) -> PathBuf {
    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let modules = root().join("build/modules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&modules)
        .expect("build/modules (run make modules)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "ko")
                || p.file_name()
                    .is_some_and(|n| n == "modules.dep" || n == "modules.alias")
        })
        .collect();
    for (fname, bytes) in extra {
        let p = dir.join(fname);
        std::fs::write(&p, bytes).expect("write extra file");
        files.push(p);
    }
    let out = dir.join(name);
    let st = Command::new(root().join("qemu/mkdisk.sh"))
        .arg(&out)
        .arg("16")
        .args(&files)
        .status()
        .expect("qemu/mkdisk.sh");
    assert!(st.success(), "mkdisk failed");
    out
}

fn boot_image() -> PathBuf {
    let p = root().join("build/initrd.cpio");
    assert!(p.exists(), "run make initrd first");
    p
}

fn machine(disk: Option<&PathBuf>) -> Machine {
    machine_on(disk, Opts::default())
}

fn machine_on(disk: Option<&PathBuf>, base: Opts) -> Machine {
    let mut extra = vec!["-device".to_string(), "virtio-rng-device".to_string()];
    if let Some(d) = disk {
        extra.extend([
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d0", d.display()),
            "-device".to_string(),
            "virtio-blk-device,drive=d0".to_string(),
        ]);
    }
    Machine::boot(&Opts {
        initrd: Some(boot_image()),
        extra,
        ..base
    })
}

#[test]
fn drivers_bind_at_boot_and_the_disk_serves_modules() {
    let disk = fat_disk(
        "disk-modules.img",
        &[("corrupt.ko", b"this is not an ELF file at all".as_slice())],
    );
    let mut m = machine(Some(&disk));
    let dmesg = m.run("dmesg");
    for want in [
        "console [ttyAMA0] enabled",
        "virtio_blk: vda: ",
        "disk: mounted vda at /disk (FAT volume 'MODULES')",
        "coldplug: 1 more drivers loaded from /disk: virtio_rng",
    ] {
        assert!(dmesg.contains(want), "missing {want:?} in\n{dmesg}");
    }
    let lsmod = m.run("lsmod");
    for module in ["pl011", "virtio_mmio", "virtio_blk", "virtio_rng", "vfat"] {
        assert!(
            lsmod.lines().any(|l| l.starts_with(&format!("{module} "))),
            "{module} not loaded:\n{lsmod}"
        );
    }
    assert_eq!(
        m.run("ls /initrd")
            .lines()
            .filter(|l| l.ends_with(".ko"))
            .count(),
        4,
        "the initrd holds the boot modules"
    );
    let files = m.run("lsdisk");
    assert!(
        files.lines().any(|l| l.ends_with(" user_of_hello.ko")),
        "long names read back:\n{files}"
    );
    assert!(files.lines().any(|l| l.ends_with(" hello.ko")), "{files}");
    let lsdev = m.run("lsdev");
    assert!(
        lsdev
            .lines()
            .any(|l| l.contains("virtio:d00000002v") && l.ends_with(" virtio_blk")),
        "{lsdev}"
    );

    assert_eq!(m.run("ls /disk"), files, "ls /disk is lsdisk");
    assert!(m
        .run("cat /disk/modules.dep")
        .contains("user_of_hello.ko: hello.ko\n"));
    let rng = m.run("rng 16");
    assert!(
        rng.starts_with("00000000  ") && rng.lines().count() == 2,
        "{rng}"
    );

    // Modules from the disk: by path, and by name with dependencies.
    assert!(m
        .run("insmod /disk/hello_c.ko")
        .contains("hello_c: Hello from C"));
    let out = m.run("modprobe user_of_hello");
    assert!(
        out.contains("hello: loaded at") && out.contains("user_of_hello: hello_add(2, 3) = 5"),
        "{out}"
    );
    let out = m.run("insmod /disk/corrupt.ko");
    assert!(
        out.contains("insmod: ERROR: could not insert 'corrupt': Invalid module format"),
        "{out}"
    );
    assert!(m
        .run("insmod /disk/missing.ko")
        .contains("could not load module /disk/missing.ko: No such file or directory"));

    // The mount holds the disk; umount lets its driver go.
    assert_eq!(
        m.run("rmmod virtio_blk"),
        "rmmod: ERROR: Module virtio_blk is in use by: vda (1 open)\n"
    );
    assert_eq!(m.run("umount"), "umount: /dev/vda unmounted from /disk\n");
    assert!(m.run("rmmod virtio_blk").contains("virtio_blk: unloaded"));
    assert!(m.run("lsdisk").contains("not mounted"));
    assert!(m.run("modprobe virtio_blk").contains("virtio_blk: vda: "));
    assert!(m
        .run("mount vda")
        .contains("mount: /dev/vda mounted on /disk (FAT volume 'MODULES')"));
    assert!(m
        .run("insmod /disk/irq_user.ko")
        .contains("irq_user: counting"));
}

/// FAT is the `vfat` module, not kernel code: boot loads it from the initrd
/// through its `fs-vfat` alias to mount the disk, the mount holds it (and
/// `rmmod` says so), `umount` lets it go, `mount` loads it again, and with the
/// module kept out (`modprobe.blacklist=vfat`) mount says the type is
/// unknown and the kernel carries on. Mounts and loads leave the heap as
/// they found it.
#[test]
fn the_fat_file_system_is_a_module_the_mount_holds() {
    let disk = fat_disk("disk-vfat.img", &[]);
    let mut m = machine(Some(&disk));
    let dmesg = m.run("dmesg");
    let loaded = dmesg.find("vfat: loaded at").expect("vfat loaded at boot");
    let mounted = dmesg.find("disk: mounted vda").expect("mounted");
    assert!(loaded < mounted, "{dmesg}");
    let lsmod = m.run("lsmod");
    assert!(
        lsmod
            .lines()
            .any(|l| l.starts_with("vfat ") && l.ends_with(" 1")),
        "the mount is vfat's one user:\n{lsmod}"
    );
    assert_eq!(
        m.run("rmmod vfat"),
        "rmmod: ERROR: Module vfat is in use by: vfat (1 mount)\n"
    );
    assert!(m.run("lsdev").contains("vfat"));
    assert_eq!(m.run("umount"), "umount: /dev/vda unmounted from /disk\n");
    // Mounts give back what they took: the heap (to `mem`'s 0.1 KiB) after
    // five more mount/read/umount cycles is what it was after the first.
    let heap = |m: &mut Machine| {
        let mem = m.run("mem");
        let line = mem.lines().find(|l| l.starts_with("heap:")).unwrap_or("");
        line.to_string()
    };
    let before = heap(&mut m);
    for _ in 0..5 {
        assert!(m.run("mount vda").contains("mounted on /disk"));
        assert!(m.run("cat /disk/modules.dep").contains("hello.ko"));
        assert!(m.run("umount").contains("unmounted"));
    }
    assert_eq!(heap(&mut m), before);
    assert!(m.run("rmmod vfat").contains("vfat: unloaded"));
    // Registering and unregistering the file system type leaks nothing.
    let out = m.run("modstress 10 /initrd/vfat.ko");
    assert!(out.contains("(difference 0)"), "{out}");
    let out = m.run("mount vda");
    assert!(
        out.contains("vfat: loaded at")
            && out.contains("mount: /dev/vda mounted on /disk (FAT volume 'MODULES')"),
        "{out}"
    );
    assert!(m
        .run("cat /disk/modules.alias")
        .contains("alias fs-vfat vfat"));
    drop(m);

    let mut m = machine_on(
        Some(&disk),
        Opts {
            append: Some("modprobe.blacklist=vfat".to_string()),
            ..Opts::default()
        },
    );
    let dmesg = m.run("dmesg");
    assert!(
        dmesg.contains(
            "disk: cannot mount: unknown filesystem type 'vfat' (no module for fs-vfat in /initrd or /disk)"
        ),
        "{dmesg}"
    );
    assert!(!m.run("lsmod").contains("vfat"));
    assert_eq!(
        m.run("mount vda"),
        "mount: unknown filesystem type 'vfat' (no module for fs-vfat in /initrd or /disk)\n"
    );
    assert!(m.run("lsdisk").contains("/disk: not mounted"));
    assert!(m.run("insmod /initrd/vfat.ko").contains("vfat: loaded at"));
    assert!(m
        .run("mount vda")
        .contains("mount: /dev/vda mounted on /disk (FAT volume 'MODULES')"));
}

#[test]
fn no_disk_and_a_disk_that_is_not_fat_are_reported_not_fatal() {
    let mut m = machine(None);
    let dmesg = m.run("dmesg");
    assert!(!dmesg.contains("disk: mounted"), "{dmesg}");
    assert!(m.run("lsdisk").contains("/disk: not mounted"));
    assert_eq!(m.run("mount"), "initrd on /initrd type cpio (ro)\n");
    assert_eq!(m.run("mount vda"), "mount: vda: No such device\n");
    drop(m);

    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let raw = dir.join("not-fat.img");
    std::fs::write(&raw, vec![0x5au8; 4 << 20]).expect("write");
    let mut m = machine(Some(&raw));
    let dmesg = m.run("dmesg");
    for want in [
        "vfat: vda: not a FAT file system",
        "disk: cannot mount: vda: wrong fs type, bad option, bad superblock on /dev/vda",
    ] {
        assert!(dmesg.contains(want), "{want:?} in {dmesg}");
    }
    assert_eq!(m.run("echo still here"), "still here\n");
    let t = m.transcript();
    assert!(!t.contains("Kernel panic") && !t.contains("Oops"), "{t}");
}

/// Directories on the disk: `ls`, `cat` and `insmod` take paths below
/// `/disk` with long names, and errors name what is wrong with the path.
#[test]
fn paths_reach_files_in_directories() {
    let disk = fat_disk("disk-dirs.img", &[]);
    let dir = root().join("target/qemu-tests");
    let note = dir.join("disk-dirs-note.txt");
    std::fs::write(&note, "deep inside\n").expect("write note");
    let img = format!("{}@@1M", disk.display());
    let mtools = |args: &[&str]| {
        let st = Command::new(args[0])
            .args(&args[1..])
            .env("MTOOLS_SKIP_CHECK", "1")
            .status()
            .expect("mtools");
        assert!(st.success(), "{args:?}");
    };
    mtools(&[
        "mmd",
        "-i",
        &img,
        "::Extra-Drivers",
        "::Extra-Drivers/deeper",
    ]);
    let hello = root().join("build/modules/hello.ko");
    mtools(&[
        "mcopy",
        "-i",
        &img,
        hello.to_str().expect("utf-8 path"),
        "::Extra-Drivers/my_greeting_driver.ko",
    ]);
    mtools(&[
        "mcopy",
        "-i",
        &img,
        note.to_str().expect("utf-8 path"),
        "::Extra-Drivers/deeper/note.txt",
    ]);
    let mut m = machine(Some(&disk));
    assert!(m.run("ls /disk").contains("Extra-Drivers/"));
    let size = std::fs::metadata(&hello).expect("hello.ko").len();
    assert_eq!(
        m.run("ls /disk/Extra-Drivers"),
        format!("       - deeper/\n{size:>8} my_greeting_driver.ko\n")
    );
    // More walks than the FAT layer has directory handles: each is closed.
    for _ in 0..6 {
        assert_eq!(
            m.run("cat /disk/Extra-Drivers/deeper/note.txt"),
            "deep inside\n"
        );
    }
    assert_eq!(m.run("lsdisk /Extra-Drivers/deeper"), "      12 note.txt\n");
    assert!(m
        .run("insmod /disk/Extra-Drivers/my_greeting_driver.ko")
        .contains("hello: loaded at"));
    assert_eq!(
        m.run("ls /disk/nope"),
        "ls: /disk/nope: No such file or directory\n"
    );
    assert_eq!(
        m.run("ls /disk/modules.dep"),
        "ls: /disk/modules.dep: Not a directory\n"
    );
    let out = m.run("cat /disk/Extra-Drivers");
    assert!(out.contains("Is a directory"), "{out}");
    let out = m.run("insmod /disk/Extra-Drivers/deeper/missing.ko");
    assert!(out.contains("No such file or directory"), "{out}");
}

/// A scratch disk next to the modules disk: whichever of the two QEMU makes
/// vda, boot mounts the one with a FAT file system and loads from it.
#[test]
fn boot_mounts_the_fat_disk_whichever_slot_it_gets() {
    let disk = fat_disk("disk-two-fat.img", &[]);
    let dir = root().join("target/qemu-tests");
    let raw = dir.join("disk-two-raw.img");
    std::fs::write(&raw, vec![0x5au8; 1 << 20]).expect("write");
    // The scratch disk last: QEMU gives it the lowest slot, so it is vda.
    let mut extra = vec!["-device".to_string(), "virtio-rng-device".to_string()];
    for (i, d) in [&disk, &raw].iter().enumerate() {
        extra.extend([
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d{i}", d.display()),
            "-device".to_string(),
            format!("virtio-blk-device,drive=d{i}"),
        ]);
    }
    let mut m = Machine::boot(&Opts {
        initrd: Some(boot_image()),
        extra,
        ..Opts::default()
    });
    let dmesg = m.run("dmesg");
    assert!(
        dmesg.contains("vda: 2048 512-byte logical blocks"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("disk: mounted vdb at /disk (FAT volume 'MODULES')"),
        "{dmesg}"
    );
    assert!(!dmesg.contains("cannot mount"), "{dmesg}");
    assert!(
        dmesg.contains("coldplug: 1 more drivers loaded from /disk: virtio_rng"),
        "{dmesg}"
    );
    assert_eq!(
        m.run("mount"),
        "initrd on /initrd type cpio (ro)\n/dev/vdb on /disk type vfat (ro)\n"
    );
}

#[test]
fn drivers_work_on_gicv3_entered_at_el2_with_4_cpus() {
    let disk = fat_disk("disk-gicv3.img", &[]);
    let mut m = machine_on(
        Some(&disk),
        Opts {
            cpu: Some("max"),
            gic: Some(3),
            el: Some(2),
            smp: Some(4),
            mem: Some("2G"),
            ..Opts::default()
        },
    );
    let lsmod = m.run("lsmod");
    for module in ["pl011", "virtio_mmio", "virtio_blk", "virtio_rng", "vfat"] {
        assert!(
            lsmod.lines().any(|l| l.starts_with(&format!("{module} "))),
            "{module} not loaded:\n{lsmod}"
        );
    }
    assert_eq!(m.run("echo through the tty"), "through the tty\n");
    assert_eq!(m.run("rng 8").lines().count(), 2);
    // The drivers poll their rings, so a request can finish before its
    // interrupt is taken (one CI run read hwrng's count as 0 right after
    // `rng 8`); the line stays asserted until the handler acks it, so the
    // count must rise soon: read it again for up to two seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    for name in ["ttyAMA0", "vda", "hwrng"] {
        loop {
            let irqs = m.run("interrupts");
            let line = irqs
                .lines()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("{name}:\n{irqs}"))
                .to_string();
            let count: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            assert!(line.contains("GICv3"), "{line}");
            if count > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no interrupt taken: {line}"
            );
        }
    }
    m.send(b"poweroff\r");
    assert!(m.wait_exit(std::time::Duration::from_secs(30)).success());
}

/// Nothing the shell offers may destroy the disk it booted from: a mounted
/// block device refuses raw writes (EBUSY, like Linux 6.8 with
/// BLK_DEV_WRITE_MOUNTED=n), and `blkbench ... write` refuses a device that
/// holds a partition table or a file system unless told `--force`.
#[test]
fn the_mounted_disk_cannot_be_overwritten_from_the_shell() {
    let disk = fat_disk("disk-protect.img", &[]);
    let before = std::fs::read(&disk).expect("read image");
    let mut m = machine(Some(&disk));
    assert!(m.run("dmesg").contains("disk: mounted vda at /disk"));
    assert_eq!(m.run("open /dev/vda"), "/dev/vda: opened as fd 3\n");
    assert_eq!(m.run("write 3 oops"), "write: 3: Device or resource busy\n");
    assert_eq!(m.run("close 3"), "");
    assert_eq!(
        m.run("blkbench /dev/vda 1 write"),
        "blkbench: /dev/vda: Device or resource busy: mounted at /disk; unmount it first\n"
    );
    assert_eq!(
        m.run("blkbench /dev/vda 1 write --force"),
        "blkbench: /dev/vda: Device or resource busy: mounted at /disk; unmount it first\n"
    );
    assert_eq!(m.run("umount"), "umount: /dev/vda unmounted from /disk\n");
    assert_eq!(
        m.run("blkbench /dev/vda 1 write"),
        "blkbench: /dev/vda: holds an MBR partition table; writing the test pattern \
         would destroy it (use --force to write anyway)\n"
    );
    // Reads stay allowed, mounted or not.
    assert!(m
        .run("blkbench /dev/vda 1")
        .contains("read 1 MiB in 1 MiB requests"));
    assert!(m.run("mount vda").contains("mounted on /disk"));
    assert!(m.run("insmod /disk/hello.ko").contains("hello: Hello"));
    m.send(b"poweroff\r");
    assert!(m.wait_exit(std::time::Duration::from_secs(30)).success());
    let after = std::fs::read(&disk).expect("read image");
    assert!(before == after, "the disk image changed");
}

/// Commands reach files through one path lookup and name themselves in
/// their messages: `modstress` loads from /disk like `insmod`, `rng` without
/// an entropy device says so.
#[test]
fn commands_share_one_path_lookup_and_name_themselves() {
    let disk = fat_disk("disk-paths.img", &[]);
    // No entropy device this time.
    let mut m = Machine::boot(&Opts {
        initrd: Some(boot_image()),
        extra: vec![
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d0", disk.display()),
            "-device".to_string(),
            "virtio-blk-device,drive=d0".to_string(),
        ],
        ..Opts::default()
    });
    let out = m.run("modstress 2 /disk/hello.ko");
    assert!(
        out.contains("modstress: 2 load/unload cycles of hello"),
        "{out}"
    );
    assert_eq!(
        m.run("modstress 1 /disk/missing.ko"),
        "modstress: /disk/missing.ko: No such file or directory\n"
    );
    assert_eq!(
        m.run("rng 8"),
        "rng: /dev/hwrng: No such device (no entropy device; QEMU: -device virtio-rng-device)\n"
    );
    assert_eq!(
        m.run("hexdump /dev/nothing"),
        "hexdump: /dev/nothing: No such device\n"
    );
}

/// `hello.ko` (prelinked stripped, as `make modules` builds it) with its
/// signature cut off and `.modprelink`'s recorded text size a page larger:
/// its RELA tables no longer hold the applied relocations, so the kernel has
/// no other plan and refuses it by name instead of loading it wrong; the
/// untouched file still loads after.
fn hello_planned_elsewhere() -> Vec<u8> {
    let ko = std::fs::read(root().join("build/modules/hello.ko")).expect("hello.ko");
    let magic = b"~Module signature appended~\n";
    let mut elf = ko.clone();
    if ko.ends_with(magic) {
        let info = ko.len() - magic.len() - 12;
        let sig_len = u32::from_be_bytes(ko[info + 8..info + 12].try_into().unwrap()) as usize;
        elf.truncate(info - sig_len);
    }
    let u64_at =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let u16_at =
        |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().unwrap()) as usize;
    let (shoff, shnum, shstrndx) = (u64_at(&elf, 0x28), u16_at(&elf, 0x3c), u16_at(&elf, 0x3e));
    let names = u64_at(&elf, shoff + shstrndx * 64 + 24);
    let prelink = (0..shnum)
        .map(|i| shoff + i * 64)
        .find(|&h| {
            let name = names + u32::from_le_bytes(elf[h..h + 4].try_into().unwrap()) as usize;
            elf[name..].starts_with(b".modprelink\0")
        })
        .map(|h| u64_at(&elf, h + 24))
        .expect("hello.ko has .modprelink");
    assert_eq!(
        &elf[prelink..prelink + 8],
        b"MODPLKS1",
        "hello.ko is not stripped"
    );
    elf[prelink + 25] ^= 0x10; // recorded text size + 0x1000
    elf
}

#[test]
fn a_stripped_module_planned_another_way_is_refused_by_name() {
    let bad = hello_planned_elsewhere();
    let disk = fat_disk("disk-stripped.img", &[("elsewhere.ko", &bad)]);
    let mut m = machine(Some(&disk));
    let before = m.heap_used();
    let out = m.run("insmod /disk/elsewhere.ko");
    assert!(
        out.contains("insmod: ERROR: could not insert 'elsewhere': Invalid module format")
            && out.contains(
                "loads only as the build planned it, but this loader plans it differently"
            ),
        "{out}"
    );
    assert!(!m.run("lsmod").contains("hello"));
    assert_eq!(before, m.heap_used(), "the failed load left a trace");
    assert!(m.run("insmod /disk/hello.ko").contains("hello: loaded at"));
}
