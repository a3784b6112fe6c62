//! Every rule of the filter, through the proxy-wasm dispatcher in the host emulator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{counter, get, host, send, send_bytes, Outcome};
use header_normalization::HeaderNormalization;
use wasmesh_testing::{Host, LogLevel};

fn rejected(status: u16, rule: &str) -> Outcome {
    Outcome::Rejected(status, rule.to_owned())
}

// ---- The canonical fast path ---------------------------------------------------------------

#[test]
fn a_canonical_request_passes_untouched_and_counts_nothing() {
    let host = host("{}");
    let headers = get(
        "/api/v1/users?limit=10",
        &[
            ("user-agent", "curl/8"),
            ("authorization", "Bearer x"),
            ("te", "trailers"),
            ("accept", "*/*"),
        ],
    );
    let outcome = send(&host, &headers);
    let expected: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(outcome, Outcome::Forwarded(expected));
    assert!(host.metrics().is_empty(), "{:?}", host.metrics());
}

#[test]
fn an_empty_configuration_uses_the_defaults() {
    let host = host("");
    assert_eq!(send(&host, &get("/a/../b", &[])).path(), "/b");
}

// ---- Limits --------------------------------------------------------------------------------

#[test]
fn too_many_headers_is_431_and_pseudo_headers_do_not_count() {
    let host = host(r#"{"max_headers": 3}"#);
    let three = get("/", &[("a", "1"), ("b", "2"), ("c", "3")]);
    assert!(matches!(send(&host, &three), Outcome::Forwarded(_)));
    let four = get("/", &[("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")]);
    assert_eq!(send(&host, &four), rejected(431, "header_count"));
    assert_eq!(counter(&host, "rejected", "header_count"), Some(1));
}

#[test]
fn too_many_header_bytes_is_431_counting_names_values_and_pseudo_headers() {
    // ":method" "GET" ":scheme" "http" ":authority" "svc" ":path" "/" = 7+3+7+4+10+3+5+1 = 40.
    let host = host(r#"{"max_header_bytes": 50}"#);
    let fits = get("/", &[("x", "123456789")]);
    assert!(matches!(send(&host, &fits), Outcome::Forwarded(_)));
    let over = get("/", &[("x", "1234567890")]);
    assert_eq!(send(&host, &over), rejected(431, "header_bytes"));
}

#[test]
fn zero_means_no_limit() {
    let host = host(r#"{"max_headers": 0, "max_header_bytes": 0}"#);
    let many: Vec<(String, String)> = (0..500)
        .map(|i| (format!("x-h{i}"), "v".repeat(300)))
        .collect();
    let mut headers = get("/", &[]);
    headers.extend(many.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    assert!(matches!(send(&host, &headers), Outcome::Forwarded(_)));
    let default = common::host("{}");
    assert_eq!(send(&default, &headers), rejected(431, "header_count"));
}

// ---- Header syntax -------------------------------------------------------------------------

#[test]
fn invalid_header_names_and_values_are_refused() {
    let host = host("{}");
    for name in ["x y", "x:y", "", "caf\u{e9}", "x\u{0}"] {
        let outcome = send(&host, &get("/", &[(name, "v")]));
        assert_eq!(outcome, rejected(400, "invalid_header_name"), "{name:?}");
    }
    for value in ["a\u{0}b", "a\r\nx-injected: 1", "\u{1b}[31m", "a\u{7f}"] {
        let outcome = send(&host, &get("/", &[("x", value)]));
        assert_eq!(outcome, rejected(400, "invalid_header_value"), "{value:?}");
    }
    let tab = send(&host, &get("/", &[("x", "a\tb")]));
    assert_eq!(tab.value("x"), "a\tb");
    let raw = send_bytes(
        &host,
        vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/".to_vec()),
            (b"x-bin".to_vec(), b"\xff\xfe obs-text".to_vec()),
        ],
    );
    assert!(matches!(raw, Outcome::Forwarded(_)), "obs-text is allowed");
    assert_eq!(counter(&host, "rejected", "invalid_header_value"), Some(4));
}

// ---- Methods -------------------------------------------------------------------------------

#[test]
fn methods_outside_the_allow_list_are_refused() {
    let host = host("{}");
    for method in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ] {
        let outcome = send(&host, &[(":method", method), (":path", "/")]);
        assert!(matches!(outcome, Outcome::Forwarded(_)), "{method}");
    }
    for method in ["PROPFIND", "BREW", "GET2", "G ET", ""] {
        let outcome = send(&host, &[(":method", method), (":path", "/")]);
        assert_eq!(outcome, rejected(400, "method_not_allowed"), "{method:?}");
    }
    let custom = common::host(r#"{"allowed_methods": ["GET", "PROPFIND"]}"#);
    let outcome = send(&custom, &[(":method", "PROPFIND"), (":path", "/")]);
    assert!(matches!(outcome, Outcome::Forwarded(_)));
    let outcome = send(&custom, &[(":method", "POST"), (":path", "/")]);
    assert_eq!(outcome, rejected(400, "method_not_allowed"));
}

#[test]
fn lowercase_methods_are_refused_by_default() {
    let host = host("{}");
    for method in ["get", "Get", "pOST"] {
        let outcome = send(&host, &[(":method", method), (":path", "/")]);
        assert_eq!(outcome, rejected(400, "lowercase_method"), "{method}");
    }
    assert_eq!(counter(&host, "rejected", "lowercase_method"), Some(3));
}

#[test]
fn lowercase_methods_can_be_uppercased() {
    let host = host(r#"{"lowercase_methods": "uppercase"}"#);
    let outcome = send(&host, &[(":method", "patch"), (":path", "/")]);
    assert_eq!(outcome.value(":method"), "PATCH");
    assert_eq!(counter(&host, "normalized", "lowercase_method"), Some(1));
    let outcome = send(&host, &[(":method", "brew"), (":path", "/")]);
    assert_eq!(outcome, rejected(400, "method_not_allowed"));
}

// ---- Path ----------------------------------------------------------------------------------

#[test]
fn every_path_rule_refuses_with_its_name() {
    let host = host("{}");
    let cases: [(&[u8], &str); 10] = [
        (b"admin", "relative_path"),
        (b"/a%00", "control_character"),
        (b"/a b", "invalid_character"),
        (b"/a#b", "fragment"),
        (b"/a\\b", "backslash"),
        (b"/a%zz", "invalid_escape"),
        (b"/%252e", "double_encoding"),
        (b"/a%2fb", "escaped_slash"),
        (b"/%c0%ae", "invalid_utf8"),
        (b"/a/..;/b", "dot_segment_parameter"),
    ];
    for (path, rule) in cases {
        let outcome = send_bytes(
            &host,
            vec![
                (b":method".to_vec(), b"GET".to_vec()),
                (b":path".to_vec(), path.to_vec()),
            ],
        );
        assert_eq!(
            outcome,
            rejected(400, rule),
            "{}",
            String::from_utf8_lossy(path)
        );
        assert_eq!(counter(&host, "rejected", rule), Some(1), "{rule}");
    }
}

#[test]
fn the_path_is_rewritten_and_counted() {
    let host = host("{}");
    let outcome = send(&host, &get("//public/./%2e%2e/%61dmin?x=/../y", &[]));
    assert_eq!(outcome.path(), "/admin?x=/../y");
    assert_eq!(counter(&host, "normalized", "path"), Some(1));
    assert_eq!(outcome.values("x-envoy-original-path"), Vec::<&str>::new());
}

#[test]
fn path_options_come_from_the_path_object() {
    let host = host(
        r#"{"path": {"escaped_slashes": "unescape_and_forward", "merge_slashes": false,
                     "dot_segment_params": "as_dot_segment", "path_params": "strip",
                     "fragment": "strip", "lowercase": true}}"#,
    );
    assert_eq!(send(&host, &get("/A%2fB", &[])).path(), "/a/b");
    assert_eq!(send(&host, &get("/a//b", &[])).path(), "/a//b");
    assert_eq!(send(&host, &get("/a/..;x/b", &[])).path(), "/b");
    assert_eq!(send(&host, &get("/a;jsessionid=1/b", &[])).path(), "/a/b");
    assert_eq!(send(&host, &get("/a?q#frag", &[])).path(), "/a?q");
}

#[test]
fn the_original_path_is_kept_only_when_configured_and_changed() {
    let host = host(r#"{"original_path_header": "x-original-path"}"#);
    let changed = send(&host, &get("/a/../b", &[]));
    assert_eq!(changed.path(), "/b");
    assert_eq!(changed.value("x-original-path"), "/a/../b");
    // A client cannot forge it.
    let forged = send(&host, &get("/b", &[("x-original-path", "/admin")]));
    assert_eq!(forged.values("x-original-path"), Vec::<&str>::new());
    let forged_and_changed = send(&host, &get("/a/./b", &[("x-original-path", "/admin")]));
    assert_eq!(forged_and_changed.values("x-original-path"), vec!["/a/./b"]);
}

#[test]
fn an_escaped_slash_can_be_redirected() {
    let host = host(r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#);
    let outcome = send(&host, &get("/a%2Fb/../c?q=%2F", &[]));
    assert_eq!(outcome, Outcome::Redirected("/a/c?q=%2F".to_owned()));
    assert_eq!(counter(&host, "redirected", "escaped_slash"), Some(1));
    // Following the redirect gets through unchanged.
    let followed = send(&host, &get("/a/c?q=%2F", &[]));
    assert_eq!(followed.path(), "/a/c?q=%2F");
    // A path without escaped slashes is forwarded, rewritten as usual.
    assert_eq!(send(&host, &get("/a/./c", &[])).path(), "/a/c");
}

#[test]
fn refusals_come_before_the_redirect() {
    let host = host(r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#);
    let outcome = send(
        &host,
        &get("/a%2Fb", &[("authorization", "a"), ("authorization", "b")]),
    );
    assert_eq!(outcome, rejected(400, "repeated_header"));
}

#[test]
fn requests_without_a_path_or_method_are_not_refused_for_it() {
    let host = host("{}");
    let outcome = send(&host, &[(":method", "CONNECT"), (":authority", "db:5432")]);
    assert_eq!(outcome.value(":authority"), "db:5432");
    let outcome = send(&host, &[(":method", "OPTIONS"), (":path", "*")]);
    assert_eq!(outcome.path(), "*");
}

// ---- Underscores ---------------------------------------------------------------------------

#[test]
fn underscored_names_are_dropped_by_default() {
    let host = host("{}");
    let outcome = send(&host, &get("/", &[("x_user", "admin"), ("x-user", "bob")]));
    assert_eq!(outcome.values("x_user"), Vec::<&str>::new());
    assert_eq!(outcome.value("x-user"), "bob");
    assert_eq!(counter(&host, "normalized", "underscore_header"), Some(1));
}

#[test]
fn underscored_names_can_be_refused_or_allowed() {
    let reject = host(r#"{"underscores_in_names": "reject"}"#);
    let outcome = send(&reject, &get("/", &[("x_user", "admin")]));
    assert_eq!(outcome, rejected(400, "underscore_header"));
    let allow = host(r#"{"underscores_in_names": "allow"}"#);
    let outcome = send(&allow, &get("/", &[("x_user", "admin")]));
    assert_eq!(outcome.value("x_user"), "admin");
}

// ---- Repeated singletons -------------------------------------------------------------------

#[test]
fn repeated_singletons_are_refused_by_default() {
    let host = host(r#"{"singleton_headers": ["x-tenant"]}"#);
    let repeats: [&[(&str, &str)]; 6] = [
        &[("authorization", "a"), ("authorization", "b")],
        &[("content-length", "5"), ("content-length", "5")],
        &[("traceparent", "00-a-b-01"), ("traceparent", "00-c-d-01")],
        &[("host", "evil")],
        &[("x-tenant", "a"), ("X-Tenant", "b")],
        &[(":path", "/other")],
    ];
    for extra in repeats {
        let outcome = send(&host, &get("/", extra));
        assert_eq!(outcome, rejected(400, "repeated_header"), "{extra:?}");
    }
    let outcome = send(&host, &get("/", &[("x-other", "a"), ("x-other", "b")]));
    assert_eq!(outcome.values("x-other"), vec!["a", "b"]);
}

#[test]
fn repeated_singletons_can_keep_the_first() {
    let host = host(r#"{"repeated_singletons": "keep_first"}"#);
    let outcome = send(
        &host,
        &get(
            "/",
            &[
                ("authorization", "Bearer first"),
                ("x-other", "1"),
                ("authorization", "Bearer second"),
                ("host", "evil.example"),
            ],
        ),
    );
    assert_eq!(outcome.values("authorization"), vec!["Bearer first"]);
    assert_eq!(outcome.values("host"), Vec::<&str>::new());
    assert_eq!(outcome.value(":authority"), "svc");
    assert_eq!(counter(&host, "normalized", "repeated_header"), Some(1));
}

#[test]
fn values_joined_with_a_comma_are_repeats() {
    // Envoy joins repeated `Authorization` and `Host` lines with commas before filters run.
    let host = host(r#"{"singleton_headers": ["x-tenant"]}"#);
    for extra in [
        ("authorization", "Bearer a,Bearer b"),
        ("authorization", "Basic YQ==, Bearer b"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01,x",
        ),
        ("content-length", "5,5"),
        ("x-tenant", "a,b"),
    ] {
        let outcome = send(&host, &get("/", &[extra]));
        assert_eq!(outcome, rejected(400, "repeated_header"), "{extra:?}");
    }
    let outcome = send(&host, &[(":authority", "svc,evil"), (":path", "/")]);
    assert_eq!(outcome, rejected(400, "repeated_header"));
    // One credential with parameters is one value.
    let digest = r#"Digest username="a,b", realm="api", nonce="n", qop=auth"#;
    let outcome = send(&host, &get("/", &[("authorization", digest)]));
    assert_eq!(outcome.value("authorization"), digest);
    // Other headers are lists.
    let outcome = send(&host, &get("/", &[("accept", "a/b, c/d")]));
    assert_eq!(outcome.value("accept"), "a/b, c/d");
}

#[test]
fn keep_first_keeps_the_first_of_joined_values() {
    let host = host(r#"{"repeated_singletons": "keep_first"}"#);
    let outcome = send(
        &host,
        &[
            (":authority", "Svc , evil"),
            (":path", "/"),
            ("authorization", "Bearer a , Bearer b"),
        ],
    );
    assert_eq!(outcome.value(":authority"), "svc");
    assert_eq!(outcome.value("authorization"), "Bearer a");
    assert_eq!(counter(&host, "normalized", "repeated_header"), Some(1));
}

#[test]
fn a_lone_host_header_is_the_authority() {
    let host = host("{}");
    let outcome = send(
        &host,
        &[(":method", "GET"), (":path", "/"), ("host", "Svc.:80")],
    );
    assert_eq!(outcome.value("host"), "svc:80");
    assert_eq!(
        send(&host, &[(":path", "/"), ("host", "a b")]),
        rejected(400, "invalid_authority")
    );
}

// ---- Hop-by-hop ----------------------------------------------------------------------------

#[test]
fn hop_by_hop_headers_are_stripped() {
    let host = host("{}");
    let outcome = send(
        &host,
        &get(
            "/",
            &[
                ("connection", "keep-alive, X-Drop-Me"),
                ("keep-alive", "timeout=5"),
                ("proxy-connection", "keep-alive"),
                ("transfer-encoding", "chunked"),
                ("te", "gzip"),
                ("upgrade", "h2c"),
                ("x-drop-me", "1"),
                ("x-keep", "1"),
            ],
        ),
    );
    for gone in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "x-drop-me",
    ] {
        assert_eq!(outcome.values(gone), Vec::<&str>::new(), "{gone}");
    }
    assert_eq!(outcome.value("x-keep"), "1");
    assert_eq!(counter(&host, "normalized", "hop_by_hop_header"), Some(1));
}

#[test]
fn te_trailers_and_upgrades_survive() {
    let host = host("{}");
    let grpc = send(&host, &get("/svc/Method", &[("te", "trailers")]));
    assert_eq!(grpc.value("te"), "trailers");
    let websocket = send(
        &host,
        &get(
            "/ws",
            &[
                ("connection", "Upgrade, x-secret"),
                ("upgrade", "websocket"),
                ("x-secret", "1"),
            ],
        ),
    );
    assert_eq!(websocket.value("upgrade"), "websocket");
    assert_eq!(websocket.value("connection"), "upgrade");
    assert_eq!(websocket.values("x-secret"), Vec::<&str>::new());
}

#[test]
fn hop_by_hop_stripping_can_be_turned_off() {
    let host = host(r#"{"strip_hop_by_hop": false}"#);
    let outcome = send(
        &host,
        &get("/", &[("keep-alive", "1"), ("connection", "x")]),
    );
    assert_eq!(outcome.value("keep-alive"), "1");
}

// ---- Internal headers and trusted callers --------------------------------------------------

#[test]
fn internal_headers_are_stripped_from_untrusted_callers() {
    let host = host("{}");
    let stream = host.stream();
    stream.set_property(&["source", "address"], "10.0.0.1:4000");
    stream.set_property(&["connection", "mtls"], true);
    let action = stream.send_request_headers(&get(
        "/",
        &[
            ("x-envoy-retry-on", "5xx"),
            ("X-Envoy-Original-Path", "/admin"),
            ("x-forwarded-client-cert", "By=spiffe://mesh/admin"),
            ("x-wasmesh-caller", "admin"),
            ("x-envoyish", "kept"),
        ],
    ));
    let outcome = common::outcome(&stream, action);
    for gone in [
        "x-envoy-retry-on",
        "x-envoy-original-path",
        "x-forwarded-client-cert",
        "x-wasmesh-caller",
    ] {
        assert_eq!(outcome.values(gone), Vec::<&str>::new(), "{gone}");
    }
    assert_eq!(outcome.value("x-envoyish"), "kept");
    assert_eq!(counter(&host, "normalized", "internal_header"), Some(1));
}

fn send_from(
    host: &Host,
    address: &str,
    mtls: bool,
    san: Option<&str>,
    headers: &[(&str, &str)],
) -> Outcome {
    let stream = host.stream();
    stream.set_property(&["source", "address"], address);
    stream.set_property(&["connection", "mtls"], mtls);
    if let Some(san) = san {
        stream.set_property(&["connection", "uri_san_peer_certificate"], san);
    }
    let action = stream.send_request_headers(headers);
    common::outcome(&stream, action)
}

#[test]
fn trusted_callers_keep_internal_headers() {
    let host = host(
        r#"{"trusted_callers": [
              {"source_cidrs": ["10.0.0.0/8", "fd00::/8"]},
              {"mtls": true, "peer_uri_sans": ["spiffe://mesh/ns/edge/*"]}
           ]}"#,
    );
    let request = get("/", &[("x-forwarded-client-cert", "By=x")]);
    let kept = |outcome: Outcome| outcome.values("x-forwarded-client-cert") == vec!["By=x"];
    assert!(kept(send_from(
        &host,
        "10.1.2.3:5000",
        false,
        None,
        &request
    )));
    assert!(kept(send_from(
        &host,
        "[fd00::7]:5000",
        false,
        None,
        &request
    )));
    assert!(kept(send_from(
        &host,
        "[::ffff:10.9.9.9]:1",
        false,
        None,
        &request
    )));
    assert!(kept(send_from(
        &host,
        "192.0.2.1:5000",
        true,
        Some("spiffe://mesh/ns/edge/sa/gateway"),
        &request
    )));
    assert!(!kept(send_from(
        &host,
        "192.0.2.1:5000",
        false,
        None,
        &request
    )));
    assert!(!kept(send_from(
        &host,
        "192.0.2.1:5000",
        true,
        Some("spiffe://mesh/ns/app/sa/x"),
        &request
    )));
    assert!(!kept(send_from(
        &host,
        "192.0.2.1:5000",
        false,
        Some("spiffe://mesh/ns/edge/sa/gateway"),
        &request
    )));
}

#[test]
fn the_internal_list_is_configurable() {
    let host = host(r#"{"internal_headers": ["x-user-id", "x-internal-*"]}"#);
    let outcome = send(
        &host,
        &get(
            "/",
            &[
                ("x-user-id", "1"),
                ("x-internal-a", "1"),
                ("x-envoy-x", "1"),
            ],
        ),
    );
    assert_eq!(outcome.values("x-user-id"), Vec::<&str>::new());
    assert_eq!(outcome.values("x-internal-a"), Vec::<&str>::new());
    assert_eq!(outcome.value("x-envoy-x"), "1");
}

// ---- Authority -----------------------------------------------------------------------------

#[test]
fn the_authority_is_lowercased_and_loses_default_port_and_trailing_dot() {
    let host = host("{}");
    let outcome = send(
        &host,
        &get("/", &[])
            .into_iter()
            .map(|(n, v)| {
                if n == ":authority" {
                    (n, "Api.Example.COM.:80")
                } else {
                    (n, v)
                }
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(outcome.value(":authority"), "api.example.com");
    for rule in ["authority_case", "authority_port", "authority_trailing_dot"] {
        assert_eq!(counter(&host, "normalized", rule), Some(1), "{rule}");
    }
    let https = send(
        &host,
        &[
            (":scheme", "https"),
            (":authority", "svc:443"),
            (":path", "/"),
        ],
    );
    assert_eq!(https.value(":authority"), "svc");
    let other_port = send(
        &host,
        &[
            (":scheme", "https"),
            (":authority", "svc:80"),
            (":path", "/"),
        ],
    );
    assert_eq!(other_port.value(":authority"), "svc:80");
    let empty_port = send(&host, &[(":authority", "svc:"), (":path", "/")]);
    assert_eq!(empty_port.value(":authority"), "svc");
}

#[test]
fn port_stripping_modes() {
    let any = host(r#"{"authority": {"strip_port": "any"}}"#);
    let outcome = send(&any, &[(":authority", "svc:8443"), (":path", "/")]);
    assert_eq!(outcome.value(":authority"), "svc");

    let keep = host(r#"{"authority": {"strip_port": "keep"}}"#);
    let outcome = send(
        &keep,
        &[
            (":scheme", "http"),
            (":authority", "svc:80"),
            (":path", "/"),
        ],
    );
    assert_eq!(outcome.value(":authority"), "svc:80");

    let matching = host(r#"{"authority": {"strip_port": "matching"}}"#);
    let via_listener = |authority: &str| {
        let stream = matching.stream();
        stream.set_property(&["destination", "port"], 10000i64);
        let action = stream.send_request_headers(&[(":authority", authority), (":path", "/")]);
        common::outcome(&stream, action)
            .value(":authority")
            .to_owned()
    };
    assert_eq!(via_listener("svc:10000"), "svc");
    assert_eq!(via_listener("svc:10001"), "svc:10001");
    assert_eq!(via_listener("[::1]:10000"), "[::1]");
}

#[test]
fn authority_changes_can_be_turned_off() {
    let host = host(
        r#"{"authority": {"lowercase": false, "strip_port": "keep", "strip_trailing_dot": false}}"#,
    );
    let outcome = send(
        &host,
        &[
            (":scheme", "http"),
            (":authority", "Svc.:80"),
            (":path", "/"),
        ],
    );
    assert_eq!(outcome.value(":authority"), "Svc.:80");
}

#[test]
fn invalid_authorities_are_refused() {
    let host = host("{}");
    for authority in [
        "user@svc",
        "svc/x",
        "svc:99999",
        "svc:08",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "a..b",
        "",
        "[::1",
        "sv c",
    ] {
        let outcome = send(&host, &[(":authority", authority), (":path", "/")]);
        assert_eq!(outcome, rejected(400, "invalid_authority"), "{authority:?}");
    }
}

// ---- Whitespace ----------------------------------------------------------------------------

#[test]
fn surrounding_whitespace_is_trimmed() {
    let host = host("{}");
    let outcome = send(
        &host,
        &[
            (":authority", " svc "),
            (":path", "/"),
            ("x-a", " \tvalue with  inner space\t "),
            ("x-b", "  "),
        ],
    );
    assert_eq!(outcome.value(":authority"), "svc");
    assert_eq!(outcome.value("x-a"), "value with  inner space");
    assert_eq!(outcome.value("x-b"), "");
    assert_eq!(counter(&host, "normalized", "header_whitespace"), Some(1));
    let off = common::host(r#"{"trim_whitespace": false}"#);
    let outcome = send(&off, &[(":path", "/"), ("x-a", " v ")]);
    assert_eq!(outcome.value("x-a"), " v ");
    let outcome = send(&off, &[(":path", "/"), (":authority", " svc")]);
    assert_eq!(outcome, rejected(400, "invalid_authority"));
}

// ---- Renames -------------------------------------------------------------------------------

#[test]
fn legacy_names_are_renamed() {
    let host = host(
        r#"{"renames": [{"from": "X_User_Id", "to": "x-user-id"},
                        {"from": "x-userid", "to": "x-user-id"},
                        {"from": "x-auth", "to": "authorization"}]}"#,
    );
    let outcome = send(
        &host,
        &get("/", &[("x_user_id", " 42 "), ("x-auth", "Bearer t")]),
    );
    assert_eq!(outcome.value("x-user-id"), "42");
    assert_eq!(outcome.values("x_user_id"), Vec::<&str>::new());
    assert_eq!(outcome.value("authorization"), "Bearer t");
    assert_eq!(outcome.values("x-auth"), Vec::<&str>::new());
    assert_eq!(counter(&host, "normalized", "renamed_header"), Some(1));
    assert_eq!(counter(&host, "normalized", "underscore_header"), None);

    // The canonical header wins over legacy spellings.
    let outcome = send(
        &host,
        &get(
            "/",
            &[("x-userid", "1"), ("x-user-id", "2"), ("x_user_id", "3")],
        ),
    );
    assert_eq!(outcome.values("x-user-id"), vec!["2"]);
    // Several legacy values become the canonical header's values, in order.
    let outcome = send(&host, &get("/", &[("x-userid", "1"), ("x_user_id", "2")]));
    assert_eq!(outcome.values("x-user-id"), vec!["1", "2"]);
    // A renamed singleton is checked as the canonical header.
    let outcome = send(
        &host,
        &get("/", &[("x-auth", "Bearer a"), ("X-Auth", "Bearer b")]),
    );
    assert_eq!(outcome, rejected(400, "repeated_header"));
}

#[test]
fn a_rename_to_an_internal_name_is_still_internal() {
    let host = host(r#"{"renames": [{"from": "x-client-cert", "to": "x-forwarded-client-cert"}]}"#);
    let outcome = send(&host, &get("/", &[("x-client-cert", "By=forged")]));
    assert_eq!(
        outcome.values("x-forwarded-client-cert"),
        Vec::<&str>::new()
    );
    assert_eq!(outcome.values("x-client-cert"), Vec::<&str>::new());
}

// ---- Several rules at once, metrics, configuration ------------------------------------------

#[test]
fn each_rule_counts_once_per_request() {
    let host = host("{}");
    let outcome = send(
        &host,
        &[
            (":method", "GET"),
            (":authority", "SVC"),
            (":path", "/a/../b"),
            ("x_a", "1"),
            ("x_b", "2"),
            ("x-c", " 3 "),
            ("x-d", " 4 "),
        ],
    );
    assert_eq!(outcome.path(), "/b");
    assert_eq!(outcome.value(":authority"), "svc");
    for rule in [
        "path",
        "underscore_header",
        "header_whitespace",
        "authority_case",
    ] {
        assert_eq!(counter(&host, "normalized", rule), Some(1), "{rule}");
    }
}

#[test]
fn the_first_refusal_in_rule_order_is_reported() {
    let host = host(r#"{"underscores_in_names": "reject"}"#);
    let headers = [
        (":method", "BREW"),
        (":path", "/a%2fb"),
        ("x_a", "1"),
        (":authority", "a b"),
    ];
    assert_eq!(send(&host, &headers), rejected(400, "method_not_allowed"));
    assert_eq!(send(&host, &headers[1..]), rejected(400, "escaped_slash"));
    assert_eq!(
        send(&host, &headers[2..]),
        rejected(400, "underscore_header")
    );
    assert_eq!(
        send(&host, &headers[3..]),
        rejected(400, "invalid_authority")
    );
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    let cases = [
        (
            r#"{"path": {"escaped_slashes": "drop"}}"#,
            "config.path.escaped_slashes",
        ),
        (
            r#"{"allowed_methods": ["GET", "BAD METHOD"]}"#,
            "config.allowed_methods[1]",
        ),
        (
            r#"{"internal_headers": ["x-*-*"]}"#,
            "config.internal_headers[0]",
        ),
        (
            r#"{"trusted_callers": [{"source_cidrs": ["10.0.0.1/8"]}]}"#,
            "config.trusted_callers[0].source_cidrs[0]",
        ),
        (
            r#"{"renames": [{"from": "a", "to": "te"}]}"#,
            "config.renames[0].to",
        ),
        (r#"{"max_headers": -1}"#, "config.max_headers"),
        (r#"{"strip_hop_by_hop": "yes"}"#, "config.strip_hop_by_hop"),
    ];
    for (json, path) in cases {
        let host = Host::of::<HeaderNormalization>();
        assert!(!host.configure(json), "{json}");
        let needle = format!("header-normalization: {path}: ");
        assert!(
            host.logged(LogLevel::Critical, &needle),
            "{json}: {:?}",
            host.logs()
        );
    }
}
