//! A pass-through limiter for the W3C `baggage` header.
//!
//! The proxy does not interpret baggage; it forwards it within the specification's limits:
//!
//! - all header values are combined as if joined with `,`; empty members are skipped;
//! - a member must be syntactically valid, `key OWS "=" OWS value *(OWS ";" OWS property)`,
//!   where a key is an RFC 7230 token, a value is zero or more baggage octets
//!   (`0x21`, `0x23`-`0x2B`, `0x2D`-`0x3A`, `0x3C`-`0x5B`, `0x5D`-`0x7E`) and a property is
//!   `key OWS "=" OWS value` or `key`; invalid members are dropped;
//! - members are kept whole and in order, at most [`MAX_MEMBERS`] of them, in a value of at
//!   most [`MAX_BYTES`] bytes: a member that would go past the byte limit is dropped and
//!   later, shorter members are still considered.
//!
//! Members are forwarded as received, minus the spaces and tabs around them, joined with
//! `,`. Values are not percent-decoded.

use super::chars::{class, skip, skip_ows, BAGGAGE_OCTET, OWS, TCHAR};
use super::trim_ows;

/// The header name.
pub const BAGGAGE: &str = "baggage";

/// The maximum number of members forwarded.
pub const MAX_MEMBERS: usize = 64;

/// The maximum length in bytes of the forwarded header value.
pub const MAX_BYTES: usize = 8192;

/// The `baggage` value to forward, from all the received values, or `None` when no member
/// is left (then send no header).
pub fn limit_baggage(values: &[&[u8]]) -> Option<String> {
    let mut out = String::new();
    let mut kept = 0;
    let members = values.iter().flat_map(|value| value.split(|b| *b == b','));
    for member in members.map(trim_ows).filter(|m| !m.is_empty()) {
        if kept == MAX_MEMBERS {
            break;
        }
        if !is_valid_member(member) {
            continue;
        }
        let Ok(member) = std::str::from_utf8(member) else {
            continue;
        };
        let separator = usize::from(kept > 0);
        if out.len() + separator + member.len() > MAX_BYTES {
            continue;
        }
        if kept > 0 {
            out.push(',');
        }
        out.push_str(member);
        kept += 1;
    }
    (kept > 0).then_some(out)
}

/// Whether one received `baggage` value is already within the limits, so that
/// [`limit_baggage`] would forward it unchanged: at most [`MAX_BYTES`] bytes and
/// [`MAX_MEMBERS`] members, every member valid, none empty or with spaces around it.
/// Checks in one pass over the bytes, without building the forwarded value.
pub fn is_within_limits(value: &[u8]) -> bool {
    if value.len() > MAX_BYTES {
        return false;
    }
    let mut start = 0;
    for _ in 0..MAX_MEMBERS {
        let Some(end) = scan_member(value, start) else {
            return false;
        };
        if end == value.len() {
            return true;
        }
        // `end` is a `,`.
        start = end + 1;
    }
    false
}

/// Whether one trimmed, non-empty member is valid.
fn is_valid_member(member: &[u8]) -> bool {
    scan_member(member, 0) == Some(member.len())
}

/// Reads the member at `start` of `bytes`, which ends at a `,` or at the end, by
/// `key OWS "=" OWS value *(OWS ";" OWS property)`, a property being
/// `key OWS "=" OWS value` or `key`: where it ends, or `None` when it is invalid, empty, or
/// starts or ends with a space or tab.
fn scan_member(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    let mut first_part = true;
    loop {
        // A key: one or more `tchar`.
        let key_end = skip(bytes, at, TCHAR);
        if key_end == at {
            return None;
        }
        at = skip_ows(bytes, key_end);
        if bytes.get(at) == Some(&b'=') {
            at = skip_ows(bytes, at + 1);
            at = skip(bytes, at, BAGGAGE_OCTET);
            at = skip_ows(bytes, at);
        } else if first_part {
            return None;
        }
        match bytes.get(at) {
            None | Some(b',') => break,
            Some(b';') => at = skip_ows(bytes, at + 1),
            Some(_) => return None,
        }
        first_part = false;
    }
    let last = bytes.get(at.checked_sub(1)?)?;
    (class(*last) & OWS == 0).then_some(at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn limit(values: &[&str]) -> Option<String> {
        let bytes: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        limit_baggage(&bytes)
    }

    #[test]
    fn valid_members_pass_through_combined() {
        let forwarded = limit(&[
            "userId=alice",
            " serverNode = DF%2028 , isProduction=false",
            "key1=value1;property1;property2, key3=value3; propertyKey=propertyValue",
        ]);
        assert_eq!(
            forwarded.unwrap(),
            "userId=alice,serverNode = DF%2028,isProduction=false,\
             key1=value1;property1;property2,key3=value3; propertyKey=propertyValue"
        );
    }

    #[test]
    fn values_may_be_empty_or_contain_equals_signs() {
        assert_eq!(
            limit(&["a=,b=x=y==,c=;p=1=2"]).unwrap(),
            "a=,b=x=y==,c=;p=1=2"
        );
    }

    #[test]
    fn invalid_members_are_dropped() {
        let forwarded = limit(&[
            "ok=1,novalue,=v,a b=1,k=v\"q,k=back\\slash,k=v;,k=v;;p,k=v;=1,k=v w,k=caf\u{e9}",
            "last=2",
        ]);
        assert_eq!(forwarded.unwrap(), "ok=1,last=2");
        assert_eq!(limit_baggage(&[b"k=\xff,ok=1"]).unwrap(), "ok=1");
    }

    #[test]
    fn values_within_limits_are_exactly_those_forwarded_unchanged() {
        let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let exactly_64 = members[..64].join(",");
        let all_65 = members.join(",");
        let exact = format!("k={}", "v".repeat(MAX_BYTES - 2));
        let over = format!("k={}", "v".repeat(MAX_BYTES - 1));
        let values = [
            "a=1",
            "user.tier=gold,session.region=eu-west-1",
            "a=,b=x=y==,c=;p=1=2",
            "key1=value1;property1;property2",
            "serverNode = DF%2028",
            "a=1, b=2",
            "a=1 ,b=2",
            " a=1",
            "a=1\t",
            "a=1,",
            ",a=1",
            "a=1,,b=2",
            "",
            " ",
            "bad member",
            "a=1,bad member",
            "k=v;",
            "k=caf\u{e9}",
            &exactly_64,
            &all_65,
            &exact,
            &over,
        ];
        for value in values {
            let unchanged = limit_baggage(&[value.as_bytes()]).as_deref() == Some(value);
            assert_eq!(is_within_limits(value.as_bytes()), unchanged, "{value:?}");
        }
        assert!(!is_within_limits(b"k=\xff"));
    }

    #[test]
    fn nothing_left_gives_none() {
        assert_eq!(limit(&[]), None);
        assert_eq!(limit(&["", " , "]), None);
        assert_eq!(limit(&["bad member"]), None);
    }

    #[test]
    fn at_most_64_members_are_kept() {
        let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let forwarded = limit(&[&members[..30].join(","), &members[30..].join(",")]).unwrap();
        assert_eq!(forwarded, members[..64].join(","));
        let exactly_64 = members[..64].join(",");
        assert_eq!(limit(&[&exactly_64]).unwrap(), exactly_64);
    }

    #[test]
    fn at_most_8192_bytes_with_whole_members() {
        // 9 members of 1000 bytes: 8 fit (8007 bytes with commas), the 9th does not.
        let members: Vec<String> = (0..9)
            .map(|i| format!("k{i}={}", "v".repeat(997)))
            .collect();
        let mut values: Vec<&str> = members.iter().map(String::as_str).collect();
        values.push("small=1");
        let forwarded = limit(&values).unwrap();
        assert!(forwarded.len() <= MAX_BYTES);
        assert_eq!(forwarded, format!("{},small=1", members[..8].join(",")));

        let exact = format!("k={}", "v".repeat(MAX_BYTES - 2));
        assert_eq!(limit(&[&exact]).unwrap().len(), MAX_BYTES);
        let over = format!("k={}", "v".repeat(MAX_BYTES - 1));
        assert_eq!(limit(&[&over]), None);
    }
}
