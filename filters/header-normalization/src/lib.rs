//! header-normalization: makes every request canonical, or refuses it, before any other
//! filter or the application sees it.
//!
//! Proxies and applications that read one request in two ways are behind a whole class of
//! bypasses: dot segments (CVE-2019-9901), escaped slashes (CVE-2021-29492), fragments
//! (CVE-2021-32779), NUL bytes (CVE-2019-9900), repeated headers. This filter rewrites the
//! path (with [`wasmesh_path`], which access control shares), the authority, the
//! method and the header set to one canonical form, or answers 400 (431 for the size
//! limits) with `{"error": "bad_request", "rule": "<rule>"}`, and counts what each rule
//! did. See the README for the configuration and the rules.

mod authority;
mod changes;
mod config;
mod decide;
mod facts;
mod joined;
mod methods;
mod names;
mod normalizer;
mod ops;
mod read;
mod routes;
mod rules;
mod trust;

pub use config::{
    AuthorityConfig, Config, LowercaseMethods, RenameConfig, RepeatedSingletons, StripPort,
    TrustedCallerConfig, Underscores, DEFAULT_INTERNAL_HEADERS, DEFAULT_METHODS,
};
pub use decide::{Changes, Decision};
pub use facts::{ConnectionFacts, HostFacts};
pub use normalizer::{Normalizer, BUILTIN_SINGLETONS};
pub use rules::{Normalization, Normalizations, Rejection};

use std::rc::Rc;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Host, LocalReply, Outcome};

const REDIRECT_RULE: &str = "escaped_slash";

/// The compiled filter: the [`Normalizer`] and the metric families.
pub struct HeaderNormalization {
    normalizer: Normalizer,
    /// The listener's `allow_weaker_routes`: `routes` entries need not be stricter.
    allow_weaker_routes: bool,
    /// The counters, shared with the `routes` entries: one set of tag sets per filter.
    normalized: Rc<Counter>,
    rejected: Rc<Counter>,
    redirected: Rc<Counter>,
}

impl HeaderNormalization {
    /// The compiled configuration.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }
}

impl Filter for HeaderNormalization {
    const NAME: &'static str = "header-normalization";
    type Stream = ();
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");
    /// The options that can only be made stricter per route (see the README's
    /// "Per-route configuration"); `authority`, `trusted_callers`, `renames` and
    /// `original_path_header` are the listener's alone.
    const ROUTE_FIELDS: &'static [&'static str] = routes::ROUTE_FIELDS;

    /// An entry is refused where it is weaker than the listener's configuration, unless
    /// the listener sets `allow_weaker_routes`: the route is chosen from the request as
    /// the client sent it, before this filter made it canonical.
    fn compile_route(&self, config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        let mut route = Self::compile(config, host)?;
        if !self.allow_weaker_routes {
            routes::check_not_weaker(&self.normalizer, &route.normalizer)?;
        }
        route.normalized = Rc::clone(&self.normalized);
        route.rejected = Rc::clone(&self.rejected);
        route.redirected = Rc::clone(&self.redirected);
        Ok(route)
    }

    /// Reads the document into a [`Config`] with [`Config::from_value`].
    fn compile(config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let config = Config::from_value(config.value().clone())?;
        Ok(Self {
            allow_weaker_routes: config.allow_weaker_routes,
            normalizer: Normalizer::new(config)?,
            normalized: Rc::new(Counter::new(
                "wasmesh_header_normalization_normalized_total",
                &["rule"],
            )),
            rejected: Rc::new(Counter::new(
                "wasmesh_header_normalization_rejected_total",
                &["rule"],
            )),
            redirected: Rc::new(Counter::new(
                "wasmesh_header_normalization_redirected_total",
                &["rule"],
            )),
        })
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
        let headers = host.request_headers();
        let decision = self.normalizer.decide(&headers, &mut HostFacts(host));
        host.apply_to_request(self.outcome(decision, host))
    }
}

impl HeaderNormalization {
    /// The outcome of a decision, its counters recorded.
    fn outcome<'a>(&self, decision: Decision<'a>, host: &dyn Host) -> Outcome<'a> {
        match decision {
            Decision::Forward(changes) => {
                for normalization in changes.normalized.iter() {
                    self.normalized.increment(host, &[normalization.rule()]);
                }
                Outcome::edit(changes.ops)
            }
            Decision::Reject(rejection) => {
                let rule = rejection.rule();
                self.rejected.increment(host, &[rule]);
                Outcome::reply(
                    LocalReply::error(rejection.status(), rejection.error(), rule)
                        .with_details(&details(rule)),
                )
            }
            Decision::Redirect(location) => {
                self.redirected.increment(host, &[REDIRECT_RULE]);
                Outcome::reply(
                    LocalReply::json(
                        307,
                        &[("location", location.as_str()), ("rule", REDIRECT_RULE)],
                    )
                    .with_header("location", location)
                    .with_details(&details(REDIRECT_RULE)),
                )
            }
        }
    }
}

fn details(rule: &str) -> String {
    let mut details = String::from("header_normalization.");
    details.push_str(rule);
    details
}

wasmesh_sdk::export_filter!(HeaderNormalization);
