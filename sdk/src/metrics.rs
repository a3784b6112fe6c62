//! Counters, gauges and histograms with tags that become Prometheus labels.
//!
//! A metric family has a name and a fixed list of tag names; each distinct set of tag
//! values is one Envoy stat whose name carries the tags:
//!
//! ```text
//! wasmesh_hello_requests_total.path=.=/hello;.;
//! ```
//!
//! Envoy prefixes it with `wasmcustom.`; with one `stats_config.stats_tags` entry per tag
//! name (see [`envoy_tag_regex`]), `/stats/prometheus` shows
//! `wasmesh_hello_requests_total{path="/hello"} 1`:
//!
//! ```yaml
//! stats_config:
//!   stats_tags:
//!   - tag_name: path
//!     regex: "(\\.path=\\.=(.*?);\\.;)"
//! ```
//!
//! Tag values are escaped so that no value can close its own tag or forge another one,
//! and each family caps its number of distinct tag sets: past the cap, new sets are
//! counted under the value `other` for every tag. Stat ids are kept per tag set, so a
//! recording compares its tag values with the last recording's (a sidecar records the same
//! set request after request) or searches the sets seen, with no allocation once a tag
//! set has been seen.

use std::fmt::Write as _;

/// What a family records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of samples; buckets come from Envoy's `histogram_bucket_settings`.
    Histogram,
}

/// The tag value used for every tag once a family has reached its cap of tag sets.
pub const OVERFLOW_VALUE: &str = "other";

/// The default cap on distinct tag sets per metric family.
pub const DEFAULT_TAG_SET_CAP: usize = 1000;

/// Longest tag value kept, in bytes before escaping; longer values are cut.
pub const MAX_TAG_VALUE_LEN: usize = 128;

/// The regex for Envoy's `stats_config.stats_tags` that turns tag `tag_name` into a
/// Prometheus label: the first group is removed from the stat name, the second is the value.
pub fn envoy_tag_regex(tag_name: &str) -> String {
    format!("(\\.{tag_name}=\\.=(.*?);\\.;)")
}

/// Appends the stat name for one tag set to `out`.
pub fn write_stat_name<T: AsRef<str>>(
    out: &mut String,
    name: &str,
    tag_names: &[T],
    values: &[&str],
) {
    out.push_str(name);
    for (tag, value) in tag_names.iter().zip(values) {
        out.push('.');
        out.push_str(tag.as_ref());
        out.push_str("=.=");
        escape_tag_value(out, value);
        out.push_str(";.;");
    }
}

/// Appends `value` escaped for use inside a stat name: bytes outside
/// `[A-Za-z0-9._~/:@+,-]` become `%XX`, so `;`, `=`, `%` and control bytes can never
/// end the tag or start another; dots at the end become `%2E` (Envoy would drop them and
/// merge `a.` into `a`). Values longer than [`MAX_TAG_VALUE_LEN`] are cut.
pub fn escape_tag_value(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let bytes = bytes.get(..MAX_TAG_VALUE_LEN).unwrap_or(bytes);
    // Envoy drops dots at the end of a tag value, so they are escaped too.
    let trailing_dots = bytes.iter().rev().take_while(|&&b| b == b'.').count();
    let kept_dots = bytes.len() - trailing_dots;
    for (index, &byte) in bytes.iter().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || b"_~/:@+,-".contains(&byte);
        if plain || (byte == b'.' && index < kept_dots) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Where one recording went: to its own tag set, or to the overflow set because the family
/// reached its cap of tag sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded under the given tag values.
    Tagged,
    /// Recorded with every tag set to [`OVERFLOW_VALUE`]: the family is at its cap.
    Overflow,
    /// Not recorded: the host refused to define the stat.
    Dropped,
}

#[cfg(feature = "host")]
pub use family::{Counter, Gauge, Histogram};

#[cfg(feature = "host")]
mod family {
    use super::{
        write_stat_name, MetricKind, Recorded, DEFAULT_TAG_SET_CAP, MAX_TAG_VALUE_LEN,
        OVERFLOW_VALUE,
    };
    use crate::headers::same_bytes;
    use crate::seam::{Host, MetricChange};
    use std::cell::RefCell;

    /// One metric name with a fixed list of tag names, and the host stats defined so far.
    #[derive(Debug)]
    struct Family {
        kind: MetricKind,
        name: Box<str>,
        tag_names: Box<[Box<str>]>,
        cap: usize,
        /// The stats defined so far, sorted by key (searched only when the tag set is not
        /// the last one's).
        ids: RefCell<Vec<(Box<[u8]>, u32)>>,
        overflow_id: RefCell<Option<u32>>,
        key: RefCell<Vec<u8>>,
        /// The key and stat of the last recording: a sidecar records the same tag set
        /// request after request, and comparing bytes costs less than hashing them.
        last: RefCell<(Vec<u8>, Option<Found>)>,
    }

    /// A stat id, and whether it is the family's overflow stat.
    type Found = (u32, bool);

    impl Family {
        fn new(kind: MetricKind, name: &str, tag_names: &[&str]) -> Self {
            Self {
                kind,
                name: name.into(),
                tag_names: tag_names.iter().map(|t| Box::<str>::from(*t)).collect(),
                cap: DEFAULT_TAG_SET_CAP,
                ids: RefCell::new(Vec::new()),
                overflow_id: RefCell::new(None),
                key: RefCell::new(Vec::new()),
                last: RefCell::new((Vec::new(), None)),
            }
        }

        fn define(&self, host: &dyn Host, stat_name: &str) -> Option<u32> {
            host.define_metric(self.kind, stat_name)
        }

        /// The host stat id for these tag values, defining it on first use.
        fn id(&self, host: &dyn Host, values: &[&str]) -> Option<u32> {
            self.id_checked(host, values).map(|(id, _)| id)
        }

        /// The host stat id for these tag values, and whether it is the overflow stat.
        ///
        /// Looked up by the values as given (cut to [`MAX_TAG_VALUE_LEN`], each followed by
        /// `0xFF`, a byte UTF-8 never contains): two keys are equal exactly when their
        /// stat names are, and the name is built and escaped only to define a new stat.
        fn id_checked(&self, host: &dyn Host, values: &[&str]) -> Option<(u32, bool)> {
            let mut last = self.last.try_borrow_mut().ok()?;
            if let (true, Some(found)) = (self.is_key_of(&last.0, values), last.1) {
                return Some(found);
            }
            let mut key = self.key.try_borrow_mut().ok()?;
            key.clear();
            for value in self.tag_values(values) {
                key.extend_from_slice(value);
                key.push(0xFF);
            }
            let found = self.lookup(host, &key, values);
            if found.is_some() {
                last.0.clear();
                last.0.extend_from_slice(&key);
                last.1 = found;
            }
            found
        }

        /// The tag values as keys hold them: one per tag name, each cut to
        /// [`MAX_TAG_VALUE_LEN`] bytes.
        fn tag_values<'a, 'v>(
            &'a self,
            values: &'v [&str],
        ) -> impl Iterator<Item = &'v [u8]> + use<'a, 'v> {
            self.tag_names.iter().zip(values).map(|(_, value)| {
                let bytes = value.as_bytes();
                bytes.get(..MAX_TAG_VALUE_LEN).unwrap_or(bytes)
            })
        }

        /// Whether `key` is the key of `values`, compared in place (no key is built).
        fn is_key_of(&self, key: &[u8], values: &[&str]) -> bool {
            let mut rest = key;
            for value in self.tag_values(values) {
                let (head, tail) = rest.split_at_checked(value.len()).unwrap_or_default();
                match tail.split_first() {
                    Some((0xFF, after)) if same_bytes(head, value) => rest = after,
                    _ => return false,
                }
            }
            rest.is_empty()
        }

        /// [`Family::id_checked`] past the last-recording check.
        fn lookup(&self, host: &dyn Host, key: &[u8], values: &[&str]) -> Option<(u32, bool)> {
            let mut ids = self.ids.try_borrow_mut().ok()?;
            let at = match ids.binary_search_by(|(known, _)| (**known).cmp(key)) {
                Ok(found) => return ids.get(found).map(|&(_, id)| (id, false)),
                Err(at) => at,
            };
            if ids.len() >= self.cap {
                return self.overflow(host).map(|id| (id, true));
            }
            let mut stat_name = String::new();
            write_stat_name(&mut stat_name, &self.name, &self.tag_names, values);
            let id = self.define(host, &stat_name)?;
            ids.insert(at, (key.into(), id));
            Some((id, false))
        }

        /// The stat for `values` and where a recording to it goes.
        fn target(&self, host: &dyn Host, values: &[&str]) -> (Option<u32>, Recorded) {
            match self.id_checked(host, values) {
                Some((id, false)) => (Some(id), Recorded::Tagged),
                Some((id, true)) => (Some(id), Recorded::Overflow),
                None => (None, Recorded::Dropped),
            }
        }

        fn overflow(&self, host: &dyn Host) -> Option<u32> {
            let mut overflow = self.overflow_id.try_borrow_mut().ok()?;
            if overflow.is_none() {
                let others = vec![OVERFLOW_VALUE; self.tag_names.len()];
                let mut stat_name = String::new();
                write_stat_name(&mut stat_name, &self.name, &self.tag_names, &others);
                *overflow = self.define(host, &stat_name);
            }
            *overflow
        }
    }

    macro_rules! family_type {
        ($(#[$doc:meta])* $name:ident, $kind:expr) => {
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name(Family);

            impl $name {
                /// A family named `name` (e.g. `wasmesh_hello_requests_total`) whose stats carry
                /// the tags `tag_names`, in this order.
                pub fn new(name: &str, tag_names: &[&str]) -> Self {
                    Self(Family::new($kind, name, tag_names))
                }

                /// Caps the number of distinct tag sets (default [`DEFAULT_TAG_SET_CAP`]);
                /// further sets are recorded with every tag set to [`OVERFLOW_VALUE`].
                pub fn with_tag_set_cap(mut self, cap: usize) -> Self {
                    self.0.cap = cap;
                    self
                }

                /// The family's name.
                pub fn name(&self) -> &str {
                    &self.0.name
                }
            }
        };
    }

    family_type!(
        /// A counter family. `increment(&["svc-a"])` adds one to the stat for that tag set.
        Counter,
        MetricKind::Counter
    );
    family_type!(
        /// A gauge family.
        Gauge,
        MetricKind::Gauge
    );
    family_type!(
        /// A histogram family; Envoy buckets the samples.
        Histogram,
        MetricKind::Histogram
    );

    impl Counter {
        /// Adds one for the tag set `values` (given in the family's tag order).
        pub fn increment(&self, host: &dyn Host, values: &[&str]) {
            self.add(host, values, 1);
        }

        /// Adds `n` for the tag set `values`.
        pub fn add(&self, host: &dyn Host, values: &[&str], n: u64) {
            if let Some(id) = self.0.id(host, values) {
                host.change_metric(id, MetricChange::Add(i64::try_from(n).unwrap_or(i64::MAX)));
            }
        }

        /// Adds `n` for the tag set `values` and tells where it went (its own stat, or the
        /// overflow stat once the family is at its cap).
        pub fn add_checked(&self, host: &dyn Host, values: &[&str], n: u64) -> Recorded {
            let (id, recorded) = self.0.target(host, values);
            if let Some(id) = id {
                host.change_metric(id, MetricChange::Add(i64::try_from(n).unwrap_or(i64::MAX)));
            }
            recorded
        }

        /// The current value for the tag set, as the host reports it.
        pub fn value(&self, host: &dyn Host, values: &[&str]) -> Option<u64> {
            host.metric_value(self.0.id(host, values)?)
        }
    }

    impl Gauge {
        /// Sets the gauge for the tag set `values`.
        pub fn set(&self, host: &dyn Host, values: &[&str], value: u64) {
            if let Some(id) = self.0.id(host, values) {
                host.change_metric(id, MetricChange::Record(value));
            }
        }

        /// Adds `delta` (which may be negative) to the gauge.
        pub fn add(&self, host: &dyn Host, values: &[&str], delta: i64) {
            if let Some(id) = self.0.id(host, values) {
                host.change_metric(id, MetricChange::Add(delta));
            }
        }
    }

    impl Histogram {
        /// Records one sample for the tag set `values`.
        pub fn record(&self, host: &dyn Host, values: &[&str], sample: u64) {
            if let Some(id) = self.0.id(host, values) {
                host.change_metric(id, MetricChange::Record(sample));
            }
        }

        /// Records one sample for the tag set `values` and tells where it went (its own
        /// stat, or the overflow stat once the family is at its cap).
        pub fn record_checked(&self, host: &dyn Host, values: &[&str], sample: u64) -> Recorded {
            let (id, recorded) = self.0.target(host, values);
            if let Some(id) = id {
                host.change_metric(id, MetricChange::Record(sample));
            }
            recorded
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn stat(name: &str, tags: &[&str], values: &[&str]) -> String {
        let mut out = String::new();
        write_stat_name(&mut out, name, tags, values);
        out
    }

    #[test]
    fn tags_are_encoded_in_order() {
        assert_eq!(
            stat("wasmesh_x_total", &["caller", "rule"], &["svc-a", "r1"]),
            "wasmesh_x_total.caller=.=svc-a;.;.rule=.=r1;.;"
        );
    }

    #[test]
    fn untagged_metric_is_its_name() {
        assert_eq!(stat("wasmesh_up", &[], &[]), "wasmesh_up");
    }

    #[test]
    fn values_cannot_forge_tags() {
        let forged = stat("m", &["caller"], &["a;.;.rule=.=admin"]);
        assert_eq!(forged, "m.caller=.=a%3B.%3B.rule%3D.%3Dadmin;.;");
        assert_eq!(forged.matches(";.;").count(), 1);
        assert_eq!(forged.matches("=.=").count(), 1);
    }

    #[test]
    fn spiffe_ids_and_dotted_names_survive() {
        assert_eq!(
            stat("m", &["caller"], &["spiffe://example.org/ns/a/sa/b"]),
            "m.caller=.=spiffe://example.org/ns/a/sa/b;.;"
        );
    }

    #[test]
    fn control_bytes_space_and_percent_are_escaped() {
        assert_eq!(stat("m", &["t"], &["a b\n%"]), "m.t=.=a%20b%0A%25;.;");
    }

    #[test]
    fn lists_keep_their_commas() {
        assert_eq!(stat("m", &["flags"], &["UF,URX"]), "m.flags=.=UF,URX;.;");
    }

    #[test]
    fn trailing_dots_are_escaped() {
        assert_eq!(stat("m", &["t"], &["a.b."]), "m.t=.=a.b%2E;.;");
        assert_eq!(stat("m", &["t"], &[".."]), "m.t=.=%2E%2E;.;");
        assert_eq!(stat("m", &["t"], &[".a"]), "m.t=.=.a;.;");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(1000);
        let encoded = stat("m", &["t"], &[&long]);
        assert_eq!(encoded.len(), "m.t=.=;.;".len() + MAX_TAG_VALUE_LEN);
    }

    #[test]
    fn regex_names_the_tag() {
        assert_eq!(envoy_tag_regex("caller"), "(\\.caller=\\.=(.*?);\\.;)");
    }
}
