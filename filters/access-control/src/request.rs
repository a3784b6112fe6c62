//! One request through the filter: identify the caller, check the path and method
//! overrides, evaluate the policy, then report and act on the decision.

use crate::checks::{OverrideVerdict, PathVerdict};
use crate::config::Mode;
use crate::identity::{Connection, Identity, RepeatedIdentityHeader, XFCC_HEADER};
use crate::method::Method;
use crate::policy::{builtin, Decision, RequestView};
use crate::report::{caller_name, Outcome, Report};
use crate::scan::ScannedHeaders;
use crate::AccessControl;
use std::net::IpAddr;
use wasmesh_sdk::{properties, Flow, HeaderMap, Http};

/// Envoy's connection attributes, each read from the host at most once per request.
#[derive(Debug, Default)]
struct HostConnection {
    mtls: Option<bool>,
    san: Option<Option<String>>,
    ip: Option<Option<IpAddr>>,
}

impl Connection for HostConnection {
    fn mtls(&mut self) -> bool {
        *self
            .mtls
            .get_or_insert_with(|| properties::mtls() == Some(true))
    }

    fn peer_uri_san(&mut self) -> Option<&str> {
        self.san
            .get_or_insert_with(properties::peer_uri_san)
            .as_deref()
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        *self.ip.get_or_insert_with(properties::source_ip)
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
    /// Handles the request headers.
    pub(crate) fn on_request(&self, http: &Http) -> Flow {
        let headers = http.request_headers();
        let scanned = self.header_scan.scan(&headers);
        let mut connection = HostConnection::default();
        let method = scanned.method.first.unwrap_or_default();
        let raw_path = scanned.path.single();

        let resolved = self
            .identity
            .resolve_scanned(scanned.caller, scanned.xfcc, &mut connection);
        self.sanitize_identity_headers(http, &scanned, &mut connection);
        let (identity, repeated_identity) = match resolved {
            Ok(identity) => (identity, None),
            Err(RepeatedIdentityHeader(name)) => (Identity::default(), Some(name)),
        };
        let caller = identity.caller.as_ref();

        let path_verdict = self.path_check.check(raw_path);
        let (match_path, path_refusal) = match &path_verdict {
            PathVerdict::Canonical(canonical) => (Some(canonical.path()), None),
            PathVerdict::Normalize(canonical) => {
                http.set_request_header(":path", canonical.as_str().as_bytes());
                (Some(canonical.path()), None)
            }
            PathVerdict::NotCanonical(_) => {
                (None, Some((builtin::NON_CANONICAL_PATH, "not_canonical")))
            }
            PathVerdict::Invalid(reason) => (None, Some((builtin::INVALID_PATH, *reason))),
        };
        let log_path: &[u8] = match &path_verdict {
            PathVerdict::Canonical(c)
            | PathVerdict::Normalize(c)
            | PathVerdict::NotCanonical(c) => c.path().as_bytes(),
            PathVerdict::Invalid(_) => raw_path.unwrap_or_default(),
        };

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
                headers: &headers,
                caller,
            };
            for rule in self.policy.matching_log_rules(&view) {
                self.report(Outcome::Logged, rule, &identity, method, log_path, None);
            }
            self.evaluate(&view, &headers, scanned.method_override)
        } else if match_path.is_some() {
            Verdict::deny(builtin::AMBIGUOUS_PATH, "ambiguous_segment")
        } else {
            Verdict::deny(builtin::INVALID_PATH, "missing_path")
        };

        let Verdict { decision, reason } = verdict;
        let outcome = match (decision.allowed, self.mode) {
            (true, _) => Outcome::Allowed,
            (false, Mode::Enforce) => Outcome::Denied,
            (false, Mode::Shadow) => Outcome::ShadowDenied,
        };
        self.requests
            .increment(&[outcome.as_str(), caller_name(caller), decision.rule]);
        if !decision.allowed || decision.log || self.log_allowed {
            self.report(outcome, decision.rule, &identity, method, log_path, reason);
        }
        if outcome == Outcome::Denied {
            return Flow::Reply(self.deny.reply(decision.rule, caller));
        }
        let upstream = self.identity.upstream_header();
        match caller {
            Some(caller) => http.set_request_header(upstream, caller.service.as_bytes()),
            None if scanned.upstream.is_present() => http.remove_request_header(upstream),
            None => {}
        }
        if let Some(caller) = identity.caller {
            http.set_verified_caller(caller);
        }
        Flow::Continue
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
    fn sanitize_identity_headers(
        &self,
        http: &Http,
        scanned: &ScannedHeaders<'_>,
        connection: &mut impl Connection,
    ) {
        if let Some(name) = self.identity.caller_header() {
            if scanned.caller.is_present() {
                http.remove_request_header(name);
            }
        }
        if self.identity.uses_xfcc() && scanned.xfcc.is_present() && !connection.mtls() {
            http.remove_request_header(XFCC_HEADER);
        }
    }

    fn report(
        &self,
        outcome: Outcome,
        rule: &str,
        identity: &Identity,
        method: &[u8],
        path: &[u8],
        reason: Option<&str>,
    ) {
        if !log::log_enabled!(log::Level::Info) {
            return;
        }
        let report = Report {
            outcome,
            mode: self.mode,
            rule,
            identity,
            method,
            path,
            reason,
        };
        log::info!("{}", report.log_line());
    }
}
