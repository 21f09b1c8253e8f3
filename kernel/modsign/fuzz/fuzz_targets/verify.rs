//! Fuzz target over the signature check as the kernel will run it: trailer split,
//! CMS parse, signer lookup in a keyring of two real certificates (RSA-2048 and
//! P-256, `certs/`), hashing and verification. Any panic, hang or runaway
//! allocation is a bug; errors are the expected outcome for most inputs.
#![no_main]

use std::sync::OnceLock;

fn keyring() -> &'static modsign::Keyring {
    static KEYRING: OnceLock<modsign::Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| {
        let mut k = modsign::Keyring::new();
        for der in [
            &include_bytes!("../certs/rsa2048.der")[..],
            &include_bytes!("../certs/p256.der")[..],
        ] {
            if let Err(e) = k.add_der(der) {
                panic!("fuzz keyring: {e}");
            }
        }
        k
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = modsign::inspect(data);
    let _ = modsign::verify(data, keyring());
});
