//! Every identity source, the order they are tried in, the verified caller passed
//! upstream, and the spoofing attempts each must withstand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

/// All four sources; `frontend` and `payments` are allowed, anything else denied.
const ALL_SOURCES: &str = r#"{
    "identity": {
        "sources": ["peer_certificate", "xfcc", "caller_header", "source_address"],
        "spiffe": {"trust_domains": ["example.org"],
                   "services": {"spiffe://example.org/legacy/billing-v2": "billing"}},
        "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.1.0.0/16"]},
        "source_addresses": [{"service": "batch", "cidrs": ["10.2.0.0/16"]}]
    },
    "log_allowed": true,
    "rules": [{"name": "known", "action": "allow",
               "callers": ["frontend", "payments", "batch", "billing"]}]
}"#;

fn last_line(host: &wasmesh_testing::Host) -> String {
    decision_lines(host).pop().expect("a decision line")
}

#[test]
fn peer_certificate_spiffe_id_in_the_trust_domain() {
    let host = host(ALL_SOURCES);
    let result = outcome(&host, Peer::Mtls(FRONTEND), "GET", "/", &[]);
    assert!(result.passed());
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["frontend"]);
    let line = last_line(&host);
    assert!(
        line.contains("caller=frontend identity=peer_certificate"),
        "{line}"
    );
    assert!(line.contains(&format!("spiffe_id={FRONTEND}")), "{line}");
}

#[test]
fn spiffe_ids_map_to_services_by_list_then_rule() {
    let host = host(ALL_SOURCES);
    let result = outcome(
        &host,
        Peer::Mtls("spiffe://example.org/legacy/billing-v2"),
        "GET",
        "/",
        &[],
    );
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["billing"]);
}

#[test]
fn xfcc_reads_every_uri_san_of_the_certificate() {
    // The certificate's first SAN is outside the trust domain, its second is the caller.
    let config = r#"{
        "identity": {"sources": ["xfcc"], "spiffe": {"trust_domains": ["example.org"]}},
        "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}]
    }"#;
    let host = host(config);
    let xfcc = format!(
        "By=spiffe://example.org/ns/shop/sa/orders;Hash=abc;Subject=\"CN=frontend\";URI=spiffe://legacy.example/web;URI={FRONTEND}"
    );
    let peer = Peer::Mtls("spiffe://legacy.example/web");
    let result = outcome(
        &host,
        peer,
        "GET",
        "/",
        &[("x-forwarded-client-cert", &xfcc)],
    );
    assert!(result.passed(), "{:?}", result.reply);
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["frontend"]);
    // Envoy's header stays for the application.
    assert_eq!(
        result.upstream_values("x-forwarded-client-cert"),
        [xfcc.as_str()]
    );
    // Reading only the first SAN would not identify this caller.
    let first_only = common::host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}]}"#,
    );
    assert_eq!(
        denied_by(
            &first_only,
            peer,
            "/",
            &[("x-forwarded-client-cert", &xfcc)]
        )
        .as_deref(),
        Some("default")
    );
}

#[test]
fn caller_header_from_a_trusted_cidr_or_an_mtls_connection() {
    let host = host(ALL_SOURCES);
    let result = outcome(
        &host,
        Peer::Plain("10.1.4.4:5000"),
        "GET",
        "/",
        &[("x-service-name", "payments")],
    );
    assert!(result.passed());
    // The claim is replaced by the verified caller header.
    assert!(result.upstream_values("x-service-name").is_empty());
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["payments"]);
    assert!(last_line(&host).contains("caller=payments identity=caller_header"));

    // An mTLS connection whose certificate names nobody: the header is trusted.
    let result = outcome(
        &host,
        Peer::MtlsNoSan("192.168.1.1:5000"),
        "GET",
        "/",
        &[("x-service-name", "payments")],
    );
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["payments"]);
}

#[test]
fn the_caller_header_is_off_unless_configured() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "payments", "action": "allow", "callers": ["payments"]}]}"#,
    );
    assert_eq!(
        denied_by(
            &host,
            Peer::Mtls(FRONTEND),
            "/",
            &[("x-service-name", "payments")]
        )
        .as_deref(),
        Some("default")
    );
}

#[test]
fn source_address_cidrs_name_callers() {
    let host = host(ALL_SOURCES);
    let result = outcome(&host, Peer::Plain("10.2.0.7:1234"), "GET", "/", &[]);
    assert!(result.passed());
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["batch"]);
    assert!(last_line(&host).contains("caller=batch identity=source_address"));
    let ipv6 = common::host(
        r#"{"identity": {"sources": ["source_address"],
                         "source_addresses": [{"service": "v6", "cidrs": ["fd00::/8"]}]},
            "rules": [{"name": "v6", "action": "allow", "callers": ["v6"]}]}"#,
    );
    assert_eq!(
        denied_by(&ipv6, Peer::Plain("[fd12::1]:80"), "/", &[]),
        None
    );
    assert_eq!(
        denied_by(&ipv6, Peer::Plain("[fe80::1]:80"), "/", &[]).as_deref(),
        Some("default")
    );
}

#[test]
fn sources_are_tried_in_the_configured_order() {
    // Source address first: a caller inside the CIDR is `batch` even with a certificate.
    let address_first = host(
        r#"{"identity": {"sources": ["source_address", "peer_certificate"],
                         "spiffe": {"trust_domains": ["example.org"]},
                         "source_addresses": [{"service": "batch", "cidrs": ["10.9.0.0/16"]}]},
            "log_allowed": true,
            "rules": [{"name": "all", "action": "allow"}]}"#,
    );
    let result = outcome(&address_first, Peer::Mtls(FRONTEND), "GET", "/", &[]);
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["batch"]);
    // Certificate first (the Mtls peer comes from 10.9.9.9).
    let cert_first = host(
        r#"{"identity": {"sources": ["peer_certificate", "source_address"],
                         "spiffe": {"trust_domains": ["example.org"]},
                         "source_addresses": [{"service": "batch", "cidrs": ["10.9.0.0/16"]}]},
            "rules": [{"name": "all", "action": "allow"}]}"#,
    );
    let result = outcome(&cert_first, Peer::Mtls(FRONTEND), "GET", "/", &[]);
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["frontend"]);
}

#[test]
fn spoof_identity_header_from_an_untrusted_caller() {
    let host = host(ALL_SOURCES);
    // Plaintext, outside the trusted CIDRs, claiming to be payments.
    let result = outcome(
        &host,
        Peer::Plain("192.168.7.7:999"),
        "GET",
        "/",
        &[
            ("x-service-name", "payments"),
            ("x-wasmesh-caller", "payments"),
        ],
    );
    assert_eq!(result.rule.as_deref(), Some("default"));
    let line = last_line(&host);
    assert!(
        line.contains(
            "caller=unidentified identity=caller_header identity_rejected=untrusted_caller_header"
        ),
        "{line}"
    );
    // Even from a CIDR that would name it by address: a rejected claim is not replaced
    // by a weaker identity.
    let result = outcome(
        &host,
        Peer::Plain("10.2.0.7:1234"),
        "GET",
        "/",
        &[("x-service-name", "payments")],
    );
    assert_eq!(result.rule.as_deref(), Some("default"));
}

#[test]
fn spoof_identity_header_is_removed_before_the_application_even_when_allowed() {
    let host = host(
        r#"{"identity": {"sources": ["peer_certificate", "caller_header"],
                         "spiffe": {"trust_domains": ["example.org"]},
                         "caller_header": {"name": "x-service-name", "trust_mtls": false, "trusted_cidrs": ["10.1.0.0/16"]}},
            "rules": [{"name": "open", "action": "allow"}]}"#,
    );
    let result = outcome(
        &host,
        Peer::Plain("192.168.7.7:999"),
        "GET",
        "/",
        &[
            ("x-service-name", "payments"),
            ("X-Wasmesh-Caller", "payments"),
        ],
    );
    assert!(result.passed());
    assert!(result.upstream_values("x-service-name").is_empty());
    assert!(result.upstream_values("x-wasmesh-caller").is_empty());
    // An identified caller's header replaces a forged one.
    let result = outcome(
        &host,
        Peer::Mtls(FRONTEND),
        "GET",
        "/",
        &[("x-wasmesh-caller", "admin"), ("x-wasmesh-caller", "root")],
    );
    assert_eq!(result.upstream_values("x-wasmesh-caller"), ["frontend"]);
}

#[test]
fn spoof_duplicated_identity_headers_are_denied_never_joined() {
    let host = host(ALL_SOURCES);
    let result = outcome(
        &host,
        Peer::Plain("10.1.4.4:5000"),
        "GET",
        "/",
        &[
            ("x-service-name", "payments"),
            ("x-service-name", "frontend"),
        ],
    );
    assert_eq!(result.rule.as_deref(), Some("repeated_identity_header"));
    let line = last_line(&host);
    assert!(line.contains("reason=x-service-name"), "{line}");
    let xfcc = format!("URI={FRONTEND}");
    let result = outcome(
        &host,
        Peer::Mtls(FRONTEND),
        "GET",
        "/",
        &[
            ("x-forwarded-client-cert", &xfcc),
            ("x-forwarded-client-cert", &xfcc),
        ],
    );
    assert_eq!(result.rule.as_deref(), Some("repeated_identity_header"));
    assert_eq!(
        count(&host, "denied", "unidentified", "repeated_identity_header"),
        Some(2)
    );
}

#[test]
fn spoof_san_outside_the_trust_domain() {
    let host = host(ALL_SOURCES);
    // Same path as the real frontend, but from another trust domain: not frontend, and
    // its caller-name header cannot stand in for the rejected certificate.
    let result = outcome(
        &host,
        Peer::Mtls(FOREIGN_FRONTEND),
        "GET",
        "/",
        &[("x-service-name", "frontend")],
    );
    assert_eq!(result.rule.as_deref(), Some("default"));
    let line = last_line(&host);
    assert!(
        line.contains(
            "caller=unidentified identity=peer_certificate identity_rejected=untrusted_domain"
        ),
        "{line}"
    );
    // A look-alike trust domain is another trust domain.
    assert_eq!(
        denied_by(
            &host,
            Peer::Mtls("spiffe://example.org.evil.org/ns/shop/sa/frontend"),
            "/",
            &[]
        )
        .as_deref(),
        Some("default")
    );
    // A URI SAN that is not a SPIFFE ID names nobody.
    assert_eq!(
        denied_by(&host, Peer::Mtls("https://example.org/frontend"), "/", &[]).as_deref(),
        Some("default")
    );
}

#[test]
fn spoof_plaintext_caller_claiming_a_name() {
    let host = host(ALL_SOURCES);
    let xfcc = format!("URI={FRONTEND}");
    // A forged XFCC on a plaintext connection: rejected and removed.
    let result = outcome(
        &host,
        Peer::Plain("192.168.0.3:1"),
        "GET",
        "/",
        &[("x-forwarded-client-cert", &xfcc)],
    );
    assert_eq!(result.rule.as_deref(), Some("default"));
    let line = last_line(&host);
    assert!(
        line.contains("identity=xfcc identity_rejected=xfcc_without_mtls"),
        "{line}"
    );
    let open = common::host(
        r#"{"identity": {"sources": ["xfcc"], "spiffe": {"trust_domains": ["example.org"]}},
            "rules": [{"name": "open", "action": "allow"}]}"#,
    );
    let result = outcome(
        &open,
        Peer::Plain("192.168.0.3:1"),
        "GET",
        "/",
        &[("x-forwarded-client-cert", &xfcc)],
    );
    assert!(result.passed());
    assert!(result.upstream_values("x-forwarded-client-cert").is_empty());
    assert!(result.upstream_values("x-wasmesh-caller").is_empty());
    // A plaintext caller naming itself in a header, with no trusted CIDR configured.
    let mtls_only = common::host(
        r#"{"identity": {"sources": ["caller_header"], "caller_header": {"name": "x-service-name"}},
            "rules": [{"name": "payments", "action": "allow", "callers": ["payments"]}]}"#,
    );
    assert_eq!(
        denied_by(
            &mtls_only,
            Peer::Plain("127.0.0.1:9"),
            "/",
            &[("x-service-name", "payments")]
        )
        .as_deref(),
        Some("default")
    );
    assert_eq!(
        denied_by(
            &mtls_only,
            Peer::MtlsNoSan("127.0.0.1:9"),
            "/",
            &[("x-service-name", "payments")]
        ),
        None
    );
}

#[test]
fn the_upstream_header_name_is_configurable() {
    let host = host(
        r#"{"identity": {"spiffe": {"trust_domains": ["example.org"]}, "upstream_header": "X-Verified-Caller"},
            "rules": [{"name": "open", "action": "allow"}]}"#,
    );
    let result = outcome(
        &host,
        Peer::Mtls(FRONTEND),
        "GET",
        "/",
        &[("x-verified-caller", "forged")],
    );
    assert_eq!(result.upstream_values("x-verified-caller"), ["frontend"]);
    assert!(result.upstream_values("x-wasmesh-caller").is_empty());
}

#[test]
fn a_caller_from_a_trusted_address_costs_one_connection_read() {
    let config = r#"{
        "identity": {"sources": ["caller_header"],
                     "caller_header": {"name": "x-service-name", "trusted_cidrs": ["10.1.0.0/16"]}},
        "rules": [{"name": "frontend", "action": "allow", "callers": ["frontend"]}]
    }"#;
    let host = host(config);
    host.take_property_reads();
    let result = outcome(
        &host,
        Peer::Plain("10.1.2.3:4000"),
        "GET",
        "/",
        &[("x-service-name", "frontend")],
    );
    assert!(result.passed(), "{:?}", result.reply);
    // Trusted by its address: the connection's mTLS state is not asked for.
    assert_eq!(host.take_property_reads(), ["source.address"]);
    // From elsewhere, mTLS (trusted too, by default) is the next thing to check.
    let result = outcome(
        &host,
        Peer::Plain("192.168.1.1:4000"),
        "GET",
        "/",
        &[("x-service-name", "frontend")],
    );
    assert!(!result.passed());
    assert_eq!(
        host.take_property_reads(),
        ["source.address", "connection.mtls"]
    );
}
