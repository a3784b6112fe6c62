//! How deny and log rules read a request: as the most lenient application behind the
//! sidecar would.
//!
//! An allow rule matches the canonical path exactly, so it never grants more than it
//! names. A deny rule must hold for every application, including the many that read a
//! path more loosely than its canonical form: frameworks that match routes ignoring
//! case, servers that drop a segment's `;parameters` (Tomcat, Jetty, Spring), that
//! decode the path once more before routing, or that drop a segment's trailing dots and
//! spaces (IIS). So deny and log rules match the *lenient reading* of the canonical
//! path, built here segment by segment: each segment's escapes decoded (twice over, so
//! an escape that survives one decoding is decoded too), fullwidth forms read as the
//! ASCII characters they stand for (NFKC), its parameters dropped from its first `;`
//! (raw, or decoded from `%3B`), its trailing dots and spaces dropped; with case
//! ignored, the rule's literals and the path compare ignoring ASCII case, and the
//! non-ASCII letters whose case mapping or folding is ASCII (`ı` and `İ` as `i`, `ſ` as
//! `s`, the Kelvin sign as `k`, `ß` as `ss`, the ligatures `ﬀ` to `ﬆ`) read as those
//! letters. A deny rule on `/admin` thus denies `/ADMIN`, `/admin;x`,
//! `/admin%3Bx/users`, `/admin./x` and `/adm%C4%B1n`.
//!
//! A segment that some application reads as a separator or a dot segment has no single
//! reading: one that decodes to `/` or `\`, or that reads as `.`, `..` or nothing once
//! its parameters, trailing dots and spaces are gone (`...`, `..%20`, `..;x` when
//! parameters are ignored, `;x`). Such a path is [`Ambiguous`]: access-control refuses
//! it (rule `ambiguous_path`), as no rule can say where it leads.
//!
//! Hosts likewise: a deny rule's host matches the `:authority` with user information
//! dropped, escapes decoded, anything after the first `:` taken as the port and every
//! trailing dot removed; an allow rule's host matches the authority as sent (ignoring
//! ASCII case, as host names are).

use std::borrow::Cow;

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

/// A path with a segment that lenient applications read as a separator or a dot segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous;

impl Lenience {
    /// The lenient reading of a canonical path (without its query), segment for segment.
    /// Borrowed when the reading is the path itself: no escape, no `\`, no `;` to drop
    /// and no segment ending in a dot.
    pub fn path<'a>(&self, canonical: &'a [u8]) -> Result<Cow<'a, [u8]>, Ambiguous> {
        let needs_work = canonical
            .iter()
            .any(|&b| b == b'%' || b == b'\\' || (b == b';' && self.ignore_path_params))
            || canonical.ends_with(b".")
            || canonical.windows(2).any(|pair| pair == b"./");
        if !needs_work {
            return Ok(Cow::Borrowed(canonical));
        }
        let mut reading = Vec::with_capacity(canonical.len());
        // The first piece is the empty one before the leading `/`.
        for segment in canonical.split(|&b| b == b'/').skip(1) {
            reading.push(b'/');
            if !segment.is_empty() {
                reading.extend_from_slice(&self.segment(segment)?);
            }
        }
        if reading.is_empty() {
            reading.push(b'/');
        }
        Ok(Cow::Owned(reading))
    }

    /// One non-empty segment's reading.
    fn segment(&self, segment: &[u8]) -> Result<Vec<u8>, Ambiguous> {
        let mut name = fold(percent_decode(&percent_decode(segment)), self.ignore_case);
        if name.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(Ambiguous);
        }
        if self.ignore_path_params {
            if let Some(at) = name.iter().position(|&b| b == b';') {
                name.truncate(at);
            }
        }
        let kept = name
            .iter()
            .rposition(|&b| b != b'.' && b != b' ')
            .map_or(0, |last| last + 1);
        name.truncate(kept);
        if name.is_empty() {
            // Dots and spaces only, or parameters only.
            return Err(Ambiguous);
        }
        Ok(name)
    }

    /// A pattern's literal segment as [`path`](Self::path) reads the request's: decoded,
    /// split where it decodes to `/`, and folded like the path when case is ignored.
    pub fn literal(&self, literal: &str) -> Result<Vec<Box<[u8]>>, Ambiguous> {
        let path = [b"/", literal.as_bytes()].concat();
        Ok(self
            .path(&path)?
            .split(|&b| b == b'/')
            .filter(|part| !part.is_empty())
            .map(Box::from)
            .collect())
    }
}

/// An `:authority` as a deny rule reads it: escapes decoded (bytes that are not UTF-8
/// dropped) and user information dropped, before and after decoding (the host's port and
/// trailing dots are the host pattern's business).
pub fn authority(authority: &[u8]) -> Cow<'_, str> {
    let after_user = |text: &[u8]| match text.iter().rposition(|&b| b == b'@') {
        Some(at) => text.get(at + 1..).unwrap_or_default().to_vec(),
        None => text.to_vec(),
    };
    if authority.contains(&b'%') || authority.contains(&b'@') || !authority.is_ascii() {
        let decoded = after_user(&percent_decode(&percent_decode(&after_user(authority))));
        Cow::Owned(String::from_utf8(decoded).unwrap_or_else(|error| {
            let mut ascii = error.into_bytes();
            ascii.retain(u8::is_ascii);
            String::from_utf8(ascii).unwrap_or_default()
        }))
    } else {
        Cow::Borrowed(std::str::from_utf8(authority).unwrap_or_default())
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

/// The UTF-8 of the non-ASCII letters whose simple case mapping or full case folding is
/// ASCII, and that ASCII: `İ` (U+0130) lowercases to `i`, `ı` (U+0131) and `ſ` (U+017F)
/// uppercase to `I` and `S`, the Kelvin sign (U+212A) lowercases to `k`; `ß` and `ẞ` fold
/// to `ss`, the ligatures U+FB00 to U+FB06 to `ff`, `fi`, `fl`, `ffi`, `ffl`, `st`, `st`.
/// An application comparing paths with Unicode case folding takes them for those letters.
const ASCII_LOOK_ALIKES: [(&[u8], &[u8]); 13] = [
    (&[0xC4, 0xB0], b"i"),
    (&[0xC4, 0xB1], b"i"),
    (&[0xC5, 0xBF], b"s"),
    (&[0xE2, 0x84, 0xAA], b"k"),
    (&[0xC3, 0x9F], b"ss"),
    (&[0xE1, 0xBA, 0x9E], b"ss"),
    (&[0xEF, 0xAC, 0x80], b"ff"),
    (&[0xEF, 0xAC, 0x81], b"fi"),
    (&[0xEF, 0xAC, 0x82], b"fl"),
    (&[0xEF, 0xAC, 0x83], b"ffi"),
    (&[0xEF, 0xAC, 0x84], b"ffl"),
    (&[0xEF, 0xAC, 0x85], b"st"),
    (&[0xEF, 0xAC, 0x86], b"st"),
];

/// Replaces the fullwidth forms of ASCII (U+FF01 to U+FF5E, which NFKC maps to ASCII)
/// with their ASCII characters, and, when `case` is ignored, every [`ASCII_LOOK_ALIKES`]
/// sequence with its ASCII letters.
fn fold(bytes: Vec<u8>, case: bool) -> Vec<u8> {
    if bytes.is_ascii() {
        return bytes;
    }
    let mut output = Vec::with_capacity(bytes.len());
    let mut rest = bytes.as_slice();
    while let Some((&first, tail)) = rest.split_first() {
        if let [0xEF, second @ (0xBC | 0xBD), third, ..] = *rest {
            let point = (u32::from(second & 0x3F) << 6 | u32::from(third & 0x3F)) + 0xF000;
            if let Some(ascii) = point
                .checked_sub(0xFEE0)
                .filter(|c| (0x21..=0x7E).contains(c))
            {
                output.push(ascii as u8);
                rest = rest.get(3..).unwrap_or_default();
                continue;
            }
        }
        let look_alike = ASCII_LOOK_ALIKES
            .iter()
            .find(|(utf8, _)| case && rest.starts_with(utf8));
        match look_alike {
            Some((utf8, ascii)) => {
                output.extend_from_slice(ascii);
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

    fn read(path: &str) -> Result<String, Ambiguous> {
        Lenience::default()
            .path(path.as_bytes())
            .map(|reading| String::from_utf8(reading.into_owned()).unwrap())
    }

    #[test]
    fn a_plain_path_is_read_as_it_is() {
        let lenience = Lenience::default();
        assert!(matches!(
            lenience.path(b"/api/v1/Orders"),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(read("/api/v1/Orders").unwrap(), "/api/v1/Orders");
    }

    #[test]
    fn each_segment_is_read_leniently_in_its_place() {
        for (canonical, lenient) in [
            ("/admin;x", "/admin"),
            ("/admin;x/users;y=1", "/admin/users"),
            ("/admin%3Bx/users", "/admin/users"),
            ("/admin%3bx", "/admin"),
            ("/%2541dmin", "/Admin"),
            ("/caf%C3%A9", "/caf\u{e9}"),
            ("/adm%C4%B1n", "/admin"),
            ("/%E2%84%AAube", "/kube"),
            ("/pa%C3%9Fword", "/password"),
            ("/%EF%AC%81les", "/files"),
            ("/%EF%BD%81dmin", "/admin"),
            ("/admin%", "/admin%"),
            ("/admin./x", "/admin/x"),
            ("/admin.%20", "/admin"),
            ("/a/", "/a/"),
            ("/", "/"),
            ("/a;x/", "/a/"),
            ("/.hidden", "/.hidden"),
        ] {
            assert_eq!(read(canonical), Ok(lenient.to_owned()), "{canonical}");
        }
    }

    #[test]
    fn segments_read_as_separators_or_dot_segments_are_ambiguous() {
        for canonical in [
            "/admin/...",
            "/admin/..%20",
            "/admin/.%20/x",
            "/admin/..%3B",
            "/admin/..%3Bx/users",
            "/users/;x/delete",
            "/users/%3B/delete",
            "/a%2Fb",
            "/a%5Cb",
            "/admin;x%2Fy",
            "/x/..%2Fadmin",
            "/x/%252e%252e/admin",
            "/x/%EF%BC%8E%EF%BC%8E/admin",
            "/x%EF%BC%8Fadmin",
        ] {
            assert_eq!(read(canonical), Err(Ambiguous), "{canonical}");
        }
    }

    #[test]
    fn each_part_can_be_turned_off() {
        let exact_params = Lenience {
            ignore_path_params: false,
            ..Lenience::default()
        };
        assert_eq!(&*exact_params.path(b"/admin;x").unwrap(), b"/admin;x");
        assert_eq!(&*exact_params.path(b"/admin%3Bx").unwrap(), b"/admin;x");
        assert_eq!(
            &*exact_params.path(b"/users/;x/delete").unwrap(),
            b"/users/;x/delete"
        );
        let exact_case = Lenience {
            ignore_case: false,
            ..Lenience::default()
        };
        assert_eq!(
            &*exact_case.path(b"/adm%C4%B1n").unwrap(),
            "/adm\u{131}n".as_bytes()
        );
    }

    #[test]
    fn literals_are_read_like_paths() {
        let lenience = Lenience::default();
        assert_eq!(lenience.literal("a%3Ab"), Ok(vec![Box::from(&b"a:b"[..])]));
        assert_eq!(
            lenience.literal("adm%C4%B1n"),
            Ok(vec![Box::from(&b"admin"[..])])
        );
        assert_eq!(lenience.literal("..."), Err(Ambiguous));
    }

    #[test]
    fn authorities_drop_user_information_and_escapes() {
        let read = |a: &str| authority(a.as_bytes()).into_owned();
        assert_eq!(read("user@admin.example.org"), "admin.example.org");
        assert_eq!(read("%61dmin.example.org:8443"), "admin.example.org:8443");
        assert_eq!(read("a@b@admin.example.org"), "admin.example.org");
        assert_eq!(read("evil%40admin.example.org"), "admin.example.org");
        assert_eq!(read("admin.example.org:%FF"), "admin.example.org:");
    }
}
