//! The four filters as one chain in the bundle, driven through the proxy-wasm dispatcher.

use wasmesh::WasmeshChain;
use wasmesh_testing::{Action, Host, HttpStream};

const CHAIN: &str = r#"{"chain": [
    {"name": "header-normalization"},
    {"name": "access-control", "config": {
        "identity": {"sources": ["peer_certificate"], "spiffe": {"trust_domains": ["example.org"]}},
        "rules": [
            {"name": "no-admin", "action": "deny", "callers": ["frontend"], "paths": [{"prefix": "/admin"}]},
            {"name": "frontend", "action": "allow", "callers": ["frontend"]}
        ]
    }},
    {"name": "trace-propagation"},
    {"name": "service-metrics", "config": {
        "direction": "inbound", "service": "orders",
        "spiffe": {"trust_domains": ["example.org"]}
    }}
]}"#;

fn host() -> Host {
    host_with(CHAIN)
}

/// The chain configured with `config`, the caller `frontend` by its certificate.
fn host_with(config: &str) -> Host {
    let host = Host::of::<WasmeshChain>();
    assert!(host.configure(config), "{:?}", host.logs());
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://example.org/ns/shop/sa/frontend",
    );
    host
}

fn get(host: &Host, path: &str) -> (HttpStream, Action) {
    let stream = host.stream();
    let action = stream.send_request_headers(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "orders"),
        (":path", path),
    ]);
    (stream, action)
}

fn requests_total(host: &Host, code: &str) -> u64 {
    host.metrics()
        .iter()
        .filter(|m| m.name.starts_with("wasmesh_service_requests_total"))
        .filter(|m| m.name.contains(&format!(".response_code=.={code};.;")))
        .map(|m| m.value)
        .sum()
}

#[test]
fn a_request_goes_through_all_four_stages() {
    let host = host();
    let (stream, action) = get(&host, "/api/./items//1");
    assert_eq!(action, Action::Continue);
    // header-normalization canonicalized the path that access-control then allowed.
    assert_eq!(
        stream.request_header(":path").as_deref(),
        Some("/api/items/1")
    );
    // access-control passed the verified caller on.
    assert_eq!(
        stream.request_header("x-wasmesh-caller").as_deref(),
        Some("frontend")
    );
    // trace-propagation started a trace.
    let traceparent = stream.request_header("traceparent").unwrap();
    assert!(traceparent.starts_with("00-"), "{traceparent}");
    stream.set_property(&["response", "code"], 200i64);
    stream.send_response_headers(&[(":status", "200")]);
    stream.finish();
    // service-metrics counted it when the stream ended.
    assert_eq!(requests_total(&host, "200"), 1);
}

#[test]
fn a_denial_stops_the_chain_and_is_still_counted() {
    let host = host();
    let (stream, action) = get(&host, "/public/../admin/users");
    assert_eq!(action, Action::Pause);
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["rule"], "no-admin");
    // Later stages never saw the request: no trace context was added.
    assert_eq!(stream.request_header("traceparent"), None);
    stream.finish();
    assert_eq!(requests_total(&host, "403"), 1);
}

#[test]
fn a_hostile_path_is_rejected_before_access_control_sees_it() {
    let host = host();
    let (stream, action) = get(&host, "/public/..;/admin");
    assert_eq!(action, Action::Pause);
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["rule"], "dot_segment_parameter");
    stream.finish();
    assert_eq!(requests_total(&host, "400"), 1);
}

/// Ends a stream answered 200 by the upstream, with the attributes Envoy has at its end.
fn finish_ok(stream: HttpStream) {
    stream.set_property(&["response", "code"], 200i64);
    stream.set_property(&["response", "flags"], 0i64);
    stream.set_property(&["request", "total_size"], 120i64);
    stream.set_property(&["response", "total_size"], 80i64);
    stream.send_response_headers(&[(":status", "200")]);
    stream.finish();
}

#[test]
fn the_stages_share_one_read_of_the_request_headers_for_the_whole_request() {
    let host = host();
    let reads = || host.host_calls("proxy_get_header_map_pairs");
    let first_value_reads = || host.host_calls("proxy_get_header_map_value");
    let before = (reads(), first_value_reads());
    // A path header-normalization rewrites: the later stages see the rewritten one.
    let (stream, action) = get(&host, "/api/./items//1");
    assert_eq!(action, Action::Continue);
    assert_eq!((reads(), first_value_reads()), (before.0 + 1, before.1));
    assert_eq!(
        stream.request_header(":path").as_deref(),
        Some("/api/items/1")
    );
    // service-metrics reads the request's headers at its end from the same copy.
    finish_ok(stream);
    assert_eq!((reads(), first_value_reads()), (before.0 + 1, before.1));
    assert_eq!(requests_total(&host, "200"), 1);
}

#[test]
fn service_metrics_labels_by_the_caller_access_control_verified() {
    let host = host();
    for _ in 0..2 {
        host.take_property_reads();
        let (stream, _) = get(&host, "/api/items");
        finish_ok(stream);
        let reads = host.take_property_reads();
        // access-control reads the certificate once; service-metrics reads no identity
        // again and gets the end-of-stream attributes in one batch (no property read).
        assert_eq!(
            reads,
            ["connection.mtls", "connection.uri_san_peer_certificate"],
            "{reads:?}"
        );
    }
    let by_frontend: u64 = host
        .metrics()
        .iter()
        .filter(|m| m.name.starts_with("wasmesh_service_requests_total"))
        .filter(|m| m.name.contains(".source_service=.=frontend;.;"))
        .filter(|m| {
            m.name
                .contains(".connection_security_policy=.=mutual_tls;.;")
        })
        .map(|m| m.value)
        .sum();
    assert_eq!(by_frontend, 2);
}

/// The chain with a `routes` section in two stages: on Envoy's route `admin`,
/// access-control denies everyone and service-metrics names the destination `orders-admin`.
const ROUTED_CHAIN: &str = r#"{"chain": [
    {"name": "header-normalization"},
    {"name": "access-control", "config": {
        "identity": {"sources": ["peer_certificate"], "spiffe": {"trust_domains": ["example.org"]}},
        "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}],
        "routes": [{"match": {"route_name": "admin"}, "rules": []}]
    }},
    {"name": "trace-propagation"},
    {"name": "service-metrics", "config": {
        "direction": "inbound", "service": "orders",
        "spiffe": {"trust_domains": ["example.org"]},
        "routes": [{"match": {"route_name": "admin"}, "service": "orders-admin"}]
    }}
]}"#;

/// The number of requests counted with this destination service and response code.
fn requests_to(host: &Host, service: &str, code: &str) -> u64 {
    host.metrics()
        .iter()
        .filter(|m| m.name.starts_with("wasmesh_service_requests_total"))
        .filter(|m| {
            m.name
                .contains(&format!(".destination_service=.={service};.;"))
        })
        .filter(|m| m.name.contains(&format!(".response_code=.={code};.;")))
        .map(|m| m.value)
        .sum()
}

#[test]
fn each_stage_applies_its_own_route_entries() {
    let host = host_with(ROUTED_CHAIN);
    for (route, status) in [("admin", "403"), ("api", "200"), ("admin", "403")] {
        let stream = host.stream();
        stream.set_property(&["xds", "route_name"], route);
        stream.set_property(&["response", "code"], status.parse::<i64>().unwrap());
        host.take_property_reads();
        let action = stream.send_request_headers(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "orders"),
            (":path", "/api/items/1"),
        ]);
        let reads = host.take_property_reads();
        let route_reads = reads.iter().filter(|r| *r == "xds.route_name").count();
        // Read once for both stages.
        assert_eq!(route_reads, 1, "{reads:?}");
        if status == "403" {
            assert_eq!(action, Action::Pause, "{route}");
            assert_eq!(stream.local_reply().unwrap().status, 403);
        } else {
            assert_eq!(action, Action::Continue, "{route}");
            stream.send_response_headers(&[(":status", "200")]);
        }
        stream.finish();
    }
    assert_eq!(requests_to(&host, "orders-admin", "403"), 2);
    assert_eq!(requests_to(&host, "orders", "200"), 1);
    assert_eq!(requests_to(&host, "orders", "403"), 0);
}

#[test]
fn a_bad_route_entry_in_a_stage_names_its_path_in_the_chain() {
    let host = Host::of::<WasmeshChain>();
    let config = r#"{"chain": [{"name": "service-metrics", "config": {
        "direction": "inbound", "service": "orders",
        "routes": [{"match": {"route_name": "a"}, "service": "x"}, {"match": {"host": "a:1"}, "service": "y"}]
    }}]}"#;
    assert!(!host.configure(config));
    assert!(
        host.logged(
            wasmesh_testing::LogLevel::Critical,
            "wasmesh: config.chain[0].config.routes[1].match.host: expected a host name"
        ),
        "{:?}",
        host.logs()
    );
}

/// A request header-normalization changed in a way that changes its route: the route name
/// Envoy reports is the old route's, so a later stage matching on it does not guess.
#[test]
fn a_stage_matching_route_names_does_not_serve_a_request_rerouted_before_it() {
    let host = host_with(ROUTED_CHAIN);
    let send = |path: &str| {
        let stream = host.stream();
        // Envoy chose the route for the path as received.
        stream.set_property(&["xds", "route_name"], "api");
        let action = stream.send_request_headers(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "orders"),
            (":path", path),
        ]);
        (stream, action)
    };
    // Made canonical: the client is sent to the canonical path, which Envoy routes anew.
    let (stream, action) = send("/api/../admin/./users?x=1");
    assert_eq!(action, Action::Pause);
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.status, 307);
    assert_eq!(reply.header("location"), Some("/admin/users?x=1"));
    stream.finish();
    // Canonical already: served on the route Envoy chose.
    let (stream, action) = send("/admin/users?x=1");
    assert_eq!(action, Action::Continue);
    assert_eq!(stream.local_reply(), None);
    stream.finish();
    // service-metrics, whose entries need the route name too, still counts both: the
    // redirected one with the listener's destination.
    let counted: u64 = host
        .metrics()
        .iter()
        .filter(|m| m.name.starts_with("wasmesh_service_requests_total"))
        .filter(|m| m.name.contains(".destination_service=.=orders;.;"))
        .map(|m| m.value)
        .sum();
    assert_eq!(counted, 2);
}
