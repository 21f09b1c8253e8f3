//! The digests a module signature may use (SHA-256/384/512), and which SHA-256
//! path this CPU takes.
//!
//! SHA-384 and SHA-512 are the `sha2` crate's. SHA-256 is hashed here around a
//! block function chosen at run time: on AArch64 the Armv8 SHA-256 instructions
//! (FEAT_SHA256, `sha2-ce` as Linux names its driver) once the kernel has
//! declared them, else `sha2::block_api::compress256`. The declaration is needed
//! because the `sha2` crate learns CPU features through `cpufeatures`, which on
//! `aarch64-unknown-none` has no OS to ask and always answers "no" (cpufeatures
//! 0.3 `aarch64.rs`: runtime detection only on Linux, Android and Apple), so a
//! kernel build would always take the generic code. The kernel can read
//! `ID_AA64ISAR0_EL1` itself and says so through [`declare_sha2_instructions`].

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use sha2::Digest;

/// A digest algorithm of a module signature, named as Linux's `sig_hashalgo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgo {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgo {
    /// Linux's name (`hash_algo_name[]`), as `modinfo` prints it.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha384 => "sha384",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Parses a name as Linux's `sign-file` takes it (`sha256`, ...).
    pub fn from_name(name: &str) -> Option<HashAlgo> {
        match name {
            "sha256" => Some(HashAlgo::Sha256),
            "sha384" => Some(HashAlgo::Sha384),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// The algorithm of a CMS `digestAlgorithm` OID (its contents octets), if
    /// it is one we take.
    pub fn from_oid_bytes(oid: &[u8]) -> Option<HashAlgo> {
        [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512]
            .into_iter()
            .find(|h| h.oid_bytes() == oid)
    }

    /// The contents octets of the OID that names this algorithm in CMS.
    pub fn oid_bytes(self) -> &'static [u8] {
        use crate::pkcs7::oid;
        match self {
            HashAlgo::Sha256 => oid::SHA256,
            HashAlgo::Sha384 => oid::SHA384,
            HashAlgo::Sha512 => oid::SHA512,
        }
    }

    /// The OID that names this algorithm in CMS.
    #[cfg(feature = "x509")]
    pub fn oid(self) -> der::oid::ObjectIdentifier {
        use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
        match self {
            HashAlgo::Sha256 => ID_SHA_256,
            HashAlgo::Sha384 => ID_SHA_384,
            HashAlgo::Sha512 => ID_SHA_512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgo::Sha256 => sha256(data).to_vec(),
            HashAlgo::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlgo::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// Set once the kernel has declared the SHA-256 instructions present.
static SHA2_CE: AtomicBool = AtomicBool::new(false);

/// Tells this crate the CPU implements the Armv8 SHA-256 instructions, so SHA-256
/// uses them from now on.
///
/// # Safety
///
/// The caller must know every CPU that may run this code implements FEAT_SHA256:
/// `ID_AA64ISAR0_EL1.SHA2` (bits [15:12]) is non-zero (Arm ARM D19.2.61). Executing
/// the instructions where they are absent is undefined behaviour for Rust.
#[cfg(target_arch = "aarch64")]
pub unsafe fn declare_sha2_instructions() {
    SHA2_CE.store(true, Ordering::Relaxed);
}

/// Which SHA-256 implementation hashing takes here: `"sha2-ce"` (Armv8 SHA-256
/// instructions), `"sha-ni"` (x86 SHA extensions, on a host) or `"generic"`.
pub fn sha256_path() -> &'static str {
    if SHA2_CE.load(Ordering::Relaxed) {
        return "sha2-ce";
    }
    host_sha256_path()
}

#[cfg(target_arch = "x86_64")]
fn host_sha256_path() -> &'static str {
    cpufeatures::new!(shani, "sha", "sse4.1");
    if shani::get() {
        "sha-ni"
    } else {
        "generic"
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
fn host_sha256_path() -> &'static str {
    cpufeatures::new!(sha2_hwcap, "sha2");
    if sha2_hwcap::get() {
        "sha2-ce"
    } else {
        "generic"
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_os = "linux")
)))]
fn host_sha256_path() -> &'static str {
    "generic"
}

/// SHA-256 of `data` through the path [`sha256_path`] names.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    #[cfg(target_arch = "aarch64")]
    if SHA2_CE.load(Ordering::Relaxed) {
        return sha256_with(data, |state, blocks| {
            // SAFETY: SHA2_CE is only set by `declare_sha2_instructions`, whose caller guarantees the CPU implements FEAT_SHA256.
            unsafe { crate::sha256_ce::compress(state, blocks) }
        });
    }
    sha256_with(data, sha2::block_api::compress256)
}

/// SHA-256 of `data` by the `sha2` crate's portable block function whatever
/// the CPU: the reference the kernel's `memtest` checks [`sha256`] against.
pub fn sha256_generic(data: &[u8]) -> [u8; 32] {
    sha256_with(data, sha2::block_api::compress256)
}

/// FIPS 180-4 SHA-256 initial hash value (section 5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// SHA-256 around a block function: whole blocks straight from `data`, then the
/// FIPS 180-4 section 5.1.1 padding (0x80, zeros, 64-bit big-endian bit length).
pub(crate) fn sha256_with(data: &[u8], compress: impl Fn(&mut [u32; 8], &[[u8; 64]])) -> [u8; 32] {
    let mut state = SHA256_H0;
    let (blocks, rest) = data.as_chunks::<64>();
    compress(&mut state, blocks);

    let mut tail = [[0u8; 64]; 2];
    let flat = tail.as_flattened_mut();
    flat[..rest.len()].copy_from_slice(rest);
    flat[rest.len()] = 0x80;
    let tail_blocks = if rest.len() < 56 { 1 } else { 2 };
    let bit_len = (data.len() as u64).wrapping_mul(8);
    flat[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bit_len.to_be_bytes());
    compress(&mut state, &tail[..tail_blocks]);

    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_padding_matches_the_sha2_crate_at_every_tail_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let ours = sha256_with(&data[..len], sha2::block_api::compress256);
            assert_eq!(
                ours[..],
                sha2::Sha256::digest(&data[..len])[..],
                "length {len}"
            );
        }
    }
}
