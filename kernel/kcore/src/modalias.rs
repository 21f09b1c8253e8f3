//! Matching device aliases against `modules.alias`, as `modprobe` does.
//!
//! Bus code describes a device with an alias string (`of:arm,pl011` for a
//! device-tree node, `virtio:d00000002v00554D45` for a virtio device); modules
//! declare patterns (`alias=virtio:d00000002v*` in `.modinfo`), and depmod
//! collects them into `modules.alias` lines `alias PATTERN MODULE`. Patterns use
//! shell globbing (`*`, `?`, `[...]`), like Linux's `fnmatch`.

/// Whether `text` matches the glob `pattern` (`*`, `?`, `[abc]`, `[a-z]`,
/// `[!x]`). Iterative with one backtrack point: linear in practice, no
/// recursion, no allocation.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(&p[pi..], t[ti]) {
                        if matched {
                            pi += next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == b'[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches one `[...]` class at the start of `p` against `c`: (matched, length
/// of the class in `p`), or `None` if the class is not closed.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
        first = false;
    }
    None
}

/// The lines of an index file (`modules.dep`, `modules.alias`) without their
/// line ends (`\n` or `\r\n`), skipping any that is not UTF-8 (module names
/// and aliases are ASCII: such a line names nothing a lookup could ask for).
/// Bytes, not a `String`: a file read from the disk or the initrd is parsed
/// where it lies, with no copy and no conversion.
pub fn text_lines(file: &[u8]) -> impl Iterator<Item = &str> {
    file.split(|&b| b == b'\n')
        .filter_map(|l| core::str::from_utf8(l.strip_suffix(b"\r").unwrap_or(l)).ok())
}

/// Whether two module names are the same module: `-` and `_` are one
/// character in module names, as for Linux's modprobe.
pub fn same_module(a: &str, b: &str) -> bool {
    let dash = |c: u8| c == b'-' || c == b'_';
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (dash(x) && dash(y)))
}

/// Whether `name` is in the comma-separated `list` (`modprobe.blacklist=a,b`).
pub fn listed(list: &str, name: &str) -> bool {
    list.split(',').any(|m| same_module(m, name))
}

/// A module's name from its file's path: the last component without `.ko`
/// (`/disk/drivers/hello.ko` -> `hello`).
pub fn file_stem(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".ko").unwrap_or(base)
}

/// The `modules.dep` line of module `name`: its file and its dependencies'
/// files, nearest first, as the line gives them (relative to the index).
pub fn find_dep<'a>(
    dep_file: &'a [u8],
    name: &str,
) -> Option<(&'a str, core::str::SplitAsciiWhitespace<'a>)> {
    text_lines(dep_file).find_map(|line| {
        let colon = line.bytes().position(|b| b == b':')?;
        let file = &line[..colon];
        same_module(file_stem(file), name)
            .then(|| (file, line[colon + 1..].split_ascii_whitespace()))
    })
}

/// The modules whose patterns in `alias_file` match `alias`, in file order.
pub fn lookup<'a>(alias_file: &'a str, alias: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    alias_file.lines().filter_map(move |line| {
        let (pattern, module) = entry(line)?;
        glob(pattern, alias).then_some(module)
    })
}

/// `(pattern, module)` of an `alias PATTERN MODULE` line.
fn entry(line: &str) -> Option<(&str, &str)> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "alias" {
        return None;
    }
    Some((words.next()?, words.next()?))
}

/// `modules.alias` files split into their entries once, for matching many
/// aliases (coldplug offers every device-tree node: splitting the file again
/// for each was most of the matching's cost).
#[derive(Default)]
pub struct AliasTable<'a> {
    /// `(pattern, module, length of the pattern's text before its first
    /// wildcard)`.
    entries: alloc::vec::Vec<(&'a str, &'a str, usize)>,
}

impl<'a> AliasTable<'a> {
    /// The entries of one `modules.alias`.
    pub fn new(alias_file: &'a str) -> Self {
        let mut table = Self::default();
        table.add(alias_file.as_bytes());
        table
    }

    /// Appends the entries of another `modules.alias` (looked up after the
    /// ones already in the table), read as bytes (see [`text_lines`]).
    pub fn add(&mut self, alias_file: &'a [u8]) {
        self.entries.extend(
            text_lines(alias_file)
                .filter_map(entry)
                .map(|(pattern, module)| {
                    let literal = pattern
                        .bytes()
                        .position(|b| matches!(b, b'*' | b'?' | b'['))
                        .unwrap_or(pattern.len());
                    (pattern, module, literal)
                }),
        );
    }

    /// As [`lookup`]: the modules whose patterns match `alias`, in file
    /// order. A pattern whose text before its first wildcard is not a prefix
    /// of `alias` is skipped without globbing.
    pub fn lookup<'s>(&'s self, alias: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.entries
            .iter()
            .filter_map(move |&(pattern, module, literal)| {
                (alias.as_bytes().starts_with(&pattern.as_bytes()[..literal])
                    && glob(pattern, alias))
                .then_some(module)
            })
    }
}

/// The alias of a device-tree node, Linux's `of_modalias()` format:
/// `of:N<name>T<device_type>C<compatible>C<compatible>...`, the node name
/// without its unit address. Drivers match it with patterns such as
/// `of:N*T*Carm,pl011` and `of:N*T*Carm,pl011C*` (what modpost emits).
pub fn of_alias<'a>(
    node: &str,
    device_type: &str,
    compatibles: impl Iterator<Item = &'a str>,
) -> alloc::string::String {
    let name = node.split('@').next().unwrap_or(node);
    let mut s = alloc::string::String::with_capacity(64);
    s.push_str("of:N");
    s.push_str(name);
    s.push('T');
    s.push_str(device_type);
    for c in compatibles {
        s.push('C');
        s.push_str(c);
    }
    s
}

/// The alias of a virtio device (Linux's `virtio:d%08Xv%08X`).
pub fn virtio_alias(device_id: u32, vendor_id: u32) -> alloc::string::String {
    alloc::format!("virtio:d{device_id:08X}v{vendor_id:08X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_finds_what_the_file_scan_finds() {
        let file = "# comment\nalias of:N*T*Carm,pl011 pl011\nalias of:N*T*Carm,pl011C* pl011\n\
                    alias virtio:d00000002v* virtio_blk\nalias virtio:d0000000[1-4]v* virtio_any\n\
                    alias *pl011* catchall\nbroken line\nalias virtio:d00000004v00554D45 virtio_rng\n";
        let table = AliasTable::new(file);
        for alias in [
            "of:NuartT<NULL>Carm,pl011Carm,primecell",
            "of:NuartT<NULL>Carm,pl011",
            "virtio:d00000002v554D4551",
            "virtio:d00000004v00554D45",
            "virtio:d00000009v554D4551",
            "of:NpcieT<NULL>Cpci-host-ecam-generic",
            "",
        ] {
            let scan: alloc::vec::Vec<&str> = lookup(file, alias).collect();
            let indexed: alloc::vec::Vec<&str> = table.lookup(alias).collect();
            assert_eq!(scan, indexed, "{alias}");
        }
        assert_eq!(
            table
                .lookup("virtio:d00000004v00554D45")
                .collect::<alloc::vec::Vec<_>>(),
            ["virtio_any", "virtio_rng"]
        );
    }

    #[test]
    fn index_files_are_read_as_bytes() {
        let alias = b"alias of:N*T*Carm,pl011 pl011\r\nalias bad\xff x\nalias virtio:d00000002v* virtio_blk";
        let disk = b"alias virtio:d00000002v* virtio-blk-new\n";
        let mut table = AliasTable::default();
        table.add(alias);
        table.add(disk);
        assert_eq!(
            table
                .lookup("virtio:d00000002v554D4551")
                .collect::<alloc::vec::Vec<_>>(),
            ["virtio_blk", "virtio-blk-new"],
            "both files, in order; the CR and the line that is not UTF-8 dropped"
        );
        assert_eq!(
            table
                .lookup("of:NuartTCarm,pl011")
                .collect::<alloc::vec::Vec<_>>(),
            ["pl011"]
        );

        let dep = b"hello.ko:\nvirtio_blk.ko: virtio_mmio.ko  virtio_ring.ko\r\nuser-of-hello.ko: hello.ko\n";
        let (file, deps) = find_dep(dep, "virtio_blk").unwrap();
        assert_eq!(file, "virtio_blk.ko");
        assert_eq!(
            deps.collect::<alloc::vec::Vec<_>>(),
            ["virtio_mmio.ko", "virtio_ring.ko"]
        );
        let (file, deps) = find_dep(dep, "user_of_hello").unwrap();
        assert_eq!((file, deps.count()), ("user-of-hello.ko", 1));
        assert_eq!(
            find_dep(dep, "hello").map(|(f, d)| (f, d.count())),
            Some(("hello.ko", 0))
        );
        assert!(find_dep(dep, "hell").is_none());
        assert!(
            find_dep(dep, "virtio_mmio").is_none(),
            "a dependency is not an entry"
        );
        assert!(find_dep(b"", "x").is_none());
        assert!(find_dep(b"no colon here\n", "no colon here").is_none());

        assert!(same_module("virtio-blk", "virtio_blk"));
        assert!(!same_module("virtio_blk", "virtio_blkx"));
        assert!(!same_module("a-b", "a.b"));
        assert!(listed("pl011,virtio-rng", "virtio_rng"));
        assert!(!listed("pl011,virtio-rng", "virtio"));
        assert!(!listed("", "pl011"));
        assert_eq!(file_stem("/disk/drivers/hello.ko"), "hello");
        assert_eq!(file_stem("hello"), "hello");
    }

    #[test]
    fn globs_like_fnmatch() {
        assert!(glob("of:arm,pl011", "of:arm,pl011"));
        assert!(glob("virtio:d00000002v*", "virtio:d00000002v554D4551"));
        assert!(!glob("virtio:d00000002v*", "virtio:d00000004v554D4551"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("d0000000?", "d00000004"));
        assert!(glob("[0-9]x", "7x"));
        assert!(!glob("[!0-9]x", "7x"));
        assert!(glob("[ab]", "b"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("*[", "x["), "an unclosed class is a literal");
        // Pathological pattern stays fast (no exponential backtracking).
        let text = "a".repeat(200);
        assert!(!glob("*a*a*a*a*a*a*a*b", &text));
    }

    #[test]
    fn of_aliases_match_modpost_patterns() {
        let a = of_alias(
            "pl011@9000000",
            "",
            ["arm,pl011", "arm,primecell"].into_iter(),
        );
        assert_eq!(a, "of:Npl011TCarm,pl011Carm,primecell");
        assert!(glob("of:N*T*Carm,pl011C*", &a));
        assert!(
            !glob("of:N*T*Carm,pl011", &a),
            "exact form needs the node's only compatible"
        );
        let b = of_alias("virtio_mmio@a000000", "", ["virtio,mmio"].into_iter());
        assert!(glob("of:N*T*Cvirtio,mmio", &b));
    }

    #[test]
    fn looks_up_modules_by_alias() {
        let file = "# Aliases extracted from modules themselves.\nalias of:arm,pl011 pl011\nalias virtio:d00000002v* virtio_blk\nalias virtio:d00000004v* virtio_rng\n";
        assert_eq!(
            lookup(file, "of:arm,pl011").collect::<alloc::vec::Vec<_>>(),
            ["pl011"]
        );
        assert_eq!(
            lookup(file, &virtio_alias(2, 0x554d4551)).collect::<alloc::vec::Vec<_>>(),
            ["virtio_blk"]
        );
        assert_eq!(lookup(file, "of:arm,pl031").count(), 0);
        assert_eq!(virtio_alias(4, 0x554d4551), "virtio:d00000004v554D4551");
    }
}
