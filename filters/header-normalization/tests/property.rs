//! Property-style tests over many generated requests, through the filter in the host
//! emulator: the filter never panics (a panic would abort the test process at the
//! `extern "C"` boundary), whatever it forwards is a fixed point (forwarding it again
//! changes nothing), and whatever it redirects to is forwarded unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{host, send_bytes, Outcome};
use wasmesh_testing::{Host, TestRng};

/// Pieces hostile paths are made of.
const PATH_PIECES: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b"//",
    b"/./",
    b"/../",
    b"a",
    b"b",
    b"Z",
    b".",
    b"..",
    b"...",
    b"%2e",
    b"%2E",
    b"%2e%2e",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b"%25",
    b"%252e",
    b"%25%32%65",
    b";",
    b";x=1",
    b"..;",
    b".;",
    b"%3b",
    b"%3B",
    b"?",
    b"?q=/../x",
    b"&",
    b"=",
    b"#",
    b"#/../",
    b"\\",
    b"%00",
    b"\0",
    b"%0a",
    b"\t",
    b" ",
    b"\x7f",
    b"\xff",
    b"\xc0\xae",
    b"%c0%ae",
    b"%c0%af",
    b"%e0%80%af",
    b"%ed%a0%80",
    b"%C3%A9",
    b"%c3%a9",
    b"%e2%82%ac",
    b"%f0%9f%98%80",
    b"%41",
    b"%7e",
    b"%7E",
    b"%3f",
    b"%",
    b"%g",
    b"%4",
    b"~",
    b"-",
    b"_",
    b"*",
    b":",
    b"@",
    b"admin",
    b"ADMIN",
    b"%u002e",
];

/// Pieces of ordinary paths, which the filter forwards (possibly rewritten).
const BENIGN_PIECES: &[&[u8]] = &[
    b"/",
    b"/",
    b"//",
    b"/./",
    b"/../",
    b"a",
    b"B",
    b".",
    b"..",
    b"%2e",
    b"%41",
    b"%7e",
    b";x=1",
    b"?",
    b"?q=/../%2F",
    b"~",
    b"%C3%A9",
    b"%3F",
    b"-",
    b"_",
    b"%2F",
];

/// A path: mostly ordinary pieces, with a hostile piece one time in `1 / hostility`.
fn generate_path(rng: &mut TestRng, hostility: usize) -> Vec<u8> {
    let mut path = Vec::new();
    match rng.below(20) {
        0 => {}
        1 => return (0..rng.below(12)).map(|_| rng.next() as u8).collect(),
        _ => path.push(b'/'),
    }
    for _ in 0..rng.below(14) {
        let pieces = if rng.below(hostility) == 0 {
            PATH_PIECES
        } else {
            BENIGN_PIECES
        };
        let piece: &&[u8] = rng.pick(pieces);
        path.extend_from_slice(piece);
    }
    path
}

fn request(path: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (b":method".to_vec(), b"GET".to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
        (b":authority".to_vec(), b"svc".to_vec()),
        (b":path".to_vec(), path.to_vec()),
    ]
}

const PATH_RULES: [&str; 10] = [
    "relative_path",
    "control_character",
    "invalid_character",
    "fragment",
    "backslash",
    "invalid_escape",
    "double_encoding",
    "escaped_slash",
    "invalid_utf8",
    "dot_segment_parameter",
];

const PATH_PROFILES: [&str; 10] = [
    "{}",
    r#"{"path": {"escaped_slashes": "keep"}}"#,
    r#"{"path": {"escaped_slashes": "unescape_and_forward"}}"#,
    r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#,
    r#"{"path": {"dot_segment_params": "as_dot_segment", "path_params": "strip"}}"#,
    r#"{"path": {"lowercase": true}}"#,
    r#"{"path": {"fragment": "strip"}}"#,
    r#"{"path": {"merge_slashes": false}}"#,
    r#"{"path": {"escaped_slashes": "keep", "merge_slashes": false, "lowercase": true,
                 "fragment": "strip", "dot_segment_params": "as_dot_segment"}}"#,
    r#"{"path": {"escaped_slashes": "unescape_and_forward", "path_params": "strip",
                 "fragment": "strip", "lowercase": true}}"#,
];

fn forwarded_path(host: &Host, path: &[u8]) -> Outcome {
    send_bytes(host, request(path))
}

#[test]
fn generated_paths_canonicalize_idempotently_and_never_panic() {
    const PER_PROFILE: usize = 3000;
    let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
    let mut counts = [0usize; 3];
    for config in PATH_PROFILES {
        let host = host(config);
        let merges = !config.contains(r#""merge_slashes": false"#);
        for _ in 0..PER_PROFILE {
            let path = generate_path(&mut rng, 6);
            let shown = String::from_utf8_lossy(&path).into_owned();
            match forwarded_path(&host, &path) {
                outcome @ Outcome::Forwarded(_) => {
                    counts[0] += 1;
                    let canonical = outcome.path().to_owned();
                    assert!(
                        canonical == "*" || canonical.starts_with('/'),
                        "{shown:?} -> {canonical:?}"
                    );
                    assert!(
                        canonical.bytes().all(|b| b.is_ascii_graphic()),
                        "{shown:?} -> {canonical:?}"
                    );
                    let path_part = canonical.split('?').next().unwrap();
                    assert!(!path_part.contains('#'), "{shown:?} -> {canonical:?}");
                    assert!(
                        !path_part.split('/').any(|s| s == "." || s == ".."),
                        "{shown:?} -> {canonical:?}"
                    );
                    assert!(
                        !merges || !path_part.contains("//"),
                        "{shown:?} -> {canonical:?}"
                    );
                    let again = forwarded_path(&host, canonical.as_bytes());
                    assert_eq!(
                        again.path(),
                        canonical,
                        "{config}: {shown:?} is not idempotent"
                    );
                }
                Outcome::Redirected(location) => {
                    counts[1] += 1;
                    let again = forwarded_path(&host, location.as_bytes());
                    assert_eq!(again.path(), location, "{config}: redirect of {shown:?}");
                }
                Outcome::Rejected(status, rule) => {
                    counts[2] += 1;
                    assert_eq!(status, 400);
                    assert!(PATH_RULES.contains(&rule.as_str()), "{shown:?}: {rule}");
                }
            }
        }
    }
    // The generator exercises every outcome, not just refusals.
    let [forwarded, redirected, rejected] = counts;
    eprintln!("paths: {forwarded} forwarded, {redirected} redirected, {rejected} refused");
    assert!(
        forwarded > 10_000 && rejected > 5_000 && redirected > 100,
        "{counts:?}"
    );
}

const NAMES: &[&str] = &[
    "x-a",
    "X-A",
    "x_a",
    "x-legacy",
    "x_legacy",
    "x-canonical",
    "authorization",
    "content-length",
    "traceparent",
    "x-tenant",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "transfer-encoding",
    "x-envoy-foo",
    "x-forwarded-client-cert",
    "x-wasmesh-caller",
    "accept",
];

const VALUES: &[&str] = &[
    "v",
    " v ",
    "",
    " ",
    "trailers",
    " trailers\t",
    "upgrade",
    "Upgrade, x-a",
    "x-a, close",
    "websocket",
    "a,b",
    "\tx y\t",
    "Bearer t",
    "SVC.:80",
];

const AUTHORITIES: &[&str] = &[
    "svc",
    "svc",
    "svc",
    "svc",
    "SVC.:80",
    " svc ",
    "svc:8080",
    "svc:443",
    "[::1]:80",
    "[::A]",
    "Example.COM.",
    "a,b",
    "127.1",
];

const METHODS: &[&str] = &["GET", "GET", "GET", "get", "PATCH", "Post", "BREW"];

const HEADER_PROFILES: [&str; 4] = [
    "{}",
    r#"{"repeated_singletons": "keep_first", "lowercase_methods": "uppercase",
        "singleton_headers": ["x-tenant"],
        "renames": [{"from": "x-legacy", "to": "x-canonical"}, {"from": "x_legacy", "to": "x-canonical"}],
        "authority": {"strip_port": "any"}}"#,
    r#"{"underscores_in_names": "allow", "strip_hop_by_hop": false, "trim_whitespace": false,
        "repeated_singletons": "keep_first", "internal_headers": []}"#,
    r#"{"underscores_in_names": "reject", "repeated_singletons": "keep_first",
        "trusted_callers": [{"mtls": true}], "path": {"escaped_slashes": "unescape_and_forward"},
        "renames": [{"from": "x_legacy", "to": "authorization"}]}"#,
];

fn generate_request(rng: &mut TestRng) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut headers = vec![
        (b":method".to_vec(), rng.pick(METHODS).as_bytes().to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
        (
            b":authority".to_vec(),
            rng.pick(AUTHORITIES).as_bytes().to_vec(),
        ),
        (b":path".to_vec(), generate_path(rng, 20)),
    ];
    for _ in 0..rng.below(8) {
        headers.push((
            rng.pick(NAMES).as_bytes().to_vec(),
            rng.pick(VALUES).as_bytes().to_vec(),
        ));
    }
    // Shuffle a little, pseudo-headers included.
    for _ in 0..rng.below(3) {
        let (a, b) = (rng.below(headers.len()), rng.below(headers.len()));
        headers.swap(a, b);
    }
    headers
}

fn as_bytes(headers: &[(String, String)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn generated_requests_normalize_to_a_fixed_point() {
    const PER_PROFILE: usize = 4000;
    let mut rng = TestRng::new(0xD1B5_4A32_D192_ED03);
    let mut forwarded = 0;
    for config in HEADER_PROFILES {
        let host = host(config);
        for _ in 0..PER_PROFILE {
            let headers = generate_request(&mut rng);
            let mtls = rng.below(2) == 0;
            let stream = host.stream();
            stream.set_property(&["connection", "mtls"], mtls);
            let action = stream.send_request_headers_bytes(headers.clone());
            let first = common::outcome(&stream, action);
            drop(stream);
            if let Outcome::Forwarded(out) = &first {
                forwarded += 1;
                let stream = host.stream();
                stream.set_property(&["connection", "mtls"], mtls);
                let action = stream.send_request_headers_bytes(as_bytes(out));
                let second = common::outcome(&stream, action);
                assert_eq!(second, first, "{config}: not a fixed point for {headers:?}");
            }
        }
    }
    eprintln!("requests: {forwarded} forwarded and re-sent");
    assert!(forwarded > 4000, "{forwarded}");
}
