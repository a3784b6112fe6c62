//! From a verified SPIFFE ID to the service name used in policies and metrics.

use super::spiffe::{SpiffeError, SpiffeId};
use std::collections::BTreeMap;
use std::fmt;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::config::ConfigError;

/// How to name a caller whose SPIFFE ID is not listed in `services`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServiceNameRule {
    /// The last path segment: `spiffe://td/ns/shop/sa/cart` → `cart`.
    #[default]
    LastSegment,
    /// Istio's `/ns/<namespace>/sa/<account>` form → `<account>`; other paths are unmapped.
    IstioServiceAccount,
    /// The whole SPIFFE ID is the name.
    SpiffeId,
    /// Only IDs listed in `services` have a name.
    ListedOnly,
}

/// Configuration of the SPIFFE mapping (shared by access-control and service-metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpiffeMappingConfig {
    /// Trust domains whose IDs are accepted, e.g. `["example.org"]`. Empty accepts none.
    pub trust_domains: Vec<String>,
    /// Explicit names, checked first: `{"spiffe://example.org/legacy/billing-v2": "billing"}`.
    pub services: BTreeMap<String, String>,
    /// How to name IDs not listed in `services`.
    pub service_name: ServiceNameRule,
}

impl ServiceNameRule {
    /// Every rule, in the order of [`ServiceNameRule::NAMES`].
    pub const ALL: [ServiceNameRule; 4] = [
        ServiceNameRule::LastSegment,
        ServiceNameRule::IstioServiceAccount,
        ServiceNameRule::SpiffeId,
        ServiceNameRule::ListedOnly,
    ];
    /// The rules' names in the configuration.
    pub const NAMES: [&'static str; 4] = [
        "last_segment",
        "istio_service_account",
        "spiffe_id",
        "listed_only",
    ];

    /// Reads a rule from its name (one of [`ServiceNameRule::NAMES`]).
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        node.pick(&Self::NAMES, &Self::ALL)
    }
}

impl SpiffeMappingConfig {
    /// Reads the configuration from its JSON object: every field is optional (absent: its
    /// default), unknown fields are refused. Error paths are those of the document `node`
    /// belongs to.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&["trust_domains", "services", "service_name"])?;
        Ok(Self {
            trust_domains: fields.read_given_or("trust_domains", Vec::new(), Node::strings)?,
            services: fields.read_given_or("services", BTreeMap::new(), |services| {
                Ok(services.string_map()?.into_iter().collect())
            })?,
            service_name: fields.read_given_or(
                "service_name",
                ServiceNameRule::default(),
                ServiceNameRule::read,
            )?,
        })
    }
}

/// Why a peer has no service name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// The SAN is not a valid SPIFFE ID.
    NotSpiffe(SpiffeError),
    /// The ID's trust domain is not configured.
    UntrustedDomain,
    /// The ID is valid and trusted, but the rule gives it no name.
    Unmapped,
}

impl IdentityError {
    /// A stable snake_case name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotSpiffe(_) => "not_spiffe",
            Self::UntrustedDomain => "untrusted_domain",
            Self::Unmapped => "unmapped",
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSpiffe(e) => write!(f, "not a SPIFFE ID: {e}"),
            Self::UntrustedDomain => f.write_str("the trust domain is not trusted"),
            Self::Unmapped => f.write_str("no service name for this SPIFFE ID"),
        }
    }
}

/// The compiled mapping.
#[derive(Debug, Clone)]
pub struct SpiffeMapping {
    trust_domains: Vec<String>,
    services: BTreeMap<String, String>,
    rule: ServiceNameRule,
}

impl SpiffeMapping {
    /// Validates the configuration: trust domains and listed IDs must be valid SPIFFE, and
    /// listed IDs must belong to a configured trust domain. Error paths are relative to the
    /// mapping's own object.
    pub fn compile(config: SpiffeMappingConfig) -> Result<Self, ConfigError> {
        for (index, domain) in config.trust_domains.iter().enumerate() {
            let as_id = format!("spiffe://{domain}");
            if SpiffeId::parse(&as_id).map(|id| id.path().is_empty()) != Ok(true) {
                return Err(ConfigError::at(
                    format!("trust_domains[{index}]"),
                    format!("`{domain}` is not a valid trust domain (a-z, 0-9, `.`, `-`, `_`)"),
                ));
            }
        }
        for (id, name) in &config.services {
            let parsed = SpiffeId::parse(id)
                .map_err(|e| ConfigError::at("services", format!("`{id}`: {e}")))?;
            if !config
                .trust_domains
                .iter()
                .any(|d| d == parsed.trust_domain())
            {
                return Err(ConfigError::at(
                    "services",
                    format!("`{id}` is outside the configured trust_domains"),
                ));
            }
            if name.is_empty() {
                return Err(ConfigError::at(
                    "services",
                    format!("`{id}` maps to an empty name"),
                ));
            }
        }
        Ok(Self {
            trust_domains: config.trust_domains,
            services: config.services,
            rule: config.service_name,
        })
    }

    /// Validates `san` and returns the trusted SPIFFE ID.
    pub fn verify<'a>(&self, san: &'a str) -> Result<SpiffeId<'a>, IdentityError> {
        let id = SpiffeId::parse(san).map_err(IdentityError::NotSpiffe)?;
        if self.trust_domains.iter().any(|d| d == id.trust_domain()) {
            Ok(id)
        } else {
            Err(IdentityError::UntrustedDomain)
        }
    }

    /// The service name of a verified peer's SPIFFE ID.
    pub fn service_of<'a>(&'a self, san: &'a str) -> Result<&'a str, IdentityError> {
        let id = self.verify(san)?;
        if let Some(name) = self.services.get(id.as_str()) {
            return Ok(name);
        }
        let name = match self.rule {
            ServiceNameRule::LastSegment => id.segments().last(),
            ServiceNameRule::IstioServiceAccount => {
                let segments: Vec<&str> = id.segments().collect();
                match segments.as_slice() {
                    ["ns", _, "sa", account] => Some(*account),
                    _ => None,
                }
            }
            ServiceNameRule::SpiffeId => Some(id.as_str()),
            ServiceNameRule::ListedOnly => None,
        };
        name.ok_or(IdentityError::Unmapped)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn mapping(json: &str) -> Result<SpiffeMapping, ConfigError> {
        SpiffeMapping::compile(read(json)?)
    }

    #[test]
    fn names_come_from_the_list_then_the_rule() {
        let m = mapping(
            r#"{"trust_domains": ["example.org"],
                "services": {"spiffe://example.org/legacy/billing-v2": "billing"}}"#,
        )
        .unwrap();
        assert_eq!(
            m.service_of("spiffe://example.org/legacy/billing-v2"),
            Ok("billing")
        );
        assert_eq!(
            m.service_of("spiffe://example.org/ns/shop/sa/cart"),
            Ok("cart")
        );
        assert_eq!(
            m.service_of("spiffe://example.org"),
            Err(IdentityError::Unmapped)
        );
    }

    #[test]
    fn other_trust_domains_and_non_spiffe_sans_are_refused() {
        let m = mapping(r#"{"trust_domains": ["example.org"]}"#).unwrap();
        assert_eq!(
            m.service_of("spiffe://evil.org/ns/shop/sa/cart"),
            Err(IdentityError::UntrustedDomain)
        );
        assert_eq!(
            m.service_of("spiffe://example.org.evil.org/sa/cart"),
            Err(IdentityError::UntrustedDomain)
        );
        assert!(matches!(
            m.service_of("https://example.org/cart"),
            Err(IdentityError::NotSpiffe(_))
        ));
        let none = mapping("{}").unwrap();
        assert_eq!(
            none.service_of("spiffe://example.org/a"),
            Err(IdentityError::UntrustedDomain)
        );
    }

    #[test]
    fn rules() {
        let istio =
            mapping(r#"{"trust_domains": ["td"], "service_name": "istio_service_account"}"#)
                .unwrap();
        assert_eq!(istio.service_of("spiffe://td/ns/shop/sa/cart"), Ok("cart"));
        assert_eq!(
            istio.service_of("spiffe://td/cart"),
            Err(IdentityError::Unmapped)
        );
        let whole = mapping(r#"{"trust_domains": ["td"], "service_name": "spiffe_id"}"#).unwrap();
        assert_eq!(whole.service_of("spiffe://td/a/b"), Ok("spiffe://td/a/b"));
        let listed =
            mapping(r#"{"trust_domains": ["td"], "service_name": "listed_only"}"#).unwrap();
        assert_eq!(
            listed.service_of("spiffe://td/a"),
            Err(IdentityError::Unmapped)
        );
    }

    fn read(json: &str) -> Result<SpiffeMappingConfig, ConfigError> {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes())
            .map_err(|e| ConfigError::at("", e.to_string()))?;
        SpiffeMappingConfig::read(&Node::root(&value))
    }

    #[test]
    fn every_field_reads_and_absent_ones_are_defaults() {
        assert_eq!(read("{}"), Ok(SpiffeMappingConfig::default()));
        let config = read(
            r#"{"trust_domains": ["td", "example.org"], "service_name": "spiffe_id",
                "services": {"spiffe://td/a": "a", "spiffe://td/b": "b"}}"#,
        );
        let expected = SpiffeMappingConfig {
            trust_domains: vec!["td".to_owned(), "example.org".to_owned()],
            services: [("spiffe://td/a", "a"), ("spiffe://td/b", "b")]
                .into_iter()
                .map(|(id, name)| (id.to_owned(), name.to_owned()))
                .collect(),
            service_name: ServiceNameRule::SpiffeId,
        };
        assert_eq!(config, Ok(expected));
        for (name, rule) in ServiceNameRule::NAMES.iter().zip(ServiceNameRule::ALL) {
            let config = read(&format!(
                r#"{{"service_name": "{name}", "services": {{}}}}"#
            ));
            assert_eq!(config.map(|c| c.service_name), Ok(rule), "{name}");
        }
    }

    #[test]
    fn unknown_fields_wrong_types_and_unknown_rules_are_refused_at_their_path() {
        for (json, error) in [
            (
                r#"{"trust_domain": []}"#,
                "config.trust_domain: unknown field `trust_domain`, expected one of \
                 `trust_domains`, `services`, `service_name`",
            ),
            (
                r#"{"service_name": "guess"}"#,
                "config.service_name: unknown value `guess`, expected one of `last_segment`, \
                 `istio_service_account`, `spiffe_id`, `listed_only`",
            ),
            (
                r#"{"trust_domains": [1]}"#,
                "config.trust_domains[0]: expected a string, found 1",
            ),
            (
                r#"{"trust_domains": null}"#,
                "config.trust_domains: expected a sequence, found null",
            ),
            (
                r#"{"services": {"spiffe://td/a": 1}}"#,
                "config.services.spiffe://td/a: expected a string, found 1",
            ),
            (
                r#"{"trust_domains": [], "trust_domains": []}"#,
                "config.trust_domains: duplicate field `trust_domains`",
            ),
        ] {
            assert_eq!(read(json).unwrap_err().to_string(), error, "{json}");
        }
    }

    #[test]
    fn bad_configs_name_the_field() {
        let err = mapping(r#"{"trust_domains": ["ok.org", "Bad.org"]}"#).unwrap_err();
        assert_eq!(err.path(), "trust_domains[1]");
        let err = mapping(r#"{"trust_domains": ["td"], "services": {"spiffe://other/a": "a"}}"#)
            .unwrap_err();
        assert_eq!(err.path(), "services");
        let err = mapping(r#"{"service_name": "guess"}"#).unwrap_err();
        assert_eq!(err.path(), "service_name");
    }
}
