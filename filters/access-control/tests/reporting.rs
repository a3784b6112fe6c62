//! Decisions are visible: the deny reply, the log lines, the counters; and a bad
//! configuration is refused with the JSON path of the offending field.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use wasmesh_testing::LogLevel;

const POLICY: &str = r#"{
    "identity": {"spiffe": {"trust_domains": ["example.org"]}},
    "rules": [{"name": "frontend-reads", "action": "allow", "callers": ["frontend"], "methods": ["GET"]}]
}"#;

#[test]
fn deny_reply_is_a_json_403_naming_the_rule() {
    let host = host(POLICY);
    let result = outcome(&host, Peer::Mtls(INTRUDER), "GET", "/orders", &[]);
    let reply = result.reply.unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": "access_denied", "rule": "default"})
    );
    assert_eq!(reply.details, "wasmesh_access_control_denied");
}

#[test]
fn deny_reply_status_headers_and_caller_are_configurable() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "deny_response": {"status": 404, "include_caller": true,
                              "headers": {"x-denied-by": "wasmesh", "cache-control": "no-store"}},
            "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}]}"#,
    );
    let reply = outcome(&host, Peer::Mtls(INTRUDER), "GET", "/", &[])
        .reply
        .unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("x-denied-by"), Some("wasmesh"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": "access_denied", "rule": "default", "caller": "intruder"})
    );
    let reply = outcome(&host, Peer::Plain("10.0.0.1:1"), "GET", "/", &[])
        .reply
        .unwrap();
    assert_eq!(reply.json()["caller"], "unidentified");
}

#[test]
fn one_log_line_per_denial_and_per_allow_by_option() {
    let host = common::host(POLICY);
    outcome(&host, Peer::Mtls(FRONTEND), "GET", "/orders", &[]);
    outcome(&host, Peer::Mtls(FRONTEND), "DELETE", "/orders/1", &[]);
    let lines = decision_lines(&host);
    assert_eq!(
        lines,
        [format!(
            "access-control: decision=denied mode=enforce rule=unlisted_endpoint caller=frontend \
             identity=peer_certificate spiffe_id={FRONTEND} method=DELETE path=/orders/1"
        )]
    );

    let verbose = common::host(&POLICY.replace("\"rules\"", "\"log_allowed\": true, \"rules\""));
    outcome(&verbose, Peer::Mtls(FRONTEND), "GET", "/orders?id=1", &[]);
    assert_eq!(
        decision_lines(&verbose),
        [format!(
            "access-control: decision=allowed mode=enforce rule=frontend-reads caller=frontend \
             identity=peer_certificate spiffe_id={FRONTEND} method=GET path=/orders"
        )]
    );
}

#[test]
fn log_lines_escape_what_the_client_sent() {
    let host = common::host(POLICY);
    let (stream, _) = send(
        &host,
        Peer::Plain("10.0.0.1:1"),
        &[(":method", "GET"), (":path", "/a b rule=x\"")],
    );
    stream.finish();
    let line = decision_lines(&host).pop().unwrap();
    assert!(
        line.ends_with(r#"method=GET path="/a b rule=x\"" reason=invalid_character"#),
        "{line}"
    );
}

#[test]
fn counters_by_decision_caller_and_rule() {
    let host = common::host(POLICY);
    for _ in 0..3 {
        outcome(&host, Peer::Mtls(FRONTEND), "GET", "/", &[]);
    }
    outcome(&host, Peer::Mtls(INTRUDER), "GET", "/", &[]);
    outcome(&host, Peer::Plain("10.0.0.1:1"), "GET", "/", &[]);
    assert_eq!(
        count(&host, "allowed", "frontend", "frontend-reads"),
        Some(3)
    );
    assert_eq!(count(&host, "denied", "intruder", "default"), Some(1));
    assert_eq!(count(&host, "denied", "unidentified", "default"), Some(1));
}

#[test]
fn counter_label_sets_are_capped() {
    let host = common::host(
        r#"{"identity": {"sources": ["caller_header"],
                         "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.0.0.0/8"]}},
            "metrics": {"tag_set_cap": 2},
            "rules": [{"name": "open", "action": "allow"}]}"#,
    );
    for name in ["a", "b", "c", "d"] {
        outcome(
            &host,
            Peer::Plain("10.0.0.1:1"),
            "GET",
            "/",
            &[("x-service-name", name)],
        );
    }
    assert_eq!(count(&host, "allowed", "a", "open"), Some(1));
    assert_eq!(count(&host, "allowed", "b", "open"), Some(1));
    assert_eq!(count(&host, "allowed", "c", "open"), None);
    assert_eq!(count(&host, "other", "other", "other"), Some(2));
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    for (config, expected) in [
        ("", "access-control: config: the configuration is empty"),
        ("{}", "access-control: config: missing field `rules`"),
        (
            r#"{"rules": [], "rulez": []}"#,
            "access-control: config.rulez: unknown field `rulez`",
        ),
        (
            r#"{"rules": [{"name": "r", "action": "allow", "methods": ["FETCH"]}]}"#,
            "access-control: config.rules[0].methods[0]: unknown value `FETCH`",
        ),
        (
            r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}}, "rules": [{"name": "r", "action": "allow", "paths": [{"template": "/users/{id}"}]}]}"#,
            "access-control: config.rules[0].paths[0]: `/users/{id}`: segment `{id}`",
        ),
        (
            r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}}, "rules": [{"name": "r", "action": "allow", "paths": [{"template": "/a/{**}/b"}]}]}"#,
            "access-control: config.rules[0].paths[0]: `/a/{**}/b`: `{**}` is only allowed as the last segment",
        ),
        (
            r#"{"rules": [{"name": "r", "action": "allow", "callers": ["spiffe://evil.org/x"]}], "identity": {"spiffe": {"trust_domains": ["example.org"]}}}"#,
            "access-control: config.rules[0].callers[0]: `spiffe://evil.org/x` is outside identity.spiffe.trust_domains",
        ),
        (
            r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}}, "rules": [{"name": "r", "action": "allow", "callers": ["role:admins"]}]}"#,
            "access-control: config.rules[0].callers[0]: unknown role `admins`",
        ),
        (
            r#"{"rules": [], "identity": {"sources": ["peer_certificate"]}}"#,
            "access-control: config.identity.spiffe.trust_domains: list the trust domains",
        ),
        (
            r#"{"rules": [], "identity": {"sources": ["caller_header"], "caller_header": {"name": "x-service-name", "trust_mtls": false}}}"#,
            "access-control: config.identity.caller_header: the header would never be trusted",
        ),
        (
            r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}}, "rules": [], "deny_response": {"status": 302}}"#,
            "access-control: config.deny_response.status: a deny status is 400 to 599",
        ),
        (
            r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}}, "rules": [], "metrics": {"tag_set_cap": 0}}"#,
            "access-control: config.metrics.tag_set_cap: must be at least 1",
        ),
    ] {
        let line = refusal(config);
        assert!(line.starts_with(expected), "{config}\n  got: {line}");
    }
}

#[test]
fn the_filter_only_declares_the_request_headers_hook() {
    // The emulator calls only declared hooks; responses pass untouched.
    let host = common::host(POLICY);
    let (stream, _) = get(&host, Peer::Mtls(FRONTEND), "/", &[]);
    stream.send_response_headers(&[(":status", "200")]);
    assert_eq!(stream.response_header(":status").as_deref(), Some("200"));
    stream.finish();
    assert!(!host.logged(LogLevel::Critical, ""));
}

#[test]
fn under_istio_the_protected_workload_is_logged_once_when_configured() {
    let workload_lines = |host: &wasmesh_testing::Host| -> Vec<String> {
        host.logs()
            .into_iter()
            .filter(|l| l.level == LogLevel::Info && l.message.contains("workload="))
            .map(|l| l.message)
            .collect()
    };
    let host = wasmesh_testing::Host::of::<access_control::AccessControl>();
    host.set_property(&["xds", "node", "metadata", "WORKLOAD_NAME"], "reviews-v1");
    assert!(host.configure(POLICY));
    assert_eq!(
        workload_lines(&host),
        ["access-control: workload=reviews-v1 (Istio node metadata)"]
    );
    // Read when configured, not per request.
    assert_eq!(host.host_calls("proxy_get_property"), 1);
    outcome(&host, Peer::Mtls(FRONTEND), "GET", "/orders", &[]);
    assert_eq!(workload_lines(&host).len(), 1);

    // Without node metadata (Envoy outside Istio), nothing is logged.
    let host = common::host(POLICY);
    assert_eq!(workload_lines(&host), Vec::<String>::new());
}
