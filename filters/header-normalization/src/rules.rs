//! The rules the filter enforces, by the names operators see in JSON error bodies,
//! response code details and the `rule` tag of the metrics.

use wasmesh_path::PathRejection;

/// Why a request is refused. Each variant is one rule; [`Rejection::rule`] is its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// More header fields than `max_headers` (431).
    HeaderCount,
    /// More header bytes than `max_header_bytes` (431).
    HeaderBytes,
    /// A header name that is not an RFC 9110 token (a pseudo-header: `:` and a token).
    InvalidHeaderName,
    /// A header value holding a control character other than horizontal tab.
    InvalidHeaderValue,
    /// A method outside `allowed_methods`.
    MethodNotAllowed,
    /// A method with lowercase letters whose uppercase form is allowed, while
    /// `lowercase_methods` is `reject`.
    LowercaseMethod,
    /// The path was refused by one of the path rules.
    Path(PathRejection),
    /// A header name with `_`, while `underscores_in_names` is `reject`.
    UnderscoreHeader,
    /// A singleton header (or pseudo-header) given more than once, while
    /// `repeated_singletons` is `reject`.
    RepeatedHeader,
    /// An `:authority` (or `host`) that is not a valid `host[:port]`.
    InvalidAuthority,
}

impl Rejection {
    /// The rule's name: the `rule` of the JSON body and of the metric tag.
    pub fn rule(&self) -> &'static str {
        match self {
            Rejection::HeaderCount => "header_count",
            Rejection::HeaderBytes => "header_bytes",
            Rejection::InvalidHeaderName => "invalid_header_name",
            Rejection::InvalidHeaderValue => "invalid_header_value",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::LowercaseMethod => "lowercase_method",
            Rejection::Path(rejection) => rejection.rule(),
            Rejection::UnderscoreHeader => "underscore_header",
            Rejection::RepeatedHeader => "repeated_header",
            Rejection::InvalidAuthority => "invalid_authority",
        }
    }

    /// The status of the reply: 431 for the size limits, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::HeaderCount | Rejection::HeaderBytes => 431,
            _ => 400,
        }
    }

    /// The `error` of the JSON body.
    pub fn error(&self) -> &'static str {
        match self {
            Rejection::HeaderCount | Rejection::HeaderBytes => "request_header_fields_too_large",
            _ => "bad_request",
        }
    }
}

/// A change made to a forwarded request. Each variant is one rule; [`Normalization::rule`]
/// is its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// The path was rewritten to its canonical form.
    Path,
    /// A lowercase method was uppercased (`lowercase_methods: uppercase`).
    LowercaseMethod,
    /// A header whose name has `_` was dropped (`underscores_in_names: drop`).
    UnderscoreHeader,
    /// Later values of a repeated singleton header were dropped (`repeated_singletons: keep_first`).
    RepeatedHeader,
    /// A hop-by-hop header was removed.
    HopByHopHeader,
    /// An internal header from an untrusted caller was removed.
    InternalHeader,
    /// The authority was lowercased.
    AuthorityCase,
    /// The port was removed from the authority.
    AuthorityPort,
    /// The trailing dot was removed from the authority's host.
    AuthorityTrailingDot,
    /// Whitespace around a header value was trimmed.
    HeaderWhitespace,
    /// A legacy header name was renamed to its canonical name (or dropped, the canonical
    /// header being present).
    RenamedHeader,
}

impl Normalization {
    /// Every normalization, in the order the README lists them.
    pub const ALL: [Normalization; 11] = [
        Normalization::Path,
        Normalization::LowercaseMethod,
        Normalization::UnderscoreHeader,
        Normalization::RepeatedHeader,
        Normalization::HopByHopHeader,
        Normalization::InternalHeader,
        Normalization::AuthorityCase,
        Normalization::AuthorityPort,
        Normalization::AuthorityTrailingDot,
        Normalization::HeaderWhitespace,
        Normalization::RenamedHeader,
    ];

    /// The rule's name: the `rule` tag of the `normalized` counter.
    pub fn rule(&self) -> &'static str {
        match self {
            Normalization::Path => "path",
            Normalization::LowercaseMethod => "lowercase_method",
            Normalization::UnderscoreHeader => "underscore_header",
            Normalization::RepeatedHeader => "repeated_header",
            Normalization::HopByHopHeader => "hop_by_hop_header",
            Normalization::InternalHeader => "internal_header",
            Normalization::AuthorityCase => "authority_case",
            Normalization::AuthorityPort => "authority_port",
            Normalization::AuthorityTrailingDot => "authority_trailing_dot",
            Normalization::HeaderWhitespace => "header_whitespace",
            Normalization::RenamedHeader => "renamed_header",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of normalizations, held in one integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Normalizations(u16);

impl Normalizations {
    /// Adds `normalization` to the set.
    pub fn insert(&mut self, normalization: Normalization) {
        self.0 |= normalization.bit();
    }

    /// Whether `normalization` is in the set.
    pub fn contains(&self, normalization: Normalization) -> bool {
        self.0 & normalization.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Normalization::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Normalization> {
        Normalization::ALL
            .into_iter()
            .filter(move |normalization| self.contains(*normalization))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_snake_case(name: &str) -> bool {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn normalization_names_are_distinct_snake_case() {
        let names: Vec<&str> = Normalization::ALL.iter().map(|n| n.rule()).collect();
        for (index, name) in names.iter().enumerate() {
            assert!(is_snake_case(name), "{name}");
            assert!(!names.iter().skip(index + 1).any(|other| other == name));
        }
    }

    #[test]
    fn rejection_names_and_statuses() {
        assert_eq!(Rejection::HeaderCount.status(), 431);
        assert_eq!(Rejection::HeaderBytes.status(), 431);
        assert_eq!(Rejection::RepeatedHeader.status(), 400);
        assert_eq!(
            Rejection::Path(PathRejection::EscapedSlash).rule(),
            "escaped_slash"
        );
        for rejection in PathRejection::ALL {
            assert!(is_snake_case(Rejection::Path(rejection).rule()));
        }
    }

    #[test]
    fn the_set_holds_each_member_once_in_order() {
        let mut set = Normalizations::default();
        assert!(set.is_empty());
        set.insert(Normalization::RenamedHeader);
        set.insert(Normalization::Path);
        set.insert(Normalization::Path);
        let members: Vec<_> = set.iter().collect();
        assert_eq!(
            members,
            vec![Normalization::Path, Normalization::RenamedHeader]
        );
    }
}
