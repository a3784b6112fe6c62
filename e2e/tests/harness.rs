//! Tests of the harness itself, with a plain Envoy config (no wasm).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use wasmesh_e2e::{http, process_exists, EchoResponse, EchoServer, Envoy, EnvoyConfig};

/// A config as users would write it: admin on 9901, the listener on
/// 0.0.0.0:10000, the application on 127.0.0.1:8000.
const PLAIN_PROXY: &str = r#"
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: ingress
    address:
      socket_address: { address: 0.0.0.0, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: app }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: app
    type: STATIC
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 8000 }
"#;

fn plain_proxy(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_yaml(PLAIN_PROXY).upstream(8000, app.port())
}

fn header_pairs(json: &serde_json::Value) -> Vec<(String, String)> {
    json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn app_sees_method_verbatim_path_and_repeated_headers() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    assert_eq!(ingress.ip().to_string(), "127.0.0.1");
    assert_ne!(ingress.port(), 10000);

    let response = http::request(
        ingress,
        b"POST /%2e%2e/admin?x=%2F HTTP/1.1\r\nHost: svc\r\nX-Rep: one\r\nX-Rep: two\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.header("x-echo"), Some("1"));
    let echoed = response.json().unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/%2e%2e/admin?x=%2F");
    assert_eq!(echoed["body_bytes"], 5);
    let reps: Vec<String> = header_pairs(&echoed)
        .into_iter()
        .filter(|(name, _)| name == "x-rep")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(reps, ["one", "two"]);
    assert_eq!(app.requests()[0].body, b"hello");
}

#[test]
fn keep_alive_and_custom_app_responses_pass_through() {
    let app = EchoServer::start_with(|request| {
        EchoResponse::new(503)
            .with_header("x-seen-path", &request.path)
            .with_body("unavailable")
    })
    .unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let mut connection = http::Connection::open(envoy.listener("ingress").unwrap()).unwrap();
    for path in ["/first", "/second"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: svc\r\n\r\n");
        let response = connection.send(raw.as_bytes()).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.header("x-seen-path"), Some(path));
        assert_eq!(response.header("x-echo"), Some("1"));
        assert_eq!(response.body_str(), "unavailable");
    }
    assert!(!connection.is_closed());
    assert_eq!(app.request_count(), 2);
}

#[test]
fn stats_are_readable() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    for _ in 0..3 {
        assert_eq!(http::get(ingress, "/", &[]).unwrap().status, 200);
    }
    let prometheus = envoy.stats_prometheus().unwrap();
    assert!(
        prometheus.contains("envoy_http_downstream_rq_total"),
        "{prometheus}"
    );
    assert_eq!(
        envoy.wait_for_stat(
            "http.ingress.downstream_rq_completed",
            3,
            Duration::from_secs(5)
        ),
        Some(3)
    );
    assert_eq!(envoy.stat("no.such.stat"), None);
    assert_eq!(envoy.admin_get("/ready").unwrap().body_str().trim(), "LIVE");
    // The log file is flushed every 50 ms, so wait rather than read once.
    assert!(envoy.wait_for_log("starting main dispatch loop", Duration::from_secs(5)));
}

#[test]
fn dropping_envoy_stops_and_reaps_it_and_removes_its_files() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let pid = envoy.pid();
    let dir = envoy.dir().to_path_buf();
    let shm = format!(
        "/dev/shm/envoy_shared_memory_{}",
        u64::from(envoy.base_id()) * 10
    );
    assert!(process_exists(pid));
    assert!(dir.join("envoy.log").exists());
    drop(envoy);
    assert!(!process_exists(pid), "Envoy pid {pid} still exists");
    assert!(!dir.exists());
    assert!(!std::path::Path::new(&shm).exists());
}

#[test]
fn explicit_stop_reports_a_clean_exit() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let pid = envoy.pid();
    let status = envoy.stop().expect("exit status");
    assert!(status.success(), "{status}");
    assert!(!process_exists(pid));
}

#[test]
fn a_panicking_test_leaves_no_envoy_behind() {
    let (pid_sender, pid_receiver) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let app = EchoServer::start().unwrap();
        let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
        pid_sender.send(envoy.pid()).unwrap();
        panic!("test failure while Envoy runs");
    })
    .join();
    assert!(outcome.is_err());
    let pid = pid_receiver.recv().unwrap();
    assert!(!process_exists(pid), "Envoy pid {pid} outlived the panic");
}

#[test]
fn two_envoys_run_side_by_side() {
    let app = EchoServer::start().unwrap();
    let config = plain_proxy(&app);
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| Envoy::start(&config).unwrap());
        let second = scope.spawn(|| Envoy::start(&config).unwrap());
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_ne!(first.base_id(), second.base_id());
    assert_ne!(first.admin(), second.admin());
    assert_ne!(
        first.listener("ingress").unwrap(),
        second.listener("ingress").unwrap()
    );
    for envoy in [&first, &second] {
        let response = http::get(envoy.listener("ingress").unwrap(), "/both", &[]).unwrap();
        assert_eq!(response.json().unwrap()["path"], "/both");
    }
    assert_eq!(app.request_count(), 2);
}

#[test]
fn validate_accepts_a_good_config_and_rejects_a_broken_one() {
    let good = EnvoyConfig::from_yaml(PLAIN_PROXY);
    let output = Envoy::validate(&good).unwrap();
    assert!(output.contains("OK"), "{output}");

    let broken = EnvoyConfig::from_yaml(PLAIN_PROXY)
        .replace("type: STATIC", "type: STATIC\n    bogus_field: 1");
    let error = Envoy::validate(&broken).unwrap_err();
    assert!(error.contains("bogus_field"), "{error}");
}

#[test]
fn refused_config_reports_envoys_message() {
    let app = EchoServer::start().unwrap();
    let broken = plain_proxy(&app).replace("cluster: app", "cluster: missing");
    let error = Envoy::start(&broken).unwrap_err();
    assert!(error.contains("missing"), "{error}");

    let log = Envoy::start_expect_failure(&broken).unwrap();
    assert!(log.contains("unknown cluster 'missing'"), "{log}");

    let good = plain_proxy(&app);
    let error = Envoy::start_expect_failure(&good).unwrap_err();
    assert!(error.contains("expected to fail"), "{error}");
}

#[test]
fn log_can_be_awaited() {
    let app = EchoServer::start().unwrap();
    let envoy =
        Envoy::start_with_args(&plain_proxy(&app), &["--component-log-level", "http:debug"])
            .unwrap();
    http::get(envoy.listener("ingress").unwrap(), "/logged", &[]).unwrap();
    assert!(
        envoy.wait_for_log("':path', '/logged'", Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
    assert!(!envoy.wait_for_log("never logged", Duration::from_millis(100)));
}

#[test]
fn missing_listener_is_reported_with_the_known_names() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&plain_proxy(&app)).unwrap();
    let error = envoy.listener("egress").unwrap_err();
    assert!(error.contains("ingress"), "{error}");
}
