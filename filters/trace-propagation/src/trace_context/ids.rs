//! Trace and span identifiers, their hex form, and random generation.
//!
//! W3C Trace Context allows lowercase hex only, so [`TraceId::from_hex`] and
//! [`SpanId::from_hex`] reject uppercase digits. B3 (which also specifies lowercase) is read
//! leniently by the [`b3`](super::b3) module, which accepts either case. Ids are always
//! written in lowercase.

use std::fmt;

/// How many times a random source is asked again when it returns all-zero bytes, before a
/// non-zero byte is forced.
const RANDOM_ATTEMPTS: usize = 4;

/// A 128-bit trace id (16 bytes, big-endian as written in hex).
///
/// The all-zero id is representable but invalid in every format; see [`TraceId::is_zero`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span id (8 bytes, big-endian as written in hex). W3C calls it `parent-id`.
///
/// The all-zero id is representable but invalid in every format; see [`SpanId::is_zero`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// Parses exactly 32 lowercase hex digits. Returns `None` for any other input. The
    /// all-zero id parses; check [`TraceId::is_zero`] where it is invalid.
    pub fn from_hex(hex: &[u8]) -> Option<Self> {
        decode_hex(hex, HexCase::LowerOnly).map(Self)
    }

    /// The 32 lowercase hex digits of this id, in a stack buffer.
    pub fn to_hex(&self) -> [u8; 32] {
        encode_hex(&self.0)
    }

    /// Appends the 32 lowercase hex digits of this id to `out`.
    pub fn write_hex(&self, out: &mut String) {
        push_ascii(out, &self.to_hex());
    }

    /// Whether every byte is zero (an invalid id).
    pub fn is_zero(&self) -> bool {
        u128::from_ne_bytes(self.0) == 0
    }

    /// A new random id from `random`, never all-zero.
    pub fn random(random: &mut dyn FnMut(&mut [u8])) -> Self {
        let mut bytes = [0u8; 16];
        fill_non_zero(&mut bytes, random);
        Self(bytes)
    }
}

impl SpanId {
    /// Parses exactly 16 lowercase hex digits. Returns `None` for any other input. The
    /// all-zero id parses; check [`SpanId::is_zero`] where it is invalid.
    pub fn from_hex(hex: &[u8]) -> Option<Self> {
        decode_hex(hex, HexCase::LowerOnly).map(Self)
    }

    /// The 16 lowercase hex digits of this id, in a stack buffer.
    pub fn to_hex(&self) -> [u8; 16] {
        encode_hex(&self.0)
    }

    /// Appends the 16 lowercase hex digits of this id to `out`.
    pub fn write_hex(&self, out: &mut String) {
        push_ascii(out, &self.to_hex());
    }

    /// Whether every byte is zero (an invalid id).
    pub fn is_zero(&self) -> bool {
        u64::from_ne_bytes(self.0) == 0
    }

    /// A new random id from `random`, never all-zero.
    pub fn random(random: &mut dyn FnMut(&mut [u8])) -> Self {
        let mut bytes = [0u8; 8];
        fill_non_zero(&mut bytes, random);
        Self(bytes)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii_str(&self.to_hex()))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii_str(&self.to_hex()))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Which hex digit cases a decoder accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexCase {
    /// `0-9a-f` only (W3C `HEXDIGLC`).
    LowerOnly,
    /// `0-9a-fA-F`.
    Any,
}

/// Marks an uppercase digit in [`HEX_VALUES`].
const UPPER: u8 = 0x10;
/// Marks a byte that is not a hex digit in [`HEX_VALUES`].
const NOT_HEX: u8 = 0x80;

/// The value of a hex digit, `| UPPER` for `A`-`F`, [`NOT_HEX`] for any other byte.
const fn hex_value_of(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => (b - b'A' + 10) | UPPER,
        _ => NOT_HEX,
    }
}

/// [`hex_value_of`] for every ASCII byte ([`NOT_HEX`] for any other, as `get` gives none).
static HEX_VALUES: [u8; 128] = ascii_table!(hex_value_of);

/// The lowercase hex digits.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Decodes exactly `2 * N` hex digits into `N` bytes.
pub(crate) fn decode_hex<const N: usize>(hex: &[u8], case: HexCase) -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    decode_hex_into(hex, &mut bytes, case).then_some(bytes)
}

/// Decodes exactly `2 * out.len()` hex digits into `out`: one table lookup per digit, and
/// one check of the case and validity of all of them at the end. Whether they were.
fn decode_hex_into(hex: &[u8], out: &mut [u8], case: HexCase) -> bool {
    if hex.len() != 2 * out.len() {
        return false;
    }
    let value = |digit: &u8| {
        HEX_VALUES
            .get(usize::from(*digit))
            .copied()
            .unwrap_or(NOT_HEX)
    };
    let mut seen = 0u8;
    let (pairs, _) = hex.as_chunks::<2>();
    for (byte, [high, low]) in out.iter_mut().zip(pairs) {
        let (high, low) = (value(high), value(low));
        seen |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    let refused = match case {
        HexCase::LowerOnly => UPPER | NOT_HEX,
        HexCase::Any => NOT_HEX,
    };
    seen & refused == 0
}

/// Writes `bytes` as lowercase hex digits into `out`, two per byte (as many as fit).
pub(crate) fn encode_hex_into(bytes: &[u8], out: &mut [u8]) {
    let digit = |nibble: u8| HEX_DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    let (pairs, _) = out.as_chunks_mut::<2>();
    for (pair, byte) in pairs.iter_mut().zip(bytes) {
        *pair = [digit(byte >> 4), digit(byte & 0x0f)];
    }
}

/// Encodes `N` bytes as `M = 2 * N` lowercase hex digits.
fn encode_hex<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    let mut hex = [0u8; M];
    encode_hex_into(bytes, &mut hex);
    hex
}

/// Views ASCII bytes produced by this module as `&str`.
fn ascii_str(ascii: &[u8]) -> &str {
    std::str::from_utf8(ascii).unwrap_or_default()
}

/// Appends ASCII bytes produced by this module to `out`.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(ascii_str(ascii));
}

/// Fills `bytes` from `random`, asking again while the result is all-zero; if the source
/// keeps returning zeros, the last byte is forced to 1.
pub(crate) fn fill_non_zero(bytes: &mut [u8], random: &mut dyn FnMut(&mut [u8])) {
    for _ in 0..RANDOM_ATTEMPTS {
        random(bytes);
        if bytes.iter().any(|b| *b != 0) {
            return;
        }
    }
    if let Some(last) = bytes.last_mut() {
        *last = 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_HEX: &str = "00f067aa0ba902b7";

    #[test]
    fn hex_round_trips_in_lowercase() {
        let trace = TraceId::from_hex(TRACE_HEX.as_bytes()).unwrap();
        assert_eq!(trace.to_string(), TRACE_HEX);
        assert_eq!(&trace.to_hex(), TRACE_HEX.as_bytes());
        let span = SpanId::from_hex(SPAN_HEX.as_bytes()).unwrap();
        let mut out = String::from(">");
        span.write_hex(&mut out);
        assert_eq!(out, format!(">{SPAN_HEX}"));
        assert_eq!(format!("{span:?}"), format!("SpanId({SPAN_HEX})"));
    }

    #[test]
    fn from_hex_rejects_uppercase_wrong_length_and_non_hex() {
        assert_eq!(TraceId::from_hex(TRACE_HEX.to_uppercase().as_bytes()), None);
        assert_eq!(TraceId::from_hex(&TRACE_HEX.as_bytes()[1..]), None);
        assert_eq!(SpanId::from_hex(b"00f067aa0ba902bz"), None);
        assert_eq!(SpanId::from_hex(b"00f067aa0ba902\xc3\xa9"), None);
        assert_eq!(SpanId::from_hex(b""), None);
    }

    #[test]
    fn any_case_decoder_accepts_uppercase() {
        let bytes: [u8; 2] = decode_hex(b"aBcD", HexCase::Any).unwrap();
        assert_eq!(bytes, [0xab, 0xcd]);
        assert_eq!(decode_hex::<2>(b"aBcD", HexCase::LowerOnly), None);
    }

    #[test]
    fn zero_ids_parse_and_report_zero() {
        assert!(TraceId::from_hex(&[b'0'; 32]).unwrap().is_zero());
        assert!(SpanId::from_hex(&[b'0'; 16]).unwrap().is_zero());
        assert!(!SpanId::from_hex(SPAN_HEX.as_bytes()).unwrap().is_zero());
    }

    #[test]
    fn random_ids_use_the_source() {
        let mut counter = 0u8;
        let mut source = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                counter = counter.wrapping_add(1);
                *b = counter;
            }
        };
        let trace = TraceId::random(&mut source);
        assert_eq!(trace.0[0], 1);
        assert_eq!(trace.0[15], 16);
        let span = SpanId::random(&mut source);
        assert_eq!(span.0[0], 17);
    }

    #[test]
    fn random_ids_are_never_zero_even_with_an_all_zero_source() {
        let mut calls = 0;
        let mut zeros = |buf: &mut [u8]| {
            calls += 1;
            buf.fill(0);
        };
        assert!(!TraceId::random(&mut zeros).is_zero());
        assert!(!SpanId::random(&mut zeros).is_zero());
        assert_eq!(calls, 2 * RANDOM_ATTEMPTS);
    }

    #[test]
    fn random_ids_retry_after_a_zero_draw() {
        let mut draws = 0;
        let mut zero_then_ones = |buf: &mut [u8]| {
            draws += 1;
            buf.fill(if draws == 1 { 0 } else { 0xff });
        };
        assert_eq!(SpanId::random(&mut zero_then_ones), SpanId([0xff; 8]));
        assert_eq!(draws, 2);
    }

    #[test]
    fn the_decode_table_knows_every_byte() {
        for b in 0..=255u8 {
            let lower = match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            let any = match b {
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => lower,
            };
            let decode = |case| decode_hex::<1>(&[b'7', b], case).map(|[byte]| byte);
            assert_eq!(decode(HexCase::LowerOnly), lower.map(|v| 0x70 | v), "{b}");
            assert_eq!(decode(HexCase::Any), any.map(|v| 0x70 | v), "{b}");
            let decode_high = |case| decode_hex::<1>(&[b, b'7'], case).map(|[byte]| byte);
            assert_eq!(decode_high(HexCase::Any), any.map(|v| (v << 4) | 7), "{b}");
        }
    }
}
