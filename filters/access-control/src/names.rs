//! What counts as a valid name: rules, roles, services and headers.

/// Longest service name accepted, in bytes.
pub const MAX_SERVICE_NAME_LEN: usize = 253;

/// Longest rule or role name accepted, in bytes.
pub const MAX_RULE_NAME_LEN: usize = 64;

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}

/// A service name: 1 to 253 bytes of ASCII letters, digits, `.`, `_`, `-` (the characters
/// of a SPIFFE path segment, so a name is the same in a certificate and in a header).
pub fn is_service_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= MAX_SERVICE_NAME_LEN && name.iter().all(|&b| is_name_byte(b))
}

/// A rule or role name: 1 to 64 bytes of ASCII letters, digits, `.`, `_`, `-`.
pub fn is_rule_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_RULE_NAME_LEN && name.bytes().all(is_name_byte)
}

/// An HTTP header name as Envoy keeps it: a lowercase token, no pseudo-header.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// A header value this filter is willing to send: visible ASCII, spaces and tabs.
pub fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for good in ["frontend", "billing-v2", "a.b_c", "X1"] {
            assert!(is_service_name(good.as_bytes()), "{good}");
        }
        let long = "a".repeat(MAX_SERVICE_NAME_LEN + 1);
        for bad in ["", "a b", "a,b", "a;b", "role:x", "é", "a/b", long.as_str()] {
            assert!(!is_service_name(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn rule_names_and_headers() {
        assert!(is_rule_name("frontend-reads.orders_v2"));
        assert!(!is_rule_name("has space"));
        assert!(!is_rule_name(&"r".repeat(MAX_RULE_NAME_LEN + 1)));
        assert!(is_header_name("x-service-name"));
        assert!(!is_header_name("X-Service-Name"));
        assert!(!is_header_name(":path"));
        assert!(!is_header_name(""));
        assert!(is_header_value("a b\tc"));
        assert!(!is_header_value("a\nb"));
    }
}
