//! Compiling the `identity` object: sources, SPIFFE mapping, caller header, address
//! blocks and the upstream header, each checked with the JSON path of its field.

use super::{CallerHeader, IdentityResolver, SourceAddresses, XFCC_HEADER};
use crate::config::{CallerHeaderConfig, IdentityConfig, SourceKind};
use crate::names::{is_header_name, is_service_name};
use wasmesh_identity::{Cidr, SpiffeMapping, SpiffeMappingConfig};
use wasmesh_sdk::ConfigError;

impl IdentityResolver {
    /// Compiles the `identity` object; error paths start with `identity.`.
    pub fn compile(config: IdentityConfig) -> Result<Self, ConfigError> {
        let at = |key: &str| format!("identity.{key}");
        if config.sources.is_empty() {
            return Err(ConfigError::at(
                at("sources"),
                "list at least one identity source",
            ));
        }
        for (index, source) in config.sources.iter().enumerate() {
            if config.sources.iter().take(index).any(|s| s == source) {
                return Err(ConfigError::at(
                    at(&format!("sources[{index}]")),
                    format!("`{}` is listed twice", source.as_str()),
                ));
            }
        }
        let uses = |kind| config.sources.contains(&kind);
        let uses_spiffe = uses(SourceKind::PeerCertificate) || uses(SourceKind::Xfcc);
        let spiffe_configured =
            !config.spiffe.trust_domains.is_empty() || !config.spiffe.services.is_empty();
        if uses_spiffe && config.spiffe.trust_domains.is_empty() {
            return Err(ConfigError::at(
                at("spiffe.trust_domains"),
                "list the trust domains whose SPIFFE IDs are accepted",
            ));
        }
        if spiffe_configured && !uses_spiffe {
            return Err(ConfigError::at(
                at("spiffe"),
                "configured, but neither `peer_certificate` nor `xfcc` is in identity.sources",
            ));
        }
        check_mapping_names(&config.spiffe)?;
        let spiffe =
            SpiffeMapping::compile(config.spiffe).map_err(|e| e.nested_in("identity.spiffe"))?;

        let caller_header = match (config.caller_header, uses(SourceKind::CallerHeader)) {
            (Some(header), true) => {
                let header = compile_caller_header(header)?;
                check_header_after_certificates(&config.sources, &header)?;
                Some(header)
            }
            (None, true) => {
                return Err(ConfigError::at(
                    at("caller_header"),
                    "`caller_header` is in identity.sources; configure its `name` and who is trusted to send it",
                ))
            }
            (Some(_), false) => {
                return Err(ConfigError::at(
                    at("caller_header"),
                    "configured, but `caller_header` is not in identity.sources",
                ))
            }
            (None, false) => None,
        };

        let uses_addresses = uses(SourceKind::SourceAddress);
        if uses_addresses && config.source_addresses.is_empty() {
            return Err(ConfigError::at(
                at("source_addresses"),
                "`source_address` is in identity.sources; map at least one CIDR to a service",
            ));
        }
        if !uses_addresses && !config.source_addresses.is_empty() {
            return Err(ConfigError::at(
                at("source_addresses"),
                "configured, but `source_address` is not in identity.sources",
            ));
        }
        let mut entries = Vec::with_capacity(config.source_addresses.len());
        for (index, entry) in config.source_addresses.into_iter().enumerate() {
            if !is_service_name(entry.service.as_bytes()) {
                return Err(ConfigError::at(
                    at(&format!("source_addresses[{index}].service")),
                    format!("`{}` is not a service name", entry.service),
                ));
            }
            let cidrs_at = at(&format!("source_addresses[{index}].cidrs"));
            if entry.cidrs.is_empty() {
                return Err(ConfigError::at(cidrs_at, "list at least one CIDR"));
            }
            let cidrs = compile_cidrs(&entry.cidrs, &cidrs_at)?;
            entries.push((entry.service.into_boxed_str(), cidrs));
        }

        let upstream_header = config.upstream_header.to_ascii_lowercase();
        if !is_header_name(&upstream_header) {
            return Err(ConfigError::at(
                at("upstream_header"),
                format!("`{}` is not a header name", config.upstream_header),
            ));
        }
        if RESERVED_UPSTREAM_HEADERS.contains(&upstream_header.as_str()) {
            return Err(ConfigError::at(
                at("upstream_header"),
                format!("`{upstream_header}` has another meaning; choose a header of its own"),
            ));
        }
        Ok(Self {
            xfcc: uses(SourceKind::Xfcc),
            sources: config.sources,
            spiffe,
            caller_header,
            source_addresses: SourceAddresses { entries },
            upstream_header: upstream_header.into(),
        })
    }
}

/// Headers the verified caller's name must not be written into.
const RESERVED_UPSTREAM_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    XFCC_HEADER,
];

/// A caller-name header trusted on mutual-TLS connections must come after the certificate
/// sources, or any certificate holder could name itself with the header.
fn check_header_after_certificates(
    sources: &[SourceKind],
    header: &CallerHeader,
) -> Result<(), ConfigError> {
    let position = |kind| sources.iter().position(|s| *s == kind);
    let header_at = position(SourceKind::CallerHeader);
    let certificate_after = [SourceKind::PeerCertificate, SourceKind::Xfcc]
        .into_iter()
        .filter_map(position)
        .any(|at| Some(at) > header_at);
    if header.trust_mtls && certificate_after {
        return Err(ConfigError::at(
            "identity.sources",
            "`caller_header` trusts mutual-TLS connections, so it must come after \
             `peer_certificate` and `xfcc`: a certificate holder could otherwise name itself",
        ));
    }
    Ok(())
}

fn check_mapping_names(spiffe: &SpiffeMappingConfig) -> Result<(), ConfigError> {
    match spiffe
        .services
        .iter()
        .find(|(_, name)| !is_service_name(name.as_bytes()))
    {
        Some((id, name)) => Err(ConfigError::at(
            "identity.spiffe.services",
            format!("`{id}` maps to `{name}`, which is not a service name (letters, digits, `.`, `_`, `-`)"),
        )),
        None => Ok(()),
    }
}

fn compile_caller_header(config: CallerHeaderConfig) -> Result<CallerHeader, ConfigError> {
    let name = config.name.to_ascii_lowercase();
    if !is_header_name(&name) {
        return Err(ConfigError::at(
            "identity.caller_header.name",
            format!("`{}` is not a header name", config.name),
        ));
    }
    if name == XFCC_HEADER {
        return Err(ConfigError::at(
            "identity.caller_header.name",
            "x-forwarded-client-cert is read by the `xfcc` source",
        ));
    }
    let trusted_cidrs = compile_cidrs(
        &config.trusted_cidrs,
        "identity.caller_header.trusted_cidrs",
    )?;
    if !config.trust_mtls && trusted_cidrs.is_empty() {
        return Err(ConfigError::at(
            "identity.caller_header",
            "the header would never be trusted: set `trust_mtls` or list `trusted_cidrs`",
        ));
    }
    Ok(CallerHeader {
        name: name.into(),
        trusted_cidrs,
        trust_mtls: config.trust_mtls,
    })
}

fn compile_cidrs(cidrs: &[String], at: &str) -> Result<Vec<Cidr>, ConfigError> {
    cidrs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            Cidr::parse(text).map_err(|e| ConfigError::at(format!("{at}[{index}]"), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(json: &str) -> Result<IdentityResolver, ConfigError> {
        let document = format!(r#"{{"rules": [], "identity": {json}}}"#);
        let value = wasmesh_sdk::config::json::parse(document.as_bytes()).unwrap();
        IdentityResolver::compile(crate::config::Config::read(&value)?.identity)
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (json, path) in [
            (r#"{"sources": []}"#, "identity.sources"),
            (
                r#"{"sources": ["xfcc", "xfcc"], "spiffe": {"trust_domains": ["a"]}}"#,
                "identity.sources[1]",
            ),
            (
                r#"{"sources": ["peer_certificate"]}"#,
                "identity.spiffe.trust_domains",
            ),
            (
                r#"{"sources": ["source_address"], "source_addresses": [{"service": "a", "cidrs": ["1.0.0.0/8"]}], "spiffe": {"trust_domains": ["a"]}}"#,
                "identity.spiffe",
            ),
            (
                r#"{"spiffe": {"trust_domains": ["Bad"]}}"#,
                "identity.spiffe.trust_domains[0]",
            ),
            (
                r#"{"spiffe": {"trust_domains": ["td"], "services": {"spiffe://td/a": "a b"}}}"#,
                "identity.spiffe.services",
            ),
            (
                r#"{"sources": ["caller_header"]}"#,
                "identity.caller_header",
            ),
            (
                r#"{"sources": ["caller_header"], "caller_header": {"name": "X Y"}}"#,
                "identity.caller_header.name",
            ),
            (
                r#"{"sources": ["caller_header"], "caller_header": {"name": "x", "trust_mtls": false}}"#,
                "identity.caller_header",
            ),
            (
                r#"{"sources": ["caller_header"], "caller_header": {"name": "x", "trusted_cidrs": ["10.0.0.1/8"]}}"#,
                "identity.caller_header.trusted_cidrs[0]",
            ),
            (
                r#"{"spiffe": {"trust_domains": ["td"]}, "caller_header": {"name": "x"}}"#,
                "identity.caller_header",
            ),
            (
                r#"{"sources": ["source_address"]}"#,
                "identity.source_addresses",
            ),
            (
                r#"{"sources": ["source_address"], "source_addresses": [{"service": "a", "cidrs": ["nope"]}]}"#,
                "identity.source_addresses[0].cidrs[0]",
            ),
            (
                r#"{"sources": ["source_address"], "source_addresses": [{"service": "a b", "cidrs": []}]}"#,
                "identity.source_addresses[0].service",
            ),
            (
                r#"{"sources": ["source_address"], "source_addresses": [{"service": "a", "cidrs": []}]}"#,
                "identity.source_addresses[0].cidrs",
            ),
            (
                r#"{"spiffe": {"trust_domains": ["td"]}, "upstream_header": ":caller"}"#,
                "identity.upstream_header",
            ),
            (
                r#"{"spiffe": {"trust_domains": ["td"]}, "upstream_header": "Host"}"#,
                "identity.upstream_header",
            ),
            (
                r#"{"sources": ["caller_header", "peer_certificate"], "spiffe": {"trust_domains": ["td"]}, "caller_header": {"name": "x"}}"#,
                "identity.sources",
            ),
        ] {
            let error = resolver(json).unwrap_err();
            assert_eq!(error.path(), path, "{json}: {error}");
        }
    }
}
