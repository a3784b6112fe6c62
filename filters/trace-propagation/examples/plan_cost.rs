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
use wasmesh_sdk::HeaderMap;
use wasmesh_testing::{count_allocations, CountingAllocator, BENCHMARK_REQUEST};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CONFIG: &str =
    r#"{"new_span_id": true, "inject": ["w3c", "b3"], "response_trace_id_header": "x-trace-id"}"#;

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
    let host = wasmesh_testing::MemoryHost::new();
    let filter = wasmesh_sdk::load::<TracePropagation>(CONFIG.as_bytes(), &host).expect("compiles");
    let headers = HeaderMap::from(BENCHMARK_REQUEST);
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
