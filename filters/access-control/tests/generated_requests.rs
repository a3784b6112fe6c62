//! Generated requests through the filter in the host emulator (proptest): random
//! policies, identity sources and path options; hostile methods, paths, authorities and
//! headers (repeated identity headers, forged XFCC, non-UTF-8, oversized values); random
//! connection attributes (mTLS, peer certificate SAN, source address).
//!
//! - Nothing panics (a panic in a proxy-wasm callback aborts the test process natively,
//!   and traps the module in Envoy; the input is printed first).
//! - Every request is counted once; a denial in `enforce` mode is the configured status
//!   with `{"error": "access_denied", "rule": <a configured or built-in rule>}` (and the
//!   caller when configured); `shadow` mode never replies; the caller-name header never
//!   reaches the upstream and the verified caller goes up at most once.
//! - The decision for a request equals the decision for the same request after
//!   header-normalization (see `decisions_do_not_depend_on_normalization_first`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use access_control::AccessControl;
use header_normalization::HeaderNormalization;
use proptest::prelude::*;
use std::cell::Cell;
use wasmesh_fuzz_strategies::config::{access_control, access_control_with, AccessControlConfig};
use wasmesh_fuzz_strategies::path::{options, options_json};
use wasmesh_fuzz_strategies::request::{request, values_of, Request};
use wasmesh_fuzz_strategies::{note_input, run};
use wasmesh_path::PathOptions;
use wasmesh_testing::{Action, Host, Metric, SentReply};

fn host(config: &str) -> Host {
    let host = Host::of::<AccessControl>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    host
}

/// What access-control did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    /// The counter incremented: its stat name, which carries `decision`, `caller` and
    /// `rule`.
    counted: String,
    /// The reply, if the filter denied the request.
    reply: Option<SentReply>,
    /// The request headers going upstream (when not denied).
    upstream: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The counters that moved between `before` and `after`, with how much.
fn moved(before: &[Metric], after: &[Metric]) -> Vec<(String, u64)> {
    after
        .iter()
        .filter(|m| m.name.starts_with(access_control::REQUESTS_METRIC))
        .filter_map(|m| {
            let old = before
                .iter()
                .find(|b| b.name == m.name)
                .map_or(0, |b| b.value);
            (m.value != old).then(|| (m.name.clone(), m.value - old))
        })
        .collect()
}

/// Sends `request` through the whole callback sequence and reads the decision.
fn decide(host: &Host, request: &Request) -> Decision {
    let before = host.metrics();
    let (stream, action) = request.send(host);
    let reply = stream.local_reply();
    assert_eq!(action == Action::Pause, reply.is_some(), "{reply:?}");
    let upstream = stream.request_headers_bytes();
    request.end.finish(host, stream, reply.is_some());
    let counted = moved(&before, &host.metrics());
    assert_eq!(counted.len(), 1, "one count per request: {counted:?}");
    assert_eq!(counted[0].1, 1, "one count per request: {counted:?}");
    Decision {
        counted: counted[0].0.clone(),
        reply,
        upstream,
    }
}

/// Checks a decision against the documented replies and header handling.
fn check(config: &AccessControlConfig, decision: &Decision) -> Result<(), TestCaseError> {
    let tag = |name: &str| {
        let start = decision.counted.find(&format!(".{name}=.="))? + name.len() + 4;
        let end = decision.counted[start..].find(";.;")? + start;
        Some(decision.counted[start..end].to_owned())
    };
    let verdict = tag("decision").unwrap();
    let rule = tag("rule").unwrap();
    if verdict == "other" {
        // Past `tag_set_cap` every tag is `other`; the default cap is not reached here.
        prop_assert!(false, "tag set cap reached: {}", decision.counted);
    }
    let known = config.rules.contains(&rule.as_str())
        || access_control::policy::builtin::ALL.contains(&rule.as_str());
    prop_assert!(
        known || rule == "-" || rule.is_empty(),
        "unknown rule {}",
        rule
    );
    match &decision.reply {
        Some(reply) => {
            prop_assert!(!config.shadow, "shadow mode replied");
            prop_assert_eq!(verdict.as_str(), "denied");
            prop_assert_eq!(reply.status, config.deny_status);
            prop_assert_eq!(reply.header("content-type"), Some("application/json"));
            prop_assert_eq!(reply.header("x-denied-by"), Some("wasmesh"));
            prop_assert_eq!(reply.details.as_str(), "wasmesh_access_control_denied");
            let body = reply.json();
            prop_assert_eq!(&body["error"], "access_denied");
            prop_assert_eq!(body["rule"].as_str(), Some(rule.as_str()));
            prop_assert!(known, "denied by an unknown rule {}", rule);
            let fields = body.as_object().map_or(0, |o| o.len());
            prop_assert_eq!(
                fields,
                if config.include_caller { 3 } else { 2 },
                "{}",
                body
            );
            if config.include_caller {
                prop_assert!(body["caller"].is_string(), "{}", body);
            }
        }
        None => {
            let allowed = ["allowed", "shadow_denied"];
            prop_assert!(allowed.contains(&verdict.as_str()), "{}", decision.counted);
            if verdict == "shadow_denied" {
                prop_assert!(config.shadow);
            }
            let upstream = &decision.upstream;
            prop_assert!(values_of(upstream, "x-wasmesh-caller").len() <= 1);
            if config.sources.contains(&"caller_header") {
                prop_assert!(values_of(upstream, "x-service-name").is_empty());
            }
            if let [path] = values_of(upstream, ":path").as_slice() {
                // An allowed request's path is canonical: checked, or normalized first.
                // (Shadow mode lets everything through, invalid paths included.)
                let canonical = wasmesh_path::canonicalize(path, &config.path);
                if verdict == "allowed" {
                    prop_assert_eq!(
                        canonical.map(|c| c.is_changed()),
                        Ok(false),
                        "{:?}",
                        String::from_utf8_lossy(path)
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn generated_requests_get_documented_decisions() {
    let counts = [Cell::new(0u32), Cell::new(0), Cell::new(0)];
    run(
        file!(),
        1000,
        (access_control(), request()),
        |(config, request)| {
            let _noted = note_input(&(config.json.clone(), request.clone()));
            let host = host(&config.json);
            let decision = decide(&host, &request);
            check(&config, &decision)?;
            let outcome = match (&decision.reply, decision.counted.contains("=.=allowed;")) {
                (Some(_), _) => 0,
                (None, true) => 1,
                (None, false) => 2,
            };
            counts[outcome].set(counts[outcome].get() + 1);
            Ok(())
        },
    );
    let counts = counts.map(|c| c.get());
    eprintln!("denied, allowed, shadow-denied: {counts:?}");
    assert!(counts.iter().all(|&c| c >= 50), "{counts:?}");
}

/// header-normalization for the comparison: the same path options as access-control,
/// and otherwise changing only what access-control reads the same way in both forms
/// (method case, which it ignores; authority case, trailing dot and port, which its host
/// patterns, written without ports, ignore). It refuses what it would otherwise rewrite in
/// a way access-control reads differently: repeated singletons are refused, and it keeps
/// what a client sent that access-control decides on by design (identity headers such as
/// `x-forwarded-client-cert`, which header-normalization drops as internal headers by
/// default; underscored and hop-by-hop names, and whitespace around values, which a
/// header condition may read).
fn path_only_normalization(
    path: &PathOptions,
    uppercase: bool,
    authority: (bool, &str, bool),
) -> String {
    let (lowercase, strip_port, trailing_dot) = authority;
    format!(
        r#"{{"path": {}, "lowercase_methods": "{}", "underscores_in_names": "allow",
            "repeated_singletons": "reject", "strip_hop_by_hop": false, "internal_headers": [],
            "trim_whitespace": false,
            "authority": {{"lowercase": {lowercase}, "strip_port": "{strip_port}", "strip_trailing_dot": {trailing_dot}}}}}"#,
        options_json(path),
        if uppercase { "uppercase" } else { "reject" },
    )
}

/// What header-normalization did with a request: the forwarded headers, or the location
/// of its redirect, or nothing when it refused the request.
enum Normalized {
    Forwarded(Vec<(Vec<u8>, Vec<u8>)>),
    Redirected(String),
    Refused,
}

fn normalize(config: &str, request: &Request) -> Normalized {
    let host = Host::of::<HeaderNormalization>();
    assert!(host.configure(config), "{config}: {:?}", host.logs());
    let (stream, _) = request.send(&host);
    let outcome = match stream.local_reply() {
        None => Normalized::Forwarded(stream.request_headers_bytes()),
        Some(reply) if reply.status == 307 => {
            Normalized::Redirected(reply.header("location").unwrap().to_owned())
        }
        Some(_) => Normalized::Refused,
    };
    stream.finish();
    outcome
}

/// The decision (allowed or denied, the caller and the rule, and the path sent upstream)
/// for a request equals the decision for the request header-normalization forwards (or
/// the one it redirects to), with the same path options.
///
/// Access-control is configured with `path.non_canonical: "normalize"`: with the default
/// `deny`, it denies every path that is not already canonical (rule
/// `non_canonical_path`), by design, while header-normalization rewrites such a path and
/// the rewritten request is then allowed; the two decisions would differ for every
/// non-canonical path, and the comparison would show only that. Normalizing, access
/// control matches the same canonical form either way, which is what must not depend on
/// whether header-normalization ran first. Requests header-normalization refuses are not
/// compared.
#[test]
fn decisions_do_not_depend_on_normalization_first() {
    let strategy = options().prop_flat_map(|path| {
        (
            access_control_with(path),
            any::<bool>(),
            (
                any::<bool>(),
                prop::sample::select(&["keep", "scheme_default", "any"][..]),
                any::<bool>(),
            ),
            request(),
        )
    });
    let compared = Cell::new(0u32);
    let rewritten = Cell::new(0u32);
    run(
        file!(),
        1000,
        strategy,
        |(mut config, uppercase, authority, request)| {
            config.json = config.json.replace(
                r#""non_canonical": "deny""#,
                r#""non_canonical": "normalize""#,
            );
            config.normalize = true;
            let normalization = path_only_normalization(&config.path, uppercase, authority);
            let _noted = note_input(&(config.json.clone(), normalization.clone(), request.clone()));
            let normalized = match normalize(&normalization, &request) {
                Normalized::Forwarded(headers) => {
                    let mut normalized = request.clone();
                    normalized.headers = headers;
                    normalized
                }
                Normalized::Redirected(location) => request.with_path(location.as_bytes()),
                Normalized::Refused => return Ok(()),
            };
            compared.set(compared.get() + 1);
            if normalized.headers != request.headers {
                rewritten.set(rewritten.get() + 1);
            }
            let host = host(&config.json);
            let raw = decide(&host, &request);
            let after = decide(&host, &normalized);
            check(&config, &raw)?;
            check(&config, &after)?;
            prop_assert_eq!(&raw.counted, &after.counted, "{}", normalization);
            prop_assert_eq!(
                raw.reply.as_ref().map(|r| r.json()),
                after.reply.as_ref().map(|r| r.json())
            );
            if raw.reply.is_none() {
                prop_assert_eq!(
                    values_of(&raw.upstream, ":path"),
                    values_of(&after.upstream, ":path")
                );
            }
            Ok(())
        },
    );
    let (compared, rewritten) = (compared.get(), rewritten.get());
    eprintln!(
        "{compared} requests compared, {rewritten} of them rewritten by header-normalization"
    );
    // About a quarter are compared, two thirds of those rewritten.
    assert!(
        compared >= 120 && rewritten >= 60,
        "{compared}, {rewritten}"
    );
}
