//! B3 propagation (openzipkin/b3-propagation): the single `b3` header and the multiple
//! `x-b3-*` headers.
//!
//! Extraction:
//!
//! - single: `{traceid}-{spanid}`, `{traceid}-{spanid}-{sampling}`,
//!   `{traceid}-{spanid}-{sampling}-{parentspanid}`, or only a sampling state `0`, `1`, `d`;
//! - multi: `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled` (`1`, `0`,
//!   and the older `true`, `false`, in any case), `x-b3-flags` (`1` is debug, `0` nothing);
//! - the single header takes precedence; the multi headers are used when it is absent or
//!   invalid;
//! - a B3 header with more than one value is invalid;
//! - trace ids are 32 or 16 hex digits (a 64-bit id gets 8 leading zero bytes), span ids 16;
//!   hex digits are accepted in either case (the specification writes lowercase, which is
//!   what is sent); all-zero trace or span ids are invalid, and an all-zero parent span id
//!   is treated as absent;
//! - debug (`d`, `x-b3-flags: 1`) implies sampled and wins over `x-b3-sampled`.
//!
//! Injection writes lowercase hex, a trace id whose upper 8 bytes are zero as 16 digits
//! (its 64-bit form), and a parent span id only when the [`B3`] value carries one: the
//! caller decides.

use std::fmt;

use super::context::{Sampling, SpanContext};
use super::ids::{decode_hex, HexCase, SpanId, TraceId};
use super::traceparent::TraceParent;
use super::value::{HeaderValue, Writer};
use super::{single_value, SingleValue};

/// The single header name.
pub const B3_SINGLE: &str = "b3";
/// The multi header carrying the trace id.
pub const X_B3_TRACE_ID: &str = "x-b3-traceid";
/// The multi header carrying the span id.
pub const X_B3_SPAN_ID: &str = "x-b3-spanid";
/// The multi header carrying the parent span id.
pub const X_B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// The multi header carrying the sampling decision.
pub const X_B3_SAMPLED: &str = "x-b3-sampled";
/// The multi header carrying the debug flag.
pub const X_B3_FLAGS: &str = "x-b3-flags";

/// What a set of B3 headers carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum B3 {
    /// Identifiers and a sampling decision.
    Context {
        /// Trace id, span id and sampling.
        context: SpanContext,
        /// The parent span id, when known. Sent only when present here.
        parent_span_id: Option<SpanId>,
    },
    /// Only a sampling decision, without identifiers (for example `b3: 0`).
    SamplingOnly(Sampling),
}

/// All the values of each multi header, as received. Header names are matched
/// case-insensitively by the caller; an absent header is an empty slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct B3MultiValues<'a> {
    /// Values of `x-b3-traceid`.
    pub trace_id: &'a [&'a [u8]],
    /// Values of `x-b3-spanid`.
    pub span_id: &'a [&'a [u8]],
    /// Values of `x-b3-parentspanid`.
    pub parent_span_id: &'a [&'a [u8]],
    /// Values of `x-b3-sampled`.
    pub sampled: &'a [&'a [u8]],
    /// Values of `x-b3-flags`.
    pub flags: &'a [&'a [u8]],
}

/// Why B3 headers were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum B3Error {
    /// No B3 header at all (a lone `x-b3-flags: 0` counts as none).
    Missing,
    /// The named header has more than one value.
    Repeated(&'static str),
    /// The single header does not have 1 to 4 `-`-separated fields.
    Malformed,
    /// The trace id is not 16 or 32 hex digits, or is zero.
    InvalidTraceId,
    /// The span id is not 16 hex digits, or is zero.
    InvalidSpanId,
    /// The parent span id is not 16 hex digits.
    InvalidParentSpanId,
    /// The sampling state is not one of the accepted values.
    InvalidSampling,
    /// `x-b3-flags` is neither `0` nor `1`.
    InvalidFlags,
    /// Multi headers with a span id (or parent span id) but no trace id.
    MissingTraceId,
    /// Multi headers with a trace id but no span id.
    MissingSpanId,
}

impl fmt::Display for B3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no b3 headers"),
            Self::Repeated(name) => write!(f, "{name} header repeated"),
            Self::Malformed => f.write_str("b3 header does not have 1 to 4 fields"),
            Self::InvalidTraceId => f.write_str("b3 trace id is not 16 or 32 hex digits, or zero"),
            Self::InvalidSpanId => f.write_str("b3 span id is not 16 hex digits, or zero"),
            Self::InvalidParentSpanId => f.write_str("b3 parent span id is not 16 hex digits"),
            Self::InvalidSampling => f.write_str("b3 sampling state is not valid"),
            Self::InvalidFlags => f.write_str("x-b3-flags is neither 0 nor 1"),
            Self::MissingTraceId => f.write_str("b3 span id without trace id"),
            Self::MissingSpanId => f.write_str("b3 trace id without span id"),
        }
    }
}

impl std::error::Error for B3Error {}

impl B3 {
    /// Extracts B3 from the single header values and the multi header values. The single
    /// header wins when it is valid; otherwise the multi headers are used, and when they
    /// are absent or invalid too, the single header's error is returned.
    pub fn extract(single: &[&[u8]], multi: &B3MultiValues<'_>) -> Result<Self, B3Error> {
        match Self::extract_single(single) {
            Ok(b3) => Ok(b3),
            Err(B3Error::Missing) => Self::extract_multi(multi),
            Err(single_error) => Self::extract_multi(multi).map_err(|_| single_error),
        }
    }

    /// Extracts B3 from the values of the single `b3` header.
    pub fn extract_single(values: &[&[u8]]) -> Result<Self, B3Error> {
        let value = match single_value(values) {
            SingleValue::Missing => return Err(B3Error::Missing),
            SingleValue::Repeated => return Err(B3Error::Repeated(B3_SINGLE)),
            SingleValue::One(value) => value,
        };
        let mut fields = value.split(|b| *b == b'-');
        let first = fields.next().unwrap_or_default();
        let Some(span_id) = fields.next() else {
            return match single_sampling(first) {
                Some(sampling) => Ok(Self::SamplingOnly(sampling)),
                None if first.len() == 1 => Err(B3Error::InvalidSampling),
                None => Err(B3Error::Malformed),
            };
        };
        let sampling = fields.next();
        let parent_span_id = fields.next();
        if fields.next().is_some() {
            return Err(B3Error::Malformed);
        }
        let context = SpanContext {
            trace_id: parse_trace_id(first)?,
            span_id: parse_span_id(span_id)?,
            sampling: match sampling {
                None => Sampling::Deferred,
                Some(field) => single_sampling(field).ok_or(B3Error::InvalidSampling)?,
            },
        };
        let parent_span_id = parent_span_id.map(parse_parent_span_id).transpose()?;
        Ok(Self::Context {
            context,
            parent_span_id: parent_span_id.flatten(),
        })
    }

    /// Extracts B3 from the multi `x-b3-*` headers.
    pub fn extract_multi(multi: &B3MultiValues<'_>) -> Result<Self, B3Error> {
        let trace_id = one_value(multi.trace_id, X_B3_TRACE_ID)?;
        let span_id = one_value(multi.span_id, X_B3_SPAN_ID)?;
        let parent_span_id = one_value(multi.parent_span_id, X_B3_PARENT_SPAN_ID)?;
        let sampled = one_value(multi.sampled, X_B3_SAMPLED)?;
        let flags = one_value(multi.flags, X_B3_FLAGS)?;

        let debug = match flags {
            None | Some(b"0") => false,
            Some(b"1") => true,
            Some(_) => return Err(B3Error::InvalidFlags),
        };
        let sampled = sampled.map(multi_sampled).transpose()?;
        let sampling = match (debug, sampled) {
            (true, _) => Sampling::Debug,
            (false, Some(sampled)) => Sampling::from_sampled_flag(sampled),
            (false, None) => Sampling::Deferred,
        };
        match (trace_id, span_id) {
            (Some(trace_id), Some(span_id)) => {
                let context = SpanContext {
                    trace_id: parse_trace_id(trace_id)?,
                    span_id: parse_span_id(span_id)?,
                    sampling,
                };
                let parent_span_id = parent_span_id.map(parse_parent_span_id).transpose()?;
                Ok(Self::Context {
                    context,
                    parent_span_id: parent_span_id.flatten(),
                })
            }
            (Some(_), None) => Err(B3Error::MissingSpanId),
            (None, Some(_)) => Err(B3Error::MissingTraceId),
            (None, None) if parent_span_id.is_some() => Err(B3Error::MissingTraceId),
            (None, None) if sampling == Sampling::Deferred => Err(B3Error::Missing),
            (None, None) => Ok(Self::SamplingOnly(sampling)),
        }
    }

    /// The sampling decision carried.
    pub fn sampling(&self) -> Sampling {
        match self {
            Self::Context { context, .. } => context.sampling,
            Self::SamplingOnly(sampling) => *sampling,
        }
    }

    /// The span context carried, if any.
    pub fn span_context(&self) -> Option<&SpanContext> {
        match self {
            Self::Context { context, .. } => Some(context),
            Self::SamplingOnly(_) => None,
        }
    }

    /// The `b3` header value, or `None` for a deferred decision without identifiers (there
    /// is nothing to send). A parent span id is written only with a sampling state, as the
    /// format requires; with a deferred decision it is left out.
    pub fn to_single_header(&self) -> Option<String> {
        self.to_single_value()
            .map(|value| value.as_str().to_owned())
    }

    /// [`B3::to_single_header`] in a fixed buffer, without allocating.
    pub fn to_single_value(&self) -> Option<HeaderValue> {
        if let Self::SamplingOnly(sampling) = self {
            single_sampling_str(*sampling)?;
        }
        Some(HeaderValue::written(&mut |out| self.write_single(out)))
    }

    /// Writes [`B3::to_single_header`] at the start of `out`, without allocating, and
    /// returns its length; `None` when there is nothing to send or `out` is shorter (at
    /// most [`HeaderValue::CAPACITY`] bytes are written).
    pub fn write_single_header(&self, out: &mut [u8]) -> Option<usize> {
        if let Self::SamplingOnly(sampling) = self {
            single_sampling_str(*sampling)?;
        }
        let mut writer = Writer::new(out);
        self.write_single(&mut writer);
        writer.finish()
    }

    /// Writes the `b3` value (nothing for a deferred decision without identifiers).
    fn write_single(&self, out: &mut Writer<'_>) {
        let (context, parent_span_id) = match self {
            Self::SamplingOnly(sampling) => {
                if let Some(sampling) = single_sampling_str(*sampling) {
                    out.push(sampling);
                }
                return;
            }
            Self::Context {
                context,
                parent_span_id,
            } => (context, parent_span_id),
        };
        push_trace_id(&context.trace_id, out);
        out.push(b"-");
        out.push_hex(&context.span_id.0);
        if let Some(sampling) = single_sampling_str(context.sampling) {
            out.push(b"-");
            out.push(sampling);
            if let Some(parent) = parent_span_id {
                out.push(b"-");
                out.push_hex(&parent.0);
            }
        }
    }

    /// The multi headers as `(lowercase name, value)` pairs. Debug is sent as
    /// `x-b3-flags: 1` without `x-b3-sampled`; a deferred decision sends neither.
    pub fn to_multi_headers(&self) -> Vec<(&'static str, String)> {
        self.to_multi_values()
            .map(|(name, value)| (name, value.as_str().to_owned()))
            .collect()
    }

    /// [`B3::to_multi_headers`] in fixed buffers, without allocating; each value is made
    /// when the iterator gets to it.
    pub fn to_multi_values(&self) -> impl Iterator<Item = (&'static str, HeaderValue)> {
        let b3 = *self;
        let mut next = 0u8;
        std::iter::from_fn(move || loop {
            let field = next;
            next = next.saturating_add(1);
            let mut name = None;
            let value = HeaderValue::written(&mut |out| name = b3.write_multi(field, out));
            match name {
                Some(name) => return Some((name, value)),
                None if field < 3 => continue,
                None => return None,
            }
        })
    }

    /// Writes the value of multi header number `field` (trace id, span id, parent span id,
    /// sampling) and returns its name; `None` when it is not sent.
    fn write_multi(&self, field: u8, out: &mut Writer<'_>) -> Option<&'static str> {
        let (context, parent_span_id) = match self {
            Self::Context {
                context,
                parent_span_id,
            } => (Some(context), parent_span_id.as_ref()),
            Self::SamplingOnly(_) => (None, None),
        };
        match (field, context, parent_span_id, self.sampling()) {
            (0, Some(context), _, _) => {
                push_trace_id(&context.trace_id, out);
                Some(X_B3_TRACE_ID)
            }
            (1, Some(context), _, _) => {
                out.push_hex(&context.span_id.0);
                Some(X_B3_SPAN_ID)
            }
            (2, _, Some(parent), _) => {
                out.push_hex(&parent.0);
                Some(X_B3_PARENT_SPAN_ID)
            }
            (3, _, _, Sampling::Sampled) => {
                out.push(b"1");
                Some(X_B3_SAMPLED)
            }
            (3, _, _, Sampling::NotSampled) => {
                out.push(b"0");
                Some(X_B3_SAMPLED)
            }
            (3, _, _, Sampling::Debug) => {
                out.push(b"1");
                Some(X_B3_FLAGS)
            }
            _ => None,
        }
    }

    /// B3 for a W3C `traceparent`: same ids, `sampled` flag as sampled / not sampled, no
    /// parent span id (W3C does not carry one).
    pub fn from_traceparent(traceparent: &TraceParent) -> Self {
        Self::Context {
            context: traceparent.to_span_context(),
            parent_span_id: None,
        }
    }

    /// The W3C `traceparent` for this B3 context, or `None` without identifiers. Debug
    /// becomes sampled, deferred becomes not sampled, and the random-trace-id flag is unset
    /// (B3 does not say how its trace id was generated).
    pub fn to_traceparent(&self) -> Option<TraceParent> {
        self.span_context()
            .map(|context| TraceParent::from_span_context(context, false))
    }
}

/// The one value of a multi header, `None` when absent.
fn one_value<'a>(values: &[&'a [u8]], name: &'static str) -> Result<Option<&'a [u8]>, B3Error> {
    match single_value(values) {
        SingleValue::Missing => Ok(None),
        SingleValue::One(value) => Ok(Some(value)),
        SingleValue::Repeated => Err(B3Error::Repeated(name)),
    }
}

/// A 32 or 16 hex digit trace id, not zero.
fn parse_trace_id(hex: &[u8]) -> Result<TraceId, B3Error> {
    let trace_id = match hex.len() {
        32 => decode_hex::<16>(hex, HexCase::Any).map(TraceId),
        16 => decode_hex::<8>(hex, HexCase::Any).map(|low| {
            let mut bytes = [0u8; 16];
            for (dst, src) in bytes.iter_mut().skip(8).zip(low) {
                *dst = src;
            }
            TraceId(bytes)
        }),
        _ => None,
    };
    trace_id
        .filter(|id| !id.is_zero())
        .ok_or(B3Error::InvalidTraceId)
}

/// A 16 hex digit span id, not zero.
fn parse_span_id(hex: &[u8]) -> Result<SpanId, B3Error> {
    decode_hex(hex, HexCase::Any)
        .map(SpanId)
        .filter(|id| !id.is_zero())
        .ok_or(B3Error::InvalidSpanId)
}

/// A 16 hex digit parent span id; zero means absent.
fn parse_parent_span_id(hex: &[u8]) -> Result<Option<SpanId>, B3Error> {
    decode_hex(hex, HexCase::Any)
        .map(SpanId)
        .map(|id| (!id.is_zero()).then_some(id))
        .ok_or(B3Error::InvalidParentSpanId)
}

/// A single-header sampling state: `0`, `1` or `d`.
fn single_sampling(field: &[u8]) -> Option<Sampling> {
    match field {
        b"0" => Some(Sampling::NotSampled),
        b"1" => Some(Sampling::Sampled),
        b"d" => Some(Sampling::Debug),
        _ => None,
    }
}

/// The single-header sampling state for `sampling`; `None` when deferred.
fn single_sampling_str(sampling: Sampling) -> Option<&'static [u8; 1]> {
    match sampling {
        Sampling::NotSampled => Some(b"0"),
        Sampling::Sampled => Some(b"1"),
        Sampling::Debug => Some(b"d"),
        Sampling::Deferred => None,
    }
}

/// An `x-b3-sampled` value: `1` / `true` or `0` / `false` (the words in any case).
fn multi_sampled(value: &[u8]) -> Result<bool, B3Error> {
    if value == b"1" || value.eq_ignore_ascii_case(b"true") {
        Ok(true)
    } else if value == b"0" || value.eq_ignore_ascii_case(b"false") {
        Ok(false)
    } else {
        Err(B3Error::InvalidSampling)
    }
}

/// Writes a trace id as 16 hex digits when its upper 8 bytes are zero, else 32.
fn push_trace_id(trace_id: &TraceId, out: &mut Writer<'_>) {
    let (high, low) = trace_id.0.split_at(8);
    if high.iter().any(|b| *b != 0) {
        out.push_hex(high);
    }
    out.push_hex(low);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const TRACE_128: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const TRACE_64: &str = "64fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    fn trace_id(hex: &str) -> TraceId {
        parse_trace_id(hex.as_bytes()).unwrap()
    }

    fn span_id(hex: &str) -> SpanId {
        parse_span_id(hex.as_bytes()).unwrap()
    }

    fn context(trace: &str, sampling: Sampling, parent: Option<&str>) -> B3 {
        B3::Context {
            context: SpanContext {
                trace_id: trace_id(trace),
                span_id: span_id(SPAN),
                sampling,
            },
            parent_span_id: parent.map(span_id),
        }
    }

    fn single(value: &str) -> Result<B3, B3Error> {
        B3::extract_single(&[value.as_bytes()])
    }

    #[test]
    fn single_with_ids_only_is_deferred() {
        let b3 = single(&format!("{TRACE_128}-{SPAN}")).unwrap();
        assert_eq!(b3, context(TRACE_128, Sampling::Deferred, None));
        assert_eq!(
            b3.to_single_header().unwrap(),
            format!("{TRACE_128}-{SPAN}")
        );
    }

    #[test]
    fn single_with_sampling_states() {
        for (state, sampling) in [
            ("1", Sampling::Sampled),
            ("0", Sampling::NotSampled),
            ("d", Sampling::Debug),
        ] {
            let value = format!("{TRACE_128}-{SPAN}-{state}");
            let b3 = single(&value).unwrap();
            assert_eq!(b3, context(TRACE_128, sampling, None));
            assert_eq!(b3.to_single_header().unwrap(), value);
        }
        assert_eq!(
            single(&format!("{TRACE_128}-{SPAN}-2")),
            Err(B3Error::InvalidSampling)
        );
        assert_eq!(
            single(&format!("{TRACE_128}-{SPAN}-")),
            Err(B3Error::InvalidSampling)
        );
        assert_eq!(
            single(&format!("{TRACE_128}-{SPAN}-true")),
            Err(B3Error::InvalidSampling)
        );
    }

    #[test]
    fn single_with_parent() {
        let value = format!("{TRACE_128}-{SPAN}-1-{PARENT}");
        let b3 = single(&value).unwrap();
        assert_eq!(b3, context(TRACE_128, Sampling::Sampled, Some(PARENT)));
        assert_eq!(b3.to_single_header().unwrap(), value);
        let zero_parent = format!("{TRACE_128}-{SPAN}-1-{}", "0".repeat(16));
        assert_eq!(
            single(&zero_parent).unwrap(),
            context(TRACE_128, Sampling::Sampled, None)
        );
        let bad_parent = format!("{TRACE_128}-{SPAN}-1-{}", &PARENT[1..]);
        assert_eq!(single(&bad_parent), Err(B3Error::InvalidParentSpanId));
        let five_fields = format!("{TRACE_128}-{SPAN}-1-{PARENT}-x");
        assert_eq!(single(&five_fields), Err(B3Error::Malformed));
    }

    #[test]
    fn single_64_bit_trace_id_is_padded_and_sent_back_as_64_bit() {
        let b3 = single(&format!("{TRACE_64}-{SPAN}-1")).unwrap();
        let B3::Context { context, .. } = b3 else {
            unreachable!("identifiers expected")
        };
        assert_eq!(
            context.trace_id.to_string(),
            format!("{}{TRACE_64}", "0".repeat(16))
        );
        assert_eq!(
            b3.to_single_header().unwrap(),
            format!("{TRACE_64}-{SPAN}-1")
        );
    }

    #[test]
    fn single_sampling_only() {
        assert_eq!(single("0"), Ok(B3::SamplingOnly(Sampling::NotSampled)));
        assert_eq!(single("1"), Ok(B3::SamplingOnly(Sampling::Sampled)));
        assert_eq!(single(" d "), Ok(B3::SamplingOnly(Sampling::Debug)));
        assert_eq!(single("2"), Err(B3Error::InvalidSampling));
        assert_eq!(single(""), Err(B3Error::Malformed));
        assert_eq!(single(TRACE_128), Err(B3Error::Malformed));
        assert_eq!(
            B3::SamplingOnly(Sampling::Debug)
                .to_single_header()
                .unwrap(),
            "d"
        );
        assert_eq!(
            B3::SamplingOnly(Sampling::Deferred).to_single_header(),
            None
        );
    }

    #[test]
    fn single_invalid_ids() {
        assert_eq!(
            single(&format!("{}-{SPAN}", "0".repeat(32))),
            Err(B3Error::InvalidTraceId)
        );
        assert_eq!(
            single(&format!("{}-{SPAN}", &TRACE_128[2..])),
            Err(B3Error::InvalidTraceId)
        );
        assert_eq!(
            single(&format!("{TRACE_128}-{}", "0".repeat(16))),
            Err(B3Error::InvalidSpanId)
        );
        assert_eq!(
            single(&format!("{TRACE_128}-{SPAN}0")),
            Err(B3Error::InvalidSpanId)
        );
        assert_eq!(
            single(&format!("{TRACE_128}-xyz")),
            Err(B3Error::InvalidSpanId)
        );
        assert_eq!(
            B3::extract_single(&[b"80f198ee56343ba8\xc3\xa9-e457b5a2e4d86bd1"]),
            Err(B3Error::InvalidTraceId)
        );
    }

    #[test]
    fn uppercase_hex_is_accepted_and_sent_lowercase() {
        let value = format!("{}-{}-1", TRACE_128.to_uppercase(), SPAN.to_uppercase());
        let b3 = single(&value).unwrap();
        assert_eq!(b3, context(TRACE_128, Sampling::Sampled, None));
        assert_eq!(
            b3.to_single_header().unwrap(),
            format!("{TRACE_128}-{SPAN}-1")
        );
    }

    #[test]
    fn repeated_headers_are_invalid() {
        let value = format!("{TRACE_128}-{SPAN}-1");
        let values: [&[u8]; 2] = [value.as_bytes(), value.as_bytes()];
        assert_eq!(
            B3::extract_single(&values),
            Err(B3Error::Repeated(B3_SINGLE))
        );
        let trace: [&[u8]; 1] = [TRACE_128.as_bytes()];
        let spans: [&[u8]; 2] = [SPAN.as_bytes(), SPAN.as_bytes()];
        let multi = B3MultiValues {
            trace_id: &trace,
            span_id: &spans,
            ..Default::default()
        };
        assert_eq!(
            B3::extract_multi(&multi),
            Err(B3Error::Repeated(X_B3_SPAN_ID))
        );
    }

    #[test]
    fn multi_128_and_64_bit_with_parent_and_sampled() {
        for trace in [TRACE_128, TRACE_64] {
            let trace_values: [&[u8]; 1] = [trace.as_bytes()];
            let span: [&[u8]; 1] = [SPAN.as_bytes()];
            let parent: [&[u8]; 1] = [PARENT.as_bytes()];
            let sampled: [&[u8]; 1] = [b"1"];
            let multi = B3MultiValues {
                trace_id: &trace_values,
                span_id: &span,
                parent_span_id: &parent,
                sampled: &sampled,
                flags: &[],
            };
            let b3 = B3::extract_multi(&multi).unwrap();
            assert_eq!(b3, context(trace, Sampling::Sampled, Some(PARENT)));
            assert_eq!(
                b3.to_multi_headers(),
                [
                    (X_B3_TRACE_ID, trace.to_owned()),
                    (X_B3_SPAN_ID, SPAN.to_owned()),
                    (X_B3_PARENT_SPAN_ID, PARENT.to_owned()),
                    (X_B3_SAMPLED, "1".to_owned()),
                ]
            );
        }
    }

    #[test]
    fn multi_sampled_accepts_numbers_and_words() {
        let trace: [&[u8]; 1] = [TRACE_128.as_bytes()];
        let span: [&[u8]; 1] = [SPAN.as_bytes()];
        for (value, expected) in [
            (&b"1"[..], Ok(Sampling::Sampled)),
            (b"true", Ok(Sampling::Sampled)),
            (b"True", Ok(Sampling::Sampled)),
            (b"0", Ok(Sampling::NotSampled)),
            (b"false", Ok(Sampling::NotSampled)),
            (b"d", Err(B3Error::InvalidSampling)),
            (b"yes", Err(B3Error::InvalidSampling)),
        ] {
            let sampled = [value];
            let multi = B3MultiValues {
                trace_id: &trace,
                span_id: &span,
                sampled: &sampled,
                ..Default::default()
            };
            assert_eq!(B3::extract_multi(&multi).map(|b3| b3.sampling()), expected);
        }
    }

    #[test]
    fn multi_debug_flag_implies_sampled_and_wins() {
        let trace: [&[u8]; 1] = [TRACE_128.as_bytes()];
        let span: [&[u8]; 1] = [SPAN.as_bytes()];
        let flags: [&[u8]; 1] = [b"1"];
        let not_sampled: [&[u8]; 1] = [b"0"];
        let multi = B3MultiValues {
            trace_id: &trace,
            span_id: &span,
            sampled: &not_sampled,
            flags: &flags,
            ..Default::default()
        };
        let b3 = B3::extract_multi(&multi).unwrap();
        assert_eq!(b3.sampling(), Sampling::Debug);
        assert_eq!(b3.sampling().is_sampled(), Some(true));
        let headers = b3.to_multi_headers();
        assert!(headers.contains(&(X_B3_FLAGS, "1".to_owned())));
        assert!(headers.iter().all(|(name, _)| *name != X_B3_SAMPLED));

        let bad_flags: [&[u8]; 1] = [b"2"];
        let multi = B3MultiValues {
            flags: &bad_flags,
            ..multi
        };
        assert_eq!(B3::extract_multi(&multi), Err(B3Error::InvalidFlags));
    }

    #[test]
    fn multi_sampling_only_and_missing_ids() {
        let sampled: [&[u8]; 1] = [b"0"];
        let only_sampled = B3MultiValues {
            sampled: &sampled,
            ..Default::default()
        };
        let b3 = B3::extract_multi(&only_sampled).unwrap();
        assert_eq!(b3, B3::SamplingOnly(Sampling::NotSampled));
        assert_eq!(b3.to_multi_headers(), [(X_B3_SAMPLED, "0".to_owned())]);
        assert_eq!(b3.to_traceparent(), None);

        let flags: [&[u8]; 1] = [b"1"];
        let only_debug = B3MultiValues {
            flags: &flags,
            ..Default::default()
        };
        assert_eq!(
            B3::extract_multi(&only_debug),
            Ok(B3::SamplingOnly(Sampling::Debug))
        );

        let trace: [&[u8]; 1] = [TRACE_128.as_bytes()];
        let span: [&[u8]; 1] = [SPAN.as_bytes()];
        let no_span = B3MultiValues {
            trace_id: &trace,
            ..Default::default()
        };
        assert_eq!(B3::extract_multi(&no_span), Err(B3Error::MissingSpanId));
        let no_trace = B3MultiValues {
            span_id: &span,
            ..Default::default()
        };
        assert_eq!(B3::extract_multi(&no_trace), Err(B3Error::MissingTraceId));
        assert_eq!(
            B3::extract_multi(&B3MultiValues::default()),
            Err(B3Error::Missing)
        );
    }

    #[test]
    fn single_takes_precedence_over_multi() {
        let single_value = format!("{TRACE_128}-{SPAN}-0");
        let single_values: [&[u8]; 1] = [single_value.as_bytes()];
        let other_trace: [&[u8]; 1] = [b"0af7651916cd43dd8448eb211c80319c"];
        let other_span: [&[u8]; 1] = [b"b7ad6b7169203331"];
        let sampled: [&[u8]; 1] = [b"1"];
        let multi = B3MultiValues {
            trace_id: &other_trace,
            span_id: &other_span,
            sampled: &sampled,
            ..Default::default()
        };
        let b3 = B3::extract(&single_values, &multi).unwrap();
        assert_eq!(b3, context(TRACE_128, Sampling::NotSampled, None));

        // Without the single header, or with an invalid one, the multi headers are used.
        let from_multi = B3::extract(&[], &multi).unwrap();
        assert_eq!(
            from_multi.span_context().unwrap().span_id,
            span_id("b7ad6b7169203331")
        );
        let invalid: [&[u8]; 1] = [b"not-b3"];
        assert_eq!(B3::extract(&invalid, &multi), Ok(from_multi));
        // When both fail, the single header's error is reported.
        assert_eq!(
            B3::extract(&invalid, &B3MultiValues::default()),
            Err(B3Error::InvalidTraceId)
        );
        assert_eq!(
            B3::extract(&[], &B3MultiValues::default()),
            Err(B3Error::Missing)
        );
    }

    #[test]
    fn parent_is_sent_only_when_given_and_only_with_a_sampling_state() {
        let without = context(TRACE_128, Sampling::Sampled, None);
        assert_eq!(
            without.to_single_header().unwrap(),
            format!("{TRACE_128}-{SPAN}-1")
        );
        assert!(without
            .to_multi_headers()
            .iter()
            .all(|(name, _)| *name != X_B3_PARENT_SPAN_ID));
        let deferred = context(TRACE_128, Sampling::Deferred, Some(PARENT));
        assert_eq!(
            deferred.to_single_header().unwrap(),
            format!("{TRACE_128}-{SPAN}")
        );
        assert_eq!(
            deferred.to_multi_headers(),
            [
                (X_B3_TRACE_ID, TRACE_128.to_owned()),
                (X_B3_SPAN_ID, SPAN.to_owned()),
                (X_B3_PARENT_SPAN_ID, PARENT.to_owned()),
            ]
        );
    }

    #[test]
    fn converts_w3c_to_b3() {
        let value = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traceparent = TraceParent::parse(&[value]).unwrap();
        let b3 = B3::from_traceparent(&traceparent);
        assert_eq!(
            b3.to_single_header().unwrap(),
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"
        );
        let unsampled = TraceParent {
            sampled: false,
            ..traceparent
        };
        assert_eq!(
            B3::from_traceparent(&unsampled).sampling(),
            Sampling::NotSampled
        );
    }

    #[test]
    fn converts_b3_to_w3c() {
        let b3 = single(&format!("{TRACE_64}-{SPAN}-d-{PARENT}")).unwrap();
        let traceparent = b3.to_traceparent().unwrap();
        assert_eq!(
            traceparent.to_header(),
            format!("00-0000000000000000{TRACE_64}-{SPAN}-01")
        );
        assert!(!traceparent.random);
        let deferred = single(&format!("{TRACE_128}-{SPAN}")).unwrap();
        assert_eq!(
            deferred.to_traceparent().unwrap().to_header(),
            format!("00-{TRACE_128}-{SPAN}-00")
        );
        // And back: the W3C parent-id is the B3 span id.
        let back = B3::from_traceparent(&traceparent);
        assert_eq!(
            back.to_single_header().unwrap(),
            format!("{TRACE_64}-{SPAN}-1")
        );
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(
            B3Error::Repeated(X_B3_FLAGS).to_string(),
            "x-b3-flags header repeated"
        );
    }

    #[test]
    fn written_values_are_the_headers_and_too_short_buffers_are_refused() {
        let mut buffer = [0u8; 80];
        for b3 in [
            context(TRACE_128, Sampling::Debug, Some(PARENT)),
            context(TRACE_64, Sampling::Deferred, None),
            B3::SamplingOnly(Sampling::NotSampled),
        ] {
            let expected = b3.to_single_header().unwrap();
            let len = b3.write_single_header(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], expected.as_bytes());
            assert_eq!(b3.write_single_header(&mut buffer[..len - 1]), None);
        }
        let deferred = B3::SamplingOnly(Sampling::Deferred);
        assert_eq!(deferred.write_single_header(&mut buffer), None);
    }

    #[test]
    fn fixed_buffer_values_are_the_headers() {
        let longest = context(TRACE_128, Sampling::Debug, Some(PARENT));
        let single = longest.to_single_value().unwrap();
        assert_eq!(single, format!("{TRACE_128}-{SPAN}-d-{PARENT}").as_str());
        assert_eq!(single.len(), HeaderValue::CAPACITY);
        for b3 in [
            longest,
            context(TRACE_64, Sampling::NotSampled, None),
            context(TRACE_128, Sampling::Deferred, Some(PARENT)),
            B3::SamplingOnly(Sampling::Sampled),
            B3::SamplingOnly(Sampling::Deferred),
        ] {
            assert_eq!(
                b3.to_single_value().map(|v| v.to_string()),
                b3.to_single_header()
            );
            let multi: Vec<(&str, String)> = b3
                .to_multi_values()
                .map(|(name, value)| (name, value.to_string()))
                .collect();
            assert_eq!(multi, b3.to_multi_headers());
            let mut exhausted = b3.to_multi_values().skip(4);
            assert!((0..300).all(|_| exhausted.next().is_none()));
        }
        assert_eq!(
            context(TRACE_64, Sampling::Sampled, Some(PARENT))
                .to_multi_values()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect::<Vec<_>>(),
            [
                format!("x-b3-traceid: {TRACE_64}"),
                format!("x-b3-spanid: {SPAN}"),
                format!("x-b3-parentspanid: {PARENT}"),
                "x-b3-sampled: 1".to_owned(),
            ]
        );
    }
}
