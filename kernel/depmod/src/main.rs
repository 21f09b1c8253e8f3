//! `depmod DIR`: reads every `*.ko` in DIR and writes `DIR/modules.dep` and
//! `DIR/modules.alias` (see the library for the formats). Prints warnings to
//! stderr; exits 1 with a message on any error, leaving the old index in place.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: depmod DIR\n\nWrites DIR/modules.dep and DIR/modules.alias for the *.ko files in DIR.");
        return ExitCode::from(2);
    };
    match depmod::run(Path::new(dir)) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("depmod: WARNING: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("depmod: ERROR: {e}");
            ExitCode::FAILURE
        }
    }
}
