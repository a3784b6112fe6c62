//! Generated requests through the bundle in the host emulator (proptest): random chains of
//! the four filters with random configurations (access-control with the path options of
//! header-normalization), hostile requests, random connection attributes and endings.
//!
//! - Nothing panics (a panic in a proxy-wasm callback aborts the test process natively,
//!   and traps the module in Envoy; the input is printed first).
//! - A reply is header-normalization's (`400`/`431` naming its rule, `307` to the
//!   canonical path) or access-control's (the configured status, `access_denied`), from a
//!   stage that is configured; nothing else replies.
//! - A request the bundle forwards satisfies each stage's properties: its path is
//!   canonical and header-normalization alone forwards it unchanged; access-control
//!   allowed it (or only reported it, in shadow mode) and sent one caller at most;
//!   trace-propagation's formats are there, valid, one value each.
//! - Access-control counts each request that reaches it once, service-metrics every
//!   request once, replies included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use header_normalization::HeaderNormalization;
use proptest::prelude::*;
use std::cell::Cell;
use trace_propagation::trace_context::{B3MultiValues, TraceParent, B3};
use wasmesh::WasmeshChain;
use wasmesh_fuzz_strategies::config::bundle;
use wasmesh_fuzz_strategies::request::{request, values_of, Fields, Request};
use wasmesh_fuzz_strategies::{note_input, run};
use wasmesh_testing::{Action, Host, Metric};

/// The sum of the counters whose stat name starts with `family`.
fn total(metrics: &[Metric], family: &str) -> u64 {
    metrics
        .iter()
        .filter(|m| m.name.starts_with(family))
        .map(|m| m.value)
        .sum()
}

/// The counters of `family` that moved between `before` and `after`.
fn moved(before: &[Metric], after: &[Metric], family: &str) -> Vec<String> {
    after
        .iter()
        .filter(|m| m.name.starts_with(family))
        .filter(|m| {
            before
                .iter()
                .find(|b| b.name == m.name)
                .map_or(0, |b| b.value)
                != m.value
        })
        .map(|m| m.name.clone())
        .collect()
}

/// Runs `request` through header-normalization alone, configured with `config`, on a
/// connection it trusts; `Ok(forwarded headers)` or `Err(status)`.
fn normalize_alone(config: &str, request: &Request) -> Result<Fields, u16> {
    let host = Host::of::<HeaderNormalization>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    let mut request = request.clone();
    request.connection.mtls = Some(true);
    let (stream, _) = request.send(&host);
    let outcome = match stream.local_reply() {
        None => Ok(stream.request_headers_bytes()),
        Some(reply) => Err(reply.status),
    };
    stream.finish();
    outcome
}

#[test]
fn generated_requests_through_the_bundle() {
    let counts = [Cell::new(0u32), Cell::new(0), Cell::new(0)];
    run(file!(), 1000, (bundle(), request()), |(config, request)| {
        let _noted = note_input(&(config.json.clone(), request.clone()));
        let host = Host::of::<WasmeshChain>();
        prop_assert!(host.configure(&config.json), "{:?}", host.logs());
        let before = host.metrics();
        let (stream, action) = request.send(&host);
        let reply = stream.local_reply();
        prop_assert_eq!(action == Action::Pause, reply.is_some());
        let upstream = stream.request_headers_bytes();
        request.end.finish(&host, stream, reply.is_some());
        let after = host.metrics();

        let mut reached_access_control = config.access_control.is_some();
        match &reply {
            Some(reply) if reply.details.starts_with("header_normalization.") => {
                counts[0].set(counts[0].get() + 1);
                prop_assert!(config.header_normalization.is_some());
                let body = reply.json();
                let rule = body["rule"].as_str().unwrap_or_default().to_owned();
                prop_assert_eq!(&reply.details, &format!("header_normalization.{rule}"));
                match reply.status {
                    307 => prop_assert_eq!(body["location"].as_str(), reply.header("location")),
                    400 => prop_assert_eq!(&body["error"], "bad_request"),
                    431 => prop_assert_eq!(&body["error"], "request_header_fields_too_large"),
                    status => prop_assert!(false, "status {status}"),
                }
                reached_access_control = false;
            }
            Some(reply) => {
                counts[1].set(counts[1].get() + 1);
                let ac = config.access_control.as_ref();
                prop_assert!(ac.is_some_and(|ac| !ac.shadow), "{:?}", reply);
                prop_assert_eq!(reply.status, ac.unwrap().deny_status);
                prop_assert_eq!(reply.details.as_str(), "wasmesh_access_control_denied");
                prop_assert_eq!(&reply.json()["error"], "access_denied");
            }
            None => {
                counts[2].set(counts[2].get() + 1);
                let mut forwarded = request.clone();
                forwarded.headers = upstream.clone();
                if let Some(hn) = &config.header_normalization {
                    if let [path] = values_of(&upstream, ":path").as_slice() {
                        let canonical = wasmesh_path::canonicalize(path, &hn.path);
                        prop_assert_eq!(canonical.map(|c| c.is_changed()), Ok(false));
                    }
                    // The later stages add headers: past header-normalization's limits
                    // (`max_headers`, `max_header_bytes`) it refuses them alone, as it
                    // would the next hop's additions; anything else must pass unchanged.
                    match normalize_alone(&hn.json, &forwarded) {
                        Ok(again) => prop_assert_eq!(again, upstream.clone(), "{}", hn.json),
                        Err(status) => prop_assert_eq!(status, 431, "{}", hn.json),
                    }
                }
                if config.access_control.is_some() {
                    prop_assert!(values_of(&upstream, "x-wasmesh-caller").len() <= 1);
                    let decisions = moved(&before, &after, access_control::REQUESTS_METRIC);
                    prop_assert!(
                        decisions
                            .iter()
                            .all(|d| d.contains("=.=allowed;") || d.contains("=.=shadow_denied;")),
                        "{:?}",
                        decisions
                    );
                }
                if let Some(tp) = &config.trace_propagation {
                    let traceparent = values_of(&upstream, "traceparent");
                    prop_assert_eq!(traceparent.len(), usize::from(tp.inject.contains(&"w3c")));
                    for value in traceparent {
                        prop_assert!(TraceParent::parse_value(value).is_ok());
                    }
                    let b3 = values_of(&upstream, "b3");
                    prop_assert_eq!(b3.len(), usize::from(tp.inject.contains(&"b3")));
                    if !b3.is_empty() {
                        prop_assert!(B3::extract_single(&b3).is_ok());
                    }
                    if tp.inject.contains(&"b3multi") {
                        let (t, s) = (
                            values_of(&upstream, "x-b3-traceid"),
                            values_of(&upstream, "x-b3-spanid"),
                        );
                        let (p, sampled, flags) = (
                            values_of(&upstream, "x-b3-parentspanid"),
                            values_of(&upstream, "x-b3-sampled"),
                            values_of(&upstream, "x-b3-flags"),
                        );
                        let multi = B3MultiValues {
                            trace_id: &t,
                            span_id: &s,
                            parent_span_id: &p,
                            sampled: &sampled,
                            flags: &flags,
                        };
                        prop_assert!(B3::extract_multi(&multi).is_ok());
                    }
                }
            }
        }
        if reached_access_control {
            prop_assert_eq!(
                total(&after, access_control::REQUESTS_METRIC)
                    - total(&before, access_control::REQUESTS_METRIC),
                1
            );
        }
        if let Some(sm) = &config.service_metrics {
            let family = if sm.istio {
                "istio_requests_total"
            } else {
                "wasmesh_service_requests_total"
            };
            prop_assert_eq!(total(&after, family) - total(&before, family), 1);
        }
        Ok(())
    });
    let counts = counts.map(|c| c.get());
    eprintln!("refused by header-normalization, denied by access-control, forwarded: {counts:?}");
    assert!(counts.iter().all(|&c| c >= 30), "{counts:?}");
}
