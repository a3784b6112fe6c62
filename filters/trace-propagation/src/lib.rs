//! trace-propagation: trace-context hygiene at the edge and in sidecars.
//!
//! On every request the filter reads the incoming W3C Trace Context (`traceparent`,
//! `tracestate`) or B3 (`b3`, `x-b3-*`) headers, decides the context of the forwarded
//! request (continue the trace, with a new span id when configured; or start a new one),
//! and writes it in the configured formats, removing every other trace header. It also
//! makes sure of one `x-request-id`, limits `baggage`, and can echo the trace id to the
//! client. An application then only has to copy the trace headers it received onto the
//! calls it makes. See the README for the configuration.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod config;
mod correlation;
mod extract;
mod inject;
mod outgoing;
mod plan;
mod received;
mod sampler;

pub use config::{Config, Format, SamplingConfig, TrustBoundary};

use config::Settings;
use outgoing::Outcome;
use plan::Edit;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::trace::TraceId;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Http};

/// The compiled filter.
pub struct TracePropagation {
    settings: Settings,
    /// `wasmesh_trace_propagation_requests_total{context, format, sampled}`.
    requests: Counter,
}

/// Per-request state.
#[derive(Debug, Default)]
pub struct Stream {
    /// The trace id of the forwarded request, echoed in the response.
    trace_id: Option<TraceId>,
}

impl Filter for TracePropagation {
    const NAME: &'static str = "trace-propagation";
    /// The JSON document, read by [`Config::read`] when compiled.
    type Config = wasmesh_sdk::config::Value;
    type Stream = Stream;
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS.and(Hooks::RESPONSE_HEADERS);

    fn default_config() -> Option<wasmesh_sdk::config::Value> {
        Some(wasmesh_sdk::config::Value::Object(Vec::new()))
    }

    fn compile(json: wasmesh_sdk::config::Value) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::compile(Config::read(&json)?)?,
            requests: Counter::new(
                "wasmesh_trace_propagation_requests_total",
                &["context", "format", "sampled"],
            ),
        })
    }

    fn on_request_headers(&self, stream: &mut Stream, http: &Http) -> Flow {
        let headers = http.request_headers();
        let mut random = wasmesh_sdk::random::fill;
        let plan = plan::plan(&self.settings, &headers, &mut random);
        for edit in &plan.edits {
            match edit {
                Edit::Set(name, value) => http.set_request_header(name, value.as_bytes()),
                Edit::Remove(name) => http.remove_request_header(name),
            }
        }
        let outgoing = &plan.outgoing;
        if let Outcome::Invalid(invalid) = outgoing.outcome {
            log::debug!("trace-propagation: incoming trace context refused ({invalid}); new trace");
        }
        let sampled = match outgoing.context.sampling.is_sampled() {
            Some(true) => "true",
            _ => "false",
        };
        self.requests.increment(&[
            outgoing.outcome.context_tag(),
            outgoing.outcome.format_tag(),
            sampled,
        ]);
        stream.trace_id = Some(outgoing.context.trace_id);
        Flow::Continue
    }

    fn on_response_headers(&self, stream: &mut Stream, http: &Http) -> Flow {
        if let (Some(name), Some(trace_id)) =
            (&self.settings.response_trace_id_header, &stream.trace_id)
        {
            http.set_response_header(name, &trace_id.to_hex());
        }
        Flow::Continue
    }
}

wasmesh_sdk::export_filter!(TracePropagation);
