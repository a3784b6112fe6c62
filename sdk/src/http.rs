//! Reading and changing the current request and response, through the host.

use crate::headers::HeaderMap;
use crate::host;
use crate::reply::LocalReply;
use proxy_wasm::types::MapType;
use std::cell::RefCell;
use std::rc::Rc;

/// The request or response the current callback is about.
///
/// A handle to the host: every method reads or changes Envoy's header maps of the stream
/// the callback runs for. Header names are lowercase, as Envoy keeps them.
///
/// The request headers are read from the host once per callback and shared: every
/// [`Http::request_headers`] of the callback (and every stage of a [`crate::Chain`]) gets
/// the same map, which the request header changes made through this handle keep up to
/// date. Changes that would not change the map (removing an absent header, setting the
/// value a header already has once) do not reach the host at all.
#[derive(Debug, Default)]
pub struct Http {
    request: RefCell<Option<Rc<HeaderMap>>>,
}

impl Http {
    /// The handle for the current callback. Filters receive it from the SDK.
    pub(crate) fn current() -> Self {
        Self::default()
    }

    /// All request headers, pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`)
    /// included, every value of repeated headers kept.
    pub fn request_headers(&self) -> Rc<HeaderMap> {
        if let Some(headers) = self.with_copy(Rc::clone) {
            return headers;
        }
        let headers = Rc::new(host::header_map(MapType::HttpRequestHeaders));
        if let Ok(mut cached) = self.request.try_borrow_mut() {
            *cached = Some(Rc::clone(&headers));
        }
        headers
    }

    /// The first value of a request header. Hides repeats: read
    /// [`Http::request_headers`] where a decision depends on the header.
    pub fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        match self.with_copy(|headers| headers.first(name).map(<[u8]>::to_vec)) {
            Some(value) => value,
            None => host::header_value(MapType::HttpRequestHeaders, name),
        }
    }

    /// What `read` finds in the shared copy of the request headers; `None` when there is
    /// no copy (not read yet in this callback, or forgotten).
    fn with_copy<R>(&self, read: impl FnOnce(&Rc<HeaderMap>) -> R) -> Option<R> {
        let cached = self.request.try_borrow().ok()?;
        cached.as_ref().map(read)
    }

    /// Applies a change the host made to the request headers to the shared copy, or
    /// forgets the copy when the host refused the change (or its effect is not known).
    fn follow(&self, changed: bool, change: impl FnOnce(&mut HeaderMap)) {
        if let Ok(mut cached) = self.request.try_borrow_mut() {
            match (changed, cached.as_mut()) {
                (true, Some(headers)) => change(Rc::make_mut(headers)),
                (false, _) => *cached = None,
                (true, None) => {}
            }
        }
    }

    /// Replaces every value of a request header with `value` (adds it when absent).
    pub fn set_request_header(&self, name: &str, value: &[u8]) {
        if self.with_copy(|headers| headers.single(name) == Ok(value)) == Some(true) {
            return;
        }
        let changed = host::replace_header(MapType::HttpRequestHeaders, name, value);
        self.follow(changed, |headers| headers.replace(name, value));
    }

    /// Adds one more value of a request header.
    ///
    /// Envoy appends a pair, except to a header it keeps in a fixed slot (`x-forwarded-for`,
    /// `user-agent`, ...) that is already there, whose value it extends with `,value`; the
    /// shared copy follows the first case and is read again after the second.
    pub fn add_request_header(&self, name: &str, value: &[u8]) {
        let absent = self.with_copy(|headers| !headers.contains(name)) == Some(true);
        let changed = host::add_header(MapType::HttpRequestHeaders, name, value);
        self.follow(changed && absent, |headers| {
            headers.push(name.to_ascii_lowercase().as_bytes(), value)
        });
    }

    /// Removes every value of a request header.
    pub fn remove_request_header(&self, name: &str) {
        if self.with_copy(|headers| !headers.contains(name)) == Some(true) {
            return;
        }
        let changed = host::remove_header(MapType::HttpRequestHeaders, name);
        self.follow(changed, |headers| headers.remove(name));
    }

    /// All response headers (`:status` included), every value kept.
    pub fn response_headers(&self) -> HeaderMap {
        host::header_map(MapType::HttpResponseHeaders)
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
        host::header_map(MapType::HttpResponseTrailers)
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
