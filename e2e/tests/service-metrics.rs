//! service-metrics in Envoy 1.40: a known mix of requests from two callers, then
//! `/stats/prometheus` read back: every series with its labels and exact count, histogram
//! counts equal to request counts, and the output checked by `promtool check metrics`.
//! Also: two routes of one listener counted under their own destinations
//! (`service-metrics-routes.yaml`), and a refused `routes` entry named by its JSON path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmesh_e2e::pki::{CertificateAuthority, ExtendedKeyUsage, SubjectAltName};
use wasmesh_e2e::{http, repo_root, EchoRequest, EchoResponse, EchoServer, Envoy, EnvoyConfig};

// --- Prometheus text -----------------------------------------------------------------------

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of a Prometheus text exposition (comments skipped).
fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
                None => (series, BTreeMap::new()),
            };
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap_or(f64::NAN),
            }
        })
        .collect()
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("label name");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => value.push(chars.next().unwrap().1),
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {text}"),
            }
        };
        labels.insert(name.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The series of `name` whose labels include `selector`.
fn select<'a>(samples: &'a [Sample], name: &str, selector: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            selector
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// --- test upstreams -------------------------------------------------------------------------

/// The application: `/api/status/<code>` answers `<code>`, `/api/grpc` a trailers-only gRPC
/// NOT_FOUND, anything else the echo.
fn app() -> EchoServer {
    EchoServer::start_with(|request: &EchoRequest| {
        if let Some(code) = request.path.strip_prefix("/api/status/") {
            return EchoResponse::new(code.parse().unwrap_or(500)).with_body("status");
        }
        if request.path == "/api/grpc" {
            return EchoResponse::new(200)
                .with_header("content-type", "application/grpc")
                .with_header("grpc-status", "5")
                .with_header("grpc-message", "not found");
        }
        EchoResponse::echo(request)
    })
    .unwrap()
}

/// An upstream that accepts connections and closes them without answering.
struct ClosingServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl ClosingServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(mut stream) = stream {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf);
                    drop(stream);
                }
            }
        });
        Self { port, stop }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A port nothing listens on (connections are refused).
fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A free port for a listener the config addresses by number.
fn free_port() -> u16 {
    refused_port()
}

// --- helpers ----------------------------------------------------------------------------

fn get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    http::get(addr, path, headers)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .status
}

/// Reads `/stats/prometheus` until the `_count` of `histogram` adds up to `expected`
/// (histograms reach the admin output once merged).
fn scrape(envoy: &Envoy, histogram: &str, expected: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = envoy.stats_prometheus().unwrap();
        let samples = parse_samples(&text);
        let count: f64 = samples
            .iter()
            .filter(|s| s.name == format!("{histogram}_count"))
            .map(|s| s.value)
            .sum();
        if count == expected || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `filters/service-metrics/promtool-check.sh` on the exposition.
fn promtool_check(text: &str) {
    let script = repo_root().join("filters/service-metrics/promtool-check.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// --- the main mix -----------------------------------------------------------------------

/// Istio label values of one expected series (the labels this mix varies).
#[derive(Clone, Copy)]
struct Series<'a> {
    reporter: &'a str,
    source: &'a str,
    code: &'a str,
    grpc: &'a str,
    flags: &'a str,
    protocol: &'a str,
}

const FRONTEND_OK: Series<'static> = Series {
    reporter: "destination",
    source: "frontend",
    code: "200",
    grpc: "",
    flags: "-",
    protocol: "http",
};

impl Series<'_> {
    fn istio_labels(&self) -> BTreeMap<String, String> {
        let inbound = self.reporter == "destination";
        let (source_ns, destination_service, destination_ns) = if inbound {
            ("unknown", "reviews.shop.svc.cluster.local", "shop")
        } else {
            ("web", "reviews", "unknown")
        };
        labels_of(&[
            ("reporter", self.reporter),
            ("source_workload", self.source),
            ("source_workload_namespace", source_ns),
            ("source_canonical_service", self.source),
            ("source_principal", "unknown"),
            ("destination_workload", "reviews"),
            ("destination_workload_namespace", destination_ns),
            ("destination_canonical_service", "reviews"),
            ("destination_service", destination_service),
            ("destination_service_name", "reviews"),
            ("destination_service_namespace", destination_ns),
            ("destination_principal", "unknown"),
            ("request_protocol", self.protocol),
            ("response_code", self.code),
            ("grpc_response_status", self.grpc),
            ("response_flags", self.flags),
            ("connection_security_policy", "none"),
            // Nothing tells them without node metadata: Istio's values for that.
            ("source_app", "unknown"),
            ("source_version", "unknown"),
            ("source_canonical_revision", "latest"),
            ("source_cluster", "unknown"),
            ("destination_app", "unknown"),
            ("destination_version", "unknown"),
            ("destination_canonical_revision", "latest"),
            ("destination_cluster", "unknown"),
        ])
    }

    fn native_labels(&self) -> BTreeMap<String, String> {
        labels_of(&[
            ("reporter", self.reporter),
            ("source_service", self.source),
            ("destination_service", "reviews"),
            ("request_protocol", self.protocol),
            ("response_code", self.code),
            ("grpc_response_status", self.grpc),
            ("response_flags", self.flags),
            ("connection_security_policy", "none"),
        ])
    }
}

/// The requests sent, by expected series: (series, count).
fn expected_mix() -> Vec<(Series<'static>, u32)> {
    let batch = Series {
        source: "batch",
        ..FRONTEND_OK
    };
    vec![
        (FRONTEND_OK, 3),
        (
            Series {
                code: "404",
                ..FRONTEND_OK
            },
            1,
        ),
        (
            Series {
                code: "500",
                ..FRONTEND_OK
            },
            1,
        ),
        (
            Series {
                code: "404",
                flags: "NR",
                ..FRONTEND_OK
            },
            1,
        ),
        (batch, 2),
        (
            Series {
                code: "403",
                ..batch
            },
            1,
        ),
        (
            Series {
                protocol: "grpc",
                grpc: "5",
                ..batch
            },
            1,
        ),
        (
            Series {
                code: "503",
                flags: "UF",
                ..batch
            },
            1,
        ),
        (
            Series {
                code: "503",
                flags: "UC",
                ..batch
            },
            1,
        ),
        (
            Series {
                source: "unknown",
                ..FRONTEND_OK
            },
            1,
        ),
        (
            Series {
                reporter: "source",
                ..FRONTEND_OK
            },
            2,
        ),
    ]
}

/// Sends the mix: frontend and batch named by the trusted header, one anonymous caller,
/// and the application's own outbound calls.
fn send_mix(envoy: &Envoy) {
    let inbound = envoy.listener("inbound").unwrap();
    let frontend = [("x-wasmesh-caller", "frontend")];
    let batch = [("x-wasmesh-caller", "batch")];
    for _ in 0..3 {
        assert_eq!(get(inbound, "/api/items", &frontend), 200);
    }
    assert_eq!(get(inbound, "/api/status/404", &frontend), 404);
    assert_eq!(get(inbound, "/api/status/500", &frontend), 500);
    assert_eq!(get(inbound, "/nowhere", &frontend), 404);
    for _ in 0..2 {
        assert_eq!(get(inbound, "/api/items", &batch), 200);
    }
    assert_eq!(get(inbound, "/denied", &batch), 403);
    let grpc = [
        ("x-wasmesh-caller", "batch"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    let response = http::post(inbound, "/api/grpc", &grpc, b"\0\0\0\0\0").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("grpc-status"), Some("5"));
    assert_eq!(get(inbound, "/down", &batch), 503);
    assert_eq!(get(inbound, "/reset", &batch), 503);
    assert_eq!(get(inbound, "/api/items", &[]), 200);
    let outbound = envoy.listener("outbound").unwrap();
    for _ in 0..2 {
        assert_eq!(get(outbound, "/ratings", &[]), 200);
    }
}

fn main_config(app: &EchoServer, closing: &ClosingServer) -> EnvoyConfig {
    EnvoyConfig::from_file("service-metrics.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .upstream(8001, closing.port)
        .upstream(8002, refused_port())
}

fn check_mix(text: &str, names: [&str; 4], native: bool) {
    let samples = parse_samples(text);
    let expected = expected_mix();
    let total: u32 = expected.iter().map(|(_, n)| n).sum();
    let requests: Vec<&Sample> = samples.iter().filter(|s| s.name == names[0]).collect();
    assert_eq!(
        requests.len(),
        expected.len(),
        "series of {}: {requests:#?}",
        names[0]
    );
    for (series, count) in &expected {
        let labels = if native {
            series.native_labels()
        } else {
            series.istio_labels()
        };
        let found: Vec<&&Sample> = requests.iter().filter(|s| s.labels == labels).collect();
        assert_eq!(found.len(), 1, "no series {labels:?} in {requests:#?}");
        assert_eq!(found[0].value, f64::from(*count), "{labels:?}");
        for histogram in &names[1..] {
            let count_name = format!("{histogram}_count");
            let counts: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.name == count_name && s.labels == labels)
                .collect();
            assert_eq!(counts.len(), 1, "{count_name} {labels:?}");
            assert_eq!(
                counts[0].value,
                f64::from(*count),
                "{count_name} {labels:?}"
            );
            let mut inf = labels.clone();
            inf.insert("le".into(), "+Inf".into());
            let bucket = format!("{histogram}_bucket");
            let top = select(&samples, &bucket, &[])
                .into_iter()
                .find(|s| s.labels == inf)
                .unwrap_or_else(|| panic!("{bucket} {inf:?}"));
            assert_eq!(top.value, f64::from(*count));
        }
    }
    let sum: f64 = requests.iter().map(|s| s.value).sum();
    assert_eq!(sum, f64::from(total));
    let overflow = select(&samples, "wasmesh_service_metrics_overflow_total", &[]);
    assert!(!overflow.is_empty() && overflow.iter().all(|s| s.value == 0.0));
}

#[test]
fn istio_naming_counts_a_known_mix_from_two_callers() {
    let app = app();
    let closing = ClosingServer::start();
    let envoy = Envoy::start(&main_config(&app, &closing)).unwrap();
    send_mix(&envoy);
    let names = [
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
    ];
    let text = scrape(&envoy, names[1], 15.0);
    check_mix(&text, names, false);
    // The configured duration buckets reach Prometheus.
    let samples = parse_samples(&text);
    let buckets = select(
        &samples,
        "istio_request_duration_milliseconds_bucket",
        &[("source_workload", "batch"), ("response_code", "403")],
    );
    let les: Vec<&str> = buckets.iter().map(|s| s.labels["le"].as_str()).collect();
    assert_eq!(les.first(), Some(&"0.5"), "{les:?}");
    assert!(les.contains(&"3600000"), "{les:?}");
    promtool_check(&text);
}

#[test]
fn native_naming_counts_the_same_mix() {
    let app = app();
    let closing = ClosingServer::start();
    let config =
        main_config(&app, &closing).replace(r#""naming": "istio","#, r#""naming": "native","#);
    let envoy = Envoy::start(&config).unwrap();
    send_mix(&envoy);
    let names = [
        "wasmesh_service_requests_total",
        "wasmesh_service_request_duration_milliseconds",
        "wasmesh_service_request_bytes",
        "wasmesh_service_response_bytes",
    ];
    let text = scrape(&envoy, names[1], 15.0);
    check_mix(&text, names, true);
    assert!(!text.contains("istio_requests_total"));
    promtool_check(&text);
}

// --- verified identities over mutual TLS --------------------------------------------------

const TRUST_DOMAIN: &str = "example.org";

/// Where `service-metrics-mtls.yaml` reads its certificates (`ca.pem`, `<name>.pem`,
/// `<name>.key`).
const CONFIG_CERT_DIR: &str = "/tmp/wasmesh-service-metrics-certs";

/// A CA (removed on drop) and leaf certificates whose URI SANs are SPIFFE IDs.
fn make_certs() -> CertificateAuthority {
    let mut ca =
        CertificateAuthority::create_temporary("service-metrics-certs", "wasmesh test", 2).unwrap();
    for (name, path) in [
        ("reviews", "/ns/shop/sa/reviews"),
        ("frontend", "/ns/web/sa/frontend"),
        ("batch", "/ns/jobs/sa/batch"),
    ] {
        ca.issue(
            name,
            &[
                SubjectAltName::Uri(&format!("spiffe://{TRUST_DOMAIN}{path}")),
                SubjectAltName::Dns(name),
            ],
            &[ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth],
        )
        .unwrap();
    }
    ca
}

/// `config` reading its certificates from `certs`, where they end in `.crt`.
fn with_certs(mut config: EnvoyConfig, certs: &CertificateAuthority) -> EnvoyConfig {
    for name in ["ca", "reviews", "frontend", "batch"] {
        config = config.replace(
            format!("{CONFIG_CERT_DIR}/{name}.pem"),
            format!("{CONFIG_CERT_DIR}/{name}.crt"),
        );
    }
    config.replace(CONFIG_CERT_DIR, certs.dir().display().to_string())
}

#[test]
fn mutual_tls_names_callers_by_their_verified_certificates() {
    let certs = make_certs();
    let app = app();
    let config = EnvoyConfig::from_file("service-metrics-mtls.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace("port_value: 10050", format!("port_value: {}", free_port()));
    let config = with_certs(config, &certs);
    let envoy = Envoy::start(&config).unwrap();
    let frontend = envoy.listener("frontend-outbound").unwrap();
    let batch = envoy.listener("batch-outbound").unwrap();
    for _ in 0..3 {
        assert_eq!(get(frontend, "/api/items", &[]), 200);
    }
    assert_eq!(get(frontend, "/api/status/503", &[]), 503);
    // A header naming someone else changes nothing: the certificate names the caller.
    assert_eq!(
        get(batch, "/api/items", &[("x-wasmesh-caller", "frontend")]),
        200
    );
    assert_eq!(get(batch, "/api/items", &[]), 200);
    let text = scrape(&envoy, "istio_request_duration_milliseconds", 12.0);
    let samples = parse_samples(&text);
    let series = |reporter: &str, source: &str, code: &str| -> Vec<&Sample> {
        select(
            &samples,
            "istio_requests_total",
            &[
                ("reporter", reporter),
                ("source_workload", source),
                ("response_code", code),
            ],
        )
    };
    for (reporter, source, code, count) in [
        ("destination", "frontend", "200", 3.0),
        ("destination", "frontend", "503", 1.0),
        ("destination", "batch", "200", 2.0),
        ("source", "frontend", "200", 3.0),
        ("source", "frontend", "503", 1.0),
        ("source", "batch", "200", 2.0),
    ] {
        let found = series(reporter, source, code);
        assert_eq!(found.len(), 1, "{reporter} {source} {code}: {found:#?}");
        let s = found[0];
        assert_eq!(s.value, count, "{reporter} {source} {code}");
        let namespace = if source == "frontend" { "web" } else { "jobs" };
        let principal = format!("spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{source}");
        for (label, value) in [
            ("source_principal", principal.as_str()),
            ("source_workload_namespace", namespace),
            ("destination_workload", "reviews"),
            ("destination_service_name", "reviews"),
            ("destination_workload_namespace", "shop"),
            (
                "destination_principal",
                "spiffe://example.org/ns/shop/sa/reviews",
            ),
            ("connection_security_policy", "mutual_tls"),
            ("request_protocol", "http"),
        ] {
            assert_eq!(s.labels[label], value, "{label} of {:?}", s.labels);
        }
    }
    assert_eq!(select(&samples, "istio_requests_total", &[]).len(), 6);
    promtool_check(&text);
}

// --- Istio node metadata -----------------------------------------------------------------

/// The node an Istio sidecar's Envoy starts with, as Istio's agent writes it into the
/// bootstrap (the fields the filters read, and others around them).
const ISTIO_NODE: &str = "node:
  id: sidecar~10.0.0.7~reviews-v2-7f9c6-abcde.shop~shop.svc.cluster.local
  cluster: reviews.shop
  metadata:
    WORKLOAD_NAME: reviews-v2
    NAMESPACE: shop
    CLUSTER_ID: Kubernetes
    MESH_ID: cluster.local
    SERVICE_ACCOUNT: bookinfo-reviews
    INSTANCE_IPS: 10.0.0.7
    APP_CONTAINERS: reviews
    ISTIO_VERSION: 1.28.0
    PLATFORM_METADATA: {}
    LABELS:
      app: reviews
      version: v2
      service.istio.io/canonical-name: reviews
      service.istio.io/canonical-revision: v2
      security.istio.io/tlsMode: istio
      pod-template-hash: 7f9c6
";

#[test]
fn istio_node_metadata_names_the_sidecar_when_the_configuration_does_not() {
    let app = app();
    let closing = ClosingServer::start();
    // The same configuration on every workload: no `service`, no `namespace`.
    let config = main_config(&app, &closing)
        .replace("admin:\n", format!("{ISTIO_NODE}\nadmin:\n"))
        .replace(
            r#""service": "reviews", "service_host": "reviews.shop.svc.cluster.local",
                     "namespace": "shop","#,
            "",
        )
        .replace(r#""service": "frontend", "namespace": "web","#, "");
    let envoy = Envoy::start(&config).unwrap();
    let inbound = envoy.listener("inbound").unwrap();
    for _ in 0..2 {
        assert_eq!(
            get(inbound, "/api/items", &[("x-wasmesh-caller", "frontend")]),
            200
        );
    }
    let outbound = envoy.listener("outbound").unwrap();
    assert_eq!(get(outbound, "/ratings", &[]), 200);
    let text = scrape(&envoy, "istio_request_duration_milliseconds", 3.0);
    let samples = parse_samples(&text);
    let requests = select(&samples, "istio_requests_total", &[]);
    let this_workload = [
        ("workload", "reviews-v2"),
        ("workload_namespace", "shop"),
        ("app", "reviews"),
        ("version", "v2"),
        ("canonical_service", "reviews"),
        ("canonical_revision", "v2"),
        ("cluster", "Kubernetes"),
    ];
    let side = |prefix: &str, values: &[(&str, &str)]| -> Vec<(String, String)> {
        values
            .iter()
            .map(|(name, value)| (format!("{prefix}_{name}"), (*value).to_owned()))
            .collect()
    };
    let unknown_peer = |prefix: &str, service: &str, namespace: &str| {
        side(
            prefix,
            &[
                ("workload", service),
                ("workload_namespace", namespace),
                ("principal", "unknown"),
                ("app", "unknown"),
                ("version", "unknown"),
                ("canonical_service", service),
                ("canonical_revision", "latest"),
                ("cluster", "unknown"),
            ],
        )
    };
    let common = |reporter: &str| {
        [
            ("reporter", reporter),
            ("request_protocol", "http"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
            ("response_flags", "-"),
            ("connection_security_policy", "none"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    };
    // Inbound: the caller named by the trusted header, this workload from the metadata
    // (`destination_service` is the canonical service: no `service_host` configured).
    let mut inbound_labels: BTreeMap<String, String> = common("destination").into();
    inbound_labels.extend(unknown_peer("source", "frontend", "unknown"));
    inbound_labels.extend(side("destination", &this_workload));
    inbound_labels.extend(side(
        "destination",
        &[
            ("principal", "unknown"),
            ("service", "reviews"),
            ("service_name", "reviews"),
            ("service_namespace", "shop"),
        ],
    ));
    // Outbound: this workload calls the `reviews` cluster.
    let mut outbound_labels: BTreeMap<String, String> = common("source").into();
    outbound_labels.extend(side("source", &this_workload));
    outbound_labels.extend(side("source", &[("principal", "unknown")]));
    outbound_labels.extend(unknown_peer("destination", "reviews", "unknown"));
    outbound_labels.extend(side(
        "destination",
        &[
            ("service", "reviews"),
            ("service_name", "reviews"),
            ("service_namespace", "unknown"),
        ],
    ));
    for (labels, count) in [(&inbound_labels, 2.0), (&outbound_labels, 1.0)] {
        assert_eq!(labels.len(), 25, "{labels:?}");
        let found: Vec<_> = requests.iter().filter(|s| &s.labels == labels).collect();
        assert_eq!(found.len(), 1, "no series {labels:#?} in {requests:#?}");
        assert_eq!(found[0].value, count);
    }
    assert_eq!(requests.len(), 2, "{requests:#?}");
    // One line per filter instance saying where the names came from.
    let log = envoy.log();
    assert!(
        log.contains(
            "service-metrics: service=reviews (Istio node metadata) \
             namespace=shop (Istio node metadata)"
        ),
        "{log}"
    );
    promtool_check(&text);
}

// --- the bundle ---------------------------------------------------------------------------

#[test]
fn the_bundle_runs_service_metrics_as_a_chain_stage() {
    let app = app();
    let config = EnvoyConfig::from_file("service-metrics-bundle.yaml")
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let caller = [("x-wasmesh-caller", "frontend")];
    for _ in 0..2 {
        assert_eq!(get(ingress, "/api/items", &caller), 200);
    }
    assert_eq!(get(ingress, "/denied", &caller), 403);
    let text = scrape(&envoy, "wasmesh_service_request_duration_milliseconds", 3.0);
    let samples = parse_samples(&text);
    let ok = Series {
        reporter: "destination",
        source: "frontend",
        ..FRONTEND_OK
    };
    for (series, count) in [(ok, 2.0), (Series { code: "403", ..ok }, 1.0)] {
        let found = select(&samples, "wasmesh_service_requests_total", &[])
            .into_iter()
            .filter(|s| s.labels == series.native_labels())
            .collect::<Vec<_>>();
        assert_eq!(
            found.len(),
            1,
            "{:?} in {samples:#?}",
            series.native_labels()
        );
        assert_eq!(found[0].value, count);
    }
    promtool_check(&text);
}

// --- per-route configuration ----------------------------------------------------------------

/// `service-metrics-routes.yaml`: one listener, the application behind it serving two
/// logical services.
fn routes_config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("service-metrics-routes.yaml")
        .unwrap()
        .upstream(8000, app.port())
}

#[test]
fn two_routes_on_one_listener_count_under_their_own_destinations() {
    let app = app();
    let envoy = Envoy::start(&routes_config(&app)).unwrap();
    let inbound = envoy.listener("inbound").unwrap();
    let frontend = [("x-wasmesh-caller", "frontend")];
    // Envoy's route `billing`, matched by its name.
    for _ in 0..2 {
        assert_eq!(get(inbound, "/billing/invoices", &frontend), 200);
    }
    // Envoy's route `catalog`, matched by the path prefix.
    for _ in 0..3 {
        assert_eq!(get(inbound, "/catalog/items", &frontend), 200);
    }
    // The route `default`: the listener's own `service`.
    assert_eq!(get(inbound, "/cart", &frontend), 200);
    let text = scrape(&envoy, "wasmesh_service_request_duration_milliseconds", 6.0);
    let samples = parse_samples(&text);
    let requests = select(&samples, "wasmesh_service_requests_total", &[]);
    for (destination, count) in [("billing", 2.0), ("catalog", 3.0), ("shop", 1.0)] {
        let labels = labels_of(&[
            ("reporter", "destination"),
            ("source_service", "frontend"),
            ("destination_service", destination),
            ("request_protocol", "http"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
            ("response_flags", "-"),
            ("connection_security_policy", "none"),
        ]);
        let found: Vec<_> = requests.iter().filter(|s| s.labels == labels).collect();
        assert_eq!(found.len(), 1, "no series {labels:?} in {requests:#?}");
        assert_eq!(found[0].value, count, "{destination}");
    }
    assert_eq!(requests.len(), 3, "{requests:#?}");
    // Every route records in the same families: one overflow counter, at 0.
    let overflow = select(&samples, "wasmesh_service_metrics_overflow_total", &[]);
    assert_eq!(overflow.len(), 1, "{overflow:?}");
    assert_eq!(overflow[0].value, 0.0);
    promtool_check(&text);
}

#[test]
fn envoy_refuses_a_route_entry_naming_its_json_path() {
    let app = app();
    // The label-set cap belongs to the listener's metrics: no route may change it.
    let config = routes_config(&app).replace(
        r#""service": "catalog"}"#,
        r#""service": "catalog", "max_label_sets": 50}"#,
    );
    let log = Envoy::start_expect_failure(&config).unwrap();
    assert!(
        log.contains(
            "service-metrics: config.routes[1].max_label_sets: unknown field `max_label_sets`, \
             expected one of `match`, `service`, `service_host`, `namespace`, \
             `destination_from`, `destinations`"
        ),
        "{log}"
    );
}
