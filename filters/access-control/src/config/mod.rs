//! The JSON configuration as written in the sidecar's filter configuration.
//!
//! [`Config::read`] turns the parsed JSON into these types, refusing unknown keys and
//! values of the wrong type with the JSON path of the offending field; values are
//! checked further when the configuration is compiled (see [`crate::AccessControl`]).
//! The README documents every field.

mod read;

use crate::lenient::Lenience;
use crate::method::Method;
use std::collections::BTreeMap;
use wasmesh_identity::SpiffeMappingConfig;
use wasmesh_path::PathOptions;

/// The whole configuration.
#[derive(Debug)]
pub struct Config {
    /// `enforce` (default) or `shadow`.
    pub mode: Mode,
    /// What happens to a request to a listed endpoint that no allow rule matched.
    pub default_action: DefaultAction,
    /// What happens to a request whose endpoint no allow rule lists.
    pub unlisted_endpoints: DefaultAction,
    /// Where the caller's identity comes from.
    pub identity: IdentityConfig,
    /// Named caller lists, referred to as `role:<name>` in rules.
    pub roles: BTreeMap<String, Vec<String>>,
    /// The rules.
    pub rules: Vec<RuleConfig>,
    /// How the request path is checked before matching.
    pub path: PathConfig,
    /// How leniently deny and log rules read paths and hosts.
    pub deny_matching: Lenience,
    /// What happens to requests carrying a method-override header.
    pub method_override: MethodOverrideConfig,
    /// The reply sent to denied requests.
    pub deny_response: DenyResponseConfig,
    /// Log one line per allowed request too (denials are always logged).
    pub log_allowed: bool,
    /// Metric options.
    pub metrics: MetricsConfig,
}

/// Whether decisions are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Denied requests get the deny response.
    #[default]
    Enforce,
    /// Every decision is made, logged and counted, but no request is blocked.
    Shadow,
}

impl Mode {
    /// The mode's name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}

/// The outcome for requests no rule decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultAction {
    /// Let the request through.
    Allow,
    /// Deny the request.
    #[default]
    Deny,
    /// Let the request through and log a line for it.
    Log,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// The request is allowed (unless a deny rule matched).
    Allow,
    /// The request is denied; deny rules are checked before allow rules.
    Deny,
    /// A line is logged; the rule does not decide anything.
    Log,
}

/// One rule.
#[derive(Debug)]
pub struct RuleConfig {
    /// Unique name, reported in deny replies, logs and metrics.
    pub name: String,
    /// `allow`, `deny` or `log`.
    pub action: RuleAction,
    /// Callers the rule applies to; absent means any caller, identified or not.
    pub callers: Option<Vec<String>>,
    /// Request methods; absent means any method.
    pub methods: Option<Vec<Method>>,
    /// Request paths; absent means any path.
    pub paths: Option<Vec<PathPatternConfig>>,
    /// Request hosts (`:authority`); absent means any host.
    pub hosts: Option<Vec<String>>,
    /// Header conditions, all of which must hold.
    pub headers: Option<Vec<HeaderConditionConfig>>,
}

/// A path pattern: `{"exact": "/x"}`, `{"prefix": "/api"}` or `{"template": "/u/{*}/o/{**}"}`.
#[derive(Debug)]
pub enum PathPatternConfig {
    /// The whole path.
    Exact(String),
    /// The path or anything below it, segment by segment.
    Prefix(String),
    /// Segments, where `{*}` is one segment and a final `{**}` any number of segments.
    Template(String),
}

/// A header condition: `name` and exactly one of `present`, `exact`, `prefix`.
#[derive(Debug)]
pub struct HeaderConditionConfig {
    /// The header name.
    pub name: String,
    /// `true`: the header is present; `false`: it is absent.
    pub present: Option<bool>,
    /// The header's value equals this.
    pub exact: Option<String>,
    /// The header's value starts with this.
    pub prefix: Option<String>,
}

/// An identity source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The first URI SAN of the verified mTLS peer certificate.
    PeerCertificate,
    /// Every URI SAN, read from `x-forwarded-client-cert` as Envoy sets it.
    Xfcc,
    /// A caller-name header, from trusted connections only.
    CallerHeader,
    /// The connection's source address, by CIDR.
    SourceAddress,
}

impl SourceKind {
    /// The source's name in logs and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::PeerCertificate => "peer_certificate",
            SourceKind::Xfcc => "xfcc",
            SourceKind::CallerHeader => "caller_header",
            SourceKind::SourceAddress => "source_address",
        }
    }
}

/// The default name of the header carrying the verified caller upstream.
pub const DEFAULT_UPSTREAM_HEADER: &str = "x-wasmesh-caller";

/// Identity configuration.
#[derive(Debug)]
pub struct IdentityConfig {
    /// Sources, tried in this order; default `["peer_certificate"]`.
    pub sources: Vec<SourceKind>,
    /// Trust domains and SPIFFE-ID-to-service mapping.
    pub spiffe: SpiffeMappingConfig,
    /// The caller-name header, when `caller_header` is a source.
    pub caller_header: Option<CallerHeaderConfig>,
    /// Source-address blocks mapped to service names, when `source_address` is a source.
    pub source_addresses: Vec<SourceAddressConfig>,
    /// The header the verified caller's name is passed upstream in.
    pub upstream_header: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            sources: vec![SourceKind::PeerCertificate],
            spiffe: SpiffeMappingConfig::default(),
            caller_header: None,
            source_addresses: Vec::new(),
            upstream_header: DEFAULT_UPSTREAM_HEADER.to_owned(),
        }
    }
}

/// The caller-name header source.
#[derive(Debug)]
pub struct CallerHeaderConfig {
    /// The header name, e.g. `x-service-name`.
    pub name: String,
    /// Source addresses whose caller-name header is trusted.
    pub trusted_cidrs: Vec<String>,
    /// Trust the header on mutual-TLS connections; default `true`.
    pub trust_mtls: bool,
}

/// Source-address blocks naming one service.
#[derive(Debug)]
pub struct SourceAddressConfig {
    /// The service name given to callers from these blocks.
    pub service: String,
    /// Address blocks such as `10.1.0.0/16`.
    pub cidrs: Vec<String>,
}

/// How a request path that is not canonical is handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonCanonicalPath {
    /// Deny it (rule `non_canonical_path`).
    #[default]
    Deny,
    /// Rewrite `:path` to the canonical form, then match.
    Normalize,
}

/// Path checking.
#[derive(Debug, Default)]
pub struct PathConfig {
    /// The canonical form (same options as the header-normalization filter).
    pub canonicalization: PathOptions,
    /// What happens to a path that is not already canonical.
    pub non_canonical: NonCanonicalPath,
    /// Compare policy paths ignoring ASCII case.
    pub case_insensitive: bool,
}

/// What happens to requests carrying a method-override header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MethodOverrideAction {
    /// Deny them (rule `method_override`).
    #[default]
    Deny,
    /// Evaluate the policy for the request method and for the override; both must allow.
    Evaluate,
}

/// Method-override handling.
#[derive(Debug)]
pub struct MethodOverrideConfig {
    /// `deny` (default) or `evaluate`.
    pub action: MethodOverrideAction,
    /// The header names treated as method overrides.
    pub headers: Vec<String>,
}

/// The method-override headers checked by default.
pub const DEFAULT_METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

impl Default for MethodOverrideConfig {
    fn default() -> Self {
        Self {
            action: MethodOverrideAction::default(),
            headers: DEFAULT_METHOD_OVERRIDE_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
        }
    }
}

/// The reply to denied requests.
#[derive(Debug)]
pub struct DenyResponseConfig {
    /// HTTP status, 400 to 599; default 403.
    pub status: u16,
    /// Extra response headers, in order.
    pub headers: Vec<(String, String)>,
    /// Name the caller in the JSON body.
    pub include_caller: bool,
}

impl Default for DenyResponseConfig {
    fn default() -> Self {
        Self {
            status: 403,
            headers: Vec::new(),
            include_caller: false,
        }
    }
}

/// Metric options.
#[derive(Debug)]
pub struct MetricsConfig {
    /// Most distinct (decision, caller, rule) label sets; further ones count as `other`.
    pub tag_set_cap: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            tag_set_cap: wasmesh_sdk::metrics::DEFAULT_TAG_SET_CAP,
        }
    }
}
