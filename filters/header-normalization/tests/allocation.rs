//! The fast path: deciding about a request that is already canonical allocates nothing
//! (beyond reading the headers from the host, which happens before).
//!
//! The global allocator is wasmesh-testing's `CountingAllocator`, which tallies allocations per
//! thread, so tests running in parallel on other threads do not disturb the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use header_normalization::{Config, ConnectionFacts, Decision, Normalizer};
use wasmesh_sdk::HeaderMap;
use wasmesh_testing::{count_allocations, CountingAllocator, BENCHMARK_REQUEST};

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

#[test]
fn the_benchmark_request_costs_no_allocation() {
    let headers = map(BENCHMARK_REQUEST);
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
