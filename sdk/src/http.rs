//! Reading and changing the current request and response, through the host.

use crate::headers::HeaderMap;
use crate::host;
use crate::reply::LocalReply;
use proxy_wasm::types::MapType;
use std::cell::{Ref, RefCell};
use std::rc::Rc;

/// The request and response of one stream, from its first callback to its last.
///
/// A handle to the host: every method reads or changes Envoy's header maps of the stream.
/// Header names are lowercase, as Envoy keeps them.
///
/// The request headers are read from the host once per request and shared: every
/// [`Http::request_headers`] of the request's callbacks (and every stage of a
/// [`crate::chain::Chain`]) gets the same map, which the request header changes made through
/// this handle keep up to date, in place. In the callbacks after the request headers
/// (response, log) it is the request as it left this filter: changes made by filters
/// after it in Envoy's chain are not seen. Changes that would not change the map
/// (removing an absent header, setting the value a header already has once) do not reach
/// the host at all.
///
/// Stages of a chain hand on what they learned through it: the caller an access-control
/// stage verified ([`Http::verified_caller`]) is the one a metrics stage labels by.
#[derive(Debug, Default)]
pub struct Http {
    request: RefCell<Option<Rc<HeaderMap>>>,
    pending: RefCell<PendingChanges>,
    caller: RefCell<Option<VerifiedCaller>>,
}

/// A caller whose identity a filter verified (from the mTLS peer certificate, or from a
/// header it trusts by configuration), handed on to the filters after it in the same
/// module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The caller's service name.
    pub service: String,
    /// Its SPIFFE ID, when it came from a certificate.
    pub spiffe_id: Option<String>,
}

/// Request header changes made while a stage held the shared copy (so it could not be
/// changed in place): applied to the copy at its next read, instead of copying the map.
#[derive(Debug, Default)]
struct PendingChanges {
    /// One pair per change: the header's name and the value it was given.
    changes: HeaderMap,
    /// What each change did.
    kinds: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Replace,
    Append,
    Remove,
}

impl PendingChanges {
    fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    fn touches(&self, name: &str) -> bool {
        self.changes.contains(name)
    }

    fn push(&mut self, kind: Change, name: &str, value: &[u8]) {
        if self.kinds.capacity() == 0 {
            // Room for a stage's usual changes at once, rather than growing step by step.
            self.changes.reserve(8, 256);
            self.kinds.reserve(8);
        }
        self.changes.push(name.as_bytes(), value);
        self.kinds.push(kind);
    }

    /// Applies every change to `headers`, in order, and forgets them.
    fn apply_to(&mut self, headers: &mut HeaderMap) {
        for ((name, value), kind) in self.changes.iter().zip(&self.kinds) {
            let name = std::str::from_utf8(name).unwrap_or_default();
            apply(headers, *kind, name, value);
        }
        self.changes.clear();
        self.kinds.clear();
    }
}

fn apply(headers: &mut HeaderMap, kind: Change, name: &str, value: &[u8]) {
    match kind {
        Change::Replace => headers.replace(name, value),
        Change::Append => headers.push_lowercase(name.as_bytes(), value),
        Change::Remove => headers.remove(name),
    }
}

impl Http {
    /// All request headers, pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`)
    /// included, every value of repeated headers kept.
    pub fn request_headers(&self) -> Rc<HeaderMap> {
        if let Ok(mut cached) = self.request.try_borrow_mut() {
            if let Some(headers) = cached.as_mut() {
                if let Ok(mut pending) = self.pending.try_borrow_mut() {
                    if !pending.is_empty() {
                        pending.apply_to(Rc::make_mut(headers));
                    }
                }
                return Rc::clone(headers);
            }
            let headers = Rc::new(host::header_map(MapType::HttpRequestHeaders));
            *cached = Some(Rc::clone(&headers));
            return headers;
        }
        Rc::new(host::header_map(MapType::HttpRequestHeaders))
    }

    /// The first value of a request header. Hides repeats: read
    /// [`Http::request_headers`] where a decision depends on the header.
    pub fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        let touched = self.pending.try_borrow().is_ok_and(|p| p.touches(name));
        if touched && self.has_copy() {
            return self.request_headers().first(name).map(<[u8]>::to_vec);
        }
        match self.with_copy(name, |headers| headers.first(name).map(<[u8]>::to_vec)) {
            Some(value) => value,
            None => host::header_value(MapType::HttpRequestHeaders, name),
        }
    }

    /// Whether the request headers were read in this request and are still followed.
    fn has_copy(&self) -> bool {
        self.request
            .try_borrow()
            .is_ok_and(|cached| cached.is_some())
    }

    /// What `read` finds in the shared copy of the request headers for header `name`;
    /// `None` when there is no copy (not read yet, or forgotten) or a change to `name` is
    /// still pending.
    fn with_copy<R>(&self, name: &str, read: impl FnOnce(&HeaderMap) -> R) -> Option<R> {
        if self.pending.try_borrow().ok()?.touches(name) {
            return None;
        }
        let cached = self.request.try_borrow().ok()?;
        cached.as_deref().map(read)
    }

    /// Applies a change the host made to the request headers to the shared copy: in place
    /// when no stage holds the copy, else at its next read. Forgets the copy when the host
    /// refused the change (or its effect is not known).
    fn follow(&self, changed: bool, kind: Change, name: &str, value: &[u8]) {
        let (Ok(mut cached), Ok(mut pending)) =
            (self.request.try_borrow_mut(), self.pending.try_borrow_mut())
        else {
            return;
        };
        match (changed, cached.as_mut().map(Rc::get_mut)) {
            (false, _) => {
                *cached = None;
                *pending = PendingChanges::default();
            }
            (true, Some(Some(headers))) => {
                pending.apply_to(headers);
                apply(headers, kind, name, value);
            }
            (true, Some(None)) => pending.push(kind, name, value),
            (true, None) => {}
        }
    }

    /// Replaces every value of a request header with `value` (adds it when absent).
    pub fn set_request_header(&self, name: &str, value: &[u8]) {
        if self.with_copy(name, |headers| headers.single(name) == Ok(value)) == Some(true) {
            return;
        }
        let changed = host::replace_header(MapType::HttpRequestHeaders, name, value);
        self.follow(changed, Change::Replace, name, value);
    }

    /// Adds one more value of a request header.
    ///
    /// Envoy appends a pair, except to a header it keeps in a fixed slot (`x-forwarded-for`,
    /// `user-agent`, ...) that is already there, whose value it extends with `,value`; the
    /// shared copy follows the first case and is read again after the second.
    pub fn add_request_header(&self, name: &str, value: &[u8]) {
        let absent = self.with_copy(name, |headers| !headers.contains(name)) == Some(true);
        let changed = host::add_header(MapType::HttpRequestHeaders, name, value);
        self.follow(changed && absent, Change::Append, name, value);
    }

    /// Removes every value of a request header.
    pub fn remove_request_header(&self, name: &str) {
        if self.with_copy(name, |headers| !headers.contains(name)) == Some(true) {
            return;
        }
        let changed = host::remove_header(MapType::HttpRequestHeaders, name);
        self.follow(changed, Change::Remove, name, b"");
    }

    /// Hands on the caller this filter verified, for the filters after it in the module
    /// (replacing any handed on before).
    pub fn set_verified_caller(&self, caller: VerifiedCaller) {
        if let Ok(mut slot) = self.caller.try_borrow_mut() {
            *slot = Some(caller);
        }
    }

    /// The caller a filter before this one in the module verified, if any. Never set from
    /// anything a client sends unless that filter's configuration trusts it.
    pub fn verified_caller(&self) -> Option<Ref<'_, VerifiedCaller>> {
        Ref::filter_map(self.caller.try_borrow().ok()?, Option::as_ref).ok()
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
