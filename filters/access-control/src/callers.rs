//! Callers: who a request comes from, and the caller lists of rules and roles.
//!
//! A caller list is a JSON array of strings:
//!
//! | entry                              | matches                                            |
//! |------------------------------------|----------------------------------------------------|
//! | `frontend`                         | the caller whose service name is `frontend`        |
//! | `spiffe://example.org/ns/a/sa/b`   | the caller with exactly this SPIFFE ID             |
//! | `spiffe://example.org/ns/a/*`      | callers whose SPIFFE ID is below `…/ns/a/`         |
//! | `role:admins`                      | callers the role `admins` matches                  |
//! | `*`                                | any identified caller                              |
//! | `!<entry>`                         | excludes what `<entry>` matches                    |
//!
//! A list matches when no entry excludes the caller and, if it has entries that are not
//! exclusions, at least one of them matches. An unidentified caller matches no entry, so
//! `["!frontend"]` matches it while `["*"]` does not.

use crate::names::is_service_name;
use std::collections::BTreeMap;
use wasmesh_identity::SpiffeId;

/// An identified caller: its service name (used in policies, metrics and the upstream
/// header) and its SPIFFE ID when the identity came from a certificate. The SDK's type,
/// so that the filter hands the caller it verified on to the stages after it in a bundle.
pub use wasmesh_sdk::VerifiedCaller as Caller;

/// A compiled caller list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerSet {
    include: Vec<CallerPattern>,
    exclude: Vec<CallerPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallerPattern {
    Service(Box<str>),
    SpiffeId(Box<str>),
    /// Ends with `/`.
    SpiffePrefix(Box<str>),
    AnyIdentified,
    Role(Box<CallerSet>),
}

/// What a caller list may refer to while it is compiled.
#[derive(Debug, Clone, Copy)]
pub struct CallerContext<'a> {
    /// Trust domains SPIFFE entries must belong to.
    pub trust_domains: &'a [String],
    /// Roles compiled so far; `None` while compiling the roles themselves (roles do not
    /// refer to roles).
    pub roles: Option<&'a BTreeMap<String, CallerSet>>,
}

impl CallerSet {
    /// Compiles a caller list; the error carries the index of the offending entry.
    pub fn compile(
        entries: &[String],
        context: CallerContext<'_>,
    ) -> Result<Self, (usize, String)> {
        if entries.is_empty() {
            return Err((
                0,
                "an empty list matches nobody; omit the field to match every caller".into(),
            ));
        }
        let mut set = CallerSet::default();
        for (index, entry) in entries.iter().enumerate() {
            let (negated, body) = match entry.strip_prefix('!') {
                Some(body) => (true, body),
                None => (false, entry.as_str()),
            };
            let pattern = compile_pattern(body, context).map_err(|reason| (index, reason))?;
            if negated {
                set.exclude.push(pattern);
            } else {
                set.include.push(pattern);
            }
        }
        Ok(set)
    }

    /// Whether the list matches `caller` (`None`: unidentified).
    pub fn matches(&self, caller: Option<&Caller>) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(caller)))
            && !self.exclude.iter().any(|p| p.matches(caller))
    }
}

impl CallerPattern {
    fn matches(&self, caller: Option<&Caller>) -> bool {
        let Some(caller) = caller else {
            return false;
        };
        match self {
            CallerPattern::Service(name) => caller.service == name.as_ref(),
            CallerPattern::SpiffeId(id) => caller.spiffe_id.as_deref() == Some(id.as_ref()),
            CallerPattern::SpiffePrefix(prefix) => caller
                .spiffe_id
                .as_deref()
                .is_some_and(|id| id.starts_with(prefix.as_ref())),
            CallerPattern::AnyIdentified => true,
            CallerPattern::Role(role) => role.matches(Some(caller)),
        }
    }
}

fn compile_pattern(entry: &str, context: CallerContext<'_>) -> Result<CallerPattern, String> {
    if entry == "*" {
        return Ok(CallerPattern::AnyIdentified);
    }
    if entry.starts_with('!') {
        return Err(format!("`!{entry}`: only one `!` is allowed"));
    }
    if let Some(role) = entry.strip_prefix("role:") {
        let Some(roles) = context.roles else {
            return Err(format!("`{entry}`: a role cannot refer to another role"));
        };
        return match roles.get(role) {
            Some(set) => Ok(CallerPattern::Role(Box::new(set.clone()))),
            None => {
                let known: Vec<&str> = roles.keys().map(String::as_str).collect();
                Err(format!(
                    "unknown role `{role}`; roles defined: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            }
        };
    }
    if entry.starts_with("spiffe://") {
        return compile_spiffe(entry, context.trust_domains);
    }
    if entry.contains('*') {
        return Err(format!(
            "`{entry}`: `*` is only allowed alone or as `spiffe://<trust-domain>/.../*`"
        ));
    }
    if !is_service_name(entry.as_bytes()) {
        return Err(format!(
            "`{entry}` is not a service name (1 to 253 letters, digits, `.`, `_`, `-`), \
             a SPIFFE ID, `role:<name>` or `*`"
        ));
    }
    Ok(CallerPattern::Service(entry.into()))
}

fn compile_spiffe(entry: &str, trust_domains: &[String]) -> Result<CallerPattern, String> {
    let (id_text, prefix) = match entry.strip_suffix("/*") {
        Some(base) => (base, true),
        None => (entry, false),
    };
    let id = SpiffeId::parse(id_text).map_err(|e| format!("`{entry}`: {e}"))?;
    if !trust_domains.iter().any(|d| d == id.trust_domain()) {
        return Err(format!(
            "`{entry}` is outside identity.spiffe.trust_domains, so no caller could have it"
        ));
    }
    Ok(if prefix {
        CallerPattern::SpiffePrefix(format!("{id_text}/").into())
    } else {
        CallerPattern::SpiffeId(entry.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["example.org".to_owned()]
    }

    fn set(
        entries: &[&str],
        roles: &BTreeMap<String, CallerSet>,
    ) -> Result<CallerSet, (usize, String)> {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        let trust_domains = domains();
        CallerSet::compile(
            &entries,
            CallerContext {
                trust_domains: &trust_domains,
                roles: Some(roles),
            },
        )
    }

    fn service(name: &str) -> Caller {
        Caller {
            service: name.into(),
            spiffe_id: None,
        }
    }

    fn spiffe(name: &str, id: &str) -> Caller {
        Caller {
            service: name.into(),
            spiffe_id: Some(id.into()),
        }
    }

    #[test]
    fn services_ids_prefixes_and_any() {
        let none = BTreeMap::new();
        let s = set(&["frontend"], &none).unwrap();
        assert!(s.matches(Some(&service("frontend"))));
        assert!(!s.matches(Some(&service("frontend2"))));
        assert!(!s.matches(None));

        let id = set(&["spiffe://example.org/ns/shop/sa/web"], &none).unwrap();
        assert!(id.matches(Some(&spiffe("web", "spiffe://example.org/ns/shop/sa/web"))));
        assert!(!id.matches(Some(&service("web"))));

        let prefix = set(&["spiffe://example.org/ns/shop/*"], &none).unwrap();
        assert!(prefix.matches(Some(&spiffe("x", "spiffe://example.org/ns/shop/sa/x"))));
        assert!(!prefix.matches(Some(&spiffe("x", "spiffe://example.org/ns/shopping/sa/x"))));
        assert!(!prefix.matches(Some(&spiffe("x", "spiffe://example.org/ns/shop"))));

        let any = set(&["*"], &none).unwrap();
        assert!(any.matches(Some(&service("whoever"))));
        assert!(!any.matches(None));
    }

    #[test]
    fn negation_excludes() {
        let none = BTreeMap::new();
        let all_but = set(&["!backoffice"], &none).unwrap();
        assert!(all_but.matches(Some(&service("frontend"))));
        assert!(all_but.matches(None));
        assert!(!all_but.matches(Some(&service("backoffice"))));

        let identified_but = set(&["*", "!backoffice"], &none).unwrap();
        assert!(identified_but.matches(Some(&service("frontend"))));
        assert!(!identified_but.matches(None));
        assert!(!identified_but.matches(Some(&service("backoffice"))));

        let anonymous_only = set(&["!*"], &none).unwrap();
        assert!(anonymous_only.matches(None));
        assert!(!anonymous_only.matches(Some(&service("a"))));
    }

    #[test]
    fn roles_are_named_lists() {
        let trust_domains = domains();
        let role_context = CallerContext {
            trust_domains: &trust_domains,
            roles: None,
        };
        let admins =
            CallerSet::compile(&["backoffice".into(), "ops".into()], role_context).unwrap();
        let mut roles = BTreeMap::new();
        roles.insert("admins".to_owned(), admins);
        let s = set(&["role:admins", "frontend"], &roles).unwrap();
        assert!(s.matches(Some(&service("ops"))));
        assert!(s.matches(Some(&service("frontend"))));
        assert!(!s.matches(Some(&service("cart"))));
        let not_admins = set(&["*", "!role:admins"], &roles).unwrap();
        assert!(!not_admins.matches(Some(&service("ops"))));
        assert!(not_admins.matches(Some(&service("cart"))));

        let nested = CallerSet::compile(&["role:admins".into()], role_context).unwrap_err();
        assert!(nested.1.contains("cannot refer"), "{}", nested.1);
        let unknown = set(&["ok", "role:nobody"], &roles).unwrap_err();
        assert_eq!(unknown.0, 1);
        assert!(unknown.1.contains("roles defined: admins"), "{}", unknown.1);
    }

    #[test]
    fn bad_entries_are_refused_with_their_index() {
        let none = BTreeMap::new();
        for bad in [
            "",
            "a b",
            "!!a",
            "front*",
            "spiffe://evil.org/ns/a",
            "spiffe://example.org/ns/a*",
            "spiffe://example.org/ns//a",
            "spiffe://Example.org/a",
            "role:",
        ] {
            let error = set(&["fine", bad], &none).unwrap_err();
            assert_eq!(error.0, 1, "{bad}: {}", error.1);
        }
        assert!(set(&[], &none).unwrap_err().1.contains("empty"));
    }
}
