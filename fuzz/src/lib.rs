//! Fuzz target bodies: one function per parser of wasmesh, each taking arbitrary bytes.
//!
//! Every body runs its parser on the input and checks the parser's own invariants (a
//! canonical path is a fixed point of canonicalization, a parsed `traceparent` written
//! back reads the same, a configuration is refused with a one-line error, ...), panicking
//! when one does not hold. The same bodies run
//!
//! - under proptest in `cargo test` (`tests/properties.rs`), on inputs generated from each
//!   grammar by `wasmesh-fuzz-strategies`, and
//! - under libFuzzer in `make fuzz` (`fuzz_targets/<name>.rs`, feature `libfuzzer`), on
//!   inputs libFuzzer mutates.
//!
//! Inputs made of several values (a header with repeated values, the five `x-b3-*`
//! headers, a CIDR and addresses) are lines separated by `\n`; see [`input`] for the
//! encodings, which the property tests use to turn generated values into bytes.
//!
//! | target | parser |
//! | --- | --- |
//! | [`path`] | `wasmesh_path::canonicalize` (first byte: the options) |
//! | [`traceparent`] | `TraceParent::parse` |
//! | [`tracestate`] | `TraceState::parse`, `tracestate::is_canonical` |
//! | [`baggage`] | `limit_baggage`, `baggage::is_within_limits` |
//! | [`b3_single`] | `B3::extract_single` |
//! | [`b3_multi`] | `B3::extract_multi`, `B3::extract` |
//! | [`xfcc`] | `identity::parse_xfcc` |
//! | [`spiffe_id`] | `SpiffeId::parse`, `SpiffeMapping::service_of` |
//! | [`cidr`] | `Cidr::parse`, `Cidr::contains`, `parse_source_address` |
//! | [`json_config`] | `config::json::parse`, and every filter's and the bundle's configuration |

// Natively the proxy-wasm host functions the filters import are the host emulator's.
#[cfg(not(target_arch = "wasm32"))]
use wasmesh_testing as _;

mod config;
mod identity;
pub mod input;
mod paths;
mod trace;

pub use config::json_config;
pub use identity::{cidr, spiffe_id, xfcc};
pub use paths::{path, path_options};
pub use trace::{b3_multi, b3_single, baggage, traceparent, tracestate};

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `cargo fuzz` binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("path", path),
    ("traceparent", traceparent),
    ("tracestate", tracestate),
    ("baggage", baggage),
    ("b3_single", b3_single),
    ("b3_multi", b3_multi),
    ("xfcc", xfcc),
    ("spiffe_id", spiffe_id),
    ("cidr", cidr),
    ("json_config", json_config),
];

/// Fails the target: an invariant does not hold.
#[allow(clippy::panic)]
#[track_caller]
fn fail(message: std::fmt::Arguments<'_>) -> ! {
    panic!("{message}")
}

/// `value` without the spaces and tabs around it (HTTP's optional whitespace).
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |at| at + 1);
    value.get(start..end).unwrap_or_default()
}
