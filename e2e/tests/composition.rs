//! A chain is never weaker than its strictest stage: hostile variants of a denied path,
//! sent through access-control alone, header-normalization alone and the bundle, never
//! reach the application as a path that a lenient application reads as the denied one.
//!
//! The policy (`envoy-test-configs/access-control-plaintext.yaml` and
//! `access-control-bundle.yaml`) denies the caller `frontend` everything below `/admin`
//! and allows it everything else. The variants are generated: every spelling of the
//! name `admin` (case, escapes of each letter, double and triple encoding, overlong
//! UTF-8, every non-ASCII letter that Unicode case folding reads as one of its letters,
//! trailing dots and spaces) in every surrounding (dot segments plain, encoded,
//! double-encoded and overlong, `..;`, backslashes raw and encoded, slash runs, `;params`
//! raw, encoded and double-encoded, segments of dots and spaces, queries, fragments,
//! NUL). What reaches the application is read in every way [`wasmesh_e2e::lenient`]
//! knows (each combination of the loosenings); none may be below `/admin`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use wasmesh_e2e::lenient::{ascii_look_alikes, is_below, segments};
use wasmesh_e2e::{http, EchoServer, Envoy, EnvoyConfig};

const DENIED: &str = "/admin";

/// Every escape of `bytes`, `%XX` with uppercase hex.
fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// Spellings of the segment name `admin`.
fn names() -> Vec<String> {
    let word = "admin";
    let mut names: Vec<String> = ["admin", "ADMIN", "Admin", "aDmIn", "admiN"]
        .map(String::from)
        .to_vec();
    for (index, letter) in word.char_indices() {
        let (before, after) = (&word[..index], &word[index + 1..]);
        let byte = letter as u8;
        names.push(format!("{before}%{byte:02X}{after}"));
        names.push(format!("{before}%{byte:02x}{after}"));
        names.push(format!("{before}%25{byte:02X}{after}"));
        names.push(format!(
            "{before}%{:02X}{after}",
            letter.to_ascii_uppercase() as u8
        ));
        // Overlong UTF-8 of the letter, two and three bytes.
        names.push(format!(
            "{before}{}{after}",
            escaped(&[0xC0 | (byte >> 6), 0x80 | (byte & 0x3F)])
        ));
        names.push(format!(
            "{before}{}{after}",
            escaped(&[0xE0, 0x80 | (byte >> 6), 0x80 | (byte & 0x3F)])
        ));
        for look_alike in ascii_look_alikes(letter) {
            let mut utf8 = [0; 4];
            let encoded = look_alike.encode_utf8(&mut utf8).as_bytes();
            names.push(format!("{before}{}{after}", escaped(encoded)));
            names.push(format!(
                "{before}{}{after}",
                escaped(encoded).to_ascii_lowercase()
            ));
            names.push(format!(
                "{before}{}{after}",
                escaped(encoded).replace('%', "%25")
            ));
            names.push(format!("{before}{look_alike}{after}"));
            names.push(format!(
                "{}{}{}",
                before.to_ascii_uppercase(),
                escaped(encoded),
                after.to_ascii_uppercase()
            ));
        }
        // Fullwidth forms, which NFKC folds to ASCII.
        let fullwidth = char::from_u32(0xFF41 + u32::from(byte - b'a')).unwrap();
        let mut utf8 = [0; 4];
        names.push(format!(
            "{before}{}{after}",
            escaped(fullwidth.encode_utf8(&mut utf8).as_bytes())
        ));
    }
    names.push(escaped(word.as_bytes()));
    names.push(escaped(word.as_bytes()).replace('%', "%25"));
    names.push("%252561dmin".into());
    for tail in [
        ".", "..", "%2E", "%2e%2e", "%20", ". ", ".%20", "%09", "%2E%20",
    ] {
        names.push(format!("{word}{tail}"));
    }
    names
}

/// What comes before the name.
const PREFIXES: &[&str] = &[
    "/",
    "//",
    "///",
    "/./",
    "/.%2e/",
    "/x/../",
    "/x/y/../../",
    "/x/%2e%2e/",
    "/x/%2E%2E/",
    "/x/.%2e/",
    "/x/%2e./",
    "/x/%252e%252e/",
    "/x/%25%32%65%25%32%65/",
    "/x/%C0%AE%C0%AE/",
    "/x/..;/",
    "/x/..;y/",
    "/x/.;/../",
    "/x/..%3B/",
    "/x/..%2f",
    "/x/..%2F",
    "/x/..%252f",
    "/x/..%5c",
    "/x/..%5C",
    "/x/..%C0%AF",
    "/x/..%E0%80%AF",
    "/x/..%C1%9C",
    "/x\\..\\",
    "/x/..\\",
    "/%2f",
    "/%5c",
    "/x//../",
    "/x/..%20/",
    "/x/.../",
    "/x/.. /",
    "/x/..%3Bx/",
    "/x/..%3B/",
    "/x/%EF%BC%8E%EF%BC%8E/",
    "/x%EF%BC%8F..%EF%BC%8F",
];

/// What comes after the name.
const SUFFIXES: &[&str] = &[
    "",
    "/",
    "/users",
    "/.",
    "/..",
    "/./users",
    ";x",
    ";",
    ";x/users",
    ";jsessionid=1/users",
    "%3Bx",
    "%3bx/users",
    "%253Bx",
    "%3B/users",
    "?q=1",
    "?",
    "#f",
    "%23x",
    "%3Fx",
    "%00",
    "%2F",
    "%2fusers",
    "%5Cusers",
    "\\users",
    "/...",
    "/..%20",
    "/..%3B",
    "/..%3Bx/users",
    "/.%20",
    "/%3B/users",
    "/;x/users",
    "/%EF%BC%8E%EF%BC%8E",
    "%EF%BC%8F..",
];

/// Every hostile target, once each, in a fixed order.
fn variants() -> Vec<String> {
    let names = names();
    let mut targets = BTreeSet::new();
    for name in &names {
        for suffix in ["", "/users", ";x"] {
            targets.insert(format!("/{name}{suffix}"));
        }
    }
    for prefix in PREFIXES {
        for suffix in SUFFIXES {
            targets.insert(format!("{prefix}admin{suffix}"));
        }
    }
    for (i, name) in names.iter().enumerate() {
        for (j, prefix) in PREFIXES.iter().enumerate() {
            let suffix = SUFFIXES[(i * 7 + j * 3) % SUFFIXES.len()];
            targets.insert(format!("{prefix}{name}{suffix}"));
        }
    }
    targets.into_iter().collect()
}

/// Where one request ended.
#[derive(Debug)]
enum Ending {
    /// Answered by a filter or by Envoy itself, with this status and body.
    Answered(u16, String),
    /// Forwarded; the target as the application received it.
    Forwarded(String),
}

/// Sends every variant as a raw HTTP/1.1 request line to the ingress listener.
fn send_all(envoy: &Envoy, targets: &[String]) -> Vec<Ending> {
    let ingress = envoy.listener("ingress").unwrap();
    targets
        .iter()
        .map(|target| {
            let response = http::get(ingress, target, &[("host", "orders")]).unwrap();
            if response.header("x-echo") == Some("1") {
                let echoed = response.json().unwrap();
                Ending::Forwarded(echoed["path"].as_str().unwrap().to_owned())
            } else {
                Ending::Answered(response.status, response.body_str())
            }
        })
        .collect()
}

/// Runs every variant through the chain of `config` and checks that none reaches the
/// application below `/admin` as the lenient application reads it. Returns how many
/// were answered by the deny rule.
fn no_variant_reaches_the_denied_path(config: &str) -> usize {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file(config)
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let targets = variants();
    let hostile = targets.iter().filter(|t| is_below(t, DENIED)).count();
    assert!(hostile >= 60, "only {hostile} variants read as {DENIED}");

    let mut denied_by_rule = 0;
    let mut forwarded = 0;
    for (target, ending) in targets.iter().zip(send_all(&envoy, &targets)) {
        match ending {
            Ending::Forwarded(received) => {
                forwarded += 1;
                assert!(
                    !is_below(&received, DENIED),
                    "{target:?} reached the application as {received:?}, read as {:?}",
                    segments(&received)
                );
            }
            Ending::Answered(status, body) => {
                assert!((400..500).contains(&status), "{target:?}: {status} {body}");
                if status == 403 && body.contains(r#""rule":"no-admin""#) {
                    denied_by_rule += 1;
                }
            }
        }
    }
    for request in app.requests() {
        assert!(!is_below(&request.path, DENIED), "{}", request.path);
    }
    eprintln!(
        "{} variants ({hostile} read as {DENIED} when sent): {forwarded} forwarded, \
         {denied_by_rule} denied by the rule",
        targets.len()
    );
    assert!(forwarded > 0 && denied_by_rule > 0);
    denied_by_rule
}

#[test]
fn access_control_alone_holds_for_lenient_applications() {
    no_variant_reaches_the_denied_path("access-control-plaintext.yaml");
}

#[test]
fn the_bundle_holds_for_lenient_applications() {
    no_variant_reaches_the_denied_path("access-control-bundle.yaml");
}

/// Alone, header-normalization has no policy; what it forwards must mean to a lenient
/// application what the request meant: it rewrites the form, never the reading.
#[test]
fn header_normalization_alone_changes_no_lenient_reading() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("header-normalization.yaml")
        .unwrap()
        .upstream(8000, app.port());
    let envoy = Envoy::start(&config).unwrap();
    let targets = variants();
    let mut forwarded = 0;
    let mut refused = 0;
    for (target, ending) in targets.iter().zip(send_all(&envoy, &targets)) {
        match ending {
            Ending::Forwarded(received) => {
                forwarded += 1;
                assert_eq!(
                    segments(&received),
                    segments(target),
                    "{target:?} was forwarded as {received:?}"
                );
            }
            Ending::Answered(status, body) => {
                refused += 1;
                assert!((400..500).contains(&status), "{target:?}: {status} {body}");
            }
        }
    }
    eprintln!(
        "{} variants: {forwarded} forwarded, {refused} refused",
        targets.len()
    );
    assert!(forwarded > 0 && refused > 0);
}

#[test]
fn the_variants_are_many_and_of_every_kind() {
    let targets = variants();
    assert!(targets.len() >= 500, "{}", targets.len());
    for kind in [
        "%25", "%C4%B1", "%C4%B0", "%C0%AE", "%C1%9C", "\\", ";", "%3B", "ADMIN", "#", "%20",
    ] {
        assert!(
            targets
                .iter()
                .any(|t| t.contains(kind) && is_below(t, DENIED)),
            "no hostile variant with {kind}"
        );
    }
}

/// In the bundle, a stage matching its `routes` entries on Envoy's route name never applies
/// the entry of a route the request will not take. Envoy chose route `static` for
/// `/static/../admin/users` before the filters ran; header-normalization makes the path
/// `/admin/users`, which Envoy routes along `orders` after them, while Envoy still names
/// `static` as the request's route. access-control's permissive entry for `static` must not
/// decide: the client is sent to the canonical path instead, where the listener's policy
/// denies it.
#[test]
fn a_route_entry_never_decides_for_a_request_that_will_take_another_route() {
    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("access-control-bundle.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .replace(
            "              routes:\n              - match: { prefix: \"/\" }\n",
            "              routes:\n              - name: static\n                match: { prefix: \"/static\" }\n                route: { cluster: app }\n              - name: orders\n                match: { prefix: \"/\" }\n",
        )
        .replace(
            r#"{"name": "frontend", "action": "allow", "callers": ["frontend"]}
                        ]"#,
            r#"{"name": "frontend", "action": "allow", "callers": ["frontend"]}
                        ],
                        "routes": [{"match": {"route_name": "static"},
                                    "rules": [{"name": "static", "action": "allow", "callers": ["frontend"]}]}]"#,
        );
    let envoy = Envoy::start(&config).unwrap();
    let listener = envoy.listener("ingress").unwrap();
    // Route `static`: its entry allows what the listener's policy denies elsewhere.
    let response = http::get(listener, "/static/admin/app.js", &[]).unwrap();
    assert_eq!(response.status, 200, "{}", response.body_str());
    for path in [
        "/static/../admin/users",
        "/static/./../admin/users",
        "/static//../admin/users",
    ] {
        let response = http::get(listener, path, &[]).unwrap();
        assert_eq!(response.status, 307, "{path}: {}", response.body_str());
        assert_eq!(response.header("location"), Some("/admin/users"), "{path}");
        // Sent again as Envoy routes it: the listener's policy.
        let response = http::get(listener, "/admin/users", &[]).unwrap();
        assert_eq!(response.status, 403, "{}", response.body_str());
        assert_eq!(response.json().unwrap()["rule"], "no-admin");
    }
    assert_eq!(app.request_count(), 1);
}
