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
//! The caller is named from its verified mTLS certificate through the SDK's SPIFFE
//! mapping, or from a header only when configured and sent from a trusted address.
//! Label values are escaped by the SDK and each metric caps its label sets (then `other`).
//! Under Istio, what the configuration leaves out of this sidecar's own names and labels
//! comes from Envoy's node metadata (`wasmesh_sdk::workload`), read once when configured.
//!
//! * [`config`]: the JSON configuration and its validation.
//! * [`peer`]: naming callers and destinations.
//! * [`report`]: reading the finished exchange and recording it.
//! * [`labels`]: metric and label names, label values.
//! * [`flags`], [`grpc`]: response flags and gRPC status.

pub mod config;
pub mod flags;
pub mod grpc;
pub mod labels;
pub mod peer;
pub mod report;

use config::{Config, Settings};
use labels::Families;
use proxy_wasm::types::LogLevel;
use wasmesh_sdk::properties::AttributeBatch;
use wasmesh_sdk::workload::Workload;
use wasmesh_sdk::{host, ConfigError, Filter, Flow, Hooks, Http};

/// The compiled filter: validated settings, the metric families and the attributes read
/// at the end of each stream.
pub struct ServiceMetrics {
    settings: Settings,
    families: Families,
    attributes: AttributeBatch,
}

/// Per-request state.
#[derive(Debug, Default)]
pub struct Stream {
    /// When the request headers arrived, by the module's clock (nanoseconds).
    started_nanos: Option<u64>,
}

impl Filter for ServiceMetrics {
    const NAME: &'static str = "service-metrics";
    /// The JSON document, read by [`Config::read`] when compiled.
    type Config = wasmesh_sdk::config::Value;
    type Stream = Stream;
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS.and(Hooks::LOG);

    /// Compiles the configuration; what it leaves out of this sidecar's own names and
    /// labels comes from Istio's node metadata, read here once. Logs one line naming where
    /// the service and namespace came from.
    fn compile(json: wasmesh_sdk::config::Value) -> Result<Self, ConfigError> {
        let mut settings = Settings::compile(Config::read(&json)?)?;
        let line = settings.adopt(Workload::from_node_metadata());
        host::log(LogLevel::Info, &line);
        let families = Families::new(settings.naming, settings.max_label_sets);
        let attributes = report::attributes(settings.direction);
        Ok(ServiceMetrics {
            settings,
            families,
            attributes,
        })
    }

    /// Notes when the request headers arrived, by the module's clock.
    fn on_request_headers(&self, stream: &mut Stream, _http: &Http) -> Flow {
        stream.started_nanos = Some(host::now_nanos());
        Flow::Continue
    }

    fn on_log(&self, stream: &mut Stream, http: &Http) {
        let recorder = report::Recorder {
            settings: &self.settings,
            families: &self.families,
            attributes: &self.attributes,
        };
        report::record(&recorder, http, stream.started_nanos);
    }
}

wasmesh_sdk::export_filter!(ServiceMetrics);
