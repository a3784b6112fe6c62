//! Running the `wasmesh-cp` control plane for a test: a declarative file and
//! its modules in a fresh directory, the process on free ports, its status
//! endpoint, and a clean stop.
//!
//! The binary is `$WASMESH_CP_BIN` when set. Otherwise the harness runs
//! `cargo build -p wasmesh-cp` once per test process (with the cargo and
//! profile running the tests, so the binary is never stale) and uses
//! `wasmesh-cp` from the target directory next to the test executable
//! (`target/debug/deps/<test>` -> `target/debug/wasmesh-cp`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::http;
use crate::process;

/// Environment variable naming a prebuilt `wasmesh-cp` binary.
pub const CP_BIN_ENV: &str = "WASMESH_CP_BIN";
/// How long the control plane may take to open its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long it may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The name of the declarative file in the control plane's directory.
const DECLARATION: &str = "wasmesh-cp.json";

static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// The `wasmesh-cp` binary (see the module documentation).
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(CP_BIN_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_binary).clone()
}

fn build_binary() -> Result<PathBuf, String> {
    crate::paths::build_workspace_binary("wasmesh-cp", CP_BIN_ENV)
}

/// A running `wasmesh-cp`; stopped (SIGTERM, then SIGKILL) and its directory
/// removed when dropped.
#[derive(Debug)]
pub struct ControlPlane {
    child: Child,
    exit_status: Option<ExitStatus>,
    dir: PathBuf,
    grpc: SocketAddr,
    status: SocketAddr,
}

impl ControlPlane {
    /// A fresh directory for a control plane's files: write the declarative
    /// file (`wasmesh-cp.json`) and the modules there, then [`ControlPlane::start_in`].
    pub fn create_dir() -> Result<PathBuf, String> {
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wasmesh-cp-e2e-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Starts the control plane on `dir/wasmesh-cp.json` with ADS on `grpc`
    /// (port 0: a free port) and the status endpoint on a free port. It
    /// polls files every 50 ms. Takes ownership of `dir`.
    pub fn start_in(dir: PathBuf, grpc: SocketAddr) -> Result<Self, String> {
        let binary = binary()?;
        let port_file = dir.join("ports.json");
        let output = std::fs::File::create(dir.join("output.log"))
            .map_err(|e| format!("cannot create the control plane's log: {e}"))?;
        let error_output = output
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let mut command = Command::new(&binary);
        command
            .current_dir(&dir)
            .arg("--config")
            .arg(dir.join(DECLARATION))
            .args(["--grpc", &grpc.to_string(), "--status", "127.0.0.1:0"])
            .arg("--port-file")
            .arg(&port_file)
            .args(["--poll-ms", "50"])
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(error_output);
        let child = process::spawn_tied_to_process(command)
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut control_plane = ControlPlane {
            child,
            exit_status: None,
            dir,
            grpc,
            status: grpc,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some((grpc, status)) = read_port_file(&port_file) {
                control_plane.grpc = grpc;
                control_plane.status = status;
                return Ok(control_plane);
            }
            if let Ok(Some(status)) = control_plane.child.try_wait() {
                control_plane.exit_status = Some(status);
                return Err(format!(
                    "wasmesh-cp exited during start ({status}):\n{}",
                    control_plane.log()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "wasmesh-cp did not write {} within {} s:\n{}",
                    port_file.display(),
                    START_TIMEOUT.as_secs(),
                    control_plane.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The directory holding the declarative file; put modules here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ADS (gRPC) address Envoy connects to.
    pub fn grpc(&self) -> SocketAddr {
        self.grpc
    }

    /// The status endpoint's address.
    pub fn status_addr(&self) -> SocketAddr {
        self.status
    }

    /// Replaces the declarative file (by atomic rename, as the control plane expects).
    pub fn write_declaration(&self, declaration: &str) -> Result<(), String> {
        write_atomically(&self.dir.join(DECLARATION), declaration.as_bytes())
    }

    /// Writes `bytes` to `name` in [`ControlPlane::dir`] by atomic rename.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        write_atomically(&self.dir.join(name), bytes)
    }

    /// What the control plane wrote to stdout and stderr (its log).
    pub fn log(&self) -> String {
        std::fs::read(self.dir.join("output.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// `GET /status`, parsed.
    pub fn status(&self) -> Result<serde_json::Value, String> {
        let response = http::get(self.status, "/status", &[])?;
        if response.status != 200 {
            return Err(format!("/status answered {}", response.status));
        }
        response.json()
    }

    /// The status of `filter` on the node `node_id` (an entry of
    /// `nodes[].filters[]`), if the node has connected.
    pub fn node_filter(&self, node_id: &str, filter: &str) -> Option<serde_json::Value> {
        let status = self.status().ok()?;
        let node = status
            .get("nodes")?
            .as_array()?
            .iter()
            .find(|node| node.get("id").and_then(|id| id.as_str()) == Some(node_id))?;
        node.get("filters")?
            .as_array()?
            .iter()
            .find(|f| f.get("name").and_then(|n| n.as_str()) == Some(filter))
            .cloned()
    }

    /// Waits up to `timeout` until the status of `filter` on `node_id`
    /// satisfies `done`; returns it, or an error quoting the last status and the log.
    pub fn wait_for_node_filter(
        &self,
        node_id: &str,
        filter: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.node_filter(node_id, filter);
            if let Some(state) = state.as_ref().filter(|s| done(s)) {
                return Ok(state.clone());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {node_id} filter {filter}: condition not met within {} s; last status {}\n--- wasmesh-cp log:\n{}",
                    timeout.as_secs(),
                    state.map_or_else(|| "none".to_string(), |s| s.to_string()),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM and waits for the exit; kills it after a timeout.
    /// Returns the exit status.
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

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_process();
        if std::thread::panicking() {
            eprintln!(
                "--- wasmesh-cp log ({}):\n{}",
                self.dir.display(),
                self.log()
            );
        }
        if std::env::var(crate::envoy::KEEP_ENV).map_or(true, |v| v != "1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_port_file(path: &Path) -> Option<(SocketAddr, SocketAddr)> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let grpc = json.get("grpc")?.as_str()?.parse().ok()?;
    let status = json.get("status")?.as_str()?.parse().ok()?;
    Some((grpc, status))
}
