//! Making decisions visible: the deny reply and the log line.

use crate::callers::Caller;
use crate::config::{DenyResponseConfig, Mode, SourceKind};
use crate::names::{is_header_name, is_header_value};
use wasmesh_sdk::{ConfigError, LocalReply};

/// How a caller that could not be identified is named in logs, metrics and replies.
pub const UNIDENTIFIED: &str = "unidentified";

/// Response code details of every deny reply (`%RESPONSE_CODE_DETAILS%`).
pub const DENY_DETAILS: &str = "wasmesh_access_control_denied";

/// What became of a request, as logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request passed.
    Allowed,
    /// The request was denied and got the deny reply.
    Denied,
    /// The request would have been denied; shadow mode let it pass.
    ShadowDenied,
    /// A `log` rule matched (logs only; never counted).
    Logged,
}

impl Outcome {
    /// The outcome's name: the `decision` field and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::ShadowDenied => "shadow_denied",
            Outcome::Logged => "logged",
        }
    }
}

/// The service name a caller is reported under.
pub fn caller_name(caller: Option<&Caller>) -> &str {
    caller.map_or(UNIDENTIFIED, |c| c.service.as_str())
}

/// Everything one log line says about a decision.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// What became of the request.
    pub outcome: Outcome,
    /// The mode the filter runs in.
    pub mode: Mode,
    /// The deciding (or logging) rule.
    pub rule: &'a str,
    /// The verified caller.
    pub caller: Option<&'a Caller>,
    /// The identity source that identified the caller or rejected its evidence.
    pub source: Option<SourceKind>,
    /// Why the evidence was rejected (e.g. `untrusted_domain`).
    pub rejected: Option<&'a str>,
    /// The request method, as received.
    pub method: &'a [u8],
    /// The canonical path (the raw target when it could not be canonicalized).
    pub path: &'a [u8],
    /// Extra detail, e.g. why a path was refused.
    pub reason: Option<&'a str>,
}

impl Report<'_> {
    /// The structured log line, `key=value` pairs in a fixed order, values quoted and
    /// escaped when they contain anything but visible ASCII.
    pub fn log_line(&self) -> String {
        let mut line = String::with_capacity(160);
        line.push_str("access-control:");
        let caller = self.caller;
        let source = self.source.map_or("none", SourceKind::as_str);
        let fields: [(&str, Option<&[u8]>); 10] = [
            ("decision", Some(self.outcome.as_str().as_bytes())),
            ("mode", Some(self.mode.as_str().as_bytes())),
            ("rule", Some(self.rule.as_bytes())),
            ("caller", Some(caller_name(caller).as_bytes())),
            ("identity", Some(source.as_bytes())),
            (
                "spiffe_id",
                caller
                    .and_then(|c| c.spiffe_id.as_deref())
                    .map(str::as_bytes),
            ),
            ("identity_rejected", self.rejected.map(str::as_bytes)),
            ("method", Some(self.method)),
            ("path", Some(self.path)),
            ("reason", self.reason.map(str::as_bytes)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                line.push(' ');
                line.push_str(key);
                line.push('=');
                push_log_value(&mut line, value);
            }
        }
        line
    }
}

/// Appends `value`, quoted and escaped when it is empty or holds a space, `"`, `\`, `=`
/// or any byte outside visible ASCII, so one field can never pass for another.
pub fn push_log_value(out: &mut String, value: &[u8]) {
    let plain = !value.is_empty()
        && value
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'='));
    if plain {
        out.extend(value.iter().map(|&b| char::from(b)));
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for &byte in value {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(char::from(byte)),
            _ => {
                out.push_str("\\x");
                for nibble in [byte >> 4, byte & 0x0f] {
                    out.push(char::from(
                        HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                    ));
                }
            }
        }
    }
    out.push('"');
}

/// The compiled deny reply.
#[derive(Debug, Clone)]
pub struct DenyResponse {
    status: u16,
    headers: Vec<(String, String)>,
    include_caller: bool,
}

impl DenyResponse {
    /// Compiles `deny_response`; error paths start with `deny_response.`.
    pub fn compile(config: DenyResponseConfig) -> Result<Self, ConfigError> {
        if !(400..=599).contains(&config.status) {
            return Err(ConfigError::at(
                "deny_response.status",
                format!("a deny status is 400 to 599, found {}", config.status),
            ));
        }
        let mut headers = Vec::with_capacity(config.headers.len());
        for (name, value) in config.headers {
            let at = format!("deny_response.headers.{name}");
            let lower = name.to_ascii_lowercase();
            if !is_header_name(&lower) {
                return Err(ConfigError::at(at, "not a header name"));
            }
            if matches!(
                lower.as_str(),
                "content-type" | "content-length" | "transfer-encoding" | "connection"
            ) {
                return Err(ConfigError::at(at, "set by the proxy for the JSON body"));
            }
            if !is_header_value(&value) {
                return Err(ConfigError::at(
                    at,
                    "a header value is visible ASCII, spaces and tabs",
                ));
            }
            headers.push((lower, value));
        }
        Ok(Self {
            status: config.status,
            headers,
            include_caller: config.include_caller,
        })
    }

    /// The reply for a request denied by `rule`: `{"error": "access_denied", "rule": …}`,
    /// plus `"caller"` when configured.
    pub fn reply(&self, rule: &str, caller: Option<&Caller>) -> LocalReply {
        let name = caller_name(caller);
        let mut fields = vec![("error", "access_denied"), ("rule", rule)];
        if self.include_caller {
            fields.push(("caller", name));
        }
        let mut reply = LocalReply::json(self.status, &fields).with_details(DENY_DETAILS);
        for (name, value) in &self.headers {
            reply = reply.with_header(name.as_str(), value.as_str());
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn deny_config(json: &str) -> DenyResponseConfig {
        let document = format!(r#"{{"rules": [], "deny_response": {json}}}"#);
        let value = wasmesh_sdk::config::json::parse(document.as_bytes()).unwrap();
        crate::config::Config::read(&value).unwrap().deny_response
    }

    fn frontend() -> Identity {
        Identity {
            caller: Some(Caller {
                service: "frontend".into(),
                spiffe_id: Some("spiffe://example.org/ns/shop/sa/frontend".into()),
            }),
            source: Some(SourceKind::PeerCertificate),
            rejected: None,
        }
    }

    #[test]
    fn log_lines_carry_every_field() {
        let identity = frontend();
        let report = Report {
            outcome: Outcome::Denied,
            mode: Mode::Enforce,
            rule: "no-admin",
            caller: identity.caller.as_ref(),
            source: identity.source,
            rejected: identity.rejected,
            method: b"GET",
            path: b"/admin",
            reason: None,
        };
        assert_eq!(
            report.log_line(),
            "access-control: decision=denied mode=enforce rule=no-admin caller=frontend \
             identity=peer_certificate spiffe_id=spiffe://example.org/ns/shop/sa/frontend \
             method=GET path=/admin"
        );
        let report = Report {
            outcome: Outcome::ShadowDenied,
            mode: Mode::Shadow,
            rule: "invalid_path",
            caller: None,
            source: Some(SourceKind::CallerHeader),
            rejected: Some("untrusted_caller_header"),
            method: b"GET",
            path: b"/a b\"\x01",
            reason: Some("invalid_character"),
        };
        assert_eq!(
            report.log_line(),
            "access-control: decision=shadow_denied mode=shadow rule=invalid_path \
             caller=unidentified identity=caller_header identity_rejected=untrusted_caller_header \
             method=GET path=\"/a b\\\"\\x01\" reason=invalid_character"
        );
    }

    #[test]
    fn values_cannot_forge_fields() {
        let mut out = String::new();
        push_log_value(&mut out, b"x rule=allow-all");
        assert_eq!(out, "\"x rule=allow-all\"");
        let mut out = String::new();
        push_log_value(&mut out, b"a=b");
        assert_eq!(out, "\"a=b\"");
        let mut out = String::new();
        push_log_value(&mut out, b"");
        assert_eq!(out, "\"\"");
        let mut out = String::new();
        push_log_value(&mut out, b"\xff\n");
        assert_eq!(out, "\"\\xff\\x0a\"");
    }

    #[test]
    fn deny_reply_is_json_with_configured_headers() {
        let deny = DenyResponse::compile(deny_config(
            r#"{"status": 404, "include_caller": true, "headers": {"X-Denied-By": "mesh"}}"#,
        ))
        .unwrap();
        let identity = frontend();
        let reply = deny.reply("no-admin", identity.caller.as_ref());
        assert_eq!(reply.status, 404);
        assert_eq!(reply.details, DENY_DETAILS);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "access_denied", "rule": "no-admin", "caller": "frontend"})
        );
        assert!(reply
            .headers
            .contains(&("x-denied-by".to_owned(), "mesh".to_owned())));

        let plain = DenyResponse::compile(DenyResponseConfig::default()).unwrap();
        let reply = plain.reply("default", None);
        assert_eq!(reply.status, 403);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "access_denied", "rule": "default"})
        );
    }

    #[test]
    fn bad_deny_responses_are_refused() {
        for (json, path) in [
            (r#"{"status": 200}"#, "deny_response.status"),
            (r#"{"headers": {"a b": "x"}}"#, "deny_response.headers.a b"),
            (
                r#"{"headers": {"content-type": "text/plain"}}"#,
                "deny_response.headers.content-type",
            ),
            (r#"{"headers": {"x": "a\nb"}}"#, "deny_response.headers.x"),
        ] {
            assert_eq!(
                DenyResponse::compile(deny_config(json)).unwrap_err().path(),
                path,
                "{json}"
            );
        }
    }
}
