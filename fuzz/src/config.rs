//! The `json_config` target: the SDK's JSON parser and the configuration of every filter
//! and of the bundle.

use access_control::AccessControl;
use header_normalization::HeaderNormalization;
use service_metrics::ServiceMetrics;
use trace_propagation::TracePropagation;
use wasmesh::WasmeshChain;
use wasmesh_sdk::config::json::{self, MAX_DEPTH};
use wasmesh_sdk::config::{Number, Value};
use wasmesh_sdk::Filter;

/// The input as a configuration: the SDK's JSON parser accepts exactly what `serde_json`
/// accepts (up to its nesting limit) and reads the same values; each filter and the
/// bundle loads it or refuses it the same way twice, with an error that is one line
/// (`<filter>: config.<path>: <reason>`, as it is logged).
pub fn json_config(data: &[u8]) {
    check_json(data);
    load::<HeaderNormalization>(data);
    load::<AccessControl>(data);
    load::<TracePropagation>(data);
    load::<ServiceMetrics>(data);
    load::<WasmeshChain>(data);
}

fn load<F: Filter>(data: &[u8]) {
    let host = wasmesh_testing::MemoryHost::new();
    let first = wasmesh_sdk::load::<F>(data, &host).err();
    let second = wasmesh_sdk::load::<F>(data, &host).err();
    assert_eq!(first, second, "{}: loading is not deterministic", F::NAME);
    if let Some(error) = first {
        let line = format!("{}: {error}", F::NAME);
        assert!(!error.reason().is_empty(), "{line}");
        assert!(
            !line.contains(['\n', '\r']),
            "a configuration error spans several lines: {line:?}"
        );
    }
}

fn check_json(data: &[u8]) {
    let ours = json::parse(data);
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &reference) {
        (Ok(value), Ok(expected)) => {
            assert!(depth_of(expected) <= MAX_DEPTH);
            same_value(value, expected);
        }
        (Err(error), Ok(expected)) => assert!(
            depth_of(expected) > MAX_DEPTH,
            "refused what serde_json reads: {error}"
        ),
        (Ok(value), Err(error)) => crate::fail(format_args!(
            "read what serde_json refuses ({error}): {value:?}"
        )),
        (Err(_), Err(_)) => {}
    }
}

/// How deeply arrays and objects nest in `value` (0 for a scalar).
fn depth_of(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        serde_json::Value::Object(members) => 1 + members.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// `ours` reads as `expected`: the same scalars (integers exactly, other numbers as
/// numbers), arrays, and objects whose last member of each key (which `serde_json`
/// keeps) is the same.
fn same_value(ours: &Value, expected: &serde_json::Value) {
    use serde_json::Value as J;
    match (ours, expected) {
        (Value::Null, J::Null) => {}
        (Value::Bool(a), J::Bool(b)) => assert_eq!(a, b),
        (Value::String(a), J::String(b)) => assert_eq!(a, b),
        (Value::Number(number), J::Number(reference)) => match number {
            Number::UInt(n) => assert_eq!(reference.as_u64(), Some(*n), "{reference}"),
            Number::Int(n) => assert_eq!(reference.as_i64(), Some(*n), "{reference}"),
            _ => {}
        },
        (Value::Array(items), J::Array(reference)) => {
            assert_eq!(items.len(), reference.len());
            for (item, expected) in items.iter().zip(reference) {
                same_value(item, expected);
            }
        }
        (Value::Object(members), J::Object(reference)) => {
            let mut keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), reference.len());
            for (key, expected) in reference {
                let last = members.iter().rev().find(|(k, _)| k == key);
                match last {
                    Some((_, value)) => same_value(value, expected),
                    None => crate::fail(format_args!("member {key:?} missing")),
                }
            }
        }
        (ours, expected) => crate::fail(format_args!(
            "read {ours:?} where serde_json reads {expected}"
        )),
    }
}
