//! The JSON configuration and its validation.
//!
//! See the filter's README for every field with its type, default and an example.
//! [`Config::read`] reads the parsed JSON by hand with the SDK's
//! [`wasmesh_sdk::config::reader`] (a derived `Deserialize` would cost a copy of the
//! deserializer per type in the wasm module).

use crate::workload::Workload;
use std::collections::BTreeMap;
use wasmesh_identity::{Cidr, SpiffeMapping, SpiffeMappingConfig};
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::config::Value;
use wasmesh_sdk::ConfigError;

/// The label value for anything the filter cannot establish.
pub const UNKNOWN: &str = "unknown";

/// The canonical revision of a workload no label names, as Istio reports it.
pub const LATEST: &str = "latest";

/// Longest service name, host or header value accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Largest accepted `max_label_sets`.
pub const MAX_LABEL_SETS: u32 = 100_000;

/// Which side of the exchange this sidecar is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// In front of the service: requests come from callers (`reporter="destination"`).
    Inbound,
    /// Beside a caller: requests go out to other services (`reporter="source"`).
    Outbound,
}

/// Metric and label names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Naming {
    /// `wasmesh_service_requests_total{source_service=..., destination_service=...}`.
    #[default]
    Native,
    /// Istio's standard metrics: `istio_requests_total{source_workload=..., ...}`.
    Istio,
}

/// Where an outbound sidecar takes the destination from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DestinationFrom {
    /// The upstream cluster Envoy routed the request to.
    #[default]
    Cluster,
    /// The request's `:authority` (host without port).
    Authority,
}

/// How the trusted source header names the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HeaderFormat {
    /// The value is the caller's service name.
    #[default]
    Service,
    /// The value is the caller's SPIFFE ID, named through `spiffe`.
    SpiffeId,
    /// The value is `x-forwarded-client-cert`; the URI SAN of its last element is the
    /// caller's SPIFFE ID, named through `spiffe`.
    Xfcc,
}

/// A request header naming the caller, believed only from trusted peer addresses.
#[derive(Debug, Clone)]
pub struct TrustedHeaderConfig {
    /// The header name (lowercase), e.g. `x-wasmesh-source-service`.
    pub name: String,
    /// What the value is.
    pub format: HeaderFormat,
    /// Peer addresses (the connection's source address) the header is believed from.
    pub from_cidrs: Vec<String>,
}

/// The JSON configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `inbound` or `outbound`.
    pub direction: Direction,
    /// `native` (default) or `istio`.
    pub naming: Naming,
    /// This sidecar's service: the destination when inbound, the source when outbound.
    pub service: Option<String>,
    /// Istio naming, inbound: the `destination_service` host (default: `service`).
    pub service_host: Option<String>,
    /// Istio naming: this sidecar's namespace.
    pub namespace: Option<String>,
    /// Trust domains and SPIFFE ID → service name mapping for peer certificates.
    pub spiffe: SpiffeMappingConfig,
    /// Inbound only: a header naming the caller, from trusted addresses only.
    pub trusted_source_header: Option<TrustedHeaderConfig>,
    /// Outbound only: `cluster` (default) or `authority`.
    pub destination_from: DestinationFrom,
    /// Outbound only: cluster names or hosts → destination service names.
    pub destinations: BTreeMap<String, String>,
    /// Cap on distinct label sets per metric; later sets are counted under `other`.
    pub max_label_sets: u32,
}

fn default_max_label_sets() -> u32 {
    1000
}

impl Config {
    /// Reads the configuration from its JSON document: unknown fields are refused, errors
    /// name the JSON path of the field.
    pub fn read(value: &Value) -> Result<Self, ConfigError> {
        let fields = Node::root(value).object(&[
            "direction",
            "naming",
            "service",
            "service_host",
            "namespace",
            "spiffe",
            "trusted_source_header",
            "destination_from",
            "destinations",
            "max_label_sets",
        ])?;
        Ok(Self {
            direction: fields.present("direction")?.pick(
                &["inbound", "outbound"],
                &[Direction::Inbound, Direction::Outbound],
            )?,
            naming: fields.read_given_or("naming", Naming::default(), |n| {
                n.pick(&["native", "istio"], &[Naming::Native, Naming::Istio])
            })?,
            service: fields.read_opt("service", Node::string)?,
            service_host: fields.read_opt("service_host", Node::string)?,
            namespace: fields.read_opt("namespace", Node::string)?,
            spiffe: fields.read_given_or(
                "spiffe",
                SpiffeMappingConfig::default(),
                SpiffeMappingConfig::read,
            )?,
            trusted_source_header: fields
                .read_opt("trusted_source_header", TrustedHeaderConfig::read)?,
            destination_from: fields.read_given_or(
                "destination_from",
                DestinationFrom::default(),
                |n| {
                    n.pick(
                        &["cluster", "authority"],
                        &[DestinationFrom::Cluster, DestinationFrom::Authority],
                    )
                },
            )?,
            destinations: fields.read_given_or("destinations", BTreeMap::new(), |n| {
                Ok(n.string_map()?.into_iter().collect())
            })?,
            max_label_sets: fields.read_given_or(
                "max_label_sets",
                default_max_label_sets(),
                |n| {
                    n.uint(u64::from(u32::MAX), "u32")
                        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
                },
            )?,
        })
    }
}

impl TrustedHeaderConfig {
    /// Reads `trusted_source_header` from its JSON object.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&["name", "format", "from_cidrs"])?;
        Ok(Self {
            name: fields.present("name")?.string()?,
            format: fields.read_given_or("format", HeaderFormat::default(), |n| {
                n.pick(
                    &["service", "spiffe_id", "xfcc"],
                    &[
                        HeaderFormat::Service,
                        HeaderFormat::SpiffeId,
                        HeaderFormat::Xfcc,
                    ],
                )
            })?,
            from_cidrs: fields.present("from_cidrs")?.strings()?,
        })
    }
}

/// A compiled trusted header.
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    /// Header name.
    pub name: String,
    /// What the value is.
    pub format: HeaderFormat,
    /// Trusted peer address blocks.
    pub from: Vec<Cidr>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which side this sidecar is on.
    pub direction: Direction,
    /// Metric and label names.
    pub naming: Naming,
    /// This sidecar's service name: `service`, else Istio's canonical service from the node
    /// metadata (see [`Settings::adopt`]), else `unknown`.
    pub service: String,
    /// Istio `destination_service` for inbound requests (default: the service).
    pub service_host: String,
    /// This sidecar's namespace: `namespace`, else the node metadata's, else `unknown`.
    pub namespace: String,
    /// This sidecar's Istio labels that no configuration field sets.
    pub local: LocalLabels,
    /// SPIFFE ID → service name.
    pub mapping: SpiffeMapping,
    /// The trusted source header, inbound only.
    pub trusted_header: Option<TrustedHeader>,
    /// Where outbound destinations come from.
    pub destination_from: DestinationFrom,
    /// Outbound destination names.
    pub destinations: BTreeMap<String, String>,
    /// Label sets per metric.
    pub max_label_sets: usize,
}

/// This sidecar's own Istio labels that no configuration field sets, from Istio's node
/// metadata (set by [`Settings::adopt`], once, when configured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalLabels {
    /// `*_workload`: `service` when configured, else `WORKLOAD_NAME`, else the service.
    pub workload: String,
    /// `*_app`: the label `app`, else `unknown`.
    pub app: String,
    /// `*_version`: the label `version`, else `unknown`.
    pub version: String,
    /// `*_canonical_revision`: Istio's canonical revision, else `latest`.
    pub revision: String,
    /// `*_cluster`: `CLUSTER_ID`, else `unknown`.
    pub cluster: String,
}

/// Where a name in the log line of [`Settings::adopt`] came from: the configuration.
const CONFIGURED: &str = " (configuration)";

/// Sets `field` to `value` when the configuration left it `unknown`; where it came from,
/// as [`Settings::adopt`] logs it.
fn adopt(field: &mut String, value: Option<String>) -> &'static str {
    if field != UNKNOWN {
        return CONFIGURED;
    }
    match value {
        Some(value) => {
            *field = value;
            " (Istio node metadata)"
        }
        None => " (default)",
    }
}

/// Sets `field` to `value`, else to `default`.
#[inline(never)]
fn set(field: &mut String, value: Option<String>, default: &str) {
    *field = value.unwrap_or_else(|| default.into());
}

/// Whether `value` is usable as a label value as it is: 1 to [`MAX_NAME_LEN`] bytes of
/// ASCII letters, digits and `._~/:@+-` (nothing the stat name encoding would escape).
pub fn is_plain_name(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._~/:@+-".contains(b))
}

fn name_field(path: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    match value {
        None => Ok(default.to_owned()),
        Some(value) if is_plain_name(value.as_bytes()) => Ok(value),
        Some(value) => Err(ConfigError::at(
            path,
            format!(
                "`{value}` is not a usable name: 1 to {MAX_NAME_LEN} bytes of letters, digits and `._~/:@+-`"
            ),
        )),
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

fn trusted_header(config: TrustedHeaderConfig) -> Result<TrustedHeader, ConfigError> {
    if !is_header_name(&config.name) {
        return Err(ConfigError::at(
            "trusted_source_header.name",
            format!(
                "`{}` is not a lowercase header name (a-z, 0-9, `-`, `_`, `.`)",
                config.name
            ),
        ));
    }
    if config.from_cidrs.is_empty() {
        return Err(ConfigError::at(
            "trusted_source_header.from_cidrs",
            "list the peer addresses the header is trusted from; an empty list would trust nobody",
        ));
    }
    let from = config
        .from_cidrs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            Cidr::parse(text).map_err(|e| {
                ConfigError::at(
                    format!("trusted_source_header.from_cidrs[{index}]"),
                    e.to_string(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TrustedHeader {
        name: config.name,
        format: config.format,
        from,
    })
}

impl Settings {
    /// Validates `config`; errors name the JSON path of the field. What the configuration
    /// leaves out of this sidecar's own names and labels is `unknown` until
    /// [`Settings::adopt`] fills it in.
    pub fn compile(config: Config) -> Result<Self, ConfigError> {
        let outbound_host =
            config.direction == Direction::Outbound && config.service_host.is_some();
        let service = name_field("service", config.service, UNKNOWN)?;
        let service_host = name_field("service_host", config.service_host, &service)?;
        let namespace = name_field("namespace", config.namespace, UNKNOWN)?;
        let mapping = SpiffeMapping::compile(config.spiffe).map_err(|e| e.nested_in("spiffe"))?;
        let inbound = config.direction == Direction::Inbound;
        if inbound && !config.destinations.is_empty() {
            return Err(ConfigError::at(
                "destinations",
                "only for `direction: outbound`; an inbound sidecar's destination is `service`",
            ));
        }
        if inbound && config.destination_from != DestinationFrom::Cluster {
            return Err(ConfigError::at(
                "destination_from",
                "only for `direction: outbound`; an inbound sidecar's destination is `service`",
            ));
        }
        if !inbound && config.trusted_source_header.is_some() {
            return Err(ConfigError::at(
                "trusted_source_header",
                "only for `direction: inbound`; an outbound sidecar's source is `service`",
            ));
        }
        if outbound_host {
            return Err(ConfigError::at(
                "service_host",
                "only for `direction: inbound`; outbound destinations come from `destination_from`",
            ));
        }
        for (key, name) in &config.destinations {
            name_field(&format!("destinations.{key}"), Some(name.clone()), UNKNOWN)?;
        }
        if config.max_label_sets == 0 || config.max_label_sets > MAX_LABEL_SETS {
            return Err(ConfigError::at(
                "max_label_sets",
                format!(
                    "must be 1 to {MAX_LABEL_SETS}, found {}",
                    config.max_label_sets
                ),
            ));
        }
        let trusted_header = config
            .trusted_source_header
            .map(trusted_header)
            .transpose()?;
        Ok(Self {
            direction: config.direction,
            naming: config.naming,
            service,
            service_host,
            namespace,
            local: LocalLabels::default(),
            mapping,
            trusted_header,
            destination_from: config.destination_from,
            destinations: config.destinations,
            max_label_sets: usize::try_from(config.max_label_sets).unwrap_or(usize::MAX),
        })
    }

    /// Checks a `routes` entry's settings against the listener's (`self`). An outbound
    /// sidecar's `service` and `namespace` name its own workload, the caller of every
    /// request whatever the route: an entry may name the destination (`destinations`,
    /// `destination_from`), not change who calls. Inbound, where they name the
    /// destination, an entry may change them.
    pub fn check_route(&self, route: &Settings) -> Result<(), ConfigError> {
        if self.direction == Direction::Inbound {
            return Ok(());
        }
        for (field, listener, entry) in [
            ("service", &self.service, &route.service),
            ("namespace", &self.namespace, &route.namespace),
        ] {
            if listener != entry {
                return Err(ConfigError::at(
                    field,
                    format!(
                        "an outbound sidecar's `{field}` names the caller, the same on every \
                         route (`{listener}`, not `{entry}`); name a route's destination with \
                         `destinations` or `destination_from`"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Fills in from Istio's node metadata what the configuration left `unknown`: the
    /// service (Istio's canonical service; `service_host` follows it when not configured
    /// either), the namespace, and the labels no configuration field sets. Returns the line
    /// to log, naming where the service and namespace came from.
    pub fn adopt(&mut self, node: Workload) -> String {
        let sources = [
            adopt(&mut self.service, node.service),
            adopt(&mut self.namespace, node.namespace),
        ];
        if self.service_host == UNKNOWN {
            self.service_host = self.service.clone();
        }
        // A configured service names the workload too.
        let name = node.name.filter(|_| sources[0] != CONFIGURED);
        let local = &mut self.local;
        set(&mut local.workload, name, &self.service);
        set(&mut local.app, node.app, UNKNOWN);
        set(&mut local.version, node.version, UNKNOWN);
        set(&mut local.revision, node.revision, LATEST);
        set(&mut local.cluster, node.cluster, UNKNOWN);
        [
            "service-metrics: service=",
            &self.service,
            sources[0],
            " namespace=",
            &self.namespace,
            sources[1],
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn compile(json: &str) -> Result<Settings, ConfigError> {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes())
            .map_err(|e| ConfigError::at("", e.to_string()))?;
        Settings::compile(Config::read(&value)?)
    }

    #[test]
    fn defaults() {
        let s = compile(r#"{"direction": "inbound"}"#).unwrap();
        assert_eq!(s.naming, Naming::Native);
        assert_eq!(s.service, "unknown");
        assert_eq!(s.service_host, "unknown");
        assert_eq!(s.namespace, "unknown");
        assert!(s.trusted_header.is_none());
        assert_eq!(s.max_label_sets, 1000);
        let s = compile(r#"{"direction": "inbound", "service": "reviews"}"#).unwrap();
        assert_eq!(s.service_host, "reviews");
    }

    #[test]
    fn errors_are_worded_as_the_sdk_words_them() {
        for (json, message) in [
            ("{}", "config: missing field `direction`"),
            (
                r#"{"direction": "inbound", "colour": 1}"#,
                "config.colour: unknown field `colour`, expected one of `direction`, `naming`, \
                 `service`, `service_host`, `namespace`, `spiffe`, `trusted_source_header`, \
                 `destination_from`, `destinations`, `max_label_sets`",
            ),
            (
                r#"{"direction": "sideways"}"#,
                "config.direction: unknown value `sideways`, expected `inbound` or `outbound`",
            ),
            (
                r#"{"direction": "inbound", "max_label_sets": -1}"#,
                "config.max_label_sets: expected u32, found -1",
            ),
            (
                r#"{"direction": "inbound", "destinations": {"a": 1}}"#,
                "config.destinations.a: expected a string, found 1",
            ),
            (
                r#"{"direction": "inbound", "spiffe": {"service_name": null}}"#,
                "config.spiffe.service_name: expected a string, found null",
            ),
            (
                r#"{"direction": "inbound", "trusted_source_header": {"name": "x"}}"#,
                "config.trusted_source_header: missing field `from_cidrs`",
            ),
        ] {
            assert_eq!(compile(json).unwrap_err().to_string(), message, "{json}");
        }
    }

    #[test]
    fn direction_is_required() {
        let err = compile("{}").unwrap_err();
        assert!(err.reason().contains("direction"), "{err}");
    }

    #[test]
    fn bad_fields_are_named() {
        for (json, path) in [
            (r#"{"direction": "sideways"}"#, "direction"),
            (r#"{"direction": "inbound", "naming": "statsd"}"#, "naming"),
            (r#"{"direction": "inbound", "service": "a b"}"#, "service"),
            (r#"{"direction": "inbound", "service": ""}"#, "service"),
            (
                r#"{"direction": "inbound", "namespace": "a;b"}"#,
                "namespace",
            ),
            (
                r#"{"direction": "inbound", "max_label_sets": 0}"#,
                "max_label_sets",
            ),
            (
                r#"{"direction": "inbound", "max_label_sets": 100001}"#,
                "max_label_sets",
            ),
            (
                r#"{"direction": "inbound", "spiffe": {"trust_domains": ["Bad"]}}"#,
                "spiffe.trust_domains[0]",
            ),
            (
                r#"{"direction": "inbound", "destinations": {"c": "d"}}"#,
                "destinations",
            ),
            (
                r#"{"direction": "inbound", "destination_from": "authority"}"#,
                "destination_from",
            ),
            (
                r#"{"direction": "outbound", "service_host": "x"}"#,
                "service_host",
            ),
            (
                r#"{"direction": "outbound", "destinations": {"c": "a b"}}"#,
                "destinations.c",
            ),
            (
                r#"{"direction": "outbound", "trusted_source_header": {"name": "x", "from_cidrs": ["127.0.0.1"]}}"#,
                "trusted_source_header",
            ),
            (
                r#"{"direction": "inbound", "trusted_source_header": {"name": "X-Caller", "from_cidrs": ["127.0.0.1"]}}"#,
                "trusted_source_header.name",
            ),
            (
                r#"{"direction": "inbound", "trusted_source_header": {"name": "x", "from_cidrs": []}}"#,
                "trusted_source_header.from_cidrs",
            ),
            (
                r#"{"direction": "inbound", "trusted_source_header": {"name": "x", "from_cidrs": ["10.0.0.1/8"]}}"#,
                "trusted_source_header.from_cidrs[0]",
            ),
            (
                r#"{"direction": "inbound", "trusted_source_header": {"name": "x", "format": "jwt", "from_cidrs": ["10.0.0.0/8"]}}"#,
                "trusted_source_header.format",
            ),
            (r#"{"direction": "inbound", "colour": "blue"}"#, "colour"),
        ] {
            let err = compile(json).unwrap_err();
            assert_eq!(err.path(), path, "{json}: {err}");
        }
    }

    #[test]
    fn full_outbound_config() {
        let s = compile(
            r#"{"direction": "outbound", "naming": "istio", "service": "frontend",
                "namespace": "shop", "destination_from": "authority",
                "destinations": {"outbound|80||reviews.shop.svc.cluster.local": "reviews"},
                "spiffe": {"trust_domains": ["example.org"]}, "max_label_sets": 50}"#,
        )
        .unwrap();
        assert_eq!(s.direction, Direction::Outbound);
        assert_eq!(s.naming, Naming::Istio);
        assert_eq!(s.destination_from, DestinationFrom::Authority);
        assert_eq!(s.max_label_sets, 50);
        assert_eq!(s.destinations.len(), 1);
    }

    #[test]
    fn node_metadata_fills_what_the_configuration_leaves_out() {
        let node = || Workload {
            name: Some("reviews-v2".into()),
            namespace: Some("shop".into()),
            service: Some("reviews".into()),
            revision: Some("v2".into()),
            app: Some("reviews-app".into()),
            version: Some("2.0".into()),
            cluster: Some("east".into()),
        };
        let mut s = compile(r#"{"direction": "inbound"}"#).unwrap();
        let line = s.adopt(node());
        assert_eq!(
            (
                s.service.as_str(),
                s.service_host.as_str(),
                s.namespace.as_str()
            ),
            ("reviews", "reviews", "shop")
        );
        assert_eq!(
            s.local,
            LocalLabels {
                workload: "reviews-v2".into(),
                app: "reviews-app".into(),
                version: "2.0".into(),
                revision: "v2".into(),
                cluster: "east".into(),
            }
        );
        assert!(
            line.contains("service=reviews (Istio node metadata)"),
            "{line}"
        );

        let mut s =
            compile(r#"{"direction": "inbound", "service": "ratings", "service_host": "r.x"}"#)
                .unwrap();
        let line = s.adopt(node());
        assert_eq!(
            (
                s.service.as_str(),
                s.service_host.as_str(),
                s.namespace.as_str()
            ),
            ("ratings", "r.x", "shop")
        );
        assert_eq!(s.local.workload, "ratings");
        assert_eq!(
            line,
            "service-metrics: service=ratings (configuration) namespace=shop (Istio node metadata)"
        );

        let mut s = compile(r#"{"direction": "inbound", "namespace": "web"}"#).unwrap();
        let line = s.adopt(Workload::default());
        assert_eq!(
            (
                s.service.as_str(),
                s.service_host.as_str(),
                s.namespace.as_str()
            ),
            ("unknown", "unknown", "web")
        );
        assert_eq!(
            s.local,
            LocalLabels {
                workload: "unknown".into(),
                app: "unknown".into(),
                version: "unknown".into(),
                revision: "latest".into(),
                cluster: "unknown".into(),
            }
        );
        assert_eq!(
            line,
            "service-metrics: service=unknown (default) namespace=web (configuration)"
        );
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name(b"reviews.shop.svc.cluster.local"));
        assert!(is_plain_name(b"spiffe://td/ns/a/sa/b"));
        assert!(!is_plain_name(b""));
        assert!(!is_plain_name(b"a,b"));
        assert!(!is_plain_name("é".as_bytes()));
        assert!(!is_plain_name("x".repeat(MAX_NAME_LEN + 1).as_bytes()));
    }
}
