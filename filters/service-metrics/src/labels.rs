//! Metric and label names of the two naming modes, and the label values of one request.

use crate::config::Naming;
use wasmesh_sdk::metrics::{Counter, Histogram, Recorded};
use wasmesh_sdk::Host;

/// Istio's label names (those of Istio's `istio_requests_total`, in Istio's order), in the
/// order values are given (see [`Labels::istio`]).
pub const ISTIO_LABELS: [&str; 25] = [
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
];

/// The native label names, in the order values are given (see [`Labels::native`]).
pub const NATIVE_LABELS: [&str; 8] = [
    "reporter",
    "source_service",
    "destination_service",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
];

/// The four metric names of a naming mode: requests, duration, request bytes, response bytes.
pub fn metric_names(naming: Naming) -> [&'static str; 4] {
    match naming {
        Naming::Istio => [
            "istio_requests_total",
            "istio_request_duration_milliseconds",
            "istio_request_bytes",
            "istio_response_bytes",
        ],
        Naming::Native => [
            "wasmesh_service_requests_total",
            "wasmesh_service_request_duration_milliseconds",
            "wasmesh_service_request_bytes",
            "wasmesh_service_response_bytes",
        ],
    }
}

/// The label names of a naming mode.
pub fn label_names(naming: Naming) -> &'static [&'static str] {
    match naming {
        Naming::Istio => &ISTIO_LABELS,
        Naming::Native => &NATIVE_LABELS,
    }
}

/// Counts requests recorded under the overflow label set (every label `other`), in both
/// naming modes: a non-zero value means `max_label_sets` was reached.
pub const OVERFLOW_METRIC: &str = "wasmesh_service_metrics_overflow_total";

/// The label values of one party of the exchange (Istio's `source_*` or `destination_*`
/// labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side<'a> {
    /// Workload name (`*_workload`).
    pub workload: &'a str,
    /// Service name (native `*_service`; Istio `*_canonical_service`, and
    /// `destination_service_name`).
    pub service: &'a str,
    /// Namespace (`*_workload_namespace`, `destination_service_namespace`).
    pub namespace: &'a str,
    /// SPIFFE ID (`*_principal`).
    pub principal: &'a str,
    /// The workload's `app` label (`*_app`).
    pub app: &'a str,
    /// The workload's `version` label (`*_version`).
    pub version: &'a str,
    /// Canonical revision (`*_canonical_revision`).
    pub revision: &'a str,
    /// Cluster (`*_cluster`).
    pub cluster: &'a str,
}

/// The label values of one request; every field is one label or one party's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// `source` (outbound sidecar) or `destination` (inbound sidecar).
    pub reporter: &'a str,
    /// The caller.
    pub source: Side<'a>,
    /// The called service.
    pub destination: Side<'a>,
    /// Called service's host (Istio's `destination_service`).
    pub destination_host: &'a str,
    /// `http` or `grpc`.
    pub request_protocol: &'a str,
    /// HTTP status sent downstream (`0`: none).
    pub response_code: &'a str,
    /// gRPC status (`0`..`16`), empty for HTTP requests.
    pub grpc_response_status: &'a str,
    /// Envoy's response flags, short form.
    pub response_flags: &'a str,
    /// `mutual_tls`, `none` or `unknown`.
    pub connection_security_policy: &'a str,
}

impl<'a> Labels<'a> {
    /// Values in [`ISTIO_LABELS`] order.
    pub fn istio(&self) -> [&'a str; 25] {
        let (s, d) = (&self.source, &self.destination);
        [
            self.reporter,
            s.workload,
            s.namespace,
            s.principal,
            s.app,
            s.version,
            s.service,
            s.revision,
            s.cluster,
            d.workload,
            d.namespace,
            d.principal,
            d.app,
            d.version,
            self.destination_host,
            d.service,
            d.namespace,
            d.service,
            d.revision,
            d.cluster,
            self.request_protocol,
            self.response_flags,
            self.connection_security_policy,
            self.response_code,
            self.grpc_response_status,
        ]
    }

    /// Values in [`NATIVE_LABELS`] order.
    pub fn native(&self) -> [&'a str; 8] {
        [
            self.reporter,
            self.source.service,
            self.destination.service,
            self.request_protocol,
            self.response_code,
            self.grpc_response_status,
            self.response_flags,
            self.connection_security_policy,
        ]
    }
}

/// The measurements of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measurements {
    /// Request duration in milliseconds.
    pub duration_ms: u64,
    /// Request size in bytes, headers and body.
    pub request_bytes: u64,
    /// Response size in bytes, headers and body.
    pub response_bytes: u64,
}

/// The metric families of one naming mode.
#[derive(Debug)]
pub struct Families {
    naming: Naming,
    requests: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
    overflow: Counter,
}

impl Families {
    /// Defines the families in `host`; each keeps at most `cap` label sets (then `other`).
    pub fn new(host: &dyn Host, naming: Naming, cap: usize) -> Self {
        let [requests, duration, request_bytes, response_bytes] = metric_names(naming);
        let labels = label_names(naming);
        let overflow = Counter::new(OVERFLOW_METRIC, &[]);
        // Defined now so that the series exists (at 0) before any overflow.
        overflow.add(host, &[], 0);
        Self {
            naming,
            requests: Counter::new(requests, labels).with_tag_set_cap(cap),
            duration: Histogram::new(duration, labels).with_tag_set_cap(cap),
            request_bytes: Histogram::new(request_bytes, labels).with_tag_set_cap(cap),
            response_bytes: Histogram::new(response_bytes, labels).with_tag_set_cap(cap),
            overflow,
        }
    }

    /// Records one request in `host`: the counter and the three histograms, with the same
    /// labels.
    pub fn record(&self, host: &dyn Host, labels: &Labels<'_>, measured: Measurements) {
        match self.naming {
            Naming::Istio => self.record_values(host, &labels.istio(), measured),
            Naming::Native => self.record_values(host, &labels.native(), measured),
        }
    }

    fn record_values(&self, host: &dyn Host, values: &[&str], measured: Measurements) {
        let recorded = self.requests.add_checked(host, values, 1);
        self.duration.record(host, values, measured.duration_ms);
        self.request_bytes
            .record(host, values, measured.request_bytes);
        self.response_bytes
            .record(host, values, measured.response_bytes);
        if recorded == Recorded::Overflow {
            self.overflow.increment(host, &[]);
        }
    }
}

/// Decimal digits of a number, on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Digits {
    buf: [u8; 5],
    start: usize,
}

impl Digits {
    /// The digits of `n`.
    pub fn new(mut n: u16) -> Self {
        let mut buf = [b'0'; 5];
        let mut start = buf.len();
        loop {
            start -= 1;
            if let Some(slot) = buf.get_mut(start) {
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        self.buf
            .get(self.start..)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        for n in [0u16, 7, 10, 200, 404, 503, 65535] {
            assert_eq!(Digits::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn label_lists_match_value_lists() {
        let source = Side {
            workload: "sw",
            service: "ss",
            namespace: "sn",
            principal: "sp",
            app: "sa",
            version: "sv",
            revision: "sr",
            cluster: "sc",
        };
        let destination = Side {
            workload: "dw",
            service: "ds",
            namespace: "dn",
            principal: "dp",
            app: "da",
            version: "dv",
            revision: "dr",
            cluster: "dc",
        };
        let l = Labels {
            reporter: "destination",
            source,
            destination,
            destination_host: "dh",
            request_protocol: "http",
            response_code: "200",
            grpc_response_status: "",
            response_flags: "-",
            connection_security_policy: "none",
        };
        let istio: Vec<(&str, &str)> = ISTIO_LABELS.iter().copied().zip(l.istio()).collect();
        for pair in [
            ("reporter", "destination"),
            ("source_workload", "sw"),
            ("source_workload_namespace", "sn"),
            ("source_principal", "sp"),
            ("source_app", "sa"),
            ("source_version", "sv"),
            ("source_canonical_service", "ss"),
            ("source_canonical_revision", "sr"),
            ("source_cluster", "sc"),
            ("destination_workload", "dw"),
            ("destination_workload_namespace", "dn"),
            ("destination_principal", "dp"),
            ("destination_app", "da"),
            ("destination_version", "dv"),
            ("destination_service", "dh"),
            ("destination_service_name", "ds"),
            ("destination_service_namespace", "dn"),
            ("destination_canonical_service", "ds"),
            ("destination_canonical_revision", "dr"),
            ("destination_cluster", "dc"),
            ("request_protocol", "http"),
            ("response_flags", "-"),
            ("connection_security_policy", "none"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
        ] {
            assert!(istio.contains(&pair), "{pair:?} in {istio:?}");
        }
        let native: Vec<(&str, &str)> = NATIVE_LABELS.iter().copied().zip(l.native()).collect();
        assert!(native.contains(&("destination_service", "ds")));
        assert!(native.contains(&("source_service", "ss")));
        assert!(native.contains(&("connection_security_policy", "none")));
    }
}
