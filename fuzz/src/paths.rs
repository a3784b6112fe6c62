//! The `path` target: request-target canonicalization.

use wasmesh_path::{
    canonicalize, is_plainly_canonical, remove_dot_segments, DotSegmentParams, EscapedSlashes,
    Fragment, PathOptions, PathParams, PathRejection,
};

/// The options packed in one byte: bits 0-1 the escaped-slash handling (keep, reject,
/// unescape and forward, unescape and redirect), then merge slashes, dot-segment
/// parameters as dot segments, strip path parameters, strip fragments, lowercase.
pub fn path_options(byte: u8) -> PathOptions {
    let bit = |n: u8| byte & (1 << n) != 0;
    PathOptions {
        escaped_slashes: match byte & 3 {
            0 => EscapedSlashes::Keep,
            1 => EscapedSlashes::Reject,
            2 => EscapedSlashes::UnescapeAndForward,
            _ => EscapedSlashes::UnescapeAndRedirect,
        },
        merge_slashes: bit(2),
        dot_segment_params: if bit(3) {
            DotSegmentParams::AsDotSegment
        } else {
            DotSegmentParams::Reject
        },
        path_params: if bit(4) {
            PathParams::Strip
        } else {
            PathParams::Keep
        },
        fragment: if bit(5) {
            Fragment::Strip
        } else {
            Fragment::Reject
        },
        lowercase: bit(6),
    }
}

/// Canonicalizes the input after its first byte (the options, see [`path_options`]) and
/// checks the documented rules: the early rejections are the ones the module documents, a
/// result is a fixed point, has the canonical shape and keeps the query byte for byte, the
/// one-pass check agrees, and dot-segment removal is idempotent.
pub fn path(data: &[u8]) {
    let Some((&selector, target)) = data.split_first() else {
        return;
    };
    let options = path_options(selector);
    let result = canonicalize(target, &options);
    if let Some(expected) = early_rejection(target, &options) {
        assert_eq!(result.as_ref().err(), Some(&expected), "{options:?}");
    }
    let plainly = is_plainly_canonical(target, &options);
    match result {
        Err(_) => assert!(!plainly, "refused, yet plainly canonical: {options:?}"),
        Ok(canonical) => {
            let text = canonical.as_str();
            assert_eq!(canonical.is_changed(), text.as_bytes() != target);
            if plainly {
                assert!(!canonical.is_changed(), "plainly canonical, yet changed");
            }
            if canonical.needs_redirect() {
                assert_eq!(options.escaped_slashes, EscapedSlashes::UnescapeAndRedirect);
            }
            if text != "*" {
                check_shape(target, &canonical, &options);
            }
            let again = canonicalize(text.as_bytes(), &options)
                .map(|c| (c.as_str().to_owned(), c.is_changed(), c.needs_redirect()));
            assert_eq!(
                again,
                Ok((text.to_owned(), false, false)),
                "not a fixed point under {options:?}"
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(target) {
        let removed = remove_dot_segments(text);
        assert_eq!(remove_dot_segments(&removed), removed, "not idempotent");
        if text.starts_with('/') {
            assert!(removed.starts_with('/'), "{removed:?}");
            assert!(
                !removed.split('/').any(|s| s == "." || s == ".."),
                "{removed:?}"
            );
        }
    }
}

/// The rejection the module documentation promises from the raw bytes alone (rules 1 to
/// 5, which come before any escape is looked at), if any.
fn early_rejection(target: &[u8], options: &PathOptions) -> Option<PathRejection> {
    if target == b"*" {
        return None;
    }
    if target.first() != Some(&b'/') {
        return Some(PathRejection::RelativePath);
    }
    for &byte in target {
        match byte {
            0x00..=0x1F | 0x7F => return Some(PathRejection::ControlCharacter),
            b' ' | 0x80..=0xFF => return Some(PathRejection::InvalidCharacter),
            _ => {}
        }
    }
    let without_fragment = match target.iter().position(|&b| b == b'#') {
        Some(_) if options.fragment == Fragment::Reject => return Some(PathRejection::Fragment),
        Some(at) => target.get(..at).unwrap_or_default(),
        None => target,
    };
    let path = match without_fragment.iter().position(|&b| b == b'?') {
        Some(at) => without_fragment.get(..at).unwrap_or_default(),
        None => without_fragment,
    };
    path.contains(&b'\\').then_some(PathRejection::Backslash)
}

/// Checks an accepted target other than `*` against the documented canonical form.
fn check_shape(target: &[u8], canonical: &wasmesh_path::CanonicalPath<'_>, options: &PathOptions) {
    let text = canonical.as_str();
    let path = canonical.path();
    assert!(text.starts_with('/'), "{text:?}");
    assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text:?}");
    assert!(!text.contains('#'), "{text:?}");
    assert!(!path.contains(['?', '\\']), "{text:?}");
    // The query is the input's, byte for byte.
    let without_fragment = match target.iter().position(|&b| b == b'#') {
        Some(at) => target.get(..at).unwrap_or_default(),
        None => target,
    };
    let query = without_fragment
        .iter()
        .position(|&b| b == b'?')
        .and_then(|at| without_fragment.get(at + 1..));
    assert_eq!(canonical.query().map(str::as_bytes), query, "{text:?}");
    let rebuilt = match canonical.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    assert_eq!(rebuilt, text);
    // No dot segment, with or without parameters.
    for segment in path.split('/').skip(1) {
        let name = segment.split(';').next().unwrap_or_default();
        assert!(name != "." && name != "..", "dot segment in {text:?}");
    }
    if options.merge_slashes {
        assert!(!path.contains("//"), "{text:?}");
    }
    if options.path_params == PathParams::Strip {
        assert!(!path.contains(';'), "{text:?}");
    }
    // Escapes left encoded have uppercase hex, are never of unreserved characters, and
    // are never slashes unless kept; letters outside escapes are lowercase if configured.
    let bytes = path.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = bytes.get(index + 1..index + 3).unwrap_or_default();
            assert!(
                hex.len() == 2
                    && hex
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                "escape without two uppercase hex digits in {text:?}"
            );
            let decoded = std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .unwrap_or(0);
            assert!(
                !(decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded)),
                "escaped unreserved character in {text:?}"
            );
            assert!(
                decoded >= 0x20 && decoded != 0x7F,
                "escaped control character in {text:?}"
            );
            if options.escaped_slashes != EscapedSlashes::Keep {
                assert!(
                    decoded != b'/' && decoded != b'\\',
                    "escaped slash in {text:?}"
                );
            }
            index += 3;
        } else {
            if options.lowercase {
                assert!(!byte.is_ascii_uppercase(), "uppercase letter in {text:?}");
            }
            index += 1;
        }
    }
}
