//! `modtool sign` and `modtool verify`: Linux-format module signatures on the host.
//!
//! `sign` makes what Linux's `scripts/sign-file` makes (`CMS_sign` with
//! NOCERTS|BINARY|DETACHED and `CMS_add1_signer` with NOATTR): a DER ContentInfo
//! holding a SignedData with the digest algorithm, detached `id-data` content, no
//! certificates, and one SignerInfo without signed attributes naming its signer
//! by issuer and serial number (or, with `-k`, by subjectKeyIdentifier), then
//! `struct module_signature` and the marker. `verify` checks one with `modsign`,
//! the code the kernel runs.

use std::time::Instant;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignatureValue, SignedData,
    SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, RSA_ENCRYPTION,
};
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode};
use modsign::{HashAlgo, Keyring, PublicKey, TrustedCert};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use crate::link::Failure;

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Error(msg.into())
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| fail(format!("{path}: {e}")))
}

/// The PEM blocks of a file with the given label, decoded.
fn pem_blocks(path: &str, text: &str, label: &str) -> Result<Vec<Vec<u8>>, Failure> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start..];
        let Some(stop) = after.find(&end) else {
            return Err(fail(format!("{path}: unterminated PEM block {label}")));
        };
        let block = &after[..stop + end.len()];
        let (_, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|e| fail(format!("{path}: bad PEM block {label}: {e}")))?;
        out.push(der);
        rest = &after[stop + end.len()..];
    }
    Ok(out)
}

/// A certificate file: PEM (first CERTIFICATE block) or DER, as sign-file takes.
pub fn read_cert(path: &str) -> Result<Vec<u8>, Failure> {
    let bytes = read(path)?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if text.contains("-----BEGIN") {
            return pem_blocks(path, text, "CERTIFICATE")?
                .into_iter()
                .next()
                .ok_or_else(|| fail(format!("{path}: no CERTIFICATE in the PEM file")));
        }
    }
    Ok(bytes)
}

/// A private key able to sign.
enum SigningKey {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

fn read_key(path: &str) -> Result<SigningKey, Failure> {
    use p256::pkcs8::DecodePrivateKey;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let bytes = read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| fail(format!("{path}: not a PEM file")))?;
    if let Some(der) = pem_blocks(path, text, "PRIVATE KEY")?.into_iter().next() {
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
            return Ok(SigningKey::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(&der) {
            return Ok(SigningKey::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(&der) {
            return Ok(SigningKey::P384(k));
        }
        return Err(fail(format!(
            "{path}: private key is not RSA, P-256 or P-384 (PKCS#8)"
        )));
    }
    if let Some(der) = pem_blocks(path, text, "RSA PRIVATE KEY")?
        .into_iter()
        .next()
    {
        let k = rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| fail(format!("{path}: {e}")))?;
        return Ok(SigningKey::Rsa(Box::new(k)));
    }
    if text.contains("ENCRYPTED PRIVATE KEY") {
        return Err(fail(format!(
            "{path}: encrypted private keys are not supported"
        )));
    }
    Err(fail(format!(
        "{path}: no PRIVATE KEY or RSA PRIVATE KEY in the PEM file"
    )))
}

impl SigningKey {
    fn matches(&self, public: &PublicKey) -> bool {
        match (self, public) {
            (SigningKey::Rsa(k), PublicKey::Rsa(p)) => {
                use rsa::traits::PublicKeyParts;
                *k.n_bytes() == *p.modulus() && *k.e_bytes() == *p.exponent()
            }
            (SigningKey::P256(k), PublicKey::P256(p)) => {
                modsign::p256_verify::P256Key::from_sec1(&k.verifying_key().to_sec1_bytes())
                    .as_ref()
                    == Ok(p)
            }
            (SigningKey::P384(k), PublicKey::P384(p)) => {
                modsign::p384_verify::P384Key::from_sec1(&k.verifying_key().to_sec1_bytes())
                    .as_ref()
                    == Ok(p)
            }
            _ => false,
        }
    }

    /// (signatureAlgorithm, signature) over a precomputed digest, as OpenSSL's
    /// CMS writes them: rsaEncryption with NULL parameters, ecdsa-with-SHAn with none.
    fn sign(
        &self,
        hash: HashAlgo,
        digest: &[u8],
    ) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), Failure> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let ecdsa_oid = match hash {
            HashAlgo::Sha256 => ECDSA_WITH_SHA_256,
            HashAlgo::Sha384 => ECDSA_WITH_SHA_384,
            HashAlgo::Sha512 => ECDSA_WITH_SHA_512,
        };
        let ecdsa_alg = AlgorithmIdentifierOwned {
            oid: ecdsa_oid,
            parameters: None,
        };
        let failed = |e: &dyn std::fmt::Display| fail(format!("signing failed: {e}"));
        match self {
            SigningKey::Rsa(k) => {
                let scheme = match hash {
                    HashAlgo::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HashAlgo::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HashAlgo::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                let sig = k.sign(scheme, digest).map_err(|e| failed(&e))?;
                let alg = AlgorithmIdentifierOwned {
                    oid: RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                };
                Ok((alg, sig))
            }
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(digest).map_err(|e| failed(&e))?;
                Ok((ecdsa_alg, sig.to_der().as_bytes().to_vec()))
            }
            SigningKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(digest).map_err(|e| failed(&e))?;
                Ok((ecdsa_alg, sig.to_der().as_bytes().to_vec()))
            }
        }
    }
}

/// The DER CMS blob Linux's sign-file would make for `elf`.
pub fn pkcs7_signature(
    elf: &[u8],
    hash: HashAlgo,
    key_path: &str,
    cert_der: &[u8],
    by_key_id: bool,
) -> Result<Vec<u8>, Failure> {
    let key = read_key(key_path)?;
    let der_err = |e: der::Error| fail(format!("building the PKCS#7 message: {e}"));
    let cert =
        Certificate::from_der(cert_der).map_err(|e| fail(format!("X.509 certificate: {e}")))?;
    let trusted = TrustedCert::from_der(cert_der).map_err(|e| fail(e.to_string()))?;
    if !key.matches(trusted.key()) {
        return Err(fail(format!(
            "{key_path}: private key does not match the certificate of '{}'",
            trusted.signer
        )));
    }
    let tbs = cert.tbs_certificate();
    let (version, sid) = if by_key_id {
        let Some((_, skid)) = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(der_err)?
        else {
            return Err(fail("-k: the certificate has no subjectKeyIdentifier"));
        };
        (CmsVersion::V3, SignerIdentifier::SubjectKeyIdentifier(skid))
    } else {
        let ias = IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        };
        (CmsVersion::V1, SignerIdentifier::IssuerAndSerialNumber(ias))
    };
    let digest_alg = AlgorithmIdentifierOwned {
        oid: hash.oid(),
        parameters: None,
    };
    let digest = hash.digest(elf);
    let (signature_algorithm, signature) = key.sign(hash, &digest)?;
    let signer = SignerInfo {
        version,
        sid,
        digest_alg: digest_alg.clone(),
        signed_attrs: None,
        signature_algorithm,
        signature: SignatureValue::new(signature).map_err(der_err)?,
        unsigned_attrs: None,
    };
    let mut digests = SetOfVec::new();
    digests.insert(digest_alg).map_err(der_err)?;
    let mut signers = SetOfVec::new();
    signers.insert(signer).map_err(der_err)?;
    let signed = SignedData {
        version,
        digest_algorithms: DigestAlgorithmIdentifiers::from(digests),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(signers),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed).map_err(der_err)?,
    };
    info.to_der().map_err(der_err)
}

/// `ELF ++ pkcs7 ++ module_signature ++ marker`.
pub fn append_signature(elf: &[u8], pkcs7: &[u8]) -> Result<Vec<u8>, Failure> {
    let sig_len = u32::try_from(pkcs7.len()).map_err(|_| fail("signature larger than 4 GiB"))?;
    let mut out = Vec::with_capacity(elf.len() + pkcs7.len() + 40);
    out.extend_from_slice(elf);
    out.extend_from_slice(pkcs7);
    out.extend_from_slice(&modsign::trailer::module_signature(sig_len));
    out.extend_from_slice(modsign::trailer::MODULE_SIG_STRING);
    Ok(out)
}

/// `modtool sign [-k] HASH KEY CERT FILE.ko [OUT]`.
pub fn sign_command(args: &[String]) -> Result<(), Failure> {
    let (by_key_id, rest) = match args.first().map(String::as_str) {
        Some("-k") => (true, &args[1..]),
        _ => (false, args),
    };
    let (hash, key, cert, file, out) = match rest {
        [h, k, c, f] => (h, k, c, f, f),
        [h, k, c, f, o] => (h, k, c, f, o),
        _ => {
            return Err(Failure::Usage(
                "sign needs HASH KEY CERT FILE.ko [OUT]".into(),
            ))
        }
    };
    let Some(hash) = HashAlgo::from_name(hash) else {
        return Err(fail(format!(
            "{hash}: unsupported hash algorithm (sha256, sha384, sha512)"
        )));
    };
    let elf = read(file)?;
    if elf.ends_with(modsign::trailer::MODULE_SIG_STRING) {
        return Err(fail(format!(
            "{file}: already signed (strip the signature first)"
        )));
    }
    let cert_der = read_cert(cert)?;
    let pkcs7 = pkcs7_signature(&elf, hash, key, &cert_der, by_key_id)?;
    let signed = append_signature(&elf, &pkcs7)?;
    std::fs::write(out, signed).map_err(|e| fail(format!("{out}: {e}")))
}

/// `modtool verify FILE.ko CERT... [--bench N]`.
pub fn verify_command(args: &[String]) -> Result<(), Failure> {
    let mut iterations = 0u32;
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--bench" {
            let n = it.next().and_then(|n| n.parse().ok());
            iterations = n.ok_or_else(|| Failure::Usage("--bench needs a count".into()))?;
        } else {
            paths.push(a.as_str());
        }
    }
    let [file, certs @ ..] = paths.as_slice() else {
        return Err(Failure::Usage("verify needs FILE.ko CERT...".into()));
    };
    if certs.is_empty() {
        return Err(Failure::Usage("verify needs FILE.ko CERT...".into()));
    }
    let image = read(file)?;
    let mut keyring = Keyring::new();
    for c in certs {
        let der = read_cert(c)?;
        keyring
            .add_der(&der)
            .map_err(|e| fail(format!("{c}: {e}")))?;
    }
    let v = modsign::verify(&image, &keyring).map_err(|e| {
        fail(format!(
            "{file}: {e} (-{} {})",
            e.errno(),
            errno_name(e.errno())
        ))
    })?;
    println!(
        "{file}: signature ok: signer '{}', key {}, {} ({} bytes of module)",
        v.signer,
        v.key_id,
        v.hash_algo.name(),
        v.elf_len
    );
    if iterations > 0 {
        let key = keyring.find(
            &modsign::inspect(&image)
                .map_err(|e| fail(e.to_string()))?
                .signer_id,
        );
        let key_name = key.map_or("?".into(), |k| k.key().name());
        // Best of five batches: the machine is shared, the minimum is the cost.
        let best = |f: &dyn Fn() -> Result<(), Failure>| -> Result<f64, Failure> {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                for _ in 0..iterations {
                    f()?;
                }
                best = best.min(start.elapsed().as_secs_f64() / f64::from(iterations));
            }
            Ok(best * 1e6)
        };
        let per = best(&|| {
            modsign::verify(&image, &keyring).map_err(|e| fail(e.to_string()))?;
            Ok(())
        })?;
        let hash_per = best(&|| {
            std::hint::black_box(v.hash_algo.digest(&image[..v.elf_len]));
            Ok(())
        })?;
        println!(
            "bench: {key_name}/{}: verify {per:.1} us per call ({} bytes, of which hash {hash_per:.1} us via {}), best of 5 x {iterations}",
            v.hash_algo.name(),
            v.elf_len,
            if v.hash_algo == HashAlgo::Sha256 { modsign::hash::sha256_path() } else { "sha2 crate" },
        );
    }
    Ok(())
}

/// Linux's name for the errnos modsign returns.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        modsign::error::ENODATA => "ENODATA",
        modsign::error::ENOKEY => "ENOKEY",
        modsign::error::ENOPKG => "ENOPKG",
        modsign::error::EBADMSG => "EBADMSG",
        modsign::error::EKEYREJECTED => "EKEYREJECTED",
        _ => "?",
    }
}

/// The lines `modinfo` prints for a signed module (empty when unsigned).
pub fn info_lines(image: &[u8]) -> Vec<(String, String)> {
    match modsign::inspect(image) {
        Ok(info) => {
            let signer = match &info.signer_id {
                modsign::SignerId::IssuerAndSerial { issuer, .. } => {
                    x509_cert::name::Name::from_der(issuer)
                        .ok()
                        .and_then(|name| name.common_name().ok().flatten().map(String::from))
                        .unwrap_or_default()
                }
                modsign::SignerId::KeyIdentifier(_) => String::new(),
            };
            vec![
                ("sig_id".into(), "PKCS#7".into()),
                ("signer".into(), signer),
                ("sig_key".into(), info.key_id),
                ("sig_hashalgo".into(), info.hash_algo.name().into()),
            ]
        }
        Err(modsign::SigError::Unsigned) => Vec::new(),
        Err(e) => vec![("signature".into(), e.to_string())],
    }
}
