//! The `wasmesh-oci` binary; see `wasmesh_oci::cli::USAGE`.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    wasmesh_oci::cli::main()
}

/// wasmesh-oci is a native program; a wasm32 build (as in a workspace-wide
/// wasm32 build of the filters) has nothing to run.
#[cfg(target_arch = "wasm32")]
fn main() {}
