//! Reference data for request-path canonicalization: the RFC 3986
//! reference-resolution examples and a table of hostile request targets with
//! their canonical form or rejection rule.
//!
//! This crate's tests run this data through [`canonicalize`](super::canonicalize),
//! and the header-normalization filter's tests run it through the filter, so
//! both are held to the same expectations. Test data only: built for this crate's
//! tests and with the `reference-data` feature, which only dev-dependencies enable.

use super::{DotSegmentParams, EscapedSlashes, Fragment, PathOptions, PathParams};

/// The base URI of the RFC 3986 §5.4 examples.
pub const RFC3986_BASE: &str = "http://a/b/c/d;p?q";

/// RFC 3986 §5.4.1 normal examples whose references are paths (no scheme, no
/// authority): (reference, resolved target). The resolved target is the
/// resolved URI without its `http://a` scheme and authority, so it is the path,
/// then any `?query`, then any `#fragment`.
pub const RFC3986_NORMAL: [(&str, &str); 21] = [
    ("g", "/b/c/g"),
    ("./g", "/b/c/g"),
    ("g/", "/b/c/g/"),
    ("/g", "/g"),
    ("?y", "/b/c/d;p?y"),
    ("g?y", "/b/c/g?y"),
    ("#s", "/b/c/d;p?q#s"),
    ("g#s", "/b/c/g#s"),
    ("g?y#s", "/b/c/g?y#s"),
    (";x", "/b/c/;x"),
    ("g;x", "/b/c/g;x"),
    ("g;x?y#s", "/b/c/g;x?y#s"),
    ("", "/b/c/d;p?q"),
    (".", "/b/c/"),
    ("./", "/b/c/"),
    ("..", "/b/"),
    ("../", "/b/"),
    ("../g", "/b/g"),
    ("../..", "/"),
    ("../../", "/"),
    ("../../g", "/g"),
];

/// RFC 3986 §5.4.2 abnormal examples whose references are paths (no scheme, no
/// authority): (reference, resolved target), in the form of [`RFC3986_NORMAL`].
pub const RFC3986_ABNORMAL: [(&str, &str); 18] = [
    ("../../../g", "/g"),
    ("../../../../g", "/g"),
    ("/./g", "/g"),
    ("/../g", "/g"),
    ("g.", "/b/c/g."),
    (".g", "/b/c/.g"),
    ("g..", "/b/c/g.."),
    ("..g", "/b/c/..g"),
    ("./../g", "/b/g"),
    ("./g/.", "/b/c/g/"),
    ("g/./h", "/b/c/g/h"),
    ("g/../h", "/b/c/h"),
    ("g;x=1/./y", "/b/c/g;x=1/y"),
    ("g;x=1/../y", "/b/c/y"),
    ("g?y/./x", "/b/c/g?y/./x"),
    ("g?y/../x", "/b/c/g?y/../x"),
    ("g#s/./x", "/b/c/g#s/./x"),
    ("g#s/../x", "/b/c/g#s/../x"),
];

/// The option set a [`HOSTILE_TARGETS`] row is canonicalized under: the
/// defaults, or the defaults with one option changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `PathOptions::default()`.
    Default,
    /// Escaped slashes kept encoded ([`EscapedSlashes::Keep`]).
    KeepSlashes,
    /// Escaped slashes decoded ([`EscapedSlashes::UnescapeAndForward`]).
    UnescapeSlashes,
    /// Escaped slashes decoded and the client redirected
    /// ([`EscapedSlashes::UnescapeAndRedirect`]). Every row under this profile
    /// that is accepted decodes an escaped slash, so it is flagged for a
    /// redirect to its canonical target.
    RedirectSlashes,
    /// Dot segments with parameters reduced to the bare dot segment
    /// ([`DotSegmentParams::AsDotSegment`]).
    DotParamsAsDots,
    /// Segment parameters removed ([`PathParams::Strip`]).
    StripParams,
    /// The path lowercased.
    Lowercase,
    /// Fragments removed ([`Fragment::Strip`]).
    StripFragment,
    /// Repeated slashes left unmerged.
    NoMerge,
}

impl Profile {
    /// Every profile, once.
    pub const ALL: [Profile; 9] = [
        Profile::Default,
        Profile::KeepSlashes,
        Profile::UnescapeSlashes,
        Profile::RedirectSlashes,
        Profile::DotParamsAsDots,
        Profile::StripParams,
        Profile::Lowercase,
        Profile::StripFragment,
        Profile::NoMerge,
    ];

    /// The canonicalization options this profile stands for.
    pub fn options(self) -> PathOptions {
        let mut options = PathOptions::default();
        match self {
            Profile::Default => {}
            Profile::KeepSlashes => options.escaped_slashes = EscapedSlashes::Keep,
            Profile::UnescapeSlashes => {
                options.escaped_slashes = EscapedSlashes::UnescapeAndForward;
            }
            Profile::RedirectSlashes => {
                options.escaped_slashes = EscapedSlashes::UnescapeAndRedirect;
            }
            Profile::DotParamsAsDots => {
                options.dot_segment_params = DotSegmentParams::AsDotSegment;
            }
            Profile::StripParams => options.path_params = PathParams::Strip,
            Profile::Lowercase => options.lowercase = true,
            Profile::StripFragment => options.fragment = Fragment::Strip,
            Profile::NoMerge => options.merge_slashes = false,
        }
        options
    }
}

/// A [`HOSTILE_TARGETS`] row: (request target, profile, the whole canonical
/// target or the name of the rule that refuses it).
pub type HostileTarget = (&'static [u8], Profile, Result<&'static str, &'static str>);

use Profile::{
    Default, DotParamsAsDots, KeepSlashes, Lowercase, NoMerge, RedirectSlashes, StripFragment,
    StripParams, UnescapeSlashes,
};

/// Hostile request targets, each with its canonical form or rejection rule.
pub const HOSTILE_TARGETS: &[HostileTarget] = &[
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
    (b"/public/..?x=1", Default, Ok("/?x=1")),
    // `..;` and other dot-segment parameters.
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
    (b"/%2e%2e%2e/admin", Default, Ok("/.../admin")),
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
    (
        b"/public/..%2Fadmin?q=%2F",
        RedirectSlashes,
        Ok("/admin?q=%2F"),
    ),
    // Raw backslash.
    (b"/admin\\..\\x", Default, Err("backslash")),
    (b"/admin\\..\\x", UnescapeSlashes, Err("backslash")),
    (b"/public\\..\\admin", UnescapeSlashes, Err("backslash")),
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
    (b"/%c0%ae%c0%ae/admin", Default, Err("invalid_utf8")),
    (b"/%c0%ae%c0%ae/admin", UnescapeSlashes, Err("invalid_utf8")),
    (b"/%ed%a0%80", Default, Err("invalid_utf8")),
    (b"/%f0%9f%98", Default, Err("invalid_utf8")),
    (b"/%c3%a9", Default, Ok("/%C3%A9")),
    (b"/caf%c3%a9", Default, Ok("/caf%C3%A9")),
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
    (b"/a//../b", NoMerge, Ok("/a/b")),
    // Case.
    (b"/ADMIN", Default, Ok("/ADMIN")),
    (b"/ADMIN", Lowercase, Ok("/admin")),
    (b"/%41DMIN", Lowercase, Ok("/admin")),
    (b"/AdMiN/%c3%a9?Q=X", Lowercase, Ok("/admin/%C3%A9?Q=X")),
    (b"/%7eUser", Default, Ok("/~User")),
    // The query is never rewritten.
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
