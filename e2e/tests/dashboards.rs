//! The dashboards of `deploy/grafana/` and the SLO rules of `deploy/prometheus/`, run by a
//! real Prometheus (Debian's `prometheus`) scraping the demo mesh every second, as
//! `make run PROMETHEUS=1` runs it.
//!
//! Grafana itself is not needed: a dashboard is its JSON model. Every variable's
//! `label_values(...)` query is run through Prometheus' label API and must offer the value
//! the test picks; every panel target's `expr`, with the variables and Grafana's
//! `$__rate_interval`/`$__range` substituted, is run as an instant query and must return at
//! least one finite sample. The mesh gets a steady mix of traffic (answered, denied,
//! refused) and, half-way, an outage: c's application stops, so c's sidecar answers 503
//! (`UF`) and the availability alerts must go pending for c. Every recording rule must return
//! data, and every alert's expression, with its thresholds at zero, too.
//!
//! And Istio's published service and workload dashboards, with `naming: "istio"`: their
//! queries (request volume, success rate, p99 duration, request and response sizes, by
//! source workload and over mTLS) against `envoy-test-configs/service-metrics-mtls.yaml`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mesh::{Mesh, Ports};
use serde_json::Value;
use wasmesh_e2e::pki::{CertificateAuthority, ExtendedKeyUsage, SubjectAltName};
use wasmesh_e2e::prometheus::Target;
use wasmesh_e2e::{
    http, paths, EchoRequest, EchoResponse, EchoServer, Envoy, EnvoyConfig, Prometheus,
    PrometheusConfig,
};

/// How often Prometheus scrapes and evaluates rules in these tests.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long data may take to show up in Prometheus.
const SETTLE: Duration = Duration::from_secs(30);
/// Grafana's built-in variables, as a dashboard over the last few minutes sets them
/// (`$__rate_interval` is at least four scrape intervals).
const GRAFANA_BUILTINS: [(&str, &str); 3] = [
    ("__rate_interval", "1m"),
    ("__interval", "5s"),
    ("__range", "5m"),
];

/// Each dashboard with the variable values the test picks: the overview and the policy
/// dashboard for c (answered, denied, refused and, after the outage, failed requests), the
/// service view for a (it has a caller, and calls b and c).
const DASHBOARDS: [(&str, &[(&str, &str)]); 3] = [
    (
        "wasmesh-mesh-overview.json",
        &[("namespace", "demo"), ("service", "c")],
    ),
    (
        "wasmesh-service.json",
        &[("namespace", "demo"), ("service", "a")],
    ),
    (
        "wasmesh-policy.json",
        &[("namespace", "demo"), ("service", "c")],
    ),
];

/// Requests sent over and over from a thread until dropped.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    /// `round` every 200 ms.
    fn start(round: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                round();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One round of the demo mesh's traffic: answered, denied at c, refused at the edge and at
/// c's inbound sidecar. Statuses are not checked here (they change with the outage).
fn mesh_round(edge: SocketAddr, a_outbound: SocketAddr) {
    let _ = http::get(edge, "/hello", &[]);
    let _ = http::get(edge, "/call/c/items/7", &[]);
    let _ = http::get(edge, "/call/c/admin", &[]);
    let _ = http::post(edge, "/call/c/items/7", &[], b"{}");
    let _ = http::get(edge, "/call/c/items%2F..%2Fadmin", &[]);
    let _ = http::get(a_outbound, "/items%2F..%2Fadmin", &[("host", "c")]);
}

/// `text` with every `$name` and `${name}` of `values` replaced, longest names first.
fn substitute(text: &str, values: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = values.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = text.to_owned();
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// Whether a sample's value (`[time, "value"]`) is a finite number.
fn finite(sample: &Value) -> bool {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(f64::is_finite)
}

/// Runs `expr`; `None` when it returned at least one finite sample, else what went wrong.
fn check_query(prometheus: &Prometheus, what: &str, expr: &str) -> Option<String> {
    match prometheus.query(expr) {
        Err(error) => Some(format!("{what}: {error}")),
        Ok(samples) if samples.iter().any(finite) => None,
        Ok(samples) => Some(format!(
            "{what}: no finite sample in {samples:?}\n  query: {expr}"
        )),
    }
}

/// Every panel of a dashboard, rows' collapsed panels included.
fn panels(board: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in board["panels"].as_array().unwrap() {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// Checks one dashboard as Grafana would run it with `picked` variable values: the
/// variables offer them, and every target returns data. Returns the failures and the
/// number of queries run.
fn check_dashboard(
    prometheus: &Prometheus,
    file: &str,
    picked: &[(&str, &str)],
) -> (Vec<String>, usize) {
    let path = paths::repo_root().join("deploy/grafana").join(file);
    let board: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut values: Vec<(&str, String)> = GRAFANA_BUILTINS
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect();
    let mut failures = Vec::new();
    let mut queries = 0;
    for variable in board["templating"]["list"].as_array().unwrap() {
        let name = variable["name"].as_str().unwrap();
        if variable["type"] == "datasource" {
            continue;
        }
        let definition = variable["definition"].as_str().unwrap();
        let (selector, label) = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|args| args.rsplit_once(','))
            .unwrap_or_else(|| panic!("{file}: ${name}: not label_values(...): {definition}"));
        let selector = substitute(selector.trim(), &values);
        let offered = prometheus
            .label_values(&selector, label.trim())
            .unwrap_or_else(|e| panic!("{file}: ${name}: {e}"));
        queries += 1;
        let (_, value) = picked
            .iter()
            .find(|(picked, _)| *picked == name)
            .unwrap_or_else(|| panic!("{file}: no value picked for ${name}"));
        if !offered.iter().any(|v| v == value) {
            failures.push(format!(
                "{file}: ${name} offers {offered:?}, not {value:?} ({definition})"
            ));
        }
        values.push((name, (*value).to_owned()));
    }
    for panel in panels(&board) {
        let title = panel["title"].as_str().unwrap_or_default();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let expr = substitute(expr, &values);
            assert!(
                !expr.contains('$'),
                "{file}: {title}: unsubstituted in {expr}"
            );
            let what = format!("{file}: {title} ({})", target["refId"]);
            queries += 1;
            failures.extend(check_query(prometheus, &what, &expr));
        }
    }
    (failures, queries)
}

/// The expression of an alerting rule as Prometheus loaded it, with its burn-rate
/// thresholds at zero: it then returns every service with a ratio in both windows.
fn with_zero_thresholds(name: &str, expr: &str) -> String {
    let mut zeroed = expr.to_owned();
    for (from, to) in [("14.4 *", "0 *"), ("6 *", "0 *"), (" > ", " >= ")] {
        let found = zeroed.matches(from).count();
        zeroed = zeroed.replace(from, to);
        if from == " > " {
            assert_eq!(found, 2, "{name}: two window comparisons in {expr}");
        }
    }
    assert!(
        zeroed.contains("0 *"),
        "{name}: no burn-rate factor in {expr}"
    );
    zeroed
}

/// Checks the loaded rules: all healthy, every recording rule returns data, every alert's
/// expression with zero thresholds returns data. Returns failures and rule count.
fn check_rules(prometheus: &Prometheus) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut count = 0;
    let groups = prometheus.rule_groups().unwrap();
    let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(
        names,
        ["wasmesh-slo-availability", "wasmesh-slo-latency"],
        "rule groups"
    );
    for group in &groups {
        for rule in group["rules"].as_array().unwrap() {
            count += 1;
            let name = rule["name"].as_str().unwrap();
            if rule["health"] != "ok" {
                failures.push(format!(
                    "rule {name}: health {} {}",
                    rule["health"], rule["lastError"]
                ));
            }
            match rule["type"].as_str() {
                Some("recording") => {
                    failures.extend(check_query(prometheus, &format!("rule {name}"), name));
                }
                Some("alerting") => {
                    let expr = with_zero_thresholds(name, rule["query"].as_str().unwrap());
                    failures.extend(check_query(
                        prometheus,
                        &format!("alert {name}, thresholds at zero"),
                        &expr,
                    ));
                }
                other => failures.push(format!("rule {name}: type {other:?}")),
            }
        }
    }
    (failures, count)
}

#[test]
fn every_dashboard_query_and_slo_rule_returns_data_against_the_demo_mesh() {
    let mut mesh = Mesh::start(Ports::Any).unwrap();
    let prometheus = mesh::prometheus::start(&mesh, Ports::Any, INTERVAL).unwrap();
    prometheus
        .wait_for_data(r#"count(up{job="wasmesh-mesh"} == 1) == 4"#, SETTLE)
        .unwrap();
    let (edge, a_outbound) = (mesh.edge().unwrap(), mesh.outbound("a").unwrap());
    let traffic = Traffic::start(move || mesh_round(edge, a_outbound));

    // A few healthy seconds, then c's application goes down.
    prometheus
        .wait_for_data(
            r#"sum(rate(wasmesh_service_requests_total{reporter="destination", destination_service="c", response_code="200"}[1m])) > 0"#,
            SETTLE,
        )
        .unwrap();
    mesh.stop_app("c").unwrap();
    for alert in [
        "WasmeshAvailabilityBudgetFastBurn",
        "WasmeshAvailabilityBudgetSlowBurn",
    ] {
        prometheus
            .wait_for_data(
                &format!(
                    r#"ALERTS{{alertname="{alert}", namespace="demo", destination_service="c"}}"#
                ),
                SETTLE,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "{alert} is neither pending nor firing for c: {e}\nalerts: {:#?}",
                    prometheus.alerts()
                )
            });
    }
    // The outage shows in the flags: c's sidecar could not connect to its application.
    prometheus
        .wait_for_data(
            r#"wasmesh_service_requests_total{app="c", destination_service="c", response_code="503", response_flags="UF"}"#,
            SETTLE,
        )
        .unwrap();

    // Every dashboard of deploy/grafana is checked here.
    let mut files: Vec<String> = std::fs::read_dir(paths::repo_root().join("deploy/grafana"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<&str> = DASHBOARDS.iter().map(|(file, _)| *file).collect();
    listed.sort_unstable();
    assert_eq!(
        files, listed,
        "DASHBOARDS lists every file of deploy/grafana"
    );

    let mut failures = Vec::new();
    for (file, picked) in DASHBOARDS {
        let (found, queries) = check_dashboard(&prometheus, file, picked);
        eprintln!("{file}: {queries} queries, {} without data", found.len());
        failures.extend(found);
    }
    let (found, rules) = check_rules(&prometheus);
    eprintln!("deploy/prometheus: {rules} rules, {} failed", found.len());
    failures.extend(found);
    drop(traffic);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- Istio's dashboards, naming: "istio" ---------------------------------------------------

/// Where `service-metrics-mtls.yaml` reads its certificates.
const MTLS_CERT_DIR: &str = "/tmp/wasmesh-service-metrics-certs";
/// reviews' inbound configuration, with the service host Istio reports as
/// `destination_service`.
const REVIEWS: &str = r#""service": "reviews", "namespace": "shop","#;
const REVIEWS_IN_ISTIO: &str = r#""service": "reviews", "service_host": "reviews.shop.svc.cluster.local", "namespace": "shop","#;

/// A dashboard variable filled by a query, as Istio's dashboards define them
/// (`query_result(<PromQL>)` with a regex picking `label`).
struct IstioVariable {
    name: &'static str,
    query: &'static str,
    label: &'static str,
    /// The value picked; `None`: "All" (every value offered, as `(v1|v2)`).
    pick: Option<&'static str>,
}

/// The variables of Istio's service dashboard (istio-service-dashboard.json), `$qrep` (a
/// custom variable) set to `destination`.
const SERVICE_DASHBOARD_VARIABLES: &[IstioVariable] = &[
    IstioVariable {
        name: "service",
        query: "sum(istio_requests_total{}) by (destination_service) or sum(istio_tcp_sent_bytes_total{}) by (destination_service)",
        label: "destination_service",
        pick: Some("reviews.shop.svc.cluster.local"),
    },
    IstioVariable {
        name: "srcns",
        query: r#"sum(istio_requests_total{reporter=~"$qrep", destination_service="$service"}) by (source_workload_namespace) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_service="$service"}) by (source_workload_namespace)"#,
        label: "source_workload_namespace",
        pick: None,
    },
    IstioVariable {
        name: "srcwl",
        query: r#"sum(istio_requests_total{reporter=~"$qrep", destination_service="$service", source_workload_namespace=~"$srcns"}) by (source_workload) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_service="$service", source_workload_namespace=~"$srcns"}) by (source_workload)"#,
        label: "source_workload",
        pick: None,
    },
    IstioVariable {
        name: "dstns",
        query: r#"sum(istio_requests_total{reporter="destination", destination_service="$service"}) by (destination_workload_namespace) or sum(istio_tcp_sent_bytes_total{reporter="destination", destination_service="$service"}) by (destination_workload_namespace)"#,
        label: "destination_workload_namespace",
        pick: None,
    },
    IstioVariable {
        name: "dstwl",
        query: r#"sum(istio_requests_total{reporter="destination", destination_service="$service", destination_workload_namespace=~"$dstns"}) by (destination_workload) or sum(istio_tcp_sent_bytes_total{reporter="destination", destination_service="$service", destination_workload_namespace=~"$dstns"}) by (destination_workload)"#,
        label: "destination_workload",
        pick: None,
    },
];

/// Panels of Istio's service dashboard: (title, expr), in its own PromQL.
const SERVICE_DASHBOARD: &[(&str, &str)] = &[
    (
        "Client Request Volume",
        r#"round(sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])), 0.001)"#,
    ),
    (
        "Client Success Rate (non-5xx responses)",
        r#"sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service",response_code!~"5.*"}[$__rate_interval])) / (sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])) or on () vector(1))"#,
    ),
    (
        "Client Request Duration P99",
        r#"(histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])) by (le)) / 1000) or histogram_quantile(0.99, sum(irate(istio_request_duration_seconds_bucket{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])) by (le))"#,
    ),
    (
        "Server Request Volume",
        r#"round(sum(irate(istio_requests_total{reporter="destination",destination_service="$service"}[$__rate_interval])), 0.001)"#,
    ),
    (
        "Server Success Rate (non-5xx responses)",
        r#"sum(irate(istio_requests_total{reporter="destination",destination_service="$service",response_code!~"5.*"}[$__rate_interval])) / (sum(irate(istio_requests_total{reporter="destination",destination_service="$service"}[$__rate_interval])) or on () vector(1))"#,
    ),
    (
        "Incoming Requests By Source And Response Code (mTLS)",
        r#"round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls",destination_service="$service",reporter=~"$qrep",source_workload=~"$srcwl",source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, response_code), 0.001)"#,
    ),
    (
        "Incoming Success Rate (non-5xx responses) By Source (mTLS)",
        r#"sum(irate(istio_requests_total{reporter=~"$qrep", connection_security_policy="mutual_tls",destination_service="$service",response_code!~"5.*", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace) / sum(irate(istio_requests_total{reporter=~"$qrep", connection_security_policy="mutual_tls",destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace)"#,
    ),
    (
        "Incoming Request Duration By Source P99 (mTLS)",
        r#"(histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le)) / 1000) or histogram_quantile(0.99, sum(irate(istio_request_duration_seconds_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))"#,
    ),
    (
        "Incoming Request Size By Source P99 (mTLS)",
        r#"histogram_quantile(0.99, sum(irate(istio_request_bytes_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))"#,
    ),
    (
        "Response Size By Source P99 (mTLS)",
        r#"histogram_quantile(0.99, sum(irate(istio_response_bytes_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))"#,
    ),
    (
        "Incoming Requests By Destination Workload And Response Code (mTLS)",
        r#"round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls",destination_service="$service",reporter="destination",destination_workload=~"$dstwl",destination_workload_namespace=~"$dstns"}[$__rate_interval])) by (destination_workload, destination_workload_namespace, response_code), 0.001)"#,
    ),
];

/// The non-mTLS halves of the same panels: every caller here comes over mutual TLS, so
/// they must evaluate and be empty.
const SERVICE_DASHBOARD_PLAINTEXT: &[(&str, &str)] = &[
    (
        "Incoming Requests By Source And Response Code (plaintext)",
        r#"round(sum(irate(istio_requests_total{connection_security_policy!="mutual_tls",destination_service="$service",reporter=~"$qrep",source_workload=~"$srcwl",source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, response_code), 0.001)"#,
    ),
    (
        "Incoming Request Size By Source P99 (plaintext)",
        r#"histogram_quantile(0.99, sum(irate(istio_request_bytes_bucket{reporter=~"$qrep", connection_security_policy!="mutual_tls", destination_service="$service", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))"#,
    ),
];

/// The variables of Istio's workload dashboard (istio-workload-dashboard.json) for one
/// workload, `$qrep` set by the caller: those of its inbound panels (callers) or of its
/// outbound panels (callees).
fn workload_variables(
    namespace: &'static str,
    workload: &'static str,
    outbound: bool,
) -> Vec<IstioVariable> {
    let mut variables = vec![
        IstioVariable {
            name: "namespace",
            query: "sum(istio_requests_total) by (destination_workload_namespace) or sum(istio_requests_total) by (source_workload_namespace) or sum(istio_tcp_sent_bytes_total) by (destination_workload_namespace) or sum(istio_tcp_sent_bytes_total) by (source_workload_namespace)",
            label: "namespace",
            pick: Some(namespace),
        },
        IstioVariable {
            name: "workload",
            query: r#"(sum(istio_requests_total{destination_workload_namespace=~"$namespace"}) by (destination_workload) or sum(istio_requests_total{source_workload_namespace=~"$namespace"}) by (source_workload)) or (sum(istio_tcp_sent_bytes_total{destination_workload_namespace=~"$namespace"}) by (destination_workload) or sum(istio_tcp_sent_bytes_total{source_workload_namespace=~"$namespace"}) by (source_workload))"#,
            label: "workload",
            pick: Some(workload),
        },
    ];
    let callers = [
        IstioVariable {
            name: "srcns",
            query: r#"sum(istio_requests_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace"}) by (source_workload_namespace) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace"}) by (source_workload_namespace)"#,
            label: "source_workload_namespace",
            pick: None,
        },
        IstioVariable {
            name: "srcwl",
            query: r#"sum(istio_requests_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace", source_workload_namespace=~"$srcns"}) by (source_workload) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace", source_workload_namespace=~"$srcns"}) by (source_workload)"#,
            label: "source_workload",
            pick: None,
        },
    ];
    let callees = [IstioVariable {
        name: "dstsvc",
        query: r#"sum(istio_requests_total{reporter="source", source_workload=~"$workload", source_workload_namespace=~"$namespace"}) by (destination_service) or sum(istio_tcp_sent_bytes_total{reporter="source", source_workload=~"$workload", source_workload_namespace=~"$namespace"}) by (destination_service)"#,
        label: "destination_service",
        pick: None,
    }];
    if outbound {
        variables.extend(callees);
    } else {
        variables.extend(callers);
    }
    variables
}

/// Inbound panels of Istio's workload dashboard, for reviews.shop.
const WORKLOAD_DASHBOARD_INBOUND: &[(&str, &str)] = &[
    (
        "Incoming Request Volume",
        r#"round(sum(irate(istio_requests_total{reporter="$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[5m])), 0.001)"#,
    ),
    (
        "Incoming Success Rate (non-5xx responses)",
        r#"sum(irate(istio_requests_total{reporter="$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload",response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total{reporter="$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[5m]))"#,
    ),
    (
        "Request Duration P99",
        r#"(histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter="$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[1m])) by (le)) / 1000) or histogram_quantile(0.99, sum(irate(istio_request_duration_seconds_bucket{reporter="$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[1m])) by (le))"#,
    ),
    (
        "Incoming Requests By Source And Response Code (mTLS)",
        r#"round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", reporter=~"$qrep", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[5m])) by (source_workload, source_workload_namespace, response_code), 0.001)"#,
    ),
    (
        "Incoming Request Size By Source P99 (mTLS)",
        r#"histogram_quantile(0.99, sum(irate(istio_request_bytes_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload=~"$workload", destination_workload_namespace=~"$namespace", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[1m])) by (source_workload, source_workload_namespace, le))"#,
    ),
];

/// Outbound panels of Istio's workload dashboard, for frontend.web.
const WORKLOAD_DASHBOARD_OUTBOUND: &[(&str, &str)] = &[
    (
        "Outgoing Request Volume",
        r#"round(sum(irate(istio_requests_total{reporter=~"$qrep", source_workload_namespace=~"$namespace", source_workload=~"$workload"}[5m])), 0.001)"#,
    ),
    (
        "Outgoing Requests By Destination And Response Code (mTLS)",
        r#"round(sum(irate(istio_requests_total{destination_principal=~"spiffe.*", source_workload_namespace=~"$namespace", source_workload=~"$workload", reporter="source", destination_service=~"$dstsvc"}[5m])) by (destination_service, response_code), 0.001)"#,
    ),
    (
        "Outgoing Success Rate (non-5xx responses) By Destination (mTLS)",
        r#"sum(irate(istio_requests_total{reporter="source", connection_security_policy="mutual_tls", source_workload_namespace=~"$namespace", source_workload=~"$workload",response_code!~"5.*", destination_service=~"$dstsvc"}[5m])) by (destination_service) / sum(irate(istio_requests_total{reporter="source", connection_security_policy="mutual_tls", source_workload_namespace=~"$namespace", source_workload=~"$workload", destination_service=~"$dstsvc"}[5m])) by (destination_service)"#,
    ),
    (
        "Outgoing Request Duration By Destination P99 (mTLS)",
        r#"(histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[1m])) by (destination_service, le)) / 1000) or histogram_quantile(0.99, sum(irate(istio_request_duration_seconds_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[1m])) by (destination_service, le))"#,
    ),
    (
        "Response Size By Destination P99 (mTLS)",
        r#"histogram_quantile(0.99, sum(irate(istio_response_bytes_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[1m])) by (destination_service, le))"#,
    ),
];

/// Resolves `variables` in order, as Grafana would: each query run with the values so
/// far, a picked value checked against what it offers, "All" as `(v1|v2|...)`.
fn resolve(
    prometheus: &Prometheus,
    dashboard: &str,
    mut values: Vec<(&'static str, String)>,
    variables: &[IstioVariable],
) -> Vec<(&'static str, String)> {
    for variable in variables {
        let query = substitute(variable.query, &values);
        let samples = prometheus
            .query(&query)
            .unwrap_or_else(|e| panic!("{dashboard}: ${}: {e}", variable.name));
        // The dashboards' regexes (`/.*namespace="([^"]*).*/`) take the first label whose
        // name ends so; each query here groups by one label.
        let mut offered: Vec<String> = samples
            .iter()
            .filter_map(|s| {
                s["metric"]
                    .as_object()?
                    .iter()
                    .find(|(name, _)| name.ends_with(variable.label))
                    .and_then(|(_, v)| v.as_str().map(str::to_owned))
            })
            .collect();
        offered.sort();
        offered.dedup();
        let value = match variable.pick {
            Some(pick) => {
                assert!(
                    offered.iter().any(|v| v == pick),
                    "{dashboard}: ${} offers {offered:?}, not {pick}",
                    variable.name
                );
                pick.to_owned()
            }
            None => {
                assert!(
                    !offered.is_empty(),
                    "{dashboard}: ${} offers nothing: {query}",
                    variable.name
                );
                format!("({})", offered.join("|"))
            }
        };
        values.push((variable.name, value));
    }
    values
}

#[test]
fn istio_dashboard_queries_return_data_with_istio_naming() {
    let mut ca =
        CertificateAuthority::create_temporary("dashboards-certs", "wasmesh test", 2).unwrap();
    for (name, path) in [
        ("reviews", "/ns/shop/sa/reviews"),
        ("frontend", "/ns/web/sa/frontend"),
        ("batch", "/ns/jobs/sa/batch"),
    ] {
        ca.issue(
            name,
            &[
                SubjectAltName::Uri(&format!("spiffe://example.org{path}")),
                SubjectAltName::Dns(name),
            ],
            &[ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth],
        )
        .unwrap();
    }
    let app = EchoServer::start_with(|request: &EchoRequest| {
        if let Some(code) = request.path.strip_prefix("/api/status/") {
            return EchoResponse::new(code.parse().unwrap_or(500)).with_body("status");
        }
        EchoResponse::echo(request)
    })
    .unwrap();
    let inbound_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = EnvoyConfig::from_file("service-metrics-mtls.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace("port_value: 10050", format!("port_value: {inbound_port}"))
        .replace(REVIEWS, REVIEWS_IN_ISTIO);
    for name in ["ca", "reviews", "frontend", "batch"] {
        config = config.replace(
            format!("{MTLS_CERT_DIR}/{name}.pem"),
            format!("{MTLS_CERT_DIR}/{name}.crt"),
        );
    }
    let config = config.replace(MTLS_CERT_DIR, ca.dir().display().to_string());
    let envoy = Envoy::start(&config).unwrap();
    let prometheus = Prometheus::start(&PrometheusConfig {
        job: "istio-naming".to_owned(),
        interval: INTERVAL,
        targets: vec![Target {
            address: envoy.admin(),
            labels: Vec::new(),
        }],
        rule_files: Vec::new(),
        port: None,
    })
    .unwrap();
    let frontend = envoy.listener("frontend-outbound").unwrap();
    let batch = envoy.listener("batch-outbound").unwrap();
    let traffic = Traffic::start(move || {
        for _ in 0..3 {
            let _ = http::get(frontend, "/api/items", &[]);
        }
        let _ = http::get(frontend, "/api/status/503", &[]);
        let _ = http::post(batch, "/api/items", &[], b"{\"item\": 1}");
    });
    prometheus
        .wait_for_data(
            r#"sum(irate(istio_requests_total{reporter="destination", source_workload="batch"}[1m])) > 0"#,
            SETTLE,
        )
        .unwrap();
    prometheus
        .wait_for_data(
            r#"sum(irate(istio_request_bytes_bucket{reporter="source", source_workload="frontend"}[1m])) > 0"#,
            SETTLE,
        )
        .unwrap();

    let builtins: Vec<(&'static str, String)> = GRAFANA_BUILTINS
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect();
    let with_qrep = |qrep: &str| {
        let mut values = builtins.clone();
        values.push(("qrep", qrep.to_owned()));
        values
    };
    let mut failures = Vec::new();
    let mut queries = 0;
    let service = resolve(
        &prometheus,
        "Istio Service Dashboard",
        with_qrep("destination"),
        SERVICE_DASHBOARD_VARIABLES,
    );
    let inbound = resolve(
        &prometheus,
        "Istio Workload Dashboard (reviews.shop)",
        with_qrep("destination"),
        &workload_variables("shop", "reviews", false),
    );
    let outbound = resolve(
        &prometheus,
        "Istio Workload Dashboard (frontend.web)",
        with_qrep("source"),
        &workload_variables("web", "frontend", true),
    );
    for (dashboard, values, panels) in [
        ("Istio Service Dashboard", &service, SERVICE_DASHBOARD),
        (
            "Istio Workload Dashboard (reviews.shop)",
            &inbound,
            WORKLOAD_DASHBOARD_INBOUND,
        ),
        (
            "Istio Workload Dashboard (frontend.web)",
            &outbound,
            WORKLOAD_DASHBOARD_OUTBOUND,
        ),
    ] {
        for (title, expr) in panels {
            queries += 1;
            failures.extend(check_query(
                &prometheus,
                &format!("{dashboard}: {title}"),
                &substitute(expr, values),
            ));
        }
    }
    for (title, expr) in SERVICE_DASHBOARD_PLAINTEXT {
        queries += 1;
        let expr = substitute(expr, &service);
        match prometheus.query(&expr) {
            Ok(samples) if samples.is_empty() => {}
            outcome => failures.push(format!(
                "Istio Service Dashboard: {title}: expected no data, got {outcome:?}"
            )),
        }
    }
    // The success rates see the 503s: frontend's is 3 in 4.
    let rate = prometheus
        .query(&substitute(SERVICE_DASHBOARD[6].1, &service))
        .unwrap();
    let frontend_rate = rate
        .iter()
        .find(|s| s["metric"]["source_workload"] == "frontend")
        .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no success rate for frontend in {rate:?}"));
    assert!(
        (0.5..1.0).contains(&frontend_rate),
        "frontend's success rate {frontend_rate}"
    );
    eprintln!(
        "Istio dashboards: {queries} queries, {} failed",
        failures.len()
    );
    drop(traffic);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
