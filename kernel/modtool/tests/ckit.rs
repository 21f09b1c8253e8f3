//! The C module build steps as a module author runs them: `modtool genksyms`,
//! `modtool symvers` and `modtool modpost` on objects compiled by Debian's
//! cross gcc against `kabi.h`, and the result checked by the kernel's own
//! loader code (`modloader` parses and plans it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const FLAGS: &[&str] = &[
    "-O2",
    "-ffreestanding",
    "-fno-pic",
    "-mno-outline-atomics",
    "-mgeneral-regs-only",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-Wall",
    "-Wextra",
    "-Werror",
];

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../abi/include")
}

fn modtool(args: &[&str]) -> Output {
    Command::new(MODTOOL).args(args).output().unwrap()
}

/// genksyms + compile: `src` as `dir/NAME.c` into `dir/NAME.o`.
fn compile(dir: &Path, name: &str, src: &str) -> PathBuf {
    let cc = require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let pre = run_capture(
        Command::new(&cc)
            .args(["-E", "-D__GENKSYMS__"])
            .args(FLAGS)
            .arg("-I")
            .arg(include_dir())
            .arg(&c),
    );
    let pre_path = dir.join(format!("{name}.i"));
    std::fs::write(&pre_path, pre).unwrap();
    let ksyms = dir.join(format!("{name}.ksyms.h"));
    let out = modtool(&[
        "genksyms",
        "-o",
        ksyms.to_str().unwrap(),
        pre_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj = dir.join(format!("{name}.o"));
    run(Command::new(&cc)
        .arg("-c")
        .args(FLAGS)
        .arg("-I")
        .arg(include_dir())
        .arg("-include")
        .arg(&ksyms)
        .arg(&c)
        .arg("-o")
        .arg(&obj));
    obj
}

fn symvers(dir: &Path, objs: &[&Path]) -> PathBuf {
    let path = dir.join("Module.symvers");
    let mut args = vec!["symvers", "-o", path.to_str().unwrap()];
    args.extend(objs.iter().map(|p| p.to_str().unwrap()));
    let out = modtool(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn modpost(symvers: &Path, obj: &Path, ko: &Path) -> Output {
    modtool(&[
        "modpost",
        "--symvers",
        symvers.to_str().unwrap(),
        obj.to_str().unwrap(),
        "-o",
        ko.to_str().unwrap(),
    ])
}

const PROVIDER: &str = r#"#include <kabi.h>
MODULE_NAME("provider");
MODULE_LICENSE("GPL");
static int verbose;
module_param(verbose, int, 0444);
MODULE_PARM_DESC(verbose, "log more");
long provider_mul(long a, unsigned int b) { return a * b; }
EXPORT_SYMBOL_GPL(provider_mul);
static int init(void) { pr_info("verbose=%d %s\n", verbose, "x"); return 0; }
module_init(init);
"#;

const USER: &str = r#"#include <kabi.h>
MODULE_NAME("user");
MODULE_LICENSE("GPL");
MODULE_VERSION_OF(printk);
long provider_mul(long a, unsigned int b);
static int init(void) { return (int)provider_mul(6, 7) + (int)ktime_us(); }
module_init(init);
"#;

fn versions(object: &modloader::Object<'_>) -> Vec<(String, u64)> {
    let s = object
        .sections()
        .iter()
        .find(|s| s.name == "__versions")
        .expect("a __versions section");
    s.data
        .chunks_exact(64)
        .map(|c| {
            let name = &c[8..];
            let len = name.iter().position(|&b| b == 0).unwrap();
            (
                String::from_utf8_lossy(&name[..len]).into_owned(),
                u64::from_le_bytes(c[..8].try_into().unwrap()),
            )
        })
        .collect()
}

#[test]
fn modpost_output_is_a_module_the_loader_accepts() {
    let dir = workdir("ckit-modpost");
    let provider = compile(&dir, "provider", PROVIDER);
    let user = compile(&dir, "user", USER);
    let sv = symvers(&dir, &[&provider, &user]);
    let text = std::fs::read_to_string(&sv).unwrap();
    let crc = kabi::crc::crc32(b"provider_mul(a: i64, b: u32) -> i64");
    assert!(
        text.contains(&format!(
            "0x{crc:08x}\tprovider_mul\tprovider\tEXPORT_SYMBOL_GPL\t\n"
        )),
        "{text}"
    );
    assert!(text.starts_with(&format!(
        "0x{:08x}\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n",
        kabi::api::crc::printk
    )));

    let ko = dir.join("user.ko");
    let out = modpost(&sv, &user, &ko);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&ko).unwrap();
    let object = modloader::Object::parse(&bytes).expect("modloader parses modpost's output");
    modloader::Layout::plan(&object).expect("and plans it");
    assert_eq!(
        object.modinfo_get("abi"),
        Some(kabi::ABI_VERSION.to_string().as_str())
    );
    assert_eq!(object.modinfo_get("name"), Some("user"));
    let mut v = versions(&object);
    v.sort();
    assert_eq!(
        v,
        [
            ("ktime_us".to_string(), u64::from(kabi::api::crc::ktime_us)),
            ("printk".to_string(), u64::from(kabi::api::crc::printk)),
            ("provider_mul".to_string(), u64::from(crc)),
        ],
        "one entry per import; MODULE_VERSION_OF(printk) kept, not doubled"
    );

    let pko = dir.join("provider.ko");
    assert!(modpost(&sv, &provider, &pko).status.success());
    let pbytes = std::fs::read(&pko).unwrap();
    let p = modloader::Object::parse(&pbytes).unwrap();
    modloader::Layout::plan(&p).unwrap();
    let info: Vec<&str> = p.modinfo().collect();
    assert!(info.contains(&"parm=verbose:log more"), "{info:?}");
    assert!(info.contains(&"parmtype=verbose:int"), "{info:?}");
}

#[test]
fn modpost_refuses_a_symbol_nobody_exports() {
    let dir = workdir("ckit-undefined");
    let obj = compile(
        &dir,
        "hello_c",
        "#include <kabi.h>\nMODULE_LICENSE(\"GPL\");\nint foo(void);\nint bar(void) __attribute__((weak));\n\
         static int init(void) { return foo() + (bar ? bar() : 0); }\nmodule_init(init);\n",
    );
    let sv = symvers(&dir, &[]);
    let ko = dir.join("hello_c.ko");
    let out = modpost(&sv, &obj, &ko);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: modpost: \"foo\" [hello_c.ko] undefined!\n",
        "a weak import may stay missing"
    );
    assert!(!ko.exists(), "no output on error");
}

#[test]
fn modpost_refuses_gpl_only_symbols_to_other_licenses_and_reports_wrong_versions() {
    let dir = workdir("ckit-gpl");
    let provider = compile(&dir, "provider", PROVIDER);
    let sv = symvers(&dir, &[&provider]);
    let prop = compile(
        &dir,
        "prop",
        "#include <kabi.h>\nMODULE_LICENSE(\"Proprietary\");\nlong provider_mul(long a, unsigned int b);\n\
         static int init(void) { return (int)provider_mul(1, 2); }\nmodule_init(init);\n",
    );
    let out = modpost(&sv, &prop, &dir.join("prop.ko"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: modpost: GPL-incompatible module prop.ko uses GPL-only symbol 'provider_mul'\n"
    );

    let wrong = compile(
        &dir,
        "wrong",
        "#include <kabi.h>\nMODULE_LICENSE(\"GPL\");\nMODULE_VERSION_CRC(printk, KABI_CRC_printk ^ 1u);\n\
         static int init(void) { pr_info(\"hi\"); return 0; }\nmodule_init(init);\n",
    );
    let ko = dir.join("wrong.ko");
    let out = modpost(&sv, &wrong, &ko);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(&format!(
            "WARNING: modpost: wrong.ko: __versions has {:#010x} for \"printk\" but vmlinux exports it as {:#010x}",
            kabi::api::crc::printk ^ 1,
            kabi::api::crc::printk
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&ko).unwrap();
    let object = modloader::Object::parse(&bytes).unwrap();
    assert_eq!(
        versions(&object),
        [("printk".to_string(), u64::from(kabi::api::crc::printk ^ 1))],
        "the module's own entry is kept, once"
    );
}

#[test]
fn genksyms_refuses_an_export_it_cannot_version() {
    let out = Command::new(MODTOOL)
        .arg("genksyms")
        .arg(fixture_text(
            "int sum(int n, ...) { return n; }\nEXPORT_SYMBOL(sum);\n",
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot version sum: variadic functions cannot be versioned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fixture_text(text: &str) -> PathBuf {
    let dir = workdir("ckit-genksyms");
    let p = dir.join("src.i");
    std::fs::write(&p, text).unwrap();
    p
}
