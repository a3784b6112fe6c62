//! The `routes` section: a policy per Envoy route (or path prefix) on one listener, the
//! listener's policy for every other request, and the entries refused at configuration
//! time with their JSON path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use wasmesh_testing::{Action, Host};

/// The listener lets `frontend` use the orders API; Envoy's route `health` is open to
/// everyone, identified or not; route `admin` is for operators only, and answers 401;
/// `/static` may be read by any identified caller.
const ROUTED: &str = r#"{
  "identity": {"spiffe": {"trust_domains": ["example.org"]}},
  "roles": {"operators": ["backoffice"]},
  "rules": [
    {"name": "frontend-orders", "action": "allow", "callers": ["frontend"],
     "paths": [{"prefix": "/orders"}]}
  ],
  "routes": [
    {"match": {"route_name": "health"},
     "rules": [{"name": "health-anyone", "action": "allow", "methods": ["GET", "HEAD"]}]},
    {"match": {"route_name": "admin"},
     "rules": [{"name": "operators", "action": "allow", "callers": ["role:operators"]}],
     "deny_response": {"status": 401, "headers": {"cache-control": "no-store"}},
     "log_allowed": true},
    {"match": {"path_prefix": "/static"},
     "rules": [{"name": "static-reads", "action": "allow", "callers": ["*"],
                "methods": ["GET", "HEAD"]}]}
  ]
}"#;

/// `GET path` from `peer` on Envoy's route `route` (no route name when `None`): the
/// reply's status and rule (`None` when the request passed), and the stream.
fn on_route(
    host: &Host,
    route: Option<&str>,
    peer: Peer<'_>,
    path: &str,
) -> (Option<(u16, String)>, wasmesh_testing::HttpStream) {
    let stream = host.stream();
    if let Some(route) = route {
        stream.set_property(&["xds", "route_name"], route);
    }
    match peer {
        Peer::Mtls(san) => {
            stream.set_property(&["connection", "mtls"], true);
            stream.set_property(&["connection", "uri_san_peer_certificate"], san);
        }
        Peer::MtlsNoSan(_) | Peer::Plain(_) => {
            stream.set_property(&["connection", "mtls"], false);
        }
    }
    stream.set_property(&["source", "address"], "10.9.9.9:40000");
    let action = stream.send_request_headers(&[
        (":method", "GET"),
        (":path", path),
        (":authority", "orders.example.org"),
        (":scheme", "http"),
    ]);
    let reply = stream.local_reply();
    assert_eq!(action == Action::Pause, reply.is_some(), "{reply:?}");
    let denied = reply.map(|reply| {
        let rule = reply.json()["rule"].as_str().unwrap().to_owned();
        (reply.status, rule)
    });
    (denied, stream)
}

/// The rule that denied the request (`None`: it passed).
fn denied(host: &Host, route: Option<&str>, peer: Peer<'_>, path: &str) -> Option<String> {
    on_route(host, route, peer, path).0.map(|(_, rule)| rule)
}

const NOBODY: Peer<'static> = Peer::Plain("10.9.9.9:40000");

#[test]
fn two_routes_on_one_listener_get_their_own_policy() {
    let host = host(ROUTED);
    // Route `health`: anyone may read, a caller without a certificate too.
    assert_eq!(denied(&host, Some("health"), NOBODY, "/healthz"), None);
    // Route `admin`: operators only.
    assert_eq!(
        denied(&host, Some("admin"), Peer::Mtls(BACKOFFICE), "/admin/users"),
        None
    );
    let (reply, _) = on_route(&host, Some("admin"), Peer::Mtls(FRONTEND), "/admin/users");
    assert_eq!(reply, Some((401, "default".to_owned())));
    // The same callers on the same paths, on the listener's policy: the other way round.
    assert_eq!(
        denied(&host, Some("default"), NOBODY, "/healthz").as_deref(),
        Some("unlisted_endpoint")
    );
    assert_eq!(
        denied(&host, Some("default"), Peer::Mtls(BACKOFFICE), "/orders/7").as_deref(),
        Some("default")
    );
    assert_eq!(
        denied(&host, Some("default"), Peer::Mtls(FRONTEND), "/orders/7"),
        None
    );
    // On the health route the frontend's orders rule is not there.
    assert_eq!(
        denied(&host, Some("health"), Peer::Mtls(FRONTEND), "/orders/7"),
        None,
        "health-anyone allows every GET on its route"
    );
    // Counted in one family: the listener's counter and the entries' are the same stats.
    assert_eq!(
        count(&host, "allowed", "unidentified", "health-anyone"),
        Some(1)
    );
    assert_eq!(count(&host, "allowed", "backoffice", "operators"), Some(1));
    assert_eq!(count(&host, "denied", "frontend", "default"), Some(1));
}

#[test]
fn an_entry_keeps_the_listener_fields_it_does_not_name() {
    let host = host(ROUTED);
    // Route `admin` sets its own deny reply and `log_allowed`, and keeps the listener's
    // identity and roles: backoffice is an operator by the listener's `roles`.
    let (reply, stream) = on_route(&host, Some("admin"), Peer::Mtls(BACKOFFICE), "/admin");
    assert_eq!(reply, None);
    assert_eq!(
        stream.request_header("x-wasmesh-caller").as_deref(),
        Some("backoffice")
    );
    assert!(decision_lines(&host)
        .iter()
        .any(|l| l.contains("decision=allowed") && l.contains("rule=operators")));
    let (_, stream) = on_route(&host, Some("admin"), Peer::Mtls(INTRUDER), "/admin");
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // The listener's own deny reply is still 403, without the header.
    let (_, stream) = on_route(&host, None, Peer::Mtls(INTRUDER), "/admin");
    let reply = stream.local_reply().unwrap();
    assert_eq!((reply.status, reply.header("cache-control")), (403, None));
    // The listener logs no allowed request.
    let before = decision_lines(&host).len();
    assert_eq!(denied(&host, None, Peer::Mtls(FRONTEND), "/orders/7"), None);
    assert_eq!(decision_lines(&host).len(), before);
}

#[test]
fn requests_no_entry_matches_get_the_listener_policy() {
    let host = host(ROUTED);
    for route in [None, Some("default"), Some("Health"), Some("admin2")] {
        assert_eq!(denied(&host, route, Peer::Mtls(FRONTEND), "/orders"), None);
        assert_eq!(
            denied(&host, route, NOBODY, "/healthz").as_deref(),
            Some("unlisted_endpoint"),
            "{route:?}"
        );
    }
}

#[test]
fn path_prefix_entries_match_whole_segments_of_a_canonical_path() {
    let host = host(ROUTED);
    assert_eq!(
        denied(&host, None, Peer::Mtls(INTRUDER), "/static/app.js"),
        None
    );
    assert_eq!(denied(&host, None, Peer::Mtls(INTRUDER), "/static"), None);
    assert_eq!(
        denied(&host, None, Peer::Mtls(INTRUDER), "/staticfiles/x").as_deref(),
        Some("unlisted_endpoint")
    );
    // Unidentified callers are not `*`.
    assert_eq!(
        denied(&host, None, NOBODY, "/static/app.js").as_deref(),
        Some("default")
    );
}

#[test]
fn a_path_that_is_not_canonical_cannot_borrow_a_weaker_route() {
    // `/static/../admin` starts with `/static/` as received, and so gets the `/static`
    // entry; the application would read it as `/admin`. Paths are checked before the
    // rules on every route, and every route enforces: it is denied.
    let host = host(ROUTED);
    for path in [
        "/static/../admin",
        "/static/%2e%2e/admin",
        "/static//../admin",
        "/static/./../admin/users",
    ] {
        assert_eq!(
            denied(&host, None, Peer::Mtls(INTRUDER), path).as_deref(),
            Some("non_canonical_path"),
            "{path}"
        );
    }
    for path in ["/static/..;/admin", "/static/..%2fadmin"] {
        assert_eq!(
            denied(&host, None, Peer::Mtls(INTRUDER), path).as_deref(),
            Some("invalid_path"),
            "{path}"
        );
    }
    assert_eq!(
        denied(&host, None, Peer::Mtls(INTRUDER), "/static/..%20/admin").as_deref(),
        Some("ambiguous_path")
    );
}

#[test]
fn a_shadow_listener_can_enforce_route_by_route() {
    let host = host(
        r#"{"mode": "shadow",
            "identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}],
            "routes": [{"match": {"route_name": "orders"}, "mode": "enforce"}]}"#,
    );
    assert_eq!(
        denied(&host, Some("orders"), Peer::Mtls(INTRUDER), "/orders").as_deref(),
        Some("default")
    );
    assert_eq!(
        denied(&host, Some("other"), Peer::Mtls(INTRUDER), "/orders"),
        None
    );
    assert_eq!(count(&host, "denied", "intruder", "default"), Some(1));
    assert_eq!(
        count(&host, "shadow_denied", "intruder", "default"),
        Some(1)
    );
}

#[test]
fn an_entry_may_override_the_roles_alone() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "roles": {"writers": ["frontend"]},
            "rules": [{"name": "writers", "action": "allow", "callers": ["role:writers"]}],
            "routes": [{"match": {"route_name": "billing"}, "roles": {"writers": ["backoffice"]}}]}"#,
    );
    assert_eq!(denied(&host, None, Peer::Mtls(FRONTEND), "/x"), None);
    assert!(denied(&host, None, Peer::Mtls(BACKOFFICE), "/x").is_some());
    assert!(denied(&host, Some("billing"), Peer::Mtls(FRONTEND), "/x").is_some());
    assert_eq!(
        denied(&host, Some("billing"), Peer::Mtls(BACKOFFICE), "/x"),
        None
    );
}

#[test]
fn the_route_name_is_read_once_per_request_and_never_without_routes() {
    let host = host(ROUTED);
    host.take_property_reads();
    assert_eq!(denied(&host, Some("health"), NOBODY, "/healthz"), None);
    let reads = host.take_property_reads();
    assert_eq!(
        reads.iter().filter(|r| *r == "xds.route_name").count(),
        1,
        "{reads:?}"
    );

    let config = r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
        "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}]}"#;
    let host = common::host(config);
    host.take_property_reads();
    assert_eq!(
        denied(&host, Some("health"), Peer::Mtls(FRONTEND), "/healthz"),
        None
    );
    let reads = host.take_property_reads();
    assert!(!reads.iter().any(|r| r.starts_with("xds.")), "{reads:?}");
}

#[test]
fn bad_route_entries_are_refused_with_their_json_path() {
    let trust = r#""identity": {"spiffe": {"trust_domains": ["example.org"]}}"#;
    let with_routes = |routes: &str| format!(r#"{{{trust}, "rules": [], "routes": {routes}}}"#);
    for (routes, expected) in [
        (
            r#"[{"match": {"route_name": "a"}, "rules": []},
                {"match": {"route_name": "b"}, "rules": [{"name": "x", "action": "allow", "methods": ["FETCH"]}]}]"#,
            "access-control: config.routes[1].rules[0].methods[0]: unknown value `FETCH`",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "rules": [{"name": "x", "action": "allow", "callers": ["spiffe://evil.org/x"]}]}]"#,
            "access-control: config.routes[0].rules[0].callers[0]:",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "rules": [{"name": "x", "action": "allow", "callers": ["role:nobody"]}]}]"#,
            "access-control: config.routes[0].rules[0].callers[0]:",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "identity": {"sources": ["caller_header"]}}]"#,
            "access-control: config.routes[0].identity: unknown field `identity`, expected one of `match`, `mode`, `default_action`, `unlisted_endpoints`, `roles`, `rules`, `deny_response`, `log_allowed`",
        ),
        (
            r#"[{"match": {"path_prefix": "/a"}, "path": {"non_canonical": "normalize"}}]"#,
            "access-control: config.routes[0].path: unknown field `path`",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "mode": "shadow"}]"#,
            "access-control: config.routes[0].mode: a route cannot shadow an enforcing listener",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "default_action": "permit"}]"#,
            "access-control: config.routes[0].default_action: unknown value `permit`",
        ),
        (
            r#"[{"match": {"route_name": "a"}, "deny_response": {"status": 200}}]"#,
            "access-control: config.routes[0].deny_response.status:",
        ),
        (
            r#"[{"match": {"path_prefix": "admin"}, "rules": []}]"#,
            "access-control: config.routes[0].match.path_prefix: must start with `/`",
        ),
        (
            r#"[{"rules": []}]"#,
            "access-control: config.routes[0]: missing field `match`",
        ),
        (
            r#"{"health": {}}"#,
            "access-control: config.routes: expected an array",
        ),
    ] {
        let line = refusal(&with_routes(routes));
        assert!(line.starts_with(expected), "{line}\nexpected {expected}");
    }
}

#[test]
fn routes_are_refused_while_the_listener_normalizes_paths() {
    let line = refusal(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [], "path": {"non_canonical": "normalize"},
            "routes": [{"match": {"route_name": "a"}, "default_action": "allow"}]}"#,
    );
    assert!(
        line.starts_with(
            "access-control: config.routes[0]: a `routes` section needs the top-level \
             `path.non_canonical` to be `deny`"
        ),
        "{line}"
    );
    // Without `routes`, normalizing is as before.
    host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [], "path": {"non_canonical": "normalize"}, "routes": null}"#,
    );
}

#[test]
fn spellings_a_stricter_entry_misses_get_the_listener_rules() {
    // The `/admin` entry is matched exactly; the listener's deny rule reads leniently.
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "roles": {"operators": ["backoffice"]},
            "rules": [
              {"name": "no-admin", "action": "deny", "paths": [{"prefix": "/admin"}]},
              {"name": "everything-else", "action": "allow", "callers": ["*"]}
            ],
            "routes": [{"match": {"path_prefix": "/admin"},
                        "rules": [{"name": "operators", "action": "allow", "callers": ["role:operators"]}]}]}"#,
    );
    assert_eq!(
        denied(&host, None, Peer::Mtls(BACKOFFICE), "/admin/x"),
        None
    );
    assert_eq!(
        denied(&host, None, Peer::Mtls(FRONTEND), "/admin/x").as_deref(),
        Some("default")
    );
    for path in ["/ADMIN/x", "/admin;v=1/x", "/admin./x", "/Admin"] {
        assert_eq!(
            denied(&host, None, Peer::Mtls(FRONTEND), path).as_deref(),
            Some("no-admin"),
            "{path}"
        );
    }
    assert_eq!(denied(&host, None, Peer::Mtls(FRONTEND), "/orders"), None);
}
