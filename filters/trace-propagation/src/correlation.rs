//! Request correlation beside the trace context: `x-request-id` and W3C `baggage`.

use crate::received::Values;
use crate::trace_context::baggage::is_within_limits;
use crate::trace_context::{limit_baggage, new_request_id_value, HeaderValue};

/// A new UUID v4 `x-request-id` when the request has none (`values` is empty), an empty
/// one, or several (which one would be right is unknown); nothing when it has exactly one.
pub fn request_id_of(
    values: &Values<'_>,
    random: &mut dyn FnMut(&mut [u8]),
) -> Option<HeaderValue> {
    let blank = |value: &[u8]| value.iter().all(|b| *b == b' ' || *b == b'\t');
    match values.as_slice() {
        [value] if !blank(value) => None,
        _ => Some(new_request_id_value(random)),
    }
}

/// What happens to `baggage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baggage {
    /// It is replaced with this value.
    Set(String),
    /// It is removed.
    Remove,
}

/// The `baggage` header to forward, from the received `values`: with `forward`, within the
/// W3C limits (valid members only, at most 64 members and 8192 bytes, whole members,
/// repeated fields combined into one); without, removed. Nothing when there is no baggage
/// or it is forwarded unchanged.
pub fn baggage_of(values: &Values<'_>, forward: bool) -> Option<Baggage> {
    let values = values.as_slice();
    if values.is_empty() {
        return None;
    }
    if !forward {
        return Some(Baggage::Remove);
    }
    if let [value] = values {
        if is_within_limits(value) {
            return None;
        }
    }
    match limit_baggage(values) {
        Some(limited) if values == [limited.as_bytes()] => None,
        Some(limited) => Some(Baggage::Set(limited)),
        None => Some(Baggage::Remove),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::plan::{Edit, Edits, BAGGAGE_AT, REQUEST_ID_AT};
    use crate::received::{Received, Slot};
    use crate::trace_context::baggage::BAGGAGE;
    use crate::trace_context::request_id::X_REQUEST_ID;
    use wasmesh_sdk::HeaderMap;

    /// The one change in `edits`, which the test keeps.
    fn only_change(edits: Edits) -> Option<Edit<'static>> {
        let edits: &'static Edits = Box::leak(Box::new(edits));
        assert!(edits.len() <= 1);
        edits.iter().next()
    }

    fn request_id(headers: &HeaderMap, random: &mut dyn FnMut(&mut [u8])) -> Option<Edit<'static>> {
        let mut edits = Edits::new();
        if let Some(value) = request_id_of(&Received::read(headers).get(Slot::RequestId), random) {
            edits.set_made(REQUEST_ID_AT, &value);
        }
        only_change(edits)
    }

    fn baggage(headers: &HeaderMap, forward: bool) -> Option<Edit<'static>> {
        let mut edits = Edits::new();
        match baggage_of(&Received::read(headers).get(Slot::Baggage), forward) {
            Some(Baggage::Set(value)) => edits.set_built(BAGGAGE_AT, value),
            Some(Baggage::Remove) => edits.remove(BAGGAGE_AT),
            None => {}
        }
        only_change(edits)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn ones(buf: &mut [u8]) {
        buf.fill(0x11);
    }

    #[test]
    fn a_request_id_is_generated_when_absent_blank_or_repeated() {
        let generated = Some(Edit::Set(
            X_REQUEST_ID,
            "11111111-1111-4111-9111-111111111111".into(),
        ));
        assert_eq!(request_id(&headers(&[]), &mut ones), generated);
        assert_eq!(
            request_id(&headers(&[("x-request-id", " ")]), &mut ones),
            generated
        );
        assert_eq!(
            request_id(
                &headers(&[("x-request-id", "a"), ("x-request-id", "b")]),
                &mut ones
            ),
            generated
        );
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc")]), &mut ones),
            None
        );
    }

    #[test]
    fn baggage_is_forwarded_within_limits_or_removed() {
        assert_eq!(baggage(&headers(&[]), true), None);
        assert_eq!(baggage(&headers(&[("baggage", "a=1,b=2")]), true), None);
        assert_eq!(
            baggage(&headers(&[("baggage", "a=1"), ("baggage", "b=2")]), true),
            Some(Edit::Set(BAGGAGE, "a=1,b=2".into()))
        );
        assert_eq!(
            baggage(&headers(&[("baggage", "a=1, bad key=2")]), true),
            Some(Edit::Set(BAGGAGE, "a=1".into()))
        );
        assert_eq!(
            baggage(&headers(&[("baggage", "bad key=2")]), true),
            Some(Edit::Remove(BAGGAGE))
        );
        assert_eq!(
            baggage(&headers(&[("baggage", "a=1")]), false),
            Some(Edit::Remove(BAGGAGE))
        );
    }

    #[test]
    fn baggage_keeps_at_most_64_whole_members_and_8192_bytes() {
        let many: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
        let Some(Edit::Set(_, kept)) = baggage(&headers(&[("baggage", &many.join(","))]), true)
        else {
            panic!("not limited")
        };
        let kept = kept.to_string();
        assert_eq!(kept.split(',').count(), 64);
        assert!(kept.ends_with("k63=v"));
        let big = format!("a={},b={},c=1", "x".repeat(5000), "y".repeat(5000));
        let Some(Edit::Set(_, kept)) = baggage(&headers(&[("baggage", &big)]), true) else {
            panic!("not limited")
        };
        let kept = kept.to_string();
        assert!(kept.len() <= 8192);
        assert!(
            kept.starts_with("a=x") && kept.ends_with(",c=1"),
            "whole members only"
        );
    }
}
