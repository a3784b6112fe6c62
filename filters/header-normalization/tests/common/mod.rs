//! Helpers shared by the emulator tests: load the filter, send a request, and read what
//! happened to it.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use header_normalization::HeaderNormalization;
use wasmesh_testing::{Action, Host, HttpStream};

/// A host with the filter loaded and configured with `config` (JSON).
pub fn host(config: &str) -> Host {
    let host = Host::of::<HeaderNormalization>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host
}

/// What the filter did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded, with these headers going upstream.
    Forwarded(Vec<(String, String)>),
    /// Refused with this status and rule (the JSON body's `rule`).
    Rejected(u16, String),
    /// Redirected (307) to this location.
    Redirected(String),
}

impl Outcome {
    /// The forwarded headers; panics otherwise.
    pub fn forwarded(&self) -> &[(String, String)] {
        match self {
            Outcome::Forwarded(headers) => headers,
            other => panic!("expected the request to be forwarded, got {other:?}"),
        }
    }

    /// Every forwarded value of `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.forwarded()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The forwarded value of `name`, which must appear exactly once.
    pub fn value(&self, name: &str) -> &str {
        match self.values(name).as_slice() {
            [value] => value,
            other => panic!("expected one `{name}`, got {other:?} in {self:?}"),
        }
    }

    /// The forwarded `:path`.
    pub fn path(&self) -> &str {
        self.value(":path")
    }

    /// The rule of a rejection; panics otherwise.
    pub fn rule(&self) -> &str {
        match self {
            Outcome::Rejected(_, rule) => rule,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

/// Sends `headers` on a new stream and reports the outcome (the stream is finished).
pub fn send(host: &Host, headers: &[(&str, &str)]) -> Outcome {
    let stream = host.stream();
    let action = stream.send_request_headers(headers);
    outcome(&stream, action)
}

/// Sends raw (possibly non-UTF-8) headers on a new stream.
pub fn send_bytes(host: &Host, headers: Vec<(Vec<u8>, Vec<u8>)>) -> Outcome {
    let stream = host.stream();
    let action = stream.send_request_headers_bytes(headers);
    outcome(&stream, action)
}

/// Reads what the filter did on `stream`, checking that every reply has the documented
/// shape.
pub fn outcome(stream: &HttpStream, action: Action) -> Outcome {
    match stream.local_reply() {
        None => {
            assert_eq!(action, Action::Continue);
            Outcome::Forwarded(stream.request_headers())
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
                assert_eq!(body["location"], location.as_str());
                assert_eq!(rule, "escaped_slash");
                Outcome::Redirected(location)
            } else {
                let error = if reply.status == 431 {
                    "request_header_fields_too_large"
                } else {
                    assert_eq!(reply.status, 400);
                    "bad_request"
                };
                assert_eq!(body, serde_json::json!({"error": error, "rule": rule}));
                Outcome::Rejected(reply.status, rule)
            }
        }
    }
}

/// A plain GET of `path` to `svc` over http, plus `extra` headers.
pub fn get<'a>(path: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "svc"),
        (":path", path),
    ];
    headers.extend_from_slice(extra);
    headers
}

/// The value of a counter of this filter (`normalized`, `rejected` or `redirected`) for `rule`.
pub fn counter(host: &Host, kind: &str, rule: &str) -> Option<u64> {
    host.counter(&Host::stat_name(
        &format!("wasmesh_header_normalization_{kind}_total"),
        &[("rule", rule)],
    ))
}
