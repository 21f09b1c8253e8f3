//! depmod for our modules: the build-time index `modprobe` reads.
//!
//! [`object`] reads what one `.ko` says about itself (name, aliases, the
//! symbols it exports in `.ksymtab` and the ones it leaves undefined);
//! [`index`] resolves every undefined symbol to the module that exports it and
//! renders Linux's two files:
//!
//! - `modules.dep`: one line per module, `user_of_hello.ko: hello.ko`, listing
//!   every module it needs, transitively, each one before anything it depends
//!   on itself (so `modprobe` loads the list from its end back to the front,
//!   then the module);
//! - `modules.alias`: `alias PATTERN MODNAME` per `alias=` entry in `.modinfo`.
//!
//! Input files are untrusted: every read is bounds-checked and a malformed
//! object is an error naming the file, never a panic.

pub mod index;
pub mod object;

use std::fmt;
use std::path::{Path, PathBuf};

pub use index::Index;
pub use object::ModuleObject;

/// Why depmod could not write an index.
#[derive(Debug)]
pub enum DepmodError {
    /// Reading the directory or a file, or writing the index, failed.
    Io { path: PathBuf, err: std::io::Error },
    /// A `.ko` is not an AArch64 relocatable object we can read.
    BadObject { file: String, reason: String },
    /// Two files declare the same module name.
    DuplicateModule {
        name: String,
        first: String,
        second: String,
    },
    /// Modules depend on each other in a circle (files, the first repeated last).
    Cycle(Vec<String>),
}

impl fmt::Display for DepmodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, err } => write!(f, "{}: {}", path.display(), err),
            Self::BadObject { file, reason } => write!(f, "{file}: {reason}"),
            Self::DuplicateModule {
                name,
                first,
                second,
            } => {
                write!(
                    f,
                    "module {name} is defined twice: by {first} and by {second}"
                )
            }
            Self::Cycle(files) => write!(f, "Cycle detected: {}", files.join(" -> ")),
        }
    }
}

impl std::error::Error for DepmodError {}

/// Indexes the `*.ko` files in `dir` and writes `modules.dep` and
/// `modules.alias` there. Returns warnings (unknown symbols, duplicate exports).
pub fn run(dir: &Path) -> Result<Vec<String>, DepmodError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |err| DepmodError::Io { path, err }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    files.retain(|p| p.extension().is_some_and(|e| e == "ko") && p.is_file());
    files.sort();

    let mut objects = Vec::with_capacity(files.len());
    for path in &files {
        let data = std::fs::read(path).map_err(io(path))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        objects.push(ModuleObject::parse(&file_name, &data)?);
    }

    let index = Index::build(objects, kabi::api::ALL.iter().map(|(name, _, _)| *name))?;
    write_atomically(&dir.join("modules.dep"), &index.modules_dep())?;
    write_atomically(&dir.join("modules.alias"), &index.modules_alias())?;
    Ok(index.warnings().to_vec())
}

/// Writes `path` through a temporary file and a rename, so a reader never sees
/// half an index.
fn write_atomically(path: &Path, text: &str) -> Result<(), DepmodError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|err| DepmodError::Io {
        path: tmp.clone(),
        err,
    })?;
    std::fs::rename(&tmp, path).map_err(|err| DepmodError::Io {
        path: path.to_path_buf(),
        err,
    })
}

#[cfg(test)]
mod testobj;

#[cfg(test)]
mod tests {
    use super::*;
    use testobj::TestObject;

    #[test]
    fn writes_modules_dep_and_alias_for_a_directory() {
        let dir = std::env::temp_dir().join(format!("depmod-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hello = TestObject {
            modinfo: &["name=hello", "alias=of:hello,dev"],
            exports: &["hello_add"],
            imports: &["printk", "__this_module"],
            ..Default::default()
        };
        let user = TestObject {
            modinfo: &["name=user_of_hello"],
            imports: &["hello_add", "printk", "no_such_symbol"],
            ..Default::default()
        };
        std::fs::write(dir.join("hello.ko"), hello.build()).unwrap();
        std::fs::write(dir.join("user_of_hello.ko"), user.build()).unwrap();
        std::fs::write(dir.join("hello.ko.debug"), b"not read").unwrap();

        let warnings = run(&dir).unwrap();
        let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
        let alias = std::fs::read_to_string(dir.join("modules.alias")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(dep, "hello.ko:\nuser_of_hello.ko: hello.ko\n");
        assert_eq!(
            alias,
            "# Aliases extracted from modules themselves.\nalias of:hello,dev hello\n"
        );
        assert_eq!(
            warnings,
            ["user_of_hello.ko needs unknown symbol no_such_symbol"]
        );
    }

    #[test]
    fn a_bad_object_names_the_file() {
        let dir = std::env::temp_dir().join(format!("depmod-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("broken.ko"), b"\x7fELF").unwrap();
        let err = run(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.starts_with("broken.ko: not an ELF file"), "{err}");
        assert!(!dir.join("modules.dep").exists());
    }
}
