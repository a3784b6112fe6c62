//! Filter configuration: parsing the plugin configuration JSON and reporting errors
//! with the JSON path of the offending field.
//!
//! Every refusal is one line, `<filter>: config.<path>: <reason>`, for example
//! `hello: config.greeting: expected a string, found 42`, which the SDK logs at
//! `critical` before telling Envoy the configuration is refused.

use serde::de::DeserializeOwned;
use std::fmt;

/// Why a configuration was refused, and where in the JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    path: String,
    reason: String,
}

impl ConfigError {
    /// An error at `path` (relative to the configuration root, e.g. `rules[0].action`;
    /// empty for the root itself).
    pub fn at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The path relative to the configuration root (empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Why the value was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error, nested under `prefix` (e.g. `chain[1].config`).
    pub fn nested_in(self, prefix: &str) -> Self {
        let path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_owned(),
            (false, false) if self.path.starts_with('[') => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        Self { path, ..self }
    }
}

impl fmt::Display for ConfigError {
    /// `config.<path>: <reason>` (`config: <reason>` at the root), on one line: control
    /// characters that a key or value quoted in it may hold are escaped (`\n`), so a
    /// configuration can neither split the log line nor forge another.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separator = match self.path.as_str() {
            "" => "",
            path if path.starts_with('[') => "",
            _ => ".",
        };
        f.write_str("config")?;
        f.write_str(separator)?;
        write_escaped(f, &self.path)?;
        f.write_str(": ")?;
        write_escaped(f, &self.reason)
    }
}

/// Writes `text` with its control characters escaped.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

impl std::error::Error for ConfigError {}

mod de;
pub mod json;
pub mod reader;

pub use json::{Number, Value};

/// Parses a configuration from JSON bytes, reporting the JSON path of the first error.
pub fn parse<T: DeserializeOwned>(json: &[u8]) -> Result<T, ConfigError> {
    let value = json::parse(json).map_err(|e| ConfigError::at("", e.to_string()))?;
    from_value(value)
}

/// Deserializes a configuration from an already-parsed JSON value (e.g. one stage of a chain).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ConfigError> {
    T::deserialize(de::ValueDeserializer {
        value,
        path: de::Path::ROOT,
    })
    .map_err(|e| ConfigError::at(e.path.unwrap_or_default(), e.reason))
}

/// A filter's configuration from its parsed document: a [`Value`] configuration is the
/// document itself, moved rather than copied through the deserializer (so a module whose
/// filters all read their configuration by hand contains no deserializer); any other type
/// is deserialized with [`from_value`].
#[cfg(feature = "host")]
pub(crate) fn into_config<T: DeserializeOwned + 'static>(value: Value) -> Result<T, ConfigError> {
    use std::any::{Any, TypeId};
    if TypeId::of::<T>() == TypeId::of::<Value>() {
        let mut slot = Some(value);
        return (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
            .ok_or_else(|| ConfigError::at("", "the configuration could not be read"));
    }
    from_value(value)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        greeting: Option<String>,
        #[serde(default)]
        items: Vec<Inner>,
    }

    #[test]
    fn type_errors_name_the_path_and_what_was_found() {
        let err = parse::<Outer>(br#"{"greeting": 42}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.greeting: expected a string, found 42"
        );
    }

    #[test]
    fn nested_paths_use_indexes() {
        let err = parse::<Outer>(br#"{"items": [{"name": "a"}, {"name": true}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.items[1].name: expected a string, found true"
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_the_known_ones() {
        let err = parse::<Outer>(br#"{"greting": "hi"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.greting: unknown field `greting`, expected `greeting` or `items`"
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse::<Outer>(br#"{"greeting": "#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config: invalid JSON at line 1, column 14: unexpected end of input"
        );
    }

    #[test]
    fn enums_and_numbers_are_checked() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        enum Mode {
            Enforce,
            Shadow,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cfg {
            #[allow(dead_code)]
            mode: Mode,
            #[allow(dead_code)]
            #[serde(default)]
            limit: u16,
            #[allow(dead_code)]
            #[serde(default)]
            ratio: f64,
        }
        let err = parse::<Cfg>(br#"{"mode": "enforcing"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.mode: unknown value `enforcing`, expected `enforce` or `shadow`"
        );
        let err = parse::<Cfg>(br#"{"mode": "shadow", "limit": 70000}"#).unwrap_err();
        assert_eq!(err.to_string(), "config.limit: expected u16, found 70000");
        let err = parse::<Cfg>(br#"{"mode": "shadow", "limit": 1.5}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.limit: expected u16, found a fractional number"
        );
        let err = parse::<Cfg>(br#"{"mode": "shadow", "mode": "enforce"}"#).unwrap_err();
        assert_eq!(err.to_string(), "config.mode: duplicate field `mode`");
        let ok = parse::<Cfg>(br#"{"mode": "shadow", "ratio": 0.25}"#).unwrap();
        assert_eq!(ok.ratio, 0.25);
        let err = parse::<Cfg>(br#"{}"#).unwrap_err();
        assert_eq!(err.to_string(), "config: missing field `mode`");
    }

    #[test]
    fn a_raw_value_can_be_kept_and_read_later() {
        #[derive(Debug, Deserialize)]
        struct Holder {
            inner: Value,
        }
        let holder = parse::<Holder>(br#"{"inner": {"items": [{"name": 1}]}}"#).unwrap();
        let err = from_value::<Outer>(holder.inner).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.items[0].name: expected a string, found 1"
        );
    }

    #[test]
    fn strings_found_are_quoted() {
        let err = parse::<Inner>(br#"{"name": "a", "x": 1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.x: unknown field `x`, expected `name`"
        );
        #[derive(Debug, Deserialize)]
        struct Num {
            #[allow(dead_code)]
            n: u8,
        }
        let err = parse::<Num>(br#"{"n": "7\\"}"#).unwrap_err();
        assert_eq!(err.to_string(), r#"config.n: expected u8, found "7\\""#);
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(parse::<Outer>(br#"{} x"#).is_err());
    }

    #[test]
    fn wrong_container_kind_is_described() {
        let err = parse::<Outer>(br#"{"items": {}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.items: expected a sequence, found an object"
        );
        let err = parse::<Outer>(br#"{"greeting": "x\"y"}"#).map(|o| o.greeting);
        assert_eq!(err, Ok(Some("x\"y".to_owned())));
        let err = parse::<Outer>(br#"{"items": [{"name": []}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.items[0].name: expected a string, found an array"
        );
    }

    #[cfg(feature = "host")]
    #[test]
    fn a_value_configuration_is_the_document() {
        let value = json::parse(br#"{"a": [1, "x"]}"#).unwrap();
        assert_eq!(into_config::<Value>(value.clone()), Ok(value));
        let err = into_config::<Outer>(json::parse(br#"{"greeting": 1}"#).unwrap()).unwrap_err();
        assert_eq!(err.path(), "greeting");
    }

    #[test]
    fn nesting_prefixes_paths() {
        let err = ConfigError::at("rules[0]", "bad").nested_in("chain[2].config");
        assert_eq!(err.to_string(), "config.chain[2].config.rules[0]: bad");
        let root = ConfigError::at("", "bad").nested_in("chain[2].config");
        assert_eq!(root.to_string(), "config.chain[2].config: bad");
        let index = ConfigError::at("[3]", "bad").nested_in("list");
        assert_eq!(index.path(), "list[3]");
    }
}
