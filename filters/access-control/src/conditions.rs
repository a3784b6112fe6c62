//! Header conditions: present (or absent), exact value, value prefix.
//!
//! A header a condition reads must appear at most once: a request repeating it is denied
//! before any rule is evaluated (see [`crate::policy::Policy::repeated_condition_header`]),
//! because an application reading the first value and a policy reading another would
//! disagree about the request.

use crate::config::HeaderConditionConfig;
use crate::names::{is_header_name, is_header_value};
use wasmesh_sdk::HeaderMap;

/// A compiled header condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    name: Box<str>,
    test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Present(bool),
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
}

impl HeaderCondition {
    /// Compiles a condition; the error names the offending key (relative to the
    /// condition) and says what is wrong.
    pub fn compile(config: &HeaderConditionConfig) -> Result<Self, (&'static str, String)> {
        let name = config.name.to_ascii_lowercase();
        if name.starts_with(':') {
            return Err((
                "name",
                format!(
                    "`{}`: pseudo-headers are matched by `methods`, `paths` and `hosts`",
                    config.name
                ),
            ));
        }
        if !is_header_name(&name) {
            return Err(("name", format!("`{}` is not a header name", config.name)));
        }
        let test = match (&config.present, &config.exact, &config.prefix) {
            (Some(present), None, None) => Test::Present(*present),
            (None, Some(exact), None) => Test::Exact(value(exact, "exact")?),
            (None, None, Some(prefix)) if prefix.is_empty() => {
                return Err((
                    "prefix",
                    "an empty prefix matches any value; use `\"present\": true`".into(),
                ))
            }
            (None, None, Some(prefix)) => Test::Prefix(value(prefix, "prefix")?),
            _ => {
                return Err((
                    "",
                    "give exactly one of `present`, `exact` and `prefix`".into(),
                ))
            }
        };
        Ok(Self {
            name: name.into(),
            test,
        })
    }

    /// The header name (lowercase).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the condition holds (on the first value, the only one once repeats are
    /// refused).
    pub fn holds(&self, headers: &HeaderMap) -> bool {
        let value = headers.first(&self.name);
        match (&self.test, value) {
            (Test::Present(wanted), value) => value.is_some() == *wanted,
            (Test::Exact(exact), Some(value)) => value == exact.as_ref(),
            (Test::Prefix(prefix), Some(value)) => value.starts_with(prefix),
            (Test::Exact(_) | Test::Prefix(_), None) => false,
        }
    }
}

fn value(text: &str, key: &'static str) -> Result<Box<[u8]>, (&'static str, String)> {
    if is_header_value(text) {
        Ok(text.as_bytes().into())
    } else {
        Err((
            key,
            "a header value is visible ASCII, spaces and tabs".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(json: &str) -> Result<HeaderCondition, (&'static str, String)> {
        let document =
            format!(r#"{{"rules": [{{"name": "r", "action": "allow", "headers": [{json}]}}]}}"#);
        let value = wasmesh_sdk::config::json::parse(document.as_bytes()).unwrap();
        let mut config = crate::config::Config::read(&value).unwrap();
        let condition = config.rules.remove(0).headers.unwrap().remove(0);
        HeaderCondition::compile(&condition)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    #[test]
    fn present_exact_prefix() {
        let present = condition(r#"{"name": "X-Env", "present": true}"#).unwrap();
        assert_eq!(present.name(), "x-env");
        assert!(present.holds(&headers(&[("x-env", "")])));
        assert!(!present.holds(&headers(&[])));
        let absent = condition(r#"{"name": "x-env", "present": false}"#).unwrap();
        assert!(absent.holds(&headers(&[])));
        assert!(!absent.holds(&headers(&[("x-env", "a")])));
        let exact = condition(r#"{"name": "x-env", "exact": "prod"}"#).unwrap();
        assert!(exact.holds(&headers(&[("x-env", "prod")])));
        assert!(!exact.holds(&headers(&[("x-env", "prod2")])));
        assert!(!exact.holds(&headers(&[])));
        let prefix = condition(r#"{"name": "x-env", "prefix": "canary-"}"#).unwrap();
        assert!(prefix.holds(&headers(&[("x-env", "canary-7")])));
        assert!(!prefix.holds(&headers(&[("x-env", "canary")])));
    }

    #[test]
    fn bad_conditions_name_the_key() {
        assert_eq!(
            condition(r#"{"name": ":path", "present": true}"#)
                .unwrap_err()
                .0,
            "name"
        );
        assert_eq!(
            condition(r#"{"name": "a b", "present": true}"#)
                .unwrap_err()
                .0,
            "name"
        );
        assert_eq!(condition(r#"{"name": "a"}"#).unwrap_err().0, "");
        assert_eq!(
            condition(r#"{"name": "a", "exact": "x", "prefix": "y"}"#)
                .unwrap_err()
                .0,
            ""
        );
        assert_eq!(
            condition(r#"{"name": "a", "prefix": ""}"#).unwrap_err().0,
            "prefix"
        );
        assert_eq!(
            condition(r#"{"name": "a", "exact": "\n"}"#).unwrap_err().0,
            "exact"
        );
    }
}
