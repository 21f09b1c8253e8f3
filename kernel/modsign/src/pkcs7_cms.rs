//! The reference [`crate::pkcs7::parse`] is tested against: the same checks
//! on RustCrypto's `cms` crate, which parsed module signatures before our own
//! DER reader did (host only, feature `x509`; tests/pkcs7_differential.rs
//! compares the two on every seed, signature and mutation it makes). It
//! returns the same [`Signer`], the issuer re-encoded to DER.

use alloc::string::ToString;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::{Decode, Encode};

use crate::error::{Malformed, SigError, Unsupported};
use crate::hash::HashAlgo;

use crate::pkcs7::{SignatureKind, Signer, SignerId};

fn der_error(e: der::Error) -> SigError {
    SigError::Malformed(Malformed::Der(e.to_string()))
}

fn null_or_absent(params: &Option<der::Any>) -> bool {
    params.as_ref().is_none_or(|p| p.is_null())
}

/// Parses the PKCS#7 blob of a module signature down to its one signer, with
/// the `cms` crate.
pub fn parse(pkcs7: &[u8]) -> Result<Signer, SigError> {
    let info = ContentInfo::from_der(pkcs7).map_err(der_error)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(SigError::Malformed(Malformed::NotSignedData));
    }
    let signed: SignedData = info.content.decode_as().map_err(der_error)?;
    // pkcs7_note_signeddata_version: PKCS#7 / CMS v1, or CMS v3.
    if !matches!(signed.version, CmsVersion::V1 | CmsVersion::V3) {
        return Err(SigError::Malformed(Malformed::Version("SignedData")));
    }
    let encap = &signed.encap_content_info;
    if encap.econtent_type != ID_DATA {
        return Err(SigError::Malformed(Malformed::ContentType));
    }
    if encap.econtent.is_some() {
        return Err(SigError::Malformed(Malformed::NotDetached));
    }
    let signer_count = signed.signer_infos.0.len();
    // Moved out, not copied: its signature and issuer are what is returned.
    let Ok::<[_; 1], _>([signer]) = signed.signer_infos.0.into_vec().try_into() else {
        return Err(SigError::Malformed(Malformed::SignerCount(signer_count)));
    };
    // pkcs7_note_signerinfo_version: a v1 SignerInfo names its signer by issuer
    // and serial and sits in a v1 SignedData; a v3 one by key identifier.
    let version_fits = match (&signer.sid, signer.version) {
        (SignerIdentifier::IssuerAndSerialNumber(_), CmsVersion::V1) => {
            signed.version == CmsVersion::V1
        }
        (SignerIdentifier::SubjectKeyIdentifier(_), CmsVersion::V3) => {
            signed.version == CmsVersion::V3
        }
        _ => false,
    };
    if !version_fits {
        return Err(SigError::Malformed(Malformed::Version("SignerInfo")));
    }
    if signer.signed_attrs.is_some() {
        return Err(SigError::Malformed(Malformed::HasAuthAttrs));
    }
    let digest_oid = &signer.digest_alg.oid;
    let digest = HashAlgo::from_oid_bytes(digest_oid.as_bytes()).ok_or_else(|| {
        SigError::UnsupportedAlgorithm(Unsupported::Digest(digest_oid.to_string()))
    })?;

    // One form only: the digest has no parameters (or NULL), the SignedData lists
    // exactly the signer's digest, and rsaEncryption has NULL (or none).
    if !null_or_absent(&signer.digest_alg.parameters) {
        return Err(SigError::Malformed(Malformed::Parameters));
    }
    if signed.digest_algorithms.len() != 1
        || signed
            .digest_algorithms
            .iter()
            .any(|d| d.oid != *digest_oid)
    {
        return Err(SigError::Malformed(Malformed::DigestMismatch));
    }
    let sig_oid = signer.signature_algorithm.oid;
    let (kind, named_digest) = match sig_oid {
        RSA_ENCRYPTION => (SignatureKind::RsaPkcs1v15, None),
        SHA_256_WITH_RSA_ENCRYPTION => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha256)),
        SHA_384_WITH_RSA_ENCRYPTION => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha384)),
        SHA_512_WITH_RSA_ENCRYPTION => (SignatureKind::RsaPkcs1v15, Some(HashAlgo::Sha512)),
        ECDSA_WITH_SHA_256 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha256)),
        ECDSA_WITH_SHA_384 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha384)),
        ECDSA_WITH_SHA_512 => (SignatureKind::Ecdsa, Some(HashAlgo::Sha512)),
        other => {
            return Err(SigError::UnsupportedAlgorithm(
                Unsupported::SignatureAlgorithm(other.to_string()),
            ))
        }
    };
    let params = &signer.signature_algorithm.parameters;
    let params_fit = match kind {
        SignatureKind::RsaPkcs1v15 => null_or_absent(params),
        SignatureKind::Ecdsa => params.is_none(),
    };
    if !params_fit {
        return Err(SigError::Malformed(Malformed::Parameters));
    }
    if named_digest.is_some_and(|named| named != digest) {
        return Err(SigError::Malformed(Malformed::DigestMismatch));
    }

    let id = match signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => SignerId::IssuerAndSerial {
            issuer: ias.issuer.to_der().map_err(der_error)?,
            serial: ias.serial_number.as_bytes().to_vec(),
        },
        SignerIdentifier::SubjectKeyIdentifier(skid) => {
            SignerId::KeyIdentifier(skid.0.as_bytes().to_vec())
        }
    };
    Ok(Signer {
        id,
        digest,
        kind,
        signature: signer.signature.into_bytes().into_vec(),
    })
}
