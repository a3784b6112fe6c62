//! Who is calling: the configured identity sources, tried in order.
//!
//! A source either finds no evidence (no certificate, header absent, no CIDR matching),
//! and the next source is tried, or finds evidence and decides: the evidence is verified
//! and names the caller, or it is rejected and the request is unidentified. A rejected
//! credential is never replaced by a weaker one from a later source: a certificate from
//! another trust domain does not fall back to a caller-name header.
//!
//! Before any source runs, the caller-name header and `x-forwarded-client-cert` (when
//! their sources are configured) must each appear at most once; a request repeating one
//! is denied, never joined.

mod compile;

use crate::callers::Caller;
use crate::config::SourceKind;
use crate::names::is_service_name;
use crate::scan::HeaderLookup;
use std::net::IpAddr;
use wasmesh_identity::{parse_xfcc, Cidr, SpiffeMapping};
use wasmesh_sdk::HeaderMap;

/// The header Envoy sets with the client certificate's details.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

/// What the identity sources read from the connection, fetched on demand.
pub trait Connection {
    /// Whether the connection is mutual TLS with a peer certificate.
    fn mtls(&mut self) -> bool;
    /// The first URI SAN of the peer certificate.
    fn peer_uri_san(&mut self) -> Option<&str>;
    /// The peer's IP address.
    fn source_ip(&mut self) -> Option<IpAddr>;
}

/// The outcome of identification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The verified caller.
    pub caller: Option<Caller>,
    /// The source that identified the caller or rejected its evidence.
    pub source: Option<SourceKind>,
    /// Why the evidence was rejected (e.g. `untrusted_domain`).
    pub rejected: Option<&'static str>,
}

impl Identity {
    fn found(source: SourceKind, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            source: Some(source),
            rejected: None,
        }
    }

    fn rejected(source: SourceKind, reason: &'static str) -> Self {
        Self {
            caller: None,
            source: Some(source),
            rejected: Some(reason),
        }
    }
}

/// An identity header appeared more than once; the request is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatedIdentityHeader<'a>(pub &'a str);

#[derive(Debug)]
struct CallerHeader {
    name: Box<str>,
    trusted_cidrs: Vec<Cidr>,
    trust_mtls: bool,
}

#[derive(Debug)]
struct SourceAddresses {
    entries: Vec<(Box<str>, Vec<Cidr>)>,
}

/// The compiled identity configuration.
#[derive(Debug)]
pub struct IdentityResolver {
    sources: Vec<SourceKind>,
    spiffe: SpiffeMapping,
    caller_header: Option<CallerHeader>,
    source_addresses: SourceAddresses,
    upstream_header: Box<str>,
    xfcc: bool,
}

impl IdentityResolver {
    /// The header carrying the verified caller upstream.
    pub fn upstream_header(&self) -> &str {
        &self.upstream_header
    }

    /// The caller-name header, when that source is configured.
    pub fn caller_header(&self) -> Option<&str> {
        self.caller_header.as_ref().map(|h| h.name.as_ref())
    }

    /// Whether `x-forwarded-client-cert` is an identity source.
    pub fn uses_xfcc(&self) -> bool {
        self.xfcc
    }

    /// Identifies the caller of a request.
    pub fn resolve(
        &self,
        headers: &HeaderMap,
        connection: &mut impl Connection,
    ) -> Result<Identity, RepeatedIdentityHeader<'_>> {
        let caller = match self.caller_header() {
            Some(name) => HeaderLookup::of(headers, name),
            None => HeaderLookup::default(),
        };
        self.resolve_scanned(caller, HeaderLookup::of(headers, XFCC_HEADER), connection)
    }

    /// Identifies the caller of a request from its caller-name header (default when that
    /// source is not configured) and `x-forwarded-client-cert`, as [`HeaderScan`] finds
    /// them.
    ///
    /// [`HeaderScan`]: crate::scan::HeaderScan
    pub fn resolve_scanned(
        &self,
        caller: HeaderLookup<'_>,
        xfcc: HeaderLookup<'_>,
        connection: &mut impl Connection,
    ) -> Result<Identity, RepeatedIdentityHeader<'_>> {
        if let Some(header) = &self.caller_header {
            if caller.count > 1 {
                return Err(RepeatedIdentityHeader(&header.name));
            }
        }
        if self.xfcc && xfcc.count > 1 {
            return Err(RepeatedIdentityHeader(XFCC_HEADER));
        }
        for &source in &self.sources {
            let outcome = match source {
                SourceKind::PeerCertificate => self.identify_by_certificate(connection),
                SourceKind::Xfcc => self.identify_by_xfcc(xfcc.first, connection),
                SourceKind::CallerHeader => {
                    self.identify_by_caller_header(caller.first, connection)
                }
                SourceKind::SourceAddress => self.identify_by_source_address(connection),
            };
            if let Some(identity) = outcome {
                return Ok(identity);
            }
        }
        Ok(Identity::default())
    }

    fn identify_by_certificate(&self, connection: &mut impl Connection) -> Option<Identity> {
        const SOURCE: SourceKind = SourceKind::PeerCertificate;
        if !connection.mtls() {
            return None;
        }
        let san = connection.peer_uri_san()?;
        Some(match self.spiffe.service_of(san) {
            Ok(service) => Identity::found(
                SOURCE,
                Caller {
                    service: service.to_owned(),
                    spiffe_id: Some(san.to_owned()),
                },
            ),
            Err(error) => Identity::rejected(SOURCE, error.reason()),
        })
    }

    fn identify_by_xfcc(
        &self,
        value: Option<&[u8]>,
        connection: &mut impl Connection,
    ) -> Option<Identity> {
        const SOURCE: SourceKind = SourceKind::Xfcc;
        let value = value?;
        if !connection.mtls() {
            // Envoy sets the header only on mutual-TLS connections (SANITIZE_SET):
            // on any other connection a client wrote it.
            return Some(Identity::rejected(SOURCE, "xfcc_without_mtls"));
        }
        let Ok(elements) = parse_xfcc(value) else {
            return Some(Identity::rejected(SOURCE, "xfcc_malformed"));
        };
        let [element] = elements.as_slice() else {
            return Some(Identity::rejected(SOURCE, "xfcc_not_one_element"));
        };
        if element.uris.is_empty() {
            return None;
        }
        if let Some(first) = connection.peer_uri_san() {
            if !element.uris.iter().any(|uri| uri == first) {
                return Some(Identity::rejected(SOURCE, "xfcc_mismatch"));
            }
        }
        let mut first_error = None;
        for uri in &element.uris {
            match self.spiffe.service_of(uri) {
                Ok(service) => {
                    return Some(Identity::found(
                        SOURCE,
                        Caller {
                            service: service.to_owned(),
                            spiffe_id: Some(uri.clone()),
                        },
                    ))
                }
                Err(error) => {
                    first_error.get_or_insert(error.reason());
                }
            }
        }
        Some(Identity::rejected(
            SOURCE,
            first_error.unwrap_or("no_spiffe_id"),
        ))
    }

    fn identify_by_caller_header(
        &self,
        value: Option<&[u8]>,
        connection: &mut impl Connection,
    ) -> Option<Identity> {
        const SOURCE: SourceKind = SourceKind::CallerHeader;
        let header = self.caller_header.as_ref()?;
        let value = value?;
        // Each condition costs a read from Envoy; a trusted address settles it without
        // reading the connection's mTLS state.
        let trusted = (!header.trusted_cidrs.is_empty()
            && connection
                .source_ip()
                .is_some_and(|ip| header.trusted_cidrs.iter().any(|c| c.contains(ip))))
            || (header.trust_mtls && connection.mtls());
        if !trusted {
            return Some(Identity::rejected(SOURCE, "untrusted_caller_header"));
        }
        if !is_service_name(value) {
            return Some(Identity::rejected(SOURCE, "invalid_caller_header"));
        }
        let service = String::from_utf8_lossy(value).into_owned();
        Some(Identity::found(
            SOURCE,
            Caller {
                service,
                spiffe_id: None,
            },
        ))
    }

    fn identify_by_source_address(&self, connection: &mut impl Connection) -> Option<Identity> {
        let ip = connection.source_ip()?;
        let (service, _) = self
            .source_addresses
            .entries
            .iter()
            .find(|(_, cidrs)| cidrs.iter().any(|c| c.contains(ip)))?;
        Some(Identity::found(
            SourceKind::SourceAddress,
            Caller {
                service: service.as_ref().to_owned(),
                spiffe_id: None,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        mtls: bool,
        san: Option<String>,
        ip: Option<IpAddr>,
    }

    impl Connection for Fake {
        fn mtls(&mut self) -> bool {
            self.mtls
        }
        fn peer_uri_san(&mut self) -> Option<&str> {
            self.san.as_deref()
        }
        fn source_ip(&mut self) -> Option<IpAddr> {
            self.ip
        }
    }

    fn mtls(san: &str) -> Fake {
        Fake {
            mtls: true,
            san: Some(san.into()),
            ip: Some("10.0.0.9".parse().unwrap()),
        }
    }

    fn plaintext(ip: &str) -> Fake {
        Fake {
            mtls: false,
            san: None,
            ip: Some(ip.parse().unwrap()),
        }
    }

    fn resolver(json: &str) -> Result<IdentityResolver, wasmesh_sdk::ConfigError> {
        let document = format!(r#"{{"rules": [], "identity": {json}}}"#);
        let value = wasmesh_sdk::config::json::parse(document.as_bytes()).unwrap();
        IdentityResolver::compile(crate::config::Config::read(&value)?.identity)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    const ALL_SOURCES: &str = r#"{
        "sources": ["peer_certificate", "xfcc", "caller_header", "source_address"],
        "spiffe": {"trust_domains": ["example.org"]},
        "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.1.0.0/16"]},
        "source_addresses": [{"service": "batch", "cidrs": ["10.2.0.0/16"]}]
    }"#;

    fn who(identity: &Identity) -> (Option<&str>, Option<&str>, Option<&str>) {
        (
            identity.caller.as_ref().map(|c| c.service.as_str()),
            identity.source.map(SourceKind::as_str),
            identity.rejected,
        )
    }

    #[test]
    fn peer_certificate_in_the_trust_domain() {
        let r = resolver(ALL_SOURCES).unwrap();
        let id = r
            .resolve(
                &headers(&[]),
                &mut mtls("spiffe://example.org/ns/shop/sa/frontend"),
            )
            .unwrap();
        assert_eq!(who(&id), (Some("frontend"), Some("peer_certificate"), None));
        assert_eq!(
            id.caller.unwrap().spiffe_id.as_deref(),
            Some("spiffe://example.org/ns/shop/sa/frontend")
        );
    }

    #[test]
    fn a_rejected_certificate_does_not_fall_back_to_weaker_sources() {
        let r = resolver(ALL_SOURCES).unwrap();
        let h = headers(&[("x-service-name", "payments")]);
        let id = r
            .resolve(&h, &mut mtls("spiffe://evil.org/ns/shop/sa/frontend"))
            .unwrap();
        assert_eq!(
            who(&id),
            (None, Some("peer_certificate"), Some("untrusted_domain"))
        );
        let id = r
            .resolve(&h, &mut mtls("https://example.org/frontend"))
            .unwrap();
        assert_eq!(
            who(&id),
            (None, Some("peer_certificate"), Some("not_spiffe"))
        );
    }

    #[test]
    fn xfcc_reads_every_uri_san() {
        let r = resolver(
            r#"{"sources": ["peer_certificate", "xfcc"], "spiffe": {"trust_domains": ["example.org"]}}"#,
        )
        .unwrap();
        let xfcc_only =
            resolver(r#"{"sources": ["xfcc"], "spiffe": {"trust_domains": ["example.org"]}}"#)
                .unwrap();
        let h = headers(&[(
            XFCC_HEADER,
            "By=spiffe://example.org/ns/shop/sa/orders;Hash=ab;URI=spiffe://other.org/legacy;URI=spiffe://example.org/ns/shop/sa/frontend",
        )]);
        // The first SAN is outside the trust domain: the certificate source rejects it.
        let mut conn = mtls("spiffe://other.org/legacy");
        assert_eq!(
            who(&r.resolve(&h, &mut conn).unwrap()),
            (None, Some("peer_certificate"), Some("untrusted_domain"))
        );
        // Reading every SAN from XFCC finds the one that is trusted.
        let id = xfcc_only.resolve(&h, &mut conn).unwrap();
        assert_eq!(who(&id), (Some("frontend"), Some("xfcc"), None));
        // XFCC that does not describe this connection's certificate is rejected.
        let mut other = mtls("spiffe://example.org/ns/shop/sa/cart");
        assert_eq!(
            who(&xfcc_only.resolve(&h, &mut other).unwrap()),
            (None, Some("xfcc"), Some("xfcc_mismatch"))
        );
        // On a plaintext connection a client wrote it.
        assert_eq!(
            who(&xfcc_only.resolve(&h, &mut plaintext("10.0.0.1")).unwrap()),
            (None, Some("xfcc"), Some("xfcc_without_mtls"))
        );
        let two = headers(&[(
            XFCC_HEADER,
            "URI=spiffe://example.org/a,URI=spiffe://example.org/b",
        )]);
        assert_eq!(
            who(&xfcc_only
                .resolve(&two, &mut mtls("spiffe://example.org/a"))
                .unwrap()),
            (None, Some("xfcc"), Some("xfcc_not_one_element"))
        );
        let bad = headers(&[(XFCC_HEADER, "URI=\"open")]);
        assert_eq!(
            who(&xfcc_only
                .resolve(&bad, &mut mtls("spiffe://example.org/a"))
                .unwrap()),
            (None, Some("xfcc"), Some("xfcc_malformed"))
        );
        let foreign = headers(&[(XFCC_HEADER, "URI=spiffe://other.org/a")]);
        assert_eq!(
            who(&xfcc_only
                .resolve(&foreign, &mut mtls("spiffe://other.org/a"))
                .unwrap()),
            (None, Some("xfcc"), Some("untrusted_domain"))
        );
        assert_eq!(
            who(&xfcc_only
                .resolve(&headers(&[]), &mut mtls("spiffe://example.org/a"))
                .unwrap()),
            (None, None, None)
        );
    }

    #[test]
    fn caller_header_only_from_trusted_connections() {
        let r = resolver(ALL_SOURCES).unwrap();
        let h = headers(&[("x-service-name", "payments")]);
        let id = r.resolve(&h, &mut plaintext("10.1.2.3")).unwrap();
        assert_eq!(who(&id), (Some("payments"), Some("caller_header"), None));
        // mTLS without a URI SAN: no certificate identity, the header is trusted.
        let mut no_san = Fake {
            mtls: true,
            san: None,
            ip: Some("192.168.0.1".parse().unwrap()),
        };
        assert_eq!(
            who(&r.resolve(&h, &mut no_san).unwrap()),
            (Some("payments"), Some("caller_header"), None)
        );
        // A plaintext caller outside the trusted CIDRs claiming a name.
        let id = r.resolve(&h, &mut plaintext("192.168.0.1")).unwrap();
        assert_eq!(
            who(&id),
            (None, Some("caller_header"), Some("untrusted_caller_header"))
        );
        // Even from a CIDR that would identify it by address.
        let id = r.resolve(&h, &mut plaintext("10.2.0.1")).unwrap();
        assert_eq!(
            who(&id),
            (None, Some("caller_header"), Some("untrusted_caller_header"))
        );
        let bad = headers(&[("x-service-name", "pay ments")]);
        let id = r.resolve(&bad, &mut plaintext("10.1.2.3")).unwrap();
        assert_eq!(
            who(&id),
            (None, Some("caller_header"), Some("invalid_caller_header"))
        );
    }

    #[test]
    fn source_addresses_name_callers() {
        let r = resolver(ALL_SOURCES).unwrap();
        let id = r
            .resolve(&headers(&[]), &mut plaintext("10.2.9.9"))
            .unwrap();
        assert_eq!(who(&id), (Some("batch"), Some("source_address"), None));
        let id = r
            .resolve(&headers(&[]), &mut plaintext("10.3.0.1"))
            .unwrap();
        assert_eq!(who(&id), (None, None, None));
    }

    #[test]
    fn a_header_trusted_only_by_address_may_come_first() {
        let r = resolver(
            r#"{"sources": ["caller_header", "peer_certificate"], "spiffe": {"trust_domains": ["example.org"]},
                "caller_header": {"name": "x-service-name", "trust_mtls": false, "trusted_cidrs": ["10.1.0.0/16"]}}"#,
        )
        .unwrap();
        let h = headers(&[("x-service-name", "payments")]);
        let id = r.resolve(&h, &mut plaintext("10.1.0.1")).unwrap();
        assert_eq!(who(&id), (Some("payments"), Some("caller_header"), None));
        // From an mTLS peer outside the CIDRs, the header is not trusted.
        let mut peer = mtls("spiffe://example.org/ns/shop/sa/frontend");
        let id = r.resolve(&h, &mut peer).unwrap();
        assert_eq!(
            who(&id),
            (None, Some("caller_header"), Some("untrusted_caller_header"))
        );
    }

    #[test]
    fn repeated_identity_headers_are_refused() {
        let r = resolver(ALL_SOURCES).unwrap();
        let h = headers(&[("x-service-name", "a"), ("X-Service-Name", "b")]);
        assert_eq!(
            r.resolve(&h, &mut plaintext("10.1.2.3")),
            Err(RepeatedIdentityHeader("x-service-name"))
        );
        let h = headers(&[(XFCC_HEADER, "URI=a"), (XFCC_HEADER, "URI=b")]);
        assert_eq!(
            r.resolve(&h, &mut mtls("spiffe://example.org/a")),
            Err(RepeatedIdentityHeader(XFCC_HEADER))
        );
    }
}
