//! Typed, non-panicking reads of Envoy's request and connection attributes.
//!
//! Each getter returns `None` when the host has no value (for example no peer
//! certificate on a plaintext connection) or the bytes are not of the expected shape.
//! Envoy encodes strings as raw bytes, integers as 8-byte little-endian, booleans as one
//! byte and durations as 8-byte little-endian nanoseconds.
//!
//! The attributes of the connection (`source.*`, `destination.*`, `connection.*` but for
//! `connection.termination_details` and `connection.transport_failure_reason`) do not
//! change while a request is served, and reading one from Envoy costs about as much as a
//! small filter's whole work. During a request's callbacks the SDK keeps every one read,
//! so each is read from the host at most once per request, whichever filters of a chain
//! and callbacks ask for it.

use crate::host;
use std::cell::RefCell;

/// The connection attributes read so far during one request, by encoded path.
#[derive(Debug, Default)]
pub(crate) struct ConnectionAttributes {
    read: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

thread_local! {
    /// The attributes of the request whose callback is running, if any.
    static CURRENT: RefCell<Option<ConnectionAttributes>> = const { RefCell::new(None) };
}

/// Runs `callback` with `attributes` as the current request's connection attributes,
/// keeping what it reads for the request's later callbacks.
pub(crate) fn during_request<R>(
    attributes: &mut ConnectionAttributes,
    callback: impl FnOnce() -> R,
) -> R {
    let taken = std::mem::take(attributes);
    CURRENT.with(|current| current.replace(Some(taken)));
    let result = callback();
    if let Some(kept) = CURRENT.with(|current| current.take()) {
        *attributes = kept;
    }
    result
}

/// Whether the attribute at `path` belongs to the connection and stays as it is while a
/// request is served (not so why and how a connection ended).
fn of_connection(path: &[&str]) -> bool {
    match path {
        [] => false,
        ["connection", "termination_details" | "transport_failure_reason", ..] => false,
        [first, ..] => matches!(*first, "source" | "destination" | "connection"),
    }
}

/// The raw bytes of an attribute: from the current request's kept connection attributes,
/// or from the host (and then kept, if it is one).
fn read(path: &[&str]) -> Option<Vec<u8>> {
    if !of_connection(path) {
        return host::property(path);
    }
    let key = crate::wire::encode_property_path(path);
    let kept = CURRENT.with(|current| {
        let current = current.try_borrow().ok()?;
        let attributes = current.as_ref()?;
        attributes
            .read
            .iter()
            .find(|(read, _)| *read == key)
            .map(|(_, value)| value.clone())
    });
    if let Some(value) = kept {
        return value;
    }
    let value = host::property_at(&key);
    CURRENT.with(|current| {
        if let Ok(mut current) = current.try_borrow_mut() {
            if let Some(attributes) = current.as_mut() {
                attributes.read.push((key, value.clone()));
            }
        }
    });
    value
}

/// A string attribute; non-UTF-8 bytes are replaced, never unwrapped.
pub fn string(path: &[&str]) -> Option<String> {
    read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// An integer attribute (8 bytes little-endian).
pub fn int(path: &[&str]) -> Option<i64> {
    let bytes: [u8; 8] = read(path)?.as_slice().try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// A boolean attribute (one byte).
pub fn bool(path: &[&str]) -> Option<bool> {
    match read(path)?.as_slice() {
        [0] => Some(false),
        [1] => Some(true),
        _ => None,
    }
}

/// Whether the downstream connection is mutual TLS (`connection.mtls`).
pub fn mtls() -> Option<bool> {
    bool(&["connection", "mtls"])
}

/// The first URI SAN of the verified peer certificate (`connection.uri_san_peer_certificate`),
/// e.g. `spiffe://example.org/ns/default/sa/frontend`.
pub fn peer_uri_san() -> Option<String> {
    string(&["connection", "uri_san_peer_certificate"]).filter(|s| !s.is_empty())
}

/// The downstream peer address as `ip:port` (`source.address`).
pub fn source_address() -> Option<String> {
    string(&["source", "address"])
}

/// The matched route's name (`xds.route_name`).
pub fn route_name() -> Option<String> {
    string(&["xds", "route_name"]).filter(|s| !s.is_empty())
}

/// The upstream cluster's name (`xds.cluster_name`).
pub fn cluster_name() -> Option<String> {
    string(&["xds", "cluster_name"]).filter(|s| !s.is_empty())
}

/// The plugin's root id (`plugin_root_id`).
pub fn plugin_root_id() -> Option<String> {
    string(&["plugin_root_id"])
}

/// The response status code sent downstream (`response.code`), local replies included.
pub fn response_code() -> Option<u16> {
    int(&["response", "code"]).and_then(|code| u16::try_from(code).ok())
}

/// Envoy's response flags bit set (`response.flags`), e.g. upstream reset or no route.
pub fn response_flags() -> Option<u64> {
    int(&["response", "flags"]).and_then(|flags| u64::try_from(flags).ok())
}

/// Envoy's response code details (`response.code_details`), e.g. `via_upstream`.
pub fn response_code_details() -> Option<String> {
    string(&["response", "code_details"])
}

/// The request size in bytes, headers and body (`request.total_size`).
pub fn request_total_size() -> Option<u64> {
    int(&["request", "total_size"]).and_then(|n| u64::try_from(n).ok())
}

/// The response size in bytes, headers and body (`response.total_size`).
pub fn response_total_size() -> Option<u64> {
    int(&["response", "total_size"]).and_then(|n| u64::try_from(n).ok())
}

/// The request's protocol (`request.protocol`), e.g. `HTTP/1.1` or `HTTP/2`.
pub fn request_protocol() -> Option<String> {
    string(&["request", "protocol"])
}

/// How long the request took so far, in nanoseconds (`request.duration`).
pub fn request_duration_nanos() -> Option<u64> {
    int(&["request", "duration"]).and_then(|n| u64::try_from(n).ok())
}
