//! The per-request decision: refuse, redirect, or forward with a list of changes.
//!
//! Every refusal rule is checked before anything is changed, in this order: header
//! count, header bytes, header names, header values, method, path, underscores,
//! repeated singletons (given twice, or twice in one value joined with a comma, as Envoy
//! joins some repeated headers), authority. The first that fires decides. A request that
//! passes them all is redirected if its path had an escaped slash under
//! `unescape_and_redirect`, and otherwise forwarded with its changes.
//!
//! A request that is already canonical costs no allocation here: every check borrows
//! from the header map, and the change list stays empty.

use wasmesh_sdk::path::{canonicalize, CanonicalPath};
use wasmesh_sdk::HeaderMap;

use crate::authority::{self, Authority};
use crate::config::{RepeatedSingletons, Underscores};
use crate::facts::ConnectionFacts;
use crate::joined::second_value_at;
use crate::methods::MethodVerdict;
use crate::names::{has_control, is_pseudo, is_valid_name, trim_ows};
use crate::normalizer::Normalizer;
use crate::ops::HeaderOp;
use crate::rules::{Normalizations, Rejection};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Forward it after applying these changes (none for a canonical request).
    Forward(Changes<'a>),
    /// Refuse it.
    Reject(Rejection),
    /// Send the client a 307 to this target (path and query).
    Redirect(String),
}

/// The changes to a forwarded request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes<'a> {
    /// The header map calls, in order.
    pub ops: Vec<HeaderOp<'a>>,
    /// The rules that changed something.
    pub normalized: Normalizations,
}

/// What the refusal rules computed that the changes reuse.
pub(crate) struct Checked<'a> {
    /// The canonical path, when the request has one.
    pub(crate) path: Option<CanonicalPath<'a>>,
    /// The method verdict, when the request has a method.
    pub(crate) method: Option<MethodVerdict>,
    /// The authority, when the request has one.
    pub(crate) authority: Option<AuthorityField<'a>>,
}

/// The authority header chosen for canonicalization, already validated.
pub(crate) struct AuthorityField<'a> {
    /// Its index in the header map.
    pub(crate) index: usize,
    /// Whether its value held a second, joined value (cut off).
    pub(crate) joined: bool,
    /// The length of its (first) value before trimming.
    pub(crate) untrimmed_len: usize,
    /// Its (first) value, trimmed if configured.
    pub(crate) trimmed: &'a [u8],
    /// Its host and port.
    pub(crate) parsed: Authority<'a>,
}

impl Normalizer {
    /// Decides what to do with a request whose headers are `headers`. `facts` is read
    /// only when a rule needs it (an internal header arrived and some caller may be
    /// trusted; or a port is to be matched against the listener's).
    pub fn decide<'a>(
        &'a self,
        headers: &'a HeaderMap,
        facts: &mut dyn ConnectionFacts,
    ) -> Decision<'a> {
        match self.check(headers) {
            Err(rejection) => Decision::Reject(rejection),
            Ok(checked) => {
                if let Some(path) = checked.path.as_ref().filter(|path| path.needs_redirect()) {
                    return Decision::Redirect(path.as_str().to_owned());
                }
                Decision::Forward(self.changes(headers, checked, facts))
            }
        }
    }

    /// The refusal rules, in order; on success what the changes reuse.
    fn check<'a>(&'a self, headers: &'a HeaderMap) -> Result<Checked<'a>, Rejection> {
        let mut count = 0usize;
        let mut bytes = 0usize;
        for (name, value) in headers.iter() {
            count += usize::from(!is_pseudo(name));
            bytes = bytes.saturating_add(name.len()).saturating_add(value.len());
        }
        if self.max_headers > 0 && count > self.max_headers {
            return Err(Rejection::HeaderCount);
        }
        if self.max_header_bytes > 0 && bytes > self.max_header_bytes {
            return Err(Rejection::HeaderBytes);
        }
        if headers.iter().any(|(name, _)| !is_valid_name(name)) {
            return Err(Rejection::InvalidHeaderName);
        }
        if headers
            .iter()
            .any(|(name, value)| name != b":path" && has_control(value))
        {
            return Err(Rejection::InvalidHeaderValue);
        }
        let method = match first(headers, b":method") {
            Some(method) => Some(self.methods.check(method)?),
            None => None,
        };
        let path = match first(headers, b":path") {
            Some(target) => Some(canonicalize(target, &self.path).map_err(Rejection::Path)?),
            None => None,
        };
        if self.underscores == Underscores::Reject
            && headers.iter().any(|(name, _)| {
                !is_pseudo(name) && name.contains(&b'_') && self.rename_of(name).is_none()
            })
        {
            return Err(Rejection::UnderscoreHeader);
        }
        if self.repeated_singletons == RepeatedSingletons::Reject
            && headers.iter().enumerate().any(|(index, (name, value))| {
                self.is_later_singleton(headers, index, name)
                    || self.joined_at(headers, name, value).is_some()
            })
        {
            return Err(Rejection::RepeatedHeader);
        }
        let authority = self.authority_field(headers)?;
        Ok(Checked {
            path,
            method,
            authority,
        })
    }

    /// The first surviving `:authority` or `host` field, trimmed (if configured) and
    /// validated.
    fn authority_field<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<AuthorityField<'a>>, Rejection> {
        let found = headers.iter().enumerate().find(|(_, (name, _))| {
            !self.is_shadowed(headers, name)
                && group_key(self.effective_name(name)) == b":authority"
        });
        let Some((index, (name, value))) = found else {
            return Ok(None);
        };
        // Only `keep_first` gets here with a joined value: keep its first part.
        let joined = self.joined_at(headers, name, value);
        let first = joined.and_then(|at| value.get(..at)).unwrap_or(value);
        let trimmed = if self.trim_whitespace {
            trim_ows(first)
        } else {
            first
        };
        let parsed = authority::parse(trimmed).ok_or(Rejection::InvalidAuthority)?;
        Ok(Some(AuthorityField {
            index,
            joined: joined.is_some(),
            untrimmed_len: first.len(),
            trimmed,
            parsed,
        }))
    }

    /// The name a field has after renames.
    pub(crate) fn effective_name<'a>(&'a self, name: &'a [u8]) -> &'a [u8] {
        if is_pseudo(name) {
            return name;
        }
        self.rename_of(name).map_or(name, str::as_bytes)
    }

    /// Whether a field has a legacy name whose canonical header is present (so it is
    /// dropped, the canonical header winning).
    pub(crate) fn is_shadowed(&self, headers: &HeaderMap, name: &[u8]) -> bool {
        !is_pseudo(name)
            && self
                .rename_of(name)
                .is_some_and(|canonical| headers.contains(canonical))
    }

    /// Whether the field at `index` is a singleton (after renames) that an earlier
    /// surviving field already gave.
    pub(crate) fn is_later_singleton(
        &self,
        headers: &HeaderMap,
        index: usize,
        name: &[u8],
    ) -> bool {
        if self.is_shadowed(headers, name) {
            return false;
        }
        let key = group_key(self.effective_name(name));
        if !(is_pseudo(key) || self.singletons.contains(key)) {
            return false;
        }
        headers.iter().take(index).any(|(earlier, _)| {
            !self.is_shadowed(headers, earlier)
                && group_key(self.effective_name(earlier)).eq_ignore_ascii_case(key)
        })
    }

    /// Where a second value joined with a comma starts in the value of a surviving
    /// singleton field (see [`second_value_at`]); `None` for other fields.
    pub(crate) fn joined_at(
        &self,
        headers: &HeaderMap,
        name: &[u8],
        value: &[u8],
    ) -> Option<usize> {
        if self.is_shadowed(headers, name) {
            return None;
        }
        let effective = self.effective_name(name);
        let key = group_key(effective);
        let is_singleton = if is_pseudo(key) {
            key == b":authority"
        } else {
            self.singletons.contains(key)
        };
        if !is_singleton {
            return None;
        }
        second_value_at(effective, value)
    }
}

/// The first value of `name`.
pub(crate) fn first<'a>(headers: &'a HeaderMap, name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(other, _)| other.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The name singletons are counted under: `host` counts as `:authority`.
pub(crate) fn group_key(name: &[u8]) -> &[u8] {
    if name.eq_ignore_ascii_case(b"host") {
        b":authority"
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::config::Config;
    use std::borrow::Cow;
    use std::net::IpAddr;

    /// Facts that count how often the caller's trust was looked into.
    #[derive(Default)]
    struct CountingFacts {
        reads: usize,
        mtls: bool,
    }

    impl ConnectionFacts for CountingFacts {
        fn source_ip(&mut self) -> Option<IpAddr> {
            self.reads += 1;
            None
        }
        fn mtls(&mut self) -> bool {
            self.reads += 1;
            self.mtls
        }
        fn peer_uri_san(&mut self) -> Option<String> {
            self.reads += 1;
            None
        }
        fn listener_port(&mut self) -> Option<u16> {
            None
        }
    }

    fn normalizer(json: &str) -> Normalizer {
        Normalizer::new(Config::from_json(json.as_bytes()).unwrap()).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    #[test]
    fn a_canonical_request_has_no_changes() {
        let normalizer = normalizer("{}");
        let headers = map(&[(":method", "GET"), (":path", "/a"), ("x", "1")]);
        let decision = normalizer.decide(&headers, &mut CountingFacts::default());
        assert_eq!(decision, Decision::Forward(Changes::default()));
    }

    #[test]
    fn changes_list_the_calls_and_the_rules() {
        let normalizer = normalizer(r#"{"repeated_singletons": "keep_first"}"#);
        let headers = map(&[
            (":path", "/a/../b"),
            ("authorization", "a"),
            ("authorization", "b"),
            ("x_y", "1"),
        ]);
        let Decision::Forward(changes) = normalizer.decide(&headers, &mut CountingFacts::default())
        else {
            panic!("not forwarded");
        };
        assert_eq!(
            changes.ops,
            vec![
                HeaderOp::Set(":path", Cow::Borrowed(&b"/b"[..])),
                HeaderOp::Remove("authorization"),
                HeaderOp::Add("authorization", Cow::Borrowed(&b"a"[..])),
                HeaderOp::Remove("x_y"),
            ]
        );
        let rules: Vec<&str> = changes.normalized.iter().map(|n| n.rule()).collect();
        assert_eq!(rules, vec!["path", "underscore_header", "repeated_header"]);
    }

    #[test]
    fn trust_is_looked_into_once_and_only_for_internal_headers() {
        let normalizer = normalizer(r#"{"trusted_callers": [{"mtls": true}]}"#);
        let mut facts = CountingFacts::default();
        normalizer.decide(&map(&[(":path", "/"), ("x", "1")]), &mut facts);
        assert_eq!(facts.reads, 0);
        let internal = map(&[(":path", "/"), ("x-envoy-a", "1"), ("x-envoy-b", "1")]);
        let decision = normalizer.decide(&internal, &mut facts);
        assert_eq!(facts.reads, 1);
        assert!(matches!(decision, Decision::Forward(changes) if changes.ops.len() == 2));
        let mut trusted = CountingFacts {
            mtls: true,
            ..CountingFacts::default()
        };
        let decision = normalizer.decide(&internal, &mut trusted);
        assert_eq!(decision, Decision::Forward(Changes::default()));
    }

    #[test]
    fn refusals_win_over_redirects() {
        let normalizer = normalizer(r#"{"path": {"escaped_slashes": "unescape_and_redirect"}}"#);
        let headers = map(&[(":path", "/a%2fb"), (":authority", "a b")]);
        let decision = normalizer.decide(&headers, &mut CountingFacts::default());
        assert_eq!(decision, Decision::Reject(Rejection::InvalidAuthority));
        let headers = map(&[(":path", "/a%2fb"), (":authority", "a")]);
        let decision = normalizer.decide(&headers, &mut CountingFacts::default());
        assert_eq!(decision, Decision::Redirect("/a/b".to_owned()));
    }
}
