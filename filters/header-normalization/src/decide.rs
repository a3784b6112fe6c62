//! The per-request decision: refuse, redirect, or forward with a list of changes.
//!
//! Every refusal rule is checked before anything is changed, in this order: header
//! count, header bytes, header names, header values, method, path, underscores,
//! repeated singletons (given twice, or twice in one value joined with a comma, as Envoy
//! joins some repeated headers), authority. The first that fires decides. A request that
//! passes them all is redirected if its path had an escaped slash under
//! `unescape_and_redirect`, and otherwise forwarded with its changes.
//!
//! One pass over the fields ([`Survey`]) gathers what the first rules need and finds out
//! whether any later rule could touch a field; when none could, and the method, path and
//! authority are already canonical, the request is forwarded unchanged at once. Every
//! other request goes through the rules one by one. A request that is already canonical
//! costs no allocation here: every check borrows from the header map, and the change list
//! stays empty.

use wasmesh_path::{canonicalize, is_plainly_canonical, CanonicalPath};
use wasmesh_sdk::HeaderMap;

use crate::authority::{self, Authority};
use crate::config::{RepeatedSingletons, StripPort, Underscores};
use crate::facts::ConnectionFacts;
use crate::joined::second_value_at;
use crate::methods::MethodVerdict;
use crate::names::{
    eq_ignore_case, eq_lowercase, has_control, is_pseudo, role, trim_ows, NAME_INVALID,
    NAME_UNDERSCORE, NAME_UPPER,
};
use crate::normalizer::Normalizer;
use crate::rules::{Normalization, Normalizations, Rejection};
use wasmesh_sdk::HeaderEdit;

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
    pub ops: Vec<HeaderEdit<'a>>,
    /// The rules that changed something.
    pub normalized: Normalizations,
}

/// How a request the refusal rules let through goes on.
pub(crate) enum Passed<'a> {
    /// The early way out: canonical, but for the internal fields it may have
    /// (`internal`), which are dropped unless the caller is trusted.
    Early {
        /// Some field is internal.
        internal: bool,
    },
    /// Through the rules that change requests, with what the refusal rules computed.
    Rules(Checked<'a>),
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
        self.decide_with(headers, facts, true)
    }

    /// [`Normalizer::decide`], taking the early way out for a request seen to be
    /// canonical if `early` (tests compare both ways).
    fn decide_with<'a>(
        &'a self,
        headers: &'a HeaderMap,
        facts: &mut dyn ConnectionFacts,
        early: bool,
    ) -> Decision<'a> {
        match self.check(headers, early) {
            Err(rejection) => Decision::Reject(rejection),
            Ok(Passed::Early { internal: false }) => Decision::Forward(Changes::default()),
            Ok(Passed::Early { internal: true }) => {
                Decision::Forward(self.internal_drops(headers, facts))
            }
            Ok(Passed::Rules(checked)) => {
                if let Some(path) = checked.path.as_ref().filter(|path| path.needs_redirect()) {
                    return Decision::Redirect(path.as_str().to_owned());
                }
                Decision::Forward(self.changes(headers, checked, facts))
            }
        }
    }

    /// The changes to a request that takes the early way out with internal fields: each
    /// internal name removed, unless the caller is trusted (what [`Normalizer::changes`]
    /// makes of such a request).
    fn internal_drops<'a>(
        &'a self,
        headers: &'a HeaderMap,
        facts: &mut dyn ConnectionFacts,
    ) -> Changes<'a> {
        if !self.trust.trusts_nobody() && self.trust.is_trusted(facts) {
            return Changes::default();
        }
        let mut changes = Changes::default();
        for (name, _) in headers.iter() {
            // The table finds every internal name (it is complete on the early way), and
            // may take a long name for one: `contains` decides.
            let maybe_internal = self.names.classify(name).roles & role::INTERNAL != 0
                || self.names.has_prefix_of(name);
            if !maybe_internal || is_pseudo(name) || !self.internal.contains(name) {
                continue;
            }
            let Ok(text) = std::str::from_utf8(name) else {
                continue;
            };
            let seen =
                |op: &HeaderEdit<'_>| matches!(op, HeaderEdit::Remove(other) if *other == text);
            if !changes.ops.iter().any(seen) {
                changes.ops.push(HeaderEdit::Remove(text));
            }
        }
        if !changes.ops.is_empty() {
            changes.normalized.insert(Normalization::InternalHeader);
        }
        changes
    }

    /// The refusal rules, in order; on success how the request goes on: the early way
    /// (already canonical but perhaps for internal fields), or what the changes reuse.
    fn check<'a>(&'a self, headers: &'a HeaderMap, early: bool) -> Result<Passed<'a>, Rejection> {
        let survey = Survey::of(self, headers);
        if self.max_headers > 0 && survey.count > self.max_headers {
            return Err(Rejection::HeaderCount);
        }
        if self.max_header_bytes > 0 && survey.bytes > self.max_header_bytes as u64 {
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
        // The early way out: every field was seen to be left alone by the rules after
        // the path, so only the method, the path and the authority could change it.
        if early
            && survey.plain
            && self.names.is_complete()
            && (!survey.has_underscore || self.underscores == Underscores::Allow)
            && !matches!(method, Some(MethodVerdict::Uppercase(_)))
            && survey
                .path
                .is_none_or(|target| is_plainly_canonical(target, &self.path))
            && self.is_canonical_authority(survey.authority, survey.scheme)
        {
            return Ok(Passed::Early {
                internal: survey.internal,
            });
        }
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
        Ok(Passed::Rules(Checked {
            path,
            method,
            authority,
            has_connection: survey.has_connection,
            has_underscore: survey.has_underscore,
        }))
    }

    /// Whether the authority `value` (the first `:authority` or `host` of a request
    /// whose fields are all [`Survey::plain`]) is valid and left as it is; `true` without
    /// one. `false` also when only [`Normalizer::changes`] can tell (a port to match
    /// against the listener's).
    fn is_canonical_authority(&self, value: Option<&[u8]>, scheme: Option<&[u8]>) -> bool {
        let Some(value) = value else {
            return true;
        };
        // A plain value has no whitespace to trim (see `Survey::of`).
        let Some(parsed) = authority::parse(value) else {
            return false;
        };
        let keeps_port = match parsed.port {
            None => true,
            Some([]) => false,
            Some(_) => match self.authority.strip_port {
                StripPort::Keep => true,
                StripPort::SchemeDefault => parsed.port_number() != default_port(scheme),
                StripPort::Matching | StripPort::Any => false,
            },
        };
        keeps_port
            && !(self.authority.lowercase && parsed.has_uppercase)
            && !(self.authority.strip_trailing_dot && parsed.host.last() == Some(&b'.'))
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

/// What one pass over the header fields finds for the first refusal rules, and whether
/// the rules after them leave every field alone.
struct Survey<'a> {
    /// Fields other than pseudo-headers.
    count: usize,
    /// Bytes of every name and value.
    bytes: u64,
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
    /// No field is changed or refused by the rules after the path, except perhaps for
    /// `_` in names (see [`Survey::has_underscore`]) and the authority: every name is
    /// lowercase, no field is hop-by-hop (but `te: trailers`), internal or renamed, no
    /// singleton is repeated or joined, no value has whitespace to trim, and every
    /// pseudo-header is a known one.
    plain: bool,
    /// The first `:authority` or `host` value, when [`Survey::plain`].
    authority: Option<&'a [u8]>,
    /// The first `:scheme` value, when [`Survey::plain`].
    scheme: Option<&'a [u8]>,
    /// Some field is internal (by name or prefix) and no other rule looks at its name:
    /// when [`Survey::plain`], the only change the rules can make is to drop those fields.
    internal: bool,
}

impl<'a> Survey<'a> {
    fn of(normalizer: &Normalizer, headers: &'a HeaderMap) -> Self {
        let mut survey = Survey {
            count: 0,
            bytes: 0,
            invalid_name: false,
            invalid_value: false,
            method: None,
            path: None,
            has_connection: false,
            has_underscore: false,
            plain: true,
            authority: None,
            scheme: None,
            internal: false,
        };
        // The singletons seen so far, one bit each (or shared: a shared bit can only
        // make a request look less plain than it is).
        let mut seen = 0u64;
        for (name, value) in headers.iter() {
            // In 64 bits the sum of lengths of slices in memory cannot overflow.
            survey.bytes = survey
                .bytes
                .wrapping_add(name.len() as u64)
                .wrapping_add(value.len() as u64);
            let class = normalizer.names.classify(name);
            let mut roles = class.roles;
            if class.shape != 0 {
                survey.invalid_name |= class.shape & NAME_INVALID != 0;
                survey.has_underscore |= class.shape & NAME_UNDERSCORE != 0;
                if class.shape & NAME_UPPER != 0 {
                    // A name the table cannot hold: compared as the rules compare names.
                    survey.plain = false;
                    roles = uppercase_roles(name);
                }
            }
            // `:path` is checked by the path rules; exactly `:path`, as the changes match it.
            survey.invalid_value |=
                has_control(value) && !(roles & role::PATH != 0 && class.shape & NAME_UPPER == 0);
            let pseudo = is_pseudo(name);
            if !pseudo {
                survey.count += 1;
            }
            // Whitespace to trim; an internal name by prefix (no prefix starts with `:`).
            survey.plain =
                survey.plain && !(normalizer.trim_whitespace && has_outer_whitespace(value));
            if !pseudo && normalizer.names.has_prefix_of(name) {
                survey.internal_field(roles == 0);
            }
            if roles != 0 {
                survey.note((name, value), pseudo, roles, class.singleton, &mut seen);
            } else if pseudo {
                // An unknown pseudo-header.
                survey.plain = false;
            }
        }
        survey
    }

    /// Takes note of an internal field; `only` when no other rule looks at its name
    /// (else the request is not [`Survey::plain`]).
    fn internal_field(&mut self, only: bool) {
        self.internal = true;
        self.plain &= only;
    }

    /// Takes note of a field with a name some rule looks for (`roles`, not 0).
    fn note(
        &mut self,
        (name, value): (&'a [u8], &'a [u8]),
        pseudo: bool,
        roles: u16,
        singleton: u64,
        seen: &mut u64,
    ) {
        if pseudo {
            if roles & role::METHOD != 0 {
                self.method = self.method.or(Some(value));
            } else if roles & role::PATH != 0 {
                self.path = self.path.or(Some(value));
            }
        } else {
            self.has_connection |= roles & role::CONNECTION != 0;
        }
        if roles & role::INTERNAL != 0 {
            self.internal_field(roles == role::INTERNAL);
        }
        self.plain = self.plain
            && roles & role::CHANGED == 0
            && singleton & *seen == 0
            && (roles & role::SINGLETON != 0 || !pseudo)
            && !(roles & role::JOINABLE != 0 && second_value_at(name, value).is_some())
            && (roles & role::TE == 0 || eq_lowercase(value, b"trailers"));
        *seen |= singleton;
        if roles & role::AUTHORITY != 0 && self.authority.is_none() {
            self.authority = Some(value);
        }
        if roles & role::SCHEME != 0 && self.scheme.is_none() {
            self.scheme = Some(value);
        }
    }
}

/// The roles of a name with uppercase letters that the survey needs.
#[cold]
fn uppercase_roles(name: &[u8]) -> u16 {
    if eq_lowercase(name, b":method") {
        role::METHOD
    } else if eq_lowercase(name, b":path") {
        role::PATH
    } else if eq_lowercase(name, b"connection") {
        role::CONNECTION
    } else {
        0
    }
}

/// Whether `value` starts or ends with a space or tab.
#[inline(always)]
fn has_outer_whitespace(value: &[u8]) -> bool {
    matches!(value, [b' ' | b'\t', ..] | [.., b' ' | b'\t'])
}

/// The port a scheme has by default: 80 for `http`, 443 for `https`.
pub(crate) fn default_port(scheme: Option<&[u8]>) -> Option<u16> {
    let scheme = scheme?;
    if eq_lowercase(scheme, b"http") {
        Some(80)
    } else if eq_lowercase(scheme, b"https") {
        Some(443)
    } else {
        None
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
                HeaderEdit::Set(":path", Cow::Borrowed(&b"/b"[..])),
                HeaderEdit::Remove("authorization"),
                HeaderEdit::Add("authorization", Cow::Borrowed(&b"a"[..])),
                HeaderEdit::Remove("x_y"),
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

    /// Facts with fixed answers, for comparing decisions.
    struct FixedFacts;

    impl ConnectionFacts for FixedFacts {
        fn source_ip(&mut self) -> Option<IpAddr> {
            "10.1.2.3".parse().ok()
        }
        fn mtls(&mut self) -> bool {
            true
        }
        fn peer_uri_san(&mut self) -> Option<String> {
            Some("spiffe://mesh/ns/edge/sa/gateway".to_owned())
        }
        fn listener_port(&mut self) -> Option<u16> {
            Some(8080)
        }
    }

    /// Names some rule looks for (in any case), others, and bad ones.
    const NAMES: &[&str] = &[
        ":authority",
        ":path",
        ":method",
        ":scheme",
        ":protocol",
        ":foo",
        ":Path",
        ":METHOD",
        "host",
        "Host",
        "authorization",
        "Authorization",
        "proxy-authorization",
        "content-length",
        "traceparent",
        "x-tenant",
        "X-Tenant",
        "te",
        "TE",
        "connection",
        "Connection",
        "keep-alive",
        "upgrade",
        "transfer-encoding",
        "proxy-connection",
        "x-envoy-internal",
        "x-envoy-",
        "X-Envoy-Foo",
        "x-forwarded-client-cert",
        "x-wasmesh-caller",
        "x-original-path",
        "x_user",
        "x-user",
        "X_User",
        "x_tenant",
        "accept",
        "accept-encoding",
        "user-agent",
        "cookie",
        "x-forwarded-proto",
        "x-service-name",
        "a",
        "ab",
        "abc",
        "abcd",
        "abcdefgh",
        "abcdefghijklmnop",
        "x-long-header-name-over-sixteen",
        "x-forwarded-client-certs",
        "bad name",
        "",
        ":",
        "caf\u{e9}",
        "x-listed",
        "x.y",
        "x!y",
        "x_y_z",
        "UPPER",
    ];

    /// Ordinary names, to make requests that are often canonical.
    const PLAIN_NAMES: &[&str] = &[
        "accept",
        "user-agent",
        "cookie",
        "x-request-id",
        "x-service-name",
        "traceparent",
        "authorization",
        "tracestate",
        "x-forwarded-proto",
        "content-type",
        "te",
        "x-b",
        "host",
        "x-tenant",
        "x-user",
    ];

    const VALUES: &[&str] = &[
        "1",
        "value",
        "Bearer x",
        "Bearer x, Bearer y",
        "Bearer x,y=z",
        "Digest a=\"b,c\", d=e",
        "trailers",
        " trailers",
        "Trailers",
        "gzip",
        "close, x-listed",
        "keep-alive, upgrade",
        "upgrade",
        "websocket",
        " padded ",
        "\tx",
        "x\u{0}y",
        "x\ry",
        "x\u{7f}",
        "",
        "5,5",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "a,b",
        "caf\u{e9}",
        "a long value with spaces and punctuation: ;,/?",
    ];

    const METHODS: &[&str] = &["GET", "GET", "POST", "get", "Patch", "BREW", "", "G T"];

    const PATHS: &[&str] = &[
        "/",
        "/api/v1/orders/12345?expand=items",
        "/a/b",
        "/a/../b",
        "/a//b",
        "/a/./b",
        "/a%2fb",
        "/a%2Fb?x",
        "/a%41",
        "/%7e",
        "/A/b",
        "/a;x/b",
        "/..;/x",
        "/a/..;x",
        "*",
        "rel",
        "",
        "/a?b=c&d",
        "/a#f",
        "/a b",
        "/a\\b",
        "/caf%C3%A9",
        "/%zz",
        "/a?x#y",
        "/a/.",
        "/a/..",
        "/.a/b.",
        "/a/?q",
    ];

    const AUTHORITIES: &[&str] = &[
        "svc",
        "svc",
        "orders.shop.svc.cluster.local",
        "Svc.Example.",
        "svc.",
        "svc:8080",
        "svc:80",
        "svc:443",
        "svc:",
        "[::1]:443",
        "[2001:DB8::1]",
        "127.0.0.1",
        "127.1",
        "a..b",
        "a,b",
        "user@svc",
        " svc",
        "svc ",
        "",
        ":80",
    ];

    const SCHEMES: &[&str] = &["http", "https", "HTTP", "ftp"];

    const CONFIGS: &[&str] = &[
        "{}",
        r#"{"repeated_singletons": "keep_first", "lowercase_methods": "uppercase"}"#,
        r#"{"underscores_in_names": "allow", "strip_hop_by_hop": false, "trim_whitespace": false}"#,
        r#"{"underscores_in_names": "reject", "singleton_headers": ["x-tenant", "X-B"]}"#,
        r#"{"renames": [{"from": "x_user", "to": "x-user"}, {"from": "x_tenant", "to": "x-tenant"}],
            "original_path_header": "x-original-path",
            "trusted_callers": [{"mtls": true}]}"#,
        r#"{"authority": {"lowercase": false, "strip_port": "any", "strip_trailing_dot": false}}"#,
        r#"{"authority": {"strip_port": "matching"}, "repeated_singletons": "keep_first"}"#,
        r#"{"authority": {"strip_port": "keep"}, "max_headers": 6, "max_header_bytes": 200}"#,
        r#"{"path": {"lowercase": true, "path_params": "strip", "merge_slashes": false,
            "escaped_slashes": "unescape_and_redirect"}, "internal_headers": ["x-*", "te"]}"#,
        r#"{"internal_headers": ["x"], "trusted_callers": [{"source_cidrs": ["10.0.0.0/8"]}]}"#,
    ];

    /// A request: usually the four pseudo-headers with likely values, then fields, usually
    /// ordinary ones.
    fn request(rng: &mut TestRng) -> HeaderMap {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut push = |name: &str, value: &str| {
            pairs.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        };
        let plain = rng.below(2) == 0;
        for (name, values) in [
            (":authority", AUTHORITIES),
            (":path", PATHS),
            (":method", METHODS),
            (":scheme", SCHEMES),
        ] {
            match rng.below(12) {
                0 => {}
                1 => {
                    let other = *rng.pick(values);
                    push(name, other);
                    push(name, other);
                }
                _ if plain => push(name, values[rng.below(2)]),
                _ => push(name, rng.pick::<&str>(values)),
            }
        }
        for _ in 0..rng.below(9) {
            let name = if plain {
                *rng.pick(PLAIN_NAMES)
            } else {
                *rng.pick(NAMES)
            };
            let value = match (name, rng.below(4)) {
                ("host" | "Host", _) => *rng.pick(AUTHORITIES),
                (_, 0) if plain => "1",
                _ if plain && rng.below(3) != 0 => "value",
                _ => *rng.pick(VALUES),
            };
            push(name, value);
        }
        let raw = rng.below(30) == 0;
        let mut map = HeaderMap::new(pairs);
        if raw {
            map.push(b"x-raw\xff", b"\x80\xfe");
        }
        map
    }

    #[test]
    fn the_early_way_out_decides_as_the_rules_do() {
        let normalizers: Vec<Normalizer> = CONFIGS.iter().map(|json| normalizer(json)).collect();
        let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
        let mut early = 0;
        let rounds = 12_000;
        for _ in 0..rounds {
            let headers = request(&mut rng);
            for (normalizer, json) in normalizers.iter().zip(CONFIGS) {
                let fast = normalizer.decide_with(&headers, &mut FixedFacts, true);
                let full = normalizer.decide_with(&headers, &mut FixedFacts, false);
                assert_eq!(fast, full, "{json}: {headers:?}");
                early += usize::from(matches!(
                    normalizer.check(&headers, true),
                    Ok(Passed::Early { .. })
                ));
            }
        }
        // The early way must be taken often enough for the comparison to mean something.
        assert!(early > rounds, "taken {early} times");
    }

    use wasmesh_testing::{TestRng, BENCHMARK_REQUEST};

    #[test]
    fn canonical_requests_take_the_early_way_out() {
        let normalizer = normalizer("{}");
        for request in [
            BENCHMARK_REQUEST,
            &[(":method", "GET"), (":path", "/a"), ("x", "1")],
            &[(":path", "*"), ("te", "trailers"), ("host", "svc:8080")],
            &[
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", "[::1]:8443"),
            ],
        ] {
            let headers = map(request);
            assert!(
                matches!(normalizer.check(&headers, true), Ok(Passed::Early { .. })),
                "{request:?}"
            );
            assert_eq!(
                normalizer.decide(&headers, &mut CountingFacts::default()),
                Decision::Forward(Changes::default())
            );
        }
    }

    #[test]
    fn internal_fields_alone_take_the_early_way_out_and_are_dropped() {
        // Envoy adds `x-envoy-external-address` to every request from outside (the
        // benchmark's too): dropping it must not send the request through every rule.
        let normalizer = normalizer("{}");
        let mut request = BENCHMARK_REQUEST.to_vec();
        request.push(("x-envoy-external-address", "127.0.0.1"));
        request.push(("x-forwarded-client-cert", "By=spiffe://a"));
        let headers = map(&request);
        assert!(matches!(
            normalizer.check(&headers, true),
            Ok(Passed::Early { internal: true })
        ));
        let Decision::Forward(changes) = normalizer.decide(&headers, &mut CountingFacts::default())
        else {
            panic!("forwarded")
        };
        assert_eq!(
            changes.ops,
            [
                HeaderEdit::Remove("x-envoy-external-address"),
                HeaderEdit::Remove("x-forwarded-client-cert")
            ]
        );
        assert!(changes.normalized.contains(Normalization::InternalHeader));
        assert_eq!(
            Decision::Forward(changes),
            normalizer.decide_with(&headers, &mut CountingFacts::default(), false)
        );
    }
}
