//! Generated requests through the filter in the host emulator (proptest): random
//! configurations, hostile methods, paths, authorities and headers (repeated, non-UTF-8,
//! oversized), random connection attributes, and the whole callback sequence.
//!
//! - Nothing panics (a panic in a proxy-wasm callback aborts the test process natively,
//!   and traps the module in Envoy; the input is printed first).
//! - Every reply is one the README documents: `400` or `431` with
//!   `{"error": ..., "rule": <a listed rule>}`, or `307` to the canonical path with
//!   `{"location": ..., "rule": "escaped_slash"}`.
//! - Idempotence: what the filter forwards, sent through it again, is forwarded unchanged
//!   and counts no normalization; what it redirects to is forwarded as is.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use header_normalization::HeaderNormalization;
use proptest::prelude::*;
use std::cell::Cell;
use wasmesh_fuzz_strategies::config::{header_normalization, redirects};
use wasmesh_fuzz_strategies::request::{request, values_of, Request};
use wasmesh_fuzz_strategies::{note_input, run, Bytes};
use wasmesh_testing::{Action, Host};

/// The refusals of the README's rule table, with their status.
const REFUSALS: &[(&str, u16)] = &[
    ("header_count", 431),
    ("header_bytes", 431),
    ("invalid_header_name", 400),
    ("invalid_header_value", 400),
    ("method_not_allowed", 400),
    ("lowercase_method", 400),
    ("relative_path", 400),
    ("control_character", 400),
    ("invalid_character", 400),
    ("fragment", 400),
    ("backslash", 400),
    ("invalid_escape", 400),
    ("double_encoding", 400),
    ("escaped_slash", 400),
    ("invalid_utf8", 400),
    ("dot_segment_parameter", 400),
    ("underscore_header", 400),
    ("repeated_header", 400),
    ("invalid_authority", 400),
];

/// What the filter did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Forwarded with these headers.
    Forwarded(Vec<(Bytes, Bytes)>),
    /// Refused with this status and rule.
    Refused(u16, String),
    /// Redirected to this location.
    Redirected(String),
}

fn host(config: &str) -> Host {
    let host = Host::of::<HeaderNormalization>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    host
}

/// How many normalizations the filter has counted.
fn normalizations(host: &Host) -> u64 {
    host.metrics()
        .iter()
        .filter(|m| {
            m.name
                .starts_with("wasmesh_header_normalization_normalized_total")
        })
        .map(|m| m.value)
        .sum()
}

/// Sends `request` through the whole callback sequence and checks the reply's shape.
fn send(host: &Host, request: &Request) -> Outcome {
    let (stream, action) = request.send(host);
    let reply = stream.local_reply();
    let outcome = match &reply {
        None => {
            assert_eq!(action, Action::Continue);
            let headers = stream.request_headers_bytes();
            Outcome::Forwarded(
                headers
                    .into_iter()
                    .map(|(n, v)| (Bytes(n), Bytes(v)))
                    .collect(),
            )
        }
        Some(reply) => {
            assert_eq!(action, Action::Pause);
            assert_eq!(reply.header("content-type"), Some("application/json"));
            let body = reply.json();
            let rule = body["rule"]
                .as_str()
                .expect("a rule in the body")
                .to_owned();
            assert_eq!(reply.details, format!("header_normalization.{rule}"));
            if reply.status == 307 {
                let location = reply.header("location").expect("a location").to_owned();
                assert_eq!(
                    body,
                    serde_json::json!({"location": location, "rule": "escaped_slash"})
                );
                Outcome::Redirected(location)
            } else {
                let status = REFUSALS
                    .iter()
                    .find(|(name, _)| *name == rule)
                    .map(|(_, status)| *status);
                assert_eq!(Some(reply.status), status, "undocumented rule {rule}");
                let error = if reply.status == 431 {
                    "request_header_fields_too_large"
                } else {
                    "bad_request"
                };
                assert_eq!(body, serde_json::json!({"error": error, "rule": rule}));
                Outcome::Refused(reply.status, rule)
            }
        }
    };
    request.end.finish(host, stream, reply.is_some());
    outcome
}

#[test]
fn generated_requests_get_documented_answers_and_normalize_idempotently() {
    let counts = [Cell::new(0u32), Cell::new(0), Cell::new(0), Cell::new(0)];
    run(
        file!(),
        1500,
        (header_normalization(), request()),
        |(config, request)| {
            let _noted = note_input(&(config.json.clone(), request.clone()));
            let host = host(&config.json);
            match send(&host, &request) {
                Outcome::Forwarded(headers) => {
                    let raw: Vec<(Vec<u8>, Vec<u8>)> = headers
                        .iter()
                        .map(|(n, v)| (n.0.clone(), v.0.clone()))
                        .collect();
                    let changed = raw != request.headers;
                    counts[usize::from(changed)].set(counts[usize::from(changed)].get() + 1);
                    let mut again = request.clone();
                    again.headers = raw;
                    if config.original_path_header {
                        // The original path goes on in an internal header, which only a
                        // trusted hop may pass (README, "Decisions"): the next hop trusts
                        // this one, as the generated configuration trusts mTLS callers.
                        again.connection.mtls = Some(true);
                    }
                    let before = normalizations(&host);
                    let second = send(&host, &again);
                    if config.original_path_header && matches!(second, Outcome::Refused(431, _)) {
                        // The limits count what the client sent, not the original-path
                        // header the filter adds (README, `max_headers`): a request at the
                        // limit goes on with one field more, which a second hop with the
                        // same limits refuses. See
                        // `limits_count_what_the_client_sent_not_the_original_path_header`.
                        return Ok(());
                    }
                    prop_assert_eq!(
                        &second,
                        &Outcome::Forwarded(headers),
                        "{}: the forwarded request is not a fixed point",
                        config.json
                    );
                    prop_assert_eq!(normalizations(&host), before, "a second pass normalized");
                }
                Outcome::Redirected(location) => {
                    counts[2].set(counts[2].get() + 1);
                    prop_assert!(redirects(&config.path), "{}", config.json);
                    let again = request.with_path(location.as_bytes());
                    match send(&host, &again) {
                        Outcome::Forwarded(headers) => {
                            let path = headers
                                .iter()
                                .find(|(n, _)| n.0 == b":path")
                                .map(|(_, v)| v.0.clone());
                            prop_assert_eq!(path, Some(location.into_bytes()));
                        }
                        other => prop_assert!(false, "the redirect target was {other:?}"),
                    }
                }
                Outcome::Refused(..) => counts[3].set(counts[3].get() + 1),
            }
            Ok(())
        },
    );
    let counts = counts.map(|c| c.get());
    eprintln!("forwarded unchanged, forwarded rewritten, redirected, refused: {counts:?}");
    assert!(
        counts[0] >= 20 && counts[1] >= 100 && counts[2] >= 2 && counts[3] >= 300,
        "{counts:?}"
    );
}

/// A request the filter forwards has at most one of each pseudo-header, and its target,
/// if any, is canonical. (A request without `:path`, `:method` or `:authority` is
/// forwarded: Envoy never hands one to a filter but for `CONNECT`, and the filter rewrites
/// what is there.)
#[test]
fn forwarded_requests_have_one_canonical_target() {
    run(
        file!(),
        800,
        (header_normalization(), request()),
        |(config, request)| {
            let _noted = note_input(&(config.json.clone(), request.clone()));
            let host = host(&config.json);
            if let Outcome::Forwarded(headers) = send(&host, &request) {
                let raw: Vec<(Vec<u8>, Vec<u8>)> =
                    headers.into_iter().map(|(n, v)| (n.0, v.0)).collect();
                for name in [":method", ":path", ":authority", ":scheme"] {
                    prop_assert!(values_of(&raw, name).len() <= 1, "{} repeated", name);
                }
                if let [path] = values_of(&raw, ":path").as_slice() {
                    let canonical =
                        wasmesh_path::canonicalize(path, &config.path).map(|c| c.is_changed());
                    prop_assert_eq!(canonical, Ok(false), "{:?}", String::from_utf8_lossy(path));
                }
            }
            Ok(())
        },
    );
}

/// Found by the idempotence property: with `original_path_header`, a request at
/// `max_headers` whose path the filter rewrote goes on with one field more, the header the
/// filter added. The limits count what the client sent (README, `max_headers`), so the
/// request is forwarded; a second hop with the same limits then refuses it.
#[test]
fn limits_count_what_the_client_sent_not_the_original_path_header() {
    let host = host(
        r#"{"original_path_header": "x-envoy-original-path", "max_headers": 1,
            "trusted_callers": [{"mtls": true}]}"#,
    );
    let request = Request {
        headers: vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":scheme".to_vec(), b"http".to_vec()),
            (b":authority".to_vec(), b"svc".to_vec()),
            (b":path".to_vec(), b"/a/./b".to_vec()),
            (b"accept".to_vec(), b"*/*".to_vec()),
        ],
        connection: wasmesh_fuzz_strategies::request::Connection {
            mtls: Some(true),
            ..Default::default()
        },
        end: Default::default(),
    };
    let Outcome::Forwarded(headers) = send(&host, &request) else {
        panic!("refused");
    };
    let fields = headers
        .iter()
        .filter(|(n, _)| !n.0.starts_with(b":"))
        .count();
    assert_eq!(fields, 2, "{headers:?}");
    assert!(headers
        .iter()
        .any(|(n, v)| n.0 == b"x-envoy-original-path" && v.0 == b"/a/./b"));
    let mut again = request.clone();
    again.headers = headers
        .iter()
        .map(|(n, v)| (n.0.clone(), v.0.clone()))
        .collect();
    assert!(matches!(send(&host, &again), Outcome::Refused(431, _)));
}
