//! header-normalization: makes every request canonical, or refuses it, before any other
//! filter or the application sees it.
//!
//! Proxies and applications that read one request in two ways are behind a whole class of
//! bypasses: dot segments (CVE-2019-9901), escaped slashes (CVE-2021-29492), fragments
//! (CVE-2021-32779), NUL bytes (CVE-2019-9900), repeated headers. This filter rewrites the
//! path (with [`wasmesh_sdk::path`], which access control shares), the authority, the
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
mod rules;
mod trust;

pub use config::{
    AuthorityConfig, Config, LowercaseMethods, RenameConfig, RepeatedSingletons, StripPort,
    TrustedCallerConfig, Underscores, DEFAULT_INTERNAL_HEADERS, DEFAULT_METHODS,
};
pub use decide::{Changes, Decision};
pub use facts::{ConnectionFacts, HostFacts};
pub use normalizer::{Normalizer, BUILTIN_SINGLETONS};
pub use ops::HeaderOp;
pub use rules::{Normalization, Normalizations, Rejection};

use wasmesh_sdk::config::Value;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Http, LocalReply};

/// The rule named in redirects.
const REDIRECT_RULE: &str = "escaped_slash";

/// The compiled filter: the [`Normalizer`] and the metric families.
pub struct HeaderNormalization {
    normalizer: Normalizer,
    normalized: Counter,
    rejected: Counter,
    redirected: Counter,
}

impl HeaderNormalization {
    /// The compiled configuration.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }
}

impl Filter for HeaderNormalization {
    const NAME: &'static str = "header-normalization";
    /// The JSON value, read into a [`Config`] by [`Config::from_value`] (smaller in wasm
    /// than a serde derive; errors name the JSON path all the same).
    type Config = Value;
    type Stream = ();
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;

    fn default_config() -> Option<Value> {
        Some(Value::Object(Vec::new()))
    }

    fn compile(config: Value) -> Result<Self, ConfigError> {
        Ok(Self {
            normalizer: Normalizer::new(Config::from_value(config)?)?,
            normalized: Counter::new("wasmesh_header_normalization_normalized_total", &["rule"]),
            rejected: Counter::new("wasmesh_header_normalization_rejected_total", &["rule"]),
            redirected: Counter::new("wasmesh_header_normalization_redirected_total", &["rule"]),
        })
    }

    fn on_request_headers(&self, _: &mut (), http: &Http) -> Flow {
        let headers = http.request_headers();
        match self.normalizer.decide(&headers, &mut HostFacts) {
            Decision::Forward(changes) => {
                for op in &changes.ops {
                    match op {
                        HeaderOp::Set(name, value) => http.set_request_header(name, value),
                        HeaderOp::Remove(name) => http.remove_request_header(name),
                        HeaderOp::Add(name, value) => http.add_request_header(name, value),
                    }
                }
                for normalization in changes.normalized.iter() {
                    self.normalized.increment(&[normalization.rule()]);
                }
                Flow::Continue
            }
            Decision::Reject(rejection) => {
                let rule = rejection.rule();
                self.rejected.increment(&[rule]);
                Flow::Reply(
                    LocalReply::error(rejection.status(), rejection.error(), rule)
                        .with_details(&details(rule)),
                )
            }
            Decision::Redirect(location) => {
                self.redirected.increment(&[REDIRECT_RULE]);
                Flow::Reply(
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

/// Envoy's response code details for a rule: `header_normalization.<rule>`.
fn details(rule: &str) -> String {
    let mut details = String::from("header_normalization.");
    details.push_str(rule);
    details
}

wasmesh_sdk::export_filter!(HeaderNormalization);
