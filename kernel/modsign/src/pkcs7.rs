//! The CMS (PKCS#7) SignedData of a module signature, parsed and checked as
//! Linux's `pkcs7_parse_message` and `mod_verify_sig` check it
//! (crypto/asymmetric_keys/pkcs7_parser.c, pkcs7_verify.c): content type
//! `id-signedData`, encapsulated content `id-data` and detached, exactly one
//! signer, no signed attributes ("has authattrs" is refused: only one form of
//! message is accepted). The signer is found among the trusted certificates
//! by issuer and serial number or key identifier.
//!
//! Read with our strict DER reader ([`crate::der`]) in two passes, as the
//! `cms` crate (kept as the reference, `pkcs7_cms.rs`, and tested against
//! this one in tests/pkcs7_differential.rs) read it: first the whole
//! structure (RFC 5652 5.1-5.3) is checked for form, any malformed element
//! being a [`Malformed::Der`] naming it; then the checks above, in a fixed
//! order. Certificates and CRLs in the message are not used (module
//! signatures carry none); each is checked only as a DER element of one of
//! its choice's tags, not read as X.509.

use alloc::vec::Vec;

use crate::der::{self, DerError, Element, Reader};
use crate::error::{Malformed, SigError, Unsupported};
use crate::hash::HashAlgo;

/// How a SignerInfo names its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// The certificate's issuer, as the DER of its Name (tag and length
    /// included), and its serial number's bytes. DER is canonical, so equal
    /// Names are equal bytes; Linux compares the raw bytes too
    /// (`asymmetric_key_id_same` over issuer + serial).
    IssuerAndSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// The certificate's subjectKeyIdentifier (`sign-file -k`).
    KeyIdentifier(Vec<u8>),
}

/// The public-key algorithm a signature claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15,
    /// ECDSA, the signature an `Ecdsa-Sig-Value` in DER.
    Ecdsa,
}

/// The one signer of a module signature, checked for form but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub id: SignerId,
    pub digest: HashAlgo,
    pub kind: SignatureKind,
    pub signature: Vec<u8>,
}

/// OID contents (X.690 8.19) the checks compare against.
pub(crate) mod oid {
    /// id-signedData, 1.2.840.113549.1.7.2 (RFC 5652 5.1).
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    /// id-data, 1.2.840.113549.1.7.1 (RFC 5652 4).
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    /// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 A.1).
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// sha{256,384,512}WithRSAEncryption, 1.2.840.113549.1.1.{11,12,13}.
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    /// ecdsa-with-SHA{256,384,512}, 1.2.840.10045.4.3.{2,3,4} (RFC 5758 3.2).
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    /// id-sha{256,384,512}, 2.16.840.1.101.3.4.2.{1,2,3} (RFC 5754 2).
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
}

/// An AlgorithmIdentifier (RFC 5280 4.1.1.2): the OID's contents and the
/// parameters' whole encoding, if any.
struct Algorithm<'a> {
    oid: &'a [u8],
    parameters: Option<&'a [u8]>,
}

/// The DER of NULL (X.690 8.8).
const NULL_PARAMETERS: &[u8] = &[der::NULL, 0x00];

impl Algorithm<'_> {
    fn null_or_absent(&self) -> bool {
        self.parameters.is_none_or(|p| p == NULL_PARAMETERS)
    }
}

/// A SignerInfo (RFC 5652 5.3) read for form.
struct SignerInfo<'a> {
    version: u8,
    id: SignerId,
    digest: Algorithm<'a>,
    has_signed_attributes: bool,
    signature_algorithm: Algorithm<'a>,
    signature: &'a [u8],
}

/// A SignedData (RFC 5652 5.1) read for form.
struct SignedData<'a> {
    version: u8,
    digest_algorithms: Vec<Algorithm<'a>>,
    content_type: &'a [u8],
    has_content: bool,
    signers: Vec<SignerInfo<'a>>,
}

fn malformed(e: DerError) -> SigError {
    SigError::Malformed(Malformed::Der(e.message()))
}

/// Parses the PKCS#7 blob of a module signature down to its one signer.
pub fn parse(pkcs7: &[u8]) -> Result<Signer, SigError> {
    let content = content_info(pkcs7).map_err(malformed)?;
    let Some(content) = content else {
        return Err(SigError::Malformed(Malformed::NotSignedData));
    };
    let signed = signed_data(content).map_err(malformed)?;
    // pkcs7_note_signeddata_version: PKCS#7 / CMS v1, or CMS v3.
    if !matches!(signed.version, 1 | 3) {
        return Err(SigError::Malformed(Malformed::Version("SignedData")));
    }
    if signed.content_type != oid::DATA {
        return Err(SigError::Malformed(Malformed::ContentType));
    }
    if signed.has_content {
        return Err(SigError::Malformed(Malformed::NotDetached));
    }
    let signer_count = signed.signers.len();
    let Ok::<[_; 1], _>([signer]) = signed.signers.try_into() else {
        return Err(SigError::Malformed(Malformed::SignerCount(signer_count)));
    };
    // pkcs7_note_signerinfo_version: a v1 SignerInfo names its signer by issuer
    // and serial and sits in a v1 SignedData; a v3 one by key identifier.
    let version_fits = match (&signer.id, signer.version) {
        (SignerId::IssuerAndSerial { .. }, 1) => signed.version == 1,
        (SignerId::KeyIdentifier(_), 3) => signed.version == 3,
        _ => false,
    };
    if !version_fits {
        return Err(SigError::Malformed(Malformed::Version("SignerInfo")));
    }
    if signer.has_signed_attributes {
        return Err(SigError::Malformed(Malformed::HasAuthAttrs));
    }
    let digest_oid = signer.digest.oid;
    let digest = HashAlgo::from_oid_bytes(digest_oid).ok_or_else(|| {
        SigError::UnsupportedAlgorithm(Unsupported::Digest(der::oid_dotted(digest_oid)))
    })?;

    // One form only: the digest has no parameters (or NULL), the SignedData lists
    // exactly the signer's digest, and rsaEncryption has NULL (or none).
    if !signer.digest.null_or_absent() {
        return Err(SigError::Malformed(Malformed::Parameters));
    }
    if signed.digest_algorithms.len() != 1
        || signed.digest_algorithms.iter().any(|d| d.oid != digest_oid)
    {
        return Err(SigError::Malformed(Malformed::DigestMismatch));
    }
    let sig_oid = signer.signature_algorithm.oid;
    let (kind, named_digest) = match sig_oid {
        oid::RSA_ENCRYPTION => (SignatureKind::RsaPkcs1v15, None),
        oid::SHA256_WITH_RSA => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha256)),
        oid::SHA384_WITH_RSA => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha384)),
        oid::SHA512_WITH_RSA => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha512)),
        oid::ECDSA_SHA256 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha256)),
        oid::ECDSA_SHA384 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha384)),
        oid::ECDSA_SHA512 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha512)),
        other => {
            return Err(SigError::UnsupportedAlgorithm(
                Unsupported::SignatureAlgorithm(der::oid_dotted(other)),
            ))
        }
    };
    let params_fit = match kind {
        SignatureKind::RsaPkcs1v15 => signer.signature_algorithm.null_or_absent(),
        SignatureKind::Ecdsa => signer.signature_algorithm.parameters.is_none(),
    };
    if !params_fit {
        return Err(SigError::Malformed(Malformed::Parameters));
    }
    if named_digest.is_some_and(|named| named != digest) {
        return Err(SigError::Malformed(Malformed::DigestMismatch));
    }
    Ok(Signer {
        id: signer.id,
        digest,
        kind,
        signature: signer.signature.to_vec(),
    })
}

/// `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`
/// (RFC 5652 3): the content if the type is id-signedData, `None` if it is
/// another type.
fn content_info(message: &[u8]) -> Result<Option<Element<'_>>, DerError> {
    let mut top = Reader::new(message);
    let info = top.expect(der::SEQUENCE, "ContentInfo")?;
    top.finish("ContentInfo")?;
    let mut r = info.reader();
    let content_type = r
        .element("ContentInfo.contentType")?
        .oid("ContentInfo.contentType")?;
    let content = explicit(&mut r, 0, "ContentInfo.content")?;
    let Some(content) = content else {
        return Err(r.error("ContentInfo.content", "missing [0]"));
    };
    r.finish("ContentInfo")?;
    Ok((content_type == oid::SIGNED_DATA).then_some(content))
}

/// An optional `[number] EXPLICIT ANY`: constructed, holding one element.
fn explicit<'a>(
    r: &mut Reader<'a>,
    number: u32,
    what: &'static str,
) -> Result<Option<Element<'a>>, DerError> {
    let Some(tagged) = r.optional_context(number, what)? else {
        return Ok(None);
    };
    constructed(&tagged, what)?;
    let mut inner = tagged.reader();
    let value = inner.element(what)?;
    inner.finish(what)?;
    Ok(Some(value))
}

fn constructed(e: &Element<'_>, what: &'static str) -> Result<(), DerError> {
    if e.is_constructed() {
        Ok(())
    } else {
        Err(DerError {
            what,
            offset: e.offset,
            problem: "primitive where the encoding must be constructed".into(),
        })
    }
}

/// `SignedData ::= SEQUENCE { version, digestAlgorithms SET OF, encapContentInfo,
/// certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos
/// SET OF }` (RFC 5652 5.1).
fn signed_data(content: Element<'_>) -> Result<SignedData<'_>, DerError> {
    let sd = content.expect(der::SEQUENCE, "SignedData")?;
    let mut r = sd.reader();
    let version = r
        .element("SignedData.version")?
        .cms_version("SignedData.version")?;
    let set = r.expect(der::SET, "SignedData.digestAlgorithms")?;
    let mut digests = set.reader();
    let mut digest_algorithms = Vec::new();
    while !digests.is_empty() {
        digest_algorithms.push(algorithm(&mut digests, "SignedData.digestAlgorithms")?);
    }
    let (content_type, has_content) = encapsulated_content_info(&mut r)?;
    // RFC 5652 10.2.1-10.2.2: CertificateChoices (a Certificate SEQUENCE or
    // [3] other) and RevocationInfoChoice (a CertificateList SEQUENCE or [1]
    // other); not used here, so not read as X.509.
    for (number, choices, what) in [
        (0, [der::SEQUENCE, 0xa3], "SignedData.certificates"),
        (1, [der::SEQUENCE, 0xa1], "SignedData.crls"),
    ] {
        if let Some(set) = r.optional_context(number, what)? {
            constructed(&set, what)?;
            let mut items = set.reader();
            while !items.is_empty() {
                let item = items.element(what)?;
                if !choices.contains(&item.tag) {
                    return Err(DerError {
                        what,
                        offset: item.offset,
                        problem: alloc::format!("unexpected tag {:#04x}", item.tag),
                    });
                }
            }
        }
    }
    let set = r.expect(der::SET, "SignedData.signerInfos")?;
    r.finish("SignedData")?;
    let mut infos = set.reader();
    let mut signers = Vec::new();
    while !infos.is_empty() {
        signers.push(signer_info(infos.expect(der::SEQUENCE, "SignerInfo")?)?);
    }
    Ok(SignedData {
        version,
        digest_algorithms,
        content_type,
        has_content,
        signers,
    })
}

/// `EncapsulatedContentInfo ::= SEQUENCE { eContentType OID, eContent [0]
/// EXPLICIT OCTET STRING OPTIONAL }` (RFC 5652 5.2): the type and whether
/// there is content (any element, as the `cms` crate took it).
fn encapsulated_content_info<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], bool), DerError> {
    const WHAT: &str = "EncapsulatedContentInfo";
    let mut eci = r.expect(der::SEQUENCE, WHAT)?.reader();
    let content_type = eci
        .element(WHAT)?
        .oid("EncapsulatedContentInfo.eContentType")?;
    let content = explicit(&mut eci, 0, "EncapsulatedContentInfo.eContent")?;
    eci.finish(WHAT)?;
    Ok((content_type, content.is_some()))
}

/// `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`.
fn algorithm<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<Algorithm<'a>, DerError> {
    let mut a = r.expect(der::SEQUENCE, what)?.reader();
    let oid = a.element(what)?.oid(what)?;
    let parameters = if a.is_empty() {
        None
    } else {
        Some(a.element(what)?.encoding)
    };
    a.finish(what)?;
    Ok(Algorithm { oid, parameters })
}

/// `SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0]
/// IMPLICIT OPTIONAL, signatureAlgorithm, signature OCTET STRING,
/// unsignedAttrs [1] IMPLICIT OPTIONAL }` (RFC 5652 5.3).
fn signer_info(info: Element<'_>) -> Result<SignerInfo<'_>, DerError> {
    let mut r = info.reader();
    let version = r
        .element("SignerInfo.version")?
        .cms_version("SignerInfo.version")?;
    let id = signer_identifier(r.element("SignerInfo.sid")?)?;
    let digest = algorithm(&mut r, "SignerInfo.digestAlgorithm")?;
    let signed_attributes = attributes(&mut r, 0, "SignerInfo.signedAttrs")?;
    let signature_algorithm = algorithm(&mut r, "SignerInfo.signatureAlgorithm")?;
    let signature = r
        .expect(der::OCTET_STRING, "SignerInfo.signature")?
        .contents;
    attributes(&mut r, 1, "SignerInfo.unsignedAttrs")?;
    r.finish("SignerInfo")?;
    Ok(SignerInfo {
        version,
        id,
        digest,
        has_signed_attributes: signed_attributes,
        signature_algorithm,
        signature,
    })
}

/// `SignerIdentifier ::= CHOICE { issuerAndSerialNumber, subjectKeyIdentifier
/// [0] IMPLICIT OCTET STRING }` (RFC 5652 5.3).
fn signer_identifier(sid: Element<'_>) -> Result<SignerId, DerError> {
    const WHAT: &str = "SignerInfo.sid";
    if sid.tag == 0x80 {
        return Ok(SignerId::KeyIdentifier(sid.contents.to_vec()));
    }
    let ias = sid.expect(der::SEQUENCE, WHAT)?;
    let mut r = ias.reader();
    let issuer = name(&mut r)?;
    let serial = r
        .element("IssuerAndSerialNumber.serialNumber")?
        .integer("IssuerAndSerialNumber.serialNumber")?;
    // x509-cert's SerialNumber: RFC 5280 4.1.2.2's 20 octets, plus one for
    // encoders that count the value before its sign octet.
    if serial.len() > 21 {
        return Err(DerError {
            what: "IssuerAndSerialNumber.serialNumber",
            offset: ias.offset,
            problem: "serial number longer than 21 bytes".into(),
        });
    }
    r.finish("IssuerAndSerialNumber")?;
    Ok(SignerId::IssuerAndSerial {
        issuer: issuer.to_vec(),
        serial: serial.to_vec(),
    })
}

/// `Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }` (RFC 5280
/// 4.1.2.4), checked for form; its whole encoding.
fn name<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DerError> {
    const WHAT: &str = "IssuerAndSerialNumber.issuer";
    let name = r.expect(der::SEQUENCE, WHAT)?;
    let mut rdns = name.reader();
    while !rdns.is_empty() {
        let mut rdn = rdns.expect(der::SET, WHAT)?.reader();
        while !rdn.is_empty() {
            let mut atv = rdn.expect(der::SEQUENCE, WHAT)?.reader();
            atv.element(WHAT)?.oid(WHAT)?;
            atv.element(WHAT)?;
            atv.finish(WHAT)?;
        }
    }
    Ok(name.encoding)
}

/// Optional `[number] IMPLICIT SET OF Attribute`, `Attribute ::= SEQUENCE {
/// attrType OID, attrValues SET OF ANY }` (RFC 5652 5.3): whether present.
fn attributes(r: &mut Reader<'_>, number: u32, what: &'static str) -> Result<bool, DerError> {
    let Some(set) = r.optional_context(number, what)? else {
        return Ok(false);
    };
    constructed(&set, what)?;
    let mut attrs = set.reader();
    while !attrs.is_empty() {
        let mut attr = attrs.expect(der::SEQUENCE, what)?.reader();
        attr.element(what)?.oid(what)?;
        let mut values = attr.expect(der::SET, what)?.reader();
        while !values.is_empty() {
            values.element(what)?;
        }
        attr.finish(what)?;
    }
    Ok(true)
}
