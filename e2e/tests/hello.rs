//! The hello example (`examples/hello`) in Envoy 1.40, with the config users copy:
//! `envoy-test-configs/hello.yaml`. The same behaviour is tested in the emulator in
//! `examples/hello/tests/emulator.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use wasmesh_e2e::{http, EchoServer, Envoy, EnvoyConfig};

const CONFIG_FILE: &str = "hello.yaml";
/// The filter configuration as written in `hello.yaml`.
const SHIPPED_FILTER_CONFIG: &str =
    r#"value: '{"greeting": "hello from wasmesh", "reply_path": "/hello"}'"#;
const GREETING: &str = "hello from wasmesh";
/// The hello counter as Envoy stores it: the SDK's tag encoding behind Envoy's `wasmcustom.` prefix.
const FORWARDED_STAT: &str = "wasmcustom.wasmesh_hello_requests_total.outcome=.=forwarded;.;";

fn hello_config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file(CONFIG_FILE)
        .unwrap()
        .upstream(8000, app.port())
}

/// `hello.yaml` with the filter configuration `json` (no single quotes) instead of the shipped one.
fn with_filter_config(app: &EchoServer, json: &str) -> EnvoyConfig {
    hello_config(app).replace(SHIPPED_FILTER_CONFIG, format!("value: '{json}'"))
}

/// The lines of Prometheus text that mention the hello counter.
fn hello_lines(prometheus: &str) -> Vec<&str> {
    prometheus
        .lines()
        .filter(|line| line.contains("wasmesh_hello"))
        .collect()
}

/// Sends `GET path` to the listener, with `headers`.
fn get(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> http::Response {
    http::get(envoy.listener("ingress").unwrap(), path, headers).unwrap()
}

#[test]
fn envoy_validates_the_shipped_config() {
    let output = Envoy::validate(&EnvoyConfig::from_file(CONFIG_FILE).unwrap()).unwrap();
    assert!(output.contains("OK"), "{output}");
}

#[test]
fn forwarded_requests_carry_the_greeting_and_a_client_greeting_is_replaced() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&hello_config(&app)).unwrap();

    let response = get(&envoy, "/api/items?x=1", &[("host", "svc")]);
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.header("x-echo"), Some("1"));

    let response = get(
        &envoy,
        "/api",
        &[("host", "svc"), ("x-hello", "forged"), ("X-Hello", "again")],
    );
    assert_eq!(response.status, 200, "{}", response.body_str());

    let requests = app.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/items?x=1");
    assert_eq!(requests[0].header_all("x-hello"), [GREETING]);
    assert_eq!(requests[1].path, "/api");
    assert_eq!(requests[1].header_all("x-hello"), [GREETING]);
}

#[test]
fn the_reply_path_is_answered_by_the_filter_and_never_reaches_the_app() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&hello_config(&app)).unwrap();

    let response = get(&envoy, "/hello", &[("host", "svc")]);
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-echo"), None, "the app answered");
    assert_eq!(
        response.json().unwrap(),
        serde_json::json!({"greeting": GREETING})
    );
    assert_eq!(app.request_count(), 0);

    // The path must match exactly: these are the application's.
    for path in ["/hello/", "/hello?x=1", "/HELLO"] {
        let response = get(&envoy, path, &[("host", "svc")]);
        assert_eq!(response.header("x-echo"), Some("1"), "{path}");
    }
    assert_eq!(app.request_count(), 3);
}

#[test]
fn the_counter_is_a_prometheus_counter_with_outcome_as_a_label() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&hello_config(&app)).unwrap();
    // The SDK defines each stat on first use: none before the first request.
    let before = envoy.stats_prometheus().unwrap();
    assert!(hello_lines(&before).is_empty(), "{before}");

    for path in ["/a", "/hello", "/b", "/hello", "/hello"] {
        assert_eq!(get(&envoy, path, &[]).status, 200, "{path}");
    }

    let prometheus = envoy.stats_prometheus().unwrap();
    assert_eq!(
        hello_lines(&prometheus),
        [
            "# TYPE wasmesh_hello_requests_total counter",
            r#"wasmesh_hello_requests_total{outcome="forwarded"} 2"#,
            r#"wasmesh_hello_requests_total{outcome="replied"} 3"#,
        ],
        "{prometheus}"
    );
    assert!(!prometheus.contains("wasmcustom"), "{prometheus}");
    // In /stats the tag is still part of the name.
    assert_eq!(envoy.stat(FORWARDED_STAT), Some(2));
}

#[test]
fn the_label_needs_the_stats_tags_entry_and_envoys_default_tags_do_not_interfere() {
    const STATS_CONFIG: &str = "stats_config:\n  stats_tags:\n";
    let app = EchoServer::start().unwrap();
    let run = |config: EnvoyConfig| {
        let envoy = Envoy::start(&config.upstream(8000, app.port())).unwrap();
        assert_eq!(get(&envoy, "/a", &[]).status, 200);
        envoy.stats_prometheus().unwrap()
    };
    let expected = [
        "# TYPE wasmesh_hello_requests_total counter",
        r#"wasmesh_hello_requests_total{outcome="forwarded"} 1"#,
    ];

    // As shipped, Envoy's default tags stay on: its own stats keep their labels.
    let shipped = run(EnvoyConfig::from_file(CONFIG_FILE).unwrap());
    assert_eq!(hello_lines(&shipped), expected, "{shipped}");
    assert!(
        shipped.contains(
            r#"envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 1"#
        ),
        "{shipped}"
    );

    // Without them the hello label is the same.
    let without_defaults = run(EnvoyConfig::from_file(CONFIG_FILE).unwrap().replace(
        STATS_CONFIG,
        "stats_config:\n  use_all_default_tags: false\n  stats_tags:\n",
    ));
    assert_eq!(
        hello_lines(&without_defaults),
        expected,
        "{without_defaults}"
    );

    // Without the `outcome` entry the tag stays in the metric name.
    let without_entry = run(EnvoyConfig::from_file(CONFIG_FILE).unwrap().replace(
        "  - tag_name: outcome\n    regex: \"(\\\\.outcome=\\\\.=(.*?);\\\\.;)\"\n",
        "",
    ));
    assert_eq!(
        hello_lines(&without_entry),
        [
            "# TYPE wasmesh_hello_requests_total_outcome___forwarded___ counter",
            "wasmesh_hello_requests_total_outcome___forwarded___{} 1",
        ],
        "{without_entry}"
    );
}

/// The lines of Envoy's log that carry a hello configuration error.
fn config_error_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("hello: config"))
        .collect()
}

/// Starts Envoy with `json` as hello's configuration, expecting Envoy to exit
/// (a static listener whose wasm filter refuses its configuration stops Envoy,
/// whatever the `failure_policy`). Checks the filter's error is one critical log
/// line and that `envoy --mode validate`, which runs the module too, refuses the
/// config as well. Returns that line without Envoy's `... wasm log: ` prefix.
fn refused_with(json: &str) -> String {
    let app = EchoServer::start().unwrap();
    let config = with_filter_config(&app, json);
    let log = Envoy::start_expect_failure(&config).unwrap();
    let lines = config_error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    let line = lines[0];
    assert!(line.contains("[critical][wasm]"), "{line}");
    assert!(log.contains("Unable to create Wasm plugin hello"), "{log}");

    let validation = Envoy::validate(&config).unwrap_err();
    assert_eq!(config_error_lines(&validation).len(), 1, "{validation}");

    let (_, message) = line.split_once("wasm log: ").expect("wasm log prefix");
    message.to_string()
}

#[test]
fn a_wrong_type_is_refused_with_one_line_naming_the_field() {
    assert_eq!(
        refused_with(r#"{"greeting": 42}"#),
        "hello: config.greeting: expected a string, found 42"
    );
}

#[test]
fn a_refused_configuration_stops_envoy_under_every_failure_policy() {
    let app = EchoServer::start().unwrap();
    for policy in ["FAIL_OPEN", "FAIL_RELOAD"] {
        let config = with_filter_config(&app, r#"{"greeting": 42}"#).replace(
            "failure_policy: FAIL_CLOSED",
            format!("failure_policy: {policy}"),
        );
        let log = Envoy::start_expect_failure(&config).unwrap();
        assert_eq!(config_error_lines(&log).len(), 1, "{policy}: {log}");
    }
}

#[test]
fn an_unknown_field_is_refused_with_its_json_path() {
    assert_eq!(
        refused_with(r#"{"greeting": "hi", "greting": "x"}"#),
        "hello: config.greting: unknown field `greting`, expected `greeting` or `reply_path`"
    );
}

#[test]
fn a_reply_path_without_a_slash_is_refused() {
    assert_eq!(
        refused_with(r#"{"greeting": "hi", "reply_path": "hello"}"#),
        r#"hello: config.reply_path: must start with `/`, found "hello""#
    );
}

/// `hello-routes.yaml`: the filter's `routes` section and Envoy's per-route `disabled`.
fn routes_config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("hello-routes.yaml")
        .unwrap()
        .upstream(8000, app.port())
}

#[test]
fn routes_on_one_listener_get_their_own_greeting_or_no_filter_at_all() {
    let app = EchoServer::start().unwrap();
    let config = routes_config(&app);
    assert!(Envoy::validate(&config).unwrap().contains("OK"));
    let envoy = Envoy::start(&config).unwrap();

    let cases: [(&str, &str, &[&str]); 5] = [
        ("/anything", "svc", &[GREETING]),
        // Route `admin`, by Envoy's route name.
        ("/admin/users", "svc", &["hello, admin"]),
        // Route prefixes are Envoy's: `/administrator` is `admin` too.
        ("/administrator", "svc", &["hello, admin"]),
        // Virtual host `internal`, by Envoy's virtual host name.
        ("/admin/users", "internal.local", &["hello, insider"]),
        // Route `health`: Envoy skips the filter (`FilterConfig { disabled: true }`).
        ("/healthz", "svc", &[]),
    ];
    for (path, host, _) in cases {
        let response = get(&envoy, path, &[("host", host)]);
        assert_eq!(response.status, 200, "{path}: {}", response.body_str());
    }
    let requests = app.requests();
    assert_eq!(requests.len(), cases.len());
    for (request, (path, host, greeting)) in requests.iter().zip(cases) {
        assert_eq!(request.path, path);
        assert_eq!(request.header_all("x-hello"), greeting, "{path} on {host}");
    }
    // The disabled route's request never reached the module: four counted, not five.
    assert_eq!(envoy.stat(FORWARDED_STAT), Some(4));
}

#[test]
fn a_bad_route_override_is_refused_with_its_json_path() {
    assert_eq!(
        refused_with(
            r#"{"greeting": "hi", "routes": [{"match": {"route_name": "admin"}, "greeting": "a"}, {"match": {"path_prefix": "/x"}, "reply_path": "x"}]}"#
        ),
        r#"hello: config.routes[1].reply_path: must start with `/`, found "x""#
    );
}
