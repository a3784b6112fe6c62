//! HTTP methods, as written in rules and as received.

/// A method a rule can name (RFC 9110 and PATCH, RFC 5789). Configuration spells them
/// in uppercase; any other name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH
    Patch,
}

impl Method {
    /// Every method, in declaration order.
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Connect,
        Method::Options,
        Method::Trace,
        Method::Patch,
    ];

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }

    /// The method a request names, ignoring ASCII case (`get` is GET, so a rule about
    /// GET cannot be sidestepped by a lowercase method an application may accept).
    /// `None` for any other method, which only rules without `methods` match.
    pub fn parse(name: &[u8]) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of methods, as one bit per method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodSet(u16);

impl MethodSet {
    /// The set of `methods`.
    pub fn of(methods: &[Method]) -> Self {
        Self(methods.iter().fold(0, |bits, m| bits | m.bit()))
    }

    /// Whether `method` is in the set (an unknown method never is).
    pub fn contains(self, method: Option<Method>) -> bool {
        method.is_some_and(|m| self.0 & m.bit() != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_case_and_refuses_others() {
        assert_eq!(Method::parse(b"GET"), Some(Method::Get));
        assert_eq!(Method::parse(b"get"), Some(Method::Get));
        assert_eq!(Method::parse(b"pAtCh"), Some(Method::Patch));
        assert_eq!(Method::parse(b"PROPFIND"), None);
        assert_eq!(Method::parse(b""), None);
        assert_eq!(Method::parse(b"GET "), None);
    }

    #[test]
    fn sets_hold_their_members_only() {
        let set = MethodSet::of(&[Method::Get, Method::Head]);
        assert!(set.contains(Some(Method::Get)));
        assert!(set.contains(Some(Method::Head)));
        assert!(!set.contains(Some(Method::Post)));
        assert!(!set.contains(None));
        for method in Method::ALL {
            assert!(MethodSet::of(&Method::ALL).contains(Some(method)));
            assert_eq!(Method::parse(method.as_str().as_bytes()), Some(method));
        }
    }
}
