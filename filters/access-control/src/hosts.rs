//! Host patterns, matched against the request's `:authority`.
//!
//! `api.example.org` matches that host on any port; `api.example.org:8443` only on that
//! port; `*.example.org` any subdomain (not `example.org` itself). Comparison ignores
//! ASCII case, as host names do.
//!
//! An allow rule's host matches the `:authority` as sent, so `api.example.org.` is not
//! `api.example.org` to it. A deny or log rule's host (compiled with `lenient`) matches
//! it however a server might read it: user information dropped, escapes decoded, every
//! trailing dot removed ([`crate::lenient::authority`]), so none of these can sidestep
//! a host-specific deny rule.

use crate::lenient;

/// A compiled host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lowercase; for a wildcard, the suffix including its leading dot (`.example.org`).
    host: Box<str>,
    wildcard: bool,
    port: Option<Box<str>>,
    lenient: bool,
}

impl HostPattern {
    /// Compiles a pattern, for a deny or log rule if `lenient`; the error says what is
    /// wrong with it.
    pub fn compile(pattern: &str, lenient: bool) -> Result<Self, String> {
        let (wildcard, rest) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let (host, port) = split_port(rest);
        let host_ok = !host.is_empty()
            && !host.ends_with('.')
            && (is_bracketed_ip(host)
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        if !host_ok || (wildcard && host.starts_with('[')) {
            return Err(format!(
                "`{pattern}` is not a host: use a name (`api.example.org`), a wildcard \
                 (`*.example.org`) or an IP, optionally with `:port`"
            ));
        }
        if let Some(port) = port {
            if port.parse::<u16>().is_err() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{pattern}` has an invalid port"));
            }
        }
        let host = if wildcard {
            format!(".{}", host.to_ascii_lowercase())
        } else {
            host.to_ascii_lowercase()
        };
        Ok(Self {
            host: host.into(),
            wildcard,
            port: port.map(Into::into),
            lenient,
        })
    }

    /// Whether the request's `:authority` matches.
    pub fn matches(&self, authority: &[u8]) -> bool {
        let read = if self.lenient {
            lenient::authority(authority)
        } else {
            match std::str::from_utf8(authority) {
                Ok(text) => text.into(),
                Err(_) => return false,
            }
        };
        let (host, port) = if self.lenient {
            split_port_leniently(&read)
        } else {
            split_port(&read)
        };
        if let Some(wanted) = &self.port {
            let same = match port {
                // A server reads `:08443` as port 8443.
                Some(port) if self.lenient => {
                    port.trim_start_matches('0') == wanted.trim_start_matches('0')
                }
                Some(port) => port == wanted.as_ref(),
                None => false,
            };
            if !same {
                return false;
            }
        }
        let host = if self.lenient {
            host.trim_end_matches('.')
        } else {
            host
        };
        if self.wildcard {
            host.len() > self.host.len()
                && host
                    .get(host.len() - self.host.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(&self.host))
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }
}

fn is_bracketed_ip(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Splits `host:port` as a lenient server does: at the first `:` (`a.org:1:2` is the host
/// `a.org`); `[v6]:port` keeps the brackets on the host.
fn split_port_leniently(authority: &str) -> (&str, Option<&str>) {
    split_at_port(authority, true)
}

/// Splits `host:port` at the last `:`; `[v6]:port` keeps the brackets on the host.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    split_at_port(authority, false)
}

fn split_at_port(authority: &str, first: bool) -> (&str, Option<&str>) {
    let bytes = authority.as_bytes();
    let colon = if bytes.first() == Some(&b'[') {
        bytes
            .iter()
            .position(|&b| b == b']')
            .map(|close| close + 1)
            .filter(|&after| bytes.get(after) == Some(&b':'))
    } else if first {
        bytes.iter().position(|&b| b == b':')
    } else {
        bytes.iter().rposition(|&b| b == b':')
    };
    match colon {
        Some(at) => (
            authority.get(..at).unwrap_or(authority),
            authority.get(at + 1..),
        ),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(p: &str) -> HostPattern {
        HostPattern::compile(p, false).unwrap()
    }

    #[test]
    fn allow_hosts_match_any_port_ignoring_case_only() {
        let p = host("API.example.org");
        for inside in ["api.example.org", "API.EXAMPLE.ORG", "api.example.org:8080"] {
            assert!(p.matches(inside.as_bytes()), "{inside}");
        }
        for outside in [
            "example.org",
            "xapi.example.org",
            "api.example.org.",
            "u@api.example.org",
            "%61pi.example.org",
            "",
        ] {
            assert!(!p.matches(outside.as_bytes()), "{outside}");
        }
    }

    #[test]
    fn deny_hosts_match_however_a_server_reads_them() {
        let p = HostPattern::compile("api.example.org:8443", true).unwrap();
        for inside in [
            "api.example.org:8443",
            "API.example.org.:8443",
            "api.example.org...:8443",
            "user@api.example.org:8443",
            "%61pi.example.org:8443",
            "%2561pi.Example.org:8443",
            "evil%40api.example.org:8443",
            "api.example.org:08443",
        ] {
            assert!(p.matches(inside.as_bytes()), "{inside}");
        }
        for outside in [
            "api.example.org:443",
            "api.example.org",
            "xapi.example.org:8443",
        ] {
            assert!(!p.matches(outside.as_bytes()), "{outside}");
        }
        let w = HostPattern::compile("*.example.org", true).unwrap();
        assert!(w.matches(b"a.example.org.") && !w.matches(b"example.org."));
        let any_port = HostPattern::compile("api.example.org", true).unwrap();
        for inside in [
            "api.example.org:1:2",
            "api.example.org:%FF",
            "api.example.org:x",
        ] {
            assert!(any_port.matches(inside.as_bytes()), "{inside}");
        }
        assert!(HostPattern::compile("api.example.org:99999", true).is_err());
    }

    #[test]
    fn ports_and_wildcards() {
        let p = host("api.example.org:8443");
        assert!(p.matches(b"api.example.org:8443"));
        assert!(!p.matches(b"api.example.org"));
        assert!(!p.matches(b"api.example.org:443"));
        let w = host("*.example.org");
        assert!(w.matches(b"a.example.org"));
        assert!(w.matches(b"a.b.EXAMPLE.org:1"));
        assert!(!w.matches(b"example.org"));
        assert!(!w.matches(b"aexample.org"));
        let v6 = host("[::1]:8080");
        assert!(v6.matches(b"[::1]:8080"));
        assert!(!v6.matches(b"[::1]"));
        assert!(host("[::1]").matches(b"[::1]:9"));
        assert!(host("10.0.0.1").matches(b"10.0.0.1:80"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "", "*", "*.", "a b", "a:", "a:x", "a:123456", "*.[::1]", "a/b", "a.", "[zz]",
        ] {
            assert!(HostPattern::compile(bad, false).is_err(), "{bad}");
        }
    }
}
