//! The character classes of the trace headers, one table lookup per byte.
//!
//! [`class`] gives a byte's classes as bits; a check is `class(b) & CLASS != 0`. The table
//! (ASCII only: every byte above is in no class) is built at compile time from the grammar
//! of each header.

/// `a`-`z` (`lcalpha`).
pub(crate) const LCALPHA: u8 = 1 << 0;
/// `0`-`9`.
pub(crate) const DIGIT: u8 = 1 << 1;
/// `_`, `-`, `*`, `/`, `@`: the other characters of a `tracestate` key.
pub(crate) const KEY_PUNCT: u8 = 1 << 2;
/// A `tracestate` `keychar` (Trace Context Level 2 §3.3.2.2.1): any character of a key
/// after the first.
pub(crate) const KEY_CHAR: u8 = LCALPHA | DIGIT | KEY_PUNCT;
/// A `tracestate` value character: `0x20`-`0x7E` except `,` and `=`.
pub(crate) const TRACESTATE_VALUE: u8 = 1 << 3;
/// An RFC 7230 `tchar` (a `baggage` key).
pub(crate) const TCHAR: u8 = 1 << 4;
/// A `baggage` value octet: printable US-ASCII except space, `"`, `,`, `;` and `\`.
pub(crate) const BAGGAGE_OCTET: u8 = 1 << 5;
/// Optional whitespace: space and horizontal tab.
pub(crate) const OWS: u8 = 1 << 6;

/// The classes of one byte.
const fn classes_of(b: u8) -> u8 {
    let mut classes = 0;
    if b.is_ascii_lowercase() {
        classes |= LCALPHA;
    }
    if b.is_ascii_digit() {
        classes |= DIGIT;
    }
    if matches!(b, b'_' | b'-' | b'*' | b'/' | b'@') {
        classes |= KEY_PUNCT;
    }
    if matches!(b, 0x20..=0x7e) && b != b',' && b != b'=' {
        classes |= TRACESTATE_VALUE;
    }
    if b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
    {
        classes |= TCHAR;
    }
    if matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
        classes |= BAGGAGE_OCTET;
    }
    if b == b' ' || b == b'\t' {
        classes |= OWS;
    }
    classes
}

/// [`classes_of`] for every ASCII byte (no other byte is in a class).
const fn table() -> [u8; 128] {
    ascii_table!(classes_of)
}

static CLASSES: [u8; 128] = table();

/// The classes of `b`, as bits.
#[inline(always)]
pub(crate) fn class(b: u8) -> u8 {
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// The index of the first byte of `bytes` from `start` that is not in `classes` (or
/// `bytes.len()`); `start` itself when it is out of range.
#[inline(never)]
pub(crate) fn skip(bytes: &[u8], start: usize, classes: u8) -> usize {
    let rest = bytes.get(start..).unwrap_or_default();
    start
        + rest
            .iter()
            .position(|b| class(*b) & classes == 0)
            .unwrap_or(rest.len())
}

/// [`skip`] for [`OWS`], which is usually absent: only a byte of it costs a call.
#[inline(always)]
pub(crate) fn skip_ows(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        Some(b) if class(*b) & OWS != 0 => skip(bytes, start, OWS),
        _ => start,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn classes_follow_the_grammars() {
        for b in 0..=255u8 {
            let has = |classes: u8| class(b) & classes != 0;
            assert_eq!(has(LCALPHA), b.is_ascii_lowercase(), "{b}");
            assert_eq!(has(DIGIT), b.is_ascii_digit(), "{b}");
            assert_eq!(
                has(KEY_CHAR),
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b),
                "{b}"
            );
            assert_eq!(
                has(TRACESTATE_VALUE),
                (0x20..=0x7e).contains(&b) && b != b',' && b != b'=',
                "{b}"
            );
            assert_eq!(
                has(TCHAR),
                b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b),
                "{b}"
            );
            assert_eq!(
                has(BAGGAGE_OCTET),
                (0x21..=0x7e).contains(&b) && !b"\",;\\".contains(&b),
                "{b}"
            );
            assert_eq!(has(OWS), b == b' ' || b == b'\t', "{b}");
        }
    }

    #[test]
    fn skip_stops_at_the_first_byte_outside_the_classes() {
        assert_eq!(skip(b"ab1=", 0, LCALPHA), 2);
        assert_eq!(skip(b"ab1=", 0, KEY_CHAR), 3);
        assert_eq!(skip(b"ab1", 1, KEY_CHAR), 3);
        assert_eq!(skip(b"ab", 5, KEY_CHAR), 5);
        assert_eq!(skip_ows(b"a \t b", 1), 4);
        assert_eq!(skip_ows(b"a \t b", 0), 0);
        assert_eq!(skip_ows(b"a", 3), 3);
    }
}
