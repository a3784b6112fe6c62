//! What one request records when its stream ends, as a plain function of what Envoy
//! reports about the exchange.
//!
//! [`report`] takes an [`Exchange`] (the end-of-stream attributes, read in one host call,
//! the request headers, the caller an earlier stage verified and the duration) and, behind
//! [`Facts`], what only some requests' labels depend on (the gRPC status headers, peer
//! certificates, the source address, upstream attributes), asked for only in the cases
//! that need them. The [`Report`] it returns holds the samples and gives the label values
//! of the configured naming mode ([`Report::labels`]). The filter reads the exchange
//! through the host and records the report in its metric families; tests give plain
//! values. The duration is measured with the module's clock, from the request headers to
//! the end of the stream.
//!
//! The functions here run once per request, each from one place: they are `#[inline]`, so
//! the module keeps one function for the whole report (calls between them would cost more
//! code than they save, at `opt-level = "z"`).

use crate::config::{DestinationFrom, Direction, LocalLabels, Naming, Settings, LATEST, UNKNOWN};
use crate::flags;
use crate::grpc;
use crate::labels::{Digits, Labels, Measurements, Side};
use crate::peer::{self, Claim, Party};
use std::borrow::Cow;
use std::rc::Rc;
use wasmesh_identity::parse_source_address;
use wasmesh_sdk::{AttributeBatch, AttributeValues, HeaderMap, VerifiedCaller};

/// `reporter` of an inbound sidecar.
const REPORTER_DESTINATION: &str = "destination";
/// `reporter` of an outbound sidecar.
const REPORTER_SOURCE: &str = "source";
/// `connection_security_policy` of a mutual TLS connection.
const MUTUAL_TLS: &str = "mutual_tls";
/// `connection_security_policy` of a connection without a client certificate.
const NO_TLS: &str = "none";

/// What Envoy knows of an inbound exchange when its stream ends, read in one host call
/// (see [`AttributeBatch`]); the positions are the `AT_*` constants.
const INBOUND_ATTRIBUTES: &[&[&str]] = &[
    &["response", "code"],
    &["response", "flags"],
    &["request", "total_size"],
    &["response", "total_size"],
    &["connection", "mtls"],
];

/// The same for an outbound exchange, whose security is the upstream connection's.
const OUTBOUND_ATTRIBUTES: &[&[&str]] = &[
    &["response", "code"],
    &["response", "flags"],
    &["request", "total_size"],
    &["response", "total_size"],
];

/// The attributes of an [`Exchange`] for a sidecar on this side, as one batch (compiled
/// once per configuration: Envoy keeps the compiled expression per plugin).
pub fn attributes(direction: Direction) -> AttributeBatch {
    AttributeBatch::new(match direction {
        Direction::Inbound => INBOUND_ATTRIBUTES,
        Direction::Outbound => OUTBOUND_ATTRIBUTES,
    })
}

const AT_CODE: usize = 0;
const AT_FLAGS: usize = 1;
const AT_REQUEST_SIZE: usize = 2;
const AT_RESPONSE_SIZE: usize = 3;
const AT_MTLS: usize = 4;

/// What every finished exchange tells, whatever the direction and configuration.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `response.code`, the HTTP status sent downstream (`None`: no response was sent).
    pub response_code: Option<i64>,
    /// `response.flags`, Envoy's response flag bits.
    pub response_flags: Option<u64>,
    /// `request.total_size`, headers and body.
    pub request_size: Option<u64>,
    /// `response.total_size`, headers and body.
    pub response_size: Option<u64>,
    /// `connection.mtls`; read by an inbound sidecar only.
    pub mtls: Option<bool>,
    /// The request headers (`content-type`; `:authority` or the trusted caller header
    /// when configured).
    pub request: &'a HeaderMap,
    /// The caller a filter before this one in the module verified.
    pub verified: Option<&'a VerifiedCaller>,
    /// Nanoseconds from the request headers to the end of the stream (0: the request
    /// headers never arrived).
    pub elapsed_nanos: u64,
}

impl<'a> Exchange<'a> {
    /// The exchange whose end-of-stream attributes are `values`, read with the batch of
    /// [`attributes`].
    #[inline]
    pub fn new(
        values: &AttributeValues,
        request: &'a HeaderMap,
        verified: Option<&'a VerifiedCaller>,
        elapsed_nanos: u64,
    ) -> Self {
        Self {
            response_code: values.int(AT_CODE),
            response_flags: values.uint(AT_FLAGS),
            request_size: values.uint(AT_REQUEST_SIZE),
            response_size: values.uint(AT_RESPONSE_SIZE),
            mtls: values.bool(AT_MTLS),
            request,
            verified,
            elapsed_nanos,
        }
    }
}

/// What only some exchanges' labels depend on: [`report`] asks for each fact in the cases
/// that need it, at most once. The filter answers through the host.
pub trait Facts {
    /// The raw bytes of an Envoy attribute (`connection.uri_san_peer_certificate`);
    /// `None` when it has no value.
    fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>>;

    /// A string attribute; bytes that are not UTF-8 are replaced.
    fn string(&self, path: &[&str]) -> Option<String> {
        self.attribute(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The response headers (asked for gRPC requests only).
    fn response_headers(&self) -> HeaderMap;

    /// The response trailers (asked for gRPC requests only).
    fn response_trailers(&self) -> HeaderMap;
}

/// A string attribute, `None` when empty.
fn non_empty<F: Facts + ?Sized>(facts: &F, path: &[&str]) -> Option<String> {
    facts.string(path).filter(|value| !value.is_empty())
}

/// What one finished exchange records: the samples, and the evidence its label values are
/// named from ([`Report::labels`]).
#[derive(Debug)]
pub struct Report<'a> {
    settings: &'a Settings,
    local: &'a LocalLabels,
    parties: Parties<'a>,
    protocol: &'static str,
    code: Digits,
    grpc_status: &'static str,
    flags: Cow<'static, str>,
    security: &'static str,
    /// The samples of the duration and size histograms.
    pub measured: Measurements,
}

/// What names the two parties of an exchange, by the sidecar's side.
#[derive(Debug)]
enum Parties<'a> {
    /// The caller is the peer; this sidecar's workload is the destination.
    Inbound {
        verified: Option<&'a VerifiedCaller>,
        claim: Claim,
        local_san: Option<String>,
    },
    /// This sidecar's workload is the caller; the destination is named from its raw name
    /// (cluster or authority host) and the server's certificate.
    Outbound {
        raw: Option<String>,
        local_san: Option<String>,
        peer_san: Option<String>,
    },
}

/// What the request whose stream ended records, from `exchange` and the `facts` its labels
/// depend on (asked for only when they do, as the filter's host calls). `local` is this
/// sidecar's own workload labels: the listener's, whatever `routes` entry `settings` is.
#[inline]
pub fn report<'a, F: Facts + ?Sized>(
    settings: &'a Settings,
    local: &'a LocalLabels,
    exchange: &Exchange<'a>,
    facts: &F,
) -> Report<'a> {
    let code = exchange
        .response_code
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or(0);
    let is_grpc = exchange
        .request
        .first("content-type")
        .is_some_and(grpc::is_grpc_content_type);
    let grpc_status = if is_grpc {
        let trailers = facts.response_trailers();
        let headers = facts.response_headers();
        grpc::response_status(
            trailers.first("grpc-status"),
            headers.first("grpc-status"),
            code,
        )
        .map_or("", grpc::status_label)
    } else {
        ""
    };
    let measured = Measurements {
        duration_ms: exchange.elapsed_nanos / 1_000_000,
        request_bytes: exchange.request_size.unwrap_or(0),
        response_bytes: exchange.response_size.unwrap_or(0),
    };
    let (parties, security) = match settings.direction {
        Direction::Inbound => inbound(settings, exchange, facts),
        Direction::Outbound => outbound(settings, exchange.request, facts),
    };
    Report {
        settings,
        local,
        parties,
        protocol: if is_grpc { "grpc" } else { "http" },
        code: Digits::new(code),
        grpc_status,
        flags: flags::short_form(exchange.response_flags.unwrap_or(0)),
        security,
        measured,
    }
}

/// The caller's claim on an inbound request (see [`peer::inbound_claim`]): the peer
/// certificate on a mutual TLS connection, else the trusted header when configured and the
/// peer address is trusted (the address is read only then).
#[inline]
fn inbound_claim<F: Facts + ?Sized>(
    settings: &Settings,
    request: &HeaderMap,
    mtls: bool,
    facts: &F,
) -> Claim {
    if mtls {
        let san = non_empty(facts, &["connection", "uri_san_peer_certificate"]);
        return peer::inbound_claim(true, san, None);
    }
    let Some(trusted) = &settings.trusted_header else {
        return Claim::Nobody;
    };
    let peer_ip = facts
        .attribute(&["source", "address"])
        .and_then(|address| parse_source_address(std::str::from_utf8(&address).ok()?));
    if !peer_ip.is_some_and(|ip| trusted.from.iter().any(|block| block.contains(ip))) {
        return Claim::Nobody;
    }
    peer::header_claim(trusted, peer_ip, request)
}

/// The parties and connection security of an inbound exchange.
#[inline]
fn inbound<'a, F: Facts + ?Sized>(
    settings: &Settings,
    exchange: &Exchange<'a>,
    facts: &F,
) -> (Parties<'a>, &'static str) {
    let mtls = exchange.mtls == Some(true);
    // A caller handed on by a filter before this one makes this filter's own claim moot.
    let claim = match exchange.verified {
        Some(_) => Claim::Nobody,
        None => inbound_claim(settings, exchange.request, mtls, facts),
    };
    let local_san = match settings.naming {
        Naming::Istio => facts.string(&["connection", "uri_san_local_certificate"]),
        Naming::Native => None,
    };
    let parties = Parties::Inbound {
        verified: exchange.verified,
        claim,
        local_san,
    };
    (parties, if mtls { MUTUAL_TLS } else { NO_TLS })
}

/// The parties and connection security of an outbound exchange.
#[inline]
fn outbound<F: Facts + ?Sized>(
    settings: &Settings,
    request: &HeaderMap,
    facts: &F,
) -> (Parties<'static>, &'static str) {
    let raw = match settings.destination_from {
        DestinationFrom::Cluster => non_empty(facts, &["xds", "cluster_name"]),
        DestinationFrom::Authority => request.first(":authority").and_then(peer::authority_host),
    };
    let (local_san, peer_san) = match settings.naming {
        Naming::Istio => (
            facts.string(&["upstream", "uri_san_local_certificate"]),
            facts.string(&["upstream", "uri_san_peer_certificate"]),
        ),
        Naming::Native => (None, None),
    };
    let parties = Parties::Outbound {
        raw,
        local_san,
        peer_san,
    };
    (parties, upstream_security(facts))
}

/// How the upstream connection was secured: a client certificate presented (`mutual_tls`),
/// an upstream connection without one (`none`), or no upstream connection (`unknown`).
#[inline]
fn upstream_security<F: Facts + ?Sized>(facts: &F) -> &'static str {
    if non_empty(facts, &["upstream", "subject_local_certificate"]).is_some() {
        MUTUAL_TLS
    } else if non_empty(facts, &["upstream", "address"]).is_some() {
        NO_TLS
    } else {
        UNKNOWN
    }
}

impl Report<'_> {
    /// The label values of the exchange: the parties named through the configured SPIFFE
    /// mapping and destinations, in the configured naming mode's terms.
    #[inline]
    pub fn labels(&self) -> Labels<'_> {
        let settings = self.settings;
        let (reporter, source, destination, destination_host) = match &self.parties {
            Parties::Inbound {
                verified,
                claim,
                local_san,
            } => {
                let local = name_san(settings, local_san.as_deref());
                (
                    REPORTER_DESTINATION,
                    peer_side(caller(settings, *verified, claim)),
                    local_side(settings, self.local, local.principal),
                    settings.service_host.as_str(),
                )
            }
            Parties::Outbound {
                raw,
                local_san,
                peer_san,
            } => {
                let destination = raw.as_deref().map_or(Party::UNKNOWN, |raw| {
                    peer::name_destination(&settings.destinations, raw)
                });
                let local = name_san(settings, local_san.as_deref());
                let server = name_san(settings, peer_san.as_deref());
                let namespace = if destination.namespace == UNKNOWN {
                    server.namespace
                } else {
                    destination.namespace
                };
                let host = match raw {
                    Some(raw) if destination.service != UNKNOWN => peer::cluster_host(raw),
                    _ => UNKNOWN,
                };
                let server = Party {
                    namespace,
                    principal: server.principal,
                    ..destination
                };
                (
                    REPORTER_SOURCE,
                    local_side(settings, self.local, local.principal),
                    peer_side(server),
                    host,
                )
            }
        };
        Labels {
            reporter,
            source,
            destination,
            destination_host,
            request_protocol: self.protocol,
            response_code: self.code.as_str(),
            grpc_response_status: self.grpc_status,
            response_flags: &self.flags,
            connection_security_policy: self.security,
        }
    }
}

/// The caller: the one a filter before this one in the module verified (access-control in
/// the bundle), else named from this filter's own claim.
fn caller<'a>(
    settings: &'a Settings,
    verified: Option<&'a VerifiedCaller>,
    claim: &'a Claim,
) -> Party<'a> {
    match verified {
        Some(caller) => peer::name_verified(&settings.mapping, caller),
        None => peer::name_claim(&settings.mapping, claim),
    }
}

/// The labels of a peer: what its party names, nothing known of its pod (Istio's values
/// for a peer without metadata).
#[inline(never)]
fn peer_side(party: Party<'_>) -> Side<'_> {
    Side {
        workload: party.service,
        service: party.service,
        namespace: party.namespace,
        principal: party.principal,
        app: UNKNOWN,
        version: UNKNOWN,
        revision: LATEST,
        cluster: UNKNOWN,
    }
}

/// The labels of this sidecar's own workload, computed when configured; `principal` is its
/// certificate's SPIFFE ID.
#[inline(never)]
fn local_side<'a>(settings: &'a Settings, local: &'a LocalLabels, principal: &'a str) -> Side<'a> {
    Side {
        workload: &local.workload,
        service: &settings.service,
        namespace: &settings.namespace,
        principal,
        app: &local.app,
        version: &local.version,
        revision: &local.revision,
        cluster: &local.cluster,
    }
}

/// Names the party of a certificate's URI SAN, if any.
fn name_san<'a>(settings: &'a Settings, san: Option<&'a str>) -> Party<'a> {
    san.map_or(Party::UNKNOWN, |san| {
        peer::name_spiffe(&settings.mapping, san)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::config::Config;
    use crate::workload::Workload;
    use std::cell::RefCell;

    /// Plain facts: attributes by path, response headers and trailers; remembers what was
    /// asked, in order.
    #[derive(Default)]
    struct Plain {
        attributes: Vec<(&'static [&'static str], &'static str)>,
        response: Vec<(&'static str, &'static str)>,
        trailers: Vec<(&'static str, &'static str)>,
        asked: RefCell<Vec<String>>,
    }

    impl Plain {
        fn with(mut self, path: &'static [&'static str], value: &'static str) -> Self {
            self.attributes.push((path, value));
            self
        }

        fn asked(&self) -> Vec<String> {
            self.asked.borrow().clone()
        }
    }

    impl Facts for Plain {
        fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>> {
            self.asked.borrow_mut().push(path.join("."));
            let (_, value) = self.attributes.iter().find(|(p, _)| *p == path)?;
            Some(Rc::from(value.as_bytes()))
        }

        fn response_headers(&self) -> HeaderMap {
            self.asked.borrow_mut().push("response headers".into());
            HeaderMap::from(self.response.as_slice())
        }

        fn response_trailers(&self) -> HeaderMap {
            self.asked.borrow_mut().push("response trailers".into());
            HeaderMap::from(self.trailers.as_slice())
        }
    }

    /// The settings of this configuration, with `node` as the node metadata.
    fn settings(json: &str, node: Workload) -> Settings {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap();
        let mut settings = Settings::compile(Config::read(&value).unwrap()).unwrap();
        settings.adopt(node);
        settings
    }

    /// The native label values of the exchange.
    fn native(settings: &Settings, exchange: &Exchange<'_>, facts: &Plain) -> Vec<String> {
        let recorded = report(settings, &settings.local, exchange, facts);
        recorded.labels().native().map(str::to_owned).to_vec()
    }

    /// A plain HTTP exchange answered 200.
    fn exchange(request: &HeaderMap) -> Exchange<'_> {
        Exchange {
            response_code: Some(200),
            response_flags: Some(0),
            request_size: Some(100),
            response_size: Some(250),
            mtls: Some(false),
            request,
            verified: None,
            elapsed_nanos: 12_345_678,
        }
    }

    fn get(extra: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::from(
            [
                (":method", "GET"),
                (":path", "/"),
                (":authority", "reviews"),
            ]
            .as_slice(),
        );
        for (name, value) in extra {
            headers.push(name.as_bytes(), value.as_bytes());
        }
        headers
    }

    const INBOUND: &str = r#"{"direction": "inbound", "service": "reviews",
        "spiffe": {"trust_domains": ["example.org"]}}"#;
    const FRONTEND: &str = "spiffe://example.org/ns/shop/sa/frontend";

    #[test]
    fn inbound_mtls_names_the_source_from_the_spiffe_id() {
        let settings = settings(INBOUND, Workload::default());
        let request = get(&[]);
        let exchange = Exchange {
            mtls: Some(true),
            ..exchange(&request)
        };
        let facts = Plain::default().with(&["connection", "uri_san_peer_certificate"], FRONTEND);
        let recorded = report(&settings, &settings.local, &exchange, &facts);
        let labels = recorded.labels();
        assert_eq!(
            labels.native(),
            [
                "destination",
                "frontend",
                "reviews",
                "http",
                "200",
                "",
                "-",
                "mutual_tls"
            ]
        );
        assert_eq!(labels.source.principal, FRONTEND);
        assert_eq!(labels.source.namespace, "shop");
        assert_eq!(
            recorded.measured,
            Measurements {
                duration_ms: 12,
                request_bytes: 100,
                response_bytes: 250,
            }
        );
        // Only the peer certificate is asked for: no source address, no local certificate
        // (native naming), no response headers (not gRPC).
        assert_eq!(facts.asked(), ["connection.uri_san_peer_certificate"]);
    }

    #[test]
    fn an_untrusted_domain_or_plaintext_leaves_the_source_unknown() {
        let settings = settings(INBOUND, Workload::default());
        let request = get(&[("x-wasmesh-caller", "frontend")]);
        let evil = Plain::default().with(
            &["connection", "uri_san_peer_certificate"],
            "spiffe://evil.org/ns/shop/sa/frontend",
        );
        let secure = Exchange {
            mtls: Some(true),
            ..exchange(&request)
        };
        let labels = native(&settings, &secure, &evil);
        assert_eq!((&*labels[1], &*labels[7]), ("unknown", "mutual_tls"));

        // Without a trusted header configured, a plaintext caller is not even looked up.
        let plain = Plain::default().with(&["source", "address"], "10.0.0.1:5000");
        let labels = native(&settings, &exchange(&request), &plain);
        assert_eq!((&*labels[1], &*labels[7]), ("unknown", "none"));
        assert!(plain.asked().is_empty());
    }

    #[test]
    fn a_trusted_header_counts_only_from_a_trusted_address() {
        let settings = settings(
            r#"{"direction": "inbound", "service": "reviews",
                "trusted_source_header": {"name": "x-wasmesh-caller", "from_cidrs": ["10.0.0.0/8"]}}"#,
            Workload::default(),
        );
        let request = get(&[("x-wasmesh-caller", "batch")]);
        let source = |address: &'static str| {
            let facts = Plain::default().with(&["source", "address"], address);
            let labels = native(&settings, &exchange(&request), &facts);
            (labels[1].clone(), facts.asked())
        };
        assert_eq!(
            source("10.1.2.3:4000"),
            ("batch".into(), vec!["source.address".into()])
        );
        assert_eq!(source("192.168.0.1:4000").0, "unknown");
    }

    #[test]
    fn a_verified_caller_is_the_source_and_nothing_else_is_read() {
        let settings = settings(INBOUND, Workload::default());
        let request = get(&[]);
        let caller = VerifiedCaller {
            service: "checkout".into(),
            spiffe_id: Some("spiffe://example.org/ns/pay/sa/checkout".into()),
        };
        let exchange = Exchange {
            mtls: Some(true),
            verified: Some(&caller),
            ..exchange(&request)
        };
        let facts = Plain::default().with(&["connection", "uri_san_peer_certificate"], FRONTEND);
        let recorded = report(&settings, &settings.local, &exchange, &facts);
        let labels = recorded.labels();
        assert_eq!(labels.source.service, "checkout");
        assert_eq!(labels.source.namespace, "pay");
        assert!(facts.asked().is_empty());
    }

    #[test]
    fn istio_naming_labels_both_workloads() {
        let node = Workload {
            name: Some("reviews-v1".into()),
            namespace: Some("shop".into()),
            service: Some("reviews".into()),
            revision: Some("v1".into()),
            app: Some("reviews".into()),
            version: Some("1.0".into()),
            cluster: Some("east".into()),
        };
        let settings = settings(
            r#"{"direction": "inbound", "naming": "istio",
                "spiffe": {"trust_domains": ["example.org"]}}"#,
            node,
        );
        let request = get(&[]);
        let exchange = Exchange {
            mtls: Some(true),
            ..exchange(&request)
        };
        let local = "spiffe://example.org/ns/shop/sa/reviews";
        let facts = Plain::default()
            .with(&["connection", "uri_san_peer_certificate"], FRONTEND)
            .with(&["connection", "uri_san_local_certificate"], local);
        let recorded = report(&settings, &settings.local, &exchange, &facts);
        let istio = recorded.labels().istio();
        let label = |name: &str| {
            let at = crate::labels::ISTIO_LABELS
                .iter()
                .position(|n| *n == name)
                .unwrap();
            istio[at]
        };
        assert_eq!(label("reporter"), "destination");
        assert_eq!(label("source_workload"), "frontend");
        assert_eq!(label("source_principal"), FRONTEND);
        assert_eq!(label("source_workload_namespace"), "shop");
        assert_eq!(label("source_app"), "unknown");
        assert_eq!(label("source_canonical_revision"), "latest");
        assert_eq!(label("destination_workload"), "reviews-v1");
        assert_eq!(label("destination_principal"), local);
        assert_eq!(label("destination_service"), "reviews");
        assert_eq!(label("destination_version"), "1.0");
        assert_eq!(label("destination_canonical_revision"), "v1");
        assert_eq!(label("destination_cluster"), "east");
        assert_eq!(label("connection_security_policy"), "mutual_tls");
        assert_eq!(
            facts.asked(),
            [
                "connection.uri_san_peer_certificate",
                "connection.uri_san_local_certificate"
            ]
        );
    }

    #[test]
    fn outbound_names_the_destination_from_the_cluster() {
        let settings = settings(
            r#"{"direction": "outbound", "service": "productpage"}"#,
            Workload::default(),
        );
        let request = get(&[]);
        let exchange = Exchange {
            mtls: None,
            ..exchange(&request)
        };
        let facts = Plain::default()
            .with(
                &["xds", "cluster_name"],
                "outbound|9080||reviews.shop.svc.cluster.local",
            )
            .with(&["upstream", "address"], "10.0.0.2:9080");
        let recorded = report(&settings, &settings.local, &exchange, &facts);
        let labels = recorded.labels();
        assert_eq!(
            labels.native(),
            [
                "source",
                "productpage",
                "reviews",
                "http",
                "200",
                "",
                "-",
                "none"
            ]
        );
        assert_eq!(labels.destination.namespace, "shop");
        assert_eq!(labels.destination_host, "reviews.shop.svc.cluster.local");
        assert_eq!(
            facts.asked(),
            [
                "xds.cluster_name",
                "upstream.subject_local_certificate",
                "upstream.address"
            ]
        );
    }

    #[test]
    fn outbound_security_follows_the_upstream_connection() {
        let settings = settings(
            r#"{"direction": "outbound", "service": "productpage", "destination_from": "authority"}"#,
            Workload::default(),
        );
        let request = get(&[]);
        let security = |facts: &Plain| {
            let exchange = exchange(&request);
            native(&settings, &exchange, facts)[7].clone()
        };
        let presented = Plain::default().with(&["upstream", "subject_local_certificate"], "CN=pp");
        assert_eq!(security(&presented), "mutual_tls");
        // The address is read only without a client certificate.
        assert_eq!(presented.asked(), ["upstream.subject_local_certificate"]);
        let plain = Plain::default().with(&["upstream", "address"], "10.0.0.2:9080");
        assert_eq!(security(&plain), "none");
        assert_eq!(security(&Plain::default()), "unknown");
    }

    #[test]
    fn a_local_reply_reports_its_code_and_flags() {
        let settings = settings(INBOUND, Workload::default());
        let request = get(&[]);
        let exchange = Exchange {
            response_code: Some(503),
            response_flags: Some((1 << 5) | (1 << 15)),
            ..exchange(&request)
        };
        let recorded = report(&settings, &settings.local, &exchange, &Plain::default());
        let labels = recorded.labels();
        assert_eq!(
            (labels.response_code, labels.response_flags),
            ("503", "UF,URX")
        );

        // A stream reset before any response and before the request headers arrived.
        let reset = Exchange {
            response_code: None,
            response_flags: Some(1 << 14),
            request_size: None,
            response_size: None,
            elapsed_nanos: 0,
            ..exchange
        };
        let recorded = report(&settings, &settings.local, &reset, &Plain::default());
        let labels = recorded.labels();
        assert_eq!((labels.response_code, labels.response_flags), ("0", "DC"));
        assert_eq!(recorded.measured, Measurements::default());
    }

    #[test]
    fn grpc_status_comes_from_trailers_then_headers_then_the_http_status() {
        let settings = settings(INBOUND, Workload::default());
        let request = get(&[("content-type", "application/grpc+proto")]);
        let status = |code: i64, facts: &Plain| {
            let exchange = Exchange {
                response_code: Some(code),
                ..exchange(&request)
            };
            let recorded = report(&settings, &settings.local, &exchange, facts);
            let labels = recorded.labels();
            assert_eq!(labels.request_protocol, "grpc");
            labels.grpc_response_status.to_owned()
        };
        let trailers = Plain {
            trailers: vec![("grpc-status", "5")],
            response: vec![("grpc-status", "7")],
            ..Plain::default()
        };
        assert_eq!(status(200, &trailers), "5");
        assert_eq!(trailers.asked(), ["response trailers", "response headers"]);
        let trailers_only = Plain {
            response: vec![("grpc-status", "7")],
            ..Plain::default()
        };
        assert_eq!(status(200, &trailers_only), "7");
        assert_eq!(status(503, &Plain::default()), "14");
        assert_eq!(status(0, &Plain::default()), "");

        // Not gRPC: no status, and the response is not read.
        let http = Plain {
            trailers: vec![("grpc-status", "5")],
            ..Plain::default()
        };
        let request = get(&[("content-type", "application/grpc-web")]);
        let recorded = report(&settings, &settings.local, &exchange(&request), &http);
        let labels = recorded.labels();
        assert_eq!(
            (labels.request_protocol, labels.grpc_response_status),
            ("http", "")
        );
        assert!(http.asked().is_empty());
    }
}
