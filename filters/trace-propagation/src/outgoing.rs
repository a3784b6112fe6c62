//! Choosing the trace context the forwarded request carries.
//!
//! - A valid incoming context is continued (trust boundary `continue`): same trace id and
//!   random-trace-id flag, the incoming sampling decision when trusted, and a new span id
//!   when this filter instance marks the hop (`new_span_id`). `tracestate` is kept only
//!   with a valid `traceparent`, and only when it is valid as a whole (every field of the
//!   header counted as one list): an invalid one is dropped entirely, never in part.
//! - Otherwise a new trace starts: random trace and span ids, the random-trace-id flag,
//!   no `tracestate` (at a `restart` boundary, at most the incoming context as one entry).

use crate::config::{Boundary, Settings};
use crate::extract::{extract_received, Incoming, Invalid};
use crate::received::{Received, Slot};
use crate::trace_context::tracestate::is_canonical;
use crate::trace_context::{Sampling, SpanContext, SpanId, TraceId, TraceParent, TraceState, B3};

/// The context of the forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// Trace id, the span id the next hop sees as its parent, and the sampling decision
    /// (never deferred).
    pub context: SpanContext,
    /// The W3C random-trace-id flag.
    pub random_trace_id: bool,
    /// The span this request's span is a child of, sent as B3 `ParentSpanId`: the incoming
    /// span when a new span id was made, else none.
    pub parent_span_id: Option<SpanId>,
    /// The `tracestate` to send.
    pub tracestate: OutgoingState<'a>,
    /// What happened to the incoming context.
    pub outcome: Outcome,
}

/// The `tracestate` of the forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingState<'a> {
    /// The request's one `tracestate` value, valid and sent on as it is, without being
    /// parsed into a list.
    Received(&'a [u8]),
    /// A list made here (empty: none is sent): a valid header whose fields are combined into
    /// one value without whitespace or empty members, or the entry a `restart` boundary
    /// keeps.
    List(TraceState),
}

impl OutgoingState<'_> {
    /// Whether no `tracestate` is sent.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Received(_) => false,
            Self::List(list) => list.is_empty(),
        }
    }

    /// The header value sent (empty: none).
    #[cfg(test)]
    pub fn to_header(&self) -> String {
        match self {
            Self::Received(value) => String::from_utf8_lossy(value).into_owned(),
            Self::List(list) => list.to_header(),
        }
    }
}

impl From<TraceState> for OutgoingState<'_> {
    fn from(list: TraceState) -> Self {
        Self::List(list)
    }
}

/// What happened to the incoming context; the `context` tag of the request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A valid incoming context was continued; from which format.
    Continued(Source),
    /// No incoming context (or only a B3 sampling decision): a new trace.
    Started,
    /// The incoming context was invalid (this is why): a new trace.
    Invalid(Invalid),
    /// A valid incoming context met a `restart` boundary: a new trace.
    Restarted(Source),
}

/// The format an incoming context came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `traceparent`.
    W3c,
    /// `b3` or `x-b3-*`.
    B3,
}

impl Outcome {
    /// The value of the `context` tag.
    pub fn context_tag(self) -> &'static str {
        match self {
            Self::Continued(_) => "continued",
            Self::Started => "started",
            Self::Invalid(_) => "invalid",
            Self::Restarted(_) => "restarted",
        }
    }

    /// The value of the `format` tag: the format of the incoming context, `none` without
    /// a valid one.
    pub fn format_tag(self) -> &'static str {
        match self {
            Self::Continued(Source::W3c) | Self::Restarted(Source::W3c) => "w3c",
            Self::Continued(Source::B3) | Self::Restarted(Source::B3) => "b3",
            Self::Started | Self::Invalid(_) => "none",
        }
    }
}

/// The outgoing context for a request whose trace headers are `received`.
pub fn decide_received<'a>(
    settings: &Settings,
    received: &Received<'a>,
    random: &mut dyn FnMut(&mut [u8]),
) -> Outgoing<'a> {
    let (context, random_trace_id, source) = match extract_received(received) {
        Incoming::W3c(traceparent) => (
            traceparent.to_span_context(),
            traceparent.random,
            Source::W3c,
        ),
        Incoming::B3(B3::Context { context, .. }) => (context, false, Source::B3),
        Incoming::B3(B3::SamplingOnly(sampling)) => {
            let incoming = match settings.boundary {
                Boundary::Continue => sampling,
                Boundary::Restart { .. } => Sampling::Deferred,
            };
            return new_trace(settings, incoming, Outcome::Started, random);
        }
        Incoming::None => return new_trace(settings, Sampling::Deferred, Outcome::Started, random),
        Incoming::Invalid(invalid) => {
            let outcome = Outcome::Invalid(invalid);
            return new_trace(settings, Sampling::Deferred, outcome, random);
        }
    };
    let Boundary::Restart { link_key } = &settings.boundary else {
        return continue_trace(settings, received, context, random_trace_id, source, random);
    };
    let mut outgoing = new_trace(
        settings,
        Sampling::Deferred,
        Outcome::Restarted(source),
        random,
    );
    if let Some(key) = link_key {
        let incoming = TraceParent::from_span_context(&context, random_trace_id);
        let mut list = TraceState::new();
        // The key was validated when compiling, and a traceparent is a valid value.
        let _ = list.put_front(key, incoming.to_header_value().as_str());
        outgoing.tracestate = OutgoingState::List(list);
    }
    outgoing
}

/// Continues the incoming `context`.
fn continue_trace<'a>(
    settings: &Settings,
    received: &Received<'a>,
    context: SpanContext,
    random_trace_id: bool,
    source: Source,
    random: &mut dyn FnMut(&mut [u8]),
) -> Outgoing<'a> {
    let sampling =
        settings
            .sampler
            .decide(context.sampling, &context.trace_id, random_trace_id, random);
    let (span_id, parent_span_id) = if settings.new_span_id {
        (SpanId::random(random), Some(context.span_id))
    } else {
        (context.span_id, None)
    };
    let tracestate = received.get(Slot::TraceState);
    let tracestate = match (source, tracestate.as_slice()) {
        (Source::W3c, [value]) if is_canonical(value) => OutgoingState::Received(value),
        // Trace Context Level 2 §4.1.2: an invalid header is discarded whole.
        (Source::W3c, values) => OutgoingState::List(TraceState::parse(values).unwrap_or_default()),
        (Source::B3, _) => OutgoingState::List(TraceState::new()),
    };
    Outgoing {
        context: SpanContext {
            trace_id: context.trace_id,
            span_id,
            sampling,
        },
        random_trace_id,
        parent_span_id,
        tracestate,
        outcome: Outcome::Continued(source),
    }
}

/// A new trace; `incoming` is a sampling decision that came without ids (B3 `b3: 0`),
/// kept when trusted, or [`Sampling::Deferred`].
fn new_trace<'a>(
    settings: &Settings,
    incoming: Sampling,
    outcome: Outcome,
    random: &mut dyn FnMut(&mut [u8]),
) -> Outgoing<'a> {
    let trace_id = TraceId::random(random);
    let span_id = SpanId::random(random);
    let sampling = settings.sampler.decide(incoming, &trace_id, true, random);
    Outgoing {
        context: SpanContext {
            trace_id,
            span_id,
            sampling,
        },
        random_trace_id: true,
        parent_span_id: None,
        tracestate: OutgoingState::List(TraceState::new()),
        outcome,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::received::Received;
    use wasmesh_sdk::HeaderMap;

    fn decide<'a>(
        settings: &Settings,
        headers: &'a HeaderMap,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Outgoing<'a> {
        decide_received(settings, &Received::read(headers), random)
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn settings(json: &str) -> Settings {
        crate::config::compile(json).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn counter() -> impl FnMut(&mut [u8]) {
        let mut next = 0u8;
        move |buf: &mut [u8]| {
            for byte in buf.iter_mut() {
                next = next.wrapping_add(1);
                *byte = next;
            }
        }
    }

    fn decide_with(json: &str, pairs: &[(&str, &str)]) -> Outgoing<'static> {
        // The outgoing context may borrow the request's `tracestate`.
        let request: &'static HeaderMap = Box::leak(Box::new(headers(pairs)));
        decide(&settings(json), request, &mut counter())
    }

    #[test]
    fn a_w3c_trace_is_continued_with_a_new_span_id_and_its_tracestate() {
        let traceparent = format!("00-{TRACE}-{SPAN}-02");
        let outgoing = decide_with(
            "{}",
            &[
                ("traceparent", &traceparent),
                ("tracestate", "a=1"),
                ("tracestate", "b=2"),
            ],
        );
        assert_eq!(outgoing.context.trace_id.to_string(), TRACE);
        assert_ne!(outgoing.context.span_id.to_string(), SPAN);
        assert_eq!(outgoing.parent_span_id.unwrap().to_string(), SPAN);
        assert_eq!(outgoing.context.sampling, Sampling::NotSampled);
        assert!(outgoing.random_trace_id, "flags are kept");
        assert_eq!(outgoing.tracestate.to_header(), "a=1,b=2");
        assert_eq!(outgoing.outcome, Outcome::Continued(Source::W3c));
    }

    #[test]
    fn without_new_span_id_the_span_is_reused_and_has_no_b3_parent() {
        let traceparent = format!("00-{TRACE}-{SPAN}-01");
        let outgoing = decide_with(
            r#"{"new_span_id": false}"#,
            &[("traceparent", &traceparent)],
        );
        assert_eq!(outgoing.context.span_id.to_string(), SPAN);
        assert_eq!(outgoing.parent_span_id, None);
        assert_eq!(outgoing.context.sampling, Sampling::Sampled);
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace_and_ignores_tracestate() {
        let traceparent = format!("ff-{TRACE}-{SPAN}-01");
        let outgoing = decide_with(
            "{}",
            &[("traceparent", &traceparent), ("tracestate", "a=1")],
        );
        assert_ne!(outgoing.context.trace_id.to_string(), TRACE);
        assert!(outgoing.random_trace_id);
        assert!(outgoing.tracestate.is_empty());
        assert_eq!(outgoing.parent_span_id, None);
        assert!(matches!(
            outgoing.outcome,
            Outcome::Invalid(Invalid::W3c(_))
        ));
        assert_eq!(outgoing.context.sampling, Sampling::Sampled);
    }

    #[test]
    fn a_b3_trace_is_continued_without_tracestate() {
        let b3 = format!("{TRACE}-{SPAN}-d");
        let outgoing = decide_with("{}", &[("b3", &b3), ("tracestate", "a=1")]);
        assert_eq!(outgoing.context.trace_id.to_string(), TRACE);
        assert_eq!(outgoing.context.sampling, Sampling::Debug);
        assert!(!outgoing.random_trace_id);
        assert!(outgoing.tracestate.is_empty());
        assert_eq!(outgoing.outcome, Outcome::Continued(Source::B3));
    }

    #[test]
    fn a_deferred_b3_decision_is_taken_here() {
        let b3 = format!("{TRACE}-{SPAN}");
        let outgoing = decide_with(r#"{"sampling": {"probability": 0}}"#, &[("b3", &b3)]);
        assert_eq!(outgoing.context.sampling, Sampling::NotSampled);
        let outgoing = decide_with("{}", &[("b3", &b3)]);
        assert_eq!(outgoing.context.sampling, Sampling::Sampled);
    }

    #[test]
    fn a_b3_decision_without_ids_starts_a_trace_with_that_decision() {
        let outgoing = decide_with("{}", &[("b3", "0")]);
        assert_eq!(outgoing.outcome, Outcome::Started);
        assert_eq!(outgoing.context.sampling, Sampling::NotSampled);
        let restarted = decide_with(r#"{"trust_boundary": "restart"}"#, &[("b3", "0")]);
        assert_eq!(restarted.context.sampling, Sampling::Sampled);
    }

    #[test]
    fn a_restart_boundary_keeps_the_incoming_context_only_as_a_tracestate_entry() {
        let traceparent = format!("00-{TRACE}-{SPAN}-01");
        let pairs = [("traceparent", &*traceparent), ("tracestate", "a=1")];
        let json = r#"{"trust_boundary": "restart", "restart_tracestate_key": "edge",
                       "sampling": {"probability": 0}}"#;
        let outgoing = decide_with(json, &pairs);
        assert_ne!(outgoing.context.trace_id.to_string(), TRACE);
        assert_eq!(outgoing.outcome, Outcome::Restarted(Source::W3c));
        assert_eq!(
            outgoing.tracestate.to_header(),
            format!("edge={traceparent}")
        );
        assert_eq!(
            outgoing.context.sampling,
            Sampling::NotSampled,
            "the incoming decision is not used"
        );
        let dropped = decide_with(r#"{"trust_boundary": "restart"}"#, &pairs);
        assert!(dropped.tracestate.is_empty());
    }

    #[test]
    fn tags_name_the_outcome_and_the_format() {
        let tags = |outcome: Outcome| (outcome.context_tag(), outcome.format_tag());
        assert_eq!(tags(Outcome::Continued(Source::W3c)), ("continued", "w3c"));
        assert_eq!(tags(Outcome::Restarted(Source::B3)), ("restarted", "b3"));
        assert_eq!(tags(Outcome::Started), ("started", "none"));
        let invalid = Invalid::B3(crate::trace_context::B3Error::Malformed);
        assert_eq!(tags(Outcome::Invalid(invalid)), ("invalid", "none"));
    }
}
