//! Every fuzz target body, run by proptest on inputs generated from its grammar (not just
//! random bytes). A failure prints the minimal failing input; proptest keeps its seed in
//! `proptest-regressions/properties.txt` and replays it first on every later run.
//!
//! Each test also counts how its inputs fared (accepted, refused, rewritten...) and
//! requires every outcome often enough, so that a generator that drifts away from its
//! grammar fails instead of testing nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use std::cell::Cell;
use trace_propagation::trace_context::{limit_baggage, B3MultiValues, TraceParent, TraceState, B3};
use wasmesh_fuzz::input::{b3_lines, join_lines, lines};
use wasmesh_fuzz_strategies::{self as strategies, identity, path, run, trace};
use wasmesh_identity::{parse_xfcc, Cidr, SpiffeId};
use wasmesh_path::canonicalize;

/// Counts outcomes of generated inputs.
struct Tally<const N: usize>([Cell<u32>; N]);

impl<const N: usize> Default for Tally<N> {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Cell::new(0)))
    }
}

impl<const N: usize> Tally<N> {
    fn count(&self, outcome: usize) {
        let cell = &self.0[outcome];
        cell.set(cell.get() + 1);
    }

    /// Every outcome was seen at least `min` times.
    fn require(&self, what: &str, names: [&str; N], min: u32) {
        let counts: Vec<(&str, u32)> = names
            .iter()
            .zip(&self.0)
            .map(|(name, cell)| (*name, cell.get()))
            .collect();
        eprintln!("{what}: {counts:?}");
        for (name, count) in &counts {
            assert!(*count >= min, "{what}: only {count} {name} ({counts:?})");
        }
    }
}

/// Zero to two header values, one most of the time.
fn header_values(
    value: impl Strategy<Value = Vec<u8>> + Clone,
) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        1 => Just(Vec::new()),
        12 => value.clone().prop_map(|v| vec![v]),
        2 => prop::collection::vec(value, 2..4),
    ]
}

#[test]
fn the_options_byte_reads_back() {
    run(file!(), 300, path::options(), |options| {
        prop_assert_eq!(
            wasmesh_fuzz::path_options(path::options_byte(&options)),
            options
        );
        Ok(())
    });
}

#[test]
fn path() {
    let tally = Tally::<3>::default();
    run(
        file!(),
        4000,
        (path::options(), path::target()),
        |(options, target)| {
            let mut data = vec![path::options_byte(&options)];
            data.extend_from_slice(&target);
            wasmesh_fuzz::path(&data);
            tally.count(match canonicalize(&target, &options) {
                Ok(canonical) if canonical.is_changed() => 0,
                Ok(_) => 1,
                Err(_) => 2,
            });
            Ok(())
        },
    );
    tally.require("paths", ["rewritten", "unchanged", "refused"], 300);
}

#[test]
fn traceparent() {
    let tally = Tally::<2>::default();
    run(
        file!(),
        3000,
        header_values(trace::traceparent()),
        |values| {
            let data = join_lines(&values);
            wasmesh_fuzz::traceparent(&data);
            tally.count(usize::from(TraceParent::parse(&lines(&data)).is_err()));
            Ok(())
        },
    );
    tally.require("traceparent", ["valid", "invalid"], 500);
}

#[test]
fn tracestate() {
    let tally = Tally::<3>::default();
    run(
        file!(),
        2000,
        header_values(trace::tracestate()),
        |values| {
            let data = join_lines(&values);
            wasmesh_fuzz::tracestate(&data);
            tally.count(match TraceState::parse(&lines(&data)) {
                Ok(state) if state.is_empty() => 0,
                Ok(_) => 1,
                Err(_) => 2,
            });
            Ok(())
        },
    );
    tally.require("tracestate", ["empty", "entries", "invalid"], 50);
}

#[test]
fn baggage() {
    let tally = Tally::<3>::default();
    run(file!(), 1500, header_values(trace::baggage()), |values| {
        let data = join_lines(&values);
        wasmesh_fuzz::baggage(&data);
        let values = lines(&data);
        tally.count(match limit_baggage(&values) {
            None => 0,
            Some(out) if values.len() == 1 && out.as_bytes() == values[0] => 1,
            Some(_) => 2,
        });
        Ok(())
    });
    tally.require("baggage", ["nothing kept", "unchanged", "limited"], 50);
}

#[test]
fn b3_single() {
    let tally = Tally::<2>::default();
    run(file!(), 2000, header_values(trace::b3_single()), |values| {
        let data = join_lines(&values);
        wasmesh_fuzz::b3_single(&data);
        tally.count(usize::from(B3::extract_single(&lines(&data)).is_err()));
        Ok(())
    });
    tally.require("b3", ["valid", "invalid"], 300);
}

#[test]
fn b3_multi() {
    let tally = Tally::<2>::default();
    run(
        file!(),
        2000,
        (
            trace::b3_multi(),
            prop::collection::vec(trace::b3_single(), 0..2),
        ),
        |(multi, single)| {
            let mut headers: Vec<(usize, Vec<u8>)> = Vec::new();
            for (index, values) in [
                &multi.trace_id,
                &multi.span_id,
                &multi.parent_span_id,
                &multi.sampled,
                &multi.flags,
                &single,
            ]
            .into_iter()
            .enumerate()
            {
                headers.extend(values.iter().map(|v| (index, v.clone())));
            }
            let data = b3_lines(&headers);
            wasmesh_fuzz::b3_multi(&data);
            let [t, s, p, sampled, flags, _] = wasmesh_fuzz::input::b3_values(&data);
            let values = B3MultiValues {
                trace_id: &t,
                span_id: &s,
                parent_span_id: &p,
                sampled: &sampled,
                flags: &flags,
            };
            tally.count(usize::from(B3::extract_multi(&values).is_err()));
            Ok(())
        },
    );
    tally.require("x-b3-*", ["valid", "invalid"], 300);
}

#[test]
fn xfcc() {
    let tally = Tally::<2>::default();
    run(file!(), 2000, identity::xfcc(), |value| {
        wasmesh_fuzz::xfcc(&value);
        tally.count(usize::from(parse_xfcc(&value).is_err()));
        Ok(())
    });
    tally.require("xfcc", ["parsed", "malformed"], 200);
}

#[test]
fn spiffe_id() {
    let tally = Tally::<2>::default();
    run(file!(), 3000, identity::spiffe_id(), |id| {
        wasmesh_fuzz::spiffe_id(id.as_bytes());
        tally.count(usize::from(SpiffeId::parse(&id).is_err()));
        Ok(())
    });
    tally.require("spiffe ids", ["valid", "invalid"], 500);
}

#[test]
fn cidr() {
    // A block made from an address, and that address among those checked against it.
    let related = (identity::ip(), 0u8..=128, any::<u16>()).prop_map(|(ip, prefix, port)| {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.min(width);
        let block = format!("{}/{prefix}", identity::network(ip, prefix));
        let address = match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        (block, vec![address])
    });
    let unrelated = (
        identity::cidr(),
        prop::collection::vec(identity::source_address(), 0..5),
    );
    let tally = Tally::<2>::default();
    run(
        file!(),
        2000,
        prop_oneof![related, unrelated],
        |(block, addresses)| {
            let mut lines = vec![block.clone()];
            lines.extend(addresses);
            wasmesh_fuzz::cidr(&join_lines(&lines));
            tally.count(usize::from(Cidr::parse(&block).is_err()));
            Ok(())
        },
    );
    tally.require("cidrs", ["valid", "invalid"], 300);
}

/// Found by the `cidr` property: a block written as IPv4-mapped IPv6 (`::ffff:0.0.0.0/96`)
/// held no address at all, not even its own. It is now the IPv4 block it stands for.
#[test]
fn ipv4_mapped_blocks_hold_their_addresses() {
    let block = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
    assert!(block.contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!(block.contains("10.1.2.3".parse().unwrap()));
}

/// Found by the `json_config` property's one-line check: a refused configuration is logged
/// as one line naming the field, and a key or value holding a line break (`{"a\nb": 1}`)
/// must neither split it nor forge a second line.
#[test]
fn configuration_errors_are_one_line() {
    for document in [
        &br#"{"a\nb": 1}"#[..],
        br#"{"lowercase_methods": "reject\nheader-normalization: config accepted"}"#,
    ] {
        let host = wasmesh_testing::MemoryHost::new();
        let error = wasmesh_sdk::load::<header_normalization::HeaderNormalization>(document, &host)
            .err()
            .unwrap()
            .to_string();
        assert!(!error.contains('\n'), "{error:?}");
    }
}

#[test]
fn json_config() {
    use access_control::AccessControl;
    use header_normalization::HeaderNormalization;
    use service_metrics::ServiceMetrics;
    use trace_propagation::TracePropagation;
    use wasmesh::WasmeshChain;
    use wasmesh_sdk::Filter;

    fn load<F: Filter>(document: &[u8]) -> Result<F, wasmesh_sdk::ConfigError> {
        wasmesh_sdk::load::<F>(document, &wasmesh_testing::MemoryHost::new())
    }

    let tally = Tally::<6>::default();
    run(file!(), 800, strategies::config::document(), |document| {
        wasmesh_fuzz::json_config(&document);
        let loaded = [
            load::<HeaderNormalization>(&document).is_ok(),
            load::<AccessControl>(&document).is_ok(),
            load::<TracePropagation>(&document).is_ok(),
            load::<ServiceMetrics>(&document).is_ok(),
            load::<WasmeshChain>(&document).is_ok(),
        ];
        for (index, ok) in loaded.into_iter().enumerate() {
            if ok {
                tally.count(index);
            }
        }
        if !loaded.contains(&true) {
            tally.count(5);
        }
        Ok(())
    });
    tally.require(
        "configurations accepted",
        [
            "header-normalization",
            "access-control",
            "trace-propagation",
            "service-metrics",
            "bundle",
            "by none",
        ],
        15,
    );
}
