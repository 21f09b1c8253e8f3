//! The built-in certificates, read at build time into what verification
//! needs, and read back at boot.
//!
//! A kernel trusts the certificates it is built with because they are built
//! in (Linux's system keyring), not because of anything checked at boot. So
//! the build ([`encode`], run by the kernel's build script on the host, with
//! the feature `x509`) reads each X.509 certificate as
//! [`TrustedCert::from_der`] does and keeps only what a signature is matched
//! and verified with: the signer's name, the issuer (DER, compared as bytes),
//! the serial number, the subject key identifier and the key, as its
//! algorithm ([`KeyAlgorithm`], decided on the host from the
//! SubjectPublicKeyInfo) and raw bytes (the RSAPublicKey DER or the SEC1
//! point), or the reason it is no key we verify with. A certificate that
//! cannot be read is kept as its error message, which the kernel logs as
//! Linux logs a bad built-in certificate. At boot [`decode`] turns each entry
//! back into a [`TrustedCert`] whose key the same code as before makes
//! ([`keyring::public_key`], on the key's first use: [`keyring::LazyKey`]), so
//! the keyring is the same; boot runs no
//! X.509, SubjectPublicKeyInfo or Name decoder, and the kernel links none.
//!
//! Format, all lengths big-endian u32: one entry after the other; an entry is
//! a tag byte, 0 for a certificate (then four fields, each a length and its
//! bytes, the key identifier's length `u32::MAX` when absent: signer,
//! issuer, serial, key identifier; then the key: one byte, 0 for none we
//! verify with, then the reason as a field, or a [`KeyAlgorithm`], then the
//! key's bytes as a field and its precomputed products as a field: an RSA
//! key's [`crate::rsa_verify::RsaPublicKey::products`], empty for the
//! others) or 1 for a certificate that could not be read (then its message). Bad input (the blob is built by this crate, but it is
//! still checked) ends the list with an error entry; nothing panics.

use alloc::string::String;
#[cfg(feature = "x509")]
use alloc::vec::Vec;

use crate::keyring::{CertError, KeyAlgorithm, LazyKey, PublicKey, TrustedCert};

const CERT: u8 = 0;
const ERROR: u8 = 1;
const ABSENT: u32 = u32::MAX;
/// The key byte of a certificate whose key we do not verify with.
const NO_KEY: u8 = 0;
#[cfg(feature = "x509")]
/// The length of the DER element at the start of `der` (a certificate is one
/// SEQUENCE; X.690 8.1.3), if it fits.
fn der_length(der: &[u8]) -> Option<usize> {
    let first = *der.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = der.get(2..2 + n)?;
        (
            2 + n,
            bytes.iter().fold(0usize, |a, &b| a << 8 | b as usize),
        )
    };
    let total = header.checked_add(len)?;
    (total <= der.len()).then_some(total)
}

#[cfg(feature = "x509")]
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The fields of one certificate, or why it cannot be read.
#[cfg(feature = "x509")]
fn entry(cert: &[u8]) -> Result<Vec<u8>, String> {
    use alloc::string::ToString;
    use der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert).map_err(|e| e.to_string())?;
    let checked = TrustedCert::from_der(cert).map_err(|e| e.0)?;
    let mut out = alloc::vec![CERT];
    put(&mut out, checked.signer.as_bytes());
    put(&mut out, &checked.issuer);
    put(&mut out, &checked.serial);
    match &checked.key_identifier {
        Some(k) => put(&mut out, k),
        None => out.extend_from_slice(&ABSENT.to_be_bytes()),
    }
    match crate::keyring::key_of(parsed.tbs_certificate().subject_public_key_info()) {
        Ok((algorithm, key)) => {
            out.push(algorithm as u8);
            put(&mut out, key);
            let products = match crate::keyring::public_key(algorithm, key) {
                crate::keyring::PublicKey::Rsa(k) => k.products(),
                _ => Vec::new(),
            };
            put(&mut out, &products);
        }
        Err(why) => {
            out.push(NO_KEY);
            put(&mut out, why.as_bytes());
        }
    }
    Ok(out)
}

/// The blob for `certs`, concatenated DER certificates (what the kernel's
/// build is given). Each certificate becomes an entry, readable or not; bytes
/// that do not start a DER element end the list with an error entry.
#[cfg(feature = "x509")]
pub fn encode(certs: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = certs;
    while !rest.is_empty() {
        let Some(len) = der_length(rest) else {
            out.push(ERROR);
            put(&mut out, b"malformed built-in certificate list");
            break;
        };
        let (cert, tail) = rest.split_at(len);
        match entry(cert) {
            Ok(e) => out.extend_from_slice(&e),
            Err(msg) => {
                out.push(ERROR);
                put(&mut out, msg.as_bytes());
            }
        }
        rest = tail;
    }
    out
}

/// Reads a blob [`encode`] wrote.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn len(&mut self) -> Option<u32> {
        let (n, tail) = self.rest.split_first_chunk::<4>()?;
        self.rest = tail;
        Some(u32::from_be_bytes(*n))
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let n = self.len()? as usize;
        let (bytes, tail) = (self.rest.get(..n)?, self.rest.get(n..)?);
        self.rest = tail;
        Some(bytes)
    }

    fn optional(&mut self) -> Option<Option<&'a [u8]>> {
        if self.rest.get(..4)? == ABSENT.to_be_bytes() {
            self.rest = &self.rest[4..];
            return Some(None);
        }
        self.field().map(Some)
    }

    fn cert(&mut self) -> Result<TrustedCert, CertError> {
        let bad = || CertError("built-in key list: truncated entry".into());
        let signer = self.field().ok_or_else(bad)?;
        let issuer = self.field().ok_or_else(bad)?;
        let serial = self.field().ok_or_else(bad)?;
        let key_identifier = self.optional().ok_or_else(bad)?;
        let (&algorithm, tail) = self.rest.split_first().ok_or_else(bad)?;
        self.rest = tail;
        let key = self.field().ok_or_else(bad)?;
        let key = match (algorithm, KeyAlgorithm::from_u8(algorithm)) {
            (NO_KEY, _) => LazyKey::ready(PublicKey::Unsupported(
                String::from_utf8_lossy(key).into_owned(),
            )),
            (_, Some(algorithm)) => {
                let products = self.field().ok_or_else(bad)?;
                LazyKey::raw(algorithm, key, products)
            }
            (_, None) => return Err(CertError("built-in key list: unknown key algorithm".into())),
        };
        Ok(TrustedCert::new(
            String::from_utf8_lossy(signer).into_owned(),
            issuer.to_vec(),
            serial.to_vec(),
            key_identifier.map(<[u8]>::to_vec),
            key,
        ))
    }
}

impl Iterator for Reader<'_> {
    type Item = Result<TrustedCert, CertError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, tail) = self.rest.split_first()?;
        self.rest = tail;
        let item = match (tag, tag == ERROR) {
            (CERT, _) => self.cert(),
            (_, true) => match self.field() {
                Some(m) => return Some(Err(CertError(String::from_utf8_lossy(m).into_owned()))),
                None => Err(CertError("built-in key list: truncated entry".into())),
            },
            _ => Err(CertError("built-in key list: unknown entry".into())),
        };
        if item.is_err() {
            // Nothing after a damaged entry can be trusted to line up.
            self.rest = &[];
        }
        Some(item)
    }
}

/// The certificates of a blob [`encode`] wrote, in order.
pub fn decode(blob: &[u8]) -> impl Iterator<Item = Result<TrustedCert, CertError>> + '_ {
    Reader { rest: blob }
}

#[cfg(all(test, feature = "x509"))]
mod tests {
    use super::*;
    use crate::Keyring;

    const RSA: &[u8] = include_bytes!("../fuzz/certs/rsa2048.der");
    const P256: &[u8] = include_bytes!("../fuzz/certs/p256.der");

    fn both() -> Vec<u8> {
        [RSA, P256].concat()
    }

    #[test]
    fn entries_read_back_as_the_certificates_do() {
        let blob = encode(&both());
        let got: Vec<TrustedCert> = decode(&blob).map(|c| c.unwrap()).collect();
        let want = [
            TrustedCert::from_der(RSA).unwrap(),
            TrustedCert::from_der(P256).unwrap(),
        ];
        assert_eq!(got.len(), 2);
        for (g, w) in got.iter().zip(&want) {
            let before = alloc::format!("{g:?}");
            assert!(before.contains("(not read yet)"), "{before}");
            assert_eq!(g.signer, w.signer);
            assert_eq!(g.issuer, w.issuer);
            assert_eq!(g.serial, w.serial);
            assert_eq!(g.key_identifier, w.key_identifier);
            assert_eq!(g.key().name(), w.key().name());
            let after = alloc::format!("{g:?}");
            assert!(!after.contains("(not read yet)"), "{after}");
            // An RSA key comes with the products the build computed: made
            // without a verification, it already has them.
            if let PublicKey::Rsa(k) = g.key() {
                assert!(k.is_derived(), "the build's products were not taken");
            }
        }
    }

    #[test]
    fn products_that_do_not_fit_the_key_are_refused() {
        use der::Decode;
        let blob = encode(RSA);
        let cert = decode(&blob).next().unwrap().unwrap();
        let PublicKey::Rsa(k) = cert.key() else {
            panic!("the RSA certificate has no RSA key");
        };
        let products = k.products();
        let parsed = x509_cert::Certificate::from_der(RSA).unwrap();
        let (algorithm, raw) =
            crate::keyring::key_of(parsed.tbs_certificate().subject_public_key_info()).unwrap();
        let plain = || match crate::keyring::public_key(algorithm, raw) {
            PublicKey::Rsa(k) => k,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            plain().products(),
            products,
            "encode wrote what the key computes"
        );
        let longer = [&products[..], &[0u8][..]].concat();
        for bad in [
            &products[..products.len() - 1],
            &longer[..],
            &[2u8][..],
            &[0u8, 0][..],
        ] {
            let key = plain();
            assert!(!key.set_products(bad), "{} bytes taken", bad.len());
            assert!(!key.is_derived());
            assert_eq!(key.products(), products, "computed as without");
        }
    }

    #[test]
    fn the_fuzz_seeds_verify_alike_with_either_keyring() {
        let mut from_der = Keyring::new();
        for c in [RSA, P256] {
            from_der.add_der(c).unwrap();
        }
        let mut from_blob = Keyring::new();
        for c in decode(&encode(&both())) {
            from_blob.push(c.unwrap());
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/verify");
        let mut ok = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            let (a, b) = (
                crate::verify(&data, &from_der),
                crate::verify(&data, &from_blob),
            );
            assert_eq!(a, b);
            ok += usize::from(a.is_ok());
        }
        assert!(ok > 0, "no seed verified");
    }

    #[test]
    fn unreadable_certificates_are_kept_as_their_message() {
        let mut bad = RSA.to_vec();
        bad[4] = 0x31; // the TBSCertificate is no longer a SEQUENCE
        let blob = encode(&[&bad[..], P256].concat());
        let got: Vec<_> = decode(&blob).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_err());
        assert!(got[1].is_ok());
        let blob = encode(&[P256, &[0x30, 0x85][..]].concat());
        let got: Vec<_> = decode(&blob).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].as_ref().unwrap_err().0,
            "malformed built-in certificate list"
        );
    }

    #[test]
    fn damaged_blobs_end_with_an_error_and_never_panic() {
        let blob = encode(&both());
        for cut in 0..blob.len() {
            let items: Vec<_> = decode(&blob[..cut]).collect();
            assert!(items.len() <= 2);
        }
        for at in 0..blob.len() {
            let mut b = blob.clone();
            b[at] = b[at].wrapping_add(0x41);
            assert!(decode(&b).take(10).count() <= 3);
        }
    }
}
