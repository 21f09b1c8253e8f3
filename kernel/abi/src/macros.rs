//! The macros that declare the kernel's exports ([`kernel_api!`], used once in
//! lib.rs) and that module crates use to describe themselves.

/// Declares the kernel's exported functions. For each `fn name(args) -> ret;` it
/// generates `sig::name` (the function type), `api::crc::name` (CRC-32 of the
/// signature text), `api::ALL` (name, CRC, flags for every export) and, for
/// modules, the `sys::name` import. A `[unsafe_to_unload]` prefix marks an export that
/// pins any module importing it; a `[rust_abi]` prefix one that passes `core`'s
/// own types, for Rust modules only: its CRC text ends with the compiler's
/// version ([`kabi_flag!`]).
#[macro_export]
#[doc(hidden)]
macro_rules! kernel_api {
    ($(
        $(#[doc = $doc:expr])*
        $([$flag:ident])?
        fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? ;
    )*) => {
        /// Function types of the kernel's exports.
        #[allow(non_camel_case_types)]
        pub mod sig {
            #[allow(unused_imports)]
            use $crate::types::*;
            $( pub type $name = unsafe extern "C" fn($($ty),*) $(-> $ret)?; )*
        }

        /// Names, version CRCs and flags of the kernel's exports.
        pub mod api {
            /// Per-export CRC-32 of the signature text.
            #[allow(non_upper_case_globals)]
            pub mod crc {
                $(
                    pub const $name: u32 = $crate::crc::crc32(
                        concat!(stringify!($name), "(", stringify!($($arg : $ty),*), ")" $(, " -> ", stringify!($ret))? $(, $crate::kabi_flag!(salt $flag))?)
                            .as_bytes(),
                    );
                )*
            }
            /// Per-export flags ([`crate::KernelSymbol::UNSAFE_TO_UNLOAD`]).
            #[allow(non_upper_case_globals)]
            pub mod flags {
                $(
                    pub const $name: u32 = 0 $(| $crate::kabi_flag!(bits $flag))?;
                )*
            }
            /// `(name, crc, flags)` of every export, in declaration order.
            pub const ALL: &[(&str, u32, u32)] = &[ $( (stringify!($name), crc::$name, flags::$name), )* ];
            /// The signature text each CRC is computed from (for the C header).
            pub const SIGNATURES: &[&str] = &[
                $( concat!(stringify!($name), "(", stringify!($($arg : $ty),*), ")" $(, " -> ", stringify!($ret))? $(, $crate::kabi_flag!(salt $flag))?), )*
            ];
        }

        /// The kernel's exports as seen from a module.
        #[cfg(feature = "module")]
        pub mod sys {
            #[allow(unused_imports)]
            use $crate::types::*;
            extern "C" {
                $( $(#[doc = $doc])* pub fn $name($($arg: $ty),*) $(-> $ret)?; )*
            }
        }
    };
}

/// What a flag of [`kernel_api!`] adds: `bits` its [`crate::KernelSymbol`]
/// flag bits, `salt` the text appended to the export's CRC text.
#[macro_export]
#[doc(hidden)]
macro_rules! kabi_flag {
    (bits unsafe_to_unload) => {
        $crate::KernelSymbol::UNSAFE_TO_UNLOAD
    };
    (bits rust_abi) => {
        $crate::KernelSymbol::RUST_ABI
    };
    (salt unsafe_to_unload) => {
        ""
    };
    (salt rust_abi) => {
        concat!(" [", env!("KABI_RUSTC"), "]")
    };
}

/// Places one `key=value` string in the module's `.modinfo` section.
#[macro_export]
macro_rules! modinfo {
    ($s:expr) => {
        const _: () = {
            const S: &str = concat!($s, "\0");
            #[used]
            #[link_section = ".modinfo"]
            static INFO: [u8; S.len()] = $crate::rt::str_array::<{ S.len() }>(S);
        };
    };
}

/// Declares a module: `.modinfo` (name, version, license, author, description,
/// aliases, ABI version) and the `init_module`/`cleanup_module` entry points.
/// `init` and `exit` are `fn() -> Result<(), i32>` (the error a positive errno);
/// a module without `exit` cannot be unloaded without `rmmod -f`.
///
/// ```ignore
/// kabi::module! {
///     name: "hello",
///     version: "1.0",
///     license: "GPL",
///     author: "Someone",
///     description: "Says hello",
///     init: hello_init,
///     exit: hello_exit,
/// }
/// ```
#[macro_export]
macro_rules! module {
    (
        name: $name:literal,
        version: $version:literal,
        license: $license:literal,
        author: $author:literal,
        description: $desc:literal,
        $(alias: [$($alias:literal),* $(,)?],)?
        $(depends: [$($dep:literal),* $(,)?],)?
        init: $init:path
        $(, exit: $exit:path)?
        $(,)?
    ) => {
        $crate::modinfo!(concat!("name=", $name));
        $crate::modinfo!(concat!("version=", $version));
        $crate::modinfo!(concat!("license=", $license));
        $crate::modinfo!(concat!("author=", $author));
        $crate::modinfo!(concat!("description=", $desc));
        $crate::modinfo!("abi=3");
        const _: () = assert!($crate::ABI_VERSION == 3, "update the abi= string in kabi::module!");
        $($( $crate::modinfo!(concat!("alias=", $alias)); )*)?

        /// Called by the kernel after loading; 0 or -errno.
        #[no_mangle]
        pub extern "C" fn init_module() -> i32 {
            $crate::rt::errno_of($init())
        }

        $(
            /// Called by the kernel before unloading; 0, or -errno to refuse.
            #[no_mangle]
            pub extern "C" fn cleanup_module() -> i32 {
                $crate::rt::errno_of($exit())
            }
        )?
    };
}

/// Declares a module parameter settable with `insmod m.ko name=value`.
///
/// `module_param!(STATIC, "name", int, DEFAULT, "description")` for an `i64`,
/// `bool` for a flag, `str` (with a default `&str`) for a string of up to 63 bytes.
/// Read it with `STATIC.get()`.
#[macro_export]
macro_rules! module_param {
    ($static:ident, $name:literal, int, $default:expr, $desc:literal) => {
        pub static $static: $crate::rt::IntParam = $crate::rt::IntParam::new($default);
        $crate::module_param!(@desc $static, $name, "int", $crate::ParamKind::Int, 8, $desc);
    };
    ($static:ident, $name:literal, bool, $default:expr, $desc:literal) => {
        pub static $static: $crate::rt::BoolParam = $crate::rt::BoolParam::new($default);
        $crate::module_param!(@desc $static, $name, "bool", $crate::ParamKind::Bool, 1, $desc);
    };
    ($static:ident, $name:literal, str, $default:expr, $desc:literal) => {
        pub static $static: $crate::rt::StrParam = $crate::rt::StrParam::new($default);
        $crate::module_param!(@desc $static, $name, "charp", $crate::ParamKind::Str, $crate::rt::STR_PARAM_SIZE, $desc);
    };
    (@desc $static:ident, $name:literal, $tyname:literal, $kind:expr, $size:expr, $desc:literal) => {
        $crate::modinfo!(concat!("parm=", $name, ":", $desc));
        $crate::modinfo!(concat!("parmtype=", $name, ":", $tyname));
        const _: () = {
            #[used]
            #[link_section = "__param"]
            static DESC: $crate::ParamDesc = $crate::ParamDesc {
                name: $name.as_ptr(),
                name_len: $name.len(),
                kind: $kind as u32,
                ptr: $static.as_ptr(),
                size: $size,
            };
        };
    };
}

/// Exports a module function to other modules, with the CRC of `$sig` (the
/// parameter list and return type as text, e.g. `"(a: u32, b: u32) -> u32"`).
/// Users declare the same text with [`import_version!`].
#[macro_export]
macro_rules! export_symbol {
    ($func:ident, $sig:literal) => {
        const _: () = {
            #[used]
            #[link_section = ".ksymtab"]
            static SYM: $crate::KernelSymbol = $crate::KernelSymbol {
                name: stringify!($func).as_ptr(),
                name_len: stringify!($func).len(),
                addr: $func as *const $crate::Opaque,
                crc: $crate::crc::crc32(concat!(stringify!($func), $sig).as_bytes()),
                flags: 0,
            };
        };
    };
}

/// Records the version of a symbol this module imports from another module.
#[macro_export]
macro_rules! import_version {
    ($func:ident, $sig:literal) => {
        const _: () = {
            #[used]
            #[link_section = "__versions"]
            static VERSION: $crate::ModVersion = $crate::ModVersion::new(
                $crate::crc::crc32(concat!(stringify!($func), $sig).as_bytes()),
                stringify!($func),
            );
        };
    };
}

/// `pr_err!`, `pr_warn!`, `pr_info!`, `pr_debug!`: log through the kernel,
/// prefixed with the module's name.
#[macro_export]
macro_rules! pr_err { ($($t:tt)*) => { $crate::rt::log(3, format_args!($($t)*)) }; }
#[macro_export]
macro_rules! pr_warn { ($($t:tt)*) => { $crate::rt::log(4, format_args!($($t)*)) }; }
#[macro_export]
macro_rules! pr_info { ($($t:tt)*) => { $crate::rt::log(6, format_args!($($t)*)) }; }
#[macro_export]
macro_rules! pr_debug { ($($t:tt)*) => { $crate::rt::log(7, format_args!($($t)*)) }; }
