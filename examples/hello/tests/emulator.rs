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
