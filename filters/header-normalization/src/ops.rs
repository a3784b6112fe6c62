//! Turning per-header decisions into the few host calls that apply them.
//!
//! Each header field of the request gets a [`Fate`]: kept, dropped, or replaced (new name
//! and/or value). For every name a fate touches, the values the request has are compared
//! with the values it should have; only names that differ produce calls. A name that
//! ends with one value where it had at most one (or a pseudo-header) is set in place;
//! otherwise every value is removed and the survivors added back in order, the one way to
//! leave a name with several values in a given order.

use std::borrow::Cow;
use wasmesh_sdk::{HeaderEdit, HeaderMap};

use crate::names::is_pseudo;

/// What happens to one header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate<'a> {
    /// Removed from the request.
    Drop,
    /// Replaced by this name and value.
    Replace {
        /// The name the field ends with (lowercase for renamed fields).
        name: &'a [u8],
        /// The value the field ends with.
        value: Cow<'a, [u8]>,
    },
}

/// The calls that turn `headers` into the request the fates describe. `fates` holds
/// (index of the field in `headers`, fate) for every field not kept as is.
pub fn header_ops<'a>(headers: &'a HeaderMap, fates: &[(usize, Fate<'a>)]) -> Vec<HeaderEdit<'a>> {
    let fate_of = |index: usize| {
        fates
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, fate)| fate)
    };
    let output: Vec<(&'a [u8], Cow<'a, [u8]>)> = headers
        .iter()
        .enumerate()
        .filter_map(|(index, (name, value))| match fate_of(index) {
            None => Some((name, Cow::Borrowed(value))),
            Some(Fate::Drop) => None,
            Some(Fate::Replace { name, value }) => Some((*name, value.clone())),
        })
        .collect();

    let mut touched: Vec<&'a [u8]> = Vec::new();
    let mut touch = |name: &'a [u8]| {
        if !touched.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            touched.push(name);
        }
    };
    for (index, fate) in fates {
        if let Some((name, _)) = headers.iter().nth(*index) {
            touch(name);
        }
        if let Fate::Replace { name, .. } = fate {
            touch(name);
        }
    }

    let mut ops = Vec::new();
    for name in touched {
        let Ok(text) = std::str::from_utf8(name) else {
            continue;
        };
        let before: Vec<&[u8]> = headers
            .iter()
            .filter(|(other, _)| other.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .collect();
        let after: Vec<&Cow<'a, [u8]>> = output
            .iter()
            .filter(|(other, _)| other.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .collect();
        let unchanged = before.len() == after.len()
            && before.iter().zip(&after).all(|(old, new)| **old == ***new);
        if unchanged {
            continue;
        }
        match after.as_slice() {
            [] => ops.push(HeaderEdit::Remove(text)),
            [only] if before.len() <= 1 || is_pseudo(name) => {
                ops.push(HeaderEdit::Set(text, (*only).clone()));
            }
            values => {
                ops.push(HeaderEdit::Remove(text));
                ops.extend(
                    values
                        .iter()
                        .map(|value| HeaderEdit::Add(text, (*value).clone())),
                );
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    fn replace<'a>(name: &'a str, value: &'a str) -> Fate<'a> {
        Fate::Replace {
            name: name.as_bytes(),
            value: Cow::Borrowed(value.as_bytes()),
        }
    }

    #[test]
    fn nothing_to_do_without_fates() {
        let headers = map(&[(":path", "/"), ("a", "1")]);
        assert!(header_ops(&headers, &[]).is_empty());
    }

    #[test]
    fn a_single_value_is_set_in_place() {
        let headers = map(&[(":path", "/a/../b"), ("a", " 1 ")]);
        let ops = header_ops(
            &headers,
            &[(0, replace(":path", "/b")), (1, replace("a", "1"))],
        );
        assert_eq!(
            ops,
            vec![
                HeaderEdit::Set(":path", Cow::Borrowed(&b"/b"[..])),
                HeaderEdit::Set("a", Cow::Borrowed(&b"1"[..])),
            ]
        );
    }

    #[test]
    fn dropping_one_of_repeated_values_removes_then_adds_the_rest() {
        let headers = map(&[("x", "1"), ("x", "2"), ("x", "3")]);
        let ops = header_ops(&headers, &[(1, Fate::Drop)]);
        assert_eq!(
            ops,
            vec![
                HeaderEdit::Remove("x"),
                HeaderEdit::Add("x", Cow::Borrowed(&b"1"[..])),
                HeaderEdit::Add("x", Cow::Borrowed(&b"3"[..])),
            ]
        );
        let ops = header_ops(&headers, &[(1, Fate::Drop), (2, Fate::Drop)]);
        assert_eq!(
            ops,
            vec![
                HeaderEdit::Remove("x"),
                HeaderEdit::Add("x", Cow::Borrowed(&b"1"[..])),
            ]
        );
    }

    #[test]
    fn renaming_removes_the_old_name_and_sets_the_new() {
        let headers = map(&[("x_user", "bob")]);
        let ops = header_ops(&headers, &[(0, replace("x-user", "bob"))]);
        assert_eq!(
            ops,
            vec![
                HeaderEdit::Remove("x_user"),
                HeaderEdit::Set("x-user", Cow::Borrowed(&b"bob"[..])),
            ]
        );
    }

    #[test]
    fn a_repeated_pseudo_header_is_set() {
        let headers = map(&[(":authority", "a"), (":authority", "b")]);
        let ops = header_ops(&headers, &[(1, Fate::Drop)]);
        assert_eq!(
            ops,
            vec![HeaderEdit::Set(":authority", Cow::Borrowed(&b"a"[..]))]
        );
    }

    #[test]
    fn a_replacement_equal_to_the_original_changes_nothing() {
        let headers = map(&[("a", "1")]);
        assert!(header_ops(&headers, &[(0, replace("a", "1"))]).is_empty());
    }
}
