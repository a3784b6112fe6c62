//! Request targets (`:path`) built from the pieces every path rule looks at, and the
//! path options of both filters.

use proptest::prelude::*;
use proptest::sample::select;
use wasmesh_path::{DotSegmentParams, EscapedSlashes, Fragment, PathOptions, PathParams};

/// Pieces of paths: separators, dot segments in every spelling, escapes (slashes,
/// backslashes, `;`, `%`, unreserved characters, valid, overlong and surrogate UTF-8),
/// parameters, queries, fragments, malformed escapes and raw bytes that are never valid,
/// and the names the access-control policies of the tests match on.
pub const PIECES: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b"/",
    b"//",
    b"/./",
    b"/../",
    b".",
    b"..",
    b"...",
    b"%2e",
    b"%2E",
    b"%2e%2e",
    b".%2e",
    b"%2e.",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b"\\",
    b";",
    b";x=1",
    b";jsessionid=7",
    b"..;",
    b".;",
    b"..;x",
    b"%3b",
    b"%3B",
    b"%3bx",
    b"%25",
    b"%252e",
    b"%25%32%65",
    b"%252F",
    b"%41",
    b"%61",
    b"%7e",
    b"%7E",
    b"%5f",
    b"%3f",
    b"%23",
    b"%00",
    b"%0a",
    b"%1F",
    b"%7f",
    b"%20",
    b"%",
    b"%g",
    b"%4",
    b"%c3%a9",
    b"%C3%A9",
    b"%c0%ae",
    b"%c0%af",
    b"%e0%80%af",
    b"%ed%a0%80",
    b"%f0%9f%98%80",
    b"%e2%82%ac",
    b"%ff",
    b"%80",
    b"?",
    b"?q=/../x",
    b"?a=%2F&b=%zz",
    b"&",
    b"=",
    b"#",
    b"#/../",
    b"admin",
    b"ADMIN",
    b"Admin",
    b"admin.",
    b"api",
    b"API",
    b"v1",
    b"users",
    b"orders",
    b"healthz",
    b"public",
    b"a",
    b"b",
    b"Z",
    b"7",
    b"~",
    b"-",
    b"_",
    b"*",
    b":",
    b"@",
    b"+",
    b"!",
    b"$",
    b"'",
];

/// Raw bytes never valid in a target: controls, space, DEL, and bytes of 0x80 and above.
pub const RAW_BYTES: &[u8] = &[0x00, 0x09, 0x0A, 0x0D, 0x20, 0x7F, 0x80, 0xC0, 0xC3, 0xFF];

/// One piece of a path.
pub fn piece() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        24 => select(PIECES).prop_map(<[u8]>::to_vec),
        4 => crate::regex("[A-Za-z0-9._~-]{1,8}").prop_map(String::into_bytes),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(byte, upper)| escape(&[byte], upper)),
        2 => (any::<char>(), any::<bool>())
            .prop_map(|(c, upper)| escape(c.encode_utf8(&mut [0; 4]).as_bytes(), upper)),
        1 => select(RAW_BYTES).prop_map(|byte| vec![byte]),
    ]
    .boxed()
}

/// `bytes` percent-encoded, hex in the given case.
pub fn escape(bytes: &[u8], upper: bool) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|byte| {
            let text = if upper {
                format!("%{byte:02X}")
            } else {
                format!("%{byte:02x}")
            };
            text.into_bytes()
        })
        .collect()
}

/// A request target: mostly `/` and pieces, sometimes `*`, a relative or empty target, or
/// random bytes.
pub fn target() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        40 => prop::collection::vec(piece(), 0..16).prop_map(|pieces| {
            let mut target = b"/".to_vec();
            target.extend(pieces.concat());
            target
        }),
        1 => Just(b"*".to_vec()),
        1 => prop::collection::vec(piece(), 0..6).prop_map(super::concat),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ]
    .boxed()
}

/// Pieces of the paths well-behaved clients send, which the rules mostly accept, some of
/// them after rewriting.
pub const ORDINARY_PIECES: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b"/",
    b"//",
    b"/./",
    b"/../",
    b"admin",
    b"ADMIN",
    b"api",
    b"v1",
    b"users",
    b"7",
    b"orders",
    b"healthz",
    b"public",
    b"internal",
    b"debug",
    b"a",
    b"B",
    b".",
    b"..",
    b"%2e",
    b"%41",
    b"%7e",
    b";x=1",
    b"%3B",
    b"~",
    b"-",
    b"_",
    b"%C3%A9",
    b"%3F",
    b"%20",
    b"%2F",
    b"?",
    b"?q=/../%2F",
    b"&",
    b"=",
];

/// A target a well-behaved client sends (see [`ORDINARY_PIECES`]).
pub fn ordinary_target() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(select(ORDINARY_PIECES), 0..10)
        .prop_map(|pieces| {
            let mut target = b"/".to_vec();
            target.extend(pieces.concat());
            target
        })
        .boxed()
}

/// Any combination of the path options.
pub fn options() -> BoxedStrategy<PathOptions> {
    (
        select(
            &[
                EscapedSlashes::Keep,
                EscapedSlashes::Reject,
                EscapedSlashes::UnescapeAndForward,
                EscapedSlashes::UnescapeAndRedirect,
            ][..],
        ),
        any::<bool>(),
        select(&[DotSegmentParams::AsDotSegment, DotSegmentParams::Reject][..]),
        select(&[PathParams::Keep, PathParams::Strip][..]),
        select(&[Fragment::Reject, Fragment::Strip][..]),
        any::<bool>(),
    )
        .prop_map(
            |(
                escaped_slashes,
                merge_slashes,
                dot_segment_params,
                path_params,
                fragment,
                lowercase,
            )| {
                PathOptions {
                    escaped_slashes,
                    merge_slashes,
                    dot_segment_params,
                    path_params,
                    fragment,
                    lowercase,
                }
            },
        )
        .boxed()
}

/// The options as the JSON object both filters read (`path` in header-normalization,
/// `path.canonicalization` in access-control).
pub fn options_json(options: &PathOptions) -> String {
    let escaped_slashes = match options.escaped_slashes {
        EscapedSlashes::Keep => "keep",
        EscapedSlashes::Reject => "reject",
        EscapedSlashes::UnescapeAndForward => "unescape_and_forward",
        EscapedSlashes::UnescapeAndRedirect => "unescape_and_redirect",
    };
    let dot_segment_params = match options.dot_segment_params {
        DotSegmentParams::AsDotSegment => "as_dot_segment",
        DotSegmentParams::Reject => "reject",
    };
    let path_params = match options.path_params {
        PathParams::Keep => "keep",
        PathParams::Strip => "strip",
    };
    let fragment = match options.fragment {
        Fragment::Reject => "reject",
        Fragment::Strip => "strip",
    };
    format!(
        r#"{{"escaped_slashes": "{escaped_slashes}", "merge_slashes": {}, "dot_segment_params": "{dot_segment_params}", "path_params": "{path_params}", "fragment": "{fragment}", "lowercase": {}}}"#,
        options.merge_slashes, options.lowercase
    )
}

/// The options packed in one byte, as the `path` fuzz target reads them: bits 0-1 the
/// escaped-slash handling, then merge slashes, dot-segment parameters, path parameters,
/// fragment and lowercase.
pub fn options_byte(options: &PathOptions) -> u8 {
    let escaped = match options.escaped_slashes {
        EscapedSlashes::Keep => 0,
        EscapedSlashes::Reject => 1,
        EscapedSlashes::UnescapeAndForward => 2,
        EscapedSlashes::UnescapeAndRedirect => 3,
    };
    escaped
        | u8::from(options.merge_slashes) << 2
        | u8::from(options.dot_segment_params == DotSegmentParams::AsDotSegment) << 3
        | u8::from(options.path_params == PathParams::Strip) << 4
        | u8::from(options.fragment == Fragment::Strip) << 5
        | u8::from(options.lowercase) << 6
}
