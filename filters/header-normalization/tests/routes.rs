//! Per-route configuration (`routes`), through the proxy-wasm dispatcher in the host
//! emulator: entries chosen by Envoy's route name or the request path, the listener's
//! configuration for the rest, and entries refused where they would be weaker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{counter, get, host, outcome, Outcome};
use header_normalization::HeaderNormalization;
use wasmesh_testing::{Host, LogLevel};

/// The listener's defaults, an `admin` route that is stricter about underscores,
/// methods and header count, and an `/uploads` prefix that also refuses `;params`
/// rather than keep them.
const ROUTED: &str = r#"{
    "singleton_headers": ["x-tenant"],
    "routes": [
        {"match": {"route_name": "admin"},
         "underscores_in_names": "reject",
         "allowed_methods": ["GET", "HEAD"],
         "max_headers": 4},
        {"match": {"path_prefix": "/uploads"},
         "path": {"path_params": "strip"},
         "max_header_bytes": 1024}
    ]
}"#;

/// Sends `headers` on a new stream whose Envoy route is `route` (if any); returns the
/// outcome and the properties read for it.
fn send_on(host: &Host, route: Option<&str>, headers: &[(&str, &str)]) -> (Outcome, Vec<String>) {
    let stream = host.stream();
    if let Some(route) = route {
        stream.set_property(&["xds", "route_name"], route);
    }
    host.take_property_reads();
    let action = stream.send_request_headers(headers);
    let reads = host.take_property_reads();
    (outcome(&stream, action), reads)
}

fn rejected(status: u16, rule: &str) -> Outcome {
    Outcome::Rejected(status, rule.to_owned())
}

#[test]
fn two_routes_treat_the_same_request_differently() {
    let host = host(ROUTED);
    let underscored = get("/users", &[("x_user", "admin")]);
    let (api, reads) = send_on(&host, Some("api"), &underscored);
    assert_eq!(api.values("x_user"), Vec::<&str>::new(), "dropped on api");
    assert_eq!(reads, vec!["xds.route_name"]);
    let (admin, _) = send_on(&host, Some("admin"), &underscored);
    assert_eq!(admin, rejected(400, "underscore_header"));

    let delete = [(":method", "DELETE"), (":path", "/users/1")];
    assert!(matches!(
        send_on(&host, Some("api"), &delete).0,
        Outcome::Forwarded(_)
    ));
    assert_eq!(
        send_on(&host, Some("admin"), &delete).0,
        rejected(400, "method_not_allowed")
    );

    let five = get(
        "/",
        &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")],
    );
    assert!(matches!(
        send_on(&host, Some("api"), &five).0,
        Outcome::Forwarded(_)
    ));
    assert_eq!(
        send_on(&host, Some("admin"), &five).0,
        rejected(431, "header_count")
    );
    assert_eq!(counter(&host, "rejected", "underscore_header"), Some(1));
    assert_eq!(counter(&host, "normalized", "underscore_header"), Some(1));
}

#[test]
fn a_path_prefix_entry_changes_the_options_below_it() {
    let host = host(ROUTED);
    let (uploads, _) = send_on(&host, None, &get("/uploads/a;v=2/b", &[]));
    assert_eq!(uploads.path(), "/uploads/a/b");
    let (other, _) = send_on(&host, None, &get("/files/a;v=2/b", &[]));
    assert_eq!(other.path(), "/files/a;v=2/b");
    // A prefix matches whole segments: /uploadsx gets the listener's options.
    let (near, _) = send_on(&host, None, &get("/uploadsx/a;v=2", &[]));
    assert_eq!(near.path(), "/uploadsx/a;v=2");
    let big = "v".repeat(1100);
    let (refused, _) = send_on(&host, None, &get("/uploads/x", &[("x-big", &big)]));
    assert_eq!(refused, rejected(431, "header_bytes"));
    assert!(matches!(
        send_on(&host, None, &get("/files/x", &[("x-big", &big)])).0,
        Outcome::Forwarded(_)
    ));
}

#[test]
fn unmatched_requests_get_the_listeners_configuration() {
    let host = host(ROUTED);
    for route in [None, Some("api"), Some("admin-v2")] {
        let (outcome, _) = send_on(&host, route, &get("/a/./b", &[("x_user", "1")]));
        assert_eq!(outcome.path(), "/a/b", "{route:?}");
        assert_eq!(outcome.values("x_user"), Vec::<&str>::new(), "{route:?}");
        // A field no entry overrides applies on every route.
        let (outcome, _) = send_on(
            &host,
            route,
            &get("/", &[("x-tenant", "a"), ("x-tenant", "b")]),
        );
        assert_eq!(outcome, rejected(400, "repeated_header"), "{route:?}");
    }
    // An entry keeps the listener's fields it does not name.
    let (outcome, _) = send_on(
        &host,
        Some("admin"),
        &get("/", &[("x-tenant", "a"), ("x-tenant", "b")]),
    );
    assert_eq!(outcome, rejected(400, "repeated_header"));
}

#[test]
fn the_entry_is_chosen_from_the_request_as_sent() {
    // The entry is chosen before the path is made canonical: /files/../uploads/a;v=2 is
    // not under /uploads as sent, so it gets the listener's options (and Envoy then
    // routes its canonical path). Never weaker than the listener's, whatever entry.
    let host = host(ROUTED);
    let (outcome, _) = send_on(&host, None, &get("/files/../uploads/a;v=2", &[]));
    assert_eq!(outcome.path(), "/uploads/a;v=2");
    let (outcome, _) = send_on(&host, None, &get("/uploads/../files/a;v=2", &[]));
    assert_eq!(outcome.path(), "/files/a");
}

#[test]
fn without_routes_nothing_more_is_read() {
    let host = host(r#"{"underscores_in_names": "reject"}"#);
    let headers = get("/a/./b", &[("x-a", "1")]);
    let (outcome, reads) = send_on(&host, Some("admin"), &headers);
    assert_eq!(outcome.path(), "/a/b");
    assert!(reads.is_empty(), "{reads:?}");
    // A prefix-only configuration reads no property either: the path is in the headers
    // the filter reads anyway.
    let host =
        common::host(r#"{"routes": [{"match": {"path_prefix": "/admin"}, "max_headers": 10}]}"#);
    let (_, reads) = send_on(&host, Some("admin"), &headers);
    assert!(reads.is_empty(), "{reads:?}");
}

fn refused(config: &str) -> Host {
    let host = Host::of::<HeaderNormalization>();
    assert!(!host.configure(config), "accepted {config}");
    host
}

#[test]
fn a_weaker_entry_is_refused_naming_the_option() {
    let cases = [
        (
            r#"{"routes": [{"match": {"route_name": "legacy"}, "underscores_in_names": "allow"}]}"#,
            "header-normalization: config.routes[0].underscores_in_names: `allow` is weaker than \
             the listener's `drop`; a route may only be stricter, unless the listener sets \
             `allow_weaker_routes`",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "max_headers": 10},
                           {"match": {"path_prefix": "/legacy"},
                            "path": {"merge_slashes": false}}]}"#,
            "header-normalization: config.routes[1].path.merge_slashes: `false` is weaker than \
             the listener's `true`",
        ),
        (
            r#"{"path": {"lowercase": true},
                "routes": [{"match": {"route_name": "a"}, "path": {"path_params": "strip"}}]}"#,
            "header-normalization: config.routes[0].path.lowercase: `false` is weaker than the \
             listener's `true`",
        ),
        (
            r#"{"allowed_methods": ["GET", "POST"],
                "routes": [{"match": {"route_name": "a"}, "allowed_methods": ["GET", "PROPFIND"]}]}"#,
            "header-normalization: config.routes[0].allowed_methods[1]: `PROPFIND` is not in the \
             listener's allowed_methods",
        ),
        (
            r#"{"max_header_bytes": 8192,
                "routes": [{"match": {"route_name": "a"}, "max_header_bytes": 0}]}"#,
            "header-normalization: config.routes[0].max_header_bytes: `0` (no limit) is weaker \
             than the listener's `8192`",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "internal_headers": ["x-envoy-*"]}]}"#,
            "header-normalization: config.routes[0].internal_headers: leaves out \
             `x-forwarded-client-cert`, an internal header on the listener",
        ),
    ];
    for (config, expected) in cases {
        let host = refused(config);
        assert!(
            host.logged(LogLevel::Critical, expected),
            "{:?}",
            host.logs()
        );
    }
}

#[test]
fn listener_only_fields_and_bad_entries_are_refused() {
    for (config, expected) in [
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "authority": {"lowercase": false}}]}"#,
            "header-normalization: config.routes[0].authority: unknown field `authority`",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "trusted_callers": [{"mtls": true}]}]}"#,
            "header-normalization: config.routes[0].trusted_callers: unknown field",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "allow_weaker_routes": true}]}"#,
            "header-normalization: config.routes[0].allow_weaker_routes: unknown field",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "path": {"fragment": "drop"}}]}"#,
            "header-normalization: config.routes[0].path.fragment: unknown value `drop`",
        ),
        (
            r#"{"routes": [{"match": {"path_prefix": "admin"}, "max_headers": 1}]}"#,
            "header-normalization: config.routes[0].match.path_prefix: must start with `/`",
        ),
        (
            r#"{"allow_weaker_routes": "yes"}"#,
            r#"header-normalization: config.allow_weaker_routes: expected a boolean, found "yes""#,
        ),
    ] {
        let host = refused(config);
        assert!(
            host.logged(LogLevel::Critical, expected),
            "{:?}",
            host.logs()
        );
    }
}

#[test]
fn allow_weaker_routes_lets_an_entry_relax_an_option() {
    let host = host(
        r#"{"allow_weaker_routes": true,
            "routes": [{"match": {"route_name": "legacy"},
                        "underscores_in_names": "allow",
                        "path": {"escaped_slashes": "keep"}}]}"#,
    );
    let request = get("/a%2fb", &[("x_user", "1")]);
    let (legacy, _) = send_on(&host, Some("legacy"), &request);
    assert_eq!(legacy.path(), "/a%2Fb");
    assert_eq!(legacy.value("x_user"), "1");
    let (api, _) = send_on(&host, Some("api"), &request);
    assert_eq!(api, rejected(400, "escaped_slash"));
}
