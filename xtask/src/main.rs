//! Developer tasks for the Carillon workspace.
//!
//! `cargo xtask codegen` regenerates `crates/carillon-awsapi/src/generated/` from the botocore
//! models in `models/`; `cargo xtask codegen --check` fails when the checked-in code differs
//! from what the models produce. `cargo xtask docs --check` fails when `ARCHITECTURE.md`
//! names a path, crate or module that does not exist, or a crate doc leaves out one of its
//! public modules (the same check runs as a test of this crate).

mod codegen;
mod docs;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(&root, codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(&root, codegen::Mode::Check),
        ["docs", "--check"] => docs::check(&root),
        _ => Err("usage: cargo xtask codegen [--check] | cargo xtask docs --check".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
