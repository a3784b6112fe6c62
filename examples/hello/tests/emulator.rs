//! hello, driven through the proxy-wasm dispatcher by the host emulator.

use hello::Hello;
use wasmesh_testing::{Action, Host, LogLevel};

fn host(config: &str) -> Host {
    let host = Host::of::<Hello>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host
}

const GET_API: &[(&str, &str)] = &[(":method", "GET"), (":path", "/api"), (":authority", "svc")];

#[test]
fn adds_the_greeting_header_and_counts() {
    let host = host(r#"{"greeting": "hi"}"#);
    let stream = host.stream();
    assert_eq!(stream.send_request_headers(GET_API), Action::Continue);
    assert_eq!(stream.request_header("x-hello").as_deref(), Some("hi"));
    assert_eq!(stream.local_reply(), None);
    stream.finish();
    let forwarded = Host::stat_name("wasmesh_hello_requests_total", &[("outcome", "forwarded")]);
    assert_eq!(host.counter(&forwarded), Some(1));
}

#[test]
fn a_client_supplied_greeting_is_replaced_not_joined() {
    let host = host(r#"{"greeting": "hi"}"#);
    let stream = host.stream();
    let mut headers = GET_API.to_vec();
    headers.extend([("x-hello", "forged"), ("x-hello", "again")]);
    stream.send_request_headers(&headers);
    assert_eq!(stream.request_header_values("x-hello"), vec!["hi"]);
}

#[test]
fn answers_the_reply_path_itself() {
    let host = host(r#"{"greeting": "hi", "reply_path": "/hello"}"#);
    let stream = host.stream();
    let action = stream.send_request_headers(&[(":method", "GET"), (":path", "/hello")]);
    assert_eq!(action, Action::Pause);
    let reply = stream.local_reply().expect("local reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), serde_json::json!({"greeting": "hi"}));
    stream.finish();
    let replied = Host::stat_name("wasmesh_hello_requests_total", &[("outcome", "replied")]);
    assert_eq!(host.counter(&replied), Some(1));
}

#[test]
fn counts_every_request() {
    let host = host(r#"{"greeting": "hi", "reply_path": "/hello"}"#);
    for path in ["/a", "/hello", "/b", "/hello", "/hello"] {
        host.stream()
            .send_request_headers(&[(":method", "GET"), (":path", path)]);
    }
    let name = |outcome| Host::stat_name("wasmesh_hello_requests_total", &[("outcome", outcome)]);
    assert_eq!(host.counter(&name("forwarded")), Some(2));
    assert_eq!(host.counter(&name("replied")), Some(3));
}

#[test]
fn a_bad_config_is_refused_with_one_line_naming_the_field() {
    let host = Host::of::<Hello>();
    assert!(!host.configure(r#"{"greeting": 42}"#));
    let critical: Vec<_> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Critical)
        .collect();
    assert_eq!(critical.len(), 1);
    assert_eq!(
        critical[0].message,
        "hello: config.greeting: expected a string, found 42"
    );
}

#[test]
fn compile_errors_name_the_field_too() {
    let host = Host::of::<Hello>();
    assert!(!host.configure(r#"{"greeting": "hi", "reply_path": "hello"}"#));
    assert!(host.logged(
        LogLevel::Critical,
        r#"hello: config.reply_path: must start with `/`, found "hello""#
    ));
}

#[test]
fn unknown_fields_and_empty_config_are_refused() {
    let host = Host::of::<Hello>();
    assert!(!host.configure(r#"{"greeting": "hi", "greting": "x"}"#));
    assert!(host.logged(LogLevel::Critical, "hello: config.greting: unknown field"));
    assert!(!host.configure(""));
    assert!(host.logged(
        LogLevel::Critical,
        "hello: config: the configuration is empty"
    ));
}

const ROUTED: &str = r#"{"greeting": "hi", "routes": [
    {"match": {"route_name": "admin"}, "greeting": "admin"},
    {"match": {"virtual_host": "internal", "path_prefix": "/ops"}, "greeting": "ops"},
    {"match": {"host": "*.example.com"}, "reply_path": "/hello"}
]}"#;

/// The greeting the request got, and the property paths read for it.
fn greeting_for(
    host: &Host,
    route: Option<&str>,
    vhost: Option<&str>,
    headers: &[(&str, &str)],
) -> (Option<String>, Vec<String>) {
    let stream = host.stream();
    if let Some(route) = route {
        stream.set_property(&["xds", "route_name"], route);
    }
    if let Some(vhost) = vhost {
        stream.set_property(&["xds", "virtual_host_name"], vhost);
    }
    host.take_property_reads();
    stream.send_request_headers(headers);
    let reads = host.take_property_reads();
    (stream.request_header("x-hello"), reads)
}

#[test]
fn routes_override_fields_first_match_wins() {
    let host = host(ROUTED);
    let get = |path| [(":method", "GET"), (":path", path), (":authority", "svc")];
    let (greeting, reads) = greeting_for(&host, Some("admin"), Some("internal"), &get("/ops"));
    assert_eq!(greeting.as_deref(), Some("admin"));
    assert_eq!(reads, vec!["xds.route_name"]);
    let (greeting, reads) = greeting_for(&host, Some("other"), Some("internal"), &get("/ops/x"));
    assert_eq!(greeting.as_deref(), Some("ops"));
    assert_eq!(reads, vec!["xds.route_name", "xds.virtual_host_name"]);
    let (greeting, _) = greeting_for(&host, Some("other"), Some("internal"), &get("/opsx"));
    assert_eq!(greeting.as_deref(), Some("hi"));
    let (greeting, _) = greeting_for(&host, None, None, &get("/ops"));
    assert_eq!(greeting.as_deref(), Some("hi"));
}

#[test]
fn a_route_entry_keeps_the_fields_it_does_not_name() {
    let host = host(ROUTED);
    let stream = host.stream();
    let action = stream.send_request_headers(&[
        (":method", "GET"),
        (":path", "/hello"),
        (":authority", "API.example.com:8443"),
    ]);
    assert_eq!(action, Action::Pause);
    let reply = stream.local_reply().expect("local reply");
    assert_eq!(reply.json(), serde_json::json!({"greeting": "hi"}));
}

#[test]
fn without_routes_no_route_is_read() {
    let host = host(r#"{"greeting": "hi"}"#);
    let (greeting, reads) = greeting_for(&host, Some("admin"), None, GET_API);
    assert_eq!(greeting.as_deref(), Some("hi"));
    assert!(reads.is_empty(), "{reads:?}");
}

#[test]
fn a_bad_route_entry_is_refused_with_its_path() {
    for (config, expected) in [
        (
            r#"{"greeting": "hi", "routes": [{"match": {"route_name": "a"}, "reply_path": "x"}]}"#,
            "hello: config.routes[0].reply_path: must start with `/`",
        ),
        (
            r#"{"greeting": "hi", "routes": [{"match": {}, "greeting": "x"}]}"#,
            "hello: config.routes[0].match: needs at least one of",
        ),
        (
            r#"{"greeting": "hi", "routes": [{"match": {"route_name": "a"}, "greting": "x"}]}"#,
            "hello: config.routes[0].greting: unknown field `greting`",
        ),
        (
            r#"{"greeting": "hi", "routes": {"a": 1}}"#,
            "hello: config.routes: expected an array",
        ),
    ] {
        let host = Host::of::<Hello>();
        assert!(!host.configure(config), "accepted {config}");
        assert!(
            host.logged(LogLevel::Critical, expected),
            "{:?}",
            host.logs()
        );
    }
}
