//! The changes to a request that passed every refusal rule: each header field's fate
//! (kept, dropped or replaced), turned into header map calls by [`crate::ops`].
//!
//! Pseudo-headers: later repeats dropped (`keep_first`), `:path` rewritten, `:method`
//! uppercased. Other fields, in this order: renamed (or dropped when the canonical name is
//! present), dropped for `_` in the name, for being hop-by-hop, for being internal from an
//! untrusted caller, for repeating a singleton; then a joined second value cut off and
//! surrounding whitespace trimmed. The authority (`:authority`, or `host` without one) is
//! trimmed, lowercased and loses its port and trailing dot as configured.

use std::borrow::Cow;
use wasmesh_path::CanonicalPath;
use wasmesh_sdk::HeaderMap;

use crate::authority::{self, Canonicalize};
use crate::config::{RepeatedSingletons, StripPort, Underscores};
use crate::decide::{default_port, first, group_key, AuthorityField, Changes, Checked};
use crate::facts::ConnectionFacts;
use crate::methods::MethodVerdict;
use crate::names::{eq_ignore_case, eq_lowercase, is_hop_by_hop, is_pseudo, list_tokens, trim_ows};
use crate::normalizer::Normalizer;
use crate::ops::{header_ops, Fate};
use crate::rules::{Normalization, Normalizations};
use wasmesh_sdk::HeaderEdit;

/// What the whole request tells the rules for regular fields.
struct RequestInfo<'a> {
    /// The `connection` header, when hop-by-hop headers are stripped and there is one.
    connection: Option<ConnectionInfo<'a>>,
    /// Whether some name has `_` (otherwise no name is looked into for one).
    has_underscore: bool,
}

/// The request's `connection` header, for hop-by-hop stripping.
struct ConnectionInfo<'a> {
    listed: Vec<&'a [u8]>,
    is_upgrade: bool,
}

impl Normalizer {
    /// The changes to a request that passed every refusal rule.
    pub(crate) fn changes<'a>(
        &'a self,
        headers: &'a HeaderMap,
        checked: Checked<'a>,
        facts: &mut dyn ConnectionFacts,
    ) -> Changes<'a> {
        let Checked {
            path,
            method,
            authority,
            has_connection,
            has_underscore,
        } = checked;
        let mut normalized = Normalizations::default();
        let mut fates: Vec<(usize, Fate<'a>)> = Vec::new();
        let request = RequestInfo {
            connection: if has_connection {
                self.connection_info(headers)
            } else {
                None
            },
            has_underscore,
        };
        let mut trusted: Option<bool> = None;

        for (index, (name, value)) in headers.iter().enumerate() {
            let fate = if is_pseudo(name) {
                self.pseudo_fate(headers, index, name, &path, &method, &mut normalized)
            } else {
                self.regular_fate(
                    headers,
                    index,
                    (name, value),
                    &request,
                    &mut normalized,
                    &mut || {
                        *trusted.get_or_insert_with(|| {
                            !self.trust.trusts_nobody() && self.trust.is_trusted(facts)
                        })
                    },
                )
            };
            let fate = match (fate, &authority) {
                (None, Some(field)) if field.index == index => {
                    self.authority_fate(headers, name, field, &mut normalized, facts)
                }
                (fate, _) => fate,
            };
            if let Some(fate) = fate {
                fates.push((index, fate));
            }
        }

        let mut ops = if fates.is_empty() {
            Vec::new()
        } else {
            header_ops(headers, &fates)
        };
        if normalized.contains(Normalization::Path) {
            if let (Some(header), Some(original)) = (
                self.original_path_header.as_deref(),
                first(headers, b":path"),
            ) {
                ops.push(HeaderEdit::Set(header, Cow::Borrowed(original)));
            }
        }
        Changes { ops, normalized }
    }

    /// Pseudo-headers: repeats, then `:path` and `:method` (`:authority` is handled with
    /// `host`).
    ///
    /// Under `repeated_singletons: reject` a request that got here has no repeated
    /// singleton and no joined value (the refusal rules checked), so neither is looked for.
    fn pseudo_fate<'a>(
        &self,
        headers: &HeaderMap,
        index: usize,
        name: &'a [u8],
        path: &Option<CanonicalPath<'a>>,
        method: &Option<MethodVerdict>,
        normalized: &mut Normalizations,
    ) -> Option<Fate<'a>> {
        if self.repeats_possible() && self.is_later_singleton(headers, index, name) {
            normalized.insert(Normalization::RepeatedHeader);
            return Some(Fate::Drop);
        }
        if name == b":path" {
            let path = path.as_ref().filter(|path| path.is_changed())?;
            normalized.insert(Normalization::Path);
            let value = match path.clone().into_cow() {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            };
            return Some(Fate::Replace { name, value });
        }
        if name == b":method" {
            if let Some(MethodVerdict::Uppercase(upper)) = method {
                normalized.insert(Normalization::LowercaseMethod);
                return Some(Fate::Replace {
                    name,
                    value: Cow::Owned(upper.clone()),
                });
            }
        }
        None
    }

    /// Regular headers: renames, underscores, hop-by-hop, internal, repeats, whitespace.
    /// Repeats are looked for only when they can be left, as for pseudo-headers.
    fn regular_fate<'a>(
        &'a self,
        headers: &HeaderMap,
        index: usize,
        (name, value): (&'a [u8], &'a [u8]),
        request: &RequestInfo<'_>,
        normalized: &mut Normalizations,
        is_trusted: &mut dyn FnMut() -> bool,
    ) -> Option<Fate<'a>> {
        let renamed = self.rename_of(name);
        if renamed.is_some() && self.is_shadowed(headers, name) {
            normalized.insert(Normalization::RenamedHeader);
            return Some(Fate::Drop);
        }
        if renamed.is_none()
            && self.underscores == Underscores::Drop
            && request.has_underscore
            && name.contains(&b'_')
        {
            normalized.insert(Normalization::UnderscoreHeader);
            return Some(Fate::Drop);
        }
        let effective = renamed.map_or(name, str::as_bytes);
        if let Some(fate) = self.hop_by_hop_fate(effective, value, request.connection.as_ref()) {
            normalized.insert(Normalization::HopByHopHeader);
            return Some(fate);
        }
        if self.internal.contains(effective) && !is_trusted() {
            normalized.insert(Normalization::InternalHeader);
            return Some(Fate::Drop);
        }
        if self.repeats_possible() && self.is_later_singleton(headers, index, name) {
            normalized.insert(Normalization::RepeatedHeader);
            return Some(Fate::Drop);
        }
        if group_key(effective) == b":authority" {
            // The surviving `host` is handled with the authority.
            return None;
        }
        // Only `keep_first` gets here with a joined value: keep its first part.
        let joined = if self.repeats_possible() {
            self.joined_at(headers, name, value)
        } else {
            None
        };
        let first = match joined {
            Some(at) => {
                normalized.insert(Normalization::RepeatedHeader);
                value.get(..at).unwrap_or(value)
            }
            None => value,
        };
        let trimmed = if self.trim_whitespace {
            trim_ows(first)
        } else {
            first
        };
        if trimmed.len() != first.len() {
            normalized.insert(Normalization::HeaderWhitespace);
        }
        if renamed.is_some() {
            normalized.insert(Normalization::RenamedHeader);
        }
        (renamed.is_some() || trimmed.len() != value.len()).then_some(Fate::Replace {
            name: effective,
            value: Cow::Borrowed(trimmed),
        })
    }

    /// Whether a request that passed the refusal rules can still have a repeated singleton
    /// or a joined value (not under `repeated_singletons: reject`, which refuses them).
    #[inline]
    fn repeats_possible(&self) -> bool {
        self.repeated_singletons != RepeatedSingletons::Reject
    }

    /// `Some` when the hop-by-hop rule drops or rewrites the field: the fixed hop-by-hop
    /// names and the names `connection` lists, except `te: trailers` and the `upgrade`
    /// and `connection: upgrade` of an upgrade request (WebSocket), which Envoy lets
    /// through only where upgrades are configured.
    fn hop_by_hop_fate<'a>(
        &self,
        name: &'a [u8],
        value: &[u8],
        connection: Option<&ConnectionInfo<'_>>,
    ) -> Option<Fate<'a>> {
        if !self.strip_hop_by_hop {
            return None;
        }
        let is_upgrade = connection.is_some_and(|info| info.is_upgrade);
        if is_hop_by_hop(name) {
            if eq_lowercase(name, b"te") && eq_lowercase(trim_ows(value), b"trailers") {
                return None;
            }
            if is_upgrade && eq_lowercase(name, b"upgrade") {
                return None;
            }
            if is_upgrade && eq_lowercase(name, b"connection") {
                return (!value.eq_ignore_ascii_case(b"upgrade")).then_some(Fate::Replace {
                    name,
                    value: Cow::Borrowed(b"upgrade"),
                });
            }
            return Some(Fate::Drop);
        }
        let listed = connection
            .is_some_and(|info| info.listed.iter().any(|token| eq_ignore_case(token, name)));
        listed.then_some(Fate::Drop)
    }

    /// The tokens of the `connection` header(s), when hop-by-hop headers are stripped and
    /// the request has one (Envoy removes it before filters run, except for upgrades).
    fn connection_info<'a>(&self, headers: &'a HeaderMap) -> Option<ConnectionInfo<'a>> {
        if !self.strip_hop_by_hop || !headers.contains("connection") {
            return None;
        }
        let listed: Vec<&[u8]> = headers.values("connection").flat_map(list_tokens).collect();
        let is_upgrade = headers.contains("upgrade")
            && listed
                .iter()
                .any(|token| token.eq_ignore_ascii_case(b"upgrade"));
        Some(ConnectionInfo { listed, is_upgrade })
    }

    /// The authority (`:authority`, or `host` without one): trimmed, lowercased, port and
    /// trailing dot removed, as configured.
    fn authority_fate<'a>(
        &'a self,
        headers: &HeaderMap,
        name: &'a [u8],
        field: &AuthorityField<'a>,
        normalized: &mut Normalizations,
        facts: &mut dyn ConnectionFacts,
    ) -> Option<Fate<'a>> {
        let port = field.parsed.port_number();
        let strip_port = match self.authority.strip_port {
            StripPort::Keep => false,
            StripPort::Any => true,
            StripPort::SchemeDefault => port.is_some() && port == scheme_default_port(headers),
            StripPort::Matching => port.is_some() && port == facts.listener_port(),
        };
        let how = Canonicalize {
            lowercase: self.authority.lowercase,
            strip_trailing_dot: self.authority.strip_trailing_dot,
            strip_port,
        };
        let renamed = self.rename_of(name).is_some();
        let name = self.effective_name(name);
        let trimmed = field.trimmed.len() != field.untrimmed_len;
        for (applied, rule) in [
            (field.joined, Normalization::RepeatedHeader),
            (trimmed, Normalization::HeaderWhitespace),
            (renamed, Normalization::RenamedHeader),
        ] {
            if applied {
                normalized.insert(rule);
            }
        }
        match authority::canonicalize(&field.parsed, how) {
            Some(rewritten) => {
                for (changed, rule) in [
                    (rewritten.lowered, Normalization::AuthorityCase),
                    (rewritten.port_stripped, Normalization::AuthorityPort),
                    (rewritten.dot_stripped, Normalization::AuthorityTrailingDot),
                ] {
                    if changed {
                        normalized.insert(rule);
                    }
                }
                Some(Fate::Replace {
                    name,
                    value: Cow::Owned(rewritten.value.into_bytes()),
                })
            }
            None => (field.joined || trimmed || renamed).then_some(Fate::Replace {
                name,
                value: Cow::Borrowed(field.trimmed),
            }),
        }
    }
}

/// 80 for `http`, 443 for `https`.
fn scheme_default_port(headers: &HeaderMap) -> Option<u16> {
    default_port(first(headers, b":scheme"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;

    fn normalizer(json: &str) -> Normalizer {
        Normalizer::new(Config::from_json(json.as_bytes()).unwrap()).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    #[test]
    fn hop_by_hop_fates() {
        let normalizer = normalizer("{}");
        let plain = map(&[("connection", "close, X-Listed")]);
        let info = normalizer.connection_info(&plain);
        let fate = |name: &'static str, value: &str| {
            normalizer.hop_by_hop_fate(name.as_bytes(), value.as_bytes(), info.as_ref())
        };
        assert_eq!(fate("keep-alive", "1"), Some(Fate::Drop));
        assert_eq!(fate("te", "gzip"), Some(Fate::Drop));
        assert_eq!(fate("te", " Trailers "), None);
        assert_eq!(fate("x-listed", "1"), Some(Fate::Drop));
        assert_eq!(fate("x-other", "1"), None);

        let upgrade = map(&[
            ("connection", "keep-alive, upgrade"),
            ("upgrade", "websocket"),
        ]);
        let info = normalizer.connection_info(&upgrade);
        let fate = |name: &'static str, value: &str| {
            normalizer.hop_by_hop_fate(name.as_bytes(), value.as_bytes(), info.as_ref())
        };
        assert_eq!(fate("upgrade", "websocket"), None);
        assert_eq!(
            fate("connection", "keep-alive, upgrade"),
            Some(Fate::Replace {
                name: b"connection",
                value: Cow::Borrowed(b"upgrade"),
            })
        );
        assert_eq!(fate("connection", "Upgrade"), None);

        let off = normalizer_off();
        assert_eq!(off.hop_by_hop_fate(b"keep-alive", b"1", None), None);
    }

    fn normalizer_off() -> Normalizer {
        normalizer(r#"{"strip_hop_by_hop": false}"#)
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(scheme_default_port(&map(&[(":scheme", "http")])), Some(80));
        assert_eq!(
            scheme_default_port(&map(&[(":scheme", "HTTPS")])),
            Some(443)
        );
        assert_eq!(scheme_default_port(&map(&[(":scheme", "ftp")])), None);
        assert_eq!(scheme_default_port(&map(&[])), None);
    }
}
