//! Compiling rules and roles into matchers, each error with the JSON path of its field.

use super::{builtin, Policy, Rule};
use crate::callers::{CallerContext, CallerSet};
use crate::conditions::HeaderCondition;
use crate::config::{DefaultAction, RuleAction, RuleConfig};
use crate::hosts::HostPattern;
use crate::lenient::Lenience;
use crate::method::MethodSet;
use crate::names::is_rule_name;
use crate::paths::PathPattern;
use std::collections::BTreeMap;
use wasmesh_path::PathOptions;
use wasmesh_sdk::ConfigError;

/// Everything a rule may refer to while it is compiled.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    /// Trust domains and roles for caller lists.
    pub callers: CallerContext<'a>,
    /// The canonical form paths must be written in.
    pub path_options: &'a PathOptions,
    /// Whether paths compare ignoring ASCII case.
    pub case_insensitive: bool,
    /// How deny and log rules read requests.
    pub lenience: Lenience,
}

impl Policy {
    /// Compiles the rules and roles; errors name the JSON path (`rules[2].paths[0]`).
    pub fn compile(
        rules: &[RuleConfig],
        roles: &BTreeMap<String, Vec<String>>,
        trust_domains: &[String],
        path_options: &PathOptions,
        case_insensitive: bool,
        lenience: Lenience,
        defaults: (DefaultAction, DefaultAction),
    ) -> Result<Self, ConfigError> {
        let compiled_roles = compile_roles(roles, trust_domains)?;
        let context = RuleContext {
            callers: CallerContext {
                trust_domains,
                roles: Some(&compiled_roles),
            },
            path_options,
            case_insensitive,
            lenience,
        };
        let mut policy = Policy {
            deny: Vec::new(),
            allow: Vec::new(),
            log: Vec::new(),
            default_action: defaults.0,
            unlisted_endpoints: defaults.1,
            condition_headers: Vec::new(),
            lenience,
        };
        let mut names: Vec<&str> = Vec::with_capacity(rules.len());
        for (index, config) in rules.iter().enumerate() {
            let at = |key: &str| format!("rules[{index}].{key}");
            if names.contains(&config.name.as_str()) {
                return Err(ConfigError::at(
                    at("name"),
                    format!(
                        "`{}` names another rule too; names must be unique",
                        config.name
                    ),
                ));
            }
            names.push(&config.name);
            let rule = compile_rule(config, context)
                .map_err(|(key, reason)| ConfigError::at(at(&key), reason))?;
            for condition in rule.headers.iter() {
                if !policy
                    .condition_headers
                    .iter()
                    .any(|h| h.as_ref() == condition.name())
                {
                    policy.condition_headers.push(condition.name().into());
                }
            }
            match config.action {
                RuleAction::Allow => policy.allow.push(rule),
                RuleAction::Deny => policy.deny.push(rule),
                RuleAction::Log => policy.log.push(rule),
            }
        }
        Ok(policy)
    }
}

fn compile_roles(
    roles: &BTreeMap<String, Vec<String>>,
    trust_domains: &[String],
) -> Result<BTreeMap<String, CallerSet>, ConfigError> {
    let context = CallerContext {
        trust_domains,
        roles: None,
    };
    let mut compiled = BTreeMap::new();
    for (name, entries) in roles {
        if !is_rule_name(name) {
            return Err(ConfigError::at(
                format!("roles.{name}"),
                "a role name is 1 to 64 letters, digits, `.`, `_`, `-`",
            ));
        }
        let set = CallerSet::compile(entries, context)
            .map_err(|(index, reason)| ConfigError::at(format!("roles.{name}[{index}]"), reason))?;
        compiled.insert(name.clone(), set);
    }
    Ok(compiled)
}

/// Compiles one rule; the error names the key relative to the rule (`paths[0]`).
fn compile_rule(config: &RuleConfig, context: RuleContext<'_>) -> Result<Rule, (String, String)> {
    if !is_rule_name(&config.name) {
        return Err((
            "name".into(),
            format!(
                "`{}`: a rule name is 1 to 64 letters, digits, `.`, `_`, `-`",
                config.name
            ),
        ));
    }
    if builtin::ALL.contains(&config.name.as_str()) {
        return Err((
            "name".into(),
            format!("`{}` is reserved for a built-in decision", config.name),
        ));
    }
    let callers = match &config.callers {
        None => None,
        Some(entries) => Some(
            CallerSet::compile(entries, context.callers)
                .map_err(|(index, reason)| (format!("callers[{index}]"), reason))?,
        ),
    };
    let methods = match &config.methods {
        None => None,
        Some(methods) if methods.is_empty() => return Err(empty("methods")),
        Some(methods) => Some(MethodSet::of(methods)),
    };
    let lenient = config.action != RuleAction::Allow;
    let paths = match &config.paths {
        None => None,
        Some(paths) if paths.is_empty() => return Err(empty("paths")),
        Some(paths) => Some(
            paths
                .iter()
                .enumerate()
                .map(|(index, path)| {
                    let compiled = if lenient {
                        PathPattern::compile_lenient(
                            path,
                            context.path_options,
                            context.case_insensitive,
                            &context.lenience,
                        )
                    } else {
                        PathPattern::compile(path, context.path_options, context.case_insensitive)
                    };
                    compiled.map_err(|reason| (format!("paths[{index}]"), reason))
                })
                .collect::<Result<Box<[_]>, _>>()?,
        ),
    };
    let hosts = match &config.hosts {
        None => None,
        Some(hosts) if hosts.is_empty() => return Err(empty("hosts")),
        Some(hosts) => Some(
            hosts
                .iter()
                .enumerate()
                .map(|(index, host)| {
                    HostPattern::compile(host, lenient && context.lenience.lenient_hosts)
                        .map_err(|reason| (format!("hosts[{index}]"), reason))
                })
                .collect::<Result<Box<[_]>, _>>()?,
        ),
    };
    let headers = match &config.headers {
        None => Box::default(),
        Some(headers) if headers.is_empty() => return Err(empty("headers")),
        Some(headers) => headers
            .iter()
            .enumerate()
            .map(|(index, condition)| {
                HeaderCondition::compile(condition).map_err(|(key, reason)| {
                    let at = if key.is_empty() {
                        format!("headers[{index}]")
                    } else {
                        format!("headers[{index}].{key}")
                    };
                    (at, reason)
                })
            })
            .collect::<Result<Box<[_]>, _>>()?,
    };
    Ok(Rule {
        name: config.name.as_str().into(),
        callers,
        methods,
        paths,
        hosts,
        headers,
        lenient,
    })
}

fn empty(key: &str) -> (String, String) {
    (
        key.to_owned(),
        format!("an empty list matches nothing; omit `{key}` to match any"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::policy;

    #[test]
    fn compile_errors_name_the_json_path() {
        let cases = [
            (
                r#"{"rules": [{"name": "a", "action": "allow"}, {"name": "a", "action": "deny"}]}"#,
                "rules[1].name",
            ),
            (
                r#"{"rules": [{"name": "default", "action": "allow"}]}"#,
                "rules[0].name",
            ),
            (
                r#"{"rules": [{"name": "a b", "action": "allow"}]}"#,
                "rules[0].name",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "methods": []}]}"#,
                "rules[0].methods",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "paths": [{"exact": "/"}, {"template": "/{x}"}]}]}"#,
                "rules[0].paths[1]",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "hosts": ["a b"]}]}"#,
                "rules[0].hosts[0]",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "callers": ["ok", "role:x"]}]}"#,
                "rules[0].callers[1]",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "headers": [{"name": "x", "exact": "1", "present": true}]}]}"#,
                "rules[0].headers[0]",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "headers": [{"name": ":path", "present": true}]}]}"#,
                "rules[0].headers[0].name",
            ),
            (
                r#"{"roles": {"r": ["ok", "bad name"]}, "rules": []}"#,
                "roles.r[1]",
            ),
            (r#"{"roles": {"r r": ["ok"]}, "rules": []}"#, "roles.r r"),
        ];
        for (json, path) in cases {
            let error = policy(json).unwrap_err();
            assert_eq!(error.path(), path, "{json}: {error}");
        }
        // Parse-time errors come with paths too.
        for (json, path) in [
            (
                r#"{"rules": [{"name": "a", "action": "allow", "methods": ["GET", "get"]}]}"#,
                "rules[0].methods[1]",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "permit"}]}"#,
                "rules[0].action",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "path": []}]}"#,
                "rules[0].path",
            ),
            (
                r#"{"rules": [{"name": "a", "action": "allow", "paths": [{"regex": ".*"}]}]}"#,
                "rules[0].paths[0].regex",
            ),
        ] {
            let error = policy(json).unwrap_err();
            assert_eq!(error.path(), path, "{json}: {error}");
        }
    }
}
