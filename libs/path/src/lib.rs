//! Canonicalization of the HTTP request target (`:path`).
//!
//! The header-normalization filter rewrites every request's `:path` to the
//! form produced here (or refuses the request), and the access-control filter
//! matches its policy on exactly the same form, so a request cannot look like
//! one path to the policy and like another to the upstream server. The rules
//! close the gaps behind dot-segment traversal (CVE-2019-9901), escaped
//! slashes (CVE-2021-29492), fragments (CVE-2021-32779), NUL bytes
//! (CVE-2019-9900) and `..;` segment-parameter bypasses.
//!
//! # Rules, in the order they are applied
//!
//! 1. `*` alone is returned unchanged. An empty target, or one not starting
//!    with `/`, is refused (`relative_path`).
//! 2. Every byte of the target, query and fragment included, must be visible
//!    ASCII: controls (0x00-0x1F) and DEL are `control_character`, space and
//!    raw bytes of 0x80 and above are `invalid_character`.
//! 3. A fragment (from the first `#`) is refused (`fragment`) or removed.
//! 4. The rest splits at the first `?` into path and query. The query is kept
//!    byte for byte.
//! 5. A raw `\` in the path is refused (`backslash`).
//! 6. Escapes in the path, left to right: `%` without two hex digits is
//!    `invalid_escape`; escapes of controls are `control_character`; `%25`
//!    followed by two hex digits, raw or encoded, is `double_encoding`;
//!    unreserved characters are decoded; `%2F` and `%5C` follow
//!    [`EscapedSlashes`]; escapes of bytes 0x80 and above must form valid
//!    shortest-form UTF-8 (`invalid_utf8`) and stay encoded; every other escape
//!    stays encoded. Escapes left encoded get uppercase hex.
//! 7. A segment whose name (the part before its first `;`) is `.` or `..` is
//!    refused when it has parameters (`dot_segment_parameter`) or reduced to
//!    the bare dot segment, per [`DotSegmentParams`]; parameters of other
//!    segments are kept or stripped, per [`PathParams`].
//! 8. Repeated slashes are merged (if configured), then dot segments are
//!    removed as RFC 3986 §5.2.4 specifies ([`remove_dot_segments`]).
//! 9. The path's ASCII letters are lowercased (if configured), escape hex excepted.
//!
//! Within a stage the first offending byte or escape, left to right, decides
//! the rejection. Absolute-form targets (`http://host/path`) are refused as
//! `relative_path`: a `:path` is always origin-form or `*`. An encoded `;`
//! (`%3B`) stays encoded and is ordinary segment content, never a parameter
//! delimiter, just as an encoded `/` kept by [`EscapedSlashes::Keep`] is never
//! a separator.
//!
//! Every accepted result is a fixed point: canonicalizing it again with the
//! same options returns it unchanged. A target that is already canonical is
//! returned borrowed, without allocating.

mod case;
mod decode;
mod dots;
#[cfg(any(test, feature = "reference-data"))]
pub mod examples;
mod options;
mod rejection;
mod segments;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

pub use dots::remove_dot_segments;
pub use options::{DotSegmentParams, EscapedSlashes, Fragment, PathOptions, PathParams};
pub use rejection::PathRejection;

/// A canonical request target: the canonical path, then `?` and the query if
/// the input had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    target: Cow<'a, str>,
    path_len: usize,
    has_query: bool,
    changed: bool,
    redirect: bool,
}

impl<'a> CanonicalPath<'a> {
    /// The whole canonical target (path, and `?query` if any).
    pub fn as_str(&self) -> &str {
        &self.target
    }

    /// The path: the part before the first `?`.
    pub fn path(&self) -> &str {
        self.target.get(..self.path_len).unwrap_or_default()
    }

    /// The query: the part after the first `?`, exactly as received; `None`
    /// when the target has no `?`.
    pub fn query(&self) -> Option<&str> {
        if !self.has_query {
            return None;
        }
        self.target.get(self.path_len.checked_add(1)?..)
    }

    /// Whether the canonical target differs from the input bytes.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Whether an escaped slash was unescaped under
    /// [`EscapedSlashes::UnescapeAndRedirect`], so the client should be sent a
    /// redirect to [`as_str`](Self::as_str) instead of the request being forwarded.
    pub fn needs_redirect(&self) -> bool {
        self.redirect
    }

    /// The canonical target as a `Cow`: borrowed from the input when the input
    /// was already canonical (or only lost a fragment).
    pub fn into_cow(self) -> Cow<'a, str> {
        self.target
    }

    /// A copy that no longer borrows from the input.
    pub fn into_owned(self) -> CanonicalPath<'static> {
        CanonicalPath {
            target: Cow::Owned(self.target.into_owned()),
            path_len: self.path_len,
            has_query: self.has_query,
            changed: self.changed,
            redirect: self.redirect,
        }
    }
}

impl fmt::Display for CanonicalPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Canonicalizes a raw request target (the `:path` header value) or says why
/// it is refused. See the [module documentation](self) for the rules.
pub fn canonicalize<'a>(
    target: &'a [u8],
    options: &PathOptions,
) -> Result<CanonicalPath<'a>, PathRejection> {
    if target == b"*" {
        return Ok(CanonicalPath {
            target: Cow::Borrowed("*"),
            path_len: 1,
            has_query: false,
            changed: false,
            redirect: false,
        });
    }
    if target.first() != Some(&b'/') {
        return Err(PathRejection::RelativePath);
    }
    match already_canonical(target, options) {
        Some(path_len) => Ok(CanonicalPath {
            target: Cow::Borrowed(
                std::str::from_utf8(target).map_err(|_| PathRejection::InvalidCharacter)?,
            ),
            path_len,
            has_query: path_len < target.len(),
            changed: false,
            redirect: false,
        }),
        None => by_rules(target, options),
    }
}

/// Whether `target` is certainly canonical under `options`, found in one pass over its
/// bytes and without building anything: when `true`, [`canonicalize`] accepts it and
/// returns it unchanged. `false` when only [`canonicalize`] can tell: for a target that
/// is refused or rewritten, and also for some canonical ones (those with escapes, with a
/// segment named `.` or `..` and parameters kept).
pub fn is_plainly_canonical(target: &[u8], options: &PathOptions) -> bool {
    target == b"*"
        || (target.first() == Some(&b'/') && already_canonical(target, options).is_some())
}

/// [`canonicalize`] for a target starting with `/`, rule by rule.
fn by_rules<'a>(
    target: &'a [u8],
    options: &PathOptions,
) -> Result<CanonicalPath<'a>, PathRejection> {
    check_bytes(target)?;
    // Only visible ASCII is left, so this cannot fail.
    let text = std::str::from_utf8(target).map_err(|_| PathRejection::InvalidCharacter)?;

    let without_fragment = match (split_at_byte(text, b'#'), options.fragment) {
        (None, _) => text,
        (Some(_), Fragment::Reject) => return Err(PathRejection::Fragment),
        (Some((before, _)), Fragment::Strip) => before,
    };
    let (path, query) = match split_at_byte(without_fragment, b'?') {
        Some((path, query)) => (path, Some(query)),
        None => (without_fragment, None),
    };
    if path.as_bytes().contains(&b'\\') {
        return Err(PathRejection::Backslash);
    }

    let decoded = decode::decode_path(path, options.escaped_slashes)?;
    let mut canonical = segments::normalize_segments(decoded.path, options)?;
    if options.lowercase {
        canonical = case::lowercase_path(canonical);
    }

    let path_len = canonical.len();
    let target_text = match canonical {
        // Every stage borrows only when it changed nothing, so the path is
        // the input's and the target is the input minus any fragment.
        Cow::Borrowed(_) => Cow::Borrowed(without_fragment),
        Cow::Owned(mut rebuilt) => {
            if let Some(query) = query {
                rebuilt.reserve(query.len() + 1);
                rebuilt.push('?');
                rebuilt.push_str(query);
            }
            Cow::Owned(rebuilt)
        }
    };
    Ok(CanonicalPath {
        changed: target_text.as_bytes() != target,
        target: target_text,
        path_len,
        has_query: query.is_some(),
        redirect: decoded.unescaped_slash
            && options.escaped_slashes == EscapedSlashes::UnescapeAndRedirect,
    })
}

/// Bytes that end the one-pass check of [`already_canonical`] or that it looks at: a
/// raw byte refused or rewritten anywhere in a target (controls, space, DEL, bytes of
/// 0x80 and above, `#`), one that needs the full rules in the path (`%`, `\`), one
/// that ends a segment or its name (`/`, `;`) or the path (`?`), and uppercase letters
/// (which only matter when the path is lowercased).
const REFUSED: u8 = 1;
const NEEDS_RULES: u8 = 2;
const SLASH: u8 = 4;
const SEMICOLON: u8 = 8;
const QUESTION_MARK: u8 = 16;
const UPPERCASE: u8 = 32;

/// The class of every byte, for [`already_canonical`]; 0 for the bytes that are
/// plain content wherever they are.
static TARGET_BYTES: [u8; 256] = target_bytes();

const fn target_bytes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0u8;
    let mut rest: &mut [u8] = &mut table;
    while let [class, tail @ ..] = rest {
        *class = match byte {
            0x00..=0x20 | 0x7F..=0xFF | b'#' => REFUSED,
            b'%' | b'\\' => NEEDS_RULES,
            b'/' => SLASH,
            b';' => SEMICOLON,
            b'?' => QUESTION_MARK,
            b'A'..=b'Z' => UPPERCASE,
            _ => 0,
        };
        byte = byte.wrapping_add(1);
        rest = tail;
    }
    table
}

/// The length of the path of `target` (the part before the first `?`) when the target
/// is certainly canonical under `options`, found in one pass over its bytes: `target`
/// starts with `/`, every byte is visible ASCII without `#`, and the path has no `%` or
/// `\`, no `.` or `..` segment (with or without parameters), no parameters when they
/// are stripped, no `//` when slashes are merged and no uppercase letter when it is
/// lowercased. `None` when the full rules must decide (which they do with the same
/// result for the targets accepted here).
fn already_canonical(target: &[u8], options: &PathOptions) -> Option<usize> {
    let stops = if options.lowercase {
        u8::MAX
    } else {
        !UPPERCASE
    };
    // Where the current segment starts, and whether it has had a `;`.
    let mut segment_start = 1;
    let mut has_parameters = false;
    let mut index = 1;
    let path_len = loop {
        // Most bytes need no attention: one table lookup each.
        while target
            .get(index)
            .is_some_and(|&byte| target_class(byte) & stops == 0)
        {
            index += 1;
        }
        let Some(&byte) = target.get(index) else {
            // The end of the path: its last segment's name.
            if !has_parameters && is_dot_segment_bytes(target.get(segment_start..)?) {
                return None;
            }
            return Some(target.len());
        };
        index += 1;
        let class = target_class(byte) & stops;
        if class & (SLASH | SEMICOLON | QUESTION_MARK) == 0 {
            return None;
        }
        // The end of a segment's name: `.` and `..` need the rules, with or without
        // parameters, and so does `//` when slashes are merged.
        if !has_parameters {
            let name = target.get(segment_start..index - 1)?;
            if is_dot_segment_bytes(name)
                || (name.is_empty() && options.merge_slashes && class == SLASH)
            {
                return None;
            }
        }
        match class {
            SLASH => {
                segment_start = index;
                has_parameters = false;
            }
            SEMICOLON => {
                if options.path_params == PathParams::Strip {
                    return None;
                }
                has_parameters = true;
            }
            _ => break index - 1,
        }
    };
    // The query: only bytes refused anywhere matter.
    let query = target.get(path_len..)?;
    if query.iter().any(|&byte| target_class(byte) & REFUSED != 0) {
        return None;
    }
    Some(path_len)
}

/// The [`TARGET_BYTES`] class of `byte` (a plain load: the index is below 256).
#[inline(always)]
fn target_class(byte: u8) -> u8 {
    TARGET_BYTES
        .get(usize::from(byte))
        .copied()
        .unwrap_or(REFUSED)
}

/// Whether a segment (or its name, before `;`) is `.` or `..`.
#[inline(always)]
fn is_dot_segment_bytes(segment: &[u8]) -> bool {
    matches!(segment, b"." | b"..")
}

/// `text` split around the first `separator` (an ASCII byte), as `str::split_once` does,
/// without a string searcher.
fn split_at_byte(text: &str, separator: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|byte| byte == separator)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// Refuses raw bytes that never belong in a request target.
fn check_bytes(target: &[u8]) -> Result<(), PathRejection> {
    for &byte in target {
        match byte {
            0x00..=0x1F | 0x7F => return Err(PathRejection::ControlCharacter),
            b' ' | 0x80..=0xFF => return Err(PathRejection::InvalidCharacter),
            _ => {}
        }
    }
    Ok(())
}
