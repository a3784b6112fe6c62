//! `:authority` validation and canonicalization.
//!
//! An authority is `host[:port]`. The host is a bracketed IPv6 address, a dotted-decimal
//! IPv4 address, or a name of ASCII letters, digits, `-`, `.`, `_` and `~` whose labels are
//! not empty (one trailing dot allowed). Everything else is refused: user info (`@`),
//! percent-encoding, raw non-ASCII (use punycode), commas (two `Host` headers that Envoy
//! joined), and a name whose last label is a number but which is not a dotted-decimal
//! IPv4 address (`127.1`, `0x7f.0.0.1`, `2130706433`), which resolvers and URL parsers
//! read as IPv4 in differing ways. A port is 1 to 65535 without leading zeros; an empty
//! port (`host:`) means no port.

use std::net::Ipv6Addr;

use crate::names::{byte_class, HOST_SPECIAL};

/// A parsed authority, borrowing from the header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority<'a> {
    /// The host, brackets included for IPv6.
    pub host: &'a [u8],
    /// The port digits after `:`; `Some(b"")` for a bare `:`.
    pub port: Option<&'a [u8]>,
    /// Whether the host has an uppercase ASCII letter.
    pub has_uppercase: bool,
}

impl Authority<'_> {
    /// The port as a number, when there is a non-empty one.
    pub fn port_number(&self) -> Option<u16> {
        std::str::from_utf8(self.port?).ok()?.parse().ok()
    }
}

/// Parses and validates an authority; `None` when it is not a valid `host[:port]`.
pub fn parse(value: &[u8]) -> Option<Authority<'_>> {
    let (host, rest, has_uppercase) = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&byte| byte == b']')?;
        let (host, rest) = value.split_at_checked(close + 1)?;
        let inner = host.get(1..close)?;
        std::str::from_utf8(inner).ok()?.parse::<Ipv6Addr>().ok()?;
        (host, rest, host.iter().any(u8::is_ascii_uppercase))
    } else {
        let (end, has_uppercase) = name_or_ipv4_end(value)?;
        let (host, rest) = value.split_at_checked(end)?;
        (host, rest, has_uppercase)
    };
    let port = match rest {
        [] => None,
        [b':', digits @ ..] if is_valid_port(digits) => Some(digits),
        _ => return None,
    };
    Some(Authority {
        host,
        port,
        has_uppercase,
    })
}

fn is_valid_port(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return true;
    }
    digits.len() <= 5
        && digits.first() != Some(&b'0')
        && digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(digits)
            .ok()
            .and_then(|text| text.parse::<u16>().ok())
            .is_some()
}

/// Where the host of `value` (not an IPv6 literal) ends, at its first `:` or at its end,
/// and whether it has uppercase letters; `None` when that host is not a valid name or
/// IPv4 address: bytes other than letters, digits, `-`, `.`, `_` and `~`, an empty label
/// (one trailing dot is allowed), or a last label that is a number without the host
/// being a dotted-decimal IPv4 address. One pass over the host, then one over its last
/// label.
fn name_or_ipv4_end(value: &[u8]) -> Option<(usize, bool)> {
    let mut label_start = 0;
    let mut last_label_start = 0;
    let mut end = value.len();
    let mut has_uppercase = false;
    let mut index = 0;
    loop {
        // Most bytes need no attention: one table lookup each.
        while value
            .get(index)
            .is_some_and(|&byte| byte_class(byte) & HOST_SPECIAL == 0)
        {
            index += 1;
        }
        let Some(&byte) = value.get(index) else {
            break;
        };
        match byte {
            b'.' => {
                if index == label_start {
                    return None;
                }
                last_label_start = label_start;
                label_start = index + 1;
            }
            b'A'..=b'Z' => has_uppercase = true,
            b':' => {
                end = index;
                break;
            }
            _ => return None,
        }
        index += 1;
    }
    if end == 0 {
        return None;
    }
    // The host without its trailing dot, and its last label.
    let (host, last) = if label_start == end {
        (value.get(..end - 1)?, value.get(last_label_start..end - 1)?)
    } else {
        (value.get(..end)?, value.get(label_start..end)?)
    };
    if is_numeric_label(last) && !is_dotted_decimal_ipv4(host) {
        return None;
    }
    Some((end, has_uppercase))
}

/// A label URL parsers read as a number: decimal digits, or `0x` and hex digits.
fn is_numeric_label(label: &[u8]) -> bool {
    match label {
        [b'0', b'x' | b'X', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
        _ => !label.is_empty() && label.iter().all(u8::is_ascii_digit),
    }
}

fn is_dotted_decimal_ipv4(host: &[u8]) -> bool {
    let mut labels = 0;
    for label in host.split(|&byte| byte == b'.') {
        labels += 1;
        let valid = match label {
            [b'0'] => true,
            [b'1'..=b'9', rest @ ..] => {
                rest.len() <= 2
                    && rest.iter().all(u8::is_ascii_digit)
                    && std::str::from_utf8(label)
                        .ok()
                        .and_then(|text| text.parse::<u8>().ok())
                        .is_some()
            }
            _ => false,
        };
        if !valid {
            return false;
        }
    }
    labels == 4
}

/// The canonical authority and which rules changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The canonical `host[:port]`.
    pub value: String,
    /// The host had uppercase letters that were lowered.
    pub lowered: bool,
    /// The port (or a bare `:`) was removed.
    pub port_stripped: bool,
    /// A trailing dot was removed from the host.
    pub dot_stripped: bool,
}

/// How to canonicalize an authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canonicalize {
    /// Lowercase the host.
    pub lowercase: bool,
    /// Remove a trailing dot of the host.
    pub strip_trailing_dot: bool,
    /// Remove the port.
    pub strip_port: bool,
}

/// Canonicalizes a parsed authority; `None` when it is already canonical. An empty port
/// is always removed.
pub fn canonicalize(authority: &Authority<'_>, how: Canonicalize) -> Option<Rewritten> {
    let lowered = how.lowercase && authority.has_uppercase;
    let dot_stripped = how.strip_trailing_dot && authority.host.ends_with(b".");
    let port_stripped = authority
        .port
        .is_some_and(|port| how.strip_port || port.is_empty());
    if !(lowered || dot_stripped || port_stripped) {
        return None;
    }
    let host = if dot_stripped {
        authority.host.strip_suffix(b".").unwrap_or(authority.host)
    } else {
        authority.host
    };
    // A parsed host and port are ASCII.
    let text = |bytes| std::str::from_utf8(bytes).unwrap_or_default();
    let mut value = String::with_capacity(host.len() + 6);
    value.push_str(text(host));
    if how.lowercase {
        value.make_ascii_lowercase();
    }
    if let (Some(port), false) = (authority.port, port_stripped) {
        value.push(':');
        value.push_str(text(port));
    }
    Some(Rewritten {
        value,
        lowered,
        port_stripped,
        dot_stripped,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const ALL: Canonicalize = Canonicalize {
        lowercase: true,
        strip_trailing_dot: true,
        strip_port: true,
    };
    const NONE: Canonicalize = Canonicalize {
        lowercase: false,
        strip_trailing_dot: false,
        strip_port: false,
    };

    fn canonical(value: &str, how: Canonicalize) -> Option<String> {
        let authority = parse(value.as_bytes()).unwrap();
        canonicalize(&authority, how).map(|r| r.value)
    }

    #[test]
    fn valid_authorities_parse() {
        for good in [
            "example.com",
            "example.com.",
            "Example.COM:8080",
            "svc_name",
            "a-b~c",
            "localhost:1",
            "localhost:65535",
            "10.0.0.1",
            "10.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "[2001:DB8::ff]",
            "[::ffff:10.0.0.1]",
            "host:",
            "0.0.0.0",
            "a.b0",
            "0x.a",
        ] {
            assert!(parse(good.as_bytes()).is_some(), "{good}");
        }
        let parsed = parse(b"[::1]:8443").unwrap();
        assert_eq!(parsed.host, b"[::1]");
        assert_eq!(parsed.port_number(), Some(8443));
    }

    #[test]
    fn invalid_authorities_are_refused() {
        for bad in [
            "",
            ":80",
            "a,b",
            "a b",
            "user@host",
            "host/path",
            "ho%73t",
            "caf\u{e9}.com",
            "a..b",
            ".a",
            "a.b..",
            "host:0",
            "host:080",
            "host:65536",
            "host:123456",
            "host:8x",
            "host:80:80",
            "[::1",
            "[::1]x",
            "[not-v6]",
            "[fe80::1%25eth0]",
            "127.1",
            "2130706433",
            "0x7f.0.0.1",
            "127.0.0.01",
            "256.0.0.1",
            "1.2.3.4.5",
            "example.123",
            "example.0x1f",
            "a.0x",
            "0",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canonical("Example.COM.:8080", ALL).as_deref(),
            Some("example.com")
        );
        assert_eq!(canonical("example.com", ALL), None);
        assert_eq!(canonical("Example.com", NONE), None);
        assert_eq!(canonical("host:", NONE).as_deref(), Some("host"));
        assert_eq!(canonical("[::1]:", NONE).as_deref(), Some("[::1]"));
        assert_eq!(
            canonical("[2001:DB8::1]:443", ALL).as_deref(),
            Some("[2001:db8::1]")
        );
        let keep_port = Canonicalize {
            strip_port: false,
            ..ALL
        };
        assert_eq!(canonical("A.b.:81", keep_port).as_deref(), Some("a.b:81"));
    }

    #[test]
    fn flags_say_what_changed() {
        let authority = parse(b"Example.com.:80").unwrap();
        let rewritten = canonicalize(&authority, ALL).unwrap();
        assert!(rewritten.lowered && rewritten.port_stripped && rewritten.dot_stripped);
        let authority = parse(b"example.com:80").unwrap();
        let rewritten = canonicalize(&authority, ALL).unwrap();
        assert!(!rewritten.lowered && rewritten.port_stripped && !rewritten.dot_stripped);
    }

    /// The host check as it was written before the one-pass [`name_or_ipv4_end`], as a
    /// reference.
    fn reference_is_valid_name_or_ipv4(host: &[u8]) -> bool {
        let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || b"-._~".contains(byte);
        if host.is_empty() || !host.iter().all(allowed) {
            return false;
        }
        let without_dot = host.strip_suffix(b".").unwrap_or(host);
        if without_dot
            .split(|&byte| byte == b'.')
            .any(<[u8]>::is_empty)
        {
            return false;
        }
        let last = without_dot.rsplit(|&byte| byte == b'.').next();
        if last.is_some_and(is_numeric_label) {
            return is_dotted_decimal_ipv4(without_dot);
        }
        true
    }

    #[test]
    fn the_one_pass_host_check_agrees_with_the_reference() {
        const PIECES: &[&[u8]] = &[
            b"a", b"Z", b"0", b"1", b"25", b"256", b"0x", b"0X1f", b"x", b".", b".", b"-", b"_",
            b"~", b":", b":80", b"@", b" ", b"%", b",", b"\xc3", b"svc", b"127", b"07",
        ];
        let mut state = 0x1234_5678_9abc_def1u64;
        for _ in 0..60_000 {
            let mut value = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bits = state;
            for _ in 0..(bits % 8) {
                bits /= 8;
                value.extend_from_slice(PIECES[(bits % PIECES.len() as u64) as usize]);
            }
            let colon = value.iter().position(|&byte| byte == b':');
            let host = &value[..colon.unwrap_or(value.len())];
            let expected = reference_is_valid_name_or_ipv4(host).then_some(host.len());
            let found = name_or_ipv4_end(&value).map(|(end, _)| end);
            assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(&value));
            if let Some((end, has_uppercase)) = name_or_ipv4_end(&value) {
                assert_eq!(
                    has_uppercase,
                    value[..end].iter().any(u8::is_ascii_uppercase)
                );
            }
        }
    }
}
