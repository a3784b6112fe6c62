//! Delivering filters over ECDS on ADS with wasmesh-cp
//! (envoy-test-configs/delivery-ecds-ads.yaml): hot swap under load, bad
//! builds refused, canary and rollback, Envoy starting while the control plane
//! is down, and the control plane's command line.
//!
//! The control plane runs as a process (see `wasmesh_e2e::control_plane` for
//! how its binary is found).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmesh_e2e::control_plane::{self, ControlPlane};
use wasmesh_e2e::modules::{with_custom_section, with_unknown_import};
use wasmesh_e2e::{dist_dir, http, EchoServer, Envoy, EnvoyConfig, Response};

/// How long a push may take to be ACKed or NACKed.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);

// ---- modules and declarative files ---------------------------------------------------------

/// `dist/hello.wasm`.
fn hello_module() -> Vec<u8> {
    std::fs::read(dist_dir().join("hello.wasm")).unwrap()
}

/// A declarative file for the `hello` filter with these versions
/// (label, module file, greeting as JSON), `serve`, and `rollouts` (JSON).
fn declaration(versions: &[(&str, &str, &str)], serve: &str, rollouts: &str) -> String {
    let versions: Vec<String> = versions
        .iter()
        .map(|(label, wasm, greeting)| {
            format!(
                r#""{label}": {{"wasm": "{wasm}", "config": {{"greeting": {greeting}, "reply_path": "/hello"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"filters": {{"hello": {{
            "versions": {{{}}},
            "serve": "{serve}",
            "rollouts": {rollouts},
            "failure_policy": "FAIL_CLOSED"
        }}}}}}"#,
        versions.join(", ")
    )
}

/// The usual two versions: v1 and v2 differ in greeting and in module.
const V1_V2: &[(&str, &str, &str)] = &[
    ("v1", "hello-v1.wasm", "\"hello v1\""),
    ("v2", "hello-v2.wasm", "\"hello v2\""),
];

/// Starts wasmesh-cp with `hello-v1.wasm` and `hello-v2.wasm` in its directory.
fn start_control_plane(serve: &str, rollouts: &str) -> ControlPlane {
    let dir = ControlPlane::create_dir().unwrap();
    write_modules(&dir);
    control_plane::write_atomically(
        &dir.join("wasmesh-cp.json"),
        declaration(V1_V2, serve, rollouts).as_bytes(),
    )
    .unwrap();
    ControlPlane::start_in(dir, "127.0.0.1:0".parse().unwrap()).unwrap()
}

fn write_modules(dir: &std::path::Path) {
    let module = hello_module();
    control_plane::write_atomically(&dir.join("hello-v1.wasm"), &module).unwrap();
    let v2 = with_custom_section(&module, "wasmesh.test", b"v2");
    control_plane::write_atomically(&dir.join("hello-v2.wasm"), &v2).unwrap();
}

// ---- Envoy ---------------------------------------------------------------------------------

/// delivery-ecds-ads.yaml as node `node` in `cluster`, with its control plane at `grpc`.
fn ads_config(app: &EchoServer, grpc: SocketAddr, node: &str, cluster: &str) -> EnvoyConfig {
    EnvoyConfig::from_file("delivery-ecds-ads.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace("port_value: 18000", format!("port_value: {}", grpc.port()))
        .replace("id: node-a", format!("id: {node}"))
        .replace("cluster: wasmesh-demo", format!("cluster: {cluster}"))
}

/// `GET /hello`, answered by the hello filter: its greeting.
fn greeting(envoy: &Envoy) -> Result<String, String> {
    let response = http::get(envoy.listener("ingress")?, "/hello", &[])?;
    if response.status != 200 {
        return Err(format!("/hello answered {}", response.status));
    }
    response.json()?["greeting"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no greeting".to_string())
}

fn wait_for_greeting(envoy: &Envoy, expected: &str) {
    let deadline = Instant::now() + PUSH_TIMEOUT;
    loop {
        let seen = greeting(envoy);
        if seen.as_deref() == Ok(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "greeting {seen:?}, expected {expected:?}\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The `x-hello` header the application received.
fn upstream_greeting(response: &Response) -> Option<String> {
    let json = response.json().ok()?;
    json["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == "x-hello")
        .and_then(|pair| pair[1].as_str().map(str::to_string))
}

/// Waits until wasmesh-cp reports that `node` runs `version` of hello.
fn wait_in_sync(cp: &ControlPlane, node: &str, version: &str) -> Value {
    cp.wait_for_node_filter(node, "hello", PUSH_TIMEOUT, |state| {
        state["state"] == "in_sync" && state["acked"]["version"] == version
    })
    .unwrap()
}

// ---- load ----------------------------------------------------------------------------------

/// Threads sending requests through Envoy in a loop, each recording the
/// greeting the application saw per request, or why the request failed.
/// Bounded: every thread stops after `MAX_REQUESTS` requests or `MAX_TIME`.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Result<String, String>>>>,
}

impl Load {
    const MAX_REQUESTS: usize = 20_000;
    const MAX_TIME: Duration = Duration::from_secs(60);

    fn start(ingress: SocketAddr, threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|thread| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Self::MAX_TIME;
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed)
                        && outcomes.len() < Self::MAX_REQUESTS
                        && Instant::now() < deadline
                    {
                        let path = format!("/load/{thread}/{}", outcomes.len());
                        let outcome = match http::get(ingress, &path, &[]) {
                            Ok(response) if response.status == 200 => upstream_greeting(&response)
                                .ok_or_else(|| "no x-hello upstream".to_string()),
                            Ok(response) => Err(format!(
                                "status {}: {}",
                                response.status,
                                response.body_str()
                            )),
                            Err(error) => Err(error),
                        };
                        outcomes.push(outcome);
                    }
                    outcomes
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the threads; returns each thread's outcomes in order.
    fn finish(self) -> Vec<Vec<Result<String, String>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect()
    }
}

/// Checks a load run: no failed request, only `first` then `then` greetings,
/// never `first` again in a thread once it saw `then`. Returns the counts.
fn check_switch(
    outcomes: &[Vec<Result<String, String>>],
    first: &str,
    then: &str,
) -> (usize, usize) {
    let (mut before, mut after) = (0, 0);
    for (thread, results) in outcomes.iter().enumerate() {
        let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            failures.is_empty(),
            "thread {thread}: {} failed requests, first: {:?}",
            failures.len(),
            failures.first()
        );
        let mut switched = false;
        for greeting in results.iter().flatten() {
            if greeting == then {
                switched = true;
                after += 1;
            } else {
                assert_eq!(greeting, first, "thread {thread}: unexpected greeting");
                assert!(!switched, "thread {thread}: {first} again after {then}");
                before += 1;
            }
        }
    }
    (before, after)
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn hot_swap_under_load_moves_to_v2_without_a_failed_request() {
    let app = EchoServer::start().unwrap();
    let cp = start_control_plane("v1", "[]");
    let envoy = Envoy::start(&ads_config(&app, cp.grpc(), "node-a", "wasmesh-demo")).unwrap();
    wait_in_sync(&cp, "node-a", "v1");
    wait_for_greeting(&envoy, "hello v1");

    let load = Load::start(envoy.listener("ingress").unwrap(), 3);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    cp.write_declaration(&declaration(V1_V2, "v2", "[]"))
        .unwrap();
    wait_in_sync(&cp, "node-a", "v2");
    let acked_after = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let outcomes = load.finish();

    let (v1, v2) = check_switch(&outcomes, "hello v1", "hello v2");
    eprintln!("hot swap: {v1} requests on v1, {v2} on v2, 0 failed; ACK {acked_after:?} after the file changed");
    assert!(v1 > 0 && v2 > 0, "v1 {v1}, v2 {v2}");
    for (thread, results) in outcomes.iter().enumerate() {
        assert_eq!(
            results.last().unwrap().as_deref(),
            Ok("hello v2"),
            "thread {thread} did not end on v2"
        );
    }
    // Envoy reports the version the control plane sent.
    let dump = envoy
        .admin_get("/config_dump?resource=ecds_filters")
        .unwrap()
        .json()
        .unwrap();
    let version_info = dump["configs"][0]["version_info"].as_str().unwrap();
    assert!(version_info.starts_with("hello=v2:"), "{version_info}");
}

#[test]
fn bad_builds_are_refused_and_the_last_good_version_keeps_serving() {
    let app = EchoServer::start().unwrap();
    let cp = start_control_plane("v1", "[]");
    let module = hello_module();
    cp.write_file("hello-corrupt.wasm", &with_unknown_import(&module).unwrap())
        .unwrap();
    cp.write_file("not-wasm.wasm", b"this is not a wasm module at all")
        .unwrap();
    let versions: &[(&str, &str, &str)] = &[
        ("v1", "hello-v1.wasm", "\"hello v1\""),
        ("v2", "hello-v2.wasm", "\"hello v2\""),
        ("corrupt", "hello-corrupt.wasm", "\"corrupt\""),
        ("refused", "hello-v1.wasm", "42"),
        ("garbage", "not-wasm.wasm", "\"garbage\""),
    ];
    cp.write_declaration(&declaration(versions, "v1", "[]"))
        .unwrap();
    let envoy = Envoy::start(&ads_config(&app, cp.grpc(), "node-a", "wasmesh-demo")).unwrap();
    wait_in_sync(&cp, "node-a", "v1");
    wait_for_greeting(&envoy, "hello v1");
    let load = Load::start(envoy.listener("ingress").unwrap(), 2);

    // A module Envoy cannot load (an import it lacks) and a configuration the filter
    // refuses: sent, NACKed by Envoy with its error detail, v1 keeps serving.
    for bad in ["corrupt", "refused"] {
        cp.write_declaration(&declaration(versions, bad, "[]"))
            .unwrap();
        let state = cp
            .wait_for_node_filter("node-a", "hello", PUSH_TIMEOUT, |s| {
                s["state"] == "rejected" && s["nacked"]["version"] == bad
            })
            .unwrap();
        let detail = state["nacked"]["error_detail"].as_str().unwrap();
        assert!(detail.contains("Wasm"), "{bad}: error_detail {detail:?}");
        assert_eq!(state["acked"]["version"], "v1");
        assert_eq!(greeting(&envoy).unwrap(), "hello v1", "after {bad}");
    }
    // Envoy's log names the refused field (the SDK's config error).
    assert!(envoy.log().contains("config.greeting"), "{}", envoy.log());

    // A file that is not wasm fails wasmesh-cp's own checks: never sent.
    cp.write_declaration(&declaration(versions, "garbage", "[]"))
        .unwrap();
    let state = cp
        .wait_for_node_filter("node-a", "hello", PUSH_TIMEOUT, |s| s["state"] == "blocked")
        .unwrap();
    assert!(
        state["blocked"]["reason"]
            .as_str()
            .unwrap()
            .contains("not a valid wasm module"),
        "{state}"
    );
    assert_eq!(state["sent"]["version"], "refused", "garbage was not sent");

    // A broken declarative file is refused; the running snapshot stays.
    cp.write_declaration("{\"filters\": ").unwrap();
    let deadline = Instant::now() + PUSH_TIMEOUT;
    while cp.status().unwrap()["declaration"]["reload_error"].is_null() {
        assert!(Instant::now() < deadline, "reload error not reported");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(greeting(&envoy).unwrap(), "hello v1");

    // A good build is accepted after all that.
    cp.write_declaration(&declaration(versions, "v2", "[]"))
        .unwrap();
    wait_in_sync(&cp, "node-a", "v2");
    wait_for_greeting(&envoy, "hello v2");
    std::thread::sleep(Duration::from_millis(300));
    let (v1, v2) = check_switch(&load.finish(), "hello v1", "hello v2");
    eprintln!("bad builds: {v1} requests on v1, {v2} on v2, 0 failed");

    let status = cp.status().unwrap();
    let history: Vec<(String, String)> = status["nodes"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("v1", "SENT"),
        ("v1", "ACK"),
        ("corrupt", "SENT"),
        ("corrupt", "NACK"),
        ("refused", "SENT"),
        ("refused", "NACK"),
        ("garbage", "BLOCKED"),
        ("v2", "SENT"),
        ("v2", "ACK"),
    ]
    .iter()
    .map(|(v, r)| (v.to_string(), r.to_string()))
    .collect();
    assert_eq!(history, expected);
    assert!(cp.log().contains("NACK hello corrupt"), "{}", cp.log());
}

#[test]
fn canary_reaches_only_the_selected_node_and_rolls_back() {
    let app = EchoServer::start().unwrap();
    let cp = start_control_plane("v1", "[]");
    let a = Envoy::start(&ads_config(&app, cp.grpc(), "node-a", "wasmesh-demo")).unwrap();
    let b = Envoy::start(&ads_config(&app, cp.grpc(), "node-b", "wasmesh-canary")).unwrap();
    wait_in_sync(&cp, "node-a", "v1");
    wait_in_sync(&cp, "node-b", "v1");

    let steps = [
        // Canary by node id, rollback, canary by cluster, rollback.
        (r#"[{"version": "v2", "node_ids": ["node-b"]}]"#, "v2"),
        ("[]", "v1"),
        (
            r#"[{"version": "v2", "clusters": ["wasmesh-canary"]}]"#,
            "v2",
        ),
        ("[]", "v1"),
    ];
    for (rollouts, on_b) in steps {
        cp.write_declaration(&declaration(V1_V2, "v1", rollouts))
            .unwrap();
        wait_in_sync(&cp, "node-b", on_b);
        wait_for_greeting(&b, &format!("hello {on_b}"));
        // node-a never moves.
        assert_eq!(greeting(&a).unwrap(), "hello v1", "rollouts {rollouts}");
        let a_state = cp.node_filter("node-a", "hello").unwrap();
        assert_eq!(a_state["acked"]["version"], "v1");
        let response = http::get(a.listener("ingress").unwrap(), "/api", &[]).unwrap();
        assert_eq!(upstream_greeting(&response).as_deref(), Some("hello v1"));
    }
    let history = cp.status().unwrap()["nodes"][0]["history"].clone();
    let a_versions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(a_versions, ["v1", "v1"], "node-a was sent only v1");
}

/// A port nothing listens on (bound, then released).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn control_plane_down_at_start_serves_the_default_then_the_pushed_version() {
    let app = EchoServer::start().unwrap();
    let grpc = free_port();
    let started = Instant::now();
    let envoy = Envoy::start(&ads_config(&app, grpc, "node-a", "wasmesh-demo")).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    assert_eq!(greeting(&envoy).unwrap(), "hello (default config)");
    let response = http::get(ingress, "/api", &[]).unwrap();
    assert_eq!(
        upstream_greeting(&response).as_deref(),
        Some("hello (default config)")
    );
    eprintln!(
        "served with the default config {:?} after starting Envoy",
        started.elapsed()
    );

    // The control plane comes up on the address Envoy keeps retrying.
    let dir = ControlPlane::create_dir().unwrap();
    write_modules(&dir);
    control_plane::write_atomically(
        &dir.join("wasmesh-cp.json"),
        declaration(V1_V2, "v1", "[]").as_bytes(),
    )
    .unwrap();
    let cp = ControlPlane::start_in(dir, grpc).unwrap();
    wait_in_sync(&cp, "node-a", "v1");
    wait_for_greeting(&envoy, "hello v1");

    // It goes away again (clean stop): Envoy keeps the version it was sent.
    let status = cp.stop().unwrap();
    assert!(status.success(), "wasmesh-cp exited with {status}");
    for _ in 0..5 {
        assert_eq!(greeting(&envoy).unwrap(), "hello v1");
    }
}

#[test]
fn command_line_help_check_and_bad_declarative_files() {
    let binary = control_plane::binary().unwrap();
    let help = Command::new(&binary).arg("--help").output().unwrap();
    assert!(help.status.success());
    let usage = String::from_utf8_lossy(&help.stdout);
    assert!(usage.contains("--config FILE"), "{usage}");

    let dir = ControlPlane::create_dir().unwrap();
    write_modules(&dir);
    std::fs::write(dir.join("not-wasm.wasm"), b"this is not a wasm module").unwrap();
    let file = dir.join("cp.json");
    let run = |args: &[&str]| {
        let output = Command::new(&binary).args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let file_arg = file.to_str().unwrap();

    std::fs::write(&file, declaration(V1_V2, "v3", "[]")).unwrap();
    let (code, output) = run(&["--config", file_arg]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("filters.hello.serve: unknown version \"v3\" (versions: v1, v2)"),
        "{output}"
    );

    std::fs::write(&file, "{\"filters\": {\"hello\": {\"serve\": \"v1\",}}}").unwrap();
    let (code, output) = run(&["--config", file_arg]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("line 1 column"), "{output}");

    let with_garbage = declaration(
        &[
            ("v1", "hello-v1.wasm", "\"one\""),
            ("bad", "not-wasm.wasm", "\"two\""),
        ],
        "v1",
        "[]",
    );
    std::fs::write(&file, with_garbage).unwrap();
    let (code, output) = run(&["--check", "--config", file_arg]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("ok       hello v1"), "{output}");
    assert!(output.contains("INVALID  hello bad"), "{output}");

    let (code, output) = run(&["--config", file_arg, "--grpc", "nowhere"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("not an IP address and port"), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
