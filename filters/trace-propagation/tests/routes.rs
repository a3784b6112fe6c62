//! trace-propagation's `routes` section, driven through the proxy-wasm dispatcher by the
//! host emulator: routes of one listener with their own trust boundary, sampling,
//! baggage and response header; the listener's settings for every other request; and
//! refused entries naming their JSON path.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use trace_propagation::TracePropagation;
use wasmesh_testing::{Action, Host, HttpStream, LogLevel};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A gateway: callers inside the mesh are trusted; the `public` route serves outside
/// clients (a new trace, their context kept as the `edge` tracestate entry, no baggage, no
/// trace id in the response), and health checks are never sampled.
const GATEWAY: &str = r#"{
  "inject": ["w3c"],
  "response_trace_id_header": "x-trace-id",
  "routes": [
    {"match": {"route_name": "public"},
     "trust_boundary": "restart", "restart_tracestate_key": "edge",
     "sampling": {"probability": 0, "trust_incoming": false},
     "baggage": false, "response_trace_id_header": null},
    {"match": {"path_prefix": "/healthz"},
     "sampling": {"probability": 0, "trust_incoming": false}}
  ]
}"#;

fn host(config: &str) -> Host {
    let host = Host::of::<TracePropagation>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host
}

/// Sends `GET path` on a new stream of Envoy route `route` (none: no route name), with a
/// valid `traceparent`, `tracestate` and `baggage`.
fn send(host: &Host, route: Option<&str>, path: &str) -> HttpStream {
    let stream = host.stream();
    if let Some(route) = route {
        stream.set_property(&["xds", "route_name"], route);
    }
    let headers = [
        (":method", "GET"),
        (":path", path),
        (":authority", "gateway"),
        ("traceparent", VALID),
        ("tracestate", "caller=1"),
        ("baggage", "user=alice"),
    ];
    assert_eq!(stream.send_request_headers(&headers), Action::Continue);
    assert_eq!(stream.local_reply(), None);
    stream
}

/// The one `traceparent` sent upstream, as (trace id, parent id, flags).
fn sent(stream: &HttpStream) -> (String, String, String) {
    let values = stream.request_header_values("traceparent");
    assert_eq!(values.len(), 1, "exactly one traceparent: {values:?}");
    let fields: Vec<&str> = values[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{values:?}");
    assert_eq!(fields[0], "00", "{values:?}");
    (fields[1].into(), fields[2].into(), fields[3].into())
}

fn requests(host: &Host, context: &str, sampled: &str) -> Option<u64> {
    host.counter(&Host::stat_name(
        "wasmesh_trace_propagation_requests_total",
        &[
            ("context", context),
            ("format", "w3c"),
            ("sampled", sampled),
        ],
    ))
}

#[test]
fn two_routes_of_one_listener_get_their_own_trust_boundary_and_sampling() {
    let host = host(GATEWAY);

    // Route `api` (no entry matches it): the listener's settings continue the trace.
    let api = send(&host, Some("api"), "/api/items");
    let (trace_id, parent, flags) = sent(&api);
    assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(parent, PARENT);
    assert_eq!(api.request_header_values("tracestate"), ["caller=1"]);
    assert_eq!(api.request_header_values("baggage"), ["user=alice"]);

    // Route `public`: a new trace, not sampled whatever the client asked, the client's
    // context kept only as the `edge` entry, its baggage removed.
    let public = send(&host, Some("public"), "/api/items");
    let (trace_id, _, flags) = sent(&public);
    assert_ne!(trace_id, TRACE);
    assert_eq!(flags, "02", "random, not sampled");
    assert_eq!(
        public.request_header_values("tracestate"),
        [format!("edge={VALID}")]
    );
    assert!(public.request_header_values("baggage").is_empty());

    // `/healthz` on any route: continued, never sampled.
    let health = send(&host, Some("api"), "/healthz");
    assert_eq!(sent(&health).0, TRACE);
    assert_eq!(sent(&health).2, "00");

    assert_eq!(requests(&host, "continued", "true"), Some(1));
    assert_eq!(requests(&host, "restarted", "false"), Some(1));
    assert_eq!(requests(&host, "continued", "false"), Some(1));
}

#[test]
fn requests_no_entry_matches_get_the_listeners_settings() {
    let host = host(GATEWAY);
    for (route, path) in [
        (None, "/"),
        (Some("api"), "/healthzz"),
        (Some("publicity"), "/x"),
    ] {
        let stream = send(&host, route, path);
        let (trace_id, _, flags) = sent(&stream);
        assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "01"), "{path}");
        assert_eq!(stream.request_header_values("baggage"), ["user=alice"]);
    }
    assert_eq!(requests(&host, "continued", "true"), Some(3));
}

#[test]
fn the_response_uses_the_route_the_request_got_without_reading_it_again() {
    let host = host(GATEWAY);
    host.take_property_reads();

    let api = send(&host, Some("api"), "/api");
    assert_eq!(host.take_property_reads(), ["xds.route_name"]);
    api.send_response_headers(&[(":status", "200")]);
    assert_eq!(api.response_header("x-trace-id").as_deref(), Some(TRACE));

    // The `public` entry writes `"response_trace_id_header": null`: no trace id echoed.
    let public = send(&host, Some("public"), "/api");
    assert_eq!(host.take_property_reads(), ["xds.route_name"]);
    public.send_response_headers(&[(":status", "200"), ("x-trace-id", "upstream")]);
    assert!(host.take_property_reads().is_empty());
    assert_eq!(
        public.response_header("x-trace-id").as_deref(),
        Some("upstream")
    );
}

#[test]
fn without_routes_no_route_is_read() {
    let host = host(r#"{"response_trace_id_header": "x-trace-id"}"#);
    host.take_property_reads();
    let stream = send(&host, Some("public"), "/api");
    stream.send_response_headers(&[(":status", "200")]);
    assert!(host.take_property_reads().is_empty());
    assert_eq!(sent(&stream).0, TRACE);
}

#[test]
fn a_path_prefix_entry_reads_no_route_name() {
    let host =
        host(r#"{"routes": [{"match": {"path_prefix": "/public"}, "trust_boundary": "restart"}]}"#);
    host.take_property_reads();
    assert_ne!(sent(&send(&host, Some("x"), "/public/page")).0, TRACE);
    assert_eq!(sent(&send(&host, Some("x"), "/api")).0, TRACE);
    assert!(host.take_property_reads().is_empty());
}

#[test]
fn an_entry_keeps_the_fields_it_does_not_name() {
    // The listener restarts with a key and distrusts decisions; the `internal` entry
    // continues (clearing the key it does not use) and only changes `trust_boundary`,
    // so its sampling stays the listener's: probability 0, incoming decisions ignored.
    let host = host(
        r#"{"trust_boundary": "restart", "restart_tracestate_key": "edge",
            "sampling": {"probability": 0, "trust_incoming": false},
            "routes": [{"match": {"route_name": "internal"},
                        "trust_boundary": "continue", "restart_tracestate_key": null}]}"#,
    );
    let internal = send(&host, Some("internal"), "/");
    assert_eq!(sent(&internal).0, TRACE);
    assert_eq!(sent(&internal).2, "00", "the listener's sampling");
    assert_eq!(internal.request_header_values("tracestate"), ["caller=1"]);
    let outside = send(&host, Some("web"), "/");
    assert_ne!(sent(&outside).0, TRACE);
    assert_eq!(
        outside.request_header_values("tracestate"),
        [format!("edge={VALID}")]
    );
}

#[test]
fn a_route_may_trust_incoming_decisions_the_listener_distrusts_when_it_says_so() {
    let host = host(
        r#"{"sampling": {"probability": 0, "trust_incoming": false},
            "routes": [{"match": {"route_name": "mesh"},
                        "sampling": {"probability": 0.5, "trust_incoming": true}}]}"#,
    );
    assert_eq!(sent(&send(&host, Some("mesh"), "/")).2, "01");
    assert_eq!(sent(&send(&host, Some("web"), "/")).2, "00");
}

#[test]
fn bad_entries_are_refused_with_their_json_path() {
    for (config, expected) in [
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "trust_boundary": "restart"},
                           {"match": {"path_prefix": "/b"}, "sampling": {"probability": 1.5}}]}"#,
            "trace-propagation: config.routes[1].sampling.probability: must be between 0.0 and 1.0",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "inject": ["w3c", "b3", "w3c"]}]}"#,
            "trace-propagation: config.routes[0].inject[2]: format listed twice",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "trust_boundary": "maybe"}]}"#,
            "trace-propagation: config.routes[0].trust_boundary: unknown value",
        ),
        (
            r#"{"routes": [{"match": {"route_name": "a"}, "sampler": {}}]}"#,
            "trace-propagation: config.routes[0].sampler: unknown field `sampler`",
        ),
        (
            r#"{"routes": [{"match": {"path_prefix": "public"}, "baggage": false}]}"#,
            "trace-propagation: config.routes[0].match.path_prefix: must start with `/`",
        ),
        (
            r#"{"routes": [{"trust_boundary": "restart"}]}"#,
            "trace-propagation: config.routes[0]: missing field `match`",
        ),
        // A key inherited from a restarting listener, on an entry that continues.
        (
            r#"{"trust_boundary": "restart", "restart_tracestate_key": "edge",
                "routes": [{"match": {"route_name": "a"}, "trust_boundary": "continue"}]}"#,
            "trace-propagation: config.routes[0].restart_tracestate_key: only used with",
        ),
        // An entry's `sampling` replaces the listener's whole: it would trust incoming
        // decisions by default where the listener distrusts them.
        (
            r#"{"sampling": {"probability": 0.1, "trust_incoming": false},
                "routes": [{"match": {"route_name": "a"}, "sampling": {"probability": 0.01}}]}"#,
            "trace-propagation: config.routes[0].sampling: the listener does not trust incoming \
             sampling decisions",
        ),
    ] {
        let host = Host::of::<TracePropagation>();
        assert!(!host.configure(config), "accepted {config}");
        let critical: Vec<_> = host
            .logs()
            .into_iter()
            .filter(|l| l.level == LogLevel::Critical)
            .collect();
        assert_eq!(critical.len(), 1, "{:?}", host.logs());
        assert!(
            critical[0].message.starts_with(expected),
            "{:?} does not start with {expected:?}",
            critical[0].message
        );
    }
}
