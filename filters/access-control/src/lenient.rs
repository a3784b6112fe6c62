//! How deny and log rules read a request: as the most lenient application behind the
//! sidecar would.
//!
//! An allow rule matches the canonical path exactly, so it never grants more than it
//! names. A deny rule must hold for every application, including the many that read a
//! path more loosely than its canonical form: frameworks that match routes ignoring
//! case, servers that drop a segment's `;parameters` (Tomcat, Jetty, Spring), or that
//! decode the path once more before routing. So deny and log rules match the *lenient
//! reading* of the canonical path, built here: every escape decoded (twice over, so an
//! escape that survives one decoding is decoded too), `\` read as `/`, a segment's
//! parameters dropped from its first `;` (raw, or decoded from `%3B`), trailing dots
//! and spaces of a segment dropped (IIS), runs of `/` merged and dot segments removed; with case ignored, the rule's literals and the
//! path compare ignoring ASCII case, and the four non-ASCII letters whose case mapping
//! is an ASCII letter (`ı` and `İ` as `i`, `ſ` as `s`, the Kelvin sign as `k`) read as
//! that letter. A deny rule on `/admin` thus denies `/ADMIN`, `/admin;x`,
//! `/admin%3Bx/users` and `/adm%C4%B1n`.
//!
//! Hosts likewise: a deny rule's host matches the `:authority` with any user
//! information dropped, escapes decoded and every trailing dot removed; an allow
//! rule's host matches the authority as sent (ignoring ASCII case, as host names are).

use std::borrow::Cow;
use wasmesh_sdk::path::remove_dot_segments;

/// How far deny and log rules read a request leniently; each part can be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lenience {
    /// Paths compare ignoring case (ASCII, and the letters that case-map to ASCII).
    pub ignore_case: bool,
    /// A segment's `;parameters`, raw or encoded, are not part of its name.
    pub ignore_path_params: bool,
    /// Hosts match with user information, escapes and trailing dots ignored.
    pub lenient_hosts: bool,
}

impl Default for Lenience {
    fn default() -> Self {
        Self {
            ignore_case: true,
            ignore_path_params: true,
            lenient_hosts: true,
        }
    }
}

impl Lenience {
    /// The lenient reading of a canonical path (without its query). Borrowed when the
    /// reading is the path itself: no escape, no `\`, no `;` to drop, no segment ending
    /// in a dot and no empty segment.
    pub fn path<'a>(&self, canonical: &'a [u8]) -> Cow<'a, [u8]> {
        let needs_work = canonical
            .iter()
            .any(|&b| b == b'%' || b == b'\\' || (b == b';' && self.ignore_path_params))
            || canonical.ends_with(b".")
            || canonical
                .windows(2)
                .any(|pair| pair == b"./" || pair == b"//");
        if !needs_work {
            return Cow::Borrowed(canonical);
        }
        let decoded = percent_decode(&percent_decode(canonical));
        let mut path = Vec::with_capacity(decoded.len());
        // The first piece is the empty one before the leading `/`.
        for segment in decoded.split(|&b| b == b'/' || b == b'\\').skip(1) {
            let name = match segment.iter().position(|&b| b == b';') {
                Some(at) if self.ignore_path_params => segment.get(..at).unwrap_or_default(),
                _ => segment,
            };
            let name = without_trailing_dots_and_spaces(name);
            // Empty segments go: runs of `/` merge into one.
            if !name.is_empty() {
                path.push(b'/');
                path.extend_from_slice(name);
            }
        }
        // A trailing `/` stays, so that `/a/` is still below `/a`.
        if path.is_empty() || decoded.ends_with(b"/") || decoded.ends_with(b"\\") {
            path.push(b'/');
        }
        let mut resolved = remove_dot_segments(&utf8(path)).into_bytes();
        if self.ignore_case {
            resolved = fold_ascii_look_alikes(resolved);
        }
        Cow::Owned(resolved)
    }

    /// A pattern's literal segment as [`path`](Self::path) reads the request's: decoded,
    /// split where it decodes to `/`, and folded like the path when case is ignored.
    pub fn literal(&self, literal: &str) -> Vec<Box<[u8]>> {
        let path = [b"/", literal.as_bytes()].concat();
        self.path(&path)
            .split(|&b| b == b'/')
            .filter(|part| !part.is_empty())
            .map(Box::from)
            .collect()
    }
}

/// An `:authority` as a deny rule reads it: user information dropped and escapes
/// decoded (the host's trailing dots are the host pattern's business). `None` when it
/// is not UTF-8 after decoding.
pub fn authority(authority: &[u8]) -> Option<Cow<'_, str>> {
    let after_user = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => authority.get(at + 1..).unwrap_or_default(),
        None => authority,
    };
    if after_user.contains(&b'%') {
        String::from_utf8(percent_decode(&percent_decode(after_user)))
            .ok()
            .map(Cow::Owned)
    } else {
        std::str::from_utf8(after_user).ok().map(Cow::Borrowed)
    }
}

/// `bytes` as text: the decoding of a canonical path is UTF-8 (canonicalization refuses
/// escapes of invalid UTF-8 and double encoding); anything else loses its non-ASCII bytes.
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| {
        let mut ascii = error.into_bytes();
        ascii.retain(u8::is_ascii);
        String::from_utf8(ascii).unwrap_or_default()
    })
}

/// A segment name as servers that drop trailing dots and spaces (IIS, Windows file
/// systems) read it: `admin.` and `admin. ` are `admin`; a name of dots and spaces only
/// is the dot segment it starts with.
fn without_trailing_dots_and_spaces(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .rposition(|&b| b != b'.' && b != b' ')
        .map_or(0, |last| last + 1);
    match (end, name) {
        (0, [b'.', b'.', ..]) => b"..",
        (0, [b'.', ..]) => b".",
        _ => name.get(..end).unwrap_or(name),
    }
}

/// Decodes every `%XX` escape; a `%` without two hex digits stays as it is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(input.len());
    let mut index = 0;
    while let Some(&byte) = input.get(index) {
        let escaped = match (byte, input.get(index + 1), input.get(index + 2)) {
            (b'%', Some(&high), Some(&low)) => hex(high).zip(hex(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                output.push(high << 4 | low);
                index += 3;
            }
            None => {
                output.push(byte);
                index += 1;
            }
        }
    }
    output
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The UTF-8 of the non-ASCII letters whose simple case mapping is an ASCII letter, and
/// that letter: `İ` (U+0130) lowercases to `i`, `ı` (U+0131) and `ſ` (U+017F) uppercase
/// to `I` and `S`, the Kelvin sign (U+212A) lowercases to `k`. An application comparing
/// paths with Unicode case folding takes them for those letters.
const ASCII_LOOK_ALIKES: [(&[u8], u8); 4] = [
    (&[0xC4, 0xB0], b'i'),
    (&[0xC4, 0xB1], b'i'),
    (&[0xC5, 0xBF], b's'),
    (&[0xE2, 0x84, 0xAA], b'k'),
];

/// Replaces every [`ASCII_LOOK_ALIKES`] sequence with its ASCII letter.
fn fold_ascii_look_alikes(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.is_ascii() {
        return bytes;
    }
    let mut output = Vec::with_capacity(bytes.len());
    let mut rest = bytes.as_slice();
    while let Some((&first, tail)) = rest.split_first() {
        match ASCII_LOOK_ALIKES
            .iter()
            .find(|(utf8, _)| rest.starts_with(utf8))
        {
            Some((utf8, letter)) => {
                output.push(*letter);
                rest = rest.get(utf8.len()..).unwrap_or_default();
            }
            None => {
                output.push(first);
                rest = tail;
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> String {
        String::from_utf8(Lenience::default().path(path.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn a_plain_path_is_read_as_it_is() {
        let lenience = Lenience::default();
        assert!(matches!(lenience.path(b"/api/v1/Orders"), Cow::Borrowed(_)));
        assert_eq!(read("/api/v1/Orders"), "/api/v1/Orders");
    }

    #[test]
    fn parameters_escapes_and_separators_are_read_leniently() {
        for (canonical, lenient) in [
            ("/admin;x", "/admin"),
            ("/admin;x/users;y=1", "/admin/users"),
            ("/admin%3Bx/users", "/admin/users"),
            ("/admin%3bx", "/admin"),
            ("/a%2Fb", "/a/b"),
            ("/a%5Cb", "/a/b"),
            ("/x/..%2Fadmin", "/admin"),
            ("/x/%2E%2E/admin", "/admin"),
            ("/%2541dmin", "/Admin"),
            ("/a%2F%2Fb", "/a/b"),
            ("/caf%C3%A9", "/caf\u{e9}"),
            ("/adm%C4%B1n", "/admin"),
            ("/%E2%84%AAube", "/kube"),
            ("/;x/admin", "/admin"),
            ("/admin%", "/admin%"),
            ("/admin./x", "/admin/x"),
            ("/admin.%20", "/admin"),
            ("/x/..%20/admin", "/admin"),
            ("/x/.../admin", "/admin"),
            ("/a/", "/a/"),
            ("/", "/"),
            ("/a;x/", "/a/"),
        ] {
            assert_eq!(read(canonical), lenient, "{canonical}");
        }
    }

    #[test]
    fn each_part_can_be_turned_off() {
        let exact_params = Lenience {
            ignore_path_params: false,
            ..Lenience::default()
        };
        assert_eq!(&*exact_params.path(b"/admin;x"), b"/admin;x");
        assert_eq!(&*exact_params.path(b"/admin%3Bx"), b"/admin;x");
        let exact_case = Lenience {
            ignore_case: false,
            ..Lenience::default()
        };
        assert_eq!(&*exact_case.path(b"/adm%C4%B1n"), "/adm\u{131}n".as_bytes());
    }

    #[test]
    fn literals_are_read_like_paths() {
        let lenience = Lenience::default();
        assert_eq!(lenience.literal("a%3Ab"), [Box::from(&b"a:b"[..])]);
        assert_eq!(
            lenience.literal("a%2Fb"),
            [Box::from(&b"a"[..]), Box::from(&b"b"[..])]
        );
        assert_eq!(lenience.literal("adm%C4%B1n"), [Box::from(&b"admin"[..])]);
    }

    #[test]
    fn authorities_drop_user_information_and_escapes() {
        let read = |a: &str| authority(a.as_bytes()).map(Cow::into_owned);
        assert_eq!(
            read("user@admin.example.org"),
            Some("admin.example.org".into())
        );
        assert_eq!(
            read("%61dmin.example.org:8443"),
            Some("admin.example.org:8443".into())
        );
        assert_eq!(
            read("a@b@admin.example.org"),
            Some("admin.example.org".into())
        );
        assert_eq!(read("%FF.example.org"), None);
    }
}
