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
    // Segment parameters do not hide a path from a deny rule (servers such as Tomcat
    // drop them).
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
fn deny_rules_hold_for_applications_that_read_paths_leniently() {
    let host = host(&no_admin(""));
    let peer = Peer::Mtls(FRONTEND);
    for path in [
        // case-insensitive routers
        "/ADMIN",
        "/Admin/x",
        "/aDmIn",
        // servers that drop `;params`, raw or once decoded
        "/admin;x",
        "/Admin;jsessionid=1/users",
        "/admin%3Bx",
        "/admin%3Bx/users",
        // Unicode case folding: dotless i, Kelvin sign
        "/adm%C4%B1n",
        "/ADM%C4%B0N/x",
        // IIS: trailing dots and spaces
        "/admin.",
        "/admin./x",
        "/admin%20/x",
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("no-admin"),
            "{path}"
        );
    }
    for path in ["/administrator", "/x/admin", "/admin2;x", "/adm%C3%ADn"] {
        assert_eq!(denied_by(&host, peer, path, &[]), None, "{path}");
    }
    // Segments that lenient applications read as dot segments or as nothing: no rule can
    // say where such a path leads (`/admin/...` is `/admin/...` to one application and
    // `/` to another), so it is refused whatever the rules.
    for path in [
        "/admin/...",
        "/admin/..%20",
        "/admin/..%3B",
        "/admin/..%3Bx/users",
        "/x/..%3Bx/admin/...",
        "/;admin",
        "/users/;x/delete",
        "/users/%3B/delete",
        "/public/.%20/x",
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("ambiguous_path"),
            "{path}"
        );
    }
    let kelvin = host_with_rule(r#"{"prefix": "/kube"}"#, "");
    assert_eq!(
        denied_by(&kelvin, peer, "/%E2%84%AAube/x", &[]).as_deref(),
        Some("no-kube")
    );
}

/// Frontend may do anything except what one deny rule on `paths` names.
fn host_with_rule(paths: &str, extra: &str) -> wasmesh_testing::Host {
    host(&format!(
        r#"{{"identity": {{"spiffe": {{"trust_domains": ["example.org"]}}}},
            {extra}
            "rules": [
              {{"name": "no-kube", "action": "deny", "callers": ["frontend"], "paths": [{paths}]}},
              {{"name": "frontend", "action": "allow", "callers": ["frontend"]}}
            ]}}"#
    ))
}

#[test]
fn escaped_slashes_kept_encoded_never_hide_a_denied_path() {
    let host = host(&no_admin(
        r#""path": {"canonicalization": {"escaped_slashes": "keep"}},"#,
    ));
    let peer = Peer::Mtls(FRONTEND);
    for path in [
        "/admin%2Fx",
        "/admin;x%2Fy",
        "/admin/..%2F",
        "/x%2F..%2Fadmin",
    ] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("ambiguous_path"),
            "{path}"
        );
    }
    assert_eq!(denied_by(&host, peer, "/public/x", &[]), None);
}

#[test]
fn each_lenient_reading_of_deny_rules_can_be_turned_off() {
    let peer = Peer::Mtls(FRONTEND);
    let exact_case = host(&no_admin(r#""deny_matching": {"ignore_case": false},"#));
    for path in ["/ADMIN", "/Admin/x", "/adm%C4%B1n"] {
        assert_eq!(denied_by(&exact_case, peer, path, &[]), None, "{path}");
    }
    assert_eq!(
        denied_by(&exact_case, peer, "/admin%3Bx", &[]).as_deref(),
        Some("no-admin")
    );
    let exact_params = host(&no_admin(
        r#""deny_matching": {"ignore_path_params": false},"#,
    ));
    for path in ["/admin;x", "/admin%3Bx/users"] {
        assert_eq!(denied_by(&exact_params, peer, path, &[]), None, "{path}");
    }
    assert_eq!(
        denied_by(&exact_params, peer, "/ADMIN", &[]).as_deref(),
        Some("no-admin")
    );
    // `path.case_insensitive` makes every rule ignore case, whatever deny_matching says.
    let insensitive = host(&no_admin(
        r#""path": {"case_insensitive": true}, "deny_matching": {"ignore_case": false},"#,
    ));
    assert_eq!(
        denied_by(&insensitive, peer, "/ADMIN", &[]).as_deref(),
        Some("no-admin")
    );
    let refused = refusal(&no_admin(r#""deny_matching": {"ignore_case": "no"},"#));
    assert!(
        refused.starts_with("access-control: config.deny_matching.ignore_case: expected a boolean"),
        "{refused}"
    );
}

#[test]
fn allow_rules_match_the_canonical_path_exactly() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "public", "action": "allow", "paths": [{"prefix": "/public"}]}]}"#,
    );
    let peer = Peer::Mtls(FRONTEND);
    for path in ["/public", "/public/x", "/public/x;v=1"] {
        assert_eq!(denied_by(&host, peer, path, &[]), None, "{path}");
    }
    for path in ["/PUBLIC", "/public;x", "/public%3Bx", "/public./x"] {
        assert_eq!(
            denied_by(&host, peer, path, &[]).as_deref(),
            Some("unlisted_endpoint"),
            "{path}"
        );
    }
}

#[test]
fn deny_rules_match_hosts_however_a_server_reads_them() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [
              {"name": "no-admin-host", "action": "deny", "hosts": ["admin.example.org"]},
              {"name": "shop", "action": "allow", "hosts": ["shop.example.org"]}
            ]}"#,
    );
    let get = |authority: &str| {
        let (stream, _) = send(
            &host,
            Peer::Mtls(FRONTEND),
            &[
                (":method", "GET"),
                (":path", "/"),
                (":authority", authority),
            ],
        );
        let rule = stream
            .local_reply()
            .map(|reply| reply.json()["rule"].as_str().unwrap().to_owned());
        stream.finish();
        rule
    };
    for authority in [
        "admin.example.org",
        "ADMIN.example.org:8080",
        "admin.example.org.",
        "admin.example.org..:80",
        "user@admin.example.org",
        "%61dmin.example.org",
    ] {
        assert_eq!(
            get(authority).as_deref(),
            Some("no-admin-host"),
            "{authority}"
        );
    }
    assert_eq!(get("shop.example.org:443"), None);
    for authority in [
        "shop.example.org.",
        "u@shop.example.org",
        "%73hop.example.org",
    ] {
        assert_eq!(
            get(authority).as_deref(),
            Some("unlisted_endpoint"),
            "{authority}"
        );
    }
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
