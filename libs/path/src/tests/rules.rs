//! One focused test per rule and per option value.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::{options_with, run};
use crate::{
    canonicalize, DotSegmentParams, EscapedSlashes, Fragment, PathOptions, PathParams,
    PathRejection,
};

fn default_run(target: &[u8]) -> Result<String, &'static str> {
    run(target, &PathOptions::default())
}

#[test]
fn asterisk_alone_is_unchanged() {
    let canonical = canonicalize(b"*", &PathOptions::default());
    assert_eq!(canonical.as_ref().map(|c| c.as_str()), Ok("*"));
    assert_eq!(canonical.as_ref().map(|c| c.path()), Ok("*"));
    assert_eq!(canonical.as_ref().map(|c| c.query()), Ok(None));
    assert_eq!(canonical.map(|c| c.is_changed()), Ok(false));
}

#[test]
fn relative_path_rule() {
    for target in [
        &b""[..],
        b"admin",
        b"*x",
        b"**",
        b"?x",
        b"#x",
        b"http://h/a",
        b"\\a",
    ] {
        assert_eq!(default_run(target), Err("relative_path"), "{target:?}");
    }
}

#[test]
fn control_character_rule_raw() {
    for target in [
        &b"/a\0"[..],
        b"/a\tb",
        b"/a\r\n",
        b"/a\x7f",
        b"/a?q=\x01",
        b"/a#\x00",
    ] {
        assert_eq!(default_run(target), Err("control_character"), "{target:?}");
    }
}

#[test]
fn control_character_rule_escaped() {
    for target in [&b"/a%00"[..], b"/a%0A", b"/a%1f", b"/a%7F", b"/a%7f"] {
        assert_eq!(default_run(target), Err("control_character"), "{target:?}");
    }
}

#[test]
fn invalid_character_rule() {
    for target in [
        &b"/a b"[..],
        b"/caf\xc3\xa9",
        b"/\xff",
        b"/a?q=\x80",
        b"/a?q= ",
    ] {
        assert_eq!(default_run(target), Err("invalid_character"), "{target:?}");
    }
}

#[test]
fn fragment_reject() {
    assert_eq!(default_run(b"/a#b"), Err("fragment"));
    assert_eq!(default_run(b"/a?q#b"), Err("fragment"));
    assert_eq!(default_run(b"/a#"), Err("fragment"));
}

#[test]
fn fragment_strip() {
    let options = options_with(|o| o.fragment = Fragment::Strip);
    assert_eq!(run(b"/a#b", &options).as_deref(), Ok("/a"));
    assert_eq!(run(b"/a?q#b", &options).as_deref(), Ok("/a?q"));
    assert_eq!(run(b"/a#b?q", &options).as_deref(), Ok("/a"));
    let stripped = canonicalize(b"/a#", &options);
    assert_eq!(stripped.map(|c| c.is_changed()), Ok(true));
}

#[test]
fn backslash_rule_applies_to_the_path_only() {
    assert_eq!(default_run(b"/a\\b"), Err("backslash"));
    assert_eq!(default_run(b"/a\\%zz"), Err("backslash"));
    assert_eq!(default_run(b"/a?q=\\").as_deref(), Ok("/a?q=\\"));
}

#[test]
fn invalid_escape_rule() {
    for target in [&b"/%"[..], b"/a%", b"/%4", b"/%g0", b"/%0g", b"/%%41"] {
        assert_eq!(default_run(target), Err("invalid_escape"), "{target:?}");
    }
}

#[test]
fn double_encoding_rule() {
    for target in [
        &b"/%252e"[..],
        b"/%252F",
        b"/%255c",
        b"/%2541",
        b"/%25%34%31",
        b"/%25%32%65",
    ] {
        assert_eq!(default_run(target), Err("double_encoding"), "{target:?}");
    }
    assert_eq!(default_run(b"/%25").as_deref(), Ok("/%25"));
    assert_eq!(default_run(b"/%25zz").as_deref(), Ok("/%25zz"));
    assert_eq!(default_run(b"/100%25/x").as_deref(), Ok("/100%25/x"));
}

#[test]
fn escaped_slash_reject() {
    for target in [&b"/a%2fb"[..], b"/a%2Fb", b"/a%5cb", b"/a%5Cb"] {
        assert_eq!(default_run(target), Err("escaped_slash"), "{target:?}");
    }
}

#[test]
fn escaped_slash_keep() {
    let options = options_with(|o| o.escaped_slashes = EscapedSlashes::Keep);
    assert_eq!(run(b"/a%2fb%5cc", &options).as_deref(), Ok("/a%2Fb%5Cc"));
    assert_eq!(
        run(b"/a/..%2f..%2fb", &options).as_deref(),
        Ok("/a/..%2F..%2Fb")
    );
}

#[test]
fn escaped_slash_unescape_and_forward() {
    let options = options_with(|o| o.escaped_slashes = EscapedSlashes::UnescapeAndForward);
    assert_eq!(run(b"/a%2fb%5Cc", &options).as_deref(), Ok("/a/b/c"));
    assert_eq!(run(b"/a/..%2f..%2fb", &options).as_deref(), Ok("/b"));
    let canonical = canonicalize(b"/a%2Fb", &options);
    assert_eq!(canonical.map(|c| c.needs_redirect()), Ok(false));
}

#[test]
fn escaped_slash_unescape_and_redirect() {
    let options = options_with(|o| o.escaped_slashes = EscapedSlashes::UnescapeAndRedirect);
    let canonical = canonicalize(b"/a%2Fb?x=%2F", &options);
    let seen = canonical.map(|c| (c.as_str().to_owned(), c.needs_redirect(), c.is_changed()));
    assert_eq!(seen, Ok(("/a/b?x=%2F".to_owned(), true, true)));
    let untouched = canonicalize(b"/a/b", &options);
    assert_eq!(untouched.map(|c| c.needs_redirect()), Ok(false));
}

#[test]
fn invalid_utf8_rule() {
    let cases: [&[u8]; 8] = [
        b"/%c0%af",
        b"/%e0%80%af",
        b"/%ed%a0%80",
        b"/%f8%88%80%80%80",
        b"/%80",
        b"/%c3",
        b"/%c3/%a9",
        b"/%e2%82",
    ];
    for target in cases {
        assert_eq!(default_run(target), Err("invalid_utf8"), "{target:?}");
    }
}

#[test]
fn valid_utf8_stays_encoded_with_uppercase_hex() {
    assert_eq!(
        default_run(b"/%c3%a9/%e2%82%ac").as_deref(),
        Ok("/%C3%A9/%E2%82%AC")
    );
}

#[test]
fn unreserved_escapes_are_decoded() {
    assert_eq!(
        default_run(b"/%41%62%2D%2e%5f%7E%30").as_deref(),
        Ok("/Ab-._~0")
    );
}

#[test]
fn other_escapes_stay_encoded_with_uppercase_hex() {
    assert_eq!(
        default_run(b"/%3f%3B%20%2b%23%40").as_deref(),
        Ok("/%3F%3B%20%2B%23%40")
    );
}

#[test]
fn dot_segment_parameter_reject() {
    for target in [
        &b"/a/..;/b"[..],
        b"/a/.;/b",
        b"/a/..;x=1",
        b"/%2e%2e;j=1/b",
        b"/.%2E;",
    ] {
        assert_eq!(
            default_run(target),
            Err("dot_segment_parameter"),
            "{target:?}"
        );
    }
}

#[test]
fn dot_segment_parameter_as_dot_segment() {
    let options = options_with(|o| o.dot_segment_params = DotSegmentParams::AsDotSegment);
    assert_eq!(run(b"/a/b/..;x/c", &options).as_deref(), Ok("/a/c"));
    assert_eq!(run(b"/a/.;x/c", &options).as_deref(), Ok("/a/c"));
    assert_eq!(run(b"/a/..;", &options).as_deref(), Ok("/"));
}

#[test]
fn path_params_keep() {
    assert_eq!(default_run(b"/a;x=1/b;y").as_deref(), Ok("/a;x=1/b;y"));
    assert_eq!(default_run(b"/;x").as_deref(), Ok("/;x"));
}

#[test]
fn path_params_strip() {
    let options = options_with(|o| o.path_params = PathParams::Strip);
    assert_eq!(run(b"/a;x=1/b;y?q;z", &options).as_deref(), Ok("/a/b?q;z"));
    assert_eq!(run(b"/a/;x/b", &options).as_deref(), Ok("/a/b"));
    assert_eq!(run(b"/a/b%3Bc", &options).as_deref(), Ok("/a/b%3Bc"));
}

#[test]
fn merge_slashes_on() {
    assert_eq!(default_run(b"//a///b//").as_deref(), Ok("/a/b/"));
}

#[test]
fn merge_slashes_off() {
    let options = options_with(|o| o.merge_slashes = false);
    assert_eq!(run(b"//a///b//", &options).as_deref(), Ok("//a///b//"));
    assert_eq!(run(b"/a//../b", &options).as_deref(), Ok("/a/b"));
}

#[test]
fn dot_segments_are_removed() {
    assert_eq!(default_run(b"/a/./b/../c/.").as_deref(), Ok("/a/c/"));
    assert_eq!(default_run(b"/../..").as_deref(), Ok("/"));
}

#[test]
fn lowercase_off_keeps_case() {
    assert_eq!(default_run(b"/Admin/X").as_deref(), Ok("/Admin/X"));
}

#[test]
fn lowercase_on() {
    let options = options_with(|o| o.lowercase = true);
    assert_eq!(
        run(b"/Admin/%3f/%C3%A9?Q=V", &options).as_deref(),
        Ok("/admin/%3F/%C3%A9?Q=V")
    );
    assert_eq!(run(b"/%41B", &options).as_deref(), Ok("/ab"));
}

#[test]
fn query_is_kept_byte_for_byte() {
    let target = b"/a/../b?x=/../y&%zz&%2f&A=%41&?&\\&;";
    assert_eq!(
        default_run(target).as_deref(),
        Ok("/b?x=/../y&%zz&%2f&A=%41&?&\\&;")
    );
    let canonical = canonicalize(target, &PathOptions::default());
    assert_eq!(
        canonical.as_ref().map(|c| (c.path(), c.query())),
        Ok(("/b", Some("x=/../y&%zz&%2f&A=%41&?&\\&;")))
    );
}

#[test]
fn empty_query_is_distinct_from_no_query() {
    let with_empty = canonicalize(b"/a/./?", &PathOptions::default());
    assert_eq!(
        with_empty.map(|c| (c.as_str().to_owned(), c.query().map(str::to_owned))),
        Ok(("/a/?".to_owned(), Some(String::new())))
    );
    let without = canonicalize(b"/a", &PathOptions::default());
    assert_eq!(without.map(|c| c.query().map(str::to_owned)), Ok(None));
}

#[test]
fn is_changed_reports_any_difference() {
    let options = PathOptions::default();
    assert_eq!(
        canonicalize(b"/a/b?x", &options).map(|c| c.is_changed()),
        Ok(false)
    );
    assert_eq!(
        canonicalize(b"/a/%62", &options).map(|c| c.is_changed()),
        Ok(true)
    );
    assert_eq!(
        canonicalize(b"/a/%3f", &options).map(|c| c.is_changed()),
        Ok(true)
    );
}

#[test]
fn into_owned_keeps_everything() {
    let input = b"/a/../b%3f?q".to_vec();
    let owned = canonicalize(&input, &PathOptions::default()).map(|c| c.into_owned());
    drop(input);
    let owned = owned.map(|c| (c.to_string(), c.path().to_owned(), c.is_changed()));
    assert_eq!(owned, Ok(("/b%3F?q".to_owned(), "/b%3F".to_owned(), true)));
}

#[test]
fn rejection_displays_a_sentence() {
    let rejection = canonicalize(b"/a%2fb", &PathOptions::default()).err();
    assert_eq!(rejection, Some(PathRejection::EscapedSlash));
    let text = rejection.map(|r| r.to_string()).unwrap_or_default();
    assert!(text.contains("encoded slash"), "{text}");
}
