//! Matching on the canonical path only, and method-override headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

/// Frontend may do anything except `/admin` and below.
fn no_admin(extra: &str) -> String {
    format!(
        r#"{{"identity": {{"spiffe": {{"trust_domains": ["example.org"]}}}},
            {extra}
            "rules": [
              {{"name": "no-admin", "action": "deny", "callers": ["frontend"], "paths": [{{"prefix": "/admin"}}]}},
              {{"name": "frontend", "action": "allow", "callers": ["frontend"]}}
            ]}}"#
    )
}

#[test]
fn non_canonical_paths_are_denied_never_matched_raw() {
    let host = host(&no_admin(""));
    let peer = Peer::Mtls(FRONTEND);
    for path in [
        "/x/../admin",
        "/./admin",
        "//admin",
        "/%61dmin",
        "/admin/.",
        "/public/..",
        "/x/%2e%2e/admin",
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("non_canonical_path"),
            "{path}"
        );
    }
    for (path, reason) in [
        ("/x/..%2fadmin", "escaped_slash"),
        ("/x/..;/admin", "dot_segment_parameter"),
        ("/x/%252e%252e/admin", "double_encoding"),
        ("/admin#frag", "fragment"),
        ("/x\\..\\admin", "backslash"),
        ("admin", "relative_path"),
        ("/%", "invalid_escape"),
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("invalid_path"),
            "{path}"
        );
        let line = decision_lines(&host).pop().unwrap();
        assert!(
            line.ends_with(&format!("reason={reason}")),
            "{path}: {line}"
        );
    }
    // Canonical paths outside /admin pass; the query is not part of the match.
    for path in ["/", "/administrator", "/x/admin", "/public?next=/admin"] {
        assert_eq!(denied_by(&host, peer, path, &[]), None, "{path}");
    }
    assert_eq!(
        denied_by(&host, peer, "/admin/users?x=1", &[]).as_deref(),
        Some("no-admin")
    );
    // Segment parameters do not hide a path (servers such as Tomcat drop them).
    for path in ["/admin;x=1", "/admin;jsessionid=2/users"] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("no-admin"),
            "{path}"
        );
    }
}

#[test]
fn missing_or_repeated_path_is_invalid() {
    let host = host(&no_admin(""));
    let (stream, _) = send(&host, Peer::Mtls(FRONTEND), &[(":method", "GET")]);
    assert_eq!(stream.local_reply().unwrap().json()["rule"], "invalid_path");
    stream.finish();
    let (stream, _) = send(
        &host,
        Peer::Mtls(FRONTEND),
        &[(":method", "GET"), (":path", "/ok"), (":path", "/admin")],
    );
    assert_eq!(stream.local_reply().unwrap().json()["rule"], "invalid_path");
    stream.finish();
}

#[test]
fn normalize_rewrites_the_path_then_matches() {
    let host = host(&no_admin(r#""path": {"non_canonical": "normalize"},"#));
    let peer = Peer::Mtls(FRONTEND);
    for path in [
        "/x/../admin",
        "/./admin/",
        "//admin",
        "/%61dmin/x",
        "/x/%2e%2e/admin",
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("no-admin"),
            "{path}"
        );
    }
    let result = outcome(&host, peer, "GET", "/a/./b/../c?q=%2F", &[]);
    assert!(result.passed());
    assert_eq!(result.upstream_values(":path"), ["/a/c?q=%2F"]);
    // Still refused when it cannot be canonicalized.
    assert_eq!(
        denied_by(&host, peer, "/x/..%2fadmin", &[]).as_deref(),
        Some("invalid_path")
    );
}

#[test]
fn canonicalization_options_match_the_normalization_filter() {
    // Unescaping %2F makes `/x/..%2fadmin` the path `/admin`.
    let host = host(&no_admin(
        r#""path": {"non_canonical": "normalize", "canonicalization": {"escaped_slashes": "unescape_and_forward"}},"#,
    ));
    assert_eq!(
        denied_by(&host, Peer::Mtls(FRONTEND), "/x/..%2fadmin", &[]).as_deref(),
        Some("no-admin")
    );
    // Configured patterns must be canonical in that form.
    let refused = refusal(
        r#"{"path": {"canonicalization": {"lowercase": true}},
            "identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "r", "action": "allow", "paths": [{"prefix": "/Admin"}]}]}"#,
    );
    assert!(
        refused.starts_with("access-control: config.rules[0].paths[0]: `/Admin` is not canonical"),
        "{refused}"
    );
}

#[test]
fn case_variants_are_other_paths_unless_case_insensitive() {
    let sensitive = host(&no_admin(""));
    let peer = Peer::Mtls(FRONTEND);
    for path in ["/ADMIN", "/Admin/x", "/aDmIn"] {
        assert_eq!(denied_by(&sensitive, peer, path, &[]), None, "{path}");
    }
    let insensitive = host(&no_admin(r#""path": {"case_insensitive": true},"#));
    for path in ["/ADMIN", "/Admin/x", "/aDmIn", "/admin"] {
        assert_eq!(
            denied_by(&insensitive, peer, path, &[]).as_deref(),
            Some("no-admin"),
            "{path}"
        );
    }
    assert_eq!(denied_by(&insensitive, peer, "/ADMINX", &[]), None);
}

#[test]
fn method_override_headers_are_denied_by_default() {
    let host = host(&no_admin(""));
    for header in [
        "x-http-method-override",
        "X-HTTP-Method",
        "x-method-override",
    ] {
        let result = outcome(
            &host,
            Peer::Mtls(FRONTEND),
            "POST",
            "/orders",
            &[(header, "DELETE")],
        );
        assert_eq!(result.rule.as_deref(), Some("method_override"), "{header}");
    }
}

#[test]
fn method_override_headers_can_be_evaluated() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "method_override": {"action": "evaluate"},
            "rules": [{"name": "writes", "action": "allow", "callers": ["frontend"], "methods": ["GET", "POST"]}]}"#,
    );
    let peer = Peer::Mtls(FRONTEND);
    let post_as_get = outcome(
        &host,
        peer,
        "POST",
        "/o",
        &[("x-http-method-override", "GET")],
    );
    assert!(post_as_get.passed());
    // Both the request method and the override must be allowed.
    let post_as_delete = outcome(
        &host,
        peer,
        "POST",
        "/o",
        &[("x-http-method-override", "delete")],
    );
    assert_eq!(post_as_delete.rule.as_deref(), Some("unlisted_endpoint"));
    let line = decision_lines(&host).pop().unwrap();
    assert!(line.ends_with("reason=DELETE"), "{line}");
    let unknown = outcome(&host, peer, "POST", "/o", &[("x-http-method", "PURGE")]);
    assert_eq!(unknown.rule.as_deref(), Some("method_override"));
    let repeated = outcome(
        &host,
        peer,
        "POST",
        "/o",
        &[("x-http-method", "GET"), ("x-http-method", "DELETE")],
    );
    assert_eq!(repeated.rule.as_deref(), Some("method_override"));
}
