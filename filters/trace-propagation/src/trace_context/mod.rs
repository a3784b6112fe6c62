//! Trace-context propagation: W3C Trace Context (Level 2), B3, W3C Baggage and
//! `x-request-id`.
//!
//! Pure logic with no host calls. Header values come in as raw bytes (possibly not UTF-8),
//! and since a header can be repeated, every parser takes all the values of its header as
//! `&[&[u8]]`, in the order they were received. Leading and trailing optional whitespace
//! (space and horizontal tab) around each value is not part of the value and is ignored.
//!
//! Anything that needs randomness takes a random source `&mut dyn FnMut(&mut [u8])` that
//! fills the buffer it is given (in a filter, the host's random bytes). Generated trace and
//! span ids are never all-zero, whatever the source returns.
//!
//! | header | module | entry point |
//! | --- | --- | --- |
//! | `traceparent` | [`traceparent`] | [`TraceParent::parse`], [`TraceParent::to_header`] |
//! | `tracestate` | [`tracestate`] | [`TraceState::parse`], [`TraceState::to_header`], [`tracestate::validate`], [`tracestate::is_canonical`] |
//! | `b3`, `x-b3-*` | [`b3`] | [`B3::extract`], [`B3::to_single_header`], [`B3::to_multi_headers`] |
//! | `baggage` | [`baggage`] | [`limit_baggage`], [`baggage::is_within_limits`] |
//! | `x-request-id` | [`request_id`] | [`new_request_id`] |
//!
//! On a request path, nothing here needs to allocate: every writer of a short value has a
//! twin returning a [`HeaderValue`], a fixed buffer ([`TraceParent::to_header_value`],
//! [`B3::to_single_value`], [`B3::to_multi_values`], [`new_request_id_value`]; ids have
//! [`TraceId::to_hex`]) or writing into the caller's buffer
//! ([`TraceParent::write_header`], [`B3::write_single_header`]), and a `tracestate` or
//! `baggage` value that is forwarded unchanged is recognized on its bytes, in one pass
//! ([`tracestate::is_canonical`], [`baggage::is_within_limits`]). Hex digits and the
//! characters of each header are classified with lookup tables.
//!
//! [`SpanContext`] (trace id, span id, [`Sampling`]) is the common form between the W3C and
//! B3 representations: [`TraceParent::to_span_context`], [`TraceParent::from_span_context`],
//! [`B3::from_traceparent`] and [`B3::to_traceparent`] convert both ways.
//!
//! # Rules for callers
//!
//! - **Never parse `tracestate` when `traceparent` is invalid or missing.** The W3C
//!   specification requires it: when [`TraceParent::parse`] fails, restart the trace (new
//!   ids) and start from an empty [`TraceState`] instead of calling [`TraceState::parse`].
//!   The opposite does not hold: a bad `tracestate` never invalidates `traceparent`.
//! - An invalid `tracestate` is refused whole ([`TraceState::parse`] returns an error): send
//!   none rather than part of it.
//! - A `traceparent` of a higher version is parsed by the forward-compatibility rules and is
//!   always sent on as version `00`.
//! - When the trace is continued, keep the trace id and flags and give the outgoing request
//!   a new parent id ([`TraceParent::child`], [`SpanContext::child`]).

/// The table of `$value(byte)` for every ASCII byte, built at compile time (a byte's class
/// or value is then one load).
macro_rules! ascii_table {
    ($value:path) => {{
        let mut table = [0u8; 128];
        let mut rest: &mut [u8] = &mut table;
        let mut byte = 0u8;
        while let Some((slot, tail)) = rest.split_first_mut() {
            *slot = $value(byte);
            byte = byte.wrapping_add(1);
            rest = tail;
        }
        table
    }};
}

pub mod b3;
pub mod baggage;
mod chars;
pub mod context;
pub mod ids;
pub mod request_id;
pub mod traceparent;
pub mod tracestate;
mod value;

pub use b3::{B3Error, B3MultiValues, B3};
pub use baggage::limit_baggage;
pub use context::{Sampling, SpanContext};
pub use ids::{SpanId, TraceId};
pub use request_id::{new_request_id, new_request_id_value, uuid_v4, uuid_v4_value};
pub use traceparent::{TraceParent, TraceParentError};
pub use tracestate::{TraceState, TraceStateError};
pub use value::HeaderValue;

pub(crate) use wasmesh_sdk::headers::trim_ows;

/// How many values a header that must appear at most once was received with.
pub(crate) enum SingleValue<'a> {
    /// The header is absent.
    Missing,
    /// The header appears once, with this value (optional whitespace removed).
    One(&'a [u8]),
    /// The header appears more than once.
    Repeated,
}

/// Classifies the values of a header that must appear at most once.
pub(crate) fn single_value<'a>(values: &[&'a [u8]]) -> SingleValue<'a> {
    match values {
        [] => SingleValue::Missing,
        [value] => SingleValue::One(trim_ows(value)),
        _ => SingleValue::Repeated,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// A deterministic xorshift32 sequence from `seed`, so a failure on generated input is
    /// reproducible (the tests of the trace modules draw their inputs from it).
    pub(crate) fn xorshift32(mut seed: u32) -> impl FnMut() -> usize {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize
        }
    }

    /// Bytes that matter to the parsers, plus a few that are never valid.
    const ALPHABET: &[u8] = b"0123456789abcdefABCDEF-=,;@ \t_*/dxz\"\\\x00\x7f\x80\xc3\xff";

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes() {
        let mut next = xorshift32(0x9e37_79b9);
        let valid = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec();
        for round in 0..3000 {
            // Half the inputs are mutations of a valid value, half are random strings.
            let mut bytes = if round % 2 == 0 {
                valid.clone()
            } else {
                Vec::new()
            };
            let extra = next() % 70;
            for _ in 0..extra {
                let byte = ALPHABET
                    .get(next() % ALPHABET.len())
                    .copied()
                    .unwrap_or(b'-');
                match bytes.len() {
                    0 => bytes.push(byte),
                    len if next().is_multiple_of(2) => bytes.insert(next() % len, byte),
                    len => {
                        if let Some(slot) = bytes.get_mut(next() % len) {
                            *slot = byte;
                        }
                    }
                }
            }
            let values: [&[u8]; 1] = [&bytes];
            let _ = TraceParent::parse(&values);
            let state = TraceState::parse(&values);
            assert_eq!(
                state.as_ref().map(TraceState::len).map_err(|e| *e),
                tracestate::validate(&values)
            );
            if let Ok(state) = state {
                assert!(state.len() <= tracestate::MAX_ENTRIES);
            }
            let _ = B3::extract_single(&values);
            let multi = B3MultiValues {
                trace_id: &values,
                span_id: &values,
                parent_span_id: &values,
                sampled: &values,
                flags: &values,
            };
            let _ = B3::extract_multi(&multi);
            if let Some(baggage) = limit_baggage(&values) {
                assert!(baggage.len() <= baggage::MAX_BYTES);
            }
        }
    }

    /// Members of `tracestate` and `baggage`, valid in one, both or neither, and pieces of
    /// them.
    const PIECES: &[&str] = &[
        "a=1",
        "k1=v",
        "z@v=x",
        "1t@s=y",
        "t@=1",
        "@s=1",
        "A=1",
        "_a=1",
        "a= x",
        "a=x y",
        "a=x ",
        "a =1",
        "a=1;p",
        "a=1; p=2",
        "a=1;;p",
        "a=1;",
        "a=%20",
        "a==",
        "a=x=y",
        "a=",
        "a=\"",
        "a=\\",
        "a=é",
        "a=\x7f",
        "k-*/9=v",
        "a@b@c=1",
        "a@bcdefghijklmnop=1",
        " ",
        "\t",
        "",
        "a",
        ";",
        "=",
    ];

    #[test]
    fn the_one_pass_checks_agree_with_the_parsers() {
        let mut next = xorshift32(0x1234_5678);
        let mut unchanged_seen = [0usize; 2];
        for _ in 0..20_000 {
            let mut value = String::new();
            for index in 0..(1 + next() % 6) {
                if index > 0 {
                    value.push(if next().is_multiple_of(8) { ';' } else { ',' });
                }
                let piece = PIECES.get(next() % PIECES.len()).copied().unwrap_or("a");
                value.push_str(piece);
            }
            let bytes = value.as_bytes();
            let values: [&[u8]; 1] = [bytes];

            let kept = TraceState::parse(&values).map(|state| state.to_header());
            let unchanged = !bytes.is_empty() && kept.as_deref().map(str::as_bytes) == Ok(bytes);
            assert_eq!(tracestate::is_canonical(bytes), unchanged, "{value:?}");
            unchanged_seen[0] += usize::from(unchanged);

            let limited = limit_baggage(&values);
            let unchanged = limited.as_deref().map(str::as_bytes) == Some(bytes);
            assert_eq!(baggage::is_within_limits(bytes), unchanged, "{value:?}");
            unchanged_seen[1] += usize::from(unchanged);
        }
        // Both answers were seen often enough to mean something.
        assert!(
            unchanged_seen.iter().all(|n| *n > 1000),
            "{unchanged_seen:?}"
        );
    }
}
