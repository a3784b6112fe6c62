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
use wasmesh_testing::BENCHMARK_REQUEST;

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

fn main() {
    let times: u64 = std::env::args()
        .nth(1)
        .map_or(10_000, |n| n.parse().expect("a number of decisions"));
    let normalizer = Normalizer::new(Config::from_json(b"{}").unwrap()).unwrap();
    // As Envoy hands it to the filter: with the internal header its connection manager adds
    // to a request from outside, which the filter removes.
    let mut request = BENCHMARK_REQUEST.to_vec();
    request.push(("x-envoy-external-address", "127.0.0.1"));
    let headers = HeaderMap::from(request.as_slice());
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
