//! plain-access-control, driven through the proxy-wasm dispatcher by the host
//! emulator, with the benchmark's policy (bench/variants.toml).

use wasmesh_testing::{Action, Exports, Host, Module, BENCHMARK_ACCESS_POLICY};

const POLICY: &str = BENCHMARK_ACCESS_POLICY;

const TRUSTED: &str = "127.0.0.1:5000";
const UNTRUSTED: &str = "10.0.0.7:5000";

/// The module: a plain proxy-wasm crate, without the `wasmesh.hooks` section, so its build
/// keeps every export.
fn module() -> Module {
    Module::new(
        "plain-access-control",
        plain_access_control::register,
        Exports::All,
    )
}

fn host() -> Host {
    let host = Host::load(module());
    assert!(host.configure(POLICY), "config refused: {:?}", host.logs());
    host
}

fn counter(host: &Host, decision: &str) -> Option<u64> {
    let name = Host::stat_name(
        "wasmesh_plain_access_control_requests_total",
        &[("decision", decision)],
    );
    host.counter(&name)
}

/// One request from `peer` with this caller, method and path: the action and the stream.
fn send(
    host: &Host,
    peer: &str,
    caller: &str,
    method: &str,
    path: &str,
) -> (Action, wasmesh_testing::HttpStream) {
    let stream = host.stream();
    stream.set_property(&["source", "address"], peer);
    let action = stream.send_request_headers(&[
        (":method", method),
        (":path", path),
        (":authority", "orders"),
        ("x-service-name", caller),
    ]);
    (action, stream)
}

fn assert_allowed(host: &Host, caller: &str, method: &str, path: &str) {
    let (action, stream) = send(host, TRUSTED, caller, method, path);
    assert_eq!(action, Action::Continue, "{caller} {method} {path}");
    assert_eq!(stream.local_reply(), None);
    assert_eq!(stream.request_header("x-service-name"), None);
    assert_eq!(
        stream.request_header("x-wasmesh-caller").as_deref(),
        Some(caller)
    );
    stream.finish();
}

fn assert_denied(host: &Host, peer: &str, caller: &str, method: &str, path: &str) {
    let (action, stream) = send(host, peer, caller, method, path);
    assert_eq!(action, Action::Pause, "{caller} {method} {path}");
    let reply = stream.local_reply();
    assert_eq!(reply.as_ref().map(|r| r.status), Some(403));
    let content_type = reply.as_ref().and_then(|r| r.header("content-type"));
    assert_eq!(content_type, Some("application/json"));
    let body = serde_json::json!({"error": "forbidden", "rule": "default"});
    assert_eq!(reply.map(|r| r.json()), Some(body));
    stream.finish();
}

#[test]
fn orders_read_allows_frontend_reads_below_the_prefix() {
    let host = host();
    assert_allowed(&host, "frontend", "GET", "/api/v1/orders/1?expand=x");
    assert_allowed(&host, "frontend", "HEAD", "/api/v1/orders");
    assert_eq!(counter(&host, "allowed"), Some(2));
    assert_eq!(counter(&host, "denied"), Some(0));
}

#[test]
fn orders_read_denies_other_callers_methods_and_paths() {
    let host = host();
    assert_denied(&host, TRUSTED, "intruder", "GET", "/api/v1/orders/12345");
    assert_denied(&host, TRUSTED, "frontend", "POST", "/api/v1/orders/12345");
    assert_denied(&host, TRUSTED, "frontend", "GET", "/api/v1/ordersx");
    assert_denied(&host, TRUSTED, "frontend", "GET", "/admin?/api/v1/orders");
    assert_eq!(counter(&host, "denied"), Some(4));
    assert_eq!(counter(&host, "allowed"), Some(0));
}

#[test]
fn orders_write_allows_checkout_posts_to_the_exact_path_only() {
    let host = host();
    assert_allowed(&host, "checkout", "POST", "/api/v1/orders?dry_run=1");
    assert_denied(&host, TRUSTED, "checkout", "POST", "/api/v1/orders/7");
    assert_denied(&host, TRUSTED, "checkout", "GET", "/api/v1/orders");
    assert_eq!(counter(&host, "allowed"), Some(1));
    assert_eq!(counter(&host, "denied"), Some(2));
}

#[test]
fn the_caller_header_counts_only_from_trusted_addresses() {
    let host = host();
    assert_denied(&host, UNTRUSTED, "frontend", "GET", "/api/v1/orders/1");
    assert_denied(&host, UNTRUSTED, "checkout", "POST", "/api/v1/orders");
    assert_eq!(counter(&host, "denied"), Some(2));
}

#[test]
fn a_bad_configuration_is_refused() {
    let host = Host::load(module());
    assert!(!host.configure(r#"{"rules": []}"#));
    let bad_cidr = POLICY.replace("127.0.0.1/32", "127.0.0.1/33");
    assert!(!host.configure(&bad_cidr));
}
