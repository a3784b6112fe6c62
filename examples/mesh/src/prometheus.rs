//! Prometheus for the demo mesh: `make run PROMETHEUS=1`, and the dashboard and SLO rule
//! tests (`e2e/tests/dashboards.rs`).
//!
//! One scrape job, `wasmesh-mesh`, over every Envoy's admin interface
//! (`/stats/prometheus`), each target labelled as Kubernetes service discovery would label
//! a pod's: `namespace="demo"` and `app="<workload>"`. The dashboards of `deploy/grafana/`
//! filter on those two. Every `*.rules.yaml` of `deploy/prometheus/` is loaded: the SLO
//! recording and alerting rules. Prometheus is Debian's `prometheus` binary, run through
//! the e2e harness (`wasmesh_e2e::Prometheus`): 127.0.0.1 only, stopped with SIGTERM then
//! SIGKILL.

use crate::mesh::{Mesh, Ports};
use std::path::PathBuf;
use std::time::Duration;
use wasmesh_e2e::prometheus::Target;
use wasmesh_e2e::{paths, Prometheus, PrometheusConfig};

/// Prometheus' port in `make run PROMETHEUS=1` (not 9090, where Debian's own
/// `prometheus` service listens once the package is installed).
pub const PROMETHEUS_PORT: u16 = 10090;

/// The namespace every workload of the mesh is in (its SPIFFE IDs say `/ns/demo/`).
pub const NAMESPACE: &str = "demo";

/// The scrape job.
pub const JOB: &str = "wasmesh-mesh";

/// The folder of the rule files, relative to the repository root.
pub const RULES_DIR: &str = "deploy/prometheus";

/// Every `*.rules.yaml` in [`RULES_DIR`], sorted.
pub fn rule_files() -> Result<Vec<PathBuf>, String> {
    let dir = paths::repo_root().join(RULES_DIR);
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(".rules.yaml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.rules.yaml in {}", dir.display()));
    }
    Ok(files)
}

/// What Prometheus scrapes for `mesh`, every `interval`.
pub fn config(mesh: &Mesh, ports: Ports, interval: Duration) -> Result<PrometheusConfig, String> {
    let targets = mesh
        .envoys()
        .map(|(workload, envoy)| Target {
            address: envoy.admin(),
            labels: vec![
                ("namespace".to_owned(), NAMESPACE.to_owned()),
                ("app".to_owned(), workload.to_owned()),
            ],
        })
        .collect();
    Ok(PrometheusConfig {
        job: JOB.to_owned(),
        interval,
        targets,
        rule_files: rule_files()?,
        port: match ports {
            Ports::Fixed => Some(PROMETHEUS_PORT),
            Ports::Any => None,
        },
    })
}

/// Starts Prometheus scraping `mesh` every `interval`, with the rules loaded.
pub fn start(mesh: &Mesh, ports: Ports, interval: Duration) -> Result<Prometheus, String> {
    Prometheus::start(&config(mesh, ports, interval)?)
        .map_err(|e| format!("Prometheus did not start: {e}"))
}
