//! trace-propagation, driven through the proxy-wasm dispatcher by the host emulator:
//! the W3C Trace Context rules one by one, B3 in both forms, conversions, sampling, the
//! trust boundary and correlation headers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;

use trace_propagation::TracePropagation;
use wasmesh_testing::{Action, Host, HttpStream, LogLevel};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn host(config: &str) -> Host {
    let host = Host::of::<TracePropagation>();
    assert!(host.configure(config), "config refused: {:?}", host.logs());
    host
}

/// Sends a GET with `extra` headers through a new stream.
fn send(host: &Host, extra: &[(&str, &str)]) -> HttpStream {
    let mut headers = vec![(":method", "GET"), (":path", "/"), (":authority", "svc")];
    headers.extend_from_slice(extra);
    let stream = host.stream();
    assert_eq!(stream.send_request_headers(&headers), Action::Continue);
    assert_eq!(stream.local_reply(), None);
    stream
}

/// The one `traceparent` sent upstream, split into version, trace id, parent id, flags.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    version: String,
    trace_id: String,
    parent_id: String,
    flags: String,
}

fn sent_traceparent(stream: &HttpStream) -> Sent {
    let values = stream.request_header_values("traceparent");
    assert_eq!(values.len(), 1, "exactly one traceparent: {values:?}");
    let fields: Vec<&str> = values[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{values:?}");
    let hex = |s: &str, len: usize| {
        assert_eq!(s.len(), len, "{values:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{values:?}"
        );
        assert!(s.bytes().any(|b| b != b'0'), "zero id: {values:?}");
        s.to_owned()
    };
    Sent {
        version: fields[0].to_owned(),
        trace_id: hex(fields[1], 32),
        parent_id: hex(fields[2], 16),
        flags: fields[3].to_owned(),
    }
}

/// Asserts the trace was restarted: a new trace id, the random flag, no tracestate.
fn assert_restarted(stream: &HttpStream) -> Sent {
    let sent = sent_traceparent(stream);
    assert_ne!(sent.trace_id, TRACE, "trace continued");
    assert_ne!(sent.parent_id, PARENT);
    assert_eq!(sent.version, "00");
    assert_eq!(sent.flags, "03", "random and sampled (probability 1)");
    assert_eq!(
        stream.request_header_values("tracestate"),
        Vec::<String>::new()
    );
    sent
}

/// Asserts the trace was continued with a new parent id.
fn assert_continued(stream: &HttpStream, flags: &str) -> Sent {
    let sent = sent_traceparent(stream);
    assert_eq!(sent.version, "00");
    assert_eq!(sent.trace_id, TRACE);
    assert_ne!(sent.parent_id, PARENT, "a new parent id");
    assert_eq!(sent.flags, flags);
    sent
}

fn requests(host: &Host, context: &str, format: &str, sampled: &str) -> Option<u64> {
    host.counter(&Host::stat_name(
        "wasmesh_trace_propagation_requests_total",
        &[
            ("context", context),
            ("format", format),
            ("sampled", sampled),
        ],
    ))
}

// --- W3C traceparent --------------------------------------------------------------------

#[test]
fn a_valid_traceparent_is_continued_with_a_new_parent_id_and_the_same_flags() {
    let host = host("{}");
    for flags in ["00", "01", "02", "03"] {
        let traceparent = format!("00-{TRACE}-{PARENT}-{flags}");
        let stream = send(&host, &[("traceparent", &traceparent)]);
        assert_continued(&stream, flags);
    }
    assert_eq!(requests(&host, "continued", "w3c", "true"), Some(2));
    assert_eq!(requests(&host, "continued", "w3c", "false"), Some(2));
}

#[test]
fn every_hop_gets_a_different_parent_id() {
    let host = host("{}");
    let parents: HashSet<String> = (0..50)
        .map(|_| sent_traceparent(&send(&host, &[("traceparent", VALID)])).parent_id)
        .collect();
    assert_eq!(parents.len(), 50);
    assert!(!parents.contains(PARENT));
}

#[test]
fn unknown_flags_are_not_sent_on() {
    let host = host("{}");
    let stream = send(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{PARENT}-ff"))],
    );
    assert_continued(&stream, "03");
    let stream = send(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{PARENT}-08"))],
    );
    assert_continued(&stream, "00");
}

#[test]
fn a_hop_configured_not_to_mark_keeps_the_parent_id() {
    let host = host(r#"{"new_span_id": false}"#);
    let stream = send(&host, &[("traceparent", VALID)]);
    let sent = sent_traceparent(&stream);
    assert_eq!(
        (sent.trace_id.as_str(), sent.parent_id.as_str()),
        (TRACE, PARENT)
    );
    assert_eq!(sent.flags, "01");
}

#[test]
fn uppercase_hex_restarts_the_trace() {
    let host = host("{}");
    for traceparent in [
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{}-01", PARENT.to_uppercase()),
        format!("00-{TRACE}-{PARENT}-0A"),
        VALID.to_uppercase(),
    ] {
        let stream = send(
            &host,
            &[("traceparent", &traceparent), ("tracestate", "a=1")],
        );
        assert_restarted(&stream);
    }
    assert_eq!(requests(&host, "invalid", "none", "true"), Some(4));
}

#[test]
fn version_ff_restarts_the_trace() {
    let host = host("{}");
    let stream = send(
        &host,
        &[
            ("traceparent", &format!("ff-{TRACE}-{PARENT}-01")),
            ("tracestate", "a=1"),
        ],
    );
    assert_restarted(&stream);
}

#[test]
fn future_versions_are_parsed_forward_compatibly_and_sent_as_version_00() {
    let host = host("{}");
    for traceparent in [
        format!("01-{TRACE}-{PARENT}-01"),
        format!("cc-{TRACE}-{PARENT}-01-and-more-fields"),
        format!("fe-{TRACE}-{PARENT}-09-x"),
    ] {
        let stream = send(
            &host,
            &[("traceparent", &traceparent), ("tracestate", "a=1")],
        );
        assert_continued(&stream, "01");
        assert_eq!(stream.request_header_values("tracestate"), ["a=1"]);
    }
}

#[test]
fn malformed_future_versions_restart_the_trace() {
    let host = host("{}");
    for traceparent in [
        // Longer, but no `-` after the flags.
        format!("cc-{TRACE}-{PARENT}-01.more"),
        // Shorter than version 00.
        format!("cc-{TRACE}-{PARENT}-1"),
        // Version 00 must be exactly 55 characters.
        format!("00-{TRACE}-{PARENT}-01-more"),
    ] {
        assert_restarted(&send(&host, &[("traceparent", &traceparent)]));
    }
}

#[test]
fn all_zero_ids_restart_the_trace() {
    let host = host("{}");
    let zero_trace = format!("00-{}-{PARENT}-01", "0".repeat(32));
    let zero_parent = format!("00-{TRACE}-{}-01", "0".repeat(16));
    for traceparent in [zero_trace, zero_parent] {
        assert_restarted(&send(
            &host,
            &[("traceparent", &traceparent), ("tracestate", "a=1")],
        ));
    }
}

#[test]
fn other_malformed_values_restart_the_trace() {
    let host = host("{}");
    for traceparent in [
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ] {
        assert_restarted(&send(&host, &[("traceparent", traceparent)]));
    }
    let stream = host.stream();
    let mut headers = vec![(b":path".to_vec(), b"/".to_vec())];
    let mut bytes = VALID.as_bytes().to_vec();
    bytes[10] = 0xc3;
    headers.push((b"traceparent".to_vec(), bytes));
    stream.send_request_headers_bytes(headers);
    assert_restarted(&stream);
}

#[test]
fn a_repeated_traceparent_restarts_the_trace_and_exactly_one_is_sent() {
    let host = Host::of::<TracePropagation>();
    host.set_log_level(LogLevel::Debug);
    assert!(host.configure("{}"));
    let other = format!("00-{}-{PARENT}-01", "a".repeat(32));
    for pair in [[VALID, VALID], [VALID, other.as_str()]] {
        let stream = send(
            &host,
            &[
                ("traceparent", pair[0]),
                ("tracestate", "a=1"),
                ("traceparent", pair[1]),
            ],
        );
        let sent = assert_restarted(&stream);
        assert_ne!(sent.trace_id, "a".repeat(32));
    }
    assert!(host.logged(LogLevel::Debug, "traceparent header repeated"));
}

#[test]
fn a_started_trace_has_the_random_flag_and_non_zero_ids() {
    let host = host("{}");
    let stream = send(&host, &[]);
    let sent = sent_traceparent(&stream);
    assert_eq!(sent.flags, "03");
    assert_eq!(requests(&host, "started", "none", "true"), Some(1));
    let ids: HashSet<String> = (0..20)
        .map(|_| sent_traceparent(&send(&host, &[])).trace_id)
        .collect();
    assert_eq!(ids.len(), 20, "every new trace has its own id");
}

// --- W3C tracestate ---------------------------------------------------------------------
//
// Each test names the section of W3C Trace Context Level 2 (https://www.w3.org/TR/trace-context-2/)
// it checks; the SDK's `trace::tracestate` tests check every rule on its own.

/// The `tracestate` values sent upstream, after a request with a valid `traceparent`
/// (continued, whatever its `tracestate`) and the `tracestate` fields `fields`.
fn sent_tracestate(host: &Host, fields: &[&str]) -> Vec<String> {
    let mut headers = vec![("traceparent", VALID)];
    headers.extend(fields.iter().map(|field| ("tracestate", *field)));
    let stream = send(host, &headers);
    assert_continued(&stream, "01");
    stream.request_header_values("tracestate")
}

/// `k0=v0` to `k{n-1}=v{n-1}`.
fn members(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i}=v{i}")).collect()
}

// §3.3.2: multiple fields "MUST be combined into a single header" and the header "SHOULD be
// sent as a single field"; §3.3.1: the name in any case.
#[test]
fn s3_3_2_tracestate_fields_are_combined_into_one_header() {
    let host = host("{}");
    let stream = send(
        &host,
        &[
            ("tracestate", "a=1,b=2"),
            ("traceparent", VALID),
            ("TraceState", " c=3 ,, d=4"),
        ],
    );
    assert_continued(&stream, "01");
    assert_eq!(
        stream.request_header_values("tracestate"),
        ["a=1,b=2,c=3,d=4"]
    );
}

// §3.3.2: spaces and tabs around members are ignored; a valid header without any is sent on
// exactly as received.
#[test]
fn s3_3_2_a_valid_tracestate_is_forwarded_as_received() {
    let host = host("{}");
    let value = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    assert_eq!(sent_tracestate(&host, &[value]), [value]);
    assert_eq!(
        sent_tracestate(&host, &["\trojo=00f067aa0ba902b7 , congo=t61rcWkgMzE "]),
        [value]
    );
}

// §3.3.2: at most 32 members, counting every field.
#[test]
fn s3_3_2_thirty_two_members_over_two_fields_are_forwarded() {
    let host = host("{}");
    let m = members(32);
    let fields = [m[..20].join(","), m[20..].join(", ")];
    assert_eq!(
        sent_tracestate(&host, &[&fields[0], &fields[1]]),
        [m.join(",")]
    );
}

// §3.3.2: a 33rd member, in any field, makes the whole header invalid, and it is discarded
// (§4.1.2); the trace is continued all the same (§3.3).
#[test]
fn s3_3_2_thirty_three_members_over_two_fields_discard_the_whole_tracestate() {
    let host = host("{}");
    let m = members(33);
    let fields = [m[..20].join(","), m[20..].join(",")];
    assert!(sent_tracestate(&host, &[&fields[0], &fields[1]]).is_empty());
    // The W3C test suite's case: four fields of 10, 10, 10 and 3 members.
    let bars: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    let fields: Vec<String> = bars.chunks(10).map(|chunk| chunk.join(",")).collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    assert!(sent_tracestate(&host, &fields).is_empty());
    // With 32 of them, all are forwarded.
    let mut fields_32 = fields.clone();
    let last_32 = bars[30..32].join(",");
    fields_32[3] = &last_32;
    assert_eq!(sent_tracestate(&host, &fields_32), [bars[..32].join(",")]);
}

// §4.1.2: "If the tracestate header cannot be parsed the vendor MAY discard the entire
// header"; here it always is, valid fields included.
#[test]
fn s4_1_2_an_invalid_second_field_discards_the_first_too() {
    let host = host("{}");
    assert!(sent_tracestate(&host, &["a=1,b=2", "Bad=3"]).is_empty());
    assert!(sent_tracestate(&host, &["a=1,b=2", "c=3", "d="]).is_empty());
    assert!(sent_tracestate(&host, &["x=a=b", "a=1,b=2"]).is_empty());
}

// §4.1.2, with §3.3.2.2.1 (key) and §3.3.2.2.2 (value): one invalid member discards the
// whole header, and never touches the trace (§3.3: "failure to parse tracestate MUST NOT
// affect the parsing of traceparent").
#[test]
fn s4_1_2_an_invalid_member_discards_the_whole_tracestate_but_not_the_trace() {
    let host = host("{}");
    let key_257 = format!("ok=1,{}=1", "k".repeat(257));
    let value_257 = format!("ok=1,k={}", "v".repeat(257));
    for value in [
        "ok=1,Bad=2",
        "ok=1,no-value",
        "foo=bar=baz",
        "foo=,bar=3",
        "foo =1",
        "@foo=1,bar=2",
        "ok=1,x=tab\there",
        "ok=1,x=caf\u{e9}",
        &key_257,
        &value_257,
    ] {
        assert!(sent_tracestate(&host, &[value]).is_empty(), "{value:?}");
    }
}

// §3.3.3: "Only one entry per key is allowed"; a repeated key, in one field or across
// fields, discards the header.
#[test]
fn s3_3_3_a_repeated_key_discards_the_whole_tracestate() {
    let host = host("{}");
    assert!(sent_tracestate(&host, &["foo=1,foo=2"]).is_empty());
    assert!(sent_tracestate(&host, &["foo=1", "foo=1"]).is_empty());
    assert!(sent_tracestate(&host, &["foo=1,bar=2", " bar=3"]).is_empty());
}

// §3.3.2: "Vendors MUST accept empty tracestate headers but SHOULD avoid sending them";
// empty members are ignored.
#[test]
fn s3_3_2_empty_tracestate_fields_are_accepted_and_not_sent() {
    let host = host("{}");
    assert!(sent_tracestate(&host, &[""]).is_empty());
    assert!(sent_tracestate(&host, &[" , \t,"]).is_empty());
    assert_eq!(sent_tracestate(&host, &["", "foo=1"]), ["foo=1"]);
    assert_eq!(sent_tracestate(&host, &["foo=1", " "]), ["foo=1"]);
}

// §3.3.2.2.1 and §3.3.2.2.2: Level 2 keys (`@` anywhere but first, 256 characters) and
// values (256 characters, leading spaces included) at their limits are forwarded.
#[test]
fn s3_3_2_2_keys_and_values_at_their_limits_are_forwarded() {
    let host = host("{}");
    let value = format!(
        "{}=1,foo@bar@baz=2,{}@v=3,9k= {}",
        "k".repeat(256),
        "t".repeat(242),
        "v".repeat(255)
    );
    assert_eq!(sent_tracestate(&host, &[&value]), [value]);
}

// §3.3.3.1: "Vendors SHOULD propagate at least 512 characters of a combined header".
#[test]
fn s3_3_3_1_more_than_512_characters_of_tracestate_are_propagated() {
    let host = host("{}");
    let members: Vec<String> = (0..32)
        .map(|i| format!("vendor{i}={}", "v".repeat(200)))
        .collect();
    let header = members.join(",");
    assert!(header.len() > 6000);
    assert_eq!(sent_tracestate(&host, &[&header]), [header.as_str()]);
    let halves = [members[..16].join(","), members[16..].join(",")];
    assert_eq!(sent_tracestate(&host, &[&halves[0], &halves[1]]), [header]);
}

// §3.3: "If the vendor failed to parse traceparent, it MUST NOT attempt to parse
// tracestate"; §4.1.1: a tracestate without a traceparent "is invalid and MUST be
// discarded". A trace continued from B3 has none either.
#[test]
fn s4_1_1_tracestate_is_never_used_without_a_valid_traceparent() {
    let host = host("{}");
    let stream = send(&host, &[("tracestate", "a=1")]);
    sent_traceparent(&stream);
    assert!(stream.request_header_values("tracestate").is_empty());
    let b3 = format!("{TRACE}-{PARENT}-1");
    let stream = send(&host, &[("b3", &b3), ("tracestate", "a=1")]);
    assert_continued(&stream, "01");
    assert!(stream.request_header_values("tracestate").is_empty());
}

// --- B3 ---------------------------------------------------------------------------------

#[test]
fn b3_single_is_extracted_and_converted_to_w3c() {
    let host = host("{}");
    for (sampling, flags) in [("1", "01"), ("0", "00"), ("d", "01")] {
        let b3 = format!("{TRACE}-{PARENT}-{sampling}-1111111111111111");
        let stream = send(&host, &[("b3", &b3)]);
        assert_continued(&stream, flags);
        assert!(
            stream.request_header_values("b3").is_empty(),
            "not injected"
        );
    }
    assert_eq!(requests(&host, "continued", "b3", "true"), Some(2));
}

#[test]
fn b3_multi_is_extracted_and_converted_to_w3c() {
    let host = host("{}");
    let stream = send(
        &host,
        &[
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", PARENT),
            ("x-b3-parentspanid", "1111111111111111"),
            ("x-b3-sampled", "1"),
        ],
    );
    assert_continued(&stream, "01");
    for name in [
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
    ] {
        assert!(stream.request_header_values(name).is_empty(), "{name} kept");
    }
    let stream = send(
        &host,
        &[
            ("X-B3-TraceId", &TRACE.to_uppercase()),
            ("X-B3-SpanId", PARENT),
            ("X-B3-Flags", "1"),
        ],
    );
    assert_continued(&stream, "01");
}

#[test]
fn b3_single_takes_precedence_over_multi() {
    let host = host("{}");
    let single = format!("{TRACE}-{PARENT}-0");
    let stream = send(
        &host,
        &[
            ("x-b3-traceid", "1111111111111111"),
            ("x-b3-spanid", "2222222222222222"),
            ("x-b3-sampled", "1"),
            ("b3", &single),
        ],
    );
    assert_continued(&stream, "00");
    // An invalid single header falls back to the multi headers.
    let stream = send(
        &host,
        &[
            ("b3", "not-valid-at-all-really"),
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", PARENT),
        ],
    );
    assert_continued(&stream, "01");
}

#[test]
fn a_valid_traceparent_takes_precedence_over_b3() {
    let host = host("{}");
    let b3 = format!("{}-{PARENT}-0", "a".repeat(32));
    let stream = send(&host, &[("b3", &b3), ("traceparent", VALID)]);
    assert_continued(&stream, "01");
}

#[test]
fn b3_64_bit_trace_ids_are_padded_to_128_bits_and_sent_back_as_64() {
    let host = host(r#"{"inject": ["w3c", "b3", "b3multi"]}"#);
    let short = &TRACE[16..];
    let stream = send(&host, &[("b3", &format!("{short}-{PARENT}-1"))]);
    let sent = sent_traceparent(&stream);
    assert_eq!(sent.trace_id, format!("{}{short}", "0".repeat(16)));
    let b3 = stream.request_header("b3").unwrap();
    assert!(
        b3.starts_with(&format!("{short}-{}-1-{PARENT}", sent.parent_id)),
        "{b3}"
    );
    assert_eq!(
        stream.request_header("x-b3-traceid").as_deref(),
        Some(short)
    );
}

#[test]
fn b3_debug_implies_sampled_and_is_kept_in_b3() {
    let host = host(r#"{"inject": ["w3c", "b3multi"], "sampling": {"probability": 0}}"#);
    let stream = send(
        &host,
        &[
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", PARENT),
            ("x-b3-flags", "1"),
            ("x-b3-sampled", "0"),
        ],
    );
    assert_continued(&stream, "01");
    assert_eq!(stream.request_header_values("x-b3-flags"), ["1"]);
    assert!(stream.request_header_values("x-b3-sampled").is_empty());
    let stream = send(&host, &[("b3", "d")]);
    assert_eq!(sent_traceparent(&stream).flags, "03");
}

#[test]
fn w3c_is_converted_to_b3_single_and_multi() {
    let host = host(r#"{"inject": ["b3", "b3multi"]}"#);
    let stream = send(&host, &[("traceparent", VALID), ("tracestate", "a=1")]);
    assert!(stream.request_header_values("traceparent").is_empty());
    assert!(stream.request_header_values("tracestate").is_empty());
    let b3 = stream.request_header("b3").unwrap();
    let fields: Vec<&str> = b3.split('-').collect();
    assert_eq!(fields.len(), 4, "{b3}");
    assert_eq!(fields[0], TRACE);
    assert_ne!(fields[1], PARENT);
    assert_eq!(fields[2], "1");
    assert_eq!(fields[3], PARENT, "the parent is the incoming span");
    assert_eq!(stream.request_header_values("x-b3-traceid"), [TRACE]);
    assert_eq!(stream.request_header_values("x-b3-spanid"), [fields[1]]);
    assert_eq!(stream.request_header_values("x-b3-parentspanid"), [PARENT]);
    assert_eq!(stream.request_header_values("x-b3-sampled"), ["1"]);
}

#[test]
fn all_formats_at_once_carry_the_same_context() {
    let host = host(r#"{"inject": ["w3c", "b3", "b3multi"]}"#);
    let stream = send(&host, &[("traceparent", VALID)]);
    let sent = assert_continued(&stream, "01");
    assert_eq!(
        stream.request_header("b3").unwrap(),
        format!("{TRACE}-{}-1-{PARENT}", sent.parent_id)
    );
    assert_eq!(
        stream.request_header_values("x-b3-spanid"),
        [sent.parent_id]
    );
}

#[test]
fn a_reused_span_never_sends_a_b3_parent_span_id() {
    let host = host(r#"{"new_span_id": false, "inject": ["b3", "b3multi"]}"#);
    let stream = send(
        &host,
        &[
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", PARENT),
            ("x-b3-parentspanid", "1111111111111111"),
            ("x-b3-sampled", "1"),
        ],
    );
    assert_eq!(
        stream.request_header("b3").unwrap(),
        format!("{TRACE}-{PARENT}-1")
    );
    assert_eq!(stream.request_header_values("x-b3-spanid"), [PARENT]);
    assert!(stream.request_header_values("x-b3-parentspanid").is_empty());
}

#[test]
fn invalid_b3_restarts_the_trace() {
    let host = host("{}");
    for headers in [
        vec![("b3", format!("{TRACE}-{}-1", "0".repeat(16)))],
        vec![("b3", format!("{TRACE}-{PARENT}-x"))],
        vec![("x-b3-traceid", TRACE.to_owned())],
        vec![
            ("x-b3-traceid", TRACE.to_owned()),
            ("x-b3-spanid", PARENT.to_owned()),
            ("x-b3-spanid", PARENT.to_owned()),
        ],
    ] {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_restarted(&send(&host, &pairs));
    }
    assert_eq!(requests(&host, "invalid", "none", "true"), Some(4));
}

// --- Sampling ---------------------------------------------------------------------------

#[test]
fn incoming_decisions_are_honoured() {
    let host = host(r#"{"sampling": {"probability": 0.5}}"#);
    for _ in 0..20 {
        let unsampled = format!("00-{TRACE}-{PARENT}-00");
        assert_continued(&send(&host, &[("traceparent", &unsampled)]), "00");
        assert_continued(&send(&host, &[("traceparent", VALID)]), "01");
    }
}

#[test]
fn new_traces_are_sampled_with_the_configured_probability() {
    let never = host(r#"{"sampling": {"probability": 0}}"#);
    assert_eq!(sent_traceparent(&send(&never, &[])).flags, "02");
    let always = host(r#"{"sampling": {"probability": 1}}"#);
    assert_eq!(sent_traceparent(&send(&always, &[])).flags, "03");
    let quarter = host(r#"{"sampling": {"probability": 0.25}}"#);
    quarter.set_random_seed(42);
    let sampled = (0..2000)
        .filter(|_| sent_traceparent(&send(&quarter, &[])).flags == "03")
        .count();
    assert!((400..600).contains(&sampled), "{sampled} of 2000");
    assert_eq!(
        requests(&quarter, "started", "none", "true"),
        Some(sampled as u64)
    );
}

#[test]
fn a_deferred_b3_decision_is_made_with_the_probability() {
    let never = host(r#"{"sampling": {"probability": 0}, "inject": ["b3multi"]}"#);
    let stream = send(&never, &[("x-b3-traceid", TRACE), ("x-b3-spanid", PARENT)]);
    assert_eq!(stream.request_header_values("x-b3-sampled"), ["0"]);
}

#[test]
fn an_edge_can_distrust_incoming_decisions() {
    let host = host(r#"{"sampling": {"probability": 0, "trust_incoming": false}}"#);
    let stream = send(&host, &[("traceparent", VALID)]);
    assert_continued(&stream, "00");
    let stream = send(&host, &[("b3", "d")]);
    assert_eq!(sent_traceparent(&stream).flags, "02");
    let host_always = self::host(r#"{"sampling": {"probability": 1, "trust_incoming": false}}"#);
    let unsampled = format!("00-{TRACE}-{PARENT}-02");
    assert_continued(&send(&host_always, &[("traceparent", &unsampled)]), "03");
}

// --- Trust boundary ---------------------------------------------------------------------

#[test]
fn restart_keeps_the_incoming_context_only_as_a_tracestate_entry() {
    let host = host(r#"{"trust_boundary": "restart", "restart_tracestate_key": "edge"}"#);
    let stream = send(
        &host,
        &[("traceparent", VALID), ("tracestate", "vendor=secret")],
    );
    let sent = sent_traceparent(&stream);
    assert_ne!(sent.trace_id, TRACE);
    assert_eq!(sent.flags, "03");
    assert_eq!(
        stream.request_header_values("tracestate"),
        [format!("edge={VALID}")]
    );
    assert_eq!(requests(&host, "restarted", "w3c", "true"), Some(1));
    let b3 = format!("{}-{PARENT}-1", &TRACE[16..]);
    let stream = send(&host, &[("b3", &b3)]);
    assert_eq!(
        stream.request_header_values("tracestate"),
        [format!(
            "edge=00-{}{}-{PARENT}-01",
            "0".repeat(16),
            &TRACE[16..]
        )]
    );
    assert_eq!(requests(&host, "restarted", "b3", "true"), Some(1));
    // Nothing to keep without a valid incoming context.
    let stream = send(&host, &[("traceparent", "garbage"), ("tracestate", "a=1")]);
    assert!(stream.request_header_values("tracestate").is_empty());
}

#[test]
fn restart_without_a_key_drops_the_incoming_context() {
    let host = host(r#"{"trust_boundary": "restart", "inject": ["w3c", "b3multi"]}"#);
    let stream = send(
        &host,
        &[
            ("traceparent", VALID),
            ("tracestate", "a=1"),
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", PARENT),
        ],
    );
    let sent = sent_traceparent(&stream);
    assert_ne!(sent.trace_id, TRACE);
    assert!(stream.request_header_values("tracestate").is_empty());
    assert_eq!(
        stream.request_header_values("x-b3-traceid"),
        [sent.trace_id]
    );
    assert!(stream.request_header_values("x-b3-parentspanid").is_empty());
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    let stream = send(&host, &[("traceparent", &unsampled)]);
    assert_eq!(
        sent_traceparent(&stream).flags,
        "03",
        "the outside decision is not used"
    );
}

#[test]
fn continue_is_the_default_boundary() {
    let host = host(r#"{"trust_boundary": "continue"}"#);
    assert_continued(&send(&host, &[("traceparent", VALID)]), "01");
}

// --- Correlation ------------------------------------------------------------------------

#[test]
fn a_request_id_is_generated_when_absent() {
    let host = host("{}");
    let stream = send(&host, &[]);
    let ids = stream.request_header_values("x-request-id");
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "4", "{id}");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    let stream = send(&host, &[("x-request-id", "from-the-client")]);
    assert_eq!(
        stream.request_header_values("x-request-id"),
        ["from-the-client"]
    );
    let stream = send(&host, &[("x-request-id", "one"), ("x-request-id", "two")]);
    let ids = stream.request_header_values("x-request-id");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].len(), 36);
}

#[test]
fn the_trace_id_is_echoed_in_the_configured_response_header() {
    let host = host(r#"{"response_trace_id_header": "x-trace-id"}"#);
    let stream = send(&host, &[("traceparent", VALID)]);
    stream.send_response_headers(&[(":status", "200"), ("x-trace-id", "forged")]);
    let echoed: Vec<String> = stream
        .response_headers()
        .into_iter()
        .filter(|(n, _)| n == "x-trace-id")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(echoed, [TRACE]);
    let restarted = send(&host, &[("traceparent", "bad")]);
    restarted.send_response_headers(&[(":status", "200")]);
    assert_eq!(
        restarted.response_header("x-trace-id"),
        Some(sent_traceparent(&restarted).trace_id)
    );
}

#[test]
fn no_response_header_by_default() {
    let host = host("{}");
    let stream = send(&host, &[("traceparent", VALID)]);
    stream.send_response_headers(&[(":status", "200")]);
    assert_eq!(
        stream.response_headers(),
        [(":status".into(), "200".into())]
    );
}

#[test]
fn baggage_is_forwarded_within_its_limits() {
    let host = host("{}");
    let stream = send(
        &host,
        &[
            ("baggage", "user=alice;prop"),
            ("baggage", "bad key=1, tenant=t1"),
        ],
    );
    assert_eq!(
        stream.request_header_values("baggage"),
        ["user=alice;prop,tenant=t1"]
    );
    let members: Vec<String> = (0..65).map(|i| format!("m{i}=v")).collect();
    let stream = send(&host, &[("baggage", &members.join(","))]);
    assert_eq!(
        stream.request_header_values("baggage"),
        [members[..64].join(",")]
    );
    let big: Vec<String> = (0..3)
        .map(|i| format!("b{i}={}", "x".repeat(3000)))
        .collect();
    let stream = send(&host, &[("baggage", &big.join(","))]);
    assert_eq!(
        stream.request_header_values("baggage"),
        [big[..2].join(",")]
    );
}

#[test]
fn baggage_can_be_dropped() {
    let host = host(r#"{"baggage": false}"#);
    let stream = send(&host, &[("baggage", "user=alice")]);
    assert!(stream.request_header_values("baggage").is_empty());
}

// --- Configuration ----------------------------------------------------------------------

#[test]
fn an_empty_configuration_uses_the_defaults() {
    let host = host("");
    assert_continued(&send(&host, &[("traceparent", VALID)]), "01");
}

#[test]
fn a_bad_configuration_is_refused_with_one_line_naming_the_field() {
    let host = Host::of::<TracePropagation>();
    assert!(!host.configure(r#"{"sampling": {"probability": 2}}"#));
    let critical: Vec<_> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Critical)
        .collect();
    assert_eq!(critical.len(), 1);
    assert_eq!(
        critical[0].message,
        "trace-propagation: config.sampling.probability: must be between 0.0 and 1.0"
    );
}
