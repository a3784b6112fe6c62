//! Segment-level rewriting of a decoded path: segment parameters, repeated
//! slashes and dot segments.

use std::borrow::Cow;

use super::dots::remove_dot_segments;
use super::options::{DotSegmentParams, PathOptions, PathParams};
use super::rejection::PathRejection;

/// Applies, in order: dot-segment parameters (refuse, or reduce `..;x` to
/// `..`), stripping of other `;params` when configured, merging of repeated
/// slashes when configured, and RFC 3986 dot-segment removal.
///
/// Segments are split on raw `/` only and parameters start at a raw `;`
/// only; `%2F` and `%3B` kept encoded by the decoding stage are ordinary
/// segment content. The input is returned as is when none of these steps
/// would change it.
pub(super) fn normalize_segments<'a>(
    path: Cow<'a, str>,
    options: &PathOptions,
) -> Result<Cow<'a, str>, PathRejection> {
    if needs_rewrite(&path, options)? {
        Ok(Cow::Owned(rewrite(&path, options)))
    } else {
        Ok(path)
    }
}

/// Checks the dot-segment parameter rule and reports whether any rewriting step applies.
fn needs_rewrite(path: &str, options: &PathOptions) -> Result<bool, PathRejection> {
    let path = path.as_bytes();
    let mut rewrite = options.merge_slashes && path.windows(2).any(|pair| pair == b"//");
    for segment in path.split(|byte| *byte == b'/') {
        let parameters_at = segment.iter().position(|byte| *byte == b';');
        match parameters_at.and_then(|at| segment.get(..at)) {
            Some(name) if is_dot_segment_bytes(name) => {
                if options.dot_segment_params == DotSegmentParams::Reject {
                    return Err(PathRejection::DotSegmentParameter);
                }
                rewrite = true;
            }
            Some(_) => rewrite |= options.path_params == PathParams::Strip,
            None => rewrite |= is_dot_segment_bytes(segment),
        }
    }
    Ok(rewrite)
}

fn rewrite(path: &str, options: &PathOptions) -> String {
    let strip_params = options.path_params == PathParams::Strip;
    let mut trimmed = Vec::with_capacity(path.len());
    for (position, segment) in path.as_bytes().split(|&byte| byte == b'/').enumerate() {
        // Repeated slashes come from empty segments (maybe emptied of parameters).
        if position > 0 && !(options.merge_slashes && trimmed.last() == Some(&b'/')) {
            trimmed.push(b'/');
        }
        let name = segment
            .iter()
            .position(|&byte| byte == b';')
            .and_then(|at| segment.get(..at));
        let kept = match name {
            // Only reached with `DotSegmentParams::AsDotSegment`.
            Some(name) if is_dot_segment_bytes(name) => name,
            Some(name) if strip_params => name,
            _ => segment,
        };
        trimmed.extend_from_slice(kept);
    }
    // Cut and joined at `/` only, the text is still UTF-8.
    remove_dot_segments(std::str::from_utf8(&trimmed).unwrap_or_default())
}

fn is_dot_segment_bytes(segment: &[u8]) -> bool {
    segment == b"." || segment == b".."
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn normalize<'a>(path: &'a str, options: &PathOptions) -> Result<Cow<'a, str>, PathRejection> {
        normalize_segments(Cow::Borrowed(path), options)
    }

    #[test]
    fn clean_path_stays_borrowed() {
        let options = PathOptions::default();
        for path in ["/", "/a/b/", "/a;x/b", "/a%2F../b", "/..a/.b/c."] {
            assert!(
                matches!(normalize(path, &options), Ok(Cow::Borrowed(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn stripping_then_merging_then_dot_removal() {
        let options = PathOptions {
            path_params: PathParams::Strip,
            ..PathOptions::default()
        };
        let result = normalize("/a/;x/b;y/../c", &options);
        assert_eq!(result.as_deref(), Ok("/a/c"));
    }

    #[test]
    fn merge_happens_before_dot_removal() {
        let merged = normalize("/a//../b", &PathOptions::default());
        assert_eq!(merged.as_deref(), Ok("/b"));
        let unmerged = PathOptions {
            merge_slashes: false,
            ..PathOptions::default()
        };
        assert_eq!(normalize("/a//../b", &unmerged).as_deref(), Ok("/a/b"));
    }

    #[test]
    fn only_the_part_before_the_first_semicolon_names_the_segment() {
        let options = PathOptions {
            dot_segment_params: DotSegmentParams::AsDotSegment,
            ..PathOptions::default()
        };
        assert_eq!(normalize("/a/..;x;y/b", &options).as_deref(), Ok("/b"));
        assert_eq!(normalize("/a/x;..", &options).as_deref(), Ok("/a/x;.."));
    }
}
