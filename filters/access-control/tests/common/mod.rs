//! Helpers shared by the emulator tests: a configured host, requests from a given kind of
//! connection, and readers for the decision's traces (reply, log line, counter).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use access_control::AccessControl;
use wasmesh_testing::{Action, Host, HttpStream, LogLevel, SentReply};

/// A host running the filter with `config`, which must be accepted.
pub fn host(config: &str) -> Host {
    let host = Host::of::<AccessControl>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host
}

/// The critical line logged when `config` is refused (panics if it is accepted).
pub fn refusal(config: &str) -> String {
    let host = Host::of::<AccessControl>();
    assert!(!host.configure(config), "config accepted: {config}");
    let critical: Vec<String> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Critical)
        .map(|l| l.message)
        .collect();
    assert_eq!(critical.len(), 1, "{critical:?}");
    critical.into_iter().next().unwrap()
}

/// The connection a request arrives on.
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// Mutual TLS with a peer certificate whose first URI SAN is given.
    Mtls(&'a str),
    /// Mutual TLS with a certificate without URI SAN.
    MtlsNoSan(&'a str),
    /// Plaintext from this `ip:port`.
    Plain(&'a str),
}

/// A request from `peer` with `headers` (pseudo-headers included); not yet finished.
pub fn send(host: &Host, peer: Peer<'_>, headers: &[(&str, &str)]) -> (HttpStream, Action) {
    let stream = host.stream();
    match peer {
        Peer::Mtls(san) => {
            stream.set_property(&["connection", "mtls"], true);
            stream.set_property(&["connection", "uri_san_peer_certificate"], san);
            stream.set_property(&["source", "address"], "10.9.9.9:40000");
        }
        Peer::MtlsNoSan(address) => {
            stream.set_property(&["connection", "mtls"], true);
            stream.set_property(&["source", "address"], address);
        }
        Peer::Plain(address) => {
            stream.set_property(&["connection", "mtls"], false);
            stream.set_property(&["source", "address"], address);
        }
    }
    let action = stream.send_request_headers(headers);
    (stream, action)
}

/// `GET path` from `peer` with extra headers; returns the stream and action.
pub fn get(
    host: &Host,
    peer: Peer<'_>,
    path: &str,
    extra: &[(&str, &str)],
) -> (HttpStream, Action) {
    request(host, peer, "GET", path, extra)
}

/// `method path` from `peer` with extra headers.
pub fn request(
    host: &Host,
    peer: Peer<'_>,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (HttpStream, Action) {
    let mut headers = vec![
        (":method", method),
        (":path", path),
        (":authority", "orders.example.org"),
        (":scheme", "http"),
    ];
    headers.extend_from_slice(extra);
    send(host, peer, &headers)
}

/// What became of one request.
#[derive(Debug)]
pub struct Outcome {
    /// The local reply, if the filter denied the request.
    pub reply: Option<SentReply>,
    /// The `rule` of the reply body.
    pub rule: Option<String>,
    /// The request headers as they go upstream (when not denied).
    pub upstream: Vec<(String, String)>,
}

impl Outcome {
    /// Whether the request went on upstream.
    pub fn passed(&self) -> bool {
        self.reply.is_none()
    }

    /// Every value of an upstream header.
    pub fn upstream_values(&self, name: &str) -> Vec<&str> {
        self.upstream
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends `method path` and finishes the stream.
pub fn outcome(
    host: &Host,
    peer: Peer<'_>,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Outcome {
    let (stream, action) = request(host, peer, method, path, extra);
    let reply = stream.local_reply();
    assert_eq!(action == Action::Pause, reply.is_some(), "{reply:?}");
    let rule = reply
        .as_ref()
        .and_then(|r| r.json()["rule"].as_str().map(str::to_owned));
    let upstream = stream.request_headers();
    stream.finish();
    Outcome {
        reply,
        rule,
        upstream,
    }
}

/// The rule that denied `GET path` from `peer`, or `None` when it passed.
pub fn denied_by(
    host: &Host,
    peer: Peer<'_>,
    path: &str,
    extra: &[(&str, &str)],
) -> Option<String> {
    outcome(host, peer, "GET", path, extra).rule
}

/// The access-control log lines at info level.
pub fn decision_lines(host: &Host) -> Vec<String> {
    host.logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Info && l.message.starts_with("access-control:"))
        .map(|l| l.message)
        .collect()
}

/// The decision counter for one tag set.
pub fn count(host: &Host, decision: &str, caller: &str, rule: &str) -> Option<u64> {
    host.counter(&Host::stat_name(
        access_control::REQUESTS_METRIC,
        &[("decision", decision), ("caller", caller), ("rule", rule)],
    ))
}

pub const FRONTEND: &str = "spiffe://example.org/ns/shop/sa/frontend";
pub const BACKOFFICE: &str = "spiffe://example.org/ns/ops/sa/backoffice";
pub const INTRUDER: &str = "spiffe://example.org/ns/shop/sa/intruder";
pub const FOREIGN_FRONTEND: &str = "spiffe://evil.org/ns/shop/sa/frontend";
