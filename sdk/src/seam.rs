//! The one seam between a filter and Envoy.
//!
//! A filter's callbacks get a [`Host`]: everything the filter may learn from Envoy (the
//! request and response headers, the connection's facts, the verified caller, time,
//! randomness) and the metrics it records. What the filter decides comes back as an
//! [`Outcome`]: header edits, the caller it verified, a local reply. The SDK applies it
//! ([`Host::apply_to_request`], [`Host::apply_to_response`]), so a filter's request logic
//! is a plain function from the request and its facts to an outcome, tested without any
//! host.
//!
//! Inside Envoy the host is the SDK's binding to the proxy-wasm ABI; in tests,
//! `wasmesh-testing` drives the same binding through an emulator of Envoy's side.

use crate::headers::HeaderMap;
use crate::metrics::MetricKind;
use crate::properties::{AttributeBatch, AttributeValues};
use crate::reply::{Flow, LocalReply};
use std::borrow::Cow;
use std::rc::Rc;

/// One change to a header map. Header names are lowercase, as Envoy keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit<'a> {
    /// Replace every value of the header with this one (add it when absent).
    Set(&'a str, Cow<'a, [u8]>),
    /// Add one more value of the header.
    Add(&'a str, Cow<'a, [u8]>),
    /// Remove every value of the header.
    Remove(&'a str),
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

/// What a filter decided in one callback. The SDK applies it in this order: the edits,
/// then the verified caller, then the reply (which ends the request's way upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome<'a> {
    /// Changes to the headers of the callback: the request headers in the request
    /// callback, the response headers in the response callback.
    pub edits: Vec<HeaderEdit<'a>>,
    /// The caller this filter verified, for the filters after it in the module.
    pub caller: Option<VerifiedCaller>,
    /// Answer the client with this instead of forwarding.
    pub reply: Option<LocalReply>,
}

impl<'a> Outcome<'a> {
    /// Let the request (or response) go on unchanged.
    pub fn proceed() -> Self {
        Self::default()
    }

    /// Answer with `reply`.
    pub fn reply(reply: LocalReply) -> Self {
        Self {
            reply: Some(reply),
            ..Self::default()
        }
    }

    /// Go on with these header edits.
    pub fn edit(edits: Vec<HeaderEdit<'a>>) -> Self {
        Self {
            edits,
            ..Self::default()
        }
    }
}

/// Whether, and how, the request changed since Envoy chose its route (see
/// [`Host::rerouted`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rerouted {
    /// Unchanged.
    #[default]
    No,
    /// Only its `:path`.
    Path,
    /// Its `:authority`, `host` or `:method`, maybe its path too.
    Other,
}

/// A change to a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricChange {
    /// Add to a counter or gauge.
    Add(i64),
    /// Set a gauge, or record one histogram sample.
    Record(u64),
}

/// What a filter can learn from Envoy and record in it, for the request being served.
///
/// Reads return what the host has now; the SDK's binding reads the request headers once
/// per request and each connection attribute at most once per request, whichever
/// filters of a chain ask. Header names are lowercase.
pub trait Host {
    /// All request headers, pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`)
    /// included, every value of repeated headers kept, as the request stands after the
    /// filters before this one in the module.
    fn request_headers(&self) -> Rc<HeaderMap>;

    /// All response headers (`:status` included), every value kept.
    fn response_headers(&self) -> HeaderMap;

    /// All response trailers (e.g. `grpc-status`), in the trailers callback.
    fn response_trailers(&self) -> HeaderMap;

    /// The raw bytes of an Envoy attribute (e.g. `["connection", "mtls"]`); `None` when the
    /// host has no value. Strings are raw bytes, integers 8 bytes little-endian, booleans
    /// one byte, durations 8 bytes little-endian nanoseconds.
    fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>>;

    /// Every attribute of `batch`, read together (one host call in Envoy).
    fn attributes(&self, batch: &AttributeBatch) -> AttributeValues;

    /// How a filter before this one in the module changed what Envoy chose the request's
    /// route by (`:path`, `:authority`, `host`, `:method`): Envoy's route and virtual host
    /// names (`xds.route_name`, `xds.virtual_host_name`) still name the route chosen before
    /// the change, and Envoy routes the request again after the filters.
    fn rerouted(&self) -> Rerouted {
        Rerouted::No
    }

    /// The caller a filter before this one in the module verified, if any.
    fn verified_caller(&self) -> Option<Rc<VerifiedCaller>>;

    /// The host's wall-clock time, in nanoseconds since the Unix epoch (0 if unknown).
    fn now_nanos(&self) -> u64;

    /// Fills `out` with random bytes (for ids, not for secrets).
    fn random_bytes(&self, out: &mut [u8]);

    /// Defines (or finds) the stat named `name`; its id, or `None` when the host refuses.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32>;

    /// Changes the stat `id`.
    fn change_metric(&self, id: u32, change: MetricChange);

    /// The value of counter or gauge `id`.
    fn metric_value(&self, id: u32) -> Option<u64>;

    /// Makes one change to the request headers.
    fn edit_request(&self, edit: &HeaderEdit<'_>);

    /// Makes one change to the response headers.
    fn edit_response(&self, edit: &HeaderEdit<'_>);

    /// Hands on the caller a filter verified, for the filters after it in the module.
    fn set_verified_caller(&self, caller: VerifiedCaller);

    /// Sends `reply` to the client instead of forwarding the request.
    fn send_reply(&self, reply: &LocalReply);

    /// Applies a request callback's outcome: its edits to the request headers, its
    /// verified caller, its reply.
    fn apply_to_request(&self, outcome: Outcome<'_>) -> Flow {
        for edit in &outcome.edits {
            self.edit_request(edit);
        }
        hand_on(self, outcome)
    }

    /// Applies a response callback's outcome: its edits to the response headers, its
    /// reply.
    fn apply_to_response(&self, outcome: Outcome<'_>) -> Flow {
        for edit in &outcome.edits {
            self.edit_response(edit);
        }
        hand_on(self, outcome)
    }

    /// A string attribute; bytes that are not UTF-8 are replaced, never unwrapped.
    fn string(&self, path: &[&str]) -> Option<String> {
        self.attribute(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// An integer attribute.
    fn int(&self, path: &[&str]) -> Option<i64> {
        crate::properties::decode_int(&self.attribute(path)?)
    }

    /// A boolean attribute.
    fn bool(&self, path: &[&str]) -> Option<bool> {
        crate::properties::decode_bool(&self.attribute(path)?)
    }

    /// Whether the downstream connection is mutual TLS (`connection.mtls`).
    fn mtls(&self) -> bool {
        self.bool(&["connection", "mtls"]) == Some(true)
    }

    /// The first URI SAN of the peer certificate Envoy verified
    /// (`connection.uri_san_peer_certificate`).
    fn peer_uri_san(&self) -> Option<String> {
        self.string(&["connection", "uri_san_peer_certificate"])
            .filter(|san| !san.is_empty())
    }
}

/// Hands on the verified caller of an outcome whose edits are made, and turns its reply
/// into the [`Flow`].
fn hand_on<H: Host + ?Sized>(host: &H, outcome: Outcome<'_>) -> Flow {
    if let Some(caller) = outcome.caller {
        host.set_verified_caller(caller);
    }
    match outcome.reply {
        Some(reply) => Flow::Reply(reply),
        None => Flow::Continue,
    }
}
