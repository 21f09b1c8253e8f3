//! Module parameters: `insmod m.ko name=value ...` checked against what the
//! module declares, before anything is written into it.
//!
//! Types follow Linux's `param_ops_*`: `int` (decimal, `0x` hex, optional sign;
//! 64-bit), `bool` (`1/0 y/n Y/N true/false`, or the bare name for true), and
//! `charp` (a string, bounded by the module's buffer). Unknown names are an
//! error here (Linux warns and ignores; a typo silently ignored is worse).

use alloc::vec::Vec;

/// A parameter a module declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// Storage bytes (strings: including the NUL).
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Bool,
    Str,
}

/// The bytes to write into parameter `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub index: usize,
    pub bytes: Vec<u8>,
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

fn parse_int(v: &str) -> Option<i64> {
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
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

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
        let bytes = match d.kind {
            Kind::Int => {
                let v = parse_int(value.ok_or(invalid("a number is required"))?)
                    .ok_or(invalid("not a 64-bit integer"))?;
                v.to_le_bytes().to_vec()
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
        };
        if bytes.len() > d.size {
            return Err(invalid("does not fit the parameter's storage"));
        }
        out.push(Assignment { index, bytes });
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
                bytes: (-16i64).to_le_bytes().to_vec()
            }
        );
        assert_eq!(
            a[1],
            Assignment {
                index: 1,
                bytes: alloc::vec![1]
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
}
