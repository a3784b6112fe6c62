//! Reading a parsed JSON document by hand, with the JSON path of every error.
//!
//! A configuration type can be read from a [`Value`] without a derived `Deserialize`:
//! every derived type costs its own copy of the deserializer in the wasm module, while
//! readers written with [`Node`] and [`Fields`] share one. Errors are worded like the
//! SDK's deserializer's (`expected a string, found 42`, ``unknown field `x`, expected
//! `a` or `b` ``, ``missing field `x` ``), so a configuration reads the same either way.
//!
//! ```
//! use wasmesh_sdk::config::reader::Node;
//! use wasmesh_sdk::config::{json, Value};
//! use wasmesh_sdk::ConfigError;
//!
//! fn greeting(value: &Value) -> Result<(String, bool), ConfigError> {
//!     let fields = Node::root(value).object(&["text", "loud"])?;
//!     let text = fields.required("text")?.string()?;
//!     let loud = fields.read_or("loud", false, Node::bool)?;
//!     Ok((text, loud))
//! }
//!
//! let value = json::parse(br#"{"text": 42}"#).unwrap_or(Value::Null);
//! let error = greeting(&value).unwrap_err();
//! assert_eq!(error.to_string(), "config.text: expected a string, found 42");
//! ```

use super::json::{FixedPointError, Number, Value};
use super::ConfigError;
use crate::reply::push_json_string;
use std::ops::RangeInclusive;

/// A value and where it is in the document (`rules[0].paths[1]`; empty for the root).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    value: &'a Value,
    path: String,
}

/// The members of an object whose keys have been checked (see [`Node::object`]).
#[derive(Debug)]
pub struct Fields<'a> {
    members: &'a [(String, Value)],
    path: String,
}

/// The path of `key` inside the value at `path`: `a.b`, or `b` at the root.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// How an error describes the value it found: `42`, `true`, `null`, `"text"` (as a JSON
/// string), `a fractional number` (as the deserializer says), a whole number that is not
/// written as a 64-bit integer as it is written (`-0`, `1.0`, `1e2`,
/// `18446744073709551616`), `an array` or `an object`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(Number::UInt(n)) => n.to_string(),
        Value::Number(Number::Int(n)) => n.to_string(),
        Value::Number(Number::Decimal(n)) if n.is_whole() => n.as_str().to_owned(),
        Value::Number(Number::Decimal(_)) => "a fractional number".to_owned(),
        Value::String(s) => {
            let mut out = String::new();
            push_json_string(&mut out, s);
            out
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The names an error offers: `` `a` ``, `` `a` or `b` ``, or `` one of `a`, `b`, `c` ``
/// (`nothing` when there are none).
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [first, second] => format!("{first} or {second}"),
        more => format!("one of {}", more.join(", ")),
    }
}

impl<'a> Node<'a> {
    /// The document root.
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    /// Where the value is (empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value itself, for keeping it as it is (e.g. another filter's configuration).
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// An error about this value.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path.clone(), reason)
    }

    /// The error `expected <what>, found <the value>`.
    pub fn expected(&self, what: &str) -> ConfigError {
        self.error(format!("expected {what}, found {}", describe(self.value)))
    }

    /// The object's members, refusing keys not in `known` and repeated keys. `known` is
    /// listed in errors in the order given.
    pub fn object(&self, known: &[&str]) -> Result<Fields<'a>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.expected("an object"));
        };
        for (index, (key, _)) in members.iter().enumerate() {
            if !known.contains(&key.as_str()) {
                return Err(ConfigError::at(
                    join(&self.path, key),
                    format!("unknown field `{key}`, expected {}", one_of(known)),
                ));
            }
            if members.iter().take(index).any(|(k, _)| k == key) {
                return Err(ConfigError::at(
                    join(&self.path, key),
                    format!("duplicate field `{key}`"),
                ));
            }
        }
        Ok(Fields {
            members,
            path: self.path.clone(),
        })
    }

    /// The members of an object used as a map (any key), in order, refusing repeated keys.
    pub fn map(&self) -> Result<Vec<(&'a str, Node<'a>)>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.expected("an object"));
        };
        let mut entries = Vec::with_capacity(members.len());
        for (index, (key, value)) in members.iter().enumerate() {
            let path = join(&self.path, key);
            if members.iter().take(index).any(|(k, _)| k == key) {
                return Err(ConfigError::at(path, format!("duplicate field `{key}`")));
            }
            entries.push((key.as_str(), Node { value, path }));
        }
        Ok(entries)
    }

    /// An object used as a map whose values are all strings, in order.
    pub fn string_map(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.map()?
            .into_iter()
            .map(|(key, value)| Ok((key.to_owned(), value.string()?)))
            .collect()
    }

    /// `expected <what>, found <number>`, quoting a [`Number::Decimal`] as written even
    /// when it is fractional (the digits are what is wrong).
    fn expected_number(&self, what: &str, number: &Number) -> ConfigError {
        match number {
            Number::Decimal(n) => self.error(format!("expected {what}, found {}", n.as_str())),
            _ => self.expected(what),
        }
    }

    /// The elements of an array.
    pub fn array(&self) -> Result<Vec<Node<'a>>, ConfigError> {
        let Value::Array(items) = self.value else {
            return Err(self.expected("a sequence"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    /// The elements of an array, each read with `read`.
    pub fn list<T>(
        &self,
        read: impl Fn(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.array()?.iter().map(read).collect()
    }

    /// The string.
    pub fn str(&self) -> Result<&'a str, ConfigError> {
        match self.value {
            Value::String(s) => Ok(s),
            _ => Err(self.expected("a string")),
        }
    }

    /// The string, owned.
    pub fn string(&self) -> Result<String, ConfigError> {
        self.str().map(str::to_owned)
    }

    /// The boolean.
    pub fn bool(&self) -> Result<bool, ConfigError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.expected("a boolean")),
        }
    }

    /// A non-negative integer no larger than `max`, written as one; `what` names the type
    /// in errors (`expected u16, found 70000`).
    ///
    /// As a derived `Deserialize` of an integer type (and `serde_json`), only digits are
    /// an integer: `-0`, `1.0` and `1e2` are refused (`expected u16, found 1e2`), although
    /// their values are whole, and so is every fraction.
    pub fn uint(&self, max: u64, what: &str) -> Result<u64, ConfigError> {
        match self.value {
            Value::Number(Number::UInt(n)) if *n <= max => Ok(*n),
            _ => Err(self.expected(what)),
        }
    }

    /// Any number, integers included, as the nearest `f64` (`expected f64, found "x"`);
    /// see [`Number::to_f64`]. This links the standard library's float parsing into the
    /// module: a value that must be exact, or a module that must stay small, reads
    /// [`Node::fixed_point`] instead.
    pub fn f64(&self) -> Result<f64, ConfigError> {
        match self.value {
            Value::Number(n) => Ok(n.to_f64()),
            _ => Err(self.expected("f64")),
        }
    }

    /// A number with at most `places` decimal places, read exactly from its text, as a
    /// whole number of `10^-places` within `range` (in those units): with 3 places and
    /// `0..=5000`, `2.5` is `2500`, `25e-1` too, `5` is `5000`, and `-0` is `0`. See
    /// [`Number::to_fixed_point`].
    ///
    /// Refused: a value that is not a number (`expected a number with at most 3 decimal
    /// places, found "x"`), one outside `range` (`must be between 0.0 and 5.0`, the bounds
    /// written as decimals), and one with more places (`expected a number with at most 3
    /// decimal places, found 2.5001`), out of range first.
    pub fn fixed_point(&self, places: u32, range: RangeInclusive<i64>) -> Result<i64, ConfigError> {
        let what = if places == 0 {
            "a whole number".to_owned()
        } else {
            format!("a number with at most {places} decimal places")
        };
        let Value::Number(number) = self.value else {
            return Err(self.expected(&what));
        };
        number
            .to_fixed_point(places, range.clone())
            .map_err(|error| match error {
                FixedPointError::OutOfRange => self.error(format!(
                    "must be between {} and {}",
                    fixed_point_text(*range.start(), places),
                    fixed_point_text(*range.end(), places)
                )),
                FixedPointError::TooManyPlaces => self.expected_number(&what, number),
            })
    }

    /// A probability, 0 to 1 with at most 9 decimal places, read exactly (see
    /// [`Probability`]); refused as [`Node::fixed_point`] with 9 places and the range 0 to
    /// 1 refuses (`expected a number with at most 9 decimal places, found 0.0000000001`,
    /// `must be between 0.0 and 1.0`).
    pub fn probability(&self) -> Result<Probability, ConfigError> {
        // The messages `fixed_point` would format, written out: smaller in wasm.
        const WHAT: &str = "a number with at most 9 decimal places";
        const RANGE: &str = "must be between 0.0 and 1.0";
        let Value::Number(number) = self.value else {
            return Err(self.expected(WHAT));
        };
        let one = i64::from(Probability::ONE.0);
        match number.to_fixed_point(Probability::PLACES, 0..=one) {
            // Within 0 to one billion: it fits.
            Ok(billionths) => Ok(Probability(
                u32::try_from(billionths).unwrap_or(Probability::ONE.0),
            )),
            Err(FixedPointError::OutOfRange) => Err(self.error(RANGE)),
            Err(FixedPointError::TooManyPlaces) => Err(self.expected_number(WHAT, number)),
        }
    }

    /// An array of strings.
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.list(Node::string)
    }

    /// The index in `names` of the string this value holds
    /// (``unknown value `x`, expected `a` or `b` `` otherwise).
    pub fn choice(&self, names: &[&str]) -> Result<usize, ConfigError> {
        let text = self.str()?;
        names.iter().position(|n| *n == text).ok_or_else(|| {
            self.error(format!(
                "unknown value `{text}`, expected {}",
                one_of(names)
            ))
        })
    }

    /// The value in `values` at the position of the string this value holds in `names`
    /// (the two lists go together, as the names and the variants of an enum; names
    /// without a value are not accepted).
    pub fn pick<T: Copy>(&self, names: &[&str], values: &[T]) -> Result<T, ConfigError> {
        let names = names.get(..values.len()).unwrap_or(names);
        let index = self.choice(names)?;
        values
            .get(index)
            .copied()
            .ok_or_else(|| self.expected(&one_of(names)))
    }
}

/// `value` units of `10^-places` as a decimal: `2500` with 3 places is `2.5`, `0` is `0.0`,
/// `-1000` is `-1.0` (trailing zeros dropped, one kept after the point).
fn fixed_point_text(value: i64, places: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    let Some(scale) = 10u64.checked_pow(places).filter(|_| places > 0) else {
        return format!("{sign}{magnitude}");
    };
    let mut fraction = format!("{:0width$}", magnitude % scale, width = places as usize);
    while fraction.len() > 1 && fraction.as_bytes().last() == Some(&b'0') {
        fraction.pop();
    }
    format!("{sign}{}.{fraction}", magnitude / scale)
}

/// A probability read exactly from its decimal text: a whole number of billionths, from 0
/// (`0`, `0.0`, `-0`) to one billion (`1`, `1.0`), so `0.1` is exactly one tenth rather
/// than the nearest binary fraction. Nine decimal places at most: `0.0000000001` is
/// refused, not rounded (trailing zeros do not count: `0.5000000000` is a half). Read it
/// with [`Node::probability`]; a derived `Deserialize` reads it the same way.
///
/// A configured probability is then used with integers only (no floating point in the
/// module): a sampler comparing a uniform 32-bit random number `r` with
/// `r * 10^9 < billionths * 2^32` samples with the probability rounded up to a multiple of
/// `2^-32` (exactly, for a half or a quarter). Nine places is the finest decimal
/// resolution for such 32-bit decisions: `10^-9` is more than `2^-32`, so two different
/// probabilities always make different decisions for some `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probability(u32);

impl Probability {
    /// Decimal places a probability may have.
    pub const PLACES: u32 = 9;
    /// Never.
    pub const ZERO: Probability = Probability(0);
    /// Always: one billion billionths.
    pub const ONE: Probability = Probability(1_000_000_000);

    /// The probability of `billionths` billionths; `None` above one billion.
    pub const fn from_billionths(billionths: u32) -> Option<Self> {
        if billionths <= Self::ONE.0 {
            Some(Self(billionths))
        } else {
            None
        }
    }

    /// The probability in billionths (0 to one billion).
    pub const fn billionths(self) -> u32 {
        self.0
    }
}

impl<'a> Fields<'a> {
    /// Where the object is.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The member `key` as written, `null` included.
    pub fn member(&self, key: &str) -> Option<Node<'a>> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| Node {
                value,
                path: join(&self.path, key),
            })
    }

    /// The member `key`, if present and not `null` (an optional field).
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.member(key).filter(|node| !node.is_null())
    }

    /// The member `key`, which must be present and not `null`
    /// (``missing field `key` `` otherwise).
    pub fn required(&self, key: &str) -> Result<Node<'a>, ConfigError> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// The member `key`, which must be present; a `null` is returned for its reader to
    /// refuse (`expected a string, found null`), as a derived `Deserialize` does.
    pub fn present(&self, key: &str) -> Result<Node<'a>, ConfigError> {
        self.member(key).ok_or_else(|| self.missing(key))
    }

    /// The error ``missing field `key` ``, about the object.
    pub fn missing(&self, key: &str) -> ConfigError {
        ConfigError::at(self.path.clone(), format!("missing field `{key}`"))
    }

    /// Reads the member `key` with `read`, or gives `default` when it is absent or `null`.
    pub fn read_or<T>(
        &self,
        key: &str,
        default: T,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            Some(node) => read(&node),
            None => Ok(default),
        }
    }

    /// Reads the member `key` with `read`, or gives `default` when it is absent; a `null`
    /// is given to `read` (which refuses it unless it accepts `null`), as serde's
    /// `#[serde(default)]` does for a field that is not an `Option`.
    pub fn read_given_or<T>(
        &self,
        key: &str,
        default: T,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.member(key) {
            Some(node) => read(&node),
            None => Ok(default),
        }
    }

    /// Reads the member `key` with `read` when it is present and not `null`.
    pub fn read_opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(key).map(|node| read(&node)).transpose()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn parse(json: &str) -> Value {
        crate::config::json::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn objects_refuse_unknown_and_repeated_keys() {
        let value = parse(r#"{"a": {"b": 1, "c": 2}}"#);
        let root = Node::root(&value).object(&["a"]).unwrap();
        let inner = root.required("a").unwrap();
        let error = inner.object(&["b"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "config.a.c: unknown field `c`, expected `b`"
        );
        assert!(inner.object(&["b", "c", "d"]).is_ok());
        let value = parse(r#"{"a": 1, "a": 2}"#);
        let error = Node::root(&value).object(&["a"]).unwrap_err();
        assert_eq!(error.to_string(), "config.a: duplicate field `a`");
        let missing = Node::root(&parse("{}"))
            .object(&["a"])
            .unwrap()
            .required("a")
            .unwrap_err();
        assert_eq!(missing.to_string(), "config: missing field `a`");
    }

    #[test]
    fn types_are_checked_and_described() {
        let value = parse(r#"{"s": 42, "b": "x", "n": 1.5, "l": [1], "c": "z", "big": 70000}"#);
        let fields = Node::root(&value)
            .object(&["s", "b", "n", "l", "c", "big"])
            .unwrap();
        let text = |key: &str, f: &dyn Fn(&Node) -> Result<(), ConfigError>| {
            f(&fields.required(key).unwrap()).unwrap_err().to_string()
        };
        assert_eq!(
            text("s", &|n| n.str().map(drop)),
            "config.s: expected a string, found 42"
        );
        assert_eq!(
            text("b", &|n| n.bool().map(drop)),
            "config.b: expected a boolean, found \"x\""
        );
        assert_eq!(
            text("n", &|n| n.uint(10, "u16").map(drop)),
            "config.n: expected u16, found a fractional number"
        );
        assert_eq!(
            text("big", &|n| n.uint(65535, "u16").map(drop)),
            "config.big: expected u16, found 70000"
        );
        assert_eq!(
            text("l", &|n| n.strings().map(drop)),
            "config.l[0]: expected a string, found 1"
        );
        assert_eq!(
            text("c", &|n| n.choice(&["x", "y", "w"]).map(drop)),
            "config.c: unknown value `z`, expected one of `x`, `y`, `w`"
        );
        assert_eq!(
            text("l", &|n| n.object(&[]).map(drop)),
            "config.l: expected an object, found an array"
        );
        assert_eq!(
            text("b", &|n| n.f64().map(drop)),
            "config.b: expected f64, found \"x\""
        );
    }

    #[test]
    fn numbers_read_as_floats() {
        let value = parse(r#"[0, -2, 0.25]"#);
        let items = Node::root(&value).list(Node::f64).unwrap();
        assert_eq!(items, [0.0, -2.0, 0.25]);
        let value = parse(r#"[-0, 1e-400, 0.1, 18446744073709551617, 9007199254740993.0]"#);
        let items = Node::root(&value).list(Node::f64).unwrap();
        let bits: Vec<u64> = items.iter().map(|n| n.to_bits()).collect();
        let expected = [-0.0, 0.0, 0.1, 18446744073709551616.0, 9007199254740992.0];
        assert_eq!(bits, expected.map(f64::to_bits));
    }

    #[test]
    fn unsigned_integers_must_be_written_as_integers() {
        let value = parse(r#"[7, -0, -0.0, 1.0, 1e2, 1E0, -1, 0.5, 18446744073709551616]"#);
        let items = Node::root(&value).array().unwrap();
        let read: Vec<Result<u64, String>> = items
            .iter()
            .map(|n| n.uint(u64::MAX, "u64").map_err(|e| e.to_string()))
            .collect();
        assert_eq!(
            read,
            [
                Ok(7),
                Err("config[1]: expected u64, found -0".to_owned()),
                Err("config[2]: expected u64, found -0.0".to_owned()),
                Err("config[3]: expected u64, found 1.0".to_owned()),
                Err("config[4]: expected u64, found 1e2".to_owned()),
                Err("config[5]: expected u64, found 1E0".to_owned()),
                Err("config[6]: expected u64, found -1".to_owned()),
                Err("config[7]: expected u64, found a fractional number".to_owned()),
                Err("config[8]: expected u64, found 18446744073709551616".to_owned()),
            ]
        );
    }

    #[test]
    fn fixed_point_numbers_are_read_exactly() {
        let value = parse(
            r#"{"a": 2.5, "b": 25e-1, "c": -0, "d": 5, "e": 2.5001, "f": 5.001, "g": -0.001,
                "h": "2", "i": 2.5000000, "j": 1e300, "k": null}"#,
        );
        let fields = Node::root(&value)
            .object(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])
            .unwrap();
        let read = |key: &str| {
            fields
                .member(key)
                .unwrap()
                .fixed_point(3, 0..=5000)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read("a"), Ok(2500));
        assert_eq!(read("b"), Ok(2500));
        assert_eq!(read("c"), Ok(0));
        assert_eq!(read("d"), Ok(5000));
        assert_eq!(read("i"), Ok(2500));
        assert_eq!(
            read("e").unwrap_err(),
            "config.e: expected a number with at most 3 decimal places, found 2.5001"
        );
        assert_eq!(
            read("f").unwrap_err(),
            "config.f: must be between 0.0 and 5.0"
        );
        assert_eq!(
            read("g").unwrap_err(),
            "config.g: must be between 0.0 and 5.0"
        );
        assert_eq!(
            read("h").unwrap_err(),
            "config.h: expected a number with at most 3 decimal places, found \"2\""
        );
        assert_eq!(
            read("j").unwrap_err(),
            "config.j: must be between 0.0 and 5.0"
        );
        assert_eq!(
            read("k").unwrap_err(),
            "config.k: expected a number with at most 3 decimal places, found null"
        );
        let whole = fields.member("a").unwrap().fixed_point(0, -3..=3);
        assert_eq!(
            whole.unwrap_err().to_string(),
            "config.a: expected a whole number, found 2.5"
        );
        assert_eq!(
            fields
                .member("d")
                .unwrap()
                .fixed_point(0, -3..=3)
                .unwrap_err()
                .reason(),
            "must be between -3 and 3"
        );
    }

    #[test]
    fn fixed_point_bounds_are_written_as_decimals() {
        assert_eq!(fixed_point_text(0, 9), "0.0");
        assert_eq!(fixed_point_text(1_000_000_000, 9), "1.0");
        assert_eq!(fixed_point_text(250_000_000, 9), "0.25");
        assert_eq!(fixed_point_text(-1_000_000_001, 9), "-1.000000001");
        assert_eq!(fixed_point_text(i64::MIN, 18), "-9.223372036854775808");
        assert_eq!(fixed_point_text(-7, 0), "-7");
        assert_eq!(fixed_point_text(7, 30), "7");
    }

    #[test]
    fn probabilities_are_billionths() {
        let value = parse(
            r#"[0.5, 0.1, 1, 0, -0, 1.0, 0.000000001, 0.1000000000, 1e-9,
                0.0000000001, 1.5, -0.1, 2, 1.0000000001, "half", 0.30000000000000004]"#,
        );
        let read: Vec<Result<u32, String>> = Node::root(&value)
            .array()
            .unwrap()
            .iter()
            .map(|n| {
                n.probability()
                    .map(Probability::billionths)
                    .map_err(|e| e.reason().to_owned())
            })
            .collect();
        let places = "expected a number with at most 9 decimal places, found";
        let range = "must be between 0.0 and 1.0".to_owned();
        assert_eq!(
            read,
            [
                Ok(500_000_000),
                Ok(100_000_000),
                Ok(1_000_000_000),
                Ok(0),
                Ok(0),
                Ok(1_000_000_000),
                Ok(1),
                Ok(100_000_000),
                Ok(1),
                Err(format!("{places} 0.0000000001")),
                Err(range.clone()),
                Err(range.clone()),
                Err(range.clone()),
                Err(range),
                Err(format!("{places} \"half\"")),
                Err(format!("{places} 0.30000000000000004")),
            ]
        );
        assert_eq!(Probability::from_billionths(1_000_000_001), None);
        assert_eq!(
            Probability::from_billionths(7).map(Probability::billionths),
            Some(7)
        );
        assert_eq!(Probability::ZERO.billionths(), 0);
    }

    #[test]
    fn probabilities_are_refused_as_fixed_point_numbers_are() {
        let value = parse(r#"[0.5, 1.5, -0, -0.1, 0.0000000001, 2, "x", null, 1e300, [1]]"#);
        for node in Node::root(&value).array().unwrap() {
            let general = node
                .fixed_point(9, 0..=1_000_000_000)
                .map(|n| u32::try_from(n).unwrap());
            let probability = node.probability().map(Probability::billionths);
            assert_eq!(probability, general, "{}", node.path());
        }
    }

    #[test]
    fn null_is_absent() {
        let value = parse(r#"{"a": null}"#);
        let fields = Node::root(&value).object(&["a"]).unwrap();
        assert!(fields.get("a").is_none());
        assert_eq!(fields.read_or("a", 7, |n| n.uint(9, "u8")).unwrap(), 7);
        assert_eq!(fields.read_opt("a", Node::bool).unwrap(), None);
        assert_eq!(
            fields.required("a").unwrap_err().to_string(),
            "config: missing field `a`"
        );
    }

    #[test]
    fn null_can_be_refused_where_a_default_does_not_apply() {
        let value = parse(r#"{"a": null}"#);
        let fields = Node::root(&value).object(&["a", "b"]).unwrap();
        let error = fields
            .read_given_or("a", 7, |n| n.uint(9, "u8"))
            .unwrap_err();
        assert_eq!(error.to_string(), "config.a: expected u8, found null");
        assert_eq!(fields.read_given_or("b", 7, |n| n.uint(9, "u8")), Ok(7));
        let error = fields.present("a").and_then(|n| n.string()).unwrap_err();
        assert_eq!(error.to_string(), "config.a: expected a string, found null");
        assert_eq!(
            fields.present("b").unwrap_err().to_string(),
            "config: missing field `b`"
        );
    }

    #[test]
    fn maps_keep_order_and_paths() {
        let value = parse(r#"{"m": {"x": 1, "y": 2}}"#);
        let fields = Node::root(&value).object(&["m"]).unwrap();
        let entries = fields.required("m").unwrap().map().unwrap();
        let keys: Vec<(&str, &str)> = entries.iter().map(|(k, n)| (*k, n.path())).collect();
        assert_eq!(keys, [("x", "m.x"), ("y", "m.y")]);
        let value = parse(r#"{"m": {"x": "1", "y": 2}}"#);
        let fields = Node::root(&value).object(&["m"]).unwrap();
        let error = fields.required("m").unwrap().string_map().unwrap_err();
        assert_eq!(error.to_string(), "config.m.y: expected a string, found 2");
    }

    #[test]
    fn pick_gives_the_value_named() {
        let value = parse(r#"["b", "c"]"#);
        let items = Node::root(&value).array().unwrap();
        let names = ["a", "b"];
        assert_eq!(items.first().unwrap().pick(&names, &[1, 2]), Ok(2));
        assert_eq!(
            items
                .get(1)
                .unwrap()
                .pick(&names, &[1, 2])
                .unwrap_err()
                .to_string(),
            "config[1]: unknown value `c`, expected `a` or `b`"
        );
        assert_eq!(
            items
                .first()
                .unwrap()
                .pick(&names, &[1])
                .unwrap_err()
                .to_string(),
            "config[0]: unknown value `b`, expected `a`"
        );
    }

    #[test]
    fn the_value_and_one_of() {
        let value = parse(r#"{"k": [1]}"#);
        let fields = Node::root(&value).object(&["k"]).unwrap();
        assert_eq!(fields.path(), "");
        let node = fields.required("k").unwrap();
        assert_eq!(
            node.value(),
            &Value::Array(vec![Value::Number(Number::UInt(1))])
        );
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a.b");
        assert_eq!(one_of(&[]), "nothing");
        assert_eq!(describe(&Value::Null), "null");
    }
}
