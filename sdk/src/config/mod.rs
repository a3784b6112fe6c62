//! Filter configuration: parsing the plugin configuration JSON and reporting errors
//! with the JSON path of the offending field.
//!
//! Every refusal is one line, `<filter>: config.<path>: <reason>`, for example
//! `hello: config.greeting: expected a string, found 42`, which the SDK logs at
//! `critical` before telling Envoy the configuration is refused.

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

pub mod json;
pub mod reader;

pub use json::{Number, Value};

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn nesting_prefixes_paths() {
        let err = ConfigError::at("rules[0]", "bad").nested_in("chain[2].config");
        assert_eq!(err.to_string(), "config.chain[2].config.rules[0]: bad");
        let root = ConfigError::at("", "bad").nested_in("chain[2].config");
        assert_eq!(root.to_string(), "config.chain[2].config: bad");
        let index = ConfigError::at("[3]", "bad").nested_in("list");
        assert_eq!(index.path(), "list[3]");
    }

    #[test]
    fn control_characters_never_split_the_line() {
        let err = ConfigError::at("a\nb", "bad\nvalue");
        assert_eq!(err.to_string().lines().count(), 1);
    }
}
