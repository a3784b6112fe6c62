//! header-normalization in Envoy 1.40 (`envoy-test-configs/header-normalization.yaml`, as a
//! stage of the bundle in `header-normalization-bundle.yaml`, and per route in
//! `header-normalization-routes.yaml`): the application
//! receives the canonical path and headers; hostile requests get 400 (431 for the size
//! limits) with a JSON body naming the rule, or Envoy's own 400 where its HTTP/1 codec
//! refuses the request before any filter runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use wasmesh_e2e::{http, EchoServer, Envoy, EnvoyConfig, Response};

fn config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("header-normalization.yaml")
        .unwrap()
        .upstream(8000, app.port())
}

/// `{method} {target} HTTP/1.1` with `Host: svc`, `extra` header lines (raw bytes, `\r\n`
/// terminated) and `Connection: close`.
fn raw(method: &str, target: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut request = format!("{method} ").into_bytes();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: svc\r\n");
    request.extend_from_slice(extra);
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request
}

/// The filter's reply naming `rule`.
fn assert_filter_reply(response: &Response, status: u16, rule: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.body_str());
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(
        response.header("x-echo"),
        None,
        "{what} reached the application"
    );
    let error = if status == 431 {
        "request_header_fields_too_large"
    } else {
        "bad_request"
    };
    assert_eq!(
        response.json().unwrap(),
        serde_json::json!({"error": error, "rule": rule}),
        "{what}"
    );
}

fn header_values<'a>(echoed: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

fn metric(prometheus: &str, kind: &str, rule: &str) -> Option<u64> {
    let series = format!("wasmesh_header_normalization_{kind}_total{{rule=\"{rule}\"}} ");
    prometheus
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map(|value| value.trim().parse().unwrap())
}

#[test]
fn the_application_receives_the_canonical_request() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();

    let request = b"GET //api/./v1/%7Eusers/../%61ccounts?q=/../%2F HTTP/1.1\r\n\
        Host: Example.COM.:80\r\n\
        x_user: admin\r\n\
        x_user_id: 42\r\n\
        x-envoy-retry-on: 5xx\r\n\
        x-forwarded-client-cert: By=spiffe://mesh/admin\r\n\
        x-envoy-original-path: /forged\r\n\
        x-wasmesh-caller: admin\r\n\
        te: trailers\r\n\
        accept: */*\r\n\
        Connection: close\r\n\r\n";
    let response = http::request(ingress, request).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let echoed = response.json().unwrap();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["path"], "/api/v1/accounts?q=/../%2F");
    assert_eq!(header_values(&echoed, "host"), vec!["example.com"]);
    assert_eq!(header_values(&echoed, "x-user-id"), vec!["42"]);
    assert_eq!(
        header_values(&echoed, "x-envoy-original-path"),
        vec!["//api/./v1/%7Eusers/../%61ccounts?q=/../%2F"]
    );
    assert_eq!(header_values(&echoed, "te"), vec!["trailers"]);
    assert_eq!(header_values(&echoed, "accept"), vec!["*/*"]);
    for gone in [
        "x_user",
        "x_user_id",
        "x-envoy-retry-on",
        "x-forwarded-client-cert",
        "x-wasmesh-caller",
    ] {
        assert_eq!(header_values(&echoed, gone), Vec::<&str>::new(), "{gone}");
    }

    // A canonical request is forwarded exactly as sent.
    let response = http::get(ingress, "/api/v1/accounts?q=1", &[("x-a", "b")]).unwrap();
    let echoed = response.json().unwrap();
    assert_eq!(echoed["path"], "/api/v1/accounts?q=1");
    assert_eq!(
        header_values(&echoed, "x-envoy-original-path"),
        Vec::<&str>::new()
    );
    assert_eq!(header_values(&echoed, "host"), vec!["localhost"]);

    let prometheus = envoy.stats_prometheus().unwrap();
    for rule in [
        "path",
        "authority_case",
        "authority_port",
        "authority_trailing_dot",
        "underscore_header",
        "renamed_header",
    ] {
        assert_eq!(metric(&prometheus, "normalized", rule), Some(1), "{rule}");
    }
    // The client's x-envoy-retry-on, and on both requests the x-envoy-external-address
    // Envoy adds itself under `use_remote_address: true`: internal headers from an
    // untrusted caller.
    assert_eq!(
        metric(&prometheus, "normalized", "internal_header"),
        Some(2)
    );
}

#[test]
fn routes_match_the_canonical_path() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    for target in [
        "/public/%2e%2e/admin",
        "/public/../admin/",
        "//admin",
        "/%61dmin",
    ] {
        let response = http::get(ingress, target, &[]).unwrap();
        assert_eq!(response.status, 403, "{target}: {}", response.body_str());
        assert_eq!(
            response.body_str(),
            "admin is not reachable from this listener\n"
        );
    }
    assert_eq!(app.request_count(), 0);
}

/// Requests Envoy forwards to the filter, and the rule the filter refuses them with.
const FILTER_REFUSES: &[(&str, &[u8], &[u8], &str)] = &[
    ("GET", b"/a%2fb", b"", "escaped_slash"),
    ("GET", b"/public/..%2Fadmin", b"", "escaped_slash"),
    ("GET", b"/a\\..\\admin", b"", "backslash"),
    ("GET", b"/admin%00.html", b"", "control_character"),
    ("GET", b"/a%0d%0aX-Injected:%201", b"", "control_character"),
    ("GET", b"/public/..;/admin", b"", "dot_segment_parameter"),
    ("GET", b"/%252e%252e/admin", b"", "double_encoding"),
    ("GET", b"/%c0%ae%c0%ae/admin", b"", "invalid_utf8"),
    ("GET", b"/%zz", b"", "invalid_escape"),
    ("PROPFIND", b"/", b"", "method_not_allowed"),
    // Envoy joins these repeats into one value (`authorization: a,b`); still repeats.
    (
        "GET",
        b"/",
        b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
        "repeated_header",
    ),
    ("GET", b"/", b"Host: evil\r\n", "repeated_header"),
    (
        "GET",
        b"/",
        b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\
          traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01\r\n",
        "repeated_header",
    ),
    (
        "GET",
        b"/",
        b"x-tenant: a\r\nx-tenant: b\r\n",
        "repeated_header",
    ),
];

#[test]
fn hostile_requests_get_400_naming_the_rule() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    for &(method, target, extra, rule) in FILTER_REFUSES {
        let what = format!("{method} {}", String::from_utf8_lossy(target));
        let response = http::request(ingress, &raw(method, target, extra)).unwrap();
        assert_filter_reply(&response, 400, rule, &what);
    }
    for host in ["127.1", "user@svc", "svc:0", "a..b"] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = http::request(ingress, request.as_bytes()).unwrap();
        assert_filter_reply(&response, 400, "invalid_authority", host);
    }
    assert_eq!(app.request_count(), 0);
    let prometheus = envoy.stats_prometheus().unwrap();
    assert_eq!(metric(&prometheus, "rejected", "escaped_slash"), Some(2));
    assert_eq!(metric(&prometheus, "rejected", "repeated_header"), Some(4));
    assert_eq!(
        metric(&prometheus, "rejected", "invalid_authority"),
        Some(4)
    );
}

/// Requests Envoy's HTTP/1 codec (or its own limits) refuses before any filter runs, with
/// the rule the filter would name had Envoy let them through.
const ENVOY_REFUSES_FIRST: &[(&str, &[u8], &[u8], &str)] = &[
    ("GET", b"/a#fragment", b"", "fragment"),
    ("GET", b"/public#/../admin", b"", "fragment"),
    ("GET", b"/a\0b", b"", "control_character"),
    ("GET", b"/a b", b"", "invalid_character"),
    ("GET", b"/a\tb", b"", "control_character"),
    ("GET", b"/a\x7fb", b"", "control_character"),
    ("GET", b"/caf\xc3\xa9", b"", "invalid_character"),
    ("GET", b"/\xc0\xae\xc0\xae/admin", b"", "invalid_character"),
    ("GET", b"admin", b"", "relative_path"),
    ("get", b"/", b"", "lowercase_method"),
    (
        "POST",
        b"/",
        b"Content-Length: 0\r\nContent-Length: 0\r\n",
        "repeated_header",
    ),
    ("GET", b"/", b"x-a: a\x01b\r\n", "invalid_header_value"),
];

#[test]
fn envoy_refuses_some_hostile_input_before_the_filter() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    for &(method, target, extra, rule) in ENVOY_REFUSES_FIRST {
        let what = format!("{method} {:?}", String::from_utf8_lossy(target));
        let response = http::request(ingress, &raw(method, target, extra)).unwrap();
        assert_eq!(response.status, 400, "{what}: {}", response.body_str());
        if response.header("content-type") == Some("application/json") {
            // Should Envoy forward it, the filter refuses it.
            assert_filter_reply(&response, 400, rule, &what);
        }
    }
    // Over Envoy's own limits (max_headers_count 100, max_request_headers_kb 60): its 431.
    let many: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let response = http::request(ingress, &raw("GET", b"/", many.as_bytes())).unwrap();
    assert_eq!(response.status, 431);
    let huge = format!("x-big: {}\r\n", "v".repeat(70 * 1024));
    let response = http::request(ingress, &raw("GET", b"/", huge.as_bytes())).unwrap();
    assert_eq!(response.status, 431);
    assert_eq!(app.request_count(), 0);
}

#[test]
fn the_filter_limits_answer_431_naming_the_rule() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    // The filter allows 50 header fields and 16 KiB, below Envoy's own limits.
    let many: String = (0..60).map(|i| format!("x-h{i}: v\r\n")).collect();
    let response = http::request(ingress, &raw("GET", b"/", many.as_bytes())).unwrap();
    assert_filter_reply(&response, 431, "header_count", "60 headers");
    let large = format!("x-big: {}\r\n", "v".repeat(20 * 1024));
    let response = http::request(ingress, &raw("GET", b"/", large.as_bytes())).unwrap();
    assert_filter_reply(&response, 431, "header_bytes", "20 KiB header");
    let fits: String = (0..40).map(|i| format!("x-h{i}: v\r\n")).collect();
    let response = http::request(ingress, &raw("GET", b"/", fits.as_bytes())).unwrap();
    assert_eq!(response.status, 200);
}

#[test]
fn escaped_slashes_can_be_redirected() {
    let app = EchoServer::start().unwrap();
    let config = config(&app).replace(
        r#""escaped_slashes": "reject""#,
        r#""escaped_slashes": "unescape_and_redirect""#,
    );
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let response = http::get(ingress, "/api%2Fv1/./users?next=%2F", &[]).unwrap();
    assert_eq!(response.status, 307, "{}", response.body_str());
    assert_eq!(response.header("location"), Some("/api/v1/users?next=%2F"));
    assert_eq!(
        response.json().unwrap(),
        serde_json::json!({"location": "/api/v1/users?next=%2F", "rule": "escaped_slash"})
    );
    assert_eq!(app.request_count(), 0);
    let followed = http::get(ingress, "/api/v1/users?next=%2F", &[]).unwrap();
    assert_eq!(followed.json().unwrap()["path"], "/api/v1/users?next=%2F");
    let prometheus = envoy.stats_prometheus().unwrap();
    assert_eq!(metric(&prometheus, "redirected", "escaped_slash"), Some(1));
}

#[test]
fn trusted_callers_keep_internal_headers() {
    let app = EchoServer::start().unwrap();
    let request = [("x-wasmesh-caller", "edge"), ("x-envoy-mesh-hop", "1")];
    // Untrusted (the default config trusts only 192.0.2.0/24): both are removed.
    let envoy = Envoy::start(&config(&app)).unwrap();
    let response = http::get(envoy.listener("ingress").unwrap(), "/", &request).unwrap();
    let echoed = response.json().unwrap();
    assert_eq!(
        header_values(&echoed, "x-wasmesh-caller"),
        Vec::<&str>::new()
    );
    assert_eq!(
        header_values(&echoed, "x-envoy-mesh-hop"),
        Vec::<&str>::new()
    );
    drop(envoy);
    // Trusted by source address: both are forwarded. (`x-forwarded-client-cert` would not
    // be: Envoy's `forward_client_cert_details`, SANITIZE by default, removes it itself.)
    let config = config(&app).replace("192.0.2.0/24", "127.0.0.0/8");
    let envoy = Envoy::start(&config).unwrap();
    let response = http::get(envoy.listener("ingress").unwrap(), "/", &request).unwrap();
    let echoed = response.json().unwrap();
    assert_eq!(header_values(&echoed, "x-wasmesh-caller"), vec!["edge"]);
    assert_eq!(header_values(&echoed, "x-envoy-mesh-hop"), vec!["1"]);
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    let app = EchoServer::start().unwrap();
    let config = config(&app).replace(
        r#""underscores_in_names": "drop""#,
        r#""underscores_in_names": "ignore""#,
    );
    let log = Envoy::start_expect_failure(&config).unwrap();
    assert!(
        log.contains(
            "header-normalization: config.underscores_in_names: unknown value `ignore`, \
             expected one of `allow`, `drop`, `reject`"
        ),
        "{log}"
    );
}

#[test]
fn the_bundle_runs_the_filter_as_a_stage() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("header-normalization-bundle.yaml")
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let response = http::get(ingress, "/a/%2e%2e/b%2Fc", &[]).unwrap();
    assert_eq!(response.status, 307, "{}", response.body_str());
    assert_eq!(response.header("location"), Some("/b/c"));
    let response = http::get(ingress, "/a/./b//c", &[("x_a", "1")]).unwrap();
    let echoed = response.json().unwrap();
    assert_eq!(echoed["path"], "/a/b/c");
    assert_eq!(header_values(&echoed, "x_a"), Vec::<&str>::new());
    let response = http::get(ingress, "/a%00", &[]).unwrap();
    assert_filter_reply(&response, 400, "control_character", "/a%00");
    let prometheus = envoy.stats_prometheus().unwrap();
    assert_eq!(metric(&prometheus, "redirected", "escaped_slash"), Some(1));
    assert_eq!(metric(&prometheus, "normalized", "path"), Some(1));
}

fn routes_config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("header-normalization-routes.yaml")
        .unwrap()
        .upstream(8000, app.port())
}

#[test]
fn two_routes_on_one_listener_normalize_differently() {
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&routes_config(&app)).unwrap();
    let ingress = envoy.listener("ingress").unwrap();

    // An underscored header: dropped on the `api` route, refused on the `admin` route.
    let underscored = b"x_user: admin\r\n";
    let response = http::request(ingress, &raw("GET", b"/api/items", underscored)).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let echoed = response.json().unwrap();
    assert_eq!(echoed["path"], "/api/items");
    assert_eq!(header_values(&echoed, "x_user"), Vec::<&str>::new());
    let response = http::request(ingress, &raw("GET", b"/admin/users", underscored)).unwrap();
    assert_filter_reply(&response, 400, "underscore_header", "x_user on admin");

    // DELETE: allowed by the listener, not on the `admin` route.
    let response = http::request(ingress, &raw("DELETE", b"/api/items/1", b"")).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let response = http::request(ingress, &raw("DELETE", b"/admin/users/1", b"")).unwrap();
    assert_filter_reply(&response, 400, "method_not_allowed", "DELETE on admin");

    // 30 header fields: within the listener's 50, over the `admin` route's 20.
    let thirty: String = (0..30).map(|i| format!("x-h{i}: v\r\n")).collect();
    let response = http::request(ingress, &raw("GET", b"/api/items", thirty.as_bytes())).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let response = http::request(ingress, &raw("GET", b"/admin/users", thirty.as_bytes())).unwrap();
    assert_filter_reply(&response, 431, "header_count", "30 headers on admin");

    // The `/uploads` prefix entry strips `;params`; the listener keeps them.
    let response = http::get(ingress, "/uploads/a;v=2/b", &[]).unwrap();
    assert_eq!(response.json().unwrap()["path"], "/uploads/a/b");
    let response = http::get(ingress, "/files/a;v=2/b", &[]).unwrap();
    assert_eq!(response.json().unwrap()["path"], "/files/a;v=2/b");

    // The entry is chosen from the request as sent: Envoy routes /api/../admin/users to
    // `api`, so the listener's options apply (the underscored header is dropped, never
    // let through); Envoy then routes the canonical /admin/users to `admin`.
    let response =
        http::request(ingress, &raw("GET", b"/api/../admin/users", underscored)).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let echoed = response.json().unwrap();
    assert_eq!(echoed["path"], "/admin/users");
    assert_eq!(header_values(&echoed, "x_user"), Vec::<&str>::new());

    assert_eq!(app.request_count(), 6);
    let prometheus = envoy.stats_prometheus().unwrap();
    assert_eq!(
        metric(&prometheus, "rejected", "underscore_header"),
        Some(1)
    );
    assert_eq!(
        metric(&prometheus, "rejected", "method_not_allowed"),
        Some(1)
    );
    assert_eq!(metric(&prometheus, "rejected", "header_count"), Some(1));
    assert_eq!(
        metric(&prometheus, "normalized", "underscore_header"),
        Some(2)
    );
}

#[test]
fn a_weaker_route_override_is_refused_naming_its_path() {
    let app = EchoServer::start().unwrap();
    let config = routes_config(&app).replace(
        r#""underscores_in_names": "reject""#,
        r#""underscores_in_names": "allow""#,
    );
    let log = Envoy::start_expect_failure(&config).unwrap();
    assert!(
        log.contains(
            "header-normalization: config.routes[0].underscores_in_names: `allow` is weaker \
             than the listener's `drop`; a route may only be stricter, unless the listener \
             sets `allow_weaker_routes`"
        ),
        "{log}"
    );
    // The listener may allow it explicitly.
    let config = routes_config(&app)
        .replace(
            r#""underscores_in_names": "reject""#,
            r#""underscores_in_names": "allow""#,
        )
        .replace(
            r#""max_headers": 50,"#,
            r#""max_headers": 50, "allow_weaker_routes": true,"#,
        );
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let response =
        http::request(ingress, &raw("GET", b"/admin/users", b"x_user: admin\r\n")).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(
        header_values(&response.json().unwrap(), "x_user"),
        vec!["admin"]
    );
}
