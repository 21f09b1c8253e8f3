//! File and device commands: `ls`, `cat`, `lsdev`, `open`, `close`, `read`,
//! `write`, `lsof`. Devices registered by modules appear as `/dev/NAME`.

use crate::object::{self, Kind};
use crate::{devfs, initrd, module, print, println};
use kabi::errno;

fn errstr(e: i32) -> &'static str {
    match -e {
        errno::ENODEV => "No such device",
        errno::EBUSY => "Device or resource busy",
        errno::EINVAL => "Invalid argument",
        errno::EFAULT => "Bad address",
        errno::EIO => "Input/output error",
        errno::ENOMEM => "Cannot allocate memory",
        _ => module::strerror(e),
    }
}

/// `ls [/initrd|/dev]`
pub fn ls(args: &[&str]) {
    match args.first().copied().unwrap_or("/") {
        "/" => println!("dev  initrd"),
        "/dev" | "/dev/" => {
            for o in object::all() {
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
    match initrd::read(path) {
        Ok(b) => match core::str::from_utf8(b) {
            Ok(s) => print!("{s}"),
            Err(_) => println!("cat: {path}: binary file ({} bytes); use hexdump", b.len()),
        },
        Err(e) => println!("cat: {path}: {e}"),
    }
}

/// `lsdev`: objects modules registered, with owners and counts.
pub fn lsdev(_: &[&str]) {
    println!(
        "{:>4} {:<16} {:<9} {:<16} {:>5} {:>8}  SIZE",
        "ID", "NAME", "KIND", "OWNER", "USERS", "CALLS"
    );
    for o in object::all() {
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
