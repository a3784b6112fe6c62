//! Running Envoy for a test: start it on free ports, wait until it serves,
//! query its admin interface, and stop it without leaving a process behind.
//!
//! Each run gets a fresh directory under the system temp dir holding the
//! rendered config, the admin address file, Envoy's log (`envoy.log`) and its
//! stdout/stderr (`output.log`). The directory is removed when the [`Envoy`] is
//! dropped unless `WASMESH_E2E_KEEP=1` is set.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::config::EnvoyConfig;
use crate::http::{self, Connection, Response};
use crate::{paths, process};

/// How long Envoy may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Envoy may take to exit after `POST /quitquitquit` before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `envoy --mode validate` may run.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of each admin request made while waiting for Envoy to start or stop.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// Lines of Envoy's log quoted in error messages.
const LOG_TAIL_LINES: usize = 40;
/// Set to `1` to keep each run's directory (config, logs) after the test.
pub const KEEP_ENV: &str = "WASMESH_E2E_KEEP";

/// Envoy runs started by this process so far; part of each run's base id and directory.
static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// The `--base-id` of the `run`-th Envoy of the process with `pid`.
///
/// Envoy names its hot-restart shared memory and domain sockets after
/// `base_id * 10`, which must fit in a `u32`, so `base_id < 429_496_729`.
/// Linux pids are below 2^22, so `pid * 100 + run % 100` is unique across
/// processes and across the last 100 runs of one process.
fn base_id_for(pid: u32, run: u32) -> u32 {
    (pid % 4_294_967) * 100 + run % 100
}

/// A fresh directory for one run's files.
fn create_run_dir(run: u32) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("wasmesh-e2e-{}-{run}", std::process::id()));
    // A directory left by an earlier process with the same pid is stale.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn keep_files() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1")
}

/// A command running the Envoy binary with stdin closed, stdout and stderr
/// appended to `output`, and the repository root as working directory.
fn envoy_command(output: &Path) -> Result<Command, String> {
    let bin = paths::envoy_bin()?;
    let output_file = std::fs::File::create(output)
        .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let error_file = output_file
        .try_clone()
        .map_err(|e| format!("cannot duplicate output file handle: {e}"))?;
    let mut command = Command::new(bin);
    command
        .current_dir(paths::repo_root())
        .stdin(Stdio::null())
        .stdout(output_file)
        .stderr(error_file);
    Ok(command)
}

/// Why Envoy did not come up.
enum StartFailure {
    Exited(ExitStatus),
    TimedOut(String),
}

/// A running Envoy. Dropping it stops Envoy (gracefully, then SIGKILL) and
/// reaps the process, also while a test panics.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    exit_status: Option<ExitStatus>,
    base_id: u32,
    dir: PathBuf,
    admin: Option<SocketAddr>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Envoy {
    /// Starts Envoy with the rendered `config` and waits until it serves.
    ///
    /// Envoy runs as `envoy -c <dir>/config.yaml --concurrency 1 --base-id <unique>
    /// --admin-address-path <file> --log-path <file> -l info
    /// --component-log-level wasm:debug --file-flush-interval-msec 50`.
    /// The config needs an `admin` address (port 9901 in checked-in files).
    /// It is ready when the admin address file exists, `/ready` answers `LIVE`
    /// and every listener in `/listeners` has a port. If Envoy exits or is not
    /// ready within [`START_TIMEOUT`], the error quotes the end of its log.
    pub fn start(config: &EnvoyConfig) -> Result<Self, String> {
        Self::start_with_args(config, &[])
    }

    /// Like [`Envoy::start`], with `args` appended to Envoy's command line. If
    /// `args` sets `-l`/`--log-level` or `--component-log-level`, that default is left out.
    pub fn start_with_args(config: &EnvoyConfig, args: &[&str]) -> Result<Self, String> {
        let mut envoy = Self::launch(config, args)?;
        match envoy.wait_ready() {
            Ok(()) => Ok(envoy),
            Err(StartFailure::Exited(status)) => {
                envoy.exit_status = Some(status);
                Err(format!(
                    "Envoy exited during start ({status}) with config {}\n{}",
                    config.source(),
                    envoy.diagnostics()
                ))
            }
            Err(StartFailure::TimedOut(waiting_for)) => Err(format!(
                "Envoy was not ready within {} s ({waiting_for}) with config {}\n{}",
                START_TIMEOUT.as_secs(),
                config.source(),
                envoy.diagnostics()
            )),
        }
    }

    /// Starts Envoy expecting it to refuse `config` and exit. Returns Envoy's
    /// log followed by its stdout/stderr. Fails if Envoy came up instead (a
    /// rejected listener can leave Envoy running: for that case use
    /// [`Envoy::start`], then [`Envoy::listener`] and [`Envoy::log`]).
    pub fn start_expect_failure(config: &EnvoyConfig) -> Result<String, String> {
        let mut envoy = Self::launch(config, &[])?;
        match envoy.wait_ready() {
            Err(StartFailure::Exited(status)) => {
                envoy.exit_status = Some(status);
                Ok(format!("{}\n{}", envoy.log(), envoy.output()))
            }
            Ok(()) => Err(format!(
                "Envoy started although it was expected to fail; listeners: {:?}\n{}",
                envoy.listeners,
                envoy.diagnostics()
            )),
            Err(StartFailure::TimedOut(waiting_for)) => Err(format!(
                "Envoy neither exited nor became ready within {} s ({waiting_for})\n{}",
                START_TIMEOUT.as_secs(),
                envoy.diagnostics()
            )),
        }
    }

    /// Runs `envoy --mode validate` on the rendered `config` (application
    /// ports without an upstream mapping are left as written). Returns Envoy's
    /// output: `Ok` when Envoy accepts the config, `Err` with its message otherwise.
    pub fn validate(config: &EnvoyConfig) -> Result<String, String> {
        let yaml = config.render_unmapped_ok()?;
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let dir = create_run_dir(run)?;
        let result = validate_in(&dir, &yaml);
        if !keep_files() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn launch(config: &EnvoyConfig, args: &[&str]) -> Result<Self, String> {
        let yaml = config.render()?;
        if !yaml.contains("admin:") {
            return Err(format!(
                "{}: no `admin:` section; the harness needs Envoy's admin interface",
                config.source()
            ));
        }
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let base_id = base_id_for(std::process::id(), run);
        let dir = create_run_dir(run)?;
        let config_path = dir.join("config.yaml");
        std::fs::write(&config_path, yaml)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let mut command = envoy_command(&dir.join("output.log"))?;
        command
            .arg("-c")
            .arg(&config_path)
            .args(["--concurrency", "1", "--base-id", &base_id.to_string()])
            .arg("--admin-address-path")
            .arg(dir.join("admin.address"))
            .arg("--log-path")
            .arg(dir.join("envoy.log"))
            .args(["--file-flush-interval-msec", "50"]);
        if !args.iter().any(|a| *a == "-l" || *a == "--log-level") {
            command.args(["-l", "info"]);
        }
        if !args.contains(&"--component-log-level") {
            command.args(["--component-log-level", "wasm:debug"]);
        }
        command.args(args);
        let child = process::spawn_tied_to_process(command)
            .map_err(|e| format!("cannot start Envoy ({}): {e}", dir.display()))?;
        Ok(Self {
            child,
            exit_status: None,
            base_id,
            dir,
            admin: None,
            listeners: Vec::new(),
        })
    }

    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StartFailure::Exited(status));
            }
            let waiting_for = match self.check_ready() {
                Ok(()) => return Ok(()),
                Err(waiting_for) => waiting_for,
            };
            if Instant::now() >= deadline {
                return Err(StartFailure::TimedOut(waiting_for));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// One readiness check; the error says what is still missing.
    fn check_ready(&mut self) -> Result<(), String> {
        let admin = match self.admin {
            Some(admin) => admin,
            None => {
                let text = std::fs::read_to_string(self.dir.join("admin.address"))
                    .map_err(|_| "admin address file not written yet".to_string())?;
                let admin: SocketAddr = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("admin address file incomplete: {text:?}"))?;
                self.admin = Some(admin);
                admin
            }
        };
        let ready = admin_request(admin, "GET", "/ready", POLL_TIMEOUT)?;
        if ready.status != 200 || ready.body_str().trim() != "LIVE" {
            return Err(format!(
                "/ready answered {} {:?}",
                ready.status,
                ready.body_str().trim()
            ));
        }
        let listing = admin_request(admin, "GET", "/listeners?format=json", POLL_TIMEOUT)?;
        let listeners = parse_listeners(&listing.json()?)?;
        if let Some((name, _)) = listeners.iter().find(|(_, addr)| addr.port() == 0) {
            return Err(format!("listener {name:?} has no port yet"));
        }
        self.listeners = listeners;
        Ok(())
    }

    /// The process id of Envoy itself.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `--base-id` this Envoy runs with.
    pub fn base_id(&self) -> u32 {
        self.base_id
    }

    /// The directory holding this run's config and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin interface address (`127.0.0.1:0` if Envoy never wrote it).
    pub fn admin(&self) -> SocketAddr {
        self.admin
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address of the listener called `name`; the error lists the listeners there are.
    pub fn listener(&self, name: &str) -> Result<SocketAddr, String> {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, addr)| *addr)
            .ok_or_else(|| {
                let names: Vec<&str> = self.listeners.iter().map(|(n, _)| n.as_str()).collect();
                format!("Envoy has no listener {name:?}; it has {names:?}")
            })
    }

    /// Every listener as (name, address), as `/listeners` reported them at start.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// `GET path` on the admin interface.
    pub fn admin_get(&self, path: &str) -> Result<Response, String> {
        admin_request(self.admin(), "GET", path, http::IO_TIMEOUT)
    }

    /// `POST path` on the admin interface (e.g. `/reset_counters`).
    pub fn admin_post(&self, path: &str) -> Result<Response, String> {
        admin_request(self.admin(), "POST", path, http::IO_TIMEOUT)
    }

    /// The statistics in Prometheus text format (`/stats/prometheus`).
    pub fn stats_prometheus(&self) -> Result<String, String> {
        let response = self.admin_get("/stats/prometheus")?;
        if response.status != 200 {
            return Err(format!(
                "/stats/prometheus answered {}: {}",
                response.status,
                response.body_str()
            ));
        }
        Ok(response.body_str())
    }

    /// The value of the counter or gauge with exactly this Envoy stat name
    /// (e.g. `http.ingress.downstream_rq_total`), from `/stats`; `None` if
    /// there is no such stat or the admin interface did not answer.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let text = self.admin_get("/stats").ok()?.body_str();
        text.lines()
            .filter_map(|line| line.split_once(": "))
            .find(|(stat, _)| *stat == name)
            .and_then(|(_, value)| value.trim().parse().ok())
    }

    /// Waits up to `timeout` until [`Envoy::stat`] of `name` equals
    /// `expected` (stats of a request may be recorded just after its response
    /// was sent). Returns the last value seen.
    pub fn wait_for_stat(&self, name: &str, expected: u64, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.stat(name);
            if value == Some(expected) || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Envoy's log so far (the `--log-path` file). Envoy flushes it every
    /// 50 ms and on exit, so a line logged just now may not be there yet: use
    /// [`Envoy::wait_for_log`] to wait for one.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.join("envoy.log"))
    }

    /// What Envoy wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        read_lossy(&self.dir.join("output.log"))
    }

    /// Waits up to `timeout` until Envoy's log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether Envoy has exited; reaps it if so.
    pub fn has_exited(&mut self) -> bool {
        if self.exit_status.is_none() {
            self.exit_status = self.child.try_wait().ok().flatten();
        }
        self.exit_status.is_some()
    }

    /// Stops Envoy now (as dropping does) and returns its exit status if known.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.stop_process();
        self.exit_status
    }

    /// The ends of the log and of stdout/stderr, for error messages.
    fn diagnostics(&self) -> String {
        format!(
            "--- last {LOG_TAIL_LINES} lines of Envoy's log ({KEEP_ENV}=1 keeps {}):\n{}\n--- stdout/stderr:\n{}",
            self.dir.display(),
            tail(&self.log(), LOG_TAIL_LINES),
            tail(&self.output(), LOG_TAIL_LINES)
        )
    }

    /// Asks Envoy to quit, waits [`STOP_TIMEOUT`], then kills it; always reaps it.
    fn stop_process(&mut self) {
        if self.has_exited() {
            return;
        }
        if let Some(admin) = self.admin {
            if admin_request(admin, "POST", "/quitquitquit", POLL_TIMEOUT).is_ok() {
                self.exit_status = process::wait_with_timeout(&mut self.child, STOP_TIMEOUT);
            }
        }
        if self.exit_status.is_none() {
            self.exit_status = process::kill_and_reap(&mut self.child);
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop_process();
        if std::thread::panicking() {
            eprintln!(
                "Envoy (pid {}) stopped during a panic\n{}",
                self.pid(),
                self.diagnostics()
            );
        }
        // Envoy never removes its hot-restart shared memory segment.
        let shm = format!(
            "/dev/shm/envoy_shared_memory_{}",
            u64::from(self.base_id) * 10
        );
        let _ = std::fs::remove_file(shm);
        if !keep_files() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn validate_in(dir: &Path, yaml: &str) -> Result<String, String> {
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, yaml)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let output_path = dir.join("output.log");
    let mut command = envoy_command(&output_path)?;
    command.args(["--mode", "validate", "-c"]).arg(&config_path);
    let mut child =
        process::spawn_tied_to_process(command).map_err(|e| format!("cannot start Envoy: {e}"))?;
    let status = process::wait_with_timeout(&mut child, VALIDATE_TIMEOUT);
    if status.is_none() {
        process::kill_and_reap(&mut child);
    }
    let output = read_lossy(&output_path);
    match status {
        Some(status) if status.success() => Ok(output),
        Some(status) => Err(format!(
            "envoy --mode validate failed ({status}):\n{output}"
        )),
        None => Err(format!(
            "envoy --mode validate did not finish within {} s:\n{output}",
            VALIDATE_TIMEOUT.as_secs()
        )),
    }
}

/// The last `lines` lines of `text`, leaving out the list of statically linked
/// extensions Envoy logs at start and shortening very long lines.
fn tail(text: &str, lines: usize) -> String {
    const MAX_LINE_CHARS: usize = 1000;
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !(line.contains("[source/server/server.cc:") && line.contains("]   ")))
        .collect();
    let start = kept.len().saturating_sub(lines);
    kept.get(start..)
        .unwrap_or_default()
        .iter()
        .map(|line| match line.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => format!("{}...", line.get(..cut).unwrap_or_default()),
            None => (*line).to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn admin_request(
    admin: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let raw = http::build_request(method, path, &[], b"");
    Connection::open_with_timeout(admin, timeout)?
        .send(&raw)
        .map_err(|e| format!("admin {method} {path}: {e}"))
}

/// Reads (name, address) pairs from the `/listeners?format=json` answer.
/// Listeners without a socket address (e.g. pipes) are left out.
fn parse_listeners(json: &serde_json::Value) -> Result<Vec<(String, SocketAddr)>, String> {
    let statuses = json
        .get("listener_statuses")
        .and_then(serde_json::Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut listeners = Vec::new();
    for status in statuses {
        let name = status
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let Some(socket) = status
            .get("local_address")
            .and_then(|a| a.get("socket_address"))
        else {
            continue;
        };
        let address = socket
            .get("address")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let ip: IpAddr = address
            .parse()
            .map_err(|_| format!("listener {name:?} has address {address:?}, not an IP address"))?;
        let port = socket
            .get("port_value")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        listeners.push((name.to_string(), SocketAddr::new(ip, port)));
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn base_ids_fit_envoy_and_differ_per_run_and_pid() {
        let max_pid = 1 << 22;
        assert!(u64::from(base_id_for(max_pid, 99)) * 10 <= u64::from(u32::MAX));
        assert!(u64::from(base_id_for(u32::MAX, 99)) * 10 <= u64::from(u32::MAX));
        assert_ne!(base_id_for(1234, 0), base_id_for(1234, 1));
        assert_ne!(base_id_for(1234, 0), base_id_for(1235, 0));
        assert_ne!(base_id_for(1234, 99), base_id_for(1235, 0));
    }

    #[test]
    fn tail_skips_extension_listing_and_keeps_last_lines() {
        let log = "[t][1][info][main] [source/server/server.cc:467]   envoy.filters.http: a, b\n\
                   one\ntwo\nthree";
        assert_eq!(tail(log, 2), "two\nthree");
        assert_eq!(tail(log, 10), "one\ntwo\nthree");
        let long = "x".repeat(1500);
        assert_eq!(tail(&long, 1).len(), 1003);
    }

    #[test]
    fn listeners_are_parsed_from_admin_json() {
        let json = serde_json::json!({"listener_statuses": [
            {"name": "ingress", "local_address": {"socket_address": {"address": "127.0.0.1", "port_value": 32775}}},
            {"name": "pipe", "local_address": {"pipe": {"path": "/tmp/x"}}},
            {"name": "v6", "local_address": {"socket_address": {"address": "::1", "port_value": 1}}}
        ]});
        let listeners = parse_listeners(&json).unwrap();
        assert_eq!(
            listeners,
            vec![
                ("ingress".to_string(), "127.0.0.1:32775".parse().unwrap()),
                ("v6".to_string(), "[::1]:1".parse().unwrap()),
            ]
        );
    }
}
