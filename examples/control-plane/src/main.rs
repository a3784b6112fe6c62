//! The `wasmesh-cp` binary; see `wasmesh_cp::cli::USAGE`.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    wasmesh_cp::cli::main()
}

/// wasmesh-cp is a native program; a wasm32 build (as in a workspace-wide
/// wasm32 build of the filters) has nothing to run.
#[cfg(target_arch = "wasm32")]
fn main() {}
