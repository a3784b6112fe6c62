//! service-metrics' `routes` section in the host emulator: one listener fronting several
//! logical services, each route's requests counted under its own destination, the
//! listener's configuration for the rest, every route recording in the listener's metric
//! families (one cap of label sets), and refused entries named by their JSON path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use service_metrics::ServiceMetrics;
use wasmesh_testing::{Host, LogLevel};

const REQUESTS: &str = "wasmesh_service_requests_total";
const ISTIO_REQUESTS: &str = "istio_requests_total";
const OVERFLOW: &str = "wasmesh_service_metrics_overflow_total";

/// One sidecar in front of an application that serves two logical services: `billing`
/// (Envoy's route `billing`) and `catalog` (under `/catalog`); anything else is `shop`.
const INBOUND: &str = r#"{"direction": "inbound", "service": "shop",
    "routes": [
      {"match": {"route_name": "billing"}, "service": "billing"},
      {"match": {"path_prefix": "/catalog"}, "service": "catalog"}
    ]}"#;

fn host(config: &str) -> Host {
    let host = Host::of::<ServiceMetrics>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host.set_property(&["connection", "mtls"], false);
    host
}

/// Sends one request on Envoy's route `route` (none: no route name) to `path`, answered
/// `code`.
fn send(host: &Host, route: Option<&str>, path: &str, code: i64) {
    let stream = host.stream();
    if let Some(route) = route {
        stream.set_property(&["xds", "route_name"], route);
    }
    stream.send_request_headers(&[(":method", "GET"), (":path", path), (":authority", "shop")]);
    stream.send_response_headers(&[(":status", "200")]);
    stream.set_property(&["response", "code"], code);
    stream.set_property(&["response", "flags"], 0i64);
    stream.set_property(&["request", "total_size"], 100i64);
    stream.set_property(&["response", "total_size"], 200i64);
    stream.finish();
}

/// The native request counter of an inbound plaintext request from an unknown caller to
/// `destination`, answered `code`.
fn inbound_stat(destination: &str, code: &str) -> String {
    Host::stat_name(
        REQUESTS,
        &[
            ("reporter", "destination"),
            ("source_service", "unknown"),
            ("destination_service", destination),
            ("request_protocol", "http"),
            ("response_code", code),
            ("grpc_response_status", ""),
            ("response_flags", "-"),
            ("connection_security_policy", "none"),
        ],
    )
}

/// The request counts by `destination_service`, over every series of the counter.
fn by_destination(host: &Host) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for metric in host.metrics() {
        let Some(rest) = metric.name.strip_prefix(REQUESTS) else {
            continue;
        };
        let destination = rest
            .split(".destination_service=.=")
            .nth(1)
            .and_then(|value| value.split(";.;").next())
            .unwrap_or("")
            .to_owned();
        match counts.iter_mut().find(|(d, _)| *d == destination) {
            Some((_, count)) => *count += metric.value,
            None => counts.push((destination, metric.value)),
        }
    }
    counts.sort();
    counts
}

fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = pairs.iter().map(|(d, n)| ((*d).into(), *n)).collect();
    counts.sort();
    counts
}

// --- routes name the destination ---------------------------------------------------------

#[test]
fn two_routes_count_under_their_own_destination_and_the_rest_under_the_listeners() {
    let host = host(INBOUND);
    send(&host, Some("billing"), "/invoices/7", 200);
    send(&host, Some("billing"), "/invoices/8", 503);
    send(&host, Some("catalog-route"), "/catalog/items", 200);
    send(&host, None, "/catalog", 200);
    send(&host, Some("default"), "/cart", 200);
    // `/catalog` by whole segments: `/catalogue` is not under it.
    send(&host, None, "/catalogue", 200);
    assert_eq!(host.counter(&inbound_stat("billing", "200")), Some(1));
    assert_eq!(host.counter(&inbound_stat("billing", "503")), Some(1));
    assert_eq!(host.counter(&inbound_stat("catalog", "200")), Some(2));
    assert_eq!(host.counter(&inbound_stat("shop", "200")), Some(2));
    assert_eq!(
        by_destination(&host),
        counts(&[("billing", 2), ("catalog", 2), ("shop", 2)])
    );
}

#[test]
fn the_first_matching_entry_wins() {
    let host = host(INBOUND);
    // Both entries match: the route name's entry comes first.
    send(&host, Some("billing"), "/catalog/items", 200);
    assert_eq!(by_destination(&host), counts(&[("billing", 1)]));
}

#[test]
fn a_request_keeps_the_route_it_got_in_its_first_callback() {
    let host = host(INBOUND);
    host.take_property_reads();
    let stream = host.stream();
    stream.set_property(&["xds", "route_name"], "billing");
    stream.send_request_headers(&[(":method", "GET"), (":path", "/cart")]);
    // Whatever the attribute says when the stream ends, the request was billing's.
    stream.set_property(&["xds", "route_name"], "other");
    stream.set_property(&["response", "code"], 200i64);
    stream.finish();
    assert_eq!(by_destination(&host), counts(&[("billing", 1)]));
    let reads = host.take_property_reads();
    let route_reads = reads.iter().filter(|r| *r == "xds.route_name").count();
    assert_eq!(route_reads, 1, "{reads:?}");
}

#[test]
fn an_entry_keeps_the_fields_it_does_not_name() {
    // The entry names the service only: `service_host` follows it, as at the top level,
    // and the namespace and trusted header are the listener's.
    let host = host(
        r#"{"direction": "inbound", "naming": "istio", "service": "shop", "namespace": "web",
            "trusted_source_header": {"name": "x-caller", "from_cidrs": ["127.0.0.1"]},
            "routes": [{"match": {"route_name": "billing"}, "service": "billing"}]}"#,
    );
    let stream = host.stream();
    stream.set_property(&["xds", "route_name"], "billing");
    stream.set_property(&["source", "address"], "127.0.0.1:4000");
    stream.send_request_headers(&[(":path", "/"), ("x-caller", "frontend")]);
    stream.set_property(&["response", "code"], 200i64);
    stream.finish();
    let series = istio_series(&host);
    assert_eq!(series.len(), 1, "{series:?}");
    for label in [
        ".source_workload=.=frontend;.;",
        ".destination_workload_namespace=.=web;.;",
        ".destination_service=.=billing;.;",
        ".destination_service_name=.=billing;.;",
    ] {
        assert!(series[0].contains(label), "{label} in {}", series[0]);
    }
}

fn istio_series(host: &Host) -> Vec<String> {
    host.metrics()
        .into_iter()
        .filter(|m| m.name.starts_with(ISTIO_REQUESTS))
        .map(|m| m.name)
        .collect()
}

#[test]
fn istio_routes_name_the_destination_service_and_keep_the_workload() {
    // Istio's node metadata names the pod; the route names the logical service.
    let host = Host::of::<ServiceMetrics>();
    host.set_property(&["xds", "node", "metadata", "WORKLOAD_NAME"], "shop-v1");
    host.set_property(&["xds", "node", "metadata", "NAMESPACE"], "web");
    assert!(host.configure(
        r#"{"direction": "inbound", "naming": "istio",
            "routes": [{"match": {"route_name": "billing"}, "service": "billing",
                        "service_host": "billing.pay.svc.cluster.local", "namespace": "pay"}]}"#
    ));
    host.set_property(&["connection", "mtls"], false);
    send(&host, Some("billing"), "/invoices", 200);
    send(&host, None, "/", 200);
    let series = istio_series(&host);
    assert_eq!(series.len(), 2, "{series:?}");
    let billing = series
        .iter()
        .find(|s| s.contains(".destination_service_name=.=billing;.;"))
        .unwrap();
    for label in [
        ".destination_workload=.=shop-v1;.;",
        ".destination_workload_namespace=.=pay;.;",
        ".destination_service=.=billing.pay.svc.cluster.local;.;",
        ".destination_service_namespace=.=pay;.;",
        ".destination_canonical_service=.=billing;.;",
    ] {
        assert!(billing.contains(label), "{label} in {billing}");
    }
    let listener = series.iter().find(|s| *s != billing).unwrap();
    for label in [
        ".destination_workload=.=shop-v1;.;",
        ".destination_workload_namespace=.=web;.;",
        ".destination_service_name=.=shop-v1;.;",
    ] {
        assert!(listener.contains(label), "{label} in {listener}");
    }
}

#[test]
fn outbound_routes_name_their_destinations() {
    let host = host(
        r#"{"direction": "outbound", "service": "frontend",
            "routes": [
              {"match": {"route_name": "legacy"}, "destinations": {"payments": "billing-v1"}},
              {"match": {"path_prefix": "/partner"}, "destination_from": "authority"}
            ]}"#,
    );
    host.set_property(&["xds", "cluster_name"], "payments");
    for (route, path, authority) in [
        (Some("legacy"), "/pay", "payments"),
        (None, "/partner/orders", "api.partner.example"),
        (None, "/pay", "payments"),
    ] {
        let stream = host.stream();
        if let Some(route) = route {
            stream.set_property(&["xds", "route_name"], route);
        }
        stream.send_request_headers(&[(":path", path), (":authority", authority)]);
        stream.set_property(&["response", "code"], 200i64);
        stream.finish();
    }
    assert_eq!(
        by_destination(&host),
        counts(&[
            ("api.partner.example", 1),
            ("billing-v1", 1),
            ("payments", 1)
        ])
    );
}

// --- one set of metric families -------------------------------------------------------------

#[test]
fn every_route_records_in_the_listeners_families_under_one_cap() {
    let host = host(
        r#"{"direction": "inbound", "service": "shop", "max_label_sets": 2,
            "routes": [
              {"match": {"route_name": "billing"}, "service": "billing"},
              {"match": {"route_name": "catalog"}, "service": "catalog"}
            ]}"#,
    );
    assert_eq!(host.counter(OVERFLOW), Some(0));
    send(&host, Some("billing"), "/", 200);
    send(&host, Some("catalog"), "/", 200);
    // A third label set, on a third configuration: past the listener's cap of two.
    send(&host, None, "/", 200);
    send(&host, Some("billing"), "/", 200);
    assert_eq!(
        by_destination(&host),
        counts(&[("billing", 2), ("catalog", 1), ("other", 1)])
    );
    assert_eq!(host.counter(OVERFLOW), Some(1));
}

#[test]
fn a_label_set_is_defined_once_whatever_route_records_it() {
    // Two entries naming the same destination share its stats with the listener.
    let host = host(
        r#"{"direction": "inbound", "service": "shop",
            "routes": [
              {"match": {"route_name": "a"}, "service": "shop"},
              {"match": {"route_name": "b"}, "service": "shop"}
            ]}"#,
    );
    send(&host, None, "/", 200);
    let defined = host.host_calls("proxy_define_metric");
    send(&host, Some("a"), "/", 200);
    send(&host, Some("b"), "/", 200);
    assert_eq!(host.host_calls("proxy_define_metric"), defined);
    assert_eq!(host.counter(&inbound_stat("shop", "200")), Some(3));
}

// --- host calls ---------------------------------------------------------------------------

/// The host calls of one request on Envoy's route `route`, after a first identical one
/// (which defined its stats and created the attribute batch's expression), and the
/// properties it read.
fn calls_of(config: &str, route: Option<&str>) -> (u64, Vec<String>) {
    let host = host(config);
    send(&host, route, "/cart", 200);
    let before: u64 = host.host_call_counts().values().sum();
    host.take_property_reads();
    send(&host, route, "/cart", 200);
    let calls = host.host_call_counts().values().sum::<u64>() - before;
    (calls, host.take_property_reads())
}

#[test]
fn routes_cost_one_route_name_read_and_nothing_without_them() {
    let plain = r#"{"direction": "inbound", "service": "shop"}"#;
    let (calls, reads) = calls_of(plain, Some("billing"));
    assert!(reads.is_empty(), "{reads:?}");
    // Matched on the route name: that one read more, on the route's configuration or the
    // listener's.
    for route in [Some("billing"), Some("other")] {
        let routed = calls_of(INBOUND, route);
        assert_eq!(routed.0, calls + 1, "{route:?}");
        assert!(routed.1.iter().all(|r| r == "xds.route_name"), "{routed:?}");
    }
    // A path prefix alone is matched on the request headers the filter reads anyway.
    let by_path = r#"{"direction": "inbound", "service": "shop",
        "routes": [{"match": {"path_prefix": "/cart"}, "service": "cart"}]}"#;
    assert_eq!(calls_of(by_path, None), (calls, Vec::new()));
}

// --- refused entries ----------------------------------------------------------------------

#[test]
fn a_refused_entry_is_one_line_naming_its_json_path() {
    for (config, expected) in [
        (
            r#"{"direction": "inbound", "routes": [
                 {"match": {"route_name": "a"}, "service": "billing"},
                 {"match": {"route_name": "b"}, "service": "bad name"}]}"#,
            "service-metrics: config.routes[1].service: `bad name` is not a usable name",
        ),
        (
            r#"{"direction": "inbound", "routes": [
                 {"match": {"route_name": "a"}, "naming": "istio"}]}"#,
            "service-metrics: config.routes[0].naming: unknown field `naming`, expected one of \
             `match`, `service`, `service_host`, `namespace`, `destination_from`, `destinations`",
        ),
        (
            r#"{"direction": "inbound", "routes": [
                 {"match": {"route_name": "a"}, "max_label_sets": 10}]}"#,
            "service-metrics: config.routes[0].max_label_sets: unknown field `max_label_sets`",
        ),
        (
            r#"{"direction": "inbound", "service": "shop", "routes": [
                 {"match": {"path_prefix": "/pay"}, "destinations": {"payments": "billing"}}]}"#,
            "service-metrics: config.routes[0].destinations: only for `direction: outbound`",
        ),
        (
            r#"{"direction": "outbound", "service": "frontend", "routes": [
                 {"match": {"route_name": "a"}, "destinations": {"payments": "billing"}},
                 {"match": {"route_name": "b"}, "service": "backend"}]}"#,
            "service-metrics: config.routes[1].service: an outbound sidecar's `service` names \
             the caller, the same on every route (`frontend`, not `backend`)",
        ),
        (
            r#"{"direction": "outbound", "service": "frontend", "routes": [
                 {"match": {"route_name": "a"}, "namespace": "other"}]}"#,
            "service-metrics: config.routes[0].namespace: an outbound sidecar's `namespace`",
        ),
        (
            r#"{"direction": "outbound", "routes": [
                 {"match": {"route_name": "a"}, "destinations": {"payments": "a;b"}}]}"#,
            "service-metrics: config.routes[0].destinations.payments: `a;b` is not a usable name",
        ),
        (
            r#"{"direction": "inbound", "routes": [{"match": {"path_prefix": "pay"}}]}"#,
            "service-metrics: config.routes[0].match.path_prefix: must start with `/`",
        ),
        (
            r#"{"direction": "inbound", "routes": {"match": {"route_name": "a"}}}"#,
            "service-metrics: config.routes: expected an array",
        ),
    ] {
        let host = Host::of::<ServiceMetrics>();
        assert!(!host.configure(config), "accepted {config}");
        let critical: Vec<String> = host
            .logs()
            .into_iter()
            .filter(|l| l.level == LogLevel::Critical)
            .map(|l| l.message)
            .collect();
        assert_eq!(critical.len(), 1, "{config}: {critical:?}");
        assert!(critical[0].starts_with(expected), "{config}: {critical:?}");
    }
}

#[test]
fn an_outbound_entry_may_repeat_the_listeners_own_names() {
    host(
        r#"{"direction": "outbound", "service": "frontend", "namespace": "web",
            "routes": [{"match": {"route_name": "a"}, "service": "frontend",
                        "namespace": "web", "destination_from": "authority"}]}"#,
    );
}
