//! trace-propagation in real Envoy processes: an inbound sidecar in front of an
//! application that calls another service through an outbound sidecar, copying only the
//! trace headers it received; and the filter as a stage of the wasmesh bundle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::net::SocketAddr;

use wasmesh_e2e::{http, EchoRequest, EchoResponse, EchoServer, Envoy, EnvoyConfig};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_PARENT: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// How many calls the application makes for each request it receives.
const CALLS: usize = 3;

/// The one `traceparent` a request carried, as (trace id, parent id, flags).
fn traceparent(request: &EchoRequest) -> (String, String, String) {
    let values = request.header_all("traceparent");
    assert_eq!(values.len(), 1, "exactly one traceparent: {values:?}");
    let fields: Vec<&str> = values[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{values:?}");
    assert_eq!(fields[0], "00", "{values:?}");
    (fields[1].into(), fields[2].into(), fields[3].into())
}

fn inbound(app: &EchoServer) -> Envoy {
    let config = EnvoyConfig::from_file("trace-propagation-inbound.yaml")
        .unwrap()
        .upstream(8000, app.port());
    Envoy::start(&config).unwrap()
}

fn outbound(backend: &EchoServer) -> Envoy {
    // The file uses admin port 9902 so that it runs next to the inbound sidecar as-is.
    let config = EnvoyConfig::from_file("trace-propagation-outbound.yaml")
        .unwrap()
        .upstream(8001, backend.port());
    Envoy::start(&config).unwrap()
}

/// An application that, for every request, calls the backend through `outbound`
/// `CALLS` times, copying `traceparent` and `tracestate` and nothing else.
fn app_calling(outbound: SocketAddr) -> EchoServer {
    EchoServer::start_with(move |request| {
        let mut headers = vec![("host", "backend")];
        for name in ["traceparent", "tracestate"] {
            if let Some(value) = request.header(name) {
                headers.push((name, value));
            }
        }
        for call in 0..CALLS {
            match http::get(outbound, &format!("/call/{call}"), &headers) {
                Ok(response) if response.status == 200 => {}
                Ok(response) => return EchoResponse::new(502).with_body(response.body),
                Err(error) => return EchoResponse::new(502).with_body(error),
            }
        }
        EchoResponse::echo(request)
    })
    .unwrap()
}

#[test]
fn every_hop_keeps_the_trace_id_and_gets_its_own_parent_id() {
    let backend = EchoServer::start().unwrap();
    let outbound = outbound(&backend);
    let app = app_calling(outbound.listener("outbound").unwrap());
    let inbound = inbound(&app);

    let response = http::get(
        inbound.listener("inbound").unwrap(),
        "/",
        &[("traceparent", TRACEPARENT), ("tracestate", "caller=1")],
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.header("x-trace-id"), Some(TRACE));

    // The application: same trace, a parent id made by its inbound sidecar.
    let app_requests = app.requests();
    assert_eq!(app_requests.len(), 1);
    let (trace_id, app_parent, flags) = traceparent(&app_requests[0]);
    assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(app_parent, CALLER_PARENT);
    assert_eq!(app_requests[0].header_all("tracestate"), ["caller=1"]);
    assert_eq!(
        app_requests[0].header("b3"),
        Some(format!("{TRACE}-{app_parent}-1-{CALLER_PARENT}").as_str())
    );
    assert_eq!(app_requests[0].header_all("x-request-id").len(), 1);

    // The backend: the same trace on every call, each with its own parent id, none the
    // caller's or the application's.
    let calls = backend.requests();
    assert_eq!(calls.len(), CALLS);
    let mut parents = HashSet::new();
    for call in &calls {
        let (trace_id, parent, flags) = traceparent(call);
        assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "01"));
        assert_ne!(parent, CALLER_PARENT);
        assert_ne!(parent, app_parent);
        parents.insert(parent.clone());
        assert_eq!(call.header_all("tracestate"), ["caller=1"]);
        assert_eq!(
            call.header("b3"),
            Some(format!("{TRACE}-{parent}-1-{app_parent}").as_str()),
            "the B3 parent is the span the application was given"
        );
    }
    assert_eq!(parents.len(), CALLS, "three calls, three parent ids");

    let continued = "wasmesh_trace_propagation_requests_total{context=\"continued\",format=\"w3c\",sampled=\"true\"}";
    let stats = outbound.stats_prometheus().unwrap();
    assert!(stats.contains(&format!("{continued} {CALLS}")), "{stats}");
    let stats = inbound.stats_prometheus().unwrap();
    assert!(stats.contains(&format!("{continued} 1")), "{stats}");
}

#[test]
fn an_invalid_or_repeated_traceparent_restarts_the_trace_in_envoy() {
    let app = EchoServer::start().unwrap();
    let inbound = inbound(&app);
    let address = inbound.listener("inbound").unwrap();
    let uppercase = TRACEPARENT.to_uppercase();
    for headers in [
        vec![("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],
        vec![("traceparent", uppercase.as_str())],
        vec![(
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    ] {
        let mut headers = headers;
        headers.push(("tracestate", "caller=1"));
        let response = http::get(address, "/", &headers).unwrap();
        assert_eq!(response.status, 200);
        let echoed = response.json().unwrap();
        let received: Vec<&str> = echoed["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pair| pair[0] == "traceparent")
            .map(|pair| pair[1].as_str().unwrap())
            .collect();
        assert_eq!(received.len(), 1, "exactly one traceparent: {received:?}");
        assert!(!received[0].contains(TRACE), "{received:?}");
        assert!(
            received[0].ends_with("-03"),
            "random and sampled: {received:?}"
        );
        assert_eq!(response.header("x-trace-id"), Some(&received[0][3..35]));
    }
    for request in app.requests() {
        assert!(request.header_all("tracestate").is_empty());
    }
    let invalid = "wasmesh_trace_propagation_requests_total{context=\"invalid\",format=\"none\",sampled=\"true\"} 3";
    let stats = inbound.stats_prometheus().unwrap();
    assert!(stats.contains(invalid), "{stats}");
}

#[test]
fn the_bundle_runs_the_filter_as_a_chain_stage() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("trace-propagation-inbound.yaml")
        .unwrap()
        .replace(
            "dist/trace-propagation.wasm",
            "dist/wasmesh.wasm",
        )
        .replace(
            "value: |\n                    {\n",
            "value: |\n                    {\"chain\": [{\"name\": \"trace-propagation\", \"config\": {\n",
        )
        .replace(
            "\n                    }\n                # If",
            "\n                    }}]}\n                # If",
        )
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let response = http::get(
        envoy.listener("inbound").unwrap(),
        "/",
        &[("traceparent", TRACEPARENT), ("x-b3-sampled", "0")],
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.header("x-trace-id"), Some(TRACE));
    let request = &app.requests()[0];
    let (trace_id, parent, _) = traceparent(request);
    assert_eq!(trace_id, TRACE);
    assert_ne!(parent, CALLER_PARENT);
    assert!(
        request.header_all("x-b3-sampled").is_empty(),
        "stale B3 removed"
    );
    assert_eq!(
        request.header("b3"),
        Some(format!("{TRACE}-{parent}-1-{CALLER_PARENT}").as_str())
    );
}

#[test]
fn the_trace_id_reaches_the_client_on_envoys_own_error_replies() {
    // A port nothing listens on: the router answers 503 itself.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = EnvoyConfig::from_file("trace-propagation-inbound.yaml")
        .unwrap()
        .upstream(8000, closed_port);
    let envoy = Envoy::start(&config).unwrap();
    let response = http::get(
        envoy.listener("inbound").unwrap(),
        "/",
        &[("traceparent", TRACEPARENT)],
    )
    .unwrap();
    assert_eq!(response.status, 503, "{}", response.body_str());
    assert_eq!(response.header("x-trace-id"), Some(TRACE));
}

/// `trace-propagation-routes.yaml`: one listener; route `public` restarts traces and
/// samples 1%, `/healthz` is never sampled, route `api` continues the caller's trace.
fn routes_config(app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("trace-propagation-routes.yaml")
        .unwrap()
        .upstream(8000, app.port())
}

#[test]
fn routes_of_one_listener_continue_or_restart_the_trace() {
    let app = EchoServer::start().unwrap();
    let config = routes_config(&app);
    let validation = Envoy::validate(&config).unwrap();
    assert!(validation.contains("OK"), "{validation}");
    let envoy = Envoy::start(&config).unwrap();
    let gateway = envoy.listener("gateway").unwrap();
    let headers = [
        ("traceparent", TRACEPARENT),
        ("tracestate", "caller=1"),
        ("baggage", "user=alice"),
    ];
    let paths = ["/api/items", "/public/page", "/healthz"];
    let mut echoed = Vec::new();
    for path in paths {
        let response = http::get(gateway, path, &headers).unwrap();
        assert_eq!(response.status, 200, "{path}: {}", response.body_str());
        echoed.push(response.header("x-trace-id").map(str::to_owned));
    }
    let requests = app.requests();
    assert_eq!(requests.len(), paths.len());

    // Route `api` (no entry matches it): the caller's trace and decision, its baggage.
    let api = &requests[0];
    assert_eq!(api.path, "/api/items");
    let (trace_id, parent, flags) = traceparent(api);
    assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(parent, CALLER_PARENT);
    assert_eq!(api.header_all("tracestate"), ["caller=1"]);
    assert_eq!(api.header_all("baggage"), ["user=alice"]);
    assert_eq!(echoed[0].as_deref(), Some(TRACE));

    // Route `public`: a new trace, the caller's context only as the `edge` entry, the
    // caller's decision ignored (1%: random-trace-id flag, sampled or not), no baggage.
    let public = &requests[1];
    assert_eq!(public.path, "/public/page");
    let (trace_id, _, flags) = traceparent(public);
    assert_ne!(trace_id, TRACE);
    let public_sampled = match flags.as_str() {
        "02" => "false",
        "03" => "true",
        other => panic!("random-trace-id flag expected: {other}"),
    };
    assert_eq!(
        public.header_all("tracestate"),
        [format!("edge={TRACEPARENT}").as_str()]
    );
    assert!(public.header_all("baggage").is_empty());
    assert_eq!(echoed[1].as_deref(), Some(trace_id.as_str()));

    // `/healthz`, matched on its path: the caller's trace, never sampled.
    let health = &requests[2];
    let (trace_id, _, flags) = traceparent(health);
    assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE, "00"));
    assert_eq!(health.header_all("baggage"), ["user=alice"]);

    let counter = |context: &str, sampled: &str| {
        format!("wasmesh_trace_propagation_requests_total{{context=\"{context}\",format=\"w3c\",sampled=\"{sampled}\"}}")
    };
    let stats = envoy.stats_prometheus().unwrap();
    assert!(
        stats.contains(&format!("{} 1", counter("continued", "false"))),
        "{stats}"
    );
    let restarted = counter("restarted", public_sampled);
    assert!(stats.contains(&format!("{restarted} 1")), "{stats}");
}

#[test]
fn a_bad_route_override_is_refused_with_its_json_path() {
    let app = EchoServer::start().unwrap();
    for (from, to, expected) in [
        (
            r#""sampling": {"probability": 0, "trust_incoming": false}}"#,
            r#""sampling": {"probability": 1.5, "trust_incoming": false}}"#,
            "trace-propagation: config.routes[1].sampling.probability: must be between 0.0 and 1.0",
        ),
        (
            r#""restart_tracestate_key": "edge","#,
            r#""restart_tracestate_key": "Edge","#,
            "trace-propagation: config.routes[0].restart_tracestate_key: not a valid tracestate key",
        ),
    ] {
        let config = routes_config(&app).replace(from, to);
        let log = Envoy::start_expect_failure(&config).unwrap();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("trace-propagation: config"))
            .collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains("[critical][wasm]"), "{}", lines[0]);
        let (_, message) = lines[0].split_once("wasm log: ").expect("wasm log prefix");
        assert!(message.starts_with(expected), "{message}");
        assert!(
            log.contains("Unable to create Wasm plugin trace-propagation"),
            "{log}"
        );
    }
}
