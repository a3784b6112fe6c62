//! Configuration of request-path canonicalization.
//!
//! Every field has a default that favours refusing an ambiguous path over
//! guessing what an upstream server will make of it.

use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::config::ConfigError;

/// How percent-encoded slashes (`%2F`) and backslashes (`%5C`) in the path are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// Leave them encoded (hex uppercased): they are part of a segment, never a
    /// separator. Only safe when the upstream server does not decode them
    /// either, since `/..%2Fadmin` would otherwise reach it as `/../admin`.
    Keep,
    /// Refuse the request (rule `escaped_slash`).
    #[default]
    Reject,
    /// Decode both to `/` and forward the rewritten path.
    UnescapeAndForward,
    /// Decode both to `/`, and report through
    /// [`CanonicalPath::needs_redirect`](super::CanonicalPath::needs_redirect)
    /// that the client should be redirected to the rewritten path.
    UnescapeAndRedirect,
}

/// How a `.` or `..` segment carrying parameters (`..;x`, `.;`) is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DotSegmentParams {
    /// Drop the parameters and treat the segment as the bare dot segment.
    AsDotSegment,
    /// Refuse the request (rule `dot_segment_parameter`).
    #[default]
    Reject,
}

/// How `;parameters` in segments other than dot segments are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathParams {
    /// Leave them in place.
    #[default]
    Keep,
    /// Remove everything from the first `;` to the end of the segment.
    Strip,
}

/// How a fragment (`#...`) in the request target is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Refuse the request (rule `fragment`).
    #[default]
    Reject,
    /// Remove the fragment and everything after it.
    Strip,
}

/// Options for [`canonicalize`](super::canonicalize). `PathOptions::default()` is the safe choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOptions {
    /// Treatment of `%2F` and `%5C`; default [`EscapedSlashes::Reject`].
    pub escaped_slashes: EscapedSlashes,
    /// Collapse runs of `/` into one; default `true`.
    pub merge_slashes: bool,
    /// Treatment of `..;x` and `.;x`; default [`DotSegmentParams::Reject`].
    pub dot_segment_params: DotSegmentParams,
    /// Treatment of `;params` in other segments; default [`PathParams::Keep`].
    pub path_params: PathParams,
    /// Treatment of `#fragment`; default [`Fragment::Reject`].
    pub fragment: Fragment,
    /// Lowercase the ASCII letters of the path (never the query, never the hex
    /// digits of an escape); default `false`.
    pub lowercase: bool,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            escaped_slashes: EscapedSlashes::default(),
            merge_slashes: true,
            dot_segment_params: DotSegmentParams::default(),
            path_params: PathParams::default(),
            fragment: Fragment::default(),
            lowercase: false,
        }
    }
}

impl PathOptions {
    /// Reads the options from their JSON object: every field is optional (absent: its
    /// default), unknown fields are refused, enum values are snake_case. Error paths are
    /// those of the document `node` belongs to.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&[
            "escaped_slashes",
            "merge_slashes",
            "dot_segment_params",
            "path_params",
            "fragment",
            "lowercase",
        ])?;
        let defaults = PathOptions::default();
        Ok(PathOptions {
            escaped_slashes: fields.read_given_or(
                "escaped_slashes",
                defaults.escaped_slashes,
                |n| {
                    n.pick(
                        &[
                            "keep",
                            "reject",
                            "unescape_and_forward",
                            "unescape_and_redirect",
                        ],
                        &[
                            EscapedSlashes::Keep,
                            EscapedSlashes::Reject,
                            EscapedSlashes::UnescapeAndForward,
                            EscapedSlashes::UnescapeAndRedirect,
                        ],
                    )
                },
            )?,
            merge_slashes: fields.read_given_or(
                "merge_slashes",
                defaults.merge_slashes,
                Node::bool,
            )?,
            dot_segment_params: fields.read_given_or(
                "dot_segment_params",
                defaults.dot_segment_params,
                |n| {
                    n.pick(
                        &["as_dot_segment", "reject"],
                        &[DotSegmentParams::AsDotSegment, DotSegmentParams::Reject],
                    )
                },
            )?,
            path_params: fields.read_given_or("path_params", defaults.path_params, |n| {
                n.pick(&["keep", "strip"], &[PathParams::Keep, PathParams::Strip])
            })?,
            fragment: fields.read_given_or("fragment", defaults.fragment, |n| {
                n.pick(&["reject", "strip"], &[Fragment::Reject, Fragment::Strip])
            })?,
            lowercase: fields.read_given_or("lowercase", defaults.lowercase, Node::bool)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn read(json: &str) -> Result<PathOptions, ConfigError> {
        let value = wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap();
        PathOptions::read(&Node::root(&value))
    }

    /// The error `read` returns for `json`, as logged.
    fn refusal(json: &str) -> String {
        read(json).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_the_safe_choices() {
        let options = PathOptions::default();
        assert_eq!(options.escaped_slashes, EscapedSlashes::Reject);
        assert!(options.merge_slashes);
        assert_eq!(options.dot_segment_params, DotSegmentParams::Reject);
        assert_eq!(options.path_params, PathParams::Keep);
        assert_eq!(options.fragment, Fragment::Reject);
        assert!(!options.lowercase);
    }

    #[test]
    fn an_empty_object_reads_as_the_defaults() {
        assert_eq!(read("{}"), Ok(PathOptions::default()));
    }

    #[test]
    fn enum_fields_read_from_snake_case() {
        let options = read(
            r#"{"escaped_slashes": "unescape_and_redirect", "dot_segment_params": "as_dot_segment",
                "path_params": "strip", "fragment": "strip"}"#,
        );
        let expected = PathOptions {
            escaped_slashes: EscapedSlashes::UnescapeAndRedirect,
            dot_segment_params: DotSegmentParams::AsDotSegment,
            path_params: PathParams::Strip,
            fragment: Fragment::Strip,
            ..PathOptions::default()
        };
        assert_eq!(options, Ok(expected));
        let options = read(
            r#"{"dot_segment_params": "reject", "path_params": "keep", "fragment": "reject"}"#,
        );
        assert_eq!(options, Ok(PathOptions::default()));
    }

    #[test]
    fn every_escaped_slashes_value_reads() {
        let cases = [
            ("keep", EscapedSlashes::Keep),
            ("reject", EscapedSlashes::Reject),
            ("unescape_and_forward", EscapedSlashes::UnescapeAndForward),
            ("unescape_and_redirect", EscapedSlashes::UnescapeAndRedirect),
        ];
        for (name, value) in cases {
            let options = read(&format!(r#"{{"escaped_slashes": "{name}"}}"#)).unwrap();
            assert_eq!(options.escaped_slashes, value, "{name}");
        }
    }

    #[test]
    fn bool_fields_read() {
        let options = read(r#"{"merge_slashes": false, "lowercase": true}"#);
        let expected = PathOptions {
            merge_slashes: false,
            lowercase: true,
            ..PathOptions::default()
        };
        assert_eq!(options, Ok(expected));
    }

    #[test]
    fn unknown_fields_wrong_types_and_unknown_values_are_refused_at_their_path() {
        for (json, error) in [
            (
                r#"{"merge_slash": true}"#,
                "config.merge_slash: unknown field `merge_slash`, expected one of \
                 `escaped_slashes`, `merge_slashes`, `dot_segment_params`, `path_params`, \
                 `fragment`, `lowercase`",
            ),
            (
                r#"{"escaped_slashes": "Keep"}"#,
                "config.escaped_slashes: unknown value `Keep`, expected one of `keep`, \
                 `reject`, `unescape_and_forward`, `unescape_and_redirect`",
            ),
            (
                r#"{"fragment": "ignore"}"#,
                "config.fragment: unknown value `ignore`, expected `reject` or `strip`",
            ),
            (
                r#"{"lowercase": "yes"}"#,
                r#"config.lowercase: expected a boolean, found "yes""#,
            ),
            (
                r#"{"merge_slashes": null}"#,
                "config.merge_slashes: expected a boolean, found null",
            ),
            (
                r#"{"lowercase": true, "lowercase": false}"#,
                "config.lowercase: duplicate field `lowercase`",
            ),
            ("[]", "config: expected an object, found an array"),
        ] {
            assert_eq!(refusal(json), error, "{json}");
        }
    }
}
