//! Parsers for the side-by-side module bench (`make bench-linux`): the records
//! Linux's `/init` (tests/linux-bench/init.c) prints, and our shell's
//! `modstress` summary. Pure text in, numbers out, so they are tested on the
//! host without QEMU.

/// One `linuxbench: module=M op=O n=N min_us=A median_us=B mean_us=C` record:
/// N timed calls of `finit_module` (op `insmod`) or `delete_module` (`rmmod`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallTimes {
    pub module: String,
    pub op: String,
    pub n: u32,
    pub min_us: f64,
    pub median_us: f64,
    pub mean_us: f64,
}

/// Everything Linux's `/init` reported in one boot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinuxReport {
    /// `CLOCK_BOOTTIME` when `/init` started, in µs.
    pub boot_to_init_us: Option<f64>,
    pub calls: Vec<CallTimes>,
    /// (module, the virtio devices it bound, or "none").
    pub bound: Vec<(String, String)>,
    /// `error ...` records, verbatim after `linuxbench: `.
    pub errors: Vec<String>,
    /// `/init` reached its last record.
    pub done: bool,
}

impl LinuxReport {
    /// The timing record for `module` and `op`, if `/init` printed one.
    pub fn get(&self, module: &str, op: &str) -> Option<&CallTimes> {
        self.calls.iter().find(|c| c.module == module && c.op == op)
    }
}

const TAG: &str = "linuxbench: ";

/// The value of `key=` among space-separated `key=value` fields.
fn field<'a>(fields: &[&'a str], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

/// Parses a serial console transcript; lines without the `linuxbench: ` tag
/// (kernel messages) and malformed records are skipped. The tag may follow
/// other text on the same line (a kernel message printed without a newline).
pub fn parse_linux(transcript: &str) -> LinuxReport {
    let mut report = LinuxReport::default();
    for line in transcript.lines() {
        let Some(at) = line.find(TAG) else { continue };
        let record = line[at + TAG.len()..].trim();
        let fields: Vec<&str> = record.split_whitespace().collect();
        match fields.first().copied() {
            Some("done") => report.done = true,
            Some("error") => report.errors.push(record.to_string()),
            Some("bound") => {
                if let (Some(m), Some(d)) = (field(&fields, "module"), field(&fields, "devices")) {
                    report.bound.push((m.to_string(), d.to_string()));
                }
            }
            Some(f) if f.starts_with("boot_to_init_us=") => {
                report.boot_to_init_us =
                    field(&fields, "boot_to_init_us").and_then(|v| v.parse().ok());
            }
            Some(f) if f.starts_with("module=") => {
                let num = |k| field(&fields, k).and_then(|v| v.parse::<f64>().ok());
                if let (Some(module), Some(op), Some(n), Some(min), Some(median), Some(mean)) = (
                    field(&fields, "module"),
                    field(&fields, "op"),
                    field(&fields, "n").and_then(|v| v.parse().ok()),
                    num("min_us"),
                    num("median_us"),
                    num("mean_us"),
                ) {
                    report.calls.push(CallTimes {
                        module: module.to_string(),
                        op: op.to_string(),
                        n,
                        min_us: min,
                        median_us: median,
                        mean_us: mean,
                    });
                }
            }
            _ => {}
        }
    }
    report
}

/// Our `modstress` per-cycle minimum and median, µs, of insmod and of rmmod
/// (`[(min, median) of insmod, (min, median) of rmmod]`), from its line
/// `insmod per cycle: min A, median B us; rmmod per cycle: min C, median D us`.
pub fn parse_modstress_spread(output: &str) -> Option<[(f64, f64); 2]> {
    let line = output
        .lines()
        .find(|l| l.starts_with("insmod per cycle: "))?;
    let value = |key: &str, nth: usize| {
        line.split(key)
            .nth(nth)?
            .split([' ', ','])
            .next()?
            .parse::<f64>()
            .ok()
    };
    Some([
        (value("min ", 1)?, value("median ", 1)?),
        (value("min ", 2)?, value("median ", 2)?),
    ])
}

/// Our `modstress` summary: mean µs per insmod and per rmmod, from its line
/// `insmod: X us/cycle (...); rmmod: Y us/cycle`.
pub fn parse_modstress(output: &str) -> Option<(f64, f64)> {
    let line = output.lines().find(|l| l.starts_with("insmod: "))?;
    let insmod = line
        .strip_prefix("insmod: ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let rmmod = line
        .split("rmmod: ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some((insmod, rmmod))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: &str = "\
+ qemu-system-aarch64 -M virt,gic-version=2 ...
linuxbench: boot_to_init_us=768826 uptime_s=0.77
linuxbench: module=virtio_mmio op=insmod n=100 min_us=6002.9 median_us=6736.2 mean_us=7350.9
linuxbench: module=virtio_mmio op=rmmod n=100 min_us=17923.5 median_us=21752.5 mean_us=22551.6
[    3.101] random: crng init donelinuxbench: bound module=virtio_blk devices=virtio1
linuxbench: bound module=virtio_rng devices=none
linuxbench: module=virtio_blk op=insmod n=100 min_us=11557.9 median_us=12373.8
linuxbench: error module=virtio_rng op=insmod errno=2 (No such file or directory)
linuxbench: done
[   13.932289] reboot: Power down
";

    #[test]
    fn linux_records_are_read_and_kernel_lines_skipped() {
        let r = parse_linux(LINUX);
        assert_eq!(r.boot_to_init_us, Some(768826.0));
        assert!(r.done);
        assert_eq!(r.calls.len(), 2, "the record without mean_us is dropped");
        assert_eq!(
            r.get("virtio_mmio", "rmmod"),
            Some(&CallTimes {
                module: "virtio_mmio".into(),
                op: "rmmod".into(),
                n: 100,
                min_us: 17923.5,
                median_us: 21752.5,
                mean_us: 22551.6,
            })
        );
        assert_eq!(r.get("virtio_blk", "insmod"), None);
        assert_eq!(
            r.bound,
            vec![
                ("virtio_blk".to_string(), "virtio1".to_string()),
                ("virtio_rng".to_string(), "none".to_string())
            ]
        );
        assert_eq!(
            r.errors,
            vec!["error module=virtio_rng op=insmod errno=2 (No such file or directory)"]
        );
    }

    #[test]
    fn a_boot_that_never_reached_init_reports_nothing() {
        let r = parse_linux("[    0.000000] Booting Linux on physical CPU 0x0\nKernel panic\n");
        assert_eq!(r, LinuxReport::default());
    }

    #[test]
    fn modstress_summary_gives_mean_insmod_and_rmmod() {
        let out = "\
modstress: 100 load/unload cycles of virtio_blk (36864 bytes mapped, 632 relocations)
insmod: 3929.8 us/cycle (67.95 us/KiB of file, 6.218 us/relocation); rmmod: 683.4 us/cycle
heap in use: before 39864 bytes, after 40664 bytes (difference 800); pages in use: before 10, after 10
";
        assert_eq!(parse_modstress(out), Some((3929.8, 683.4)));
        assert_eq!(
            parse_modstress("modstress: cycle 3 failed: File exists\n"),
            None
        );
    }

    #[test]
    fn modstress_summary_gives_min_and_median_insmod_and_rmmod() {
        let out = "\
insmod: 647.5 us/cycle (15.38 us/KiB of file, 9.522 us/relocation); rmmod: 46.2 us/cycle
insmod per cycle: min 571.2, median 598.0 us; rmmod per cycle: min 38.1, median 41.0 us
";
        assert_eq!(
            parse_modstress_spread(out),
            Some([(571.2, 598.0), (38.1, 41.0)])
        );
        assert_eq!(parse_modstress(out), Some((647.5, 46.2)));
        assert_eq!(
            parse_modstress_spread("insmod: 1.0 us/cycle; rmmod: 2.0 us/cycle\n"),
            None
        );
        assert_eq!(
            parse_modstress_spread(
                "insmod per cycle: min 1.0, median x us; rmmod per cycle: min 1.0, median 2.0 us\n"
            ),
            None
        );
    }
}
