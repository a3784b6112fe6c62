//! trace-propagation: trace-context hygiene at the edge and in sidecars.
//!
//! On every request the filter reads the incoming W3C Trace Context (`traceparent`,
//! `tracestate`) or B3 (`b3`, `x-b3-*`) headers, decides the context of the forwarded
//! request (continue the trace, with a new span id when configured; or start a new one),
//! and writes it in the configured formats, removing every other trace header. It also
//! makes sure of one `x-request-id`, limits `baggage`, and can echo the trace id to the
//! client. An application then only has to copy the trace headers it received onto the
//! calls it makes. A `routes` section gives routes of one listener their own settings
//! (for example a public route that restarts traces and samples less). See the README
//! for the configuration.

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
pub mod trace_context;

pub use config::{Config, Format, SamplingConfig, TrustBoundary};

use config::Settings;
use outgoing::Outcome;
use plan::Edit;
use std::rc::Rc;
use trace_context::TraceId;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, Hooks, Host};

/// The compiled filter.
pub struct TracePropagation {
    settings: Settings,
    /// `wasmesh_trace_propagation_requests_total{context, format, sampled}`.
    /// Shared with the `routes` entries: one set of tag sets per filter.
    requests: Rc<Counter>,
}

/// Per-request state.
#[derive(Debug, Default)]
pub struct Stream {
    /// The trace id of the forwarded request, echoed in the response.
    trace_id: Option<TraceId>,
}

impl Filter for TracePropagation {
    const NAME: &'static str = "trace-propagation";
    type Stream = Stream;
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS.and(Hooks::RESPONSE_HEADERS);
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");
    /// Every field: each is read per request from the compiled settings the request got
    /// (the response header included, which keeps the request's choice), and the counter
    /// has the same name and tags on every route.
    const ROUTE_FIELDS: &'static [&'static str] = &[
        "new_span_id",
        "inject",
        "sampling",
        "trust_boundary",
        "restart_tracestate_key",
        "response_trace_id_header",
        "baggage",
    ];

    /// Compiles the entry, refused where [`config::Settings::check_route`] says so.
    fn compile_route(&self, config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        let mut route = Self::compile(config, host)?;
        self.settings.check_route(&route.settings)?;
        route.requests = Rc::clone(&self.requests);
        Ok(route)
    }

    /// Reads the document with [`Config::read`], then compiles it.
    fn compile(config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::compile(Config::read(config.value())?)?,
            requests: Rc::new(Counter::new(
                "wasmesh_trace_propagation_requests_total",
                &["context", "format", "sampled"],
            )),
        })
    }

    /// Plans the request's trace headers ([`plan::plan`], no host calls) and makes the
    /// plan's edits one by one: the plan keeps its values in fixed buffers, so the request
    /// allocates no list of edits.
    fn on_request_headers(&self, stream: &mut Stream, host: &dyn Host) -> Flow {
        let headers = host.request_headers();
        let mut random = |out: &mut [u8]| host.random_bytes(out);
        let plan = plan::plan(&self.settings, &headers, &mut random);
        for edit in &plan.edits {
            host.edit_request(&match edit {
                Edit::Set(name, value) => HeaderEdit::Set(name, value.as_bytes().into()),
                Edit::Remove(name) => HeaderEdit::Remove(name),
            });
        }
        let outgoing = &plan.outgoing;
        if let Outcome::Invalid(invalid) = outgoing.outcome {
            log::debug!("trace-propagation: incoming trace context refused ({invalid}); new trace");
        }
        let sampled = match outgoing.context.sampling.is_sampled() {
            Some(true) => "true",
            _ => "false",
        };
        self.requests.increment(
            host,
            &[
                outgoing.outcome.context_tag(),
                outgoing.outcome.format_tag(),
                sampled,
            ],
        );
        stream.trace_id = Some(outgoing.context.trace_id);
        Flow::Continue
    }

    fn on_response_headers(&self, stream: &mut Stream, host: &dyn Host) -> Flow {
        if let (Some(name), Some(trace_id)) =
            (&self.settings.response_trace_id_header, &stream.trace_id)
        {
            let hex = trace_id.to_hex();
            host.edit_response(&HeaderEdit::Set(name, hex.as_slice().into()));
        }
        Flow::Continue
    }
}

wasmesh_sdk::export_filter!(TracePropagation);
