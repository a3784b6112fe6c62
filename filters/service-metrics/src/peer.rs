//! Who is calling (inbound) and who is called (outbound): service names, principals and
//! namespaces, from what Envoy verified or what configuration trusts.
//!
//! An inbound caller is named by its verified mTLS certificate when the connection is
//! mutual TLS; otherwise by the configured trusted header, only when the connection comes
//! from a trusted address; otherwise it is `unknown`. A header a client sets is never
//! believed on its own.

use crate::config::{is_plain_name, HeaderFormat, TrustedHeader, UNKNOWN};
use std::collections::BTreeMap;
use std::net::IpAddr;
use wasmesh_identity::{parse_xfcc, SpiffeId, SpiffeMapping};
use wasmesh_sdk::{HeaderMap, VerifiedCaller};

/// What the request tells about its caller, before naming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nothing usable.
    Nobody,
    /// A SPIFFE ID (from the verified certificate, or a trusted header).
    Spiffe(String),
    /// A service name (from a trusted header).
    Service(String),
}

/// A named party of the exchange; each field is a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Party<'a> {
    /// Service name.
    pub service: &'a str,
    /// SPIFFE ID, when verified and in a trusted domain.
    pub principal: &'a str,
    /// Namespace, from an Istio-form SPIFFE ID (`/ns/<namespace>/sa/<account>`).
    pub namespace: &'a str,
}

impl Party<'static> {
    /// Nothing known.
    pub const UNKNOWN: Party<'static> = Party {
        service: UNKNOWN,
        principal: UNKNOWN,
        namespace: UNKNOWN,
    };
}

/// The namespace of an Istio-form SPIFFE ID (`spiffe://td/ns/<namespace>/sa/<account>`).
pub fn istio_namespace<'a>(id: &SpiffeId<'a>) -> Option<&'a str> {
    let mut segments = id.segments();
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("ns"), Some(namespace), Some("sa"), Some(_), None) => Some(namespace),
        _ => None,
    }
}

/// Names a party by its SPIFFE ID: unknown unless the ID is valid and in a trusted domain.
pub fn name_spiffe<'a>(mapping: &'a SpiffeMapping, san: &'a str) -> Party<'a> {
    let Ok(id) = mapping.verify(san) else {
        return Party::UNKNOWN;
    };
    Party {
        service: mapping.service_of(san).unwrap_or(UNKNOWN),
        principal: id.as_str(),
        namespace: istio_namespace(&id).unwrap_or(UNKNOWN),
    }
}

/// Names a caller a filter before this one verified: its service as given, principal and
/// namespace from its SPIFFE ID when that is in a trusted domain.
pub fn name_verified<'a>(mapping: &'a SpiffeMapping, caller: &'a VerifiedCaller) -> Party<'a> {
    let named = caller
        .spiffe_id
        .as_deref()
        .map_or(Party::UNKNOWN, |san| name_spiffe(mapping, san));
    Party {
        service: &caller.service,
        ..named
    }
}

/// Names the caller from its claim.
pub fn name_claim<'a>(mapping: &'a SpiffeMapping, claim: &'a Claim) -> Party<'a> {
    match claim {
        Claim::Nobody => Party::UNKNOWN,
        Claim::Spiffe(san) => name_spiffe(mapping, san),
        Claim::Service(service) => Party {
            service,
            ..Party::UNKNOWN
        },
    }
}

/// The inbound caller's claim: the certificate's URI SAN on a mutual TLS connection,
/// else the trusted header (see [`header_claim`]), else nobody.
pub fn inbound_claim(
    mtls: bool,
    peer_uri_san: Option<String>,
    header: Option<(&TrustedHeader, Option<IpAddr>, &HeaderMap)>,
) -> Claim {
    if mtls {
        return peer_uri_san.map_or(Claim::Nobody, Claim::Spiffe);
    }
    match header {
        Some((trusted, peer_ip, headers)) => header_claim(trusted, peer_ip, headers),
        None => Claim::Nobody,
    }
}

/// The claim of the trusted header: only when the connection's peer address is in one of
/// the trusted blocks and the header appears exactly once with a well-formed value.
pub fn header_claim(
    trusted: &TrustedHeader,
    peer_ip: Option<IpAddr>,
    headers: &HeaderMap,
) -> Claim {
    let Some(ip) = peer_ip else {
        return Claim::Nobody;
    };
    if !trusted.from.iter().any(|block| block.contains(ip)) {
        return Claim::Nobody;
    }
    let Ok(value) = headers.single(&trusted.name) else {
        return Claim::Nobody;
    };
    match trusted.format {
        HeaderFormat::Service if is_plain_name(value) => {
            Claim::Service(String::from_utf8_lossy(value).into_owned())
        }
        HeaderFormat::Service => Claim::Nobody,
        HeaderFormat::SpiffeId => {
            std::str::from_utf8(value).map_or(Claim::Nobody, |id| Claim::Spiffe(id.to_owned()))
        }
        HeaderFormat::Xfcc => parse_xfcc(value)
            .ok()
            .and_then(|elements| elements.into_iter().last())
            .and_then(|element| element.uris.into_iter().next())
            .map_or(Claim::Nobody, Claim::Spiffe),
    }
}

/// The host part of an `:authority` (port and IPv6 brackets removed, lowercased).
pub fn authority_host(authority: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(authority).ok()?.trim();
    let host = if let Some(rest) = text.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        text.rsplit_once(':').map_or(text, |(host, _)| host)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The host of an upstream cluster: `<host>` for Istio's `outbound|<port>|<subset>|<host>`
/// clusters, else the cluster name itself.
pub fn cluster_host(cluster: &str) -> &str {
    let mut parts = cluster.split('|');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("outbound" | "inbound"), Some(_), Some(_), Some(host), None) if !host.is_empty() => {
            host
        }
        _ => cluster,
    }
}

/// Names an outbound destination from its raw name (cluster or authority host):
/// `destinations` (by raw name, then by host) gives the service, else the first label of a
/// Kubernetes service host (`reviews.shop.svc.cluster.local` → `reviews`, namespace
/// `shop`), else the host itself. `host` is Istio's `destination_service`.
pub fn name_destination<'a>(destinations: &'a BTreeMap<String, String>, raw: &'a str) -> Party<'a> {
    let host = cluster_host(raw);
    if !is_plain_name(host.as_bytes()) {
        return Party::UNKNOWN;
    }
    let mut labels = host.split('.');
    let kubernetes = match (labels.next(), labels.next(), labels.next()) {
        (Some(service), Some(namespace), Some("svc")) => Some((service, namespace)),
        _ => None,
    };
    let service = destinations
        .get(raw)
        .or_else(|| destinations.get(host))
        .map(String::as_str)
        .or(kubernetes.map(|(service, _)| service))
        .unwrap_or(host);
    Party {
        service,
        principal: UNKNOWN,
        namespace: kubernetes.map_or(UNKNOWN, |(_, namespace)| namespace),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wasmesh_identity::{Cidr, SpiffeMappingConfig};

    fn mapping() -> SpiffeMapping {
        SpiffeMapping::compile(SpiffeMappingConfig {
            trust_domains: vec!["example.org".into()],
            services: [(
                "spiffe://example.org/legacy/billing-v2".into(),
                "billing".into(),
            )]
            .into_iter()
            .collect(),
            ..SpiffeMappingConfig::default()
        })
        .unwrap()
    }

    fn trusted(format: HeaderFormat) -> TrustedHeader {
        TrustedHeader {
            name: "x-caller".into(),
            format,
            from: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn certificates_name_callers_in_trusted_domains_only() {
        let m = mapping();
        let san = "spiffe://example.org/ns/shop/sa/frontend".to_owned();
        assert_eq!(
            name_spiffe(&m, &san),
            Party {
                service: "frontend",
                principal: "spiffe://example.org/ns/shop/sa/frontend",
                namespace: "shop"
            }
        );
        let listed = "spiffe://example.org/legacy/billing-v2".to_owned();
        assert_eq!(
            name_spiffe(&m, &listed),
            Party {
                service: "billing",
                principal: "spiffe://example.org/legacy/billing-v2",
                namespace: "unknown"
            }
        );
        for untrusted in [
            "spiffe://evil.org/ns/shop/sa/frontend",
            "https://example.org/x",
            "",
        ] {
            assert_eq!(name_spiffe(&m, untrusted), Party::UNKNOWN, "{untrusted}");
        }
    }

    #[test]
    fn mtls_wins_over_any_header() {
        let t = trusted(HeaderFormat::Service);
        let h = headers(&[("x-caller", "forged")]);
        let claim = inbound_claim(
            true,
            Some("spiffe://example.org/ns/a/sa/b".into()),
            Some((&t, ip("10.1.1.1"), &h)),
        );
        assert_eq!(
            claim,
            Claim::Spiffe("spiffe://example.org/ns/a/sa/b".into())
        );
        assert_eq!(
            inbound_claim(true, None, Some((&t, ip("10.1.1.1"), &h))),
            Claim::Nobody
        );
    }

    #[test]
    fn headers_count_only_from_trusted_addresses_and_when_configured() {
        let t = trusted(HeaderFormat::Service);
        let h = headers(&[("x-caller", "batch")]);
        assert_eq!(
            inbound_claim(false, None, Some((&t, ip("10.2.3.4"), &h))),
            Claim::Service("batch".into())
        );
        assert_eq!(
            inbound_claim(false, None, Some((&t, ip("192.168.1.1"), &h))),
            Claim::Nobody
        );
        assert_eq!(
            inbound_claim(false, None, Some((&t, None, &h))),
            Claim::Nobody
        );
        assert_eq!(inbound_claim(false, None, None), Claim::Nobody);
    }

    #[test]
    fn repeated_absent_or_odd_header_values_are_nobody() {
        let t = trusted(HeaderFormat::Service);
        for h in [
            headers(&[("x-caller", "a"), ("x-caller", "b")]),
            headers(&[]),
            headers(&[("x-caller", "a;.;.reporter=.=x")]),
            headers(&[("x-caller", "")]),
        ] {
            assert_eq!(header_claim(&t, ip("10.0.0.1"), &h), Claim::Nobody);
        }
    }

    #[test]
    fn spiffe_and_xfcc_headers_are_named_through_the_mapping() {
        let m = mapping();
        let t = trusted(HeaderFormat::SpiffeId);
        let h = headers(&[("x-caller", "spiffe://example.org/ns/jobs/sa/batch")]);
        let claim = header_claim(&t, ip("10.0.0.1"), &h);
        assert_eq!(name_claim(&m, &claim).service, "batch");
        assert_eq!(name_claim(&m, &claim).namespace, "jobs");

        let t = trusted(HeaderFormat::Xfcc);
        let h = headers(&[(
            "x-caller",
            "URI=spiffe://example.org/ns/a/sa/first,By=spiffe://example.org/ns/x/sa/gw;URI=spiffe://example.org/ns/b/sa/last",
        )]);
        let claim = header_claim(&t, ip("10.0.0.1"), &h);
        assert_eq!(
            claim,
            Claim::Spiffe("spiffe://example.org/ns/b/sa/last".into())
        );
        assert_eq!(name_claim(&m, &claim).service, "last");

        let bad = headers(&[("x-caller", "URI=\"open")]);
        assert_eq!(header_claim(&t, ip("10.0.0.1"), &bad), Claim::Nobody);
        let evil = headers(&[("x-caller", "URI=spiffe://evil.org/ns/a/sa/b")]);
        let claim = header_claim(&t, ip("10.0.0.1"), &evil);
        assert_eq!(name_claim(&m, &claim), Party::UNKNOWN);
    }

    #[test]
    fn service_claims_name_only_the_service() {
        let m = mapping();
        let claim = Claim::Service("batch".into());
        assert_eq!(
            name_claim(&m, &claim),
            Party {
                service: "batch",
                ..Party::UNKNOWN
            }
        );
        assert_eq!(name_claim(&m, &Claim::Nobody), Party::UNKNOWN);
    }

    #[test]
    fn istio_namespaces() {
        fn ns(id: &str) -> Option<&str> {
            istio_namespace(&SpiffeId::parse(id).unwrap())
        }
        assert_eq!(ns("spiffe://td/ns/shop/sa/cart"), Some("shop"));
        assert_eq!(ns("spiffe://td/ns/shop/sa/cart/extra"), None);
        assert_eq!(ns("spiffe://td/cart"), None);
    }

    #[test]
    fn authorities() {
        assert_eq!(authority_host(b"Reviews:9080").as_deref(), Some("reviews"));
        assert_eq!(authority_host(b"reviews").as_deref(), Some("reviews"));
        assert_eq!(authority_host(b"[::1]:80").as_deref(), Some("::1"));
        assert_eq!(authority_host(b":80"), None);
        assert_eq!(authority_host(b"\xff"), None);
    }

    #[test]
    fn destinations() {
        let mut names = BTreeMap::new();
        names.insert("reviews-from-frontend".to_owned(), "reviews".to_owned());
        names.insert("api.example.com".to_owned(), "partner-api".to_owned());
        let d = |raw: &'static str| name_destination(&names, raw);
        assert_eq!(d("reviews-from-frontend").service, "reviews");
        assert_eq!(d("api.example.com").service, "partner-api");
        let istio = d("outbound|9080||reviews.shop.svc.cluster.local");
        assert_eq!(istio.service, "reviews");
        assert_eq!(istio.namespace, "shop");
        assert_eq!(
            cluster_host("outbound|9080||reviews.shop.svc.cluster.local"),
            "reviews.shop.svc.cluster.local"
        );
        assert_eq!(d("ratings").service, "ratings");
        assert_eq!(d("ratings").namespace, "unknown");
        assert_eq!(d("a b"), Party::UNKNOWN);
        assert_eq!(cluster_host("outbound|80|"), "outbound|80|");
    }
}
