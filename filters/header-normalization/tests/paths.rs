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
use wasmesh_sdk::testing::Host;

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

/// RFC 3986 §5.4 with base `http://a/b/c/d;p?q`: (reference, resolved target without the
/// fragment). Only references that are paths (no scheme, no authority) apply to `:path`.
const RFC3986_5_4: [(&str, &str); 39] = [
    // §5.4.1 normal examples.
    ("g", "/b/c/g"),
    ("./g", "/b/c/g"),
    ("g/", "/b/c/g/"),
    ("/g", "/g"),
    ("?y", "/b/c/d;p?y"),
    ("g?y", "/b/c/g?y"),
    ("#s", "/b/c/d;p?q"),
    ("g#s", "/b/c/g"),
    ("g?y#s", "/b/c/g?y"),
    (";x", "/b/c/;x"),
    ("g;x", "/b/c/g;x"),
    ("g;x?y#s", "/b/c/g;x?y"),
    ("", "/b/c/d;p?q"),
    (".", "/b/c/"),
    ("./", "/b/c/"),
    ("..", "/b/"),
    ("../", "/b/"),
    ("../g", "/b/g"),
    ("../..", "/"),
    ("../../", "/"),
    ("../../g", "/g"),
    // §5.4.2 abnormal examples.
    ("../../../g", "/g"),
    ("../../../../g", "/g"),
    ("/./g", "/g"),
    ("/../g", "/g"),
    ("g.", "/b/c/g."),
    (".g", "/b/c/.g"),
    ("g..", "/b/c/g.."),
    ("..g", "/b/c/..g"),
    ("./../g", "/b/g"),
    ("./g/.", "/b/c/g/"),
    ("g/./h", "/b/c/g/h"),
    ("g/../h", "/b/c/h"),
    ("g;x=1/./y", "/b/c/g;x=1/y"),
    ("g;x=1/../y", "/b/c/y"),
    ("g?y/./x", "/b/c/g?y/./x"),
    ("g?y/../x", "/b/c/g?y/../x"),
    ("g#s/./x", "/b/c/g"),
    ("g#s/../x", "/b/c/g"),
];

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
    // Clients never send fragments; these examples carry some, so strip them here.
    let host = host(r#"{"path": {"fragment": "strip"}}"#);
    for (reference, expected) in RFC3986_5_4 {
        let target = unresolved_target(reference);
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

/// The filter configuration a table row runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Default,
    KeepSlashes,
    UnescapeSlashes,
    RedirectSlashes,
    DotParamsAsDots,
    StripParams,
    Lowercase,
    StripFragment,
    NoMerge,
}

impl Profile {
    const ALL: [Profile; 9] = [
        Profile::Default,
        Profile::KeepSlashes,
        Profile::UnescapeSlashes,
        Profile::RedirectSlashes,
        Profile::DotParamsAsDots,
        Profile::StripParams,
        Profile::Lowercase,
        Profile::StripFragment,
        Profile::NoMerge,
    ];

    fn config(self) -> &'static str {
        match self {
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
}

use Profile::*;

/// (target, profile, forwarded target, or the rule, or `redirect:<location>`).
type Row = (&'static [u8], Profile, Result<&'static str, &'static str>);

const HOSTILE: &[Row] = &[
    // Dot segments.
    (b"/admin/../admin", Default, Ok("/admin")),
    (b"/a/./b", Default, Ok("/a/b")),
    (b"/..", Default, Ok("/")),
    (b"/../../etc/passwd", Default, Ok("/etc/passwd")),
    (b"/public/../../../admin", Default, Ok("/admin")),
    (b"/a/b/../../..//c", Default, Ok("/c")),
    (b"/.../admin", Default, Ok("/.../admin")),
    (b"/admin/.", Default, Ok("/admin/")),
    (b"/admin/..", Default, Ok("/")),
    (b"/public/..?x=1", Default, Ok("/?x=1")),
    // `..;` and other dot-segment parameters.
    (b"/public/..;/admin", Default, Err("dot_segment_parameter")),
    (
        b"/public/..;x=1/admin",
        Default,
        Err("dot_segment_parameter"),
    ),
    (b"/public/.;/admin", Default, Err("dot_segment_parameter")),
    (
        b"/public/%2e%2e;jsessionid=1/admin",
        Default,
        Err("dot_segment_parameter"),
    ),
    (b"/public/..;/admin", DotParamsAsDots, Ok("/admin")),
    (b"/public/.;x/admin", DotParamsAsDots, Ok("/public/admin")),
    (b"/public/..%3B/admin", Default, Ok("/public/..%3B/admin")),
    (b"/admin;x/../public", Default, Ok("/public")),
    (b"/admin;jsessionid=1", StripParams, Ok("/admin")),
    (
        b"/public;x/..;y/admin",
        StripParams,
        Err("dot_segment_parameter"),
    ),
    // Encoded dots.
    (b"/%2e%2e/admin", Default, Ok("/admin")),
    (b"/%2E./admin", Default, Ok("/admin")),
    (b"/.%2e/admin", Default, Ok("/admin")),
    (b"/public/%2e%2e/admin", Default, Ok("/admin")),
    (b"/%2e", Default, Ok("/")),
    (b"/%2e%2e%2e/admin", Default, Ok("/.../admin")),
    // Double encoding.
    (b"/%252e%252e/admin", Default, Err("double_encoding")),
    (b"/%252fadmin", Default, Err("double_encoding")),
    (b"/%255cadmin", Default, Err("double_encoding")),
    (
        b"/%25%32%65%25%32%65/admin",
        Default,
        Err("double_encoding"),
    ),
    (
        b"/%252e%252e/admin",
        UnescapeSlashes,
        Err("double_encoding"),
    ),
    (b"/100%25", Default, Ok("/100%25")),
    // Encoded slashes and backslashes.
    (b"/admin%2fusers", Default, Err("escaped_slash")),
    (b"/admin%2Fusers", Default, Err("escaped_slash")),
    (b"/..%2fadmin", Default, Err("escaped_slash")),
    (b"/%5cadmin", Default, Err("escaped_slash")),
    (b"/admin%2fusers", KeepSlashes, Ok("/admin%2Fusers")),
    (b"/..%2fadmin", KeepSlashes, Ok("/..%2Fadmin")),
    (b"/admin%2fusers", UnescapeSlashes, Ok("/admin/users")),
    (b"/..%2fadmin", UnescapeSlashes, Ok("/admin")),
    (b"/public/%2e%2e%2fadmin", UnescapeSlashes, Ok("/admin")),
    (b"/%5cadmin", UnescapeSlashes, Ok("/admin")),
    (b"/a%2F%2Fb", UnescapeSlashes, Ok("/a/b")),
    (
        b"/admin%2fusers",
        RedirectSlashes,
        Err("redirect:/admin/users"),
    ),
    (
        b"/public/..%2Fadmin?q=%2F",
        RedirectSlashes,
        Err("redirect:/admin?q=%2F"),
    ),
    // Raw backslash.
    (b"/admin\\..\\x", Default, Err("backslash")),
    (b"/public\\..\\admin", UnescapeSlashes, Err("backslash")),
    // NUL and other controls.
    (b"/admin%00", Default, Err("control_character")),
    (b"/admin\0", Default, Err("control_character")),
    (b"/admin%00.html", KeepSlashes, Err("control_character")),
    (b"/admin\t", Default, Err("control_character")),
    (
        b"/admin%0d%0aX-Injected:1",
        Default,
        Err("control_character"),
    ),
    (b"/admin?x=\x7f", Default, Err("control_character")),
    // Overlong and otherwise invalid UTF-8.
    (b"/%c0%af", Default, Err("invalid_utf8")),
    (b"/%e0%80%af", Default, Err("invalid_utf8")),
    (b"/%c0%ae%c0%ae/admin", Default, Err("invalid_utf8")),
    (b"/%c0%ae%c0%ae/admin", UnescapeSlashes, Err("invalid_utf8")),
    (b"/%ed%a0%80", Default, Err("invalid_utf8")),
    (b"/%f0%9f%98", Default, Err("invalid_utf8")),
    (b"/caf%c3%a9", Default, Ok("/caf%C3%A9")),
    // Fragments.
    (b"/admin#x", Default, Err("fragment")),
    (b"/public#/../admin", Default, Err("fragment")),
    (b"/admin#x", StripFragment, Ok("/admin")),
    (b"/public#/../admin", StripFragment, Ok("/public")),
    (b"/public?q#/../admin", StripFragment, Ok("/public?q")),
    // Repeated slashes.
    (b"//admin", Default, Ok("/admin")),
    (b"/a//b///c", Default, Ok("/a/b/c")),
    (b"//admin", NoMerge, Ok("//admin")),
    (b"/a//../b", NoMerge, Ok("/a/b")),
    // Case.
    (b"/ADMIN", Default, Ok("/ADMIN")),
    (b"/ADMIN", Lowercase, Ok("/admin")),
    (b"/%41DMIN", Lowercase, Ok("/admin")),
    (b"/AdMiN/%c3%a9?Q=X", Lowercase, Ok("/admin/%C3%A9?Q=X")),
    (b"/%7eUser", Default, Ok("/~User")),
    // The query is never rewritten.
    (b"/a/../b?x=/../y", Default, Ok("/b?x=/../y")),
    (
        b"/a?x=%2f&y=%00-not-decoded",
        Default,
        Ok("/a?x=%2f&y=%00-not-decoded"),
    ),
    (b"/a?x=#", Default, Err("fragment")),
    // Percent-encoded unreserved characters.
    (b"/%61dmin", Default, Ok("/admin")),
    (b"/admin/%3f", Default, Ok("/admin/%3F")),
    // Whitespace and raw non-ASCII.
    (b"/admin x", Default, Err("invalid_character")),
    (b"/admin%20x", Default, Ok("/admin%20x")),
    (b"/caf\xc3\xa9", Default, Err("invalid_character")),
    (
        b"/\xc0\xae\xc0\xae/admin",
        Default,
        Err("invalid_character"),
    ),
    // Malformed escapes and non-origin forms.
    (b"/%", Default, Err("invalid_escape")),
    (b"/%zzadmin", Default, Err("invalid_escape")),
    (b"/%u002e%u002e/admin", Default, Err("invalid_escape")),
    (b"admin", Default, Err("relative_path")),
    (b"", Default, Err("relative_path")),
    (b"http://evil/admin", Default, Err("relative_path")),
    (b"*", Default, Ok("*")),
];

#[test]
fn hostile_paths_table() {
    assert!(HOSTILE.len() >= 40, "{}", HOSTILE.len());
    let hosts: Vec<(Profile, Host)> = Profile::ALL
        .iter()
        .map(|profile| (*profile, host(profile.config())))
        .collect();
    for &(target, profile, expected) in HOSTILE {
        let (_, host) = hosts.iter().find(|(p, _)| *p == profile).unwrap();
        let got = through(host, target);
        let seen = got.as_deref().map_err(String::as_str);
        assert_eq!(
            seen,
            expected,
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
    for &(target, profile, expected) in HOSTILE {
        if profile != Default {
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
