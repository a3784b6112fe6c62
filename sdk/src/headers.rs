//! A snapshot of a header map that keeps every value of a repeated header.
//!
//! Envoy's first-value getter hides duplicates, which is how a request carrying two
//! `authorization` or `traceparent` headers slips past a check. Decisions that depend on a
//! header read all of its values from a [`HeaderMap`].

/// Header pairs in order, names as given by the host (lowercase in Envoy), values as bytes.
///
/// The names and values live in one byte buffer (for a map read from the host, the very
/// buffer the host filled, decoded in place), so reading a map costs two allocations
/// whatever its size.
#[derive(Debug, Clone, Default)]
pub struct HeaderMap {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

/// Where one pair's name and value are in [`HeaderMap`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    name: Span,
    value: Span,
}

/// A range of [`HeaderMap`]'s buffer: `start..end`, with `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The bytes of the span, or nothing if it is out of `bytes`.
    #[inline]
    fn of(self, bytes: &[u8]) -> &[u8] {
        bytes.get(self.start..self.end).unwrap_or_default()
    }

    /// Whether the span holds `name`, ASCII case-insensitively (lengths compared first).
    #[inline]
    fn holds_name(self, bytes: &[u8], name: &[u8]) -> bool {
        self.end.wrapping_sub(self.start) == name.len() && eq_ignore_case(self.of(bytes), name)
    }
}

/// `bytes` with the ASCII capitals of each of its 8 bytes made small (SWAR: no branch per
/// byte; bytes from 0x80 are left alone).
fn lowercase_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low = word & (0x7f * ONES);
    let above_z = low + (0x7f - u64::from(b'Z')) * ONES;
    let from_a = low + (0x80 - u64::from(b'A')) * ONES;
    let capitals = from_a & !above_z & !word & (0x80 * ONES);
    word | (capitals >> 2)
}

/// An 8-byte chunk as one word (one load; any other length gives 0, which `chunks_exact(8)`
/// never hands over).
#[inline]
fn word(chunk: &[u8]) -> u64 {
    <&[u8; 8]>::try_from(chunk).map_or(0, |bytes| u64::from_le_bytes(*bytes))
}

/// Whether two byte strings are equal, eight bytes at a time (the `memcmp` a wasm module
/// links compares byte by byte). Metric keys are compared with it.
#[cfg(any(feature = "host", test))]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut left = a.chunks_exact(8);
    let mut right = b.chunks_exact(8);
    for (x, y) in (&mut left).zip(&mut right) {
        if word(x) != word(y) {
            return false;
        }
    }
    left.remainder()
        .iter()
        .zip(right.remainder())
        .all(|(x, y)| x == y)
}

/// Whether two byte strings of the same length are equal but for ASCII case, eight bytes at
/// a time (names are compared on every lookup; `eq_ignore_ascii_case` goes byte by byte).
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut left = a.chunks_exact(8);
    let mut right = b.chunks_exact(8);
    for (x, y) in (&mut left).zip(&mut right) {
        let (x, y) = (word(x), word(y));
        if x != y && lowercase_word(x) != lowercase_word(y) {
            return false;
        }
    }
    left.remainder().eq_ignore_ascii_case(right.remainder())
}

/// Reads a little-endian `u32` at `at`.
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

impl HeaderMap {
    /// A map holding these pairs.
    pub fn new(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let mut map = Self {
            bytes: Vec::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len()).sum()),
            entries: Vec::with_capacity(pairs.len()),
        };
        for (name, value) in &pairs {
            map.push(name, value);
        }
        map
    }

    /// Decodes a header map in the proxy-wasm wire format (see [`crate::wire`]), keeping
    /// `serialized` as the map's storage; `None` when the bytes are malformed.
    pub fn from_wire(serialized: Vec<u8>) -> Option<Self> {
        let count = usize::try_from(read_u32(&serialized, 0)?).ok()?;
        let mut sizes_at = 4usize;
        let mut data_at = count.checked_mul(8)?.checked_add(4)?;
        let mut entries = Vec::with_capacity(count.min(serialized.len() / 8));
        for _ in 0..count {
            let name_len = usize::try_from(read_u32(&serialized, sizes_at)?).ok()?;
            let value_len =
                usize::try_from(read_u32(&serialized, sizes_at.checked_add(4)?)?).ok()?;
            sizes_at = sizes_at.checked_add(8)?;
            let name_end = data_at.checked_add(name_len)?;
            let value_start = name_end.checked_add(1)?;
            let value_end = value_start.checked_add(value_len)?;
            let name = Span {
                start: data_at,
                end: name_end,
            };
            let value = Span {
                start: value_start,
                end: value_end,
            };
            data_at = value_end.checked_add(1)?;
            if data_at > serialized.len() {
                return None;
            }
            entries.push(Entry { name, value });
        }
        Some(Self {
            bytes: serialized,
            entries,
        })
    }

    #[inline]
    fn name_of(&self, entry: &Entry) -> &[u8] {
        entry.name.of(&self.bytes)
    }

    #[inline]
    fn value_of(&self, entry: &Entry) -> &[u8] {
        entry.value.of(&self.bytes)
    }

    /// Appends `bytes` to the buffer and returns where they are.
    fn store(&mut self, bytes: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        Span {
            start,
            end: self.bytes.len(),
        }
    }

    /// Appends `bytes` lowercased (ASCII) to the buffer and returns where they are.
    fn store_lowercase(&mut self, bytes: &[u8]) -> Span {
        let span = self.store(bytes);
        if let Some(stored) = self.bytes.get_mut(span.start..span.end) {
            stored.make_ascii_lowercase();
        }
        span
    }

    /// Appends one pair.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let entry = Entry {
            name: self.store(name),
            value: self.store(value),
        };
        self.entries.push(entry);
    }

    /// Appends one pair, its name lowercased (ASCII) as Envoy keeps names.
    pub fn push_lowercase(&mut self, name: &[u8], value: &[u8]) {
        let entry = Entry {
            name: self.store_lowercase(name),
            value: self.store(value),
        };
        self.entries.push(entry);
    }

    /// Makes room for `pairs` more pairs of `bytes` bytes in all.
    pub fn reserve(&mut self, pairs: usize, bytes: usize) {
        self.entries.reserve(pairs);
        self.bytes.reserve(bytes);
    }

    /// Removes every pair, keeping the storage for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// Removes every pair named `name` (ASCII case-insensitive).
    pub fn remove(&mut self, name: &str) {
        let bytes = &self.bytes;
        self.entries
            .retain(|entry| !entry.name.holds_name(bytes, name.as_bytes()));
    }

    /// Gives `name` the one value `value`, as Envoy 1.40 does: every pair of the name goes
    /// and one is appended, after the other pseudo-headers for a pseudo-header (`:path`).
    pub fn replace(&mut self, name: &str, value: &[u8]) {
        self.remove(name);
        let entry = Entry {
            name: self.store_lowercase(name.as_bytes()),
            value: self.store(value),
        };
        let at = if name.starts_with(':') {
            let bytes = &self.bytes;
            self.entries
                .iter()
                .position(|entry| !entry.name.of(bytes).starts_with(b":"))
                .unwrap_or(self.entries.len())
        } else {
            self.entries.len()
        };
        self.entries.insert(at, entry);
    }

    /// Every value of `name` (ASCII case-insensitive), in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.entries
            .iter()
            .filter(move |entry| entry.name.holds_name(&self.bytes, name.as_bytes()))
            .map(|entry| self.value_of(entry))
    }

    /// The pairs named `name` (ASCII case-insensitive), in order.
    fn named<'a, 'n>(&'a self, name: &'n [u8]) -> impl Iterator<Item = &'a Entry> + use<'a, 'n> {
        self.entries
            .iter()
            .filter(move |entry| entry.name.holds_name(&self.bytes, name))
    }

    /// The value of `name` when it appears exactly once; `Err(n)` with the count otherwise.
    pub fn single(&self, name: &str) -> Result<&[u8], usize> {
        let mut found = None;
        let mut count = 0usize;
        for entry in &self.entries {
            if entry.name.holds_name(&self.bytes, name.as_bytes()) {
                count += 1;
                found = found.or(Some(entry));
            }
        }
        match (found, count) {
            (Some(entry), 1) => Ok(self.value_of(entry)),
            _ => Err(count),
        }
    }

    /// The first value of `name`. Hides repeats: prefer [`HeaderMap::single`] for decisions.
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        let entry = self.named(name.as_bytes()).next()?;
        Some(self.value_of(entry))
    }

    /// How many times `name` appears.
    pub fn count(&self, name: &str) -> usize {
        self.named(name.as_bytes()).count()
    }

    /// Whether `name` appears at all.
    pub fn contains(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.entries
            .iter()
            .any(|entry| entry.name.holds_name(&self.bytes, name))
    }

    /// All pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|entry| (self.name_of(entry), self.value_of(entry)))
    }

    /// Number of pairs (repeats counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `value` without leading and trailing spaces and tabs (RFC 9110 `OWS`), as header values
/// and the members of header lists are compared.
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
    if !(value.first().is_some_and(is_ows) || value.last().is_some_and(is_ows)) {
        return value;
    }
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    value.get(start..end).unwrap_or_default()
}

impl PartialEq for HeaderMap {
    /// Equal when the pairs are, in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for HeaderMap {}

impl From<&[(&str, &str)]> for HeaderMap {
    /// A map of text pairs, in order (fixed header sets, tests).
    fn from(pairs: &[(&str, &str)]) -> Self {
        let mut map = Self::default();
        for (name, value) in pairs {
            map.push(name.as_bytes(), value.as_bytes());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from(pairs)
    }

    #[test]
    fn repeated_values_are_all_seen() {
        let headers = map(&[("a", "1"), ("b", "x"), ("A", "2")]);
        assert_eq!(headers.values("a").collect::<Vec<_>>(), vec![b"1", b"2"]);
        assert_eq!(headers.count("a"), 2);
        assert_eq!(headers.single("a"), Err(2));
        assert_eq!(headers.single("b"), Ok(&b"x"[..]));
        assert_eq!(headers.single("c"), Err(0));
        assert_eq!(headers.first("a"), Some(&b"1"[..]));
    }

    #[test]
    fn names_compare_as_eq_ignore_ascii_case_does() {
        let samples: [&[u8]; 9] = [
            b"",
            b"a",
            b"X-Service-Name",
            b"x-service-name",
            b"x-service-namE",
            b"content-type",
            b"CONTENT-TYPE",
            b"@[`{\x80\xc1\xff-Z",
            b"`{@[\xa0\xe1\xdf-z",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    eq_ignore_case(a, b),
                    a.eq_ignore_ascii_case(b),
                    "{a:?} {b:?}"
                );
            }
        }
        for a in samples {
            for b in samples {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([byte; 8]);
            assert_eq!(
                lowercase_word(word),
                u64::from_le_bytes([byte.to_ascii_lowercase(); 8])
            );
        }
    }

    #[test]
    fn trim_ows_removes_spaces_and_tabs_at_both_ends_only() {
        assert_eq!(trim_ows(b" \ta b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"x"), b"x");
        assert_eq!(trim_ows(b"ab"), b"ab");
    }

    #[test]
    fn wire_format_is_decoded_in_place() {
        let pairs = vec![
            (b":path".to_vec(), b"/x".to_vec()),
            (b"a".to_vec(), vec![0xff, 0x00, 0x41]),
            (b"a".to_vec(), Vec::new()),
        ];
        let decoded = HeaderMap::from_wire(crate::wire::encode_pairs(&pairs));
        assert_eq!(decoded, Some(HeaderMap::new(pairs)));
        assert_eq!(
            HeaderMap::from_wire(crate::wire::encode_pairs::<&str, &str>(&[])),
            Some(HeaderMap::default())
        );
    }

    #[test]
    fn malformed_wire_bytes_are_refused() {
        let good = crate::wire::encode_pairs(&[("k", "v"), ("key", "value")]);
        for cut in 0..good.len() - 1 {
            let cut = good.get(..cut).unwrap_or_default().to_vec();
            assert_eq!(HeaderMap::from_wire(cut), None);
        }
        assert_eq!(HeaderMap::from_wire(vec![0xff, 0xff, 0xff, 0xff]), None);
        let mut lying = good.clone();
        if let Some(byte) = lying.get_mut(4) {
            *byte = 200;
        }
        assert_eq!(HeaderMap::from_wire(lying), None);
    }

    #[test]
    fn changes_follow_envoy() {
        // As Envoy 1.40 changes a request's headers (checked against it): a replaced name
        // moves to the end, a replaced pseudo-header to the end of the pseudo-headers.
        let mut headers = map(&[(":path", "/"), ("a", "1"), ("b", "x"), ("a", "2")]);
        headers.replace("A", b"3");
        assert_eq!(headers, map(&[(":path", "/"), ("b", "x"), ("a", "3")]));
        headers.replace("c", b"new");
        headers.push(b"b", b"y");
        headers.replace(":method", b"GET");
        let expected = [
            (":path", "/"),
            (":method", "GET"),
            ("b", "x"),
            ("a", "3"),
            ("c", "new"),
            ("b", "y"),
        ];
        assert_eq!(headers, map(&expected));
        headers.remove("B");
        let expected = [(":path", "/"), (":method", "GET"), ("a", "3"), ("c", "new")];
        assert_eq!(headers, map(&expected));
        headers.remove("absent");
        assert_eq!(headers.len(), 4);
    }
}
