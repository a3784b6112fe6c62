//! A snapshot of a header map that keeps every value of a repeated header.
//!
//! Envoy's first-value getter hides duplicates, which is how a request carrying two
//! `authorization` or `traceparent` headers slips past a check. Decisions that depend on a
//! header read all of its values from a [`HeaderMap`].

/// Header pairs in order, names as given by the host (lowercase in Envoy), values as bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeaderMap {
    /// A map holding these pairs.
    pub fn new(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Self { pairs }
    }

    /// Every value of `name` (ASCII case-insensitive), in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.pairs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of `name` when it appears exactly once; `Err(n)` with the count otherwise.
    pub fn single(&self, name: &str) -> Result<&[u8], usize> {
        let mut values = self.values(name);
        match (values.next(), values.next()) {
            (Some(value), None) => Ok(value),
            (None, _) => Err(0),
            (Some(_), Some(_)) => Err(2 + values.count()),
        }
    }

    /// The first value of `name`. Hides repeats: prefer [`HeaderMap::single`] for decisions.
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// How many times `name` appears.
    pub fn count(&self, name: &str) -> usize {
        self.values(name).count()
    }

    /// Whether `name` appears at all.
    pub fn contains(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// All pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// Number of pairs (repeats counted).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, taken out of the map.
    pub fn into_pairs(self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.pairs
    }
}

impl From<&[(&str, &str)]> for HeaderMap {
    /// A map of text pairs, in order (fixed header sets, tests).
    fn from(pairs: &[(&str, &str)]) -> Self {
        Self::new(
            pairs
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        )
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
}
