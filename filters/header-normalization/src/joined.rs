//! Singleton header values that carry a second value joined with a comma.
//!
//! RFC 9110 §5.3 lets a recipient combine repeated field lines into one value separated
//! by commas, and Envoy does so before any filter runs for the headers it keeps in fixed
//! slots: two `Authorization` lines reach filters as `authorization: a,b`, two `Host`
//! lines as `:authority: svc,evil`. For a header that must appear once, a comma that
//! starts another value is therefore a repeat.

use crate::names::{eq_lowercase, has_comma};

/// Where a second value starts in `value` of the singleton header `name`: the byte index
/// of the comma before it, or `None` for a single value.
///
/// `authorization` and `proxy-authorization` may hold commas between the `auth-param`s of
/// one credential (`Digest username="a", realm="b"`, RFC 9110 §11.4): there a comma starts
/// a second value only when what follows is not `name=` (and commas inside quoted strings
/// never count). For every other singleton any comma does.
pub fn second_value_at(name: &[u8], value: &[u8]) -> Option<usize> {
    if !has_comma(value) {
        return None;
    }
    if eq_lowercase(name, b"authorization") || eq_lowercase(name, b"proxy-authorization") {
        second_credentials_at(value)
    } else {
        value.iter().position(|&byte| byte == b',')
    }
}

fn second_credentials_at(value: &[u8]) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, &byte) in value.iter().enumerate() {
        if in_quotes {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_quotes = true,
            b',' if !starts_auth_param(value.get(index + 1..).unwrap_or_default()) => {
                return Some(index);
            }
            _ => {}
        }
    }
    None
}

/// Whether `rest` (what follows a comma) is an `auth-param` (`name = value`), or nothing
/// but more commas and whitespace (empty list elements).
fn starts_auth_param(rest: &[u8]) -> bool {
    let is_ows = |byte: &u8| matches!(byte, b' ' | b'\t' | b',');
    let rest = match rest.iter().position(|byte| !is_ows(byte)) {
        Some(start) => rest.get(start..).unwrap_or_default(),
        None => return true,
    };
    let name_len = rest
        .iter()
        .position(|&byte| !crate::names::is_tchar(byte))
        .unwrap_or(rest.len());
    let after_name = rest.get(name_len..).unwrap_or_default();
    name_len > 0
        && after_name
            .iter()
            .find(|byte| !matches!(byte, b' ' | b'\t'))
            .is_some_and(|&byte| byte == b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, value: &str) -> Option<usize> {
        second_value_at(name.as_bytes(), value.as_bytes())
    }

    #[test]
    fn joined_credentials_are_found() {
        assert_eq!(at("authorization", "a,b"), Some(1));
        assert_eq!(at("authorization", "Bearer x,Bearer y"), Some(8));
        assert_eq!(at("authorization", "Bearer x, Basic eXk="), Some(8));
        assert_eq!(at("Authorization", "Basic eXk=,b"), Some(10));
        assert_eq!(at("proxy-authorization", "Basic a, Basic b"), Some(7));
    }

    #[test]
    fn one_credential_with_parameters_is_one_value() {
        for single in [
            "Bearer abc.def-ghi",
            "Basic dXNlcjpwYXNz",
            r#"Digest username="a,b", realm="r, s", nonce = "n""#,
            r#"Digest username="a\",b", qop=auth, nc=00000001"#,
            "Custom a=1,b=2, c =3",
            "Custom a=1,",
            "Custom a=1, ,",
        ] {
            assert_eq!(at("authorization", single), None, "{single}");
        }
    }

    #[test]
    fn other_singletons_split_at_any_comma() {
        assert_eq!(at("content-length", "5,5"), Some(1));
        assert_eq!(at("traceparent", "00-a-b-01, 00-c-d-01"), Some(9));
        assert_eq!(at(":authority", "svc,evil"), Some(3));
        assert_eq!(at("x-tenant", "a"), None);
    }
}
