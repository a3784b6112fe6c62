//! Writing the outgoing context in the configured header formats.

use wasmesh_sdk::trace::b3::{
    B3_SINGLE, X_B3_FLAGS, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_SPAN_ID, X_B3_TRACE_ID,
};
use wasmesh_sdk::trace::traceparent::TRACEPARENT;
use wasmesh_sdk::trace::tracestate::TRACESTATE;
use wasmesh_sdk::trace::{TraceParent, B3};

use crate::config::Format;
use crate::outgoing::Outgoing;

/// Every request header this filter owns: each one not injected is removed, so no stale
/// context of another format travels next to the one sent.
pub const TRACE_HEADERS: [&str; 8] = [
    TRACEPARENT,
    TRACESTATE,
    B3_SINGLE,
    X_B3_TRACE_ID,
    X_B3_SPAN_ID,
    X_B3_PARENT_SPAN_ID,
    X_B3_SAMPLED,
    X_B3_FLAGS,
];

/// The trace headers to send for `outgoing`, in `formats` order, as `(name, value)`.
///
/// W3C: one `traceparent` (version `00`) and, when not empty, one `tracestate`. B3: the
/// same ids, the decision (`d` / `x-b3-flags: 1` for debug), and a parent span id only when
/// this hop made a new span.
pub fn trace_headers(outgoing: &Outgoing, formats: &[Format]) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(6);
    let b3 = B3::Context {
        context: outgoing.context,
        parent_span_id: outgoing.parent_span_id,
    };
    for format in formats {
        match format {
            Format::W3c => {
                let traceparent =
                    TraceParent::from_span_context(&outgoing.context, outgoing.random_trace_id);
                headers.push((TRACEPARENT, traceparent.to_header()));
                if !outgoing.tracestate.is_empty() {
                    headers.push((TRACESTATE, outgoing.tracestate.to_header()));
                }
            }
            Format::B3 => {
                if let Some(value) = b3.to_single_header() {
                    headers.push((B3_SINGLE, value));
                }
            }
            Format::B3multi => headers.extend(b3.to_multi_headers()),
        }
    }
    headers
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::outgoing::Outcome;
    use wasmesh_sdk::trace::{Sampling, SpanContext, SpanId, TraceId, TraceState};

    fn outgoing(sampling: Sampling, parent: Option<&str>, tracestate: &str) -> Outgoing {
        Outgoing {
            context: SpanContext {
                trace_id: TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                span_id: SpanId::from_hex(b"00f067aa0ba902b7").unwrap(),
                sampling,
            },
            random_trace_id: true,
            parent_span_id: parent.map(|p| SpanId::from_hex(p.as_bytes()).unwrap()),
            tracestate: TraceState::parse(&[tracestate.as_bytes()]),
            outcome: Outcome::Started,
        }
    }

    fn names(headers: &[(&str, String)]) -> Vec<String> {
        headers.iter().map(|(n, v)| format!("{n}: {v}")).collect()
    }

    #[test]
    fn w3c_sends_traceparent_and_tracestate_when_not_empty() {
        let with_state = outgoing(Sampling::Sampled, None, "a=1");
        assert_eq!(
            names(&trace_headers(&with_state, &[Format::W3c])),
            [
                "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                "tracestate: a=1"
            ]
        );
        let without = outgoing(Sampling::NotSampled, None, "");
        assert_eq!(
            names(&trace_headers(&without, &[Format::W3c])),
            ["traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02"]
        );
    }

    #[test]
    fn b3_single_and_multi_carry_the_parent_only_when_there_is_one() {
        let child = outgoing(Sampling::Sampled, Some("1111111111111111"), "a=1");
        assert_eq!(
            names(&trace_headers(&child, &[Format::B3, Format::B3multi])),
            [
                "b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-1111111111111111",
                "x-b3-traceid: 4bf92f3577b34da6a3ce929d0e0e4736",
                "x-b3-spanid: 00f067aa0ba902b7",
                "x-b3-parentspanid: 1111111111111111",
                "x-b3-sampled: 1",
            ]
        );
        let reused = outgoing(Sampling::Debug, None, "");
        assert_eq!(
            names(&trace_headers(&reused, &[Format::B3multi, Format::B3])),
            [
                "x-b3-traceid: 4bf92f3577b34da6a3ce929d0e0e4736",
                "x-b3-spanid: 00f067aa0ba902b7",
                "x-b3-flags: 1",
                "b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d",
            ]
        );
    }

    #[test]
    fn debug_is_sent_as_sampled_in_w3c() {
        let debug = outgoing(Sampling::Debug, None, "");
        assert!(trace_headers(&debug, &[Format::W3c])[0].1.ends_with("-03"));
    }
}
