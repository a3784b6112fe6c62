//! A small, strict JSON parser (RFC 8259) into [`Value`].
//!
//! The SDK parses configurations itself rather than through a general JSON library: the
//! result is smaller in wasm (no floating-point formatting or parsing machinery), and the
//! reader built on it ([`super::reader`]) reports the JSON path of every error.
//!
//! # Numbers
//!
//! An integer written as one (digits only) that fits 64 bits is kept as an integer
//! ([`Number::UInt`], [`Number::Int`]). Every other number (a fraction, an exponent, `-0`,
//! an integer beyond 64 bits) is kept as written, a [`Decimal`], and converted only when it
//! is read: to the nearest `f64` ([`Number::to_f64`], correctly rounded; the float-parsing
//! code this needs is linked only into modules that call it), or exactly to a fixed-point
//! integer ([`Number::to_fixed_point`], no floating point at all). As in `serde_json`:
//!
//! - a number too large for an `f64` (`1e400`, `-1e400`, anything from
//!   `2^1024 - 2^970` on, which rounds to infinity) is refused, `number out of range`;
//! - a number too small for one (`1e-400`) is accepted, and reads as `0.0` (`-0.0` when
//!   negative) as an `f64`;
//! - `-0` is not an integer (nor are `0.0` and `0e5`): it is a decimal, `-0.0` as an
//!   `f64`, and a reader wanting a non-negative integer refuses it.
//!
//! # Objects
//!
//! An object keeps every member in document order, a repeated key included (`serde_json`'s
//! `Value` keeps the last one instead): the readers refuse repeated keys
//! ([`super::reader::Node::object`], [`super::reader::Node::map`]).

use std::fmt;
use std::ops::RangeInclusive;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 64;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in document order.
    Object(Vec<(String, Value)>),
}

/// A JSON number, kept as an integer where it is one and as written otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// A negative integer, written as one (`-0` is a [`Number::Decimal`]).
    Int(i64),
    /// A non-negative integer, written as one (`100`, not `1e2` or `100.0`).
    UInt(u64),
    /// Any other number the parser read (a fraction, an exponent, `-0`, an integer beyond
    /// 64 bits), kept as written.
    Decimal(Decimal),
}

/// A number as written in the document (`0.25`, `1e2`, `-0`, `18446744073709551616`),
/// already checked to be valid JSON and within the range of an `f64`.
///
/// Two decimals are equal when they are written alike (`0.5` and `0.50` are not); compare
/// [`Decimal::to_f64`] for the numeric value.
#[derive(Debug, Clone)]
pub struct Decimal {
    text: Box<str>,
    /// Where the digits and the point end in `text` (at the exponent, or the end).
    mantissa_end: usize,
    /// The power of ten the first digit stands for (`12.5e1`: 2), saturated at the `i64`
    /// limits (such a number is zero, refused, or has more places than any reader allows).
    top: i64,
}

/// Why a number is not a fixed-point value (see [`Number::to_fixed_point`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedPointError {
    /// The number is outside the range asked for.
    OutOfRange,
    /// The number has more decimal places than asked for (`0.1234567` with 6 places).
    TooManyPlaces,
}

impl Number {
    /// The number as an `f64`: the nearest one (ties to even) for an integer or a decimal;
    /// `-0.0` for `-0`; `0.0` for a decimal too small for an `f64` (`1e-400`).
    ///
    /// Reading a [`Number::Decimal`] links the standard library's float parsing into the
    /// module; readers that need exact values use [`Number::to_fixed_point`] instead.
    pub fn to_f64(&self) -> f64 {
        match self {
            // `as` rounds to the nearest f64 (ties to even).
            Number::Int(n) => *n as f64,
            Number::UInt(n) => *n as f64,
            Number::Decimal(d) => d.to_f64(),
        }
    }

    /// The number as a whole count of `10^-places`, read exactly from its decimal text:
    /// with 6 places, `0.25` is `250000`, `1` is `1000000`, `25e-2` is `250000`, and `-0` is
    /// `0`. Trailing zeros do not count as places (`0.2500000` has 2).
    ///
    /// Refused: a value outside `range`, or whose count is beyond `i64`
    /// ([`FixedPointError::OutOfRange`]), and one with more than `places` decimal places
    /// ([`FixedPointError::TooManyPlaces`]); when both apply, out of range.
    pub fn to_fixed_point(
        &self,
        places: u32,
        range: RangeInclusive<i64>,
    ) -> Result<i64, FixedPointError> {
        let scaled = match self {
            Number::UInt(n) => Scaled::exact(with_zeros(Some(*n), places), false),
            Number::Int(n) => Scaled::exact(with_zeros(Some(n.unsigned_abs()), places), true),
            Number::Decimal(d) => d.scaled(places),
        };
        scaled.within(range)
    }
}

/// `m * 10 + digit`; `None` from `10^19` on, beyond the magnitude of any `i64`.
fn shift_in(m: u64, digit: u64) -> Option<u64> {
    if m < 1_000_000_000_000_000_000 {
        Some(m * 10 + digit)
    } else {
        None
    }
}

/// `m * 10^zeros` (`None` beyond `10^19`, and for `None`).
fn with_zeros(m: Option<u64>, zeros: u32) -> Option<u64> {
    // Twenty zeros are too many for any m but 0, which stays 0.
    (0..zeros.min(20)).try_fold(m?, |m, _| shift_in(m, 0))
}

/// A number multiplied by `10^places`: the magnitude of its integer part (`None` beyond
/// `u64`), whether non-zero digits were left below it, and its sign.
struct Scaled {
    magnitude: Option<u64>,
    cut: bool,
    negative: bool,
}

impl Scaled {
    fn exact(magnitude: Option<u64>, negative: bool) -> Self {
        Self {
            magnitude,
            cut: false,
            negative,
        }
    }

    fn within(self, range: RangeInclusive<i64>) -> Result<i64, FixedPointError> {
        let magnitude = self.magnitude.ok_or(FixedPointError::OutOfRange)?;
        let value = if self.negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        }
        .ok_or(FixedPointError::OutOfRange)?;
        let (low, high) = range.into_inner();
        // Cut digits lie beyond `value`, away from zero.
        let below = value < low || (value == low && self.cut && self.negative);
        let above = value > high || (value == high && self.cut && !self.negative);
        if below || above {
            Err(FixedPointError::OutOfRange)
        } else if self.cut {
            Err(FixedPointError::TooManyPlaces)
        } else {
            Ok(value)
        }
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        // The other fields follow from the text.
        self.text == other.text
    }
}

impl Eq for Decimal {}

impl Decimal {
    /// The number as written (`1.50`, `-0`, `2E+3`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The nearest `f64` (ties to even), as [`Number::to_f64`].
    pub fn to_f64(&self) -> f64 {
        // The text is a valid JSON number, which `f64`'s parser (correctly rounded) always
        // accepts.
        self.text.parse().unwrap_or(f64::NAN)
    }

    /// Whether the value is a whole number (`-0`, `1.0`, `1e2`, `2.5e1`, not `1.5`).
    pub fn is_whole(&self) -> bool {
        !self.scaled(0).cut
    }

    fn negative(&self) -> bool {
        self.text.starts_with('-')
    }

    /// The digits, with the point among them.
    fn mantissa(&self) -> &[u8] {
        let start = usize::from(self.negative());
        self.text
            .as_bytes()
            .get(start..self.mantissa_end)
            .unwrap_or_default()
    }

    /// The number times `10^places`, truncated (see [`Scaled`]).
    fn scaled(&self, places: u32) -> Scaled {
        // The power of ten of the digit at hand.
        let mut power = self.top.saturating_add(i64::from(places));
        let mut magnitude = Some(0u64);
        let mut cut = false;
        for &byte in self.mantissa() {
            if byte == b'.' {
                continue;
            }
            let digit = u64::from(byte - b'0');
            if power >= 0 {
                magnitude = magnitude.and_then(|m| shift_in(m, digit));
            } else if digit != 0 {
                cut = true;
            }
            power = power.saturating_sub(1);
        }
        // The last digit stood for 10^(power + 1): as many zeros follow.
        let zeros = u32::try_from(power.saturating_add(1)).unwrap_or(0);
        let magnitude = with_zeros(magnitude, zeros);
        Scaled {
            magnitude,
            cut,
            negative: self.negative(),
        }
    }
}

/// The 309 decimal digits of `2^1024 - 2^970`, halfway between `f64::MAX` and `2^1024`:
/// the smallest magnitude that rounds to infinity (a tie rounds to the even significand,
/// `2^1024`). Two digits a byte, high nibble first, a `0` nibble after the last.
const F64_OVERFLOW: [u8; 155] = [
    0x17, 0x97, 0x69, 0x31, 0x34, 0x86, 0x23, 0x15, 0x80, 0x79, 0x37, 0x28, 0x97, 0x14, 0x05, 0x30,
    0x34, 0x15, 0x07, 0x99, 0x34, 0x13, 0x27, 0x10, 0x03, 0x78, 0x26, 0x93, 0x61, 0x73, 0x77, 0x89,
    0x80, 0x44, 0x49, 0x68, 0x29, 0x27, 0x64, 0x75, 0x09, 0x46, 0x64, 0x90, 0x17, 0x97, 0x75, 0x87,
    0x20, 0x70, 0x96, 0x33, 0x02, 0x86, 0x41, 0x66, 0x92, 0x88, 0x79, 0x10, 0x94, 0x65, 0x55, 0x54,
    0x78, 0x51, 0x94, 0x04, 0x02, 0x63, 0x06, 0x57, 0x48, 0x86, 0x71, 0x50, 0x58, 0x20, 0x68, 0x19,
    0x08, 0x90, 0x20, 0x00, 0x70, 0x83, 0x83, 0x67, 0x62, 0x73, 0x85, 0x48, 0x45, 0x81, 0x77, 0x11,
    0x53, 0x17, 0x64, 0x47, 0x57, 0x30, 0x27, 0x00, 0x69, 0x85, 0x55, 0x71, 0x36, 0x69, 0x59, 0x62,
    0x28, 0x42, 0x91, 0x48, 0x19, 0x86, 0x08, 0x34, 0x93, 0x64, 0x75, 0x29, 0x27, 0x19, 0x07, 0x41,
    0x68, 0x44, 0x43, 0x65, 0x51, 0x07, 0x04, 0x34, 0x27, 0x11, 0x55, 0x96, 0x99, 0x50, 0x80, 0x93,
    0x04, 0x28, 0x80, 0x17, 0x79, 0x04, 0x17, 0x44, 0x97, 0x79, 0x20,
];

/// Whether a number whose digits (with the point among them) are `mantissa`, the first
/// standing for `10^top`, rounds to infinity as an `f64`.
fn beyond_f64(mantissa: &[u8], top: i64) -> bool {
    let mut power = top;
    // How many of the limit's digits were equal.
    let mut equal = 0;
    let mut leading = true;
    for &byte in mantissa {
        if byte == b'.' {
            continue;
        }
        let digit = byte - b'0';
        if leading {
            if digit == 0 {
                power = power.saturating_sub(1);
                continue;
            }
            if power != 308 {
                return power > 308;
            }
            leading = false;
        }
        let pair = F64_OVERFLOW.get(equal / 2).filter(|_| equal < 309);
        let Some(limit) = pair.map(|pair| if equal % 2 == 0 { pair >> 4 } else { pair & 15 })
        else {
            // As many digits as the limit, all equal, and more: above it.
            return true;
        };
        if digit != limit {
            return digit > limit;
        }
        equal += 1;
    }
    // Equal to the limit (a tie), or shorter: below it, its remaining digits not all zero.
    !leading && equal == 309
}

/// Where and why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in bytes).
    pub column: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid JSON at line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

/// Parses one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(text: &[u8]) -> Result<Value, SyntaxError> {
    let mut parser = Parser { text, at: 0 };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at < text.len() {
        return Err(parser.error("unexpected text after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> SyntaxError {
        let before = self.text.get(..self.at).unwrap_or(self.text);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
        SyntaxError {
            line,
            column,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect_word(&mut self, word: &[u8], value: Value) -> Result<Value, SyntaxError> {
        if self.text.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_word(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_word(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_word(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.at += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.next() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.skip_space();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_space();
            match self.next() {
                Some(b',') => continue,
                Some(b'}') => return Ok(Value::Object(members)),
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth)?);
            self.skip_space();
            match self.next() {
                Some(b',') => continue,
                Some(b']') => return Ok(Value::Array(items)),
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .next()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let escaped = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                }
                Some(byte) if byte < 0x20 => return Err(self.error("control character in string")),
                Some(byte) => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in string"))
    }

    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                return Err(self.error("unpaired surrogate"));
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired surrogate"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("unpaired surrogate"))
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = self.digits();
        if int_digits == 0 {
            return Err(self.error("invalid number"));
        }
        if int_digits > 1 && self.text.get(int_start) == Some(&b'0') {
            return Err(self.error("invalid number: leading zero"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            integer = false;
        }
        let mantissa_end = self.at;
        let mut exponent = 0i64;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let negative = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            let digits_start = self.at;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            for digit in self.text.get(digits_start..self.at).unwrap_or_default() {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i64::from(digit - b'0'));
            }
            if negative {
                exponent = -exponent;
            }
            integer = false;
        }
        let text = self.text.get(start..self.at).unwrap_or_default();
        let text = std::str::from_utf8(text).unwrap_or_default();
        if integer {
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::Number(Number::UInt(n)));
            }
            // `-0` parses as 0: it stays a decimal, as in serde_json.
            if let Ok(n @ i64::MIN..=-1) = text.parse::<i64>() {
                return Ok(Value::Number(Number::Int(n)));
            }
        }
        let top = i64::try_from(int_digits - 1)
            .unwrap_or(i64::MAX)
            .saturating_add(exponent);
        let mantissa = self.text.get(int_start..mantissa_end).unwrap_or_default();
        if beyond_f64(mantissa, top) {
            self.at = start;
            return Err(self.error("number out of range"));
        }
        Ok(Value::Number(Number::Decimal(Decimal {
            text: text.into(),
            mantissa_end: mantissa_end - start,
            top,
        })))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The decimal `text`, as the parser reads it alone.
    fn decimal(text: &str) -> Value {
        let value = parse(text.as_bytes()).unwrap();
        match &value {
            Value::Number(Number::Decimal(d)) => assert_eq!(d.as_str(), text),
            other => panic!("{text}: {other:?}"),
        }
        value
    }

    fn number(text: &str) -> Number {
        match parse(text.as_bytes()) {
            Ok(Value::Number(n)) => n,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_every_kind() {
        let value =
            parse(br#" {"a": [1, -2, 2.5, 1e2, true, false, null, "x\n\u00e9\ud83d\ude00"]} "#)
                .unwrap();
        assert_eq!(
            value,
            Value::Object(vec![(
                "a".into(),
                Value::Array(vec![
                    Value::Number(Number::UInt(1)),
                    Value::Number(Number::Int(-2)),
                    decimal("2.5"),
                    decimal("1e2"),
                    Value::Bool(true),
                    Value::Bool(false),
                    Value::Null,
                    Value::String("x\né😀".into()),
                ])
            )])
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\" 1}",
            b"01",
            b"1.",
            b"-",
            b"\"\\x\"",
            b"\"a\nb\"",
            b"\"\\ud800\"",
            b"tru",
            b"{} {}",
            b"\"\xff\"",
            b"{1: 2}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().reason,
            "nested too deeply"
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn errors_say_where() {
        let err = parse(b"{\n  \"a\": x\n}").unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 2, column 8: expected a value"
        );
    }

    #[test]
    fn large_integers_keep_their_kind() {
        assert_eq!(
            parse(b"18446744073709551615").unwrap(),
            Value::Number(Number::UInt(u64::MAX))
        );
        assert_eq!(
            parse(b"-9223372036854775808").unwrap(),
            Value::Number(Number::Int(i64::MIN))
        );
        assert_eq!(parse(b"0.25").unwrap(), decimal("0.25"));
        assert_eq!(
            parse(b"18446744073709551616").unwrap(),
            decimal("18446744073709551616")
        );
        assert_eq!(
            number("18446744073709551616").to_f64(),
            18446744073709551616.0
        );
        assert_eq!(
            parse(b"-9223372036854775809").unwrap(),
            decimal("-9223372036854775809")
        );
        assert_eq!(number("-1"), Number::Int(-1));
    }

    #[test]
    fn minus_zero_is_a_decimal_reading_as_minus_zero() {
        assert_eq!(parse(b"0").unwrap(), Value::Number(Number::UInt(0)));
        for text in ["-0", "-0.0", "-0e7", "-0.000e-3"] {
            assert_eq!(parse(text.as_bytes()).unwrap(), decimal(text));
            assert_eq!(
                number(text).to_f64().to_bits(),
                (-0.0f64).to_bits(),
                "{text}"
            );
        }
        assert_eq!(number("0e5").to_f64().to_bits(), 0);
    }

    #[test]
    fn decimals_know_whether_they_are_whole() {
        let whole = |text: &str| match number(text) {
            Number::Decimal(d) => d.is_whole(),
            other => panic!("{text}: {other:?}"),
        };
        for text in [
            "-0",
            "1.0",
            "1e2",
            "2.5e1",
            "0.1E1",
            "18446744073709551616",
            "0e-5",
        ] {
            assert!(whole(text), "{text}");
        }
        for text in [
            "1.5",
            "-0.1",
            "1e-1",
            "25e-1",
            "1e-99999999999999",
            "1.0000000000001",
        ] {
            assert!(!whole(text), "{text}");
        }
    }

    #[test]
    fn numbers_too_large_for_f64_are_refused() {
        for text in [
            "1e400",
            "-1e400",
            "1e309",
            "10e308",
            "0.0000000000001e322",
            "1.7976931348623159e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
            "1797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977920e-1",
            "1e99999999999999999999999",
            "-0.5e99999999999999999999999",
        ] {
            let err = parse(text.as_bytes()).unwrap_err();
            assert_eq!(
                err.reason, "number out of range",
                "{text}"
            );
        }
        let err = parse(b"{\"a\": [1, -1e400]}").unwrap_err();
        assert_eq!((err.line, err.column), (1, 11));
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 1, column 11: number out of range"
        );
    }

    #[test]
    fn the_largest_f64_and_tiny_numbers_are_accepted() {
        for text in [
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
            "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447573027006985557136695962284291481986083493647529271907416844436551070434271155969950809304288017790417449779199999e-5",
        ] {
            assert_eq!(number(text).to_f64(), f64::MAX, "{text}");
            let negative = format!("-{text}");
            assert_eq!(number(&negative).to_f64(), -f64::MAX, "{negative}");
        }
        for text in [
            "1e-400",
            "1e-99999999999999999999999",
            "0e99999999999999999999",
        ] {
            assert_eq!(number(text).to_f64().to_bits(), 0, "{text}");
        }
        assert_eq!(number("-1e-400").to_f64().to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn the_overflow_limit_is_halfway_past_f64_max() {
        let digits: Vec<u8> = F64_OVERFLOW
            .iter()
            .flat_map(|pair| [pair >> 4, pair & 15])
            .collect();
        assert!(digits.iter().all(|&d| d <= 9));
        assert_eq!(digits.last(), Some(&0));
        let limit: String = digits[..309].iter().map(|d| char::from(b'0' + d)).collect();
        let limit = limit.as_str();
        assert_eq!(limit.parse::<f64>().unwrap(), f64::INFINITY);
        // The same number less one (it ends in 2): f64::MAX.
        let below = format!("{}1", &limit[..308]);
        assert!(limit.ends_with('2'));
        assert_eq!(below.parse::<f64>().unwrap(), f64::MAX);
    }

    #[test]
    fn decimals_read_as_the_nearest_f64() {
        for (text, bits) in [
            ("0.1", 0x3fb9_9999_9999_999a_u64),
            ("0.30000000000000004", 0x3fd3_3333_3333_3334),
            ("2.2250738585072011e-308", 0x000f_ffff_ffff_ffff),
            ("9007199254740993.0", 0x4340_0000_0000_0000),
            (
                "1.00000000000000011102230246251565404236316680908203125",
                0x3ff0_0000_0000_0000,
            ),
            (
                "1.00000000000000011102230246251565404236316680908203126",
                0x3ff0_0000_0000_0001,
            ),
            ("4.9406564584124654e-324", 1),
            ("2.4703282292062327e-324", 0),
            ("2.4703282292062328e-324", 1),
            ("123456789012345678901234567890e-30", 0x3fbf_9add_3746_f65f),
            ("1E+2", 100f64.to_bits()),
        ] {
            assert_eq!(number(text).to_f64().to_bits(), bits, "{text}");
        }
        assert_eq!(Number::UInt(9007199254740993).to_f64(), 9007199254740992.0);
        assert_eq!(Number::Int(-3).to_f64(), -3.0);
    }

    #[test]
    fn fixed_point_reads_the_decimal_text_exactly() {
        let million = 0..=1_000_000;
        let read = |text: &str| number(text).to_fixed_point(6, million.clone());
        assert_eq!(read("0.25"), Ok(250_000));
        assert_eq!(read("25e-2"), Ok(250_000));
        assert_eq!(read("0.0025E2"), Ok(250_000));
        assert_eq!(read("0.2500000000"), Ok(250_000));
        assert_eq!(read("0.000001"), Ok(1));
        assert_eq!(read("1"), Ok(1_000_000));
        assert_eq!(read("1.0"), Ok(1_000_000));
        assert_eq!(read("0"), Ok(0));
        assert_eq!(read("-0"), Ok(0));
        assert_eq!(read("-0.0e-9"), Ok(0));
        assert_eq!(read("0.1234567"), Err(FixedPointError::TooManyPlaces));
        assert_eq!(read("0.0000001"), Err(FixedPointError::TooManyPlaces));
        assert_eq!(
            read("0.5000000000000000000000001"),
            Err(FixedPointError::TooManyPlaces)
        );
        assert_eq!(
            read("1e-99999999999999999999"),
            Err(FixedPointError::TooManyPlaces)
        );
        assert_eq!(read("1.5"), Err(FixedPointError::OutOfRange));
        assert_eq!(read("2"), Err(FixedPointError::OutOfRange));
        assert_eq!(read("-1"), Err(FixedPointError::OutOfRange));
        assert_eq!(read("-0.000001"), Err(FixedPointError::OutOfRange));
        // Both too precise and out of range: out of range.
        assert_eq!(read("-0.0000001"), Err(FixedPointError::OutOfRange));
        assert_eq!(read("1.0000001"), Err(FixedPointError::OutOfRange));
        assert_eq!(read("1e300"), Err(FixedPointError::OutOfRange));
        assert_eq!(
            read("18446744073709551616"),
            Err(FixedPointError::OutOfRange)
        );
        let wide = i64::MIN..=i64::MAX;
        assert_eq!(
            number("-9223372036854.775808").to_fixed_point(6, wide.clone()),
            Ok(i64::MIN)
        );
        assert_eq!(
            number("9223372036854.775808").to_fixed_point(6, wide.clone()),
            Err(FixedPointError::OutOfRange)
        );
        assert_eq!(number("-12.5").to_fixed_point(1, wide.clone()), Ok(-125));
        assert_eq!(
            number("1").to_fixed_point(20, wide.clone()),
            Err(FixedPointError::OutOfRange)
        );
        assert_eq!(
            number("0.1").to_fixed_point(18, wide.clone()),
            Ok(100_000_000_000_000_000)
        );
        assert_eq!(
            number("9.223372036854775807").to_fixed_point(18, wide),
            Ok(i64::MAX)
        );
    }
}
