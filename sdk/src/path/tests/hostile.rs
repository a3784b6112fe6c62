//! A table of hostile request targets with their canonical form or rejection rule.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::{options_with, run};
use crate::path::{
    canonicalize, DotSegmentParams, EscapedSlashes, Fragment, PathOptions, PathParams,
};

/// The option set a table row runs under.
#[derive(Debug, Clone, Copy)]
enum Profile {
    Default,
    KeepSlashes,
    UnescapeSlashes,
    RedirectSlashes,
    DotParamsAsDots,
    StripParams,
    Lowercase,
    StripFragment,
    NoMerge,
}

impl Profile {
    fn options(self) -> PathOptions {
        match self {
            Profile::Default => PathOptions::default(),
            Profile::KeepSlashes => options_with(|o| o.escaped_slashes = EscapedSlashes::Keep),
            Profile::UnescapeSlashes => {
                options_with(|o| o.escaped_slashes = EscapedSlashes::UnescapeAndForward)
            }
            Profile::RedirectSlashes => {
                options_with(|o| o.escaped_slashes = EscapedSlashes::UnescapeAndRedirect)
            }
            Profile::DotParamsAsDots => {
                options_with(|o| o.dot_segment_params = DotSegmentParams::AsDotSegment)
            }
            Profile::StripParams => options_with(|o| o.path_params = PathParams::Strip),
            Profile::Lowercase => options_with(|o| o.lowercase = true),
            Profile::StripFragment => options_with(|o| o.fragment = Fragment::Strip),
            Profile::NoMerge => options_with(|o| o.merge_slashes = false),
        }
    }
}

use Profile::*;

/// (target, profile, canonical target or rejection rule).
type Row = (&'static [u8], Profile, Result<&'static str, &'static str>);

const TABLE: &[Row] = &[
    // Dot segments.
    (b"/admin/../admin", Default, Ok("/admin")),
    (b"/a/./b", Default, Ok("/a/b")),
    (b"/..", Default, Ok("/")),
    (b"/../../etc/passwd", Default, Ok("/etc/passwd")),
    (b"/public/../../../admin", Default, Ok("/admin")),
    (b"/a/b/../../..//c", Default, Ok("/c")),
    (b"/.../admin", Default, Ok("/.../admin")),
    (b"/admin/.", Default, Ok("/admin/")),
    (b"/admin/", Default, Ok("/admin/")),
    (b"/admin/..", Default, Ok("/")),
    // Segment parameters on dot segments.
    (b"/public/..;/admin", Default, Err("dot_segment_parameter")),
    (
        b"/public/..;x=1/admin",
        Default,
        Err("dot_segment_parameter"),
    ),
    (b"/public/.;/admin", Default, Err("dot_segment_parameter")),
    (
        b"/public/%2e%2e;jsessionid=1/admin",
        Default,
        Err("dot_segment_parameter"),
    ),
    (b"/public/..;/admin", DotParamsAsDots, Ok("/admin")),
    (b"/public/..;x=1/admin", DotParamsAsDots, Ok("/admin")),
    (
        b"/public/%2e%2e;jsessionid=1/admin",
        DotParamsAsDots,
        Ok("/admin"),
    ),
    (b"/public/.;x/admin", DotParamsAsDots, Ok("/public/admin")),
    (b"/public/..%3B/admin", Default, Ok("/public/..%3B/admin")),
    (b"/admin;x/../public", Default, Ok("/public")),
    (b"/admin;jsessionid=1", StripParams, Ok("/admin")),
    (
        b"/public;x/..;y/admin",
        StripParams,
        Err("dot_segment_parameter"),
    ),
    // Encoded dots.
    (b"/%2e%2e/admin", Default, Ok("/admin")),
    (b"/%2E./admin", Default, Ok("/admin")),
    (b"/.%2e/admin", Default, Ok("/admin")),
    (b"/public/%2e%2e/admin", Default, Ok("/admin")),
    (b"/%2e", Default, Ok("/")),
    // Double encoding.
    (b"/%252e%252e/admin", Default, Err("double_encoding")),
    (b"/%252fadmin", Default, Err("double_encoding")),
    (b"/%255cadmin", Default, Err("double_encoding")),
    (
        b"/%25%32%65%25%32%65/admin",
        Default,
        Err("double_encoding"),
    ),
    (
        b"/%252e%252e/admin",
        UnescapeSlashes,
        Err("double_encoding"),
    ),
    (b"/100%25", Default, Ok("/100%25")),
    // Encoded slashes and backslashes.
    (b"/admin%2fusers", Default, Err("escaped_slash")),
    (b"/admin%2Fusers", Default, Err("escaped_slash")),
    (b"/..%2fadmin", Default, Err("escaped_slash")),
    (b"/%5cadmin", Default, Err("escaped_slash")),
    (b"/admin%2fusers", KeepSlashes, Ok("/admin%2Fusers")),
    (b"/..%2fadmin", KeepSlashes, Ok("/..%2Fadmin")),
    (b"/%5cadmin", KeepSlashes, Ok("/%5Cadmin")),
    (b"/admin%2fusers", UnescapeSlashes, Ok("/admin/users")),
    (b"/..%2fadmin", UnescapeSlashes, Ok("/admin")),
    (b"/public/%2e%2e%2fadmin", UnescapeSlashes, Ok("/admin")),
    (b"/%5cadmin", UnescapeSlashes, Ok("/admin")),
    (b"/a%2F%2Fb", UnescapeSlashes, Ok("/a/b")),
    (b"/admin%2fusers", RedirectSlashes, Ok("/admin/users")),
    // Raw backslash.
    (b"/admin\\..\\x", Default, Err("backslash")),
    (b"/admin\\..\\x", UnescapeSlashes, Err("backslash")),
    // NUL and other controls.
    (b"/admin%00", Default, Err("control_character")),
    (b"/admin\0", Default, Err("control_character")),
    (b"/admin%00.html", KeepSlashes, Err("control_character")),
    (b"/admin\t", Default, Err("control_character")),
    (
        b"/admin%0d%0aX-Injected:1",
        Default,
        Err("control_character"),
    ),
    (b"/admin?x=\x7f", Default, Err("control_character")),
    // Overlong and otherwise invalid UTF-8.
    (b"/%c0%af", Default, Err("invalid_utf8")),
    (b"/%e0%80%af", Default, Err("invalid_utf8")),
    (b"/%c0%ae%c0%ae/", Default, Err("invalid_utf8")),
    (b"/%c0%ae%c0%ae/", UnescapeSlashes, Err("invalid_utf8")),
    (b"/%ed%a0%80", Default, Err("invalid_utf8")),
    (b"/%c3%a9", Default, Ok("/%C3%A9")),
    // Fragments.
    (b"/admin#x", Default, Err("fragment")),
    (b"/public#/../admin", Default, Err("fragment")),
    (b"/admin#x", StripFragment, Ok("/admin")),
    (b"/public#/../admin", StripFragment, Ok("/public")),
    (b"/public?q#/../admin", StripFragment, Ok("/public?q")),
    // Repeated slashes.
    (b"//admin", Default, Ok("/admin")),
    (b"/a//b///c", Default, Ok("/a/b/c")),
    (b"//admin", NoMerge, Ok("//admin")),
    (b"/a//b///c", NoMerge, Ok("/a//b///c")),
    // Case.
    (b"/ADMIN", Default, Ok("/ADMIN")),
    (b"/ADMIN", Lowercase, Ok("/admin")),
    (b"/%41DMIN", Lowercase, Ok("/admin")),
    (b"/AdMiN/%c3%a9?Q=X", Lowercase, Ok("/admin/%C3%A9?Q=X")),
    // Query handling.
    (b"/a/../b?x=/../y", Default, Ok("/b?x=/../y")),
    (
        b"/a?x=%2f&y=%00-not-decoded",
        Default,
        Ok("/a?x=%2f&y=%00-not-decoded"),
    ),
    (b"/a?x=#", Default, Err("fragment")),
    // Percent-encoded unreserved characters.
    (b"/%61dmin", Default, Ok("/admin")),
    (b"/%61%64%6d%69%6e", Default, Ok("/admin")),
    (b"/admin/%3f", Default, Ok("/admin/%3F")),
    // Whitespace and raw non-ASCII.
    (b"/admin x", Default, Err("invalid_character")),
    (b"/admin%20x", Default, Ok("/admin%20x")),
    (b"/caf\xc3\xa9", Default, Err("invalid_character")),
    (
        b"/\xc0\xae\xc0\xae/admin",
        Default,
        Err("invalid_character"),
    ),
    // Malformed escapes and non-origin forms.
    (b"/%", Default, Err("invalid_escape")),
    (b"/%zzadmin", Default, Err("invalid_escape")),
    (b"/%u002e%u002e/admin", Default, Err("invalid_escape")),
    (b"admin", Default, Err("relative_path")),
    (b"", Default, Err("relative_path")),
    (b"http://evil/admin", Default, Err("relative_path")),
    (b"*", Default, Ok("*")),
];

#[test]
fn hostile_table() {
    assert!(TABLE.len() >= 45);
    for &(target, profile, expected) in TABLE {
        let options = profile.options();
        let got = run(target, &options);
        let seen = got.as_deref().map_err(|rule| *rule);
        assert_eq!(
            seen,
            expected,
            "{:?} under {profile:?}",
            String::from_utf8_lossy(target)
        );
        if let Ok(canonical) = got {
            let again = run(canonical.as_bytes(), &options);
            assert_eq!(again.as_deref(), Ok(canonical.as_str()), "not idempotent");
        }
    }
}

#[test]
fn redirect_is_flagged_only_for_unescaped_slashes() {
    let options = RedirectSlashes.options();
    let flagged = canonicalize(b"/admin%2fusers", &options).map(|c| c.needs_redirect());
    assert_eq!(flagged, Ok(true));
    let plain = canonicalize(b"/admin/%2e%2e/users", &options).map(|c| c.needs_redirect());
    assert_eq!(plain, Ok(false));
}
