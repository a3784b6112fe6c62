//! Rules and their evaluation.
//!
//! Order: every matching `log` rule logs a line; the first matching `deny` rule denies;
//! otherwise the first matching `allow` rule allows; otherwise the request falls to a
//! default. Deny and log rules match paths and hosts as the most lenient application
//! would read them ([`crate::lenient`]), allow rules exactly. The endpoint (method, path and host) is *listed* when some allow rule's
//! operations match it, whoever the caller: a listed endpoint no allow rule granted gets
//! `default_action`, an unlisted one gets `unlisted_endpoints`.

mod compile;

use crate::callers::{Caller, CallerSet};
use crate::conditions::HeaderCondition;
use crate::config::DefaultAction;
use crate::hosts::HostPattern;
use crate::lenient::{Ambiguous, Lenience};
use crate::method::{Method, MethodSet};
use crate::paths::PathPattern;
use std::borrow::Cow;
use wasmesh_sdk::HeaderMap;

/// Names of decisions not made by a configured rule; rules may not use them.
pub mod builtin {
    /// A listed endpoint that no allow rule granted to this caller.
    pub const DEFAULT: &str = "default";
    /// An endpoint no allow rule lists.
    pub const UNLISTED_ENDPOINT: &str = "unlisted_endpoint";
    /// A path that cannot be canonicalized (or a missing or repeated `:path`).
    pub const INVALID_PATH: &str = "invalid_path";
    /// A path that is not canonical while `path.non_canonical` is `deny`.
    pub const NON_CANONICAL_PATH: &str = "non_canonical_path";
    /// A path with a segment that lenient applications read as a separator or a dot
    /// segment (`...`, `..%20`, `;x`), so no rule can say where it leads.
    pub const AMBIGUOUS_PATH: &str = "ambiguous_path";
    /// A method-override header that is refused or cannot be evaluated.
    pub const METHOD_OVERRIDE: &str = "method_override";
    /// The caller-name header or `x-forwarded-client-cert` appears more than once.
    pub const REPEATED_IDENTITY_HEADER: &str = "repeated_identity_header";
    /// A header read by a rule's condition appears more than once.
    pub const REPEATED_HEADER: &str = "repeated_header";
    /// Every built-in name.
    pub const ALL: [&str; 8] = [
        DEFAULT,
        UNLISTED_ENDPOINT,
        INVALID_PATH,
        NON_CANONICAL_PATH,
        AMBIGUOUS_PATH,
        METHOD_OVERRIDE,
        REPEATED_IDENTITY_HEADER,
        REPEATED_HEADER,
    ];
}

/// What the policy sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method (`None`: not one a rule can name).
    pub method: Option<Method>,
    /// The canonical path, without the query: what allow rules match.
    pub path: &'a str,
    /// Its lenient reading ([`Policy::lenient_path`]): what deny and log rules match.
    pub lenient_path: &'a [u8],
    /// `:authority`.
    pub authority: Option<&'a [u8]>,
    /// Every request header.
    pub headers: &'a HeaderMap,
    /// The verified caller, if any.
    pub caller: Option<&'a Caller>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Whether the request may pass.
    pub allowed: bool,
    /// The rule (or built-in name) that decided.
    pub rule: &'a str,
    /// Whether the decision must be logged even when allowed (a default of `log`).
    pub log: bool,
}

impl<'a> Decision<'a> {
    /// A denial by `rule`.
    pub fn deny(rule: &'a str) -> Self {
        Self {
            allowed: false,
            rule,
            log: false,
        }
    }

    fn default(action: DefaultAction, rule: &'a str) -> Self {
        Self {
            allowed: action != DefaultAction::Deny,
            rule,
            log: action == DefaultAction::Log,
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    name: Box<str>,
    callers: Option<CallerSet>,
    methods: Option<MethodSet>,
    paths: Option<Box<[PathPattern]>>,
    hosts: Option<Box<[HostPattern]>>,
    headers: Box<[HeaderCondition]>,
    /// A deny or log rule: its paths match [`RequestView::lenient_path`].
    lenient: bool,
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the method, path and host match.
    fn operation_matches(&self, request: &RequestView<'_>) -> bool {
        self.methods.is_none_or(|m| m.contains(request.method))
            && self.hosts.as_ref().is_none_or(|hosts| {
                request
                    .authority
                    .is_some_and(|a| hosts.iter().any(|h| h.matches(a)))
            })
            && self.paths.as_ref().is_none_or(|paths| {
                let path = if self.lenient {
                    request.lenient_path
                } else {
                    request.path.as_bytes()
                };
                paths.iter().any(|p| p.matches(path))
            })
    }

    /// Whether the caller and the header conditions match.
    fn requester_matches(&self, request: &RequestView<'_>) -> bool {
        self.callers
            .as_ref()
            .is_none_or(|c| c.matches(request.caller))
            && self.headers.iter().all(|c| c.holds(request.headers))
    }

    fn matches(&self, request: &RequestView<'_>) -> bool {
        self.operation_matches(request) && self.requester_matches(request)
    }
}

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    deny: Vec<Rule>,
    allow: Vec<Rule>,
    log: Vec<Rule>,
    default_action: DefaultAction,
    unlisted_endpoints: DefaultAction,
    condition_headers: Vec<Box<str>>,
    /// How deny and log rules read requests.
    lenience: Lenience,
}

impl Policy {
    /// The reading of the canonical `path` that deny and log rules match, or
    /// [`Ambiguous`] when lenient applications read a segment of it as a separator or a
    /// dot segment (refused as `ambiguous_path`, whatever the rules).
    pub fn lenient_path<'a>(&self, path: &'a str) -> Result<Cow<'a, [u8]>, Ambiguous> {
        self.lenience.path(path.as_bytes())
    }

    /// Decides on a request: deny rules, then allow rules, then the defaults.
    pub fn decide(&self, request: &RequestView<'_>) -> Decision<'_> {
        if let Some(rule) = self.deny.iter().find(|r| r.matches(request)) {
            return Decision::deny(rule.name());
        }
        let mut listed = false;
        for rule in &self.allow {
            if rule.operation_matches(request) {
                listed = true;
                if rule.requester_matches(request) {
                    return Decision {
                        allowed: true,
                        rule: rule.name(),
                        log: false,
                    };
                }
            }
        }
        if listed {
            Decision::default(self.default_action, builtin::DEFAULT)
        } else {
            Decision::default(self.unlisted_endpoints, builtin::UNLISTED_ENDPOINT)
        }
    }

    /// The names of the `log` rules that match the request.
    pub fn matching_log_rules<'p, 'r>(
        &'p self,
        request: &'r RequestView<'r>,
    ) -> impl Iterator<Item = &'p str> + use<'p, 'r> {
        self.log
            .iter()
            .filter(move |r| r.matches(request))
            .map(Rule::name)
    }

    /// The first header read by a condition that the request repeats.
    pub fn repeated_condition_header(&self, headers: &HeaderMap) -> Option<&str> {
        self.condition_headers
            .iter()
            .find(|name| headers.count(name) > 1)
            .map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The policy of a configuration document (shared with `compile`'s tests).
    pub(super) fn policy(json: &str) -> Result<Policy, wasmesh_sdk::ConfigError> {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap();
        let config = Config::read(&value)?;
        Policy::compile(
            &config.rules,
            &config.roles,
            &["example.org".to_owned()],
            &config.path.canonicalization,
            config.path.case_insensitive,
            config.deny_matching,
            (config.default_action, config.unlisted_endpoints),
        )
    }

    fn caller(name: &str) -> Caller {
        Caller {
            service: name.into(),
            spiffe_id: None,
        }
    }

    fn decide(
        policy: &Policy,
        method: &str,
        path: &str,
        caller: Option<&Caller>,
        headers: &HeaderMap,
    ) -> (bool, String) {
        let lenient = policy.lenient_path(path).unwrap();
        let view = RequestView {
            method: Method::parse(method.as_bytes()),
            path,
            lenient_path: &lenient,
            authority: Some(b"orders.example.org"),
            headers,
            caller,
        };
        let decision = policy.decide(&view);
        (decision.allowed, decision.rule.to_owned())
    }

    const SHOP: &str = r#"{
        "roles": {"admins": ["backoffice", "ops"]},
        "rules": [
            {"name": "no-admin-for-frontend", "action": "deny", "callers": ["frontend"],
             "paths": [{"prefix": "/admin"}]},
            {"name": "frontend-reads", "action": "allow", "callers": ["frontend"],
             "methods": ["GET", "HEAD"], "paths": [{"template": "/users/{*}/orders/{**}"}]},
            {"name": "admins-everything", "action": "allow", "callers": ["role:admins"]},
            {"name": "audit-deletes", "action": "log", "methods": ["DELETE"]}
        ]
    }"#;

    #[test]
    fn deny_rules_come_first_then_allow_then_defaults() {
        let p = policy(SHOP).unwrap();
        let h = HeaderMap::default();
        let frontend = caller("frontend");
        let ops = caller("ops");
        assert_eq!(
            decide(&p, "GET", "/users/1/orders", Some(&frontend), &h),
            (true, "frontend-reads".into())
        );
        assert_eq!(
            decide(&p, "GET", "/admin/x", Some(&frontend), &h),
            (false, "no-admin-for-frontend".into())
        );
        assert_eq!(
            decide(&p, "GET", "/admin/x", Some(&ops), &h),
            (true, "admins-everything".into())
        );
        // Listed by the catch-all admins rule, so any other caller gets the default.
        assert_eq!(
            decide(&p, "POST", "/users/1/orders", Some(&frontend), &h),
            (false, "default".into())
        );
        assert_eq!(
            decide(&p, "GET", "/users/1/orders", None, &h),
            (false, "default".into())
        );
    }

    #[test]
    fn unlisted_endpoints_have_their_own_default() {
        let p = policy(
            r#"{"unlisted_endpoints": "allow", "rules": [
                {"name": "reads", "action": "allow", "callers": ["frontend"],
                 "methods": ["GET"], "paths": [{"prefix": "/api"}]}]}"#,
        )
        .unwrap();
        let h = HeaderMap::default();
        let cart = caller("cart");
        assert_eq!(
            decide(&p, "GET", "/api/x", Some(&cart), &h),
            (false, "default".into())
        );
        assert_eq!(
            decide(&p, "GET", "/other", Some(&cart), &h),
            (true, "unlisted_endpoint".into())
        );
        assert_eq!(
            decide(&p, "POST", "/api/x", Some(&cart), &h),
            (true, "unlisted_endpoint".into())
        );
        let strict = policy(
            r#"{"rules": [{"name": "reads", "action": "allow", "paths": [{"exact": "/a"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            decide(&strict, "GET", "/b", None, &h),
            (false, "unlisted_endpoint".into())
        );
        let logged = policy(
            r#"{"default_action": "log", "rules": [
            {"name": "r", "action": "allow", "callers": ["x"]}]}"#,
        )
        .unwrap();
        let view = RequestView {
            method: Some(Method::Get),
            path: "/",
            lenient_path: b"/",
            authority: None,
            headers: &h,
            caller: None,
        };
        assert_eq!(
            logged.decide(&view),
            Decision {
                allowed: true,
                rule: "default",
                log: true
            }
        );
    }

    #[test]
    fn log_rules_only_report() {
        let p = policy(SHOP).unwrap();
        let h = HeaderMap::default();
        let frontend = caller("frontend");
        let view = RequestView {
            method: Some(Method::Delete),
            path: "/users/1/orders/2",
            lenient_path: b"/users/1/orders/2",
            authority: None,
            headers: &h,
            caller: Some(&frontend),
        };
        assert_eq!(
            p.matching_log_rules(&view).collect::<Vec<_>>(),
            ["audit-deletes"]
        );
        assert_eq!(p.decide(&view).rule, "default");
    }

    #[test]
    fn hosts_and_headers_narrow_a_rule() {
        let p = policy(
            r#"{"rules": [{"name": "canary", "action": "allow",
                "hosts": ["*.example.org"],
                "headers": [{"name": "x-env", "exact": "canary"}, {"name": "x-debug", "present": false}]}]}"#,
        )
        .unwrap();
        let ok = HeaderMap::new(vec![(b"x-env".to_vec(), b"canary".to_vec())]);
        assert_eq!(decide(&p, "GET", "/", None, &ok), (true, "canary".into()));
        let debug = HeaderMap::new(vec![
            (b"x-env".to_vec(), b"canary".to_vec()),
            (b"x-debug".to_vec(), b"1".to_vec()),
        ]);
        assert_eq!(
            decide(&p, "GET", "/", None, &debug),
            (false, "default".into())
        );
        let view = RequestView {
            method: Some(Method::Get),
            path: "/",
            lenient_path: b"/",
            authority: Some(b"example.com"),
            headers: &ok,
            caller: None,
        };
        assert_eq!(p.decide(&view).rule, "unlisted_endpoint");
        let twice = HeaderMap::new(vec![
            (b"x-env".to_vec(), b"canary".to_vec()),
            (b"X-Env".to_vec(), b"prod".to_vec()),
        ]);
        assert_eq!(p.repeated_condition_header(&twice), Some("x-env"));
        assert_eq!(p.repeated_condition_header(&ok), None);
    }

    #[test]
    fn unknown_methods_match_only_rules_without_methods() {
        let p = policy(
            r#"{"rules": [{"name": "no-delete", "action": "deny", "methods": ["DELETE"]},
                          {"name": "all", "action": "allow"}]}"#,
        )
        .unwrap();
        let h = HeaderMap::default();
        assert_eq!(
            decide(&p, "delete", "/", None, &h),
            (false, "no-delete".into())
        );
        assert_eq!(decide(&p, "PROPFIND", "/", None, &h), (true, "all".into()));
    }
}
