//! Reader for `newc` cpio archives (the initrd format Linux uses, `cpio -H newc`).
//!
//! The archive is untrusted input: every header field is parsed as hex with
//! checked arithmetic and every name and body is bounds-checked against the
//! archive, so a truncated or corrupt archive ends the iteration with an error
//! item instead of a fault. Layout: 110-byte ASCII header (`070701` or `070702`
//! magic, 13 eight-digit hex fields), the NUL-terminated name padded to 4 bytes,
//! the body padded to 4 bytes; `TRAILER!!!` ends the archive.

/// One file in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub data: &'a [u8],
}

impl Entry<'_> {
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

/// Why an archive could not be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpioError {
    /// Header magic is not `070701`/`070702`, at this offset.
    BadMagic(usize),
    /// A header field is not hex.
    BadHeader(usize),
    /// A name or body runs past the end of the archive.
    Truncated(usize),
    /// A name is not UTF-8.
    BadName(usize),
}

impl core::fmt::Display for CpioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpioError::BadMagic(o) => {
                write!(f, "not a newc cpio archive (bad magic at offset {o})")
            }
            CpioError::BadHeader(o) => write!(f, "corrupt cpio header at offset {o}"),
            CpioError::Truncated(o) => write!(f, "cpio archive truncated (entry at offset {o})"),
            CpioError::BadName(o) => write!(f, "cpio entry name is not UTF-8 (offset {o})"),
        }
    }
}

const HEADER: usize = 110;

fn hex_field(h: &[u8], index: usize) -> Option<u32> {
    let start = 6 + index * 8;
    let s = core::str::from_utf8(h.get(start..start + 8)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Iterates over the entries of `archive`, stopping at `TRAILER!!!`.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries {
        archive,
        offset: 0,
        done: false,
    }
}

pub struct Entries<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Entries<'a> {
    fn parse_one(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        let at = self.offset;
        if at >= self.archive.len() {
            return Ok(None);
        }
        let h = self
            .archive
            .get(at..at + HEADER)
            .ok_or(CpioError::Truncated(at))?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(CpioError::BadMagic(at));
        }
        let mode = hex_field(h, 1).ok_or(CpioError::BadHeader(at))?;
        let filesize = hex_field(h, 6).ok_or(CpioError::BadHeader(at))? as usize;
        let namesize = hex_field(h, 11).ok_or(CpioError::BadHeader(at))? as usize;
        let name_start = at + HEADER;
        let name_end = name_start
            .checked_add(namesize)
            .ok_or(CpioError::Truncated(at))?;
        let raw_name = self
            .archive
            .get(name_start..name_end)
            .ok_or(CpioError::Truncated(at))?;
        let raw_name = raw_name.strip_suffix(&[0]).unwrap_or(raw_name);
        let name = core::str::from_utf8(raw_name).map_err(|_| CpioError::BadName(at))?;
        let data_start = align4(name_end).ok_or(CpioError::Truncated(at))?;
        let data_end = data_start
            .checked_add(filesize)
            .ok_or(CpioError::Truncated(at))?;
        let data = self
            .archive
            .get(data_start..data_end)
            .ok_or(CpioError::Truncated(at))?;
        self.offset = align4(data_end).ok_or(CpioError::Truncated(at))?;
        if name == "TRAILER!!!" {
            return Ok(None);
        }
        let name = name.strip_prefix("./").unwrap_or(name);
        Ok(Some(Entry { name, mode, data }))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.parse_one() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Finds a regular file by name (leading `/` ignored).
pub fn find<'a>(archive: &'a [u8], name: &str) -> Option<Entry<'a>> {
    let name = name.trim_start_matches('/');
    entries(archive)
        .filter_map(Result::ok)
        .find(|e| e.name == name && e.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Builds a newc archive the way `cpio -o -H newc` does.
    pub fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut add = |name: &str, mode: u32, data: &[u8]| {
            let header = alloc::format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                1, mode, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        };
        for (n, d) in files {
            add(n, 0o100644, d);
        }
        add("TRAILER!!!", 0, &[]);
        out
    }

    #[test]
    fn lists_and_finds_files() {
        let a = build(&[
            ("hello.ko", b"ELF..."),
            ("modules.dep", b"hello.ko:\n"),
            ("x", b""),
        ]);
        let names: Vec<_> = entries(&a).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["hello.ko", "modules.dep", "x"]);
        assert_eq!(find(&a, "/modules.dep").unwrap().data, b"hello.ko:\n");
        assert!(find(&a, "nope").is_none());
    }

    #[test]
    fn corrupt_archives_end_with_an_error() {
        let a = build(&[("hello.ko", b"0123456789")]);
        // Truncated body.
        let r: Vec<_> = entries(&a[..120]).collect();
        assert!(
            matches!(r.last(), Some(Err(CpioError::Truncated(0)))),
            "{r:?}"
        );
        // Bad magic.
        let mut b = a.clone();
        b[0] = b'1';
        assert_eq!(entries(&b).next(), Some(Err(CpioError::BadMagic(0))));
        // Non-hex size.
        let mut c = a.clone();
        c[6 + 6 * 8] = b'z';
        assert_eq!(entries(&c).next(), Some(Err(CpioError::BadHeader(0))));
        // Huge name size does not overflow.
        let mut d = a.clone();
        d[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"ffffffff");
        assert!(matches!(
            entries(&d).next(),
            Some(Err(CpioError::Truncated(0)))
        ));
        assert_eq!(entries(&[]).count(), 0);
    }
}
