//! `Number::to_fixed_point` against a reading of the same text by moving its decimal point
//! in a string: both give the same integer, or refuse for the same reason.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use std::ops::RangeInclusive;
use wasmesh_sdk::config::json::{self, FixedPointError, Value};

/// The number `text` times `10^places` by string surgery: its sign, its integer part (`None`
/// beyond `u128`), and whether non-zero digits fell below the point.
fn shifted(text: &str, places: u32) -> (bool, Option<u128>, bool) {
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches('-');
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().unwrap()),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{integer}{fraction}");
    // The point sits after `integer.len()` digits; move it right by exponent + places.
    let point = integer.len() as i64 + exponent + i64::from(places);
    let (whole, below) = if point <= 0 {
        (String::new(), digits.clone())
    } else if point as usize >= digits.len() {
        (
            digits.clone() + &"0".repeat(point as usize - digits.len()),
            String::new(),
        )
    } else {
        let (a, b) = digits.split_at(point as usize);
        (a.to_owned(), b.to_owned())
    };
    let whole = whole.trim_start_matches('0');
    let magnitude = if whole.is_empty() {
        Some(0)
    } else {
        whole.parse::<u128>().ok()
    };
    (negative, magnitude, below.bytes().any(|b| b != b'0'))
}

fn expected(text: &str, places: u32, range: &RangeInclusive<i64>) -> Result<i64, FixedPointError> {
    let (negative, magnitude, cut) = shifted(text, places);
    let Some(magnitude) = magnitude.and_then(|m| i128::try_from(m).ok()) else {
        return Err(FixedPointError::OutOfRange);
    };
    let value = if negative { -magnitude } else { magnitude };
    let (low, high) = (i128::from(*range.start()), i128::from(*range.end()));
    // The exact value is `value` plus a fraction away from zero when `cut`.
    let below = value < low || (value == low && cut && negative);
    let above = value > high || (value == high && cut && !negative);
    if below || above {
        Err(FixedPointError::OutOfRange)
    } else if cut {
        Err(FixedPointError::TooManyPlaces)
    } else {
        Ok(i64::try_from(value).unwrap())
    }
}

fn number() -> impl Strategy<Value = String> {
    let integer = prop_oneof![
        Just("0".to_owned()),
        "[1-9][0-9]{0,12}",
        "[1-9][0-9]{17,22}"
    ];
    let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{1,15}", "\\.[0-9]{1,3}0{1,9}"];
    let exponent = prop_oneof![Just(String::new()), "[eE][+-]?[0-9]{1,2}"];
    ("-?", integer, fraction, exponent).prop_map(|(s, i, f, e)| format!("{s}{i}{f}{e}"))
}

fn range(places: u32) -> impl Strategy<Value = RangeInclusive<i64>> {
    let one = 10i64.pow(places);
    prop_oneof![
        Just(0..=one),
        Just(-one..=one),
        Just(i64::MIN..=i64::MAX),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| a.min(b)..=a.max(b)),
        (-1000i64..1000, 0i64..2000).prop_map(|(low, width)| low..=low + width),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fixed_point_numbers_are_the_decimal_text_shifted(
        (text, places, range) in (number(), 0u32..=12)
            .prop_flat_map(|(text, places)| (Just(text), Just(places), range(places)))
    ) {
        let Ok(Value::Number(number)) = json::parse(text.as_bytes()) else {
            panic!("{text} is not a number");
        };
        prop_assert_eq!(
            number.to_fixed_point(places, range.clone()),
            expected(&text, places, &range),
            "{} with {} places in {:?}", text, places, range
        );
    }
}

#[test]
fn the_reference_moves_the_point() {
    assert_eq!(shifted("-12.50e-1", 3), (true, Some(1250), false));
    assert_eq!(shifted("0.0001", 3), (false, Some(0), true));
    assert_eq!(shifted("7e2", 0), (false, Some(700), false));
    assert_eq!(expected("0.25", 2, &(0..=100)), Ok(25));
    assert_eq!(
        expected("0.251", 2, &(0..=100)),
        Err(FixedPointError::TooManyPlaces)
    );
    assert_eq!(
        expected("1.001", 2, &(0..=100)),
        Err(FixedPointError::OutOfRange)
    );
}
