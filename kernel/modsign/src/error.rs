//! Why a module signature was not accepted, in Linux's classes and errnos
//! (`module_sig_check`: ENODATA, ENOKEY and ENOPKG are "signature and/or
//! required key missing", tolerated unless enforcing; EBADMSG and EKEYREJECTED
//! are refused always).

use alloc::string::String;
use core::fmt;

/// A module signature that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// No `~Module signature appended~` marker (ENODATA).
    Unsigned,
    /// The signer is none of the trusted certificates (ENOKEY).
    UnknownKey {
        /// How the signature names its signer (issuer and serial, or key id).
        signer: String,
    },
    /// A signature type, digest or key algorithm we do not implement (ENOPKG).
    UnsupportedAlgorithm(Unsupported),
    /// The trailer or the PKCS#7 message is malformed (EBADMSG).
    Malformed(Malformed),
    /// Well formed, from a trusted key, but the signature does not verify over
    /// these bytes (EKEYREJECTED).
    Rejected {
        /// The trusted certificate's signer name.
        signer: String,
    },
}

/// What we do not implement (ENOPKG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// `module_signature.id_type` is not PKEY_ID_PKCS7 (2).
    IdType(u8),
    /// A `digestAlgorithm` other than SHA-256/384/512 (dotted OID).
    Digest(String),
    /// A `signatureAlgorithm` other than RSA PKCS#1 v1.5 or ECDSA (dotted OID).
    SignatureAlgorithm(String),
    /// The signer's certificate holds a key we cannot verify with.
    Key(String),
}

/// How the trailer or the CMS message is malformed (EBADMSG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The marker is there but fewer than 12 bytes precede it.
    TrailerTruncated { len: usize },
    /// `sig_len` leaves no ELF before the signature.
    SigLenTooLarge { sig_len: u32, available: usize },
    /// A field of `struct module_signature` that must be zero is not.
    ReservedNonZero { field: &'static str, value: u8 },
    /// The PKCS#7 blob is not valid DER for what it should hold.
    Der(String),
    /// The ContentInfo is not `id-signedData`.
    NotSignedData,
    /// The encapsulated content type is not `id-data`.
    ContentType,
    /// The content is embedded; module signatures are detached.
    NotDetached,
    /// The signer carries signed attributes (Linux: "has authattrs").
    HasAuthAttrs,
    /// Not exactly one SignerInfo.
    SignerCount(usize),
    /// The signature algorithm names a different digest than `digestAlgorithm`.
    DigestMismatch,
    /// A version that Linux's PKCS#7 parser refuses, or that does not fit
    /// the way the signer is named.
    Version(&'static str),
    /// Algorithm parameters where there must be none (or NULL).
    Parameters,
    /// The signature value is not a well-formed RSA or ECDSA signature.
    SignatureEncoding,
}

impl SigError {
    /// Linux's errno for this outcome (a positive number; the kernel negates it).
    pub fn errno(&self) -> i32 {
        match self {
            SigError::Unsigned => ENODATA,
            SigError::UnknownKey { .. } => ENOKEY,
            SigError::UnsupportedAlgorithm(_) => ENOPKG,
            SigError::Malformed(_) => EBADMSG,
            SigError::Rejected { .. } => EKEYREJECTED,
        }
    }

    /// Whether Linux would load the module anyway when not enforcing (and taint
    /// the kernel): the signature or its key is missing, not wrong.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            SigError::Unsigned | SigError::UnknownKey { .. } | SigError::UnsupportedAlgorithm(_)
        )
    }
}

/// `ENODATA`: no data available.
pub const ENODATA: i32 = 61;
/// `ENOPKG`: package not installed.
pub const ENOPKG: i32 = 65;
/// `EBADMSG`: bad message.
pub const EBADMSG: i32 = 74;
/// `ENOKEY`: required key not available.
pub const ENOKEY: i32 = 126;
/// `EKEYREJECTED`: key was rejected by service.
pub const EKEYREJECTED: i32 = 129;

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Unsigned => write!(f, "no module signature appended"),
            SigError::UnknownKey { signer } => {
                write!(f, "PKCS#7 signer {signer} is not a trusted key (Required key not available)")
            }
            SigError::UnsupportedAlgorithm(what) => write!(f, "{what} (Package not installed)"),
            SigError::Malformed(what) => write!(f, "Invalid module signature: {what} (Bad message)"),
            SigError::Rejected { signer } => write!(
                f,
                "PKCS#7 signature from '{signer}' does not verify over the module (Key was rejected by service)"
            ),
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::IdType(id) => {
                write!(
                    f,
                    "not signed with expected PKCS#7 message (id_type {id}, expected 2)"
                )
            }
            Unsupported::Digest(oid) => write!(f, "PKCS#7 digest algorithm {oid} not supported"),
            Unsupported::SignatureAlgorithm(oid) => {
                write!(f, "PKCS#7 signature algorithm {oid} not supported")
            }
            Unsupported::Key(what) => write!(f, "signer key not supported: {what}"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::TrailerTruncated { len } => write!(
                f,
                "trailer truncated: {len} bytes before the marker, struct module_signature needs 12"
            ),
            Malformed::SigLenTooLarge { sig_len, available } => write!(
                f,
                "sig_len {sig_len} leaves no module in the {available} bytes before the signature info"
            ),
            Malformed::ReservedNonZero { field, value } => write!(
                f,
                "PKCS#7 signature info has unexpected non-zero params ({field} = {value:#04x})"
            ),
            Malformed::Der(e) => write!(f, "PKCS#7 message is not valid DER: {e}"),
            Malformed::NotSignedData => write!(f, "PKCS#7 message is not SignedData"),
            Malformed::ContentType => write!(f, "PKCS#7 content type is not id-data"),
            Malformed::NotDetached => write!(f, "PKCS#7 message carries its content (not detached)"),
            Malformed::HasAuthAttrs => write!(f, "has authattrs"),
            Malformed::SignerCount(n) => write!(f, "PKCS#7 message has {n} signers, expected 1"),
            Malformed::DigestMismatch => {
                write!(f, "PKCS#7 signature algorithm and digest algorithm disagree")
            }
            Malformed::Version(what) => write!(f, "unsupported {what} version"),
            Malformed::Parameters => write!(f, "PKCS#7 algorithm has unexpected parameters"),
            Malformed::SignatureEncoding => write!(f, "PKCS#7 signature value is malformed"),
        }
    }
}
