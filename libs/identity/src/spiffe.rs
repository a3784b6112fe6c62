//! SPIFFE IDs (`spiffe://<trust-domain>/<path>`), validated per the SPIFFE ID specification.

use std::fmt;

/// Longest SPIFFE ID accepted, in bytes.
pub const MAX_LEN: usize = 2048;

/// A validated SPIFFE ID, borrowing the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiffeId<'a> {
    id: &'a str,
    trust_domain: &'a str,
    path: &'a str,
}

/// Why a string is not a valid SPIFFE ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpiffeError {
    /// Does not start with `spiffe://` (lowercase).
    Scheme,
    /// Empty trust domain, or a character outside `[a-z0-9._-]`.
    TrustDomain,
    /// An empty, `.` or `..` segment, a trailing `/`, or a character outside `[A-Za-z0-9._-]`.
    Path,
    /// Longer than 2048 bytes.
    TooLong,
}

impl fmt::Display for SpiffeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "a SPIFFE ID starts with `spiffe://`",
            Self::TrustDomain => "the trust domain must be non-empty and use only a-z, 0-9, `.`, `-`, `_`",
            Self::Path => "path segments must be non-empty, not `.` or `..`, and use only letters, digits, `.`, `-`, `_`",
            Self::TooLong => "a SPIFFE ID is at most 2048 bytes",
        })
    }
}

impl<'a> SpiffeId<'a> {
    /// Parses and validates `id`.
    pub fn parse(id: &'a str) -> Result<Self, SpiffeError> {
        if id.len() > MAX_LEN {
            return Err(SpiffeError::TooLong);
        }
        let rest = id.strip_prefix("spiffe://").ok_or(SpiffeError::Scheme)?;
        let (trust_domain, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let domain_ok = !trust_domain.is_empty()
            && trust_domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !domain_ok {
            return Err(SpiffeError::TrustDomain);
        }
        if !path.is_empty() {
            let segments_ok = path.split('/').skip(1).all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
            if !segments_ok {
                return Err(SpiffeError::Path);
            }
        }
        Ok(Self {
            id,
            trust_domain,
            path,
        })
    }

    /// The whole ID.
    pub fn as_str(&self) -> &'a str {
        self.id
    }

    /// The trust domain, e.g. `example.org`.
    pub fn trust_domain(&self) -> &'a str {
        self.trust_domain
    }

    /// The path, e.g. `/ns/default/sa/frontend` (empty for a trust domain's own ID).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &'a str> {
        self.path.split('/').skip(1).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn valid_ids_split_into_parts() {
        let id = SpiffeId::parse("spiffe://example.org/ns/default/sa/frontend").unwrap();
        assert_eq!(id.trust_domain(), "example.org");
        assert_eq!(id.path(), "/ns/default/sa/frontend");
        assert_eq!(
            id.segments().collect::<Vec<_>>(),
            ["ns", "default", "sa", "frontend"]
        );
        assert_eq!(SpiffeId::parse("spiffe://td").unwrap().path(), "");
    }

    #[test]
    fn invalid_ids_are_refused() {
        for (bad, why) in [
            ("SPIFFE://td/a", SpiffeError::Scheme),
            ("https://td/a", SpiffeError::Scheme),
            ("spiffe:///a", SpiffeError::TrustDomain),
            ("spiffe://Example.org/a", SpiffeError::TrustDomain),
            ("spiffe://td:443/a", SpiffeError::TrustDomain),
            ("spiffe://user@td/a", SpiffeError::TrustDomain),
            ("spiffe://td/", SpiffeError::Path),
            ("spiffe://td//a", SpiffeError::Path),
            ("spiffe://td/a/../b", SpiffeError::Path),
            ("spiffe://td/a/./b", SpiffeError::Path),
            ("spiffe://td/a?x=1", SpiffeError::Path),
            ("spiffe://td/a#f", SpiffeError::Path),
            ("spiffe://td/a%2Fb", SpiffeError::Path),
        ] {
            assert_eq!(SpiffeId::parse(bad), Err(why), "{bad}");
        }
        let long = format!("spiffe://td/{}", "a".repeat(MAX_LEN));
        assert_eq!(SpiffeId::parse(&long), Err(SpiffeError::TooLong));
    }
}
