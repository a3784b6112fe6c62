//! The filter's own work per request, natively: the plan `on_request_headers` applies to the
//! benchmark's request (bench/variants.toml `[request]`, with its sidecar configuration),
//! computed `N` times with a fixed random source, without the host. Prints the allocations
//! per request; the instructions per request are what callgrind counts for `N` requests,
//! less the setup alone, divided by `N`:
//!
//! ```sh
//! cargo build --release -p trace-propagation --example plan_cost
//! valgrind --tool=callgrind target/release/examples/plan_cost 10000     # setup + N requests
//! valgrind --tool=callgrind target/release/examples/plan_cost 10000 0   # the setup alone
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use trace_propagation::TracePropagation;
use wasmesh_sdk::testing::{count_allocations, CountingAllocator};
use wasmesh_sdk::{Filter, HeaderMap};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CONFIG: &str =
    r#"{"new_span_id": true, "inject": ["w3c", "b3"], "response_trace_id_header": "x-trace-id"}"#;

const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/api/v1/orders/12345?expand=items"),
    (":scheme", "http"),
    (":authority", "orders.shop.svc.cluster.local"),
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

/// A fixed, cheap random source (a counter), so every run does the same work.
fn fake_random(state: &mut u8) -> impl FnMut(&mut [u8]) + '_ {
    move |buf: &mut [u8]| {
        for byte in buf.iter_mut() {
            *state = state.wrapping_add(1);
            *byte = *state;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |n| n.parse().expect("N"));
    let run = args.next().is_none_or(|run| run != "0");
    let json = wasmesh_sdk::config::json::parse(CONFIG.as_bytes()).expect("config");
    let filter = TracePropagation::compile(json).expect("compiles");
    let headers = HeaderMap::from(REQUEST);
    let mut state = 0u8;
    let mut random = fake_random(&mut state);
    if !run {
        return;
    }
    let (_, allocations) = count_allocations(|| {
        for _ in 0..n {
            let plan = filter.plan(black_box(&headers), &mut random);
            black_box(&plan);
        }
    });
    println!(
        "{n} requests, {:.2} allocations per request",
        allocations as f64 / n as f64
    );
}
