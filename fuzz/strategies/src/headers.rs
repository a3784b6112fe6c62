//! Header names and values, methods and authorities, ordinary and hostile.

use proptest::prelude::*;
use proptest::sample::select;

/// Names the filters look at, in several spellings, and names that are not tokens.
pub const NAMES: &[&str] = &[
    "accept",
    "user-agent",
    "content-type",
    "cookie",
    "authorization",
    "Authorization",
    "proxy-authorization",
    "content-length",
    "host",
    "Host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "transfer-encoding",
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-request-id",
    "x-forwarded-client-cert",
    "x-forwarded-for",
    "x-wasmesh-caller",
    "x-service-name",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-envoy-internal",
    "x-envoy-original-path",
    "x-tenant",
    "x-user",
    "x_user",
    "X-User",
    "x-legacy",
    "x_legacy",
    "grpc-status",
    ":path",
    ":method",
    ":authority",
    ":scheme",
    ":status",
    ":protocol",
    ":",
    "",
    " x",
    "x y",
    "x:y",
    "x\u{7f}",
    "caf\u{e9}",
];

/// A header name: mostly known names, sometimes a random token or random bytes.
pub fn name() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        12 => select(NAMES).prop_map(|name| name.as_bytes().to_vec()),
        3 => crate::regex("[a-z][a-z0-9_-]{0,12}").prop_map(String::into_bytes),
        1 => crate::regex("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}").prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
    .boxed()
}

/// The names of [`NAMES`] that are valid lowercase field names.
pub fn ordinary_name() -> BoxedStrategy<Vec<u8>> {
    let ordinary: Vec<&'static str> = NAMES
        .iter()
        .copied()
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .collect();
    select(ordinary)
        .prop_map(|name| name.as_bytes().to_vec())
        .boxed()
}

/// A value a well-behaved client sends: printable, or a trace-context value.
pub fn ordinary_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => select(VALUES).prop_map(|value| value.as_bytes().to_vec()),
        3 => crate::regex("[!-~]([ -~]{0,30}[!-~])?").prop_map(String::into_bytes),
        1 => super::trace::traceparent(),
        1 => super::trace::tracestate(),
    ]
    .boxed()
}

/// Values that mean something to one filter or another.
pub const VALUES: &[&str] = &[
    "",
    " ",
    "v",
    " v ",
    "\tv\t",
    "a,b",
    "a, b",
    ",",
    "trailers",
    " trailers\t",
    "upgrade",
    "Upgrade, x-user",
    "close, x-tenant",
    "websocket",
    "Bearer t",
    "Bearer a,Bearer b",
    "Digest realm=\"x\", nonce=\"y\"",
    "application/json",
    "application/grpc",
    "application/grpc+proto",
    "GET",
    "get",
    "DELETE",
    "BREW",
    "frontend",
    " frontend ",
    "backoffice",
    "frontend,backoffice",
    "admin",
    "spiffe://example.org/ns/shop/sa/frontend",
    "0",
    "1",
    "14",
    "-1",
    "1.2.3.4",
    "SVC.:80",
];

/// A header value: known values, printable text, trace and identity headers, raw bytes
/// (controls, non-UTF-8) and, rarely, an oversized one.
pub fn value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        10 => select(VALUES).prop_map(|value| value.as_bytes().to_vec()),
        4 => crate::regex("[ -~]{0,40}").prop_map(String::into_bytes),
        2 => super::trace::traceparent(),
        1 => super::trace::tracestate(),
        1 => super::trace::baggage(),
        1 => super::trace::b3_single(),
        1 => super::identity::xfcc(),
        1 => super::identity::spiffe_id().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => oversized(),
    ]
    .boxed()
}

/// A value of 4 KiB to 70 KiB (beyond header-normalization's default limit of 60 KiB for
/// the whole header block).
pub fn oversized() -> BoxedStrategy<Vec<u8>> {
    (select(&[4096usize, 20_000, 70_000][..]), b'!'..=b'~')
        .prop_map(|(len, byte)| vec![byte; len])
        .boxed()
}

/// A method: the usual ones, other cases, unknown and malformed ones.
pub fn method() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        12 => select(&["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
            "TRACE", "CONNECT"][..])
            .prop_map(|m| m.as_bytes().to_vec()),
        2 => select(&["get", "Post", "pAtCh", "BREW", "PROPFIND", "", "G T", "GET\u{0}"][..])
            .prop_map(|m| m.as_bytes().to_vec()),
        1 => crate::regex("[A-Za-z]{1,8}").prop_map(String::into_bytes),
    ]
    .boxed()
}

/// An authority: the services of the tests in several spellings, ports, IP literals and
/// malformed ones.
pub fn authority() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        10 => select(&[
            "orders.example.org", "orders.example.org", "svc", "ORDERS.Example.ORG",
            "orders.example.org.", "orders.example.org:80", "orders.example.org:443",
            "orders.example.org:8443", "orders.example.org:", "admin.internal.example.org",
            "127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:80", "[FD00::A]:443",
        ][..])
            .prop_map(|a| a.as_bytes().to_vec()),
        2 => select(&[
            "", " svc ", "a,b", "user@svc", "svc/x", "svc:0", "svc:65536", "svc:080", "127.1",
            "0x7f.0.0.1", "2130706433", "caf\u{e9}.example", "svc..example", "[::1", "%73vc",
        ][..])
            .prop_map(|a| a.as_bytes().to_vec()),
        1 => crate::regex("[a-z0-9.-]{1,20}(:[0-9]{1,5})?").prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..16),
    ]
    .boxed()
}
