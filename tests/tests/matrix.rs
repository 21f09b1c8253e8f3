//! Boot on every supported machine shape, and fail clearly without a usable DTB.

use qemu_tests::{root, Machine, Opts};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Boots, checks the log says what the machine is, and powers off with status 0.
fn boots(opts: Opts, expect_in_dmesg: &[&str]) {
    let mut m = Machine::boot(&opts);
    let dmesg = m.run("dmesg");
    for want in expect_in_dmesg {
        assert!(
            dmesg.contains(want),
            "{opts:?}: missing {want:?} in dmesg:\n{dmesg}"
        );
    }
    let mem = m.run("mem");
    assert!(mem.contains("heap:"), "{mem}");
    m.send(b"poweroff\r");
    let status = m.wait_exit(T);
    assert!(status.success(), "{opts:?}: poweroff gave {status}");
}

#[test]
fn boots_on_cortex_a53() {
    boots(
        Opts {
            cpu: Some("cortex-a53"),
            ..Opts::default()
        },
        &["entered at EL1"],
    );
}

#[test]
fn boots_on_cortex_a57() {
    boots(
        Opts {
            cpu: Some("cortex-a57"),
            gic: Some(2),
            ..Opts::default()
        },
        &["GICv2: "],
    );
}

#[test]
fn boots_on_cortex_a72_with_gicv3() {
    boots(
        Opts {
            gic: Some(3),
            ..Opts::default()
        },
        &["GICv3: "],
    );
}

#[test]
fn boots_on_max_entered_at_el2_with_gicv3() {
    boots(
        Opts {
            cpu: Some("max"),
            el: Some(2),
            gic: Some(3),
            ..Opts::default()
        },
        &[
            "entered at EL2, running at EL1",
            "GICv3: ",
            "psci: using PSCI v0.2+ via smc",
        ],
    );
}

#[test]
fn boots_at_el2_with_gicv2() {
    boots(
        Opts {
            el: Some(2),
            gic: Some(2),
            ..Opts::default()
        },
        &["entered at EL2", "GICv2: "],
    );
}

#[test]
fn boots_in_16m_and_32m() {
    boots(
        Opts {
            mem: Some("16M"),
            ..Opts::default()
        },
        &["] 16 MiB"],
    );
    boots(
        Opts {
            mem: Some("32M"),
            ..Opts::default()
        },
        &["] 32 MiB"],
    );
}

#[test]
fn boots_in_2g_with_4_cpus() {
    boots(
        Opts {
            mem: Some("2G"),
            smp: Some(4),
            ..Opts::default()
        },
        &["] 2 GiB", "smp: Brought up 1 node, 4 CPUs"],
    );
}

#[test]
fn no_dtb_halts_with_a_clear_message() {
    // QEMU passes no DTB to an ELF kernel (x0 = 0).
    let elf = root().join("build/kernel.elf");
    let mut m = Machine::start(&Opts {
        kernel: Some(elf),
        ..Opts::default()
    });
    let out = m.expect("System halted.", T);
    assert!(
        out.contains("Kernel panic - not syncing: no device tree"),
        "{out}"
    );
}

/// QEMU's own DTB for the default machine, minus its /memory node.
fn dtb_without_memory() -> PathBuf {
    let dir = root().join("target/qemu-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let full = dir.join("virt-full.dtb");
    let out = dir.join("virt-nomem.dtb");
    let st = Command::new("qemu-system-aarch64")
        .args([
            "-M",
            &format!("virt,dumpdtb={}", full.display()),
            "-cpu",
            "cortex-a72",
            "-m",
            "256M",
            "-nographic",
            "-nic",
            "none",
        ])
        .output()
        .expect("qemu-system-aarch64");
    assert!(st.status.success(), "dumpdtb failed: {st:?}");
    let dts = Command::new("dtc")
        .args(["-q", "-I", "dtb", "-O", "dts"])
        .arg(&full)
        .output()
        .expect("dtc (device-tree-compiler)");
    let text = String::from_utf8_lossy(&dts.stdout).to_string();
    let start = text.find("\tmemory@").expect("memory node in QEMU's DTB");
    let end = start + text[start..].find("};").expect("end of memory node") + 2;
    let stripped = format!("{}{}", &text[..start], &text[end..]);
    let mut child = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("dtc");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stripped.as_bytes())
        .expect("write dts");
    assert!(child.wait().expect("dtc").success());
    out
}

/// QEMU re-creates /memory in any DTB given with -dtb, so the test boots the
/// way a boot loader would: a three-instruction shim given as `-bios` (in flash
/// at 0, where the CPU starts) puts the address of the memory-less DTB in x0 and
/// jumps to the Image; Image and DTB are placed with `-device loader`. The same
/// DTB is also given with -dtb only so that QEMU's own copy at RAM base stays
/// small enough not to overlap the Image.
#[test]
fn dtb_without_memory_halts_with_a_clear_message() {
    let dtb = dtb_without_memory();
    let shim = root().join("target/qemu-tests/shim.bin");
    let words: [u32; 3] = [
        0xd2a8_8000, // movz x0, #0x4400, lsl #16   (x0 = 0x4400_0000, the DTB)
        0xd2a8_0101, // movz x1, #0x4008, lsl #16   (x1 = 0x4008_0000, the Image)
        0xd61f_0020, // br   x1
    ];
    std::fs::write(
        &shim,
        words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .expect("write shim");
    let image = qemu_tests::kernel_image();
    let loader = |file: &PathBuf, addr: &str| {
        format!("loader,file={},addr={addr},force-raw=on", file.display())
    };
    let mut m = Machine::start(&Opts {
        kernel: Some(PathBuf::from("none")),
        extra: vec![
            "-device".into(),
            loader(&image, "0x40080000"),
            "-device".into(),
            loader(&dtb, "0x44000000"),
            "-bios".into(),
            shim.display().to_string(),
            "-dtb".into(),
            dtb.display().to_string(),
        ],
        ..Opts::default()
    });
    let out = m.expect("System halted.", T);
    assert!(
        out.contains("Kernel panic - not syncing: device tree has no /memory node"),
        "{out}"
    );
}
