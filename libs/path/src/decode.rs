//! Percent-escape normalization of the path part.
//!
//! Each escape is either decoded (unreserved characters, and slashes when so
//! configured), kept with its hex uppercased, or refused. The output is
//! borrowed from the input when nothing had to change.

use std::borrow::Cow;

use super::options::EscapedSlashes;
use super::rejection::PathRejection;

/// The path after escape normalization.
#[derive(Debug)]
pub(super) struct DecodedPath<'a> {
    /// The rewritten path; borrowed when identical to the input.
    pub path: Cow<'a, str>,
    /// Whether a `%2F` or `%5C` was turned into `/`.
    pub unescaped_slash: bool,
}

/// Normalizes every percent escape in `path` (the part before `?`).
///
/// Escapes are handled left to right, so the first offending escape decides
/// the rejection. After decoding, an encoded `%` (`%25`) followed by two hex
/// digits is refused as double encoding even when those digits were
/// themselves encoded (`%25%34%31`), since a second decoding would turn the
/// output into something else.
pub(super) fn decode_path(
    path: &str,
    escaped_slashes: EscapedSlashes,
) -> Result<DecodedPath<'_>, PathRejection> {
    let bytes = path.as_bytes();
    let mut out = LazyRewrite::new(path);
    let mut unescaped_slash = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'%' {
            index += 1;
            continue;
        }
        let value = escape_at(bytes, index).ok_or(PathRejection::InvalidEscape)?;
        let end = index + 3;
        match value {
            0x00..=0x1F | 0x7F => return Err(PathRejection::ControlCharacter),
            b'%' => {
                if is_hex_pair(bytes, end) {
                    return Err(PathRejection::DoubleEncoding);
                }
                out.replace(index, end, b"%25");
            }
            b'/' | b'\\' => match escaped_slashes {
                EscapedSlashes::Reject => return Err(PathRejection::EscapedSlash),
                EscapedSlashes::Keep => out.replace(index, end, &encoded(value)),
                EscapedSlashes::UnescapeAndForward | EscapedSlashes::UnescapeAndRedirect => {
                    out.replace(index, end, b"/");
                    unescaped_slash = true;
                }
            },
            0x80..=0xFF => {
                index = rewrite_utf8_run(bytes, index, value, &mut out)?;
                continue;
            }
            _ if is_unreserved(value) => out.replace(index, end, &[value]),
            _ => out.replace(index, end, &encoded(value)),
        }
        index = end;
    }
    let path = out.finish();
    if has_encoded_percent_before_hex(&path) {
        return Err(PathRejection::DoubleEncoding);
    }
    Ok(DecodedPath {
        path,
        unescaped_slash,
    })
}

/// Checks that the escapes starting at `start` (the first one decoding to
/// `lead`) form one valid, shortest-form UTF-8 character, rewrites them with
/// uppercase hex, and returns the index just past the last of them.
fn rewrite_utf8_run(
    bytes: &[u8],
    start: usize,
    lead: u8,
    out: &mut LazyRewrite<'_>,
) -> Result<usize, PathRejection> {
    let length = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return Err(PathRejection::InvalidUtf8),
    };
    let mut sequence = [lead, 0, 0, 0];
    let mut position = start + 3;
    for slot in sequence.iter_mut().take(length).skip(1) {
        if bytes.get(position) != Some(&b'%') {
            return Err(PathRejection::InvalidUtf8);
        }
        *slot = escape_at(bytes, position).ok_or(PathRejection::InvalidEscape)?;
        position += 3;
    }
    // std's validator refuses overlong forms, surrogates, code points above
    // U+10FFFF, and a lead byte followed by a non-continuation byte.
    let sequence = sequence.get(..length).ok_or(PathRejection::InvalidUtf8)?;
    std::str::from_utf8(sequence).map_err(|_| PathRejection::InvalidUtf8)?;
    let mut escape_start = start;
    for &byte in sequence {
        out.replace(escape_start, escape_start + 3, &encoded(byte));
        escape_start += 3;
    }
    Ok(position)
}

/// Whether the decoded path contains `%25` followed by two hex digits.
fn has_encoded_percent_before_hex(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes
        .windows(3)
        .enumerate()
        .any(|(at, window)| window == b"%25" && is_hex_pair(bytes, at + 3))
}

/// The byte encoded by a well-formed escape (`%` and two hex digits) at `index`.
fn escape_at(bytes: &[u8], index: usize) -> Option<u8> {
    if bytes.get(index) != Some(&b'%') {
        return None;
    }
    let high = hex_value(*bytes.get(index + 1)?)?;
    let low = hex_value(*bytes.get(index + 2)?)?;
    Some(high << 4 | low)
}

/// Whether two hex digits start at `index`.
fn is_hex_pair(bytes: &[u8], index: usize) -> bool {
    let digit = |offset: usize| {
        bytes
            .get(index + offset)
            .is_some_and(|byte| byte.is_ascii_hexdigit())
    };
    digit(0) && digit(1)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The three-byte `%XX` escape of `byte`, with uppercase hex.
fn encoded(byte: u8) -> [u8; 3] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digit = |nibble: u8| HEX.get(usize::from(nibble & 0x0F)).copied().unwrap_or(b'0');
    [b'%', digit(byte >> 4), digit(byte)]
}

/// Builds a rewritten copy of `source` only once a replacement actually
/// differs from the text it replaces; until then nothing is allocated.
///
/// Replacement ranges must be given in increasing order; the callers only
/// replace `%XX` escapes with ASCII, so the result is UTF-8 when `source` is.
struct LazyRewrite<'a> {
    source: &'a str,
    rewritten: Option<Vec<u8>>,
    copied_up_to: usize,
}

impl<'a> LazyRewrite<'a> {
    fn new(source: &'a str) -> Self {
        Self {
            source,
            rewritten: None,
            copied_up_to: 0,
        }
    }

    /// Replaces `source[start..end]` with `replacement`.
    fn replace(&mut self, start: usize, end: usize, replacement: &[u8]) {
        let source = self.source.as_bytes();
        if source.get(start..end) == Some(replacement) {
            return;
        }
        let rewritten = self
            .rewritten
            .get_or_insert_with(|| Vec::with_capacity(source.len()));
        rewritten.extend_from_slice(source.get(self.copied_up_to..start).unwrap_or_default());
        rewritten.extend_from_slice(replacement);
        self.copied_up_to = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.rewritten {
            None => Cow::Borrowed(self.source),
            Some(mut rewritten) => {
                let source = self.source.as_bytes();
                rewritten.extend_from_slice(source.get(self.copied_up_to..).unwrap_or_default());
                Cow::Owned(String::from_utf8(rewritten).unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn decode(path: &str) -> Result<String, PathRejection> {
        decode_path(path, EscapedSlashes::Reject).map(|d| d.path.into_owned())
    }

    #[test]
    fn unchanged_path_is_borrowed() {
        let decoded = decode_path("/a/%3F/%C3%A9/%25zz", EscapedSlashes::Reject);
        assert!(matches!(
            decoded,
            Ok(DecodedPath {
                path: Cow::Borrowed(_),
                ..
            })
        ));
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(decode("/%41%7a%30%2D%2e%5F%7E").as_deref(), Ok("/Az0-._~"));
    }

    #[test]
    fn other_escapes_get_uppercase_hex() {
        assert_eq!(
            decode("/%3f%3b%20%c3%a9").as_deref(),
            Ok("/%3F%3B%20%C3%A9")
        );
    }

    #[test]
    fn encoded_percent_before_encoded_hex_is_double_encoding() {
        assert_eq!(decode("/%25%34%31"), Err(PathRejection::DoubleEncoding));
        assert_eq!(decode("/%252"), Ok("/%252".to_owned()));
    }

    #[test]
    fn escape_at_end_is_invalid() {
        for path in ["/%", "/%4", "/a%", "/%g1", "/%1g"] {
            assert_eq!(decode(path), Err(PathRejection::InvalidEscape), "{path}");
        }
    }

    #[test]
    fn utf8_runs_are_checked_as_a_whole() {
        assert_eq!(decode("/%F0%9F%98%80").as_deref(), Ok("/%F0%9F%98%80"));
        assert_eq!(decode("/%f0%9f%98"), Err(PathRejection::InvalidUtf8));
        assert_eq!(decode("/%ed%a0%80"), Err(PathRejection::InvalidUtf8));
        assert_eq!(decode("/%f4%90%80%80"), Err(PathRejection::InvalidUtf8));
        assert_eq!(decode("/%c3%zz"), Err(PathRejection::InvalidEscape));
        assert_eq!(decode("/%c3a"), Err(PathRejection::InvalidUtf8));
    }

    #[test]
    fn unescaping_reports_the_slash() {
        let decoded = decode_path("/a%2fb%5Cc", EscapedSlashes::UnescapeAndForward);
        let decoded = decoded.map(|d| (d.path.into_owned(), d.unescaped_slash));
        assert_eq!(decoded, Ok(("/a/b/c".to_owned(), true)));
    }

    #[test]
    fn keep_uppercases_escaped_slashes() {
        let decoded = decode_path("/a%2fb%5cc", EscapedSlashes::Keep);
        let decoded = decoded.map(|d| (d.path.into_owned(), d.unescaped_slash));
        assert_eq!(decoded, Ok(("/a%2Fb%5Cc".to_owned(), false)));
    }
}
