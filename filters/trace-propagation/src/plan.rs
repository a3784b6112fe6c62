//! Everything the filter changes on a request, computed from its headers without the host.

use wasmesh_sdk::HeaderMap;

use crate::config::Settings;
use crate::correlation;
use crate::inject::{trace_headers, TRACE_HEADERS};
use crate::outgoing::{decide_received, Outgoing};
use crate::received::Received;

/// One change to the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Replace every value of the header with this one.
    Set(&'static str, String),
    /// Remove every value of the header.
    Remove(&'static str),
}

/// The changes for one request, and the context they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Header changes, in order.
    pub edits: Vec<Edit>,
    /// The outgoing context.
    pub outgoing: Outgoing,
}

/// The plan for a request with `headers`: the outgoing context in the configured formats,
/// every other trace header removed, `x-request-id` and `baggage` put in order.
pub fn plan(settings: &Settings, headers: &HeaderMap, random: &mut dyn FnMut(&mut [u8])) -> Plan {
    let received = Received::read(headers);
    let outgoing = decide_received(settings, &received, random);
    let injected = trace_headers(&outgoing, &settings.inject);
    // Room for the injected headers, `x-request-id` and `baggage`.
    let mut edits: Vec<Edit> = Vec::with_capacity(injected.len() + 2);
    edits.extend(
        TRACE_HEADERS
            .into_iter()
            .filter(|name| received.contains(name) && !injected.iter().any(|(set, _)| set == name))
            .map(Edit::Remove),
    );
    edits.extend(
        injected
            .into_iter()
            .map(|(name, value)| Edit::Set(name, value)),
    );
    edits.extend(correlation::request_id_of(&received.x_request_id, random));
    edits.extend(correlation::baggage_of(&received.baggage, settings.baggage));
    Plan { edits, outgoing }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(json: &str) -> Settings {
        Settings::compile(wasmesh_sdk::config::parse::<Config>(json.as_bytes()).unwrap()).unwrap()
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
                Edit::Set("traceparent", format!("00-{ids}-{span}-02")),
                Edit::Set("x-b3-traceid", ids.to_owned()),
                Edit::Set("x-b3-spanid", span.to_owned()),
                Edit::Set("x-b3-sampled", "0".to_owned()),
            ]
        );
    }
}
