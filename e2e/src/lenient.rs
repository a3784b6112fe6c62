//! How the most lenient application behind a sidecar reads a request path, written
//! independently of the filters so that tests can hold them to it.
//!
//! Frameworks and servers differ in how loosely they read a path; this reading takes
//! every loosening the tests guard against at once: the query dropped, the path
//! percent-decoded twice, overlong UTF-8 taken for the character it spells, `\` taken
//! as `/`, a segment's `;params` dropped, trailing dots
//! and spaces of a segment dropped (IIS), empty segments merged, dot segments resolved
//! (RFC 3986 §5.2.4), and case ignored as Unicode-aware comparisons ignore it (each
//! character compared by the lowercase of its uppercase, so `ı`, `ſ` and the Kelvin sign
//! are `i`, `s` and `k`).

use percent_encoding::percent_decode;

/// The segments of `target` (a request target as sent or as received) as the lenient
/// application reads them.
pub fn segments(target: &str) -> Vec<String> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let once: Vec<u8> = percent_decode(path.as_bytes()).collect();
    let twice: Vec<u8> = percent_decode(&once).collect();
    let text = decode_utf8_leniently(&twice).replace('\\', "/");
    let mut resolved: Vec<String> = Vec::new();
    for segment in text.split('/') {
        let name = segment.split(';').next().unwrap_or_default();
        let trimmed = name.trim_end_matches(['.', ' ']);
        let name = match trimmed {
            "" if name.starts_with("..") => "..",
            "" if name.starts_with('.') => ".",
            _ => trimmed,
        };
        match name {
            "" | "." => {}
            ".." => {
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

/// Whether the lenient application serves `target` from below `denied` (a path such as
/// `/admin`, compared segment by segment ignoring case as [`segments`] does).
pub fn is_below(target: &str, denied: &str) -> bool {
    let denied = segments(denied);
    let read = segments(target);
    read.len() >= denied.len() && read.iter().zip(&denied).all(|(a, b)| a == b)
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
    }

    #[test]
    fn look_alikes_come_from_the_unicode_tables() {
        assert!(ascii_look_alikes('i').contains(&'\u{131}'));
        assert!(ascii_look_alikes('k').contains(&'\u{212A}'));
        assert!(ascii_look_alikes('s').contains(&'\u{17F}'));
        assert!(ascii_look_alikes('a').is_empty());
    }
}
