//! The JSON configuration and its compiled form, [`Settings`].
//!
//! The filter reads its configuration with the SDK's [`wasmesh_sdk::config::reader`]
//! ([`Config::read`]), whose errors name the JSON path of the field.

use wasmesh_sdk::config::reader::{Node, Probability};
use wasmesh_sdk::config::Value;
use wasmesh_sdk::ConfigError;

use crate::sampler::Sampler;
use crate::trace_context::TraceState;

/// The JSON configuration. Every field is optional; `{}` is a sidecar that continues
/// incoming traces, gives each forwarded request a new span id, samples every new trace
/// and sends W3C headers.
#[derive(Debug)]
pub struct Config {
    /// Whether this filter instance gives the request it forwards a new span id (W3C
    /// `parent-id`, B3 `SpanId`). Default `true`.
    pub new_span_id: bool,
    /// The header formats sent on, at least one. Default `["w3c"]`.
    pub inject: Vec<Format>,
    /// How sampling decisions are made.
    pub sampling: SamplingConfig,
    /// What to do with an incoming trace context. Default `continue`.
    pub trust_boundary: TrustBoundary,
    /// With `trust_boundary: restart`, the `tracestate` key under which the incoming
    /// context is kept (as a version `00` `traceparent` value); absent, it is dropped.
    pub restart_tracestate_key: Option<String>,
    /// A response header that receives the trace id (32 hex digits); absent, none is set.
    pub response_trace_id_header: Option<String>,
    /// Whether the W3C `baggage` header is forwarded (within its limits) or removed.
    /// Default `true`.
    pub baggage: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            new_span_id: true,
            inject: default_inject(),
            sampling: SamplingConfig::default(),
            trust_boundary: TrustBoundary::default(),
            restart_tracestate_key: None,
            response_trace_id_header: None,
            baggage: true,
        }
    }
}

/// A trace-context header format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// W3C `traceparent` and `tracestate`.
    W3c,
    /// The single B3 header `b3`.
    B3,
    /// The multiple B3 headers `x-b3-*`.
    B3multi,
}

/// `sampling` in the configuration.
#[derive(Debug)]
pub struct SamplingConfig {
    /// The probability (0.0 to 1.0, at most 9 decimal places, read exactly) that a trace
    /// this filter decides on is sampled. Default `1.0`.
    pub probability: Probability,
    /// Whether an incoming sampling decision is kept. `false` (for an edge) decides every
    /// request again with `probability`. Default `true`.
    pub trust_incoming: bool,
    /// Whether `trust_incoming` is written in the configuration rather than defaulted: a
    /// `routes` entry's `sampling` may trust incoming decisions the listener distrusts
    /// only by saying so.
    pub trust_incoming_written: bool,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            probability: Probability::ONE,
            trust_incoming: true,
            trust_incoming_written: false,
        }
    }
}

/// What to do with the trace context a request arrives with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustBoundary {
    /// Continue the incoming trace (inside the mesh).
    #[default]
    Continue,
    /// Start a new trace for every request (at the edge, for outside traffic).
    Restart,
}

impl Config {
    /// Reads the configuration from its JSON document.
    pub fn read(value: &Value) -> Result<Self, ConfigError> {
        let fields = Node::root(value).object(&[
            "new_span_id",
            "inject",
            "sampling",
            "trust_boundary",
            "restart_tracestate_key",
            "response_trace_id_header",
            "baggage",
        ])?;
        Ok(Self {
            new_span_id: fields.read_given_or("new_span_id", true, Node::bool)?,
            inject: fields.read_given_or("inject", default_inject(), |n| n.list(Format::read))?,
            sampling: fields.read_given_or(
                "sampling",
                SamplingConfig::default(),
                SamplingConfig::read,
            )?,
            trust_boundary: fields.read_given_or(
                "trust_boundary",
                TrustBoundary::default(),
                TrustBoundary::read,
            )?,
            restart_tracestate_key: fields.read_opt("restart_tracestate_key", Node::string)?,
            response_trace_id_header: fields.read_opt("response_trace_id_header", Node::string)?,
            baggage: fields.read_given_or("baggage", true, Node::bool)?,
        })
    }
}

impl Format {
    /// Reads a format from its name.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        node.pick(
            &["w3c", "b3", "b3multi"],
            &[Format::W3c, Format::B3, Format::B3multi],
        )
    }
}

impl SamplingConfig {
    /// Reads `sampling` from its JSON object.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&["probability", "trust_incoming"])?;
        Ok(Self {
            probability: fields.read_given_or("probability", one(), Node::probability)?,
            trust_incoming: fields.read_given_or("trust_incoming", true, Node::bool)?,
            trust_incoming_written: fields.member("trust_incoming").is_some(),
        })
    }
}

impl TrustBoundary {
    /// Reads a trust boundary from its name.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        node.pick(
            &["continue", "restart"],
            &[TrustBoundary::Continue, TrustBoundary::Restart],
        )
    }
}

/// The compiled configuration.
#[derive(Debug)]
pub struct Settings {
    /// See [`Config::new_span_id`].
    pub new_span_id: bool,
    /// See [`Config::inject`]; no duplicates.
    pub inject: Vec<Format>,
    /// The sampling rule.
    pub sampler: Sampler,
    /// See [`SamplingConfig::trust_incoming_written`].
    pub trust_incoming_written: bool,
    /// What happens to an incoming context.
    pub boundary: Boundary,
    /// See [`Config::response_trace_id_header`].
    pub response_trace_id_header: Option<String>,
    /// See [`Config::baggage`].
    pub baggage: bool,
}

/// The compiled trust boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boundary {
    /// Continue incoming traces.
    Continue,
    /// Restart every trace, keeping the incoming context under this `tracestate` key when
    /// there is one.
    Restart {
        /// The key, already validated.
        link_key: Option<String>,
    },
}

fn one() -> Probability {
    Probability::ONE
}

fn default_inject() -> Vec<Format> {
    vec![Format::W3c]
}

impl Settings {
    /// Validates `config`; errors name the JSON path of the field.
    pub fn compile(config: Config) -> Result<Self, ConfigError> {
        if config.inject.is_empty() {
            return Err(ConfigError::at(
                "inject",
                "list at least one of `w3c`, `b3`, `b3multi`",
            ));
        }
        for (index, format) in config.inject.iter().enumerate() {
            if config
                .inject
                .get(..index)
                .unwrap_or_default()
                .contains(format)
            {
                return Err(ConfigError::at(
                    format!("inject[{index}]"),
                    "format listed twice",
                ));
            }
        }
        let sampler = Sampler::new(config.sampling.probability, config.sampling.trust_incoming);
        let boundary = match (config.trust_boundary, config.restart_tracestate_key) {
            (TrustBoundary::Continue, None) => Boundary::Continue,
            (TrustBoundary::Continue, Some(_)) => {
                return Err(ConfigError::at(
                    "restart_tracestate_key",
                    "only used with `\"trust_boundary\": \"restart\"`",
                ))
            }
            (TrustBoundary::Restart, None) => Boundary::Restart { link_key: None },
            (TrustBoundary::Restart, Some(key)) => {
                if TraceState::new().put_front(&key, "x").is_err() {
                    return Err(ConfigError::at(
                        "restart_tracestate_key",
                        "not a valid tracestate key (a lowercase letter or a digit, then up \
                         to 255 of `a-z0-9_-*/@`)",
                    ));
                }
                Boundary::Restart {
                    link_key: Some(key),
                }
            }
        };
        if let Some(name) = &config.response_trace_id_header {
            if !is_header_name(name) {
                return Err(ConfigError::at(
                    "response_trace_id_header",
                    "must be a lowercase header name (letters, digits, `-`, `_`, ...)",
                ));
            }
        }
        Ok(Self {
            new_span_id: config.new_span_id,
            inject: config.inject,
            sampler,
            trust_incoming_written: config.sampling.trust_incoming_written,
            boundary,
            response_trace_id_header: config.response_trace_id_header,
            baggage: config.baggage,
        })
    }

    /// Checks a `routes` entry's settings against the listener's (`self`): a route whose
    /// `sampling` leaves out `trust_incoming` would trust incoming decisions by default
    /// (a `sampling` object replaces the listener's whole), so where the listener
    /// distrusts them the entry must write `trust_incoming` itself. Everything else a
    /// route may change as written, `trust_boundary` included.
    pub fn check_route(&self, route: &Settings) -> Result<(), ConfigError> {
        let trusts_by_default = route.sampler.trusts_incoming() && !route.trust_incoming_written;
        if !self.sampler.trusts_incoming() && trusts_by_default {
            return Err(ConfigError::at(
                "sampling",
                "the listener does not trust incoming sampling decisions and this `sampling` \
                 replaces its whole: write `\"trust_incoming\": false` here too, or `true` to \
                 trust them on this route",
            ));
        }
        Ok(())
    }
}

/// A non-empty RFC 9110 token without uppercase letters (Envoy keeps names lowercase).
fn is_header_name(name: &str) -> bool {
    let tchar =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(tchar)
}

/// Parses, reads and compiles a configuration, for the crate's tests.
#[cfg(test)]
pub(crate) fn compile(json: &str) -> Result<Settings, ConfigError> {
    let value = wasmesh_sdk::config::json::parse(json.as_bytes())
        .map_err(|e| ConfigError::at("", e.to_string()))?;
    Settings::compile(Config::read(&value)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn error(json: &str) -> String {
        compile(json).unwrap_err().to_string()
    }

    fn probability(billionths: u32) -> Probability {
        Probability::from_billionths(billionths).unwrap()
    }

    #[test]
    fn empty_config_has_the_documented_defaults() {
        let settings = compile("{}").unwrap();
        assert!(settings.new_span_id);
        assert_eq!(settings.inject, [Format::W3c]);
        assert_eq!(settings.sampler, Sampler::new(Probability::ONE, true));
        assert_eq!(settings.boundary, Boundary::Continue);
        assert_eq!(settings.response_trace_id_header, None);
        assert!(settings.baggage);
        let default = Settings::compile(Config::default()).unwrap();
        assert_eq!(default.inject, settings.inject);
        assert_eq!(default.sampler, settings.sampler);
    }

    #[test]
    fn a_full_config_compiles() {
        let settings = compile(
            r#"{"new_span_id": false, "inject": ["b3multi", "w3c", "b3"],
                "sampling": {"probability": 0.25, "trust_incoming": false},
                "trust_boundary": "restart", "restart_tracestate_key": "edge@wasmesh",
                "response_trace_id_header": "x-trace-id", "baggage": false}"#,
        )
        .unwrap();
        assert!(!settings.new_span_id);
        assert_eq!(settings.inject, [Format::B3multi, Format::W3c, Format::B3]);
        assert_eq!(
            settings.sampler,
            Sampler::new(probability(250_000_000), false)
        );
        assert_eq!(
            settings.boundary,
            Boundary::Restart {
                link_key: Some("edge@wasmesh".to_owned())
            }
        );
        assert_eq!(
            settings.response_trace_id_header.as_deref(),
            Some("x-trace-id")
        );
        assert!(!settings.baggage);
    }

    #[test]
    fn integer_probabilities_are_accepted() {
        assert_eq!(
            compile(r#"{"sampling": {"probability": 0}}"#)
                .unwrap()
                .sampler,
            Sampler::new(Probability::ZERO, true)
        );
        assert_eq!(
            compile(r#"{"sampling": {"probability": 1}}"#)
                .unwrap()
                .sampler,
            Sampler::new(Probability::ONE, true)
        );
    }

    #[test]
    fn probabilities_are_read_exactly() {
        let sampler = |json: &str| compile(json).unwrap().sampler;
        for (json, billionths) in [
            (r#"{"sampling": {"probability": 0.1}}"#, 100_000_000),
            (r#"{"sampling": {"probability": 1e-1}}"#, 100_000_000),
            (
                r#"{"sampling": {"probability": 0.100000000000}}"#,
                100_000_000,
            ),
            (r#"{"sampling": {"probability": 0.000000001}}"#, 1),
            (r#"{"sampling": {"probability": 0.999999999}}"#, 999_999_999),
            (r#"{"sampling": {"probability": -0}}"#, 0),
            (r#"{"sampling": {"probability": 1.0}}"#, 1_000_000_000),
        ] {
            assert_eq!(
                sampler(json),
                Sampler::new(probability(billionths), true),
                "{json}"
            );
        }
        assert_eq!(
            error(r#"{"sampling": {"probability": 0.1234567891}}"#),
            "config.sampling.probability: expected a number with at most 9 decimal places, \
             found 0.1234567891"
        );
        assert_eq!(
            error(r#"{"sampling": {"probability": 0.30000000000000004}}"#),
            "config.sampling.probability: expected a number with at most 9 decimal places, \
             found 0.30000000000000004"
        );
        assert_eq!(
            error(r#"{"sampling": {"probability": 1.0000000001}}"#),
            "config.sampling.probability: must be between 0.0 and 1.0"
        );
        assert_eq!(
            error(r#"{"sampling": {"probability": 1e400}}"#),
            "config: invalid JSON at line 1, column 30: number out of range"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error(r#"{"sampling": {"probability": 1.5}}"#),
            "config.sampling.probability: must be between 0.0 and 1.0"
        );
        assert_eq!(
            error(r#"{"sampling": {"probability": -0.1}}"#),
            "config.sampling.probability: must be between 0.0 and 1.0"
        );
        assert_eq!(
            error(r#"{"inject": []}"#),
            "config.inject: list at least one of `w3c`, `b3`, `b3multi`"
        );
        assert_eq!(
            error(r#"{"inject": ["w3c", "b3", "w3c"]}"#),
            "config.inject[2]: format listed twice"
        );
        assert!(error(r#"{"inject": ["zipkin"]}"#).starts_with("config.inject[0]: unknown value"));
        assert!(error(r#"{"trust_boundary": "maybe"}"#).starts_with("config.trust_boundary:"));
        assert!(error(r#"{"restart_tracestate_key": "edge"}"#)
            .starts_with("config.restart_tracestate_key: only used with"));
        assert!(
            error(r#"{"trust_boundary": "restart", "restart_tracestate_key": "Edge"}"#)
                .starts_with("config.restart_tracestate_key: not a valid tracestate key")
        );
        assert!(error(r#"{"response_trace_id_header": "X-Trace-Id"}"#)
            .starts_with("config.response_trace_id_header: must be"));
        assert!(error(r#"{"response_trace_id_header": ""}"#)
            .starts_with("config.response_trace_id_header: must be"));
        assert!(error(r#"{"response_trace_id_header": ":status"}"#)
            .starts_with("config.response_trace_id_header: must be"));
        assert!(error(r#"{"sampling": {"rate": 1}}"#)
            .starts_with("config.sampling.rate: unknown field"));
        assert!(error(r#"{"new_span": true}"#).starts_with("config.new_span: unknown field"));
    }
}
