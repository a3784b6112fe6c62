//! ASCII lowercasing of a canonical path.

use std::borrow::Cow;

/// Lowercases the ASCII letters of `path`, leaving the two hex digits after
/// each `%` untouched so escapes keep their uppercase hex. Non-ASCII text only
/// ever appears percent-encoded here, so no Unicode case mapping is involved.
/// The input is returned as is when it has no letter to change.
pub(super) fn lowercase_path(path: Cow<'_, str>) -> Cow<'_, str> {
    if !letters_outside_escapes(&path).any(|byte| byte.is_ascii_uppercase()) {
        return path;
    }
    let mut lowered = path.into_owned().into_bytes();
    let mut escape_digits_left = 0u8;
    for byte in &mut lowered {
        if escape_digits_left > 0 {
            escape_digits_left -= 1;
        } else {
            if *byte == b'%' {
                escape_digits_left = 2;
            }
            byte.make_ascii_lowercase();
        }
    }
    // The path is ASCII, and ASCII stays ASCII.
    Cow::Owned(String::from_utf8(lowered).unwrap_or_default())
}

/// The bytes of `path` that are not among the two characters following a `%`.
fn letters_outside_escapes(path: &str) -> impl Iterator<Item = u8> + '_ {
    let mut escape_digits_left = 0u8;
    path.bytes().filter(move |&byte| {
        if escape_digits_left > 0 {
            escape_digits_left -= 1;
            return false;
        }
        if byte == b'%' {
            escape_digits_left = 2;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn letters_are_lowered_but_escape_hex_is_not() {
        let lowered = lowercase_path(Cow::Borrowed("/ADMIN/%C3%A9/X%2FY%3F"));
        assert_eq!(lowered, "/admin/%C3%A9/x%2Fy%3F");
    }

    #[test]
    fn already_lowercase_is_borrowed() {
        let lowered = lowercase_path(Cow::Borrowed("/admin/%C3%A9/%2F"));
        assert!(matches!(lowered, Cow::Borrowed(_)));
    }
}
