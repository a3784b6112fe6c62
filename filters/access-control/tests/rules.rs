//! Every rule kind, the evaluation order, the defaults and shadow mode, driven through
//! the proxy-wasm dispatcher by the host emulator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

const TRUST: &str = r#""identity": {"spiffe": {"trust_domains": ["example.org"]}}"#;

fn policy(rest: &str) -> String {
    format!("{{{TRUST}, {rest}}}")
}

#[test]
fn callers_by_service_name() {
    let host = host(&policy(
        r#""rules": [{"name": "frontend-only", "action": "allow", "callers": ["frontend"]}]"#,
    ));
    assert_eq!(denied_by(&host, Peer::Mtls(FRONTEND), "/x", &[]), None);
    assert_eq!(
        denied_by(&host, Peer::Mtls(INTRUDER), "/x", &[]).as_deref(),
        Some("default")
    );
}

#[test]
fn callers_by_spiffe_id_exact_and_prefix() {
    let host = host(&policy(
        r#""rules": [
            {"name": "web-exact", "action": "allow", "callers": ["spiffe://example.org/ns/shop/sa/frontend"], "paths": [{"prefix": "/web"}]},
            {"name": "ops-namespace", "action": "allow", "callers": ["spiffe://example.org/ns/ops/*"], "paths": [{"prefix": "/ops"}]}
        ]"#,
    ));
    assert_eq!(denied_by(&host, Peer::Mtls(FRONTEND), "/web/a", &[]), None);
    assert_eq!(
        denied_by(&host, Peer::Mtls(INTRUDER), "/web/a", &[]).as_deref(),
        Some("default")
    );
    assert_eq!(denied_by(&host, Peer::Mtls(BACKOFFICE), "/ops", &[]), None);
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/ops", &[]).as_deref(),
        Some("default")
    );
}

#[test]
fn roles_and_negation() {
    let host = host(&policy(
        r#""roles": {"admins": ["backoffice", "spiffe://example.org/ns/shop/sa/frontend"]},
           "rules": [
             {"name": "admins", "action": "allow", "callers": ["role:admins"], "paths": [{"prefix": "/admin"}]},
             {"name": "everyone-but-intruder", "action": "allow", "callers": ["*", "!intruder"], "paths": [{"prefix": "/public"}]},
             {"name": "anonymous-health", "action": "allow", "callers": ["!*"], "paths": [{"exact": "/healthz"}]}
           ]"#,
    ));
    assert_eq!(
        denied_by(&host, Peer::Mtls(BACKOFFICE), "/admin", &[]),
        None
    );
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/admin/users", &[]),
        None
    );
    assert_eq!(
        denied_by(&host, Peer::Mtls(INTRUDER), "/admin", &[]).as_deref(),
        Some("default")
    );
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/public/x", &[]),
        None
    );
    assert_eq!(
        denied_by(&host, Peer::Mtls(INTRUDER), "/public/x", &[]).as_deref(),
        Some("default")
    );
    assert_eq!(
        denied_by(&host, Peer::Plain("10.0.0.1:1"), "/public/x", &[]).as_deref(),
        Some("default")
    );
    assert_eq!(
        denied_by(&host, Peer::Plain("10.0.0.1:1"), "/healthz", &[]),
        None
    );
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/healthz", &[]).as_deref(),
        Some("default")
    );
}

#[test]
fn methods() {
    let host = host(&policy(
        r#""rules": [{"name": "reads", "action": "allow", "callers": ["frontend"], "methods": ["GET", "HEAD"]}]"#,
    ));
    for method in ["GET", "HEAD", "get"] {
        assert!(
            outcome(&host, Peer::Mtls(FRONTEND), method, "/x", &[]).passed(),
            "{method}"
        );
    }
    for method in ["POST", "DELETE", "PROPFIND"] {
        let result = outcome(&host, Peer::Mtls(FRONTEND), method, "/x", &[]);
        assert_eq!(
            result.rule.as_deref(),
            Some("unlisted_endpoint"),
            "{method}"
        );
    }
}

#[test]
fn paths_exact_prefix_and_templates() {
    let host = host(&policy(
        r#""rules": [
            {"name": "exact", "action": "allow", "paths": [{"exact": "/healthz"}]},
            {"name": "prefix", "action": "allow", "paths": [{"prefix": "/api"}]},
            {"name": "template", "action": "allow", "paths": [{"template": "/users/{*}/orders/{**}"}]}
        ]"#,
    ));
    let peer = Peer::Mtls(FRONTEND);
    for allowed in [
        "/healthz",
        "/api",
        "/api/",
        "/api/v1/items?q=1",
        "/users/7/orders",
        "/users/7/orders/9/lines",
    ] {
        assert_eq!(denied_by(&host, peer, allowed, &[]), None, "{allowed}");
    }
    for denied in [
        "/healthz/x",
        "/apix",
        "/users/orders",
        "/users/7/8/orders",
        "/",
    ] {
        assert_eq!(
            denied_by(&host, peer, denied, &[]).as_deref(),
            Some("unlisted_endpoint"),
            "{denied}"
        );
    }
}

#[test]
fn hosts() {
    let host = host(&policy(
        r#""rules": [{"name": "internal-host", "action": "allow", "hosts": ["*.internal.example.org", "orders.example.org:8443"]}]"#,
    ));
    let peer = Peer::Mtls(FRONTEND);
    let with_host = |authority: &str| {
        let (stream, _) = send(
            &host,
            peer,
            &[
                (":method", "GET"),
                (":path", "/"),
                (":authority", authority),
            ],
        );
        let rule = stream
            .local_reply()
            .map(|r| r.json()["rule"].as_str().unwrap().to_owned());
        stream.finish();
        rule
    };
    assert_eq!(with_host("orders.internal.example.org"), None);
    assert_eq!(with_host("ORDERS.Internal.example.org:80"), None);
    // An allow rule matches the host as sent: a trailing dot is another name to it.
    assert_eq!(
        with_host("orders.internal.example.org.").as_deref(),
        Some("unlisted_endpoint")
    );
    assert_eq!(with_host("orders.example.org:8443"), None);
    assert_eq!(
        with_host("orders.example.org").as_deref(),
        Some("unlisted_endpoint")
    );
    assert_eq!(
        with_host("internal.example.org").as_deref(),
        Some("unlisted_endpoint")
    );
}

#[test]
fn header_conditions() {
    let host = host(&policy(
        r#""rules": [
            {"name": "needs-tenant", "action": "allow", "headers": [
                {"name": "x-tenant", "present": true},
                {"name": "x-env", "exact": "prod"},
                {"name": "x-client-version", "prefix": "2."},
                {"name": "x-debug", "present": false}
            ]}
        ]"#,
    ));
    let peer = Peer::Mtls(FRONTEND);
    let good = [
        ("x-tenant", "acme"),
        ("x-env", "prod"),
        ("x-client-version", "2.7"),
    ];
    assert_eq!(denied_by(&host, peer, "/", &good), None);
    let mut missing_tenant = good.to_vec();
    missing_tenant.remove(0);
    assert_eq!(
        denied_by(&host, peer, "/", &missing_tenant).as_deref(),
        Some("default")
    );
    let mut wrong_env = good.to_vec();
    wrong_env[1] = ("x-env", "production");
    assert_eq!(
        denied_by(&host, peer, "/", &wrong_env).as_deref(),
        Some("default")
    );
    let mut old_client = good.to_vec();
    old_client[2] = ("x-client-version", "1.9");
    assert_eq!(
        denied_by(&host, peer, "/", &old_client).as_deref(),
        Some("default")
    );
    let mut debug = good.to_vec();
    debug.push(("x-debug", "1"));
    assert_eq!(
        denied_by(&host, peer, "/", &debug).as_deref(),
        Some("default")
    );
    // A repeated condition header is refused, whichever value comes first.
    let mut repeated = good.to_vec();
    repeated.push(("X-Env", "staging"));
    assert_eq!(
        denied_by(&host, peer, "/", &repeated).as_deref(),
        Some("repeated_header")
    );
}

#[test]
fn log_rules_report_without_deciding() {
    let host = host(&policy(
        r#""rules": [
            {"name": "audit-deletes", "action": "log", "methods": ["DELETE"]},
            {"name": "frontend", "action": "allow", "callers": ["frontend"]}
        ]"#,
    ));
    assert!(outcome(&host, Peer::Mtls(FRONTEND), "DELETE", "/orders/1", &[]).passed());
    let lines = decision_lines(&host);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "access-control: decision=logged mode=enforce rule=audit-deletes caller=frontend"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("method=DELETE path=/orders/1"),
        "{}",
        lines[0]
    );
    assert_eq!(count(&host, "allowed", "frontend", "frontend"), Some(1));
}

#[test]
fn deny_rules_win_over_earlier_allow_rules() {
    let host = host(&policy(
        r#""rules": [
            {"name": "frontend-all", "action": "allow", "callers": ["frontend"]},
            {"name": "no-admin", "action": "deny", "paths": [{"prefix": "/admin"}]}
        ]"#,
    ));
    assert_eq!(denied_by(&host, Peer::Mtls(FRONTEND), "/orders", &[]), None);
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/admin/x", &[]).as_deref(),
        Some("no-admin")
    );
    // The first matching allow rule names the decision.
    let host = common::host(&policy(
        r#""log_allowed": true, "rules": [
            {"name": "first", "action": "allow", "paths": [{"prefix": "/a"}]},
            {"name": "second", "action": "allow"}
        ]"#,
    ));
    assert!(outcome(&host, Peer::Mtls(FRONTEND), "GET", "/a/b", &[]).passed());
    assert!(decision_lines(&host)[0].contains("rule=first"));
}

#[test]
fn defaults_for_unmatched_requests_and_unlisted_endpoints() {
    let rules = r#""rules": [{"name": "frontend-api", "action": "allow", "callers": ["frontend"], "paths": [{"prefix": "/api"}]}]"#;
    // Both default to deny.
    let strict = host(&policy(rules));
    assert_eq!(
        denied_by(&strict, Peer::Mtls(INTRUDER), "/api/x", &[]).as_deref(),
        Some("default")
    );
    assert_eq!(
        denied_by(&strict, Peer::Mtls(FRONTEND), "/other", &[]).as_deref(),
        Some("unlisted_endpoint")
    );
    // Each can be opened on its own.
    let open_unlisted = host(&policy(&format!(
        r#""unlisted_endpoints": "allow", {rules}"#
    )));
    assert_eq!(
        denied_by(&open_unlisted, Peer::Mtls(INTRUDER), "/other", &[]),
        None
    );
    assert_eq!(
        denied_by(&open_unlisted, Peer::Mtls(INTRUDER), "/api/x", &[]).as_deref(),
        Some("default")
    );
    let open_default = host(&policy(&format!(r#""default_action": "allow", {rules}"#)));
    assert_eq!(
        denied_by(&open_default, Peer::Mtls(INTRUDER), "/api/x", &[]),
        None
    );
    assert_eq!(
        denied_by(&open_default, Peer::Mtls(INTRUDER), "/other", &[]).as_deref(),
        Some("unlisted_endpoint")
    );
    // `log` lets the request pass and logs it.
    let logged = host(&policy(&format!(
        r#""default_action": "log", "unlisted_endpoints": "log", {rules}"#
    )));
    assert_eq!(
        denied_by(&logged, Peer::Mtls(INTRUDER), "/api/x", &[]),
        None
    );
    assert_eq!(
        denied_by(&logged, Peer::Mtls(INTRUDER), "/other", &[]),
        None
    );
    let lines = decision_lines(&logged);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("decision=allowed mode=enforce rule=default caller=intruder"));
    assert!(lines[1].contains("rule=unlisted_endpoint"));
    assert_eq!(count(&logged, "allowed", "intruder", "default"), Some(1));
}

#[test]
fn shadow_mode_decides_and_reports_but_never_blocks() {
    let host = host(&policy(
        r#""mode": "shadow", "rules": [
            {"name": "no-admin", "action": "deny", "paths": [{"prefix": "/admin"}]},
            {"name": "frontend", "action": "allow", "callers": ["frontend"]}
        ]"#,
    ));
    let denied = outcome(&host, Peer::Mtls(FRONTEND), "GET", "/admin", &[]);
    assert!(denied.passed());
    assert_eq!(denied.upstream_values("x-wasmesh-caller"), ["frontend"]);
    let unidentified = outcome(&host, Peer::Plain("10.0.0.1:1"), "GET", "/orders", &[]);
    assert!(unidentified.passed());
    let allowed = outcome(&host, Peer::Mtls(FRONTEND), "GET", "/orders", &[]);
    assert!(allowed.passed());

    assert_eq!(
        count(&host, "shadow_denied", "frontend", "no-admin"),
        Some(1)
    );
    assert_eq!(
        count(&host, "shadow_denied", "unidentified", "default"),
        Some(1)
    );
    assert_eq!(count(&host, "allowed", "frontend", "frontend"), Some(1));
    assert_eq!(count(&host, "denied", "frontend", "no-admin"), None);
    let lines = decision_lines(&host);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(
        "access-control: decision=shadow_denied mode=shadow rule=no-admin caller=frontend identity=peer_certificate"
    ));
    // Built-in checks are shadowed too.
    let repeated = outcome(&host, Peer::Mtls(FRONTEND), "GET", "/a/../admin", &[]);
    assert!(repeated.passed());
    assert_eq!(
        count(&host, "shadow_denied", "frontend", "non_canonical_path"),
        Some(1)
    );
}

#[test]
fn an_empty_rule_list_denies_everything_by_default() {
    let host = host(&policy(r#""rules": []"#));
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/", &[]).as_deref(),
        Some("unlisted_endpoint")
    );
}
