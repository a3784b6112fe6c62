//! service-metrics driven through the proxy-wasm dispatcher by the host emulator:
//! each label source, response outcomes, cardinality overflow and escaping.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use service_metrics::ServiceMetrics;
use wasmesh_sdk::chain::{stage, Bundle, Chain, StageFactory};
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::MetricKind;
use wasmesh_sdk::{ConfigError, Filter, Flow, LocalReply};
use wasmesh_testing::{Host, HttpStream, LogLevel};

const NATIVE: [&str; 4] = [
    "wasmesh_service_requests_total",
    "wasmesh_service_request_duration_milliseconds",
    "wasmesh_service_request_bytes",
    "wasmesh_service_response_bytes",
];

const ISTIO: [&str; 4] = [
    "istio_requests_total",
    "istio_request_duration_milliseconds",
    "istio_request_bytes",
    "istio_response_bytes",
];

/// The host time at which every exchange's request headers are sent.
const START_NANOS: u64 = 1_700_000_000_000_000_000;

const UF: i64 = 1 << 5;
const UC: i64 = 1 << 6;
const NR: i64 = 1 << 8;
const URX: i64 = 1 << 15;

fn host(config: &str) -> Host {
    let host = Host::of::<ServiceMetrics>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    // Envoy defines `connection.mtls` for every downstream connection.
    host.set_property(&["connection", "mtls"], false);
    host
}

/// Native labels, in the filter's order, for one request.
#[derive(Clone, Copy)]
struct Native<'a> {
    reporter: &'a str,
    source: &'a str,
    destination: &'a str,
    protocol: &'a str,
    code: &'a str,
    grpc: &'a str,
    flags: &'a str,
    security: &'a str,
}

const INBOUND_OK: Native<'static> = Native {
    reporter: "destination",
    source: "unknown",
    destination: "reviews",
    protocol: "http",
    code: "200",
    grpc: "",
    flags: "-",
    security: "none",
};

impl Native<'_> {
    fn stat(&self, metric: &str) -> String {
        Host::stat_name(
            metric,
            &[
                ("reporter", self.reporter),
                ("source_service", self.source),
                ("destination_service", self.destination),
                ("request_protocol", self.protocol),
                ("response_code", self.code),
                ("grpc_response_status", self.grpc),
                ("response_flags", self.flags),
                ("connection_security_policy", self.security),
            ],
        )
    }

    fn requests(&self, host: &Host) -> Option<u64> {
        host.counter(&self.stat(NATIVE[0]))
    }
}

/// A finished exchange as Envoy reports it: the stream properties `on_log` reads.
struct Exchange<'a> {
    request: Vec<(&'a str, &'a str)>,
    response: Option<Vec<(&'a str, &'a str)>>,
    trailers: Option<Vec<(&'a str, &'a str)>>,
    code: Option<i64>,
    flags: i64,
    duration_nanos: i64,
    request_bytes: i64,
    response_bytes: i64,
    properties: Vec<(&'a [&'a str], &'a str)>,
}

impl<'a> Exchange<'a> {
    fn ok() -> Self {
        Self {
            request: vec![
                (":method", "GET"),
                (":path", "/"),
                (":authority", "reviews"),
            ],
            response: Some(vec![(":status", "200")]),
            trailers: None,
            code: Some(200),
            flags: 0,
            duration_nanos: 12_345_678,
            request_bytes: 100,
            response_bytes: 250,
            properties: Vec::new(),
        }
    }

    fn status(mut self, code: i64) -> Self {
        self.code = Some(code);
        self
    }

    fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.request.push((name, value));
        self
    }

    fn property(mut self, path: &'a [&'a str], value: &'a str) -> Self {
        self.properties.push((path, value));
        self
    }

    /// The stream, its request headers sent at the host time `START_NANOS` and its end
    /// `duration_nanos` later (the filter measures durations with the host's clock).
    fn stream(&self, host: &Host) -> HttpStream {
        host.set_time_nanos(START_NANOS);
        let stream = host.stream();
        stream.send_request_headers(&self.request);
        host.set_time_nanos(START_NANOS + u64::try_from(self.duration_nanos).unwrap());
        if let Some(response) = &self.response {
            stream.send_response_headers(response);
        }
        if let Some(trailers) = &self.trailers {
            stream.send_response_trailers(trailers);
        }
        if let Some(code) = self.code {
            stream.set_property(&["response", "code"], code);
        }
        stream.set_property(&["response", "flags"], self.flags);
        stream.set_property(&["request", "total_size"], self.request_bytes);
        stream.set_property(&["response", "total_size"], self.response_bytes);
        for (path, value) in &self.properties {
            stream.set_property(path, *value);
        }
        stream
    }

    fn send(&self, host: &Host) {
        self.stream(host).finish();
    }
}

const INBOUND: &str = r#"{"direction": "inbound", "service": "reviews",
    "spiffe": {"trust_domains": ["example.org"]}}"#;

// --- label sources -------------------------------------------------------------------

#[test]
fn plaintext_caller_without_trusted_header_is_unknown() {
    let host = host(INBOUND);
    Exchange::ok()
        .header("x-wasmesh-caller", "frontend")
        .property(&["source", "address"], "127.0.0.1:5000")
        .send(&host);
    assert_eq!(INBOUND_OK.requests(&host), Some(1));
}

#[test]
fn verified_certificate_names_the_caller() {
    let host = host(INBOUND);
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://example.org/ns/shop/sa/frontend",
    );
    Exchange::ok().send(&host);
    let labels = Native {
        source: "frontend",
        security: "mutual_tls",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
}

#[test]
fn certificate_from_an_untrusted_domain_is_unknown_but_still_mutual_tls() {
    let host = host(INBOUND);
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://evil.org/ns/shop/sa/frontend",
    );
    Exchange::ok().send(&host);
    let labels = Native {
        security: "mutual_tls",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
}

#[test]
fn explicit_spiffe_names_come_from_the_shared_mapping() {
    let host = host(
        r#"{"direction": "inbound", "service": "reviews",
            "spiffe": {"trust_domains": ["example.org"], "service_name": "listed_only",
                       "services": {"spiffe://example.org/legacy/billing-v2": "billing"}}}"#,
    );
    host.set_property(&["connection", "mtls"], true);
    let stream = |san: &str| {
        let s = Exchange::ok().stream(&host);
        s.set_property(&["connection", "uri_san_peer_certificate"], san);
        s.finish();
    };
    stream("spiffe://example.org/legacy/billing-v2");
    stream("spiffe://example.org/ns/shop/sa/unlisted");
    let secure = Native {
        security: "mutual_tls",
        ..INBOUND_OK
    };
    assert_eq!(
        Native {
            source: "billing",
            ..secure
        }
        .requests(&host),
        Some(1)
    );
    assert_eq!(secure.requests(&host), Some(1));
}

const TRUSTED_HEADER: &str = r#"{"direction": "inbound", "service": "reviews",
    "spiffe": {"trust_domains": ["example.org"]},
    "trusted_source_header": {"name": "x-wasmesh-caller", "from_cidrs": ["10.0.0.0/8", "::1"]}}"#;

#[test]
fn trusted_header_from_trusted_addresses_names_the_caller() {
    let host = host(TRUSTED_HEADER);
    for address in ["10.1.2.3:4000", "[::1]:4000"] {
        Exchange::ok()
            .header("x-wasmesh-caller", "batch")
            .property(&["source", "address"], address)
            .send(&host);
    }
    let labels = Native {
        source: "batch",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(2));
}

#[test]
fn the_request_headers_are_read_once_per_request() {
    // One read of the whole list, whether one header is needed (`content-type`) or more.
    for config in [TRUSTED_HEADER, INBOUND] {
        let host = host(config);
        Exchange::ok()
            .header("x-wasmesh-caller", "batch")
            .header("content-type", "application/json")
            .property(&["source", "address"], "10.1.2.3:4000")
            .send(&host);
        assert_eq!(
            (
                host.host_calls("proxy_get_header_map_pairs"),
                host.host_calls("proxy_get_header_map_value")
            ),
            (1, 0),
            "{config}"
        );
    }
}

#[test]
fn the_end_of_stream_attributes_are_one_host_call_and_durations_the_clock() {
    let host = host(INBOUND);
    // The node metadata is read when configured, never per request.
    let configured = host.host_calls("proxy_get_property");
    Exchange::ok().send(&host);
    let created = host.host_calls("proxy_call_foreign_function");
    assert_eq!(created, 2, "expr_create once, then one expr_evaluate");
    Exchange::ok().send(&host);
    assert_eq!(host.host_calls("proxy_call_foreign_function"), 3);
    assert_eq!(host.host_calls("proxy_get_property"), configured);
    assert_eq!(host.host_calls("proxy_get_current_time_nanoseconds"), 4);
    let samples = |metric: &str| host.metric(&INBOUND_OK.stat(metric)).unwrap().samples;
    assert_eq!(samples(NATIVE[1]), vec![12, 12]);
    assert_eq!(samples(NATIVE[2]), vec![100, 100]);
    assert_eq!(samples(NATIVE[3]), vec![250, 250]);
}

#[test]
fn a_host_without_cel_gives_the_same_metrics_one_property_at_a_time() {
    let host = host(INBOUND);
    host.refuse_foreign_functions();
    let configured = host.host_calls("proxy_get_property");
    Exchange::ok().status(503).send(&host);
    let labels = Native {
        code: "503",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
    assert_eq!(
        host.metric(&labels.stat(NATIVE[2])).unwrap().samples,
        vec![100]
    );
    assert_eq!(host.host_calls("proxy_get_property") - configured, 5);
}

#[test]
fn an_attribute_without_value_falls_back_to_one_read_each() {
    // A stream reset before any response has no response.code: Envoy's evaluation of the
    // batch fails, and the filter reads each attribute on its own.
    let host = host(INBOUND);
    Exchange {
        code: None,
        ..Exchange::ok()
    }
    .send(&host);
    let labels = Native {
        code: "0",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
    assert_eq!(
        host.metric(&labels.stat(NATIVE[3])).unwrap().samples,
        vec![250]
    );
}

/// The host calls of `exchange` sent after an identical one (which created the attribute
/// batch's expression and defined the stats), and the attributes it read on its own.
fn calls_of(host: &Host, exchange: &Exchange<'_>) -> (u64, Vec<String>) {
    exchange.send(host);
    let before: u64 = host.host_call_counts().values().sum();
    host.take_property_reads();
    exchange.send(host);
    let calls = host.host_call_counts().values().sum::<u64>() - before;
    (calls, host.take_property_reads())
}

#[test]
fn each_request_reads_only_what_its_labels_depend_on() {
    // Every request: the clock twice (request headers, end of stream), the attribute batch,
    // the request headers, the counter and the three histograms.
    const EVERY: u64 = 8;
    const SAN: &str = "spiffe://example.org/ns/shop/sa/frontend";
    let check = |config: &str,
                 mtls: bool,
                 connection: &[(&[&str], &str)],
                 exchange: Exchange<'_>,
                 more: u64,
                 reads: &[&str]| {
        let host = host(config);
        host.set_property(&["connection", "mtls"], mtls);
        for (path, value) in connection {
            host.set_property(path, *value);
        }
        let (calls, read) = calls_of(&host, &exchange);
        let read: Vec<&str> = read.iter().map(String::as_str).collect();
        assert_eq!((calls, read.as_slice()), (EVERY + more, reads), "{config}");
    };
    let peer: &[&str] = &["connection", "uri_san_peer_certificate"];
    check(INBOUND, false, &[], Exchange::ok(), 0, &[]);
    check(
        INBOUND,
        true,
        &[(peer, SAN)],
        Exchange::ok(),
        1,
        &["connection.uri_san_peer_certificate"],
    );
    check(
        TRUSTED_HEADER,
        false,
        &[(&["source", "address"], "10.1.2.3:4000")],
        Exchange::ok().header("x-wasmesh-caller", "batch"),
        1,
        &["source.address"],
    );
    check(
        r#"{"direction": "inbound", "naming": "istio", "service": "reviews",
            "spiffe": {"trust_domains": ["example.org"]}}"#,
        true,
        &[(peer, SAN)],
        Exchange::ok(),
        2,
        &[
            "connection.uri_san_peer_certificate",
            "connection.uri_san_local_certificate",
        ],
    );
    // gRPC: the response trailers and headers, for the status.
    check(
        INBOUND,
        false,
        &[],
        Exchange {
            trailers: Some(vec![("grpc-status", "0")]),
            ..Exchange::ok().header("content-type", "application/grpc")
        },
        2,
        &[],
    );
    check(
        r#"{"direction": "outbound", "service": "productpage"}"#,
        false,
        &[
            (
                &["xds", "cluster_name"],
                "outbound|9080||reviews.shop.svc.cluster.local",
            ),
            (&["upstream", "address"], "10.0.0.2:9080"),
        ],
        Exchange::ok(),
        3,
        &[
            "xds.cluster_name",
            "upstream.subject_local_certificate",
            "upstream.address",
        ],
    );
    check(
        r#"{"direction": "outbound", "naming": "istio", "service": "productpage",
            "destination_from": "authority"}"#,
        false,
        &[(&["upstream", "subject_local_certificate"], "CN=productpage")],
        Exchange::ok(),
        3,
        &[
            "upstream.uri_san_local_certificate",
            "upstream.uri_san_peer_certificate",
            "upstream.subject_local_certificate",
        ],
    );
}

#[test]
fn trusted_header_from_other_addresses_or_repeated_is_ignored() {
    let host = host(TRUSTED_HEADER);
    Exchange::ok()
        .header("x-wasmesh-caller", "batch")
        .property(&["source", "address"], "192.168.1.5:4000")
        .send(&host);
    Exchange::ok()
        .header("x-wasmesh-caller", "batch")
        .header("x-wasmesh-caller", "frontend")
        .property(&["source", "address"], "10.0.0.1:4000")
        .send(&host);
    Exchange::ok()
        .header("x-wasmesh-caller", "batch")
        .send(&host);
    assert_eq!(INBOUND_OK.requests(&host), Some(3));
    assert_eq!(host.metrics().len(), 5, "{:?}", host.metrics());
}

#[test]
fn certificate_wins_over_a_trusted_header() {
    let host = host(TRUSTED_HEADER);
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://example.org/ns/shop/sa/frontend",
    );
    Exchange::ok()
        .header("x-wasmesh-caller", "batch")
        .property(&["source", "address"], "10.0.0.1:4000")
        .send(&host);
    let labels = Native {
        source: "frontend",
        security: "mutual_tls",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
}

#[test]
fn xfcc_header_is_verified_against_the_trust_domains() {
    let host = host(
        r#"{"direction": "inbound", "service": "reviews",
            "spiffe": {"trust_domains": ["example.org"]},
            "trusted_source_header": {"name": "x-forwarded-client-cert", "format": "xfcc",
                                      "from_cidrs": ["127.0.0.1"]}}"#,
    );
    for uri in [
        "spiffe://example.org/ns/jobs/sa/batch",
        "spiffe://evil.org/ns/jobs/sa/batch",
    ] {
        let xfcc = format!("Hash=abc;URI={uri}");
        let stream = host.stream();
        stream.send_request_headers(&[(":path", "/"), ("x-forwarded-client-cert", &xfcc)]);
        stream.set_property(&["source", "address"], "127.0.0.1:1");
        stream.set_property(&["response", "code"], 200i64);
        stream.finish();
    }
    assert_eq!(
        Native {
            source: "batch",
            ..INBOUND_OK
        }
        .requests(&host),
        Some(1)
    );
    assert_eq!(INBOUND_OK.requests(&host), Some(1));
}

const OUTBOUND: &str = r#"{"direction": "outbound", "service": "frontend",
    "destinations": {"reviews-v2-canary": "reviews"}}"#;

const OUTBOUND_OK: Native<'static> = Native {
    reporter: "source",
    source: "frontend",
    destination: "reviews",
    protocol: "http",
    code: "200",
    grpc: "",
    flags: "-",
    security: "unknown",
};

#[test]
fn outbound_destination_from_the_cluster() {
    let host = host(OUTBOUND);
    for cluster in [
        "reviews",
        "reviews-v2-canary",
        "outbound|9080||reviews.shop.svc.cluster.local",
    ] {
        Exchange::ok()
            .property(&["xds", "cluster_name"], cluster)
            .send(&host);
    }
    assert_eq!(OUTBOUND_OK.requests(&host), Some(3));
    // No route, no cluster.
    Exchange {
        response: None,
        flags: NR,
        ..Exchange::ok().status(404)
    }
    .send(&host);
    let no_route = Native {
        destination: "unknown",
        code: "404",
        flags: "NR",
        ..OUTBOUND_OK
    };
    assert_eq!(no_route.requests(&host), Some(1));
}

#[test]
fn outbound_destination_from_the_authority_when_configured() {
    let host = host(
        r#"{"direction": "outbound", "service": "frontend", "destination_from": "authority"}"#,
    );
    let mut exchange = Exchange::ok().property(&["xds", "cluster_name"], "egress");
    exchange.request = vec![(":path", "/"), (":authority", "Ratings:9080")];
    exchange.send(&host);
    let ratings = Native {
        destination: "ratings",
        ..OUTBOUND_OK
    };
    assert_eq!(ratings.requests(&host), Some(1));
}

#[test]
fn outbound_security_comes_from_the_upstream_connection() {
    let host = host(OUTBOUND);
    Exchange::ok()
        .property(&["xds", "cluster_name"], "reviews")
        .property(&["upstream", "address"], "10.0.0.7:9080")
        .property(&["upstream", "subject_local_certificate"], "O=frontend")
        .send(&host);
    Exchange::ok()
        .property(&["xds", "cluster_name"], "reviews")
        .property(&["upstream", "address"], "10.0.0.7:9080")
        .send(&host);
    let mtls = Native {
        security: "mutual_tls",
        ..OUTBOUND_OK
    };
    assert_eq!(mtls.requests(&host), Some(1));
    let plain = Native {
        security: "none",
        ..OUTBOUND_OK
    };
    assert_eq!(plain.requests(&host), Some(1));
}

// --- Istio naming ----------------------------------------------------------------------

/// Istio label values of one request, in the filter's order (Istio's); `Istio::new` is an
/// inbound request to `reviews` in `shop` from an unknown caller, without node metadata.
#[derive(Clone)]
struct Istio(Vec<(&'static str, String)>);

impl Istio {
    fn new() -> Self {
        let values = [
            ("reporter", "destination"),
            ("source_workload", "unknown"),
            ("source_workload_namespace", "unknown"),
            ("source_principal", "unknown"),
            ("source_app", "unknown"),
            ("source_version", "unknown"),
            ("source_canonical_service", "unknown"),
            ("source_canonical_revision", "latest"),
            ("source_cluster", "unknown"),
            ("destination_workload", "reviews"),
            ("destination_workload_namespace", "shop"),
            ("destination_principal", "unknown"),
            ("destination_app", "unknown"),
            ("destination_version", "unknown"),
            ("destination_service", "reviews"),
            ("destination_service_name", "reviews"),
            ("destination_service_namespace", "shop"),
            ("destination_canonical_service", "reviews"),
            ("destination_canonical_revision", "latest"),
            ("destination_cluster", "unknown"),
            ("request_protocol", "http"),
            ("response_flags", "-"),
            ("connection_security_policy", "none"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
        ];
        Self(values.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    /// These labels set to these values (each label must exist).
    fn with(mut self, changes: &[(&str, &str)]) -> Self {
        for (name, value) in changes {
            let slot = self.0.iter_mut().find(|(n, _)| n == name);
            slot.unwrap_or_else(|| panic!("no label {name}")).1 = (*value).to_owned();
        }
        self
    }

    fn stat(&self, metric: &str) -> String {
        let tags: Vec<(&str, &str)> = self.0.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Host::stat_name(metric, &tags)
    }

    fn requests(&self, host: &Host) -> Option<u64> {
        host.counter(&self.stat(ISTIO[0]))
    }
}

/// Every Istio series recorded so far: the label values of each, by label name.
fn istio_series(host: &Host) -> Vec<String> {
    host.metrics()
        .into_iter()
        .filter(|m| m.name.starts_with(ISTIO[0]))
        .map(|m| m.name)
        .collect()
}

#[test]
fn istio_names_and_labels_inbound() {
    let host = host(
        r#"{"direction": "inbound", "naming": "istio", "service": "reviews",
            "service_host": "reviews.shop.svc.cluster.local", "namespace": "shop",
            "spiffe": {"trust_domains": ["example.org"]}}"#,
    );
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://example.org/ns/web/sa/frontend",
    );
    host.set_property(
        &["connection", "uri_san_local_certificate"],
        "spiffe://example.org/ns/shop/sa/reviews",
    );
    Exchange::ok().send(&host);
    let labels = Istio::new().with(&[
        ("source_workload", "frontend"),
        ("source_workload_namespace", "web"),
        ("source_canonical_service", "frontend"),
        (
            "source_principal",
            "spiffe://example.org/ns/web/sa/frontend",
        ),
        ("destination_service", "reviews.shop.svc.cluster.local"),
        (
            "destination_principal",
            "spiffe://example.org/ns/shop/sa/reviews",
        ),
        ("connection_security_policy", "mutual_tls"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
    for histogram in &ISTIO[1..] {
        let metric = host.metric(&labels.stat(histogram)).unwrap();
        assert_eq!(metric.kind, MetricKind::Histogram);
        assert_eq!(metric.samples.len(), 1);
    }
}

#[test]
fn istio_names_and_labels_outbound() {
    let host = host(
        r#"{"direction": "outbound", "naming": "istio", "service": "frontend",
            "namespace": "web", "spiffe": {"trust_domains": ["example.org"]}}"#,
    );
    Exchange::ok()
        .property(
            &["xds", "cluster_name"],
            "outbound|9080||reviews.shop.svc.cluster.local",
        )
        .property(&["upstream", "address"], "10.0.0.7:9080")
        .property(&["upstream", "subject_local_certificate"], "O=frontend")
        .property(
            &["upstream", "uri_san_local_certificate"],
            "spiffe://example.org/ns/web/sa/frontend",
        )
        .property(
            &["upstream", "uri_san_peer_certificate"],
            "spiffe://example.org/ns/shop/sa/reviews",
        )
        .send(&host);
    let labels = Istio::new().with(&[
        ("reporter", "source"),
        ("source_workload", "frontend"),
        ("source_workload_namespace", "web"),
        ("source_canonical_service", "frontend"),
        (
            "source_principal",
            "spiffe://example.org/ns/web/sa/frontend",
        ),
        ("destination_service", "reviews.shop.svc.cluster.local"),
        (
            "destination_principal",
            "spiffe://example.org/ns/shop/sa/reviews",
        ),
        ("connection_security_policy", "mutual_tls"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
}

// --- Istio node metadata ------------------------------------------------------------------

/// The node metadata an Istio sidecar's Envoy starts with (a subset): the workload
/// `reviews-v2` of the canonical service `reviews`, revision `v2`, in `shop`.
const NODE: &[(&str, &str)] = &[
    ("WORKLOAD_NAME", "reviews-v2"),
    ("NAMESPACE", "shop"),
    ("CLUSTER_ID", "east"),
    ("SERVICE_ACCOUNT", "bookinfo-reviews"),
];
const LABELS: &[(&str, &str)] = &[
    ("app", "reviews"),
    ("version", "v2"),
    ("service.istio.io/canonical-name", "reviews"),
    ("service.istio.io/canonical-revision", "v2"),
    ("pod-template-hash", "7f9c6"),
];

/// A host whose Envoy node metadata has these fields and `LABELS`, running the filter with
/// `config`.
fn node_host(config: &str, fields: &[(&str, &str)], labels: &[(&str, &str)]) -> Host {
    let host = Host::of::<ServiceMetrics>();
    for (key, value) in fields {
        host.set_property(&["xds", "node", "metadata", key], *value);
    }
    for (key, value) in labels {
        host.set_property(&["xds", "node", "metadata", "LABELS", key], *value);
    }
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host.set_property(&["connection", "mtls"], false);
    host
}

/// The line the filter logged when configured.
fn naming_line(host: &Host) -> String {
    let lines: Vec<String> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Info && l.message.starts_with("service-metrics:"))
        .map(|l| l.message)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

const ISTIO_INBOUND: &str = r#"{"direction": "inbound", "naming": "istio"}"#;

/// What the node metadata above names, on the local side of an inbound request.
const FROM_NODE: &[(&str, &str)] = &[
    ("destination_workload", "reviews-v2"),
    ("destination_workload_namespace", "shop"),
    ("destination_app", "reviews"),
    ("destination_version", "v2"),
    ("destination_service", "reviews"),
    ("destination_service_name", "reviews"),
    ("destination_service_namespace", "shop"),
    ("destination_canonical_service", "reviews"),
    ("destination_canonical_revision", "v2"),
    ("destination_cluster", "east"),
];

#[test]
fn node_metadata_names_this_sidecar_when_the_configuration_does_not() {
    let host = node_host(ISTIO_INBOUND, NODE, LABELS);
    Exchange::ok().send(&host);
    let labels = Istio::new().with(FROM_NODE);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
    assert_eq!(
        naming_line(&host),
        "service-metrics: service=reviews (Istio node metadata) \
         namespace=shop (Istio node metadata)"
    );
}

#[test]
fn the_configuration_wins_over_node_metadata() {
    let host = node_host(
        r#"{"direction": "inbound", "naming": "istio", "service": "ratings",
            "namespace": "bookinfo"}"#,
        NODE,
        LABELS,
    );
    Exchange::ok().send(&host);
    // The configured service names the workload too; the labels no field sets still come
    // from the node metadata.
    let labels = Istio::new().with(FROM_NODE).with(&[
        ("destination_workload", "ratings"),
        ("destination_workload_namespace", "bookinfo"),
        ("destination_service", "ratings"),
        ("destination_service_name", "ratings"),
        ("destination_service_namespace", "bookinfo"),
        ("destination_canonical_service", "ratings"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
    assert_eq!(
        naming_line(&host),
        "service-metrics: service=ratings (configuration) namespace=bookinfo (configuration)"
    );

    // Each field on its own: the configured namespace, the service from the metadata.
    let host = node_host(
        r#"{"direction": "inbound", "naming": "istio", "namespace": "bookinfo",
            "service_host": "reviews.bookinfo.svc.cluster.local"}"#,
        NODE,
        LABELS,
    );
    Exchange::ok().send(&host);
    let labels = Istio::new().with(FROM_NODE).with(&[
        ("destination_workload_namespace", "bookinfo"),
        ("destination_service_namespace", "bookinfo"),
        ("destination_service", "reviews.bookinfo.svc.cluster.local"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
    assert_eq!(
        naming_line(&host),
        "service-metrics: service=reviews (Istio node metadata) namespace=bookinfo (configuration)"
    );
}

#[test]
fn partial_node_metadata_falls_back_as_istio_does() {
    // No canonical-name label: `app.kubernetes.io/name`, else `app`, else the workload name.
    for (labels, service, revision) in [
        (
            &[
                ("app.kubernetes.io/name", "reviews-k8s"),
                ("app", "reviews-app"),
                ("app.kubernetes.io/version", "2.1"),
                ("version", "v2"),
            ][..],
            "reviews-k8s",
            "2.1",
        ),
        (
            &[("app", "reviews-app"), ("version", "v2")][..],
            "reviews-app",
            "v2",
        ),
        (&[][..], "reviews-v2", "latest"),
    ] {
        let host = node_host(ISTIO_INBOUND, &NODE[..2], labels);
        Exchange::ok().send(&host);
        let app = labels
            .iter()
            .find(|(k, _)| *k == "app")
            .map_or("unknown", |(_, v)| *v);
        let version = labels
            .iter()
            .find(|(k, _)| *k == "version")
            .map_or("unknown", |(_, v)| *v);
        let expected = Istio::new().with(&[
            ("destination_workload", "reviews-v2"),
            ("destination_app", app),
            ("destination_version", version),
            ("destination_service", service),
            ("destination_service_name", service),
            ("destination_canonical_service", service),
            ("destination_canonical_revision", revision),
        ]);
        assert_eq!(
            expected.requests(&host),
            Some(1),
            "{labels:?}: {:#?}",
            istio_series(&host)
        );
    }

    // Labels but no WORKLOAD_NAME: the workload is named after the service.
    let host = node_host(ISTIO_INBOUND, &NODE[1..2], &LABELS[..2]);
    Exchange::ok().send(&host);
    let expected = Istio::new().with(&[
        ("destination_app", "reviews"),
        ("destination_version", "v2"),
        ("destination_canonical_revision", "v2"),
    ]);
    assert_eq!(
        expected.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
}

#[test]
fn without_configuration_or_node_metadata_this_sidecar_is_unknown() {
    let host = node_host(ISTIO_INBOUND, &[], &[]);
    Exchange::ok().send(&host);
    let labels = Istio::new().with(&[
        ("destination_workload", "unknown"),
        ("destination_workload_namespace", "unknown"),
        ("destination_service", "unknown"),
        ("destination_service_name", "unknown"),
        ("destination_service_namespace", "unknown"),
        ("destination_canonical_service", "unknown"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
    assert_eq!(
        naming_line(&host),
        "service-metrics: service=unknown (default) namespace=unknown (default)"
    );
}

#[test]
fn outbound_node_metadata_names_the_source() {
    let host = node_host(
        r#"{"direction": "outbound", "naming": "istio"}"#,
        NODE,
        LABELS,
    );
    Exchange::ok()
        .property(
            &["xds", "cluster_name"],
            "outbound|9080||ratings.shop.svc.cluster.local",
        )
        .property(&["upstream", "address"], "10.0.0.7:9080")
        .send(&host);
    let labels = Istio::new().with(&[
        ("reporter", "source"),
        ("source_workload", "reviews-v2"),
        ("source_workload_namespace", "shop"),
        ("source_app", "reviews"),
        ("source_version", "v2"),
        ("source_canonical_service", "reviews"),
        ("source_canonical_revision", "v2"),
        ("source_cluster", "east"),
        ("destination_workload", "ratings"),
        ("destination_workload_namespace", "shop"),
        ("destination_service", "ratings.shop.svc.cluster.local"),
        ("destination_service_name", "ratings"),
        ("destination_service_namespace", "shop"),
        ("destination_canonical_service", "ratings"),
    ]);
    assert_eq!(
        labels.requests(&host),
        Some(1),
        "{:#?}",
        istio_series(&host)
    );
}

#[test]
fn native_naming_takes_the_service_from_node_metadata_too() {
    let host = node_host(r#"{"direction": "inbound"}"#, NODE, LABELS);
    Exchange::ok().send(&host);
    assert_eq!(INBOUND_OK.requests(&host), Some(1));
}

#[test]
fn node_metadata_is_read_when_configured_never_per_request() {
    let host = node_host(ISTIO_INBOUND, NODE, LABELS);
    let configured = host.take_property_reads();
    assert!(
        configured
            .iter()
            .all(|p| p.starts_with("xds.node.metadata.")),
        "{configured:?}"
    );
    assert!(configured.contains(&"xds.node.metadata.LABELS.app".to_owned()));
    Exchange::ok().send(&host);
    Exchange::ok().send(&host);
    let per_request = host.take_property_reads();
    assert!(
        per_request.iter().all(|p| !p.starts_with("xds.node")),
        "{per_request:?}"
    );
}

// --- outcomes ----------------------------------------------------------------------------

#[test]
fn response_codes_2xx_4xx_5xx_each_get_a_series() {
    let host = host(INBOUND);
    for code in [200, 201, 404, 404, 500, 503] {
        Exchange::ok().status(code).send(&host);
    }
    for (code, count) in [("200", 1), ("201", 1), ("404", 2), ("500", 1), ("503", 1)] {
        let labels = Native { code, ..INBOUND_OK };
        assert_eq!(labels.requests(&host), Some(count), "{code}");
    }
}

#[test]
fn upstream_resets_and_connection_failures_carry_their_flags() {
    let host = host(INBOUND);
    Exchange {
        response: None,
        flags: UF | URX,
        ..Exchange::ok().status(503)
    }
    .send(&host);
    Exchange {
        response: None,
        flags: UC,
        ..Exchange::ok().status(503)
    }
    .send(&host);
    // Reset before any response reached the client: no response code at all.
    Exchange {
        response: None,
        code: None,
        flags: 1 << 14,
        ..Exchange::ok()
    }
    .send(&host);
    let failed = |flags| Native {
        code: "503",
        flags,
        ..INBOUND_OK
    };
    assert_eq!(failed("UF,URX").requests(&host), Some(1));
    assert_eq!(failed("UC").requests(&host), Some(1));
    let reset = Native {
        code: "0",
        flags: "DC",
        ..INBOUND_OK
    };
    assert_eq!(reset.requests(&host), Some(1));
}

#[test]
fn grpc_status_from_trailers_headers_or_http_status() {
    let host = host(INBOUND);
    let grpc = || Exchange::ok().header("content-type", "application/grpc+proto");
    Exchange {
        trailers: Some(vec![("grpc-status", "0")]),
        ..grpc()
    }
    .send(&host);
    Exchange {
        trailers: Some(vec![("grpc-status", "5"), ("grpc-message", "not found")]),
        ..grpc()
    }
    .send(&host);
    // Trailers-only response: the status is in the headers.
    Exchange {
        response: Some(vec![(":status", "200"), ("grpc-status", "7")]),
        ..grpc()
    }
    .send(&host);
    // A plain 503 to a gRPC request: UNAVAILABLE, as gRPC clients see it.
    Exchange {
        response: None,
        flags: UF,
        ..grpc().status(503)
    }
    .send(&host);
    // A nonsense status is UNKNOWN.
    Exchange {
        trailers: Some(vec![("grpc-status", "banana")]),
        ..grpc()
    }
    .send(&host);
    let labels = |grpc| Native {
        protocol: "grpc",
        grpc,
        ..INBOUND_OK
    };
    for status in ["0", "5", "7", "2"] {
        assert_eq!(
            labels(status).requests(&host),
            Some(1),
            "grpc-status {status}"
        );
    }
    let unavailable = Native {
        code: "503",
        flags: "UF",
        ..labels("14")
    };
    assert_eq!(unavailable.requests(&host), Some(1));
}

#[test]
fn http_requests_ignore_a_grpc_status() {
    let host = host(INBOUND);
    Exchange {
        trailers: Some(vec![("grpc-status", "5")]),
        ..Exchange::ok().header("content-type", "application/grpc-web")
    }
    .send(&host);
    assert_eq!(INBOUND_OK.requests(&host), Some(1));
}

#[test]
fn histograms_record_milliseconds_and_sizes_once_per_request() {
    let host = host(INBOUND);
    Exchange::ok().send(&host);
    Exchange {
        duration_nanos: 999_999,
        request_bytes: 7,
        response_bytes: 0,
        ..Exchange::ok()
    }
    .send(&host);
    let samples = |metric: &str| host.metric(&INBOUND_OK.stat(metric)).unwrap().samples;
    assert_eq!(samples(NATIVE[1]), vec![12, 0]);
    assert_eq!(samples(NATIVE[2]), vec![100, 7]);
    assert_eq!(samples(NATIVE[3]), vec![250, 0]);
    assert_eq!(INBOUND_OK.requests(&host), Some(2));
}

#[test]
fn missing_measurements_are_recorded_as_zero() {
    let host = host(INBOUND);
    let stream = host.stream();
    stream.send_request_headers(&[(":path", "/")]);
    stream.finish();
    let labels = Native {
        code: "0",
        ..INBOUND_OK
    };
    assert_eq!(labels.requests(&host), Some(1));
    let duration = host.metric(&labels.stat(NATIVE[1])).unwrap();
    assert_eq!(duration.samples, vec![0]);
}

// --- local replies from an earlier stage ----------------------------------------------

/// Refuses one path with a 403, like access-control.
struct Deny {
    path: String,
}

impl Filter for Deny {
    const NAME: &'static str = "deny";
    type Stream = ();

    /// `{"path": "/..."}`.
    fn compile(config: &Node<'_>, _: &dyn wasmesh_sdk::Host) -> Result<Self, ConfigError> {
        let fields = config.object(&["path"])?;
        Ok(Deny {
            path: fields.present("path")?.string()?,
        })
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn wasmesh_sdk::Host) -> Flow {
        if host.request_headers().first(":path") == Some(self.path.as_bytes()) {
            return Flow::Reply(LocalReply::error(403, "forbidden", "deny"));
        }
        Flow::Continue
    }
}

struct TestBundle;

impl Bundle for TestBundle {
    const NAME: &'static str = "test-bundle";

    fn stages() -> Vec<(&'static str, StageFactory)> {
        vec![stage::<Deny>(), stage::<ServiceMetrics>()]
    }
}

#[test]
fn a_local_reply_from_an_earlier_stage_is_counted() {
    // A bundle defined by the test: no built module, so natively whatever the backend.
    let host = Host::native::<Chain<TestBundle>>();
    assert!(host.configure(
        r#"{"chain": [{"name": "deny", "config": {"path": "/admin"}},
                      {"name": "service-metrics", "config": {"direction": "inbound", "service": "reviews"}}]}"#
    ));
    let denied = host.stream();
    denied.send_request_headers(&[(":method", "GET"), (":path", "/admin")]);
    assert_eq!(denied.local_reply().unwrap().status, 403);
    denied.finish();
    Exchange::ok().send(&host);
    assert_eq!(
        Native {
            code: "403",
            ..INBOUND_OK
        }
        .requests(&host),
        Some(1)
    );
    assert_eq!(INBOUND_OK.requests(&host), Some(1));
}

// --- cardinality and escaping -------------------------------------------------------------

#[test]
fn label_sets_past_the_cap_are_counted_under_other() {
    let host = host(
        r#"{"direction": "inbound", "service": "reviews", "max_label_sets": 2,
            "trusted_source_header": {"name": "x-caller", "from_cidrs": ["127.0.0.1"]}}"#,
    );
    let overflow = "wasmesh_service_metrics_overflow_total";
    assert_eq!(host.counter(overflow), Some(0));
    for caller in ["a", "b", "c", "d", "a", "c"] {
        Exchange::ok()
            .header("x-caller", caller)
            .property(&["source", "address"], "127.0.0.1:1")
            .send(&host);
    }
    assert_eq!(
        Native {
            source: "a",
            ..INBOUND_OK
        }
        .requests(&host),
        Some(2)
    );
    assert_eq!(
        Native {
            source: "b",
            ..INBOUND_OK
        }
        .requests(&host),
        Some(1)
    );
    let other = Native {
        reporter: "other",
        source: "other",
        destination: "other",
        protocol: "other",
        code: "other",
        grpc: "other",
        flags: "other",
        security: "other",
    };
    assert_eq!(other.requests(&host), Some(3));
    for histogram in &NATIVE[1..] {
        let metric = host.metric(&other.stat(histogram)).unwrap();
        assert_eq!(metric.samples.len(), 3, "{histogram}");
    }
    assert_eq!(host.counter(overflow), Some(3));
    assert!(host
        .metric(
            &Native {
                source: "c",
                ..INBOUND_OK
            }
            .stat(NATIVE[0])
        )
        .is_none());
}

#[test]
fn label_values_cannot_forge_tags() {
    // A mapped service name is configuration, but still escaped like any value.
    let host = host(
        r#"{"direction": "inbound", "service": "reviews",
            "spiffe": {"trust_domains": ["example.org"],
                       "services": {"spiffe://example.org/odd": "x;.;.reporter=.=source"}}}"#,
    );
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://example.org/odd",
    );
    Exchange::ok().send(&host);
    let counters: Vec<String> = host
        .metrics()
        .into_iter()
        .filter(|m| m.name.starts_with(NATIVE[0]))
        .map(|m| m.name)
        .collect();
    assert_eq!(counters.len(), 1);
    let name = &counters[0];
    assert!(
        name.contains(".source_service=.=x%3B.%3B.reporter%3D.%3Dsource;.;"),
        "{name}"
    );
    assert_eq!(name.matches(".reporter=.=").count(), 1, "{name}");
    assert_eq!(name.matches(";.;").count(), 8, "{name}");
}

#[test]
fn header_values_that_are_not_plain_names_are_unknown() {
    let host = host(
        r#"{"direction": "inbound", "service": "reviews",
            "trusted_source_header": {"name": "x-caller", "from_cidrs": ["127.0.0.1"]}}"#,
    );
    for forged in ["a;.;.reporter=.=source", "a b", "caf\u{e9}"] {
        Exchange::ok()
            .header("x-caller", forged)
            .property(&["source", "address"], "127.0.0.1:1")
            .send(&host);
    }
    let stream = host.stream();
    stream.send_request_headers_bytes(vec![(b"x-caller".to_vec(), b"\xff\xfe".to_vec())]);
    stream.set_property(&["source", "address"], "127.0.0.1:1");
    stream.set_property(&["response", "code"], 200i64);
    stream.finish();
    assert_eq!(INBOUND_OK.requests(&host), Some(4));
}

#[test]
fn several_response_flags_are_escaped_not_split() {
    let host = host(INBOUND);
    Exchange {
        flags: UF | URX,
        ..Exchange::ok().status(503)
    }
    .send(&host);
    let stat = Native {
        code: "503",
        flags: "UF,URX",
        ..INBOUND_OK
    }
    .stat(NATIVE[0]);
    assert!(stat.contains(".response_flags=.=UF,URX;.;"), "{stat}");
    assert_eq!(host.counter(&stat), Some(1));
}

// --- configuration -------------------------------------------------------------------------

#[test]
fn an_empty_configuration_is_refused() {
    let host = Host::of::<ServiceMetrics>();
    assert!(!host.configure(""));
    assert!(host.logged(LogLevel::Critical, "service-metrics: config"));
}

#[test]
fn a_bad_configuration_is_refused_with_one_line_naming_the_field() {
    let host = Host::of::<ServiceMetrics>();
    assert!(!host.configure(
        r#"{"direction": "inbound", "trusted_source_header": {"name": "x", "from_cidrs": ["nope"]}}"#
    ));
    let critical: Vec<_> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Critical)
        .collect();
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert!(
        critical[0]
            .message
            .starts_with("service-metrics: config.trusted_source_header.from_cidrs[0]: "),
        "{}",
        critical[0].message
    );
}
