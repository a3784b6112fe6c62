//! Reading the trace context a request arrives with.
//!
//! W3C `traceparent` comes first; B3 (the single `b3` header, else the `x-b3-*` headers) is
//! read when there is no valid `traceparent`. Every value of every header is read, so a
//! repeated header is seen (and is invalid).

use crate::received::{Received, Slot};
use crate::trace_context::{B3Error, B3MultiValues, TraceParent, TraceParentError, B3};

/// What the request's trace headers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// No trace header at all.
    None,
    /// A valid `traceparent` (its `tracestate` is read only when the trace is continued).
    W3c(TraceParent),
    /// Valid B3 headers, and no valid `traceparent`.
    B3(B3),
    /// Trace headers that are all invalid; the first error found.
    Invalid(Invalid),
}

/// Why the incoming context was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The `traceparent` header (repeated, or malformed).
    W3c(TraceParentError),
    /// The B3 headers.
    B3(B3Error),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::W3c(error) => error.fmt(f),
            Self::B3(error) => error.fmt(f),
        }
    }
}

/// Reads the incoming context from the request's trace headers.
pub fn extract_received(received: &Received<'_>) -> Incoming {
    let w3c_error = match TraceParent::parse(received.get(Slot::TraceParent).as_slice()) {
        Ok(traceparent) => return Incoming::W3c(traceparent),
        Err(TraceParentError::Missing) => None,
        Err(error) => Some(Invalid::W3c(error)),
    };
    let [single, trace_id, span_id, parent_span_id, sampled, flags] = [
        Slot::B3,
        Slot::B3TraceId,
        Slot::B3SpanId,
        Slot::B3ParentSpanId,
        Slot::B3Sampled,
        Slot::B3Flags,
    ]
    .map(|slot| received.get(slot));
    let multi = B3MultiValues {
        trace_id: trace_id.as_slice(),
        span_id: span_id.as_slice(),
        parent_span_id: parent_span_id.as_slice(),
        sampled: sampled.as_slice(),
        flags: flags.as_slice(),
    };
    match (B3::extract(single.as_slice(), &multi), w3c_error) {
        (Ok(b3), _) => Incoming::B3(b3),
        (Err(_), Some(w3c_error)) => Incoming::Invalid(w3c_error),
        (Err(B3Error::Missing), None) => Incoming::None,
        (Err(error), None) => Incoming::Invalid(Invalid::B3(error)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use wasmesh_sdk::HeaderMap;

    fn extract(headers: &HeaderMap) -> Incoming {
        extract_received(&Received::read(headers))
    }
    use crate::trace_context::{Sampling, SpanId, TraceId};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";
    const TRACEPARENT_VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn b3_context(incoming: Incoming) -> (TraceId, SpanId, Sampling) {
        let Incoming::B3(b3) = incoming else {
            panic!("not B3: {incoming:?}")
        };
        let context = b3.span_context().unwrap();
        (context.trace_id, context.span_id, context.sampling)
    }

    #[test]
    fn no_trace_headers_is_none() {
        assert_eq!(extract(&headers(&[(":path", "/")])), Incoming::None);
        assert_eq!(extract(&headers(&[("x-b3-flags", "0")])), Incoming::None);
    }

    #[test]
    fn a_valid_traceparent_wins_over_b3() {
        let incoming = extract(&headers(&[
            ("b3", &format!("{}-{}-0", "a".repeat(32), "b".repeat(16))),
            ("traceparent", TRACEPARENT_VALID),
        ]));
        let Incoming::W3c(traceparent) = incoming else {
            panic!("{incoming:?}")
        };
        assert_eq!(traceparent.trace_id.to_string(), TRACE);
        assert!(traceparent.sampled);
    }

    #[test]
    fn b3_is_used_when_traceparent_is_absent_or_invalid() {
        let b3 = format!("{TRACE}-{SPAN}-1");
        let (trace, span, sampling) = b3_context(extract(&headers(&[("b3", &b3)])));
        assert_eq!(
            (trace.to_string(), span.to_string()),
            (TRACE.into(), SPAN.into())
        );
        assert_eq!(sampling, Sampling::Sampled);
        let with_bad_traceparent = headers(&[("traceparent", "garbage"), ("b3", &b3)]);
        assert_eq!(
            b3_context(extract(&with_bad_traceparent)).0.to_string(),
            TRACE
        );
    }

    #[test]
    fn repeated_traceparent_is_invalid_even_when_identical() {
        let incoming = extract(&headers(&[
            ("traceparent", TRACEPARENT_VALID),
            ("traceparent", TRACEPARENT_VALID),
        ]));
        assert_eq!(
            incoming,
            Incoming::Invalid(Invalid::W3c(TraceParentError::Repeated))
        );
    }

    #[test]
    fn the_traceparent_error_is_reported_before_the_b3_one() {
        let incoming = extract(&headers(&[
            ("traceparent", &TRACEPARENT_VALID.to_uppercase()),
            ("b3", "nonsense-value"),
        ]));
        assert!(matches!(incoming, Incoming::Invalid(Invalid::W3c(_))));
        let incoming = extract(&headers(&[("x-b3-traceid", TRACE)]));
        assert_eq!(
            incoming,
            Incoming::Invalid(Invalid::B3(B3Error::MissingSpanId))
        );
    }

    #[test]
    fn b3_single_takes_precedence_over_multi() {
        let single = format!("{TRACE}-{SPAN}-d");
        let incoming = extract(&headers(&[
            ("x-b3-traceid", "1111111111111111"),
            ("x-b3-spanid", "2222222222222222"),
            ("x-b3-sampled", "0"),
            ("b3", &single),
        ]));
        let (trace, _, sampling) = b3_context(incoming);
        assert_eq!(trace.to_string(), TRACE);
        assert_eq!(sampling, Sampling::Debug);
    }

    #[test]
    fn b3_multi_with_a_64_bit_trace_id_is_padded() {
        let incoming = extract(&headers(&[
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", SPAN),
            ("x-b3-flags", "1"),
        ]));
        let (trace, span, sampling) = b3_context(incoming);
        assert_eq!(trace.to_string(), "0000000000000000a3ce929d0e0e4736");
        assert_eq!(span.to_string(), SPAN);
        assert_eq!(sampling, Sampling::Debug);
    }

    #[test]
    fn a_b3_sampling_decision_alone_is_kept() {
        let incoming = extract(&headers(&[("b3", "0")]));
        assert_eq!(
            incoming,
            Incoming::B3(B3::SamplingOnly(Sampling::NotSampled))
        );
    }
}
