//! How the most lenient application behind a sidecar reads a request path, written
//! independently of the filters so that tests can hold them to it.
//!
//! Frameworks and servers differ in how loosely they read a path, and each loosening can
//! be there or not: the path percent-decoded up to twice, `\` taken as `/`, a segment's
//! `;params` dropped, trailing dots and spaces of a segment dropped (IIS), dot segments
//! resolved (RFC 3986 §5.2.4) or kept as names. [`is_below`] tries every combination; in
//! each, the query is dropped, overlong UTF-8 is taken for the character it spells, empty
//! segments are merged and case is ignored as Unicode-aware comparisons ignore it (each
//! character compared by the lowercase of its uppercase, so `ı`, `ſ` and the Kelvin sign
//! are `i`, `s` and `k`).

use percent_encoding::percent_decode;

/// One way of reading a path loosely; [`Reading::ALL`] holds every combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// How many times the path is percent-decoded (0 to 2).
    pub decodes: u8,
    /// `\` is a separator.
    pub backslash: bool,
    /// A segment's `;params` are dropped.
    pub params: bool,
    /// A segment's trailing dots and spaces are dropped (IIS).
    pub trim: bool,
    /// Dot segments are resolved (else `.` and `..` are names like any other).
    pub resolve: bool,
}

impl Reading {
    /// The most lenient reading: every loosening at once.
    pub const MOST_LENIENT: Reading = Reading {
        decodes: 2,
        backslash: true,
        params: true,
        trim: true,
        resolve: true,
    };

    /// Every combination of the loosenings.
    pub fn all() -> Vec<Reading> {
        let mut all = Vec::new();
        for decodes in 0..=2 {
            for flags in 0..16u8 {
                all.push(Reading {
                    decodes,
                    backslash: flags & 1 != 0,
                    params: flags & 2 != 0,
                    trim: flags & 4 != 0,
                    resolve: flags & 8 != 0,
                });
            }
        }
        all
    }
}

/// The segments of `target` (a request target as sent or as received) as the most
/// lenient application reads them.
pub fn segments(target: &str) -> Vec<String> {
    read(target, Reading::MOST_LENIENT)
}

/// The segments of `target` as an application reading it by `reading` sees them, case
/// folded; empty segments merged.
pub fn read(target: &str, reading: Reading) -> Vec<String> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..reading.decodes {
        bytes = percent_decode(&bytes).collect();
    }
    let mut text = decode_utf8_leniently(&bytes);
    if reading.backslash {
        text = text.replace('\\', "/");
    }
    let mut resolved: Vec<String> = Vec::new();
    for segment in text.split('/') {
        let mut name = segment;
        if reading.params {
            name = name.split(';').next().unwrap_or_default();
        }
        if reading.trim {
            let trimmed = name.trim_end_matches(['.', ' ']);
            name = match trimmed {
                "" if name.starts_with("..") => "..",
                "" if name.starts_with('.') => ".",
                _ => trimmed,
            };
        }
        match name {
            "" => {}
            "." if reading.resolve => {}
            ".." if reading.resolve => {
                resolved.pop();
            }
            _ => resolved.push(name.chars().map(fold_case).collect()),
        }
    }
    resolved
}

/// Bytes as UTF-8, where two- and three-byte overlong forms (`C0 AE` for `.`) spell
/// their character, as old decoders had it; other invalid bytes are U+FFFD.
fn decode_utf8_leniently(bytes: &[u8]) -> String {
    let continuation = |byte: u8| u32::from(byte & 0x3F);
    let mut text = String::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (spelled, used) = match *rest {
            [first @ 0xC0..=0xC1, second @ 0x80..=0xBF, ..] => {
                (u32::from(first & 0x1F) << 6 | continuation(second), 2)
            }
            [0xE0, second @ 0x80..=0x9F, third @ 0x80..=0xBF, ..] => {
                (continuation(second) << 6 | continuation(third), 3)
            }
            _ => {
                let valid = match std::str::from_utf8(rest) {
                    Ok(all) => all,
                    Err(error) => rest
                        .get(..error.valid_up_to())
                        .and_then(|valid| std::str::from_utf8(valid).ok())
                        .unwrap_or_default(),
                };
                match valid.chars().next() {
                    Some(c) => (u32::from(c), c.len_utf8()),
                    None => (0xFFFD, 1),
                }
            }
        };
        text.push(char::from_u32(spelled).unwrap_or('\u{FFFD}'));
        rest = rest.get(used..).unwrap_or_default();
    }
    text
}

/// Whether some application serves `target` from below `denied` (a path such as
/// `/admin`): whether any [`Reading`] of `target` starts with the segments of `denied`,
/// compared ignoring case as [`read`] does.
pub fn is_below(target: &str, denied: &str) -> bool {
    let denied = segments(denied);
    Reading::all().into_iter().any(|reading| {
        let read = read(target, reading);
        read.len() >= denied.len() && read.iter().zip(&denied).all(|(a, b)| a == b)
    })
}

/// A character compared ignoring case: the lowercase of its uppercase, where each is a
/// single character (`İ`, whose lowercase is two, is `i`).
pub fn fold_case(c: char) -> char {
    let upper = single(c.to_uppercase()).unwrap_or(c);
    match single(upper.to_lowercase()) {
        Some(lower) => lower,
        None if upper == '\u{130}' => 'i',
        None => upper,
    }
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// The non-ASCII characters that [`fold_case`] reads as the ASCII letter `letter`.
pub fn ascii_look_alikes(letter: char) -> Vec<char> {
    let letter = fold_case(letter);
    (0x80..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|&c| fold_case(c) == letter)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_loosening_at_once() {
        for (target, read) in [
            ("/admin", vec!["admin"]),
            ("/ADMIN/Users?x=/", vec!["admin", "users"]),
            ("/x/..%2fadmin", vec!["admin"]),
            ("/x/%252e%252e/admin", vec!["admin"]),
            ("/admin;x/y", vec!["admin", "y"]),
            ("/admin%3Bx", vec!["admin"]),
            ("/x\\..\\admin", vec!["admin"]),
            ("//admin//", vec!["admin"]),
            ("/admin./ ", vec!["admin"]),
            ("/adm%C4%B1n", vec!["admin"]),
            ("/x/..%20/admin", vec!["admin"]),
            ("/x/%C0%AE%C0%AE/admin", vec!["admin"]),
            ("/x/..%E0%80%AFadmin", vec!["admin"]),
            ("/x/..%C1%9Cadmin", vec!["admin"]),
            ("/%FFadmin", vec!["\u{FFFD}admin"]),
        ] {
            assert_eq!(segments(target), read, "{target}");
        }
        assert!(is_below("/Admin/x", "/admin"));
        assert!(!is_below("/administrator", "/admin"));
        // Below for an application that keeps `...` as a name, not for one that trims it.
        assert!(is_below("/admin/...", "/admin"));
        assert!(is_below("/x/..%3Bx/admin/...", "/admin"));
        assert_eq!(segments("/admin/..."), Vec::<String>::new());
    }

    #[test]
    fn look_alikes_come_from_the_unicode_tables() {
        assert!(ascii_look_alikes('i').contains(&'\u{131}'));
        assert!(ascii_look_alikes('k').contains(&'\u{212A}'));
        assert!(ascii_look_alikes('s').contains(&'\u{17F}'));
        assert!(ascii_look_alikes('a').is_empty());
    }
}
