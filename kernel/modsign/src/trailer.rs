//! The trailer Linux's `scripts/sign-file` appends to a module, split off as
//! Linux's `module_sig_check` and `mod_check_sig` (kernel/module/signing.c,
//! kernel/module_signature.c) do:
//!
//! ```text
//! [ELF][PKCS#7 SignedData, DER][struct module_signature, 12 B]["~Module signature appended~\n", 28 B]
//! ```
//!
//! `struct module_signature` (include/linux/module_signature.h) is `u8 algo, hash,
//! id_type, signer_len, key_id_len; u8 __pad[3]; __be32 sig_len`. For PKCS#7 only
//! `id_type` (2) and `sig_len` are used and every other byte must be zero. All
//! lengths come from the file, so every subtraction here is checked.

use crate::error::{Malformed, SigError};

/// The marker at the very end of a signed module (`MODULE_SIG_STRING`).
pub const MODULE_SIG_STRING: &[u8; 28] = b"~Module signature appended~\n";

/// Size of `struct module_signature`.
pub const MODULE_SIGNATURE_LEN: usize = 12;

/// `PKEY_ID_PKCS7`, the only `id_type` Linux has ever produced for modules.
pub const PKEY_ID_PKCS7: u8 = 2;

/// A module split at its signature, before the signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct SplitModule<'a> {
    /// The bytes the signature covers, and the only bytes to load.
    pub elf: &'a [u8],
    /// The CMS SignedData blob (`sig_len` bytes).
    pub pkcs7: &'a [u8],
}

/// Splits `image` into the signed ELF and its PKCS#7 blob, with Linux's checks
/// and errors: no marker is [`SigError::Unsigned`] (ENODATA), an `id_type` other
/// than PKCS#7 is [`SigError::UnsupportedAlgorithm`] (ENOPKG), and a short
/// trailer, an oversized `sig_len` or a non-zero reserved field is
/// [`SigError::Malformed`] (EBADMSG).
pub fn split(image: &[u8]) -> Result<SplitModule<'_>, SigError> {
    let Some(body) = image.strip_suffix(MODULE_SIG_STRING.as_slice()) else {
        return Err(SigError::Unsigned);
    };
    let Some(info_at) = body.len().checked_sub(MODULE_SIGNATURE_LEN) else {
        return Err(SigError::Malformed(Malformed::TrailerTruncated {
            len: body.len(),
        }));
    };
    let (rest, info) = body.split_at(info_at);
    let field = |name: &'static str, at: usize| (name, info[at]);
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]);
    // Linux: `sig_len >= file_len - sizeof(*ms)` is EBADMSG, so at least one
    // byte of ELF must remain before the signature.
    let elf_len = usize::try_from(sig_len)
        .ok()
        .and_then(|sig| rest.len().checked_sub(sig))
        .filter(|&elf_len| elf_len > 0);
    let Some(elf_len) = elf_len else {
        return Err(SigError::Malformed(Malformed::SigLenTooLarge {
            sig_len,
            available: rest.len(),
        }));
    };
    if info[2] != PKEY_ID_PKCS7 {
        return Err(SigError::UnsupportedAlgorithm(
            crate::error::Unsupported::IdType(info[2]),
        ));
    }
    for (name, value) in [
        field("algo", 0),
        field("hash", 1),
        field("signer_len", 3),
        field("key_id_len", 4),
        field("__pad[0]", 5),
        field("__pad[1]", 6),
        field("__pad[2]", 7),
    ] {
        if value != 0 {
            return Err(SigError::Malformed(Malformed::ReservedNonZero {
                field: name,
                value,
            }));
        }
    }
    let (elf, pkcs7) = rest.split_at(elf_len);
    Ok(SplitModule { elf, pkcs7 })
}

/// The 12-byte `struct module_signature` for a PKCS#7 blob of `sig_len` bytes.
pub fn module_signature(sig_len: u32) -> [u8; MODULE_SIGNATURE_LEN] {
    let mut info = [0u8; MODULE_SIGNATURE_LEN];
    info[2] = PKEY_ID_PKCS7;
    info[8..].copy_from_slice(&sig_len.to_be_bytes());
    info
}
