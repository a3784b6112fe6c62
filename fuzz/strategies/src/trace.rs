//! Trace-context header values: `traceparent`, `tracestate`, `baggage`, `b3` and the
//! `x-b3-*` headers, valid, nearly valid and broken.

use proptest::prelude::*;
use proptest::sample::select;

/// `len` characters drawn from `alphabet`.
fn chars_of(
    alphabet: &'static [u8],
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(select(alphabet), len)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

/// Hex digits for an id of `len` digits: lowercase, uppercase, all zeros, or one digit off.
fn hex_id(len: usize) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        12 => chars_of(b"0123456789abcdef", len..len + 1),
        1 => chars_of(b"0123456789abcdefABCDEF", len..len + 1),
        1 => Just("0".repeat(len)),
        1 => chars_of(b"0123456789abcdefxg", len.saturating_sub(1)..len + 2),
    ]
}

/// Optional whitespace around a value.
fn ows() -> impl Strategy<Value = &'static str> + Clone {
    select(&["", "", "", "", " ", "\t", "  "][..])
}

/// A valid `traceparent`: version `00`, or a higher version with or without more fields.
fn valid_traceparent() -> impl Strategy<Value = Vec<u8>> + Clone {
    let id = |len| {
        chars_of(b"0123456789abcdef", len..len + 1)
            .prop_filter("zero id", |id| id.bytes().any(|b| b != b'0'))
    };
    (
        prop_oneof![4 => Just(("00", "")), 1 => (select(&["01", "cc", "fe"][..]), select(&["", "-", "-more-fields"][..]))],
        id(32),
        id(16),
        select(&["00", "01", "02", "03", "09", "ff"][..]),
        ows(),
        ows(),
    )
        .prop_map(|((version, suffix), trace, parent, flags, before, after)| {
            format!("{before}{version}-{trace}-{parent}-{flags}{suffix}{after}").into_bytes()
        })
}

/// A `traceparent` value: valid ones, and ones around the grammar's edges (version, ids,
/// flags, separators, length).
pub fn traceparent() -> BoxedStrategy<Vec<u8>> {
    let structured = (
        select(&["00", "00", "00", "00", "01", "cc", "fe", "ff", "0A", "0"][..]),
        hex_id(32),
        hex_id(16),
        select(&["00", "01", "01", "02", "03", "09", "ff", "0x", "1"][..]),
        select(&["", "", "", "", "-", "-x", "-extra-fields", "x", "0"][..]),
        select(&["-", "-", "-", "-", "_", ""][..]),
        ows(),
        ows(),
    )
        .prop_map(
            |(version, trace, parent, flags, suffix, separator, before, after)| {
                format!("{before}{version}-{trace}{separator}{parent}-{flags}{suffix}{after}")
                    .into_bytes()
            },
        );
    prop_oneof![
        8 => valid_traceparent(),
        8 => structured,
        1 => crate::regex("[0-9a-f-]{0,60}").prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..60),
    ]
    .boxed()
}

/// A `tracestate` key: simple, multi-tenant, or invalid.
fn tracestate_key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        8 => crate::regex("[a-z][a-z0-9_*/-]{0,10}"),
        3 => crate::regex("[a-z0-9][a-z0-9_*/-]{0,5}@[a-z][a-z0-9_*/-]{0,5}"),
        1 => select(&["A", "_a", "a@", "@a", "a@b@c", "a b", "a@bcdefghijklmnop", "k\u{e9}"][..])
            .prop_map(str::to_owned),
        1 => Just("k".repeat(257)),
    ]
}

/// A `tracestate` value: printable ASCII without `,` and `=`, or an invalid one.
fn tracestate_value() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        8 => crate::regex("[ -+--<>-~]{0,19}[!-+--<>-~]"),
        1 => select(&["", "x ", "a=b", "\u{7f}", "\u{e9}", "a\tb"][..]).prop_map(str::to_owned),
        1 => Just("v".repeat(300)),
    ]
}

/// A `tracestate` value: 0 to 40 members (more than the 32 kept), separated by `,` with
/// optional whitespace and empty members.
pub fn tracestate() -> BoxedStrategy<Vec<u8>> {
    let member = prop_oneof![
        10 => (tracestate_key(), tracestate_value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => select(&["", " ", "a", "=", "a==", ";"][..]).prop_map(str::to_owned),
    ];
    let members = prop::collection::vec((member, ows(), ows()), 0..8);
    // Past the limit of 32 entries now and then.
    let many =
        prop::collection::vec((tracestate_key(), Just(""), Just("")), 30..36).prop_map(|keys| {
            keys.into_iter()
                .map(|(key, before, after)| (format!("{key}=v"), before, after))
                .collect::<Vec<_>>()
        });
    (
        prop_oneof![12 => members, 1 => many],
        select(&[",", ",", ",", ", ", " ,\t"][..]),
    )
        .prop_map(|(members, separator)| {
            members
                .iter()
                .map(|(member, before, after)| format!("{before}{member}{after}"))
                .collect::<Vec<_>>()
                .join(separator)
                .into_bytes()
        })
        .boxed()
}

/// One `baggage` member: `key OWS = OWS value *(; property)`, or an invalid one.
fn baggage_member() -> impl Strategy<Value = String> + Clone {
    let key = crate::regex("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}");
    let value = crate::regex("[!#-+\\--:<-\\[\\]-~]{0,20}");
    let name = crate::regex("[a-z]{1,5}");
    let property = prop_oneof![
        name.clone().prop_map(|k| format!(";{k}")),
        (name, value.clone()).prop_map(|(k, v)| format!("; {k}={v}")),
    ];
    prop_oneof![
        10 => (key, ows(), ows(), value, prop::collection::vec(property, 0..3))
            .prop_map(|(k, before, after, v, properties)| {
                format!("{k}{before}={after}{v}{}", properties.concat())
            }),
        1 => select(&["k=a b", "k=\"q\"", "=v", "k", "k=v;", "k=\u{e9}", "k=v\\", " =", "k==v"][..])
            .prop_map(str::to_owned),
        1 => Just(format!("big={}", "x".repeat(9000))),
    ]
}

/// A `baggage` value: 0 to 70 members (more than the 64 kept), with or without
/// whitespace around them.
pub fn baggage() -> BoxedStrategy<Vec<u8>> {
    let many = prop::collection::vec((crate::regex("[a-z]{1,4}"), Just(""), Just("")), 60..70)
        .prop_map(|keys| {
            keys.into_iter()
                .map(|(key, before, after)| (format!("{key}=v"), before, after))
                .collect::<Vec<_>>()
        });
    let members = prop_oneof![
        12 => prop::collection::vec((baggage_member(), ows(), ows()), 0..10),
        1 => many,
    ];
    let messy = members.prop_map(|members| {
        members
            .iter()
            .map(|(member, before, after)| format!("{before}{member}{after}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    let clean = prop::collection::vec(baggage_member(), 1..8).prop_map(|members| members.join(","));
    prop_oneof![messy, clean]
        .prop_map(String::into_bytes)
        .boxed()
}

/// A B3 sampling state, accepted or not.
fn b3_sampling() -> impl Strategy<Value = &'static str> + Clone {
    select(&["0", "1", "1", "d", "true", "2", "D", ""][..])
}

/// A single `b3` value: `trace-span[-sampling[-parent]]`, a sampling state alone, or
/// something else.
pub fn b3_single() -> BoxedStrategy<Vec<u8>> {
    let trace = prop_oneof![hex_id(32), hex_id(16)];
    let context = (
        trace,
        hex_id(16),
        prop::option::of((b3_sampling(), prop::option::of(hex_id(16)))),
        ows(),
        ows(),
        select(&["", "", "", "", "-", "-x"][..]),
    )
        .prop_map(|(trace, span, rest, before, after, extra)| {
            let mut value = format!("{before}{trace}-{span}");
            if let Some((sampling, parent)) = rest {
                value.push('-');
                value.push_str(sampling);
                if let Some(parent) = parent {
                    value.push('-');
                    value.push_str(&parent);
                }
            }
            value.push_str(extra);
            value.push_str(after);
            value.into_bytes()
        });
    prop_oneof![
        8 => context,
        2 => b3_sampling().prop_map(|s| s.as_bytes().to_vec()),
        1 => crate::regex("[0-9a-fd-]{0,40}").prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
    .boxed()
}

/// The values of the five `x-b3-*` headers, each absent, present once, or repeated.
#[derive(Debug, Clone, Default)]
pub struct B3Multi {
    /// `x-b3-traceid`.
    pub trace_id: Vec<Vec<u8>>,
    /// `x-b3-spanid`.
    pub span_id: Vec<Vec<u8>>,
    /// `x-b3-parentspanid`.
    pub parent_span_id: Vec<Vec<u8>>,
    /// `x-b3-sampled`.
    pub sampled: Vec<Vec<u8>>,
    /// `x-b3-flags`.
    pub flags: Vec<Vec<u8>>,
}

impl B3Multi {
    /// The headers as `(name, value)` pairs.
    pub fn headers(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        [
            ("x-b3-traceid", &self.trace_id),
            ("x-b3-spanid", &self.span_id),
            ("x-b3-parentspanid", &self.parent_span_id),
            ("x-b3-sampled", &self.sampled),
            ("x-b3-flags", &self.flags),
        ]
        .into_iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.as_bytes().to_vec(), value.clone()))
        })
        .collect()
    }
}

/// Zero to two values, one most of the time when present.
fn values(
    value: impl Strategy<Value = Vec<u8>> + Clone + 'static,
) -> impl Strategy<Value = Vec<Vec<u8>>> + Clone {
    prop_oneof![
        4 => Just(Vec::new()),
        8 => value.clone().prop_map(|v| vec![v]),
        1 => prop::collection::vec(value, 2..3),
    ]
}

/// The `x-b3-*` headers: a coherent set (one value each) or any mix.
pub fn b3_multi() -> BoxedStrategy<B3Multi> {
    let id = |len| hex_id(len).prop_map(String::into_bytes);
    let trace = prop_oneof![id(32), id(16)];
    let sampled = select(&["1", "0", "true", "false", "TRUE", "False", "yes", "d", ""][..])
        .prop_map(|s| s.as_bytes().to_vec());
    let flags = select(&["0", "1", "1", "2", "", "01"][..]).prop_map(|s| s.as_bytes().to_vec());
    let any_mix = (
        values(trace.clone()),
        values(id(16)),
        values(id(16)),
        values(sampled),
        values(flags),
    )
        .prop_map(
            |(trace_id, span_id, parent_span_id, sampled, flags)| B3Multi {
                trace_id,
                span_id,
                parent_span_id,
                sampled,
                flags,
            },
        );
    let one = |values: &'static [&'static str]| {
        prop::option::of(select(values).prop_map(|v| vec![v.as_bytes().to_vec()]))
            .prop_map(Option::unwrap_or_default)
    };
    let coherent = (
        trace,
        id(16),
        prop::option::of(id(16)),
        one(&["1", "0", "true", "false"]),
        one(&["0", "1"]),
    )
        .prop_map(|(trace, span, parent, sampled, flags)| B3Multi {
            trace_id: vec![trace],
            span_id: vec![span],
            parent_span_id: parent.into_iter().collect(),
            sampled,
            flags,
        });
    prop_oneof![coherent, any_mix].boxed()
}
