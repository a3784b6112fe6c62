//! The access-control filter in Envoy 1.40, with the configs users copy:
//! `envoy-test-configs/access-control.yaml` (mutual TLS), `access-control-plaintext.yaml`
//! (caller header and source addresses) and `access-control-bundle.yaml` (the wasmesh
//! bundle). The filter's behaviour is tested in detail in the emulator
//! (`filters/access-control/tests/`).
//!
//! Certificates are made at test time by the harness's `pki` module (the `rcgen` crate),
//! and TLS requests are sent with `curl`, which must be installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use wasmesh_e2e::pki::{CertificateAuthority, ExtendedKeyUsage, SubjectAltName};
use wasmesh_e2e::{http, EchoServer, Envoy, EnvoyConfig};

const MTLS_CONFIG: &str = "access-control.yaml";
const PLAINTEXT_CONFIG: &str = "access-control-plaintext.yaml";
const BUNDLE_CONFIG: &str = "access-control-bundle.yaml";
const ROUTES_CONFIG: &str = "access-control-routes.yaml";
/// Where `access-control.yaml` expects its certificates.
const CERT_DIR: &str = "/etc/wasmesh/tls/";
/// The server name of the sidecar's certificate.
const SERVER_NAME: &str = "orders.example.org";

const FRONTEND: &str = "spiffe://example.org/ns/shop/sa/frontend";

// ---------------------------------------------------------------------------------------
// Certificates

/// A CA in a fresh directory (removed on drop) with the sidecar's server certificate,
/// `server.crt` and `server.key`.
fn pki() -> CertificateAuthority {
    let mut pki =
        CertificateAuthority::create_temporary("access-control", "wasmesh test", 1).unwrap();
    pki.issue(
        "server",
        &[
            SubjectAltName::Dns(SERVER_NAME),
            SubjectAltName::Uri("spiffe://example.org/ns/shop/sa/orders"),
        ],
        &[ExtendedKeyUsage::ServerAuth],
    )
    .unwrap();
    pki
}

/// The client certificates of these tests.
trait IssueClient {
    /// Issues `<name>.crt` and `<name>.key`, a client certificate whose URI SANs are
    /// `ids`, in order.
    fn client(&mut self, name: &str, ids: &[&str]);
}

impl IssueClient for CertificateAuthority {
    fn client(&mut self, name: &str, ids: &[&str]) {
        let alt_names: Vec<SubjectAltName> = ids.iter().map(|id| SubjectAltName::Uri(id)).collect();
        self.issue(name, &alt_names, &[ExtendedKeyUsage::ClientAuth])
            .unwrap();
    }
}

/// `access-control.yaml` with the certificates of `pki` and the application `app`.
fn mtls_config(pki: &CertificateAuthority, app: &EchoServer) -> EnvoyConfig {
    EnvoyConfig::from_file(MTLS_CONFIG)
        .unwrap()
        .replace(CERT_DIR, format!("{}/", pki.dir().display()))
        .upstream(8000, app.port())
}

// ---------------------------------------------------------------------------------------
// TLS requests with curl

/// What curl got back.
#[derive(Debug)]
struct CurlResponse {
    status: u16,
    body: String,
}

impl CurlResponse {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }
}

/// `GET path` over TLS to the sidecar at `port`, presenting the client certificate
/// `client` (none when `None`); `Err` with curl's message when no response came.
fn curl(
    pki: &CertificateAuthority,
    port: u16,
    client: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<CurlResponse, String> {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--http1.1", "--max-time", "10"])
        .arg("--cacert")
        .arg(pki.path("ca.crt"))
        .arg("--resolve")
        .arg(format!("{SERVER_NAME}:{port}:127.0.0.1"))
        .args(["--write-out", "\n%{http_code}"]);
    if let Some(client) = client {
        command
            .arg("--cert")
            .arg(pki.path(&format!("{client}.crt")))
            .arg("--key")
            .arg(pki.path(&format!("{client}.key")));
    }
    for (name, value) in headers {
        command.arg("--header").arg(format!("{name}: {value}"));
    }
    command.arg(format!("https://{SERVER_NAME}:{port}{path}"));
    let output = command.output().expect("curl is installed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "curl exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Ok(CurlResponse {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_owned(),
    })
}

/// The values of header `name` in the echo server's JSON description of a request.
fn echoed_header(echo: &serde_json::Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

/// The lines of Prometheus text that mention the filter's counter.
fn counter_lines(prometheus: &str) -> Vec<&str> {
    prometheus
        .lines()
        .filter(|line| line.starts_with("wasmesh_access_control_requests_total{"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn envoy_validates_the_shipped_configs() {
    let pki = pki();
    let app = EchoServer::start().unwrap();
    for config in [
        mtls_config(&pki, &app),
        EnvoyConfig::from_file(PLAINTEXT_CONFIG).unwrap(),
        EnvoyConfig::from_file(BUNDLE_CONFIG).unwrap(),
        EnvoyConfig::from_file(ROUTES_CONFIG).unwrap(),
    ] {
        let output = Envoy::validate(&config).unwrap();
        assert!(output.contains("OK"), "{}: {output}", config.source());
    }
}

#[test]
fn mutual_tls_callers_are_authorized_by_their_spiffe_id() {
    let mut pki = pki();
    pki.client("frontend", &[FRONTEND]);
    pki.client("intruder", &["spiffe://example.org/ns/shop/sa/intruder"]);
    pki.client("foreign", &["spiffe://evil.org/ns/shop/sa/frontend"]);
    pki.client("backoffice", &["spiffe://example.org/ns/ops/sa/backoffice"]);
    pki.client("two-names", &["spiffe://legacy.example/web", FRONTEND]);
    let app = EchoServer::start().unwrap();
    let envoy = Envoy::start(&mtls_config(&pki, &app)).unwrap();
    let port = envoy.listener("ingress").unwrap().port();

    // An allowed caller reaches the application, which sees the verified caller; the
    // caller's own claim is replaced.
    let response = curl(
        &pki,
        port,
        Some("frontend"),
        "/orders/7",
        &[("x-wasmesh-caller", "admin")],
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let echo = response.json();
    assert_eq!(echo["path"], "/orders/7");
    assert_eq!(echoed_header(&echo, "x-wasmesh-caller"), ["frontend"]);
    let xfcc = echoed_header(&echo, "x-forwarded-client-cert");
    assert_eq!(xfcc.len(), 1);
    assert!(xfcc[0].contains(&format!("URI={FRONTEND}")), "{xfcc:?}");

    // A disallowed caller gets a JSON 403 and never reaches the application.
    let requests_before = app.request_count();
    let response = curl(&pki, port, Some("intruder"), "/orders/7", &[]).unwrap();
    assert_eq!(response.status, 403, "{}", response.body);
    assert_eq!(
        response.json(),
        serde_json::json!({"error": "access_denied", "rule": "default"})
    );
    // The allowed caller, on a path its deny rule covers.
    let response = curl(&pki, port, Some("frontend"), "/admin/users", &[]).unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        serde_json::json!({"error": "access_denied", "rule": "frontend-no-admin"})
    );
    // The same name in another trust domain is nobody, whatever it claims in headers.
    let response = curl(
        &pki,
        port,
        Some("foreign"),
        "/orders/7",
        &[("x-service-name", "frontend")],
    )
    .unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["rule"], "default");
    assert_eq!(app.request_count(), requests_before);

    // A role member (by SPIFFE ID prefix) may use /admin.
    let response = curl(&pki, port, Some("backoffice"), "/admin/users", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        echoed_header(&response.json(), "x-wasmesh-caller"),
        ["backoffice"]
    );

    // Only the second URI SAN is in the trust domain: XFCC carries both.
    let response = curl(&pki, port, Some("two-names"), "/orders/7", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        echoed_header(&response.json(), "x-wasmesh-caller"),
        ["frontend"]
    );

    // A caller without a certificate gets no connection at all.
    let refused = curl(&pki, port, None, "/orders/7", &[]);
    assert!(refused.is_err(), "{refused:?}");

    // Decisions are counted and logged.
    assert!(
        envoy.wait_for_log(
            "access-control: decision=denied mode=enforce rule=default caller=intruder identity=xfcc",
            Duration::from_secs(5)
        ),
        "{}",
        envoy.log()
    );
    let prometheus = envoy.stats_prometheus().unwrap();
    let lines = counter_lines(&prometheus);
    for expected in [
        r#"wasmesh_access_control_requests_total{decision="allowed",caller="frontend",rule="frontend-orders"} 2"#,
        r#"wasmesh_access_control_requests_total{decision="denied",caller="intruder",rule="default"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="denied",caller="frontend",rule="frontend-no-admin"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="denied",caller="unidentified",rule="default"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="allowed",caller="backoffice",rule="operators-everything"} 1"#,
    ] {
        assert!(lines.contains(&expected), "{expected}\nnot in {lines:#?}");
    }
}

#[test]
fn the_first_uri_san_of_the_peer_certificate_names_the_caller() {
    let mut pki = pki();
    pki.client("frontend", &[FRONTEND]);
    pki.client("foreign", &["spiffe://evil.org/ns/shop/sa/frontend"]);
    let app = EchoServer::start().unwrap();
    let config = mtls_config(&pki, &app).replace(
        r#""sources": ["xfcc", "peer_certificate"]"#,
        r#""sources": ["peer_certificate"]"#,
    );
    let envoy = Envoy::start(&config).unwrap();
    let port = envoy.listener("ingress").unwrap().port();
    let response = curl(&pki, port, Some("frontend"), "/orders", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        echoed_header(&response.json(), "x-wasmesh-caller"),
        ["frontend"]
    );
    let response = curl(&pki, port, Some("foreign"), "/orders", &[]).unwrap();
    assert_eq!(response.status, 403);
    assert!(
        envoy.wait_for_log(
            "caller=unidentified identity=peer_certificate identity_rejected=untrusted_domain",
            Duration::from_secs(5)
        ),
        "{}",
        envoy.log()
    );
}

#[test]
fn shadow_mode_reports_denials_without_blocking() {
    let mut pki = pki();
    pki.client("intruder", &["spiffe://example.org/ns/shop/sa/intruder"]);
    let app = EchoServer::start().unwrap();
    let config = mtls_config(&pki, &app).replace(r#""mode": "enforce""#, r#""mode": "shadow""#);
    let envoy = Envoy::start(&config).unwrap();
    let port = envoy.listener("ingress").unwrap().port();
    let response = curl(&pki, port, Some("intruder"), "/orders/7", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        echoed_header(&response.json(), "x-wasmesh-caller"),
        ["intruder"]
    );
    let prometheus = envoy.stats_prometheus().unwrap();
    let expected = r#"wasmesh_access_control_requests_total{decision="shadow_denied",caller="intruder",rule="default"} 1"#;
    assert!(
        counter_lines(&prometheus).contains(&expected),
        "{prometheus}"
    );
}

#[test]
fn envoy_refuses_a_bad_policy_naming_the_field() {
    let pki = pki();
    let app = EchoServer::start().unwrap();
    let config = mtls_config(&pki, &app).replace(
        r#""methods": ["GET", "HEAD", "POST"]"#,
        r#""methods": ["GET", "FETCH"]"#,
    );
    let log = Envoy::start_expect_failure(&config).unwrap();
    assert!(
        log.contains("access-control: config.rules[1].methods[1]: unknown value `FETCH`"),
        "{log}"
    );
}

/// Where a path-bypass attempt ended.
#[derive(Debug)]
enum Ending {
    /// Denied by the filter (403 with its JSON body), with the rule.
    Denied(String),
    /// Rejected by Envoy itself (a 4xx of its own).
    Rejected(u16),
    /// Forwarded; the path as the application received it.
    Forwarded(String),
}

/// Request targets that try to reach `/admin` past a policy that denies it.
const BYPASS_ATTEMPTS: &[&str] = &[
    // the plain path and its trailing forms
    "/admin",
    "/admin/",
    "/admin/users",
    "/admin?x=1",
    "/admin/.",
    "/admin/..",
    "/admin.",
    "/admin./",
    // segment parameters
    "/admin;x=1",
    "/admin;jsessionid=1/users",
    // dot segments
    "/./admin",
    "/x/../admin",
    "/x/y/../../admin",
    "/x/./../admin/",
    // `..;` and friends
    "/..;/admin",
    "/x/..;/admin",
    "/admin/..;/admin",
    "/x/.;/../admin",
    // repeated slashes
    "//admin",
    "///admin/users",
    "/x//../admin",
    // percent-encoding
    "/%61dmin",
    "/%61%64%6d%69%6e",
    "/%2e/admin",
    "/x/%2e%2e/admin",
    "/x/%2E%2E/admin",
    "/x/.%2e/admin",
    "/x/%2e./admin",
    "/admin%2e",
    "/admin%2f",
    // double encoding
    "/x/%252e%252e/admin",
    "/%2561dmin",
    "/x/%25%32%65%25%32%65/admin",
    // encoded slashes and backslashes
    "/x/..%2fadmin",
    "/x/..%2Fadmin",
    "/x%2f..%2fadmin",
    "/%2fadmin",
    "/x/..%5cadmin",
    "/x/..\\admin",
    "/x\\..\\admin",
    // case
    "/ADMIN",
    "/Admin/users",
    "/aDmIn",
    // fragments and queries
    "/admin#",
    "/admin#x",
    "/x#/../admin",
    "/x?/../admin",
    "/admin%23x",
    // control characters and absolute form
    "/admin%00",
    "/x/..%00/admin",
    "http://localhost/admin",
];

/// Sends every bypass attempt as a raw HTTP/1.1 request line and says where it ended.
fn try_bypasses(envoy: &Envoy) -> Vec<(&'static str, Ending)> {
    let ingress = envoy.listener("ingress").unwrap();
    BYPASS_ATTEMPTS
        .iter()
        .map(|&target| {
            let response = http::get(ingress, target, &[("host", "orders")]).unwrap();
            let ending = if response.header("x-echo") == Some("1") {
                Ending::Forwarded(
                    response.json().unwrap()["path"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            } else if response.status == 403 {
                let body = response.json().unwrap();
                assert_eq!(body["error"], "access_denied", "{target}");
                Ending::Denied(body["rule"].as_str().unwrap().to_owned())
            } else {
                assert!(
                    (400..500).contains(&response.status),
                    "{target}: {response:?}"
                );
                Ending::Rejected(response.status)
            };
            (target, ending)
        })
        .collect()
}

/// Whether `path` (as received upstream) is canonical and outside `/admin`, compared
/// exactly as a case-sensitive application does.
fn canonical_and_outside_admin(path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let name = |segment: &str| segment.split(';').next().unwrap_or_default().to_owned();
    let first = path.trim_start_matches('/').split('/').next().map(name);
    let canonical = path.starts_with('/')
        && !path.contains("//")
        && !path.contains('\\')
        && !path.contains('#')
        && path.split('/').all(|s| s != "." && s != "..")
        && !["%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%25", "%00"]
            .iter()
            .any(|escape| path.contains(escape));
    canonical && first.as_deref() != Some("admin")
}

#[test]
fn no_path_variant_reaches_the_application_as_admin() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(PLAINTEXT_CONFIG)
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    assert!(BYPASS_ATTEMPTS.len() >= 30);

    let mut forwarded = Vec::new();
    let mut denial_rules = Vec::new();
    for (target, ending) in try_bypasses(&envoy) {
        eprintln!("{target:32} {ending:?}");
        match ending {
            Ending::Forwarded(path) => {
                assert!(
                    canonical_and_outside_admin(&path),
                    "{target} reached the application as {path}"
                );
                forwarded.push(path);
            }
            Ending::Denied(rule) => denial_rules.push(rule),
            // Envoy refuses fragments itself.
            Ending::Rejected(status) => assert_eq!(status, 400, "{target}"),
        }
    }
    // The policy rule, and the filter's refusal of paths it will not match raw.
    for rule in ["no-admin", "non_canonical_path", "invalid_path"] {
        assert!(
            denial_rules.iter().any(|r| r == rule),
            "{rule}: {denial_rules:?}"
        );
    }
    // Every application request is one of those forwarded, and none is under /admin.
    for request in app.requests() {
        assert!(
            canonical_and_outside_admin(&request.path),
            "{}",
            request.path
        );
    }
    // Deny rules read paths as a lenient application does: case, `;params` and trailing
    // dots do not hide `/admin` (tests/composition.rs tries thousands of variants). What
    // passes is outside `/admin` for every reading, such as a `?` before the dots.
    for denied in [
        "/ADMIN",
        "/Admin/users",
        "/aDmIn",
        "/admin.",
        "/admin./",
        "/admin;x=1",
    ] {
        assert!(
            !forwarded.iter().any(|p| p == denied),
            "{denied}: {forwarded:?}"
        );
    }
    assert!(
        forwarded.iter().any(|p| p == "/x?/../admin"),
        "{forwarded:?}"
    );
}

#[test]
fn case_variants_are_denied_when_matching_ignores_case() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(PLAINTEXT_CONFIG)
        .unwrap()
        .replace(
            r#""rules": ["#,
            r#""path": {"case_insensitive": true}, "rules": ["#,
        )
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    for target in ["/ADMIN", "/Admin/users", "/aDmIn;x"] {
        let response = http::get(ingress, target, &[]).unwrap();
        assert_eq!(response.status, 403, "{target}");
        assert_eq!(response.json().unwrap()["rule"], "no-admin", "{target}");
    }
    for (target, ending) in try_bypasses(&envoy) {
        if let Ending::Forwarded(path) = ending {
            let lower = path.to_ascii_lowercase();
            assert!(
                canonical_and_outside_admin(&lower),
                "{target} reached the application as {path}"
            );
        }
    }
}

#[test]
fn a_caller_header_is_trusted_only_from_listed_addresses_and_never_forwarded() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(PLAINTEXT_CONFIG)
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();

    let response = http::get(ingress, "/orders", &[("x-service-name", "batch")]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let request = app.requests().pop().unwrap();
    assert_eq!(request.header_all("x-wasmesh-caller"), ["batch"]);
    assert!(request.header_all("x-service-name").is_empty());

    // batch may only read.
    let response = http::post(ingress, "/orders", &[("x-service-name", "batch")], b"{}").unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.json().unwrap()["rule"], "default");

    // Two names are never joined into one.
    let response = http::get(
        ingress,
        "/orders",
        &[("x-service-name", "batch"), ("x-service-name", "frontend")],
    )
    .unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.json().unwrap()["rule"], "repeated_identity_header");

    // Without the header, the loopback address names the caller.
    let response = http::get(ingress, "/orders", &[("x-wasmesh-caller", "batch")]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        app.requests().pop().unwrap().header_all("x-wasmesh-caller"),
        ["frontend"]
    );
}

#[test]
fn the_bundle_runs_access_control_after_header_normalization() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(BUNDLE_CONFIG)
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();

    let response = http::get(ingress, "/orders/7", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(
        app.requests().pop().unwrap().header_all("x-wasmesh-caller"),
        ["frontend"]
    );

    let response = http::get(ingress, "/admin/users", &[]).unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json().unwrap(),
        serde_json::json!({"error": "access_denied", "rule": "no-admin"})
    );
    // Whatever the normalization stage makes of a traversal, /admin is not reached.
    for target in ["/x/../admin", "/%61dmin/users", "//admin"] {
        let response = http::get(ingress, target, &[]).unwrap();
        if response.header("x-echo") == Some("1") {
            let path = response.json().unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                canonical_and_outside_admin(&path),
                "{target} reached {path}"
            );
        } else {
            assert!(
                (400..500).contains(&response.status),
                "{target}: {response:?}"
            );
        }
    }
    let prometheus = envoy.stats_prometheus().unwrap();
    let expected = r#"wasmesh_access_control_requests_total{decision="denied",caller="frontend",rule="no-admin"}"#;
    assert!(
        counter_lines(&prometheus)
            .iter()
            .any(|l| l.starts_with(expected)),
        "{prometheus}"
    );
}

#[test]
fn routes_on_one_listener_get_their_own_policy() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(ROUTES_CONFIG)
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let as_caller = |name| [("x-service-name", name)];

    // (caller, path, status, rule of the denial)
    let cases: [(Option<&str>, &str, u16, Option<&str>); 11] = [
        // Route `health`: no caller needed; the listener wants one.
        (None, "/healthz", 200, None),
        (None, "/orders", 403, Some("default")),
        (Some("frontend"), "/orders/7", 200, None),
        // Route `admin`: operators only, whatever the listener allows.
        (Some("frontend"), "/admin/users", 403, Some("default")),
        (Some("ops"), "/admin/users", 200, None),
        // Operators have nothing on the listener's routes.
        (Some("ops"), "/orders/7", 403, Some("default")),
        // Envoy routes `/ADMIN` by `default`: the listener's deny rule reads it leniently.
        (Some("ops"), "/ADMIN/users", 403, Some("no-admin")),
        // The `/static` entry, by path prefix: identified callers may read.
        (Some("frontend"), "/static/app.js", 200, None),
        (None, "/static/app.js", 403, Some("default")),
        // A path that is not canonical gets no route's policy: `/static/../admin`
        // starts with `/static/`, and is denied before any rule.
        (
            Some("frontend"),
            "/static/../admin",
            403,
            Some("non_canonical_path"),
        ),
        (
            Some("ops"),
            "/static/%2e%2e/admin",
            403,
            Some("non_canonical_path"),
        ),
    ];
    for (caller, path, status, rule) in cases {
        let headers = caller.map(as_caller);
        let response = http::get(ingress, path, headers.as_ref().map_or(&[][..], |h| h)).unwrap();
        assert_eq!(
            response.status,
            status,
            "{path} as {caller:?}: {}",
            response.body_str()
        );
        if let Some(rule) = rule {
            assert_eq!(
                response.json().unwrap()["rule"],
                rule,
                "{path} as {caller:?}"
            );
        }
    }
    // The admin route's own deny reply: the caller named, not cached.
    let response = http::get(ingress, "/admin", &as_caller("batch")).unwrap();
    assert_eq!(
        response.json().unwrap(),
        serde_json::json!({"error": "access_denied", "rule": "default", "caller": "batch"})
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    // The listener's is the default one.
    let response = http::get(ingress, "/orders", &as_caller("ops")).unwrap();
    assert_eq!(response.header("cache-control"), None);

    let allowed = cases
        .iter()
        .filter(|(_, _, status, _)| *status == 200)
        .count();
    assert_eq!(app.request_count(), allowed);
    // The admin route logs its allowed requests; the listener does not.
    assert!(
        envoy.wait_for_log(
            "access-control: decision=allowed mode=enforce rule=operators caller=ops",
            Duration::from_secs(5)
        ),
        "{}",
        envoy.log()
    );
    assert!(!envoy
        .log()
        .contains("decision=allowed mode=enforce rule=frontend-orders"));
    let prometheus = envoy.stats_prometheus().unwrap();
    let lines = counter_lines(&prometheus);
    for expected in [
        r#"wasmesh_access_control_requests_total{decision="allowed",caller="unidentified",rule="probes"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="allowed",caller="ops",rule="operators"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="denied",caller="ops",rule="no-admin"} 1"#,
        r#"wasmesh_access_control_requests_total{decision="allowed",caller="frontend",rule="static-reads"} 1"#,
    ] {
        assert!(lines.contains(&expected), "{expected}\nnot in {lines:#?}");
    }
}

#[test]
fn envoy_refuses_a_bad_route_override_naming_its_json_path() {
    let app = EchoServer::start().unwrap();
    let config = || {
        EnvoyConfig::from_file(ROUTES_CONFIG)
            .unwrap()
            .upstream(8000, app.port())
    };
    // A typo in the admin entry's role.
    let log = Envoy::start_expect_failure(&config().replace(
        r#""callers": ["role:operators"]"#,
        r#""callers": ["role:operator"]"#,
    ))
    .unwrap();
    assert!(
        log.contains(
            "access-control: config.routes[1].rules[0].callers[0]: unknown role `operator`; roles defined: operators"
        ),
        "{log}"
    );
    // A route in shadow mode under an enforcing listener.
    let log = Envoy::start_expect_failure(&config().replace(
        r#""log_allowed": true}"#,
        r#""log_allowed": true, "mode": "shadow"}"#,
    ))
    .unwrap();
    assert!(
        log.contains(
            "access-control: config.routes[1].mode: a route cannot shadow an enforcing listener"
        ),
        "{log}"
    );
}

#[test]
fn pki_files_exist_where_the_config_points() {
    let mut pki = pki();
    pki.client("frontend", &[FRONTEND]);
    for file in [
        "ca.crt",
        "server.crt",
        "server.key",
        "frontend.crt",
        "frontend.key",
    ] {
        assert!(Path::new(&pki.path(file)).is_file(), "{file}");
    }
    let dir = pki.dir().to_path_buf();
    drop(pki);
    assert!(!dir.exists());
}
