//! The short guide `make run` prints once the mesh is ready.

use crate::mesh::Mesh;
use crate::topology::{FRONT, SERVICES};
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where things are in a running mesh, as the guide quotes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// The front proxy's edge listener.
    pub edge: SocketAddr,
    /// (workload, admin address), front first.
    pub admins: Vec<(&'static str, SocketAddr)>,
    /// (service, inbound listener, application), in call order (a, b, c).
    pub services: Vec<(&'static str, SocketAddr, SocketAddr)>,
    /// a's outbound listener.
    pub outbound: SocketAddr,
    /// The shared access log.
    pub access_log: PathBuf,
    /// The mesh's temporary folder.
    pub dir: PathBuf,
    /// Envoy's own logs, as a shell pattern.
    pub envoy_logs: String,
    /// Prometheus' web interface, when it runs (`make run PROMETHEUS=1`).
    pub prometheus: Option<SocketAddr>,
}

impl Addresses {
    /// The addresses of `mesh`.
    pub fn of(mesh: &Mesh) -> Result<Self, String> {
        let mut admins = vec![(FRONT.name, mesh.envoy(FRONT.name)?.admin())];
        let mut services = Vec::new();
        for service in SERVICES.iter().rev() {
            admins.push((service.name, mesh.envoy(service.name)?.admin()));
            services.push((
                service.name,
                mesh.inbound(service.name)?,
                mesh.app(service.name)?,
            ));
        }
        Ok(Self {
            edge: mesh.edge()?,
            admins,
            services,
            outbound: mesh.outbound(FRONT.upstream)?,
            access_log: mesh.access_log_path(),
            dir: mesh.dir().to_path_buf(),
            envoy_logs: envoy_logs_pattern(mesh),
            prometheus: None,
        })
    }
}

/// `<temp>/wasmesh-e2e-<pid>-*/envoy.log`: the harness names each Envoy's folder after the
/// process and a run number.
fn envoy_logs_pattern(mesh: &Mesh) -> String {
    let dirs: Vec<&std::path::Path> = mesh.envoys().map(|(_, envoy)| envoy.dir()).collect();
    let common = dirs.first().and_then(|dir| {
        let name = dir.file_name()?.to_str()?;
        let (prefix, _run) = name.rsplit_once('-')?;
        Some(dir.with_file_name(format!("{prefix}-*")))
    });
    match common {
        Some(pattern) => format!("{}/envoy.log", pattern.display()),
        None => String::from("(unknown)"),
    }
}

/// The guide: topology, requests that succeed, are denied and are rejected, metrics, and
/// how to follow one trace.
pub fn text(at: &Addresses) -> String {
    let edge = format!("http://{}", at.edge);
    let service = |name: &str| {
        at.services
            .iter()
            .find(|(service, _, _)| *service == name)
            .map(|(_, inbound, app)| format!("{name} {inbound} --> app {name} {app}"))
            .unwrap_or_default()
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "
The wasmesh demo mesh is ready. Ctrl-C stops it.

  client --> front {} ==mTLS==> {}
    app a --> a's outbound {} ==mTLS==> {}
                                         ==mTLS==> {}
  front (edge): header-normalization, trace-propagation, service-metrics
  a, b, c (inbound): header-normalization, access-control, trace-propagation, service-metrics
  a's outbound: trace-propagation, service-metrics

200: front -> a -> b and a -> c; each app answers with the headers it received and its calls
  curl -s {edge}/hello | python3 -m json.tool
200: a calls GET /items/7 on c (/call/<service>/<path> makes a call that one service)
  curl -s {edge}/call/c/items/7 | python3 -m json.tool
403 from c's sidecar (access-control): c lets a GET /items/** and nothing else
  curl -si {edge}/call/c/admin
  curl -si -X POST {edge}/call/c/items/7
200 on c's route `c-reports`, whose own access-control rules let a POST (a `routes` entry)
  curl -s -X POST {edge}/call/c/reports/daily | python3 -m json.tool
400 at the edge (header-normalization): an escaped slash
  curl -si '{edge}/call/c/items%2F..%2Fadmin'

Metrics, Prometheus text (service-metrics: wasmesh_service_requests_total by source and
destination service; the other filters' counters too):
",
        at.edge,
        service("a"),
        at.outbound,
        service("b"),
        service("c"),
    );
    for (name, admin) in &at.admins {
        let _ = writeln!(
            out,
            "  curl -s http://{admin}/stats/prometheus | grep '^wasmesh_'    # {name}"
        );
    }
    let _ = write!(
        out,
        "
One trace through every hop's access log (the edge returns the trace id in x-trace-id):
  id=$(curl -s -o /dev/null -w '%header{{x-trace-id}}' {edge}/hello); sleep 0.1; grep \"$id\" {log} | sort

Envoy's own logs, with the filters' log lines, e.g. every access-control denial:
  grep decision=denied {envoy_logs}
Certificates, the Envoy configurations as run, and the access log: {dir}
Access log lines follow as requests arrive.

",
        log = at.access_log.display(),
        dir = at.dir.display(),
        envoy_logs = at.envoy_logs,
    );
    if let Some(prometheus) = at.prometheus {
        let _ = write!(out, "{}", prometheus_text(prometheus));
    }
    out
}

/// Two queries to try in the PromQL of `make run PROMETHEUS=1`, as the guide prints them.
pub const PROMETHEUS_QUERIES: [(&str, &str); 2] = [
    (
        "Requests per second by caller and callee, as each callee's sidecar counts them:",
        "sum by (source_service, destination_service) (rate(wasmesh_service_requests_total{reporter=\"destination\"}[1m]))",
    ),
    (
        "How fast each service burns its availability error budget (1 h window; 1 = exactly on budget):",
        "wasmesh:slo_availability_errors:ratio_rate1h / scalar(1 - wasmesh:slo_availability:objective)",
    ),
];

/// The guide's Prometheus part: where it is and two queries to try.
fn prometheus_text(prometheus: SocketAddr) -> String {
    let mut out = format!(
        "Prometheus scrapes every sidecar (job wasmesh-mesh, labels namespace and app) with the SLO
rules of deploy/prometheus loaded; the dashboards of deploy/grafana import into Grafana:
  http://{prometheus}/graph      (alerts: http://{prometheus}/alerts)
"
    );
    for (what, query) in PROMETHEUS_QUERIES {
        let _ = write!(
            out,
            "{what}
  {query}
  curl -s http://{prometheus}/api/v1/query --data-urlencode 'query={query}' | python3 -m json.tool
"
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn addresses() -> Addresses {
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Addresses {
            edge: at(10000),
            admins: vec![("front", at(9901)), ("a", at(9902))],
            services: vec![
                ("a", at(10001), at(8001)),
                ("b", at(10002), at(8002)),
                ("c", at(10003), at(8003)),
            ],
            outbound: at(10011),
            access_log: "/tmp/m/access.log".into(),
            dir: "/tmp/m".into(),
            envoy_logs: "/tmp/e-1-*/envoy.log".into(),
            prometheus: None,
        }
    }

    #[test]
    fn the_guide_quotes_the_mesh_addresses() {
        let text = text(&addresses());
        for expected in [
            "curl -s http://127.0.0.1:10000/hello",
            "curl -si http://127.0.0.1:10000/call/c/admin",
            "curl -si 'http://127.0.0.1:10000/call/c/items%2F..%2Fadmin'",
            "grep decision=denied /tmp/e-1-*/envoy.log",
            "curl -s http://127.0.0.1:9902/stats/prometheus | grep '^wasmesh_'    # a",
            "client --> front 127.0.0.1:10000 ==mTLS==> a 127.0.0.1:10001 --> app a 127.0.0.1:8001",
            "a's outbound 127.0.0.1:10011 ==mTLS==> b 127.0.0.1:10002 --> app b 127.0.0.1:8002",
            "==mTLS==> c 127.0.0.1:10003 --> app c 127.0.0.1:8003",
            "-w '%header{x-trace-id}' http://127.0.0.1:10000/hello); sleep 0.1; grep \"$id\" /tmp/m/access.log | sort",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        assert!(!text.contains("/api/v1/query"), "{text}");
    }

    #[test]
    fn the_guide_quotes_prometheus_and_two_queries_when_it_runs() {
        let mut at = addresses();
        at.prometheus = Some(SocketAddr::from(([127, 0, 0, 1], 10090)));
        let text = text(&at);
        assert!(text.contains("  http://127.0.0.1:10090/graph"), "{text}");
        for (_, query) in PROMETHEUS_QUERIES {
            assert!(text.contains(&format!("\n  {query}\n")), "{text}");
            assert!(
                text.contains(&format!(
                    "curl -s http://127.0.0.1:10090/api/v1/query --data-urlencode 'query={query}'"
                )),
                "{text}"
            );
        }
    }
}
