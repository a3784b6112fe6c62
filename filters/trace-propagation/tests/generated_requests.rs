//! Generated requests through the filter in the host emulator (proptest): random
//! configurations; `traceparent`, `tracestate`, `b3`, `x-b3-*`, `baggage` and
//! `x-request-id` valid, nearly valid, broken, repeated and mixed with hostile headers.
//!
//! - Nothing panics (a panic in a proxy-wasm callback aborts the test process natively,
//!   and traps the module in Envoy; the input is printed first), and the filter never
//!   replies itself.
//! - The forwarded request carries exactly the configured formats, one value each, all
//!   naming the same trace, span and decision; a valid incoming context is continued at a
//!   `continue` boundary and dropped at a `restart` one; `tracestate` is canonical,
//!   `baggage` within its limits, `x-request-id` single; the response gets the trace id
//!   when configured.
//! - A pure forwarder (`new_span_id: false`, `continue`, trusted decisions) changes
//!   nothing the second time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use std::cell::Cell;
use trace_propagation::trace_context::{
    limit_baggage, tracestate, B3MultiValues, Sampling, SpanContext, TraceParent, TraceState, B3,
};
use trace_propagation::TracePropagation;
use wasmesh_fuzz_strategies::config::{trace_propagation, TracePropagationConfig};
use wasmesh_fuzz_strategies::request::{request, values_of, Request};
use wasmesh_fuzz_strategies::{note_input, run};
use wasmesh_testing::{Action, Host};

fn host(config: &str) -> Host {
    let host = Host::of::<TracePropagation>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    host
}

/// What went upstream and downstream.
struct Exchange {
    upstream: Vec<(Vec<u8>, Vec<u8>)>,
    response: Vec<(String, String)>,
}

fn exchange(host: &Host, request: &Request) -> Exchange {
    let (stream, action) = request.send(host);
    assert_eq!(action, Action::Continue);
    assert_eq!(stream.local_reply(), None);
    let upstream = stream.request_headers_bytes();
    stream.send_response_headers(&[(":status", "200"), ("x-trace-id", "from-upstream")]);
    let response = stream.response_headers();
    request.end.finish(host, stream, false);
    Exchange { upstream, response }
}

/// The context each injected format carries; every format must carry the same one.
fn sent_context(
    config: &TracePropagationConfig,
    upstream: &[(Vec<u8>, Vec<u8>)],
) -> Result<SpanContext, TestCaseError> {
    let one = |name: &str| -> Result<Option<&[u8]>, TestCaseError> {
        match values_of(upstream, name).as_slice() {
            [] => Ok(None),
            [value] => Ok(Some(*value)),
            more => Err(TestCaseError::fail(format!(
                "{name} sent {} times",
                more.len()
            ))),
        }
    };
    let mut contexts = Vec::new();
    let traceparent = one("traceparent")?;
    prop_assert_eq!(traceparent.is_some(), config.inject.contains(&"w3c"));
    if let Some(value) = traceparent {
        let parsed = TraceParent::parse_value(value);
        prop_assert!(parsed.is_ok(), "{:?}", String::from_utf8_lossy(value));
        let parsed = parsed.unwrap();
        let header = parsed.to_header();
        prop_assert_eq!(header.as_bytes(), value, "not version 00");
        contexts.push(parsed.to_span_context());
    } else {
        prop_assert!(values_of(upstream, "tracestate").is_empty());
    }
    let b3 = one("b3")?;
    prop_assert_eq!(b3.is_some(), config.inject.contains(&"b3"));
    if let Some(value) = b3 {
        match B3::extract_single(&[value]) {
            Ok(B3::Context { context, .. }) => contexts.push(context),
            other => prop_assert!(
                false,
                "b3 {:?}: {:?}",
                String::from_utf8_lossy(value),
                other
            ),
        }
    }
    let names = [
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
    ];
    let multi: Vec<Vec<&[u8]>> = names.iter().map(|n| values_of(upstream, n)).collect();
    let sends_multi = config.inject.contains(&"b3multi");
    prop_assert_eq!(!multi[0].is_empty(), sends_multi);
    if !sends_multi {
        prop_assert!(multi.iter().all(Vec::is_empty), "stale x-b3-* headers");
    } else {
        let values = B3MultiValues {
            trace_id: &multi[0],
            span_id: &multi[1],
            parent_span_id: &multi[2],
            sampled: &multi[3],
            flags: &multi[4],
        };
        match B3::extract_multi(&values) {
            Ok(B3::Context { context, .. }) => contexts.push(context),
            other => prop_assert!(false, "x-b3-*: {:?}", other),
        }
    }
    let first = contexts[0];
    for context in &contexts {
        prop_assert_eq!(context.trace_id, first.trace_id);
        prop_assert_eq!(context.span_id, first.span_id);
        prop_assert_eq!(
            context.sampling.is_sampled().unwrap_or(false),
            first.sampling.is_sampled().unwrap_or(false)
        );
    }
    Ok(first)
}

#[test]
fn generated_requests_get_one_consistent_context() {
    let counts = [Cell::new(0u32), Cell::new(0), Cell::new(0)];
    run(
        file!(),
        1500,
        (trace_propagation(), request()),
        |(config, request)| {
            let _noted = note_input(&(config.json.clone(), request.clone()));
            let host = host(&config.json);
            let sent = exchange(&host, &request);
            let context = sent_context(&config, &sent.upstream)?;
            prop_assert!(!context.trace_id.is_zero() && !context.span_id.is_zero());

            let incoming = TraceParent::parse(&request.values("traceparent"));
            match (config.restart, incoming) {
                (false, Ok(incoming)) => {
                    counts[0].set(counts[0].get() + 1);
                    prop_assert_eq!(context.trace_id, incoming.trace_id, "not continued");
                    if !config.new_span_id {
                        prop_assert_eq!(context.span_id, incoming.parent_id);
                    } else {
                        prop_assert_ne!(context.span_id, incoming.parent_id);
                    }
                    if config.trust_incoming {
                        prop_assert_eq!(context.sampling.is_sampled(), Some(incoming.sampled));
                    }
                    // `tracestate` travels with the `traceparent` it came with, as read.
                    if config.inject.contains(&"w3c") {
                        let expected = TraceState::parse(&request.values("tracestate"))
                            .map(|state| state.to_header())
                            .unwrap_or_default();
                        let sent_state: Vec<&[u8]> = values_of(&sent.upstream, "tracestate");
                        let expected: Vec<&[u8]> = if expected.is_empty() {
                            Vec::new()
                        } else {
                            vec![expected.as_bytes()]
                        };
                        prop_assert_eq!(sent_state, expected);
                    }
                }
                (true, Ok(incoming)) => {
                    counts[1].set(counts[1].get() + 1);
                    prop_assert_ne!(context.trace_id, incoming.trace_id, "not restarted");
                }
                (_, Err(_)) => counts[2].set(counts[2].get() + 1),
            }
            for state in values_of(&sent.upstream, "tracestate") {
                prop_assert!(
                    tracestate::is_canonical(state),
                    "{:?}",
                    String::from_utf8_lossy(state)
                );
            }

            // Correlation: one request id (the client's single one kept), baggage limited.
            let request_ids = request.values("x-request-id");
            let sent_ids = values_of(&sent.upstream, "x-request-id");
            prop_assert_eq!(sent_ids.len(), 1);
            match request_ids.as_slice() {
                [id] if !id.iter().all(|b| *b == b' ' || *b == b'\t') => {
                    prop_assert_eq!(sent_ids[0], *id)
                }
                _ => {
                    let id = String::from_utf8_lossy(sent_ids[0]);
                    prop_assert!(id.len() == 36 && id.as_bytes()[14] == b'4', "{}", id);
                }
            }
            let sent_baggage = values_of(&sent.upstream, "baggage");
            if config.baggage {
                let expected = limit_baggage(&request.values("baggage"));
                let expected: Vec<&[u8]> = expected.iter().map(|b| b.as_bytes()).collect();
                prop_assert_eq!(sent_baggage, expected);
            } else {
                prop_assert!(sent_baggage.is_empty());
            }

            // The response names the trace.
            if let Some(name) = config.response_header {
                let values: Vec<&String> = sent
                    .response
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .collect();
                let hex = String::from_utf8(context.trace_id.to_hex().to_vec()).unwrap();
                prop_assert_eq!(values, vec![&hex]);
            }
            Ok(())
        },
    );
    let counts = counts.map(|c| c.get());
    eprintln!("continued, restarted, started or refused: {counts:?}");
    assert!(counts.iter().all(|&c| c >= 30), "{counts:?}");
}

/// A pure forwarder: the context it sends, received again, is sent on unchanged.
#[test]
fn a_pure_forwarder_is_idempotent() {
    let forwarder = trace_propagation().prop_map(|mut config| {
        config.json = config
            .json
            .replace(r#""new_span_id": true"#, r#""new_span_id": false"#)
            .replace(
                r#""trust_boundary": "restart""#,
                r#""trust_boundary": "continue""#,
            )
            .replace(r#""trust_incoming": false"#, r#""trust_incoming": true"#);
        if let Some(at) = config.json.find(r#", "restart_tracestate_key""#) {
            let end = config.json[at + 2..]
                .find(", ")
                .map_or(config.json.len() - 1, |e| e + at + 2);
            config.json.replace_range(at..end, "");
        }
        config
    });
    run(file!(), 800, (forwarder, request()), |(config, request)| {
        let _noted = note_input(&(config.json.clone(), request.clone()));
        let host = host(&config.json);
        let first = exchange(&host, &request);
        let mut again = request.clone();
        again.headers = first.upstream.clone();
        let second = exchange(&host, &again);
        let sorted = |mut headers: Vec<(Vec<u8>, Vec<u8>)>| {
            headers.sort();
            headers
        };
        let mut expected = first.upstream.clone();
        if config.inject.contains(&"w3c") {
            // W3C has no debug flag and `traceparent` is read first (README, "What the
            // filter does to a request"): a B3 debug decision the first pass wrote next
            // to a `traceparent` comes back as sampled.
            for (name, value) in &mut expected {
                if name.as_slice() == b"x-b3-flags" && value.as_slice() == b"1" {
                    *name = b"x-b3-sampled".to_vec();
                } else if name.as_slice() == b"b3" && value.ends_with(b"-d") {
                    let last = value.len() - 1;
                    value[last] = b'1';
                }
            }
        }
        prop_assert_eq!(sorted(second.upstream), sorted(expected), "{}", config.json);
        Ok(())
    });
}

/// The decision a `b3: d` (debug) or a `traceparent` with the sampled flag carries is
/// kept when incoming decisions are trusted.
#[test]
fn trusted_decisions_are_kept() {
    let host = host(r#"{"inject": ["w3c", "b3"], "sampling": {"probability": 0.0}}"#);
    let request = Request {
        headers: vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/".to_vec()),
            (
                b"b3".to_vec(),
                b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d".to_vec(),
            ),
        ],
        connection: Default::default(),
        end: Default::default(),
    };
    let sent = exchange(&host, &request);
    let config = TracePropagationConfig {
        inject: vec!["w3c", "b3"],
        new_span_id: true,
        restart: false,
        trust_incoming: true,
        probability: "0.0",
        response_header: None,
        baggage: true,
        json: String::new(),
    };
    let context = sent_context(&config, &sent.upstream).unwrap();
    assert_eq!(context.sampling.is_sampled(), Some(true));
    // `trace-span-d-parent`: the decision kept, the incoming span as the parent.
    let b3 = String::from_utf8(values_of(&sent.upstream, "b3")[0].to_vec()).unwrap();
    let fields: Vec<&str> = b3.split('-').collect();
    assert_eq!(fields.len(), 4, "{b3}");
    assert_eq!(fields[2], "d", "{b3}");
    assert_eq!(fields[3], "e457b5a2e4d86bd1", "{b3}");
    assert_ne!(context.sampling, Sampling::NotSampled);
}
