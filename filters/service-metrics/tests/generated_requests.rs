//! Generated exchanges through the filter in the host emulator (proptest): random
//! configurations; hostile requests (caller headers, forged XFCC, non-UTF-8, oversized
//! values); random connection attributes; responses and end-of-stream attributes at the
//! edges of their ranges (negative and huge codes, flags and sizes, missing ones).
//!
//! - Nothing panics (a panic in a proxy-wasm callback aborts the test process natively,
//!   and traps the module in Envoy; the input is printed first), and the filter never
//!   replies itself.
//! - Every exchange is counted exactly once and adds one sample to each histogram.
//! - Every stat name is the family's name and its labels, each value escaped (nothing a
//!   client sends can end a label or add one), and a label set past the cap is `other`
//!   throughout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use service_metrics::ServiceMetrics;
use std::cell::Cell;
use wasmesh_fuzz_strategies::config::service_metrics;
use wasmesh_fuzz_strategies::request::request;
use wasmesh_fuzz_strategies::{note_input, run};
use wasmesh_sdk::metrics::MetricKind;
use wasmesh_testing::{Action, Host, Metric};

/// The families: the request counter, then the three histograms; native and Istio names.
const FAMILIES: [[&str; 4]; 2] = [
    [
        "wasmesh_service_requests_total",
        "wasmesh_service_request_duration_milliseconds",
        "wasmesh_service_request_bytes",
        "wasmesh_service_response_bytes",
    ],
    [
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
    ],
];

const OVERFLOW: &str = "wasmesh_service_metrics_overflow_total";

fn host(config: &str) -> Host {
    let host = Host::of::<ServiceMetrics>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    host
}

/// The labels of a stat name, `family.label=.=value;.;...`, or why it is malformed.
fn labels<'a>(family: &str, name: &'a str) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut rest = name
        .strip_prefix(family)
        .ok_or_else(|| format!("{name} is not of {family}"))?;
    let mut labels = Vec::new();
    while !rest.is_empty() {
        let tag = rest
            .strip_prefix('.')
            .ok_or_else(|| format!("{name}: no `.` before a label"))?;
        let (label, after) = tag
            .split_once("=.=")
            .ok_or_else(|| format!("{name}: a label without `=.=`"))?;
        let (value, after) = after
            .split_once(";.;")
            .ok_or_else(|| format!("{name}: a value without `;.;`"))?;
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!("{name}: label {label:?}"));
        }
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"._~/:@+,-%".contains(&b);
        if !value.bytes().all(plain) || value.ends_with('.') || value.len() > 3 * 128 {
            return Err(format!("{name}: value {value:?} not escaped"));
        }
        labels.push((label, value));
        rest = after;
    }
    Ok(labels)
}

/// How much each family moved: the counter's increase and each histogram's new samples.
fn moved(before: &[Metric], after: &[Metric], families: &[&str; 4]) -> [u64; 4] {
    let mut moved = [0u64; 4];
    for metric in after {
        let old = before.iter().find(|m| m.name == metric.name);
        for (index, family) in families.iter().enumerate() {
            if !metric.name.starts_with(&format!("{family}.")) && metric.name != *family {
                continue;
            }
            moved[index] += match metric.kind {
                MetricKind::Histogram => {
                    (metric.samples.len() - old.map_or(0, |m| m.samples.len())) as u64
                }
                _ => metric.value - old.map_or(0, |m| m.value),
            };
        }
    }
    moved
}

#[test]
fn generated_exchanges_are_counted_once_with_escaped_labels() {
    let overflowed = Cell::new(0u32);
    run(
        file!(),
        1500,
        (service_metrics(), request()),
        |(config, request)| {
            let _noted = note_input(&(config.json.clone(), request.clone()));
            let host = host(&config.json);
            let before = host.metrics();
            // A second exchange answered differently, so that a cap of one label set is
            // reached now and then.
            let mut answered = request.clone();
            answered.end.code = Some(599);
            answered.end.response_headers = Some(vec![(":status".to_owned(), "599".to_owned())]);
            for request in [&request, &answered] {
                let (stream, action) = request.send(&host);
                prop_assert_eq!(action, Action::Continue);
                prop_assert_eq!(stream.local_reply(), None);
                request.end.finish(&host, stream, false);
            }
            let after = host.metrics();
            let families = &FAMILIES[usize::from(config.istio)];
            prop_assert_eq!(moved(&before, &after, families), [2, 2, 2, 2]);
            let mut label_sets = 0;
            for metric in &after {
                if metric.name == OVERFLOW {
                    if metric.value > 0 {
                        overflowed.set(overflowed.get() + 1);
                    }
                    continue;
                }
                let family = families
                    .iter()
                    .find(|f| metric.name.starts_with(&format!("{f}.")));
                prop_assert!(family.is_some(), "unexpected metric {}", metric.name);
                let labels = labels(family.unwrap(), &metric.name).map_err(TestCaseError::fail)?;
                prop_assert!(!labels.is_empty());
                if labels.iter().any(|(_, value)| *value == "other") {
                    let all_other = labels.iter().all(|(_, value)| *value == "other");
                    prop_assert!(all_other, "{}", metric.name);
                } else if family == Some(&families[0]) {
                    label_sets += 1;
                }
            }
            prop_assert!(label_sets <= config.max_label_sets, "{}", label_sets);
            Ok(())
        },
    );
    eprintln!("{} exchanges went past the label-set cap", overflowed.get());
    assert!(overflowed.get() >= 10, "the cap was never reached");
}
