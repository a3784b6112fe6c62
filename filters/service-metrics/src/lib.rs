//! # service-metrics
//!
//! Every sidecar reports who called whom, how often, how fast and how it ended: a request
//! counter and histograms of duration (milliseconds), request bytes and response bytes,
//! labelled by reporter, source and destination service, protocol, response code, gRPC
//! status, Envoy's response flags and connection security. Metrics are recorded when the
//! stream ends, so local replies (an access-control 403) and upstream resets count too.
//!
//! Two naming modes: `istio` (`istio_requests_total` with Istio's label names, so Istio
//! dashboards and alerts work unchanged) and `native` (`wasmesh_service_requests_total`).
//! The caller is named from its verified mTLS certificate through the SPIFFE mapping of
//! `wasmesh-identity`, or from a header only when configured and sent from a trusted
//! address.
//! Label values are escaped by the SDK and each metric caps its label sets (then `other`).
//! Under Istio, what the configuration leaves out of this sidecar's own names and labels
//! comes from Envoy's node metadata ([`workload`]), read once when configured.
//! A `routes` section names the destination per route (one sidecar fronting several
//! logical services); every route records in the listener's metric families.
//!
//! * [`config`]: the JSON configuration and its validation.
//! * [`peer`]: naming callers and destinations.
//! * [`report`]: what a finished exchange records, a plain function of what Envoy reports.
//! * [`labels`]: metric and label names, label values.
//! * [`flags`], [`grpc`]: response flags and gRPC status.
//! * [`workload`]: the local workload from Istio's node metadata.

pub mod config;
pub mod flags;
pub mod grpc;
pub mod labels;
pub mod peer;
pub mod report;
pub mod workload;

use config::{Config, LocalLabels, Settings};
use labels::Families;
use report::{Exchange, Facts};
use std::rc::Rc;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::{AttributeBatch, ConfigError, Filter, Flow, HeaderMap, Hooks, Host};
use workload::Workload;

/// The compiled filter: validated settings, and where requests are recorded.
pub struct ServiceMetrics {
    settings: Settings,
    /// Where requests are recorded: a `routes` entry shares the listener's (see
    /// [`Filter::compile_route`]).
    recording: Rc<Recording>,
}

/// What a listener's configuration and its `routes` entries share: the metric families
/// (so each metric keeps one cap of label sets and each label set is defined once,
/// whatever route a request took), the attributes read at the end of each stream, and
/// this sidecar's own workload labels (its pod's, the same on every route) and the node
/// metadata they came from.
struct Recording {
    families: Families,
    attributes: AttributeBatch,
    local: LocalLabels,
    /// What Envoy's node metadata says, read once for the listener and its entries.
    node: Workload,
}

/// Per-request state.
#[derive(Debug, Default)]
pub struct Stream {
    /// When the request headers arrived, by the module's clock (nanoseconds).
    started_nanos: Option<u64>,
}

impl Filter for ServiceMetrics {
    const NAME: &'static str = "service-metrics";
    type Stream = Stream;
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS.and(Hooks::LOG);
    /// The fields that name the destination, read per request from the settings the
    /// request got: inbound `service`, `service_host` and `namespace`, outbound
    /// `destination_from` and `destinations`. Not `direction`, `naming` or
    /// `max_label_sets` (the metric families and their cap are the listener's), nor how
    /// callers are named (`spiffe`, `trusted_source_header`).
    const ROUTE_FIELDS: &'static [&'static str] = &[
        "service",
        "service_host",
        "namespace",
        "destination_from",
        "destinations",
    ];

    /// Compiles an entry's settings, refused where they change an outbound sidecar's own
    /// names (see [`Settings::check_route`]); the entry records in the listener's metric
    /// families, with the listener's workload labels.
    fn compile_route(&self, config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let mut settings = Settings::compile(Config::read(config.value())?)?;
        settings.adopt(self.recording.node.clone());
        self.settings.check_route(&settings)?;
        Ok(ServiceMetrics {
            settings,
            recording: Rc::clone(&self.recording),
        })
    }

    /// Reads the document with [`Config::read`] and compiles it; what it leaves out of this
    /// sidecar's own names and labels comes from Istio's node metadata, read here once
    /// through `host`. Logs one line naming where the service and namespace came from.
    fn compile(config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        let mut settings = Settings::compile(Config::read(config.value())?)?;
        let node = Workload::from_node_metadata(host);
        let line = settings.adopt(node.clone());
        log::info!("{line}");
        let recording = Recording {
            families: Families::new(host, settings.naming, settings.max_label_sets),
            attributes: report::attributes(settings.direction),
            local: settings.local.clone(),
            node,
        };
        Ok(ServiceMetrics {
            settings,
            recording: Rc::new(recording),
        })
    }

    /// Notes when the request headers arrived, by the module's clock.
    fn on_request_headers(&self, stream: &mut Stream, host: &dyn Host) -> Flow {
        stream.started_nanos = Some(host.now_nanos());
        Flow::Continue
    }

    /// Reads the exchange through `host` (its end-of-stream attributes in one call, the
    /// request headers, the verified caller, the clock when the request headers arrived),
    /// lets [`report::report`] work out what to record, asking `host` for the facts only
    /// some labels depend on, and records it in the metric families.
    fn on_log(&self, stream: &mut Stream, host: &dyn Host) {
        let recording = &self.recording;
        let values = host.attributes(&recording.attributes);
        let request = host.request_headers();
        let verified = host.verified_caller();
        let elapsed_nanos = stream
            .started_nanos
            .map_or(0, |started| host.now_nanos().saturating_sub(started));
        let exchange = Exchange::new(&values, &request, verified.as_deref(), elapsed_nanos);
        let report = report::report(&self.settings, &recording.local, &exchange, host);
        recording
            .families
            .record(host, &report.labels(), report.measured);
    }
}

/// The facts of an exchange that only some labels depend on, read from Envoy.
impl Facts for dyn Host + '_ {
    fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>> {
        Host::attribute(self, path)
    }

    fn string(&self, path: &[&str]) -> Option<String> {
        Host::string(self, path)
    }

    fn response_headers(&self) -> HeaderMap {
        Host::response_headers(self)
    }

    fn response_trailers(&self) -> HeaderMap {
        Host::response_trailers(self)
    }
}

wasmesh_sdk::export_filter!(ServiceMetrics);
