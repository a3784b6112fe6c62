//! Delivering a filter to Envoy without a control plane: a local file, a remote
//! fetch checked by sha256, ECDS from a watched file, and what each
//! `failure_policy` does after a module traps.
//! (ECDS over ADS with wasmesh-cp: tests/delivery_ads.rs.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wasmesh_e2e::control_plane::write_atomically;
use wasmesh_e2e::{dist_dir, http, EchoResponse, EchoServer, Envoy, EnvoyConfig, Response};

/// The value of the first header `name` the application received, from the
/// echo server's JSON body.
fn upstream_header(response: &Response, name: &str) -> Option<String> {
    let json = response.json().ok()?;
    json["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0].as_str() == Some(name))
        .and_then(|pair| pair[1].as_str().map(str::to_string))
}

/// `GET /hello` answered by the hello filter itself: its greeting.
fn hello_greeting(envoy: &Envoy) -> Result<String, String> {
    let response = http::get(envoy.listener("ingress")?, "/hello", &[])?;
    if response.status != 200 {
        return Err(format!("/hello answered {}", response.status));
    }
    let json = response.json()?;
    json["greeting"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no greeting in {json}"))
}

/// Polls [`hello_greeting`] until it is `expected`; panics with the last answer.
fn wait_for_greeting(envoy: &Envoy, expected: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let greeting = hello_greeting(envoy);
        if greeting.as_deref() == Ok(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "greeting still {greeting:?}, expected {expected:?}\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmesh-delivery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sha256_hex(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(output.status.success(), "sha256sum failed");
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

// ---- local file ----------------------------------------------------------------------------

#[test]
fn local_file_serves_and_a_missing_module_keeps_envoy_from_starting() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("delivery-local-file.yaml")
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    assert_eq!(hello_greeting(&envoy).unwrap(), "hello from a local file");
    let response = http::get(envoy.listener("ingress").unwrap(), "/api", &[]).unwrap();
    assert_eq!(
        upstream_header(&response, "x-hello").as_deref(),
        Some("hello from a local file")
    );
    drop(envoy);

    let missing = config.replace("dist/hello.wasm", "dist/no-such-module.wasm");
    let output = Envoy::start_expect_failure(&missing).unwrap();
    assert!(output.contains("Invalid path"), "{output}");
    assert!(output.contains("no-such-module.wasm"), "{output}");
}

// ---- remote fetch --------------------------------------------------------------------------

/// An HTTP server answering `GET /hello.wasm` with `dist/hello.wasm`.
fn module_server() -> EchoServer {
    let module = std::fs::read(dist_dir().join("hello.wasm")).unwrap();
    EchoServer::start_with(move |request| {
        if request.path == "/hello.wasm" {
            EchoResponse::new(200)
                .with_header("content-type", "application/wasm")
                .with_body(module.clone())
        } else {
            EchoResponse::new(404)
        }
    })
    .unwrap()
}

fn remote_config(app: &EchoServer, modules: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file("delivery-remote.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .upstream(8080, modules.port())
}

#[test]
fn remote_fetch_with_the_right_sha256_serves() {
    let app = EchoServer::start().unwrap();
    let modules = module_server();
    let digest = sha256_hex(&dist_dir().join("hello.wasm"));
    let config = remote_config(&app, &modules).replace(
        "0000000000000000000000000000000000000000000000000000000000000000",
        digest,
    );
    let envoy = Envoy::start(&config).unwrap();
    wait_for_greeting(
        &envoy,
        "hello from a remote module",
        Duration::from_secs(10),
    );
    let response = http::get(envoy.listener("ingress").unwrap(), "/api", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        upstream_header(&response, "x-hello").as_deref(),
        Some("hello from a remote module")
    );
    assert!(modules.request_count() >= 1);
}

/// Starts Envoy with the checked-in placeholder digest (wrong for any module)
/// and waits until Envoy gave up fetching.
fn start_with_wrong_sha256(config: &EnvoyConfig) -> Envoy {
    let envoy = Envoy::start(config).unwrap();
    assert!(
        envoy.wait_for_log("failed to load", Duration::from_secs(15)),
        "Envoy did not report the failed fetch:\n{}",
        envoy.log()
    );
    envoy
}

#[test]
fn remote_fetch_with_a_wrong_sha256_fails_closed_with_503() {
    let app = EchoServer::start().unwrap();
    let modules = module_server();
    let envoy = start_with_wrong_sha256(&remote_config(&app, &modules));
    let ingress = envoy.listener("ingress").unwrap();
    for path in ["/api", "/hello"] {
        let response = http::get(ingress, path, &[]).unwrap();
        assert_eq!(response.status, 503, "{path}: {}", response.body_str());
        assert_eq!(response.body_str(), "", "{path}");
    }
    // The filter never ran and nothing reached the application.
    assert_eq!(app.request_count(), 0);
    assert!(modules.request_count() >= 1, "the module was never fetched");
}

#[test]
fn remote_fetch_with_a_wrong_sha256_fails_open_unfiltered() {
    let app = EchoServer::start().unwrap();
    let modules = module_server();
    let config = remote_config(&app, &modules)
        .replace("failure_policy: FAIL_CLOSED", "failure_policy: FAIL_OPEN");
    let envoy = start_with_wrong_sha256(&config);
    let ingress = envoy.listener("ingress").unwrap();
    let response = http::get(ingress, "/api", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream_header(&response, "x-hello"), None);
    // Without the filter, /hello reaches the application too.
    let response = http::get(ingress, "/hello", &[]).unwrap();
    assert_eq!(response.header("x-echo"), Some("1"));
    assert_eq!(app.request_count(), 2);
}

// ---- ECDS from a file ----------------------------------------------------------------------

#[test]
fn ecds_file_swaps_on_atomic_rename_and_keeps_serving_through_a_bad_update() {
    let app = EchoServer::start().unwrap();
    let dir = temp_dir("ecds-file");
    let resource_file = dir.join("hello.yaml");
    let v1 = EnvoyConfig::from_file("delivery-ecds-file.d/hello.yaml")
        .unwrap()
        .render_unmapped_ok()
        .unwrap();
    write_atomically(&resource_file, v1.as_bytes()).unwrap();
    let config = EnvoyConfig::from_file("delivery-ecds-file.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace(
            "envoy-test-configs/delivery-ecds-file.d",
            dir.display().to_string(),
        );
    let envoy = Envoy::start(&config).unwrap();
    wait_for_greeting(&envoy, "hello v1 (ECDS file)", Duration::from_secs(10));

    let v2 = v1
        .replace("hello v1 (ECDS file)", "hello v2 (ECDS file)")
        .replace("version_info: \"v1\"", "version_info: \"v2\"");
    write_atomically(&resource_file, v2.as_bytes()).unwrap();
    wait_for_greeting(&envoy, "hello v2 (ECDS file)", Duration::from_secs(10));
    let dump = envoy
        .admin_get("/config_dump?resource=ecds_filters")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(dump["configs"][0]["version_info"], "v2");

    // A module that is not there, then a configuration the filter refuses:
    // each update is rejected and v2 keeps serving.
    let fail_stat = "extension_config_discovery.http_filter.hello.config_fail";
    let missing_module = v2
        .replace("/hello.wasm", "/no-such-module.wasm")
        .replace("version_info: \"v2\"", "version_info: \"v3\"");
    let refused_config = v2
        .replace("\"greeting\": \"hello v2 (ECDS file)\"", "\"greeting\": 42")
        .replace("version_info: \"v2\"", "version_info: \"v4\"");
    for (failures, bad) in [(1, missing_module), (2, refused_config)] {
        write_atomically(&resource_file, bad.as_bytes()).unwrap();
        assert_eq!(
            envoy.wait_for_stat(fail_stat, failures, Duration::from_secs(10)),
            Some(failures),
            "{}",
            envoy.log()
        );
        assert_eq!(hello_greeting(&envoy).unwrap(), "hello v2 (ECDS file)");
    }
    assert!(envoy.log().contains("Filesystem config update rejected"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- failure_policy after a trap ------------------------------------------------------------

/// Starts the trap fixture under `policy`; returns Envoy, the application and
/// the ingress address.
fn trap_under(policy: &str) -> (Envoy, EchoServer, std::net::SocketAddr) {
    assert!(
        dist_dir().join("trap.wasm").is_file(),
        "dist/trap.wasm is missing: `make build` builds it (examples/trap)"
    );
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("delivery-failure-policy.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace(
            "failure_policy: FAIL_RELOAD",
            format!("failure_policy: {policy}"),
        );
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let response = http::get(ingress, "/before", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        upstream_header(&response, "x-trap-filter").as_deref(),
        Some("passed")
    );
    let trapped = http::get(ingress, "/trap", &[("x-trap", "1")]).unwrap();
    assert_eq!(trapped.status, 503, "the trapping request");
    (envoy, app, ingress)
}

/// Longer than the config's `reload_config.backoff.max_interval` (1s).
const RELOAD_BACKOFF: Duration = Duration::from_millis(1100);

#[test]
fn fail_reload_recovers_for_the_next_request() {
    let (envoy, app, ingress) = trap_under("FAIL_RELOAD");
    for round in 0..2 {
        std::thread::sleep(RELOAD_BACKOFF);
        let response = http::get(ingress, &format!("/after/{round}"), &[]).unwrap();
        assert_eq!(response.status, 200, "round {round}\n{}", envoy.log());
        assert_eq!(
            upstream_header(&response, "x-trap-filter").as_deref(),
            Some("passed"),
            "the reloaded VM runs the filter"
        );
        assert_eq!(http::get(ingress, "/next", &[]).unwrap().status, 200);
        // It traps again on the trigger, and recovers again.
        let trapped = http::get(ingress, "/trap", &[("x-trap", "1")]).unwrap();
        assert_eq!(trapped.status, 503);
    }
    assert!(envoy.log().contains("Uncaught RuntimeError: unreachable"));
    assert_eq!(app.request_count(), 5);
}

#[test]
fn fail_closed_answers_503_after_a_trap() {
    let (_envoy, app, ingress) = trap_under("FAIL_CLOSED");
    for n in 0..3 {
        let response = http::get(ingress, &format!("/after/{n}"), &[]).unwrap();
        assert_eq!(response.status, 503);
    }
    assert_eq!(app.request_count(), 1, "only the request before the trap");
}

#[test]
fn fail_open_skips_the_filter_after_a_trap() {
    let (_envoy, app, ingress) = trap_under("FAIL_OPEN");
    let response = http::get(ingress, "/after", &[]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream_header(&response, "x-trap-filter"), None);
    let response = http::get(ingress, "/trap", &[("x-trap", "1")]).unwrap();
    assert_eq!(response.status, 200, "the failed filter no longer runs");
    assert_eq!(app.request_count(), 3);
}
