//! The trusted certificates a module signature is checked against: each X.509
//! certificate (DER) reduced, once, to what verification needs: how a signature
//! may name it, its public key, and the signer name Linux prints.
//!
//! Reading a certificate ([`TrustedCert::from_der`]) takes RustCrypto's X.509
//! crates and is host only (feature `x509`): the kernel gets its certificates
//! already reduced ([`crate::compact`], written by its build script), the key
//! as its algorithm and raw bytes ([`KeyAlgorithm`], [`public_key`]).

use alloc::format;
use alloc::string::String;
#[cfg(feature = "x509")]
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "x509")]
use der::Decode;
#[cfg(feature = "x509")]
use x509_cert::ext::pkix::SubjectKeyIdentifier;
#[cfg(feature = "x509")]
use x509_cert::Certificate;

use crate::pkcs7::SignerId;

/// RSA modulus sizes accepted, in bits (the 2048 to 4096).
pub const RSA_BITS: core::ops::RangeInclusive<usize> = 2048..=4096;

/// A public key we can verify module signatures with.
// Without ECDSA, RSA's is the one large variant: a handful of keys, each
// made once, so it stays inline.
#[cfg_attr(not(feature = "ecdsa"), allow(clippy::large_enum_variant))]
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// With its Montgomery constants, computed when the certificate is read.
    Rsa(crate::rsa_verify::RsaPublicKey),
    /// Verified by `p256_verify`; builds its comb table on first use.
    #[cfg(feature = "ecdsa")]
    P256(crate::p256_verify::P256Key),
    /// Verified by `p384_verify`; builds its odd-multiples table on first use.
    #[cfg(feature = "ecdsa")]
    P384(crate::p384_verify::P384Key),
    /// Kept, so a signature by it is "unsupported" (ENOPKG), not "unknown key".
    Unsupported(String),
}

impl PublicKey {
    /// Short name for reports: `rsa2048`, `p256`, ...
    pub fn name(&self) -> String {
        match self {
            PublicKey::Rsa(k) => format!("rsa{}", k.size() * 8),
            #[cfg(feature = "ecdsa")]
            PublicKey::P256(_) => "p256".into(),
            #[cfg(feature = "ecdsa")]
            PublicKey::P384(_) => "p384".into(),
            PublicKey::Unsupported(what) => what.clone(),
        }
    }
}

/// One trusted certificate.
#[derive(Debug, Clone)]
pub struct TrustedCert {
    /// Linux's name for the signer (`x509_fabricate_name`): CN, or "O: CN".
    pub signer: String,
    /// The issuer Name's DER, for issuerAndSerialNumber (compared as bytes).
    pub issuer: Vec<u8>,
    /// The serial number's bytes.
    pub serial: Vec<u8>,
    /// The subjectKeyIdentifier, if the certificate has one.
    pub key_identifier: Option<Vec<u8>>,
    key: LazyKey,
}

/// A certificate's key, made ready ([`public_key`]: the RSA modulus's
/// Montgomery constants, the EC point checked on its curve) the first time
/// a signature names the certificate, not when the keyring is read: a
/// kernel built with RSA, P-256 and P-384 certificates that only ever sees
/// RSA-signed modules never runs the EC code (under TCG, code run once is
/// mostly the cost of translating it: 3.6 ms of a boot with every driver).
pub struct LazyKey {
    /// The algorithm, the key's bytes, and an RSA key's products as the
    /// build computed them ([`crate::rsa_verify::RsaPublicKey::products`];
    /// empty: computed at the first verification).
    raw: Option<(KeyAlgorithm, Vec<u8>, Vec<u8>)>,
    key: spin::Once<PublicKey>,
}

impl LazyKey {
    /// A key already made.
    pub fn ready(key: PublicKey) -> LazyKey {
        LazyKey {
            raw: None,
            key: spin::Once::initialized(key),
        }
    }

    /// A key to make from its algorithm and raw bytes on first use, with
    /// an RSA key's products if the build computed them (else empty).
    pub fn raw(algorithm: KeyAlgorithm, bytes: &[u8], products: &[u8]) -> LazyKey {
        LazyKey {
            raw: Some((algorithm, bytes.to_vec(), products.to_vec())),
            key: spin::Once::new(),
        }
    }

    /// The key, made now if this is its first use.
    pub fn get(&self) -> &PublicKey {
        self.key.call_once(|| match &self.raw {
            Some((algorithm, bytes, products)) => {
                let key = public_key(*algorithm, bytes);
                if let (PublicKey::Rsa(k), false) = (&key, products.is_empty()) {
                    // Products that do not fit the key are left out: the
                    // first verification computes them, as without.
                    k.set_products(products);
                }
                key
            }
            None => PublicKey::Unsupported("no key".into()),
        })
    }
}

impl Clone for LazyKey {
    fn clone(&self) -> LazyKey {
        LazyKey {
            raw: self.raw.clone(),
            key: match self.key.get() {
                Some(k) => spin::Once::initialized(k.clone()),
                None => spin::Once::new(),
            },
        }
    }
}

impl fmt::Debug for LazyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key.get() {
            Some(k) => k.fmt(f),
            None => f.write_str("(not read yet)"),
        }
    }
}

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertError(pub String);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X.509 certificate: {}", self.0)
    }
}

impl TrustedCert {
    /// Reads one DER certificate. Its own signature is not checked: a trusted
    /// certificate is trusted because it is built in, as Linux's system keyring.
    #[cfg(feature = "x509")]
    pub fn from_der(der: &[u8]) -> Result<TrustedCert, CertError> {
        let cert = Certificate::from_der(der).map_err(|e| CertError(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let issuer = raw_issuer(der)
            .ok_or_else(|| CertError("no issuer Name".into()))?
            .to_vec();
        let serial = tbs.serial_number().as_bytes().to_vec();
        let key_identifier = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| CertError(e.to_string()))?
            .map(|(_, skid)| skid.0.as_bytes().to_vec());
        Ok(TrustedCert {
            signer: fabricate_name(tbs.subject()),
            issuer,
            serial,
            key_identifier,
            key: LazyKey::ready(match key_of(tbs.subject_public_key_info()) {
                Ok((algorithm, key)) => public_key(algorithm, key),
                Err(why) => PublicKey::Unsupported(why),
            }),
        })
    }

    /// A certificate from its parts (the built-in list, [`crate::compact`]).
    pub fn new(
        signer: String,
        issuer: Vec<u8>,
        serial: Vec<u8>,
        key_identifier: Option<Vec<u8>>,
        key: LazyKey,
    ) -> TrustedCert {
        TrustedCert {
            signer,
            issuer,
            serial,
            key_identifier,
            key,
        }
    }

    /// Its public key, made on first use ([`LazyKey`]).
    pub fn key(&self) -> &PublicKey {
        self.key.get()
    }

    /// The key's algorithm, without making the key; `None` for a key
    /// already found unusable.
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        if let Some((algorithm, ..)) = &self.key.raw {
            return Some(*algorithm);
        }
        match self.key.get() {
            PublicKey::Rsa(_) => Some(KeyAlgorithm::Rsa),
            #[cfg(feature = "ecdsa")]
            PublicKey::P256(_) => Some(KeyAlgorithm::P256),
            #[cfg(feature = "ecdsa")]
            PublicKey::P384(_) => Some(KeyAlgorithm::P384),
            PublicKey::Unsupported(_) => None,
        }
    }

    /// Whether a signature naming its signer `id` names this certificate.
    pub fn matches(&self, id: &SignerId) -> bool {
        match id {
            SignerId::IssuerAndSerial { issuer, serial } => {
                *issuer == self.issuer && *serial == self.serial
            }
            SignerId::KeyIdentifier(kid) => self.key_identifier.as_ref() == Some(kid),
        }
    }
}

/// The issuer Name's bytes as the certificate holds them (RFC 5280 4.1:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { version [0] EXPLICIT
/// OPTIONAL, serialNumber, signature, issuer, ... } ... }`), as Linux keeps
/// `raw_issuer`: not re-encoded, so a signer that copied them matches even if
/// the certificate's sets are not in DER order (x509-cert sorts them).
#[cfg(feature = "x509")]
fn raw_issuer(cert: &[u8]) -> Option<&[u8]> {
    use crate::der::{Reader, SEQUENCE};
    let mut top = Reader::new(cert);
    let mut tbs = top.expect(SEQUENCE, "Certificate").ok()?.reader();
    let mut fields = tbs.expect(SEQUENCE, "TBSCertificate").ok()?.reader();
    fields.optional_context(0, "version").ok()?;
    fields.element("serialNumber").ok()?;
    fields.expect(SEQUENCE, "signature").ok()?;
    Some(fields.expect(SEQUENCE, "issuer").ok()?.encoding)
}

/// The public-key algorithms we verify with, as a certificate's
/// subjectPublicKeyInfo names them (RFC 5280 4.1.2.7): rsaEncryption (RFC
/// 3279 2.3.1), id-ecPublicKey with namedCurve secp256r1 or secp384r1 (RFC
/// 5480 2.1.1). The number is the compact list's ([`crate::compact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyAlgorithm {
    /// The key is a DER `RSAPublicKey` (RFC 8017 A.1.1).
    Rsa = 1,
    /// The key is a SEC1 point on P-256 (SEC 1 2.3.3).
    P256 = 2,
    /// The key is a SEC1 point on P-384.
    P384 = 3,
}

impl KeyAlgorithm {
    pub fn from_u8(n: u8) -> Option<KeyAlgorithm> {
        [KeyAlgorithm::Rsa, KeyAlgorithm::P256, KeyAlgorithm::P384]
            .into_iter()
            .find(|a| *a as u8 == n)
    }
}

/// The key of a subjectPublicKeyInfo: its algorithm and the subjectPublicKey's
/// bytes, or why it is none we verify with.
#[cfg(feature = "x509")]
pub fn key_of(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<(KeyAlgorithm, &[u8]), String> {
    use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1};
    let Some(bits) = spki.subject_public_key.as_bytes() else {
        return Err("public key is not a whole number of bytes".into());
    };
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        return Ok((KeyAlgorithm::Rsa, bits));
    }
    if oid == ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
        return match curve {
            Some(SECP_256_R_1) => Ok((KeyAlgorithm::P256, bits)),
            Some(SECP_384_R_1) => Ok((KeyAlgorithm::P384, bits)),
            Some(other) => Err(format!("EC curve {other}")),
            None => Err("EC key without a named curve".into()),
        };
    }
    Err(format!("key algorithm {oid}"))
}

/// The key we verify with from its algorithm and raw bytes (as [`key_of`]
/// gives them), or why it cannot be one.
pub fn public_key(algorithm: KeyAlgorithm, key: &[u8]) -> PublicKey {
    match algorithm {
        KeyAlgorithm::Rsa => match crate::rsa_key::parse(key) {
            Ok(k) if RSA_BITS.contains(&(k.size() * 8)) => crate::rsa_verify::RsaPublicKey::new(k)
                .map_or_else(
                    || PublicKey::Unsupported("RSA key with an even modulus or no exponent".into()),
                    PublicKey::Rsa,
                ),
            Ok(k) => PublicKey::Unsupported(format!(
                "RSA key of {} bits (2048 to 4096 supported)",
                k.size() * 8
            )),
            Err(e) => PublicKey::Unsupported(format!("RSA key: {e}")),
        },
        #[cfg(feature = "ecdsa")]
        KeyAlgorithm::P256 => crate::p256_verify::P256Key::from_sec1(key).map_or_else(
            |e| PublicKey::Unsupported(format!("P-256 key: {e}")),
            PublicKey::P256,
        ),
        #[cfg(feature = "ecdsa")]
        KeyAlgorithm::P384 => crate::p384_verify::P384Key::from_sec1(key).map_or_else(
            |e| PublicKey::Unsupported(format!("P-384 key: {e}")),
            PublicKey::P384,
        ),
        #[cfg(not(feature = "ecdsa"))]
        KeyAlgorithm::P256 | KeyAlgorithm::P384 => {
            PublicKey::Unsupported(format!("{algorithm:?} key: ECDSA not built in"))
        }
    }
}

/// Linux's `x509_fabricate_name` (crypto/asymmetric_keys/x509_cert_parser.c): the
/// CN, prefixed by "O: " unless the CN already starts with the O; else the O,
/// else the e-mail address.
#[cfg(feature = "x509")]
fn fabricate_name(subject: &x509_cert::name::Name) -> String {
    let text = |v: der::Result<Option<x509_cert::ext::pkix::name::DirectoryString>>| {
        v.ok().flatten().map(String::from)
    };
    let cn = text(subject.common_name());
    let o = text(subject.organization());
    match (o, cn) {
        (Some(o), Some(cn)) if cn.starts_with(o.as_str()) => cn,
        (Some(o), Some(cn)) => format!("{o}: {cn}"),
        (None, Some(cn)) => cn,
        (Some(o), None) => o,
        (None, None) => subject
            .email_address()
            .ok()
            .flatten()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    }
}

/// The certificates module signatures are checked against.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<TrustedCert>,
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds one DER certificate.
    #[cfg(feature = "x509")]
    pub fn add_der(&mut self, der: &[u8]) -> Result<&TrustedCert, CertError> {
        let cert = TrustedCert::from_der(der)?;
        self.certs.push(cert);
        Ok(&self.certs[self.certs.len() - 1])
    }

    /// Adds a certificate already read (from the built-in list, [`crate::compact`]).
    pub fn push(&mut self, cert: TrustedCert) -> &TrustedCert {
        self.certs.push(cert);
        &self.certs[self.certs.len() - 1]
    }

    /// The first trusted certificate a signature naming `id` names.
    pub fn find(&self, id: &SignerId) -> Option<&TrustedCert> {
        self.certs.iter().find(|c| c.matches(id))
    }

    pub fn certs(&self) -> &[TrustedCert] {
        &self.certs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[cfg(feature = "x509")]
    #[test]
    fn the_raw_issuer_is_the_der_of_the_parsed_one() {
        use der::Encode;
        for cert in [
            &include_bytes!("../fuzz/certs/rsa2048.der")[..],
            &include_bytes!("../fuzz/certs/p256.der")[..],
        ] {
            let parsed = Certificate::from_der(cert).unwrap();
            let want = parsed.tbs_certificate().issuer().to_der().unwrap();
            assert_eq!(raw_issuer(cert), Some(&want[..]));
            assert_eq!(TrustedCert::from_der(cert).unwrap().issuer, want);
        }
        assert_eq!(raw_issuer(&[0x30, 0x00]), None);
    }

    /// Without feature `ecdsa` an EC certificate still reads (its signer is
    /// known), but its key is unsupported and says why; RSA still verifies.
    #[cfg(all(feature = "x509", not(feature = "ecdsa")))]
    #[test]
    fn without_ecdsa_an_ec_key_is_unsupported_and_rsa_still_works() {
        let ec = TrustedCert::from_der(include_bytes!("../fuzz/certs/p256.der")).unwrap();
        assert_eq!(ec.algorithm(), None);
        match ec.key() {
            PublicKey::Unsupported(why) => assert_eq!(why, "P256 key: ECDSA not built in"),
            other => panic!("{other:?}"),
        }
        let rsa = TrustedCert::from_der(include_bytes!("../fuzz/certs/rsa2048.der")).unwrap();
        assert!(matches!(rsa.key(), PublicKey::Rsa(_)));
        assert_eq!(rsa.algorithm(), Some(KeyAlgorithm::Rsa));
    }

    /// What the keyring makes of an rsaEncryption key whose RSAPublicKey is `der`.
    fn rsa_key_of(der: &[u8]) -> PublicKey {
        public_key(KeyAlgorithm::Rsa, der)
    }

    /// DER `SEQUENCE { INTEGER n, INTEGER e }` (contents below 64 KiB).
    fn key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
        let tlv = |tag: u8, c: &[u8]| {
            let mut out = vec![tag];
            if c.len() < 0x80 {
                out.push(c.len() as u8);
            } else {
                out.extend([0x82, (c.len() >> 8) as u8, c.len() as u8]);
            }
            out.extend_from_slice(c);
            out
        };
        tlv(0x30, &[tlv(0x02, n), tlv(0x02, e)].concat())
    }

    fn unsupported(key: PublicKey) -> String {
        match key {
            PublicKey::Unsupported(what) => what,
            other => panic!("accepted: {}", other.name()),
        }
    }

    #[test]
    fn malformed_rsa_keys_are_unsupported_with_the_reason() {
        let mut n = vec![0x00, 0xc0];
        n.extend([0x5b; 255]);
        let good = key_der(&n, &[1, 0, 1]);
        assert_eq!(rsa_key_of(&good).name(), "rsa2048");
        assert_eq!(
            unsupported(rsa_key_of(&good[..good.len() - 1])),
            "RSA key: malformed RSAPublicKey: truncated"
        );
        assert_eq!(
            unsupported(rsa_key_of(&[good.as_slice(), &[0]].concat())),
            "RSA key: malformed RSAPublicKey: bytes after the SEQUENCE"
        );
        assert_eq!(
            unsupported(rsa_key_of(&key_der(&n[1..], &[1, 0, 1]))),
            "RSA key: negative modulus"
        );
        assert_eq!(
            unsupported(rsa_key_of(&key_der(&n, &[0]))),
            "RSA key: public exponent not in 2..=8589934591"
        );
        let small = key_der(&[0x00, 0xc0, 0x5b], &[3]);
        assert_eq!(
            unsupported(rsa_key_of(&small)),
            "RSA key of 16 bits (2048 to 4096 supported)"
        );
    }
}
