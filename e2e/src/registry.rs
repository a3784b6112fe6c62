//! A local OCI registry for tests, and the `wasmesh-oci` tool that pushes to it.
//!
//! The registry is Debian's `docker-registry` package (the CNCF distribution
//! registry, `docker-registry serve CONFIG`), listening on 127.0.0.1 with
//! filesystem storage in a fresh directory; it is stopped and the directory
//! removed on drop. `$DOCKER_REGISTRY_BIN` names another binary. Install it
//! with `apt-get install docker-registry` (`.ci/run` does).
//!
//! The tool is `$WASMESH_OCI_BIN` when set; otherwise the harness runs
//! `cargo build -p wasmesh-oci` once per test process (with the cargo and
//! profile running the tests) and uses the binary from the target directory
//! next to the test executable.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::http::{self, Response};
use crate::process;

/// Environment variable naming the registry binary.
pub const REGISTRY_BIN_ENV: &str = "DOCKER_REGISTRY_BIN";
/// Where Debian's `docker-registry` package installs the registry.
pub const DEBIAN_REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Environment variable naming a prebuilt `wasmesh-oci` binary.
pub const OCI_TOOL_ENV: &str = "WASMESH_OCI_BIN";
/// How long the registry may take to answer `GET /v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a start is retried when the chosen port was taken meanwhile.
const START_ATTEMPTS: u32 = 3;
/// How long it may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// The registry binary: `$DOCKER_REGISTRY_BIN`, else `docker-registry` from
/// Debian's package; `None` when it is not installed.
pub fn registry_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(REGISTRY_BIN_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = PathBuf::from(DEBIAN_REGISTRY_BIN);
    path.is_file().then_some(path)
}

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    exit_status: Option<ExitStatus>,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Registry {
    /// Starts the registry `binary` on a free port of 127.0.0.1 and waits
    /// until `GET /v2/` answers 200.
    pub fn start(binary: &Path) -> Result<Self, String> {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(binary) {
                Ok(registry) => return Ok(registry),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    fn start_once(binary: &Path) -> Result<Self, String> {
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wasmesh-registry-e2e-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let addr = free_port()?;
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: false\n\
             http:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let output = std::fs::File::create(dir.join("output.log"))
            .map_err(|e| format!("cannot create the registry's log: {e}"))?;
        let error_output = output
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg(&config_path)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(error_output);
        let child = process::spawn_tied_to_process(command)
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut registry = Registry {
            child,
            exit_status: None,
            dir,
            addr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if registry.get("/v2/", &[]).is_ok_and(|r| r.status == 200) {
                return Ok(registry);
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                registry.exit_status = Some(status);
                return Err(format!(
                    "the registry exited during start ({status}):\n{}",
                    registry.log()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the registry did not answer GET /v2/ on {addr} within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    registry.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the registry host in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `GET {path}` with `headers` (a `Host` naming the registry is added).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        let host = self.host();
        let mut all = vec![("Host", host.as_str())];
        all.extend_from_slice(headers);
        http::get(self.addr, path, &all)
    }

    /// The registry's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("output.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; kills it after a timeout.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.stop_process();
        self.exit_status
    }

    fn stop_process(&mut self) {
        if self.exit_status.is_some() {
            return;
        }
        self.exit_status = process::terminate(&mut self.child, STOP_TIMEOUT);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop_process();
        if std::thread::panicking() {
            eprintln!("--- registry log ({}):\n{}", self.dir.display(), self.log());
        }
        if std::env::var(crate::envoy::KEEP_ENV).map_or(true, |v| v != "1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The `wasmesh-oci` binary (see the module documentation).
pub fn oci_tool() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(OCI_TOOL_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_oci_tool).clone()
}

fn build_oci_tool() -> Result<PathBuf, String> {
    crate::paths::build_workspace_binary("wasmesh-oci", OCI_TOOL_ENV)
}
