//! `wrong_user_of_hello_c`: imports `hello_c_add` as if it took and returned
//! `u64`s. Its `__versions` CRC is that of the wrong signature, so insmod must
//! refuse it: `wrong_user_of_hello_c: disagrees about version of symbol
//! hello_c_add`, and nothing of it may remain.
#![no_std]

kabi::module! {
    name: "wrong_user_of_hello_c",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Imports hello_c_add with a wrong signature; must be refused",
    init: wrong_user_init,
}

extern "C" {
    fn hello_c_add(a: u64, b: u64) -> u64;
}
kabi::import_version!(hello_c_add, "(a: u64, b: u64) -> u64");

fn wrong_user_init() -> Result<(), i32> {
    // SAFETY: never reached: the loader refuses this module because the declared signature's version differs from hello_c's export.
    let sum = unsafe { hello_c_add(1, 2) };
    kabi::pr_err!("loaded despite a wrong hello_c_add version ({})", sum);
    Ok(())
}
