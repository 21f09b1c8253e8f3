//! Replays the fuzz target's seed corpus (fuzz/corpus/verify) on stable: the same
//! calls as fuzz_targets/verify.rs, with the same two certificates. The seeds
//! signed by those keys must verify; the broken ones must fail without a panic.

use std::path::Path;

fn keyring() -> modsign::Keyring {
    let mut k = modsign::Keyring::new();
    k.add_der(include_bytes!("../fuzz/certs/rsa2048.der"))
        .unwrap();
    k.add_der(include_bytes!("../fuzz/certs/p256.der")).unwrap();
    k
}

#[test]
fn fuzz_corpus_replays_without_panics_and_good_seeds_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/verify");
    let keyring = keyring();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let _ = modsign::inspect(&data);
        let result = modsign::verify(&data, &keyring);
        let good = ["rsa2048-", "p256-"].iter().any(|p| name.starts_with(p));
        assert_eq!(result.is_ok(), good, "{name}: {result:?}");
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} seeds in {}", dir.display());
}
