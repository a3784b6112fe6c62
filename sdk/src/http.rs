//! The SDK's [`Host`]: Envoy, through the proxy-wasm ABI, for one stream.

use crate::headers::HeaderMap;
use crate::host;
use crate::metrics::MetricKind;
use crate::properties::{AttributeBatch, AttributeValues};
use crate::reply::LocalReply;
use crate::seam::{HeaderEdit, Host, MetricChange, Rerouted, VerifiedCaller};
use proxy_wasm::types::{MapType, MetricType};
use std::cell::RefCell;
use std::rc::Rc;

/// Envoy, for one stream from its first callback to its last.
///
/// The request headers are read from the host once per request and shared: every
/// [`Host::request_headers`] of the request's callbacks (and every stage of a
/// [`crate::chain::Chain`]) gets the same map, which the request header edits made through
/// this handle keep up to date, in place. In the callbacks after the request headers
/// (response, log) it is the request as it left this filter: changes made by filters
/// after it in Envoy's chain are not seen. Changes that would not change the map
/// (removing an absent header, setting the value a header already has once) do not reach
/// the host at all.
///
/// Stages of a chain hand on what they learned through it: the caller an access-control
/// stage verified ([`Host::verified_caller`]) is the one a metrics stage labels by.
#[derive(Debug, Default)]
pub(crate) struct Http {
    request: RefCell<Option<Rc<HeaderMap>>>,
    pending: RefCell<PendingChanges>,
    caller: RefCell<Option<Rc<VerifiedCaller>>>,
    route: RefCell<RouteNames>,
    rerouted: std::cell::Cell<Rerouted>,
}

/// Envoy's names for the route it chose for the request (`xds.route_name`,
/// `xds.virtual_host_name`), as read so far. They do not change while the filters run,
/// even when one changes the request (see [`Host::rerouted`]).
#[derive(Debug, Default)]
struct RouteNames {
    route_name: Option<Option<Rc<[u8]>>>,
    virtual_host_name: Option<Option<Rc<[u8]>>>,
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
    /// See [`Host::request_headers`].
    fn shared_request_headers(&self) -> Rc<HeaderMap> {
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

    /// Notes a change to request header `name` that reached Envoy: one that Envoy chose
    /// the route by makes the route's names stale (see [`Host::rerouted`]).
    fn note_change(&self, name: &str) {
        let change = match name {
            ":path" => Rerouted::Path,
            ":authority" | "host" | ":method" => Rerouted::Other,
            _ => return,
        };
        self.rerouted.set(self.rerouted.get().max(change));
    }

    /// Replaces every value of a request header with `value` (adds it when absent).
    fn set_request_header(&self, name: &str, value: &[u8]) {
        if self.with_copy(name, |headers| headers.single(name) == Ok(value)) == Some(true) {
            return;
        }
        let changed = host::replace_header(MapType::HttpRequestHeaders, name, value);
        self.note_change(name);
        self.follow(changed, Change::Replace, name, value);
    }

    /// Adds one more value of a request header.
    ///
    /// Envoy appends a pair, except to a header it keeps in a fixed slot (`x-forwarded-for`,
    /// `user-agent`, ...) that is already there, whose value it extends with `,value`; the
    /// shared copy follows the first case and is read again after the second.
    fn add_request_header(&self, name: &str, value: &[u8]) {
        let absent = self.with_copy(name, |headers| !headers.contains(name)) == Some(true);
        let changed = host::add_header(MapType::HttpRequestHeaders, name, value);
        self.note_change(name);
        self.follow(changed && absent, Change::Append, name, value);
    }

    /// Removes every value of a request header.
    fn remove_request_header(&self, name: &str) {
        if self.with_copy(name, |headers| !headers.contains(name)) == Some(true) {
            return;
        }
        let changed = host::remove_header(MapType::HttpRequestHeaders, name);
        self.note_change(name);
        self.follow(changed, Change::Remove, name, b"");
    }
}

impl Host for Http {
    fn request_headers(&self) -> Rc<HeaderMap> {
        self.shared_request_headers()
    }

    fn response_headers(&self) -> HeaderMap {
        host::header_map(MapType::HttpResponseHeaders)
    }

    fn response_trailers(&self) -> HeaderMap {
        host::header_map(MapType::HttpResponseTrailers)
    }

    fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>> {
        let Ok(mut names) = self.route.try_borrow_mut() else {
            return crate::properties::value(path);
        };
        let kept = match path {
            ["xds", "route_name"] => &mut names.route_name,
            ["xds", "virtual_host_name"] => &mut names.virtual_host_name,
            _ => return crate::properties::value(path),
        };
        kept.get_or_insert_with(|| crate::properties::value(path))
            .clone()
    }

    fn attributes(&self, batch: &AttributeBatch) -> AttributeValues {
        batch.read()
    }

    fn rerouted(&self) -> Rerouted {
        self.rerouted.get()
    }

    fn verified_caller(&self) -> Option<Rc<VerifiedCaller>> {
        self.caller.try_borrow().ok()?.clone()
    }

    fn now_nanos(&self) -> u64 {
        host::now_nanos()
    }

    fn random_bytes(&self, out: &mut [u8]) {
        crate::random::fill(out);
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let metric_type = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        host::define_metric(metric_type, name)
    }

    fn change_metric(&self, id: u32, change: MetricChange) {
        match change {
            MetricChange::Add(offset) => host::increment_metric(id, offset),
            MetricChange::Record(value) => host::record_metric(id, value),
        }
    }

    fn metric_value(&self, id: u32) -> Option<u64> {
        host::metric_value(id)
    }

    fn edit_request(&self, edit: &HeaderEdit<'_>) {
        match edit {
            HeaderEdit::Set(name, value) => self.set_request_header(name, value),
            HeaderEdit::Add(name, value) => self.add_request_header(name, value),
            HeaderEdit::Remove(name) => self.remove_request_header(name),
        }
    }

    fn edit_response(&self, edit: &HeaderEdit<'_>) {
        let map = MapType::HttpResponseHeaders;
        match edit {
            HeaderEdit::Set(name, value) => host::replace_header(map, name, value),
            HeaderEdit::Add(name, value) => host::add_header(map, name, value),
            HeaderEdit::Remove(name) => host::remove_header(map, name),
        };
    }

    fn set_verified_caller(&self, caller: VerifiedCaller) {
        if let Ok(mut slot) = self.caller.try_borrow_mut() {
            *slot = Some(Rc::new(caller));
        }
    }

    fn send_reply(&self, reply: &LocalReply) {
        let headers = crate::wire::encode_pairs(&reply.headers);
        host::send_local_response(
            u32::from(reply.status),
            &reply.details,
            &reply.body,
            &headers,
        );
    }
}
