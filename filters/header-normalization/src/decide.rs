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
use crate::names::{
    eq_ignore_case, eq_lowercase, has_control, is_pseudo, trim_ows, underscore_in_name,
};
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
    /// Whether the request has a `connection` field.
    pub(crate) has_connection: bool,
    /// Whether some header name has `_`.
    pub(crate) has_underscore: bool,
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
        let survey = Survey::of(headers);
        if self.max_headers > 0 && survey.count > self.max_headers {
            return Err(Rejection::HeaderCount);
        }
        if self.max_header_bytes > 0 && survey.bytes > self.max_header_bytes {
            return Err(Rejection::HeaderBytes);
        }
        if survey.invalid_name {
            return Err(Rejection::InvalidHeaderName);
        }
        if survey.invalid_value {
            return Err(Rejection::InvalidHeaderValue);
        }
        let method = match survey.method {
            Some(method) => Some(self.methods.check(method)?),
            None => None,
        };
        let path = match survey.path {
            Some(target) => Some(canonicalize(target, &self.path).map_err(Rejection::Path)?),
            None => None,
        };
        if self.underscores == Underscores::Reject
            && survey.has_underscore
            && headers.iter().any(|(name, _)| {
                !is_pseudo(name) && name.contains(&b'_') && self.rename_of(name).is_none()
            })
        {
            return Err(Rejection::UnderscoreHeader);
        }
        if self.repeated_singletons == RepeatedSingletons::Reject
            && self.has_repeated_singleton(headers)
        {
            return Err(Rejection::RepeatedHeader);
        }
        let authority = self.authority_field(headers)?;
        Ok(Checked {
            path,
            method,
            authority,
            has_connection: survey.has_connection,
            has_underscore: survey.has_underscore,
        })
    }

    /// Whether some field is a later repeat of a singleton (see
    /// [`Normalizer::is_later_singleton`]) or carries a joined second value (see
    /// [`Normalizer::joined_at`]).
    fn has_repeated_singleton(&self, headers: &HeaderMap) -> bool {
        headers.iter().enumerate().any(|(index, (name, value))| {
            self.singleton_field(headers, name).is_some_and(|field| {
                self.given_earlier(headers, index, field.key)
                    || (field.joinable && second_value_at(field.effective, value).is_some())
            })
        })
    }

    /// The first surviving `:authority` or `host` field, trimmed (if configured) and
    /// validated.
    fn authority_field<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<AuthorityField<'a>>, Rejection> {
        let found = headers.iter().enumerate().find(|(_, (name, _))| {
            self.surviving_name(headers, name)
                .is_some_and(|effective| group_key(effective) == b":authority")
        });
        let Some((index, (name, value))) = found else {
            return Ok(None);
        };
        // Only `keep_first` gets here with a joined value: keep its first part. (Under
        // `reject`, a joined value has already refused the request.)
        let joined = if self.repeated_singletons == RepeatedSingletons::Reject {
            None
        } else {
            self.joined_at(headers, name, value)
        };
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

    /// The name a field has after renames ([`Normalizer::effective_name`]), or `None`
    /// when it is shadowed ([`Normalizer::is_shadowed`]).
    #[inline(always)]
    fn surviving_name<'a>(&'a self, headers: &HeaderMap, name: &'a [u8]) -> Option<&'a [u8]> {
        if self.renames.is_empty() || is_pseudo(name) {
            return Some(name);
        }
        match self.rename_of(name) {
            Some(canonical) if headers.contains(canonical) => None,
            Some(canonical) => Some(canonical.as_bytes()),
            None => Some(name),
        }
    }

    /// How a surviving field counts among singletons; `None` for a shadowed field or one
    /// that is not a singleton.
    fn singleton_field<'a>(
        &'a self,
        headers: &HeaderMap,
        name: &'a [u8],
    ) -> Option<SingletonField<'a>> {
        let effective = self.surviving_name(headers, name)?;
        let key = group_key(effective);
        let joinable = if is_pseudo(key) {
            key == b":authority"
        } else if self.singletons.contains(key) {
            true
        } else {
            return None;
        };
        Some(SingletonField {
            effective,
            key,
            joinable,
        })
    }

    /// Whether a surviving field before `index` counts under the singleton `key`.
    fn given_earlier(&self, headers: &HeaderMap, index: usize, key: &[u8]) -> bool {
        headers.iter().take(index).any(|(earlier, _)| {
            self.surviving_name(headers, earlier)
                .is_some_and(|effective| eq_ignore_case(group_key(effective), key))
        })
    }

    /// Whether the field at `index` is a singleton (after renames) that an earlier
    /// surviving field already gave.
    pub(crate) fn is_later_singleton(
        &self,
        headers: &HeaderMap,
        index: usize,
        name: &[u8],
    ) -> bool {
        self.singleton_field(headers, name)
            .is_some_and(|field| self.given_earlier(headers, index, field.key))
    }

    /// Where a second value joined with a comma starts in the value of a surviving
    /// singleton field (see [`second_value_at`]); `None` for other fields.
    pub(crate) fn joined_at(
        &self,
        headers: &HeaderMap,
        name: &[u8],
        value: &[u8],
    ) -> Option<usize> {
        self.singleton_field(headers, name)
            .filter(|field| field.joinable)
            .and_then(|field| second_value_at(field.effective, value))
    }
}

/// A surviving singleton field, as the repeat rules see it.
struct SingletonField<'a> {
    /// Its name after renames.
    effective: &'a [u8],
    /// The name it is counted under ([`group_key`]).
    key: &'a [u8],
    /// Whether a comma in its value starts a joined second value (every singleton but
    /// the pseudo-headers other than `:authority`).
    joinable: bool,
}

/// What one pass over the header fields finds for the first refusal rules.
struct Survey<'a> {
    /// Fields other than pseudo-headers.
    count: usize,
    /// Bytes of every name and value.
    bytes: usize,
    /// Some name is not a valid header name.
    invalid_name: bool,
    /// Some value (other than of `:path`) holds a control character.
    invalid_value: bool,
    /// The first `:method` value.
    method: Option<&'a [u8]>,
    /// The first `:path` value.
    path: Option<&'a [u8]>,
    /// A `connection` field is present.
    has_connection: bool,
    /// Some name has `_`.
    has_underscore: bool,
}

impl<'a> Survey<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut survey = Survey {
            count: 0,
            bytes: 0,
            invalid_name: false,
            invalid_value: false,
            method: None,
            path: None,
            has_connection: false,
            has_underscore: false,
        };
        for (name, value) in headers.iter() {
            survey.bytes = survey
                .bytes
                .saturating_add(name.len())
                .saturating_add(value.len());
            match underscore_in_name(name) {
                Some(underscore) => survey.has_underscore |= underscore,
                None => survey.invalid_name = true,
            }
            survey.invalid_value |= name != b":path" && has_control(value);
            if is_pseudo(name) {
                if survey.method.is_none() && eq_lowercase(name, b":method") {
                    survey.method = Some(value);
                } else if survey.path.is_none() && eq_lowercase(name, b":path") {
                    survey.path = Some(value);
                }
            } else {
                survey.count += 1;
                survey.has_connection |= eq_lowercase(name, b"connection");
            }
        }
        survey
    }
}

/// The first value of `name`.
pub(crate) fn first<'a>(headers: &'a HeaderMap, name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(other, _)| eq_ignore_case(other, name))
        .map(|(_, value)| value)
}

/// The name singletons are counted under: `host` counts as `:authority`.
#[inline(always)]
pub(crate) fn group_key(name: &[u8]) -> &[u8] {
    if eq_lowercase(name, b"host") {
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
