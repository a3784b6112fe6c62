//! Per-route configuration: the fields a `routes` entry may override, and the check that
//! an entry is not weaker than the listener's configuration.
//!
//! The filter runs before the request is canonical, and Envoy chooses the route (so
//! `xds.route_name`) from the request as the client sent it: a client can steer which
//! entry applies (`/public/../admin` selects the entry for `/public`, and only then
//! becomes `/admin`). An entry may therefore only make each option stricter than the
//! listener's, unless the listener sets `allow_weaker_routes`. The options that decide
//! the virtual host (`authority`), who is trusted (`trusted_callers`), and the
//! spellings applications rely on (`renames`, `original_path_header`) are the listener's
//! alone.

use wasmesh_path::{DotSegmentParams, EscapedSlashes, Fragment, PathParams};
use wasmesh_sdk::ConfigError;

use crate::config::{LowercaseMethods, RepeatedSingletons, Underscores};
use crate::normalizer::Normalizer;
use crate::read::entry_path;

/// The top-level fields a `routes` entry may override.
pub const ROUTE_FIELDS: &[&str] = &[
    "path",
    "allowed_methods",
    "lowercase_methods",
    "underscores_in_names",
    "singleton_headers",
    "repeated_singletons",
    "strip_hop_by_hop",
    "internal_headers",
    "max_headers",
    "max_header_bytes",
    "trim_whitespace",
];

/// An option's value: its strictness (higher is stricter) and how the configuration
/// spells it.
type Ranked = (u8, &'static str);

/// Refuses `route` (an entry's configuration merged over the listener's) where an
/// option is weaker than in `listener`; the error names the option inside the entry.
pub fn check_not_weaker(listener: &Normalizer, route: &Normalizer) -> Result<(), ConfigError> {
    let (l, r) = (&listener.path, &route.path);
    let ranked: [(&str, Ranked, Ranked); 11] = [
        (
            "path.escaped_slashes",
            escaped_slashes(l.escaped_slashes),
            escaped_slashes(r.escaped_slashes),
        ),
        (
            "path.merge_slashes",
            flag(l.merge_slashes),
            flag(r.merge_slashes),
        ),
        (
            "path.dot_segment_params",
            dot_segment_params(l.dot_segment_params),
            dot_segment_params(r.dot_segment_params),
        ),
        (
            "path.path_params",
            path_params(l.path_params),
            path_params(r.path_params),
        ),
        ("path.fragment", fragment(l.fragment), fragment(r.fragment)),
        ("path.lowercase", flag(l.lowercase), flag(r.lowercase)),
        (
            "lowercase_methods",
            lowercase_methods(listener.methods.lowercase()),
            lowercase_methods(route.methods.lowercase()),
        ),
        (
            "underscores_in_names",
            underscores(listener.underscores),
            underscores(route.underscores),
        ),
        (
            "repeated_singletons",
            repeated_singletons(listener.repeated_singletons),
            repeated_singletons(route.repeated_singletons),
        ),
        (
            "strip_hop_by_hop",
            flag(listener.strip_hop_by_hop),
            flag(route.strip_hop_by_hop),
        ),
        (
            "trim_whitespace",
            flag(listener.trim_whitespace),
            flag(route.trim_whitespace),
        ),
    ];
    for (field, listener, route) in ranked {
        if route.0 < listener.0 {
            return Err(weaker(
                field,
                format!(
                    "`{}` is weaker than the listener's `{}`",
                    route.1, listener.1
                ),
            ));
        }
    }
    for (index, method) in route.methods.allowed().enumerate() {
        if !listener.methods.allowed().any(|allowed| allowed == method) {
            return Err(weaker(
                &entry_path("allowed_methods", index, ""),
                format!(
                    "`{}` is not in the listener's allowed_methods",
                    String::from_utf8_lossy(method)
                ),
            ));
        }
    }
    if let Some(name) = route.singletons.first_not_covered(&listener.singletons) {
        return Err(weaker(
            "singleton_headers",
            format!("leaves out `{name}`, a singleton on the listener"),
        ));
    }
    if let Some(name) = route.internal.first_not_covered(&listener.internal) {
        return Err(weaker(
            "internal_headers",
            format!("leaves out `{name}`, an internal header on the listener"),
        ));
    }
    limit("max_headers", listener.max_headers, route.max_headers)?;
    limit(
        "max_header_bytes",
        listener.max_header_bytes,
        route.max_header_bytes,
    )
}

#[inline(never)]
fn weaker(field: &str, what: String) -> ConfigError {
    ConfigError::at(
        field,
        format!(
            "{what}; a route may only be stricter, unless the listener sets `allow_weaker_routes`"
        ),
    )
}

/// A size limit, 0 meaning none: the route's may not be higher than the listener's.
fn limit(field: &str, listener: usize, route: usize) -> Result<(), ConfigError> {
    let effective = |limit: usize| if limit == 0 { usize::MAX } else { limit };
    if effective(route) <= effective(listener) {
        return Ok(());
    }
    let shown = |limit: usize| match limit {
        0 => "`0` (no limit)".to_owned(),
        limit => format!("`{limit}`"),
    };
    Err(weaker(
        field,
        format!(
            "{} is weaker than the listener's {}",
            shown(route),
            shown(listener)
        ),
    ))
}

fn flag(value: bool) -> Ranked {
    match value {
        false => (0, "false"),
        true => (1, "true"),
    }
}

fn escaped_slashes(value: EscapedSlashes) -> Ranked {
    match value {
        EscapedSlashes::Keep => (0, "keep"),
        EscapedSlashes::UnescapeAndForward => (1, "unescape_and_forward"),
        EscapedSlashes::UnescapeAndRedirect => (2, "unescape_and_redirect"),
        EscapedSlashes::Reject => (3, "reject"),
    }
}

fn dot_segment_params(value: DotSegmentParams) -> Ranked {
    match value {
        DotSegmentParams::AsDotSegment => (0, "as_dot_segment"),
        DotSegmentParams::Reject => (1, "reject"),
    }
}

fn path_params(value: PathParams) -> Ranked {
    match value {
        PathParams::Keep => (0, "keep"),
        PathParams::Strip => (1, "strip"),
    }
}

fn fragment(value: Fragment) -> Ranked {
    match value {
        Fragment::Strip => (0, "strip"),
        Fragment::Reject => (1, "reject"),
    }
}

fn lowercase_methods(value: LowercaseMethods) -> Ranked {
    match value {
        LowercaseMethods::Uppercase => (0, "uppercase"),
        LowercaseMethods::Reject => (1, "reject"),
    }
}

fn underscores(value: Underscores) -> Ranked {
    match value {
        Underscores::Allow => (0, "allow"),
        Underscores::Drop => (1, "drop"),
        Underscores::Reject => (2, "reject"),
    }
}

fn repeated_singletons(value: RepeatedSingletons) -> Ranked {
    match value {
        RepeatedSingletons::KeepFirst => (0, "keep_first"),
        RepeatedSingletons::Reject => (1, "reject"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;

    fn normalizer(json: &str) -> Normalizer {
        Normalizer::new(Config::from_json(json.as_bytes()).unwrap()).unwrap()
    }

    /// The error of `route` over `listener`, or `None` when it is accepted.
    fn check(listener: &str, route: &str) -> Option<String> {
        check_not_weaker(&normalizer(listener), &normalizer(route))
            .err()
            .map(|error| error.to_string())
    }

    #[test]
    fn the_same_or_stricter_options_are_accepted() {
        assert_eq!(check("{}", "{}"), None);
        let strictest = r#"{"path": {"lowercase": true, "path_params": "strip"},
            "allowed_methods": ["GET"], "underscores_in_names": "reject",
            "singleton_headers": ["x-tenant"], "internal_headers": ["x-*"],
            "max_headers": 10, "max_header_bytes": 1024}"#;
        assert_eq!(check("{}", strictest), None);
        let loose = r#"{"path": {"escaped_slashes": "keep", "merge_slashes": false,
            "dot_segment_params": "as_dot_segment", "fragment": "strip"},
            "lowercase_methods": "uppercase", "underscores_in_names": "allow",
            "repeated_singletons": "keep_first", "strip_hop_by_hop": false,
            "trim_whitespace": false, "max_headers": 0, "max_header_bytes": 0}"#;
        assert_eq!(check(loose, "{}"), None);
        assert_eq!(check(loose, loose), None);
        assert_eq!(
            check(
                r#"{"path": {"escaped_slashes": "unescape_and_forward"}}"#,
                r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#
            ),
            None
        );
    }

    #[test]
    fn a_weaker_option_is_refused_naming_it() {
        let suffix =
            "; a route may only be stricter, unless the listener sets `allow_weaker_routes`";
        let cases = [
            (
                "{}",
                r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#,
                "config.path.escaped_slashes: `unescape_and_redirect` is weaker than the listener's `reject`",
            ),
            (
                "{}",
                r#"{"path": {"merge_slashes": false}}"#,
                "config.path.merge_slashes: `false` is weaker than the listener's `true`",
            ),
            (
                r#"{"path": {"lowercase": true}}"#,
                r#"{"path": {"fragment": "reject"}}"#,
                "config.path.lowercase: `false` is weaker than the listener's `true`",
            ),
            (
                "{}",
                r#"{"underscores_in_names": "allow"}"#,
                "config.underscores_in_names: `allow` is weaker than the listener's `drop`",
            ),
            (
                "{}",
                r#"{"strip_hop_by_hop": false}"#,
                "config.strip_hop_by_hop: `false` is weaker than the listener's `true`",
            ),
            (
                r#"{"allowed_methods": ["GET", "POST"]}"#,
                r#"{"allowed_methods": ["GET", "DELETE"]}"#,
                "config.allowed_methods[1]: `DELETE` is not in the listener's allowed_methods",
            ),
            (
                r#"{"singleton_headers": ["x-tenant", "x-b"]}"#,
                r#"{"singleton_headers": ["x-b"]}"#,
                "config.singleton_headers: leaves out `x-tenant`, a singleton on the listener",
            ),
            (
                "{}",
                r#"{"internal_headers": ["x-envoy-*", "x-wasmesh-caller"]}"#,
                "config.internal_headers: leaves out `x-forwarded-client-cert`, an internal header on the listener",
            ),
            (
                r#"{"internal_headers": ["x-a-*"]}"#,
                r#"{"internal_headers": ["x-a-b-*", "x-a-c"]}"#,
                "config.internal_headers: leaves out `x-a-*`, an internal header on the listener",
            ),
            (
                "{}",
                r#"{"max_headers": 0}"#,
                "config.max_headers: `0` (no limit) is weaker than the listener's `100`",
            ),
            (
                r#"{"max_header_bytes": 4096}"#,
                r#"{"max_header_bytes": 8192}"#,
                "config.max_header_bytes: `8192` is weaker than the listener's `4096`",
            ),
        ];
        for (listener, route, expected) in cases {
            assert_eq!(
                check(listener, route),
                Some(format!("{expected}{suffix}")),
                "{route} over {listener}"
            );
        }
    }

    #[test]
    fn a_wider_internal_prefix_covers_the_listeners_names() {
        assert_eq!(
            check(
                r#"{"internal_headers": ["x-envoy-*", "x-internal"]}"#,
                r#"{"internal_headers": ["x-*"]}"#
            ),
            None
        );
    }
}
