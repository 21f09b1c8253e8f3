//! `user_of_hello_c`: a Rust module calling a C module's export. `hello_c`
//! exports `int hello_c_add(int a, int b)` with `EXPORT_SYMBOL`, and
//! `modtool genksyms` gave it the version of its Rust spelling; this module
//! imports it with that spelling, so the loader's version check passes and
//! `hello_c` gains a user (`lsmod`: `hello_c ... 1 user_of_hello_c`).
#![no_std]

use kabi::pr_info;

kabi::module! {
    name: "user_of_hello_c",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Calls hello_c_add, exported by the C module hello_c",
    init: user_of_hello_c_init,
    exit: user_of_hello_c_exit,
}

extern "C" {
    /// `int hello_c_add(int a, int b)` in drivers/c/hello_c.c.
    fn hello_c_add(a: i32, b: i32) -> i32;
}
kabi::import_version!(hello_c_add, "(a: i32, b: i32) -> i32");

fn user_of_hello_c_init() -> Result<(), i32> {
    // The loader checked the version CRC against hello_c's, and hello_c stays
    // loaded while this module holds its reference.
    // SAFETY: the declaration is the C prototype's Rust spelling.
    let sum = unsafe { hello_c_add(40, -2) };
    pr_info!("hello_c_add(40, -2) = {}", sum);
    Ok(())
}

fn user_of_hello_c_exit() -> Result<(), i32> {
    Ok(())
}
