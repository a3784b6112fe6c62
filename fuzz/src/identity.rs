//! The identity targets: `x-forwarded-client-cert`, SPIFFE IDs, CIDRs and source
//! addresses.

use crate::input::lines;
use std::net::{IpAddr, SocketAddr};
use wasmesh_identity::{
    parse_source_address, parse_xfcc, Cidr, IdentityError, ServiceNameRule, SpiffeError, SpiffeId,
    SpiffeMapping, SpiffeMappingConfig, XfccElement, XfccError,
};

/// `x-forwarded-client-cert`: only non-UTF-8 is `NotUtf8`; a parsed value has elements,
/// and writing them back (every value quoted) parses to the same elements.
pub fn xfcc(data: &[u8]) {
    let parsed = parse_xfcc(data);
    if std::str::from_utf8(data).is_err() {
        assert_eq!(parsed, Err(XfccError::NotUtf8));
        return;
    }
    assert_ne!(parsed, Err(XfccError::NotUtf8));
    if let Ok(elements) = parsed {
        assert!(!elements.is_empty());
        let written: Vec<String> = elements.iter().map(write_element).collect();
        for (element, text) in elements.iter().zip(&written) {
            assert_eq!(
                parse_xfcc(text.as_bytes()),
                Ok(vec![element.clone()]),
                "{text:?}"
            );
        }
        let all = written.join(",");
        assert_eq!(parse_xfcc(all.as_bytes()), Ok(elements), "{all:?}");
    }
}

/// One element in XFCC syntax, every value quoted.
fn write_element(element: &XfccElement) -> String {
    let mut pairs: Vec<String> = Vec::new();
    let mut pair = |key: &str, value: &str| {
        let mut text = format!("{key}=\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                text.push('\\');
            }
            text.push(c);
        }
        text.push('"');
        pairs.push(text);
    };
    for by in &element.by {
        pair("By", by);
    }
    if let Some(hash) = &element.hash {
        pair("Hash", hash);
    }
    if let Some(subject) = &element.subject {
        pair("Subject", subject);
    }
    for uri in &element.uris {
        pair("URI", uri);
    }
    for dns in &element.dns {
        pair("DNS", dns);
    }
    if element == &XfccElement::default() {
        // An element of unknown keys only.
        pair("Other", "");
    }
    pairs.join(";")
}

/// SPIFFE IDs: the parser agrees with the specification's rules written out here, a
/// parsed ID is its parts put together, and the mapping to service names never names a
/// caller with an empty name or from an untrusted domain.
///
/// An input without the scheme is also tried with `spiffe://` in front, so that a fuzzer
/// reaches the trust domain and path rules without having to find the scheme first.
pub fn spiffe_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_spiffe(text);
    if !text.starts_with("spiffe://") {
        check_spiffe(&format!("spiffe://{text}"));
    }
}

fn check_spiffe(text: &str) {
    let parsed = SpiffeId::parse(text);
    assert_eq!(parsed.map(|_| ()), expected_spiffe(text), "{text:?}");
    let Ok(id) = parsed else {
        return;
    };
    assert_eq!(format!("spiffe://{}{}", id.trust_domain(), id.path()), text);
    assert_eq!(id.as_str(), text);
    assert_eq!(
        id.segments().count(),
        id.path().split('/').count().saturating_sub(1)
    );
    for rule in ServiceNameRule::ALL {
        for domains in [
            vec![id.trust_domain().to_owned()],
            vec!["example.org".to_owned()],
        ] {
            let trusted = domains.iter().any(|d| d == id.trust_domain());
            let config = SpiffeMappingConfig {
                trust_domains: domains,
                service_name: rule,
                ..SpiffeMappingConfig::default()
            };
            let Ok(mapping) = SpiffeMapping::compile(config) else {
                // `example.org` is always a valid trust domain, and so is a parsed one.
                crate::fail(format_args!(
                    "a mapping trusting the domain of {text:?} was refused"
                ));
            };
            match mapping.service_of(text) {
                Ok(name) => {
                    assert!(trusted && !name.is_empty(), "{text:?} named {name:?}");
                    let last = id.segments().last();
                    match rule {
                        ServiceNameRule::LastSegment => assert_eq!(Some(name), last),
                        ServiceNameRule::SpiffeId => assert_eq!(name, text),
                        ServiceNameRule::IstioServiceAccount => assert_eq!(Some(name), last),
                        ServiceNameRule::ListedOnly => {
                            crate::fail(format_args!("listed_only named an unlisted ID {name:?}"))
                        }
                    }
                }
                Err(error) => {
                    assert!(!matches!(error, IdentityError::NotSpiffe(_)));
                    assert_eq!(error == IdentityError::UntrustedDomain, !trusted);
                }
            }
        }
    }
}

/// The SPIFFE ID rules, written from the specification: `spiffe://`, a non-empty trust
/// domain of `a-z 0-9 . - _`, then a path of `/`-led segments that are non-empty, not `.`
/// or `..`, of `A-Z a-z 0-9 . - _`; at most 2048 bytes.
fn expected_spiffe(text: &str) -> Result<(), SpiffeError> {
    if text.len() > 2048 {
        return Err(SpiffeError::TooLong);
    }
    let Some(rest) = text.strip_prefix("spiffe://") else {
        return Err(SpiffeError::Scheme);
    };
    let mut parts = rest.split('/');
    let domain = parts.next().unwrap_or_default();
    let domain_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
    if domain.is_empty() || !domain.chars().all(domain_char) {
        return Err(SpiffeError::TrustDomain);
    }
    let segment_char = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
    for segment in parts {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || !segment.chars().all(segment_char)
        {
            return Err(SpiffeError::Path);
        }
    }
    Ok(())
}

/// CIDRs and addresses: the first line is a block, the others are `source.address`
/// values. A block holds its own network address, reads back from its canonical text, and
/// holds exactly the addresses whose leading bits match; an address is read as the
/// standard library reads a socket address or an IP.
pub fn cidr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = lines(text.as_bytes()).into_iter().map(|line| {
        // The lines of a UTF-8 text split at `\n` are UTF-8.
        std::str::from_utf8(line).unwrap_or_default()
    });
    let block_text = lines.next().unwrap_or_default();
    let block = Cidr::parse(block_text).ok().and_then(|block| {
        let (address, prefix) = match block_text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (block_text, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.map_or(Some(width), |p| p.parse::<u8>().ok())?;
        assert!(prefix <= width, "{block_text:?}");
        assert!(
            block.contains(network),
            "{block_text:?} does not hold itself"
        );
        assert_eq!(Cidr::parse(&format!("{network}/{prefix}")), Ok(block));
        Some((block, network, prefix))
    });
    for address in lines {
        let ip = parse_source_address(address);
        if let Ok(socket) = address.parse::<SocketAddr>() {
            assert_eq!(ip, Some(socket.ip()), "{address:?}");
        }
        if let Ok(bare) = address.parse::<IpAddr>() {
            assert_eq!(ip, Some(bare), "{address:?}");
        }
        if let (Some((block, network, prefix)), Some(ip)) = (block, ip) {
            assert_eq!(
                block.contains(ip),
                same_prefix(network, ip, prefix),
                "{block_text:?} and {ip}"
            );
        }
    }
}

/// Whether `ip` has the first `prefix` bits of `network`, IPv4-mapped IPv6 addresses and
/// blocks (of 96 bits or more) taken as IPv4.
fn same_prefix(network: IpAddr, ip: IpAddr, prefix: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (network, prefix) = match network {
        IpAddr::V6(v6) if prefix >= 96 => v6
            .to_ipv4_mapped()
            .map_or((network, prefix), |v4| (IpAddr::V4(v4), prefix - 96)),
        _ => (network, prefix),
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let shift = 32 - u32::from(prefix.min(32));
            let (a, b) = (u32::from(network), u32::from(ip));
            a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let shift = 128 - u32::from(prefix.min(128));
            let (a, b) = (u128::from(network), u128::from(ip));
            a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
        }
        _ => false,
    }
}
