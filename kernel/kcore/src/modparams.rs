//! Module parameters: `insmod m.ko name=value ...` checked against what the
//! module declares, before anything is written into it.
//!
//! Types follow Linux's `param_ops_*`: integers (decimal, `0x` hex, optional
//! sign) as `Int` (the Rust modules' 64-bit `int`), `Int32` (C `int`), `UInt32`
//! (`uint`), `Long`, `ULong`, each refusing a value out of its range; `bool`
//! (`1/0 y/n Y/N true/false`, or the bare name for true); `Str` (a string copied
//! into the module's buffer); and `Charp` (C `char *`: the string is returned
//! for the kernel to keep, see [`Assignment::by_reference`]). Unknown names are
//! an error here (Linux warns and ignores; a typo silently ignored is worse).
//!
//! The kernel maps a `__param` entry's `kind` with [`Kind::from_abi`] and
//! writes each [`Assignment`] with [`Assignment::value_for`].

use alloc::vec::Vec;

/// A parameter a module declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// Storage bytes (strings: including the NUL).
    pub size: usize,
}

/// A parameter's type: one per `kabi::ParamKind` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `i64`.
    Int,
    /// `u8` 0/1.
    Bool,
    /// NUL-terminated bytes in the module's buffer of `size` bytes.
    Str,
    /// `i32` (C `int`).
    Int32,
    /// `u32` (C `unsigned int`).
    UInt32,
    /// `i64` (C `long`).
    Long,
    /// `u64` (C `unsigned long`).
    ULong,
    /// A pointer (C `char *`) to a NUL-terminated copy the kernel owns.
    Charp,
}

impl Kind {
    /// The kind of a `__param` entry's `kind` field (`kabi::ParamKind` as
    /// `u32`); `None` for a value this kernel does not know.
    pub fn from_abi(kind: u32) -> Option<Kind> {
        Some(match kind {
            0 => Kind::Int,
            1 => Kind::Bool,
            2 => Kind::Str,
            3 => Kind::Int32,
            4 => Kind::UInt32,
            5 => Kind::Long,
            6 => Kind::ULong,
            7 => Kind::Charp,
            _ => return None,
        })
    }

    /// The storage size a module must declare for this kind (`None`: any size,
    /// the string buffer of `Str`).
    pub fn storage_size(self) -> Option<usize> {
        match self {
            Kind::Bool => Some(1),
            Kind::Int32 | Kind::UInt32 => Some(4),
            Kind::Int | Kind::Long | Kind::ULong | Kind::Charp => Some(8),
            Kind::Str => None,
        }
    }

    /// Linux's name of the type, as `modinfo` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int | Kind::Int32 => "int",
            Kind::UInt32 => "uint",
            Kind::Long => "long",
            Kind::ULong => "ulong",
            Kind::Bool => "bool",
            Kind::Str | Kind::Charp => "charp",
        }
    }
}

/// What to write into parameter `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub index: usize,
    /// The bytes to copy into the parameter's storage; for a by-reference
    /// (`Charp`) parameter, the NUL-terminated string the kernel must keep.
    pub bytes: Vec<u8>,
    /// `Charp`: the kernel keeps `bytes` alive until the module is freed and
    /// writes their address (8 bytes, little-endian) to the parameter.
    pub by_reference: bool,
}

impl Assignment {
    /// The bytes to write into the parameter's storage, given where the kernel
    /// keeps `bytes` (only used when [`Assignment::by_reference`]).
    pub fn value_for(&self, kept_at: u64) -> Vec<u8> {
        if self.by_reference {
            kept_at.to_le_bytes().to_vec()
        } else {
            self.bytes.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError<'a> {
    Unknown(&'a str),
    Invalid {
        name: &'a str,
        value: &'a str,
        why: &'static str,
    },
}

impl core::fmt::Display for ParamError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamError::Unknown(n) => write!(f, "unknown parameter '{n}'"),
            ParamError::Invalid { name, value, why } => {
                write!(f, "invalid value '{value}' for parameter '{name}': {why}")
            }
        }
    }
}

/// A decimal or `0x` hex integer with an optional sign, any 128-bit value.
fn parse_wide(v: &str) -> Option<i128> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    if magnitude < 0 {
        return None; // a second sign: "--1", "-+1"
    }
    Some(if neg { -magnitude } else { magnitude })
}

/// A value of an integer kind as its little-endian storage bytes, or why not.
fn parse_integer(kind: Kind, v: &str) -> Result<Vec<u8>, &'static str> {
    let wide = parse_wide(v);
    let out_of_range = |why| if wide.is_some() { why } else { "not a number" };
    Ok(match kind {
        Kind::Int | Kind::Long => i64::try_from(wide.ok_or("not a 64-bit integer")?)
            .map_err(|_| "not a 64-bit integer")?
            .to_le_bytes()
            .to_vec(),
        Kind::Int32 => i32::try_from(wide.ok_or("not a number")?)
            .map_err(|_| out_of_range("out of range for int (-2147483648..2147483647)"))?
            .to_le_bytes()
            .to_vec(),
        Kind::UInt32 => u32::try_from(wide.ok_or("not a number")?)
            .map_err(|_| out_of_range("out of range for uint (0..4294967295)"))?
            .to_le_bytes()
            .to_vec(),
        Kind::ULong => u64::try_from(wide.ok_or("not a number")?)
            .map_err(|_| out_of_range("out of range for ulong (0..18446744073709551615)"))?
            .to_le_bytes()
            .to_vec(),
        Kind::Bool | Kind::Str | Kind::Charp => return Err("not an integer parameter"),
    })
}

/// Longest `charp` value (Linux's limit for a parameter string is 1024 bytes).
pub const MAX_CHARP_LEN: usize = 1024;

/// Checks every `name=value` word against `declared`.
pub fn parse<'a>(
    declared: &[Declared<'_>],
    args: &[&'a str],
) -> Result<Vec<Assignment>, ParamError<'a>> {
    let mut out = Vec::new();
    for arg in args {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (*arg, None),
        };
        let index = declared
            .iter()
            .position(|d| d.name == name)
            .ok_or(ParamError::Unknown(name))?;
        let d = declared[index];
        let invalid = |why| ParamError::Invalid {
            name,
            value: value.unwrap_or(""),
            why,
        };
        if d.kind.storage_size().is_some_and(|s| s != d.size) {
            return Err(invalid("the module declares the wrong storage size"));
        }
        let mut by_reference = false;
        let bytes = match d.kind {
            Kind::Int | Kind::Int32 | Kind::UInt32 | Kind::Long | Kind::ULong => {
                let v = value.ok_or(invalid("a number is required"))?;
                parse_integer(d.kind, v).map_err(invalid)?
            }
            Kind::Bool => {
                let b = match value {
                    None | Some("1" | "y" | "Y" | "true") => 1u8,
                    Some("0" | "n" | "N" | "false") => 0,
                    Some(_) => return Err(invalid("not a boolean (1/0, y/n, true/false)")),
                };
                alloc::vec![b]
            }
            Kind::Str => {
                let v = value.unwrap_or("");
                if v.len() + 1 > d.size {
                    return Err(invalid("string too long"));
                }
                let mut b = alloc::vec![0u8; d.size];
                b[..v.len()].copy_from_slice(v.as_bytes());
                b
            }
            Kind::Charp => {
                let v = value.unwrap_or("");
                if v.len() > MAX_CHARP_LEN {
                    return Err(invalid("string too long"));
                }
                by_reference = true;
                let mut b = Vec::with_capacity(v.len() + 1);
                b.extend_from_slice(v.as_bytes());
                b.push(0);
                b
            }
        };
        if !by_reference && bytes.len() > d.size {
            return Err(invalid("does not fit the parameter's storage"));
        }
        out.push(Assignment {
            index,
            bytes,
            by_reference,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &[Declared<'static>] = &[
        Declared {
            name: "count",
            kind: Kind::Int,
            size: 8,
        },
        Declared {
            name: "verbose",
            kind: Kind::Bool,
            size: 1,
        },
        Declared {
            name: "greeting",
            kind: Kind::Str,
            size: 8,
        },
    ];

    #[test]
    fn parses_each_kind() {
        let a = parse(DECL, &["count=-0x10", "verbose", "greeting=hi"]).unwrap();
        assert_eq!(
            a[0],
            Assignment {
                index: 0,
                bytes: (-16i64).to_le_bytes().to_vec(),
                by_reference: false,
            }
        );
        assert_eq!(
            a[1],
            Assignment {
                index: 1,
                bytes: alloc::vec![1],
                by_reference: false,
            }
        );
        assert_eq!(a[2].bytes, b"hi\0\0\0\0\0\0");
        assert_eq!(parse(DECL, &["verbose=n"]).unwrap()[0].bytes, [0]);
    }

    #[test]
    fn rejects_unknown_and_invalid_values() {
        assert_eq!(
            parse(DECL, &["colour=red"]),
            Err(ParamError::Unknown("colour"))
        );
        let e = parse(DECL, &["count=12abc"]).unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "invalid value '12abc' for parameter 'count': not a 64-bit integer"
        );
        assert!(parse(DECL, &["count=9223372036854775808"]).is_err());
        assert!(parse(DECL, &["count=-9223372036854775808"]).is_ok());
        assert!(parse(DECL, &["verbose=maybe"]).is_err());
        assert!(
            parse(DECL, &["greeting=12345678"]).is_err(),
            "7 bytes + NUL fit, 8 do not"
        );
        assert!(parse(DECL, &["greeting=1234567"]).is_ok());
    }

    const C: &[Declared<'static>] = &[
        Declared {
            name: "i",
            kind: Kind::Int32,
            size: 4,
        },
        Declared {
            name: "u",
            kind: Kind::UInt32,
            size: 4,
        },
        Declared {
            name: "l",
            kind: Kind::Long,
            size: 8,
        },
        Declared {
            name: "ul",
            kind: Kind::ULong,
            size: 8,
        },
        Declared {
            name: "b",
            kind: Kind::Bool,
            size: 1,
        },
        Declared {
            name: "s",
            kind: Kind::Charp,
            size: 8,
        },
    ];

    fn one(arg: &str) -> Result<Assignment, alloc::string::String> {
        parse(C, &[arg])
            .map(|mut v| v.remove(0))
            .map_err(|e| alloc::format!("{e}"))
    }

    #[test]
    fn c_int_is_32_bit_signed() {
        assert_eq!(one("i=-2147483648").unwrap().bytes, i32::MIN.to_le_bytes());
        assert_eq!(one("i=0x7fffffff").unwrap().bytes, i32::MAX.to_le_bytes());
        assert_eq!(
            one("i=2147483648").unwrap_err(),
            "invalid value '2147483648' for parameter 'i': out of range for int (-2147483648..2147483647)"
        );
        assert!(one("i=-2147483649").is_err());
        assert_eq!(
            one("i=ten").unwrap_err(),
            "invalid value 'ten' for parameter 'i': not a number"
        );
        assert!(one("i").is_err(), "a number is required");
    }

    #[test]
    fn c_uint_is_32_bit_unsigned() {
        assert_eq!(one("u=4294967295").unwrap().bytes, u32::MAX.to_le_bytes());
        assert_eq!(
            one("u=-1").unwrap_err(),
            "invalid value '-1' for parameter 'u': out of range for uint (0..4294967295)"
        );
        assert!(one("u=4294967296").is_err());
    }

    #[test]
    fn c_long_and_ulong_are_64_bit() {
        assert_eq!(
            one("l=-9223372036854775808").unwrap().bytes,
            i64::MIN.to_le_bytes()
        );
        assert!(one("l=9223372036854775808").is_err());
        assert_eq!(
            one("ul=18446744073709551615").unwrap().bytes,
            u64::MAX.to_le_bytes()
        );
        assert_eq!(
            one("ul=0xFFFFFFFFFFFFFFFF").unwrap().bytes,
            u64::MAX.to_le_bytes()
        );
        assert!(one("ul=-1").is_err());
        assert!(one("ul=18446744073709551616").is_err());
        assert!(one("ul=--1").is_err());
    }

    #[test]
    fn c_bool_is_one_byte() {
        assert_eq!(one("b").unwrap().bytes, [1]);
        assert_eq!(one("b=N").unwrap().bytes, [0]);
        assert!(one("b=2").is_err());
    }

    #[test]
    fn charp_is_a_string_the_kernel_keeps() {
        let a = one("s=hello world").unwrap();
        assert!(a.by_reference);
        assert_eq!(a.bytes, b"hello world\0");
        assert_eq!(
            a.value_for(0x1122_3344_5566_7788),
            0x1122_3344_5566_7788u64.to_le_bytes()
        );
        assert_eq!(
            one("s").unwrap().bytes,
            b"\0",
            "a bare name is the empty string"
        );
        let long = alloc::format!("s={}", "x".repeat(MAX_CHARP_LEN + 1));
        assert!(one(&long).is_err());
        let not_ref = one("i=1").unwrap();
        assert!(!not_ref.by_reference);
        assert_eq!(not_ref.value_for(99), 1i32.to_le_bytes());
    }

    #[test]
    fn maps_abi_kinds_and_checks_storage_sizes() {
        for (n, k) in [
            (0, Kind::Int),
            (1, Kind::Bool),
            (2, Kind::Str),
            (3, Kind::Int32),
            (4, Kind::UInt32),
            (5, Kind::Long),
            (6, Kind::ULong),
            (7, Kind::Charp),
        ] {
            assert_eq!(Kind::from_abi(n), Some(k));
        }
        assert_eq!(Kind::from_abi(8), None);
        let bad = [Declared {
            name: "i",
            kind: Kind::Int32,
            size: 8,
        }];
        assert!(parse(&bad, &["i=1"]).is_err());
        assert_eq!(Kind::UInt32.name(), "uint");
    }
}
