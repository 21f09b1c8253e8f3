//! Module signatures, checked as Linux's `module_sig_check` checks them: on the
//! exact bytes read from the initrd or the disk, before any of the ELF is
//! parsed; the bytes that verified are the bytes loaded.
//!
//! The trusted certificates are built into the image (`make` writes them from
//! `SIGN_KEY` and `TRUSTED_CERTS`, `kernel/build.rs` embeds them) and parsed on
//! first use. Policy, as Linux's:
//! - a good signature from a trusted key: the module loads;
//! - a signature present but malformed, or not verifying (EBADMSG,
//!   EKEYREJECTED): refused, always;
//! - no signature, an unknown key or an algorithm we do not implement
//!   (ENODATA, ENOKEY, ENOPKG): refused with EKEYREJECTED while enforcing;
//!   otherwise the module loads and the kernel is tainted `E` with Linux's
//!   message.
//!
//! Enforcement is on when the image was built with `MODULE_SIG_FORCE=1`, when
//! booted with `module.sig_enforce=1`, or after `sig_enforce on`; it can be
//! turned on at run time, never off.

use super::ModError;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};
use modsign::{Keyring, SigError};

/// EKEYREJECTED (Linux errno 129): "Key was rejected by service".
const EKEYREJECTED: i32 = 129;
/// EBADMSG (74): "Bad message".
const EBADMSG: i32 = 74;

/// The certificates built into the image, read at build time
/// (`modsign::compact`, written by build.rs).
static BUILT_IN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trusted_keys.bin"));

/// `MODULE_SIG_FORCE=1` at build time: enforcement can never be off.
const FORCED: bool = cfg!(module_sig_force);

static ENFORCE: AtomicBool = AtomicBool::new(FORCED);
static KEYRING: crate::sync::Once<Keyring> = crate::sync::Once::new();

/// What the signature check says about an image.
pub struct Checked<'a> {
    /// The bytes to load: the ELF the signature covers (or, for an unsigned
    /// module loaded without enforcement, the whole image less any trailer).
    pub elf: &'a [u8],
    /// Who signed it, when the signature verified.
    pub signer: Option<modsign::Verified>,
    /// Why it did not verify, when it loads anyway (taint `E`).
    pub unverified: Option<SigError>,
}

/// What [`init`] chose, for boot's log line ("module signing: SHA-256
/// PATH, enforcement MODE"; boot writes it, without `core::fmt`, from the
/// `klog` room above this one).
pub struct Policy {
    pub sha256: &'static str,
    pub enforcement: &'static str,
}

/// Sets the policy from the command line and the SHA-256 path from the CPU.
pub fn init(bootargs: &str) -> Policy {
    if kcore::cmdline::get(bootargs, "module.sig_enforce") == Some("1") {
        ENFORCE.store(true, Ordering::Release);
    }
    if crate::arch::cpu::has_sha256_instructions() {
        // SAFETY: ID_AA64ISAR0_EL1.SHA2 says this CPU implements FEAT_SHA256; every CPU of a QEMU virt machine is the same model.
        unsafe { modsign::hash::declare_sha2_instructions() };
    }
    // The certificates are parsed on the first load, so a boot that loads no
    // module does not pay for it.
    Policy {
        sha256: modsign::hash::sha256_path(),
        enforcement: if FORCED {
            "forced (MODULE_SIG_FORCE)"
        } else if enforcing() {
            "on (module.sig_enforce=1)"
        } else {
            "off"
        },
    }
}

/// The built-in certificates, parsed on first use and logged as Linux logs
/// them ("Loaded X.509 cert '...'").
fn keyring() -> &'static Keyring {
    KEYRING.call_once(|| {
        log::info!("Loading compiled-in X.509 certificates");
        parse_built_in(true)
    })
}

/// The built-in certificates as a keyring; with `log`, each logged.
fn parse_built_in(log: bool) -> Keyring {
    let mut keyring = Keyring::new();
    for cert in modsign::compact::decode(BUILT_IN) {
        match cert {
            Ok(c) => {
                let c = keyring.push(c);
                if log {
                    log::info!("Loaded X.509 cert '{}'", c.signer);
                }
            }
            Err(e) => log::error!("Problem loading in-kernel X.509 certificate ({e})"),
        }
    }
    keyring
}

/// The trusted keyring the load path checks against, for the `sigbench`
/// self-test (which times `modsign::verify` with it); parsed here on first use.
#[cfg(feature = "selftest")]
pub fn trusted_keyring() -> &'static Keyring {
    keyring()
}

/// The built-in certificates parsed again, quietly, into a keyring of their
/// own: keys that have verified nothing yet (not made, no P-256 comb table),
/// so `sigbench` can time a key's first verification.
#[cfg(feature = "selftest")]
pub fn fresh_keyring() -> Keyring {
    parse_built_in(false)
}

pub fn enforcing() -> bool {
    ENFORCE.load(Ordering::Acquire)
}

/// `sig_enforce on`: from now on, only modules signed by a trusted key load.
pub fn enforce() {
    ENFORCE.store(true, Ordering::Release);
}

/// Checks `image`'s signature under the current policy; `file_stem` names the
/// module in messages (its ELF is not read yet).
pub fn check<'a>(file_stem: &str, image: &'a [u8]) -> Result<Checked<'a>, ModError> {
    match modsign::verify(image, keyring()) {
        Ok(v) => Ok(Checked {
            elf: &image[..v.elf_len],
            signer: Some(v),
            unverified: None,
        }),
        Err(e) if e.is_missing() && !enforcing() => Ok(Checked {
            elf: modsign::trailer::split(image).map_or(image, |s| s.elf),
            signer: None,
            unverified: Some(e),
        }),
        Err(e) if e.is_missing() => {
            log::error!("Loading of module {file_stem} is rejected: {e}");
            Err(ModError::new(
                EKEYREJECTED,
                format!("Loading of module {file_stem} is rejected: {e} (module.sig_enforce)"),
            ))
        }
        Err(e) => {
            let code = if e.errno() == EBADMSG {
                EBADMSG
            } else {
                EKEYREJECTED
            };
            log::error!("{file_stem}: module signature rejected: {e}");
            Err(ModError::new(
                code,
                format!("{file_stem}: module signature rejected: {e}"),
            ))
        }
    }
}

/// Linux's notice for a module that loads unverified, printed once a boot
/// (`pr_notice_once`), and the `E` taint.
pub fn taint_unsigned(name: &str) {
    if !crate::taint::add(crate::taint::Taint::UnsignedModule) {
        log::warn!(
            "{name}: module verification failed: signature and/or required key missing - tainting kernel"
        );
    }
}

/// `sig_key`, `signer`, `sig_hashalgo` lines for `modinfo` of a signed image.
pub fn describe(image: &[u8]) -> Option<String> {
    let info = modsign::inspect(image).ok()?;
    let signer = match modsign::verify(image, keyring()) {
        Ok(v) => v.signer,
        Err(SigError::UnknownKey { signer }) => format!("(unknown key {signer})"),
        Err(e) => format!("(does not verify: {e})"),
    };
    Some(format!(
        "sig_id:         PKCS#7\nsigner:         {signer}\nsig_key:        {}\nsig_hashalgo:   {}",
        info.key_id,
        info.hash_algo.name()
    ))
}
