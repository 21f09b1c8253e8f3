//! The trailer checks Linux's `mod_check_sig` makes, each with its own error,
//! on hand-made trailers (no cryptography involved).

use modsign::trailer::{module_signature, split, MODULE_SIG_STRING};
use modsign::{Keyring, Malformed, SigError, Unsupported};

fn signed(elf: &[u8], pkcs7: &[u8], info: [u8; 12]) -> Vec<u8> {
    let mut out = elf.to_vec();
    out.extend_from_slice(pkcs7);
    out.extend_from_slice(&info);
    out.extend_from_slice(MODULE_SIG_STRING);
    out
}

#[test]
fn a_module_without_the_marker_is_unsigned() {
    let err = modsign::verify(b"\x7fELF plain module", &Keyring::new()).unwrap_err();
    assert_eq!(err, SigError::Unsigned);
    assert_eq!(err.errno(), 61);
    assert!(err.is_missing());
    assert_eq!(err.to_string(), "no module signature appended");
}

#[test]
fn split_returns_the_elf_and_the_pkcs7_blob() {
    let image = signed(b"ELF!", b"PKCS7", module_signature(5));
    let split = split(&image).unwrap();
    assert_eq!(split.elf, b"ELF!");
    assert_eq!(split.pkcs7, b"PKCS7");
}

#[test]
fn a_marker_with_less_than_twelve_bytes_before_it_is_a_truncated_trailer() {
    for len in 0..12 {
        let mut image = vec![0u8; len];
        image.extend_from_slice(MODULE_SIG_STRING);
        let err = split(&image).unwrap_err();
        assert_eq!(
            err,
            SigError::Malformed(Malformed::TrailerTruncated { len })
        );
        assert_eq!(err.errno(), 74);
        assert!(!err.is_missing());
    }
    let mut image = vec![0u8; 3];
    image.extend_from_slice(MODULE_SIG_STRING);
    assert_eq!(
        split(&image).unwrap_err().to_string(),
        "Invalid module signature: trailer truncated: 3 bytes before the marker, struct module_signature needs 12 (Bad message)"
    );
}

#[test]
fn a_marker_cut_short_is_unsigned() {
    let mut image = signed(b"ELF!", b"PKCS7", module_signature(5));
    image.pop();
    assert_eq!(split(&image).unwrap_err(), SigError::Unsigned);
}

#[test]
fn sig_len_leaving_no_elf_is_refused_with_checked_arithmetic() {
    for sig_len in [9u32, 10, 1000, u32::MAX] {
        let image = signed(b"ELF!", b"PKCS7", module_signature(sig_len));
        assert_eq!(
            split(&image).unwrap_err(),
            SigError::Malformed(Malformed::SigLenTooLarge {
                sig_len,
                available: 9
            }),
            "sig_len {sig_len}"
        );
    }
    // Linux refuses `sig_len >= file_len - 12` too: one byte of ELF at least.
    let image = signed(b"", b"PKCS7", module_signature(5));
    let err = split(&image).unwrap_err();
    assert_eq!(err.errno(), 74);
    assert_eq!(
        err.to_string(),
        "Invalid module signature: sig_len 5 leaves no module in the 5 bytes before the signature info (Bad message)"
    );
    // The largest sig_len that leaves one byte is fine.
    let image = signed(b"E", b"PKCS7", module_signature(5));
    assert_eq!(split(&image).unwrap().elf, b"E");
}

#[test]
fn every_reserved_field_must_be_zero() {
    let names = [
        (0, "algo"),
        (1, "hash"),
        (3, "signer_len"),
        (4, "key_id_len"),
        (5, "__pad[0]"),
        (6, "__pad[1]"),
        (7, "__pad[2]"),
    ];
    for (at, field) in names {
        let mut info = module_signature(5);
        info[at] = 0x5a;
        let err = split(&signed(b"ELF!", b"PKCS7", info)).unwrap_err();
        assert_eq!(
            err,
            SigError::Malformed(Malformed::ReservedNonZero { field, value: 0x5a })
        );
        assert_eq!(err.errno(), 74);
    }
    let mut info = module_signature(5);
    info[0] = 1;
    assert_eq!(
        split(&signed(b"ELF!", b"PKCS7", info)).unwrap_err().to_string(),
        "Invalid module signature: PKCS#7 signature info has unexpected non-zero params (algo = 0x01) (Bad message)"
    );
}

#[test]
fn an_id_type_other_than_pkcs7_is_an_unsupported_algorithm() {
    for id_type in [0u8, 1, 3, 0xff] {
        let mut info = module_signature(5);
        info[2] = id_type;
        let err = split(&signed(b"ELF!", b"PKCS7", info)).unwrap_err();
        assert_eq!(
            err,
            SigError::UnsupportedAlgorithm(Unsupported::IdType(id_type))
        );
        assert_eq!(err.errno(), 65);
        assert!(err.is_missing());
    }
    let mut info = module_signature(5);
    info[2] = 1;
    assert_eq!(
        split(&signed(b"ELF!", b"PKCS7", info))
            .unwrap_err()
            .to_string(),
        "not signed with expected PKCS#7 message (id_type 1, expected 2) (Package not installed)"
    );
}

#[test]
fn a_pkcs7_blob_that_is_not_der_is_a_bad_message() {
    let image = signed(b"ELF!", b"PKCS7", module_signature(5));
    let err = modsign::verify(&image, &Keyring::new()).unwrap_err();
    assert!(
        matches!(err, SigError::Malformed(Malformed::Der(_))),
        "{err:?}"
    );
    assert_eq!(err.errno(), 74);
}

#[test]
fn arbitrary_tails_never_panic() {
    // Every short image ending in the marker, with every sig_len byte pattern.
    for elf_len in 0..4usize {
        for sig_len in 0..24u32 {
            let pkcs7 = vec![0x30u8; 8];
            let image = signed(&vec![0x7f; elf_len], &pkcs7, module_signature(sig_len));
            let _ = modsign::verify(&image, &Keyring::new());
        }
    }
}
