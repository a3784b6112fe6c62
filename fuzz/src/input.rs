//! How the targets read several values from one input, and the encoders the property
//! tests use to make such inputs.

/// The values of a header given as lines: none for an empty input, else every line
/// (separated by `\n`), empty ones included.
pub fn lines(data: &[u8]) -> Vec<&[u8]> {
    if data.is_empty() {
        Vec::new()
    } else {
        data.split(|b| *b == b'\n').collect()
    }
}

/// `values` as the lines [`lines`] reads back (as long as no value holds a `\n`).
pub fn join_lines<V: AsRef<[u8]>>(values: &[V]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(value.as_ref());
    }
    out
}

/// The headers of the `b3_multi` target, in the order of its selector byte.
pub const B3_HEADERS: [&str; 6] = [
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
];

/// The `b3_multi` input for these header values: one line per value, its first byte the
/// index of its header in [`B3_HEADERS`].
pub fn b3_lines(headers: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let lines: Vec<Vec<u8>> = headers
        .iter()
        .map(|(header, value)| {
            let mut line = vec![u8::try_from(*header).unwrap_or(0)];
            line.extend_from_slice(value);
            line
        })
        .collect();
    join_lines(&lines)
}

/// The values of each header in [`B3_HEADERS`] from a `b3_multi` input: each line's first
/// byte (modulo 6) names the header, the rest is the value.
pub fn b3_values(data: &[u8]) -> [Vec<&[u8]>; 6] {
    let mut values: [Vec<&[u8]>; 6] = Default::default();
    for line in lines(data) {
        if let Some((&selector, value)) = line.split_first() {
            if let Some(slot) = values.get_mut(usize::from(selector % 6)) {
                slot.push(value);
            }
        }
    }
    values
}
