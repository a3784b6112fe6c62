//! The request logic as a plain function: [`AccessControl::decide`] on a header map and
//! the connection's facts, without a host.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use access_control::config::SourceKind;
use access_control::identity::Connection;
use access_control::report::{Outcome, DENY_DETAILS};
use access_control::{AccessControl, RequestDecision};
use std::net::IpAddr;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::{HeaderEdit, HeaderMap, VerifiedCaller};

const FRONTEND: &str = "spiffe://example.org/ns/shop/sa/frontend";
const INTRUDER: &str = "spiffe://example.org/ns/shop/sa/intruder";

/// The connection's facts, and every read of one, in order.
#[derive(Debug, Default)]
struct Facts {
    mtls: bool,
    san: Option<String>,
    ip: Option<IpAddr>,
    reads: Vec<&'static str>,
}

impl Facts {
    fn mtls(san: &str) -> Self {
        Self {
            mtls: true,
            san: Some(san.to_owned()),
            ip: Some("10.9.9.9".parse().unwrap()),
            ..Self::default()
        }
    }

    fn plaintext(ip: &str) -> Self {
        Self {
            ip: Some(ip.parse().unwrap()),
            ..Self::default()
        }
    }
}

impl Connection for Facts {
    fn mtls(&mut self) -> bool {
        self.reads.push("mtls");
        self.mtls
    }

    fn peer_uri_san(&mut self) -> Option<&str> {
        self.reads.push("peer_uri_san");
        self.san.as_deref()
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        self.reads.push("source_ip");
        self.ip
    }
}

fn filter(json: &str) -> AccessControl {
    let value = wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap();
    AccessControl::new(&Node::root(&value)).unwrap()
}

/// `GET path` with `extra` headers.
fn get(path: &str, extra: &[(&str, &str)]) -> HeaderMap {
    let mut pairs = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", "orders.example.org"),
        (":scheme", "http"),
    ];
    pairs.extend_from_slice(extra);
    HeaderMap::from(pairs.as_slice())
}

fn set<'a>(name: &'a str, value: &str) -> HeaderEdit<'a> {
    HeaderEdit::Set(name, value.as_bytes().to_vec().into())
}

fn frontend() -> VerifiedCaller {
    VerifiedCaller {
        service: "frontend".to_owned(),
        spiffe_id: Some(FRONTEND.to_owned()),
    }
}

const FRONTEND_ONLY: &str = r#"{
    "identity": {"spiffe": {"trust_domains": ["example.org"]}},
    "rules": [
        {"name": "audit", "action": "log", "paths": [{"prefix": "/audit"}]},
        {"name": "frontend-only", "action": "allow", "callers": ["frontend"]}
    ]
}"#;

fn body(decision: &RequestDecision<'_>) -> serde_json::Value {
    let reply = decision.outcome.reply.as_ref().expect("a deny reply");
    serde_json::from_slice(&reply.body).unwrap()
}

#[test]
fn an_allowed_caller_from_the_peer_certificate_goes_upstream() {
    let filter = filter(FRONTEND_ONLY);
    let headers = get("/orders/1", &[]);
    let mut facts = Facts::mtls(FRONTEND);
    let decision = filter.decide(&headers, &mut facts);

    assert_eq!(
        decision.outcome.edits,
        vec![set("x-wasmesh-caller", "frontend")]
    );
    assert_eq!(decision.outcome.caller, Some(frontend()));
    assert_eq!(decision.outcome.reply, None);
    assert_eq!(decision.denied_caller, None);
    assert_eq!(decision.caller(), Some(&frontend()));
    assert_eq!(decision.source, Some(SourceKind::PeerCertificate));
    assert_eq!(decision.counted, Outcome::Allowed);
    assert_eq!(decision.rule, "frontend-only");
    assert!(!decision.log_decision);
    assert!(decision.log_rules.is_empty());
    assert_eq!(
        (decision.method, decision.path()),
        (&b"GET"[..], &b"/orders/1"[..])
    );
    // The certificate source reads the mTLS state, then the SAN; nothing else.
    assert_eq!(facts.reads, ["mtls", "peer_uri_san"]);
}

#[test]
fn a_denied_request_gets_the_json_reply_naming_the_rule() {
    let filter = filter(FRONTEND_ONLY);
    let headers = get("/orders/1", &[("x-wasmesh-caller", "frontend")]);
    let decision = filter.decide(&headers, &mut Facts::mtls(INTRUDER));

    let reply = decision.outcome.reply.as_ref().unwrap();
    assert_eq!((reply.status, reply.details.as_str()), (403, DENY_DETAILS));
    assert_eq!(
        body(&decision),
        serde_json::json!({"error": "access_denied", "rule": "default"})
    );
    // Denied: the forged upstream header is left to the reply, the caller is not handed
    // on, and the counter and log line still name it.
    assert!(decision.outcome.edits.is_empty());
    assert_eq!(decision.outcome.caller, None);
    assert_eq!(
        decision.caller().map(|c| c.service.as_str()),
        Some("intruder")
    );
    assert_eq!(decision.counted, Outcome::Denied);
    assert_eq!(decision.rule, "default");
    assert!(decision.log_decision);
}

#[test]
fn a_non_canonical_path_is_normalized_before_the_rules() {
    let filter = filter(
        r#"{
            "identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "path": {"non_canonical": "normalize"},
            "rules": [{"name": "orders", "action": "allow", "paths": [{"prefix": "/orders"}]}]
        }"#,
    );
    let headers = get("/shop/../orders//1?expand=items", &[]);
    let decision = filter.decide(&headers, &mut Facts::mtls(FRONTEND));

    assert_eq!(
        decision.outcome.edits,
        vec![
            set(":path", "/orders/1?expand=items"),
            set("x-wasmesh-caller", "frontend"),
        ]
    );
    assert_eq!(
        (decision.counted, decision.rule),
        (Outcome::Allowed, "orders")
    );
    // The log lines show the canonical path, without the query.
    assert_eq!(decision.path(), b"/orders/1");
}

#[test]
fn forged_identity_headers_are_removed_first() {
    let filter = filter(
        r#"{
            "identity": {
                "sources": ["xfcc", "caller_header"],
                "spiffe": {"trust_domains": ["example.org"]},
                "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.1.0.0/16"]}
            },
            "rules": [{"name": "everyone", "action": "allow", "paths": [{"prefix": "/"}]}]
        }"#,
    );
    let forged = [
        ("x-service-name", "payments"),
        (
            "x-forwarded-client-cert",
            "URI=spiffe://example.org/ns/shop/sa/payments",
        ),
        ("x-wasmesh-caller", "payments"),
    ];
    let headers = get("/pay", &forged);
    let mut facts = Facts::plaintext("192.0.2.7");
    let decision = filter.decide(&headers, &mut facts);

    // A plaintext client from an untrusted address wrote all three.
    assert_eq!(
        decision.outcome.edits,
        vec![
            HeaderEdit::Remove("x-service-name"),
            HeaderEdit::Remove("x-forwarded-client-cert"),
            HeaderEdit::Remove("x-wasmesh-caller"),
        ]
    );
    assert_eq!(decision.outcome.caller, None);
    assert_eq!(decision.outcome.reply, None);
    assert_eq!(
        (decision.source, decision.rejected),
        (Some(SourceKind::Xfcc), Some("xfcc_without_mtls"))
    );
    assert_eq!(
        (decision.counted, decision.rule),
        (Outcome::Allowed, "everyone")
    );
    // The xfcc source and the header check each ask whether the connection is mutual
    // TLS (the host-backed connection reads it from Envoy once); the rejected evidence
    // ends identification, so the source address is never read.
    assert_eq!(facts.reads, ["mtls", "mtls"]);
}

#[test]
fn shadow_mode_lets_a_denied_request_through_and_says_so() {
    let filter = filter(
        r#"{
            "mode": "shadow",
            "identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [
                {"name": "audit", "action": "log", "paths": [{"prefix": "/audit"}]},
                {"name": "no-admin", "action": "deny", "paths": [{"prefix": "/admin"}]}
            ]
        }"#,
    );
    let headers = get("/admin/users", &[]);
    let decision = filter.decide(&headers, &mut Facts::mtls(FRONTEND));

    assert_eq!(decision.outcome.reply, None);
    assert_eq!(
        decision.outcome.edits,
        vec![set("x-wasmesh-caller", "frontend")]
    );
    assert_eq!(decision.outcome.caller, Some(frontend()));
    assert_eq!(
        (decision.counted, decision.rule),
        (Outcome::ShadowDenied, "no-admin")
    );
    assert!(decision.log_decision);
    let report = decision.report(
        access_control::config::Mode::Shadow,
        decision.counted,
        decision.rule,
        decision.reason,
    );
    assert_eq!(
        report.log_line(),
        format!(
            "access-control: decision=shadow_denied mode=shadow rule=no-admin caller=frontend \
             identity=peer_certificate spiffe_id={FRONTEND} method=GET path=/admin/users"
        )
    );
}

#[test]
fn matching_log_rules_are_listed_and_the_decision_goes_on() {
    let filter = filter(FRONTEND_ONLY);
    let headers = get("/audit/trail", &[]);
    let decision = filter.decide(&headers, &mut Facts::mtls(FRONTEND));

    assert_eq!(decision.log_rules, ["audit"]);
    assert_eq!(
        (decision.counted, decision.rule),
        (Outcome::Allowed, "frontend-only")
    );
}

#[test]
fn a_repeated_identity_header_is_denied_before_any_fact_is_read() {
    let filter = filter(
        r#"{
            "identity": {
                "sources": ["caller_header"],
                "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.1.0.0/16"]}
            },
            "rules": [{"name": "everyone", "action": "allow", "paths": [{"prefix": "/"}]}]
        }"#,
    );
    let headers = get("/", &[("x-service-name", "a"), ("x-service-name", "b")]);
    let mut facts = Facts::plaintext("10.1.0.1");
    let decision = filter.decide(&headers, &mut facts);

    assert_eq!(
        decision.outcome.edits,
        vec![HeaderEdit::Remove("x-service-name")]
    );
    assert_eq!(
        (decision.rule, decision.reason),
        ("repeated_identity_header", Some("x-service-name"))
    );
    assert_eq!(body(&decision)["rule"], "repeated_identity_header");
    assert!(facts.reads.is_empty(), "{:?}", facts.reads);
}
