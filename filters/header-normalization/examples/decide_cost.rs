//! The cost of `Normalizer::decide` on the benchmark's request (bench/variants.toml
//! `[request]`, config `{}`), for callgrind: `decide_cost N` decides N times, so the
//! difference between two runs divided by the difference of their N is the cost of one
//! decision. `cargo build --release --example decide_cost`, then e.g.
//! `valgrind --tool=callgrind target/release/examples/decide_cost 10000` (and 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::IpAddr;

use header_normalization::{Config, ConnectionFacts, Decision, Normalizer};
use wasmesh_sdk::HeaderMap;

/// Facts that know nothing: the benchmark request needs none.
struct NoFacts;

impl ConnectionFacts for NoFacts {
    fn source_ip(&mut self) -> Option<IpAddr> {
        None
    }
    fn mtls(&mut self) -> bool {
        false
    }
    fn peer_uri_san(&mut self) -> Option<String> {
        None
    }
    fn listener_port(&mut self) -> Option<u16> {
        None
    }
}

/// The benchmark request as Envoy hands it to the filter: pseudo-headers first, `host`
/// as `:authority`, names lowercase.
const REQUEST: &[(&str, &str)] = &[
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
    // Added by Envoy's connection manager before any filter (`use_remote_address`): an
    // internal header the filter removes.
    ("x-envoy-external-address", "127.0.0.1"),
];

fn main() {
    let times: u64 = std::env::args()
        .nth(1)
        .map_or(10_000, |n| n.parse().expect("a number of decisions"));
    let normalizer = Normalizer::new(Config::from_json(b"{}").unwrap()).unwrap();
    let headers = HeaderMap::from(REQUEST);
    let mut forwarded = 0u64;
    for _ in 0..times {
        let decision = black_box(&normalizer).decide(black_box(&headers), &mut NoFacts);
        if matches!(&decision, Decision::Forward(changes) if changes.ops.len() == 1) {
            forwarded += 1;
        }
        black_box(decision);
    }
    assert_eq!(
        forwarded, times,
        "the benchmark request is forwarded with Envoy's internal header removed"
    );
    println!("{times} decisions");
}
