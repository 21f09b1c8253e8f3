//! A strict DER reader (X.690), enough for the CMS SignedData of a module
//! signature ([`crate::pkcs7`]): one element at a time out of a byte slice,
//! each checked as it is read. It owns nothing; an [`Element`] borrows its
//! bytes from the input.
//!
//! Invariants, the rules of DER that the RustCrypto `der` crate (which read
//! these messages before) applied, and no more:
//! - lengths are definite (X.690 10.1: `0x80` is refused), in the fewest
//!   octets (`0x81 0x05` is refused), at most four length octets, and never
//!   past the end of the enclosing element;
//! - tags are single octets for the universal types the `der` crate knows,
//!   with the constructed bit only on SEQUENCE and SET; context-specific,
//!   application and private tags may use the high-tag-number form (X.690
//!   8.1.2.4), minimal (no leading `0x80`, numbers from 31) and at most five
//!   subsequent octets;
//! - every element is read in full: [`Reader::finish`] refuses trailing bytes.
//!
//! Nothing here panics or recurses; errors say what was being read and at
//! which byte offset of the message.

use alloc::format;
use alloc::string::String;

/// DER tags (X.690 8.1.2: class in bits 8-7, constructed bit 6, number 5-1).
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OBJECT_IDENTIFIER: u8 = 0x06;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// The class bits of a tag's first octet (X.690 8.1.2.2, Table 1).
const CLASS_MASK: u8 = 0xc0;
const CONTEXT_SPECIFIC: u8 = 0x80;
const CONSTRUCTED: u8 = 0x20;

/// The longest OID contents accepted, as the `const-oid` crate's default
/// `ObjectIdentifier` (39 bytes).
const OID_MAX_LEN: usize = 39;

/// A malformed element: what was being read, where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError {
    pub what: &'static str,
    pub offset: usize,
    pub problem: String,
}

impl DerError {
    /// The text of [`crate::Malformed::Der`].
    pub fn message(&self) -> String {
        format!("{} at byte {}: {}", self.what, self.offset, self.problem)
    }
}

/// One element, read and checked: its identifier, its contents, and the
/// bytes of the whole encoding (identifier, length and contents).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    /// The first identifier octet.
    pub tag: u8,
    /// The tag number (equal to `tag & 0x1f` unless the high-tag-number form).
    pub number: u32,
    pub contents: &'a [u8],
    pub encoding: &'a [u8],
    /// Offset of the first identifier octet in the message.
    pub offset: usize,
}

impl<'a> Element<'a> {
    pub fn is_context_specific(&self, number: u32) -> bool {
        self.tag & CLASS_MASK == CONTEXT_SPECIFIC && self.number == number
    }

    pub fn is_constructed(&self) -> bool {
        self.tag & CONSTRUCTED != 0
    }

    /// The contents as a reader, for a constructed element.
    pub fn reader(&self) -> Reader<'a> {
        let header = self.encoding.len() - self.contents.len();
        Reader {
            rest: self.contents,
            offset: self.offset + header,
        }
    }

    fn error(&self, what: &'static str, problem: String) -> DerError {
        DerError {
            what,
            offset: self.offset,
            problem,
        }
    }

    /// Checks that this element has the one-octet tag `tag`.
    pub fn expect(self, tag: u8, what: &'static str) -> Result<Element<'a>, DerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(self.error(
                what,
                format!("expected {}, found tag {:#04x}", tag_name(tag), self.tag),
            ))
        }
    }

    /// A `CMSVersion ::= INTEGER { v0(0) .. v5(5) }` (RFC 5652 10.2.5):
    /// anything else, or a non-minimal encoding, is malformed.
    pub fn cms_version(self, what: &'static str) -> Result<u8, DerError> {
        let e = self.expect(INTEGER, what)?;
        match e.contents {
            [v @ 0..=5] => Ok(*v),
            _ => Err(e.error(what, "not a CMSVersion (0 to 5, minimally encoded)".into())),
        }
    }

    /// An INTEGER's contents, checked for DER's minimal form (X.690 8.3.2);
    /// any sign.
    pub fn integer(self, what: &'static str) -> Result<&'a [u8], DerError> {
        let e = self.expect(INTEGER, what)?;
        match e.contents {
            [] => Err(e.error(what, "empty INTEGER".into())),
            [0x00, b, ..] if *b < 0x80 => {
                Err(e.error(what, "INTEGER with a redundant 0x00".into()))
            }
            [0xff, b, ..] if *b >= 0x80 => {
                Err(e.error(what, "INTEGER with a redundant 0xff".into()))
            }
            c => Ok(c),
        }
    }

    /// An OBJECT IDENTIFIER's contents, checked as the `const-oid` crate
    /// checks them: 1 to 39 bytes, a first subidentifier below 120 (arcs
    /// 0.0 to 2.39), each further arc at most `u32::MAX` and terminated.
    pub fn oid(self, what: &'static str) -> Result<&'a [u8], DerError> {
        let e = self.expect(OBJECT_IDENTIFIER, what)?;
        let problem = match e.contents {
            [] => Some("empty OBJECT IDENTIFIER"),
            c if c.len() > OID_MAX_LEN => Some("OBJECT IDENTIFIER longer than 39 bytes"),
            [first, ..] if *first >= 120 => Some("OBJECT IDENTIFIER with a first arc above 2.39"),
            [_, arcs @ ..] => oid_arcs(arcs).err(),
        };
        match problem {
            Some(p) => Err(e.error(what, p.into())),
            None => Ok(e.contents),
        }
    }
}

/// Checks the arcs after the first subidentifier; returns how many.
fn oid_arcs(mut arcs: &[u8]) -> Result<usize, &'static str> {
    let mut count = 0;
    while !arcs.is_empty() {
        let mut value: u32 = 0;
        loop {
            let Some((&b, tail)) = arcs.split_first() else {
                return Err("OBJECT IDENTIFIER arc not terminated");
            };
            arcs = tail;
            value = value
                .checked_mul(0x80)
                .and_then(|v| v.checked_add(u32::from(b & 0x7f)))
                .ok_or("OBJECT IDENTIFIER arc above 2^32 - 1")?;
            if b & 0x80 == 0 {
                break;
            }
        }
        count += 1;
    }
    Ok(count)
}

/// An OID's contents (checked by [`Element::oid`]) in dotted form, as
/// `const-oid` prints it: `1.3.14.3.2.26`.
pub(crate) fn oid_dotted(oid: &[u8]) -> String {
    use core::fmt::Write;
    let Some((&first, mut arcs)) = oid.split_first() else {
        return String::new();
    };
    let mut out = format!("{}.{}", first / 40, first % 40);
    let mut value: u32 = 0;
    while let Some((&b, tail)) = arcs.split_first() {
        arcs = tail;
        value = value.wrapping_mul(0x80).wrapping_add(u32::from(b & 0x7f));
        if b & 0x80 == 0 {
            let _ = write!(out, ".{value}");
            value = 0;
        }
    }
    out
}

fn tag_name(tag: u8) -> &'static str {
    match tag {
        INTEGER => "INTEGER",
        OCTET_STRING => "OCTET STRING",
        NULL => "NULL",
        OBJECT_IDENTIFIER => "OBJECT IDENTIFIER",
        SEQUENCE => "SEQUENCE",
        SET => "SET",
        _ => "another tag",
    }
}

/// Elements one after another in a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// Offset of `rest[0]` in the message.
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message.
    pub fn new(message: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: message,
            offset: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// An error at the reader's position.
    pub fn error(&self, what: &'static str, problem: &str) -> DerError {
        DerError {
            what,
            offset: self.offset,
            problem: problem.into(),
        }
    }

    /// The next element, whatever its tag (ASN.1 `ANY`), checked for form.
    pub fn element(&mut self, what: &'static str) -> Result<Element<'a>, DerError> {
        let bytes = self.rest;
        let Some((&tag, after_tag)) = bytes.split_first() else {
            return Err(self.error(what, "missing (end of the enclosing element)"));
        };
        let (number, after_tag) = tag_number(tag, after_tag).map_err(|p| self.error(what, p))?;
        let (len, contents_start) = length(after_tag).map_err(|p| self.error(what, p))?;
        let header = bytes.len() - contents_start.len();
        let Some(contents) = contents_start.get(..len) else {
            return Err(self.error(what, "length runs past the end of the enclosing element"));
        };
        let total = header + len;
        let element = Element {
            tag,
            number,
            contents,
            encoding: &bytes[..total],
            offset: self.offset,
        };
        self.rest = &bytes[total..];
        self.offset += total;
        Ok(element)
    }

    /// The next element, which must have the one-octet tag `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Element<'a>, DerError> {
        self.element(what)?.expect(tag, what)
    }

    /// The next element if it is context-specific `[number]` (any
    /// constructed bit; the caller checks it), else nothing is read. A
    /// malformed next identifier is an error, as it is for the `der` crate.
    pub fn optional_context(
        &mut self,
        number: u32,
        what: &'static str,
    ) -> Result<Option<Element<'a>>, DerError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let mut peek = self.clone();
        let e = peek.element(what)?;
        if !e.is_context_specific(number) {
            // Only the identifier matters for the choice; the element's
            // length is checked when it is read in its own right.
            return Ok(None);
        }
        *self = peek;
        Ok(Some(e))
    }

    /// Ends a constructed element: nothing may follow its last field.
    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.error(what, "unexpected bytes after the last field"))
        }
    }
}

/// The tag number after the first identifier octet `tag`, and what follows
/// the identifier (X.690 8.1.2), with the `der` crate's rules.
fn tag_number(tag: u8, rest: &[u8]) -> Result<(u32, &[u8]), &'static str> {
    if tag & CLASS_MASK == 0 {
        return match tag {
            0x01..=0x06 | 0x09 | 0x0a | 0x0c | 0x0d | 0x12..=0x18 | 0x1a | 0x1b | 0x1e => {
                Ok((u32::from(tag), rest))
            }
            SEQUENCE | SET => Ok((u32::from(tag & 0x1f), rest)),
            0x1f => Err("universal tag in the high-tag-number form"),
            _ => Err("unknown universal tag"),
        };
    }
    if tag & 0x1f != 0x1f {
        return Ok((u32::from(tag & 0x1f), rest));
    }
    // X.690 8.1.2.4: base-128 subsequent octets, the first not 0x80, the
    // number at least 31; at most five octets, as the `der` crate reads them.
    let mut number: u32 = 0;
    for (i, &b) in rest.iter().take(5).enumerate() {
        number |= u32::from(b & 0x7f);
        if b & 0x80 == 0 {
            if number < 0x1f {
                return Err("high-tag-number form for a number below 31");
            }
            return Ok((number, &rest[i + 1..]));
        }
        if i == 0 && number == 0 {
            return Err("tag number with a leading 0x80 octet");
        }
        if number.leading_zeros() < 7 {
            return Err("tag number too large");
        }
        number <<= 7;
    }
    Err("tag number not terminated")
}

/// The length octets at the start of `rest` (X.690 8.1.3, 10.1): the length
/// and what follows the length octets.
fn length(rest: &[u8]) -> Result<(usize, &[u8]), &'static str> {
    let Some((&first, rest)) = rest.split_first() else {
        return Err("missing length");
    };
    match first {
        0..=0x7f => Ok((usize::from(first), rest)),
        0x80 => Err("indefinite length"),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let Some(octets) = rest.get(..n) else {
                return Err("length octets run past the end");
            };
            let len = octets.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            let minimal = match len {
                0..=0x7f => 0,
                0x80..=0xff => 1,
                0x100..=0xffff => 2,
                0x1_0000..=0xff_ffff => 3,
                _ => 4,
            };
            if minimal != n {
                return Err("length not in the fewest octets");
            }
            Ok((len as usize, &rest[n..]))
        }
        _ => Err("length of more than four octets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Element<'_>, DerError> {
        let mut r = Reader::new(bytes);
        let e = r.element("test")?;
        r.finish("test")?;
        Ok(e)
    }

    #[test]
    fn lengths_must_be_definite_minimal_and_inside_the_input() {
        assert_eq!(one(&[0x04, 0x01, 0xaa]).unwrap().contents, [0xaa]);
        assert!(one(&[0x04, 0x80, 0x00, 0x00]).is_err());
        assert!(one(&[0x04, 0x81, 0x01, 0xaa]).is_err());
        assert!(one(&[0x04, 0x82, 0x00, 0x81]).is_err());
        assert!(one(&[0x04, 0x85, 0, 0, 0, 0, 1, 0xaa]).is_err());
        assert!(one(&[0x04, 0x02, 0xaa]).is_err());
        assert!(one(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([0; 0x80]);
        assert_eq!(one(&long).unwrap().contents.len(), 0x80);
        assert!(one(&[0x04, 0x00, 0x00]).is_err(), "trailing byte");
    }

    #[test]
    fn tags_follow_the_der_crates_rules() {
        assert!(one(&[0x10, 0x00]).is_err(), "primitive SEQUENCE");
        assert!(one(&[0x24, 0x00]).is_err(), "constructed OCTET STRING");
        assert!(one(&[0x1f, 0x20, 0x00]).is_err());
        assert_eq!(one(&[0xbf, 0x20, 0x00]).unwrap().number, 0x20);
        assert!(one(&[0xbf, 0x1e, 0x00]).is_err(), "number below 31");
        assert!(one(&[0xbf, 0x80, 0x20, 0x00]).is_err(), "leading 0x80");
        assert_eq!(one(&[0xa3, 0x00]).unwrap().number, 3);
        assert!(one(&[0xbf, 0x81, 0x81, 0x81, 0x81, 0x81]).is_err());
    }

    #[test]
    fn oids_are_checked_and_printed_as_const_oid_does() {
        let oid = |c: &[u8]| {
            let mut e = vec![0x06, c.len() as u8];
            e.extend_from_slice(c);
            one(&e).unwrap().oid("oid").map(oid_dotted)
        };
        assert_eq!(
            oid(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]).unwrap(),
            "1.3.14.3.2.26"
        );
        assert_eq!(
            oid(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]).unwrap(),
            "2.16.840.1.101.3.4.2.1"
        );
        assert!(oid(&[]).is_err());
        assert!(oid(&[0x78]).is_err());
        assert!(oid(&[0x2b, 0x86]).is_err());
        assert!(oid(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]).is_err());
        assert!(oid(&[0x2b; 40]).is_err());
    }
}
