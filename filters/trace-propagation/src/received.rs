//! The request headers this filter reads, gathered in one pass over the request.
//!
//! Every value of every header is kept, in order, so a repeated header is still seen (and
//! refused where the format says so). Names are matched without regard to ASCII case, as
//! [`HeaderMap::values`] does.

use wasmesh_sdk::trace::b3::{
    B3_SINGLE, X_B3_FLAGS, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_SPAN_ID, X_B3_TRACE_ID,
};
use wasmesh_sdk::trace::baggage::BAGGAGE;
use wasmesh_sdk::trace::request_id::X_REQUEST_ID;
use wasmesh_sdk::trace::traceparent::TRACEPARENT;
use wasmesh_sdk::trace::tracestate::TRACESTATE;
use wasmesh_sdk::HeaderMap;

/// How many values of one header are kept without allocating.
const INLINE_VALUES: usize = 2;

/// Every value of one header, in order; the first [`INLINE_VALUES`] without allocating.
#[derive(Debug, Default)]
pub struct Values<'a> {
    inline: [&'a [u8]; INLINE_VALUES],
    count: usize,
    /// All the values once there are more than [`INLINE_VALUES`].
    spilled: Vec<&'a [u8]>,
}

impl<'a> Values<'a> {
    /// Adds the next value.
    fn push(&mut self, value: &'a [u8]) {
        if let Some(slot) = self.inline.get_mut(self.count) {
            *slot = value;
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline);
            }
            self.spilled.push(value);
        }
        self.count += 1;
    }

    /// The values, in order.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        if self.count > INLINE_VALUES {
            &self.spilled
        } else {
            self.inline.get(..self.count).unwrap_or_default()
        }
    }

    /// Whether the header is absent.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The values of the trace and correlation headers of a request.
#[derive(Debug, Default)]
pub struct Received<'a> {
    /// `traceparent`.
    pub traceparent: Values<'a>,
    /// `tracestate`.
    pub tracestate: Values<'a>,
    /// `b3`.
    pub b3: Values<'a>,
    /// `x-b3-traceid`.
    pub x_b3_trace_id: Values<'a>,
    /// `x-b3-spanid`.
    pub x_b3_span_id: Values<'a>,
    /// `x-b3-parentspanid`.
    pub x_b3_parent_span_id: Values<'a>,
    /// `x-b3-sampled`.
    pub x_b3_sampled: Values<'a>,
    /// `x-b3-flags`.
    pub x_b3_flags: Values<'a>,
    /// `x-request-id`.
    pub x_request_id: Values<'a>,
    /// `baggage`.
    pub baggage: Values<'a>,
}

impl<'a> Received<'a> {
    /// Reads the headers of interest from `headers`, in one pass.
    pub fn read(headers: &'a HeaderMap) -> Self {
        let mut received = Self::default();
        for (name, value) in headers.iter() {
            if let Some(values) = received.values_mut(name) {
                values.push(value);
            }
        }
        received
    }

    /// The values of the header `name` when it is one this filter reads (`name` is
    /// compared without regard to ASCII case).
    pub fn values(&self, name: &str) -> Option<&Values<'a>> {
        let slot = Slot::of(name.as_bytes())?;
        Some(match slot {
            Slot::TraceParent => &self.traceparent,
            Slot::TraceState => &self.tracestate,
            Slot::B3 => &self.b3,
            Slot::B3TraceId => &self.x_b3_trace_id,
            Slot::B3SpanId => &self.x_b3_span_id,
            Slot::B3ParentSpanId => &self.x_b3_parent_span_id,
            Slot::B3Sampled => &self.x_b3_sampled,
            Slot::B3Flags => &self.x_b3_flags,
            Slot::RequestId => &self.x_request_id,
            Slot::Baggage => &self.baggage,
        })
    }

    /// Whether the header `name` is present; `false` for a header this filter does not read.
    pub fn contains(&self, name: &str) -> bool {
        self.values(name).is_some_and(|values| !values.is_empty())
    }

    fn values_mut(&mut self, name: &[u8]) -> Option<&mut Values<'a>> {
        let slot = Slot::of(name)?;
        Some(match slot {
            Slot::TraceParent => &mut self.traceparent,
            Slot::TraceState => &mut self.tracestate,
            Slot::B3 => &mut self.b3,
            Slot::B3TraceId => &mut self.x_b3_trace_id,
            Slot::B3SpanId => &mut self.x_b3_span_id,
            Slot::B3ParentSpanId => &mut self.x_b3_parent_span_id,
            Slot::B3Sampled => &mut self.x_b3_sampled,
            Slot::B3Flags => &mut self.x_b3_flags,
            Slot::RequestId => &mut self.x_request_id,
            Slot::Baggage => &mut self.baggage,
        })
    }
}

/// One of the headers this filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    TraceParent,
    TraceState,
    B3,
    B3TraceId,
    B3SpanId,
    B3ParentSpanId,
    B3Sampled,
    B3Flags,
    RequestId,
    Baggage,
}

impl Slot {
    /// The header called `name` (any ASCII case), if this filter reads it. The length and
    /// one or two bytes pick the one candidate, so any other header costs no comparison.
    fn of(name: &[u8]) -> Option<Self> {
        let lower = |index: usize| name.get(index).map(u8::to_ascii_lowercase);
        let (slot, known) = match (name.len(), lower(0)?) {
            (2, b'b') => (Self::B3, B3_SINGLE),
            (7, b'b') => (Self::Baggage, BAGGAGE),
            (10, b't') => (Self::TraceState, TRACESTATE),
            (10, b'x') => (Self::B3Flags, X_B3_FLAGS),
            (11, b't') => (Self::TraceParent, TRACEPARENT),
            (11, b'x') => (Self::B3SpanId, X_B3_SPAN_ID),
            (12, b'x') => match lower(5)? {
                b'u' => (Self::RequestId, X_REQUEST_ID),
                b't' => (Self::B3TraceId, X_B3_TRACE_ID),
                b's' => (Self::B3Sampled, X_B3_SAMPLED),
                _ => return None,
            },
            (17, b'x') => (Self::B3ParentSpanId, X_B3_PARENT_SPAN_ID),
            _ => return None,
        };
        let known = known.as_bytes();
        (name == known || name.eq_ignore_ascii_case(known)).then_some(slot)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Every header this module reads: the trace headers, `x-request-id` and `baggage`.
    fn names() -> Vec<&'static str> {
        let mut names = crate::inject::TRACE_HEADERS.to_vec();
        names.extend([X_REQUEST_ID, BAGGAGE]);
        names
    }

    #[test]
    fn every_header_read_is_recognized_in_any_case() {
        let names = names();
        for name in &names {
            assert!(Slot::of(name.as_bytes()).is_some(), "{name}");
            assert_eq!(
                Slot::of(name.to_uppercase().as_bytes()),
                Slot::of(name.as_bytes())
            );
        }
        let distinct: std::collections::HashSet<_> = names
            .iter()
            .map(|name| format!("{:?}", Slot::of(name.as_bytes())))
            .collect();
        assert_eq!(distinct.len(), names.len());
        let others = [
            ":path",
            "x-b3",
            "traceparents",
            "",
            "b4",
            "baggagE2",
            "x-requestid-",
            "x-b3-tracei",
            "x-forwarded-proto",
            "tracepareNt2",
        ];
        for other in others {
            assert_eq!(Slot::of(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn values_match_the_header_map_in_order() {
        let headers = HeaderMap::from(
            &[
                ("TraceParent", "a"),
                ("x-request-id", "1"),
                ("traceparent", "b"),
                ("baggage", "x=1"),
                ("traceparent", "c"),
                ("x-request-id", "2"),
                ("traceparent", "d"),
                ("user-agent", "u"),
            ][..],
        );
        let received = Received::read(&headers);
        for name in names() {
            let expected: Vec<&[u8]> = headers.values(name).collect();
            assert_eq!(
                received.values(name).unwrap().as_slice(),
                expected,
                "{name}"
            );
            assert_eq!(received.contains(name), headers.contains(name), "{name}");
        }
        assert_eq!(received.values("user-agent").map(Values::as_slice), None);
        assert!(!received.contains("user-agent"));
    }
}
