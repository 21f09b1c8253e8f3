//! `user_of_hello`: the user side of a module-to-module dependency. It imports
//! `hello_add`, which the `hello` module exports, with the signature version it
//! was built against (`__versions`), so loading it records a dependency on
//! `hello` and a reference that keeps `hello` from being removed while this
//! module is loaded (`rmmod: ERROR: Module hello is in use by: user_of_hello`).
#![no_std]

use kabi::pr_info;

kabi::module! {
    name: "user_of_hello",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Calls hello_add, exported by the hello module",
    init: user_of_hello_init,
    exit: user_of_hello_exit,
}

extern "C" {
    /// Exported by `hello` (`kabi::export_symbol!(hello_add, ...)`).
    fn hello_add(a: u32, b: u32) -> u32;
}
kabi::import_version!(hello_add, "(a: u32, b: u32) -> u32");

fn user_of_hello_init() -> Result<(), i32> {
    // The loader resolved `hello_add` to hello's export after checking its
    // version CRC against the signature declared above, and hello cannot be
    // unloaded while we hold a reference to it.
    // SAFETY: the declaration matches the export (checked CRC), which is live.
    let sum = unsafe { hello_add(2, 3) };
    pr_info!("hello_add(2, 3) = {}", sum);
    Ok(())
}

fn user_of_hello_exit() -> Result<(), i32> {
    pr_info!("Goodbye");
    Ok(())
}
