//! The C author's kit in the running kernel: `hello_c` (printf-style
//! `pr_info`/`printk(KERN_...)`, a bool parameter, `EXPORT_SYMBOL`, versions
//! added by `modtool modpost`), a Rust module calling its export (and one with
//! the wrong signature refused), and `cparams`'s parameters of every C type
//! shown by modinfo and set by insmod.

use qemu_tests::{with_initrd_no_coldplug as with_initrd, Machine};

/// The console lines a command printed, without their `[    1.234567] ` stamps.
fn lines(out: &str) -> Vec<String> {
    out.lines()
        .map(
            |l| match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                Some((_, rest)) => rest.to_string(),
                None => l.to_string(),
            },
        )
        .collect()
}

fn assert_has(out: &str, want: &str) {
    assert!(
        lines(out).iter().any(|l| l == want),
        "missing the line {want:?} in\n{out}"
    );
}

#[test]
fn a_c_module_logs_with_printf_formats_and_kern_levels() {
    let mut m = Machine::boot(&with_initrd());
    let out = m.run("insmod /initrd/hello_c.ko");
    assert_has(&out, "hello_c: Hello from C");
    assert_has(&out, "hello_c: read 13 bytes at 1000: helloc0");
    assert_has(
        &out,
        "hello_c: limits: -9223372036854775808 18446744073709551615 -2147483648",
    );
    let notice = lines(&out)
        .into_iter()
        .find(|l| l.starts_with("hello_c: device "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        notice.ends_with(", [ab   |   cd] [-0042] [beef/BEEF] z 100%"),
        "{notice}"
    );
    // KERN_DEBUG (pr_debug) reaches dmesg but not the console at loglevel 7.
    assert!(!out.contains("helloc0 is device"), "{out}");
    let dmesg = m.run("dmesg");
    assert_has(&dmesg, "hello_c: read 13 bytes at 1000: helloc0");
    assert!(
        lines(&dmesg)
            .iter()
            .any(|l| l.starts_with("hello_c: helloc0 is device ")),
        "{dmesg}"
    );
    assert_eq!(m.run("cat /dev/helloc0"), "Hello from C\n");
    assert_has(&m.run("rmmod hello_c"), "hello_c: Goodbye from C");

    // A bool parameter (a C bool: one byte, as the kernel's bool kind).
    let out = m.run("insmod /initrd/hello_c.ko shout");
    assert_has(&out, "hello_c: HELLO FROM C");
    m.run("rmmod hello_c");
    let out = m.run("insmod /initrd/hello_c.ko shout=maybe");
    assert!(
        out.contains(
            "hello_c: invalid value 'maybe' for parameter 'shout': not a boolean (1/0, y/n, true/false)"
        ) && out.contains("insmod: ERROR: could not insert 'hello_c': Invalid parameters"),
        "{out}"
    );
}

#[test]
fn a_rust_module_calls_a_c_export_and_a_wrong_signature_is_refused() {
    let mut m = Machine::boot(&with_initrd());
    let out = m.run("modprobe user_of_hello_c");
    assert_has(&out, "hello_c: Hello from C");
    assert_has(&out, "user_of_hello_c: hello_c_add(40, -2) = 38");
    let lsmod = m.run("lsmod");
    assert!(
        lsmod
            .lines()
            .any(|l| l.starts_with("hello_c ") && l.ends_with(" 1 user_of_hello_c")),
        "{lsmod}"
    );
    assert_eq!(
        m.run("rmmod hello_c"),
        "rmmod: ERROR: Module hello_c is in use by: user_of_hello_c\n"
    );
    let ksyms = m.run("ksyms");
    assert!(
        ksyms
            .lines()
            .any(|l| l.contains("hello_c_add") && l.contains("[hello_c]")),
        "{ksyms}"
    );

    let out = m.run("insmod /initrd/wrong_user_of_hello_c.ko");
    assert!(
        out.contains("wrong_user_of_hello_c: disagrees about version of symbol hello_c_add"),
        "{out}"
    );
    assert!(
        out.contains("insmod: ERROR: could not insert 'wrong_user_of_hello_c': Invalid parameters"),
        "{out}"
    );
    assert!(!m.run("lsmod").contains("wrong_user_of_hello_c"));
}

#[test]
fn modinfo_shows_c_parameters_with_their_descriptions_and_types() {
    let mut m = Machine::boot(&with_initrd());
    let info = m.run("modinfo /initrd/cparams.ko");
    for want in [
        "name:           cparams",
        "license:        GPL",
        "abi:            3",
        "parm:           count:how many lines to log (int)",
        "parm:           mask:a bit mask (uint)",
        "parm:           offset:a signed offset (long)",
        "parm:           limit:a size limit (ulong)",
        "parm:           verbose:log more (bool)",
        "parm:           name:whom to greet (charp)",
    ] {
        assert_has(&info, want);
    }
    assert_has(
        &m.run("modinfo /initrd/hello_c.ko"),
        "parm:           shout:greet in capitals (bool)",
    );
}

#[test]
fn c_parameters_of_every_type_reach_the_module() {
    let mut m = Machine::boot(&with_initrd());
    // Warm up whatever the first load allocates for good (the log ring...).
    m.run("insmod /initrd/cparams.ko");
    m.run("rmmod cparams");
    let before = m.heap_used();
    let out = m.run("insmod /initrd/cparams.ko");
    assert_has(
        &out,
        "cparams: count=1 mask=0x000000ff offset=-1 limit=4096 verbose=0 name=world",
    );
    assert_has(&m.run("rmmod cparams"), "cparams: goodbye, world");

    let out = m.run(
        "insmod /initrd/cparams.ko count=2 mask=0xf0 offset=-9223372036854775808 limit=18446744073709551615 verbose name=disk",
    );
    assert_has(
        &out,
        "cparams: count=2 mask=0x000000f0 offset=-9223372036854775808 limit=18446744073709551615 verbose=1 name=disk",
    );
    assert_has(&out, "cparams: hello 2 of 2, disk");
    assert_has(&m.run("rmmod cparams"), "cparams: goodbye, disk");
    assert_eq!(
        m.heap_used(),
        before,
        "the charp copy is freed with the module"
    );

    for (arg, why) in [
        (
            "count=2147483648",
            "out of range for int (-2147483648..2147483647)",
        ),
        ("mask=-1", "out of range for uint (0..4294967295)"),
        ("offset=1x", "not a 64-bit integer"),
        (
            "limit=-1",
            "out of range for ulong (0..18446744073709551615)",
        ),
        ("verbose=2", "not a boolean (1/0, y/n, true/false)"),
    ] {
        let (name, value) = arg.split_once('=').unwrap();
        let out = m.run(&format!("insmod /initrd/cparams.ko {arg}"));
        assert!(
            out.contains(&format!(
                "cparams: invalid value '{value}' for parameter '{name}': {why}"
            )) && out.contains("insmod: ERROR: could not insert 'cparams': Invalid parameters"),
            "{out}"
        );
    }
    assert_eq!(m.run("lsmod"), "Module                 Size  Used by\n");
}
