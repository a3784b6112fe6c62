//! Writing the outgoing context in the configured header formats.

use crate::trace_context::b3::{
    B3_SINGLE, X_B3_FLAGS, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_SPAN_ID, X_B3_TRACE_ID,
};
use crate::trace_context::traceparent::TRACEPARENT;
use crate::trace_context::tracestate::TRACESTATE;
use crate::trace_context::{TraceParent, B3};

use crate::config::Format;
use crate::outgoing::{Outgoing, OutgoingState};
use crate::plan::Edits;
use crate::received::NAMES;

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

/// Where `traceparent`, `tracestate` and `b3` are in [`TRACE_HEADERS`].
const TRACEPARENT_AT: usize = 0;
const TRACESTATE_AT: usize = 1;
const B3_SINGLE_AT: usize = 2;

/// Adds to `edits` the trace headers to send for `outgoing`, in `formats` order, and
/// returns which of [`TRACE_HEADERS`] are sent (bit `i` for `TRACE_HEADERS[i]`), or kept as
/// received.
///
/// W3C: one `traceparent` (version `00`) and, when not empty, one `tracestate` (a
/// `tracestate` kept as received is not written again). B3: the same ids, the decision
/// (`d` / `x-b3-flags: 1` for debug), and a parent span id only when this hop made a new
/// span.
pub fn trace_headers(outgoing: &Outgoing<'_>, formats: &[Format], edits: &mut Edits) -> u16 {
    let mut sent = 0;
    let b3 = B3::Context {
        context: outgoing.context,
        parent_span_id: outgoing.parent_span_id,
    };
    for format in formats {
        match format {
            Format::W3c => {
                let traceparent =
                    TraceParent::from_span_context(&outgoing.context, outgoing.random_trace_id);
                if edits.set_written(TRACEPARENT_AT, &mut |out| traceparent.write_header(out)) {
                    sent |= 1 << TRACEPARENT_AT;
                }
                match &outgoing.tracestate {
                    OutgoingState::Received(_) => sent |= 1 << TRACESTATE_AT,
                    OutgoingState::List(list) if !list.is_empty() => {
                        edits.set_built(TRACESTATE_AT, list.to_header());
                        sent |= 1 << TRACESTATE_AT;
                    }
                    OutgoingState::List(_) => {}
                }
            }
            Format::B3 => {
                if edits.set_written(B3_SINGLE_AT, &mut |out| b3.write_single_header(out)) {
                    sent |= 1 << B3_SINGLE_AT;
                }
            }
            Format::B3multi => {
                for (name, value) in b3.to_multi_values() {
                    if let Some(index) = NAMES.iter().position(|known| *known == name) {
                        edits.set_made(index, &value);
                        sent |= 1 << index;
                    }
                }
            }
        }
    }
    sent
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::outgoing::Outcome;
    use crate::plan::Edit;
    use crate::trace_context::{Sampling, SpanContext, SpanId, TraceId, TraceState};

    fn outgoing(sampling: Sampling, parent: Option<&str>, tracestate: &str) -> Outgoing<'static> {
        Outgoing {
            context: SpanContext {
                trace_id: TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                span_id: SpanId::from_hex(b"00f067aa0ba902b7").unwrap(),
                sampling,
            },
            random_trace_id: true,
            parent_span_id: parent.map(|p| SpanId::from_hex(p.as_bytes()).unwrap()),
            tracestate: TraceState::parse(&[tracestate.as_bytes()]).unwrap().into(),
            outcome: Outcome::Started,
        }
    }

    /// The headers [`super::trace_headers`] sends.
    fn trace_headers(outgoing: &Outgoing<'_>, formats: &[Format]) -> Edits {
        let mut edits = Edits::new();
        super::trace_headers(outgoing, formats, &mut edits);
        edits
    }

    fn names(headers: &Edits) -> Vec<String> {
        headers
            .iter()
            .map(|edit| match edit {
                Edit::Set(n, v) => format!("{n}: {v}"),
                Edit::Remove(n) => format!("{n} removed"),
            })
            .collect()
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
        assert!(names(&trace_headers(&debug, &[Format::W3c]))[0].ends_with("-03"));
    }
}
