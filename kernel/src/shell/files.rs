//! File and device commands: `ls`, `cat`, `hexdump`, `lsdev`, `open`,
//! `close`, `read`, `write`, `lsof`, and the `blkbench` self-test. Devices
//! registered by modules appear as `/dev/NAME`.

use crate::fs::initrd;
use crate::irq::time;
use crate::kobject::devfs;
use crate::kobject::{self, Kind};
use crate::{module, print, println};
use kabi::errno;

fn errstr(e: i32) -> &'static str {
    match -e {
        errno::ENODEV => "No such device",
        errno::EBUSY => "Device or resource busy",
        errno::EINVAL => "Invalid argument",
        errno::EFAULT => "Bad address",
        errno::EIO => "Input/output error",
        errno::ENOMEM => "Cannot allocate memory",
        30 => "Read-only file system",
        _ => module::strerror(e),
    }
}

/// `ls [/initrd|/disk[/DIR]|/dev]`
pub fn ls(args: &[&str]) {
    match args.first().copied().unwrap_or("/") {
        "/" => println!("dev  disk  initrd"),
        d if d == "/disk" || d.starts_with("/disk/") => super::disk::lsdisk(&[d]),
        "/dev" | "/dev/" => {
            for o in kobject::all() {
                if matches!(o.kind, Kind::Device(_)) {
                    println!("{}", o.name);
                }
            }
        }
        "/initrd" | "/initrd/" => {
            let r = initrd::list(|e| {
                if e.is_file() {
                    println!("{:>8} {}", e.data.len(), e.name);
                }
            });
            if let Err(e) = r {
                println!("ls: /initrd: {e}");
            }
        }
        other => println!("ls: {other}: No such file or directory"),
    }
}

fn dev_name(path: &str) -> Option<&str> {
    path.strip_prefix("/dev/")
}

/// `cat FILE`: an initrd file or a device.
pub fn cat(args: &[&str]) {
    let Some(&path) = args.first() else {
        println!("Usage: cat FILE");
        return;
    };
    if let Some(dev) = dev_name(path) {
        let fd = match devfs::open(dev) {
            Ok(fd) => fd,
            Err(e) => {
                println!("cat: {path}: {}", errstr(e));
                return;
            }
        };
        let mut buf = [0u8; 256];
        let mut total = 0;
        while total < 64 * 1024 {
            match devfs::read(fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    print!("{}", core::str::from_utf8(&buf[..n]).unwrap_or("<binary>"));
                    total += n;
                }
                Err(e) => {
                    println!("cat: {path}: {}", errstr(e));
                    break;
                }
            }
        }
        let _ = devfs::close(fd);
        return;
    }
    match crate::fs::read(path) {
        Ok(b) => match core::str::from_utf8(&b) {
            Ok(s) => print!("{s}"),
            Err(_) => println!("cat: {path}: binary file ({} bytes); use hexdump", b.len()),
        },
        Err(e) => println!("cat: {path}: {e}"),
    }
}

/// `rng N`: N bytes from the entropy device (`/dev/hwrng`), in hex.
pub fn rng(args: &[&str]) {
    let n: u64 = match args.first().map(|a| a.parse()) {
        Some(Ok(n)) if n > 0 => n,
        _ => {
            println!("Usage: rng N");
            return;
        }
    };
    hexdump(&["-n", &alloc::format!("{}", n.min(4096)), "/dev/hwrng"]);
}

/// `lsdev`: objects modules registered, with owners and counts.
pub fn lsdev(_: &[&str]) {
    println!(
        "{:>4} {:<16} {:<9} {:<16} {:>5} {:>8}  SIZE",
        "ID", "NAME", "KIND", "OWNER", "USERS", "CALLS"
    );
    for o in kobject::all() {
        let owner = o
            .owner
            .as_ref()
            .map(|m| m.name.as_str())
            .unwrap_or("kernel");
        println!(
            "{:>4} {:<16} {:<9} {:<16} {:>5} {:>8}  {}",
            o.id,
            o.name,
            o.kind.label(),
            owner,
            o.users.count(),
            o.calls.load(core::sync::atomic::Ordering::Relaxed),
            if o.size > 0 {
                alloc::format!("{}", kcore::units::Bytes(o.size))
            } else {
                alloc::string::String::from("-")
            }
        );
    }
}

/// `open /dev/NAME`: keeps a handle open (prints its descriptor).
pub fn open(args: &[&str]) {
    let Some(&path) = args.first() else {
        println!("Usage: open /dev/NAME");
        return;
    };
    let name = dev_name(path).unwrap_or(path);
    match devfs::open(name) {
        Ok(fd) => println!("{path}: opened as fd {fd}"),
        Err(e) => println!("open: {path}: {}", errstr(e)),
    }
}

fn fd_arg(args: &[&str], cmd: &str) -> Option<usize> {
    match args.first().and_then(|a| a.parse().ok()) {
        Some(fd) => Some(fd),
        None => {
            println!("Usage: {cmd} FD ...");
            None
        }
    }
}

/// `close FD`
pub fn close(args: &[&str]) {
    let Some(fd) = fd_arg(args, "close") else {
        return;
    };
    if let Err(e) = devfs::close(fd) {
        println!("close: {fd}: {}", errstr(e));
    }
}

/// `read FD [N]`
pub fn read(args: &[&str]) {
    let Some(fd) = fd_arg(args, "read") else {
        return;
    };
    let n = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256usize)
        .min(4096);
    let mut buf = alloc::vec![0u8; n];
    match devfs::read(fd, &mut buf) {
        Ok(got) => println!(
            "{}",
            core::str::from_utf8(&buf[..got])
                .unwrap_or("<binary>")
                .trim_end_matches('\n')
        ),
        Err(e) => println!("read: {fd}: {}", errstr(e)),
    }
}

/// `write FD TEXT...`
pub fn write(args: &[&str]) {
    let Some(fd) = fd_arg(args, "write") else {
        return;
    };
    let text = args[1..].join(" ");
    match devfs::write(fd, text.as_bytes()) {
        Ok(n) => println!("{n} bytes written"),
        Err(e) => println!("write: {fd}: {}", errstr(e)),
    }
}

/// `sync FD`: flush an open device.
pub fn sync(args: &[&str]) {
    let Some(fd) = fd_arg(args, "sync") else {
        return;
    };
    if let Err(e) = devfs::flush(fd) {
        println!("sync: {fd}: {}", errstr(e));
    }
}

/// `lsof`: open descriptors.
pub fn lsof(_: &[&str]) {
    println!("{:>3} {:<16} {:>8}", "FD", "DEVICE", "OFFSET");
    devfs::list(|fd, name, off| println!("{fd:>3} {name:<16} {off:>8}"));
}

/// A decimal or `0x` hexadecimal number.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Bytes per `hexdump` line.
const HEX_LINE: usize = 16;

/// Prints `hexdump -C` lines for `data`, which starts at file offset `at`.
/// A line equal to the previous one is printed as `*` once, as hexdump does.
struct HexDumper {
    prev: Option<[u8; HEX_LINE]>,
    squeezing: bool,
    line: [u8; HEX_LINE],
    fill: usize,
    line_at: u64,
}

impl HexDumper {
    fn new(at: u64) -> Self {
        Self {
            prev: None,
            squeezing: false,
            line: [0; HEX_LINE],
            fill: 0,
            line_at: at,
        }
    }

    fn push(&mut self, data: &[u8]) {
        for &b in data {
            self.line[self.fill] = b;
            self.fill += 1;
            if self.fill == HEX_LINE {
                self.emit_line();
            }
        }
    }

    fn emit_line(&mut self) {
        let n = self.fill;
        if n == HEX_LINE && self.prev == Some(self.line) {
            if !self.squeezing {
                println!("*");
                self.squeezing = true;
            }
        } else {
            self.squeezing = false;
            print!("{:08x} ", self.line_at);
            for i in 0..HEX_LINE {
                if i == 8 {
                    print!(" ");
                }
                if i < n {
                    print!(" {:02x}", self.line[i]);
                } else {
                    print!("   ");
                }
            }
            print!("  |");
            for &b in &self.line[..n] {
                let c = if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                };
                print!("{c}");
            }
            println!("|");
        }
        self.prev = (n == HEX_LINE).then_some(self.line);
        self.line_at += n as u64;
        self.fill = 0;
    }

    /// Flushes a partial line and prints the end offset.
    fn finish(mut self) {
        if self.fill > 0 {
            self.emit_line();
        }
        println!("{:08x}", self.line_at);
    }
}

/// Reads `len` bytes at `offset` of device `name` into `out` (a device has
/// no seek: reads from 0, skipping, in 512-byte multiples as block devices
/// require).
fn dump_device(path: &str, name: &str, offset: u64, len: u64) -> Result<(), i32> {
    const CHUNK: u64 = 64 * 1024;
    let fd = devfs::open(name)?;
    let mut buf = alloc::vec![0u8; CHUNK as usize];
    let mut dumper = HexDumper::new(offset);
    let end = offset.saturating_add(len);
    let mut pos = 0u64;
    let mut result = Ok(());
    while pos < end {
        let want = if pos < offset {
            ((offset - pos) & !511).clamp(512, CHUNK)
        } else {
            (end - pos).next_multiple_of(512).min(CHUNK)
        };
        match devfs::read(fd, &mut buf[..want as usize]) {
            Ok(0) => break,
            Ok(got) => {
                let (from, to) = (pos, pos + got as u64);
                let lo = offset.clamp(from, to);
                let hi = end.clamp(from, to);
                dumper.push(&buf[(lo - from) as usize..(hi - from) as usize]);
                pos = to;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = devfs::close(fd);
    if let Err(e) = result {
        println!("hexdump: {path}: {}", errstr(e));
    }
    dumper.finish();
    Ok(())
}

/// `hexdump [-s OFFSET] [-n LENGTH] FILE`: `hexdump -C` of an initrd file or
/// a device (default: the first 256 bytes of a device, all of a file).
pub fn hexdump(args: &[&str]) {
    const USAGE: &str = "Usage: hexdump [-s OFFSET] [-n LENGTH] FILE";
    let mut offset = 0u64;
    let mut len = None;
    let mut path = None;
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        let value = match a {
            "-s" | "-n" => match it.next().and_then(|v| parse_number(v)) {
                Some(v) => v,
                None => {
                    println!("hexdump: {a} needs a number\n{USAGE}");
                    return;
                }
            },
            _ if path.is_none() => {
                path = Some(a);
                continue;
            }
            _ => {
                println!("{USAGE}");
                return;
            }
        };
        if a == "-s" {
            offset = value;
        } else {
            len = Some(value);
        }
    }
    let Some(path) = path else {
        println!("{USAGE}");
        return;
    };
    if let Some(dev) = dev_name(path) {
        if let Err(e) = dump_device(path, dev, offset, len.unwrap_or(256)) {
            println!("hexdump: {path}: {}", errstr(e));
        }
        return;
    }
    match crate::fs::read(path) {
        Ok(b) => {
            let start = offset.min(b.len() as u64) as usize;
            let n = len.unwrap_or(u64::MAX).min((b.len() - start) as u64) as usize;
            let mut dumper = HexDumper::new(start as u64);
            dumper.push(&b[start..start + n]);
            dumper.finish();
        }
        Err(e) => println!("hexdump: {path}: {e}"),
    }
}

/// The byte `blkbench` writes at disk offset `offset` (251 is prime, so the
/// pattern never lines up with sectors; the MiB number shifts it per request).
pub fn blkbench_pattern(offset: u64) -> u8 {
    ((offset % 251) as u8).wrapping_add((offset >> 20) as u8)
}

const MIB: usize = 1 << 20;

/// Seconds and MB/s (10^6 bytes, as dd) for `bytes` in `ticks` counter ticks.
fn rate(bytes: u64, ticks: u64) -> (u64, u64, u64) {
    let freq = time::frequency().max(1);
    let us = (ticks as u128 * 1_000_000 / freq as u128) as u64;
    let mb_per_s_x10 = (bytes as u128 * 10 / us.max(1) as u128) as u64;
    (us, mb_per_s_x10 / 10, mb_per_s_x10 % 10)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Write,
    Read,
    /// Read and count the bytes that differ from the pattern (untimed).
    Verify,
}

/// One pass over `mib` MiB of device `name` in 1 MiB requests: counter ticks
/// taken by the requests, then by the final flush (`Write` only), then for
/// `Verify` the bytes that differ from the pattern.
fn blkbench_pass(
    name: &str,
    buf: &mut [u8],
    mib: usize,
    pass: Pass,
) -> Result<(u64, u64, u64), i32> {
    let fd = devfs::open(name)?;
    let mut ticks = 0;
    let mut result = Ok(());
    let mut bad = 0u64;
    for i in 0..mib {
        let base = (i * MIB) as u64;
        if pass == Pass::Write {
            for (j, b) in buf.iter_mut().enumerate() {
                *b = blkbench_pattern(base + j as u64);
            }
            let start = time::ticks_since_boot();
            result = devfs::write(fd, buf).map(|_| ());
            ticks += time::ticks_since_boot() - start;
        } else {
            let start = time::ticks_since_boot();
            let r = devfs::read(fd, buf);
            ticks += time::ticks_since_boot() - start;
            result = match r {
                Ok(n) if n == buf.len() => Ok(()),
                Ok(_) => Err(-errno::ENOSPC),
                Err(e) => Err(e),
            };
            if pass == Pass::Verify {
                bad += buf
                    .iter()
                    .enumerate()
                    .filter(|&(j, &b)| b != blkbench_pattern(base + j as u64))
                    .count() as u64;
            }
        }
        if result.is_err() {
            break;
        }
    }
    let mut flush_ticks = 0;
    if pass == Pass::Write && result.is_ok() {
        let start = time::ticks_since_boot();
        result = devfs::flush(fd);
        flush_ticks = time::ticks_since_boot() - start;
    }
    let _ = devfs::close(fd);
    result.map(|()| (ticks, flush_ticks, bad))
}

/// `blkbench /dev/NAME MiB [write]`: self-test: sequential reads (after
/// writing a known pattern, with `write`) of MiB MiB in 1 MiB requests through
/// devfs, timed with the generic counter around each request (filling the
/// buffer with the pattern is not counted). The write pass is followed by a
/// `sync` (a virtio flush: QEMU's fsync of the image), timed and printed on
/// its own line; after it an untimed pass reads everything back and checks it
/// against the pattern.
pub fn blkbench(args: &[&str]) {
    let (Some(path), Some(mib)) = (
        args.first(),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
    ) else {
        println!("Usage: blkbench /dev/NAME MiB [write]");
        return;
    };
    let write = args.get(2) == Some(&"write");
    let name = dev_name(path).unwrap_or(path);
    let mut buf = alloc::vec::Vec::new();
    if buf.try_reserve_exact(MIB).is_err() {
        println!("blkbench: cannot allocate a 1 MiB buffer");
        return;
    }
    buf.resize(MIB, 0u8);
    let bytes = (mib * MIB) as u64;
    let passes: &[(&str, Pass)] = if write {
        &[
            ("write", Pass::Write),
            ("read", Pass::Read),
            ("verify", Pass::Verify),
        ]
    } else {
        &[("read", Pass::Read)]
    };
    for &(what, pass) in passes {
        match blkbench_pass(name, &mut buf, mib, pass) {
            Ok((_, _, bad)) if pass == Pass::Verify => {
                if bad == 0 {
                    println!("blkbench: {path}: read back {mib} MiB: matches the pattern");
                } else {
                    println!("blkbench: {path}: read back {mib} MiB: {bad} bytes differ from the pattern");
                }
            }
            Ok((ticks, flush_ticks, _)) => {
                let (us, mbs, tenth) = rate(bytes, ticks);
                println!(
                    "blkbench: {path}: {what} {mib} MiB in 1 MiB requests: {}.{:06} s, {mbs}.{tenth} MB/s",
                    us / 1_000_000,
                    us % 1_000_000,
                );
                if pass == Pass::Write {
                    let (us, _, _) = rate(0, flush_ticks);
                    let (all_us, mbs, tenth) = rate(bytes, ticks + flush_ticks);
                    println!(
                        "blkbench: {path}: sync (flush to the host's disk): {}.{:06} s; write+sync {mbs}.{tenth} MB/s ({} ms)",
                        us / 1_000_000,
                        us % 1_000_000,
                        all_us / 1000
                    );
                }
            }
            Err(e) => {
                println!("blkbench: {path}: {what}: {}", errstr(e));
                return;
            }
        }
    }
}
