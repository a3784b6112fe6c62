//! The request headers this filter reads, gathered in one pass over the request.
//!
//! Every value of every header is available, in order, so a repeated header is still seen
//! (and refused where the format says so). Names are matched without regard to ASCII case, as
//! [`HeaderMap::values`] does.

use crate::trace_context::b3::{
    B3_SINGLE, X_B3_FLAGS, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_SPAN_ID, X_B3_TRACE_ID,
};
use crate::trace_context::baggage::BAGGAGE;
use crate::trace_context::request_id::X_REQUEST_ID;
use crate::trace_context::traceparent::TRACEPARENT;
use crate::trace_context::tracestate::TRACESTATE;
use wasmesh_sdk::HeaderMap;

/// Every value of one header, in order.
#[derive(Debug, Default)]
pub struct Values<'a> {
    /// The value of a header that appears once.
    single: Option<&'a [u8]>,
    /// All the values of a header that appears more than once.
    all: Vec<&'a [u8]>,
}

impl<'a> Values<'a> {
    /// The values, in order.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        if self.all.is_empty() {
            self.single.as_slice()
        } else {
            &self.all
        }
    }
}

/// The trace and correlation headers of a request, as found in one pass over it.
///
/// Small, so that reading it costs little: the first value of each header, and which ones
/// are repeated (their values are gathered again from the request, which is rare).
#[derive(Debug)]
pub struct Received<'a> {
    /// Which headers are present: bit `i` for [`Slot`] `i`, the trace headers being in
    /// [`crate::inject::TRACE_HEADERS`] order.
    pub present: u16,
    /// Which headers appear more than once, as in `present`.
    repeated: u16,
    /// The first value of each header, by [`Slot`].
    first: [Option<&'a [u8]>; SLOTS],
    headers: &'a HeaderMap,
}

impl<'a> Received<'a> {
    /// Reads the headers of interest from `headers`, in one pass.
    pub fn read(headers: &'a HeaderMap) -> Self {
        let mut received = Self {
            present: 0,
            repeated: 0,
            first: [None; SLOTS],
            headers,
        };
        for (name, value) in headers.iter() {
            if let Some(slot) = Slot::of(name) {
                let bit = slot.bit();
                if received.present & bit == 0 {
                    received.present |= bit;
                    if let Some(first) = received.first.get_mut(slot as usize) {
                        *first = Some(value);
                    }
                } else {
                    received.repeated |= bit;
                }
            }
        }
        received
    }

    /// Every value of the header `slot`, in order.
    pub fn get(&self, slot: Slot) -> Values<'a> {
        if self.repeated & slot.bit() != 0 {
            return Values {
                single: None,
                all: self.headers.values(slot.name()).collect(),
            };
        }
        Values {
            single: self.first.get(slot as usize).copied().flatten(),
            all: Vec::new(),
        }
    }

    /// The values of the header `name` when it is one this filter reads (`name` is
    /// compared without regard to ASCII case).
    #[cfg(test)]
    pub fn values(&self, name: &str) -> Option<Values<'a>> {
        Slot::of(name.as_bytes()).map(|slot| self.get(slot))
    }

    /// Whether the header `name` is present; `false` for a header this filter does not read.
    #[cfg(test)]
    pub fn contains(&self, name: &str) -> bool {
        Slot::of(name.as_bytes()).is_some_and(|slot| self.present & slot.bit() != 0)
    }
}

/// How many headers this filter reads.
const SLOTS: usize = 10;

/// The names of the headers this filter reads, by [`Slot`]: the trace headers in
/// [`crate::inject::TRACE_HEADERS`] order, then `x-request-id` and `baggage`.
pub const NAMES: [&str; SLOTS] = [
    TRACEPARENT,
    TRACESTATE,
    B3_SINGLE,
    X_B3_TRACE_ID,
    X_B3_SPAN_ID,
    X_B3_PARENT_SPAN_ID,
    X_B3_SAMPLED,
    X_B3_FLAGS,
    X_REQUEST_ID,
    BAGGAGE,
];

/// One of the headers this filter reads: the trace headers in
/// [`crate::inject::TRACE_HEADERS`] order, then `x-request-id` and `baggage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `traceparent`.
    TraceParent,
    /// `tracestate`.
    TraceState,
    /// `b3`.
    B3,
    /// `x-b3-traceid`.
    B3TraceId,
    /// `x-b3-spanid`.
    B3SpanId,
    /// `x-b3-parentspanid`.
    B3ParentSpanId,
    /// `x-b3-sampled`.
    B3Sampled,
    /// `x-b3-flags`.
    B3Flags,
    /// `x-request-id`.
    RequestId,
    /// `baggage`.
    Baggage,
}

impl Slot {
    /// The header called `name` (any ASCII case), if this filter reads it. The length and
    /// one or two bytes pick the one candidate, so any other header costs no comparison.
    #[inline]
    fn of(name: &[u8]) -> Option<Self> {
        // The lengths of the names read; any other name is out after one test.
        const LENGTHS: u32 = 1 << 2 | 1 << 7 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 17;
        if LENGTHS.checked_shr(u32::try_from(name.len()).ok()?)? & 1 == 0 {
            return None;
        }
        Self::candidate(name)
    }

    /// [`Slot::of`] for a name of one of the lengths read.
    fn candidate(name: &[u8]) -> Option<Self> {
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

    /// The slot's bit in [`Received::present`].
    fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The header's name.
    fn name(self) -> &'static str {
        NAMES.get(self as usize).copied().unwrap_or_default()
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
    fn the_presence_bits_follow_the_trace_headers_then_request_id_and_baggage() {
        assert_eq!(names(), NAMES);
        for (index, name) in names().into_iter().enumerate() {
            let slot = Slot::of(name.as_bytes()).unwrap();
            assert_eq!(slot.bit(), 1 << index, "{name}");
            assert_eq!(slot.name(), name);
        }
        let headers = HeaderMap::from(&[("b3", "1"), ("Baggage", "a=1"), ("b3", "0")][..]);
        assert_eq!(Received::read(&headers).present, (1 << 2) | (1 << 9));
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
        assert!(received.values("user-agent").is_none());
        assert!(!received.contains("user-agent"));
    }
}
