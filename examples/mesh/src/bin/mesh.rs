//! `mesh`: the demo mesh in the foreground (what `make run` runs), or `mesh certs DIR`.
//! See `mesh::cli` and `examples/mesh/README.md`.

use std::process::ExitCode;

#[cfg(not(target_family = "wasm"))]
fn main() -> ExitCode {
    mesh::cli::main()
}

/// The mesh runs Envoy processes: there is nothing to run on wasm32.
#[cfg(target_family = "wasm")]
fn main() -> ExitCode {
    ExitCode::FAILURE
}
