//! Filter configurations: valid ones with every option drawn at random (for the emulator
//! tests), and JSON documents near the filters' schemas (for the configuration readers).

use crate::json_string;
use crate::path::{options, options_json};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use wasmesh_path::{EscapedSlashes, PathOptions};

/// A header-normalization configuration and what the tests need to know about it.
#[derive(Debug, Clone)]
pub struct HeaderNormalizationConfig {
    /// The path options.
    pub path: PathOptions,
    /// Whether `original_path_header` is set (a trusted `{"mtls": true}` caller is then
    /// always configured too).
    pub original_path_header: bool,
    /// The JSON document.
    pub json: String,
}

/// A valid header-normalization configuration with random options.
pub fn header_normalization() -> BoxedStrategy<HeaderNormalizationConfig> {
    (
        options(),
        any::<bool>(),
        (
            select(
                &[
                    "",
                    "",
                    "",
                    r#""allowed_methods": ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "BREW"], "#,
                ][..],
            ),
            select(&["reject", "uppercase"][..]),
            select(&["allow", "drop", "reject"][..]),
            select(&["", r#""singleton_headers": ["x-tenant"], "#][..]),
            select(&["reject", "keep_first"][..]),
            any::<bool>(),
        ),
        (
            select(&[
                "",
                r#""internal_headers": [], "#,
                r#""internal_headers": ["x-envoy-*", "x-wasmesh-*"], "#,
            ][..]),
            select(&[
                "[]",
                r#"[{"mtls": true}]"#,
                r#"[{"source_cidrs": ["10.0.0.0/8", "::1/128"]}]"#,
                r#"[{"peer_uri_sans": ["spiffe://example.org/*"], "mtls": true}]"#,
            ][..]),
            any::<bool>(),
            select(&["keep", "scheme_default", "matching", "any"][..]),
            any::<bool>(),
        ),
        (
            select(&["", "", "", "", "", r#""max_headers": 6, "#, r#""max_headers": 0, "#][..]),
            select(
                &[
                    "",
                    "",
                    "",
                    "",
                    "",
                    r#""max_header_bytes": 4096, "#,
                    r#""max_header_bytes": 0, "#,
                ][..],
            ),
            any::<bool>(),
            select(&[
                "[]",
                r#"[{"from": "x_legacy", "to": "x-legacy"}]"#,
                r#"[{"from": "x-legacy", "to": "x-tenant"}, {"from": "x_user", "to": "x-user"}]"#,
            ][..]),
        ),
    )
        .prop_map(
            |(
                path,
                original_path_header,
                (methods, lowercase_methods, underscores, singletons, repeated, hop_by_hop),
                (internal, trusted, authority_lowercase, strip_port, trailing_dot),
                (max_headers, max_bytes, trim, renames),
            )| {
                let trusted = if original_path_header {
                    r#"[{"mtls": true}]"#
                } else {
                    trusted
                };
                let original = if original_path_header {
                    r#""original_path_header": "x-envoy-original-path", "#
                } else {
                    ""
                };
                let json = format!(
                    r#"{{"path": {path_json}, {original}{methods}"lowercase_methods": "{lowercase_methods}", "underscores_in_names": "{underscores}", {singletons}"repeated_singletons": "{repeated}", "strip_hop_by_hop": {hop_by_hop}, {internal}"trusted_callers": {trusted}, "authority": {{"lowercase": {authority_lowercase}, "strip_port": "{strip_port}", "strip_trailing_dot": {trailing_dot}}}, {max_headers}{max_bytes}"trim_whitespace": {trim}, "renames": {renames}}}"#,
                    path_json = options_json(&path),
                );
                HeaderNormalizationConfig {
                    path,
                    original_path_header,
                    json,
                }
            },
        ).boxed()
}

/// An access-control configuration and what the tests need to know about it.
#[derive(Debug, Clone)]
pub struct AccessControlConfig {
    /// `path.canonicalization`.
    pub path: PathOptions,
    /// `path.non_canonical` is `normalize`.
    pub normalize: bool,
    /// `mode` is `shadow`.
    pub shadow: bool,
    /// `deny_response.status`.
    pub deny_status: u16,
    /// `deny_response.include_caller`.
    pub include_caller: bool,
    /// The names of the configured rules.
    pub rules: Vec<&'static str>,
    /// The identity sources, in order.
    pub sources: Vec<&'static str>,
    /// The JSON document.
    pub json: String,
}

/// The rules an access-control configuration draws from: deny, allow and log rules on
/// paths (`/admin` is what the bypass attempts aim at), methods, hosts, headers, callers
/// and roles. Every path pattern is canonical under every path option.
pub const RULES: &[(&str, &str)] = &[
    (
        "no-admin",
        r#"{"name": "no-admin", "action": "deny", "paths": [{"prefix": "/admin"}]}"#,
    ),
    (
        "frontend-no-admin",
        r#"{"name": "frontend-no-admin", "action": "deny", "callers": ["frontend"], "paths": [{"prefix": "/admin"}, {"exact": "/internal/debug"}]}"#,
    ),
    (
        "audit-api",
        r#"{"name": "audit-api", "action": "log", "paths": [{"prefix": "/api"}]}"#,
    ),
    (
        "frontend-orders",
        r#"{"name": "frontend-orders", "action": "allow", "callers": ["frontend"], "methods": ["GET", "HEAD", "POST"], "paths": [{"prefix": "/orders"}, {"template": "/users/{*}/orders/{**}"}]}"#,
    ),
    (
        "health",
        r#"{"name": "health", "action": "allow", "paths": [{"exact": "/healthz"}]}"#,
    ),
    (
        "internal-host",
        r#"{"name": "internal-host", "action": "allow", "callers": ["role:operators"], "hosts": ["*.internal.example.org"]}"#,
    ),
    (
        "evil-tenant",
        r#"{"name": "evil-tenant", "action": "deny", "headers": [{"name": "x-tenant", "exact": "evil"}]}"#,
    ),
    (
        "api-read",
        r#"{"name": "api-read", "action": "allow", "callers": ["*", "!batch"], "methods": ["GET"], "paths": [{"prefix": "/api/v1"}], "hosts": ["orders.example.org"], "headers": [{"name": "accept", "present": true}]}"#,
    ),
    (
        "operators",
        r#"{"name": "operators", "action": "allow", "callers": ["role:operators"]}"#,
    ),
    (
        "public",
        r#"{"name": "public", "action": "allow", "paths": [{"prefix": "/public"}]}"#,
    ),
];

/// A valid access-control configuration with random options, using path options `path`.
pub fn access_control_with(path: PathOptions) -> BoxedStrategy<AccessControlConfig> {
    let sources = (
        subsequence(&["xfcc", "peer_certificate"][..], 0..=2),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(certificates, reverse, caller_header, source_address)| {
            let mut sources = certificates;
            if reverse {
                sources.reverse();
            }
            if caller_header {
                sources.push("caller_header");
            }
            if source_address || sources.is_empty() {
                sources.push("source_address");
            }
            sources
        });
    (
        Just(path),
        sources,
        subsequence(RULES, 0..=RULES.len()),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            select(&["deny", "allow", "log"][..]),
            select(&["deny", "allow", "log"][..]),
            select(&["last_segment", "istio_service_account", "spiffe_id", "listed_only"][..]),
            any::<bool>(),
        ),
        (
            select(&["deny", "evaluate"][..]),
            select(&[403u16, 403, 400, 451, 599][..]),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                path,
                sources,
                rules,
                (normalize, shadow, case_insensitive),
                (default_action, unlisted, service_name, trust_mtls),
                (method_override, deny_status, include_caller, log_allowed),
            )| {
                let mode = if shadow { "shadow" } else { "enforce" };
                let non_canonical = if normalize { "normalize" } else { "deny" };
                let source_list = sources
                    .iter()
                    .map(|s| json_string(s))
                    .collect::<Vec<_>>()
                    .join(", ");
                let certificates =
                    sources.contains(&"peer_certificate") || sources.contains(&"xfcc");
                let mut identity = format!(r#""sources": [{source_list}]"#);
                if certificates {
                    identity.push_str(&format!(
                        r#", "spiffe": {{"trust_domains": ["example.org"], "services": {{"spiffe://example.org/legacy/billing-v2": "billing"}}, "service_name": "{service_name}"}}"#
                    ));
                }
                if sources.contains(&"caller_header") {
                    identity.push_str(&format!(
                        r#", "caller_header": {{"name": "x-service-name", "trusted_cidrs": ["10.0.0.0/8", "127.0.0.1/32"], "trust_mtls": {trust_mtls}}}"#
                    ));
                }
                if sources.contains(&"source_address") {
                    identity.push_str(
                        r#", "source_addresses": [{"service": "batch", "cidrs": ["10.2.0.0/16", "fd00::/8"]}, {"service": "local", "cidrs": ["127.0.0.0/8"]}]"#,
                    );
                }
                let operators = if certificates {
                    r#""backoffice", "spiffe://example.org/ns/ops/*""#
                } else {
                    r#""backoffice""#
                };
                let rule_list = rules
                    .iter()
                    .map(|(_, json)| *json)
                    .collect::<Vec<_>>()
                    .join(", ");
                let json = format!(
                    r#"{{"mode": "{mode}", "default_action": "{default_action}", "unlisted_endpoints": "{unlisted}", "identity": {{{identity}}}, "roles": {{"operators": [{operators}]}}, "rules": [{rule_list}], "path": {{"canonicalization": {path_json}, "non_canonical": "{non_canonical}", "case_insensitive": {case_insensitive}}}, "method_override": {{"action": "{method_override}"}}, "deny_response": {{"status": {deny_status}, "headers": {{"x-denied-by": "wasmesh"}}, "include_caller": {include_caller}}}, "log_allowed": {log_allowed}}}"#,
                    path_json = options_json(&path),
                );
                AccessControlConfig {
                    path,
                    normalize,
                    shadow,
                    deny_status,
                    include_caller,
                    rules: rules.iter().map(|(name, _)| *name).collect(),
                    sources,
                    json,
                }
            },
        ).boxed()
}

/// [`access_control_with`] random path options.
pub fn access_control() -> BoxedStrategy<AccessControlConfig> {
    options().prop_flat_map(access_control_with).boxed()
}

/// A trace-propagation configuration and what the tests need to know about it.
#[derive(Debug, Clone)]
pub struct TracePropagationConfig {
    /// The formats written, in order.
    pub inject: Vec<&'static str>,
    /// `new_span_id`.
    pub new_span_id: bool,
    /// `trust_boundary` is `restart`.
    pub restart: bool,
    /// `sampling.trust_incoming`.
    pub trust_incoming: bool,
    /// `sampling.probability` (as written).
    pub probability: &'static str,
    /// `response_trace_id_header`.
    pub response_header: Option<&'static str>,
    /// `baggage`.
    pub baggage: bool,
    /// The JSON document.
    pub json: String,
}

/// A valid trace-propagation configuration with random options.
pub fn trace_propagation() -> BoxedStrategy<TracePropagationConfig> {
    (
        subsequence(&["w3c", "b3", "b3multi"][..], 1..=3).prop_shuffle(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        select(&["1.0", "0.0", "0.5", "1"][..]),
        prop::option::of(select(&["x-trace-id", "x-b3-traceid-echo"][..])),
        any::<bool>(),
        prop::option::of(select(&["edge", "acme@edge"][..])),
    )
        .prop_map(
            |(inject, new_span_id, restart, trust_incoming, probability, response_header, baggage, key)| {
                let formats = inject.iter().map(|f| json_string(f)).collect::<Vec<_>>().join(", ");
                let boundary = if restart { "restart" } else { "continue" };
                let mut json = format!(
                    r#"{{"new_span_id": {new_span_id}, "inject": [{formats}], "sampling": {{"probability": {probability}, "trust_incoming": {trust_incoming}}}, "trust_boundary": "{boundary}", "baggage": {baggage}"#
                );
                if let (true, Some(key)) = (restart, key) {
                    json.push_str(&format!(r#", "restart_tracestate_key": "{key}""#));
                }
                if let Some(header) = response_header {
                    json.push_str(&format!(r#", "response_trace_id_header": "{header}""#));
                }
                json.push('}');
                TracePropagationConfig {
                    inject,
                    new_span_id,
                    restart,
                    trust_incoming,
                    probability,
                    response_header,
                    baggage,
                    json,
                }
            },
        ).boxed()
}

/// A service-metrics configuration.
#[derive(Debug, Clone)]
pub struct ServiceMetricsConfig {
    /// `naming` is `istio`.
    pub istio: bool,
    /// `max_label_sets`.
    pub max_label_sets: u32,
    /// The JSON document.
    pub json: String,
}

/// A valid service-metrics configuration with random options.
pub fn service_metrics() -> BoxedStrategy<ServiceMetricsConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        select(&["last_segment", "istio_service_account", "spiffe_id", "listed_only"][..]),
        prop::option::of(select(&["service", "spiffe_id", "xfcc"][..])),
        select(&["cluster", "authority"][..]),
        select(&[1u32, 2, 1000][..]),
        select(&["reviews", "reviews.shop", "a"][..]),
    )
        .prop_map(
            |(outbound, istio, service_name, trusted, destination_from, max_label_sets, service)| {
                let naming = if istio { "istio" } else { "native" };
                let mut json = format!(
                    r#"{{"direction": "{}", "naming": "{naming}", "service": {}, "namespace": "shop", "spiffe": {{"trust_domains": ["example.org"], "service_name": "{service_name}"}}, "max_label_sets": {max_label_sets}"#,
                    if outbound { "outbound" } else { "inbound" },
                    json_string(service),
                );
                if outbound {
                    json.push_str(&format!(
                        r#", "destination_from": "{destination_from}", "destinations": {{"reviews-v2-canary": "reviews"}}"#
                    ));
                } else if let Some(format) = trusted {
                    let name = if format == "xfcc" {
                        "x-forwarded-client-cert"
                    } else {
                        "x-wasmesh-caller"
                    };
                    json.push_str(&format!(
                        r#", "trusted_source_header": {{"name": "{name}", "format": "{format}", "from_cidrs": ["127.0.0.1/32", "10.0.0.0/8"]}}"#
                    ));
                }
                json.push('}');
                ServiceMetricsConfig {
                    istio,
                    max_label_sets,
                    json,
                }
            },
        ).boxed()
}

/// A bundle configuration: the four filters in the usual order, each stage present or
/// not, with configurations from the generators above (access-control with the same path
/// options as header-normalization, and trusting `{"mtls": true}` in header-normalization
/// so that the request the bundle forwards can be checked again by that stage alone).
#[derive(Debug, Clone)]
pub struct BundleConfig {
    /// The header-normalization stage.
    pub header_normalization: Option<HeaderNormalizationConfig>,
    /// The access-control stage.
    pub access_control: Option<AccessControlConfig>,
    /// The trace-propagation stage.
    pub trace_propagation: Option<TracePropagationConfig>,
    /// The service-metrics stage.
    pub service_metrics: Option<ServiceMetricsConfig>,
    /// The JSON document.
    pub json: String,
}

/// A valid bundle configuration.
pub fn bundle() -> BoxedStrategy<BundleConfig> {
    header_normalization()
        .prop_flat_map(|hn| {
            let path = hn.path.clone();
            (
                Just(hn),
                prop::bool::weighted(0.9),
                prop::option::weighted(0.8, access_control_with(path)),
                prop::option::weighted(0.8, trace_propagation()),
                prop::option::weighted(0.8, service_metrics()),
            )
        })
        .prop_map(|(mut hn, with_hn, ac, tp, sm)| {
            // A chain has at least one stage.
            let with_hn = with_hn || (ac.is_none() && tp.is_none() && sm.is_none());
            hn.json = trust_mtls(&hn.json);
            let hn = with_hn.then_some(hn);
            let mut stages = Vec::new();
            if let Some(hn) = &hn {
                stages.push(format!(
                    r#"{{"name": "header-normalization", "config": {}}}"#,
                    hn.json
                ));
            }
            if let Some(ac) = &ac {
                stages.push(format!(
                    r#"{{"name": "access-control", "config": {}}}"#,
                    ac.json
                ));
            }
            if let Some(tp) = &tp {
                stages.push(format!(
                    r#"{{"name": "trace-propagation", "config": {}}}"#,
                    tp.json
                ));
            }
            if let Some(sm) = &sm {
                stages.push(format!(
                    r#"{{"name": "service-metrics", "config": {}}}"#,
                    sm.json
                ));
            }
            let json = format!(r#"{{"chain": [{}]}}"#, stages.join(", "));
            BundleConfig {
                header_normalization: hn,
                access_control: ac,
                trace_propagation: tp,
                service_metrics: sm,
                json,
            }
        })
        .boxed()
}

/// `json` (a header-normalization configuration) with its `trusted_callers` replaced by
/// `[{"mtls": true}]`.
fn trust_mtls(json: &str) -> String {
    let key = r#""trusted_callers": "#;
    let replaced = json.find(key).and_then(|start| {
        let value_start = start + key.len();
        let end = value_end(json, value_start);
        Some(format!(
            r#"{}[{{"mtls": true}}]{}"#,
            json.get(..value_start)?,
            json.get(end..)?
        ))
    });
    replaced.unwrap_or_else(|| json.to_owned())
}

/// Whether `options` redirects requests whose path had an escaped slash.
pub fn redirects(options: &PathOptions) -> bool {
    options.escaped_slashes == EscapedSlashes::UnescapeAndRedirect
}

/// The keys and string values of all the filters' configurations, from which documents
/// near their schemas are built.
pub const KEYS: &[&str] = &[
    "path",
    "original_path_header",
    "allowed_methods",
    "lowercase_methods",
    "underscores_in_names",
    "singleton_headers",
    "repeated_singletons",
    "strip_hop_by_hop",
    "internal_headers",
    "trusted_callers",
    "source_cidrs",
    "mtls",
    "peer_uri_sans",
    "authority",
    "lowercase",
    "strip_port",
    "strip_trailing_dot",
    "max_headers",
    "max_header_bytes",
    "trim_whitespace",
    "renames",
    "from",
    "to",
    "escaped_slashes",
    "merge_slashes",
    "dot_segment_params",
    "path_params",
    "fragment",
    "mode",
    "default_action",
    "unlisted_endpoints",
    "identity",
    "sources",
    "spiffe",
    "trust_domains",
    "services",
    "service_name",
    "caller_header",
    "name",
    "trusted_cidrs",
    "trust_mtls",
    "source_addresses",
    "service",
    "cidrs",
    "upstream_header",
    "roles",
    "rules",
    "action",
    "callers",
    "methods",
    "paths",
    "exact",
    "prefix",
    "template",
    "hosts",
    "headers",
    "present",
    "canonicalization",
    "non_canonical",
    "case_insensitive",
    "method_override",
    "deny_response",
    "status",
    "include_caller",
    "log_allowed",
    "metrics",
    "tag_set_cap",
    "new_span_id",
    "inject",
    "sampling",
    "probability",
    "trust_incoming",
    "trust_boundary",
    "restart_tracestate_key",
    "response_trace_id_header",
    "baggage",
    "direction",
    "naming",
    "service_host",
    "namespace",
    "trusted_source_header",
    "format",
    "destination_from",
    "destinations",
    "max_label_sets",
    "chain",
    "config",
];

/// String values the configurations use.
pub const STRINGS: &[&str] = &[
    "reject",
    "keep",
    "strip",
    "allow",
    "drop",
    "deny",
    "log",
    "evaluate",
    "normalize",
    "enforce",
    "shadow",
    "inbound",
    "outbound",
    "native",
    "istio",
    "w3c",
    "b3",
    "b3multi",
    "continue",
    "restart",
    "keep_first",
    "uppercase",
    "any",
    "matching",
    "scheme_default",
    "unescape_and_forward",
    "unescape_and_redirect",
    "as_dot_segment",
    "last_segment",
    "spiffe_id",
    "listed_only",
    "peer_certificate",
    "xfcc",
    "caller_header",
    "source_address",
    "cluster",
    "GET",
    "POST",
    "BREW",
    "/admin",
    "/api/",
    "/users/{*}/orders/{**}",
    "/{**}/x",
    "/a/../b",
    "x-service-name",
    "x-envoy-*",
    "X-Upper",
    "example.org",
    "Example.org",
    "spiffe://example.org/ns/shop/sa/frontend",
    "spiffe://evil.org/x",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "::/0",
    "*.example.org",
    "role:operators",
    "role:nobody",
    "!frontend",
    "*",
    "frontend",
    "header-normalization",
    "access-control",
    "trace-propagation",
    "service-metrics",
    "",
    " ",
    "a\nb",
    "\u{e9}",
];

/// A JSON value near the filters' schemas: objects with their keys, their string values,
/// numbers at the edges of their ranges, arrays.
pub fn json_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        6 => select(STRINGS).prop_map(json_string),
        2 => select(&[
            "0", "1", "-1", "6", "403", "599", "600", "1000000", "1e3", "0.5", "1.0", "-0",
            "18446744073709551616", "1e400", "true", "false", "null",
        ][..])
            .prop_map(str::to_owned),
        1 => crate::regex("[ -~]{0,8}").prop_map(|s| json_string(&s)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            3 => prop::collection::vec((select(KEYS), inner.clone()), 0..6).prop_map(|members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", json_string(k)))
                    .collect();
                format!("{{{}}}", members.join(", "))
            }),
            1 => prop::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
        ]
    }).boxed()
}

/// A configuration document for the configuration readers: a valid configuration of one
/// filter (or the bundle), one of them with a member replaced by a random value, a
/// document near the schemas, or bytes that are barely JSON.
pub fn document() -> BoxedStrategy<Vec<u8>> {
    let valid = prop_oneof![
        header_normalization().prop_map(|c| c.json),
        access_control().prop_map(|c| c.json),
        trace_propagation().prop_map(|c| c.json),
        service_metrics().prop_map(|c| c.json),
        bundle().prop_map(|c| c.json),
    ];
    prop_oneof![
        4 => valid.clone().prop_map(String::into_bytes),
        4 => (valid, select(KEYS), json_value()).prop_map(|(json, key, value)| {
            replace_member(&json, key, &value).into_bytes()
        }),
        3 => json_value().prop_map(String::into_bytes),
        1 => (json_value(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(json, at, byte)| {
            let mut bytes = json.into_bytes();
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                if let Some(slot) = bytes.get_mut(at) {
                    *slot = byte;
                }
            }
            bytes
        }),
        1 => prop::collection::vec(select(&b"{}[]\":,0123456789.eE+-truefalsn \\u\n"[..]), 0..40),
    ]
    .boxed()
}

/// `json` with the value of the first member named `key` replaced by `value` (or, when
/// there is none, `key: value` added to the outermost object).
pub fn replace_member(json: &str, key: &str, value: &str) -> String {
    let quoted = format!("{}: ", json_string(key));
    let replaced = match json.find(&quoted) {
        Some(start) => {
            let value_start = start + quoted.len();
            let end = value_end(json, value_start);
            json.get(..value_start)
                .zip(json.get(end..))
                .map(|(before, after)| format!("{before}{value}{after}"))
        }
        None => json.strip_prefix('{').map(|rest| {
            if rest.trim_start().starts_with('}') {
                format!("{{{quoted}{value}{rest}")
            } else {
                format!("{{{quoted}{value}, {rest}")
            }
        }),
    };
    replaced.unwrap_or_else(|| json.to_owned())
}

/// Where the JSON value starting at byte `start` of `json` ends: at the `,` or closing
/// bracket after it, outside strings and nested values.
fn value_end(json: &str, start: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let rest = json.get(start..).unwrap_or_default();
    for (offset, c) in rest.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' | ',' if depth == 0 => return start + offset,
            '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    json.len()
}
