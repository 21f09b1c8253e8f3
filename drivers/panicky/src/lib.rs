//! `panicky`: a module whose init panics. Modules build with `panic = "abort"`;
//! kabi's panic handler reports the message through the kernel's `module_panic`,
//! which abandons the running init like a fault. The load must fail, nothing of
//! the module may remain, and the kernel keeps running.
#![no_std]

kabi::module! {
    name: "panicky",
    version: "1.0",
    license: "GPL",
    author: "The kernel authors",
    description: "Init panics (the kernel must fail the load and keep running)",
    init: panicky_init,
    exit: panicky_exit,
}

fn panicky_init() -> Result<(), i32> {
    panic!("panicky: deliberate panic in init");
}

fn panicky_exit() -> Result<(), i32> {
    Ok(())
}
