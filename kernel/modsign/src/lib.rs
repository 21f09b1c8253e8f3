//! Module signatures in Linux's format, checked as Linux checks them
//! (`module_sig_check` -> `mod_verify_sig` -> `verify_pkcs7_signature`).
//!
//! Given the exact bytes of a `.ko` and the trusted certificates, [`verify`]
//! splits off the appended trailer ([`trailer`]), parses the detached CMS
//! SignedData ([`pkcs7`]), finds the signer among the trusted certificates
//! ([`keyring`]), hashes the ELF ([`hash`]) and verifies RSA PKCS#1 v1.5
//! (2048-4096 bits) or ECDSA P-256/P-384 over it (ECDSA with feature
//! `ecdsa`, on by default; without it an EC certificate reads as unsupported). Nothing of the ELF is parsed:
//! on success the caller loads exactly [`Verified::elf_len`] bytes, the bytes
//! that were hashed. Every outcome that is not success is a [`SigError`] whose
//! class and errno are Linux's.
//!
//! `no_std` + `alloc`; the CMS message is read by our own strict DER reader
//! ([`pkcs7`]), the RSA key by its own ([`rsa_key`]), and the RSA, P-256 and
//! P-384 checks are our own variable-time ones ([`rsa_verify`],
//! [`p256_verify`], [`p384_verify`]), all differential-tested against
//! RustCrypto's. RustCrypto's DER, X.509 and CMS crates are host only
//! (feature `x509`, on by default): reading certificates
//! ([`TrustedCert::from_der`], [`compact::encode`]) and the reference CMS
//! parser ([`pkcs7_cms`]); the kernel builds without them. The only
//! `unsafe` is the SHA-256 instruction path, entered after the kernel has
//! declared the instructions present ([`hash::declare_sha2_instructions`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod compact;
mod der;
#[cfg(feature = "ecdsa")]
mod ec_arith;
#[cfg(feature = "ecdsa")]
mod ec_point;
#[cfg(feature = "ecdsa")]
mod ecdsa_der;
pub mod error;
pub mod hash;
pub mod keyring;
#[cfg(target_arch = "aarch64")]
mod mont_aarch64;
#[cfg(feature = "ecdsa")]
pub mod p256_verify;
#[cfg(feature = "ecdsa")]
pub mod p384_verify;
pub mod pkcs7;
#[cfg(feature = "x509")]
pub mod pkcs7_cms;
pub mod rsa_key;
pub mod rsa_verify;
#[cfg(target_arch = "aarch64")]
mod sha256_ce;
pub mod trailer;

use alloc::string::String;
use alloc::vec::Vec;

pub use error::{Malformed, SigError, Unsupported};
pub use hash::HashAlgo;
pub use keyring::{CertError, KeyAlgorithm, Keyring, PublicKey, TrustedCert};
pub use pkcs7::{SignatureKind, SignerId};

/// A module whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Bytes at the start of the image that were signed: the ELF to load.
    pub elf_len: usize,
    /// `modinfo`'s `signer`: the trusted certificate's name.
    pub signer: String,
    /// `modinfo`'s `sig_key`: the serial number, or the key identifier when the
    /// signature names its signer by one, in colon-separated hex.
    pub key_id: String,
    /// `modinfo`'s `sig_hashalgo`.
    pub hash_algo: HashAlgo,
}

/// Checks the signature appended to `image` against `keyring`.
pub fn verify(image: &[u8], keyring: &Keyring) -> Result<Verified, SigError> {
    let split = trailer::split(image)?;
    let signer = pkcs7::parse(split.pkcs7)?;
    let Some(cert) = keyring.find(&signer.id) else {
        return Err(SigError::UnknownKey {
            signer: describe(&signer.id),
        });
    };
    let digest = signer.digest.digest(split.elf);
    check_signature(cert, &signer, &digest)?;
    Ok(Verified {
        elf_len: split.elf.len(),
        signer: cert.signer.clone(),
        key_id: key_id(&signer.id),
        hash_algo: signer.digest,
    })
}

/// Verifies `signer.signature` over the precomputed `digest` with `cert`'s key.
fn check_signature(
    cert: &TrustedCert,
    signer: &pkcs7::Signer,
    digest: &[u8],
) -> Result<(), SigError> {
    let rejected = || SigError::Rejected {
        signer: cert.signer.clone(),
    };
    let sig = signer.signature.as_slice();
    #[cfg(feature = "ecdsa")]
    let ecdsa_error = |e| match e {
        p256_verify::EcdsaError::MalformedSignature => {
            SigError::Malformed(Malformed::SignatureEncoding)
        }
        p256_verify::EcdsaError::Rejected => rejected(),
    };
    match (cert.key(), signer.kind) {
        (PublicKey::Unsupported(what), _) => Err(SigError::UnsupportedAlgorithm(Unsupported::Key(
            what.clone(),
        ))),
        (PublicKey::Rsa(key), SignatureKind::RsaPkcs1v15) => {
            // Variable-time verification (public values only); the same answer
            // as the rsa crate's `verify` with `Pkcs1v15Sign`, in fewer multiplications.
            if rsa_verify::verify_pkcs1v15(key, signer.digest, digest, sig) {
                Ok(())
            } else {
                Err(rejected())
            }
        }
        #[cfg(feature = "ecdsa")]
        (PublicKey::P256(key), SignatureKind::Ecdsa) => {
            // Variable-time (public values only); the same answer as the p256
            // crate's `DerSignature::from_bytes` + `verify_prehash`, faster.
            p256_verify::verify_prehash(key, digest, sig).map_err(ecdsa_error)
        }
        #[cfg(feature = "ecdsa")]
        (PublicKey::P384(key), SignatureKind::Ecdsa) => {
            // Likewise against the p384 crate (tests/p384_differential.rs).
            p384_verify::verify_prehash(key, digest, sig).map_err(ecdsa_error)
        }
        // Linux: a signature algorithm that is not the key's is EKEYREJECTED
        // (public_key_verify_signature).
        _ => Err(rejected()),
    }
}

/// Bytes as `modinfo` prints a key id: upper-case hex pairs joined by colons.
/// By table rather than `write!`, which costs some 20 instructions a byte
/// through `core::fmt` (it runs on every verify, for [`Verified::key_id`]).
pub fn hex_colons(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i != 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// The key id of a signer: serial number or subjectKeyIdentifier.
pub fn key_id(id: &SignerId) -> String {
    match id {
        SignerId::IssuerAndSerial { serial, .. } => hex_colons(serial),
        SignerId::KeyIdentifier(kid) => hex_colons(kid),
    }
}

/// A signer id in words, for "unknown key" messages.
fn describe(id: &SignerId) -> String {
    match id {
        SignerId::IssuerAndSerial { serial, .. } => {
            alloc::format!("with serial {}", hex_colons(serial))
        }
        SignerId::KeyIdentifier(kid) => alloc::format!("with key id {}", hex_colons(kid)),
    }
}

/// What the signature says about itself, without checking it (for `modinfo` of
/// a module whose signer is not trusted here, as Linux's modinfo prints it).
#[derive(Debug, Clone)]
pub struct SignatureInfo {
    pub elf_len: usize,
    pub key_id: String,
    pub hash_algo: HashAlgo,
    pub kind: SignatureKind,
    pub signer_id: SignerId,
    pub signature: Vec<u8>,
}

/// Parses the trailer and the CMS message without a keyring.
pub fn inspect(image: &[u8]) -> Result<SignatureInfo, SigError> {
    let split = trailer::split(image)?;
    let signer = pkcs7::parse(split.pkcs7)?;
    Ok(SignatureInfo {
        elf_len: split.elf.len(),
        key_id: key_id(&signer.id),
        hash_algo: signer.digest,
        kind: signer.kind,
        signer_id: signer.id,
        signature: signer.signature,
    })
}
