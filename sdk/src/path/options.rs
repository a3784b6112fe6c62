//! Configuration of request-path canonicalization.
//!
//! Every field has a default that favours refusing an ambiguous path over
//! guessing what an upstream server will make of it.

use crate::config::reader::Node;
use crate::config::ConfigError;
use serde::Deserialize;

/// How percent-encoded slashes (`%2F`) and backslashes (`%5C`) in the path are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DotSegmentParams {
    /// Drop the parameters and treat the segment as the bare dot segment.
    AsDotSegment,
    /// Refuse the request (rule `dot_segment_parameter`).
    #[default]
    Reject,
}

/// How `;parameters` in segments other than dot segments are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathParams {
    /// Leave them in place.
    #[default]
    Keep,
    /// Remove everything from the first `;` to the end of the segment.
    Strip,
}

/// How a fragment (`#...`) in the request target is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fragment {
    /// Refuse the request (rule `fragment`).
    #[default]
    Reject,
    /// Remove the fragment and everything after it.
    Strip,
}

/// Options for [`canonicalize`](super::canonicalize). `PathOptions::default()` is the safe choice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
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
    /// Reads the options from their JSON object, as their `Deserialize` does: every field
    /// is optional, unknown fields are refused, enum values are snake_case. Error paths
    /// are those of the document `node` belongs to.
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
    use serde::de::value::{Error as ValueError, MapDeserializer, StrDeserializer};
    use serde::de::IntoDeserializer;

    fn from_str_map(pairs: &[(&'static str, &'static str)]) -> Result<PathOptions, ValueError> {
        PathOptions::deserialize(MapDeserializer::new(pairs.iter().copied()))
    }

    fn from_bool_map(pairs: &[(&'static str, bool)]) -> Result<PathOptions, ValueError> {
        PathOptions::deserialize(MapDeserializer::new(pairs.iter().copied()))
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
    fn empty_config_deserializes_to_defaults() {
        assert_eq!(from_str_map(&[]), Ok(PathOptions::default()));
    }

    #[test]
    fn enum_fields_deserialize_from_snake_case() {
        let options = from_str_map(&[
            ("escaped_slashes", "unescape_and_redirect"),
            ("dot_segment_params", "as_dot_segment"),
            ("path_params", "strip"),
            ("fragment", "strip"),
        ]);
        let expected = PathOptions {
            escaped_slashes: EscapedSlashes::UnescapeAndRedirect,
            dot_segment_params: DotSegmentParams::AsDotSegment,
            path_params: PathParams::Strip,
            fragment: Fragment::Strip,
            ..PathOptions::default()
        };
        assert_eq!(options, Ok(expected));
    }

    #[test]
    fn every_escaped_slashes_value_deserializes() {
        let cases = [
            ("keep", EscapedSlashes::Keep),
            ("reject", EscapedSlashes::Reject),
            ("unescape_and_forward", EscapedSlashes::UnescapeAndForward),
            ("unescape_and_redirect", EscapedSlashes::UnescapeAndRedirect),
        ];
        for (name, value) in cases {
            let de: StrDeserializer<'_, ValueError> = name.into_deserializer();
            assert_eq!(EscapedSlashes::deserialize(de), Ok(value), "{name}");
        }
    }

    #[test]
    fn bool_fields_deserialize() {
        let options = from_bool_map(&[("merge_slashes", false), ("lowercase", true)]);
        let expected = PathOptions {
            merge_slashes: false,
            lowercase: true,
            ..PathOptions::default()
        };
        assert_eq!(options, Ok(expected));
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        assert!(from_str_map(&[("merge_slash", "true")]).is_err());
        assert!(from_str_map(&[("escaped_slashes", "Keep")]).is_err());
        assert!(from_str_map(&[("fragment", "ignore")]).is_err());
    }

    fn read(json: &str) -> Result<PathOptions, ConfigError> {
        let value = crate::config::json::parse(json.as_bytes()).unwrap();
        PathOptions::read(&Node::root(&value))
    }

    #[test]
    fn read_by_hand_as_deserialized() {
        for json in [
            "{}",
            r#"{"escaped_slashes": "keep", "merge_slashes": false,
                "dot_segment_params": "as_dot_segment", "path_params": "strip",
                "fragment": "strip", "lowercase": true}"#,
            r#"{"escaped_slashes": "unescape_and_forward"}"#,
            r#"{"escaped_slashes": "unescape_and_redirect", "dot_segment_params": "reject"}"#,
            r#"{"escaped_slashes": "reject", "path_params": "keep", "fragment": "reject"}"#,
        ] {
            let derived: PathOptions = crate::config::parse(json.as_bytes()).unwrap();
            assert_eq!(read(json), Ok(derived), "{json}");
        }
        for json in [
            r#"{"merge_slash": true}"#,
            r#"{"escaped_slashes": "Keep"}"#,
            r#"{"fragment": "ignore"}"#,
            r#"{"lowercase": "yes"}"#,
            r#"{"merge_slashes": null}"#,
            r#"{"lowercase": true, "lowercase": false}"#,
        ] {
            let derived = crate::config::parse::<PathOptions>(json.as_bytes()).unwrap_err();
            assert_eq!(read(json), Err(derived), "{json}");
        }
    }
}
