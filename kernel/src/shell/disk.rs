//! Disk commands: `mount [DEV]`, `umount`, `lsdisk`.

use crate::fs::fat as disk;
use crate::println;

/// `mount [DEV]`: mounts DEV (default `vda`) at `/disk`; without a device
/// argument and with a disk mounted, says what is mounted.
pub fn mount(args: &[&str]) {
    match (args.first(), disk::mounted()) {
        (None, Some(dev)) => println!("/dev/{dev} on /disk type vfat"),
        (dev, _) => {
            let dev = dev.map(|d| d.trim_start_matches("/dev/")).unwrap_or("vda");
            match disk::mount(dev) {
                Ok(label) => println!(
                    "mount: /dev/{dev} mounted on /disk (FAT volume '{}')",
                    label.trim()
                ),
                Err(e) => println!("mount: {e}"),
            }
        }
    }
}

/// `umount`: unmounts `/disk`, releasing the block device.
pub fn umount(_: &[&str]) {
    match disk::umount() {
        Ok(dev) => println!("umount: /dev/{dev} unmounted from /disk"),
        Err(e) => println!("umount: /disk: {e}"),
    }
}

/// `lsdisk [DIR]` (and `ls /disk[/DIR]`): the files in `/disk` (or a
/// directory below it) with their sizes.
pub fn lsdisk(args: &[&str]) {
    let dir = args.first().copied().unwrap_or("");
    let dir = dir.strip_prefix("/disk").unwrap_or(dir).trim_matches('/');
    match disk::list(dir) {
        Ok(entries) => {
            for e in entries {
                if e.is_dir {
                    println!("{:>8} {}/", "-", e.name);
                } else {
                    println!("{:>8} {}", e.size, e.name);
                }
            }
        }
        Err(e) if dir.is_empty() => println!("ls: /disk: {e}"),
        Err(e) => println!("ls: /disk/{dir}: {e}"),
    }
}
