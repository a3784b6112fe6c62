//! The W3C `traceparent` header (Trace Context Level 2).
//!
//! Version `00` is `00-{trace-id:32}-{parent-id:16}-{flags:2}`, exactly 55 characters, all
//! hex lowercase. A higher version is parsed by the specification's forward-compatibility
//! rules: at least 55 characters; if longer, the 56th must be `-`; the version `00` fields
//! are read from their usual positions and anything after them is ignored. Only the known
//! flags (sampled, random) are kept, and the header is always written as version `00`.

use std::fmt;

use super::context::{Sampling, SpanContext};
use super::ids::{decode_hex, HexCase, SpanId, TraceId};
use super::value::{HeaderValue, Writer};
use super::{single_value, SingleValue};

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

/// Length of a version `00` value, and the minimum length of any version.
const V00_LEN: usize = 55;
/// The `sampled` bit of `trace-flags`.
const FLAG_SAMPLED: u8 = 0x01;
/// The `random-trace-id` bit of `trace-flags` (Level 2).
const FLAG_RANDOM: u8 = 0x02;

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id; never zero in a parsed value.
    pub trace_id: TraceId,
    /// The caller's span id (`parent-id`); never zero in a parsed value.
    pub parent_id: SpanId,
    /// The `sampled` flag (`0x01`): the caller may have recorded trace data.
    pub sampled: bool,
    /// The `random-trace-id` flag (`0x02`, Level 2): at least the right-most 7 bytes of the
    /// trace id are random.
    pub random: bool,
}

/// Why a `traceparent` was rejected. In every case the caller restarts the trace and
/// ignores `tracestate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceParentError {
    /// No `traceparent` header.
    Missing,
    /// More than one `traceparent` header value.
    Repeated,
    /// The value does not start with two lowercase hex digits followed by `-`.
    InvalidVersion,
    /// Version `ff`, which is forbidden.
    ForbiddenVersion,
    /// Version `00` shorter than 55 characters, or any version shorter than 55.
    TooShort,
    /// Version `00` longer than 55 characters.
    TooLong,
    /// A `-` is missing where a field must end (after the trace id, after the parent id, or
    /// after the flags of a longer higher-version value).
    InvalidSeparator,
    /// The trace id is not 32 lowercase hex digits.
    InvalidTraceId,
    /// The trace id is all zeros.
    ZeroTraceId,
    /// The parent id is not 16 lowercase hex digits.
    InvalidParentId,
    /// The parent id is all zeros.
    ZeroParentId,
    /// The flags are not 2 lowercase hex digits.
    InvalidFlags,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no traceparent header",
            Self::Repeated => "traceparent header repeated",
            Self::InvalidVersion => "traceparent version is not 2 lowercase hex digits and '-'",
            Self::ForbiddenVersion => "traceparent version ff is forbidden",
            Self::TooShort => "traceparent shorter than 55 characters",
            Self::TooLong => "traceparent version 00 longer than 55 characters",
            Self::InvalidSeparator => "traceparent field not followed by '-'",
            Self::InvalidTraceId => "traceparent trace-id is not 32 lowercase hex digits",
            Self::ZeroTraceId => "traceparent trace-id is all zeros",
            Self::InvalidParentId => "traceparent parent-id is not 16 lowercase hex digits",
            Self::ZeroParentId => "traceparent parent-id is all zeros",
            Self::InvalidFlags => "traceparent trace-flags is not 2 lowercase hex digits",
        })
    }
}

impl std::error::Error for TraceParentError {}

impl TraceParent {
    /// Parses the `traceparent` header from all its values. Exactly one value is accepted;
    /// none gives [`TraceParentError::Missing`], more than one
    /// [`TraceParentError::Repeated`].
    pub fn parse(values: &[&[u8]]) -> Result<Self, TraceParentError> {
        match single_value(values) {
            SingleValue::Missing => Err(TraceParentError::Missing),
            SingleValue::Repeated => Err(TraceParentError::Repeated),
            SingleValue::One(value) => Self::parse_value(value),
        }
    }

    /// Parses one `traceparent` value (leading and trailing spaces and tabs are ignored).
    pub fn parse_value(value: &[u8]) -> Result<Self, TraceParentError> {
        use TraceParentError as E;
        let value = super::trim_ows(value);
        let (version, rest) = value.split_at_checked(2).ok_or(E::InvalidVersion)?;
        let version = parse_hex_byte(version).ok_or(E::InvalidVersion)?;
        if rest.first() != Some(&b'-') {
            return Err(E::InvalidVersion);
        }
        if version == 0xff {
            return Err(E::ForbiddenVersion);
        }
        if value.len() < V00_LEN {
            return Err(E::TooShort);
        }
        if value.len() > V00_LEN {
            if version == 0 {
                return Err(E::TooLong);
            }
            if value.get(V00_LEN) != Some(&b'-') {
                return Err(E::InvalidSeparator);
            }
        }
        // Fixed positions: "vv-" 0..3, trace-id 3..35, '-' 35, parent-id 36..52, '-' 52,
        // flags 53..55.
        let field = |range: std::ops::Range<usize>| value.get(range).unwrap_or_default();
        if value.get(35) != Some(&b'-') || value.get(52) != Some(&b'-') {
            return Err(E::InvalidSeparator);
        }
        let trace_id = TraceId::from_hex(field(3..35)).ok_or(E::InvalidTraceId)?;
        if trace_id.is_zero() {
            return Err(E::ZeroTraceId);
        }
        let parent_id = SpanId::from_hex(field(36..52)).ok_or(E::InvalidParentId)?;
        if parent_id.is_zero() {
            return Err(E::ZeroParentId);
        }
        let flags = parse_hex_byte(field(53..55)).ok_or(E::InvalidFlags)?;
        Ok(Self {
            trace_id,
            parent_id,
            sampled: flags & FLAG_SAMPLED != 0,
            random: flags & FLAG_RANDOM != 0,
        })
    }

    /// The version `00` header value (55 characters). Only the known flags are written.
    pub fn to_header(&self) -> String {
        self.to_header_value().as_str().to_owned()
    }

    /// [`TraceParent::to_header`] in a fixed buffer, without allocating.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::written(&mut |out| self.write(out))
    }

    /// Writes [`TraceParent::to_header`] at the start of `out`, without allocating, and
    /// returns its length (55); `None` when `out` is shorter.
    pub fn write_header(&self, out: &mut [u8]) -> Option<usize> {
        let mut writer = Writer::new(out);
        self.write(&mut writer);
        writer.finish()
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.push(b"00-");
        out.push_hex(&self.trace_id.0);
        out.push(b"-");
        out.push_hex(&self.parent_id.0);
        out.push(match (self.random, self.sampled) {
            (false, false) => b"-00",
            (false, true) => b"-01",
            (true, false) => b"-02",
            (true, true) => b"-03",
        });
    }

    /// A new trace: random trace id and parent id (never zero), the random-trace-id flag
    /// set, and `sampled`.
    pub fn new_root(sampled: bool, random: &mut dyn FnMut(&mut [u8])) -> Self {
        Self {
            trace_id: TraceId::random(random),
            parent_id: SpanId::random(random),
            sampled,
            random: true,
        }
    }

    /// The `traceparent` for an outgoing request continuing this trace: same trace id and
    /// flags, new random parent id.
    pub fn child(&self, random: &mut dyn FnMut(&mut [u8])) -> Self {
        Self {
            parent_id: SpanId::random(random),
            ..*self
        }
    }

    /// The span context this header carries: the parent id becomes the span id, and the
    /// `sampled` flag becomes [`Sampling::Sampled`] or [`Sampling::NotSampled`] (W3C has
    /// no deferred state).
    pub fn to_span_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.parent_id,
            sampling: Sampling::from_sampled_flag(self.sampled),
        }
    }

    /// The `traceparent` for `context`. `sampled` is set for [`Sampling::Sampled`] and
    /// [`Sampling::Debug`] and unset otherwise. `random_trace_id` sets the random-trace-id
    /// flag; pass `true` only when the trace id was generated randomly (as by
    /// [`SpanContext::new_root`]).
    pub fn from_span_context(context: &SpanContext, random_trace_id: bool) -> Self {
        Self {
            trace_id: context.trace_id,
            parent_id: context.span_id,
            sampled: context.sampling.is_sampled() == Some(true),
            random: random_trace_id,
        }
    }
}

/// Parses exactly two lowercase hex digits.
fn parse_hex_byte(hex: &[u8]) -> Option<u8> {
    decode_hex::<1>(hex, HexCase::LowerOnly).map(|[byte]| byte)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::TraceParentError as E;
    use super::*;

    const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_HEX: &str = "00f067aa0ba902b7";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parse(value: &str) -> Result<TraceParent, TraceParentError> {
        TraceParent::parse(&[value.as_bytes()])
    }

    fn expected(sampled: bool, random: bool) -> TraceParent {
        TraceParent {
            trace_id: TraceId::from_hex(TRACE_HEX.as_bytes()).unwrap(),
            parent_id: SpanId::from_hex(PARENT_HEX.as_bytes()).unwrap(),
            sampled,
            random,
        }
    }

    #[test]
    fn valid_version_00_parses_and_formats_back() {
        let parsed = parse(VALID).unwrap();
        assert_eq!(parsed, expected(true, false));
        assert_eq!(parsed.to_header(), VALID);
        assert_eq!(parsed.to_header().len(), 55);
    }

    #[test]
    fn flags_sampled_and_random_are_read_and_unknown_flags_dropped() {
        let with_flags = |flags: &str| parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}-{flags}"));
        assert_eq!(with_flags("00").unwrap(), expected(false, false));
        assert_eq!(with_flags("02").unwrap(), expected(false, true));
        assert_eq!(with_flags("03").unwrap(), expected(true, true));
        let unknown = with_flags("ff").unwrap();
        assert_eq!(unknown, expected(true, true));
        assert!(unknown.to_header().ends_with("-03"));
        assert!(with_flags("08").unwrap().to_header().ends_with("-00"));
    }

    #[test]
    fn uppercase_hex_is_invalid() {
        let upper_trace = format!("00-{}-{PARENT_HEX}-01", TRACE_HEX.to_uppercase());
        assert_eq!(parse(&upper_trace), Err(E::InvalidTraceId));
        let upper_parent = format!("00-{TRACE_HEX}-00F067AA0BA902B7-01");
        assert_eq!(parse(&upper_parent), Err(E::InvalidParentId));
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}-0A")),
            Err(E::InvalidFlags)
        );
        assert_eq!(
            parse(&format!("0A-{TRACE_HEX}-{PARENT_HEX}-01")),
            Err(E::InvalidVersion)
        );
    }

    #[test]
    fn version_ff_is_invalid() {
        assert_eq!(
            parse(&format!("ff-{TRACE_HEX}-{PARENT_HEX}-01")),
            Err(E::ForbiddenVersion)
        );
    }

    #[test]
    fn future_version_longer_with_dash_is_parsed_and_sent_as_00() {
        let parsed = parse(&format!(
            "cc-{TRACE_HEX}-{PARENT_HEX}-01-what-the-future-holds"
        ));
        assert_eq!(parsed, Ok(expected(true, false)));
        assert_eq!(parsed.unwrap().to_header(), VALID);
    }

    #[test]
    fn future_version_longer_without_dash_is_invalid() {
        let value = format!("cc-{TRACE_HEX}-{PARENT_HEX}-01.what-the-future-holds");
        assert_eq!(parse(&value), Err(E::InvalidSeparator));
        // The flags must be exactly two characters before the next dash.
        let value = format!("cc-{TRACE_HEX}-{PARENT_HEX}-011-more");
        assert_eq!(parse(&value), Err(E::InvalidSeparator));
    }

    #[test]
    fn future_version_exactly_55_is_parsed_and_keeps_only_known_flags() {
        let parsed = parse(&format!("01-{TRACE_HEX}-{PARENT_HEX}-07")).unwrap();
        assert_eq!(parsed, expected(true, true));
        assert_eq!(
            parsed.to_header(),
            format!("00-{TRACE_HEX}-{PARENT_HEX}-03")
        );
    }

    #[test]
    fn future_version_shorter_than_55_is_invalid() {
        assert_eq!(
            parse(&format!("01-{TRACE_HEX}-{PARENT_HEX}-1")),
            Err(E::TooShort)
        );
    }

    #[test]
    fn version_00_short_or_long_is_invalid() {
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}-1")),
            Err(E::TooShort)
        );
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}-001")),
            Err(E::TooLong)
        );
        assert_eq!(parse(&format!("{VALID}-extra")), Err(E::TooLong));
        assert_eq!(parse("00-"), Err(E::TooShort));
        assert_eq!(parse(""), Err(E::InvalidVersion));
        assert_eq!(parse("0"), Err(E::InvalidVersion));
    }

    #[test]
    fn zero_trace_id_is_invalid() {
        let zero = "0".repeat(32);
        assert_eq!(
            parse(&format!("00-{zero}-{PARENT_HEX}-01")),
            Err(E::ZeroTraceId)
        );
    }

    #[test]
    fn zero_parent_id_is_invalid() {
        let zero = "0".repeat(16);
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{zero}-01")),
            Err(E::ZeroParentId)
        );
    }

    #[test]
    fn bad_separators_are_invalid() {
        let underscores = format!("00_{TRACE_HEX}_{PARENT_HEX}_01");
        assert_eq!(parse(&underscores), Err(E::InvalidVersion));
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}.{PARENT_HEX}-01")),
            Err(E::InvalidSeparator)
        );
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}.01")),
            Err(E::InvalidSeparator)
        );
        // A field one character off shifts the dashes.
        let shifted = format!("00-{}-{PARENT_HEX}0-01", &TRACE_HEX[1..]);
        assert_eq!(parse(&shifted), Err(E::InvalidSeparator));
    }

    #[test]
    fn non_hex_characters_are_invalid() {
        let bad_trace = format!("00-{}g-{PARENT_HEX}-01", &TRACE_HEX[1..]);
        assert_eq!(parse(&bad_trace), Err(E::InvalidTraceId));
        let bad_parent = format!("00-{TRACE_HEX}-{}x-01", &PARENT_HEX[1..]);
        assert_eq!(parse(&bad_parent), Err(E::InvalidParentId));
        assert_eq!(
            parse(&format!("00-{TRACE_HEX}-{PARENT_HEX}-0x")),
            Err(E::InvalidFlags)
        );
        assert_eq!(
            parse(&format!("zz-{TRACE_HEX}-{PARENT_HEX}-01")),
            Err(E::InvalidVersion)
        );
    }

    #[test]
    fn repeated_header_is_invalid_even_when_identical() {
        let values: [&[u8]; 2] = [VALID.as_bytes(), VALID.as_bytes()];
        assert_eq!(TraceParent::parse(&values), Err(E::Repeated));
        assert_eq!(TraceParent::parse(&[]), Err(E::Missing));
    }

    #[test]
    fn non_utf8_bytes_are_invalid_without_panicking() {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[10] = 0xc3;
        bytes[11] = 0xa9;
        assert_eq!(TraceParent::parse(&[&bytes]), Err(E::InvalidTraceId));
        let mut version = VALID.as_bytes().to_vec();
        version[0] = 0xff;
        assert_eq!(TraceParent::parse(&[&version]), Err(E::InvalidVersion));
        // A multi-byte character at a separator, and a lone continuation byte.
        let mut sep = VALID.as_bytes().to_vec();
        sep[35] = 0x80;
        assert_eq!(TraceParent::parse(&[&sep]), Err(E::InvalidSeparator));
        assert!(TraceParent::parse(&[b"\xff\xfe\xfd"]).is_err());
    }

    #[test]
    fn surrounding_spaces_and_tabs_are_ignored() {
        assert_eq!(parse(&format!(" \t{VALID}\t ")), Ok(expected(true, false)));
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(
            E::ZeroTraceId.to_string(),
            "traceparent trace-id is all zeros"
        );
    }

    #[test]
    fn root_child_and_span_context_conversions() {
        let mut counter = 0u8;
        let mut source = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                counter = counter.wrapping_add(1);
                *b = counter;
            }
        };
        let root = TraceParent::new_root(true, &mut source);
        assert!(root.random && root.sampled);
        let child = root.child(&mut source);
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.parent_id, root.parent_id);
        assert!(child.random && child.sampled);

        let context = expected(false, true).to_span_context();
        assert_eq!(context.sampling, Sampling::NotSampled);
        assert_eq!(context.span_id, expected(false, true).parent_id);
        assert_eq!(
            TraceParent::from_span_context(&context, true),
            expected(false, true)
        );

        let debug = SpanContext {
            sampling: Sampling::Debug,
            ..context
        };
        assert!(TraceParent::from_span_context(&debug, false).sampled);
        let deferred = SpanContext {
            sampling: Sampling::Deferred,
            ..context
        };
        assert!(!TraceParent::from_span_context(&deferred, false).sampled);
    }

    #[test]
    fn the_header_value_is_the_header_without_allocating() {
        let mut buffer = [0u8; 60];
        for flags in ["00", "01", "02", "03"] {
            let value = format!("00-{TRACE_HEX}-{PARENT_HEX}-{flags}");
            let parsed = parse(&value).unwrap();
            assert_eq!(parsed.to_header_value(), value.as_str());
            assert_eq!(parsed.to_header_value().len(), 55);
            assert_eq!(parsed.write_header(&mut buffer), Some(55));
            assert_eq!(&buffer[..55], value.as_bytes());
            assert_eq!(parsed.write_header(&mut buffer[..54]), None);
        }
    }
}
