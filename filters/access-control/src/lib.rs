//! # access-control
//!
//! Service-to-service authorization for an Envoy sidecar, in the spirit of Envoy RBAC,
//! Istio AuthorizationPolicy and envoy-control's incoming permissions, configured with
//! plain JSON so it works with any control plane or none.
//!
//! For every request the filter:
//!
//! 1. identifies the caller from the configured sources, in order (mTLS peer
//!    certificate SPIFFE ID, `x-forwarded-client-cert`, a trusted caller-name header,
//!    source-address CIDRs) — see [`identity`];
//! 2. removes identity headers a client could have forged;
//! 3. checks that `:path` is canonical (`wasmesh_sdk::path`) and handles method-override
//!    headers — see [`checks`];
//! 4. evaluates the rules: `log` rules report, `deny` rules first, then `allow` rules,
//!    then the defaults — see [`policy`];
//! 5. counts the decision (`wasmesh_access_control_requests_total{decision,caller,rule}`),
//!    logs denials, and in `enforce` mode answers a denied request with a JSON 403; in
//!    `shadow` mode it only reports;
//! 6. passes the verified caller's name upstream in `x-wasmesh-caller` (configurable).
//!
//! The README documents every configuration field.

pub mod callers;
pub mod checks;
pub mod conditions;
pub mod config;
pub mod hosts;
pub mod identity;
pub mod lenient;
pub mod method;
pub mod names;
pub mod paths;
pub mod policy;
pub mod report;
mod request;
pub mod scan;

use checks::{MethodOverride, PathCheck};
use config::{Config, Mode};
use identity::{IdentityResolver, XFCC_HEADER};
use policy::Policy;
use proxy_wasm::types::LogLevel;
use report::DenyResponse;
use scan::HeaderScan;
use wasmesh_sdk::config::Value;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{host, properties};
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Http};

/// The counter of decisions, tagged `decision` (`allowed`, `denied`, `shadow_denied`),
/// `caller` and `rule`.
pub const REQUESTS_METRIC: &str = "wasmesh_access_control_requests_total";

/// The compiled filter: the configuration, validated and turned into matchers once.
pub struct AccessControl {
    mode: Mode,
    identity: IdentityResolver,
    path_check: PathCheck,
    method_override: MethodOverride,
    policy: Policy,
    deny: DenyResponse,
    log_allowed: bool,
    requests: Counter,
    header_scan: HeaderScan,
}

impl Filter for AccessControl {
    const NAME: &'static str = "access-control";
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    /// The JSON document, read by [`Config::read`] when compiled.
    type Config = Value;
    type Stream = ();

    fn compile(json: Value) -> Result<Self, ConfigError> {
        let config = Config::read(&json)?;
        let path_check = PathCheck::new(&config.path);
        let trust_domains = config.identity.spiffe.trust_domains.clone();
        let identity = IdentityResolver::compile(config.identity)?;
        let policy = Policy::compile(
            &config.rules,
            &config.roles,
            &trust_domains,
            path_check.options(),
            config.path.case_insensitive,
            config.deny_matching,
            (config.default_action, config.unlisted_endpoints),
        )?;
        let method_override = MethodOverride::compile(config.method_override)?;
        let header_scan = HeaderScan::new(
            identity.caller_header(),
            XFCC_HEADER,
            identity.upstream_header(),
            method_override.header_names(),
        );
        let deny = DenyResponse::compile(config.deny_response)?;
        if config.metrics.tag_set_cap == 0 {
            return Err(ConfigError::at("metrics.tag_set_cap", "must be at least 1"));
        }
        let requests = Counter::new(REQUESTS_METRIC, &["decision", "caller", "rule"])
            .with_tag_set_cap(config.metrics.tag_set_cap);
        // Under Istio, name the workload this policy protects (read once, here).
        if let Some(name) = properties::string(&["xds", "node", "metadata", "WORKLOAD_NAME"]) {
            let line = ["access-control: workload=", &name, " (Istio node metadata)"];
            host::log(LogLevel::Info, &line.concat());
        }
        Ok(Self {
            mode: config.mode,
            identity,
            path_check,
            method_override,
            policy,
            deny,
            log_allowed: config.log_allowed,
            requests,
            header_scan,
        })
    }

    fn on_request_headers(&self, _stream: &mut (), http: &Http) -> Flow {
        self.on_request(http)
    }
}

wasmesh_sdk::export_filter!(AccessControl);
