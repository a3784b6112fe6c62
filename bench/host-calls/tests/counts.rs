//! The tool's counts, through the JSON interface bench.py uses. hello's are exact: a change
//! in the number of host calls it makes per request fails here and is updated consciously.

#![cfg(not(target_arch = "wasm32"))]
// The helpers below are test code too.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

use serde_json::{json, Value};
use wasmesh_bench_host_calls::{envoy_request_headers, run, Request};
use wasmesh_testing::{BENCHMARK_ACCESS_POLICY, BENCHMARK_REQUEST};

/// `[request]` of bench/variants.toml as a client sends it: the SDK's benchmark request
/// (as Envoy hands it to filters) with `:authority` as `host` and no other pseudo-header.
fn client_headers() -> Vec<(String, String)> {
    BENCHMARK_REQUEST
        .iter()
        .filter_map(|&(name, value)| match name {
            ":authority" => Some(("host", value)),
            _ if name.starts_with(':') => None,
            _ => Some((name, value)),
        })
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The request's path.
fn path() -> String {
    let (_, path) = BENCHMARK_REQUEST
        .iter()
        .find(|(name, _)| *name == ":path")
        .expect("the benchmark request has a path");
    (*path).to_owned()
}

/// The bundle's configuration as bench.py renders `[configs]` of bench/variants.toml.
fn bundle_config() -> String {
    let access_policy: Value =
        serde_json::from_str(BENCHMARK_ACCESS_POLICY).expect("the policy is JSON");
    json!({"chain": [
        {"name": "header-normalization", "config": {}},
        {"name": "access-control", "config": access_policy},
        {"name": "trace-propagation", "config":
            {"new_span_id": true, "inject": ["w3c", "b3"], "response_trace_id_header": "x-trace-id"}},
        {"name": "service-metrics", "config": {
            "direction": "inbound",
            "service": "orders",
            "trusted_source_header":
                {"name": "x-wasmesh-caller", "format": "service", "from_cidrs": ["127.0.0.1/32"]}
        }}
    ]})
    .to_string()
}

const HELLO_PROOF: &str = "wasmesh_hello_requests_total.outcome=.=forwarded;";
const BUNDLE_PROOFS: &[&str] = &[
    "wasmesh_access_control_requests_total.decision=.=allowed;.;.caller=.=frontend;",
    "wasmesh_trace_propagation_requests_total",
    "wasmesh_service_requests_total.reporter=.=destination;.;.source_service=.=frontend;",
];

fn filter(module: &str, config: &str, unpruned: bool, counters: &[&str]) -> Value {
    json!({"module": module, "config": config, "unpruned": unpruned, "counters": counters})
}

/// Runs the tool on these variants, as bench.py does.
fn counts(variants: Value) -> Value {
    let input = json!({
        "request": {"method": "GET", "path": path(), "headers": client_headers()},
        "variants": variants,
    });
    run(&input).expect("the input is understood")["variants"].clone()
}

const HELLO: &str = r#"{"greeting":"hi"}"#;

#[test]
fn hello_sets_one_header_and_increments_one_counter_per_request() {
    let out = counts(json!([
        {"name": "hello", "filters": [filter("hello", HELLO, false, &[HELLO_PROOF])]},
        {"name": "hello-unpruned", "filters": [filter("hello", HELLO, true, &[HELLO_PROOF])]},
    ]));
    let hello = &out["hello"];
    assert_eq!(hello["error"], Value::Null, "{hello}");
    assert_eq!(
        hello["by_function"],
        json!({"proxy_replace_header_map_value": 1, "proxy_increment_metric": 1}),
        "one header written, one counter incremented; no header read, no property"
    );
    assert_eq!(hello["host_calls"], 2);
    assert_eq!(
        hello["modules"][0]["callbacks"],
        json!([
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_delete"
        ])
    );
    assert_eq!(hello["vm_entries"], 3);

    // Every callback exported: Envoy enters the VM four more times, and the callbacks hello
    // does not implement make no host call.
    let unpruned = &out["hello-unpruned"];
    assert_eq!(unpruned["by_function"], hello["by_function"]);
    assert_eq!(unpruned["vm_entries"], 7);
}

#[test]
fn the_bundle_lets_the_request_through_and_its_total_is_the_sum_by_function() {
    let out = counts(json!([
        {"name": "bundle", "filters": [filter("wasmesh", &bundle_config(), false, BUNDLE_PROOFS)]},
    ]));
    let bundle = &out["bundle"];
    // No local reply, and every stage raised its counter for the expected decision.
    assert_eq!(bundle["error"], Value::Null, "{bundle}");
    let by_function = bundle["by_function"].as_object().unwrap();
    let sum: u64 = by_function.values().map(|n| n.as_u64().unwrap()).sum();
    assert!(sum > 0);
    assert_eq!(bundle["host_calls"], sum);
    assert_eq!(bundle["modules"][0]["host_calls"], sum);
    assert_eq!(
        bundle["vm_entries"],
        bundle["modules"][0]["callbacks"].as_array().unwrap().len()
    );
}

/// The bundle's configuration with access-control's policy moved into the last of 20
/// `routes` entries, matched on the benchmark route's name (`orders`).
fn bundle_config_with_20_routes() -> String {
    let mut bundle: Value = serde_json::from_str(&bundle_config()).expect("JSON");
    let policy = bundle["chain"][1]["config"].take();
    let mut routes: Vec<Value> = (1..20)
        .map(|i| json!({"match": {"route_name": format!("catalog-{i:02}")}, "rules": []}))
        .collect();
    routes.push(json!({"match": {"route_name": "orders"}, "rules": policy["rules"]}));
    let mut config = policy;
    config["rules"] = json!([]);
    config["routes"] = Value::Array(routes);
    bundle["chain"][1]["config"] = config;
    bundle.to_string()
}

#[test]
fn twenty_route_entries_cost_one_property_read() {
    let out = counts(json!([
        {"name": "bundle", "filters": [filter("wasmesh", &bundle_config(), false, BUNDLE_PROOFS)]},
        {"name": "routes", "filters":
            [filter("wasmesh", &bundle_config_with_20_routes(), false, BUNDLE_PROOFS)]},
    ]));
    let (bundle, routes) = (&out["bundle"], &out["routes"]);
    // The request got the last entry's policy: access allowed to `frontend`.
    assert_eq!(routes["error"], Value::Null, "{routes}");
    let reads = |v: &Value| v["by_function"]["proxy_get_property"].as_u64().unwrap_or(0);
    assert_eq!(reads(routes), reads(bundle) + 1, "{bundle}\n{routes}");
    assert_eq!(
        routes["host_calls"].as_u64().unwrap(),
        bundle["host_calls"].as_u64().unwrap() + 1
    );
}

#[test]
fn a_request_the_filter_answers_itself_is_an_error_not_a_count() {
    let replies = r#"{"greeting":"hi","reply_path":"/api/v1/orders/12345?expand=items"}"#;
    let out = counts(json!([
        {"name": "replies", "filters": [filter("hello", replies, false, &[])]},
        {"name": "other-decision", "filters": [
            filter("hello", HELLO, false, &["wasmesh_hello_requests_total.outcome=.=replied;"])
        ]},
    ]));
    let replied = out["replies"]["error"].as_str().unwrap();
    assert!(replied.contains("local reply: 200"), "{replied}");
    let other = out["other-decision"]["error"].as_str().unwrap();
    assert!(other.contains("did not increase"), "{other}");
}

#[test]
fn a_module_from_elsewhere_is_not_counted() {
    let out = counts(json!([{"name": "x", "filters": [filter("nowhere", "{}", false, &[])]}]));
    assert_eq!(
        out["x"],
        json!({"not_counted": "nowhere is not a module of this workspace"})
    );
}

#[test]
fn filters_see_the_headers_envoy_hands_them() {
    let request = Request {
        method: "GET".to_owned(),
        path: path(),
        headers: client_headers(),
    };
    let headers = envoy_request_headers(&request);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..5],
        [":authority", ":path", ":method", ":scheme", "traceparent"]
    );
    assert!(!names.contains(&"host"));
    assert_eq!(names.last(), Some(&"x-envoy-external-address"));
    let value = |name| headers.iter().find(|(n, _)| n == name).unwrap().1.as_str();
    assert_eq!(value(":authority"), "orders.shop.svc.cluster.local");
    assert_eq!(value("x-forwarded-proto"), "http");
    assert_eq!(value("x-forwarded-for"), "203.0.113.7,127.0.0.1");
}
