//! Header names: syntax checks and the compiled name sets the rules look names up in.

/// The RFC 9110 `tchar` bytes from `first` to `first + 63`, as a bit set (bit `b - first`
/// for byte `b`).
const fn tchar_bits(first: u8) -> u64 {
    let mut set = 0u64;
    let mut bit = 0u8;
    while bit < 64 {
        let byte = first + bit;
        if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            )
        {
            set |= 1 << bit;
        }
        bit += 1;
    }
    set
}

/// [`tchar_bits`] for bytes 0 to 63 and 64 to 127 (every `tchar` is ASCII).
const TCHARS_LOW: u64 = tchar_bits(0);
const TCHARS_HIGH: u64 = tchar_bits(64);

/// RFC 9110 `tchar`: the characters of a token (header names, methods).
#[inline(always)]
pub fn is_tchar(byte: u8) -> bool {
    match byte {
        0..=63 => (TCHARS_LOW >> byte) & 1 != 0,
        64..=127 => (TCHARS_HIGH >> (byte - 64)) & 1 != 0,
        _ => false,
    }
}

/// Whether `bytes` is a non-empty RFC 9110 token.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| is_tchar(byte))
}

/// Whether `name` equals `lower`, ASCII case-insensitively, where `lower` holds no
/// uppercase letter (a configured or built-in name).
#[inline(always)]
pub fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && same_lowercase(name, lower)
}

/// [`eq_lowercase`] for names of the same length.
fn same_lowercase(name: &[u8], lower: &[u8]) -> bool {
    name.iter()
        .zip(lower)
        .all(|(&byte, &expected)| byte.to_ascii_lowercase() == expected)
}

/// Whether `a` equals `b`, ASCII case-insensitively (`<[u8]>::eq_ignore_ascii_case`,
/// with the length compared first so that most mismatches cost one comparison).
#[inline(always)]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// Whether `name` is a valid header name: a token, or `:` followed by a token for a
/// pseudo-header.
#[cfg(test)]
pub fn is_valid_name(name: &[u8]) -> bool {
    underscore_in_name(name).is_some()
}

/// `None` when `name` is not a valid header name (a token, or `:` followed by a token);
/// otherwise whether it has `_`.
pub fn underscore_in_name(name: &[u8]) -> Option<bool> {
    let token = name.strip_prefix(b":").unwrap_or(name);
    // Nearly every name is lowercase letters, digits and `-`: eight bytes at a time (the
    // last word overlapping the one before it), byte by byte otherwise.
    if all_words(token, is_plain_word) {
        return Some(false);
    }
    let mut underscore = false;
    for &byte in token {
        if !is_tchar(byte) {
            return None;
        }
        underscore |= byte == b'_';
    }
    (!token.is_empty()).then_some(underscore)
}

/// Whether `test` holds for every eight bytes of `bytes` (the last word overlapping the
/// one before it); `false` when `bytes` is shorter than eight.
fn all_words(bytes: &[u8], test: fn(&[u8; 8]) -> bool) -> bool {
    let Some((_, last)) = bytes.split_last_chunk::<8>() else {
        return false;
    };
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        if !test(word) {
            return false;
        }
        rest = tail;
    }
    test(last)
}

/// Whether each byte of `word` is a lowercase letter, a digit or `-`.
fn is_plain_word(word: &[u8; 8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(*word);
    // For bytes below 0x80, `byte + (0x80 - low)` has its high bit set when `byte >= low`
    // and `byte + (0x7F - high)` when `byte > high`; no sum carries into the next byte.
    let within = |low: u8, high: u8| {
        let at_least_low = word.wrapping_add(ONES * u64::from(0x80 - low));
        let above_high = word.wrapping_add(ONES * u64::from(0x7F - high));
        at_least_low & !above_high
    };
    let plain = within(b'a', b'z') | within(b'0', b'9') | within(b'-', b'-');
    word & HIGH_BITS == 0 && plain & HIGH_BITS == HIGH_BITS
}

/// Whether `name` is a pseudo-header (`:path`, `:authority`, ...).
pub fn is_pseudo(name: &[u8]) -> bool {
    name.first() == Some(&b':')
}

/// Whether a header value holds a control character other than horizontal tab
/// (RFC 9110 §5.5: NUL, CR and LF are never allowed, other controls are invalid).
pub fn has_control(value: &[u8]) -> bool {
    // Eight bytes at a time when no word may hold one; byte by byte otherwise.
    !all_words(value, has_no_control_word)
        && value
            .iter()
            .any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7F)
}

/// Whether no byte of `word` is below 0x20 (tab included) or equal to 0x7F.
fn has_no_control_word(word: &[u8; 8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(*word);
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let del = word ^ (ONES * 0x7F);
    let is_del = del.wrapping_sub(ONES) & !del;
    (below_space | is_del) & HIGH_BITS == 0
}

pub use wasmesh_sdk::headers::trim_ows;

/// Whether `name` is a hop-by-hop header of RFC 9110 §7.6.1 (besides those `connection`
/// names): `connection`, `keep-alive`, `proxy-connection`, `te`, `transfer-encoding`,
/// `upgrade` (ASCII case-insensitive).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    let same = |hop: &[u8]| same_lowercase(name, hop);
    match name.len() {
        2 => same(b"te"),
        7 => same(b"upgrade"),
        10 => same(b"connection") || same(b"keep-alive"),
        16 => same(b"proxy-connection"),
        17 => same(b"transfer-encoding"),
        _ => false,
    }
}

/// The comma-separated tokens of a list header such as `connection`, trimmed, empty
/// elements skipped.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(trim_ows)
        .filter(|token| !token.is_empty())
}

/// A set of header names, each an exact name or a prefix (written with a trailing `*`),
/// held lowercase; lookups are ASCII case-insensitive and do not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    exact: Vec<Box<str>>,
    prefixes: Vec<Box<str>>,
    /// Bit `n` (`n` < 63) set when an exact name has `n` bytes, bit 63 for longer
    /// names: with [`NameSet::exact_first_bytes`], most names are ruled out without a
    /// comparison.
    exact_lengths: u64,
    /// The [`first_byte_bit`]s of the exact names.
    exact_first_bytes: u64,
    /// The [`first_byte_bit`]s of the prefixes.
    prefix_first_bytes: u64,
}

/// The bit of [`NameSet::exact_lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Bit `b % 64` for the lowercased first byte `b` of `name`; none for an empty name.
fn first_byte_bit(name: &[u8]) -> u64 {
    name.first()
        .map_or(0, |byte| 1 << (byte.to_ascii_lowercase() % 64))
}

impl NameSet {
    /// Adds `entry` (`x-user`, or `x-envoy-*` for every name starting with `x-envoy-`),
    /// or says why it is not a header name or prefix. `*` is allowed only at the end.
    pub fn insert_pattern(&mut self, entry: &str) -> Result<(), String> {
        let lower = entry.to_ascii_lowercase();
        match lower.strip_suffix('*') {
            Some(prefix) => {
                if !is_token(prefix.as_bytes()) || prefix.contains('*') {
                    return Err(format!(
                        "`{entry}` is not a header name prefix (a token followed by `*`)"
                    ));
                }
                self.prefix_first_bytes |= first_byte_bit(prefix.as_bytes());
                self.prefixes.push(prefix.into());
                Ok(())
            }
            None if lower.contains('*') => Err(format!(
                "`{entry}` has `*` other than as a final prefix wildcard"
            )),
            None => self.insert_exact(entry),
        }
    }

    /// Adds the exact name `name`, or says why it is not a header name.
    pub fn insert_exact(&mut self, name: &str) -> Result<(), String> {
        check_name(name)?;
        self.exact_lengths |= length_bit(name.len());
        self.exact_first_bytes |= first_byte_bit(name.as_bytes());
        self.exact.push(name.to_ascii_lowercase().into());
        Ok(())
    }

    /// Whether `name` is in the set.
    #[inline]
    pub fn contains(&self, name: &[u8]) -> bool {
        let first = first_byte_bit(name);
        (self.exact_lengths & length_bit(name.len()) != 0
            && self.exact_first_bytes & first != 0
            && self.contains_exact(name))
            || (self.prefix_first_bytes & first != 0 && self.contains_prefix_of(name))
    }

    fn contains_exact(&self, name: &[u8]) -> bool {
        self.exact
            .iter()
            .any(|exact| eq_lowercase(name, exact.as_bytes()))
    }

    fn contains_prefix_of(&self, name: &[u8]) -> bool {
        self.prefixes.iter().any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| same_lowercase(head, prefix.as_bytes()))
        })
    }
}

/// Checks that `name` can be configured as a header name: a token (pseudo-headers are
/// not configurable).
pub fn check_name(name: &str) -> Result<(), String> {
    if is_token(name.as_bytes()) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a header name (an RFC 9110 token)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tokens_and_names() {
        assert!(is_valid_name(b"x-user"));
        assert!(is_valid_name(b":authority"));
        assert!(is_valid_name(b"X_Odd~Name"));
        for bad in [
            &b""[..],
            b":",
            b"a b",
            b"a:b",
            b"::path",
            b"a\0",
            b"caf\xc3\xa9",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn plain_words_are_lowercase_letters_digits_and_dashes_only() {
        for base in [*b"abcdefgh", *b"x-0-9-zz", *b"--------"] {
            for position in 0..8 {
                for byte in 0..=255u8 {
                    let mut word = base;
                    word[position] = byte;
                    let plain = word
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
                    assert_eq!(is_plain_word(&word), plain, "{word:?}");
                }
            }
        }
    }

    #[test]
    fn long_names_are_checked_at_every_position() {
        for len in [8, 13, 20] {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut name = b"x-forwarded-for-test".to_vec();
                    name.truncate(len);
                    name[position] = byte;
                    let token = name.strip_prefix(b":").unwrap_or(&name);
                    let expected = is_token(token).then(|| token.contains(&b'_'));
                    assert_eq!(underscore_in_name(&name), expected, "{name:?}");
                }
            }
        }
    }

    #[test]
    fn controls_are_found_in_long_values_at_every_position() {
        for len in [8, 11, 16, 21] {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut value = b"Bearer abc.def ghi-jkl".to_vec();
                    value.truncate(len);
                    value[position] = byte;
                    let control = (byte < 0x20 && byte != b'\t') || byte == 0x7F;
                    assert_eq!(has_control(&value), control, "{value:?}");
                }
            }
        }
    }

    #[test]
    fn controls_except_tab_are_found() {
        assert!(!has_control(b"a\tb \xff"));
        for bad in [&b"a\0"[..], b"a\r", b"\n", b"\x7f", b"\x1b["] {
            assert!(has_control(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_tokens_are_trimmed() {
        let tokens: Vec<&[u8]> = list_tokens(b" close ,, X-Foo,\tupgrade ").collect();
        assert_eq!(tokens, vec![&b"close"[..], b"X-Foo", b"upgrade"]);
    }

    #[test]
    fn name_sets_match_exact_names_and_prefixes_in_any_case() {
        let mut set = NameSet::default();
        assert!(!set.contains(b"x-envoy-internal"));
        set.insert_pattern("X-Envoy-*").unwrap();
        set.insert_pattern("x-forwarded-client-cert").unwrap();
        assert!(set.contains(b"x-envoy-internal"));
        assert!(set.contains(b"X-ENVOY-"));
        assert!(set.contains(b"X-Forwarded-Client-Cert"));
        assert!(!set.contains(b"x-envoy"));
        assert!(!set.contains(b"x-forwarded-client-certs"));
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut set = NameSet::default();
        for bad in ["", "*", "x y", "x-*-*", ":path", "a*b"] {
            assert!(set.insert_pattern(bad).is_err(), "{bad}");
        }
        // `*` is a token character: an exact name may hold one.
        assert!(set.insert_exact("x-*").is_ok());
        assert!(set.insert_exact("x y").is_err());
    }

    #[test]
    fn hop_by_hop_names() {
        assert!(is_hop_by_hop(b"Transfer-Encoding"));
        assert!(is_hop_by_hop(b"te"));
        assert!(!is_hop_by_hop(b"trailer"));
    }
}
