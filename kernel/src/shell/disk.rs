//! Disk commands: `mount [DEV]`, `umount`, `lsdisk`.

use crate::fs::disk;
use crate::println;

/// `mount`: lists what is mounted, as Linux's `mount` does. `mount DEV`
/// mounts DEV's FAT file system at `/disk`.
pub fn mount(args: &[&str]) {
    let Some(dev) = args.first() else {
        if crate::fs::initrd::archive().is_some() {
            println!("initrd on /initrd type cpio (ro)");
        }
        if let Some((dev, fstype)) = disk::mounted_as() {
            println!("/dev/{dev} on /disk type {fstype} (ro)");
        }
        return;
    };
    let dev = dev.trim_start_matches("/dev/");
    match crate::kmod::mount(dev) {
        Ok(label) => println!(
            "mount: /dev/{dev} mounted on /disk (FAT volume '{}')",
            label.trim()
        ),
        Err(e) => println!("mount: {e}"),
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
