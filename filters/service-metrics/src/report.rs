//! Recording one request when its stream ends: reads what Envoy knows about the exchange
//! (response code and flags, sizes, duration, peer certificates, the headers) and records
//! the metrics with the labels of the configured naming mode.

use crate::config::{DestinationFrom, Direction, Naming, Settings, UNKNOWN};
use crate::flags;
use crate::grpc;
use crate::labels::{Digits, Families, Labels, Measurements};
use crate::peer::{self, Claim, Party};
use wasmesh_sdk::identity::parse_source_address;
use wasmesh_sdk::{properties, Http};

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

/// Records the request whose stream just ended.
pub fn record(settings: &Settings, families: &Families, http: &Http) {
    if reads_several_request_headers(settings) {
        // One read of the header list costs less in Envoy than two reads of one header;
        // `http` keeps the list, and the single-header reads below are served from it.
        http.request_headers();
    }
    let code = properties::response_code().unwrap_or(0);
    let code_digits = Digits::new(code);
    let flags = flags::short_form(properties::response_flags().unwrap_or(0));
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
    let measured = Measurements {
        duration_ms: properties::request_duration_nanos().unwrap_or(0) / 1_000_000,
        request_bytes: properties::request_total_size().unwrap_or(0),
        response_bytes: properties::response_total_size().unwrap_or(0),
    };
    match settings.direction {
        Direction::Inbound => inbound(settings, families, http, &outcome, measured),
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
    let peer_ip = properties::source_address().and_then(|a| parse_source_address(&a));
    if !peer_ip.is_some_and(|ip| trusted.from.iter().any(|block| block.contains(ip))) {
        return Claim::Nobody;
    }
    peer::header_claim(trusted, peer_ip, &http.request_headers())
}

fn inbound(
    settings: &Settings,
    families: &Families,
    http: &Http,
    outcome: &Outcome<'_>,
    measured: Measurements,
) {
    let mtls = properties::mtls() == Some(true);
    let claim = inbound_claim(settings, http, mtls);
    let caller = peer::name_claim(&settings.mapping, &claim);
    let local_san = match settings.naming {
        Naming::Istio => properties::string(&["connection", "uri_san_local_certificate"]),
        Naming::Native => None,
    };
    let local = name_san(settings, local_san.as_deref());
    let labels = Labels {
        reporter: REPORTER_DESTINATION,
        source_service: caller.service,
        source_namespace: caller.namespace,
        source_principal: caller.principal,
        destination_service: &settings.service,
        destination_host: &settings.service_host,
        destination_namespace: &settings.namespace,
        destination_principal: local.principal,
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
    let destination_namespace = if destination.namespace == UNKNOWN {
        server.namespace
    } else {
        destination.namespace
    };
    let labels = Labels {
        reporter: REPORTER_SOURCE,
        source_service: &settings.service,
        source_namespace: &settings.namespace,
        source_principal: local.principal,
        destination_service: destination.service,
        destination_host: match &raw {
            Some(raw) if destination.service != UNKNOWN => peer::cluster_host(raw),
            _ => UNKNOWN,
        },
        destination_namespace,
        destination_principal: server.principal,
        request_protocol: outcome.protocol,
        response_code: outcome.code,
        grpc_response_status: outcome.grpc_status,
        response_flags: outcome.flags,
        connection_security_policy: upstream_security(),
    };
    families.record(&labels, measured);
}
