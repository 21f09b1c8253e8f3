//! File and device commands: `ls`, `cat`, `hexdump`, `lsdev`, `open`,
//! `close`, `read`, `write`, `lsof`, and the `blkbench` self-test. Devices
//! registered by modules appear as `/dev/NAME`.

use crate::fs::initrd;
use crate::kobject::devfs;
use crate::kobject::{self, Kind};
use crate::{print, println};
use kcore::errno::strerror;

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
                println!("cat: {path}: {}", strerror(e));
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
                    println!("cat: {path}: {}", strerror(e));
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
    if crate::kobject::find_device("hwrng").is_none() {
        println!(
            "rng: /dev/hwrng: No such device (no entropy device; QEMU: -device virtio-rng-device)"
        );
        return;
    }
    hexdump_as(
        "rng",
        &["-n", &alloc::format!("{}", n.min(4096)), "/dev/hwrng"],
    );
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
        Err(e) => println!("open: {path}: {}", strerror(e)),
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
        println!("close: {fd}: {}", strerror(e));
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
        Err(e) => println!("read: {fd}: {}", strerror(e)),
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
        Err(e) => println!("write: {fd}: {}", strerror(e)),
    }
}

/// `sync FD`: flush an open device.
pub fn sync(args: &[&str]) {
    let Some(fd) = fd_arg(args, "sync") else {
        return;
    };
    if let Err(e) = devfs::flush(fd) {
        println!("sync: {fd}: {}", strerror(e));
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
fn dump_device(cmd: &str, path: &str, name: &str, offset: u64, len: u64) -> Result<(), i32> {
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
        println!("{cmd}: {path}: {}", strerror(e));
    }
    dumper.finish();
    Ok(())
}

/// `hexdump [-s OFFSET] [-n LENGTH] FILE`: `hexdump -C` of an initrd file or
/// a device (default: the first 256 bytes of a device, all of a file).
pub fn hexdump(args: &[&str]) {
    hexdump_as("hexdump", args)
}

/// `hexdump` on behalf of command `cmd`, whose name its messages carry.
fn hexdump_as(cmd: &str, args: &[&str]) {
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
                    println!("{cmd}: {a} needs a number\n{USAGE}");
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
        if let Err(e) = dump_device(cmd, path, dev, offset, len.unwrap_or(256)) {
            println!("{cmd}: {path}: {}", strerror(e));
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
        Err(e) => println!("{cmd}: {path}: {e}"),
    }
}
