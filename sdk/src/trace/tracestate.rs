//! The W3C `tracestate` header: an ordered list of vendor `key=value` entries.
//!
//! Parse it only after `traceparent` was parsed successfully (see the [module
//! rules](super#rules-for-callers)).
//!
//! Parsing is lenient, entry by entry, so that one bad vendor entry does not cost the others:
//!
//! - all header values are combined as if joined with `,`;
//! - empty and whitespace-only members are skipped, and spaces and tabs around members are
//!   ignored;
//! - a member whose key or value is invalid is dropped;
//! - when a key appears more than once, the first entry is kept;
//! - beyond 32 entries, whole entries are dropped: those longer than 128 characters first
//!   (from the end), then from the end.
//!
//! Keys are either simple (`lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`) or
//! multi-tenant (`tenant@system`, tenant `(lcalpha / DIGIT)` then up to 240 key characters,
//! system `lcalpha` then up to 13). Values are 1 to 256 printable ASCII characters
//! (`0x20`-`0x7E`) other than `,` and `=`, not ending with a space.
//!
//! There is no length limit besides the 32 entries, so more than the 512 characters the
//! specification asks for are always propagated; [`TraceState::truncate_to`] applies the
//! specification's truncation order when a caller wants a size cap.

use std::collections::BTreeSet;
use std::fmt;

use super::chars::{class, skip, DIGIT, KEY_CHAR, LCALPHA, TRACESTATE_VALUE};
use super::trim_ows;

/// The header name.
pub const TRACESTATE: &str = "tracestate";

/// The maximum number of entries.
pub const MAX_ENTRIES: usize = 32;

/// While parsing, up to this many distinct keys are checked for repeats one by one; beyond,
/// with a set.
const LINEAR_KEY_LOOKUP: usize = 16;

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

/// Why [`TraceState::put_front`] refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceStateError {
    /// The key is neither a valid simple key nor a valid `tenant@system` key.
    InvalidKey,
    /// The value is empty, longer than 256 characters, has a character outside printable
    /// ASCII or a `,` or `=`, or ends with a space.
    InvalidValue,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => "invalid tracestate key",
            Self::InvalidValue => "invalid tracestate value",
        })
    }
}

impl std::error::Error for TraceStateError {}

impl TraceState {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses all the values of the `tracestate` header, leniently (see the module docs).
    ///
    /// Cost grows as n log n in the number of members, so very long headers stay cheap.
    pub fn parse(values: &[&[u8]]) -> Self {
        // Every distinct key so far is in `members`: a few are looked up there, more in a
        // set (filled once `members` has `LINEAR_KEY_LOOKUP` of them).
        let mut seen_keys = BTreeSet::new();
        let mut members: Vec<(&[u8], &[u8])> = Vec::new();
        let split = values.iter().flat_map(|value| value.split(|b| *b == b','));
        for member in split.map(trim_ows).filter(|m| !m.is_empty()) {
            if let Some((key, value)) = split_member(member) {
                let new_key = if members.len() < LINEAR_KEY_LOOKUP {
                    members.iter().all(|(seen, _)| *seen != key)
                } else {
                    if seen_keys.is_empty() {
                        seen_keys.extend(members.iter().map(|(seen, _)| *seen));
                    }
                    seen_keys.insert(key)
                };
                if new_key {
                    members.push((key, value));
                }
            }
        }
        keep_max_entries(&mut members);
        let entries = members
            .into_iter()
            .filter_map(|(key, value)| {
                Some(Entry {
                    key: std::str::from_utf8(key).ok()?.to_owned(),
                    value: std::str::from_utf8(value).ok()?.to_owned(),
                })
            })
            .collect();
        Self { entries }
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// Sets `key` to `value` as the first entry, removing any existing entry for `key`
    /// (the W3C rule for an updated or added entry). If the list then has more than
    /// [`MAX_ENTRIES`], other entries are dropped by the truncation order; the new entry is
    /// always kept.
    pub fn put_front(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if !is_valid_key(key.as_bytes()) {
            return Err(TraceStateError::InvalidKey);
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(TraceStateError::InvalidValue);
        }
        self.remove(key);
        let entry = Entry {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.entries.insert(0, entry);
        self.drop_entries_while(|state| state.len() > MAX_ENTRIES, true);
        Ok(())
    }

    /// Removes the entry for `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.remove(index).value)
    }

    /// Drops whole entries until [`TraceState::header_len`] is at most `max_len`: entries
    /// longer than 128 characters first, from the end, then entries from the end. The
    /// specification asks to propagate at least 512 characters, so `max_len` should be 512
    /// or more.
    pub fn truncate_to(&mut self, max_len: usize) {
        self.drop_entries_while(|state| state.header_len() > max_len, false);
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

    /// Drops entries in truncation order while `too_big` holds: the last entry longer than
    /// 128 characters, else the last entry. With `keep_first`, the first entry is never
    /// dropped.
    fn drop_entries_while(&mut self, too_big: impl Fn(&Self) -> bool, keep_first: bool) {
        let first_droppable = usize::from(keep_first);
        while too_big(self) {
            let candidates = self.entries.get(first_droppable..).unwrap_or_default();
            let long = candidates
                .iter()
                .rposition(|entry| entry.len() > LONG_ENTRY);
            let index = match (long, candidates.len()) {
                (_, 0) => break,
                (Some(index), _) => first_droppable + index,
                (None, len) => first_droppable + len - 1,
            };
            self.entries.remove(index);
        }
    }
}

/// Splits one trimmed, non-empty list member into key and value; `None` when either is
/// invalid.
fn split_member(member: &[u8]) -> Option<(&[u8], &[u8])> {
    let (equals, end) = scan_member(member, 0)?;
    (end == member.len()).then_some((member.get(..equals)?, member.get(equals + 1..)?))
}

/// Keeps at most [`MAX_ENTRIES`] members, in order, dropping whole members in the
/// truncation order: those longer than 128 characters from the end, then the others from
/// the end. Dropping them one by one in that order leaves the first short members and,
/// when there are fewer than [`MAX_ENTRIES`] short ones, the first long ones.
fn keep_max_entries(members: &mut Vec<(&[u8], &[u8])>) {
    let is_long = |(key, value): &(&[u8], &[u8])| key.len() + 1 + value.len() > LONG_ENTRY;
    if members.len() <= MAX_ENTRIES {
        return;
    }
    let short = members.iter().filter(|member| !is_long(member)).count();
    let mut short_left = short.min(MAX_ENTRIES);
    let mut long_left = MAX_ENTRIES - short_left;
    members.retain(|member| {
        let left = if is_long(member) {
            &mut long_left
        } else {
            &mut short_left
        };
        let keep = *left > 0;
        *left = left.saturating_sub(1);
        keep
    });
}

/// Whether one received `tracestate` value is a non-empty list that [`TraceState::parse`]
/// keeps exactly as it is, so that it can be forwarded without being parsed into a list:
/// every member valid, none empty or with spaces around it, no key repeated, at most
/// [`MAX_ENTRIES`] members. One pass over the bytes, without allocating.
pub fn is_canonical(value: &[u8]) -> bool {
    // Where each key seen so far starts and ends, to find repeats.
    let mut keys = [(0u16, 0u16); MAX_ENTRIES];
    let mut count = 0;
    let mut start = 0;
    loop {
        let Some((equals, end)) = scan_member(value, start) else {
            return false;
        };
        let key = value.get(start..equals).unwrap_or_default();
        let seen = keys.get(..count).unwrap_or_default();
        let key_at = |(from, to): &(u16, u16)| value.get(usize::from(*from)..usize::from(*to));
        if seen.iter().any(|range| key_at(range) == Some(key)) {
            return false;
        }
        let (Some(slot), Ok(from), Ok(to)) = (
            keys.get_mut(count),
            u16::try_from(start),
            u16::try_from(equals),
        ) else {
            // More than `MAX_ENTRIES` members: some are dropped. (A list of valid members
            // is far shorter than `u16::MAX`.)
            return false;
        };
        *slot = (from, to);
        count += 1;
        if end == value.len() {
            return true;
        }
        // `end` is a `,`.
        start = end + 1;
    }
}

/// Reads the member `key=value` at `start` of `bytes`, which ends at a `,` or at the end:
/// the position of its `=` and of its end, or `None` when the key or the value is invalid.
fn scan_member(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let equals = scan_key(bytes, start)?;
    if bytes.get(equals) != Some(&b'=') {
        return None;
    }
    let end = scan_value(bytes, equals + 1)?;
    matches!(bytes.get(end), None | Some(b',')).then_some((equals, end))
}

/// Reads a simple key (`lcalpha` then up to 255 key characters) or a multi-tenant
/// `tenant@system` key (tenant: `lcalpha` or digit then up to 240 key characters; system:
/// `lcalpha` then up to 13) at `start` of `bytes`: where it ends, or `None` when invalid.
fn scan_key(bytes: &[u8], start: usize) -> Option<usize> {
    let first = class(*bytes.get(start)?);
    let end = skip(bytes, start + 1, KEY_CHAR);
    if bytes.get(end) != Some(&b'@') {
        return (first & LCALPHA != 0 && end - start <= 256).then_some(end);
    }
    if first & (LCALPHA | DIGIT) == 0 || end - start > 241 {
        return None;
    }
    let system = end + 1;
    if class(*bytes.get(system)?) & LCALPHA == 0 {
        return None;
    }
    let end = skip(bytes, system + 1, KEY_CHAR);
    (end - system <= 14).then_some(end)
}

/// Reads a value (1 to 256 characters of `0x20`-`0x7E` except `,` and `=`, not ending with
/// a space) at `start` of `bytes`: where it ends, or `None` when invalid.
fn scan_value(bytes: &[u8], start: usize) -> Option<usize> {
    let end = skip(bytes, start, TRACESTATE_VALUE);
    let valid = (1..=256).contains(&(end - start)) && bytes.get(end - 1) != Some(&b' ');
    valid.then_some(end)
}

/// A simple key or a multi-tenant `tenant@system` key.
fn is_valid_key(key: &[u8]) -> bool {
    scan_key(key, 0) == Some(key.len())
}

/// 1 to 256 characters of `0x20`-`0x7E` except `,` and `=`, not ending with a space.
fn is_valid_value(value: &[u8]) -> bool {
    scan_value(value, 0) == Some(value.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn parse(values: &[&str]) -> TraceState {
        let bytes: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        TraceState::parse(&bytes)
    }

    fn keys(state: &TraceState) -> Vec<&str> {
        state.iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn parses_and_formats_in_order() {
        let state = parse(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]);
        assert_eq!(state.len(), 2);
        assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(state.get("absent"), None);
        assert_eq!(state.to_header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(state.header_len(), state.to_header().len());
    }

    #[test]
    fn repeated_fields_are_combined_in_order() {
        let state = parse(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]);
        assert_eq!(state.to_header(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    }

    #[test]
    fn empty_and_whitespace_members_are_skipped_and_ows_trimmed() {
        let state = parse(&["", " , foo=1 ,\t,", "  ", ",bar=2\t"]);
        assert_eq!(state.to_header(), "foo=1,bar=2");
        assert!(parse(&[]).is_empty());
        assert_eq!(parse(&[""]).to_header(), "");
    }

    #[test]
    fn thirty_three_members_over_several_fields_keep_thirty_two() {
        let members: Vec<String> = (0..33).map(|i| format!("k{i}=v{i}")).collect();
        let fields = [
            members[..10].join(","),
            members[10..20].join(","),
            members[20..].join(","),
        ];
        let state = parse(&[&fields[0], &fields[1], &fields[2]]);
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("k0"), Some("v0"));
        assert_eq!(state.get("k31"), Some("v31"));
        assert_eq!(state.get("k32"), None, "the last member is dropped");
    }

    #[test]
    fn long_members_are_dropped_first_when_over_the_limit() {
        let long_value = "x".repeat(130);
        let mut members: Vec<String> = (0..31).map(|i| format!("k{i}=v{i}")).collect();
        members.insert(3, format!("long1={long_value}"));
        members.insert(10, format!("long2={long_value}"));
        let state = parse(&[&members.join(",")]);
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("long2"), None, "the last long member goes first");
        assert!(state.get("long1").is_some());
        assert_eq!(state.get("k30"), Some("v30"), "short members are kept");

        // 35 members: both long ones go, then the last short one.
        members.push("k31=v31".to_owned());
        members.push("k32=v32".to_owned());
        let state = parse(&[&members.join(",")]);
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("long1"), None);
        assert_eq!(state.get("long2"), None);
        assert_eq!(state.get("k31"), Some("v31"));
        assert_eq!(state.get("k32"), None);
    }

    #[test]
    fn parse_truncation_matches_dropping_one_entry_at_a_time() {
        // A fixed pseudo-random mix of short and long members, 20 to 60 of them.
        let mut next = crate::trace::tests::xorshift32(0x2545_f491);
        for _ in 0..50 {
            let count = 20 + next() % 41;
            let members: Vec<String> = (0..count)
                .map(|i| {
                    let len = if next().is_multiple_of(3) { 130 } else { 5 };
                    format!("k{i}={}", "v".repeat(len))
                })
                .collect();
            let header = members.join(",");
            let parsed = parse(&[&header]);

            let mut one_by_one = TraceState {
                entries: members
                    .iter()
                    .map(|m| {
                        let (key, value) = m.split_once('=').unwrap();
                        Entry {
                            key: key.to_owned(),
                            value: value.to_owned(),
                        }
                    })
                    .collect(),
            };
            one_by_one.drop_entries_while(|state| state.len() > MAX_ENTRIES, false);
            assert_eq!(parsed, one_by_one, "{header}");
        }
    }

    #[test]
    fn thousands_of_members_are_handled() {
        let members: Vec<String> = (0..5000).map(|i| format!("k{i}=v,k{i}=dup")).collect();
        let state = parse(&[&members.join(",")]);
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("k31"), Some("v"));
    }

    #[test]
    fn duplicate_keys_keep_the_first() {
        let state = parse(&["foo=1,bar=2", "foo=3"]);
        assert_eq!(state.to_header(), "foo=1,bar=2");
    }

    #[test]
    fn duplicate_keys_keep_the_first_beyond_the_few_checked_one_by_one() {
        let members: Vec<String> = (0..LINEAR_KEY_LOOKUP + 5)
            .map(|i| format!("k{i}=a"))
            .collect();
        let repeats = ["k0=b", "k15=b", "k16=b", "k20=b", "new=1", "new=2"];
        let header = format!("{},{}", members.join(","), repeats.join(","));
        let state = parse(&[&header]);
        assert_eq!(state.len(), LINEAR_KEY_LOOKUP + 6);
        assert!(state
            .iter()
            .filter(|(key, _)| *key != "new")
            .all(|(_, v)| v == "a"));
        assert_eq!(state.get("new"), Some("1"));
    }

    #[test]
    fn invalid_keys_are_dropped() {
        let long_simple = format!("a{}=1", "b".repeat(256));
        let longest_simple = format!("a{}=1", "b".repeat(255));
        let state = parse(&[
            "Foo=1,1abc=1,_a=1,a b=1,=1,novalue,a%b=1,a@=1,@b=1,a@b@c=1",
            &long_simple,
            &longest_simple,
            "ok-_*/9=1",
        ]);
        assert_eq!(keys(&state), [&longest_simple[..256], "ok-_*/9"]);
    }

    #[test]
    fn multi_tenant_keys_follow_the_tenant_and_system_limits() {
        let tenant_ok = format!("1{}@dt=1", "t".repeat(240));
        let tenant_long = format!("1{}@dt=1", "t".repeat(241));
        let system_ok = format!("tenant@s{}=1", "y".repeat(13));
        let system_long = format!("tenant@s{}=1", "y".repeat(14));
        let state = parse(&[
            &tenant_ok,
            &tenant_long,
            &system_ok,
            &system_long,
            "fw529a3039@dt=x,t@1sys=1,t@Sys=1,_t@sys=1",
        ]);
        assert_eq!(
            keys(&state),
            [&tenant_ok[..244], &system_ok[..21], "fw529a3039@dt"]
        );
    }

    #[test]
    fn invalid_values_are_dropped() {
        let longest = format!("a={}", "v".repeat(256));
        let too_long = format!("b={}", "v".repeat(257));
        let state = parse(&[
            "c=,d=x=y,e=tab\there,f=caf\u{e9},g=ctl\x01",
            &longest,
            &too_long,
            "h= leading space kept,i=~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}",
        ]);
        assert_eq!(keys(&state), ["a", "h", "i"]);
        assert_eq!(state.get("h"), Some(" leading space kept"));
    }

    #[test]
    fn trailing_spaces_are_optional_whitespace_and_non_utf8_is_dropped() {
        let state = TraceState::parse(&[b"a=1  ,b=\xc3\xa9,c=\xff,d=2"]);
        assert_eq!(state.to_header(), "a=1,d=2");
    }

    #[test]
    fn more_than_512_characters_are_propagated() {
        let members: Vec<String> = (0..20)
            .map(|i| format!("key{i}={}", "v".repeat(100)))
            .collect();
        let header = members.join(",");
        assert!(header.len() > 2000);
        assert_eq!(parse(&[&header]).to_header(), header);
    }

    #[test]
    fn truncate_to_drops_long_entries_first_then_from_the_end() {
        let long = format!("long={}", "v".repeat(200));
        let header = format!("a=1,{long},b=2,c=3");
        let mut state = parse(&[&header]);
        state.truncate_to(512);
        assert_eq!(state.len(), 4, "fits already");
        state.truncate_to(100);
        assert_eq!(state.to_header(), "a=1,b=2,c=3");
        state.truncate_to(7);
        assert_eq!(state.to_header(), "a=1,b=2");
        state.truncate_to(0);
        assert!(state.is_empty());
    }

    #[test]
    fn put_front_adds_replaces_and_moves_to_the_front() {
        let mut state = parse(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]);
        state.put_front("congo", "ucfJifl5GOE").unwrap();
        assert_eq!(state.to_header(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
        state.put_front("new@vendor", "1").unwrap();
        assert_eq!(keys(&state), ["new@vendor", "congo", "rojo"]);
        assert_eq!(
            state.put_front("Bad", "1"),
            Err(TraceStateError::InvalidKey)
        );
        assert_eq!(
            state.put_front("ok", "a,b"),
            Err(TraceStateError::InvalidValue)
        );
        assert_eq!(
            state.put_front("ok", "trailing "),
            Err(TraceStateError::InvalidValue)
        );
        assert_eq!(
            state.put_front("ok", ""),
            Err(TraceStateError::InvalidValue)
        );
        assert_eq!(state.len(), 3, "refused entries change nothing");
    }

    #[test]
    fn put_front_on_a_full_list_keeps_the_new_entry() {
        let members: Vec<String> = (0..32).map(|i| format!("k{i}=v{i}")).collect();
        let mut state = parse(&[&members.join(",")]);
        state.put_front("mine", "x".repeat(200).as_str()).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(
            state.iter().next(),
            Some(("mine", "x".repeat(200).as_str()))
        );
        assert_eq!(state.get("k31"), None);
        assert_eq!(state.get("k30"), Some("v30"));
    }

    #[test]
    fn remove_returns_the_value() {
        let mut state = parse(&["a=1,b=2"]);
        assert_eq!(state.remove("a"), Some("1".to_owned()));
        assert_eq!(state.remove("a"), None);
        assert_eq!(state.to_header(), "b=2");
    }

    #[test]
    fn is_canonical_exactly_when_parse_keeps_the_value() {
        let members = |n: usize| (0..n).map(|i| format!("k{i}=v")).collect::<Vec<_>>();
        let exactly_32 = members(32).join(",");
        let over_32 = members(33).join(",");
        let repeat_late = format!("{},k3=w", members(20).join(","));
        let simple_256 = format!("a{}=1", "b".repeat(255));
        let simple_257 = format!("a{}=1", "b".repeat(256));
        let tenant_ok = format!("1{}@dt=1", "t".repeat(240));
        let tenant_long = format!("1{}@dt=1", "t".repeat(241));
        let system_ok = format!("tenant@s{}=1", "y".repeat(13));
        let system_long = format!("tenant@s{}=1", "y".repeat(14));
        let value_256 = format!("a={}", "v".repeat(256));
        let value_257 = format!("a={}", "v".repeat(257));
        let values = [
            "shop=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "h= leading space kept,i=~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}",
            "fw529a3039@dt=x,t@1sys=1",
            "",
            " ",
            "a=1,a=2",
            "a=1, b=2",
            "a=1 ,b=2",
            " a=1",
            "a=1\t",
            "a=1,",
            ",a=1",
            "a=1,,b=2",
            "Foo=1",
            "a=",
            "a=x=y",
            "a=caf\u{e9}",
            "a@b@c=1",
            &exactly_32,
            &over_32,
            &repeat_late,
            &simple_256,
            &simple_257,
            &tenant_ok,
            &tenant_long,
            &system_ok,
            &system_long,
            &value_256,
            &value_257,
        ];
        for value in values {
            let unchanged = !value.is_empty() && parse(&[value]).to_header() == value;
            assert_eq!(is_canonical(value.as_bytes()), unchanged, "{value:?}");
        }
        assert!(is_canonical(exactly_32.as_bytes()));
        assert!(is_canonical(b"shop=t61rcWkgMzE"));
        assert!(!is_canonical(b"a=\xff"));
    }
}
