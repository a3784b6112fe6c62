//! Header names: syntax checks and the compiled name sets the rules look names up in.

/// RFC 9110 `tchar`: the characters of a token (header names, methods).
pub fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Whether `bytes` is a non-empty RFC 9110 token.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| is_tchar(byte))
}

/// Whether `name` is a valid header name: a token, or `:` followed by a token for a
/// pseudo-header.
pub fn is_valid_name(name: &[u8]) -> bool {
    is_token(name.strip_prefix(b":").unwrap_or(name))
}

/// Whether `name` is a pseudo-header (`:path`, `:authority`, ...).
pub fn is_pseudo(name: &[u8]) -> bool {
    name.first() == Some(&b':')
}

/// Whether a header value holds a control character other than horizontal tab
/// (RFC 9110 §5.5: NUL, CR and LF are never allowed, other controls are invalid).
pub fn has_control(value: &[u8]) -> bool {
    value
        .iter()
        .any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7F)
}

/// `value` without leading and trailing spaces and tabs (RFC 9110 `OWS`).
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    value.get(start..end).unwrap_or_default()
}

/// The hop-by-hop headers of RFC 9110 §7.6.1 (besides those `connection` names).
pub const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is one of [`HOP_BY_HOP`] (ASCII case-insensitive).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop.as_bytes()))
}

/// The comma-separated tokens of a list header such as `connection`, trimmed, empty
/// elements skipped.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(trim_ows)
        .filter(|token| !token.is_empty())
}

/// A set of header names, each an exact name or a prefix (written with a trailing `*`),
/// held lowercase; lookups are ASCII case-insensitive and do not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    exact: Vec<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl NameSet {
    /// Adds `entry` (`x-user`, or `x-envoy-*` for every name starting with `x-envoy-`),
    /// or says why it is not a header name or prefix. `*` is allowed only at the end.
    pub fn insert_pattern(&mut self, entry: &str) -> Result<(), String> {
        let lower = entry.to_ascii_lowercase();
        match lower.strip_suffix('*') {
            Some(prefix) => {
                if !is_token(prefix.as_bytes()) || prefix.contains('*') {
                    return Err(format!(
                        "`{entry}` is not a header name prefix (a token followed by `*`)"
                    ));
                }
                self.prefixes.push(prefix.into());
                Ok(())
            }
            None if lower.contains('*') => Err(format!(
                "`{entry}` has `*` other than as a final prefix wildcard"
            )),
            None => self.insert_exact(entry),
        }
    }

    /// Adds the exact name `name`, or says why it is not a header name.
    pub fn insert_exact(&mut self, name: &str) -> Result<(), String> {
        check_name(name)?;
        self.exact.push(name.to_ascii_lowercase().into());
        Ok(())
    }

    /// Whether `name` is in the set.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.exact
            .iter()
            .any(|exact| name.eq_ignore_ascii_case(exact.as_bytes()))
            || self.prefixes.iter().any(|prefix| {
                name.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
            })
    }
}

/// Checks that `name` can be configured as a header name: a token (pseudo-headers are
/// not configurable).
pub fn check_name(name: &str) -> Result<(), String> {
    if is_token(name.as_bytes()) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a header name (an RFC 9110 token)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tokens_and_names() {
        assert!(is_valid_name(b"x-user"));
        assert!(is_valid_name(b":authority"));
        assert!(is_valid_name(b"X_Odd~Name"));
        for bad in [
            &b""[..],
            b":",
            b"a b",
            b"a:b",
            b"::path",
            b"a\0",
            b"caf\xc3\xa9",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn controls_except_tab_are_found() {
        assert!(!has_control(b"a\tb \xff"));
        for bad in [&b"a\0"[..], b"a\r", b"\n", b"\x7f", b"\x1b["] {
            assert!(has_control(bad), "{bad:?}");
        }
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_ows(b" \ta b\t "), b"a b");
        assert_eq!(trim_ows(b"ab"), b"ab");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    #[test]
    fn list_tokens_are_trimmed() {
        let tokens: Vec<&[u8]> = list_tokens(b" close ,, X-Foo,\tupgrade ").collect();
        assert_eq!(tokens, vec![&b"close"[..], b"X-Foo", b"upgrade"]);
    }

    #[test]
    fn name_sets_match_exact_names_and_prefixes_in_any_case() {
        let mut set = NameSet::default();
        assert!(!set.contains(b"x-envoy-internal"));
        set.insert_pattern("X-Envoy-*").unwrap();
        set.insert_pattern("x-forwarded-client-cert").unwrap();
        assert!(set.contains(b"x-envoy-internal"));
        assert!(set.contains(b"X-ENVOY-"));
        assert!(set.contains(b"X-Forwarded-Client-Cert"));
        assert!(!set.contains(b"x-envoy"));
        assert!(!set.contains(b"x-forwarded-client-certs"));
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut set = NameSet::default();
        for bad in ["", "*", "x y", "x-*-*", ":path", "a*b"] {
            assert!(set.insert_pattern(bad).is_err(), "{bad}");
        }
        // `*` is a token character: an exact name may hold one.
        assert!(set.insert_exact("x-*").is_ok());
        assert!(set.insert_exact("x y").is_err());
    }

    #[test]
    fn hop_by_hop_names() {
        assert!(is_hop_by_hop(b"Transfer-Encoding"));
        assert!(is_hop_by_hop(b"te"));
        assert!(!is_hop_by_hop(b"trailer"));
    }
}
