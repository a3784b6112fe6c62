//! Recording one request when its stream ends: reads what Envoy knows about the exchange
//! (response code and flags, sizes and connection security in one host call, peer
//! certificates when needed), the request headers as they arrived (kept by the SDK), the
//! caller an earlier stage verified, and records the metrics with the labels of the
//! configured naming mode. The duration is measured with the module's clock, from the
//! request headers to the end of the stream.

use crate::config::{DestinationFrom, Direction, Naming, Settings, LATEST, UNKNOWN};
use crate::flags;
use crate::grpc;
use crate::labels::{Digits, Families, Labels, Measurements, Side};
use crate::peer::{self, Claim, Party};
use wasmesh_sdk::properties::AttributeBatch;
use wasmesh_sdk::{host, properties, Http, VerifiedCaller};

/// `reporter` of an inbound sidecar.
const REPORTER_DESTINATION: &str = "destination";
/// `reporter` of an outbound sidecar.
const REPORTER_SOURCE: &str = "source";
/// `connection_security_policy` of a mutual TLS connection.
const MUTUAL_TLS: &str = "mutual_tls";
/// `connection_security_policy` of a connection without a client certificate.
const NO_TLS: &str = "none";

/// What every request reports, whichever the direction.
struct Outcome<'a> {
    protocol: &'static str,
    code: &'a str,
    grpc_status: &'static str,
    flags: &'a str,
}

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

/// The attributes [`record`] reads for a sidecar on this side, as one batch (compiled once
/// per configuration: Envoy keeps the compiled expression per plugin).
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

/// What [`record`] works with: the compiled configuration, the metric families and the
/// batch of attributes from [`attributes`].
pub struct Recorder<'a> {
    /// The validated settings.
    pub settings: &'a Settings,
    /// The metric families.
    pub families: &'a Families,
    /// The end-of-stream attributes, for `settings.direction`.
    pub attributes: &'a AttributeBatch,
}

/// Records the request whose stream just ended; `started_nanos` is when its request
/// headers arrived, by the module's clock (`None`: they never did).
pub fn record(recorder: &Recorder<'_>, http: &Http, started_nanos: Option<u64>) {
    let Recorder {
        settings,
        families,
        attributes,
    } = *recorder;
    // A caller handed on by a filter before this one makes the caller-name header moot.
    if reads_several_request_headers(settings) && http.verified_caller().is_none() {
        // One read of the header list costs less in Envoy than two reads of one header;
        // `http` keeps the list, and the single-header reads below are served from it. In
        // a bundle the stages before this one read it already: no host call at all.
        http.request_headers();
    }
    let attributes = attributes.read();
    let code = attributes
        .int(AT_CODE)
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or(0);
    let code_digits = Digits::new(code);
    let flags = flags::short_form(attributes.uint(AT_FLAGS).unwrap_or(0));
    let is_grpc = http
        .request_header("content-type")
        .is_some_and(|value| grpc::is_grpc_content_type(&value));
    let grpc_status = if is_grpc {
        let trailers = http.response_trailers();
        let header = http.response_header("grpc-status");
        grpc::response_status(trailers.first("grpc-status"), header.as_deref(), code)
            .map_or("", grpc::status_label)
    } else {
        ""
    };
    let outcome = Outcome {
        protocol: if is_grpc { "grpc" } else { "http" },
        code: code_digits.as_str(),
        grpc_status,
        flags: &flags,
    };
    let elapsed_nanos =
        started_nanos.map_or(0, |started| host::now_nanos().saturating_sub(started));
    let measured = Measurements {
        duration_ms: elapsed_nanos / 1_000_000,
        request_bytes: attributes.uint(AT_REQUEST_SIZE).unwrap_or(0),
        response_bytes: attributes.uint(AT_RESPONSE_SIZE).unwrap_or(0),
    };
    match settings.direction {
        Direction::Inbound => {
            let mtls = attributes.bool(AT_MTLS) == Some(true);
            inbound(settings, families, http, mtls, &outcome, measured);
        }
        Direction::Outbound => outbound(settings, families, http, &outcome, measured),
    }
}

/// Whether recording a request reads more than one request header: `content-type`
/// always, and the trusted caller-name header or `:authority` when configured.
fn reads_several_request_headers(settings: &Settings) -> bool {
    match settings.direction {
        Direction::Inbound => settings.trusted_header.is_some(),
        Direction::Outbound => settings.destination_from == DestinationFrom::Authority,
    }
}

/// The caller's claim on an inbound request (see [`peer::inbound_claim`]); the request
/// headers are read only when the trusted header could count.
fn inbound_claim(settings: &Settings, http: &Http, mtls: bool) -> Claim {
    if mtls {
        return peer::inbound_claim(true, properties::peer_uri_san(), None);
    }
    let Some(trusted) = &settings.trusted_header else {
        return Claim::Nobody;
    };
    let peer_ip = properties::source_ip();
    if !peer_ip.is_some_and(|ip| trusted.from.iter().any(|block| block.contains(ip))) {
        return Claim::Nobody;
    }
    peer::header_claim(trusted, peer_ip, &http.request_headers())
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
fn local_side<'a>(settings: &'a Settings, principal: &'a str) -> Side<'a> {
    let local = &settings.local;
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

fn inbound(
    settings: &Settings,
    families: &Families,
    http: &Http,
    mtls: bool,
    outcome: &Outcome<'_>,
    measured: Measurements,
) {
    let verified = http.verified_caller();
    let claim = match verified {
        Some(_) => Claim::Nobody,
        None => inbound_claim(settings, http, mtls),
    };
    let caller = caller(settings, verified.as_deref(), &claim);
    let local_san = match settings.naming {
        Naming::Istio => properties::string(&["connection", "uri_san_local_certificate"]),
        Naming::Native => None,
    };
    let local = name_san(settings, local_san.as_deref());
    let labels = Labels {
        reporter: REPORTER_DESTINATION,
        source: peer_side(caller),
        destination: local_side(settings, local.principal),
        destination_host: &settings.service_host,
        request_protocol: outcome.protocol,
        response_code: outcome.code,
        grpc_response_status: outcome.grpc_status,
        response_flags: outcome.flags,
        connection_security_policy: if mtls { MUTUAL_TLS } else { NO_TLS },
    };
    families.record(&labels, measured);
}

/// Names the party of a certificate's URI SAN, if any.
fn name_san<'a>(settings: &'a Settings, san: Option<&'a str>) -> Party<'a> {
    san.map_or(Party::UNKNOWN, |san| {
        peer::name_spiffe(&settings.mapping, san)
    })
}

/// How the upstream connection was secured: a client certificate presented (`mutual_tls`),
/// an upstream connection without one (`none`), or no upstream connection (`unknown`).
fn upstream_security() -> &'static str {
    let presented = properties::string(&["upstream", "subject_local_certificate"])
        .is_some_and(|subject| !subject.is_empty());
    if presented {
        MUTUAL_TLS
    } else if properties::string(&["upstream", "address"]).is_some_and(|a| !a.is_empty()) {
        NO_TLS
    } else {
        UNKNOWN
    }
}

fn outbound(
    settings: &Settings,
    families: &Families,
    http: &Http,
    outcome: &Outcome<'_>,
    measured: Measurements,
) {
    let raw = match settings.destination_from {
        DestinationFrom::Cluster => properties::cluster_name(),
        DestinationFrom::Authority => http
            .request_header(":authority")
            .and_then(|authority| peer::authority_host(&authority)),
    };
    let destination = raw.as_deref().map_or(Party::UNKNOWN, |raw| {
        peer::name_destination(&settings.destinations, raw)
    });
    let (local_san, peer_san) = match settings.naming {
        Naming::Istio => (
            properties::string(&["upstream", "uri_san_local_certificate"]),
            properties::string(&["upstream", "uri_san_peer_certificate"]),
        ),
        Naming::Native => (None, None),
    };
    let local = name_san(settings, local_san.as_deref());
    let server = name_san(settings, peer_san.as_deref());
    let namespace = if destination.namespace == UNKNOWN {
        server.namespace
    } else {
        destination.namespace
    };
    let labels = Labels {
        reporter: REPORTER_SOURCE,
        source: local_side(settings, local.principal),
        destination: peer_side(Party {
            namespace,
            principal: server.principal,
            ..destination
        }),
        destination_host: match &raw {
            Some(raw) if destination.service != UNKNOWN => peer::cluster_host(raw),
            _ => UNKNOWN,
        },
        request_protocol: outcome.protocol,
        response_code: outcome.code,
        grpc_response_status: outcome.grpc_status,
        response_flags: outcome.flags,
        connection_security_policy: upstream_security(),
    };
    families.record(&labels, measured);
}
