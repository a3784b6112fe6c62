//! The trace-context targets: `traceparent`, `tracestate`, `baggage`, `b3` and `x-b3-*`.

use crate::input::{b3_values, lines};
use crate::trim_ows;
use trace_propagation::trace_context::baggage::{self, MAX_BYTES, MAX_MEMBERS};
use trace_propagation::trace_context::tracestate::{self, MAX_ENTRIES};
use trace_propagation::trace_context::{
    limit_baggage, B3Error, B3MultiValues, HeaderValue, Sampling, TraceParent, TraceParentError,
    TraceState, B3,
};

/// `traceparent` from the lines of the input (its values): one value parses or not,
/// none is missing, more are repeated; a parsed value has non-zero ids and is written back
/// as version `00`, which parses to the same value and equals the input when the input was
/// version `00` with known flags only.
pub fn traceparent(data: &[u8]) {
    let values = lines(data);
    let parsed = TraceParent::parse(&values);
    match values.as_slice() {
        [] => assert_eq!(parsed, Err(TraceParentError::Missing)),
        [value] => {
            assert_eq!(parsed, TraceParent::parse_value(value));
            if let Ok(traceparent) = parsed {
                check_traceparent(&traceparent, trim_ows(value));
            }
        }
        _ => assert_eq!(parsed, Err(TraceParentError::Repeated)),
    }
}

fn check_traceparent(traceparent: &TraceParent, value: &[u8]) {
    assert!(!traceparent.trace_id.is_zero() && !traceparent.parent_id.is_zero());
    assert!(value.len() >= 55);
    let header = traceparent.to_header();
    assert_eq!(header.len(), 55);
    assert!(header.starts_with("00-"));
    assert!(header
        .bytes()
        .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(traceparent.to_header_value().as_str(), header);
    let mut buffer = [0u8; 55];
    assert_eq!(traceparent.write_header(&mut buffer), Some(55));
    assert_eq!(buffer.as_slice(), header.as_bytes());
    assert_eq!(traceparent.write_header(&mut [0u8; 54]), None);
    assert_eq!(
        TraceParent::parse_value(header.as_bytes()),
        Ok(*traceparent)
    );
    let known_flags = matches!(value.get(53..55), Some(b"00" | b"01" | b"02" | b"03"));
    if value.starts_with(b"00-") && known_flags {
        assert_eq!(
            header.as_bytes(),
            value,
            "a valid version 00 value is kept as is"
        );
    }
    // Through B3 and back: same ids and decision, no random flag.
    let back = B3::from_traceparent(traceparent).to_traceparent();
    assert_eq!(
        back,
        Some(TraceParent {
            random: false,
            ..*traceparent
        })
    );
}

/// `tracestate` from the lines of the input: the one-pass validation agrees with the
/// parser; a parsed list has at most 32 entries with unique keys, is written back as a
/// value that parses to itself and that the one-pass check calls canonical, and keeps its
/// bound when truncated; a single value is canonical exactly when it is written back as is.
pub fn tracestate(data: &[u8]) {
    let values = lines(data);
    let parsed = TraceState::parse(&values);
    assert_eq!(
        tracestate::validate(&values),
        parsed.as_ref().map(TraceState::len).map_err(|e| *e)
    );
    let Ok(state) = parsed else {
        if let [value] = values.as_slice() {
            assert!(!tracestate::is_canonical(value));
        }
        return;
    };
    assert!(state.len() <= MAX_ENTRIES);
    let keys: Vec<&str> = state.iter().map(|(key, _)| key).collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "repeated key in {keys:?}");
    let header = state.to_header();
    assert_eq!(state.header_len(), header.len());
    assert_eq!(state.is_empty(), header.is_empty());
    assert_eq!(
        TraceState::parse(&[header.as_bytes()]).as_ref(),
        Ok(&state),
        "not a fixed point: {header:?}"
    );
    assert_eq!(
        tracestate::is_canonical(header.as_bytes()),
        !state.is_empty()
    );
    for (key, value) in state.iter() {
        assert_eq!(state.get(key), Some(value));
    }
    if let [value] = values.as_slice() {
        let kept = !value.is_empty() && header.as_bytes() == *value;
        assert_eq!(tracestate::is_canonical(value), kept, "{header:?}");
    }
    for max_len in [0, 64, 512] {
        let mut truncated = state.clone();
        truncated.truncate_to(max_len);
        assert!(truncated.header_len() <= max_len);
    }
    let mut updated = state.clone();
    if updated.put_front("wasmesh", "x").is_ok() {
        assert_eq!(updated.iter().next(), Some(("wasmesh", "x")));
        assert!(updated.len() <= MAX_ENTRIES);
    }
}

/// `baggage` from the lines of the input: what is forwarded is within the limits, is
/// forwarded unchanged when received again, and the one-pass check agrees.
pub fn baggage(data: &[u8]) {
    let values = lines(data);
    let limited = limit_baggage(&values);
    if let Some(out) = &limited {
        assert!(!out.is_empty());
        assert!(out.len() <= MAX_BYTES, "{} bytes", out.len());
        assert!(out.split(',').count() <= MAX_MEMBERS);
        assert!(baggage::is_within_limits(out.as_bytes()), "{out:?}");
        assert_eq!(limit_baggage(&[out.as_bytes()]).as_ref(), Some(out));
    }
    if let [value] = values.as_slice() {
        let unchanged = limited.as_deref().map(str::as_bytes) == Some(*value);
        assert_eq!(baggage::is_within_limits(value), unchanged);
    }
}

/// `b3` from the lines of the input: see [`check_b3`].
pub fn b3_single(data: &[u8]) {
    let values = lines(data);
    let extracted = B3::extract_single(&values);
    match values.len() {
        0 => assert_eq!(extracted, Err(B3Error::Missing)),
        1 => {}
        _ => assert_eq!(extracted, Err(B3Error::Repeated("b3"))),
    }
    if let Ok(b3) = extracted {
        check_b3(&b3);
    }
}

/// The `x-b3-*` headers and `b3` from the lines of the input (see
/// [`crate::input::b3_values`]): a context read from the multi headers is written back as
/// the same headers, and the single header takes precedence as documented.
pub fn b3_multi(data: &[u8]) {
    let [trace_id, span_id, parent_span_id, sampled, flags, single] = b3_values(data);
    let multi = B3MultiValues {
        trace_id: &trace_id,
        span_id: &span_id,
        parent_span_id: &parent_span_id,
        sampled: &sampled,
        flags: &flags,
    };
    let from_multi = B3::extract_multi(&multi);
    if let Ok(b3) = from_multi {
        check_b3(&b3);
    }
    let expected = match B3::extract_single(&single) {
        Ok(b3) => Ok(b3),
        Err(B3Error::Missing) => from_multi,
        Err(error) => from_multi.map_err(|_| error),
    };
    assert_eq!(B3::extract(&single, &multi), expected);
}

/// A B3 value's invariants: non-zero ids (an all-zero parent is absent), the single and
/// multi headers written from it read back as it, and the W3C conversion keeps the ids.
fn check_b3(b3: &B3) {
    if let B3::Context {
        context,
        parent_span_id,
    } = b3
    {
        assert!(!context.trace_id.is_zero() && !context.span_id.is_zero());
        assert!(parent_span_id.is_none_or(|parent| !parent.is_zero()));
        let traceparent = b3.to_traceparent();
        assert_eq!(traceparent.map(|t| t.trace_id), Some(context.trace_id));
        assert_eq!(traceparent.map(|t| t.parent_id), Some(context.span_id));
    }
    // The single header: the parent span id is sent only with a sampling state.
    match b3.to_single_header() {
        None => assert_eq!(*b3, B3::SamplingOnly(Sampling::Deferred)),
        Some(header) => {
            assert!(header.len() <= HeaderValue::CAPACITY);
            let expected = match *b3 {
                B3::Context {
                    context,
                    parent_span_id: _,
                } if context.sampling == Sampling::Deferred => B3::Context {
                    context,
                    parent_span_id: None,
                },
                other => other,
            };
            assert_eq!(
                B3::extract_single(&[header.as_bytes()]),
                Ok(expected),
                "{header:?}"
            );
        }
    }
    // The multi headers carry everything.
    let headers = b3.to_multi_headers();
    let values = |name: &str| -> Vec<&[u8]> {
        headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
            .collect()
    };
    let (trace_id, span_id, parent_span_id, sampled, flags) = (
        values("x-b3-traceid"),
        values("x-b3-spanid"),
        values("x-b3-parentspanid"),
        values("x-b3-sampled"),
        values("x-b3-flags"),
    );
    let multi = B3MultiValues {
        trace_id: &trace_id,
        span_id: &span_id,
        parent_span_id: &parent_span_id,
        sampled: &sampled,
        flags: &flags,
    };
    let back = B3::extract_multi(&multi);
    if *b3 != B3::SamplingOnly(Sampling::Deferred) {
        assert_eq!(back, Ok(*b3), "{headers:?}");
    }
}
