//! Reasons a request path is refused.

use std::fmt;

/// Why [`canonicalize`](super::canonicalize) refused a request target.
///
/// [`rule`](Self::rule) gives a stable snake_case name for JSON error bodies
/// and metric tags; `Display` gives a sentence for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathRejection {
    /// The target is empty, or neither starts with `/` nor is exactly `*`.
    RelativePath,
    /// A raw control byte (0x00-0x1F, 0x7F), or an escape of one (`%00`-`%1F`, `%7F`).
    ControlCharacter,
    /// A raw space or a raw byte of 0x80 or above (non-ASCII must be percent-encoded).
    InvalidCharacter,
    /// A `#fragment`, which clients never send and which is refused by default.
    Fragment,
    /// A raw `\` in the path.
    Backslash,
    /// A `%` that is not followed by two hex digits.
    InvalidEscape,
    /// An encoded `%` followed by two hex digits, such as `%252e`.
    DoubleEncoding,
    /// `%2F` or `%5C` while escaped slashes are configured to be refused.
    EscapedSlash,
    /// Escapes of bytes 0x80 and above that are not valid shortest-form UTF-8.
    InvalidUtf8,
    /// A `.` or `..` segment carrying parameters, such as `..;x`.
    DotSegmentParameter,
}

impl PathRejection {
    /// Every rejection, in the order the rules are applied.
    pub const ALL: [PathRejection; 10] = [
        PathRejection::RelativePath,
        PathRejection::ControlCharacter,
        PathRejection::InvalidCharacter,
        PathRejection::Fragment,
        PathRejection::Backslash,
        PathRejection::InvalidEscape,
        PathRejection::DoubleEncoding,
        PathRejection::EscapedSlash,
        PathRejection::InvalidUtf8,
        PathRejection::DotSegmentParameter,
    ];

    /// Stable snake_case name of the rule that refused the path.
    pub fn rule(&self) -> &'static str {
        match self {
            PathRejection::RelativePath => "relative_path",
            PathRejection::ControlCharacter => "control_character",
            PathRejection::InvalidCharacter => "invalid_character",
            PathRejection::Fragment => "fragment",
            PathRejection::Backslash => "backslash",
            PathRejection::InvalidEscape => "invalid_escape",
            PathRejection::DoubleEncoding => "double_encoding",
            PathRejection::EscapedSlash => "escaped_slash",
            PathRejection::InvalidUtf8 => "invalid_utf8",
            PathRejection::DotSegmentParameter => "dot_segment_parameter",
        }
    }
}

impl fmt::Display for PathRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sentence = match self {
            PathRejection::RelativePath => "the request path must start with '/' or be exactly '*'",
            PathRejection::ControlCharacter => "the request path contains a control character",
            PathRejection::InvalidCharacter => {
                "the request path contains a space or a raw non-ASCII byte"
            }
            PathRejection::Fragment => "the request path contains a fragment ('#')",
            PathRejection::Backslash => "the request path contains a backslash",
            PathRejection::InvalidEscape => {
                "the request path contains a '%' not followed by two hex digits"
            }
            PathRejection::DoubleEncoding => {
                "the request path contains a double percent-encoding such as '%252e'"
            }
            PathRejection::EscapedSlash => {
                "the request path contains an encoded slash or backslash ('%2F' or '%5C')"
            }
            PathRejection::InvalidUtf8 => {
                "the request path contains percent-encoded bytes that are not valid UTF-8"
            }
            PathRejection::DotSegmentParameter => {
                "the request path contains a '.' or '..' segment with parameters"
            }
        };
        f.write_str(sentence)
    }
}

impl std::error::Error for PathRejection {}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn rule_names_are_distinct_snake_case() {
        let names: Vec<&str> = PathRejection::ALL.iter().map(|r| r.rule()).collect();
        for (index, name) in names.iter().enumerate() {
            assert!(!name.is_empty());
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(
                !names.iter().skip(index + 1).any(|other| other == name),
                "{name}"
            );
        }
    }

    #[test]
    fn display_is_a_sentence_per_rule() {
        for rejection in PathRejection::ALL {
            let text = rejection.to_string();
            assert!(text.starts_with("the request path"), "{text}");
        }
    }
}
