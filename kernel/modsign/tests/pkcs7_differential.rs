//! Our CMS parser (`modsign::pkcs7::parse`, on our own DER reader) against
//! the reference it replaced (`modsign::pkcs7_cms::parse`, on RustCrypto's
//! `cms` crate): every input must get the same verdict from both, the same
//! `Signer` or the same error, where a `Malformed::Der` counts as one class
//! whatever its text (the texts are each parser's own).
//!
//! Inputs: the fuzz seeds (their PKCS#7 blobs and the whole files),
//! signatures `openssl cms -sign` makes as Linux's sign-file does (detached,
//! no certificates, no attributes; RSA-2048, P-256 and P-384 keys; SHA-256,
//! -384 and -512; by issuer and serial and, `-keyid`, by key identifier),
//! the same by Linux's sign-file when tests/get-sign-file.sh can have it,
//! the forms that must be refused (signed attributes, embedded content,
//! SHA-1) and one with the signer's certificate in the message; then, for
//! each, every truncation, every byte XORed with eight masks, every byte
//! set to each of the tag and length octets that matter, and seeded random
//! multi-byte edits. `openssl` missing skips the signed part (said so).

use std::path::{Path, PathBuf};
use std::process::Command;

use modsign::{Malformed, SigError};

/// Both parsers' verdicts, with the `Der` texts blanked.
fn verdicts(
    pkcs7: &[u8],
) -> (
    Result<modsign::pkcs7::Signer, SigError>,
    Result<modsign::pkcs7::Signer, SigError>,
) {
    let blank = |r: Result<modsign::pkcs7::Signer, SigError>| {
        r.map_err(|e| match e {
            SigError::Malformed(Malformed::Der(_)) => {
                SigError::Malformed(Malformed::Der(String::new()))
            }
            other => other,
        })
    };
    (
        blank(modsign::pkcs7::parse(pkcs7)),
        blank(modsign::pkcs7_cms::parse(pkcs7)),
    )
}

struct Tally {
    inputs: usize,
    accepted: usize,
}

impl Tally {
    fn check(&mut self, pkcs7: &[u8], origin: &str) {
        let (ours, reference) = verdicts(pkcs7);
        if ours != reference {
            panic!(
                "{origin}: verdicts differ on {} bytes {:02x?}\n ours: {ours:?}\n  cms: {reference:?}\n texts: {:?}\n        {:?}",
                pkcs7.len(),
                pkcs7,
                modsign::pkcs7::parse(pkcs7).err().map(|e| e.to_string()),
                modsign::pkcs7_cms::parse(pkcs7).err().map(|e| e.to_string()),
            );
        }
        self.inputs += 1;
        self.accepted += usize::from(ours.is_ok());
    }
}

/// xorshift64*: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Octets that are tags or lengths somewhere in a SignedData, and their edges.
const INTERESTING: [u8; 16] = [
    0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0xa0, 0xa1,
];

/// Every mutation of `base` the test makes, each checked, at the bytes
/// outside `keep` (see [`certificates`]).
fn mutate_and_check(
    tally: &mut Tally,
    base: &[u8],
    name: &str,
    rng: &mut Rng,
    keep: std::ops::Range<usize>,
) {
    tally.check(base, name);
    for cut in 0..base.len() {
        tally.check(&base[..cut], &format!("{name} cut at {cut}"));
    }
    let positions: Vec<usize> = (0..base.len()).filter(|i| !keep.contains(i)).collect();
    let mut m = base.to_vec();
    for &at in &positions {
        for mask in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80] {
            m[at] = base[at] ^ mask;
            tally.check(&m, &format!("{name} byte {at} ^ {mask:#04x}"));
        }
        for v in INTERESTING {
            m[at] = v;
            tally.check(&m, &format!("{name} byte {at} = {v:#04x}"));
        }
        m[at] = base[at];
    }
    // A length grown or shrunk by one with the rest of the message kept,
    // and one inserted or removed byte (lengths then disagree).
    for &at in &positions {
        for delta in [1u8, 0xff] {
            m[at] = base[at].wrapping_add(delta);
            tally.check(&m, &format!("{name} byte {at} + {delta}"));
        }
        m[at] = base[at];
        let mut removed = base.to_vec();
        removed.remove(at);
        tally.check(&removed, &format!("{name} byte {at} removed"));
        let mut inserted = base.to_vec();
        inserted.insert(at, 0x00);
        tally.check(&inserted, &format!("{name} 0x00 inserted at {at}"));
    }
    for round in 0..2000 {
        let mut m = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = positions[rng.below(positions.len())];
            m[at] = rng.next() as u8;
        }
        tally.check(&m, &format!("{name} random round {round}"));
    }
}

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run openssl");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const GENKEY: &str = "[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = myexts

[ req_distinguished_name ]
O = Differential Test
CN = Differential signing key
emailAddress = test@example.org

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
";

/// A key and self-signed certificate in one PEM, as Linux's certs/Makefile makes it.
fn make_key(dir: &Path, name: &str, newkey: &[&str]) -> PathBuf {
    let genkey = dir.join("x509.genkey");
    std::fs::write(&genkey, GENKEY).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch",
            ])
            .args(["-x509", "-config"])
            .arg(&genkey)
            .args(newkey)
            .args(["-outform", "PEM", "-out"])
            .arg(&pem)
            .arg("-keyout")
            .arg(&pem),
    );
    pem
}

/// `openssl cms -sign` over `content` with `opts`: the DER PKCS#7 blob.
fn cms_sign(dir: &Path, pem: &Path, content: &Path, opts: &[&str], tag: &str) -> Vec<u8> {
    let out = dir.join(format!("{tag}.p7s"));
    run_ok(
        Command::new("openssl")
            .args(["cms", "-sign", "-binary", "-outform", "DER"])
            .args(opts)
            .arg("-in")
            .arg(content)
            .arg("-signer")
            .arg(pem)
            .arg("-inkey")
            .arg(pem)
            .arg("-out")
            .arg(&out),
    );
    std::fs::read(out).unwrap()
}

/// The signatures the tests start from, named; made once per run.
fn signatures() -> &'static [(String, Vec<u8>)] {
    static MADE: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    MADE.get_or_init(make_signatures)
}

fn make_signatures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/verify");
    let mut seeds: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    for path in seeds {
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Ok(split) = modsign::trailer::split(&data) {
            out.push((format!("seed {name}"), split.pkcs7.to_vec()));
        }
        // The whole file as a PKCS#7 blob: garbage for both, briefly.
        out.push((
            format!("seed {name} (whole file)"),
            data[..data.len().min(256)].to_vec(),
        ));
    }
    if !openssl_available() {
        eprintln!("SKIPPED: openssl signatures (openssl not found, Debian package openssl)");
        return out;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pkcs7-differential");
    std::fs::create_dir_all(&dir).unwrap();
    let content = dir.join("module.ko");
    std::fs::write(&content, b"\x7fELF differential test module contents").unwrap();
    let keys = [
        (
            "rsa2048",
            make_key(&dir, "rsa2048", &["-newkey", "rsa:2048"]),
        ),
        (
            "p256",
            make_key(
                &dir,
                "p256",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            ),
        ),
        (
            "p384",
            make_key(
                &dir,
                "p384",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"],
            ),
        ),
    ];
    for (key, pem) in &keys {
        for hash in ["sha256", "sha384", "sha512"] {
            for keyid in [false, true] {
                // sign-file's flags: CMS_NOCERTS | CMS_PARTIAL | CMS_BINARY |
                // CMS_DETACHED | CMS_STREAM, CMS_NOATTR, and CMS_USE_KEYID for -k.
                let mut opts = vec!["-nocerts", "-noattr", "-md", hash];
                if keyid {
                    opts.push("-keyid");
                }
                let tag = format!("{key}-{hash}-{}", if keyid { "keyid" } else { "serial" });
                out.push((tag.clone(), cms_sign(&dir, pem, &content, &opts, &tag)));
            }
        }
    }
    // Linux's own sign-file, when get-sign-file.sh can have it.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/get-sign-file.sh");
    match Command::new(script).output() {
        Ok(o) if o.status.success() => {
            let tool = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            for (key, pem) in &keys {
                for keyid in [false, true] {
                    let tag = format!("sign-file {key}{}", if keyid { " -k" } else { "" });
                    let file = dir.join(format!("{key}-{keyid}.ko"));
                    std::fs::copy(&content, &file).unwrap();
                    let mut cmd = Command::new(&tool);
                    if keyid {
                        cmd.arg("-k");
                    }
                    run_ok(cmd.arg("sha256").arg(pem).arg(pem).arg(&file));
                    let signed = std::fs::read(&file).unwrap();
                    let split = modsign::trailer::split(&signed).unwrap();
                    out.push((tag, split.pkcs7.to_vec()));
                }
            }
        }
        _ => eprintln!("SKIPPED: Linux's sign-file (get-sign-file.sh could not have it)"),
    }
    let (_, rsa) = &keys[0];
    let forms: [(&str, &[&str]); 4] = [
        ("authattrs", &["-nocerts", "-md", "sha256"]),
        (
            "nodetach",
            &["-nocerts", "-noattr", "-nodetach", "-md", "sha256"],
        ),
        ("sha1", &["-nocerts", "-noattr", "-md", "sha1"]),
        ("with-certificate", &["-noattr", "-md", "sha256"]),
    ];
    for (tag, opts) in forms {
        out.push((tag.to_string(), cms_sign(&dir, rsa, &content, opts, tag)));
    }
    out
}

/// The certificates field (`[0] IMPLICIT`, after the encapContentInfo) of a
/// SignedData that has one, else an empty range. Its contents are where the
/// parsers differ by design: the `cms` crate read each certificate as X.509;
/// ours, which does not use them, checks each only as a DER element with a
/// Certificate's tag. So the mutations leave it alone.
fn certificates(pkcs7: &[u8]) -> std::ops::Range<usize> {
    const ECI: &[u8] = &[
        0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let Some(at) = pkcs7.windows(ECI.len()).position(|w| w == ECI) else {
        return 0..0;
    };
    let start = at + ECI.len();
    match pkcs7.get(start..start + 4) {
        Some([0xa0, 0x82, hi, lo]) => start..start + 4 + (usize::from(*hi) << 8 | usize::from(*lo)),
        _ => 0..0,
    }
}

#[test]
fn a_certificate_in_the_message_is_checked_for_form_only() {
    // The cms crate (and Linux's pkcs7_parser.c) refused a message whose
    // certificate is not X.509; ours never uses the message's certificates
    // (the signer is looked up among the trusted ones), so it checks only
    // their form: one DER element each, with a Certificate's tag.
    let Some((_, signed)) = signatures().iter().find(|(n, _)| n == "with-certificate") else {
        return;
    };
    let keep = certificates(signed);
    assert!(!keep.is_empty());
    let mut bad = signed.clone();
    bad[keep.start + 8] ^= 0x01; // inside the TBSCertificate
    let want = modsign::pkcs7::parse(signed).unwrap();
    assert_eq!(modsign::pkcs7::parse(&bad).unwrap(), want);
    assert!(modsign::pkcs7_cms::parse(&bad).is_err());
    bad[keep.start + 4] = 0x31; // not a Certificate's tag
    assert!(modsign::pkcs7::parse(&bad).is_err());
}

#[test]
fn our_parser_gives_the_cms_crates_verdict_on_signatures_and_their_mutations() {
    let bases = signatures();
    let mut tally = Tally {
        inputs: 0,
        accepted: 0,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, base) in bases {
        mutate_and_check(&mut tally, base, name, &mut rng, certificates(base));
    }
    // The openssl signatures in the forms Linux accepts parse.
    for (name, base) in bases {
        let good = !name.starts_with("seed ")
            && !["authattrs", "nodetach", "sha1"].contains(&name.as_str());
        if good {
            assert!(modsign::pkcs7::parse(base).is_ok(), "{name}");
        }
    }
    eprintln!(
        "{} base signatures, {} inputs compared, {} accepted by both",
        bases.len(),
        tally.inputs,
        tally.accepted
    );
    assert!(tally.inputs > 10_000);
}
