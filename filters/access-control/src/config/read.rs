//! From the parsed JSON document to [`Config`], field by field, with the SDK's
//! [`wasmesh_sdk::config::reader`].

use super::{
    CallerHeaderConfig, Config, DefaultAction, DenyResponseConfig, HeaderConditionConfig,
    IdentityConfig, MethodOverrideAction, MethodOverrideConfig, MetricsConfig, Mode,
    NonCanonicalPath, PathConfig, PathPatternConfig, RuleAction, RuleConfig, SourceAddressConfig,
    SourceKind,
};
use crate::lenient::Lenience;
use crate::method::Method;
use std::collections::BTreeMap;
use wasmesh_identity::SpiffeMappingConfig;
use wasmesh_path::PathOptions;
use wasmesh_sdk::config::reader::{Fields, Node};
use wasmesh_sdk::config::Value;
use wasmesh_sdk::ConfigError;

impl Config {
    /// Reads the configuration from a parsed JSON document.
    pub fn read(value: &Value) -> Result<Self, ConfigError> {
        let root = Node::root(value);
        let fields = root.object(&[
            "mode",
            "default_action",
            "unlisted_endpoints",
            "identity",
            "roles",
            "rules",
            "path",
            "deny_matching",
            "method_override",
            "deny_response",
            "log_allowed",
            "metrics",
        ])?;
        Ok(Config {
            mode: fields.read_or("mode", Mode::default(), mode)?,
            default_action: fields.read_or(
                "default_action",
                DefaultAction::Deny,
                default_action,
            )?,
            unlisted_endpoints: fields.read_or(
                "unlisted_endpoints",
                DefaultAction::Deny,
                default_action,
            )?,
            identity: fields.read_or("identity", IdentityConfig::default(), identity)?,
            roles: fields.read_or("roles", BTreeMap::new(), roles)?,
            rules: fields.required("rules")?.list(rule)?,
            path: fields.read_or("path", PathConfig::default(), path)?,
            deny_matching: fields.read_or("deny_matching", Lenience::default(), deny_matching)?,
            method_override: fields.read_or(
                "method_override",
                MethodOverrideConfig::default(),
                method_override,
            )?,
            deny_response: fields.read_or(
                "deny_response",
                DenyResponseConfig::default(),
                deny_response,
            )?,
            log_allowed: fields.read_or("log_allowed", false, Node::bool)?,
            metrics: fields.read_or("metrics", MetricsConfig::default(), metrics)?,
        })
    }
}

fn mode(node: &Node<'_>) -> Result<Mode, ConfigError> {
    node.pick(&["enforce", "shadow"], &[Mode::Enforce, Mode::Shadow])
}

fn default_action(node: &Node<'_>) -> Result<DefaultAction, ConfigError> {
    node.pick(
        &["allow", "deny", "log"],
        &[
            DefaultAction::Allow,
            DefaultAction::Deny,
            DefaultAction::Log,
        ],
    )
}

fn rule(node: &Node<'_>) -> Result<RuleConfig, ConfigError> {
    let fields = node.object(&[
        "name", "action", "callers", "methods", "paths", "hosts", "headers",
    ])?;
    Ok(RuleConfig {
        name: fields.required("name")?.string()?,
        action: fields.required("action")?.pick(
            &["allow", "deny", "log"],
            &[RuleAction::Allow, RuleAction::Deny, RuleAction::Log],
        )?,
        callers: fields.read_opt("callers", Node::strings)?,
        methods: fields.read_opt("methods", |n| n.list(method))?,
        paths: fields.read_opt("paths", |n| n.list(path_pattern))?,
        hosts: fields.read_opt("hosts", Node::strings)?,
        headers: fields.read_opt("headers", |n| n.list(header_condition))?,
    })
}

fn method(node: &Node<'_>) -> Result<Method, ConfigError> {
    let names = Method::ALL.map(Method::as_str);
    node.pick(&names, &Method::ALL)
}

fn path_pattern(node: &Node<'_>) -> Result<PathPatternConfig, ConfigError> {
    const KINDS: [&str; 3] = ["exact", "prefix", "template"];
    let fields = node.object(&KINDS)?;
    let mut found = KINDS
        .iter()
        .filter_map(|kind| fields.get(kind).map(|value| (*kind, value)));
    match (found.next(), found.next()) {
        (Some((kind, value)), None) => {
            let text = value.string()?;
            Ok(match kind {
                "exact" => PathPatternConfig::Exact(text),
                "prefix" => PathPatternConfig::Prefix(text),
                _ => PathPatternConfig::Template(text),
            })
        }
        _ => Err(node.error("give exactly one of `exact`, `prefix` and `template`")),
    }
}

fn header_condition(node: &Node<'_>) -> Result<HeaderConditionConfig, ConfigError> {
    let fields = node.object(&["name", "present", "exact", "prefix"])?;
    Ok(HeaderConditionConfig {
        name: fields.required("name")?.string()?,
        present: fields.read_opt("present", Node::bool)?,
        exact: fields.read_opt("exact", Node::string)?,
        prefix: fields.read_opt("prefix", Node::string)?,
    })
}

fn roles(node: &Node<'_>) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    node.map()?
        .into_iter()
        .map(|(name, entries)| Ok((name.to_owned(), entries.strings()?)))
        .collect()
}

fn identity(node: &Node<'_>) -> Result<IdentityConfig, ConfigError> {
    let fields = node.object(&[
        "sources",
        "spiffe",
        "caller_header",
        "source_addresses",
        "upstream_header",
    ])?;
    let defaults = IdentityConfig::default();
    Ok(IdentityConfig {
        sources: fields.read_or("sources", defaults.sources, |n| n.list(source_kind))?,
        spiffe: fields.read_or("spiffe", defaults.spiffe, SpiffeMappingConfig::read)?,
        caller_header: fields.read_opt("caller_header", caller_header)?,
        source_addresses: fields
            .read_or("source_addresses", Vec::new(), |n| n.list(source_address))?,
        upstream_header: fields.read_or(
            "upstream_header",
            defaults.upstream_header,
            Node::string,
        )?,
    })
}

fn source_kind(node: &Node<'_>) -> Result<SourceKind, ConfigError> {
    const KINDS: [SourceKind; 4] = [
        SourceKind::PeerCertificate,
        SourceKind::Xfcc,
        SourceKind::CallerHeader,
        SourceKind::SourceAddress,
    ];
    node.pick(&KINDS.map(SourceKind::as_str), &KINDS)
}

fn caller_header(node: &Node<'_>) -> Result<CallerHeaderConfig, ConfigError> {
    let fields = node.object(&["name", "trusted_cidrs", "trust_mtls"])?;
    Ok(CallerHeaderConfig {
        name: fields.required("name")?.string()?,
        trusted_cidrs: fields.read_or("trusted_cidrs", Vec::new(), Node::strings)?,
        trust_mtls: fields.read_or("trust_mtls", true, Node::bool)?,
    })
}

fn source_address(node: &Node<'_>) -> Result<SourceAddressConfig, ConfigError> {
    let fields = node.object(&["service", "cidrs"])?;
    Ok(SourceAddressConfig {
        service: fields.required("service")?.string()?,
        cidrs: fields.required("cidrs")?.strings()?,
    })
}

fn path(node: &Node<'_>) -> Result<PathConfig, ConfigError> {
    let fields = node.object(&["canonicalization", "non_canonical", "case_insensitive"])?;
    Ok(PathConfig {
        canonicalization: fields.read_or(
            "canonicalization",
            PathOptions::default(),
            PathOptions::read,
        )?,
        non_canonical: fields.read_or("non_canonical", NonCanonicalPath::Deny, |n| {
            n.pick(
                &["deny", "normalize"],
                &[NonCanonicalPath::Deny, NonCanonicalPath::Normalize],
            )
        })?,
        case_insensitive: fields.read_or("case_insensitive", false, Node::bool)?,
    })
}

fn deny_matching(node: &Node<'_>) -> Result<Lenience, ConfigError> {
    let fields = node.object(&["ignore_case", "ignore_path_params", "lenient_hosts"])?;
    let defaults = Lenience::default();
    Ok(Lenience {
        ignore_case: fields.read_or("ignore_case", defaults.ignore_case, Node::bool)?,
        ignore_path_params: fields.read_or(
            "ignore_path_params",
            defaults.ignore_path_params,
            Node::bool,
        )?,
        lenient_hosts: fields.read_or("lenient_hosts", defaults.lenient_hosts, Node::bool)?,
    })
}

fn method_override(node: &Node<'_>) -> Result<MethodOverrideConfig, ConfigError> {
    let fields = node.object(&["action", "headers"])?;
    let defaults = MethodOverrideConfig::default();
    Ok(MethodOverrideConfig {
        action: fields.read_or("action", defaults.action, |n| {
            n.pick(
                &["deny", "evaluate"],
                &[MethodOverrideAction::Deny, MethodOverrideAction::Evaluate],
            )
        })?,
        headers: fields.read_or("headers", defaults.headers, Node::strings)?,
    })
}

fn deny_response(node: &Node<'_>) -> Result<DenyResponseConfig, ConfigError> {
    let fields = node.object(&["status", "headers", "include_caller"])?;
    let defaults = DenyResponseConfig::default();
    Ok(DenyResponseConfig {
        status: fields.read_or("status", defaults.status, |n| {
            n.uint(u64::from(u16::MAX), "u16")
                .map(|v| u16::try_from(v).unwrap_or(u16::MAX))
        })?,
        headers: fields.read_or("headers", Vec::new(), |n| {
            n.map()?
                .into_iter()
                .map(|(name, value)| Ok((name.to_owned(), value.string()?)))
                .collect()
        })?,
        include_caller: fields.read_or("include_caller", false, Node::bool)?,
    })
}

fn metrics(node: &Node<'_>) -> Result<MetricsConfig, ConfigError> {
    let fields: Fields<'_> = node.object(&["tag_set_cap"])?;
    Ok(MetricsConfig {
        tag_set_cap: fields.read_or("tag_set_cap", MetricsConfig::default().tag_set_cap, |n| {
            n.uint(1_000_000, "a number of tag sets up to 1000000")
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmesh_identity::ServiceNameRule;
    use wasmesh_path::{EscapedSlashes, PathParams};

    fn read(json: &str) -> Result<Config, ConfigError> {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap();
        Config::read(&value)
    }

    #[test]
    fn a_full_configuration_reads() {
        let config = read(
            r#"{
              "mode": "shadow", "default_action": "log", "unlisted_endpoints": "allow",
              "identity": {
                "sources": ["xfcc", "caller_header", "source_address"],
                "spiffe": {"trust_domains": ["example.org"],
                           "services": {"spiffe://example.org/legacy": "billing"},
                           "service_name": "istio_service_account"},
                "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.0.0.0/8"], "trust_mtls": false},
                "source_addresses": [{"service": "batch", "cidrs": ["10.2.0.0/16"]}],
                "upstream_header": "x-caller"
              },
              "roles": {"admins": ["ops"]},
              "rules": [{"name": "r", "action": "deny", "callers": ["a"], "methods": ["GET", "PATCH"],
                         "paths": [{"exact": "/a"}, {"prefix": "/b"}, {"template": "/c/{*}"}],
                         "hosts": ["h"], "headers": [{"name": "x", "prefix": "p"}]}],
              "path": {"canonicalization": {"escaped_slashes": "keep", "merge_slashes": false,
                        "dot_segment_params": "as_dot_segment", "path_params": "strip",
                        "fragment": "strip", "lowercase": true},
                       "non_canonical": "normalize", "case_insensitive": true},
              "method_override": {"action": "evaluate", "headers": ["x-m"]},
              "deny_response": {"status": 401, "headers": {"x-b": "2", "x-a": "1"}, "include_caller": true},
              "log_allowed": true,
              "metrics": {"tag_set_cap": 50}
            }"#,
        )
        .unwrap();
        assert_eq!(config.mode, Mode::Shadow);
        assert_eq!(config.default_action, DefaultAction::Log);
        assert_eq!(config.unlisted_endpoints, DefaultAction::Allow);
        assert_eq!(
            config.identity.sources,
            [
                SourceKind::Xfcc,
                SourceKind::CallerHeader,
                SourceKind::SourceAddress
            ]
        );
        assert_eq!(
            config.identity.spiffe.service_name,
            ServiceNameRule::IstioServiceAccount
        );
        assert_eq!(config.identity.upstream_header, "x-caller");
        assert!(!config.identity.caller_header.as_ref().unwrap().trust_mtls);
        let rule = &config.rules[0];
        assert_eq!(rule.action, RuleAction::Deny);
        assert_eq!(
            rule.methods.as_deref(),
            Some(&[Method::Get, Method::Patch][..])
        );
        assert!(matches!(
            rule.paths.as_deref(),
            Some([
                PathPatternConfig::Exact(_),
                PathPatternConfig::Prefix(_),
                PathPatternConfig::Template(_)
            ])
        ));
        let options = &config.path.canonicalization;
        assert_eq!(options.escaped_slashes, EscapedSlashes::Keep);
        assert!(!options.merge_slashes && options.lowercase);
        assert_eq!(options.path_params, PathParams::Strip);
        assert_eq!(config.path.non_canonical, NonCanonicalPath::Normalize);
        assert_eq!(
            config.method_override.action,
            MethodOverrideAction::Evaluate
        );
        assert_eq!(config.deny_response.status, 401);
        assert_eq!(
            config.deny_response.headers,
            [
                ("x-b".to_owned(), "2".to_owned()),
                ("x-a".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(config.metrics.tag_set_cap, 50);
        assert!(config.log_allowed);
    }

    #[test]
    fn defaults_fill_what_is_absent() {
        let config = read(r#"{"rules": []}"#).unwrap();
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(config.default_action, DefaultAction::Deny);
        assert_eq!(config.unlisted_endpoints, DefaultAction::Deny);
        assert_eq!(config.identity.sources, [SourceKind::PeerCertificate]);
        assert_eq!(config.identity.upstream_header, "x-wasmesh-caller");
        assert_eq!(config.path.canonicalization, PathOptions::default());
        assert_eq!(config.method_override.headers.len(), 3);
        assert_eq!(config.deny_response.status, 403);
    }

    #[test]
    fn errors_name_the_json_path() {
        for (json, message) in [
            ("{}", "config: missing field `rules`"),
            (r#"{"rules": [], "rule": 1}"#, "config.rule: unknown field `rule`, expected one of `mode`, `default_action`, `unlisted_endpoints`, `identity`, `roles`, `rules`, `path`, `deny_matching`, `method_override`, `deny_response`, `log_allowed`, `metrics`"),
            (r#"{"rules": [], "mode": "enforcing"}"#, "config.mode: unknown value `enforcing`, expected `enforce` or `shadow`"),
            (r#"{"rules": [{"name": "a", "action": "allow", "methods": ["GET", "get"]}]}"#, "config.rules[0].methods[1]: unknown value `get`, expected one of `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `CONNECT`, `OPTIONS`, `TRACE`, `PATCH`"),
            (r#"{"rules": [{"name": "a"}]}"#, "config.rules[0]: missing field `action`"),
            (r#"{"rules": [{"name": "a", "action": "allow", "paths": [{"regex": ".*"}]}]}"#, "config.rules[0].paths[0].regex: unknown field `regex`, expected one of `exact`, `prefix`, `template`"),
            (r#"{"rules": [{"name": "a", "action": "allow", "paths": [{"exact": "/", "prefix": "/"}]}]}"#, "config.rules[0].paths[0]: give exactly one of `exact`, `prefix` and `template`"),
            (r#"{"rules": [], "identity": {"sources": ["certificate"]}}"#, "config.identity.sources[0]: unknown value `certificate`, expected one of `peer_certificate`, `xfcc`, `caller_header`, `source_address`"),
            (r#"{"rules": [], "identity": {"spiffe": {"trust_domain": []}}}"#, "config.identity.spiffe.trust_domain: unknown field `trust_domain`, expected one of `trust_domains`, `services`, `service_name`"),
            (r#"{"rules": [], "path": {"canonicalization": {"fragment": "keep"}}}"#, "config.path.canonicalization.fragment: unknown value `keep`, expected `reject` or `strip`"),
            (r#"{"rules": [], "deny_response": {"status": 70000}}"#, "config.deny_response.status: expected u16, found 70000"),
            (r#"{"rules": [], "roles": {"a": "b"}}"#, "config.roles.a: expected a sequence, found \"b\""),
            (r#"{"rules": [], "log_allowed": "yes"}"#, "config.log_allowed: expected a boolean, found \"yes\""),
        ] {
            assert_eq!(read(json).unwrap_err().to_string(), message, "{json}");
        }
    }
}
