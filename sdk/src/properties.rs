//! Envoy's attributes as the SDK's [`Host`](crate::Host) reads them.
//!
//! The host has no value for some attributes (for example no peer certificate on a
//! plaintext connection). Envoy encodes strings as raw bytes, integers as 8-byte
//! little-endian, booleans as one byte and durations as 8-byte little-endian nanoseconds;
//! [`crate::Host::string`], [`crate::Host::int`] and [`crate::Host::bool`] decode them.
//!
//! The attributes of the connection (`source.*`, `destination.*`, `connection.*` but for
//! `connection.termination_details` and `connection.transport_failure_reason`) do not
//! change while a request is served, and reading one from Envoy costs about as much as a
//! small filter's whole work. During a request's callbacks the SDK keeps every one read,
//! so each is read from the host at most once per request, whichever filters of a chain
//! and callbacks ask for it.

use crate::host;
use std::cell::RefCell;
use std::rc::Rc;

/// The connection attributes read so far during one request, by encoded path.
#[derive(Debug, Default)]
pub(crate) struct ConnectionAttributes {
    /// Each attribute's encoded path, and its value (`None`: the host has none).
    read: Vec<(Vec<u8>, Option<Shared>)>,
}

/// Bytes shared without copying.
type Shared = Rc<[u8]>;

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

/// Whether `encoded` is `path` encoded (see [`crate::wire::encode_property_path`]).
fn is_encoded(encoded: &[u8], path: &[&str]) -> bool {
    let mut rest = encoded;
    for (index, segment) in path.iter().enumerate() {
        if index > 0 {
            match rest.split_first() {
                Some((0, after)) => rest = after,
                _ => return false,
            }
        }
        match rest.strip_prefix(segment.as_bytes()) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

/// The raw bytes of an attribute: from the current request's kept connection attributes,
/// or from the host (and then kept, if it is one). No copy when kept.
pub(crate) fn value(path: &[&str]) -> Option<Rc<[u8]>> {
    if !of_connection(path) {
        return host::property(path).map(Rc::from);
    }
    let kept = CURRENT.with(|current| {
        let current = current.try_borrow().ok()?;
        let attributes = current.as_ref()?;
        let (_, value) = attributes
            .read
            .iter()
            .find(|(read, _)| is_encoded(read, path))?;
        Some(value.clone())
    });
    if let Some(value) = kept {
        return value;
    }
    let key = crate::wire::encode_property_path(path);
    let value: Option<Rc<[u8]>> = host::property_at(&key).map(Rc::from);
    CURRENT.with(|current| {
        if let Ok(mut current) = current.try_borrow_mut() {
            if let Some(attributes) = current.as_mut() {
                attributes.read.push((key, value.clone()));
            }
        }
    });
    value
}

/// An integer as Envoy encodes it (8 bytes little-endian).
pub(crate) fn decode_int(bytes: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// A boolean as Envoy encodes it (one byte).
pub(crate) fn decode_bool(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0] => Some(false),
        [1] => Some(true),
        _ => None,
    }
}

/// Several attributes read with one host call.
///
/// Each attribute read with `proxy_get_property` costs Envoy about 11 000 instructions;
/// most of that is per call, not per attribute. A batch asks Envoy once, through its CEL
/// foreign functions: the list of attributes is compiled into one expression on first use
/// (`expr_create`, once per VM) and every [`AttributeBatch::read`] evaluates it
/// (`expr_evaluate`): about 18 600 instructions for the first attribute and 2 700 for each
/// further one (BENCHMARKS.md). A host without those functions, or an evaluation that
/// fails (an attribute Envoy has no value for, such as `response.code` of a stream reset
/// before any response), falls back to one property read per attribute, so the values are
/// the same either way.
#[derive(Debug)]
pub struct AttributeBatch {
    paths: &'static [&'static [&'static str]],
    expression: std::cell::Cell<Expression>,
}

/// The state of a batch's compiled expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expression {
    NotCreated,
    Created(u32),
    Refused,
}

/// The values of one [`AttributeBatch::read`], by position in the batch; encoded as
/// [`crate::Host::string`], [`crate::Host::int`] and [`crate::Host::bool`] read them (strings as bytes, integers as 8 bytes little-endian,
/// booleans as one byte).
#[derive(Debug, Default)]
pub struct AttributeValues {
    /// Entry `i`'s name holds attribute `i`'s bytes (the CEL list comes back in the
    /// header-map wire format, decoded in place).
    values: crate::HeaderMap,
    /// Bit `i` set: attribute `i` has no value.
    missing: u64,
}

impl AttributeBatch {
    /// A batch of these attribute paths (at most 64), e.g.
    /// `&[&["response", "code"], &["connection", "mtls"]]`.
    pub const fn new(paths: &'static [&'static [&'static str]]) -> Self {
        Self {
            paths,
            expression: std::cell::Cell::new(Expression::NotCreated),
        }
    }

    /// The CEL text of the batch: `[response.code, connection.mtls]`.
    fn text(&self) -> String {
        let mut text = String::from("[");
        for (index, path) in self.paths.iter().enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            text.push_str(&path.join("."));
        }
        text.push(']');
        text
    }

    /// The token of the compiled expression, creating it on first use.
    fn token(&self) -> Option<u32> {
        if self.expression.get() == Expression::NotCreated {
            let created = host::foreign_function("expr_create", self.text().as_bytes())
                .and_then(|bytes| <[u8; 4]>::try_from(bytes.as_slice()).ok())
                .map(u32::from_le_bytes);
            self.expression
                .set(created.map_or(Expression::Refused, Expression::Created));
        }
        match self.expression.get() {
            Expression::Created(token) => Some(token),
            Expression::NotCreated | Expression::Refused => None,
        }
    }

    /// Reads every attribute of the batch: one host call, or one per attribute when the
    /// host cannot evaluate the batch.
    pub fn read(&self) -> AttributeValues {
        if let Some(token) = self.token() {
            let evaluated = host::foreign_function("expr_evaluate", &token.to_le_bytes())
                .and_then(crate::HeaderMap::from_wire)
                .filter(|values| values.len() == self.paths.len());
            if let Some(values) = evaluated {
                return AttributeValues { values, missing: 0 };
            }
        }
        let mut values = AttributeValues::default();
        for (index, path) in self.paths.iter().enumerate() {
            match value(path) {
                Some(bytes) => values.values.push(&bytes, b""),
                None => {
                    values.values.push(b"", b"");
                    values.missing |= 1u64.checked_shl(index as u32).unwrap_or(0);
                }
            }
        }
        values
    }
}

impl AttributeValues {
    /// The raw bytes of attribute `index`, if it has a value.
    pub fn bytes(&self, index: usize) -> Option<&[u8]> {
        let missing = self.missing & 1u64.checked_shl(index as u32).unwrap_or(0) != 0;
        if missing {
            return None;
        }
        self.values.iter().nth(index).map(|(bytes, _)| bytes)
    }

    /// Attribute `index` as an integer (8 bytes little-endian).
    pub fn int(&self, index: usize) -> Option<i64> {
        decode_int(self.bytes(index)?)
    }

    /// Attribute `index` as a non-negative integer.
    pub fn uint(&self, index: usize) -> Option<u64> {
        self.int(index).and_then(|n| u64::try_from(n).ok())
    }

    /// Attribute `index` as a boolean (one byte).
    pub fn bool(&self, index: usize) -> Option<bool> {
        decode_bool(self.bytes(index)?)
    }
}
