//! A real Prometheus server (Debian's `prometheus` package) scraping Envoys, for the
//! dashboard and SLO rule tests and for `make run PROMETHEUS=1`.
//!
//! [`Prometheus::start`] writes the configuration (JSON, which Prometheus reads as YAML)
//! into a fresh directory with the TSDB, starts `prometheus` on 127.0.0.1 and waits for
//! `/-/ready`. Dropping it sends SIGTERM, waits, then SIGKILL, and reaps the process;
//! on Linux the kernel also kills it if the test process dies. The directory is removed
//! unless `WASMESH_E2E_KEEP=1`.
//!
//! Queries go through the HTTP API (`/api/v1/query`, `/api/v1/label/.../values`,
//! `/api/v1/rules`, `/api/v1/alerts`); answers are parsed with `serde_json`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::envoy::KEEP_ENV;
use crate::http::{self, Connection};
use crate::process;

/// Environment variable naming the Prometheus binary to use instead of `prometheus` on `PATH`.
pub const PROMETHEUS_BIN_ENV: &str = "PROMETHEUS_BIN";
/// How long Prometheus may take to answer `/-/ready`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Prometheus may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of each request while waiting for readiness.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// Start attempts when the port picked for Prometheus was taken in between.
const START_ATTEMPTS: u32 = 3;
/// Lines of Prometheus' log quoted in error messages.
const LOG_TAIL_LINES: usize = 30;

/// Prometheus runs started by this process so far; part of each run's directory name.
static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// One scrape target: an Envoy admin interface, scraped at `/stats/prometheus`, with the
/// target labels every series it exposes gets (as Kubernetes service discovery would
/// attach `namespace` and `app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` of the admin interface.
    pub address: SocketAddr,
    /// Target labels, e.g. `[("namespace", "demo"), ("app", "c")]`.
    pub labels: Vec<(String, String)>,
}

/// What Prometheus scrapes and evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// The `job` label of every target.
    pub job: String,
    /// Scrape and rule evaluation interval.
    pub interval: Duration,
    /// The Envoys to scrape.
    pub targets: Vec<Target>,
    /// Rule files to load (recording and alerting rules), absolute paths.
    pub rule_files: Vec<PathBuf>,
    /// The port to listen on (127.0.0.1); `None`: a free one.
    pub port: Option<u16>,
}

impl PrometheusConfig {
    /// The configuration file's content: JSON, which is YAML to Prometheus.
    pub fn to_file_content(&self) -> String {
        let seconds = format!("{}s", self.interval.as_secs().max(1));
        let static_configs: Vec<Value> = self
            .targets
            .iter()
            .map(|target| {
                let labels: serde_json::Map<String, Value> = target
                    .labels
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                    .collect();
                json!({"targets": [target.address.to_string()], "labels": labels})
            })
            .collect();
        let rule_files: Vec<String> = self
            .rule_files
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        let config = json!({
            "global": {
                "scrape_interval": seconds,
                "scrape_timeout": seconds,
                "evaluation_interval": seconds,
            },
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": self.job,
                "metrics_path": "/stats/prometheus",
                "static_configs": static_configs,
            }],
        });
        format!("{config:#}\n")
    }
}

/// The Prometheus binary: `$PROMETHEUS_BIN`, else `prometheus` on `PATH`. The error names
/// the Debian package.
pub fn prometheus_bin() -> Result<PathBuf, String> {
    if let Some(configured) = std::env::var_os(PROMETHEUS_BIN_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(configured));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "prometheus is not on PATH: install Debian's prometheus package \
                 (apt-get install --no-install-recommends prometheus), or set {PROMETHEUS_BIN_ENV}"
            )
        })
}

/// A running Prometheus; dropping it stops it.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    address: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus with `config` and waits until it is ready. With a free port
    /// picked here, a port taken before Prometheus binds it is retried with another.
    pub fn start(config: &PrometheusConfig) -> Result<Self, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match config.port {
                Some(port) => port,
                None => free_port()?,
            };
            match Self::start_on(config, port) {
                Err(error)
                    if config.port.is_none()
                        && attempt < START_ATTEMPTS
                        && error.contains("address already in use") => {}
                outcome => return outcome,
            }
        }
    }

    fn start_on(config: &PrometheusConfig, port: u16) -> Result<Self, String> {
        let bin = prometheus_bin()?;
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wasmesh-prometheus-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config.to_file_content())
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(&bin);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=info")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = process::spawn_tied_to_process(command)
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut prometheus = Self {
            child,
            dir,
            address,
        };
        prometheus.wait_ready()?;
        Ok(prometheus)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "Prometheus exited during start ({status})\n{}",
                    self.diagnostics()
                ));
            }
            let raw = http::build_request("GET", "/-/ready", &[], b"");
            let ready = Connection::open_with_timeout(self.address, POLL_TIMEOUT)
                .and_then(|mut connection| connection.send(&raw));
            if matches!(ready, Ok(ref response) if response.status == 200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Prometheus was not ready on {} within {} s\n{}",
                    self.address,
                    START_TIMEOUT.as_secs(),
                    self.diagnostics()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where Prometheus listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its web interface, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This run's directory (configuration, TSDB, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Prometheus' own log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.join("prometheus.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Whether Prometheus has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn diagnostics(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(LOG_TAIL_LINES)..)
            .unwrap_or_default()
            .join("\n");
        format!(
            "--- last {LOG_TAIL_LINES} lines of Prometheus' log ({KEEP_ENV}=1 keeps {}):\n{tail}",
            self.dir.display()
        )
    }

    /// `GET path` on the HTTP API; the `data` of a `"status": "success"` answer, else
    /// the error Prometheus gave (a query that does not parse, say).
    pub fn api_get(&self, path: &str) -> Result<Value, String> {
        let response = http::get(self.address, path, &[])?;
        let body = response.json()?;
        let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
        if field("status") != "success" {
            return Err(format!(
                "GET {path}: status {}: {} {}",
                response.status,
                field("errorType"),
                field("error")
            ));
        }
        Ok(field("data"))
    }

    /// An instant query at the current time: the samples of `data.result`, each
    /// `{"metric": {...}, "value": [time, "value"]}` (a scalar result is one such sample
    /// with no labels). Fails when the query does not parse or cannot be evaluated.
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self
            .api_get(&format!("/api/v1/query?query={}", encode(expr)))
            .map_err(|e| format!("{e}\nquery: {expr}"))?;
        Ok(match data.get("result").unwrap_or(&Value::Null) {
            Value::Array(samples) => samples.clone(),
            Value::Null => Vec::new(),
            other => vec![json!({"metric": {}, "value": other})],
        })
    }

    /// The values of label `label` on the series matching `selector`, as Grafana's
    /// `label_values(selector, label)` lists them.
    pub fn label_values(&self, selector: &str, label: &str) -> Result<Vec<String>, String> {
        let data = self.api_get(&format!(
            "/api/v1/label/{}/values?match[]={}",
            encode(label),
            encode(selector)
        ))?;
        Ok(data
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every rule group loaded (`/api/v1/rules`), with each rule's health and last error.
    pub fn rule_groups(&self) -> Result<Vec<Value>, String> {
        let data = self.api_get("/api/v1/rules")?;
        Ok(data
            .get("groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The alerts pending or firing (`/api/v1/alerts`).
    pub fn alerts(&self) -> Result<Vec<Value>, String> {
        let data = self.api_get("/api/v1/alerts")?;
        Ok(data
            .get("alerts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Runs `expr` until it returns at least one sample, for up to `timeout`.
    pub fn wait_for_data(&self, expr: &str, timeout: Duration) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.query(expr)?;
            if !samples.is_empty() {
                return Ok(samples);
            }
            if Instant::now() >= deadline {
                return Err(format!("no data within {} s for {expr}", timeout.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        process::terminate(&mut self.child, STOP_TIMEOUT);
        if std::thread::panicking() {
            eprintln!(
                "Prometheus (pid {}) stopped during a panic\n{}",
                self.child.id(),
                self.diagnostics()
            );
        }
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            eprintln!("prometheus: kept {} ({KEEP_ENV}=1)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// A port free on 127.0.0.1 just now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_configuration_scrapes_every_target_with_its_labels() {
        let config = PrometheusConfig {
            job: "mesh".to_owned(),
            interval: Duration::from_secs(1),
            targets: vec![Target {
                address: "127.0.0.1:9904".parse().unwrap(),
                labels: vec![("namespace".to_owned(), "demo".to_owned())],
            }],
            rule_files: vec![PathBuf::from("/r/slo.rules.yaml")],
            port: None,
        };
        let parsed: Value = serde_json::from_str(&config.to_file_content()).unwrap();
        assert_eq!(parsed["global"]["scrape_interval"], "1s");
        assert_eq!(parsed["global"]["evaluation_interval"], "1s");
        assert_eq!(parsed["rule_files"], json!(["/r/slo.rules.yaml"]));
        let scrape = &parsed["scrape_configs"][0];
        assert_eq!(scrape["metrics_path"], "/stats/prometheus");
        assert_eq!(
            scrape["static_configs"],
            json!([{"targets": ["127.0.0.1:9904"], "labels": {"namespace": "demo"}}])
        );
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(encode("up{a=\"b\"}"), "up%7Ba%3D%22b%22%7D");
    }
}
