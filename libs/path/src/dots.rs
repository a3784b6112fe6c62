//! RFC 3986 §5.2.4 dot-segment removal.

/// Removes `.` and `..` segments as RFC 3986 §5.2.4 specifies.
///
/// This is the two-buffer algorithm of the RFC, step for step, with the input
/// buffer held as a moving slice so the whole run is linear in the input. For
/// an absolute path (one starting with `/`) the result never climbs above `/`:
/// `remove_dot_segments("/../../etc")` is `"/etc"`. Segments are compared
/// literally: `%2e` is not a dot here (decoding is the caller's business).
pub fn remove_dot_segments(path: &str) -> String {
    let mut input = path.as_bytes();
    let mut output = Vec::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input
            .strip_prefix(b"../")
            .or_else(|| input.strip_prefix(b"./"))
        {
            // Step A.
            input = rest;
        } else if let Some(rest) = strip_dot_segment_prefix(input, b"/.") {
            // Step B: "/./" or a final "/." becomes "/".
            input = rest;
        } else if let Some(rest) = strip_dot_segment_prefix(input, b"/..") {
            // Step C: "/../" or a final "/.." becomes "/", and the last output
            // segment goes, together with its preceding "/".
            input = rest;
            let keep = output.iter().rposition(|&byte| byte == b'/').unwrap_or(0);
            output.truncate(keep);
        } else if input == b"." || input == b".." {
            // Step D.
            input = b"";
        } else {
            // Step E: move the first segment, with its leading "/" if any.
            let search_from = usize::from(input.first() == Some(&b'/'));
            let end = input
                .get(search_from..)
                .and_then(|tail| tail.iter().position(|&byte| byte == b'/'))
                .map_or(input.len(), |offset| offset + search_from);
            let (segment, rest) = input.split_at_checked(end).unwrap_or((input, b""));
            output.extend_from_slice(segment);
            input = rest;
        }
    }
    // Cut and joined at `/` only, the text is still UTF-8.
    String::from_utf8(output).unwrap_or_default()
}

/// If `input` starts with `prefix` (`"/."` or `"/.."`) as a complete segment,
/// returns the input with that prefix replaced by `"/"`.
fn strip_dot_segment_prefix<'a>(input: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = input.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some(b"/")
    } else if rest.first() == Some(&b'/') {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn rfc_worked_example_absolute() {
        assert_eq!(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
    }

    #[test]
    fn rfc_worked_example_relative() {
        assert_eq!(remove_dot_segments("mid/content=5/../6"), "mid/6");
    }

    #[test]
    fn never_climbs_above_root() {
        assert_eq!(remove_dot_segments("/.."), "/");
        assert_eq!(remove_dot_segments("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(remove_dot_segments("/a/../../../b"), "/b");
    }

    #[test]
    fn trailing_dot_segments_leave_a_trailing_slash() {
        assert_eq!(remove_dot_segments("/admin/."), "/admin/");
        assert_eq!(remove_dot_segments("/admin/.."), "/");
        assert_eq!(remove_dot_segments("/a/b/.."), "/a/");
    }

    #[test]
    fn partial_dots_are_ordinary_segments() {
        for path in ["/g.", "/.g", "/g..", "/..g", "/...", "/a/.../b", "/%2e%2e"] {
            assert_eq!(remove_dot_segments(path), path);
        }
    }

    #[test]
    fn empty_segments_are_kept() {
        assert_eq!(remove_dot_segments("/a//b"), "/a//b");
        assert_eq!(remove_dot_segments("/a//../b"), "/a/b");
        assert_eq!(remove_dot_segments(""), "");
        assert_eq!(remove_dot_segments("/"), "/");
    }

    #[test]
    fn relative_leading_dots_are_dropped() {
        assert_eq!(remove_dot_segments("../a"), "a");
        assert_eq!(remove_dot_segments("./a"), "a");
        assert_eq!(remove_dot_segments("."), "");
        assert_eq!(remove_dot_segments(".."), "");
    }
}
