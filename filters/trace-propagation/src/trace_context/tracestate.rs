//! The W3C `tracestate` header: an ordered list of vendor `key=value` entries, as
//! [Trace Context Level 2](https://www.w3.org/TR/trace-context-2/) §3.3 defines it.
//!
//! Parse it only after `traceparent` was parsed successfully (see the [module
//! rules](super#rules-for-callers)).
//!
//! A received header is valid or invalid as a whole. It is valid when (section numbers of
//! Level 2):
//!
//! - all its fields (header lines), in order, form one list, as if joined with `,` (§3.3.2,
//!   RFC 9110 §5.3);
//! - each member is `key=value`; empty and whitespace-only members are allowed and ignored,
//!   and spaces and tabs around a member are not part of it (§3.3.2, §3.3.2.1);
//! - each key is a lowercase letter or a digit, then up to 255 of `a-z`, `0-9`, `_`, `-`,
//!   `*`, `/` and `@`: 256 characters at most, `@` being an ordinary key character
//!   (§3.3.2.2.1; Level 1's `tenant@system` form, with its own limits, is gone);
//! - each value is 1 to 256 characters of `0x20`-`0x7E` other than `,` and `=`, not ending
//!   with a space: leading spaces are part of the value, trailing ones are optional
//!   whitespace around the member (§3.3.2.2.2);
//! - no key appears twice (§3.3.3);
//! - there are at most [`MAX_ENTRIES`] (32) members, counted over every field; empty members
//!   do not count (§3.3.2).
//!
//! An invalid header is refused whole, never in part: §4.1.2 lets a vendor either discard
//! the entire header or drop the invalid entries, and this module always discards (as the
//! strict level of the W3C test suite expects). [`TraceState::parse`] returns an error;
//! [`validate`] checks a header without allocating; [`is_canonical`] tells a value that can
//! be sent on exactly as received. All three are one pass over the bytes.
//!
//! There is no length limit besides the 32 entries, so more than the 512 characters the
//! specification asks for (§3.3.3.1) are always propagated; [`TraceState::truncate_to`]
//! applies the specification's truncation order when a caller wants a size cap.

use std::fmt;

use super::chars::{class, skip, skip_ows, DIGIT, KEY_CHAR, LCALPHA, TRACESTATE_VALUE};

/// The header name.
pub const TRACESTATE: &str = "tracestate";

/// The maximum number of entries (§3.3.2).
pub const MAX_ENTRIES: usize = 32;

/// The maximum length of a key (§3.3.2.2.1).
pub const MAX_KEY_LEN: usize = 256;

/// The maximum length of a value (§3.3.2.2.2).
pub const MAX_VALUE_LEN: usize = 256;

/// Entries longer than this (as `key=value`) are the first dropped when truncating.
const LONG_ENTRY: usize = 128;

/// An ordered, validated `tracestate` list (at most [`MAX_ENTRIES`], unique keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceState {
    entries: Vec<Entry>,
}

/// One `key=value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
}

impl Entry {
    /// Length of `key=value`.
    fn len(&self) -> usize {
        self.key.len() + 1 + self.value.len()
    }
}

/// Why a `tracestate` header or entry is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceStateError {
    /// A key is not a lowercase letter or a digit followed by up to 255 of `a-z`, `0-9`, `_`,
    /// `-`, `*`, `/` and `@`, or a member has no `=` right after its key (§3.3.2.2.1).
    InvalidKey,
    /// A value is empty, longer than 256 characters, has a character outside `0x20`-`0x7E`
    /// or a `,` or `=`, or (given alone) ends with a space (§3.3.2.2.2).
    InvalidValue,
    /// A key appears more than once (§3.3.3).
    RepeatedKey,
    /// More than [`MAX_ENTRIES`] members, over all the fields (§3.3.2).
    TooManyEntries,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => "invalid tracestate key",
            Self::InvalidValue => "invalid tracestate value",
            Self::RepeatedKey => "repeated tracestate key",
            Self::TooManyEntries => "more than 32 tracestate entries",
        })
    }
}

impl std::error::Error for TraceStateError {}

impl TraceState {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses all the values (fields) of the `tracestate` header, in order, as one list, by
    /// the rules of the [module docs](self); an invalid header is refused whole. Headers
    /// with no member (absent, empty or whitespace-only) give an empty list.
    ///
    /// Nothing is allocated when the header is invalid.
    pub fn parse(values: &[&[u8]]) -> Result<Self, TraceStateError> {
        let mut entries = Vec::with_capacity(validate(values)?);
        scan(values, &mut |key, value| {
            entries.push(Entry {
                key: ascii(key),
                value: ascii(value),
            });
        })?;
        Ok(Self { entries })
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// Sets `key` to `value` as the first entry, removing any existing entry for `key`
    /// (§3.5: an added or updated entry goes to the left). If the list then has more than
    /// [`MAX_ENTRIES`], the right-most entry is removed (§3.3.2).
    pub fn put_front(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if scan_key(key.as_bytes(), 0) != Some(key.len()) {
            return Err(TraceStateError::InvalidKey);
        }
        if scan_value(value.as_bytes(), 0) != Some(value.len()) {
            return Err(TraceStateError::InvalidValue);
        }
        self.remove(key);
        let entry = Entry {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ENTRIES);
        Ok(())
    }

    /// Removes the entry for `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.remove(index).value)
    }

    /// Drops whole entries until [`TraceState::header_len`] is at most `max_len`: entries
    /// longer than 128 characters first, from the end, then entries from the end
    /// (§3.3.3.1). The specification asks to propagate at least 512 characters, so
    /// `max_len` should be 512 or more.
    pub fn truncate_to(&mut self, max_len: usize) {
        while self.header_len() > max_len {
            let long = self
                .entries
                .iter()
                .rposition(|entry| entry.len() > LONG_ENTRY);
            let Some(index) = long.or(self.entries.len().checked_sub(1)) else {
                break;
            };
            self.entries.remove(index);
        }
    }

    /// The header value: entries in order, joined with `,`. Empty when the list is empty
    /// (the caller should then not send the header).
    pub fn to_header(&self) -> String {
        let mut out = String::with_capacity(self.header_len());
        for (index, entry) in self.entries.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&entry.key);
            out.push('=');
            out.push_str(&entry.value);
        }
        out
    }

    /// Length in bytes of [`TraceState::to_header`].
    pub fn header_len(&self) -> usize {
        let entries: usize = self.entries.iter().map(Entry::len).sum();
        entries + self.entries.len().saturating_sub(1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order, as `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|entry| (entry.key.as_str(), entry.value.as_str()))
    }
}

/// Checks all the values (fields) of a `tracestate` header as one list, by the rules of the
/// [module docs](self), without allocating: the number of entries, or why the header is
/// invalid.
pub fn validate(values: &[&[u8]]) -> Result<usize, TraceStateError> {
    scan(values, &mut |_, _| {}).map(|(entries, _)| entries)
}

/// Whether one received `tracestate` value is a valid, non-empty list that
/// [`TraceState::parse`] keeps exactly as it is, so that it can be forwarded without being
/// parsed into a list: valid, with no empty member and no space or tab around members. One
/// pass over the bytes, without allocating.
pub fn is_canonical(value: &[u8]) -> bool {
    scan(&[value], &mut |_, _| {}).is_ok_and(|(_, canonical)| canonical)
}

/// Checks `values` as one list, calling `entry` with the key and value of each member in
/// order: the number of members, and whether the list is a single value with no empty
/// member and no optional whitespace (what [`TraceState::to_header`] would write).
fn scan<'v>(
    values: &[&'v [u8]],
    entry: &mut dyn FnMut(&'v [u8], &'v [u8]),
) -> Result<(usize, bool), TraceStateError> {
    // The keys so far, to find repeats: at most 31 comparisons for each member. The first
    // is apart, so that the usual one-member list does not pay for setting up the array.
    let mut first_key: &[u8] = &[];
    let mut other_keys: Option<[Option<&[u8]>; MAX_ENTRIES - 1]> = None;
    let mut count = 0;
    let mut canonical = values.len() == 1;
    for &line in values {
        let mut at = 0;
        loop {
            let start = skip_ows(line, at);
            let end = if matches!(line.get(start), None | Some(b',')) {
                // An empty or whitespace-only member.
                canonical = false;
                start
            } else {
                let (key_end, value_end, end) = scan_member(line, start)?;
                let key = line.get(start..key_end).unwrap_or_default();
                if count == 0 {
                    first_key = key;
                } else {
                    let others = other_keys.get_or_insert([None; MAX_ENTRIES - 1]);
                    let seen = others.get(..count - 1).unwrap_or_default();
                    if key == first_key || seen.contains(&Some(key)) {
                        return Err(TraceStateError::RepeatedKey);
                    }
                    *others
                        .get_mut(count - 1)
                        .ok_or(TraceStateError::TooManyEntries)? = Some(key);
                }
                count += 1;
                canonical &= start == at && value_end == end;
                entry(key, line.get(key_end + 1..value_end).unwrap_or_default());
                end
            };
            if end >= line.len() {
                break;
            }
            // `end` is a `,`.
            at = end + 1;
        }
    }
    Ok((count, canonical))
}

/// Reads the member `key=value` at `start` of `line` (a byte that is not optional
/// whitespace nor `,`): where its key ends, where its value ends (trailing spaces
/// excluded), and where the whitespace after it ends, at a `,` or at the end of `line`.
fn scan_member(line: &[u8], start: usize) -> Result<(usize, usize, usize), TraceStateError> {
    let key_end = scan_key(line, start).ok_or(TraceStateError::InvalidKey)?;
    if line.get(key_end) != Some(&b'=') {
        return Err(TraceStateError::InvalidKey);
    }
    let value_end = scan_value(line, key_end + 1).ok_or(TraceStateError::InvalidValue)?;
    let end = skip_ows(line, value_end);
    if !matches!(line.get(end), None | Some(b',')) {
        return Err(TraceStateError::InvalidValue);
    }
    Ok((key_end, value_end, end))
}

/// Reads a key at `start` of `bytes`, `( lcalpha / DIGIT ) 0*255( keychar )`: where it ends,
/// or `None` when there is none or it is longer than [`MAX_KEY_LEN`].
fn scan_key(bytes: &[u8], start: usize) -> Option<usize> {
    let first = class(*bytes.get(start)?);
    let end = skip(bytes, start + 1, KEY_CHAR);
    (first & (LCALPHA | DIGIT) != 0 && end - start <= MAX_KEY_LEN).then_some(end)
}

/// Reads a value at `start` of `bytes`, `0*255( chr ) nblk-chr`: where it ends, trailing
/// spaces excluded, or `None` when it is empty or longer than [`MAX_VALUE_LEN`].
fn scan_value(bytes: &[u8], start: usize) -> Option<usize> {
    let scanned = skip(bytes, start, TRACESTATE_VALUE);
    let value = bytes.get(start..scanned)?;
    let len = value.iter().rposition(|b| *b != b' ')? + 1;
    (len <= MAX_VALUE_LEN).then_some(start + len)
}

/// `bytes`, checked to be ASCII, as a string.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    //! One test (at least) per rule, named after the section of W3C Trace Context Level 2
    //! (<https://www.w3.org/TR/trace-context-2/>) that states it.

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::TraceStateError::{InvalidKey, InvalidValue, RepeatedKey, TooManyEntries};
    use super::*;

    fn parse(values: &[&str]) -> Result<TraceState, TraceStateError> {
        let bytes: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        let parsed = TraceState::parse(&bytes);
        assert_eq!(
            validate(&bytes),
            parsed.as_ref().map(TraceState::len).map_err(|e| *e),
            "validate and parse agree on {values:?}"
        );
        parsed
    }

    /// The header sent on for `values`, or why they are refused.
    fn header(values: &[&str]) -> Result<String, TraceStateError> {
        parse(values).map(|state| state.to_header())
    }

    fn keys(state: &TraceState) -> Vec<&str> {
        state.iter().map(|(key, _)| key).collect()
    }

    /// `k0=v0` to `k{n-1}=v{n-1}`.
    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i}=v{i}")).collect()
    }

    // §3.3.2: "When receiving multiple tracestate header fields, they MUST be combined into
    // a single header according to RFC9110" (fields in order, joined with `,`).
    #[test]
    fn s3_3_2_all_fields_form_one_list_in_order() {
        let fields = ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"];
        assert_eq!(
            header(&fields),
            Ok("foo=1,bar=2,rojo=1,congo=2,baz=3".to_owned())
        );
        assert_eq!(
            header(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]),
            Ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned())
        );
        let state = parse(&["congo=t61rcWkgMzE"]).unwrap();
        assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(state.get("absent"), None);
        assert_eq!(state.header_len(), state.to_header().len());
    }

    // §3.3.2: "There can be a maximum of 32 list-members in a list", the list being every
    // field combined.
    #[test]
    fn s3_3_2_at_most_32_members_counted_over_every_field() {
        let m = members(33);
        let two_fields_32 = [m[..16].join(","), m[16..32].join(",")];
        let state = parse(&[&two_fields_32[0], &two_fields_32[1]]).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.to_header(), m[..32].join(","));

        let two_fields_33 = [m[..16].join(","), m[16..].join(",")];
        assert_eq!(
            parse(&[&two_fields_33[0], &two_fields_33[1]]),
            Err(TooManyEntries)
        );
        assert_eq!(parse(&[&m.join(",")]), Err(TooManyEntries));
        let one_per_field: Vec<&str> = m.iter().map(String::as_str).collect();
        assert_eq!(parse(&one_per_field[..32]).map(|s| s.len()), Ok(32));
        assert_eq!(parse(&one_per_field), Err(TooManyEntries));
    }

    // §3.3.2: "Empty and whitespace-only list members are allowed. Vendors MUST accept empty
    // tracestate headers"; §3.3.2.1: `list-member = (key "=" value) / OWS`. They are
    // ignored, and do not count towards the 32.
    #[test]
    fn s3_3_2_empty_members_and_empty_fields_are_accepted_and_ignored() {
        assert_eq!(header(&[]), Ok(String::new()));
        assert_eq!(header(&[""]), Ok(String::new()));
        assert_eq!(header(&[" ", "\t", ",", " , \t ,,"]), Ok(String::new()));
        assert_eq!(header(&["", "foo=1", ""]), Ok("foo=1".to_owned()));
        assert_eq!(header(&[",foo=1,,bar=2,"]), Ok("foo=1,bar=2".to_owned()));

        let with_empties = format!(" ,{}, ,\t,", members(32).join(",,"));
        assert_eq!(parse(&[&with_empties, "", " "]).map(|s| s.len()), Ok(32));
    }

    // §3.3.2: "Spaces and horizontal tabs surrounding list-members are ignored" (`OWS` of
    // RFC 9110 §5.6.3); nothing else is whitespace, and there is none around the `=`.
    #[test]
    fn s3_3_2_spaces_and_tabs_around_members_are_ignored() {
        for value in [
            "foo=1 \t , \t bar=2",
            "foo=1\t \t,\t \tbar=2",
            " foo=1,bar=2",
            "\tfoo=1,bar=2",
            "foo=1,bar=2 ",
            "foo=1,bar=2\t",
            "\t foo=1 , bar=2 \t",
        ] {
            assert_eq!(header(&[value]), Ok("foo=1,bar=2".to_owned()), "{value:?}");
        }
        assert_eq!(parse(&["foo =1"]), Err(InvalidKey));
        assert_eq!(parse(&["foo\t=1"]), Err(InvalidKey));
        assert_eq!(parse(&["foo= 1"]).unwrap().get("foo"), Some(" 1"));
        assert_eq!(parse(&["foo=\t1"]), Err(InvalidValue));
        assert_eq!(parse(&["\rfoo=1"]), Err(InvalidKey));
        assert_eq!(parse(&["foo=1\n"]), Err(InvalidValue));
        assert_eq!(parse(&["foo=1\r\n,bar=2"]), Err(InvalidValue));
    }

    // §3.3.2.2.1: `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`,
    // `keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"`.
    #[test]
    fn s3_3_2_2_1_key_characters() {
        let every_keychar = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@";
        for key in ["a", "0", "9lives", "foo_bar-baz*qux/x@y", every_keychar] {
            let member = format!("{key}=1");
            assert_eq!(keys(&parse(&[&member]).unwrap()), [key]);
        }
        for member in [
            "Foo=1",
            "fOo=1",
            "FOO=1",
            "_a=1",
            "-a=1",
            "*a=1",
            "/a=1",
            "@a=1",
            "foo.bar=1",
            "foo bar=1",
            "foo:bar=1",
            "=1",
            "=",
            "foo",
            "foo;bar",
            "caf\u{e9}=1",
        ] {
            assert_eq!(parse(&[member]), Err(InvalidKey), "{member:?}");
        }
    }

    // §3.3.2.2.1: "A key ... contain[s] up to 256 characters".
    #[test]
    fn s3_3_2_2_1_keys_have_at_most_256_characters() {
        for first in ["z", "9"] {
            let key_256 = format!("{first}{}", "z".repeat(255));
            let key_257 = format!("{first}{}", "z".repeat(256));
            let state = parse(&["foo=1", &format!("{key_256}=1")]).unwrap();
            assert_eq!(keys(&state), ["foo", key_256.as_str()]);
            assert_eq!(parse(&["foo=1", &format!("{key_257}=1")]), Err(InvalidKey));
        }
    }

    // §3.3.2.2.1: in Level 2, `@` is one of the key characters, anywhere but first, and
    // only the 256 characters of the whole key limit it. Level 1's `tenant-id "@"
    // system-id` form (tenant at most 241 characters, system at most 14, one `@`) no longer
    // applies (w3c/trace-context#386; its test suite followed in #584).
    #[test]
    fn s3_3_2_2_1_at_sign_is_an_ordinary_key_character() {
        let tenant_241_system_14 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let tenant_242 = format!("{}@v", "t".repeat(242));
        let system_15 = format!("t@{}", "v".repeat(15));
        let digit_first_tenant = "1tenant@system";
        for key in [
            "fw529a3039@dt",
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            digit_first_tenant,
            &tenant_241_system_14,
            &tenant_242,
            &system_15,
        ] {
            let member = format!("{key}=1");
            assert_eq!(keys(&parse(&[&member]).unwrap()), [key], "{key}");
        }
        let tenant_241_system_15 = format!("{}@{}=1", "t".repeat(241), "v".repeat(15));
        assert_eq!(tenant_241_system_15.len() - 2, 257);
        assert_eq!(parse(&[&tenant_241_system_15]), Err(InvalidKey));
        assert_eq!(parse(&["@foo=1,bar=2"]), Err(InvalidKey));
    }

    // §3.3.2.2.2: `value = 0*255(chr) nblk-chr`, `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`,
    // `chr = %x20 / nblk-chr`: printable ASCII but `,` and `=`.
    #[test]
    fn s3_3_2_2_2_value_characters() {
        let every_chr: String = (0x20u8..=0x7e)
            .filter(|b| *b != b',' && *b != b'=')
            .map(char::from)
            .collect();
        let member = format!("foo={every_chr}");
        assert_eq!(
            parse(&[&member]).unwrap().get("foo"),
            Some(every_chr.as_str())
        );
        for member in [
            "foo=bar=baz",
            "foo==",
            "foo=",
            "foo= ",
            "foo=   ",
            "foo=a\tb",
            "foo=a\x01",
            "foo=\x7f",
            "foo=caf\u{e9}",
        ] {
            assert_eq!(parse(&[member]), Err(InvalidValue), "{member:?}");
        }
        assert_eq!(TraceState::parse(&[b"foo=\xff"]), Err(InvalidValue));
        // A `,` always separates members: `b` is a member without `=`.
        assert_eq!(parse(&["foo=a,b"]), Err(InvalidKey));
    }

    // §3.3.2.2.2: "up to 256 printable ASCII characters ... must end with a character which
    // is not a space"; "All leading spaces MUST be preserved as part of the value. All
    // trailing spaces are considered to be optional whitespace characters not part of the
    // value".
    #[test]
    fn s3_3_2_2_2_values_have_1_to_256_characters_leading_spaces_included() {
        let value_256 = "v".repeat(256);
        let value_257 = "v".repeat(257);
        let spaced_256 = format!(" {}", "v".repeat(255));
        let spaced_257 = format!(" {value_256}");
        let state = parse(&[&format!("a={value_256}"), &format!("b={spaced_256}")]).unwrap();
        assert_eq!(state.get("a"), Some(value_256.as_str()));
        assert_eq!(state.get("b"), Some(spaced_256.as_str()));
        assert_eq!(parse(&[&format!("a={value_257}")]), Err(InvalidValue));
        assert_eq!(parse(&[&format!("a={spaced_257}")]), Err(InvalidValue));

        let trailing = format!("a={value_256}   ,b=  x  ");
        let state = parse(&[&trailing]).unwrap();
        assert_eq!(state.get("a"), Some(value_256.as_str()));
        assert_eq!(state.get("b"), Some("  x"));
        assert_eq!(state.to_header(), format!("a={value_256},b=  x"));
    }

    // §3.3.3: "Only one entry per key is allowed"; a header with a repeated key is invalid
    // (the strict level of the W3C test suite expects it discarded).
    #[test]
    fn s3_3_3_a_repeated_key_makes_the_header_invalid() {
        let late_repeat = format!("{},k30=again", members(31).join(","));
        for fields in [
            &["foo=1,foo=1"][..],
            &["foo=1,foo=2"],
            &["foo=1", "foo=1"],
            &["foo=1", "foo=2"],
            &["a=1,b=2,c=3", " b=4"],
            &[&late_repeat],
        ] {
            assert_eq!(parse(fields), Err(RepeatedKey), "{fields:?}");
        }
        let alike = parse(&["foo=1,foo@x=2,fo=3,foo0=4,foo/=5"]).unwrap();
        assert_eq!(keys(&alike), ["foo", "foo@x", "fo", "foo0", "foo/"]);
    }

    // §4.1.2 step 3: "If the tracestate header cannot be parsed the vendor MAY discard the
    // entire header." Here it always is: no valid member of an invalid header is kept,
    // whichever field the invalid one is in.
    #[test]
    fn s4_1_2_one_invalid_member_refuses_the_whole_header() {
        for (bad, error) in [
            ("Bad=2", InvalidKey),
            ("no-value", InvalidKey),
            ("x=", InvalidValue),
            ("x=a=b", InvalidValue),
            ("x=a\tb", InvalidValue),
            ("ok=3", RepeatedKey),
        ] {
            let one_field = format!("ok=1,{bad},later=2");
            assert_eq!(parse(&[&one_field]), Err(error), "{bad}");
            assert_eq!(parse(&["ok=1", bad, "later=2"]), Err(error), "{bad}");
            assert_eq!(parse(&[bad, "ok=1"]), Err(error), "{bad}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn s4_1_2_checking_and_refusing_allocate_nothing() {
        use wasmesh_testing::count_allocations;
        let spaced_32 = members(32).join(" , ");
        let too_many: [&[u8]; 2] = [b"a=1", spaced_32.as_bytes()];
        let bad_last: [&[u8]; 3] = [b"a=1", b"b=2", b"Bad=1"];
        let ((validated, parsed, canonical), allocations) = count_allocations(|| {
            (
                validate(&too_many),
                TraceState::parse(&bad_last),
                is_canonical(b"shop=t61rcWkgMzE"),
            )
        });
        assert_eq!(validated, Err(TooManyEntries));
        assert_eq!(parsed, Err(InvalidKey));
        assert!(canonical);
        assert_eq!(allocations, 0);
    }

    // §3.5: "Modified keys MUST be moved to the beginning (left) of the list"; "The new
    // key/value pair SHOULD be added to the beginning of the list".
    #[test]
    fn s3_5_put_front_adds_replaces_and_moves_to_the_front() {
        let mut state = parse(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]).unwrap();
        state.put_front("congo", "ucfJifl5GOE").unwrap();
        assert_eq!(state.to_header(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
        state.put_front("new@vendor", "1").unwrap();
        assert_eq!(keys(&state), ["new@vendor", "congo", "rojo"]);
        for (key, value, error) in [
            ("Bad", "1", InvalidKey),
            ("", "1", InvalidKey),
            ("@a", "1", InvalidKey),
            ("ok", "a,b", InvalidValue),
            ("ok", "a=b", InvalidValue),
            ("ok", "trailing ", InvalidValue),
            ("ok", "", InvalidValue),
        ] {
            assert_eq!(state.put_front(key, value), Err(error), "{key}={value}");
        }
        assert_eq!(state.len(), 3, "refused entries change nothing");
        assert_eq!(state.remove("rojo"), Some("00f067aa0ba902b7".to_owned()));
        assert_eq!(state.remove("rojo"), None);
        assert_eq!(state.to_header(), "new@vendor=1,congo=ucfJifl5GOE");
    }

    // §3.3.2: "If adding an entry would cause the tracestate list to contain more than 32
    // list-members the right-most list-member should be removed from the list."
    #[test]
    fn s3_3_2_put_front_on_a_full_list_removes_the_right_most_entry() {
        let mut m = members(31);
        m.insert(3, format!("long={}", "x".repeat(200)));
        let mut state = parse(&[&m.join(",")]).unwrap();
        assert_eq!(state.len(), 32);
        state.put_front("mine", "1").unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.iter().next(), Some(("mine", "1")));
        assert_eq!(state.get("k30"), None, "the right-most goes");
        assert!(state.get("long").is_some(), "whatever its length");
        assert_eq!(state.get("k29"), Some("v29"));
    }

    // §3.3.3.1: "the vendor MUST truncate whole entries. Entries larger than 128 characters
    // long SHOULD be removed first. Then entries SHOULD be removed starting from the end".
    #[test]
    fn s3_3_3_1_truncate_to_drops_long_entries_first_then_from_the_end() {
        let long = format!("long={}", "v".repeat(200));
        let mut state = parse(&[&format!("a=1,{long},b=2,c=3")]).unwrap();
        state.truncate_to(512);
        assert_eq!(state.len(), 4, "fits already");
        state.truncate_to(100);
        assert_eq!(state.to_header(), "a=1,b=2,c=3");
        state.truncate_to(7);
        assert_eq!(state.to_header(), "a=1,b=2");
        state.truncate_to(0);
        assert!(state.is_empty());
    }

    // §3.3.3.1: "Vendors SHOULD propagate at least 512 characters of a combined header".
    #[test]
    fn s3_3_3_1_more_than_512_characters_are_kept() {
        let header_32: Vec<String> = (0..32)
            .map(|i| format!("key{i}={}", "v".repeat(256)))
            .collect();
        let header_32 = header_32.join(",");
        assert!(header_32.len() > 8000);
        assert_eq!(header(&[&header_32]), Ok(header_32.clone()));
        assert!(is_canonical(header_32.as_bytes()));
    }

    #[test]
    fn is_canonical_exactly_when_parse_keeps_the_value() {
        let m = |n: usize| members(n).join(",");
        let key_256 = format!("a{}=1", "b".repeat(255));
        let key_257 = format!("a{}=1", "b".repeat(256));
        let value_256 = format!("a={}", "v".repeat(256));
        let value_257 = format!("a={}", "v".repeat(257));
        let values = [
            "shop=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "h= leading space kept,i=~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}",
            "fw529a3039@dt=x,t@1sys=1,a@b@c=1,9=1",
            "",
            " ",
            ",",
            "a=1,a=2",
            "a=1, b=2",
            "a=1 ,b=2",
            " a=1",
            "a=1\t",
            "a=1 ",
            "a=1,",
            ",a=1",
            "a=1,,b=2",
            "Foo=1",
            "a=",
            "a=x=y",
            "a=caf\u{e9}",
            "@a=1",
            &m(32),
            &m(33),
            &key_256,
            &key_257,
            &value_256,
            &value_257,
        ];
        for value in values {
            let kept = parse(&[value]).map(|state| state.to_header());
            let unchanged = !value.is_empty() && kept.as_deref() == Ok(value);
            assert_eq!(is_canonical(value.as_bytes()), unchanged, "{value:?}");
        }
        assert!(is_canonical(m(32).as_bytes()));
        assert!(!is_canonical(b"a=\xff"));
    }
}
