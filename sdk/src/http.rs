//! Reading and changing the current request and response, through the host.

use crate::headers::HeaderMap;
use crate::host;
use crate::reply::LocalReply;
use proxy_wasm::types::MapType;

/// The request or response the current callback is about.
///
/// A handle to the host: every method reads or changes Envoy's header maps of the stream
/// the callback runs for. Header names are lowercase, as Envoy keeps them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http {
    _private: (),
}

impl Http {
    /// The handle for the current callback. Filters receive it from the SDK.
    pub(crate) fn current() -> Self {
        Self { _private: () }
    }

    /// All request headers, pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`)
    /// included, every value of repeated headers kept.
    pub fn request_headers(&self) -> HeaderMap {
        HeaderMap::new(host::header_pairs(MapType::HttpRequestHeaders))
    }

    /// The first value of a request header. Hides repeats: read
    /// [`Http::request_headers`] where a decision depends on the header.
    pub fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        host::header_value(MapType::HttpRequestHeaders, name)
    }

    /// Replaces every value of a request header with `value` (adds it when absent).
    pub fn set_request_header(&self, name: &str, value: &[u8]) {
        host::replace_header(MapType::HttpRequestHeaders, name, value);
    }

    /// Adds one more value of a request header.
    pub fn add_request_header(&self, name: &str, value: &[u8]) {
        host::add_header(MapType::HttpRequestHeaders, name, value);
    }

    /// Removes every value of a request header.
    pub fn remove_request_header(&self, name: &str) {
        host::remove_header(MapType::HttpRequestHeaders, name);
    }

    /// All response headers (`:status` included), every value kept.
    pub fn response_headers(&self) -> HeaderMap {
        HeaderMap::new(host::header_pairs(MapType::HttpResponseHeaders))
    }

    /// The first value of a response header.
    pub fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        host::header_value(MapType::HttpResponseHeaders, name)
    }

    /// Replaces every value of a response header with `value`.
    pub fn set_response_header(&self, name: &str, value: &[u8]) {
        host::replace_header(MapType::HttpResponseHeaders, name, value);
    }

    /// Adds one more value of a response header.
    pub fn add_response_header(&self, name: &str, value: &[u8]) {
        host::add_header(MapType::HttpResponseHeaders, name, value);
    }

    /// Removes every value of a response header.
    pub fn remove_response_header(&self, name: &str) {
        host::remove_header(MapType::HttpResponseHeaders, name);
    }

    /// All response trailers (e.g. `grpc-status`), in the trailers callback.
    pub fn response_trailers(&self) -> HeaderMap {
        HeaderMap::new(host::header_pairs(MapType::HttpResponseTrailers))
    }

    /// Sends `reply` to the client instead of forwarding the request. The SDK calls this
    /// for [`crate::Flow::Reply`]; filters return that rather than calling it.
    pub(crate) fn send_reply(&self, reply: &LocalReply) {
        let headers = crate::wire::encode_pairs(&reply.headers);
        host::send_local_response(
            u32::from(reply.status),
            &reply.details,
            &reply.body,
            &headers,
        );
    }
}
