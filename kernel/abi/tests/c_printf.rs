//! The C modules' printf formatter (`include/kabi_printf.h`, which `kabi.h`'s
//! `printk`/`pr_info` use) compiled with the host's C compiler and run: each
//! case is a `kabi_snprintf` call whose output and return value must be what
//! Linux's `snprintf` gives. Skipped (with a note) when there is no host `cc`.

use std::path::PathBuf;
use std::process::Command;

/// `(buffer size, arguments after the size, expected text, expected return)`.
const CASES: &[(usize, &str, &str, i32)] = &[
    (64, r#""plain""#, "plain", 5),
    (
        64,
        r#""read %zu bytes at %llx: %s", (size_t)512, 0x1000ULL, "vda""#,
        "read 512 bytes at 1000: vda",
        27,
    ),
    (
        64,
        r#""%d %i %u", -42, 7, 4294967295u"#,
        "-42 7 4294967295",
        16,
    ),
    (
        64,
        r#""%lld", (long long)INT64_MIN"#,
        "-9223372036854775808",
        20,
    ),
    (
        64,
        r#""%lld", (long long)INT64_MAX"#,
        "9223372036854775807",
        19,
    ),
    (
        64,
        r#""%llu %lx", (unsigned long long)UINT64_MAX, (unsigned long)UINT64_MAX"#,
        "18446744073709551615 ffffffffffffffff",
        37,
    ),
    (64, r#""%d", INT32_MIN"#, "-2147483648", 11),
    (64, r#""%ld", -1L"#, "-1", 2),
    (64, r#""%zd", (long)-5"#, "-5", 2),
    (64, r#""%x %X %#", 0xbeefu, 0xbeefu"#, "beef BEEF %#", 12),
    (64, r#""[%5d]", 42"#, "[   42]", 7),
    (64, r#""[%-5d]", 42"#, "[42   ]", 7),
    (64, r#""[%05d]", -42"#, "[-0042]", 7),
    (64, r#""[%-05d]", 42"#, "[42   ]", 7),
    (64, r#""[%08x]", 0xabcu"#, "[00000abc]", 10),
    (64, r#""[%*d]", 4, 7"#, "[   7]", 6),
    (64, r#""[%-*d]", 4, 7"#, "[7   ]", 6),
    (64, r#""[%2d]", 12345"#, "[12345]", 7),
    (64, r#""[%c%c]", 'o', 'k'"#, "[ok]", 4),
    (64, r#""[%3c]", 'x'"#, "[  x]", 5),
    (64, r#""[%s]", (char *)0"#, "[(null)]", 8),
    (64, r#""[%6s|%-6s]", "ab", "cd""#, "[    ab|cd    ]", 15),
    (64, r#""[%.3s]", "abcdef""#, "[abc]", 5),
    (64, r#""[%.*s]", 2, "abcdef""#, "[ab]", 4),
    (64, r#""%p", (void *)0x1234"#, "0000000000001234", 16),
    (64, r#""100%%""#, "100%", 4),
    (64, r#""%hhd %hd %hhu", 300, 70000, 257"#, "44 4464 1", 9),
    (64, r#""%q%d", 5"#, "%q5", 3),
    (64, r#""trailing %""#, "trailing %", 10),
    // Truncation: never more than size - 1 characters, always a NUL, and the
    // return value is the length the whole output would have had.
    (8, r#""%s", "0123456789""#, "0123456", 10),
    (8, r#""%lld", (long long)INT64_MIN"#, "-922337", 20),
    (8, r#""%-20s|", "x""#, "x      ", 21),
    (1, r#""abc""#, "", 3),
    (4, r#""%d", 1234"#, "123", 4),
];

fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include")
}

#[test]
fn the_c_formatter_prints_what_linux_prints() {
    let cc = std::env::var("HOST_CC").unwrap_or_else(|_| "cc".into());
    let dir = std::env::temp_dir().join(format!("kabi-c-printf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut src = String::from(
        "#include <stdio.h>\n#include <string.h>\n#include \"kabi_printf.h\"\n\
         int main(void)\n{\n",
    );
    for (i, (size, args, _, _)) in CASES.iter().enumerate() {
        // A canary after the buffer catches any write past buf[size - 1].
        src.push_str(&format!(
            "\t{{ /* case {i} */\n\t\tchar b[{size} + 1];\n\t\tmemset(b, 'Z', sizeof(b));\n\
             \t\tint n = kabi_snprintf(b, {size}, {args});\n\
             \t\tprintf(\"%d:%c:%s\\n\", n, b[{size}], b);\n\t}}\n"
        ));
    }
    src.push_str(
        "\t{ /* size 0 writes nothing */\n\t\tchar z = 'Z';\n\
                  \t\tint n = kabi_snprintf(&z, 0, \"%d\", 12);\n\
                  \t\tprintf(\"%d:%c\\n\", n, z);\n\t}\n\treturn 0;\n}\n",
    );
    let c = dir.join("t.c");
    let exe = dir.join("t");
    std::fs::write(&c, &src).unwrap();
    let Ok(out) = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-format"])
        .arg("-I")
        .arg(include_dir())
        .arg(&c)
        .arg("-o")
        .arg(&exe)
        .output()
    else {
        eprintln!("skipped: no host C compiler {cc}");
        return;
    };
    assert!(
        out.status.success(),
        "{cc} rejects kabi_printf.h or the test:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let stdout = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), CASES.len() + 1, "{stdout}");
    for ((size, args, expected, ret), line) in CASES.iter().zip(&lines) {
        assert_eq!(
            *line,
            format!("{ret}:Z:{expected}"),
            "kabi_snprintf(buf, {size}, {args})"
        );
    }
    assert_eq!(lines[CASES.len()], "2:Z");
    let _ = std::fs::remove_dir_all(&dir);
}
