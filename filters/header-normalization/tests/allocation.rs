//! The fast path: deciding about a request that is already canonical allocates nothing
//! (beyond reading the headers from the host, which happens before).
//!
//! The global allocator is the SDK's `CountingAllocator`, which tallies allocations per
//! thread, so tests running in parallel on other threads do not disturb the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use header_normalization::{Config, ConnectionFacts, Decision, Normalizer};
use wasmesh_sdk::testing::{count_allocations, CountingAllocator};
use wasmesh_sdk::HeaderMap;

#[global_allocator]
static COUNTING_ALLOCATOR: CountingAllocator = CountingAllocator;

/// Facts that fail the test if a caller fact is read: a canonical request needs none
/// (only `strip_port: matching` asks for the listener port of an authority with a port).
struct NoFacts;

impl ConnectionFacts for NoFacts {
    fn source_ip(&mut self) -> Option<IpAddr> {
        panic!("source address read")
    }
    fn mtls(&mut self) -> bool {
        panic!("mtls read")
    }
    fn peer_uri_san(&mut self) -> Option<String> {
        panic!("peer SAN read")
    }
    fn listener_port(&mut self) -> Option<u16> {
        Some(10000)
    }
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    HeaderMap::from(pairs)
}

fn normalizer(json: &str) -> Normalizer {
    Normalizer::new(Config::from_json(json.as_bytes()).unwrap()).unwrap()
}

/// Decides about `headers` and returns (allocations made, whether it was forwarded unchanged).
fn measure(normalizer: &Normalizer, headers: &HeaderMap) -> (usize, bool) {
    let ((decision, unchanged), allocations) = count_allocations(|| {
        let decision = normalizer.decide(headers, &mut NoFacts);
        let unchanged = matches!(&decision, Decision::Forward(changes) if changes.ops.is_empty());
        (decision, unchanged)
    });
    drop(decision);
    (allocations, unchanged)
}

const CANONICAL: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "https"),
    (":authority", "api.example.com:8443"),
    (
        ":path",
        "/api/v1/users/42/caf%C3%A9?limit=10&next=%2Fa%2F..%2F",
    ),
    ("content-type", "application/json"),
    ("content-length", "42"),
    ("authorization", "Bearer abc.def.ghi"),
    (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ),
    ("te", "trailers"),
    ("accept", "*/*"),
    ("accept", "text/html"),
    ("user-agent", "curl/8.5.0"),
    ("x-request-id", "7b1f0b8e-1c5d-4f7e-9c1a-0d3a7f1e2b3c"),
];

#[test]
fn a_canonical_request_costs_no_allocation() {
    let headers = map(CANONICAL);
    for config in [
        "{}",
        r#"{"repeated_singletons": "keep_first", "lowercase_methods": "uppercase",
            "renames": [{"from": "x_user", "to": "x-user"}], "singleton_headers": ["x-tenant"],
            "trusted_callers": [{"source_cidrs": ["10.0.0.0/8"]}],
            "authority": {"strip_port": "matching"},
            "original_path_header": "x-original-path",
            "path": {"lowercase": true, "path_params": "strip"}}"#,
    ] {
        let normalizer = normalizer(config);
        let (count, unchanged) = measure(&normalizer, &headers);
        assert!(unchanged, "{config}");
        assert_eq!(count, 0, "{config}");
    }
}

/// The benchmark's request (bench/variants.toml `[request]`) as Envoy hands it to
/// filters: pseudo-headers first, `host` as `:authority`.
const BENCHMARK: &[(&str, &str)] = &[
    (":authority", "orders.shop.svc.cluster.local"),
    (":path", "/api/v1/orders/12345?expand=items"),
    (":method", "GET"),
    (":scheme", "http"),
    (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ),
    ("tracestate", "shop=t61rcWkgMzE"),
    ("x-service-name", "frontend"),
    ("user-agent", "shop-frontend/2.14.1 (okhttp/4.12.0)"),
    ("accept", "application/json"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
    (
        "authorization",
        "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl",
    ),
    ("cookie", "session=7f3e9a1c; theme=dark"),
    ("x-request-id", "2b8f4c1e-6d3a-4f5b-9e7c-1a2b3c4d5e6f"),
    ("x-forwarded-for", "203.0.113.7"),
    ("x-forwarded-proto", "https"),
    ("cache-control", "no-cache"),
    ("referer", "https://shop.example.com/cart"),
    ("baggage", "user.tier=gold,session.region=eu-west-1"),
];

#[test]
fn the_benchmark_request_costs_no_allocation() {
    let headers = map(BENCHMARK);
    for config in [
        "{}",
        r#"{"repeated_singletons": "keep_first", "singleton_headers": ["x-service-name"],
            "internal_headers": ["x-envoy-*", "x-internal"], "authority": {"strip_port": "any"},
            "path": {"lowercase": true}}"#,
    ] {
        let normalizer = normalizer(config);
        let (count, unchanged) = measure(&normalizer, &headers);
        assert!(unchanged, "{config}");
        assert_eq!(count, 0, "{config}");
    }
}

#[test]
fn a_rewritten_request_allocates() {
    let normalizer = normalizer("{}");
    let headers = map(&[(":method", "GET"), (":path", "/a/../b")]);
    let (count, unchanged) = measure(&normalizer, &headers);
    assert!(!unchanged);
    assert!(count > 0);
}
