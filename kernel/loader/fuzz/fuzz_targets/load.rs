//! Fuzz target over the whole load path: parse, plan, load into regions sized by the
//! plan (capped), with a resolver that knows every other name. Any panic, hang or
//! runaway allocation is a bug; errors are the expected outcome for most inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    modloader::fuzz_one(data);
});
