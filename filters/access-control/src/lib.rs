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
//! 3. checks that `:path` is canonical (`wasmesh_path`) and handles method-override
//!    headers — see [`checks`];
//! 4. evaluates the rules: `log` rules report, `deny` rules first, then `allow` rules,
//!    then the defaults — see [`policy`];
//! 5. counts the decision (`wasmesh_access_control_requests_total{decision,caller,rule}`),
//!    logs denials, and in `enforce` mode answers a denied request with a JSON 403; in
//!    `shadow` mode it only reports;
//! 6. passes the verified caller's name upstream in `x-wasmesh-caller` (configurable).
//!
//! Steps 1 to 4 and 6 are [`AccessControl::decide`], a plain function from the request
//! headers and the connection's facts ([`identity::Connection`]) to a [`RequestDecision`]:
//! the header edits, verified caller and deny reply, and what the counter and log lines
//! say. The filter's callback reads the headers from the host, counts and logs the
//! decision, and hands its outcome to the SDK.
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

pub use request::RequestDecision;

use checks::{MethodOverride, PathCheck};
use config::{Config, Mode};
use identity::{IdentityResolver, XFCC_HEADER};
use policy::Policy;
use report::{caller_name, DenyResponse, Outcome};
use request::HostConnection;
use scan::HeaderScan;
use std::rc::Rc;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Host};

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
    /// Shared with the `routes` entries: one cap of tag sets for the whole filter.
    requests: Rc<Counter>,
    header_scan: HeaderScan,
}

impl AccessControl {
    /// Reads the configuration document with [`Config::read`] and compiles it; errors
    /// name the JSON path of the offending field. [`Filter::compile`] without the host.
    #[inline]
    pub fn new(config: &Node<'_>) -> Result<Self, ConfigError> {
        let config = Config::read(config.value())?;
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
        Ok(Self {
            mode: config.mode,
            identity,
            path_check,
            method_override,
            policy,
            deny,
            log_allowed: config.log_allowed,
            requests: Rc::new(requests),
            header_scan,
        })
    }

    /// Logs `outcome` by `rule` when info lines are enabled.
    fn report(
        &self,
        decision: &RequestDecision<'_>,
        outcome: Outcome,
        rule: &str,
        reason: Option<&str>,
    ) {
        if log::log_enabled!(log::Level::Info) {
            let report = decision.report(self.mode, outcome, rule, reason);
            log::info!("{}", report.log_line());
        }
    }
}

impl Filter for AccessControl {
    const NAME: &'static str = "access-control";
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    /// What a `routes` entry may give a route of its own: the policy (rules, roles, the
    /// defaults), the mode, the deny reply and `log_allowed`. How a request is read
    /// (`path`, `deny_matching`, `method_override`), who the caller is (`identity`, which
    /// also decides which headers are removed) and `metrics` are the listener's, on every
    /// route: they describe the connection and the application, not a route.
    const ROUTE_FIELDS: &'static [&'static str] = &[
        "mode",
        "default_action",
        "unlisted_endpoints",
        "roles",
        "rules",
        "deny_response",
        "log_allowed",
    ];
    type Stream = ();

    /// Refuses the route entries that a request could pick with a path the application
    /// reads as another route's (see the README's *Per-route configuration*): any entry
    /// while the listener normalizes paths, and an entry in `shadow` mode under an
    /// enforcing listener.
    fn compile_route(&self, config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let mut route = Self::new(config)?;
        route.requests = Rc::clone(&self.requests);
        if self.path_check.normalizes() {
            return Err(ConfigError::at(
                "",
                "a `routes` section needs the top-level `path.non_canonical` to be `deny`: \
                 a route is chosen on the path as received, and a path this filter normalizes \
                 is routed again by Envoy after the decision",
            ));
        }
        if self.mode == Mode::Enforce && route.mode == Mode::Shadow {
            return Err(ConfigError::at(
                "mode",
                "a route cannot shadow an enforcing listener: a request chosen for the route \
                 by a path that is not canonical would pass, and the application may read \
                 that path as another route's; put the listener in `shadow` mode and enforce \
                 route by route instead",
            ));
        }
        Ok(route)
    }

    /// Reads the document with [`Config::read`], then compiles it.
    fn compile(config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        Self::new(config).inspect(|_| {
            // Under Istio, name the workload this policy protects (read once, here).
            if let Some(name) = host.string(&["xds", "node", "metadata", "WORKLOAD_NAME"]) {
                log::info!("access-control: workload={name} (Istio node metadata)");
            }
        })
    }

    /// Decides with [`AccessControl::decide`], counts and logs the decision, and hands its
    /// outcome to the SDK.
    fn on_request_headers(&self, _stream: &mut (), host: &dyn Host) -> Flow {
        let headers = host.request_headers();
        let decision = self.decide(&headers, &mut HostConnection::new(host));
        for rule in &decision.log_rules {
            self.report(&decision, Outcome::Logged, rule, None);
        }
        let caller = caller_name(decision.caller());
        let tags = [decision.counted.as_str(), caller, decision.rule];
        self.requests.increment(host, &tags);
        if decision.log_decision {
            self.report(&decision, decision.counted, decision.rule, decision.reason);
        }
        host.apply_to_request(decision.outcome)
    }
}

wasmesh_sdk::export_filter!(AccessControl);
