//! What a block device holds, from its first sectors (like util-linux's
//! `blkid`/`wipefs` probes, for the few formats this kernel meets): so a
//! destructive self-test can refuse a disk that holds data.

/// Bytes [`probe`] needs: the first two 512-byte sectors.
pub const PROBE_BYTES: usize = 1024;

/// Names what the first [`PROBE_BYTES`] of a device hold, or `None` when
/// nothing is recognised (a blank or scratch disk).
pub fn probe(start: &[u8]) -> Option<&'static str> {
    // GPT: "EFI PART" at LBA 1 (UEFI 2.10 §5.3.2).
    if start.get(512..520) == Some(b"EFI PART") {
        return Some("a GPT partition table");
    }
    // FAT boot sector: jump (EB xx 90 or E9 xx xx), 0x55AA at 510, and a file
    // system type string at 54 (FAT12/16) or 82 (FAT32).
    let signature = start.get(510..512) == Some(&[0x55, 0xaa]);
    let jump = matches!(start.first(), Some(0xeb) | Some(0xe9));
    let fat_type = start.get(54..59) == Some(b"FAT12")
        || start.get(54..59) == Some(b"FAT16")
        || start.get(82..87) == Some(b"FAT32");
    if signature && jump && fat_type {
        return Some("a FAT file system");
    }
    // MBR: 0x55AA and at least one partition entry with a type (446 + 16*i + 4).
    if signature && (0..4).any(|i| start.get(446 + 16 * i + 4).is_some_and(|&t| t != 0)) {
        return Some("an MBR partition table");
    }
    if signature {
        return Some("a boot sector");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> [u8; PROBE_BYTES] {
        [0; PROBE_BYTES]
    }

    #[test]
    fn blank_disk_is_nothing() {
        assert_eq!(probe(&blank()), None);
        assert_eq!(probe(&[]), None);
    }

    #[test]
    fn mbr_with_a_partition() {
        let mut s = blank();
        s[510] = 0x55;
        s[511] = 0xaa;
        s[446 + 4] = 0x0c;
        assert_eq!(probe(&s), Some("an MBR partition table"));
    }

    #[test]
    fn fat_boot_sectors() {
        let mut s = blank();
        s[0] = 0xeb;
        s[510] = 0x55;
        s[511] = 0xaa;
        s[82..87].copy_from_slice(b"FAT32");
        assert_eq!(probe(&s), Some("a FAT file system"));
        let mut s16 = blank();
        s16[0] = 0xeb;
        s16[510] = 0x55;
        s16[511] = 0xaa;
        s16[54..59].copy_from_slice(b"FAT16");
        assert_eq!(probe(&s16), Some("a FAT file system"));
    }

    #[test]
    fn gpt_header() {
        let mut s = blank();
        s[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(probe(&s), Some("a GPT partition table"));
    }

    #[test]
    fn boot_signature_alone() {
        let mut s = blank();
        s[510] = 0x55;
        s[511] = 0xaa;
        assert_eq!(probe(&s), Some("a boot sector"));
    }
}
