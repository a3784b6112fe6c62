//! Envoy's `x-forwarded-client-cert` (XFCC) header.
//!
//! With `forward_client_cert_details: SANITIZE_SET` Envoy replaces whatever the client sent
//! with one element describing the verified client certificate of this connection, e.g.
//! `By=spiffe://td/ns/x/sa/me;Hash=…;URI=spiffe://td/ns/y/sa/caller`. Every URI SAN appears as
//! its own `URI=` pair, which is how a filter sees more than the first SAN.
//!
//! Elements are separated by `,`, pairs by `;`; a value containing `,` `;` or `=` is quoted
//! with `"` and quotes inside it are escaped with `\`.

use std::fmt;

/// One certificate's element of the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XfccElement {
    /// `By`: the URI SAN of the proxy that set the element (this sidecar).
    pub by: Vec<String>,
    /// `Hash`: SHA-256 of the client certificate.
    pub hash: Option<String>,
    /// `Subject` of the client certificate.
    pub subject: Option<String>,
    /// Every `URI` SAN of the client certificate.
    pub uris: Vec<String>,
    /// Every `DNS` SAN of the client certificate.
    pub dns: Vec<String>,
}

/// Why an XFCC value is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XfccError {
    /// Not valid UTF-8.
    NotUtf8,
    /// A pair without `=`, an unterminated quote, or text after a closing quote.
    Malformed,
}

impl fmt::Display for XfccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotUtf8 => "x-forwarded-client-cert is not UTF-8",
            Self::Malformed => "x-forwarded-client-cert is malformed",
        })
    }
}

/// Parses one XFCC header value into its elements (unknown keys are ignored).
pub fn parse_xfcc(value: &[u8]) -> Result<Vec<XfccElement>, XfccError> {
    let text = std::str::from_utf8(value).map_err(|_| XfccError::NotUtf8)?;
    let mut elements = Vec::new();
    let mut element = XfccElement::default();
    let mut chars = text.chars().peekable();
    loop {
        // key
        let mut key = String::new();
        let mut has_value = false;
        for c in chars.by_ref() {
            if c == '=' {
                has_value = true;
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || !has_value {
            return Err(XfccError::Malformed);
        }
        // value, quoted or not
        let mut value = String::new();
        let mut end = None;
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().ok_or(XfccError::Malformed)?),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(XfccError::Malformed);
            }
            match chars.next() {
                None => {}
                Some(c @ (';' | ',')) => end = Some(c),
                Some(_) => return Err(XfccError::Malformed),
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' || c == ',' {
                    end = Some(c);
                    break;
                }
                if c == '=' || c == '"' {
                    return Err(XfccError::Malformed);
                }
                value.push(c);
            }
        }
        match key.as_str() {
            "by" => element.by.push(value),
            "hash" => element.hash = Some(value),
            "subject" => element.subject = Some(value),
            "uri" => element.uris.push(value),
            "dns" => element.dns.push(value),
            _ => {}
        }
        match end {
            Some(';') => {}
            Some(_) => elements.push(std::mem::take(&mut element)),
            None => {
                elements.push(element);
                return Ok(elements);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn one_element_with_several_uri_sans() {
        let value = br#"By=spiffe://td/ns/a/sa/me;Hash=abc;Subject="CN=x, O=y";URI=spiffe://td/ns/a/sa/caller;URI=spiffe://td/ns/a/sa/alias;DNS=caller.local"#;
        let elements = parse_xfcc(value).unwrap();
        assert_eq!(elements.len(), 1);
        let e = &elements[0];
        assert_eq!(e.by, ["spiffe://td/ns/a/sa/me"]);
        assert_eq!(e.hash.as_deref(), Some("abc"));
        assert_eq!(e.subject.as_deref(), Some("CN=x, O=y"));
        assert_eq!(
            e.uris,
            ["spiffe://td/ns/a/sa/caller", "spiffe://td/ns/a/sa/alias"]
        );
        assert_eq!(e.dns, ["caller.local"]);
    }

    #[test]
    fn several_elements_and_escaped_quotes() {
        let value = br#"URI=spiffe://td/a;Subject="say \"hi\"",URI=spiffe://td/b"#;
        let elements = parse_xfcc(value).unwrap();
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0].subject.as_deref(), Some(r#"say "hi""#));
        assert_eq!(elements[1].uris, ["spiffe://td/b"]);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            &b""[..],
            b"URI",
            b"URI=\"open",
            b"URI=\"x\"y",
            b"URI=a=b",
            b";",
            b"\xff=1",
        ] {
            assert!(parse_xfcc(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
