//! `wasmesh-bench-host-calls`: reads the benchmark's variants as JSON on stdin, prints each
//! one's proxy-wasm host calls and VM entries per request as JSON (see the library's `run`).
//! `bench/bench.py` runs it before its callgrind runs.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use std::io::Read;
    let mut input = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("stdin: {e}"))
        .and_then(|_| serde_json::from_str(&input).map_err(|e| format!("input: {e}")))
        .and_then(|input| wasmesh_bench_host_calls::run(&input));
    match result {
        Ok(output) => {
            println!("{output:#}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("wasmesh-bench-host-calls: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The emulator is native only: nothing to do on wasm32.
#[cfg(target_arch = "wasm32")]
fn main() {}
