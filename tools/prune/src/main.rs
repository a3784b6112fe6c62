//! `wasmesh-prune IN.wasm OUT.wasm`: writes IN pruned (see the library) to OUT and says
//! on stderr how many exports it removed.

use std::process::ExitCode;

/// The usage line printed on wrong arguments.
const USAGE: &str = "usage: wasmesh-prune IN.wasm OUT.wasm";

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasmesh-prune: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prunes `args[0]` into `args[1]`.
fn run(args: Vec<std::ffi::OsString>) -> Result<(), String> {
    let [input, output] = <[_; 2]>::try_from(args).map_err(|_| USAGE.to_string())?;
    let (input, output) = (
        std::path::PathBuf::from(input),
        std::path::PathBuf::from(output),
    );
    let wasm = std::fs::read(&input)
        .map_err(|error| format!("cannot read {}: {error}", input.display()))?;
    let pruned =
        wasmesh_prune::prune(&wasm).map_err(|error| format!("{}: {error}", input.display()))?;
    std::fs::write(&output, &pruned.wasm)
        .map_err(|error| format!("cannot write {}: {error}", output.display()))?;
    if !pruned.removed.is_empty() {
        eprintln!(
            "{}: removed {} unused exports",
            output.display(),
            pruned.removed.len()
        );
    }
    Ok(())
}
