//! Request paths through the filter (`proxy_on_request_headers` in the host emulator):
//! the RFC 3986 §5.2.4 and §5.4 examples, and a table of hostile paths, each with its
//! canonical form or the rule that refuses it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{counter, host, send_bytes, Outcome};
use wasmesh_path::examples::{Profile, HOSTILE_TARGETS, RFC3986_ABNORMAL, RFC3986_NORMAL};
use wasmesh_testing::Host;

/// Sends `GET <target>` and returns the forwarded target, or the rule that refused it
/// (`redirect:<location>` for a redirect).
fn through(host: &Host, target: &[u8]) -> Result<String, String> {
    let outcome = send_bytes(
        host,
        vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":scheme".to_vec(), b"http".to_vec()),
            (b":authority".to_vec(), b"svc".to_vec()),
            (b":path".to_vec(), target.to_vec()),
        ],
    );
    match outcome {
        Outcome::Forwarded(_) => Ok(outcome.path().to_owned()),
        Outcome::Rejected(_, rule) => Err(rule),
        Outcome::Redirected(location) => Err(format!("redirect:{location}")),
    }
}

// ---- RFC 3986 ------------------------------------------------------------------------------

#[test]
fn rfc3986_5_2_4_worked_examples() {
    let host = host("{}");
    assert_eq!(through(&host, b"/a/b/c/./../../g").as_deref(), Ok("/a/g"));
    // The second example is relative ("mid/content=5/../6"); a request path is absolute.
    assert_eq!(
        through(&host, b"/mid/content=5/../6").as_deref(),
        Ok("/mid/6")
    );
    assert_eq!(
        through(&host, b"mid/content=5/../6"),
        Err("relative_path".to_owned())
    );
}

/// The request target a client resolving `reference` against the base would send before
/// removing dot segments (RFC 3986 §5.2.2 with the §5.2.3 merge), fragment included.
fn unresolved_target(reference: &str) -> String {
    const BASE_DIRECTORY: &str = "/b/c/";
    const BASE_PATH: &str = "/b/c/d;p";
    const BASE_QUERY: &str = "q";
    let (before_fragment, fragment) = match reference.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (reference, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let mut target = if path.is_empty() {
        BASE_PATH.to_owned()
    } else if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{BASE_DIRECTORY}{path}")
    };
    match (path.is_empty(), query) {
        (_, Some(query)) => target.push_str(&format!("?{query}")),
        (true, None) => target.push_str(&format!("?{BASE_QUERY}")),
        (false, None) => {}
    }
    if let Some(fragment) = fragment {
        target.push_str(&format!("#{fragment}"));
    }
    target
}

#[test]
fn rfc3986_5_4_reference_resolution_examples() {
    // RFC 3986 §5.4 with base `http://a/b/c/d;p?q`: only references that are paths (no
    // scheme, no authority) apply to `:path`; the expected target drops the fragment.
    // Clients never send fragments; these examples carry some, so strip them here.
    let host = host(r#"{"path": {"fragment": "strip"}}"#);
    for (reference, resolved) in RFC3986_NORMAL.iter().chain(RFC3986_ABNORMAL.iter()) {
        let target = unresolved_target(reference);
        let expected = resolved.split('#').next().unwrap();
        assert_eq!(
            through(&host, target.as_bytes()).as_deref(),
            Ok(expected),
            "reference {reference:?} sent as {target:?}"
        );
    }
    // With the default options a fragment is refused instead.
    let strict = common::host("{}");
    assert_eq!(
        through(&strict, unresolved_target("g#s").as_bytes()),
        Err("fragment".to_owned())
    );
}

// ---- Hostile paths -------------------------------------------------------------------------

/// The filter configuration that gives a table row's profile.
fn config(profile: Profile) -> &'static str {
    match profile {
        Profile::Default => "{}",
        Profile::KeepSlashes => r#"{"path": {"escaped_slashes": "keep"}}"#,
        Profile::UnescapeSlashes => r#"{"path": {"escaped_slashes": "unescape_and_forward"}}"#,
        Profile::RedirectSlashes => r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#,
        Profile::DotParamsAsDots => r#"{"path": {"dot_segment_params": "as_dot_segment"}}"#,
        Profile::StripParams => r#"{"path": {"path_params": "strip"}}"#,
        Profile::Lowercase => r#"{"path": {"lowercase": true}}"#,
        Profile::StripFragment => r#"{"path": {"fragment": "strip"}}"#,
        Profile::NoMerge => r#"{"path": {"merge_slashes": false}}"#,
    }
}

/// What the filter does with a table row: forwards the canonical target or refuses with
/// the rule, except that under [`Profile::RedirectSlashes`] an accepted target is answered
/// with `redirect:<canonical target>` (every such row decodes an escaped slash).
fn filter_outcome(
    profile: Profile,
    expected: Result<&'static str, &'static str>,
) -> Result<String, String> {
    match (profile, expected) {
        (Profile::RedirectSlashes, Ok(canonical)) => Err(format!("redirect:{canonical}")),
        (_, Ok(canonical)) => Ok(canonical.to_owned()),
        (_, Err(rule)) => Err(rule.to_owned()),
    }
}

#[test]
fn hostile_paths_table() {
    assert!(HOSTILE_TARGETS.len() >= 40, "{}", HOSTILE_TARGETS.len());
    let hosts: Vec<(Profile, Host)> = Profile::ALL
        .iter()
        .map(|profile| (*profile, host(config(*profile))))
        .collect();
    for &(target, profile, expected) in HOSTILE_TARGETS {
        let (_, host) = hosts.iter().find(|(p, _)| *p == profile).unwrap();
        let got = through(host, target);
        assert_eq!(
            got,
            filter_outcome(profile, expected),
            "{:?} under {profile:?}",
            String::from_utf8_lossy(target)
        );
        // What is forwarded is a fixed point.
        if let Ok(forwarded) = &got {
            assert_eq!(
                through(host, forwarded.as_bytes()).as_deref(),
                Ok(forwarded.as_str())
            );
        }
    }
}

#[test]
fn every_path_rule_is_counted_under_its_name() {
    let host = host("{}");
    let mut refused = 0;
    for &(target, profile, expected) in HOSTILE_TARGETS {
        if profile != Profile::Default {
            continue;
        }
        if let Err(rule) = expected {
            assert_eq!(through(&host, target).unwrap_err(), rule);
            refused += 1;
        }
    }
    let total: u64 = [
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
    ]
    .iter()
    .map(|rule| counter(&host, "rejected", rule).unwrap_or(0))
    .sum();
    assert_eq!(total, refused);
}
