//! The demo mesh of `make run` (examples/mesh), started as the `mesh` binary starts it but
//! on free ports: front -> a -> b and a -> c, one Envoy per workload, mutual TLS with
//! SPIFFE certificates made at start-up, and all four filters.
//!
//! One request through the mesh keeps one trace with a new parent id at every hop; c's
//! sidecar denies what its policy does not allow; the edge rejects a hostile path; every
//! sidecar counts requests by source and destination service. And Envoy accepts every
//! configuration of the mesh as checked in, which is how docker-compose.yaml runs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mesh::topology::{self, CONFIG_CERT_DIR};
use mesh::{Mesh, Ports};
use serde_json::Value;
use wasmesh_e2e::{http, paths, Envoy, EnvoyConfig};

/// What a client outside the mesh sends: the edge must not continue it.
const CLIENT_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CLIENT_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// How long stats and access log lines may take to appear after a response.
const SETTLE: Duration = Duration::from_secs(5);

/// The values of header `name` in an application's JSON answer
/// (`"headers": ["name: value", ...]`).
fn header_values<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
    answer["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no headers in {answer}"))
        .iter()
        .filter_map(|field| field.as_str()?.split_once(": "))
        .filter(|(found, _)| *found == name)
        .map(|(_, value)| value)
        .collect()
}

/// The single value of header `name` the application received.
fn header<'a>(answer: &'a Value, name: &str) -> &'a str {
    let values = header_values(answer, name);
    assert_eq!(values.len(), 1, "one {name} in {answer}");
    values[0]
}

/// (trace id, parent id) of a version-00 sampled `traceparent`.
fn trace_and_parent(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00", "{traceparent}");
    assert!(
        fields[3] == "01" || fields[3] == "03",
        "sampled: {traceparent}"
    );
    (fields[1].to_owned(), fields[2].to_owned())
}

/// The call an application made to `service`, with its answer.
fn call<'a>(answer: &'a Value, service: &str) -> &'a Value {
    answer["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|call| call["service"] == service)
        .unwrap_or_else(|| panic!("no call to {service} in {answer}"))
}

/// The sum of the samples of `metric` whose labels include all of `labels`.
fn metric_sum(prometheus: &str, metric: &str, labels: &[(&str, &str)]) -> u64 {
    prometheus
        .lines()
        .filter_map(|line| line.strip_prefix(metric)?.strip_prefix('{'))
        .filter_map(|line| line.rsplit_once("} "))
        .filter(|(found, _)| {
            let found: Vec<&str> = found.split(',').collect();
            labels
                .iter()
                .all(|(name, value)| found.contains(&format!("{name}=\"{value}\"").as_str()))
        })
        .map(|(_, value)| value.trim().parse::<u64>().unwrap())
        .sum()
}

/// Waits until `workload`'s Envoy counts `expected` requests with `labels` in
/// `wasmesh_service_requests_total`.
fn assert_requests(mesh: &Mesh, workload: &str, labels: &[(&str, &str)], expected: u64) {
    let envoy = mesh.envoy(workload).unwrap();
    let deadline = Instant::now() + SETTLE;
    loop {
        let stats = envoy.stats_prometheus().unwrap();
        let found = metric_sum(&stats, "wasmesh_service_requests_total", labels);
        if found == expected {
            return;
        }
        if Instant::now() > deadline {
            let lines: Vec<&str> = stats
                .lines()
                .filter(|l| l.starts_with("wasmesh_service_requests_total"))
                .collect();
            panic!(
                "{workload}: {expected} requests with {labels:?} expected, found {found}:\n{}",
                lines.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the access log has `count` lines containing `needle`; returns them.
fn access_log_lines(mesh: &Mesh, needle: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let log = mesh.access_log();
        let lines: Vec<String> = log
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            assert_eq!(lines.len(), count, "{count} lines with {needle} in\n{log}");
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (workload, listener) of an access log line: `HH:MM:SS.mmm <workload> <listener> ...`.
fn hop(line: &str) -> (String, String) {
    let mut words = line.split_whitespace().skip(1);
    let workload = words.next().unwrap().to_owned();
    let listener = words.next().unwrap().to_owned();
    (workload, listener)
}

/// One mesh for the behaviour checks (starting one takes seconds).
#[test]
fn the_demo_mesh() {
    let mesh = Mesh::start(Ports::Any).unwrap();
    one_request_crosses_the_mesh_on_one_trace_and_every_sidecar_counts_it(&mesh);
    c_denies_what_its_policy_does_not_allow(&mesh);
    cs_reports_route_has_a_policy_of_its_own(&mesh);
    the_edge_rejects_a_hostile_path(&mesh);
}

fn one_request_crosses_the_mesh_on_one_trace_and_every_sidecar_counts_it(mesh: &Mesh) {
    let edge = mesh.edge().unwrap();

    let response = http::get(edge, "/hello", &[("traceparent", CLIENT_TRACEPARENT)]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let a = response.json().unwrap();
    let b = &call(&a, "b")["body"];
    let c = &call(&a, "c")["body"];
    assert_eq!(
        (a["service"].as_str(), a["path"].as_str()),
        (Some("a"), Some("/hello"))
    );
    assert_eq!(call(&a, "b")["status"], 200, "{a}");
    assert_eq!(call(&a, "c")["status"], 200, "{a}");
    assert_eq!(
        (b["path"].as_str(), c["path"].as_str()),
        (Some("/api"), Some("/items/1"))
    );

    // Every application sees the trace the edge started (not the client's), each with the
    // parent id its own inbound sidecar made.
    let trace_id = response.header("x-trace-id").unwrap().to_owned();
    assert_ne!(
        trace_id, CLIENT_TRACE_ID,
        "the edge restarts outside traces"
    );
    let mut parents = HashSet::new();
    for answer in [&a, b, c] {
        let (trace, parent) = trace_and_parent(header(answer, "traceparent"));
        assert_eq!(trace, trace_id, "{answer}");
        parents.insert(parent);
        assert_eq!(
            header(answer, "tracestate"),
            format!("edge={CLIENT_TRACEPARENT}"),
            "the client's context is kept as the edge's tracestate entry"
        );
    }
    assert_eq!(parents.len(), 3, "a, b and c each got their own parent id");
    let request_id = header(&a, "x-request-id");
    assert_eq!(header(b, "x-request-id"), request_id);
    assert_eq!(header(c, "x-request-id"), request_id);

    // Identities come from the certificates: a was called by front, b and c by a.
    assert_eq!(header(&a, "x-wasmesh-caller"), "front");
    assert_eq!(header(b, "x-wasmesh-caller"), "a");
    assert_eq!(header(c, "x-wasmesh-caller"), "a");
    assert!(
        header(b, "x-forwarded-client-cert").ends_with("URI=spiffe://wasmesh.local/ns/demo/sa/a")
    );

    // Every hop's access log line has the trace id, each with its own parent id; the
    // inbound lines show the parent ids the applications saw.
    let lines = access_log_lines(mesh, &format!("traceparent=00-{trace_id}-"), 6);
    let mut hops: Vec<(String, String)> = lines.iter().map(|line| hop(line)).collect();
    hops.sort();
    let expected: Vec<(String, String)> = [
        ("a", "inbound"),
        ("a", "outbound"),
        ("a", "outbound"),
        ("b", "inbound"),
        ("c", "inbound"),
        ("front", "edge"),
    ]
    .iter()
    .map(|(w, l)| ((*w).to_owned(), (*l).to_owned()))
    .collect();
    assert_eq!(hops, expected, "{lines:#?}");
    let logged_parents: HashSet<String> = lines
        .iter()
        .map(|line| {
            let at = line.find("traceparent=").unwrap() + "traceparent=".len();
            trace_and_parent(line[at..].split_whitespace().next().unwrap()).1
        })
        .collect();
    assert_eq!(
        logged_parents.len(),
        6,
        "six hops, six parent ids: {lines:#?}"
    );
    assert!(parents.is_subset(&logged_parents), "{parents:?} {lines:#?}");

    let ok = ("response_code", "200");
    let to = |reporter, source, destination| {
        [
            ("reporter", reporter),
            ("source_service", source),
            ("destination_service", destination),
            ("connection_security_policy", "mutual_tls"),
            ok,
        ]
    };
    assert_requests(mesh, "front", &to("source", "front", "a"), 1);
    assert_requests(mesh, "a", &to("destination", "front", "a"), 1);
    assert_requests(mesh, "a", &to("source", "a", "b"), 1);
    assert_requests(mesh, "a", &to("source", "a", "c"), 1);
    assert_requests(mesh, "b", &to("destination", "a", "b"), 1);
    assert_requests(mesh, "c", &to("destination", "a", "c"), 1);
}

fn c_denies_what_its_policy_does_not_allow(mesh: &Mesh) {
    let edge = mesh.edge().unwrap();

    // a may GET /items/** on c, nothing else: c's sidecar answers 403 itself.
    let allowed = http::get(edge, "/call/c/items/7", &[]).unwrap();
    assert_eq!(allowed.status, 200, "{}", allowed.body_str());
    for (method, path, rule) in [
        ("GET", "/call/c/admin", "unlisted_endpoint"),
        ("POST", "/call/c/items/7", "unlisted_endpoint"),
    ] {
        let denied = http::request(edge, &http::build_request(method, path, &[], b"")).unwrap();
        assert_eq!(denied.status, 403, "{method} {path}: {}", denied.body_str());
        let answer = denied.json().unwrap();
        let forwarded = call(&answer, "c");
        assert_eq!(forwarded["status"], 403, "{answer}");
        assert_eq!(forwarded["body"]["error"], "access_denied", "{answer}");
        assert_eq!(forwarded["body"]["rule"], rule, "{answer}");
    }
    // The same, straight through a's outbound sidecar, as a's application would call.
    let denied = http::get(mesh.outbound("a").unwrap(), "/admin", &[("host", "c")]).unwrap();
    assert_eq!(denied.status, 403, "{}", denied.body_str());
    assert_eq!(denied.json().unwrap()["error"], "access_denied");
    let denials = access_log_lines(mesh, "wasmesh_access_control_denied", 3);
    assert!(
        denials
            .iter()
            .all(|line| hop(line) == ("c".to_owned(), "inbound".to_owned())
                && line.contains("peer=spiffe://wasmesh.local/ns/demo/sa/a")),
        "{denials:#?}"
    );
    let denied_at_c = [
        ("reporter", "destination"),
        ("source_service", "a"),
        ("destination_service", "c"),
        ("response_code", "403"),
    ];
    assert_requests(mesh, "c", &denied_at_c, 3);
}

/// c's route `c-reports` has its own access-control rules (a `routes` entry in c.yaml):
/// a may POST there, which the listener's rules refuse everywhere else.
fn cs_reports_route_has_a_policy_of_its_own(mesh: &Mesh) {
    let edge = mesh.edge().unwrap();
    for (method, path, status) in [
        ("POST", "/call/c/reports/daily", 200),
        ("GET", "/call/c/reports/daily", 200),
        // On c's other route, POST is still refused.
        ("POST", "/call/c/items/7", 403),
    ] {
        let response = http::request(edge, &http::build_request(method, path, &[], b"")).unwrap();
        let answer = response.json().unwrap();
        assert_eq!(
            call(&answer, "c")["status"],
            status,
            "{method} {path}: {answer}"
        );
    }
    let allowed = [
        ("reporter", "destination"),
        ("source_service", "a"),
        ("destination_service", "c"),
        ("response_code", "200"),
    ];
    assert!(
        metric_sum(
            &mesh.envoy("c").unwrap().stats_prometheus().unwrap(),
            "wasmesh_service_requests_total",
            &allowed
        ) >= 3
    );
}

fn the_edge_rejects_a_hostile_path(mesh: &Mesh) {
    // An escaped slash never gets past the edge.
    let edge = mesh.edge().unwrap();
    let a_inbound = "http.inbound.downstream_rq_total";
    let a_before = mesh.envoy("a").unwrap().stat(a_inbound).unwrap();
    let rejected = http::get(edge, "/call/c/items%2F..%2Fadmin", &[]).unwrap();
    assert_eq!(rejected.status, 400, "{}", rejected.body_str());
    assert_eq!(
        rejected.json().unwrap(),
        serde_json::json!({"error": "bad_request", "rule": "escaped_slash"})
    );
    let rejections = access_log_lines(mesh, "header_normalization", 1);
    assert_eq!(hop(&rejections[0]), ("front".to_owned(), "edge".to_owned()));
    assert_eq!(mesh.envoy("a").unwrap().stat(a_inbound), Some(a_before));
    let stats = mesh.envoy("front").unwrap().stats_prometheus().unwrap();
    assert_eq!(
        metric_sum(
            &stats,
            "wasmesh_header_normalization_rejected_total",
            &[("rule", "escaped_slash")]
        ),
        1,
        "{stats}"
    );
}

#[test]
fn envoy_validates_every_mesh_config_as_checked_in() {
    let certs = std::env::temp_dir().join(format!("wasmesh-mesh-validate-{}", std::process::id()));
    std::fs::create_dir_all(&certs).unwrap();
    mesh::certs::generate(&certs, &topology::workloads()).unwrap();
    let dir = paths::repo_root().join(topology::CONFIG_DIR);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = topology::workloads()
        .iter()
        .map(|w| format!("{w}.yaml"))
        .collect();
    expected.sort();
    assert_eq!(
        files,
        expected,
        "one configuration per workload in {}",
        dir.display()
    );

    // docker-compose.yaml runs exactly these files, with the certificates mounted where
    // the files read them.
    let compose =
        std::fs::read_to_string(paths::repo_root().join("examples/mesh/docker-compose.yaml"))
            .unwrap();
    for workload in topology::workloads() {
        let file = topology::config_file(workload);
        assert!(compose.contains(&file), "docker-compose.yaml runs {file}");
    }
    assert!(compose.contains(&format!("certs:{CONFIG_CERT_DIR}:ro")));
    // ... and the applications as the topology describes them.
    for service in &topology::SERVICES {
        let mut args = format!(
            "[/build/target/release/mesh-app, --name, {}, --listen, \"127.0.0.1:{}\"",
            service.name, service.app_port
        );
        if let Some(port) = service.outbound_port {
            args.push_str(&format!(", --outbound, \"127.0.0.1:{port}\""));
        }
        for call in service.calls {
            args.push_str(&format!(", --call, \"{call}\""));
        }
        args.push(']');
        assert!(compose.contains(&args), "docker-compose.yaml runs {args}");
    }

    let (dir, certs_dir) = (&dir, &certs);
    let outcomes: Vec<(String, Result<String, String>)> = std::thread::scope(|scope| {
        let validations: Vec<_> = files
            .iter()
            .map(|file| {
                scope.spawn(move || {
                    let config = EnvoyConfig::from_file(dir.join(file))
                        .unwrap()
                        .keep_ports()
                        .replace(CONFIG_CERT_DIR, certs_dir.display().to_string());
                    (file.clone(), Envoy::validate(&config))
                })
            })
            .collect();
        validations.into_iter().map(|v| v.join().unwrap()).collect()
    });
    std::fs::remove_dir_all(&certs).unwrap();
    for (file, outcome) in outcomes {
        let output = outcome.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(output.contains("OK"), "{file}: {output}");
    }
}
