//! The SDK's JSON parser against `serde_json` (with `float_roundtrip`: correctly rounded
//! floats) over generated documents: both accept the same documents and refuse the same
//! ones, and what both accept has the same value.
//!
//! Values are compared by meaning: integers exactly and as integers, every other number as
//! the bits of its `f64` (both parsers round correctly, so they must agree to the bit,
//! `-0.0` included), objects as maps in which a repeated key has its last value (the SDK's
//! parser keeps every member in order and leaves repeated keys to the readers, which refuse
//! them; `serde_json`'s `Value` keeps the last).
//!
//! The one intended difference is the nesting limit: the SDK refuses more than
//! [`MAX_DEPTH`] (64) nested arrays and objects, `serde_json` more than 127. A document
//! `serde_json` accepts is refused by the SDK, `nested too deeply`, exactly when it nests
//! deeper than 64.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeMap;
use wasmesh_sdk::config::json::{self, Number, SyntaxError, Value, MAX_DEPTH};

/// A JSON value as both parsers should see it.
#[derive(Debug, PartialEq)]
enum Canon {
    Null,
    Bool(bool),
    UInt(u64),
    Int(i64),
    /// Any other number: the bits of its `f64`.
    Float(u64),
    String(String),
    Array(Vec<Canon>),
    Object(BTreeMap<String, Canon>),
}

fn ours(value: &Value) -> Canon {
    match value {
        Value::Null => Canon::Null,
        Value::Bool(b) => Canon::Bool(*b),
        Value::Number(Number::UInt(n)) => Canon::UInt(*n),
        Value::Number(Number::Int(n)) => Canon::Int(*n),
        Value::Number(n @ Number::Decimal(_)) => Canon::Float(n.to_f64().to_bits()),
        Value::String(s) => Canon::String(s.clone()),
        Value::Array(items) => Canon::Array(items.iter().map(ours).collect()),
        // A repeated key: the last one, as in serde_json's map.
        Value::Object(members) => Canon::Object(
            members
                .iter()
                .map(|(key, value)| (key.clone(), ours(value)))
                .collect(),
        ),
    }
}

fn theirs(value: &serde_json::Value) -> Canon {
    match value {
        serde_json::Value::Null => Canon::Null,
        serde_json::Value::Bool(b) => Canon::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                Canon::UInt(n)
            } else if let Some(n) = n.as_i64() {
                Canon::Int(n)
            } else {
                Canon::Float(n.as_f64().unwrap().to_bits())
            }
        }
        serde_json::Value::String(s) => Canon::String(s.clone()),
        serde_json::Value::Array(items) => Canon::Array(items.iter().map(theirs).collect()),
        serde_json::Value::Object(members) => Canon::Object(
            members
                .iter()
                .map(|(key, value)| (key.clone(), theirs(value)))
                .collect(),
        ),
    }
}

/// How many arrays and objects are nested at the deepest point (0 for a scalar).
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

const OUT_OF_RANGE: &str = "number out of range";

/// Whether the two results agree, and if not, how they differ.
fn compare(
    ours_result: Result<Value, SyntaxError>,
    theirs_result: Result<serde_json::Value, serde_json::Error>,
) -> Result<(), String> {
    match (ours_result, theirs_result) {
        (Ok(o), Ok(t)) => {
            if depth(&t) > MAX_DEPTH {
                return Err(format!("accepted {} levels of nesting", depth(&t)));
            }
            let (o, t) = (ours(&o), theirs(&t));
            if o == t {
                Ok(())
            } else {
                Err(format!("values differ: ours {o:?}, serde_json {t:?}"))
            }
        }
        (Err(o), Ok(t)) if depth(&t) > MAX_DEPTH && o.reason == "nested too deeply" => Ok(()),
        (Err(o), Ok(t)) => Err(format!(
            "ours refused ({o}) what serde_json accepts ({} levels deep)",
            depth(&t)
        )),
        (Ok(o), Err(t)) => Err(format!("ours accepted {o:?}, serde_json refused: {t}")),
        (Err(o), Err(t)) => {
            // Both read from left to right and stop at the first error: a number out of
            // range is that error for both, unless the SDK's lower nesting limit came first.
            let theirs_range = t.to_string().starts_with(OUT_OF_RANGE);
            let ours_range = o.reason.starts_with(OUT_OF_RANGE);
            if theirs_range != ours_range && o.reason != "nested too deeply" {
                Err(format!("different refusals: ours {o}, serde_json {t}"))
            } else {
                Ok(())
            }
        }
    }
}

/// Parses `document` with both and compares.
fn differ(document: &[u8]) -> Result<(), String> {
    compare(
        json::parse(document),
        serde_json::from_slice::<serde_json::Value>(document),
    )
}

fn check(document: &[u8]) -> Result<(), TestCaseError> {
    differ(document).map_err(|why| {
        TestCaseError::fail(format!(
            "{why}\ndocument: {:?}",
            String::from_utf8_lossy(document)
        ))
    })
}

// Generators ------------------------------------------------------------------------------

/// `2^1024 - 2^970`, the smallest magnitude that rounds to infinity, without its last digit.
const LIMIT_PREFIX: &str =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017\
    977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273\
    854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704\
    34271155969950809304288017790417449779";

/// Numbers chosen for their edges: integer limits, `f64` limits, halfway cases, `-0`.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0e0",
    "-0E-0",
    "0.0e99999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "9223372036854775807",
    "9223372036854775808",
    "9007199254740993",
    "9007199254740993.0",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "-1.7976931348623159e308",
    "2.2250738585072011e-308",
    "2.2250738585072014e-308",
    "4.9406564584124654e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203126",
    "1e400",
    "-1e400",
    "1e-400",
    "-1e-400",
    "1e99999999999999999999",
    "1e-99999999999999999999",
    "0.1",
    "0.5",
    "1E+2",
];

fn digits(min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(select(b"0123456789".to_vec()), min..=max).prop_map(|d| String::from_utf8(d).unwrap())
}

/// A valid number of any shape: small, long (20+ digits), with fractions of every length,
/// exponents near the `f64` limits or far beyond, and the edge cases.
fn valid_number() -> impl Strategy<Value = String> {
    let sign = prop_oneof![2 => Just(""), 1 => Just("-")];
    let integer = prop_oneof![
        3 => Just("0".to_owned()),
        5 => "[1-9][0-9]{0,3}",
        3 => "[1-9][0-9]{15,25}",
    ];
    let fraction = prop_oneof![
        5 => Just(String::new()),
        4 => digits(1, 4).prop_map(|d| format!(".{d}")),
        2 => digits(15, 40).prop_map(|d| format!(".{d}")),
        2 => "\\.0{1,30}[1-9]?",
    ];
    let exponent = prop_oneof![
        10 => Just(String::new()),
        5 => "[eE][+-]?[0-9]{1,3}",
        2 => "[eE][+-]?0*(29[0-9]|30[0-9]|31[0-9]|32[0-9]|33[0-9])",
        1 => "[eE][+-]?[0-9]{18,25}",
    ];
    prop_oneof![
        8 => (sign, integer, fraction, exponent).prop_map(|(s, i, f, e)| format!("{s}{i}{f}{e}")),
        2 => select(EDGE_NUMBERS).prop_map(str::to_owned),
        // Around f64::MAX and the overflow limit, written out or with an exponent.
        1 => ("-?", "1\\.797693134862315[0-9]{0,20}", "e30[78]")
            .prop_map(|(s, m, e)| format!("{s}{m}{e}")),
        1 => (
            "-?",
            "[0-9]{1,6}",
            prop_oneof![Just(String::new()), Just("e-3".to_owned()), "\\.[0-9]{1,3}"]
        )
            .prop_map(|(s, tail, e)| format!("{s}{LIMIT_PREFIX}{tail}{e}")),
    ]
}

/// A number that JSON may not allow: a `+`, leading zeros, missing digits.
fn wild_number() -> impl Strategy<Value = String> {
    let sign = select(&["", "-", "+", "--"][..]);
    let integer = select(&["0", "00", "01", "007", "", "1", "12"][..]);
    let fraction = select(&["", ".", ".5", ".0"][..]);
    let exponent = select(&["", "e", "E+", "e-", "e1", "e+02", "e99999999999999999999"][..]);
    (sign, integer, fraction, exponent).prop_map(|(s, i, f, e)| format!("{s}{i}{f}{e}"))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![5 => valid_number(), 1 => wild_number()]
}

/// A piece of a valid string literal's inside: plain text, any character that needs no
/// escape, every escape, surrogate pairs.
fn clean_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => "[a-zA-Z0-9 ]{0,4}".prop_map(String::into_bytes),
        3 => any::<char>()
            .prop_filter("needs an escape", |c| !matches!(c, '"' | '\\' | '\0'..='\u{1f}'))
            .prop_map(|c| c.to_string().into_bytes()),
        3 => select(&["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"][..])
            .prop_map(|e| e.as_bytes().to_vec()),
        3 => prop_oneof![0u32..0xD800, 0xE000u32..0x10000]
            .prop_map(|code| format!("\\u{code:04x}").into_bytes()),
        2 => (0xD800u32..0xDC00, 0xDC00u32..0xE000)
            .prop_map(|(high, low)| format!("\\u{high:04x}\\u{low:04X}").into_bytes()),
    ]
}

/// A piece that may make a string invalid: lone surrogates, invalid escapes, raw control
/// characters, invalid UTF-8, or a quote or backslash of its own.
fn wild_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "\\\\u[0-9a-fA-F]{4}".prop_map(String::into_bytes),
        2 => (
            0xD800u32..0xDC00,
            select(&["", "x", "\\u0041", "\\n", "\\ud83d", "\\", "\\u"][..])
        )
            .prop_map(|(high, after)| format!("\\u{high:04x}{after}").into_bytes()),
        1 => (0xDC00u32..0xE000).prop_map(|low| format!("\\u{low:04x}").into_bytes()),
        2 => select(&["\\x", "\\u12", "\\U0041", "\\", "\\'", "\\u00g0", "\""][..])
            .prop_map(|e| e.as_bytes().to_vec()),
        1 => (0u8..0x20).prop_map(|b| vec![b]),
        2 => select(vec![
            b"\xff".to_vec(),
            b"\xc3".to_vec(),
            b"\xe2\x82".to_vec(),
            b"\xed\xa0\x80".to_vec(),
            b"\xf4\x90\x80\x80".to_vec(),
            b"\xc0\xaf".to_vec(),
            b"\x7f".to_vec(),
            b"\xc3\xa9".to_vec(),
        ]),
    ]
}

fn string() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![12 => clean_piece(), 1 => wild_piece()], 0..5).prop_map(|pieces| {
        let mut out = vec![b'"'];
        out.extend(pieces.concat());
        out.push(b'"');
        out
    })
}

/// Keys from a small set, so objects repeat them, or any string.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => select(&["\"a\"", "\"b\"", "\"\"", "\"\\u0061\""][..]).prop_map(|k| k.as_bytes().to_vec()),
        1 => string(),
    ]
}

/// JSON whitespace, now and then something that is not (NBSP, vertical tab, form feed).
fn space() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        40 => Just(Vec::new()),
        15 => select(&[" ", "\n", "\t", "\r\n  "][..]).prop_map(|s| s.as_bytes().to_vec()),
        1 => select(vec![b"\xc2\xa0".to_vec(), b"\x0b".to_vec(), b"\x0c".to_vec()]),
    ]
}

fn scalar() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => select(&["null", "true", "false"][..]).prop_map(|w| w.as_bytes().to_vec()),
        12 => number().prop_map(String::into_bytes),
        8 => string(),
        1 => select(&["nul", "True", "NaN", "Infinity", "-Infinity", "undefined", "'a'"][..])
            .prop_map(|w| w.as_bytes().to_vec()),
    ]
}

/// The separator after an item: `,`, and now and then none, two, or a stray one at the end.
fn join(items: Vec<Vec<u8>>, glitch: u8) -> Vec<u8> {
    let count = items.len();
    let mut out = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        out.extend(item);
        let last = index + 1 == count;
        match (glitch, last) {
            (0, false) => {}
            (1, false) => out.extend_from_slice(b",,"),
            (2, true) => out.push(b','),
            (_, false) => out.push(b','),
            (_, true) => {}
        }
    }
    out
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    scalar().prop_recursive(4, 32, 5, |inner| {
        let glitch = prop_oneof![1 => 0u8..3, 30 => Just(3u8)];
        let item = (space(), inner.clone(), space()).prop_map(|(a, v, b)| [a, v, b].concat());
        let colon = prop_oneof![60 => Just(&b":"[..]), 1 => Just(&b""[..]), 1 => Just(&b"::"[..])];
        let member = (space(), key(), space(), colon, space(), inner, space())
            .prop_map(|(a, k, b, c, d, v, e)| [a, k, b, c.to_vec(), d, v, e].concat());
        prop_oneof![
            (vec(item, 0..5), glitch.clone())
                .prop_map(|(items, g)| { [b"[".to_vec(), join(items, g), b"]".to_vec()].concat() }),
            (vec(member, 0..5), glitch).prop_map(|(members, g)| {
                [b"{".to_vec(), join(members, g), b"}".to_vec()].concat()
            }),
        ]
    })
}

/// A whole document: a value between spaces, now and then with something after it.
fn document() -> impl Strategy<Value = Vec<u8>> {
    let after = prop_oneof![
        20 => Just(Vec::new()),
        1 => select(&["x", "{}", "1", ",", "\u{0}"][..]).prop_map(|s| s.as_bytes().to_vec()),
    ];
    (space(), value(), space(), after).prop_map(|(a, v, b, c)| [a, v, b, c].concat())
}

/// A value inside `levels` arrays and objects, around both parsers' nesting limits.
fn deep() -> impl Strategy<Value = Vec<u8>> {
    let levels = prop_oneof![MAX_DEPTH - 2..=MAX_DEPTH + 2, 120usize..=130, Just(1usize),];
    (levels, vec(any::<bool>(), 130), scalar()).prop_map(|(levels, objects, inside)| {
        let mut out = Vec::new();
        for &object in objects.iter().take(levels) {
            out.extend_from_slice(if object { b"{\"k\": " } else { b"[" });
        }
        out.extend(inside);
        for &object in objects.iter().take(levels).rev() {
            out.push(if object { b'}' } else { b']' });
        }
        out
    })
}

/// Bytes that make up JSON, and some that do not.
const ALPHABET: &[u8] = b"{}[],:\"\\-+.eE0123456789 \t\n\rtruefalsn\x00\x1f\x7f\xff\xc3\xa9u";

/// One edit of a document: where (as a share of its length) and which byte.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    Truncate(usize),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = select(ALPHABET.to_vec());
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Replace(at, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ]
}

fn apply(mut document: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = document.len();
        let at = |n: usize| if len == 0 { 0 } else { n % len };
        match *edit {
            Edit::Delete(n) if len > 0 => {
                document.remove(at(n));
            }
            Edit::Insert(n, byte) => document.insert(n % (len + 1), byte),
            Edit::Replace(n, byte) if len > 0 => document[at(n)] = byte,
            Edit::Truncate(n) => document.truncate(n % (len + 1)),
            Edit::Repeat(n, count) if len > 0 => {
                let start = at(n);
                let end = (start + count).min(len);
                let copy = document[start..end].to_vec();
                document.splice(start..start, copy);
            }
            _ => {}
        }
    }
    document
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (document(), vec(edit(), 1..4)).prop_map(|(document, edits)| apply(document, &edits))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep no regression files in the source tree; a failure prints its document.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn generated_documents_parse_as_serde_json_parses_them(document in document()) {
        check(&document)?;
    }

    #[test]
    fn mutated_documents_parse_as_serde_json_parses_them(document in mutated()) {
        check(&document)?;
    }
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_bytes_parse_as_serde_json_parses_them(document in vec(select(ALPHABET.to_vec()), 0..40)) {
        check(&document)?;
    }

    #[test]
    fn numbers_parse_as_serde_json_parses_them(number in number()) {
        check(number.as_bytes())?;
        check(format!("[{number}]").as_bytes())?;
        check(format!("{{\"n\":{number}}}").as_bytes())?;
    }
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn nesting_differs_only_past_the_sdk_limit(document in deep()) {
        check(&document)?;
    }
}

// The comparison itself ----------------------------------------------------------------------

fn both(ours_text: &str, theirs_text: &str) -> Result<(), String> {
    compare(
        json::parse(ours_text.as_bytes()),
        serde_json::from_str(theirs_text),
    )
}

#[test]
fn the_comparison_tells_different_results_apart() {
    assert_eq!(both("[0.1, -0, 1e2]", "[0.1, -0, 1e2]"), Ok(()));
    assert_eq!(both("0.1", "0.1000000000000000055511151231257827"), Ok(()));
    assert!(both("0.1", "0.10000000000000002").is_err());
    assert!(both("-0", "0").is_err());
    assert!(both("-0", "0.0").is_err());
    assert!(both("1", "1.0").is_err());
    assert!(both("-1", "-1.0").is_err());
    assert!(both("[1]", "[1, 2]").is_err());
    assert!(both("{\"a\": 1}", "{\"b\": 1}").is_err());
    assert!(both("\"\\u00e9\"", "\"e\"").is_err());
    assert!(both("[1]", "[1").is_err());
    assert!(both("[1", "[1]").is_err());
    assert!(both("1e400", "[").is_err());
    assert!(both("[", "1e400").is_err());
    assert_eq!(both("1e400", "1e400"), Ok(()));
}

#[test]
fn repeated_keys_are_kept_in_order_and_compared_as_the_last() {
    let text = r#"{"a": 1, "b": 2, "a": [3]}"#;
    let value = json::parse(text.as_bytes()).unwrap();
    let Value::Object(members) = &value else {
        panic!("{value:?}");
    };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "a"]);
    let theirs_value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(theirs_value["a"], serde_json::json!([3]));
    assert_eq!(ours(&value), theirs(&theirs_value));
    assert!(both(text, r#"{"a": [3], "b": 2}"#).is_ok());
    assert!(both(text, r#"{"a": 1, "b": 2}"#).is_err());
}

#[test]
fn the_nesting_limits_are_64_and_127() {
    assert_eq!(MAX_DEPTH, 64);
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    for levels in [64, 65, 127, 128] {
        let text = nested(levels);
        assert_eq!(
            json::parse(text.as_bytes()).is_ok(),
            levels <= 64,
            "{levels}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            levels <= 127,
            "{levels}"
        );
        assert_eq!(differ(text.as_bytes()), Ok(()), "{levels}");
    }
}

#[test]
fn serde_json_reads_minus_zero_and_tiny_numbers_as_floats() {
    let value: serde_json::Value = serde_json::from_str("[-0, 1e-400, -1e-400]").unwrap();
    let bits: Vec<u64> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert!(n.is_f64(), "{n}");
            n.as_f64().unwrap().to_bits()
        })
        .collect();
    assert_eq!(bits, [(-0.0f64).to_bits(), 0, (-0.0f64).to_bits()]);
    let error = serde_json::from_str::<serde_json::Value>("1e400").unwrap_err();
    assert!(error.to_string().starts_with(OUT_OF_RANGE), "{error}");
    assert_eq!(differ(b"[-0, 1e-400, -1e-400]"), Ok(()));
}
