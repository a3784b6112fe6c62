//! Checks made before the rules: the request path must be canonical, and method-override
//! headers are refused or evaluated.

use crate::config::{MethodOverrideAction, MethodOverrideConfig, NonCanonicalPath, PathConfig};
use crate::method::Method;
use crate::names::is_header_name;
use wasmesh_path::{canonicalize, CanonicalPath, PathOptions};
use wasmesh_sdk::{ConfigError, HeaderMap};

/// The compiled path check.
#[derive(Debug, Clone)]
pub struct PathCheck {
    options: PathOptions,
    non_canonical: NonCanonicalPath,
}

/// What the path check made of a request's `:path`.
#[derive(Debug)]
pub enum PathVerdict<'a> {
    /// Already canonical: match on it.
    Canonical(CanonicalPath<'a>),
    /// Not canonical, and configured to be normalized: rewrite `:path`, then match.
    Normalize(CanonicalPath<'a>),
    /// Not canonical, and configured to be denied.
    NotCanonical(CanonicalPath<'a>),
    /// Cannot be canonicalized (or `:path` is missing or repeated); the reason names why.
    Invalid(&'static str),
}

impl PathCheck {
    /// Compiles the `path` object (the case option belongs to the path patterns).
    pub fn new(config: &PathConfig) -> Self {
        Self {
            options: config.canonicalization.clone(),
            non_canonical: config.non_canonical,
        }
    }

    /// The canonical form policy paths are written in.
    pub fn options(&self) -> &PathOptions {
        &self.options
    }

    /// Whether a path that is not canonical is rewritten (`non_canonical: normalize`).
    pub fn normalizes(&self) -> bool {
        self.non_canonical == NonCanonicalPath::Normalize
    }

    /// Checks the `:path` header: `Ok(value)` when it appears once, `Err(count)` otherwise.
    pub fn check<'a>(&self, raw: Result<&'a [u8], usize>) -> PathVerdict<'a> {
        let raw = match raw {
            Ok(raw) => raw,
            Err(0) => return PathVerdict::Invalid("missing_path"),
            Err(_) => return PathVerdict::Invalid("repeated_path"),
        };
        match canonicalize(raw, &self.options) {
            Err(rejection) => PathVerdict::Invalid(rejection.rule()),
            Ok(canonical) if !canonical.is_changed() => PathVerdict::Canonical(canonical),
            Ok(canonical) => match self.non_canonical {
                NonCanonicalPath::Deny => PathVerdict::NotCanonical(canonical),
                NonCanonicalPath::Normalize => PathVerdict::Normalize(canonical),
            },
        }
    }
}

/// The compiled method-override check.
#[derive(Debug, Clone)]
pub struct MethodOverride {
    action: MethodOverrideAction,
    headers: Vec<Box<str>>,
}

/// What the method-override check made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideVerdict {
    /// No override header.
    Absent,
    /// Deny the request; the reason says why.
    Refuse(&'static str),
    /// Evaluate the policy for each of these methods too.
    Evaluate(Vec<Option<Method>>),
}

impl MethodOverride {
    /// Compiles `method_override`; error paths start with `method_override.`.
    pub fn compile(config: MethodOverrideConfig) -> Result<Self, ConfigError> {
        if config.headers.is_empty() {
            return Err(ConfigError::at(
                "method_override.headers",
                "list at least one header; omit the field for the defaults",
            ));
        }
        let mut headers = Vec::with_capacity(config.headers.len());
        for (index, name) in config.headers.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            if !is_header_name(&lower) {
                return Err(ConfigError::at(
                    format!("method_override.headers[{index}]"),
                    format!("`{name}` is not a header name"),
                ));
            }
            headers.push(lower.into_boxed_str());
        }
        Ok(Self {
            action: config.action,
            headers,
        })
    }

    /// The override headers (lowercase).
    pub fn header_names(&self) -> &[Box<str>] {
        &self.headers
    }

    /// Checks the request's headers.
    pub fn check(&self, headers: &HeaderMap) -> OverrideVerdict {
        let mut present = self
            .headers
            .iter()
            .filter(|h| headers.contains(h))
            .peekable();
        if present.peek().is_none() {
            return OverrideVerdict::Absent;
        }
        if self.action == MethodOverrideAction::Deny {
            return OverrideVerdict::Refuse("method_override_header");
        }
        let mut methods = Vec::new();
        for name in present {
            let Ok(value) = headers.single(name) else {
                return OverrideVerdict::Refuse("repeated_method_override");
            };
            match Method::parse(value.trim_ascii()) {
                Some(method) => methods.push(Some(method)),
                None => return OverrideVerdict::Refuse("unknown_override_method"),
            }
        }
        OverrideVerdict::Evaluate(methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    #[test]
    fn paths_are_canonical_normalized_or_refused() {
        let deny = PathCheck::new(&PathConfig::default());
        assert!(
            matches!(deny.check(Ok(b"/a/b?x=%2F")), PathVerdict::Canonical(c) if c.path() == "/a/b")
        );
        assert!(
            matches!(deny.check(Ok(b"/a/../b")), PathVerdict::NotCanonical(c) if c.path() == "/b")
        );
        assert!(matches!(
            deny.check(Ok(b"/a%2Fb")),
            PathVerdict::Invalid("escaped_slash")
        ));
        assert!(matches!(
            deny.check(Err(0)),
            PathVerdict::Invalid("missing_path")
        ));
        assert!(matches!(
            deny.check(Err(2)),
            PathVerdict::Invalid("repeated_path")
        ));
        let normalize = PathCheck::new(&PathConfig {
            non_canonical: NonCanonicalPath::Normalize,
            ..PathConfig::default()
        });
        assert!(matches!(
            normalize.check(Ok(b"/a/./%62?q")),
            PathVerdict::Normalize(c) if c.as_str() == "/a/b?q"
        ));
        assert!(matches!(
            normalize.check(Ok(b"/a#f")),
            PathVerdict::Invalid("fragment")
        ));
    }

    #[test]
    fn overrides_are_refused_or_evaluated() {
        let deny = MethodOverride::compile(MethodOverrideConfig::default()).unwrap();
        assert_eq!(deny.check(&headers(&[])), OverrideVerdict::Absent);
        assert_eq!(
            deny.check(&headers(&[("X-HTTP-Method-Override", "DELETE")])),
            OverrideVerdict::Refuse("method_override_header")
        );
        let evaluate = MethodOverride::compile(MethodOverrideConfig {
            action: MethodOverrideAction::Evaluate,
            ..MethodOverrideConfig::default()
        })
        .unwrap();
        assert_eq!(
            evaluate.check(&headers(&[("x-http-method", " delete ")])),
            OverrideVerdict::Evaluate(vec![Some(Method::Delete)])
        );
        assert_eq!(
            evaluate.check(&headers(&[("x-http-method", "PURGE")])),
            OverrideVerdict::Refuse("unknown_override_method")
        );
        assert_eq!(
            evaluate.check(&headers(&[
                ("x-http-method", "GET"),
                ("x-http-method", "PUT")
            ])),
            OverrideVerdict::Refuse("repeated_method_override")
        );
        let bad = MethodOverrideConfig {
            headers: vec!["Bad Header".into()],
            ..MethodOverrideConfig::default()
        };
        assert_eq!(
            MethodOverride::compile(bad).unwrap_err().path(),
            "method_override.headers[0]"
        );
    }
}
