//! Rollouts that never 500 (docs/delivery.md), with wasmesh-cp and real Envoys
//! on envoy-test-configs/delivery-ecds-ads.yaml:
//!
//! * the pitfall reproduced: an ECDS filter without `default_config` answers
//!   500 when its first configuration comes late or is refused, and the
//!   shipped configuration (a default, listener warming) does not;
//! * a canary under load on three nodes: one node first, widened only once it
//!   ACKed, then everyone, then a rollback, then a canary that a node NACKs and
//!   that halts, with no failed request and per-node push-to-ACK latency.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmesh_e2e::control_plane::{self, ControlPlane};
use wasmesh_e2e::http::{self, Connection};
use wasmesh_e2e::modules::{with_custom_section, with_unknown_import};
use wasmesh_e2e::{dist_dir, EchoServer, Envoy, EnvoyConfig, Response};

/// How long a push may take to be ACKed or NACKed.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);
/// The greeting of delivery-ecds-ads.yaml's default_config.
const DEFAULT_GREETING: &str = "hello (default config)";

// ---- modules and declarative files ---------------------------------------------------------

/// A control plane with `hello-v1.wasm`, `hello-v2.wasm` (another module)
/// and `hello-corrupt.wasm` in its directory, serving `declaration`.
fn start_control_plane(declaration: &str) -> ControlPlane {
    let dir = ControlPlane::create_dir().unwrap();
    let module = std::fs::read(dist_dir().join("hello.wasm")).unwrap();
    let files = [
        ("hello-v1.wasm", module.clone()),
        (
            "hello-v2.wasm",
            with_custom_section(&module, "wasmesh.test", b"v2"),
        ),
        ("hello-corrupt.wasm", with_unknown_import(&module).unwrap()),
        ("wasmesh-cp.json", declaration.as_bytes().to_vec()),
    ];
    for (name, bytes) in files {
        control_plane::write_atomically(&dir.join(name), &bytes).unwrap();
    }
    ControlPlane::start_in(dir, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// The declarative file: `hello` with versions v1, v2 and corrupt, `serve`,
/// and `canary` (JSON) if given.
fn declaration(serve: &str, canary: Option<&str>) -> String {
    let version = |label: &str, wasm: &str| {
        format!(
            r#""{label}": {{"wasm": "{wasm}", "config": {{"greeting": "hello {label}", "reply_path": "/hello"}}}}"#
        )
    };
    let canary = canary.map_or_else(String::new, |c| format!(r#", "canary": {c}"#));
    format!(
        r#"{{"filters": {{"hello": {{
            "versions": {{{}, {}, {}}},
            "serve": "{serve}"{canary}
        }}}}}}"#,
        version("v1", "hello-v1.wasm"),
        version("v2", "hello-v2.wasm"),
        version("corrupt", "hello-corrupt.wasm"),
    )
}

// ---- Envoy ---------------------------------------------------------------------------------

/// delivery-ecds-ads.yaml as `node` in `cluster`, with its control plane at `grpc`.
fn shipped_config(app: &EchoServer, grpc: SocketAddr, node: &str, cluster: &str) -> EnvoyConfig {
    EnvoyConfig::from_file("delivery-ecds-ads.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace("port_value: 18000", format!("port_value: {}", grpc.port()))
        .replace("id: node-a", format!("id: {node}"))
        .replace("cluster: wasmesh-demo", format!("cluster: {cluster}"))
}

/// The same without `default_config` (and so without
/// `apply_default_config_without_warming`): the pitfall.
fn config_without_default(app: &EchoServer, grpc: SocketAddr, node: &str) -> EnvoyConfig {
    let shipped = shipped_config(app, grpc, node, "wasmesh-demo");
    let lines: Vec<&str> = shipped.original().lines().collect();
    let first = lines
        .iter()
        .position(|l| l.trim_start().starts_with("default_config:"))
        .expect("default_config in delivery-ecds-ads.yaml");
    let last = lines
        .iter()
        .position(|l| {
            l.trim_start()
                .starts_with("apply_default_config_without_warming:")
        })
        .expect("apply_default_config_without_warming in delivery-ecds-ads.yaml");
    assert!(first < last);
    let mut kept = lines[..first].to_vec();
    kept.extend_from_slice(&lines[last + 1..]);
    let yaml = kept.join("\n");
    assert!(!yaml
        .lines()
        .any(|l| l.trim_start().starts_with("default_config:")));
    EnvoyConfig::from_yaml(yaml)
        .upstream(8000, app.port())
        .replace("port_value: 18000", format!("port_value: {}", grpc.port()))
        .replace("id: node-a", format!("id: {node}"))
}

/// `GET /hello` (answered by the filter itself), and `GET /api` (passed to the
/// application): the status of each, and the greeting when 200.
fn probe(envoy: &Envoy) -> [(u16, Option<String>); 2] {
    let ingress = envoy.listener("ingress").unwrap();
    let hello = http::get(ingress, "/hello", &[]).unwrap();
    let api = http::get(ingress, "/api", &[]).unwrap();
    let hello_greeting = hello
        .json()
        .ok()
        .and_then(|json| json["greeting"].as_str().map(str::to_string));
    [
        (hello.status, hello_greeting),
        (api.status, upstream_greeting(&api)),
    ]
}

fn greeting(envoy: &Envoy) -> String {
    match probe(envoy) {
        [(200, Some(greeting)), _] => greeting,
        other => panic!("/hello: {other:?}"),
    }
}

/// The `x-hello` header the application received (set by the filter).
fn upstream_greeting(response: &Response) -> Option<String> {
    let json = response.json().ok()?;
    json["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == "x-hello")
        .and_then(|pair| pair[1].as_str().map(str::to_string))
}

fn wait_in_sync(cp: &ControlPlane, node: &str, version: &str) -> Value {
    cp.wait_for_node_filter(node, "hello", PUSH_TIMEOUT, |state| {
        state["state"] == "in_sync" && state["acked"]["version"] == version
    })
    .unwrap()
}

/// The canary of `hello` in the control plane's status.
fn canary_status(cp: &ControlPlane) -> Value {
    cp.status().unwrap()["filters"][0]["canary"].clone()
}

fn wait_for_canary(cp: &ControlPlane, state: &str) -> Value {
    let deadline = Instant::now() + PUSH_TIMEOUT;
    loop {
        let canary = canary_status(cp);
        if canary["state"] == state {
            return canary;
        }
        assert!(
            Instant::now() < deadline,
            "canary not {state}: {canary}\n{}",
            cp.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The history of `node` as (version, result, at, latency_ms).
fn history(cp: &ControlPlane, node: &str) -> Vec<(String, String, String, Option<f64>)> {
    let status = cp.status().unwrap();
    let node = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == node)
        .unwrap()
        .clone();
    node["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
                e["at"].as_str().unwrap().to_string(),
                e["latency_ms"].as_f64(),
            )
        })
        .collect()
}

// ---- the pitfall ---------------------------------------------------------------------------

#[test]
fn a_late_or_refused_first_config_answers_500_without_a_default_but_not_as_shipped() {
    let app = EchoServer::start().unwrap();
    // The control plane does not have the filter yet: the listener is there
    // before its filter configuration.
    let cp = start_control_plane(r#"{"filters": {}}"#);

    let started = Instant::now();
    let bare = Envoy::start(&config_without_default(&app, cp.grpc(), "bare")).unwrap();
    let bare_ready = started.elapsed();
    // Without a default: after initial_fetch_timeout the listener serves, and
    // every request through it gets 500, also those for the application.
    let [(hello, _), (api, _)] = probe(&bare);
    assert_eq!((hello, api), (500, 500), "without default_config");
    let response = http::get(bare.listener("ingress").unwrap(), "/api", &[]).unwrap();
    assert!(response.body.is_empty(), "{}", response.body_str());
    assert_eq!(
        cp.node_filter("bare", "hello").unwrap()["state"],
        "undeclared"
    );
    assert!(cp.log().contains("does not have"), "{}", cp.log());

    // As shipped: the same wait, then the default, never a 500.
    let started = Instant::now();
    let shipped =
        Envoy::start(&shipped_config(&app, cp.grpc(), "shipped", "wasmesh-demo")).unwrap();
    let shipped_ready = started.elapsed();
    let expected = Some(DEFAULT_GREETING.to_string());
    assert_eq!(
        probe(&shipped),
        [(200, expected.clone()), (200, expected)],
        "as shipped"
    );

    // The filter arrives: both serve it.
    cp.write_declaration(&declaration("v1", None)).unwrap();
    for node in ["bare", "shipped"] {
        wait_in_sync(&cp, node, "v1");
    }
    assert_eq!(greeting(&bare), "hello v1");
    assert_eq!(greeting(&shipped), "hello v1");

    // A first push that Envoy refuses: without a default the listener serves
    // at once, with no filter configuration: 500. As shipped: the default.
    cp.write_declaration(&declaration("corrupt", None)).unwrap();
    let deadline = Instant::now() + PUSH_TIMEOUT;
    while cp.status().unwrap()["filters"][0]["serve"] != "corrupt" {
        assert!(Instant::now() < deadline, "declaration not reloaded");
        std::thread::sleep(Duration::from_millis(25));
    }
    let bare_nack = Envoy::start(&config_without_default(&app, cp.grpc(), "bare-nack")).unwrap();
    let shipped_nack = Envoy::start(&shipped_config(
        &app,
        cp.grpc(),
        "shipped-nack",
        "wasmesh-demo",
    ))
    .unwrap();
    for node in ["bare-nack", "shipped-nack"] {
        cp.wait_for_node_filter(node, "hello", PUSH_TIMEOUT, |s| s["state"] == "rejected")
            .unwrap();
    }
    let [(hello, _), (api, _)] = probe(&bare_nack);
    assert_eq!((hello, api), (500, 500), "refused first push, no default");
    assert_eq!(greeting(&shipped_nack), DEFAULT_GREETING);
    // Nodes that run v1 keep it.
    assert_eq!(greeting(&bare), "hello v1");
    eprintln!(
        "pitfall reproduced: without default_config, 500 after {bare_ready:?} (late config) and \
         at once after a refused first push; as shipped, the default after {shipped_ready:?}"
    );
}

#[test]
fn access_control_fails_closed_with_503_until_its_policy_arrives() {
    let app = EchoServer::start().unwrap();
    let cp = start_control_plane(r#"{"filters": {}}"#);
    let config = EnvoyConfig::from_file("delivery-ecds-fail-closed.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace(
            "port_value: 18000",
            format!("port_value: {}", cp.grpc().port()),
        );
    let started = Instant::now();
    let envoy = Envoy::start(&config).unwrap();
    let waited = started.elapsed();
    let ingress = envoy.listener("ingress").unwrap();
    // No policy yet: denied with 503, not 500, and nothing reaches the application.
    for path in ["/api", "/admin", "/"] {
        let response = http::get(ingress, path, &[]).unwrap();
        assert_eq!(response.status, 503, "{path}: {}", response.body_str());
        assert_eq!(response.body_str(), "fault filter abort");
    }
    assert!(app.requests().is_empty(), "a request got through");
    assert_eq!(
        cp.node_filter("node-a", "access-control").unwrap()["state"],
        "undeclared"
    );

    // The policy arrives: it decides.
    let module = std::fs::read(dist_dir().join("access-control.wasm")).unwrap();
    cp.write_file("access-control.wasm", &module).unwrap();
    cp.write_declaration(
        r#"{"filters": {"access-control": {
            "versions": {"v1": {"wasm": "access-control.wasm", "config": {
                "identity": {"sources": ["source_address"],
                             "source_addresses": [{"service": "frontend", "cidrs": ["127.0.0.0/8"]}]},
                "rules": [
                    {"name": "no-admin", "action": "deny", "callers": ["frontend"], "paths": [{"prefix": "/admin"}]},
                    {"name": "frontend", "action": "allow", "callers": ["frontend"]}
                ]}}},
            "serve": "v1"
        }}}"#,
    )
    .unwrap();
    cp.wait_for_node_filter("node-a", "access-control", PUSH_TIMEOUT, |s| {
        s["state"] == "in_sync"
    })
    .unwrap();
    assert_eq!(http::get(ingress, "/api", &[]).unwrap().status, 200);
    assert_eq!(http::get(ingress, "/admin", &[]).unwrap().status, 403);
    eprintln!("fail closed: 503 after {waited:?} of warming, until the policy was pushed");
}

// ---- canary, widening, rollback under load -------------------------------------------------

/// One request's outcome: the greeting the application saw, or why it failed.
type Outcome = Result<String, String>;

/// One thread per Envoy, each sending requests one after the other over a
/// keep-alive connection (reopened after an error, which counts as a
/// failure). Bounded in count and time.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Outcome>>>,
}

impl Load {
    const MAX_REQUESTS: usize = 20_000;
    const MAX_TIME: Duration = Duration::from_secs(50);
    const PAUSE: Duration = Duration::from_millis(2);

    fn start(targets: &[SocketAddr]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = targets
            .iter()
            .enumerate()
            .map(|(thread, &target)| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Self::MAX_TIME;
                    let mut outcomes = Vec::new();
                    let mut connection: Option<Connection> = None;
                    while !stop.load(Ordering::Relaxed)
                        && outcomes.len() < Self::MAX_REQUESTS
                        && Instant::now() < deadline
                    {
                        let raw = format!(
                            "GET /load/{thread}/{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                            outcomes.len()
                        );
                        let open = match connection.take() {
                            Some(open) if !open.is_closed() => Ok(open),
                            _ => Connection::open(target),
                        };
                        let outcome = open.and_then(|mut open| {
                            let response = open.send(raw.as_bytes());
                            connection = Some(open);
                            response
                        });
                        outcomes.push(match outcome {
                            Ok(response) if (200..300).contains(&response.status) => {
                                upstream_greeting(&response)
                                    .ok_or_else(|| "no x-hello upstream".to_string())
                            }
                            Ok(response) => Err(format!(
                                "status {}: {}",
                                response.status,
                                response.body_str()
                            )),
                            Err(error) => {
                                connection = None;
                                Err(error)
                            }
                        });
                        std::thread::sleep(Self::PAUSE);
                    }
                    outcomes
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Vec<Vec<Outcome>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect()
    }
}

/// The greetings of one thread, consecutive repeats merged.
fn runs(outcomes: &[Outcome]) -> Vec<(String, usize)> {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for greeting in outcomes.iter().flatten() {
        match runs.last_mut() {
            Some((last, count)) if last == greeting => *count += 1,
            _ => runs.push((greeting.clone(), 1)),
        }
    }
    runs
}

#[test]
fn canary_gated_on_acks_widens_then_rolls_back_under_load_without_a_failed_request() {
    let test_started = Instant::now();
    let app = EchoServer::start().unwrap();
    let cp = start_control_plane(&declaration("v1", None));
    let nodes = [
        ("node-a", "wasmesh-canary"),
        ("node-b", "wasmesh-demo"),
        ("node-c", "wasmesh-demo"),
    ];
    let envoys: Vec<Envoy> = nodes
        .iter()
        .map(|(node, cluster)| {
            let envoy = Envoy::start(&shipped_config(&app, cp.grpc(), node, cluster)).unwrap();
            // The listener warmed until the push: the very first request runs v1.
            assert_eq!(greeting(&envoy), "hello v1", "{node}: first request");
            envoy
        })
        .collect();
    for (node, _) in nodes {
        wait_in_sync(&cp, node, "v1");
    }
    let targets: Vec<SocketAddr> = envoys
        .iter()
        .map(|e| e.listener("ingress").unwrap())
        .collect();
    let load = Load::start(&targets);
    std::thread::sleep(Duration::from_millis(300));

    // 1. Canary: v2 to the wasmesh-canary cluster (node-a) only; the next
    // stage waits for node-a's ACK, then 3 s more.
    let canary = r#"{"version": "v2", "ack_timeout_s": 15, "hold_s": 3,
        "stages": [{"clusters": ["wasmesh-canary"]}, {"all": true}]}"#;
    let phase = Instant::now();
    cp.write_declaration(&declaration("v1", Some(canary)))
        .unwrap();
    wait_in_sync(&cp, "node-a", "v2");
    let canary_acked = phase.elapsed();
    let status = canary_status(&cp);
    assert_eq!(status["state"], "stage", "{status}");
    assert_eq!(status["stage"], 1, "{status}");
    assert_eq!(greeting(&envoys[0]), "hello v2");
    assert_eq!(greeting(&envoys[1]), "hello v1", "widened before hold_s");
    assert_eq!(greeting(&envoys[2]), "hello v1", "widened before hold_s");

    // 2. Gate open (node-a ACKed, hold passed): widened to every node.
    let status = wait_for_canary(&cp, "complete");
    let widened = phase.elapsed();
    assert!(status["reason"].is_null(), "{status}");
    for (index, (node, _)) in nodes.iter().enumerate() {
        wait_in_sync(&cp, node, "v2");
        assert_eq!(greeting(&envoys[index]), "hello v2", "{node}");
    }
    // node-b was sent v2 only after node-a's ACK, and hold_s later.
    let ack_a = history(&cp, "node-a")
        .into_iter()
        .find(|(v, r, _, _)| v == "v2" && r == "ACK")
        .unwrap();
    let sent_b = history(&cp, "node-b")
        .into_iter()
        .find(|(v, r, _, _)| v == "v2" && r == "SENT")
        .unwrap();
    assert!(
        sent_b.2 > ack_a.2,
        "node-b sent v2 at {} before node-a's ACK at {}",
        sent_b.2,
        ack_a.2
    );

    // 3. Promotion (serve v2, no canary) sends nothing: every node has it.
    let events_before: usize = nodes.iter().map(|(n, _)| history(&cp, n).len()).sum();
    cp.write_declaration(&declaration("v2", None)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let events_after: usize = nodes.iter().map(|(n, _)| history(&cp, n).len()).sum();
    assert_eq!(events_after, events_before, "promotion pushed something");

    // 4. Rollback: v1 pushed again to every node.
    let phase = Instant::now();
    cp.write_declaration(&declaration("v1", None)).unwrap();
    for (index, (node, _)) in nodes.iter().enumerate() {
        wait_in_sync(&cp, node, "v1");
        assert_eq!(greeting(&envoys[index]), "hello v1", "{node}");
    }
    let rolled_back = phase.elapsed();

    // 5. A canary the first node NACKs halts: nobody else is sent it, and
    // node-a keeps v1.
    let bad = r#"{"version": "corrupt", "ack_timeout_s": 15,
        "stages": [{"clusters": ["wasmesh-canary"]}, {"all": true}]}"#;
    cp.write_declaration(&declaration("v1", Some(bad))).unwrap();
    let status = wait_for_canary(&cp, "halted");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("node-a NACKed corrupt"),
        "{status}"
    );
    std::thread::sleep(Duration::from_millis(300));
    for (index, (node, _)) in nodes.iter().enumerate() {
        assert_eq!(greeting(&envoys[index]), "hello v1", "{node}");
        let state = cp.node_filter(node, "hello").unwrap();
        assert_eq!(state["acked"]["version"], "v1", "{node}: {state}");
        let corrupt_sent = history(&cp, node)
            .iter()
            .any(|(v, r, _, _)| v == "corrupt" && r == "SENT");
        assert_eq!(corrupt_sent, *node == "node-a", "{node}");
    }
    let outcomes = load.finish();

    // No failed request; each node went v1 -> v2 -> v1.
    let total: usize = outcomes.iter().map(Vec::len).sum();
    let failures: Vec<&String> = outcomes
        .iter()
        .flatten()
        .filter_map(|o| o.as_ref().err())
        .collect();
    eprintln!(
        "rollout under load: {total} requests, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        failures.first()
    );
    for (thread, results) in outcomes.iter().enumerate() {
        let runs = runs(results);
        let greetings: Vec<&str> = runs.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(
            greetings,
            ["hello v1", "hello v2", "hello v1"],
            "{}: {runs:?}",
            nodes[thread].0
        );
        eprintln!("  {}: {runs:?}", nodes[thread].0);
    }

    // Push-to-ACK latency per node, as the status endpoint reports it.
    let status = cp.status().unwrap();
    eprintln!(
        "phases: canary ACKed {canary_acked:?} after the file changed, complete after {widened:?}, \
         rolled back in {rolled_back:?}"
    );
    for node in status["nodes"].as_array().unwrap() {
        let latency = &node["ack_latency_ms"];
        let pushes: Vec<String> = history(&cp, node["id"].as_str().unwrap())
            .iter()
            .filter(|(_, r, _, _)| r == "ACK" || r == "NACK")
            .map(|(v, r, _, ms)| format!("{r} {v} {:.1} ms", ms.unwrap()))
            .collect();
        eprintln!(
            "  {} ACK latency: {} samples, last {} ms, mean {} ms, max {} ms; {}",
            node["id"].as_str().unwrap(),
            latency["samples"],
            latency["last"],
            latency["mean"],
            latency["max"],
            pushes.join(", ")
        );
        assert!(latency["samples"].as_u64().unwrap() >= 3, "{node}");
        assert!(latency["max"].as_f64().unwrap() > 0.0, "{node}");
        assert!(latency["max"].as_f64().unwrap() < PUSH_TIMEOUT.as_secs_f64() * 1000.0);
        let filter = &node["filters"][0];
        assert!(
            filter["acked"]["latency_ms"].as_f64().unwrap() > 0.0,
            "{node}"
        );
    }
    assert!(cp.log().contains("ACK hello v2"), "{}", cp.log());
    assert!(cp.log().contains("widening to stage 2/2"), "{}", cp.log());
    eprintln!("rollout test: {:?} in all", test_started.elapsed());
}
