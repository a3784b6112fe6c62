//! One request through the filter: identify the caller, check the path and method
//! overrides, evaluate the policy, and say what to do about it.
//!
//! [`AccessControl::decide`] makes no host call: it reads the request headers it is given
//! and the connection's facts through [`Connection`], and returns a [`RequestDecision`]
//! that the filter's callback records, logs and hands to the SDK.

use crate::callers::Caller;
use crate::checks::{OverrideVerdict, PathVerdict};
use crate::config::{Mode, SourceKind};
use crate::identity::{Connection, Identity, RepeatedIdentityHeader, XFCC_HEADER};
use crate::method::Method;
use crate::policy::{builtin, Decision, RequestView};
use crate::report::{self, Report};
use crate::scan::ScannedHeaders;
use crate::AccessControl;
use std::borrow::Cow;
use std::net::IpAddr;
use wasmesh_identity::parse_source_address;
use wasmesh_path::CanonicalPath;
use wasmesh_sdk::{HeaderEdit, HeaderMap, Host, Outcome};

/// Envoy's connection attributes, read through the [`Host`] on demand, each at most once
/// per request.
pub(crate) struct HostConnection<'h> {
    host: &'h dyn Host,
    mtls: Option<bool>,
    san: Option<Option<String>>,
    ip: Option<Option<IpAddr>>,
}

impl<'h> HostConnection<'h> {
    /// Nothing read yet.
    pub(crate) fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            mtls: None,
            san: None,
            ip: None,
        }
    }
}

impl Connection for HostConnection<'_> {
    fn mtls(&mut self) -> bool {
        *self.mtls.get_or_insert_with(|| self.host.mtls())
    }

    fn peer_uri_san(&mut self) -> Option<&str> {
        self.san
            .get_or_insert_with(|| self.host.peer_uri_san())
            .as_deref()
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        *self.ip.get_or_insert_with(|| {
            let address = self.host.attribute(&["source", "address"])?;
            parse_source_address(std::str::from_utf8(&address).ok()?)
        })
    }
}

/// What the filter decided about one request: the outcome the SDK applies, and what the
/// request counter and the log lines say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDecision<'a> {
    /// The header edits, in order (forged identity headers removed, `:path` normalized,
    /// the upstream caller header set or removed); the verified caller, handed on unless
    /// the request is denied; the deny reply, in `enforce` mode.
    pub outcome: Outcome<'a>,
    /// The caller of a denied request, which is not handed on: the counter and the log
    /// lines name it all the same (see [`RequestDecision::caller`]).
    pub denied_caller: Option<Caller>,
    /// The identity source that identified the caller or rejected its evidence.
    pub source: Option<SourceKind>,
    /// Why the caller's evidence was rejected (e.g. `untrusted_domain`).
    pub rejected: Option<&'static str>,
    /// What became of the request: `allowed`, `denied` or `shadow_denied`.
    pub counted: report::Outcome,
    /// The rule (or built-in name) that decided.
    pub rule: &'a str,
    /// Detail for the log line, e.g. why a path was refused.
    pub reason: Option<&'a str>,
    /// Whether the decision gets a log line: every denial, and allowed requests under a
    /// default of `log` or with `log_allowed`.
    pub log_decision: bool,
    /// The `log` rules that matched, in order; each gets a log line.
    pub log_rules: Vec<&'a str>,
    /// The request method, as received (empty when missing).
    pub method: &'a [u8],
    /// The canonical request target, when the path could be canonicalized.
    pub canonical: Option<CanonicalPath<'a>>,
    /// `:path` as received (empty when missing or repeated).
    pub raw_path: &'a [u8],
}

impl RequestDecision<'_> {
    /// The verified caller, handed on or not.
    pub fn caller(&self) -> Option<&Caller> {
        self.outcome.caller.as_ref().or(self.denied_caller.as_ref())
    }

    /// The path the log lines show: the canonical path (without the query), or the raw
    /// target when it could not be canonicalized.
    pub fn path(&self) -> &[u8] {
        match &self.canonical {
            Some(canonical) => canonical.path().as_bytes(),
            None => self.raw_path,
        }
    }

    /// The log line's fields for `outcome` by `rule`, with `reason`, in `mode`.
    pub fn report<'r>(
        &'r self,
        mode: Mode,
        outcome: report::Outcome,
        rule: &'r str,
        reason: Option<&'r str>,
    ) -> Report<'r> {
        Report {
            outcome,
            mode,
            rule,
            caller: self.caller(),
            source: self.source,
            rejected: self.rejected,
            method: self.method,
            path: self.path(),
            reason,
        }
    }
}

/// A decision and the detail that goes with it in the log line.
struct Verdict<'a> {
    decision: Decision<'a>,
    reason: Option<&'a str>,
}

impl<'a> Verdict<'a> {
    fn deny(rule: &'a str, reason: &'a str) -> Self {
        Self {
            decision: Decision::deny(rule),
            reason: Some(reason),
        }
    }
}

impl AccessControl {
    /// Decides about a request with these headers (pseudo-headers included), reading the
    /// connection's facts through `connection` only when an identity source needs them.
    /// Makes no host call.
    pub fn decide<'a>(
        &'a self,
        headers: &'a HeaderMap,
        connection: &mut impl Connection,
    ) -> RequestDecision<'a> {
        let scanned = self.header_scan.scan(headers);
        let method = scanned.method.first.unwrap_or_default();
        let raw_path = scanned.path.single();

        let resolved = self
            .identity
            .resolve_scanned(scanned.caller, scanned.xfcc, connection);
        let mut edits = Vec::new();
        self.sanitize_identity_headers(&mut edits, &scanned, connection);
        let (identity, repeated_identity) = match resolved {
            Ok(identity) => (identity, None),
            Err(RepeatedIdentityHeader(name)) => (Identity::default(), Some(name)),
        };
        let caller = identity.caller.as_ref();

        let path_verdict = self.path_check.check(raw_path);
        let (match_path, path_refusal) = match &path_verdict {
            PathVerdict::Canonical(canonical) => (Some(canonical.path()), None),
            PathVerdict::Normalize(canonical) => {
                let target = canonical.as_str().to_owned().into_bytes();
                edits.push(HeaderEdit::Set(":path", Cow::Owned(target)));
                (Some(canonical.path()), None)
            }
            PathVerdict::NotCanonical(_) => {
                (None, Some((builtin::NON_CANONICAL_PATH, "not_canonical")))
            }
            PathVerdict::Invalid(reason) => (None, Some((builtin::INVALID_PATH, *reason))),
        };

        let mut log_rules = Vec::new();
        let verdict = if let Some(name) = repeated_identity {
            Verdict::deny(builtin::REPEATED_IDENTITY_HEADER, name)
        } else if let Some((rule, reason)) = path_refusal {
            Verdict::deny(rule, reason)
        } else if let Some((path, Ok(lenient_path))) =
            match_path.map(|path| (path, self.policy.lenient_path(path)))
        {
            let view = RequestView {
                method: Method::parse(method),
                path,
                lenient_path: &lenient_path,
                authority: scanned.authority.first,
                headers,
                caller,
            };
            for rule in self.policy.matching_log_rules(&view) {
                log_rules.push(rule);
            }
            self.evaluate(&view, headers, scanned.method_override)
        } else if match_path.is_some() {
            Verdict::deny(builtin::AMBIGUOUS_PATH, "ambiguous_segment")
        } else {
            Verdict::deny(builtin::INVALID_PATH, "missing_path")
        };
        let canonical = match path_verdict {
            PathVerdict::Canonical(c)
            | PathVerdict::Normalize(c)
            | PathVerdict::NotCanonical(c) => Some(c),
            PathVerdict::Invalid(_) => None,
        };

        let Verdict { decision, reason } = verdict;
        let counted = match (decision.allowed, self.mode) {
            (true, _) => report::Outcome::Allowed,
            (false, Mode::Enforce) => report::Outcome::Denied,
            (false, Mode::Shadow) => report::Outcome::ShadowDenied,
        };
        let Identity {
            caller,
            source,
            rejected,
        } = identity;
        let denied = counted == report::Outcome::Denied;
        let reply = denied.then(|| self.deny.reply(decision.rule, caller.as_ref()));
        let upstream = self.identity.upstream_header();
        if !denied {
            match &caller {
                Some(caller) => {
                    let name = caller.service.clone().into_bytes();
                    edits.push(HeaderEdit::Set(upstream, Cow::Owned(name)));
                }
                None if scanned.upstream.is_present() => edits.push(HeaderEdit::Remove(upstream)),
                None => {}
            }
        }
        // The caller of a denied request is not handed on.
        let (caller, denied_caller) = if denied {
            (None, caller)
        } else {
            (caller, None)
        };
        let outcome = Outcome {
            edits,
            caller,
            reply,
        };
        RequestDecision {
            outcome,
            denied_caller,
            source,
            rejected,
            counted,
            rule: decision.rule,
            reason,
            log_decision: !decision.allowed || decision.log || self.log_allowed,
            log_rules,
            method,
            canonical,
            raw_path: raw_path.unwrap_or_default(),
        }
    }

    /// Method overrides (`method_override`: whether any override header is present),
    /// repeated condition headers, then the rules.
    fn evaluate<'a>(
        &'a self,
        view: &RequestView<'_>,
        headers: &HeaderMap,
        method_override: bool,
    ) -> Verdict<'a> {
        let overrides = if method_override {
            self.method_override.check(headers)
        } else {
            OverrideVerdict::Absent
        };
        if let OverrideVerdict::Refuse(reason) = overrides {
            return Verdict::deny(builtin::METHOD_OVERRIDE, reason);
        }
        if let Some(name) = self.policy.repeated_condition_header(headers) {
            return Verdict::deny(builtin::REPEATED_HEADER, name);
        }
        let decision = self.policy.decide(view);
        if let (true, OverrideVerdict::Evaluate(methods)) = (decision.allowed, &overrides) {
            for &method in methods {
                let as_override = self.policy.decide(&RequestView { method, ..*view });
                if !as_override.allowed {
                    return Verdict {
                        decision: as_override,
                        reason: method.map(Method::as_str),
                    };
                }
            }
        }
        Verdict {
            decision,
            reason: None,
        }
    }

    /// Removes identity headers a client may have forged: the caller-name header always
    /// (the verified caller goes upstream in its own header), and
    /// `x-forwarded-client-cert` on connections that are not mutual TLS.
    fn sanitize_identity_headers<'a>(
        &'a self,
        edits: &mut Vec<HeaderEdit<'a>>,
        scanned: &ScannedHeaders<'_>,
        connection: &mut impl Connection,
    ) {
        if let Some(name) = self.identity.caller_header() {
            if scanned.caller.is_present() {
                edits.push(HeaderEdit::Remove(name));
            }
        }
        if self.identity.uses_xfcc() && scanned.xfcc.is_present() && !connection.mtls() {
            edits.push(HeaderEdit::Remove(XFCC_HEADER));
        }
    }
}
