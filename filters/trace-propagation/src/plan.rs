//! Everything the filter changes on a request, computed from its headers without the host.
//!
//! A plan allocates nothing for a request whose `tracestate` and `baggage` are sent on as
//! received (they are then not set at all) or removed: the changes are a fixed array, and
//! the values made here (`traceparent`, `b3`, `x-b3-*`, `x-request-id`) are written into a
//! fixed buffer beside it. Only a `tracestate` or `baggage` that has to be rebuilt (several
//! fields combined, whitespace or empty members removed, invalid `baggage` members dropped,
//! the restart entry added) is a `String`; an invalid `tracestate` is removed without one.
//! The plan is small, so that making and handing it on copies little.

use std::fmt;

use crate::trace_context::HeaderValue;
use wasmesh_sdk::HeaderMap;

use crate::config::Settings;
use crate::correlation::{self, Baggage};
use crate::inject::{trace_headers, TRACE_HEADERS};
use crate::outgoing::{decide_received, Outgoing};
use crate::received::{Received, Slot, NAMES};

/// The value of a header the plan sets: its bytes, borrowed from the plan.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Value<'b>(&'b [u8]);

impl<'b> Value<'b> {
    /// The bytes to send.
    pub fn as_bytes(&self) -> &'b [u8] {
        self.0
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.0), f)
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}

impl<'b> From<&'b str> for Value<'b> {
    fn from(value: &'b str) -> Self {
        Self(value.as_bytes())
    }
}

/// One change to the request headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit<'b> {
    /// Replace every value of the header with this one.
    Set(&'static str, Value<'b>),
    /// Remove every value of the header.
    Remove(&'static str),
}

/// Where `x-request-id` and `baggage` are in [`NAMES`] (every header a plan changes, each
/// at most once).
pub const REQUEST_ID_AT: usize = Slot::RequestId as usize;
pub const BAGGAGE_AT: usize = Slot::Baggage as usize;

/// The most changes one request needs.
const MAX_EDITS: usize = NAMES.len();
/// The most bytes of values made here: `traceparent`, `b3`, the four `x-b3-*` (a trace id,
/// two span ids, a flag) and `x-request-id`.
const MADE_BYTES: usize = 55 + HeaderValue::CAPACITY + 32 + 16 + 16 + 1 + 36;
/// The most values rebuilt: `tracestate` and `baggage`.
const MAX_BUILT: usize = 2;

/// Where the value of a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Nowhere: the header is removed.
    Removed,
    /// `made[start..end]`.
    Made { start: u8, end: u8 },
    /// `built[i]`.
    Built(u8),
}

/// One change: the header (an index in [`NAMES`]) and its value.
#[derive(Debug, Clone, Copy)]
struct Change {
    name: u8,
    stored: Stored,
}

/// The header changes of one request, in order, with their values, in fixed arrays.
#[derive(Clone)]
pub struct Edits {
    changes: [Change; MAX_EDITS],
    len: usize,
    /// How many changes [`Edits::remove_first`] added.
    removed_first: usize,
    made: [u8; MADE_BYTES],
    made_len: usize,
    built: [Option<String>; MAX_BUILT],
    built_len: usize,
}

impl Edits {
    /// No changes.
    pub fn new() -> Self {
        Self::NONE
    }

    /// No changes, as a constant: a plan starts from it in place.
    const NONE: Self = Self {
        changes: [Change {
            name: 0,
            stored: Stored::Removed,
        }; MAX_EDITS],
        len: 0,
        removed_first: 0,
        made: [0; MADE_BYTES],
        made_len: 0,
        built: [const { None }; MAX_BUILT],
        built_len: 0,
    };

    /// Removes `NAMES[name]`, after the changes so far.
    pub fn remove(&mut self, name: usize) {
        self.push(name, Stored::Removed);
    }

    /// Removes `NAMES[name]` before every other change but such removals.
    pub fn remove_first(&mut self, name: usize) {
        self.insert(self.removed_first, name, Stored::Removed);
        self.removed_first += 1;
    }

    /// Sets `NAMES[name]` to a value made here.
    pub fn set_made(&mut self, name: usize, value: &HeaderValue) {
        let bytes = value.as_bytes();
        self.set_written(name, &mut |out| {
            let room = out.get_mut(..bytes.len())?;
            room.copy_from_slice(bytes);
            Some(bytes.len())
        });
    }

    /// Sets `NAMES[name]` to the value `write` writes at the start of the buffer it is
    /// given, returning its length (`None`: nothing to set). Whether it was set.
    pub fn set_written(
        &mut self,
        name: usize,
        write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let start = self.made_len;
        let Some(len) = self.made.get_mut(start..).and_then(write) else {
            return false;
        };
        let end = start + len;
        let (Ok(start_at), Ok(end_at)) = (u8::try_from(start), u8::try_from(end)) else {
            return false;
        };
        self.made_len = end;
        self.push(
            name,
            Stored::Made {
                start: start_at,
                end: end_at,
            },
        );
        true
    }

    /// Sets `NAMES[name]` to a value rebuilt from the request's.
    pub fn set_built(&mut self, name: usize, value: String) {
        let index = self.built_len;
        if let (Some(slot), Ok(at)) = (self.built.get_mut(index), u8::try_from(index)) {
            *slot = Some(value);
            self.built_len += 1;
            self.push(name, Stored::Built(at));
        }
    }

    /// Adds a change after the others.
    fn push(&mut self, name: usize, stored: Stored) {
        self.insert(self.len, name, stored);
    }

    /// Adds a change at `at`; there is always room, as no header is changed twice.
    fn insert(&mut self, at: usize, name: usize, stored: Stored) {
        let Ok(name) = u8::try_from(name) else {
            return;
        };
        if self.len >= MAX_EDITS || at > self.len {
            return;
        }
        let mut index = self.len;
        while index > at {
            let before = self.changes.get(index - 1).copied();
            if let (Some(before), Some(slot)) = (before, self.changes.get_mut(index)) {
                *slot = before;
            }
            index -= 1;
        }
        if let Some(slot) = self.changes.get_mut(at) {
            *slot = Change { name, stored };
            self.len += 1;
        }
    }

    /// The number of changes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The changes, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            edits: self,
            next: 0,
        }
    }

    /// The change `change` says.
    fn edit(&self, change: Change) -> Edit<'_> {
        let name = NAMES.get(usize::from(change.name)).copied().unwrap_or("");
        let value = match change.stored {
            Stored::Removed => return Edit::Remove(name),
            Stored::Made { start, end } => self.made.get(usize::from(start)..usize::from(end)),
            Stored::Built(index) => self
                .built
                .get(usize::from(index))
                .and_then(Option::as_deref)
                .map(str::as_bytes),
        };
        Edit::Set(name, Value(value.unwrap_or_default()))
    }
}

/// The changes of [`Edits`], in order.
pub struct Iter<'b> {
    edits: &'b Edits,
    next: usize,
}

impl<'b> Iterator for Iter<'b> {
    type Item = Edit<'b>;

    fn next(&mut self) -> Option<Edit<'b>> {
        let changes = self.edits.changes.get(..self.edits.len)?;
        let change = *changes.get(self.next)?;
        self.next += 1;
        Some(self.edits.edit(change))
    }
}

impl<'b> IntoIterator for &'b Edits {
    type Item = Edit<'b>;
    type IntoIter = Iter<'b>;

    fn into_iter(self) -> Iter<'b> {
        self.iter()
    }
}

impl PartialEq for Edits {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Edits {}

impl<const N: usize> PartialEq<[Edit<'_>; N]> for Edits {
    fn eq(&self, other: &[Edit<'_>; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

impl fmt::Debug for Edits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The changes for one request, and the context they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Header changes, in order.
    pub edits: Edits,
    /// The outgoing context.
    pub outgoing: Outgoing<'a>,
}

/// The plan for a request with `headers`: the outgoing context in the configured formats,
/// every other trace header removed, `x-request-id` and `baggage` put in order. A
/// `tracestate` or `baggage` sent on unchanged is not set again.
pub fn plan<'a>(
    settings: &Settings,
    headers: &'a HeaderMap,
    random: &mut dyn FnMut(&mut [u8]),
) -> Plan<'a> {
    let received = Received::read(headers);
    let outgoing = decide_received(settings, &received, random);
    let mut plan = Plan {
        edits: Edits::NONE,
        outgoing,
    };
    let edits = &mut plan.edits;
    let sent = trace_headers(&plan.outgoing, &settings.inject, edits);
    // The trace headers not sent are removed, before the ones sent are set.
    let removed = received.present & !sent;
    for index in 0..TRACE_HEADERS.len() {
        if removed & (1 << index) != 0 {
            edits.remove_first(index);
        }
    }
    if let Some(value) = correlation::request_id_of(&received.get(Slot::RequestId), random) {
        edits.set_made(REQUEST_ID_AT, &value);
    }
    match correlation::baggage_of(&received.get(Slot::Baggage), settings.baggage) {
        Some(Baggage::Set(value)) => edits.set_built(BAGGAGE_AT, value),
        Some(Baggage::Remove) => edits.remove(BAGGAGE_AT),
        None => {}
    }
    plan
}

impl crate::TracePropagation {
    /// The plan `on_request_headers` applies for `headers`, computed without the host, with
    /// `random` as the random source: the filter's own per-request work, for
    /// `examples/plan_cost.rs`.
    #[doc(hidden)]
    pub fn plan<'a>(&self, headers: &'a HeaderMap, random: &mut dyn FnMut(&mut [u8])) -> Plan<'a> {
        plan(&self.settings, headers, random)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use wasmesh_testing::TestRng;

    fn settings(json: &str) -> Settings {
        crate::config::compile(json).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn sevens(buf: &mut [u8]) {
        buf.fill(7);
    }

    #[test]
    fn trace_headers_not_injected_are_removed_and_the_rest_set() {
        let request = headers(&[
            ("b3", "0"),
            ("x-b3-sampled", "1"),
            ("tracestate", "a=1"),
            ("x-request-id", "r"),
        ]);
        let plan = plan(
            &settings(r#"{"inject": ["w3c", "b3multi"]}"#),
            &request,
            &mut sevens,
        );
        let ids = "07070707070707070707070707070707";
        let span = "0707070707070707";
        assert_eq!(
            plan.edits,
            [
                Edit::Remove("tracestate"),
                Edit::Remove("b3"),
                Edit::Set("traceparent", format!("00-{ids}-{span}-02").as_str().into()),
                Edit::Set("x-b3-traceid", ids.into()),
                Edit::Set("x-b3-spanid", span.into()),
                Edit::Set("x-b3-sampled", "0".into()),
            ]
        );
    }

    #[test]
    fn the_most_changes_and_the_longest_values_fit() {
        let request = headers(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
            ("b3", "0"),
            ("x-b3-flags", "1"),
            ("baggage", "k=v, bad key=2"),
        ]);
        let plan = plan(
            &settings(r#"{"inject": ["w3c", "b3", "b3multi"]}"#),
            &request,
            &mut sevens,
        );
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "0707070707070707";
        let parent = "00f067aa0ba902b7";
        assert_eq!(plan.edits.len(), MAX_EDITS);
        assert_eq!(
            plan.edits,
            [
                Edit::Remove("x-b3-flags"),
                Edit::Set(
                    "traceparent",
                    format!("00-{trace}-{span}-01").as_str().into()
                ),
                Edit::Set("tracestate", "a=1,b=2".into()),
                Edit::Set("b3", format!("{trace}-{span}-1-{parent}").as_str().into()),
                Edit::Set("x-b3-traceid", trace.into()),
                Edit::Set("x-b3-spanid", span.into()),
                Edit::Set("x-b3-parentspanid", parent.into()),
                Edit::Set("x-b3-sampled", "1".into()),
                Edit::Set(
                    "x-request-id",
                    "07070707-0707-4707-8707-070707070707".into()
                ),
                Edit::Set("baggage", "k=v".into()),
            ]
        );
    }

    #[test]
    fn the_names_are_the_trace_headers_then_request_id_and_baggage() {
        use crate::trace_context::baggage::BAGGAGE;
        use crate::trace_context::request_id::X_REQUEST_ID;
        assert_eq!(NAMES[..TRACE_HEADERS.len()], TRACE_HEADERS);
        assert_eq!(NAMES[REQUEST_ID_AT], X_REQUEST_ID);
        assert_eq!(NAMES[BAGGAGE_AT], BAGGAGE);
    }

    #[global_allocator]
    static ALLOCATOR: wasmesh_testing::CountingAllocator = wasmesh_testing::CountingAllocator;

    /// The benchmark's request and sidecar configuration (bench/variants.toml).
    const BENCH_REQUEST: &[(&str, &str)] = &[
        (":method", "GET"),
        (":path", "/api/v1/orders/12345?expand=items"),
        (":authority", "orders.shop.svc.cluster.local"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "shop=t61rcWkgMzE"),
        ("user-agent", "shop-frontend/2.14.1 (okhttp/4.12.0)"),
        ("x-request-id", "2b8f4c1e-6d3a-4f5b-9e7c-1a2b3c4d5e6f"),
        ("x-forwarded-proto", "https"),
        ("baggage", "user.tier=gold,session.region=eu-west-1"),
    ];

    #[test]
    fn a_continued_trace_with_valid_tracestate_and_baggage_allocates_nothing() {
        let settings = settings(
            r#"{"new_span_id": true, "inject": ["w3c", "b3"], "response_trace_id_header": "x-trace-id"}"#,
        );
        let request = headers(BENCH_REQUEST);
        let (plan, allocations) =
            wasmesh_testing::count_allocations(|| plan(&settings, &request, &mut sevens));
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "0707070707070707";
        assert_eq!(
            plan.edits,
            [
                Edit::Set(
                    "traceparent",
                    format!("00-{trace}-{span}-01").as_str().into()
                ),
                Edit::Set(
                    "b3",
                    format!("{trace}-{span}-1-00f067aa0ba902b7").as_str().into()
                ),
            ],
            "tracestate, x-request-id and baggage are kept as they are"
        );
        assert_eq!(allocations, 0);
    }

    // Trace Context Level 2 §4.1.2: an invalid `tracestate` is discarded whole, and
    // finding that out allocates nothing.
    #[test]
    fn an_invalid_tracestate_is_removed_without_allocating() {
        let settings = settings(r#"{"new_span_id": true, "inject": ["w3c"]}"#);
        let request: Vec<(&str, &str)> = BENCH_REQUEST
            .iter()
            .map(|&(name, value)| match name {
                "tracestate" => (name, "shop=t61rcWkgMzE,Shop=1"),
                _ => (name, value),
            })
            .collect();
        let request = headers(&request);
        let (plan, allocations) =
            wasmesh_testing::count_allocations(|| plan(&settings, &request, &mut sevens));
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-0707070707070707-01";
        assert_eq!(
            plan.edits,
            [
                Edit::Remove("tracestate"),
                Edit::Set("traceparent", traceparent.into()),
            ]
        );
        assert_eq!(allocations, 0);
    }

    #[test]
    fn any_request_gets_each_header_changed_at_most_once() {
        let names = [
            "traceparent",
            "TraceState",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags",
            "x-request-id",
            "baggage",
        ];
        let values = [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d-00f067aa0ba902b7",
            "00f067aa0ba902b7",
            "a=1,b=2",
            "k=v;p, bad key=1",
            "d",
            "1",
            "",
            " x ",
            "\u{e9}",
        ];
        let configs = [
            r#"{"inject": ["w3c", "b3", "b3multi"]}"#,
            r#"{"inject": ["b3multi", "w3c"], "new_span_id": false, "baggage": false}"#,
            r#"{"trust_boundary": "restart", "restart_tracestate_key": "edge",
                "sampling": {"probability": 0.5, "trust_incoming": false}}"#,
        ];
        let settings: Vec<Settings> = configs.iter().map(|json| settings(json)).collect();
        let mut rng = TestRng::new(0x9e37_79b9);
        for round in 0..2000 {
            let pairs: Vec<(&str, &str)> = (0..rng.below(12))
                .map(|_| (*rng.pick(&names), *rng.pick(&values)))
                .collect();
            let request = headers(&pairs);
            let plan = plan(&settings[round % settings.len()], &request, &mut sevens);
            let changed: Vec<&str> = plan
                .edits
                .iter()
                .map(|edit| match edit {
                    Edit::Set(name, _) | Edit::Remove(name) => name,
                })
                .collect();
            let distinct: std::collections::HashSet<&str> = changed.iter().copied().collect();
            assert_eq!(distinct.len(), changed.len(), "{pairs:?}: {changed:?}");
            assert!(changed.iter().all(|name| !name.is_empty()), "{pairs:?}");
            assert_eq!(changed.len(), plan.edits.len());
        }
    }
}
